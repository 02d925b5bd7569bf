//! Daemon configuration: the command-line flags, their embedded defaults, an optional TOML
//! file holding any of them (`--config`), and validation.
//!
//! Precedence, highest first: a flag on the command line, its environment variable
//! (`BACKSTOP_ROOT_PASSWORD`), the config file, the built-in default.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};

/// A secret string (a password, a key). Its `Debug` and `Display` print `***`, so it cannot leak
/// into logs or error messages by accident.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for the one place that needs it (hashing, signing).
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_string()))
    }
}

/// backstop: protect table data with StarRocks' BACKUP and RESTORE statements over the MySQL
/// protocol.
#[derive(Debug, Clone, Parser)]
#[command(name = "backstop", version, about, long_about = None)]
pub struct Config {
    /// Folder holding the catalog and table data; created if missing.
    #[arg(long, value_name = "DIR", default_value = "./backstop-data")]
    pub data_dir: PathBuf,

    /// Address for MySQL clients. Port 0 picks a free port (the daemon prints the real one).
    /// Any address other than loopback requires a root password.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9030")]
    pub listen: SocketAddr,

    /// Password of the `root` user (empty by default, allowed only on loopback).
    #[arg(
        long,
        env = "BACKSTOP_ROOT_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub root_password: Option<Secret>,

    /// Most client connections served at once; further ones wait for a free slot.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,

    /// Memory all running queries together may use for sorts, joins and aggregates (bytes; K,
    /// M, G suffixes); a query that needs more fails instead of growing the daemon.
    #[arg(long, value_name = "BYTES", default_value = "512M", value_parser = parse_bytes)]
    pub query_memory_limit: u64,

    /// Lowest `timeout` a BACKUP or RESTORE job accepts, in seconds (StarRocks: 600). Tests
    /// lower it to reach the TIMEOUT path.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub min_job_timeout: u64,

    /// Lifetime of a running backup's lease and of a garbage-collection mark in a repository,
    /// in seconds; each is refreshed every tenth of it. Every server sharing a repository
    /// should use the same value. Tests lower it.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub lease_lifetime: u64,

    /// How often snapshots whose `ttl` has passed are dropped and unreferenced objects
    /// collected, in seconds (0: never in the background).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub snapshot_expiry_interval: u64,

    /// How often tables with dynamic partitioning get their partitions created ahead and
    /// dropped behind, in seconds (StarRocks' `dynamic_partition_check_interval_seconds`).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub dynamic_partition_interval: u64,

    /// How often tables' small rowset files are looked at and merged in the background, in
    /// seconds (0: never; `ALTER TABLE ... COMPACT` still merges on request).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub compaction_interval: u64,

    /// How log lines on stderr look: `text` for people, `json` (one object per line) for log
    /// collectors. `RUST_LOG` chooses how much is logged.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Serve Prometheus metrics over HTTP at `http://HOST:PORT/metrics` (off by default).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_listen: Option<SocketAddr>,

    /// A TOML file holding any of these flags as `key = value` (`data-dir = "/var/lib/backstop"`);
    /// flags given on the command line win over the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The `--log-format` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Why the daemon's configuration could not be read.
#[derive(Debug)]
pub enum ConfigError {
    /// A command-line error, or `--help` / `--version` (clap prints and exits).
    Args(clap::Error),
    /// The `--config` file is unreadable or holds something wrong.
    File(String),
}

impl Config {
    /// Reads the command line `args` (program name first) and the `--config` file it names.
    pub fn load<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let matches = Config::command()
            .try_get_matches_from(&args)
            .map_err(ConfigError::Args)?;
        let Some(path) = matches.get_one::<PathBuf>("config").cloned() else {
            return Config::from_arg_matches(&matches).map_err(ConfigError::Args);
        };
        let from_file = file_args(&path, &matches)?;
        // The file's settings go first, as flags; those the command line or the environment
        // set were left out, so nothing is given twice.
        let mut merged: Vec<OsString> = args.iter().take(1).cloned().collect();
        merged.extend(from_file.into_iter().map(OsString::from));
        merged.extend(args.into_iter().skip(1));
        Config::try_parse_from(merged).map_err(|e| {
            ConfigError::File(format!(
                "{}: {}",
                path.display(),
                e.render().to_string().trim()
            ))
        })
    }
}

