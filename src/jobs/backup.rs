//! The BACKUP job: PENDING → SNAPSHOTING → UPLOAD_SNAPSHOT → UPLOADING → SAVE_META →
//! UPLOAD_INFO → FINISHED (DESIGN.md "Jobs").
//!
//! - SNAPSHOTING reads the chosen tables in one catalog transaction: the snapshot is exactly
//!   the partitions' visible versions at that instant; later loads are not in it. Rowset files
//!   are immutable and deleted only at start-up when unreferenced (a restart ends this job),
//!   so the files read stay in place for the job's life.
//! - The job's lease is written before it checks which objects the repository has.
//! - UPLOADING uploads, with bounded parallelism, only the objects the repository lacks
//!   (content-addressed by sha256): every backup is incremental by construction.
//! - UPLOAD_INFO writes the manifest, waits out any collection round that may delete one of
//!   its objects without waiting for it, checks every object again (uploading any that went),
//!   then writes COMMIT last.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use crate::catalog::TableTree;
use crate::catalog::schema::RowsetKind;
use crate::engine::Engine;
use crate::repo::Repository;
use crate::repo::gc;
use crate::repo::layout::{self, Lease};
use crate::repo::manifest::{
    self, Manifest, ManifestPartition, ManifestRowset, ManifestTable, ManifestTablet,
};
use crate::repo::store::StoreError;
use crate::scheduler::{Job, JobError, JobState, JobStatus};

/// How often a job waiting for a collection round polls the repository.
const MARK_POLL: Duration = Duration::from_millis(500);

/// Backups a restart interrupted after they may have written COMMIT: FINISHED when the
/// repository holds their committed snapshot, else CANCELLED with the reason.
pub async fn reconcile(engine: Arc<Engine>) {
    for job in engine.jobs.interrupted_backups() {
        let r = job.record();
        let repo = engine.open_repository(&r.repo).await.ok();
        let committed = match repo {
            Some(repo) => {
                crate::repo::manifest::read_committed(&repo.store, &r.label, &r.timestamp)
                    .await
                    .is_ok()
            }
            None => false,
        };
        let result = job
            .update(&engine.catalog, |rec| {
                rec.finished_ms = chrono::Utc::now().timestamp_millis();
                if committed {
                    rec.state = JobState::Finished;
                    rec.status = JobStatus::ok();
                } else {
                    rec.state = JobState::Cancelled;
                    rec.status = JobStatus::common(
                        "backstop restarted while the job was in state UPLOAD_INFO and its \
                         COMMIT is not in the repository; nothing was committed. Run it again",
                    );
                }
            })
            .await;
        if let Err(e) = result {
            tracing::error!(job = r.id, error = %e, "cannot record how an interrupted backup ended");
        } else if committed {
            record_last_backup(&engine.catalog, &job.record()).await;
        }
        job.mark_done();
        tracing::warn!(
            job = r.id,
            committed,
            "backup interrupted in UPLOAD_INFO reconciled"
        );
    }
}

/// What a BACKUP statement asked for, checked at submission.
#[derive(Debug, Clone)]
pub struct BackupRequest {
    /// `None`: every table of the database. Otherwise each table with its partitions (empty:
    /// all of them).
    pub tables: Option<Vec<(String, Vec<String>)>>,
    /// `None`: every view of the database; otherwise the views named.
    pub views: Option<Vec<String>>,
    pub ttl: Option<String>,
    pub expires_ms: Option<i64>,
    pub transfer: crate::scheduler::TransferSettings,
}

/// One object to upload.
#[derive(Debug, Clone)]
struct Upload {
    key: String,
    path: PathBuf,
    size: u64,
}

/// Runs the job to its end; never returns an error (the job's record says how it ended).
pub async fn run(engine: Arc<Engine>, job: Arc<Job>, repo: Arc<Repository>, req: BackupRequest) {
    let result = job.observing(steps(&engine, &job, &repo, &req)).await;
    if result.is_err() {
        // A cancelled or failed job protects nothing either. (Still observed: the job counts
        // this request too.)
        let _ = job.observing(drop_lease(&engine, &job, &repo)).await;
    }
    match result {
        Ok(()) => job.mark_done(),
        Err(e) => engine.jobs.finish_failed(&job, e).await,
    }
}

