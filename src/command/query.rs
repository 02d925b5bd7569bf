//! SELECT (and EXPLAIN) through DataFusion: plan the sqlparser AST, stream the batches.

use std::sync::Arc;

use datafusion::sql::parser::Statement as DfStatement;

use datafusion::arrow::datatypes::SchemaRef;

use super::functions::Sleeps;
use super::{Outcome, Session};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::sql::Statement;

/// Plans and starts a query; rows are produced as the client reads them.
pub async fn run(
    engine: &Arc<Engine>,
    session: &mut Session,
    stmt: sqlparser::ast::Statement,
) -> Result<Outcome> {
    crate::metrics::METRICS.query();
    let mut stmt = stmt;
    let (ctx, pins) = context_for(engine, session, &mut stmt, Sleeps::Wait).await?;
    let state = ctx.state();
    let plan = state
        .statement_to_plan(DfStatement::Statement(Box::new(stmt)))
        .await?;
    let df = ctx.execute_logical_plan(plan).await?;
    // The physical plan's schema, not the logical one: after type coercion (a UNION whose first
    // branch has NULL where later ones have strings) only the physical schema matches the
    // batches, and column definitions announced to the client must match the rows.
    let task = Arc::new(df.task_ctx());
    let physical = df.create_physical_plan().await?;
    let schema = physical.schema();
    let stream = datafusion::physical_plan::execute_stream(physical, task)?;
    // The scanned rowsets stay pinned until the client has read the last row.
    let stream = Box::pin(PinnedStream {
        inner: stream,
        _pins: pins,
    });
    Ok(Outcome::Rows { schema, stream })
}

/// A result stream that holds pins on the rowsets its plan reads.
struct PinnedStream {
    inner: datafusion::physical_plan::SendableRecordBatchStream,
    _pins: Vec<crate::store::pins::PinGuard>,
}

