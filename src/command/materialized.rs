//! Asynchronous materialized views: CREATE, REFRESH (now, or by its `EVERY` schedule), ALTER,
//! DROP, SHOW and SHOW CREATE.
//!
//! A materialized view is a DUPLICATE KEY table (`catalog::materialized`) whose rows only a
//! refresh writes: the view's query, run now, replaces them in one commit (an `INSERT
//! OVERWRITE`), so a reader sees the previous refresh or the next, never a mix. A refresh that
//! fails leaves the rows as they were and says why in SHOW MATERIALIZED VIEWS.

use std::sync::Arc;
use std::time::Duration;

use sqlparser::ast::ObjectName;

use super::table::resolve_stored;
use super::{Outcome, Session};
use crate::catalog::CatalogError;
use crate::catalog::TableMeta;
use crate::catalog::materialized::{Materialized, Refresh, RefreshRun, RefreshState};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::sql;

/// How often the schedule looks for views that are due.
const SCHEDULE_TICK: Duration = Duration::from_secs(1);
/// Ticks skipped after a look that found no scheduled view (a new one waits at most this long
/// for its schedule to be seen; IMMEDIATE gives it its first refresh at once anyway).
const IDLE_TICKS: u32 = 9;

/// `CREATE MATERIALIZED VIEW ... REFRESH {ASYNC ... | MANUAL} ... AS query`: the table is created
/// empty; with `IMMEDIATE` (the default) its first refresh starts at once.
pub async fn create(
    engine: &Arc<Engine>,
    session: &mut Session,
    stmt: sql::CreateMaterializedView,
) -> Result<Outcome> {
    if stmt.refresh.is_none() && stmt.distribution.is_none() && stmt.order_by.is_empty() {
        return Err(Error::NotSupported(
            "synchronous materialized views (CREATE MATERIALIZED VIEW without REFRESH, \
             DISTRIBUTED BY or ORDER BY) are not supported yet; add REFRESH ASYNC or REFRESH \
             MANUAL to create an asynchronous one, refreshed as a whole"
                .into(),
        ));
    }
    let (db, name) = super::view::target(engine, session, &stmt.name, &stmt.query).await?;
    let refresh = stmt.refresh.clone().unwrap_or(sql::MvRefresh {
        deferred: false,
        scheme: sql::MvScheme::Async {
            start: None,
            every: None,
        },
    });
    let materialized = Materialized {
        definition: stmt.query.to_string(),
        refresh: schedule_of(&refresh.scheme)?,
        active: true,
        inactive_reason: None,
        last_refresh: None,
        definer: format!("{}@{}", session.user, session.account_host),
        restored_from: None,
    };
    let schema = describe_in(engine, session, stmt.query.clone(), &db).await?;
    let columns = super::table::query_columns(&schema)?;
    let key = (!stmt.order_by.is_empty()).then(|| sql::KeyDesc {
        model: sql::KeyModel::Duplicate,
        columns: stmt.order_by.clone(),
    });
    let table = sql::CreateTable {
        external: false,
        if_not_exists: stmt.if_not_exists,
        name: stmt.name.clone(),
        like: None,
        columns,
        engine: None,
        key,
        comment: stmt.comment.clone(),
        partition_by: None,
        distribution: stmt.distribution.clone(),
        properties: stmt.properties.clone(),
        as_query: None,
    };
    let created = super::table::create_with(engine, session, table, Some(materialized)).await?;
    if matches!(created, Outcome::Done { affected_rows: 1 }) && !refresh.deferred {
        spawn_refresh(engine, db, name);
    }
    Ok(Outcome::ok())
}

/// The result schema of `query` with its names resolved in `db`.
async fn describe_in(
    engine: &Arc<Engine>,
    session: &Session,
    mut query: Box<sqlparser::ast::Query>,
    db: &str,
) -> Result<datafusion::arrow::datatypes::SchemaRef> {
    sql::qualify(&mut query, db);
    super::query::describe(
        engine,
        session,
        sql::Statement::Std(Box::new(sqlparser::ast::Statement::Query(query))),
    )
    .await
}

/// A schedule's `START ('yyyy-MM-dd HH:mm:ss')` (UTC), in milliseconds since the Unix epoch.
pub(super) fn start_time_ms(text: &str) -> Result<i64> {
    Ok(
        chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S")
            .map_err(|_| {
                Error::Common(format!(
                    "Invalid START time '{text}': write 'yyyy-MM-dd HH:mm:ss' (UTC)"
                ))
            })?
            .and_utc()
            .timestamp_millis(),
    )
}

