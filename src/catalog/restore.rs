//! The catalog side of RESTORE: marking target tables, and the one transaction that swaps
//! restored data in (DESIGN.md "Jobs": nothing is created before COMMIT, and COMMIT is one
//! catalog transaction).

use super::schema::{PartitionMeta, RowsetMeta, TableMeta, TableState, TabletMeta};
use super::tables::{MetaTables, database_named, table_named};
use super::{Catalog, CatalogError, DatabaseMeta, next_id, storage};

/// Everything a restore's commit writes, with ids drawn before the files were downloaded
/// (the files already sit at their final paths, invisible until these rows exist).
#[derive(Debug, Clone)]
pub struct RestoreCommit {
    pub db: String,
    pub job_id: u64,
    pub tables: Vec<RestoreTable>,
    /// Views, created or replaced after the tables (`id`, `db_id` and times are assigned here).
    pub views: Vec<super::views::ViewMeta>,
}

#[derive(Debug, Clone)]
pub struct RestoreTable {
    /// `Some(id)`: restore into this existing table (it must still be that table, marked
    /// restoring by this job). `None`: create `meta` (its `db_id` is set at commit).
    pub existing_id: Option<u64>,
    pub meta: TableMeta,
    pub partitions: Vec<RestorePartition>,
}

#[derive(Debug, Clone)]
pub struct RestorePartition {
    /// Whether `meta.id` names a partition the table already has (its rowsets are replaced).
    pub existing: bool,
    pub meta: PartitionMeta,
    /// Tablets (existing ones for an existing partition) with their new rowsets.
    pub tablets: Vec<(TabletMeta, Vec<RowsetMeta>)>,
}

impl Catalog {
    /// Marks existing tables as being restored by `job_id` (writes and DDL refused), checking
    /// each is still the table with the given id and is not busy.
    pub async fn mark_restoring(
        &self,
        db: &str,
        tables: Vec<(String, u64)>,
        job_id: u64,
    ) -> Result<(), CatalogError> {
        let db = db.to_string();
        self.write(move |txn| {
            let mut t = MetaTables::open(txn)?;
            for (name, id) in &tables {
                let mut table = t.table(&db, name)?;
                if table.id != *id {
                    return Err(CatalogError::TableBusy {
                        table: name.clone(),
                        why: "it was dropped and re-created while the restore was starting".into(),
                    });
                }
                if table.state != TableState::Normal {
                    return Err(CatalogError::InvalidDefinition(format!(
                        "Table {name}'s state is not NORMAL: RESTORE"
                    )));
                }
                table.state = TableState::Restoring { job_id };
                t.put_table(&table)?;
            }
            Ok(())
        })
        .await
    }

    /// Puts every table marked by `job_id` back to NORMAL (`None`: every restoring table, for
    /// start-up, when no job runs).
    pub async fn unmark_restoring(&self, job_id: Option<u64>) -> Result<(), CatalogError> {
        self.write(move |txn| unmark_in(txn, job_id)).await
    }

    /// Start-up form of [`Catalog::unmark_restoring`] for every table.
    pub fn unmark_all_restoring_blocking(&self) -> Result<(), CatalogError> {
        let txn = self.db.begin_write().map_err(storage)?;
        unmark_in(&txn, None)?;
        txn.commit().map_err(storage)
    }

