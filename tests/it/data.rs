//! Loading and reading table data over the wire: INSERT ... VALUES / SELECT, partition and
//! bucket routing, atomic statements, CHECKSUM TABLE, and data surviving a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use common::{TestDaemon, exec, rows, server_err};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

async fn one(conn: &mut Conn, sql: &str) -> String {
    let r = rows(conn, sql).await;
    r[0][0].clone().unwrap_or_else(|| "NULL".into())
}

const MEMBER: &str = "CREATE TABLE sr_member (
    sr_id INT NOT NULL, name STRING, city_code INT, reg_date DATE NOT NULL
) DUPLICATE KEY(sr_id)
PARTITION BY RANGE(reg_date) (
    PARTITION p1 VALUES [('2022-03-13'), ('2022-03-14')),
    PARTITION p2 VALUES [('2022-03-14'), ('2022-03-15')),
    PARTITION p3 VALUES [('2022-03-15'), ('2022-03-16'))
) DISTRIBUTED BY HASH(sr_id) BUCKETS 4";

const ROWS: &str = "(1, 'tom', 100000, '2022-03-13'), (2, 'johndoe', 210000, '2022-03-14'), \
     (3, 'maruko', 200000, '2022-03-14'), (4, 'simo', 200000, '2022-03-15'), \
     (5, 'bb', 220000, '2022-03-15')";

/// Count of `.parquet` files under the data directory.
fn parquet_files(daemon: &TestDaemon) -> usize {
    common::rowset_files_under(daemon.data_dir())
}

#[tokio::test]
async fn insert_select_and_checksum() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "CREATE DATABASE sr_hub").await;
    exec(&mut conn, "USE sr_hub").await;
    exec(&mut conn, MEMBER).await;
    exec(&mut conn, &format!("INSERT INTO sr_member VALUES {ROWS}")).await;
    let r = rows(
        &mut conn,
        "SELECT sr_id, name, reg_date FROM sr_member ORDER BY sr_id",
    )
    .await;
    assert_eq!(r.len(), 5);
    assert_eq!(
        r[1],
        vec![
            Some("2".into()),
            Some("johndoe".into()),
            Some("2022-03-14".into())
        ]
    );
    assert_eq!(
        one(&mut conn, "SELECT sum(city_code) FROM sr_hub.sr_member").await,
        "930000"
    );
    // Rows land in their partitions, and each partition's version moved once.
    let parts = rows(&mut conn, "SHOW PARTITIONS FROM sr_member").await;
    let counts: Vec<_> = parts
        .iter()
        .map(|p| {
            (
                p[1].clone().unwrap(),
                p[2].clone().unwrap(),
                p[16].clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("p1".to_string(), "2".to_string(), "1".to_string()),
            ("p2".to_string(), "2".to_string(), "2".to_string()),
            ("p3".to_string(), "2".to_string(), "2".to_string()),
        ]
    );

    // The same rows in another order, in two statements, into a second table: same checksum.
    exec(&mut conn, &MEMBER.replace("sr_member", "copy")).await;
    exec(
        &mut conn,
        "INSERT INTO copy SELECT * FROM sr_member WHERE sr_id > 3 ORDER BY sr_id DESC",
    )
    .await;
    exec(&mut conn, "INSERT INTO copy (reg_date, sr_id, name, city_code) SELECT reg_date, sr_id, name, city_code FROM sr_member WHERE sr_id <= 3").await;
    let a = one(&mut conn, "CHECKSUM TABLE sr_member").await;
    let sums = rows(&mut conn, "CHECKSUM TABLE sr_member, copy").await;
    assert_eq!(sums[0][1], sums[1][1], "{sums:?}");
    assert_eq!(a, "sr_hub.sr_member");
    assert_ne!(sums[0][1].as_deref(), Some("0"));
    // One different value: a different checksum.
    exec(
        &mut conn,
        "INSERT INTO copy VALUES (6, 'x', 1, '2022-03-13')",
    )
    .await;
    let sums = rows(&mut conn, "CHECKSUM TABLE sr_member, copy").await;
    assert_ne!(sums[0][1], sums[1][1]);
}

