//! Table DDL and inspection: CREATE TABLE [LIKE], DROP TABLE, TRUNCATE TABLE, ALTER TABLE
//! ADD/DROP PARTITION, SHOW TABLES, DESC, SHOW [FULL] COLUMNS, SHOW CREATE TABLE,
//! SHOW PARTITIONS, SHOW TABLET.
//!
//! This file translates between the parser's AST (`sql::CreateTable` ...) and the catalog's
//! records (`catalog::TableMeta` ...): defaults are resolved here (column lengths, the key,
//! the distribution), every rule is checked by the catalog (`catalog::schema`), and SHOW CREATE
//! TABLE turns the records back into a `sql::CreateTable`, whose `Display` round-trips.
//! docs/tables.md lists what is supported and where we differ from StarRocks.

use std::collections::BTreeMap;

use sqlparser::ast::{Ident, ShowStatementOptions};
use sqlparser::ast::{ObjectName, ShowStatementFilter, ShowStatementFilterPosition};

use super::database::like_match;
use super::{Outcome, Session, Warning};
use crate::catalog::schema::{
    DEFAULT_BUCKETS, DEFAULT_DECIMAL_PRECISION, REPLICATION_NUM, default_key_columns,
};
use crate::catalog::{
    CatalogError, ColumnDefault, ColumnMeta, ColumnType, Distribution, INFORMATION_SCHEMA, KeyDesc,
    KeyModel, PartitionBounds, PartitionSpec, PartitionValuesSpec, Partitioning, RangeBound,
    TableMeta, TableState, TableTree,
};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::sql;

// ---- names --------------------------------------------------------------------------------

/// `t`, `db.t` or `default_catalog.db.t` → (database, table); the session's database when the
/// name has none.
pub(crate) fn resolve(session: &Session, name: &ObjectName) -> Result<(String, String)> {
    let parts: Vec<&str> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(|i| i.value.as_str()))
        .collect::<Option<_>>()
        .ok_or_else(|| Error::NotSupported(format!("the table name {name} is not supported")))?;
    match parts.as_slice() {
        [table] => match &session.database {
            Some(db) => Ok((db.clone(), (*table).to_string())),
            None => Err(Error::NoDatabaseSelected),
        },
        [db, table] => Ok(((*db).to_string(), (*table).to_string())),
        [catalog, db, table] if catalog.eq_ignore_ascii_case("default_catalog") => {
            Ok(((*db).to_string(), (*table).to_string()))
        }
        _ => Err(Error::NotSupported(format!(
            "the table name {name} is not supported: write `table` or `database.table`"
        ))),
    }
}

/// information_schema is not stored: no table of ours lives there.
pub(crate) fn refuse_information_schema(db: &str, table: &str) -> Result<()> {
    if db.eq_ignore_ascii_case(INFORMATION_SCHEMA) {
        return Err(CatalogError::UnknownTable(format!("{db}.{table}")).into());
    }
    Ok(())
}

/// The definition DESC and SHOW COLUMNS describe: a catalog table's, or an information_schema
/// table's columns.
async fn described_table(
    engine: &Engine,
    session: &Session,
    name: &ObjectName,
) -> Result<TableMeta> {
    let (db, table) = resolve(session, name)?;
    if db.eq_ignore_ascii_case(INFORMATION_SCHEMA) {
        return super::information_schema::table_meta(&table)
            .ok_or_else(|| CatalogError::UnknownTable(format!("{db}.{table}")).into());
    }
    match engine.catalog.table(&db, &table).await {
        Err(CatalogError::UnknownTable(missing)) => match engine.catalog.view(&db, &table).await? {
            Some(view) => Ok(view.as_table()),
            None => Err(CatalogError::UnknownTable(missing).into()),
        },
        other => Ok(other?),
    }
}

/// `(db, table)` of a stored table's name: [`resolve`], with information_schema refused.
pub(crate) fn resolve_stored(session: &Session, name: &ObjectName) -> Result<(String, String)> {
    let (db, table) = resolve(session, name)?;
    refuse_information_schema(&db, &table)?;
    Ok((db, table))
}

fn refuse_temporary(temporary: bool) -> Result<()> {
    if temporary {
        return Err(Error::NotSupported(
            "Temporary partitions are not supported".into(),
        ));
    }
    Ok(())
}

/// A table lookup that reports information_schema tables as unknown (not the database).
async fn table_tree(engine: &Engine, session: &Session, name: &ObjectName) -> Result<TableTree> {
    let (db, table) = resolve_stored(session, name)?;
    Ok(engine.catalog.table_tree(&db, &table).await?)
}

fn quoted(name: &str) -> Ident {
    Ident::with_quote('`', name)
}

// ---- ALTER TABLE ... RENAME / SWAP WITH ----------------------------------------------------

/// `ALTER TABLE t RENAME t2` and `ALTER TABLE t SWAP WITH t2` (StarRocks' way to put a table
/// restored beside another in its place): one catalog transaction, so a query sees both names
/// before or both after. A table a RESTORE is replacing, or whose name a RESTORE will create,
/// is refused.
pub async fn rename(engine: &Engine, session: &Session, stmt: sql::RenameTable) -> Result<Outcome> {
    let (db, from) = resolve_stored(session, &stmt.table)?;
    let to = stmt.to.value.clone();
    refuse_reserved(engine, &db, &from)?;
    refuse_reserved(engine, &db, &to)?;
    engine
        .catalog
        .rename_table(&db, &from, &to, stmt.swap)
        .await?;
    Ok(Outcome::ok())
}

/// A name a running RESTORE will create at its commit is not free for anyone else.
pub(crate) fn refuse_reserved(engine: &Engine, db: &str, name: &str) -> Result<()> {
    match engine.jobs.reserved_by(db, name) {
        Some(job) => Err(CatalogError::TableBusy {
            table: name.to_string(),
            why: format!(
                "RESTORE job {job} will create it at its commit; wait for the job or CANCEL RESTORE FROM {db}"
            ),
        }
        .into()),
        None => Ok(()),
    }
}

// ---- CREATE TABLE -------------------------------------------------------------------------

/// `CREATE TABLE [IF NOT EXISTS] [db.]t (...) ...` and `CREATE TABLE t LIKE src`.
pub async fn create(
    engine: &Engine,
    session: &mut Session,
    stmt: sql::CreateTable,
) -> Result<Outcome> {
    create_with(engine, session, stmt, None).await
}

/// [`create`], of a materialized view when `materialized` is set.
pub(crate) async fn create_with(
    engine: &Engine,
    session: &mut Session,
    stmt: sql::CreateTable,
    materialized: Option<crate::catalog::materialized::Materialized>,
) -> Result<Outcome> {
    let (db, name) = resolve(session, &stmt.name)?;
    if db.eq_ignore_ascii_case(INFORMATION_SCHEMA) {
        return Err(Error::NotSupported(format!(
            "{INFORMATION_SCHEMA} is read-only: tables cannot be created in it"
        )));
    }
    refuse_reserved(engine, &db, &name)?;
    if let Some(like) = &stmt.like {
        let (src_db, src) = resolve(session, like)?;
        refuse_information_schema(&src_db, &src)?;
        let created = engine
            .catalog
            .create_table_like(&db, &name, &src_db, &src, stmt.if_not_exists)
            .await?;
        return Ok(Outcome::Done {
            affected_rows: u64::from(created),
        });
    }
    let (mut table, partitions) = table_from_ast(&name, &stmt)?;
    table.materialized = materialized;
    crate::catalog::dynamic::spec(&table).map_err(CatalogError::InvalidDefinition)?;
    super::compaction::check_property(&table.properties)?;
    check_table_properties(&table.properties, session)?;
    let created = engine
        .catalog
        .create_table(&db, table, partitions, stmt.if_not_exists)
        .await?;
    if created {
        // A dynamic table has its partitions at once, not at the next round.
        super::dynamic::round(engine, &db, &name).await?;
    }
    Ok(Outcome::Done {
        affected_rows: u64::from(created),
    })
}

