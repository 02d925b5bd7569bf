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
/// when it is 0). A table is looked at without its lock; one with a tablet due is compacted if
/// its write lock is free (a table busy with a long write waits for the next round).
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
            let policy = Policy::default();
            // The tablets seen this round: the idle marks of others (dropped tables and
            // partitions, merged-away tablets' tables gone) are forgotten after it.
            let mut seen = std::collections::HashSet::new();
            for (db, t) in tables.iter().filter(|(_, t)| !disabled(t)) {
                let Ok(tree) = engine.catalog.table_tree(db, &t.name).await else {
                    continue;
                };
                seen.extend(
                    tree.partitions
                        .iter()
                        .flat_map(|p| &p.tablets)
                        .map(|tablet| tablet.tablet.id),
                );
                let due = tree
                    .partitions
                    .iter()
                    .flat_map(|p| &p.tablets)
                    .any(|tablet| {
                        !idle(&engine, tablet) && plan(tablet, Kind::Cumulative, &policy).is_some()
                    });
                if !due {
                    continue;
                }
                let Some(locked) = engine.table_locks.try_lock(tree.table.id) else {
                    continue;
                };
                if let Err(e) = compact_locked(
                    &engine,
                    db,
                    &t.name,
                    tree.table.id,
                    Kind::Cumulative,
                    &[],
                    true,
                )
                .await
                {
                    tracing::debug!(database = %db, table = %t.name, error = %e, "compaction round skipped the table");
                }
                drop(locked);
            }
            engine
                .compaction_idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|id, _| seen.contains(id));
        }
    });
}

/// A fingerprint of a tablet's files (its rowset ids).
fn fingerprint(tablet: &TabletTree) -> u64 {
    let mut ids: Vec<u64> = tablet.rowsets.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
    twox_hash::XxHash3_64::oneshot(&bytes)
}

/// Whether the background leaves `tablet` alone: its last merge failed or found nothing to
/// write, and its files are the same since.
fn idle(engine: &Engine, tablet: &TabletTree) -> bool {
    engine
        .compaction_idle
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&tablet.tablet.id)
        == Some(&fingerprint(tablet))
}

fn set_idle(engine: &Engine, tablet: &TabletTree, idle: bool) {
    let mut all = engine
        .compaction_idle
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if idle {
        all.insert(tablet.tablet.id, fingerprint(tablet));
    } else {
        all.remove(&tablet.tablet.id);
    }
}

/// `ALTER TABLE t [BASE | CUMULATIVE] COMPACT [partitions]`: merges now, answering the number
/// of files merged away (files taken in minus files written). A tablet whose merge failed, or
/// a table that changed under the merges, is an error naming it (the tablets merged before
/// stay merged).
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
    let meta = engine.catalog.table(&db, &name).await?;
    crate::catalog::tables::ensure_writable(&meta)?;
    let _locked = engine.table_locks.lock(meta.id).await;
    let done = compact_locked(engine, &db, &name, meta.id, kind, &partitions, false).await?;
    if let Some(failed) = done.failed.first() {
        return Err(Error::Common(format!(
            "ALTER TABLE {db}.{name} COMPACT merged {} of its tablets' files, but {} \
             tablet(s) failed, the first {failed}",
            done.merges,
            done.failed.len()
        )));
    }
    if let Some(why) = done.stale {
        return Err(Error::Common(format!(
            "{db}.{name} changed while it was compacted ({why}: a TRUNCATE, INSERT OVERWRITE, \
             RESTORE or DROP meanwhile); {} merges were committed before. Run it again",
            done.merges
        )));
    }
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
    /// Tablets whose merge failed: `tablet <id>: <why>`.
    pub failed: Vec<String>,
    /// Why the catalog refused a merge as stale (it stopped there).
    pub stale: Option<String>,
}

/// Input bytes the background merges in one table per round while holding its lock.
const ROUND_BYTES: u64 = 512 << 20;

