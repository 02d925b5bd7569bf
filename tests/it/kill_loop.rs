//! SIGKILL at random moments while loads, a BACKUP and a RESTORE run, many times over, with
//! compaction merging the tables' small files every second in the background. After
//! every restart:
//! - every acknowledged load is whole and no load is partial;
//! - a PRIMARY KEY table written by upserts and DELETEs at the same time holds exactly the
//!   acknowledged statements' result (or that plus the one in flight): no change half-applied,
//!   and its catalog row count is the rows a query sees;
//! - the backed-up database is unchanged (CHECKSUM TABLE as committed);
//! - the restore target is either absent or equal to the snapshot (no partial restore);
//! - every job ends FINISHED, or CANCELLED with a reason;
//! - a COMMIT exists exactly for the backups that FINISHED, and every snapshot reads `OK`;
//! - no rowset file is an orphan.
//!
//! Seeded: `BACKSTOP_KILL_SEED` replays a run (the seed is printed); `BACKSTOP_KILL_ROUNDS`
//! sets the number of kills (default 24).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::time::{Duration, Instant};

use common::backup::{
    Named, assert_no_orphans, backup, checksum, commit_files, count, load_sample, named_rows,
    scratch_repo, show_job, table_names, wait_done,
};
use common::{TestDaemon, exec, rows};
use rand::{Rng, SeedableRng};

const LOAD_TABLE: &str = "CREATE TABLE d.t (k BIGINT NOT NULL, v STRING) DUPLICATE KEY(k) \
     DISTRIBUTED BY HASH(k) BUCKETS 4";

/// A table big enough (and a bandwidth low enough) that jobs take a second or two.
const BIG_TABLE: &str = "CREATE TABLE src.big (k BIGINT NOT NULL, v STRING) DUPLICATE KEY(k) \
     DISTRIBUTED BY HASH(k) BUCKETS 8";
const BANDWIDTH: &str = "1M";

const KEYED_TABLE: &str = "CREATE TABLE d.pk (k INT NOT NULL, v BIGINT) PRIMARY KEY(k) \
     DISTRIBUTED BY HASH(k) BUCKETS 4";

/// Statement `s` of the keyed writer: an upsert of 8 of the 20 keys (value `s`), or every third
/// statement a DELETE of a fifth of the keys.
fn keyed_statement(s: i64) -> String {
    if s % 3 == 2 {
        format!("DELETE FROM d.pk WHERE k % 5 = {}", s % 5)
    } else {
        let rows: Vec<String> = (0..8)
            .map(|i| format!("({}, {s})", (s * 3 + i) % 20))
            .collect();
        format!("INSERT INTO d.pk VALUES {}", rows.join(", "))
    }
}

/// The keyed table after statements `0..n`.
fn keyed_state(n: i64) -> Vec<(i64, i64)> {
    let mut state = std::collections::BTreeMap::new();
    for s in 0..n {
        if s % 3 == 2 {
            state.retain(|k, _| k % 5 != s % 5);
        } else {
            for i in 0..8 {
                state.insert((s * 3 + i) % 20, s);
            }
        }
    }
    state.into_iter().collect()
}

/// Runs the keyed writer's statements from `first` until the daemon dies; returns how many it
/// acknowledged.
fn spawn_keyed_writer(opts: mysql_async::OptsBuilder, first: i64) -> tokio::task::JoinHandle<i64> {
    tokio::spawn(async move {
        use mysql_async::prelude::Queryable;
        let Ok(mut conn) = mysql_async::Conn::new(opts).await else {
            return 0;
        };
        let mut s = first;
        while conn.query_drop(keyed_statement(s)).await.is_ok() {
            s += 1;
        }
        s - first
    })
}

fn load_values(statement: i64) -> String {
    (0..10)
        .map(|r| format!("({}, 'v{statement}-{r}')", statement * 10 + r))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn fill_big(conn: &mut mysql_async::Conn) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for chunk in 0..10 {
        let values: Vec<String> = (0..2000)
            .map(|i| {
                let noise: String = (0..48)
                    .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
                    .collect();
                format!("({}, '{noise}')", chunk * 2000 + i)
            })
            .collect();
        exec(
            conn,
            &format!("INSERT INTO src.big VALUES {}", values.join(", ")),
        )
        .await;
    }
}

