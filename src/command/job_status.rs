//! `SHOW BACKUP` / `SHOW RESTORE`, `CANCEL BACKUP` / `CANCEL RESTORE`, and the answer of a
//! `"sync" = "true"` job ([`wait_for_job`]).

use std::sync::Arc;
use std::time::Duration;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::scheduler::{Job, JobKind, JobRecord, JobState, JobStatus};
use crate::sql::{CancelJob, JobTarget, ShowJobs};

use super::{Outcome, format_datetime_ms};

/// `"sync" = "true"`: waits until the job has ended. FINISHED answers one row saying what the
/// job did (a script reads the snapshot's `Timestamp` from it); CANCELLED answers error 5064
/// with the job's status, so `mysql` exits non-zero and a driver raises.
///
/// The job runs on its own task: a client that disconnects while waiting does not stop it.
pub async fn wait_for_job(job: &Job) -> Result<Outcome> {
    job.done_token().cancelled().await;
    let r = job.record();
    let kind = r.kind.as_str().to_ascii_uppercase();
    if r.state != JobState::Finished {
        return Err(Error::Common(format!(
            "{kind} job {} (label '{}', database {}) ended {}: {}",
            r.id,
            r.label,
            r.db,
            r.state.as_str(),
            r.status.cell()
        )));
    }
    let load =
        |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed).to_string();
    let p = &job.progress;
    Outcome::text_table(
        &SYNC_COLUMNS,
        vec![vec![
            Some(r.id.to_string()),
            Some(kind.to_string()),
            Some(r.label.clone()),
            Some(r.timestamp.clone()),
            Some(r.db.clone()),
            Some(r.state.as_str().to_string()),
            Some(load(&p.objects_total)),
            Some(load(&p.bytes_total)),
            Some(load(&p.moved_objects)),
            Some(load(&p.moved_bytes)),
            Some(
                r.finished_ms
                    .saturating_sub(r.created_ms)
                    .max(0)
                    .to_string(),
            ),
        ]],
    )
}

/// The row a `sync` job answers when it finished (docs/backup.md explains each).
pub const SYNC_COLUMNS: [&str; 11] = [
    "JobId",
    "Kind",
    "Label",
    "Timestamp",
    "DbName",
    "State",
    "Objects",
    "Bytes",
    "TransferredObjects",
    "TransferredBytes",
    "DurationMs",
];

/// `SHOW BACKUP [FROM db]` / `SHOW RESTORE [FROM db]`: the latest job of the database (or of
/// every database) when it is of that kind.
pub async fn show_jobs(engine: &Engine, stmt: ShowJobs, kind: JobKind) -> Result<Outcome> {
    let jobs: Vec<Arc<Job>> = match &stmt.db {
        Some(db) => {
            if engine.catalog.database(&db.value).await?.is_none()
                && engine.jobs.latest(&db.value).is_none()
            {
                return Err(Error::UnknownDatabase(db.value.clone()));
            }
            engine.jobs.latest(&db.value).into_iter().collect()
        }
        None => engine.jobs.all_latest(),
    };
    let rows = jobs
        .into_iter()
        .filter_map(|job| {
            let r = job.record();
            (r.kind == kind).then(|| job_row(&job, &r))
        })
        .collect();
    let head: &[&str] = match kind {
        JobKind::Backup => &BACKUP_COLUMNS,
        JobKind::Restore | JobKind::Verify => &RESTORE_COLUMNS,
    };
    Outcome::text_table(&[head, &TAIL_COLUMNS[..]].concat(), rows)
}

/// SHOW BACKUP's own columns, before [`TAIL_COLUMNS`] (StarRocks' order).
const BACKUP_COLUMNS: [&str; 9] = [
    "JobId",
    "SnapshotName",
    "DbName",
    "State",
    "BackupObjs",
    "CreateTime",
    "SnapshotFinishedTime",
    "UploadFinishedTime",
    "FinishedTime",
];

