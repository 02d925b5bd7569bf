//! `information_schema.schemata`, `.tables` and `.columns`, built from the catalog for the
//! query that names them (JDBC and ODBC tools read them to list what exists). They are
//! registered as in-memory tables of that one query's context, so they are always current and
//! cost nothing when unused. DataFusion's own information_schema is off: it would describe
//! DataFusion's catalog, not ours.

use std::sync::Arc;

use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::table::{default_text, type_to_ast};
use super::text_batch;
use crate::catalog::INFORMATION_SCHEMA;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// Whether a statement's text may read information_schema.
pub fn mentioned(sql: &str, database: Option<&str>) -> bool {
    database == Some(INFORMATION_SCHEMA) || sql.to_ascii_lowercase().contains(INFORMATION_SCHEMA)
}

/// Registers the three tables in `ctx`.
pub async fn register(engine: &Engine, ctx: &SessionContext) -> Result<()> {
    let mut schemata = vec![row(&[
        "def",
        INFORMATION_SCHEMA,
        "utf8mb4",
        "utf8mb4_general_ci",
    ])];
    let mut tables = Vec::new();
    let mut columns = Vec::new();
    for db in engine.catalog.databases().await? {
        schemata.push(row(&["def", &db.name, "utf8mb4", "utf8mb4_general_ci"]));
        for t in engine.catalog.tables(&db.name).await? {
            let created = super::format_datetime_ms(t.created_ms);
            tables.push(vec![
                Some("def".into()),
                Some(db.name.clone()),
                Some(t.name.clone()),
                Some("BASE TABLE".into()),
                Some("OLAP".into()),
                created,
                Some("utf8mb4_general_ci".into()),
                Some(t.comment.clone().unwrap_or_default()),
            ]);
            for (i, c) in t.columns.iter().enumerate() {
                let is_key = t
                    .key
                    .columns
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(&c.name));
                let column_type = type_to_ast(c.data_type).to_string();
                columns.push(vec![
                    Some("def".into()),
                    Some(db.name.clone()),
                    Some(t.name.clone()),
                    Some(c.name.clone()),
                    Some((i + 1).to_string()),
                    default_text(c),
                    Some(if c.nullable { "YES" } else { "NO" }.into()),
                    Some(c.data_type.base_name().to_ascii_lowercase()),
                    Some(column_type),
                    Some(if is_key { "DUP" } else { "" }.into()),
                    Some(c.comment.clone().unwrap_or_default()),
                ]);
            }
        }
    }
    let schema = Arc::new(MemorySchemaProvider::new());
    ctx.catalog("datafusion")
        .ok_or_else(|| Error::Internal("the query context has no default catalog".into()))?
        .register_schema(INFORMATION_SCHEMA, schema)?;
    add(
        ctx,
        "schemata",
        &[
            "catalog_name",
            "schema_name",
            "default_character_set_name",
            "default_collation_name",
        ],
        &schemata,
    )?;
    add(
        ctx,
        "tables",
        &[
            "table_catalog",
            "table_schema",
            "table_name",
            "table_type",
            "engine",
            "create_time",
            "table_collation",
            "table_comment",
        ],
        &tables,
    )?;
    add(
        ctx,
        "columns",
        &[
            "table_catalog",
            "table_schema",
            "table_name",
            "column_name",
            "ordinal_position",
            "column_default",
            "is_nullable",
            "data_type",
            "column_type",
            "column_key",
            "column_comment",
        ],
        &columns,
    )?;
    Ok(())
}

fn row(cells: &[&str]) -> Vec<Option<String>> {
    cells.iter().map(|c| Some((*c).to_string())).collect()
}

/// Column names are lower case: DataFusion folds unquoted identifiers, so `TABLE_NAME` in a
/// query finds `table_name`.
fn add(
    ctx: &SessionContext,
    name: &str,
    columns: &[&str],
    rows: &[Vec<Option<String>>],
) -> Result<()> {
    let batch = text_batch(columns, rows)?;
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    ctx.register_table(
        format!("{INFORMATION_SCHEMA}.{name}").as_str(),
        Arc::new(table),
    )?;
    Ok(())
}
