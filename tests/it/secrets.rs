//! Secrets never leak: one representative run — repositories with S3 keys on moto and s3s-fs
//! and on a local folder, users with passwords (created, altered, set, mistyped), a backup and a
//! restore on each repository, refused statements, failing statements, SHOW output of every
//! kind, a restart — and then every daemon log, every client output and every repository
//! object is searched for each secret key and password the run used. None may appear.
//!
//! The daemon logs at debug level here, so the statement log lines are searched too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::s3::{KeyPair, MotoServer, S3sFsServer, allow_policy, s3_properties as s3_props};
use common::{Outcome, TestDaemon, run_with_deadline, venv_python};

const CLIENT_DEADLINE: Duration = Duration::from_secs(120);
const ROOT_PW: &str = "Root-Secret-Pw-4711";
const ALICE_PW: &[&str] = &[
    "Alice-Secret-Pw-1",
    "Alice-Secret-Pw-2",
    "Alice-Secret-Pw-3",
];
const WRONG_PW: &str = "Wrong-Secret-Pw-0815";
const BAD_SECRET: &str = "Not-The-Real-Secret-Key-9999";

/// Every client output of the run.
#[derive(Default)]
struct Transcript(Vec<(String, String)>);

impl Transcript {
    fn add(&mut self, what: &str, text: String) {
        self.0.push((what.to_string(), text));
    }
}

fn cli(daemon: &TestDaemon, user: &str, password: &str, sql: &str) -> Outcome {
    let mut cmd = common::mysql_cli_as(daemon, user, password);
    // Statements come on stdin: in batch mode the CLI prints only what the server answers
    // (rows, and `ERROR <code> ... at line N: <message>`), except as noted in `run`.
    cmd.arg("--force");
    run_with_deadline(&mut cmd, sql, CLIENT_DEADLINE)
}

/// Runs `sql` (several statements) as `user` through the mysql CLI; keeps what the server
/// answered (result rows and error lines) in the transcript.
fn run(t: &mut Transcript, daemon: &TestDaemon, user: &str, password: &str, sql: &str) -> String {
    let out = cli(daemon, user, password, sql);
    // With --force the CLI echoes a failing statement (the text this test typed) between
    // dashed lines before the server's ERROR line; only the server's answer is searched.
    let mut stderr = String::new();
    let mut echo = false;
    for line in out.stderr.lines() {
        if line.starts_with("--------------") {
            echo = !echo;
        } else if !echo {
            stderr.push_str(line);
            stderr.push('\n');
        }
    }
    t.add(&format!("mysql CLI stdout as {user}"), out.stdout.clone());
    t.add(&format!("mysql CLI stderr as {user}"), stderr.clone());
    out.stdout + &stderr
}

/// [`run`] as root.
fn root(t: &mut Transcript, daemon: &TestDaemon, sql: &str) -> String {
    run(t, daemon, "root", ROOT_PW, sql)
}

