//! Dynamic partitioning: StarRocks' `dynamic_partition.*` table properties, read into a
//! [`DynamicSpec`] that says which range partitions a table should have at a given time (created
//! ahead up to `end` units, dropped once they end before `start`). The task that applies it runs
//! above (`command::dynamic`); this is the pure part.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use super::schema::{ColumnType, Partitioning, TableMeta};

pub use crate::sql::TimeUnit;

/// What `dynamic_partition.*` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicSpec {
    pub unit: TimeUnit,
    /// Partitions that end before `start` units from now are dropped; `None`: never.
    pub start: Option<i64>,
    /// Partitions are kept created up to `end` units ahead (the current one included).
    pub end: i64,
    pub prefix: String,
    /// Buckets of the partitions it creates (`None`: the table's).
    pub buckets: Option<u32>,
    /// `create_history_partition`: also create the partitions from `start` (or the last
    /// `history_partition_num`) up to now.
    pub create_history: bool,
    pub history_partitions: Option<i64>,
    /// The column is DATETIME (bounds carry a time).
    pub datetime: bool,
}

/// Most partitions a dynamic table's history and future may hold (StarRocks'
/// `max_dynamic_partition_num`).
pub const MAX_DYNAMIC_PARTITIONS: i64 = 500;

const KEYS: &[&str] = &[
    "enable",
    "time_unit",
    "start",
    "end",
    "prefix",
    "buckets",
    "create_history_partition",
    "history_partition_num",
    "time_zone",
    "replication_num",
    "start_day_of_week",
    "start_day_of_month",
];

/// The table's dynamic partitioning, if enabled: `Ok(None)` when it has none (or
/// `"dynamic_partition.enable" = "false"`), `Err` naming the property that is wrong.
pub fn spec(table: &TableMeta) -> Result<Option<DynamicSpec>, String> {
    spec_of(&table.properties, table)
}

