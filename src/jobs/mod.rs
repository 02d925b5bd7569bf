//! The jobs' steps, above the engine (a job's steps need the whole engine): BACKUP
//! ([`backup`]), RESTORE ([`restore`]), VERIFY SNAPSHOT ([`verify`]), and the snapshot lifecycle
//! ([`lifecycle`]: DROP SNAPSHOT, `ttl` expiry, collection rounds). Their records, the
//! one-job-per-database scheduler and cancellation are [`crate::scheduler`]'s.

pub mod backup;
pub mod lifecycle;
pub mod restore;
pub mod verify;

use std::sync::Arc;

use crate::engine::Engine;

/// Starts the jobs' background work: the backups a restart interrupted in UPLOAD_INFO are
/// reconciled with their repository, and `ttl` expiry runs every
/// `--snapshot-expiry-interval`.
pub fn start_background(engine: &Arc<Engine>) {
    tokio::spawn(backup::reconcile(Arc::clone(engine)));
    tokio::spawn(lifecycle::expire_loop(Arc::clone(engine)));
}
