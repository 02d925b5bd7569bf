//! Dynamic partitioning at work: every `--dynamic-partition-interval` seconds (and right after
//! CREATE TABLE) each table with `dynamic_partition.enable` gets the partitions its properties
//! ask for created ahead and those that ended before `start` dropped (`catalog::dynamic` says
//! which). A dropped partition's files stay while a running backup pins them. SHOW DYNAMIC
//! PARTITION TABLES reports each table's last round.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::NaiveDateTime;

use super::{Outcome, Session};
use crate::catalog::dynamic::spec;
use crate::catalog::schema::{
    Datum, PartitionBounds, PartitionSpec, PartitionValuesSpec, RangeBound, partition_live_number,
};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// What the last round did to one table (by table id), for SHOW DYNAMIC PARTITION TABLES.
#[derive(Debug, Clone, Default)]
struct Round {
    at_ms: i64,
    created: String,
    dropped: String,
    error: Option<String>,
}

fn rounds() -> &'static Mutex<HashMap<u64, Round>> {
    static ROUNDS: OnceLock<Mutex<HashMap<u64, Round>>> = OnceLock::new();
    ROUNDS.get_or_init(Default::default)
}

fn now() -> NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(crate::clock::now_ms())
        .unwrap_or_default()
        .naive_utc()
}

