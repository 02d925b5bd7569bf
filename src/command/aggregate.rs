//! Loads into AGGREGATE KEY tables: the rows a statement loads are merged, key by key, with the
//! rows the table already holds for those keys, and the merged rows replace them (merge on
//! write, like an upsert into a PRIMARY KEY table).
//!
//! The statement's rows, cast to the table's columns with defaults filled in (`store::load`'s
//! conform), go first to a temporary Parquet file with each row's position in the load. One
//! query then merges them with the table's visible rows of the same keys:
//!
//! ```sql
//! SELECT k, sum(v1), max(v2), last_value(v3 ORDER BY pos), last_value(v4 ORDER BY pos) IGNORE NULLS
//! FROM (SELECT *, pos FROM new UNION ALL
//!       SELECT old.*, -1 FROM old LEFT SEMI JOIN (SELECT DISTINCT k FROM new) n ON old.k IS NOT DISTINCT FROM n.k)
//! GROUP BY k
//! ```
//!
//! and its rows go through the keyed load path (`store::load`), which writes them and deletes
//! the rows of the same keys in one commit. So a query never merges anything, and CHECKSUM TABLE
//! and row counts stay sums over the catalog of the rows a query sees. REPLACE takes the last
//! loaded value (the statement's rows in their order, after the table's), REPLACE_IF_NOT_NULL
//! the last that is not NULL. The caller holds the table's write lock and the pins of the files
//! `tree` names, as every keyed load does.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::catalog::TableTree;
use crate::catalog::schema::{AggregateType, ColumnType, TableMeta};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::load::LoadError;

/// The column holding each new row's position in the load.
const POSITION: &str = crate::catalog::schema::RESERVED_COLUMN;
pub(crate) const NEW: &str = "__backstop_new";
const OLD: &str = "__backstop_old";

/// The statement's rows, staged: the temporary file goes (and its pin) when this is dropped.
pub struct Staged {
    path: std::path::PathBuf,
    _pin: crate::store::pins::PinGuard,
    /// Rows the statement loaded.
    pub rows: u64,
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The statement's rows `source` (whose column `j` is the table's column `targets[j]`)
/// conformed to the table's columns (defaults filled in, values checked) and written to a
/// temporary Parquet file with each row's position in the load ([`POSITION`]), pinned. Rows of
/// a statement are staged when a load needs to look at all of them before it writes: an
/// AGGREGATE KEY table's merge, an expression-partitioned table's new partitions.
pub(crate) async fn stage(
    engine: &Arc<Engine>,
    table: &TableMeta,
    mut source: SendableRecordBatchStream,
    targets: &[usize],
) -> Result<Staged> {
    let id = engine
        .catalog
        .reserve_ids(1)
        .await?
        .pop()
        .ok_or_else(|| Error::Internal("no id for the staged rows".into()))?;
    // A folder no tablet has (ids start above 0): whatever is left there after a crash is a
    // file no catalog row names, which start-up removes; pinned, the collector leaves it.
    let pin = engine.pins.pin([id]);
    let path = crate::store::table::rowset_path(&engine.config.data_dir, 0, id);
    let mut staged = Staged {
        path: path.clone(),
        _pin: pin,
        rows: 0,
    };
    let schema = staged_schema(table);
    let dir = path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let mut writer = crate::store::rowset::RowsetWriter::create(
        &dir,
        &format!("{id}.parquet"),
        Arc::clone(&schema),
        None,
    )
    .map_err(LoadError::from)?;
    while let Some(batch) = source.next().await {
        let batch = batch?;
        let n = batch.num_rows() as u64;
        let first = i64::try_from(staged.rows).unwrap_or(i64::MAX);
        tokio::task::block_in_place(|| -> Result<()> {
            let mut columns = crate::store::load::conform(table, &batch, targets)?;
            columns.push(Arc::new(Int64Array::from_iter_values(
                (0..n as i64).map(|i| first + i),
            )) as ArrayRef);
            let rows = RecordBatch::try_new(Arc::clone(&schema), columns)
                .map_err(|e| Error::Internal(format!("staging the loaded rows: {e}")))?;
            writer.write(&rows).map_err(LoadError::from)?;
            Ok(())
        })?;
        staged.rows += n;
    }
    tokio::task::block_in_place(|| writer.finish()).map_err(LoadError::from)?;
    Ok(staged)
}

impl Staged {
    /// A query context that knows the staged rows as table [`NEW`] (and backstop's functions).
    pub(crate) async fn context(&self, engine: &Engine) -> Result<SessionContext> {
        let ctx = engine.query_context(None);
        super::functions::register(&ctx);
        ctx.register_parquet(
            NEW,
            self.path.to_string_lossy().as_ref(),
            datafusion::prelude::ParquetReadOptions::default(),
        )
        .await?;
        Ok(ctx)
    }

    /// The staged rows in the order they were loaded, as every column of `table`.
    pub(crate) async fn stream(
        &self,
        engine: &Engine,
        table: &TableMeta,
    ) -> Result<SendableRecordBatchStream> {
        let ctx = self.context(engine).await?;
        let columns: Vec<String> = table.columns.iter().map(|c| quoted(&c.name)).collect();
        let df = ctx
            .sql(&format!(
                "SELECT {} FROM {NEW} ORDER BY {}",
                columns.join(", "),
                quoted(POSITION)
            ))
            .await?;
        Ok(df.execute_stream().await?)
    }
}

