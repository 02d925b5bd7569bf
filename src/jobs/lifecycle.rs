//! Snapshot lifecycle: DROP SNAPSHOT, expiry of snapshots whose `ttl` has passed, and the
//! collection rounds that remove objects no snapshot references ([`crate::repo::gc`]).

use std::sync::Arc;
use std::time::Duration;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::repo::gc::{self, Dropped, GcError, RoundSettings, Swept};
use crate::repo::{Repository, layout};
use crate::sql::TimestampFilter;

/// How long DROP SNAPSHOT waits for its collection round before leaving it to the background
/// (at most the lease lifetime).
const ROUND_WAIT: Duration = Duration::from_secs(30);

/// What a DROP SNAPSHOT asked for.
#[derive(Debug, Clone)]
pub struct DropRequest {
    pub label: String,
    /// The timestamps meant; `None`: every one of the label.
    pub which: Option<TimestampFilter>,
    pub force: bool,
    pub dry_run: bool,
}

/// How the collection round after a drop went.
#[derive(Debug, Clone)]
pub enum Sweep {
    /// A dry run: nothing was changed.
    DryRun,
    Done(Swept),
    /// Still waiting for running backups; it finishes in the background.
    Deferred,
    /// The snapshots are dropped; their objects stay until a later round succeeds.
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct DropReport {
    pub dropped: Vec<Dropped>,
    pub sweep: Sweep,
}

fn round_settings(engine: &Engine) -> RoundSettings {
    let lifetime_ms = engine.config.lease_lifetime_ms();
    RoundSettings {
        lifetime_ms,
        poll: Duration::from_millis((lifetime_ms.unsigned_abs() / 20).clamp(200, 5_000)),
    }
}

fn gc_error(e: GcError) -> Error {
    match e {
        GcError::Refused(msg) => Error::Common(msg),
        other => Error::Common(format!("DROP SNAPSHOT failed: {other}")),
    }
}

/// A job of this server that writes or reads the snapshot: dropping it is refused meanwhile.
fn busy_with(
    engine: &Engine,
    repo: &str,
    label: &str,
    which: Option<&TimestampFilter>,
) -> Option<String> {
    let mut jobs = engine.jobs.all_latest();
    jobs.extend(engine.jobs.verifications());
    jobs.into_iter().find_map(|job| {
        let r = job.record();
        if r.state.is_done() || !r.repo.eq_ignore_ascii_case(repo) || r.label != label {
            return None;
        }
        let reads = TimestampFilter::selects(which, &r.timestamp);
        match r.kind {
            crate::scheduler::JobKind::Backup => Some(format!(
                "BACKUP job {} of database {} is writing snapshot '{label}'; wait until it \
                 ends or CANCEL BACKUP FROM {}",
                r.id, r.db, r.db
            )),
            crate::scheduler::JobKind::Restore => reads.then(|| {
                format!(
                    "RESTORE job {} of database {} is reading snapshot '{label}' ({}); wait \
                     until it ends or CANCEL RESTORE FROM {}",
                    r.id, r.db, r.timestamp, r.db
                )
            }),
            crate::scheduler::JobKind::Verify => reads.then(|| {
                format!(
                    "VERIFY job {} is reading snapshot '{label}' ({}); wait until it ends or \
                     CANCEL VERIFY ON {repo}",
                    r.id, r.timestamp
                )
            }),
        }
    })
}

/// DROP SNAPSHOT: checks, deletes each chosen snapshot (COMMIT first), then runs a collection
/// round, waiting for it up to [`ROUND_WAIT`].
pub async fn drop_snapshots(
    engine: &Arc<Engine>,
    repo: Arc<Repository>,
    req: DropRequest,
) -> Result<DropReport> {
    let name = repo.meta.name.clone();
    if repo.meta.read_only {
        return Err(Error::Common(format!(
            "Repository {name} is read only: DROP SNAPSHOT needs a writable repository"
        )));
    }
    if let Some(msg) = busy_with(engine, &name, &req.label, req.which.as_ref()) {
        return Err(Error::Common(msg));
    }
    let settings = round_settings(engine);
    let server_id = engine.catalog.server_id().to_string();
    let dropped = gc::plan_drop(
        &repo.store,
        &req.label,
        req.which.as_ref(),
        req.force,
        &server_id,
        settings.lifetime_ms,
    )
    .await
    .map_err(gc_error)?;
    if req.dry_run {
        return Ok(DropReport {
            dropped,
            sweep: Sweep::DryRun,
        });
    }
    for d in &dropped {
        gc::delete_snapshot(&repo.store, &d.label, &d.timestamp)
            .await
            .map_err(gc_error)?;
        tracing::info!(repository = %name, label = %d.label, timestamp = %d.timestamp, "snapshot dropped");
    }
    let round = tokio::spawn(run_round(Arc::clone(engine), repo));
    let wait = ROUND_WAIT.min(Duration::from_millis(
        engine.config.lease_lifetime_ms().unsigned_abs(),
    ));
    let sweep = match tokio::time::timeout(wait, round).await {
        Ok(Ok(Ok(swept))) => Sweep::Done(swept),
        Ok(Ok(Err(e))) => Sweep::Failed(e.to_string()),
        Ok(Err(e)) => Sweep::Failed(e.to_string()),
        Err(_) => Sweep::Deferred,
    };
    Ok(DropReport { dropped, sweep })
}

/// One collection round on `repo`, one at a time per repository on this server.
pub async fn run_round(engine: Arc<Engine>, repo: Arc<Repository>) -> Result<Swept, GcError> {
    let lock = engine.gc_locks.lock_for(&repo.meta.name);
    let _guard = lock.lock().await;
    let result = gc::collect(
        &repo.store,
        engine.catalog.server_id(),
        round_settings(&engine),
    )
    .await;
    match &result {
        Ok(s) if s.objects > 0 || s.leftovers > 0 => tracing::info!(
            repository = %repo.meta.name,
            objects = s.objects,
            bytes = s.bytes,
            leftovers = s.leftovers,
            waited_for = s.waited_for,
            "collection round removed unreferenced objects"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(repository = %repo.meta.name, error = %e, "collection round failed")
        }
    }
    result
}

/// Drops this server's snapshots whose `ttl` has passed, in every writable repository, then
/// collects. Runs every `--snapshot-expiry-interval` seconds.
pub async fn expire_loop(engine: Arc<Engine>) {
    let secs = engine.config.snapshot_expiry_interval;
    if secs == 0 {
        return;
    }
    loop {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        for repo in writable_repositories(&engine, "snapshot expiry").await {
            if let Err(e) = expire(&engine, Arc::clone(&repo)).await {
                tracing::warn!(repository = %repo.meta.name, error = %e, "snapshot expiry failed");
            }
        }
    }
}

/// Every repository this server may write to, opened; those that cannot be listed or opened
/// are logged as skipped by `purpose`.
async fn writable_repositories(engine: &Engine, purpose: &str) -> Vec<Arc<Repository>> {
    let metas = match engine.catalog.repositories().await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(purpose, error = %e, "cannot list repositories");
            return Vec::new();
        }
    };
    let mut repos = Vec::new();
    for meta in metas.into_iter().filter(|m| !m.read_only) {
        match engine.open_repository(&meta.name).await {
            Ok(repo) => repos.push(repo),
            Err(e) => {
                tracing::warn!(purpose, repository = %meta.name, error = %e, "cannot open the repository")
            }
        }
    }
    repos
}

