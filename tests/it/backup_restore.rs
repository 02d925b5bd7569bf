//! BACKUP / RESTORE end to end over `file://` repositories, through the MySQL protocol:
//! - StarRocks' documented walkthrough through the `mysql` CLI, restoring on a second server that
//!   shares the repository (migration);
//! - database, table and partition snapshots; restoring chosen partitions, under an `AS` alias,
//!   over a table with the same schema, and the refusal over a different schema;
//! - submission errors (code and text), one job per database, DROP REPOSITORY of a busy repository;
//! - what a snapshot holds (rows committed before it, never part of a load);
//! - CANCEL at every state a failpoint holds a job in, and the refusal once COMMIT began;
//! - kill -9 during a backup and during a restore (before, inside and after the commit began);
//! - damaged and missing objects, a manifest changed after COMMIT;
//! - incremental uploads, timeouts, the free-space check, and state surviving a restart.
//!
//! Jobs are followed by polling SHOW BACKUP / SHOW RESTORE until they end (30 s deadline); a job
//! held at a failpoint is recognised by the daemon's `paused at failpoint` log line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::backup::*;
use common::{TestDaemon, exec, rows, run_with_deadline, server_err};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

const SHOW_BACKUP_COLUMNS: [&str; 14] = [
    "JobId",
    "SnapshotName",
    "DbName",
    "State",
    "BackupObjs",
    "CreateTime",
    "SnapshotFinishedTime",
    "UploadFinishedTime",
    "FinishedTime",
    "UnfinishedTasks",
    "Progress",
    "TaskErrMsg",
    "Status",
    "Timeout",
];

const SHOW_RESTORE_COLUMNS: [&str; 18] = [
    "JobId",
    "Label",
    "Timestamp",
    "DbName",
    "State",
    "AllowLoad",
    "ReplicationNum",
    "RestoreObjs",
    "CreateTime",
    "MetaPreparedTime",
    "SnapshotFinishedTime",
    "DownloadFinishedTime",
    "FinishedTime",
    "UnfinishedTasks",
    "Progress",
    "TaskErrMsg",
    "Status",
    "Timeout",
];

// ---------------------------------------------------------------------------------------------
// 1. The walkthrough through the mysql CLI, migrating to a second server

/// The session, as a user would type it. `-- @server NAME` starts the lines sent to that server;
/// `-- @wait SQL` polls SQL (through the CLI too) until the job's State is FINISHED or
/// CANCELLED. `{location}` and `{timestamp}` (from the source's SHOW SNAPSHOT) are filled in.
const WALKTHROUGH: &str = r#"-- @server source
CREATE REPOSITORY test_repo WITH BROKER ON LOCATION "{location}";
CREATE DATABASE sr_hub;
USE sr_hub;
CREATE TABLE sr_member (
    sr_id INT NOT NULL,
    name STRING,
    city_code INT,
    reg_date DATE NOT NULL
) DUPLICATE KEY(sr_id)
PARTITION BY RANGE(reg_date) (
    PARTITION p1 VALUES [('2022-03-13'), ('2022-03-14')),
    PARTITION p2 VALUES [('2022-03-14'), ('2022-03-15')),
    PARTITION p3 VALUES [('2022-03-15'), ('2022-03-16'))
) DISTRIBUTED BY HASH(sr_id) BUCKETS 4
PROPERTIES ("replication_num" = "1");
INSERT INTO sr_member VALUES
    (1, 'tom', 100000, '2022-03-13'),
    (2, 'johndoe', 210000, '2022-03-14'),
    (3, 'maruko', 200000, '2022-03-14'),
    (4, 'simo', 200000, '2022-03-15'),
    (5, 'bb', 220000, '2022-03-15');
BACKUP SNAPSHOT sr_hub.sr_member_backup TO test_repo ON (sr_member);
-- @wait SHOW BACKUP FROM sr_hub
SHOW BACKUP;
SHOW SNAPSHOT ON test_repo;
CHECKSUM TABLE sr_hub.sr_member;
SELECT * FROM sr_hub.sr_member ORDER BY sr_id;
-- @server target
CREATE REPOSITORY test_repo WITH BROKER ON LOCATION "{location}";
SHOW SNAPSHOT ON test_repo;
RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo ON (sr_member)
PROPERTIES ("backup_timestamp" = "{timestamp}", "replication_num" = "1");
-- @wait SHOW RESTORE FROM sr_hub
SHOW RESTORE;
CHECKSUM TABLE sr_hub.sr_member;
SELECT * FROM sr_hub.sr_member ORDER BY sr_id;
"#;

/// Runs `input` through `mysql --batch` against `daemon`; the session must succeed silently on
/// stderr.
fn mysql_batch(daemon: &TestDaemon, input: &str) -> String {
    let mut cmd = daemon.mysql_batch_command();
    let out = run_with_deadline(&mut cmd, input, Duration::from_secs(60));
    assert!(
        out.status.success() && out.stderr.trim().is_empty(),
        "mysql CLI session failed\n--- input ---\n{input}\n{out}"
    );
    out.stdout
}

/// Result sets of one CLI session: (header line, rows split at tabs).
type ResultSets = Vec<(String, Vec<Vec<String>>)>;

/// Splits `mysql --batch` output into result sets, each starting at one of the known headers.
fn result_sets(out: &str, headers: &[String]) -> ResultSets {
    let mut sets: ResultSets = Vec::new();
    for line in out.lines() {
        if headers.iter().any(|h| h == line) {
            sets.push((line.to_string(), Vec::new()));
        } else if let Some((_, rows)) = sets.last_mut() {
            rows.push(line.split('\t').map(String::from).collect());
        } else {
            panic!("output before any known header: {line:?}\n{out}");
        }
    }
    sets
}

