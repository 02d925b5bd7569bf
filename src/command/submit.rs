//! What BACKUP and RESTORE share at submission: the statement's first checks, the `ON (...)`
//! helpers, and the start of the job (registered, timed, spawned, and waited for when `sync`).

use std::future::Future;
use std::sync::Arc;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::scheduler::{JobRecord, JobStatus, Jobs};
use crate::sql::{BackupObject, ObjectKind, TableRef};

use super::Outcome;
use super::job_status::wait_for_job;

/// The checks every BACKUP and RESTORE statement passes first, in StarRocks' order:
/// `statement` (`BACKUP` or `RESTORE`) names no external catalog, and the label is valid.
pub fn check_statement(statement: &str, names_catalogs: bool, label: &str) -> Result<()> {
    if names_catalogs {
        return Err(Error::NotSupported(format!(
            "{statement} of external catalogs is not supported: backstop has no external catalogs"
        )));
    }
    if !crate::repo::manifest::is_valid_label(label) {
        return Err(Error::Common(format!("Incorrect label name '{label}'")));
    }
    Ok(())
}

/// Registers the job of `record` (refused while its database runs another), arms its timeout
/// (which ends it with `timeout`), runs `run` on its own task, and answers at once, or once the
/// job has ended when `sync` ([`wait_for_job`]).
pub async fn start_job<Fut>(
    engine: &Arc<Engine>,
    record: JobRecord,
    timeout: JobStatus,
    sync: bool,
    run: impl FnOnce(Arc<Engine>, Arc<crate::scheduler::Job>) -> Fut,
) -> Result<Outcome>
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let job = engine.jobs.submit(record).await?;
    Jobs::arm_timeout(&job, timeout);
    tokio::spawn(run(Arc::clone(engine), Arc::clone(&job)));
    if sync {
        return wait_for_job(&job).await;
    }
    Ok(Outcome::ok())
}

/// What one entry of an `ON (...)` list names.
pub enum OnEntry<'a> {
    /// `ALL TABLES`
    AllTables,
    /// `ALL VIEWS`
    AllViews,
    /// `[TABLE] t [PARTITION (...)] [AS alias]`: the table's name with its reference, and
    /// whether it was written bare (no `TABLE`): then it may also name a view.
    Table(String, &'a TableRef, bool),
    /// `VIEW v [AS alias]`
    View(String, &'a TableRef),
    /// `ALL MATERIALIZED VIEWS`
    AllMaterialized,
    /// `MATERIALIZED VIEW mv [AS alias]`: a table that is a materialized view.
    Materialized(String, &'a TableRef),
}

/// One entry of an `ON (...)` list, checked as BACKUP and RESTORE share it. Functions are
/// refused ([`not_supported`]), and so are temporary partitions (with
/// `temporary_error`); the parser gives a view no partitions.
pub fn on_entry<'a>(
    statement: &str,
    entry: &'a BackupObject,
    temporary_error: &str,
) -> Result<OnEntry<'a>> {
    match entry {
        BackupObject::All(ObjectKind::Table) => Ok(OnEntry::AllTables),
        BackupObject::All(ObjectKind::View) => Ok(OnEntry::AllViews),
        BackupObject::All(ObjectKind::MaterializedView) => Ok(OnEntry::AllMaterialized),
        BackupObject::Named {
            kind: Some(ObjectKind::MaterializedView),
            object,
        } => Ok(OnEntry::Materialized(table_name(object)?, object)),
        BackupObject::All(kind)
        | BackupObject::Named {
            kind: Some(kind @ ObjectKind::Function),
            ..
        } => Err(not_supported(statement, *kind)),
        BackupObject::Named {
            kind: Some(ObjectKind::View),
            object,
        } => Ok(OnEntry::View(table_name(object)?, object)),
        BackupObject::Named { object, kind } => {
            if object.temporary {
                return Err(Error::Common(temporary_error.into()));
            }
            Ok(OnEntry::Table(table_name(object)?, object, kind.is_none()))
        }
    }
}

/// The error for functions in `ON (...)`.
fn not_supported(statement: &str, kind: ObjectKind) -> Error {
    Error::NotSupported(format!(
        "{statement} of {} is not supported: a backstop snapshot holds tables, views and materialized views; Java UDFs cannot run in backstop (see docs/backup.md)",
        match kind {
            ObjectKind::View => "views",
            ObjectKind::MaterializedView => "materialized views",
            ObjectKind::Function => "functions",
            ObjectKind::Table => "tables",
        }
    ))
}

/// The table an `ON (...)` entry names (its last name part).
fn table_name(object: &TableRef) -> Result<String> {
    object
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.clone())
        .ok_or_else(|| Error::Common(format!("Incorrect table name '{}'", object.name)))
}
