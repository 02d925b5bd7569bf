//! SQL front end: statement text in, typed [`Statement`] out.
//!
//! This module owns the grammar backstop accepts and nothing else: it knows no catalog, no
//! session and no MySQL error codes. It follows sqlparser's advice for custom statements (and
//! DataFusion's `DFParser`): [`BackstopParser`] wraps a [`sqlparser::parser::Parser`] over the
//! MySQL dialect, peeks at the leading keywords, parses backstop's own statements itself and
//! hands everything else to sqlparser, wrapped as [`Statement::Std`].
//!
//! Ours are the StarRocks statements that sqlparser does not know (or cannot parse to the end):
//!
//! | family | file | statements |
//! |---|---|---|
//! | repositories, snapshots | `repository.rs` | `CREATE/DROP REPOSITORY`, `DROP SNAPSHOT`, `VERIFY SNAPSHOT` |
//! | jobs | `backup.rs` | `BACKUP`, `RESTORE` (they share the `ON (...)` object list) |
//! | inspection | `show.rs` | `SHOW SNAPSHOT/BACKUP/RESTORE/REPOSITORIES/PARTITIONS/TABLET`, `CANCEL BACKUP/RESTORE` |
//! | DDL | `ddl.rs` | StarRocks `CREATE TABLE`, `CREATE/DROP DATABASE`, `ALTER TABLE .. ADD/DROP PARTITION`, `TRUNCATE TABLE`, `CHECKSUM TABLE` |
//! | users | `privilege.rs` | `CREATE/ALTER/DROP USER`, `SET PASSWORD`, `GRANT`, `REVOKE`, `SHOW USERS/GRANTS` |
//!
//! Invariants:
//! - Parsing never panics, whatever the input (a proptest feeds it garbage).
//! - Every AST type's `Display` prints SQL that parses back to an equal value (a proptest checks
//!   that too), so `Display` can serve `SHOW CREATE TABLE` and log lines. The one exception: a
//!   password prints as `'***'` ([`Password`]), so it never reaches a log line.
//! - Errors name what was expected, what was found and where ([`ParseError`]).
//! - Only what the statement text alone decides is checked here (including the checks StarRocks'
//!   parser makes, e.g. no alias in `BACKUP`); everything that needs the catalog, a repository
//!   or property values is the executor's job.
//!
//! # Example
//! ```
//! use backstop::sql::{parse_one, Statement};
//!
//! let stmt = parse_one("BACKUP SNAPSHOT db1.snap TO repo ON (t1 PARTITION (p1))").unwrap();
//! let Statement::BackupSnapshot(backup) = &stmt else { panic!("not a backup") };
//! assert_eq!(backup.label.value, "snap");
//! assert_eq!(stmt.to_string(), "BACKUP SNAPSHOT db1.snap TO repo ON (t1 PARTITION (p1))");
//! ```

mod backup;
mod batch;
mod ddl;
mod materialized;
mod privilege;
mod redact;
mod repository;
mod show;
mod task;
#[cfg(test)]
pub(crate) mod tests;
mod view;

use std::fmt;

use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

pub use backup::{
    BackupObject, BackupSnapshot, ExternalCatalogs, ObjectKind, RestoreDatabase, RestoreSnapshot,
    TableRef,
};
pub use batch::{
    AddPartitions, BatchStep, MAX_BATCH_PARTITIONS, PartitionBatch, SetTableProperties, TimeUnit,
    bound_text,
};
pub use ddl::{
    AddColumns, AddPartition, AggregateType, ColumnDef, ColumnDefault, CompactTable, CreateTable,
    DataType, DecimalKind, Distribution, DropColumn, DropPartition, KeyDesc, KeyModel, Literal,
    PartitionBy, PartitionDef, PartitionKind, PartitionValue, PartitionValues, RenameTable,
    ShownCreateTable, TruncateTable, TypeWith,
};
pub use materialized::{
    AlterMaterializedView, CreateMaterializedView, MvAlteration, MvRefresh, MvScheme,
    RefreshMaterializedView, ShowMaterializedViews,
};
pub use privilege::{
    AlterUser, CreateUser, Grant, GrantObject, Password, Privilege, UserIdent, is_native_hash,
    is_sensitive_key,
};
pub use redact::redact_sql;
pub use repository::{
    Broker, CreateRepository, DropRepository, DropSnapshot, TimestampFilter, VerifySnapshot,
};
pub use show::{CancelJob, JobTarget, ShowJobs, ShowSnapshot, SnapshotFilter};
/// Names are sqlparser's, so statements we parse and statements sqlparser parses share them.
/// An [`Ident`] keeps its quote style (`None` or a backtick); equality ignores its span.
pub use sqlparser::ast::{Ident, ObjectName};
pub use task::{AlterTask, DropTask, SubmitTask, TaskAlteration, TaskSchedule};
pub use view::{
    CreateView, ViewColumn, parse_view_query, qualify, read_relations, view_query_problem,
    with_names,
};

/// `PROPERTIES ("key" = "value", ...)`: in the order written, keys with their case.
///
/// The parser rejects a key given twice; [`property`] looks one up.
pub type Properties = Vec<(String, String)>;