/// `CREATE TABLE [IF NOT EXISTS] t [key] [PARTITION BY ..] [DISTRIBUTED BY ..] [PROPERTIES ..]
/// AS <query>`: the columns are the query's (names, types, nullability), the other clauses as
/// in CREATE TABLE (StarRocks' defaults where absent), then the query's rows are loaded as one
/// INSERT. A load that fails drops the table again: the statement leaves nothing behind.
pub async fn create_as_select(
    engine: &std::sync::Arc<Engine>,
    session: &mut Session,
    stmt: sql::CreateTable,
) -> Result<Outcome> {
    use sqlparser::ast::Statement as S;
    let Some(query) = stmt.as_query.clone() else {
        return create(engine, session, stmt).await;
    };
    let (db, name) = resolve(session, &stmt.name)?;
    if stmt.if_not_exists && engine.catalog.table(&db, &name).await.is_ok() {
        return Ok(Outcome::Done { affected_rows: 0 });
    }
    let schema = super::query::describe(
        engine,
        session,
        sql::Statement::Std(Box::new(S::Query(query.clone()))),
    )
    .await?;
    let columns = query_columns(&schema)?;
    let mut definition = stmt;
    definition.columns = columns;
    definition.as_query = None;
    if let Outcome::Done { affected_rows: 0 } = create(engine, session, definition).await? {
        return Ok(Outcome::Done { affected_rows: 0 });
    }
    let text = format!("INSERT INTO `{db}`.`{name}` {query}");
    let insert =
        match sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::MySqlDialect {}, &text)
            .map_err(|e| Error::Internal(format!("CREATE TABLE AS SELECT: {e}")))?
            .pop()
        {
            Some(S::Insert(insert)) => insert,
            _ => return Err(Error::Internal("CREATE TABLE AS SELECT: no INSERT".into())),
        };
    match super::insert::insert(engine, session, insert).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            if let Err(dropped) = engine
                .catalog
                .drop_tables(&db, vec![name.clone()], true)
                .await
            {
                tracing::warn!(table = %name, error = %dropped, "cannot drop the table a failed CREATE TABLE AS SELECT created");
            }
            Err(e)
        }
    }
}

/// The columns of a table that holds the rows of a query of result `schema` (CREATE TABLE AS
/// SELECT, materialized views): names, types and nullability.
pub(crate) fn query_columns(
    schema: &datafusion::arrow::datatypes::Schema,
) -> Result<Vec<sql::ColumnDef>> {
    schema
        .fields()
        .iter()
        .map(|f| {
            Ok(sql::ColumnDef {
                name: Ident::with_quote('`', f.name().clone()),
                data_type: column_type_of(f.name(), f.data_type())?,
                aggregate: None,
                nullable: Some(f.is_nullable()),
                default: None,
                comment: None,
            })
        })
        .collect()
}

/// The column type CREATE TABLE AS SELECT gives a query column of Arrow type `ty`.
pub(crate) fn column_type_of(
    column: &str,
    ty: &datafusion::arrow::datatypes::DataType,
) -> Result<sql::DataType> {
    use datafusion::arrow::datatypes::DataType as A;
    Ok(match ty {
        A::Boolean => sql::DataType::Boolean,
        A::Int8 => sql::DataType::TinyInt,
        A::Int16 | A::UInt8 => sql::DataType::SmallInt,
        A::Int32 | A::UInt16 => sql::DataType::Int,
        A::Int64 | A::UInt32 => sql::DataType::BigInt,
        A::UInt64 => sql::DataType::LargeInt,
        A::Float16 | A::Float32 => sql::DataType::Float,
        A::Float64 => sql::DataType::Double,
        A::Decimal128(p, s) if *s >= 0 => sql::DataType::Decimal {
            kind: sql::DecimalKind::Decimal,
            precision: Some(u32::from(*p)),
            scale: Some(u32::from(s.unsigned_abs())),
        },
        A::Utf8 | A::LargeUtf8 | A::Utf8View | A::Null => sql::DataType::String,
        A::Date32 | A::Date64 => sql::DataType::Date,
        A::Timestamp(..) => sql::DataType::DateTime,
        other => {
            return Err(Error::NotSupported(format!(
                "the query's column {column} is of type {other}, which a table \
                 cannot store; CAST it in the query"
            )));
        }
    })
}

/// The catalog records a CREATE TABLE asks for (ids are assigned by the catalog).
fn table_from_ast(name: &str, stmt: &sql::CreateTable) -> Result<(TableMeta, Vec<PartitionSpec>)> {
    if stmt.external {
        return Err(Error::NotSupported(
            "CREATE EXTERNAL TABLE is not supported: backstop stores OLAP tables only".into(),
        ));
    }
    if let Some(engine) = &stmt.engine
        && !engine.value.eq_ignore_ascii_case("olap")
    {
        return Err(Error::NotSupported(format!(
            "ENGINE = {} is not supported: backstop stores OLAP tables only",
            engine.value
        )));
    }
    let columns = stmt
        .columns
        .iter()
        .map(column_from_ast)
        .collect::<Result<Vec<_>>>()?;
    let key_columns = match &stmt.key {
        Some(key) => key.columns.iter().map(|c| c.value.clone()).collect(),
        None => default_key_columns(&columns),
    };
    let (partitioning, partitions) = match &stmt.partition_by {
        None => (Partitioning::None, Vec::new()),
        Some(p) => {
            let column = p.column.value.clone();
            let partitioning = match p.kind {
                sql::PartitionKind::Range => Partitioning::Range {
                    column,
                    auto: p.auto,
                },
                sql::PartitionKind::List => Partitioning::List { column },
            };
            let specs = p
                .partitions
                .iter()
                .map(partition_from_ast)
                .collect::<Result<Vec<_>>>()?;
            (partitioning, specs)
        }
    };
    let model = stmt.key.as_ref().map_or(KeyModel::Duplicate, |k| k.model);
    let distribution = match &stmt.distribution {
        // A keyed table's rows with one key meet in one tablet: hash of the key by default.
        None if model.is_unique() => Distribution::Hash {
            columns: key_columns.clone(),
            buckets: DEFAULT_BUCKETS,
        },
        None => Distribution::Random {
            buckets: DEFAULT_BUCKETS,
        },
        Some(d) => distribution_from_ast(d),
    };
    let mut properties: BTreeMap<String, String> = stmt.properties.iter().cloned().collect();
    properties
        .entry(REPLICATION_NUM.to_string())
        .or_insert_with(|| "1".to_string());
    let table = TableMeta {
        id: 0,
        db_id: 0,
        name: name.to_string(),
        columns,
        key: KeyDesc {
            model,
            columns: key_columns,
        },
        comment: stmt.comment.clone(),
        partitioning,
        distribution,
        properties,
        created_ms: 0,
        state: TableState::Normal,
        materialized: None,
    };
    Ok((table, partitions))
}

/// StarRocks table properties about storage, caching, replicas and indexes that have no meaning
/// on one backstop server: CREATE TABLE records them (SHOW CREATE TABLE prints them back, so a
/// StarRocks DDL dump loads as it is) and answers a warning that they have no effect.
const NO_EFFECT_PROPERTIES: &[&str] = &[
    "storage_medium",
    "storage_cooldown_time",
    "storage_cooldown_ttl",
    "in_memory",
    "enable_persistent_index",
    "persistent_index_type",
    "primary_index_cache_expire_sec",
    "replicated_storage",
    "compression",
    "fast_schema_evolution",
    "bloom_filter_columns",
    "colocate_with",
    "storage_format",
    "write_quorum",
    "unique_constraints",
    "foreign_key_constraints",
    "datacache.enable",
    "datacache.partition_duration",
    "enable_async_write_back",
    "storage_volume",
    "bucket_size",
    "mutable_bucket_num",
    "enable_load_profile",
    "base_compaction_forbidden_time_ranges",
    "file_bundling",
    "compaction_strategy",
    "flat_json.enable",
];

