//! The repository's key layout and its small documents (DESIGN.md "Repository format";
//! docs/format.md): every key and prefix a repository holds is spelled here, and only here.
//!
//! ```text
//! <location>/<repo name>/
//!   repository.json                              the format version and who created it
//!   objects/<2 hex>/<sha256 hex>                 rowset files, named by content hash
//!   snapshots/<label>/<timestamp>/manifest.json  everything needed to rebuild the tables
//!   snapshots/<label>/<timestamp>/COMMIT         written last; holds the manifest's sha256
//!   leases/<server id>-<job id>.json             heartbeated by every running backup
//!   gc/<server id>-<round id>.json               a collection round in progress
//! ```
//! The manifest itself is [`super::manifest`]'s; the collection protocol that reads leases and
//! marks is [`super::gc`]'s.

use serde::{Deserialize, Serialize};

/// The object that marks a repository root (its format version); written once.
pub const REPOSITORY_JSON: &str = "repository.json";
pub const OBJECTS_PREFIX: &str = "objects/";
pub const SNAPSHOTS_PREFIX: &str = "snapshots/";
pub const LEASES_PREFIX: &str = "leases/";
pub const MARKS_PREFIX: &str = "gc/";
/// A snapshot's manifest, in its folder.
pub const MANIFEST: &str = "manifest.json";
/// A snapshot's commit marker, in its folder: a snapshot without it does not exist.
pub const COMMIT: &str = "COMMIT";

/// `objects/<2 hex>/<sha256 hex>`: spreads objects over 256 prefixes (S3 rates are per prefix).
pub fn object_key(sha256: &str) -> String {
    crate::catalog::schema::object_key(sha256)
}

/// `snapshots/<label>/<timestamp>`: the folder of one snapshot.
pub fn snapshot_dir(label: &str, timestamp: &str) -> String {
    format!("{SNAPSHOTS_PREFIX}{label}/{timestamp}")
}

/// `snapshots/<label>/<timestamp>/manifest.json`
pub fn manifest_key(label: &str, timestamp: &str) -> String {
    format!("{}/{MANIFEST}", snapshot_dir(label, timestamp))
}

/// `snapshots/<label>/<timestamp>/COMMIT`
pub fn commit_key(label: &str, timestamp: &str) -> String {
    format!("{}/{COMMIT}", snapshot_dir(label, timestamp))
}

/// `leases/<server id>-<job id>.json`
pub fn lease_key(server_id: &str, job_id: u64) -> String {
    format!("{LEASES_PREFIX}{server_id}-{job_id}.json")
}

/// The job id of `key` when it is a lease of `server_id`'s (`leases/<server id>-<job id>.json`).
pub fn lease_job(server_id: &str, key: &str) -> Option<u64> {
    key.strip_prefix(LEASES_PREFIX)?
        .strip_prefix(server_id)?
        .strip_prefix('-')?
        .strip_suffix(".json")?
        .parse()
        .ok()
}

/// `leases/.probe-<server id>-<random>`: the object CREATE REPOSITORY writes and deletes to
/// check that it may (a name no lease has).
pub fn probe_key(server_id: &str, random: u32) -> String {
    format!("{LEASES_PREFIX}.probe-{server_id}-{random:08x}")
}

/// `gc/<server id>-<round id>.json`
pub fn mark_key(server_id: &str, round: &str) -> String {
    format!("{MARKS_PREFIX}{server_id}-{round}.json")
}

/// Whether `key` is a mark of one of `server_id`'s collection rounds.
pub fn is_mark_of(server_id: &str, key: &str) -> bool {
    key.strip_prefix(MARKS_PREFIX)
        .and_then(|k| k.strip_prefix(server_id))
        .and_then(|k| k.strip_prefix('-'))
        .is_some_and(|k| k.ends_with(".json"))
}

/// A running backup's lease, `leases/<server id>-<job id>.json`: heartbeated while the backup
/// runs, so that no collection round deletes an object it relies on. A reader needs only
/// `expires_ms`: every other field defaults, so a lease of another version still protects.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Lease {
    #[serde(default)]
    pub server_id: String,
    #[serde(default)]
    pub job_id: u64,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub started_ms: i64,
    #[serde(default)]
    pub heartbeat_ms: i64,
    pub expires_ms: i64,
}

/// The COMMIT object: written last, names the manifest by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitMarker {
    pub manifest_sha256: String,
    pub finished_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(object_key("abcd"), "objects/ab/abcd");
        assert_eq!(
            manifest_key("l", "2026-01-02-03-04-05-006"),
            "snapshots/l/2026-01-02-03-04-05-006/manifest.json"
        );
        assert_eq!(commit_key("l", "t"), "snapshots/l/t/COMMIT");
        assert_eq!(lease_key("s1", 7), "leases/s1-7.json");
        assert_eq!(mark_key("s1", "r"), "gc/s1-r.json");
        assert_eq!(probe_key("s1", 255), "leases/.probe-s1-000000ff");
        assert_eq!(lease_job("s1", &lease_key("s1", 7)), Some(7));
        assert_eq!(lease_job("s1", &lease_key("s12", 7)), None);
        assert_eq!(lease_job("s1", &probe_key("s1", 1)), None);
        assert!(is_mark_of("s1", &mark_key("s1", "r")));
        assert!(!is_mark_of("s1", &mark_key("s12", "r")));
    }

    #[test]
    fn a_lease_needs_only_its_expiry() {
        let lease: Lease = serde_json::from_str(r#"{"expires_ms": 5}"#).unwrap();
        assert_eq!(lease.expires_ms, 5);
        assert!(lease.label.is_empty());
    }
}
