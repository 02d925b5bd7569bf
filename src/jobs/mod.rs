//! BACKUP and RESTORE jobs: records, the per-database scheduler, cancellation and timeouts.
//!
//! - At most one job runs per database; a second gets StarRocks' error at once. The latest job
//!   of each database is kept (and persisted) so SHOW BACKUP / SHOW RESTORE can show it.
//! - Every state change is persisted ([`Job::set_state`]) before the job relies on it.
//! - Cancellation is cooperative: CANCEL and the timeout fire the job's token, and the job
//!   stops at its next interruptible point ([`Job::interruptible`]). A restore in COMMIT is not
//!   interruptible: [`Job::cancel_with`] refuses once it has begun.
//! - After a restart, a job that was not done is ended CANCELLED with the reason ([`Jobs::load`]):
//!   a backup never wrote COMMIT, and a restore either committed (its record was marked FINISHED
//!   in the commit's own transaction) or changed nothing.

pub mod backup;
pub mod lifecycle;
pub mod restore;
pub mod verify;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobKind {
    Backup,
    Restore,
    /// VERIFY SNAPSHOT (backstop): kept apart from the per-database jobs.
    Verify,
}

impl JobKind {
    /// `backup`, `restore` or `verify` (logs and metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Backup => "backup",
            JobKind::Restore => "restore",
            JobKind::Verify => "verify",
        }
    }
}

/// StarRocks' job states (backup and restore share one enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    Pending,
    Snapshoting,
    UploadSnapshot,
    Uploading,
    SaveMeta,
    UploadInfo,
    Download,
    Downloading,
    Commit,
    Committing,
    /// VERIFY SNAPSHOT reading the snapshot.
    Verifying,
    Finished,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "PENDING",
            JobState::Snapshoting => "SNAPSHOTING",
            JobState::UploadSnapshot => "UPLOAD_SNAPSHOT",
            JobState::Uploading => "UPLOADING",
            JobState::SaveMeta => "SAVE_META",
            JobState::UploadInfo => "UPLOAD_INFO",
            JobState::Download => "DOWNLOAD",
            JobState::Downloading => "DOWNLOADING",
            JobState::Commit => "COMMIT",
            JobState::Committing => "COMMITTING",
            JobState::Verifying => "VERIFYING",
            JobState::Finished => "FINISHED",
            JobState::Cancelled => "CANCELLED",
        }
    }

    pub fn is_done(self) -> bool {
        matches!(self, JobState::Finished | JobState::Cancelled)
    }
}

/// A job's `Status` cell: `[OK]` or `[CODE, msg: text]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    pub code: String,
    pub msg: String,
}

impl JobStatus {
    pub fn ok() -> Self {
        JobStatus {
            code: "OK".into(),
            msg: String::new(),
        }
    }

    pub fn error(code: &str, msg: impl Into<String>) -> Self {
        JobStatus {
            code: code.into(),
            msg: msg.into(),
        }
    }

    pub fn common(msg: impl Into<String>) -> Self {
        Self::error("COMMON_ERROR", msg)
    }

    pub fn cell(&self) -> String {
        if self.code == "OK" {
            "[OK]".into()
        } else {
            format!("[{}, msg: {}]", self.code, self.msg)
        }
    }
}

/// The persisted record of one job: what SHOW BACKUP / SHOW RESTORE print and what a restart
/// needs to end it properly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: u64,
    pub kind: JobKind,
    pub label: String,
    /// The database backed up, or restored into.
    pub db: String,
    pub repo: String,
    pub state: JobState,
    /// The snapshot's timestamp (`yyyy-MM-dd-HH-mm-ss-SSS`).
    pub timestamp: String,
    /// `BackupObjs` / `RestoreObjs` cell.
    pub objects: String,
    pub created_ms: i64,
    /// Restore: end of PENDING.
    #[serde(default)]
    pub meta_prepared_ms: i64,
    #[serde(default)]
    pub snapshot_finished_ms: i64,
    /// Backup: uploads done; restore: downloads done.
    #[serde(default)]
    pub transfer_finished_ms: i64,
    #[serde(default)]
    pub finished_ms: i64,
    pub timeout_s: u64,
    pub status: JobStatus,
    /// Restore only.
    #[serde(default)]
    pub allow_load: bool,
    #[serde(default)]
    pub replication_num: u32,
    /// Staged files a restore wrote (removed when it ends without committing).
    #[serde(default)]
    pub staged: Vec<std::path::PathBuf>,
    /// VERIFY only: `metadata` or `full`.
    #[serde(default)]
    pub mode: Option<String>,
}

