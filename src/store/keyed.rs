//! Deleted rows on immutable files: PRIMARY KEY and UNIQUE KEY upserts, DELETE and UPDATE.
//!
//! A rowset file is never rewritten. A change that removes rows (an upsert replacing the row
//! with the same key, a DELETE, an UPDATE) adds, in the same catalog commit as any new rows, a
//! *delete file* to the tablet: an Apache Iceberg position-delete file, Parquet with the
//! columns `file_path` (field id 2147483546) and `pos` (field id 2147483545), sorted by both.
//! `file_path` names the data file by its content, `objects/<2 hex>/<sha256>`
//! ([`crate::catalog::schema::object_key`]), which is also its key in every repository, so a
//! delete file means the same in the data directory and in a snapshot; `pos` is the 0-based row
//! of that file. A data file of a keyed table carries a random nonce in its Parquet metadata, so
//! two files of one tablet never share a sha256 (two loads of the same rows would otherwise be
//! one name, and a delete of one would delete both).
//!
//! Queries read each data file with the positions its tablet's delete files name skipped
//! (a Parquet row selection: nothing is merged in memory). A delete file's `rows` is the number
//! of positions and its content checksum the sum of the deleted rows' hashes, so a tablet's
//! visible rows and CHECKSUM TABLE stay sums over the catalog, with no scan.
//!
//! Every change of a keyed table is made under that table's write lock ([`TableLocks`]) and
//! commits only if the partitions it read are still at the versions it read, so two upserts
//! of one key never both survive.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::PARQUET_FIELD_ID_META_KEY;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};

use super::RowsetError;
use super::checksum::{encode_value, row_hashes};
use super::rowset::{RowsetFile, RowsetWriter};
use super::table::rowset_path;
use crate::catalog::TabletTree;
use crate::catalog::schema::{RowsetKind, object_key};

/// Iceberg's reserved field ids of a position-delete file's columns.
const FILE_PATH_FIELD_ID: &str = "2147483546";
const POS_FIELD_ID: &str = "2147483545";

/// The schema of a delete file (Iceberg's position deletes).
pub fn delete_schema() -> SchemaRef {
    let field = |name: &str, ty: DataType, id: &str| {
        Field::new(name, ty, false).with_metadata(HashMap::from([(
            PARQUET_FIELD_ID_META_KEY.to_string(),
            id.to_string(),
        )]))
    };
    Arc::new(Schema::new(vec![
        field("file_path", DataType::Utf8, FILE_PATH_FIELD_ID),
        field("pos", DataType::Int64, POS_FIELD_ID),
    ]))
}

pub(super) fn read_error(path: &Path, e: impl std::fmt::Display) -> RowsetError {
    RowsetError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Opens a rowset file for reading, under a descriptor of the open-files budget.
pub(super) fn open_reader(
    path: &Path,
    projection: Option<&[usize]>,
) -> Result<
    (
        crate::open_files::Permit,
        ParquetRecordBatchReaderBuilder<File>,
    ),
    RowsetError,
> {
    let permit = crate::open_files::budget().acquire_blocking(1);
    let file = File::open(path).map_err(|e| read_error(path, e))?;
    let mut builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_error(path, e))?;
    if let Some(columns) = projection {
        let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
        builder = builder.with_projection(mask);
    }
    Ok((permit, builder))
}

/// The rows of one tablet that its delete files remove, by data file sha256.
#[derive(Debug, Default, Clone)]
pub struct Deleted {
    by_file: HashMap<String, BTreeSet<u64>>,
}

impl Deleted {
    /// Reads the delete files of `tablet`. Blocking.
    pub fn read(data_dir: &Path, tablet: &TabletTree) -> Result<Self, RowsetError> {
        let mut deleted = Deleted::default();
        for rowset in tablet
            .rowsets
            .iter()
            .filter(|r| r.kind == RowsetKind::Deletes)
        {
            let path = rowset_path(data_dir, tablet.tablet.id, rowset.id);
            for_each_position(&path, |sha, pos| {
                deleted
                    .by_file
                    .entry(sha.to_string())
                    .or_default()
                    .insert(pos);
            })?;
        }
        Ok(deleted)
    }

