//! The shared handle every session and job uses: configuration, the catalog, the users, the
//! scheduler's job registry, the opened repositories (the one way to open one:
//! [`Engine::open_repository`]) with their collection-round locks, the rowset pins and their
//! collector, and the query engine's runtime. It holds handles and spawns nothing of the jobs'
//! (those start from [`crate::jobs::start_background`]).

use std::sync::Arc;
use std::time::Instant;

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::catalog::Catalog;
use crate::config::Config;
use crate::error::{Error, Result};

/// The version string clients see. Drivers parse the leading MySQL version to pick features,
/// so it starts with the MySQL release whose protocol and variables we follow.
pub const SERVER_VERSION: &str = concat!("8.0.33-backstop-", env!("CARGO_PKG_VERSION"));

pub struct Engine {
    pub config: Config,
    pub catalog: Catalog,
    pub started: Instant,
    /// Client connections being served now (`Threads_connected`).
    pub connections: std::sync::atomic::AtomicUsize,
    /// Statements received since start (`Questions`).
    pub questions: std::sync::atomic::AtomicU64,
    /// Who still needs which rowset file; the collector deletes the rest.
    pub pins: Arc<crate::store::pins::Pins>,
    /// BACKUP and RESTORE jobs: the latest of each database.
    pub jobs: crate::scheduler::Jobs,
    /// Repositories opened so far.
    pub repos: crate::repo::Registry,
    /// Collection rounds: one at a time per repository on this server.
    pub gc_locks: crate::repo::gc::RoundLocks,
    /// One memory pool shared by every query, bounded by `--query-memory-limit`.
    runtime: Arc<RuntimeEnv>,
    /// Users and grants, as stored in the catalog (root's password included).
    pub users: crate::catalog::users::UserCache,
    /// The connections being served, for KILL.
    pub sessions: Sessions,
    /// Writes that delete rows (keyed tables' loads, DELETE, UPDATE): one at a time per table.
    pub table_locks: crate::store::keyed::TableLocks,
    /// `ADMIN SET FRONTEND CONFIG`'s settings, for this run of the daemon (StarRocks does not
    /// persist them either): whether dynamic partitioning runs, and how often it looks.
    pub dynamic_partition_enable: std::sync::atomic::AtomicBool,
    pub dynamic_partition_interval: std::sync::atomic::AtomicU64,
    /// Seconds between two background compaction rounds (`--compaction-interval`; 0: none).
    pub compaction_interval: std::sync::atomic::AtomicU64,
    /// Each tablet's last compaction on this server, for SHOW TABLET.
    pub compactions:
        std::sync::Mutex<std::collections::HashMap<u64, crate::store::compaction::Status>>,
    /// Tablets the background leaves alone while their files are the same (by a fingerprint of
    /// their rowset ids): their last merge failed or found nothing to write.
    pub compaction_idle: std::sync::Mutex<std::collections::HashMap<u64, u64>>,
    /// The task runs going on now, by task id: the token that stops each (ALTER TASK SUSPEND,
    /// DROP TASK).
    pub running_tasks:
        std::sync::Mutex<std::collections::HashMap<u64, tokio_util::sync::CancellationToken>>,
}

/// The connections being served, by connection id: whose each is, and the tokens that end it
/// (`KILL CONNECTION`) or its running statement (`KILL QUERY`).
#[derive(Default)]
pub struct Sessions {
    by_id: std::sync::Mutex<std::collections::HashMap<u32, SessionEntry>>,
}

struct SessionEntry {
    user: String,
    connection: tokio_util::sync::CancellationToken,
    statement: tokio_util::sync::CancellationToken,
}

/// Why a KILL found nothing to do.
#[derive(Debug, PartialEq, Eq)]
pub enum KillRefused {
    /// No such connection (MySQL's 1094).
    Unknown,
    /// Another user's connection, and the killer may not end it (1095).
    NotOwner,
}

