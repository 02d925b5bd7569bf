//! `BACKUP SNAPSHOT`, `SHOW BACKUP`, `CANCEL BACKUP` / `CANCEL RESTORE` and `SHOW SNAPSHOT`.
//!
//! Submission checks run here, synchronously, in StarRocks' order and with its texts; the job
//! itself runs in the background ([`crate::jobs::backup`]).

use std::sync::Arc;
use std::time::Duration;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::jobs::backup::BackupRequest;
use crate::jobs::{Job, JobKind, JobRecord, JobState, JobStatus};
use crate::repo::manifest;
use crate::sql::{
    BackupObject, BackupSnapshot, CancelJob, JobTarget, ObjectKind, ShowJobs, ShowSnapshot,
    SnapshotFilter,
};

use super::{Outcome, Session, format_datetime_ms};

/// `BACKUP SNAPSHOT [db.]label TO repo [ON (...)] [PROPERTIES (...)]`
pub async fn backup(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: BackupSnapshot,
) -> Result<Outcome> {
    if stmt.catalogs.is_some() {
        return Err(Error::NotSupported(
            "BACKUP of external catalogs is not supported: backstop has no external catalogs"
                .into(),
        ));
    }
    let label = stmt.label.value.clone();
    if !crate::repo::manifest::is_valid_label(&label) {
        return Err(Error::Common(format!("Incorrect label name '{label}'")));
    }
    let props = JobProperties::parse(engine, &stmt.properties, JobKind::Backup)?;
    let repo_name = stmt.repo.value.clone();
    let repo = super::repository::open(engine, &repo_name).await?;
    let db = match &stmt.db {
        Some(db) => db.value.clone(),
        None => session.database.clone().ok_or(Error::NoDatabaseSelected)?,
    };
    if engine.catalog.database(&db).await?.is_none() {
        return Err(Error::UnknownDatabase(db));
    }
    let tables = backup_objects(engine, &db, &stmt.on).await?;
    let (_, trees) = engine
        .catalog
        .database_trees(
            &db,
            tables
                .as_ref()
                .map(|t| t.iter().map(|(n, _)| n.clone()).collect()),
        )
        .await?;
    if trees.is_empty() {
        return Err(Error::Common(format!("Database: {db} is empty")));
    }
    if let Some(tables) = &tables {
        for (table, partitions) in tables {
            let tree = trees
                .iter()
                .find(|t| t.table.name.eq_ignore_ascii_case(table));
            for p in partitions {
                if !tree.is_some_and(|t| {
                    t.partitions
                        .iter()
                        .any(|x| x.partition.name.eq_ignore_ascii_case(p))
                }) {
                    return Err(Error::Common(format!(
                        "Unknown partition {p} in table {table}"
                    )));
                }
            }
        }
    }
    if repo.meta.read_only {
        return Err(Error::Common(format!(
            "Repository {repo_name} is read only"
        )));
    }
    for other in engine.jobs.all_latest() {
        let r = other.record();
        if !r.state.is_done() && r.label == label && r.repo.eq_ignore_ascii_case(&repo_name) {
            return Err(Error::Common(format!(
                "Snapshot '{label}' is being written by backup job {} of database {}; wait for it \
                 to finish or CANCEL BACKUP FROM {}",
                r.id, r.db, r.db
            )));
        }
    }
    let objects = trees
        .iter()
        .map(|t| {
            let parts = tables
                .as_ref()
                .and_then(|ts| {
                    ts.iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(&t.table.name))
                })
                .map(|(_, p)| p.clone())
                .unwrap_or_default();
            if parts.is_empty() {
                format!("[{db}.{}]", t.table.name)
            } else {
                format!("[{db}.{}PARTITIONS ({})]", t.table.name, parts.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let created_ms = chrono::Utc::now().timestamp_millis();
    let record = JobRecord {
        id: engine.catalog.new_id().await?,
        kind: JobKind::Backup,
        label,
        db,
        repo: repo_name,
        state: JobState::Pending,
        timestamp: manifest::snapshot_timestamp(created_ms),
        objects,
        created_ms,
        meta_prepared_ms: 0,
        snapshot_finished_ms: 0,
        transfer_finished_ms: 0,
        finished_ms: 0,
        timeout_s: props.timeout_s,
        status: JobStatus::ok(),
        allow_load: false,
        replication_num: 0,
        staged: Vec::new(),
        mode: None,
    };
    let job = engine.jobs.submit(record).await?;
    crate::jobs::Jobs::arm_timeout(&job, JobStatus::error("TIMEOUT", ""));
    let request = BackupRequest {
        tables,
        ttl: props.ttl.clone(),
        expires_ms: props.ttl_ms.map(|ms| created_ms.saturating_add(ms)),
        transfer: props.transfer,
    };
    tokio::spawn(crate::jobs::backup::run(
        Arc::clone(engine),
        Arc::clone(&job),
        repo,
        request,
    ));
    if props.sync {
        return wait_for_job(&job).await;
    }
    Ok(Outcome::ok())
}

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

/// The tables (and partitions) an `ON (...)` list names; `None` for the whole database.
async fn backup_objects(
    engine: &Engine,
    db: &str,
    on: &[BackupObject],
) -> Result<Option<Vec<(String, Vec<String>)>>> {
    if on.is_empty() {
        return Ok(None);
    }
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for object in on {
        match object {
            BackupObject::All(ObjectKind::Table) => return Ok(None),
            BackupObject::All(kind)
            | BackupObject::Named {
                kind:
                    Some(
                        kind @ (ObjectKind::View
                        | ObjectKind::MaterializedView
                        | ObjectKind::Function),
                    ),
                ..
            } => {
                return Err(not_a_table("BACKUP", *kind));
            }
            BackupObject::Named { object, .. } => {
                if object.temporary {
                    return Err(Error::Common(
                        "Do not support backing up temp partitions".into(),
                    ));
                }
                let name = table_name(object)?;
                if out.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                    return Err(Error::Common(format!("Duplicated table: {name}")));
                }
                // An unknown table fails here, with the catalog's error.
                let table = engine.catalog.table(db, &name).await?;
                out.push((
                    table.name,
                    object.partitions.iter().map(|p| p.value.clone()).collect(),
                ));
            }
        }
    }
    Ok(Some(out))
}

/// The error for views, materialized views and functions in `ON (...)`.
fn not_a_table(statement: &str, kind: ObjectKind) -> Error {
    Error::NotSupported(format!(
        "{statement} of {} is not supported: a backstop snapshot holds tables only (see docs/backup.md)",
        match kind {
            ObjectKind::View => "views",
            ObjectKind::MaterializedView => "materialized views",
            ObjectKind::Function => "functions",
            ObjectKind::Table => "tables",
        }
    ))
}

/// The table an `ON (...)` entry names (its last name part).
fn table_name(object: &crate::sql::TableRef) -> Result<String> {
    object
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .ok_or_else(|| Error::Common(format!("Incorrect table name '{}'", object.name)))
}

/// Checked BACKUP / RESTORE properties.
pub struct JobProperties {
    pub timeout_s: u64,
    /// backstop's `parallel` and `max_bandwidth`.
    pub transfer: crate::jobs::TransferSettings,
    pub ttl: Option<String>,
    pub ttl_ms: Option<i64>,
    pub backup_timestamp: Option<String>,
    pub replication_num: Option<u32>,
    pub allow_load: bool,
    /// RESTORE: report what the restore would do, change nothing.
    pub dry_run: bool,
    /// backstop's `sync`: the statement waits for the job to end ([`wait_for_job`]).
    pub sync: bool,
}

impl JobProperties {
    pub fn parse(engine: &Engine, props: &[(String, String)], kind: JobKind) -> Result<Self> {
        let mut out = JobProperties {
            timeout_s: 86_400,
            transfer: crate::jobs::TransferSettings::default(),
            ttl: None,
            ttl_ms: None,
            backup_timestamp: None,
            replication_num: None,
            allow_load: false,
            dry_run: false,
            sync: false,
        };
        let mut unknown = Vec::new();
        for (key, value) in props {
            match (kind, key.as_str()) {
                (_, "timeout") => {
                    let secs: u64 = value
                        .trim()
                        .parse()
                        .map_err(|_| Error::Common(format!("Invalid timeout format: {value}")))?;
                    let min = engine.config.min_job_timeout;
                    if secs < min {
                        return Err(Error::Common(if min == 600 {
                            "timeout must be at least 10 min".to_string()
                        } else {
                            format!("timeout must be at least {min} s")
                        }));
                    }
                    out.timeout_s = secs;
                }
                (_, "parallel") => out.transfer.parallel = parse_parallel(value)?,
                (JobKind::Backup, "part_size") => {
                    out.transfer.part_size = parse_bytes(value)
                        .filter(|n| (crate::repo::s3::MIN_PART_SIZE..=(1 << 30)).contains(n))
                        .ok_or_else(|| {
                            Error::Common(format!(
                                "Invalid part_size: '{value}'; give the S3 multipart part size, 5M to 1G"
                            ))
                        })?;
                }
                (_, "max_bandwidth") => {
                    out.transfer.max_bandwidth = Some(parse_bytes(value).ok_or_else(|| {
                        Error::Common(format!(
                            "Invalid max_bandwidth: '{value}'; give bytes per second, such as '50M' or '1G'"
                        ))
                    })?);
                }
                (_, "sync") => out.sync = super::snapshot::parse_bool(key, value)?,
                (JobKind::Backup, "type") => match value.to_ascii_lowercase().as_str() {
                    // Every backstop backup is incremental by content, and each restores alone.
                    "full" | "incremental" => {}
                    _ => return Err(Error::Common(format!("Invalid backup job type: {value}"))),
                },
                (JobKind::Backup, "ttl") => {
                    if !value.trim().is_empty() {
                        out.ttl_ms = Some(parse_ttl(value)?);
                        out.ttl = Some(value.trim().to_string());
                    }
                }
                (JobKind::Restore, "backup_timestamp") => {
                    out.backup_timestamp = Some(value.clone())
                }
                (JobKind::Restore, "replication_num") => {
                    out.replication_num = Some(value.trim().parse().map_err(|_| {
                        Error::Common(format!("Invalid meta version format: {value}"))
                    })?)
                }
                (JobKind::Restore, "allow_load") => {
                    out.allow_load = match value.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(Error::Common(format!(
                                "Invalid allow load value: {value}"
                            )));
                        }
                    }
                }
                (JobKind::Restore, "dry_run") => {
                    out.dry_run = super::snapshot::parse_bool(key, value)?
                }
                (JobKind::Restore, "meta_version" | "starrocks_meta_version") => {}
                _ => unknown.push(key.clone()),
            }
        }
        if !unknown.is_empty() {
            return Err(Error::Common(format!(
                "Unknown {} job properties: [{}]",
                if kind == JobKind::Backup {
                    "backup"
                } else {
                    "restore"
                },
                unknown.join(", ")
            )));
        }
        Ok(out)
    }
}

