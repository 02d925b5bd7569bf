//! The `backstop` binary: parses flags and runs the server until SIGINT or SIGTERM.

use std::process::ExitCode;

use clap::Parser;

use backstop::config::Config;

fn main() -> ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(msg) = config.validate() {
        eprintln!("backstop: {msg}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
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
