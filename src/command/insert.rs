//! `INSERT INTO t [PARTITION (p, ...)] [(cols)] VALUES ... | SELECT ...`: one atomic, versioned
//! load. The source runs in DataFusion; rows stream into rowset files (`store::load`); one
//! catalog transaction commits them all. A failure before that commit leaves nothing behind.

use std::sync::Arc;

use futures::StreamExt;
use sqlparser::ast::{Insert, TableObject};

use super::{Outcome, Session, query, table};
use crate::catalog::load::LoadedRowset;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::load::Loader;

pub async fn insert(engine: &Arc<Engine>, session: &mut Session, ins: Insert) -> Result<Outcome> {
    load(engine, session, ins, None).await
}

/// [`insert`]; `refresh`: the load is the refresh of the materialized view with this table id,
/// the one writer such a table takes (a table of the name that is not that view is refused).
pub(crate) async fn load(
    engine: &Arc<Engine>,
    session: &mut Session,
    ins: Insert,
    refresh: Option<u64>,
) -> Result<Outcome> {
    if ins.on.is_some()
        || ins.returning.is_some()
        || ins.replace_into
        || !ins.assignments.is_empty()
    {
        return Err(Error::NotSupported(
            "only INSERT {INTO | OVERWRITE} t [PARTITION (...)] [(columns)] VALUES ... | SELECT ... \
             is supported"
                .into(),
        ));
    }
    let TableObject::TableName(name) = &ins.table else {
        return Err(Error::NotSupported(
            "INSERT INTO a table function is not supported".into(),
        ));
    };
    let (db, table_name) = table::resolve(session, name)?;
    // A keyed table's load replaces rows by key: it runs alone among the table's writes, and
    // reads the table after the previous one committed.
    let locked = engine.table_locks_for(&db, &table_name).await?;
    let tree = engine.catalog.table_tree(&db, &table_name).await?;
    match refresh {
        None => table::refuse_materialized(&tree.table, "INSERT")?,
        Some(id) if id != tree.table.id || tree.table.materialized.is_none() => {
            return Err(Error::Common(format!(
                "materialized view {table_name} was dropped, renamed or replaced during its \
                 refresh; nothing was written"
            )));
        }
        Some(_) => {}
    }
    // The rows a keyed load replaces are found in the files it read: they stay until it ends.
    let _reading = locked.as_ref().map(|_| engine.pins.pin(tree.rowset_ids()));
    let columns = tree.table.columns.clone();
    let targets: Vec<usize> = if ins.columns.is_empty() {
        (0..columns.len()).collect()
    } else {
        ins.columns
            .iter()
            .map(|c| {
                let wanted =
                    c.0.last()
                        .and_then(|p| p.as_ident())
                        .map(|i| i.value.clone())
                        .unwrap_or_default();
                tree.table.column_index(&wanted).ok_or_else(|| {
                    Error::Catalog(crate::catalog::CatalogError::UnknownColumn {
                        column: wanted,
                        table: table_name.clone(),
                    })
                })
            })
            .collect::<Result<_>>()?
    };
    let allowed = match &ins.partitioned {
        None => None,
        Some(exprs) => Some(
            exprs
                .iter()
                .map(|e| match e {
                    sqlparser::ast::Expr::Identifier(i) => Ok(i.value.clone()),
                    other => Err(Error::NotSupported(format!(
                        "PARTITION ({other}) is not a partition name"
                    ))),
                })
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    let source = ins
        .source
        .ok_or_else(|| Error::NotSupported("INSERT needs VALUES or a SELECT".into()))?;
    let Outcome::Rows { schema, mut stream } =
        query::run(engine, session, sqlparser::ast::Statement::Query(source)).await?
    else {
        return Err(Error::Internal("the INSERT source returned no rows".into()));
    };
    if schema.fields().len() != targets.len() {
        return Err(Error::ColumnCount);
    }
    let mut targets = targets;
    // A table partitioned by an expression gets the partitions its rows need first; its rows
    // then come staged, every column in order.
    let mut tree = tree;
    let mut auto_staged = None;
    if super::auto_partition::unit_of(&tree).is_some() {
        let (now, rows, staging) =
            super::auto_partition::prepare(engine, &db, &table_name, tree, stream, &targets)
                .await?;
        tree = now;
        stream = rows;
        targets = (0..tree.table.columns.len()).collect();
        auto_staged = Some(staging);
    }
    // An AGGREGATE KEY table loads its rows merged with the rows it holds for their keys: every
    // column, in order.
    let mut staged = None;
    if tree.table.key.model == crate::catalog::schema::KeyModel::Aggregate {
        // Rows staged already (expression partitioning) merge from there, not staged twice.
        let (merged, rows) = match auto_staged.take() {
            Some(done) => {
                super::aggregate::merge_staged(engine, &tree, done, ins.overwrite).await?
            }
            None => {
                super::aggregate::merged(engine, &tree, stream, &targets, ins.overwrite).await?
            }
        };
        stream = merged;
        targets = (0..tree.table.columns.len()).collect();
        staged = Some(rows);
    }
    let ids = engine
        .catalog
        .reserve_ids(crate::store::load::ids_needed(&tree))
        .await?;
    // The files are written before they are committed: pinned, the collector leaves them be.
    let writing = engine.pins.pin(ids.iter().copied());
    // INSERT OVERWRITE replaces the partitions it names (all of them without PARTITION): it
    // loads as into empty partitions, and the commit drops what they held.
    let chosen = tree.chosen_partitions(allowed.as_deref().unwrap_or_default())?;
    let replace: Vec<u64> = if ins.overwrite {
        tree.partitions
            .iter()
            .zip(&chosen)
            .filter(|(_, chosen)| **chosen)
            .map(|(p, _)| p.partition.id)
            .collect()
    } else {
        Vec::new()
    };
    let mut loader = Loader::new(
        engine.config.data_dir.clone(),
        &tree,
        allowed,
        ids,
        ins.overwrite,
    );
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        // Encoding Parquet and hashing are CPU work: keep them off the async workers' queues.
        tokio::task::block_in_place(|| loader.push(&batch, &targets))?;
    }
    // Rows the statement loaded (an AGGREGATE KEY table's merged rows are fewer).
    let rows = staged.as_ref().map_or(loader.rows(), |s| s.rows);
    drop(auto_staged);
    let rowsets: Vec<LoadedRowset> = tokio::task::block_in_place(|| loader.finish())?;
    if let Err(e) = crate::failpoint::hit("load.before_catalog_commit").await {
        remove_files(engine, &rowsets);
        return Err(e.into());
    }
    commit(engine, &db, &table_name, &tree, rowsets, &replace).await?;
    engine.pins.release(writing).await;
    if !replace.is_empty() {
        // The replaced rowsets' files go once no query reads them.
        engine.pins.mark_dirty();
    }
    crate::metrics::METRICS.load(rows);
    // A table that keeps its newest partitions (`partition_live_number`) drops the older ones
    // now rather than at the next round, as its loads create new ones.
    if matches!(
        crate::catalog::schema::partition_live_number(&tree.table),
        Ok(Some(_))
    ) && let Err(e) = super::dynamic::round(engine, &db, &table_name).await
    {
        tracing::warn!(database = %db, table = %table_name, error = %e, "partition_live_number round failed");
    }
    Ok(Outcome::Done {
        affected_rows: rows,
    })
}

/// Commits a load's finished files (`Catalog::commit_load`); if the commit fails, the files go.
pub(super) async fn commit(
    engine: &Engine,
    db: &str,
    table: &str,
    read: &crate::catalog::TableTree,
    rowsets: Vec<LoadedRowset>,
    replace: &[u64],
) -> Result<()> {
    let files: Vec<LoadedRowset> = rowsets.clone();
    if let Err(e) = engine
        .catalog
        .commit_load(db, table, read, rowsets, replace)
        .await
    {
        remove_files(engine, &files);
        return Err(e.into());
    }
    Ok(())
}

/// Removes a load's files that no commit made part of a table.
fn remove_files(engine: &Engine, rowsets: &[LoadedRowset]) {
    for r in rowsets {
        let _ = std::fs::remove_file(crate::store::table::rowset_path(
            &engine.config.data_dir,
            r.rowset.tablet_id,
            r.rowset.id,
        ));
    }
}