/// SHOW RESTORE's own columns, before [`TAIL_COLUMNS`] (StarRocks' order).
const RESTORE_COLUMNS: [&str; 13] = [
    "JobId",
    "Label",
    "Timestamp",
    "DbName",
    "State",
    "AllowLoad",
    "ReplicationNum",
    "RestoreObjs",
    "CreateTime",
    "MetaPreparedTime",
    "SnapshotFinishedTime",
    "DownloadFinishedTime",
    "FinishedTime",
];

/// The columns SHOW BACKUP and SHOW RESTORE end with.
const TAIL_COLUMNS: [&str; 5] = [
    "UnfinishedTasks",
    "Progress",
    "TaskErrMsg",
    "Status",
    "Timeout",
];

fn job_row(job: &Job, r: &JobRecord) -> Vec<Option<String>> {
    let progress = if job
        .progress
        .objects_total
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
        || matches!(r.state, JobState::Uploading | JobState::Downloading)
    {
        job.progress.cell()
    } else {
        String::new()
    };
    let common_tail = [
        Some(String::new()),
        Some(progress),
        Some(job.task_errors_cell()),
        Some(r.status.cell()),
        Some(r.timeout_s.to_string()),
    ];
    let mut row = match r.kind {
        JobKind::Backup => vec![
            Some(r.id.to_string()),
            Some(r.label.clone()),
            Some(r.db.clone()),
            Some(r.state.as_str().to_string()),
            Some(r.objects.clone()),
            format_datetime_ms(r.created_ms),
            format_datetime_ms(r.snapshot_finished_ms),
            format_datetime_ms(r.transfer_finished_ms),
            format_datetime_ms(r.finished_ms),
        ],
        JobKind::Restore | JobKind::Verify => vec![
            Some(r.id.to_string()),
            Some(r.label.clone()),
            Some(r.timestamp.clone()),
            Some(r.db.clone()),
            Some(r.state.as_str().to_string()),
            Some(r.allow_load.to_string()),
            Some(r.replication_num.to_string()),
            Some(r.objects.clone()),
            format_datetime_ms(r.created_ms),
            format_datetime_ms(r.meta_prepared_ms),
            format_datetime_ms(r.snapshot_finished_ms),
            format_datetime_ms(r.transfer_finished_ms),
            format_datetime_ms(r.finished_ms),
        ],
    };
    row.extend(common_tail);
    row
}

/// `CANCEL BACKUP FROM db` / `CANCEL RESTORE FROM db`: waits (a few seconds at most) until the
/// job has stopped, so SHOW right after shows CANCELLED.
pub async fn cancel(engine: &Engine, stmt: CancelJob, kind: JobKind) -> Result<Outcome> {
    let db = match stmt.target {
        JobTarget::Database(db) => db.value,
        JobTarget::ExternalCatalog => {
            return Err(Error::NotSupported(
                "backstop has no external catalogs".into(),
            ));
        }
    };
    let none = || {
        Error::Common(match kind {
            JobKind::Backup => "No backup job is currently running".into(),
            JobKind::Restore | JobKind::Verify => "No restore is currently running".into(),
        })
    };
    let job = engine.jobs.latest(&db).ok_or_else(none)?;
    let r = job.record();
    if r.kind != kind {
        return Err(none());
    }
    let status = match kind {
        JobKind::Backup => JobStatus::common("user cancelled"),
        JobKind::Restore | JobKind::Verify => JobStatus::common(format!(
            "user cancelled, current state: {}",
            r.state.as_str()
        )),
    };
    if !job.cancel_with(status) {
        return Err(Error::Common(format!(
            "Failed to cancel job: Job with label {} can not be cancelled. state: {}",
            r.label,
            job.state().as_str()
        )));
    }
    let done = job.done_token();
    if tokio::time::timeout(Duration::from_secs(30), done.cancelled())
        .await
        .is_err()
    {
        return Err(Error::Common(format!(
            "job {} of database {db} was asked to stop but has not stopped yet; SHOW {} FROM {db} \
             shows when it has",
            r.id,
            if kind == JobKind::Backup {
                "BACKUP"
            } else {
                "RESTORE"
            }
        )));
    }
    Ok(Outcome::ok())
}
