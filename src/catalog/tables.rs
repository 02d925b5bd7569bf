//! Table, partition and tablet operations: each public method is one redb transaction.
//!
//! [`MetaTables`] holds the open redb tables of one write transaction and the helpers every
//! writer needs (create a partition with its tablets, delete a table's tree, clear a
//! partition's rowsets). Later writers (the load path, RESTORE's commit) build on it so that
//! the invariants in the module docs of `catalog` hold for every change.

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, Table, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::schema::{
    ColumnMeta, Datum, PartitionBounds, PartitionMeta, PartitionSpec, PartitionValuesSpec,
    RowsetMeta, TableMeta, TableState, TabletMeta, place_partitions, sort_partitions,
    validate_buckets, validate_table,
};
use super::{
    Catalog, CatalogError, DATABASES, DatabaseMeta, PARTITIONS, ROWSETS, TABLES, TABLETS, decode,
    next_id, storage,
};

type NameKey = (u64, &'static str);
type IdKey = (u64, u64);
type Json = &'static [u8];

/// A table with its partitions (sorted, see [`sort_partitions`]), their tablets (by bucket)
/// and the tablets' committed rowsets, read in one transaction: a consistent picture, as SHOW
/// PARTITIONS and (later) a snapshot manifest need.
#[derive(Debug, Clone)]
pub struct TableTree {
    pub table: TableMeta,
    pub partitions: Vec<PartitionTree>,
}

#[derive(Debug, Clone)]
pub struct PartitionTree {
    pub partition: PartitionMeta,
    pub tablets: Vec<TabletTree>,
}

#[derive(Debug, Clone)]
pub struct TabletTree {
    pub tablet: TabletMeta,
    pub rowsets: Vec<RowsetMeta>,
}

impl TabletTree {
    /// Rows a query sees: the data files' minus the rows the delete files remove.
    pub fn rows(&self) -> u64 {
        let rows: i128 = self.rowsets.iter().map(RowsetMeta::visible_rows).sum();
        u64::try_from(rows).unwrap_or(0)
    }

    pub fn bytes(&self) -> u64 {
        self.rowsets.iter().map(|r| r.bytes).sum()
    }
}

impl TableTree {
    /// Every rowset id of the table (what a scan of it reads, what a pin holds).
    pub fn rowset_ids(&self) -> Vec<u64> {
        self.partitions
            .iter()
            .flat_map(|p| &p.tablets)
            .flat_map(|t| &t.rowsets)
            .map(|r| r.id)
            .collect()
    }

    /// Which partitions (in tree order) a `PARTITION (names)` clause chooses: all when `names`
    /// is empty; [`CatalogError::UnknownPartition`] for a name the table does not have.
    pub fn chosen_partitions(&self, names: &[String]) -> Result<Vec<bool>, CatalogError> {
        if let Some(unknown) = names.iter().find(|n| {
            !self
                .partitions
                .iter()
                .any(|p| p.partition.name.eq_ignore_ascii_case(n))
        }) {
            return Err(CatalogError::UnknownPartition {
                partition: unknown.clone(),
                table: self.table.name.clone(),
            });
        }
        Ok(self
            .partitions
            .iter()
            .map(|p| {
                names.is_empty()
                    || names
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(&p.partition.name))
            })
            .collect())
    }

    /// The table's content checksum: the wrapping sum of its rowsets' (CHECKSUM TABLE).
    pub fn checksum(&self) -> u64 {
        self.partitions
            .iter()
            .flat_map(|p| &p.tablets)
            .flat_map(|t| &t.rowsets)
            .fold(0u64, |acc, r| acc.wrapping_add(r.checksum_delta()))
    }
}

