//! Snapshot manifests and the repository's key layout (DESIGN.md "Repository format").
//!
//! ```text
//! <location>/<repo name>/
//!   repository.json
//!   objects/<2 hex>/<sha256 hex>                 rowset files, named by content hash
//!   snapshots/<label>/<timestamp>/manifest.json  everything needed to rebuild the tables
//!   snapshots/<label>/<timestamp>/COMMIT         written last; holds the manifest's sha256
//!   leases/<server id>-<job id>.json             heartbeated by every running backup
//! ```
//! Nothing here depends on local ids: a manifest names databases, tables and partitions, and
//! rowsets by their content hash, so any server can restore it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::store::{ObjectStore, StoreError};
use crate::catalog::{ColumnMeta, Distribution, KeyDesc, PartitionBounds, Partitioning};

pub const MANIFEST: &str = "manifest.json";
pub const COMMIT: &str = "COMMIT";

/// `objects/<2 hex>/<sha256 hex>`: spreads objects over 256 prefixes (S3 rates are per prefix).
pub fn object_key(sha256: &str) -> String {
    let prefix = sha256.get(..2).unwrap_or("00");
    format!("objects/{prefix}/{sha256}")
}

pub fn snapshot_dir(label: &str, timestamp: &str) -> String {
    format!("snapshots/{label}/{timestamp}")
}

pub fn lease_key(server_id: &str, job_id: u64) -> String {
    format!("leases/{server_id}-{job_id}.json")
}

/// StarRocks' snapshot timestamp, `yyyy-MM-dd-HH-mm-ss-SSS`, in UTC.
pub fn snapshot_timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d-%H-%M-%S-%3f").to_string())
        .unwrap_or_default()
}

/// Whether `text` is a well-formed snapshot timestamp.
pub fn is_snapshot_timestamp(text: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d-%H-%M-%S-%3f").is_ok() && text.len() == 23
}

/// Everything needed to rebuild the tables of one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub backstop_version: String,
    /// Persistent id of the server that made the snapshot.
    pub server_id: String,
    pub database: String,
    pub label: String,
    pub timestamp: String,
    /// Submission time of the backup job, ms since the epoch.
    pub created_ms: i64,
    /// When the snapshot was complete (just before COMMIT), ms since the epoch.
    pub finished_ms: i64,
    /// `ttl` property as given, and the expiry it implies (lifecycle issue).
    #[serde(default)]
    pub ttl: Option<String>,
    #[serde(default)]
    pub expires_ms: Option<i64>,
    pub tables: Vec<ManifestTable>,
}