/// The `parallel` property: objects moved (or read) at once, 1 to 64.
pub fn parse_parallel(value: &str) -> Result<usize> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=64).contains(n))
        .ok_or_else(|| {
            Error::Common(format!(
                "Invalid parallel: '{value}'; give the number of objects to move at once, 1 to 64"
            ))
        })
}

/// `1048576`, `512K`, `50M`, `1G` (powers of 1024, an optional `B`) → bytes; `None` when not a
/// positive size.
fn parse_bytes(value: &str) -> Option<u64> {
    let v = value.trim().to_ascii_uppercase();
    let v = v
        .strip_suffix("IB")
        .or_else(|| v.strip_suffix('B'))
        .unwrap_or(&v);
    let (number, unit) = if let Some(n) = v.strip_suffix('K') {
        (n, 1u64 << 10)
    } else if let Some(n) = v.strip_suffix('M') {
        (n, 1 << 20)
    } else if let Some(n) = v.strip_suffix('G') {
        (n, 1 << 30)
    } else {
        (v, 1)
    };
    let n: f64 = number.trim().parse().ok()?;
    let bytes = (n * unit as f64) as u64;
    (n > 0.0 && bytes > 0).then_some(bytes)
}

/// `7 DAY`, `12 HOUR`, `30 MINUTE`, `1 WEEK` (singular or plural) → milliseconds.
fn parse_ttl(value: &str) -> Result<i64> {
    let bad = || {
        Error::Common(format!(
            "Invalid ttl: '{value}'. Expected a duration such as '7 DAY' or '12 HOUR', or an empty value to keep the snapshot forever"
        ))
    };
    let mut parts = value.split_whitespace();
    let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let n: i64 = n.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(Error::Common(format!(
            "ttl must be a positive duration, but got: {value}"
        )));
    }
    let unit_ms: i64 = match unit.to_ascii_uppercase().trim_end_matches('S') {
        "SECOND" => 1_000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => 86_400_000,
        "WEEK" => 7 * 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(unit_ms).ok_or_else(bad)
}

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
    match kind {
        JobKind::Backup => Outcome::text_table(
            &[
                "JobId",
                "SnapshotName",
                "DbName",
                "State",
                "BackupObjs",
                "CreateTime",
                "SnapshotFinishedTime",
                "UploadFinishedTime",
                "FinishedTime",
                "UnfinishedTasks",
                "Progress",
                "TaskErrMsg",
                "Status",
                "Timeout",
            ],
            rows,
        ),
        JobKind::Restore | JobKind::Verify => Outcome::text_table(
            &[
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
                "UnfinishedTasks",
                "Progress",
                "TaskErrMsg",
                "Status",
                "Timeout",
            ],
            rows,
        ),
    }
}

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