impl PartitionTree {
    pub fn rows(&self) -> u64 {
        self.tablets.iter().map(TabletTree::rows).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.tablets.iter().map(TabletTree::bytes).sum()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Stores `value` as JSON under `key` in `table`.
fn put_json<'k, K: redb::Key + 'static>(
    table: &mut Table<'_, K, Json>,
    key: impl std::borrow::Borrow<K::SelfType<'k>>,
    value: &impl Serialize,
) -> Result<(), CatalogError> {
    let bytes = serde_json::to_vec(value).map_err(storage)?;
    table.insert(key, bytes.as_slice()).map_err(storage)?;
    Ok(())
}

// ---- reads (any transaction) --------------------------------------------------------------

/// The database called `name`, or [`CatalogError::UnknownDatabase`].
pub fn database_named(
    dbs: &impl ReadableTable<&'static str, Json>,
    name: &str,
) -> Result<DatabaseMeta, CatalogError> {
    match dbs.get(name).map_err(storage)? {
        Some(v) => decode(v.value()),
        None => Err(CatalogError::UnknownDatabase(name.to_string())),
    }
}

/// The table `name` of database `db_id`, if it exists.
pub fn table_named(
    tables: &impl ReadableTable<NameKey, Json>,
    db_id: u64,
    name: &str,
) -> Result<Option<TableMeta>, CatalogError> {
    named(tables, db_id, name)
}

/// Every table of database `db_id`, by name.
pub fn tables_of(
    tables: &impl ReadableTable<NameKey, Json>,
    db_id: u64,
) -> Result<Vec<TableMeta>, CatalogError> {
    named_in(tables, db_id)
}

/// The record `name` of database `db_id` in a `(db id, name)` table (tables, views).
pub(crate) fn named<T: DeserializeOwned>(
    records: &impl ReadableTable<NameKey, Json>,
    db_id: u64,
    name: &str,
) -> Result<Option<T>, CatalogError> {
    records
        .get((db_id, name))
        .map_err(storage)?
        .map(|v| decode(v.value()))
        .transpose()
}

/// Every record of database `db_id` in a `(db id, name)` table, by name.
pub(crate) fn named_in<T: DeserializeOwned>(
    records: &impl ReadableTable<NameKey, Json>,
    db_id: u64,
) -> Result<Vec<T>, CatalogError> {
    let mut out = Vec::new();
    for entry in records.range((db_id, "")..).map_err(storage)? {
        let (k, v) = entry.map_err(storage)?;
        if k.value().0 != db_id {
            break;
        }
        out.push(decode(v.value())?);
    }
    Ok(out)
}

/// The records under `parent` in a `(parent id, child id)` table: a table's partitions, a
/// partition's tablets or a tablet's rowsets, by child id.
pub fn children<T: DeserializeOwned>(
    table: &impl ReadableTable<IdKey, Json>,
    parent: u64,
) -> Result<Vec<T>, CatalogError> {
    let mut out = Vec::new();
    for entry in table
        .range((parent, 0)..=(parent, u64::MAX))
        .map_err(storage)?
    {
        let (_, v) = entry.map_err(storage)?;
        out.push(decode(v.value())?);
    }
    Ok(out)
}

/// A table with its partitions (in partition order), tablets (by bucket) and rowsets.
pub fn read_tree(
    partitions_t: &impl ReadableTable<IdKey, Json>,
    tablets_t: &impl ReadableTable<IdKey, Json>,
    rowsets_t: &impl ReadableTable<IdKey, Json>,
    table: TableMeta,
) -> Result<TableTree, CatalogError> {
    let mut partitions: Vec<PartitionMeta> = children(partitions_t, table.id)?;
    sort_partitions(&mut partitions);
    let mut out = Vec::with_capacity(partitions.len());
    for partition in partitions {
        let mut tablets: Vec<TabletMeta> = children(tablets_t, partition.id)?;
        tablets.sort_by_key(|t| t.bucket);
        let tablets = tablets
            .into_iter()
            .map(|tablet| {
                let rowsets = children(rowsets_t, tablet.id)?;
                Ok(TabletTree { tablet, rowsets })
            })
            .collect::<Result<Vec<_>, CatalogError>>()?;
        out.push(PartitionTree { partition, tablets });
    }
    Ok(TableTree {
        table,
        partitions: out,
    })
}

fn unknown_table(db: &str, table: &str) -> CatalogError {
    CatalogError::UnknownTable(format!("{db}.{table}"))
}

pub(crate) fn ensure_writable(table: &TableMeta) -> Result<(), CatalogError> {
    match table.state {
        TableState::Normal => Ok(()),
        TableState::Restoring { job_id } => Err(CatalogError::TableBusy {
            table: table.name.clone(),
            why: format!(
                "RESTORE job {job_id} is replacing its data; wait for it to finish or CANCEL RESTORE"
            ),
        }),
    }
}

/// The catalog tables a table's tree spans, open together in one read transaction.
struct ReadTables {
    databases: ReadOnlyTable<&'static str, Json>,
    tables: ReadOnlyTable<NameKey, Json>,
    partitions: ReadOnlyTable<IdKey, Json>,
    tablets: ReadOnlyTable<IdKey, Json>,
    rowsets: ReadOnlyTable<IdKey, Json>,
}

impl ReadTables {
    fn open(txn: &ReadTransaction) -> Result<Self, CatalogError> {
        Ok(Self {
            databases: txn.open_table(DATABASES).map_err(storage)?,
            tables: txn.open_table(TABLES).map_err(storage)?,
            partitions: txn.open_table(PARTITIONS).map_err(storage)?,
            tablets: txn.open_table(TABLETS).map_err(storage)?,
            rowsets: txn.open_table(ROWSETS).map_err(storage)?,
        })
    }

    /// The table `db`.`name`.
    fn table(&self, db: &str, name: &str) -> Result<TableMeta, CatalogError> {
        let db_meta = database_named(&self.databases, db)?;
        table_named(&self.tables, db_meta.id, name)?.ok_or_else(|| unknown_table(db, name))
    }

    fn tree(&self, table: TableMeta) -> Result<TableTree, CatalogError> {
        read_tree(&self.partitions, &self.tablets, &self.rowsets, table)
    }
}

// ---- writes -------------------------------------------------------------------------------

/// The catalog tables of one write transaction, open together.
pub struct MetaTables<'t> {
    txn: &'t WriteTransaction,
    pub databases: Table<'t, &'static str, Json>,
    pub tables: Table<'t, NameKey, Json>,
    pub partitions: Table<'t, IdKey, Json>,
    pub tablets: Table<'t, IdKey, Json>,
    pub rowsets: Table<'t, IdKey, Json>,
    pub views: Table<'t, NameKey, Json>,
}

impl<'t> MetaTables<'t> {
    pub fn open(txn: &'t WriteTransaction) -> Result<Self, CatalogError> {
        Ok(Self {
            txn,
            databases: txn.open_table(DATABASES).map_err(storage)?,
            tables: txn.open_table(TABLES).map_err(storage)?,
            partitions: txn.open_table(PARTITIONS).map_err(storage)?,
            tablets: txn.open_table(TABLETS).map_err(storage)?,
            rowsets: txn.open_table(ROWSETS).map_err(storage)?,
            views: txn.open_table(super::views::VIEWS).map_err(storage)?,
        })
    }

    /// The write transaction these tables belong to.
    pub fn txn(&self) -> &'t WriteTransaction {
        self.txn
    }

    /// The table `db`.`name`, or [`CatalogError::UnknownDatabase`] / [`CatalogError::UnknownTable`].
    pub fn table(&self, db: &str, name: &str) -> Result<TableMeta, CatalogError> {
        let db_meta = database_named(&self.databases, db)?;
        table_named(&self.tables, db_meta.id, name)?.ok_or_else(|| unknown_table(db, name))
    }

    pub fn put_table(&mut self, table: &TableMeta) -> Result<(), CatalogError> {
        put_json(&mut self.tables, (table.db_id, table.name.as_str()), table)
    }