/// Checksums of the source tables: what every restore must reproduce.
async fn source_prints(conn: &mut mysql_async::Conn) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for t in ["sr_member", "sr_order", "big"] {
        out.push((
            t.to_string(),
            checksum(conn, &format!("src.{t}")).await,
            count(conn, &format!("src.{t}")).await,
        ));
    }
    out
}

/// Waits for the latest job of `db` to end; checks that a CANCELLED one says why.
async fn settled(conn: &mut mysql_async::Conn, kind: &str, db: &str, ctx: &str) -> Option<Named> {
    show_job(conn, kind, db).await?;
    let r = wait_done(conn, kind, db).await;
    if r.get("State") == "CANCELLED" {
        let status = r.get("Status");
        assert!(
            status.starts_with('[')
                && status.contains("msg: ")
                && status.len() > "[X, msg: ]".len(),
            "{ctx}: a cancelled {kind} job gives its reason: {r:?}"
        );
    } else {
        assert_eq!(r.get("Status"), "[OK]", "{ctx}: {r:?}");
    }
    Some(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kill_dash_nine_during_loads_backups_and_restores() {
    let seed: u64 = std::env::var("BACKSTOP_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let rounds: u64 = std::env::var("BACKSTOP_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    println!("kill loop: seed {seed} (BACKSTOP_KILL_SEED={seed} replays it), {rounds} rounds");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let mut daemon = TestDaemon::start_with(&["--compaction-interval", "1"], &[]);
    let (ts0, expected) = {
        let mut conn = daemon.conn().await;
        exec(&mut conn, "CREATE DATABASE d").await;
        exec(&mut conn, LOAD_TABLE).await;
        exec(&mut conn, KEYED_TABLE).await;
        load_sample(&mut conn, "src").await;
        exec(&mut conn, BIG_TABLE).await;
        fill_big(&mut conn).await;
        scratch_repo(&daemon, &mut conn, "repo").await;
        let ts0 = backup(&mut conn, "src", "base", "repo", "").await;
        (ts0, source_prints(&mut conn).await)
    };

    let mut next: i64 = 0;
    let mut keyed_next: i64 = 0;
    let mut keyed_acked = 0i64;
    let mut acknowledged = 0usize;
    let (mut backups, mut restores) = (0, 0);
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    let started = Instant::now();
    for round in 0..rounds {
        let ctx = format!("round {round} (seed {seed})");
        let mut conn = daemon.conn().await;
        // What runs this round: always loads, and a backup and/or a restore.
        let with_backup = rng.random_bool(0.6);
        let with_restore = rng.random_bool(0.6);
        let label = format!("k{round}");
        // Each backup goes to a repository of its own: it uploads every object (an unchanged
        // database backed up again to the same repository uploads nothing and is over at once).
        let repo_root = scratch_repo(&daemon, &mut conn, &format!("r{round}")).await;
        if with_backup {
            exec(
                &mut conn,
                &format!(
                    "BACKUP SNAPSHOT src.{label} TO r{round} PROPERTIES (\"max_bandwidth\" = \"{BANDWIDTH}\")"
                ),
            )
            .await;
            backups += 1;
        }
        if with_restore {
            exec(
                &mut conn,
                &format!(
                    "RESTORE SNAPSHOT dst.base FROM repo PROPERTIES (\"backup_timestamp\" = \"{ts0}\", \"max_bandwidth\" = \"{BANDWIDTH}\")"
                ),
            )
            .await;
            restores += 1;
        }
        let opts = daemon.opts();
        let first = next;
        let loader = common::spawn_loader(opts.clone(), first, load_values);
        let keyed = spawn_keyed_writer(opts, keyed_next);
        let delay = rng.random_range(30..1200);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let backup_state = if with_backup {
            show_job(&mut conn, "BACKUP", "src")
                .await
                .map(|r| r.get("State").to_string())
        } else {
            None
        };
        let restore_state = if with_restore {
            show_job(&mut conn, "RESTORE", "dst")
                .await
                .map(|r| r.get("State").to_string())
        } else {
            None
        };
        drop(conn);
        daemon.kill9();
        let acked = loader.await.unwrap();
        let keyed_done = keyed.await.unwrap();
        keyed_acked += keyed_done;
        acknowledged += acked.len();
        next = first + acked.len() as i64 + 1;
        for s in [&backup_state, &restore_state].into_iter().flatten() {
            *outcomes.entry(format!("killed in {s}")).or_default() += 1;
        }

        daemon.start_again();
        let mut conn = daemon.conn().await;

        // Loads: every acknowledged one whole, none partial.
        let present = common::assert_acknowledged_loads(&mut conn, &acked, &ctx).await;
        assert_eq!(
            count(&mut conn, "d.t").await,
            present.len() as u64 * 10,
            "{ctx}: a load is partial"
        );

        // The keyed table: the acknowledged statements' result, or that and the one in flight.
        let got: Vec<(i64, i64)> = rows(&mut conn, "SELECT k, v FROM d.pk ORDER BY k")
            .await
            .iter()
            .map(|r| {
                (
                    r[0].clone().unwrap().parse().unwrap(),
                    r[1].clone().unwrap().parse().unwrap(),
                )
            })
            .collect();
        let acked_to = keyed_next + keyed_done;
        keyed_next = if got == keyed_state(acked_to) {
            acked_to
        } else if got == keyed_state(acked_to + 1) {
            acked_to + 1
        } else {
            panic!(
                "{ctx}: the keyed table after {acked_to} acknowledged statements is neither their \
                 result nor that of one more: {got:?}"
            );
        };
        let catalog_rows: u64 = named_rows(&mut conn, "SHOW PARTITIONS FROM d.pk")
            .await
            .iter()
            .map(|p| p.get("RowCount").parse::<u64>().unwrap())
            .sum();
        assert_eq!(
            catalog_rows,
            got.len() as u64,
            "{ctx}: d.pk's catalog row count"
        );

        // Jobs end, each FINISHED or CANCELLED with a reason.
        let b = if with_backup {
            settled(&mut conn, "BACKUP", "src", &ctx).await
        } else {
            None
        };
        let r = if with_restore {
            settled(&mut conn, "RESTORE", "dst", &ctx).await
        } else {
            None
        };
        for job in [&b, &r].into_iter().flatten() {
            *outcomes.entry(job.get("State").to_string()).or_default() += 1;
        }

        // The source is unchanged; the target is absent or whole.
        assert_eq!(
            source_prints(&mut conn).await,
            expected,
            "{ctx}: the source"
        );
        let dbs: Vec<String> = rows(&mut conn, "SHOW DATABASES")
            .await
            .into_iter()
            .map(|r| r[0].clone().unwrap())
            .collect();
        if dbs.contains(&"dst".to_string()) {
            let tables = table_names(&mut conn, "dst").await;
            for (t, sum, n) in &expected {
                if tables.contains(t) {
                    assert_eq!(
                        (
                            checksum(&mut conn, &format!("dst.{t}")).await,
                            count(&mut conn, &format!("dst.{t}")).await
                        ),
                        (sum.clone(), *n),
                        "{ctx}: restored table dst.{t} is partial"
                    );
                }
            }
        }

        // COMMIT exactly for finished backups; every snapshot reads OK.
        let label_dir = repo_root.join("snapshots").join(&label);
        let commits = commit_files(&repo_root)
            .iter()
            .filter(|p| p.starts_with(&label_dir))
            .count();
        if let Some(b) = &b {
            let finished = b.get("State") == "FINISHED" && b.get("SnapshotName") == label;
            assert_eq!(
                commits > 0,
                finished,
                "{ctx}: COMMIT for {label} vs job {b:?}"
            );
        } else {
            assert_eq!(commits, 0, "{ctx}");
        }
        for repo in ["repo".to_string(), format!("r{round}")] {
            for s in named_rows(&mut conn, &format!("SHOW SNAPSHOT ON {repo}")).await {
                assert_eq!(s.get("Status"), "OK", "{ctx}: {repo}: {s:?}");
            }
        }

        // No orphan rowset files once the jobs are over.
        assert_no_orphans(&daemon, &mut conn, &ctx).await;
    }
    // The background merged files while all this went on (each merge logs "compacted").
    let merges = common::backup::daemon_log(&daemon)
        .lines()
        .filter(|l| l.contains("compacted"))
        .count();
    assert!(merges > 0, "no compaction committed during the kill loop");
    println!(
        "kill loop: {rounds} SIGKILLs in {:.1} s (seed {seed}): {backups} backups, {restores} \
         restores, {acknowledged} acknowledged loads all whole, {keyed_acked} acknowledged \
         upserts and DELETEs of a PRIMARY KEY table exact, {merges} compactions; {outcomes:?}",
        started.elapsed().as_secs_f64()
    );
}
