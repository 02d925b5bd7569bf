//! DROP SNAPSHOT, ttl expiry and the collection of unreferenced objects, over `file://`
//! repositories through the MySQL protocol:
//! - a drop (and its dry run) frees exactly the objects no surviving snapshot references, and
//!   every survivor still restores exactly;
//! - the refusals: unknown snapshot, bad timestamp or property, a READ ONLY repository, another
//!   server's snapshot without FORCE, a backup writing the label;
//! - a collection round running beside a backup that relies on an object it would delete, in
//!   both orders (the round waits for the backup; the backup waits for the round);
//! - a crash at every collection failpoint: after the restart no survivor lost an object and
//!   the background rounds leave no unreferenced object;
//! - `ttl`: an expired snapshot is dropped in the background, the others stay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::backup::*;
use common::{TestDaemon, exec, rows, server_err};
use mysql_async::Conn;

/// Short leases so that waits on them are short.
const LEASE: &str = "6";

fn daemon(expiry_interval: &str, envs: &[(&str, &str)]) -> TestDaemon {
    TestDaemon::start_with(
        &[
            "--lease-lifetime",
            LEASE,
            "--snapshot-expiry-interval",
            expiry_interval,
        ],
        envs,
    )
}

/// Object keys and sizes a snapshot's manifest names.
fn manifest_objects(root: &Path, label: &str, ts: &str) -> BTreeMap<String, u64> {
    let path = root
        .join("snapshots")
        .join(label)
        .join(ts)
        .join("manifest.json");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for t in m["tables"].as_array().unwrap() {
        for p in t["partitions"].as_array().unwrap() {
            for tablet in p["tablets"].as_array().unwrap() {
                for r in tablet["rowsets"].as_array().unwrap() {
                    out.insert(
                        r["object"].as_str().unwrap().to_string(),
                        r["size"].as_u64().unwrap(),
                    );
                }
            }
        }
    }
    out
}

/// Every object the committed snapshots of the repository name.
fn referenced(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for commit in commit_files(root) {
        let dir = commit.parent().unwrap();
        let ts = dir.file_name().unwrap().to_str().unwrap();
        let label = dir.parent().unwrap().file_name().unwrap().to_str().unwrap();
        out.extend(manifest_objects(root, label, ts).into_keys());
    }
    out
}

/// The object keys present in the repository.
fn present(root: &Path) -> BTreeSet<String> {
    object_files(root)
        .iter()
        .map(|f| object_key(root, f))
        .collect()
}

fn marks(root: &Path) -> Vec<PathBuf> {
    files_under(&root.join("gc"))
}

