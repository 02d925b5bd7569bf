//! DELETE and UPDATE: changes that remove rows, on immutable files (`store::keyed`).
//!
//! - `DELETE FROM t [PARTITION (p, ...)] [WHERE cond]`, on every table model: the rows the
//!   condition selects become one delete file per touched tablet, committed in one catalog
//!   transaction (a new version of each touched partition).
//! - `UPDATE t SET col = expr, ... [FROM other, ...] [WHERE cond]`, on PRIMARY KEY tables (as
//!   in StarRocks): the new rows are computed by a query and upserted, which deletes the rows
//!   they replace. Key columns cannot be set.
//!
//! Both run under the table's write lock and commit only over the partition versions they
//! read, like a keyed load.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::common::DFSchema;
use sqlparser::ast::{
    AssignmentTarget, Delete, Expr, FromTable, ObjectName, TableFactor, TableWithJoins, Update,
    UpdateTableFromKind,
};

use super::functions::Sleeps;
use super::{Outcome, Session, table};
use crate::catalog::load::LoadedRowset;
use crate::catalog::schema::{KeyModel, RowsetKind};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::keyed::{Deleted, KeyId, key_id, rows_matching, rows_with_keys, write_deletes};
use crate::store::load::LoadError;

/// The one table a DELETE or UPDATE changes, with the partitions it names and its alias.
struct Target {
    name: ObjectName,
    partitions: Vec<String>,
    alias: Option<String>,
}

fn single_table(statement: &str, tables: &[TableWithJoins]) -> Result<Target> {
    let [one] = tables else {
        return Err(Error::NotSupported(format!(
            "{statement} changes one table; give exactly one table (multi-table {statement} is \
             not supported)"
        )));
    };
    if !one.joins.is_empty() {
        return Err(Error::NotSupported(format!(
            "{statement} with JOIN is not supported: use {}",
            if statement == "DELETE" {
                "DELETE ... WHERE key IN (SELECT ...)"
            } else {
                "UPDATE ... FROM other WHERE ..."
            }
        )));
    }
    match &one.relation {
        TableFactor::Table {
            name,
            alias,
            partitions,
            ..
        } => Ok(Target {
            name: name.clone(),
            partitions: partitions.iter().map(|p| p.value.clone()).collect(),
            alias: alias.as_ref().map(|a| a.name.value.clone()),
        }),
        other => Err(Error::NotSupported(format!(
            "{statement} changes a stored table, not {other}"
        ))),
    }
}