async fn steps(
    engine: &Arc<Engine>,
    job: &Arc<Job>,
    repo: &Arc<Repository>,
    req: &BackupRequest,
) -> Result<(), JobError> {
    let catalog = &engine.catalog;
    let record = job.record();
    job.interruptible(async {
        crate::failpoint::hit("backup.pending").await?;
        Ok(())
    })
    .await?;

    // SNAPSHOTING: one consistent read of every chosen table.
    job.set_state(catalog, JobState::Snapshoting).await?;
    job.interruptible(async {
        crate::failpoint::hit("backup.snapshoting").await?;
        Ok(())
    })
    .await?;
    let names = req
        .tables
        .as_ref()
        .map(|t| t.iter().map(|(n, _)| n.clone()).collect());
    // Pinned for the job's life: a DROP or TRUNCATE meanwhile does not delete these files.
    let (trees, _pins) = {
        let _gate = engine.pins.gate().await;
        let (_db, trees) = catalog.database_trees(&record.db, names).await?;
        let ids: Vec<u64> = trees.iter().flat_map(TableTree::rowset_ids).collect();
        let pins = engine.pins.pin(ids);
        (trees, pins)
    };
    let trees = select_partitions(trees, req.tables.as_deref())?;
    let views = chosen_views(catalog, &record.db, req.views.as_deref()).await?;
    write_lease(engine, repo, job).await?;
    job.update(catalog, |r| {
        r.snapshot_finished_ms = chrono::Utc::now().timestamp_millis()
    })
    .await?;

    // UPLOAD_SNAPSHOT: decide what to upload.
    job.set_state(catalog, JobState::UploadSnapshot).await?;
    let uploads = uploads_of(engine, &trees);
    job.progress
        .reset(uploads.len() as u64, uploads.iter().map(|u| u.size).sum());

    // UPLOADING
    job.set_state(catalog, JobState::Uploading).await?;
    // Objects of a local folder are staged, then published together (one syncfs); the list
    // lives out here so that a cancel, which drops the uploads, still discards them.
    let staged = storage_op(job, "open the repository", || repo.store.staging()).await?;
    // The cap admits each chunk as it is sent (repo::bandwidth), inside every object.
    let bandwidth = crate::repo::Bandwidth::new(req.transfer.max_bandwidth);
    let heartbeat = spawn_heartbeat(Arc::clone(engine), Arc::clone(job), Arc::clone(repo));
    let skipped = job
        .interruptible(upload_all(
            job,
            repo,
            uploads.clone(),
            req.transfer,
            &staged,
            &bandwidth,
        ))
        .await;
    let skipped = match skipped {
        Ok(s) => match repo.store.publish(staged).await {
            Ok(()) => s,
            Err(e) => {
                heartbeat.abort();
                job.note_error(format!("publish objects: {e}"));
                return Err(JobError::Failed(JobStatus::common(format!(
                    "publish objects failed: {e}"
                ))));
            }
        },
        Err(e) => {
            crate::repo::ObjectStore::discard(staged);
            heartbeat.abort();
            return Err(e);
        }
    };
    job.update(catalog, |r| {
        r.transfer_finished_ms = chrono::Utc::now().timestamp_millis()
    })
    .await?;

    // SAVE_META
    job.set_state(catalog, JobState::SaveMeta).await?;
    let mut manifest = build_manifest(engine, &record, req, &trees, &views);

    // UPLOAD_INFO: manifest, re-check skipped objects, COMMIT last.
    job.set_state(catalog, JobState::UploadInfo).await?;
    let result = job
        .interruptible(async {
            manifest.finished_ms = chrono::Utc::now().timestamp_millis();
            let (manifest_doc, commit_doc) = manifest::encode_committed(&manifest)
                .map_err(|e| JobError::Failed(JobStatus::common(e)))?;
            storage_op(job, "upload manifest", || {
                repo.store
                    .put_bytes(&manifest_doc.key, manifest_doc.bytes.clone())
            })
            .await?;
            // Every object, not only the skipped ones: had the lease lapsed (storage unreachable
            // for longer than its lifetime), a round may also have taken an uploaded object.
            let every: Vec<String> = uploads.iter().map(|u| u.key.clone()).collect();
            tracing::debug!(
                job = record.id,
                skipped = skipped.len(),
                objects = every.len(),
                "re-checking the snapshot's objects"
            );
            let lease_written_ms =
                recheck_objects(engine, job, repo, (&uploads, &bandwidth), &every).await?;
            crate::failpoint::hit("backup.before_commit").await?;
            // A lease that may look expired to a collector protects nothing: start over.
            let lifetime = engine.config.lease_lifetime_ms();
            if chrono::Utc::now().timestamp_millis() - lease_written_ms
                > lifetime - gc::safety_margin_ms(lifetime)
            {
                return Err(JobError::Failed(JobStatus::common(
                    "the job's lease in the repository could not be kept fresh before COMMIT; \
                     nothing was committed. Run the backup again",
                )));
            }
            storage_op(job, "write COMMIT", || {
                repo.store
                    .put_bytes(&commit_doc.key, commit_doc.bytes.clone())
            })
            .await?;
            crate::failpoint::hit("backup.after_commit").await?;
            Ok(())
        })
        .await;
    heartbeat.abort();
    result?;
    // The lease goes before the job says FINISHED, so what SHOW BACKUP shows then is final.
    drop_lease(engine, job, repo).await?;
    job.update(catalog, |r| {
        r.state = JobState::Finished;
        r.status = JobStatus::ok();
        r.finished_ms = chrono::Utc::now().timestamp_millis();
    })
    .await?;
    record_last_backup(catalog, &job.record()).await;
    Ok(())
}