impl futures::Stream for PinnedStream {
    type Item = datafusion::error::Result<datafusion::arrow::array::RecordBatch>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl datafusion::physical_plan::RecordBatchStream for PinnedStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

/// The result schema of a query, planned but not run (for COM_STMT_PREPARE).
pub async fn describe(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: Statement,
) -> Result<SchemaRef> {
    describe_within(engine, session, stmt, Vec::new()).await
}

/// [`describe`] for the query of view `db.view` being created: reading the view itself (through
/// other views) is a recursion.
pub async fn describe_view(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: sqlparser::ast::Statement,
    view: String,
) -> Result<SchemaRef> {
    describe_within(engine, session, Statement::Std(Box::new(stmt)), vec![view]).await
}

async fn describe_within(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: Statement,
    mut views: Vec<String>,
) -> Result<SchemaRef> {
    let Statement::Std(std) = stmt else {
        return Err(Error::Internal(
            "describe called on a backstop statement".into(),
        ));
    };
    let mut std = std;
    let (ctx, _pins) = context_within(engine, session, &mut std, Sleeps::Skip, &mut views).await?;
    let plan = ctx
        .state()
        .statement_to_plan(DfStatement::Statement(std))
        .await?;
    // As in `run`: the physical schema is what the rows will have.
    let physical = ctx.state().create_physical_plan(&plan).await?;
    Ok(physical.schema())
}

/// The query context for one statement, after MySQL's functions and `FROM DUAL` are rewritten
/// (`functions`): the catalog tables it names (each read once, so the statement sees one
/// committed version of each) and information_schema when it reads it.
pub(crate) async fn context_for(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: &mut sqlparser::ast::Statement,
    sleeps: Sleeps,
) -> Result<(
    datafusion::prelude::SessionContext,
    Vec<crate::store::pins::PinGuard>,
)> {
    context_within(engine, session, stmt, sleeps, &mut Vec::new()).await
}

/// [`context_for`] inside the expansion of `views`.
async fn context_within(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: &mut sqlparser::ast::Statement,
    sleeps: Sleeps,
    views: &mut Vec<String>,
) -> Result<(
    datafusion::prelude::SessionContext,
    Vec<crate::store::pins::PinGuard>,
)> {
    super::functions::rewrite(stmt, session, sleeps).await?;
    let ctx = engine.query_context(session.database.as_deref());
    super::functions::register(&ctx);
    super::files::register(&ctx, stmt).await?;
    let text = stmt.to_string();
    if super::information_schema::mentioned(&text, session.database.as_deref()) {
        super::information_schema::register(engine, session, &ctx, &text).await?;
        super::information_schema::compare_text_case_insensitively(
            stmt,
            session.database.as_deref(),
        );
    }
    let selections = select_partitions(stmt);
    let mut pins = Vec::new();
    register_relations(engine, session, stmt, &ctx, &mut pins, views).await?;
    pins.extend(register_selections(engine, session, &selections, &ctx).await?);
    Ok((ctx, pins))
}

/// Names a `t PARTITION (p1, p2)` reference is rewritten to (it reads those partitions only).
const SELECTION_PREFIX: &str = "__partitions_";

/// A table reference that names partitions: the table, the partitions, the name it reads now.
struct Selection {
    table: sqlparser::ast::ObjectName,
    partitions: Vec<String>,
    name: String,
}

/// Rewrites every `t PARTITION (p, ...)` in the statement to a table of its own that holds those
/// partitions only (registered by [`register_selections`]), aliased `t` unless it has an alias,
/// so `t.col` still resolves.
fn select_partitions(stmt: &mut sqlparser::ast::Statement) -> Vec<Selection> {
    use std::ops::ControlFlow;

    use sqlparser::ast::{Ident, ObjectName, TableAlias, TableFactor, VisitMut, VisitorMut};

    struct Rewrite(Vec<Selection>);
    impl VisitorMut for Rewrite {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table {
                name,
                alias,
                partitions,
                ..
            } = factor
                && !partitions.is_empty()
            {
                let generated = format!("{SELECTION_PREFIX}{}", self.0.len());
                let table = std::mem::replace(
                    name,
                    ObjectName::from(vec![Ident::with_quote('`', generated.clone())]),
                );
                if alias.is_none()
                    && let Some(last) = table.0.last().and_then(|p| p.as_ident())
                {
                    *alias = Some(TableAlias {
                        explicit: true,
                        name: last.clone(),
                        columns: Vec::new(),
                        at: None,
                    });
                }
                self.0.push(Selection {
                    table,
                    partitions: std::mem::take(partitions)
                        .into_iter()
                        .map(|p| p.value)
                        .collect(),
                    name: generated,
                });
            }
            ControlFlow::Continue(())
        }
    }
    let mut rewrite = Rewrite(Vec::new());
    let _ = stmt.visit(&mut rewrite);
    rewrite.0
}

/// Registers each selection's partitions as a table of the context's default schema, pinned.
async fn register_selections(
    engine: &Arc<Engine>,
    session: &Session,
    selections: &[Selection],
    ctx: &datafusion::prelude::SessionContext,
) -> Result<Vec<crate::store::pins::PinGuard>> {
    let mut pins = Vec::new();
    for selection in selections {
        let (db, table) = super::table::resolve(session, &selection.table)?;
        let tree = {
            let _gate = engine.pins.gate().await;
            let mut tree = engine.catalog.table_tree(&db, &table).await?;
            let mut chosen = Vec::new();
            for wanted in &selection.partitions {
                match tree
                    .partitions
                    .iter()
                    .position(|p| p.partition.name.eq_ignore_ascii_case(wanted))
                {
                    Some(i) => chosen.push(tree.partitions.swap_remove(i)),
                    // Named twice: read once.
                    None if chosen
                        .iter()
                        .any(|p: &crate::catalog::tables::PartitionTree| {
                            p.partition.name.eq_ignore_ascii_case(wanted)
                        }) => {}
                    None => {
                        return Err(crate::catalog::CatalogError::UnknownPartition {
                            partition: wanted.clone(),
                            table: table.clone(),
                        }
                        .into());
                    }
                }
            }
            tree.partitions = chosen;
            pins.push(engine.pins.pin(tree.rowset_ids()));
            tree
        };
        let provider: Arc<dyn datafusion::catalog::TableProvider> = Arc::new(
            crate::store::prune::PrunedTable::new(engine.config.data_dir.clone(), tree),
        );
        ctx.register_table(selection.name.as_str(), provider)?;
    }
    Ok(pins)
}