/// CREATE TABLE's PROPERTIES: the ones backstop acts on are checked where they act
/// (`dynamic_partition.*`, `partition_live_number`, `disable_auto_compaction`); `replication_num`
/// other than 1 and StarRocks' storage properties ([`NO_EFFECT_PROPERTIES`]) are recorded with a
/// warning; any other name is refused, so a typo is not stored and ignored.
fn check_table_properties(
    properties: &BTreeMap<String, String>,
    session: &mut Session,
) -> Result<()> {
    for (key, value) in properties {
        let lower = key.to_ascii_lowercase();
        if lower == REPLICATION_NUM {
            warn_replication(session, value);
        } else if NO_EFFECT_PROPERTIES.contains(&lower.as_str()) {
            session.warnings.push(Warning {
                level: "Warning",
                code: 1105,
                message: format!(
                    "property {key} = {value} is recorded but has no effect on backstop (one \
                     server, its own storage and indexes)"
                ),
            });
        } else if !acted_on(&lower) {
            return Err(CatalogError::InvalidDefinition(format!(
                "Unknown table property '{key}': backstop takes replication_num, \
                 dynamic_partition.*, partition_live_number, disable_auto_compaction and \
                 StarRocks' storage properties (storage_medium, in_memory, compression, ...)"
            ))
            .into());
        }
    }
    Ok(())
}

/// Whether backstop acts on table property `lower` (besides replication_num): checked where it
/// acts, settable with ALTER TABLE ... SET.
fn acted_on(lower: &str) -> bool {
    lower.starts_with("dynamic_partition.")
        || lower == super::compaction::DISABLE_PROPERTY
        || lower == crate::catalog::schema::PARTITION_LIVE_NUMBER
}

/// The warning for a `replication_num` other than 1.
fn warn_replication(session: &mut Session, value: &str) {
    if value.trim() != "1" {
        session.warnings.push(Warning {
            level: "Warning",
            code: 1105,
            message: format!(
                "replication_num = {value} is recorded, but a single backstop server keeps one \
                 replica"
            ),
        });
    }
}

fn column_from_ast(c: &sql::ColumnDef) -> Result<ColumnMeta> {
    if let Some(aggregate @ sql::AggregateType::PercentileUnion) = &c.aggregate {
        return Err(Error::NotSupported(format!(
            "Column '{}' has aggregate type {aggregate}, which needs the PERCENTILE column \
             type: backstop does not have it yet (SUM, MAX, MIN, REPLACE, REPLACE_IF_NOT_NULL, \
             BITMAP_UNION and HLL_UNION work)",
            c.name.value
        )));
    }
    let nullable = c.nullable.unwrap_or(true);
    let default = match &c.default {
        None => None,
        Some(sql::ColumnDefault::CurrentTimestamp) => Some(ColumnDefault::CurrentTimestamp),
        Some(sql::ColumnDefault::Literal(sql::Literal::Null)) => {
            if !nullable {
                return Err(CatalogError::InvalidDefinition(format!(
                    "Column '{}' is NOT NULL and cannot have DEFAULT NULL",
                    c.name.value
                ))
                .into());
            }
            None
        }
        Some(sql::ColumnDefault::Literal(sql::Literal::String(v) | sql::Literal::Number(v))) => {
            Some(ColumnDefault::Value(v.clone()))
        }
    };
    Ok(ColumnMeta {
        name: c.name.value.clone(),
        data_type: type_from_ast(c.data_type),
        nullable,
        default,
        comment: c.comment.clone(),
        aggregate: c.aggregate,
    })
}

/// The longest VARBINARY value, and the length of a VARBINARY without one (StarRocks').
const MAX_VARBINARY_LENGTH: u32 = 1_048_576;

/// Resolves lengths and precisions StarRocks' way: CHAR and VARCHAR default to 1, DECIMAL to
/// (10, 0) (or the spelling's maximum precision when smaller), VARBINARY to its maximum.
pub(crate) fn type_from_ast(t: sql::DataType) -> ColumnType {
    use sql::DataType as D;
    match t {
        D::Boolean => ColumnType::Boolean,
        D::TinyInt => ColumnType::TinyInt,
        D::SmallInt => ColumnType::SmallInt,
        D::Int => ColumnType::Int,
        D::BigInt => ColumnType::BigInt,
        D::LargeInt => ColumnType::LargeInt,
        D::Float => ColumnType::Float,
        D::Double => ColumnType::Double,
        D::Decimal {
            kind,
            precision,
            scale,
        } => ColumnType::Decimal {
            kind,
            precision: precision.unwrap_or(DEFAULT_DECIMAL_PRECISION.min(kind.max_precision())),
            scale: scale.unwrap_or(0),
        },
        D::Char(n) => ColumnType::Char(n.unwrap_or(1)),
        D::Varchar(n) => ColumnType::Varchar(n.unwrap_or(1)),
        D::String => ColumnType::String,
        D::Date => ColumnType::Date,
        D::DateTime => ColumnType::DateTime,
        D::Json => ColumnType::Json,
        D::Varbinary(n) => ColumnType::Varbinary(n.unwrap_or(MAX_VARBINARY_LENGTH)),
        D::Bitmap => ColumnType::Bitmap,
        D::Hll => ColumnType::Hll,
    }
}

pub(crate) fn type_to_ast(t: ColumnType) -> sql::DataType {
    use sql::DataType as D;
    match t {
        ColumnType::Boolean => D::Boolean,
        ColumnType::TinyInt => D::TinyInt,
        ColumnType::SmallInt => D::SmallInt,
        ColumnType::Int => D::Int,
        ColumnType::BigInt => D::BigInt,
        ColumnType::LargeInt => D::LargeInt,
        ColumnType::Float => D::Float,
        ColumnType::Double => D::Double,
        ColumnType::Decimal {
            kind,
            precision,
            scale,
        } => D::Decimal {
            kind,
            precision: Some(precision),
            scale: Some(scale),
        },
        ColumnType::Char(n) => D::Char(Some(n)),
        ColumnType::Varchar(n) => D::Varchar(Some(n)),
        ColumnType::String => D::String,
        ColumnType::Date => D::Date,
        ColumnType::DateTime => D::DateTime,
        ColumnType::Json => D::Json,
        ColumnType::Varbinary(n) => D::Varbinary(Some(n)),
        ColumnType::Bitmap => D::Bitmap,
        ColumnType::Hll => D::Hll,
    }
}

/// A partition value as text; NULL is refused.
fn literal_text(l: &sql::Literal, partition: &str) -> Result<String> {
    match l {
        sql::Literal::String(s) | sql::Literal::Number(s) => Ok(s.clone()),
        sql::Literal::Null => Err(CatalogError::InvalidDefinition(format!(
            "Partition '{partition}': NULL cannot be a partition value"
        ))
        .into()),
    }
}