/// Remembers `r`, a FINISHED backup, as its database's last (what the alerting metrics read).
/// A failure is logged: the snapshot is committed whatever this says.
async fn record_last_backup(catalog: &crate::catalog::Catalog, r: &crate::scheduler::JobRecord) {
    let last = crate::catalog::tasks::LastBackup {
        db: r.db.clone(),
        label: r.label.clone(),
        repository: r.repo.clone(),
        timestamp: r.timestamp.clone(),
        snapshot_ms: r.created_ms,
        finished_ms: r.finished_ms,
    };
    if let Err(e) = catalog.record_backup(last).await {
        tracing::warn!(job = r.id, error = %e, "cannot record the database's last backup");
    }
}

/// Deletes the job's lease: a finished job protects nothing. A failure is logged, not fatal
/// (collectors ignore a lease past its lifetime).
async fn drop_lease(engine: &Engine, job: &Job, repo: &Repository) -> Result<(), JobError> {
    let id = job.id();
    let lease = layout::lease_key(engine.catalog.server_id(), id);
    if let Err(e) = repo.store.delete(&lease).await {
        tracing::warn!(job = id, error = %e, "cannot delete the job's lease");
    }
    Ok(())
}

/// Keeps only the chosen partitions of each table.
fn select_partitions(
    trees: Vec<TableTree>,
    chosen: Option<&[(String, Vec<String>)]>,
) -> Result<Vec<TableTree>, JobError> {
    let Some(chosen) = chosen else {
        return Ok(trees);
    };
    trees
        .into_iter()
        .map(|mut tree| {
            let wanted = chosen
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&tree.table.name))
                .map(|(_, p)| p.as_slice())
                .unwrap_or(&[]);
            if !wanted.is_empty() {
                for p in wanted {
                    if !tree
                        .partitions
                        .iter()
                        .any(|t| t.partition.name.eq_ignore_ascii_case(p))
                    {
                        return Err(JobError::Failed(JobStatus::error(
                            "NOT_FOUND",
                            format!("Unknown partition {p} in table{}", tree.table.name),
                        )));
                    }
                }
                tree.partitions.retain(|t| {
                    wanted
                        .iter()
                        .any(|p| p.eq_ignore_ascii_case(&t.partition.name))
                });
            }
            Ok(tree)
        })
        .collect()
}

/// Every distinct rowset file of the snapshot, as an object to upload.
fn uploads_of(engine: &Engine, trees: &[TableTree]) -> Vec<Upload> {
    let mut seen = BTreeMap::new();
    for tablet in trees
        .iter()
        .flat_map(|t| &t.partitions)
        .flat_map(|p| &p.tablets)
    {
        for r in &tablet.rowsets {
            let key = layout::object_key(&r.sha256);
            seen.entry(key.clone()).or_insert_with(|| Upload {
                key,
                path: crate::store::table::rowset_path(
                    &engine.config.data_dir,
                    tablet.tablet.id,
                    r.id,
                ),
                size: r.bytes,
            });
        }
    }
    seen.into_values().collect()
}

