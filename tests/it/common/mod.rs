//! Shared helpers for the integration tests: a real `backstop` process on a free 127.0.0.1 port
//! ([`TestDaemon`]), Rust-client helpers on top of `mysql_async`, a raw MySQL-protocol connection
//! for byte-level tests ([`raw::RawConn`]), and the locations of the external client tools.
//!
//! A missing tool fails the test with a message naming `scripts/install-test-deps`; nothing here
//! ever skips a test.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Value};

/// How long the daemon may take to print its `backstop listening on` line.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long `stop()` waits after SIGTERM before it sends SIGKILL.
const STOP_DEADLINE: Duration = Duration::from_secs(10);
const LISTENING_PREFIX: &str = "backstop listening on ";

/// A `backstop` process serving on a free 127.0.0.1 port with its own temporary data directory.
///
/// Stdout is read until the `backstop listening on` line (later stdout lines are kept in
/// `stdout.log`); stderr goes to `stderr.log` in the temp dir. Dropping it stops the daemon
/// (SIGTERM, then SIGKILL after 10 s) and, if the test is panicking, prints the daemon's stderr,
/// so assertion messages need not include it.
pub struct TestDaemon {
    child: Option<Child>,
    stdout_drain: Option<JoinHandle<()>>,
    addr: SocketAddr,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    password: String,
    data_dir: PathBuf,
    /// The process's limit of open files (soft and hard), when the test sets one.
    open_files_limit: Option<u64>,
    // Last field: removed after the process is gone.
    tmp: tempfile::TempDir,
}

impl TestDaemon {
    /// Starts a daemon with no extra flags (root password empty).
    pub fn start() -> TestDaemon {
        TestDaemon::start_with(&[], &[])
    }

    /// Starts a daemon with extra command-line `args` and environment `envs`.
    /// `--data-dir` and `--listen 127.0.0.1:0` are always passed (before `args`), and
    /// `--compaction-interval 0` unless `args` sets it: the background merging of small rowset
    /// files would otherwise change the file counts tests assert (compaction's own tests, and
    /// the kill loop, turn it on).
    pub fn start_with(args: &[&str], envs: &[(&str, &str)]) -> TestDaemon {
        let mut daemon = TestDaemon::unstarted(args, envs);
        daemon.spawn();
        daemon
    }

    /// Starts a daemon whose process may open at most `limit` files (soft and hard limit, set
    /// by util-linux's `prlimit` before it runs the daemon).
    pub fn start_with_open_files_limit(limit: u64) -> TestDaemon {
        let mut daemon = TestDaemon::unstarted(&[], &[]);
        daemon.open_files_limit = Some(limit);
        daemon.spawn();
        daemon
    }

    fn unstarted(args: &[&str], envs: &[(&str, &str)]) -> TestDaemon {
        let tmp = tempfile::Builder::new()
            .prefix("backstop-test-")
            .tempdir()
            .expect("create temp dir");
        let data_dir = tmp.path().join("data");
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if !args.iter().any(|a| a.starts_with("--compaction-interval")) {
            args.splice(0..0, ["--compaction-interval".to_string(), "0".to_string()]);
        }
        let envs: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let password = password_from(&args, &envs);
        TestDaemon {
            child: None,
            stdout_drain: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            args,
            envs,
            password,
            data_dir,
            open_files_limit: None,
            tmp,
        }
    }

