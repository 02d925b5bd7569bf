//! The write path of a load: rows in, one rowset file per touched tablet out.
//!
//! Each row goes to the partition whose range or list holds its partition-column value and to
//! the tablet (bucket) chosen by a stable hash of its distribution columns (the same canonical
//! value encoding as the content checksum), or round-robin for RANDOM distribution. Files are
//! finished (fsynced, renamed) before the caller commits them to the catalog in one
//! transaction; until then, and if anything fails, they are not part of any table.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::{CastOptions, cast_with_options, take};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Int8Type, Int16Type, Int32Type, Int64Type, SchemaRef,
    TimeUnit, TimestampMicrosecondType,
};
use datafusion::arrow::util::display::FormatOptions;
use twox_hash::XxHash3_64;

use super::checksum::encode_value;
use super::keyed::{Deleted, DeletedRow, rows_with_keys, write_deletes};
use super::rowset::RowsetWriter;
use super::table::{arrow_schema, arrow_type, rowset_path};
use crate::catalog::TableTree;
use crate::catalog::load::LoadedRowset;
use crate::catalog::schema::{
    ColumnDefault, Datum, Distribution, PartitionBounds, Partitioning, RangeBound, RowsetKind,
    TableMeta,
};

/// Why rows could not be loaded. Nothing is committed when any of these happens.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "Table has no partition for value {value} of column {column}; add a partition that holds it (ALTER TABLE ... ADD PARTITION)"
    )]
    NoPartition { column: String, value: String },
    #[error(
        "Row with {column} = {value} belongs to partition {partition}, which the PARTITION clause does not name"
    )]
    OtherPartition {
        column: String,
        value: String,
        partition: String,
    },
    #[error("Column '{0}' cannot be null")]
    NullInNotNull(String),
    #[error("Incorrect value for column '{column}': {reason}")]
    BadValue { column: String, reason: String },
    /// MySQL's 1264: a number that does not fit the column's type.
    #[error("Out of range value for column '{column}': {reason}")]
    OutOfRange { column: String, reason: String },
    #[error(transparent)]
    Store(#[from] super::RowsetError),
}

struct Target {
    partition_id: u64,
    tablet_id: u64,
}

/// What a load into a PRIMARY KEY or UNIQUE KEY table keeps beside its writers: the key of
/// every row it wrote, so that the rows they replace (earlier in the load, or already in the
/// table) are deleted when it finishes.
struct Keyed {
    key_columns: Vec<usize>,
    /// The tablets as the load read them (the rows its keys replace).
    tablets: HashMap<u64, crate::catalog::TabletTree>,
    /// Per tablet: each key's row in the new file (position, hash), and the rows of the new
    /// file that a later row of the load replaced.
    keys: HashMap<u64, KeysWritten>,
}

#[derive(Default)]
struct KeysWritten {
    last: HashMap<super::keyed::KeyId, (u64, u64)>,
    replaced: Vec<(u64, u64)>,
}

/// Rowset ids a load into `tree`'s table may need: one data file per tablet, and for a keyed
/// table one delete file per tablet too.
pub fn ids_needed(tree: &TableTree) -> usize {
    let tablets: usize = tree.partitions.iter().map(|p| p.tablets.len()).sum();
    if tree.table.key.model.is_unique() {
        tablets * 2
    } else {
        tablets
    }
}

pub struct Loader {
    data_dir: PathBuf,
    table: TableMeta,
    schema: SchemaRef,
    /// Per partition (in `tree` order): id, bounds, tablet ids by bucket.
    partitions: Vec<(u64, PartitionBounds, Vec<u64>)>,
    /// Partitions a `PARTITION (...)` clause allows (all when `None`).
    allowed: Option<Vec<bool>>,
    partition_names: Vec<String>,
    /// Which partition holds a value of the partition column.
    routes: Routes,
    bucket_columns: Vec<usize>,
    partition_column: Option<usize>,
    writers: HashMap<u64, (Target, u64, RowsetWriter)>,
    /// Rowset ids drawn before the load; one per tablet at most.
    ids: Vec<u64>,
    next_random: usize,
    rows: u64,
    keyed: Option<Keyed>,
    /// Tablets holding delete files: a file written there gets a nonce, so it never has the
    /// content (and so the positions) of a file already there (see `store::keyed`).
    with_deletes: std::collections::HashSet<u64>,
}

