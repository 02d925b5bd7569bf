//! The fault-injecting proxy of `tests/it/common/proxy.rs`, against a small HTTP/1.1 echo server
//! written here: every fault does what it says, and without one every byte passes unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::proxy::{Fault, FaultProxy, Match, Outcome};

// ---------------------------------------------------------------------------------------------
// The upstream: an echo server, one thread per connection.

/// A request the upstream received whole.
#[derive(Clone, Debug)]
struct Got {
    method: String,
    path: String,
    host: String,
    body: Vec<u8>,
    conn: usize,
}

#[derive(Default)]
struct Record {
    got: Vec<Got>,
    /// (method, path, body bytes received) of requests whose connection broke inside the body.
    partial: Vec<(String, String, usize)>,
    connections: usize,
}

struct Echo {
    addr: SocketAddr,
    record: Arc<Mutex<Record>>,
}

impl Echo {
    /// Serves on a free port until the test process ends:
    /// `GET /big/N` answers N pattern bytes, `GET /chunked/N` the same chunked, other GETs
    /// `hello PATH`; `PUT`/`POST` read the body and answer `got N bytes`; `HEAD` answers a
    /// Content-Length of 42 and no body; `DELETE` answers 204. Every response has `x-echo-host`.
    /// `Expect: 100-continue` gets a `100 Continue` first.
    fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let record = Arc::new(Mutex::new(Record::default()));
        let rec = Arc::clone(&record);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let conn = {
                    let mut r = rec.lock().unwrap();
                    r.connections += 1;
                    r.connections
                };
                let rec = Arc::clone(&rec);
                std::thread::spawn(move || {
                    let _ = echo_connection(stream, conn, &rec);
                });
            }
        });
        Echo { addr, record }
    }

    fn got(&self) -> Vec<Got> {
        self.record.lock().unwrap().got.clone()
    }

    fn partial(&self) -> Vec<(String, String, usize)> {
        self.record.lock().unwrap().partial.clone()
    }

    fn connections(&self) -> usize {
        self.record.lock().unwrap().connections
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn echo_connection(stream: TcpStream, conn: usize, rec: &Mutex<Record>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    loop {
        let Some(head) = read_head(&mut r)? else {
            return Ok(());
        };
        let (start, headers) = parse_head(&head);
        let (method, path) = (start[0].clone(), start[1].clone());
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let mut body = Vec::new();
        let read = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            read_chunked(&mut r, &mut body)
        } else {
            let n: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
            read_exact_into(&mut r, &mut body, n)
        };
        if let Err(e) = read {
            rec.lock().unwrap().partial.push((method, path, body.len()));
            return Err(e);
        }
        let host = header("host").unwrap_or_default();
        rec.lock().unwrap().got.push(Got {
            method: method.clone(),
            path: path.clone(),
            host: host.clone(),
            body: body.clone(),
            conn,
        });
        let common = format!("x-echo-host: {host}\r\nx-echo-conn: {conn}\r\n");
        match method.as_str() {
            "HEAD" => write!(w, "HTTP/1.1 200 OK\r\n{common}Content-Length: 42\r\n\r\n")?,
            "DELETE" => write!(w, "HTTP/1.1 204 No Content\r\n{common}\r\n")?,
            "PUT" | "POST" => {
                let text = format!("got {} bytes", body.len());
                write!(
                    w,
                    "HTTP/1.1 200 OK\r\n{common}Content-Length: {}\r\n\r\n{text}",
                    text.len()
                )?;
            }
            _ => {
                if let Some(n) = path.strip_prefix("/big/") {
                    let data = pattern(n.parse().unwrap());
                    write!(
                        w,
                        "HTTP/1.1 200 OK\r\n{common}Content-Length: {}\r\n\r\n",
                        data.len()
                    )?;
                    w.write_all(&data)?;
                } else if let Some(n) = path.strip_prefix("/chunked/") {
                    let data = pattern(n.parse().unwrap());
                    write!(
                        w,
                        "HTTP/1.1 200 OK\r\n{common}Transfer-Encoding: chunked\r\n\r\n"
                    )?;
                    for chunk in data.chunks(1000) {
                        write!(w, "{:x};ext=1\r\n", chunk.len())?;
                        w.write_all(chunk)?;
                        w.write_all(b"\r\n")?;
                    }
                    w.write_all(b"0\r\nx-trailer: yes\r\n\r\n")?;
                } else {
                    let text = format!("hello {path}");
                    write!(
                        w,
                        "HTTP/1.1 200 OK\r\n{common}Content-Length: {}\r\n\r\n{text}",
                        text.len()
                    )?;
                }
            }
        }
        w.flush()?;
    }
}

