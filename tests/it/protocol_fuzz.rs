//! Protocol robustness: garbage on raw TCP connections (random bytes, garbled and truncated
//! handshake responses, random command packets after a valid login, bad length headers) and
//! random SQL text through a real client. After every connection the daemon must still be
//! alive and answer `SELECT 1` on a fresh, proper connection.
//!
//! The raw test runs for a bounded time (`BACKSTOP_FUZZ_SECS`, default 20 s): a fixed seed
//! first, then a random one (printed; `BACKSTOP_FUZZ_SEED` replays it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::Shutdown;
use std::time::{Duration, Instant};

use common::raw::{self, COM_QUERY, COM_STMT_EXECUTE, COM_STMT_PREPARE, RawConn};
use common::{TestDaemon, assert_select_1};
use mysql_async::prelude::Queryable;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

const FIXED_SEED: u64 = 0xB4C5_70B0_2026_1125;
const FIXED_ITERATIONS: usize = 150;
const IO_TIMEOUT: Duration = Duration::from_secs(3);
/// How long to wait for an answer to a garbage packet before sending the next one.
const ANSWER_WAIT: Duration = Duration::from_millis(100);

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}"))
    })
}

fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let len = rng.random_range(0..=max);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

/// Reads and discards what the server sends: waits up to `wait` for a first byte, then keeps
/// reading while more arrives quickly. Returns how it ended: "answered" (data, connection still
/// open), "answered, closed", "closed" (EOF without data), "silent" (nothing within `wait`) or
/// "reset".
fn drain(conn: &mut RawConn, wait: Duration) -> &'static str {
    conn.stream.set_read_timeout(Some(wait)).unwrap();
    let mut got_data = false;
    let mut buf = [0u8; 4096];
    loop {
        match conn.stream.read(&mut buf) {
            Ok(0) if got_data => return "answered, closed",
            Ok(0) => return "closed",
            Ok(_) => {
                if !got_data {
                    got_data = true;
                    conn.stream
                        .set_read_timeout(Some(Duration::from_millis(20)))
                        .unwrap();
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return if got_data { "answered" } else { "silent" };
            }
            Err(_) => return "reset",
        }
    }
}

/// Case: bytes that are not a handshake response at all (sometimes before reading the
/// greeting).
fn case_random_bytes(conn: &mut RawConn, rng: &mut StdRng) -> &'static str {
    if rng.random_bool(0.7) && conn.read_greeting().is_err() {
        return "no greeting";
    }
    let max = if rng.random_bool(0.05) { 1 << 20 } else { 2048 };
    let bytes = random_bytes(rng, max);
    let _ = conn.write_raw(&bytes);
    if rng.random_bool(0.5) {
        let _ = conn.stream.shutdown(Shutdown::Write);
    }
    drain(conn, ANSWER_WAIT)
}

/// Case: a HandshakeResponse41 that is truncated, has flipped bytes, a lying length header or
/// a wrong sequence id.
fn case_garbled_handshake(conn: &mut RawConn, rng: &mut StdRng) -> &'static str {
    let Ok(greeting) = conn.read_greeting() else {
        return "no greeting";
    };
    let mut resp = raw::handshake_response(&greeting.scramble, "root", "");
    let mut seq = 1u8;
    let mut header_len: Option<u32> = None;
    match rng.random_range(0..6) {
        0 => {
            let cut = rng.random_range(0..resp.len());
            resp.truncate(cut);
        }
        1 => {
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..resp.len());
                resp[i] = rng.random();
            }
        }
        2 => {
            // The header promises more (or far more) than is sent.
            let extra = if rng.random_bool(0.5) {
                0x00FF_FFFF
            } else {
                rng.random_range(1..4096)
            };
            header_len = Some((resp.len() as u32 + extra).min(0x00FF_FFFF));
        }
        3 => seq = rng.random(),
        4 => {
            // Lengths inside the packet that point past its end: user without NUL, huge
            // auth-response length, plugin name cut.
            let user_end = 32 + 4; // after the fixed part and "root"
            resp.truncate(user_end);
            resp.push(0);
            resp.push(0xFF);
            resp.extend_from_slice(&random_bytes(rng, 16));
        }
        _ => {
            let cut = rng.random_range(0..resp.len());
            resp.truncate(cut);
            resp.extend_from_slice(&random_bytes(rng, 64));
        }
    }
    let len = header_len.unwrap_or(resp.len() as u32);
    let mut packet = len.to_le_bytes()[..3].to_vec();
    packet.push(seq);
    packet.extend_from_slice(&resp);
    let _ = conn.write_raw(&packet);
    if rng.random_bool(0.5) {
        let _ = conn.stream.shutdown(Shutdown::Write);
    }
    drain(conn, ANSWER_WAIT)
}