fn partition_from_ast(p: &sql::PartitionDef) -> Result<PartitionSpec> {
    let name = p.name.value.clone();
    let bound = |v: &sql::PartitionValue| -> Result<Option<String>> {
        match v {
            sql::PartitionValue::MaxValue => Ok(None),
            sql::PartitionValue::Literal(l) => literal_text(l, &name).map(Some),
        }
    };
    let values = match &p.values {
        sql::PartitionValues::LessThan(v) => PartitionValuesSpec::LessThan(bound(v)?),
        sql::PartitionValues::Range { lower, upper } => {
            let Some(lower) = bound(lower)? else {
                return Err(CatalogError::InvalidDefinition(format!(
                    "Partition '{name}': the lower bound cannot be MAXVALUE"
                ))
                .into());
            };
            PartitionValuesSpec::Range {
                lower,
                upper: bound(upper)?,
            }
        }
        sql::PartitionValues::In(values) => PartitionValuesSpec::In(
            values
                .iter()
                .map(|l| literal_text(l, &name))
                .collect::<Result<_>>()?,
        ),
    };
    Ok(PartitionSpec { name, values })
}

fn buckets_from_ast(buckets: Option<u64>) -> u32 {
    // Out of range becomes u32::MAX, which the catalog refuses with the allowed range.
    buckets.map_or(DEFAULT_BUCKETS, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

fn distribution_from_ast(d: &sql::Distribution) -> Distribution {
    match d {
        sql::Distribution::Hash { columns, buckets } => Distribution::Hash {
            columns: columns.iter().map(|c| c.value.clone()).collect(),
            buckets: buckets_from_ast(*buckets),
        },
        sql::Distribution::Random { buckets } => Distribution::Random {
            buckets: buckets_from_ast(*buckets),
        },
    }
}

// ---- DROP, TRUNCATE, ALTER ----------------------------------------------------------------

/// Writes other than a refresh are refused on a materialized view: its rows are its query's.
pub(crate) fn refuse_materialized(table: &TableMeta, statement: &str) -> Result<()> {
    if table.materialized.is_some() {
        return Err(Error::NotSupported(format!(
            "{statement} on materialized view {}: its rows are its query's; change its base \
             tables and REFRESH MATERIALIZED VIEW {}",
            table.name, table.name
        )));
    }
    Ok(())
}

/// What a DROP statement drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    Table,
    View,
    MaterializedView,
}

/// `DROP {TABLE | VIEW | MATERIALIZED VIEW} [IF EXISTS] name [, name ...]`: every name of one
/// database in one transaction (nearly always there is one database); a name of another kind
/// of object is refused (1347).
pub async fn drop(
    engine: &Engine,
    session: &Session,
    names: &[ObjectName],
    if_exists: bool,
    kind: Dropped,
) -> Result<Outcome> {
    let mut by_db: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in names {
        let (db, table) = resolve_stored(session, name)?;
        by_db.entry(db).or_default().push(table);
    }
    for (db, names) in by_db {
        if kind == Dropped::View {
            engine.catalog.drop_views(&db, names, if_exists).await?;
        } else {
            engine
                .catalog
                .drop_tables_of_kind(&db, names, if_exists, kind == Dropped::MaterializedView)
                .await?;
            engine.pins.mark_dirty();
        }
    }
    Ok(Outcome::ok())
}

/// `TRUNCATE TABLE t [PARTITION (p, ...)]`: the partitions lose their rowsets and move to the
/// next version in one commit; a backup taken afterwards records them empty.
pub async fn truncate(
    engine: &Engine,
    session: &Session,
    stmt: sql::TruncateTable,
) -> Result<Outcome> {
    let (db, table) = resolve_stored(session, &stmt.table)?;
    refuse_materialized(&engine.catalog.table(&db, &table).await?, "TRUNCATE")?;
    let partitions = stmt.partitions.into_iter().map(|p| p.value).collect();
    engine.catalog.truncate(&db, &table, partitions).await?;
    engine.pins.mark_dirty();
    Ok(Outcome::ok())
}

/// `ALTER TABLE t ADD PARTITION [IF NOT EXISTS] p VALUES ... [DISTRIBUTED BY ... BUCKETS n]`
pub async fn add_partition(
    engine: &Engine,
    session: &Session,
    stmt: sql::AddPartition,
) -> Result<Outcome> {
    refuse_temporary(stmt.temporary)?;
    let (db, table) = resolve_stored(session, &stmt.table)?;
    let spec = partition_from_ast(&stmt.partition)?;
    let buckets = partition_buckets(engine, &db, &table, stmt.distribution.as_ref()).await?;
    engine
        .catalog
        .add_partitions(&db, &table, vec![spec], buckets, stmt.if_not_exists)
        .await?;
    Ok(Outcome::ok())
}

/// `ALTER TABLE t ADD PARTITIONS START (...) END (...) EVERY (...) [DISTRIBUTED BY ...]`: every
/// partition of the batch in one catalog change.
pub async fn add_partitions(
    engine: &Engine,
    session: &Session,
    stmt: sql::AddPartitions,
) -> Result<Outcome> {
    let (db, table) = resolve_stored(session, &stmt.table)?;
    let specs = stmt
        .batch
        .expand()
        .map_err(CatalogError::InvalidDefinition)?
        .iter()
        .map(partition_from_ast)
        .collect::<Result<Vec<_>>>()?;
    let buckets = partition_buckets(engine, &db, &table, stmt.distribution.as_ref()).await?;
    engine
        .catalog
        .add_partitions(&db, &table, specs, buckets, false)
        .await?;
    Ok(Outcome::ok())
}

/// The bucket count `DISTRIBUTED BY ... BUCKETS n` gives added partitions: StarRocks lets a
/// partition choose its bucket count, not its bucketing columns.
async fn partition_buckets(
    engine: &Engine,
    db: &str,
    table: &str,
    distribution: Option<&sql::Distribution>,
) -> Result<Option<u32>> {
    let Some(d) = distribution else {
        return Ok(None);
    };
    let current = engine.catalog.table(db, table).await?;
    let wanted = distribution_from_ast(d);
    let same_kind = match (&current.distribution, &wanted) {
        (Distribution::Hash { columns: a, .. }, Distribution::Hash { columns: b, .. }) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
        }
        (Distribution::Random { .. }, Distribution::Random { .. }) => true,
        _ => false,
    };
    if !same_kind {
        return Err(CatalogError::InvalidDefinition(format!(
            "Partitions added to table '{table}' must be distributed like it ({}); only BUCKETS \
             may differ",
            distribution_text(&current.distribution)
        ))
        .into());
    }
    Ok(Some(wanted.buckets()))
}

/// After a column change of `db`.`table`: every materialized view whose query reads it turns
/// inactive, saying why (its query's columns may have changed: `SELECT *` would no longer fit
/// it, a dropped column would fail it), as StarRocks does; ALTER ... ACTIVE checks it again.
async fn deactivate_views_over(engine: &Engine, db: &str, table: &str, change: &str) -> Result<()> {
    for (view_db, view) in engine.catalog.all_materialized().await? {
        let Some(mv) = &view.materialized else {
            continue;
        };
        let Ok(mut query) = sql::parse_view_query(&mv.definition) else {
            continue;
        };
        sql::qualify(&mut query, &view_db);
        let reads = sql::read_relations(&query)
            .iter()
            .any(|(d, t)| d.eq_ignore_ascii_case(db) && t.eq_ignore_ascii_case(table));
        if !reads || !mv.active {
            continue;
        }
        let why = format!(
            "base table {db}.{table} changed ({change}); ALTER MATERIALIZED VIEW {} ACTIVE once \
             its query fits",
            view.name
        );
        engine
            .catalog
            .change_materialized(&view_db, &view.name, Some(view.id), move |m| {
                m.active = false;
                m.inactive_reason = Some(why);
                Ok(())
            })
            .await?;
    }
    Ok(())
}