/// Live progress of the current transfer phase.
#[derive(Debug, Default)]
pub struct Progress {
    pub objects_done: AtomicU64,
    pub objects_total: AtomicU64,
    pub bytes_done: AtomicU64,
    pub bytes_total: AtomicU64,
    /// Storage requests of this job sent again ([`crate::repo::retry`]).
    pub retries: AtomicU64,
    /// Objects and bytes this job really moved (a backup's objects the repository already had
    /// are not counted); never reset between phases.
    pub moved_objects: AtomicU64,
    pub moved_bytes: AtomicU64,
}

impl Progress {
    pub fn reset(&self, objects: u64, bytes: u64) {
        self.objects_done.store(0, Ordering::Relaxed);
        self.bytes_done.store(0, Ordering::Relaxed);
        self.objects_total.store(objects, Ordering::Relaxed);
        self.bytes_total.store(bytes, Ordering::Relaxed);
    }

    pub fn add(&self, objects: u64, bytes: u64) {
        self.objects_done.fetch_add(objects, Ordering::Relaxed);
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts one object of `bytes` really uploaded or downloaded.
    pub fn moved(&self, bytes: u64) {
        self.moved_objects.fetch_add(1, Ordering::Relaxed);
        self.moved_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `[objects: 12/48, bytes: 1.2 GiB/4.8 GiB]`
    pub fn cell(&self) -> String {
        format!(
            "[objects: {}/{}, bytes: {}/{}]",
            self.objects_done.load(Ordering::Relaxed),
            self.objects_total.load(Ordering::Relaxed),
            human_bytes(self.bytes_done.load(Ordering::Relaxed)),
            human_bytes(self.bytes_total.load(Ordering::Relaxed)),
        )
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS.get(unit).copied().unwrap_or("B"))
    }
}

/// Transfer settings of one job: `parallel` streams, and `max_bandwidth` bytes per second.
#[derive(Debug, Clone, Copy)]
pub struct TransferSettings {
    pub parallel: usize,
    pub max_bandwidth: Option<u64>,
    /// S3 multipart part size of uploads.
    pub part_size: u64,
}

impl Default for TransferSettings {
    fn default() -> Self {
        TransferSettings {
            parallel: DEFAULT_PARALLEL,
            max_bandwidth: None,
            part_size: crate::repo::s3::PART_SIZE,
        }
    }
}

/// Objects in flight at once by default.
pub const DEFAULT_PARALLEL: usize = 4;

/// A job's bandwidth cap: each object's bytes are admitted before it moves, at most
/// `bytes_per_sec` on average since the job's transfers began.
#[derive(Debug)]
pub struct Bandwidth {
    bytes_per_sec: Option<u64>,
    start: std::time::Instant,
    admitted: Mutex<u64>,
}

impl Bandwidth {
    pub fn new(bytes_per_sec: Option<u64>) -> Self {
        Bandwidth {
            bytes_per_sec: bytes_per_sec.filter(|b| *b > 0),
            start: std::time::Instant::now(),
            admitted: Mutex::new(0),
        }
    }

