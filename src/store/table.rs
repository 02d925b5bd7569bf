//! A table as the query engine sees it: its Arrow schema, where its rowset files live, and a
//! DataFusion table provider over the committed rowsets of one catalog read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::Session;
use datafusion::common::DFSchema;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::error::Result as DfResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::utils::conjunction;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;

use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;

use super::keyed::Deleted;
use crate::catalog::schema::{ColumnType, RowsetKind, TableMeta};
use crate::catalog::{TableTree, TabletTree};

/// The Arrow type a column is stored and computed in.
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::TinyInt => DataType::Int8,
        ColumnType::SmallInt => DataType::Int16,
        ColumnType::Int => DataType::Int32,
        ColumnType::BigInt => DataType::Int64,
        // 128-bit integers: a 38-digit decimal, which every Parquet reader understands.
        ColumnType::LargeInt => DataType::Decimal128(38, 0),
        ColumnType::Float => DataType::Float32,
        ColumnType::Double => DataType::Float64,
        ColumnType::Decimal {
            precision, scale, ..
        } => DataType::Decimal128(
            u8::try_from(precision).unwrap_or(38),
            i8::try_from(scale).unwrap_or(0),
        ),
        ColumnType::Char(_) | ColumnType::Varchar(_) | ColumnType::String => DataType::Utf8,
        ColumnType::Date => DataType::Date32,
        ColumnType::DateTime => DataType::Timestamp(TimeUnit::Microsecond, None),
        // JSON as its normalized text (what StarRocks' JSON functions and clients read).
        ColumnType::Json => DataType::Utf8,
        // A BITMAP or HLL value as its serialized sketch (`store::sketch`).
        ColumnType::Varbinary(_) | ColumnType::Bitmap | ColumnType::Hll => DataType::Binary,
    }
}

/// `batch`, read from a rowset file, as a batch of `schema` (the table's columns now): its
/// columns taken by name, a column the file lacks (added after it was written) NULL, a column
/// the table no longer has (dropped since) left out. A batch of the table's own columns comes
/// back as it is.
pub fn adapt_to(
    batch: &datafusion::arrow::array::RecordBatch,
    schema: &SchemaRef,
) -> Result<datafusion::arrow::array::RecordBatch, datafusion::arrow::error::ArrowError> {
    let file = batch.schema();
    let same = file.fields().len() == schema.fields().len()
        && file
            .fields()
            .iter()
            .zip(schema.fields())
            .all(|(a, b)| a.name() == b.name());
    if same {
        return Ok(batch.clone());
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| match file.index_of(field.name()) {
            Ok(i) => Arc::clone(batch.column(i)),
            Err(_) => datafusion::arrow::array::new_null_array(field.data_type(), batch.num_rows()),
        })
        .collect();
    datafusion::arrow::array::RecordBatch::try_new(Arc::clone(schema), columns)
}