// ---------------------------------------------------------------------------------------------
// Blocking HTTP/1.1 helpers shared by the echo server and the test client.

/// A head through its blank line; `None` at end of stream before its first byte.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        head.push_str(&line);
        if line == "\r\n" {
            return Ok(Some(head));
        }
    }
}

fn parse_head(head: &str) -> (Vec<String>, Vec<(String, String)>) {
    let mut lines = head.split("\r\n");
    let start = lines
        .next()
        .unwrap()
        .splitn(3, ' ')
        .map(str::to_string)
        .collect();
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    (start, headers)
}

fn read_exact_into(r: &mut impl Read, out: &mut Vec<u8>, n: usize) -> io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    while out.len() < n {
        let want = (n - out.len()).min(buf.len());
        let got = r.read(&mut buf[..want])?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        out.extend_from_slice(&buf[..got]);
    }
    Ok(())
}

fn read_chunked(r: &mut impl BufRead, out: &mut Vec<u8>) -> io::Result<()> {
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            // Trailers, then the blank line.
            while read_head_line(r)? != "\r\n" {}
            return Ok(());
        }
        let target = out.len() + size;
        read_exact_into(r, out, target)?;
        assert_eq!(read_head_line(r)?, "\r\n");
    }
}

fn read_head_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line)
}

enum Body {
    None,
    Fixed(Vec<u8>),
    Chunked(Vec<u8>),
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A keep-alive client connection.
struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            w: stream.try_clone()?,
            r: BufReader::new(stream),
        })
    }

    fn send(
        &mut self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        body: &Body,
    ) -> io::Result<()> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: s3.example:1234\r\n");
        for (n, v) in extra {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        match body {
            Body::None => {}
            Body::Fixed(b) => head.push_str(&format!("Content-Length: {}\r\n", b.len())),
            Body::Chunked(_) => head.push_str("Transfer-Encoding: chunked\r\n"),
        }
        head.push_str("\r\n");
        self.w.write_all(head.as_bytes())?;
        match body {
            Body::None => {}
            Body::Fixed(b) => self.w.write_all(b)?,
            Body::Chunked(b) => {
                for chunk in b.chunks(3000) {
                    write!(self.w, "{:X}\r\n", chunk.len())?;
                    self.w.write_all(chunk)?;
                    self.w.write_all(b"\r\n")?;
                }
                self.w.write_all(b"0\r\n\r\n")?;
            }
        }
        self.w.flush()
    }

    fn receive(&mut self, method: &str) -> io::Result<Resp> {
        loop {
            let head = read_head(&mut self.r)?.ok_or(io::ErrorKind::UnexpectedEof)?;
            let (start, headers) = parse_head(&head);
            let status: u16 = start[1].parse().unwrap();
            if status == 100 {
                continue;
            }
            let mut resp = Resp {
                status,
                headers,
                body: Vec::new(),
            };
            if method == "HEAD" || status == 204 {
                return Ok(resp);
            }
            if resp.header("transfer-encoding").is_some() {
                read_chunked(&mut self.r, &mut resp.body)?;
            } else {
                let n: usize = resp.header("content-length").unwrap().parse().unwrap();
                read_exact_into(&mut self.r, &mut resp.body, n)?;
            }
            return Ok(resp);
        }
    }

    fn request(&mut self, method: &str, path: &str, body: &Body) -> io::Result<Resp> {
        self.send(method, path, &[], body)?;
        self.receive(method)
    }

    fn get(&mut self, path: &str) -> io::Result<Resp> {
        self.request("GET", path, &Body::None)
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn setup() -> (Echo, FaultProxy) {
    let echo = Echo::start();
    let proxy = FaultProxy::start(echo.addr);
    (echo, proxy)
}

// ---------------------------------------------------------------------------------------------

#[test]
fn passes_every_byte_through_on_one_keep_alive_connection() {
    let (echo, proxy) = setup();
    let mut c = Client::connect(proxy.addr()).unwrap();

    let r = c.get("/b/hello?x=1").unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "hello /b/hello?x=1"));
    assert_eq!(
        r.header("x-echo-host"),
        Some("s3.example:1234"),
        "Host reaches the upstream unchanged"
    );

    let big = pattern(1 << 20);
    let r = c
        .request("PUT", "/b/objects/1", &Body::Fixed(big.clone()))
        .unwrap();
    assert_eq!(r.text(), format!("got {} bytes", big.len()));
    let r = c
        .request("PUT", "/b/objects/2", &Body::Chunked(pattern(10_000)))
        .unwrap();
    assert_eq!(r.text(), "got 10000 bytes");
    c.send(
        "PUT",
        "/b/objects/3",
        &[("Expect", "100-continue")],
        &Body::Fixed(pattern(500)),
    )
    .unwrap();
    assert_eq!(c.receive("PUT").unwrap().text(), "got 500 bytes");

    let r = c.request("HEAD", "/b/objects/1", &Body::None).unwrap();
    assert_eq!((r.status, r.header("content-length")), (200, Some("42")));
    let r = c.request("DELETE", "/b/objects/1", &Body::None).unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(c.get("/big/300000").unwrap().body, pattern(300_000));
    assert_eq!(c.get("/chunked/5500").unwrap().body, pattern(5500));
    let r = c
        .request("POST", "/b/objects/4?uploads", &Body::None)
        .unwrap();
    assert_eq!(r.text(), "got 0 bytes");

    let got = echo.got();
    assert_eq!(got.len(), 9);
    assert_eq!(got[1].body, big);
    assert_eq!(got[2].body, pattern(10_000));
    assert!(got.iter().all(|g| g.host == "s3.example:1234"));
    assert!(
        got.iter().all(|g| g.conn == 1),
        "one upstream connection for one client connection"
    );

    assert_eq!(proxy.forwarded(), 9);
    assert_eq!(proxy.faulted(), 0);
    assert_eq!(proxy.forwarded_by("GET"), 3);
    assert_eq!(proxy.forwarded_by("put"), 3);
    assert_eq!(proxy.forwarded_by("HEAD"), 1);
    assert_eq!(proxy.forwarded_by("DELETE"), 1);
    assert_eq!(proxy.forwarded_by("POST"), 1);
    assert_eq!(proxy.forwarded_matching("PUT", "/objects/"), 3);
    let seen = proxy.seen();
    assert_eq!(seen[0], ("GET".to_string(), "/b/hello?x=1".to_string()));
    assert_eq!(
        seen[8],
        ("POST".to_string(), "/b/objects/4?uploads".to_string())
    );

    // A second client connection gets its own upstream connection.
    let mut c2 = Client::connect(proxy.addr()).unwrap();
    assert_eq!(c2.get("/b/two").unwrap().header("x-echo-conn"), Some("2"));
    proxy.clear_log();
    assert_eq!(proxy.forwarded(), 0);
    assert_eq!(c.get("/b/again").unwrap().header("x-echo-conn"), Some("1"));
    assert_eq!(proxy.forwarded(), 1);
}

