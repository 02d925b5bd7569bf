//! Five-field cron expressions and their next fire time in a time zone.
//!
//! [`Cron::parse`] reads `minute hour day-of-month month day-of-week` with Vixie-cron / POSIX
//! rules: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or `JAN`-`DEC`, day-of-week
//! 0-7 (0 and 7 are Sunday) or `SUN`-`SAT`; names in any case, and a range ending in the name
//! `SUN` (`FRI-SUN`) ends on Sunday. Each field is a comma list of `*`, `a`, `a-b`, `*/n`,
//! `a-b/n` or `a/n` (`a` to the field's maximum, step `n`). The macros `@yearly`
//! (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for their
//! usual five fields; anything else (`@reboot`, `L`, `W`, `#`, `?`, seconds) is an error.
//!
//! Day rule (as Vixie cron): when both day fields are restricted, a day matches when either
//! matches; when one of them is unrestricted, only the other one counts. As in Vixie cron, a
//! field counts as unrestricted when it starts with `*`, so `*/2` is unrestricted there.
//!
//! [`Cron::next_after`] reads the fields as local wall-clock minutes in a time zone and walks
//! the calendar by month, day, hour and minute (never minute by minute over years), looking
//! up to 5 years ahead. Daylight saving time:
//! - A wall-clock time skipped by a spring-forward gap (02:30 on the night Berlin goes from
//!   02:00 to 03:00) fires once, at the first instant after the gap (03:00 in the new offset).
//!   Several skipped times collapse into that one firing.
//! - A wall-clock time that occurs twice when clocks fall back fires once, at the earlier
//!   instant (the first pass). No wall-clock time fires twice, so `*/15 * * * *` does not fire
//!   during the repeated hour's second pass.

use chrono::{
    DateTime, Datelike, LocalResult, Months, NaiveDate, NaiveDateTime, TimeDelta, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

/// A parsed five-field cron expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    text: String,
    /// Bit `m` set: minute `m` (0-59) matches.
    minutes: u64,
    /// Bit `h` set: hour `h` (0-23) matches.
    hours: u64,
    /// Bit `d` set: day of month `d` (1-31) matches.
    days: u64,
    /// Bit `m` set: month `m` (1-12) matches.
    months: u64,
    /// Bit `w` set: weekday `w` (0-6, Sunday is 0) matches.
    weekdays: u64,
    /// The day-of-month field starts with `*`.
    days_star: bool,
    /// The day-of-week field starts with `*`.
    weekdays_star: bool,
}

/// How one of the five fields is read.
struct FieldSpec {
    number: usize,
    name: &'static str,
    min: u32,
    max: u32,
    /// Three-letter names for `name_base`, `name_base + 1`, ...
    names: &'static [&'static str],
    name_base: u32,
    allowed: &'static str,
}

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: [FieldSpec; 5] = [
    FieldSpec {
        number: 1,
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        name_base: 0,
        allowed: "values run 0-59",
    },
    FieldSpec {
        number: 2,
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        name_base: 0,
        allowed: "values run 0-23",
    },
    FieldSpec {
        number: 3,
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        name_base: 0,
        allowed: "values run 1-31",
    },
    FieldSpec {
        number: 4,
        name: "month",
        min: 1,
        max: 12,
        names: &MONTH_NAMES,
        name_base: 1,
        allowed: "values run 1-12 or JAN-DEC",
    },
    FieldSpec {
        number: 5,
        name: "day-of-week",
        min: 0,
        max: 7,
        names: &WEEKDAY_NAMES,
        name_base: 0,
        allowed: "values run 0-7 (0 and 7 are Sunday) or SUN-SAT",
    },
];

const FIELD_LIST: &str = "minute hour day-of-month month day-of-week";
const MACRO_LIST: &str = "@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly";
const SYNTAX: &str = "use *, a, a-b, */n, a-b/n or a/n, separated by commas";

/// How far ahead [`Cron::next_after`] looks.
const HORIZON_MONTHS: u32 = 60;

impl FieldSpec {
    fn error(&self, quoted: &str, problem: &str) -> String {
        format!(
            "cron field {} ({}) '{}': {}",
            self.number, self.name, quoted, problem
        )
    }

    /// Parses the whole field into a bit set.
    fn parse(&self, text: &str) -> Result<u64, String> {
        let mut bits = 0u64;
        for item in text.split(',') {
            if item.is_empty() {
                return Err(self.error(text, &format!("empty item in the list; {SYNTAX}")));
            }
            bits |= self.parse_item(item)?;
        }
        Ok(bits)
    }

    /// Parses one comma-list item: `*`, `a`, `a-b`, with an optional `/n`.
    fn parse_item(&self, item: &str) -> Result<u64, String> {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(self.parse_step(item, step)?)),
            None => (item, None),
        };
        let (low, high) = if range == "*" {
            (self.min, self.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let low = self.value(item, a)?;
            // The name SUN ends a day-of-week range as 7, so `FRI-SUN` is Friday to Sunday.
            let high = match self.value(item, b)? {
                0 if low > 0 && self.max == 7 && !b.bytes().all(|c| c.is_ascii_digit()) => 7,
                high => high,
            };
            if low > high {
                return Err(self.error(
                    item,
                    &format!("range {a}-{b} runs backwards; write the smaller value first"),
                ));
            }
            (low, high)
        } else {
            let value = self.value(item, range)?;
            match step {
                Some(_) => (value, self.max),
                None => (value, value),
            }
        };
        let step = step.unwrap_or(1);
        let mut bits = 0u64;
        let mut value = low;
        while value <= high {
            bits |= 1u64.checked_shl(value).unwrap_or(0);
            match value.checked_add(step) {
                Some(next) => value = next,
                None => break,
            }
        }
        Ok(bits)
    }

    fn parse_step(&self, item: &str, step: &str) -> Result<u32, String> {
        if step.is_empty() || !step.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.error(
                item,
                &format!("step '{step}' is not a number; write */n, a-b/n or a/n"),
            ));
        }
        match step.parse::<u32>() {
            Ok(0) => Err(self.error(item, "step must be at least 1")),
            Ok(n) => Ok(n),
            Err(_) => Err(self.error(item, &format!("step {step} is too large"))),
        }
    }

    /// Parses one value (a number or a name) and checks its range.
    fn value(&self, item: &str, token: &str) -> Result<u32, String> {
        if token.is_empty() {
            return Err(self.error(item, &format!("a value is missing; {SYNTAX}")));
        }
        if token.bytes().all(|b| b.is_ascii_digit()) {
            return match token.parse::<u32>() {
                Ok(v) if (self.min..=self.max).contains(&v) => Ok(v),
                _ => Err(self.error(token, self.allowed)),
            };
        }
        let named = self
            .names
            .iter()
            .zip(self.name_base..)
            .find(|(name, _)| name.eq_ignore_ascii_case(token));
        match named {
            Some((_, v)) => Ok(v),
            None if token.starts_with('*') => {
                Err(self.error(item, &format!("'*' stands alone or as */n; {SYNTAX}")))
            }
            None => Err(self.error(
                token,
                &format!("not a valid value; {}; {SYNTAX}", self.allowed),
            )),
        }
    }
}

