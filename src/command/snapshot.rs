//! Snapshot statements: SHOW SNAPSHOT, DROP SNAPSHOT (with its dry run), VERIFY SNAPSHOT,
//! SHOW VERIFY and CANCEL VERIFY.

use std::sync::Arc;

use super::Outcome;
use super::properties::{parse_bool, parse_parallel};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::jobs::lifecycle::{self, DropRequest, Sweep};
use crate::jobs::verify;
use crate::repo::manifest;
use crate::scheduler::{Job, JobKind, JobRecord, JobState, JobStatus, human_bytes};
use crate::sql::{DropSnapshot, ShowSnapshot, SnapshotFilter, VerifySnapshot};

/// A `TIMESTAMP = '...'` value must be StarRocks' `yyyy-MM-dd-HH-mm-ss-SSS`.
pub fn check_timestamp(ts: &str) -> Result<()> {
    if manifest::is_snapshot_timestamp(ts) {
        Ok(())
    } else {
        Err(Error::Common(format!(
            "Invalid snapshot timestamp '{ts}': expected yyyy-MM-dd-HH-mm-ss-SSS, as SHOW \
             SNAPSHOT prints it"
        )))
    }
}

/// `DROP SNAPSHOT label ON repo [WHERE TIMESTAMP = | <= 'ts'] [FORCE] [PROPERTIES ("dry_run" =
/// "true")]`: one row per snapshot dropped, with the objects and bytes only it held, and a last
/// row for the collection round.
pub async fn drop_snapshot(engine: &Arc<Engine>, stmt: DropSnapshot) -> Result<Outcome> {
    let mut dry_run = false;
    for (key, value) in &stmt.properties {
        match key.as_str() {
            "dry_run" => dry_run = parse_bool(key, value)?,
            _ => {
                return Err(Error::Common(format!(
                    "Unknown DROP SNAPSHOT property: {key}; the only one is dry_run"
                )));
            }
        }
    }
    if let Some(filter) = &stmt.timestamp {
        check_timestamp(filter.timestamp())?;
    }
    let which = stmt.timestamp.clone();
    let label = stmt.label.value.clone();
    if !crate::repo::manifest::is_valid_label(&label) {
        return Err(Error::Common(format!("Incorrect label name '{label}'")));
    }
    let repo = engine.open_repository(&stmt.repo.value).await?;
    let report = lifecycle::drop_snapshots(
        engine,
        repo,
        DropRequest {
            label,
            which,
            force: stmt.force,
            dry_run,
        },
    )
    .await?;
    let status = match &report.sweep {
        Sweep::DryRun => "DRY RUN: nothing was changed",
        _ => "DROPPED",
    };
    let mut rows: Vec<Vec<Option<String>>> = report
        .dropped
        .iter()
        .map(|d| {
            vec![
                Some(d.label.clone()),
                Some(d.timestamp.clone()),
                d.created_by.clone(),
                Some(d.freed_objects.to_string()),
                Some(d.freed_bytes.to_string()),
                Some(status.to_string()),
            ]
        })
        .collect();
    let (objects, bytes, sweep) = match report.sweep {
        Sweep::DryRun => {
            let objects: u64 = report.dropped.iter().map(|d| d.freed_objects).sum();
            let bytes: u64 = report.dropped.iter().map(|d| d.freed_bytes).sum();
            (
                objects,
                bytes,
                format!(
                    "DRY RUN: would remove {objects} objects ({})",
                    human_bytes(bytes)
                ),
            )
        }
        Sweep::Done(s) => (
            s.objects,
            s.bytes,
            format!(
                "DONE: removed {} objects ({}) no snapshot references{}",
                s.objects,
                human_bytes(s.bytes),
                if s.waited_for > 0 {
                    format!(", after {} running backups ended", s.waited_for)
                } else {
                    String::new()
                }
            ),
        ),
        Sweep::Deferred => (
            0,
            0,
            "PENDING: unreferenced objects are removed in the background once the backups \
             running now end"
                .to_string(),
        ),
        Sweep::Failed(e) => (
            0,
            0,
            format!(
                "FAILED: {e}; the snapshots are dropped and their objects are removed by a \
                 later round"
            ),
        ),
    };
    rows.push(vec![
        Some("(garbage collection)".into()),
        None,
        None,
        Some(objects.to_string()),
        Some(bytes.to_string()),
        Some(sweep),
    ]);
    Outcome::text_table(
        &[
            "Snapshot",
            "Timestamp",
            "CreatedBy",
            "Objects",
            "Bytes",
            "Status",
        ],
        rows,
    )
}