#[tokio::test]
async fn a_failed_insert_changes_nothing() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "CREATE DATABASE d").await;
    exec(&mut conn, "USE d").await;
    exec(&mut conn, MEMBER).await;
    exec(&mut conn, &format!("INSERT INTO sr_member VALUES {ROWS}")).await;
    let files = parquet_files(&daemon);
    let before = one(&mut conn, "CHECKSUM TABLE sr_member").await;
    let sum_before = rows(&mut conn, "CHECKSUM TABLE sr_member").await;
    // Good rows first, then one that fits no partition: the whole statement fails.
    let (code, _, message) = server_err(
        &mut conn,
        "INSERT INTO sr_member VALUES (7, 'ok', 1, '2022-03-13'), (8, 'late', 1, '2030-01-01')",
    )
    .await;
    assert_eq!(code, 1526, "{message}");
    assert!(message.contains("2030-01-01"), "{message}");
    let (code, _, _) = server_err(
        &mut conn,
        "INSERT INTO sr_member (name, reg_date) VALUES ('x', '2022-03-13')",
    )
    .await;
    assert_eq!(code, 1048);
    let (code, _, _) = server_err(&mut conn, "INSERT INTO sr_member VALUES (1, 'x')").await;
    assert_eq!(code, 1136);
    let (code, _, _) = server_err(&mut conn, "INSERT INTO sr_member (nosuch) VALUES (1)").await;
    assert_eq!(code, 1054);
    let (code, _, _) = server_err(&mut conn, "INSERT INTO nosuch VALUES (1)").await;
    assert_eq!(code, 1146);
    let (code, _, _) = server_err(&mut conn, "SELECT * FROM nosuch").await;
    assert_eq!(code, 1146);
    assert_eq!(one(&mut conn, "SELECT count(*) FROM sr_member").await, "5");
    assert_eq!(
        rows(&mut conn, "CHECKSUM TABLE sr_member").await,
        sum_before
    );
    assert_eq!(before, "d.sr_member");
    assert_eq!(
        parquet_files(&daemon),
        files,
        "a failed load left files behind"
    );
}

