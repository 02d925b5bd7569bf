//! BACKUP and RESTORE when the storage misbehaves: a fault-injecting proxy on loopback sits
//! between the daemon and s3s-fs (stopped mid-upload, connections reset mid-body, 503 SlowDown,
//! stalls). Whatever happens, a job ends FINISHED with a snapshot that restores exactly, or
//! CANCELLED with the cause and no COMMIT; never a COMMIT for an incomplete snapshot.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::proxy::{Fault, FaultProxy, Match};
use common::s3::S3sFsServer;
use common::{TestDaemon, exec, rows};
use mysql_async::Conn;

const BUCKET: &str = "faults";

const MEMBER: &str = "CREATE TABLE shop.sr_member (
    sr_id INT NOT NULL, name STRING, reg_date DATE NOT NULL
) DUPLICATE KEY(sr_id)
PARTITION BY RANGE(reg_date) (
    PARTITION p1 VALUES [('2022-01-01'), ('2023-01-01')),
    PARTITION p2 VALUES [('2023-01-01'), ('2024-01-01')),
    PARTITION p3 VALUES [('2024-01-01'), ('2025-01-01'))
) DISTRIBUTED BY HASH(sr_id) BUCKETS 8";

/// A table with many small rowsets: 3 loads x 3 partitions x 8 buckets.
async fn load(conn: &mut Conn) {
    exec(conn, "CREATE DATABASE shop").await;
    exec(conn, MEMBER).await;
    for round in 0..3 {
        let values: Vec<String> = (0..300)
            .map(|i| {
                let id = round * 1000 + i;
                let year = 2022 + i % 3;
                format!("({id}, 'member-{id}', '{year}-0{}-1{}')", 1 + i % 9, i % 10)
            })
            .collect();
        exec(
            conn,
            &format!("INSERT INTO shop.sr_member VALUES {}", values.join(", ")),
        )
        .await;
    }
}

async fn create_repo(conn: &mut Conn, name: &str, endpoint: &str, s3: &S3sFsServer) {
    let key = s3.key();
    exec(
        conn,
        &format!(
            "CREATE REPOSITORY {name} ON LOCATION \"s3a://{BUCKET}/{name}\" PROPERTIES (\
             \"aws.s3.access_key\" = \"{}\", \"aws.s3.secret_key\" = \"{}\", \
             \"aws.s3.endpoint\" = \"{endpoint}\", \"aws.s3.enable_path_style_access\" = \"true\")",
            key.access_key, key.secret_key
        ),
    )
    .await;
}

/// The latest job's row as (State, Status, TaskErrMsg) once it is done.
async fn wait_done(conn: &mut Conn, kind: &str, db: &str, limit: Duration) -> Vec<String> {
    let (state_col, status_col, err_col) = if kind == "BACKUP" {
        (3, 12, 11)
    } else {
        (4, 16, 15)
    };
    let start = Instant::now();
    loop {
        let r = rows(conn, &format!("SHOW {kind} FROM {db}")).await;
        let row: Vec<String> = r[0].iter().map(|c| c.clone().unwrap_or_default()).collect();
        if row[state_col] == "FINISHED" || row[state_col] == "CANCELLED" {
            return vec![
                row[state_col].clone(),
                row[status_col].clone(),
                row[err_col].clone(),
            ];
        }
        assert!(start.elapsed() < limit, "{kind} still running: {row:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn repo_root(s3: &S3sFsServer, repo: &str) -> PathBuf {
    s3.data_dir().join(BUCKET).join(repo).join(repo)
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p, suffix));
            } else if p.to_string_lossy().ends_with(suffix)
                && !e.file_name().to_string_lossy().starts_with('.')
            {
                out.push(p);
            }
        }
    }
    out
}

/// Every COMMIT in the repository names a manifest whose objects are all on the server.
fn every_commit_is_complete(root: &Path) {
    for commit in files(&root.join("snapshots"), "COMMIT") {
        let manifest = commit.with_file_name("manifest.json");
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        for t in m["tables"].as_array().unwrap() {
            for p in t["partitions"].as_array().unwrap() {
                for tablet in p["tablets"].as_array().unwrap() {
                    for r in tablet["rowsets"].as_array().unwrap() {
                        let object = root.join(r["object"].as_str().unwrap());
                        let size = std::fs::metadata(&object)
                            .unwrap_or_else(|_| {
                                panic!(
                                    "{} committed without {}",
                                    commit.display(),
                                    object.display()
                                )
                            })
                            .len();
                        assert_eq!(size, r["size"].as_u64().unwrap());
                    }
                }
            }
        }
    }
}