/// `EVERY (INTERVAL n unit)` in seconds.
pub(super) fn interval_seconds(n: u64, unit: &str) -> Result<u64> {
    if n == 0 {
        return Err(Error::Common(
            "The interval of EVERY must be positive".into(),
        ));
    }
    let unit_s: u64 = match unit {
        "SECOND" => 1,
        "MINUTE" => 60,
        "HOUR" => 3600,
        "DAY" => 86_400,
        "WEEK" => 7 * 86_400,
        other => {
            return Err(Error::Common(format!(
                "Unsupported EVERY unit {other}: use SECOND, MINUTE, HOUR, DAY or WEEK"
            )));
        }
    };
    Ok(n.saturating_mul(unit_s))
}

/// Seconds as `EVERY (INTERVAL n unit)` writes them, in the largest unit that divides them.
pub(super) fn interval_text(s: u64) -> (u64, String) {
    for (unit, secs) in [
        ("WEEK", 7 * 86_400),
        ("DAY", 86_400),
        ("HOUR", 3600),
        ("MINUTE", 60),
    ] {
        if s.is_multiple_of(secs) {
            return (s / secs, unit.to_string());
        }
    }
    (s, "SECOND".to_string())
}

/// StarRocks' schedule clauses as the catalog keeps them.
fn schedule_of(scheme: &sql::MvScheme) -> Result<Refresh> {
    Ok(match scheme {
        sql::MvScheme::Manual => Refresh::Manual,
        sql::MvScheme::Async { start, every } => {
            let start_ms = start.as_deref().map(start_time_ms).transpose()?;
            let every_s = every
                .as_ref()
                .map(|(n, unit)| interval_seconds(*n, unit))
                .transpose()?;
            Refresh::Async { start_ms, every_s }
        }
    })
}

/// `REFRESH MATERIALIZED VIEW mv [FORCE] [WITH {SYNC | ASYNC} MODE]`: every refresh is complete
/// (FORCE changes nothing); ASYNC (the default) answers at once, SYNC when it ended.
pub async fn refresh(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: sql::RefreshMaterializedView,
) -> Result<Outcome> {
    let (db, name) = resolve_stored(session, &stmt.name)?;
    let table = engine.catalog.materialized(&db, &name).await?;
    refuse_inactive(&db, &table)?;
    if stmt.sync {
        let rows = refresh_now(engine, &db, &name).await?;
        return Ok(Outcome::Done {
            affected_rows: rows,
        });
    }
    spawn_refresh(engine, db, name);
    Ok(Outcome::ok())
}

fn refuse_inactive(db: &str, table: &TableMeta) -> Result<()> {
    match &table.materialized {
        Some(mv) if !mv.active => Err(Error::Common(format!(
            "Materialized view {db}.{} is inactive ({}); ALTER MATERIALIZED VIEW {} ACTIVE first",
            table.name,
            mv.inactive_reason.as_deref().unwrap_or("no reason given"),
            table.name
        ))),
        _ => Ok(()),
    }
}

/// Starts a refresh in the background; its outcome is in SHOW MATERIALIZED VIEWS.
fn spawn_refresh(engine: &Arc<Engine>, db: String, name: String) {
    let engine = Arc::clone(engine);
    tokio::spawn(async move {
        if let Err(e) = refresh_now(&engine, &db, &name).await {
            tracing::warn!(database = %db, view = %name, error = %e, "materialized view refresh failed");
        }
    });
}

/// One refresh of `db`.`name`, recorded in its catalog entry: the view's query replaces its
/// rows in one commit. Refreshes of one view run one at a time. Returns the rows written.
pub async fn refresh_now(engine: &Arc<Engine>, db: &str, name: &str) -> Result<u64> {
    let table = engine.catalog.materialized(db, name).await?;
    let _one_at_a_time = engine.table_locks.lock(table.id).await;
    let start_ms = crate::clock::now_ms();
    let table = engine
        .catalog
        .change_materialized(db, name, Some(table.id), move |mv| {
            if !mv.active {
                return Err(CatalogError::InvalidDefinition(format!(
                    "the materialized view is inactive ({}); ALTER MATERIALIZED VIEW ... ACTIVE first",
                    mv.inactive_reason.as_deref().unwrap_or("no reason given")
                )));
            }
            mv.last_refresh = Some(RefreshRun {
                start_ms,
                finished_ms: 0,
                state: RefreshState::Running,
                error: None,
                rows: 0,
            });
            Ok(())
        })
        .await?;
    let written = overwrite(engine, db, &table).await;
    let finished_ms = crate::clock::now_ms();
    let run = match &written {
        Ok(rows) => RefreshRun {
            start_ms,
            finished_ms,
            state: RefreshState::Success,
            error: None,
            rows: *rows,
        },
        Err(e) => RefreshRun {
            start_ms,
            finished_ms,
            state: RefreshState::Failed,
            error: Some(e.to_string()),
            rows: 0,
        },
    };
    let succeeded = written.is_ok();
    engine
        .catalog
        .change_materialized(db, name, Some(table.id), move |mv| {
            mv.last_refresh = Some(run);
            if succeeded {
                mv.restored_from = None;
            }
            Ok(())
        })
        .await?;
    written
}

