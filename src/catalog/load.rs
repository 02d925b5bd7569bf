//! The catalog side of a load: ids for the rowset files before they are written, and the one
//! transaction that makes the written files part of a table.

use std::collections::BTreeMap;

use super::schema::{PartitionMeta, RowsetMeta};
use super::tables::{MetaTables, ensure_writable};
use super::{Catalog, CatalogError, next_id};

/// One finished rowset file of a load, before it has a version.
#[derive(Debug, Clone)]
pub struct LoadedRowset {
    pub partition_id: u64,
    pub rowset: RowsetMeta,
}

impl Catalog {
    /// Every committed rowset as (tablet id, rowset id). Blocking: for start-up.
    pub fn rowset_keys_blocking(
        &self,
    ) -> Result<std::collections::HashSet<(u64, u64)>, CatalogError> {
        use redb::{ReadableDatabase, ReadableTable};
        let txn = self.db.begin_read().map_err(super::storage)?;
        let table = txn.open_table(super::ROWSETS).map_err(super::storage)?;
        let mut keys = std::collections::HashSet::new();
        for entry in table.iter().map_err(super::storage)? {
            let (k, _) = entry.map_err(super::storage)?;
            keys.insert(k.value());
        }
        Ok(keys)
    }

    /// Every committed rowset as (tablet id, rowset id).
    pub async fn rowset_keys(&self) -> Result<std::collections::HashSet<(u64, u64)>, CatalogError> {
        let catalog = self.clone();
        tokio::task::spawn_blocking(move || catalog.rowset_keys_blocking())
            .await
            .map_err(|e| CatalogError::Storage(format!("catalog task failed: {e}")))?
    }

    /// Draws `n` ids in one transaction (rowset file names are their ids).
    pub async fn reserve_ids(&self, n: usize) -> Result<Vec<u64>, CatalogError> {
        self.write(move |txn| (0..n).map(|_| next_id(txn)).collect())
            .await
    }

    /// Commits a load: in one transaction, checks the table is still the one the load read
    /// (`read`: same id, writable), gives every touched partition its next version, and adds
    /// the rowsets at that version. Readers see all of the load or none of it. A load that
    /// deletes rows (a keyed table's, a DELETE) commits only if every partition it touches is
    /// still at the version it read: the rows it deleted are the rows that are there.
    /// `replace` (INSERT OVERWRITE) names partitions whose rowsets the load replaces: they lose
    /// every rowset they had and move to their next version, loaded or not.
    pub async fn commit_load(
        &self,
        db: &str,
        table: &str,
        read: &super::TableTree,
        rowsets: Vec<LoadedRowset>,
        replace: &[u64],
    ) -> Result<(), CatalogError> {
        let replace = replace.to_vec();
        let (db, table) = (db.to_string(), table.to_string());
        let table_id = read.table.id;
        // The columns the load wrote its files with: an ADD or DROP COLUMN since would leave
        // files of another shape under the name (a column dropped and added back with another
        // type read through the old values).
        let shape = |t: &super::schema::TableMeta| -> Vec<(String, super::schema::ColumnType)> {
            t.columns
                .iter()
                .map(|c| (c.name.to_ascii_lowercase(), c.data_type))
                .collect()
        };
        let read_shape = shape(&read.table);
        // A keyed table's load replaced rows by key: nothing may have committed into its
        // partitions since it read them. A DELETE elsewhere named positions in files it read:
        // those files must still be there (a TRUNCATE or RESTORE in between removes them),
        // while loads that only added files change nothing it decided.
        let read_versions: BTreeMap<u64, u64> = if read.table.key.model.is_unique() {
            read.partitions
                .iter()
                .map(|p| (p.partition.id, p.partition.visible_version))
                .collect()
        } else {
            BTreeMap::new()
        };
        let seen_versions: BTreeMap<u64, u64> = read
            .partitions
            .iter()
            .map(|p| (p.partition.id, p.partition.visible_version))
            .collect();
        let deleted_from: Vec<(u64, Vec<u64>)> = read
            .partitions
            .iter()
            .flat_map(|p| &p.tablets)
            .filter(|t| {
                rowsets.iter().any(|r| {
                    r.rowset.tablet_id == t.tablet.id
                        && r.rowset.kind == super::schema::RowsetKind::Deletes
                })
            })
            .map(|t| (t.tablet.id, t.rowsets.iter().map(|r| r.id).collect()))
            .collect();
        self.write(move |txn| {
            let mut meta = MetaTables::open(txn)?;
            let current = meta.table(&db, &table)?;
            if current.id != table_id {
                return Err(CatalogError::Storage(format!(
                    "table {db}.{table} was dropped and re-created during the load; nothing was loaded"
                )));
            }
            ensure_writable(&current)?;
            if shape(&current) != read_shape {
                return Err(CatalogError::TableBusy {
                    table: format!("{db}.{table}"),
                    why: "its columns changed (ALTER TABLE ... ADD or DROP COLUMN) while this \
                          statement ran; nothing was changed: run the statement again"
                        .into(),
                });
            }
            for (tablet_id, ids) in &deleted_from {
                for &id in ids {
                    if !meta.has_rowset(*tablet_id, id)? {
                        return Err(CatalogError::TableBusy {
                            table: format!("{db}.{table}"),
                            why: "its rows were replaced while this statement ran (TRUNCATE, \
                                  INSERT OVERWRITE or RESTORE); nothing was changed: run the \
                                  statement again"
                                .into(),
                        });
                    }
                }
            }
            let mut by_partition: BTreeMap<u64, Vec<RowsetMeta>> = BTreeMap::new();
            for r in rowsets {
                by_partition.entry(r.partition_id).or_default().push(r.rowset);
            }
            let now = chrono::Utc::now().timestamp_millis();
            for &partition_id in &replace {
                meta.clear_rowsets(partition_id)?;
                by_partition.entry(partition_id).or_default();
            }
            for (partition_id, rowsets) in by_partition {
                let mut partition: PartitionMeta = meta
                    .partition(table_id, partition_id)?
                    .ok_or_else(|| {
                        CatalogError::Storage(format!(
                            "a partition of {db}.{table} was dropped during the load; nothing was loaded"
                        ))
                    })?;
                if let Some(&version) = read_versions.get(&partition_id)
                    && version != partition.visible_version
                {
                    return Err(CatalogError::TableBusy {
                        table: format!("{db}.{table}"),
                        why: format!(
                            "partition {} changed while this statement ran (version {version} \
                             became {}); nothing was changed: run the statement again",
                            partition.name, partition.visible_version
                        ),
                    });
                }
                // Something committed into the partition since the load read it (a DELETE
                // among them?): its files are checked against what is there now.
                if seen_versions.get(&partition_id) != Some(&partition.visible_version) {
                    for rowset in rowsets.iter().filter(|r| r.kind.is_data()) {
                        twin_of_deleted_rows(&meta, rowset, &format!("{db}.{table}"))?;
                    }
                }
                partition.visible_version += 1;
                partition.visible_version_ms = now;
                for mut rowset in rowsets {
                    rowset.start_version = partition.visible_version;
                    rowset.end_version = partition.visible_version;
                    meta.put_rowset(&rowset)?;
                }
                meta.put_partition(&partition)?;
            }
            Ok(())
        })
        .await
    }
}