/// Polls SHOW BACKUP/RESTORE FROM db until the job ends; returns the last answer.
fn wait_job(t: &mut Transcript, daemon: &TestDaemon, kind: &str, db: &str) -> String {
    let start = Instant::now();
    loop {
        let out = root(t, daemon, &format!("SHOW {kind} FROM {db}"));
        if out.contains("FINISHED") || out.contains("CANCELLED") {
            return out;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{kind} did not end: {out}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The newest timestamp of `label` in `repo`.
fn timestamp(t: &mut Transcript, daemon: &TestDaemon, repo: &str, label: &str) -> String {
    let out = root(
        t,
        daemon,
        &format!("SHOW SNAPSHOT ON {repo} WHERE SNAPSHOT = '{label}'"),
    );
    out.split(|c: char| c.is_whitespace())
        .rfind(|w| w.len() == 23 && w.starts_with("20"))
        .unwrap_or_else(|| panic!("no timestamp for {label} in {repo}: {out}"))
        .to_string()
}

/// Every object in a moto bucket, downloaded into `dir` (key line + body per file).
fn download_moto_bucket(moto: &MotoServer, bucket: &str, dir: &Path) -> usize {
    const PY: &str = r#"
import boto3, os, sys
ep, ak, sk, bucket, out = sys.argv[1:6]
s3 = boto3.client('s3', endpoint_url=ep, aws_access_key_id=ak, aws_secret_access_key=sk,
                  region_name='us-east-1')
n = 0
for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket):
    for o in page.get('Contents', []):
        body = s3.get_object(Bucket=bucket, Key=o['Key'])['Body'].read()
        open(os.path.join(out, str(n)), 'wb').write(o['Key'].encode() + b'\n' + body)
        n += 1
print(n)
"#;
    std::fs::create_dir_all(dir).unwrap();
    let admin = moto.admin();
    let mut cmd = Command::new(venv_python());
    cmd.args([
        "-c",
        PY,
        &moto.endpoint(),
        &admin.access_key,
        &admin.secret_key,
    ])
    .arg(bucket)
    .arg(dir)
    .env_remove("AWS_PROFILE")
    .env_remove("AWS_ACCESS_KEY_ID")
    .env_remove("AWS_SECRET_ACCESS_KEY")
    .env("AWS_CONFIG_FILE", "/dev/null")
    .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    let out = run_with_deadline(&mut cmd, "", CLIENT_DEADLINE);
    assert!(out.status.success(), "download from moto\n{out}");
    out.stdout.trim().parse().unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn no_secret_reaches_a_log_a_client_or_a_repository() {
    let moto = MotoServer::start();
    moto.create_bucket("secrets");
    let moto_key = moto.create_user("secret-writer", &allow_policy(&["s3:*"]));
    let s3s = S3sFsServer::start();
    s3s.create_bucket("secrets");
    let s3s_key = s3s.key().clone();
    let mut daemon = TestDaemon::start_with(
        &["--root-password", ROOT_PW],
        &[("RUST_LOG", "debug,aws=info,hyper=info,h2=info,rustls=info")],
    );
    let local = daemon.scratch_dir().join("local-repo");
    let mut t = Transcript::default();
    let bad_key = KeyPair {
        access_key: moto_key.access_key.clone(),
        secret_key: BAD_SECRET.to_string(),
        session_token: None,
    };

    // Repositories with keys; failing ones too (wrong secret, same name again, a typo).
    let out = root(&mut t, &daemon, &format!(
            "CREATE REPOSITORY moto_repo WITH BROKER ON LOCATION \"s3://secrets/moto\" {moto};
             CREATE REPOSITORY s3s_repo WITH BROKER ON LOCATION \"s3a://secrets/s3s\" {s3s};
             CREATE REPOSITORY local_repo ON LOCATION \"file://{local}\";
             CREATE REPOSITORY bad_repo ON LOCATION \"s3://secrets/bad\" {bad};
             CREATE REPOSITORY moto_repo ON LOCATION \"s3://secrets/moto\" {moto};
             CREATE REPOSITORY typo_repo ON LOCATION \"s3://secrets/t\" PROPERTIES (\"aws.s3.secret_key\" = {raw});
             CREATE REPOSITORY half_repo ON LOCATION \"s3://secrets/h\" PROPERTIES (\"aws.s3.secret_key\" = \"{raw}\");
             SHOW REPOSITORIES;",
            moto = s3_props(&moto.endpoint(), &moto_key),
            s3s = s3_props(&s3s.endpoint(), &s3s_key),
            bad = s3_props(&moto.endpoint(), &bad_key),
            local = local.display(),
            raw = moto_key.secret_key,
        ),
    );
    assert!(
        out.contains("moto_repo") && out.contains("s3s_repo"),
        "{out}"
    );
    assert!(out.contains("ERROR"), "the bad repositories fail: {out}");

    // Users with passwords: created, altered, set, mistyped, refused.
    root(
        &mut t,
        &daemon,
        &format!(
            "CREATE USER 'alice'@'%' IDENTIFIED BY '{a0}';
             CREATE USER 'alice'@'%' IDENTIFIED BY '{a0}';
             CREATE USER typo IDENTIFIED BY {a0};
             ALTER USER alice IDENTIFIED BY '{a1}';
             GRANT REPOSITORY ON SYSTEM TO USER alice;
             GRANT SELECT ON sec.* TO alice;
             SHOW USERS; SHOW ALL GRANTS; SHOW GRANTS FOR alice;",
            a0 = ALICE_PW[0],
            a1 = ALICE_PW[1],
        ),
    );
    run(
        &mut t,
        &daemon,
        "alice",
        ALICE_PW[1],
        &format!(
            "SET PASSWORD = PASSWORD('{}'); SHOW GRANTS; CREATE USER eve IDENTIFIED BY '{}';
             SHOW REPOSITORIES; SELECT USER(), CURRENT_USER();",
            ALICE_PW[2], WRONG_PW
        ),
    );
    let out = run(&mut t, &daemon, "alice", WRONG_PW, "SELECT 1");
    assert!(out.contains("ERROR 1045"), "{out}");
    let out = run(&mut t, &daemon, "root", WRONG_PW, "SELECT 1");
    assert!(out.contains("ERROR 1045"), "{out}");

    // Data, a backup to and a restore from each repository, and what SHOW tells about them.
    root(&mut t, &daemon, "CREATE DATABASE sec;
         CREATE TABLE sec.t (id INT, v VARCHAR(20)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2;
         INSERT INTO sec.t VALUES (1, 'one'), (2, 'two'), (3, 'three');",
    );
    for repo in ["moto_repo", "s3s_repo", "local_repo"] {
        let label = format!("snap_{repo}");
        root(
            &mut t,
            &daemon,
            &format!("BACKUP SNAPSHOT sec.{label} TO {repo} ON (t)"),
        );
        let out = wait_job(&mut t, &daemon, "BACKUP", "sec");
        assert!(out.contains("FINISHED"), "{repo}: {out}");
        let ts = timestamp(&mut t, &daemon, repo, &label);
        root(
            &mut t,
            &daemon,
            &format!(
                "RESTORE SNAPSHOT sec.{label} FROM {repo} ON (t AS t_{repo}) \
                 PROPERTIES (\"backup_timestamp\" = \"{ts}\");"
            ),
        );
        let out = wait_job(&mut t, &daemon, "RESTORE", "sec");
        assert!(out.contains("FINISHED"), "{repo}: {out}");
        root(&mut t, &daemon, &format!(
                "SHOW SNAPSHOT ON {repo}; SHOW SNAPSHOT ON {repo} WHERE SNAPSHOT = '{label}' AND TIMESTAMP = '{ts}';
                 SHOW BACKUP; SHOW RESTORE; SHOW CREATE TABLE sec.t_{repo}; CHECKSUM TABLE sec.t_{repo};
                 RESTORE SNAPSHOT sec.{label} FROM {repo} PROPERTIES (\"backup_timestamp\" = \"1999-01-01-00-00-00-000\");"
            ),
        );
    }
    // Refused and failing statements.
    run(
        &mut t,
        &daemon,
        "alice",
        ALICE_PW[2],
        "BACKUP SNAPSHOT sec.nope TO moto_repo ON (t); DROP REPOSITORY moto_repo;
         SHOW SNAPSHOT ON moto_repo; SELECT * FROM sec.t;",
    );
    root(
        &mut t,
        &daemon,
        "SHOW VARIABLES; SHOW DATABASES; SELECT * FROM information_schema.tables;
         BACKUP SNAPSHOT sec.x TO nowhere; DROP REPOSITORY bad_repo; DROP REPOSITORY s3s_repo;",
    );
    let status = daemon.stop();
    assert!(status.success(), "{status}");
    daemon.start_again();
    run(&mut t, &daemon, "alice", ALICE_PW[2], "SHOW REPOSITORIES");
    root(
        &mut t,
        &daemon,
        "SHOW REPOSITORIES; SHOW SNAPSHOT ON moto_repo",
    );
    daemon.stop();

    // Everything the run produced.
    let mut places: Vec<(String, String)> = t.0;
    for log in ["stderr.log", "stdout.log"] {
        let path = daemon.scratch_dir().join(log);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        places.push((path.display().to_string(), text));
    }
    let log = daemon.stderr_text();
    assert!(
        log.contains("query"),
        "the daemon logged statements at debug level"
    );
    let moto_dir = daemon.scratch_dir().join("moto-objects");
    let n = download_moto_bucket(&moto, "secrets", &moto_dir);
    assert!(n >= 3, "the moto repository has objects ({n})");
    for dir in [moto_dir.as_path(), s3s.data_dir(), local.as_path()] {
        let files = files_under(dir);
        assert!(!files.is_empty(), "no objects under {}", dir.display());
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            places.push((
                f.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }

    let mut secrets: Vec<&str> = vec![
        &moto_key.secret_key,
        &s3s_key.secret_key,
        moto.admin().secret_key.as_str(),
        BAD_SECRET,
        ROOT_PW,
        WRONG_PW,
    ];
    secrets.extend_from_slice(ALICE_PW);
    let mut leaks = Vec::new();
    for (place, text) in &places {
        for secret in &secrets {
            if text.contains(secret) {
                let at = text.find(secret).unwrap_or(0);
                let from = text.floor_char_boundary(at.saturating_sub(120));
                let to = text.ceil_char_boundary((at + secret.len() + 40).min(text.len()));
                leaks.push(format!("{place}: …{}…", &text[from..to]));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));

    // Users and grants never enter a repository either.
    for (place, text) in places
        .iter()
        .filter(|(p, _)| !p.starts_with("mysql CLI") && !p.ends_with(".log"))
    {
        for word in ["alice", "GRANT", "REPOSITORY ON SYSTEM"] {
            assert!(!text.contains(word), "{place} mentions {word}");
        }
    }

    // The data directory keeps passwords only as hashes (repository keys must stay there).
    for f in files_under(daemon.data_dir()) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        for pw in [ROOT_PW, WRONG_PW].iter().chain(ALICE_PW) {
            assert!(
                !text.contains(pw),
                "{} holds the password {pw}",
                f.display()
            );
        }
    }
}