    /// The restore's COMMIT: one transaction creates the database and tables that are missing,
    /// replaces the restored partitions' rowsets, puts tables back to NORMAL and stores the
    /// job's FINISHED record. Either all of it happens or none.
    pub async fn commit_restore(
        &self,
        commit: RestoreCommit,
        finished_record: Vec<u8>,
    ) -> Result<(), CatalogError> {
        self.write(move |txn| {
            let mut t = MetaTables::open(txn)?;
            let db = match database_named(&t.databases, &commit.db) {
                Ok(db) => db,
                Err(CatalogError::UnknownDatabase(_)) => {
                    let db = DatabaseMeta {
                        id: next_id(txn)?,
                        name: commit.db.clone(),
                        created_ms: chrono::Utc::now().timestamp_millis(),
                    };
                    let bytes = serde_json::to_vec(&db).map_err(storage)?;
                    t.databases
                        .insert(commit.db.as_str(), bytes.as_slice())
                        .map_err(storage)?;
                    db
                }
                Err(e) => return Err(e),
            };
            for (i, table) in commit.tables.iter().enumerate() {
                if i == 1 {
                    crate::failpoint::hit_blocking("restore.mid_commit")
                        .map_err(|e| CatalogError::Storage(e.to_string()))?;
                }
                let current = table_named(&t.tables, db.id, &table.meta.name)?;
                let mut meta = match (table.existing_id, current) {
                    (Some(id), Some(cur)) if cur.id == id => {
                        if cur.state
                            != (TableState::Restoring {
                                job_id: commit.job_id,
                            })
                        {
                            return Err(CatalogError::TableBusy {
                                table: cur.name,
                                why: "it is not marked for this restore".into(),
                            });
                        }
                        // A materialized view's state is the snapshot's, as its rows are.
                        TableMeta {
                            materialized: table.meta.materialized.clone(),
                            properties: table.meta.properties.clone(),
                            ..cur
                        }
                    }
                    (Some(_), _) => {
                        return Err(CatalogError::TableBusy {
                            table: table.meta.name.clone(),
                            why: "it was dropped during the restore".into(),
                        });
                    }
                    (None, Some(_)) => {
                        return Err(CatalogError::TableExists(table.meta.name.clone()));
                    }
                    (None, None) => {
                        if super::views::name_taken(&t, db.id, &table.meta.name)? {
                            return Err(CatalogError::TableExists(table.meta.name.clone()));
                        }
                        let mut meta = table.meta.clone();
                        meta.db_id = db.id;
                        meta
                    }
                };
                meta.state = TableState::Normal;
                t.put_table(&meta)?;
                for partition in &table.partitions {
                    if partition.existing {
                        let current =
                            t.partition(meta.id, partition.meta.id)?.ok_or_else(|| {
                                CatalogError::TableBusy {
                                    table: meta.name.clone(),
                                    why: format!(
                                        "partition {} was dropped during the restore",
                                        partition.meta.name
                                    ),
                                }
                            })?;
                        t.clear_rowsets(current.id)?;
                        let mut updated = partition.meta.clone();
                        updated.visible_version =
                            updated.visible_version.max(current.visible_version + 1);
                        t.put_partition(&updated)?;
                    } else {
                        let mut p = partition.meta.clone();
                        p.table_id = meta.id;
                        t.put_partition(&p)?;
                    }
                    for (tablet, rowsets) in &partition.tablets {
                        if !partition.existing {
                            let mut tablet = tablet.clone();
                            tablet.table_id = meta.id;
                            let bytes = serde_json::to_vec(&tablet).map_err(storage)?;
                            t.tablets
                                .insert((tablet.partition_id, tablet.id), bytes.as_slice())
                                .map_err(storage)?;
                        }
                        for r in rowsets {
                            t.put_rowset(r)?;
                        }
                    }
                }
            }
            for view in commit.views {
                t.put_view(&commit.db, view, super::views::Existing::Replace)?;
            }
            super::jobs::put_job_in(txn, commit.job_id, &finished_record)?;
            Ok(())
        })
        .await
    }
}

fn unmark_in(txn: &redb::WriteTransaction, job_id: Option<u64>) -> Result<(), CatalogError> {
    let mut t = MetaTables::open(txn)?;
    let mut marked = Vec::new();
    for entry in redb::ReadableTable::iter(&t.tables).map_err(storage)? {
        let (_, v) = entry.map_err(storage)?;
        let table: TableMeta = super::decode(v.value())?;
        if let TableState::Restoring { job_id: j } = table.state
            && job_id.is_none_or(|want| want == j)
        {
            marked.push(table);
        }
    }
    for mut table in marked {
        table.state = TableState::Normal;
        t.put_table(&table)?;
    }
    Ok(())
}

/// Whether two partitions of one table would hold a common row.
pub fn bounds_conflict(
    a: &super::schema::PartitionBounds,
    b: &super::schema::PartitionBounds,
) -> bool {
    use super::schema::PartitionBounds as B;
    match (a, b) {
        (
            B::Range {
                lower: l1,
                upper: u1,
            },
            B::Range {
                lower: l2,
                upper: u2,
            },
        ) => l1 < u2 && l2 < u1,
        (B::List { values: v1 }, B::List { values: v2 }) => v1.iter().any(|v| v2.contains(v)),
        _ => true,
    }
}