/// Polls `sql` through the CLI until the State cell is FINISHED or CANCELLED; returns the row.
fn cli_wait(daemon: &TestDaemon, sql: &str) -> Vec<String> {
    let start = Instant::now();
    loop {
        let out = mysql_batch(daemon, &format!("{sql};\n"));
        let mut lines = out.lines();
        if let (Some(header), Some(row)) = (lines.next(), lines.next()) {
            let header: Vec<&str> = header.split('\t').collect();
            let row: Vec<String> = row.split('\t').map(String::from).collect();
            let state = header.iter().position(|h| *h == "State").unwrap();
            if matches!(row[state].as_str(), "FINISHED" | "CANCELLED") {
                return row;
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{sql}: the job did not end within {DEADLINE:?}; last output:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cell<'a>(header: &str, row: &'a [String], column: &str) -> &'a str {
    let i = header
        .split('\t')
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("no column {column} in {header:?}"));
    &row[i]
}

#[test]
fn walkthrough_through_the_mysql_cli_restores_on_a_second_server() {
    let repo_dir = tempfile::Builder::new()
        .prefix("backstop-repo-")
        .tempdir()
        .unwrap();
    let source = TestDaemon::start();
    let target = TestDaemon::start();
    let backup_header = SHOW_BACKUP_COLUMNS.join("\t");
    let restore_header = SHOW_RESTORE_COLUMNS.join("\t");
    let snapshot_header = "Snapshot\tTimestamp\tStatus".to_string();
    let checksum_header = "Table\tChecksum".to_string();
    let select_header = "sr_id\tname\tcity_code\treg_date".to_string();
    let headers = [
        backup_header.clone(),
        restore_header.clone(),
        snapshot_header.clone(),
        checksum_header.clone(),
        select_header.clone(),
    ];

    // Run the session chunk by chunk, keeping each server's result sets.
    let mut outputs: Vec<(&str, ResultSets)> = Vec::new();
    let mut server = "source";
    let mut chunk = String::new();
    let mut timestamp = String::new();
    let run = |server: &str, chunk: &str, timestamp: &str| {
        let daemon = if server == "source" { &source } else { &target };
        let input = chunk
            .replace("{location}", &location(repo_dir.path()))
            .replace("{timestamp}", timestamp);
        if input.trim().is_empty() {
            return Vec::new();
        }
        result_sets(&mysql_batch(daemon, &input), &headers)
    };
    let mut waits = Vec::new();
    for line in WALKTHROUGH.lines() {
        if let Some(name) = line.strip_prefix("-- @server ") {
            let sets = run(server, &chunk, &timestamp);
            outputs.push((server, sets));
            chunk.clear();
            server = if name == "source" { "source" } else { "target" };
        } else if let Some(sql) = line.strip_prefix("-- @wait ") {
            let sets = run(server, &chunk, &timestamp);
            outputs.push((server, sets));
            chunk.clear();
            let daemon = if server == "source" { &source } else { &target };
            waits.push(cli_wait(daemon, sql));
        } else {
            chunk.push_str(line);
            chunk.push('\n');
        }
        // The source's SHOW SNAPSHOT gives the timestamp the target restores.
        for (s, sets) in &outputs {
            if *s == "source"
                && timestamp.is_empty()
                && let Some((_, rows)) = sets.iter().find(|(h, _)| *h == snapshot_header)
            {
                timestamp = rows[0][1].clone();
            }
        }
    }
    let sets = run(server, &chunk, &timestamp);
    outputs.push((server, sets));

    let find = |server: &str, header: &str| -> Vec<Vec<String>> {
        outputs
            .iter()
            .filter(|(s, _)| *s == server)
            .flat_map(|(_, sets)| sets)
            .find(|(h, _)| h == header)
            .map(|(_, rows)| rows.clone())
            .unwrap_or_else(|| {
                panic!("{server}: no result set with header {header:?}: {outputs:?}")
            })
    };
    assert_eq!(waits.len(), 2, "{waits:?}");

    // SHOW BACKUP: 14 columns, the finished job.
    let backup_rows = find("source", &backup_header);
    assert_eq!(backup_rows.len(), 1, "{backup_rows:?}");
    let b = &backup_rows[0];
    assert_eq!(b.len(), 14, "{b:?}");
    assert!(
        cell(&backup_header, b, "JobId").parse::<u64>().is_ok(),
        "{b:?}"
    );
    assert_eq!(cell(&backup_header, b, "SnapshotName"), "sr_member_backup");
    assert_eq!(cell(&backup_header, b, "DbName"), "sr_hub");
    assert_eq!(cell(&backup_header, b, "State"), "FINISHED");
    assert_eq!(cell(&backup_header, b, "BackupObjs"), "[sr_hub.sr_member]");
    for column in [
        "CreateTime",
        "SnapshotFinishedTime",
        "UploadFinishedTime",
        "FinishedTime",
    ] {
        assert!(
            is_datetime(cell(&backup_header, b, column)),
            "{column}: {b:?}"
        );
    }
    assert_eq!(cell(&backup_header, b, "UnfinishedTasks"), "");
    assert!(
        cell(&backup_header, b, "Progress").starts_with("[objects: "),
        "{b:?}"
    );
    assert_eq!(cell(&backup_header, b, "TaskErrMsg"), "");
    assert_eq!(cell(&backup_header, b, "Status"), "[OK]");
    assert_eq!(cell(&backup_header, b, "Timeout"), "86400");
    assert_eq!(&waits[0], b, "the polled row and SHOW BACKUP agree");

    // SHOW SNAPSHOT: 3 columns, OK, the same on both servers.
    let snap_source = find("source", &snapshot_header);
    assert_eq!(snap_source.len(), 1, "{snap_source:?}");
    assert_eq!(snap_source[0][0], "sr_member_backup");
    assert!(is_snapshot_timestamp(&timestamp), "{timestamp:?}");
    assert_eq!(snap_source[0][1], timestamp);
    assert_eq!(snap_source[0][2], "OK");
    assert_eq!(find("target", &snapshot_header), snap_source);

    // SHOW RESTORE: 18 columns, the finished job.
    let restore_rows = find("target", &restore_header);
    assert_eq!(restore_rows.len(), 1, "{restore_rows:?}");
    let r = &restore_rows[0];
    assert_eq!(r.len(), 18, "{r:?}");
    assert!(
        cell(&restore_header, r, "JobId").parse::<u64>().is_ok(),
        "{r:?}"
    );
    assert_eq!(cell(&restore_header, r, "Label"), "sr_member_backup");
    assert_eq!(cell(&restore_header, r, "Timestamp"), timestamp);
    assert_eq!(cell(&restore_header, r, "DbName"), "sr_hub");
    assert_eq!(cell(&restore_header, r, "State"), "FINISHED");
    assert_eq!(cell(&restore_header, r, "AllowLoad"), "false");
    assert_eq!(cell(&restore_header, r, "ReplicationNum"), "1");
    assert_eq!(cell(&restore_header, r, "RestoreObjs"), "sr_member");
    for column in [
        "CreateTime",
        "MetaPreparedTime",
        "SnapshotFinishedTime",
        "DownloadFinishedTime",
        "FinishedTime",
    ] {
        assert!(
            is_datetime(cell(&restore_header, r, column)),
            "{column}: {r:?}"
        );
    }
    assert_eq!(cell(&restore_header, r, "UnfinishedTasks"), "");
    assert_eq!(cell(&restore_header, r, "TaskErrMsg"), "");
    assert_eq!(cell(&restore_header, r, "Status"), "[OK]");
    assert_eq!(cell(&restore_header, r, "Timeout"), "86400");
    assert_eq!(&waits[1], r, "the polled row and SHOW RESTORE agree");

    // The same data on both servers.
    let sums = (
        find("source", &checksum_header),
        find("target", &checksum_header),
    );
    assert_eq!(sums.0, sums.1, "CHECKSUM TABLE differs");
    assert_eq!(sums.0[0][0], "sr_hub.sr_member");
    assert_ne!(sums.0[0][1], "0");
    let data = (
        find("source", &select_header),
        find("target", &select_header),
    );
    assert_eq!(data.0.len(), 5, "{data:?}");
    assert_eq!(data.0, data.1, "SELECT differs between the servers");
}

// ---------------------------------------------------------------------------------------------
// 2. What a snapshot holds and how it comes back

#[tokio::test]
async fn database_and_table_backups_restore_into_new_databases() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    scratch_repo(&d, &mut c, "repo").await;
    let original = fingerprint(&mut c, &["shop.sr_member", "shop.sr_order"]).await;

    // No ON: every table of the database.
    let ts = backup(&mut c, "shop", "whole", "repo", "").await;
    let b = show_job(&mut c, "BACKUP", "shop").await.unwrap();
    assert_eq!(b.columns(), SHOW_BACKUP_COLUMNS);
    let mut objs: Vec<&str> = b.get("BackupObjs").split(", ").collect();
    objs.sort();
    assert_eq!(objs, ["[shop.sr_member]", "[shop.sr_order]"], "{b:?}");

    // Restored into a database that does not exist: it is created with both tables.
    let r = restore(&mut c, "shop_copy", "whole", "repo", "", &ts).await;
    assert_eq!(r.columns(), SHOW_RESTORE_COLUMNS);
    let mut objs: Vec<&str> = r.get("RestoreObjs").split(", ").collect();
    objs.sort();
    assert_eq!(objs, ["sr_member", "sr_order"], "{r:?}");
    assert_eq!(r.get("DbName"), "shop_copy");
    assert_eq!(r.get("Timestamp"), ts);
    assert_eq!(
        table_names(&mut c, "shop_copy").await,
        ["sr_member", "sr_order"]
    );
    let copy = fingerprint(&mut c, &["shop_copy.sr_member", "shop_copy.sr_order"]).await;
    for (o, k) in original.iter().zip(&copy) {
        assert_eq!((&o.1, o.2), (&k.1, k.2), "{o:?} vs {k:?}");
    }
    assert_eq!(
        all_rows(&mut c, "shop.sr_order").await,
        all_rows(&mut c, "shop_copy.sr_order").await
    );
    assert_eq!(
        partition_names(&mut c, "shop_copy.sr_member").await,
        ["p1", "p2", "p3"]
    );
    // Restored tables take loads like any other.
    exec(
        &mut c,
        "INSERT INTO shop_copy.sr_member VALUES (6, 'new', 1, '2022-03-15')",
    )
    .await;
    assert_eq!(count(&mut c, "shop_copy.sr_member").await, 6);

    // DATABASE <db in snapshot> AS <target>, and the snapshot's own database by default.
    let r = restore_with(
        &mut c,
        &format!(
            "RESTORE SNAPSHOT whole FROM repo DATABASE shop AS shop_again PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
        ),
        "shop_again",
    )
    .await;
    assert_eq!(r.get("DbName"), "shop_again");
    assert_eq!(
        checksum(&mut c, "shop_again.sr_member").await,
        original[0].1
    );
    let (code, _, msg) = server_err(
        &mut c,
        &format!(
            "RESTORE SNAPSHOT whole FROM repo DATABASE nosuch PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
        ),
    )
    .await;
    assert_eq!(
        (code, msg.as_str()),
        (5064, "target database: nosuch is not existed in snapshot")
    );
    exec(
        &mut c,
        "INSERT INTO shop.sr_order VALUES (500, 1, 1.00, 'x')",
    )
    .await;
    let r = restore_with(
        &mut c,
        &format!("RESTORE SNAPSHOT whole FROM repo PROPERTIES (\"backup_timestamp\" = \"{ts}\")"),
        "shop",
    )
    .await;
    assert_eq!(r.get("DbName"), "shop");
    assert_eq!(
        fingerprint(&mut c, &["shop.sr_member", "shop.sr_order"]).await,
        original
    );

    // ON (one table): only that table is in the snapshot.
    let ts = backup(&mut c, "shop", "orders", "repo", "ON (sr_order)").await;
    let b = show_job(&mut c, "BACKUP", "shop").await.unwrap();
    assert_eq!(b.get("BackupObjs"), "[shop.sr_order]");
    let r = restore(&mut c, "shop_orders", "orders", "repo", "", &ts).await;
    assert_eq!(r.get("RestoreObjs"), "sr_order");
    assert_eq!(table_names(&mut c, "shop_orders").await, ["sr_order"]);
    assert_eq!(
        checksum(&mut c, "shop_orders.sr_order").await,
        original[1].1
    );
    assert_no_orphans(&d, &mut c, "after the restores").await;
}

#[tokio::test]
async fn partition_backup_and_restoring_chosen_partitions() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    scratch_repo(&d, &mut c, "repo").await;

    // A snapshot of one partition.
    let ts_p1 = backup(
        &mut c,
        "shop",
        "member_p1",
        "repo",
        "ON (sr_member PARTITION (p1))",
    )
    .await;
    let b = show_job(&mut c, "BACKUP", "shop").await.unwrap();
    assert_eq!(b.get("BackupObjs"), "[shop.sr_memberPARTITIONS (p1)]");
    restore(
        &mut c,
        "shop",
        "member_p1",
        "repo",
        "ON (sr_member AS member_p1)",
        &ts_p1,
    )
    .await;
    assert_eq!(partition_names(&mut c, "shop.member_p1").await, ["p1"]);
    assert_eq!(ids(&mut c, "shop.member_p1").await, [1]);

    // Chosen partitions of a whole-table snapshot, under a new name.
    let ts = backup(&mut c, "shop", "member", "repo", "ON (sr_member)").await;
    let r = restore(
        &mut c,
        "shop",
        "member",
        "repo",
        "ON (sr_member PARTITION (p2, p3) AS member_p23)",
        &ts,
    )
    .await;
    assert_eq!(r.get("RestoreObjs"), "sr_member PARTITIONS [p2, p3]");
    assert_eq!(
        partition_names(&mut c, "shop.member_p23").await,
        ["p2", "p3"]
    );
    assert_eq!(ids(&mut c, "shop.member_p23").await, [2, 3, 4, 5]);

    // One partition of an existing table: only that partition goes back to the snapshot.
    exec(
        &mut c,
        "INSERT INTO shop.sr_member VALUES (6, 'new-p1', 1, '2022-03-13'), (7, 'new-p2', 1, '2022-03-14')",
    )
    .await;
    restore(
        &mut c,
        "shop",
        "member",
        "repo",
        "ON (sr_member PARTITION (p1))",
        &ts,
    )
    .await;
    assert_eq!(ids(&mut c, "shop.sr_member").await, [1, 2, 3, 4, 5, 7]);
    assert_no_orphans(&d, &mut c, "after the partition restores").await;
}