/// `INSERT OVERWRITE db.mv <query>`, with the query's names in the view's database.
async fn overwrite(engine: &Arc<Engine>, db: &str, table: &TableMeta) -> Result<u64> {
    let Some(mv) = &table.materialized else {
        return Err(Error::Internal(format!(
            "{} is not a materialized view",
            table.name
        )));
    };
    let mut query = sql::parse_view_query(&mv.definition).map_err(|why| {
        Error::Internal(format!(
            "materialized view {}: the stored definition: {why}",
            table.name
        ))
    })?;
    sql::qualify(&mut query, db);
    if let Some(why) = sql::view_query_problem(&query) {
        return Err(Error::NotSupported(why.into()));
    }
    let text = format!(
        "INSERT OVERWRITE {} {query}",
        sql::Name(&ObjectName::from(vec![
            sqlparser::ast::Ident::with_quote('`', db),
            sqlparser::ast::Ident::with_quote('`', table.name.clone()),
        ]))
    );
    let insert =
        match sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::MySqlDialect {}, &text)
            .map_err(|e| Error::Internal(format!("refresh of {}: {e}", table.name)))?
            .pop()
        {
            Some(sqlparser::ast::Statement::Insert(insert)) => insert,
            _ => {
                return Err(Error::Internal(format!(
                    "refresh of {}: no INSERT",
                    table.name
                )));
            }
        };
    // The refresh reads with its definer's privileges, checked now (they may have changed, or
    // the definition may have come from a snapshot).
    let definer = if mv.definer.is_empty() {
        "root@%"
    } else {
        mv.definer.as_str()
    };
    let (user, host) = definer.rsplit_once('@').unwrap_or((definer, "%"));
    let mut session = Session::new(0, user.to_string(), "localhost".into());
    session.account_host = host.to_string();
    session.database = Some(db.to_string());
    super::privilege::require_reads(engine, &session, &sqlparser::ast::Statement::Query(query))?;
    match super::insert::load(engine, &mut session, insert, Some(table.id)).await? {
        Outcome::Done { affected_rows } => Ok(affected_rows),
        Outcome::Rows { .. } => Ok(0),
    }
}

/// `ALTER MATERIALIZED VIEW mv {ACTIVE | INACTIVE | REFRESH ... | RENAME new}`. ACTIVE checks
/// that the query plans (its tables exist) first.
pub async fn alter(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: sql::AlterMaterializedView,
) -> Result<Outcome> {
    let (db, name) = resolve_stored(session, &stmt.name)?;
    let table = engine.catalog.materialized(&db, &name).await?;
    match stmt.action {
        sql::MvAlteration::Active => {
            let mv = table.materialized.as_ref().map(|m| m.definition.clone());
            let query = sql::parse_view_query(&mv.unwrap_or_default())
                .map_err(|why| Error::Internal(format!("materialized view {name}: {why}")))?;
            describe_in(engine, session, query, &db)
                .await
                .map_err(|e| {
                    Error::Common(format!(
                        "Materialized view {db}.{name} cannot be active: its query fails ({e})"
                    ))
                })?;
            engine
                .catalog
                .change_materialized(&db, &name, Some(table.id), |mv| {
                    mv.active = true;
                    mv.inactive_reason = None;
                    Ok(())
                })
                .await?;
        }
        sql::MvAlteration::Inactive => {
            engine
                .catalog
                .change_materialized(&db, &name, Some(table.id), |mv| {
                    mv.active = false;
                    mv.inactive_reason = Some("ALTER MATERIALIZED VIEW ... INACTIVE".into());
                    Ok(())
                })
                .await?;
        }
        sql::MvAlteration::Refresh(refresh) => {
            let schedule = schedule_of(&refresh.scheme)?;
            engine
                .catalog
                .change_materialized(&db, &name, Some(table.id), move |mv| {
                    mv.refresh = schedule;
                    Ok(())
                })
                .await?;
        }
        sql::MvAlteration::Rename(to) => {
            super::table::refuse_reserved(engine, &db, &to.value)?;
            engine
                .catalog
                .rename_table(&db, &name, &to.value, false)
                .await?;
        }
    }
    Ok(Outcome::ok())
}

