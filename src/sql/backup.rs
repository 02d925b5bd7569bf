//! `BACKUP` and `RESTORE`: the legacy (all versions) and v3.4+ StarRocks forms.
//!
//! Both statements share the `ON (...)` object list ([`BackupObject`]). The parser accepts every
//! object kind StarRocks' grammar has (views, materialized views, functions, external catalogs)
//! so the executor can refuse the ones backstop does not support with a clear message, rather
//! than the user getting a syntax error for valid StarRocks SQL.
//!
//! Checks StarRocks makes in its parser (AstBuilder) are made here too, with its texts:
//! no alias in `BACKUP`, no `db.` prefix together with `DATABASE db`, no `ON` in a `RESTORE`
//! that names no database.

use std::fmt;

use sqlparser::tokenizer::Token;

use super::{
    BackstopParser, CommaSeparated, DisplayProperties, Id, Ident, Ids, Name, ObjectName,
    ParseError, Properties, Statement,
};

const DB_TWICE: &str = "Specifying dbName before snapshot name is forbidden if the DbName is specified explicitly in BACKUP/RESTORE";
const ALIAS_IN_BACKUP: &str = "Specifying alias for backup object is forbidden in BACKUP stmt";
const ON_WITHOUT_DB: &str =
    "`ON` clause is forbidden if no Database explicitly specified in Restore stmt";

/// ```text
/// BACKUP [ALL EXTERNAL CATALOGS | EXTERNAL {CATALOG | CATALOGS} (catalog, ...)]
///        [DATABASE db] SNAPSHOT [db.]label
///        TO repo
///        [ON (object, ...)]
///        [PROPERTIES ("key" = "value", ...)]
///
/// object ::= [TABLE | TABLES] tbl [partitions]
///          | {MATERIALIZED VIEW | MATERIALIZED VIEWS | VIEW | VIEWS | FUNCTION | FUNCTIONS} name
///          | ALL {TABLE | TABLES | MATERIALIZED VIEW | MATERIALIZED VIEWS | VIEW | VIEWS | FUNCTION | FUNCTIONS}
/// partitions ::= [TEMPORARY] {PARTITION | PARTITIONS} (p, ...) | [TEMPORARY] {PARTITION | PARTITIONS} p
/// ```
/// `DATABASE db` and the `db.` prefix mean the same for BACKUP (giving both is an error); both
/// end up in `db`. Neither means the session's current database.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSnapshot {
    pub catalogs: Option<ExternalCatalogs>,
    pub db: Option<Ident>,
    pub label: Ident,
    pub repo: Ident,
    /// Empty: everything in the database.
    pub on: Vec<BackupObject>,
    pub properties: Properties,
}

/// ```text
/// RESTORE SNAPSHOT [db.]label
///     FROM repo
///     [ALL EXTERNAL CATALOGS | EXTERNAL {CATALOG | CATALOGS} (catalog [AS alias], ...)]
///     [DATABASE source_db [AS target_db]]
///     [ON (object [AS alias], ...)]          -- objects as in BACKUP
///     [PROPERTIES ("backup_timestamp" = "...", ...)]
/// ```
/// Target database: `db.` prefix → `db`; `DATABASE src [AS tgt]` → `tgt`, else `src` (and `src`
/// must be the snapshot's database); neither → the snapshot's own database, and `ON` is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreSnapshot {
    /// The `db.` prefix of the label: the target database, not checked against the snapshot.
    pub db: Option<Ident>,
    pub label: Ident,
    pub repo: Ident,
    pub catalogs: Option<ExternalCatalogs>,
    pub database: Option<RestoreDatabase>,
    /// Empty: everything in the snapshot.
    pub on: Vec<BackupObject>,
    pub properties: Properties,
}

impl RestoreSnapshot {
    /// The database restored into, when the statement names one.
    pub fn target_db(&self) -> Option<&Ident> {
        self.db.as_ref().or_else(|| {
            self.database
                .as_ref()
                .map(|d| d.target.as_ref().unwrap_or(&d.source))
        })
    }
}

/// `DATABASE source [AS target]` in RESTORE.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreDatabase {
    /// The database as named in the snapshot.
    pub source: Ident,
    /// The database to restore into, if not `source`.
    pub target: Option<Ident>,
}

