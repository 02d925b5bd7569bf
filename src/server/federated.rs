//! Session chatter: what MySQL drivers send on connect and between statements, answered the way a
//! MySQL 8 server would (toolchain.md §3 lists what each client sends).
//!
//! - `SET ...` (names, autocommit, sql_mode, session_track_*, user variables) updates the session;
//! - `USE db` changes the session's database (checked against the catalog);
//! - `SHOW VARIABLES`, `SHOW STATUS`, `SHOW WARNINGS`, `SHOW ERRORS`, `SHOW COLLATION`,
//!   `SHOW CHARACTER SET`, `SHOW ENGINES`, transaction statements are answered here;
//! - `DESCRIBE <query>` / `EXPLAIN`-less describes of a SELECT become the query itself
//!   ([`intercept_describe`]), as drivers use them to learn a result's columns;
//! - in a SELECT, `@@variables` and `@user_variables` are replaced by literals, and unnamed
//!   columns get the text the user wrote as their name, as MySQL names them. The query itself
//!   then runs in DataFusion like any other SELECT: nothing here fakes a query result. Session
//!   functions (`DATABASE()`, `USER()`, ...) and MySQL's other functions are rewritten below,
//!   in `command::functions`, for every statement that plans a query.

use crate::command::information_schema::{CHARACTER_SETS, COLLATIONS, ENGINE};
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::ScalarValue;
use sqlparser::ast::{
    Expr, Ident, ObjectName, Query, SelectItem, SetExpr, ShowStatementFilter, Spanned,
    Statement as Std, Value,
};

use super::span::location_offset;
use crate::command::{self, Outcome, Session};
use crate::engine::{Engine, SERVER_VERSION};
use crate::error::{Error, Result};
use crate::sql::Statement;

/// What the chatter layer did with a statement.
pub enum Intercept {
    /// Answered here.
    Answered(Outcome),
    /// Not chatter (possibly rewritten): hand it to the command layer.
    Pass(Box<Statement>),
}

/// Server-wide variable defaults, as `SHOW VARIABLES` lists them. Sessions override them with
/// SET; a few (version, port, max_connections) come from the running server.
const DEFAULTS: &[(&str, Default)] = &[
    ("auto_increment_increment", Default::Int(1)),
    ("auto_increment_offset", Default::Int(1)),
    ("autocommit", Default::Int(1)),
    ("character_set_client", Default::Str("utf8mb4")),
    ("character_set_connection", Default::Str("utf8mb4")),
    ("character_set_database", Default::Str("utf8mb4")),
    ("character_set_filesystem", Default::Str("binary")),
    ("character_set_results", Default::Str("utf8mb4")),
    ("character_set_server", Default::Str("utf8mb4")),
    ("character_set_system", Default::Str("utf8mb3")),
    ("collation_connection", Default::Str("utf8mb4_general_ci")),
    ("collation_database", Default::Str("utf8mb4_general_ci")),
    ("collation_server", Default::Str("utf8mb4_general_ci")),
    (
        "default_authentication_plugin",
        Default::Str("mysql_native_password"),
    ),
    ("default_storage_engine", Default::Str("OLAP")),
    ("div_precision_increment", Default::Int(4)),
    ("error_count", Default::Int(0)),
    ("foreign_key_checks", Default::Int(1)),
    ("group_concat_max_len", Default::Int(1024)),
    ("have_ssl", Default::Str("DISABLED")),
    ("init_connect", Default::Str("")),
    ("interactive_timeout", Default::Int(28800)),
    ("language", Default::Str("/usr/share/mysql/")),
    ("last_insert_id", Default::Int(0)),
    ("license", Default::Str("Apache-2.0")),
    ("lower_case_table_names", Default::Int(0)),
    (
        "max_allowed_packet",
        Default::Int(MAX_ALLOWED_PACKET as i64),
    ),
    ("max_execution_time", Default::Int(0)),
    ("net_buffer_length", Default::Int(16384)),
    ("net_read_timeout", Default::Int(30)),
    ("net_write_timeout", Default::Int(60)),
    ("performance_schema", Default::Int(0)),
    ("protocol_version", Default::Int(10)),
    ("query_cache_size", Default::Int(0)),
    ("query_cache_type", Default::Str("OFF")),
    ("query_timeout", Default::Int(300)),
    ("resultset_metadata", Default::Str("FULL")),
    ("session_track_gtids", Default::Str("OFF")),
    ("session_track_schema", Default::Str("ON")),
    ("session_track_state_change", Default::Str("OFF")),
    (
        "session_track_system_variables",
        Default::Str(
            "time_zone,autocommit,character_set_client,character_set_results,character_set_connection",
        ),
    ),
    ("session_track_transaction_info", Default::Str("OFF")),
    ("socket", Default::Str("")),
    ("sql_auto_is_null", Default::Int(0)),
    (
        "sql_mode",
        Default::Str(
            "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION",
        ),
    ),
    ("sql_notes", Default::Int(1)),
    ("sql_quote_show_create", Default::Int(1)),
    ("sql_safe_updates", Default::Int(0)),
    ("sql_select_limit", Default::Int(i64::MAX)),
    ("sql_warnings", Default::Int(0)),
    ("storage_engine", Default::Str("OLAP")),
    ("system_time_zone", Default::Str("UTC")),
    ("time_zone", Default::Str("SYSTEM")),
    ("transaction_isolation", Default::Str("REPEATABLE-READ")),
    ("transaction_read_only", Default::Int(0)),
    ("tx_isolation", Default::Str("REPEATABLE-READ")),
    ("tx_read_only", Default::Int(0)),
    ("unique_checks", Default::Int(1)),
    ("version", Default::Str(SERVER_VERSION)),
    (
        "version_comment",
        Default::Str(concat!(
            "backstop ",
            env!("CARGO_PKG_VERSION"),
            " (StarRocks-compatible backup and restore)"
        )),
    ),
    ("wait_timeout", Default::Int(28800)),
    ("warning_count", Default::Int(0)),
];