/// The value of `key` (exact, case-sensitive match, as StarRocks compares property keys).
pub fn property<'a>(properties: &'a Properties, key: &str) -> Option<&'a str> {
    properties
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// One parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// Anything sqlparser parses (SELECT, INSERT, SET, SHOW TABLES, DROP TABLE, ...).
    Std(Box<sqlparser::ast::Statement>),
    CreateRepository(CreateRepository),
    DropRepository(DropRepository),
    /// `SHOW REPOSITORIES`
    ShowRepositories,
    BackupSnapshot(BackupSnapshot),
    RestoreSnapshot(RestoreSnapshot),
    ShowSnapshot(ShowSnapshot),
    /// `SHOW BACKUP [{FROM | IN} db] [WHERE expr]`
    ShowBackup(ShowJobs),
    /// `SHOW RESTORE [{FROM | IN} db] [WHERE expr]`
    ShowRestore(ShowJobs),
    /// `CANCEL BACKUP {{FROM | IN} db | FOR EXTERNAL CATALOG}`
    CancelBackup(CancelJob),
    /// `CANCEL RESTORE {{FROM | IN} db | FOR EXTERNAL CATALOG}`
    CancelRestore(CancelJob),
    DropSnapshot(DropSnapshot),
    VerifySnapshot(VerifySnapshot),
    /// `SHOW VERIFY [ON repo]` (backstop): verification jobs.
    ShowVerify(Option<Ident>),
    /// `CANCEL VERIFY ON repo` (backstop): stops the running verifications of a repository.
    CancelVerify(Ident),
    CreateTable(CreateTable),
    /// `CREATE VIEW` and `ALTER VIEW`.
    CreateView(CreateView),
    CreateMaterializedView(CreateMaterializedView),
    RefreshMaterializedView(RefreshMaterializedView),
    AlterMaterializedView(AlterMaterializedView),
    ShowMaterializedViews(ShowMaterializedViews),
    /// `SHOW CREATE MATERIALIZED VIEW mv`
    ShowCreateMaterializedView(ObjectName),
    /// `SHOW DYNAMIC PARTITION TABLES [{FROM | IN} db]`
    ShowDynamicPartitionTables(Option<Ident>),
    /// ```text
    /// CREATE {DATABASE | SCHEMA} [IF NOT EXISTS] db [PROPERTIES ("k" = "v", ...)]
    /// ```
    CreateDatabase {
        name: Ident,
        if_not_exists: bool,
        properties: Properties,
    },
    /// ```text
    /// DROP {DATABASE | SCHEMA} [IF EXISTS] db [FORCE]
    /// ```
    DropDatabase {
        name: Ident,
        if_exists: bool,
        force: bool,
    },
    AddColumns(AddColumns),
    DropColumn(DropColumn),
    AddPartition(AddPartition),
    AddPartitions(AddPartitions),
    SetTableProperties(SetTableProperties),
    RenameTable(RenameTable),
    CompactTable(CompactTable),
    DropPartition(DropPartition),
    TruncateTable(TruncateTable),
    /// ```text
    /// CHECKSUM TABLE t [, t2 ...] [QUICK | EXTENDED]
    /// ```
    /// `QUICK`/`EXTENDED` are accepted and dropped: backstop's checksum needs no scan either way.
    ChecksumTable(Vec<ObjectName>),
    /// ```text
    /// SHOW PARTITIONS FROM [db.]t
    /// ```
    /// `SHOW TEMPORARY PARTITIONS` is refused by the parser: backstop has no temporary partitions.
    ShowPartitions(ObjectName),
    /// ```text
    /// SHOW {TABLET | TABLETS} FROM [db.]t
    /// ```
    ShowTablet(ObjectName),
    /// ```text
    /// SHOW TABLE STATUS [{FROM | IN} db] [LIKE 'pattern']
    /// ```
    ShowTableStatus {
        db: Option<Ident>,
        like: Option<String>,
    },
    CreateUser(CreateUser),
    AlterUser(AlterUser),
    /// ```text
    /// DROP USER [IF EXISTS] user
    /// ```
    DropUser {
        if_exists: bool,
        user: UserIdent,
    },
    /// `SHOW USERS`
    ShowUsers,
    /// ```text
    /// SET PASSWORD [FOR user] = {PASSWORD('pw') | 'pw' | '*HEX'}
    /// ```
    SetPassword {
        user: Option<UserIdent>,
        password: Password,
    },
    Grant(Grant),
    Revoke(Grant),
    /// `SHOW GRANTS [FOR [USER] user]`
    ShowGrants(Option<UserIdent>),
    /// `SHOW ALL GRANTS`
    ShowAllGrants,
    /// `SHOW ROLES`
    ShowRoles,
    /// `SET ROLE {ALL | DEFAULT | NONE | role, ...}`: every granted role is always active.
    SetRole,
    /// `SET DEFAULT ROLE {ALL | NONE | role, ...} TO user`
    SetDefaultRole(UserIdent),
    SubmitTask(SubmitTask),
    AlterTask(AlterTask),
    DropTask(DropTask),
    /// `ADMIN SET FRONTEND CONFIG ("key" = "value")`
    AdminSetConfig(Properties),
    /// `ADMIN SHOW FRONTEND CONFIG [LIKE 'pattern']`
    AdminShowConfig(Option<String>),
}