/// The five fields a macro stands for.
fn expand_macro(name: &str) -> Option<&'static str> {
    match name.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => Some("0 0 1 1 *"),
        "@monthly" => Some("0 0 1 * *"),
        "@weekly" => Some("0 0 * * 0"),
        "@daily" | "@midnight" => Some("0 0 * * *"),
        "@hourly" => Some("0 * * * *"),
        _ => None,
    }
}

fn has_bit(bits: u64, n: u32) -> bool {
    bits.checked_shr(n).is_some_and(|b| b & 1 == 1)
}

/// The smallest set bit at or above `from`.
fn next_bit(bits: u64, from: u32) -> Option<u32> {
    let rest = bits.checked_shr(from)?;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year().checked_add(1)?, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
    }
}

/// The instant a local wall-clock time fires at: itself, the earlier of two when clocks fall
/// back, the first instant after the gap when clocks spring forward over it.
fn resolve(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Tz>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at),
        LocalResult::Ambiguous(a, b) => Some(a.min(b)),
        LocalResult::None => {
            // Walk to the first wall-clock minute that exists; gaps are an hour or so (a whole
            // day at most, as Samoa's in 2011), so two days bound the walk.
            let mut probe = local;
            for _ in 0..2 * 24 * 60 {
                probe = probe.checked_add_signed(TimeDelta::minutes(1))?;
                match tz.from_local_datetime(&probe) {
                    LocalResult::Single(at) => return Some(at),
                    LocalResult::Ambiguous(a, b) => return Some(a.min(b)),
                    LocalResult::None => {}
                }
            }
            None
        }
    }
}

impl Cron {
    /// Parses `expr` (5 fields: minute hour day-of-month month day-of-week, or a macro such as
    /// `@daily`). Err: a message naming the bad field and saying what is allowed, e.g.
    /// "cron field 2 (hour) '25': values run 0-23".
    pub fn parse(expr: &str) -> Result<Cron, String> {
        let tokens: Vec<&str> = expr.split_whitespace().collect();
        let text = tokens.join(" ");
        let fields = match tokens.as_slice() {
            [] => {
                return Err(format!(
                    "cron expression is empty; expected 5 fields ({FIELD_LIST}) or a macro ({MACRO_LIST})"
                ));
            }
            [first, ..] if first.starts_with('@') => {
                let Some(fields) = expand_macro(first) else {
                    return Err(format!(
                        "unknown cron macro '{first}'; allowed: {MACRO_LIST}"
                    ));
                };
                if tokens.len() > 1 {
                    return Err(format!(
                        "cron expression '{text}': the macro {first} stands alone, with no other fields"
                    ));
                }
                fields.split(' ').collect::<Vec<_>>()
            }
            _ if tokens.len() != 5 => {
                return Err(format!(
                    "cron expression '{text}' has {} field{}; expected 5 ({FIELD_LIST}) or a macro ({MACRO_LIST})",
                    tokens.len(),
                    if tokens.len() == 1 { "" } else { "s" }
                ));
            }
            _ => tokens,
        };
        let mut sets = [0u64; 5];
        for ((set, spec), field) in sets.iter_mut().zip(FIELDS.iter()).zip(fields.iter()) {
            *set = spec.parse(field)?;
        }
        let [minutes, hours, days, months, weekdays_0_to_7] = sets;
        // Day-of-week 7 is Sunday, as 0 is.
        let weekdays = (weekdays_0_to_7 & 0x7f) | ((weekdays_0_to_7 >> 7) & 1);
        let starts_with_star = |n: usize| fields.get(n).is_some_and(|f| f.starts_with('*'));
        Ok(Cron {
            text,
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_star: starts_with_star(2),
            weekdays_star: starts_with_star(4),
        })
    }

    /// The first fire time strictly after `after_ms` (milliseconds since the Unix epoch, UTC),
    /// with the fields read as wall-clock times in `tz`; None when there is none within 5 years
    /// (e.g. '0 0 30 2 *'). Fire times are whole minutes; DST is handled as the module doc says.
    pub fn next_after(&self, after_ms: i64, tz: Tz) -> Option<i64> {
        let after = DateTime::<Utc>::from_timestamp_millis(after_ms)?;
        // The wall-clock minute holding `after`, in the offset in force at `after`. Every local
        // time up to it resolves to an instant no later than `after` (resolution is monotonic),
        // so the search starts one minute on. Starting from the offset in force at `after`, not
        // a minute later, keeps a spring-forward gap that ends right after `after` in reach.
        let local = after.with_timezone(&tz).naive_local();
        let minute = local.with_second(0)?.with_nanosecond(0)?;
        let limit = local.checked_add_months(Months::new(HORIZON_MONTHS))?;
        let mut from = minute.checked_add_signed(TimeDelta::minutes(1))?;
        // Candidates resolve to no later than `after` only in the repeated hour of a fall-back,
        // so this loop turns a few dozen times at most; `from` rises each turn, up to `limit`.
        while let Some(candidate) = self.next_local(from, limit) {
            if let Some(at) = resolve(tz, candidate) {
                let ms = at.timestamp_millis();
                if ms > after_ms {
                    return Some(ms);
                }
            }
            from = candidate.checked_add_signed(TimeDelta::minutes(1))?;
        }
        None
    }