/// s3s-fs behind the fault proxy, a daemon with the loaded table (and its checksum), and the
/// repository `repo` through the proxy.
async fn proxied_rig() -> (S3sFsServer, FaultProxy, TestDaemon, Conn, Option<String>) {
    let s3 = S3sFsServer::start();
    s3.create_bucket(BUCKET);
    let proxy = FaultProxy::start(s3.endpoint().trim_start_matches("http://"));
    let daemon = TestDaemon::start();
    let mut c = daemon.conn().await;
    load(&mut c).await;
    let sum = rows(&mut c, "CHECKSUM TABLE shop.sr_member").await[0][1].clone();
    create_repo(&mut c, "repo", &proxy.endpoint(), &s3).await;
    (s3, proxy, daemon, c, sum)
}

/// Restores the latest snapshot of `repo` as `shop.copy`; the job's row once it is done.
async fn restore_copy(c: &mut Conn) -> Vec<String> {
    let ts = rows(c, "SHOW SNAPSHOT ON repo").await[0][1]
        .clone()
        .unwrap();
    exec(
        c,
        &format!(
            "RESTORE SNAPSHOT shop.snap FROM repo ON (sr_member AS copy) \
             PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
        ),
    )
    .await;
    wait_done(c, "RESTORE", "shop", Duration::from_secs(120)).await
}

/// The S3 server goes away in the middle of the uploads and comes back: the job either
/// finishes (and its snapshot restores exactly) or ends CANCELLED with the cause; no COMMIT
/// without every object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_stopped_mid_upload_and_restarted() {
    let (s3, proxy, _daemon, mut c, sum) = proxied_rig().await;
    // Down at the 6th object upload, back after two seconds.
    proxy.set_fault_when(
        Fault::Refuse,
        Match::any()
            .method("PUT")
            .path_contains("/objects/")
            .skip(5),
    );
    exec(&mut c, "BACKUP SNAPSHOT shop.snap TO repo").await;
    let start = Instant::now();
    while !proxy.is_refusing() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the backup never reached the 6th upload"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.resume();
    let done = wait_done(&mut c, "BACKUP", "shop", Duration::from_secs(120)).await;
    let root = repo_root(&s3, "repo");
    every_commit_is_complete(&root);
    if done[0] == "FINISHED" {
        assert_eq!(done[1], "[OK]");
        let ts = rows(&mut c, "SHOW SNAPSHOT ON repo").await[0][1]
            .clone()
            .unwrap();
        exec(
            &mut c,
            &format!(
                "RESTORE SNAPSHOT shop.snap FROM repo ON (sr_member AS copy) \
                 PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
            ),
        )
        .await;
        let restored = wait_done(&mut c, "RESTORE", "shop", Duration::from_secs(60)).await;
        assert_eq!(restored[1], "[OK]", "{restored:?}");
        assert_eq!(rows(&mut c, "CHECKSUM TABLE shop.copy").await[0][1], sum);
    } else {
        assert!(done[1].starts_with("[COMMON_ERROR, msg: "), "{done:?}");
        assert!(files(&root.join("snapshots"), "COMMIT").is_empty());
    }
}

/// The S3 server goes away for good: the job ends CANCELLED naming the cause, in bounded
/// time, without a COMMIT; the error shows in TaskErrMsg.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_gone_for_good_cancels_with_the_cause() {
    let s3 = S3sFsServer::start();
    s3.create_bucket(BUCKET);
    let proxy = FaultProxy::start(s3.endpoint().trim_start_matches("http://"));
    let daemon = TestDaemon::start();
    let mut c = daemon.conn().await;
    load(&mut c).await;
    create_repo(&mut c, "repo", &proxy.endpoint(), &s3).await;
    proxy.set_fault_when(
        Fault::Refuse,
        Match::any()
            .method("PUT")
            .path_contains("/objects/")
            .skip(2),
    );
    exec(&mut c, "BACKUP SNAPSHOT shop.snap TO repo").await;
    let done = wait_done(&mut c, "BACKUP", "shop", Duration::from_secs(180)).await;
    assert_eq!(done[0], "CANCELLED", "{done:?}");
    assert!(
        done[1].contains("reach the storage") || done[1].contains("failed"),
        "{done:?}"
    );
    assert!(
        !done[2].is_empty(),
        "TaskErrMsg names the storage errors: {done:?}"
    );
    assert!(files(&repo_root(&s3, "repo").join("snapshots"), "COMMIT").is_empty());
    proxy.resume();
    // The daemon is fine and the next backup works.
    exec(&mut c, "BACKUP SNAPSHOT shop.snap TO repo").await;
    let done = wait_done(&mut c, "BACKUP", "shop", Duration::from_secs(120)).await;
    assert_eq!(done[1], "[OK]", "{done:?}");
}