async fn wait_until(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_file(path: &Path) {
    wait_until(&format!("{} exists", path.display()), DEADLINE, || {
        path.exists()
    })
    .await;
}

/// Every committed snapshot's objects are present, and (when `exact`) nothing else is.
fn assert_objects_consistent(root: &Path, exact: bool, context: &str) {
    let want = referenced(root);
    let have = present(root);
    let missing: Vec<_> = want.difference(&have).collect();
    assert!(missing.is_empty(), "{context}: objects lost: {missing:?}");
    if exact {
        let extra: Vec<_> = have.difference(&want).collect();
        assert!(
            extra.is_empty(),
            "{context}: unreferenced objects left: {extra:?}"
        );
    }
}

/// Restores `label`/`ts`'s `sr_member` under a new name and checks it against the manifest.
async fn assert_restores(conn: &mut Conn, root: &Path, label: &str, ts: &str, as_name: &str) {
    restore(
        conn,
        "shop",
        label,
        "repo",
        &format!("ON (sr_member AS {as_name})"),
        ts,
    )
    .await;
    let (sum, n) = manifest_checksum(root, label, ts, "sr_member");
    assert_eq!(checksum(conn, &format!("shop.{as_name}")).await, sum);
    assert_eq!(count(conn, &format!("shop.{as_name}")).await, n);
}

/// DROP SNAPSHOT's result: (Objects, Bytes) of each snapshot row, and the last row's Status.
async fn drop_snapshot(conn: &mut Conn, sql: &str) -> (Vec<(String, u64, u64)>, String) {
    let r = named_rows(conn, sql).await;
    assert!(r.len() >= 2, "{sql}: {r:?}");
    assert_eq!(
        r[0].columns(),
        [
            "Snapshot",
            "Timestamp",
            "CreatedBy",
            "Objects",
            "Bytes",
            "Status"
        ]
    );
    let last = r.last().unwrap();
    assert_eq!(last.get("Snapshot"), "(garbage collection)");
    let snaps = r[..r.len() - 1]
        .iter()
        .map(|row| {
            (
                row.get("Timestamp").to_string(),
                row.get("Objects").parse().unwrap(),
                row.get("Bytes").parse().unwrap(),
            )
        })
        .collect();
    (snaps, last.get("Status").to_string())
}

/// Replaces every row of `shop.sr_order`: its old objects belong to earlier snapshots only.
async fn replace_orders(conn: &mut Conn, n: u32) {
    exec(conn, "TRUNCATE TABLE shop.sr_order").await;
    exec(
        conn,
        &format!("INSERT INTO shop.sr_order VALUES ({n}, 1, 1.00, 'round {n}')"),
    )
    .await;
}

#[tokio::test]
async fn drop_frees_exactly_what_no_other_snapshot_needs() {
    let d = daemon("0", &[]);
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    let root = scratch_repo(&d, &mut c, "repo").await;
    let ts1 = backup(&mut c, "shop", "daily", "repo", "").await;
    replace_orders(&mut c, 1).await;
    let ts2 = backup(&mut c, "shop", "daily", "repo", "").await;
    let weekly = backup(&mut c, "shop", "weekly", "repo", "").await;
    let others: BTreeSet<String> = manifest_objects(&root, "daily", &ts2)
        .into_keys()
        .chain(manifest_objects(&root, "weekly", &weekly).into_keys())
        .collect();
    let only_ts1: BTreeMap<String, u64> = manifest_objects(&root, "daily", &ts1)
        .into_iter()
        .filter(|(k, _)| !others.contains(k))
        .collect();
    assert!(!only_ts1.is_empty(), "the replaced orders are only in ts1");
    let freed_bytes: u64 = only_ts1.values().sum();

    // The dry run reports and changes nothing.
    let before = files_under(&root);
    let (snaps, status) = drop_snapshot(
        &mut c,
        &format!(
            "DROP SNAPSHOT daily ON repo WHERE TIMESTAMP = '{ts1}' PROPERTIES (\"dry_run\" = \"true\")"
        ),
    )
    .await;
    assert_eq!(
        snaps,
        vec![(ts1.clone(), only_ts1.len() as u64, freed_bytes)]
    );
    assert!(status.starts_with("DRY RUN"), "{status}");
    assert_eq!(files_under(&root), before, "a dry run changes nothing");

    // The drop does what the dry run said.
    let (snaps, status) = drop_snapshot(
        &mut c,
        &format!("DROP SNAPSHOT daily ON repo WHERE TIMESTAMP = '{ts1}'"),
    )
    .await;
    assert_eq!(
        snaps,
        vec![(ts1.clone(), only_ts1.len() as u64, freed_bytes)]
    );
    assert!(
        status.starts_with(&format!("DONE: removed {} objects", only_ts1.len())),
        "{status}"
    );
    assert_eq!(timestamps(&mut c, "repo", "daily").await, vec![ts2.clone()]);
    assert!(!root.join("snapshots/daily").join(&ts1).exists());
    for key in only_ts1.keys() {
        assert!(!root.join(key).exists(), "{key} was freed");
    }
    assert_objects_consistent(&root, true, "after dropping ts1");
    assert!(marks(&root).is_empty(), "the round removed its mark");
    assert_restores(&mut c, &root, "daily", &ts2, "daily2").await;
    assert_restores(&mut c, &root, "weekly", &weekly, "weekly1").await;

    // Without WHERE every timestamp of the label goes; weekly keeps what it shares.
    let (snaps, status) = drop_snapshot(&mut c, "DROP SNAPSHOT daily ON repo").await;
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].1, 0, "weekly holds everything daily/ts2 held");
    assert!(status.starts_with("DONE: removed 0 objects"), "{status}");
    assert!(
        !root.join("snapshots/daily").exists()
            || files_under(&root.join("snapshots/daily")).is_empty()
    );
    assert_objects_consistent(&root, true, "after dropping daily");
    assert_restores(&mut c, &root, "weekly", &weekly, "weekly2").await;
}