    pub fn put_partition(&mut self, partition: &PartitionMeta) -> Result<(), CatalogError> {
        let key = (partition.table_id, partition.id);
        put_json(&mut self.partitions, key, partition)
    }

    pub fn partition(
        &self,
        table_id: u64,
        partition_id: u64,
    ) -> Result<Option<PartitionMeta>, CatalogError> {
        self.partitions
            .get((table_id, partition_id))
            .map_err(storage)?
            .map(|v| decode(v.value()))
            .transpose()
    }

    pub fn put_rowset(&mut self, rowset: &RowsetMeta) -> Result<(), CatalogError> {
        put_json(&mut self.rowsets, (rowset.tablet_id, rowset.id), rowset)
    }

    /// Creates a partition of `table` at version 1 with `buckets` new tablets.
    pub fn create_partition(
        &mut self,
        table: &TableMeta,
        name: String,
        bounds: PartitionBounds,
        buckets: u32,
    ) -> Result<PartitionMeta, CatalogError> {
        let partition = PartitionMeta {
            id: next_id(self.txn)?,
            table_id: table.id,
            name,
            bounds,
            visible_version: 1,
            visible_version_ms: now_ms(),
            buckets,
        };
        self.put_partition(&partition)?;
        for bucket in 0..buckets {
            let tablet = TabletMeta {
                id: next_id(self.txn)?,
                table_id: table.id,
                partition_id: partition.id,
                bucket,
            };
            put_json(&mut self.tablets, (partition.id, tablet.id), &tablet)?;
        }
        Ok(partition)
    }

    /// Whether rowset `id` of tablet `tablet_id` is committed.
    pub fn has_rowset(&self, tablet_id: u64, id: u64) -> Result<bool, CatalogError> {
        Ok(self
            .rowsets
            .get((tablet_id, id))
            .map_err(storage)?
            .is_some())
    }

