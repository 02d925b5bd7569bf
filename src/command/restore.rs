//! `RESTORE SNAPSHOT` and its dry run: the submission checks run here, synchronously, in
//! StarRocks' order and with its texts; the job itself runs in the background
//! ([`crate::jobs::restore`]).

use std::sync::Arc;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::jobs::restore::{RestoreItem, RestoreRequest};
use crate::repo::manifest;
use crate::scheduler::{JobKind, JobRecord, JobStatus};
use crate::sql::RestoreSnapshot;

use super::properties::JobProperties;
use super::submit::{OnEntry, check_statement, on_entry, start_job};
use super::{Outcome, Session};

/// `RESTORE SNAPSHOT [db.]label FROM repo [DATABASE src [AS tgt]] [ON (...)] PROPERTIES (...)`
pub async fn restore(
    engine: &Arc<Engine>,
    session: &mut Session,
    stmt: RestoreSnapshot,
) -> Result<Outcome> {
    let label = stmt.label.value.clone();
    check_statement("RESTORE", stmt.catalogs.is_some(), &label)?;
    let props = JobProperties::parse(engine, &stmt.properties, JobKind::Restore)?;
    let timestamp = props
        .backup_timestamp
        .clone()
        .ok_or_else(|| Error::Common("Missing backup_timestamp property".into()))?;
    let repo_name = stmt.repo.value.clone();
    if engine.catalog.repository(&repo_name).await?.is_none() {
        return Err(Error::Common(format!(
            "Repository {repo_name} does not exist"
        )));
    }
    let repo = engine.open_repository(&repo_name).await?;
    let manifest = manifest::read_committed(&repo.store, &label, &timestamp)
        .await
        .map_err(|e| {
            let hint = if matches!(e, manifest::SnapshotError::Missing { .. }) {
                ". Maybe specified wrong backup timestamp"
            } else {
                ""
            };
            Error::Common(format!(
                "Failed to get info of snapshot '{label}' because: {e}{hint}"
            ))
        })?;
    if let Some(db) = &stmt.database
        && !db.source.value.eq_ignore_ascii_case(&manifest.database)
    {
        return Err(Error::Common(format!(
            "target database: {} is not existed in snapshot",
            db.source.value
        )));
    }
    let db = stmt
        .target_db()
        .map(|d| d.value.clone())
        .unwrap_or_else(|| manifest.database.clone());
    crate::catalog::validate_database_name(&db)?;
    let mut items: Vec<RestoreItem> = Vec::new();
    let mut views: Vec<RestoreItem> = Vec::new();
    let whole = |names: &mut dyn Iterator<Item = &String>| {
        names
            .map(|n| RestoreItem {
                source: n.clone(),
                target: n.clone(),
                partitions: Vec::new(),
            })
            .collect::<Vec<_>>()
    };
    let all_tables = |m: &manifest::Manifest| whole(&mut m.tables.iter().map(|t| &t.name));
    let all_views = |m: &manifest::Manifest| whole(&mut m.views.iter().map(|v| &v.name));
    if stmt.on.is_empty() {
        items = all_tables(&manifest);
        views = all_views(&manifest);
    }
    // A name (source or target) may be taken once, by a table or a view.
    let check_free = |items: &[RestoreItem], views: &[RestoreItem], source: &str, target: &str| {
        let all = || items.iter().chain(views);
        if all().any(|i| i.source.eq_ignore_ascii_case(source)) {
            return Err(Error::Common(format!("Duplicated table: {source}")));
        }
        crate::catalog::validate_table_name(target)?;
        if all().any(|i| i.target.eq_ignore_ascii_case(target)) {
            return Err(Error::Common(format!("Duplicated alias name: {target}")));
        }
        Ok(())
    };
    for object in &stmt.on {
        let (name, object, is_view) = match on_entry(
            "RESTORE",
            object,
            "Do not support restoring temporary partitions",
        )? {
            OnEntry::AllTables => {
                items = all_tables(&manifest);
                continue;
            }
            OnEntry::AllViews => {
                views = all_views(&manifest);
                continue;
            }
            // A bare name may be a view's.
            OnEntry::Table(name, object, bare) => {
                let is_view = bare
                    && object.partitions.is_empty()
                    && manifest.table(&name).is_none()
                    && manifest.view(&name).is_some();
                (name, object, is_view)
            }
            OnEntry::View(name, object) => (name, object, true),
            OnEntry::AllMaterialized => {
                for t in manifest.tables.iter().filter(|t| t.materialized.is_some()) {
                    if !items.iter().any(|i| i.source.eq_ignore_ascii_case(&t.name)) {
                        check_free(&items, &views, &t.name, &t.name)?;
                        items.push(RestoreItem {
                            source: t.name.clone(),
                            target: t.name.clone(),
                            partitions: Vec::new(),
                        });
                    }
                }
                continue;
            }
            OnEntry::Materialized(name, object) => {
                if manifest
                    .table(&name)
                    .is_none_or(|t| t.materialized.is_none())
                {
                    return Err(Error::Common(format!(
                        "Materialized view {name} does not exist in snapshot {label}"
                    )));
                }
                (name, object, false)
            }
        };
        let source = if is_view {
            manifest.view(&name).map(|v| &v.name)
        } else {
            manifest.table(&name).map(|t| &t.name)
        };
        let Some(source) = source else {
            return Err(Error::Common(format!(
                "{} {name} does not exist in snapshot {label}",
                if is_view { "View" } else { "Table" }
            )));
        };
        let target = object
            .alias
            .as_ref()
            .map_or_else(|| source.clone(), |a| a.value.clone());
        check_free(&items, &views, source, &target)?;
        if is_view {
            views.push(RestoreItem {
                source: source.clone(),
                target,
                partitions: Vec::new(),
            });
            continue;
        }
        let table = manifest
            .table(&name)
            .ok_or_else(|| Error::Internal(format!("table {name} vanished from the manifest")))?;
        for p in &object.partitions {
            if !table
                .partitions
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case(&p.value))
            {
                return Err(Error::Common(format!(
                    "Partition {} of table {name} does not exist in snapshot {label}",
                    p.value
                )));
            }
        }
        items.push(RestoreItem {
            source: table.name.clone(),
            target,
            partitions: object.partitions.iter().map(|p| p.value.clone()).collect(),
        });
    }
    if items.is_empty() && views.is_empty() {
        return Err(Error::Common(format!(
            "Snapshot {label} holds no table to restore"
        )));
    }
    // A restored view or materialized view reads with its restorer's privileges: the restorer
    // must be able to read what each one reads, as if creating it.
    let definitions = views
        .iter()
        .filter_map(|v| manifest.view(&v.source).map(|v| &v.definition))
        .chain(items.iter().filter_map(|i| {
            manifest
                .table(&i.source)
                .and_then(|t| t.materialized.as_ref())
                .map(|m| &m.definition)
        }));
    for definition in definitions {
        let mut query = crate::sql::parse_view_query(definition).map_err(Error::Common)?;
        crate::sql::qualify(&mut query, &db);
        super::privilege::require_reads(engine, session, &sqlparser::ast::Statement::Query(query))?;
    }
    let definer = format!("{}@{}", session.user, session.account_host);
    if props.replication_num.is_some() && engine.catalog.database(&db).await?.is_some() {
        let existing = engine.catalog.tables(&db).await?;
        for item in &items {
            if existing
                .iter()
                .any(|t| t.name.eq_ignore_ascii_case(&item.target))
            {
                session.warnings.push(super::Warning {
                    level: "Warning",
                    code: 1105,
                    message: format!(
                        "replication_num is ignored for the existing table {}: a single server holds one replica",
                        item.target
                    ),
                });
            }
        }
    }
    if props.dry_run {
        let request = RestoreRequest {
            manifest,
            items,
            views,
            definer: definer.clone(),
            reserve_dynamic: props.reserve_dynamic,
            replication_num: props.replication_num,
            transfer: props.transfer,
        };
        return restore_dry_run(engine, &db, &request).await;
    }
    let objects = items
        .iter()
        .map(|i| {
            if i.partitions.is_empty() {
                i.source.clone()
            } else {
                format!("{} PARTITIONS [{}]", i.source, i.partitions.join(", "))
            }
        })
        .chain(views.iter().map(|v| v.source.clone()))
        .collect::<Vec<_>>()
        .join(", ");
    let timeout = JobStatus::error(
        "TIMEOUT",
        format!("restore job with label: {label}  timeout."),
    );
    let record = JobRecord {
        label,
        db,
        repo: repo_name,
        timestamp,
        objects,
        timeout_s: props.timeout_s,
        allow_load: props.allow_load,
        replication_num: props.replication_num.unwrap_or(1),
        ..JobRecord::pending(
            JobKind::Restore,
            engine.catalog.new_id().await?,
            chrono::Utc::now().timestamp_millis(),
        )
    };
    let request = RestoreRequest {
        manifest,
        items,
        views,
        definer,
        reserve_dynamic: props.reserve_dynamic,
        replication_num: props.replication_num,
        transfer: props.transfer,
    };
    start_job(engine, record, timeout, props.sync, |engine, job| {
        crate::jobs::restore::run(engine, job, repo, request)
    })
    .await
}

