//! A fault-injecting HTTP/1.1 proxy for the S3 tests: it sits on a free 127.0.0.1 port between
//! backstop's S3 client and an upstream S3 server and forwards every byte unchanged (the Host
//! header too, so SigV4 signatures stay valid), unless a [`Fault`] says otherwise.
//!
//! The proxy runs on its own thread with its own single-threaded tokio runtime, so it works the
//! same from `#[test]` and `#[tokio::test]` functions. Every control method of [`FaultProxy`]
//! takes `&self`, may be called while requests are in flight, and returns once the change is in
//! force (for [`FaultProxy::refuse`]: once the port no longer accepts connections).
//!
//! Each client connection gets its own upstream connection, opened at its first forwarded request
//! and kept while both sides keep the connection alive; when the upstream closes an idle
//! connection, the proxy closes the client's connection too, as the server itself would.
//!
//! ```ignore
//! let proxy = FaultProxy::start("127.0.0.1:9000");
//! // point the S3 client at proxy.endpoint() ...
//! proxy.set_fault_when(Fault::ResetMidBody { after_bytes: 1000 }, Match::any().method("PUT").nth(2));
//! proxy.set_fault(Fault::Status503 { count: 3, slow_down: true });
//! proxy.refuse();
//! proxy.resume();
//! assert_eq!(proxy.forwarded_by("PUT"), 0);
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use futures::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// The longest request or response head the proxy accepts.
const MAX_HEAD: usize = 64 * 1024;
/// The longest chunk-size or trailer line of a chunked body.
const MAX_LINE: usize = 8 * 1024;
/// Bytes asked for per read.
const READ_CHUNK: usize = 64 * 1024;
/// During a stall the proxy buffers at most this much of what the client sends.
const STALL_BUFFER_LIMIT: usize = 64 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the proxy waits for the rest of a request body once the upstream has answered early.
const LATE_BODY_GRACE: Duration = Duration::from_millis(200);
/// How long a control method waits for the proxy thread to act on a change.
const CONTROL_DEADLINE: Duration = Duration::from_secs(10);
/// How long `resume` retries binding the old port.
const REBIND_DEADLINE: Duration = Duration::from_secs(5);

/// What the proxy does to the requests its [`Match`] selects (every request by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Transparent pass-through.
    None,
    /// The server is down. With an unconditional [`Match`] (no method, path or skip) the listener
    /// is closed at once, so connecting fails with "connection refused", and every open connection
    /// is reset. With a conditional match the proxy goes down the same way when the first matching
    /// request arrives (that request is reset, never forwarded). It stays down until
    /// [`FaultProxy::resume`] or another `set_fault`.
    Refuse,
    /// Forward the request, then reset both connections (client and upstream, with RST) after
    /// `after_bytes` bytes of the request body if the body is longer than that, otherwise after
    /// `after_bytes` bytes of the response body. A response whose body is no longer than
    /// `after_bytes` arrives whole and the connection is reset right after it. Bytes are counted as
    /// they travel: chunk-size lines of a chunked body count.
    ResetMidBody { after_bytes: u64 },
    /// Answer the next `count` matching requests with `503` and an S3 XML error body
    /// (`SlowDown` "Please reduce your request rate." or `ServiceUnavailable`) without forwarding
    /// them; the fault then turns into [`Fault::None`]. The request body is read and dropped, so
    /// the connection stays usable (with `Expect: 100-continue` the proxy answers at once and
    /// closes the connection).
    Status503 { count: u32, slow_down: bool },
    /// Like [`Fault::Status503`], with `500 Internal Server Error` and S3's `InternalError`.
    Status500 { count: u32 },
    /// Read what the client sends but send nothing for `duration`; then forward the request and
    /// relay the response as usual. If the client closes the connection during the stall, the
    /// request is never forwarded.
    Stall { duration: Duration },
}

/// Which requests a fault applies to; build it with [`Match::any`] and the builder methods.
///
/// Skip and times count matching requests from the moment the fault was set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Match {
    method: Option<String>,
    path_contains: Option<String>,
    skip: u64,
    times: Option<u64>,
}

impl Match {
    /// Every request.
    pub fn any() -> Match {
        Match::default()
    }

