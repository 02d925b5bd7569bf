//! `information_schema`, built from the catalog for the query that names it: MySQL 8's tables
//! and columns (names, order and types, so that the queries JDBC, ODBC and SQLAlchemy drivers
//! send run unchanged: `ORDINAL_POSITION` and the lengths and precisions are numbers) holding
//! StarRocks' contents (`ENGINE` OLAP, `COLUMN_KEY` DUP / AGG / UNI / PRI, `COLUMN_TYPE` as SHOW
//! CREATE TABLE prints it, StarRocks' own `tables_config`).
//!
//! The tables are registered in that one query's context, each only when the statement's text
//! names it, so they are always current and cost nothing when unused. DataFusion's own
//! information_schema is off: it would describe DataFusion's catalog, not ours.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use sqlparser::ast::{
    BinaryOperator, Expr, ObjectName, Statement, Value, visit_expressions_mut, visit_relations,
};

use super::table::{default_text, type_to_ast};
use crate::catalog::INFORMATION_SCHEMA;
use crate::catalog::TableTree;
use crate::catalog::schema::{
    ColumnMeta, ColumnType, Distribution, KeyModel, PartitionBounds, TableMeta,
};
use crate::catalog::views::ViewMeta;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// Character sets as `SHOW CHARACTER SET` and `information_schema.character_sets` list them:
/// name, description, default collation, most bytes per character.
pub const CHARACTER_SETS: [(&str, &str, &str, i64); 3] = [
    ("utf8mb4", "UTF-8 Unicode", "utf8mb4_general_ci", 4),
    ("utf8", "UTF-8 Unicode", "utf8_general_ci", 3),
    ("binary", "Binary pseudo charset", "binary", 1),
];

/// Collations as `SHOW COLLATION` and `information_schema.collations` list them: name,
/// character set, id, default, sort length.
pub const COLLATIONS: [(&str, &str, i64, bool, i64); 5] = [
    ("utf8mb4_general_ci", "utf8mb4", 45, true, 1),
    ("utf8mb4_bin", "utf8mb4", 46, false, 1),
    ("utf8mb4_0900_ai_ci", "utf8mb4", 255, false, 0),
    ("utf8_general_ci", "utf8", 33, true, 1),
    ("binary", "binary", 63, true, 1),
];

/// The one engine, as `SHOW ENGINES` and `information_schema.engines` list it: engine,
/// support, comment, transactions (each statement is atomic), XA, savepoints.
pub const ENGINE: [&str; 6] = [
    "OLAP",
    "DEFAULT",
    "backstop tablet store",
    "YES",
    "NO",
    "NO",
];

/// Whether a statement's text may read information_schema.
pub fn mentioned(sql: &str, database: Option<&str>) -> bool {
    database == Some(INFORMATION_SCHEMA) || sql.to_ascii_lowercase().contains(INFORMATION_SCHEMA)
}

/// Makes `=` and `<>` against a text literal compare case-insensitively in a statement that
/// reads information_schema only, as information_schema's `utf8_general_ci` text does in
/// MariaDB and MySQL (MariaDB Connector/J asks `IF(IS_NULLABLE = 'yes', 1, 0)` of a column
/// that says `YES`). A statement that also reads a table keeps exact comparisons.
pub fn compare_text_case_insensitively(stmt: &mut Statement, database: Option<&str>) {
    let mut only_ours = true;
    let mut any = false;
    let _ = visit_relations(&*stmt, |name: &ObjectName| {
        let parts: Vec<&str> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident())
            .map(|i| i.value.as_str())
            .collect();
        let ours = match parts.as_slice() {
            [schema, _] => schema.eq_ignore_ascii_case(INFORMATION_SCHEMA),
            [_] => database.is_some_and(|d| d.eq_ignore_ascii_case(INFORMATION_SCHEMA)),
            _ => false,
        };
        any = true;
        only_ours &= ours;
        ControlFlow::<()>::Continue(())
    });
    if !(any && only_ours) {
        return;
    }
    let is_text = |e: &Expr| matches!(e, Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_) | Value::DoubleQuotedString(_)));
    let lower = |e: &Expr| super::functions::call("lower", vec![e.clone()]);
    let _ = visit_expressions_mut(stmt, |e: &mut Expr| {
        if let Expr::BinaryOp { left, op, right } = e
            && matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq)
            && (is_text(left) != is_text(right))
        {
            **left = lower(left);
            **right = lower(right);
        }
        ControlFlow::<()>::Continue(())
    });
}

