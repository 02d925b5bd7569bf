//! Asynchronous materialized views: a table whose rows are a query's, replaced as a whole by
//! each refresh (`REFRESH MATERIALIZED VIEW`, or its `EVERY` schedule). The table is a
//! [`TableMeta`] like any other (its rowsets, partitions and tablets are a table's); what makes
//! it a materialized view is [`TableMeta::materialized`], which only refreshes and
//! `ALTER MATERIALIZED VIEW` change.

use serde::{Deserialize, Serialize};

use super::schema::TableMeta;
use super::tables::MetaTables;
use super::{Catalog, CatalogError};

/// What makes a table a materialized view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Materialized {
    /// The query, as SQL text (names without a database are the view's database's).
    pub definition: String,
    pub refresh: Refresh,
    /// Whether it may be refreshed: `ALTER MATERIALIZED VIEW ... INACTIVE`, or a RESTORE without
    /// its base tables, stops it (with `inactive_reason`).
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_reason: Option<String>,
    /// The last refresh that started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh: Option<RefreshRun>,
    /// `user@host` whose privileges a refresh reads with: who created it, or who restored it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub definer: String,
    /// Set by a RESTORE: `label/timestamp` of the snapshot its rows came from (they are as
    /// fresh as `last_refresh` says); the next refresh clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
}

/// How a materialized view is refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refresh {
    /// `REFRESH MANUAL`: only `REFRESH MATERIALIZED VIEW`.
    Manual,
    /// `REFRESH ASYNC [START (t)] [EVERY (INTERVAL n unit)]`: also every `every_s` seconds from
    /// `start_ms` (without EVERY, only when asked, as MANUAL).
    Async {
        #[serde(default)]
        start_ms: Option<i64>,
        #[serde(default)]
        every_s: Option<u64>,
    },
}

/// One refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRun {
    pub start_ms: i64,
    /// 0 while it runs.
    pub finished_ms: i64,
    pub state: RefreshState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Rows the refresh wrote.
    #[serde(default)]
    pub rows: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RefreshState {
    Running,
    Success,
    Failed,
}

impl RefreshState {
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshState::Running => "RUNNING",
            RefreshState::Success => "SUCCESS",
            RefreshState::Failed => "FAILED",
        }
    }
}

impl Refresh {
    /// StarRocks' `refresh_type`.
    pub fn kind(self) -> &'static str {
        match self {
            Refresh::Manual => "MANUAL",
            Refresh::Async { .. } => "ASYNC",
        }
    }

    /// When a view refreshed last at `last_start_ms` (`None`: never) is due next by its
    /// schedule, ms since the epoch; `None` when it has no schedule.
    pub fn next_due_ms(self, last_start_ms: Option<i64>, created_ms: i64) -> Option<i64> {
        let Refresh::Async {
            start_ms,
            every_s: Some(every_s),
        } = self
        else {
            return None;
        };
        let every_ms = i64::try_from(every_s.saturating_mul(1000))
            .unwrap_or(i64::MAX)
            .max(1);
        // Without START the schedule's first tick is one interval after creation (a view
        // created IMMEDIATE has had its first refresh by then).
        let start = start_ms.unwrap_or_else(|| created_ms.saturating_add(every_ms));
        Some(match last_start_ms {
            None => start,
            // The first tick of the schedule after the last run.
            Some(last) if last < start => start,
            Some(last) => {
                let ticks = last.saturating_sub(start) / every_ms + 1;
                start.saturating_add(ticks.saturating_mul(every_ms))
            }
        })
    }
}

fn not_materialized(db: &str, name: &str) -> CatalogError {
    CatalogError::WrongObject {
        name: format!("{db}.{name}"),
        expected: "MATERIALIZED VIEW",
        hint: "",
    }
}

impl Catalog {
    /// Changes the materialized view `db`.`name` (when `id` is given, only if it is still the
    /// table with that id) by `change` in one transaction; returns the table as it is after. A
    /// table that is not a materialized view is refused.
    pub async fn change_materialized(
        &self,
        db: &str,
        name: &str,
        id: Option<u64>,
        change: impl FnOnce(&mut Materialized) -> Result<(), CatalogError> + Send + 'static,
    ) -> Result<TableMeta, CatalogError> {
        let (db, name) = (db.to_string(), name.to_string());
        self.write(move |txn| {
            let mut t = MetaTables::open(txn)?;
            let mut table = t.table(&db, &name)?;
            if id.is_some_and(|id| id != table.id) {
                return Err(CatalogError::TableBusy {
                    table: name,
                    why: "it was dropped, renamed or replaced meanwhile".into(),
                });
            }
            let Some(mv) = table.materialized.as_mut() else {
                return Err(not_materialized(&db, &name));
            };
            change(mv)?;
            t.put_table(&table)?;
            Ok(table)
        })
        .await
    }

    /// The materialized view `db`.`name`, or why it is not one.
    pub async fn materialized(&self, db: &str, name: &str) -> Result<TableMeta, CatalogError> {
        let table = match self.table(db, name).await {
            // A view of the name is the wrong kind of object, not a missing one.
            Err(CatalogError::UnknownTable(missing)) => {
                return Err(if self.view(db, name).await?.is_some() {
                    not_materialized(db, name)
                } else {
                    CatalogError::UnknownTable(missing)
                });
            }
            other => other?,
        };
        if table.materialized.is_none() {
            return Err(not_materialized(db, name));
        }
        Ok(table)
    }

    /// Every materialized view of every database, with its database's name.
    pub async fn all_materialized(&self) -> Result<Vec<(String, TableMeta)>, CatalogError> {
        let mut all = self.all_tables().await?;
        all.retain(|(_, t)| t.materialized.is_some());
        Ok(all)
    }

    /// Every table of every database, with its database's name (for the background loops).
    pub async fn all_tables(&self) -> Result<Vec<(String, TableMeta)>, CatalogError> {
        let mut out = Vec::new();
        for db in self.databases().await? {
            match self.tables(&db.name).await {
                Ok(tables) => out.extend(tables.into_iter().map(|t| (db.name.clone(), t))),
                // Dropped since it was listed.
                Err(CatalogError::UnknownDatabase(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_tick_from_their_start() {
        let every = Refresh::Async {
            start_ms: Some(10_000),
            every_s: Some(60),
        };
        assert_eq!(every.next_due_ms(None, 0), Some(10_000));
        assert_eq!(every.next_due_ms(Some(5_000), 0), Some(10_000));
        assert_eq!(every.next_due_ms(Some(10_000), 0), Some(70_000));
        assert_eq!(every.next_due_ms(Some(69_999), 0), Some(70_000));
        assert_eq!(every.next_due_ms(Some(200_000), 0), Some(250_000));
        let from_creation = Refresh::Async {
            start_ms: None,
            every_s: Some(1),
        };
        assert_eq!(from_creation.next_due_ms(None, 7_000), Some(8_000));
        assert_eq!(from_creation.next_due_ms(Some(8_500), 7_000), Some(9_000));
        // Hostile numbers saturate instead of overflowing.
        let extreme = Refresh::Async {
            start_ms: Some(i64::MIN),
            every_s: Some(u64::MAX),
        };
        assert!(extreme.next_due_ms(Some(i64::MAX), 0).is_some());
        assert_eq!(Refresh::Manual.next_due_ms(None, 0), None);
        let no_every = Refresh::Async {
            start_ms: None,
            every_s: None,
        };
        assert_eq!(no_every.next_due_ms(None, 0), None);
    }
}