#[tokio::test]
async fn restore_as_an_alias_beside_the_original() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    let root = scratch_repo(&d, &mut c, "repo").await;
    let ts = backup(&mut c, "shop", "snap", "repo", "").await;
    let original = checksum(&mut c, "shop.sr_member").await;
    let (in_manifest, manifest_rows) = manifest_checksum(&root, "snap", &ts, "sr_member");
    assert_eq!(in_manifest, original, "the manifest records CHECKSUM TABLE");
    assert_eq!(manifest_rows, 5);

    let r = restore(
        &mut c,
        "shop",
        "snap",
        "repo",
        "ON (sr_member AS sr_member_copy)",
        &ts,
    )
    .await;
    // RestoreObjs names the snapshot's table, not the alias (StarRocks).
    assert_eq!(r.get("RestoreObjs"), "sr_member");
    assert_eq!(
        table_names(&mut c, "shop").await,
        ["sr_member", "sr_member_copy", "sr_order"]
    );
    assert_eq!(checksum(&mut c, "shop.sr_member_copy").await, original);
    assert_eq!(checksum(&mut c, "shop.sr_member").await, original);
    assert_eq!(
        all_rows(&mut c, "shop.sr_member").await,
        all_rows(&mut c, "shop.sr_member_copy").await
    );
    // The copy has the original's definition under its own name.
    let ddl = |r: Vec<Vec<Option<String>>>| r[0][1].clone().unwrap();
    let a = ddl(rows(&mut c, "SHOW CREATE TABLE shop.sr_member").await);
    let b = ddl(rows(&mut c, "SHOW CREATE TABLE shop.sr_member_copy").await);
    assert_eq!(
        a.replace("sr_member", "T"),
        b.replace("sr_member_copy", "T")
    );

    // An unpartitioned table under an alias.
    restore(
        &mut c,
        "shop",
        "snap",
        "repo",
        "ON (sr_order AS sr_order_copy)",
        &ts,
    )
    .await;
    assert_eq!(
        checksum(&mut c, "shop.sr_order_copy").await,
        checksum(&mut c, "shop.sr_order").await
    );
    assert_eq!(count(&mut c, "shop.sr_order_copy").await, 4);

    // Restoring under the same alias again overwrites the copy (its schema matches).
    for copy in ["sr_member_copy", "sr_order_copy"] {
        exec(&mut c, &format!("TRUNCATE TABLE shop.{copy}")).await;
    }
    restore(
        &mut c,
        "shop",
        "snap",
        "repo",
        "ON (sr_member AS sr_member_copy, sr_order AS sr_order_copy)",
        &ts,
    )
    .await;
    assert_eq!(checksum(&mut c, "shop.sr_member_copy").await, original);
    assert_eq!(
        checksum(&mut c, "shop.sr_order_copy").await,
        checksum(&mut c, "shop.sr_order").await
    );
    assert_no_orphans(&d, &mut c, "after the restores").await;
}

#[tokio::test]
async fn restore_overwrites_a_table_with_the_same_schema() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    let root = scratch_repo(&d, &mut c, "repo").await;
    let ts = backup(&mut c, "shop", "snap", "repo", "").await;
    let at_snapshot = fingerprint(&mut c, &["shop.sr_member", "shop.sr_order"]).await;
    let rows_at_snapshot = all_rows(&mut c, "shop.sr_member").await;

    // The data changes after the snapshot: more rows, fewer rows.
    change_sample(&mut c, "shop").await;
    exec(&mut c, "TRUNCATE TABLE shop.sr_order").await;
    // A partition dropped since the snapshot comes back.
    exec(&mut c, "ALTER TABLE shop.sr_member DROP PARTITION p3").await;
    assert_eq!(
        partition_names(&mut c, "shop.sr_member").await,
        ["p1", "p2"]
    );
    assert_eq!(count(&mut c, "shop.sr_order").await, 0);
    assert_ne!(checksum(&mut c, "shop.sr_member").await, at_snapshot[0].1);

    exec(
        &mut c,
        &format!(
            "RESTORE SNAPSHOT shop.snap FROM repo PROPERTIES (\"backup_timestamp\" = \"{ts}\", \"replication_num\" = \"1\")"
        ),
    )
    .await;
    // replication_num is ignored for existing tables, with a warning naming them.
    let warnings = rows(&mut c, "SHOW WARNINGS").await;
    assert!(
        warnings
            .iter()
            .any(|w| w[2].as_deref().is_some_and(|m| m.contains("sr_member"))),
        "{warnings:?}"
    );
    wait_finished(&mut c, "RESTORE", "shop").await;
    assert_eq!(
        fingerprint(&mut c, &["shop.sr_member", "shop.sr_order"]).await,
        at_snapshot
    );
    assert_eq!(all_rows(&mut c, "shop.sr_member").await, rows_at_snapshot);
    assert_eq!(
        partition_names(&mut c, "shop.sr_member").await,
        ["p1", "p2", "p3"]
    );
    let (in_manifest, _) = manifest_checksum(&root, "snap", &ts, "sr_member");
    assert_eq!(checksum(&mut c, "shop.sr_member").await, in_manifest);
    // The replaced rowsets are gone once nothing reads them.
    assert_no_orphans(&d, &mut c, "after the overwrite").await;
    // The table takes loads again.
    exec(
        &mut c,
        "INSERT INTO shop.sr_member VALUES (6, 'x', 1, '2022-03-13')",
    )
    .await;
    assert_eq!(count(&mut c, "shop.sr_member").await, 6);
}

