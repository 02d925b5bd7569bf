//! Real S3 servers for the object-store tests, each on a free 127.0.0.1 port and killed on Drop:
//!
//! - [`MotoServer`]: moto (from the test venv) with SigV4 and IAM policies enforced. Its first
//!   [`MOTO_FREE_REQUESTS`] requests create an admin user; every later setup request (users with
//!   inline policies, roles, buckets) is signed with the admin's key through boto3.
//! - [`S3sFsServer`]: s3s-fs with one fixed key pair and its own data folder.
//! - [`ImdsServer`]: a tiny IMDSv2 endpoint that hands out a given key pair as instance-profile
//!   credentials, for `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
//!
//! A missing tool fails the test with a message naming `scripts/install-test-deps`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{run_with_deadline, venv_python};

/// Names the test a child process (see [`run_child`]) is to run.
const CHILD_MARK: &str = "BACKSTOP_TEST_CHILD";

/// Runs test `name` (the test function's name) of this test binary again, alone, in a child
/// process with the environment variables `envs` added, and fails if the child's test fails.
/// For what a process reads once (`AWS_EC2_METADATA_SERVICE_ENDPOINT`, `BACKSTOP_FAILPOINTS`):
/// the parent never changes its own environment, so this works under `cargo test` threads as
/// under nextest. Variables named `BT_*` carry the parent's servers to the child (see
/// [`child_env`]).
pub fn run_child(name: &str, envs: &[(&str, String)]) {
    // The harness names a test by its module path in the test binary (`object_store::NAME`)
    // and runs it on a thread of that name: the child is asked for exactly that test.
    let path = std::thread::current()
        .name()
        .filter(|t| t.rsplit("::").next() == Some(name))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("run_child({name:?}) must be called on the test's own thread"));
    let exe = std::env::current_exe().expect("current test binary");
    let mut cmd = Command::new(&exe);
    cmd.args([path.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_MARK, name);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = run_with_deadline(&mut cmd, "", Duration::from_secs(120));
    assert!(
        out.status.success() && out.stdout.contains("1 passed"),
        "the child process of test {name} failed:\n{out}"
    );
}

/// In the child process of test `name` (see [`run_child`]): a getter of the `BT_<NAME>`
/// variables the parent passed. `None` in the parent.
pub fn child_env(name: &str) -> Option<impl Fn(&str) -> String> {
    if std::env::var(CHILD_MARK).ok().as_deref() != Some(name) {
        return None;
    }
    Some(|var: &str| {
        std::env::var(format!("BT_{var}")).unwrap_or_else(|_| panic!("BT_{var} is not set"))
    })
}