#[test]
fn refuse_closes_the_port_and_resume_reopens_it() {
    let (echo, proxy) = setup();
    let addr = proxy.addr();
    let mut old = Client::connect(addr).unwrap();
    assert_eq!(old.get("/b/1").unwrap().status, 200);

    proxy.refuse();
    assert!(proxy.is_refusing());
    assert_eq!(proxy.fault(), Fault::Refuse);
    let err = TcpStream::connect(addr).expect_err("the port refuses connections");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    assert!(old.get("/b/2").is_err(), "open connections are reset");

    proxy.resume();
    assert!(!proxy.is_refusing());
    assert_eq!(proxy.addr(), addr);
    let mut c = Client::connect(addr).unwrap();
    assert_eq!(c.get("/b/3").unwrap().status, 200);
    let paths: Vec<String> = echo.got().into_iter().map(|g| g.path).collect();
    assert_eq!(paths, ["/b/1", "/b/3"]);

    // Down and up again, twice in a row.
    proxy.refuse();
    proxy.refuse();
    assert!(TcpStream::connect(addr).is_err());
    proxy.resume();
    proxy.resume();
    assert_eq!(
        Client::connect(addr).unwrap().get("/b/4").unwrap().status,
        200
    );
}

#[test]
fn refuse_with_a_filter_goes_down_at_the_first_matching_request() {
    let (echo, proxy) = setup();
    proxy.set_fault_when(Fault::Refuse, Match::any().method("DELETE"));
    assert!(!proxy.is_refusing());
    let mut c = Client::connect(proxy.addr()).unwrap();
    let mut other = Client::connect(proxy.addr()).unwrap();
    assert_eq!(c.get("/b/1").unwrap().status, 200);
    assert_eq!(other.get("/b/2").unwrap().status, 200);
    assert!(c.request("DELETE", "/b/1", &Body::None).is_err());
    assert!(proxy.is_refusing());
    assert!(TcpStream::connect(proxy.addr()).is_err());
    assert!(other.get("/b/3").is_err(), "every open connection is reset");
    assert_eq!(echo.got().len(), 2, "the DELETE never reached the upstream");
    let log = proxy.log();
    assert_eq!(log[2].method, "DELETE");
    assert_eq!(log[2].outcome, Outcome::Refused);

    proxy.resume();
    let mut c = Client::connect(proxy.addr()).unwrap();
    assert_eq!(
        c.request("DELETE", "/b/1", &Body::None).unwrap().status,
        204
    );
}

