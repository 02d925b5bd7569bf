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

/// Starts the jobs' background work: this server's leases and marks that the restart left are
/// removed, the backups a restart interrupted in UPLOAD_INFO are reconciled with their
/// repository, and `ttl` expiry runs every `--snapshot-expiry-interval`.
pub fn start_background(engine: &Arc<Engine>) {
    let ended = Arc::clone(engine);
    tokio::spawn(async move {
        // Reconciled first: a backup interrupted in UPLOAD_INFO runs until the repository
        // says how it ended, and its lease goes once it has.
        backup::reconcile(Arc::clone(&ended)).await;
        lifecycle::clear_dead_leases_and_marks(ended).await;
    });
    tokio::spawn(lifecycle::expire_loop(Arc::clone(engine)));
}