#[tokio::test]
async fn restore_over_a_different_schema_is_refused_and_changes_nothing() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    scratch_repo(&d, &mut c, "repo").await;
    let ts = backup(&mut c, "shop", "snap", "repo", "ON (sr_member)").await;

    // Same name in another database, city_code BIGINT instead of INT.
    exec(&mut c, "CREATE DATABASE other").await;
    exec(
        &mut c,
        &member_ddl("other.sr_member").replace("city_code INT", "city_code BIGINT"),
    )
    .await;
    exec(
        &mut c,
        &format!("INSERT INTO other.sr_member VALUES {MORE_MEMBER_ROWS}"),
    )
    .await;
    let before = fingerprint(&mut c, &["other.sr_member"]).await;
    let files = data_files(&d);

    exec(
        &mut c,
        &restore_sql("other", "snap", "repo", "ON (sr_member)", &ts),
    )
    .await;
    let r = wait_cancelled(&mut c, "RESTORE", "other").await;
    let status = r.get("Status");
    assert!(
        status.starts_with(
            "[COMMON_ERROR, msg: Table sr_member already exist but with different schema"
        ),
        "{status}"
    );
    assert!(status.contains("city_code"), "names the column: {status}");
    assert!(status.contains(" AS "), "suggests AS: {status}");
    assert_eq!(fingerprint(&mut c, &["other.sr_member"]).await, before);
    assert_eq!(data_files(&d), files);
    // The table is not left marked: it takes loads.
    exec(
        &mut c,
        "INSERT INTO other.sr_member VALUES (99, 'x', 1, '2022-03-13')",
    )
    .await;
    // The advice works: restoring under another name succeeds.
    restore(
        &mut c,
        "other",
        "snap",
        "repo",
        "ON (sr_member AS sr_member_restored)",
        &ts,
    )
    .await;
    assert_eq!(
        checksum(&mut c, "other.sr_member_restored").await,
        checksum(&mut c, "shop.sr_member").await
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Errors

/// Runs `sql`, expecting error `code` / SQLSTATE `state` with exactly `message`; returns a
/// description of any difference (so one test reports every mismatch at once).
async fn check_err(
    conn: &mut Conn,
    sql: &str,
    code: u16,
    state: &str,
    message: &str,
) -> Option<String> {
    match conn.query::<mysql_async::Row, _>(sql).await {
        Ok(_) => Some(format!("{sql}\n    succeeded; expected {code} {message:?}")),
        Err(mysql_async::Error::Server(e)) => {
            (e.code != code || e.state != state || e.message != message).then(|| {
                format!(
                    "{sql}\n    got      {} ({}) {:?}\n    expected {code} ({state}) {message:?}",
                    e.code, e.state, e.message
                )
            })
        }
        Err(e) => Some(format!("{sql}\n    not a server error: {e}")),
    }
}

/// (statement, error code, SQLSTATE, message)
type Case = (String, u16, &'static str, String);

/// StarRocks' common error: 5064, SQLSTATE 42000.
fn common(sql: impl Into<String>, message: &str) -> Case {
    (sql.into(), 5064, "42000", message.to_string())
}

#[tokio::test]
async fn submission_errors_name_the_problem() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    load_sample(&mut c, "sr_hub").await;
    exec(&mut c, "CREATE DATABASE empty_db").await;
    let dir = d.scratch_dir().join("repos");
    create_repo(&mut c, "test_repo", &dir).await;
    let ts = backup(
        &mut c,
        "sr_hub",
        "sr_member_backup",
        "test_repo",
        "ON (sr_member)",
    )
    .await;
    exec(
        &mut c,
        &format!(
            "CREATE READ ONLY REPOSITORY ro_repo WITH BROKER ON LOCATION \"{}\"",
            location(&dir)
        ),
    )
    .await;
    let repos = named_rows(&mut c, "SHOW REPOSITORIES").await;
    let ro = repos
        .iter()
        .find(|r| r.get("RepoName") == "ro_repo")
        .unwrap();
    assert_eq!(ro.get("IsReadOnly"), "true");

    let ts_prop = format!("\"backup_timestamp\" = \"{ts}\"");
    let cases: Vec<Case> = vec![
        // Repositories.
        common(
            "BACKUP SNAPSHOT sr_hub.s TO nosuch",
            "Repository [nosuch] does not exist",
        ),
        common(
            format!("RESTORE SNAPSHOT sr_hub.sr_member_backup FROM nosuch PROPERTIES ({ts_prop})"),
            "Repository nosuch does not exist",
        ),
        common(
            "SHOW SNAPSHOT ON nosuch",
            "Repository [nosuch] does not exist",
        ),
        common(
            "BACKUP SNAPSHOT sr_hub.s TO ro_repo",
            "Repository ro_repo is read only",
        ),
        common("DROP REPOSITORY nosuch", "Repository does not exist"),
        common(
            format!(
                "CREATE REPOSITORY test_repo WITH BROKER ON LOCATION \"{}\"",
                location(&dir)
            ),
            "Failed to create repository: repository with same name already exist: test_repo",
        ),
        // BACKUP targets and properties.
        (
            "BACKUP SNAPSHOT nodb.s TO test_repo".into(),
            1049,
            "42000",
            "Unknown database 'nodb'".into(),
        ),
        common(
            "BACKUP SNAPSHOT empty_db.s TO test_repo",
            "Database: empty_db is empty",
        ),
        common(
            "BACKUP SNAPSHOT sr_hub.s TO test_repo ON (sr_member, sr_member)",
            "Duplicated table: sr_member",
        ),
        common(
            "BACKUP SNAPSHOT sr_hub.s TO test_repo PROPERTIES (\"foo\" = \"1\")",
            "Unknown backup job properties: [foo]",
        ),
        common(
            "BACKUP SNAPSHOT sr_hub.s TO test_repo PROPERTIES (\"timeout\" = \"599\")",
            "timeout must be at least 10 min",
        ),
        common(
            "BACKUP SNAPSHOT sr_hub.s TO test_repo PROPERTIES (\"timeout\" = \"soon\")",
            "Invalid timeout format: soon",
        ),
        common(
            "BACKUP SNAPSHOT sr_hub.s TO test_repo PROPERTIES (\"type\" = \"diff\")",
            "Invalid backup job type: diff",
        ),
        // RESTORE properties and contents.
        common(
            "RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo ON (sr_member) \
             PROPERTIES (\"replication_num\" = \"1\")",
            "Missing backup_timestamp property",
        ),
        common(
            "RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo ON (sr_member)",
            "Missing backup_timestamp property",
        ),
        common(
            format!(
                "RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo \
                 PROPERTIES ({ts_prop}, \"foo\" = \"1\")"
            ),
            "Unknown restore job properties: [foo]",
        ),
        common(
            format!(
                "RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo \
                 PROPERTIES ({ts_prop}, \"timeout\" = \"60\")"
            ),
            "timeout must be at least 10 min",
        ),
        common(
            format!(
                "RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo ON (sr_order) \
                 PROPERTIES ({ts_prop})"
            ),
            "Table sr_order does not exist in snapshot sr_member_backup",
        ),
        common(
            format!(
                "RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo \
                 ON (sr_member PARTITION (p9)) PROPERTIES ({ts_prop})"
            ),
            "Partition p9 of table sr_member does not exist in snapshot sr_member_backup",
        ),
        common(
            format!(
                "RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo \
                 ON (sr_member AS a, sr_member AS b) PROPERTIES ({ts_prop})"
            ),
            "Duplicated table: sr_member",
        ),
        // CANCEL without a running job.
        common(
            "CANCEL BACKUP FROM empty_db",
            "No backup job is currently running",
        ),
        common(
            "CANCEL RESTORE FROM sr_hub",
            "No restore is currently running",
        ),
        common(
            "CANCEL BACKUP FROM sr_hub",
            "Failed to cancel job: Job with label sr_member_backup can not be cancelled. \
             state: FINISHED",
        ),
        // SHOW of an unknown database.
        (
            "SHOW BACKUP FROM nodb".into(),
            1049,
            "42000",
            "Unknown database 'nodb'".into(),
        ),
    ];
    let mut problems = Vec::new();
    for (sql, code, state, message) in &cases {
        if let Some(p) = check_err(&mut c, sql, *code, state, message).await {
            problems.push(p);
        }
    }

    // Texts with a variable part: checked by their fixed parts.
    let (code, state, msg) =
        server_err(&mut c, "BACKUP SNAPSHOT sr_hub.s TO test_repo ON (nosuch)").await;
    if (code, state.as_str()) != (1146, "42S02") || !msg.contains("nosuch") {
        problems.push(format!(
            "BACKUP ... ON (nosuch)\n    got {code} ({state}) {msg:?}\n    expected 1146 (42S02) naming nosuch"
        ));
    }
    let (code, _, msg) = server_err(
        &mut c,
        "BACKUP SNAPSHOT sr_hub.s TO test_repo ON (sr_member PARTITION (p9))",
    )
    .await;
    if code != 5064 || !msg.contains("p9") || !msg.contains("sr_member") {
        problems.push(format!(
            "BACKUP ... PARTITION (p9)\n    got {code} {msg:?}\n    expected 5064 naming p9 and sr_member"
        ));
    }
    for (what, sql) in [
        (
            "wrong timestamp",
            "RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo PROPERTIES (\"backup_timestamp\" = \"2001-01-01-00-00-00-000\")"
                .to_string(),
        ),
        (
            "wrong label",
            format!("RESTORE SNAPSHOT sr_hub.no_such_label FROM test_repo PROPERTIES ({ts_prop})"),
        ),
    ] {
        let label = if what == "wrong label" {
            "no_such_label"
        } else {
            "sr_member_backup"
        };
        let (code, _, msg) = server_err(&mut c, &sql).await;
        let prefix = format!("Failed to get info of snapshot '{label}' because: ");
        if code != 5064
            || !msg.starts_with(&prefix)
            || !msg.ends_with("Maybe specified wrong backup timestamp")
        {
            problems.push(format!(
                "{what}: {sql}\n    got {code} {msg:?}\n    expected 5064 {prefix:?} … \"Maybe specified wrong backup timestamp\""
            ));
        }
    }
    // Nothing above started a job: the latest job is still the finished backup.
    let b = show_job(&mut c, "BACKUP", "sr_hub").await.unwrap();
    assert_eq!(b.get("SnapshotName"), "sr_member_backup");
    assert_eq!(b.get("State"), "FINISHED");
    assert!(
        show_job(&mut c, "RESTORE", "sr_hub").await.is_none(),
        "no restore job was created"
    );
    assert!(
        problems.is_empty(),
        "{} of {} error checks differ:\n{}",
        problems.len(),
        cases.len() + 4,
        problems.join("\n")
    );
}

#[tokio::test]
async fn one_job_per_database_and_no_drop_of_a_busy_repository() {
    let d = TestDaemon::start_with(&[], &[("BACKSTOP_FAILPOINTS", "restore.pending=pause")]);
    let mut c = d.conn().await;
    load_sample(&mut c, "sr_hub").await;
    load_sample(&mut c, "other").await;
    let dir = d.scratch_dir().join("repos");
    create_repo(&mut c, "test_repo", &dir).await;
    let ts = backup(&mut c, "sr_hub", "snap", "test_repo", "").await;

    exec(
        &mut c,
        &restore_sql(
            "sr_hub",
            "snap",
            "test_repo",
            "ON (sr_member AS sr_member_copy)",
            &ts,
        ),
    )
    .await;
    wait_paused(&d, "restore.pending", 0).await;
    let r = show_job(&mut c, "RESTORE", "sr_hub").await.unwrap();
    assert_eq!(r.get("State"), "PENDING");

    let busy = "Can only run one backup or restore job of a database at same time";
    let mut problems = Vec::new();
    for sql in [
        "BACKUP SNAPSHOT sr_hub.snap2 TO test_repo".to_string(),
        restore_sql(
            "sr_hub",
            "snap",
            "test_repo",
            "ON (sr_order AS sr_order_copy)",
            &ts,
        ),
    ] {
        problems.extend(check_err(&mut c, &sql, 5064, "42000", busy).await);
    }
    problems.extend(
        check_err(
            &mut c,
            "DROP REPOSITORY test_repo",
            5064,
            "42000",
            "Backup or restore job is running on this repository. Can not drop it",
        )
        .await,
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Another database runs its own job meanwhile.
    backup(&mut c, "other", "other_snap", "test_repo", "").await;
    let r = show_job(&mut c, "RESTORE", "sr_hub").await.unwrap();
    assert_eq!(r.get("State"), "PENDING", "still held: {r:?}");

    cancel_within(&d, &mut c, "CANCEL RESTORE FROM sr_hub").await;
    let r = wait_cancelled(&mut c, "RESTORE", "sr_hub").await;
    assert_eq!(
        r.get("Status"),
        "[COMMON_ERROR, msg: user cancelled, current state: PENDING]"
    );
    assert_eq!(
        table_names(&mut c, "sr_hub").await,
        ["sr_member", "sr_order"]
    );
    // Now the repository can go; created again with the same location it sees its snapshots.
    exec(&mut c, "DROP REPOSITORY test_repo").await;
    create_repo(&mut c, "test_repo", &dir).await;
    assert_eq!(timestamps(&mut c, "test_repo", "snap").await, [ts]);
}

// ---------------------------------------------------------------------------------------------
// 4. A snapshot holds exactly what was committed before it

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_holds_exactly_the_rows_committed_before_it() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    let root = scratch_repo(&d, &mut c, "repo").await;

    // Sequential: rows loaded after a snapshot are not in it.
    let ts1 = backup(&mut c, "shop", "s1", "repo", "ON (sr_member)").await;
    let sum1 = checksum(&mut c, "shop.sr_member").await;
    exec(
        &mut c,
        &format!("INSERT INTO shop.sr_member VALUES {MORE_MEMBER_ROWS}"),
    )
    .await;
    let ts2 = backup(&mut c, "shop", "s2", "repo", "ON (sr_member)").await;
    let sum2 = checksum(&mut c, "shop.sr_member").await;
    assert_ne!(sum1, sum2);
    assert_eq!(
        manifest_checksum(&root, "s1", &ts1, "sr_member"),
        (sum1.clone(), 5)
    );
    assert_eq!(
        manifest_checksum(&root, "s2", &ts2, "sr_member"),
        (sum2.clone(), 8)
    );
    restore(&mut c, "shop", "s1", "repo", "ON (sr_member AS m1)", &ts1).await;
    restore(&mut c, "shop", "s2", "repo", "ON (sr_member AS m2)", &ts2).await;
    assert_eq!(checksum(&mut c, "shop.m1").await, sum1);
    assert_eq!(ids(&mut c, "shop.m1").await, [1, 2, 3, 4, 5]);
    assert_eq!(checksum(&mut c, "shop.m2").await, sum2);
    assert_eq!(count(&mut c, "shop.m2").await, 8);

    // Concurrent: a client loads 10-row statements one after another while a backup runs. The
    // snapshot holds a prefix of the statements, each whole, including every statement
    // acknowledged before BACKUP was sent.
    exec(&mut c, "CREATE DATABASE live").await;
    exec(
        &mut c,
        "CREATE TABLE live.t (k BIGINT NOT NULL, v STRING) DUPLICATE KEY(k) \
         PARTITION BY RANGE(k) (PARTITION a VALUES LESS THAN ('500'), \
         PARTITION b VALUES LESS THAN (MAXVALUE)) DISTRIBUTED BY HASH(k) BUCKETS 4",
    )
    .await;
    let opts = d.opts();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let loader = tokio::spawn({
        let stop = std::sync::Arc::clone(&stop);
        let acked = std::sync::Arc::clone(&acked);
        async move {
            let mut conn = Conn::new(opts).await.unwrap();
            let mut s: i64 = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let values: Vec<String> = (0..10)
                    .map(|r| format!("({}, 'v{s}')", s * 10 + r))
                    .collect();
                conn.query_drop(format!("INSERT INTO live.t VALUES {}", values.join(", ")))
                    .await
                    .unwrap();
                s += 1;
                acked.store(s, std::sync::atomic::Ordering::SeqCst);
            }
            s
        }
    });
    while acked.load(std::sync::atomic::Ordering::SeqCst) < 5 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let acked_at_submit = acked.load(std::sync::atomic::Ordering::SeqCst);
    exec(&mut c, "BACKUP SNAPSHOT live.during TO repo").await;
    wait_finished(&mut c, "BACKUP", "live").await;
    // Keep loading a little after the backup finished, then stop.
    let target = acked.load(std::sync::atomic::Ordering::SeqCst) + 3;
    while acked.load(std::sync::atomic::Ordering::SeqCst) < target {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let loaded = loader.await.unwrap();
    let ts = timestamps(&mut c, "repo", "during").await.pop().unwrap();
    restore(&mut c, "live", "during", "repo", "ON (t AS snap)", &ts).await;

    let statements: Vec<i64> = rows(
        &mut c,
        "SELECT DISTINCT CAST(k / 10 AS BIGINT) FROM live.snap ORDER BY 1",
    )
    .await
    .iter()
    .map(|r| r[0].clone().unwrap().parse().unwrap())
    .collect();
    let n = statements.len() as i64;
    assert_eq!(
        statements,
        (0..n).collect::<Vec<_>>(),
        "the snapshot holds a prefix of the loads"
    );
    assert_eq!(
        count(&mut c, "live.snap").await,
        n as u64 * 10,
        "whole loads"
    );
    assert!(
        n >= acked_at_submit,
        "{n} loads in the snapshot, {acked_at_submit} were acknowledged before BACKUP was sent"
    );
    assert!(
        n < loaded,
        "{n} loads in the snapshot, {loaded} in the table: later loads are not in it"
    );
    assert_eq!(count(&mut c, "live.t").await, loaded as u64 * 10);
    assert_eq!(
        checksum(&mut c, "live.snap").await,
        manifest_checksum(&root, "during", &ts, "t").0
    );
}

// ---------------------------------------------------------------------------------------------
// 5. CANCEL at each state

/// A backup held at `failpoint` (state `state`) is cancelled: CANCELLED with StarRocks' status,
/// no COMMIT, no lease, the data untouched.
async fn cancel_backup_at(failpoint: &str, state: &str) {
    let d = TestDaemon::start_with(
        &[],
        &[("BACKSTOP_FAILPOINTS", &format!("{failpoint}=pause"))],
    );
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    exec(&mut c, "CREATE DATABASE other").await;
    exec(&mut c, &order_ddl("other.t")).await;
    exec(&mut c, &format!("INSERT INTO other.t VALUES {ORDER_ROWS}")).await;
    let root = scratch_repo(&d, &mut c, "repo").await;
    let before = fingerprint(&mut c, &["shop.sr_member", "shop.sr_order"]).await;

    exec(&mut c, "BACKUP SNAPSHOT shop.snap TO repo").await;
    wait_paused(&d, failpoint, 0).await;
    let r = show_job(&mut c, "BACKUP", "shop").await.unwrap();
    assert_eq!(r.get("State"), state, "{r:?}");
    // One job per database; and the same label cannot be written from another database
    // while this job writes it.
    let (code, _, msg) = server_err(&mut c, "BACKUP SNAPSHOT shop.snap2 TO repo").await;
    assert_eq!(
        (code, msg.as_str()),
        (
            5064,
            "Can only run one backup or restore job of a database at same time"
        )
    );
    let (code, _, msg) = server_err(&mut c, "BACKUP SNAPSHOT other.snap TO repo").await;
    assert!(
        code == 5064 && msg.starts_with("Snapshot 'snap' is being written by backup job"),
        "{code} {msg}"
    );

    cancel_within(&d, &mut c, "CANCEL BACKUP FROM shop").await;
    let r = wait_cancelled(&mut c, "BACKUP", "shop").await;
    assert_eq!(r.get("Status"), "[COMMON_ERROR, msg: user cancelled]");
    assert_eq!(commit_files(&root), Vec::<PathBuf>::new(), "no COMMIT");
    assert_eq!(
        lease_files(&root),
        Vec::<PathBuf>::new(),
        "the lease is gone"
    );
    let snap = named_rows(&mut c, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'snap'").await;
    assert_eq!(snap.len(), 1);
    assert_eq!(snap[0].get("Status"), "ERROR: no snapshot", "{snap:?}");
    assert!(
        named_rows(&mut c, "SHOW SNAPSHOT ON repo").await.is_empty(),
        "a cancelled backup is not listed"
    );
    let (code, _, msg) = server_err(&mut c, "CANCEL BACKUP FROM shop").await;
    assert_eq!(
        (code, msg.as_str()),
        (
            5064,
            "Failed to cancel job: Job with label snap can not be cancelled. state: CANCELLED"
        )
    );
    assert_eq!(
        fingerprint(&mut c, &["shop.sr_member", "shop.sr_order"]).await,
        before
    );
    assert_no_orphans(&d, &mut c, "after the cancel").await;
}

#[tokio::test]
async fn cancel_backup_while_pending() {
    cancel_backup_at("backup.pending", "PENDING").await;
}

#[tokio::test]
async fn cancel_backup_while_snapshoting() {
    cancel_backup_at("backup.snapshoting", "SNAPSHOTING").await;
}

#[tokio::test]
async fn cancel_backup_while_uploading() {
    cancel_backup_at("backup.after_object_upload", "UPLOADING").await;
}

#[tokio::test]
async fn cancel_backup_before_commit() {
    cancel_backup_at("backup.before_commit", "UPLOAD_INFO").await;
}

/// A restore over both (changed) sample tables, held at `failpoint` (state `state`), is
/// cancelled: CANCELLED with StarRocks' status, the tables and the data directory as they were.
async fn cancel_restore_at(failpoint: &str, state: &str) {
    let d = TestDaemon::start_with(
        &[],
        &[("BACKSTOP_FAILPOINTS", &format!("{failpoint}=pause"))],
    );
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    scratch_repo(&d, &mut c, "repo").await;
    let ts = backup(&mut c, "shop", "snap", "repo", "").await;
    change_sample(&mut c, "shop").await;
    let tables = ["shop.sr_member", "shop.sr_order"];
    let before = fingerprint(&mut c, &tables).await;
    let files = data_files(&d);

    exec(&mut c, &restore_sql("shop", "snap", "repo", "", &ts)).await;
    wait_paused(&d, failpoint, 0).await;
    let r = show_job(&mut c, "RESTORE", "shop").await.unwrap();
    assert_eq!(r.get("State"), state, "{r:?}");
    if state != "PENDING" {
        // A table being restored over refuses writes; reads see the old data.
        let (code, _, msg) = server_err(
            &mut c,
            "INSERT INTO shop.sr_member VALUES (50, 'x', 1, '2022-03-13')",
        )
        .await;
        assert!(msg.contains("sr_member"), "{code} {msg}");
        assert_eq!(fingerprint(&mut c, &tables).await, before);
    }

    cancel_within(&d, &mut c, "CANCEL RESTORE FROM shop").await;
    let r = wait_cancelled(&mut c, "RESTORE", "shop").await;
    assert_eq!(
        r.get("Status"),
        format!("[COMMON_ERROR, msg: user cancelled, current state: {state}]")
    );
    assert_eq!(fingerprint(&mut c, &tables).await, before);
    assert_eq!(data_files(&d), files, "downloaded files are removed");
    assert_no_orphans(&d, &mut c, "after the cancel").await;
    // The tables are writable again.
    exec(
        &mut c,
        "INSERT INTO shop.sr_member VALUES (50, 'x', 1, '2022-03-13')",
    )
    .await;
    assert_eq!(count(&mut c, "shop.sr_member").await, before[0].2 + 1);
}

#[tokio::test]
async fn cancel_restore_while_pending() {
    cancel_restore_at("restore.pending", "PENDING").await;
}

#[tokio::test]
async fn cancel_restore_while_snapshoting() {
    cancel_restore_at("restore.snapshoting", "SNAPSHOTING").await;
}

#[tokio::test]
async fn cancel_restore_while_downloading() {
    cancel_restore_at("restore.after_object_download", "DOWNLOADING").await;
}

#[tokio::test]
async fn cancel_restore_is_refused_once_commit_began() {
    let d = TestDaemon::start_with(
        &[],
        &[("BACKSTOP_FAILPOINTS", "restore.before_commit=pause")],
    );
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    scratch_repo(&d, &mut c, "repo").await;
    let ts = backup(&mut c, "shop", "snap", "repo", "").await;
    change_sample(&mut c, "shop").await;
    let before = fingerprint(&mut c, &["shop.sr_member", "shop.sr_order"]).await;

    exec(&mut c, &restore_sql("shop", "snap", "repo", "", &ts)).await;
    wait_paused(&d, "restore.before_commit", 0).await;
    let r = show_job(&mut c, "RESTORE", "shop").await.unwrap();
    assert_eq!(r.get("State"), "COMMIT", "{r:?}");
    let (code, state, msg) = server_err(&mut c, "CANCEL RESTORE FROM shop").await;
    assert_eq!((code, state.as_str()), (5064, "42000"), "{msg}");
    assert!(msg.contains("can not be cancelled"), "{msg}");
    assert_eq!(
        msg,
        "Failed to cancel job: Job with label snap can not be cancelled. state: COMMIT"
    );
    let r = show_job(&mut c, "RESTORE", "shop").await.unwrap();
    assert_eq!(r.get("State"), "COMMIT", "the job goes on: {r:?}");
    assert_eq!(r.get("Status"), "[OK]");
    // Until the commit, readers see the old data.
    assert_eq!(
        fingerprint(&mut c, &["shop.sr_member", "shop.sr_order"]).await,
        before
    );
}

/// DESIGN.md "Jobs": nothing is created before COMMIT, the target names are reserved, and
/// concurrent DDL on them fails with a clear error; a table being restored over rejects writes
/// and DDL while readers see the old data.
#[tokio::test]
async fn ddl_on_the_names_a_restore_reserved_is_refused() {
    let d = TestDaemon::start_with(&[], &[("BACKSTOP_FAILPOINTS", "restore.snapshoting=pause")]);
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    scratch_repo(&d, &mut c, "repo").await;
    let ts = backup(&mut c, "shop", "snap", "repo", "").await;
    change_sample(&mut c, "shop").await;
    let before = fingerprint(&mut c, &["shop.sr_member"]).await;

    // sr_member is restored over; sr_order comes back as a new table `fresh`.
    exec(
        &mut c,
        &restore_sql(
            "shop",
            "snap",
            "repo",
            "ON (sr_member, sr_order AS fresh)",
            &ts,
        ),
    )
    .await;
    wait_paused(&d, "restore.snapshoting", 0).await;
    let mut problems = Vec::new();
    for sql in [
        "INSERT INTO shop.sr_member VALUES (60, 'x', 1, '2022-03-13')".to_string(),
        "TRUNCATE TABLE shop.sr_member".to_string(),
        "DROP TABLE shop.sr_member".to_string(),
        "ALTER TABLE shop.sr_member DROP PARTITION p1".to_string(),
        "DROP DATABASE shop".to_string(),
        order_ddl("shop.fresh"),
    ] {
        match c.query_drop(&sql).await {
            Ok(()) => problems.push(format!("{sql}\n    succeeded during the restore")),
            Err(mysql_async::Error::Server(e)) => {
                if !(e.message.contains("restor") || e.message.contains("RESTORE")) {
                    problems.push(format!(
                        "{sql}\n    refused, but the message does not name the restore: {} {:?}",
                        e.code, e.message
                    ));
                }
            }
            Err(e) => problems.push(format!("{sql}\n    {e}")),
        }
    }
    // Readers see the old data meanwhile.
    assert_eq!(fingerprint(&mut c, &["shop.sr_member"]).await, before);
    cancel_within(&d, &mut c, "CANCEL RESTORE FROM shop").await;
    wait_cancelled(&mut c, "RESTORE", "shop").await;
    assert!(
        problems.is_empty(),
        "{} statements were not refused as DESIGN.md says:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Crashes

/// Sets up `shop` with a snapshot of both tables, then changes both tables. Returns
/// (timestamp, fingerprint at the snapshot, fingerprint now).
async fn snapshot_then_change(d: &TestDaemon, c: &mut Conn) -> (String, Prints, Prints) {
    load_sample(c, "shop").await;
    scratch_repo(d, c, "repo").await;
    let ts = backup(c, "shop", "snap", "repo", "").await;
    let tables = ["shop.sr_member", "shop.sr_order"];
    let at_snapshot = fingerprint(c, &tables).await;
    change_sample(c, "shop").await;
    let now = fingerprint(c, &tables).await;
    assert_ne!(at_snapshot, now);
    (ts, at_snapshot, now)
}

/// A restore of both tables (so the commit has a second table) dies at `failpoint`
/// (`crash` action, or `pause` followed by kill -9). After a restart: the job is CANCELLED with
/// the reason, the tables are as before, no orphan file; the same RESTORE then succeeds.
async fn crash_restore_at(failpoint: &str, action: &str, state: &str) {
    let mut d = TestDaemon::start_with(
        &[],
        &[("BACKSTOP_FAILPOINTS", &format!("{failpoint}={action}"))],
    );
    let tables = ["shop.sr_member", "shop.sr_order"];
    let (ts, at_snapshot, before) = {
        let mut c = d.conn().await;
        let out = snapshot_then_change(&d, &mut c).await;
        exec(&mut c, &restore_sql("shop", "snap", "repo", "", &out.0)).await;
        if action == "crash" {
            wait_dead(&mut d).await;
        } else {
            wait_paused(&d, failpoint, 0).await;
            let r = show_job(&mut c, "RESTORE", "shop").await.unwrap();
            assert_eq!(r.get("State"), state, "{r:?}");
        }
        out
    };
    d.kill9();
    d.set_env("BACKSTOP_FAILPOINTS", None);
    d.start_again();
    let mut c = d.conn().await;
    let r = wait_cancelled(&mut c, "RESTORE", "shop").await;
    let status = r.get("Status");
    assert!(
        status.starts_with("[COMMON_ERROR, msg: ")
            && status.contains("restarted")
            && status.contains(state),
        "the reason names the restart and the state {state}: {status}"
    );
    assert_eq!(
        fingerprint(&mut c, &tables).await,
        before,
        "tables unchanged"
    );
    assert_no_orphans(&d, &mut c, "after the restart").await;

    // The same RESTORE again completes.
    restore(&mut c, "shop", "snap", "repo", "", &ts).await;
    assert_eq!(fingerprint(&mut c, &tables).await, at_snapshot);
    assert_no_orphans(&d, &mut c, "after the second restore").await;
}

#[tokio::test]
async fn crash_before_the_restore_commit_changes_nothing() {
    crash_restore_at("restore.before_commit", "crash", "COMMIT").await;
}

#[tokio::test]
async fn crash_inside_the_restore_commit_changes_nothing() {
    crash_restore_at("restore.mid_commit", "crash", "COMMITTING").await;
}

#[tokio::test]
async fn kill_during_the_restore_download_changes_nothing() {
    crash_restore_at("restore.after_object_download", "pause", "DOWNLOADING").await;
}

#[tokio::test]
async fn kill_during_a_backup_leaves_no_commit() {
    let mut d = TestDaemon::start_with(
        &[],
        &[("BACKSTOP_FAILPOINTS", "backup.after_object_upload=pause")],
    );
    let root = {
        let mut c = d.conn().await;
        load_sample(&mut c, "shop").await;
        let root = scratch_repo(&d, &mut c, "repo").await;
        exec(&mut c, "BACKUP SNAPSHOT shop.snap TO repo").await;
        wait_paused(&d, "backup.after_object_upload", 0).await;
        root
    };
    d.kill9();
    // Second life: the backup dies just before COMMIT.
    d.set_env("BACKSTOP_FAILPOINTS", Some("backup.before_commit=crash"));
    d.start_again();
    {
        let mut c = d.conn().await;
        let r = wait_cancelled(&mut c, "BACKUP", "shop").await;
        let status = r.get("Status");
        assert!(
            status.contains("restarted") && status.contains("UPLOADING"),
            "{status}"
        );
        assert_eq!(commit_files(&root), Vec::<PathBuf>::new());
        exec(&mut c, "BACKUP SNAPSHOT shop.snap TO repo").await;
        wait_dead(&mut d).await;
    }
    d.kill9();
    d.set_env("BACKSTOP_FAILPOINTS", None);
    d.start_again();
    let mut c = d.conn().await;
    let r = wait_cancelled(&mut c, "BACKUP", "shop").await;
    let status = r.get("Status");
    assert!(
        status.contains("restarted") && status.contains("UPLOAD_INFO"),
        "{status}"
    );
    assert_eq!(commit_files(&root), Vec::<PathBuf>::new(), "no COMMIT");
    assert!(named_rows(&mut c, "SHOW SNAPSHOT ON repo").await.is_empty());
    // A third run of the label completes, and only it is listed.
    let ts = backup(&mut c, "shop", "snap", "repo", "").await;
    assert_eq!(
        timestamps(&mut c, "repo", "snap").await,
        std::slice::from_ref(&ts)
    );
    assert_eq!(commit_files(&root).len(), 1);
    restore(&mut c, "shop", "snap", "repo", "ON (sr_member AS m)", &ts).await;
    assert_eq!(
        checksum(&mut c, "shop.m").await,
        checksum(&mut c, "shop.sr_member").await
    );
    assert_no_orphans(&d, &mut c, "after the restarts").await;
}

// ---------------------------------------------------------------------------------------------
// 7. A damaged repository

#[tokio::test]
async fn damaged_or_missing_objects_fail_the_restore_and_change_nothing() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    let root = scratch_repo(&d, &mut c, "repo").await;
    let ts = backup(&mut c, "shop", "snap", "repo", "ON (sr_member)").await;
    let at_snapshot = checksum(&mut c, "shop.sr_member").await;
    change_sample(&mut c, "shop").await;
    let before = fingerprint(&mut c, &["shop.sr_member"]).await;
    let files = data_files(&d);
    let objects = object_files(&root);
    assert_eq!(objects.len(), 5, "one object per rowset: {objects:?}");

    // One byte flipped.
    let victim = &objects[2];
    let good = std::fs::read(victim).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    std::fs::write(victim, &bad).unwrap();
    exec(
        &mut c,
        &restore_sql("shop", "snap", "repo", "ON (sr_member)", &ts),
    )
    .await;
    let r = wait_cancelled(&mut c, "RESTORE", "shop").await;
    let status = r.get("Status");
    let key = object_key(&root, victim);
    assert!(
        status.starts_with("[BAD_FILE, msg: ") && status.contains(&key),
        "BAD_FILE naming {key}: {status}"
    );
    assert!(status.contains("damaged"), "{status}");
    assert_eq!(fingerprint(&mut c, &["shop.sr_member"]).await, before);
    assert_eq!(data_files(&d), files);

    // One object missing.
    std::fs::write(victim, &good).unwrap();
    let gone = &objects[3];
    let gone_bytes = std::fs::read(gone).unwrap();
    std::fs::remove_file(gone).unwrap();
    exec(
        &mut c,
        &restore_sql("shop", "snap", "repo", "ON (sr_member)", &ts),
    )
    .await;
    let r = wait_cancelled(&mut c, "RESTORE", "shop").await;
    let status = r.get("Status");
    let key = object_key(&root, gone);
    assert!(
        status.starts_with("[NOT_FOUND, msg: ") && status.contains(&key),
        "NOT_FOUND naming {key}: {status}"
    );
    assert_eq!(fingerprint(&mut c, &["shop.sr_member"]).await, before);
    assert_eq!(data_files(&d), files);
    assert_no_orphans(&d, &mut c, "after the failed restores").await;

    // Repaired, the snapshot restores.
    std::fs::write(gone, &gone_bytes).unwrap();
    restore(&mut c, "shop", "snap", "repo", "ON (sr_member)", &ts).await;
    assert_eq!(checksum(&mut c, "shop.sr_member").await, at_snapshot);
}

#[tokio::test]
async fn a_manifest_changed_after_commit_is_not_ok() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    let root = scratch_repo(&d, &mut c, "repo").await;
    let ts = backup(&mut c, "shop", "snap", "repo", "").await;
    let snap = named_rows(&mut c, "SHOW SNAPSHOT ON repo").await;
    assert_eq!(snap[0].get("Status"), "OK");

    // Still valid JSON, but not the manifest COMMIT names.
    let path = root.join("snapshots/snap").join(&ts).join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = text.replacen("\"rows\": 5", "\"rows\": 6", 1);
    assert_ne!(text, changed, "the manifest has a table of 5 rows");
    std::fs::write(&path, changed).unwrap();

    let snap = named_rows(&mut c, "SHOW SNAPSHOT ON repo").await;
    assert_eq!(snap.len(), 1, "{snap:?}");
    assert_eq!(snap[0].get("Snapshot"), "snap");
    let status = snap[0].get("Status");
    assert!(
        status.starts_with("ERROR") && status != "OK",
        "a changed manifest is not OK: {status}"
    );
    let detail = named_rows(
        &mut c,
        &format!("SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'snap' AND TIMESTAMP = '{ts}'"),
    )
    .await;
    assert_eq!(
        detail[0].columns(),
        ["Snapshot", "Timestamp", "Database", "Details", "Status"]
    );
    assert!(
        detail[0].get("Status").starts_with("Failed to get info"),
        "{detail:?}"
    );
    assert_eq!(detail[0].opt("Details"), None);
    let (code, _, msg) = server_err(&mut c, &restore_sql("shop", "snap", "repo", "", &ts)).await;
    assert_eq!(code, 5064, "{msg}");
    assert!(
        msg.starts_with("Failed to get info of snapshot 'snap' because: ")
            && msg.contains("damaged"),
        "{msg}"
    );
    assert!(show_job(&mut c, "RESTORE", "shop").await.is_none());
}

// ---------------------------------------------------------------------------------------------
// 8. Incremental by content

#[tokio::test]
async fn repeated_backups_upload_only_new_objects_and_each_snapshot_restores_alone() {
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    let root = scratch_repo(&d, &mut c, "repo").await;
    let tables = ["shop.sr_member", "shop.sr_order"];
    let first = fingerprint(&mut c, &tables).await;

    let ts_a = backup(&mut c, "shop", "daily", "repo", "").await;
    let objects = object_files(&root);
    assert_eq!(
        objects.len(),
        committed_rowsets(&mut c).await,
        "one object per rowset"
    );
    // Unchanged data, same label and a new label: no new object.
    let ts_b = backup(&mut c, "shop", "daily", "repo", "").await;
    assert_eq!(object_files(&root), objects, "no object added");
    let b = show_job(&mut c, "BACKUP", "shop").await.unwrap();
    let n = objects.len();
    assert!(
        b.get("Progress").starts_with(&format!("[objects: {n}/{n}")),
        "objects the repository had count as done: {b:?}"
    );
    let ts_c = backup(&mut c, "shop", "weekly", "repo", "").await;
    assert_eq!(object_files(&root), objects, "no object added");
    assert_eq!(
        timestamps(&mut c, "repo", "daily").await,
        [ts_a.clone(), ts_b.clone()]
    );
    let listed = named_rows(&mut c, "SHOW SNAPSHOT ON repo").await;
    let daily = listed
        .iter()
        .find(|r| r.get("Snapshot") == "daily")
        .unwrap();
    assert_eq!(daily.get("Timestamp"), format!("{ts_a}\n{ts_b}"));
    assert_eq!(daily.get("Status"), "OK");

    // New rows: exactly their rowsets are uploaded.
    let rowsets_before = committed_rowsets(&mut c).await;
    exec(
        &mut c,
        &format!("INSERT INTO shop.sr_member VALUES {MORE_MEMBER_ROWS}"),
    )
    .await;
    let new_rowsets = committed_rowsets(&mut c).await - rowsets_before;
    let ts_d = backup(&mut c, "shop", "daily", "repo", "").await;
    assert_eq!(object_files(&root).len(), objects.len() + new_rowsets);
    let last = fingerprint(&mut c, &tables).await;

    // Each snapshot restores alone, even with the others deleted.
    let restore_as = |suffix: &str| format!("ON (sr_member AS m_{suffix}, sr_order AS o_{suffix})");
    let snapshots_dir = root.join("snapshots");
    restore(&mut c, "shop", "daily", "repo", &restore_as("a"), &ts_a).await;
    assert_restored_as(&mut c, "a", &first).await;
    std::fs::remove_dir_all(snapshots_dir.join("daily").join(&ts_a)).unwrap();
    restore(&mut c, "shop", "daily", "repo", &restore_as("b"), &ts_b).await;
    assert_restored_as(&mut c, "b", &first).await;
    std::fs::remove_dir_all(snapshots_dir.join("daily").join(&ts_b)).unwrap();
    restore(&mut c, "shop", "weekly", "repo", &restore_as("c"), &ts_c).await;
    assert_restored_as(&mut c, "c", &first).await;
    std::fs::remove_dir_all(snapshots_dir.join("weekly")).unwrap();
    restore(&mut c, "shop", "daily", "repo", &restore_as("d"), &ts_d).await;
    assert_restored_as(&mut c, "d", &last).await;
}

/// `shop.m_<suffix>` and `shop.o_<suffix>` have the checksums and counts of `want`.
async fn assert_restored_as(c: &mut Conn, suffix: &str, want: &Prints) {
    let m = format!("shop.m_{suffix}");
    let o = format!("shop.o_{suffix}");
    let got: Vec<_> = fingerprint(c, &[m.as_str(), o.as_str()])
        .await
        .into_iter()
        .map(|(_, s, n)| (s, n))
        .collect();
    let want: Vec<_> = want.iter().map(|(_, s, n)| (s.clone(), *n)).collect();
    assert_eq!(got, want, "snapshot restored as *_{suffix}");
}

// ---------------------------------------------------------------------------------------------
// 9. Timeouts

#[tokio::test]
async fn a_backup_past_its_timeout_ends_cancelled_with_timeout() {
    let d = TestDaemon::start_with(
        &["--min-job-timeout", "1"],
        &[("BACKSTOP_FAILPOINTS", "backup.before_commit=pause")],
    );
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    let root = scratch_repo(&d, &mut c, "repo").await;
    exec(
        &mut c,
        "BACKUP SNAPSHOT shop.snap TO repo PROPERTIES (\"timeout\" = \"2\")",
    )
    .await;
    let r = show_job(&mut c, "BACKUP", "shop").await.unwrap();
    assert_eq!(r.get("Timeout"), "2");
    let r = wait_cancelled(&mut c, "BACKUP", "shop").await;
    assert!(r.get("Status").starts_with("[TIMEOUT"), "{r:?}");
    assert_eq!(r.get("Status"), "[TIMEOUT, msg: ]");
    assert_eq!(commit_files(&root), Vec::<PathBuf>::new());
    assert_eq!(lease_files(&root), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn a_restore_past_its_timeout_ends_cancelled_with_timeout() {
    let d = TestDaemon::start_with(
        &["--min-job-timeout", "1"],
        &[("BACKSTOP_FAILPOINTS", "restore.snapshoting=pause")],
    );
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    scratch_repo(&d, &mut c, "repo").await;
    let ts = backup(&mut c, "shop", "snap", "repo", "").await;
    change_sample(&mut c, "shop").await;
    let tables = ["shop.sr_member", "shop.sr_order"];
    let before = fingerprint(&mut c, &tables).await;
    exec(
        &mut c,
        &format!(
            "RESTORE SNAPSHOT shop.snap FROM repo PROPERTIES (\"backup_timestamp\" = \"{ts}\", \"timeout\" = \"2\")"
        ),
    )
    .await;
    let r = wait_cancelled(&mut c, "RESTORE", "shop").await;
    assert_eq!(
        r.get("Status"),
        "[TIMEOUT, msg: restore job with label: snap  timeout.]"
    );
    assert_eq!(r.get("Timeout"), "2");
    assert_eq!(fingerprint(&mut c, &tables).await, before);
    assert_no_orphans(&d, &mut c, "after the timeout").await;
}

// ---------------------------------------------------------------------------------------------
// 10. Free space

#[tokio::test]
async fn a_restore_that_does_not_fit_on_disk_changes_nothing() {
    let d = TestDaemon::start_with(&[], &[("BACKSTOP_TEST_FREE_BYTES", "1")]);
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    scratch_repo(&d, &mut c, "repo").await;
    let ts = backup(&mut c, "shop", "snap", "repo", "").await;
    change_sample(&mut c, "shop").await;
    let tables = ["shop.sr_member", "shop.sr_order"];
    let before = fingerprint(&mut c, &tables).await;
    let files = data_files(&d);

    for on in ["ON (sr_member AS copy)", ""] {
        exec(&mut c, &restore_sql("shop", "snap", "repo", on, &ts)).await;
        let r = wait_cancelled(&mut c, "RESTORE", "shop").await;
        let status = r.get("Status");
        assert!(
            status.starts_with("[COMMON_ERROR, msg: ") && status.contains("disk space"),
            "{status}"
        );
        assert_eq!(table_names(&mut c, "shop").await, ["sr_member", "sr_order"]);
        assert_eq!(fingerprint(&mut c, &tables).await, before);
        assert_eq!(data_files(&d), files);
    }
}

// ---------------------------------------------------------------------------------------------
// 11. Restarts

#[tokio::test]
async fn repositories_and_jobs_survive_a_restart() {
    let mut d = TestDaemon::start();
    let dir = d.scratch_dir().join("repos");
    let (ts, backup_row) = {
        let mut c = d.conn().await;
        load_sample(&mut c, "shop").await;
        create_repo(&mut c, "repo", &dir).await;
        let ts = backup(&mut c, "shop", "snap", "repo", "").await;
        (ts, show_job(&mut c, "BACKUP", "shop").await.unwrap())
    };
    d.restart();
    {
        let mut c = d.conn().await;
        let repos = named_rows(&mut c, "SHOW REPOSITORIES").await;
        assert_eq!(repos.len(), 1, "{repos:?}");
        assert_eq!(
            repos[0].columns(),
            [
                "RepoId",
                "RepoName",
                "CreateTime",
                "IsReadOnly",
                "Location",
                "Broker",
                "ErrMsg"
            ]
        );
        assert_eq!(repos[0].get("RepoName"), "repo");
        assert_eq!(repos[0].get("Location"), location(&dir));
        assert_eq!(repos[0].get("IsReadOnly"), "false");
        let b = show_job(&mut c, "BACKUP", "shop").await.unwrap();
        // Every persisted cell is the same; Progress and TaskErrMsg are live counters of the
        // running daemon (StarRocks does not persist them either).
        let persisted = |r: &Named| -> Vec<(String, Option<String>)> {
            r.0.iter()
                .filter(|(c, _)| c != "Progress" && c != "TaskErrMsg")
                .cloned()
                .collect()
        };
        assert_eq!(
            persisted(&b),
            persisted(&backup_row),
            "SHOW BACKUP is the same after a restart"
        );
        assert_eq!(
            timestamps(&mut c, "repo", "snap").await,
            std::slice::from_ref(&ts)
        );
        restore(&mut c, "shop", "snap", "repo", "ON (sr_member AS m)", &ts).await;
    }
    d.restart();
    let mut c = d.conn().await;
    let r = show_job(&mut c, "RESTORE", "shop").await.unwrap();
    assert_eq!(
        (r.get("State"), r.get("Status")),
        ("FINISHED", "[OK]"),
        "{r:?}"
    );
    // The latest job of the database is the restore: SHOW BACKUP shows nothing for it.
    assert!(show_job(&mut c, "BACKUP", "shop").await.is_none());
    assert_eq!(
        checksum(&mut c, "shop.m").await,
        checksum(&mut c, "shop.sr_member").await
    );
}

/// The backup held at a failpoint after its snapshot was taken (BACKSTOP_FAILPOINT_DIR lets the
/// test see the pause and resume it): rows inserted meanwhile are not in the snapshot, and a
/// TRUNCATE meanwhile deletes none of the files the job still has to upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_loaded_while_a_backup_runs_are_not_in_it() {
    let (d, points) = common::backup::daemon_paused_at("backup.after_object_upload");
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    let root = scratch_repo(&d, &mut c, "repo").await;
    let before = checksum(&mut c, "shop.sr_member").await;
    let rows_before = count(&mut c, "shop.sr_member").await;
    exec(&mut c, "BACKUP SNAPSHOT shop.held TO repo ON (sr_member)").await;
    common::backup::wait_reached(points.path(), "backup.after_object_upload").await;
    exec(
        &mut c,
        &format!("INSERT INTO shop.sr_member VALUES {MORE_MEMBER_ROWS}"),
    )
    .await;
    exec(&mut c, "TRUNCATE TABLE shop.sr_member").await;
    // Give the collector a moment: it must leave the pinned files alone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    common::backup::resume(points.path(), "backup.after_object_upload");
    let job = wait_done(&mut c, "BACKUP", "shop").await;
    assert_eq!(job.get("Status"), "[OK]", "{job:?}");
    let ts = timestamps(&mut c, "repo", "held").await;
    let (sum, rows) = manifest_checksum(&root, "held", &ts[0], "sr_member");
    assert_eq!((sum, rows), (before.clone(), rows_before));
    let restored = restore(
        &mut c,
        "shop",
        "held",
        "repo",
        "ON (sr_member AS held_copy)",
        &ts[0],
    )
    .await;
    assert_eq!(restored.get("Status"), "[OK]", "{restored:?}");
    assert_eq!(checksum(&mut c, "shop.held_copy").await, before);
}

/// A daemon that dies right after writing a backup's COMMIT, before recording FINISHED: after
/// the restart the repository decides, and the job reads FINISHED with the snapshot usable.
#[tokio::test]
async fn a_backup_killed_after_its_commit_is_finished_after_restart() {
    let mut d =
        TestDaemon::start_with(&[], &[("BACKSTOP_FAILPOINTS", "backup.after_commit=crash")]);
    let (root, sum) = {
        let mut c = d.conn().await;
        load_sample(&mut c, "shop").await;
        let root = scratch_repo(&d, &mut c, "repo").await;
        let sum = checksum(&mut c, "shop.sr_member").await;
        exec(&mut c, "BACKUP SNAPSHOT shop.snap TO repo ON (sr_member)").await;
        (root, sum)
    };
    wait_dead(&mut d).await;
    assert_eq!(
        commit_files(&root).len(),
        1,
        "the COMMIT was written before the crash"
    );
    d.kill9();
    d.set_env("BACKSTOP_FAILPOINTS", None);
    d.start_again();
    let mut c = d.conn().await;
    let r = wait_finished(&mut c, "BACKUP", "shop").await;
    assert_eq!(r.get("Status"), "[OK]", "{r:?}");
    let ts = timestamps(&mut c, "repo", "snap").await;
    let restored = restore(
        &mut c,
        "shop",
        "snap",
        "repo",
        "ON (sr_member AS copy)",
        &ts[0],
    )
    .await;
    assert_eq!(restored.get("Status"), "[OK]", "{restored:?}");
    assert_eq!(checksum(&mut c, "shop.copy").await, sum);
}
