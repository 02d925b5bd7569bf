//! Expression partitioning (`PARTITION BY date_trunc('day', dt)`, StarRocks' recommended
//! partitioning since 3.0): a load creates the partitions its rows need.
//!
//! The statement's rows are staged first (`aggregate::stage`: conformed to the table's
//! columns, in a temporary Parquet file), so the load knows every unit its rows fall in before
//! it writes. The partitions of those units that the table lacks — `[start, start + 1 unit)`,
//! named as dynamic partitioning names them (`p20260101`, `p202601`, `p2026`, `p2026010100`) —
//! are created in one catalog transaction, then the staged rows load as into any range-
//! partitioned table. As in StarRocks, partitions a load created stay when the load then fails
//! (they are empty): the rows themselves commit all or nothing.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Datelike, NaiveDateTime};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{DataType, Date32Type, Int64Type};
use datafusion::execution::SendableRecordBatchStream;

use super::aggregate::{NEW, Staged, quoted, stage};
use crate::catalog::schema::{
    Datum, PartitionBounds, PartitionSpec, PartitionValuesSpec, Partitioning, RangeBound,
};
use crate::catalog::{ColumnType, TableTree};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::sql::TimeUnit;

/// The time unit of an expression-partitioned table.
pub fn unit_of(tree: &TableTree) -> Option<TimeUnit> {
    match tree.table.partitioning {
        Partitioning::Range { auto, .. } => auto,
        _ => None,
    }
}

/// Stages `source` (whose column `j` is the table's column `targets[j]`), creates the
/// partitions its rows need, and returns the table as it is now, the staged rows (every
/// column, in load order) and the staging, which must live until the load ends.
pub async fn prepare(
    engine: &Arc<Engine>,
    db: &str,
    table_name: &str,
    tree: TableTree,
    source: SendableRecordBatchStream,
    targets: &[usize],
) -> Result<(TableTree, SendableRecordBatchStream, Staged)> {
    let (Some(unit), Some(meta)) = (unit_of(&tree), tree.table.partition_column()) else {
        return Err(Error::Internal(
            "expression partitioning without a unit or column".into(),
        ));
    };
    let (column, ty) = (meta.name.clone(), meta.data_type);
    let staged = stage(engine, &tree.table, source, targets).await?;
    let ctx = staged.context(engine).await?;
    let name = quoted(&column);
    // The distinct days (hours for `hour`), floored to the unit below. Not DataFusion's
    // date_trunc: it works in nanoseconds, which end in 2262 (and begin in 1677).
    const HOUR_MICROS: i64 = 3_600_000_000;
    let query = if unit == TimeUnit::Hour {
        // The hour of each DATETIME, as microseconds (floored, below 1970 too).
        format!(
            "SELECT DISTINCT CAST({name} AS BIGINT) - (CAST({name} AS BIGINT) % {HOUR_MICROS} \
             + {HOUR_MICROS}) % {HOUR_MICROS} FROM {NEW}"
        )
    } else {
        format!("SELECT DISTINCT CAST({name} AS DATE) FROM {NEW}")
    };
    let batches = ctx.sql(&query).await?.collect().await?;
    let mut starts = BTreeSet::new();
    for batch in &batches {
        let Some(values) = batch.columns().first() else {
            continue;
        };
        let times: Vec<Option<NaiveDateTime>> = match values.data_type() {
            DataType::Date32 => values
                .as_primitive::<Date32Type>()
                .iter()
                .map(|d| d.and_then(Date32Type::to_naive_date_opt))
                .map(|d| d.and_then(|d| d.and_hms_opt(0, 0, 0)))
                .collect(),
            _ => datafusion::arrow::compute::cast(values, &DataType::Int64)
                .map_err(|e| Error::Internal(format!("the partition times of the load: {e}")))?
                .as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.and_then(chrono::DateTime::from_timestamp_micros))
                .map(|t| t.map(|t| t.naive_utc()))
                .collect(),
        };
        for v in times {
            match v {
                Some(t) => {
                    starts.insert(unit.floor(t));
                }
                // NULL sorts below every value: only a partition from the bottom holds it (as
                // in any range-partitioned table); refused before any partition is created.
                None if !tree.partitions.iter().any(|p| {
                    matches!(
                        p.partition.bounds,
                        PartitionBounds::Range {
                            lower: RangeBound::Min,
                            ..
                        }
                    )
                }) =>
                {
                    return Err(crate::store::load::LoadError::NoPartition {
                        column: column.clone(),
                        value: "NULL".into(),
                    }
                    .into());
                }
                None => {}
            }
        }
    }
    let with_time = ty == ColumnType::DateTime;
    let specs: Vec<PartitionSpec> = starts
        .into_iter()
        .filter(|t| !covered(&tree, ty, with_time, *t))
        .map(|t| {
            // The last unit of year 9999 ends at MAXVALUE: DATE and DATETIME stop there.
            let upper = unit.shift(t, 1).filter(|u| u.year() <= 9999);
            PartitionSpec {
                name: format!("p{}", unit.suffix(t)),
                values: PartitionValuesSpec::Range {
                    lower: crate::sql::bound_text(t, with_time),
                    upper: upper.map(|u| crate::sql::bound_text(u, with_time)),
                },
            }
        })
        .collect();
    if specs.len() > crate::sql::MAX_BATCH_PARTITIONS {
        return Err(Error::Common(format!(
            "the rows of this load need {} new {} partitions of column '{column}', more than \
             the {} one load may create; load fewer {}s at a time",
            specs.len(),
            unit.as_str().to_ascii_lowercase(),
            crate::sql::MAX_BATCH_PARTITIONS,
            unit.as_str().to_ascii_lowercase()
        )));
    }
    let tree = if specs.is_empty() {
        tree
    } else {
        let id = tree.table.id;
        engine
            .catalog
            .ensure_partitions(db, table_name, id, specs)
            .await?;
        let now = engine.catalog.table_tree(db, table_name).await?;
        if now.table.id != id {
            return Err(Error::Common(format!(
                "table {db}.{table_name} was dropped and re-created during the load; nothing \
                 was loaded"
            )));
        }
        now
    };
    let rows = staged.stream(engine, &tree.table).await?;
    Ok((tree, rows, staged))
}

/// Whether a partition of `tree` holds the time `t`.
fn covered(tree: &TableTree, ty: ColumnType, with_time: bool, t: NaiveDateTime) -> bool {
    Datum::parse(ty, &crate::sql::bound_text(t, with_time)).is_ok_and(|value| {
        tree.partitions
            .iter()
            .any(|p| p.partition.bounds.range_holds(&value))
    })
}
