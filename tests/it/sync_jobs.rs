//! `"sync" = "true"` on BACKUP SNAPSHOT and RESTORE SNAPSHOT: the statement returns when the
//! job has ended, with one row when it FINISHED and error 5064 with the job's status when it
//! was CANCELLED. Driven through `mysql_async` and the `mysql` CLI against real daemons.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use common::{TestDaemon, exec, rows, run_with_deadline, server_err};

const DEADLINE: Duration = Duration::from_secs(60);

/// The columns of the row a finished sync job answers, as `mysql --batch` prints them.
const SYNC_HEADER: &str = "JobId\tKind\tLabel\tTimestamp\tDbName\tState\tObjects\tBytes\t\
                           TransferredObjects\tTransferredBytes\tDurationMs";

fn location(daemon: &TestDaemon) -> String {
    let dir = daemon.scratch_dir().join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    format!("file://{}", dir.display())
}

/// The sample table and a repository `repo` at `loc`.
async fn load(conn: &mut Conn, loc: &str) {
    for sql in [
        "CREATE DATABASE sr_hub",
        "CREATE TABLE sr_hub.sr_member (sr_id INT NOT NULL, name STRING, reg_date DATE NOT NULL) \
         DUPLICATE KEY(sr_id) DISTRIBUTED BY HASH(sr_id) BUCKETS 3",
        "INSERT INTO sr_hub.sr_member VALUES (1, 'tom', '2022-03-13'), (2, 'johndoe', '2022-03-14'), \
         (3, 'maruko', '2022-03-14'), (4, 'simo', '2022-03-15')",
    ] {
        exec(conn, sql).await;
    }
    exec(
        conn,
        &format!("CREATE REPOSITORY repo ON LOCATION \"{loc}\""),
    )
    .await;
}

/// Runs `sql` and returns its one result set with column names.
async fn sync_row(conn: &mut Conn, sql: &str) -> Vec<(String, String)> {
    let result: Vec<mysql_async::Row> = conn
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(result.len(), 1, "{sql}: one row");
    let row = &result[0];
    let names: Vec<String> = row
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    assert_eq!(names.join("\t"), SYNC_HEADER, "{sql}: columns");
    (0..names.len())
        .map(|i| {
            (
                names[i].clone(),
                common::value_text(&row[i]).unwrap_or_default(),
            )
        })
        .collect()
}

fn cell<'a>(row: &'a [(String, String)], name: &str) -> &'a str {
    &row.iter().find(|(n, _)| n == name).unwrap().1
}

async fn checksum(conn: &mut Conn, table: &str) -> String {
    rows(conn, &format!("CHECKSUM TABLE {table}")).await[0][1]
        .clone()
        .unwrap()
}