    pub fn of(&self, sha256: &str) -> Option<&BTreeSet<u64>> {
        self.by_file.get(sha256).filter(|p| !p.is_empty())
    }

    /// Every data file (sha256) with the positions deleted from it.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &BTreeSet<u64>)> {
        self.by_file.iter().map(|(sha, p)| (sha.as_str(), p))
    }
}

/// Calls `visit` with every (data file sha256, position) a delete file names. Blocking.
pub fn for_each_position(path: &Path, mut visit: impl FnMut(&str, u64)) -> Result<(), RowsetError> {
    let (_permit, builder) = open_reader(path, None)?;
    for batch in builder.build().map_err(|e| read_error(path, e))? {
        let batch = batch.map_err(|e| read_error(path, e))?;
        let (Some(files), Some(positions)) = (
            batch.column(0).as_string_opt::<i32>(),
            batch.column(1).as_any().downcast_ref::<Int64Array>(),
        ) else {
            return Err(read_error(path, "not a position-delete file"));
        };
        for (file, pos) in files.iter().zip(positions.iter()) {
            let (Some(file), Some(pos)) = (file, pos) else {
                continue;
            };
            let sha = file.rsplit('/').next().unwrap_or(file);
            visit(sha, u64::try_from(pos).unwrap_or(u64::MAX));
        }
    }
    Ok(())
}

/// The selection of a file of `rows` rows that skips `deleted`.
pub fn selection(deleted: &BTreeSet<u64>, rows: u64) -> RowSelection {
    let mut selectors = Vec::new();
    let mut at = 0u64;
    for &pos in deleted.range(..rows) {
        if pos > at {
            selectors.push(RowSelector::select((pos - at) as usize));
        }
        selectors.push(RowSelector::skip(1));
        at = pos + 1;
    }
    if rows > at {
        selectors.push(RowSelector::select((rows - at) as usize));
    }
    RowSelection::from(selectors)
}

/// A row's key as compared: the 128-bit xxh3 of [`key_of`]'s bytes. Kept instead of the bytes
/// so that a load remembers 16 bytes per row, not the key itself plus an allocation (measured:
/// +580 MiB for 11 million keys); two different keys collide with odds of about n²/2^129 (for
/// a billion keys, 10^-21).
pub type KeyId = u128;

/// The [`KeyId`] of row `row` of the key columns `columns`; `scratch` is reused.
pub fn key_id(columns: &[&dyn Array], row: usize, scratch: &mut Vec<u8>) -> KeyId {
    key_of(columns, row, scratch);
    twox_hash::XxHash3_128::oneshot(scratch)
}

/// The identity of a row's key: each key column's canonical value, length-prefixed, NULL
/// distinct from every value.
fn key_of(columns: &[&dyn Array], row: usize, out: &mut Vec<u8>) {
    out.clear();
    let mut value = Vec::with_capacity(16);
    for column in columns {
        if column.is_null(row) {
            out.push(0);
            continue;
        }
        value.clear();
        encode_value(*column, row, &mut value, None);
        out.push(1);
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(&value);
    }
}

/// Calls `visit` with every batch of a data file's visible rows and the file position of each
/// row, reading only `projection` (table column positions) when given. Blocking.
pub fn for_each_live(
    path: &Path,
    deleted: Option<&BTreeSet<u64>>,
    projection: Option<&[usize]>,
    mut visit: impl FnMut(&RecordBatch, &[u64]) -> Result<(), RowsetError>,
) -> Result<(), RowsetError> {
    let (_permit, builder) = open_reader(path, projection)?;
    let mut at = 0u64;
    for batch in builder.build().map_err(|e| read_error(path, e))? {
        let batch = batch.map_err(|e| read_error(path, e))?;
        let positions: Vec<u64> = (at..at + batch.num_rows() as u64).collect();
        at += batch.num_rows() as u64;
        let Some(deleted) = deleted.filter(|d| positions.iter().any(|p| d.contains(p))) else {
            visit(&batch, &positions)?;
            continue;
        };
        let live: BooleanArray = positions
            .iter()
            .map(|p| Some(!deleted.contains(p)))
            .collect();
        let kept = datafusion::arrow::compute::filter_record_batch(&batch, &live)
            .map_err(|e| read_error(path, e))?;
        let kept_positions: Vec<u64> = positions
            .into_iter()
            .filter(|p| !deleted.contains(p))
            .collect();
        if !kept_positions.is_empty() {
            visit(&kept, &kept_positions)?;
        }
    }
    Ok(())
}