    /// Only requests with this method (case-insensitive).
    pub fn method(mut self, method: &str) -> Match {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only requests whose target (path and query, e.g. `/bucket/objects/x?partNumber=2`)
    /// contains `part`.
    pub fn path_contains(mut self, part: &str) -> Match {
        self.path_contains = Some(part.to_string());
        self
    }

    /// Let the first `n` matching requests through untouched.
    pub fn skip(mut self, n: u64) -> Match {
        self.skip = n;
        self
    }

    /// Apply the fault to `n` matching requests (after the skipped ones); the fault then turns
    /// into [`Fault::None`].
    pub fn times(mut self, n: u64) -> Match {
        self.times = Some(n);
        self
    }

    /// Only the `n`-th matching request (1-based).
    pub fn nth(self, n: u64) -> Match {
        assert!(n >= 1, "Match::nth counts from 1");
        self.skip(n - 1).times(1)
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| target.contains(p))
    }

    fn is_unconditional(&self) -> bool {
        self.method.is_none() && self.path_contains.is_none() && self.skip == 0
    }
}

/// What the proxy did with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded untouched.
    Forwarded,
    /// Reset without forwarding: the proxy was (or went) down.
    Refused,
    /// Forwarded under [`Fault::ResetMidBody`].
    ResetMidBody,
    /// Answered with 503, not forwarded.
    Status503,
    /// Answered with 500, not forwarded.
    Status500,
    /// Held under [`Fault::Stall`], forwarded afterwards unless the client gave up.
    Stalled,
}

/// One request the proxy received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    /// The request target as sent: path and query.
    pub path: String,
    pub outcome: Outcome,
}

