//! Repository and snapshot management statements: `CREATE REPOSITORY`, `DROP REPOSITORY`,
//! `DROP SNAPSHOT` and `VERIFY SNAPSHOT` (the last is a backstop extension).
//!
//! Only the grammar lives here: repository name rules, location schemes and S3 properties
//! are checked by the executor, which knows the error texts StarRocks uses for them.

use std::fmt;

use sqlparser::tokenizer::Token;

use super::{
    BackstopParser, DisplayProperties, Id, Ident, ParseError, Properties, QuotedString, Statement,
};

/// ```text
/// CREATE [READ ONLY] REPOSITORY name
///     [WITH BROKER [broker_name]]          -- mandatory in StarRocks, optional in backstop
///     ON LOCATION "location"
///     [PROPERTIES ("key" = "value", ...)]
/// ```
#[derive(Clone, PartialEq)]
pub struct CreateRepository {
    pub read_only: bool,
    pub name: Ident,
    /// `None`: no `WITH BROKER` clause. Backstop always talks to storage directly, so
    /// `None` and `Some(Broker::Direct)` mean the same; a named broker is not supported.
    pub broker: Option<Broker>,
    /// The location exactly as written (not normalized: `s3a://` stays `s3a://`).
    pub location: String,
    pub properties: Properties,
}

/// Debug output masks credential property values ([`super::is_sensitive_key`]): a statement
/// may end up in a panic message or a log line.
impl fmt::Debug for CreateRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let properties: Vec<(&str, &str)> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let v = if super::is_sensitive_key(k) {
                    "***"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("CreateRepository")
            .field("read_only", &self.read_only)
            .field("name", &self.name)
            .field("broker", &self.broker)
            .field("location", &self.location)
            .field("properties", &properties)
            .finish()
    }
}

/// What follows `WITH BROKER`.
#[derive(Debug, Clone, PartialEq)]
pub enum Broker {
    /// `WITH BROKER` alone: no broker process, storage is reached directly.
    Direct,
    /// `WITH BROKER name` (identifier or string).
    Named(String),
}

/// ```text
/// DROP REPOSITORY name
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DropRepository {
    pub name: Ident,
}

/// ```text
/// DROP SNAPSHOT label ON repo
///     [WHERE TIMESTAMP = 'ts' | WHERE TIMESTAMP <= 'ts']
///     [FORCE]
///     [PROPERTIES ("key" = "value", ...)]
/// ```
/// Without `WHERE`, every timestamp of the label is dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct DropSnapshot {
    pub label: Ident,
    pub repo: Ident,
    pub timestamp: Option<TimestampFilter>,
    pub force: bool,
    pub properties: Properties,
}

/// Which backups (timestamps, `yyyy-MM-dd-HH-mm-ss-SSS`) of a label a statement means.
#[derive(Debug, Clone, PartialEq)]
pub enum TimestampFilter {
    /// `TIMESTAMP = 'ts'`: that one.
    Eq(String),
    /// `TIMESTAMP <= 'ts'`: that one and every older one.
    AtOrBefore(String),
}

/// ```text
/// VERIFY SNAPSHOT label ON repo
///     [WHERE TIMESTAMP = 'ts']
///     [PROPERTIES ("key" = "value", ...)]
/// ```
/// Backstop extension: re-reads every object of the snapshot and checks size and sha256.
/// Without `WHERE`, every timestamp of the label is verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifySnapshot {
    pub label: Ident,
    pub repo: Ident,
    pub timestamp: Option<String>,
    pub properties: Properties,
}

impl fmt::Display for CreateRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CREATE ")?;
        if self.read_only {
            f.write_str("READ ONLY ")?;
        }
        write!(f, "REPOSITORY {}", Id(&self.name))?;
        match &self.broker {
            None => {}
            Some(Broker::Direct) => f.write_str(" WITH BROKER")?,
            Some(Broker::Named(name)) => write!(f, " WITH BROKER {}", QuotedString(name))?,
        }
        write!(
            f,
            " ON LOCATION {}{}",
            QuotedString(&self.location),
            DisplayProperties(&self.properties)
        )
    }
}

impl fmt::Display for DropRepository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DROP REPOSITORY {}", Id(&self.name))
    }
}

impl TimestampFilter {
    /// Whether the backup with `timestamp` is one the filter means (`None`: every one).
    pub fn selects(filter: Option<&TimestampFilter>, timestamp: &str) -> bool {
        match filter {
            None => true,
            Some(TimestampFilter::Eq(ts)) => timestamp == ts,
            Some(TimestampFilter::AtOrBefore(ts)) => timestamp <= ts.as_str(),
        }
    }

    /// The timestamp the filter names.
    pub fn timestamp(&self) -> &str {
        match self {
            TimestampFilter::Eq(ts) | TimestampFilter::AtOrBefore(ts) => ts,
        }
    }
}

impl fmt::Display for TimestampFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimestampFilter::Eq(ts) => write!(f, "TIMESTAMP = {}", QuotedString(ts)),
            TimestampFilter::AtOrBefore(ts) => write!(f, "TIMESTAMP <= {}", QuotedString(ts)),
        }
    }
}