/// `max_allowed_packet`: the largest packet a client may send us.
pub const MAX_ALLOWED_PACKET: usize = 64 << 20;

enum Default {
    Int(i64),
    Str(&'static str),
}

impl Default {
    fn scalar(&self) -> ScalarValue {
        match self {
            Default::Int(i) => ScalarValue::Int64(Some(*i)),
            Default::Str(s) => ScalarValue::Utf8(Some((*s).to_string())),
        }
    }
}

/// A system variable's value for this session, or `None` when no such variable exists.
pub fn system_variable(engine: &Engine, session: &Session, name: &str) -> Option<ScalarValue> {
    let name = normalize_variable(name);
    if let Some(v) = session.variables.get(&name) {
        return Some(v.clone());
    }
    match name.as_str() {
        "port" => {
            return Some(ScalarValue::Int64(Some(i64::from(
                engine.config.listen.port(),
            ))));
        }
        "max_connections" => {
            return Some(ScalarValue::Int64(Some(
                i64::try_from(engine.config.max_connections).unwrap_or(i64::MAX),
            )));
        }
        "hostname" => return Some(ScalarValue::Utf8(Some("localhost".into()))),
        "warning_count" => {
            return Some(ScalarValue::Int64(Some(session.warnings.len() as i64)));
        }
        _ => {}
    }
    DEFAULTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| d.scalar())
}

/// `@@SESSION.x`, `@@global.x`, `session.x`, `X` → `x`.
fn normalize_variable(name: &str) -> String {
    let lower = name.trim_start_matches('@').to_ascii_lowercase();
    for scope in ["session.", "global.", "local.", "persist."] {
        if let Some(rest) = lower.strip_prefix(scope) {
            return rest.to_string();
        }
    }
    lower
}