/// The catalog a view's tables are registered in while the view is expanded: the statement
/// that reads the view can name only the default catalog's, so a view never lends its tables
/// to the rest of the statement (which may read the view, not what it reads).
const VIEW_CATALOG: &str = "__backstop_view";

/// Moves every `db.t` of a view's (qualified) query into [`VIEW_CATALOG`]; information_schema
/// stays where the statement registered it.
fn private_names(stmt: &mut sqlparser::ast::Statement) {
    use sqlparser::ast::{Ident, ObjectNamePart, TableFactor, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    struct Private;
    impl VisitorMut for Private {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, .. } = factor
                && let [db, _] = name.0.as_slice()
                && !db.as_ident().is_some_and(|d| {
                    d.value
                        .eq_ignore_ascii_case(crate::catalog::INFORMATION_SCHEMA)
                })
            {
                name.0.insert(
                    0,
                    ObjectNamePart::Identifier(Ident::with_quote('`', VIEW_CATALOG)),
                );
            }
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Private);
}

/// How deep views may stand on views.
const MAX_VIEW_DEPTH: usize = 32;

/// Registers a provider for every catalog table and view `stmt` names, under the name
/// DataFusion will look up (unquoted identifiers fold to lower case there); `views` are the views being expanded around it (a
/// view met again is a cycle).
fn register_relations<'a>(
    engine: &'a Arc<Engine>,
    session: &'a Session,
    stmt: &'a sqlparser::ast::Statement,
    ctx: &'a datafusion::prelude::SessionContext,
    pins: &'a mut Vec<crate::store::pins::PinGuard>,
    views: &'a mut Vec<String>,
) -> futures::future::BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        use std::ops::ControlFlow;

        use sqlparser::ast::{Ident, ObjectName, visit_relations};

        let mut names: Vec<ObjectName> = Vec::new();
        let _ = visit_relations(stmt, |name: &ObjectName| {
            if !names.contains(name) {
                names.push(name.clone());
            }
            ControlFlow::<()>::Continue(())
        });
        let ctes = cte_names(stmt);
        let lookup_name = |i: &Ident| {
            if i.quote_style.is_none() {
                i.value.to_lowercase()
            } else {
                i.value.clone()
            }
        };
        for name in names {
            let parts: Vec<&Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
            // (database, the schema name DataFusion looks the table up in, table)
            let (db, schema_name, table) = match parts.as_slice() {
                [t] if ctes.contains(&t.value.to_lowercase()) => continue,
                [t] if t.value.starts_with(super::files::GENERATED_PREFIX)
                    || t.value.starts_with(SELECTION_PREFIX) =>
                {
                    continue;
                }
                // Unqualified: the session's database, which is the context's default schema.
                [t] => match &session.database {
                    Some(db) => (db.clone(), db.clone(), (*t).clone()),
                    None => return Err(Error::NoDatabaseSelected),
                },
                [d, t] => (d.value.clone(), lookup_name(d), (*t).clone()),
                // What a view reads lives in a catalog of its own (see `private_names`).
                [c, d, t] if c.value == VIEW_CATALOG && !views.is_empty() => {
                    (d.value.clone(), d.value.clone(), (*t).clone())
                }
                [c, _, _] if c.value.eq_ignore_ascii_case("default_catalog") => continue,
                _ => {
                    return Err(Error::NotSupported(format!(
                        "the table name {name} is not supported: write `table` or \
                         `database.table`"
                    )));
                }
            };
            if db.eq_ignore_ascii_case(crate::catalog::INFORMATION_SCHEMA) {
                continue;
            }
            let catalog_name = match parts.as_slice() {
                [_, _, _] => VIEW_CATALOG,
                _ => "datafusion",
            };
            let catalog = match ctx.catalog(catalog_name) {
                Some(c) => c,
                None if catalog_name == VIEW_CATALOG => {
                    let c: Arc<dyn datafusion::catalog::CatalogProvider> =
                        Arc::new(datafusion::catalog::MemoryCatalogProvider::new());
                    ctx.register_catalog(VIEW_CATALOG, Arc::clone(&c));
                    c
                }
                None => {
                    return Err(Error::Internal(
                        "the query context has no default catalog".into(),
                    ));
                }
            };
            let schema = match catalog.schema(&schema_name) {
                Some(s) => s,
                None => {
                    let s: Arc<dyn datafusion::catalog::SchemaProvider> =
                        Arc::new(datafusion::catalog::MemorySchemaProvider::new());
                    catalog.register_schema(&schema_name, Arc::clone(&s))?;
                    s
                }
            };
            let registered = lookup_name(&table);
            if schema.table_exist(&registered) {
                // Read by the statement and by a view it reads: one provider serves both.
                continue;
            }
            let tree = {
                let _gate = engine.pins.gate().await;
                match engine.catalog.table_tree(&db, &table.value).await {
                    Ok(tree) => {
                        pins.push(engine.pins.pin(tree.rowset_ids()));
                        Some(tree)
                    }
                    Err(crate::catalog::CatalogError::UnknownTable(missing)) => {
                        if engine.catalog.view(&db, &table.value).await?.is_none() {
                            return Err(crate::catalog::CatalogError::UnknownTable(missing).into());
                        }
                        None
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            let provider: Arc<dyn datafusion::catalog::TableProvider> = match tree {
                Some(tree) => Arc::new(crate::store::prune::PrunedTable::new(
                    engine.config.data_dir.clone(),
                    tree,
                )),
                None => view_provider(engine, session, ctx, &db, &table.value, pins, views).await?,
            };
            schema.register_table(registered, provider)?;
        }
        Ok(())
    })
}

