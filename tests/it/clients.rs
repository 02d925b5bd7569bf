//! Real MySQL clients against a real `backstop` process: the mysql CLI, PyMySQL, mysqlclient,
//! node's mysql2,
//! mysql-connector-python (C extension and pure), pyodbc + MariaDB ODBC, unixODBC `isql`,
//! MariaDB Connector/J (JDBC, `jdbc:mariadb:` and `jdbc:mysql:` URLs, server-side prepared
//! statements) and mysql_async.
//!
//! Each test starts its own daemon. A missing tool fails the test (run
//! `scripts/install-test-deps`); nothing is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{
    Outcome, TestDaemon, assert_select_1, clients_dir, require_file, require_tool, rows,
    run_with_deadline, server_err, venv_python,
};
use mysql_async::prelude::Queryable;

const CLIENT_DEADLINE: Duration = Duration::from_secs(120);
const PASSWORD: &str = "s3cret-pw";
const MARIADB_JAR: &str = "/usr/share/java/mariadb-java-client.jar";

/// What every smoke script prints (Python and JDBC print extra `param…` lines, checked apart).
const SMOKE_HEAD: &[&str] = &[
    "select1 1",
    "select1_column 1",
    "concat ab",
    "concat_column CONCAT('a','b')",
    "syntax ERR 1064",
    "unsupported ERR 1235",
    "again 1",
];

fn lines(out: &Outcome) -> Vec<&str> {
    out.stdout.lines().collect()
}

fn assert_success(out: &Outcome, what: &str) {
    assert!(out.status.success(), "{what} failed\n{out}");
}

fn assert_lines(out: &Outcome, expected: &[&str], what: &str) {
    assert_success(out, what);
    assert_eq!(lines(out), expected, "{what}: unexpected output\n{out}");
}

// ---------------------------------------------------------------------------------------------
// mysql CLI (MariaDB 10.11 client)

fn mysql_cli(daemon: &TestDaemon, password: Option<&str>, input: &str) -> Outcome {
    let mysql = require_tool("mysql");
    let mut cmd = Command::new(mysql);
    cmd.arg("--no-defaults")
        .arg("-h127.0.0.1")
        .arg(format!("-P{}", daemon.port()))
        .arg("-uroot")
        .args(["--batch", "--force", "--connect-timeout=20"]);
    if let Some(pw) = password {
        cmd.arg(format!("--password={pw}"));
    }
    cmd.env_remove("MYSQL_PWD").env_remove("MYSQL_HOST");
    run_with_deadline(&mut cmd, input, CLIENT_DEADLINE)
}

#[test]
fn mysql_cli_smoke() {
    let daemon = TestDaemon::start();
    let out = mysql_cli(
        &daemon,
        None,
        "SELECT 1;\nSELECT CONCAT('a','b');\nSELEKT 1;\nBACKUP ALL EXTERNAL CATALOGS SNAPSHOT db.s TO r;\nSELECT 1;\n",
    );
    // --force: errors are printed and the session goes on (exit code 1 at the end).
    assert_eq!(
        lines(&out),
        ["1", "1", "CONCAT('a','b')", "ab", "1", "1"],
        "mysql CLI output\n{out}"
    );
    // With --force the client echoes each failing statement between dashes before the error.
    let err: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("ERROR"))
        .collect();
    assert_eq!(err.len(), 2, "two errors expected\n{out}");
    assert!(
        err[0].starts_with("ERROR 1064 (42000) at line 3"),
        "syntax error line: {}\n{out}",
        err[0]
    );
    assert!(
        err[1].starts_with("ERROR 1235 (42000) at line 4"),
        "unsupported statement line: {}\n{out}",
        err[1]
    );
    assert!(
        err[1].to_ascii_uppercase().contains("BACKUP"),
        "the 1235 message should name the statement: {}",
        err[1]
    );

    // A new connection (the session chatter of an interactive client, then a query).
    let out = mysql_cli(
        &daemon,
        None,
        "select @@version_comment limit 1;\nSELECT DATABASE();\nSELECT 1;\n",
    );
    assert_success(&out, "mysql CLI reconnect");
    let got = lines(&out);
    assert_eq!(
        got.len(),
        6,
        "three result sets with headers expected\n{out}"
    );
    assert_eq!(got[0], "@@version_comment", "{out}");
    assert_eq!(got[2], "DATABASE()", "{out}");
    assert_eq!(&got[4..], ["1", "1"], "{out}");

    // -e and the exit code on error without --force.
    let mysql = require_tool("mysql");
    let mut cmd = Command::new(mysql);
    cmd.args(["--no-defaults", "-h127.0.0.1", "-uroot", "--batch"])
        .arg(format!("-P{}", daemon.port()))
        .args(["-e", "BACKUP ALL EXTERNAL CATALOGS SNAPSHOT db.s TO r"]);
    let out = run_with_deadline(&mut cmd, "", CLIENT_DEADLINE);
    assert_eq!(out.status.code(), Some(1), "{out}");
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("ERROR 1235 (42000)")),
        "mysql -e error text\n{out}"
    );
}

