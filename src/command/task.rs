//! Tasks: `SUBMIT TASK`, `ALTER TASK`, `DROP TASK`, and the loop that runs them.
//!
//! A task keeps a BACKUP, an INSERT or a CREATE TABLE AS SELECT with a schedule (StarRocks'
//! `EVERY`, or backstop's `CRON` in a time zone) or none (it runs once, at once). The loop
//! ([`start_loop`]) looks every second at the time [`crate::clock`] gives and starts what is
//! due, as the task's creator, in the task's database:
//!
//! - **Catch-up once.** A slot is consumed when its run starts, and the next slot is the first
//!   one after *now*: slots missed while the daemon was down (or while a run lasted) give one
//!   run, not one per slot.
//! - **Busy database.** A BACKUP whose database runs another job waits (`on_busy` = `wait`,
//!   the default: one PENDING run, started when the database is free, however many slots pass
//!   meanwhile) or is skipped (`skip`: a SKIPPED run; the next slot tries again).
//! - **Retries.** A failed run is retried `retry_count` times (default 3), `retry_interval`
//!   seconds after the failure (default 60), doubling each time, but only while the retry comes
//!   before the next scheduled run: the schedule wins.
//! - **Retention.** `keep_last` = n: after a successful BACKUP, this server's snapshots of the
//!   label beyond the n newest are dropped, then a collection round deletes what no kept
//!   snapshot references (incremental chains stay whole). The BACKUP's own `ttl` works as
//!   always.
//!
//! Every decision is persisted before it is acted on (`catalog::tasks`); a run the daemon's
//! stop interrupted is recorded FAILED at the next start.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::catalog::tasks::{Retry, RunState, Schedule, TaskMeta, TaskRun};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::sql::{self, Statement};

use super::{Outcome, Session};

/// How often the loop looks for due tasks.
const TICK: Duration = Duration::from_secs(1);
/// StarRocks' smallest `EVERY` of a task.
const MIN_EVERY_S: u64 = 10;
/// How long a task without a schedule is kept after it was submitted (StarRocks'
/// `task_ttl_second`).
const ONCE_TTL_MS: i64 = 86_400_000;
const DEFAULT_RETRIES: u32 = 3;
const MAX_RETRIES: u32 = 10;
const DEFAULT_RETRY_INTERVAL_S: u64 = 60;
/// The longest wait before a retry, however many doublings.
const MAX_BACKOFF_S: u64 = 6 * 3600;

/// What a task's statement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Backup,
    Insert,
    CreateTableAsSelect,
}

impl Kind {
    fn of(stmt: &Statement) -> Result<Kind> {
        match stmt {
            Statement::BackupSnapshot(_) => Ok(Kind::Backup),
            Statement::CreateTable(t) if t.as_query.is_some() => Ok(Kind::CreateTableAsSelect),
            Statement::Std(s) if matches!(**s, sqlparser::ast::Statement::Insert(_)) => {
                Ok(Kind::Insert)
            }
            other => Err(Error::NotSupported(format!(
                "SUBMIT TASK runs BACKUP, INSERT and CREATE TABLE AS SELECT; {} cannot be a task",
                super::statement_name(other)
            ))),
        }
    }
}

/// A task's properties, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    skip_when_busy: bool,
    keep_last: Option<usize>,
    retries: u32,
    retry_interval_s: u64,
}

