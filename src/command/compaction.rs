//! Compaction of tables' small rowset files: in the background every `--compaction-interval`
//! seconds (tables with `"disable_auto_compaction" = "true"` are left out), and on request with
//! `ALTER TABLE t [BASE | CUMULATIVE] COMPACT [partitions]`. What a merge writes, and why it
//! never changes what queries or CHECKSUM TABLE see, is in `store::compaction`.
//!
//! A table is compacted under its write lock (the one keyed loads, DELETE and UPDATE take), so
//! no delete file appears while its tablets are merged; plain loads of other tables, and of
//! DUPLICATE KEY tables, run beside it (they only add files). The files merged are pinned until
//! the merge is committed, and then stay for as long as a query, a BACKUP or a RESTORE still
//! pins them: a snapshot keeps the objects it names, and the next BACKUP uploads the merged
//! files as new objects.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::catalog::TabletTree;
use crate::catalog::schema::TableMeta;
use crate::engine::Engine;
use crate::sql::CompactTable;
use crate::store::compaction::{Kind, Merged, Plan, Policy, merge, plan};
use crate::{Error, Result};

use super::{Outcome, Session, table};

/// The table property that keeps the background from compacting a table (Apache Doris' name;
/// `ALTER TABLE ... COMPACT` still does).
pub const DISABLE_PROPERTY: &str = "disable_auto_compaction";

/// Merges one tablet may have in one round of the background (each merge takes a tier).
const MERGES_PER_TABLET: usize = 8;

/// Whether `table`'s property turns the background's compaction off.
pub fn disabled(table: &TableMeta) -> bool {
    table
        .properties
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case(DISABLE_PROPERTY) && v.eq_ignore_ascii_case("true"))
}

/// Checks a `disable_auto_compaction` value (CREATE TABLE, ALTER TABLE SET).
pub fn check_property<'a>(
    properties: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<()> {
    for (k, v) in properties {
        if k.eq_ignore_ascii_case(DISABLE_PROPERTY)
            && !v.eq_ignore_ascii_case("true")
            && !v.eq_ignore_ascii_case("false")
        {
            return Err(Error::Common(format!(
                "Invalid value '{v}' of property {DISABLE_PROPERTY}: write \"true\" or \"false\""
            )));
        }
    }
    Ok(())
}

/// Compacts every table whose tablets are due, every `--compaction-interval` seconds (never
/// when it is 0).
pub fn start_loop(engine: &Arc<Engine>) {
    let engine = Arc::clone(engine);
    tokio::spawn(async move {
        loop {
            let interval = engine.compaction_interval.load(Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(interval.max(1))).await;
            if interval == 0 {
                continue;
            }
            let Ok(tables) = engine.catalog.all_tables().await else {
                continue;
            };
            for (db, t) in tables.iter().filter(|(_, t)| !disabled(t)) {
                if let Err(e) = compact_table(&engine, db, &t.name, Kind::Cumulative, &[]).await {
                    tracing::debug!(database = %db, table = %t.name, error = %e, "compaction round skipped the table");
                }
            }
        }
    });
}

/// `ALTER TABLE t [BASE | CUMULATIVE] COMPACT [partitions]`: merges now, answering the number
/// of files merged away (files taken in minus files written).
pub async fn compact(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: CompactTable,
) -> Result<Outcome> {
    let (db, name) = table::resolve(session, &stmt.table)?;
    let kind = if stmt.base {
        Kind::Base
    } else {
        Kind::Cumulative
    };
    let partitions: Vec<String> = stmt.partitions.iter().map(|p| p.value.clone()).collect();
    let done = compact_table(engine, &db, &name, kind, &partitions).await?;
    Ok(Outcome::Done {
        affected_rows: done.taken.saturating_sub(done.written) as u64,
    })
}

/// What one table's compaction did.
#[derive(Debug, Default)]
pub struct Done {
    pub merges: usize,
    pub taken: usize,
    pub written: usize,
}

