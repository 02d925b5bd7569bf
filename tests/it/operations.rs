//! Running backstop: `--version`, `--config` files, `--log-format json`, one log line per job
//! state, no secret in the logs, and the Prometheus endpoint of `--metrics-listen` scraped
//! during a real backup. Every test drives the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mysql_async::Conn;

use common::{TestDaemon, exec, rows, server_err};

const DEADLINE: Duration = Duration::from_secs(60);

fn backstop() -> Command {
    Command::new(env!("CARGO_BIN_EXE_backstop"))
}

async fn sample(conn: &mut Conn, repo_dir: &Path) {
    std::fs::create_dir_all(repo_dir).unwrap();
    for sql in [
        "CREATE DATABASE sr_hub".to_string(),
        "CREATE TABLE sr_hub.sr_member (sr_id INT NOT NULL, name STRING) DUPLICATE KEY(sr_id) \
         DISTRIBUTED BY HASH(sr_id) BUCKETS 2"
            .to_string(),
        "INSERT INTO sr_hub.sr_member VALUES (1, 'tom'), (2, 'johndoe'), (3, 'maruko'), (4, 'simo')"
            .to_string(),
        format!(
            "CREATE REPOSITORY repo ON LOCATION \"file://{}\"",
            repo_dir.display()
        ),
    ] {
        exec(conn, &sql).await;
    }
}