/// SHOW MATERIALIZED VIEWS' columns (StarRocks 3.3's first 23).
const SHOW_COLUMNS: [&str; 23] = [
    "id",
    "database_name",
    "name",
    "refresh_type",
    "is_active",
    "inactive_reason",
    "partition_type",
    "task_id",
    "task_name",
    "last_refresh_start_time",
    "last_refresh_finished_time",
    "last_refresh_duration",
    "last_refresh_state",
    "last_refresh_force_refresh",
    "last_refresh_start_partition",
    "last_refresh_end_partition",
    "last_refresh_base_refresh_partitions",
    "last_refresh_mv_refresh_partitions",
    "last_refresh_error_code",
    "last_refresh_error_message",
    "rows",
    "text",
    "extra_message",
];

/// `SHOW MATERIALIZED VIEWS [{FROM | IN} db] [LIKE 'p' | WHERE expr]`
pub async fn show(
    engine: &Engine,
    session: &Session,
    stmt: sql::ShowMaterializedViews,
) -> Result<Outcome> {
    let db = match stmt.db {
        Some(db) => db.value,
        None => session.database.clone().ok_or(Error::NoDatabaseSelected)?,
    };
    let mut rows = Vec::new();
    for table in engine.catalog.tables(&db).await? {
        let Some(mv) = &table.materialized else {
            continue;
        };
        let table_rows = match engine.catalog.table_tree(&db, &table.name).await {
            Ok(tree) => tree.partitions.iter().map(|p| p.rows()).sum::<u64>(),
            Err(_) => 0,
        };
        rows.push(show_row(&db, &table, mv, table_rows));
    }
    let filter = match (stmt.like, stmt.filter) {
        (Some(like), _) => Some(sqlparser::ast::ShowStatementFilter::Where(
            sqlparser::ast::Expr::Like {
                negated: false,
                any: false,
                expr: Box::new(sqlparser::ast::Expr::Identifier(
                    sqlparser::ast::Ident::new("name"),
                )),
                pattern: Box::new(sqlparser::ast::Expr::Value(
                    sqlparser::ast::Value::SingleQuotedString(like).into(),
                )),
                escape_char: None,
            },
        )),
        (None, Some(e)) => Some(sqlparser::ast::ShowStatementFilter::Where(e)),
        (None, None) => None,
    };
    super::filtered_table(engine, &SHOW_COLUMNS, rows, filter).await
}

/// One row of SHOW MATERIALIZED VIEWS (also information_schema.materialized_views').
pub(crate) fn show_row(
    db: &str,
    table: &TableMeta,
    mv: &Materialized,
    rows: u64,
) -> Vec<Option<String>> {
    let run = mv.last_refresh.as_ref();
    let time = |ms: i64| super::format_datetime_ms(ms);
    let duration = run.filter(|r| r.finished_ms > 0).map(|r| {
        format!(
            "{:.3}",
            r.finished_ms.saturating_sub(r.start_ms) as f64 / 1000.0
        )
    });
    let extra = mv.restored_from.as_ref().map(|from| {
        format!(
            "restored from snapshot {from}: its rows are as of its last refresh; REFRESH \
             MATERIALIZED VIEW {} brings them up to date",
            table.name
        )
    });
    vec![
        Some(table.id.to_string()),
        Some(db.to_string()),
        Some(table.name.clone()),
        Some(mv.refresh.kind().to_string()),
        Some(mv.active.to_string()),
        Some(mv.inactive_reason.clone().unwrap_or_default()),
        Some("UNPARTITIONED".into()),
        Some(String::new()),
        Some(String::new()),
        run.and_then(|r| time(r.start_ms)),
        run.and_then(|r| time(r.finished_ms)),
        duration,
        run.map(|r| r.state.as_str().to_string()),
        Some("false".into()),
        Some(String::new()),
        Some(String::new()),
        Some(String::new()),
        Some(String::new()),
        run.map(|r| if r.error.is_some() { "1" } else { "0" }.to_string()),
        run.map(|r| r.error.clone().unwrap_or_default()),
        Some(rows.to_string()),
        Some(create_text(table)),
        Some(extra.unwrap_or_default()),
    ]
}

/// `SHOW CREATE MATERIALIZED VIEW mv` (and SHOW CREATE TABLE of one): columns
/// `Materialized View`, `Create Materialized View`.
pub async fn show_create(engine: &Engine, session: &Session, name: &ObjectName) -> Result<Outcome> {
    let (db, name) = resolve_stored(session, name)?;
    let table = engine.catalog.materialized(&db, &name).await?;
    show_create_of(&table)
}

