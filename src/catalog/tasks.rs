//! Tasks (`SUBMIT TASK`): a statement kept with its schedule, the state of its schedule (next
//! run, pending retry, failures), and the history of its runs; plus, per database, the last
//! backup that finished (what the alerting metrics read).
//!
//! Every change the scheduler relies on is written before it acts on it: a run is recorded
//! RUNNING and the task's next slot advanced in one transaction before the run starts, so a
//! crash can neither lose the advance (a run twice) nor the run (a run never accounted for).

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::{Catalog, CatalogError, decode, decode_all, next_id, storage};

/// Task name → [`TaskMeta`] JSON.
pub(crate) const TASKS: TableDefinition<&str, &[u8]> = TableDefinition::new("tasks");
/// Run id → [`TaskRun`] JSON.
pub(crate) const TASK_RUNS: TableDefinition<u64, &[u8]> = TableDefinition::new("task_runs");
/// Database name → [`LastBackup`] JSON.
pub(crate) const LAST_BACKUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("last_backups");

/// The runs kept per task (older ones are forgotten as new ones start).
pub const KEPT_RUNS: usize = 100;

/// When a task runs by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    /// From `start_ms`, every `every_s` seconds.
    Every { start_ms: i64, every_s: u64 },
    /// A five-field cron expression read as wall-clock times in `zone` (an IANA name).
    Cron { expr: String, zone: String },
}

/// A failed run's retry, due at `at_ms`; `attempt` counts the retries so far (1 for the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    pub at_ms: i64,
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMeta {
    pub id: u64,
    pub name: String,
    /// The database the statement runs in.
    pub db: String,
    /// The statement, as SQL text (it may hold credentials: shown only through redaction).
    pub definition: String,
    /// `None`: a task that runs once, when submitted.
    pub schedule: Option<Schedule>,
    /// The PROPERTIES of SUBMIT TASK (and of later ALTER TASK SET), checked.
    pub properties: Vec<(String, String)>,
    /// The account that submitted it, `user@host`: the runs run as this account.
    pub creator: String,
    pub created_ms: i64,
    /// `ALTER TASK SUSPEND`: no run starts until RESUME.
    pub suspended: bool,
    /// The next scheduled run (for a schedule), milliseconds since the Unix epoch.
    pub next_run_ms: Option<i64>,
    /// A failed run's retry, before the next scheduled run.
    pub retry: Option<Retry>,
    /// A run waiting for its database to be free (`on_busy` = `wait`): its id.
    pub waiting_run: Option<u64>,
    pub last_success_ms: Option<i64>,
    /// The last failed run's error, cleared by a success.
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    /// For a task without a schedule: when it is forgotten (StarRocks' `task_ttl_second`).
    pub expire_ms: Option<i64>,
}

impl TaskMeta {
    /// Whether a run should start at `now`: not suspended, and its slot or retry has come, or
    /// a run waits for its database.
    pub fn is_due(&self, now: i64) -> bool {
        !self.suspended
            && (self.next_run_ms.is_some_and(|t| t <= now)
                || self.retry.is_some_and(|r| r.at_ms <= now)
                || self.waiting_run.is_some())
    }

    /// When the task runs next: its next slot or its retry, whichever comes first; `None` while
    /// it is suspended.
    pub fn next_start_ms(&self) -> Option<i64> {
        if self.suspended {
            return None;
        }
        match (self.next_run_ms, self.retry) {
            (Some(n), Some(r)) => Some(n.min(r.at_ms)),
            (n, r) => n.or(r.map(|r| r.at_ms)),
        }
    }