#[tokio::test]
async fn sync_backup_and_restore_return_when_the_job_ended() {
    let source = TestDaemon::start();
    let target = TestDaemon::start();
    let loc = location(&source);
    let mut src = source.conn().await;
    load(&mut src, &loc).await;

    let backup = sync_row(
        &mut src,
        "BACKUP SNAPSHOT sr_hub.snap TO repo PROPERTIES (\"sync\" = \"true\")",
    )
    .await;
    assert_eq!(cell(&backup, "Kind"), "BACKUP");
    assert_eq!(cell(&backup, "Label"), "snap");
    assert_eq!(cell(&backup, "DbName"), "sr_hub");
    assert_eq!(cell(&backup, "State"), "FINISHED");
    // One rowset per touched bucket, all new to the repository.
    let objects = cell(&backup, "Objects").to_string();
    assert!(objects.parse::<u64>().unwrap() > 0, "{backup:?}");
    assert_eq!(cell(&backup, "TransferredObjects"), objects, "{backup:?}");
    assert!(cell(&backup, "Bytes").parse::<u64>().unwrap() > 0);
    assert_eq!(
        cell(&backup, "Bytes"),
        cell(&backup, "TransferredBytes"),
        "{backup:?}"
    );
    cell(&backup, "DurationMs").parse::<u64>().unwrap();
    // No polling: the job is over when the statement returns.
    let show = rows(&mut src, "SHOW BACKUP FROM sr_hub").await;
    assert_eq!(show[0][0].as_deref(), Some(cell(&backup, "JobId")));
    assert_eq!(show[0][3].as_deref(), Some("FINISHED"));
    let ts = cell(&backup, "Timestamp").to_string();
    let snapshots = rows(&mut src, "SHOW SNAPSHOT ON repo").await;
    assert_eq!(snapshots[0][1].as_deref(), Some(ts.as_str()));

    // A second backup of the same data moves nothing: every object is there already.
    let again = sync_row(
        &mut src,
        "BACKUP SNAPSHOT sr_hub.snap TO repo PROPERTIES (\"sync\" = \"TRUE\")",
    )
    .await;
    assert_eq!(cell(&again, "Objects"), objects);
    assert_eq!(cell(&again, "TransferredObjects"), "0", "{again:?}");
    assert_eq!(cell(&again, "TransferredBytes"), "0");

    // "false" is the default: OK at once.
    exec(
        &mut src,
        "BACKUP SNAPSHOT sr_hub.snap3 TO repo PROPERTIES (\"sync\" = \"false\")",
    )
    .await;
    let start = Instant::now();
    while rows(&mut src, "SHOW BACKUP FROM sr_hub").await[0][3].as_deref() != Some("FINISHED") {
        assert!(start.elapsed() < DEADLINE);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The restore on another server, waited for the same way.
    let mut tgt = target.conn().await;
    exec(
        &mut tgt,
        &format!("CREATE REPOSITORY repo ON LOCATION \"{loc}\""),
    )
    .await;
    let restore = sync_row(
        &mut tgt,
        &format!(
            "RESTORE SNAPSHOT sr_hub.snap FROM repo PROPERTIES (\"backup_timestamp\" = \"{ts}\", \
             \"sync\" = \"true\")"
        ),
    )
    .await;
    assert_eq!(cell(&restore, "Kind"), "RESTORE");
    assert_eq!(cell(&restore, "State"), "FINISHED");
    assert_eq!(cell(&restore, "Timestamp"), ts);
    assert_eq!(cell(&restore, "TransferredObjects"), objects);
    assert_eq!(
        checksum(&mut tgt, "sr_hub.sr_member").await,
        checksum(&mut src, "sr_hub.sr_member").await
    );

    // A bad value names itself.
    let (code, _, msg) = server_err(
        &mut src,
        "BACKUP SNAPSHOT sr_hub.x TO repo PROPERTIES (\"sync\" = \"yes\")",
    )
    .await;
    assert_eq!(code, 5064);
    assert!(msg.contains("Invalid sync value: 'yes'"), "{msg}");
}

#[tokio::test]
async fn a_sync_job_that_is_cancelled_answers_an_error_with_its_status() {
    let daemon = TestDaemon::start_with(
        &[],
        &[("BACKSTOP_FAILPOINTS", "backup.after_object_upload=pause")],
    );
    let loc = location(&daemon);
    let mut conn = daemon.conn().await;
    load(&mut conn, &loc).await;
    let waiter = {
        let mut c = daemon.conn().await;
        tokio::spawn(async move {
            server_err(
                &mut c,
                "BACKUP SNAPSHOT sr_hub.snap TO repo PROPERTIES (\"sync\" = \"true\")",
            )
            .await
        })
    };
    let start = Instant::now();
    loop {
        let show = rows(&mut conn, "SHOW BACKUP FROM sr_hub").await;
        if show.first().and_then(|r| r[3].as_deref()) == Some("UPLOADING") {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "{show:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    exec(&mut conn, "CANCEL BACKUP FROM sr_hub").await;
    let (code, state, msg) = tokio::time::timeout(DEADLINE, waiter)
        .await
        .expect("the sync BACKUP returned")
        .unwrap();
    assert_eq!((code, state.as_str()), (5064, "42000"), "{msg}");
    assert!(
        msg.contains("BACKUP job")
            && msg.contains("label 'snap'")
            && msg.contains("ended CANCELLED: [COMMON_ERROR, msg: user cancelled]"),
        "{msg}"
    );
}

/// Runs `sql` through `mysql --batch`.
fn mysql(daemon: &TestDaemon, sql: &str) -> common::Outcome {
    let mut cmd = daemon.mysql_batch_command();
    run_with_deadline(&mut cmd, sql, DEADLINE)
}

#[tokio::test]
async fn the_mysql_cli_prints_the_row_or_exits_non_zero() {
    let daemon = TestDaemon::start_with(&[], &[("BACKSTOP_FAILPOINTS", "restore.pending=error")]);
    let loc = location(&daemon);
    let mut conn = daemon.conn().await;
    load(&mut conn, &loc).await;
    let out = mysql(
        &daemon,
        "BACKUP SNAPSHOT sr_hub.snap TO repo PROPERTIES (\"sync\" = \"true\");\n",
    );
    assert!(out.status.success(), "{out}");
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some(SYNC_HEADER), "{out}");
    let row: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(row[1..3], ["BACKUP", "snap"], "{out}");
    assert_eq!(row[5], "FINISHED", "{out}");
    let ts = row[3];

    // The restore fails in PENDING: the CLI stops with the job's status and exit code 1.
    let out = mysql(
        &daemon,
        &format!(
            "RESTORE SNAPSHOT sr_hub.snap FROM repo ON (sr_member AS copy) \
             PROPERTIES (\"backup_timestamp\" = \"{ts}\", \"sync\" = \"true\");\nSELECT 'not reached';\n"
        ),
    );
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert!(!out.stdout.contains("not reached"), "{out}");
    assert!(
        out.stderr.contains("ERROR 5064 (42000)")
            && out.stderr.contains("RESTORE job")
            && out.stderr.contains("ended CANCELLED: [COMMON_ERROR, msg:")
            && out.stderr.contains("failpoint restore.pending"),
        "{out}"
    );
}
