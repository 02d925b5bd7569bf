//! The SQL surface in `.slt` files (`tests/slt/*.slt`, the `sqllogictest` crate's format, as
//! DataFusion and Databend use it), run over the MySQL wire with `mysql_async` against a real
//! daemon. `tests/slt/README.md` explains the format, how results and errors are rendered, and
//! how to run or regenerate one file.
//!
//! Each file runs against a fresh daemon (its own data directory), so files can create the same
//! databases and users and never see each other's. One `#[tokio::test]` per file (`slt_<stem>`),
//! so `cargo nextest run slt_ddl` runs one file and nextest runs the files in parallel;
//! `slt_every_file_has_a_test` fails when a file in `tests/slt/` has no test here.

use crate::common;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::TestDaemon;
use mysql_async::consts::ColumnType as MysqlType;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, Value};
use sqllogictest::{
    AsyncDB, Connection, DBOutput, DefaultColumnType, Normalizer, Record, RecordOutput, Runner,
    default_normalizer, default_validator, update_record_with_output,
};

/// One test per `.slt` file: the test `slt_ddl` runs `tests/slt/ddl.slt`.
macro_rules! slt_files {
    ($($test:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                run_slt_file(stringify!($test).trim_start_matches("slt_")).await;
            }
        )*
        /// The file stems that have a test above.
        const SLT_FILES: &[&str] = &[$(stringify!($test)),*];
    };
}

slt_files!(
    slt_session,
    slt_ddl,
    slt_dml,
    slt_errors,
    slt_repository,
    slt_backup,
    slt_backup_errors,
    slt_users,
    slt_metadata,
    slt_functions,
    slt_keyed,
    slt_json,
    slt_views,
    slt_materialized,
    slt_partitions_batch,
    slt_tasks,
    slt_aggregate,
    slt_partitions_expression,
);

/// Set `SLT_COMPLETE=1` to rewrite each file's expected results and errors with the daemon's
/// answers (DataFusion's `--complete`); review the diff before committing it.
const COMPLETE_ENV: &str = "SLT_COMPLETE";

fn slt_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt")
}

#[test]
fn slt_every_file_has_a_test() {
    let mut stems: Vec<String> = std::fs::read_dir(slt_dir())
        .unwrap_or_else(|e| panic!("read {}: {e}", slt_dir().display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != "slt" {
                return None;
            }
            Some(path.file_stem()?.to_str()?.to_string())
        })
        .collect();
    stems.sort();
    let mut tested: Vec<String> = SLT_FILES
        .iter()
        .map(|t| t.trim_start_matches("slt_").to_string())
        .collect();
    tested.sort();
    assert_eq!(
        stems, tested,
        "every tests/slt/*.slt file needs a line in the slt_files! list of tests/it/slt.rs"
    );
}

/// An error as a `.slt` file matches it: the server's `ERROR <code> (<SQLSTATE>): <message>`,
/// the line the `mysql` CLI prints; anything else (I/O, protocol) is a client error.
#[derive(Debug)]
enum SltError {
    Server {
        code: u16,
        state: String,
        message: String,
    },
    Client(String),
}

impl fmt::Display for SltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SltError::Server {
                code,
                state,
                message,
            } => write!(f, "ERROR {code} ({state}): {message}"),
            SltError::Client(text) => write!(f, "client error: {text}"),
        }
    }
}

impl std::error::Error for SltError {}

impl From<mysql_async::Error> for SltError {
    fn from(e: mysql_async::Error) -> SltError {
        match e {
            mysql_async::Error::Server(e) => SltError::Server {
                code: e.code,
                state: e.state,
                message: e.message,
            },
            other => SltError::Client(other.to_string()),
        }
    }
}

/// One MySQL session on the daemon under test.
struct Session {
    conn: Option<Conn>,
}

#[async_trait::async_trait]
impl AsyncDB for Session {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| SltError::Client("the session is closed".into()))?;
        let mut result = conn.query_iter(sql).await?;
        // Several statements in one record (`a; b`): the last result set with columns wins.
        let mut last: Option<(Vec<DefaultColumnType>, Vec<Vec<String>>)> = None;
        let mut affected = result.affected_rows();
        loop {
            let columns = result.columns();
            let rows: Vec<Row> = result.collect().await?;
            match columns {
                Some(columns) if !columns.is_empty() => {
                    let types = columns.iter().map(|c| slt_type(c.column_type())).collect();
                    let rows = rows.iter().map(row_text).collect();
                    last = Some((types, rows));
                }
                _ => affected = result.affected_rows(),
            }
            if result.is_empty() {
                break;
            }
        }
        Ok(match last {
            Some((types, rows)) => DBOutput::Rows { types, rows },
            None => DBOutput::StatementComplete(affected),
        })
    }

    async fn shutdown(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.disconnect().await;
        }
    }

    fn engine_name(&self) -> &str {
        "backstop"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }

    fn error_sql_state(err: &SltError) -> Option<String> {
        match err {
            SltError::Server { state, .. } => Some(state.clone()),
            SltError::Client(_) => None,
        }
    }
}

/// The crate's column letters: `I` integers, `R` DECIMAL and floating point, `T` the rest.
fn slt_type(t: MysqlType) -> DefaultColumnType {
    use MysqlType::*;
    match t {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG | MYSQL_TYPE_YEAR => DefaultColumnType::Integer,
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE | MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => {
            DefaultColumnType::FloatingPoint
        }
        _ => DefaultColumnType::Text,
    }
}