impl Loader {
    /// `ids` must hold at least one id per tablet of the table, two for a keyed table
    /// ([`ids_needed`]). With `overwrite` the load replaces what the tablets hold: a keyed
    /// table's keys replace only rows of the load itself.
    pub fn new(
        data_dir: PathBuf,
        tree: &TableTree,
        allowed: Option<Vec<String>>,
        ids: Vec<u64>,
        overwrite: bool,
    ) -> Self {
        let table = tree.table.clone();
        let position = |name: &str| table.column_index(name);
        let bucket_columns = match &table.distribution {
            Distribution::Hash { columns, .. } => {
                columns.iter().filter_map(|c| position(c)).collect()
            }
            Distribution::Random { .. } => Vec::new(),
        };
        let partition_column = match &table.partitioning {
            Partitioning::None => None,
            Partitioning::Range { column, .. } | Partitioning::List { column } => position(column),
        };
        let partitions: Vec<_> = tree
            .partitions
            .iter()
            .map(|p| {
                (
                    p.partition.id,
                    p.partition.bounds.clone(),
                    p.tablets.iter().map(|t| t.tablet.id).collect::<Vec<_>>(),
                )
            })
            .collect();
        let partition_names = tree
            .partitions
            .iter()
            .map(|p| p.partition.name.clone())
            .collect();
        let routes = Routes::new(&partitions);
        let allowed = allowed.map(|names| {
            tree.partitions
                .iter()
                .map(|p| {
                    names
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(&p.partition.name))
                })
                .collect()
        });
        let keyed = table.key.model.is_unique().then(|| Keyed {
            key_columns: table.key_indices(),
            tablets: tree
                .partitions
                .iter()
                .flat_map(|p| &p.tablets)
                .filter(|_| !overwrite)
                .map(|t| (t.tablet.id, t.clone()))
                .collect(),
            keys: HashMap::new(),
        });
        let with_deletes = tree
            .partitions
            .iter()
            .flat_map(|p| &p.tablets)
            .filter(|t| t.rowsets.iter().any(|r| !r.kind.is_data()))
            .map(|t| t.tablet.id)
            .collect();
        Self {
            keyed,
            with_deletes,
            data_dir,
            schema: arrow_schema(&table),
            table,
            partitions,
            allowed,
            partition_names,
            routes,
            bucket_columns,
            partition_column,
            writers: HashMap::new(),
            ids,
            next_random: 0,
            rows: 0,
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Adds a batch whose columns are `targets` (table column positions), in order. Blocking.
    pub fn push(&mut self, batch: &RecordBatch, targets: &[usize]) -> Result<(), LoadError> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let columns = self.conform(batch, targets)?;
        // Route every row.
        let mut groups: HashMap<(usize, usize), Vec<u32>> = HashMap::new();
        let mut scratch = Vec::with_capacity(32);
        for row in 0..n {
            let p = self.partition_of(&columns, row)?;
            let buckets = self.partitions.get(p).map_or(1, |(_, _, t)| t.len().max(1));
            let bucket = if self.bucket_columns.is_empty() {
                (self.next_random + row) % buckets
            } else {
                let mut h = 0u64;
                for &c in &self.bucket_columns {
                    scratch.clear();
                    if let Some(array) = columns.get(c) {
                        if array.is_null(row) {
                            scratch.push(0);
                        } else {
                            scratch.push(1);
                            encode_value(array.as_ref(), row, &mut scratch, None);
                        }
                    }
                    h = XxHash3_64::oneshot_with_seed(h, &scratch);
                }
                (h % buckets as u64) as usize
            };
            groups.entry((p, bucket)).or_default().push(row as u32);
        }
        self.next_random = self.next_random.wrapping_add(n);
        for ((p, bucket), rows) in groups {
            let Some((partition_id, _, tablets)) = self.partitions.get(p) else {
                continue;
            };
            let Some(&tablet_id) = tablets.get(bucket) else {
                continue;
            };
            let indices = UInt32Array::from(rows);
            let taken = columns
                .iter()
                .map(|c| take(c.as_ref(), &indices, None))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| LoadError::BadValue {
                    column: String::new(),
                    reason: e.to_string(),
                })?;
            let part = RecordBatch::try_new(Arc::clone(&self.schema), taken).map_err(|e| {
                LoadError::BadValue {
                    column: String::new(),
                    reason: e.to_string(),
                }
            })?;
            if !self.writers.contains_key(&tablet_id) {
                let rowset_id = self.ids.pop().ok_or_else(|| LoadError::BadValue {
                    column: String::new(),
                    reason: "internal: ran out of reserved rowset ids".into(),
                })?;
                let path = rowset_path(&self.data_dir, tablet_id, rowset_id);
                let dir = path.parent().map(PathBuf::from).unwrap_or_default();
                let name = format!("{rowset_id}.parquet");
                let nonce = (self.keyed.is_some() || self.with_deletes.contains(&tablet_id))
                    .then(super::keyed::nonce);
                let writer = RowsetWriter::create(&dir, &name, Arc::clone(&self.schema), nonce)?;
                self.writers.insert(
                    tablet_id,
                    (
                        Target {
                            partition_id: *partition_id,
                            tablet_id,
                        },
                        rowset_id,
                        writer,
                    ),
                );
            }
            // A keyed table remembers each row's key; the rows' hashes it needs for that also
            // give the file's checksum.
            let mut checksum = None;
            let written = self.writers.get(&tablet_id).map_or(0, |(_, _, w)| w.rows());
            if let Some(keyed) = &mut self.keyed {
                let seen = keyed.keys.entry(tablet_id).or_default();
                let hashes = super::checksum::row_hashes(&part);
                let key_columns: Vec<&dyn Array> = keyed
                    .key_columns
                    .iter()
                    .filter_map(|&c| part.columns().get(c).map(|a| a.as_ref()))
                    .collect();
                let mut key = Vec::with_capacity(32);
                let mut sum = 0u64;
                for (row, hash) in hashes.into_iter().enumerate() {
                    sum = sum.wrapping_add(hash);
                    let id = super::keyed::key_id(&key_columns, row, &mut key);
                    let pos = written + row as u64;
                    if let Some(old) = seen.last.insert(id, (pos, hash)) {
                        seen.replaced.push(old);
                    }
                }
                checksum = Some(sum);
            }
            if let Some((_, _, writer)) = self.writers.get_mut(&tablet_id) {
                match checksum {
                    Some(sum) => writer.write_with_checksum(&part, sum)?,
                    None => writer.write(&part)?,
                }
            }
        }
        self.rows += n as u64;
        Ok(())
    }

    /// Finishes every file (durable, final names); the caller commits them. A keyed table's
    /// load also writes, per tablet, the delete file of the rows its keys replace.
    pub fn finish(mut self) -> Result<Vec<LoadedRowset>, LoadError> {
        let mut out: Vec<LoadedRowset> = Vec::with_capacity(self.writers.len());
        let result = self.finish_into(&mut out);
        if result.is_err() {
            for r in &out {
                let _ = std::fs::remove_file(rowset_path(
                    &self.data_dir,
                    r.rowset.tablet_id,
                    r.rowset.id,
                ));
            }
        }
        result.map(|()| out)
    }

    fn finish_into(&mut self, out: &mut Vec<LoadedRowset>) -> Result<(), LoadError> {
        for (_, (target, rowset_id, writer)) in std::mem::take(&mut self.writers) {
            let file = writer.finish()?;
            let sha256 = file.sha256.clone();
            out.push(file.loaded(
                target.partition_id,
                target.tablet_id,
                rowset_id,
                RowsetKind::Data,
            ));
            let Some(keyed) = &mut self.keyed else {
                continue;
            };
            let seen = keyed.keys.remove(&target.tablet_id).unwrap_or_default();
            let mut gone: Vec<DeletedRow> = seen
                .replaced
                .iter()
                .map(|&(pos, hash)| DeletedRow {
                    file: sha256.clone(),
                    pos,
                    hash,
                })
                .collect();
            if let Some(tablet) = keyed.tablets.get(&target.tablet_id) {
                let deleted = Deleted::read(&self.data_dir, tablet)?;
                gone.extend(rows_with_keys(
                    &self.data_dir,
                    tablet,
                    &deleted,
                    &keyed.key_columns,
                    &seen.last,
                )?);
            }
            if gone.is_empty() {
                continue;
            }
            let id = self.ids.pop().ok_or_else(|| LoadError::BadValue {
                column: String::new(),
                reason: "internal: ran out of reserved rowset ids".into(),
            })?;
            let file = write_deletes(&self.data_dir, target.tablet_id, id, gone)?;
            out.push(file.loaded(
                target.partition_id,
                target.tablet_id,
                id,
                RowsetKind::Deletes,
            ));
        }
        Ok(())
    }

    /// [`conform`] for this load's table.
    fn conform(&self, batch: &RecordBatch, targets: &[usize]) -> Result<Vec<ArrayRef>, LoadError> {
        conform(&self.table, batch, targets)
    }

    fn partition_of(&self, columns: &[ArrayRef], row: usize) -> Result<usize, LoadError> {
        self.partition_of_row(columns, row)
    }
}

