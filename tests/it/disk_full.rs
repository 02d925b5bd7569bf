//! A full local disk, for real: the daemon's data directory is a small tmpfs mounted for the
//! test (the test runs as root, or `mount` fails it with a message). The disk is filled to the
//! last byte, then a load and a restore run into it. Each fails with a clear error, nothing
//! committed is damaged (CHECKSUM TABLE as before), no partial rowset is left behind, and the
//! daemon keeps serving; once space is freed the same statements succeed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::backup::{
    assert_no_orphans, backup, checksum, count, load_sample, restore_sql, scratch_repo, wait_done,
    wait_finished, wait_paused,
};
use common::{TestDaemon, exec};

/// Size of the tmpfs the data directory lives on: above the restore's 64 MiB free-space margin.
const DISK: &str = "100m";

/// Unmounts (lazily: the daemon may still hold files) when the test ends, however it ends.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Moves the stopped daemon's data directory onto a fresh tmpfs of [`DISK`].
fn move_onto_tmpfs(data_dir: &Path) -> Mount {
    let aside = data_dir.with_extension("before-tmpfs");
    std::fs::rename(data_dir, &aside).unwrap();
    std::fs::create_dir(data_dir).unwrap();
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={DISK}"), "tmpfs"])
        .arg(data_dir)
        .output()
        .expect("run mount");
    assert!(
        out.status.success(),
        "this test needs a real small filesystem: `mount -t tmpfs` failed ({}). Run it as root \
         (or in a container that allows mounts)",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let mount = Mount(data_dir.to_path_buf());
    let copied = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", aside.display()))
        .arg(data_dir)
        .status()
        .unwrap();
    assert!(copied.success());
    mount
}

/// Fills the file system holding `dir` to the last byte; returns the filler file.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    loop {
        if let Err(e) = f.write_all(&chunk) {
            assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected: {e}");
            break;
        }
    }
    // The last partial chunk, byte by byte.
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    while f.write_all(&[0]).is_ok() {}
    let _ = f.sync_all();
    path
}