    /// The value of property `key`.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A run's state, as StarRocks names them (`SKIPPED`: the database was busy and the task says
/// `on_busy` = `skip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunState {
    Pending,
    Running,
    Success,
    Failed,
    Skipped,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "PENDING",
            RunState::Running => "RUNNING",
            RunState::Success => "SUCCESS",
            RunState::Failed => "FAILED",
            RunState::Skipped => "SKIPPED",
        }
    }

    pub fn is_done(self) -> bool {
        !matches!(self, RunState::Pending | RunState::Running)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRun {
    pub id: u64,
    pub task_id: u64,
    pub task_name: String,
    pub db: String,
    pub definition: String,
    pub properties: Vec<(String, String)>,
    /// When the run was created (its slot came, or it was submitted).
    pub created_ms: i64,
    /// When it started running.
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub state: RunState,
    /// MySQL error code of a failure (0 otherwise).
    pub error_code: u16,
    pub error_message: Option<String>,
    /// What the run did or is doing (the BACKUP's job and snapshot, a retry, a wait).
    pub extra_message: Option<String>,
    /// The BACKUP job the run started.
    pub job_id: Option<u64>,
    /// 0 for a scheduled run, n for its n-th retry.
    pub attempt: u32,
}

/// The last backup of a database that finished, by any way it was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastBackup {
    pub db: String,
    pub label: String,
    pub repository: String,
    /// The snapshot's timestamp, as SHOW SNAPSHOT lists it.
    pub timestamp: String,
    /// When the snapshot was taken (the job's creation), milliseconds since the Unix epoch.
    pub snapshot_ms: i64,
    pub finished_ms: i64,
}

fn task_exists(name: &str) -> CatalogError {
    CatalogError::InvalidDefinition(format!(
        "Task {name} already exists; DROP TASK {name} first or choose another name"
    ))
}

impl Catalog {
    /// Adds a task (its id is assigned here); refused if the name is taken.
    pub async fn create_task(&self, mut task: TaskMeta) -> Result<TaskMeta, CatalogError> {
        self.write(move |txn| {
            let mut tasks = txn.open_table(TASKS).map_err(storage)?;
            if tasks.get(task.name.as_str()).map_err(storage)?.is_some() {
                return Err(task_exists(&task.name));
            }
            task.id = next_id(txn)?;
            let bytes = serde_json::to_vec(&task).map_err(storage)?;
            tasks
                .insert(task.name.as_str(), bytes.as_slice())
                .map_err(storage)?;
            Ok(task)
        })
        .await
    }