/// Polls SHOW `kind` FROM sr_hub until the job is done; returns its State.
async fn wait_done(conn: &mut Conn, kind: &str) -> String {
    let start = Instant::now();
    loop {
        let r = rows(conn, &format!("SHOW {kind} FROM sr_hub")).await;
        let state = r
            .first()
            .and_then(|row| row[if kind == "BACKUP" { 3 } else { 4 }].clone())
            .unwrap_or_default();
        if state == "FINISHED" || state == "CANCELLED" {
            return state;
        }
        assert!(start.elapsed() < DEADLINE, "{kind}: {r:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[test]
fn version_prints_the_crate_version() {
    let out = backstop().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("backstop {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_config_file_with_an_unknown_key_or_a_bad_value_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backstop.toml");
    for (text, expected) in [
        (
            "data-dir = \"/tmp/x\"\ncolour = \"blue\"\n",
            "unknown key 'colour'",
        ),
        ("max-connections = \"many\"\n", "max-connections"),
        ("log-format = \"xml\"\n", "xml"),
        ("[server]\nlisten = \"127.0.0.1:1\"\n", "key 'server'"),
        ("data-dir = \n", "is not valid TOML"),
    ] {
        std::fs::write(&path, text).unwrap();
        let out = backstop().arg("--config").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {stderr}");
        assert!(
            stderr.contains(expected) && stderr.contains(&path.display().to_string()),
            "{text:?}: {stderr}"
        );
    }
    let out = backstop()
        .args(["--config", "/nonexistent/backstop.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the config file"));
}

#[tokio::test]
async fn config_file_settings_apply_and_flags_win_over_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backstop.toml");
    // TestDaemon passes --data-dir and --listen 127.0.0.1:0 itself: they must win over these.
    std::fs::write(
        &path,
        "# backstop settings\n\
         data-dir = \"/nonexistent/never-used\"\n\
         listen = \"127.0.0.1:1\"\n\
         root-password = \"from-the-file\"\n\
         min_job_timeout = 5\n\
         max-connections = 64\n\
         query-memory-limit = \"256M\"\n\
         metrics-listen = \"127.0.0.1:0\"\n\
         log-format = \"json\"\n",
    )
    .unwrap();
    let daemon = TestDaemon::start_with(&["--config", path.to_str().unwrap()], &[]);
    // metrics-listen from the file: the endpoint is announced and answers.
    let (status, _) = http_get(&metrics_addr(&daemon), "/metrics");
    assert!(status.contains("200"), "{status}");
    let mut conn = Conn::new(daemon.opts_with_password("from-the-file"))
        .await
        .expect("the file's root password applies");
    // min-job-timeout = 5 from the file: a 5 s timeout is accepted, 4 s is not.
    sample(&mut conn, &daemon.scratch_dir().join("repo")).await;
    let (code, _, msg) = server_err(
        &mut conn,
        "BACKUP SNAPSHOT sr_hub.s TO repo PROPERTIES (\"timeout\" = \"4\")",
    )
    .await;
    assert_eq!(code, 5064);
    assert!(msg.contains("at least 5 s"), "{msg}");
    exec(
        &mut conn,
        "BACKUP SNAPSHOT sr_hub.s TO repo PROPERTIES (\"timeout\" = \"5\", \"sync\" = \"true\")",
    )
    .await;
    // log-format = "json" from the file: every stderr line is one JSON object.
    let log = log(&daemon);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(lines.iter().any(|l| l["message"] == "job state"), "{log}");
}

/// The sample data backed up as `nightly` (sync); the connection used.
async fn nightly_backup(daemon: &TestDaemon) -> Conn {
    let mut conn = daemon.conn().await;
    sample(&mut conn, &daemon.scratch_dir().join("repo")).await;
    exec(
        &mut conn,
        "BACKUP SNAPSHOT sr_hub.nightly TO repo PROPERTIES (\"sync\" = \"true\")",
    )
    .await;
    conn
}

/// Restores `nightly` at `ts` as `sr_hub.copy`, waiting for the job when `sync`.
async fn restore_copy(conn: &mut Conn, ts: &str, sync: bool) {
    exec(
        conn,
        &format!(
            "RESTORE SNAPSHOT sr_hub.nightly FROM repo ON (sr_member AS copy) \
             PROPERTIES (\"backup_timestamp\" = \"{ts}\", \"sync\" = \"{sync}\")"
        ),
    )
    .await;
}

/// The daemon's whole stderr.
fn log(daemon: &TestDaemon) -> String {
    std::fs::read_to_string(daemon.stderr_log()).unwrap()
}

/// The `job state` lines of the daemon's stderr, parsed.
fn job_lines(daemon: &TestDaemon) -> Vec<serde_json::Value> {
    log(daemon)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["message"] == "job state")
        .collect()
}

#[tokio::test]
async fn json_logs_have_one_line_per_job_state_and_no_secret() {
    let daemon = TestDaemon::start_with(
        &["--log-format", "json", "--root-password", "Root-Pw-0451"],
        &[("RUST_LOG", "info,backstop=debug")],
    );
    let mut conn = nightly_backup(&daemon).await;
    let lines = job_lines(&daemon);
    let states: Vec<&str> = lines.iter().map(|l| l["state"].as_str().unwrap()).collect();
    assert_eq!(
        states,
        [
            "PENDING",
            "SNAPSHOTING",
            "UPLOAD_SNAPSHOT",
            "UPLOADING",
            "SAVE_META",
            "UPLOAD_INFO",
            "FINISHED"
        ],
        "{lines:#?}"
    );
    for l in &lines {
        assert_eq!(l["db"], "sr_hub", "{l}");
        assert_eq!(l["label"], "nightly", "{l}");
        assert_eq!(l["kind"], "backup", "{l}");
        assert!(l["job"].as_u64().is_some(), "{l}");
        assert!(
            l["backup_timestamp"].as_str().unwrap().starts_with("20"),
            "{l}"
        );
        assert!(l["level"].is_string() && l["timestamp"].is_string(), "{l}");
    }
    let last = lines.last().unwrap();
    assert_eq!(last["status"], "[OK]");
    assert!(last["moved_bytes"].as_u64().unwrap() > 0, "{last}");
    assert_eq!(last["moved_objects"], last["objects_total"], "{last}");
    assert!(last["duration_ms"].as_u64().is_some(), "{last}");

    // A restore logs its own states the same way.
    let ts = last["backup_timestamp"].as_str().unwrap().to_string();
    restore_copy(&mut conn, &ts, true).await;
    let restore: Vec<String> = job_lines(&daemon)
        .iter()
        .filter(|l| l["kind"] == "restore")
        .map(|l| format!("{} {}", l["state"].as_str().unwrap(), l["label"]))
        .collect();
    assert_eq!(
        restore,
        [
            "PENDING",
            "SNAPSHOTING",
            "DOWNLOAD",
            "DOWNLOADING",
            "COMMIT",
            "COMMITTING",
            "FINISHED"
        ]
        .map(|s| format!("{s} \"nightly\"")),
        "{restore:?}"
    );

    // A repository with credentials (its storage is unreachable, so CREATE fails after the
    // statement was logged at debug level), and a user statement with a password.
    let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
    let token = "FwoGZXIvYXdzEXAMPLE-SESSION-TOKEN";
    server_err(
        &mut conn,
        &format!(
            "CREATE REPOSITORY s3repo ON LOCATION \"s3://bucket/path\" PROPERTIES (\
             \"aws.s3.access_key\" = \"AKIAEXAMPLE\", \"aws.s3.secret_key\" = \"{secret}\", \
             \"aws.s3.session_token\" = '{token}', \"aws.s3.endpoint\" = \"http://127.0.0.1:9\", \
             \"aws.s3.region\" = \"us-east-1\")"
        ),
    )
    .await;
    // CREATE USER runs now (issue 9); its password must not reach the log either way.
    exec(&mut conn, "CREATE USER u IDENTIFIED BY 'User-Pw-7781'").await;
    let log = log(&daemon);
    assert!(
        log.contains("CREATE REPOSITORY s3repo"),
        "the statement is logged at debug level: {log}"
    );
    for s in [secret, token, "Root-Pw-0451", "User-Pw-7781"] {
        assert!(!log.contains(s), "the secret {s} is in the log:\n{log}");
    }
}

#[tokio::test]
async fn text_logs_carry_the_same_fields() {
    let daemon = TestDaemon::start();
    nightly_backup(&daemon).await;
    let log = log(&daemon);
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("job state")).collect();
    assert_eq!(lines.len(), 7, "{log}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("db=sr_hub") && l.contains("label=nightly")),
        "{log}"
    );
    assert!(lines[6].contains("state=\"FINISHED\"") || lines[6].contains("state=FINISHED"));
}

