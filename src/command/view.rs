//! Views: CREATE [OR REPLACE] VIEW, ALTER VIEW, DROP VIEW, SHOW CREATE VIEW.
//!
//! A view's query is planned when it is created (to check it and record its columns) and every
//! time a statement reads the view: `query` expands it into the statement's plan, with its table
//! names resolved in the view's own database ([`statement`]).

use std::sync::Arc;

use sqlparser::ast::{Ident, ObjectName};

use super::table::{column_type_of, resolve, type_from_ast};
use super::{Outcome, Session};
use crate::catalog::schema::ColumnMeta;
use crate::catalog::views::{Existing, ViewMeta};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::sql;

/// `CREATE [OR REPLACE] VIEW [IF NOT EXISTS] v [(cols)] [COMMENT ..] [SECURITY ..] AS query` and
/// `ALTER VIEW v ... AS query`.
pub async fn create(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: sql::CreateView,
) -> Result<Outcome> {
    let (db, name) = target(engine, session, &stmt.name, &stmt.query).await?;
    let definition = stmt.query.to_string();
    let mut view = ViewMeta {
        id: 0,
        db_id: 0,
        name: name.clone(),
        columns: Vec::new(),
        named_columns: !stmt.columns.is_empty(),
        definition,
        comment: stmt.comment,
        security_invoker: stmt.security_invoker,
        definer: format!("{}@{}", session.user, session.account_host),
        created_ms: 0,
        inactive_reason: None,
    };
    let planned = statement(&view, &db)?;
    let schema =
        super::query::describe_view(engine, session, planned, format!("{db}.{name}")).await?;
    if view.named_columns && stmt.columns.len() != schema.fields().len() {
        return Err(Error::ViewColumnCount(format!("{db}.{name}")));
    }
    for (i, field) in schema.fields().iter().enumerate() {
        let named = stmt.columns.get(i);
        let column = ColumnMeta {
            name: named.map_or_else(|| field.name().clone(), |c| c.name.value.clone()),
            // A type no table column has (an interval, a list) is described as a string.
            data_type: type_from_ast(
                column_type_of(field.name(), field.data_type()).unwrap_or(sql::DataType::String),
            ),
            nullable: field.is_nullable(),
            default: None,
            comment: named.and_then(|c| c.comment.clone()),
            aggregate: None,
        };
        if view
            .columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(&column.name))
        {
            return Err(crate::catalog::CatalogError::DuplicateColumn(column.name).into());
        }
        view.columns.push(column);
    }
    let existing = if stmt.alter {
        Existing::MustExist
    } else if stmt.or_replace {
        Existing::Replace
    } else if stmt.if_not_exists {
        Existing::Keep
    } else {
        Existing::Refuse
    };
    engine.catalog.put_view(&db, view, existing).await?;
    Ok(Outcome::ok())
}

/// `(database, name)` of the view or materialized view a CREATE names, once it is known that
/// the database exists, the name is not information_schema's nor one a RESTORE reserved, and
/// the query is one a view may have.
pub(crate) async fn target(
    engine: &Engine,
    session: &Session,
    name: &ObjectName,
    query: &sqlparser::ast::Query,
) -> Result<(String, String)> {
    let (db, name) = resolve(session, name)?;
    super::table::refuse_information_schema(&db, &name)?;
    if engine.catalog.database(&db).await?.is_none() {
        return Err(Error::UnknownDatabase(db));
    }
    if let Some(why) = sql::view_query_problem(query) {
        return Err(Error::NotSupported(why.into()));
    }
    super::table::refuse_reserved(engine, &db, &name)?;
    Ok((db, name))
}

/// `SHOW CREATE VIEW v` (and `SHOW CREATE TABLE v`): MySQL's columns View, Create View,
/// character_set_client, collation_connection.
pub fn show_create(view: &ViewMeta) -> Result<Outcome> {
    Outcome::text_table(
        &[
            "View",
            "Create View",
            "character_set_client",
            "collation_connection",
        ],
        vec![vec![
            Some(view.name.clone()),
            Some(create_text(view)),
            Some("utf8".into()),
            Some("utf8_general_ci".into()),
        ]],
    )
}

