//! BACKUP and RESTORE against real S3-compatible servers: the seed's walkthrough through the
//! `mysql` client on moto (SigV4 and IAM enforced), migration to a second daemon, and
//! incremental backups counted on the server (s3s-fs keeps objects as files).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::TestDaemon;
use common::s3::{MotoServer, S3sFsServer, allow_policy, s3_properties as s3_props};

/// Runs `sql` through the `mysql` CLI in batch mode; panics on a client error.
fn mysql(daemon: &TestDaemon, sql: &str) -> Vec<Vec<String>> {
    let mysql = common::require_tool("mysql");
    let out = std::process::Command::new(mysql)
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &daemon.port().to_string(),
            "-u",
            "root",
        ])
        .args(["--batch", "--skip-column-names", "-e", sql])
        .output()
        .expect("run mysql");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{sql}:\n{stderr}"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Polls `SHOW {BACKUP|RESTORE} FROM db` until the job is done; returns its row.
fn wait_job(daemon: &TestDaemon, what: &str, db: &str) -> Vec<String> {
    let state_col = if what == "BACKUP" { 3 } else { 4 };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = mysql(daemon, &format!("SHOW {what} FROM {db}"));
        let row = rows.first().cloned().unwrap_or_default();
        let state = row.get(state_col).cloned().unwrap_or_default();
        if state == "FINISHED" || state == "CANCELLED" {
            return row;
        }
        assert!(Instant::now() < deadline, "{what} still {state}: {row:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const MEMBER: &str = "CREATE TABLE sr_hub.sr_member (
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

/// The seed's walkthrough, as one scripted session per server through the `mysql` client,
/// against moto: create the repository, create and load sr_hub.sr_member, back it up, watch
/// SHOW BACKUP, SHOW SNAPSHOT, restore on a second daemon, watch SHOW RESTORE, compare
/// CHECKSUM TABLE.
#[test]
fn seed_walkthrough_on_s3_and_migration_to_a_second_server() {
    const BUCKET: &str = "bucket_s3";
    let moto = MotoServer::start();
    moto.create_bucket(BUCKET);
    let writer = moto.create_user("backup-writer", &allow_policy(&["s3:*"]));
    let reader = moto.create_user(
        "restore-reader",
        &allow_policy(&["s3:GetObject", "s3:ListBucket"]),
    );
    let source = TestDaemon::start();
    let target = TestDaemon::start();

    mysql(
        &source,
        &format!(
            "CREATE REPOSITORY test_repo WITH BROKER ON LOCATION \"s3a://{BUCKET}/backup\" {};
             CREATE DATABASE sr_hub;
             {MEMBER};
             INSERT INTO sr_hub.sr_member VALUES {ROWS};
             BACKUP SNAPSHOT sr_hub.sr_member_backup TO test_repo ON (sr_member);",
            s3_props(&moto.endpoint(), &writer)
        ),
    );
    let backup = wait_job(&source, "BACKUP", "sr_hub");
    assert_eq!(backup[3], "FINISHED", "{backup:?}");
    assert_eq!(backup[4], "[sr_hub.sr_member]");
    assert_eq!(backup[12], "[OK]");
    let snapshots = mysql(&source, "SHOW SNAPSHOT ON test_repo");
    assert_eq!(snapshots.len(), 1, "{snapshots:?}");
    assert_eq!(snapshots[0][0], "sr_member_backup");
    assert_eq!(snapshots[0][2], "OK");
    let ts = snapshots[0][1].clone();

    // The new server: a READ ONLY repository with the same name and location, read-only keys.
    mysql(
        &target,
        &format!(
            "CREATE READ ONLY REPOSITORY test_repo WITH BROKER ON LOCATION \"s3://{BUCKET}/backup/\" {}",
            s3_props(&moto.endpoint(), &reader)
        ),
    );
    let seen = mysql(&target, "SHOW SNAPSHOT ON test_repo");
    assert_eq!(seen, snapshots, "the second server sees the same snapshots");
    mysql(
        &target,
        &format!(
            "RESTORE SNAPSHOT sr_hub.sr_member_backup FROM test_repo ON (sr_member) \
             PROPERTIES (\"backup_timestamp\" = \"{ts}\", \"replication_num\" = \"1\")"
        ),
    );
    let restore = wait_job(&target, "RESTORE", "sr_hub");
    assert_eq!(restore[4], "FINISHED", "{restore:?}");
    assert_eq!(restore[16], "[OK]");
    let checksum = |d: &TestDaemon| mysql(d, "CHECKSUM TABLE sr_hub.sr_member");
    assert_eq!(checksum(&source), checksum(&target));
    let all = "SELECT * FROM sr_hub.sr_member ORDER BY sr_id";
    assert_eq!(mysql(&source, all), mysql(&target, all));
    assert_eq!(
        mysql(&target, "SELECT count(*) FROM sr_hub.sr_member"),
        [["5"]]
    );
    // BACKUP into the READ ONLY repository is refused.
    let out = std::process::Command::new(common::require_tool("mysql"))
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &target.port().to_string(),
            "-u",
            "root",
            "--batch",
        ])
        .args(["-e", "BACKUP SNAPSHOT sr_hub.again TO test_repo"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ERROR 5064 (42000)") && err.contains("Repository test_repo is read only"),
        "{err}"
    );
    for d in [&source, &target] {
        let log = d.stderr_text();
        assert!(!log.contains(&writer.secret_key) && !log.contains(&reader.secret_key));
    }
}

/// Object files s3s-fs holds under the repository's `objects/`.
fn objects_on_server(data: &Path) -> usize {
    fn walk(p: &Path) -> usize {
        std::fs::read_dir(p).map_or(0, |entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    let name = e.file_name().to_string_lossy().to_string();
                    if path.is_dir() {
                        walk(&path)
                    } else {
                        usize::from(!name.starts_with('.') && !name.ends_with(".json"))
                    }
                })
                .sum()
        })
    }
    walk(data)
}