/// One table: its full definition and the partitions the snapshot holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestTable {
    pub name: String,
    pub columns: Vec<ColumnMeta>,
    pub key: KeyDesc,
    pub comment: Option<String>,
    pub partitioning: Partitioning,
    pub distribution: Distribution,
    pub properties: BTreeMap<String, String>,
    /// Rows and content checksum of the partitions in the snapshot (what CHECKSUM TABLE gives
    /// after restoring them into an empty table).
    pub rows: u64,
    pub checksum: u64,
    pub partitions: Vec<ManifestPartition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestPartition {
    pub name: String,
    pub bounds: PartitionBounds,
    pub visible_version: u64,
    pub buckets: u32,
    pub rows: u64,
    pub tablets: Vec<ManifestTablet>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestTablet {
    pub bucket: u32,
    pub rowsets: Vec<ManifestRowset>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRowset {
    /// Key of the object holding the Parquet file, relative to the repository root.
    pub object: String,
    pub size: u64,
    pub rows: u64,
    pub sha256: String,
    pub checksum: u64,
    pub start_version: u64,
    pub end_version: u64,
}

impl Manifest {
    pub fn table(&self, name: &str) -> Option<&ManifestTable> {
        self.tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// Every rowset object of the snapshot, each once.
    pub fn objects(&self) -> BTreeMap<String, &ManifestRowset> {
        self.tables
            .iter()
            .flat_map(|t| &t.partitions)
            .flat_map(|p| &p.tablets)
            .flat_map(|t| &t.rowsets)
            .map(|r| (r.object.clone(), r))
            .collect()
    }
}

/// The COMMIT object: written last, names the manifest by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitMarker {
    pub manifest_sha256: String,
    pub finished_ms: i64,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::hex(&Sha256::digest(bytes))
}

/// Why a snapshot is not usable.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("no snapshot '{label}' with timestamp '{timestamp}' in the repository")]
    Missing { label: String, timestamp: String },
    #[error("snapshot {label}/{timestamp} is damaged: {why}")]
    Damaged {
        label: String,
        timestamp: String,
        why: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads and checks a committed snapshot: COMMIT exists, the manifest parses and its sha256 is
/// the one COMMIT names (DESIGN.md: what `OK` means).
pub async fn read_committed(
    store: &ObjectStore,
    label: &str,
    timestamp: &str,
) -> Result<Manifest, SnapshotError> {
    let dir = snapshot_dir(label, timestamp);
    let damaged = |why: String| SnapshotError::Damaged {
        label: label.to_string(),
        timestamp: timestamp.to_string(),
        why,
    };
    let commit = match store.get_bytes(&format!("{dir}/{COMMIT}")).await {
        Ok(b) => b,
        Err(StoreError::NotFound(_)) => {
            return Err(SnapshotError::Missing {
                label: label.to_string(),
                timestamp: timestamp.to_string(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let commit: CommitMarker = serde_json::from_slice(&commit)
        .map_err(|e| damaged(format!("its COMMIT cannot be read ({e})")))?;
    let manifest = match store.get_bytes(&format!("{dir}/{MANIFEST}")).await {
        Ok(b) => b,
        Err(StoreError::NotFound(_)) => return Err(damaged("its manifest is missing".into())),
        Err(e) => return Err(e.into()),
    };
    let actual = sha256_hex(&manifest);
    if actual != commit.manifest_sha256 {
        return Err(damaged(format!(
            "its manifest's sha256 is {actual}, COMMIT says {}",
            commit.manifest_sha256
        )));
    }
    let manifest: Manifest = serde_json::from_slice(&manifest)
        .map_err(|e| damaged(format!("its manifest cannot be read ({e})")))?;
    if manifest.format_version != super::repository::FORMAT_VERSION {
        return Err(damaged(format!(
            "its format version is {}; this backstop reads {}",
            manifest.format_version,
            super::repository::FORMAT_VERSION
        )));
    }
    Ok(manifest)
}

/// Labels and their timestamps found under `snapshots/`, with whether each has a COMMIT.
pub async fn list_snapshots(
    store: &ObjectStore,
    label: Option<&str>,
) -> Result<BTreeMap<String, BTreeMap<String, bool>>, StoreError> {
    let prefix = match label {
        Some(l) => format!("snapshots/{l}/"),
        None => "snapshots/".to_string(),
    };
    let mut out: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for object in store.list(&prefix).await? {
        let mut parts = object.key.splitn(4, '/');
        let (Some("snapshots"), Some(label), Some(ts), Some(file)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let committed = out
            .entry(label.to_string())
            .or_default()
            .entry(ts.to_string())
            .or_insert(false);
        if file == COMMIT {
            *committed = true;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_starrocks_format() {
        let ts = snapshot_timestamp(1_675_781_153_143);
        assert_eq!(ts, "2023-02-07-14-45-53-143");
        assert!(is_snapshot_timestamp(&ts));
        assert!(!is_snapshot_timestamp("2023-02-07-14-45-53"));
        assert!(!is_snapshot_timestamp("x"));
    }

    #[test]
    fn object_keys_spread_over_prefixes() {
        assert_eq!(object_key("abcdef"), "objects/ab/abcdef");
    }
}