/// Connections reset mid-body, 503 SlowDown answers and a stalled request: the job retries
/// and finishes; the restore through the same faults verifies every object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_throttling_and_stalls_are_retried() {
    let (s3, proxy, _daemon, mut c, sum) = proxied_rig().await;
    proxy.set_fault_when(
        Fault::ResetMidBody { after_bytes: 200 },
        Match::any()
            .method("PUT")
            .path_contains("/objects/")
            .skip(3)
            .times(2),
    );
    exec(&mut c, "BACKUP SNAPSHOT shop.snap TO repo").await;
    let done = wait_done(&mut c, "BACKUP", "shop", Duration::from_secs(120)).await;
    assert_eq!(done[1], "[OK]", "after resets: {done:?}");

    proxy.set_fault_when(
        Fault::Status503 {
            count: 6,
            slow_down: true,
        },
        Match::any().method("GET").path_contains("/objects/"),
    );
    let restored = restore_copy(&mut c).await;
    assert_eq!(restored[1], "[OK]", "after SlowDown: {restored:?}");
    assert!(
        restored[2].contains("retries: "),
        "TaskErrMsg counts the client's retries: {restored:?}"
    );
    assert_eq!(rows(&mut c, "CHECKSUM TABLE shop.copy").await[0][1], sum);
    every_commit_is_complete(&repo_root(&s3, "repo"));
}

/// Downloads whose connection is reset in the middle of the body: each resumes where it broke
/// off (a ranged GET from the next byte, by the store's one retry loop), and the restore is
/// exact; the job counts the retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_cut_mid_body_resume() {
    let (s3, proxy, _daemon, mut c, sum) = proxied_rig().await;
    exec(&mut c, "BACKUP SNAPSHOT shop.snap TO repo").await;
    let done = wait_done(&mut c, "BACKUP", "shop", Duration::from_secs(120)).await;
    assert_eq!(done[1], "[OK]", "{done:?}");
    proxy.clear_log();

    // Three object downloads cut after 100 bytes of their body, one after the other.
    proxy.set_fault_when(
        Fault::ResetMidBody { after_bytes: 100 },
        Match::any()
            .method("GET")
            .path_contains("/objects/")
            .skip(2)
            .times(3),
    );
    let restored = restore_copy(&mut c).await;
    assert_eq!(restored[1], "[OK]", "after resets: {restored:?}");
    assert!(
        restored[2].contains("(retries: 3)"),
        "one retry per cut body: {restored:?}"
    );
    assert_eq!(rows(&mut c, "CHECKSUM TABLE shop.copy").await[0][1], sum);
    // One GET per object, plus one resumed GET per cut.
    let gets = proxy
        .log()
        .iter()
        .filter(|s| s.method == "GET" && s.path.contains("/objects/"))
        .count();
    let objects = files(&repo_root(&s3, "repo").join("objects"), "").len();
    assert_eq!(gets, objects + 3, "{objects} objects");
}