/// One cell: text or a number, either possibly NULL.
#[derive(Debug, Clone)]
enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(Some(s.into()))
}

fn int(n: i64) -> Cell {
    Cell::Int(Some(n))
}

const NULL_TEXT: Cell = Cell::Text(None);
const NULL_INT: Cell = Cell::Int(None);

/// A column's type in the table's schema.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Int,
}

use Kind::{Int, Text};

/// The tables, with their columns (MySQL 8's, lower case: DataFusion folds unquoted
/// identifiers, so `TABLE_NAME` in a query finds `table_name`).
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "schemata",
        &[
            ("catalog_name", Text),
            ("schema_name", Text),
            ("default_character_set_name", Text),
            ("default_collation_name", Text),
            ("sql_path", Text),
            ("default_encryption", Text),
        ],
    ),
    (
        "tables",
        &[
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("table_type", Text),
            ("engine", Text),
            ("version", Int),
            ("row_format", Text),
            ("table_rows", Int),
            ("avg_row_length", Int),
            ("data_length", Int),
            ("max_data_length", Int),
            ("index_length", Int),
            ("data_free", Int),
            ("auto_increment", Int),
            ("create_time", Text),
            ("update_time", Text),
            ("check_time", Text),
            ("table_collation", Text),
            ("checksum", Int),
            ("create_options", Text),
            ("table_comment", Text),
        ],
    ),
    (
        "columns",
        &[
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("column_name", Text),
            ("ordinal_position", Int),
            ("column_default", Text),
            ("is_nullable", Text),
            ("data_type", Text),
            ("character_maximum_length", Int),
            ("character_octet_length", Int),
            ("numeric_precision", Int),
            ("numeric_scale", Int),
            ("datetime_precision", Int),
            ("character_set_name", Text),
            ("collation_name", Text),
            ("column_type", Text),
            ("column_key", Text),
            ("extra", Text),
            ("privileges", Text),
            ("column_comment", Text),
            ("generation_expression", Text),
            ("srs_id", Int),
        ],
    ),
    (
        "statistics",
        &[
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("non_unique", Int),
            ("index_schema", Text),
            ("index_name", Text),
            ("seq_in_index", Int),
            ("column_name", Text),
            ("collation", Text),
            ("cardinality", Int),
            ("sub_part", Int),
            ("packed", Text),
            ("nullable", Text),
            ("index_type", Text),
            ("comment", Text),
            ("index_comment", Text),
            ("is_visible", Text),
            ("expression", Text),
        ],
    ),
    (
        "key_column_usage",
        &[
            ("constraint_catalog", Text),
            ("constraint_schema", Text),
            ("constraint_name", Text),
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("column_name", Text),
            ("ordinal_position", Int),
            ("position_in_unique_constraint", Int),
            ("referenced_table_schema", Text),
            ("referenced_table_name", Text),
            ("referenced_column_name", Text),
        ],
    ),
    (
        "table_constraints",
        &[
            ("constraint_catalog", Text),
            ("constraint_schema", Text),
            ("constraint_name", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("constraint_type", Text),
            ("enforced", Text),
        ],
    ),
    (
        "referential_constraints",
        &[
            ("constraint_catalog", Text),
            ("constraint_schema", Text),
            ("constraint_name", Text),
            ("unique_constraint_catalog", Text),
            ("unique_constraint_schema", Text),
            ("unique_constraint_name", Text),
            ("match_option", Text),
            ("update_rule", Text),
            ("delete_rule", Text),
            ("table_name", Text),
            ("referenced_table_name", Text),
        ],
    ),
    (
        "views",
        &[
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("view_definition", Text),
            ("check_option", Text),
            ("is_updatable", Text),
            ("definer", Text),
            ("security_type", Text),
            ("character_set_client", Text),
            ("collation_connection", Text),
        ],
    ),
    (
        "partitions",
        &[
            ("table_catalog", Text),
            ("table_schema", Text),
            ("table_name", Text),
            ("partition_name", Text),
            ("subpartition_name", Text),
            ("partition_ordinal_position", Int),
            ("subpartition_ordinal_position", Int),
            ("partition_method", Text),
            ("subpartition_method", Text),
            ("partition_expression", Text),
            ("subpartition_expression", Text),
            ("partition_description", Text),
            ("table_rows", Int),
            ("avg_row_length", Int),
            ("data_length", Int),
            ("max_data_length", Int),
            ("index_length", Int),
            ("data_free", Int),
            ("create_time", Text),
            ("update_time", Text),
            ("check_time", Text),
            ("checksum", Int),
            ("partition_comment", Text),
            ("nodegroup", Text),
            ("tablespace_name", Text),
        ],
    ),
    (
        "routines",
        &[
            ("specific_name", Text),
            ("routine_catalog", Text),
            ("routine_schema", Text),
            ("routine_name", Text),
            ("routine_type", Text),
            ("data_type", Text),
            ("routine_body", Text),
            ("routine_definition", Text),
            ("external_name", Text),
            ("external_language", Text),
            ("parameter_style", Text),
            ("is_deterministic", Text),
            ("sql_data_access", Text),
            ("sql_path", Text),
            ("security_type", Text),
            ("created", Text),
            ("last_altered", Text),
            ("sql_mode", Text),
            ("routine_comment", Text),
            ("definer", Text),
        ],
    ),
    (
        "character_sets",
        &[
            ("character_set_name", Text),
            ("default_collate_name", Text),
            ("description", Text),
            ("maxlen", Int),
        ],
    ),
    (
        "collations",
        &[
            ("collation_name", Text),
            ("character_set_name", Text),
            ("id", Int),
            ("is_default", Text),
            ("is_compiled", Text),
            ("sortlen", Int),
            ("pad_attribute", Text),
        ],
    ),
    (
        "engines",
        &[
            ("engine", Text),
            ("support", Text),
            ("comment", Text),
            ("transactions", Text),
            ("xa", Text),
            ("savepoints", Text),
        ],
    ),
    (
        "materialized_views",
        &[
            ("materialized_view_id", Int),
            ("table_schema", Text),
            ("table_name", Text),
            ("refresh_type", Text),
            ("is_active", Text),
            ("inactive_reason", Text),
            ("partition_type", Text),
            ("task_id", Text),
            ("task_name", Text),
            ("last_refresh_start_time", Text),
            ("last_refresh_finished_time", Text),
            ("last_refresh_duration", Text),
            ("last_refresh_state", Text),
            ("last_refresh_force_refresh", Text),
            ("last_refresh_start_partition", Text),
            ("last_refresh_end_partition", Text),
            ("last_refresh_base_refresh_partitions", Text),
            ("last_refresh_mv_refresh_partitions", Text),
            ("last_refresh_error_code", Text),
            ("last_refresh_error_message", Text),
            ("table_rows", Int),
            ("materialized_view_definition", Text),
            ("extra_message", Text),
        ],
    ),
    (
        "tasks",
        &[
            ("task_name", Text),
            ("create_time", Text),
            ("schedule", Text),
            ("catalog", Text),
            ("database", Text),
            ("definition", Text),
            ("expire_time", Text),
            ("properties", Text),
            ("creator", Text),
            // backstop's: the schedule's state, what comes next and how the last runs went.
            ("state", Text),
            ("next_run_time", Text),
            ("last_success_time", Text),
            ("last_error", Text),
            ("consecutive_failures", Int),
        ],
    ),
    (
        "task_runs",
        &[
            ("query_id", Text),
            ("task_name", Text),
            ("create_time", Text),
            ("finish_time", Text),
            ("state", Text),
            ("catalog", Text),
            ("database", Text),
            ("definition", Text),
            ("expire_time", Text),
            ("error_code", Int),
            ("error_message", Text),
            ("progress", Text),
            ("extra_message", Text),
            ("properties", Text),
            ("job_id", Text),
            ("process_time", Text),
            // backstop's: 0 for a scheduled run, n for its n-th retry.
            ("attempt", Int),
        ],
    ),
    (
        "tables_config",
        &[
            ("table_schema", Text),
            ("table_name", Text),
            ("table_engine", Text),
            ("table_model", Text),
            ("primary_key", Text),
            ("partition_key", Text),
            ("distribute_key", Text),
            ("distribute_type", Text),
            ("distribute_bucket", Int),
            ("sort_key", Text),
            ("properties", Text),
            ("table_id", Int),
        ],
    ),
];