impl Settings {
    fn parse(properties: &[(String, String)], kind: Kind) -> Result<Settings> {
        let mut s = Settings {
            skip_when_busy: false,
            keep_last: None,
            retries: DEFAULT_RETRIES,
            retry_interval_s: DEFAULT_RETRY_INTERVAL_S,
        };
        let number = |key: &str, value: &str, max: u64| -> Result<u64> {
            value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| {
                    Error::Common(format!(
                        "Invalid task property {key} = '{value}': write a whole number from 0 to \
                         {max}"
                    ))
                })
        };
        for (key, value) in properties {
            match key.to_ascii_lowercase().as_str() {
                "on_busy" | "keep_last" if kind != Kind::Backup => {
                    return Err(Error::Common(format!(
                        "Task property {key} applies to BACKUP tasks only"
                    )));
                }
                "on_busy" => {
                    s.skip_when_busy = match value.trim().to_ascii_lowercase().as_str() {
                        "wait" => false,
                        "skip" => true,
                        _ => {
                            return Err(Error::Common(format!(
                                "Invalid task property on_busy = '{value}': write 'wait' (run \
                                 when the database is free) or 'skip' (skip this run)"
                            )));
                        }
                    }
                }
                "keep_last" => {
                    let n = number(key, value, 100_000)?;
                    if n == 0 {
                        return Err(Error::Common(
                            "Invalid task property keep_last = '0': keep at least 1 snapshot"
                                .into(),
                        ));
                    }
                    s.keep_last = usize::try_from(n).ok();
                }
                "retry_count" => {
                    s.retries = u32::try_from(number(key, value, u64::from(MAX_RETRIES))?)
                        .unwrap_or(MAX_RETRIES);
                }
                "retry_interval" => {
                    let n = number(key, value, MAX_BACKOFF_S)?;
                    if n == 0 {
                        return Err(Error::Common(
                            "Invalid task property retry_interval = '0': write seconds, at least 1"
                                .into(),
                        ));
                    }
                    s.retry_interval_s = n;
                }
                k if k.starts_with("session.") => {
                    return Err(Error::NotSupported(format!(
                        "Task property {key} is not supported: backstop runs a task with the \
                         default session; remove it"
                    )));
                }
                _ => {
                    return Err(Error::Common(format!(
                        "Unknown task property {key}; the properties are on_busy, keep_last, \
                         retry_count and retry_interval"
                    )));
                }
            }
        }
        Ok(s)
    }

    /// The wait before retry number `attempt` (1 for the first).
    fn backoff_ms(&self, attempt: u32) -> i64 {
        let factor = 1u64 << attempt.saturating_sub(1).min(20);
        let secs = self
            .retry_interval_s
            .saturating_mul(factor)
            .min(MAX_BACKOFF_S);
        i64::try_from(secs * 1000).unwrap_or(i64::MAX)
    }
}

/// The first slot of `schedule` strictly after `after_ms`.
pub fn next_slot(schedule: &Schedule, after_ms: i64) -> Option<i64> {
    match schedule {
        Schedule::Every { start_ms, every_s } => {
            let every_ms = i64::try_from(every_s.saturating_mul(1000))
                .unwrap_or(i64::MAX)
                .max(1);
            if after_ms < *start_ms {
                return Some(*start_ms);
            }
            let ticks = (after_ms - start_ms) / every_ms + 1;
            Some(start_ms.saturating_add(ticks.saturating_mul(every_ms)))
        }
        Schedule::Cron { expr, zone } => {
            let cron = crate::cron::Cron::parse(expr).ok()?;
            let zone = crate::cron::parse_zone(zone).ok()?;
            cron.next_after(after_ms, zone)
        }
    }
}

/// How `SCHEDULE` reads in information_schema.tasks: StarRocks' `PERIODICAL START(...)
/// EVERY(n UNIT)` or `MANUAL`, and backstop's `CRON '...' TIME ZONE '...'`.
pub fn schedule_text(schedule: Option<&Schedule>) -> String {
    match schedule {
        None => "MANUAL".into(),
        Some(Schedule::Every { start_ms, every_s }) => {
            let (n, unit) = super::materialized::interval_text(*every_s);
            format!(
                "PERIODICAL START({}) EVERY({n} {unit}S)",
                super::format_datetime_ms(*start_ms).unwrap_or_default()
            )
        }
        Some(Schedule::Cron { expr, zone }) => format!("CRON '{expr}' TIME ZONE '{zone}'"),
    }
}

