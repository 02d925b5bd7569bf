//! Inspection and job control: `SHOW SNAPSHOT`, `SHOW BACKUP`, `SHOW RESTORE`,
//! `SHOW REPOSITORIES`, `SHOW PARTITIONS`, `SHOW TABLET`, `CANCEL BACKUP`, `CANCEL RESTORE`.
//!
//! `SHOW SNAPSHOT`'s WHERE clause is validated here, with StarRocks' texts, because its shape
//! is fixed (only `SNAPSHOT`/`TIMESTAMP` compared with strings); `SHOW BACKUP/RESTORE`'s WHERE is
//! any expression, kept and ignored as StarRocks does.

use std::fmt;

use sqlparser::ast::Expr;
use sqlparser::tokenizer::Token;

use super::{BackstopParser, Id, Ident, ParseError, QuotedString, Statement};

const WHERE_SHAPE: &str = "Where clause should looks like: SNAPSHOT = 'your_snapshot_name' \
                           [AND TIMESTAMP = '2018-04-18-19-19-10']";
const IN_LEFT: &str = "Left expr of should be snapshot";
const IN_CHILD: &str = "Child of in predicate should be string value";
const CANCEL_NO_DB: &str = "No selected database for cancel BACKUP/RESTORE";

/// ```text
/// SHOW SNAPSHOT ON repo
///     [WHERE SNAPSHOT = 'label' [AND TIMESTAMP = 'ts']     -- either order
///      | WHERE SNAPSHOT IN ('label', ...)]
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ShowSnapshot {
    pub repo: Ident,
    /// `None`: every snapshot in the repository.
    pub filter: Option<SnapshotFilter>,
}

/// The WHERE clause of `SHOW SNAPSHOT`.
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotFilter {
    /// `SNAPSHOT = 'label' [AND TIMESTAMP = 'ts']`
    Snapshot {
        label: String,
        timestamp: Option<String>,
    },
    /// `SNAPSHOT IN ('a', 'b', ...)`
    SnapshotIn(Vec<String>),
}

/// ```text
/// SHOW BACKUP  [{FROM | IN} db] [WHERE expr]
/// SHOW RESTORE [{FROM | IN} db] [WHERE expr]
/// ```
/// `WHERE` is kept but ignored (StarRocks parses and ignores it).
#[derive(Debug, Clone, PartialEq)]
pub struct ShowJobs {
    /// `None`: the latest job of every database.
    pub db: Option<Ident>,
    pub filter: Option<Expr>,
}

/// ```text
/// CANCEL {BACKUP | RESTORE} { {FROM | IN} db | FOR EXTERNAL CATALOG }
/// ```
/// The target is mandatory (StarRocks' grammar makes it optional; its parser refuses it missing).
#[derive(Debug, Clone, PartialEq)]
pub struct CancelJob {
    pub target: JobTarget,
}

/// Whose job `CANCEL` means.
#[derive(Debug, Clone, PartialEq)]
pub enum JobTarget {
    /// `FROM db`
    Database(Ident),
    /// `FOR EXTERNAL CATALOG` (not supported by backstop's executor)
    ExternalCatalog,
}

impl fmt::Display for SnapshotFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotFilter::Snapshot { label, timestamp } => {
                write!(f, "SNAPSHOT = {}", QuotedString(label))?;
                if let Some(ts) = timestamp {
                    write!(f, " AND TIMESTAMP = {}", QuotedString(ts))?;
                }
                Ok(())
            }
            SnapshotFilter::SnapshotIn(labels) => {
                f.write_str("SNAPSHOT IN (")?;
                for (i, label) in labels.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", QuotedString(label))?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for ShowSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHOW SNAPSHOT ON {}", Id(&self.repo))?;
        if let Some(filter) = &self.filter {
            write!(f, " WHERE {filter}")?;
        }
        Ok(())
    }
}

/// The part after `SHOW BACKUP` / `SHOW RESTORE`, with a leading space when not empty.
impl fmt::Display for ShowJobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(db) = &self.db {
            write!(f, " FROM {}", Id(db))?;
        }
        if let Some(filter) = &self.filter {
            write!(f, " WHERE {filter}")?;
        }
        Ok(())
    }
}

/// The part after `CANCEL BACKUP` / `CANCEL RESTORE`.
impl fmt::Display for CancelJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            JobTarget::Database(db) => write!(f, "FROM {}", Id(db)),
            JobTarget::ExternalCatalog => f.write_str("FOR EXTERNAL CATALOG"),
        }
    }
}