    /// The expression as written, normalised to single spaces (for SHOW / information_schema).
    pub fn text(&self) -> &str {
        &self.text
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let day = has_bit(self.days, date.day());
        let weekday = has_bit(self.weekdays, date.weekday().num_days_from_sunday());
        if self.days_star || self.weekdays_star {
            day && weekday
        } else {
            day || weekday
        }
    }

    /// The first local wall-clock minute at or after `from` (a whole minute) that matches all
    /// fields, if it is no later than `limit`. Skips whole months, days and hours that fail.
    fn next_local(&self, from: NaiveDateTime, limit: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut date = from.date();
        let mut hour = from.hour();
        let mut minute = from.minute();
        loop {
            if date > limit.date() {
                return None;
            }
            if !has_bit(self.months, date.month()) {
                date = first_of_next_month(date)?;
                (hour, minute) = (0, 0);
                continue;
            }
            if !self.day_matches(date) {
                date = date.succ_opt()?;
                (hour, minute) = (0, 0);
                continue;
            }
            if let Some(h) = next_bit(self.hours, hour) {
                if h != hour {
                    (hour, minute) = (h, 0);
                }
                if let Some(m) = next_bit(self.minutes, minute) {
                    let found = date.and_hms_opt(hour, m, 0)?;
                    return (found <= limit).then_some(found);
                }
                if hour < 23 {
                    (hour, minute) = (hour + 1, 0);
                    continue;
                }
            }
            date = date.succ_opt()?;
            (hour, minute) = (0, 0);
        }
    }
}

