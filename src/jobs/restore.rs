//! The RESTORE job: PENDING → SNAPSHOTING → DOWNLOAD → DOWNLOADING → COMMIT → COMMITTING →
//! FINISHED (DESIGN.md "Jobs").
//!
//! - PENDING checks every target against the manifest (an existing table must match the
//!   snapshot's schema), checks the data directory has room, marks existing targets as being
//!   restored (writes and DDL refused, reads still see the old data) and draws every id the
//!   commit will use.
//! - DOWNLOADING streams each object straight to its final rowset path (through a temporary
//!   file), checking its size and sha256; the files are invisible until the commit adds their
//!   rows, and start-up removes them if the daemon dies first. Their writeback starts as each
//!   one is written, and one `syncfs` of the data folder makes them all durable before COMMIT.
//! - COMMIT is one catalog transaction ([`crate::catalog::restore`]); from its start CANCEL is
//!   refused, and the job's FINISHED record is written in the same transaction.
//! - Any failure or cancel before COMMIT removes the downloaded files and unmarks the tables:
//!   existing data is exactly as it was.

use std::path::PathBuf;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use crate::catalog::restore::{RestoreCommit, RestorePartition, RestoreTable, bounds_conflict};
use crate::catalog::{PartitionMeta, RowsetMeta, TableMeta, TableState, TableTree, TabletMeta};
use crate::engine::Engine;
use crate::repo::Repository;
use crate::repo::download::DownloadError;
use crate::repo::manifest::{Manifest, ManifestTable};
use crate::repo::store::StoreError;
use crate::scheduler::{Job, JobError, JobState, JobStatus};

/// Room kept free beyond the staged copy.
const DISK_MARGIN: u64 = 64 << 20;