/// `RESTORE ... PROPERTIES ("dry_run" = "true")`: what the restore would do, from the same
/// plan a real restore checks first. One row per action, conflict, and a TOTAL row.
async fn restore_dry_run(
    engine: &Engine,
    db: &str,
    request: &crate::jobs::restore::RestoreRequest,
) -> Result<Outcome> {
    use crate::jobs::restore::Conflict;
    let mut plan = crate::jobs::restore::plan(engine, db, request, None)
        .await
        .map_err(|e| match e {
            crate::scheduler::JobError::Failed(s) => Error::Common(s.msg),
            crate::scheduler::JobError::Cancelled => Error::Common("cancelled".into()),
        })?;
    if engine.jobs.latest(db).is_some_and(|j| !j.state().is_done()) {
        plan.conflicts.insert(
            0,
            Conflict {
                table: None,
                message: "Can only run one backup or restore job of a database at same time".into(),
            },
        );
    }
    let row = |action: &str,
               table: Option<&str>,
               partition: Option<&str>,
               detail: String,
               objects: Option<u64>,
               bytes: Option<u64>| {
        vec![
            Some(action.to_string()),
            Some(db.to_string()),
            table.map(str::to_string),
            partition.map(str::to_string),
            Some(detail),
            objects.map(|n| n.to_string()),
            bytes.map(|n| n.to_string()),
        ]
    };
    let mut rows = Vec::new();
    if plan.creates_database {
        rows.push(row(
            "CREATE DATABASE",
            None,
            None,
            String::new(),
            None,
            None,
        ));
    }
    for t in &plan.tables {
        let size = |p: &crate::repo::manifest::ManifestPartition| {
            p.tablets
                .iter()
                .flat_map(|t| t.files())
                .fold((0u64, 0u64), |(n, b), (r, _)| (n + 1, b + r.size))
        };
        if t.target.is_none() {
            let (objects, bytes) = t
                .source
                .partitions
                .iter()
                .map(size)
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            let (action, mut detail) = match &t.source.materialized {
                Some(_) => (
                    "CREATE MATERIALIZED VIEW",
                    format!("from snapshot materialized view {}", t.source.name),
                ),
                None => (
                    "CREATE TABLE",
                    format!("from snapshot table {}", t.source.name),
                ),
            };
            if let Some(reason) = t
                .source
                .materialized
                .as_ref()
                .and_then(|m| m.inactive_reason.as_ref())
            {
                detail.push_str(&format!("; inactive: {reason}"));
            }
            rows.push(row(
                action,
                Some(&t.item.target),
                None,
                detail,
                Some(objects),
                Some(bytes),
            ));
        }
        for p in &t.source.partitions {
            let (objects, bytes) = size(p);
            let action = if t.target.is_none() {
                "RESTORE PARTITION"
            } else if t.overwrites(&p.name) {
                "OVERWRITE PARTITION"
            } else {
                "ADD PARTITION"
            };
            rows.push(row(
                action,
                Some(&t.item.target),
                Some(&p.name),
                format!("{} rows, version {}", p.rows, p.visible_version),
                Some(objects),
                Some(bytes),
            ));
        }
    }
    for v in &plan.views {
        let mut detail = format!("from snapshot view {}", v.source.name);
        if let Some(reason) = &v.inactive {
            detail.push_str(&format!("; restored inactive: {reason}"));
        }
        rows.push(row(
            if v.replaces {
                "REPLACE VIEW"
            } else {
                "CREATE VIEW"
            },
            Some(&v.item.target),
            None,
            detail,
            None,
            None,
        ));
    }
    for c in &plan.conflicts {
        rows.push(row(
            "CONFLICT",
            c.table.as_deref(),
            None,
            c.message.clone(),
            None,
            None,
        ));
    }
    let summary = match plan.conflicts.first() {
        None => format!(
            "DRY RUN: would download {} objects ({}); nothing was changed",
            plan.objects,
            crate::scheduler::human_bytes(plan.bytes)
        ),
        Some(c) => format!(
            "DRY RUN: the restore would fail: {}; nothing was changed",
            c.message
        ),
    };
    rows.push(row(
        "TOTAL",
        None,
        None,
        summary,
        Some(plan.objects),
        Some(plan.bytes),
    ));
    Outcome::text_table(
        &[
            "Action",
            "Database",
            "Table",
            "Partition",
            "Detail",
            "Objects",
            "Bytes",
        ],
        rows,
    )
}