/// Uploads every object the repository lacks; returns the keys it skipped (already there).
async fn upload_all(
    job: &Arc<Job>,
    repo: &Arc<Repository>,
    uploads: Vec<Upload>,
    transfer: crate::scheduler::TransferSettings,
    staged: &crate::repo::store::Staging,
    bandwidth: &Arc<crate::repo::Bandwidth>,
) -> Result<Vec<String>, JobError> {
    // What the repository holds, from LIST pages (a thousand objects a request), not a HEAD per
    // object: an unchanged table costs a few requests however many rowsets it has.
    let present = &objects_present(job, repo).await?;
    let results: Vec<Option<String>> = futures::stream::iter(uploads)
        .map(|u| async move {
            if present.get(&u.key) == Some(&u.size) {
                job.progress.add(1, u.size);
                return Ok::<_, JobError>(Some(u.key));
            }
            storage_op(job, "upload object", || {
                repo.store
                    .stage_file(staged, &u.key, &u.path, transfer.part_size, bandwidth)
            })
            .await?;
            job.progress.add(1, u.size);
            job.moved(u.size);
            crate::failpoint::hit("backup.after_object_upload").await?;
            Ok(None)
        })
        .buffer_unordered(transfer.parallel.max(1))
        .try_collect()
        .await?;
    Ok(results.into_iter().flatten().collect())
}

/// Runs one storage operation; its failure (the store has already retried it as far as makes
/// sense, [`crate::repo::retry`]) goes to the job's TaskErrMsg and fails the job with its cause.
pub async fn storage_op<T, F, Fut>(job: &Job, what: &str, op: F) -> Result<T, JobError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    op().await.map_err(|e| {
        job.storage_error(what, &e);
        JobError::Failed(JobStatus::common(format!("{what} failed: {e}")))
    })
}

/// Every object the repository holds, with its size: one LIST pass over `objects/`.
async fn objects_present(
    job: &Job,
    repo: &Repository,
) -> Result<std::collections::HashMap<String, u64>, JobError> {
    let listed = storage_op(job, "list objects", || {
        repo.store.list(layout::OBJECTS_PREFIX)
    })
    .await?;
    Ok(listed.into_iter().map(|m| (m.key, m.size)).collect())
}

/// Before COMMIT: waits out every collection round that may delete one of `keys` without
/// waiting for the job (module doc of [`crate::repo::gc`]), then lists the objects again and
/// uploads the ones that are gone (or not whole). Returns when the lease was last written.
async fn recheck_objects(
    engine: &Engine,
    job: &Job,
    repo: &Repository,
    (uploads, bandwidth): (&[Upload], &Arc<crate::repo::Bandwidth>),
    keys: &[String],
) -> Result<i64, JobError> {
    let record = job.record();
    let lease_key = layout::lease_key(engine.catalog.server_id(), record.id);
    let key_set: std::collections::BTreeSet<String> = keys.iter().cloned().collect();
    crate::failpoint::hit("backup.before_recheck").await?;
    loop {
        let marks =
            storage_op(job, "read collection marks", || gc::live_marks(&repo.store)).await?;
        let blocking = gc::blocking_marks(&marks, &lease_key, &key_set);
        if blocking.is_empty() {
            break;
        }
        tracing::info!(job = record.id, marks = ?blocking, "waiting for a collection round before COMMIT");
        tokio::time::sleep(MARK_POLL).await;
    }
    let written = write_lease(engine, repo, job).await?;
    let by_key: BTreeMap<&str, &Upload> = uploads.iter().map(|u| (u.key.as_str(), u)).collect();
    // One LIST pass after the lease is fresh and no round that could take them runs: what it
    // shows stays until COMMIT (a later round sees the lease and keeps the objects).
    let present = objects_present(job, repo).await?;
    for key in keys {
        let Some(u) = by_key.get(key.as_str()) else {
            continue;
        };
        if present.get(key) != Some(&u.size) {
            tracing::warn!(object = %key, "object vanished since it was checked; uploading it again");
            storage_op(job, "upload object", || {
                repo.store
                    .put_file_paced(&u.key, &u.path, crate::repo::s3::PART_SIZE, bandwidth)
            })
            .await?;
        }
    }
    Ok(written)
}

/// Writes the job's lease (fresh heartbeat); returns when.
async fn write_lease(engine: &Engine, repo: &Repository, job: &Job) -> Result<i64, JobError> {
    let record = job.record();
    let now = chrono::Utc::now().timestamp_millis();
    let lease = Lease {
        server_id: engine.catalog.server_id().to_string(),
        job_id: record.id,
        label: record.label.clone(),
        timestamp: record.timestamp.clone(),
        started_ms: record.created_ms,
        heartbeat_ms: now,
        expires_ms: now + engine.config.lease_lifetime_ms(),
    };
    let json = serde_json::to_vec_pretty(&lease)
        .map_err(|e| JobError::Failed(JobStatus::common(e.to_string())))?;
    let key = layout::lease_key(&lease.server_id, record.id);
    storage_op(job, "write lease", || {
        repo.store.put_bytes(&key, Bytes::from(json.clone()))
    })
    .await?;
    Ok(now)
}

