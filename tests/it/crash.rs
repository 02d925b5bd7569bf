//! Crashes during loads: at the `load.before_catalog_commit` failpoint and by SIGKILL at random
//! moments. After every restart each acknowledged load is complete, no load is partial, no
//! orphan file remains and CHECKSUM TABLE matches the committed content. And panics (bugs):
//! one fails its statement or its job, never the daemon.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::time::Duration;

use common::{TestDaemon, rows};
use mysql_async::prelude::Queryable;

const TABLE: &str = "CREATE TABLE d.t (k BIGINT NOT NULL, v STRING) DUPLICATE KEY(k) \
     PARTITION BY RANGE(k) (PARTITION a VALUES LESS THAN ('1000000'), \
     PARTITION b VALUES LESS THAN (MAXVALUE)) DISTRIBUTED BY HASH(k) BUCKETS 4";

/// `.parquet` and `.tmp` files under the data directory.
fn data_files(daemon: &TestDaemon) -> usize {
    common::rowset_files_under(&daemon.data_dir().join("data"))
}

async fn committed_rowsets(conn: &mut mysql_async::Conn) -> usize {
    rows(conn, "SHOW TABLET FROM d.t")
        .await
        .iter()
        .map(|t| t[5].clone().unwrap_or_default().parse::<usize>().unwrap())
        .sum()
}