/// One round for `db`.`table`: creates the missing partitions (one at a time, so a range some
/// partition already covers only skips that one) and drops the expired ones.
pub async fn round(engine: &Engine, db: &str, table: &str) -> Result<()> {
    let meta = engine.catalog.table(db, table).await?;
    if let Some(keep) = partition_live_number(&meta)? {
        return live_round(engine, db, &meta, keep).await;
    }
    let Some(spec) = spec(&meta).map_err(Error::Common)? else {
        return Ok(());
    };
    let tree = engine.catalog.table_tree(db, table).await?;
    let now = now();
    let mut created = Vec::new();
    let mut problems = Vec::new();
    for (name, lower, upper) in spec.wanted(now) {
        if tree
            .partitions
            .iter()
            .any(|p| p.partition.name.eq_ignore_ascii_case(&name))
        {
            continue;
        }
        let partition = PartitionSpec {
            name: name.clone(),
            values: PartitionValuesSpec::Range {
                lower: spec.bound_text(lower),
                upper: Some(spec.bound_text(upper)),
            },
        };
        match engine
            .catalog
            .add_partitions(db, table, vec![partition], spec.buckets, true)
            .await
        {
            Ok(_) => created.push(name),
            // A range another partition covers (created by hand) is left to it.
            Err(crate::catalog::CatalogError::InvalidDefinition(why)) => {
                problems.push(format!("{name}: {why}"));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let dropped = match spec.keep_from(now) {
        Some(keep_from) => {
            let expired = tree
                .partitions
                .iter()
                .filter(|p| ends_by(&p.partition.bounds, keep_from));
            drop_partitions(engine, db, &meta, expired).await?
        }
        None => Vec::new(),
    };
    record(db, &meta, created, dropped, problems);
    Ok(())
}

/// Drops `partitions` of table `meta` (those still there); returns the names dropped. Their
/// files go once no backup or query holds them.
async fn drop_partitions<'a>(
    engine: &Engine,
    db: &str,
    meta: &crate::catalog::TableMeta,
    partitions: impl Iterator<Item = &'a crate::catalog::PartitionTree>,
) -> Result<Vec<String>> {
    let mut dropped = Vec::new();
    for p in partitions {
        if engine
            .catalog
            .drop_partition_by_id(db, &meta.name, meta.id, p.partition.id)
            .await?
        {
            dropped.push(p.partition.name.clone());
        }
    }
    if !dropped.is_empty() {
        engine.pins.mark_dirty();
    }
    Ok(dropped)
}

/// Logs what a round changed and keeps it for SHOW DYNAMIC PARTITION TABLES.
fn record(
    db: &str,
    meta: &crate::catalog::TableMeta,
    created: Vec<String>,
    dropped: Vec<String>,
    problems: Vec<String>,
) {
    if !created.is_empty() || !dropped.is_empty() {
        tracing::info!(database = db, table = %meta.name, created = ?created, dropped = ?dropped, "dynamic partitions");
    }
    let mut all = rounds().lock().unwrap_or_else(|e| e.into_inner());
    all.insert(
        meta.id,
        Round {
            at_ms: crate::clock::now_ms(),
            created: created.join(", "),
            dropped: dropped.join(", "),
            error: (!problems.is_empty()).then(|| problems.join("; ")),
        },
    );
}

/// `partition_live_number` of a table partitioned by an expression (StarRocks' rule): keeps the
/// `keep` newest partitions that start at or before now, and every later one; drops the others.
async fn live_round(
    engine: &Engine,
    db: &str,
    meta: &crate::catalog::TableMeta,
    keep: usize,
) -> Result<()> {
    let tree = engine.catalog.table_tree(db, &meta.name).await?;
    let now = now();
    let start = |bounds: &PartitionBounds| match bounds {
        PartitionBounds::Range {
            lower: RangeBound::Value(v),
            ..
        } => time_of(v),
        PartitionBounds::Range {
            lower: RangeBound::Min,
            ..
        } => Some(NaiveDateTime::MIN),
        _ => None,
    };
    let mut past: Vec<(NaiveDateTime, &crate::catalog::PartitionTree)> = tree
        .partitions
        .iter()
        .filter_map(|p| start(&p.partition.bounds).map(|s| (s, p)))
        .filter(|(s, _)| *s <= now)
        .collect();
    past.sort_by_key(|p| std::cmp::Reverse(p.0));
    let older = past.iter().skip(keep).map(|(_, p)| *p);
    let dropped = drop_partitions(engine, db, meta, older).await?;
    record(db, meta, Vec::new(), dropped, Vec::new());
    Ok(())
}

/// Whether a range partition ends at or before `t` (a partition up to MAXVALUE never does).
fn ends_by(bounds: &PartitionBounds, t: NaiveDateTime) -> bool {
    let PartitionBounds::Range {
        upper: RangeBound::Value(upper),
        ..
    } = bounds
    else {
        return false;
    };
    time_of(upper).is_some_and(|u| u <= t)
}

/// A DATE (at midnight) or DATETIME partition value as a time; `None` for other types.
fn time_of(value: &Datum) -> Option<NaiveDateTime> {
    match value {
        Datum::Date(d) => d.and_hms_opt(0, 0, 0),
        Datum::DateTime(t) => Some(*t),
        _ => None,
    }
}

/// Runs rounds for every dynamic table, for the daemon's life, every `--dynamic-partition-interval`
/// seconds while dynamic partitioning is enabled (`0` at start, or `ADMIN SET FRONTEND CONFIG
/// ("dynamic_partition_enable" = "false")`, turns it off).
pub fn start_loop(engine: &Arc<Engine>) {
    let engine = Arc::clone(engine);
    tokio::spawn(async move {
        let mut first = true;
        loop {
            // `ADMIN SET FRONTEND CONFIG` may change both while this waits: looked at each
            // second.
            // The first round comes a second after the start: a restart must not leave
            // today's partition missing for a whole interval.
            let mut waited = if first { u64::MAX - 1 } else { 0 };
            first = false;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                waited = waited.saturating_add(1);
                if waited >= engine.dynamic_partition_interval.load(Ordering::Relaxed) {
                    break;
                }
            }
            if !engine.dynamic_partition_enable.load(Ordering::Relaxed) {
                continue;
            }
            let Ok(tables) = engine.catalog.all_tables().await else {
                continue;
            };
            for (db, t) in tables {
                if !matches!(spec(&t), Ok(Some(_)))
                    && !matches!(partition_live_number(&t), Ok(Some(_)))
                {
                    continue;
                }
                if let Err(e) = round(&engine, &db, &t.name).await {
                    tracing::warn!(database = %db, table = %t.name, error = %e, "dynamic partition round failed");
                    let mut all = rounds().lock().unwrap_or_else(|e| e.into_inner());
                    let entry = all.entry(t.id).or_default();
                    entry.at_ms = crate::clock::now_ms();
                    entry.error = Some(e.to_string());
                }
            }
        }
    });
}

/// `SHOW DYNAMIC PARTITION TABLES [{FROM | IN} db]`, StarRocks' columns.
pub async fn show(engine: &Engine, session: &Session, db: Option<String>) -> Result<Outcome> {
    let db = match db {
        Some(db) => db,
        None => session.database.clone().ok_or(Error::NoDatabaseSelected)?,
    };
    let mut rows = Vec::new();
    for t in engine.catalog.tables(&db).await? {
        let Ok(Some(s)) = spec(&t) else {
            continue;
        };
        let last = rounds()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&t.id)
            .cloned()
            .unwrap_or_default();
        rows.push(vec![
            Some(t.name.clone()),
            Some("true".into()),
            Some(s.unit.as_str().into()),
            Some(s.start.map_or("-2147483648".into(), |v| v.to_string())),
            Some(s.end.to_string()),
            Some(s.prefix.clone()),
            Some(
                s.buckets
                    .unwrap_or_else(|| t.distribution.buckets())
                    .to_string(),
            ),
            Some("1".into()),
            Some("N/A".into()),
            super::format_datetime_ms(t.created_ms),
            super::format_datetime_ms(last.at_ms),
            Some(
                if last.error.is_some() {
                    "ERROR"
                } else {
                    "NORMAL"
                }
                .into(),
            ),
            Some(match &last.error {
                Some(e) => e.clone(),
                None if last.created.is_empty() => "N/A".into(),
                None => format!("created {}", last.created),
            }),
            Some(if last.dropped.is_empty() {
                "N/A".into()
            } else {
                format!("dropped {}", last.dropped)
            }),
            Some(
                engine
                    .dynamic_partition_enable
                    .load(Ordering::Relaxed)
                    .to_string(),
            ),
        ]);
    }
    Outcome::text_table(
        &[
            "TableName",
            "Enable",
            "TimeUnit",
            "Start",
            "End",
            "Prefix",
            "Buckets",
            "ReplicationNum",
            "StartOf",
            "LastUpdateTime",
            "LastSchedulerTime",
            "State",
            "LastCreatePartitionMsg",
            "LastDropPartitionMsg",
            "InScheduler",
        ],
        rows,
    )
}