    /// Waits until `bytes` more fit under the cap.
    pub async fn admit(&self, bytes: u64) {
        let Some(rate) = self.bytes_per_sec else {
            return;
        };
        let due = {
            let mut admitted = lock(&self.admitted);
            let before = *admitted;
            *admitted += bytes;
            std::time::Duration::from_secs_f64(before as f64 / rate as f64)
        };
        if let Some(wait) = due.checked_sub(self.start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Why a job stopped before finishing.
#[derive(Debug)]
pub enum JobError {
    /// Cancelled (by CANCEL or the timeout); the reason was set by [`Job::cancel_with`].
    Cancelled,
    /// Failed with this status.
    Failed(JobStatus),
}

impl From<Error> for JobError {
    fn from(e: Error) -> Self {
        JobError::Failed(JobStatus::common(e.to_string()))
    }
}

impl From<crate::catalog::CatalogError> for JobError {
    fn from(e: crate::catalog::CatalogError) -> Self {
        JobError::Failed(JobStatus::common(e.to_string()))
    }
}

/// A job the daemon knows: its record, its cancel token and its progress.
#[derive(Debug)]
pub struct Job {
    record: Mutex<JobRecord>,
    cancel: CancellationToken,
    /// Fired when the job has ended (stops its timer and heartbeat).
    done: CancellationToken,
    /// Set by the first cancel; the job ends with it.
    cancel_reason: Mutex<Option<JobStatus>>,
    /// A restore's COMMIT has begun: cancel is refused from now on.
    committing: AtomicBool,
    pub progress: Progress,
    /// `TaskErrMsg`: the last storage errors.
    task_errors: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Job {
    fn new(record: JobRecord) -> Arc<Job> {
        Arc::new(Job {
            record: Mutex::new(record),
            cancel: CancellationToken::new(),
            done: CancellationToken::new(),
            cancel_reason: Mutex::new(None),
            committing: AtomicBool::new(false),
            progress: Progress::default(),
            task_errors: Mutex::new(Vec::new()),
        })
    }

    pub fn record(&self) -> JobRecord {
        lock(&self.record).clone()
    }

    pub fn id(&self) -> u64 {
        lock(&self.record).id
    }

    pub fn state(&self) -> JobState {
        lock(&self.record).state
    }

    /// Changes the record and persists it before returning.
    pub async fn update(&self, catalog: &Catalog, f: impl FnOnce(&mut JobRecord)) -> Result<()> {
        let (id, bytes) = {
            let mut r = lock(&self.record);
            f(&mut r);
            (
                r.id,
                serde_json::to_vec(&*r).map_err(|e| Error::Internal(e.to_string()))?,
            )
        };
        catalog.put_job(id, bytes).await?;
        Ok(())
    }

    /// Moves to `state` (persisted), unless the job was cancelled meanwhile.
    pub async fn set_state(&self, catalog: &Catalog, state: JobState) -> Result<(), JobError> {
        self.check()?;
        self.update(catalog, |r| r.state = state).await?;
        self.log_state();
        Ok(())
    }

    /// The one log line of a state change: who the job is and what it has moved so far. A job
    /// record holds no secret (repository credentials live in the catalog's repository table).
    fn log_state(&self) {
        let r = self.record();
        let p = &self.progress;
        let kind = r.kind.as_str();
        let objects_done = p.objects_done.load(Ordering::Relaxed);
        let objects_total = p.objects_total.load(Ordering::Relaxed);
        let bytes_done = p.bytes_done.load(Ordering::Relaxed);
        let bytes_total = p.bytes_total.load(Ordering::Relaxed);
        let moved_objects = p.moved_objects.load(Ordering::Relaxed);
        let moved_bytes = p.moved_bytes.load(Ordering::Relaxed);
        if !r.state.is_done() {
            tracing::info!(
                job = r.id,
                kind,
                db = %r.db,
                label = %r.label,
                repo = %r.repo,
                backup_timestamp = %r.timestamp,
                state = r.state.as_str(),
                objects_done,
                objects_total,
                bytes_done,
                bytes_total,
                "job state"
            );
            return;
        }
        let duration_ms = r.finished_ms.saturating_sub(r.created_ms).max(0);
        let status = r.status.cell();
        if r.state == JobState::Finished {
            tracing::info!(
                job = r.id, kind, db = %r.db, label = %r.label, repo = %r.repo,
                backup_timestamp = %r.timestamp, state = r.state.as_str(), status = %status,
                objects_total, bytes_total, moved_objects, moved_bytes, duration_ms,
                "job state"
            );
        } else {
            tracing::warn!(
                job = r.id, kind, db = %r.db, label = %r.label, repo = %r.repo,
                backup_timestamp = %r.timestamp, state = r.state.as_str(), status = %status,
                objects_total, bytes_total, moved_objects, moved_bytes, duration_ms,
                "job state"
            );
        }
    }

    /// Err(Cancelled) once the job was cancelled.
    pub fn check(&self) -> Result<(), JobError> {
        if self.cancel.is_cancelled() {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Runs `fut` unless the job is cancelled first; cancellation drops it.
    pub async fn interruptible<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, JobError>>,
    ) -> Result<T, JobError> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(JobError::Cancelled),
            r = fut => r,
        }
    }

    /// Cancels the job with `status`; false when it cannot be cancelled (done, or committing).
    pub fn cancel_with(&self, status: JobStatus) -> bool {
        if self.committing.load(Ordering::SeqCst) || self.state().is_done() {
            return false;
        }
        let mut reason = lock(&self.cancel_reason);
        if reason.is_none() {
            *reason = Some(status);
        }
        self.cancel.cancel();
        true
    }

    /// Enters COMMIT: from now on the job cannot be cancelled. False if it already was.
    pub fn begin_commit(&self) -> bool {
        let _reason = lock(&self.cancel_reason);
        if self.cancel.is_cancelled() {
            return false;
        }
        self.committing.store(true, Ordering::SeqCst);
        true
    }

    /// A token fired when the job has ended, for tasks that live beside it.
    pub fn done_token(&self) -> CancellationToken {
        self.done.clone()
    }

    /// The job has ended (its record says how): logs the end, counts it in the metrics, and
    /// fires the done token. Only the first call counts.
    pub fn mark_done(&self) {
        if self.done.is_cancelled() {
            return;
        }
        self.log_state();
        let r = self.record();
        let retries = self.progress.retries.load(Ordering::Relaxed);
        let duration_ms = u64::try_from(r.finished_ms.saturating_sub(r.created_ms)).unwrap_or(0);
        crate::metrics::METRICS.job_ended(r.kind, r.state, duration_ms, retries);
        self.done.cancel();
    }

    /// One object of `bytes` really uploaded or downloaded: the job's figures and the metrics.
    pub fn moved(&self, bytes: u64) {
        self.progress.moved(bytes);
        crate::metrics::METRICS.moved(lock(&self.record).kind, bytes);
    }

    /// A storage error `what` met: kept for TaskErrMsg and counted by kind in the metrics.
    pub fn storage_error(&self, what: &str, e: &crate::repo::StoreError) {
        crate::metrics::METRICS.storage_error(e.kind());
        self.note_error(format!("{what}: {e}"));
    }

    pub fn note_error(&self, message: String) {
        let mut errors = lock(&self.task_errors);
        errors.push(message);
        let excess = errors.len().saturating_sub(5);
        errors.drain(..excess);
    }

    pub fn task_errors_cell(&self) -> String {
        let errors = lock(&self.task_errors);
        let retries = self.progress.retries.load(Ordering::Relaxed);
        if errors.is_empty() {
            return if retries == 0 {
                String::new()
            } else {
                format!("(retries: {retries})")
            };
        }
        let list = errors
            .iter()
            .map(|e| format!("[{e}]"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("{list} (retries: {retries})")
    }
}

impl Job {
    /// Runs the job's steps `fut` with the job told of every storage request they retry.
    pub async fn observing<F: std::future::Future>(self: &Arc<Self>, fut: F) -> F::Output {
        let observer: Arc<dyn crate::repo::retry::RetryObserver> = self.clone();
        crate::repo::retry::observed(observer, fut).await
    }
}

/// A job counts the retries of the storage requests it sends, and shows their errors.
impl crate::repo::retry::RetryObserver for Job {
    fn retried(&self, what: &str, error: &crate::repo::StoreError) {
        self.progress.retries.fetch_add(1, Ordering::Relaxed);
        self.storage_error(what, error);
    }
}

/// Every job the daemon knows: the latest of each database.
pub struct Jobs {
    catalog: Catalog,
    latest: Mutex<HashMap<String, Arc<Job>>>,
    /// Table names a running restore will create at its commit: (database, table), lower
    /// case, → job id. CREATE TABLE on them is refused until the job ends.
    reserved: Mutex<HashMap<(String, String), u64>>,
    /// VERIFY SNAPSHOT jobs, oldest first (the last [`KEPT_VERIFICATIONS`]).
    verifications: Mutex<Vec<Arc<Job>>>,
}

/// How many VERIFY jobs are remembered (SHOW VERIFY, SHOW SNAPSHOT's last verification).
pub const KEPT_VERIFICATIONS: usize = 200;

impl Jobs {
    /// Loads job records at start-up. A job that was not done is ended CANCELLED with the
    /// reason; `cleanup` removes what it left (a restore's staged files).
    pub fn load(catalog: Catalog) -> Result<Jobs> {
        let mut latest: HashMap<String, Arc<Job>> = HashMap::new();
        let mut verifications: Vec<Arc<Job>> = Vec::new();
        let mut stale = Vec::new();
        for (id, bytes) in catalog.jobs_blocking()? {
            let mut record: JobRecord = match serde_json::from_slice(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(job = id, error = %e, "dropping an unreadable job record");
                    stale.push(id);
                    continue;
                }
            };
            // A backup stopped in UPLOAD_INFO may have written its COMMIT: the repository says
            // which ([`Jobs::reconcile`] asks it once the daemon runs).
            let maybe_committed =
                record.kind == JobKind::Backup && record.state == JobState::UploadInfo;
            if !record.state.is_done() && !maybe_committed {
                tracing::warn!(
                    job = id,
                    state = record.state.as_str(),
                    "job interrupted by a restart"
                );
                for path in &record.staged {
                    let _ = std::fs::remove_file(path);
                }
                record.status = JobStatus::common(format!(
                    "backstop restarted while the job was in state {}; nothing was committed. \
                     Run it again",
                    record.state.as_str()
                ));
                record.state = JobState::Cancelled;
                record.finished_ms = chrono::Utc::now().timestamp_millis();
                record.staged.clear();
                let bytes =
                    serde_json::to_vec(&record).map_err(|e| Error::Internal(e.to_string()))?;
                catalog.put_job_blocking(id, &bytes)?;
            }
            if record.kind == JobKind::Verify {
                verifications.push(Job::new(record));
                continue;
            }
            let key = record.db.to_ascii_lowercase();
            match latest.get(&key) {
                Some(existing) if existing.id() > id => stale.push(id),
                Some(existing) => {
                    stale.push(existing.id());
                    latest.insert(key, Job::new(record));
                }
                None => {
                    latest.insert(key, Job::new(record));
                }
            }
        }
        verifications.sort_by_key(|j| j.id());
        let excess = verifications.len().saturating_sub(KEPT_VERIFICATIONS);
        stale.extend(verifications.drain(..excess).map(|j| j.id()));
        for id in stale {
            catalog.delete_job_blocking(id)?;
        }
        Ok(Jobs {
            catalog,
            latest: Mutex::new(latest),
            reserved: Mutex::new(HashMap::new()),
            verifications: Mutex::new(verifications),
        })
    }

    /// Backups a restart interrupted after they may have written COMMIT: FINISHED when the
    /// repository holds their committed snapshot, else CANCELLED with the reason.
    pub async fn reconcile(&self) {
        let pending: Vec<Arc<Job>> = lock(&self.latest)
            .values()
            .filter(|j| {
                let r = j.record();
                r.kind == JobKind::Backup && r.state == JobState::UploadInfo
            })
            .cloned()
            .collect();
        for job in pending {
            let r = job.record();
            let repo = match self.catalog.repository(&r.repo).await {
                Ok(Some(meta)) => crate::repo::Repository::open(meta).await.ok(),
                _ => None,
            };
            let committed = match repo {
                Some(repo) => {
                    crate::repo::manifest::read_committed(&repo.store, &r.label, &r.timestamp)
                        .await
                        .is_ok()
                }
                None => false,
            };
            let result = job
                .update(&self.catalog, |rec| {
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
            }
            job.mark_done();
            tracing::warn!(
                job = r.id,
                committed,
                "backup interrupted in UPLOAD_INFO reconciled"
            );
        }
    }

    /// Registers a new job for its database: refused while the database's latest job is not
    /// done. The record is persisted before this returns.
    pub async fn submit(&self, record: JobRecord) -> Result<Arc<Job>> {
        let key = record.db.to_ascii_lowercase();
        let job = Job::new(record);
        let previous = {
            let mut latest = lock(&self.latest);
            if latest.get(&key).is_some_and(|j| !j.state().is_done()) {
                return Err(Error::Common(
                    "Can only run one backup or restore job of a database at same time".into(),
                ));
            }
            latest.insert(key.clone(), Arc::clone(&job))
        };
        if let Err(e) = job.update(&self.catalog, |_| {}).await {
            let mut latest = lock(&self.latest);
            match previous {
                Some(p) => latest.insert(key, p),
                None => latest.remove(&key),
            };
            return Err(e);
        }
        job.log_state();
        crate::metrics::METRICS.job_submitted(job.record().kind);
        if let Some(p) = previous {
            let _ = self.catalog.delete_job(p.id()).await;
        }
        Ok(job)
    }

    /// Registers and persists a VERIFY job; forgets the oldest beyond [`KEPT_VERIFICATIONS`].
    pub async fn submit_verification(&self, record: JobRecord) -> Result<Arc<Job>> {
        let job = Job::new(record);
        job.update(&self.catalog, |_| {}).await?;
        let forgotten: Vec<u64> = {
            let mut list = lock(&self.verifications);
            list.push(Arc::clone(&job));
            let excess = list.len().saturating_sub(KEPT_VERIFICATIONS);
            list.drain(..excess).map(|j| j.id()).collect()
        };
        for id in forgotten {
            let _ = self.catalog.delete_job(id).await;
        }
        Ok(job)
    }

    /// The VERIFY jobs remembered, oldest first.
    pub fn verifications(&self) -> Vec<Arc<Job>> {
        lock(&self.verifications).clone()
    }

    /// Reserves table names for a restore's commit; fails naming the first one taken.
    pub fn reserve(&self, db: &str, tables: &[String], job_id: u64) -> Result<(), String> {
        let mut reserved = lock(&self.reserved);
        for t in tables {
            let key = (db.to_ascii_lowercase(), t.to_ascii_lowercase());
            if let Some(other) = reserved.get(&key).filter(|j| **j != job_id) {
                return Err(format!("table {db}.{t} is reserved by RESTORE job {other}"));
            }
        }
        for t in tables {
            reserved.insert((db.to_ascii_lowercase(), t.to_ascii_lowercase()), job_id);
        }
        Ok(())
    }

    /// Releases every name `job_id` reserved.
    pub fn release(&self, job_id: u64) {
        lock(&self.reserved).retain(|_, j| *j != job_id);
    }

    /// The RESTORE job that reserved `db`.`table`, if one did.
    pub fn reserved_by(&self, db: &str, table: &str) -> Option<u64> {
        lock(&self.reserved)
            .get(&(db.to_ascii_lowercase(), table.to_ascii_lowercase()))
            .copied()
    }

    /// The latest job of `db`.
    pub fn latest(&self, db: &str) -> Option<Arc<Job>> {
        lock(&self.latest).get(&db.to_ascii_lowercase()).cloned()
    }

    /// The latest job of every database, by database name.
    pub fn all_latest(&self) -> Vec<Arc<Job>> {
        let mut jobs: Vec<_> = lock(&self.latest).values().cloned().collect();
        jobs.sort_by_key(|j| j.record().db);
        jobs
    }

    /// Whether a job that is not done uses the repository.
    pub fn using_repository(&self, repo: &str) -> bool {
        let busy =
            |j: &Arc<Job>| !j.state().is_done() && j.record().repo.eq_ignore_ascii_case(repo);
        lock(&self.latest).values().any(busy) || lock(&self.verifications).iter().any(busy)
    }

    /// Ends a job that stopped: CANCELLED with the cancel reason or the failure, persisted.
    pub async fn finish_failed(&self, job: &Job, error: JobError) {
        let status = match error {
            JobError::Cancelled => lock(&job.cancel_reason)
                .clone()
                .unwrap_or_else(|| JobStatus::common("cancelled")),
            JobError::Failed(status) => status,
        };
        let result = job
            .update(&self.catalog, |r| {
                r.state = JobState::Cancelled;
                r.status = status;
                r.finished_ms = chrono::Utc::now().timestamp_millis();
                r.staged.clear();
            })
            .await;
        if let Err(e) = result {
            tracing::error!(job = job.id(), error = %e, "cannot persist the end of a job");
        }
        job.mark_done();
    }

    /// Arms the job's timeout: measured from its creation, as StarRocks does.
    pub fn arm_timeout(job: &Arc<Job>, status: JobStatus) {
        let record = job.record();
        let deadline_ms = record.created_ms.saturating_add(
            i64::try_from(record.timeout_s.saturating_mul(1000)).unwrap_or(i64::MAX),
        );
        let wait = deadline_ms
            .saturating_sub(chrono::Utc::now().timestamp_millis())
            .max(0);
        let job = Arc::clone(job);
        tokio::spawn(async move {
            tokio::select! {
                _ = job.cancel.cancelled() => {}
                _ = job.done.cancelled() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(wait.unsigned_abs())) => {
                    if job.cancel_with(status) {
                        tracing::warn!(job = job.id(), "job timed out");
                    }
                }
            }
        });
    }
}