#[tokio::test]
async fn data_survives_a_restart() {
    let mut daemon = TestDaemon::start();
    {
        let mut conn = daemon.conn().await;
        exec(&mut conn, "CREATE DATABASE d").await;
        exec(&mut conn, "CREATE TABLE d.t (k INT, v VARCHAR(10)) DUPLICATE KEY(k) DISTRIBUTED BY RANDOM BUCKETS 3").await;
        exec(
            &mut conn,
            "INSERT INTO d.t VALUES (1, 'a'), (2, NULL), (3, 'c')",
        )
        .await;
        let (code, _, _) =
            server_err(&mut conn, "INSERT INTO d.t VALUES (4, 'much too long')").await;
        assert_eq!(code, 1366);
    }
    let sum = {
        let mut conn = daemon.conn().await;
        rows(&mut conn, "CHECKSUM TABLE d.t").await
    };
    daemon.restart();
    let mut conn = daemon.conn().await;
    assert_eq!(
        rows(&mut conn, "SELECT k, v FROM d.t ORDER BY k").await,
        vec![
            vec![Some("1".into()), Some("a".into())],
            vec![Some("2".into()), None],
            vec![Some("3".into()), Some("c".into())],
        ]
    );
    assert_eq!(rows(&mut conn, "CHECKSUM TABLE d.t").await, sum);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_loads_and_reads_lose_and_duplicate_nothing() {
    const WRITERS: i64 = 6;
    const STATEMENTS: i64 = 15;
    const ROWS: i64 = 10;
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "CREATE DATABASE c").await;
    for t in ["t", "expected"] {
        exec(
            &mut conn,
            &format!(
                "CREATE TABLE c.{t} (k BIGINT, w INT) DUPLICATE KEY(k) \
                 PARTITION BY RANGE(k) (PARTITION a VALUES LESS THAN ('500'), \
                 PARTITION b VALUES LESS THAN (MAXVALUE)) DISTRIBUTED BY HASH(k) BUCKETS 3"
            ),
        )
        .await;
    }
    let values = |w: i64, s: i64| {
        (0..ROWS)
            .map(|r| format!("({}, {w})", (w * STATEMENTS + s) * ROWS + r))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let mut conn = daemon.conn().await;
        let done = done.clone();
        readers.push(tokio::spawn(async move {
            let mut last = 0i64;
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let n: i64 = one(&mut conn, "SELECT count(*) FROM c.t")
                    .await
                    .parse()
                    .unwrap();
                // Whole statements only, and never going back.
                assert_eq!(n % ROWS, 0, "a reader saw part of a load: {n}");
                assert!(n >= last, "count went back from {last} to {n}");
                last = n;
                reads += 1;
            }
            reads
        }));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let mut conn = daemon.conn().await;
        writers.push(tokio::spawn(async move {
            for s in 0..STATEMENTS {
                exec(
                    &mut conn,
                    &format!("INSERT INTO c.t VALUES {}", values(w, s)),
                )
                .await;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut reads = 0;
    for r in readers {
        reads += r.await.unwrap();
    }
    for w in 0..WRITERS {
        for s in 0..STATEMENTS {
            exec(
                &mut conn,
                &format!("INSERT INTO c.expected VALUES {}", values(w, s)),
            )
            .await;
        }
    }
    let total = WRITERS * STATEMENTS * ROWS;
    assert_eq!(
        one(&mut conn, "SELECT count(*) FROM c.t").await,
        total.to_string()
    );
    assert_eq!(
        one(&mut conn, "SELECT count(DISTINCT k) FROM c.t").await,
        total.to_string()
    );
    let sums = rows(&mut conn, "CHECKSUM TABLE c.t, c.expected").await;
    assert_eq!(sums[0][1], sums[1][1]);
    println!("concurrent: {WRITERS} writers x {STATEMENTS} INSERTs x {ROWS} rows, {reads} reads");
}

#[tokio::test]
async fn start_up_removes_files_no_table_references() {
    let mut daemon = TestDaemon::start();
    {
        let mut conn = daemon.conn().await;
        exec(&mut conn, "CREATE DATABASE d").await;
        exec(&mut conn, "USE d").await;
        exec(&mut conn, MEMBER).await;
        exec(&mut conn, &MEMBER.replace("sr_member", "gone")).await;
        exec(&mut conn, &format!("INSERT INTO sr_member VALUES {ROWS}")).await;
        exec(&mut conn, &format!("INSERT INTO gone VALUES {ROWS}")).await;
        exec(&mut conn, "TRUNCATE TABLE sr_member PARTITION (p1)").await;
        exec(&mut conn, "DROP TABLE gone").await;
    }
    // What a crash between writing and committing leaves: a finished file and a temp file.
    let stray = daemon.data_dir().join("data").join("424242");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("7.parquet"), b"not committed").unwrap();
    std::fs::write(stray.join("8.parquet.tmp"), b"half written").unwrap();
    let before = parquet_files(&daemon);
    daemon.restart();
    let mut conn = daemon.conn().await;
    let tablets = rows(&mut conn, "SHOW TABLET FROM d.sr_member").await;
    let live_rowsets: usize = tablets
        .iter()
        .map(|t| {
            t[5].clone()
                .unwrap_or_default()
                .parse::<usize>()
                .unwrap_or(0)
        })
        .sum();
    let after = parquet_files(&daemon);
    assert_eq!(
        after, live_rowsets,
        "files left: {after}, committed rowsets: {live_rowsets}"
    );
    // The dropped and truncated files may already be gone (the collector runs while the
    // daemon does); the crash leftovers only go at start-up.
    assert!(before >= after + 2, "before {before}, after {after}");
    assert!(!stray.exists());
    assert_eq!(
        one(&mut conn, "SELECT count(*) FROM d.sr_member").await,
        "4"
    );
}

/// Files of dropped or truncated data are deleted while the daemon runs, once nothing pins
/// them; a query's result stream pins what it reads until the client has read it.
#[tokio::test]
async fn dropped_data_is_deleted_once_unpinned() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "CREATE DATABASE d").await;
    exec(&mut conn, "USE d").await;
    exec(&mut conn, MEMBER).await;
    exec(&mut conn, &MEMBER.replace("sr_member", "gone")).await;
    exec(&mut conn, &format!("INSERT INTO sr_member VALUES {ROWS}")).await;
    exec(&mut conn, &format!("INSERT INTO gone VALUES {ROWS}")).await;
    let kept = parquet_files(&daemon) / 2;
    exec(&mut conn, "DROP TABLE gone").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while parquet_files(&daemon) > kept && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        parquet_files(&daemon),
        kept,
        "the dropped table's files should be gone"
    );
    exec(&mut conn, "TRUNCATE TABLE sr_member").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while parquet_files(&daemon) > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(parquet_files(&daemon), 0);
    assert_eq!(
        one(&mut conn, "SELECT count(*) FROM d.sr_member").await,
        "0"
    );
}