/// One expiry pass over `repo`.
pub async fn expire(engine: &Arc<Engine>, repo: Arc<Repository>) -> Result<u64, GcError> {
    let now = crate::clock::now_ms();
    let server_id = engine.catalog.server_id();
    let mut expired = 0;
    for c in gc::committed(&repo.store).await? {
        let Ok(m) = &c.manifest else { continue };
        if m.server_id != server_id || m.expires_ms.is_none_or(|e| e > now) {
            continue;
        }
        let which = TimestampFilter::Eq(c.timestamp.clone());
        if busy_with(engine, &repo.meta.name, &c.label, Some(&which)).is_some() {
            continue;
        }
        gc::delete_snapshot(&repo.store, &c.label, &c.timestamp).await?;
        tracing::info!(repository = %repo.meta.name, label = %c.label, timestamp = %c.timestamp, ttl = ?m.ttl, "snapshot expired and dropped");
        expired += 1;
    }
    // Also finishes what a crash or a failed round left.
    run_round(Arc::clone(engine), repo).await?;
    Ok(expired)
}

/// A task's `keep_last`: drops this server's committed snapshots of database `db` under
/// `label` in `repo` beyond the `keep` newest (by timestamp), then collects: objects a kept
/// snapshot references stay, so incremental chains stay whole. Snapshots of other servers and
/// of other databases (a label is not unique across them) are never touched; one a job is
/// writing or reading waits for the next run. Returns how many were dropped.
pub async fn keep_newest(
    engine: &Arc<Engine>,
    repo: Arc<Repository>,
    db: &str,
    label: &str,
    keep: usize,
) -> Result<u64, GcError> {
    let server_id = engine.catalog.server_id();
    let mut mine: Vec<String> = gc::committed(&repo.store)
        .await?
        .into_iter()
        .filter(|c| c.label == label)
        .filter(|c| {
            c.manifest
                .as_ref()
                .is_ok_and(|m| m.server_id == server_id && m.database == db)
        })
        .map(|c| c.timestamp)
        .collect();
    // Timestamps are fixed-width `yyyy-MM-dd-HH-mm-ss-SSS`: text order is time order.
    mine.sort_unstable_by(|a, b| b.cmp(a));
    let mut dropped = 0;
    for timestamp in mine.iter().skip(keep) {
        let which = TimestampFilter::Eq(timestamp.clone());
        if busy_with(engine, &repo.meta.name, label, Some(&which)).is_some() {
            continue;
        }
        gc::delete_snapshot(&repo.store, label, timestamp).await?;
        tracing::info!(repository = %repo.meta.name, label, timestamp = %timestamp, keep, "snapshot dropped by keep_last");
        dropped += 1;
    }
    if dropped > 0 {
        run_round(Arc::clone(engine), repo).await?;
    }
    Ok(dropped)
}

