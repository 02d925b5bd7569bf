//! Snapshot lifecycle statements: DROP SNAPSHOT (and, with them, the dry runs).

use std::sync::Arc;

use super::Outcome;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::jobs::human_bytes;
use crate::jobs::lifecycle::{self, DropRequest, Sweep};
use crate::repo::gc::Which;
use crate::repo::manifest;
use crate::sql::{DropSnapshot, TimestampFilter};

/// `"true"` / `"false"` of a boolean property.
pub fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::Common(format!(
            "Invalid {key} value: '{value}'; use \"true\" or \"false\""
        ))),
    }
}

/// A `TIMESTAMP = '...'` value must be StarRocks' `yyyy-MM-dd-HH-mm-ss-SSS`.
pub fn check_timestamp(ts: &str) -> Result<()> {
    if manifest::is_snapshot_timestamp(ts) {
        Ok(())
    } else {
        Err(Error::Common(format!(
            "Invalid snapshot timestamp '{ts}': expected yyyy-MM-dd-HH-mm-ss-SSS, as SHOW \
             SNAPSHOT prints it"
        )))
    }
}

/// `DROP SNAPSHOT label ON repo [WHERE TIMESTAMP = | <= 'ts'] [FORCE] [PROPERTIES ("dry_run" =
/// "true")]`: one row per snapshot dropped, with the objects and bytes only it held, and a last
/// row for the collection round.
pub async fn drop_snapshot(engine: &Arc<Engine>, stmt: DropSnapshot) -> Result<Outcome> {
    let mut dry_run = false;
    for (key, value) in &stmt.properties {
        match key.as_str() {
            "dry_run" => dry_run = parse_bool(key, value)?,
            _ => {
                return Err(Error::Common(format!(
                    "Unknown DROP SNAPSHOT property: {key}; the only one is dry_run"
                )));
            }
        }
    }
    let which = match &stmt.timestamp {
        None => Which::All,
        Some(TimestampFilter::Eq(ts)) => {
            check_timestamp(ts)?;
            Which::Eq(ts.clone())
        }
        Some(TimestampFilter::AtOrBefore(ts)) => {
            check_timestamp(ts)?;
            Which::AtOrBefore(ts.clone())
        }
    };
    let label = stmt.label.value.clone();
    if label.is_empty() || label.contains('/') {
        return Err(Error::Common(format!("Incorrect label name '{label}'")));
    }
    let repo = super::repository::open(engine, &stmt.repo.value).await?;
    let report = lifecycle::drop_snapshots(
        engine,
        repo,
        DropRequest {
            label,
            which,
            force: stmt.force,
            dry_run,
        },
    )
    .await?;
    let status = match &report.sweep {
        Sweep::DryRun => "DRY RUN: nothing was changed",
        _ => "DROPPED",
    };
    let mut rows: Vec<Vec<Option<String>>> = report
        .dropped
        .iter()
        .map(|d| {
            vec![
                Some(d.label.clone()),
                Some(d.timestamp.clone()),
                d.created_by.clone(),
                Some(d.freed_objects.to_string()),
                Some(d.freed_bytes.to_string()),
                Some(status.to_string()),
            ]
        })
        .collect();
    let (objects, bytes, sweep) = match report.sweep {
        Sweep::DryRun => {
            let objects: u64 = report.dropped.iter().map(|d| d.freed_objects).sum();
            let bytes: u64 = report.dropped.iter().map(|d| d.freed_bytes).sum();
            (
                objects,
                bytes,
                format!(
                    "DRY RUN: would remove {objects} objects ({})",
                    human_bytes(bytes)
                ),
            )
        }
        Sweep::Done(s) => (
            s.objects,
            s.bytes,
            format!(
                "DONE: removed {} objects ({}) no snapshot references{}",
                s.objects,
                human_bytes(s.bytes),
                if s.waited_for > 0 {
                    format!(", after {} running backups ended", s.waited_for)
                } else {
                    String::new()
                }
            ),
        ),
        Sweep::Deferred => (
            0,
            0,
            "PENDING: unreferenced objects are removed in the background once the backups \
             running now end"
                .to_string(),
        ),
        Sweep::Failed(e) => (
            0,
            0,
            format!(
                "FAILED: {e}; the snapshots are dropped and their objects are removed by a \
                 later round"
            ),
        ),
    };
    rows.push(vec![
        Some("(garbage collection)".into()),
        None,
        None,
        Some(objects.to_string()),
        Some(bytes.to_string()),
        Some(sweep),
    ]);
    Outcome::text_table(
        &[
            "Snapshot",
            "Timestamp",
            "CreatedBy",
            "Objects",
            "Bytes",
            "Status",
        ],
        rows,
    )
}