impl fmt::Display for Statement {
    /// SQL that parses back to an equal statement. `{:#}` pretty-prints `CREATE TABLE` over
    /// several lines (for `SHOW CREATE TABLE`); every other statement prints on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Std(s) => write!(f, "{s}"),
            Statement::CreateRepository(s) => write!(f, "{s}"),
            Statement::DropRepository(s) => write!(f, "{s}"),
            Statement::ShowRepositories => f.write_str("SHOW REPOSITORIES"),
            Statement::BackupSnapshot(s) => write!(f, "{s}"),
            Statement::RestoreSnapshot(s) => write!(f, "{s}"),
            Statement::ShowSnapshot(s) => write!(f, "{s}"),
            Statement::ShowBackup(s) => write!(f, "SHOW BACKUP{s}"),
            Statement::ShowRestore(s) => write!(f, "SHOW RESTORE{s}"),
            Statement::CancelBackup(s) => write!(f, "CANCEL BACKUP {s}"),
            Statement::CancelRestore(s) => write!(f, "CANCEL RESTORE {s}"),
            Statement::DropSnapshot(s) => write!(f, "{s}"),
            Statement::VerifySnapshot(s) => write!(f, "{s}"),
            Statement::ShowVerify(None) => f.write_str("SHOW VERIFY"),
            Statement::ShowVerify(Some(repo)) => write!(f, "SHOW VERIFY ON {}", Id(repo)),
            Statement::CancelVerify(repo) => write!(f, "CANCEL VERIFY ON {}", Id(repo)),
            Statement::CreateTable(s) => fmt::Display::fmt(s, f),
            Statement::CreateView(s) => write!(f, "{s}"),
            Statement::CreateMaterializedView(s) => write!(f, "{s}"),
            Statement::RefreshMaterializedView(s) => write!(f, "{s}"),
            Statement::AlterMaterializedView(s) => write!(f, "{s}"),
            Statement::ShowMaterializedViews(s) => write!(f, "{s}"),
            Statement::ShowCreateMaterializedView(n) => {
                write!(f, "SHOW CREATE MATERIALIZED VIEW {}", Name(n))
            }
            Statement::ShowDynamicPartitionTables(db) => {
                f.write_str("SHOW DYNAMIC PARTITION TABLES")?;
                if let Some(db) = db {
                    write!(f, " FROM {}", Id(db))?;
                }
                Ok(())
            }
            Statement::CreateDatabase {
                name,
                if_not_exists,
                properties,
            } => {
                f.write_str("CREATE DATABASE ")?;
                if *if_not_exists {
                    f.write_str("IF NOT EXISTS ")?;
                }
                write!(f, "{}{}", Id(name), DisplayProperties(properties))
            }
            Statement::DropDatabase {
                name,
                if_exists,
                force,
            } => {
                let target = Dropped {
                    if_exists: *if_exists,
                    name,
                    force: *force,
                };
                write!(f, "DROP DATABASE {target}")
            }
            Statement::AddColumns(s) => write!(f, "{s}"),
            Statement::DropColumn(s) => write!(f, "{s}"),
            Statement::AddPartition(s) => write!(f, "{s}"),
            Statement::AddPartitions(s) => write!(f, "{s}"),
            Statement::SetTableProperties(s) => write!(f, "{s}"),
            Statement::RenameTable(s) => write!(f, "{s}"),
            Statement::CompactTable(s) => write!(f, "{s}"),
            Statement::DropPartition(s) => write!(f, "{s}"),
            Statement::TruncateTable(s) => write!(f, "{s}"),
            Statement::ChecksumTable(tables) => {
                write!(f, "CHECKSUM TABLE {}", Names(tables))
            }
            Statement::ShowPartitions(t) => write!(f, "SHOW PARTITIONS FROM {}", Name(t)),
            Statement::ShowTablet(t) => write!(f, "SHOW TABLET FROM {}", Name(t)),
            Statement::ShowTableStatus { db, like } => {
                f.write_str("SHOW TABLE STATUS")?;
                if let Some(db) = db {
                    write!(f, " FROM {}", Id(db))?;
                }
                if let Some(like) = like {
                    write!(f, " LIKE {}", QuotedString(like))?;
                }
                Ok(())
            }
            Statement::CreateUser(s) => write!(f, "{s}"),
            Statement::AlterUser(s) => write!(f, "{s}"),
            Statement::DropUser { if_exists, user } => {
                f.write_str("DROP USER ")?;
                if *if_exists {
                    f.write_str("IF EXISTS ")?;
                }
                write!(f, "{user}")
            }
            Statement::ShowUsers => f.write_str("SHOW USERS"),
            Statement::SetPassword { user, password } => {
                f.write_str("SET PASSWORD ")?;
                if let Some(u) = user {
                    write!(f, "FOR {u} ")?;
                }
                match password {
                    Password::Plain(_) => write!(f, "= PASSWORD({password})"),
                    Password::Hash(h) => write!(f, "= {}", QuotedString(h)),
                }
            }
            Statement::Grant(g) => f.write_str(&g.to_sql(false)),
            Statement::Revoke(g) => f.write_str(&g.to_sql(true)),
            Statement::ShowGrants(None) => f.write_str("SHOW GRANTS"),
            Statement::ShowGrants(Some(u)) => write!(f, "SHOW GRANTS FOR {u}"),
            Statement::ShowAllGrants => f.write_str("SHOW ALL GRANTS"),
            Statement::ShowRoles => f.write_str("SHOW ROLES"),
            Statement::SetRole => f.write_str("SET ROLE ALL"),
            Statement::SetDefaultRole(u) => write!(f, "SET DEFAULT ROLE ALL TO {u}"),
            Statement::SubmitTask(s) => write!(f, "{s}"),
            Statement::AlterTask(s) => write!(f, "{s}"),
            Statement::DropTask(s) => write!(f, "{s}"),
            Statement::AdminSetConfig(p) => {
                write!(f, "ADMIN SET FRONTEND CONFIG {}", PropertyList(p))
            }
            Statement::AdminShowConfig(like) => {
                f.write_str("ADMIN SHOW FRONTEND CONFIG")?;
                if let Some(like) = like {
                    write!(f, " LIKE {}", QuotedString(like))?;
                }
                Ok(())
            }
        }
    }
}

/// Parse `sql` into statements. Statements are separated by `;`; empty ones are skipped.
pub fn parse(sql: &str) -> Result<Vec<Statement>, ParseError> {
    BackstopParser::new(sql)?.parse_statements()
}

/// The BITMAP and HLL functions backstop runs (`store::sketch` registers them): a view that
/// calls one needs snapshot format version 5.
pub const SKETCH_FUNCTIONS: &[&str] = &[
    "to_bitmap",
    "bitmap_hash",
    "bitmap_from_string",
    "bitmap_empty",
    "bitmap_to_string",
    "bitmap_count",
    "bitmap_contains",
    "bitmap_or",
    "bitmap_and",
    "hll_hash",
    "hll_empty",
    "hll_cardinality",
    "bitmap_union",
    "bitmap_union_count",
    "bitmap_agg",
    "bitmap_union_int",
    "hll_union",
    "hll_raw_agg",
    "hll_union_agg",
];

