//! `CREATE VIEW` and `ALTER VIEW` in StarRocks' grammar (sqlparser knows neither the column
//! comments nor `COMMENT` / `SECURITY` before `AS`). `DROP VIEW` and `SHOW CREATE VIEW` are
//! sqlparser's.

use std::fmt;

use sqlparser::ast::Query;
use sqlparser::tokenizer::Token;

use super::{BackstopParser, Id, Ident, Name, ObjectName, ParseError, QuotedString, Statement};

/// ```text
/// CREATE [OR REPLACE] VIEW [IF NOT EXISTS] [db.]v [(col [COMMENT 'c'], ...)] [COMMENT 'c']
///     [SECURITY {NONE | INVOKER}] AS query
/// ALTER VIEW [db.]v [(col [COMMENT 'c'], ...)] [COMMENT 'c'] [SECURITY {NONE | INVOKER}] AS query
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CreateView {
    /// `ALTER VIEW`: the view must exist and is replaced.
    pub alter: bool,
    pub or_replace: bool,
    pub if_not_exists: bool,
    pub name: ObjectName,
    pub columns: Vec<ViewColumn>,
    pub comment: Option<String>,
    /// `SECURITY INVOKER`: readers need SELECT on what the query reads, too.
    pub security_invoker: bool,
    pub query: Box<Query>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ViewColumn {
    pub name: Ident,
    pub comment: Option<String>,
}

impl BackstopParser<'_> {
    /// After `CREATE [OR REPLACE]` or `ALTER`, at `VIEW`.
    pub(super) fn parse_create_view(&mut self) -> Result<Statement, ParseError> {
        let alter = self.parse_word("ALTER");
        if !alter {
            self.expect_word("CREATE")?;
        }
        let or_replace = !alter && self.parse_words(&["OR", "REPLACE"]);
        self.expect_word("VIEW")?;
        let if_not_exists = !alter && self.parse_words(&["IF", "NOT", "EXISTS"]);
        let name = self.parse_object_name("view name")?;
        let mut columns = Vec::new();
        if self.consume(&Token::LParen) {
            loop {
                let name = self.parse_ident("column name")?;
                let comment = if self.parse_word("COMMENT") {
                    Some(self.parse_string("column comment")?)
                } else {
                    None
                };
                columns.push(ViewColumn { name, comment });
                if !self.consume(&Token::Comma) {
                    break;
                }
            }
            self.expect_token(&Token::RParen)?;
        }
        let comment = if self.parse_word("COMMENT") {
            Some(self.parse_string("view comment")?)
        } else {
            None
        };
        let security_invoker = if self.parse_word("SECURITY") {
            match self.parse_one_of(&["NONE", "INVOKER"]) {
                Some("INVOKER") => true,
                Some(_) => false,
                None => return self.expected("NONE or INVOKER after SECURITY"),
            }
        } else {
            false
        };
        self.expect_word("AS")?;
        let query = self.parser.parse_query().map_err(|e| self.convert(e))?;
        Ok(Statement::CreateView(CreateView {
            alter,
            or_replace,
            if_not_exists,
            name,
            columns,
            comment,
            security_invoker,
            query,
        }))
    }
}

impl fmt::Display for ViewColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Id(&self.name))?;
        if let Some(comment) = &self.comment {
            write!(f, " COMMENT {}", QuotedString(comment))?;
        }
        Ok(())
    }
}

impl fmt::Display for CreateView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.alter { "ALTER " } else { "CREATE " })?;
        if self.or_replace {
            f.write_str("OR REPLACE ")?;
        }
        f.write_str("VIEW ")?;
        if self.if_not_exists {
            f.write_str("IF NOT EXISTS ")?;
        }
        write!(f, "{}", Name(&self.name))?;
        if !self.columns.is_empty() {
            f.write_str(" (")?;
            for (i, c) in self.columns.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str(")")?;
        }
        if let Some(comment) = &self.comment {
            write!(f, " COMMENT {}", QuotedString(comment))?;
        }
        if self.security_invoker {
            f.write_str(" SECURITY INVOKER")?;
        }
        write!(f, " AS {}", self.query)
    }
}

/// Gives every table name of `query` without a database the database `db` (names the query
/// defines with WITH excepted): the query then means the same in every session.
pub fn qualify(query: &mut Query, db: &str) {
    use sqlparser::ast::{TableFactor, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    struct Qualify<'a> {
        db: &'a str,
        ctes: Vec<String>,
    }
    impl VisitorMut for Qualify<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            self.ctes.extend(with_names(query));
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table {
                name, args: None, ..
            } = factor
                && let [single] = name.0.as_slice()
                && single
                    .as_ident()
                    .is_some_and(|i| !self.ctes.contains(&i.value.to_lowercase()))
            {
                name.0.insert(
                    0,
                    sqlparser::ast::ObjectNamePart::Identifier(Ident::with_quote('`', self.db)),
                );
            }
            ControlFlow::Continue(())
        }
    }
    let _ = query.visit(&mut Qualify {
        db,
        ctes: Vec::new(),
    });
}

/// The names `query`'s own WITH defines, lower-cased.
pub fn with_names(query: &Query) -> impl Iterator<Item = String> + '_ {
    query
        .with
        .iter()
        .flat_map(|w| w.cte_tables.iter())
        .map(|c| c.alias.name.value.to_lowercase())
}

/// The `(database, name)` of every table or view `query` reads, each once, after [`qualify`]
/// (a name of one part, a name WITH defines, is left out).
pub fn read_relations(query: &Query) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let _ = sqlparser::ast::visit_relations(query, |name: &ObjectName| {
        if let [db, table] = name.0.as_slice()
            && let (Some(db), Some(table)) = (db.as_ident(), table.as_ident())
        {
            let pair = (db.value.clone(), table.value.clone());
            if !out.contains(&pair) {
                out.push(pair);
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    out
}

/// Parses a stored view query (what `CreateView::query` printed).
pub fn parse_view_query(text: &str) -> Result<Box<Query>, String> {
    match sqlparser::parser::Parser::parse_sql(&super::DIALECT, text) {
        Ok(mut statements) if statements.len() == 1 => match statements.pop() {
            Some(sqlparser::ast::Statement::Query(q)) => Ok(q),
            _ => Err("its definition is not one query".into()),
        },
        Ok(_) => Err("its definition is not one query".into()),
        Err(e) => Err(format!("its query does not parse ({e})")),
    }
}

/// Why `query` cannot be a view's or a materialized view's: it reads a table function
/// (`FILES()` reads the server's files, which only admins may) or selects partitions
/// (`t PARTITION (p)`). `None` when it can.
pub fn view_query_problem(query: &Query) -> Option<&'static str> {
    use sqlparser::ast::{TableFactor, Visit, Visitor};
    use std::ops::ControlFlow;

    struct Check(Option<&'static str>);
    impl Visitor for Check {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            match factor {
                TableFactor::Table { args: Some(_), .. }
                | TableFactor::Function { .. }
                | TableFactor::TableFunction { .. } => {
                    self.0 = Some(
                        "a view cannot read a table function such as FILES(); load the files \
                         into a table and read that",
                    );
                    ControlFlow::Break(())
                }
                TableFactor::Table { partitions, .. } if !partitions.is_empty() => {
                    self.0 = Some(
                        "a view cannot select partitions (t PARTITION (p)); filter on the \
                         partition column instead",
                    );
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            }
        }
    }
    let mut check = Check(None);
    let _ = query.visit(&mut check);
    check.0
}