/// One table to restore.
#[derive(Debug, Clone)]
pub struct RestoreItem {
    /// The table's name in the snapshot.
    pub source: String,
    /// The name to restore it under (`AS`), else the source name.
    pub target: String,
    /// Partitions to restore (names in the snapshot); empty: all of them.
    pub partitions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RestoreRequest {
    pub manifest: Manifest,
    pub items: Vec<RestoreItem>,
    /// Views to restore (after the tables), by the same rules of names.
    pub views: Vec<RestoreItem>,
    /// `user@host` of who restores: the restored views' and materialized views' definer (a
    /// snapshot's own definer is not trusted; the statement checked this user's reads).
    pub definer: String,
    /// `reserve_dynamic_partition_enable`: keep restored tables' dynamic partitioning on.
    pub reserve_dynamic: bool,
    pub replication_num: Option<u32>,
    pub transfer: crate::scheduler::TransferSettings,
}

/// One object to download to one rowset path.
#[derive(Debug, Clone)]
struct Download {
    key: String,
    sha256: String,
    size: u64,
    path: PathBuf,
}

pub async fn run(engine: Arc<Engine>, job: Arc<Job>, repo: Arc<Repository>, req: RestoreRequest) {
    let result = job.observing(steps(&engine, &job, &repo, &req)).await;
    engine.jobs.release(job.id());
    match result {
        Ok(()) => job.mark_done(),
        Err(e) => {
            // Nothing was committed: put the tables back and remove the downloaded files.
            let record = job.record();
            if let Err(err) = engine.catalog.unmark_restoring(Some(record.id)).await {
                tracing::error!(job = record.id, error = %err, "cannot unmark restored tables");
            }
            for path in &record.staged {
                let _ = tokio::fs::remove_file(path).await;
                let _ = tokio::fs::remove_file(crate::repo::download::temporary_path(path)).await;
            }
            engine.jobs.finish_failed(&job, e).await;
        }
    }
}

fn fail(code: &str, msg: impl Into<String>) -> JobError {
    JobError::Failed(JobStatus::error(code, msg))
}

async fn steps(
    engine: &Arc<Engine>,
    job: &Arc<Job>,
    repo: &Arc<Repository>,
    req: &RestoreRequest,
) -> Result<(), JobError> {
    let record = job.record();
    job.interruptible(async {
        crate::failpoint::hit("restore.pending").await?;
        Ok(())
    })
    .await?;
    let prepared = pending(engine, job, &record, req).await?;
    snapshoting(engine, job, &record, &prepared.new_names).await?;
    downloading(engine, job, repo, req, prepared.downloads).await?;
    commit(
        engine,
        job,
        &record,
        prepared.tables,
        prepared.views,
        prepared.pinned,
    )
    .await
}

/// What PENDING prepared: the catalog changes the commit makes, the objects to download into
/// them, and the names of the tables it creates.
struct Prepared {
    tables: Vec<RestoreTable>,
    views: Vec<crate::catalog::views::ViewMeta>,
    downloads: Vec<Download>,
    new_names: Vec<String>,
    /// The downloads' rowset ids, pinned for the job's life: files nothing references until
    /// the commit.
    pinned: crate::store::pins::PinGuard,
}

/// PENDING: plans against the existing tables (the dry run runs the same checks), marks the
/// existing targets as being restored, and draws every id the commit will use.
async fn pending(
    engine: &Arc<Engine>,
    job: &Job,
    record: &crate::scheduler::JobRecord,
    req: &RestoreRequest,
) -> Result<Prepared, JobError> {
    let catalog = &engine.catalog;
    let checked = plan(engine, &record.db, req, Some(record.id)).await?;
    if let Some(first) = checked.conflicts.first() {
        return Err(fail("COMMON_ERROR", first.message.clone()));
    }
    let views: Vec<crate::catalog::views::ViewMeta> = checked
        .views
        .iter()
        .map(|v| {
            if let Some(reason) = &v.inactive {
                let note = format!(
                    "view {}.{} restored inactive: {reason}",
                    record.db, v.item.target
                );
                tracing::warn!(job = record.id, "{note}");
                job.note_error(note);
            }
            let mut view = v
                .source
                .view_meta(v.item.target.clone(), v.inactive.clone());
            view.definer = req.definer.clone();
            view
        })
        .collect();
    let new_views: Vec<String> = checked
        .views
        .iter()
        .filter(|v| !v.replaces)
        .map(|v| v.item.target.clone())
        .collect();
    for t in &checked.tables {
        if let Some(reason) = t
            .source
            .materialized
            .as_ref()
            .and_then(|m| m.inactive_reason.as_ref())
        {
            let note = format!(
                "materialized view {}.{} restored inactive: {reason}",
                record.db, t.item.target
            );
            tracing::warn!(job = record.id, "{note}");
            job.note_error(note);
        }
    }
    let plan: Vec<(RestoreItem, ManifestTable, Option<TableTree>)> = checked
        .tables
        .into_iter()
        .map(|t| (t.item, t.source, t.target))
        .collect();

    let to_mark: Vec<(String, u64)> = plan
        .iter()
        .filter_map(|(_, _, t)| t.as_ref().map(|t| (t.table.name.clone(), t.table.id)))
        .collect();
    catalog
        .mark_restoring(&record.db, to_mark, record.id)
        .await
        .map_err(|e| fail("COMMON_ERROR", e.to_string()))?;

    // Ids for everything new, drawn now: the files go straight to their final paths.
    let ids = catalog.reserve_ids(ids_needed(&plan)).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let (mut tables, downloads) =
        lay_out(&plan, req.replication_num, ids, now, |tablet, rowset| {
            crate::store::table::rowset_path(&engine.config.data_dir, tablet, rowset)
        })?;
    if !req.reserve_dynamic {
        // As StarRocks and Doris do: a restored table's dynamic partitioning is off until it is
        // turned on again (ALTER TABLE ... SET), or its first round would drop the old
        // partitions just restored.
        for t in &mut tables {
            dynamic_off(&mut t.meta.properties);
        }
    }
    let staged: Vec<PathBuf> = downloads.iter().map(|d| d.path.clone()).collect();
    let pinned = engine.pins.pin(
        tables
            .iter()
            .flat_map(|t| &t.partitions)
            .flat_map(|p| &p.tablets)
            .flat_map(|(_, rowsets)| rowsets.iter().map(|r| r.id)),
    );
    job.update(catalog, |r| {
        r.staged = staged;
        r.meta_prepared_ms = chrono::Utc::now().timestamp_millis();
    })
    .await?;
    let new_names = plan
        .iter()
        .filter(|(_, _, t)| t.is_none())
        .map(|(item, _, _)| item.target.clone())
        .chain(new_views)
        .collect();
    Ok(Prepared {
        tables,
        views,
        downloads,
        new_names,
        pinned,
    })
}

/// Sets `dynamic_partition.enable` to false when a table has dynamic partitioning.
fn dynamic_off(properties: &mut std::collections::BTreeMap<String, String>) {
    let dynamic = properties
        .keys()
        .any(|k| k.to_ascii_lowercase().starts_with("dynamic_partition."));
    if dynamic {
        properties.retain(|k, _| !k.eq_ignore_ascii_case("dynamic_partition.enable"));
        properties.insert("dynamic_partition.enable".into(), "false".into());
    }
}

/// How many ids a restore of `plan` draws: one per new table, partition, tablet and rowset.
fn ids_needed(plan: &[(RestoreItem, ManifestTable, Option<TableTree>)]) -> usize {
    plan.iter()
        .map(|(_, s, t)| {
            let rowsets: usize = s
                .partitions
                .iter()
                .flat_map(|p| &p.tablets)
                .map(|t| t.files().count())
                .sum();
            let new_parts = s.partitions.len();
            let tablets: usize = s.partitions.iter().map(|p| p.buckets as usize).sum();
            rowsets + new_parts + tablets + usize::from(t.is_none())
        })
        .sum()
}

/// The catalog rows the commit writes for `plan`, and the objects to download into them (at
/// `rowset_path(tablet, rowset)`): existing tables, partitions and tablets keep their ids,
/// everything new takes the next of `ids`, and every rowset is new.
fn lay_out(
    plan: &[(RestoreItem, ManifestTable, Option<TableTree>)],
    replication_num: Option<u32>,
    ids: Vec<u64>,
    now: i64,
    rowset_path: impl Fn(u64, u64) -> PathBuf,
) -> Result<(Vec<RestoreTable>, Vec<Download>), JobError> {
    let mut ids = ids.into_iter();
    let mut next = || {
        ids.next()
            .ok_or_else(|| fail("COMMON_ERROR", "internal error: too few ids drawn"))
    };
    let mut tables = Vec::new();
    let mut downloads = Vec::new();
    for (item, source, target) in plan {
        let table_meta = match target {
            // A materialized view restored over its namesake takes the snapshot's state.
            Some(t) => crate::catalog::TableMeta {
                materialized: source.materialized.clone(),
                ..t.table.clone()
            },
            None => {
                let mut properties = source.properties.clone();
                if let Some(n) = replication_num {
                    properties.insert("replication_num".into(), n.to_string());
                }
                source.table_meta(next()?, item.target.clone(), properties, now)
            }
        };
        let mut partitions = Vec::new();
        for p in &source.partitions {
            let existing = target.as_ref().and_then(|t| {
                t.partitions
                    .iter()
                    .find(|e| e.partition.name.eq_ignore_ascii_case(&p.name))
            });
            let meta = match existing {
                Some(e) => PartitionMeta {
                    visible_version: p.visible_version,
                    visible_version_ms: now,
                    ..e.partition.clone()
                },
                None => PartitionMeta {
                    id: next()?,
                    table_id: table_meta.id,
                    name: p.name.clone(),
                    bounds: p.bounds.clone(),
                    visible_version: p.visible_version,
                    visible_version_ms: now,
                    buckets: p.buckets,
                },
            };
            let mut tablets = Vec::new();
            for bucket in 0..p.buckets {
                let tablet = match existing
                    .and_then(|e| e.tablets.iter().find(|t| t.tablet.bucket == bucket))
                {
                    Some(t) => t.tablet.clone(),
                    None => TabletMeta {
                        id: next()?,
                        table_id: table_meta.id,
                        partition_id: meta.id,
                        bucket,
                    },
                };
                let mut rowsets = Vec::new();
                for r in p
                    .tablets
                    .iter()
                    .filter(|t| t.bucket == bucket)
                    .flat_map(|t| t.files())
                {
                    let (r, kind) = r;
                    let id = next()?;
                    downloads.push(Download {
                        key: r.object.clone(),
                        sha256: r.sha256.clone(),
                        size: r.size,
                        path: rowset_path(tablet.id, id),
                    });
                    rowsets.push(RowsetMeta {
                        id,
                        tablet_id: tablet.id,
                        start_version: r.start_version,
                        end_version: r.end_version,
                        rows: r.rows,
                        bytes: r.size,
                        sha256: r.sha256.clone(),
                        content_checksum: r.checksum,
                        kind,
                    });
                }
                tablets.push((tablet, rowsets));
            }
            partitions.push(RestorePartition {
                existing: existing.is_some(),
                meta,
                tablets,
            });
        }
        tables.push(RestoreTable {
            existing_id: target.as_ref().map(|t| t.table.id),
            meta: table_meta,
            partitions,
        });
    }
    Ok((tables, downloads))
}

/// SNAPSHOTING: the targets are reserved: existing ones were marked, new names are held.
async fn snapshoting(
    engine: &Engine,
    job: &Job,
    record: &crate::scheduler::JobRecord,
    new_names: &[String],
) -> Result<(), JobError> {
    let catalog = &engine.catalog;
    job.set_state(catalog, JobState::Snapshoting).await?;
    engine
        .jobs
        .reserve(&record.db, new_names, record.id)
        .map_err(|e| fail("COMMON_ERROR", e))?;
    for name in new_names {
        // A table created between the plan and the reservation: refuse now, not at commit.
        if catalog.table(&record.db, name).await.is_ok() {
            return Err(fail(
                "COMMON_ERROR",
                format!(
                    "table {}.{name} was created while the restore was starting; restore it under another name with AS",
                    record.db
                ),
            ));
        }
    }
    job.interruptible(async {
        crate::failpoint::hit("restore.snapshoting").await?;
        Ok(())
    })
    .await?;
    job.update(catalog, |r| {
        r.snapshot_finished_ms = chrono::Utc::now().timestamp_millis()
    })
    .await?;
    Ok(())
}

/// DOWNLOAD / DOWNLOADING: every object to its rowset path, checked, then all of them durable
/// with one sync of the data folder's file system (instead of an fsync per file and folder):
/// the commit may rely on them.
async fn downloading(
    engine: &Engine,
    job: &Arc<Job>,
    repo: &Arc<Repository>,
    req: &RestoreRequest,
    downloads: Vec<Download>,
) -> Result<(), JobError> {
    let catalog = &engine.catalog;
    job.set_state(catalog, JobState::Download).await?;
    job.progress.reset(
        downloads.len() as u64,
        downloads.iter().map(|d| d.size).sum(),
    );
    // The rowsets' folder, opened before the downloads so that its sync below reports any
    // writeback error they meet.
    let sync = crate::durable::FolderSync::open(crate::store::table::rowsets_root(
        &engine.config.data_dir,
    ))
    .await
    .map_err(|e| fail("COMMON_ERROR", format!("cannot open the data folder: {e}")))?;
    job.set_state(catalog, JobState::Downloading).await?;
    job.interruptible(download_all(job, repo, downloads, req.transfer))
        .await?;
    sync.sync().await.map_err(|e| {
        fail(
            "COMMON_ERROR",
            format!("cannot make the downloaded files durable: {e}"),
        )
    })?;
    job.update(catalog, |r| {
        r.transfer_finished_ms = chrono::Utc::now().timestamp_millis()
    })
    .await?;
    Ok(())
}

/// COMMIT / COMMITTING: one catalog transaction, which also writes the FINISHED record; from
/// its start the job cannot be cancelled.
async fn commit(
    engine: &Engine,
    job: &Job,
    record: &crate::scheduler::JobRecord,
    tables: Vec<RestoreTable>,
    views: Vec<crate::catalog::views::ViewMeta>,
    pinned: crate::store::pins::PinGuard,
) -> Result<(), JobError> {
    let catalog = &engine.catalog;
    if !job.begin_commit() {
        return Err(JobError::Cancelled);
    }
    job.update(catalog, |r| r.state = JobState::Commit).await?;
    job.log_state();
    crate::failpoint::hit("restore.before_commit").await?;
    job.update(catalog, |r| r.state = JobState::Committing)
        .await?;
    job.log_state();
    let mut finished = job.record();
    finished.state = JobState::Finished;
    finished.status = JobStatus::ok();
    finished.finished_ms = chrono::Utc::now().timestamp_millis();
    finished.staged.clear();
    let bytes = serde_json::to_vec(&finished).map_err(|e| fail("COMMON_ERROR", e.to_string()))?;
    catalog
        .commit_restore(
            RestoreCommit {
                db: record.db.clone(),
                job_id: record.id,
                tables,
                views,
            },
            bytes,
        )
        .await
        .map_err(|e| {
            fail(
                "COMMON_ERROR",
                format!("the commit failed, nothing changed: {e}"),
            )
        })?;
    // The downloads are committed: unpinned under the collector's gate (see Pins::release).
    engine.pins.release(pinned).await;
    job.update(catalog, |r| *r = finished).await?;
    // The partitions it replaced left files nothing references.
    engine.pins.mark_dirty();
    Ok(())
}

/// What a restore will do to one table.
#[derive(Debug, Clone)]
pub struct PlannedTable {
    pub item: RestoreItem,
    /// The snapshot's table, with only the chosen partitions.
    pub source: ManifestTable,
    /// The existing table restored over, if any.
    pub target: Option<TableTree>,
}

impl PlannedTable {
    /// Whether the restore replaces the existing partition `name`.
    pub fn overwrites(&self, name: &str) -> bool {
        self.target.as_ref().is_some_and(|t| {
            t.partitions
                .iter()
                .any(|e| e.partition.name.eq_ignore_ascii_case(name))
        })
    }
}

/// What a restore will do to one view.
#[derive(Debug, Clone)]
pub struct PlannedView {
    pub item: RestoreItem,
    pub source: crate::repo::manifest::ManifestView,
    /// Whether a view of the target name exists (it is replaced).
    pub replaces: bool,
    /// Why the view will be restored inactive: a table or view its query reads is neither in
    /// the restore nor on this server.
    pub inactive: Option<String>,
}

/// Why a restore cannot run, and which table it is about.
#[derive(Debug, Clone)]
pub struct Conflict {
    pub table: Option<String>,
    pub message: String,
}

/// Everything RESTORE checks before it changes anything; `RESTORE ... PROPERTIES ("dry_run" =
/// "true")` reports it as is. A real restore fails with the first conflict.
#[derive(Debug, Clone)]
pub struct Plan {
    pub creates_database: bool,
    pub tables: Vec<PlannedTable>,
    pub views: Vec<PlannedView>,
    pub conflicts: Vec<Conflict>,
    /// What DOWNLOADING moves: one object per rowset.
    pub objects: u64,
    pub bytes: u64,
}

/// Plans the restore of `req` into `db` (`job`: the restore's own id, whose reservations are
/// not conflicts). Fails only when the snapshot lacks what the request names.
pub async fn plan(
    engine: &Engine,
    db: &str,
    req: &RestoreRequest,
    job: Option<u64>,
) -> Result<Plan, JobError> {
    let catalog = &engine.catalog;
    let (creates_database, existing): (bool, Vec<TableTree>) =
        match catalog.database_trees(db, None).await {
            Ok((_, trees)) => (false, trees),
            Err(crate::catalog::CatalogError::UnknownDatabase(_)) => (true, Vec::new()),
            Err(e) => return Err(e.into()),
        };
    let mut conflicts = Vec::new();
    let mut conflict = |table: &str, message: String| {
        conflicts.push(Conflict {
            table: Some(table.to_string()),
            message,
        })
    };
    let mut tables = Vec::new();
    for item in &req.items {
        let mut source = chosen(&req.manifest, item)?;
        restored_materialized(engine, db, req, &mut source).await?;
        let target = existing
            .iter()
            .find(|t| t.table.name.eq_ignore_ascii_case(&item.target));
        if let Some(target) = target {
            if let Some(diff) = schema_difference(&target.table, &source) {
                conflict(
                    &item.target,
                    format!(
                        "Table {} already exist but with different schema, {diff}. Restore it \
                         under another name with ON ({} AS new_name), or DROP TABLE {} first",
                        item.target, item.source, item.target
                    ),
                );
            }
            for p in &source.partitions {
                match target
                    .partitions
                    .iter()
                    .find(|e| e.partition.name.eq_ignore_ascii_case(&p.name))
                {
                    Some(e) if e.partition.bounds != p.bounds => conflict(
                        &item.target,
                        format!(
                            "Partition {} in table {} has different range with partition in repository",
                            p.name, item.target
                        ),
                    ),
                    Some(e) if e.partition.buckets != p.buckets => conflict(
                        &item.target,
                        format!(
                            "Partition {} in table {} has {} buckets, the snapshot's has {}",
                            p.name, item.target, e.partition.buckets, p.buckets
                        ),
                    ),
                    Some(_) => {}
                    None => {
                        if target
                            .partitions
                            .iter()
                            .any(|e| bounds_conflict(&e.partition.bounds, &p.bounds))
                        {
                            conflict(
                                &item.target,
                                format!(
                                    "Partition {} in table {} has conflict range with existing ranges",
                                    p.name, item.target
                                ),
                            );
                        }
                    }
                }
            }
            if target.table.state != TableState::Normal {
                conflict(
                    &item.target,
                    format!(
                        "Table {db}.{} is being restored by another job; wait until it ends",
                        item.target
                    ),
                );
            }
        } else if let Some(other) = engine
            .jobs
            .reserved_by(db, &item.target)
            .filter(|j| Some(*j) != job)
        {
            conflict(
                &item.target,
                format!(
                    "table {db}.{} is reserved by RESTORE job {other}",
                    item.target
                ),
            );
        } else if !creates_database && catalog.view(db, &item.target).await?.is_some() {
            conflict(
                &item.target,
                format!(
                    "{db}.{} is a view. Restore the table under another name with ON ({} AS \
                     new_name), or DROP VIEW {} first",
                    item.target, item.source, item.target
                ),
            );
        }
        tables.push(PlannedTable {
            item: item.clone(),
            source,
            target: target.cloned(),
        });
    }
    let views = plan_views(engine, db, req, job, &mut conflicts).await?;
    let rowsets = || {
        tables
            .iter()
            .flat_map(|t| &t.source.partitions)
            .flat_map(|p| &p.tablets)
            .flat_map(|t| t.files().map(|(r, _)| r))
    };
    let objects = rowsets().count() as u64;
    let bytes: u64 = rowsets().map(|r| r.size).sum();
    if let Err(JobError::Failed(status)) = check_free_space(&engine.config.data_dir, bytes) {
        conflicts.push(Conflict {
            table: None,
            message: status.msg,
        });
    }
    Ok(Plan {
        creates_database,
        tables,
        views,
        conflicts,
        objects,
        bytes,
    })
}

/// The views of a restore into `db`: which exist (and are replaced), which would be restored
/// inactive, and conflicts with tables of their names.
async fn plan_views(
    engine: &Engine,
    db: &str,
    req: &RestoreRequest,
    job: Option<u64>,
    conflicts: &mut Vec<Conflict>,
) -> Result<Vec<PlannedView>, JobError> {
    let catalog = &engine.catalog;
    let mut out = Vec::new();
    for item in &req.views {
        let source = req.manifest.view(&item.source).cloned().ok_or_else(|| {
            fail(
                "NOT_FOUND",
                format!(
                    "View {} does not exist in snapshot {}",
                    item.source, req.manifest.label
                ),
            )
        })?;
        let replaces = catalog.view(db, &item.target).await?.is_some();
        let mut conflict = |message: String| {
            conflicts.push(Conflict {
                table: Some(item.target.clone()),
                message,
            })
        };
        if !replaces && catalog.relation_exists(db, &item.target).await? {
            conflict(format!(
                "Table {} already exists and is not a view. Restore the view under another name \
                 with ON (VIEW {} AS new_name), or DROP TABLE {} first",
                item.target, item.source, item.target
            ));
        } else if let Some(other) = engine
            .jobs
            .reserved_by(db, &item.target)
            .filter(|j| Some(*j) != job)
        {
            conflict(format!(
                "table {db}.{} is reserved by RESTORE job {other}",
                item.target
            ));
        }
        let inactive = missing_relation(engine, db, req, &source.definition)
            .await?
            .map(|missing| {
                format!(
                    "its query reads {missing}, which is neither in the restore nor on this \
                     server; restore or create it and the view works"
                )
            });
        out.push(PlannedView {
            item: item.clone(),
            source,
            replaces,
            inactive,
        });
    }
    Ok(out)
}

/// The first table or view (`db.name`) the query `definition` reads, resolved in `db`, that
/// is neither restored by `req` nor on this server.
async fn missing_relation(
    engine: &Engine,
    db: &str,
    req: &RestoreRequest,
    definition: &str,
) -> Result<Option<String>, JobError> {
    let Ok(mut query) = crate::sql::parse_view_query(definition) else {
        return Ok(None);
    };
    crate::sql::qualify(&mut query, db);
    for (d, t) in crate::sql::read_relations(&query) {
        let restored = d == db
            && req
                .items
                .iter()
                .chain(&req.views)
                .any(|i| i.target.eq_ignore_ascii_case(&t));
        if !restored
            && !d.eq_ignore_ascii_case(crate::catalog::INFORMATION_SCHEMA)
            && !engine.catalog.relation_exists(&d, &t).await?
        {
            return Ok(Some(format!("{d}.{t}")));
        }
    }
    Ok(None)
}

/// A materialized view as a restore leaves it: its rows are the snapshot's (`restored_from`
/// says which, until the next refresh), a refresh that was running when the snapshot was taken
/// is forgotten, and it is inactive while a table its query reads is missing.
async fn restored_materialized(
    engine: &Engine,
    db: &str,
    req: &RestoreRequest,
    table: &mut ManifestTable,
) -> Result<(), JobError> {
    let Some(mv) = &table.materialized else {
        return Ok(());
    };
    let missing = missing_relation(engine, db, req, &mv.definition).await?;
    let Some(mv) = table.materialized.as_mut() else {
        return Ok(());
    };
    mv.restored_from = Some(format!("{}/{}", req.manifest.label, req.manifest.timestamp));
    mv.definer = req.definer.clone();
    if mv
        .last_refresh
        .as_ref()
        .is_some_and(|r| r.state == crate::catalog::materialized::RefreshState::Running)
    {
        mv.last_refresh = None;
    }
    if let Some(missing) = missing {
        mv.active = false;
        mv.inactive_reason = Some(format!(
            "restored without {missing}, which its query reads; restore or create it, then \
             ALTER MATERIALIZED VIEW {} ACTIVE",
            table.name
        ));
    }
    Ok(())
}

/// The snapshot's table with only the chosen partitions.
fn chosen(manifest: &Manifest, item: &RestoreItem) -> Result<ManifestTable, JobError> {
    let mut table = manifest.table(&item.source).cloned().ok_or_else(|| {
        fail(
            "NOT_FOUND",
            format!(
                "Table {} does not exist in snapshot {}",
                item.source, manifest.label
            ),
        )
    })?;
    if !item.partitions.is_empty() {
        table.partitions.retain(|p| {
            item.partitions
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&p.name))
        });
        table.rows = table.partitions.iter().map(|p| p.rows).sum();
    }
    // An unpartitioned table's one partition is named like the table, also under `AS`.
    if table.partitioning == crate::catalog::Partitioning::None {
        for p in &mut table.partitions {
            if p.name.eq_ignore_ascii_case(&item.source) {
                p.name = item.target.clone();
            }
        }
    }
    Ok(table)
}