#[tokio::test]
async fn drop_at_or_before_and_the_refusals() {
    let d = daemon("0", &[]);
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    let root = scratch_repo(&d, &mut c, "repo").await;
    let mut stamps = Vec::new();
    for n in 0..3 {
        replace_orders(&mut c, n).await;
        stamps.push(backup(&mut c, "shop", "snap", "repo", "").await);
    }

    for (sql, code, text) in [
        (
            "DROP SNAPSHOT nosuch ON repo".to_string(),
            5064,
            "Snapshot 'nosuch' does not exist in the repository",
        ),
        (
            "DROP SNAPSHOT snap ON repo WHERE TIMESTAMP = '2020-01-01-00-00-00-000'".to_string(),
            5064,
            "with timestamp '2020-01-01-00-00-00-000' does not exist",
        ),
        (
            "DROP SNAPSHOT snap ON repo WHERE TIMESTAMP = 'yesterday'".to_string(),
            5064,
            "Invalid snapshot timestamp 'yesterday'",
        ),
        (
            "DROP SNAPSHOT snap ON repo PROPERTIES (\"dry\" = \"true\")".to_string(),
            5064,
            "Unknown DROP SNAPSHOT property: dry",
        ),
        (
            "DROP SNAPSHOT snap ON repo PROPERTIES (\"dry_run\" = \"maybe\")".to_string(),
            5064,
            "Invalid dry_run value",
        ),
        (
            "DROP SNAPSHOT snap ON nosuchrepo".to_string(),
            5064,
            "nosuchrepo",
        ),
        (
            "DROP SNAPSHOT snap ON repo WHERE LABEL = 'x'".to_string(),
            1064,
            "TIMESTAMP",
        ),
    ] {
        let (got_code, _, msg) = server_err(&mut c, &sql).await;
        assert_eq!(got_code, code, "{sql}: {msg}");
        assert!(msg.contains(text), "{sql}: {msg}");
    }

    // A second server sharing the repository: its snapshots need FORCE, READ ONLY refuses.
    let other = daemon("0", &[]);
    let mut o = other.conn().await;
    exec(
        &mut o,
        &format!(
            "CREATE REPOSITORY repo WITH BROKER ON LOCATION \"file://{}\"",
            root.parent().unwrap().display()
        ),
    )
    .await;
    exec(
        &mut o,
        &format!(
            "CREATE READ ONLY REPOSITORY ro WITH BROKER ON LOCATION \"file://{}\"",
            root.parent().unwrap().display()
        ),
    )
    .await;
    let (code, _, msg) = server_err(&mut o, "DROP SNAPSHOT snap ON ro").await;
    assert_eq!(code, 5064);
    assert!(msg.contains("Repository ro is read only"), "{msg}");
    let (code, _, msg) = server_err(
        &mut o,
        &format!(
            "DROP SNAPSHOT snap ON repo WHERE TIMESTAMP = '{}'",
            stamps[0]
        ),
    )
    .await;
    assert_eq!(code, 5064);
    assert!(
        msg.contains("was created by another server") && msg.contains("add FORCE"),
        "{msg}"
    );
    let (snaps, _) = drop_snapshot(
        &mut o,
        &format!(
            "DROP SNAPSHOT snap ON repo WHERE TIMESTAMP = '{}' FORCE",
            stamps[0]
        ),
    )
    .await;
    assert_eq!(snaps.len(), 1);

    // `<=` drops that one and every older one.
    let (snaps, _) = drop_snapshot(
        &mut c,
        &format!(
            "DROP SNAPSHOT snap ON repo WHERE TIMESTAMP <= '{}'",
            stamps[1]
        ),
    )
    .await;
    assert_eq!(
        snaps.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
        vec![stamps[1].clone()]
    );
    assert_eq!(
        timestamps(&mut c, "repo", "snap").await,
        vec![stamps[2].clone()]
    );
    assert_objects_consistent(&root, true, "after the drops");
    assert_restores(&mut c, &root, "snap", &stamps[2], "last").await;
}

