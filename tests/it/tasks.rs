//! Scheduled tasks (`SUBMIT TASK`): backups on an `EVERY` or cron schedule, catch-up once after a
//! restart, `keep_last` retention with every kept snapshot restorable, the busy-database rules,
//! failure then retries with backoff, SUSPEND/RESUME/DROP, two servers sharing a repository, and
//! the alerting metrics scraped from `--metrics-listen`.
//!
//! Time is the test's: each daemon reads `BACKSTOP_TEST_CLOCK_FILE` (debug builds), and a test
//! moves days ahead by writing it. The loop looks at the clock every second, so a test waits
//! (polling) for the run a clock change makes due, never for a schedule's interval.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;
use crate::operations::{http_get, metrics_addr, sample_value};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mysql_async::Conn;

use common::{TestDaemon, exec, rows, server_err};

const DEADLINE: Duration = Duration::from_secs(60);
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// 2027-01-01 00:00:00 UTC.
const JAN_1_2027: i64 = 1_798_761_600_000;

/// A clock file a daemon reads its time from.
struct Clock(PathBuf);

impl Clock {
    fn new(dir: &Path, ms: i64) -> Clock {
        std::fs::create_dir_all(dir).unwrap();
        let clock = Clock(dir.join("clock"));
        clock.set(ms);
        clock
    }

    fn set(&self, ms: i64) {
        std::fs::write(&self.0, ms.to_string()).unwrap();
    }

    fn env(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("backstop-tasks-")
        .tempdir()
        .unwrap()
}

/// A daemon on `clock`, with metrics served and `extra_env`.
fn daemon(clock: &Clock, extra_env: &[(&str, &str)]) -> TestDaemon {
    let clock_env = clock.env();
    let mut env = vec![("BACKSTOP_TEST_CLOCK_FILE", clock_env.as_str())];
    env.extend_from_slice(extra_env);
    TestDaemon::start_with(
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--snapshot-expiry-interval",
            "1",
        ],
        &env,
    )
}

/// Database `shop` with table `t` holding `rows` rows, and repository `r` at `repo`.
async fn setup(c: &mut Conn, repo: &Path, rows: i64) {
    std::fs::create_dir_all(repo).unwrap();
    exec(
        c,
        &format!(
            "CREATE REPOSITORY r ON LOCATION \"file://{}\"",
            repo.display()
        ),
    )
    .await;
    exec(c, "CREATE DATABASE shop").await;
    exec(
        c,
        "CREATE TABLE shop.t (id INT, v INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2",
    )
    .await;
    add_rows(c, 0, rows).await;
}

async fn add_rows(c: &mut Conn, from: i64, n: i64) {
    let values: Vec<String> = (from..from + n).map(|i| format!("({i}, {i})")).collect();
    exec(
        c,
        &format!("INSERT INTO shop.t VALUES {}", values.join(", ")),
    )
    .await;
}

/// The runs of `task`, oldest first: (state, attempt, error message, extra message).
async fn runs(c: &mut Conn, task: &str) -> Vec<(String, i64, String, String)> {
    rows(
        c,
        &format!(
            "SELECT state, attempt, error_message, extra_message FROM information_schema.task_runs \
             WHERE task_name = '{task}' ORDER BY CAST(query_id AS BIGINT)"
        ),
    )
    .await
    .into_iter()
    .map(|r| {
        (
            r[0].clone().unwrap(),
            r[1].as_deref().unwrap().parse().unwrap(),
            r[2].clone().unwrap_or_default(),
            r[3].clone().unwrap_or_default(),
        )
    })
    .collect()
}

