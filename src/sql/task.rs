//! Tasks in StarRocks' grammar: `SUBMIT TASK`, `ALTER TASK`, `DROP TASK`, with backstop's cron
//! schedule beside StarRocks' `EVERY`.

use std::fmt;

use sqlparser::tokenizer::Token;

use super::{
    BackstopParser, DisplayProperties, Dropped, Id, Ident, ParseError, Properties, PropertyList,
    QuotedString, Statement,
};

/// ```text
/// SUBMIT TASK [name]
///     [SCHEDULE {[START ('t')] EVERY (INTERVAL n unit) | CRON 'expr' [TIME ZONE 'zone']}]
///     [PROPERTIES ("k" = "v", ...)]
///     AS statement
/// ```
/// `CRON` is backstop's; StarRocks has `EVERY` only.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitTask {
    /// `None`: StarRocks' unnamed form; the command names it.
    pub name: Option<Ident>,
    pub schedule: Option<TaskSchedule>,
    pub properties: Properties,
    pub statement: Box<Statement>,
}

/// When a task runs.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskSchedule {
    /// `[START ('t')] EVERY (INTERVAL n unit)`: the start as written, n and the unit as written.
    Every {
        start: Option<String>,
        every: (u64, String),
    },
    /// `CRON 'expr' [TIME ZONE 'zone']`
    Cron { expr: String, zone: Option<String> },
}

/// `ALTER TASK [IF EXISTS] name {RESUME | SUSPEND | SET ("k" = "v", ...)}`
#[derive(Debug, Clone, PartialEq)]
pub struct AlterTask {
    pub if_exists: bool,
    pub name: Ident,
    pub action: TaskAlteration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TaskAlteration {
    Resume,
    Suspend,
    Set(Properties),
}

/// `DROP TASK [IF EXISTS] name [FORCE]`
#[derive(Debug, Clone, PartialEq)]
pub struct DropTask {
    pub if_exists: bool,
    pub name: Ident,
    pub force: bool,
}

impl BackstopParser<'_> {
    /// At `SUBMIT`.
    pub(super) fn parse_submit_task(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["SUBMIT", "TASK"])?;
        let unnamed = self.peek_word("AS")
            || self.peek_word("SCHEDULE")
            || (self.peek_word("PROPERTIES") && self.peek_is_nth(1, &Token::LParen));
        let name = if unnamed {
            None
        } else {
            Some(self.parse_ident("task name")?)
        };
        let mut schedule = None;
        let mut properties = None;
        loop {
            if self.parse_word("SCHEDULE") {
                self.ensure_not_set(&schedule, "SCHEDULE")?;
                schedule = Some(self.parse_task_schedule()?);
            } else if self.peek_word("PROPERTIES") {
                self.ensure_not_set(&properties, "PROPERTIES")?;
                properties = Some(self.parse_optional_properties()?);
            } else {
                break;
            }
        }
        self.expect_word("AS")?;
        let statement = Box::new(self.parse_statement()?);
        Ok(Statement::SubmitTask(SubmitTask {
            name,
            schedule,
            properties: properties.unwrap_or_default(),
            statement,
        }))
    }

    /// After `SCHEDULE`.
    fn parse_task_schedule(&mut self) -> Result<TaskSchedule, ParseError> {
        if self.parse_word("CRON") {
            let expr = self.parse_string("cron expression, as '0 3 * * *'")?;
            let zone = if self.parse_words(&["TIME", "ZONE"]) {
                Some(self.parse_string("time zone name, as 'Europe/Berlin'")?)
            } else {
                None
            };
            return Ok(TaskSchedule::Cron { expr, zone });
        }
        let mut start = None;
        if self.parse_word("START") {
            self.expect_token(&Token::LParen)?;
            start = Some(self.parse_string("start time, as '2026-12-07 03:00:00'")?);
            self.expect_token(&Token::RParen)?;
        }
        if !self.parse_word("EVERY") {
            return self.expected("EVERY (INTERVAL n unit) or CRON 'expr' after SCHEDULE");
        }
        self.expect_token(&Token::LParen)?;
        self.expect_word("INTERVAL")?;
        let n = self.parse_u64("schedule interval")?;
        let Some(unit) = self.peek_word_upper(0) else {
            return self.expected("a time unit (SECOND, MINUTE, HOUR, DAY, WEEK)");
        };
        self.parser.advance_token();
        self.expect_token(&Token::RParen)?;
        Ok(TaskSchedule::Every {
            start,
            every: (n, unit),
        })
    }

    /// At `ALTER TASK`.
    pub(super) fn parse_alter_task(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["ALTER", "TASK"])?;
        let if_exists = self.parse_words(&["IF", "EXISTS"]);
        let name = self.parse_ident("task name")?;
        let action = if self.parse_word("RESUME") {
            TaskAlteration::Resume
        } else if self.parse_word("SUSPEND") {
            TaskAlteration::Suspend
        } else if self.parse_word("SET") {
            TaskAlteration::Set(self.parse_property_list()?)
        } else {
            return self.expected("RESUME, SUSPEND or SET (...)");
        };
        Ok(Statement::AlterTask(AlterTask {
            if_exists,
            name,
            action,
        }))
    }

    /// At `DROP TASK`.
    pub(super) fn parse_drop_task(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["DROP", "TASK"])?;
        let if_exists = self.parse_words(&["IF", "EXISTS"]);
        let name = self.parse_ident("task name")?;
        let force = self.parse_word("FORCE");
        Ok(Statement::DropTask(DropTask {
            if_exists,
            name,
            force,
        }))
    }

    fn peek_is_nth(&self, n: usize, token: &Token) -> bool {
        &self.parser.peek_nth_token_ref(n).token == token
    }
}

impl fmt::Display for TaskSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskSchedule::Every {
                start,
                every: (n, unit),
            } => {
                if let Some(start) = start {
                    write!(f, "START ({}) ", QuotedString(start))?;
                }
                write!(f, "EVERY (INTERVAL {n} {unit})")
            }
            TaskSchedule::Cron { expr, zone } => {
                write!(f, "CRON {}", QuotedString(expr))?;
                if let Some(zone) = zone {
                    write!(f, " TIME ZONE {}", QuotedString(zone))?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for SubmitTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SUBMIT TASK")?;
        if let Some(name) = &self.name {
            write!(f, " {}", Id(name))?;
        }
        if let Some(schedule) = &self.schedule {
            write!(f, " SCHEDULE {schedule}")?;
        }
        write!(
            f,
            "{} AS {}",
            DisplayProperties(&self.properties),
            self.statement
        )
    }
}

impl fmt::Display for AlterTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ALTER TASK ")?;
        if self.if_exists {
            f.write_str("IF EXISTS ")?;
        }
        write!(f, "{} ", Id(&self.name))?;
        match &self.action {
            TaskAlteration::Resume => f.write_str("RESUME"),
            TaskAlteration::Suspend => f.write_str("SUSPEND"),
            TaskAlteration::Set(p) => write!(f, "SET {}", PropertyList(p)),
        }
    }
}

impl fmt::Display for DropTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = Dropped {
            if_exists: self.if_exists,
            name: &self.name,
            force: self.force,
        };
        write!(f, "DROP TASK {target}")
    }
}
