//! `--metrics-listen`: a minimal HTTP/1.1 responder for Prometheus scrapes.
//!
//! `GET /metrics` answers the text exposition of [`crate::metrics::METRICS`] plus gauges read
//! from the engine at scrape time; anything else gets 404 or 405. One request per connection
//! (`Connection: close`), a bounded request head, a read deadline and a small connection limit:
//! a scraper is the only expected client, and nothing here may slow the MySQL side.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::engine::Engine;
use crate::metrics::{BackupGauge, Gauges, METRICS, TaskGauge};

/// Scrapes served at once.
const MAX_CONNECTIONS: usize = 8;
/// Largest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request.
const READ_DEADLINE: Duration = Duration::from_secs(5);

/// Serves scrapes on `listener` until `shutdown` fires.
pub async fn serve(engine: Arc<Engine>, listener: TcpListener, shutdown: CancellationToken) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&limit).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = shutdown.cancelled() => return,
        };
        let (socket, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    debug!("metrics accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let engine = Arc::clone(&engine);
        tokio::spawn(async move {
            if let Err(e) = answer(&engine, socket).await {
                debug!("metrics request failed: {e}");
            }
            drop(permit);
        });
    }
}

async fn answer(engine: &Engine, mut socket: TcpStream) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_DEADLINE, read_head(&mut socket)).await {
        Ok(head) => head?,
        Err(_) => return Ok(()),
    };
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", METRICS.render(&gauges(engine).await)),
        ("GET", _) => (
            "404 Not Found",
            "only /metrics is served here\n".to_string(),
        ),
        _ => ("405 Method Not Allowed", "use GET /metrics\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}

/// Reads up to the blank line that ends the request head (or `MAX_HEAD` bytes).
async fn read_head(socket: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while buf.len() < MAX_HEAD && !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// What the daemon is doing right now. A catalog that cannot be read leaves the backup and task
/// gauges out (logged), never the scrape.
async fn gauges(engine: &Engine) -> Gauges {
    use std::sync::atomic::Ordering;
    let mut jobs: Vec<(&'static str, &'static str, u64)> = Vec::new();
    for job in engine.jobs.all_latest() {
        let r = job.record();
        let key = (r.kind.as_str(), r.state.as_str());
        match jobs.iter_mut().find(|(k, s, _)| (*k, *s) == key) {
            Some((_, _, n)) => *n += 1,
            None => jobs.push((key.0, key.1, 1)),
        }
    }
    jobs.sort();
    Gauges {
        uptime_seconds: engine.started.elapsed().as_secs(),
        connections: engine.connections.load(Ordering::Relaxed) as u64,
        statements: engine.questions.load(Ordering::Relaxed),
        open_files: {
            let files = crate::open_files::budget();
            (files.in_use(), files.peak(), files.size(), files.waits())
        },
        jobs,
        // The clock snapshots are stamped by (a test's task clock aside).
        now_ms: chrono::Utc::now().timestamp_millis(),
        // A dropped database's last backup is no longer watched.
        backups: match (
            engine.catalog.last_backups().await,
            engine.catalog.databases().await,
        ) {
            (Ok(all), Ok(dbs)) => all
                .into_iter()
                .filter(|b| dbs.iter().any(|d| d.name == b.db))
                .map(|b| BackupGauge {
                    db: b.db,
                    finished_ms: b.finished_ms,
                    snapshot_ms: b.snapshot_ms,
                })
                .collect(),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "metrics: cannot read the last backups");
                Vec::new()
            }
        },
        tasks: match engine.catalog.tasks().await {
            Ok(all) => all
                .into_iter()
                .map(|t| TaskGauge {
                    next_run_ms: t.next_start_ms(),
                    name: t.name,
                    db: t.db,
                    last_success_ms: t.last_success_ms,
                    consecutive_failures: u64::from(t.consecutive_failures),
                    suspended: t.suspended,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot read the tasks");
                Vec::new()
            }
        },
    }
}