    fn spawn(&mut self) {
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_log())
            .expect("open stderr log");
        let mut cmd = match self.open_files_limit {
            None => Command::new(env!("CARGO_BIN_EXE_backstop")),
            Some(n) => {
                let mut cmd = Command::new(require_tool("prlimit"));
                cmd.arg(format!("--nofile={n}:{n}"))
                    .arg(env!("CARGO_BIN_EXE_backstop"));
                cmd
            }
        };
        cmd.arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(&self.args)
            .env_remove("BACKSTOP_ROOT_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", env!("CARGO_BIN_EXE_backstop")));

        // A thread reads stdout: it hands every line to us until we have seen the listening
        // line, then keeps draining into stdout.log so the daemon never blocks on a full pipe.
        let stdout = child.stdout.take().expect("piped stdout");
        let stdout_log = self.tmp.path().join("stdout.log");
        let (tx, rx) = mpsc::channel::<String>();
        let drain = std::thread::spawn(move || {
            let mut log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(stdout_log)
                .ok();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(log) = log.as_mut() {
                    use std::io::Write;
                    let _ = writeln!(log, "{line}");
                }
                let _ = tx.send(line);
            }
        });

        let deadline = Instant::now() + START_DEADLINE;
        let mut seen = Vec::new();
        let addr = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(LISTENING_PREFIX) {
                        match rest.trim().parse::<SocketAddr>() {
                            Ok(addr) => break addr,
                            Err(e) => {
                                let _ = child.kill();
                                let _ = child.wait();
                                panic!("cannot parse the address in stdout line {line:?}: {e}");
                            }
                        }
                    }
                    seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Stdout closed: the process is exiting; wait for it briefly for the status.
                    let status = wait_deadline(&mut child, Duration::from_secs(10));
                    panic!(
                        "backstop exited ({status:?}) before printing `{LISTENING_PREFIX}…`\n\
                         stdout: {seen:?}"
                    );
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "backstop exited ({status}) before printing `{LISTENING_PREFIX}…`\n\
                     stdout: {seen:?}"
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "backstop did not print `{LISTENING_PREFIX}…` within {START_DEADLINE:?}\n\
                     stdout: {seen:?}"
                );
            }
        };
        self.addr = addr;
        self.child = Some(child);
        self.stdout_drain = Some(drain);
        // From here on Drop stops the process.
        assert!(
            addr.ip().is_loopback() && addr.port() != 0,
            "daemon announced {addr}, expected 127.0.0.1 with a real port"
        );
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon is running").id()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The root password this daemon was started with (empty by default).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// A scratch directory that lives as long as the daemon (for odbc.ini, class files, …).
    pub fn scratch_dir(&self) -> &Path {
        self.tmp.path()
    }

    /// `mysql://root[:PW]@127.0.0.1:PORT`
    pub fn url(&self) -> String {
        if self.password.is_empty() {
            format!("mysql://root@{}", self.addr)
        } else {
            format!("mysql://root:{}@{}", self.password, self.addr)
        }
    }

    pub fn stderr_log(&self) -> PathBuf {
        self.tmp.path().join("stderr.log")
    }

    /// The daemon's stderr so far (the last 64 KiB of it).
    pub fn stderr_text(&self) -> String {
        tail_of_file(&self.stderr_log(), 64 * 1024)
    }

    /// True while the process has not exited.
    pub fn is_alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Panics (with the daemon's stderr) when the process has exited.
    pub fn assert_alive(&mut self, context: &str) {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!("backstop died ({status}) {context}");
        }
        assert!(self.child.is_some(), "backstop is not running ({context})");
    }

    /// VmRSS of the daemon in KiB, from /proc/PID/status.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmRSS:")
    }

    /// VmHWM (peak RSS) of the daemon in KiB, from /proc/PID/status.
    pub fn hwm_kib(&self) -> u64 {
        proc_status_kib(self.pid(), "VmHWM:")
    }

    /// Sends SIGTERM, waits up to 10 s, then SIGKILL; returns the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("daemon is running");
        let status = match child.try_wait() {
            Ok(Some(status)) => status,
            _ => {
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                match wait_deadline(&mut child, STOP_DEADLINE) {
                    Some(status) => status,
                    None => {
                        eprintln!(
                            "backstop did not exit within {STOP_DEADLINE:?} of SIGTERM; killing it"
                        );
                        let _ = child.kill();
                        child.wait().expect("wait for killed daemon")
                    }
                }
            }
        };
        if let Some(drain) = self.stdout_drain.take() {
            let _ = drain.join();
        }
        status
    }

    /// Stops the daemon (asserting a clean exit) and starts it again on the same data dir.
    /// The port changes.
    pub fn restart(&mut self) {
        let status = self.stop();
        assert!(status.success(), "backstop exited with {status} on SIGTERM");
        self.spawn();
    }

    /// Kills the daemon with SIGKILL (a crash: nothing gets to clean up) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(drain) = self.stdout_drain.take() {
            let _ = drain.join();
        }
    }

    /// Sets (or with `None` removes) an environment variable for the next start.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.envs.retain(|(k, _)| k != key);
        if let Some(v) = value {
            self.envs.push((key.to_string(), v.to_string()));
        }
    }

    /// Starts the daemon again (same arguments and data dir) after `stop()`. The port changes.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "backstop is still running");
        self.spawn();
    }

    /// Connection options for `mysql_async` (user root, this daemon's password).
    pub fn opts(&self) -> OptsBuilder {
        self.opts_with_password(&self.password)
    }

    pub fn opts_with_password(&self, password: &str) -> OptsBuilder {
        OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port())
            .user(Some("root"))
            .pass(Some(password))
            .prefer_socket(false)
    }

    /// The `mysql` CLI in batch mode, connected to this daemon as root (no password).
    pub fn mysql_batch_command(&self) -> Command {
        let mut cmd = Command::new(require_tool("mysql"));
        cmd.arg("--no-defaults")
            .arg("-h127.0.0.1")
            .arg(format!("-P{}", self.port()))
            .arg("-uroot")
            .args(["--batch", "--connect-timeout=20"]);
        cmd
    }

    /// A new `mysql_async` connection (panics with the daemon's stderr on failure).
    pub async fn conn(&self) -> Conn {
        match Conn::new(self.opts()).await {
            Ok(conn) => conn,
            Err(e) => panic!("mysql_async cannot connect to {}: {e}", self.addr),
        }
    }

    /// Runs `sql` on a new connection; rows as text (NULL = None).
    pub async fn query_rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let mut conn = self.conn().await;
        let rows = rows(&mut conn, sql).await;
        conn.disconnect().await.expect("disconnect");
        rows
    }

    /// Runs `sql` on a new connection, expecting a server error: (code, SQLSTATE, message).
    pub async fn query_err(&self, sql: &str) -> (u16, String, String) {
        let mut conn = self.conn().await;
        let err = server_err(&mut conn, sql).await;
        conn.disconnect().await.expect("disconnect");
        err
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- backstop stderr ({}) ----\n{}\n---- end of backstop stderr ----",
                self.stderr_log().display(),
                self.stderr_text()
            );
        }
        if self.child.is_some() {
            let status = self.stop();
            if !status.success() && !std::thread::panicking() {
                eprintln!("warning: backstop exited with {status} on SIGTERM");
            }
        }
    }
}