/// `SHOW SNAPSHOT ON repo [WHERE ...]`: read from the repository, so another server's
/// snapshots show too.
pub async fn show_snapshot(engine: &Engine, stmt: ShowSnapshot) -> Result<Outcome> {
    let repo = super::repository::open(engine, &stmt.repo.value).await?;
    let list_error = |e: crate::repo::StoreError| {
        Error::Common(format!(
            "Failed to list snapshot in repo: {}, err: {e}",
            stmt.repo.value
        ))
    };
    match stmt.filter {
        Some(SnapshotFilter::Snapshot {
            label,
            timestamp: Some(ts),
        }) => {
            let (database, details, status) =
                match manifest::read_committed(&repo.store, &label, &ts).await {
                    Ok(m) => {
                        let verified = super::snapshot::last_verification(
                            engine,
                            &repo.meta.name,
                            &label,
                            &ts,
                        );
                        (
                            Some(m.database.clone()),
                            Some(details_json(&m, verified)),
                            "OK".to_string(),
                        )
                    }
                    Err(e) => (None, None, format!("Failed to get info: {e}")),
                };
            Outcome::text_table(
                &["Snapshot", "Timestamp", "Database", "Details", "Status"],
                vec![vec![Some(label), Some(ts), database, details, Some(status)]],
            )
        }
        filter => {
            let wanted: Option<Vec<String>> = match filter {
                Some(SnapshotFilter::Snapshot { label, .. }) => Some(vec![label]),
                Some(SnapshotFilter::SnapshotIn(labels)) => Some(labels),
                None => None,
            };
            let listed = match &wanted {
                Some(labels) if labels.len() == 1 => {
                    manifest::list_snapshots(&repo.store, labels.first().map(String::as_str)).await
                }
                _ => manifest::list_snapshots(&repo.store, None).await,
            }
            .map_err(list_error)?;
            let mut rows = Vec::new();
            let labels: Vec<String> = match &wanted {
                Some(w) => w.clone(),
                None => listed.keys().cloned().collect(),
            };
            for label in labels {
                let committed: Vec<String> = listed
                    .get(&label)
                    .map(|ts| {
                        ts.iter()
                            .filter(|(_, c)| **c)
                            .map(|(t, _)| t.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                if committed.is_empty() {
                    if wanted.is_some() {
                        rows.push(vec![
                            Some(label),
                            Some(String::new()),
                            Some("ERROR: no snapshot".into()),
                        ]);
                    }
                    continue;
                }
                let mut problems = Vec::new();
                for ts in &committed {
                    if let Err(e) = manifest::read_committed(&repo.store, &label, ts).await {
                        problems.push(format!("{ts}: {e}"));
                    }
                }
                let status = if problems.is_empty() {
                    "OK".to_string()
                } else {
                    format!("ERROR: {}", problems.join("; "))
                };
                rows.push(vec![Some(label), Some(committed.join("\n")), Some(status)]);
            }
            Outcome::text_table(&["Snapshot", "Timestamp", "Status"], rows)
        }
    }
}

/// The detail cell of SHOW SNAPSHOT: StarRocks' brief info keys, plus backstop's extras (the
/// last VERIFY SNAPSHOT of this server: `{"time": ..., "result": ...}`, or null).
fn details_json(m: &manifest::Manifest, verified: Option<(Option<String>, String)>) -> String {
    let objects: serde_json::Map<String, serde_json::Value> = m
        .tables
        .iter()
        .map(|t| {
            let partitions: serde_json::Map<String, serde_json::Value> = t
                .partitions
                .iter()
                .map(|p| (p.name.clone(), serde_json::json!({})))
                .collect();
            (t.name.clone(), serde_json::json!({ "partitions": partitions, "rows": t.rows, "checksum": t.checksum }))
        })
        .collect();
    let value = serde_json::json!({
        "name": m.label,
        "database": m.database,
        "backup_time": m.created_ms,
        "finish_time": m.finished_ms,
        "server_id": m.server_id,
        "format_version": m.format_version,
        "backup_result": "succeed",
        "backup_objects": objects,
        "last_verification": verified.map(|(time, result)| serde_json::json!({ "time": time, "result": result })),
    });
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    if serde::Serialize::serialize(&value, &mut ser).is_err() {
        return value.to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_string())
}

/// `RESTORE SNAPSHOT [db.]label FROM repo [DATABASE src [AS tgt]] [ON (...)] PROPERTIES (...)`
pub async fn restore(
    engine: &Arc<Engine>,
    session: &mut Session,
    stmt: crate::sql::RestoreSnapshot,
) -> Result<Outcome> {
    use crate::jobs::restore::{RestoreItem, RestoreRequest};
    if stmt.catalogs.is_some() {
        return Err(Error::NotSupported(
            "RESTORE of external catalogs is not supported: backstop has no external catalogs"
                .into(),
        ));
    }
    let label = stmt.label.value.clone();
    if !crate::repo::manifest::is_valid_label(&label) {
        return Err(Error::Common(format!("Incorrect label name '{label}'")));
    }
    let props = JobProperties::parse(engine, &stmt.properties, JobKind::Restore)?;
    let timestamp = props
        .backup_timestamp
        .clone()
        .ok_or_else(|| Error::Common("Missing backup_timestamp property".into()))?;
    let repo_name = stmt.repo.value.clone();
    if engine.catalog.repository(&repo_name).await?.is_none() {
        return Err(Error::Common(format!(
            "Repository {repo_name} does not exist"
        )));
    }
    let repo = super::repository::open(engine, &repo_name).await?;
    let manifest = manifest::read_committed(&repo.store, &label, &timestamp)
        .await
        .map_err(|e| {
            let hint = if matches!(e, manifest::SnapshotError::Missing { .. }) {
                ". Maybe specified wrong backup timestamp"
            } else {
                ""
            };
            Error::Common(format!(
                "Failed to get info of snapshot '{label}' because: {e}{hint}"
            ))
        })?;
    if let Some(db) = &stmt.database
        && !db.source.value.eq_ignore_ascii_case(&manifest.database)
    {
        return Err(Error::Common(format!(
            "target database: {} is not existed in snapshot",
            db.source.value
        )));
    }
    let db = stmt
        .target_db()
        .map(|d| d.value.clone())
        .unwrap_or_else(|| manifest.database.clone());
    crate::catalog::validate_database_name(&db)?;
    let mut items: Vec<RestoreItem> = Vec::new();
    let all = |m: &manifest::Manifest| {
        m.tables
            .iter()
            .map(|t| RestoreItem {
                source: t.name.clone(),
                target: t.name.clone(),
                partitions: Vec::new(),
            })
            .collect::<Vec<_>>()
    };
    if stmt.on.is_empty() {
        items = all(&manifest);
    }
    for object in &stmt.on {
        match object {
            BackupObject::All(ObjectKind::Table) => items = all(&manifest),
            BackupObject::All(kind)
            | BackupObject::Named {
                kind:
                    Some(
                        kind @ (ObjectKind::View
                        | ObjectKind::MaterializedView
                        | ObjectKind::Function),
                    ),
                ..
            } => {
                return Err(not_a_table("RESTORE", *kind));
            }
            BackupObject::Named { object, .. } => {
                if object.temporary {
                    return Err(Error::Common(
                        "Do not support restoring temporary partitions".into(),
                    ));
                }
                let name = table_name(object)?;
                let Some(table) = manifest.table(&name) else {
                    return Err(Error::Common(format!(
                        "Table {name} does not exist in snapshot {label}"
                    )));
                };
                if items.iter().any(|i| i.source.eq_ignore_ascii_case(&name)) {
                    return Err(Error::Common(format!("Duplicated table: {name}")));
                }
                let target = object
                    .alias
                    .as_ref()
                    .map_or_else(|| table.name.clone(), |a| a.value.clone());
                crate::catalog::validate_table_name(&target)?;
                if items.iter().any(|i| i.target.eq_ignore_ascii_case(&target)) {
                    return Err(Error::Common(format!("Duplicated alias name: {target}")));
                }
                for p in &object.partitions {
                    if !table
                        .partitions
                        .iter()
                        .any(|x| x.name.eq_ignore_ascii_case(&p.value))
                    {
                        return Err(Error::Common(format!(
                            "Partition {} of table {name} does not exist in snapshot {label}",
                            p.value
                        )));
                    }
                }
                items.push(RestoreItem {
                    source: table.name.clone(),
                    target,
                    partitions: object.partitions.iter().map(|p| p.value.clone()).collect(),
                });
            }
        }
    }
    if items.is_empty() {
        return Err(Error::Common(format!(
            "Snapshot {label} holds no table to restore"
        )));
    }
    if props.replication_num.is_some() && engine.catalog.database(&db).await?.is_some() {
        let existing = engine.catalog.tables(&db).await?;
        for item in &items {
            if existing
                .iter()
                .any(|t| t.name.eq_ignore_ascii_case(&item.target))
            {
                session.warnings.push(super::Warning {
                    level: "Warning",
                    code: 1105,
                    message: format!(
                        "replication_num is ignored for the existing table {}: a single server holds one replica",
                        item.target
                    ),
                });
            }
        }
    }
    if props.dry_run {
        let request = RestoreRequest {
            manifest,
            items,
            replication_num: props.replication_num,
            transfer: props.transfer,
        };
        return restore_dry_run(engine, &db, &request).await;
    }
    let objects = items
        .iter()
        .map(|i| {
            if i.partitions.is_empty() {
                i.source.clone()
            } else {
                format!("{} PARTITIONS [{}]", i.source, i.partitions.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let record = JobRecord {
        id: engine.catalog.new_id().await?,
        kind: JobKind::Restore,
        label,
        db,
        repo: repo_name,
        state: JobState::Pending,
        timestamp,
        objects,
        created_ms: chrono::Utc::now().timestamp_millis(),
        meta_prepared_ms: 0,
        snapshot_finished_ms: 0,
        transfer_finished_ms: 0,
        finished_ms: 0,
        timeout_s: props.timeout_s,
        status: JobStatus::ok(),
        allow_load: props.allow_load,
        replication_num: props.replication_num.unwrap_or(1),
        staged: Vec::new(),
        mode: None,
    };
    let job = engine.jobs.submit(record.clone()).await?;
    crate::jobs::Jobs::arm_timeout(
        &job,
        JobStatus::error(
            "TIMEOUT",
            format!("restore job with label: {}  timeout.", record.label),
        ),
    );
    let request = RestoreRequest {
        manifest,
        items,
        replication_num: props.replication_num,
        transfer: props.transfer,
    };
    tokio::spawn(crate::jobs::restore::run(
        Arc::clone(engine),
        Arc::clone(&job),
        repo,
        request,
    ));
    if props.sync {
        return wait_for_job(&job).await;
    }
    Ok(Outcome::ok())
}

/// `RESTORE ... PROPERTIES ("dry_run" = "true")`: what the restore would do, from the same
/// plan a real restore checks first. One row per action, conflict, and a TOTAL row.
async fn restore_dry_run(
    engine: &Engine,
    db: &str,
    request: &crate::jobs::restore::RestoreRequest,
) -> Result<Outcome> {
    use crate::jobs::restore::Conflict;
    let mut plan = crate::jobs::restore::plan(engine, db, request, None)
        .await
        .map_err(|e| match e {
            crate::jobs::JobError::Failed(s) => Error::Common(s.msg),
            crate::jobs::JobError::Cancelled => Error::Common("cancelled".into()),
        })?;
    if engine.jobs.latest(db).is_some_and(|j| !j.state().is_done()) {
        plan.conflicts.insert(
            0,
            Conflict {
                table: None,
                message: "Can only run one backup or restore job of a database at same time".into(),
            },
        );
    }
    let row = |action: &str,
               table: Option<&str>,
               partition: Option<&str>,
               detail: String,
               objects: Option<u64>,
               bytes: Option<u64>| {
        vec![
            Some(action.to_string()),
            Some(db.to_string()),
            table.map(str::to_string),
            partition.map(str::to_string),
            Some(detail),
            objects.map(|n| n.to_string()),
            bytes.map(|n| n.to_string()),
        ]
    };
    let mut rows = Vec::new();
    if plan.creates_database {
        rows.push(row(
            "CREATE DATABASE",
            None,
            None,
            String::new(),
            None,
            None,
        ));
    }
    for t in &plan.tables {
        let size = |p: &crate::repo::manifest::ManifestPartition| {
            let rowsets = p.tablets.iter().flat_map(|t| &t.rowsets);
            (
                rowsets.clone().count() as u64,
                rowsets.map(|r| r.size).sum::<u64>(),
            )
        };
        if t.target.is_none() {
            let (objects, bytes) = t
                .source
                .partitions
                .iter()
                .map(size)
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            rows.push(row(
                "CREATE TABLE",
                Some(&t.item.target),
                None,
                format!("from snapshot table {}", t.source.name),
                Some(objects),
                Some(bytes),
            ));
        }
        for p in &t.source.partitions {
            let (objects, bytes) = size(p);
            let action = if t.target.is_none() {
                "RESTORE PARTITION"
            } else if t.overwrites(&p.name) {
                "OVERWRITE PARTITION"
            } else {
                "ADD PARTITION"
            };
            rows.push(row(
                action,
                Some(&t.item.target),
                Some(&p.name),
                format!("{} rows, version {}", p.rows, p.visible_version),
                Some(objects),
                Some(bytes),
            ));
        }
    }
    for c in &plan.conflicts {
        rows.push(row(
            "CONFLICT",
            c.table.as_deref(),
            None,
            c.message.clone(),
            None,
            None,
        ));
    }
    let summary = match plan.conflicts.first() {
        None => format!(
            "DRY RUN: would download {} objects ({}); nothing was changed",
            plan.objects,
            crate::jobs::human_bytes(plan.bytes)
        ),
        Some(c) => format!(
            "DRY RUN: the restore would fail: {}; nothing was changed",
            c.message
        ),
    };
    rows.push(row(
        "TOTAL",
        None,
        None,
        summary,
        Some(plan.objects),
        Some(plan.bytes),
    ));
    Outcome::text_table(
        &[
            "Action",
            "Database",
            "Table",
            "Partition",
            "Detail",
            "Objects",
            "Bytes",
        ],
        rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_durations() {
        assert_eq!(parse_ttl("7 DAY").unwrap(), 7 * 86_400_000);
        assert_eq!(parse_ttl("12 hours").unwrap(), 12 * 3_600_000);
        assert!(parse_ttl("7").is_err());
        assert!(parse_ttl("0 DAY").is_err());
        assert!(parse_ttl("2 FORTNIGHT").is_err());
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("1048576"), Some(1 << 20));
        assert_eq!(parse_bytes("50M"), Some(50 << 20));
        assert_eq!(parse_bytes("1.5g"), Some(3 << 29));
        assert_eq!(parse_bytes("512KiB"), Some(512 << 10));
        assert_eq!(parse_bytes("0"), None);
        assert_eq!(parse_bytes("fast"), None);
    }
}