/// The first difference that forbids restoring `snapshot` over `existing` (DESIGN.md "Schema
/// match"), in StarRocks' words where it has them.
pub fn schema_difference(existing: &TableMeta, snapshot: &ManifestTable) -> Option<String> {
    match (&existing.materialized, &snapshot.materialized) {
        (None, Some(_)) => {
            return Some("the existing one is a table, the snapshot's a materialized view".into());
        }
        (Some(_), None) => {
            return Some("the existing one is a materialized view, the snapshot's a table".into());
        }
        _ => {}
    }
    if existing.columns.len() != snapshot.columns.len() {
        return Some(format!(
            "the existing table has {} columns, the snapshot's has {}",
            existing.columns.len(),
            snapshot.columns.len()
        ));
    }
    for (a, b) in existing.columns.iter().zip(&snapshot.columns) {
        if !a.name.eq_ignore_ascii_case(&b.name)
            || a.data_type != b.data_type
            || a.nullable != b.nullable
        {
            return Some(format!(
                "column: {} {}{} in existed table is different from the column in backup \
                 snapshot, column: {} {}{}",
                a.name,
                a.data_type.sql_text(),
                if a.nullable { "" } else { " NOT NULL" },
                b.name,
                b.data_type.sql_text(),
                if b.nullable { "" } else { " NOT NULL" },
            ));
        }
    }
    if existing.key.model != snapshot.key.model {
        return Some("different key type".into());
    }
    let lower = |k: &[String]| k.iter().map(|c| c.to_ascii_lowercase()).collect::<Vec<_>>();
    if lower(&existing.key.columns) != lower(&snapshot.key.columns) {
        return Some("the key columns differ".into());
    }
    if let Some((a, b)) = existing
        .columns
        .iter()
        .zip(&snapshot.columns)
        .find(|(a, b)| a.aggregate != b.aggregate)
    {
        let name = |agg: Option<crate::catalog::schema::AggregateType>| {
            agg.map_or_else(|| "none".to_string(), |a| a.to_string())
        };
        return Some(format!(
            "column {}'s aggregate type is {} in the existing table and {} in the snapshot",
            a.name,
            name(a.aggregate),
            name(b.aggregate)
        ));
    }
    if existing.partitioning != snapshot.partitioning {
        return Some("Table's partition type is different".into());
    }
    let distribution_columns = |d: &crate::catalog::Distribution| match d {
        crate::catalog::Distribution::Hash { columns, .. } => columns
            .iter()
            .map(|c| c.to_ascii_lowercase())
            .collect::<Vec<_>>(),
        crate::catalog::Distribution::Random { .. } => Vec::new(),
    };
    if distribution_columns(&existing.distribution) != distribution_columns(&snapshot.distribution)
    {
        return Some("the distribution columns differ".into());
    }
    None
}