/// At start-up: removes, from every writable repository, this server's leases of jobs that are
/// not running (the restart ended them) and the marks of its collection rounds (none runs while
/// this holds the repository's round lock), so that no round and no backup waits for a job or
/// a round that is gone. A repository that cannot be reached keeps them until they expire, as
/// before; the failure is logged.
pub async fn clear_dead_leases_and_marks(engine: Arc<Engine>) {
    for repo in writable_repositories(&engine, "stale lease removal").await {
        match clear_in(&engine, &repo).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(
                repository = %repo.meta.name,
                removed,
                "removed the leases and marks of jobs and rounds the restart ended"
            ),
            Err(e) => tracing::warn!(
                repository = %repo.meta.name,
                error = %e,
                "cannot remove stale leases and marks; they expire after --lease-lifetime"
            ),
        }
    }
}

async fn clear_in(engine: &Engine, repo: &Repository) -> Result<u64, GcError> {
    let server_id = engine.catalog.server_id();
    let lock = engine.gc_locks.lock_for(&repo.meta.name);
    let _no_round_of_ours = lock.lock().await;
    let mut removed = 0;
    for object in repo.store.list(layout::LEASES_PREFIX).await? {
        let dead =
            layout::lease_job(server_id, &object.key).is_some_and(|id| !engine.jobs.is_running(id));
        if dead {
            repo.store.delete(&object.key).await?;
            removed += 1;
        }
    }
    for object in repo.store.list(layout::MARKS_PREFIX).await? {
        if layout::is_mark_of(server_id, &object.key) {
            repo.store.delete(&object.key).await?;
            removed += 1;
        }
    }
    // The multipart uploads the stop left open (others wait for the next round).
    removed +=
        gc::abort_dead_uploads(&repo.store, server_id, engine.config.lease_lifetime_ms()).await;
    Ok(removed)
}