fn values(statement: i64) -> String {
    (0..10)
        .map(|r| format!("({}, 'v{statement}-{r}')", statement * 10 + r))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `setup`, restarts the daemon with `load.before_catalog_commit=crash`, sends the load
/// `lost` (which the crash answers with a dropped connection) and reaps the dead daemon.
async fn crash_before_commit(daemon: &mut TestDaemon, setup: &str, lost: &str) {
    daemon.conn().await.query_drop(setup).await.unwrap();
    daemon.stop();
    daemon.set_env(
        "BACKSTOP_FAILPOINTS",
        Some("load.before_catalog_commit=crash"),
    );
    daemon.start_again();
    let answer = daemon.conn().await.query_drop(lost).await;
    assert!(
        answer.is_err(),
        "the daemon should have crashed at the failpoint"
    );
    daemon.kill9();
}

#[tokio::test]
async fn crash_before_the_catalog_commit_loses_only_that_load() {
    let mut daemon = TestDaemon::start();
    crash_before_commit(
        &mut daemon,
        &format!(
            "CREATE DATABASE d; {TABLE}; INSERT INTO d.t VALUES {}",
            values(0)
        ),
        &format!("INSERT INTO d.t VALUES {}", values(1)),
    )
    .await;
    // The crashed load's files were written and fsynced but never committed.
    assert!(data_files(&daemon) > 0);
    daemon.set_env(
        "BACKSTOP_FAILPOINTS",
        Some("load.before_catalog_commit=error"),
    );
    daemon.start_again();
    let mut conn = daemon.conn().await;
    assert!(
        conn.query_drop(format!("INSERT INTO d.t VALUES {}", values(2)))
            .await
            .is_err()
    );
    let count = rows(&mut conn, "SELECT count(*), min(k), max(k) FROM d.t").await;
    assert_eq!(
        count,
        vec![vec![Some("10".into()), Some("0".into()), Some("9".into())]]
    );
    assert_eq!(data_files(&daemon), committed_rowsets(&mut conn).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_during_loads_keeps_every_acknowledged_load_whole() {
    let rounds: u64 = std::env::var("BACKSTOP_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let mut daemon = TestDaemon::start();
    {
        let mut conn = daemon.conn().await;
        conn.query_drop("CREATE DATABASE d").await.unwrap();
        conn.query_drop(TABLE).await.unwrap();
    }
    let mut acknowledged: i64 = 0;
    let mut next: i64 = 0;
    let mut checked = 0;
    for round in 0..rounds {
        // A client loads statement after statement until the daemon dies under it.
        let opts = daemon.opts();
        let first = next;
        let loader = common::spawn_loader(opts, first, values);
        tokio::time::sleep(Duration::from_millis(150 + (round * 97) % 400)).await;
        daemon.kill9();
        let acked = loader.await.unwrap();
        acknowledged += acked.len() as i64;
        // The statement in flight when the daemon died may or may not have committed.
        let in_flight = first + acked.len() as i64;
        next = in_flight + 1;
        daemon.start_again();
        let mut conn = daemon.conn().await;
        let present =
            common::assert_acknowledged_loads(&mut conn, &acked, &format!("round {round}")).await;
        let count: i64 = rows(&mut conn, "SELECT count(*) FROM d.t").await[0][0]
            .clone()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            count,
            present.len() as i64 * 10,
            "round {round}: a load is partial"
        );
        assert!(present.len() as i64 >= acknowledged);
        assert_eq!(
            data_files(&daemon),
            committed_rowsets(&mut conn).await,
            "round {round}: orphan files"
        );
        checked += 1;
    }
    println!("crash: {checked} kill -9 rounds, {acknowledged} acknowledged loads, all whole");
}

/// A panic on a statement's way (the `panic` failpoint standing in for a bug) fails that
/// statement with an internal error; the same connection, other connections and the daemon go
/// on. A panic in a job's steps ends that job CANCELLED with the panic's message and no
/// snapshot, and the next job runs.
#[tokio::test]
async fn a_panic_fails_its_statement_or_its_job_only() {
    use common::backup::{scratch_repo, timestamps, wait_cancelled};
    let daemon = TestDaemon::start_with(
        &[],
        &[(
            "BACKSTOP_FAILPOINTS",
            "load.before_catalog_commit=panic,backup.before_commit=panic",
        )],
    );
    let mut conn = daemon.conn().await;
    conn.query_drop("CREATE DATABASE d").await.unwrap();
    conn.query_drop(TABLE).await.unwrap();
    for _ in 0..2 {
        let (code, _, message) =
            common::server_err(&mut conn, "INSERT INTO d.t VALUES (1, 'one')").await;
        assert_eq!(code, 1105, "{message}");
        assert!(
            message.contains("panicked: failpoint load.before_catalog_commit"),
            "{message}"
        );
        // The same connection answers the next statement; the load left nothing.
        let n: Option<i64> = conn.query_first("SELECT count(*) FROM d.t").await.unwrap();
        assert_eq!(n, Some(0));
    }
    let mut other = daemon.conn().await;
    assert_eq!(committed_rowsets(&mut other).await, 0);

    scratch_repo(&daemon, &mut conn, "repo").await;
    for label in ["s1", "s2"] {
        conn.query_drop(format!("BACKUP SNAPSHOT d.{label} TO repo"))
            .await
            .unwrap();
        let job = wait_cancelled(&mut conn, "BACKUP", "d").await;
        assert!(
            job.get("TaskErrMsg")
                .contains("the job panicked: failpoint backup.before_commit")
                || job
                    .get("Status")
                    .contains("the job panicked: failpoint backup.before_commit"),
            "{job:?}"
        );
        assert!(timestamps(&mut conn, "repo", label).await.is_empty());
    }
    let log = std::fs::read_to_string(daemon.stderr_log()).unwrap();
    assert!(
        log.contains("the statement panicked"),
        "the log names the panic"
    );
    assert!(
        log.contains("the job panicked"),
        "the log names the job's panic"
    );
}

/// A crash in an aggregating load (AGGREGATE KEY), after the merged rows and the staged load
/// were written and before the commit: after the restart the table holds the merge of the
/// acknowledged loads only, and start-up removed every file the crashed load left (the staged
/// rows too). The next load merges with the acknowledged rows.
#[tokio::test]
async fn a_crash_in_an_aggregating_load_leaves_the_acknowledged_merge() {
    let mut daemon = TestDaemon::start();
    let sums = "SELECT k, n, top, last FROM d.agg ORDER BY k";
    crash_before_commit(
        &mut daemon,
        "CREATE DATABASE d; CREATE TABLE d.agg (k INT, n BIGINT SUM, top INT MAX, \
         last STRING REPLACE) AGGREGATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2; \
         INSERT INTO d.agg VALUES (1, 1, 1, 'a'), (2, 2, 2, 'b'), (1, 10, 0, 'c')",
        "INSERT INTO d.agg VALUES (1, 100, 100, 'lost'), (3, 3, 3, 'lost')",
    )
    .await;
    assert!(data_files(&daemon) > 0, "the crashed load left files");
    daemon.set_env("BACKSTOP_FAILPOINTS", None);
    daemon.start_again();
    let mut conn = daemon.conn().await;
    let text = |rows: &[&[&str]]| -> Vec<Vec<Option<String>>> {
        rows.iter()
            .map(|r| r.iter().map(|v| Some(v.to_string())).collect())
            .collect()
    };
    assert_eq!(
        rows(&mut conn, sums).await,
        text(&[&["1", "11", "1", "c"], &["2", "2", "2", "b"]])
    );
    let committed: usize = rows(&mut conn, "SHOW TABLET FROM d.agg")
        .await
        .iter()
        .map(|t| t[5].clone().unwrap_or_default().parse::<usize>().unwrap())
        .sum();
    assert_eq!(
        data_files(&daemon),
        committed,
        "start-up removed the crashed load's files"
    );
    conn.query_drop("INSERT INTO d.agg VALUES (1, 5, 7, 'd')")
        .await
        .unwrap();
    assert_eq!(
        rows(&mut conn, sums).await,
        text(&[&["1", "16", "7", "d"], &["2", "2", "2", "b"]])
    );
}