fn check_free_space(data_dir: &std::path::Path, needed: u64) -> Result<(), JobError> {
    let available = match rustix::fs::statvfs(data_dir) {
        Ok(s) => s.f_bavail.saturating_mul(s.f_frsize),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the free space of the data directory");
            return Ok(());
        }
    };
    let limit = std::env::var("BACKSTOP_TEST_FREE_BYTES")
        .ok()
        .filter(|_| cfg!(debug_assertions))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(available, |v| v.min(available));
    if needed.saturating_add(DISK_MARGIN) > limit {
        return Err(fail(
            "COMMON_ERROR",
            format!(
                "not enough disk space in {} for the restore: it needs {} (plus {} margin), {} \
                 is available. Free space or restore fewer tables or partitions",
                data_dir.display(),
                crate::scheduler::human_bytes(needed),
                crate::scheduler::human_bytes(DISK_MARGIN),
                crate::scheduler::human_bytes(limit)
            ),
        ));
    }
    Ok(())
}

async fn download_all(
    job: &Arc<Job>,
    repo: &Arc<Repository>,
    downloads: Vec<Download>,
    transfer: crate::scheduler::TransferSettings,
) -> Result<(), JobError> {
    // The cap admits each chunk as it arrives (repo::bandwidth), inside every object.
    let bandwidth = crate::repo::Bandwidth::new(transfer.max_bandwidth);
    let bandwidth = &bandwidth;
    futures::stream::iter(downloads)
        .map(|d| async move {
            download_checked(job, repo, &d, bandwidth).await?;
            job.progress.add(1, d.size);
            job.moved(d.size);
            crate::failpoint::hit("restore.after_object_download").await?;
            Ok::<_, JobError>(())
        })
        .buffer_unordered(transfer.parallel.max(1))
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// Downloads one object; a failure fails the job with its cause.
async fn download_checked(
    job: &Job,
    repo: &Repository,
    d: &Download,
    bandwidth: &Arc<crate::repo::Bandwidth>,
) -> Result<(), JobError> {
    match repo
        .store
        .download_verified(&d.key, d.size, &d.sha256, &d.path, bandwidth)
        .await
    {
        Ok(()) => Ok(()),
        Err(DownloadError::Store(StoreError::NotFound(_))) => {
            crate::metrics::METRICS.storage_error("not_found");
            Err(fail(
                "NOT_FOUND",
                format!("object {} is missing from the repository", d.key),
            ))
        }
        Err(DownloadError::Damaged(why)) => {
            crate::metrics::METRICS.storage_error("corrupt");
            Err(fail(
                "BAD_FILE",
                format!("object {} is damaged: {why}", d.key),
            ))
        }
        Err(DownloadError::Store(e)) => {
            job.storage_error(&format!("download {}", d.key), &e);
            Err(fail(
                "COMMON_ERROR",
                format!("download of {} failed: {e}", d.key),
            ))
        }
        Err(DownloadError::Local(e)) => Err(fail(
            "COMMON_ERROR",
            format!("cannot write {}: {e}", d.path.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::catalog::{ColumnType, PartitionTree, TabletTree};

    /// The committed fixture snapshot: table `t` (range, partitions p1 and p2 of two buckets,
    /// three rowsets) and table `u` (unpartitioned, one rowset).
    fn snapshot() -> Manifest {
        crate::repo::manifest::parse(
            include_bytes!("../repo/testdata/manifest.json"),
            "s",
            "2026-11-25-10-35-07-682",
        )
        .unwrap()
    }

    fn item(source: &str, target: &str, partitions: &[&str]) -> RestoreItem {
        RestoreItem {
            source: source.into(),
            target: target.into(),
            partitions: partitions.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn chosen_partitions_and_the_renamed_single_partition() {
        let m = snapshot();
        let t = chosen(&m, &item("t", "t", &["P2"])).unwrap();
        assert_eq!(
            t.partitions
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["p2"]
        );
        assert_eq!(t.rows, t.partitions[0].rows);
        let all = chosen(&m, &item("t", "t", &[])).unwrap();
        assert_eq!(all.partitions.len(), 2);
        // An unpartitioned table's partition carries the table's name, also under AS.
        let u = chosen(&m, &item("u", "u_copy", &[])).unwrap();
        assert_eq!(u.partitions[0].name, "u_copy");
        let Err(JobError::Failed(status)) = chosen(&m, &item("nope", "nope", &[])) else {
            panic!("an unknown table is refused");
        };
        assert_eq!(status.code, "NOT_FOUND");
        assert!(
            status
                .msg
                .contains("Table nope does not exist in snapshot s")
        );
    }

    #[test]
    fn schema_difference_names_what_differs() {
        let m = snapshot();
        let t = m.table("t").unwrap();
        let same = t.table_meta(1, "t".into(), BTreeMap::new(), 0);
        assert_eq!(schema_difference(&same, t), None);
        let mut renamed = same.clone();
        renamed.columns[1].name = "w".into();
        let why = schema_difference(&renamed, t).unwrap();
        assert!(why.starts_with("column: w "), "{why}");
        assert!(why.contains("is different from the column in backup snapshot, column: v "));
        let mut typed = same.clone();
        typed.columns[0].data_type = ColumnType::BigInt;
        let why = schema_difference(&typed, t).unwrap();
        assert!(why.starts_with("column: k BIGINT NOT NULL"), "{why}");
        let mut fewer = same.clone();
        fewer.columns.pop();
        assert_eq!(
            schema_difference(&fewer, t).unwrap(),
            format!(
                "the existing table has {} columns, the snapshot's has {}",
                t.columns.len() - 1,
                t.columns.len()
            )
        );
        let u = m.table("u").unwrap();
        let mut other = same.clone();
        other.partitioning = u.partitioning.clone();
        assert_eq!(
            schema_difference(&other, t).unwrap(),
            "Table's partition type is different"
        );
        let mut spread = same.clone();
        spread.distribution = u.distribution.clone();
        assert_eq!(
            schema_difference(&spread, t).unwrap(),
            "the distribution columns differ"
        );
        let mut rekeyed = same.clone();
        rekeyed.key.columns.push(rekeyed.columns[1].name.clone());
        assert_eq!(
            schema_difference(&rekeyed, t).unwrap(),
            "the key columns differ"
        );
        let mut summed = same;
        summed.columns[1].aggregate = Some(crate::catalog::schema::AggregateType::Sum);
        let why = schema_difference(&summed, t).unwrap();
        assert!(
            why.ends_with("aggregate type is SUM in the existing table and none in the snapshot"),
            "{why}"
        );
    }

    #[test]
    fn a_new_table_takes_every_id_and_an_existing_one_keeps_its_own() {
        let m = snapshot();
        let t = chosen(&m, &item("t", "t2", &[])).unwrap();
        // New: the table, 2 partitions, 4 tablets and 3 rowsets.
        let fresh = vec![(item("t", "t2", &[]), t.clone(), None)];
        assert_eq!(ids_needed(&fresh), 10);
        let ids: Vec<u64> = (100..110).collect();
        let (tables, downloads) = lay_out(&fresh, Some(1), ids, 7, |tablet, rowset| {
            PathBuf::from(format!("/data/{tablet}/{rowset}.parquet"))
        })
        .unwrap();
        assert_eq!(tables[0].meta.id, 100);
        assert_eq!(tables[0].meta.name, "t2");
        assert_eq!(tables[0].meta.properties["replication_num"], "1");
        assert_eq!(downloads.len(), 3);
        let every: Vec<u64> = tables[0]
            .partitions
            .iter()
            .flat_map(|p| {
                std::iter::once(p.meta.id).chain(p.tablets.iter().flat_map(|(tablet, rowsets)| {
                    std::iter::once(tablet.id).chain(rowsets.iter().map(|r| r.id))
                }))
            })
            .collect();
        assert_eq!(every.len(), 9);
        assert!(every.iter().all(|id| (101..110).contains(id)));
        for d in &downloads {
            assert!(d.path.starts_with("/data/"), "{d:?}");
        }
        // Too few ids is a bug, reported, not a panic.
        assert!(lay_out(&fresh, None, vec![1, 2], 7, |_, _| PathBuf::new()).is_err());

        // Existing: the table, its partitions and tablets keep their ids; rowsets are new.
        let existing = TableTree {
            table: t.table_meta(5, "t2".into(), BTreeMap::new(), 0),
            partitions: t
                .partitions
                .iter()
                .enumerate()
                .map(|(i, p)| PartitionTree {
                    partition: PartitionMeta {
                        id: 10 + i as u64,
                        table_id: 5,
                        name: p.name.clone(),
                        bounds: p.bounds.clone(),
                        visible_version: 1,
                        visible_version_ms: 0,
                        buckets: p.buckets,
                    },
                    tablets: (0..p.buckets)
                        .map(|b| TabletTree {
                            tablet: TabletMeta {
                                id: 20 + 10 * i as u64 + u64::from(b),
                                table_id: 5,
                                partition_id: 10 + i as u64,
                                bucket: b,
                            },
                            rowsets: Vec::new(),
                        })
                        .collect(),
                })
                .collect(),
        };
        let over = vec![(item("t", "t2", &[]), t, Some(existing))];
        let (tables, downloads) =
            lay_out(&over, None, vec![200, 201, 202], 7, |_, _| PathBuf::new()).unwrap();
        assert_eq!(tables[0].existing_id, Some(5));
        assert!(tables[0].partitions.iter().all(|p| p.existing));
        assert_eq!(
            tables[0].partitions[1].tablets[1].0.id, 31,
            "an existing tablet keeps its id"
        );
        let rowset_ids: Vec<u64> = tables[0]
            .partitions
            .iter()
            .flat_map(|p| &p.tablets)
            .flat_map(|(_, rowsets)| rowsets.iter().map(|r| r.id))
            .collect();
        assert_eq!(rowset_ids, [200, 201, 202]);
        assert_eq!(downloads.len(), 3);
    }
}