/// The names of the information_schema tables, in name order.
pub fn table_names() -> impl Iterator<Item = &'static str> {
    system_views().map(|(name, _)| name)
}

/// An information_schema table as a table definition (for DESC and SHOW COLUMNS): nullable
/// STRING and BIGINT columns, no key; `None` for a name that is not one of them.
pub fn table_meta(name: &str) -> Option<crate::catalog::schema::TableMeta> {
    use crate::catalog::schema::{ColumnMeta, TableMeta};
    let (table, columns) = TABLES.iter().find(|(t, _)| t.eq_ignore_ascii_case(name))?;
    let columns = columns
        .iter()
        .map(|(column, kind)| ColumnMeta {
            name: (*column).to_string(),
            data_type: match kind {
                Text => ColumnType::String,
                Int => ColumnType::BigInt,
            },
            nullable: true,
            default: None,
            comment: None,
            aggregate: None,
        })
        .collect();
    Some(TableMeta::columns_only((*table).to_string(), columns, None))
}

/// The information_schema tables with their columns, in name order (as `tables` and
/// `columns` list them, MySQL's `SYSTEM VIEW`s).
fn system_views() -> impl Iterator<Item = (&'static str, &'static [(&'static str, Kind)])> {
    let mut all: Vec<_> = TABLES.iter().map(|(n, c)| (*n, *c)).collect();
    all.sort_by_key(|(n, _)| *n);
    all.into_iter()
}

/// Registers, in `ctx`, each information_schema table whose name `sql` mentions, as `session`
/// may see it.
pub async fn register(
    engine: &Engine,
    session: &super::Session,
    ctx: &SessionContext,
    sql: &str,
) -> Result<()> {
    let sql = sql.to_ascii_lowercase();
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| Error::Internal("the query context has no default catalog".into()))?;
    // A view's query registers what it reads beside what its statement registered.
    let existing = catalog.schema(INFORMATION_SCHEMA);
    let wanted: Vec<&str> = table_names()
        .filter(|t| sql.contains(t))
        .filter(|t| existing.as_ref().is_none_or(|s| !s.table_exist(t)))
        .collect();
    if existing.is_none() {
        catalog.register_schema(INFORMATION_SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let databases = super::database::names(engine).await?;
    let trees = if wanted.iter().any(|t| {
        !matches!(
            *t,
            "character_sets" | "collations" | "engines" | "routines" | "tasks" | "task_runs"
        )
    }) {
        every_table(engine, &databases).await?
    } else {
        Vec::new()
    };
    let mut views = Vec::new();
    if wanted
        .iter()
        .any(|t| matches!(*t, "tables" | "columns" | "views"))
    {
        for db in &databases {
            views.extend(
                engine
                    .catalog
                    .views(db)
                    .await?
                    .into_iter()
                    .map(|v| (db.clone(), v)),
            );
        }
    }
    for (name, columns) in TABLES {
        if wanted.contains(name) {
            let rows = match *name {
                "tasks" | "task_runs" => task_rows(engine, session, name).await?,
                _ => rows_of(name, &databases, &trees, &views),
            };
            add(ctx, name, columns, rows)?;
        }
    }
    Ok(())
}

/// The rows of `tasks` or `task_runs`: every task's for an administrator, the session user's own
/// for anyone else. Definitions show with their credentials masked.
async fn task_rows(
    engine: &Engine,
    session: &super::Session,
    name: &str,
) -> Result<Vec<Vec<Cell>>> {
    let me = format!("{}@{}", session.user, session.account_host);
    let all = super::privilege::Privileges::of(engine, session).is_admin();
    let tasks: Vec<crate::catalog::tasks::TaskMeta> = engine
        .catalog
        .tasks()
        .await?
        .into_iter()
        .filter(|t| all || t.creator == me)
        .collect();
    let time = |ms: Option<i64>| Cell::Text(ms.and_then(super::format_datetime_ms));
    // A task's properties are checked names and numbers (no credentials among them).
    let props = |p: &[(String, String)]| {
        text(if p.is_empty() {
            String::new()
        } else {
            crate::sql::PropertyList(p).to_string()
        })
    };
    if name == "tasks" {
        return Ok(tasks
            .iter()
            .map(|t| {
                vec![
                    text(&t.name),
                    time(Some(t.created_ms)),
                    text(super::task::schedule_text(t.schedule.as_ref())),
                    text("default_catalog"),
                    text(&t.db),
                    text(crate::sql::redact_sql(&t.definition)),
                    time(t.expire_ms),
                    props(&t.properties),
                    text(&t.creator),
                    text(if t.suspended { "PAUSE" } else { "ACTIVE" }),
                    time(t.next_start_ms()),
                    time(t.last_success_ms),
                    Cell::Text(t.last_error.clone()),
                    int(i64::from(t.consecutive_failures)),
                ]
            })
            .collect());
    }
    let runs = engine.catalog.task_runs().await?;
    Ok(runs
        .iter()
        .filter(|r| tasks.iter().any(|t| t.id == r.task_id))
        .map(|r| {
            let process = match (r.started_ms, r.finished_ms) {
                (Some(s), Some(f)) => Some(format!("{:.3}", f.saturating_sub(s) as f64 / 1000.0)),
                _ => None,
            };
            vec![
                text(r.id.to_string()),
                text(&r.task_name),
                time(Some(r.created_ms)),
                time(r.finished_ms),
                text(r.state.as_str()),
                text("default_catalog"),
                text(&r.db),
                text(crate::sql::redact_sql(&r.definition)),
                NULL_TEXT,
                int(i64::from(r.error_code)),
                Cell::Text(r.error_message.clone()),
                text(if r.state.is_done() { "100%" } else { "0%" }),
                Cell::Text(r.extra_message.clone()),
                props(&r.properties),
                Cell::Text(r.job_id.map(|j| j.to_string())),
                Cell::Text(process),
                int(i64::from(r.attempt)),
            ]
        })
        .collect())
}

/// Every table of `databases`, with its partitions (one catalog read per table).
async fn every_table(engine: &Engine, databases: &[String]) -> Result<Vec<(String, TableTree)>> {
    let mut out = Vec::new();
    for db in databases {
        for t in engine.catalog.tables(db).await? {
            match engine.catalog.table_tree(db, &t.name).await {
                Ok(tree) => out.push((db.clone(), tree)),
                // Dropped since it was listed: not there any more.
                Err(crate::catalog::CatalogError::UnknownTable(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(out)
}

fn rows_of(
    name: &str,
    databases: &[String],
    trees: &[(String, TableTree)],
    views: &[(String, ViewMeta)],
) -> Vec<Vec<Cell>> {
    match name {
        "schemata" => std::iter::once(INFORMATION_SCHEMA)
            .chain(databases.iter().map(String::as_str))
            .map(|db| {
                vec![
                    text("def"),
                    text(db),
                    text("utf8mb4"),
                    text("utf8mb4_general_ci"),
                    NULL_TEXT,
                    text("NO"),
                ]
            })
            .collect(),
        "tables" => system_views()
            .map(|(name, _)| {
                padded(
                    vec![
                        text("def"),
                        text(INFORMATION_SCHEMA),
                        text(name),
                        text("SYSTEM VIEW"),
                    ],
                    21,
                )
            })
            .chain(trees.iter().map(|(db, t)| table_row(db, t)))
            .chain(views.iter().map(|(db, v)| view_table_row(db, v)))
            .collect(),
        "columns" => system_views()
            .flat_map(|(name, columns)| {
                columns.iter().enumerate().map(move |(i, (column, kind))| {
                    let (data_type, column_type) = match kind {
                        Text => ("varchar", "varchar(65533)"),
                        Int => ("bigint", "bigint(20)"),
                    };
                    let mut row = padded(
                        vec![
                            text("def"),
                            text(INFORMATION_SCHEMA),
                            text(name),
                            text(*column),
                            int(i64::try_from(i + 1).unwrap_or(i64::MAX)),
                            NULL_TEXT,
                            text("YES"),
                            text(data_type),
                        ],
                        15,
                    );
                    row.push(text(column_type));
                    padded(row, 22)
                })
            })
            .chain(trees.iter().flat_map(|(db, t)| {
                t.table
                    .columns
                    .iter()
                    .enumerate()
                    .map(move |(i, c)| column_row(db, &t.table, i, c))
            }))
            .chain(views.iter().flat_map(|(db, v)| {
                let table = v.as_table();
                v.columns
                    .iter()
                    .enumerate()
                    .map(move |(i, c)| column_row(db, &table, i, c))
                    .collect::<Vec<_>>()
            }))
            .collect(),
        "views" => views
            .iter()
            .map(|(db, v)| {
                vec![
                    text("def"),
                    text(db),
                    text(&v.name),
                    text(&v.definition),
                    text("NONE"),
                    text("NO"),
                    text(&v.definer),
                    text(if v.security_invoker {
                        "INVOKER"
                    } else {
                        "DEFINER"
                    }),
                    text("utf8"),
                    text("utf8_general_ci"),
                ]
            })
            .collect(),
        "statistics" => primary_key_columns(trees)
            .map(|(db, t, seq, column)| {
                vec![
                    text("def"),
                    text(db),
                    text(t),
                    int(0),
                    text(db),
                    text("PRIMARY"),
                    int(seq),
                    text(column),
                    text("A"),
                    NULL_INT,
                    NULL_INT,
                    NULL_TEXT,
                    text(""),
                    text("BTREE"),
                    text(""),
                    text(""),
                    text("YES"),
                    NULL_TEXT,
                ]
            })
            .collect(),
        "key_column_usage" => primary_key_columns(trees)
            .map(|(db, t, seq, column)| {
                vec![
                    text("def"),
                    text(db),
                    text("PRIMARY"),
                    text("def"),
                    text(db),
                    text(t),
                    text(column),
                    int(seq),
                    NULL_INT,
                    NULL_TEXT,
                    NULL_TEXT,
                    NULL_TEXT,
                ]
            })
            .collect(),
        "table_constraints" => trees
            .iter()
            .filter(|(_, t)| t.table.key.model == KeyModel::Primary)
            .map(|(db, t)| {
                vec![
                    text("def"),
                    text(db),
                    text("PRIMARY"),
                    text(db),
                    text(&t.table.name),
                    text("PRIMARY KEY"),
                    text("YES"),
                ]
            })
            .collect(),
        "partitions" => trees
            .iter()
            .flat_map(|(db, t)| partition_rows(db, t))
            .collect(),
        "character_sets" => CHARACTER_SETS
            .iter()
            .map(|(name, description, collation, maxlen)| {
                vec![
                    text(*name),
                    text(*collation),
                    text(*description),
                    int(*maxlen),
                ]
            })
            .collect(),
        "collations" => COLLATIONS
            .iter()
            .map(|(name, charset, id, default, sortlen)| {
                vec![
                    text(*name),
                    text(*charset),
                    int(*id),
                    text(if *default { "Yes" } else { "" }),
                    text("Yes"),
                    int(*sortlen),
                    text("PAD SPACE"),
                ]
            })
            .collect(),
        "engines" => vec![ENGINE.iter().map(|c| text(*c)).collect()],
        "tables_config" => trees.iter().map(|(db, t)| config_row(db, t)).collect(),
        // SHOW MATERIALIZED VIEWS' rows, under information_schema's names.
        "materialized_views" => trees
            .iter()
            .filter_map(|(db, t)| {
                let mv = t.table.materialized.as_ref()?;
                let rows: u64 = t.partitions.iter().map(|p| p.rows()).sum();
                let shown = super::materialized::show_row(db, &t.table, mv, rows);
                Some(
                    shown
                        .into_iter()
                        .enumerate()
                        .map(|(i, cell)| match i {
                            0 | 20 => Cell::Int(cell.and_then(|c| c.parse().ok())),
                            _ => Cell::Text(cell),
                        })
                        .collect(),
                )
            })
            .collect(),
        // Routines and foreign keys do not exist: the tables are there, empty.
        _ => Vec::new(),
    }
}

/// `cells` followed by NULLs up to `width`.
fn padded(mut cells: Vec<Cell>, width: usize) -> Vec<Cell> {
    cells.resize(width.max(cells.len()), NULL_TEXT);
    cells
}

fn table_row(db: &str, tree: &TableTree) -> Vec<Cell> {
    let t = &tree.table;
    let rows: u64 = tree.partitions.iter().map(|p| p.rows()).sum();
    let bytes: u64 = tree.partitions.iter().map(|p| p.bytes()).sum();
    let updated = tree
        .partitions
        .iter()
        .map(|p| p.partition.visible_version_ms)
        .max()
        .unwrap_or(0);
    let as_int = |n: u64| int(i64::try_from(n).unwrap_or(i64::MAX));
    vec![
        text("def"),
        text(db),
        text(&t.name),
        text("BASE TABLE"),
        text("OLAP"),
        NULL_INT,
        NULL_TEXT,
        as_int(rows),
        as_int(bytes.checked_div(rows).unwrap_or(0)),
        as_int(bytes),
        NULL_INT,
        NULL_INT,
        NULL_INT,
        NULL_INT,
        Cell::Text(super::format_datetime_ms(t.created_ms)),
        Cell::Text(super::format_datetime_ms(updated)),
        NULL_TEXT,
        text("utf8_general_ci"),
        NULL_INT,
        NULL_TEXT,
        text(t.comment.clone().unwrap_or_default()),
    ]
}

/// MySQL's numbers of a column type: character length, octet length, numeric precision,
/// numeric scale, datetime precision.
fn type_numbers(ty: ColumnType) -> [Option<i64>; 5] {
    let length = match ty {
        ColumnType::Char(n) | ColumnType::Varchar(n) => Some(i64::from(n)),
        // STRING is VARCHAR(65533) in StarRocks.
        ColumnType::String => Some(65533),
        _ => None,
    };
    let (precision, scale) = match ty {
        ColumnType::Boolean => (Some(1), Some(0)),
        ColumnType::TinyInt => (Some(3), Some(0)),
        ColumnType::SmallInt => (Some(5), Some(0)),
        ColumnType::Int => (Some(10), Some(0)),
        ColumnType::BigInt => (Some(19), Some(0)),
        ColumnType::LargeInt => (Some(39), Some(0)),
        ColumnType::Float => (Some(12), None),
        ColumnType::Double => (Some(22), None),
        ColumnType::Decimal {
            precision, scale, ..
        } => (Some(i64::from(precision)), Some(i64::from(scale))),
        _ => (None, None),
    };
    let datetime = matches!(ty, ColumnType::DateTime).then_some(0);
    [length, length, precision, scale, datetime]
}

/// The `tables` row of a view (MySQL's: no engine, no sizes; the comment is the view's, or
/// MySQL's `VIEW`).
fn view_table_row(db: &str, v: &ViewMeta) -> Vec<Cell> {
    let mut row = padded(vec![text("def"), text(db), text(&v.name), text("VIEW")], 14);
    row.push(Cell::Text(super::format_datetime_ms(v.created_ms)));
    let mut row = padded(row, 20);
    row.push(text(v.comment.as_deref().unwrap_or("VIEW")));
    row
}

fn column_row(db: &str, t: &TableMeta, i: usize, c: &ColumnMeta) -> Vec<Cell> {
    let is_key = t
        .key
        .columns
        .iter()
        .any(|k| k.eq_ignore_ascii_case(&c.name));
    let key = match (is_key, t.key.model) {
        (false, _) => "",
        (true, KeyModel::Duplicate) => "DUP",
        (true, KeyModel::Aggregate) => "AGG",
        (true, KeyModel::Unique) => "UNI",
        (true, KeyModel::Primary) => "PRI",
    };
    let [length, octets, precision, scale, datetime] = type_numbers(c.data_type);
    let text_type = c.data_type.is_string();
    let shown = type_to_ast(c.data_type).shown();
    let data_type = shown
        .split('(')
        .next()
        .unwrap_or(shown.as_str())
        .to_string();
    vec![
        text("def"),
        text(db),
        text(&t.name),
        text(&c.name),
        int(i64::try_from(i + 1).unwrap_or(i64::MAX)),
        Cell::Text(default_text(c)),
        text(if c.nullable { "YES" } else { "NO" }),
        text(data_type),
        Cell::Int(length),
        Cell::Int(octets),
        Cell::Int(precision),
        Cell::Int(scale),
        Cell::Int(datetime),
        if text_type { text("utf8") } else { NULL_TEXT },
        if text_type {
            text("utf8_general_ci")
        } else {
            NULL_TEXT
        },
        text(shown),
        text(key),
        text(""),
        text("select,insert"),
        text(c.comment.clone().unwrap_or_default()),
        text(""),
        NULL_INT,
    ]
}

/// (database, table, position from 1, column) of every primary-key column.
fn primary_key_columns(
    trees: &[(String, TableTree)],
) -> impl Iterator<Item = (&str, &str, i64, &str)> {
    trees
        .iter()
        .filter(|(_, t)| t.table.key.model == KeyModel::Primary)
        .flat_map(|(db, t)| {
            t.table.key.columns.iter().enumerate().map(move |(i, c)| {
                (
                    db.as_str(),
                    t.table.name.as_str(),
                    i64::try_from(i + 1).unwrap_or(i64::MAX),
                    c.as_str(),
                )
            })
        })
}

fn partition_rows(db: &str, tree: &TableTree) -> Vec<Vec<Cell>> {
    let t = &tree.table;
    let column = t.partitioning.column().map(|c| format!("`{c}`"));
    let column_type = t.partition_column().map(|c| c.data_type);
    tree.partitions
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let meta = &p.partition;
            let (method, description) = match (&meta.bounds, column_type) {
                (PartitionBounds::All, _) | (_, None) => (NULL_TEXT, NULL_TEXT),
                (PartitionBounds::Range { .. }, Some(ty)) => {
                    (text("RANGE"), text(meta.bounds.describe(Some(ty))))
                }
                (PartitionBounds::List { .. }, Some(ty)) => {
                    (text("LIST"), text(meta.bounds.describe(Some(ty))))
                }
            };
            let as_int = |n: u64| int(i64::try_from(n).unwrap_or(i64::MAX));
            let rows = p.rows();
            vec![
                text("def"),
                text(db),
                text(&t.name),
                text(&meta.name),
                NULL_TEXT,
                int(i64::try_from(i + 1).unwrap_or(i64::MAX)),
                NULL_INT,
                method,
                NULL_TEXT,
                Cell::Text(column.clone()),
                NULL_TEXT,
                description,
                as_int(rows),
                as_int(p.bytes().checked_div(rows).unwrap_or(0)),
                as_int(p.bytes()),
                NULL_INT,
                NULL_INT,
                NULL_INT,
                Cell::Text(super::format_datetime_ms(t.created_ms)),
                Cell::Text(super::format_datetime_ms(meta.visible_version_ms)),
                NULL_TEXT,
                NULL_INT,
                text(""),
                text("default"),
                NULL_TEXT,
            ]
        })
        .collect()
}

fn config_row(db: &str, tree: &TableTree) -> Vec<Cell> {
    let t = &tree.table;
    let quoted = |names: &[String]| {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let model = match t.key.model {
        KeyModel::Duplicate => "DUP_KEYS",
        KeyModel::Aggregate => "AGG_KEYS",
        KeyModel::Unique => "UNQ_KEYS",
        KeyModel::Primary => "PRI_KEYS",
    };
    let primary = if t.key.model == KeyModel::Primary {
        quoted(&t.key.columns)
    } else {
        String::new()
    };
    let (distribute_key, distribute_type) = match &t.distribution {
        Distribution::Hash { columns, .. } => (quoted(columns), "HASH"),
        Distribution::Random { .. } => (String::new(), "RANDOM"),
    };
    let properties = serde_json::to_string(&t.properties).unwrap_or_default();
    vec![
        text(db),
        text(&t.name),
        text("OLAP"),
        text(model),
        text(primary),
        text(
            t.partitioning
                .column()
                .map(|c| format!("`{c}`"))
                .unwrap_or_default(),
        ),
        text(distribute_key),
        text(distribute_type),
        int(i64::from(t.distribution.buckets())),
        text(quoted(&t.key.columns)),
        text(properties),
        int(i64::try_from(t.id).unwrap_or(i64::MAX)),
    ]
}

fn add(
    ctx: &SessionContext,
    name: &str,
    columns: &[(&str, Kind)],
    rows: Vec<Vec<Cell>>,
) -> Result<()> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(c, kind)| {
                let ty = match kind {
                    Text => DataType::Utf8,
                    Int => DataType::Int64,
                };
                Field::new(*c, ty, true)
            })
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| -> ArrayRef {
            let cells = rows.iter().map(|r| r.get(i));
            match kind {
                Text => Arc::new(
                    cells
                        .map(|c| match c {
                            Some(Cell::Text(t)) => t.clone(),
                            Some(Cell::Int(n)) => n.map(|n| n.to_string()),
                            None => None,
                        })
                        .collect::<StringArray>(),
                ),
                Int => Arc::new(
                    cells
                        .map(|c| match c {
                            Some(Cell::Int(n)) => *n,
                            Some(Cell::Text(t)) => t.as_deref().and_then(|t| t.parse().ok()),
                            None => None,
                        })
                        .collect::<Int64Array>(),
                ),
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema, arrays)
        .map_err(|e| Error::Internal(format!("building information_schema.{name}: {e}")))?;
    let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    ctx.register_table(
        format!("{INFORMATION_SCHEMA}.{name}").as_str(),
        Arc::new(table),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_builder_fills_every_column() {
        // With no table, only the fixed tables have rows; each must have its table's width.
        for (name, columns) in TABLES {
            for row in rows_of(name, &["d".to_string()], &[], &[]) {
                assert_eq!(row.len(), columns.len(), "information_schema.{name}");
            }
        }
    }
}
