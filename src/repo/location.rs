//! Repository locations: `s3a://bucket/prefix`, `s3://bucket/prefix`, `file:///absolute/path`.
//!
//! Normalized before use and comparison (DESIGN.md): `s3a://` and `s3://` are the same, and a
//! trailing `/` is dropped, so the same bucket and prefix written either way is one location.

use std::fmt;
use std::path::PathBuf;

/// A parsed, normalized location.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// A bucket and a key prefix without leading or trailing `/` (may be empty).
    S3 { bucket: String, prefix: String },
    /// An absolute local folder.
    File(PathBuf),
}

/// The schemes a location may use, for messages.
pub const ACCEPTED_SCHEMES: &str =
    "s3a://bucket/prefix, s3://bucket/prefix or file:///absolute/path";

impl Location {
    /// Parses a location as written in `CREATE REPOSITORY`. The error says what to fix.
    pub fn parse(text: &str) -> Result<Location, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("You must specify a location on the repository".to_string());
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(format!(
                "Invalid repository location '{text}': it has no scheme; use {ACCEPTED_SCHEMES}"
            ));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "s3" | "s3a" => {
                let rest = rest.trim_matches('/');
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if !valid_bucket(bucket) {
                    return Err(format!(
                        "Invalid repository location '{text}': '{bucket}' is not a valid bucket \
                         name (3 to 63 lowercase letters, digits, '.', '-' or '_')"
                    ));
                }
                let prefix = prefix.trim_matches('/');
                if prefix.split('/').any(|s| s == "." || s == "..") || prefix.contains("//") {
                    return Err(format!(
                        "Invalid repository location '{text}': the path must not contain empty, \
                         '.' or '..' segments"
                    ));
                }
                Ok(Location::S3 {
                    bucket: bucket.to_string(),
                    prefix: prefix.to_string(),
                })
            }
            "file" => {
                if !rest.starts_with('/') {
                    return Err(format!(
                        "Invalid repository location '{text}': a file location needs an \
                         absolute path, as in file:///var/backups"
                    ));
                }
                let trimmed = rest.trim_end_matches('/');
                let path = if trimmed.is_empty() { "/" } else { trimmed };
                if path.split('/').any(|s| s == "." || s == "..") {
                    return Err(format!(
                        "Invalid repository location '{text}': the path must not contain '.' \
                         or '..' segments"
                    ));
                }
                Ok(Location::File(PathBuf::from(path)))
            }
            other => Err(format!(
                "Invalid repository location '{text}': scheme '{other}://' is not supported; \
                 use {ACCEPTED_SCHEMES}"
            )),
        }
    }

    pub fn is_s3(&self) -> bool {
        matches!(self, Location::S3 { .. })
    }
}

/// S3's bucket naming rules, loosely (underscores are accepted for S3-compatible servers).
fn valid_bucket(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
}

/// The normalized form: `s3://bucket/prefix` or `file:///path`.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            Location::File(path) => write!(f, "file://{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3a_and_s3_are_the_same_location() {
        let a = Location::parse("s3a://bucket_s3/backup/").unwrap();
        let b = Location::parse("s3://bucket_s3/backup").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "s3://bucket_s3/backup");
        assert_eq!(
            Location::parse("S3A://bkt").unwrap().to_string(),
            "s3://bkt"
        );
    }

    #[test]
    fn file_locations_are_absolute() {
        assert_eq!(
            Location::parse("file:///var/backups/").unwrap(),
            Location::File(PathBuf::from("/var/backups"))
        );
        assert!(Location::parse("file://relative/x").is_err());
        assert!(Location::parse("file:///a/../b").is_err());
    }

    #[test]
    fn other_schemes_name_the_accepted_ones() {
        for bad in [
            "hdfs://nn/x",
            "oss://b/x",
            "/tmp/x",
            "",
            "s3://",
            "s3://B/x",
        ] {
            let e = Location::parse(bad).unwrap_err();
            assert!(
                e.contains("s3a://") || e.contains("bucket") || e.contains("specify"),
                "{bad}: {e}"
            );
        }
    }
}