/// `VERIFY SNAPSHOT label ON repo [WHERE TIMESTAMP = 'ts'] [PROPERTIES ("mode" = "full" |
/// "metadata", "parallel" = "N", "timeout" = "secs", "sync" = "true")]`: one job per timestamp
/// (every timestamp of the label without WHERE), run one after the other. Returns the jobs;
/// with `sync` it returns once they ended, with how each ended.
pub async fn verify(engine: &Arc<Engine>, stmt: VerifySnapshot) -> Result<Outcome> {
    let mut mode = verify::Mode::Full;
    let mut parallel = crate::scheduler::DEFAULT_PARALLEL;
    let mut timeout_s = 86_400;
    let mut sync = false;
    for (key, value) in &stmt.properties {
        match key.as_str() {
            "mode" => {
                mode = verify::Mode::parse(value).ok_or_else(|| {
                    Error::Common(format!(
                        "Invalid mode: '{value}'; use \"metadata\" (objects exist with their \
                         sizes) or \"full\" (every object re-read and checked)"
                    ))
                })?
            }
            "parallel" => parallel = parse_parallel(value)?,
            "timeout" => {
                timeout_s = value
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| Error::Common(format!("Invalid timeout format: {value}")))?
            }
            "sync" => sync = parse_bool(key, value)?,
            _ => {
                return Err(Error::Common(format!(
                    "Unknown VERIFY SNAPSHOT property: {key}; use mode, parallel, timeout or sync"
                )));
            }
        }
    }
    if let Some(ts) = &stmt.timestamp {
        check_timestamp(ts)?;
    }
    let label = stmt.label.value.clone();
    let repo = engine.open_repository(&stmt.repo.value).await?;
    let listed = manifest::list_snapshots(&repo.store, Some(&label))
        .await
        .map_err(|e| {
            Error::Common(format!(
                "Failed to list snapshot in repo: {}, err: {e}",
                stmt.repo.value
            ))
        })?;
    let stamps: Vec<String> = listed
        .get(&label)
        .into_iter()
        .flatten()
        .filter(|(ts, committed)| {
            **committed && stmt.timestamp.as_ref().is_none_or(|want| want == *ts)
        })
        .map(|(ts, _)| ts.clone())
        .collect();
    if stamps.is_empty() {
        return Err(Error::Common(match &stmt.timestamp {
            Some(ts) => format!(
                "Snapshot '{label}' with timestamp '{ts}' does not exist in repository {}",
                stmt.repo.value
            ),
            None => format!(
                "Snapshot '{label}' does not exist in repository {}",
                stmt.repo.value
            ),
        }));
    }
    let mut jobs = Vec::new();
    for ts in stamps {
        let record = JobRecord {
            label: label.clone(),
            repo: repo.meta.name.clone(),
            timestamp: ts,
            timeout_s,
            mode: Some(mode.as_str().to_string()),
            ..JobRecord::pending(
                JobKind::Verify,
                engine.catalog.new_id().await?,
                chrono::Utc::now().timestamp_millis(),
            )
        };
        let job = engine.jobs.submit_verification(record).await?;
        crate::scheduler::Jobs::arm_timeout(
            &job,
            JobStatus::error(
                "TIMEOUT",
                format!("verification of snapshot {label} timed out"),
            ),
        );
        jobs.push(job);
    }
    tokio::spawn(verify::run(
        Arc::clone(engine),
        jobs.clone(),
        repo,
        mode,
        parallel,
    ));
    if sync {
        for job in &jobs {
            job.done_token().cancelled().await;
        }
    }
    let rows = jobs.iter().map(|j| verify_row(j, &j.record())).collect();
    Outcome::text_table(&VERIFY_COLUMNS, rows)
}