#[test]
fn reset_mid_body_cuts_the_request_or_the_response() {
    let (echo, proxy) = setup();
    proxy.set_fault(Fault::ResetMidBody { after_bytes: 1000 });

    // A request body longer than after_bytes: the upstream gets 1000 bytes, then a reset.
    let mut c = Client::connect(proxy.addr()).unwrap();
    let put = c.request("PUT", "/b/objects/big", &Body::Fixed(pattern(200_000)));
    let err = put.expect_err("the upload is cut");
    assert_ne!(
        err.kind(),
        io::ErrorKind::WouldBlock,
        "a reset, not a timeout: {err}"
    );
    wait_until("the upstream sees the broken upload", || {
        !echo.partial().is_empty()
    });
    let (method, path, bytes) = echo.partial()[0].clone();
    assert_eq!((method.as_str(), path.as_str()), ("PUT", "/b/objects/big"));
    assert!(bytes <= 1000, "{bytes} body bytes reached the upstream");
    assert!(echo.got().is_empty());

    // The fault stays: a GET's response body is cut after 1000 bytes.
    let mut c = Client::connect(proxy.addr()).unwrap();
    assert!(c.get("/big/200000").is_err(), "the download is cut");
    // A chunked download too.
    let mut c = Client::connect(proxy.addr()).unwrap();
    assert!(c.get("/chunked/200000").is_err());
    // A response body within the limit arrives whole; the connection is reset after it.
    let mut c = Client::connect(proxy.addr()).unwrap();
    assert_eq!(c.get("/big/10").unwrap().body, pattern(10));
    assert!(c.get("/big/10").is_err());

    let outcomes: Vec<Outcome> = proxy.log().iter().map(|s| s.outcome).collect();
    assert_eq!(outcomes, [Outcome::ResetMidBody; 4]);
    assert_eq!(proxy.forwarded(), 0);

    proxy.set_fault(Fault::None);
    let mut c = Client::connect(proxy.addr()).unwrap();
    assert_eq!(c.get("/big/200000").unwrap().body, pattern(200_000));
    let r = c
        .request("PUT", "/b/objects/big", &Body::Fixed(pattern(200_000)))
        .unwrap();
    assert_eq!(r.text(), "got 200000 bytes");
}

#[test]
fn status_503_answers_without_forwarding_then_passes() {
    let (echo, proxy) = setup();
    proxy.set_fault(Fault::Status503 {
        count: 2,
        slow_down: true,
    });
    let mut c = Client::connect(proxy.addr()).unwrap();
    // The body of a refused PUT is read and dropped: the connection carries on.
    let r = c
        .request("PUT", "/b/objects/1", &Body::Fixed(pattern(50_000)))
        .unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("content-type"), Some("application/xml"));
    let text = r.text();
    assert!(text.contains("<Code>SlowDown</Code>"), "{text}");
    assert!(
        text.contains("<Message>Please reduce your request rate.</Message>"),
        "{text}"
    );
    assert!(text.contains("<Resource>/b/objects/1</Resource>"), "{text}");
    assert_eq!(
        proxy.fault(),
        Fault::Status503 {
            count: 1,
            slow_down: true
        }
    );
    let r = c
        .request("PUT", "/b/objects/2", &Body::Chunked(pattern(7000)))
        .unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(proxy.fault(), Fault::None);
    let r = c
        .request("PUT", "/b/objects/3", &Body::Fixed(pattern(10)))
        .unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "got 10 bytes"));
    assert_eq!(
        echo.got().len(),
        1,
        "only the third request reached the upstream"
    );
    assert_eq!(proxy.forwarded_by("PUT"), 1);
    assert_eq!(proxy.faulted(), 2);

    proxy.set_fault(Fault::Status503 {
        count: 1,
        slow_down: false,
    });
    let r = c.request("HEAD", "/b/objects/3", &Body::None).unwrap();
    assert_eq!(r.status, 503);
    assert!(r.body.is_empty());
    let r = c.get("/b/x").unwrap();
    assert_eq!(
        r.status, 200,
        "the HEAD's 503 carried no body to confuse the next response"
    );

    proxy.set_fault(Fault::Status503 {
        count: 1,
        slow_down: false,
    });
    let r = c.get("/b/x").unwrap();
    assert!(
        r.text().contains("<Code>ServiceUnavailable</Code>"),
        "{}",
        r.text()
    );
    // With Expect: 100-continue the proxy answers at once and ends the connection.
    proxy.set_fault(Fault::Status503 {
        count: 1,
        slow_down: true,
    });
    c.send(
        "PUT",
        "/b/objects/4",
        &[("Expect", "100-continue")],
        &Body::None,
    )
    .unwrap();
    let r = c.receive("PUT").unwrap();
    assert_eq!((r.status, r.header("connection")), (503, Some("close")));
}