fn password_from(args: &[String], envs: &[(String, String)]) -> String {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--root-password" {
            return it.next().cloned().unwrap_or_default();
        }
        if let Some(pw) = a.strip_prefix("--root-password=") {
            return pw.to_string();
        }
    }
    envs.iter()
        .find(|(k, _)| k == "BACKSTOP_ROOT_PASSWORD")
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Polls `child` until it exits or `deadline` passes.
fn wait_deadline(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + deadline;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tail_of_file(path: &Path, max: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > max {
        let _ = f.seek(SeekFrom::Start(len - max));
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A value as text the way the mysql CLI would print it (NULL → None).
pub fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// Runs `sql` (text protocol) and returns the rows of the first result set as text.
pub async fn rows(conn: &mut Conn, sql: &str) -> Vec<Vec<Option<String>>> {
    let rows: Vec<mysql_async::Row> = conn
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("query {sql:?} failed: {e}"));
    rows.iter()
        .map(|r| (0..r.len()).map(|i| value_text(&r[i])).collect())
        .collect()
}

/// Runs a statement that must succeed.
pub async fn exec(conn: &mut Conn, sql: &str) {
    use mysql_async::prelude::Queryable;
    conn.query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql:?} failed: {e}"));
}

/// Runs `sql` expecting a server error; returns (code, SQLSTATE, message).
pub async fn server_err(conn: &mut Conn, sql: &str) -> (u16, String, String) {
    match conn.query::<mysql_async::Row, _>(sql).await {
        Ok(rows) => panic!(
            "query {sql:?} succeeded with {} rows, expected an error",
            rows.len()
        ),
        Err(mysql_async::Error::Server(e)) => (e.code, e.state, e.message),
        Err(e) => panic!("query {sql:?}: expected a server error, got {e}"),
    }
}

/// Runs `SELECT 1` and asserts it returns the single value 1.
pub async fn assert_select_1(conn: &mut Conn) {
    let got = rows(conn, "SELECT 1").await;
    assert_eq!(got, vec![vec![Some("1".to_string())]], "SELECT 1");
}

/// The venv's python (env `BACKSTOP_VENV` or `~/.cache/backstop-venv`); panics when missing.
pub fn venv_python() -> PathBuf {
    let venv = match std::env::var_os("BACKSTOP_VENV") {
        Some(v) => PathBuf::from(v),
        None => home_dir().join(".cache/backstop-venv"),
    };
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "the test venv python {} is missing: run scripts/install-test-deps \
         (or set BACKSTOP_VENV to a venv with pymysql, mysql-connector-python and pyodbc)",
        python.display()
    );
    python
}