/// The proxy: a handle to its thread. Dropping it stops the proxy and closes every connection.
pub struct FaultProxy {
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a transparent proxy on a free 127.0.0.1 port in front of `upstream` (`host:port`,
    /// e.g. a `SocketAddr` or `"localhost:9000"`; resolved at each upstream connect).
    pub fn start(upstream: impl ToString) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        listener
            .set_nonblocking(true)
            .expect("make the fault proxy listener non-blocking");
        let addr = listener.local_addr().expect("fault proxy address");
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            addr,
            ctl: Mutex::new(Ctl {
                fault: Fault::None,
                filter: Match::any(),
                matched: 0,
                hits: 0,
                down: false,
                listening: true,
                new_listener: None,
                log: Vec::new(),
                refused_connections: 0,
            }),
            changed: Condvar::new(),
            closed: watch::Sender::new(0),
            wake: watch::Sender::new(0),
            kill: watch::Sender::new(0),
        });
        let (shutdown, shutdown_rx) = oneshot::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fault proxy runtime");
                runtime.block_on(accept_loop(thread_shared, listener, shutdown_rx));
            })
            .expect("spawn the fault proxy thread");
        FaultProxy {
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The proxy's address; it stays the same across [`FaultProxy::refuse`] and
    /// [`FaultProxy::resume`].
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:PORT`, for an S3 client's endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// The upstream as given to [`FaultProxy::start`].
    pub fn upstream(&self) -> &str {
        &self.shared.upstream
    }

    /// Applies `fault` to every request from now on (replacing any earlier fault and filter).
    pub fn set_fault(&self, fault: Fault) {
        self.set_fault_when(fault, Match::any());
    }

    /// Applies `fault` to the requests `filter` selects from now on (replacing any earlier fault
    /// and filter; the filter's skip and times count from now). Brings a refusing proxy back up
    /// unless `fault` is an unconditional [`Fault::Refuse`].
    pub fn set_fault_when(&self, fault: Fault, filter: Match) {
        let down_now = fault == Fault::Refuse && filter.is_unconditional();
        let mut ctl = self.shared.lock();
        if down_now {
            ctl.arm(fault, filter);
            ctl.down = true;
            drop(ctl);
            self.shared.go_down();
            self.shared.wait_listening(false);
            return;
        }
        if !ctl.down {
            ctl.arm(fault, filter);
            return;
        }
        // Up again: wait until the accept loop has let go of the old listener, bind the port again
        // and hand the new listener over together with the new fault.
        drop(ctl);
        self.shared.wait_listening(false);
        let listener = bind_again(self.shared.addr);
        let mut ctl = self.shared.lock();
        ctl.arm(fault, filter);
        ctl.down = false;
        ctl.new_listener = Some(listener);
        drop(ctl);
        self.shared.wake.send_modify(|n| *n += 1);
        self.shared.wait_listening(true);
    }

    /// The fault in force ([`Fault::Status503`] shows the count left).
    pub fn fault(&self) -> Fault {
        self.shared.lock().fault.clone()
    }

    /// Goes down: `set_fault(Fault::Refuse)`.
    pub fn refuse(&self) {
        self.set_fault(Fault::Refuse);
    }

    /// Comes back up transparent on the same port: `set_fault(Fault::None)`.
    pub fn resume(&self) {
        self.set_fault(Fault::None);
    }

    /// Whether the proxy is down (by [`FaultProxy::refuse`] or a triggered [`Fault::Refuse`]).
    pub fn is_refusing(&self) -> bool {
        self.shared.lock().down
    }

    /// Requests forwarded untouched ([`Outcome::Forwarded`]).
    pub fn forwarded(&self) -> usize {
        self.count_log(|s| s.outcome == Outcome::Forwarded)
    }

    /// Requests with this method (case-insensitive) forwarded untouched.
    pub fn forwarded_by(&self, method: &str) -> usize {
        self.count_log(|s| s.outcome == Outcome::Forwarded && s.method.eq_ignore_ascii_case(method))
    }

    /// Requests with this method whose target contains `path_part`, forwarded untouched.
    pub fn forwarded_matching(&self, method: &str, path_part: &str) -> usize {
        self.count_log(|s| {
            s.outcome == Outcome::Forwarded
                && s.method.eq_ignore_ascii_case(method)
                && s.path.contains(path_part)
        })
    }

    /// Requests a fault was applied to (every outcome but [`Outcome::Forwarded`]).
    pub fn faulted(&self) -> usize {
        self.count_log(|s| s.outcome != Outcome::Forwarded)
    }

    /// `(method, target)` of every request received, in arrival order, whatever its outcome.
    pub fn seen(&self) -> Vec<(String, String)> {
        self.shared
            .lock()
            .log
            .iter()
            .map(|s| (s.method.clone(), s.path.clone()))
            .collect()
    }

    /// Every request received, with its outcome.
    pub fn log(&self) -> Vec<Seen> {
        self.shared.lock().log.clone()
    }

    /// Connections reset at accept because the proxy was going down.
    pub fn refused_connections(&self) -> u64 {
        self.shared.lock().refused_connections
    }

    /// Forgets the requests received so far (all counters restart from zero).
    pub fn clear_log(&self) {
        let mut ctl = self.shared.lock();
        ctl.log.clear();
        ctl.refused_connections = 0;
    }

    fn count_log(&self, keep: impl Fn(&Seen) -> bool) -> usize {
        self.shared.lock().log.iter().filter(|s| keep(s)).count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Shared {
    upstream: String,
    addr: SocketAddr,
    ctl: Mutex<Ctl>,
    /// Signalled when `Ctl::listening` changes.
    changed: Condvar,
    /// The `kill` generation at which the accept loop last closed the listener, for connection
    /// tasks to wait on.
    closed: watch::Sender<u64>,
    /// Bumped to make the accept loop look at `Ctl` again.
    wake: watch::Sender<u64>,
    /// Bumped to reset every open connection.
    kill: watch::Sender<u64>,
}

struct Ctl {
    fault: Fault,
    filter: Match,
    /// Matching requests since the fault was set.
    matched: u64,
    /// Requests the fault was applied to since it was set.
    hits: u64,
    /// Wanted state: down (refusing).
    down: bool,
    /// Actual state, kept by the accept loop.
    listening: bool,
    /// A listener bound by `resume` for the accept loop to take over.
    new_listener: Option<std::net::TcpListener>,
    log: Vec<Seen>,
    refused_connections: u64,
}

enum Action {
    Forward { cut: Option<u64> },
    Refuse,
    Reply503 { slow_down: bool },
    Reply500,
    Stall(Duration),
}

impl Ctl {
    fn arm(&mut self, fault: Fault, filter: Match) {
        self.fault = fault;
        self.filter = filter;
        self.matched = 0;
        self.hits = 0;
    }

    fn decide(&mut self, method: &str, target: &str) -> (Action, Outcome) {
        let forward = (Action::Forward { cut: None }, Outcome::Forwarded);
        if self.down {
            return (Action::Refuse, Outcome::Refused);
        }
        if self.fault == Fault::None
            || self.filter.times == Some(0)
            || !self.filter.matches(method, target)
        {
            return forward;
        }
        self.matched += 1;
        if self.matched <= self.filter.skip {
            return forward;
        }
        let decision = match self.fault.clone() {
            Fault::None => return forward,
            Fault::Refuse => {
                self.down = true;
                return (Action::Refuse, Outcome::Refused);
            }
            Fault::ResetMidBody { after_bytes } => (
                Action::Forward {
                    cut: Some(after_bytes),
                },
                Outcome::ResetMidBody,
            ),
            Fault::Status503 { count, .. } | Fault::Status500 { count } => {
                if count == 0 {
                    self.fault = Fault::None;
                    return forward;
                }
                let (action, outcome) = match self.fault {
                    Fault::Status503 { slow_down, .. } => {
                        (Action::Reply503 { slow_down }, Outcome::Status503)
                    }
                    _ => (Action::Reply500, Outcome::Status500),
                };
                // One request answered: the count goes down, and at zero the fault is over.
                match &mut self.fault {
                    _ if count == 1 => self.fault = Fault::None,
                    Fault::Status503 { count, .. } | Fault::Status500 { count } => *count -= 1,
                    _ => {}
                }
                (action, outcome)
            }
            Fault::Stall { duration } => (Action::Stall(duration), Outcome::Stalled),
        };
        self.hits += 1;
        if self.filter.times.is_some_and(|t| self.hits >= t) {
            self.fault = Fault::None;
        }
        decision
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Ctl> {
        self.ctl.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides what to do with one request and logs it.
    fn decide(&self, method: &str, target: &str) -> Action {
        let mut ctl = self.lock();
        let was_down = ctl.down;
        let (action, outcome) = ctl.decide(method, target);
        ctl.log.push(Seen {
            method: method.to_string(),
            path: target.to_string(),
            outcome,
        });
        let went_down = ctl.down && !was_down;
        drop(ctl);
        if went_down {
            self.go_down();
        }
        action
    }

    /// After `Ctl::down` was set: close the listener and reset every connection.
    fn go_down(&self) {
        self.kill.send_modify(|n| *n += 1);
        self.wake.send_modify(|n| *n += 1);
    }

    fn wait_listening(&self, listening: bool) {
        let ctl = self.lock();
        let (_ctl, timeout) = self
            .changed
            .wait_timeout_while(ctl, CONTROL_DEADLINE, |c| c.listening != listening)
            .unwrap_or_else(PoisonError::into_inner);
        assert!(
            !timeout.timed_out(),
            "fault proxy on {}: the accept loop did not {} in time",
            self.addr,
            if listening {
                "listen again"
            } else {
                "stop listening"
            }
        );
    }
}

fn bind_again(addr: SocketAddr) -> std::net::TcpListener {
    let deadline = std::time::Instant::now() + REBIND_DEADLINE;
    loop {
        match std::net::TcpListener::bind(addr) {
            Ok(listener) => {
                listener
                    .set_nonblocking(true)
                    .expect("make the fault proxy listener non-blocking");
                return listener;
            }
            Err(e) if std::time::Instant::now() >= deadline => {
                panic!("fault proxy: cannot listen on {addr} again: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    first: std::net::TcpListener,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut wake = shared.wake.subscribe();
    let mut listener = Some(TcpListener::from_std(first).expect("fault proxy listener"));
    loop {
        {
            let mut ctl = shared.lock();
            if ctl.down && listener.is_some() {
                listener = None;
                ctl.listening = false;
                shared.closed.send_replace(*shared.kill.borrow());
                shared.changed.notify_all();
            }
            if let Some(next) = ctl.new_listener.take() {
                listener = Some(TcpListener::from_std(next).expect("fault proxy listener"));
                ctl.listening = true;
                shared.changed.notify_all();
            }
        }
        let Some(l) = listener.as_ref() else {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = wake.changed() => continue,
            }
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = wake.changed() => {}
            accepted = l.accept() => match accepted {
                Ok((stream, _)) => {
                    // Subscribe before looking at `down`: a later go_down then kills this one.
                    let kill = shared.kill.subscribe();
                    let down = {
                        let mut ctl = shared.lock();
                        if ctl.down {
                            ctl.refused_connections += 1;
                        }
                        ctl.down
                    };
                    if down {
                        reset_stream(&stream);
                    } else {
                        tokio::spawn(handle(Arc::clone(&shared), stream, kill));
                    }
                }
                // Out of descriptors or the like: do not spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

fn reset_stream(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

/// Why a connection's serving stopped.
#[derive(Debug)]
enum Stop {
    /// The client went away: close quietly.
    Closed,
    /// Reset both connections (a fault).
    Reset,
    /// The proxy goes down: reset both connections once the listener is closed.
    Down,
    Io(io::Error),
    Bad(String),
}

fn eof(what: &str) -> Stop {
    Stop::Io(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        what.to_string(),
    ))
}

struct Upstream {
    r: Reader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

struct Conn {
    client_r: Reader<OwnedReadHalf>,
    client_w: OwnedWriteHalf,
    upstream: Option<Upstream>,
}

impl Conn {
    /// Drops both connections with RST.
    fn reset(self) {
        let _ = self.client_w.as_ref().set_zero_linger();
        if let Some(up) = &self.upstream {
            let _ = up.w.as_ref().set_zero_linger();
        }
    }

    /// Closes both connections with FIN.
    async fn close(mut self) {
        let _ = self.client_w.shutdown().await;
        if let Some(up) = &mut self.upstream {
            let _ = up.w.shutdown().await;
        }
    }
}

async fn handle(shared: Arc<Shared>, stream: TcpStream, mut kill: watch::Receiver<u64>) {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut conn = Conn {
        client_r: Reader::new(r),
        client_w: w,
        upstream: None,
    };
    let result = tokio::select! {
        r = serve(&shared, &mut conn) => r,
        _ = kill.changed() => Err(Stop::Down),
    };
    match result {
        Ok(()) | Err(Stop::Closed) => conn.close().await,
        Err(Stop::Down) => {
            // Whoever sees this reset finds the port closed already.
            let generation = *shared.kill.borrow();
            let mut closed = shared.closed.subscribe();
            let _ =
                tokio::time::timeout(CONTROL_DEADLINE, closed.wait_for(|c| *c >= generation)).await;
            conn.reset();
        }
        Err(Stop::Reset | Stop::Io(_) | Stop::Bad(_)) => conn.reset(),
    }
}

/// Serves the requests of one client connection until it ends.
async fn serve(shared: &Shared, conn: &mut Conn) -> Result<(), Stop> {
    loop {
        let Some(raw) = next_request(conn).await? else {
            return Ok(());
        };
        let req = Head::parse(&raw)?;
        let framing = req.request_framing()?;
        let close_after = req.wants_close();
        let action = shared.decide(&req.parts[0], &req.parts[1]);
        let keep = match action {
            Action::Refuse => return Err(Stop::Down),
            Action::Forward { cut: None } => {
                forward(shared, conn, &raw, &req, framing, None).await?
            }
            Action::Forward { cut: Some(n) } => {
                forward(shared, conn, &raw, &req, framing, Some(n)).await?;
                return Err(Stop::Reset);
            }
            Action::Stall(duration) => {
                stall(conn, duration).await?;
                forward(shared, conn, &raw, &req, framing, None).await?
            }
            Action::Reply503 { .. } | Action::Reply500 => {
                let expect = req.expects_continue();
                if !expect {
                    pump_body(&mut conn.client_r, &mut tokio::io::sink(), framing, None).await?;
                }
                let id = shared.lock().log.len();
                let status = match action {
                    Action::Reply503 { slow_down: true } => Status::SlowDown,
                    Action::Reply503 { slow_down: false } => Status::Unavailable,
                    _ => Status::Internal,
                };
                let reply = error_reply(status, &req, expect || close_after, id);
                conn.client_w.write_all(&reply).await.map_err(Stop::Io)?;
                !expect
            }
        };
        if !keep || close_after {
            return Ok(());
        }
    }
}

/// Waits for the client's next request head; `None` when the client closed the connection, or
/// when the upstream closed its idle connection (then the client's is closed too).
async fn next_request(conn: &mut Conn) -> Result<Option<Vec<u8>>, Stop> {
    let Conn {
        client_r, upstream, ..
    } = conn;
    let Some(up) = upstream.as_mut() else {
        return client_r.read_head().await;
    };
    tokio::select! {
        biased;
        head = client_r.read_head() => head,
        // End of stream, or bytes nobody asked for: either way this connection is over.
        _ = up.r.fill() => Ok(None),
    }
}

/// Holds the request for `duration`, buffering what the client sends meanwhile.
async fn stall(conn: &mut Conn, duration: Duration) -> Result<(), Stop> {
    let deadline = Instant::now() + duration;
    loop {
        if conn.client_r.buffered().len() >= STALL_BUFFER_LIMIT {
            tokio::time::sleep_until(deadline).await;
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return Ok(()),
            n = conn.client_r.fill() => {
                if n.map_err(Stop::Io)? == 0 {
                    return Err(Stop::Closed);
                }
            }
        }
    }
}

/// Forwards one request (head already read) and relays its response. Returns whether the
/// connection may carry another request.
async fn forward(
    shared: &Shared,
    conn: &mut Conn,
    raw: &[u8],
    req: &Head,
    framing: Framing,
    cut: Option<u64>,
) -> Result<bool, Stop> {
    // An idle upstream connection that has closed meanwhile (say during a stall) is replaced:
    // nothing of this request was sent on it yet.
    if let Some(up) = conn.upstream.as_mut()
        && up.r.fill().now_or_never().is_some()
    {
        conn.upstream = None;
    }
    if conn.upstream.is_none() {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&shared.upstream))
            .await
            .map_err(|_| Stop::Bad(format!("connecting to {} timed out", shared.upstream)))?
            .map_err(Stop::Io)?;
        let _ = stream.set_nodelay(true);
        let (r, w) = stream.into_split();
        conn.upstream = Some(Upstream {
            r: Reader::new(r),
            w,
        });
    }
    let Conn {
        client_r,
        client_w,
        upstream,
    } = conn;
    let Some(up) = upstream.as_mut() else {
        return Err(Stop::Bad("no upstream connection".to_string()));
    };
    up.w.write_all(raw).await.map_err(Stop::Io)?;
    let is_head = req.parts[0].eq_ignore_ascii_case("HEAD");
    // The body goes up while the response (and any 100 Continue) comes down.
    let request = pump_body(client_r, &mut up.w, framing, cut);
    let response = pump_response(&mut up.r, client_w, is_head, cut);
    tokio::pin!(request, response);
    let mut sent = false;
    let keep = loop {
        tokio::select! {
            r = &mut request, if !sent => {
                r?;
                sent = true;
            }
            r = &mut response => break r?,
        }
    };
    if !sent {
        // The upstream answered before the whole body was sent (an early error, or a final status
        // instead of 100 Continue): take a last moment for the rest, else end the connection.
        match tokio::time::timeout(LATE_BODY_GRACE, &mut request).await {
            Ok(r) => r?,
            Err(_) => return Ok(false),
        }
    }
    Ok(keep)
}

/// Relays one response (after any 1xx heads). Returns whether the connection may be kept.
async fn pump_response<R, W>(
    src: &mut Reader<R>,
    dst: &mut W,
    is_head: bool,
    cut: Option<u64>,
) -> Result<bool, Stop>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        let Some(raw) = src.read_head().await? else {
            return Err(eof("the upstream closed the connection without a response"));
        };
        let resp = Head::parse(&raw)?;
        let status: u16 = resp.parts[1]
            .parse()
            .map_err(|_| Stop::Bad(format!("bad status line {:?}", resp.parts)))?;
        dst.write_all(&raw).await.map_err(Stop::Io)?;
        if status == 101 {
            return Err(Stop::Bad(
                "101 Switching Protocols is not supported".to_string(),
            ));
        }
        if (100..200).contains(&status) {
            dst.flush().await.map_err(Stop::Io)?;
            continue;
        }
        let framing = resp.response_framing(is_head, status);
        pump_body(src, dst, framing, cut).await?;
        return Ok(framing != Framing::UntilEof && !resp.wants_close());
    }
}

/// How a body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilEof,
}

/// Copies one body from `src` to `dst` unchanged; with `cut`, stops with [`Stop::Reset`] after
/// that many bytes if the body is longer.
async fn pump_body<R, W>(
    src: &mut Reader<R>,
    dst: &mut W,
    framing: Framing,
    cut: Option<u64>,
) -> Result<(), Stop>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut budget = Budget(cut);
    match framing {
        Framing::Length(n) => copy_exact(src, dst, n, &mut budget).await?,
        Framing::Chunked => loop {
            let line = src.read_line().await?;
            budget.put(dst, &line).await?;
            let size = chunk_size(&line)?;
            if size == 0 {
                loop {
                    let trailer = src.read_line().await?;
                    budget.put(dst, &trailer).await?;
                    if trailer == b"\r\n" {
                        break;
                    }
                }
                break;
            }
            copy_exact(src, dst, size, &mut budget).await?;
            let end = src.read_line().await?;
            if end != b"\r\n" {
                return Err(Stop::Bad("chunk data not followed by CRLF".to_string()));
            }
            budget.put(dst, &end).await?;
        },
        Framing::UntilEof => loop {
            if src.buffered().is_empty() && src.fill().await.map_err(Stop::Io)? == 0 {
                break;
            }
            let chunk = src.buffered();
            let n = chunk.len();
            budget.put(dst, chunk).await?;
            src.consume(n);
        },
    }
    dst.flush().await.map_err(Stop::Io)
}

async fn copy_exact<R, W>(
    src: &mut Reader<R>,
    dst: &mut W,
    mut n: u64,
    budget: &mut Budget,
) -> Result<(), Stop>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    while n > 0 {
        if src.buffered().is_empty() && src.fill().await.map_err(Stop::Io)? == 0 {
            return Err(eof("the connection closed inside a body"));
        }
        let avail = src.buffered();
        let take = avail.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        budget.put(dst, &avail[..take]).await?;
        src.consume(take);
        n -= take as u64;
    }
    Ok(())
}

fn chunk_size(line: &[u8]) -> Result<u64, Stop> {
    let text = std::str::from_utf8(line).map_err(|_| Stop::Bad("chunk size".to_string()))?;
    let digits = text.split(';').next().unwrap_or_default().trim();
    u64::from_str_radix(digits, 16).map_err(|_| Stop::Bad(format!("bad chunk size {text:?}")))
}

/// Body bytes left before a [`Fault::ResetMidBody`] cut.
struct Budget(Option<u64>);

impl Budget {
    async fn put<W: AsyncWrite + Unpin>(&mut self, dst: &mut W, bytes: &[u8]) -> Result<(), Stop> {
        if let Some(left) = self.0 {
            let len = bytes.len() as u64;
            if len > left {
                let n = usize::try_from(left).unwrap_or(usize::MAX);
                dst.write_all(&bytes[..n]).await.map_err(Stop::Io)?;
                dst.flush().await.map_err(Stop::Io)?;
                return Err(Stop::Reset);
            }
            self.0 = Some(left - len);
        }
        dst.write_all(bytes).await.map_err(Stop::Io)
    }
}

/// A read half with a buffer. Every method is cancel-safe: what was read stays buffered.
struct Reader<R> {
    io: R,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    fn new(io: R) -> Reader<R> {
        Reader {
            io,
            buf: Vec::new(),
            pos: 0,
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos >= self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Reads more; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.reserve(READ_CHUNK);
        self.io.read_buf(&mut self.buf).await
    }

    /// One head, through its blank line; `None` at end of stream before its first byte.
    async fn read_head(&mut self) -> Result<Option<Vec<u8>>, Stop> {
        loop {
            if let Some(end) = find(self.buffered(), b"\r\n\r\n") {
                let head = self.buffered()[..end + 4].to_vec();
                self.consume(end + 4);
                return Ok(Some(head));
            }
            if self.buffered().len() > MAX_HEAD {
                return Err(Stop::Bad("head too long".to_string()));
            }
            if self.fill().await.map_err(Stop::Io)? == 0 {
                return if self.buffered().is_empty() {
                    Ok(None)
                } else {
                    Err(eof("the connection closed inside a head"))
                };
            }
        }
    }

    /// One line, with its CRLF.
    async fn read_line(&mut self) -> Result<Vec<u8>, Stop> {
        loop {
            if let Some(end) = find(self.buffered(), b"\r\n") {
                let line = self.buffered()[..end + 2].to_vec();
                self.consume(end + 2);
                return Ok(line);
            }
            if self.buffered().len() > MAX_LINE {
                return Err(Stop::Bad("line too long".to_string()));
            }
            if self.fill().await.map_err(Stop::Io)? == 0 {
                return Err(eof("the connection closed inside a chunked body"));
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A parsed request or response head: the three parts of the start line and the headers.
struct Head {
    /// Request: method, target, version. Response: version, status, reason.
    parts: [String; 3],
    headers: Vec<(String, String)>,
}

impl Head {
    fn parse(raw: &[u8]) -> Result<Head, Stop> {
        let text = String::from_utf8_lossy(raw);
        let mut lines = text.split("\r\n");
        let start = lines.next().unwrap_or_default();
        let mut it = start.splitn(3, ' ');
        let parts = [
            it.next().unwrap_or_default().to_string(),
            it.next().unwrap_or_default().to_string(),
            it.next().unwrap_or_default().to_string(),
        ];
        if parts[0].is_empty() || parts[1].is_empty() {
            return Err(Stop::Bad(format!("bad start line {start:?}")));
        }
        let mut headers = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                return Err(Stop::Bad(format!("bad header line {line:?}")));
            };
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        Ok(Head { parts, headers })
    }

    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header has this token (case-insensitive).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn version(&self, response: bool) -> &str {
        if response {
            &self.parts[0]
        } else {
            &self.parts[2]
        }
    }

    fn is_chunked(&self) -> Option<bool> {
        let codings: Vec<&str> = self
            .values("transfer-encoding")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let last = codings.last()?;
        Some(last.eq_ignore_ascii_case("chunked"))
    }

    fn content_length(&self) -> Result<Option<u64>, Stop> {
        let mut found: Option<u64> = None;
        for v in self.values("content-length") {
            let n: u64 = v
                .parse()
                .map_err(|_| Stop::Bad(format!("bad Content-Length {v:?}")))?;
            if found.is_some_and(|f| f != n) {
                return Err(Stop::Bad("conflicting Content-Length headers".to_string()));
            }
            found = Some(n);
        }
        Ok(found)
    }

    fn request_framing(&self) -> Result<Framing, Stop> {
        match self.is_chunked() {
            Some(true) => Ok(Framing::Chunked),
            Some(false) => Err(Stop::Bad("a request body must end in chunked".to_string())),
            None => Ok(Framing::Length(self.content_length()?.unwrap_or(0))),
        }
    }

    fn response_framing(&self, is_head: bool, status: u16) -> Framing {
        if is_head || status == 204 || status == 304 {
            return Framing::Length(0);
        }
        match self.is_chunked() {
            Some(true) => Framing::Chunked,
            Some(false) => Framing::UntilEof,
            None => match self.content_length() {
                Ok(Some(n)) => Framing::Length(n),
                _ => Framing::UntilEof,
            },
        }
    }

    /// Whether the connection ends after this message (for a request: after its response).
    fn wants_close(&self) -> bool {
        let response = self.parts[0].starts_with("HTTP/");
        if self.version(response).eq_ignore_ascii_case("HTTP/1.0") {
            !self.has_token("connection", "keep-alive")
        } else {
            self.has_token("connection", "close")
        }
    }

    fn expects_continue(&self) -> bool {
        self.values("expect")
            .any(|v| v.eq_ignore_ascii_case("100-continue"))
    }
}

/// Which error [`error_reply`] sends.
#[derive(Clone, Copy)]
enum Status {
    SlowDown,
    Unavailable,
    Internal,
}

/// A 503 or 500 with an S3 XML error body, for `req`.
fn error_reply(status: Status, req: &Head, close: bool, id: usize) -> Vec<u8> {
    let (line, code, message) = match status {
        Status::SlowDown => (
            "503 Service Unavailable",
            "SlowDown",
            "Please reduce your request rate.",
        ),
        Status::Unavailable => (
            "503 Service Unavailable",
            "ServiceUnavailable",
            "Service is unable to handle request.",
        ),
        Status::Internal => (
            "500 Internal Server Error",
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
    };
    let resource = req.parts[1].split('?').next().unwrap_or_default();
    let resource = resource
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let request_id = format!("FAULTPROXY{id:08}");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{message}</Message><Resource>{resource}</Resource>\
         <RequestId>{request_id}</RequestId></Error>"
    );
    let mut out = format!(
        "HTTP/1.1 {line}\r\nContent-Type: application/xml\r\n\
         Content-Length: {}\r\nx-amz-request-id: {request_id}\r\n",
        body.len()
    );
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    if !req.parts[0].eq_ignore_ascii_case("HEAD") {
        out.push_str(&body);
    }
    out.into_bytes()
}