/// Prepares `sql` on a logged-in raw connection; returns the statement id.
fn prepare(conn: &mut RawConn, sql: &str) -> Option<u32> {
    conn.command(COM_STMT_PREPARE, sql.as_bytes()).ok()?;
    let first = conn.read_packet().ok()?;
    if !first.is_ok() || first.payload.len() < 9 {
        return None;
    }
    let p = &first.payload;
    let id = u32::from_le_bytes([p[1], p[2], p[3], p[4]]);
    let columns = u16::from_le_bytes([p[5], p[6]]) as usize;
    let params = u16::from_le_bytes([p[7], p[8]]) as usize;
    let follow =
        if params > 0 { params + 1 } else { 0 } + if columns > 0 { columns + 1 } else { 0 };
    for _ in 0..follow {
        conn.read_packet().ok()?;
    }
    Some(id)
}

/// Case: a proper login, then 1..8 garbage command packets.
fn case_garbage_commands(conn: &mut RawConn, rng: &mut StdRng) -> &'static str {
    match conn.handshake("") {
        Ok((_, answer)) if answer.is_ok() => {}
        Ok(_) => return "login refused",
        Err(_) => return "login failed",
    }
    let stmt = if rng.random_bool(0.3) {
        prepare(conn, "SELECT CONCAT(?, 'x')")
    } else {
        None
    };
    let mut outcome = "silent";
    for _ in 0..rng.random_range(1..=8) {
        let sent = match rng.random_range(0..10) {
            0 | 1 => {
                // Any command byte with a random payload.
                let cmd: u8 = rng.random();
                let payload = random_bytes(rng, 512);
                conn.command(cmd, &payload)
            }
            2 => {
                // Zero-length packet.
                conn.seq = 0;
                conn.write_raw(&[0, 0, 0, 0])
            }
            3 => {
                // Length header far beyond what follows.
                let len: u32 = if rng.random_bool(0.5) {
                    0x00FF_FFFF
                } else {
                    rng.random_range(600..0x00FF_FFFF)
                };
                let mut p = len.to_le_bytes()[..3].to_vec();
                p.push(0);
                p.push(COM_QUERY);
                p.extend_from_slice(&random_bytes(rng, 512));
                let r = conn.write_raw(&p);
                let _ = conn.stream.shutdown(Shutdown::Write);
                r
            }
            4 => {
                // COM_STMT_EXECUTE: a real statement id (when prepared) or a random one, with
                // a garbled parameter block.
                let id = match stmt {
                    Some(id) if rng.random_bool(0.7) => id,
                    _ => rng.random(),
                };
                let mut payload = id.to_le_bytes().to_vec();
                payload.push(rng.random_range(0..4)); // flags
                payload.extend_from_slice(&1u32.to_le_bytes());
                payload.extend_from_slice(&random_bytes(rng, 64));
                conn.command(COM_STMT_EXECUTE, &payload)
            }
            5 => {
                // COM_STMT_PREPARE of random text.
                let payload = random_bytes(rng, 256);
                conn.command(COM_STMT_PREPARE, &payload)
            }
            6 => {
                // COM_QUERY of random bytes (sometimes 1 MiB).
                let max = if rng.random_bool(0.05) { 1 << 20 } else { 512 };
                let payload = random_bytes(rng, max);
                conn.command(COM_QUERY, &payload)
            }
            7 => {
                // A command packet with a wrong sequence id.
                let mut p = vec![5, 0, 0, rng.random_range(1..=255), COM_QUERY];
                p.extend_from_slice(b"SEL1");
                conn.write_raw(&p)
            }
            8 => {
                // Known commands with short/garbled payloads: INIT_DB, FIELD_LIST,
                // STMT_CLOSE, STMT_RESET, STMT_SEND_LONG_DATA, STMT_FETCH, CHANGE_USER,
                // SET_OPTION, PING, STATISTICS, PROCESS_KILL.
                const CMDS: [u8; 11] = [
                    0x02, 0x04, 0x19, 0x1A, 0x18, 0x1C, 0x11, 0x1B, 0x0E, 0x09, 0x0C,
                ];
                let cmd = CMDS[rng.random_range(0..CMDS.len())];
                let payload = random_bytes(rng, 16);
                conn.command(cmd, &payload)
            }
            _ => {
                // Raw bytes in the middle of the command phase.
                let bytes = random_bytes(rng, 256);
                conn.write_raw(&bytes)
            }
        };
        if sent.is_err() {
            return "write failed";
        }
        outcome = drain(conn, ANSWER_WAIT);
        if !matches!(outcome, "answered" | "silent") {
            break;
        }
    }
    outcome
}

