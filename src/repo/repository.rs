//! An opened repository: its catalog row, its parsed location and the store under its root,
//! plus the checks `CREATE REPOSITORY` runs before it succeeds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::layout;
use super::local::LocalStore;
use super::location::Location;
use super::s3::S3Store;
use super::s3props::S3Options;
use super::store::{ObjectStore, StoreError};
use crate::catalog::repos::RepositoryMeta;

/// The format version this build writes and reads (DESIGN.md "Repository format (version 1)").
pub const FORMAT_VERSION: u32 = 1;

/// `repository.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryInfo {
    pub format_version: u32,
    /// The repository name it was created under.
    pub name: String,
    /// `backstop <version>`.
    pub created_by: String,
    /// Persistent id of the server that created it.
    pub server_id: String,
    /// Milliseconds since the Unix epoch.
    pub created_ms: i64,
}

/// An error of the repository layer; every message says what to fix and holds no secret.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// A repository ready to use.
#[derive(Debug)]
pub struct Repository {
    pub meta: RepositoryMeta,
    pub location: Location,
    pub store: ObjectStore,
}

impl Repository {
    /// Validates the location and properties and builds the store (no I/O yet).
    pub async fn open(meta: RepositoryMeta) -> Result<Repository, RepoError> {
        let location = Location::parse(&meta.location).map_err(RepoError::Invalid)?;
        let store = match &location {
            Location::File(path) => {
                if let Some((key, _)) = meta.properties.first() {
                    return Err(RepoError::Invalid(format!(
                        "Unknown repository property '{key}': a file:// repository takes no \
                         properties"
                    )));
                }
                ObjectStore::Local(LocalStore::new(path.join(&meta.name)))
            }
            Location::S3 { bucket, prefix } => {
                let options =
                    S3Options::from_properties(&meta.properties).map_err(RepoError::Invalid)?;
                let root = if prefix.is_empty() {
                    meta.name.clone()
                } else {
                    format!("{prefix}/{}", meta.name)
                };
                ObjectStore::S3(S3Store::connect(bucket, &root, &options).await?)
            }
        };
        Ok(Repository {
            meta,
            location,
            store,
        })
    }

    /// What `CREATE REPOSITORY` checks before it succeeds, for real: the storage is reachable,
    /// the credentials can list and read, and (unless read-only) write. Writes `repository.json`
    /// when absent; checks its format version when present. Returns the info found or written.
    pub async fn check_and_init(&self, server_id: &str) -> Result<RepositoryInfo, RepoError> {
        // Listing first: it is what a read-only policy grants, and it tells a missing bucket,
        // a wrong key and an unreachable endpoint apart.
        self.store.list(layout::REPOSITORY_JSON).await?;
        let existing = match self.store.get_bytes(layout::REPOSITORY_JSON).await {
            Ok(bytes) => Some(parse_info(&bytes)?),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        if self.meta.read_only {
            return Ok(existing.unwrap_or_else(|| self.new_info(server_id)));
        }
        // A writable repository must be able to write (and its jobs to delete leases): probe.
        let probe = layout::probe_key(server_id, rand::random::<u32>());
        if let Err(e) = self
            .store
            .put_bytes(&probe, Bytes::from_static(b"probe"))
            .await
        {
            return Err(match e {
                StoreError::AccessDenied { .. } => RepoError::Invalid(format!(
                    "the credentials can list and read {} but not write to it ({e}). Create it \
                     as READ ONLY (CREATE READ ONLY REPOSITORY ...) to restore from it, or grant \
                     s3:PutObject and s3:DeleteObject (see docs/repositories.md)",
                    self.store.describe()
                )),
                other => other.into(),
            });
        }
        if let Err(e) = self.store.delete(&probe).await {
            tracing::warn!(repository = %self.meta.name, error = %e, "cannot delete the write probe");
        }
        match existing {
            Some(info) => Ok(info),
            None => {
                let info = self.new_info(server_id);
                let json = serde_json::to_vec_pretty(&info)
                    .map_err(|e| RepoError::Invalid(e.to_string()))?;
                self.store
                    .put_bytes(layout::REPOSITORY_JSON, Bytes::from(json))
                    .await?;
                Ok(info)
            }
        }
    }

    fn new_info(&self, server_id: &str) -> RepositoryInfo {
        RepositoryInfo {
            format_version: FORMAT_VERSION,
            name: self.meta.name.clone(),
            created_by: format!("backstop {}", env!("CARGO_PKG_VERSION")),
            server_id: server_id.to_string(),
            created_ms: self.meta.created_ms,
        }
    }
}

fn parse_info(bytes: &[u8]) -> Result<RepositoryInfo, RepoError> {
    let info: RepositoryInfo = serde_json::from_slice(bytes).map_err(|e| {
        RepoError::Invalid(format!(
            "the location holds a {} that is not a backstop repository ({e})",
            layout::REPOSITORY_JSON
        ))
    })?;
    if info.format_version != FORMAT_VERSION {
        return Err(RepoError::Invalid(format!(
            "the repository's format version is {}, this backstop reads version {FORMAT_VERSION}; \
             use a backstop release that supports it",
            info.format_version
        )));
    }
    Ok(info)
}

/// Opened repositories by name, so each S3 client is built once.
#[derive(Default)]
pub struct Registry {
    open: Mutex<HashMap<String, Arc<Repository>>>,
}

impl Registry {
    pub fn get(&self, name: &str) -> Option<Arc<Repository>> {
        self.open.lock().ok()?.get(name).cloned()
    }

    pub fn insert(&self, repo: Arc<Repository>) {
        if let Ok(mut open) = self.open.lock() {
            open.insert(repo.meta.name.clone(), repo);
        }
    }

    pub fn remove(&self, name: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(name);
        }
    }
}