/// `batch` (whose column `j` is the table's column `targets[j]`) as `table`'s columns: cast to
/// the column types, defaults for columns the statement did not name, NOT NULL enforced.
pub fn conform(
    table: &TableMeta,
    batch: &RecordBatch,
    targets: &[usize],
) -> Result<Vec<ArrayRef>, LoadError> {
    {
        let n = batch.num_rows();
        let strict = CastOptions {
            safe: false,
            format_options: FormatOptions::default(),
        };
        let mut out = Vec::with_capacity(table.columns.len());
        for (i, column) in table.columns.iter().enumerate() {
            let ty = arrow_type(column.data_type);
            let bad = |reason: String| LoadError::BadValue {
                column: column.name.clone(),
                reason,
            };
            let array = match targets
                .iter()
                .position(|&t| t == i)
                .and_then(|j| batch.columns().get(j))
            {
                // Sketches are not cast: `sketch::normalize_column` below takes bytes only.
                Some(source)
                    if matches!(
                        column.data_type,
                        crate::catalog::ColumnType::Bitmap | crate::catalog::ColumnType::Hll
                    ) =>
                {
                    Arc::clone(source)
                }
                Some(source) => cast_with_options(source, &ty, &strict).map_err(|e| {
                    let reason = refused_value(source, &ty, column.data_type)
                        .unwrap_or_else(|| e.to_string());
                    let numeric = |t: &DataType| t.is_numeric();
                    if numeric(source.data_type()) && numeric(&ty) {
                        LoadError::OutOfRange {
                            column: column.name.clone(),
                            reason,
                        }
                    } else {
                        bad(reason)
                    }
                })?,
                None => match &column.default {
                    Some(ColumnDefault::Value(text)) => {
                        let texts =
                            datafusion::arrow::array::StringArray::from(vec![text.as_str(); n]);
                        cast_with_options(&texts, &ty, &strict).map_err(|e| bad(e.to_string()))?
                    }
                    Some(ColumnDefault::CurrentTimestamp) => {
                        let now = chrono::Utc::now().timestamp_micros();
                        let ts =
                            datafusion::arrow::array::TimestampMicrosecondArray::from(vec![now; n]);
                        cast_with_options(&ts, &ty, &strict).map_err(|e| bad(e.to_string()))?
                    }
                    None => new_null_array(&ty, n),
                },
            };
            if !column.nullable && array.null_count() > 0 {
                return Err(LoadError::NullInNotNull(column.name.clone()));
            }
            let array = match column.data_type {
                crate::catalog::ColumnType::Json => {
                    super::json::normalize_column(&array).map_err(bad)?
                }
                kind @ (crate::catalog::ColumnType::Bitmap | crate::catalog::ColumnType::Hll) => {
                    super::sketch::normalize_column(kind, &array).map_err(bad)?
                }
                _ => array,
            };
            if let (DataType::Binary, Some(limit)) = (&ty, column.data_type.max_length()) {
                let bytes = array.as_binary::<i32>();
                if let Some(row) = (0..bytes.len())
                    .find(|&i| bytes.is_valid(i) && bytes.value(i).len() > limit as usize)
                {
                    return Err(bad(format!(
                        "the value of row {} is longer than {limit} bytes",
                        row + 1
                    )));
                }
            }
            if let (DataType::Utf8, Some(limit)) = (&ty, column.data_type.max_length()) {
                let strings = array.as_string::<i32>();
                if let Some(long) = strings.iter().flatten().find(|s| s.len() > limit as usize) {
                    return Err(bad(format!("'{long}' is longer than {limit} bytes")));
                }
            }
            out.push(array);
        }
        Ok(out)
    }
}

