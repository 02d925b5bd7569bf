//! Statement dispatch: one parsed [`Statement`] in, an [`Outcome`] out.
//!
//! The protocol edge (`server/`) parses SQL text, answers session chatter itself
//! (`server::federated`) and hands everything else here, after [`privilege`] has checked the
//! session user's grants. Each statement family has its own file: databases ([`database`]),
//! tables and partitions ([`table`]), views ([`view`]), materialized views ([`materialized`]), loads ([`insert`], reading `FILES()` through [`files`]),
//! queries ([`query`], with the `information_schema` tables of [`information_schema`]),
//! repositories ([`repository`]), BACKUP ([`backup`]), RESTORE ([`restore`]), the two jobs'
//! shared submission ([`submit`]) and properties ([`properties`]), SHOW/CANCEL of jobs
//! ([`job_status`]), snapshots ([`snapshot`]: SHOW, DROP, VERIFY), users and grants
//! ([`user`]), tasks ([`task`]: SUBMIT, ALTER, DROP, and their schedules' loop). A statement that parses but is not executed answers "not available yet"
//! (1235), so clients learn which statement is missing rather than seeing a syntax error.

pub mod aggregate;
pub mod auto_partition;
pub mod backup;
pub mod change;
pub mod compaction;
pub mod database;
pub mod dynamic;
pub mod files;
pub mod functions;
pub mod information_schema;
pub mod insert;
pub mod job_status;
pub mod materialized;
pub mod privilege;
pub mod properties;
pub mod query;
pub mod repository;
pub mod restore;
pub mod snapshot;
pub mod submit;
pub mod table;
pub mod task;
pub mod user;
pub mod view;

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::memory::MemoryStream;
use tokio_util::sync::CancellationToken;

use sqlparser::ast::ShowStatementFilter;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::sql::Statement;

/// What a statement produced.
pub enum Outcome {
    /// An OK packet.
    Done { affected_rows: u64 },
    /// A result set, streamed batch by batch to the client.
    Rows {
        schema: SchemaRef,
        stream: SendableRecordBatchStream,
    },
}

impl Outcome {
    pub fn ok() -> Self {
        Outcome::Done { affected_rows: 0 }
    }

    /// A result set whose columns are all strings (every SHOW of StarRocks is VARCHAR).
    pub fn text_table(columns: &[&str], rows: Vec<Vec<Option<String>>>) -> Result<Self> {
        let batch = text_batch(columns, &rows)?;
        let schema = batch.schema();
        let stream = MemoryStream::try_new(vec![batch], Arc::clone(&schema), None)?;
        Ok(Outcome::Rows {
            schema,
            stream: Box::pin(stream),
        })
    }
}

/// One batch of nullable string columns named `columns`; a row shorter than the header reads
/// NULL in its missing cells.
pub fn text_batch(columns: &[&str], rows: &[Vec<Option<String>>]) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = (0..columns.len())
        .map(|i| {
            Arc::new(
                rows.iter()
                    .map(|r| r.get(i).cloned().flatten())
                    .collect::<StringArray>(),
            ) as ArrayRef
        })
        .collect();
    RecordBatch::try_new(schema, arrays)
        .map_err(|e| Error::Internal(format!("building a text result: {e}")))
}