/// How long a server may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// Requests moto serves without checking signatures: the admin bootstrap below.
pub const MOTO_FREE_REQUESTS: u32 = 3;
/// moto's account id.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// An access key pair, with a session token when temporary (from STS).
#[derive(Debug, Clone, Default)]
pub struct KeyPair {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

/// A repository's `PROPERTIES (...)` for an S3-compatible server at `endpoint` with `key`:
/// path-style access, region us-west-2.
pub fn s3_properties(endpoint: &str, key: &KeyPair) -> String {
    format!(
        "PROPERTIES (\"aws.s3.access_key\" = \"{}\", \"aws.s3.secret_key\" = \"{}\", \
         \"aws.s3.endpoint\" = \"{endpoint}\", \"aws.s3.enable_path_style_access\" = \"true\", \
         \"aws.s3.region\" = \"us-west-2\")",
        key.access_key, key.secret_key
    )
}

/// A free TCP port on 127.0.0.1 (free when asked; a server binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// A port on which nothing listens (bound, then closed).
pub fn closed_port() -> u16 {
    free_port()
}

/// Starts a server with `spawn(port, log)` on a free port, waiting until it listens. Ours is
/// listening when its log names `http://127.0.0.1:<port>` (moto and s3s-fs both print that once
/// bound) and the port accepts connections; a server that exits first (say the port was taken
/// meanwhile) is started again on another port, up to three times.
fn start_listening(
    what: &str,
    log: &Path,
    mut spawn: impl FnMut(u16, std::fs::File) -> Child,
) -> (Child, u16) {
    const TRIES: u32 = 3;
    for attempt in 1..=TRIES {
        let port = free_port();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open server log");
        let mut child = spawn(port, file);
        let announced = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if std::fs::read_to_string(log).is_ok_and(|l| l.contains(&announced))
                && TcpStream::connect(("127.0.0.1", port)).is_ok()
            {
                return (child, port);
            }
            if let Ok(Some(status)) = child.try_wait() {
                assert!(
                    attempt < TRIES,
                    "{what} exited ({status}) before listening on port {port}; its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
                eprintln!("{what} exited ({status}) on port {port}; trying another port");
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{what} did not listen on port {port} within {START_DEADLINE:?}; its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    unreachable!("the last try panics")
}

/// The folder scripts/install-test-deps installs tools in: s3s-fs (`cargo install --root`)
/// and node's modules (env `BACKSTOP_TOOLS` or `~/.cache/backstop-tools`).
pub fn tools_dir() -> PathBuf {
    match std::env::var_os("BACKSTOP_TOOLS") {
        Some(v) => PathBuf::from(v),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/backstop-tools"),
    }
}

/// The boto3 side of [`MotoServer`]: one JSON request on stdin, one JSON answer on stdout.
const MOTO_ADMIN_PY: &str = r#"
import json, sys, boto3
from botocore.config import Config
req = json.load(sys.stdin)
kw = dict(endpoint_url=req["endpoint"], region_name="us-east-1",
          config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))
if req.get("key"):
    kw.update(aws_access_key_id=req["key"]["access_key"], aws_secret_access_key=req["key"]["secret_key"])
else:
    kw.update(aws_access_key_id="AKIDBOOTSTRAP", aws_secret_access_key="bootstrap")
iam = boto3.client("iam", **kw)
s3 = boto3.client("s3", **kw)
op = req["op"]
out = {}
if op == "user":
    # One request each: create_user, create_access_key, put_user_policy.
    iam.create_user(UserName=req["name"])
    k = iam.create_access_key(UserName=req["name"])["AccessKey"]
    iam.put_user_policy(UserName=req["name"], PolicyName="inline", PolicyDocument=req["policy"])
    out = {"access_key": k["AccessKeyId"], "secret_key": k["SecretAccessKey"],
           "arn": "arn:aws:iam::%s:user/%s" % (req["account"], req["name"])}
elif op == "role":
    r = iam.create_role(RoleName=req["name"], AssumeRolePolicyDocument=req["trust"])["Role"]
    iam.put_role_policy(RoleName=req["name"], PolicyName="inline", PolicyDocument=req["policy"])
    out = {"arn": r["Arn"]}
elif op == "bucket":
    s3.create_bucket(Bucket=req["name"])
elif op == "uploads":
    out = {"count": len(s3.list_multipart_uploads(Bucket=req["name"]).get("Uploads", []))}
elif op == "assume":
    c = boto3.client("sts", **kw).assume_role(RoleArn=req["role"], RoleSessionName="imds")["Credentials"]
    out = {"access_key": c["AccessKeyId"], "secret_key": c["SecretAccessKey"],
           "session_token": c["SessionToken"]}
else:
    raise SystemExit("unknown op " + op)
json.dump(out, sys.stdout)
"#;

/// A policy document allowing `actions` on every resource.
pub fn allow_policy(actions: &[&str]) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    })
    .to_string()
}