/// `SUBMIT TASK`: checks the statement, its properties and schedule, and stores the task; the
/// loop starts its first run (at once without a schedule or START).
pub async fn submit(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: sql::SubmitTask,
) -> Result<Outcome> {
    let kind = Kind::of(&stmt.statement)?;
    Settings::parse(&stmt.properties, kind)?;
    let db = match (&*stmt.statement, &session.database) {
        (Statement::BackupSnapshot(b), _) if b.db.is_some() => {
            b.db.as_ref().map(|d| d.value.clone()).unwrap_or_default()
        }
        (_, Some(db)) => db.clone(),
        (_, None) => return Err(Error::NoDatabaseSelected),
    };
    if engine.catalog.database(&db).await?.is_none() {
        return Err(Error::UnknownDatabase(db));
    }
    if let Statement::BackupSnapshot(b) = &*stmt.statement {
        super::submit::check_statement("BACKUP", b.catalogs.is_some(), &b.label.value)?;
        super::properties::JobProperties::parse(
            engine,
            &b.properties,
            crate::scheduler::JobKind::Backup,
        )?;
        engine.open_repository(&b.repo.value).await?;
    }
    let now = crate::clock::now_ms();
    let name = match &stmt.name {
        Some(n) => n.value.clone(),
        None => format!("task_{now}_{:04x}", rand::random::<u16>()),
    };
    crate::catalog::validate_table_name(&name).map_err(|_| {
        Error::Common(format!(
            "Incorrect task name '{name}': use letters, digits and _ (at most 64 characters)"
        ))
    })?;
    let schedule = match &stmt.schedule {
        None => None,
        Some(sql::TaskSchedule::Every { start, every }) => {
            let every_s = super::materialized::interval_seconds(every.0, &every.1)?;
            if every_s < MIN_EVERY_S {
                return Err(Error::Common(format!(
                    "The interval of a task's schedule must be at least {MIN_EVERY_S} seconds"
                )));
            }
            let start_ms = match start {
                Some(text) => super::materialized::start_time_ms(text)?,
                None => now,
            };
            Some(Schedule::Every { start_ms, every_s })
        }
        Some(sql::TaskSchedule::Cron { expr, zone }) => {
            let cron = crate::cron::Cron::parse(expr)
                .map_err(|why| Error::Common(format!("Invalid cron schedule '{expr}': {why}")))?;
            let zone = zone.clone().unwrap_or_else(|| "UTC".into());
            let tz = crate::cron::parse_zone(&zone).map_err(Error::Common)?;
            if cron.next_after(now, tz).is_none() {
                return Err(Error::Common(format!(
                    "Cron schedule '{expr}' never fires (no time matches it in the next 5 years)"
                )));
            }
            Some(Schedule::Cron {
                expr: cron.text().to_string(),
                zone,
            })
        }
    };
    // The first slot from now on (now itself without START, as without a schedule).
    let next_run_ms = schedule
        .as_ref()
        .map_or(Some(now), |s| next_slot(s, now - 1));
    let task = TaskMeta {
        id: 0,
        name: name.clone(),
        db,
        definition: stmt.statement.to_string(),
        expire_ms: schedule
            .is_none()
            .then_some(now.saturating_add(ONCE_TTL_MS)),
        schedule,
        properties: stmt.properties.clone(),
        creator: format!("{}@{}", session.user, session.account_host),
        created_ms: now,
        suspended: false,
        next_run_ms,
        retry: None,
        waiting_run: None,
        last_success_ms: None,
        last_error: None,
        consecutive_failures: 0,
    };
    engine
        .catalog
        .create_task(task)
        .await
        .map_err(|e| match e {
            // The name is taken: StarRocks' common error, as for the other job statements.
            crate::catalog::CatalogError::InvalidDefinition(m) => Error::Common(m),
            e => e.into(),
        })?;
    tracing::info!(task = %name, "task submitted");
    Outcome::text_table(
        &["TaskName", "Status"],
        vec![vec![Some(name), Some("SUBMITTED".into())]],
    )
}

/// The task named `name`, which `session` may change: its creator's, or any for an admin.
/// `None` when there is none and `if_exists` says that is fine.
async fn owned_task(
    engine: &Engine,
    session: &Session,
    name: &str,
    if_exists: bool,
) -> Result<Option<TaskMeta>> {
    let Some(task) = engine.catalog.task(name).await? else {
        return if if_exists {
            Ok(None)
        } else {
            Err(unknown_task(name))
        };
    };
    let me = format!("{}@{}", session.user, session.account_host);
    let p = super::privilege::Privileges::of(engine, session);
    if task.creator != me && !p.is_admin() {
        // Only its creator or an administrator may change or drop a task.
        return Err(p.denied(
            "ADMIN",
            &format!("TASK {name} (created by {})", task.creator),
        ));
    }
    Ok(Some(task))
}