/// A small text table filtered the way SHOW filters: `LIKE 'pattern'` on the first column
/// (case-insensitive, as MySQL's default collation) or `WHERE expr` over the columns, evaluated
/// by DataFusion.
pub async fn filtered_table(
    engine: &Engine,
    columns: &[&str],
    rows: Vec<Vec<Option<String>>>,
    filter: Option<ShowStatementFilter>,
) -> Result<Outcome> {
    let predicate = match filter {
        None => return Outcome::text_table(columns, rows),
        Some(
            ShowStatementFilter::Like(p)
            | ShowStatementFilter::ILike(p)
            | ShowStatementFilter::NoKeyword(p),
        ) => {
            let first = columns
                .first()
                .map(|c| c.to_ascii_lowercase())
                .unwrap_or_default();
            format!(
                // The pattern keeps MySQL's `\_` and `\%` escapes, which ILIKE shares; only
                // quotes need doubling inside the literal.
                "`{first}` ILIKE '{}'",
                p.replace('\'', "''")
            )
        }
        Some(ShowStatementFilter::Where(e)) => e.to_string(),
    };
    // Column names are lower-cased in the scratch table so that `WHERE Variable_name = ...` finds
    // them (DataFusion folds unquoted identifiers); the result keeps MySQL's spelling.
    let lower: Vec<String> = columns.iter().map(|c| c.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let batch = text_batch(&lower, &rows)?;
    let schema = batch.schema();
    let ctx = engine.query_context(None);
    let table = MemTable::try_new(schema, vec![vec![batch]])?;
    ctx.register_table("show_rows", Arc::new(table))?;
    let projection = columns
        .iter()
        .map(|c| format!("`{}` AS `{}`", c.to_ascii_lowercase(), c.replace('`', "``")))
        .collect::<Vec<_>>()
        .join(", ");
    let df = ctx
        .sql(&format!(
            "SELECT {projection} FROM show_rows WHERE {predicate}"
        ))
        .await?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    Ok(Outcome::Rows {
        schema,
        stream: df.execute_stream().await?,
    })
}

/// `yyyy-MM-dd HH:mm:ss` (UTC) of a time in milliseconds since the epoch, as every SHOW prints
/// times; `None` for a time not reached yet (≤ 0) or out of range.
pub fn format_datetime_ms(ms: i64) -> Option<String> {
    if ms <= 0 {
        return None;
    }
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// A warning kept for `SHOW WARNINGS`, as MySQL's `Level`, `Code`, `Message`.
#[derive(Debug, Clone)]
pub struct Warning {
    pub level: &'static str,
    pub code: u16,
    pub message: String,
}

/// One client connection's state, owned by its task.
#[derive(Debug)]
pub struct Session {
    pub connection_id: u32,
    pub user: String,
    pub host: String,
    /// The host pattern of the account the user logged in as (`%` for root without a row):
    /// with `user`, the key of the user's grants.
    pub account_host: String,
    pub database: Option<String>,
    /// System variables the client set (`SET NAMES`, `SET autocommit`, ...), lower-case names.
    pub variables: HashMap<String, ScalarValue>,
    /// `@name` user variables.
    pub user_variables: HashMap<String, ScalarValue>,
    /// Warnings of the last statement.
    pub warnings: Vec<Warning>,
    /// Cancelled when the running statement should stop early: the client went away or the
    /// daemon is shutting down (`SLEEP` returns 1). The server gives each statement a new one.
    pub interrupt: CancellationToken,
    /// Rows the last result set sent (`FOUND_ROWS()`).
    pub found_rows: u64,
    /// Rows the last statement changed, -1 after a result set (`ROW_COUNT()`).
    pub row_count: i64,
}

impl Session {
    pub fn new(connection_id: u32, user: String, host: String) -> Self {
        Self {
            connection_id,
            user,
            host,
            account_host: "%".to_string(),
            database: None,
            variables: HashMap::new(),
            user_variables: HashMap::new(),
            warnings: Vec::new(),
            interrupt: CancellationToken::new(),
            found_rows: 0,
            row_count: -1,
        }
    }

    /// Back to the state right after login (COM_RESET_CONNECTION).
    pub fn reset(&mut self) {
        self.variables.clear();
        self.user_variables.clear();
        self.warnings.clear();
    }
}

/// Runs one statement.
pub async fn execute(
    engine: &Arc<Engine>,
    session: &mut Session,
    stmt: Statement,
) -> Result<Outcome> {
    use sqlparser::ast::Statement as S;
    privilege::authorize(engine, session, &stmt).await?;
    match stmt {
        Statement::CreateUser(stmt) => user::create(engine, stmt).await,
        Statement::AlterUser(stmt) => user::alter(engine, stmt).await,
        Statement::DropUser { if_exists, user } => user::drop(engine, user, if_exists).await,
        Statement::SetPassword { user, password } => {
            user::set_password(engine, session, user, password).await
        }
        Statement::Grant(g) => user::grant(engine, session, g, false).await,
        Statement::Revoke(g) => user::grant(engine, session, g, true).await,
        Statement::ShowUsers => user::show_users(engine).await,
        Statement::ShowGrants(u) => user::show_grants(engine, session, u).await,
        Statement::ShowAllGrants => user::show_all_grants(engine).await,
        Statement::ShowRoles => user::show_roles(),
        Statement::SetRole => Ok(Outcome::ok()),
        Statement::SetDefaultRole(u) => user::set_default_role(engine, u),
        Statement::CreateDatabase {
            name,
            if_not_exists,
            ..
        } => database::create(engine, &name.value, if_not_exists).await,
        Statement::DropDatabase {
            name, if_exists, ..
        } => database::drop(engine, session, &name.value, if_exists).await,
        Statement::CreateTable(stmt) => table::create_as_select(engine, session, stmt).await,
        Statement::CreateView(stmt) => view::create(engine, session, stmt).await,
        Statement::CreateMaterializedView(stmt) => {
            materialized::create(engine, session, stmt).await
        }
        Statement::RefreshMaterializedView(stmt) => {
            materialized::refresh(engine, session, stmt).await
        }
        Statement::AlterMaterializedView(stmt) => materialized::alter(engine, session, stmt).await,
        Statement::ShowMaterializedViews(stmt) => materialized::show(engine, session, stmt).await,
        Statement::ShowDynamicPartitionTables(db) => {
            dynamic::show(engine, session, db.map(|d| d.value)).await
        }
        Statement::ShowCreateMaterializedView(name) => {
            materialized::show_create(engine, session, &name).await
        }
        Statement::TruncateTable(stmt) => table::truncate(engine, session, stmt).await,
        Statement::ChecksumTable(tables) => table::checksum(engine, session, tables).await,
        Statement::ShowTableStatus { db, like } => {
            table::show_table_status(engine, session, db.map(|d| d.value), like.as_deref()).await
        }
        Statement::AddColumns(stmt) => table::add_columns(engine, session, stmt).await,
        Statement::DropColumn(stmt) => table::drop_column(engine, session, stmt).await,
        Statement::AddPartition(stmt) => table::add_partition(engine, session, stmt).await,
        Statement::AddPartitions(stmt) => table::add_partitions(engine, session, stmt).await,
        Statement::SetTableProperties(stmt) => table::set_properties(engine, session, stmt).await,
        Statement::RenameTable(stmt) => table::rename(engine, session, stmt).await,
        Statement::CompactTable(stmt) => compaction::compact(engine, session, stmt).await,
        Statement::DropPartition(stmt) => table::drop_partition(engine, session, stmt).await,
        Statement::ShowPartitions(name) => table::show_partitions(engine, session, &name).await,
        Statement::ShowTablet(name) => table::show_tablets(engine, session, &name).await,
        Statement::CreateRepository(stmt) => repository::create(engine, stmt).await,
        Statement::DropRepository(stmt) => repository::drop(engine, &stmt.name.value).await,
        Statement::ShowRepositories => repository::show(engine).await,
        Statement::BackupSnapshot(stmt) => backup::backup(engine, session, stmt).await,
        Statement::ShowBackup(stmt) => {
            job_status::show_jobs(engine, stmt, crate::scheduler::JobKind::Backup).await
        }
        Statement::ShowRestore(stmt) => {
            job_status::show_jobs(engine, stmt, crate::scheduler::JobKind::Restore).await
        }
        Statement::CancelBackup(stmt) => {
            job_status::cancel(engine, stmt, crate::scheduler::JobKind::Backup).await
        }
        Statement::CancelRestore(stmt) => {
            job_status::cancel(engine, stmt, crate::scheduler::JobKind::Restore).await
        }
        Statement::ShowSnapshot(stmt) => snapshot::show_snapshot(engine, stmt).await,
        Statement::DropSnapshot(stmt) => snapshot::drop_snapshot(engine, stmt).await,
        Statement::VerifySnapshot(stmt) => snapshot::verify(engine, stmt).await,
        Statement::ShowVerify(repo) => {
            snapshot::show_verify(engine, repo.as_ref().map(|r| r.value.as_str())).await
        }
        Statement::CancelVerify(repo) => snapshot::cancel_verify(engine, &repo.value).await,
        Statement::RestoreSnapshot(stmt) => restore::restore(engine, session, stmt).await,
        Statement::SubmitTask(stmt) => task::submit(engine, session, stmt).await,
        Statement::AlterTask(stmt) => task::alter(engine, session, stmt).await,
        Statement::DropTask(stmt) => task::drop(engine, session, stmt).await,
        Statement::AdminSetConfig(props) => dynamic::set_config(engine, &props),
        Statement::AdminShowConfig(like) => dynamic::show_config(engine, like),
        Statement::Std(std) => match *std {
            s @ (S::Query(_) | S::Explain { .. }) => query::run(engine, session, s).await,
            S::Insert(ins) => insert::insert(engine, session, ins).await,
            S::Delete(del) => change::delete(engine, session, del).await,
            S::Update(upd) => change::update(engine, session, upd).await,
            S::Kill { modifier, id } => kill(engine, session, modifier, id),
            S::Drop {
                object_type: sqlparser::ast::ObjectType::Table,
                if_exists,
                names,
                temporary: false,
                ..
            } => table::drop(engine, session, &names, if_exists, table::Dropped::Table).await,
            S::Drop {
                object_type: sqlparser::ast::ObjectType::View,
                if_exists,
                names,
                temporary: false,
                ..
            } => table::drop(engine, session, &names, if_exists, table::Dropped::View).await,
            S::Drop {
                object_type: sqlparser::ast::ObjectType::MaterializedView,
                if_exists,
                names,
                temporary: false,
                ..
            } => {
                let kind = table::Dropped::MaterializedView;
                table::drop(engine, session, &names, if_exists, kind).await
            }
            S::ShowTables {
                full, show_options, ..
            } => table::show_tables(engine, session, full, &show_options).await,
            S::ShowColumns {
                full, show_options, ..
            } => table::show_columns(engine, session, full, &show_options).await,
            S::ShowVariable { variable } if table::is_show_index(&variable) => {
                table::show_index(engine, session, &variable).await
            }
            S::ExplainTable { table_name, .. } => {
                table::describe(engine, session, &table_name).await
            }
            S::ShowCreate {
                obj_type: sqlparser::ast::ShowCreateObject::Table,
                obj_name,
            } => table::show_create(engine, session, &obj_name).await,
            S::ShowCreate {
                obj_type: sqlparser::ast::ShowCreateObject::View,
                obj_name,
            } => view::show_create_named(engine, session, &obj_name).await,
            s @ (S::ShowDatabases { .. } | S::ShowSchemas { .. }) => {
                show_databases(engine, s).await
            }
            other => Err(Error::NotSupported(format!(
                "{} is not available yet in this version of backstop; docs/statements.md lists the statements it runs",
                statement_words(&other)
            ))),
        },
    }
}

/// SHOW DATABASES, and SHOW SCHEMAS, MySQL's synonym (SQLAlchemy's get_schema_names sends it).
async fn show_databases(engine: &Arc<Engine>, stmt: sqlparser::ast::Statement) -> Result<Outcome> {
    use sqlparser::ast::{
        ShowStatementFilter as F, ShowStatementFilterPosition as P, Statement as S,
    };
    let name = std_statement_name(&stmt);
    let (S::ShowDatabases { show_options, .. } | S::ShowSchemas { show_options, .. }) = stmt else {
        return Err(Error::Internal(format!("{name} is not SHOW DATABASES")));
    };
    let like = match show_options.filter_position {
        Some(P::Infix(f) | P::Suffix(f)) => match f {
            F::Like(p) | F::ILike(p) | F::NoKeyword(p) => Some(p),
            F::Where(_) => {
                return Err(Error::NotSupported(format!(
                    "{name} WHERE is not supported; use LIKE, or SELECT ... FROM information_schema.schemata WHERE ..."
                )));
            }
        },
        None => None,
    };
    database::show(engine, like.as_deref()).await
}

/// `KILL [CONNECTION | QUERY] id`: a user may end their own connections and statements; ending
/// another user's takes an admin (root, the `root` role, `ADMIN_PRIV`). A killed statement stops
/// where it waits (SLEEP returns 1) or between the batches of its result (error 1317); a killed
/// connection then closes.
fn kill(
    engine: &Arc<Engine>,
    session: &Session,
    modifier: Option<sqlparser::ast::KillType>,
    id: u64,
) -> Result<Outcome> {
    use sqlparser::ast::KillType;
    let whole = match modifier {
        None | Some(KillType::Connection) => true,
        Some(KillType::Query) => false,
        Some(KillType::Mutation) => {
            return Err(Error::NotSupported(
                "KILL MUTATION is not supported; use KILL QUERY or KILL CONNECTION".into(),
            ));
        }
    };
    let admin = privilege::Privileges::of(engine, session).is_admin();
    let refused = u32::try_from(id)
        .map_err(|_| crate::engine::KillRefused::Unknown)
        .and_then(|id| engine.sessions.kill(id, whole, &session.user, admin));
    match refused {
        Ok(()) => Ok(Outcome::ok()),
        Err(crate::engine::KillRefused::Unknown) => Err(Error::UnknownThread(id)),
        Err(crate::engine::KillRefused::NotOwner) => Err(Error::NotThreadOwner(id)),
    }
}

/// Use a database: COM_INIT_DB and `USE`.
pub async fn use_database(engine: &Engine, session: &mut Session, name: &str) -> Result<()> {
    if name.is_empty() {
        // mysql-connector-python sends COM_INIT_DB with an empty name on connect; MySQL accepts it.
        return Ok(());
    }
    if name != crate::catalog::INFORMATION_SCHEMA && engine.catalog.database(name).await?.is_none()
    {
        return Err(Error::UnknownDatabase(name.to_string()));
    }
    session.database = Some(name.to_string());
    Ok(())
}

/// The statement's leading keywords, for messages.
pub fn statement_name(stmt: &Statement) -> &'static str {
    match stmt {
        Statement::Std(s) => std_statement_name(s),
        Statement::CreateRepository(_) => "CREATE REPOSITORY",
        Statement::DropRepository(_) => "DROP REPOSITORY",
        Statement::ShowRepositories => "SHOW REPOSITORIES",
        Statement::BackupSnapshot(_) => "BACKUP SNAPSHOT",
        Statement::RestoreSnapshot(_) => "RESTORE SNAPSHOT",
        Statement::ShowSnapshot(_) => "SHOW SNAPSHOT",
        Statement::ShowBackup(_) => "SHOW BACKUP",
        Statement::ShowRestore(_) => "SHOW RESTORE",
        Statement::CancelBackup(_) => "CANCEL BACKUP",
        Statement::CancelRestore(_) => "CANCEL RESTORE",
        Statement::DropSnapshot(_) => "DROP SNAPSHOT",
        Statement::VerifySnapshot(_) => "VERIFY SNAPSHOT",
        Statement::ShowVerify(_) => "SHOW VERIFY",
        Statement::CancelVerify(_) => "CANCEL VERIFY",
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::CreateView(v) if v.alter => "ALTER VIEW",
        Statement::CreateView(_) => "CREATE VIEW",
        Statement::CreateMaterializedView(_) => "CREATE MATERIALIZED VIEW",
        Statement::RefreshMaterializedView(_) => "REFRESH MATERIALIZED VIEW",
        Statement::AlterMaterializedView(_) => "ALTER MATERIALIZED VIEW",
        Statement::ShowMaterializedViews(_) => "SHOW MATERIALIZED VIEWS",
        Statement::ShowDynamicPartitionTables(_) => "SHOW DYNAMIC PARTITION TABLES",
        Statement::ShowCreateMaterializedView(_) => "SHOW CREATE MATERIALIZED VIEW",
        Statement::CreateDatabase { .. } => "CREATE DATABASE",
        Statement::DropDatabase { .. } => "DROP DATABASE",
        Statement::AddColumns(_) => "ALTER TABLE ... ADD COLUMN",
        Statement::DropColumn(_) => "ALTER TABLE ... DROP COLUMN",
        Statement::AddPartition(_) => "ALTER TABLE ... ADD PARTITION",
        Statement::AddPartitions(_) => "ALTER TABLE ... ADD PARTITIONS",
        Statement::SetTableProperties(_) => "ALTER TABLE ... SET",
        Statement::RenameTable(r) if r.swap => "ALTER TABLE ... SWAP WITH",
        Statement::RenameTable(_) => "ALTER TABLE ... RENAME",
        Statement::CompactTable(_) => "ALTER TABLE ... COMPACT",
        Statement::DropPartition(_) => "ALTER TABLE ... DROP PARTITION",
        Statement::TruncateTable(_) => "TRUNCATE TABLE",
        Statement::ChecksumTable(_) => "CHECKSUM TABLE",
        Statement::ShowPartitions(_) => "SHOW PARTITIONS",
        Statement::ShowTablet(_) => "SHOW TABLET",
        Statement::ShowTableStatus { .. } => "SHOW TABLE STATUS",
        Statement::CreateUser(_) => "CREATE USER",
        Statement::AlterUser(_) => "ALTER USER",
        Statement::DropUser { .. } => "DROP USER",
        Statement::ShowUsers => "SHOW USERS",
        Statement::SetPassword { .. } => "SET PASSWORD",
        Statement::Grant(_) => "GRANT",
        Statement::Revoke(_) => "REVOKE",
        Statement::ShowGrants(_) => "SHOW GRANTS",
        Statement::ShowAllGrants => "SHOW ALL GRANTS",
        Statement::ShowRoles => "SHOW ROLES",
        Statement::SetRole => "SET ROLE",
        Statement::SetDefaultRole(_) => "SET DEFAULT ROLE",
        Statement::SubmitTask(_) => "SUBMIT TASK",
        Statement::AlterTask(_) => "ALTER TASK",
        Statement::DropTask(_) => "DROP TASK",
        Statement::AdminSetConfig(_) => "ADMIN SET FRONTEND CONFIG",
        Statement::AdminShowConfig(_) => "ADMIN SHOW FRONTEND CONFIG",
    }
}

/// The statement's name for a message: its known name, or else its first two words as written
/// back by sqlparser (`SHOW FUNCTIONS`, `CREATE INDEX`), never `this statement`.
fn statement_words(stmt: &sqlparser::ast::Statement) -> String {
    match std_statement_name(stmt) {
        "this statement" => {
            let text = stmt.to_string();
            let words: Vec<&str> = text
                .split_whitespace()
                .take_while(|w| w.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
                .take(2)
                .collect();
            if words.is_empty() {
                "this statement".to_string()
            } else {
                words.join(" ").to_ascii_uppercase()
            }
        }
        name => name.to_string(),
    }
}

fn std_statement_name(stmt: &sqlparser::ast::Statement) -> &'static str {
    use sqlparser::ast::Statement as S;
    match stmt {
        S::Query(_) => "SELECT",
        S::Insert(_) => "INSERT",
        S::Update(_) => "UPDATE",
        S::Delete(_) => "DELETE",
        S::CreateTable(_) => "CREATE TABLE",
        S::CreateView(v) if v.materialized => "CREATE MATERIALIZED VIEW",
        S::CreateView(_) => "CREATE VIEW",
        S::CreateDatabase { .. } => "CREATE DATABASE",
        S::CreateSchema { .. } => "CREATE SCHEMA",
        S::Drop { object_type, .. } => {
            use sqlparser::ast::ObjectType as O;
            match object_type {
                O::Table => "DROP TABLE",
                O::View => "DROP VIEW",
                O::MaterializedView => "DROP MATERIALIZED VIEW",
                O::Index => "DROP INDEX",
                O::Role => "DROP ROLE",
                O::User => "DROP USER",
                O::Database | O::Schema => "DROP DATABASE",
                _ => "DROP",
            }
        }
        S::AlterTable(alter) => {
            use sqlparser::ast::AlterTableOperation as A;
            match alter.operations.first() {
                Some(A::AddColumn { .. }) => "ALTER TABLE ... ADD COLUMN",
                Some(A::DropColumn { .. }) => "ALTER TABLE ... DROP COLUMN",
                Some(A::ModifyColumn { .. }) => "ALTER TABLE ... MODIFY COLUMN",
                Some(A::ChangeColumn { .. }) => "ALTER TABLE ... CHANGE COLUMN",
                Some(A::RenameColumn { .. }) => "ALTER TABLE ... RENAME COLUMN",
                _ => "ALTER TABLE",
            }
        }
        S::Truncate(_) => "TRUNCATE",
        S::ShowTables { .. } => "SHOW TABLES",
        S::ShowDatabases { .. } => "SHOW DATABASES",
        S::ShowSchemas { .. } => "SHOW SCHEMAS",
        S::ShowColumns { .. } => "SHOW COLUMNS",
        S::ShowCreate { .. } => "SHOW CREATE",
        S::ExplainTable { .. } => "DESCRIBE",
        S::Grant(_) => "GRANT",
        S::Revoke(_) => "REVOKE",
        S::CreateUser(_) => "CREATE USER",
        S::StartTransaction { .. } => "START TRANSACTION",
        S::Commit { .. } => "COMMIT",
        S::Rollback { .. } => "ROLLBACK",
        S::Kill { .. } => "KILL",
        _ => "this statement",
    }
}