/// Answers session chatter, or passes the statement on (SELECTs rewritten, see module docs).
pub async fn intercept(
    engine: &Arc<Engine>,
    session: &mut Session,
    stmt: Statement,
    sql: &str,
) -> Result<Intercept> {
    let std = match stmt {
        Statement::Std(std) => std,
        other => return Ok(Intercept::Pass(Box::new(other))),
    };
    let answered = match *std {
        Std::Set(set) => {
            apply_set(engine, session, set).await?;
            Outcome::ok()
        }
        Std::ShowVariables { filter, .. } => show_variables(engine, session, filter).await?,
        Std::ShowStatus { filter, .. } => show_status(engine, filter).await?,
        Std::ShowCollation { filter } => {
            command::filtered_table(
                engine,
                &[
                    "Collation",
                    "Charset",
                    "Id",
                    "Default",
                    "Compiled",
                    "Sortlen",
                ],
                COLLATIONS
                    .iter()
                    .map(|(name, charset, id, default, sortlen)| {
                        vec![
                            Some(name.to_string()),
                            Some(charset.to_string()),
                            Some(id.to_string()),
                            Some(if *default { "Yes" } else { "" }.to_string()),
                            Some("Yes".to_string()),
                            Some(sortlen.to_string()),
                        ]
                    })
                    .collect(),
                filter,
            )
            .await?
        }
        Std::ShowCharset(show) => {
            command::filtered_table(
                engine,
                &["Charset", "Description", "Default collation", "Maxlen"],
                CHARACTER_SETS
                    .iter()
                    .map(|(name, description, collation, maxlen)| {
                        vec![
                            Some(name.to_string()),
                            Some(description.to_string()),
                            Some(collation.to_string()),
                            Some(maxlen.to_string()),
                        ]
                    })
                    .collect(),
                show.filter,
            )
            .await?
        }
        Std::StartTransaction { .. } | Std::Commit { .. } | Std::Rollback { .. } => {
            // Every statement commits on its own (autocommit); an explicit transaction has
            // nothing left to do at COMMIT, which drivers send even with autocommit on.
            Outcome::ok()
        }
        Std::Use(use_stmt) => {
            let name = match use_stmt {
                sqlparser::ast::Use::Object(n)
                | sqlparser::ast::Use::Database(n)
                | sqlparser::ast::Use::Schema(n) => object_name_text(&n),
                other => {
                    return Err(Error::NotSupported(format!("{other} is not supported")));
                }
            };
            command::use_database(engine, session, &name).await?;
            Outcome::ok()
        }
        Std::Query(mut query) => {
            name_columns(&mut query, sql);
            substitute_session_values(engine, session, &mut query)?;
            return Ok(Intercept::Pass(Box::new(Statement::Std(Box::new(
                Std::Query(query),
            )))));
        }
        other => return Ok(Intercept::Pass(Box::new(Statement::Std(Box::new(other))))),
    };
    Ok(Intercept::Answered(answered))
}

/// Statements sqlparser does not parse that drivers and tools send: answered from the text.
/// `SHOW WARNINGS [LIMIT n]`, `SHOW ERRORS`, `SHOW [STORAGE] ENGINES`.
pub fn answer_unparsed(session: &Session, sql: &str) -> Option<Result<Outcome>> {
    let words: Vec<String> = sql
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["SHOW", "WARNINGS", rest @ ..] if rest.is_empty() || rest.first() == Some(&"LIMIT") => {
            Some(show_warnings(session))
        }
        ["SHOW", "ERRORS", rest @ ..] if rest.is_empty() || rest.first() == Some(&"LIMIT") => {
            Some(Outcome::text_table(&["Level", "Code", "Message"], vec![]))
        }
        ["SHOW", "ENGINES"] | ["SHOW", "STORAGE", "ENGINES"] => Some(Outcome::text_table(
            &[
                "Engine",
                "Support",
                "Comment",
                "Transactions",
                "XA",
                "Savepoints",
            ],
            vec![row(&ENGINE)],
        )),
        _ => None,
    }
}

