//! `START ("a") END ("b") EVERY (INTERVAL n unit | n)`: StarRocks' batch of range partitions, in
//! CREATE TABLE's partition list and in `ALTER TABLE t ADD PARTITIONS ...`. A batch expands into
//! ordinary partitions named as StarRocks names them (`p20260101` for days, `p2026_01` for ISO
//! weeks, `p202601` for months, `p2026` for years, `p2026010100` for hours, `p<lower>` for
//! numbers); the last one ends at END when the step does not divide the range.

use std::fmt;

use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use sqlparser::tokenizer::Token;

use super::ddl::{PartitionValue, PartitionValues};
use super::{
    BackstopParser, Ident, Literal, Name, ObjectName, ParseError, PartitionDef, QuotedString,
    Statement,
};

/// A partition granularity, as batches (`EVERY (INTERVAL n unit)`) and dynamic partitioning
/// (`dynamic_partition.time_unit`) name it, with StarRocks' partition-name suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl TimeUnit {
    /// `HOUR`, `DAY`, `WEEK`, `MONTH` or `YEAR`, any case.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_uppercase().as_str() {
            "HOUR" => TimeUnit::Hour,
            "DAY" => TimeUnit::Day,
            "WEEK" => TimeUnit::Week,
            "MONTH" => TimeUnit::Month,
            "YEAR" => TimeUnit::Year,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Hour => "HOUR",
            TimeUnit::Day => "DAY",
            TimeUnit::Week => "WEEK",
            TimeUnit::Month => "MONTH",
            TimeUnit::Year => "YEAR",
        }
    }

    /// The start of the unit `t` is in (weeks start on Monday).
    pub fn floor(self, t: NaiveDateTime) -> NaiveDateTime {
        let day = t.date();
        let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or(t);
        match self {
            TimeUnit::Hour => t
                .with_minute(0)
                .and_then(|t| t.with_second(0))
                .and_then(|t| t.with_nanosecond(0))
                .unwrap_or(t),
            TimeUnit::Day => midnight(day),
            TimeUnit::Week => midnight(
                day.checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday())))
                    .unwrap_or(day),
            ),
            TimeUnit::Month => midnight(day.with_day(1).unwrap_or(day)),
            TimeUnit::Year => midnight(day.with_ordinal(1).unwrap_or(day)),
        }
    }

    /// `t` moved by `n` units (back when negative); `None` past chrono's range.
    pub fn shift(self, t: NaiveDateTime, n: i64) -> Option<NaiveDateTime> {
        let months = |m: i64| {
            let m = u32::try_from(m.unsigned_abs()).ok()?;
            if n >= 0 {
                t.checked_add_months(Months::new(m))
            } else {
                t.checked_sub_months(Months::new(m))
            }
        };
        match self {
            TimeUnit::Hour => t.checked_add_signed(TimeDelta::try_hours(n)?),
            TimeUnit::Day => t.checked_add_signed(TimeDelta::try_days(n)?),
            TimeUnit::Week => t.checked_add_signed(TimeDelta::try_weeks(n)?),
            TimeUnit::Month => months(n),
            TimeUnit::Year => months(n.checked_mul(12)?),
        }
    }

    /// StarRocks' name of the partition starting at `t`, without its prefix: `2026010100`,
    /// `20260101`, `2026_01` (ISO week), `202601`, `2026`.
    pub fn suffix(self, t: NaiveDateTime) -> String {
        match self {
            TimeUnit::Hour => t.format("%Y%m%d%H").to_string(),
            TimeUnit::Day => t.format("%Y%m%d").to_string(),
            TimeUnit::Week => {
                let w = t.iso_week();
                format!("{}_{:02}", w.year(), w.week())
            }
            TimeUnit::Month => t.format("%Y%m").to_string(),
            TimeUnit::Year => t.format("%Y").to_string(),
        }
    }
}

/// A bound as a DATE (`2026-01-01`) or DATETIME (`2026-01-01 00:00:00`) partition value.
pub fn bound_text(t: NaiveDateTime, with_time: bool) -> String {
    if with_time {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%d").to_string()
    }
}

/// Most partitions one batch may create.
pub const MAX_BATCH_PARTITIONS: usize = 4096;

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionBatch {
    pub start: String,
    pub end: String,
    pub every: BatchStep,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BatchStep {
    /// `EVERY (INTERVAL n unit)`, unit upper-cased: DAY, WEEK, MONTH, YEAR, HOUR.
    Interval(u64, String),
    /// `EVERY (n)`: integer ranges.
    Number(u64),
}

/// `ALTER TABLE t ADD PARTITIONS START (...) END (...) EVERY (...) [DISTRIBUTED BY ... BUCKETS n]`
#[derive(Debug, Clone, PartialEq)]
pub struct AddPartitions {
    pub table: ObjectName,
    pub batch: PartitionBatch,
    pub distribution: Option<super::Distribution>,
}

impl BackstopParser<'_> {
    /// At `START`.
    pub(super) fn parse_partition_batch(&mut self) -> Result<PartitionBatch, ParseError> {
        let bound = |p: &mut Self, word: &str| -> Result<String, ParseError> {
            p.expect_word(word)?;
            p.expect_token(&Token::LParen)?;
            let value = match p.parse_literal("a bound (a string or number)")? {
                Literal::String(s) | Literal::Number(s) => s,
                Literal::Null => return p.expected("a bound, not NULL"),
            };
            p.expect_token(&Token::RParen)?;
            Ok(value)
        };
        let start = bound(self, "START")?;
        let end = bound(self, "END")?;
        self.expect_word("EVERY")?;
        self.expect_token(&Token::LParen)?;
        let every = if self.parse_word("INTERVAL") {
            let n = self.parse_u64("interval")?;
            let Some(unit) = self.peek_word_upper(0) else {
                return self.expected("a unit (HOUR, DAY, WEEK, MONTH or YEAR)");
            };
            self.parser.advance_token();
            BatchStep::Interval(n, unit)
        } else {
            BatchStep::Number(self.parse_u64("a step")?)
        };
        self.expect_token(&Token::RParen)?;
        Ok(PartitionBatch { start, end, every })
    }
}

