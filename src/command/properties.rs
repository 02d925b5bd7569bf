//! The properties of BACKUP and RESTORE statements ([`JobProperties`]), and the value grammars
//! that other statements' properties share (`parallel`, booleans, byte sizes, `ttl`).

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::scheduler::JobKind;

/// Checked BACKUP / RESTORE properties.
pub struct JobProperties {
    pub timeout_s: u64,
    /// backstop's `parallel` and `max_bandwidth`.
    pub transfer: crate::scheduler::TransferSettings,
    pub ttl: Option<String>,
    pub ttl_ms: Option<i64>,
    pub backup_timestamp: Option<String>,
    pub replication_num: Option<u32>,
    pub allow_load: bool,
    /// RESTORE: report what the restore would do, change nothing.
    pub dry_run: bool,
    /// RESTORE `reserve_dynamic_partition_enable`: restored tables keep dynamic partitioning on
    /// (by default it is turned off, so the first round does not drop old restored partitions).
    pub reserve_dynamic: bool,
    /// backstop's `sync`: the statement waits for the job to end ([`super::job_status::wait_for_job`]).
    pub sync: bool,
}

impl JobProperties {
    pub fn parse(engine: &Engine, props: &[(String, String)], kind: JobKind) -> Result<Self> {
        let mut out = JobProperties {
            timeout_s: 86_400,
            transfer: crate::scheduler::TransferSettings::default(),
            ttl: None,
            ttl_ms: None,
            backup_timestamp: None,
            replication_num: None,
            allow_load: false,
            dry_run: false,
            reserve_dynamic: false,
            sync: false,
        };
        let mut unknown = Vec::new();
        for (key, value) in props {
            match (kind, key.as_str()) {
                (_, "timeout") => {
                    let secs: u64 = value
                        .trim()
                        .parse()
                        .map_err(|_| Error::Common(format!("Invalid timeout format: {value}")))?;
                    let min = engine.config.min_job_timeout;
                    if secs < min {
                        return Err(Error::Common(if min == 600 {
                            "timeout must be at least 10 min".to_string()
                        } else {
                            format!("timeout must be at least {min} s")
                        }));
                    }
                    out.timeout_s = secs;
                }
                (_, "parallel") => out.transfer.parallel = parse_parallel(value)?,
                (JobKind::Backup, "part_size") => {
                    out.transfer.part_size = parse_bytes(value)
                        .filter(|n| (crate::repo::s3::MIN_PART_SIZE..=(1 << 30)).contains(n))
                        .ok_or_else(|| {
                            Error::Common(format!(
                                "Invalid part_size: '{value}'; give the S3 multipart part size, 5M to 1G"
                            ))
                        })?;
                }
                (_, "max_bandwidth") => {
                    out.transfer.max_bandwidth = Some(parse_bytes(value).ok_or_else(|| {
                        Error::Common(format!(
                            "Invalid max_bandwidth: '{value}'; give bytes per second, such as '50M' or '1G'"
                        ))
                    })?);
                }
                (_, "sync") => out.sync = parse_bool(key, value)?,
                (JobKind::Backup, "type") => match value.to_ascii_lowercase().as_str() {
                    // Every backstop backup is incremental by content, and each restores alone.
                    "full" | "incremental" => {}
                    _ => return Err(Error::Common(format!("Invalid backup job type: {value}"))),
                },
                (JobKind::Backup, "ttl") => {
                    if !value.trim().is_empty() {
                        out.ttl_ms = Some(parse_ttl(value)?);
                        out.ttl = Some(value.trim().to_string());
                    }
                }
                (JobKind::Restore, "backup_timestamp") => {
                    out.backup_timestamp = Some(value.clone())
                }
                (JobKind::Restore, "replication_num") => {
                    out.replication_num = Some(value.trim().parse().map_err(|_| {
                        Error::Common(format!("Invalid meta version format: {value}"))
                    })?)
                }
                (JobKind::Restore, "allow_load") => {
                    out.allow_load = match value.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(Error::Common(format!(
                                "Invalid allow load value: {value}"
                            )));
                        }
                    }
                }
                (JobKind::Restore, "dry_run") => out.dry_run = parse_bool(key, value)?,
                (JobKind::Restore, "reserve_dynamic_partition_enable") => {
                    out.reserve_dynamic = parse_bool(key, value)?
                }
                (JobKind::Restore, "meta_version" | "starrocks_meta_version") => {}
                _ => unknown.push(key.clone()),
            }
        }
        if !unknown.is_empty() {
            return Err(Error::Common(format!(
                "Unknown {} job properties: [{}]",
                if kind == JobKind::Backup {
                    "backup"
                } else {
                    "restore"
                },
                unknown.join(", ")
            )));
        }
        Ok(out)
    }
}

/// The `parallel` property: objects moved (or read) at once, 1 to 64.
pub fn parse_parallel(value: &str) -> Result<usize> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=64).contains(n))
        .ok_or_else(|| {
            Error::Common(format!(
                "Invalid parallel: '{value}'; give the number of objects to move at once, 1 to 64"
            ))
        })
}

/// `"true"` / `"false"` of a boolean property.
pub fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::Common(format!(
            "Invalid {key} value: '{value}'; use \"true\" or \"false\""
        ))),
    }
}

/// A positive byte size in the one grammar of [`crate::config::parse_bytes`] (`50M`, `1.5G`,
/// `512KiB`); `None` when it is not one, or zero.
fn parse_bytes(value: &str) -> Option<u64> {
    crate::config::parse_bytes(value).ok().filter(|n| *n > 0)
}

/// `7 DAY`, `12 HOUR`, `30 MINUTE`, `1 WEEK` (singular or plural) → milliseconds.
fn parse_ttl(value: &str) -> Result<i64> {
    let bad = || {
        Error::Common(format!(
            "Invalid ttl: '{value}'. Expected a duration such as '7 DAY' or '12 HOUR', or an empty value to keep the snapshot forever"
        ))
    };
    let mut parts = value.split_whitespace();
    let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let n: i64 = n.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(Error::Common(format!(
            "ttl must be a positive duration, but got: {value}"
        )));
    }
    let unit_ms: i64 = match unit.to_ascii_uppercase().trim_end_matches('S') {
        "SECOND" => 1_000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => 86_400_000,
        "WEEK" => 7 * 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(unit_ms).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_durations() {
        assert_eq!(parse_ttl("7 DAY").unwrap(), 7 * 86_400_000);
        assert_eq!(parse_ttl("12 hours").unwrap(), 12 * 3_600_000);
        assert!(parse_ttl("7").is_err());
        assert!(parse_ttl("0 DAY").is_err());
        assert!(parse_ttl("2 FORTNIGHT").is_err());
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("1048576"), Some(1 << 20));
        assert_eq!(parse_bytes("50M"), Some(50 << 20));
        assert_eq!(parse_bytes("1.5g"), Some(3 << 29));
        assert_eq!(parse_bytes("512KiB"), Some(512 << 10));
        assert_eq!(parse_bytes("0"), None);
        assert_eq!(parse_bytes("fast"), None);
    }
}
