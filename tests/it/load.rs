//! Load: 200 concurrent mysql_async connections, 50 queries each, against one daemon; the
//! daemon's resident memory (VmRSS) is printed idle, at peak and afterwards, and must come back
//! near idle once the connections are closed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{TestDaemon, assert_select_1};
use mysql_async::prelude::Queryable;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

const CONNECTIONS: usize = 200;
const QUERIES_PER_CONNECTION: usize = 50;
/// How far above the warmed-up idle RSS the daemon may stay after the load.
const SETTLED_SLACK_KIB: u64 = 64 * 1024;
/// RSS is watched at least this long after the load (and until it is within the bound, at most
/// `SETTLE_DEADLINE`): allocators give memory back with some delay.
const SETTLE_MIN: Duration = Duration::from_secs(3);
const SETTLE_DEADLINE: Duration = Duration::from_secs(20);
const LOAD_DEADLINE: Duration = Duration::from_secs(300);

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn one_client(daemon_opts: mysql_async::OptsBuilder, id: usize, barrier: Arc<Barrier>) {
    let mut conn = mysql_async::Conn::new(daemon_opts)
        .await
        .unwrap_or_else(|e| panic!("connection {id}: connect: {e}"));
    // Every connection is open before any of them queries: the peak has all 200 at once.
    barrier.wait().await;
    for q in 0..QUERIES_PER_CONNECTION {
        match (id + q) % 3 {
            0 => {
                let v: Option<i64> = conn
                    .query_first("SELECT 1")
                    .await
                    .unwrap_or_else(|e| panic!("connection {id} query {q}: SELECT 1: {e}"));
                assert_eq!(v, Some(1));
            }
            1 => {
                let sql = format!("SELECT CONCAT('c{id}', '-', 'q{q}')");
                let v: Option<String> = conn
                    .query_first(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("connection {id} query {q}: {sql}: {e}"));
                assert_eq!(v.as_deref(), Some(format!("c{id}-q{q}").as_str()));
            }
            _ => {
                let v: Option<String> = conn
                    .query_first("SELECT @@version_comment")
                    .await
                    .unwrap_or_else(|e| {
                        panic!("connection {id} query {q}: SELECT @@version_comment: {e}")
                    });
                assert!(v.is_some(), "connection {id}: @@version_comment is NULL");
            }
        }
    }
    // Keep the connection open until everyone is done, so the peak is measured with all open.
    barrier.wait().await;
    conn.disconnect()
        .await
        .unwrap_or_else(|e| panic!("connection {id}: disconnect: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_connections_fifty_queries_each() {
    let daemon = TestDaemon::start();
    let pid = daemon.pid();
    let rss_start = daemon.rss_kib();

    // Warm up: one connection runs every query kind once, so lazily built state counts as idle.
    {
        let mut conn = daemon.conn().await;
        assert_select_1(&mut conn).await;
        let _: Option<String> = conn.query_first("SELECT CONCAT('a','b')").await.unwrap();
        let _: Option<String> = conn.query_first("SELECT @@version_comment").await.unwrap();
        conn.disconnect().await.unwrap();
    }
    let rss_idle = daemon.rss_kib();

    // Sample RSS while the load runs.
    let peak = Arc::new(AtomicU64::new(rss_idle));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    && let Some(kib) = s
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let started = Instant::now();
    let barrier = Arc::new(Barrier::new(CONNECTIONS + 1));
    let mut tasks = JoinSet::new();
    for id in 0..CONNECTIONS {
        tasks.spawn(one_client(daemon.opts(), id, barrier.clone()));
    }
    let run = async {
        let phases = async {
            barrier.wait().await; // all connected
            let connected = started.elapsed();
            barrier.wait().await; // all queries done
            (connected, started.elapsed())
        };
        tokio::pin!(phases);
        // A client that fails never reaches the barrier: report its panic at once.
        let times = loop {
            tokio::select! {
                times = &mut phases => break times,
                Some(res) = tasks.join_next() => {
                    if let Err(e) = res {
                        panic!("a client failed: {e}");
                    }
                }
            }
        };
        while let Some(res) = tasks.join_next().await {
            if let Err(e) = res {
                panic!("a client failed: {e}");
            }
        }
        times
    };
    let (connected, queried) = match tokio::time::timeout(LOAD_DEADLINE, run).await {
        Ok(times) => times,
        Err(_) => panic!("load did not finish within {LOAD_DEADLINE:?}"),
    };
    let total = started.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let rss_peak = peak.load(Ordering::Relaxed).max(daemon.rss_kib());
    let hwm = daemon.hwm_kib();

    // Let the daemon settle: poll until RSS is within the bound or the deadline passes.
    let bound = rss_idle + SETTLED_SLACK_KIB;
    let settle_start = Instant::now();
    let mut rss_after = daemon.rss_kib();
    while (rss_after > bound || settle_start.elapsed() < SETTLE_MIN)
        && settle_start.elapsed() < SETTLE_DEADLINE
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
        rss_after = daemon.rss_kib();
    }
    let settled_in = settle_start.elapsed();

    // Still serving afterwards.
    let mut conn = daemon.conn().await;
    assert_select_1(&mut conn).await;
    conn.disconnect().await.unwrap();

    let queries = CONNECTIONS * QUERIES_PER_CONNECTION;
    println!(
        "load: {CONNECTIONS} connections x {QUERIES_PER_CONNECTION} queries = {queries} queries; \
         all connected after {connected:.2?}, all queries done after {queried:.2?}, \
         total {total:.2?} ({:.0} queries/s)",
        queries as f64 / (queried.as_secs_f64() - connected.as_secs_f64()).max(1e-3)
    );
    println!(
        "load: VmRSS start {:.1} MiB, idle after warm-up {:.1} MiB, peak {:.1} MiB \
         (VmHWM {:.1} MiB), after {:.1} MiB (after {settled_in:.1?} of polling); bound idle + {:.0} MiB = \
         {:.1} MiB",
        mib(rss_start),
        mib(rss_idle),
        mib(rss_peak),
        mib(hwm),
        mib(rss_after),
        mib(SETTLED_SLACK_KIB),
        mib(bound)
    );
    assert!(
        rss_after <= bound,
        "RSS after the load is {:.1} MiB, more than idle {:.1} MiB + {:.0} MiB",
        mib(rss_after),
        mib(rss_idle),
        mib(SETTLED_SLACK_KIB)
    );
}
