//! The durable catalog: one embedded ACID store (redb) in the data directory.
//!
//! It owns every piece of metadata that must survive a restart: the server's persistent id,
//! databases, tables, partitions, tablets and rowsets ([`tables`], [`load`]), repositories
//! ([`repos`]), views ([`views`]), job records ([`jobs`]), users and grants ([`users`]), and a restore's
//! one-transaction commit ([`restore`]). One logical change is one write transaction,
//! committed durably before the statement returns.
//!
//! Values are JSON documents (serde), so a field added later reads old records with its
//! default. redb calls block: async callers go through [`Catalog::read`] / [`Catalog::write`],
//! which run them on tokio's blocking pool.
//!
//! # Key layout
//!
//! | redb table   | key                          | value            |
//! |--------------|------------------------------|------------------|
//! | `meta`       | `"server_id"`, `"next_id"`   | text             |
//! | `databases`  | database name                | [`DatabaseMeta`] |
//! | `tables`     | `(db id, table name)`        | [`TableMeta`]    |
//! | `partitions` | `(table id, partition id)`   | [`PartitionMeta`] |
//! | `tablets`    | `(partition id, tablet id)`  | [`TabletMeta`]   |
//! | `rowsets`    | `(tablet id, rowset id)`     | [`RowsetMeta`]   |
//! | `views`      | `(db id, view name)`         | [`views::ViewMeta`] |
//! | `users`      | `(user name, host)`          | [`users::UserMeta`] |
//! | `repositories` | repository name            | [`repos::RepositoryMeta`] |
//! | `jobs`       | job id                       | a job record (JSON, `crate::scheduler`'s) |
//!
//! Each child table is keyed by its parent's id first, so "the tables of a database", "the
//! partitions of a table", "the tablets of a partition" and "the rowsets of a tablet" are
//! range scans ([`tables::children`]).
//!
//! # Invariants
//! - Ids come from one sequence ([`next_id`]) and are never reused: an id names one object
//!   forever, so a stale id can only miss, never hit the wrong object.
//! - Every partition, tablet and rowset row has its parent row: creating a table creates all
//!   its partitions and tablets, and dropping a database, table or partition removes the whole
//!   tree below it, each in one transaction ([`tables::MetaTables`]).
//! - A table's range partitions never overlap and its list partitions share no value;
//!   partition names are unique per table, case-insensitively ([`schema::place_partitions`]).
//! - A partition has exactly `buckets` tablets, buckets `0..buckets`.
//! - A rowset row exists only for a committed rowset; every rowset of a partition has a
//!   version at or below the partition's `visible_version`. Removing a rowset row (TRUNCATE,
//!   DROP) is how data is freed: the store deletes a file once no row references it and no pin
//!   holds it.
//! - A table in [`TableState::Restoring`] refuses DDL; only its RESTORE job's commit changes it.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

pub mod dynamic;
pub mod jobs;
pub mod load;
pub mod materialized;
pub mod repos;
pub mod restore;
pub mod schema;
pub mod tables;
pub mod tasks;
pub mod users;
pub mod views;

pub use schema::{
    ColumnDefault, ColumnMeta, ColumnType, Datum, DecimalKind, Distribution, KeyDesc, KeyModel,
    PartitionBounds, PartitionMeta, PartitionSpec, PartitionValuesSpec, Partitioning, RangeBound,
    RowsetMeta, TableMeta, TableState, TabletMeta,
};
pub use tables::{MetaTables, PartitionTree, TableTree, TabletTree};

/// Key → value of small settings: `server_id`, `next_id`.
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
/// Database name → [`DatabaseMeta`] JSON.
const DATABASES: TableDefinition<&str, &[u8]> = TableDefinition::new("databases");
/// (database id, table name) → [`TableMeta`] JSON.
const TABLES: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("tables");
/// (table id, partition id) → [`PartitionMeta`] JSON.
const PARTITIONS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("partitions");
/// (partition id, tablet id) → [`TabletMeta`] JSON.
const TABLETS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("tablets");
/// (tablet id, rowset id) → [`RowsetMeta`] JSON.
const ROWSETS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("rowsets");