/// The external-catalog clause of BACKUP and RESTORE (not supported by backstop's executor).
#[derive(Debug, Clone, PartialEq)]
pub enum ExternalCatalogs {
    /// `ALL EXTERNAL CATALOGS`
    All,
    /// `EXTERNAL CATALOGS (c1, c2 AS c3)`: catalogs with their alias (RESTORE only).
    Named(Vec<(Ident, Option<Ident>)>),
}

/// What kind of object an `ON (...)` entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Table,
    MaterializedView,
    View,
    Function,
}

/// One entry of `ON (...)`.
#[derive(Debug, Clone, PartialEq)]
pub enum BackupObject {
    /// `[TABLE | MATERIALIZED VIEW | VIEW | FUNCTION] name [partitions] [AS alias]`.
    /// `kind: None` is the legacy bare name: any table-like object (table, view or MV).
    /// Only `None` and `Some(Table)` carry partitions.
    Named {
        kind: Option<ObjectKind>,
        object: TableRef,
    },
    /// `ALL TABLES`, `ALL MATERIALIZED VIEWS`, `ALL VIEWS`, `ALL FUNCTIONS`.
    All(ObjectKind),
}

/// A named object in `ON (...)`: `name [[TEMPORARY] PARTITION (p, ...)] [AS alias]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRef {
    pub name: ObjectName,
    /// Empty: all partitions.
    pub partitions: Vec<Ident>,
    /// `TEMPORARY PARTITION (...)`: the partitions named are temporary ones.
    pub temporary: bool,
    /// RESTORE only: restore under this name.
    pub alias: Option<Ident>,
}

impl TableRef {
    fn new(name: ObjectName) -> Self {
        TableRef {
            name,
            partitions: Vec::new(),
            temporary: false,
            alias: None,
        }
    }
}

impl fmt::Display for ExternalCatalogs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExternalCatalogs::All => f.write_str("ALL EXTERNAL CATALOGS"),
            ExternalCatalogs::Named(catalogs) => {
                f.write_str("EXTERNAL CATALOGS (")?;
                for (i, (name, alias)) in catalogs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", Id(name))?;
                    if let Some(alias) = alias {
                        write!(f, " AS {}", Id(alias))?;
                    }
                }
                f.write_str(")")
            }
        }
    }
}

impl ObjectKind {
    fn singular(self) -> &'static str {
        match self {
            ObjectKind::Table => "TABLE",
            ObjectKind::MaterializedView => "MATERIALIZED VIEW",
            ObjectKind::View => "VIEW",
            ObjectKind::Function => "FUNCTION",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            ObjectKind::Table => "TABLES",
            ObjectKind::MaterializedView => "MATERIALIZED VIEWS",
            ObjectKind::View => "VIEWS",
            ObjectKind::Function => "FUNCTIONS",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.singular())
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Name(&self.name))?;
        if !self.partitions.is_empty() {
            if self.temporary {
                f.write_str(" TEMPORARY")?;
            }
            write!(f, " PARTITION ({})", Ids(&self.partitions))?;
        }
        if let Some(alias) = &self.alias {
            write!(f, " AS {}", Id(alias))?;
        }
        Ok(())
    }
}

impl fmt::Display for BackupObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackupObject::Named { kind: None, object } => write!(f, "{object}"),
            BackupObject::Named {
                kind: Some(kind),
                object,
            } => write!(f, "{kind} {object}"),
            BackupObject::All(kind) => write!(f, "ALL {}", kind.plural()),
        }
    }
}

fn fmt_label(f: &mut fmt::Formatter<'_>, db: &Option<Ident>, label: &Ident) -> fmt::Result {
    match db {
        Some(db) => write!(f, "{}.{}", Id(db), Id(label)),
        None => write!(f, "{}", Id(label)),
    }
}

impl fmt::Display for BackupSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BACKUP ")?;
        if let Some(catalogs) = &self.catalogs {
            write!(f, "{catalogs} ")?;
        }
        f.write_str("SNAPSHOT ")?;
        fmt_label(f, &self.db, &self.label)?;
        write!(f, " TO {}", Id(&self.repo))?;
        if !self.on.is_empty() {
            write!(f, " ON ({})", CommaSeparated(&self.on))?;
        }
        write!(f, "{}", DisplayProperties(&self.properties))
    }
}

