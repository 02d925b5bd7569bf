//! VERIFY SNAPSHOT (backstop): proves a snapshot restorable without restoring it.
//!
//! PENDING → VERIFYING → FINISHED (or CANCELLED by CANCEL VERIFY, the timeout or a storage
//! failure). The manifest is read as RESTORE reads it (COMMIT present, sha256 matching); then
//! - `metadata` mode: every object the manifest names exists with its recorded size (one
//!   listing of `objects/`, no object read);
//! - `full` mode: every object is read again, its sha256 and size checked, its Parquet footer
//!   decoded and its row count compared with the manifest's.
//!
//! A damaged object does not stop the job: every problem is collected and the job FINISHES
//! with Status `[DAMAGED, msg: ...]` naming each object with its table, partition and tablet.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::engine::Engine;
use crate::repo::Repository;
use crate::repo::manifest::{self, Manifest, ManifestRowset};
use crate::repo::store::{ObjectStore, StoreError};
use crate::scheduler::{Job, JobError, JobState, JobStatus};

/// `metadata` or `full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Metadata,
    Full,
}

impl Mode {
    pub fn parse(value: &str) -> Option<Mode> {
        match value.trim().to_ascii_lowercase().as_str() {
            "metadata" => Some(Mode::Metadata),
            "full" => Some(Mode::Full),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Metadata => "metadata",
            Mode::Full => "full",
        }
    }
}

/// Problems reported in Status, at most; the rest are counted.
const REPORTED_PROBLEMS: usize = 20;

/// Runs the jobs one after the other (one per timestamp of the label).
pub async fn run(
    engine: Arc<Engine>,
    jobs: Vec<Arc<Job>>,
    repo: Arc<Repository>,
    mode: Mode,
    parallel: usize,
) {
    for job in jobs {
        let result = job
            .observing(steps(&engine, &job, &repo, mode, parallel))
            .await;
        match result {
            Ok(()) => job.mark_done(),
            Err(e) => engine.jobs.finish_failed(&job, e).await,
        }
    }
}

/// Where an object sits in the snapshot, for messages.
fn place(m: &Manifest) -> BTreeMap<String, (String, &ManifestRowset)> {
    let mut out = BTreeMap::new();
    for t in &m.tables {
        for p in &t.partitions {
            for tablet in &p.tablets {
                for (r, _) in tablet.files() {
                    out.entry(r.object.clone()).or_insert_with(|| {
                        (
                            format!(
                                "table {}, partition {}, tablet (bucket) {}",
                                t.name, p.name, tablet.bucket
                            ),
                            r,
                        )
                    });
                }
            }
        }
    }
    out
}

async fn steps(
    engine: &Arc<Engine>,
    job: &Arc<Job>,
    repo: &Arc<Repository>,
    mode: Mode,
    parallel: usize,
) -> Result<(), JobError> {
    let catalog = &engine.catalog;
    job.set_state(catalog, JobState::Verifying).await?;
    let record = job.record();
    let manifest = match job
        .interruptible(async {
            Ok(manifest::read_committed(&repo.store, &record.label, &record.timestamp).await)
        })
        .await?
    {
        Ok(m) => m,
        Err(manifest::SnapshotError::Store(e)) => {
            return Err(JobError::Failed(JobStatus::common(format!(
                "cannot read the snapshot: {e}"
            ))));
        }
        Err(e) => return finish(engine, job, vec![e.to_string()], 0).await,
    };
    let objects = place(&manifest);
    job.progress.reset(
        objects.len() as u64,
        objects.values().map(|(_, r)| r.size).sum(),
    );
    let problems: Vec<String> = match mode {
        Mode::Metadata => {
            let listed: BTreeMap<String, u64> = job
                .interruptible(async {
                    repo.store
                        .list(crate::repo::layout::OBJECTS_PREFIX)
                        .await
                        .map_err(storage_failure)
                })
                .await?
                .into_iter()
                .map(|o| (o.key, o.size))
                .collect();
            objects
                .iter()
                .filter_map(|(key, (at, r))| {
                    job.progress.add(1, r.size);
                    match listed.get(key) {
                        None => Some(format!("{at}: object {key} is missing")),
                        Some(size) if *size != r.size => Some(format!(
                            "{at}: object {key} has {size} bytes, the manifest says {}",
                            r.size
                        )),
                        Some(_) => None,
                    }
                })
                .collect()
        }
        Mode::Full => {
            let owned: Vec<(String, String, ManifestRowset)> = objects
                .iter()
                .map(|(key, (at, r))| (key.clone(), at.clone(), (*r).clone()))
                .collect();
            let store = &repo.store;
            let results: Vec<Option<String>> = job
                .interruptible(
                    futures::stream::iter(owned)
                        .map(|(key, at, r)| async move {
                            let problem = check_object(store, &key, &r).await?;
                            job.progress.add(1, r.size);
                            crate::failpoint::hit("verify.after_object").await?;
                            Ok::<_, JobError>(problem.map(|p| format!("{at}: object {key} {p}")))
                        })
                        .buffer_unordered(parallel.max(1))
                        .try_collect(),
                )
                .await?;
            results.into_iter().flatten().collect()
        }
    };
    let checked = objects.len();
    finish(engine, job, problems, checked).await
}