/// A fresh, proper connection still answers `SELECT 1`, and the process is alive.
fn check_healthy(daemon: &mut TestDaemon, rt: &tokio::runtime::Runtime, context: &str) {
    daemon.assert_alive(context);
    let result = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), async {
            let mut conn = mysql_async::Conn::new(daemon.opts()).await?;
            let v: Option<i64> = conn.query_first("SELECT 1").await?;
            conn.disconnect().await?;
            Ok::<_, mysql_async::Error>(v)
        })
        .await
    });
    match result {
        Ok(Ok(Some(1))) => {}
        Ok(Ok(other)) => panic!("SELECT 1 returned {other:?} {context}"),
        Ok(Err(e)) => panic!("SELECT 1 on a fresh connection failed {context}: {e}"),
        Err(_) => panic!("SELECT 1 on a fresh connection timed out {context}"),
    }
}

#[test]
fn raw_garbage_never_kills_the_daemon() {
    let mut daemon = TestDaemon::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let budget = Duration::from_secs(env_u64("BACKSTOP_FUZZ_SECS").unwrap_or(20));
    let random_seed = env_u64("BACKSTOP_FUZZ_SEED").unwrap_or_else(|| rand::rng().random());
    println!(
        "fuzz: fixed seed {FIXED_SEED:#x} for {FIXED_ITERATIONS} connections, then seed \
         {random_seed} (BACKSTOP_FUZZ_SEED={random_seed} replays it) for the rest of {budget:?}"
    );
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(FIXED_SEED);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut iteration = 0usize;
    // Every case kind runs at least once even when the budget is tiny.
    while iteration < 3 || started.elapsed() < budget {
        if iteration == FIXED_ITERATIONS {
            rng = StdRng::seed_from_u64(random_seed);
        }
        let seed_name = if iteration < FIXED_ITERATIONS {
            "fixed"
        } else {
            "random"
        };
        let kind = if iteration < 3 {
            iteration
        } else {
            rng.random_range(0..3)
        };
        let mut conn = RawConn::connect(daemon.addr(), IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect #{iteration}: {e}"));
        let (name, outcome) = match kind {
            0 => ("random bytes", case_random_bytes(&mut conn, &mut rng)),
            1 => (
                "garbled handshake",
                case_garbled_handshake(&mut conn, &mut rng),
            ),
            _ => (
                "garbage commands",
                case_garbage_commands(&mut conn, &mut rng),
            ),
        };
        drop(conn);
        *outcomes.entry(format!("{name}: {outcome}")).or_default() += 1;
        check_healthy(
            &mut daemon,
            &rt,
            &format!("after connection #{iteration} ({name}, {seed_name} seed)"),
        );
        iteration += 1;
    }
    println!("fuzz: {iteration} connections in {:.1?}", started.elapsed());
    for (what, n) in &outcomes {
        println!("fuzz:   {n:5}  {what}");
    }
}

/// COM_STMT_EXECUTE with a statement id that was never prepared gets an ERR packet and the
/// connection stays usable.
#[test]
fn execute_of_unknown_statement_id_is_an_error() {
    let daemon = TestDaemon::start();
    let mut conn =
        RawConn::login(daemon.addr(), "", IO_TIMEOUT).unwrap_or_else(|e| panic!("raw login: {e}"));
    let mut payload = 0xDEAD_BEEFu32.to_le_bytes().to_vec();
    payload.push(0);
    payload.extend_from_slice(&1u32.to_le_bytes());
    conn.command(COM_STMT_EXECUTE, &payload).unwrap();
    let answer = conn.read_packet().unwrap_or_else(|e| {
        panic!("no answer to EXECUTE of an unknown id (connection dropped?): {e}")
    });
    assert!(
        answer.is_err(),
        "expected an ERR packet, got {:?}",
        answer.payload
    );
    println!(
        "EXECUTE of unknown id: error {:?} {}",
        answer.err_code(),
        String::from_utf8_lossy(&answer.payload[3..])
    );
    let packets = conn
        .query(b"SELECT 1")
        .unwrap_or_else(|e| panic!("SELECT 1 after the error: {e}"));
    assert!(
        !packets[0].is_err(),
        "SELECT 1 after the error: {:?}",
        packets[0]
    );
    // The row packet holds the text "1" (lenenc string 0x01 '1').
    assert!(
        packets.iter().any(|p| p.payload == [1, b'1']),
        "SELECT 1 result packets: {packets:?}"
    );
}

/// Tokens that make random statements look like SQL often enough to reach the parser and
/// planner, not only the tokenizer.
const TOKENS: &[&str] = &[
    "SELECT",
    "1",
    "'a'",
    "CONCAT(",
    ")",
    "(",
    ",",
    ";",
    "--",
    "/*",
    "*/",
    "'",
    "\"",
    "`",
    "\\",
    "@@version_comment",
    "@@max_allowed_packet",
    "@x",
    "NULL",
    "NOW()",
    "FROM",
    "WHERE",
    "LIMIT",
    "9999999999999999999999999",
    "-",
    "+",
    "*",
    "/",
    "0",
    "1e308",
    "SHOW",
    "VARIABLES",
    "LIKE",
    "'x%'",
    "SET",
    "NAMES",
    "utf8mb4",
    "autocommit",
    "=",
    "BACKUP",
    "SNAPSHOT",
    "RESTORE",
    "REPOSITORY",
    "db.s",
    "TO",
    "ON",
    "LOCATION",
    "\"file:///tmp/x\"",
    "CREATE",
    "DROP",
    "USE",
    "DATABASE()",
    "WARNINGS",
    "CAST(",
    "AS",
    "CHAR",
    "🦀",
    "é",
    "😀😀",
    "\u{0}",
    "\u{FEFF}",
    "?",
    "UNION",
    "ALL",
    "CASE",
    "WHEN",
    "THEN",
    "END",
    "x'FF'",
    "_utf8mb4",
];

/// A MySQL string literal holding `s`.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// Statements that are mostly valid, with random text in their literals and identifiers, so the
/// result path (not only the parser's error path) sees emoji, NUL and odd characters.
fn well_formed_sql() -> impl Strategy<Value = Vec<u8>> {
    let text = ".{0,40}";
    prop_oneof![
        text.prop_map(|a| format!("SELECT {}", quoted(&a)).into_bytes()),
        (text, text).prop_map(
            |(a, b)| format!("SELECT CONCAT({}, {})", quoted(&a), quoted(&b)).into_bytes()
        ),
        (any::<i64>(), any::<i32>()).prop_map(|(a, b)| format!("SELECT {a} + {b}").into_bytes()),
        (any::<i64>(), any::<i64>()).prop_map(|(a, b)| format!("SELECT {a} * {b}").into_bytes()),
        any::<f64>().prop_map(|a| format!("SELECT {a:e}").into_bytes()),
        (text, "[^`]{1,20}")
            .prop_map(|(a, id)| { format!("SELECT {} AS `{id}`", quoted(&a)).into_bytes() }),
        text.prop_map(|a| format!("SHOW VARIABLES LIKE {}", quoted(&a)).into_bytes()),
        text.prop_map(
            |a| format!("SELECT LENGTH({}), UPPER({})", quoted(&a), quoted(&a)).into_bytes()
        ),
        // Invalid UTF-8 inside a string literal.
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(|b| {
            let mut v = b"SELECT '".to_vec();
            v.extend(b.into_iter().filter(|c| *c != b'\'' && *c != b'\\'));
            v.push(b'\'');
            v
        }),
    ]
}

/// A flat chain of `n` terms of one operator, or an `IN` list of `n` values: short ones get a
/// result, those past the documented limit (sql::MAX_OPERATOR_CHAIN) a clear error.
fn chain(op: &str, n: usize) -> String {
    match op {
        "IN" => {
            let values: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            format!("SELECT 1 WHERE 7 IN ({})", values.join(","))
        }
        "||" => format!("SELECT {}", vec!["'a'"; n].join("||")),
        "+" => format!("SELECT {}", vec!["1"; n].join("+")),
        op => format!("SELECT 1 WHERE {}", vec!["TRUE"; n].join(op)),
    }
}

fn long_chains() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::sample::select(vec!["+", " AND ", " OR ", "||", "IN"]),
        proptest::sample::select(vec![2usize, 300, 10_000, 100_000]),
    )
        .prop_map(|(op, n)| chain(op, n).into_bytes())
}

