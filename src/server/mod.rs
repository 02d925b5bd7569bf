//! The MySQL protocol edge: accept loop, connection limit, graceful shutdown.
//!
//! `run` takes a bound listener and a shutdown token (tests pass their own). Each connection
//! takes a permit of the connection semaphore before it is served, so a flood of clients waits
//! instead of exhausting memory. Shutdown stops accepting, tells every session to stop at its
//! next command boundary, and waits (bounded) for them to finish.

mod auth;
pub mod federated;
mod metrics;
mod packet;
mod prepared;
mod results;
mod session;
mod span;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::Config;
use crate::engine::Engine;

/// How long shutdown waits for sessions to finish their current statement.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The stack of the daemon's threads: room for the deepest expression the parser accepts
/// ([`crate::sql::MAX_OPERATOR_CHAIN`]), whose tree is walked recursively while a statement
/// runs. Only the pages a thread touches are resident.
pub const THREAD_STACK: usize = 32 << 20;

/// Binds the configured address, prints where it listens, and serves until SIGINT or SIGTERM.
pub async fn run_until_signal(config: Config) -> io::Result<()> {
    let listener = TcpListener::bind(config.listen).await.map_err(|e| {
        io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.listen))
    })?;
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
            io::Error::new(e.kind(), format!("cannot serve metrics on {addr}: {e}"))
        })?),
        None => None,
    };
    let engine = Engine::new(config).map_err(|e| io::Error::other(e.to_string()))?;
    engine.start_background();
    crate::jobs::start_background(&engine);
    crate::command::materialized::start_schedule(&engine);
    crate::command::dynamic::start_loop(&engine);
    crate::command::compaction::start_loop(&engine);
    crate::command::task::start_loop(&engine);
    let shutdown = CancellationToken::new();
    if let Some(listener) = metrics_listener {
        let addr = listener.local_addr()?;
        // Printed before the MySQL line, so whoever waits for that one can read this one too.
        println!("backstop metrics on http://{addr}/metrics");
        info!(%addr, "serving metrics");
        tokio::spawn(metrics::serve(
            Arc::clone(&engine),
            listener,
            shutdown.clone(),
        ));
    }
    let signal_token = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signal_token.cancel();
    });
    run(engine, listener, shutdown).await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves connections on `listener` until `shutdown` is cancelled.
pub async fn run(
    engine: Arc<Engine>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let limit = Arc::new(Semaphore::new(engine.config.max_connections));
    let tracker = TaskTracker::new();
    let next_id = AtomicU32::new(1);
    // The one line scripts and tests wait for.
    println!("backstop listening on {addr}");
    info!(%addr, data_dir = %engine.config.data_dir.display(), "accepting connections");
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&limit).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.cancelled() => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => break,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let engine = Arc::clone(&engine);
        let token = shutdown.child_token();
        tracker.spawn(async move {
            let (reader, writer) = socket.into_split();
            engine.connections.fetch_add(1, Ordering::Relaxed);
            session::serve(Arc::clone(&engine), reader, writer, peer, id, token).await;
            engine.connections.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    info!("shutting down");
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        warn!("sessions still busy after {SHUTDOWN_GRACE:?}; closing them");
    }
    info!("stopped");
    Ok(())
}
