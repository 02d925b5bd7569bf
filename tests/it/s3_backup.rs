//! BACKUP and RESTORE against real S3-compatible servers: the seed's walkthrough through the
//! `mysql` client on moto (SigV4 and IAM enforced), migration to a second daemon, and
//! incremental backups counted on the server (s3s-fs keeps objects as files).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::TestDaemon;
use common::s3::{KeyPair, MotoServer, S3sFsServer, allow_policy, s3_properties as s3_props};

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

/// Starts `BACKUP SNAPSHOT shop.<label>` in 5 MiB parts and returns once it is held after its
/// first part (failpoint `s3.multipart.after_part` paused, reported in `points`).
fn backup_held_mid_upload(d: &TestDaemon, points: &Path, label: &str) {
    mysql(
        d,
        &format!("BACKUP SNAPSHOT shop.{label} TO repo PROPERTIES (\"part_size\" = \"5M\")"),
    );
    let reached = points.join("s3.multipart.after_part.reached");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reached.exists() {
        assert!(
            Instant::now() < deadline,
            "the backup never reached its first part"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Table shop.big, one rowset of about 9 MiB of incompressible text (two parts of 5 MiB), and
/// repository `repo` at `location` on moto as `writer`.
fn load_big_table(d: &TestDaemon, location: &str, moto: &MotoServer, writer: &KeyPair) {
    use rand::Rng;
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
        d,
        &format!(
            "CREATE DATABASE shop; CREATE TABLE shop.big (id INT, payload STRING) DUPLICATE KEY(id) \
             DISTRIBUTED BY HASH(id) BUCKETS 1; INSERT INTO shop.big SELECT * FROM FILES(\
             \"path\" = \"file://{}\", \"format\" = \"csv\", \"csv.column_separator\" = \"|\"); \
             CREATE REPOSITORY repo ON LOCATION \"{location}\" {}",
            csv.display(),
            s3_props(&moto.endpoint(), writer)
        ),
    );
}

/// An open multipart upload of a running backup is left alone by the collection rounds of its
/// repository (it began after the job's lease); once the daemon is killed in the middle of it,
/// the upload stays open on S3 (billed until someone aborts it), and after the restart the
/// next round aborts it (nothing runs, so it belongs to no live job); a new backup succeeds.
#[test]
fn an_upload_a_crash_left_open_is_aborted_by_the_next_round() {
    let moto = MotoServer::start();
    moto.create_bucket("crashed");
    let writer = moto.create_user("writer", &allow_policy(&["s3:*"]));
    let points = tempfile::tempdir().unwrap();
    let mut d = TestDaemon::start_with(
        &["--lease-lifetime", "3", "--snapshot-expiry-interval", "1"],
        &[
            ("BACKSTOP_FAILPOINTS", "s3.multipart.after_part=pause"),
            ("BACKSTOP_FAILPOINT_DIR", points.path().to_str().unwrap()),
        ],
    );
    load_big_table(&d, "s3a://crashed/backups", &moto, &writer);
    backup_held_mid_upload(&d, points.path(), "big");
    // Rounds run every second, leases last 3 s: two lifetimes later the live job's upload is
    // still open.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        moto.multipart_uploads("crashed"),
        1,
        "a live job's upload was aborted"
    );
    // A crash in the middle of it leaves it open.
    d.kill9();
    d.set_env("BACKSTOP_FAILPOINTS", None);
    d.start_again();
    let deadline = Instant::now() + Duration::from_secs(60);
    while moto.multipart_uploads("crashed") > 0 {
        assert!(
            Instant::now() < deadline,
            "the open upload was not aborted:\n{}",
            d.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    mysql(
        &d,
        "BACKUP SNAPSHOT shop.big TO repo PROPERTIES (\"part_size\" = \"5M\", \"sync\" = \"true\")",
    );
    let listed = mysql(&d, "SHOW SNAPSHOT ON repo");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(moto.multipart_uploads("crashed"), 0);
}

/// CANCEL BACKUP while an object's multipart upload is half done (held at a failpoint after
/// its first part): the upload is aborted on moto, no COMMIT is written, and nothing of the
/// upload is left to bill.
#[test]
fn cancel_aborts_the_multipart_upload_in_flight() {
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
    load_big_table(&d, "s3a://cancelled/backups", &moto, &writer);
    backup_held_mid_upload(&d, points.path(), "held");
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

/// PRIMARY KEY, UNIQUE KEY, AGGREGATE KEY (with BITMAP and HLL columns too) and DUPLICATE KEY
/// tables changed by upserts, aggregating loads, UPDATE and DELETE,
/// backed up to S3 and restored on a second server: the same rows and checksums there, and the
/// backup after an UPDATE of a few rows uploads only the files that UPDATE wrote (a data file
/// and a delete file per touched tablet), counted on the server.
#[test]
fn keyed_tables_back_up_incrementally_and_restore_on_a_second_server() {
    const BUCKET: &str = "keyed";
    let s3 = S3sFsServer::start();
    s3.create_bucket(BUCKET);
    let a = TestDaemon::start();
    let values: Vec<String> = (0..300)
        .map(|i| format!("({i}, '2026-0{}-01', 'name-{i}', {})", 1 + i % 3, i * 7))
        .collect();
    let unique_values: Vec<String> = (0..100).map(|i| format!("({}, {i})", i % 10)).collect();
    mysql(
        &a,
        &format!(
            "CREATE REPOSITORY repo ON LOCATION \"s3a://{BUCKET}/k\" {};
             CREATE DATABASE shop;
             CREATE TABLE shop.orders (id BIGINT NOT NULL, d DATE NOT NULL, name VARCHAR(40), qty INT)
                 PRIMARY KEY(id, d) PARTITION BY RANGE(d) (
                     PARTITION p1 VALUES LESS THAN ('2026-02-01'),
                     PARTITION p2 VALUES LESS THAN ('2026-12-31'))
                 DISTRIBUTED BY HASH(id) BUCKETS 4;
             INSERT INTO shop.orders VALUES {};
             INSERT INTO shop.orders VALUES (5, '2026-03-01', 'upserted', -1), (6, '2026-01-01', 'again', -2);
             DELETE FROM shop.orders WHERE id BETWEEN 100 AND 109;
             CREATE TABLE shop.latest (k INT, v INT) UNIQUE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2;
             INSERT INTO shop.latest VALUES {};
             CREATE TABLE shop.log (k INT, msg STRING) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2;
             INSERT INTO shop.log VALUES (1, 'a'), (2, 'b'), (3, 'c'), (1, 'a');
             DELETE FROM shop.log WHERE k = 1;
             CREATE TABLE shop.docs (k INT NOT NULL, doc JSON, raw VARBINARY(8)) PRIMARY KEY(k)
                 DISTRIBUTED BY HASH(k) BUCKETS 2;
             INSERT INTO shop.docs VALUES (1, '{{\"b\": [1, 2], \"a\": \"é\"}}', 'abc'), (2, '[null]', NULL);
             INSERT INTO shop.docs VALUES (3, NULL, X'00FF10');
             UPDATE shop.docs SET doc = parse_json('{{\"v\": 1}}') WHERE k = 2;
             CREATE TABLE shop.visits (site INT, d DATE, pv BIGINT SUM, top DOUBLE MAX,
                 url VARCHAR(20) REPLACE, city VARCHAR(20) REPLACE_IF_NOT_NULL)
                 AGGREGATE KEY(site, d) DISTRIBUTED BY HASH(site) BUCKETS 2;
             INSERT INTO shop.visits VALUES (1, '2026-01-01', 3, 1.5, '/a', 'Oslo'),
                 (2, '2026-01-01', 1, 0, '/b', NULL), (1, '2026-01-01', 4, 0.5, '/c', NULL);
             INSERT INTO shop.visits VALUES (1, '2026-01-01', 10, 9, NULL, NULL), (NULL, NULL, 1, 1, 'n', 'x');
             DELETE FROM shop.visits WHERE site = 2;
             CREATE TABLE shop.reach (page VARCHAR(8), users BITMAP BITMAP_UNION,
                 approx HLL HLL_UNION) AGGREGATE KEY(page) DISTRIBUTED BY HASH(page) BUCKETS 2;
             INSERT INTO shop.reach VALUES ('a', to_bitmap(1), hll_hash(1)),
                 ('b', bitmap_from_string('5,6'), hll_hash(5));
             INSERT INTO shop.reach VALUES ('a', to_bitmap(2), hll_hash(2));
             BACKUP SNAPSHOT shop.s TO repo;",
            s3_props(&s3.endpoint(), s3.key()),
            values.join(", "),
            unique_values.join(", "),
        ),
    );
    assert_eq!(wait_job(&a, "BACKUP", "shop")[12], "[OK]");
    let objects = s3.data_dir().join(BUCKET).join("k/repo/objects");
    let first = objects_on_server(&objects);
    let files = |d: &TestDaemon| -> usize {
        mysql(d, "SHOW TABLET FROM shop.orders")
            .iter()
            .map(|r| r[5].parse::<usize>().unwrap())
            .sum()
    };
    let before = files(&a);
    // Three rows in (at most) three tablets: their files are all the next backup uploads.
    mysql(
        &a,
        "UPDATE shop.orders SET qty = qty + 1000 WHERE id IN (1, 2, 3)",
    );
    let written = files(&a) - before;
    assert!((2..=6).contains(&written), "{written} files for 3 rows");
    mysql(&a, "BACKUP SNAPSHOT shop.s TO repo");
    assert_eq!(wait_job(&a, "BACKUP", "shop")[12], "[OK]");
    assert_eq!(
        objects_on_server(&objects),
        first + written,
        "the backup after an UPDATE uploads only the files it wrote"
    );

    let tables = ["orders", "latest", "log", "docs", "visits", "reach"];
    let queries = [
        "SELECT * FROM shop.orders ORDER BY id, d",
        "SELECT * FROM shop.latest ORDER BY k",
        "SELECT * FROM shop.log ORDER BY k, msg",
        "SELECT k, doc, encode(raw, 'hex') FROM shop.docs ORDER BY k",
        "SELECT * FROM shop.visits ORDER BY site",
        "SELECT page, bitmap_to_string(users), hll_cardinality(approx) FROM shop.reach \
         ORDER BY page",
    ];
    let source: Vec<_> = queries.iter().map(|q| mysql(&a, q)).collect();
    assert_eq!(source[0].len(), 290);
    assert_eq!(source[0][5][2], "upserted");
    assert_eq!(source[0][1][3], "1007");
    assert_eq!(source[1].len(), 10);
    assert_eq!(source[2].len(), 2);
    assert_eq!(
        source[3],
        [
            ["1", r#"{"a": "é", "b": [1, 2]}"#, "616263"],
            ["2", r#"{"v": 1}"#, "NULL"],
            ["3", "NULL", "00ff10"],
        ]
    );
    assert_eq!(
        source[4],
        [
            ["NULL", "NULL", "1", "1.0", "n", "x"],
            ["1", "2026-01-01", "17", "9.0", "NULL", "Oslo"],
        ]
    );
    assert_eq!(source[5], [["a", "1,2", "2"], ["b", "5,6", "1"]]);
    let sums: Vec<_> = tables
        .iter()
        .map(|t| mysql(&a, &format!("CHECKSUM TABLE shop.{t}"))[0][1].clone())
        .collect();

    let b = TestDaemon::start();
    mysql(
        &b,
        &format!(
            "CREATE REPOSITORY repo ON LOCATION \"s3a://{BUCKET}/k\" {}",
            s3_props(&s3.endpoint(), s3.key())
        ),
    );
    let snapshots = mysql(&b, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 's'");
    let last = snapshots[0][1].split("\\n").last().unwrap().to_string();
    mysql(
        &b,
        &format!(
            "RESTORE SNAPSHOT shop.s FROM repo PROPERTIES (\"backup_timestamp\" = \"{last}\")"
        ),
    );
    assert_eq!(wait_job(&b, "RESTORE", "shop")[16], "[OK]");
    for (i, t) in tables.iter().enumerate() {
        assert_eq!(
            mysql(&b, &format!("CHECKSUM TABLE shop.{t}"))[0][1],
            sums[i],
            "{t}"
        );
        assert_eq!(mysql(&b, queries[i]), source[i], "{t}");
    }
    // The restored table keeps its key: an upsert there replaces the restored row.
    mysql(
        &b,
        "INSERT INTO shop.orders VALUES (1, '2026-02-01', 'on b', 0)",
    );
    assert_eq!(
        mysql(&b, "SELECT name FROM shop.orders WHERE id = 1"),
        [["on b"]]
    );
    // And an aggregating load there merges with the restored row.
    mysql(
        &b,
        "INSERT INTO shop.visits VALUES (1, '2026-01-01', 3, 1, '/z', NULL)",
    );
    assert_eq!(
        mysql(
            &b,
            "SELECT pv, top, url, city FROM shop.visits WHERE site = 1"
        ),
        [["20", "9.0", "/z", "Oslo"]]
    );
}

/// A database of tables, views (a view over a view, a column list, a WITH, a view over two
/// tables) and a materialized view with a view over it, backed up to S3 and restored on a
/// second server: every object answers the same queries there, the materialized view keeps the
/// snapshot's rows until it is refreshed there; a later ON (VIEW ... AS ...) restore adds a
/// renamed view beside them.
#[test]
fn views_restore_with_their_tables_on_a_second_server() {
    const BUCKET: &str = "views";
    let s3 = S3sFsServer::start();
    s3.create_bucket(BUCKET);
    let a = TestDaemon::start();
    mysql(
        &a,
        &format!(
            "CREATE REPOSITORY repo ON LOCATION \"s3a://{BUCKET}/v\" {};
             CREATE DATABASE shop;
             CREATE TABLE shop.member (id INT NOT NULL, name VARCHAR(20), region VARCHAR(8))
                 PRIMARY KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2;
             CREATE TABLE shop.orders (oid BIGINT, member INT, amount DECIMAL(10, 2), d DATE)
                 DUPLICATE KEY(oid) PARTITION BY RANGE(d) (
                     PARTITION p1 VALUES LESS THAN ('2026-01-01'),
                     PARTITION p2 VALUES LESS THAN ('2027-01-01'))
                 DISTRIBUTED BY HASH(oid) BUCKETS 3;
             INSERT INTO shop.member VALUES (1, 'ann', 'north'), (2, 'bo', 'south'), (3, 'cy', NULL);
             INSERT INTO shop.orders VALUES (10, 1, 5.00, '2025-05-01'), (11, 1, 7.50, '2026-02-01'),
                 (12, 2, 100.00, '2026-03-01'), (13, 3, 1.25, '2025-12-31');
             INSERT INTO shop.member VALUES (2, 'bob', 'south');
             CREATE VIEW shop.spend (member, total) AS
                 SELECT m.name, sum(o.amount) FROM shop.member m JOIN orders o ON o.member = m.id
                 GROUP BY m.name;
             CREATE VIEW shop.big_spenders AS SELECT member FROM spend WHERE total > 10;
             CREATE VIEW shop.by_region COMMENT 'per region' AS
                 WITH r AS (SELECT coalesce(region, '?') AS region, id FROM member)
                 SELECT region, count(*) AS members FROM r GROUP BY region;
             CREATE MATERIALIZED VIEW shop.region_totals REFRESH DEFERRED MANUAL AS
                 SELECT coalesce(m.region, '?') AS region, sum(o.amount) AS total
                 FROM member m JOIN orders o ON o.member = m.id GROUP BY coalesce(m.region, '?');
             REFRESH MATERIALIZED VIEW shop.region_totals WITH SYNC MODE;
             CREATE VIEW shop.top_region AS SELECT region FROM region_totals WHERE total > 50;
             BACKUP SNAPSHOT shop.s TO repo;",
            s3_props(&s3.endpoint(), s3.key()),
        ),
    );
    assert_eq!(wait_job(&a, "BACKUP", "shop")[12], "[OK]");
    let queries = [
        "SELECT * FROM shop.member ORDER BY id",
        "SELECT * FROM shop.orders ORDER BY oid",
        "SELECT * FROM shop.spend ORDER BY member",
        "SELECT * FROM shop.big_spenders ORDER BY member",
        "SELECT * FROM shop.by_region ORDER BY region",
        "SHOW FULL TABLES FROM shop",
        "SHOW CREATE VIEW shop.spend",
        "DESC shop.by_region",
        "SELECT * FROM shop.region_totals ORDER BY region",
        "SELECT * FROM shop.top_region ORDER BY region",
        "SHOW CREATE MATERIALIZED VIEW shop.region_totals",
    ];
    let source: Vec<_> = queries.iter().map(|q| mysql(&a, q)).collect();
    assert_eq!(
        source[2],
        [["ann", "12.50"], ["bob", "100.00"], ["cy", "1.25"]]
    );
    assert_eq!(source[3], [["ann"], ["bob"]]);
    assert_eq!(source[4], [["?", "1"], ["north", "1"], ["south", "1"]]);
    assert_eq!(
        source[8],
        [["?", "1.25"], ["north", "12.50"], ["south", "100.00"]]
    );
    assert_eq!(source[9], [["south"]]);

    let b = TestDaemon::start();
    mysql(
        &b,
        &format!(
            "CREATE REPOSITORY repo ON LOCATION \"s3a://{BUCKET}/v\" {}",
            s3_props(&s3.endpoint(), s3.key())
        ),
    );
    let ts = mysql(&b, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 's'")[0][1].clone();
    mysql(
        &b,
        &format!("RESTORE SNAPSHOT shop.s FROM repo PROPERTIES (\"backup_timestamp\" = \"{ts}\")"),
    );
    assert_eq!(wait_job(&b, "RESTORE", "shop")[16], "[OK]");
    for (i, q) in queries.iter().enumerate() {
        assert_eq!(mysql(&b, q), source[i], "{q}");
    }
    // A load on the second server shows through its restored views at once, and through the
    // restored materialized view (and the view over it) after a refresh there.
    mysql(
        &b,
        "INSERT INTO shop.orders VALUES (14, 3, 50.00, '2026-06-01')",
    );
    assert_eq!(
        mysql(&b, "SELECT * FROM shop.big_spenders ORDER BY member"),
        [["ann"], ["bob"], ["cy"]]
    );
    assert_eq!(mysql(&b, queries[8]), source[8], "not refreshed yet");
    let state = mysql(&b, "SHOW MATERIALIZED VIEWS FROM shop");
    assert_eq!(state[0][4], "true", "{state:?}");
    assert!(
        state[0][22].contains("restored from snapshot s/"),
        "{state:?}"
    );
    mysql(
        &b,
        "REFRESH MATERIALIZED VIEW shop.region_totals WITH SYNC MODE",
    );
    assert_eq!(
        mysql(&b, queries[8]),
        [["?", "51.25"], ["north", "12.50"], ["south", "100.00"]]
    );
    assert_eq!(mysql(&b, queries[9]), [["?"], ["south"]]);
    // One view again, renamed, beside the others.
    mysql(
        &b,
        &format!(
            "RESTORE SNAPSHOT shop.s FROM repo ON (VIEW big_spenders AS big_again) \
             PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
        ),
    );
    assert_eq!(wait_job(&b, "RESTORE", "shop")[16], "[OK]");
    assert_eq!(
        mysql(&b, "SELECT * FROM shop.big_again ORDER BY member"),
        [["ann"], ["bob"], ["cy"]]
    );
}