fn parse_time(text: &str) -> Option<(NaiveDateTime, bool)> {
    let text = text.trim();
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| (t, false));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| (t, true))
}

impl PartitionBatch {
    /// The partitions of the batch, in order. `Err` says why it makes none.
    pub fn expand(&self) -> Result<Vec<PartitionDef>, String> {
        let mut out = Vec::new();
        let mut push = |name: String, lower: String, upper: String, number: bool| {
            let literal = |v: String| {
                PartitionValue::Literal(if number {
                    Literal::Number(v)
                } else {
                    Literal::String(v)
                })
            };
            out.push(PartitionDef {
                name: Ident::new(name),
                values: PartitionValues::Range {
                    lower: literal(lower),
                    upper: literal(upper),
                },
            });
            if out.len() > MAX_BATCH_PARTITIONS {
                Err(format!(
                    "START ... END ... EVERY creates more than {MAX_BATCH_PARTITIONS} partitions; \
                     use a larger step or a shorter range"
                ))
            } else {
                Ok(())
            }
        };
        match &self.every {
            BatchStep::Number(step) => {
                let parse = |v: &str| {
                    v.trim().parse::<i64>().map_err(|_| {
                        format!("'{v}' is not a whole number (EVERY (n) steps numbers)")
                    })
                };
                let (start, end) = (parse(&self.start)?, parse(&self.end)?);
                let step = i64::try_from(*step)
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or("EVERY must be positive")?;
                let mut lower = start;
                while lower < end {
                    let upper = lower.saturating_add(step).min(end);
                    push(
                        format!("p{lower}"),
                        lower.to_string(),
                        upper.to_string(),
                        true,
                    )?;
                    lower = upper;
                }
            }
            BatchStep::Interval(n, unit) => {
                let (start, with_time) = parse_time(&self.start)
                    .ok_or_else(|| format!("START '{}' is not a date or datetime", self.start))?;
                let (end, _) = parse_time(&self.end)
                    .ok_or_else(|| format!("END '{}' is not a date or datetime", self.end))?;
                let n = u32::try_from(*n)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("EVERY must be positive")?;
                let unit = TimeUnit::parse(unit).ok_or_else(|| {
                    format!("Unsupported EVERY unit {unit}: use HOUR, DAY, WEEK, MONTH or YEAR")
                })?;
                let with_time = with_time || unit == TimeUnit::Hour;
                let mut lower = start;
                while lower < end {
                    let upper = unit
                        .shift(lower, i64::from(n))
                        .ok_or("the range runs past year 9999")?
                        .min(end);
                    let name = format!("p{}", unit.suffix(lower));
                    let show = |t| bound_text(t, with_time);
                    push(name, show(lower), show(upper), false)?;
                    lower = upper;
                }
            }
        }
        if out.is_empty() {
            return Err(format!(
                "START ('{}') END ('{}') creates no partition: START must be before END",
                self.start, self.end
            ));
        }
        Ok(out)
    }
}

impl fmt::Display for PartitionBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "START ({}) END ({}) EVERY (",
            QuotedString(&self.start),
            QuotedString(&self.end)
        )?;
        match &self.every {
            BatchStep::Interval(n, unit) => write!(f, "INTERVAL {n} {unit})"),
            BatchStep::Number(n) => write!(f, "{n})"),
        }
    }
}

impl fmt::Display for AddPartitions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ALTER TABLE {} ADD PARTITIONS {}",
            Name(&self.table),
            self.batch
        )?;
        if let Some(d) = &self.distribution {
            write!(f, " {d}")?;
        }
        Ok(())
    }
}

/// `ALTER TABLE t ADD PARTITIONS ...`, after `ADD PARTITIONS`.
pub(super) fn add_partitions(
    p: &mut BackstopParser<'_>,
    table: ObjectName,
) -> Result<Statement, ParseError> {
    let at = p.here();
    let batch = p.parse_partition_batch()?;
    batch.expand().map_err(|why| ParseError::at(why, at))?;
    let distribution = if p.peek_words(0, &["DISTRIBUTED", "BY"]) {
        Some(p.parse_distribution()?)
    } else {
        None
    };
    Ok(Statement::AddPartitions(AddPartitions {
        table,
        batch,
        distribution,
    }))
}

/// `ALTER TABLE t SET ("key" = "value", ...)`
#[derive(Debug, Clone, PartialEq)]
pub struct SetTableProperties {
    pub table: ObjectName,
    pub properties: super::Properties,
}

impl fmt::Display for SetTableProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ALTER TABLE {} SET {}",
            Name(&self.table),
            super::PropertyList(&self.properties)
        )
    }
}

impl BackstopParser<'_> {
    /// Whether the statement is `ALTER TABLE name SET (`.
    pub(super) fn is_table_set(&self) -> bool {
        if !self.peek_words(1, &["TABLE"]) {
            return false;
        }
        let Some(len) = self.peek_name_len(2) else {
            return false;
        };
        self.peek_words(2 + len, &["SET"])
            && self.parser.peek_nth_token_ref(3 + len).token == Token::LParen
    }

    pub(super) fn parse_table_set(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["ALTER", "TABLE"])?;
        let table = self.parse_object_name("table name")?;
        self.expect_word("SET")?;
        let properties = self.parse_property_list()?;
        Ok(Statement::SetTableProperties(SetTableProperties {
            table,
            properties,
        }))
    }
}