/// A second backup of unchanged data uploads no object again (counted on the server), one
/// after a load uploads only the new rowsets, and every snapshot restores alone.
#[test]
fn backups_are_incremental_and_each_snapshot_restores_alone() {
    const BUCKET: &str = "backups";
    let s3 = S3sFsServer::start();
    s3.create_bucket(BUCKET);
    let daemon = TestDaemon::start();
    mysql(
        &daemon,
        &format!(
            "CREATE REPOSITORY repo ON LOCATION \"s3a://{BUCKET}/prod\" {};
             CREATE DATABASE sr_hub;
             {MEMBER};
             INSERT INTO sr_hub.sr_member VALUES {ROWS};
             BACKUP SNAPSHOT sr_hub.daily TO repo;",
            s3_props(&s3.endpoint(), s3.key())
        ),
    );
    assert_eq!(wait_job(&daemon, "BACKUP", "sr_hub")[12], "[OK]");
    let objects = s3.data_dir().join(BUCKET).join("prod/repo/objects");
    let first = objects_on_server(&objects);
    assert!(first > 0);
    let checksum_1 = mysql(&daemon, "CHECKSUM TABLE sr_hub.sr_member")[0][1].clone();

    mysql(&daemon, "BACKUP SNAPSHOT sr_hub.daily TO repo");
    assert_eq!(wait_job(&daemon, "BACKUP", "sr_hub")[12], "[OK]");
    assert_eq!(
        objects_on_server(&objects),
        first,
        "unchanged data uploads no object"
    );

    mysql(
        &daemon,
        "INSERT INTO sr_hub.sr_member VALUES (6, 'new', 1, '2022-03-15')",
    );
    mysql(&daemon, "BACKUP SNAPSHOT sr_hub.daily TO repo");
    assert_eq!(wait_job(&daemon, "BACKUP", "sr_hub")[12], "[OK]");
    assert_eq!(
        objects_on_server(&objects),
        first + 1,
        "one new rowset, one new object"
    );
    let checksum_3 = mysql(&daemon, "CHECKSUM TABLE sr_hub.sr_member")[0][1].clone();

    let snapshots = mysql(&daemon, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'daily'");
    let timestamps: Vec<String> = snapshots[0][1].split("\\n").map(str::to_string).collect();
    assert_eq!(timestamps.len(), 3, "{snapshots:?}");
    // The first and the last snapshot, each restored beside the table.
    for (ts, alias, want) in [
        (&timestamps[0], "first", &checksum_1),
        (&timestamps[2], "last", &checksum_3),
    ] {
        mysql(
            &daemon,
            &format!(
                "RESTORE SNAPSHOT sr_hub.daily FROM repo ON (sr_member AS {alias}) \
                 PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
            ),
        );
        let row = wait_job(&daemon, "RESTORE", "sr_hub");
        assert_eq!(row[16], "[OK]", "{row:?}");
        let got = mysql(&daemon, &format!("CHECKSUM TABLE sr_hub.{alias}"))[0][1].clone();
        assert_eq!(&got, want, "{alias}");
    }
    // Partition granularity: back up p2 only, restore it into a fresh database.
    mysql(
        &daemon,
        "BACKUP SNAPSHOT sr_hub.p2_only TO repo ON (sr_member PARTITION (p2))",
    );
    let row = wait_job(&daemon, "BACKUP", "sr_hub");
    assert_eq!(row[4], "[sr_hub.sr_memberPARTITIONS (p2)]");
    let ts = mysql(&daemon, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'p2_only'")[0][1].clone();
    mysql(
        &daemon,
        &format!(
            "RESTORE SNAPSHOT p2_copy.p2_only FROM repo ON (sr_member) \
             PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
        ),
    );
    assert_eq!(wait_job(&daemon, "RESTORE", "p2_copy")[16], "[OK]");
    assert_eq!(
        mysql(
            &daemon,
            "SELECT sr_id FROM p2_copy.sr_member ORDER BY sr_id"
        ),
        [["2"], ["3"]]
    );
    let partitions = mysql(&daemon, "SHOW PARTITIONS FROM p2_copy.sr_member");
    assert_eq!(partitions.len(), 1);
    assert_eq!(partitions[0][1], "p2");
}

/// CANCEL BACKUP while an object's multipart upload is half done (held at a failpoint after
/// its first part): the upload is aborted on moto, no COMMIT is written, and nothing of the
/// upload is left to bill.
#[test]
fn cancel_aborts_the_multipart_upload_in_flight() {
    use rand::Rng;
    let moto = MotoServer::start();
    moto.create_bucket("cancelled");
    let writer = moto.create_user("writer", &allow_policy(&["s3:*"]));
    let points = tempfile::tempdir().unwrap();
    let d = TestDaemon::start_with(
        &[],
        &[
            ("BACKSTOP_FAILPOINTS", "s3.multipart.after_part=pause"),
            ("BACKSTOP_FAILPOINT_DIR", points.path().to_str().unwrap()),
        ],
    );
    // One rowset of about 9 MiB of incompressible text: two parts of 5 MiB.
    let mut rng = rand::rng();
    let csv = d.scratch_dir().join("big.csv");
    let mut text = String::new();
    for id in 0..60_000 {
        let payload: String = (0..200)
            .map(|_| char::from(rng.sample(rand::distr::Alphanumeric)))
            .collect();
        text.push_str(&format!("{id}|{payload}\n"));
    }
    std::fs::write(&csv, text).unwrap();
    mysql(
        &d,
        &format!(
            "CREATE DATABASE shop; CREATE TABLE shop.big (id INT, payload STRING) DUPLICATE KEY(id) \
             DISTRIBUTED BY HASH(id) BUCKETS 1; INSERT INTO shop.big SELECT * FROM FILES(\
             \"path\" = \"file://{}\", \"format\" = \"csv\", \"csv.column_separator\" = \"|\"); \
             CREATE REPOSITORY repo ON LOCATION \"s3a://cancelled/backups\" {}",
            csv.display(),
            s3_props(&moto.endpoint(), &writer)
        ),
    );
    mysql(
        &d,
        "BACKUP SNAPSHOT shop.held TO repo PROPERTIES (\"part_size\" = \"5M\")",
    );
    let reached = points.path().join("s3.multipart.after_part.reached");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reached.exists() {
        assert!(
            Instant::now() < deadline,
            "the backup never reached its first part"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(moto.multipart_uploads("cancelled"), 1, "an upload is open");
    mysql(&d, "CANCEL BACKUP FROM shop");
    let row = wait_job(&d, "BACKUP", "shop");
    assert_eq!(row[3], "CANCELLED", "{row:?}");
    // The abort runs on its own task once the transfer is dropped: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(20);
    while moto.multipart_uploads("cancelled") > 0 {
        assert!(
            Instant::now() < deadline,
            "the cancelled multipart upload was not aborted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let listed = mysql(&d, "SHOW SNAPSHOT ON repo");
    assert!(listed.is_empty(), "no snapshot was committed: {listed:?}");
}