    /// The task named `name`, if any.
    pub async fn task(&self, name: &str) -> Result<Option<TaskMeta>, CatalogError> {
        let key = name.to_string();
        self.read(move |txn| {
            let tasks = txn.open_table(TASKS).map_err(storage)?;
            let value = tasks.get(key.as_str()).map_err(storage)?;
            value.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    /// Every task, by name.
    pub async fn tasks(&self) -> Result<Vec<TaskMeta>, CatalogError> {
        self.read(|txn| decode_all(txn, TASKS)).await
    }

    /// Changes task `name` (of id `id`, so a task dropped and submitted again under the same
    /// name meanwhile is left alone) with `change`, and stores `run` in the same transaction
    /// (a new run is added, an existing one replaced; the task's oldest runs beyond
    /// [`KEPT_RUNS`] are forgotten). `change` sees the task as it is now and returns false to
    /// leave everything as it was (the run too). Returns the changed task; `None` when it is
    /// gone or `change` declined.
    pub async fn change_task(
        &self,
        name: &str,
        id: u64,
        run: Option<TaskRun>,
        change: impl FnOnce(&mut TaskMeta) -> Result<bool, CatalogError> + Send + 'static,
    ) -> Result<Option<TaskMeta>, CatalogError> {
        let key = name.to_string();
        self.write(move |txn| {
            let mut tasks = txn.open_table(TASKS).map_err(storage)?;
            let Some(mut task) = task_of_id(&tasks, &key, id)? else {
                return Ok(None);
            };
            if !change(&mut task)? {
                return Ok(None);
            }
            let bytes = serde_json::to_vec(&task).map_err(storage)?;
            tasks
                .insert(key.as_str(), bytes.as_slice())
                .map_err(storage)?;
            if let Some(run) = run {
                put_run(txn, &run)?;
            }
            Ok(Some(task))
        })
        .await
    }

    /// Stores a new run id.
    pub async fn new_run_id(&self) -> Result<u64, CatalogError> {
        self.write(next_id).await
    }

    /// Removes task `name` of id `id` and its runs; returns it, `None` when there was none
    /// (or the name now holds another task).
    pub async fn drop_task(&self, name: &str, id: u64) -> Result<Option<TaskMeta>, CatalogError> {
        let key = name.to_string();
        self.write(move |txn| {
            let mut tasks = txn.open_table(TASKS).map_err(storage)?;
            if task_of_id(&tasks, &key, id)?.is_none() {
                return Ok(None);
            }
            let removed: Option<TaskMeta> = tasks
                .remove(key.as_str())
                .map_err(storage)?
                .map(|v| decode(v.value()))
                .transpose()?;
            if let Some(task) = &removed {
                let mut runs = txn.open_table(TASK_RUNS).map_err(storage)?;
                for id in runs_of(&runs, task.id)?.into_iter().map(|r| r.id) {
                    runs.remove(id).map_err(storage)?;
                }
            }
            Ok(removed)
        })
        .await
    }

    /// Run `id`, if it is still kept.
    pub async fn task_run(&self, id: u64) -> Result<Option<TaskRun>, CatalogError> {
        self.read(move |txn| {
            let runs = txn.open_table(TASK_RUNS).map_err(storage)?;
            let value = runs.get(id).map_err(storage)?;
            value.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    /// Every run kept, oldest first.
    pub async fn task_runs(&self) -> Result<Vec<TaskRun>, CatalogError> {
        self.read(|txn| decode_all(txn, TASK_RUNS)).await
    }

    /// Records that a backup of `last.db` finished.
    pub async fn record_backup(&self, last: LastBackup) -> Result<(), CatalogError> {
        self.write(move |txn| {
            let mut table = txn.open_table(LAST_BACKUPS).map_err(storage)?;
            let bytes = serde_json::to_vec(&last).map_err(storage)?;
            table
                .insert(last.db.as_str(), bytes.as_slice())
                .map_err(storage)?;
            Ok(())
        })
        .await
    }

    /// The last finished backup of every database that had one, by database name.
    pub async fn last_backups(&self) -> Result<Vec<LastBackup>, CatalogError> {
        self.read(|txn| decode_all(txn, LAST_BACKUPS)).await
    }
}

/// The runs of task `task_id`, oldest first.
/// Task `name` if its id is `id`: a task dropped and submitted again under the same name is
/// another task.
fn task_of_id(
    tasks: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
    id: u64,
) -> Result<Option<TaskMeta>, CatalogError> {
    let current: Option<TaskMeta> = tasks
        .get(name)
        .map_err(storage)?
        .map(|v| decode(v.value()))
        .transpose()?;
    Ok(current.filter(|t| t.id == id))
}

fn runs_of(
    runs: &impl ReadableTable<u64, &'static [u8]>,
    task_id: u64,
) -> Result<Vec<TaskRun>, CatalogError> {
    let mut out = Vec::new();
    for entry in runs.iter().map_err(storage)? {
        let (_, v) = entry.map_err(storage)?;
        let run: TaskRun = decode(v.value())?;
        if run.task_id == task_id {
            out.push(run);
        }
    }
    Ok(out)
}

/// Stores `run`, forgetting its task's oldest runs beyond [`KEPT_RUNS`].
fn put_run(txn: &redb::WriteTransaction, run: &TaskRun) -> Result<(), CatalogError> {
    let mut runs = txn.open_table(TASK_RUNS).map_err(storage)?;
    let bytes = serde_json::to_vec(run).map_err(storage)?;
    let added = runs
        .insert(run.id, bytes.as_slice())
        .map_err(storage)?
        .is_none();
    if added {
        let all = runs_of(&runs, run.task_id)?;
        let excess = all.len().saturating_sub(KEPT_RUNS);
        for old in all.iter().take(excess) {
            runs.remove(old.id).map_err(storage)?;
        }
    }
    Ok(())
}
