//! The job scheduler: every BACKUP, RESTORE and VERIFY job the daemon knows, one running job
//! per database, cancellation and timeouts. The jobs' steps live above the engine
//! ([`crate::jobs`]); this is what the engine holds of them.
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
//!
//! - [`record`]: what a job is (kind, state, status, the persisted record);
//! - [`job`]: one job's handle (cancellation, progress, errors);
//! - [`transfer`]: streams, part size and the bandwidth cap of a job's transfers.

pub mod job;
pub mod record;
pub mod transfer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

pub use job::{Job, JobError, Progress, human_bytes};
pub use record::{JobKind, JobRecord, JobState, JobStatus};
pub use transfer::{DEFAULT_PARALLEL, TransferSettings};

use crate::catalog::Catalog;
use crate::error::{Error, Result};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
            // which ([`Jobs::interrupted_backups`] lists them once the daemon runs).
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
        crate::metrics::METRICS.job_submitted(job.record().kind.as_str());
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

    /// Whether a job that is not done, per-database or VERIFY, matches `wanted`.
    fn any_running(&self, wanted: impl Fn(&JobRecord) -> bool) -> bool {
        let hit = |j: &Arc<Job>| {
            let r = j.record();
            !r.state.is_done() && wanted(&r)
        };
        lock(&self.latest).values().any(hit) || lock(&self.verifications).iter().any(hit)
    }

    /// Whether the job `id` is known and not done.
    pub fn is_running(&self, id: u64) -> bool {
        self.any_running(|r| r.id == id)
    }

    /// Whether a job that is not done uses the repository.
    pub fn using_repository(&self, repo: &str) -> bool {
        self.any_running(|r| r.repo.eq_ignore_ascii_case(repo))
    }

    /// Backups a restart interrupted in UPLOAD_INFO: they may have written their COMMIT
    /// ([`crate::jobs::backup::reconcile`] asks the repository).
    pub fn interrupted_backups(&self) -> Vec<Arc<Job>> {
        lock(&self.latest)
            .values()
            .filter(|j| {
                let r = j.record();
                r.kind == JobKind::Backup && r.state == JobState::UploadInfo
            })
            .cloned()
            .collect()
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