/// Refuses a new data file with the content of a file of its tablet while that tablet has
/// delete files: their positions would name its rows too (a position names a row of every file
/// of its content). A load writes a nonce into files of tablets with delete files, so this
/// happens only when a DELETE committed into the tablet while the load ran.
fn twin_of_deleted_rows(
    meta: &MetaTables<'_>,
    new: &RowsetMeta,
    table: &str,
) -> Result<(), CatalogError> {
    let there: Vec<RowsetMeta> = super::tables::children(&meta.rowsets, new.tablet_id)?;
    let has_deletes = there.iter().any(|r| !r.kind.is_data());
    if has_deletes
        && there
            .iter()
            .any(|r| r.kind.is_data() && r.sha256 == new.sha256)
    {
        return Err(CatalogError::TableBusy {
            table: table.to_string(),
            why: "a DELETE committed into the rows this statement loads into while it ran; \
                  nothing was changed: run the statement again"
                .into(),
        });
    }
    Ok(())
}

/// Why a compaction's result was not committed: the tablet changed under it. Nothing is lost;
/// the next round plans again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionStale(pub String);

impl Catalog {
    /// Commits a compaction of tablet `tablet_id` of table `table_id` (partition
    /// `partition_id`): in one transaction, checks the table is still there under its name and writable, that
    /// every rowset in `removed` is still committed and that the tablet has no delete file the
    /// merge did not take in, then replaces `removed` by `added`. The partition's version does
    /// not move: what queries see is the same. `Ok(Err(..))` says why nothing was committed.
    pub async fn commit_compaction(
        &self,
        (db, name): (&str, &str),
        table_id: u64,
        partition_id: u64,
        tablet_id: u64,
        removed: Vec<u64>,
        added: Vec<RowsetMeta>,
    ) -> Result<Result<(), CompactionStale>, CatalogError> {
        let (db, name) = (db.to_string(), name.to_string());
        self.write(move |txn| {
            let mut meta = MetaTables::open(txn)?;
            let stale = |why: String| Ok(Err(CompactionStale(why)));
            let Some(_partition) = meta.partition(table_id, partition_id)? else {
                return stale(format!("partition {partition_id} is gone"));
            };
            match meta.table(&db, &name) {
                Ok(t) if t.id == table_id && ensure_writable(&t).is_ok() => {}
                Ok(t) if t.id == table_id => return stale("the table is being restored".into()),
                Ok(_) | Err(CatalogError::UnknownTable(_) | CatalogError::UnknownDatabase(_)) => {
                    return stale(format!("table {db}.{name} was dropped or renamed"));
                }
                Err(e) => return Err(e),
            }
            for &id in &removed {
                if !meta.has_rowset(tablet_id, id)? {
                    return stale(format!("rowset {id} is gone"));
                }
            }
            let now: Vec<RowsetMeta> = super::tables::children(&meta.rowsets, tablet_id)?;
            if let Some(new) = now
                .iter()
                .find(|r| !r.kind.is_data() && !removed.contains(&r.id))
            {
                return stale(format!("delete file {} was added", new.id));
            }
            // A position names a row of every file of its content: a file committed meanwhile
            // with the content of a merged one would lose the positions the merge drops.
            let merged: Vec<&str> = now
                .iter()
                .filter(|r| r.kind.is_data() && removed.contains(&r.id))
                .map(|r| r.sha256.as_str())
                .collect();
            if let Some(twin) = now.iter().find(|r| {
                r.kind.is_data() && !removed.contains(&r.id) && merged.contains(&r.sha256.as_str())
            }) {
                return stale(format!(
                    "rowset {} has the content of a merged file",
                    twin.id
                ));
            }
            for id in &removed {
                meta.rowsets
                    .remove((tablet_id, *id))
                    .map_err(super::storage)?;
            }
            for rowset in &added {
                meta.put_rowset(rowset)?;
            }
            Ok(Ok(()))
        })
        .await
    }
}
