//! CREATE / SHOW / DROP REPOSITORY through real clients, against local folders and real
//! S3-compatible servers (s3s-fs, and moto with IAM and STS enforced), including the seed's
//! read-only IAM policy, the instance profile (a fake IMDSv2 on loopback) and an assumed role.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::time::{Duration, Instant};

use common::s3::{ImdsServer, MotoServer, S3sFsServer, allow_policy};
use common::{TestDaemon, exec, rows, server_err};

const BUCKET: &str = "bucket_s3";

/// The seed's IAM policy for a READ ONLY repository: only s3:GetObject and s3:ListBucket.
fn seed_read_only_policy() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}
        ],
    })
    .to_string()
}

fn s3_props(endpoint: &str, key: &common::s3::KeyPair) -> String {
    format!(
        "PROPERTIES (\"aws.s3.access_key\" = \"{}\", \"aws.s3.secret_key\" = \"{}\", \
         \"aws.s3.endpoint\" = \"{endpoint}\", \"aws.s3.enable_path_style_access\" = \"true\", \
         \"aws.s3.region\" = \"us-east-1\")",
        key.access_key, key.secret_key
    )
}

async fn expect_5064(conn: &mut mysql_async::Conn, sql: &str, needle: &str) -> String {
    let (code, state, msg) = server_err(conn, sql).await;
    assert_eq!((code, state.as_str()), (5064, "42000"), "{sql}: {msg}");
    assert!(
        msg.contains(needle),
        "{sql}: message {msg:?} should contain {needle:?}"
    );
    msg
}

#[tokio::test]
async fn file_repositories_persist_and_refuse_bad_input() {
    let mut daemon = TestDaemon::start();
    let folder = daemon.scratch_dir().join("repos");
    let mut conn = daemon.conn().await;
    exec(
        &mut conn,
        &format!(
            "CREATE REPOSITORY test_repo WITH BROKER ON LOCATION \"file://{}/\"",
            folder.display()
        ),
    )
    .await;
    assert!(folder.join("test_repo").join("repository.json").is_file());
    let shown = rows(&mut conn, "SHOW REPOSITORIES").await;
    assert_eq!(shown.len(), 1);
    let row = &shown[0];
    assert_eq!(row[1].as_deref(), Some("test_repo"));
    assert_eq!(row[3].as_deref(), Some("false"));
    assert_eq!(
        row[4].as_deref(),
        Some(format!("file://{}/", folder.display()).as_str())
    );
    assert_eq!(row[5].as_deref(), Some(""));
    assert_eq!(row[6], None);

    expect_5064(
        &mut conn,
        &format!(
            "CREATE REPOSITORY test_repo ON LOCATION \"file://{}\"",
            folder.display()
        ),
        "repository with same name already exist: test_repo",
    )
    .await;
    expect_5064(
        &mut conn,
        "CREATE REPOSITORY r2 ON LOCATION \"hdfs://namenode/backups\"",
        "s3a://bucket/prefix, s3://bucket/prefix or file:///absolute/path",
    )
    .await;
    expect_5064(
        &mut conn,
        "CREATE REPOSITORY r2 ON LOCATION \"\"",
        "You must specify a location",
    )
    .await;
    expect_5064(
        &mut conn,
        "CREATE REPOSITORY r2 ON LOCATION \"file://relative/x\"",
        "absolute path",
    )
    .await;
    expect_5064(
        &mut conn,
        &format!(
            "CREATE REPOSITORY r2 ON LOCATION \"file://{}\" PROPERTIES (\"aws.s3.region\" = \"x\")",
            folder.display()
        ),
        "Unknown repository property 'aws.s3.region'",
    )
    .await;
    expect_5064(
        &mut conn,
        &format!(
            "CREATE REPOSITORY r2 WITH BROKER hdfs_broker ON LOCATION \"file://{}\"",
            folder.display()
        ),
        "broker does not exist: hdfs_broker",
    )
    .await;
    expect_5064(
        &mut conn,
        "CREATE REPOSITORY `1bad` ON LOCATION \"file:///tmp/x\"",
        "Incorrect repository name '1bad'",
    )
    .await;
    expect_5064(
        &mut conn,
        "DROP REPOSITORY nope",
        "Repository does not exist",
    )
    .await;
    assert_eq!(
        rows(&mut conn, "SHOW REPOSITORIES").await.len(),
        1,
        "no failed CREATE is stored"
    );
    drop(conn);

    daemon.restart();
    let mut conn = daemon.conn().await;
    let shown = rows(&mut conn, "SHOW REPOSITORIES").await;
    assert_eq!(shown.len(), 1, "repositories survive a restart");
    assert_eq!(shown[0][1].as_deref(), Some("test_repo"));
    exec(&mut conn, "DROP REPOSITORY test_repo").await;
    assert!(rows(&mut conn, "SHOW REPOSITORIES").await.is_empty());
    assert!(
        folder.join("test_repo").join("repository.json").is_file(),
        "DROP REPOSITORY deletes nothing in storage"
    );
    // Created again, it adopts what is there.
    exec(
        &mut conn,
        &format!(
            "CREATE REPOSITORY test_repo ON LOCATION \"file://{}\"",
            folder.display()
        ),
    )
    .await;
}

