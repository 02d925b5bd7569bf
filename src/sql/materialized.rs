//! Asynchronous materialized views in StarRocks' grammar: CREATE, REFRESH, ALTER, SHOW and
//! SHOW CREATE (`DROP MATERIALIZED VIEW` is sqlparser's).

use std::fmt;

use sqlparser::ast::{Expr, Query};
use sqlparser::tokenizer::Token;

use super::{
    BackstopParser, DisplayProperties, Distribution, Id, Ident, Ids, Name, ObjectName, ParseError,
    Properties, QuotedString, Statement,
};

/// ```text
/// CREATE MATERIALIZED VIEW [IF NOT EXISTS] [db.]mv [COMMENT 'c']
///     [DISTRIBUTED BY HASH (cols) [BUCKETS n] | DISTRIBUTED BY RANDOM [BUCKETS n]]
///     [REFRESH [IMMEDIATE | DEFERRED] {ASYNC [START ('t')] [EVERY (INTERVAL n unit)] | MANUAL}]
///     [ORDER BY (cols)] [PROPERTIES (...)] AS query
/// ```
/// Without REFRESH, DISTRIBUTED BY and ORDER BY it is StarRocks' synchronous form.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateMaterializedView {
    pub if_not_exists: bool,
    pub name: ObjectName,
    pub comment: Option<String>,
    pub distribution: Option<Distribution>,
    pub refresh: Option<MvRefresh>,
    pub order_by: Vec<Ident>,
    pub properties: Properties,
    pub query: Box<Query>,
}

/// `REFRESH [IMMEDIATE | DEFERRED] {ASYNC [START ('t')] [EVERY (INTERVAL n unit)] | MANUAL}`
#[derive(Debug, Clone, PartialEq)]
pub struct MvRefresh {
    /// `DEFERRED`: no refresh at creation (`IMMEDIATE`, the default: one at once).
    pub deferred: bool,
    pub scheme: MvScheme,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MvScheme {
    Async {
        /// `START ('2026-12-06 10:00:00')` as written.
        start: Option<String>,
        /// `EVERY (INTERVAL n unit)`: n and the unit as written.
        every: Option<(u64, String)>,
    },
    Manual,
}

/// `REFRESH MATERIALIZED VIEW mv [FORCE] [WITH {SYNC | ASYNC} MODE]`
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshMaterializedView {
    pub name: ObjectName,
    pub force: bool,
    /// `WITH SYNC MODE`: the statement returns when the refresh ended.
    pub sync: bool,
}

/// `ALTER MATERIALIZED VIEW mv {ACTIVE | INACTIVE | REFRESH ... | RENAME new}`
#[derive(Debug, Clone, PartialEq)]
pub struct AlterMaterializedView {
    pub name: ObjectName,
    pub action: MvAlteration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MvAlteration {
    Active,
    Inactive,
    Refresh(MvRefresh),
    Rename(Ident),
}

/// `SHOW MATERIALIZED VIEWS [{FROM | IN} db] [LIKE 'p' | WHERE expr]`
#[derive(Debug, Clone, PartialEq)]
pub struct ShowMaterializedViews {
    pub db: Option<Ident>,
    pub like: Option<String>,
    pub filter: Option<Expr>,
}

impl BackstopParser<'_> {
    /// At `CREATE MATERIALIZED VIEW`.
    pub(super) fn parse_create_materialized_view(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["CREATE", "MATERIALIZED", "VIEW"])?;
        let if_not_exists = self.parse_words(&["IF", "NOT", "EXISTS"]);
        let name = self.parse_object_name("materialized view name")?;
        let mut comment = None;
        let mut distribution = None;
        let mut refresh = None;
        let mut order_by = Vec::new();
        let mut properties = Properties::new();
        loop {
            if self.parse_word("COMMENT") {
                comment = Some(self.parse_string("comment")?);
            } else if self.peek_words(0, &["DISTRIBUTED", "BY"]) {
                distribution = Some(self.parse_distribution()?);
            } else if self.peek_word("REFRESH") {
                refresh = Some(self.parse_mv_refresh()?);
            } else if self.peek_words(0, &["PARTITION", "BY"]) {
                return Err(ParseError::unsupported(
                    "Partitioned materialized views (PARTITION BY) are not supported yet; omit \
                     PARTITION BY: a refresh replaces the whole view",
                    self.here(),
                ));
            } else if self.parse_words(&["ORDER", "BY"]) {
                order_by = self.parse_ident_list("sort column name")?;
            } else if self.peek_word("PROPERTIES") {
                properties = self.parse_optional_properties()?;
            } else {
                break;
            }
        }
        self.expect_word("AS")?;
        let query = self.parser.parse_query().map_err(|e| self.convert(e))?;
        let stmt = CreateMaterializedView {
            if_not_exists,
            name,
            comment,
            distribution,
            refresh,
            order_by,
            properties,
            query,
        };
        Ok(Statement::CreateMaterializedView(stmt))
    }

