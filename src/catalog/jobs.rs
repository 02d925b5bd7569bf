//! BACKUP and RESTORE job records: job id → JSON document.
//!
//! The jobs layer owns the record's shape; the catalog only keeps it durable, so a state change
//! is persisted (one transaction) before the job relies on it.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::{Catalog, CatalogError, storage};

/// Job id → the job's JSON record.
pub(crate) const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");

impl Catalog {
    /// Stores (replaces) a job's record.
    pub async fn put_job(&self, id: u64, record: Vec<u8>) -> Result<(), CatalogError> {
        self.write(move |txn| put_job_in(txn, id, &record)).await
    }

    /// Every job record, by id. Blocking: for start-up.
    pub fn jobs_blocking(&self) -> Result<Vec<(u64, Vec<u8>)>, CatalogError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(JOBS).map_err(storage)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(storage)? {
            let (k, v) = entry.map_err(storage)?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Removes a job's record.
    pub async fn delete_job(&self, id: u64) -> Result<(), CatalogError> {
        self.write(move |txn| {
            let mut table = txn.open_table(JOBS).map_err(storage)?;
            table.remove(id).map_err(storage)?;
            Ok(())
        })
        .await
    }

    /// Draws a fresh id (jobs share the catalog's one id sequence).
    pub async fn new_id(&self) -> Result<u64, CatalogError> {
        self.write(super::next_id).await
    }
}

/// Writes a job record inside a larger transaction (a restore's commit marks its job FINISHED
/// in the same transaction that swaps the data in).
pub fn put_job_in(
    txn: &redb::WriteTransaction,
    id: u64,
    record: &[u8],
) -> Result<(), CatalogError> {
    let mut table = txn.open_table(JOBS).map_err(storage)?;
    table.insert(id, record).map_err(storage)?;
    Ok(())
}

impl Catalog {
    /// Stores a job record. Blocking: for start-up.
    pub fn put_job_blocking(&self, id: u64, record: &[u8]) -> Result<(), CatalogError> {
        let txn = self.db.begin_write().map_err(storage)?;
        put_job_in(&txn, id, record)?;
        txn.commit().map_err(storage)
    }

    /// Removes a job record. Blocking: for start-up.
    pub fn delete_job_blocking(&self, id: u64) -> Result<(), CatalogError> {
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut table = txn.open_table(JOBS).map_err(storage)?;
            table.remove(id).map_err(storage)?;
        }
        txn.commit().map_err(storage)
    }
}