/// `SHOW CREATE VIEW v`: a table is not a view (1347).
pub async fn show_create_named(
    engine: &Engine,
    session: &Session,
    name: &ObjectName,
) -> Result<Outcome> {
    let (db, view) = resolve(session, name)?;
    match engine.catalog.view(&db, &view).await? {
        Some(view) => show_create(&view),
        None if engine.catalog.relation_exists(&db, &view).await? => {
            Err(crate::catalog::CatalogError::not_view(&db, &view).into())
        }
        None => Err(crate::catalog::CatalogError::UnknownTable(format!("{db}.{view}")).into()),
    }
}

/// The view `name` names, if it is one.
pub async fn named(
    engine: &Engine,
    session: &Session,
    name: &ObjectName,
) -> Result<Option<ViewMeta>> {
    let (db, view) = resolve(session, name)?;
    Ok(engine.catalog.view(&db, &view).await?)
}

/// The statement that re-creates `view` (its columns listed, as StarRocks prints them).
pub fn create_text(view: &ViewMeta) -> String {
    let stmt = sql::CreateView {
        alter: false,
        or_replace: false,
        if_not_exists: false,
        name: ObjectName::from(vec![Ident::with_quote('`', view.name.clone())]),
        columns: view
            .columns
            .iter()
            .map(|c| sql::ViewColumn {
                name: Ident::with_quote('`', c.name.clone()),
                comment: c.comment.clone(),
            })
            .collect(),
        comment: view.comment.clone(),
        security_invoker: view.security_invoker,
        query: match parse_query(view) {
            Ok(q) => q,
            Err(_) => return format!("CREATE VIEW `{}` AS {}", view.name, view.definition),
        },
    };
    stmt.to_string()
}

fn parse_query(view: &ViewMeta) -> Result<Box<sqlparser::ast::Query>> {
    sql::parse_view_query(&view.definition)
        .map_err(|why| Error::Internal(format!("view {}: the stored definition: {why}", view.name)))
}

/// The query of `view` of database `db` as a statement any session can plan: every table name
/// without a database gets `db` (a name the query defines with WITH excepted), and a column
/// list renames the query's columns.
pub fn statement(view: &ViewMeta, db: &str) -> Result<sqlparser::ast::Statement> {
    use sqlparser::ast::{SetExpr, Statement as S, TableAlias, TableFactor, TableWithJoins};

    let mut query = parse_query(view)?;
    sql::qualify(&mut query, db);
    if view.named_columns {
        // SELECT * FROM (query) AS v (c1, c2, ...)
        let wrapped = format!(
            "SELECT * FROM ({query}) AS {}",
            sql::Id(&Ident::with_quote('`', view.name.clone()))
        );
        let mut outer = match sqlparser::parser::Parser::parse_sql(
            &sqlparser::dialect::MySqlDialect {},
            &wrapped,
        )
        .map_err(|e| Error::Internal(format!("view {}: {e}", view.name)))?
        .pop()
        {
            Some(S::Query(q)) => q,
            _ => return Err(Error::Internal(format!("view {}: no query", view.name))),
        };
        if let SetExpr::Select(select) = outer.body.as_mut()
            && let Some(TableWithJoins {
                relation:
                    TableFactor::Derived {
                        alias: Some(alias), ..
                    },
                ..
            }) = select.from.first_mut()
        {
            *alias = TableAlias {
                explicit: true,
                name: alias.name.clone(),
                columns: view
                    .columns
                    .iter()
                    .map(|c| sqlparser::ast::TableAliasColumnDef {
                        name: Ident::with_quote('`', c.name.clone()),
                        data_type: None,
                    })
                    .collect(),
                at: None,
            };
        }
        query = outer;
    }
    Ok(S::Query(query))
}
