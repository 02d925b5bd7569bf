//! Users, passwords and privileges on a real daemon, through the `mysql` CLI and `mysql_async`
//! (and PyMySQL and MariaDB Connector/J for logging in as a created user).
//!
//! Each statement of the backup family, the user statements and ordinary SQL is run once by a
//! user who may run it and once by a user who may not, through both clients; a refusal must be
//! StarRocks' 5203 (backup, repository, user statements) or MySQL's 1142/1044 (ordinary SQL).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Outcome, TestDaemon, clients_dir, exec, require_file, require_tool, rows};
use common::{run_with_deadline, server_err};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

const CLIENT_DEADLINE: Duration = Duration::from_secs(120);
const JOB_DEADLINE: Duration = Duration::from_secs(30);
const MARIADB_JAR: &str = "/usr/share/java/mariadb-java-client.jar";

fn opts(daemon: &TestDaemon, user: &str, password: &str) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(daemon.port())
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false)
}

async fn conn_as(daemon: &TestDaemon, user: &str, password: &str) -> Conn {
    Conn::new(opts(daemon, user, password))
        .await
        .unwrap_or_else(|e| panic!("{user} cannot log in: {e}"))
}

/// The server error of a login, `(code, SQLSTATE)`.
async fn login_err(daemon: &TestDaemon, user: &str, password: &str) -> (u16, String) {
    match Conn::new(opts(daemon, user, password)).await {
        Ok(_) => panic!("{user} logged in with a wrong password"),
        Err(mysql_async::Error::Server(e)) => (e.code, e.state),
        Err(e) => panic!("{user}: expected a server error, got {e}"),
    }
}

/// The `mysql` CLI as `user`, running `sql` with `-e` (batch, no column names).
fn cli(daemon: &TestDaemon, user: &str, password: &str, sql: &str) -> Outcome {
    let mut cmd = common::mysql_cli_as(daemon, user, password);
    cmd.args(["--skip-column-names", "-e", sql]);
    run_with_deadline(&mut cmd, "", CLIENT_DEADLINE)
}

/// What a statement must do for a user.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// Succeed.
    Ok,
    /// Pass the privilege check: succeed, or fail with an error that is not a refusal.
    Allowed,
    /// Be refused with this code, the message containing this text.
    Denied(u16, &'static str),
}

const REFUSALS: [u16; 3] = [5203, 1142, 1044];

/// Runs `sql` as `user` through mysql_async (with `{c}` replaced by `a`) and through the mysql
/// CLI (`{c}` → `c`), checking `want` for both.
async fn check(daemon: &TestDaemon, user: &str, password: &str, sql: &str, want: Want) {
    // mysql_async
    let text = sql.replace("{c}", "a");
    let mut conn = conn_as(daemon, user, password).await;
    let result = conn.query_drop(&text).await;
    match (want, result) {
        (Want::Ok | Want::Allowed, Ok(())) => {}
        (Want::Allowed, Err(mysql_async::Error::Server(e))) if !REFUSALS.contains(&e.code) => {}
        (Want::Denied(code, text_part), Err(mysql_async::Error::Server(e)))
            if e.code == code && e.state == "42000" && e.message.contains(text_part) => {}
        (want, got) => panic!("mysql_async as {user}: {text}: want {want:?}, got {got:?}"),
    }
    conn.disconnect().await.unwrap();

    // mysql CLI
    let text = sql.replace("{c}", "c");
    let out = cli(daemon, user, password, &text);
    match want {
        Want::Ok => assert!(out.status.success(), "mysql CLI as {user}: {text}\n{out}"),
        Want::Allowed => {
            for code in REFUSALS {
                assert!(
                    !out.stderr.contains(&format!("ERROR {code} ")),
                    "mysql CLI as {user}: {text} was refused\n{out}"
                );
            }
        }
        Want::Denied(code, text_part) => {
            assert!(
                !out.status.success()
                    && out.stderr.contains(&format!("ERROR {code} (42000)"))
                    && out.stderr.contains(text_part),
                "mysql CLI as {user}: {text}: want {code} with {text_part:?}\n{out}"
            );
        }
    }
}