impl fmt::Display for RestoreSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RESTORE SNAPSHOT ")?;
        fmt_label(f, &self.db, &self.label)?;
        write!(f, " FROM {}", Id(&self.repo))?;
        if let Some(catalogs) = &self.catalogs {
            write!(f, " {catalogs}")?;
        }
        if let Some(database) = &self.database {
            write!(f, " DATABASE {}", Id(&database.source))?;
            if let Some(target) = &database.target {
                write!(f, " AS {}", Id(target))?;
            }
        }
        if !self.on.is_empty() {
            write!(f, " ON ({})", CommaSeparated(&self.on))?;
        }
        write!(f, "{}", DisplayProperties(&self.properties))
    }
}

impl BackstopParser<'_> {
    pub(super) fn parse_backup(&mut self) -> Result<Statement, ParseError> {
        self.expect_word("BACKUP")?;
        let catalogs = self.parse_external_catalogs(false)?;
        let database = if self.parse_word("DATABASE") {
            Some(self.parse_ident("database name")?)
        } else {
            None
        };
        if !self.parse_word("SNAPSHOT") {
            return self.expected(if database.is_some() || catalogs.is_some() {
                "SNAPSHOT"
            } else {
                "SNAPSHOT, DATABASE or EXTERNAL CATALOG"
            });
        }
        let label_at = self.here();
        let (prefix, label) = self.parse_qualified_pair("snapshot name")?;
        let db = match (database, prefix) {
            (Some(_), Some(_)) => return Err(ParseError::at(DB_TWICE, label_at)),
            (database, prefix) => database.or(prefix),
        };
        self.expect_word("TO")?;
        let repo = self.parse_ident("repository name")?;
        let on = self.parse_optional_on(false)?;
        let properties = self.parse_optional_properties()?;
        Ok(Statement::BackupSnapshot(BackupSnapshot {
            catalogs,
            db,
            label,
            repo,
            on,
            properties,
        }))
    }

    pub(super) fn parse_restore(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["RESTORE", "SNAPSHOT"])?;
        let label_at = self.here();
        let (db, label) = self.parse_qualified_pair("snapshot name")?;
        self.expect_word("FROM")?;
        let repo = self.parse_ident("repository name")?;
        let catalogs = self.parse_external_catalogs(true)?;
        let database = if self.parse_word("DATABASE") {
            if db.is_some() {
                return Err(ParseError::at(DB_TWICE, label_at));
            }
            let source = self.parse_ident("database name")?;
            let target = if self.parse_word("AS") {
                Some(self.parse_ident("target database name")?)
            } else {
                None
            };
            Some(RestoreDatabase { source, target })
        } else {
            None
        };
        let on_at = self.here();
        let on = self.parse_optional_on(true)?;
        if !on.is_empty() && db.is_none() && database.is_none() {
            return Err(ParseError::at(ON_WITHOUT_DB, on_at));
        }
        let properties = self.parse_optional_properties()?;
        Ok(Statement::RestoreSnapshot(RestoreSnapshot {
            db,
            label,
            repo,
            catalogs,
            database,
            on,
            properties,
        }))
    }

    /// `[ALL EXTERNAL CATALOGS | EXTERNAL {CATALOG | CATALOGS} (c [AS a], ...)]`
    fn parse_external_catalogs(
        &mut self,
        restore: bool,
    ) -> Result<Option<ExternalCatalogs>, ParseError> {
        if self.parse_words(&["ALL", "EXTERNAL", "CATALOGS"]) {
            return Ok(Some(ExternalCatalogs::All));
        }
        if !self.parse_word("EXTERNAL") {
            return Ok(None);
        }
        if self.parse_one_of(&["CATALOG", "CATALOGS"]).is_none() {
            return self.expected("CATALOG or CATALOGS");
        }
        let catalogs = self.parse_parenthesized_list(|p| {
            let name = p.parse_ident("catalog name")?;
            let alias = if restore && p.parse_word("AS") {
                Some(p.parse_ident("catalog alias")?)
            } else {
                None
            };
            Ok((name, alias))
        })?;
        Ok(Some(ExternalCatalogs::Named(catalogs)))
    }

    /// `[ON (object, ...)]`; absent means empty.
    fn parse_optional_on(&mut self, restore: bool) -> Result<Vec<BackupObject>, ParseError> {
        if !self.parse_word("ON") {
            return Ok(Vec::new());
        }
        self.parse_parenthesized_list(|p| p.parse_backup_object(restore))
    }

    fn parse_backup_object(&mut self, restore: bool) -> Result<BackupObject, ParseError> {
        if self.parse_word("ALL") {
            return match self.parse_object_kind_word() {
                Some(kind) => Ok(BackupObject::All(kind)),
                None => self.expected("TABLES, MATERIALIZED VIEWS, VIEWS or FUNCTIONS after ALL"),
            };
        }
        // A kind word counts only when a name follows: `ON (view)` backs up a table named `view`.
        let kind_len = if self.peek_words(0, &["MATERIALIZED"]) {
            2
        } else {
            1
        };
        let kind = if matches!(
            self.parser.peek_nth_token_ref(kind_len).token,
            Token::Word(_)
        ) {
            self.parse_object_kind_word()
        } else {
            None
        };
        let name = self.parse_object_name(match kind {
            None | Some(ObjectKind::Table) => "table name",
            Some(ObjectKind::MaterializedView) => "materialized view name",
            Some(ObjectKind::View) => "view name",
            Some(ObjectKind::Function) => "function name",
        })?;
        let mut object = TableRef::new(name);
        if matches!(kind, None | Some(ObjectKind::Table)) {
            (object.temporary, object.partitions) = self.parse_optional_partition_names()?;
        }
        if self.peek_word("AS") {
            if !restore {
                return self.error_here(ALIAS_IN_BACKUP);
            }
            self.parser.advance_token();
            object.alias = Some(self.parse_ident("alias")?);
        }
        Ok(BackupObject::Named { kind, object })
    }

    /// `TABLE | TABLES | MATERIALIZED VIEW | MATERIALIZED VIEWS | VIEW | VIEWS | FUNCTION | FUNCTIONS`
    fn parse_object_kind_word(&mut self) -> Option<ObjectKind> {
        if self.parse_one_of(&["TABLE", "TABLES"]).is_some() {
            Some(ObjectKind::Table)
        } else if self.parse_words(&["MATERIALIZED", "VIEW"])
            || self.parse_words(&["MATERIALIZED", "VIEWS"])
        {
            Some(ObjectKind::MaterializedView)
        } else if self.parse_one_of(&["VIEW", "VIEWS"]).is_some() {
            Some(ObjectKind::View)
        } else if self.parse_one_of(&["FUNCTION", "FUNCTIONS"]).is_some() {
            Some(ObjectKind::Function)
        } else {
            None
        }
    }

    /// `[[TEMPORARY] {PARTITION | PARTITIONS} (p, ...)]` or `... PARTITION p`; names may be
    /// identifiers or strings. Returns (temporary, names).
    pub(super) fn parse_optional_partition_names(
        &mut self,
    ) -> Result<(bool, Vec<Ident>), ParseError> {
        let temporary = self.parse_word("TEMPORARY");
        if self.parse_one_of(&["PARTITION", "PARTITIONS"]).is_none() {
            if temporary {
                return self.expected("PARTITION or PARTITIONS");
            }
            return Ok((false, Vec::new()));
        }
        let names = if self.peek_is(&Token::LParen) {
            self.parse_parenthesized_list(|p| p.parse_partition_name())?
        } else {
            vec![self.parse_partition_name()?]
        };
        Ok((temporary, names))
    }

    /// A partition name: an identifier, or a string (kept as a backtick-quoted name).
    fn parse_partition_name(&mut self) -> Result<Ident, ParseError> {
        match &self.parser.peek_token_ref().token {
            Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) => {
                let name = self.parse_string("partition name")?;
                Ok(Ident::with_quote('`', name))
            }
            _ => self.parse_ident("partition name"),
        }
    }
}