    /// `REFRESH [IMMEDIATE | DEFERRED] {ASYNC [START ('t')] [EVERY (INTERVAL n unit)] | MANUAL}`
    fn parse_mv_refresh(&mut self) -> Result<MvRefresh, ParseError> {
        self.expect_word("REFRESH")?;
        let deferred = matches!(
            self.parse_one_of(&["IMMEDIATE", "DEFERRED"]),
            Some("DEFERRED")
        );
        let scheme = if self.parse_word("MANUAL") {
            MvScheme::Manual
        } else if self.parse_word("ASYNC") {
            let mut start = None;
            let mut every = None;
            if self.parse_word("START") {
                self.expect_token(&Token::LParen)?;
                start = Some(self.parse_string("start time")?);
                self.expect_token(&Token::RParen)?;
            }
            if self.parse_word("EVERY") {
                self.expect_token(&Token::LParen)?;
                self.expect_word("INTERVAL")?;
                let n = self.parse_u64("refresh interval")?;
                let Some(unit) = self.peek_word_upper(0) else {
                    return self.expected("a time unit (SECOND, MINUTE, HOUR, DAY)");
                };
                self.parser.advance_token();
                self.expect_token(&Token::RParen)?;
                every = Some((n, unit));
            }
            MvScheme::Async { start, every }
        } else if self.peek_word("INCREMENTAL") {
            return Err(ParseError::unsupported(
                "REFRESH INCREMENTAL is not supported; use REFRESH ASYNC or REFRESH MANUAL",
                self.here(),
            ));
        } else {
            return self.expected("ASYNC or MANUAL after REFRESH");
        };
        Ok(MvRefresh { deferred, scheme })
    }