/// Whether SQL text calls one of [`SKETCH_FUNCTIONS`] (a name followed by `(`, not part of a
/// longer name).
pub fn calls_sketch_functions(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    SKETCH_FUNCTIONS.iter().any(|name| {
        text.match_indices(name).any(|(at, _)| {
            let before = text.get(..at).and_then(|b| b.chars().next_back());
            let after = text
                .get(at + name.len()..)
                .and_then(|a| a.trim_start().chars().next());
            !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '`')
                && after == Some('(')
        })
    })
}

/// Parse exactly one statement (a trailing `;` is fine).
pub fn parse_one(sql: &str) -> Result<Statement, ParseError> {
    BackstopParser::new(sql)?.parse_one()
}

/// A syntax error: what was expected, what was found, and where (1-based; 0 when unknown).
///
/// `Display` is MySQL's wording for error 1064; `message` alone suits a log line or a test.
/// With `unsupported`, the text is valid MySQL that names something backstop does not take (a
/// column type StarRocks refuses): `message` says what, and the client gets 1235, not 1064.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", error_text(self))]
pub struct ParseError {
    pub message: String,
    pub line: u64,
    pub column: u64,
    pub unsupported: bool,
}

fn error_text(e: &ParseError) -> String {
    if e.unsupported {
        e.message.clone()
    } else {
        format!(
            "You have an error in your SQL syntax; {}{}",
            e.message,
            location_suffix(&e.line, &e.column)
        )
    }
}

fn location_suffix(line: &u64, column: &u64) -> String {
    if *line == 0 {
        String::new()
    } else {
        format!(" at line {line}, column {column}")
    }
}

impl ParseError {
    fn at(message: impl Into<String>, location: Location) -> Self {
        ParseError {
            message: message.into(),
            line: location.line,
            column: location.column,
            unsupported: false,
        }
    }

    /// Valid MySQL that backstop does not support (1235).
    fn unsupported(message: impl Into<String>, location: Location) -> Self {
        ParseError {
            unsupported: true,
            ..ParseError::at(message, location)
        }
    }

    /// Convert sqlparser's error, whose text ends in " at Line: L, Column: C" when it knows the
    /// place; `fallback` is used when it does not (errors at the end of input have no location).
    fn from_sqlparser(err: ParserError, fallback: Location) -> Self {
        let text = match err {
            ParserError::TokenizerError(s) | ParserError::ParserError(s) => s,
            ParserError::RecursionLimitExceeded => {
                "the statement is nested too deeply (recursion limit exceeded)".to_string()
            }
        };
        if let Some((message, place)) = text.rsplit_once(" at Line: ")
            && let Some((line, column)) = place.split_once(", Column: ")
            && let (Ok(line), Ok(column)) =
                (line.trim().parse::<u64>(), column.trim().parse::<u64>())
        {
            return ParseError {
                message: message.to_string(),
                line,
                column,
                unsupported: false,
            };
        }
        ParseError::at(text, fallback)
    }
}

/// The MySQL dialect: backtick identifiers, '..' and ".." strings, backslash escapes.
static DIALECT: MySqlDialect = MySqlDialect {};

/// Words that cannot be a bare (unquoted) name: StarRocks' reserved words, as far as they matter
/// to the statements we parse. Quoted with backticks, any of them is a fine name.
const RESERVED: &[&str] = &[
    "ADD",
    "ALL",
    "ALTER",
    "AND",
    "AS",
    "ASC",
    "BETWEEN",
    "BIGINT",
    "BY",
    "CASE",
    "CHAR",
    "CHARACTER",
    "CHECK",
    "COLUMN",
    "CREATE",
    "CROSS",
    "CURRENT_TIMESTAMP",
    "DATABASE",
    "DATABASES",
    "DECIMAL",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DESCRIBE",
    "DISTINCT",
    "DOUBLE",
    "DROP",
    "ELSE",
    "EXISTS",
    "EXPLAIN",
    "FALSE",
    "FLOAT",
    "FOR",
    "FORCE",
    "FROM",
    "FULL",
    "FUNCTION",
    "GRANT",
    "GROUP",
    "HAVING",
    "IF",
    "IN",
    "INDEX",
    "INNER",
    "INSERT",
    "INT",
    "INTEGER",
    "INTO",
    "IS",
    "JOIN",
    "KEY",
    "KEYS",
    "LARGEINT",
    "LEFT",
    "LIKE",
    "LIMIT",
    "MAXVALUE",
    "NOT",
    "NULL",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "PARTITION",
    "PRIMARY",
    "RANGE",
    "RENAME",
    "REPLACE",
    "REVOKE",
    "RIGHT",
    "SCHEMA",
    "SELECT",
    "SET",
    "SHOW",
    "SMALLINT",
    "TABLE",
    "THEN",
    "TINYINT",
    "TO",
    "TRUE",
    "UNION",
    "UNIQUE",
    "UPDATE",
    "USE",
    "USING",
    "VALUES",
    "VARCHAR",
    "WHEN",
    "WHERE",
    "WITH",
];

fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

/// The statement parser: sqlparser's parser plus backstop's statements.
///
/// The deepest flat chain of operators an expression may have: `a OR b OR ...` and
/// `1 + 1 + ...` of this many operators, or an `OR` list of this many `x = n` terms (what an
/// ORM writes for a long filter). Each chained operator nests the expression tree one level
/// deeper, and that tree is walked recursively (cloned, printed, planned, dropped); past this
/// limit a statement is refused as too complex instead of risking the stack of the thread that
/// runs it (docs/operations.md, "Limits"). `IN (...)` lists and `VALUES` rows do not count:
/// their items are side by side, not nested.
pub const MAX_OPERATOR_CHAIN: usize = 4_096;

/// How an operator nests: `AND`, `OR`, `XOR` and `NOT` chain across a whole run of an
/// expression; the others (comparisons, arithmetic, `||`, `LIKE`, ...) bind tighter and chain
/// only within the stretch between two logical operators.
#[derive(Clone, Copy)]
enum Binding {
    Logical,
    Tight,
}