impl Loader {
    fn partition_of_row(&self, columns: &[ArrayRef], row: usize) -> Result<usize, LoadError> {
        let index = match self.partition_column {
            None => Some(0),
            Some(c) => {
                let array = columns.get(c);
                let datum = array.and_then(|a| datum(a.as_ref(), row));
                self.routes.route(datum)
            }
        };
        let allowed = |i: usize| {
            self.allowed
                .as_ref()
                .is_none_or(|a| a.get(i).copied().unwrap_or(false))
        };
        let column = self
            .partition_column
            .and_then(|c| self.table.columns.get(c));
        let column_name = column.map_or(String::new(), |c| c.name.clone());
        let value = || {
            self.partition_column
                .and_then(|c| columns.get(c))
                .and_then(|a| datum(a.as_ref(), row))
                .map_or("NULL".to_string(), |d| d.to_string())
        };
        match index {
            Some(i) if allowed(i) => Ok(i),
            Some(i) => Err(LoadError::OtherPartition {
                column: column_name,
                value: value(),
                partition: self.partition_names.get(i).cloned().unwrap_or_default(),
            }),
            None => Err(LoadError::NoPartition {
                column: column_name,
                value: value(),
            }),
        }
    }
}

/// The partitions of a load's table by the values they hold (by index in the load's partition
/// list): ranges sorted by their lower ends, searched by halving (a table partitioned by the
/// hour has thousands), and list values in a map.
struct Routes {
    /// The one partition of an unpartitioned table.
    all: Option<usize>,
    ranges: Vec<(RangeBound, RangeBound, usize)>,
    lists: HashMap<Datum, usize>,
}