fn spawn_heartbeat(
    engine: Arc<Engine>,
    job: Arc<Job>,
    repo: Arc<Repository>,
) -> tokio::task::JoinHandle<()> {
    let heartbeat = Duration::from_millis(engine.config.lease_lifetime_ms().unsigned_abs() / 10);
    tokio::spawn(async move {
        let done = job.done_token();
        // The refreshes are the job's requests too (its Progress counts them).
        let observer: Arc<dyn crate::repo::retry::RetryObserver> = job.clone();
        loop {
            tokio::select! {
                _ = done.cancelled() => return,
                _ = tokio::time::sleep(heartbeat) => {
                    let written = crate::repo::retry::observed(
                        Arc::clone(&observer),
                        write_lease(&engine, &repo, &job),
                    )
                    .await;
                    if let Err(JobError::Failed(s)) = written {
                        tracing::warn!(job = job.id(), error = %s.msg, "lease heartbeat failed");
                    }
                }
            }
        }
    })
}

fn build_manifest(
    engine: &Engine,
    record: &crate::scheduler::JobRecord,
    req: &BackupRequest,
    trees: &[TableTree],
    views: &[crate::catalog::views::ViewMeta],
) -> Manifest {
    let views: Vec<crate::repo::manifest::ManifestView> = views
        .iter()
        .map(crate::repo::manifest::ManifestView::of)
        .collect();
    let tables: Vec<ManifestTable> = trees
        .iter()
        .map(|tree| {
            let t = &tree.table;
            let partitions: Vec<ManifestPartition> = tree
                .partitions
                .iter()
                .map(|p| ManifestPartition {
                    name: p.partition.name.clone(),
                    bounds: p.partition.bounds.clone(),
                    visible_version: p.partition.visible_version,
                    buckets: p.partition.buckets,
                    rows: p.rows(),
                    tablets: p
                        .tablets
                        .iter()
                        .map(|tablet| {
                            let files = |kind: RowsetKind| {
                                tablet
                                    .rowsets
                                    .iter()
                                    .filter(|r| r.kind == kind)
                                    .map(|r| ManifestRowset {
                                        object: layout::object_key(&r.sha256),
                                        size: r.bytes,
                                        rows: r.rows,
                                        sha256: r.sha256.clone(),
                                        checksum: r.content_checksum,
                                        start_version: r.start_version,
                                        end_version: r.end_version,
                                    })
                                    .collect()
                            };
                            ManifestTablet {
                                bucket: tablet.tablet.bucket,
                                rowsets: files(RowsetKind::Data),
                                deletes: files(RowsetKind::Deletes),
                            }
                        })
                        .collect(),
                })
                .collect();
            let checksum = tree.checksum();
            ManifestTable {
                name: t.name.clone(),
                columns: t.columns.clone(),
                key: t.key.clone(),
                comment: t.comment.clone(),
                partitioning: t.partitioning.clone(),
                distribution: t.distribution.clone(),
                properties: t.properties.clone(),
                rows: partitions.iter().map(|p| p.rows).sum(),
                checksum,
                partitions,
                materialized: t.materialized.clone(),
            }
        })
        .collect();
    Manifest {
        format_version: crate::repo::manifest::needed_version(&tables, &views),
        backstop_version: env!("CARGO_PKG_VERSION").to_string(),
        server_id: engine.catalog.server_id().to_string(),
        database: record.db.clone(),
        label: record.label.clone(),
        timestamp: record.timestamp.clone(),
        created_ms: record.created_ms,
        finished_ms: 0,
        ttl: req.ttl.clone(),
        expires_ms: req.expires_ms,
        tables,
        views,
    }
}

/// The views a backup holds, read at its snapshot: `names` (each must still exist), or all.
async fn chosen_views(
    catalog: &crate::catalog::Catalog,
    db: &str,
    names: Option<&[String]>,
) -> Result<Vec<crate::catalog::views::ViewMeta>, JobError> {
    let all = catalog.views(db).await?;
    let Some(names) = names else {
        return Ok(all);
    };
    let mut out = Vec::new();
    for name in names {
        match all.iter().find(|v| v.name.eq_ignore_ascii_case(name)) {
            Some(v) => out.push(v.clone()),
            None => {
                return Err(JobError::Failed(JobStatus::common(format!(
                    "View {name} was dropped before the backup read it"
                ))));
            }
        }
    }
    Ok(out)
}