fn spec_of(
    properties: &BTreeMap<String, String>,
    table: &TableMeta,
) -> Result<Option<DynamicSpec>, String> {
    let get = |key: &str| {
        properties
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&format!("dynamic_partition.{key}")))
            .map(|(_, v)| v.trim())
    };
    let any = properties
        .keys()
        .any(|k| k.to_ascii_lowercase().starts_with("dynamic_partition."));
    if !any || get("enable").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        return Ok(None);
    }
    for key in properties.keys() {
        let lower = key.to_ascii_lowercase();
        if let Some(name) = lower.strip_prefix("dynamic_partition.")
            && !KEYS.contains(&name)
        {
            return Err(format!("Unknown dynamic partition property: {key}"));
        }
    }
    if let Some(v) = get("enable")
        && !v.eq_ignore_ascii_case("true")
    {
        return Err(format!(
            "Invalid dynamic_partition.enable: '{v}'; use \"true\" or \"false\""
        ));
    }
    if let Some(tz) = get("time_zone")
        && !matches!(tz, "UTC" | "Etc/UTC" | "+00:00")
    {
        return Err(format!(
            "dynamic_partition.time_zone '{tz}' is not supported: backstop's dynamic partitions \
             follow UTC"
        ));
    }
    if get("start_day_of_week").is_some_and(|v| v != "1")
        || get("start_day_of_month").is_some_and(|v| v != "1")
    {
        return Err(
            "dynamic_partition.start_day_of_week / start_day_of_month other than 1 are not \
             supported: weeks start on Monday, months on the 1st"
                .into(),
        );
    }
    let unit = match get("time_unit") {
        Some(text) => TimeUnit::parse(text).ok_or_else(|| {
            format!(
                "Invalid dynamic_partition.time_unit: '{}'; use HOUR, DAY, WEEK, MONTH or YEAR",
                text.to_ascii_uppercase()
            )
        })?,
        None => return Err("dynamic_partition.time_unit is required".into()),
    };
    let int = |key: &str| -> Result<Option<i64>, String> {
        get(key)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| format!("Invalid dynamic_partition.{key}: '{v}'; a whole number"))
            })
            .transpose()
    };
    let end = int("end")?.ok_or("dynamic_partition.end is required")?;
    if !(1..MAX_DYNAMIC_PARTITIONS).contains(&end) {
        return Err(format!(
            "dynamic_partition.end must be between 1 and {}, not {end}",
            MAX_DYNAMIC_PARTITIONS - 1
        ));
    }
    let start = int("start")?.filter(|s| *s != i64::from(i32::MIN));
    if let Some(s) = start
        && !(-100_000..=-1).contains(&s)
    {
        return Err(format!(
            "dynamic_partition.start must be between -100000 and -1, not {s}"
        ));
    }
    let buckets = int("buckets")?
        .map(|b| {
            u32::try_from(b)
                .ok()
                .filter(|b| super::schema::validate_buckets(*b).is_ok())
                .ok_or_else(|| format!("Invalid dynamic_partition.buckets: {b}; 1 to 1024"))
        })
        .transpose()?;
    let prefix = get("prefix").unwrap_or("p").to_string();
    // The longest name the unit gives (an hour's: yyyyMMddHH) must be a valid partition name.
    super::validate_partition_name(&format!("{prefix}2026010100"))
        .map_err(|e| format!("Invalid dynamic_partition.prefix: '{prefix}' ({e})"))?;
    let create_history = match get("create_history_partition") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(format!(
                "Invalid dynamic_partition.create_history_partition: '{v}'"
            ));
        }
    };
    let history_partitions = int("history_partition_num")?.filter(|n| *n > 0);
    // StarRocks' max_dynamic_partition_num: a round creates at most this many.
    if create_history {
        let back = match (start, history_partitions) {
            (Some(s), Some(n)) => (-s).min(n),
            (Some(s), None) => -s,
            (None, Some(n)) => n,
            (None, None) => 0,
        };
        if back + end + 1 > MAX_DYNAMIC_PARTITIONS {
            return Err(format!(
                "dynamic partitioning would create {} partitions, more than \
                 {MAX_DYNAMIC_PARTITIONS}: narrow start, end or history_partition_num",
                back + end + 1
            ));
        }
    }
    let column = match &table.partitioning {
        Partitioning::Range { column, .. } => column,
        _ => {
            return Err(
                "dynamic partitioning needs PARTITION BY RANGE on a DATE or DATETIME column".into(),
            );
        }
    };
    let datetime = match table.column(column).map(|c| c.data_type) {
        Some(ColumnType::Date) => false,
        Some(ColumnType::DateTime) => true,
        _ => {
            return Err(format!(
                "dynamic partitioning needs a DATE or DATETIME partition column; {column} is not"
            ));
        }
    };
    if unit == TimeUnit::Hour && !datetime {
        return Err("dynamic_partition.time_unit HOUR needs a DATETIME partition column".into());
    }
    Ok(Some(DynamicSpec {
        unit,
        start,
        end,
        prefix,
        buckets,
        create_history,
        history_partitions,
        datetime,
    }))
}

impl DynamicSpec {
    /// The start of the unit `t` is in (weeks start on Monday).
    pub fn floor(&self, t: NaiveDateTime) -> NaiveDateTime {
        self.unit.floor(t)
    }

    /// `t` moved by `n` units.
    pub fn shift(&self, t: NaiveDateTime, n: i64) -> Option<NaiveDateTime> {
        self.unit.shift(t, n)
    }

    /// StarRocks' name of the partition starting at `lower`.
    pub fn name(&self, lower: NaiveDateTime) -> String {
        format!("{}{}", self.prefix, self.unit.suffix(lower))
    }

    /// A bound as the partition column's text.
    pub fn bound_text(&self, t: NaiveDateTime) -> String {
        crate::sql::bound_text(t, self.datetime)
    }

    /// The partitions the table should have at `now`: `(name, lower, upper)`, oldest first.
    pub fn wanted(&self, now: NaiveDateTime) -> Vec<(String, NaiveDateTime, NaiveDateTime)> {
        let current = self.floor(now);
        let first = if self.create_history {
            match (self.start, self.history_partitions) {
                (Some(s), Some(n)) => s.max(-n),
                (Some(s), None) => s,
                (None, Some(n)) => -n,
                (None, None) => 0,
            }
            .max(-MAX_DYNAMIC_PARTITIONS)
        } else {
            0
        };
        (first..=self.end)
            .filter_map(|i| {
                let lower = self.shift(current, i)?;
                let upper = self.shift(current, i + 1)?;
                Some((self.name(lower), lower, upper))
            })
            .collect()
    }

