//! Repositories in the catalog: name → [`RepositoryMeta`].
//!
//! A repository row holds what `CREATE REPOSITORY` said (location as written, properties,
//! read-only flag), so a restart reopens it. The properties may hold credentials: they stay in
//! the data directory's catalog and never reach `SHOW` output, logs or a repository.

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::{Catalog, CatalogError, decode, decode_all, next_id, storage};

/// Repository name → [`RepositoryMeta`] JSON.
pub(crate) const REPOSITORIES: TableDefinition<&str, &[u8]> = TableDefinition::new("repositories");

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryMeta {
    pub id: u64,
    pub name: String,
    pub read_only: bool,
    /// The location exactly as written in CREATE (SHOW REPOSITORIES shows it).
    pub location: String,
    /// The normalized location ([`crate::repo::Location`]'s display form).
    pub normalized: String,
    /// `WITH BROKER` name; empty for direct access.
    pub broker: String,
    /// The PROPERTIES clause, in order. May contain secrets.
    pub properties: Vec<(String, String)>,
    /// Milliseconds since the Unix epoch (for an adopted repository: from its repository.json).
    pub created_ms: i64,
}

/// Debug output names the property keys only: values may be secrets.
impl std::fmt::Debug for RepositoryMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepositoryMeta")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("read_only", &self.read_only)
            .field("location", &self.location)
            .field(
                "properties",
                &self.properties.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RepoCatalogError {
    #[error("Failed to create repository: repository with same name already exist: {0}")]
    Exists(String),
    #[error("Repository does not exist")]
    Unknown(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl Catalog {
    /// Adds a repository; its id is drawn in the same transaction.
    pub async fn create_repository(
        &self,
        mut meta: RepositoryMeta,
    ) -> Result<RepositoryMeta, RepoCatalogError> {
        let out = self
            .write(move |txn| {
                let mut repos = txn.open_table(REPOSITORIES).map_err(storage)?;
                if repos.get(meta.name.as_str()).map_err(storage)?.is_some() {
                    return Ok(Err(meta.name));
                }
                meta.id = next_id(txn)?;
                let bytes = serde_json::to_vec(&meta).map_err(storage)?;
                repos
                    .insert(meta.name.as_str(), bytes.as_slice())
                    .map_err(storage)?;
                Ok(Ok(meta))
            })
            .await?;
        out.map_err(RepoCatalogError::Exists)
    }

    /// Removes a repository from the catalog (nothing in storage is touched).
    pub async fn drop_repository(&self, name: &str) -> Result<RepositoryMeta, RepoCatalogError> {
        let key = name.to_string();
        let out = self
            .write(move |txn| {
                let mut repos = txn.open_table(REPOSITORIES).map_err(storage)?;
                let removed = repos.remove(key.as_str()).map_err(storage)?;
                match removed {
                    Some(v) => Ok(Some(decode::<RepositoryMeta>(v.value())?)),
                    None => Ok(None),
                }
            })
            .await?;
        out.ok_or_else(|| RepoCatalogError::Unknown(name.to_string()))
    }

    pub async fn repository(&self, name: &str) -> Result<Option<RepositoryMeta>, CatalogError> {
        let key = name.to_string();
        self.read(move |txn| {
            let repos = match txn.open_table(REPOSITORIES) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(storage(e)),
            };
            let value = repos.get(key.as_str()).map_err(storage)?;
            value.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    /// Every repository, by name.
    pub async fn repositories(&self) -> Result<Vec<RepositoryMeta>, CatalogError> {
        self.read(|txn| decode_all(txn, REPOSITORIES)).await
    }
}