/// A daemon with snapshot `old` of the sample data in `repo`, restarted so that `failpoint`
/// pauses (resumed by creating `<points>/<failpoint>.resume`).
async fn old_snapshot_then_pause_at(failpoint: &str) -> (TestDaemon, PathBuf, tempfile::TempDir) {
    let points = tempfile::tempdir().unwrap();
    let mut d = daemon("0", &[]);
    let root = {
        let mut c = d.conn().await;
        load_sample(&mut c, "shop").await;
        let root = scratch_repo(&d, &mut c, "repo").await;
        backup(&mut c, "shop", "old", "repo", "").await;
        root
    };
    d.stop();
    d.set_env("BACKSTOP_FAILPOINTS", Some(&format!("{failpoint}=pause")));
    d.set_env(
        "BACKSTOP_FAILPOINT_DIR",
        Some(points.path().to_str().unwrap()),
    );
    d.start_again();
    (d, root, points)
}

/// A backup that skipped an object (the repository had it) and is held before its COMMIT,
/// while the only snapshot naming that object is dropped: the round waits for the backup's
/// lease, and after the backup commits nothing it needs is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_waits_for_a_backup_that_relies_on_its_candidates() {
    let (d, root, points) = old_snapshot_then_pause_at("backup.before_recheck").await;
    let mut c = d.conn().await;
    exec(&mut c, "BACKUP SNAPSHOT shop.new TO repo").await;
    wait_file(&points.path().join("backup.before_recheck.reached")).await;

    let (code, _, msg) = server_err(&mut c, "DROP SNAPSHOT new ON repo").await;
    assert_eq!(code, 5064);
    assert!(msg.contains("is writing snapshot 'new'"), "{msg}");

    let all = present(&root);
    let (snaps, status) = drop_snapshot(&mut c, "DROP SNAPSHOT old ON repo").await;
    assert_eq!(snaps[0].1, all.len() as u64, "old alone names every object");
    assert!(
        status.starts_with("PENDING"),
        "the round waits for the backup: {status}"
    );
    assert_eq!(present(&root), all, "nothing deleted while the backup runs");
    assert_eq!(marks(&root).len(), 1, "the round's mark");

    std::fs::write(points.path().join("backup.before_recheck.resume"), b"").unwrap();
    let job = wait_done(&mut c, "BACKUP", "shop").await;
    assert_eq!(job.get("Status"), "[OK]", "{job:?}");
    wait_until("the round ends", DEADLINE, || marks(&root).is_empty()).await;
    assert_eq!(present(&root), all, "the new snapshot names every object");
    assert_objects_consistent(&root, true, "after the round");
    let ts = timestamps(&mut c, "repo", "new").await;
    assert_restores(&mut c, &root, "new", &ts[0], "copy").await;
}

/// A round that started before a backup (its mark does not wait for it) and may delete what
/// the backup skipped: the backup waits for the round to end, then uploads what went.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_waits_for_a_round_that_does_not_wait_for_it() {
    let (d, root, points) = old_snapshot_then_pause_at("gc.after_mark").await;
    let mut c = d.conn().await;
    let all = present(&root);
    let (_, status) = drop_snapshot(&mut c, "DROP SNAPSHOT old ON repo").await;
    assert!(status.starts_with("PENDING"), "{status}");
    assert!(points.path().join("gc.after_mark.reached").exists());

    exec(&mut c, "BACKUP SNAPSHOT shop.new TO repo").await;
    let log = d.stderr_log();
    wait_until("the backup waits for the round", DEADLINE, || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("waiting for a collection round before COMMIT")
    })
    .await;
    let job = show_job(&mut c, "BACKUP", "shop").await.unwrap();
    assert_eq!(job.get("State"), "UPLOAD_INFO", "{job:?}");

    std::fs::write(points.path().join("gc.after_mark.resume"), b"").unwrap();
    let job = wait_done(&mut c, "BACKUP", "shop").await;
    assert_eq!(job.get("Status"), "[OK]", "{job:?}");
    wait_until("the round ends", DEADLINE, || marks(&root).is_empty()).await;
    assert_eq!(
        present(&root),
        all,
        "the backup uploaded again what the round deleted"
    );
    assert_objects_consistent(&root, true, "after the round");
    let ts = timestamps(&mut c, "repo", "new").await;
    assert_restores(&mut c, &root, "new", &ts[0], "copy").await;
}