impl Sessions {
    /// Adds a connection; it leaves the registry when the returned guard drops.
    pub fn register(
        &self,
        id: u32,
        user: &str,
        connection: tokio_util::sync::CancellationToken,
    ) -> SessionGuard<'_> {
        let entry = SessionEntry {
            user: user.to_string(),
            statement: connection.child_token(),
            connection,
        };
        self.lock().insert(id, entry);
        SessionGuard { sessions: self, id }
    }

    /// The token of the statement connection `id` starts now: a child of its connection's.
    pub fn start_statement(&self, id: u32) -> Option<tokio_util::sync::CancellationToken> {
        let mut by_id = self.lock();
        let entry = by_id.get_mut(&id)?;
        entry.statement = entry.connection.child_token();
        Some(entry.statement.clone())
    }

    /// Cancels connection `id`'s running statement, or (`whole`) the connection. `may_kill_others`:
    /// whether the killer may end connections of other users (MySQL's CONNECTION_ADMIN).
    pub fn kill(
        &self,
        id: u32,
        whole: bool,
        killer: &str,
        may_kill_others: bool,
    ) -> Result<(), KillRefused> {
        let by_id = self.lock();
        let entry = by_id.get(&id).ok_or(KillRefused::Unknown)?;
        if entry.user != killer && !may_kill_others {
            return Err(KillRefused::NotOwner);
        }
        if whole {
            entry.connection.cancel();
        } else {
            entry.statement.cancel();
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<u32, SessionEntry>> {
        // A panic while holding this lock leaves the map whole (inserts and removes only).
        self.by_id
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Removes its connection from [`Sessions`] when dropped.
pub struct SessionGuard<'a> {
    sessions: &'a Sessions,
    id: u32,
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.id);
    }
}

/// Sizes the open-files budget from the process's limit, the connections and the reserve
/// ([`crate::open_files::plan`]); when the limit cannot hold `--max-connections` beside the
/// smallest budget, fewer connections are served, and the log says so.
fn share_open_files(config: &mut Config) {
    let limit = crate::open_files::process_limit();
    let asked = u64::try_from(config.max_connections).unwrap_or(u64::MAX);
    let plan = crate::open_files::plan(limit, asked);
    if plan.connections < asked {
        tracing::warn!(
            open_files_limit = ?limit,
            max_connections = asked,
            serving = plan.connections,
            "the open-files limit cannot hold --max-connections beside the files queries, loads \
             and jobs need: serving fewer connections; raise the limit (ulimit -n, LimitNOFILE= \
             in systemd) or lower --max-connections"
        );
        config.max_connections = usize::try_from(plan.connections).unwrap_or(1);
    }
    let files = crate::open_files::init(plan.files);
    tracing::info!(
        open_files_limit = ?limit,
        files,
        connections = config.max_connections,
        "open files shared out"
    );
}

impl Engine {
    /// The write lock a load into `db.table` takes first when the table is keyed (PRIMARY KEY,
    /// UNIQUE KEY), so its upserts see every earlier one; `None` for other tables, whose loads
    /// run side by side.
    pub async fn table_locks_for(
        &self,
        db: &str,
        table: &str,
    ) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>> {
        let meta = self.catalog.table(db, table).await?;
        Ok(if meta.key.model.is_unique() {
            Some(self.table_locks.lock(meta.id).await)
        } else {
            None
        })
    }

    /// Opens the data directory (blocking: call at start-up).
    pub fn new(mut config: Config) -> Result<Arc<Self>> {
        let catalog = Catalog::open(&config.data_dir)?;
        // Rowset paths become file URLs for the query engine: make them absolute once.
        config.data_dir = std::path::absolute(&config.data_dir).map_err(|e| {
            Error::Internal(format!("cannot resolve {}: {e}", config.data_dir.display()))
        })?;
        let jobs = crate::scheduler::Jobs::load(catalog.clone())?;
        // No job runs yet: a table left marked by an interrupted restore is whole again.
        catalog.unmark_all_restoring_blocking()?;
        let committed = catalog.rowset_keys_blocking()?;
        let removed = crate::store::table::remove_unreferenced(&config.data_dir, &committed)
            .map_err(|e| Error::Internal(format!("cleaning {}: {e}", config.data_dir.display())))?;
        if removed > 0 {
            tracing::info!(
                removed,
                "removed rowset files no committed table references"
            );
        }
        let limit = usize::try_from(config.query_memory_limit).unwrap_or(usize::MAX);
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(limit, 1.0)
            .build_arc()
            .map_err(Error::Query)?;
        // Rowset files are read within the open-files budget.
        runtime.register_object_store(
            ObjectStoreUrl::local_filesystem().as_ref(),
            Arc::new(crate::store::files::BudgetedFiles::new()),
        );
        share_open_files(&mut config);
        // `--root-password` wins over a password set earlier with SQL: it is stored at each
        // start (as its hash only), so the flag is how a lost root password is reset.
        if let Some(password) = config.root_password.as_ref().filter(|p| !p.is_empty()) {
            let hash = crate::catalog::users::stored_password(password.expose());
            let users = catalog.users_blocking()?;
            let mut root = users
                .into_iter()
                .find(|u| u.name == crate::catalog::users::ROOT && u.host == "%")
                .unwrap_or_else(|| {
                    crate::catalog::users::UserMeta::new(crate::catalog::users::ROOT, "%", None)
                });
            root.password_hash = Some(hash);
            catalog.put_user_blocking(&root)?;
        }
        let users = crate::catalog::users::UserCache::new(catalog.users_blocking()?);
        let dynamic_interval = config.dynamic_partition_interval;
        let compaction_interval = config.compaction_interval;
        Ok(Arc::new(Self {
            catalog,
            users,
            config,
            started: Instant::now(),
            connections: std::sync::atomic::AtomicUsize::new(0),
            questions: std::sync::atomic::AtomicU64::new(0),
            table_locks: Default::default(),
            runtime,
            repos: crate::repo::Registry::default(),
            gc_locks: crate::repo::gc::RoundLocks::default(),
            running_tasks: std::sync::Mutex::default(),
            dynamic_partition_enable: std::sync::atomic::AtomicBool::new(dynamic_interval > 0),
            dynamic_partition_interval: std::sync::atomic::AtomicU64::new(dynamic_interval.max(1)),
            compaction_interval: std::sync::atomic::AtomicU64::new(compaction_interval),
            compactions: std::sync::Mutex::default(),
            compaction_idle: std::sync::Mutex::default(),
            pins: Arc::new(crate::store::pins::Pins::default()),
            jobs,
            sessions: Sessions::default(),
        }))
    }