/// A text-protocol row as the crate's conventions want it: NULL is `NULL`, the empty string
/// `(empty)` (sqllogictest-rs' MySQL engine and DataFusion do the same).
fn row_text(row: &Row) -> Vec<String> {
    (0..row.len())
        .map(|i| match row.as_ref(i) {
            None | Some(Value::NULL) => "NULL".to_string(),
            Some(Value::Bytes(b)) if b.is_empty() => "(empty)".to_string(),
            Some(Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(other) => other.as_sql(true).trim_matches('\'').to_string(),
        })
        .collect()
}

/// The crate's comparison, with each actual cell normalized first (runs of whitespace,
/// newlines included, as one space) also when the expected result has `<slt:ignore>` (the
/// crate compares raw cells then), so a multi-line value such as a JSON document is one line.
#[allow(clippy::ptr_arg)] // the crate's `Validator` signature
fn validator(normalizer: Normalizer, actual: &[Vec<String>], expected: &[String]) -> bool {
    let actual: Vec<Vec<String>> = actual
        .iter()
        .map(|row| row.iter().map(normalizer).collect())
        .collect();
    default_validator(normalizer, &actual, expected)
}

/// The crate's strict check (one letter per column, each the same), except that `?` in the
/// file accepts any type: for a column whose type is not the point of the record.
#[allow(clippy::ptr_arg)] // the crate's `ColumnTypeValidator` signature
fn column_validator(actual: &Vec<DefaultColumnType>, expected: &Vec<DefaultColumnType>) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| *e == DefaultColumnType::Any || a == e)
}

/// Logins for `connection <name>` records: `connection alice:pw` is a session of user `alice`
/// with password `pw`, `connection alice` one of `alice` without a password (`connection root`:
/// a second root session); records without one use the default root session.
fn login(daemon_opts: &OptsBuilder, name: Option<&str>) -> OptsBuilder {
    let Some(name) = name else {
        return daemon_opts.clone();
    };
    let (user, password) = name.split_once(':').unwrap_or((name, ""));
    daemon_opts
        .clone()
        .user(Some(user.to_string()))
        .pass(Some(password.to_string()))
}

fn connection_of(record: &Record<DefaultColumnType>) -> Option<Option<String>> {
    let connection = match record {
        Record::Statement { connection, .. }
        | Record::Query { connection, .. }
        | Record::Let { connection, .. } => connection,
        _ => return None,
    };
    Some(match connection {
        Connection::Default => None,
        Connection::Named(name) => Some(name.clone()),
    })
}

/// Runs `tests/slt/<stem>.slt` against a fresh daemon; a failing record fails the test with
/// the file, the line, the SQL and the difference. With `SLT_COMPLETE=1` it rewrites the file.
async fn run_slt_file(stem: &str) {
    let path = slt_dir().join(format!("{stem}.slt"));
    let records = sqllogictest::parse_file::<DefaultColumnType>(&path)
        .unwrap_or_else(|e| panic!("{}: cannot parse: {e}", path.display()));
    let daemon = TestDaemon::start();
    let daemon_opts = daemon.opts();
    // Which login the next new session uses: set before each record from its `connection`.
    let next_login: Arc<Mutex<Option<String>>> = Arc::default();
    let make = {
        let next_login = next_login.clone();
        move || {
            let name = next_login.lock().map(|n| n.clone()).unwrap_or_default();
            let opts = login(&daemon_opts, name.as_deref());
            async move {
                let conn = Conn::new(opts).await?;
                Ok::<_, SltError>(Session { conn: Some(conn) })
            }
        }
    };
    let mut runner = Runner::new(make);
    runner.with_validator(validator);
    runner.with_column_validator(column_validator);
    let complete = std::env::var_os(COMPLETE_ENV).is_some_and(|v| v == "1");
    let mut completed = String::new();
    for record in records {
        if let Some(name) = connection_of(&record)
            && let Ok(mut next) = next_login.lock()
        {
            *next = name;
        }
        if complete {
            // Cells as the comparison sees them (whitespace runs, newlines included, as one
            // space), so a multi-line value such as SHOW CREATE TABLE's stays one result line.
            let output = match runner.apply_record(record.clone()).await {
                RecordOutput::Query { types, rows, error } => RecordOutput::Query {
                    types,
                    rows: rows
                        .iter()
                        .map(|row| row.iter().map(default_normalizer).collect())
                        .collect(),
                    error,
                },
                other => other,
            };
            let updated = update_record_with_output(
                &record,
                &output,
                " ",
                validator,
                default_normalizer,
                column_validator,
            )
            .unwrap_or(record);
            completed.push_str(&format!("{updated}\n"));
            continue;
        }
        if let Record::Halt { .. } = record {
            break;
        }
        if let Err(e) = runner.run_async(record).await {
            runner.shutdown_async().await;
            panic!("{} failed:\n{}", path.display(), e.display(false));
        }
    }
    runner.shutdown_async().await;
    if complete {
        let text = format!("{}\n", completed.trim_end());
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        eprintln!("{COMPLETE_ENV}=1: rewrote {}", path.display());
    }
    drop(daemon);
}