fn sql_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = proptest::sample::select(TOKENS);
    prop_oneof![
        // Well-formed statements with random literals.
        3 => well_formed_sql(),
        // Long flat operator chains and IN lists.
        1 => long_chains(),
        // Any Unicode text (emoji included).
        1 => ".{0,80}".prop_map(String::into_bytes),
        // Token soup.
        2 => proptest::collection::vec(token.clone(), 0..16)
            .prop_map(|t| t.join(" ").into_bytes()),
        // Arbitrary bytes (mostly invalid UTF-8).
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        // Tokens followed by invalid UTF-8.
        1 => (
            proptest::collection::vec(token, 1..8),
            proptest::collection::vec(0x80u8..=0xFF, 1..8),
        )
            .prop_map(|(t, b)| {
                let mut v = t.join(" ").into_bytes();
                v.extend(b);
                v
            }),
    ]
}

/// Random SQL text (emoji, NUL, invalid UTF-8) through mysql_async's COM_QUERY always gets a
/// result or a server error, and the connection still runs `SELECT 1` afterwards.
#[test]
fn random_sql_gets_a_result_or_an_error() {
    let daemon = TestDaemon::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let conn = RefCell::new(Some(rt.block_on(daemon.conn())));
    let stats = RefCell::new(BTreeMap::<String, usize>::new());
    let strategy = sql_bytes();
    let test = |sql: Vec<u8>| -> Result<(), TestCaseError> {
        let mut slot = conn.borrow_mut();
        let c = match slot.as_mut() {
            Some(c) => c,
            None => slot.insert(rt.block_on(daemon.conn())),
        };
        let outcome = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(20),
                c.query::<mysql_async::Row, _>(sql.as_slice()),
            )
            .await
        });
        let label = match outcome {
            Ok(Ok(_)) => "result".to_string(),
            Ok(Err(mysql_async::Error::Server(e))) => format!("error {}", e.code),
            Ok(Err(e)) => {
                *slot = None;
                return Err(TestCaseError::fail(format!(
                    "{:?}: not a result or a server error: {e}",
                    String::from_utf8_lossy(&sql)
                )));
            }
            Err(_) => {
                *slot = None;
                return Err(TestCaseError::fail(format!(
                    "{:?}: no answer within 20 s",
                    String::from_utf8_lossy(&sql)
                )));
            }
        };
        *stats.borrow_mut().entry(label).or_default() += 1;
        let after = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), c.query_first::<i64, _>("SELECT 1")).await
        });
        match after {
            Ok(Ok(Some(1))) => Ok(()),
            other => {
                *slot = None;
                Err(TestCaseError::fail(format!(
                    "{:?}: SELECT 1 afterwards on the same connection: {other:?}",
                    String::from_utf8_lossy(&sql)
                )))
            }
        }
    };
    let config = |cases| Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    // A fixed seed first (reproducible), then a random one.
    let mut fixed = TestRunner::new_with_rng(
        config(800),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let mut random = TestRunner::new(config(400));
    for (name, runner) in [("fixed", &mut fixed), ("random", &mut random)] {
        if let Err(e) = runner.run(&strategy, test) {
            panic!("random SQL ({name} seed) failed: {e}");
        }
    }
    println!("random SQL outcomes: {:?}", stats.borrow());
    let mut c = conn.borrow_mut().take().unwrap();
    rt.block_on(async {
        assert_select_1(&mut c).await;
        c.disconnect().await.unwrap();
    });
}