/// `ALTER TABLE t DROP COLUMN c`: a value column (not a key, partition or bucketing column,
/// not the last one), not of a materialized view. A catalog change: files written before keep
/// the values, which readers (by name) never see again.
pub async fn drop_column(
    engine: &Engine,
    session: &Session,
    stmt: sql::DropColumn,
) -> Result<Outcome> {
    let (db, table) = resolve_stored(session, &stmt.table)?;
    let meta = engine.catalog.table(&db, &table).await?;
    let name = stmt.column.value.clone();
    if meta.materialized.is_some() {
        return Err(Error::NotSupported(format!(
            "ALTER TABLE ... DROP COLUMN on materialized view {db}.{table}: its columns are its \
             query's; CREATE it again with the new query"
        )));
    }
    let is = |c: &str| c.eq_ignore_ascii_case(&name);
    let role = if meta.key.columns.iter().any(|c| is(c)) {
        Some("a key column")
    } else if meta.partitioning.column().is_some_and(is) {
        Some("the partition column")
    } else if matches!(&meta.distribution, crate::catalog::schema::Distribution::Hash { columns, .. } if columns.iter().any(|c| is(c)))
    {
        Some("a bucketing column")
    } else if meta.columns.len() == 1 && meta.columns.iter().any(|c| is(&c.name)) {
        Some("the table's only column")
    } else {
        None
    };
    if let Some(role) = role {
        return Err(Error::NotSupported(format!(
            "Column '{name}' of {db}.{table} is {role} and cannot be dropped"
        )));
    }
    engine
        .catalog
        .drop_column(&db, &table, &name, crate::catalog::schema::validate_table)
        .await?;
    deactivate_views_over(engine, &db, &table, &format!("DROP COLUMN {name}")).await?;
    Ok(Outcome::ok())
}

/// The column names the data files of `tree` hold (their Parquet schemas, footers only): a
/// dropped column stays in the files written before it went.
async fn file_column_names(
    engine: &Engine,
    tree: crate::catalog::TableTree,
) -> Result<Vec<String>> {
    let data_dir = engine.config.data_dir.clone();
    tokio::task::spawn_blocking(move || {
        let mut names: Vec<String> = Vec::new();
        for tablet in tree.partitions.iter().flat_map(|p| &p.tablets) {
            for rowset in tablet
                .rowsets
                .iter()
                .filter(|r| r.kind == crate::catalog::schema::RowsetKind::Data)
            {
                let path = crate::store::table::rowset_path(&data_dir, tablet.tablet.id, rowset.id);
                let _permit = crate::open_files::budget().acquire_blocking(1);
                let file = std::fs::File::open(&path)
                    .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
                let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| Error::Internal(format!("{}: {e}", path.display())))?;
                for field in reader.schema().fields() {
                    if !names.iter().any(|n| n == field.name()) {
                        names.push(field.name().clone());
                    }
                }
            }
        }
        Ok(names)
    })
    .await
    .map_err(|e| Error::Internal(format!("reading the table's files failed: {e}")))?
}