/// The backup of an unchanged table costs requests by the data that moves, not by the objects
/// that stay: what the repository holds comes from LIST pages, and the check before COMMIT is
/// one more LIST pass, not a HEAD per object. 72 rowsets: no object is uploaded, and the whole
/// job makes at most 2 x objects / 1000 + 20 requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_backup_makes_few_requests() {
    let (s3, proxy, _daemon, mut c, _sum) = proxied_rig().await;
    exec(&mut c, "BACKUP SNAPSHOT shop.snap TO repo").await;
    let done = wait_done(&mut c, "BACKUP", "shop", Duration::from_secs(120)).await;
    assert_eq!(done[1], "[OK]", "{done:?}");
    let objects = files(&repo_root(&s3, "repo").join("objects"), "").len();
    assert!(objects >= 72, "{objects} objects");
    proxy.clear_log();
    exec(&mut c, "BACKUP SNAPSHOT shop.again TO repo").await;
    let done = wait_done(&mut c, "BACKUP", "shop", Duration::from_secs(120)).await;
    assert_eq!(done[1], "[OK]", "{done:?}");
    let log = proxy.log();
    let object_requests: Vec<_> = log
        .iter()
        .filter(|s| s.path.contains("/objects/"))
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert!(object_requests.is_empty(), "{object_requests:?}");
    let limit = 2 * objects / 1000 + 20;
    let all: Vec<String> = log
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    println!(
        "unchanged re-backup of {objects} objects: {} storage requests (limit {limit})",
        all.len()
    );
    assert!(all.len() <= limit, "{} requests: {all:#?}", all.len());
    // The job counts them itself, by operation.
    let progress = rows(&mut c, "SHOW BACKUP FROM shop").await[0][10]
        .clone()
        .unwrap_or_default();
    println!("unchanged re-backup: Progress {progress}");
    assert!(
        progress.contains(&format!("requests: {} (", all.len())),
        "the job's count of its requests: {progress}"
    );
}

/// `max_bandwidth` caps a job's average transfer rate; `parallel` sets its streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_bandwidth_holds_the_average_rate() {
    let s3 = S3sFsServer::start();
    s3.create_bucket(BUCKET);
    let daemon = TestDaemon::start();
    let mut c = daemon.conn().await;
    load(&mut c).await;
    create_repo(&mut c, "repo", &s3.endpoint(), &s3).await;
    let cap: u64 = 16 << 10;
    let start = Instant::now();
    exec(
        &mut c,
        "BACKUP SNAPSHOT shop.snap TO repo PROPERTIES (\"max_bandwidth\" = \"16K\", \"parallel\" = \"2\")",
    )
    .await;
    let done = wait_done(&mut c, "BACKUP", "shop", Duration::from_secs(120)).await;
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(done[1], "[OK]", "{done:?}");
    let bytes: u64 = files(&repo_root(&s3, "repo").join("objects"), "")
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    let rate = bytes as f64 / elapsed;
    assert!(
        bytes > 2 * cap,
        "the table should hold more than two seconds at the cap: {bytes}"
    );
    assert!(
        rate <= cap as f64 * 1.1,
        "{rate:.0} B/s over a cap of {cap} B/s"
    );
    assert!(
        rate >= cap as f64 * 0.5,
        "{rate:.0} B/s is far below the cap of {cap} B/s"
    );
    let (code, _, msg) = common::server_err(
        &mut c,
        "BACKUP SNAPSHOT shop.x TO repo PROPERTIES (\"parallel\" = \"0\")",
    )
    .await;
    assert_eq!(code, 5064, "{msg}");
    assert!(msg.contains("parallel"), "{msg}");
    let (code, _, msg) = common::server_err(
        &mut c,
        "BACKUP SNAPSHOT shop.x TO repo PROPERTIES (\"part_size\" = \"1M\")",
    )
    .await;
    assert_eq!(code, 5064, "{msg}");
    assert!(msg.contains("Invalid part_size: '1M'"), "{msg}");
}

