//! 64 clients load and query a table of more than 5,000 rowsets while BACKUP and RESTORE jobs
//! run back to back in other databases, in a daemon whose process may open 4,096 files: no
//! statement fails (the open-files budget makes them wait instead of running out of
//! descriptors), no acknowledged row is lost, every job finishes `[OK]`, the restored tables
//! equal their source; the peak of open descriptors and the statement latencies (p50 / p99)
//! are printed. `BACKSTOP_BESIDE_SECS` sets how long the clients run (default 12 s).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::time::{Duration, Instant};

use common::backup::{backup, checksum, count, load_sample, scratch_repo, show_job};
use common::{TestDaemon, exec};
use mysql_async::prelude::Queryable;

const CLIENTS: usize = 64;
/// The daemon's limit of open files (soft and hard).
const OPEN_FILES_LIMIT: u64 = 4096;
/// Rowsets the loaded and queried table has before the clients start.
const ROWSETS: u64 = 5000;
/// Low enough that each job moves its objects for a second or so.
const BANDWIDTH: &str = "512K";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, mut samples: Vec<Duration>, secs: f64) -> String {
    samples.sort();
    format!(
        "{name}: {} statements ({:.0}/s), p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        samples.len() as f64 / secs,
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    )
}

/// Waits for the latest job of `db` to finish `[OK]`. Beside 100 busy clients on a shared
/// machine a job takes far longer than alone, so the deadline is generous (it only turns a hang
/// into a failure).
async fn finished(conn: &mut mysql_async::Conn, kind: &str, db: &str) {
    let start = Instant::now();
    loop {
        if let Some(r) = show_job(conn, kind, db).await
            && matches!(r.opt("State"), Some("FINISHED" | "CANCELLED"))
        {
            assert_eq!(
                (r.get("State"), r.get("Status")),
                ("FINISHED", "[OK]"),
                "{kind} of {db}: {r:?}"
            );
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "the {kind} job of {db} did not end within 180 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn source_prints(conn: &mut mysql_async::Conn, db: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for t in ["sr_member", "sr_order", "big"] {
        out.push((
            checksum(conn, &format!("{db}.{t}")).await,
            count(conn, &format!("{db}.{t}")).await,
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_clients_over_many_rowsets_beside_a_backup_and_a_restore() {
    let secs: u64 = std::env::var("BACKSTOP_BESIDE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let daemon = TestDaemon::start_with_open_files_limit(OPEN_FILES_LIMIT);
    let mut conn = daemon.conn().await;
    let prefilled = prefill(&daemon, &mut conn, ROWSETS).await;
    load_sample(&mut conn, "src").await;
    exec(
        &mut conn,
        "CREATE TABLE src.big (k BIGINT NOT NULL, v STRING) DUPLICATE KEY(k) \
         DISTRIBUTED BY HASH(k) BUCKETS 8",
    )
    .await;
    for chunk in 0..5i64 {
        let values: Vec<String> = (0..2000i64)
            .map(|i| {
                let k = chunk * 2000 + i;
                format!(
                    "({k}, '{:064x}')",
                    (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                )
            })
            .collect();
        exec(
            &mut conn,
            &format!("INSERT INTO src.big VALUES {}", values.join(", ")),
        )
        .await;
    }
    scratch_repo(&daemon, &mut conn, "repo").await;
    let ts = backup(&mut conn, "src", "base", "repo", "").await;
    let expected = source_prints(&mut conn, "src").await;

    let sampler = FdSampler::start(daemon.pid());
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let opts = daemon.opts();
        clients.push(tokio::spawn(async move {
            let mut conn = mysql_async::Conn::new(opts).await.unwrap();
            let mut latencies = Vec::new();
            let mut acked = 0u64;
            let mut s = 0i64;
            while Instant::now() < deadline {
                let sql = if c % 2 == 0 {
                    // A loader: 10 rows with keys unique to this client and statement.
                    let values: Vec<String> = (0..10)
                        .map(|r| {
                            format!(
                                "({}, {c}, 'c{c}-s{s}-r{r}')",
                                ((c as i64) << 32) | (s * 10 + r)
                            )
                        })
                        .collect();
                    format!("INSERT INTO work.t VALUES {}", values.join(", "))
                } else if c % 4 == 1 {
                    "SELECT client, count(*) FROM work.t GROUP BY client ORDER BY client"
                        .to_string()
                } else {
                    "SELECT count(*), sum(length(v)) FROM src.big".to_string()
                };
                let t0 = Instant::now();
                conn.query_drop(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("client {c}: {sql:.60}: {e}"));
                latencies.push(t0.elapsed());
                if c % 2 == 0 {
                    acked += 10;
                }
                s += 1;
            }
            (c, acked, latencies)
        }));
    }

    // Jobs back to back while the clients run: backups of src (each to a new repository, so
    // each uploads everything) and restores of the snapshot into dst.
    let (mut backups, mut restores) = (0, 0);
    let mut n = 0;
    while Instant::now() < deadline {
        exec(
            &mut conn,
            &format!(
                "CREATE REPOSITORY j{n} WITH BROKER ON LOCATION \"file://{}\"",
                daemon.scratch_dir().join("jobs").display()
            ),
        )
        .await;
        exec(
            &mut conn,
            &format!(
                "BACKUP SNAPSHOT src.s{n} TO j{n} PROPERTIES (\"max_bandwidth\" = \"{BANDWIDTH}\")"
            ),
        )
        .await;
        exec(
            &mut conn,
            &format!(
                "RESTORE SNAPSHOT dst.base FROM repo PROPERTIES (\"backup_timestamp\" = \"{ts}\", \
                 \"max_bandwidth\" = \"{BANDWIDTH}\")"
            ),
        )
        .await;
        finished(&mut conn, "BACKUP", "src").await;
        backups += 1;
        finished(&mut conn, "RESTORE", "dst").await;
        restores += 1;
        assert_eq!(
            source_prints(&mut conn, "dst").await,
            expected,
            "restore {n}"
        );
        n += 1;
    }

    let mut loads = Vec::new();
    let mut queries = Vec::new();
    let mut acked_total = 0u64;
    let mut per_client = Vec::new();
    for client in clients {
        let (c, acked, latencies) = client.await.unwrap();
        if c % 2 == 0 {
            loads.extend(latencies);
            per_client.push((c, acked));
        } else {
            queries.extend(latencies);
        }
        acked_total += acked;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let peak_fds = sampler.stop();

    // No lost rows: each loader's rows are all there.
    assert_eq!(count(&mut conn, "work.t").await, acked_total + prefilled);
    let counted: Vec<(i64, u64)> = conn
        .query(
            "SELECT client, count(*) FROM work.t WHERE client >= 0 GROUP BY client \
             ORDER BY client",
        )
        .await
        .unwrap();
    let counted: Vec<(usize, u64)> = counted.into_iter().map(|(c, n)| (c as usize, n)).collect();
    assert_eq!(counted, per_client);
    assert_eq!(source_prints(&mut conn, "src").await, expected);
    assert!(show_job(&mut conn, "BACKUP", "src").await.is_some());
    assert!(backups > 0 && restores > 0);

    let status: Vec<(String, String)> = conn
        .query("SHOW GLOBAL STATUS LIKE '%open_files%'")
        .await
        .unwrap();
    println!(
        "beside jobs: {CLIENTS} clients for {elapsed:.1} s over a table of {} rowsets beside \
         {backups} backups and {restores} restores (max_bandwidth {BANDWIDTH}), {acked_total} \
         rows loaded, none lost",
        rowsets(&mut conn, "work.t").await
    );
    println!(
        "beside jobs: open descriptors peaked at {peak_fds} of {OPEN_FILES_LIMIT} (sampled); \
         budget {status:?}"
    );
    assert!(peak_fds < OPEN_FILES_LIMIT);
    println!(
        "beside jobs: {}",
        summary("loads (INSERT 10 rows)", loads, elapsed)
    );
    println!("beside jobs: {}", summary("queries", queries, elapsed));
}

/// Rowsets of `table` (the sum of SHOW TABLET's VersionCount).
async fn rowsets(conn: &mut mysql_async::Conn, table: &str) -> u64 {
    let rows: Vec<mysql_async::Row> = conn
        .query(format!("SHOW TABLET FROM {table}"))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            r.get::<String, _>("VersionCount")
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}

/// Creates `work.t` (4 buckets) and loads it (rows of client -1) by many small statements until
/// it has `target` rowsets; returns the rows loaded.
async fn prefill(daemon: &TestDaemon, conn: &mut mysql_async::Conn, target: u64) -> u64 {
    exec(conn, "CREATE DATABASE work").await;
    exec(
        conn,
        "CREATE TABLE work.t (k BIGINT NOT NULL, client INT, v STRING) DUPLICATE KEY(k) \
         DISTRIBUTED BY HASH(k) BUCKETS 4",
    )
    .await;

    const WRITERS: i64 = 4;
    const ROWS: i64 = 20;
    let mut loaded = 0u64;
    let mut round = 0i64;
    while rowsets(conn, "work.t").await < target {
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let opts = daemon.opts();
            writers.push(tokio::spawn(async move {
                let mut conn = mysql_async::Conn::new(opts).await.unwrap();
                for s in 0..50i64 {
                    let values: Vec<String> = (0..ROWS)
                        .map(|r| {
                            let k = -1 - (((round * WRITERS + w) * 50 + s) * ROWS + r);
                            format!("({k}, -1, 'prefill{k}')")
                        })
                        .collect();
                    conn.query_drop(format!("INSERT INTO work.t VALUES {}", values.join(", ")))
                        .await
                        .unwrap();
                }
                50 * ROWS as u64
            }));
        }
        for w in writers {
            loaded += w.await.unwrap();
        }
        round += 1;
    }
    loaded
}

/// Samples how many descriptors a process has open, every few milliseconds, on a thread.
struct FdSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl FdSampler {
    fn start(pid: u32) -> FdSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let dir = format!("/proc/{pid}/fd");
            let mut peak = 0u64;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    peak = peak.max(entries.count() as u64);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        });
        FdSampler { stop, thread }
    }

    /// The most descriptors seen open at once.
    fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// A daemon whose process may open 300 files keeps the smallest budget (64 files; the
/// connections get what the reserve leaves): one query over 1,000 rowsets holds a few files at
/// a time, and 40 clients querying and loading beside a backup wait for files instead of
/// failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_low_open_files_limit_makes_statements_wait_not_fail() {
    const LIMIT: u64 = 300;
    let mut daemon = TestDaemon::start_with_open_files_limit(LIMIT);
    let mut conn = daemon.conn().await;
    let prefilled = prefill(&daemon, &mut conn, 1000).await;
    drop(conn);

    // One query alone, in a fresh process: the files it held at once.
    daemon.stop();
    daemon.start_again();
    let mut conn = daemon.conn().await;
    let budget = |status: &[(String, String)], name: &str| -> u64 {
        status
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.parse().unwrap())
            .unwrap()
    };
    let status: Vec<(String, String)> = conn.query("SHOW GLOBAL STATUS").await.unwrap();
    assert_eq!(budget(&status, "Open_files_budget"), 64, "{status:?}");
    assert_eq!(count(&mut conn, "work.t").await, prefilled);
    let status: Vec<(String, String)> = conn.query("SHOW GLOBAL STATUS").await.unwrap();
    let one_query = budget(&status, "Max_used_open_files");
    assert!(
        (1..=4).contains(&one_query),
        "a query over 1,000 rowsets held {one_query} files at once"
    );

    scratch_repo(&daemon, &mut conn, "repo").await;
    let sampler = FdSampler::start(daemon.pid());
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut clients = Vec::new();
    for c in 0..40usize {
        let opts = daemon.opts();
        clients.push(tokio::spawn(async move {
            let mut conn = mysql_async::Conn::new(opts).await.unwrap();
            let mut acked = 0u64;
            let mut s = 0i64;
            while Instant::now() < deadline {
                let sql = if c % 4 == 0 {
                    format!(
                        "INSERT INTO work.t VALUES ({}, {c}, 'c{c}-s{s}'), ({}, {c}, 'x')",
                        ((c as i64) << 32) | (2 * s),
                        ((c as i64) << 32) | (2 * s + 1)
                    )
                } else {
                    "SELECT client, count(*) FROM work.t GROUP BY client".to_string()
                };
                conn.query_drop(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("client {c}: {sql:.60}: {e}"));
                if c % 4 == 0 {
                    acked += 2;
                }
                s += 1;
            }
            acked
        }));
    }
    let ts = backup(&mut conn, "work", "beside", "repo", "").await;
    let mut acked = 0;
    for client in clients {
        acked += client.await.unwrap();
    }
    let peak_fds = sampler.stop();
    assert_eq!(count(&mut conn, "work.t").await, prefilled + acked);
    let status: Vec<(String, String)> = conn.query("SHOW GLOBAL STATUS").await.unwrap();
    println!(
        "low limit: one query held {one_query} files; 40 clients beside backup {ts}: \
         descriptors peaked at {peak_fds} of {LIMIT} (sampled); budget used at most {} of 64, \
         {} waits",
        budget(&status, "Max_used_open_files"),
        budget(&status, "Open_files_waits")
    );
    assert!(budget(&status, "Max_used_open_files") <= 64);
    assert!(budget(&status, "Open_files_waits") > 0, "{status:?}");
    assert!(peak_fds < LIMIT);
}