/// A WHERE on the partition column scans only the partitions it can reach: with p1's files
/// removed from disk behind the daemon's back, queries that cannot touch p1 still work and a
/// full scan fails.
#[tokio::test]
async fn where_on_the_partition_column_prunes_partitions() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "CREATE DATABASE d").await;
    exec(&mut conn, "USE d").await;
    exec(&mut conn, MEMBER).await;
    exec(&mut conn, &format!("INSERT INTO sr_member VALUES {ROWS}")).await;
    for tablet in rows(&mut conn, "SHOW TABLET FROM sr_member").await {
        if tablet[2].as_deref() == Some("p1") {
            let dir = daemon
                .data_dir()
                .join("data")
                .join(tablet[0].clone().unwrap());
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    for (sql, want) in [
        (
            "SELECT count(*) FROM sr_member WHERE reg_date = '2022-03-14'",
            "2",
        ),
        (
            "SELECT count(*) FROM sr_member WHERE reg_date >= '2022-03-14'",
            "4",
        ),
        (
            "SELECT count(*) FROM sr_member WHERE reg_date > '2022-03-13'",
            "4",
        ),
        (
            "SELECT count(*) FROM sr_member WHERE reg_date BETWEEN '2022-03-15' AND '2022-03-20'",
            "2",
        ),
        (
            "SELECT count(*) FROM sr_member WHERE reg_date IN ('2022-03-14', '2022-03-15')",
            "4",
        ),
        (
            "SELECT count(*) FROM sr_member WHERE '2022-03-15' <= reg_date AND sr_id > 4",
            "1",
        ),
    ] {
        assert_eq!(one(&mut conn, sql).await, want, "{sql}");
    }
    let (code, _, message) = server_err(&mut conn, "SELECT max(name) FROM sr_member").await;
    assert_ne!(code, 0, "a full scan reads p1's missing files: {message}");
}

#[tokio::test]
async fn files_loads_csv_and_parquet() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "CREATE DATABASE f").await;
    exec(&mut conn, "USE f").await;
    exec(&mut conn, MEMBER).await;
    exec(&mut conn, &MEMBER.replace("sr_member", "from_csv")).await;
    exec(&mut conn, &MEMBER.replace("sr_member", "from_parquet")).await;
    exec(&mut conn, &format!("INSERT INTO sr_member VALUES {ROWS}")).await;

    let dir = tempfile::tempdir().unwrap();
    // Parquet: the rowset files of sr_member (the only table with data so far), copied into
    // one folder, read below with a glob.
    let pq = dir.path().join("parquet");
    std::fs::create_dir_all(&pq).unwrap();
    for tablet in std::fs::read_dir(daemon.data_dir().join("data"))
        .unwrap()
        .flatten()
    {
        for file in std::fs::read_dir(tablet.path()).unwrap().flatten() {
            let name = format!(
                "{}-{}",
                tablet.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            );
            std::fs::copy(file.path(), pq.join(name)).unwrap();
        }
    }
    // CSV with a header line and another separator.
    let csv = dir.path().join("members.csv");
    std::fs::write(
        &csv,
        "sr_id|name|city_code|reg_date\n1|tom|100000|2022-03-13\n2|johndoe|210000|2022-03-14\n\
         3|maruko|200000|2022-03-14\n4|simo|200000|2022-03-15\n5|bb|220000|2022-03-15\n",
    )
    .unwrap();
    exec(
        &mut conn,
        &format!(
            "INSERT INTO from_csv SELECT * FROM FILES(\"path\" = \"file://{}\", \"format\" = \"csv\", \
             \"csv.column_separator\" = \"|\", \"csv.skip_header\" = \"1\")",
            csv.display()
        ),
    )
    .await;

    exec(
        &mut conn,
        &format!(
            "INSERT INTO from_parquet SELECT * FROM FILES('path' = 'file://{}/*.parquet', 'format' = 'parquet')",
            pq.display()
        ),
    )
    .await;
    let sums = rows(
        &mut conn,
        "CHECKSUM TABLE sr_member, from_csv, from_parquet",
    )
    .await;
    assert_eq!(sums[0][1], sums[1][1], "{sums:?}");
    assert_eq!(sums[0][1], sums[2][1], "{sums:?}");

    let (code, _, message) = server_err(
        &mut conn,
        "SELECT * FROM FILES('path' = 's3://bucket/x.parquet', 'format' = 'parquet')",
    )
    .await;
    assert_eq!(code, 1235, "{message}");
    let (code, _, message) = server_err(
        &mut conn,
        "SELECT * FROM FILES('path' = 'file:///tmp/x', 'format' = 'orc')",
    )
    .await;
    assert_eq!(code, 1235, "{message}");
    assert!(message.contains("parquet"), "{message}");
}