/// Flat chains of 10,000 and 100,000 terms of each operator, and IN lists as long, through a
/// real client: each gets a result or the documented "too complex" error (1064), and the same
/// connection answers the next statement. A 2,000-term OR filter (what an ORM writes) runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_chains_get_a_result_or_a_clear_error() {
    let daemon = TestDaemon::start();
    let mut c = daemon.conn().await;
    for n in [10_000, 100_000] {
        for op in ["+", " AND ", " OR ", "||"] {
            let (code, _, message) = common::server_err(&mut c, &chain(op, n)).await;
            assert_eq!(code, 1064, "{op} x {n}: {message}");
            assert!(
                message.contains("Statement too complex"),
                "{op} x {n}: {message}"
            );
            assert_select_1(&mut c).await;
        }
        let found: Option<i64> = c.query_first(chain("IN", n)).await.unwrap();
        assert_eq!(found, Some(1), "IN list of {n}");
        assert_select_1(&mut c).await;
    }
    common::exec(&mut c, "CREATE DATABASE h").await;
    common::exec(
        &mut c,
        "CREATE TABLE h.t (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 2",
    )
    .await;
    common::exec(&mut c, "INSERT INTO h.t VALUES (0), (5), (1999), (2000)").await;
    let filter: Vec<String> = (0..2000).map(|i| format!("id={i}")).collect();
    let sql = format!("SELECT COUNT(*) FROM h.t WHERE {}", filter.join(" OR "));
    let count: Option<i64> = c.query_first(sql).await.unwrap();
    assert_eq!(count, Some(3));
    assert_select_1(&mut c).await;
    c.disconnect().await.unwrap();
}