pub fn arrow_schema(table: &TableMeta) -> SchemaRef {
    Arc::new(Schema::new(
        table
            .columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(c.data_type), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// `<data-dir>/data`: the folder of every tablet's rowset files.
pub fn rowsets_root(data_dir: &Path) -> PathBuf {
    data_dir.join("data")
}

/// `<data-dir>/data/<tablet id>/<rowset id>.parquet`: ids are never reused, so a path names one
/// immutable file forever.
pub fn rowset_path(data_dir: &Path, tablet_id: u64, rowset_id: u64) -> PathBuf {
    rowsets_root(data_dir)
        .join(tablet_id.to_string())
        .join(format!("{rowset_id}.parquet"))
}

/// The scan of exactly the rowsets of `tree` (one consistent catalog read: a load that commits
/// later is not seen by a query that already has its tree), planned from the catalog's file
/// sizes, so planning asks the file system nothing beyond whether each file is there
/// (DataFusion's listing table asked for the size of every file, at every query). The Parquet
/// format plans it as for a listing table: the session's options and the runtime's footer
/// cache (a rowset file never changes, so a footer read once serves every later query).
pub async fn scan(
    data_dir: &Path,
    tree: &TableTree,
    state: &dyn Session,
    projection: Option<&Vec<usize>>,
    filters: &[Expr],
    limit: Option<usize>,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    let schema = arrow_schema(&tree.table);
    // The rows delete files remove, per tablet that has any (read off the async workers).
    let deleted: std::collections::HashMap<u64, Deleted> = {
        let with_deletes: Vec<TabletTree> = tree
            .partitions
            .iter()
            .flat_map(|p| &p.tablets)
            .filter(|t| t.rowsets.iter().any(|r| r.kind == RowsetKind::Deletes))
            .cloned()
            .collect();
        if with_deletes.is_empty() {
            Default::default()
        } else {
            let dir = data_dir.to_path_buf();
            tokio::task::spawn_blocking(move || {
                with_deletes
                    .iter()
                    .map(|t| Ok((t.tablet.id, Deleted::read(&dir, t)?)))
                    .collect::<Result<_, super::RowsetError>>()
            })
            .await
            .map_err(|e| datafusion::error::DataFusionError::External(e.into()))?
            .map_err(|e| datafusion::error::DataFusionError::External(e.into()))?
        }
    };
    let files = tree
        .partitions
        .iter()
        .flat_map(|p| &p.tablets)
        .flat_map(|t| {
            t.rowsets
                .iter()
                .filter(|r| r.kind == RowsetKind::Data)
                .map(move |r| (t.tablet.id, r))
        })
        .map(|(tablet, r)| {
            let path = rowset_path(data_dir, tablet, r.id);
            // A missing file would fail the scan with a bare "not found": say what it means.
            if !path.is_file() {
                return Err(datafusion::error::DataFusionError::External(
                    format!(
                        "rowset file {} of table {} is missing: the data directory is damaged",
                        path.display(),
                        tree.table.name
                    )
                    .into(),
                ));
            }
            let location = ObjectPath::from_absolute_path(&path).map_err(|e| {
                datafusion::error::DataFusionError::External(
                    format!("rowset file {}: {e}", path.display()).into(),
                )
            })?;
            let file = PartitionedFile::new(location.to_string(), r.bytes);
            Ok(match deleted.get(&tablet).and_then(|d| d.of(&r.sha256)) {
                Some(gone) => file.with_extension(ParquetRowSelection::new(
                    super::keyed::selection(gone, r.rows),
                )),
                None => file,
            })
        })
        .collect::<DfResult<Vec<_>>>()?;
    if files.is_empty() {
        let projected = match projection {
            Some(p) => Arc::new(schema.project(p)?),
            None => schema,
        };
        return Ok(Arc::new(EmptyExec::new(projected)));
    }
    let mut source = ParquetSource::new(Arc::clone(&schema));
    if let Some(predicate) = conjunction(filters.to_vec()) {
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        source = source.with_predicate(state.create_physical_expr(predicate, &df_schema)?);
    }
    // Files dealt round-robin into the session's partitions.
    let partitions = state.config().target_partitions().max(1);
    let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); partitions];
    for (i, file) in files.into_iter().enumerate() {
        if let Some(group) = groups.get_mut(i % partitions) {
            group.push(file);
        }
    }
    let groups = groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .map(FileGroup::new)
        .collect();
    let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
        .with_file_groups(groups)
        .with_projection_indices(projection.cloned())?
        .with_limit(limit)
        .build();
    ParquetFormat::default()
        .with_options(state.table_options().parquet.clone())
        .create_physical_plan(state, config)
        .await
}

/// Deletes rowset files that no committed rowset references: files a crash left between
/// writing and committing, unfinished `.tmp` files, and files of truncated or dropped data.
/// Runs at start-up, before any query can hold a file. Returns how many files it removed.
pub fn remove_unreferenced(
    data_dir: &Path,
    committed: &std::collections::HashSet<(u64, u64)>,
) -> std::io::Result<usize> {
    let root = rowsets_root(data_dir);
    let Ok(tablets) = std::fs::read_dir(&root) else {
        return Ok(0);
    };
    let mut removed = 0;
    for tablet_dir in tablets.flatten() {
        let path = tablet_dir.path();
        let tablet: Option<u64> = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse().ok());
        let Some(tablet) = tablet.filter(|_| path.is_dir()) else {
            continue;
        };
        for file in std::fs::read_dir(&path)?.flatten() {
            let name = file.file_name();
            let name = name.to_string_lossy();
            let rowset: Option<u64> = name.strip_suffix(".parquet").and_then(|n| n.parse().ok());
            let keep = rowset.is_some_and(|r| committed.contains(&(tablet, r)));
            if !keep {
                std::fs::remove_file(file.path())?;
                removed += 1;
            }
        }
        // An empty tablet folder goes too (remove_dir fails, harmlessly, when it is not empty).
        let _ = std::fs::remove_dir(&path);
    }
    Ok(removed)
}