fn unknown_task(name: &str) -> Error {
    Error::Common(format!(
        "Task {name} does not exist; information_schema.tasks lists the tasks"
    ))
}

/// The task runs going on now (`Engine::running_tasks`), locked.
fn running_tasks(
    engine: &Engine,
) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, CancellationToken>> {
    engine
        .running_tasks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Stops the run of task `id` going on now, if any.
fn stop_running(engine: &Engine, id: u64) {
    let running = running_tasks(engine);
    if let Some(token) = running.get(&id) {
        token.cancel();
    }
}

/// The run of `task` that waits for its database, if any.
async fn waiting_run(engine: &Engine, task: &TaskMeta) -> Result<Option<TaskRun>> {
    match task.waiting_run {
        Some(id) => Ok(engine.catalog.task_run(id).await?),
        None => Ok(None),
    }
}

/// `run` ended SKIPPED at `now` because of `why`.
fn skipped(mut run: TaskRun, now: i64, why: String) -> TaskRun {
    run.state = RunState::Skipped;
    run.finished_ms = Some(now);
    run.extra_message = Some(why);
    run
}

/// `ALTER TASK [IF EXISTS] name {RESUME | SUSPEND | SET (...)}`. SUSPEND also stops the run going
/// on (a BACKUP's job is cancelled) and skips a run waiting for its database; RESUME schedules
/// the next slot after now (slots passed while suspended are not caught up).
pub async fn alter(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: sql::AlterTask,
) -> Result<Outcome> {
    let name = stmt.name.value.clone();
    let Some(task) = owned_task(engine, session, &name, stmt.if_exists).await? else {
        return Ok(Outcome::ok());
    };
    let now = crate::clock::now_ms();
    match stmt.action {
        sql::TaskAlteration::Suspend => {
            let waiting = waiting_run(engine, &task).await?.map(|r| {
                skipped(
                    r,
                    now,
                    "skipped: the task was suspended while the run waited".into(),
                )
            });
            engine
                .catalog
                .change_task(&name, task.id, waiting, |t| {
                    t.suspended = true;
                    t.waiting_run = None;
                    t.retry = None;
                    Ok(true)
                })
                .await?;
            stop_running(engine, task.id);
        }
        sql::TaskAlteration::Resume => {
            engine
                .catalog
                .change_task(&name, task.id, None, move |t| {
                    if t.suspended {
                        t.suspended = false;
                        t.retry = None;
                        if let Some(s) = &t.schedule {
                            t.next_run_ms = next_slot(s, now);
                        }
                    }
                    Ok(true)
                })
                .await?;
        }
        sql::TaskAlteration::Set(props) => {
            let stmt = sql::parse_one(&task.definition)?;
            let mut merged = task.properties.clone();
            for (k, v) in props {
                match merged
                    .iter_mut()
                    .find(|(old, _)| old.eq_ignore_ascii_case(&k))
                {
                    Some(slot) => slot.1 = v,
                    None => merged.push((k, v)),
                }
            }
            Settings::parse(&merged, Kind::of(&stmt)?)?;
            engine
                .catalog
                .change_task(&name, task.id, None, move |t| {
                    t.properties = merged;
                    Ok(true)
                })
                .await?;
        }
    }
    Ok(Outcome::ok())
}

/// DROP USER: the tasks `creator` (`user@host`) submitted are suspended, saying why, and their
/// runs stopped (a later user of the same name must not inherit them). An administrator may
/// RESUME one (it then runs as the account of that name, if one exists again).
pub async fn suspend_tasks_of(engine: &Engine, creator: &str) -> Result<()> {
    for task in engine.catalog.tasks().await? {
        if task.creator != creator || task.suspended {
            continue;
        }
        let why = format!("its creator {creator} was dropped; the task is suspended");
        engine
            .catalog
            .change_task(&task.name, task.id, None, move |t| {
                t.suspended = true;
                t.retry = None;
                t.last_error = Some(why);
                Ok(true)
            })
            .await?;
        stop_running(engine, task.id);
        tracing::warn!(task = %task.name, creator, "task suspended: its creator was dropped");
    }
    Ok(())
}

/// `DROP TASK [IF EXISTS] name [FORCE]`: forgets the task and its runs, and stops the run going
/// on (a BACKUP's job is cancelled; an INSERT or CTAS already running ends by itself). FORCE
/// changes nothing.
pub async fn drop(engine: &Arc<Engine>, session: &Session, stmt: sql::DropTask) -> Result<Outcome> {
    let name = stmt.name.value.clone();
    let Some(task) = owned_task(engine, session, &name, stmt.if_exists).await? else {
        return Ok(Outcome::ok());
    };
    if engine.catalog.drop_task(&name, task.id).await?.is_none() && !stmt.if_exists {
        // Dropped (or dropped and submitted again) by someone else meanwhile.
        return Err(unknown_task(&name));
    }
    stop_running(engine, task.id);
    tracing::info!(task = %name, "task dropped");
    Ok(Outcome::ok())
}

/// Starts the loop that runs due tasks (once per daemon).
pub fn start_loop(engine: &Arc<Engine>) {
    let engine = Arc::clone(engine);
    tokio::spawn(async move {
        if let Err(e) = end_interrupted_runs(&engine).await {
            tracing::warn!(error = %e, "cannot end the task runs the last stop interrupted");
        }
        loop {
            tokio::time::sleep(TICK).await;
            if let Err(e) = tick(&engine).await {
                tracing::warn!(error = %e, "task schedule round failed");
            }
        }
    });
}

/// The statement and settings of `task`, `None` when they no longer parse.
fn parsed(task: &TaskMeta) -> Option<(Statement, Settings)> {
    let stmt = sql::parse_one(&task.definition).ok()?;
    let settings = Settings::parse(&task.properties, Kind::of(&stmt).ok()?).ok()?;
    Some((stmt, settings))
}

/// At start: a run the last daemon left RUNNING ended with it (and is retried as any failure).
async fn end_interrupted_runs(engine: &Arc<Engine>) -> Result<()> {
    let tasks = engine.catalog.tasks().await?;
    for run in engine.catalog.task_runs().await? {
        if run.state != RunState::Running {
            continue;
        }
        let Some(task) = tasks.iter().find(|t| t.id == run.task_id) else {
            continue;
        };
        // Retried as a failed run is: a crash during the nightly backup should not mean a day
        // without one.
        let settings = parsed(task).map(|(_, s)| s);
        record_failure(
            engine,
            task,
            run,
            (1105, "the daemon stopped during the run".into()),
            settings.as_ref(),
            true,
            crate::clock::now_ms(),
        )
        .await?;
    }
    Ok(())
}

fn is_running(engine: &Engine, id: u64) -> bool {
    running_tasks(engine).contains_key(&id)
}

/// One look at every task: starts what is due, forgets finished one-off tasks a day old.
async fn tick(engine: &Arc<Engine>) -> Result<()> {
    let now = crate::clock::now_ms();
    for task in engine.catalog.tasks().await? {
        if is_running(engine, task.id) {
            continue;
        }
        let finished = task.schedule.is_none()
            && task.next_run_ms.is_none()
            && task.retry.is_none()
            && task.waiting_run.is_none();
        if finished && task.expire_ms.is_some_and(|e| e <= now) {
            engine.catalog.drop_task(&task.name, task.id).await?;
            continue;
        }
        if !task.is_due(now) {
            continue;
        }
        let scheduled = task.next_run_ms.is_some_and(|t| t <= now);
        let attempt = match (scheduled, task.retry.filter(|r| r.at_ms <= now)) {
            (false, Some(r)) => r.attempt,
            _ => 0,
        };
        let name = task.name.clone();
        if let Err(e) = start_run(engine, task, now, scheduled, attempt).await {
            tracing::warn!(task = %name, error = %e, "cannot start a task run");
        }
    }
    Ok(())
}

/// The job of database `db` running now, if any: (id, label).
fn busy_with(engine: &Engine, db: &str) -> Option<(u64, String)> {
    let job = engine.jobs.latest(db)?;
    let r = job.record();
    (!r.state.is_done()).then(|| (r.id, r.label.clone()))
}

/// A new run record of `task`.
fn new_run(task: &TaskMeta, id: u64, now: i64, attempt: u32) -> TaskRun {
    TaskRun {
        id,
        task_id: task.id,
        task_name: task.name.clone(),
        db: task.db.clone(),
        definition: task.definition.clone(),
        properties: task.properties.clone(),
        created_ms: now,
        started_ms: None,
        finished_ms: None,
        state: RunState::Pending,
        error_code: 0,
        error_message: None,
        extra_message: None,
        job_id: None,
        attempt,
    }
}

/// The task's entry in `Engine::running_tasks` while its run goes on: made before the run is
/// recorded RUNNING (so a DROP or SUSPEND from then on finds its token), removed when the run
/// ends however it ends (a panic included).
struct Running {
    engine: Arc<Engine>,
    id: u64,
}

impl Running {
    fn enter(engine: &Arc<Engine>, id: u64, token: CancellationToken) -> Running {
        running_tasks(engine).insert(id, token);
        Running {
            engine: Arc::clone(engine),
            id,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        running_tasks(&self.engine).remove(&self.id);
    }
}

/// Starts a run of `task`, read at `now` (its slot has come when `scheduled`, else its retry
/// or its wait). Every change re-checks, on the task as it is in the catalog, that the run is
/// still due: an ALTER or DROP since `task` was read wins.
async fn start_run(
    engine: &Arc<Engine>,
    task: TaskMeta,
    now: i64,
    scheduled: bool,
    attempt: u32,
) -> Result<()> {
    let advance = move |t: &mut TaskMeta| -> bool {
        if !t.is_due(now) || (scheduled && t.next_run_ms.is_none_or(|n| n > now)) {
            return false;
        }
        if scheduled {
            t.next_run_ms = t.schedule.as_ref().and_then(|s| next_slot(s, now));
            t.retry = None;
        } else if t.retry.is_some_and(|r| r.at_ms <= now) {
            t.retry = None;
        }
        true
    };
    let Some((stmt, settings)) = parsed(&task) else {
        // Cannot happen for a task SUBMIT checked; recorded rather than retried forever.
        let mut run = new_run(&task, engine.catalog.new_run_id().await?, now, attempt);
        run.state = RunState::Failed;
        run.finished_ms = Some(now);
        run.error_code = 1105;
        run.error_message = Some("the task's statement or properties no longer parse".into());
        take_slot(engine, &task, run, advance, |t| {
            t.consecutive_failures = t.consecutive_failures.saturating_add(1);
        })
        .await?;
        return Ok(());
    };
    if let Statement::BackupSnapshot(b) = &stmt {
        let db =
            b.db.as_ref()
                .map_or_else(|| task.db.clone(), |d| d.value.clone());
        if let Some((job, label)) = busy_with(engine, &db) {
            let why = format!(
                "database {db} is running job {job} (label '{label}'); one job runs per database"
            );
            let waiting = waiting_run(engine, &task).await?;
            if settings.skip_when_busy {
                // A run that waited (before on_busy became skip) ends skipped too.
                let run = match waiting {
                    Some(run) => run,
                    None => new_run(&task, engine.catalog.new_run_id().await?, now, attempt),
                };
                let run = skipped(run, now, format!("skipped (on_busy = skip): {why}"));
                take_slot(engine, &task, run, advance, |_| {}).await?;
            } else if waiting.is_none() {
                let mut run = new_run(&task, engine.catalog.new_run_id().await?, now, attempt);
                run.extra_message = Some(format!("waiting (on_busy = wait): {why}"));
                let id = run.id;
                engine
                    .catalog
                    .change_task(&task.name, task.id, Some(run), move |t| {
                        if t.waiting_run.is_some() || !advance(t) {
                            return Ok(false);
                        }
                        t.waiting_run = Some(id);
                        Ok(true)
                    })
                    .await?;
            } else if scheduled {
                // Already waiting: this slot merges into the waiting run.
                engine
                    .catalog
                    .change_task(&task.name, task.id, None, move |t| Ok(advance(t)))
                    .await?;
            }
            return Ok(());
        }
    }
    let mut run = match waiting_run(engine, &task).await? {
        Some(run) => run,
        None => new_run(&task, engine.catalog.new_run_id().await?, now, attempt),
    };
    run.state = RunState::Running;
    run.started_ms = Some(now);
    run.extra_message = None;
    let token = CancellationToken::new();
    let running = Running::enter(engine, task.id, token.clone());
    let Some(task) = take_slot(engine, &task, run.clone(), advance, |_| {}).await? else {
        // Suspended, dropped or moved since it was read: nothing starts.
        return Ok(());
    };
    let engine = Arc::clone(engine);
    tokio::spawn(async move {
        let (task_copy, run_copy) = (task.clone(), run.clone());
        let run_end = tokio::spawn(run_to_end(
            Arc::clone(&engine),
            task,
            run,
            stmt,
            settings,
            token,
        ));
        let ended = match run_end.await {
            Ok(ended) => ended,
            Err(e) => {
                // A panic in the run: recorded, and the task keeps its schedule.
                record_failure(
                    &engine,
                    &task_copy,
                    run_copy,
                    (1105, format!("the run failed unexpectedly: {e}")),
                    None,
                    true,
                    crate::clock::now_ms(),
                )
                .await
            }
        };
        if let Err(e) = ended {
            tracing::warn!(error = %e, "cannot record the end of a task run");
        }
        std::mem::drop(running);
    });
    Ok(())
}

/// Records `run` and, on `task` as it is in the catalog, takes the slot the run is for
/// (`advance` says false when it is no longer due) and ends any wait; `then` changes the task
/// further in the same write. Returns the changed task, `None` when the slot was gone.
async fn take_slot(
    engine: &Engine,
    task: &TaskMeta,
    run: TaskRun,
    advance: impl FnOnce(&mut TaskMeta) -> bool + Send + 'static,
    then: impl FnOnce(&mut TaskMeta) + Send + 'static,
) -> Result<Option<TaskMeta>> {
    let changed = engine
        .catalog
        .change_task(&task.name, task.id, Some(run), move |t| {
            if !advance(t) {
                return Ok(false);
            }
            t.waiting_run = None;
            then(t);
            Ok(true)
        })
        .await?;
    Ok(changed)
}

/// What a BACKUP task's run backs up: database, label, repository.
struct BackupTarget {
    db: String,
    label: String,
    repo: String,
}

/// Runs `stmt` as the task's creator and records how it ended.
async fn run_to_end(
    engine: Arc<Engine>,
    task: TaskMeta,
    mut run: TaskRun,
    mut stmt: Statement,
    settings: Settings,
    token: CancellationToken,
) -> Result<()> {
    let engine = &engine;
    let (user, host) = task
        .creator
        .rsplit_once('@')
        .unwrap_or((task.creator.as_str(), "%"));
    let mut session = Session::new(0, user.to_string(), "localhost".into());
    session.account_host = host.to_string();
    session.database = Some(task.db.clone());
    let backup = match &mut stmt {
        Statement::BackupSnapshot(b) => {
            // The run waits for its job, to know how it ended.
            b.properties
                .retain(|(k, _)| !k.eq_ignore_ascii_case("sync"));
            b.properties.push(("sync".into(), "true".into()));
            Some(BackupTarget {
                db: b
                    .db
                    .as_ref()
                    .map_or_else(|| task.db.clone(), |d| d.value.clone()),
                label: b.label.value.clone(),
                repo: b.repo.value.clone(),
            })
        }
        _ => None,
    };
    // The database's latest job before this run: the run's own job, if it gets one, is a later
    // one of its label (a run refused before submitting has none).
    let before = backup
        .as_ref()
        .and_then(|b| engine.jobs.latest(&b.db))
        .map(|j| j.id());
    let own_job = || {
        let b = backup.as_ref()?;
        let job = engine.jobs.latest(&b.db)?;
        (Some(job.id()) != before && job.record().label == b.label).then_some(job)
    };
    tracing::info!(task = %task.name, run = run.id, attempt = run.attempt, "task run started");
    let result = {
        let execution = super::execute(engine, &mut session, stmt);
        tokio::pin!(execution);
        tokio::select! {
            r = &mut execution => r,
            _ = token.cancelled() => {
                if let Some(job) = own_job() {
                    job.cancel_with(crate::scheduler::JobStatus::common(format!(
                        "task {} was suspended or dropped",
                        task.name
                    )));
                }
                execution.await
            }
        }
    };
    let now = crate::clock::now_ms();
    run.finished_ms = Some(now);
    if let Some(job) = own_job() {
        let r = job.record();
        run.job_id = Some(r.id);
        run.extra_message = Some(format!(
            "BACKUP job {} of snapshot {}/{}",
            r.id, r.label, r.timestamp
        ));
    }
    let stopped = token.is_cancelled();
    match result {
        Ok(_) => {
            run.state = RunState::Success;
            // A task dropped or suspended meanwhile prunes nothing.
            if let (Some(keep), Some(b), false) = (settings.keep_last, &backup, stopped) {
                let kept = keep_newest(engine, b, keep).await;
                let note = match kept {
                    Ok(0) => format!("keep_last {keep}: nothing to drop"),
                    Ok(n) => format!("keep_last {keep}: dropped {n} older snapshot(s)"),
                    Err(e) => {
                        tracing::warn!(task = %task.name, error = %e, "keep_last retention failed");
                        format!("keep_last {keep} failed: {e}")
                    }
                };
                run.extra_message = Some(match run.extra_message.take() {
                    Some(m) => format!("{m}; {note}"),
                    None => note,
                });
            }
            tracing::info!(task = %task.name, run = run.id, "task run succeeded");
            engine
                .catalog
                .change_task(&task.name, task.id, Some(run), move |t| {
                    t.last_success_ms = Some(now);
                    t.last_error = None;
                    t.consecutive_failures = 0;
                    Ok(true)
                })
                .await?;
        }
        Err(e) => {
            let shown = e.to_mysql();
            // A run SUSPEND or DROP stopped is neither retried nor counted as a failure.
            record_failure(
                engine,
                &task,
                run,
                (shown.code, shown.message),
                (!stopped).then_some(&settings),
                !stopped,
                now,
            )
            .await?;
        }
    }
    Ok(())
}

/// Records `run` FAILED with MySQL error (code, message), counts the failure when `counts`,
/// and, with `retry` settings that allow another attempt, schedules it after the backoff, but
/// only before the next scheduled run (the schedule wins).
async fn record_failure(
    engine: &Engine,
    task: &TaskMeta,
    mut run: TaskRun,
    (code, message): (u16, String),
    retry: Option<&Settings>,
    counts: bool,
    now: i64,
) -> Result<()> {
    tracing::warn!(task = %task.name, run = run.id, error = %message, "task run failed");
    run.state = RunState::Failed;
    run.finished_ms = Some(now);
    run.error_code = code;
    run.error_message = Some(message.clone());
    let attempt = run.attempt.saturating_add(1);
    let retry = retry.filter(|s| attempt <= s.retries).map(|s| Retry {
        at_ms: now.saturating_add(s.backoff_ms(attempt)),
        attempt,
    });
    engine
        .catalog
        .change_task(&task.name, task.id, Some(run), move |t| {
            if counts {
                t.consecutive_failures = t.consecutive_failures.saturating_add(1);
                t.last_error = Some(message);
            }
            t.retry = retry.filter(|r| t.next_run_ms.is_none_or(|n| r.at_ms < n));
            Ok(true)
        })
        .await?;
    Ok(())
}

/// `keep_last`: drops this server's snapshots of the target's database and label beyond the
/// `keep` newest.
async fn keep_newest(engine: &Arc<Engine>, target: &BackupTarget, keep: usize) -> Result<u64> {
    let repo = engine.open_repository(&target.repo).await?;
    crate::jobs::lifecycle::keep_newest(engine, repo, &target.db, &target.label, keep)
        .await
        .map_err(|e| Error::Common(e.to_string()))
}
