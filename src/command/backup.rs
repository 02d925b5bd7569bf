//! `BACKUP SNAPSHOT`: the submission checks run here, synchronously, in StarRocks' order and
//! with its texts; the job itself runs in the background ([`crate::jobs::backup`]).

use std::sync::Arc;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::jobs::backup::BackupRequest;
use crate::repo::manifest;
use crate::scheduler::{JobKind, JobRecord, JobStatus};
use crate::sql::{BackupObject, BackupSnapshot};

use super::properties::JobProperties;
use super::submit::{OnEntry, check_statement, on_entry, start_job};
use super::{Outcome, Session};

/// `BACKUP SNAPSHOT [db.]label TO repo [ON (...)] [PROPERTIES (...)]`
pub async fn backup(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: BackupSnapshot,
) -> Result<Outcome> {
    let label = stmt.label.value.clone();
    check_statement("BACKUP", stmt.catalogs.is_some(), &label)?;
    let props = JobProperties::parse(engine, &stmt.properties, JobKind::Backup)?;
    let repo_name = stmt.repo.value.clone();
    let repo = engine.open_repository(&repo_name).await?;
    let db = match &stmt.db {
        Some(db) => db.value.clone(),
        None => session.database.clone().ok_or(Error::NoDatabaseSelected)?,
    };
    if engine.catalog.database(&db).await?.is_none() {
        return Err(Error::UnknownDatabase(db));
    }
    let Chosen { tables, views } = backup_objects(engine, &db, &stmt.on).await?;
    let view_names: Vec<String> = match &views {
        Some(names) => names.clone(),
        None => engine
            .catalog
            .views(&db)
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect(),
    };
    let (_, trees) = engine
        .catalog
        .database_trees(
            &db,
            tables
                .as_ref()
                .map(|t| t.iter().map(|(n, _)| n.clone()).collect()),
        )
        .await?;
    if trees.is_empty() && view_names.is_empty() {
        return Err(Error::Common(format!("Database: {db} is empty")));
    }
    if let Some(tables) = &tables {
        for (table, partitions) in tables {
            let tree = trees
                .iter()
                .find(|t| t.table.name.eq_ignore_ascii_case(table));
            for p in partitions {
                if !tree.is_some_and(|t| {
                    t.partitions
                        .iter()
                        .any(|x| x.partition.name.eq_ignore_ascii_case(p))
                }) {
                    return Err(Error::Common(format!(
                        "Unknown partition {p} in table {table}"
                    )));
                }
            }
        }
    }
    if repo.meta.read_only {
        return Err(Error::Common(format!(
            "Repository {repo_name} is read only"
        )));
    }
    for other in engine.jobs.all_latest() {
        let r = other.record();
        if !r.state.is_done() && r.label == label && r.repo.eq_ignore_ascii_case(&repo_name) {
            return Err(Error::Common(format!(
                "Snapshot '{label}' is being written by backup job {} of database {}; wait for it \
                 to finish or CANCEL BACKUP FROM {}",
                r.id, r.db, r.db
            )));
        }
    }
    let objects = trees
        .iter()
        .map(|t| {
            let parts = tables
                .as_ref()
                .and_then(|ts| {
                    ts.iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(&t.table.name))
                })
                .map(|(_, p)| p.clone())
                .unwrap_or_default();
            if parts.is_empty() {
                format!("[{db}.{}]", t.table.name)
            } else {
                format!("[{db}.{}PARTITIONS ({})]", t.table.name, parts.join(", "))
            }
        })
        .chain(view_names.iter().map(|v| format!("[{db}.{v}]")))
        .collect::<Vec<_>>()
        .join(", ");
    let created_ms = chrono::Utc::now().timestamp_millis();
    let record = JobRecord {
        label,
        db,
        repo: repo_name,
        timestamp: manifest::snapshot_timestamp(created_ms),
        objects,
        timeout_s: props.timeout_s,
        ..JobRecord::pending(JobKind::Backup, engine.catalog.new_id().await?, created_ms)
    };
    let request = BackupRequest {
        tables,
        views,
        ttl: props.ttl.clone(),
        // On the clock the expiry loop reads (the same as `created_ms` but in tests).
        expires_ms: props
            .ttl_ms
            .map(|ms| crate::clock::now_ms().saturating_add(ms)),
        transfer: props.transfer,
    };
    let timeout = JobStatus::error("TIMEOUT", "");
    start_job(engine, record, timeout, props.sync, |engine, job| {
        crate::jobs::backup::run(engine, job, repo, request)
    })
    .await
}

/// What an `ON (...)` list names: the tables (with partitions) and the views; `None` for
/// every one there is.
struct Chosen {
    tables: Option<Vec<(String, Vec<String>)>>,
    views: Option<Vec<String>>,
}

/// The objects an `ON (...)` list names; no list is the whole database.
async fn backup_objects(engine: &Engine, db: &str, on: &[BackupObject]) -> Result<Chosen> {
    if on.is_empty() {
        return Ok(Chosen {
            tables: None,
            views: None,
        });
    }
    let mut tables: Option<Vec<(String, Vec<String>)>> = Some(Vec::new());
    let mut views: Option<Vec<String>> = Some(Vec::new());
    let duplicated =
        |tables: &Option<Vec<(String, Vec<String>)>>, views: &Option<Vec<String>>, name: &str| {
            tables
                .iter()
                .flatten()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
                || views.iter().flatten().any(|n| n.eq_ignore_ascii_case(name))
        };
    for object in on {
        match on_entry(
            "BACKUP",
            object,
            "Do not support backing up temp partitions",
        )? {
            OnEntry::AllTables => tables = None,
            OnEntry::AllViews => views = None,
            OnEntry::Table(name, object, bare) => {
                if duplicated(&tables, &views, &name) {
                    return Err(Error::Common(format!("Duplicated table: {name}")));
                }
                // A bare name may be a view's.
                if bare
                    && object.partitions.is_empty()
                    && let Some(view) = engine.catalog.view(db, &name).await?
                {
                    if let Some(views) = &mut views {
                        views.push(view.name);
                    }
                    continue;
                }
                // An unknown table fails here, with the catalog's error.
                let table = engine.catalog.table(db, &name).await?;
                if let Some(tables) = &mut tables {
                    tables.push((
                        table.name,
                        object.partitions.iter().map(|p| p.value.clone()).collect(),
                    ));
                }
            }
            OnEntry::AllMaterialized => {
                for table in engine.catalog.tables(db).await? {
                    if table.materialized.is_some()
                        && !duplicated(&tables, &views, &table.name)
                        && let Some(tables) = &mut tables
                    {
                        tables.push((table.name, Vec::new()));
                    }
                }
            }
            OnEntry::Materialized(name, _) => {
                if duplicated(&tables, &views, &name) {
                    return Err(Error::Common(format!("Duplicated table: {name}")));
                }
                let table = engine.catalog.materialized(db, &name).await?;
                if let Some(tables) = &mut tables {
                    tables.push((table.name, Vec::new()));
                }
            }
            OnEntry::View(name, _) => {
                if duplicated(&tables, &views, &name) {
                    return Err(Error::Common(format!("Duplicated view: {name}")));
                }
                let Some(view) = engine.catalog.view(db, &name).await? else {
                    return Err(if engine.catalog.relation_exists(db, &name).await? {
                        crate::catalog::CatalogError::not_view(db, &name).into()
                    } else {
                        crate::catalog::CatalogError::UnknownTable(format!("{db}.{name}")).into()
                    });
                };
                if let Some(views) = &mut views {
                    views.push(view.name);
                }
            }
        }
    }
    Ok(Chosen { tables, views })
}
