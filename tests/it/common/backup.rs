//! Helpers of the BACKUP / RESTORE tests: sample tables, result rows by column name, file://
//! repositories and their files, jobs followed through SHOW BACKUP / SHOW RESTORE, failpoints.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::{TestDaemon, exec, rows};

/// Table name, checksum and row count of each table [`fingerprint`] looked at.
pub type Prints = Vec<(String, String, u64)>;

/// How long a job may take to end, and a failpoint to be reached.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// How long CANCEL may take to return (docs/backup.md: "stops the job within seconds").
pub const CANCEL_DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Sample data

/// `sr_member` of StarRocks' backup walkthrough: three range partitions, four buckets each.
pub fn member_ddl(table: &str) -> String {
    format!(
        "CREATE TABLE {table} (
            sr_id INT NOT NULL, name STRING, city_code INT, reg_date DATE NOT NULL
        ) DUPLICATE KEY(sr_id)
        PARTITION BY RANGE(reg_date) (
            PARTITION p1 VALUES [('2022-03-13'), ('2022-03-14')),
            PARTITION p2 VALUES [('2022-03-14'), ('2022-03-15')),
            PARTITION p3 VALUES [('2022-03-15'), ('2022-03-16'))
        ) DISTRIBUTED BY HASH(sr_id) BUCKETS 4"
    )
}

/// p1: 1 row, p2: 2 rows, p3: 2 rows.
pub const MEMBER_ROWS: &str = "(1, 'tom', 100000, '2022-03-13'), (2, 'johndoe', 210000, '2022-03-14'), \
     (3, 'maruko', 200000, '2022-03-14'), (4, 'simo', 200000, '2022-03-15'), \
     (5, 'bb', 220000, '2022-03-15')";

/// Rows that land in every partition of `sr_member`.
pub const MORE_MEMBER_ROWS: &str = "(11, 'late-1', 1, '2022-03-13'), (12, 'late-2', 2, '2022-03-14'), \
     (13, 'late-3', 3, '2022-03-15')";

pub fn order_ddl(table: &str) -> String {
    format!(
        "CREATE TABLE {table} (order_id BIGINT NOT NULL, sr_id INT, amount DECIMAL(10, 2), note STRING) \
         DUPLICATE KEY(order_id) DISTRIBUTED BY HASH(order_id) BUCKETS 2"
    )
}

pub const ORDER_ROWS: &str =
    "(100, 1, 10.50, 'a'), (101, 2, 20.00, NULL), (102, 2, 0.99, 'c'), (103, 5, 1234.56, 'd')";

/// Database `db` with `sr_member` (5 rows) and `sr_order` (4 rows).
pub async fn load_sample(conn: &mut Conn, db: &str) {
    exec(conn, &format!("CREATE DATABASE {db}")).await;
    exec(conn, &member_ddl(&format!("{db}.sr_member"))).await;
    exec(
        conn,
        &format!("INSERT INTO {db}.sr_member VALUES {MEMBER_ROWS}"),
    )
    .await;
    exec(conn, &order_ddl(&format!("{db}.sr_order"))).await;
    exec(
        conn,
        &format!("INSERT INTO {db}.sr_order VALUES {ORDER_ROWS}"),
    )
    .await;
}

/// Changes both sample tables so they differ from any earlier snapshot.
pub async fn change_sample(conn: &mut Conn, db: &str) {
    exec(
        conn,
        &format!("INSERT INTO {db}.sr_member VALUES {MORE_MEMBER_ROWS}"),
    )
    .await;
    exec(
        conn,
        &format!("INSERT INTO {db}.sr_order VALUES (900, 9, 9.99, 'late')"),
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Queries

/// One result row with its column names.
#[derive(Debug, Clone)]
pub struct Named(pub Vec<(String, Option<String>)>);

impl Named {
    pub fn columns(&self) -> Vec<&str> {
        self.0.iter().map(|(c, _)| c.as_str()).collect()
    }

    pub fn opt(&self, column: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(c, _)| c == column)
            .unwrap_or_else(|| panic!("no column {column} in {self:?}"))
            .1
            .as_deref()
    }

    pub fn get(&self, column: &str) -> &str {
        self.opt(column)
            .unwrap_or_else(|| panic!("{column} is NULL in {self:?}"))
    }
}

pub async fn named_rows(conn: &mut Conn, sql: &str) -> Vec<Named> {
    let rows: Vec<mysql_async::Row> = conn
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql:?} failed: {e}"));
    rows.iter()
        .map(|r| {
            Named(
                r.columns_ref()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name_str().into_owned(), super::value_text(&r[i])))
                    .collect(),
            )
        })
        .collect()
}