pub async fn delete(engine: &Arc<Engine>, session: &mut Session, del: Delete) -> Result<Outcome> {
    if del.returning.is_some()
        || !del.order_by.is_empty()
        || del.limit.is_some()
        || !del.tables.is_empty()
    {
        return Err(Error::NotSupported(
            "only DELETE FROM t [PARTITION (p, ...)] [USING ...] [WHERE condition] is supported \
             (no ORDER BY, LIMIT or RETURNING)"
                .into(),
        ));
    }
    let tables = match &del.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    let target = single_table("DELETE", tables)?;
    let (db, table_name) = table::resolve(session, &target.name)?;
    let meta = engine.catalog.table(&db, &table_name).await?;
    table::refuse_materialized(&meta, "DELETE")?;
    let _locked = engine.table_locks.lock(meta.id).await;
    let tree = engine.catalog.table_tree(&db, &table_name).await?;
    // The files whose rows it deletes stay until it ends (a TRUNCATE beside it fails it at
    // commit, never in the middle of a read).
    let _reading = engine.pins.pin(tree.rowset_ids());
    let chosen = tree.chosen_partitions(&target.partitions)?;
    // A keyed table's rows are found by their keys, which a query selects: the condition may
    // then be anything a SELECT's WHERE can be (subqueries, USING's other tables). Other
    // tables' rows are matched by the condition itself, file by file.
    let keyed = tree.table.key.model.is_unique();
    let (condition, keys) = match (&del.selection, keyed) {
        (cond, true) => (
            None,
            Some(
                selected_keys(
                    engine,
                    session,
                    &target,
                    &tree.table,
                    del.using.as_deref(),
                    cond.as_ref(),
                )
                .await?,
            ),
        ),
        (Some(cond), false) => (
            Some(condition(engine, session, &target, &tree.table, cond).await?),
            None,
        ),
        (None, false) => (None, None),
    };
    let key_columns = tree.table.key_indices();
    let tablets: usize = tree.partitions.iter().map(|p| p.tablets.len()).sum();
    let ids = engine.catalog.reserve_ids(tablets).await?;
    let writing = engine.pins.pin(ids.iter().copied());
    let data_dir = engine.config.data_dir.clone();
    let work = tree.clone();
    let rowsets = tokio::task::spawn_blocking(move || -> Result<Vec<LoadedRowset>> {
        let mut ids = ids;
        let mut out = Vec::new();
        let schema = crate::store::table::arrow_schema(&work.table);
        let matches = |batch: &RecordBatch| -> std::result::Result<Vec<bool>, String> {
            let Some(expr) = &condition else {
                return Ok(vec![true; batch.num_rows()]);
            };
            // A file written before ADD or DROP COLUMN has the columns of its time.
            let padded =
                crate::store::table::adapt_to(batch, &schema).map_err(|e| e.to_string())?;
            let value = expr
                .evaluate(&padded)
                .and_then(|v| v.into_array(batch.num_rows()))
                .map_err(|e| e.to_string())?;
            let Some(bools) = value.as_boolean_opt() else {
                return Err(format!(
                    "the WHERE condition gives {}, not a boolean",
                    value.data_type()
                ));
            };
            Ok((0..bools.len())
                .map(|i| bools.is_valid(i) && bools.value(i))
                .collect())
        };
        for (p, keep) in work.partitions.iter().zip(&chosen) {
            if !keep {
                continue;
            }
            for tablet in &p.tablets {
                let deleted = Deleted::read(&data_dir, tablet).map_err(LoadError::from)?;
                let gone = match &keys {
                    Some(keys) => rows_with_keys(&data_dir, tablet, &deleted, &key_columns, keys),
                    None => rows_matching(&data_dir, tablet, &deleted, &matches),
                }
                .map_err(LoadError::from)?;
                if gone.is_empty() {
                    continue;
                }
                let id = ids
                    .pop()
                    .ok_or_else(|| Error::Internal("ran out of reserved rowset ids".into()))?;
                let file = write_deletes(&data_dir, tablet.tablet.id, id, gone)
                    .map_err(LoadError::from)?;
                out.push(file.loaded(p.partition.id, tablet.tablet.id, id, RowsetKind::Deletes));
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| Error::Internal(format!("the DELETE task failed: {e}")))?;
    let rowsets = rowsets?;
    let deleted: u64 = rowsets.iter().map(|r| r.rowset.rows).sum();
    if !rowsets.is_empty() {
        super::insert::commit(engine, &db, &table_name, &tree, rowsets, &[]).await?;
    }
    engine.pins.release(writing).await;
    Ok(Outcome::Done {
        affected_rows: deleted,
    })
}

/// The WHERE condition of a DELETE as an expression over the table's rows, with backstop's
/// functions and MySQL's implicit conversions (planned like the WHERE of a SELECT).
async fn condition(
    engine: &Arc<Engine>,
    session: &Session,
    target: &Target,
    table: &crate::catalog::TableMeta,
    cond: &Expr,
) -> Result<Arc<dyn datafusion::physical_expr::PhysicalExpr>> {
    let text = format!("SELECT 1 FROM {} WHERE {cond}", target.name);
    let crate::sql::Statement::Std(stmt) = crate::sql::parse_one(&text)? else {
        return Err(Error::Internal("the DELETE condition did not parse".into()));
    };
    let mut stmt = *stmt;
    let (ctx, _pins) = super::query::context_for(engine, session, &mut stmt, Sleeps::Wait).await?;
    let rewritten = match &stmt {
        sqlparser::ast::Statement::Query(q) => match q.body.as_ref() {
            sqlparser::ast::SetExpr::Select(s) => s.selection.clone(),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| Error::Internal("the DELETE condition was lost".into()))?;
    let schema = crate::store::table::arrow_schema(table);
    let qualifier = target.alias.clone().unwrap_or_else(|| table.name.clone());
    let df_schema = DFSchema::try_from_qualified_schema(qualifier.as_str(), schema.as_ref())?;
    let expr = ctx
        .parse_sql_expr(&rewritten.to_string(), &df_schema)
        .map_err(|e| match e.find_root() {
            // An unknown column is MySQL's 1054, with the table's columns.
            datafusion::error::DataFusionError::SchemaError(..) => Error::Query(e),
            _ => Error::NotSupported(format!(
                "a DELETE from a DUPLICATE KEY table takes a condition on the table's own \
                 columns, without subqueries, as in StarRocks ({e})"
            )),
        })?;
    Ok(ctx.create_physical_expr(expr, &df_schema)?)
}

/// The keys of the rows of a keyed table that `SELECT <key> FROM t [, using] [WHERE cond]`
/// selects.
async fn selected_keys(
    engine: &Arc<Engine>,
    session: &mut Session,
    target: &Target,
    table: &crate::catalog::TableMeta,
    using: Option<&[TableWithJoins]>,
    cond: Option<&Expr>,
) -> Result<HashMap<KeyId, ()>> {
    use futures::StreamExt;
    let qualifier = target.alias.clone().unwrap_or_else(|| table.name.clone());
    let columns: Vec<String> = table
        .key
        .columns
        .iter()
        .map(|k| format!("`{qualifier}`.`{k}`"))
        .collect();
    let mut text = format!(
        "SELECT {} FROM {} AS `{qualifier}`",
        columns.join(", "),
        target.name
    );
    for other in using.unwrap_or_default() {
        text.push_str(&format!(", {other}"));
    }
    if let Some(cond) = cond {
        text.push_str(&format!(" WHERE {cond}"));
    }
    let crate::sql::Statement::Std(stmt) = crate::sql::parse_one(&text)? else {
        return Err(Error::Internal("the DELETE did not become a query".into()));
    };
    let Outcome::Rows { mut stream, .. } = super::query::run(engine, session, *stmt).await? else {
        return Err(Error::Internal(
            "the DELETE's query returned no rows".into(),
        ));
    };
    let mut keys = HashMap::new();
    let mut key = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let columns: Vec<&dyn Array> = batch.columns().iter().map(|c| c.as_ref()).collect();
        for row in 0..batch.num_rows() {
            keys.insert(key_id(&columns, row, &mut key), ());
        }
    }
    Ok(keys)
}

/// UPDATE on a PRIMARY KEY table: `INSERT INTO t SELECT <new row> FROM t [, from...] WHERE
/// cond`, which upserts the changed rows (the old ones become deleted positions).
pub async fn update(engine: &Arc<Engine>, session: &mut Session, upd: Update) -> Result<Outcome> {
    if upd.returning.is_some()
        || !upd.order_by.is_empty()
        || upd.limit.is_some()
        || upd.or.is_some()
    {
        return Err(Error::NotSupported(
            "only UPDATE t SET col = expr, ... [FROM ...] [WHERE condition] is supported (no \
             ORDER BY, LIMIT or RETURNING)"
                .into(),
        ));
    }
    let target = single_table("UPDATE", std::slice::from_ref(&upd.table))?;
    if !target.partitions.is_empty() {
        return Err(Error::NotSupported(
            "UPDATE ... PARTITION is not supported: narrow the rows with WHERE".into(),
        ));
    }
    let (db, table_name) = table::resolve(session, &target.name)?;
    let meta = engine.catalog.table(&db, &table_name).await?;
    table::refuse_materialized(&meta, "UPDATE")?;
    if meta.key.model != KeyModel::Primary {
        return Err(Error::NotSupported(format!(
            "UPDATE changes PRIMARY KEY tables only, as in StarRocks; table '{table_name}' is \
             {} {} KEY table (use DELETE and INSERT)",
            if meta.key.model == KeyModel::Aggregate {
                "an"
            } else {
                "a"
            },
            meta.key.model
        )));
    }
    let mut values: Vec<Option<String>> = vec![None; meta.columns.len()];
    for assignment in &upd.assignments {
        let AssignmentTarget::ColumnName(column) = &assignment.target else {
            return Err(Error::NotSupported(
                "UPDATE SET (a, b) = ... is not supported: set each column".into(),
            ));
        };
        let name = column
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.clone())
            .unwrap_or_default();
        let Some(i) = meta.column_index(&name) else {
            return Err(Error::Catalog(
                crate::catalog::CatalogError::UnknownColumn {
                    column: name,
                    table: table_name,
                },
            ));
        };
        if meta
            .key
            .columns
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&name))
        {
            return Err(Error::NotSupported(format!(
                "UPDATE cannot set key column '{name}' of table '{table_name}': a key names its \
                 row (DELETE the row and INSERT the new one)"
            )));
        }
        if let Some(slot) = values.get_mut(i) {
            *slot = Some(assignment.value.to_string());
        }
    }
    let qualifier = target.alias.clone().unwrap_or_else(|| table_name.clone());
    let select: Vec<String> = meta
        .columns
        .iter()
        .zip(&values)
        .map(|(c, v)| match v {
            Some(expr) => format!("{expr} AS `{}`", c.name),
            None => format!("`{qualifier}`.`{}`", c.name),
        })
        .collect();
    let mut from = format!("{} AS `{qualifier}`", target.name);
    if let Some(UpdateTableFromKind::AfterSet(others) | UpdateTableFromKind::BeforeSet(others)) =
        &upd.from
    {
        for other in others {
            from.push_str(&format!(", {other}"));
        }
    }
    let mut text = format!(
        "INSERT INTO {} SELECT {} FROM {from}",
        target.name,
        select.join(", ")
    );
    if let Some(cond) = &upd.selection {
        text.push_str(&format!(" WHERE {cond}"));
    }
    let crate::sql::Statement::Std(stmt) = crate::sql::parse_one(&text)? else {
        return Err(Error::Internal(
            "the UPDATE did not become an INSERT".into(),
        ));
    };
    let sqlparser::ast::Statement::Insert(insert) = *stmt else {
        return Err(Error::Internal(
            "the UPDATE did not become an INSERT".into(),
        ));
    };
    super::insert::insert(engine, session, insert).await
}