fn location(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

const TABLE: &str =
    "(id INT, name VARCHAR(20)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2";

/// d1.t1 and d1.t2 with rows, and repository `repo` on a local folder.
async fn setup(daemon: &TestDaemon) -> Conn {
    let mut root = daemon.conn().await;
    let repo = daemon.scratch_dir().join("repo");
    for sql in [
        "CREATE DATABASE d1".to_string(),
        format!("CREATE TABLE d1.t1 {TABLE}"),
        format!("CREATE TABLE d1.t2 {TABLE}"),
        "INSERT INTO d1.t1 VALUES (1, 'a'), (2, 'b')".to_string(),
        "INSERT INTO d1.t2 VALUES (3, 'c')".to_string(),
        format!("CREATE REPOSITORY repo ON LOCATION \"{}\"", location(&repo)),
    ] {
        exec(&mut root, &sql).await;
    }
    root
}

async fn wait_job(conn: &mut Conn, kind: &str, db: &str) -> Vec<Option<String>> {
    let state = if kind == "BACKUP" { 3 } else { 4 };
    let start = Instant::now();
    loop {
        let r = rows(conn, &format!("SHOW {kind} FROM {db}")).await;
        if let Some(row) = r.first()
            && matches!(row[state].as_deref(), Some("FINISHED" | "CANCELLED"))
        {
            return row.clone();
        }
        assert!(
            start.elapsed() < JOB_DEADLINE,
            "{kind} of {db} did not end: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The timestamp of the only snapshot `label` in `repo`.
async fn timestamp(conn: &mut Conn, label: &str) -> String {
    let r = rows(
        conn,
        &format!("SHOW SNAPSHOT ON repo WHERE SNAPSHOT = '{label}'"),
    )
    .await;
    r[0][1].clone().unwrap().lines().last().unwrap().to_string()
}

fn repository_denied() -> Want {
    Want::Denied(5203, "the REPOSITORY privilege(s) on SYSTEM")
}

// ---------------------------------------------------------------------------------------------
// Users and passwords

#[tokio::test]
async fn created_users_log_in_from_every_client_and_survive_a_restart() {
    let mut daemon = TestDaemon::start();
    let mut root = daemon.conn().await;
    exec(
        &mut root,
        "CREATE USER 'alice'@'%' IDENTIFIED BY 'alice-pw-1'",
    )
    .await;
    exec(
        &mut root,
        "CREATE USER bob@localhost IDENTIFIED BY 'bob-pw-1'",
    )
    .await;
    exec(
        &mut root,
        "CREATE USER IF NOT EXISTS 'alice'@'%' IDENTIFIED BY 'other'",
    )
    .await;
    let (code, _, msg) = server_err(&mut root, "CREATE USER 'alice'@'%' IDENTIFIED BY 'x'").await;
    assert_eq!(
        (code, msg.as_str()),
        (1396, "Operation CREATE USER failed for 'alice'@'%'")
    );
    let users = rows(&mut root, "SHOW USERS").await;
    assert_eq!(
        users,
        vec![
            vec![Some("'root'@'%'".to_string())],
            vec![Some("'alice'@'%'".to_string())],
            vec![Some("'bob'@'localhost'".to_string())],
        ]
    );

    // mysql_async
    let mut alice = conn_as(&daemon, "alice", "alice-pw-1").await;
    assert_eq!(
        rows(&mut alice, "SELECT 1").await,
        vec![vec![Some("1".into())]]
    );
    assert_eq!(
        login_err(&daemon, "alice", "wrong").await,
        (1045, "28000".into())
    );
    assert_eq!(
        login_err(&daemon, "alice", "").await,
        (1045, "28000".into())
    );
    assert_eq!(
        login_err(&daemon, "nobody", "x").await,
        (1045, "28000".into())
    );
    // 'bob'@'localhost' matches a client on 127.0.0.1.
    conn_as(&daemon, "bob", "bob-pw-1").await;

    // mysql CLI
    let out = cli(&daemon, "alice", "alice-pw-1", "SELECT CONCAT('he', 'llo')");
    assert!(
        out.status.success() && out.stdout.trim() == "hello",
        "{out}"
    );
    let out = cli(&daemon, "alice", "wrong", "SELECT 1");
    assert!(
        out.stderr.contains(
            "ERROR 1045 (28000): Access denied for user 'alice'@'127.0.0.1' (using password: YES)"
        ),
        "{out}"
    );

    // PyMySQL
    let py = |user: &str, password: &str| {
        let script = "import sys, pymysql\n\
            try:\n    c = pymysql.connect(host='127.0.0.1', port=int(sys.argv[1]), user=sys.argv[2], password=sys.argv[3], connect_timeout=20)\n    cur = c.cursor(); cur.execute('SELECT 41 + 1'); print('OK', cur.fetchone()[0])\n\
            except pymysql.err.OperationalError as e:\n    print('ERR', e.args[0])\n";
        let mut cmd = Command::new(common::venv_python());
        cmd.args(["-c", script, &daemon.port().to_string(), user, password]);
        run_with_deadline(&mut cmd, "", CLIENT_DEADLINE)
    };
    let out = py("alice", "alice-pw-1");
    assert_eq!(out.stdout.trim(), "OK 42", "{out}");
    let out = py("alice", "wrong");
    assert_eq!(out.stdout.trim(), "ERR 1045", "{out}");

    // JDBC (MariaDB Connector/J)
    {
        let jdbc = jdbc_login(&daemon);
        assert_eq!(
            jdbc("alice", "alice-pw-1", "SELECT 7").stdout.trim(),
            "OK 7"
        );
        assert_eq!(
            jdbc("alice", "wrong", "SELECT 7").stdout.trim(),
            "ERR 1045 28000"
        );
    }

    // ALTER USER and SET PASSWORD (as root, and a user's own).
    exec(
        &mut root,
        "ALTER USER 'alice'@'%' IDENTIFIED BY 'alice-pw-2'",
    )
    .await;
    assert_eq!(login_err(&daemon, "alice", "alice-pw-1").await.0, 1045);
    let mut alice = conn_as(&daemon, "alice", "alice-pw-2").await;
    exec(&mut alice, "SET PASSWORD = PASSWORD('alice-pw-3')").await;
    conn_as(&daemon, "alice", "alice-pw-3").await;
    exec(&mut root, "SET PASSWORD FOR 'alice'@'%' = 'alice-pw-4'").await;
    conn_as(&daemon, "alice", "alice-pw-4").await;
    // The *HEX form of mysql_native_password: SHA1(SHA1('alice-pw-5')).
    let hash = format!("*{}", native_hash_hex("alice-pw-5"));
    exec(&mut root, &format!("SET PASSWORD FOR alice = '{hash}'")).await;
    conn_as(&daemon, "alice", "alice-pw-5").await;

    // The root password, with SQL.
    exec(
        &mut root,
        "SET PASSWORD FOR 'root'@'%' = PASSWORD('root-pw-1')",
    )
    .await;
    assert_eq!(login_err(&daemon, "root", "").await.0, 1045);
    conn_as(&daemon, "root", "root-pw-1").await;
    drop(root);

    // Everything survives a restart; the catalog holds no password in clear.
    daemon.restart();
    conn_as(&daemon, "alice", "alice-pw-5").await;
    conn_as(&daemon, "bob", "bob-pw-1").await;
    let mut root = conn_as(&daemon, "root", "root-pw-1").await;
    // (A text search: std's `contains` is optimized even in a debug build, a byte-window scan
    // of the preallocated file is not.)
    let catalog = std::fs::read(daemon.data_dir().join("catalog.redb")).unwrap();
    let catalog = String::from_utf8_lossy(&catalog);
    for pw in ["alice-pw-5", "bob-pw-1", "root-pw-1"] {
        assert!(
            !catalog.contains(pw),
            "the catalog contains the password {pw}"
        );
    }
    assert!(
        catalog.contains(&native_hash_hex("bob-pw-1").to_lowercase()),
        "the catalog keeps SHA1(SHA1(pw))"
    );

    exec(&mut root, "DROP USER 'bob'@'localhost'").await;
    exec(&mut root, "DROP USER IF EXISTS 'bob'@'localhost'").await;
    let (code, _, _) = server_err(&mut root, "DROP USER 'bob'@'localhost'").await;
    assert_eq!(code, 1396);
    assert_eq!(login_err(&daemon, "bob", "bob-pw-1").await.0, 1045);
    let (code, _, _) = server_err(&mut root, "DROP USER root").await;
    assert_eq!(code, 5064);
}

/// `--root-password` is stored at each start, so it wins over a password set with SQL.
#[tokio::test]
async fn the_root_password_flag_wins_at_start() {
    let mut daemon = TestDaemon::start_with(&["--root-password", "flag-pw"], &[]);
    let mut root = conn_as(&daemon, "root", "flag-pw").await;
    exec(&mut root, "SET PASSWORD = PASSWORD('sql-pw')").await;
    assert_eq!(login_err(&daemon, "root", "flag-pw").await.0, 1045);
    conn_as(&daemon, "root", "sql-pw").await;
    drop(root);
    daemon.restart();
    conn_as(&daemon, "root", "flag-pw").await;
    assert_eq!(login_err(&daemon, "root", "sql-pw").await.0, 1045);
}

fn native_hash_hex(password: &str) -> String {
    let out = Command::new(common::venv_python())
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha1(hashlib.sha1(sys.argv[1].encode()).digest()).hexdigest().upper())",
            password,
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Compiles JdbcLogin.java; returns `run(user, password, sql)`.
fn jdbc_login(daemon: &TestDaemon) -> impl Fn(&str, &str, &str) -> Outcome + '_ {
    let javac = require_tool("javac");
    require_tool("java");
    let jar = require_file(MARIADB_JAR);
    let classes = daemon.scratch_dir().join("jdbc-login");
    std::fs::create_dir_all(&classes).unwrap();
    let out = run_with_deadline(
        Command::new(javac)
            .arg("-d")
            .arg(&classes)
            .arg(clients_dir().join("JdbcLogin.java")),
        "",
        CLIENT_DEADLINE,
    );
    assert!(out.status.success(), "javac JdbcLogin.java\n{out}");
    let cp = format!("{}:{}", classes.display(), jar.display());
    let url = format!("jdbc:mariadb://127.0.0.1:{}/", daemon.port());
    move |user: &str, password: &str, sql: &str| {
        let mut cmd = Command::new("java");
        cmd.args(["-cp", &cp, "JdbcLogin", &url, user, password, sql]);
        run_with_deadline(&mut cmd, "", CLIENT_DEADLINE)
    }
}

// ---------------------------------------------------------------------------------------------
// Backup, restore, repository and snapshot statements

/// [`check`] for each `(sql, want)` in turn, as one user.
async fn cases(daemon: &TestDaemon, (user, password): (&str, &str), list: &[(&str, Want)]) {
    for (sql, want) in list {
        check(daemon, user, password, sql, *want).await;
    }
}

#[tokio::test]
async fn backup_statements_need_repository_and_table_privileges() {
    let daemon = TestDaemon::start();
    let mut root = setup(&daemon).await;
    let other_repo = location(&daemon.scratch_dir().join("other"));
    for sql in [
        "CREATE USER nopriv IDENTIFIED BY 'np'",
        "CREATE USER repo_only IDENTIFIED BY 'ro'",
        "GRANT REPOSITORY ON SYSTEM TO USER repo_only",
        "CREATE USER backer IDENTIFIED BY 'bk'",
        "GRANT REPOSITORY ON SYSTEM TO USER 'backer'@'%'",
        "GRANT SELECT ON d1.t1 TO 'backer'@'%'",
        "CREATE USER restorer IDENTIFIED BY 'rs'",
        "GRANT REPOSITORY ON SYSTEM TO USER restorer",
        "GRANT CREATE, INSERT ON d2.* TO USER restorer",
        "CREATE USER admin2 IDENTIFIED BY 'a2'",
        "GRANT ADMIN_PRIV ON *.* TO 'admin2'@'%'",
        "CREATE USER admin3 IDENTIFIED BY 'a3'",
        "GRANT root TO USER admin3",
        "CREATE USER dba IDENTIFIED BY 'db'",
        "GRANT db_admin TO USER dba",
    ] {
        exec(&mut root, sql).await;
    }
    // A snapshot to restore from, made by root.
    exec(&mut root, "BACKUP SNAPSHOT d1.snap0 TO repo ON (t1)").await;
    wait_job(&mut root, "BACKUP", "d1").await;
    let ts = timestamp(&mut root, "snap0").await;
    let restore_on = |db: &str, on: &str| {
        format!(
            "RESTORE SNAPSHOT {db}.snap0 FROM repo ON ({on}) \
             PROPERTIES (\"backup_timestamp\" = \"{ts}\")"
        )
    };
    let create_repo = format!("CREATE REPOSITORY r_{{c}} ON LOCATION \"{other_repo}_{{c}}\"");
    let restore_d1 = restore_on("d1", "t1 AS t1_{c}");
    let restore_d2 = restore_on("d2", "t1");
    let restore_whole =
        format!("RESTORE SNAPSHOT snap0 FROM repo PROPERTIES (\"backup_timestamp\" = \"{ts}\")");

    // No privilege at all: every statement of the family is refused, naming REPOSITORY.
    let denied = repository_denied();
    let every = [
        (create_repo.as_str(), denied),
        ("DROP REPOSITORY repo", denied),
        ("SHOW REPOSITORIES", denied),
        ("SHOW SNAPSHOT ON repo", denied),
        ("BACKUP SNAPSHOT d1.s_{c} TO repo ON (t1)", denied),
        (restore_d1.as_str(), denied),
        ("SHOW BACKUP FROM d1", denied),
        ("SHOW RESTORE FROM d1", denied),
        ("CANCEL BACKUP FROM d1", denied),
        ("CANCEL RESTORE FROM d1", denied),
        ("DROP SNAPSHOT snap0 ON repo", denied),
        ("VERIFY SNAPSHOT snap0 ON repo", denied),
        ("SHOW VERIFY ON repo", denied),
        ("CANCEL VERIFY ON repo", denied),
    ];
    cases(&daemon, ("nopriv", "np"), &every).await;

    // REPOSITORY alone: the repository statements, not what reads or writes tables.
    let select_t1 = Want::Denied(
        5203,
        "the SELECT privilege(s) on TABLE d1.t1 for this operation",
    );
    let select_d1 = Want::Denied(5203, "the SELECT privilege(s) on DATABASE d1");
    let insert_create_d2 = Want::Denied(5203, "the INSERT, CREATE privilege(s) on TABLE d2.t1");
    cases(
        &daemon,
        ("repo_only", "ro"),
        &[
            ("SHOW REPOSITORIES", Want::Ok),
            ("SHOW SNAPSHOT ON repo", Want::Ok),
            (create_repo.as_str(), Want::Ok),
            ("DROP REPOSITORY r_{c}", Want::Ok),
            // Past the check: the snapshot does not exist.
            ("DROP SNAPSHOT nothing ON repo", Want::Allowed),
            ("VERIFY SNAPSHOT nothing ON repo", Want::Allowed),
            ("SHOW VERIFY ON repo", Want::Ok),
            ("CANCEL VERIFY ON repo", Want::Allowed),
            ("BACKUP SNAPSHOT d1.s_{c} TO repo ON (t1)", select_t1),
            (restore_d2.as_str(), insert_create_d2),
            ("SHOW BACKUP FROM d1", select_d1),
            ("CANCEL BACKUP FROM d1", select_d1),
        ],
    )
    .await;

    // REPOSITORY + SELECT on d1.t1: back up t1, not t2 nor the whole database.
    let mut backer = conn_as(&daemon, "backer", "bk").await;
    exec(&mut backer, "BACKUP SNAPSHOT d1.by_backer TO repo ON (t1)").await;
    let job = wait_job(&mut backer, "BACKUP", "d1").await;
    assert_eq!(job[3].as_deref(), Some("FINISHED"), "{job:?}");
    // The same through the mysql CLI (one job at a time per database, so not in `check`).
    let out = cli(
        &daemon,
        "backer",
        "bk",
        "BACKUP SNAPSHOT d1.by_backer_cli TO repo ON (t1)",
    );
    assert!(out.status.success(), "{out}");
    let job = wait_job(&mut backer, "BACKUP", "d1").await;
    assert_eq!(job[3].as_deref(), Some("FINISHED"), "{job:?}");
    let select_t2 = Want::Denied(5203, "the SELECT privilege(s) on TABLE d1.t2");
    let insert_d1 = Want::Denied(5203, "the INSERT privilege(s) on DATABASE d1");
    let all_dbs = Want::Denied(5203, "on ALL DATABASES");
    cases(
        &daemon,
        ("backer", "bk"),
        &[
            ("SHOW BACKUP FROM d1", Want::Ok),
            ("BACKUP SNAPSHOT d1.s_{c} TO repo ON (t2)", select_t2),
            ("BACKUP SNAPSHOT d1.s_{c} TO repo", select_t2),
            // Past the check: no job runs, so StarRocks' "No backup job is currently running".
            ("CANCEL BACKUP FROM d1", Want::Allowed),
            ("SHOW RESTORE FROM d1", insert_d1),
            ("CANCEL RESTORE FROM d1", insert_d1),
            (restore_d1.as_str(), Want::Denied(5203, "INSERT, CREATE")),
            // SHOW BACKUP without FROM lists every database's job.
            ("SHOW BACKUP", all_dbs),
        ],
    )
    .await;

    // REPOSITORY + CREATE, INSERT on d2.*: restore into d2, not into d1.
    let mut restorer = conn_as(&daemon, "restorer", "rs").await;
    exec(&mut restorer, &restore_d2).await;
    let job = wait_job(&mut restorer, "RESTORE", "d2").await;
    assert_eq!(job[4].as_deref(), Some("FINISHED"), "{job:?}");
    let out = cli(&daemon, "restorer", "rs", &restore_on("d2", "t1 AS t1_cli"));
    assert!(out.status.success(), "{out}");
    let job = wait_job(&mut restorer, "RESTORE", "d2").await;
    assert_eq!(job[4].as_deref(), Some("FINISHED"), "{job:?}");
    let into_d1 = Want::Denied(5203, "the INSERT, CREATE privilege(s) on TABLE d1.t1_");
    cases(
        &daemon,
        ("restorer", "rs"),
        &[
            (restore_d1.as_str(), into_d1),
            ("SHOW RESTORE FROM d2", Want::Ok),
            ("CANCEL RESTORE FROM d2", Want::Allowed),
            // Without a target database the snapshot names it: only *.* covers that.
            (restore_whole.as_str(), all_dbs),
        ],
    )
    .await;

    // 2.x ADMIN_PRIV, 3.x root role and db_admin role: everything in the family.
    for (user, pw) in [("admin2", "a2"), ("admin3", "a3"), ("dba", "db")] {
        // Allowed: the CLI's RESTORE may meet the first client's job still running.
        let restore = restore_on("d1", &format!("t1 AS t1_{user}_{{c}}"));
        cases(
            &daemon,
            (user, pw),
            &[
                ("SHOW REPOSITORIES", Want::Ok),
                ("SHOW BACKUP", Want::Ok),
                ("SHOW SNAPSHOT ON repo", Want::Ok),
                (restore.as_str(), Want::Allowed),
            ],
        )
        .await;
        let mut c = conn_as(&daemon, user, pw).await;
        wait_job(&mut c, "RESTORE", "d1").await;
        exec(&mut c, &format!("BACKUP SNAPSHOT d1.by_{user} TO repo")).await;
        let job = wait_job(&mut c, "BACKUP", "d1").await;
        assert_eq!(job[3].as_deref(), Some("FINISHED"), "{user}: {job:?}");
    }

    // REVOKE takes it away again, from the next statement on.
    exec(&mut root, "REVOKE REPOSITORY ON SYSTEM FROM USER backer").await;
    check(&daemon, "backer", "bk", "SHOW REPOSITORIES", denied).await;
    exec(&mut root, "REVOKE db_admin FROM USER dba").await;
    check(&daemon, "dba", "db", "SHOW REPOSITORIES", denied).await;
}

// ---------------------------------------------------------------------------------------------
// User management

#[tokio::test]
async fn user_management_needs_admin() {
    let daemon = TestDaemon::start();
    let mut root = setup(&daemon).await;
    for sql in [
        "CREATE USER plain IDENTIFIED BY 'pl'",
        "GRANT SELECT ON d1.* TO plain",
        "CREATE USER ua IDENTIFIED BY 'ua'",
        "GRANT user_admin TO USER ua",
        "CREATE USER dba IDENTIFIED BY 'db'",
        "GRANT db_admin TO USER dba",
    ] {
        exec(&mut root, sql).await;
    }
    let denied = Want::Denied(5203, "the GRANT privilege(s) on SYSTEM");
    let statements = [
        ("CREATE USER u_{c} IDENTIFIED BY 'x'", denied),
        ("ALTER USER plain IDENTIFIED BY 'pl'", denied),
        ("DROP USER IF EXISTS u_{c}", denied),
        ("SHOW USERS", denied),
        ("GRANT SELECT ON d1.* TO u_{c}", denied),
        ("REVOKE SELECT ON d1.* FROM USER plain", denied),
        ("GRANT db_admin TO USER plain", denied),
        ("SET PASSWORD FOR ua = PASSWORD('x')", denied),
        ("SHOW GRANTS FOR ua", denied),
        ("SHOW ALL GRANTS", denied),
    ];
    cases(&daemon, ("plain", "pl"), &statements).await;
    cases(&daemon, ("dba", "db"), &statements).await;
    // Anyone may see their own grants and change their own password.
    cases(
        &daemon,
        ("plain", "pl"),
        &[
            ("SHOW GRANTS", Want::Ok),
            ("SHOW GRANTS FOR 'plain'@'%'", Want::Ok),
            ("SET PASSWORD = PASSWORD('pl')", Want::Ok),
            ("SHOW ROLES", Want::Ok),
            ("SET ROLE ALL", Want::Ok),
            ("SET DEFAULT ROLE ALL TO plain", Want::Ok),
            ("SET DEFAULT ROLE ALL TO USER ua", denied),
        ],
    )
    .await;
    let mut plain = conn_as(&daemon, "plain", "pl").await;
    assert_eq!(
        rows(&mut plain, "SHOW GRANTS").await,
        vec![vec![
            Some("'plain'@'%'".into()),
            Some("default_catalog".into()),
            Some("GRANT SELECT ON d1.* TO USER 'plain'@'%'".into())
        ]]
    );

    // user_admin may manage users, but holds no data privileges.
    let no_select = Want::Denied(
        1142,
        "SELECT command denied to user 'ua'@'%' for table 't1'",
    );
    cases(
        &daemon,
        ("ua", "ua"),
        &[
            ("CREATE USER u_{c} IDENTIFIED BY 'x'", Want::Ok),
            ("GRANT SELECT, INSERT ON d1.t1 TO USER u_{c}", Want::Ok),
            ("SHOW GRANTS FOR u_{c}", Want::Ok),
            ("SHOW USERS", Want::Ok),
            ("SET DEFAULT ROLE ALL TO USER u_{c}", Want::Ok),
            ("DROP USER u_{c}", Want::Ok),
            ("SELECT * FROM d1.t1", no_select),
        ],
    )
    .await;

    let roles = rows(&mut root, "SHOW ROLES").await;
    let names: Vec<_> = roles.iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(
        names,
        ["root", "db_admin", "user_admin", "cluster_admin", "public"]
    );
    let grants = rows(&mut root, "SHOW GRANTS FOR 'dba'@'%'").await;
    let dba = Some("GRANT db_admin TO USER 'dba'@'%'");
    assert_eq!(grants[0][2].as_deref(), dba);
    let (code, _, msg) = server_err(&mut root, "GRANT nosuchrole TO USER plain").await;
    assert_eq!(code, 5064, "{msg}");
    let (code, _, _) = server_err(&mut root, "GRANT SELECT ON d1.* TO nobody").await;
    assert_eq!(code, 1396);
}

// ---------------------------------------------------------------------------------------------
// Ordinary SQL

#[tokio::test]
async fn ordinary_sql_honours_select_insert_create() {
    let daemon = TestDaemon::start();
    let mut root = setup(&daemon).await;
    for sql in [
        "CREATE USER reader IDENTIFIED BY 'rd'",
        "GRANT SELECT ON d1.t1 TO reader",
        "CREATE USER writer IDENTIFIED BY 'wr'",
        "GRANT INSERT, CREATE ON d1.* TO USER writer",
        "CREATE USER creator IDENTIFIED BY 'cr'",
        "GRANT CREATE ON *.* TO creator",
        "CREATE USER everything IDENTIFIED BY 'ev'",
        "GRANT ALL ON d1.* TO everything",
    ] {
        exec(&mut root, sql).await;
    }
    let create_x = format!("CREATE TABLE d1.x_{{c}} {TABLE}");
    let create_w = format!("CREATE TABLE d1.w_{{c}} {TABLE}");
    let t2 = Want::Denied(
        1142,
        "SELECT command denied to user 'reader'@'%' for table 't2'",
    );
    let files = "SELECT * FROM FILES('path' = '/etc/passwd', 'format' = 'csv')";
    // reader: SELECT on d1.t1 only.
    cases(
        &daemon,
        ("reader", "rd"),
        &[
            ("SELECT COUNT(*) FROM d1.t1", Want::Ok),
            ("DESC d1.t1", Want::Ok),
            ("SHOW CREATE TABLE d1.t1", Want::Ok),
            ("CHECKSUM TABLE d1.t1", Want::Ok),
            ("SHOW TABLES FROM d1", Want::Ok),
            ("SELECT 1", Want::Ok),
            ("SELECT * FROM d1.t2", t2),
            ("SELECT * FROM d1.t1 JOIN d1.t2 ON t1.id = t2.id", t2),
            ("WITH c AS (SELECT * FROM d1.t2) SELECT * FROM c", t2),
            (
                "INSERT INTO d1.t1 VALUES (9, 'z')",
                Want::Denied(
                    1142,
                    "INSERT command denied to user 'reader'@'%' for table 't1'",
                ),
            ),
            (
                create_x.as_str(),
                Want::Denied(
                    1142,
                    "CREATE command denied to user 'reader'@'%' for table 'x_",
                ),
            ),
            (
                "DROP TABLE d1.t1",
                Want::Denied(1142, "DROP command denied"),
            ),
            (
                "TRUNCATE TABLE d1.t1",
                Want::Denied(1142, "DROP command denied"),
            ),
            (
                "CREATE DATABASE dx_{c}",
                Want::Denied(1044, "Access denied for user 'reader'@'%' to database 'dx_"),
            ),
            ("DROP DATABASE d1", Want::Denied(1044, "to database 'd1'")),
            (files, Want::Denied(5203, "the FILE privilege(s) on SYSTEM")),
        ],
    )
    .await;

    // Server-side prepared statements: PREPARE is checked too (column names are data).
    let mut reader = conn_as(&daemon, "reader", "rd").await;
    let n: Option<i64> = reader
        .exec_first("SELECT COUNT(*) FROM d1.t1 WHERE id > ?", (0,))
        .await
        .unwrap();
    assert_eq!(n, Some(2));
    match reader.prep("SELECT * FROM d1.t2 WHERE id > ?").await {
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!((e.code, e.state.as_str()), (1142, "42000"))
        }
        other => panic!("PREPARE on d1.t2 as reader: {other:?}"),
    }
    reader.disconnect().await.unwrap();

    // writer: INSERT and CREATE on d1.*, no SELECT.
    let select_denied = |t: &str| {
        Want::Denied(
            1142,
            if t == "t1" {
                "SELECT command denied to user 'writer'@'%' for table 't1'"
            } else {
                "SELECT command denied to user 'writer'@'%' for table 't2'"
            },
        )
    };
    cases(
        &daemon,
        ("writer", "wr"),
        &[
            (create_w.as_str(), Want::Ok),
            ("INSERT INTO d1.t1 VALUES (10, 'w')", Want::Ok),
            ("SELECT * FROM d1.t1", select_denied("t1")),
            ("INSERT INTO d1.t1 SELECT * FROM d1.t2", select_denied("t2")),
        ],
    )
    .await;

    // creator: CREATE on *.* makes databases; ALL on d1.* includes DROP.
    check(&daemon, "creator", "cr", "CREATE DATABASE dc_{c}", Want::Ok).await;
    cases(
        &daemon,
        ("everything", "ev"),
        &[
            ("SELECT * FROM d1.t2", Want::Ok),
            ("DROP TABLE d1.w_{c}", Want::Ok),
        ],
    )
    .await;

    let n = rows(&mut root, "SELECT COUNT(*) FROM d1.t1").await;
    assert_eq!(
        n,
        vec![vec![Some("4".into())]],
        "the writer's two rows are in"
    );
    exec(&mut root, "REVOKE SELECT ON d1.t1 FROM reader").await;
    let t1 = Want::Denied(1142, "for table 't1'");
    check(&daemon, "reader", "rd", "SELECT * FROM d1.t1", t1).await;
}