    /// At `REFRESH MATERIALIZED VIEW`.
    pub(super) fn parse_refresh_materialized_view(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["REFRESH", "MATERIALIZED", "VIEW"])?;
        let name = self.parse_object_name("materialized view name")?;
        if self.peek_word("PARTITION") {
            return Err(ParseError::unsupported(
                "REFRESH MATERIALIZED VIEW ... PARTITION is not supported: a refresh replaces the \
                 whole view",
                self.here(),
            ));
        }
        let force = self.parse_word("FORCE");
        let sync = if self.parse_word("WITH") {
            let sync = match self.parse_one_of(&["SYNC", "ASYNC"]) {
                Some(mode) => mode == "SYNC",
                None => return self.expected("SYNC or ASYNC after WITH"),
            };
            self.expect_word("MODE")?;
            sync
        } else {
            false
        };
        Ok(Statement::RefreshMaterializedView(
            RefreshMaterializedView { name, force, sync },
        ))
    }

    /// At `ALTER MATERIALIZED VIEW`.
    pub(super) fn parse_alter_materialized_view(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["ALTER", "MATERIALIZED", "VIEW"])?;
        let name = self.parse_object_name("materialized view name")?;
        let action = if self.parse_word("ACTIVE") {
            MvAlteration::Active
        } else if self.parse_word("INACTIVE") {
            MvAlteration::Inactive
        } else if self.peek_word("REFRESH") {
            MvAlteration::Refresh(self.parse_mv_refresh()?)
        } else if self.parse_word("RENAME") {
            self.parse_word("TO");
            MvAlteration::Rename(self.parse_ident("new name")?)
        } else {
            return self.expected("ACTIVE, INACTIVE, REFRESH or RENAME");
        };
        Ok(Statement::AlterMaterializedView(AlterMaterializedView {
            name,
            action,
        }))
    }

    /// At `SHOW MATERIALIZED VIEWS` (or `VIEW`).
    pub(super) fn parse_show_materialized_views(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["SHOW", "MATERIALIZED"])?;
        if self.parse_one_of(&["VIEWS", "VIEW"]).is_none() {
            return self.expected("VIEWS");
        }
        let db = if self.parse_one_of(&["FROM", "IN"]).is_some() {
            Some(self.parse_ident("database name")?)
        } else {
            None
        };
        let mut show = ShowMaterializedViews {
            db,
            like: None,
            filter: None,
        };
        if self.parse_word("LIKE") {
            show.like = Some(self.parse_string("pattern")?);
        } else if self.parse_word("WHERE") {
            show.filter = Some(self.parser.parse_expr().map_err(|e| self.convert(e))?);
        }
        Ok(Statement::ShowMaterializedViews(show))
    }

    /// At `SHOW CREATE MATERIALIZED VIEW`.
    pub(super) fn parse_show_create_materialized_view(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["SHOW", "CREATE", "MATERIALIZED", "VIEW"])?;
        let name = self.parse_object_name("materialized view name")?;
        Ok(Statement::ShowCreateMaterializedView(name))
    }
}

impl fmt::Display for MvRefresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REFRESH ")?;
        if self.deferred {
            f.write_str("DEFERRED ")?;
        }
        match &self.scheme {
            MvScheme::Manual => f.write_str("MANUAL"),
            MvScheme::Async { start, every } => {
                f.write_str("ASYNC")?;
                if let Some(start) = start {
                    write!(f, " START ({})", QuotedString(start))?;
                }
                if let Some((n, unit)) = every {
                    write!(f, " EVERY (INTERVAL {n} {unit})")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for CreateMaterializedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CREATE MATERIALIZED VIEW ")?;
        if self.if_not_exists {
            f.write_str("IF NOT EXISTS ")?;
        }
        write!(f, "{}", Name(&self.name))?;
        if let Some(comment) = &self.comment {
            write!(f, " COMMENT {}", QuotedString(comment))?;
        }
        if let Some(d) = &self.distribution {
            write!(f, " {d}")?;
        }
        if let Some(r) = &self.refresh {
            write!(f, " {r}")?;
        }
        if !self.order_by.is_empty() {
            write!(f, " ORDER BY ({})", Ids(&self.order_by))?;
        }
        write!(f, "{}", DisplayProperties(&self.properties))?;
        write!(f, " AS {}", self.query)
    }
}

impl fmt::Display for RefreshMaterializedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "REFRESH MATERIALIZED VIEW {}", Name(&self.name))?;
        if self.force {
            f.write_str(" FORCE")?;
        }
        if self.sync {
            f.write_str(" WITH SYNC MODE")?;
        }
        Ok(())
    }
}

impl fmt::Display for AlterMaterializedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ALTER MATERIALIZED VIEW {} ", Name(&self.name))?;
        match &self.action {
            MvAlteration::Active => f.write_str("ACTIVE"),
            MvAlteration::Inactive => f.write_str("INACTIVE"),
            MvAlteration::Refresh(r) => write!(f, "{r}"),
            MvAlteration::Rename(new) => write!(f, "RENAME {}", Id(new)),
        }
    }
}

impl fmt::Display for ShowMaterializedViews {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW MATERIALIZED VIEWS")?;
        if let Some(db) = &self.db {
            write!(f, " FROM {}", Id(db))?;
        }
        if let Some(like) = &self.like {
            write!(f, " LIKE {}", QuotedString(like))?;
        }
        if let Some(e) = &self.filter {
            write!(f, " WHERE {e}")?;
        }
        Ok(())
    }
}
