//! SELECT (and EXPLAIN) through DataFusion: plan the sqlparser AST, stream the batches.

use std::sync::Arc;

use datafusion::sql::parser::Statement as DfStatement;

use datafusion::arrow::datatypes::SchemaRef;

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
    let ctx = context_for(engine, session, &stmt).await?;
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
    Ok(Outcome::Rows { schema, stream })
}

/// The result schema of a query, planned but not run (for COM_STMT_PREPARE).
pub async fn describe(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: Statement,
) -> Result<SchemaRef> {
    let Statement::Std(std) = stmt else {
        return Err(Error::Internal(
            "describe called on a backstop statement".into(),
        ));
    };
    let ctx = context_for(engine, session, &std).await?;
    let plan = ctx
        .state()
        .statement_to_plan(DfStatement::Statement(std))
        .await?;
    // As in `run`: the physical schema is what the rows will have.
    let physical = ctx.state().create_physical_plan(&plan).await?;
    Ok(physical.schema())
}

/// The query context for one statement, with information_schema's tables when it reads them.
async fn context_for(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: &sqlparser::ast::Statement,
) -> Result<datafusion::prelude::SessionContext> {
    let ctx = engine.query_context(session.database.as_deref());
    if super::information_schema::mentioned(&stmt.to_string(), session.database.as_deref()) {
        super::information_schema::register(engine, &ctx).await?;
    }
    Ok(ctx)
}
