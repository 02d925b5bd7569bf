//! The snapshot format is open (docs/format.md): a snapshot written by backstop is read with
//! DuckDB and pyarrow alone, from a `file://` folder and straight from an S3 bucket (s3s-fs),
//! and its row counts and sums equal the source table's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::backup::*;
use common::s3::S3sFsServer;
use common::{TestDaemon, clients_dir, exec, rows, run_with_deadline, venv_python};

/// count, sum(sr_id), count(DISTINCT name), min and max reg_date of a backstop table.
async fn figures(conn: &mut mysql_async::Conn, table: &str) -> serde_json::Value {
    let r = rows(
        conn,
        &format!(
            "SELECT count(*), sum(sr_id), count(DISTINCT name), CAST(min(reg_date) AS VARCHAR), \
             CAST(max(reg_date) AS VARCHAR) FROM {table}"
        ),
    )
    .await;
    let n = |i: usize| r[0][i].clone().unwrap().parse::<u64>().unwrap();
    serde_json::json!({
        "rows": n(0),
        "sum_id": n(1),
        "distinct_names": n(2),
        "min_date": r[0][3].clone().unwrap(),
        "max_date": r[0][4].clone().unwrap(),
        "manifest_rows": n(0),
    })
}

/// Runs `read_snapshot.py` with `args`; returns its JSON.
fn read_snapshot(args: &[String]) -> serde_json::Value {
    let mut cmd = Command::new(venv_python());
    cmd.arg(clients_dir().join("read_snapshot.py")).args(args);
    let out = run_with_deadline(&mut cmd, "", Duration::from_secs(120));
    assert!(out.status.success(), "read_snapshot.py failed: {out}");
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_and_pyarrow_read_a_snapshot_without_backstop() {
    let s3 = S3sFsServer::start();
    s3.create_bucket("open");
    let d = TestDaemon::start();
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    change_sample(&mut c, "shop").await;
    exec(&mut c, &member_ddl("shop.empty_one")).await;
    // A PRIMARY KEY copy, then upserts and deletes: its snapshot has delete files to apply.
    exec(
        &mut c,
        "CREATE TABLE shop.latest (sr_id INT NOT NULL, reg_date DATE NOT NULL, name STRING, \
         city_code INT) PRIMARY KEY(sr_id, reg_date) DISTRIBUTED BY HASH(sr_id) BUCKETS 3",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO shop.latest SELECT sr_id, reg_date, name, city_code FROM shop.sr_member",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO shop.latest SELECT sr_id, reg_date, concat(name, '-v2'), city_code \
         FROM shop.sr_member WHERE sr_id % 2 = 0",
    )
    .await;
    exec(&mut c, "DELETE FROM shop.latest WHERE sr_id % 3 = 0").await;
    exec(
        &mut c,
        "UPDATE shop.latest SET name = 'updated' WHERE sr_id % 5 = 1",
    )
    .await;
    let root = scratch_repo(&d, &mut c, "local").await;
    let key = s3.key();
    exec(
        &mut c,
        &format!(
            "CREATE REPOSITORY bucket WITH BROKER ON LOCATION \"s3://open/backups\" PROPERTIES (\
             \"aws.s3.access_key\" = \"{}\", \"aws.s3.secret_key\" = \"{}\", \
             \"aws.s3.endpoint\" = \"{}\", \"aws.s3.enable_path_style_access\" = \"true\")",
            key.access_key,
            key.secret_key,
            s3.endpoint()
        ),
    )
    .await;
    backup(
        &mut c,
        "shop",
        "daily",
        "local",
        "ON (sr_member, empty_one, latest)",
    )
    .await;
    backup(
        &mut c,
        "shop",
        "daily",
        "bucket",
        "ON (sr_member, empty_one, latest)",
    )
    .await;
    let want = figures(&mut c, "shop.sr_member").await;
    let want_latest = figures(&mut c, "shop.latest").await;
    assert!(want_latest["rows"].as_u64().unwrap() > 0, "{want_latest}");

    let from_folder = read_snapshot(&["file".into(), root.display().to_string(), "daily".into()]);
    let from_bucket = read_snapshot(&[
        "s3".into(),
        s3.endpoint(),
        key.access_key.clone(),
        key.secret_key.clone(),
        "open/backups/bucket".into(),
        "daily".into(),
    ]);
    for (name, got) in [("file://", &from_folder), ("s3://", &from_bucket)] {
        assert_eq!(got["sr_member"], want, "{name}: {got}");
        assert_eq!(got["latest"], want_latest, "{name}: {got}");
        assert_eq!(got["empty_one"]["rows"], 0, "{name}: {got}");
        assert_eq!(got["empty_one"]["manifest_rows"], 0, "{name}: {got}");
    }
}
