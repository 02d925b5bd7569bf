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