/// Compacts the tablets of `db.name` (table `table_id`, whose write lock the caller holds) of
/// the partitions named (all when none are) that are due. Stops at the first merge the catalog
/// finds stale (the table changed under it: TRUNCATE, INSERT OVERWRITE, RESTORE, DROP); the
/// next round plans again. `background`: tablets marked idle are passed over, and a round
/// takes at most [`ROUND_BYTES`] of input.
async fn compact_locked(
    engine: &Arc<Engine>,
    db: &str,
    name: &str,
    table_id: u64,
    kind: Kind,
    partitions: &[String],
    background: bool,
) -> Result<Done> {
    let policy = Policy::default();
    // The files are read after the catalog under the collector's gate, and pinned tablet by
    // tablet until their merges are committed.
    let (tree, mut pinned) = {
        let _gate = engine.pins.gate().await;
        let tree = engine.catalog.table_tree(db, name).await?;
        if tree.table.id != table_id {
            return Ok(Done::default());
        }
        crate::catalog::tables::ensure_writable(&tree.table)?;
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
    let mut round_bytes = 0u64;
    for (p, keep) in tree.partitions.iter().zip(chosen) {
        if !keep {
            continue;
        }
        for tablet in &p.tablets {
            if background && (idle(engine, tablet) || round_bytes >= ROUND_BYTES) {
                continue;
            }
            let mut tablet = tablet.clone();
            // The files each merge writes stay pinned until the tablet is done: the next merge
            // of the tablet reads them.
            let mut written = Vec::new();
            for _ in 0..MERGES_PER_TABLET {
                let Some(plan) = plan(&tablet, kind, &policy) else {
                    break;
                };
                round_bytes += plan.data.iter().map(|r| r.bytes).sum::<u64>();
                let (merged, writing) = match merge_tablet(engine, &tablet, &plan).await {
                    Ok(Some(merged)) => merged,
                    Ok(None) => {
                        set_idle(engine, &tablet, true);
                        break;
                    }
                    Err(e) => {
                        crate::metrics::METRICS.compaction_failed();
                        record(engine, tablet.tablet.id, kind, Err(e.to_string()));
                        set_idle(engine, &tablet, true);
                        tracing::warn!(database = db, table = name, tablet = tablet.tablet.id, error = %e, "compaction failed");
                        done.failed
                            .push(format!("tablet {}: {e}", tablet.tablet.id));
                        break;
                    }
                };
                let (taken, wrote) = (merged.removed.len(), merged.added.len());
                let committed = match crate::failpoint::hit("compaction.before_commit").await {
                    Ok(()) => {
                        engine
                            .catalog
                            .commit_compaction(
                                (db, name),
                                tree.table.id,
                                p.partition.id,
                                tablet.tablet.id,
                                merged.removed.clone(),
                                merged.added.clone(),
                            )
                            .await
                    }
                    Err(e) => Err(crate::catalog::CatalogError::Storage(e.to_string())),
                };
                written.push(writing);
                // Whatever the outcome, files may now be garbage: the merged inputs, or the
                // outputs of a merge that was not committed.
                engine.pins.mark_dirty();
                match committed {
                    Ok(Ok(())) => {}
                    Ok(Err(stale)) => {
                        tracing::debug!(database = db, table = name, tablet = tablet.tablet.id, why = %stale.0, "compaction not committed");
                        done.stale = Some(stale.0);
                        release_all(engine, written).await;
                        return Ok(done);
                    }
                    Err(e) => {
                        release_all(engine, written).await;
                        return Err(e.into());
                    }
                }
                record(engine, tablet.tablet.id, kind, Ok((taken, wrote)));
                crate::metrics::METRICS.compacted(taken as u64, wrote as u64);
                done.merges += 1;
                done.taken += taken;
                done.written += wrote;
                tablet.rowsets.retain(|r| !merged.removed.contains(&r.id));
                tablet.rowsets.extend(merged.added);
                set_idle(engine, &tablet, false);
                if kind == Kind::Base {
                    break;
                }
            }
            release_all(engine, written).await;
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

async fn release_all(engine: &Engine, guards: Vec<crate::store::pins::PinGuard>) {
    for guard in guards {
        engine.pins.release(guard).await;
    }
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