/// For COM_STMT_PREPARE: the rewritten query whose columns describe the statement's result, or
/// `None` when the statement returns no rows (or is answered by [`intercept`] at EXECUTE).
pub fn intercept_describe(
    engine: &Arc<Engine>,
    session: &mut Session,
    stmt: Statement,
    sql: &str,
) -> Result<Option<Statement>> {
    match stmt {
        Statement::Std(std) => match *std {
            Std::Query(mut query) => {
                name_columns(&mut query, sql);
                substitute_session_values(engine, session, &mut query)?;
                Ok(Some(Statement::Std(Box::new(Std::Query(query)))))
            }
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

fn row(cells: &[&str]) -> Vec<Option<String>> {
    cells.iter().map(|c| Some((*c).to_string())).collect()
}

fn object_name_text(name: &ObjectName) -> String {
    name.0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
        .collect::<Vec<_>>()
        .join(".")
}

async fn apply_set(
    engine: &Arc<Engine>,
    session: &mut Session,
    set: sqlparser::ast::Set,
) -> Result<()> {
    use sqlparser::ast::Set;
    match set {
        Set::SingleAssignment {
            variable, values, ..
        } => {
            let value = match values.as_slice() {
                [v] => v.clone(),
                _ => {
                    return Err(Error::NotSupported(
                        "SET with a list of values is not supported".into(),
                    ));
                }
            };
            assign(engine, session, &object_name_text(&variable), value).await
        }
        Set::MultipleAssignments { assignments } => {
            for a in assignments {
                assign(engine, session, &object_name_text(&a.name), a.value).await?;
            }
            Ok(())
        }
        Set::SetNames {
            charset_name,
            collation_name,
        } => {
            let charset = charset_name.value.to_ascii_lowercase();
            for v in [
                "character_set_client",
                "character_set_connection",
                "character_set_results",
            ] {
                session
                    .variables
                    .insert(v.into(), ScalarValue::Utf8(Some(charset.clone())));
            }
            let collation = collation_name
                .map(|c| c.trim_matches(|q| q == '\'' || q == '"').to_string())
                .unwrap_or_else(|| format!("{charset}_general_ci"));
            session.variables.insert(
                "collation_connection".into(),
                ScalarValue::Utf8(Some(collation)),
            );
            Ok(())
        }
        Set::SetNamesDefault {} => {
            for v in [
                "character_set_client",
                "character_set_connection",
                "character_set_results",
                "collation_connection",
            ] {
                session.variables.remove(v);
            }
            Ok(())
        }
        Set::SetTimeZone { value, .. } => assign(engine, session, "time_zone", value).await,
        // Every statement is its own transaction; isolation levels have nothing to choose.
        Set::SetTransaction { .. } => Ok(()),
        other => Err(Error::NotSupported(format!("{other} is not supported"))),
    }
}

/// One `name = value` of a SET. Unknown system variables are accepted and remembered (drivers
/// set a few that only matter to MySQL); reading one back returns what was set.
async fn assign(
    engine: &Arc<Engine>,
    session: &mut Session,
    name: &str,
    value: Expr,
) -> Result<()> {
    let scalar = match &value {
        // `SET autocommit = ON`, `SET session_track_schema = ON`: a bare word is a string.
        Expr::Identifier(ident) if !ident.value.starts_with('@') && ident.quote_style.is_none() => {
            match ident.value.to_ascii_uppercase().as_str() {
                "ON" | "TRUE" => ScalarValue::Int64(Some(1)),
                "OFF" | "FALSE" => ScalarValue::Int64(Some(0)),
                _ => ScalarValue::Utf8(Some(ident.value.clone())),
            }
        }
        _ => evaluate(engine, session, value).await?,
    };
    if let Some(user_var) = name.strip_prefix('@').filter(|n| !n.starts_with('@')) {
        session
            .user_variables
            .insert(user_var.to_ascii_lowercase(), scalar);
        return Ok(());
    }
    let name = normalize_variable(name);
    let scalar = match (name.as_str(), &scalar) {
        // Boolean switches read back as 0/1, as in MySQL.
        (
            "autocommit" | "sql_auto_is_null" | "foreign_key_checks" | "unique_checks",
            ScalarValue::Int64(Some(v)),
        ) if *v == 0 || *v == 1 => scalar,
        ("autocommit", _) => {
            return Err(Error::BadVariableValue {
                name,
                value: scalar.to_string(),
            });
        }
        _ => scalar,
    };
    session.variables.insert(name, scalar);
    Ok(())
}

/// Evaluates a constant expression (with variables substituted) through DataFusion.
async fn evaluate(engine: &Arc<Engine>, session: &mut Session, expr: Expr) -> Result<ScalarValue> {
    let sql = format!("SELECT {expr}");
    let parsed = crate::sql::parse_one(&sql)?;
    let Statement::Std(std) = parsed else {
        return Err(Error::Internal(
            "a SELECT parsed as a backstop statement".into(),
        ));
    };
    let Std::Query(mut query) = *std else {
        return Err(Error::Internal("SELECT did not parse as a query".into()));
    };
    substitute_session_values(engine, session, &mut query)?;
    let outcome = command::query::run(engine, session, Std::Query(query)).await?;
    let Outcome::Rows { stream, .. } = outcome else {
        return Err(Error::Internal("a SELECT returned no rows".into()));
    };
    let batches: Vec<RecordBatch> = datafusion::physical_plan::common::collect(stream).await?;
    let value = batches
        .first()
        .filter(|b| b.num_rows() > 0 && b.num_columns() > 0)
        .map(|b| ScalarValue::try_from_array(b.column(0), 0))
        .transpose()?
        .unwrap_or(ScalarValue::Null);
    Ok(value)
}

async fn show_variables(
    engine: &Arc<Engine>,
    session: &Session,
    filter: Option<ShowStatementFilter>,
) -> Result<Outcome> {
    let mut names: Vec<String> = DEFAULTS.iter().map(|(n, _)| (*n).to_string()).collect();
    names.extend(["hostname", "max_connections", "port"].map(String::from));
    names.extend(session.variables.keys().cloned());
    names.sort();
    names.dedup();
    let rows = names
        .into_iter()
        .map(|n| {
            let value = system_variable(engine, session, &n).map(|v| scalar_text(&v));
            vec![Some(n), Some(value.unwrap_or_default())]
        })
        .collect();
    command::filtered_table(engine, &["Variable_name", "Value"], rows, filter).await
}

async fn show_status(engine: &Arc<Engine>, filter: Option<ShowStatementFilter>) -> Result<Outcome> {
    let uptime = engine.started.elapsed().as_secs().to_string();
    let mut rows = vec![
        vec![Some("Uptime".into()), Some(uptime)],
        vec![
            Some("Threads_connected".into()),
            Some(
                engine
                    .connections
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .to_string(),
            ),
        ],
        vec![
            Some("Questions".into()),
            Some(
                engine
                    .questions
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .to_string(),
            ),
        ],
    ];
    // The open-files budget (docs/operations.md, "Limits"): files queries, loads and jobs hold
    // now, the most they held at once, its size, and how often one of them waited.
    let files = crate::open_files::budget();
    for (name, value) in [
        ("Open_files", files.in_use()),
        ("Max_used_open_files", files.peak()),
        ("Open_files_budget", files.size()),
        ("Open_files_waits", files.waits()),
    ] {
        rows.push(vec![Some(name.into()), Some(value.to_string())]);
    }
    command::filtered_table(engine, &["Variable_name", "Value"], rows, filter).await
}

fn show_warnings(session: &Session) -> Result<Outcome> {
    let rows = session
        .warnings
        .iter()
        .map(|w| {
            vec![
                Some(w.level.to_string()),
                Some(w.code.to_string()),
                Some(w.message.clone()),
            ]
        })
        .collect();
    Outcome::text_table(&["Level", "Code", "Message"], rows)
}

/// MySQL's text form of a variable's value.
fn scalar_text(v: &ScalarValue) -> String {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.clone(),
        v if v.is_null() => String::new(),
        v => v.to_string(),
    }
}

/// Gives every unnamed, computed column of the outermost SELECT the text the user wrote, as
/// MySQL does (`SELECT 1+1` has a column `1+1`; `SELECT 'a'` a column `a`).
fn name_columns(query: &mut Query, sql: &str) {
    let aliases = name_select_columns(query, sql);
    // `ORDER BY TYPE` after `3 TYPE` means the alias, whatever its case (MySQL): the alias is
    // quoted now, so the reference is too.
    if let Some(sqlparser::ast::OrderBy {
        kind: sqlparser::ast::OrderByKind::Expressions(items),
        ..
    }) = query.order_by.as_mut()
    {
        for item in items {
            if let Expr::Identifier(i) = &mut item.expr
                && i.quote_style.is_none()
                && let Some(alias) = aliases.iter().find(|a| a.eq_ignore_ascii_case(&i.value))
            {
                *i = Ident::with_quote('`', alias.clone());
            }
        }
    }
}

/// Names the outermost SELECT's columns (see [`name_columns`]); returns the aliases it quoted.
fn name_select_columns(query: &mut Query, sql: &str) -> Vec<String> {
    let mut aliases = Vec::new();
    let mut body = query.body.as_mut();
    loop {
        match body {
            SetExpr::Select(select) => {
                for item in select.projection.iter_mut() {
                    match item {
                        SelectItem::UnnamedExpr(expr) => {
                            if let Some(alias) = column_name(expr, sql) {
                                *item = SelectItem::ExprWithAlias {
                                    expr: expr.clone(),
                                    alias: Ident::with_quote('`', alias),
                                };
                            }
                        }
                        // `AS TYPE_NAME` names the column `TYPE_NAME` in MySQL; DataFusion
                        // would fold an unquoted alias to lower case.
                        SelectItem::ExprWithAlias { alias, .. } if alias.quote_style.is_none() => {
                            alias.quote_style = Some('`');
                            aliases.push(alias.value.clone());
                        }
                        _ => {}
                    }
                }
                return aliases;
            }
            SetExpr::SetOperation { left, .. } => body = left.as_mut(),
            SetExpr::Query(q) => body = q.body.as_mut(),
            _ => return aliases,
        }
    }
}

fn column_name(expr: &Expr, sql: &str) -> Option<String> {
    match expr {
        // sqlparser's span of a CAST or CONVERT covers only its operand.
        Expr::Cast { .. } | Expr::Convert { .. } => Some(expr.to_string()),
        // Plain columns keep their own names (and DataFusion resolves them as columns).
        Expr::Identifier(i) if !i.value.starts_with('@') => None,
        Expr::CompoundIdentifier(parts)
            if parts.first().is_some_and(|p| !p.value.starts_with('@')) =>
        {
            None
        }
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Some(s.clone()),
            Value::Null => Some("NULL".into()),
            _ => Some(
                span_text(sql, expr.span(), matches!(expr, Expr::Function(_)))
                    .unwrap_or_else(|| expr.to_string()),
            ),
        },
        _ => Some(
            span_text(sql, expr.span(), matches!(expr, Expr::Function(_)))
                .unwrap_or_else(|| expr.to_string()),
        ),
    }
}

/// The source text a span covers.
fn span_text(sql: &str, span: sqlparser::tokenizer::Span, is_call: bool) -> Option<String> {
    let (start, end) = (
        location_offset(sql, span.start)?,
        location_offset(sql, span.end)?,
    );
    // sqlparser's spans of calls stop before the closing parentheses: take them too.
    let mut end = end;
    let mut depth = paren_depth(sql.get(start..end)?);
    if is_call && depth == 0 {
        // A call without arguments (`NOW()`): the span covers only the name.
        let after = sql.get(end..)?;
        let trimmed = after.trim_start();
        if trimmed.starts_with('(') {
            end += after.len() - trimmed.len() + 1;
            depth = 1;
        }
    }
    // Scan on to the parenthesis that closes the call (quotes may hold parentheses).
    let base = end;
    let mut quote: Option<char> = None;
    for (i, c) in sql.get(base..)?.char_indices() {
        if depth == 0 {
            break;
        }
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                end = base + i + 1;
            }
            _ => {}
        }
    }
    let text = sql.get(start..end)?.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Unclosed parentheses in `text`, ignoring those inside quotes.