/// Compacts the tablets of `db.name` (of the partitions named, or all) that are due. Stops at
/// the first merge the catalog finds stale (the table changed under it: TRUNCATE, INSERT
/// OVERWRITE, RESTORE, DROP); the next round plans again.
pub async fn compact_table(
    engine: &Arc<Engine>,
    db: &str,
    name: &str,
    kind: Kind,
    partitions: &[String],
) -> Result<Done> {
    let meta = engine.catalog.table(db, name).await?;
    crate::catalog::tables::ensure_writable(&meta)?;
    let policy = Policy::default();
    let _locked = engine.table_locks.lock(meta.id).await;
    // The files are read after the catalog under the collector's gate, and pinned tablet by
    // tablet until their merge is committed.
    let (tree, mut pinned) = {
        let _gate = engine.pins.gate().await;
        let tree = engine.catalog.table_tree(db, name).await?;
        if tree.table.id != meta.id {
            return Ok(Done::default());
        }
        let pinned: HashMap<u64, crate::store::pins::PinGuard> = tree
            .partitions
            .iter()
            .flat_map(|p| &p.tablets)
            .map(|t| (t.tablet.id, engine.pins.pin(t.rowsets.iter().map(|r| r.id))))
            .collect();
        (tree, pinned)
    };
    let chosen = tree.chosen_partitions(partitions)?;
    let mut done = Done::default();
    for (p, keep) in tree.partitions.iter().zip(chosen) {
        if !keep {
            continue;
        }
        for tablet in &p.tablets {
            let mut tablet = tablet.clone();
            for _ in 0..MERGES_PER_TABLET {
                let Some(plan) = plan(&tablet, kind, &policy) else {
                    break;
                };
                let (merged, writing) = match merge_tablet(engine, &tablet, &plan).await {
                    Ok(Some(merged)) => merged,
                    Ok(None) => break,
                    Err(e) => {
                        crate::metrics::METRICS.compaction_failed();
                        record(engine, tablet.tablet.id, kind, Err(e.to_string()));
                        tracing::warn!(database = db, table = name, tablet = tablet.tablet.id, error = %e, "compaction failed");
                        if kind == Kind::Base {
                            return Err(e);
                        }
                        break;
                    }
                };
                let (taken, written) = (merged.removed.len(), merged.added.len());
                crate::failpoint::hit("compaction.before_commit").await?;
                let committed = engine
                    .catalog
                    .commit_compaction(
                        (db, name),
                        tree.table.id,
                        p.partition.id,
                        tablet.tablet.id,
                        merged.removed.clone(),
                        merged.added.clone(),
                    )
                    .await;
                // Committed, the new files are the catalog's; not, they are garbage.
                engine.pins.release(writing).await;
                engine.pins.mark_dirty();
                match committed? {
                    Ok(()) => {}
                    Err(stale) => {
                        tracing::debug!(database = db, table = name, tablet = tablet.tablet.id, why = %stale.0, "compaction not committed");
                        return Ok(done);
                    }
                }
                record(engine, tablet.tablet.id, kind, Ok((taken, written)));
                crate::metrics::METRICS.compacted(taken as u64, written as u64);
                done.merges += 1;
                done.taken += taken;
                done.written += written;
                tablet.rowsets.retain(|r| !merged.removed.contains(&r.id));
                tablet.rowsets.extend(merged.added);
                if kind == Kind::Base {
                    break;
                }
            }
            // The tablet's old files may go once nothing else pins them.
            drop(pinned.remove(&tablet.tablet.id));
        }
    }
    if done.merges > 0 {
        tracing::info!(
            database = db,
            table = name,
            merges = done.merges,
            files_in = done.taken,
            files_out = done.written,
            "compacted"
        );
    }
    Ok(done)
}

/// Writes one merge's files (pinned until the caller commits or drops them).
async fn merge_tablet(
    engine: &Arc<Engine>,
    tablet: &TabletTree,
    plan: &Plan,
) -> Result<Option<(Merged, crate::store::pins::PinGuard)>> {
    let ids = engine.catalog.reserve_ids(plan.data.len() + 1).await?;
    let writing = engine.pins.pin(ids.iter().copied());
    let data_dir = engine.config.data_dir.clone();
    let (tablet, plan) = (tablet.clone(), plan.clone());
    let merged = tokio::task::spawn_blocking(move || merge(&data_dir, &tablet, &plan, ids))
        .await
        .map_err(|e| Error::Internal(format!("the compaction task failed: {e}")))?
        .map_err(|e| Error::Internal(format!("compaction: {e}")))?;
    Ok(merged.map(|m| (m, writing)))
}

fn record(
    engine: &Engine,
    tablet: u64,
    kind: Kind,
    outcome: std::result::Result<(usize, usize), String>,
) {
    let mut all = engine.compactions.lock().unwrap_or_else(|e| e.into_inner());
    all.insert(
        tablet,
        crate::store::compaction::Status {
            at_ms: crate::clock::now_ms(),
            kind,
            outcome,
        },
    );
}

/// What SHOW TABLET says of tablet `id`'s last compaction on this server (empty: none since
/// the start).
pub fn status(engine: &Engine, id: u64) -> String {
    engine
        .compactions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .map(|c| c.to_string())
        .unwrap_or_default()
}