pub(crate) fn show_create_of(table: &TableMeta) -> Result<Outcome> {
    Outcome::text_table(
        &["Materialized View", "Create Materialized View"],
        vec![vec![Some(table.name.clone()), Some(create_text(table))]],
    )
}

/// The statement that re-creates materialized view `table` (empty, DEFERRED: the rows come with
/// its first refresh).
pub fn create_text(table: &TableMeta) -> String {
    let Some(mv) = &table.materialized else {
        return String::new();
    };
    let query = match sql::parse_view_query(&mv.definition) {
        Ok(q) => q,
        Err(_) => {
            return format!(
                "CREATE MATERIALIZED VIEW `{}` AS {}",
                table.name, mv.definition
            );
        }
    };
    let tree_free = super::table::create_statement(&crate::catalog::TableTree {
        table: table.clone(),
        partitions: Vec::new(),
    });
    let scheme = match mv.refresh {
        Refresh::Manual => sql::MvScheme::Manual,
        Refresh::Async { start_ms, every_s } => sql::MvScheme::Async {
            start: start_ms.and_then(super::format_datetime_ms),
            every: every_s.map(interval_text),
        },
    };
    sql::CreateMaterializedView {
        if_not_exists: false,
        name: ObjectName::from(vec![sqlparser::ast::Ident::with_quote(
            '`',
            table.name.clone(),
        )]),
        comment: table.comment.clone(),
        distribution: tree_free.distribution,
        refresh: Some(sql::MvRefresh {
            deferred: false,
            scheme,
        }),
        order_by: tree_free.key.map(|k| k.columns).unwrap_or_default(),
        properties: tree_free.properties,
        query,
    }
    .to_string()
}

/// Refreshes every active materialized view whose `EVERY` schedule is due, each on its own
/// task; runs for the daemon's life.
pub fn start_schedule(engine: &Arc<Engine>) {
    let engine = Arc::clone(engine);
    tokio::spawn(async move {
        // A refresh the last run of the daemon left RUNNING ended with it.
        if let Ok(views) = engine.catalog.all_materialized().await {
            for (db, table) in views {
                let running = table
                    .materialized
                    .as_ref()
                    .and_then(|m| m.last_refresh.clone());
                if let Some(mut run) = running.filter(|r| r.state == RefreshState::Running) {
                    run.state = RefreshState::Failed;
                    run.finished_ms = run.start_ms;
                    run.error = Some("the daemon stopped during the refresh".into());
                    let _ = engine
                        .catalog
                        .change_materialized(&db, &table.name, Some(table.id), move |mv| {
                            mv.last_refresh = Some(run);
                            Ok(())
                        })
                        .await;
                }
            }
        }
        let mut running: std::collections::HashMap<u64, tokio::task::JoinHandle<()>> =
            std::collections::HashMap::new();
        // Ticks left before the next look when the last one found no schedule: reading every
        // table's definition each second costs a daemon without scheduled views for nothing.
        let mut quiet = 0u32;
        loop {
            tokio::time::sleep(SCHEDULE_TICK).await;
            running.retain(|_, task| !task.is_finished());
            if quiet > 0 {
                quiet -= 1;
                continue;
            }
            let Ok(views) = engine.catalog.all_materialized().await else {
                continue;
            };
            let scheduled = views.iter().any(|(_, t)| {
                t.materialized.as_ref().is_some_and(|m| {
                    m.active
                        && matches!(
                            m.refresh,
                            Refresh::Async {
                                every_s: Some(_),
                                ..
                            }
                        )
                })
            });
            if !scheduled {
                quiet = IDLE_TICKS;
            }
            let now = crate::clock::now_ms();
            for (db, table) in views {
                let Some(mv) = &table.materialized else {
                    continue;
                };
                let last = mv.last_refresh.as_ref().map(|r| r.start_ms);
                let due = mv.refresh.next_due_ms(last, table.created_ms);
                if !mv.active || running.contains_key(&table.id) || due.is_none_or(|d| d > now) {
                    continue;
                }
                let engine = Arc::clone(&engine);
                let name = table.name.clone();
                running.insert(
                    table.id,
                    tokio::spawn(async move {
                        if let Err(e) = refresh_now(&engine, &db, &name).await {
                            tracing::warn!(database = %db, view = %name, error = %e, "scheduled materialized view refresh failed");
                        }
                    }),
                );
            }
        }
    });
}
