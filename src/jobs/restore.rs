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
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{Job, JobError, JobState, JobStatus};
use crate::catalog::restore::{RestoreCommit, RestorePartition, RestoreTable, bounds_conflict};
use crate::catalog::{PartitionMeta, RowsetMeta, TableMeta, TableState, TableTree, TabletMeta};
use crate::engine::Engine;
use crate::repo::Repository;
use crate::repo::manifest::{Manifest, ManifestTable};
use crate::repo::store::StoreError;

/// Size of the writes of a downloaded object to its file.
const WRITE_SIZE: usize = 1 << 20;

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
    pub replication_num: Option<u32>,
    pub transfer: super::TransferSettings,
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
                let _ = tokio::fs::remove_file(tmp_path(path)).await;
            }
            engine.jobs.finish_failed(&job, e).await;
        }
    }
}

fn tmp_path(path: &std::path::Path) -> PathBuf {
    path.with_extension("parquet.tmp")
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
    let catalog = &engine.catalog;
    let record = job.record();
    job.interruptible(async {
        crate::failpoint::hit("restore.pending").await?;
        Ok(())
    })
    .await?;

    // PENDING: plan against the existing tables (the dry run runs the same checks).
    let checked = plan(engine, &record.db, req, Some(record.id)).await?;
    if let Some(first) = checked.conflicts.first() {
        return Err(fail("COMMON_ERROR", first.message.clone()));
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
    let id_count: usize = plan
        .iter()
        .map(|(_, s, t)| {
            let rowsets: usize = s
                .partitions
                .iter()
                .flat_map(|p| &p.tablets)
                .map(|t| t.rowsets.len())
                .sum();
            let new_parts = s.partitions.len();
            let tablets: usize = s.partitions.iter().map(|p| p.buckets as usize).sum();
            rowsets + new_parts + tablets + usize::from(t.is_none())
        })
        .sum();
    let mut ids = catalog.reserve_ids(id_count).await?.into_iter();
    let mut next = || {
        ids.next()
            .ok_or_else(|| fail("COMMON_ERROR", "internal error: too few ids drawn"))
    };
    let mut tables = Vec::new();
    let mut downloads = Vec::new();
    let now = chrono::Utc::now().timestamp_millis();
    for (item, source, target) in &plan {
        let table_meta = match target {
            Some(t) => t.table.clone(),
            None => {
                let mut properties = source.properties.clone();
                if let Some(n) = req.replication_num {
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
                    .flat_map(|t| &t.rowsets)
                {
                    let id = next()?;
                    downloads.push(Download {
                        key: r.object.clone(),
                        sha256: r.sha256.clone(),
                        size: r.size,
                        path: crate::store::table::rowset_path(
                            &engine.config.data_dir,
                            tablet.id,
                            id,
                        ),
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
    let staged: Vec<PathBuf> = downloads.iter().map(|d| d.path.clone()).collect();
    // The downloads are files nothing references until the commit: pinned for the job's life.
    let downloading = engine.pins.pin(
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

    // SNAPSHOTING: the targets are reserved: existing ones marked, new names held.
    job.set_state(catalog, JobState::Snapshoting).await?;
    let new_names: Vec<String> = plan
        .iter()
        .filter(|(_, _, t)| t.is_none())
        .map(|(item, _, _)| item.target.clone())
        .collect();
    engine
        .jobs
        .reserve(&record.db, &new_names, record.id)
        .map_err(|e| fail("COMMON_ERROR", e))?;
    for name in &new_names {
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

    // DOWNLOAD / DOWNLOADING
    job.set_state(catalog, JobState::Download).await?;
    job.progress.reset(
        downloads.len() as u64,
        downloads.iter().map(|d| d.size).sum(),
    );
    // The rowsets' folder, opened before the downloads so that its sync below reports any
    // writeback error they meet.
    let rowsets_dir = crate::store::table::rowsets_root(&engine.config.data_dir);
    let sync_dir = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&rowsets_dir)?;
        std::fs::File::open(&rowsets_dir)
    })
    .await
    .map_err(|e| fail("COMMON_ERROR", e.to_string()))?
    .map_err(|e| fail("COMMON_ERROR", format!("cannot open the data folder: {e}")))?;
    job.set_state(catalog, JobState::Downloading).await?;
    job.interruptible(download_all(job, repo, downloads, req.transfer))
        .await?;
    // Every downloaded file durable, with one sync of the data folder's file system instead of
    // an fsync per file and folder: the commit below may rely on them.
    tokio::task::spawn_blocking(move || crate::repo::local::sync_filesystem(&sync_dir))
        .await
        .map_err(|e| fail("COMMON_ERROR", e.to_string()))?
        .map_err(|e| {
            fail(
                "COMMON_ERROR",
                format!("cannot make the downloaded files durable: {e}"),
            )
        })?;
    job.update(catalog, |r| {
        r.transfer_finished_ms = chrono::Utc::now().timestamp_millis()
    })
    .await?;

    // COMMIT: from here on the job cannot be cancelled.
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
    engine.pins.release(downloading).await;
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
        let source = chosen(&req.manifest, item)?;
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
        }
        tables.push(PlannedTable {
            item: item.clone(),
            source,
            target: target.cloned(),
        });
    }
    let rowsets = || {
        tables
            .iter()
            .flat_map(|t| &t.source.partitions)
            .flat_map(|p| &p.tablets)
            .flat_map(|t| &t.rowsets)
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
        conflicts,
        objects,
        bytes,
    })
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
                super::human_bytes(needed),
                super::human_bytes(DISK_MARGIN),
                super::human_bytes(limit)
            ),
        ));
    }
    Ok(())
}