impl fmt::Display for DropSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DROP SNAPSHOT {} ON {}", Id(&self.label), Id(&self.repo))?;
        if let Some(ts) = &self.timestamp {
            write!(f, " WHERE {ts}")?;
        }
        if self.force {
            f.write_str(" FORCE")?;
        }
        write!(f, "{}", DisplayProperties(&self.properties))
    }
}

impl fmt::Display for VerifySnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VERIFY SNAPSHOT {} ON {}",
            Id(&self.label),
            Id(&self.repo)
        )?;
        if let Some(ts) = &self.timestamp {
            write!(f, " WHERE TIMESTAMP = {}", QuotedString(ts))?;
        }
        write!(f, "{}", DisplayProperties(&self.properties))
    }
}

impl BackstopParser<'_> {
    pub(super) fn parse_create_repository(&mut self) -> Result<Statement, ParseError> {
        self.expect_word("CREATE")?;
        let read_only = self.parse_words(&["READ", "ONLY"]);
        self.expect_word("REPOSITORY")?;
        let name = self.parse_ident("repository name")?;
        let broker = if self.parse_words(&["WITH", "BROKER"]) {
            if self.peek_word("ON") {
                Some(Broker::Direct)
            } else {
                match &self.parser.peek_token_ref().token {
                    Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) => {
                        Some(Broker::Named(self.parse_string("broker name")?))
                    }
                    _ => Some(Broker::Named(
                        self.parse_ident("broker name or ON LOCATION")?.value,
                    )),
                }
            }
        } else {
            None
        };
        if !self.parse_word("ON") {
            return self.expected(if broker.is_some() {
                "ON LOCATION"
            } else {
                "WITH BROKER or ON LOCATION"
            });
        }
        self.expect_word("LOCATION")?;
        let location = self.parse_string("repository location (a string literal)")?;
        let properties = self.parse_optional_properties()?;
        Ok(Statement::CreateRepository(CreateRepository {
            read_only,
            name,
            broker,
            location,
            properties,
        }))
    }

    pub(super) fn parse_drop_repository(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["DROP", "REPOSITORY"])?;
        let name = self.parse_ident("repository name")?;
        Ok(Statement::DropRepository(DropRepository { name }))
    }

    pub(super) fn parse_drop_snapshot(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["DROP", "SNAPSHOT"])?;
        let label = self.parse_ident("snapshot name")?;
        self.expect_word("ON")?;
        let repo = self.parse_ident("repository name")?;
        let timestamp = if self.parse_word("WHERE") {
            Some(self.parse_timestamp_filter(true)?)
        } else {
            None
        };
        let force = self.parse_word("FORCE");
        let properties = self.parse_optional_properties()?;
        Ok(Statement::DropSnapshot(DropSnapshot {
            label,
            repo,
            timestamp,
            force,
            properties,
        }))
    }

    pub(super) fn parse_verify_snapshot(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["VERIFY", "SNAPSHOT"])?;
        let label = self.parse_ident("snapshot name")?;
        self.expect_word("ON")?;
        let repo = self.parse_ident("repository name")?;
        let timestamp = if self.parse_word("WHERE") {
            match self.parse_timestamp_filter(false)? {
                TimestampFilter::Eq(ts) | TimestampFilter::AtOrBefore(ts) => Some(ts),
            }
        } else {
            None
        };
        let properties = self.parse_optional_properties()?;
        Ok(Statement::VerifySnapshot(VerifySnapshot {
            label,
            repo,
            timestamp,
            properties,
        }))
    }

    /// `SHOW VERIFY [ON | FROM repo]`
    pub(super) fn parse_show_verify(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["SHOW", "VERIFY"])?;
        let repo = if self.parse_one_of(&["ON", "FROM"]).is_some() {
            Some(self.parse_ident("repository name")?)
        } else {
            None
        };
        Ok(Statement::ShowVerify(repo))
    }

    /// `CANCEL VERIFY ON repo`
    pub(super) fn parse_cancel_verify(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["CANCEL", "VERIFY"])?;
        if self.parse_one_of(&["ON", "FROM"]).is_none() {
            return self.expected("ON <repository name>");
        }
        Ok(Statement::CancelVerify(
            self.parse_ident("repository name")?,
        ))
    }

    /// `TIMESTAMP = 'ts'`, or also `TIMESTAMP <= 'ts'` when `allow_range`.
    fn parse_timestamp_filter(&mut self, allow_range: bool) -> Result<TimestampFilter, ParseError> {
        const SHAPE_RANGE: &str = "Where clause should look like: TIMESTAMP = '2018-04-18-19-19-10' \
                                   or TIMESTAMP <= '2018-04-18-19-19-10'";
        const SHAPE_EQ: &str = "Where clause should look like: TIMESTAMP = '2018-04-18-19-19-10'";
        let shape = if allow_range { SHAPE_RANGE } else { SHAPE_EQ };
        if !self.parse_word("TIMESTAMP") {
            return self.error_here(shape);
        }
        let at_or_before = if self.consume(&Token::Eq) {
            false
        } else if allow_range && self.consume(&Token::LtEq) {
            true
        } else {
            return self.error_here(shape);
        };
        let ts = match &self.parser.peek_token_ref().token {
            Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) => {
                self.parse_string("timestamp")?
            }
            _ => return self.error_here(shape),
        };
        Ok(if at_or_before {
            TimestampFilter::AtOrBefore(ts)
        } else {
            TimestampFilter::Eq(ts)
        })
    }
}