/// One deleted row: the data file (sha256), its position there, and the row's hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeletedRow {
    pub file: String,
    pub pos: u64,
    pub hash: u64,
}

/// The visible rows of `tablet` whose key is in `keys`, as deletions. `key_columns` are table
/// column positions. Blocking: reads the key columns of every data file, then whole rows of
/// only the files that hold a match (their hashes go into the delete file's checksum).
pub fn rows_with_keys<V>(
    data_dir: &Path,
    tablet: &TabletTree,
    deleted: &Deleted,
    key_columns: &[usize],
    keys: &HashMap<KeyId, V>,
) -> Result<Vec<DeletedRow>, RowsetError> {
    let mut out = Vec::new();
    if keys.is_empty() {
        return Ok(out);
    }
    let mut key = Vec::with_capacity(32);
    for rowset in tablet.rowsets.iter().filter(|r| r.kind == RowsetKind::Data) {
        let path = rowset_path(data_dir, tablet.tablet.id, rowset.id);
        let gone = deleted.of(&rowset.sha256);
        let mut hits = BTreeSet::new();
        for_each_live(&path, gone, Some(key_columns), |batch, positions| {
            let columns: Vec<&dyn Array> = batch.columns().iter().map(|c| c.as_ref()).collect();
            for (row, &pos) in positions.iter().enumerate() {
                if keys.contains_key(&key_id(&columns, row, &mut key)) {
                    hits.insert(pos);
                }
            }
            Ok(())
        })?;
        if !hits.is_empty() {
            deletions(&path, &rowset.sha256, gone, &mut out, |_, positions| {
                Ok(positions.iter().map(|p| hits.contains(p)).collect())
            })?;
        }
    }
    Ok(out)
}

/// The visible rows of `tablet` that `matches` selects (a DELETE's WHERE), as deletions.
/// Blocking.
pub fn rows_matching(
    data_dir: &Path,
    tablet: &TabletTree,
    deleted: &Deleted,
    matches: &dyn Fn(&RecordBatch) -> Result<Vec<bool>, String>,
) -> Result<Vec<DeletedRow>, RowsetError> {
    let mut out = Vec::new();
    for rowset in tablet.rowsets.iter().filter(|r| r.kind == RowsetKind::Data) {
        let path = rowset_path(data_dir, tablet.tablet.id, rowset.id);
        let gone = deleted.of(&rowset.sha256);
        deletions(&path, &rowset.sha256, gone, &mut out, |batch, _| {
            matches(batch)
        })?;
    }
    Ok(out)
}

/// Adds to `out` the visible rows of data file `path` (content `sha256`) that `select` picks,
/// batch by batch (given the batch and its rows' positions), each with its hash.
fn deletions(
    path: &Path,
    sha256: &str,
    gone: Option<&BTreeSet<u64>>,
    out: &mut Vec<DeletedRow>,
    mut select: impl FnMut(&RecordBatch, &[u64]) -> Result<Vec<bool>, String>,
) -> Result<(), RowsetError> {
    for_each_live(path, gone, None, |batch, positions| {
        let picked = select(batch, positions).map_err(|e| read_error(path, e))?;
        let hashes = row_hashes(batch);
        for ((pos, hash), hit) in positions.iter().zip(hashes).zip(picked) {
            if hit {
                out.push(DeletedRow {
                    file: sha256.to_string(),
                    pos: *pos,
                    hash,
                });
            }
        }
        Ok(())
    })
}

/// Writes `rows` as delete file `id` of tablet `tablet_id`: sorted, durable, its checksum the
/// sum of the deleted rows' hashes. Blocking.
///
/// An entry is written once per deleted row, even when two data files of a tablet have the
/// same bytes (a DUPLICATE KEY table loaded twice with the same rows): a position names a row
/// of every file with that content, and a condition that deletes it from one deletes it from
/// all, so each copy's row is one entry, and the file's row count is the rows it removes.
pub fn write_deletes(
    data_dir: &Path,
    tablet_id: u64,
    id: u64,
    rows: Vec<DeletedRow>,
) -> Result<RowsetFile, RowsetError> {
    let checksum = rows.iter().fold(0u64, |acc, r| acc.wrapping_add(r.hash));
    let positions = rows.into_iter().map(|r| (r.file, r.pos)).collect();
    let mut file = write_positions(data_dir, tablet_id, id, positions)?;
    file.checksum = checksum;
    Ok(file)
}

