//! The `backstop` binary: parses flags and runs the server until SIGINT or SIGTERM.

// The server's future nests every statement's future down to the store's retry loop; computing
// its layout goes deeper than rustc's default limit of 128.
#![recursion_limit = "256"]

use std::process::ExitCode;

use backstop::config::{Config, ConfigError, LogFormat};

/// jemalloc rather than glibc's malloc: a load keeps dozens of Parquet writers busy at once on
/// several threads, and glibc's per-thread arenas fragmented that into several times the live
/// memory (measured: a 48-tablet load of 250 MB peaked at 794 MiB with glibc, 527 MiB with one
/// arena).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Return freed pages to the system within 200 ms (jemalloc's default keeps them for ten seconds,
/// which made a load's resident memory half again its live memory).
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8] = b"dirty_decay_ms:200,muzzy_decay_ms:0\0";

fn main() -> ExitCode {
    let config = match Config::load(std::env::args_os()) {
        Ok(c) => c,
        Err(ConfigError::Args(e)) => e.exit(),
        Err(ConfigError::File(msg)) => {
            eprintln!("backstop: {msg}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal: a log file or journald gets plain text.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    if let Err(msg) = config.validate() {
        eprintln!("backstop: {msg}");
        return ExitCode::from(2);
    }
    raise_open_files_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Room for the deepest statement the parser lets through (sql::MAX_OPERATOR_CHAIN):
        // its expression tree is walked recursively. Only the pages touched are resident.
        .thread_stack_size(backstop::server::THREAD_STACK)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("backstop: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(backstop::server::run_until_signal(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backstop: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Raises the soft limit of open files to the hard one, as database servers do: queries over
/// tables of many rowsets, with many clients, hold thousands of files open at once (a default
/// soft limit of 1024 would fail them).
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => tracing::debug!(limit = ?limit.maximum, "raised the open files limit"),
            Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
        }
    }
    let now = getrlimit(Resource::Nofile).current;
    if now.is_some_and(|n| n < 8192) {
        tracing::warn!(
            limit = ?now,
            "the open files limit is low: many clients querying tables of many rowsets may fail \
             with 'Too many open files'; raise it (ulimit -n, LimitNOFILE= in systemd)"
        );
    }
}