impl BackstopParser<'_> {
    pub(super) fn parse_show(&mut self) -> Result<Statement, ParseError> {
        self.expect_word("SHOW")?;
        if self.parse_word("REPOSITORIES") {
            return Ok(Statement::ShowRepositories);
        }
        if self.parse_word("SNAPSHOT") {
            return self.parse_show_snapshot();
        }
        if self.parse_word("BACKUP") {
            return Ok(Statement::ShowBackup(self.parse_show_jobs()?));
        }
        if self.parse_word("RESTORE") {
            return Ok(Statement::ShowRestore(self.parse_show_jobs()?));
        }
        if self.peek_words(0, &["TEMPORARY", "PARTITIONS"]) {
            return self.error_here(
                "SHOW TEMPORARY PARTITIONS is not supported: backstop has no temporary partitions \
                 (use SHOW PARTITIONS)",
            );
        }
        if self.parse_word("PARTITIONS") {
            self.expect_word("FROM")?;
            return Ok(Statement::ShowPartitions(
                self.parse_object_name("table name")?,
            ));
        }
        if self.parse_words(&["TABLE", "STATUS"]) {
            let db = if self.parse_one_of(&["FROM", "IN"]).is_some() {
                Some(self.parse_ident("database name")?)
            } else {
                None
            };
            let like = if self.parse_word("LIKE") {
                Some(self.parse_string("pattern")?)
            } else {
                None
            };
            return Ok(Statement::ShowTableStatus { db, like });
        }
        if self.parse_one_of(&["TABLET", "TABLETS"]).is_some() {
            self.expect_word("FROM")?;
            return Ok(Statement::ShowTablet(self.parse_object_name("table name")?));
        }
        self.expected("REPOSITORIES, SNAPSHOT, BACKUP, RESTORE, PARTITIONS or TABLET")
    }

    fn parse_show_snapshot(&mut self) -> Result<Statement, ParseError> {
        self.expect_word("ON")?;
        let repo = self.parse_ident("repository name")?;
        let filter = if self.parse_word("WHERE") {
            Some(self.parse_snapshot_filter()?)
        } else {
            None
        };
        Ok(Statement::ShowSnapshot(ShowSnapshot { repo, filter }))
    }

    /// `SNAPSHOT = 's' [AND TIMESTAMP = 't']` (either order) or `SNAPSHOT IN ('a', ...)`.
    fn parse_snapshot_filter(&mut self) -> Result<SnapshotFilter, ParseError> {
        let start = self.here();
        let mut label = None;
        let mut timestamp = None;
        let mut conditions = 0;
        loop {
            let Some(column) = self.parse_one_of(&["SNAPSHOT", "TIMESTAMP"]) else {
                return self.error_here(WHERE_SHAPE);
            };
            conditions += 1;
            if self.parse_word("IN") {
                if column != "SNAPSHOT" {
                    return Err(ParseError::at(IN_LEFT, start));
                }
                let labels =
                    self.parse_parenthesized_list(|p| match &p.parser.peek_token_ref().token {
                        Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) => {
                            p.parse_string("snapshot name")
                        }
                        _ => p.error_here(IN_CHILD),
                    })?;
                if conditions > 1 || self.peek_word("AND") {
                    return Err(ParseError::at(WHERE_SHAPE, start));
                }
                return Ok(SnapshotFilter::SnapshotIn(labels));
            }
            if !self.consume(&Token::Eq) {
                return self.error_here(WHERE_SHAPE);
            }
            let value = match &self.parser.peek_token_ref().token {
                Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) => {
                    self.parse_string("string")?
                }
                _ => return self.error_here(WHERE_SHAPE),
            };
            let slot = if column == "SNAPSHOT" {
                &mut label
            } else {
                &mut timestamp
            };
            if slot.replace(value).is_some() {
                return Err(ParseError::at(WHERE_SHAPE, start));
            }
            if !self.parse_word("AND") {
                break;
            }
        }
        match label {
            Some(label) => Ok(SnapshotFilter::Snapshot { label, timestamp }),
            None => Err(ParseError::at(WHERE_SHAPE, start)),
        }
    }

    /// `[{FROM | IN} db] [WHERE expr]`
    fn parse_show_jobs(&mut self) -> Result<ShowJobs, ParseError> {
        let db = if self.parse_one_of(&["FROM", "IN"]).is_some() {
            Some(self.parse_ident("database name")?)
        } else {
            None
        };
        let filter = if self.parse_word("WHERE") {
            match self.parser.parse_expr() {
                Ok(expr) => Some(expr),
                Err(e) => return Err(self.convert(e)),
            }
        } else {
            None
        };
        Ok(ShowJobs { db, filter })
    }

    pub(super) fn parse_cancel(&mut self) -> Result<Statement, ParseError> {
        self.expect_word("CANCEL")?;
        let backup = match self.parse_one_of(&["BACKUP", "RESTORE"]) {
            Some(kind) => kind == "BACKUP",
            None => return self.expected("BACKUP or RESTORE"),
        };
        let target = if self.parse_one_of(&["FROM", "IN"]).is_some() {
            JobTarget::Database(self.parse_ident("database name")?)
        } else if self.parse_words(&["FOR", "EXTERNAL", "CATALOG"]) {
            JobTarget::ExternalCatalog
        } else if self.peek_is(&Token::EOF) || self.peek_is(&Token::SemiColon) {
            return self.error_here(CANCEL_NO_DB);
        } else {
            return self.expected("FROM <database>, IN <database> or FOR EXTERNAL CATALOG");
        };
        let job = CancelJob { target };
        Ok(if backup {
            Statement::CancelBackup(job)
        } else {
            Statement::CancelRestore(job)
        })
    }
}
