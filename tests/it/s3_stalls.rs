//! Storage faults beyond tests/it/s3_faults.rs, through the fault proxy in front of s3s-fs:
//! stalls longer than the S3 client's read timeout during a RESTORE (a few, then for good) and
//! `500 InternalError` answers during BACKUP and RESTORE (a few, then for good). A job either
//! finishes `[OK]` with an exact copy, or ends CANCELLED naming the cause within a bounded
//! time, with nothing half-done: no COMMIT for an incomplete snapshot, no partly restored
//! table, no staged file left. Debug builds shorten the read timeout to 1 s with
//! `BACKSTOP_TEST_S3_READ_TIMEOUT_MS` (30 s in production).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::time::{Duration, Instant};

use common::TestDaemon;
use common::backup::{
    Named, assert_no_orphans, checksum, commit_files, load_sample, table_names, wait_done,
};
use common::proxy::{Fault, FaultProxy, Match};
use common::s3::S3sFsServer;
use common::{exec, rows};
use mysql_async::Conn;

const BUCKET: &str = "stalls";

struct Rig {
    s3: S3sFsServer,
    proxy: FaultProxy,
    daemon: TestDaemon,
}

async fn rig() -> (Rig, Conn) {
    let s3 = S3sFsServer::start();
    s3.create_bucket(BUCKET);
    let proxy = FaultProxy::start(s3.endpoint().trim_start_matches("http://"));
    let daemon = TestDaemon::start_with(&[], &[("BACKSTOP_TEST_S3_READ_TIMEOUT_MS", "1000")]);
    let mut conn = daemon.conn().await;
    load_sample(&mut conn, "shop").await;
    let key = s3.key();
    exec(
        &mut conn,
        &format!(
            "CREATE REPOSITORY repo ON LOCATION \"s3a://{BUCKET}/repo\" PROPERTIES (\
             \"aws.s3.access_key\" = \"{}\", \"aws.s3.secret_key\" = \"{}\", \
             \"aws.s3.endpoint\" = \"{}\", \"aws.s3.enable_path_style_access\" = \"true\")",
            key.access_key,
            key.secret_key,
            proxy.endpoint()
        ),
    )
    .await;
    (Rig { s3, proxy, daemon }, conn)
}

/// Runs `sql` (a BACKUP or RESTORE) and waits for its job; returns the row and the time taken.
async fn run_job(conn: &mut Conn, sql: &str, kind: &str, db: &str) -> (Named, Duration) {
    let start = Instant::now();
    exec(conn, sql).await;
    let r = wait_done(conn, kind, db).await;
    (r, start.elapsed())
}

fn restore_copy(ts: &str) -> String {
    format!(
        "RESTORE SNAPSHOT shop.snap FROM repo ON (sr_member AS copy) \
         PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
    )
}

