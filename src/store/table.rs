//! A table as the query engine sees it: its Arrow schema, where its rowset files live, and a
//! DataFusion table provider over the committed rowsets of one catalog read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::Result as DfResult;

use crate::catalog::TableTree;
use crate::catalog::schema::{ColumnType, TableMeta};

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
    }
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

/// A provider over exactly the rowsets of `tree` (one consistent catalog read): a load that
/// commits later is not seen by a query that already has its provider.
pub fn provider(data_dir: &Path, tree: &TableTree) -> DfResult<Arc<dyn TableProvider>> {
    let schema = arrow_schema(&tree.table);
    let urls = tree
        .partitions
        .iter()
        .flat_map(|p| &p.tablets)
        .flat_map(|t| {
            t.rowsets
                .iter()
                .map(move |r| rowset_path(data_dir, t.tablet.id, r.id))
        })
        .map(|path| {
            // A listing of a missing file is empty, not an error: check, so that a damaged data
            // directory fails the query instead of silently returning fewer rows.
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
            ListingTableUrl::parse(path.to_string_lossy())
        })
        .collect::<DfResult<Vec<_>>>()?;
    if urls.is_empty() {
        return Ok(Arc::new(MemTable::try_new(schema, vec![vec![]])?));
    }
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
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
