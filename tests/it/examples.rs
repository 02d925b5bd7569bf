//! The programs in `examples/` run against real daemons, so they cannot rot: the walkthrough SQL
//! files through the `mysql` CLI, and the migration in shell + `mysql`, Python (PyMySQL) and
//! Java (JDBC, MariaDB Connector/J compiled with javac). Each migration must succeed between
//! two servers and exit 1 when a table differs afterwards. A missing tool fails the test (run
//! `scripts/install-test-deps`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{
    Outcome, TestDaemon, exec, require_file, require_tool, rows, run_with_deadline, venv_python,
};

const DEADLINE: Duration = Duration::from_secs(120);
const MARIADB_JAR: &str = "/usr/share/java/mariadb-java-client.jar";

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn example(name: &str) -> String {
    std::fs::read_to_string(examples_dir().join(name)).unwrap()
}

/// The `sr_member` table of the walkthrough, as DDL.
const MEMBER_DDL: &str = "CREATE TABLE sr_hub.sr_member (sr_id INT NOT NULL, name STRING, \
     city_code INT, reg_date DATE NOT NULL) DUPLICATE KEY(sr_id) PARTITION BY RANGE(reg_date) (\
     PARTITION p1 VALUES [('2022-03-13'), ('2022-03-14')), \
     PARTITION p2 VALUES [('2022-03-14'), ('2022-03-15')), \
     PARTITION p3 VALUES [('2022-03-15'), ('2022-03-16'))) DISTRIBUTED BY HASH(sr_id) BUCKETS 4";

#[tokio::test]
async fn walkthrough_sql_files_run_on_two_servers() {
    let source = TestDaemon::start();
    let target = TestDaemon::start();
    let repo = source.scratch_dir().join("walkthrough");
    std::fs::create_dir_all(&repo).unwrap();
    let location = format!("file://{}", repo.display());
    let with_location = |sql: String| sql.replace("file:///tmp/backstop-walkthrough", &location);

    let backup_sql = with_location(example("walkthrough/backup.sql"));
    assert!(backup_sql.contains(&location));
    let out = run_with_deadline(&mut source.mysql_batch_command(), &backup_sql, DEADLINE);
    assert!(out.status.success() && out.stderr.is_empty(), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("JobId\tKind\tLabel\tTimestamp"))
        .unwrap_or_else(|| panic!("no sync row: {out}"));
    let row: Vec<&str> = lines[header + 1].split('\t').collect();
    assert_eq!(row[5], "FINISHED", "{out}");
    let ts = row[3];
    let checksum_line = |out: &Outcome| {
        out.stdout
            .lines()
            .find(|l| l.starts_with("sr_hub.sr_member\t"))
            .unwrap_or_else(|| panic!("no checksum: {out}"))
            .to_string()
    };
    let source_sum = checksum_line(&out);

    let restore_sql =
        with_location(example("walkthrough/restore.sql")).replace("@BACKUP_TIMESTAMP@", ts);
    let out = run_with_deadline(&mut target.mysql_batch_command(), &restore_sql, DEADLINE);
    assert!(out.status.success() && out.stderr.is_empty(), "{out}");
    assert_eq!(checksum_line(&out), source_sum, "{out}");
    assert!(out.stdout.contains("5\tbb\t220000\t2022-03-15"), "{out}");
}

/// A source server with `sr_hub` (two tables) and a shared repository folder.
async fn migration_source() -> (TestDaemon, String) {
    let source = TestDaemon::start();
    let repo = source.scratch_dir().join("migration");
    std::fs::create_dir_all(&repo).unwrap();
    let mut c = source.conn().await;
    for sql in [
        "CREATE DATABASE sr_hub",
        MEMBER_DDL,
        "INSERT INTO sr_hub.sr_member VALUES (1, 'tom', 100000, '2022-03-13'), \
         (2, 'johndoe', 210000, '2022-03-14'), (3, 'maruko', 200000, '2022-03-14'), \
         (4, 'simo', 200000, '2022-03-15'), (5, 'bb', 220000, '2022-03-15')",
        "CREATE TABLE sr_hub.sr_order (order_id BIGINT NOT NULL, sr_id INT, amount DECIMAL(10, 2)) \
         DUPLICATE KEY(order_id) DISTRIBUTED BY HASH(order_id) BUCKETS 2",
        "INSERT INTO sr_hub.sr_order VALUES (100, 1, 10.50), (101, 2, 20.00), (102, 5, 0.99)",
    ] {
        exec(&mut c, sql).await;
    }
    (source, format!("file://{}", repo.display()))
}