/// The cache redb may use: the catalog is small; its default (1 GiB) is not.
const CACHE_BYTES: usize = 32 << 20;

/// Names that exist without being stored.
pub const INFORMATION_SCHEMA: &str = "information_schema";

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("Can't create database '{0}'; database exists")]
    DatabaseExists(String),
    #[error("Unknown database '{0}'")]
    UnknownDatabase(String),
    #[error("Incorrect database name '{0}': {1}")]
    BadDatabaseName(String, &'static str),
    #[error("Table '{0}' already exists")]
    TableExists(String),
    /// `db.table`
    #[error("Table '{0}' doesn't exist")]
    UnknownTable(String),
    /// `name` (`db.name`) is not the kind of object the statement is for (a view statement
    /// named a table, DROP TABLE named a materialized view, ...).
    #[error("'{name}' is not {expected}{hint}")]
    WrongObject {
        name: String,
        expected: &'static str,
        hint: &'static str,
    },
    #[error("Unknown column '{column}' in '{table}'")]
    UnknownColumn { column: String, table: String },
    #[error("Duplicate column name '{0}'")]
    DuplicateColumn(String),
    #[error("Unknown partition '{partition}' in table '{table}'")]
    UnknownPartition { partition: String, table: String },
    #[error("Duplicate partition name '{partition}' in table '{table}'")]
    PartitionExists { partition: String, table: String },
    #[error("Incorrect {kind} name '{name}': {why}")]
    BadName {
        kind: &'static str,
        name: String,
        why: &'static str,
    },
    /// A table definition or partition change that breaks a rule (types, keys, ranges, ...).
    #[error("{0}")]
    InvalidDefinition(String),
    #[error("Table '{table}' cannot be changed now: {why}")]
    TableBusy { table: String, why: String },
    #[error("the catalog store failed: {0}")]
    Storage(String),
    #[error("the catalog holds a record it cannot read ({0}); the data directory may be damaged")]
    Corrupt(String),
}

impl CatalogError {
    /// `db.name` is not a view.
    pub fn not_view(db: &str, name: &str) -> Self {
        CatalogError::WrongObject {
            name: format!("{db}.{name}"),
            expected: "VIEW",
            hint: "",
        }
    }
}

fn storage(e: impl std::fmt::Display) -> CatalogError {
    CatalogError::Storage(e.to_string())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseMeta {
    pub id: u64,
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub created_ms: i64,
}

/// A handle to the catalog; cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    db: Arc<Database>,
    server_id: Arc<str>,
}

impl Catalog {
    /// Opens (or creates) `catalog.redb` in `dir`. Blocking: call at start-up.
    pub fn open(dir: &Path) -> Result<Self, CatalogError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            CatalogError::Storage(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(dir.join("catalog.redb"))
            .map_err(|e| {
                CatalogError::Storage(format!(
                    "cannot open {}: {e}",
                    dir.join("catalog.redb").display()
                ))
            })?;
        let txn = db.begin_write().map_err(storage)?;
        let server_id = {
            txn.open_table(repos::REPOSITORIES).map_err(storage)?;
            txn.open_table(jobs::JOBS).map_err(storage)?;
            txn.open_table(users::USERS).map_err(storage)?;
            txn.open_table(DATABASES).map_err(storage)?;
            txn.open_table(TABLES).map_err(storage)?;
            txn.open_table(PARTITIONS).map_err(storage)?;
            txn.open_table(TABLETS).map_err(storage)?;
            txn.open_table(ROWSETS).map_err(storage)?;
            txn.open_table(views::VIEWS).map_err(storage)?;
            txn.open_table(tasks::TASKS).map_err(storage)?;
            txn.open_table(tasks::TASK_RUNS).map_err(storage)?;
            txn.open_table(tasks::LAST_BACKUPS).map_err(storage)?;
            let mut meta = txn.open_table(META).map_err(storage)?;
            let existing = meta
                .get("server_id")
                .map_err(storage)?
                .map(|v| v.value().to_string());
            match existing {
                Some(id) => id,
                None => {
                    let id = new_server_id();
                    meta.insert("server_id", id.as_str()).map_err(storage)?;
                    id
                }
            }
        };
        txn.commit().map_err(storage)?;
        Ok(Self {
            db: Arc::new(db),
            server_id: server_id.into(),
        })
    }