/// The settings `ADMIN SET FRONTEND CONFIG` changes (StarRocks' names): (key, type, comment).
const SETTINGS: [(&str, &str, &str); 2] = [
    (
        "dynamic_partition_enable",
        "boolean",
        "whether dynamic partitioning creates and drops partitions in the background",
    ),
    (
        "dynamic_partition_check_interval_seconds",
        "long",
        "seconds between two background rounds of dynamic partitioning",
    ),
];

/// `ADMIN SET FRONTEND CONFIG ("key" = "value", ...)`: the dynamic partitioning settings, for
/// this run of the daemon (as in StarRocks, a restart goes back to the command line's). Every
/// key is checked before any changes.
pub fn set_config(engine: &Engine, props: &[(String, String)]) -> Result<Outcome> {
    let mut enable = None;
    let mut interval = None;
    for (key, value) in props {
        match key.to_ascii_lowercase().as_str() {
            "dynamic_partition_enable" => {
                enable = Some(match value.trim().to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(Error::Common(format!(
                            "Invalid value '{value}' of dynamic_partition_enable: write true or false"
                        )));
                    }
                });
            }
            "dynamic_partition_check_interval_seconds" => {
                interval = Some(
                    value
                        .trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (1..=86_400).contains(n))
                        .ok_or_else(|| {
                            Error::Common(format!(
                                "Invalid value '{value}' of dynamic_partition_check_interval_seconds: \
                                 write seconds from 1 to 86400"
                            ))
                        })?,
                );
            }
            _ => {
                return Err(Error::Common(format!(
                    "Config '{key}' does not exist or is not mutable in backstop; it has \
                     dynamic_partition_enable and dynamic_partition_check_interval_seconds \
                     (ADMIN SHOW FRONTEND CONFIG lists them)"
                )));
            }
        }
    }
    if let Some(on) = enable {
        engine.dynamic_partition_enable.store(on, Ordering::Relaxed);
    }
    if let Some(secs) = interval {
        engine
            .dynamic_partition_interval
            .store(secs, Ordering::Relaxed);
    }
    Ok(Outcome::ok())
}

/// `ADMIN SHOW FRONTEND CONFIG [LIKE 'pattern']`: StarRocks' columns, for the settings
/// `ADMIN SET FRONTEND CONFIG` changes.
pub fn show_config(engine: &Engine, like: Option<String>) -> Result<Outcome> {
    let rows = SETTINGS
        .iter()
        .filter(|(key, _, _)| {
            like.as_deref()
                .is_none_or(|p| super::database::like_match(p, key))
        })
        .map(|(key, ty, comment)| {
            let value = match *key {
                "dynamic_partition_enable" => engine
                    .dynamic_partition_enable
                    .load(Ordering::Relaxed)
                    .to_string(),
                _ => engine
                    .dynamic_partition_interval
                    .load(Ordering::Relaxed)
                    .to_string(),
            };
            vec![
                Some((*key).to_string()),
                Some("[]".to_string()),
                Some(value),
                Some((*ty).to_string()),
                Some("true".to_string()),
                Some((*comment).to_string()),
            ]
        })
        .collect();
    Outcome::text_table(
        &["Key", "AliasNames", "Value", "Type", "IsMutable", "Comment"],
        rows,
    )
}