#[tokio::test]
async fn every_column_type_round_trips_and_rejects_what_does_not_fit() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "CREATE DATABASE ty").await;
    exec(
        &mut conn,
        "CREATE TABLE ty.t (b BOOLEAN, ti TINYINT, si SMALLINT, i INT, bi BIGINT, li LARGEINT, \
         f FLOAT, db DOUBLE, de DECIMAL(10,2), c CHAR(4), v VARCHAR(8), s STRING, dt DATE, \
         ts DATETIME) DUPLICATE KEY(b) DISTRIBUTED BY RANDOM BUCKETS 2",
    )
    .await;
    exec(
        &mut conn,
        "INSERT INTO ty.t VALUES (true, -128, 32767, -2147483648, 9223372036854775807, \
         99999999999999999999999999999999999999, 1.5, 2.25, 12345678.91, 'abcd', 'héllo', \
         'long text', '2024-02-29', '2024-02-29 23:59:58'), \
         (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    .await;
    let r = rows(&mut conn, "SELECT * FROM ty.t ORDER BY i").await;
    // NULL first in ascending order, as in MySQL.
    assert_eq!(r[0], vec![None; 14]);
    let text: Vec<String> = r[1].iter().map(|c| c.clone().unwrap()).collect();
    assert_eq!(
        text,
        [
            "1",
            "-128",
            "32767",
            "-2147483648",
            "9223372036854775807",
            "99999999999999999999999999999999999999",
            "1.5",
            "2.25",
            "12345678.91",
            "abcd",
            "héllo",
            "long text",
            "2024-02-29",
            "2024-02-29 23:59:58",
        ]
    );
    // The binary protocol (prepared statement) gives the same values.
    let stmt = conn
        .prep("SELECT li, de, dt, ts FROM ty.t WHERE i = ?")
        .await
        .unwrap();
    let row: mysql_async::Row = conn
        .exec_first(&stmt, (-2147483648i64,))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (0..row.len())
            .map(|i| common::value_text(&row[i]))
            .collect::<Vec<_>>(),
        vec![
            Some("99999999999999999999999999999999999999".to_string()),
            Some("12345678.91".to_string()),
            Some("2024-02-29".to_string()),
            Some("2024-02-29 23:59:58".to_string()),
        ]
    );
    for (sql, what, want) in [
        // MySQL's "Out of range value" for numbers that do not fit.
        ("INSERT INTO ty.t (ti) VALUES (128)", "ti", 1264),
        ("INSERT INTO ty.t (de) VALUES (123456789.123)", "de", 1264),
        // "Incorrect value" for what is not a value of the type at all, or too long.
        ("INSERT INTO ty.t (dt) VALUES ('2024-02-30')", "dt", 1366),
        ("INSERT INTO ty.t (v) VALUES ('nine char')", "v", 1366),
    ] {
        let (code, _, message) = server_err(&mut conn, sql).await;
        assert_eq!(code, want, "{sql}: {message}");
        assert!(message.contains(&format!("'{what}'")), "{sql}: {message}");
    }
    assert_eq!(one(&mut conn, "SELECT count(*) FROM ty.t").await, "2");
}

