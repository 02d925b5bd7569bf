//! Compaction of small rowset files (issue 19): in the background and with `ALTER TABLE ...
//! COMPACT`, through real daemons. What queries, CHECKSUM TABLE, BACKUP and RESTORE see never
//! changes; a crash before the commit leaves the table as it was; a backup holding the old
//! files finishes exact; `disable_auto_compaction` keeps the background away.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use crate::common;
use common::backup::{
    assert_no_orphans, backup, checksum, named_rows, restore, scratch_repo, wait_dead,
};
use common::{TestDaemon, exec, rows, server_err};
use mysql_async::prelude::Queryable;

/// A DUPLICATE KEY table of every column type, two buckets.
const MIXED: &str = "CREATE TABLE d.t (k BIGINT NOT NULL, v STRING, amount DECIMAL(10, 2), \
     at DATETIME, f DOUBLE, j JSON, b BOOLEAN, ti TINYINT, si SMALLINT, i INT, big LARGEINT, \
     fl FLOAT, c CHAR(4), vc VARCHAR(20), day DATE, raw VARBINARY(8)) DUPLICATE KEY(k) \
     DISTRIBUTED BY HASH(k) BUCKETS 2";

/// Twenty rows of load `load`; every seventh row is NULL in each nullable column.
fn mixed_rows(load: i64) -> String {
    (0..20)
        .map(|i| {
            let k = load * 100 + i;
            if k % 7 == 3 {
                return format!(
                    "({k}, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
                     NULL, NULL, NULL, NULL)"
                );
            }
            format!(
                "({k}, 'v-{k}-é', {k}.25, '2026-12-0{} 10:{:02}:00', {k}.5e-1, \
                 '{{\"k\": {k}, \"tags\": [\"a\", \"b\"]}}', {}, {}, {}, {}, \
                 {}99999999999999999999999999999999999999, {k}.5, 'c{}', 'vc {k}', \
                 '2024-0{}-1{}', X'0{}FF')",
                1 + load % 9,
                i,
                k % 2 == 0,
                k % 128 - 64,
                -k,
                k * 1000,
                if k % 2 == 0 { "-" } else { "" },
                k % 10,
                1 + k % 9,
                k % 10,
                k % 10,
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Database `d` with table `d.t (k <key_type> NOT NULL, v STRING)`, DUPLICATE KEY, one tablet.
async fn one_tablet_table(conn: &mut mysql_async::Conn, key_type: &str) {
    exec(conn, "CREATE DATABASE d").await;
    exec(
        conn,
        &format!(
            "CREATE TABLE d.t (k {key_type} NOT NULL, v STRING) DUPLICATE KEY(k) \
             DISTRIBUTED BY HASH(k) BUCKETS 1"
        ),
    )
    .await;
}

/// Rowset files per tablet (SHOW TABLET's VersionCount), in tablet order.
async fn files_per_tablet(conn: &mut mysql_async::Conn, table: &str) -> Vec<usize> {
    rows(conn, &format!("SHOW TABLET FROM {table}"))
        .await
        .iter()
        .map(|r| r[5].clone().unwrap().parse().unwrap())
        .collect()
}

/// Everything a reader sees of `table`: its rows in key order and its checksum.
async fn seen(conn: &mut mysql_async::Conn, table: &str) -> (Vec<Vec<Option<String>>>, String) {
    (
        rows(conn, &format!("SELECT * FROM {table} ORDER BY 1, 2")).await,
        checksum(conn, table).await,
    )
}

/// Rows and checksum of a table with rows of the same content (no unique order).
async fn seen_sorted(
    conn: &mut mysql_async::Conn,
    table: &str,
) -> (Vec<Vec<Option<String>>>, String) {
    let mut all = rows(conn, &format!("SELECT * FROM {table}")).await;
    all.sort();
    (all, checksum(conn, table).await)
}

async fn wait_for_files(conn: &mut mysql_async::Conn, table: &str, most: usize) -> Vec<usize> {
    let start = Instant::now();
    loop {
        let files = files_per_tablet(conn, table).await;
        if files.iter().all(|&n| n <= most) {
            return files;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{table} still has {files:?} files per tablet"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Twelve small loads, then compaction turned on: the background merges each tablet's files
/// into one; rows, types and checksum are the same; the table beside it whose property keeps
/// compaction away keeps its files; a BACKUP of the merged table restores exact, and uploaded
/// only the merged files beside the snapshot taken before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_loads_merge_in_the_background_and_readers_see_the_same() {
    let d = TestDaemon::start_with(
        &[
            "--compaction-interval",
            "1",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let mut c = d.conn().await;
    exec(&mut c, "CREATE DATABASE d").await;
    exec(
        &mut c,
        &format!("{MIXED} PROPERTIES (\"disable_auto_compaction\" = \"true\")"),
    )
    .await;
    exec(
        &mut c,
        "CREATE TABLE d.kept (k BIGINT NOT NULL) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) \
         BUCKETS 1 PROPERTIES (\"disable_auto_compaction\" = \"true\")",
    )
    .await;
    for load in 0..12 {
        exec(
            &mut c,
            &format!("INSERT INTO d.t VALUES {}", mixed_rows(load)),
        )
        .await;
        exec(&mut c, &format!("INSERT INTO d.kept VALUES ({load})")).await;
    }
    let before = seen(&mut c, "d.t").await;
    assert_eq!(before.0.len(), 240);
    assert_eq!(files_per_tablet(&mut c, "d.t").await, vec![12, 12]);
    let root = scratch_repo(&d, &mut c, "repo").await;
    let first = backup(&mut c, "d", "before", "repo", "ON (t)").await;
    let objects_before = common::backup::object_files(&root).len();

    exec(
        &mut c,
        "ALTER TABLE d.t SET (\"disable_auto_compaction\" = \"false\")",
    )
    .await;
    assert_eq!(wait_for_files(&mut c, "d.t", 1).await, vec![1, 1]);
    assert_eq!(seen(&mut c, "d.t").await, before);
    let status = rows(&mut c, "SHOW TABLET FROM d.t").await;
    for row in &status {
        let text = row[9].clone().unwrap();
        assert!(
            text.starts_with("cumulative ") && text.ends_with(": 12 files into 1"),
            "CompactionStatus: {text:?}"
        );
    }
    assert_eq!(files_per_tablet(&mut c, "d.kept").await, vec![12]);
    assert_no_orphans(&d, &mut c, "after the merges").await;
    let (_, metrics) =
        crate::operations::http_get(&crate::operations::metrics_addr(&d), "/metrics");
    let value = |s| crate::operations::sample_value(&metrics, s);
    assert_eq!(value("backstop_compactions_total"), 2.0);
    assert_eq!(value("backstop_compacted_files_in_total"), 24.0);
    assert_eq!(value("backstop_compacted_files_out_total"), 2.0);
    assert_eq!(value("backstop_compaction_failures_total"), 0.0);

    // The next backup uploads the two merged files and nothing else; both snapshots restore.
    let second = backup(&mut c, "d", "after", "repo", "ON (t)").await;
    assert_eq!(
        common::backup::object_files(&root).len(),
        objects_before + 2,
        "only the merged files are new objects"
    );
    restore(&mut c, "d", "after", "repo", "ON (t AS t_after)", &second).await;
    restore(&mut c, "d", "before", "repo", "ON (t AS t_before)", &first).await;
    assert_eq!(seen(&mut c, "d.t_after").await, before);
    assert_eq!(seen(&mut c, "d.t_before").await, before);
}

/// A PRIMARY KEY table after upserts and DELETEs: BASE COMPACT folds every delete file into one
/// data file per tablet; the rows and checksum are the same, and upserts and deletes after it
/// apply to the merged file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_compaction_folds_the_deletes_of_a_primary_key_table() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    exec(&mut c, "CREATE DATABASE d").await;
    exec(
        &mut c,
        "CREATE TABLE d.pk (k INT NOT NULL, v BIGINT, s STRING) PRIMARY KEY(k) \
         DISTRIBUTED BY HASH(k) BUCKETS 2",
    )
    .await;
    for s in 0..10i64 {
        let sql = if s % 3 == 2 {
            format!("DELETE FROM d.pk WHERE k % 5 = {}", s % 5)
        } else {
            let values: Vec<String> = (0..8)
                .map(|i| format!("({}, {s}, 'text {s}')", (s * 3 + i) % 20))
                .collect();
            format!("INSERT INTO d.pk VALUES {}", values.join(", "))
        };
        exec(&mut c, &sql).await;
    }
    let before = seen(&mut c, "d.pk").await;
    let files = files_per_tablet(&mut c, "d.pk").await;
    assert!(files.iter().all(|&n| n > 3), "{files:?}");
    let merged_away = files.iter().sum::<usize>() - 2;
    let result = c
        .query_iter("ALTER TABLE d.pk BASE COMPACT")
        .await
        .unwrap()
        .affected_rows();
    assert_eq!(result as usize, merged_away);
    assert_eq!(files_per_tablet(&mut c, "d.pk").await, vec![1, 1]);
    assert_eq!(seen(&mut c, "d.pk").await, before);
    assert_no_orphans(&d, &mut c, "after BASE COMPACT").await;

    exec(
        &mut c,
        "INSERT INTO d.pk VALUES (1, 100, 'new'), (2, 200, 'new'), (19, 1900, 'new')",
    )
    .await;
    exec(&mut c, "DELETE FROM d.pk WHERE k = 3").await;
    let after = rows(
        &mut c,
        "SELECT k, v FROM d.pk WHERE k IN (1, 2, 3, 19) ORDER BY k",
    )
    .await;
    assert_eq!(
        after,
        vec![
            vec![Some("1".into()), Some("100".into())],
            vec![Some("2".into()), Some("200".into())],
            vec![Some("19".into()), Some("1900".into())],
        ]
    );
    let count: Vec<Vec<Option<String>>> = rows(&mut c, "SELECT COUNT(*) FROM d.pk").await;
    let shown: u64 = rows(&mut c, "SHOW TABLET FROM d.pk")
        .await
        .iter()
        .map(|r| r[6].clone().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(count[0][0].clone().unwrap().parse::<u64>().unwrap(), shown);
    // Nothing left to do: a second BASE COMPACT of one-file tablets merges nothing.
    exec(&mut c, "ALTER TABLE d.pk BASE COMPACT").await;
    let again = c
        .query_iter("ALTER TABLE d.pk BASE COMPACT")
        .await
        .unwrap()
        .affected_rows();
    assert_eq!(again, 0);
}

/// Files written before an ADD COLUMN keep their columns: compaction merges them apart from the
/// newer files, and the checksum (each file hashes its own columns) does not move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_another_shape_are_merged_apart() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    one_tablet_table(&mut c, "BIGINT").await;
    for i in 0..6 {
        exec(&mut c, &format!("INSERT INTO d.t VALUES ({i}, 'old {i}')")).await;
    }
    exec(&mut c, "ALTER TABLE d.t ADD COLUMN extra INT").await;
    for i in 6..12 {
        exec(
            &mut c,
            &format!("INSERT INTO d.t VALUES ({i}, 'new {i}', {i})"),
        )
        .await;
    }
    let before = seen(&mut c, "d.t").await;
    exec(&mut c, "ALTER TABLE d.t COMPACT").await;
    assert_eq!(
        files_per_tablet(&mut c, "d.t").await,
        vec![2],
        "one file per shape"
    );
    assert_eq!(seen(&mut c, "d.t").await, before);
    let again = c
        .query_iter("ALTER TABLE d.t BASE COMPACT")
        .await
        .unwrap()
        .affected_rows();
    assert_eq!(again, 0, "each shape is one file already");
    assert_eq!(seen(&mut c, "d.t").await, before);
}

/// A daemon that dies after writing a merge's files, before the catalog commits them: after
/// the restart the table is as it was and the written files are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_the_commit_leaves_the_table_as_it_was() {
    let mut d = TestDaemon::start_with(
        &[],
        &[("BACKSTOP_FAILPOINTS", "compaction.before_commit=crash")],
    );
    let before = {
        let mut c = d.conn().await;
        exec(&mut c, "CREATE DATABASE d").await;
        exec(&mut c, MIXED).await;
        for load in 0..6 {
            exec(
                &mut c,
                &format!("INSERT INTO d.t VALUES {}", mixed_rows(load)),
            )
            .await;
        }
        let before = seen(&mut c, "d.t").await;
        assert!(c.query_drop("ALTER TABLE d.t COMPACT").await.is_err());
        before
    };
    wait_dead(&mut d).await;
    d.kill9();
    d.set_env("BACKSTOP_FAILPOINTS", None);
    d.start_again();
    let mut c = d.conn().await;
    assert_eq!(files_per_tablet(&mut c, "d.t").await, vec![6, 6]);
    assert_eq!(seen(&mut c, "d.t").await, before);
    assert_no_orphans(&d, &mut c, "after the restart").await;
    exec(&mut c, "ALTER TABLE d.t COMPACT").await;
    assert_eq!(files_per_tablet(&mut c, "d.t").await, vec![1, 1]);
    assert_eq!(seen(&mut c, "d.t").await, before);
}

/// A BACKUP that pinned the old files before a compaction uploads them after it: the snapshot
/// restores the table exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_holding_the_old_files_finishes_exact() {
    let (d, points) = common::backup::daemon_paused_at("backup.after_object_upload");
    let mut c = d.conn().await;
    exec(&mut c, "CREATE DATABASE d").await;
    exec(&mut c, MIXED).await;
    for load in 0..8 {
        exec(
            &mut c,
            &format!("INSERT INTO d.t VALUES {}", mixed_rows(load)),
        )
        .await;
    }
    let before = seen(&mut c, "d.t").await;
    scratch_repo(&d, &mut c, "repo").await;
    exec(&mut c, "BACKUP SNAPSHOT d.held TO repo ON (t)").await;
    common::backup::wait_reached(points.path(), "backup.after_object_upload").await;
    exec(&mut c, "ALTER TABLE d.t COMPACT").await;
    assert_eq!(files_per_tablet(&mut c, "d.t").await, vec![1, 1]);
    // The collector runs meanwhile; the pinned files must stay.
    tokio::time::sleep(Duration::from_millis(300)).await;
    common::backup::resume(points.path(), "backup.after_object_upload");
    let job = common::backup::wait_done(&mut c, "BACKUP", "d").await;
    assert_eq!(job.get("Status"), "[OK]", "{job:?}");
    let ts = common::backup::timestamps(&mut c, "repo", "held").await;
    restore(&mut c, "d", "held", "repo", "ON (t AS copy)", &ts[0]).await;
    assert_eq!(seen(&mut c, "d.copy").await, before);
    assert_no_orphans(&d, &mut c, "after the backup").await;
}

/// What ALTER TABLE ... COMPACT refuses, and the property's values.
#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    exec(&mut c, "CREATE DATABASE d").await;
    exec(
        &mut c,
        "CREATE TABLE d.t (k INT NOT NULL) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1",
    )
    .await;
    let (code, _, msg) = server_err(&mut c, "ALTER TABLE d.nope COMPACT").await;
    assert_eq!(code, 1146, "{msg}");
    let (code, _, msg) = server_err(&mut c, "ALTER TABLE d.t COMPACT p9").await;
    assert!(msg.contains("p9"), "{code} {msg}");
    let (_, _, msg) = server_err(
        &mut c,
        "ALTER TABLE d.t SET (\"disable_auto_compaction\" = \"maybe\")",
    )
    .await;
    assert!(
        msg.contains("disable_auto_compaction") && msg.contains("true"),
        "{msg}"
    );
    let (_, _, msg) = server_err(
        &mut c,
        "CREATE TABLE d.u (k INT NOT NULL) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1 \
         PROPERTIES (\"disable_auto_compaction\" = \"yes\")",
    )
    .await;
    assert!(msg.contains("disable_auto_compaction"), "{msg}");
    // A table of one file per tablet: nothing to merge.
    exec(&mut c, "INSERT INTO d.t VALUES (1)").await;
    let n = c
        .query_iter("ALTER TABLE d.t COMPACT")
        .await
        .unwrap()
        .affected_rows();
    assert_eq!(n, 0);
    let shown = named_rows(&mut c, "SHOW TABLET FROM d.t").await;
    assert_eq!(shown[0].get("CompactionStatus"), "");
}

/// A DUPLICATE KEY table loaded twice with the same rows (files of one content) and a DELETE:
/// a load after the DELETE is seen whole (its file is not the deleted one's twin); COMPACT and
/// BASE COMPACT merge the twins together and every reader sees the same before and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twins_and_deletes_of_a_duplicate_key_table() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    one_tablet_table(&mut c, "INT").await;
    let batch = "INSERT INTO d.t VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')";
    for _ in 0..3 {
        exec(&mut c, batch).await;
    }
    exec(&mut c, "DELETE FROM d.t WHERE k = 2").await;
    // The same rows again, after the DELETE: all four are there.
    exec(&mut c, batch).await;
    let counted = rows(&mut c, "SELECT k, count(*) FROM d.t GROUP BY k ORDER BY k").await;
    assert_eq!(
        counted,
        vec![
            vec![Some("1".into()), Some("4".into())],
            vec![Some("2".into()), Some("1".into())],
            vec![Some("3".into()), Some("4".into())],
            vec![Some("4".into()), Some("4".into())],
        ]
    );
    exec(&mut c, "DELETE FROM d.t WHERE k = 3").await;
    exec(&mut c, "INSERT INTO d.t VALUES (5, 'e')").await;
    let before = seen_sorted(&mut c, "d.t").await;
    assert_eq!(before.0.len(), 4 + 1 + 4 + 1);
    exec(&mut c, "ALTER TABLE d.t COMPACT").await;
    assert_eq!(seen_sorted(&mut c, "d.t").await, before);
    exec(&mut c, "ALTER TABLE d.t BASE COMPACT").await;
    assert_eq!(files_per_tablet(&mut c, "d.t").await, vec![1]);
    assert_eq!(seen_sorted(&mut c, "d.t").await, before);
    assert_no_orphans(&d, &mut c, "after the merges").await;
}

/// A merge held before its commit while the table changes: an identical DUPLICATE KEY load
/// and a DELETE meanwhile, or a TRUNCATE, make the catalog refuse it; the statement says so,
/// nothing is lost, and no file is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_the_table_changed_under_is_refused() {
    let (d, points) = common::backup::daemon_paused_at("compaction.before_commit");
    let mut c = d.conn().await;
    one_tablet_table(&mut c, "INT").await;
    for i in 0..5 {
        exec(&mut c, &format!("INSERT INTO d.t VALUES ({i}, 'v{i}')")).await;
    }
    let opts = d.opts();
    let held = tokio::spawn(async move {
        let mut other = mysql_async::Conn::new(opts).await.unwrap();
        other.query_drop("ALTER TABLE d.t COMPACT").await
    });
    common::backup::wait_reached(points.path(), "compaction.before_commit").await;
    exec(&mut c, "INSERT INTO d.t VALUES (9, 'v9')").await;
    exec(&mut c, "TRUNCATE TABLE d.t").await;
    exec(&mut c, "INSERT INTO d.t VALUES (7, 'v7')").await;
    common::backup::resume(points.path(), "compaction.before_commit");
    let e = held.await.unwrap().unwrap_err().to_string();
    assert!(e.contains("changed while it was compacted"), "{e}");
    assert_eq!(
        rows(&mut c, "SELECT k, v FROM d.t").await,
        vec![vec![Some("7".into()), Some("v7".into())]]
    );
    assert_no_orphans(&d, &mut c, "after the refused merge").await;
}

/// A column dropped before a merge stays in the merged file (files keep their columns), so
/// its name still cannot be added back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_column_stays_where_add_column_looks() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    exec(&mut c, "CREATE DATABASE d").await;
    exec(
        &mut c,
        "CREATE TABLE d.t (k INT NOT NULL, v STRING, gone INT) DUPLICATE KEY(k) \
         DISTRIBUTED BY HASH(k) BUCKETS 1",
    )
    .await;
    for i in 0..5 {
        exec(
            &mut c,
            &format!("INSERT INTO d.t VALUES ({i}, 'v{i}', {i})"),
        )
        .await;
    }
    exec(&mut c, "ALTER TABLE d.t DROP COLUMN gone").await;
    let before = seen(&mut c, "d.t").await;
    exec(&mut c, "ALTER TABLE d.t COMPACT").await;
    assert_eq!(files_per_tablet(&mut c, "d.t").await, vec![1]);
    assert_eq!(seen(&mut c, "d.t").await, before);
    let (code, _, msg) = server_err(&mut c, "ALTER TABLE d.t ADD COLUMN gone INT").await;
    assert_eq!(code, 1235, "{msg}");
}