impl Routes {
    fn new(partitions: &[(u64, PartitionBounds, Vec<u64>)]) -> Routes {
        let mut routes = Routes {
            all: None,
            ranges: Vec::new(),
            lists: HashMap::new(),
        };
        for (i, (_, bounds, _)) in partitions.iter().enumerate() {
            match bounds {
                PartitionBounds::All => routes.all = routes.all.or(Some(i)),
                PartitionBounds::Range { lower, upper } => {
                    routes.ranges.push((lower.clone(), upper.clone(), i));
                }
                PartitionBounds::List { values } => {
                    for v in values {
                        routes.lists.entry(v.clone()).or_insert(i);
                    }
                }
            }
        }
        // Ranges do not overlap (the catalog checks): sorted by lower end, one search finds
        // the only candidate.
        routes.ranges.sort_by(|a, b| a.0.cmp(&b.0));
        routes
    }

    fn route(&self, value: Option<Datum>) -> Option<usize> {
        if self.all.is_some() {
            return self.all;
        }
        match value {
            // NULL sorts below every value: it belongs to the partition that starts at the
            // bottom, as in StarRocks; a list holds no NULL.
            None => self
                .ranges
                .first()
                .filter(|(lower, _, _)| *lower == RangeBound::Min)
                .map(|r| r.2),
            Some(d) => {
                if let Some(&i) = self.lists.get(&d) {
                    return Some(i);
                }
                let v = RangeBound::Value(d);
                let after = self.ranges.partition_point(|(lower, _, _)| *lower <= v);
                after
                    .checked_sub(1)
                    .and_then(|i| self.ranges.get(i))
                    .filter(|(_, upper, _)| v < *upper)
                    .map(|r| r.2)
            }
        }
    }
}