/// The settings of the TOML file at `path` as `--key=value` flags, leaving out those the
/// command line or the environment already set.
fn file_args(path: &Path, matches: &clap::ArgMatches) -> Result<Vec<String>, ConfigError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::File(format!("cannot read the config file {shown}: {e}")))?;
    let doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| ConfigError::File(format!("{shown} is not valid TOML: {e}")))?;
    let command = Config::command();
    let known: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| a.get_long().is_some_and(|l| l != "config"))
        .collect();
    let mut out = Vec::new();
    for (key, item) in doc.iter() {
        let long = key.replace('_', "-");
        let Some(arg) = known.iter().find(|a| a.get_long() == Some(long.as_str())) else {
            let names: Vec<&str> = known.iter().filter_map(|a| a.get_long()).collect();
            return Err(ConfigError::File(format!(
                "{shown}: unknown key '{key}'; the keys are the flags' names: {}",
                names.join(", ")
            )));
        };
        let value = match item.as_value() {
            Some(toml_edit::Value::String(v)) => v.value().clone(),
            Some(toml_edit::Value::Integer(v)) => v.value().to_string(),
            Some(toml_edit::Value::Boolean(v)) => v.value().to_string(),
            Some(toml_edit::Value::Float(v)) => v.value().to_string(),
            _ => {
                return Err(ConfigError::File(format!(
                    "{shown}: key '{key}' must be a string, a number or a boolean"
                )));
            }
        };
        if matches!(
            matches.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        out.push(format!("--{long}={value}"));
    }
    Ok(out)
}

impl Config {
    /// `--lease-lifetime` in milliseconds.
    pub fn lease_lifetime_ms(&self) -> i64 {
        i64::try_from(self.lease_lifetime.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// Checks what clap cannot: a non-loopback address needs a root password.
    pub fn validate(&self) -> Result<(), String> {
        let has_password = self.root_password.as_ref().is_some_and(|p| !p.is_empty());
        if !self.listen.ip().is_loopback() && !has_password {
            return Err(format!(
                "refusing to listen on {} without a root password: anyone who reaches that \
                 address could log in as root. Set --root-password (or BACKSTOP_ROOT_PASSWORD), \
                 or listen on 127.0.0.1",
                self.listen
            ));
        }
        if self.lease_lifetime < 3 {
            return Err("--lease-lifetime must be at least 3 seconds".into());
        }
        if self.max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        Ok(())
    }
}

/// The one byte-size grammar, for flags and job properties alike: a number (`1048576`, `1.5`)
/// with an optional unit `K`, `M`, `G` or `T` (powers of 1024, any case), optionally followed
/// by `B` or `iB`: `512M`, `2G`, `50MB`, `512KiB`, `1.5g`. Fractions round down to whole bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let upper = s.trim().to_ascii_uppercase();
    let t = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => {
                    return Err(format!(
                        "unknown size suffix '{c}' in '{s}' (use K, M, G or T)"
                    ));
                }
            };
            (t.get(..i).unwrap_or_default().trim(), m)
        }
        _ => (t.trim(), 1),
    };
    let bad = || format!("'{s}' is not a size in bytes (for example 512M or 2G)");
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult).ok_or_else(bad);
    }
    match num.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => {
            let bytes = n * mult as f64;
            if bytes < u64::MAX as f64 {
                Ok(bytes as u64)
            } else {
                Err(bad())
            }
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("10"), Ok(10));
        assert!(parse_bytes("x").is_err());
        assert!(parse_bytes("5Q").is_err());
        assert_eq!(parse_bytes("2T"), Ok(2 << 40));
        assert_eq!(parse_bytes("50MB"), Ok(50 << 20));
        assert_eq!(parse_bytes("512kib"), Ok(512 << 10));
        assert_eq!(parse_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(parse_bytes("0"), Ok(0));
        assert!(parse_bytes("-1M").is_err());
        assert!(parse_bytes("NaN").is_err());
        assert!(parse_bytes("99999999T").is_err());
    }

    #[test]
    fn public_address_needs_password() {
        let c = Config::parse_from(["backstop", "--listen", "0.0.0.0:9030"]);
        assert!(c.validate().unwrap_err().contains("root password"));
        let c = Config::parse_from([
            "backstop",
            "--listen",
            "0.0.0.0:9030",
            "--root-password",
            "x",
        ]);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn file_settings_yield_to_flags_and_unknown_keys_are_named() {
        let dir = std::env::temp_dir().join(format!("backstop-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("backstop.toml");
        std::fs::write(
            &path,
            "data-dir = \"/srv/x\"\nmax_connections = 7\nlog-format = \"json\"\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let c = Config::load(["backstop", "--config", p, "--max-connections", "9"]).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/x"));
        assert_eq!(c.max_connections, 9);
        assert_eq!(c.log_format, LogFormat::Json);
        std::fs::write(&path, "data-dri = \"/srv/x\"\n").unwrap();
        let Err(ConfigError::File(msg)) = Config::load(["backstop", "--config", p]) else {
            panic!("an unknown key is refused");
        };
        assert!(msg.contains("unknown key 'data-dri'"), "{msg}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
    }
}