/// The HOST:PORT of the metrics endpoint the daemon last announced on stdout (a restarted
/// daemon announces a new one).
pub(crate) fn metrics_addr(daemon: &TestDaemon) -> String {
    let stdout = std::fs::read_to_string(daemon.scratch_dir().join("stdout.log")).unwrap();
    stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("backstop metrics on http://"))
        .and_then(|l| l.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics line in stdout: {stdout}"))
        .to_string()
}

/// `GET path` over plain HTTP/1.1: (status line, body).
pub(crate) fn http_get(addr: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.lines().next().unwrap().to_string();
    if status.contains("200") {
        assert!(
            head.contains("Content-Type: text/plain; version=0.0.4"),
            "{head}"
        );
    }
    (status, body.to_string())
}

/// The value of the sample `series` (name with its labels, as printed) in a scrape.
pub(crate) fn sample_value(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .unwrap_or_else(|| panic!("no {series} in\n{body}"))
        .parse()
        .unwrap()
}

/// Waits for `file` to exist.
async fn wait_file(file: &Path) {
    let start = Instant::now();
    while !file.exists() {
        assert!(
            start.elapsed() < DEADLINE,
            "{} never appeared",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn metrics_are_scraped_during_a_backup() {
    let points = tempfile::tempdir().unwrap();
    let daemon = TestDaemon::start_with(
        &["--metrics-listen", "127.0.0.1:0"],
        &[
            ("BACKSTOP_FAILPOINTS", "backup.after_object_upload=pause"),
            ("BACKSTOP_FAILPOINT_DIR", points.path().to_str().unwrap()),
        ],
    );
    let addr = metrics_addr(&daemon);

    let mut conn = daemon.conn().await;
    let repo_dir = daemon.scratch_dir().join("repo");
    sample(&mut conn, &repo_dir).await;
    rows(&mut conn, "SELECT count(*) FROM sr_hub.sr_member").await;
    exec(&mut conn, "BACKUP SNAPSHOT sr_hub.nightly TO repo").await;
    wait_file(&points.path().join("backup.after_object_upload.reached")).await;

    // Mid-backup: the job is running and has moved at least one object.
    let (status, body) = http_get(&addr, "/metrics");
    assert!(status.contains("200"), "{status}");
    assert_eq!(
        sample_value(&body, "backstop_jobs_running{kind=\"backup\"}"),
        1.0
    );
    assert_eq!(
        sample_value(&body, "backstop_jobs_running{kind=\"restore\"}"),
        0.0
    );
    assert_eq!(
        sample_value(&body, "backstop_jobs{kind=\"backup\",state=\"UPLOADING\"}"),
        1.0
    );
    assert!(
        sample_value(
            &body,
            "backstop_job_bytes_transferred_total{kind=\"backup\"}"
        ) > 0.0
    );
    assert!(sample_value(&body, "backstop_connections") >= 1.0);
    assert_eq!(sample_value(&body, "backstop_loads_total"), 1.0);
    assert_eq!(sample_value(&body, "backstop_loaded_rows_total"), 4.0);
    assert!(sample_value(&body, "backstop_queries_total") >= 1.0);
    assert!(sample_value(&body, "backstop_statements_total") >= 5.0);
    assert_eq!(
        sample_value(&body, "backstop_jobs_submitted_total{kind=\"backup\"}"),
        1.0
    );

    std::fs::write(points.path().join("backup.after_object_upload.resume"), b"").unwrap();
    assert_eq!(wait_done(&mut conn, "BACKUP").await, "FINISHED");
    let (_, body) = http_get(&addr, "/metrics");
    assert_eq!(
        sample_value(&body, "backstop_jobs_running{kind=\"backup\"}"),
        0.0
    );
    assert_eq!(
        sample_value(
            &body,
            "backstop_jobs_ended_total{kind=\"backup\",state=\"FINISHED\"}"
        ),
        1.0
    );
    assert_eq!(
        sample_value(
            &body,
            "backstop_job_duration_seconds_count{kind=\"backup\",state=\"FINISHED\"}"
        ),
        1.0
    );
    assert_eq!(
        sample_value(
            &body,
            "backstop_job_duration_seconds_bucket{kind=\"backup\",state=\"FINISHED\",le=\"+Inf\"}"
        ),
        1.0
    );
    let objects = sample_value(
        &body,
        "backstop_job_objects_transferred_total{kind=\"backup\"}",
    );
    assert!(objects >= 1.0, "{body}");

    // A restore that finds an object missing: a storage error of kind not_found.
    let ts = rows(&mut conn, "SHOW SNAPSHOT ON repo").await[0][1]
        .clone()
        .unwrap();
    let objects_dir = repo_dir.join("repo/objects");
    let victim = std::fs::read_dir(&objects_dir)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(victim).unwrap();
    restore_copy(&mut conn, &ts, false).await;
    assert_eq!(wait_done(&mut conn, "RESTORE").await, "CANCELLED");
    let (_, body) = http_get(&addr, "/metrics");
    assert_eq!(
        sample_value(&body, "backstop_storage_errors_total{kind=\"not_found\"}"),
        1.0
    );
    assert_eq!(
        sample_value(
            &body,
            "backstop_jobs_ended_total{kind=\"restore\",state=\"CANCELLED\"}"
        ),
        1.0
    );
    assert_eq!(
        sample_value(&body, "backstop_jobs{kind=\"restore\",state=\"CANCELLED\"}"),
        1.0
    );
    // Only GET /metrics is served.
    assert!(http_get(&addr, "/").0.contains("404"));
}
