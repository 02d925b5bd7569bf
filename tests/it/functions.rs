//! MySQL's functions where one SQL script cannot show them (`tests/slt/functions.slt` has the
//! rest): SLEEP's timing and its interruption by KILL, by the client going away, while other
//! clients are served; the functions through server-side prepared statements; and pandas'
//! `to_sql` round trip (SQLAlchemy 2 + PyMySQL), whose CREATE TABLE says `FLOAT(53)` and `BOOL`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestDaemon, clients_dir, require_tool, rows, run_with_deadline, venv_python};
use mysql_async::prelude::Queryable;

/// Far longer than any test waits: a SLEEP that is not interrupted fails its test's deadline.
const LONG_SLEEP: &str = "SELECT SLEEP(60)";
const DEADLINE: Duration = Duration::from_secs(20);

async fn one_int(conn: &mut mysql_async::Conn, sql: &str) -> i64 {
    let got: Option<i64> = conn.query_first(sql).await.unwrap();
    got.unwrap_or_else(|| panic!("{sql}: no row"))
}

/// Waits until the daemon serves `n` connections (`Threads_connected`), within the deadline (far
/// below the 60 s a stuck SLEEP would hold its connection).
async fn wait_connections(conn: &mut mysql_async::Conn, n: i64, failure: &str) {
    let started = Instant::now();
    loop {
        let got = rows(conn, "SHOW STATUS LIKE 'Threads_connected'").await;
        let count: i64 = got[0][1].as_deref().unwrap().parse().unwrap();
        if count == n {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{failure}: {count} connections"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sleep_returns_zero_after_its_time_in_text_and_prepared_statements() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    let started = Instant::now();
    assert_eq!(one_int(&mut conn, "SELECT SLEEP(0.2)").await, 0);
    assert!(started.elapsed() >= Duration::from_millis(200));

    // COM_STMT_PREPARE describes without waiting; EXECUTE waits for the bound value.
    let stmt = conn
        .prep("SELECT SLEEP(?), IF(? > 1, 'big', 'small')")
        .await
        .unwrap();
    let started = Instant::now();
    let got: Option<(i64, String)> = conn.exec_first(&stmt, (0.2, 5)).await.unwrap();
    assert_eq!(got, Some((0, "big".to_string())));
    assert!(started.elapsed() >= Duration::from_millis(200));

    // The other functions, bound and not, through the binary protocol.
    let got: Option<(Option<String>, i64, u64, String)> = conn
        .exec_first(
            "SELECT IFNULL(?, 'none'), CAST(? AS SIGNED), CONVERT(?, UNSIGNED INTEGER), UCASE(?) FROM DUAL",
            (None::<String>, "2.5", -1, "abc"),
        )
        .await
        .unwrap();
    assert_eq!(
        got,
        Some((Some("none".into()), 2, u64::MAX, "ABC".to_string()))
    );
    let err = conn.exec_drop("SELECT IF(?, 1)", (1,)).await.unwrap_err();
    match err {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1582, "{e}"),
        other => panic!("expected error 1582, got {other}"),
    }
}

/// Runs `sql` on a new connection of its own; returns its connection id and the running query.
async fn sleeping(
    daemon: &TestDaemon,
    sql: &'static str,
) -> (
    u64,
    tokio::task::JoinHandle<(mysql_async::Conn, mysql_async::Result<Option<i64>>)>,
) {
    let mut conn = daemon.conn().await;
    let id = u64::try_from(one_int(&mut conn, "SELECT CONNECTION_ID()").await).unwrap();
    let task = tokio::spawn(async move {
        let got = conn.query_first::<i64, _>(sql).await;
        (conn, got)
    });
    (id, task)
}

/// Sends `kill` until `task` ends (the first may come before its statement starts), within the
/// deadline; returns how long that took.
async fn kill_until_done<T>(
    killer: &mut mysql_async::Conn,
    kill: &str,
    task: &tokio::task::JoinHandle<T>,
) -> Duration {
    let started = Instant::now();
    while !task.is_finished() {
        assert!(
            started.elapsed() < DEADLINE,
            "{kill} did not end the statement within {DEADLINE:?}"
        );
        killer.query_drop(kill).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn kill_query_ends_a_sleep_with_1_and_the_connection_goes_on() {
    let daemon = TestDaemon::start();
    let (id, task) = sleeping(&daemon, LONG_SLEEP).await;
    let mut other = daemon.conn().await;
    // The daemon answers other clients while one sleeps.
    let started = Instant::now();
    assert_eq!(one_int(&mut other, "SELECT 1").await, 1);
    assert!(started.elapsed() < Duration::from_secs(5));

    kill_until_done(&mut other, &format!("KILL QUERY {id}"), &task).await;
    let (mut conn, got) = task.await.unwrap();
    assert_eq!(got.unwrap(), Some(1), "an interrupted SLEEP returns 1");
    // KILL QUERY ends the statement only: the connection serves the next one.
    assert_eq!(one_int(&mut conn, "SELECT SLEEP(0)").await, 0);
}

#[tokio::test]
async fn kill_connection_ends_the_sleep_and_the_connection() {
    let daemon = TestDaemon::start();
    let (id, task) = sleeping(&daemon, LONG_SLEEP).await;
    let mut other = daemon.conn().await;
    kill_until_done(&mut other, &format!("KILL {id}"), &task).await;
    let (mut conn, _) = task.await.unwrap();
    assert!(
        conn.query_drop("SELECT 1").await.is_err(),
        "the killed connection still answers"
    );
    wait_connections(&mut other, 1, "the killed connection is still counted").await;
    // Unknown ids, and other users' connections for a user who is not an admin.
    match other.query_drop("KILL QUERY 999999").await.unwrap_err() {
        mysql_async::Error::Server(e) => assert_eq!(
            (e.code, e.message.as_str()),
            (1094, "Unknown thread id: 999999")
        ),
        other => panic!("expected 1094, got {other}"),
    }
    other
        .query_drop("CREATE USER plain IDENTIFIED BY 'pw'")
        .await
        .unwrap();
    let root_id = one_int(&mut other, "SELECT CONNECTION_ID()").await;
    let opts =
        mysql_async::OptsBuilder::from_opts(mysql_async::Opts::from_url(&daemon.url()).unwrap())
            .user(Some("plain"))
            .pass(Some("pw"));
    let mut plain = mysql_async::Conn::new(opts).await.unwrap();
    match plain
        .query_drop(format!("KILL QUERY {root_id}"))
        .await
        .unwrap_err()
    {
        mysql_async::Error::Server(e) => assert_eq!(e.code, 1095, "{e}"),
        other => panic!("expected 1095, got {other}"),
    }
    let own = one_int(&mut plain, "SELECT CONNECTION_ID()").await;
    plain.query_drop(format!("KILL QUERY {own}")).await.unwrap();
}

/// A client that goes away in the middle of `SELECT SLEEP(60)` (its process killed, so the
/// socket closes) frees its connection at once, not 60 s later.
#[tokio::test]
async fn a_sleep_ends_when_its_client_disconnects() {
    let daemon = TestDaemon::start();
    let mut watcher = daemon.conn().await;
    let mut client = Command::new(require_tool("mysql"))
        .arg("--no-defaults")
        .arg("-h127.0.0.1")
        .arg(format!("-P{}", daemon.port()))
        .args(["-uroot", "--batch", "-e", LONG_SLEEP])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_connections(&mut watcher, 2, "the mysql client never connected").await;
    // Give the statement time to start sleeping, then take the client away.
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.kill().unwrap();
    client.wait().unwrap();
    wait_connections(
        &mut watcher,
        1,
        "the sleeping connection outlived its client",
    )
    .await;
    assert_eq!(one_int(&mut watcher, "SELECT 1").await, 1);
}

/// pandas `DataFrame.to_sql` with SQLAlchemy 2, through PyMySQL and through mysqlclient, creates the table (`BIGINT`,
/// `FLOAT(53)`, `TEXT`, `DATETIME`, `BOOL`) and inserts; reading it back gives the same frame.
#[test]
fn pandas_to_sql_round_trip() {
    for driver in ["pymysql", "mysqldb"] {
        let daemon = TestDaemon::start();
        let mut cmd = Command::new(venv_python());
        cmd.arg(clients_dir().join("pandas_roundtrip.py"))
            .arg(daemon.port().to_string())
            .arg(driver);
        let out = run_with_deadline(&mut cmd, "", Duration::from_secs(120));
        assert!(
            out.status.success(),
            "pandas round trip ({driver}) failed\n{out}"
        );
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            lines,
            ["to_sql 3", "read_sql_query equal", "read_sql_table equal"],
            "{driver}: {out}"
        );
    }
}