fn paren_depth(text: &str) -> usize {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    depth
}

/// Replaces `@@var` and `@var` by literals.
fn substitute_session_values(engine: &Engine, session: &Session, query: &mut Query) -> Result<()> {
    let flow = sqlparser::ast::visit_expressions_mut(query, |expr| {
        match session_value(engine, session, expr) {
            Ok(Some(v)) => *expr = command::functions::literal(&v),
            Ok(None) => {}
            Err(e) => return ControlFlow::Break(e),
        }
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn session_value(engine: &Engine, session: &Session, expr: &Expr) -> Result<Option<ScalarValue>> {
    let variable = match expr {
        Expr::Identifier(i) if i.quote_style.is_none() && i.value.starts_with('@') => {
            Some(i.value.clone())
        }
        Expr::CompoundIdentifier(parts)
            if parts
                .first()
                .is_some_and(|p| p.quote_style.is_none() && p.value.starts_with('@')) =>
        {
            Some(
                parts
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join("."),
            )
        }
        _ => None,
    };
    let Some(variable) = variable else {
        return Ok(None);
    };
    if let Some(user_var) = variable.strip_prefix('@').filter(|v| !v.starts_with('@')) {
        return Ok(Some(
            session
                .user_variables
                .get(&user_var.to_ascii_lowercase())
                .cloned()
                .unwrap_or(ScalarValue::Null),
        ));
    }
    system_variable(engine, session, &variable)
        .map(Some)
        .ok_or_else(|| Error::UnknownVariable(normalize_variable(&variable)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_normalize() {
        assert_eq!(normalize_variable("@@SESSION.Autocommit"), "autocommit");
        assert_eq!(normalize_variable("@@version_comment"), "version_comment");
        assert_eq!(normalize_variable("global.sql_mode"), "sql_mode");
    }

    #[test]
    fn span_text_handles_lines_and_unicode() {
        use sqlparser::tokenizer::{Location, Span};
        let sql = "SELECT 'é',\n  CONCAT('a','b')";
        let span = Span::new(Location::new(2, 3), Location::new(2, 18));
        assert_eq!(
            span_text(sql, span, false).as_deref(),
            Some("CONCAT('a','b')")
        );
        assert_eq!(span_text(sql, Span::empty(), false), None);
        let bad = Span::new(Location::new(9, 1), Location::new(9, 4));
        assert_eq!(span_text(sql, bad, false), None);
    }

    #[test]
    fn computed_columns_are_named_by_their_text() {
        for (sql, want) in [
            ("SELECT count(*)", "count(*)"),
            ("SELECT NOW()", "NOW()"),
            ("SELECT DATABASE ()", "DATABASE ()"),
            ("SELECT CONCAT('a', UPPER('b'))", "CONCAT('a', UPPER('b'))"),
            ("SELECT COALESCE(NULL, ( 1 ) ) ", "COALESCE(NULL, ( 1 ) )"),
            ("SELECT CONCAT(')', 'x')", "CONCAT(')', 'x')"),
            ("SELECT 1+1", "1+1"),
            ("SELECT 'text'", "text"),
            ("SELECT 1 AS Mixed", "Mixed"),
        ] {
            let Statement::Std(std) = crate::sql::parse_one(sql).unwrap() else {
                panic!("{sql} is not a standard statement");
            };
            let Std::Query(mut query) = *std else {
                panic!("{sql} is not a query");
            };
            name_columns(&mut query, sql);
            let SetExpr::Select(select) = query.body.as_ref() else {
                panic!("{sql} is not a SELECT");
            };
            match &select.projection[0] {
                SelectItem::ExprWithAlias { alias, .. } => assert_eq!(alias.value, want, "{sql}"),
                other => panic!("{sql}: not aliased: {other}"),
            }
        }
    }
}