#[tokio::test]
async fn s3_repository_on_s3s_fs_and_its_errors() {
    // s3s-fs follows S3's current naming rules: no '_' in bucket names.
    const BUCKET: &str = "bucket-s3";
    let s3 = S3sFsServer::start();
    s3.create_bucket(BUCKET);
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    let key = s3.key().clone();
    exec(
        &mut conn,
        &format!(
            "CREATE REPOSITORY test_repo WITH BROKER ON LOCATION \"s3a://{BUCKET}/backup\" {}",
            s3_props(&s3.endpoint(), &key)
        ),
    )
    .await;
    let shown = rows(&mut conn, "SHOW REPOSITORIES").await;
    assert_eq!(shown[0][4].as_deref(), Some("s3a://bucket-s3/backup"));
    let text = format!("{shown:?}");
    assert!(
        !text.contains(&key.secret_key),
        "SHOW REPOSITORIES leaks the secret: {text}"
    );

    // The same bucket and prefix written as s3:// is the same location: a second repository
    // name there is its own root, but the same name is refused as a duplicate.
    expect_5064(
        &mut conn,
        &format!(
            "CREATE REPOSITORY test_repo ON LOCATION \"s3://{BUCKET}/backup/\" {}",
            s3_props(&s3.endpoint(), &key)
        ),
        "already exist",
    )
    .await;

    let mut wrong = key.clone();
    wrong.secret_key = "definitely-not-the-secret".into();
    let msg = expect_5064(
        &mut conn,
        &format!(
            "CREATE REPOSITORY r_wrong ON LOCATION \"s3a://{BUCKET}/backup\" {}",
            s3_props(&s3.endpoint(), &wrong)
        ),
        "Failed to create repository",
    )
    .await;
    assert!(msg.contains("credentials"), "{msg}");
    assert!(!msg.contains(&wrong.secret_key), "{msg}");

    let msg = expect_5064(
        &mut conn,
        &format!(
            "CREATE REPOSITORY r_nobucket ON LOCATION \"s3a://no-such-bucket/backup\" {}",
            s3_props(&s3.endpoint(), &key)
        ),
        "Failed to create repository",
    )
    .await;
    assert!(msg.contains("no-such-bucket"), "{msg}");

    let started = Instant::now();
    let closed = format!("http://127.0.0.1:{}", common::s3::closed_port());
    let msg = expect_5064(
        &mut conn,
        &format!(
            "CREATE REPOSITORY r_down ON LOCATION \"s3a://{BUCKET}/backup\" {}",
            s3_props(&closed, &key)
        ),
        "Failed to create repository",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert!(msg.contains("reach"), "{msg}");

    expect_5064(
        &mut conn,
        &format!(
            "CREATE REPOSITORY r_partial ON LOCATION \"s3a://{BUCKET}/x\" PROPERTIES \
             (\"aws.s3.access_key\" = \"{}\", \"aws.s3.endpoint\" = \"{}\")",
            key.access_key,
            s3.endpoint()
        ),
        "aws.s3.secret_key",
    )
    .await;
    expect_5064(
        &mut conn,
        &format!(
            "CREATE REPOSITORY r_unknown ON LOCATION \"s3a://{BUCKET}/x\" PROPERTIES \
             (\"aws.s3.acces_key\" = \"AK\")"
        ),
        "aws.s3.acces_key",
    )
    .await;
    expect_5064(
        &mut conn,
        &format!(
            "CREATE REPOSITORY r_profile ON LOCATION \"s3a://{BUCKET}/x\" PROPERTIES \
             (\"aws.s3.use_instance_profile\" = \"true\")"
        ),
        "aws.s3.region",
    )
    .await;
    let names: Vec<_> = rows(&mut conn, "SHOW REPOSITORIES")
        .await
        .into_iter()
        .map(|r| r[1].clone().unwrap_or_default())
        .collect();
    assert_eq!(names, vec!["test_repo"], "failed CREATEs store nothing");
    let log = daemon.stderr_text();
    assert!(
        !log.contains(&key.secret_key),
        "the log holds the secret key"
    );
    assert!(
        !log.contains(&wrong.secret_key),
        "the log holds a secret key"
    );
}

/// The seed's IAM policy (s3:GetObject + s3:ListBucket) is enough for a READ ONLY repository;
/// a writable one under it is refused with a suggestion.
#[tokio::test]
async fn seed_read_only_policy_creates_read_only_repositories_only() {
    let moto = MotoServer::start();
    moto.create_bucket(BUCKET);
    let reader = moto.create_user("reader", &seed_read_only_policy());
    let writer = moto.create_user("writer", &allow_policy(&["s3:*"]));
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    // A writable repository first, so the location holds a repository.json to adopt.
    exec(
        &mut conn,
        &format!(
            "CREATE REPOSITORY source_repo ON LOCATION \"s3a://{BUCKET}/backup\" {}",
            s3_props(&moto.endpoint(), &writer)
        ),
    )
    .await;
    let msg = expect_5064(
        &mut conn,
        &format!(
            "CREATE REPOSITORY test_repo ON LOCATION \"s3a://{BUCKET}/backup\" {}",
            s3_props(&moto.endpoint(), &reader)
        ),
        "READ ONLY",
    )
    .await;
    assert!(!msg.contains(&reader.secret_key), "{msg}");
    exec(
        &mut conn,
        &format!(
            "CREATE READ ONLY REPOSITORY test_repo ON LOCATION \"s3a://{BUCKET}/backup\" {}",
            s3_props(&moto.endpoint(), &reader)
        ),
    )
    .await;
    let shown = rows(&mut conn, "SHOW REPOSITORIES").await;
    let ro: Vec<_> = shown
        .iter()
        .filter(|r| r[1].as_deref() == Some("test_repo"))
        .collect();
    assert_eq!(ro.len(), 1);
    assert_eq!(ro[0][3].as_deref(), Some("true"));
    assert!(
        rows(&mut conn, "SHOW SNAPSHOT ON test_repo")
            .await
            .is_empty(),
        "listing works with the read-only policy"
    );
}

/// `aws.s3.use_instance_profile`: the daemon gets its keys from IMDSv2 (a fake one on
/// loopback, handing out a role's credentials from moto's STS).
#[tokio::test]
async fn instance_profile_through_imds() {
    let moto = MotoServer::start();
    moto.create_bucket(BUCKET);
    let ec2 = moto.create_user("ec2", &allow_policy(&["sts:AssumeRole"]));
    let role = moto.create_role("instance-role", "ec2", None, &allow_policy(&["s3:*"]));
    let imds = ImdsServer::start(&moto.assume_role(&role, &ec2));
    let daemon = TestDaemon::start_with(
        &[],
        &[(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            imds.endpoint().as_str(),
        )],
    );
    let mut conn = daemon.conn().await;
    exec(
        &mut conn,
        &format!(
            "CREATE REPOSITORY test_repo WITH BROKER ON LOCATION \"s3a://{BUCKET}/backup\" \
             PROPERTIES (\"aws.s3.use_instance_profile\" = \"true\", \"aws.s3.region\" = \"us-west-2\", \
             \"aws.s3.endpoint\" = \"{}\", \"aws.s3.enable_path_style_access\" = \"true\")",
            moto.endpoint()
        ),
    )
    .await;
    assert!(
        imds.requests()
            .iter()
            .any(|r| r.starts_with("GET /latest/meta-data/iam/security-credentials/")),
        "{:?}",
        imds.requests()
    );
}

/// `aws.s3.iam_role_arn` + `aws.s3.external_id` on top of static keys: a real AssumeRole.
#[tokio::test]
async fn assumed_role_with_external_id() {
    let moto = MotoServer::start();
    moto.create_bucket(BUCKET);
    let base = moto.create_user("base", &allow_policy(&["sts:AssumeRole"]));
    let role = moto.create_role(
        "backup-role",
        "base",
        Some("ext-123"),
        &allow_policy(&["s3:*"]),
    );
    let daemon = TestDaemon::start();
    let mut conn = daemon.conn().await;
    let props = |ext: &str| {
        format!(
            "PROPERTIES (\"aws.s3.access_key\" = \"{}\", \"aws.s3.secret_key\" = \"{}\", \
             \"aws.s3.iam_role_arn\" = \"{role}\", \"aws.s3.external_id\" = \"{ext}\", \
             \"aws.s3.region\" = \"us-east-1\", \"aws.s3.endpoint\" = \"{}\", \
             \"aws.s3.enable_path_style_access\" = \"true\")",
            base.access_key,
            base.secret_key,
            moto.endpoint()
        )
    };
    expect_5064(
        &mut conn,
        &format!(
            "CREATE REPOSITORY r_bad ON LOCATION \"s3a://{BUCKET}/b\" {}",
            props("wrong")
        ),
        "Failed to create repository",
    )
    .await;
    exec(
        &mut conn,
        &format!(
            "CREATE REPOSITORY r_role ON LOCATION \"s3a://{BUCKET}/b\" {}",
            props("ext-123")
        ),
    )
    .await;
}

/// Every CREATE REPOSITORY error through the `mysql` CLI prints code, SQLSTATE and message;
/// SHOW REPOSITORIES after a restart.
#[tokio::test]
async fn mysql_cli_sees_repository_errors_and_restart() {
    let mysql = common::require_tool("mysql");
    let mut daemon = TestDaemon::start();
    let folder = daemon.scratch_dir().join("cli-repos");
    let run = |daemon: &TestDaemon, sql: &str| {
        let out = std::process::Command::new(&mysql)
            .args([
                "-h",
                "127.0.0.1",
                "-P",
                &daemon.port().to_string(),
                "-u",
                "root",
                "--batch",
                "-e",
                sql,
            ])
            .output()
            .expect("run mysql");
        (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (_, err) = run(
        &daemon,
        &format!(
            "CREATE REPOSITORY cli_repo WITH BROKER ON LOCATION 'file://{}'",
            folder.display()
        ),
    );
    assert!(err.is_empty(), "{err}");
    for (sql, needle) in [
        (
            "CREATE REPOSITORY cli_repo ON LOCATION 'file:///tmp'",
            "already exist",
        ),
        (
            "CREATE REPOSITORY r ON LOCATION 'oss://b/x'",
            "not supported",
        ),
        (
            "CREATE REPOSITORY r ON LOCATION 's3a://bkt/x' PROPERTIES ('aws.s3.secret_key' = 'sk')",
            "aws.s3.access_key",
        ),
        ("DROP REPOSITORY nope", "Repository does not exist"),
    ] {
        let (_, err) = run(&daemon, sql);
        let err = err
            .lines()
            .find(|l| l.starts_with("ERROR"))
            .unwrap_or_else(|| panic!("{sql}: no error line in {err}"))
            .to_string();
        assert!(err.starts_with("ERROR 5064 (42000)"), "{sql}: {err}");
        assert!(err.contains(needle), "{sql}: {err}");
        assert!(
            !err.contains("'sk'") && !err.contains(" sk"),
            "{sql}: the secret is echoed: {err}"
        );
    }
    daemon.restart();
    let (out, err) = run(&daemon, "SHOW REPOSITORIES");
    assert!(err.is_empty(), "{err}");
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("RepoId\tRepoName\tCreateTime\tIsReadOnly\tLocation\tBroker\tErrMsg")
    );
    let row: Vec<&str> = lines.next().expect("one repository").split('\t').collect();
    assert_eq!(row[1], "cli_repo");
    assert_eq!(row[6], "NULL");
}