/// Parses a time-zone name ('UTC', 'Europe/Berlin', 'Asia/Shanghai'; case is ignored); Err
/// names the zone and says to use an IANA name.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    let trimmed = name.trim();
    if let Ok(tz) = trimmed.parse::<Tz>() {
        return Ok(tz);
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(trimmed))
        .copied()
        .ok_or_else(|| {
            format!(
                "unknown time zone '{name}': use an IANA time-zone name such as 'UTC', 'Europe/Berlin' or 'Asia/Shanghai'"
            )
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use chrono_tz::{Asia, Europe};

    /// Milliseconds of a UTC wall-clock time.
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .timestamp_millis()
    }

    /// Renders milliseconds as UTC, for readable failures.
    fn show(ms: Option<i64>) -> String {
        ms.map_or("none".into(), |ms| {
            DateTime::<Utc>::from_timestamp_millis(ms)
                .unwrap()
                .format("%Y-%m-%d %H:%M:%S%.3f UTC")
                .to_string()
        })
    }

    fn next(expr: &str, after: i64, tz: Tz) -> Option<i64> {
        Cron::parse(expr).unwrap().next_after(after, tz)
    }

    fn assert_next(expr: &str, after: i64, tz: Tz, want: i64) {
        let got = next(expr, after, tz);
        assert_eq!(
            show(got),
            show(Some(want)),
            "'{expr}' after {} in {tz}",
            show(Some(after))
        );
    }

    /// A UTC wall-clock time as a table row gives it: year, month, day, hour, minute.
    type UtcTime = (i32, u32, u32, u32, u32);

    /// [`assert_next`] for each row `(expr, after, want)` of a table, all in `tz`.
    fn assert_nexts(tz: Tz, rows: &[(&str, UtcTime, UtcTime)]) {
        for &(expr, (y, mo, d, h, mi), (wy, wmo, wd, wh, wmi)) in rows {
            assert_next(expr, utc(y, mo, d, h, mi), tz, utc(wy, wmo, wd, wh, wmi));
        }
    }

    /// The first `n` fire times after `after`.
    fn fires(expr: &str, after: i64, tz: Tz, n: usize) -> Vec<String> {
        let cron = Cron::parse(expr).unwrap();
        let mut out = Vec::new();
        let mut at = after;
        for _ in 0..n {
            at = cron.next_after(at, tz).unwrap();
            out.push(show(Some(at)));
        }
        out
    }

    fn parse_err(expr: &str) -> String {
        Cron::parse(expr).unwrap_err()
    }

    // ---- next_after in UTC ----

    #[test]
    fn every_minute_is_the_next_whole_minute() {
        let t = utc(2026, 5, 4, 10, 20);
        assert_next("* * * * *", t, Tz::UTC, t + 60_000);
        // Seconds and milliseconds are truncated; the result is strictly after.
        assert_next("* * * * *", t + 59_999, Tz::UTC, t + 60_000);
        assert_next("* * * * *", t + 1, Tz::UTC, t + 60_000);
        assert_next("* * * * *", t - 1, Tz::UTC, t);
    }

    #[test]
    fn every_fifteen_minutes() {
        let t = utc(2026, 5, 4, 10, 0);
        assert_next("*/15 * * * *", t, Tz::UTC, utc(2026, 5, 4, 10, 15));
        assert_next("*/15 * * * *", t - 1, Tz::UTC, t);
        assert_nexts(
            Tz::UTC,
            &[("*/15 * * * *", (2026, 5, 4, 23, 50), (2026, 5, 5, 0, 0))],
        );
        assert_eq!(
            fires("*/15 * * * *", utc(2026, 12, 31, 23, 20), Tz::UTC, 3),
            [
                "2026-12-31 23:30:00.000 UTC",
                "2026-12-31 23:45:00.000 UTC",
                "2027-01-01 00:00:00.000 UTC"
            ]
        );
    }

    #[test]
    fn daily_at_three_in_utc() {
        assert_nexts(
            Tz::UTC,
            &[
                ("0 3 * * *", (2026, 1, 10, 2, 59), (2026, 1, 10, 3, 0)),
                ("0 3 * * *", (2026, 1, 10, 3, 0), (2026, 1, 11, 3, 0)),
                ("0 3 * * *", (2026, 2, 28, 4, 0), (2026, 3, 1, 3, 0)),
            ],
        );
    }

    #[test]
    fn daily_at_three_in_berlin_winter_and_summer() {
        assert_nexts(
            Europe::Berlin,
            &[
                // Winter: CET, UTC+1.
                ("0 3 * * *", (2026, 1, 10, 0, 0), (2026, 1, 10, 2, 0)),
                // Summer: CEST, UTC+2.
                ("0 3 * * *", (2026, 7, 10, 0, 0), (2026, 7, 10, 1, 0)),
                // 01:30 UTC is already 03:30 in Berlin in summer: the next is tomorrow.
                ("0 3 * * *", (2026, 7, 10, 1, 30), (2026, 7, 11, 1, 0)),
            ],
        );
    }

    #[test]
    fn other_zones() {
        // Asia/Shanghai is UTC+8 all year.
        assert_nexts(
            Asia::Shanghai,
            &[("0 3 * * *", (2026, 7, 10, 0, 0), (2026, 7, 10, 19, 0))],
        );
        // A half-hour zone: midnight in Kolkata is 18:30 UTC.
        assert_nexts(
            Asia::Kolkata,
            &[("0 0 * * *", (2026, 7, 10, 0, 0), (2026, 7, 10, 18, 30))],
        );
        // The local date decides the day: Monday 00:30 in Shanghai is Sunday 16:30 UTC.
        assert_nexts(
            Asia::Shanghai,
            &[("30 0 * * MON", (2026, 5, 1, 0, 0), (2026, 5, 3, 16, 30))],
        );
    }

    #[test]
    fn weekday_names_and_numbers() {
        // 2026-05-04 is a Monday.
        let monday = utc(2026, 5, 4, 0, 0);
        assert_next("0 12 * * wed", monday, Tz::UTC, utc(2026, 5, 6, 12, 0));
        assert_next("0 12 * * WED", monday, Tz::UTC, utc(2026, 5, 6, 12, 0));
        assert_next("0 12 * * 3", monday, Tz::UTC, utc(2026, 5, 6, 12, 0));
        assert_next("0 12 * * Sun", monday, Tz::UTC, utc(2026, 5, 10, 12, 0));
        // 0 and 7 are both Sunday.
        assert_next("0 12 * * 0", monday, Tz::UTC, utc(2026, 5, 10, 12, 0));
        assert_next("0 12 * * 7", monday, Tz::UTC, utc(2026, 5, 10, 12, 0));
        assert_next("0 12 * * FRI-SUN", monday, Tz::UTC, utc(2026, 5, 8, 12, 0));
        assert_next("0 12 * * 6-7", monday, Tz::UTC, utc(2026, 5, 9, 12, 0));
        assert_eq!(Cron::parse("0 0 * * fri-sun").unwrap().weekdays, 0b110_0001);
        assert_eq!(Cron::parse("0 0 * * SUN-SUN").unwrap().weekdays, 1);
        assert_eq!(Cron::parse("0 0 * * 0-0").unwrap().weekdays, 1);
        assert_eq!(Cron::parse("0 0 * * 0-7").unwrap().weekdays, 0x7f);
        assert!(parse_err("0 0 * * 5-0").contains("runs backwards"));
        assert_next("0 12 * * sat,sun", monday, Tz::UTC, utc(2026, 5, 9, 12, 0));
        assert_eq!(
            Cron::parse("0 0 * * 7").unwrap().weekdays,
            Cron::parse("0 0 * * 0").unwrap().weekdays
        );
        assert_eq!(Cron::parse("0 0 * * *").unwrap().weekdays, 0x7f);
    }

    #[test]
    fn month_names() {
        assert_nexts(
            Tz::UTC,
            &[
                ("0 0 1 jun *", (2026, 1, 1, 0, 0), (2026, 6, 1, 0, 0)),
                ("0 0 1 JAN-MAR *", (2026, 3, 2, 0, 0), (2027, 1, 1, 0, 0)),
                ("0 0 1 Nov/2 *", (2026, 12, 1, 0, 0), (2027, 11, 1, 0, 0)),
            ],
        );
    }

    #[test]
    fn weekdays_only_skip_the_weekend() {
        // 2026-05-08 is a Friday.
        assert_eq!(
            fires("0 0 * * 1-5", utc(2026, 5, 7, 12, 0), Tz::UTC, 3),
            [
                "2026-05-08 00:00:00.000 UTC",
                "2026-05-11 00:00:00.000 UTC",
                "2026-05-12 00:00:00.000 UTC"
            ]
        );
        assert_nexts(
            Tz::UTC,
            &[("0 0 * * MON-FRI", (2026, 5, 8, 0, 0), (2026, 5, 11, 0, 0))],
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_when_both_restricted() {
        // The 13th or any Friday: 2026-05-08 (Fri), 2026-05-13 (Wed), 2026-05-15 (Fri).
        assert_eq!(
            fires("0 0 13 * 5", utc(2026, 5, 4, 0, 0), Tz::UTC, 3),
            [
                "2026-05-08 00:00:00.000 UTC",
                "2026-05-13 00:00:00.000 UTC",
                "2026-05-15 00:00:00.000 UTC"
            ]
        );
        assert_nexts(
            Tz::UTC,
            &[
                // Only the day-of-month restricts when day-of-week is *.
                ("0 0 13 * *", (2026, 5, 4, 0, 0), (2026, 5, 13, 0, 0)),
                // Only the day-of-week restricts when day-of-month is *.
                ("0 0 * * 5", (2026, 5, 4, 0, 0), (2026, 5, 8, 0, 0)),
                // February has no 31st, but its Mondays match.
                ("0 0 31 2 MON", (2026, 1, 31, 12, 0), (2026, 2, 2, 0, 0)),
                // As in Vixie cron, a field starting with * counts as unrestricted: both must
                // match. Odd days that are Fridays: 2026-05-01, then 2026-05-15.
                ("0 0 */2 * 5", (2026, 5, 2, 0, 0), (2026, 5, 15, 0, 0)),
            ],
        );
    }

    #[test]
    fn ranges_steps_and_lists() {
        let cron = Cron::parse("0-10/5,30,50-52 1-3,20/2 */10 */3 *").unwrap();
        assert_eq!(
            cron.minutes,
            (1 << 0) | (1 << 5) | (1 << 10) | (1 << 30) | (1 << 50) | (1 << 51) | (1 << 52)
        );
        assert_eq!(
            cron.hours,
            (1 << 1) | (1 << 2) | (1 << 3) | (1 << 20) | (1 << 22)
        );
        assert_eq!(cron.days, (1 << 1) | (1 << 11) | (1 << 21) | (1 << 31));
        assert_eq!(cron.months, (1 << 1) | (1 << 4) | (1 << 7) | (1 << 10));
        // A step longer than the field still takes the first value.
        assert_eq!(Cron::parse("*/90 * * * *").unwrap().minutes, 1);
        let expr = "0-10/5,30,50-52 1-3,20/2 */10 */3 *";
        assert_nexts(
            Tz::UTC,
            &[
                (expr, (2026, 1, 1, 3, 52), (2026, 1, 1, 20, 0)),
                (expr, (2026, 1, 1, 22, 52), (2026, 1, 11, 1, 0)),
            ],
        );
    }

    #[test]
    fn month_ends() {
        // The 31st skips the shorter months.
        assert_eq!(
            fires("0 0 31 * *", utc(2026, 1, 31, 0, 0), Tz::UTC, 2),
            ["2026-03-31 00:00:00.000 UTC", "2026-05-31 00:00:00.000 UTC"]
        );
        assert_nexts(
            Tz::UTC,
            &[("59 23 31 12 *", (2026, 1, 1, 0, 0), (2026, 12, 31, 23, 59))],
        );
    }

    #[test]
    fn february_29_waits_for_the_next_leap_year() {
        let start = std::time::Instant::now();
        assert_nexts(
            Tz::UTC,
            &[
                ("0 0 29 2 *", (2026, 5, 4, 0, 0), (2028, 2, 29, 0, 0)),
                ("0 0 29 2 *", (2028, 2, 29, 0, 0), (2032, 2, 29, 0, 0)),
            ],
        );
        assert_nexts(
            Europe::Berlin,
            &[("0 0 29 2 *", (2028, 2, 29, 0, 0), (2032, 2, 28, 23, 0))],
        );
        // 2100 is not a leap year: 2096 to 2104 is more than 5 years, so none.
        assert_eq!(next("0 0 29 2 *", utc(2096, 3, 1, 0, 0), Tz::UTC), None);
        // Searches that skip by month and day stay fast.
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn impossible_dates_give_none_quickly() {
        let start = std::time::Instant::now();
        assert_eq!(next("0 0 30 2 *", utc(2026, 1, 1, 0, 0), Tz::UTC), None);
        assert_eq!(
            next("0 0 31 4,6,9,11 *", utc(2026, 1, 1, 0, 0), Europe::Berlin),
            None
        );
        assert_eq!(
            next("* * 30 2 *", utc(2026, 1, 1, 0, 0), Europe::Berlin),
            None
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn five_year_horizon() {
        // The search looks 5 years ahead of `after`, no further.
        assert_nexts(
            Tz::UTC,
            &[
                ("0 0 29 2 *", (2024, 2, 29, 0, 0), (2028, 2, 29, 0, 0)),
                ("0 0 29 2 *", (2095, 3, 1, 0, 0), (2096, 2, 29, 0, 0)),
            ],
        );
        assert_eq!(next("0 0 29 2 *", utc(2096, 2, 29, 0, 0), Tz::UTC), None);
        // 2104-02-29 is one hour past the 5 years after 2099-02-28 23:00.
        assert_eq!(next("0 0 29 2 *", utc(2099, 2, 28, 23, 0), Tz::UTC), None);
        assert_eq!(
            next("0 0 29 2 *", utc(2099, 3, 1, 0, 0), Tz::UTC),
            Some(utc(2104, 2, 29, 0, 0))
        );
    }

    #[test]
    fn out_of_range_instants_give_none() {
        let cron = Cron::parse("* * * * *").unwrap();
        assert_eq!(cron.next_after(i64::MAX, Tz::UTC), None);
        assert_eq!(cron.next_after(i64::MIN, Tz::UTC), None);
        // Before the epoch works.
        assert_eq!(cron.next_after(-90_000, Tz::UTC), Some(-60_000));
    }

    // ---- daylight saving time, Europe/Berlin 2026 ----
    // 2026-03-29 01:00 UTC: 02:00 CET becomes 03:00 CEST (02:00-02:59 do not exist).
    // 2026-10-25 01:00 UTC: 03:00 CEST becomes 02:00 CET (02:00-02:59 happen twice).

    #[test]
    fn spring_forward_gap_fires_at_the_end_of_the_gap() {
        let berlin = Europe::Berlin;
        // 02:30 does not exist on 2026-03-29: it fires at 03:00 CEST = 01:00 UTC.
        assert_eq!(
            fires("30 2 * * *", utc(2026, 3, 27, 12, 0), berlin, 3),
            [
                "2026-03-28 01:30:00.000 UTC",
                "2026-03-29 01:00:00.000 UTC",
                "2026-03-30 00:30:00.000 UTC"
            ]
        );
        assert_nexts(
            berlin,
            &[
                ("30 2 * * *", (2026, 3, 28, 12, 0), (2026, 3, 29, 1, 0)),
                ("30 2 * * *", (2026, 3, 29, 1, 0), (2026, 3, 30, 0, 30)),
            ],
        );
        // The gap ends half a minute after `after`: still fires at the gap's end.
        assert_next(
            "30 2 * * *",
            utc(2026, 3, 29, 0, 59) + 30_000,
            berlin,
            utc(2026, 3, 29, 1, 0),
        );
        assert_nexts(
            berlin,
            &[
                ("0 2 * * *", (2026, 3, 29, 0, 59), (2026, 3, 29, 1, 0)),
                // A time after the gap is unaffected.
                ("0 3 * * *", (2026, 3, 28, 12, 0), (2026, 3, 29, 1, 0)),
            ],
        );
        // Several skipped times collapse into one firing at 03:00 CEST.
        assert_eq!(
            fires("*/15 * * * *", utc(2026, 3, 29, 0, 40), berlin, 4),
            [
                "2026-03-29 00:45:00.000 UTC",
                "2026-03-29 01:00:00.000 UTC",
                "2026-03-29 01:15:00.000 UTC",
                "2026-03-29 01:30:00.000 UTC"
            ]
        );
        assert_eq!(
            fires("* * * * *", utc(2026, 3, 29, 0, 58), berlin, 3),
            [
                "2026-03-29 00:59:00.000 UTC",
                "2026-03-29 01:00:00.000 UTC",
                "2026-03-29 01:01:00.000 UTC"
            ]
        );
    }

    #[test]
    fn fall_back_overlap_fires_once_at_the_earlier_instant() {
        let berlin = Europe::Berlin;
        // 02:30 happens at 00:30 UTC (CEST) and at 01:30 UTC (CET): only the first fires.
        assert_eq!(
            fires("30 2 * * *", utc(2026, 10, 24, 12, 0), berlin, 2),
            ["2026-10-25 00:30:00.000 UTC", "2026-10-26 01:30:00.000 UTC"]
        );
        // From inside the second pass, the repeated time is not fired again.
        assert_nexts(
            berlin,
            &[("30 2 * * *", (2026, 10, 25, 1, 10), (2026, 10, 26, 1, 30))],
        );
        // Sub-hourly: the second pass of 02:00-02:59 is skipped, then 03:00 CET.
        assert_eq!(
            fires("*/30 * * * *", utc(2026, 10, 24, 23, 50), berlin, 4),
            [
                "2026-10-25 00:00:00.000 UTC",
                "2026-10-25 00:30:00.000 UTC",
                "2026-10-25 02:00:00.000 UTC",
                "2026-10-25 02:30:00.000 UTC"
            ]
        );
        assert_nexts(
            berlin,
            &[
                ("* * * * *", (2026, 10, 25, 0, 59), (2026, 10, 25, 2, 0)),
                ("* * * * *", (2026, 10, 25, 1, 30), (2026, 10, 25, 2, 0)),
                // Times outside the overlap are unaffected: 03:00 CET = 02:00 UTC.
                ("0 3 * * *", (2026, 10, 24, 12, 0), (2026, 10, 25, 2, 0)),
                ("0 1 * * *", (2026, 10, 24, 12, 0), (2026, 10, 24, 23, 0)),
            ],
        );
    }

    #[test]
    fn unusual_transitions() {
        // Samoa skipped 2011-12-30 entirely: noon that day fires when the gap ends, at local
        // midnight of 12-31 (+14:00), which is 10:00 UTC on 12-30.
        let apia = parse_zone("Pacific/Apia").unwrap();
        assert_eq!(
            fires("0 12 * * *", utc(2011, 12, 29, 12, 0), apia, 3),
            [
                "2011-12-29 22:00:00.000 UTC",
                "2011-12-30 10:00:00.000 UTC",
                "2011-12-30 22:00:00.000 UTC"
            ]
        );
        // Lord Howe shifts by 30 minutes: 02:00-02:29 do not exist on 2026-10-04, and 02:15
        // fires at 02:30 (+11:00) = 15:30 UTC the day before.
        let lord_howe = parse_zone("Australia/Lord_Howe").unwrap();
        assert_nexts(
            lord_howe,
            &[("15 2 * * *", (2026, 10, 3, 0, 0), (2026, 10, 3, 15, 30))],
        );
    }
    /// Fires of `cron` in `tz` found by walking real instants minute by minute: an instant fires
    /// when its wall-clock time matches and this is that time's first occurrence, or when it
    /// ends a gap whose skipped wall-clock times include a match.
    fn brute_force(cron: &Cron, after: i64, tz: Tz, minutes: i64) -> Vec<i64> {
        let matches = |local: NaiveDateTime| {
            has_bit(cron.minutes, local.minute())
                && has_bit(cron.hours, local.hour())
                && has_bit(cron.months, local.month())
                && cron.day_matches(local.date())
        };
        let local_of = |ms: i64| {
            DateTime::<Utc>::from_timestamp_millis(ms)
                .unwrap()
                .with_timezone(&tz)
                .naive_local()
        };
        let mut out = Vec::new();
        let mut t = after - after.rem_euclid(60_000) + 60_000;
        for _ in 0..minutes {
            let local = local_of(t);
            let first = tz
                .from_local_datetime(&local)
                .earliest()
                .unwrap()
                .timestamp_millis()
                == t;
            let mut skipped = local_of(t - 60_000) + TimeDelta::minutes(1);
            let mut gap_match = false;
            while skipped < local {
                gap_match |= matches(skipped);
                skipped += TimeDelta::minutes(1);
            }
            if (first && matches(local)) || gap_match {
                out.push(t);
            }
            t += 60_000;
        }
        out
    }

    #[test]
    fn agrees_with_a_minute_by_minute_walk() {
        let exprs = [
            "* * * * *",
            "*/15 * * * *",
            "*/7 */5 * * *",
            "30 2 * * *",
            "0 2 * * *",
            "59 1 * * *",
            "0 3 * * *",
            "5,35 1-3 * * *",
            "0 0 * * 1-5",
            "0 2 25,29 * SUN",
            "10 2 * 3,10 *",
        ];
        let starts = [
            (utc(2026, 3, 28, 20, 0), Europe::Berlin),
            (utc(2026, 3, 29, 0, 59) + 30_000, Europe::Berlin),
            (utc(2026, 10, 24, 20, 0), Europe::Berlin),
            (utc(2026, 10, 25, 1, 10), Europe::Berlin),
            (utc(2026, 10, 25, 0, 59) + 59_999, Europe::Berlin),
            (utc(2026, 3, 28, 20, 0), Tz::UTC),
            (
                utc(2026, 10, 3, 10, 0),
                parse_zone("Australia/Lord_Howe").unwrap(),
            ),
        ];
        for expr in exprs {
            let cron = Cron::parse(expr).unwrap();
            for (after, tz) in starts {
                let want = brute_force(&cron, after, tz, 3 * 24 * 60);
                let mut got = Vec::new();
                let mut at = after;
                while let Some(next) = cron.next_after(at, tz) {
                    if want.last().is_none_or(|last| next > *last) {
                        break;
                    }
                    got.push(next);
                    at = next;
                }
                let show_all = |v: &[i64]| v.iter().map(|ms| show(Some(*ms))).collect::<Vec<_>>();
                assert_eq!(
                    show_all(&got),
                    show_all(&want),
                    "'{expr}' after {} in {tz}",
                    show(Some(after))
                );
            }
        }
    }

    #[test]
    fn utc_has_no_dst_shift() {
        assert_nexts(
            Tz::UTC,
            &[
                ("30 2 * * *", (2026, 3, 28, 12, 0), (2026, 3, 29, 2, 30)),
                ("30 2 * * *", (2026, 10, 24, 12, 0), (2026, 10, 25, 2, 30)),
                ("30 2 * * *", (2026, 10, 25, 2, 30), (2026, 10, 26, 2, 30)),
            ],
        );
    }
    // ---- macros and text ----

    #[test]
    fn macros() {
        let same = |a: &str, b: &str| {
            let (a, b) = (Cron::parse(a).unwrap(), Cron::parse(b).unwrap());
            assert_eq!(
                (
                    a.minutes,
                    a.hours,
                    a.days,
                    a.months,
                    a.weekdays,
                    a.days_star,
                    a.weekdays_star
                ),
                (
                    b.minutes,
                    b.hours,
                    b.days,
                    b.months,
                    b.weekdays,
                    b.days_star,
                    b.weekdays_star
                )
            );
        };
        same("@yearly", "0 0 1 1 *");
        same("@annually", "0 0 1 1 *");
        same("@monthly", "0 0 1 * *");
        same("@weekly", "0 0 * * 0");
        same("@daily", "0 0 * * *");
        same("@midnight", "0 0 * * *");
        same("@hourly", "0 * * * *");
        same("@DAILY", "0 0 * * *");
        assert_nexts(
            Tz::UTC,
            &[
                ("@hourly", (2026, 5, 4, 10, 0), (2026, 5, 4, 11, 0)),
                ("@weekly", (2026, 5, 4, 10, 0), (2026, 5, 10, 0, 0)),
            ],
        );
        assert_nexts(
            Europe::Berlin,
            &[("@yearly", (2026, 5, 4, 10, 0), (2026, 12, 31, 23, 0))],
        );
        assert_eq!(Cron::parse("  @daily ").unwrap().text(), "@daily");
    }

    #[test]
    fn text_is_normalised_to_single_spaces() {
        assert_eq!(
            Cron::parse(" 0  3\t* *   mon-fri ").unwrap().text(),
            "0 3 * * mon-fri"
        );
        assert_eq!(Cron::parse("*/5 * * * *").unwrap().text(), "*/5 * * * *");
        assert_eq!(
            Cron::parse("0 3 * * *").unwrap(),
            Cron::parse("0  3 * * *").unwrap()
        );
    }

    // ---- parse errors ----

    #[test]
    fn out_of_range_values_are_rejected() {
        assert_eq!(
            parse_err("0 25 * * *"),
            "cron field 2 (hour) '25': values run 0-23"
        );
        assert_eq!(
            parse_err("60 * * * *"),
            "cron field 1 (minute) '60': values run 0-59"
        );
        assert_eq!(
            parse_err("0 0 0 * *"),
            "cron field 3 (day-of-month) '0': values run 1-31"
        );
        assert_eq!(
            parse_err("0 0 32 * *"),
            "cron field 3 (day-of-month) '32': values run 1-31"
        );
        assert_eq!(
            parse_err("0 0 * 13 *"),
            "cron field 4 (month) '13': values run 1-12 or JAN-DEC"
        );
        assert_eq!(
            parse_err("0 0 * * 8"),
            "cron field 5 (day-of-week) '8': values run 0-7 (0 and 7 are Sunday) or SUN-SAT"
        );
        assert_eq!(
            parse_err("0 1-24 * * *"),
            "cron field 2 (hour) '24': values run 0-23"
        );
        assert_eq!(
            parse_err("99999999999 * * * *"),
            "cron field 1 (minute) '99999999999': values run 0-59"
        );
    }

    #[test]
    fn bad_values_are_rejected() {
        let err = parse_err("0 0 * FOO *");
        assert!(
            err.starts_with(
                "cron field 4 (month) 'FOO': not a valid value; values run 1-12 or JAN-DEC"
            ),
            "{err}"
        );
        let err = parse_err("0 0 * * MONDAY");
        assert!(
            err.starts_with("cron field 5 (day-of-week) 'MONDAY': not a valid value"),
            "{err}"
        );
        // Names belong to month and day-of-week only.
        assert!(
            parse_err("0 MON * * *").starts_with("cron field 2 (hour) 'MON': not a valid value")
        );
        for (expr, field) in [
            ("x * * * *", "cron field 1 (minute) 'x'"),
            ("-1 * * * *", "cron field 1 (minute) '-1'"),
            ("+1 * * * *", "cron field 1 (minute) '+1'"),
            ("0 0 L * *", "cron field 3 (day-of-month) 'L'"),
            ("0 0 ? * *", "cron field 3 (day-of-month) '?'"),
            ("0 0 * * 1#2", "cron field 5 (day-of-week) '1#2'"),
            ("1.5 * * * *", "cron field 1 (minute) '1.5'"),
            ("*-5 * * * *", "cron field 1 (minute) '*-5'"),
            ("** * * * *", "cron field 1 (minute) '**'"),
            ("1-2-3 * * * *", "cron field 1 (minute) '2-3'"),
            ("-5 * * * *", "cron field 1 (minute) '-5'"),
            ("5- * * * *", "cron field 1 (minute) '5-'"),
        ] {
            let err = parse_err(expr);
            assert!(err.starts_with(field), "{expr}: {err}");
        }
    }

    #[test]
    fn bad_steps_are_rejected() {
        assert_eq!(
            parse_err("*/0 * * * *"),
            "cron field 1 (minute) '*/0': step must be at least 1"
        );
        assert_eq!(
            parse_err("0 1-5/0 * * *"),
            "cron field 2 (hour) '1-5/0': step must be at least 1"
        );
        for (expr, field) in [
            (
                "*/ * * * *",
                "cron field 1 (minute) '*/': step '' is not a number",
            ),
            (
                "*/x * * * *",
                "cron field 1 (minute) '*/x': step 'x' is not a number",
            ),
            (
                "*/2/3 * * * *",
                "cron field 1 (minute) '*/2/3': step '2/3' is not a number",
            ),
            (
                "*/-1 * * * *",
                "cron field 1 (minute) '*/-1': step '-1' is not a number",
            ),
            (
                "/5 * * * *",
                "cron field 1 (minute) '/5': a value is missing",
            ),
            (
                "*/99999999999 * * * *",
                "cron field 1 (minute) '*/99999999999': step 99999999999 is too large",
            ),
        ] {
            let err = parse_err(expr);
            assert!(err.starts_with(field), "{expr}: {err}");
        }
    }

    #[test]
    fn reversed_ranges_are_rejected() {
        assert_eq!(
            parse_err("0 5-3 * * *"),
            "cron field 2 (hour) '5-3': range 5-3 runs backwards; write the smaller value first"
        );
        assert!(
            parse_err("0 0 * DEC-JAN *")
                .starts_with("cron field 4 (month) 'DEC-JAN': range DEC-JAN runs backwards")
        );
        assert!(
            parse_err("0 0 * * 7-0")
                .starts_with("cron field 5 (day-of-week) '7-0': range 7-0 runs backwards")
        );
        assert!(
            parse_err("0 0 * * 5-1/2")
                .starts_with("cron field 5 (day-of-week) '5-1/2': range 5-1 runs backwards")
        );
    }

    #[test]
    fn empty_list_items_are_rejected() {
        for (expr, field) in [
            (
                "1,,2 * * * *",
                "cron field 1 (minute) '1,,2': empty item in the list",
            ),
            (
                "1, * * * *",
                "cron field 1 (minute) '1,': empty item in the list",
            ),
            (
                "0 ,5 * * *",
                "cron field 2 (hour) ',5': empty item in the list",
            ),
            (
                "0 0 * * ,",
                "cron field 5 (day-of-week) ',': empty item in the list",
            ),
        ] {
            let err = parse_err(expr);
            assert!(err.starts_with(field), "{expr}: {err}");
        }
    }

    #[test]
    fn wrong_field_counts_are_rejected() {
        assert_eq!(
            parse_err("0 3 * *"),
            "cron expression '0 3 * *' has 4 fields; expected 5 (minute hour day-of-month month day-of-week) or a macro (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)"
        );
        assert!(
            parse_err("0 3 * * * *")
                .starts_with("cron expression '0 3 * * * *' has 6 fields; expected 5")
        );
        assert!(parse_err("5").starts_with("cron expression '5' has 1 field; expected 5"));
        assert!(parse_err("").starts_with("cron expression is empty; expected 5 fields"));
        assert!(parse_err("   ").starts_with("cron expression is empty"));
    }

    #[test]
    fn bad_macros_are_rejected() {
        assert_eq!(
            parse_err("@reboot"),
            "unknown cron macro '@reboot'; allowed: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"
        );
        assert!(parse_err("@").starts_with("unknown cron macro '@'"));
        assert_eq!(
            parse_err("@daily 5"),
            "cron expression '@daily 5': the macro @daily stands alone, with no other fields"
        );
        // A macro is not a field value.
        assert!(parse_err("0 @daily * * *").starts_with("cron field 2 (hour) '@daily'"));
    }

    // ---- zones ----

    #[test]
    fn zones_parse_by_iana_name() {
        assert_eq!(parse_zone("UTC").unwrap(), Tz::UTC);
        assert_eq!(parse_zone("Europe/Berlin").unwrap(), Europe::Berlin);
        assert_eq!(parse_zone("Asia/Shanghai").unwrap(), Asia::Shanghai);
        assert_eq!(parse_zone(" europe/berlin ").unwrap(), Europe::Berlin);
        assert_eq!(parse_zone("utc").unwrap(), Tz::UTC);
        assert_eq!(
            parse_zone("Mars/Olympus").unwrap_err(),
            "unknown time zone 'Mars/Olympus': use an IANA time-zone name such as 'UTC', 'Europe/Berlin' or 'Asia/Shanghai'"
        );
        assert!(
            parse_zone("")
                .unwrap_err()
                .starts_with("unknown time zone ''")
        );
        assert!(parse_zone("+08:00").unwrap_err().contains("IANA"));
    }
}