    /// Removes every rowset of the partition's tablets; returns how many there were. The files
    /// become garbage for the store to delete once unpinned.
    pub fn clear_rowsets(&mut self, partition_id: u64) -> Result<u64, CatalogError> {
        let tablets: Vec<TabletMeta> = children(&self.tablets, partition_id)?;
        let mut removed = 0;
        for tablet in tablets {
            let rowsets: Vec<RowsetMeta> = children(&self.rowsets, tablet.id)?;
            for rowset in rowsets {
                self.rowsets
                    .remove((tablet.id, rowset.id))
                    .map_err(storage)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes a partition, its tablets and their rowsets.
    pub fn delete_partition(&mut self, partition: &PartitionMeta) -> Result<(), CatalogError> {
        self.clear_rowsets(partition.id)?;
        let tablets: Vec<TabletMeta> = children(&self.tablets, partition.id)?;
        for tablet in tablets {
            self.tablets
                .remove((partition.id, tablet.id))
                .map_err(storage)?;
        }
        self.partitions
            .remove((partition.table_id, partition.id))
            .map_err(storage)?;
        Ok(())
    }

    /// Removes a table and everything under it.
    pub fn delete_table(&mut self, table: &TableMeta) -> Result<(), CatalogError> {
        let partitions: Vec<PartitionMeta> = children(&self.partitions, table.id)?;
        for partition in &partitions {
            self.delete_partition(partition)?;
        }
        self.tables
            .remove((table.db_id, table.name.as_str()))
            .map_err(storage)?;
        Ok(())
    }

    /// Removes every table of database `db_id` (with their partitions, tablets and rowsets).
    pub fn delete_tables_of(&mut self, db_id: u64) -> Result<usize, CatalogError> {
        let tables = tables_of(&self.tables, db_id)?;
        for table in &tables {
            ensure_writable(table)?;
            self.delete_table(table)?;
        }
        Ok(tables.len())
    }
}

/// The partitions of a new table: name, bounds and bucket count.
type NewPartitions = Vec<(String, PartitionBounds, u32)>;

impl Catalog {
    /// `CREATE TABLE`: the table, its partitions (unpartitioned: one named like the table) and
    /// their tablets, in one transaction. `table.id`, `db_id` and `created_ms` are assigned here.
    /// Returns false when the table exists and `if_not_exists` is set.
    pub async fn create_table(
        &self,
        db: &str,
        table: TableMeta,
        partitions: Vec<PartitionSpec>,
        if_not_exists: bool,
    ) -> Result<bool, CatalogError> {
        validate_table(&table)?;
        let bounds = if table.partition_column().is_some() {
            place_partitions(&table, &[], &partitions)?
        } else if partitions.is_empty() {
            vec![(table.name.clone(), PartitionBounds::All)]
        } else {
            return Err(CatalogError::InvalidDefinition(
                "Partitions need PARTITION BY RANGE or LIST".into(),
            ));
        };
        let buckets = table.distribution.buckets();
        let partitions = bounds
            .into_iter()
            .map(|(name, b)| (name, b, buckets))
            .collect();
        self.insert_table(db, if_not_exists, move |_| Ok((table, partitions)))
            .await
    }

    /// `CREATE TABLE db.name LIKE src_db.src`: the same definition and partitions (empty, at
    /// version 1). Returns false when the table exists and `if_not_exists` is set.
    pub async fn create_table_like(
        &self,
        db: &str,
        name: &str,
        src_db: &str,
        src: &str,
        if_not_exists: bool,
    ) -> Result<bool, CatalogError> {
        super::validate_table_name(name)?;
        let (name, src_db, src) = (name.to_string(), src_db.to_string(), src.to_string());
        self.insert_table(db, if_not_exists, move |t| {
            let source = t.table(&src_db, &src)?;
            let mut partitions: Vec<PartitionMeta> = children(&t.partitions, source.id)?;
            sort_partitions(&mut partitions);
            let partitions = partitions
                .into_iter()
                .map(|p| {
                    // An unpartitioned table's only partition is named like its table.
                    let pname = match p.bounds {
                        PartitionBounds::All => name.clone(),
                        _ => p.name,
                    };
                    (pname, p.bounds, p.buckets)
                })
                .collect();
            let table = TableMeta {
                name,
                // LIKE copies a definition, not a materialized view's query and schedule.
                materialized: None,
                ..source
            };
            Ok((table, partitions))
        })
        .await
    }

    /// Stores a new table in database `db`, with its partitions (name, bounds, buckets) and
    /// their tablets, in one transaction: `define` gives both, reading the catalog as that
    /// transaction sees it; the table's id, database, creation time and state are set here.
    /// Returns false when the name is taken and `if_not_exists` is set.
    async fn insert_table(
        &self,
        db: &str,
        if_not_exists: bool,
        define: impl FnOnce(&MetaTables) -> Result<(TableMeta, NewPartitions), CatalogError>
        + Send
        + 'static,
    ) -> Result<bool, CatalogError> {
        let db = db.to_string();
        self.write(move |txn| {
            let mut t = MetaTables::open(txn)?;
            let (mut table, partitions) = define(&t)?;
            let db_meta = database_named(&t.databases, &db)?;
            if !name_free(&t, db_meta.id, &table.name, if_not_exists)? {
                return Ok(false);
            }
            table.id = next_id(txn)?;
            table.db_id = db_meta.id;
            table.created_ms = now_ms();
            table.state = TableState::Normal;
            for (name, bounds, buckets) in partitions {
                t.create_partition(&table, name, bounds, buckets)?;
            }
            t.put_table(&table)?;
            Ok(true)
        })
        .await
    }

    /// `DROP TABLE [IF EXISTS] t, ...`: all in one transaction. Returns how many were dropped.
    pub async fn drop_tables(
        &self,
        db: &str,
        names: Vec<String>,
        if_exists: bool,
    ) -> Result<u64, CatalogError> {
        self.drop_tables_of_kind(db, names, if_exists, false).await
    }

    /// [`Catalog::drop_tables`] of tables (`materialized` false) or of materialized views
    /// (`DROP MATERIALIZED VIEW`); a name of the other kind is refused.
    pub async fn drop_tables_of_kind(
        &self,
        db: &str,
        names: Vec<String>,
        if_exists: bool,
        materialized: bool,
    ) -> Result<u64, CatalogError> {
        self.drop_each(db, names, move |t, db_id, db, name| {
            let wrong = |hint| CatalogError::WrongObject {
                name: format!("{db}.{name}"),
                expected: if materialized {
                    "MATERIALIZED VIEW"
                } else {
                    "BASE TABLE"
                },
                hint,
            };
            match table_named(&t.tables, db_id, name)? {
                Some(table) => {
                    if table.materialized.is_some() != materialized {
                        return Err(wrong(if materialized {
                            ""
                        } else {
                            "; it is a materialized view: DROP MATERIALIZED VIEW"
                        }));
                    }
                    ensure_writable(&table)?;
                    t.delete_table(&table)?;
                    Ok(true)
                }
                None if super::views::name_taken(t, db_id, name)? => {
                    Err(wrong("; it is a view: DROP VIEW"))
                }
                None if if_exists => Ok(false),
                None => Err(unknown_table(db, name)),
            }
        })
        .await
    }

    /// Drops each of `names` of database `db` with `drop_one` (given the database's id and
    /// name and the name to drop; false: nothing of that name, which `IF EXISTS` allowed), all
    /// in one transaction. Returns how many were dropped.
    pub(super) async fn drop_each(
        &self,
        db: &str,
        names: Vec<String>,
        mut drop_one: impl FnMut(&mut MetaTables, u64, &str, &str) -> Result<bool, CatalogError>
        + Send
        + 'static,
    ) -> Result<u64, CatalogError> {
        let db = db.to_string();
        self.write(move |txn| {
            let mut t = MetaTables::open(txn)?;
            let db_meta = database_named(&t.databases, &db)?;
            let mut dropped = 0;
            for name in &names {
                if drop_one(&mut t, db_meta.id, &db, name)? {
                    dropped += 1;
                }
            }
            Ok(dropped)
        })
        .await
    }

    /// The table `db`.`name`.
    pub async fn table(&self, db: &str, name: &str) -> Result<TableMeta, CatalogError> {
        let (db, name) = (db.to_string(), name.to_string());
        self.read(move |txn| ReadTables::open(txn)?.table(&db, &name))
            .await
    }

    /// Every table of `db`, by name.
    pub async fn tables(&self, db: &str) -> Result<Vec<TableMeta>, CatalogError> {
        let db = db.to_string();
        self.read(move |txn| {
            let t = ReadTables::open(txn)?;
            let db_meta = database_named(&t.databases, &db)?;
            tables_of(&t.tables, db_meta.id)
        })
        .await
    }

    /// The table with its partitions, tablets and rowsets, read in one transaction.
    pub async fn table_tree(&self, db: &str, name: &str) -> Result<TableTree, CatalogError> {
        let (db, name) = (db.to_string(), name.to_string());
        self.read(move |txn| {
            let t = ReadTables::open(txn)?;
            let table = t.table(&db, &name)?;
            t.tree(table)
        })
        .await
    }

    /// The trees of several tables of `db` read in one transaction: one consistent version of
    /// each (what a snapshot takes). `names: None` means every table of the database.
    pub async fn database_trees(
        &self,
        db: &str,
        names: Option<Vec<String>>,
    ) -> Result<(DatabaseMeta, Vec<TableTree>), CatalogError> {
        let db = db.to_string();
        self.read(move |txn| {
            let t = ReadTables::open(txn)?;
            let db_meta = database_named(&t.databases, &db)?;
            let metas = match names {
                None => tables_of(&t.tables, db_meta.id)?,
                Some(names) => names
                    .iter()
                    .map(|n| {
                        table_named(&t.tables, db_meta.id, n)?.ok_or_else(|| unknown_table(&db, n))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            };
            let trees = metas
                .into_iter()
                .map(|m| t.tree(m))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((db_meta, trees))
        })
        .await
    }

    /// `ALTER TABLE t ADD PARTITION ...`: checked against the committed partitions in the same
    /// transaction. `buckets: None` uses the table's count. Returns false when `if_not_exists`
    /// is set and a partition of that name exists (nothing is added then).
    pub async fn add_partitions(
        &self,
        db: &str,
        table: &str,
        specs: Vec<PartitionSpec>,
        buckets: Option<u32>,
        if_not_exists: bool,
    ) -> Result<bool, CatalogError> {
        if let Some(n) = buckets {
            validate_buckets(n)?;
        }
        let (db, name) = (db.to_string(), table.to_string());
        self.write(move |txn| {
            let mut t = MetaTables::open(txn)?;
            let table = t.table(&db, &name)?;
            ensure_writable(&table)?;
            let existing: Vec<PartitionMeta> = children(&t.partitions, table.id)?;
            if if_not_exists
                && specs.iter().any(|s| {
                    existing
                        .iter()
                        .any(|p| p.name.eq_ignore_ascii_case(&s.name))
                })
            {
                return Ok(false);
            }
            let placed = place_partitions(&table, &existing, &specs)?;
            let buckets = buckets.unwrap_or(table.distribution.buckets());
            for (pname, bounds) in placed {
                t.create_partition(&table, pname, bounds, buckets)?;
            }
            Ok(true)
        })
        .await
    }

    /// Expression partitioning: creates, in one transaction, the partitions of `specs` that
    /// the table (still the one with id `table_id`) does not have yet by name (a concurrent
    /// load may have created them), with the table's bucket count. Returns how many it created.
    pub async fn ensure_partitions(
        &self,
        db: &str,
        table: &str,
        table_id: u64,
        specs: Vec<PartitionSpec>,
    ) -> Result<usize, CatalogError> {
        let (db, name) = (db.to_string(), table.to_string());
        self.write(move |txn| {
            let mut t = MetaTables::open(txn)?;
            let table = t.table(&db, &name)?;
            if table.id != table_id {
                return Err(CatalogError::Storage(format!(
                    "table {db}.{name} was dropped and re-created during the load; nothing was \
                     loaded"
                )));
            }
            ensure_writable(&table)?;
            let existing: Vec<PartitionMeta> = children(&t.partitions, table.id)?;
            let ty = table.partition_column().map(|c| c.data_type);
            // A partition holds the spec's start already (a concurrent load's, one added by
            // hand), or has its name: nothing to create.
            let covered = |s: &PartitionSpec| {
                let PartitionValuesSpec::Range { lower, .. } = &s.values else {
                    return false;
                };
                ty.and_then(|ty| Datum::parse(ty, lower).ok())
                    .is_some_and(|v| existing.iter().any(|p| p.bounds.range_holds(&v)))
            };
            let missing: Vec<PartitionSpec> = specs
                .into_iter()
                .filter(|s| {
                    !covered(s)
                        && !existing
                            .iter()
                            .any(|p| p.name.eq_ignore_ascii_case(&s.name))
                })
                .collect();
            let placed = place_partitions(&table, &existing, &missing)?;
            let buckets = table.distribution.buckets();
            for (pname, bounds) in &placed {
                t.create_partition(&table, pname.clone(), bounds.clone(), buckets)?;
            }
            Ok(placed.len())
        })
        .await
    }

    /// `ALTER TABLE t SET (...)`: `properties` merged into the table's, after `check` accepts
    /// the table as it would be; one transaction.
    pub async fn set_table_properties(
        &self,
        db: &str,
        table: &str,
        properties: Vec<(String, String)>,
        check: impl FnOnce(&TableMeta) -> Result<(), CatalogError> + Send + 'static,
    ) -> Result<(), CatalogError> {
        self.alter_table(db, table, move |table| {
            for (k, v) in properties {
                // Keys compare as StarRocks compares them: a key given in another case replaces.
                table
                    .properties
                    .retain(|old, _| !old.eq_ignore_ascii_case(&k));
                table.properties.insert(k, v);
            }
            check(table)
        })
        .await
    }

    /// Changes the definition of table `db`.`table` with `change` in one write (a table being
    /// restored is refused); nothing is stored when `change` fails.
    async fn alter_table(
        &self,
        db: &str,
        table: &str,
        change: impl FnOnce(&mut TableMeta) -> Result<(), CatalogError> + Send + 'static,
    ) -> Result<(), CatalogError> {
        let (db, name) = (db.to_string(), table.to_string());
        self.write(move |txn| {
            let mut t = MetaTables::open(txn)?;
            let mut table = t.table(&db, &name)?;
            ensure_writable(&table)?;
            change(&mut table)?;
            t.put_table(&table)
        })
        .await
    }

    /// `ALTER TABLE ... ADD COLUMN`: appends `columns` (checked by `check` on the changed
    /// table first). Rowsets written before keep their columns: readers take the missing
    /// trailing ones as NULL, which is why an added column must be nullable without a default.
    pub async fn add_columns(
        &self,
        db: &str,
        table: &str,
        columns: Vec<ColumnMeta>,
        check: impl FnOnce(&TableMeta) -> Result<(), CatalogError> + Send + 'static,
    ) -> Result<(), CatalogError> {
        self.alter_table(db, table, move |table| {
            for column in columns {
                if table
                    .columns
                    .iter()
                    .any(|c| c.name.eq_ignore_ascii_case(&column.name))
                {
                    return Err(CatalogError::DuplicateColumn(column.name));
                }
                table.columns.push(column);
            }
            check(table)
        })
        .await
    }

    /// `ALTER TABLE ... DROP COLUMN`: removes `column` from the definition (checked by `check`
    /// first). Rowsets written before keep its values in their files; readers go by name and
    /// never see them.
    pub async fn drop_column(
        &self,
        db: &str,
        table: &str,
        column: &str,
        check: impl FnOnce(&TableMeta) -> Result<(), CatalogError> + Send + 'static,
    ) -> Result<(), CatalogError> {
        let column = column.to_string();
        self.alter_table(db, table, move |t| {
            let before = t.columns.len();
            t.columns.retain(|c| !c.name.eq_ignore_ascii_case(&column));
            if t.columns.len() == before {
                return Err(CatalogError::UnknownColumn {
                    column,
                    table: t.name.clone(),
                });
            }
            check(t)
        })
        .await
    }

    /// Drops partition `partition_id` of table `table_id` (reached as `db`.`table`) if both
    /// are still those: a round of dynamic partitioning read them earlier, and a SWAP or a DROP
    /// and ADD meanwhile must not make it drop another table's or partition's rows. Returns
    /// whether it dropped it.
    pub async fn drop_partition_by_id(
        &self,
        db: &str,
        table: &str,
        table_id: u64,
        partition_id: u64,
    ) -> Result<bool, CatalogError> {
        let (db, name) = (db.to_string(), table.to_string());
        self.write(move |txn| {
            let mut t = MetaTables::open(txn)?;
            let table = t.table(&db, &name)?;
            ensure_writable(&table)?;
            if table.id != table_id {
                return Ok(false);
            }
            match t.partition(table.id, partition_id)? {
                Some(p) => {
                    t.delete_partition(&p)?;
                    Ok(true)
                }
                None => Ok(false),
            }
        })
        .await
    }

    /// `ALTER TABLE t DROP PARTITION [IF EXISTS] p`. Returns whether it existed.
    pub async fn drop_partition(
        &self,
        db: &str,
        table: &str,
        partition: &str,
        if_exists: bool,
    ) -> Result<bool, CatalogError> {
        let (db, name, pname) = (db.to_string(), table.to_string(), partition.to_string());
        self.write(move |txn| {
            let mut t = MetaTables::open(txn)?;
            let table = t.table(&db, &name)?;
            ensure_writable(&table)?;
            if table.partition_column().is_none() {
                return Err(CatalogError::InvalidDefinition(format!(
                    "Table '{name}' is not partitioned; use DROP TABLE or TRUNCATE TABLE"
                )));
            }
            let partitions: Vec<PartitionMeta> = children(&t.partitions, table.id)?;
            match partitions
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(&pname))
            {
                Some(p) => {
                    t.delete_partition(p)?;
                    Ok(true)
                }
                None if if_exists => Ok(false),
                None => Err(CatalogError::UnknownPartition {
                    partition: pname,
                    table: name,
                }),
            }
        })
        .await
    }

    /// `TRUNCATE TABLE t [PARTITION (p, ...)]`: the partitions (all when `partitions` is empty)
    /// lose their rowsets and move to the next version, as one commit. Returns how many
    /// partitions were truncated.
    pub async fn truncate(
        &self,
        db: &str,
        table: &str,
        partitions: Vec<String>,
    ) -> Result<u64, CatalogError> {
        let (db, name) = (db.to_string(), table.to_string());
        self.write(move |txn| {
            let mut t = MetaTables::open(txn)?;
            let table = t.table(&db, &name)?;
            ensure_writable(&table)?;
            let all: Vec<PartitionMeta> = children(&t.partitions, table.id)?;
            let chosen = if partitions.is_empty() {
                all
            } else {
                let mut chosen: Vec<PartitionMeta> = Vec::new();
                for pname in &partitions {
                    let p = all
                        .iter()
                        .find(|p| p.name.eq_ignore_ascii_case(pname))
                        .ok_or_else(|| CatalogError::UnknownPartition {
                            partition: pname.clone(),
                            table: name.clone(),
                        })?;
                    if !chosen.iter().any(|c| c.id == p.id) {
                        chosen.push(p.clone());
                    }
                }
                chosen
            };
            let now = now_ms();
            for mut p in chosen.iter().cloned() {
                t.clear_rowsets(p.id)?;
                p.visible_version += 1;
                p.visible_version_ms = now;
                t.put_partition(&p)?;
            }
            Ok(chosen.len() as u64)
        })
        .await
    }
}

impl Catalog {
    /// Gives table `from` of `db` the name `to` (`swap`: and table `to` the name `from`), in
    /// one transaction: a reader sees both names before or both after. Tables being restored
    /// are refused; without `swap`, `to` must be free.
    pub async fn rename_table(
        &self,
        db: &str,
        from: &str,
        to: &str,
        swap: bool,
    ) -> Result<(), CatalogError> {
        let (db, from, to) = (db.to_string(), from.to_string(), to.to_string());
        self.write(move |txn| {
            let mut t = MetaTables::open(txn)?;
            let mut first = t.table(&db, &from)?;
            ensure_writable(&first)?;
            let second = if swap {
                let second = t.table(&db, &to)?;
                ensure_writable(&second)?;
                Some(second)
            } else {
                name_free(&t, first.db_id, &to, false)?;
                None
            };
            t.tables
                .remove((first.db_id, first.name.as_str()))
                .map_err(storage)?;
            if let Some(second) = &second {
                t.tables
                    .remove((second.db_id, second.name.as_str()))
                    .map_err(storage)?;
            }
            first.name = to.clone();
            // The new name obeys CREATE TABLE's rules.
            validate_table(&first)?;
            rename_only_partition(&mut t, &first)?;
            t.put_table(&first)?;
            if let Some(mut second) = second {
                second.name = from.clone();
                rename_only_partition(&mut t, &second)?;
                t.put_table(&second)?;
            }
            Ok(())
        })
        .await
    }
}

/// The one partition of an unpartitioned table is named like the table: it follows a rename.
fn rename_only_partition(t: &mut MetaTables<'_>, table: &TableMeta) -> Result<(), CatalogError> {
    if table.partition_column().is_some() {
        return Ok(());
    }
    let partitions: Vec<PartitionMeta> = children(&t.partitions, table.id)?;
    for mut partition in partitions {
        partition.name = table.name.clone();
        t.put_partition(&partition)?;
    }
    Ok(())
}

/// Whether a new table may take `name` in the database `db_id`: true when no table has it;
/// false when one has and `if_not_exists` is set (the statement then does nothing); else
/// the "table exists" error.
fn name_free(
    t: &MetaTables<'_>,
    db_id: u64,
    name: &str,
    if_not_exists: bool,
) -> Result<bool, CatalogError> {
    if super::views::name_taken(t, db_id, name)? {
        return if if_not_exists {
            Ok(false)
        } else {
            Err(CatalogError::TableExists(name.to_string()))
        };
    }
    match table_named(&t.tables, db_id, name)? {
        None => Ok(true),
        Some(_) if if_not_exists => Ok(false),
        Some(_) => Err(CatalogError::TableExists(name.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::collections::BTreeMap;

    use super::*;
    use crate::catalog::schema::{
        ColumnType, Distribution, KeyDesc, KeyModel, PartitionValuesSpec, Partitioning,
        REPLICATION_NUM, nullable_column,
    };

    fn sales(buckets: u32) -> TableMeta {
        let columns = vec![
            nullable_column("day", ColumnType::Date),
            nullable_column("amount", ColumnType::BigInt),
        ];
        TableMeta {
            key: KeyDesc {
                model: KeyModel::Duplicate,
                columns: vec!["day".into()],
            },
            partitioning: Partitioning::Range {
                column: "day".into(),
                auto: None,
            },
            distribution: Distribution::Hash {
                columns: vec!["amount".into()],
                buckets,
            },
            properties: BTreeMap::from([(REPLICATION_NUM.to_string(), "1".to_string())]),
            ..TableMeta::columns_only("sales".into(), columns, Some("daily".into()))
        }
    }

    fn less_than(name: &str, v: &str) -> PartitionSpec {
        PartitionSpec {
            name: name.into(),
            values: PartitionValuesSpec::LessThan(Some(v.into())),
        }
    }

    /// Rows in each catalog table, to prove that drops leave nothing behind.
    async fn counts(c: &Catalog) -> [u64; 4] {
        c.read(|txn| {
            use redb::ReadableTableMetadata;
            let n = |d| -> Result<u64, CatalogError> {
                txn.open_table(d).map_err(storage)?.len().map_err(storage)
            };
            Ok([n(PARTITIONS)?, n(TABLETS)?, n(ROWSETS)?, {
                txn.open_table(TABLES)
                    .map_err(storage)?
                    .len()
                    .map_err(storage)?
            }])
        })
        .await
        .unwrap()
    }

    /// What a load commit does (the store layer will own this): add a rowset, bump the version.
    async fn fake_load(c: &Catalog, db: &str, table: &str, partition: &str) -> u64 {
        let (db, table, partition) = (db.to_string(), table.to_string(), partition.to_string());
        c.write(move |txn| {
            let mut t = MetaTables::open(txn)?;
            let meta = t.table(&db, &table)?;
            let mut parts: Vec<PartitionMeta> = children(&t.partitions, meta.id)?;
            let p = parts.iter_mut().find(|p| p.name == partition).unwrap();
            p.visible_version += 1;
            let tablets: Vec<TabletMeta> = children(&t.tablets, p.id)?;
            let rowset = RowsetMeta {
                id: next_id(txn)?,
                tablet_id: tablets[0].id,
                start_version: p.visible_version,
                end_version: p.visible_version,
                rows: 10,
                bytes: 1000,
                sha256: "00".repeat(32),
                content_checksum: 42,
                kind: Default::default(),
            };
            t.put_rowset(&rowset)?;
            let p = p.clone();
            t.put_partition(&p)?;
            Ok(p.visible_version)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn tables_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Catalog::open(dir.path()).unwrap();
            c.create_database("db", false).await.unwrap();
            let parts = vec![less_than("p2", "2024-02-01"), less_than("p1", "2024-01-01")];
            // Out of order LESS THAN lists overlap (StarRocks' rule).
            assert!(c.create_table("db", sales(3), parts, false).await.is_err());
            let parts = vec![less_than("p1", "2024-01-01"), less_than("p2", "2024-02-01")];
            assert!(
                c.create_table("db", sales(3), parts.clone(), false)
                    .await
                    .unwrap()
            );
            assert!(
                !c.create_table("db", sales(3), parts.clone(), true)
                    .await
                    .unwrap()
            );
            let err = c.create_table("db", sales(3), parts.clone(), false).await;
            assert!(matches!(err, Err(CatalogError::TableExists(_))), "{err:?}");
            let err = c.create_table("nodb", sales(3), parts, false).await;
            assert!(
                matches!(err, Err(CatalogError::UnknownDatabase(_))),
                "{err:?}"
            );
        }
        let c = Catalog::open(dir.path()).unwrap();
        let tree = c.table_tree("db", "sales").await.unwrap();
        assert_eq!(tree.table.comment.as_deref(), Some("daily"));
        let names: Vec<_> = tree
            .partitions
            .iter()
            .map(|p| p.partition.name.as_str())
            .collect();
        assert_eq!(names, ["p1", "p2"]);
        for p in &tree.partitions {
            assert_eq!(p.partition.visible_version, 1);
            let buckets: Vec<u32> = p.tablets.iter().map(|t| t.tablet.bucket).collect();
            assert_eq!(buckets, [0, 1, 2]);
        }
        assert_eq!(counts(&c).await, [2, 6, 0, 1]);
        let tables: Vec<_> = c
            .tables("db")
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(tables, ["sales"]);
        assert!(matches!(
            c.table("db", "nope").await,
            Err(CatalogError::UnknownTable(name)) if name == "db.nope"
        ));
    }

    #[tokio::test]
    async fn unpartitioned_table_has_one_partition_named_like_it() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        c.create_database("db", false).await.unwrap();
        let mut t = sales(2);
        t.partitioning = Partitioning::None;
        c.create_table("db", t, vec![], false).await.unwrap();
        let tree = c.table_tree("db", "sales").await.unwrap();
        assert_eq!(tree.partitions.len(), 1);
        assert_eq!(tree.partitions[0].partition.name, "sales");
        assert_eq!(tree.partitions[0].partition.bounds, PartitionBounds::All);
        let err = c
            .add_partitions(
                "db",
                "sales",
                vec![less_than("p", "2024-01-01")],
                None,
                false,
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not partitioned"), "{err}");
        // LIKE copies the single partition under the new table's name.
        c.create_table_like("db", "copy", "db", "sales", false)
            .await
            .unwrap();
        let tree = c.table_tree("db", "copy").await.unwrap();
        assert_eq!(tree.partitions[0].partition.name, "copy");
    }

    #[tokio::test]
    async fn partitions_change_against_committed_state() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        c.create_database("db", false).await.unwrap();
        c.create_table("db", sales(2), vec![less_than("p1", "2024-01-01")], false)
            .await
            .unwrap();
        let add = |name: &str, v: &str, buckets| {
            c.add_partitions("db", "sales", vec![less_than(name, v)], buckets, false)
        };
        add("p2", "2024-02-01", Some(4)).await.unwrap();
        let err = add("p3", "2023-06-01", None).await.unwrap_err();
        assert!(err.to_string().contains("overlaps partition 'p1'"), "{err}");
        let err = add("P2", "2024-03-01", None).await.unwrap_err();
        assert!(matches!(err, CatalogError::PartitionExists { .. }), "{err}");
        assert!(
            !c.add_partitions(
                "db",
                "sales",
                vec![less_than("p2", "2030-01-01")],
                None,
                true
            )
            .await
            .unwrap()
        );
        let tree = c.table_tree("db", "sales").await.unwrap();
        assert_eq!(tree.partitions[1].tablets.len(), 4);
        assert_eq!(counts(&c).await, [2, 6, 0, 1]);

        // Truncate: rowsets go, the version moves on.
        assert_eq!(fake_load(&c, "db", "sales", "p1").await, 2);
        assert_eq!(fake_load(&c, "db", "sales", "p2").await, 2);
        assert_eq!(counts(&c).await[2], 2);
        let tree = c.table_tree("db", "sales").await.unwrap();
        assert_eq!(tree.partitions[0].rows(), 10);
        let err = c
            .truncate("db", "sales", vec!["nope".into()])
            .await
            .unwrap_err();
        assert!(
            matches!(err, CatalogError::UnknownPartition { .. }),
            "{err}"
        );
        assert_eq!(
            c.truncate("db", "sales", vec!["P1".into()]).await.unwrap(),
            1
        );
        let tree = c.table_tree("db", "sales").await.unwrap();
        assert_eq!(tree.partitions[0].partition.visible_version, 3);
        assert_eq!(tree.partitions[0].rows(), 0);
        assert_eq!(tree.partitions[1].rows(), 10);
        assert_eq!(c.truncate("db", "sales", vec![]).await.unwrap(), 2);
        assert_eq!(counts(&c).await[2], 0);

        // Drop partition removes its tablets.
        assert!(c.drop_partition("db", "sales", "p2", false).await.unwrap());
        assert!(!c.drop_partition("db", "sales", "p2", true).await.unwrap());
        assert!(c.drop_partition("db", "sales", "p2", false).await.is_err());
        assert_eq!(counts(&c).await, [1, 2, 0, 1]);
        // The freed range can be reused.
        add("p2", "2024-03-01", None).await.unwrap();
    }

    #[tokio::test]
    async fn drops_remove_the_whole_tree() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        c.create_database("db", false).await.unwrap();
        c.create_database("other", false).await.unwrap();
        let parts = vec![less_than("p1", "2024-01-01")];
        c.create_table("db", sales(2), parts.clone(), false)
            .await
            .unwrap();
        c.create_table("other", sales(2), parts.clone(), false)
            .await
            .unwrap();
        c.create_table_like("db", "sales2", "db", "sales", false)
            .await
            .unwrap();
        fake_load(&c, "db", "sales", "p1").await;
        assert_eq!(counts(&c).await, [3, 6, 1, 3]);
        let err = c
            .drop_tables("db", vec!["sales2".into(), "nope".into()], false)
            .await
            .unwrap_err();
        assert!(matches!(err, CatalogError::UnknownTable(_)), "{err}");
        // Nothing was dropped: one statement, one transaction.
        assert_eq!(counts(&c).await, [3, 6, 1, 3]);
        assert_eq!(
            c.drop_tables("db", vec!["sales2".into(), "nope".into()], true)
                .await
                .unwrap(),
            1
        );
        assert!(c.drop_database("db", false).await.unwrap());
        assert_eq!(counts(&c).await, [1, 2, 0, 1]);
        // A database of the same name starts empty.
        c.create_database("db", false).await.unwrap();
        assert!(c.tables("db").await.unwrap().is_empty());
        assert_eq!(c.tables("other").await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn restoring_tables_refuse_ddl() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        c.create_database("db", false).await.unwrap();
        c.create_table("db", sales(1), vec![less_than("p1", "2024-01-01")], false)
            .await
            .unwrap();
        c.write(|txn| {
            let mut t = MetaTables::open(txn)?;
            let mut table = t.table("db", "sales")?;
            table.state = TableState::Restoring { job_id: 7 };
            t.put_table(&table)
        })
        .await
        .unwrap();
        let err = c.truncate("db", "sales", vec![]).await.unwrap_err();
        assert!(matches!(err, CatalogError::TableBusy { .. }), "{err}");
        let err = c
            .drop_tables("db", vec!["sales".into()], false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("RESTORE job 7"), "{err}");
        assert!(c.drop_database("db", false).await.is_err());
    }
}