/// A moto server with authentication enforced after its bootstrap requests.
pub struct MotoServer {
    child: Child,
    port: u16,
    admin: KeyPair,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl MotoServer {
    /// Starts moto and creates the admin user (the only unauthenticated requests).
    pub fn start() -> MotoServer {
        let python = venv_python();
        let moto = python.with_file_name("moto_server");
        assert!(
            moto.is_file(),
            "{} is missing: run scripts/install-test-deps",
            moto.display()
        );
        let tmp = tempfile::Builder::new()
            .prefix("backstop-moto-")
            .tempdir()
            .expect("temp dir");
        let log = tmp.path().join("moto.log");
        let (child, port) = start_listening("moto_server", &log, |port, file| {
            Command::new(&moto)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env(
                    "INITIAL_NO_AUTH_ACTION_COUNT",
                    MOTO_FREE_REQUESTS.to_string(),
                )
                .stdin(Stdio::null())
                .stdout(Stdio::from(file.try_clone().expect("clone log")))
                .stderr(Stdio::from(file))
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", moto.display()))
        });
        let mut server = MotoServer {
            child,
            port,
            admin: KeyPair::default(),
            log,
            _tmp: tmp,
        };
        // Exactly MOTO_FREE_REQUESTS requests, unsigned as far as moto cares.
        let admin = server.admin_call(
            serde_json::json!({
                "op": "user", "name": "backstop-admin", "policy": allow_policy(&["*"]),
            }),
            false,
        );
        server.admin = key_pair(&admin);
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The admin user's key (every action allowed).
    pub fn admin(&self) -> &KeyPair {
        &self.admin
    }

    fn admin_call(&self, req: serde_json::Value, signed: bool) -> serde_json::Value {
        self.call_as(req, signed.then_some(&self.admin))
    }

    /// Runs one boto3 request, signed with `key` (unsigned for moto's free requests).
    fn call_as(&self, mut req: serde_json::Value, key: Option<&KeyPair>) -> serde_json::Value {
        req["endpoint"] = self.endpoint().into();
        req["account"] = MOTO_ACCOUNT.into();
        if let Some(key) = key {
            req["key"] = serde_json::json!({
                "access_key": key.access_key, "secret_key": key.secret_key,
            });
        }
        let mut cmd = Command::new(venv_python());
        cmd.args(["-c", MOTO_ADMIN_PY])
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
        let out = run_with_deadline(&mut cmd, &req.to_string(), Duration::from_secs(60));
        assert!(
            out.status.success(),
            "moto setup {req} failed (is boto3 installed? run scripts/install-test-deps):\n{out}\n\
             moto log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("moto setup answer {:?}: {e}", out.stdout))
    }

    /// Creates IAM user `name` with the inline policy `policy` (JSON) and returns its key pair.
    pub fn create_user(&self, name: &str, policy: &str) -> KeyPair {
        key_pair(&self.admin_call(
            serde_json::json!({"op": "user", "name": name, "policy": policy}),
            true,
        ))
    }

    /// The ARN of IAM user `name`.
    pub fn user_arn(name: &str) -> String {
        format!("arn:aws:iam::{MOTO_ACCOUNT}:user/{name}")
    }

    /// Creates role `name` that user `trusted_user` may assume (with `external_id` when given)
    /// and that has the inline policy `policy`; returns the role's ARN. moto honours a trust
    /// policy only when it names the user's ARN (not the account root).
    pub fn create_role(
        &self,
        name: &str,
        trusted_user: &str,
        external_id: Option<&str>,
        policy: &str,
    ) -> String {
        let mut statement = serde_json::json!({
            "Effect": "Allow",
            "Principal": {"AWS": Self::user_arn(trusted_user)},
            "Action": "sts:AssumeRole",
        });
        if let Some(id) = external_id {
            statement["Condition"] = serde_json::json!({"StringEquals": {"sts:ExternalId": id}});
        }
        let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [statement]});
        let out = self.admin_call(
            serde_json::json!({
                "op": "role", "name": name, "trust": trust.to_string(), "policy": policy,
            }),
            true,
        );
        out["arn"].as_str().expect("role arn").to_string()
    }

    pub fn create_bucket(&self, name: &str) {
        self.admin_call(serde_json::json!({"op": "bucket", "name": name}), true);
    }

    /// How many multipart uploads are in progress in `bucket`.
    pub fn multipart_uploads(&self, bucket: &str) -> u64 {
        let out = self.admin_call(serde_json::json!({"op": "uploads", "name": bucket}), true);
        out["count"].as_u64().expect("count")
    }

    /// Temporary credentials of role `role_arn`, assumed by the user whose key is `user`
    /// (what EC2 hands an instance through IMDS).
    pub fn assume_role(&self, role_arn: &str, user: &KeyPair) -> KeyPair {
        let out = self.call_as(
            serde_json::json!({"op": "assume", "role": role_arn}),
            Some(user),
        );
        let mut key = key_pair(&out);
        key.session_token = Some(out["session_token"].as_str().expect("token").to_string());
        key
    }

    /// moto's log so far, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log_text();
            let tail = log.get(log.len().saturating_sub(8000)..).unwrap_or(&log);
            eprintln!("--- moto log (tail) ---\n{tail}");
        }
    }
}

fn key_pair(v: &serde_json::Value) -> KeyPair {
    KeyPair {
        access_key: v["access_key"].as_str().expect("access_key").to_string(),
        secret_key: v["secret_key"].as_str().expect("secret_key").to_string(),
        session_token: None,
    }
}