fn values(from: i64, n: i64) -> String {
    (from..from + n)
        .map(|i| format!("({i}, 'late-{i}-{}', 1, '2022-03-14')", "x".repeat(200)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_loads_and_restores_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = TestDaemon::start_with(
        &[],
        &[("BACKSTOP_FAILPOINT_DIR", dir.path().to_str().unwrap())],
    );
    let (root, ts) = {
        let mut conn = daemon.conn().await;
        load_sample(&mut conn, "src").await;
        let root = scratch_repo(&daemon, &mut conn, "repo").await;
        let ts = backup(&mut conn, "src", "snap", "repo", "").await;
        (root, ts)
    };
    daemon.stop();
    let data_dir = daemon.data_dir().to_path_buf();
    let _mount = move_onto_tmpfs(&data_dir);
    daemon.set_env("BACKSTOP_FAILPOINTS", Some("restore.snapshoting=pause"));
    daemon.start_again();
    let mut conn = daemon.conn().await;
    let before = (
        checksum(&mut conn, "src.sr_member").await,
        count(&mut conn, "src.sr_member").await,
    );

    // 1. A load into a full disk.
    let filler = fill(&data_dir);
    let (code, state, msg) = common::server_err(
        &mut conn,
        &format!("INSERT INTO src.sr_member VALUES {}", values(100, 200)),
    )
    .await;
    println!("disk full: INSERT answered {code} ({state}): {msg}");
    assert!(msg.contains("No space left on device"), "{msg}");
    assert_eq!(
        (
            checksum(&mut conn, "src.sr_member").await,
            count(&mut conn, "src.sr_member").await
        ),
        before,
        "the committed table after the failed load"
    );
    daemon.assert_alive("after the failed load");
    std::fs::remove_file(&filler).unwrap();
    assert_no_orphans(&daemon, &mut conn, "after the failed load").await;

    // 2. A restore whose free-space check passes, then the disk fills while it downloads.
    let sql = format!(
        "RESTORE SNAPSHOT src.snap FROM repo ON (sr_member AS m2, sr_order AS o2) \
         PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
    );
    exec(&mut conn, &sql).await;
    wait_paused(&daemon, "restore.snapshoting", 0).await;
    let filler = fill(&data_dir);
    std::fs::write(dir.path().join("restore.snapshoting.resume"), b"").unwrap();
    let job = wait_done(&mut conn, "RESTORE", "src").await;
    println!(
        "disk full: RESTORE ended {} {}",
        job.get("State"),
        job.get("Status")
    );
    assert_eq!(job.get("State"), "CANCELLED", "{job:?}");
    assert!(
        job.get("Status").contains("No space left on device"),
        "{job:?}"
    );
    let tables = common::backup::table_names(&mut conn, "src").await;
    assert!(
        !tables.contains(&"m2".to_string()),
        "no partial restore: {tables:?}"
    );
    assert_eq!(
        (
            checksum(&mut conn, "src.sr_member").await,
            count(&mut conn, "src.sr_member").await
        ),
        before
    );
    daemon.assert_alive("after the failed restore");

    // 3. A restore refused up front: the free-space check sees the full disk.
    exec(&mut conn, &sql).await;
    let job = wait_done(&mut conn, "RESTORE", "src").await;
    println!(
        "disk full: RESTORE on a full disk {} {}",
        job.get("State"),
        job.get("Status")
    );
    assert_eq!(job.get("State"), "CANCELLED");
    assert!(
        job.get("Status").contains("not enough disk space"),
        "{job:?}"
    );

    // Space back: the same statements succeed, nothing was lost.
    std::fs::remove_file(&filler).unwrap();
    assert_no_orphans(&daemon, &mut conn, "after the failed restores").await;
    exec(
        &mut conn,
        &format!("INSERT INTO src.sr_member VALUES {}", values(100, 20)),
    )
    .await;
    assert_eq!(count(&mut conn, "src.sr_member").await, before.1 + 20);
    daemon.stop();
    daemon.set_env("BACKSTOP_FAILPOINTS", None);
    daemon.start_again();
    let mut conn = daemon.conn().await;
    exec(&mut conn, &sql).await;
    wait_finished(&mut conn, "RESTORE", "src").await;
    assert_eq!(
        checksum(&mut conn, "src.m2").await,
        before.0,
        "the restored copy equals the snapshot"
    );
    let _ = restore_sql;
    let _ = root;
}

/// The disk fills while a restore waits at its COMMIT (its files are downloaded, the catalog
/// transaction is next): the catalog write may fail or not, but the result is never half a
/// restore, the committed tables stay as they were, and after space is freed and the daemon
/// restarted the catalog opens and every table reads back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_at_the_restore_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = TestDaemon::start_with(
        &[],
        &[("BACKSTOP_FAILPOINT_DIR", dir.path().to_str().unwrap())],
    );
    let ts = {
        let mut conn = daemon.conn().await;
        load_sample(&mut conn, "src").await;
        scratch_repo(&daemon, &mut conn, "repo").await;
        backup(&mut conn, "src", "snap", "repo", "").await
    };
    daemon.stop();
    let data_dir = daemon.data_dir().to_path_buf();
    let _mount = move_onto_tmpfs(&data_dir);
    daemon.set_env("BACKSTOP_FAILPOINTS", Some("restore.before_commit=pause"));
    daemon.start_again();
    let mut conn = daemon.conn().await;
    let before = (
        checksum(&mut conn, "src.sr_member").await,
        count(&mut conn, "src.sr_member").await,
    );
    let sql = format!(
        "RESTORE SNAPSHOT src.snap FROM repo ON (sr_member AS m2) \
         PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
    );
    exec(&mut conn, &sql).await;
    wait_paused(&daemon, "restore.before_commit", 0).await;
    let filler = fill(&data_dir);
    std::fs::write(dir.path().join("restore.before_commit.resume"), b"").unwrap();
    let job = wait_done(&mut conn, "RESTORE", "src").await;
    println!(
        "disk full at the restore's COMMIT: {} {}",
        job.get("State"),
        job.get("Status")
    );
    let tables = common::backup::table_names(&mut conn, "src").await;
    match job.get("State") {
        "FINISHED" => assert_eq!(checksum(&mut conn, "src.m2").await, before.0),
        _ => assert!(!tables.contains(&"m2".to_string()), "{tables:?}"),
    }
    assert_eq!(checksum(&mut conn, "src.sr_member").await, before.0);
    daemon.assert_alive("after the commit on a full disk");

    // Space back, a restart: the catalog opens, the tables read back whole.
    std::fs::remove_file(&filler).unwrap();
    daemon.kill9();
    daemon.set_env("BACKSTOP_FAILPOINTS", None);
    daemon.start_again();
    let mut conn = daemon.conn().await;
    assert_eq!(
        (
            checksum(&mut conn, "src.sr_member").await,
            count(&mut conn, "src.sr_member").await
        ),
        before
    );
    let after = wait_done(&mut conn, "RESTORE", "src").await;
    if common::backup::table_names(&mut conn, "src")
        .await
        .contains(&"m2".to_string())
    {
        assert_eq!(after.get("State"), "FINISHED", "{after:?}");
        assert_eq!(checksum(&mut conn, "src.m2").await, before.0);
    }
    assert_no_orphans(&daemon, &mut conn, "after the restart").await;
    println!(
        "disk full at the restore's COMMIT, after a restart: {} {}",
        after.get("State"),
        after.get("Status")
    );
}