const VERIFY_COLUMNS: [&str; 10] = [
    "JobId",
    "Repository",
    "Snapshot",
    "Timestamp",
    "Mode",
    "State",
    "Progress",
    "CreateTime",
    "FinishedTime",
    "Status",
];

fn verify_row(job: &Job, r: &JobRecord) -> Vec<Option<String>> {
    vec![
        Some(r.id.to_string()),
        Some(r.repo.clone()),
        Some(r.label.clone()),
        Some(r.timestamp.clone()),
        r.mode.clone(),
        Some(r.state.as_str().to_string()),
        Some(job.progress.cell()),
        super::format_datetime_ms(r.created_ms),
        super::format_datetime_ms(r.finished_ms),
        Some(r.status.cell()),
    ]
}

/// `SHOW VERIFY [ON repo]`: the verification jobs remembered, newest first.
pub async fn show_verify(engine: &Engine, repo: Option<&str>) -> Result<Outcome> {
    if let Some(name) = repo
        && engine.catalog.repository(name).await?.is_none()
    {
        return Err(Error::Common(format!("Repository {name} does not exist")));
    }
    let rows = engine
        .jobs
        .verifications()
        .iter()
        .rev()
        .map(|j| (j, j.record()))
        .filter(|(_, r)| repo.is_none_or(|n| r.repo.eq_ignore_ascii_case(n)))
        .map(|(j, r)| verify_row(j, &r))
        .collect();
    Outcome::text_table(&VERIFY_COLUMNS, rows)
}

/// `CANCEL VERIFY ON repo`: stops every running verification of the repository.
pub async fn cancel_verify(engine: &Engine, repo: &str) -> Result<Outcome> {
    let running: Vec<_> = engine
        .jobs
        .verifications()
        .into_iter()
        .filter(|j| !j.state().is_done() && j.record().repo.eq_ignore_ascii_case(repo))
        .collect();
    if running.is_empty() {
        return Err(Error::Common(format!(
            "No verification is running on repository {repo}"
        )));
    }
    for job in &running {
        job.cancel_with(JobStatus::common("user cancelled"));
    }
    for job in &running {
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            job.done_token().cancelled(),
        )
        .await;
    }
    Ok(Outcome::ok())
}

/// The last finished verification of one snapshot: (when, result).
pub fn last_verification(
    engine: &Engine,
    repo: &str,
    label: &str,
    ts: &str,
) -> Option<(Option<String>, String)> {
    engine
        .jobs
        .verifications()
        .iter()
        .rev()
        .map(|j| j.record())
        .find(|r| {
            r.state == JobState::Finished
                && r.repo.eq_ignore_ascii_case(repo)
                && r.label == label
                && r.timestamp == ts
        })
        .map(|r| {
            let mode = r.mode.clone().unwrap_or_default();
            let result = if r.status.code == "OK" {
                format!("OK ({mode})")
            } else {
                format!("{} ({mode}): {}", r.status.code, r.status.msg)
            };
            (super::format_datetime_ms(r.finished_ms), result)
        })
}

/// `SHOW SNAPSHOT ON repo [WHERE ...]`: read from the repository, so another server's
/// snapshots show too.
pub async fn show_snapshot(engine: &Engine, stmt: ShowSnapshot) -> Result<Outcome> {
    let repo = engine.open_repository(&stmt.repo.value).await?;
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
                        let verified = last_verification(engine, &repo.meta.name, &label, &ts);
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
    let mut value = value;
    if !m.views.is_empty()
        && let Some(map) = value.as_object_mut()
    {
        map.insert(
            "backup_views".into(),
            m.views.iter().map(|v| v.name.clone()).collect(),
        );
    }
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    if serde::Serialize::serialize(&value, &mut ser).is_err() {
        return value.to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_string())
}