fn storage_failure(e: StoreError) -> JobError {
    JobError::Failed(JobStatus::common(format!(
        "the repository could not be read: {e}"
    )))
}

/// Ends the job FINISHED: `[OK]`, or `[DAMAGED, msg: ...]` listing the problems.
async fn finish(
    engine: &Engine,
    job: &Job,
    mut problems: Vec<String>,
    checked: usize,
) -> Result<(), JobError> {
    problems.sort();
    let status = if problems.is_empty() {
        JobStatus::ok()
    } else {
        let more = problems.len().saturating_sub(REPORTED_PROBLEMS);
        problems.truncate(REPORTED_PROBLEMS);
        let mut msg = format!(
            "{} problem(s) in {checked} object(s) checked: {}",
            problems.len() + more,
            problems.join("; ")
        );
        if more > 0 {
            msg.push_str(&format!("; and {more} more"));
        }
        JobStatus::error("DAMAGED", msg)
    };
    tracing::info!(job = job.id(), status = %status.cell(), "verification finished");
    job.update(&engine.catalog, |r| {
        r.state = JobState::Finished;
        r.status = status;
        r.finished_ms = chrono::Utc::now().timestamp_millis();
    })
    .await?;
    Ok(())
}

/// Reads one object again: size, sha256, Parquet footer and row count. `Ok(Some(problem))`
/// for damage; `Err` when the storage cannot be read (the job fails).
async fn check_object(
    store: &ObjectStore,
    key: &str,
    want: &ManifestRowset,
) -> Result<Option<String>, JobError> {
    let mut stream = match store.get_stream(key, None).await {
        Ok(s) => s,
        Err(StoreError::NotFound(_)) => return Ok(Some("is missing".into())),
        Err(e) => return Err(storage_failure(e)),
    };
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(storage_failure)?;
        size += chunk.len() as u64;
        hasher.update(&chunk);
    }
    if size != want.size {
        return Ok(Some(format!(
            "has {size} bytes, the manifest says {}",
            want.size
        )));
    }
    let sha = crate::hex(&hasher.finalize());
    if sha != want.sha256 {
        return Ok(Some(format!(
            "has sha256 {sha}, the manifest says {}",
            want.sha256
        )));
    }
    match footer_rows(store, key, size).await? {
        Err(why) => Ok(Some(format!("is not a readable Parquet file: {why}"))),
        Ok(rows) if rows != want.rows => Ok(Some(format!(
            "holds {rows} rows, the manifest says {}",
            want.rows
        ))),
        Ok(_) => Ok(None),
    }
}

/// The row count a Parquet file's footer declares; `Ok(Err(why))` when it cannot be decoded.
async fn footer_rows(
    store: &ObjectStore,
    key: &str,
    size: u64,
) -> Result<Result<u64, String>, JobError> {
    const TAIL: u64 = 8;
    if size < 12 {
        return Ok(Err(format!("{size} bytes is too short")));
    }
    let tail = read_range(store, key, size - TAIL..size).await?;
    let (Some(len), Some(magic)) = (tail.get(..4), tail.get(4..8)) else {
        return Ok(Err("no footer".into()));
    };
    if magic != b"PAR1" {
        return Ok(Err("no PAR1 magic at its end".into()));
    }
    let len = u64::from(u32::from_le_bytes(len.try_into().unwrap_or([0; 4])));
    if len + TAIL + 4 > size {
        return Ok(Err(format!(
            "its footer claims {len} bytes in a {size}-byte file"
        )));
    }
    let footer = read_range(store, key, size - TAIL - len..size - TAIL).await?;
    match datafusion::parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&footer) {
        Ok(meta) => Ok(Ok(
            u64::try_from(meta.file_metadata().num_rows()).unwrap_or(0)
        )),
        Err(e) => Ok(Err(e.to_string())),
    }
}

async fn read_range(
    store: &ObjectStore,
    key: &str,
    range: std::ops::Range<u64>,
) -> Result<Vec<u8>, JobError> {
    let stream = store
        .get_stream(key, Some(range))
        .await
        .map_err(storage_failure)?;
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.map_err(storage_failure)?;
    Ok(chunks.concat())
}