#[test]
fn stall_holds_the_request_for_its_duration() {
    let (echo, proxy) = setup();
    let stall = Duration::from_millis(400);
    proxy.set_fault(Fault::Stall { duration: stall });

    // A client with a shorter timeout gives up; having closed, its request is never forwarded.
    let mut c = Client::connect(proxy.addr()).unwrap();
    c.w.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let err = c.get("/b/impatient").expect_err("the read times out");
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    drop(c);

    // A patient client gets its answer after the stall.
    let t0 = Instant::now();
    let mut c = Client::connect(proxy.addr()).unwrap();
    let r = c
        .request("PUT", "/b/objects/p", &Body::Fixed(pattern(100_000)))
        .unwrap();
    assert_eq!(r.text(), "got 100000 bytes");
    assert!(t0.elapsed() >= stall, "answered after {:?}", t0.elapsed());

    let paths: Vec<String> = echo.got().into_iter().map(|g| g.path).collect();
    assert_eq!(paths, ["/b/objects/p"]);
    assert_eq!(proxy.log().len(), 2);
    assert!(proxy.log().iter().all(|s| s.outcome == Outcome::Stalled));
}

#[test]
fn a_filter_picks_the_requests_a_fault_applies_to() {
    let (echo, proxy) = setup();
    let mut c = Client::connect(proxy.addr()).unwrap();
    proxy.set_fault_when(
        Fault::Status503 {
            count: 10,
            slow_down: true,
        },
        Match::any().method("put").path_contains("/objects/"),
    );
    assert_eq!(c.get("/b/objects/x").unwrap().status, 200);
    let r = c
        .request("PUT", "/b/other/x", &Body::Fixed(pattern(5)))
        .unwrap();
    assert_eq!(r.status, 200);
    let r = c
        .request("PUT", "/b/objects/x", &Body::Fixed(pattern(5)))
        .unwrap();
    assert_eq!(r.status, 503);

    // Only the 2nd request from now on.
    proxy.set_fault_when(
        Fault::Status503 {
            count: 100,
            slow_down: true,
        },
        Match::any().nth(2),
    );
    let statuses: Vec<u16> = (0..4)
        .map(|i| c.get(&format!("/b/{i}")).unwrap().status)
        .collect();
    assert_eq!(statuses, [200, 503, 200, 200]);
    assert_eq!(proxy.fault(), Fault::None);

    // Skip one matching PUT, then cut the next two.
    proxy.set_fault_when(
        Fault::ResetMidBody { after_bytes: 10 },
        Match::any().method("PUT").skip(1).times(2),
    );
    let put = |path: &str| {
        Client::connect(proxy.addr())
            .unwrap()
            .request("PUT", path, &Body::Fixed(pattern(1000)))
            .map(|r| r.status)
    };
    assert_eq!(put("/b/p1").unwrap(), 200);
    assert!(put("/b/p2").is_err());
    assert!(put("/b/p3").is_err());
    assert_eq!(put("/b/p4").unwrap(), 200);
    let puts: Vec<String> = echo
        .got()
        .into_iter()
        .filter(|g| g.method == "PUT")
        .map(|g| g.path)
        .collect();
    assert_eq!(puts, ["/b/other/x", "/b/p1", "/b/p4"]);
}

#[tokio::test]
async fn works_from_inside_a_tokio_runtime() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr) -> io::Result<String> {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"GET /b/async HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(out)
    }

    let (echo, proxy) = setup();
    let answer = get(proxy.addr()).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("hello /b/async"), "{answer}");
    proxy.refuse();
    assert!(get(proxy.addr()).await.is_err());
    proxy.resume();
    assert!(get(proxy.addr()).await.unwrap().ends_with("hello /b/async"));
    assert_eq!(echo.got().len(), 2);
    assert_eq!(echo.connections(), 2);
    drop(proxy);
}