    /// Starts the background work: the collector that deletes rowset files nothing uses.
    pub fn start_background(self: &Arc<Self>) {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                engine.pins.wait_for_work().await;
                let catalog = engine.catalog.clone();
                match engine
                    .pins
                    .collect(&engine.config.data_dir, || async move {
                        catalog.rowset_keys().await
                    })
                    .await
                {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "deleted rowset files nothing uses"),
                    Err(e) => tracing::warn!(error = %e, "rowset file collection failed"),
                }
            }
        });
    }

    /// The repository named `name`, opened once and cached: the one way to open a repository
    /// that the catalog knows. Unknown: StarRocks' text.
    pub async fn open_repository(&self, name: &str) -> Result<Arc<crate::repo::Repository>> {
        if let Some(repo) = self.repos.get(name) {
            return Ok(repo);
        }
        let meta = self
            .catalog
            .repository(name)
            .await?
            .ok_or_else(|| Error::Common(format!("Repository [{name}] does not exist")))?;
        let repo = Arc::new(
            crate::repo::Repository::open(meta)
                .await
                .map_err(|e| Error::Common(format!("Repository {name} cannot be opened: {e}")))?,
        );
        self.repos.insert(Arc::clone(&repo));
        Ok(repo)
    }

    /// Whether a BACKUP or RESTORE job that is not done uses the repository `name`.
    pub fn jobs_using_repository(&self, name: &str) -> bool {
        self.jobs.using_repository(name)
    }

    /// The account a client `user` connecting from `peer` (an IP address) logs in as, with its
    /// password hash; `None` for an unknown user.
    pub fn login(&self, user: &str, peer: &str) -> Option<crate::catalog::users::Account> {
        self.users.login(user, peer)
    }

    /// Reloads the user cache after the catalog changed.
    pub async fn reload_users(&self) -> Result<()> {
        self.users.replace(self.catalog.users().await?);
        Ok(())
    }

    /// A query context for one statement, seeing the session's current database.
    pub fn query_context(&self, database: Option<&str>) -> SessionContext {
        let mut config = SessionConfig::new()
            .with_information_schema(false)
            .with_target_partitions(2)
            .with_batch_size(4096);
        // Number literals are exact decimals, as in MySQL (`2.5` is DECIMAL, and a 38-digit
        // LARGEINT literal keeps every digit instead of becoming a DOUBLE).
        config.options_mut().sql_parser.parse_float_as_decimal = true;
        // NULL sorts first in ascending order, as in MySQL and StarRocks.
        config.options_mut().sql_parser.default_null_ordering = "nulls_min".to_string();
        // No statistics gathering at planning: it reads the footer of every rowset file of the
        // table (32 files at once per query), and a hundred clients over tables of many small
        // rowsets then run out of file descriptors. Scans still prune by row-group statistics.
        config.options_mut().execution.collect_statistics = false;
        if let Some(db) = database {
            // Unqualified names resolve in the session's database (for information_schema, in
            // the tables `command::information_schema` registers).
            config = config.with_default_catalog_and_schema("datafusion", db);
        }
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(Arc::clone(&self.runtime))
            .with_default_features()
            .build();
        SessionContext::new_with_state(state)
    }
}
