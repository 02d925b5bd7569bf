//! What a job is, as SHOW BACKUP / SHOW RESTORE print it and the catalog keeps it: its kind,
//! StarRocks' states, the status cell and the persisted record.

use serde::{Deserialize, Serialize};

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

impl JobRecord {
    /// A new job of `kind` in PENDING, created at `created_ms`: every name empty, every time
    /// unset, status OK, the default timeout of a day. Callers fill in what they know with
    /// struct update syntax (`JobRecord { label, ..JobRecord::pending(...) }`).
    pub fn pending(kind: JobKind, id: u64, created_ms: i64) -> JobRecord {
        JobRecord {
            id,
            kind,
            label: String::new(),
            db: String::new(),
            repo: String::new(),
            state: JobState::Pending,
            timestamp: String::new(),
            objects: String::new(),
            created_ms,
            meta_prepared_ms: 0,
            snapshot_finished_ms: 0,
            transfer_finished_ms: 0,
            finished_ms: 0,
            timeout_s: 86_400,
            status: JobStatus::ok(),
            allow_load: false,
            replication_num: 0,
            staged: Vec::new(),
            mode: None,
        }
    }
}