/// How deep one flat run of an expression nests, estimated from its tokens. Commas and
/// parentheses start new runs (parentheses nest, and the parser limits their depth itself).
#[derive(Default, Clone, Copy)]
struct Chain {
    logical: usize,
    tight: usize,
    deepest_tight: usize,
}

impl Chain {
    /// Counts one more operator; returns the run's depth so far.
    fn add(&mut self, binding: Binding) -> usize {
        match binding {
            Binding::Logical => {
                self.logical += 1;
                self.tight = 0;
            }
            Binding::Tight => {
                self.tight += 1;
                self.deepest_tight = self.deepest_tight.max(self.tight);
            }
        }
        self.logical + self.deepest_tight
    }
}

/// Refuses a statement whose operator chain nests deeper than [`MAX_OPERATOR_CHAIN`].
fn check_operator_chains(tokens: &[TokenWithSpan]) -> Result<(), ParseError> {
    // The run of each open parenthesis, above the statement's own.
    let mut outer: Vec<Chain> = Vec::new();
    let mut run = Chain::default();
    for t in tokens {
        match &t.token {
            Token::LParen => outer.push(std::mem::take(&mut run)),
            Token::RParen => run = outer.pop().unwrap_or_default(),
            Token::Comma => run = Chain::default(),
            Token::SemiColon => {
                outer.clear();
                run = Chain::default();
            }
            token => {
                if let Some(binding) = binding(token)
                    && run.add(binding) > MAX_OPERATOR_CHAIN
                {
                    return Err(ParseError::at(
                        format!(
                            "Statement too complex: an expression chains more than \
                             {MAX_OPERATOR_CHAIN} operators (AND, OR, +, ||, ...). Split it, \
                             or write a long list of values as IN (...)"
                        ),
                        t.span.start,
                    ));
                }
            }
        }
    }
    Ok(())
}