pub async fn checksum(conn: &mut Conn, table: &str) -> String {
    let r = rows(conn, &format!("CHECKSUM TABLE {table}")).await;
    r[0][1]
        .clone()
        .unwrap_or_else(|| panic!("no checksum for {table}: {r:?}"))
}

pub async fn count(conn: &mut Conn, table: &str) -> u64 {
    rows(conn, &format!("SELECT count(*) FROM {table}")).await[0][0]
        .clone()
        .unwrap()
        .parse()
        .unwrap()
}

pub async fn all_rows(conn: &mut Conn, table: &str) -> Vec<Vec<Option<String>>> {
    rows(conn, &format!("SELECT * FROM {table} ORDER BY 1")).await
}

pub async fn ids(conn: &mut Conn, table: &str) -> Vec<i64> {
    rows(conn, &format!("SELECT sr_id FROM {table} ORDER BY sr_id"))
        .await
        .iter()
        .map(|r| r[0].clone().unwrap().parse().unwrap())
        .collect()
}

pub async fn partition_names(conn: &mut Conn, table: &str) -> Vec<String> {
    rows(conn, &format!("SHOW PARTITIONS FROM {table}"))
        .await
        .iter()
        .map(|r| r[1].clone().unwrap())
        .collect()
}

pub async fn table_names(conn: &mut Conn, db: &str) -> Vec<String> {
    let mut names: Vec<String> = rows(conn, &format!("SHOW TABLES FROM {db}"))
        .await
        .iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    names.sort();
    names
}