/// The merged rows of `source` (whose column `j` is the table's column `targets[j]`) and the
/// table's rows of the same keys, as a stream of every table column in order. `overwrite`
/// (INSERT OVERWRITE): the table's rows are replaced, so only the statement's rows merge.
pub async fn merged(
    engine: &Arc<Engine>,
    tree: &TableTree,
    source: SendableRecordBatchStream,
    targets: &[usize],
    overwrite: bool,
) -> Result<(SendableRecordBatchStream, Staged)> {
    let staged = stage(engine, &tree.table, source, targets).await?;
    merge_staged(engine, tree, staged, overwrite).await
}

/// [`merged`] of rows already staged (an expression-partitioned table's load stages them to
/// find their partitions).
pub async fn merge_staged(
    engine: &Arc<Engine>,
    tree: &TableTree,
    staged: Staged,
    overwrite: bool,
) -> Result<(SendableRecordBatchStream, Staged)> {
    let table = &tree.table;
    let ctx = staged.context(engine).await?;
    if !overwrite {
        ctx.register_table(
            OLD,
            Arc::new(crate::store::prune::PrunedTable::new(
                engine.config.data_dir.clone(),
                tree.clone(),
            )),
        )?;
    }
    let df = ctx.sql(&merge_query(table, overwrite)).await?;
    let stream = df.execute_stream().await?;
    Ok((stream, staged))
}

/// The table's columns and the position column.
fn staged_schema(table: &TableMeta) -> SchemaRef {
    let mut fields: Vec<Field> = crate::store::table::arrow_schema(table)
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(POSITION, DataType::Int64, false));
    Arc::new(Schema::new(fields))
}

pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The query that merges the staged rows with the table's rows of their keys.
fn merge_query(table: &TableMeta, overwrite: bool) -> String {
    let keys: Vec<String> = table.key.columns.iter().map(|k| quoted(k)).collect();
    let columns: Vec<String> = table.columns.iter().map(|c| quoted(&c.name)).collect();
    let pos = quoted(POSITION);
    let select: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            let name = quoted(&c.name);
            match c.aggregate {
                None => name,
                // Summed in a type wider than the column's, so that a sum the column cannot
                // hold fails the load's cast back (1264) instead of wrapping around.
                Some(AggregateType::Sum) => match c.data_type {
                    ColumnType::LargeInt => {
                        format!("sum(CAST({name} AS DECIMAL(76, 0))) AS {name}")
                    }
                    ColumnType::Decimal { scale, .. } => {
                        format!("sum(CAST({name} AS DECIMAL(76, {scale}))) AS {name}")
                    }
                    ColumnType::TinyInt
                    | ColumnType::SmallInt
                    | ColumnType::Int
                    | ColumnType::BigInt => {
                        format!("sum(CAST({name} AS DECIMAL(38, 0))) AS {name}")
                    }
                    _ => format!("sum({name}) AS {name}"),
                },
                Some(AggregateType::Max) => format!("max({name}) AS {name}"),
                Some(AggregateType::Min) => format!("min({name}) AS {name}"),
                Some(AggregateType::BitmapUnion) => format!("bitmap_union({name}) AS {name}"),
                Some(AggregateType::HllUnion) => format!("hll_union({name}) AS {name}"),
                Some(AggregateType::ReplaceIfNotNull) => {
                    format!("last_value({name} ORDER BY {pos}) IGNORE NULLS AS {name}")
                }
                // REPLACE, and PERCENTILE_UNION, which validation refuses before a table has it.
                Some(_) => format!("last_value({name} ORDER BY {pos}) AS {name}"),
            }
        })
        .collect();
    let new_rows = format!("SELECT {}, {pos} FROM {NEW}", columns.join(", "));
    let rows = if overwrite {
        new_rows
    } else {
        let old_columns: Vec<String> = columns.iter().map(|c| format!("o.{c}")).collect();
        let on: Vec<String> = keys
            .iter()
            .map(|k| format!("(o.{k} IS NOT DISTINCT FROM n.{k})"))
            .collect();
        // The statement's distinct keys on the join's left, its build side: the hash table
        // holds them, not the table's rows (each old row meets at most one of them).
        format!(
            "{new_rows} UNION ALL SELECT {}, CAST(-1 AS BIGINT) FROM \
             (SELECT DISTINCT {} FROM {NEW}) n JOIN {OLD} o ON {}",
            old_columns.join(", "),
            keys.join(", "),
            on.join(" AND ")
        )
    };
    format!(
        "SELECT {} FROM ({rows}) AS merged GROUP BY {}",
        select.join(", "),
        keys.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::schema::{ColumnMeta, KeyDesc, KeyModel};

    #[test]
    fn the_merge_query_names_every_column_once() {
        let column = |name: &str, aggregate| ColumnMeta {
            name: name.into(),
            data_type: ColumnType::BigInt,
            nullable: true,
            default: None,
            comment: None,
            aggregate,
        };
        let mut table = TableMeta::columns_only(
            "t".into(),
            vec![
                column("k", None),
                column("s\"um", Some(AggregateType::Sum)),
                column("r", Some(AggregateType::ReplaceIfNotNull)),
            ],
            None,
        );
        table.key = KeyDesc {
            model: KeyModel::Aggregate,
            columns: vec!["k".into()],
        };
        let q = merge_query(&table, false);
        assert!(
            q.starts_with(
                "SELECT \"k\", sum(CAST(\"s\"\"um\" AS DECIMAL(38, 0))) AS \"s\"\"um\", \
                 last_value(\"r\" ORDER BY \"__backstop_pos\") IGNORE NULLS AS \"r\" FROM ("
            ),
            "{q}"
        );
        assert!(q.ends_with("GROUP BY \"k\""), "{q}");
        assert!(q.contains("(o.\"k\" IS NOT DISTINCT FROM n.\"k\")"), "{q}");
        assert!(!merge_query(&table, true).contains("UNION ALL"));
    }
}
