//! One job the daemon knows ([`Job`]): its record, cancellation, progress and errors, and why it
//! stopped ([`JobError`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::lock;
use super::record::{JobRecord, JobState, JobStatus};
use crate::catalog::Catalog;
use crate::error::{Error, Result};

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

impl From<crate::failpoint::Triggered> for JobError {
    fn from(e: crate::failpoint::Triggered) -> Self {
        JobError::from(Error::from(e))
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
    pub(super) cancel: CancellationToken,
    /// Fired when the job has ended (stops its timer and heartbeat).
    pub(super) done: CancellationToken,
    /// Set by the first cancel; the job ends with it.
    pub(super) cancel_reason: Mutex<Option<JobStatus>>,
    /// A restore's COMMIT has begun: cancel is refused from now on.
    committing: AtomicBool,
    pub progress: Progress,
    /// `TaskErrMsg`: the last storage errors.
    task_errors: Mutex<Vec<String>>,
}

impl Job {
    pub(super) fn new(record: JobRecord) -> Arc<Job> {
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
    ///
    /// The change that ends the job (FINISHED or CANCELLED) is counted in the metrics under the
    /// record's lock, so whoever sees the job ended (SHOW BACKUP) then sees it counted.
    pub async fn update(&self, catalog: &Catalog, f: impl FnOnce(&mut JobRecord)) -> Result<()> {
        let (id, bytes) = {
            let mut r = lock(&self.record);
            let was_done = r.state.is_done();
            f(&mut r);
            if !was_done && r.state.is_done() {
                let retries = self.progress.retries.load(Ordering::Relaxed);
                let duration_ms =
                    u64::try_from(r.finished_ms.saturating_sub(r.created_ms)).unwrap_or(0);
                crate::metrics::METRICS.job_ended(
                    r.kind.as_str(),
                    r.state == JobState::Finished,
                    duration_ms,
                    retries,
                );
            }
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
    pub fn log_state(&self) {
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

    /// The job has ended (its record says how, and [`Job::update`] counted it): logs the end
    /// and fires the done token. Only the first call acts.
    pub fn mark_done(&self) {
        if self.done.is_cancelled() {
            return;
        }
        self.log_state();
        self.done.cancel();
    }

    /// One object of `bytes` really uploaded or downloaded: the job's figures and the metrics.
    pub fn moved(&self, bytes: u64) {
        self.progress.moved(bytes);
        crate::metrics::METRICS.moved(lock(&self.record).kind.as_str(), bytes);
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
    /// Runs the job's steps `fut` with the job told of every storage request they retry. A
    /// panic on the way (a bug) fails this job, which then ends and cleans up as any failed job
    /// does, instead of leaving it running forever.
    pub async fn observing<T, F>(self: &Arc<Self>, fut: F) -> Result<T, JobError>
    where
        F: std::future::Future<Output = Result<T, JobError>>,
    {
        use futures::FutureExt;
        let observer: Arc<dyn crate::repo::retry::RetryObserver> = self.clone();
        std::panic::AssertUnwindSafe(crate::repo::retry::observed(observer, fut))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                let text = crate::error::panic_text(panic.as_ref());
                tracing::error!(job = self.record().id, panic = text, "the job panicked");
                Err(JobError::Failed(JobStatus::common(format!(
                    "internal error: the job panicked: {text} (this is a bug in backstop; please \
                     report it)"
                ))))
            })
    }
}

/// A job counts the retries of the storage requests it sends, and shows their errors.
impl crate::repo::retry::RetryObserver for Job {
    fn retried(&self, what: &str, error: &crate::repo::StoreError) {
        self.progress.retries.fetch_add(1, Ordering::Relaxed);
        self.storage_error(what, error);
    }

    fn requested(&self, op: &'static str) {
        self.progress.requested(op);
    }
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
    /// Storage requests this job sent, by operation, in the order first seen.
    pub requests: std::sync::Mutex<Vec<(&'static str, u64)>>,
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

    /// `[objects: 12/48, bytes: 1.2 GiB/4.8 GiB]`, then the storage requests sent so far:
    /// `, requests: 9 (list 2, put 6, get 1)`.
    pub fn cell(&self) -> String {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let total: u64 = requests.iter().map(|(_, n)| n).sum();
        let requests = if total == 0 {
            String::new()
        } else {
            let by_op: Vec<String> = requests.iter().map(|(op, n)| format!("{op} {n}")).collect();
            format!(", requests: {total} ({})", by_op.join(", "))
        };
        format!(
            "[objects: {}/{}, bytes: {}/{}{requests}]",
            self.objects_done.load(Ordering::Relaxed),
            self.objects_total.load(Ordering::Relaxed),
            human_bytes(self.bytes_done.load(Ordering::Relaxed)),
            human_bytes(self.bytes_total.load(Ordering::Relaxed)),
        )
    }

    /// Counts one storage request of kind `op`.
    pub fn requested(&self, op: &'static str) {
        crate::metrics::count_by_label(&self.requests, op);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::JobKind;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
        assert_eq!(human_bytes(u64::MAX), "16777216.0 TiB");
    }

    #[test]
    fn progress_counts_the_phase_and_what_moved() {
        let p = Progress::default();
        p.reset(4, 4 << 20);
        p.add(1, 1 << 20);
        p.moved(1 << 20);
        assert_eq!(p.cell(), "[objects: 1/4, bytes: 1.0 MiB/4.0 MiB]");
        p.reset(2, 10);
        assert_eq!(p.cell(), "[objects: 0/2, bytes: 0 B/10 B]");
        assert_eq!(p.moved_bytes.load(Ordering::Relaxed), 1 << 20);
    }

    #[test]
    fn a_committing_job_cannot_be_cancelled_and_a_cancelled_one_cannot_commit() {
        let job = Job::new(JobRecord::pending(JobKind::Restore, 1, 0));
        assert!(job.begin_commit());
        assert!(!job.cancel_with(JobStatus::common("user cancelled")));
        assert!(job.check().is_ok());
        let job = Job::new(JobRecord::pending(JobKind::Restore, 2, 0));
        assert!(job.cancel_with(JobStatus::common("user cancelled")));
        assert!(!job.begin_commit());
        assert!(matches!(job.check(), Err(JobError::Cancelled)));
        // The first reason wins.
        assert!(job.cancel_with(JobStatus::error("TIMEOUT", "")));
        assert_eq!(
            job.cancel_reason.lock().unwrap().as_ref().unwrap().code,
            "COMMON_ERROR"
        );
    }

    #[test]
    fn task_errors_keep_the_last_five_with_the_retry_count() {
        let job = Job::new(JobRecord::pending(JobKind::Backup, 1, 0));
        assert_eq!(job.task_errors_cell(), "");
        job.progress.retries.fetch_add(3, Ordering::Relaxed);
        assert_eq!(job.task_errors_cell(), "(retries: 3)");
        for i in 0..7 {
            job.note_error(format!("e{i}"));
        }
        assert_eq!(
            job.task_errors_cell(),
            "[e2], [e3], [e4], [e5], [e6] (retries: 3)"
        );
    }
}