/// The plan of view `db`.`name` over the tables (and views) it reads, registered in `ctx` as
/// well. Whatever fails in it is reported as the view's fault (MySQL's 1356), naming the cause.
async fn view_provider(
    engine: &Arc<Engine>,
    session: &Session,
    ctx: &datafusion::prelude::SessionContext,
    db: &str,
    name: &str,
    pins: &mut Vec<crate::store::pins::PinGuard>,
    views: &mut Vec<String>,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    let full = format!("{db}.{name}");
    if views.contains(&full) || views.len() >= MAX_VIEW_DEPTH {
        return Err(Error::ViewRecursion(full));
    }
    let Some(view) = engine.catalog.view(db, name).await? else {
        return Err(crate::catalog::CatalogError::UnknownTable(full).into());
    };
    views.push(full.clone());
    let planned = async {
        let mut stmt = super::view::statement(&view, db)?;
        super::functions::rewrite(&mut stmt, session, Sleeps::Skip).await?;
        if view.security_invoker {
            super::privilege::require_reads(engine, session, &stmt)?;
        }
        if let sqlparser::ast::Statement::Query(q) = &stmt
            && let Some(why) = crate::sql::view_query_problem(q)
        {
            return Err(Error::NotSupported(why.into()));
        }
        private_names(&mut stmt);
        let text = stmt.to_string();
        if super::information_schema::mentioned(&text, None) {
            super::information_schema::register(engine, session, ctx, &text).await?;
        }
        register_relations(engine, session, &stmt, ctx, pins, views).await?;
        Ok::<_, Error>(
            ctx.state()
                .statement_to_plan(DfStatement::Statement(Box::new(stmt)))
                .await?,
        )
    }
    .await;
    views.pop();
    let plan = match planned {
        Ok(plan) => plan,
        Err(e @ (Error::ViewRecursion(_) | Error::ViewInvalid { .. })) => return Err(e),
        Err(e @ (Error::TableAccessDenied { .. } | Error::DbAccessDenied { .. })) => return Err(e),
        Err(e) => {
            let why = match &view.inactive_reason {
                Some(reason) => format!("{e} (restored inactive: {reason})"),
                None => e.to_string(),
            };
            return Err(Error::ViewInvalid { view: full, why });
        }
    };
    Ok(Arc::new(datafusion::catalog::view::ViewTable::new(
        plan,
        Some(view.definition),
    )))
}

/// Names the statement defines with WITH, in any of its queries (they are not catalog tables).
fn cte_names(stmt: &sqlparser::ast::Statement) -> Vec<String> {
    use std::ops::ControlFlow;

    use sqlparser::ast::{Query, Visit, Visitor};

    struct Ctes(Vec<String>);
    impl Visitor for Ctes {
        type Break = ();
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
            self.0.extend(crate::sql::with_names(query));
            ControlFlow::Continue(())
        }
    }
    let mut ctes = Ctes(Vec::new());
    let _ = stmt.visit(&mut ctes);
    ctes.0
}