/// Waits until `task` has `n` runs in a final state; returns its runs.
async fn wait_runs(c: &mut Conn, task: &str, n: usize) -> Vec<(String, i64, String, String)> {
    let start = Instant::now();
    loop {
        let all = runs(c, task).await;
        let done = all
            .iter()
            .filter(|r| ["SUCCESS", "FAILED", "SKIPPED"].contains(&r.0.as_str()))
            .count();
        if done >= n {
            return all;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "task {task} did not end {n} runs within {DEADLINE:?}: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One column of `task`'s row in information_schema.tasks.
async fn task_cell(c: &mut Conn, task: &str, column: &str) -> Option<String> {
    rows(
        c,
        &format!("SELECT {column} FROM information_schema.tasks WHERE task_name = '{task}'"),
    )
    .await
    .pop()
    .and_then(|mut r| r.pop().flatten())
}

/// The timestamps of snapshot `label` in repository `r`, oldest first.
async fn snapshots(c: &mut Conn, label: &str) -> Vec<String> {
    snapshots_in(c, "r", label).await
}

/// The timestamps of snapshot `label` in repository `repo`, oldest first (SHOW SNAPSHOT lists
/// a label's timestamps in one cell, a line each).
async fn snapshots_in(c: &mut Conn, repo: &str, label: &str) -> Vec<String> {
    let mut all: Vec<String> = rows(
        c,
        &format!("SHOW SNAPSHOT ON {repo} WHERE SNAPSHOT = '{label}'"),
    )
    .await
    .into_iter()
    .flat_map(|r| {
        r[1].clone()
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    })
    .collect();
    all.sort();
    all
}

/// Restores snapshot `label` at `timestamp` into database `into` and counts its rows.
async fn restored_rows(c: &mut Conn, label: &str, timestamp: &str, into: &str) -> i64 {
    exec(
        c,
        &format!(
            "RESTORE SNAPSHOT {label} FROM r DATABASE shop AS {into} PROPERTIES \
             (\"backup_timestamp\" = \"{timestamp}\", \"sync\" = \"true\")"
        ),
    )
    .await;
    rows(c, &format!("SELECT COUNT(*) FROM {into}.t")).await[0][0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

/// Waits out `d` of real time (only where the test proves that nothing happens).
async fn pause(d: Duration) {
    tokio::time::sleep(d).await;
}

/// A nightly backup on `EVERY 1 DAY` from 03:00: nothing before its slot, one run per slot as
/// the clock moves, `keep_last` = 2 keeps the two newest (each restores exactly), missed slots
/// while the daemon was down give one run after the restart, and the metrics say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_backup_runs_on_its_slots_catches_up_once_and_keeps_the_last_two() {
    let dir = scratch();
    let clock = Clock::new(dir.path(), JAN_1_2027);
    let mut d = daemon(&clock, &[]);
    let mut c = d.conn().await;
    setup(&mut c, &dir.path().join("repo"), 10).await;
    let submitted = rows(
        &mut c,
        "SUBMIT TASK nightly SCHEDULE START('2027-01-01 03:00:00') EVERY(INTERVAL 1 DAY) \
         PROPERTIES ('keep_last' = '2') AS BACKUP SNAPSHOT shop.nightly TO r",
    )
    .await;
    assert_eq!(
        submitted,
        [[Some("nightly".to_string()), Some("SUBMITTED".to_string())]]
    );
    assert_eq!(
        rows(
            &mut c,
            "SELECT schedule, database, definition, state, next_run_time, creator \
             FROM information_schema.tasks"
        )
        .await,
        [[
            Some("PERIODICAL START(2027-01-01 03:00:00) EVERY(1 DAYS)".to_string()),
            Some("shop".to_string()),
            Some("BACKUP SNAPSHOT shop.nightly TO r".to_string()),
            Some("ACTIVE".to_string()),
            Some("2027-01-01 03:00:00".to_string()),
            Some("root@%".to_string()),
        ]]
    );
    // Before 03:00 nothing runs.
    pause(Duration::from_secs(2)).await;
    assert!(runs(&mut c, "nightly").await.is_empty());

    // Three nights, ten more rows after each.
    for night in 0..3i64 {
        clock.set(JAN_1_2027 + night * DAY_MS + 3 * HOUR_MS + 5_000);
        let all = wait_runs(&mut c, "nightly", night as usize + 1).await;
        assert_eq!(all.len(), night as usize + 1, "{all:?}");
        let last = all.last().unwrap();
        assert_eq!((last.0.as_str(), last.1), ("SUCCESS", 0), "{all:?}");
        assert!(last.3.contains("BACKUP job"), "{all:?}");
        add_rows(&mut c, 100 * (night + 1), 10).await;
    }
    let last = runs(&mut c, "nightly").await.pop().unwrap();
    assert!(last.3.contains("keep_last 2: dropped 1"), "{last:?}");
    let kept = snapshots(&mut c, "nightly").await;
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(
        task_cell(&mut c, "nightly", "next_run_time")
            .await
            .as_deref(),
        Some("2027-01-04 03:00:00")
    );

    // The daemon is down over nights 4, 5 and 6; at its start on day 6 at 10:00 it runs once.
    d.stop();
    clock.set(JAN_1_2027 + 5 * DAY_MS + 10 * HOUR_MS);
    d.start_again();
    let mut c = d.conn().await;
    let all = wait_runs(&mut c, "nightly", 4).await;
    pause(Duration::from_secs(3)).await;
    let all_after = runs(&mut c, "nightly").await;
    assert_eq!(
        all_after.len(),
        4,
        "caught up once, not per missed slot: {all:?}"
    );
    assert_eq!(
        task_cell(&mut c, "nightly", "next_run_time")
            .await
            .as_deref(),
        Some("2027-01-07 03:00:00")
    );
    // Two kept, the newest two, each restoring exactly what the table held when it was
    // taken: night 3's 30 rows, and the catch-up's 40.
    let kept = snapshots(&mut c, "nightly").await;
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(restored_rows(&mut c, "nightly", &kept[0], "k0").await, 30);
    assert_eq!(restored_rows(&mut c, "nightly", &kept[1], "k1").await, 40);

    // The alerting metrics: a success now, no failures, the next run tomorrow at 03:00.
    let (_, body) = http_get(&metrics_addr(&d), "/metrics");
    let series = "{task=\"nightly\",database=\"shop\"}";
    assert_eq!(
        sample_value(
            &body,
            &format!("backstop_task_last_success_timestamp_seconds{series}")
        ),
        ((JAN_1_2027 + 5 * DAY_MS + 10 * HOUR_MS) / 1000) as f64
    );
    assert_eq!(
        sample_value(
            &body,
            &format!("backstop_task_consecutive_failures{series}")
        ),
        0.0
    );
    assert_eq!(
        sample_value(
            &body,
            &format!("backstop_task_next_run_timestamp_seconds{series}")
        ),
        ((JAN_1_2027 + 6 * DAY_MS + 3 * HOUR_MS) / 1000) as f64
    );
    assert!(
        sample_value(
            &body,
            "backstop_last_backup_timestamp_seconds{database=\"shop\"}"
        ) > 0.0
    );
    // The catch-up's snapshot was taken seconds ago (snapshots are stamped by the system
    // clock, not the test's).
    let age = sample_value(
        &body,
        "backstop_newest_snapshot_age_seconds{database=\"shop\"}",
    );
    assert!((0.0..120.0).contains(&age), "{age}");
}

/// A cron schedule in a time zone fires at the zone's wall-clock time (02:30 in Berlin is
/// 01:30 UTC in winter); SUSPEND stops it, RESUME schedules the next slot after now (no
/// catch-up of what passed meanwhile), DROP forgets the task and its runs. INSERT tasks run as
/// the creator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_task_in_a_time_zone_suspends_resumes_and_drops() {
    let dir = scratch();
    let clock = Clock::new(dir.path(), JAN_1_2027);
    let d = daemon(&clock, &[]);
    let mut c = d.conn().await;
    setup(&mut c, &dir.path().join("repo"), 3).await;
    exec(&mut c, "CREATE TABLE shop.copies (id INT, v INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1").await;
    exec(&mut c, "USE shop").await;
    exec(
        &mut c,
        "SUBMIT TASK copy SCHEDULE CRON '30 2 * * *' TIME ZONE 'Europe/Berlin' \
         AS INSERT INTO copies SELECT * FROM t",
    )
    .await;
    assert_eq!(
        task_cell(&mut c, "copy", "schedule").await.as_deref(),
        Some("CRON '30 2 * * *' TIME ZONE 'Europe/Berlin'")
    );
    assert_eq!(
        task_cell(&mut c, "copy", "next_run_time").await.as_deref(),
        Some("2027-01-01 01:30:00")
    );
    clock.set(JAN_1_2027 + HOUR_MS + 31 * 60_000);
    let all = wait_runs(&mut c, "copy", 1).await;
    assert_eq!(all[0].0, "SUCCESS", "{all:?}");
    assert_eq!(
        rows(&mut c, "SELECT COUNT(*) FROM copies").await,
        [[Some("3".to_string())]]
    );
    assert_eq!(
        task_cell(&mut c, "copy", "next_run_time").await.as_deref(),
        Some("2027-01-02 01:30:00")
    );

    exec(&mut c, "ALTER TASK copy SUSPEND").await;
    assert_eq!(
        task_cell(&mut c, "copy", "state").await.as_deref(),
        Some("PAUSE")
    );
    clock.set(JAN_1_2027 + 3 * DAY_MS);
    pause(Duration::from_secs(2)).await;
    assert_eq!(
        runs(&mut c, "copy").await.len(),
        1,
        "a suspended task does not run"
    );
    exec(&mut c, "ALTER TASK copy RESUME").await;
    assert_eq!(
        task_cell(&mut c, "copy", "state").await.as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(
        task_cell(&mut c, "copy", "next_run_time").await.as_deref(),
        Some("2027-01-04 01:30:00")
    );
    pause(Duration::from_secs(2)).await;
    assert_eq!(
        runs(&mut c, "copy").await.len(),
        1,
        "RESUME does not catch up"
    );

    // Bad ALTERs and properties; SET merges a checked property.
    assert_eq!(
        server_err(&mut c, "ALTER TASK copy SET ('keep_last' = '3')")
            .await
            .0,
        5064
    );
    exec(&mut c, "ALTER TASK copy SET ('retry_count' = '1')").await;
    assert_eq!(
        task_cell(&mut c, "copy", "properties").await.as_deref(),
        Some("(\"retry_count\" = \"1\")")
    );
    assert_eq!(server_err(&mut c, "ALTER TASK nope SUSPEND").await.0, 5064);
    exec(&mut c, "ALTER TASK IF EXISTS nope SUSPEND").await;

    exec(&mut c, "DROP TASK copy").await;
    assert!(
        rows(&mut c, "SELECT * FROM information_schema.tasks")
            .await
            .is_empty()
    );
    assert!(runs(&mut c, "copy").await.is_empty());
    assert_eq!(server_err(&mut c, "DROP TASK copy").await.0, 5064);
    exec(&mut c, "DROP TASK IF EXISTS copy").await;
}

/// A BACKUP task that finds its database busy: `on_busy` = `skip` records a SKIPPED run,
/// `wait` one PENDING run that starts when the database is free. A failing run is retried
/// with a doubling backoff and succeeds once its cause is gone; the failure count and the
/// last error show meanwhile, in information_schema and the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_database_skips_or_waits_and_failed_runs_are_retried() {
    let dir = scratch();
    let clock = Clock::new(dir.path(), JAN_1_2027);
    let points = dir.path().join("failpoints");
    std::fs::create_dir_all(&points).unwrap();
    let points_env = points.to_string_lossy().into_owned();
    let d = daemon(
        &clock,
        &[
            ("BACKSTOP_FAILPOINTS", "backup.pending=pause"),
            ("BACKSTOP_FAILPOINT_DIR", points_env.as_str()),
        ],
    );
    let mut c = d.conn().await;
    setup(&mut c, &dir.path().join("repo"), 5).await;
    exec(&mut c, "BACKUP SNAPSHOT shop.manual TO r").await;
    let reached = points.join("backup.pending.reached");
    let start = Instant::now();
    while !reached.exists() {
        assert!(start.elapsed() < DEADLINE, "the manual backup never paused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    exec(&mut c, "USE shop").await;
    exec(
        &mut c,
        "SUBMIT TASK skipper SCHEDULE EVERY(INTERVAL 1 HOUR) PROPERTIES ('on_busy' = 'skip') \
         AS BACKUP SNAPSHOT skipped TO r",
    )
    .await;
    exec(
        &mut c,
        "SUBMIT TASK waiter SCHEDULE EVERY(INTERVAL 1 HOUR) AS BACKUP SNAPSHOT waited TO r",
    )
    .await;
    let skipped = wait_runs(&mut c, "skipper", 1).await;
    assert_eq!(skipped[0].0, "SKIPPED", "{skipped:?}");
    assert!(skipped[0].3.contains("is running job"), "{skipped:?}");
    let start = Instant::now();
    loop {
        let waiting = runs(&mut c, "waiter").await;
        if waiting.len() == 1 && waiting[0].0 == "PENDING" {
            assert!(
                waiting[0].3.contains("waiting (on_busy = wait)"),
                "{waiting:?}"
            );
            break;
        }
        assert!(start.elapsed() < DEADLINE, "no PENDING run: {waiting:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A waiting run whose task turns to on_busy = skip ends SKIPPED, once.
    exec(
        &mut c,
        "SUBMIT TASK switcher SCHEDULE EVERY(INTERVAL 1 HOUR) AS BACKUP SNAPSHOT switched TO r",
    )
    .await;
    let start = Instant::now();
    while runs(&mut c, "switcher").await.first().map(|r| r.0.as_str()) != Some("PENDING") {
        assert!(start.elapsed() < DEADLINE, "switcher does not wait");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    exec(&mut c, "ALTER TASK switcher SET ('on_busy' = 'skip')").await;
    let switched = wait_runs(&mut c, "switcher", 1).await;
    assert_eq!(switched[0].0, "SKIPPED", "{switched:?}");
    // The next slot passes while one waits: still one run each (the switcher skips its slot).
    clock.set(JAN_1_2027 + HOUR_MS + 1_000);
    pause(Duration::from_secs(2)).await;
    assert_eq!(runs(&mut c, "waiter").await.len(), 1);
    assert_eq!(runs(&mut c, "switcher").await.len(), 2);
    exec(&mut c, "DROP TASK switcher").await;
    // The database frees up: the waiting run starts and succeeds.
    std::fs::write(points.join("backup.pending.resume"), b"").unwrap();
    let waited = wait_runs(&mut c, "waiter", 1).await;
    assert_eq!(waited.len(), 1, "{waited:?}");
    assert_eq!(waited[0].0, "SUCCESS", "{waited:?}");
    exec(&mut c, "DROP TASK skipper").await;
    exec(&mut c, "DROP TASK waiter").await;

    // A backup ON a table that does not exist yet fails; retries come after 10 s, then 20 s.
    let now = JAN_1_2027 + 2 * HOUR_MS;
    clock.set(now);
    exec(
        &mut c,
        "SUBMIT TASK orders SCHEDULE EVERY(INTERVAL 1 DAY) \
         PROPERTIES ('retry_count' = '2', 'retry_interval' = '10') \
         AS BACKUP SNAPSHOT orders TO r ON (orders)",
    )
    .await;
    let first = wait_runs(&mut c, "orders", 1).await;
    assert_eq!(
        (first[0].0.as_str(), first[0].1),
        ("FAILED", 0),
        "{first:?}"
    );
    assert!(first[0].2.contains("orders"), "{first:?}");
    assert_eq!(
        task_cell(&mut c, "orders", "consecutive_failures")
            .await
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        task_cell(&mut c, "orders", "next_run_time")
            .await
            .as_deref(),
        Some("2027-01-01 02:00:10")
    );
    clock.set(now + 10_000);
    let second = wait_runs(&mut c, "orders", 2).await;
    assert_eq!(
        (second[1].0.as_str(), second[1].1),
        ("FAILED", 1),
        "{second:?}"
    );
    assert_eq!(
        task_cell(&mut c, "orders", "next_run_time")
            .await
            .as_deref(),
        Some("2027-01-01 02:00:30")
    );
    let (_, body) = http_get(&metrics_addr(&d), "/metrics");
    assert_eq!(
        sample_value(
            &body,
            "backstop_task_consecutive_failures{task=\"orders\",database=\"shop\"}"
        ),
        2.0
    );
    assert!(
        task_cell(&mut c, "orders", "last_error")
            .await
            .is_some_and(|e| e.contains("orders"))
    );
    exec(
        &mut c,
        "CREATE TABLE orders (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1",
    )
    .await;
    exec(&mut c, "INSERT INTO orders VALUES (1), (2)").await;
    clock.set(now + 30_000);
    let third = wait_runs(&mut c, "orders", 3).await;
    assert_eq!(
        (third[2].0.as_str(), third[2].1),
        ("SUCCESS", 2),
        "{third:?}"
    );
    assert_eq!(
        task_cell(&mut c, "orders", "consecutive_failures")
            .await
            .as_deref(),
        Some("0")
    );
    assert_eq!(task_cell(&mut c, "orders", "last_error").await, None);
    assert_eq!(
        task_cell(&mut c, "orders", "next_run_time")
            .await
            .as_deref(),
        Some("2027-01-02 02:00:00")
    );
}

/// Two servers back up into one repository under the same label, each on its own schedule
/// with `keep_last` = 1: each keeps its own newest snapshot and never drops the other's; both
/// restore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_sharing_a_repository_keep_their_own_snapshots() {
    let dir = scratch();
    let repo = dir.path().join("repo");
    let clocks = [
        Clock::new(&dir.path().join("a"), JAN_1_2027),
        Clock::new(&dir.path().join("b"), JAN_1_2027),
    ];
    let daemons = [daemon(&clocks[0], &[]), daemon(&clocks[1], &[])];
    let mut conns = Vec::new();
    for (i, d) in daemons.iter().enumerate() {
        let mut c = d.conn().await;
        setup(&mut c, &repo, 5 * (i as i64 + 1)).await;
        if i == 0 {
            // Another database's snapshot under the same label, which keep_last must not count.
            for sql in [
                "CREATE DATABASE other",
                "CREATE TABLE other.t (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1",
                "INSERT INTO other.t VALUES (1)",
                "BACKUP SNAPSHOT other.nightly TO r PROPERTIES (\"sync\" = \"true\")",
            ] {
                exec(&mut c, sql).await;
            }
        }
        exec(
            &mut c,
            "SUBMIT TASK nightly SCHEDULE START('2027-01-01 03:00:00') EVERY(INTERVAL 1 DAY) \
             PROPERTIES ('keep_last' = '1') AS BACKUP SNAPSHOT shop.nightly TO r",
        )
        .await;
        conns.push(c);
    }
    for night in 0..2i64 {
        for (i, c) in conns.iter_mut().enumerate() {
            clocks[i].set(JAN_1_2027 + night * DAY_MS + 3 * HOUR_MS + 1_000);
            let all = wait_runs(c, "nightly", night as usize + 1).await;
            assert_eq!(all.last().unwrap().0, "SUCCESS", "{all:?}");
        }
    }
    let kept = snapshots(&mut conns[0], "nightly").await;
    assert_eq!(kept.len(), 3, "one per server, and other's: {kept:?}");
    let mut counts = Vec::new();
    for (i, ts) in kept.iter().enumerate() {
        let db = rows(
            &mut conns[0],
            &format!("SHOW SNAPSHOT ON r WHERE SNAPSHOT = 'nightly' AND TIMESTAMP = '{ts}'"),
        )
        .await[0][2]
            .clone()
            .unwrap();
        if db == "other" {
            continue;
        }
        counts.push(restored_rows(&mut conns[0], "nightly", ts, &format!("r{i}")).await);
    }
    counts.sort();
    assert_eq!(counts, [5, 10]);
}

/// The BACKUP's own `ttl` prunes a schedule's old snapshots by the daemon's clock: a day's
/// snapshot with a 30-hour ttl is gone the next afternoon, the newer one stays and restores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_of_scheduled_backups_prunes_the_old_ones() {
    let dir = scratch();
    let clock = Clock::new(dir.path(), JAN_1_2027);
    let d = daemon(&clock, &[]);
    let mut c = d.conn().await;
    setup(&mut c, &dir.path().join("repo"), 4).await;
    exec(
        &mut c,
        "SUBMIT TASK daily SCHEDULE START('2027-01-01 03:00:00') EVERY(INTERVAL 1 DAY) \
         AS BACKUP SNAPSHOT shop.daily TO r PROPERTIES ('ttl' = '30 HOUR')",
    )
    .await;
    for night in 0..2i64 {
        clock.set(JAN_1_2027 + night * DAY_MS + 3 * HOUR_MS + 1_000);
        let all = wait_runs(&mut c, "daily", night as usize + 1).await;
        assert_eq!(all.last().unwrap().0, "SUCCESS", "{all:?}");
        add_rows(&mut c, 100, 1).await;
    }
    assert_eq!(snapshots(&mut c, "daily").await.len(), 2);
    // Jan 2, 10:00: the first (taken Jan 1, 03:00) expired at 09:00.
    clock.set(JAN_1_2027 + DAY_MS + 10 * HOUR_MS);
    let start = Instant::now();
    let kept = loop {
        let kept = snapshots(&mut c, "daily").await;
        if kept.len() == 1 {
            break kept;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the expired snapshot stays: {kept:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(restored_rows(&mut c, "daily", &kept[0], "k").await, 5);
}

async fn conn_as(d: &TestDaemon, user: &str, password: &str) -> Conn {
    Conn::new(
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(d.port())
            .user(Some(user))
            .pass(Some(password))
            .prefer_socket(false),
    )
    .await
    .unwrap()
}

/// Who may submit a BACKUP task (REPOSITORY and SELECT, as for BACKUP), as whom it runs (its
/// creator, with the privileges the creator has at each run: a revoked grant fails the run
/// with 5203), and who may change or drop it (its creator or an administrator).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_run_as_their_creator_and_only_the_creator_or_an_admin_changes_them() {
    let dir = scratch();
    let clock = Clock::new(dir.path(), JAN_1_2027);
    let d = daemon(&clock, &[]);
    let mut root = d.conn().await;
    setup(&mut root, &dir.path().join("repo"), 2).await;
    for sql in [
        "CREATE USER backer IDENTIFIED BY 'bk'",
        "GRANT REPOSITORY ON SYSTEM TO USER 'backer'@'%'",
        "GRANT SELECT ON shop.* TO 'backer'@'%'",
        "CREATE USER reader IDENTIFIED BY 'rd'",
        "GRANT SELECT ON shop.* TO 'reader'@'%'",
    ] {
        exec(&mut root, sql).await;
    }
    let mut reader = conn_as(&d, "reader", "rd").await;
    exec(&mut reader, "USE shop").await;
    let (code, _, message) = server_err(
        &mut reader,
        "SUBMIT TASK r1 SCHEDULE EVERY(INTERVAL 1 DAY) AS BACKUP SNAPSHOT s TO r",
    )
    .await;
    assert_eq!(code, 5203, "{message}");
    assert!(message.contains("REPOSITORY"), "{message}");

    let mut backer = conn_as(&d, "backer", "bk").await;
    exec(&mut backer, "USE shop").await;
    exec(
        &mut backer,
        "SUBMIT TASK b1 SCHEDULE EVERY(INTERVAL 1 DAY) PROPERTIES ('retry_count' = '0') \
         AS BACKUP SNAPSHOT s TO r",
    )
    .await;
    assert_eq!(
        task_cell(&mut root, "b1", "creator").await.as_deref(),
        Some("backer@%")
    );
    let first = wait_runs(&mut root, "b1", 1).await;
    assert_eq!(first[0].0, "SUCCESS", "{first:?}");

    // Others do not see it, and may not change it; an administrator may.
    assert!(
        rows(&mut reader, "SELECT * FROM information_schema.tasks")
            .await
            .is_empty()
    );
    assert!(
        rows(&mut reader, "SELECT * FROM information_schema.task_runs")
            .await
            .is_empty()
    );
    assert_eq!(
        rows(
            &mut backer,
            "SELECT task_name FROM information_schema.tasks"
        )
        .await,
        [[Some("b1".to_string())]]
    );
    let (code, _, message) = server_err(&mut reader, "DROP TASK b1").await;
    assert_eq!(code, 5203, "{message}");
    assert!(message.contains("backer@%"), "{message}");
    assert_eq!(
        server_err(&mut reader, "ALTER TASK b1 SUSPEND").await.0,
        5203
    );
    exec(&mut backer, "ALTER TASK b1 SUSPEND").await;
    exec(&mut root, "ALTER TASK b1 RESUME").await;

    // The creator loses SELECT: the next run fails as they would.
    exec(&mut root, "REVOKE SELECT ON shop.* FROM 'backer'@'%'").await;
    clock.set(JAN_1_2027 + DAY_MS + 1_000);
    let second = wait_runs(&mut root, "b1", 2).await;
    assert_eq!(second[1].0, "FAILED", "{second:?}");
    assert!(second[1].2.contains("Access denied"), "{second:?}");
    let code: Vec<Vec<Option<String>>> = rows(
        &mut root,
        "SELECT error_code FROM information_schema.task_runs WHERE task_name = 'b1' \
         AND state = 'FAILED'",
    )
    .await;
    assert_eq!(code, [[Some("5203".to_string())]]);
    // Dropping the creator suspends its tasks, saying why.
    exec(&mut root, "DROP USER backer").await;
    assert_eq!(
        task_cell(&mut root, "b1", "state").await.as_deref(),
        Some("PAUSE")
    );
    assert!(
        task_cell(&mut root, "b1", "last_error")
            .await
            .is_some_and(|e| e.contains("creator backer@% was dropped")),
    );
    exec(&mut root, "DROP TASK b1").await;
}

/// A daemon that dies during a run: at its next start the run is FAILED ("the daemon stopped
/// during the run") and retried after the backoff, as any failed run, and the retry succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_the_daemon_died_in_is_failed_and_retried() {
    let dir = scratch();
    let clock = Clock::new(dir.path(), JAN_1_2027);
    let mut d = daemon(
        &clock,
        &[("BACKSTOP_FAILPOINTS", "backup.snapshoting=crash")],
    );
    let mut c = d.conn().await;
    setup(&mut c, &dir.path().join("repo"), 3).await;
    exec(
        &mut c,
        "SUBMIT TASK n SCHEDULE EVERY(INTERVAL 1 DAY) PROPERTIES ('retry_interval' = '60') \
         AS BACKUP SNAPSHOT shop.n TO r",
    )
    .await;
    common::backup::wait_dead(&mut d).await;
    d.kill9();
    d.set_env("BACKSTOP_FAILPOINTS", None);
    d.start_again();
    let mut c = d.conn().await;
    let first = wait_runs(&mut c, "n", 1).await;
    assert_eq!(first[0].0, "FAILED", "{first:?}");
    assert!(first[0].2.contains("daemon stopped"), "{first:?}");
    assert_eq!(
        task_cell(&mut c, "n", "next_run_time").await.as_deref(),
        Some("2027-01-01 00:01:00")
    );
    clock.set(JAN_1_2027 + 60_000);
    let second = wait_runs(&mut c, "n", 2).await;
    assert_eq!(
        (second[1].0.as_str(), second[1].1),
        ("SUCCESS", 1),
        "{second:?}"
    );
    let kept = snapshots(&mut c, "n").await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(restored_rows(&mut c, "n", &kept[0], "back").await, 3);
}

/// DROP TASK during its run's BACKUP: the job is cancelled (CANCELLED with the reason, nothing
/// committed), the task and its runs are gone, and the database is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_task_cancels_its_running_backup() {
    let dir = scratch();
    let clock = Clock::new(dir.path(), JAN_1_2027);
    let d = daemon(
        &clock,
        &[("BACKSTOP_FAILPOINTS", "backup.snapshoting=pause")],
    );
    let mut c = d.conn().await;
    setup(&mut c, &dir.path().join("repo"), 3).await;
    exec(
        &mut c,
        "SUBMIT TASK held SCHEDULE EVERY(INTERVAL 1 DAY) PROPERTIES ('keep_last' = '1') \
         AS BACKUP SNAPSHOT shop.held TO r",
    )
    .await;
    common::backup::wait_paused(&d, "backup.snapshoting", 0).await;
    assert_eq!(runs(&mut c, "held").await[0].0, "RUNNING");
    exec(&mut c, "DROP TASK held").await;
    let start = Instant::now();
    let state = loop {
        let shown = rows(&mut c, "SHOW BACKUP FROM shop").await;
        let text = format!("{shown:?}");
        if text.contains("CANCELLED") {
            break text;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the backup was not cancelled: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        state.contains("task held was suspended or dropped"),
        "{state}"
    );
    assert!(
        rows(&mut c, "SELECT * FROM information_schema.task_runs")
            .await
            .is_empty()
    );
    assert!(snapshots(&mut c, "held").await.is_empty());
}

/// Statements a task cannot be, bad schedules and properties: clear errors, nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tasks_are_refused_with_clear_errors() {
    let dir = scratch();
    let clock = Clock::new(dir.path(), JAN_1_2027);
    let d = daemon(&clock, &[]);
    let mut c = d.conn().await;
    setup(&mut c, &dir.path().join("repo"), 1).await;
    assert_eq!(
        server_err(&mut c, "SUBMIT TASK x AS INSERT INTO shop.t VALUES (1, 1)").await,
        (1046, "3D000".into(), "No database selected".into())
    );
    exec(&mut c, "USE shop").await;
    for (sql, code, words) in [
        ("SUBMIT TASK x AS SELECT 1", 1235, "cannot be a task"),
        (
            "SUBMIT TASK x SCHEDULE EVERY(INTERVAL 5 SECOND) AS INSERT INTO t VALUES (1, 1)",
            5064,
            "at least 10 seconds",
        ),
        (
            "SUBMIT TASK x SCHEDULE CRON '0 25 * * *' AS INSERT INTO t VALUES (1, 1)",
            5064,
            "values run 0-23",
        ),
        (
            "SUBMIT TASK x SCHEDULE CRON '0 3 * * *' TIME ZONE 'Mars/Base' AS INSERT INTO t VALUES (1, 1)",
            5064,
            "Mars/Base",
        ),
        (
            "SUBMIT TASK x SCHEDULE CRON '0 0 30 2 *' AS INSERT INTO t VALUES (1, 1)",
            5064,
            "never fires",
        ),
        (
            "SUBMIT TASK x PROPERTIES ('keep_last' = '2') AS INSERT INTO t VALUES (1, 1)",
            5064,
            "BACKUP tasks only",
        ),
        (
            "SUBMIT TASK x PROPERTIES ('on_busy' = 'skip') AS INSERT INTO t VALUES (1, 1)",
            5064,
            "BACKUP tasks only",
        ),
        (
            "SUBMIT TASK x PROPERTIES ('on_busy' = 'maybe') AS BACKUP SNAPSHOT s TO r",
            5064,
            "'wait'",
        ),
        (
            "SUBMIT TASK x PROPERTIES ('session.query_timeout' = '5') AS BACKUP SNAPSHOT s TO r",
            1235,
            "session.query_timeout",
        ),
        (
            "SUBMIT TASK x PROPERTIES ('color' = 'red') AS BACKUP SNAPSHOT s TO r",
            5064,
            "Unknown task property color",
        ),
        (
            "SUBMIT TASK x AS BACKUP SNAPSHOT s TO nowhere",
            5064,
            "nowhere",
        ),
    ] {
        let (got, _, message) = server_err(&mut c, sql).await;
        assert_eq!(got, code, "{sql}: {message}");
        assert!(message.contains(words), "{sql}: {message}");
    }
    assert!(
        rows(&mut c, "SELECT * FROM information_schema.tasks")
            .await
            .is_empty()
    );
    exec(&mut c, "SUBMIT TASK x AS INSERT INTO t VALUES (7, 7)").await;
    let (code, _, message) =
        server_err(&mut c, "SUBMIT TASK x AS INSERT INTO t VALUES (7, 7)").await;
    assert_eq!(code, 5064, "{message}");
    assert!(message.contains("already exists"), "{message}");
    // A task without a schedule runs once, at once; so does a CREATE TABLE AS SELECT (which
    // leaves out the row the other task may be adding meanwhile).
    exec(
        &mut c,
        "SUBMIT TASK ctas AS CREATE TABLE t2 AS SELECT id * 2 AS id FROM t WHERE id <> 7",
    )
    .await;
    let made = wait_runs(&mut c, "ctas", 1).await;
    assert_eq!(made[0].0, "SUCCESS", "{made:?}");
    let all = wait_runs(&mut c, "x", 1).await;
    assert_eq!(all[0].0, "SUCCESS", "{all:?}");
    assert_eq!(
        task_cell(&mut c, "x", "schedule").await.as_deref(),
        Some("MANUAL")
    );
    assert_eq!(
        rows(&mut c, "SELECT COUNT(*) FROM t WHERE id = 7").await,
        [[Some("1".to_string())]]
    );
    assert_eq!(
        rows(&mut c, "SELECT COUNT(*) FROM t2").await,
        rows(&mut c, "SELECT COUNT(*) FROM t WHERE id <> 7").await
    );
}

/// `examples/nightly_backup.sql` through the `mysql` CLI: the task it submits fires at 03:00
/// Berlin time (02:00 UTC in winter) night after night, and keeps the 7 newest snapshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nightly_example_backs_up_every_night_and_keeps_seven() {
    common::require_tool("mysql");
    let dir = scratch();
    let clock = Clock::new(dir.path(), JAN_1_2027);
    let d = daemon(&clock, &[]);
    let mut c = d.conn().await;
    exec(&mut c, "CREATE DATABASE shop").await;
    exec(
        &mut c,
        "CREATE TABLE shop.t (id INT, v INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2",
    )
    .await;
    add_rows(&mut c, 0, 3).await;
    let repo = dir.path().join("nightly");
    std::fs::create_dir_all(&repo).unwrap();
    let sql = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/nightly_backup.sql"),
    )
    .unwrap();
    assert!(sql.contains("file:///tmp/backstop-nightly"));
    let sql = sql.replace(
        "file:///tmp/backstop-nightly",
        &format!("file://{}", repo.display()),
    );
    let out = common::run_with_deadline(&mut d.mysql_batch_command(), &sql, DEADLINE);
    assert!(out.status.success() && out.stderr.is_empty(), "{out}");
    assert!(
        out.stdout.contains(
            "shop_nightly\tCRON '0 3 * * *' TIME ZONE 'Europe/Berlin'\tACTIVE\t2027-01-01 02:00:00"
        ),
        "{out}"
    );
    for night in 0..8i64 {
        clock.set(JAN_1_2027 + night * DAY_MS + 2 * HOUR_MS + 1_000);
        let all = wait_runs(&mut c, "shop_nightly", night as usize + 1).await;
        assert_eq!(all.last().unwrap().0, "SUCCESS", "{all:?}");
        add_rows(&mut c, 10 * (night + 1), 1).await;
    }
    let kept = snapshots_in(&mut c, "nightly_repo", "shop_nightly").await;
    assert_eq!(kept.len(), 7, "{kept:?}");
}