/// `ALTER TABLE t ADD COLUMN ...`: value columns added after the last one, nullable and
/// without a default (the rows already written read NULL there: their files are not
/// rewritten), not on a materialized view.
pub async fn add_columns(
    engine: &Engine,
    session: &Session,
    stmt: sql::AddColumns,
) -> Result<Outcome> {
    let (db, table) = resolve_stored(session, &stmt.table)?;
    let mut columns = Vec::new();
    for c in &stmt.columns {
        let column = column_from_ast(c)?;
        if !column.nullable || column.default.is_some() {
            return Err(Error::NotSupported(format!(
                "ADD COLUMN {}: a column added to a table must be nullable and without a DEFAULT \
                 yet (the rows already there would need the value written); add it as NULL, \
                 then UPDATE the rows",
                column.name
            )));
        }
        columns.push(column);
    }
    // Read under the collector's gate and pinned: a compaction or TRUNCATE meanwhile does not
    // take the files away while their footers are read.
    let (tree, _reading) = {
        let _gate = engine.pins.gate().await;
        let tree = engine.catalog.table_tree(&db, &table).await?;
        let pins = engine.pins.pin(tree.rowset_ids());
        (tree, pins)
    };
    if tree.table.materialized.is_some() {
        return Err(Error::NotSupported(format!(
            "ALTER TABLE ... ADD COLUMN on materialized view {db}.{table}: its columns are its \
             query's; CREATE it again with the new query"
        )));
    }
    // A name a dropped column had: the files written before still hold its values, which the
    // new column would show.
    let current: Vec<String> = tree.table.columns.iter().map(|c| c.name.clone()).collect();
    let in_files = file_column_names(engine, tree).await?;
    let had = |name: &str| in_files.iter().any(|n| n.eq_ignore_ascii_case(name));
    let has = |name: &str| current.iter().any(|n| n.eq_ignore_ascii_case(name));
    if let Some(c) = columns.iter().find(|c| had(&c.name) && !has(&c.name)) {
        return Err(Error::NotSupported(format!(
            "Column '{}' was dropped from {db}.{table} and rows written before still hold its \
             values; choose another name (or TRUNCATE the table first)",
            c.name
        )));
    }
    let added = columns
        .iter()
        .map(|c| c.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    engine
        .catalog
        .add_columns(&db, &table, columns, crate::catalog::schema::validate_table)
        .await?;
    deactivate_views_over(engine, &db, &table, &format!("ADD COLUMN {added}")).await?;
    Ok(Outcome::ok())
}

/// `ALTER TABLE t SET ("key" = "value", ...)`: `dynamic_partition.*` (checked as at CREATE,
/// then a round runs at once) and `replication_num` (one replica whatever it says). Other
/// properties are refused rather than stored and ignored.
pub async fn set_properties(
    engine: &Engine,
    session: &mut Session,
    stmt: sql::SetTableProperties,
) -> Result<Outcome> {
    let (db, table) = resolve_stored(session, &stmt.table)?;
    // Keys as CREATE stores the ones SET takes: lower case.
    let properties: Vec<(String, String)> = stmt
        .properties
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    for (k, v) in &properties {
        let lower = k.as_str();
        if lower == REPLICATION_NUM {
            warn_replication(session, v);
        } else if !acted_on(lower) {
            return Err(Error::NotSupported(format!(
                "ALTER TABLE ... SET (\"{k}\") is not supported: SET takes dynamic_partition.*, \
                 {}, {} and replication_num",
                super::compaction::DISABLE_PROPERTY,
                crate::catalog::schema::PARTITION_LIVE_NUMBER
            )));
        }
    }
    super::compaction::check_property(properties.iter().map(|(k, v)| (k, v)))?;
    engine
        .catalog
        .set_table_properties(&db, &table, properties, |t| {
            crate::catalog::schema::validate_table(t)?;
            crate::catalog::dynamic::spec(t)
                .map(|_| ())
                .map_err(CatalogError::InvalidDefinition)
        })
        .await?;
    super::dynamic::round(engine, &db, &table).await?;
    Ok(Outcome::ok())
}

/// `ALTER TABLE t DROP PARTITION [IF EXISTS] p [FORCE]`
pub async fn drop_partition(
    engine: &Engine,
    session: &Session,
    stmt: sql::DropPartition,
) -> Result<Outcome> {
    refuse_temporary(stmt.temporary)?;
    let (db, table) = resolve_stored(session, &stmt.table)?;
    engine
        .catalog
        .drop_partition(&db, &table, &stmt.name.value, stmt.if_exists)
        .await?;
    engine.pins.mark_dirty();
    Ok(Outcome::ok())
}

// ---- SHOW ---------------------------------------------------------------------------------

/// The `LIKE` pattern of a SHOW statement; `WHERE` is refused.
/// The LIKE or WHERE of a SHOW statement.
fn show_filter(options: &ShowStatementOptions) -> Option<ShowStatementFilter> {
    match &options.filter_position {
        None => None,
        Some(ShowStatementFilterPosition::Infix(f) | ShowStatementFilterPosition::Suffix(f)) => {
            Some(f.clone())
        }
    }
}

/// `SHOW [FULL] TABLES [{FROM | IN} db] [LIKE 'pattern' | WHERE expr]`
pub async fn show_tables(
    engine: &Engine,
    session: &Session,
    full: bool,
    options: &ShowStatementOptions,
) -> Result<Outcome> {
    let db = match options
        .show_in
        .as_ref()
        .and_then(|s| s.parent_name.as_ref())
    {
        Some(name) => name
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
            .collect::<Vec<_>>()
            .join("."),
        None => session.database.clone().ok_or(Error::NoDatabaseSelected)?,
    };
    let tables: Vec<(String, &str)> = if db.eq_ignore_ascii_case(INFORMATION_SCHEMA) {
        super::information_schema::table_names()
            .map(|n| (n.to_string(), "SYSTEM VIEW"))
            .collect()
    } else {
        let mut all: Vec<(String, &str)> = engine
            .catalog
            .tables(&db)
            .await?
            .into_iter()
            .map(|t| (t.name, "BASE TABLE"))
            .chain(
                engine
                    .catalog
                    .views(&db)
                    .await?
                    .into_iter()
                    .map(|v| (v.name, "VIEW")),
            )
            .collect();
        all.sort();
        all
    };
    let column = format!("Tables_in_{db}");
    let (columns, rows): (Vec<&str>, Vec<Vec<Option<String>>>) = if full {
        (
            vec![column.as_str(), "Table_type"],
            tables
                .into_iter()
                .map(|(n, kind)| vec![Some(n), Some(kind.to_string())])
                .collect(),
        )
    } else {
        (
            vec![column.as_str()],
            tables.into_iter().map(|(n, _)| vec![Some(n)]).collect(),
        )
    };
    super::filtered_table(engine, &columns, rows, show_filter(options)).await
}

/// Whether the words the SQL parser left of a `SHOW ...` are a SHOW INDEX / INDEXES / KEYS.
pub fn is_show_index(words: &[Ident]) -> bool {
    words.first().is_some_and(|w| {
        w.quote_style.is_none()
            && ["INDEX", "INDEXES", "KEYS"]
                .iter()
                .any(|k| w.value.eq_ignore_ascii_case(k))
    })
}

/// The table of `SHOW {INDEX | INDEXES | KEYS} {FROM | IN} t [{FROM | IN} db]` (the words the SQL
/// parser leaves; `words[0]` is INDEX, INDEXES or KEYS).
pub fn show_index_table(words: &[Ident]) -> Result<ObjectName> {
    let is = |i: usize, names: &[&str]| {
        words.get(i).is_some_and(|w| {
            w.quote_style.is_none() && names.iter().any(|n| w.value.eq_ignore_ascii_case(n))
        })
    };
    let from = ["FROM", "IN"];
    let usage = || {
        Error::NotSupported(
            "this form of SHOW INDEX is not supported: write SHOW INDEX FROM t [FROM db] (no \
             WHERE)"
                .into(),
        )
    };
    if !is(1, &from) {
        return Err(usage());
    }
    match words.get(2..) {
        Some([table]) => Ok(ObjectName::from(vec![table.clone()])),
        Some([db, table]) => Ok(ObjectName::from(vec![db.clone(), table.clone()])),
        Some([table, _, db]) if is(3, &from) => {
            Ok(ObjectName::from(vec![db.clone(), table.clone()]))
        }
        _ => Err(usage()),
    }
}

/// `SHOW {INDEX | INDEXES | KEYS} {FROM | IN} t [{FROM | IN} db]`, which the SQL parser leaves
/// as a list of words: MySQL's columns; a primary-key table lists its key as `PRIMARY`, other
/// tables have no index (StarRocks' sort keys are not indexes).
pub async fn show_index(engine: &Engine, session: &Session, words: &[Ident]) -> Result<Outcome> {
    let name = show_index_table(words)?;
    let (db, table) = resolve_stored(session, &name)?;
    let table = engine.catalog.table(&db, &table).await?;
    let rows = if table.key.model == crate::catalog::schema::KeyModel::Primary {
        table
            .key
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let nullable = table.column(c).is_some_and(|c| c.nullable);
                vec![
                    Some(table.name.clone()),
                    Some("0".into()),
                    Some("PRIMARY".into()),
                    Some((i + 1).to_string()),
                    Some(c.clone()),
                    Some("A".into()),
                    None,
                    None,
                    None,
                    Some(if nullable { "YES" } else { "" }.into()),
                    Some("BTREE".into()),
                    Some(String::new()),
                    Some(String::new()),
                    Some("YES".into()),
                    None,
                ]
            })
            .collect()
    } else {
        Vec::new()
    };
    Outcome::text_table(
        &[
            "Table",
            "Non_unique",
            "Key_name",
            "Seq_in_index",
            "Column_name",
            "Collation",
            "Cardinality",
            "Sub_part",
            "Packed",
            "Null",
            "Index_type",
            "Comment",
            "Index_comment",
            "Visible",
            "Expression",
        ],
        rows,
    )
}

pub(crate) fn default_text(c: &ColumnMeta) -> Option<String> {
    match &c.default {
        None => None,
        Some(ColumnDefault::Value(v)) => Some(v.clone()),
        Some(ColumnDefault::CurrentTimestamp) => Some("CURRENT_TIMESTAMP".into()),
    }
}

/// A column's type as StarRocks' DESC prints it: upper case, STRING as the `VARCHAR(65533)` it
/// is, decimals as `DECIMAL(p,s)` whatever their width, so that a table re-created from SHOW
/// CREATE TABLE describes the same.
fn described_type(ty: ColumnType) -> String {
    match ty {
        ColumnType::String => "VARCHAR(65533)".into(),
        other => other.sql_text(),
    }
}

/// `DESC t` / `DESCRIBE t`: StarRocks' columns Field, Type, Null (Yes/No), Key (true/false),
/// Default, Extra.
pub async fn describe(engine: &Engine, session: &Session, name: &ObjectName) -> Result<Outcome> {
    let table = described_table(engine, session, name).await?;
    let rows = table
        .columns
        .iter()
        .map(|c| {
            let is_key = table
                .key
                .columns
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&c.name));
            vec![
                Some(c.name.clone()),
                Some(described_type(c.data_type)),
                Some(if c.nullable { "Yes" } else { "No" }.to_string()),
                Some(is_key.to_string()),
                default_text(c),
                // StarRocks' DESC shows a value column's aggregate type here.
                Some(c.aggregate.map(|a| a.to_string()).unwrap_or_default()),
            ]
        })
        .collect();
    Outcome::text_table(&["Field", "Type", "Null", "Key", "Default", "Extra"], rows)
}