/// A crash at each collection failpoint: after the restart every surviving snapshot has its
/// objects and restores exactly, and the background rounds remove what the crash left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_collection_loses_nothing_that_survives() {
    for point in [
        "gc.after_commit_delete",
        "gc.after_manifest_delete",
        "gc.after_mark",
        "gc.mid_sweep",
    ] {
        let mut d = daemon("1", &[]);
        let (root, ts1, ts2) = {
            let mut c = d.conn().await;
            load_sample(&mut c, "shop").await;
            let root = scratch_repo(&d, &mut c, "repo").await;
            let ts1 = backup(&mut c, "shop", "snap", "repo", "").await;
            replace_orders(&mut c, 1).await;
            exec(
                &mut c,
                "INSERT INTO shop.sr_order VALUES (2, 2, 2.00, 'two')",
            )
            .await;
            let ts2 = backup(&mut c, "shop", "snap", "repo", "").await;
            (root, ts1, ts2)
        };
        d.stop();
        d.set_env("BACKSTOP_FAILPOINTS", Some(&format!("{point}=crash")));
        d.start_again();
        {
            let mut c = d.conn().await;
            let sql = format!("DROP SNAPSHOT snap ON repo WHERE TIMESTAMP = '{ts1}'");
            let result = mysql_async::prelude::Queryable::query_drop(&mut c, &sql).await;
            assert!(
                result.is_err(),
                "{point}: the daemon crashed during the drop"
            );
        }
        wait_dead(&mut d).await;
        d.kill9();
        assert_objects_consistent(&root, false, point);
        d.set_env("BACKSTOP_FAILPOINTS", None);
        d.start_again();
        let mut c = d.conn().await;
        let listed = timestamps(&mut c, "repo", "snap").await;
        assert!(listed.contains(&ts2), "{point}: {listed:?}");
        if point != "gc.after_commit_delete" || !listed.contains(&ts1) {
            assert_eq!(listed, vec![ts2.clone()], "{point}");
        }
        if listed.contains(&ts1) {
            // Crashed before the COMMIT went: the drop did not happen; do it again.
            drop_snapshot(
                &mut c,
                &format!("DROP SNAPSHOT snap ON repo WHERE TIMESTAMP = '{ts1}'"),
            )
            .await;
        }
        wait_until(
            &format!("{point}: background rounds leave only referenced objects"),
            Duration::from_secs(40),
            || {
                referenced(&root) == present(&root)
                    && marks(&root).is_empty()
                    && !root.join("snapshots/snap").join(&ts1).exists()
            },
        )
        .await;
        assert_restores(&mut c, &root, "snap", &ts2, "survivor").await;
    }
}

/// `ttl`: the expired snapshot is dropped in the background with its objects; the other stays.
#[tokio::test]
async fn expired_snapshots_are_dropped_in_the_background() {
    let d = daemon("1", &[]);
    let mut c = d.conn().await;
    load_sample(&mut c, "shop").await;
    let root = scratch_repo(&d, &mut c, "repo").await;
    let short = backup(
        &mut c,
        "shop",
        "short",
        "repo",
        "PROPERTIES (\"ttl\" = \"2 SECOND\")",
    )
    .await;
    let short_objects = manifest_objects(&root, "short", &short);
    replace_orders(&mut c, 7).await;
    let keep = backup(&mut c, "shop", "keep", "repo", "").await;
    wait_until("the expired snapshot is dropped", DEADLINE, || {
        !root
            .join("snapshots/short")
            .join(&short)
            .join("COMMIT")
            .exists()
    })
    .await;
    wait_until("its objects are collected", DEADLINE, || {
        referenced(&root) == present(&root)
    })
    .await;
    let kept = manifest_objects(&root, "keep", &keep);
    assert!(
        short_objects.keys().any(|k| !kept.contains_key(k)),
        "short held objects keep does not"
    );
    let listed = rows(&mut c, "SHOW SNAPSHOT ON repo").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0][0].as_deref(), Some("keep"));
    assert_restores(&mut c, &root, "keep", &keep, "kept").await;
    let log = std::fs::read_to_string(d.stderr_log()).unwrap();
    assert!(
        log.contains("snapshot expired and dropped"),
        "the expiry is logged"
    );
}