async fn download_all(
    job: &Arc<Job>,
    repo: &Arc<Repository>,
    downloads: Vec<Download>,
    transfer: super::TransferSettings,
) -> Result<(), JobError> {
    let bandwidth = super::Bandwidth::new(transfer.max_bandwidth);
    let bandwidth = &bandwidth;
    futures::stream::iter(downloads)
        .map(|d| async move {
            bandwidth.admit(d.size).await;
            download_checked(job, repo, &d).await?;
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

/// Errors of one download: the store's (already retried by the store, a body cut mid-stream
/// included), a damaged object, or the local file.
enum DownloadError {
    Store(StoreError),
    Damaged(String),
    Local(std::io::Error),
}

/// Downloads one object; a failure fails the job with its cause.
async fn download_checked(job: &Job, repo: &Repository, d: &Download) -> Result<(), JobError> {
    match download(repo, d).await {
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

/// Streams one object to a temporary file beside its rowset path, checks size and sha256, and
/// renames it into place. Its writeback starts at once; the job makes every file durable with
/// one sync of the file system before COMMIT.
async fn download(repo: &Repository, d: &Download) -> Result<(), DownloadError> {
    let dir = d
        .path
        .parent()
        .ok_or_else(|| DownloadError::Local(std::io::Error::other("no folder")))?;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(DownloadError::Local)?;
    let tmp = tmp_path(&d.path);
    let (size, sha) = match &repo.store {
        // A local repository: one blocking copy with plain file I/O (no per-chunk hops).
        crate::repo::ObjectStore::Local(local) => {
            let source = local.object_path(&d.key).map_err(DownloadError::Store)?;
            let (key, target) = (d.key.clone(), tmp.clone());
            tokio::task::spawn_blocking(move || copy_hashing(&key, &source, &target))
                .await
                .map_err(|e| DownloadError::Local(std::io::Error::other(e.to_string())))??
        }
        _ => {
            let mut stream = repo
                .store
                .get_stream(&d.key, None)
                .await
                .map_err(DownloadError::Store)?;
            // The body arrives in small chunks: write it in large ones (each write of a tokio
            // file is a hop to a blocking thread).
            let mut file = tokio::io::BufWriter::with_capacity(
                WRITE_SIZE,
                tokio::fs::File::create(&tmp)
                    .await
                    .map_err(DownloadError::Local)?,
            );
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(DownloadError::Store)?;
                hasher.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(DownloadError::Local)?;
            }
            file.flush().await.map_err(DownloadError::Local)?;
            crate::repo::local::start_writeback(&file.into_inner().into_std().await);
            (size, crate::hex(&hasher.finalize()))
        }
    };
    if size != d.size || sha != d.sha256 {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(DownloadError::Damaged(format!(
            "it has {size} bytes with sha256 {sha}; the manifest says {} bytes with sha256 {}",
            d.size, d.sha256
        )));
    }
    tokio::fs::rename(&tmp, &d.path)
        .await
        .map_err(DownloadError::Local)?;
    Ok(())
}

/// Copies the object file `source` to `target`, hashing on the way, and starts its writeback.
/// Blocking. Returns the size and sha256 of what was copied.
fn copy_hashing(
    key: &str,
    source: &std::path::Path,
    target: &std::path::Path,
) -> Result<(u64, String), DownloadError> {
    use std::io::{Read, Write};
    let mut input = std::fs::File::open(source).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DownloadError::Store(StoreError::NotFound(key.to_string()))
        } else {
            DownloadError::Store(StoreError::Failed {
                op: "get",
                key: key.to_string(),
                detail: e.to_string(),
            })
        }
    })?;
    let mut output = std::fs::File::create(target).map_err(DownloadError::Local)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buffer).map_err(|e| {
            DownloadError::Store(StoreError::Failed {
                op: "get",
                key: key.to_string(),
                detail: e.to_string(),
            })
        })?;
        let Some(chunk) = buffer.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        hasher.update(chunk);
        output.write_all(chunk).map_err(DownloadError::Local)?;
        size += n as u64;
    }
    crate::repo::local::start_writeback(&output);
    Ok((size, crate::hex(&hasher.finalize())))
}