/// Runs one migration program from `source` to a fresh target, then to a target whose
/// `sr_member` holds a partition the snapshot does not have (so the restored table differs).
async fn check_migration(program: &dyn Fn(&str, &str) -> Command) {
    let (source, location) = migration_source().await;
    let src = source.addr().to_string();

    let target = TestDaemon::start();
    let mut cmd = program(&src, &target.addr().to_string());
    cmd.args(["sr_hub", &location]);
    let out = run_with_deadline(&mut cmd, "", DEADLINE);
    assert!(out.status.success(), "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[0].starts_with("backup migrate_sr_hub 20") && lines[0].contains(" FINISHED objects="),
        "{out}"
    );
    assert!(
        lines[1].starts_with("restore migrate_sr_hub 20") && lines[1].ends_with(" FINISHED"),
        "{out}"
    );
    let mut s = source.conn().await;
    for (line, table) in lines[2..4].iter().zip(["sr_member", "sr_order"]) {
        let sum = rows(&mut s, &format!("CHECKSUM TABLE sr_hub.{table}")).await[0][1]
            .clone()
            .unwrap();
        assert_eq!(*line, format!("checksum sr_hub.{table} {sum} OK"), "{out}");
    }
    assert_eq!(lines[4], "migration of sr_hub verified: 2 tables", "{out}");
    let mut t = target.conn().await;
    assert_eq!(
        rows(&mut t, "SELECT * FROM sr_hub.sr_order ORDER BY order_id").await,
        rows(&mut s, "SELECT * FROM sr_hub.sr_order ORDER BY order_id").await
    );

    // A target that already has sr_member with one more partition and a row in it: the
    // restore replaces p1..p3 and keeps p4, so the checksums differ and the program says so.
    let stale = TestDaemon::start();
    let mut c = stale.conn().await;
    exec(&mut c, "CREATE DATABASE sr_hub").await;
    exec(&mut c, MEMBER_DDL).await;
    exec(
        &mut c,
        "ALTER TABLE sr_hub.sr_member ADD PARTITION p4 VALUES [('2022-03-16'), ('2022-03-17'))",
    )
    .await;
    exec(
        &mut c,
        "INSERT INTO sr_hub.sr_member VALUES (9, 'stale', 1, '2022-03-16')",
    )
    .await;
    let mut cmd = program(&src, &stale.addr().to_string());
    cmd.args(["sr_hub", &location]);
    let out = run_with_deadline(&mut cmd, "", DEADLINE);
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert!(
        out.stdout.contains("checksum sr_hub.sr_member source=")
            && out.stdout.contains(" DIFFERENT"),
        "{out}"
    );
    assert!(
        out.stdout.contains("checksum sr_hub.sr_order ") && out.stdout.contains(" OK"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("migration of sr_hub: 1 of 2 tables differ"),
        "{out}"
    );
}

#[tokio::test]
async fn shell_migration_with_the_mysql_client() {
    let bash = require_tool("bash");
    require_tool("mysql");
    let script = examples_dir().join("migrate.sh");
    check_migration(&|src, dst| {
        let mut cmd = Command::new(&bash);
        cmd.arg(&script).args([src, dst]);
        cmd
    })
    .await;
}

#[tokio::test]
async fn python_migration_with_pymysql() {
    let python = venv_python();
    let script = examples_dir().join("migrate.py");
    check_migration(&|src, dst| {
        let mut cmd = Command::new(&python);
        cmd.arg(&script).args([src, dst]);
        cmd
    })
    .await;
}

#[tokio::test]
async fn java_migration_with_jdbc() {
    let javac = require_tool("javac");
    let java = require_tool("java");
    let jar = require_file(MARIADB_JAR);
    let classes = tempfile::tempdir().unwrap();
    let mut compile = Command::new(javac);
    compile
        .arg("-cp")
        .arg(&jar)
        .arg("-d")
        .arg(classes.path())
        .arg(examples_dir().join("Migrate.java"));
    let out = run_with_deadline(&mut compile, "", DEADLINE);
    assert!(out.status.success(), "javac Migrate.java\n{out}");
    let classpath = format!("{}:{}", jar.display(), classes.path().display());
    check_migration(&|src, dst| {
        let mut cmd = Command::new(&java);
        cmd.args(["-cp", &classpath, "Migrate", src, dst]);
        cmd
    })
    .await;
}

/// `examples/daily_partitions.sh`: the dynamic-partitioned table it sets up has today's
/// partition at once; today's rows, backed up by its `backup` step, come back on a second
/// server by its `restore` step, with the same checksum.
#[tokio::test]
async fn daily_partition_backups_with_the_shell_example() {
    let bash = require_tool("bash");
    require_tool("mysql");
    let script = examples_dir().join("daily_partitions.sh");
    let source = TestDaemon::start();
    let target = TestDaemon::start();
    let repo = source.scratch_dir().join("daily");
    std::fs::create_dir_all(&repo).unwrap();
    let location = format!("file://{}", repo.display());
    let run = |d: &TestDaemon, args: &[&str]| {
        let mut cmd = Command::new(&bash);
        cmd.arg(&script)
            .arg(args[0])
            .arg(format!("127.0.0.1:{}", d.port()))
            .args(&args[1..]);
        let out = run_with_deadline(&mut cmd, "", DEADLINE);
        assert!(out.status.success(), "{args:?}: {out}");
        out
    };
    let out = run(&source, &["setup", &location]);
    assert!(out.stdout.contains("events\ttrue\tDAY\t-7\t3\tp"), "{out}");
    let mut c = source.conn().await;
    exec(
        &mut c,
        "INSERT INTO web.events VALUES (1, CURRENT_DATE(), '/a'), (2, CURRENT_DATE(), '/b'), \
         (3, CURRENT_DATE(), '/c')",
    )
    .await;
    // The server's days are UTC, as CURRENT_DATE() above.
    let today = chrono::Utc::now().format("%Y%m%d").to_string();
    let out = run(&source, &["backup", &today]);
    assert!(out.stdout.contains(" FINISHED objects="), "{out}");
    let out = run(&target, &["restore", &location]);
    assert!(out.stdout.contains(" FINISHED"), "{out}");
    let mut t = target.conn().await;
    let sum = |rows: Vec<Vec<Option<String>>>| rows[0][1].clone();
    assert_eq!(
        sum(rows(&mut t, "CHECKSUM TABLE web.events").await),
        sum(rows(&mut c, "CHECKSUM TABLE web.events").await)
    );
    assert_eq!(
        rows(&mut t, "SELECT count(*) FROM web.events").await,
        [[Some("3".to_string())]]
    );
}