/// How `token` nests when it is an operator; `None` for any other token.
fn binding(token: &Token) -> Option<Binding> {
    match token {
        Token::Plus
        | Token::Minus
        | Token::Mul
        | Token::Div
        | Token::Mod
        | Token::StringConcat
        | Token::Ampersand
        | Token::Pipe
        | Token::Caret
        | Token::ShiftLeft
        | Token::ShiftRight
        | Token::Eq
        | Token::DoubleEq
        | Token::Neq
        | Token::Lt
        | Token::Gt
        | Token::LtEq
        | Token::GtEq
        | Token::Spaceship => Some(Binding::Tight),
        Token::Word(w) if w.quote_style.is_none() => {
            let is = |words: &[&str]| words.iter().any(|k| w.value.eq_ignore_ascii_case(k));
            if is(&["AND", "OR", "XOR", "NOT"]) {
                Some(Binding::Logical)
            } else if is(&["DIV", "MOD", "LIKE", "REGEXP", "RLIKE"]) {
                Some(Binding::Tight)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Grammar helpers compare unquoted words case-insensitively instead of using sqlparser's
/// `Keyword` enum, which lacks most StarRocks words (`REPOSITORY`, `BUCKETS`, ...).
pub struct BackstopParser<'a> {
    parser: Parser<'a>,
    /// Where the input ends: errors found at the end of input are reported here, since
    /// sqlparser's end-of-file token carries no location.
    end: Location,
}

impl BackstopParser<'static> {
    /// Tokenize `sql` (MySQL dialect) and get ready to parse it.
    pub fn new(sql: &str) -> Result<Self, ParseError> {
        let tokens = Tokenizer::new(&DIALECT, sql)
            .with_unescape(true)
            .tokenize_with_location()
            .map_err(|e| ParseError::at(e.message, e.location))?;
        check_operator_chains(&tokens)?;
        let end = tokens
            .iter()
            .rev()
            .find(|t| !matches!(t.token, Token::Whitespace(_)))
            .map(|t| t.span.end)
            .unwrap_or(Location { line: 1, column: 1 });
        let parser = Parser::new(&DIALECT).with_tokens_with_locations(tokens);
        Ok(BackstopParser { parser, end })
    }
}

impl BackstopParser<'_> {
    /// All statements, separated by `;`; empty statements are skipped.
    pub fn parse_statements(&mut self) -> Result<Vec<Statement>, ParseError> {
        let mut statements = Vec::new();
        loop {
            while self.consume(&Token::SemiColon) {}
            if self.peek_is(&Token::EOF) {
                return Ok(statements);
            }
            statements.push(self.parse_statement()?);
            if !self.peek_is(&Token::SemiColon) && !self.peek_is(&Token::EOF) {
                return self.expected("end of statement");
            }
        }
    }

    /// Exactly one statement, optionally followed by `;`.
    pub fn parse_one(&mut self) -> Result<Statement, ParseError> {
        while self.consume(&Token::SemiColon) {}
        if self.peek_is(&Token::EOF) {
            return Err(ParseError::at("Query was empty", self.end));
        }
        let statement = self.parse_statement()?;
        while self.consume(&Token::SemiColon) {}
        if !self.peek_is(&Token::EOF) {
            return self.expected("end of input (only one statement is allowed here)");
        }
        Ok(statement)
    }

    /// One statement, stopping before the `;` or end of input that ends it.
    pub fn parse_statement(&mut self) -> Result<Statement, ParseError> {
        let Some(first) = self.peek_word_upper(0) else {
            return self.parse_std();
        };
        match first.as_str() {
            "CREATE" => {
                if self.peek_words(1, &["REPOSITORY"])
                    || self.peek_words(1, &["READ", "ONLY", "REPOSITORY"])
                {
                    self.parse_create_repository()
                } else if self.peek_words(1, &["DATABASE"]) || self.peek_words(1, &["SCHEMA"]) {
                    self.parse_create_database()
                } else if self.peek_words(1, &["USER"]) {
                    self.parse_create_user()
                } else if self.peek_words(1, &["MATERIALIZED", "VIEW"]) {
                    self.parse_create_materialized_view()
                } else if self.peek_words(1, &["VIEW"])
                    || self.peek_words(1, &["OR", "REPLACE", "VIEW"])
                {
                    self.parse_create_view()
                } else if self.is_starrocks_create_table() {
                    self.parse_create_table()
                } else {
                    self.parse_std()
                }
            }
            "SUBMIT" => self.parse_submit_task(),
            "ADMIN" if self.peek_words(1, &["SET", "FRONTEND", "CONFIG"]) => {
                self.expect_words(&["ADMIN", "SET", "FRONTEND", "CONFIG"])?;
                Ok(Statement::AdminSetConfig(self.parse_property_list()?))
            }
            "ADMIN" if self.peek_words(1, &["SHOW", "FRONTEND", "CONFIG"]) => {
                self.expect_words(&["ADMIN", "SHOW", "FRONTEND", "CONFIG"])?;
                let like = if self.parse_word("LIKE") {
                    Some(self.parse_string("pattern")?)
                } else {
                    None
                };
                Ok(Statement::AdminShowConfig(like))
            }
            "ALTER" if self.peek_words(1, &["TASK"]) => self.parse_alter_task(),
            "DROP" => {
                if self.peek_words(1, &["TASK"]) {
                    self.parse_drop_task()
                } else if self.peek_words(1, &["USER"]) {
                    self.parse_drop_user()
                } else if self.peek_words(1, &["REPOSITORY"]) {
                    self.parse_drop_repository()
                } else if self.peek_words(1, &["SNAPSHOT"]) {
                    self.parse_drop_snapshot()
                } else if self.peek_words(1, &["DATABASE"]) || self.peek_words(1, &["SCHEMA"]) {
                    self.parse_drop_database()
                } else if self.peek_words(1, &["TABLE"]) {
                    // StarRocks' `DROP TABLE t FORCE` skips its recycle bin; backstop keeps no
                    // recycle bin, so FORCE is accepted and changes nothing.
                    let stmt = self.parse_std()?;
                    let _force = self
                        .parser
                        .parse_keyword(sqlparser::keywords::Keyword::FORCE);
                    Ok(stmt)
                } else {
                    self.parse_std()
                }
            }
            "ALTER" if self.peek_words(1, &["USER"]) => self.parse_alter_user(),
            "ALTER" if self.peek_words(1, &["VIEW"]) => self.parse_create_view(),
            "ALTER" if self.peek_words(1, &["MATERIALIZED", "VIEW"]) => {
                self.parse_alter_materialized_view()
            }
            "REFRESH" if self.peek_words(1, &["MATERIALIZED", "VIEW"]) => {
                self.parse_refresh_materialized_view()
            }
            "SET" if self.peek_words(1, &["PASSWORD"]) => self.parse_set_password(),
            "SET" if self.peek_words(1, &["ROLE"]) || self.peek_words(1, &["DEFAULT", "ROLE"]) => {
                self.parse_set_role()
            }
            "GRANT" => self.parse_grant(false),
            "REVOKE" => self.parse_grant(true),
            "BACKUP" => self.parse_backup(),
            "RESTORE" => self.parse_restore(),
            "VERIFY" => self.parse_verify_snapshot(),
            "CANCEL" if self.peek_words(1, &["BACKUP"]) || self.peek_words(1, &["RESTORE"]) => {
                self.parse_cancel()
            }
            "CANCEL" if self.peek_words(1, &["VERIFY"]) => self.parse_cancel_verify(),
            "SHOW" => match self.peek_word_upper(1).as_deref() {
                Some("VERIFY") => self.parse_show_verify(),
                Some(
                    "REPOSITORIES" | "SNAPSHOT" | "BACKUP" | "RESTORE" | "PARTITIONS" | "TABLET"
                    | "TABLETS",
                ) => self.parse_show(),
                Some("TEMPORARY") if self.peek_words(2, &["PARTITIONS"]) => self.parse_show(),
                Some("USERS" | "GRANTS" | "ROLES") => self.parse_show_privileges(),
                Some("ALL") if self.peek_words(2, &["GRANTS"]) => self.parse_show_privileges(),
                Some("TABLE") if self.peek_words(2, &["STATUS"]) => self.parse_show(),
                Some("MATERIALIZED") => self.parse_show_materialized_views(),
                Some("DYNAMIC") => {
                    self.expect_words(&["SHOW", "DYNAMIC", "PARTITION", "TABLES"])?;
                    let db = if self.parse_one_of(&["FROM", "IN"]).is_some() {
                        Some(self.parse_ident("database name")?)
                    } else {
                        None
                    };
                    Ok(Statement::ShowDynamicPartitionTables(db))
                }
                Some("CREATE") if self.peek_words(2, &["MATERIALIZED", "VIEW"]) => {
                    self.parse_show_create_materialized_view()
                }
                _ => self.parse_std(),
            },
            "ALTER" if self.is_partition_alter() => self.parse_alter_partition(),
            "ALTER" if self.is_table_rename() => self.parse_rename_table(),
            "ALTER" if self.is_table_compact() => self.parse_compact_table(),
            "ALTER" if self.is_table_set() => self.parse_table_set(),
            "ALTER" if self.is_column_alter() => self.parse_column_alter(),
            "TRUNCATE" => self.parse_truncate(),
            "CHECKSUM" => self.parse_checksum(),
            _ => self.parse_std(),
        }
    }

    /// Hand the statement to sqlparser.
    fn parse_std(&mut self) -> Result<Statement, ParseError> {
        match self.parser.parse_statement() {
            Ok(s) => Ok(Statement::Std(Box::new(s))),
            Err(e) => Err(self.convert(e)),
        }
    }

    /// Convert an error from a sqlparser call made at the current position.
    fn convert(&self, e: ParserError) -> ParseError {
        ParseError::from_sqlparser(e, self.location_of(self.parser.peek_token_ref()))
    }

    // ---- token helpers -------------------------------------------------------------------

    fn location_of(&self, token: &TokenWithSpan) -> Location {
        if token.token == Token::EOF || token.span.start.line == 0 {
            self.end
        } else {
            token.span.start
        }
    }

    /// Where the next token starts (or the end of input).
    fn here(&self) -> Location {
        self.location_of(self.parser.peek_token_ref())
    }

    /// `Expected: <what>, found: <next token>` at the next token.
    fn expected<T>(&self, what: &str) -> Result<T, ParseError> {
        let next = self.parser.peek_token_ref();
        Err(ParseError::at(
            format!("Expected: {what}, found: {}", next.token),
            self.location_of(next),
        ))
    }

    /// An error with a message of its own, at the next token.
    fn error_here<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError::at(message, self.here()))
    }

    fn peek_is(&self, token: &Token) -> bool {
        &self.parser.peek_token_ref().token == token
    }

    fn consume(&mut self, token: &Token) -> bool {
        self.parser.consume_token(token)
    }

    fn expect_token(&mut self, token: &Token) -> Result<(), ParseError> {
        if self.consume(token) {
            Ok(())
        } else {
            self.expected(&token.to_string())
        }
    }

    /// The unquoted word `n` tokens ahead, upper-cased.
    fn peek_word_upper(&self, n: usize) -> Option<String> {
        match &self.parser.peek_nth_token_ref(n).token {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        }
    }

    /// Whether the tokens from `n` ahead are exactly these unquoted words (any case).
    fn peek_words(&self, n: usize, words: &[&str]) -> bool {
        words.iter().enumerate().all(|(i, word)| {
            matches!(&self.parser.peek_nth_token_ref(n + i).token,
                Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
        })
    }

    /// Whether the next token is this unquoted word.
    fn peek_word(&self, word: &str) -> bool {
        self.peek_words(0, &[word])
    }

    /// Consume the next token if it is this unquoted word.
    fn parse_word(&mut self, word: &str) -> bool {
        if self.peek_word(word) {
            self.parser.advance_token();
            true
        } else {
            false
        }
    }

    /// Consume these words if they all come next; otherwise consume nothing.
    fn parse_words(&mut self, words: &[&str]) -> bool {
        if self.peek_words(0, words) {
            for _ in words {
                self.parser.advance_token();
            }
            true
        } else {
            false
        }
    }

    /// Consume the first of `words` that comes next, returning it as written in `words`.
    fn parse_one_of<'w>(&mut self, words: &[&'w str]) -> Option<&'w str> {
        let found = words.iter().find(|w| self.peek_word(w)).copied();
        if found.is_some() {
            self.parser.advance_token();
        }
        found
    }

    fn expect_word(&mut self, word: &str) -> Result<(), ParseError> {
        if self.parse_word(word) {
            Ok(())
        } else {
            self.expected(word)
        }
    }

    fn expect_words(&mut self, words: &[&str]) -> Result<(), ParseError> {
        for word in words {
            self.expect_word(word)?;
        }
        Ok(())
    }

    /// A name: a backtick-quoted word, or an unquoted word that is not reserved.
    /// `what` names it in the error ("repository name", "column name", ...).
    fn parse_ident(&mut self, what: &str) -> Result<Ident, ParseError> {
        let next = self.parser.peek_token_ref();
        match &next.token {
            Token::Word(w) if w.quote_style.is_none() && is_reserved(&w.value) => {
                Err(ParseError::at(
                    format!(
                        "Expected: {what}, found: {} (a reserved word; quote it with backticks to use it as a name)",
                        w.value
                    ),
                    self.location_of(next),
                ))
            }
            Token::Word(w) => {
                let ident = Ident {
                    value: w.value.clone(),
                    quote_style: w.quote_style,
                    span: next.span,
                };
                self.parser.advance_token();
                Ok(ident)
            }
            _ => self.expected(what),
        }
    }

    /// `a`, `a.b`, ...: a possibly qualified name.
    fn parse_object_name(&mut self, what: &str) -> Result<ObjectName, ParseError> {
        let mut parts = vec![self.parse_ident(what)?];
        while self.consume(&Token::Period) {
            parts.push(self.parse_ident(what)?);
        }
        Ok(ObjectName::from(parts))
    }

    /// `name` or `db.name` (never more parts).
    fn parse_qualified_pair(&mut self, what: &str) -> Result<(Option<Ident>, Ident), ParseError> {
        let first = self.parse_ident(what)?;
        if !self.consume(&Token::Period) {
            return Ok((None, first));
        }
        let second = self.parse_ident(what)?;
        if self.peek_is(&Token::Period) {
            return self.error_here(format!(
                "Expected: {what} as `name` or `db.name`, found a third name part"
            ));
        }
        Ok((Some(first), second))
    }

    /// A string literal, '..' or "..".
    fn parse_string(&mut self, what: &str) -> Result<String, ParseError> {
        match &self.parser.peek_token_ref().token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
                let s = s.clone();
                self.parser.advance_token();
                Ok(s)
            }
            _ => self.expected(what),
        }
    }

    /// An unsigned integer literal.
    fn parse_u64(&mut self, what: &str) -> Result<u64, ParseError> {
        match &self.parser.peek_token_ref().token {
            Token::Number(n, false) => match n.parse::<u64>() {
                Ok(v) => {
                    self.parser.advance_token();
                    Ok(v)
                }
                Err(_) => self.error_here(format!(
                    "Expected: {what} (a non-negative integer), found: {n}"
                )),
            },
            _ => self.expected(what),
        }
    }

    /// `( item, item, ... )` with at least one item.
    fn parse_parenthesized_list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        self.expect_token(&Token::LParen)?;
        let mut items = vec![item(self)?];
        while self.consume(&Token::Comma) {
            items.push(item(self)?);
        }
        if !self.consume(&Token::RParen) {
            return self.expected(", or )");
        }
        Ok(items)
    }

    /// `( ident, ... )`
    fn parse_ident_list(&mut self, what: &str) -> Result<Vec<Ident>, ParseError> {
        self.parse_parenthesized_list(|p| p.parse_ident(what))
    }

    /// `[PROPERTIES ("k" = "v", ...)]`; absent means empty.
    fn parse_optional_properties(&mut self) -> Result<Properties, ParseError> {
        if self.parse_word("PROPERTIES") {
            self.parse_property_list()
        } else {
            Ok(Properties::new())
        }
    }

    /// `("k" = "v", ...)`: both sides string literals, no key twice.
    pub(super) fn parse_property_list(&mut self) -> Result<Properties, ParseError> {
        self.expect_token(&Token::LParen)?;
        let mut properties = Properties::new();
        loop {
            let at = self.here();
            let key = self.parse_string("property key (a string literal)")?;
            if properties.iter().any(|(k, _)| *k == key) {
                return Err(ParseError::at(
                    format!(
                        "Duplicate property key '{key}' in PROPERTIES; give each property once"
                    ),
                    at,
                ));
            }
            self.expect_token(&Token::Eq)?;
            // The value may be a credential: the error does not echo what was found.
            let value = match &self.parser.peek_token_ref().token {
                Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) => {
                    self.parse_string("property value")?
                }
                Token::EOF => return self.expected("property value (a string literal)"),
                _ => {
                    return self.error_here(format!(
                        "Expected: the value of property '{key}' as a string literal"
                    ));
                }
            };
            properties.push((key, value));
            if self.consume(&Token::RParen) {
                return Ok(properties);
            }
            if !self.consume(&Token::Comma) {
                return self.expected(", or )");
            }
        }
    }

    /// Refuse a repeated clause (`COMMENT ... COMMENT ...`).
    fn ensure_not_set<T>(&self, slot: &Option<T>, clause: &str) -> Result<(), ParseError> {
        if slot.is_some() {
            self.error_here(format!("{clause} is given more than once"))
        } else {
            Ok(())
        }
    }

    /// How many tokens the name starting `n` tokens ahead takes (`a` = 1, `a.b` = 3).
    pub(super) fn peek_name_len(&self, n: usize) -> Option<usize> {
        let mut i = n;
        loop {
            if !matches!(self.parser.peek_nth_token_ref(i).token, Token::Word(_)) {
                return None;
            }
            i += 1;
            if self.parser.peek_nth_token_ref(i).token != Token::Period {
                return Some(i - n);
            }
            i += 1;
        }
    }
}