async fn snapshot_ts(conn: &mut Conn) -> String {
    rows(conn, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'snap'").await[0][1]
        .clone()
        .unwrap()
}

/// A cancelled restore left no table and no file behind, and the source is as it was.
async fn nothing_restored(rig: &Rig, conn: &mut Conn, sum: &str, ctx: &str) {
    assert!(
        !table_names(conn, "shop")
            .await
            .contains(&"copy".to_string()),
        "{ctx}: no partial restore"
    );
    assert_eq!(checksum(conn, "shop.sr_member").await, sum, "{ctx}");
    assert_no_orphans(&rig.daemon, conn, ctx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_through_stalls_longer_than_the_read_timeout() {
    let (rig, mut conn) = rig().await;
    let sum = checksum(&mut conn, "shop.sr_member").await;
    let (b, _) = run_job(
        &mut conn,
        "BACKUP SNAPSHOT shop.snap TO repo",
        "BACKUP",
        "shop",
    )
    .await;
    assert_eq!(b.get("Status"), "[OK]", "{b:?}");
    let ts = snapshot_ts(&mut conn).await;

    // Three object downloads stall for 3 s, three times the read timeout: the client gives up
    // on each, retries, and the restore finishes exact.
    rig.proxy.set_fault_when(
        Fault::Stall {
            duration: Duration::from_secs(3),
        },
        Match::any()
            .method("GET")
            .path_contains("/objects/")
            .times(3),
    );
    let (r, took) = run_job(&mut conn, &restore_copy(&ts), "RESTORE", "shop").await;
    println!(
        "s3 stalls: 3 stalls of 3 s (read timeout 1 s): RESTORE {} {} in {took:.1?}; TaskErrMsg {}",
        r.get("State"),
        r.get("Status"),
        r.get("TaskErrMsg")
    );
    assert_eq!(r.get("Status"), "[OK]", "{r:?}");
    assert!(r.get("TaskErrMsg").contains("retries: "), "{r:?}");
    assert_eq!(checksum(&mut conn, "shop.copy").await, sum);
    exec(&mut conn, "DROP TABLE shop.copy").await;

    // Every object download stalls for a minute: each attempt times out, the retries run out,
    // and the job ends CANCELLED naming the timeout, long before the stall would end.
    rig.proxy.set_fault_when(
        Fault::Stall {
            duration: Duration::from_secs(60),
        },
        Match::any().method("GET").path_contains("/objects/"),
    );
    let (r, took) = run_job(&mut conn, &restore_copy(&ts), "RESTORE", "shop").await;
    println!(
        "s3 stalls: every GET stalled 60 s: RESTORE {} in {took:.1?}: {}",
        r.get("State"),
        r.get("Status")
    );
    assert_eq!(r.get("State"), "CANCELLED", "{r:?}");
    let status = r.get("Status").to_ascii_lowercase();
    assert!(
        status.contains("timeout") || status.contains("timed out"),
        "the cause is named: {r:?}"
    );
    assert!(took < Duration::from_secs(30), "bounded: {took:?}");
    nothing_restored(&rig, &mut conn, &sum, "after the stalled restore").await;
    rig.proxy.set_fault(Fault::None);
    let _ = &rig.s3;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_are_retried_then_cancel_with_the_cause() {
    let (rig, mut conn) = rig().await;
    let sum = checksum(&mut conn, "shop.sr_member").await;
    let root = rig.s3.data_dir().join(BUCKET).join("repo").join("repo");

    // A few 500s on object uploads: retried, the backup finishes.
    rig.proxy.set_fault_when(
        Fault::Status500 { count: 4 },
        Match::any().method("PUT").path_contains("/objects/"),
    );
    let (b, took) = run_job(
        &mut conn,
        "BACKUP SNAPSHOT shop.snap TO repo",
        "BACKUP",
        "shop",
    )
    .await;
    println!(
        "s3 500s: 4 x 500 on PUT: BACKUP {} {} in {took:.1?}",
        b.get("State"),
        b.get("Status")
    );
    assert_eq!(b.get("Status"), "[OK]", "{b:?}");
    let ts = snapshot_ts(&mut conn).await;

    // A few 500s on downloads: retried, the restore is exact.
    rig.proxy.set_fault_when(
        Fault::Status500 { count: 4 },
        Match::any().method("GET").path_contains("/objects/"),
    );
    let (r, took) = run_job(&mut conn, &restore_copy(&ts), "RESTORE", "shop").await;
    println!(
        "s3 500s: 4 x 500 on GET: RESTORE {} {} in {took:.1?}",
        r.get("State"),
        r.get("Status")
    );
    assert_eq!(r.get("Status"), "[OK]", "{r:?}");
    assert_eq!(checksum(&mut conn, "shop.copy").await, sum);
    exec(&mut conn, "DROP TABLE shop.copy").await;

    // 500 for good on downloads: CANCELLED, the cause named, nothing restored.
    rig.proxy.set_fault_when(
        Fault::Status500 { count: u32::MAX },
        Match::any().method("GET").path_contains("/objects/"),
    );
    let (r, took) = run_job(&mut conn, &restore_copy(&ts), "RESTORE", "shop").await;
    println!(
        "s3 500s: 500 for good on GET: RESTORE {} in {took:.1?}: {}",
        r.get("State"),
        r.get("Status")
    );
    assert_eq!(r.get("State"), "CANCELLED", "{r:?}");
    assert!(
        r.get("Status").contains("500") || r.get("Status").contains("InternalError"),
        "the cause is named: {r:?}"
    );
    nothing_restored(&rig, &mut conn, &sum, "after the failed restore").await;

    // 500 for good on the COMMIT upload: the backup is CANCELLED and writes no COMMIT.
    rig.proxy.set_fault_when(
        Fault::Status500 { count: u32::MAX },
        Match::any().method("PUT").path_contains("/COMMIT"),
    );
    let commits_before = commit_files(&root).len();
    exec(
        &mut conn,
        "INSERT INTO shop.sr_member VALUES (77, 'new', 1, '2022-03-13')",
    )
    .await;
    let (b, took) = run_job(
        &mut conn,
        "BACKUP SNAPSHOT shop.snap2 TO repo",
        "BACKUP",
        "shop",
    )
    .await;
    println!(
        "s3 500s: 500 for good on the COMMIT PUT: BACKUP {} in {took:.1?}: {}",
        b.get("State"),
        b.get("Status")
    );
    assert_eq!(b.get("State"), "CANCELLED", "{b:?}");
    assert_eq!(
        commit_files(&root).len(),
        commits_before,
        "no COMMIT written"
    );
    rig.proxy.set_fault(Fault::None);
    let shown = rows(&mut conn, "SHOW SNAPSHOT ON repo").await;
    assert!(
        shown.iter().all(|r| r[0].as_deref() != Some("snap2")),
        "the cancelled snapshot is not listed: {shown:?}"
    );
}