#[tokio::test]
async fn show_table_status_counts_committed_rows() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "CREATE DATABASE st").await;
    exec(&mut conn, "USE st").await;
    exec(&mut conn, MEMBER).await;
    exec(&mut conn, &MEMBER.replace("sr_member", "other")).await;
    exec(&mut conn, &format!("INSERT INTO sr_member VALUES {ROWS}")).await;
    let r = rows(&mut conn, "SHOW TABLE STATUS LIKE 'sr%'").await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0][0].as_deref(), Some("sr_member"));
    assert_eq!(r[0][4].as_deref(), Some("5"));
    assert!(r[0][6].as_deref().unwrap().parse::<u64>().unwrap() > 0);
    let r = rows(&mut conn, "SHOW TABLE STATUS FROM st").await;
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].len(), 18);
}

#[tokio::test]
async fn with_clauses_name_their_own_tables() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "CREATE DATABASE w").await;
    exec(&mut conn, "USE w").await;
    exec(
        &mut conn,
        "CREATE TABLE t (k INT) DUPLICATE KEY(k) DISTRIBUTED BY RANDOM",
    )
    .await;
    exec(&mut conn, "INSERT INTO t VALUES (1), (2)").await;
    assert_eq!(
        one(
            &mut conn,
            "WITH x AS (SELECT k FROM t) SELECT sum(k) FROM x"
        )
        .await,
        "3"
    );
    assert_eq!(
        one(
            &mut conn,
            "SELECT a FROM (WITH y AS (SELECT 5 AS a) SELECT a FROM y) z"
        )
        .await,
        "5"
    );
    assert_eq!(
        one(
            &mut conn,
            "SELECT k FROM t WHERE k IN (WITH q AS (SELECT 2 AS v) SELECT v FROM q)"
        )
        .await,
        "2"
    );
}

#[tokio::test]
async fn insert_into_named_partitions_refuses_rows_of_others() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    exec(&mut conn, "CREATE DATABASE p").await;
    exec(&mut conn, "USE p").await;
    exec(&mut conn, MEMBER).await;
    exec(
        &mut conn,
        "INSERT INTO sr_member PARTITION (p1) VALUES (1, 'a', 1, '2022-03-13')",
    )
    .await;
    let (code, _, message) = server_err(
        &mut conn,
        "INSERT INTO sr_member PARTITION (p1) VALUES (2, 'b', 1, '2022-03-14')",
    )
    .await;
    // MySQL's ER_ROW_DOES_NOT_MATCH_GIVEN_PARTITION_SET.
    assert_eq!(code, 1748, "{message}");
    assert!(message.contains("partition p2"), "{message}");
    assert_eq!(one(&mut conn, "SELECT count(*) FROM sr_member").await, "1");
}