fn home_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
}

/// The full path of `tool` on PATH; panics (pointing at scripts/install-test-deps) when missing.
pub fn require_tool(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("required tool `{tool}` is not on PATH: run scripts/install-test-deps")
}

/// Panics (pointing at scripts/install-test-deps) when `path` does not exist.
pub fn require_file(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "required file {path} is missing: run scripts/install-test-deps"
    );
    p
}

/// The `mysql` CLI connecting to `daemon` as `user` (batch mode, no defaults files, no
/// password from the environment); an empty `password` means none.
pub fn mysql_cli_as(daemon: &TestDaemon, user: &str, password: &str) -> Command {
    let mut cmd = Command::new(require_tool("mysql"));
    cmd.arg("--no-defaults")
        .arg("-h127.0.0.1")
        .arg(format!("-P{}", daemon.port()))
        .arg(format!("-u{user}"))
        .args(["--batch", "--connect-timeout=20"])
        .env_remove("MYSQL_PWD")
        .env_remove("MYSQL_HOST");
    if !password.is_empty() {
        cmd.arg(format!("--password={password}"));
    }
    cmd
}

/// The directory holding the client helper files (Python scripts, JdbcSmoke.java).
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Output of a finished client process, for assertions and failure messages.
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` with `stdin` as its input, killing it after `deadline`.
pub fn run_with_deadline(cmd: &mut Command, stdin: &str, deadline: Duration) -> Outcome {
    use std::io::Write;
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    {
        let mut input = child.stdin.take().expect("piped stdin");
        let _ = input.write_all(stdin.as_bytes());
    }
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let status = match wait_deadline(&mut child, deadline) {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let status = child.wait().expect("wait");
            let stdout = out_t.join().unwrap_or_default();
            let stderr = err_t.join().unwrap_or_default();
            panic!(
                "{what} did not finish within {deadline:?}\n--- stdout ---\n{stdout}\
                 --- stderr ---\n{stderr}\n(status after kill: {status})"
            );
        }
    };
    Outcome {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

pub mod backup;

/// The load statements present in `d.t` (rows `k` of statement s hold k / 10 = s); fails naming
/// `ctx` when an acknowledged one is missing.
pub async fn assert_acknowledged_loads(conn: &mut Conn, acked: &[i64], ctx: &str) -> Vec<i64> {
    let present: Vec<i64> = rows(
        conn,
        "SELECT DISTINCT CAST(k / 10 AS BIGINT) FROM d.t ORDER BY 1",
    )
    .await
    .iter()
    .map(|r| r[0].clone().unwrap().parse().unwrap())
    .collect();
    for s in acked {
        assert!(
            present.contains(s),
            "{ctx}: acknowledged load {s} is missing"
        );
    }
    present
}

/// A client that loads `INSERT INTO d.t VALUES <values(s)>` for s = first, first + 1, ... until
/// the daemon dies under it; returns the statements the server acknowledged.
pub fn spawn_loader(
    opts: OptsBuilder,
    first: i64,
    values: fn(i64) -> String,
) -> tokio::task::JoinHandle<Vec<i64>> {
    tokio::spawn(async move {
        let mut acked = Vec::new();
        let Ok(mut conn) = mysql_async::Conn::new(opts).await else {
            return acked;
        };
        let mut s = first;
        loop {
            match conn
                .query_drop(format!("INSERT INTO d.t VALUES {}", values(s)))
                .await
            {
                Ok(()) => acked.push(s),
                Err(_) => return acked,
            }
            s += 1;
        }
    })
}
pub mod proxy;

/// A raw MySQL-protocol client for byte-level tests: it does the HandshakeV10 /
/// HandshakeResponse41 exchange itself and then sends arbitrary packets.
pub mod raw {
    use std::io::{self, Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;

    pub const CLIENT_LONG_PASSWORD: u32 = 0x0000_0001;
    pub const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
    pub const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
    pub const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
    pub const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;

    pub const COM_QUERY: u8 = 0x03;
    pub const COM_STMT_PREPARE: u8 = 0x16;
    pub const COM_STMT_EXECUTE: u8 = 0x17;

    /// One packet as read from the wire.
    #[derive(Debug, Clone)]
    pub struct Packet {
        pub seq: u8,
        pub payload: Vec<u8>,
    }

    impl Packet {
        pub fn is_err(&self) -> bool {
            self.payload.first() == Some(&0xFF)
        }
        pub fn is_ok(&self) -> bool {
            self.payload.first() == Some(&0x00)
        }
        /// Error code of an ERR packet.
        pub fn err_code(&self) -> Option<u16> {
            if self.is_err() && self.payload.len() >= 3 {
                Some(u16::from_le_bytes([self.payload[1], self.payload[2]]))
            } else {
                None
            }
        }
    }

    /// The fields of a server HandshakeV10 that a client needs.
    #[derive(Debug, Clone)]
    pub struct Greeting {
        pub protocol_version: u8,
        pub server_version: String,
        pub connection_id: u32,
        pub capabilities: u32,
        pub scramble: Vec<u8>,
        pub auth_plugin: String,
    }

    pub struct RawConn {
        pub stream: TcpStream,
        pub seq: u8,
    }

    impl RawConn {
        /// Opens a TCP connection with read/write timeouts of `timeout`.
        pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<RawConn> {
            let stream = TcpStream::connect_timeout(&addr, timeout)?;
            stream.set_read_timeout(Some(timeout))?;
            stream.set_write_timeout(Some(timeout))?;
            stream.set_nodelay(true)?;
            Ok(RawConn { stream, seq: 0 })
        }

        pub fn read_packet(&mut self) -> io::Result<Packet> {
            let mut header = [0u8; 4];
            self.stream.read_exact(&mut header)?;
            let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
            let mut payload = vec![0u8; len];
            self.stream.read_exact(&mut payload)?;
            self.seq = header[3].wrapping_add(1);
            Ok(Packet {
                seq: header[3],
                payload,
            })
        }

        /// Sends one packet with the next sequence id (payload < 16 MiB).
        pub fn write_packet(&mut self, payload: &[u8]) -> io::Result<()> {
            let len = u32::try_from(payload.len())
                .ok()
                .filter(|l| *l < 0x00FF_FFFF)
                .ok_or_else(|| io::Error::other("payload too large for one packet"))?;
            let mut buf = Vec::with_capacity(payload.len() + 4);
            buf.extend_from_slice(&len.to_le_bytes()[..3]);
            buf.push(self.seq);
            buf.extend_from_slice(payload);
            self.seq = self.seq.wrapping_add(1);
            self.stream.write_all(&buf)
        }

        /// Writes raw bytes (no framing).
        pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.stream.write_all(bytes)
        }

        pub fn read_greeting(&mut self) -> io::Result<Greeting> {
            let p = self.read_packet()?;
            parse_greeting(&p.payload)
        }

        /// Greeting + HandshakeResponse41 as root with the given password; returns the
        /// server's answer to the response (OK, ERR or an auth switch request).
        pub fn handshake(&mut self, password: &str) -> io::Result<(Greeting, Packet)> {
            let greeting = self.read_greeting()?;
            let resp = handshake_response(&greeting.scramble, "root", password);
            self.write_packet(&resp)?;
            let answer = self.read_packet()?;
            Ok((greeting, answer))
        }

        /// Handshake that must end in OK.
        pub fn login(addr: SocketAddr, password: &str, timeout: Duration) -> io::Result<RawConn> {
            let mut c = RawConn::connect(addr, timeout)?;
            let (_, answer) = c.handshake(password)?;
            if !answer.is_ok() {
                return Err(io::Error::other(format!(
                    "handshake not accepted: {:?}",
                    answer.payload
                )));
            }
            Ok(c)
        }

        /// Sends a command packet (command byte + payload) starting a new sequence.
        pub fn command(&mut self, cmd: u8, payload: &[u8]) -> io::Result<()> {
            self.seq = 0;
            let mut buf = Vec::with_capacity(payload.len() + 1);
            buf.push(cmd);
            buf.extend_from_slice(payload);
            self.write_packet(&buf)
        }

        /// Reads packets until the end of one command's answer: an OK or ERR first packet, or a
        /// result set terminated by EOF/OK (0xFE, short) after the rows. Returns all packets.
        pub fn read_answer(&mut self) -> io::Result<Vec<Packet>> {
            let first = self.read_packet()?;
            let head = first.payload.first().copied();
            let mut packets = vec![first];
            match head {
                Some(0x00) | Some(0xFF) | None => return Ok(packets),
                _ => {}
            }
            // Result set: column defs, (EOF unless DEPRECATE_EOF), rows, EOF/OK. Read until a
            // terminating 0xFE packet (< 9 bytes) that follows at least one row section, or ERR.
            let mut terminators = 0;
            loop {
                let p = self.read_packet()?;
                let is_term = p.payload.first() == Some(&0xFE) && p.payload.len() < 9;
                let is_err = p.is_err();
                packets.push(p);
                if is_err {
                    return Ok(packets);
                }
                if is_term {
                    terminators += 1;
                    // With CLIENT_DEPRECATE_EOF (we do not ask for it) there would be one.
                    if terminators == 2 {
                        return Ok(packets);
                    }
                }
            }
        }

        /// COM_QUERY `sql` and read the answer.
        pub fn query(&mut self, sql: &[u8]) -> io::Result<Vec<Packet>> {
            self.command(COM_QUERY, sql)?;
            self.read_answer()
        }
    }

    pub fn parse_greeting(p: &[u8]) -> io::Result<Greeting> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let protocol_version = *p.first().ok_or_else(|| bad("empty greeting"))?;
        if protocol_version == 0xFF {
            return Err(bad(&format!(
                "server sent ERR instead of greeting: {}",
                String::from_utf8_lossy(p)
            )));
        }
        let nul = p[1..]
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| bad("no NUL after server version"))?;
        let server_version = String::from_utf8_lossy(&p[1..1 + nul]).into_owned();
        let mut i = 1 + nul + 1;
        let get = |i: usize, n: usize| p.get(i..i + n).ok_or_else(|| bad("greeting too short"));
        let connection_id = u32::from_le_bytes(get(i, 4)?.try_into().expect("4 bytes"));
        i += 4;
        let mut scramble = get(i, 8)?.to_vec();
        i += 8 + 1; // filler
        let cap_low = u16::from_le_bytes(get(i, 2)?.try_into().expect("2 bytes"));
        i += 2;
        let mut capabilities = u32::from(cap_low);
        let mut auth_plugin = String::new();
        if p.len() > i {
            i += 1; // charset
            i += 2; // status flags
            let cap_high = u16::from_le_bytes(get(i, 2)?.try_into().expect("2 bytes"));
            i += 2;
            capabilities |= u32::from(cap_high) << 16;
            let auth_len = *get(i, 1)?.first().expect("1 byte") as usize;
            i += 1 + 10; // reserved
            if capabilities & CLIENT_SECURE_CONNECTION != 0 {
                let n = auth_len.saturating_sub(8).max(13);
                let part2 = get(i, n)?;
                // part 2 is NUL-terminated
                let part2 = part2.split(|b| *b == 0).next().unwrap_or(&[]);
                scramble.extend_from_slice(part2);
                i += n;
            }
            if capabilities & CLIENT_PLUGIN_AUTH != 0 && p.len() > i {
                let rest = &p[i..];
                let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
                auth_plugin = String::from_utf8_lossy(&rest[..end]).into_owned();
            }
        }
        Ok(Greeting {
            protocol_version,
            server_version,
            connection_id,
            capabilities,
            scramble,
            auth_plugin,
        })
    }

    /// mysql_native_password scramble: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))).
    /// Empty password → empty auth response.
    pub fn native_password(scramble: &[u8], password: &str) -> Vec<u8> {
        if password.is_empty() {
            return Vec::new();
        }
        let stage1 = sha1(password.as_bytes());
        let stage2 = sha1(&stage1);
        let mut salted = scramble.to_vec();
        salted.extend_from_slice(&stage2);
        let mix = sha1(&salted);
        stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect()
    }

    /// HandshakeResponse41 with PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH.
    pub fn handshake_response(scramble: &[u8], user: &str, password: &str) -> Vec<u8> {
        let caps = CLIENT_LONG_PASSWORD
            | CLIENT_PROTOCOL_41
            | CLIENT_SECURE_CONNECTION
            | CLIENT_PLUGIN_AUTH;
        let auth = native_password(scramble, password);
        let mut p = Vec::new();
        p.extend_from_slice(&caps.to_le_bytes());
        p.extend_from_slice(&(16u32 << 20).to_le_bytes()); // max packet size
        p.push(45); // utf8mb4_general_ci
        p.extend_from_slice(&[0u8; 23]);
        p.extend_from_slice(user.as_bytes());
        p.push(0);
        p.push(u8::try_from(auth.len()).expect("auth response < 256 bytes"));
        p.extend_from_slice(&auth);
        p.extend_from_slice(b"mysql_native_password");
        p.push(0);
        p
    }

    pub fn sha1(data: &[u8]) -> [u8; 20] {
        use sha1::Digest;
        sha1::Sha1::digest(data).into()
    }
}

/// Rowset files (`.parquet`) and unfinished ones (`.tmp`) anywhere under `dir`.
pub fn rowset_files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                let p = e.path();
                if p.is_dir() {
                    rowset_files_under(&p)
                } else {
                    usize::from(p.extension().is_some_and(|x| x == "parquet" || x == "tmp"))
                }
            })
            .sum()
    })
}
pub mod s3;