    /// Partitions that end at or before this instant are dropped (`None`: none are).
    pub fn keep_from(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        self.start.and_then(|s| self.shift(self.floor(now), s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::schema::{ColumnMeta, Distribution, KeyDesc, KeyModel, TableState};

    fn table(props: &[(&str, &str)], ty: ColumnType) -> TableMeta {
        TableMeta {
            id: 1,
            db_id: 1,
            name: "t".into(),
            columns: vec![ColumnMeta {
                name: "dt".into(),
                data_type: ty,
                nullable: false,
                default: None,
                comment: None,
                aggregate: None,
            }],
            key: KeyDesc {
                model: KeyModel::Duplicate,
                columns: vec!["dt".into()],
            },
            comment: None,
            partitioning: Partitioning::Range {
                column: "dt".into(),
                auto: None,
            },
            distribution: Distribution::Random { buckets: 1 },
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            created_ms: 0,
            state: TableState::Normal,
            materialized: None,
        }
    }

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn days_ahead_and_behind() {
        let t = table(
            &[
                ("dynamic_partition.enable", "true"),
                ("dynamic_partition.time_unit", "DAY"),
                ("dynamic_partition.start", "-2"),
                ("dynamic_partition.end", "2"),
                ("dynamic_partition.prefix", "p"),
            ],
            ColumnType::Date,
        );
        let s = spec(&t).unwrap().unwrap();
        let names: Vec<String> = s
            .wanted(at("2026-12-31 10:00:00"))
            .into_iter()
            .map(|(n, _, _)| n)
            .collect();
        assert_eq!(names, ["p20261231", "p20270101", "p20270102"]);
        assert_eq!(
            s.keep_from(at("2026-12-31 10:00:00")),
            Some(at("2026-12-29 00:00:00"))
        );
        let with_history = DynamicSpec {
            create_history: true,
            ..s.clone()
        };
        assert_eq!(with_history.wanted(at("2026-12-31 10:00:00")).len(), 5);
    }

    #[test]
    fn weeks_months_years_and_hours() {
        let mut s = spec(&table(
            &[
                ("dynamic_partition.time_unit", "WEEK"),
                ("dynamic_partition.end", "1"),
            ],
            ColumnType::DateTime,
        ))
        .unwrap()
        .unwrap();
        // 2026-12-31 is a Thursday of ISO week 53.
        let w = s.wanted(at("2026-12-31 10:00:00"));
        assert_eq!(w[0].0, "p2026_53");
        assert_eq!(s.bound_text(w[0].1), "2026-12-28 00:00:00");
        s.unit = TimeUnit::Month;
        assert_eq!(s.wanted(at("2026-12-31 10:00:00"))[1].0, "p202701");
        s.unit = TimeUnit::Year;
        assert_eq!(s.wanted(at("2026-12-31 10:00:00"))[0].0, "p2026");
        s.unit = TimeUnit::Hour;
        assert_eq!(s.wanted(at("2026-12-31 23:30:00"))[1].0, "p2027010100");
    }

    #[test]
    fn bad_properties_are_named() {
        let bad = |props: &[(&str, &str)], ty| spec(&table(props, ty)).unwrap_err();
        assert!(
            bad(&[("dynamic_partition.enable", "true")], ColumnType::Date).contains("time_unit")
        );
        assert!(
            bad(
                &[
                    ("dynamic_partition.time_unit", "DAY"),
                    ("dynamic_partition.end", "0")
                ],
                ColumnType::Date
            )
            .contains("between 1 and 499")
        );
        assert!(
            bad(
                &[
                    ("dynamic_partition.time_unit", "HOUR"),
                    ("dynamic_partition.end", "3")
                ],
                ColumnType::Date
            )
            .contains("DATETIME")
        );
        assert!(
            bad(
                &[
                    ("dynamic_partition.time_unit", "DAY"),
                    ("dynamic_partition.end", "3"),
                    ("dynamic_partition.nope", "1")
                ],
                ColumnType::Date
            )
            .contains("Unknown dynamic partition property")
        );
        assert!(
            spec(&table(
                &[("dynamic_partition.enable", "false")],
                ColumnType::Date
            ))
            .unwrap()
            .is_none()
        );
    }
}