/// An s3s-fs server with one key pair ([`S3sFsServer::key`]) and its own data folder.
pub struct S3sFsServer {
    child: Child,
    port: u16,
    key: KeyPair,
    data: PathBuf,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl S3sFsServer {
    pub fn start() -> S3sFsServer {
        let bin = tools_dir().join("bin/s3s-fs");
        assert!(
            bin.is_file(),
            "{} is missing: run scripts/install-test-deps (or set BACKSTOP_TOOLS)",
            bin.display()
        );
        let tmp = tempfile::Builder::new()
            .prefix("backstop-s3s-")
            .tempdir()
            .expect("temp dir");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(&data).expect("create s3s-fs data dir");
        let key = KeyPair {
            access_key: "AKIDBACKSTOPTEST".to_string(),
            secret_key: "s3s-fs-secret-for-backstop-tests".to_string(),
            session_token: None,
        };
        let log = tmp.path().join("s3s-fs.log");
        let (child, port) = start_listening("s3s-fs", &log, |port, file| {
            Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args([
                    "--access-key",
                    &key.access_key,
                    "--secret-key",
                    &key.secret_key,
                ])
                .arg(&data)
                // At info it logs "server is running at http://…" once bound.
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::from(file.try_clone().expect("clone log")))
                .stderr(Stdio::from(file))
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()))
        });
        S3sFsServer {
            child,
            port,
            key,
            data,
            log,
            _tmp: tmp,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn key(&self) -> &KeyPair {
        &self.key
    }

    /// Where the objects are: `<data>/<bucket>/<key>` (plus s3s-fs' hidden metadata files).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data
    }

    /// A bucket is a folder under the data folder.
    pub fn create_bucket(&self, name: &str) {
        std::fs::create_dir_all(self.data.join(name)).expect("create bucket folder");
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for S3sFsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log_text();
            let tail = log.get(log.len().saturating_sub(8000)..).unwrap_or(&log);
            eprintln!("--- s3s-fs log (tail) ---\n{tail}");
        }
    }
}

/// A minimal IMDSv2 endpoint on 127.0.0.1 (what aws-config 1.13's `ImdsCredentialsProvider`
/// asks): `PUT /latest/api/token` hands out a token (with its TTL header), and with that token
/// `GET /latest/meta-data/iam/security-credentials/` names the role and
/// `GET /latest/meta-data/iam/security-credentials/<role>` returns the key pair as temporary
/// credentials. Anything else is 404; a GET without the token is 401.
pub struct ImdsServer {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

pub const IMDS_ROLE: &str = "backstop-instance-role";
const IMDS_TOKEN: &str = "imds-test-token-0123456789";

impl ImdsServer {
    /// Serves `key` as the instance profile's credentials. It should be temporary (a session
    /// token, as from [`MotoServer::assume_role`]): clients always send IMDS's token, and moto
    /// refuses a long-term key that comes with one.
    pub fn start(key: &KeyPair) -> ImdsServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind IMDS");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let key = key.clone();
        let thread = {
            let stop = stop.clone();
            let requests = requests.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let key = key.clone();
                    let requests = requests.clone();
                    std::thread::spawn(move || {
                        let _ = serve_imds(conn, &key, &requests);
                    });
                }
            })
        };
        ImdsServer {
            port,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far as `METHOD path`.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for ImdsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves requests on one connection until the client closes it.
fn serve_imds(
    conn: TcpStream,
    key: &KeyPair,
    requests: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut token = None;
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                match name.trim().to_ascii_lowercase().as_str() {
                    "x-aws-ec2-metadata-token" => token = Some(value.to_string()),
                    "content-length" => length = value.parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        requests.lock().unwrap().push(format!("{method} {path}"));

        let creds_path = "/latest/meta-data/iam/security-credentials/";
        let (status, headers, body): (&str, Vec<(&str, String)>, String) =
            if method == "PUT" && path == "/latest/api/token" {
                (
                    "200 OK",
                    vec![("x-aws-ec2-metadata-token-ttl-seconds", "21600".to_string())],
                    IMDS_TOKEN.to_string(),
                )
            } else if method != "GET" {
                ("405 Method Not Allowed", vec![], String::new())
            } else if token.as_deref() != Some(IMDS_TOKEN) {
                ("401 Unauthorized", vec![], String::new())
            } else if path == creds_path {
                ("200 OK", vec![], IMDS_ROLE.to_string())
            } else if path == format!("{creds_path}{IMDS_ROLE}") {
                let now = chrono::Utc::now();
                let expires = now + chrono::Duration::hours(6);
                let json = serde_json::json!({
                    "Code": "Success",
                    "LastUpdated": now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    "Type": "AWS-HMAC",
                    "AccessKeyId": key.access_key,
                    "SecretAccessKey": key.secret_key,
                    "Token": key.session_token.as_deref().unwrap_or("imds-session-token"),
                    "Expiration": expires.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                });
                ("200 OK", vec![], json.to_string())
            } else {
                ("404 Not Found", vec![], String::new())
            };
        let mut response = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n",
            body.len()
        );
        for (name, value) in headers {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(&body);
        out.write_all(response.as_bytes())?;
        out.flush()?;
    }
}