#[test]
fn mysql_cli_auth() {
    let daemon = TestDaemon::start_with(&["--root-password", PASSWORD], &[]);
    let out = mysql_cli(&daemon, Some(PASSWORD), "SELECT 1;\n");
    assert_lines(&out, &["1", "1"], "mysql CLI with the right password");

    for wrong in [Some("not-the-password"), None] {
        let out = mysql_cli(&daemon, wrong, "SELECT 1;\n");
        assert!(
            !out.status.success()
                && out
                    .stderr
                    .lines()
                    .any(|l| l.starts_with("ERROR 1045 (28000)")),
            "mysql CLI with password {wrong:?}: expected ERROR 1045 (28000)\n{out}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Python drivers (scripts in tests/clients/py_smoke.py, run with the test venv)

fn py_smoke(daemon: &TestDaemon, driver: &str, mode: &[&str]) -> Outcome {
    let python = venv_python();
    let script = clients_dir().join("py_smoke.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg(driver)
        .arg(daemon.port().to_string())
        .args(mode);
    run_with_deadline(&mut cmd, "", CLIENT_DEADLINE)
}

fn python_smoke_test(driver: &str, extra: &[&str]) {
    let daemon = TestDaemon::start();
    let out = py_smoke(&daemon, driver, &["smoke"]);
    let mut expected: Vec<&str> = SMOKE_HEAD.to_vec();
    expected.extend_from_slice(extra);
    expected.extend_from_slice(&["after_param 1", "reconnect 1"]);
    assert_lines(&out, &expected, driver);
}

fn python_auth_test(driver: &str) {
    let daemon = TestDaemon::start_with(&["--root-password", PASSWORD], &[]);
    let out = py_smoke(&daemon, driver, &["auth", PASSWORD]);
    assert_lines(
        &out,
        &["good 1", "wrong ERR 1045", "empty ERR 1045"],
        driver,
    );
}

#[test]
fn pymysql_smoke() {
    python_smoke_test("pymysql", &["param ax"]);
}

#[test]
fn pymysql_auth() {
    python_auth_test("pymysql");
}

/// node's mysql2 (tests/clients/node_smoke.js): text queries, server-side prepared statements
/// (`execute`: binary protocol, run twice), error codes with their SQLSTATE, reconnect.
#[test]
fn node_mysql2_smoke() {
    let daemon = TestDaemon::start();
    let modules = common::s3::tools_dir().join("node/node_modules");
    require_file(modules.join("mysql2/package.json").to_str().unwrap());
    let mut cmd = Command::new(require_tool("node"));
    cmd.arg(clients_dir().join("node_smoke.js"))
        .arg(daemon.port().to_string())
        .env("NODE_PATH", &modules);
    let out = run_with_deadline(&mut cmd, "", CLIENT_DEADLINE);
    assert_lines(
        &out,
        &[
            "select1 1",
            "select1_column 1",
            "concat ab",
            "concat_column CONCAT('a','b')",
            "syntax ERR 1064 42000",
            "unsupported ERR 1235 42000",
            "again 1",
            "param ax",
            "prepared bx 42",
            "prepared cx 42",
            "prepared_error ERR 1049 42000",
            "after_param 1",
            "reconnect 1",
        ],
        "node mysql2",
    );
}

/// SQLAlchemy 2's Inspector and pandas (tests/clients/sqla_inspect.py), with PyMySQL and with
/// mysqlclient: schema, table and view names, every column's type and nullability, primary key,
/// indexes, then `pandas.read_sql_table`.
fn sqlalchemy_inspector_test(driver: &str) {
    let daemon = TestDaemon::start();
    let setup = mysql_cli(
        &daemon,
        None,
        "CREATE DATABASE shop;
         CREATE TABLE shop.member (id INT NOT NULL COMMENT 'member id', name VARCHAR(32)
           DEFAULT 'nobody', score DECIMAL(10, 2), born DATE, created DATETIME, ok BOOLEAN,
           note STRING, big BIGINT) DUPLICATE KEY(id) COMMENT 'members'
           DISTRIBUTED BY HASH(id) BUCKETS 2;
         INSERT INTO shop.member (id, name, born) VALUES (1, 'a', '2024-01-02'), (2, 'b', NULL);
         CREATE VIEW shop.named_members (id, name) AS SELECT id, name FROM shop.member WHERE name IS NOT NULL;",
    );
    assert_success(&setup, "setup");
    let mut cmd = Command::new(venv_python());
    cmd.arg(clients_dir().join("sqla_inspect.py"))
        .arg(driver)
        .arg(daemon.port().to_string());
    let out = run_with_deadline(&mut cmd, "", CLIENT_DEADLINE);
    assert_success(&out, driver);
    let answers: Vec<&str> = lines(&out)
        .into_iter()
        .filter(|l| !l.starts_with("warning "))
        .collect();
    assert_eq!(
        answers,
        [
            "schemas information_schema,shop",
            "tables member",
            "views named_members",
            "view_definition CREATE VIEW `named_members` (`id`, `name`) AS SELECT id, name FROM shop.member WHERE name IS NOT NULL",
            "view_rows [1, 2]",
            "column id INTEGER False",
            "column name VARCHAR(32) True",
            "column score DECIMAL(10, 2) True",
            "column born DATE True",
            "column created DATETIME True",
            "column ok BOOLEAN True",
            "column note VARCHAR(65533) True",
            "column big BIGINT True",
            "pk []",
            "indexes []",
            "table_comment None",
            "read_sql_table ['id', 'name', 'score', 'born', 'created', 'ok', 'note', 'big'] 2 ['a', 'b']",
        ],
        "{driver}\n{out}"
    );
    // SQLAlchemy reads every column definition; what it does not know is StarRocks' table
    // clauses (DUPLICATE KEY, DISTRIBUTED BY, PROPERTIES).
    for warning in lines(&out)
        .into_iter()
        .filter(|l| l.starts_with("warning "))
    {
        assert!(
            warning.starts_with("warning Unknown schema content"),
            "{driver}: {warning}"
        );
    }
}

#[test]
fn sqlalchemy_inspector_with_pymysql() {
    sqlalchemy_inspector_test("pymysql");
}

#[test]
fn sqlalchemy_inspector_with_mysqlclient() {
    sqlalchemy_inspector_test("mysqldb");
}

/// mysqlclient (MySQLdb, the C driver Django and SQLAlchemy's default `mysql://` use).
#[test]
fn mysqlclient_smoke() {
    python_smoke_test("mysqlclient", &["param ax"]);
}

#[test]
fn mysqlclient_auth() {
    python_auth_test("mysqlclient");
}

#[test]
fn mysql_connector_c_ext_smoke() {
    python_smoke_test("connector-c", &["param ax", "param_prepared bx"]);
}

#[test]
fn mysql_connector_c_ext_auth() {
    python_auth_test("connector-c");
}

#[test]
fn mysql_connector_pure_smoke() {
    python_smoke_test("connector-pure", &["param ax", "param_prepared bx"]);
}

#[test]
fn mysql_connector_pure_auth() {
    python_auth_test("connector-pure");
}

fn require_mariadb_odbc() {
    require_tool("odbcinst");
    let out = run_with_deadline(
        Command::new("odbcinst").args(["-q", "-d"]),
        "",
        CLIENT_DEADLINE,
    );
    assert!(
        out.stdout.lines().any(|l| l.trim() == "[MariaDB Unicode]"),
        "the ODBC driver `MariaDB Unicode` is not registered (odbcinst -q -d): \
         run scripts/install-test-deps\n{out}"
    );
}

#[test]
fn pyodbc_smoke() {
    require_mariadb_odbc();
    // 43 types in MariaDB Connector/ODBC 3.1's SQLGetTypeInfo; VARCHAR is listed as SQL_WVARCHAR
    // (-9) and SQL_VARCHAR (12), both NULLABLE (1).
    python_smoke_test(
        "pyodbc",
        &[
            "param ax",
            "typeinfo_count 43",
            "typeinfo_varchar -9,12 nullable=1",
        ],
    );
}

#[test]
fn pyodbc_auth() {
    require_mariadb_odbc();
    python_auth_test("pyodbc");
}

// ---------------------------------------------------------------------------------------------
// unixODBC isql with the MariaDB ODBC driver

/// Writes odbc.ini (DSN `backstop`) and odbcinst.ini into the daemon's scratch dir and returns
/// an isql command with ODBCINI/ODBCSYSINI pointing there.
fn isql(daemon: &TestDaemon, password: &str) -> Command {
    require_mariadb_odbc();
    let isql = require_tool("isql");
    let driver = run_with_deadline(
        Command::new("odbcinst").args(["-q", "-d", "-n", "MariaDB Unicode"]),
        "",
        CLIENT_DEADLINE,
    );
    let driver_line = driver
        .stdout
        .lines()
        .find(|l| l.starts_with("Driver="))
        .unwrap_or_else(|| panic!("no Driver= line for MariaDB Unicode\n{driver}"))
        .to_string();
    let dir: PathBuf = daemon.scratch_dir().join("odbc");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("odbcinst.ini"),
        format!("[MariaDB Unicode]\n{driver_line}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("odbc.ini"),
        format!(
            "[backstop]\nDriver=MariaDB Unicode\nServer=127.0.0.1\nPort={}\nUser=root\n\
             Password=\n",
            daemon.port()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(isql);
    cmd.args(["-v", "-b", "backstop", "root", password])
        .env("ODBCINI", dir.join("odbc.ini"))
        .env("ODBCSYSINI", &dir)
        .env("HOME", &dir);
    cmd
}

/// The cells of isql's result tables (`| value |` lines), headers included.
fn isql_cells(out: &Outcome) -> Vec<String> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix('|'))
        .flat_map(|l| l.split('|').map(str::trim).filter(|c| !c.is_empty()))
        .map(str::to_string)
        .collect()
}

#[test]
fn isql_smoke() {
    let daemon = TestDaemon::start();
    let out = run_with_deadline(
        &mut isql(&daemon, ""),
        "SELECT 1\nSELECT CONCAT('a','b')\nSELEKT 1\nBACKUP ALL EXTERNAL CATALOGS SNAPSHOT db.s TO r\nSELECT 2\n",
        CLIENT_DEADLINE,
    );
    assert_success(&out, "isql");
    assert_eq!(
        isql_cells(&out),
        ["1", "1", "CONCAT('a','b')", "ab", "2", "2"],
        "isql results\n{out}"
    );
    // isql talks ODBC 2 (SQLError): SQLSTATE 42000 shows as 37000, and it prints no native
    // error code, so the messages are checked.
    let errors: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("[37000]") || l.starts_with("[42000]"))
        .collect();
    assert_eq!(errors.len(), 2, "two errors expected\n{out}");
    assert!(
        errors[0].to_ascii_lowercase().contains("syntax"),
        "isql: SELEKT 1 should be a syntax error\n{out}"
    );
    assert!(
        errors[1].to_ascii_uppercase().contains("BACKUP"),
        "isql: the BACKUP SNAPSHOT error should name the statement\n{out}"
    );
    // A new isql process is a new connection.
    let out = run_with_deadline(&mut isql(&daemon, ""), "SELECT 1\n", CLIENT_DEADLINE);
    assert_success(&out, "isql reconnect");
    assert_eq!(isql_cells(&out), ["1", "1"], "isql reconnect\n{out}");
}

#[test]
fn isql_auth() {
    let daemon = TestDaemon::start_with(&["--root-password", PASSWORD], &[]);
    let out = run_with_deadline(&mut isql(&daemon, PASSWORD), "SELECT 1\n", CLIENT_DEADLINE);
    assert_success(&out, "isql with the right password");
    assert_eq!(isql_cells(&out), ["1", "1"], "{out}");
    let out = run_with_deadline(&mut isql(&daemon, "wrong"), "SELECT 1\n", CLIENT_DEADLINE);
    assert!(!out.status.success(), "isql with a wrong password\n{out}");
    let all = format!("{}\n{}", out.stdout, out.stderr);
    // No native error code in isql's output (see isql_smoke): SQLSTATE and message.
    assert!(
        all.contains("[28000]") && all.to_ascii_lowercase().contains("access denied"),
        "isql with a wrong password: expected [28000] … Access denied\n{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// JDBC: MariaDB Connector/J 2.7 (Debian libmariadb-java)

/// Compiles tests/clients/JdbcSmoke.java into the daemon's scratch dir; returns the class path.
fn compile_jdbc_smoke(daemon: &TestDaemon) -> String {
    compile_java(daemon, "JdbcSmoke.java")
}

/// Compiles tests/clients/`source` into the daemon's scratch dir; returns the class path.
fn compile_java(daemon: &TestDaemon, source: &str) -> String {
    let javac = require_tool("javac");
    require_tool("java");
    let jar = require_file(MARIADB_JAR);
    let classes = daemon.scratch_dir().join("java-classes");
    std::fs::create_dir_all(&classes).unwrap();
    let out = run_with_deadline(
        Command::new(javac)
            .arg("-d")
            .arg(&classes)
            .arg(clients_dir().join(source)),
        "",
        CLIENT_DEADLINE,
    );
    assert!(out.status.success(), "javac {source}\n{out}");
    format!("{}:{}", classes.display(), jar.display())
}

fn jdbc(classpath: &str, url: &str, mode: &[&str]) -> Outcome {
    let mut cmd = Command::new("java");
    cmd.args(["-cp", classpath, "JdbcSmoke", url]).args(mode);
    run_with_deadline(&mut cmd, "", CLIENT_DEADLINE)
}

fn jdbc_smoke_test(scheme: &str, params: &str) {
    let daemon = TestDaemon::start();
    let cp = compile_jdbc_smoke(&daemon);
    let url = format!("jdbc:{scheme}://127.0.0.1:{}/{params}", daemon.port());
    let out = jdbc(&cp, &url, &["smoke"]);
    let mut expected: Vec<&str> = SMOKE_HEAD.to_vec();
    // Connector/J also reports the SQLSTATE.
    for line in &mut expected {
        match *line {
            "syntax ERR 1064" => *line = "syntax ERR 1064 42000",
            "unsupported ERR 1235" => *line = "unsupported ERR 1235 42000",
            _ => {}
        }
    }
    expected.extend_from_slice(&["param ax", "param_again bx", "after_param 1", "reconnect 1"]);
    assert_lines(&out, &expected, &url);
}

#[test]
fn jdbc_mariadb_url_smoke() {
    jdbc_smoke_test("mariadb", "");
}

#[test]
fn jdbc_mysql_url_smoke() {
    jdbc_smoke_test("mysql", "");
}

#[test]
fn jdbc_server_prepared_statements_smoke() {
    jdbc_smoke_test("mariadb", "?useServerPrepStmts=true");
}

/// DatabaseMetaData as DBeaver and Metabase read it (tests/clients/JdbcMetadata.java): every
/// call answers, with the types, sizes and nullability of each column.
#[tokio::test]
async fn jdbc_database_metadata() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    for sql in [
        "CREATE DATABASE shop",
        "CREATE TABLE shop.member (id INT NOT NULL COMMENT 'member id', name VARCHAR(32) \
         DEFAULT 'nobody', score DECIMAL(10, 2), born DATE, created DATETIME, ok BOOLEAN, \
         note STRING, big BIGINT) DUPLICATE KEY(id) COMMENT 'members' \
         DISTRIBUTED BY HASH(id) BUCKETS 2",
        "CREATE TABLE shop.orders (oid BIGINT NOT NULL, member INT) DUPLICATE KEY(oid) \
         DISTRIBUTED BY HASH(oid) BUCKETS 1",
        "CREATE VIEW shop.member_orders COMMENT 'orders by member' AS SELECT m.id, o.oid \
         FROM shop.member m JOIN shop.orders o ON o.member = m.id",
    ] {
        conn.query_drop(sql).await.unwrap();
    }
    let cp = compile_java(&daemon, "JdbcMetadata.java");
    let url = format!("jdbc:mariadb://127.0.0.1:{}/shop", daemon.port());
    let mut cmd = Command::new("java");
    cmd.args(["-cp", &cp, "JdbcMetadata", &url]);
    let out = run_with_deadline(&mut cmd, "", CLIENT_DEADLINE);
    assert_lines(
        &out,
        &[
            "catalogs information_schema",
            "catalogs shop",
            "catalogs rows 2",
            "schemas rows 0",
            "tables shop member TABLE members",
            "tables shop orders TABLE ",
            "tables shop member_orders VIEW orders by member",
            "tables rows 3",
            "views member_orders",
            "views rows 1",
            // name, type, java.sql.Types, size, digits, nullable, ..., position, default,
            // comment, auto-increment.
            "columns id INT 4 10 0 0 NO 1 null member id NO",
            "columns name VARCHAR 12 32 null 1 YES 2 nobody  NO",
            "columns score DECIMAL 3 10 2 1 YES 3 null  NO",
            "columns born DATE 91 10 null 1 YES 4 null  NO",
            "columns created DATETIME 93 19 null 1 YES 5 null  NO",
            "columns ok BOOLEAN 1111 1 0 1 YES 6 null  NO",
            "columns note VARCHAR 12 65533 null 1 YES 7 null  NO",
            "columns big BIGINT -5 19 0 1 YES 8 null  NO",
            "columns rows 8",
            "pk rows 0",
            "index rows 0",
            "imported rows 0",
            "exported rows 0",
            "backup_columns JobId:VARCHAR SnapshotName:VARCHAR DbName:VARCHAR State:VARCHAR \
             BackupObjs:VARCHAR CreateTime:VARCHAR SnapshotFinishedTime:VARCHAR \
             UploadFinishedTime:VARCHAR FinishedTime:VARCHAR UnfinishedTasks:VARCHAR \
             Progress:VARCHAR TaskErrMsg:VARCHAR Status:VARCHAR Timeout:VARCHAR",
            "backup rows 0",
        ],
        "JDBC DatabaseMetaData",
    );
}

#[test]
fn jdbc_auth() {
    let daemon = TestDaemon::start_with(&["--root-password", PASSWORD], &[]);
    let cp = compile_jdbc_smoke(&daemon);
    let url = format!("jdbc:mariadb://127.0.0.1:{}/", daemon.port());
    let out = jdbc(&cp, &url, &["auth", PASSWORD]);
    assert_lines(
        &out,
        &["good 1", "wrong ERR 1045 28000", "empty ERR 1045 28000"],
        "JDBC auth",
    );
}

// ---------------------------------------------------------------------------------------------
// mysql_async (Rust): text and binary protocol

#[tokio::test]
async fn mysql_async_smoke() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    assert_select_1(&mut conn).await;

    let result: Vec<mysql_async::Row> = conn.query("SELECT CONCAT('a','b')").await.unwrap();
    assert_eq!(result.len(), 1);
    assert_eq!(result[0].columns_ref()[0].name_str(), "CONCAT('a','b')");
    assert_eq!(
        rows(&mut conn, "SELECT CONCAT('a','b')").await,
        [[Some("ab".to_string())]]
    );
    let result: Vec<mysql_async::Row> = conn.query("SELECT 1").await.unwrap();
    assert_eq!(result[0].columns_ref()[0].name_str(), "1");

    let (code, state, _) = server_err(&mut conn, "SELEKT 1").await;
    assert_eq!((code, state.as_str()), (1064, "42000"));
    let (code, state, msg) =
        server_err(&mut conn, "BACKUP ALL EXTERNAL CATALOGS SNAPSHOT db.s TO r").await;
    assert_eq!((code, state.as_str()), (1235, "42000"), "{msg}");
    assert!(
        msg.to_ascii_uppercase().contains("BACKUP"),
        "the 1235 message should name the statement: {msg}"
    );
    let (code, state, msg) = server_err(&mut conn, "USE nosuchdb").await;
    assert_eq!((code, state.as_str()), (1049, "42000"), "{msg}");
    assert_select_1(&mut conn).await;

    // Binary protocol: COM_STMT_PREPARE / EXECUTE with parameters.
    let got: Vec<String> = conn
        .exec("SELECT CONCAT(?, 'x')", ("a",))
        .await
        .unwrap_or_else(|e| panic!("exec with a parameter: {e}"));
    assert_eq!(got, ["ax"]);
    let got: Vec<i64> = conn.exec("SELECT ? + 1", (41,)).await.unwrap();
    assert_eq!(got, [42]);
    let stmt = conn.prep("SELECT CONCAT(?, ?)").await.unwrap();
    for (a, b) in [("x", "y"), ("🦀", "é")] {
        let got: Option<String> = conn.exec_first(&stmt, (a, b)).await.unwrap();
        assert_eq!(got.as_deref(), Some(format!("{a}{b}").as_str()));
    }
    // Executing a statement after COM_STMT_CLOSE (an unknown statement id) is an error, and the
    // connection stays usable.
    conn.close(stmt.clone()).await.unwrap();
    match conn.exec::<mysql_async::Row, _, _>(&stmt, ("p", "q")).await {
        Err(mysql_async::Error::Server(e)) => {
            eprintln!(
                "EXECUTE after close: {} ({}) {}",
                e.code, e.state, e.message
            )
        }
        Ok(rows) => panic!("EXECUTE of a closed statement returned {} rows", rows.len()),
        Err(e) => panic!("EXECUTE of a closed statement: expected a server error, got {e}"),
    }
    assert_select_1(&mut conn).await;
    conn.disconnect().await.unwrap();

    // Reconnect.
    let mut conn = daemon.conn().await;
    assert_select_1(&mut conn).await;
    conn.disconnect().await.unwrap();
}

#[tokio::test]
async fn mysql_async_auth() {
    let daemon = TestDaemon::start_with(&["--root-password", PASSWORD], &[]);
    let mut conn = daemon.conn().await;
    assert_select_1(&mut conn).await;
    conn.disconnect().await.unwrap();
    for wrong in ["wrong", ""] {
        match mysql_async::Conn::new(daemon.opts_with_password(wrong)).await {
            Ok(_) => panic!("connected with password {wrong:?}"),
            Err(mysql_async::Error::Server(e)) => {
                assert_eq!((e.code, e.state.as_str()), (1045, "28000"), "{}", e.message)
            }
            Err(e) => panic!("password {wrong:?}: expected error 1045, got {e}"),
        }
    }
}

/// The root password can come from the environment too.
#[tokio::test]
async fn root_password_from_env() {
    let daemon = TestDaemon::start_with(&[], &[("BACKSTOP_ROOT_PASSWORD", PASSWORD)]);
    let mut conn = daemon.conn().await;
    assert_select_1(&mut conn).await;
    conn.disconnect().await.unwrap();
    match mysql_async::Conn::new(daemon.opts_with_password("")).await {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1045, "{}", e.message),
        Ok(_) => panic!("connected without the password from BACKSTOP_ROOT_PASSWORD"),
        Err(e) => panic!("expected error 1045, got {e}"),
    }
}

/// SIGTERM ends the daemon with exit code 0; a restart on the same data dir works.
#[tokio::test]
async fn sigterm_exits_cleanly_and_restart_works() {
    let mut daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    assert_select_1(&mut conn).await;
    // An open client connection must not keep the daemon from shutting down.
    let status = daemon.stop();
    assert!(status.success(), "exit status on SIGTERM: {status}");
    drop(conn);
    daemon.start_again();
    let mut conn = daemon.conn().await;
    assert_select_1(&mut conn).await;
    conn.disconnect().await.unwrap();
    let data_dir: &Path = daemon.data_dir();
    assert!(data_dir.is_dir(), "data dir {} missing", data_dir.display());
}

/// Listening on a non-loopback address without a root password is refused with exit code 2.
#[test]
fn non_loopback_without_password_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backstop"));
    cmd.arg("--data-dir")
        .arg(tmp.path().join("data"))
        .args(["--listen", "0.0.0.0:0"])
        .env_remove("BACKSTOP_ROOT_PASSWORD");
    let out = run_with_deadline(&mut cmd, "", Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(2), "{out}");
    assert!(!out.stderr.trim().is_empty(), "no message on stderr\n{out}");
    assert!(
        !out.stdout.contains("backstop listening on"),
        "it listened anyway\n{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// Session chatter answered like MySQL

#[tokio::test]
async fn show_variables_like_keeps_mysql_escapes() {
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    let names = |rows: Vec<Vec<Option<String>>>| -> Vec<String> {
        rows.into_iter().filter_map(|r| r[0].clone()).collect()
    };
    let r = common::rows(&mut conn, r"SHOW VARIABLES LIKE 'version\_comment'").await;
    assert_eq!(names(r), ["version_comment"]);
    let r = common::rows(&mut conn, r"SHOW VARIABLES LIKE 'tx\_%'").await;
    assert_eq!(names(r), ["tx_isolation", "tx_read_only"]);
    let r = common::rows(&mut conn, "SHOW VARIABLES LIKE 'VERSION'").await;
    assert_eq!(names(r), ["version"]);
    let r = common::rows(
        &mut conn,
        "SHOW VARIABLES WHERE Variable_name = 'autocommit'",
    )
    .await;
    assert_eq!(r, vec![vec![Some("autocommit".into()), Some("1".into())]]);
}

#[tokio::test]
async fn show_status_counts_live_connections() {
    let daemon = TestDaemon::start();
    let mut first = daemon.conn().await;
    let _second = daemon.conn().await;
    let r = common::rows(&mut first, "SHOW STATUS LIKE 'Threads_connected'").await;
    assert_eq!(
        r,
        vec![vec![Some("Threads_connected".into()), Some("2".into())]]
    );
}