/// Writes `positions` (data file sha256, row) as delete file `id` of tablet `tablet_id`,
/// sorted and durable; the caller sets the checksum. Blocking.
pub fn write_positions(
    data_dir: &Path,
    tablet_id: u64,
    id: u64,
    mut positions: Vec<(String, u64)>,
) -> Result<RowsetFile, RowsetError> {
    let path = rowset_path(data_dir, tablet_id, id);
    let dir = path.parent().unwrap_or(data_dir);
    let name = format!("{id}.parquet");
    positions.sort();
    let paths: StringArray = positions
        .iter()
        .map(|(file, _)| Some(object_key(file)))
        .collect();
    let rows: Int64Array = positions
        .iter()
        .map(|(_, pos)| Some(i64::try_from(*pos).unwrap_or(i64::MAX)))
        .collect();
    let batch = RecordBatch::try_new(
        delete_schema(),
        vec![Arc::new(paths) as ArrayRef, Arc::new(rows) as ArrayRef],
    )
    .map_err(|e| read_error(&path, e))?;
    let mut writer = RowsetWriter::create(dir, &name, delete_schema(), None)?;
    writer.write(&batch)?;
    writer.finish()
}

/// A random value for a keyed table's data file metadata, so no two files of a tablet share
/// their bytes (see the module's documentation).
pub fn nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// One write lock per keyed table: upserts, DELETE and UPDATE of one table run one at a time.
#[derive(Default)]
pub struct TableLocks {
    locks: Mutex<BTreeMap<u64, Arc<tokio::sync::Mutex<()>>>>,
}

impl TableLocks {
    /// Waits for table `table_id`'s write lock.
    pub async fn lock(&self, table_id: u64) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            // Locks nobody holds or waits for go, so the map stays as small as the writers.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            Arc::clone(locks.entry(table_id).or_default())
        };
        lock.lock_owned().await
    }

    /// Table `table_id`'s write lock if nobody holds it now.
    pub fn try_lock(&self, table_id: u64) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            Arc::clone(locks.entry(table_id).or_default())
        };
        lock.try_lock_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_skips_exactly_the_deleted_rows() {
        let deleted = BTreeSet::from([0, 3, 4, 9]);
        let s = selection(&deleted, 10);
        assert_eq!(s.row_count(), 6);
        assert_eq!(s.skipped_row_count(), 4);
        let none = selection(&BTreeSet::new(), 5);
        assert_eq!(none.row_count(), 5);
    }

    #[test]
    fn keys_are_unambiguous() {
        let a = StringArray::from(vec![Some("ab"), Some("a"), None]);
        let b = StringArray::from(vec![Some("c"), Some("bc"), Some("")]);
        let cols: Vec<&dyn Array> = vec![&a, &b];
        let mut k0 = Vec::new();
        let mut k1 = Vec::new();
        key_of(&cols, 0, &mut k0);
        key_of(&cols, 1, &mut k1);
        assert_ne!(k0, k1);
    }

    #[test]
    fn delete_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            DeletedRow {
                file: "ab".repeat(32),
                pos: 7,
                hash: 5,
            },
            DeletedRow {
                file: "ab".repeat(32),
                pos: 2,
                hash: 6,
            },
        ];
        let file = write_deletes(dir.path(), 7, 1, rows).unwrap();
        assert_eq!((file.rows, file.checksum), (2, 11));
        let (_p, builder) = open_reader(&file.path, None).unwrap();
        let batch = builder.build().unwrap().next().unwrap().unwrap();
        assert_eq!(
            batch.column(0).as_string::<i32>().value(0),
            format!("objects/ab/{}", "ab".repeat(32))
        );
        assert_eq!(
            batch
                .column(1)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(0),
            2
        );
    }
}