/// `max_bandwidth` holds inside one object: a table of one rowset of about 100 MB goes up to S3
/// and to a folder, and comes back from each, at the cap within 10 %. (Before the cap admitted
/// chunk by chunk it admitted whole objects, and one large object went at full speed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_bandwidth_holds_inside_one_large_object() {
    use common::backup::{checksum, scratch_repo};
    const CAP: &str = "16M";
    let cap = 16.0 * 1024.0 * 1024.0;
    let s3 = S3sFsServer::start();
    s3.create_bucket(BUCKET);
    let daemon = TestDaemon::start();
    let mut c = daemon.conn().await;
    exec(&mut c, "CREATE DATABASE big").await;
    exec(
        &mut c,
        "CREATE TABLE big.t (k BIGINT NOT NULL, v STRING) DUPLICATE KEY(k) \
         DISTRIBUTED BY HASH(k) BUCKETS 1",
    )
    .await;
    // 1.45 million rows of 128 hex digits of sha256 (little to compress), in one statement:
    // one rowset file.
    let digit = "(SELECT * FROM (VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)) AS d(x))";
    exec(
        &mut c,
        &format!(
            "INSERT INTO big.t SELECT k, encode(sha256(concat(cast(k AS VARCHAR), 'a')), 'hex') \
             || encode(sha256(cast(k AS VARCHAR)), 'hex') FROM (SELECT a.x + 10 * b.x + \
             100 * c.x + 1000 * d.x + 10000 * e.x + 100000 * f.x + 1000000 * g.x AS k FROM \
             {digit} a, {digit} b, {digit} c, {digit} d, {digit} e, {digit} f, {digit} g) s \
             WHERE k < 1450000"
        ),
    )
    .await;
    let tablets = rows(&mut c, "SHOW TABLET FROM big.t").await;
    assert_eq!(tablets.len(), 1);
    assert_eq!(
        tablets[0][5].as_deref(),
        Some("1"),
        "one rowset: {tablets:?}"
    );
    let size: f64 = tablets[0][7].as_deref().unwrap().parse().unwrap();
    assert!(size >= 100e6, "the rowset has {size} bytes");
    let expected = checksum(&mut c, "big.t").await;

    create_repo(&mut c, "s3repo", &s3.endpoint(), &s3).await;
    scratch_repo(&daemon, &mut c, "dirrepo").await;
    let within = |what: &str, secs: f64| {
        let rate = size / secs;
        println!(
            "max_bandwidth {CAP}: {what} of {:.1} MB in {secs:.2} s, {:.2} MiB/s ({:+.1} % of the cap)",
            size / 1e6,
            rate / 1048576.0,
            (rate / cap - 1.0) * 100.0
        );
        assert!(
            (0.9 * cap..=1.1 * cap).contains(&rate),
            "{what}: {rate:.0} B/s, the cap is {cap} B/s"
        );
    };
    for (n, repo) in ["s3repo", "dirrepo"].into_iter().enumerate() {
        exec(
            &mut c,
            &format!(
                "BACKUP SNAPSHOT big.snap{n} TO {repo} PROPERTIES (\"max_bandwidth\" = \"{CAP}\")"
            ),
        )
        .await;
        let secs = seconds_in_state(&mut c, "BACKUP", "big", "UPLOADING").await;
        within(&format!("backup to {repo}"), secs);
        let snapshot = rows(
            &mut c,
            &format!("SHOW SNAPSHOT ON {repo} WHERE SNAPSHOT = 'snap{n}'"),
        )
        .await;
        let ts = snapshot[0][1].clone().unwrap();

        let db = format!("back{n}");
        exec(
            &mut c,
            &format!(
                "RESTORE SNAPSHOT {db}.snap{n} FROM {repo} PROPERTIES (\"backup_timestamp\" = \
                 \"{ts}\", \"max_bandwidth\" = \"{CAP}\")"
            ),
        )
        .await;
        let secs = seconds_in_state(&mut c, "RESTORE", &db, "DOWNLOADING").await;
        within(&format!("restore from {repo}"), secs);
        assert_eq!(checksum(&mut c, &format!("{db}.t")).await, expected);
    }
}

/// Watches the latest `kind` job of `db` (every 20 ms) until it is FINISHED; returns how long
/// it was in `state`, the phase that moves the objects.
async fn seconds_in_state(conn: &mut Conn, kind: &str, db: &str, state: &str) -> f64 {
    let column = if kind == "BACKUP" { 3 } else { 4 };
    let (mut entered, mut left) = (None, None);
    let start = Instant::now();
    loop {
        let r = rows(conn, &format!("SHOW {kind} FROM {db}")).await;
        let now = r[0][column].clone().unwrap_or_default();
        if now == state {
            entered.get_or_insert_with(Instant::now);
        } else if entered.is_some() {
            left.get_or_insert_with(Instant::now);
        }
        if now == "FINISHED" || now == "CANCELLED" {
            assert_eq!(now, "FINISHED", "{kind} of {db}: {r:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{kind}: {r:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (entered, left) = (
        entered.expect("the job went through the state"),
        left.unwrap(),
    );
    (left - entered).as_secs_f64()
}