/// A partition column's value as the catalog's typed datum; `None` for NULL.
/// Why a strict cast of `source` to `ty` (the column's type `column_type`) failed, in the
/// column's SQL terms: the first value that does not convert and its row (`'abc' (row 2) does not
/// fit the column type INT`), found by a lenient cast that turns such values into NULL. `None` when no
/// single value is to blame.
fn refused_value(
    source: &ArrayRef,
    ty: &DataType,
    column_type: crate::catalog::ColumnType,
) -> Option<String> {
    let lenient = cast_with_options(source, ty, &CastOptions::default()).ok()?;
    let row = (0..source.len()).find(|&i| source.is_valid(i) && lenient.is_null(i))?;
    let value = datafusion::arrow::util::display::array_value_to_string(source, row).ok()?;
    let value = if source.data_type().is_numeric() {
        value
    } else {
        format!("'{value}'")
    };
    Some(format!(
        "{value} (row {}) does not fit the column type {}",
        row + 1,
        column_type.sql_text()
    ))
}

pub(crate) fn datum(array: &dyn Array, row: usize) -> Option<Datum> {
    if array.is_null(row) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Int8 => Datum::Int(i128::from(array.as_primitive::<Int8Type>().value(row))),
        DataType::Int16 => Datum::Int(i128::from(array.as_primitive::<Int16Type>().value(row))),
        DataType::Int32 => Datum::Int(i128::from(array.as_primitive::<Int32Type>().value(row))),
        DataType::Int64 => Datum::Int(i128::from(array.as_primitive::<Int64Type>().value(row))),
        DataType::Decimal128(_, 0) => Datum::Int(array.as_primitive::<Decimal128Type>().value(row)),
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            Datum::Date(NaiveDate::from_num_days_from_ce_opt(days + 719_163)?)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => Datum::DateTime(
            array
                .as_primitive::<TimestampMicrosecondType>()
                .value_as_datetime(row)?,
        ),
        DataType::Utf8 => Datum::String(array.as_string::<i32>().value(row).to_string()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_find_the_range_or_list_partition_of_a_value() {
        let int = |n: i64| RangeBound::Value(Datum::Int(i128::from(n)));
        let range = |lower, upper| PartitionBounds::Range { lower, upper };
        // Out of order, with a gap [20, 30) and the bottom and top open.
        let partitions = vec![
            (1, range(int(30), RangeBound::Max), vec![]),
            (2, range(RangeBound::Min, int(10)), vec![]),
            (3, range(int(10), int(20)), vec![]),
        ];
        let routes = Routes::new(&partitions);
        let at = |n: i64| routes.route(Some(Datum::Int(i128::from(n))));
        assert_eq!(
            (
                at(-5),
                at(9),
                at(10),
                at(19),
                at(20),
                at(29),
                at(30),
                at(i64::MAX)
            ),
            (
                Some(1),
                Some(1),
                Some(2),
                Some(2),
                None,
                None,
                Some(0),
                Some(0)
            )
        );
        assert_eq!(routes.route(None), Some(1));
        let upper_only = Routes::new(&[(1, range(int(0), int(5)), vec![])]);
        assert_eq!(upper_only.route(None), None);
        let lists = Routes::new(&[
            (
                1,
                PartitionBounds::List {
                    values: vec![Datum::Int(1), Datum::Int(2)],
                },
                vec![],
            ),
            (
                2,
                PartitionBounds::List {
                    values: vec![Datum::Int(3)],
                },
                vec![],
            ),
        ]);
        assert_eq!(
            (
                lists.route(Some(Datum::Int(2))),
                lists.route(Some(Datum::Int(3)))
            ),
            (Some(0), Some(1))
        );
        assert_eq!(
            (lists.route(Some(Datum::Int(4))), lists.route(None)),
            (None, None)
        );
        let all = Routes::new(&[(1, PartitionBounds::All, vec![])]);
        assert_eq!(all.route(None), Some(0));
    }
}