// ---- display helpers ----------------------------------------------------------------------

/// A string literal in double quotes, escaped so the MySQL tokenizer reads back `self.0`.
pub(crate) struct QuotedString<'a>(pub &'a str);

impl fmt::Display for QuotedString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

/// ` PROPERTIES ("k" = "v", ...)`, or nothing when empty.
pub(crate) struct DisplayProperties<'a>(pub &'a Properties);

impl fmt::Display for DisplayProperties<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        write!(f, " PROPERTIES {}", PropertyList(self.0))
    }
}

/// `("k" = "v", ...)`: a property list alone (`ALTER ... SET (...)`, `ADMIN SET ... CONFIG`).
pub(crate) struct PropertyList<'a>(pub &'a [(String, String)]);

impl fmt::Display for PropertyList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} = {}", QuotedString(k), QuotedString(v))?;
        }
        f.write_str(")")
    }
}

/// `a, b, c`
pub(crate) struct CommaSeparated<'a, T>(pub &'a [T]);

impl<T: fmt::Display> fmt::Display for CommaSeparated<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}

/// A name as SQL: bare when the tokenizer reads it back as the same bare name, otherwise in
/// backticks with backticks doubled. (sqlparser's own `Ident` Display guesses at escapes and
/// does not round-trip a name containing a backslash before a backtick.)
pub(crate) struct Id<'a>(pub &'a Ident);