/// `SHOW [FULL] COLUMNS {FROM | IN} t [{FROM | IN} db] [LIKE 'pattern' | WHERE expr]`, MySQL's
/// columns (Null and Key are YES/NO, as StarRocks shows them here; Type as SHOW CREATE TABLE
/// prints it).
pub async fn show_columns(
    engine: &Engine,
    session: &Session,
    full: bool,
    options: &ShowStatementOptions,
) -> Result<Outcome> {
    let Some(name) = options
        .show_in
        .as_ref()
        .and_then(|s| s.parent_name.as_ref())
    else {
        return Err(Error::NotSupported(
            "SHOW COLUMNS needs a table: SHOW COLUMNS FROM t".into(),
        ));
    };
    let table = described_table(engine, session, name).await?;
    let yes_no = |b: bool| Some(if b { "YES" } else { "NO" }.to_string());
    let rows = table
        .columns
        .iter()
        .map(|c| {
            let is_key = table
                .key
                .columns
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&c.name));
            let type_text = Some(type_to_ast(c.data_type).shown());
            if full {
                let collation = matches!(
                    c.data_type,
                    ColumnType::Char(_) | ColumnType::Varchar(_) | ColumnType::String
                )
                .then(|| "utf8mb4_general_ci".to_string());
                vec![
                    Some(c.name.clone()),
                    type_text,
                    collation,
                    yes_no(c.nullable),
                    yes_no(is_key),
                    default_text(c),
                    Some(String::new()),
                    Some("select,insert".to_string()),
                    Some(c.comment.clone().unwrap_or_default()),
                ]
            } else {
                vec![
                    Some(c.name.clone()),
                    type_text,
                    yes_no(c.nullable),
                    yes_no(is_key),
                    default_text(c),
                    Some(String::new()),
                ]
            }
        })
        .collect();
    let columns: &[&str] = if full {
        &[
            "Field",
            "Type",
            "Collation",
            "Null",
            "Key",
            "Default",
            "Extra",
            "Privileges",
            "Comment",
        ]
    } else {
        &["Field", "Type", "Null", "Key", "Default", "Extra"]
    };
    super::filtered_table(engine, columns, rows, show_filter(options)).await
}

/// `SHOW CREATE TABLE t`: columns `Table`, `Create Table`; the text re-creates the table.
pub async fn show_create(engine: &Engine, session: &Session, name: &ObjectName) -> Result<Outcome> {
    let tree = match table_tree(engine, session, name).await {
        Err(Error::Catalog(CatalogError::UnknownTable(missing))) => {
            return match super::view::named(engine, session, name).await? {
                Some(view) => super::view::show_create(&view),
                None => Err(CatalogError::UnknownTable(missing).into()),
            };
        }
        other => other?,
    };
    if tree.table.materialized.is_some() {
        return super::materialized::show_create_of(&tree.table);
    }
    let text = sql::ShownCreateTable(&create_statement(&tree)).to_string();
    Outcome::text_table(
        &["Table", "Create Table"],
        vec![vec![Some(tree.table.name.clone()), Some(text)]],
    )
}

/// The CREATE TABLE that makes this table (its partitions as they are now, no data).
///
/// The first range partition, the only one that can start at the bottom, is written `LESS
/// THAN`; every other one `[lower, upper)`, so the ranges come back exactly, gaps included.
pub fn create_statement(tree: &TableTree) -> sql::CreateTable {
    let table = &tree.table;
    let columns = table
        .columns
        .iter()
        .map(|c| sql::ColumnDef {
            name: quoted(&c.name),
            data_type: type_to_ast(c.data_type),
            aggregate: c.aggregate,
            nullable: Some(c.nullable),
            default: c.default.as_ref().map(|d| match d {
                ColumnDefault::Value(v) => {
                    sql::ColumnDefault::Literal(sql::Literal::String(v.clone()))
                }
                ColumnDefault::CurrentTimestamp => sql::ColumnDefault::CurrentTimestamp,
            }),
            comment: c.comment.clone(),
        })
        .collect();
    let value = |b: &RangeBound| match b {
        RangeBound::Value(v) => sql::PartitionValue::Literal(sql::Literal::String(v.to_string())),
        // Max as an upper bound; Min is never printed (LESS THAN implies it).
        RangeBound::Max | RangeBound::Min => sql::PartitionValue::MaxValue,
    };
    let partition_by = table.partitioning.column().map(|column| {
        let kind = match table.partitioning {
            Partitioning::List { .. } => sql::PartitionKind::List,
            _ => sql::PartitionKind::Range,
        };
        let partitions = tree
            .partitions
            .iter()
            .filter_map(|p| {
                let values = match &p.partition.bounds {
                    PartitionBounds::All => return None,
                    PartitionBounds::Range {
                        lower: RangeBound::Min,
                        upper,
                    } => sql::PartitionValues::LessThan(value(upper)),
                    PartitionBounds::Range { lower, upper } => sql::PartitionValues::Range {
                        lower: value(lower),
                        upper: value(upper),
                    },
                    PartitionBounds::List { values } => sql::PartitionValues::In(
                        values
                            .iter()
                            .map(|v| sql::Literal::String(v.to_string()))
                            .collect(),
                    ),
                };
                Some(sql::PartitionDef {
                    name: quoted(&p.partition.name),
                    values,
                })
            })
            .collect();
        sql::PartitionBy {
            auto: match table.partitioning {
                Partitioning::Range { auto, .. } => auto,
                _ => None,
            },
            kind,
            column: quoted(column),
            partitions,
        }
    });
    let distribution = match &table.distribution {
        Distribution::Hash { columns, buckets } => sql::Distribution::Hash {
            columns: columns.iter().map(|c| quoted(c)).collect(),
            buckets: Some(u64::from(*buckets)),
        },
        Distribution::Random { buckets } => sql::Distribution::Random {
            buckets: Some(u64::from(*buckets)),
        },
    };
    sql::CreateTable {
        external: false,
        if_not_exists: false,
        name: ObjectName::from(vec![quoted(&table.name)]),
        like: None,
        columns,
        engine: Some(Ident::new("OLAP")),
        key: Some(sql::KeyDesc {
            model: table.key.model,
            columns: table.key.columns.iter().map(|c| quoted(c)).collect(),
        }),
        comment: table.comment.clone(),
        partition_by,
        distribution: Some(distribution),
        properties: table
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        as_query: None,
    }
}

fn distribution_text(d: &Distribution) -> String {
    match d {
        Distribution::Hash { columns, .. } => format!("HASH({})", columns.join(", ")),
        Distribution::Random { .. } => "RANDOM".to_string(),
    }
}

/// StarRocks' byte counts in SHOW PARTITIONS: `0B`, `1.500KB`, `2.000MB`, ...
fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = "KB";
    for next in UNITS.iter().skip(1) {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.3}{unit}")
}

fn time_text(ms: i64) -> String {
    super::format_datetime_ms(ms).unwrap_or_default()
}

/// `SHOW PARTITIONS FROM t`: StarRocks' 17 columns (shared-nothing layout).
pub async fn show_partitions(
    engine: &Engine,
    session: &Session,
    name: &ObjectName,
) -> Result<Outcome> {
    let tree = table_tree(engine, session, name).await?;
    let table = &tree.table;
    let column_type = table.partition_column().map(|c| c.data_type);
    let distribution_key = match &table.distribution {
        Distribution::Hash { columns, .. } => columns.join(", "),
        Distribution::Random { .. } => "ALL KEY".to_string(),
    };
    let replication = table
        .properties
        .get(REPLICATION_NUM)
        .cloned()
        .unwrap_or_else(|| "1".into());
    let rows = tree
        .partitions
        .iter()
        .map(|p| {
            let meta = &p.partition;
            vec![
                Some(meta.id.to_string()),
                Some(meta.name.clone()),
                Some(meta.visible_version.to_string()),
                Some(time_text(meta.visible_version_ms)),
                Some("0".into()),
                Some("NORMAL".into()),
                Some(table.partitioning.column().unwrap_or_default().to_string()),
                Some(meta.bounds.describe(column_type)),
                Some(distribution_key.clone()),
                Some(meta.buckets.to_string()),
                Some(replication.clone()),
                Some("HDD".into()),
                Some("9999-12-31 23:59:59".into()),
                None,
                Some(size_text(p.bytes())),
                Some("false".into()),
                Some(p.rows().to_string()),
            ]
        })
        .collect();
    Outcome::text_table(
        &[
            "PartitionId",
            "PartitionName",
            "VisibleVersion",
            "VisibleVersionTime",
            "VisibleVersionHash",
            "State",
            "PartitionKey",
            "Range",
            "DistributionKey",
            "Buckets",
            "ReplicationNum",
            "StorageMedium",
            "CooldownTime",
            "LastConsistencyCheckTime",
            "DataSize",
            "IsInMemory",
            "RowCount",
        ],
        rows,
    )
}

