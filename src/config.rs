//! Daemon configuration: the command-line flags, their embedded defaults, and validation.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

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

/// Parses `512M`, `2G`, `1048576`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
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
            (t.get(..i).unwrap_or_default(), m)
        }
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("'{s}' is not a size in bytes (for example 512M or 2G)"))
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
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
    }
}