impl fmt::Display for Id<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = &self.0.value;
        if self.0.quote_style.is_none() && is_bare_name(value) {
            return f.write_str(value);
        }
        f.write_str("`")?;
        for c in value.chars() {
            if c == '`' {
                f.write_str("``")?;
            } else {
                write!(f, "{c}")?;
            }
        }
        f.write_str("`")
    }
}

/// Whether `value` can be written without backticks: the MySQL tokenizer reads it back as
/// exactly this one unquoted word, and it is not reserved. Names built by code (not parsed)
/// that fail this, say `my col`, are printed quoted so the SQL stays valid.
fn is_bare_name(value: &str) -> bool {
    if value.is_empty() || is_reserved(value) {
        return false;
    }
    match Tokenizer::new(&DIALECT, value).tokenize() {
        Ok(tokens) => matches!(tokens.as_slice(),
            [Token::Word(w)] if w.quote_style.is_none() && w.value == value),
        Err(_) => false,
    }
}

/// `[IF EXISTS ]name[ FORCE]`: what DROP DATABASE, DROP TASK and ALTER TABLE ... DROP
/// PARTITION name, the name as [`Id`].
pub(crate) struct Dropped<'a> {
    pub if_exists: bool,
    pub name: &'a Ident,
    pub force: bool,
}

impl fmt::Display for Dropped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.if_exists {
            f.write_str("IF EXISTS ")?;
        }
        write!(f, "{}", Id(self.name))?;
        if self.force {
            f.write_str(" FORCE")?;
        }
        Ok(())
    }
}

/// `a.b.c`, each part as [`Id`].
pub(crate) struct Name<'a>(pub &'a ObjectName);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.0.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            match part.as_ident() {
                Some(ident) => write!(f, "{}", Id(ident))?,
                None => write!(f, "{part}")?,
            }
        }
        Ok(())
    }
}

/// `a, b, c` of names.
pub(crate) struct Ids<'a>(pub &'a [Ident]);

impl fmt::Display for Ids<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, ident) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", Id(ident))?;
        }
        Ok(())
    }
}

/// `a.b, c` of qualified names.
pub(crate) struct Names<'a>(pub &'a [ObjectName]);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", Name(name))?;
        }
        Ok(())
    }
}