/// `SHOW TABLET FROM t`: one row per tablet, by partition then bucket.
pub async fn show_tablets(
    engine: &Engine,
    session: &Session,
    name: &ObjectName,
) -> Result<Outcome> {
    let tree = table_tree(engine, session, name).await?;
    let mut rows = Vec::new();
    for p in &tree.partitions {
        for t in &p.tablets {
            rows.push(vec![
                Some(t.tablet.id.to_string()),
                Some(p.partition.id.to_string()),
                Some(p.partition.name.clone()),
                Some(t.tablet.bucket.to_string()),
                Some(p.partition.visible_version.to_string()),
                Some(t.rowsets.len().to_string()),
                Some(t.rows().to_string()),
                Some(t.bytes().to_string()),
                Some("NORMAL".into()),
                Some(super::compaction::status(engine, t.tablet.id)),
            ]);
        }
    }
    Outcome::text_table(
        &[
            "TabletId",
            "PartitionId",
            "PartitionName",
            "Bucket",
            "Version",
            "VersionCount",
            "RowCount",
            "DataSize",
            "State",
            "CompactionStatus",
        ],
        rows,
    )
}

/// `CHECKSUM TABLE t [, t2 ...]`: MySQL's columns `Table`, `Checksum`. The checksum is the sum of
/// the content checksums kept with each committed rowset (see `store::checksum`): no scan, the
/// same value for the same rows whatever their order or rowset layout. As in MySQL, a table
/// that does not exist gives a NULL checksum and a warning instead of failing the statement.
pub async fn checksum(
    engine: &Engine,
    session: &mut Session,
    tables: Vec<ObjectName>,
) -> Result<Outcome> {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::memory::MemoryStream;

    let mut names = Vec::with_capacity(tables.len());
    let mut sums = Vec::with_capacity(tables.len());
    for name in &tables {
        let (db, table) = resolve(session, name)?;
        names.push(format!("{db}.{table}"));
        match engine.catalog.table_tree(&db, &table).await {
            Ok(tree) => sums.push(Some(tree.checksum())),
            Err(CatalogError::UnknownTable(_) | CatalogError::UnknownDatabase(_)) => {
                session.warnings.push(crate::command::Warning {
                    level: "Error",
                    code: 1146,
                    message: format!("Table '{db}.{table}' doesn't exist"),
                });
                sums.push(None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("Table", DataType::Utf8, false),
        Field::new("Checksum", DataType::UInt64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(names)),
        Arc::new(UInt64Array::from(sums)),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)
        .map_err(|e| Error::Internal(format!("building the CHECKSUM TABLE result: {e}")))?;
    let stream = MemoryStream::try_new(vec![batch], Arc::clone(&schema), None)?;
    Ok(Outcome::Rows {
        schema,
        stream: Box::pin(stream),
    })
}

/// `SHOW TABLE STATUS [FROM db] [LIKE 'pattern']`: MySQL's 18 columns, with rows and bytes from
/// the committed rowsets.
pub async fn show_table_status(
    engine: &Engine,
    session: &Session,
    db: Option<String>,
    like: Option<&str>,
) -> Result<Outcome> {
    let db = match db {
        Some(db) => db,
        None => session.database.clone().ok_or(Error::NoDatabaseSelected)?,
    };
    let mut rows = Vec::new();
    if !db.eq_ignore_ascii_case(INFORMATION_SCHEMA) {
        for t in engine.catalog.tables(&db).await? {
            if !like.is_none_or(|p| like_match(p, &t.name)) {
                continue;
            }
            let tree = engine.catalog.table_tree(&db, &t.name).await?;
            let (count, bytes): (u64, u64) = tree
                .partitions
                .iter()
                .fold((0, 0), |(r, b), p| (r + p.rows(), b + p.bytes()));
            let created = super::format_datetime_ms(t.created_ms);
            rows.push(vec![
                Some(t.name.clone()),
                Some("OLAP".into()),
                Some("10".into()),
                Some("Fixed".into()),
                Some(count.to_string()),
                Some(bytes.checked_div(count).unwrap_or(0).to_string()),
                Some(bytes.to_string()),
                None,
                None,
                None,
                None,
                created,
                None,
                None,
                Some("utf8mb4_general_ci".into()),
                None,
                Some(String::new()),
                Some(t.comment.clone().unwrap_or_default()),
            ]);
        }
    }
    Outcome::text_table(
        &[
            "Name",
            "Engine",
            "Version",
            "Row_format",
            "Rows",
            "Avg_row_length",
            "Data_length",
            "Max_data_length",
            "Index_length",
            "Data_free",
            "Auto_increment",
            "Create_time",
            "Update_time",
            "Check_time",
            "Collation",
            "Checksum",
            "Create_options",
            "Comment",
        ],
        rows,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn sizes_read_like_starrocks() {
        assert_eq!(size_text(0), "0B");
        assert_eq!(size_text(1023), "1023B");
        assert_eq!(size_text(1536), "1.500KB");
        assert_eq!(size_text(3 * 1024 * 1024), "3.000MB");
    }

    fn parse_create(sql: &str) -> sql::CreateTable {
        match sql::parse_one(sql).unwrap() {
            sql::Statement::CreateTable(c) => c,
            other => panic!("not a CREATE TABLE: {other:?}"),
        }
    }

    #[test]
    fn defaults_are_resolved() {
        let stmt = parse_create("CREATE TABLE t (a VARCHAR, b DECIMAL, c CHAR, d DECIMAL32)");
        let (t, parts) = table_from_ast("t", &stmt).unwrap();
        assert!(parts.is_empty());
        assert_eq!(t.columns[0].data_type, ColumnType::Varchar(1));
        assert_eq!(
            t.columns[1].data_type,
            ColumnType::Decimal {
                kind: sql::DecimalKind::Decimal,
                precision: 10,
                scale: 0
            }
        );
        assert_eq!(t.columns[2].data_type, ColumnType::Char(1));
        assert!(matches!(
            t.columns[3].data_type,
            ColumnType::Decimal { precision: 9, .. }
        ));
        // VARCHAR ends StarRocks' default key.
        assert_eq!(t.key.columns, vec!["a"]);
        assert_eq!(t.distribution, Distribution::Random { buckets: 10 });
        assert_eq!(t.properties.get("replication_num").unwrap(), "1");
    }

    #[test]
    fn every_key_model_makes_a_table() {
        let stmt = parse_create(
            "CREATE TABLE t (a INT, s BIGINT SUM, r VARCHAR(3) REPLACE_IF_NOT_NULL) \
             AGGREGATE KEY(a) DISTRIBUTED BY HASH(a)",
        );
        let (t, _) = table_from_ast("t", &stmt).unwrap();
        assert_eq!(t.key.model.to_string(), "AGGREGATE");
        assert_eq!(t.columns[1].aggregate, Some(sql::AggregateType::Sum));
        for model in ["UNIQUE", "PRIMARY"] {
            let stmt = parse_create(&format!(
                "CREATE TABLE t (a INT NOT NULL) {model} KEY(a) DISTRIBUTED BY HASH(a)"
            ));
            let (t, _) = table_from_ast("t", &stmt).unwrap();
            assert_eq!(t.key.model.to_string(), model);
        }
        let stmt =
            parse_create("CREATE TABLE t (a INT, h BIGINT PERCENTILE_UNION) AGGREGATE KEY(a)");
        let err = table_from_ast("t", &stmt).unwrap_err();
        assert_eq!(err.to_mysql().code, 1235, "{err}");
    }
}