    /// This data directory's persistent id (recorded in every snapshot it creates).
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// Runs a read on the blocking pool.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, CatalogError> + Send + 'static,
    ) -> Result<T, CatalogError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(storage)?;
            f(&txn)
        })
        .await
        .map_err(|e| CatalogError::Storage(format!("catalog task failed: {e}")))?
    }

    /// Runs one write transaction on the blocking pool; it commits only if `f` succeeds.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, CatalogError> + Send + 'static,
    ) -> Result<T, CatalogError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().map_err(storage)?;
            let out = f(&txn)?;
            txn.commit().map_err(storage)?;
            Ok(out)
        })
        .await
        .map_err(|e| CatalogError::Storage(format!("catalog task failed: {e}")))?
    }

    pub async fn create_database(
        &self,
        name: &str,
        if_not_exists: bool,
    ) -> Result<bool, CatalogError> {
        validate_database_name(name)?;
        let name = name.to_string();
        self.write(move |txn| {
            let mut dbs = txn.open_table(DATABASES).map_err(storage)?;
            if name == INFORMATION_SCHEMA || dbs.get(name.as_str()).map_err(storage)?.is_some() {
                return if if_not_exists {
                    Ok(false)
                } else {
                    Err(CatalogError::DatabaseExists(name))
                };
            }
            let id = next_id(txn)?;
            let meta = DatabaseMeta {
                id,
                name: name.clone(),
                created_ms: chrono::Utc::now().timestamp_millis(),
            };
            let bytes = serde_json::to_vec(&meta).map_err(storage)?;
            dbs.insert(name.as_str(), bytes.as_slice())
                .map_err(storage)?;
            Ok(true)
        })
        .await
    }

    /// Drops a database and, in the same transaction, its tables (as StarRocks does; there is
    /// no recycle bin, so FORCE or not is the same). Returns whether it existed.
    pub async fn drop_database(&self, name: &str, if_exists: bool) -> Result<bool, CatalogError> {
        let name = name.to_string();
        self.write(move |txn| {
            let mut t = MetaTables::open(txn)?;
            let db = match t.databases.get(name.as_str()).map_err(storage)? {
                Some(v) => decode::<DatabaseMeta>(v.value())?,
                None if if_exists => return Ok(false),
                None => return Err(CatalogError::UnknownDatabase(name)),
            };
            t.delete_tables_of(db.id)?;
            t.delete_views_of(db.id)?;
            t.databases.remove(name.as_str()).map_err(storage)?;
            Ok(true)
        })
        .await
    }

    pub async fn database(&self, name: &str) -> Result<Option<DatabaseMeta>, CatalogError> {
        let name = name.to_string();
        self.read(move |txn| {
            let dbs = txn.open_table(DATABASES).map_err(storage)?;
            let value = dbs.get(name.as_str()).map_err(storage)?;
            value.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    /// Every stored database, by name.
    pub async fn databases(&self) -> Result<Vec<DatabaseMeta>, CatalogError> {
        self.read(|txn| decode_all(txn, DATABASES)).await
    }
}

/// Every value of `table` (JSON documents), in key order; a table not created yet is empty.
fn decode_all<K: redb::Key + 'static, T: serde::de::DeserializeOwned>(
    txn: &redb::ReadTransaction,
    table: TableDefinition<'_, K, &'static [u8]>,
) -> Result<Vec<T>, CatalogError> {
    let table = match txn.open_table(table) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(storage(e)),
    };
    let mut out = Vec::new();
    for entry in table.iter().map_err(storage)? {
        let (_, v) = entry.map_err(storage)?;
        out.push(decode(v.value())?);
    }
    Ok(out)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CatalogError> {
    serde_json::from_slice(bytes).map_err(|e| CatalogError::Corrupt(e.to_string()))
}

/// Draws the next id (databases, tables, partitions, tablets, rowsets and jobs share one
/// sequence, so an id names one object forever).
pub fn next_id(txn: &redb::WriteTransaction) -> Result<u64, CatalogError> {
    let mut meta = txn.open_table(META).map_err(storage)?;
    let current = match meta.get("next_id").map_err(storage)? {
        Some(v) => v
            .value()
            .parse::<u64>()
            .map_err(|e| CatalogError::Corrupt(format!("next_id: {e}")))?,
        None => 10_000,
    };
    let next = (current + 1).to_string();
    meta.insert("next_id", next.as_str()).map_err(storage)?;
    Ok(current)
}

fn new_server_id() -> String {
    let bytes: [u8; 16] = rand::random();
    crate::hex(&bytes)
}

/// StarRocks' rule for names (FeNameFormat.checkCommonName): a letter, then letters, digits
/// and `_`, 64 characters at most (also `_` followed by a letter or digit).
pub fn validate_database_name(name: &str) -> Result<(), CatalogError> {
    check_common_name(name, 64, true)
        .map_err(|why| CatalogError::BadDatabaseName(name.to_string(), why))
}

/// Table names follow the common rule, up to 1024 characters (StarRocks' limit).
pub fn validate_table_name(name: &str) -> Result<(), CatalogError> {
    check_common_name(name, 1024, false).map_err(|why| CatalogError::BadName {
        kind: "table",
        name: name.to_string(),
        why,
    })
}

/// Partition names follow the common rule, up to 64 characters.
pub fn validate_partition_name(name: &str) -> Result<(), CatalogError> {
    check_common_name(name, 64, false).map_err(|why| CatalogError::BadName {
        kind: "partition",
        name: name.to_string(),
        why,
    })
}

/// `dash_ok`: database names have always accepted `-` here; table and partition names do not.
fn check_common_name(name: &str, max_chars: usize, dash_ok: bool) -> Result<(), &'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("the name is empty"),
        Some(c) if c.is_ascii_alphabetic() => {}
        Some('_')
            if chars
                .clone()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric()) => {}
        Some(_) => return Err("it must start with a letter"),
    }
    if name.chars().count() > max_chars {
        return Err(if max_chars == 64 {
            "it is longer than 64 characters"
        } else {
            "it is longer than 1024 characters"
        });
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || (dash_ok && c == '-');
    if !name.chars().all(allowed) {
        return Err(if dash_ok {
            "use only letters, digits, '_' and '-'"
        } else {
            "use only letters, digits and '_'"
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn databases_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let c = Catalog::open(dir.path()).unwrap();
            assert!(c.create_database("sales", false).await.unwrap());
            assert!(!c.create_database("sales", true).await.unwrap());
            assert!(matches!(
                c.create_database("sales", false).await,
                Err(CatalogError::DatabaseExists(_))
            ));
            c.server_id().to_string()
        };
        let c = Catalog::open(dir.path()).unwrap();
        assert_eq!(c.server_id(), id);
        let names: Vec<_> = c
            .databases()
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, vec!["sales"]);
        assert!(c.drop_database("sales", false).await.unwrap());
        assert!(matches!(
            c.drop_database("sales", false).await,
            Err(CatalogError::UnknownDatabase(_))
        ));
        assert!(!c.drop_database("sales", true).await.unwrap());
    }

    #[test]
    fn names_follow_starrocks_rules() {
        assert!(validate_database_name("sr_hub").is_ok());
        assert!(validate_database_name("_a1").is_ok());
        assert!(validate_database_name("").is_err());
        assert!(validate_database_name("1abc").is_err());
        assert!(validate_database_name("a b").is_err());
        assert!(validate_database_name("../x").is_err());
    }
}