/// What a test compares to prove a table did not change: checksum and row count.
pub async fn fingerprint(conn: &mut Conn, tables: &[&str]) -> Prints {
    let mut out = Vec::new();
    for t in tables {
        out.push((t.to_string(), checksum(conn, t).await, count(conn, t).await));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Repositories and files

pub fn location(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

pub async fn create_repo(conn: &mut Conn, name: &str, dir: &Path) {
    exec(
        conn,
        &format!(
            "CREATE REPOSITORY {name} WITH BROKER ON LOCATION \"{}\"",
            location(dir)
        ),
    )
    .await;
}

/// Creates repository `repo` in the daemon's scratch dir; returns the repository root
/// (`<location>/<name>`).
pub async fn scratch_repo(daemon: &TestDaemon, conn: &mut Conn, name: &str) -> PathBuf {
    let dir = daemon.scratch_dir().join("repos");
    create_repo(conn, name, &dir).await;
    dir.join(name)
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn object_files(root: &Path) -> Vec<PathBuf> {
    files_under(&root.join("objects"))
}

pub fn commit_files(root: &Path) -> Vec<PathBuf> {
    files_under(&root.join("snapshots"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "COMMIT"))
        .collect()
}

pub fn lease_files(root: &Path) -> Vec<PathBuf> {
    files_under(&root.join("leases"))
}

/// The object key (`objects/<2 hex>/<sha256>`) of a file under the repository root.
pub fn object_key(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// `.parquet` and `.tmp` files under `<data_dir>/data`.
pub fn data_files(daemon: &TestDaemon) -> usize {
    super::rowset_files_under(&daemon.data_dir().join("data"))
}

/// Rowsets the catalog references, over every table of every user database.
pub async fn committed_rowsets(conn: &mut Conn) -> usize {
    let dbs: Vec<String> = rows(conn, "SHOW DATABASES")
        .await
        .iter()
        .map(|r| r[0].clone().unwrap())
        .filter(|d| !["information_schema", "_statistics_", "sys", "mysql"].contains(&d.as_str()))
        .collect();
    let mut total = 0;
    for db in dbs {
        for t in table_names(conn, &db).await {
            total += rows(conn, &format!("SHOW TABLET FROM {db}.{t}"))
                .await
                .iter()
                .map(|r| r[5].clone().unwrap().parse::<usize>().unwrap())
                .sum::<usize>();
        }
    }
    total
}

/// Waits until every rowset file under the data directory is one the catalog references (the
/// collector removes replaced files in the background).
pub async fn assert_no_orphans(daemon: &TestDaemon, conn: &mut Conn, context: &str) {
    let start = Instant::now();
    loop {
        let files = data_files(daemon);
        let committed = committed_rowsets(conn).await;
        if files == committed {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{context}: {files} rowset files under {}, the catalog references {committed}",
            daemon.data_dir().join("data").display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Jobs

pub async fn show_job(conn: &mut Conn, kind: &str, db: &str) -> Option<Named> {
    named_rows(conn, &format!("SHOW {kind} FROM {db}"))
        .await
        .into_iter()
        .next()
}

/// Polls SHOW BACKUP / SHOW RESTORE FROM `db` until the job is FINISHED or CANCELLED.
pub async fn wait_done(conn: &mut Conn, kind: &str, db: &str) -> Named {
    let start = Instant::now();
    loop {
        let row = show_job(conn, kind, db).await;
        if let Some(r) = &row
            && matches!(r.opt("State"), Some("FINISHED" | "CANCELLED"))
        {
            return r.clone();
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the {kind} job of {db} did not end within {DEADLINE:?}; SHOW {kind}: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn wait_finished(conn: &mut Conn, kind: &str, db: &str) -> Named {
    let r = wait_done(conn, kind, db).await;
    assert_eq!(
        (r.get("State"), r.get("Status")),
        ("FINISHED", "[OK]"),
        "{kind} job of {db}: {r:?}"
    );
    r
}

pub async fn wait_cancelled(conn: &mut Conn, kind: &str, db: &str) -> Named {
    let r = wait_done(conn, kind, db).await;
    assert_eq!(r.get("State"), "CANCELLED", "{kind} job of {db}: {r:?}");
    assert!(
        is_datetime(r.get("FinishedTime")),
        "a cancelled job has a FinishedTime: {r:?}"
    );
    r
}

/// The timestamps SHOW SNAPSHOT lists for `label` (oldest first).
pub async fn timestamps(conn: &mut Conn, repo: &str, label: &str) -> Vec<String> {
    let r = named_rows(
        conn,
        &format!("SHOW SNAPSHOT ON {repo} WHERE SNAPSHOT = '{label}'"),
    )
    .await;
    assert_eq!(
        r.len(),
        1,
        "SHOW SNAPSHOT WHERE SNAPSHOT = '{label}': {r:?}"
    );
    r[0].opt("Timestamp")
        .unwrap_or_default()
        .split('\n')
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// Runs `BACKUP SNAPSHOT db.label TO repo <on>` to FINISHED; returns the snapshot's timestamp.
pub async fn backup(conn: &mut Conn, db: &str, label: &str, repo: &str, on: &str) -> String {
    let before = timestamps(conn, repo, label).await;
    exec(
        conn,
        &format!("BACKUP SNAPSHOT {db}.{label} TO {repo} {on}"),
    )
    .await;
    wait_finished(conn, "BACKUP", db).await;
    let new: Vec<String> = timestamps(conn, repo, label)
        .await
        .into_iter()
        .filter(|t| !before.contains(t))
        .collect();
    assert_eq!(new.len(), 1, "one new timestamp for {label}: {new:?}");
    assert!(is_snapshot_timestamp(&new[0]), "{new:?}");
    new[0].clone()
}

pub fn restore_sql(db: &str, label: &str, repo: &str, on: &str, ts: &str) -> String {
    format!(
        "RESTORE SNAPSHOT {db}.{label} FROM {repo} {on} PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
    )
}

/// Runs a RESTORE into `db` to FINISHED.
pub async fn restore(
    conn: &mut Conn,
    db: &str,
    label: &str,
    repo: &str,
    on: &str,
    ts: &str,
) -> Named {
    exec(conn, &restore_sql(db, label, repo, on, ts)).await;
    wait_finished(conn, "RESTORE", db).await
}

/// Runs a RESTORE statement whose target database is `db` to FINISHED.
pub async fn restore_with(conn: &mut Conn, sql: &str, db: &str) -> Named {
    exec(conn, sql).await;
    wait_finished(conn, "RESTORE", db).await
}

/// The checksum the snapshot's manifest records for `table`.
pub fn manifest_checksum(root: &Path, label: &str, ts: &str, table: &str) -> (String, u64) {
    let path = root
        .join("snapshots")
        .join(label)
        .join(ts)
        .join("manifest.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    let t = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == table)
        .unwrap_or_else(|| panic!("no table {table} in {}", path.display()));
    (t["checksum"].to_string(), t["rows"].as_u64().unwrap())
}

pub fn daemon_log(daemon: &TestDaemon) -> String {
    let raw = std::fs::read_to_string(daemon.stderr_log()).unwrap_or_default();
    // Drop ANSI colour sequences.
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn paused_count(daemon: &TestDaemon, failpoint: &str) -> usize {
    let quoted = format!("\"{failpoint}\"");
    daemon_log(daemon)
        .lines()
        .filter(|l| l.contains("paused at failpoint") && l.contains(&quoted))
        .count()
}

/// Waits until the daemon logs that a job is held at `failpoint` (more than `seen` times).
pub async fn wait_paused(daemon: &TestDaemon, failpoint: &str, seen: usize) {
    let start = Instant::now();
    while paused_count(daemon, failpoint) <= seen {
        assert!(
            start.elapsed() < DEADLINE,
            "no job reached the failpoint {failpoint} within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A daemon whose jobs pause at `failpoint`, with the folder that shows and ends each pause
/// ([`wait_reached`], [`resume`]).
pub fn daemon_paused_at(failpoint: &str) -> (TestDaemon, tempfile::TempDir) {
    let points = tempfile::tempdir().unwrap();
    let daemon = TestDaemon::start_with(
        &[],
        &[
            ("BACKSTOP_FAILPOINTS", &format!("{failpoint}=pause")),
            ("BACKSTOP_FAILPOINT_DIR", points.path().to_str().unwrap()),
        ],
    );
    (daemon, points)
}

/// Waits until a job held at `failpoint` says so in `points` (the daemon's
/// `BACKSTOP_FAILPOINT_DIR`: `<failpoint>.reached`).
pub async fn wait_reached(points: &Path, failpoint: &str) {
    let reached = points.join(format!("{failpoint}.reached"));
    let start = Instant::now();
    while !reached.exists() {
        assert!(
            start.elapsed() < DEADLINE,
            "nothing reached the failpoint {failpoint} within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Lets what waits at `failpoint` go on.
pub fn resume(points: &Path, failpoint: &str) {
    std::fs::write(points.join(format!("{failpoint}.resume")), b"").unwrap();
}

/// Waits until the daemon process has exited (a `crash` failpoint aborts it).
pub async fn wait_dead(daemon: &mut TestDaemon) {
    let start = Instant::now();
    while daemon.is_alive() {
        assert!(
            start.elapsed() < DEADLINE,
            "the daemon did not crash at the failpoint within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Runs a CANCEL statement that must return (successfully) within [`CANCEL_DEADLINE`].
pub async fn cancel_within(daemon: &TestDaemon, conn: &mut Conn, sql: &str) {
    match tokio::time::timeout(CANCEL_DEADLINE, conn.query_drop(sql)).await {
        Ok(result) => result.unwrap_or_else(|e| panic!("{sql:?} failed: {e}")),
        Err(_) => {
            let mut other = daemon.conn().await;
            let backups = rows(&mut other, "SHOW BACKUP").await;
            let restores = rows(&mut other, "SHOW RESTORE").await;
            panic!(
                "{sql:?} did not return within {CANCEL_DEADLINE:?}\nSHOW BACKUP: {backups:?}\n\
                 SHOW RESTORE: {restores:?}"
            );
        }
    }
}

pub fn is_datetime(s: &str) -> bool {
    // yyyy-MM-dd HH:mm:ss
    s.len() == 19
        && s.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == ' ',
            13 | 16 => c == ':',
            _ => c.is_ascii_digit(),
        })
}

pub fn is_snapshot_timestamp(s: &str) -> bool {
    // yyyy-MM-dd-HH-mm-ss-SSS
    s.len() == 23
        && s.char_indices().all(|(i, c)| match i {
            4 | 7 | 10 | 13 | 16 | 19 => c == '-',
            _ => c.is_ascii_digit(),
        })
}
