//! Who may run what: the one check every statement passes before it runs ([`authorize`]).
//!
//! The rules (docs/privileges.md):
//! - `root`, and users with the `root` role or 2.x `ADMIN_PRIV`, may do everything ("admin").
//! - Backup, restore, repository and snapshot statements need admin, or the `REPOSITORY`
//!   privilege (on SYSTEM, also from the `db_admin` role) plus: `SELECT` on every table backed
//!   up (BACKUP), `CREATE` and `INSERT` on every table restored (RESTORE). Refused with
//!   StarRocks' 5203 naming the missing privilege. Another statement family joins by calling
//!   [`require_repository`] (or adding its arm in [`authorize`]).
//! - User management (CREATE/ALTER/DROP USER, GRANT, REVOKE, SHOW USERS, another user's
//!   password or grants) needs admin or the `user_admin` role; 5203 names `GRANT` on SYSTEM.
//! - Ordinary SQL needs `SELECT` / `INSERT` / `CREATE` / `DROP` / `ALTER` on `*.*`, `db.*` or
//!   the table (`db_admin` has them all); refused with MySQL's 1142 (table) or 1044 (database),
//!   which MySQL clients and tools already understand.

use std::ops::ControlFlow;
use std::sync::Arc;

use sqlparser::ast::{ObjectName, TableFactor, Visit, Visitor};

use super::Session;
use crate::catalog::users::{ROOT, UserMeta, bits};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::sql::{BackupObject, JobTarget, ObjectKind, Statement};

/// The privileges one session's user holds right now (grants apply at the next statement).
pub struct Privileges {
    user: String,
    host: String,
    /// `None` for root without a row, or a user dropped while connected (no privileges).
    meta: Option<UserMeta>,
    is_root: bool,
}

impl Privileges {
    pub fn of(engine: &Engine, session: &Session) -> Self {
        Privileges {
            user: session.user.clone(),
            host: session.account_host.clone(),
            meta: engine.users.get(&session.user, &session.account_host),
            is_root: session.user == ROOT,
        }
    }

    fn has_role(&self, role: &str) -> bool {
        self.meta
            .as_ref()
            .is_some_and(|m| m.roles.iter().any(|r| r.eq_ignore_ascii_case(role)))
    }

    /// Everything: root, the `root` role, `ADMIN_PRIV`.
    pub fn is_admin(&self) -> bool {
        self.is_root || self.has_role("root") || self.meta.as_ref().is_some_and(|m| m.admin)
    }

    /// User management: admin or `user_admin`.
    pub fn can_manage_users(&self) -> bool {
        self.is_admin() || self.has_role("user_admin")
    }

    /// `REPOSITORY` on SYSTEM: admin, `db_admin`, or granted.
    pub fn has_repository(&self) -> bool {
        self.is_admin()
            || self.has_role("db_admin")
            || self.meta.as_ref().is_some_and(|m| m.repository)
    }

    /// Every data privilege everywhere: admin or `db_admin`.
    fn all_data(&self) -> bool {
        self.is_admin() || self.has_role("db_admin")
    }

    /// Whether every bit of `need` is held on `db.table` (`table: None`: on the database, i.e.
    /// through `*.*` or `db.*`). Bits may come from different grants.
    pub fn has(&self, db: &str, table: Option<&str>, need: u8) -> bool {
        if self.all_data() {
            return true;
        }
        let Some(meta) = &self.meta else { return false };
        let held = meta
            .grants
            .iter()
            .filter(|g| match (&g.db, &g.table) {
                (None, _) => true,
                (Some(d), None) => d.eq_ignore_ascii_case(db),
                (Some(d), Some(t)) => {
                    d.eq_ignore_ascii_case(db) && table.is_some_and(|x| t.eq_ignore_ascii_case(x))
                }
            })
            .fold(0u8, |acc, g| acc | g.privileges);
        held & need == need
    }

    /// Whether `need` is held on the database or on at least one table in it.
    pub fn has_any_in(&self, db: &str, need: u8) -> bool {
        if self.has(db, None, need) {
            return true;
        }
        self.meta.as_ref().is_some_and(|m| {
            m.grants.iter().any(|g| {
                g.db.as_deref().is_some_and(|d| d.eq_ignore_ascii_case(db))
                    && g.table
                        .as_deref()
                        .is_some_and(|t| self.has(db, Some(t), need))
            })
        })
    }

    fn roles(&self) -> String {
        let mut roles: Vec<String> = self
            .meta
            .as_ref()
            .map(|m| m.roles.clone())
            .unwrap_or_default();
        if self.is_root {
            roles.push("root".into());
        }
        if roles.is_empty() {
            "NONE".into()
        } else {
            roles.join(", ")
        }
    }

    /// 5203 naming `privilege` on `object`.
    pub fn denied(&self, privilege: &str, object: &str) -> Error {
        Error::PrivilegeDenied {
            privilege: privilege.to_string(),
            object: object.to_string(),
            roles: self.roles(),
        }
    }

    fn table_denied(&self, command: &'static str, table: &str) -> Error {
        Error::TableAccessDenied {
            command,
            user: self.user.clone(),
            host: self.host.clone(),
            table: table.to_string(),
        }
    }

    fn db_denied(&self, db: &str) -> Error {
        Error::DbAccessDenied {
            user: self.user.clone(),
            host: self.host.clone(),
            db: db.to_string(),
        }
    }

    /// REPOSITORY, else 5203.
    pub fn require_repository(&self) -> Result<()> {
        if self.has_repository() {
            Ok(())
        } else {
            Err(self.denied("REPOSITORY", "SYSTEM"))
        }
    }

    /// User management, else 5203.
    pub fn require_user_admin(&self) -> Result<()> {
        if self.can_manage_users() {
            Ok(())
        } else {
            Err(self.denied("GRANT", "SYSTEM"))
        }
    }

    /// Ordinary SQL on a table: 1142 when a bit of `need` is missing.
    fn require_table(&self, db: &str, table: &str, need: u8) -> Result<()> {
        if db.eq_ignore_ascii_case(crate::catalog::INFORMATION_SCHEMA)
            || self.has(db, Some(table), need)
        {
            return Ok(());
        }
        let missing = need & !self.held_on(db, Some(table));
        let command = bits::names(if missing == 0 { need } else { missing })
            .first()
            .copied()
            .unwrap_or("SELECT");
        Err(self.table_denied(command, table))
    }

    fn held_on(&self, db: &str, table: Option<&str>) -> u8 {
        [
            bits::SELECT,
            bits::INSERT,
            bits::CREATE,
            bits::DROP,
            bits::ALTER,
        ]
        .into_iter()
        .filter(|b| self.has(db, table, *b))
        .fold(0, |a, b| a | b)
    }

    /// Ordinary SQL on a database: 1044.
    fn require_db(&self, db: &str, need: u8) -> Result<()> {
        if self.has(db, None, need) {
            Ok(())
        } else {
            Err(self.db_denied(db))
        }
    }

    /// Backup/restore statements on a table: 5203 naming the first missing privilege.
    fn require_for_job(&self, db: &str, table: Option<&str>, need: u8) -> Result<()> {
        if self.has(db, table, need) {
            return Ok(());
        }
        let missing = need & !self.held_on(db, table);
        let name = bits::names(missing).join(", ");
        let object = match table {
            Some(t) => format!("TABLE {db}.{t}"),
            None => format!("DATABASE {db}"),
        };
        Err(self.denied(&name, &object))
    }
}

/// The check for the REPOSITORY privilege, for statements that need only that (SHOW SNAPSHOT,
/// SHOW REPOSITORIES, DROP/VERIFY SNAPSHOT, SHOW/CANCEL VERIFY, CREATE/DROP REPOSITORY).
pub fn require_repository(engine: &Engine, session: &Session) -> Result<()> {
    Privileges::of(engine, session).require_repository()
}

/// Refuses `stmt` when the session's user lacks a privilege it needs. Called once per
/// statement, before it runs.
pub async fn authorize(engine: &Arc<Engine>, session: &Session, stmt: &Statement) -> Result<()> {
    let p = Privileges::of(engine, session);
    if p.is_admin() {
        return Ok(());
    }
    let current = session.database.as_deref();
    match stmt {
        Statement::CreateRepository(_)
        | Statement::DropRepository(_)
        | Statement::ShowRepositories
        | Statement::ShowSnapshot(_)
        | Statement::DropSnapshot(_)
        | Statement::VerifySnapshot(_)
        | Statement::ShowVerify(_)
        | Statement::CancelVerify(_) => p.require_repository(),
        Statement::BackupSnapshot(b) => {
            p.require_repository()?;
            let Some(db) = b.db.as_ref().map(|d| d.value.as_str()).or(current) else {
                return Ok(()); // the statement itself reports "No database selected"
            };
            for table in backup_tables(engine, db, &b.on).await? {
                p.require_for_job(db, Some(&table), bits::SELECT)?;
            }
            Ok(())
        }
        Statement::RestoreSnapshot(r) => {
            p.require_repository()?;
            let need = bits::CREATE | bits::INSERT;
            let Some(db) = r.target_db().map(|d| d.value.as_str()) else {
                // The snapshot names the database: only privileges on every database cover it.
                return if p.has_global(need) {
                    Ok(())
                } else {
                    Err(p.denied(&bits::names(need).join(", "), "ALL DATABASES"))
                };
            };
            match named_tables(&r.on) {
                Some(tables) => {
                    for (source, alias) in tables {
                        p.require_for_job(db, Some(alias.as_deref().unwrap_or(&source)), need)?;
                    }
                    Ok(())
                }
                None => p.require_for_job(db, None, need),
            }
        }
        Statement::ShowBackup(s) | Statement::ShowRestore(s) => {
            p.require_repository()?;
            let need = if matches!(stmt, Statement::ShowBackup(_)) {
                bits::SELECT
            } else {
                bits::INSERT
            };
            match &s.db {
                Some(db) => job_db(&p, &db.value, need),
                // Without FROM every database's job is listed.
                None if p.has_global(need) => Ok(()),
                None => Err(p.denied(&bits::names(need).join(", "), "ALL DATABASES")),
            }
        }
        Statement::CancelBackup(c) | Statement::CancelRestore(c) => {
            p.require_repository()?;
            let need = if matches!(stmt, Statement::CancelBackup(_)) {
                bits::SELECT
            } else {
                bits::INSERT
            };
            match &c.target {
                JobTarget::Database(db) => job_db(&p, &db.value, need),
                JobTarget::ExternalCatalog => Ok(()),
            }
        }
        Statement::CreateUser(_)
        | Statement::AlterUser(_)
        | Statement::DropUser { .. }
        | Statement::ShowUsers
        | Statement::Grant(_)
        | Statement::Revoke(_)
        | Statement::ShowAllGrants => p.require_user_admin(),
        Statement::ShowRoles | Statement::SetRole => Ok(()),
        Statement::SetDefaultRole(u) => {
            if u.user == session.user && u.host == session.account_host {
                Ok(())
            } else {
                p.require_user_admin()
            }
        }
        Statement::SetPassword { user, .. } | Statement::ShowGrants(user) => match user {
            Some(u) if !(u.user == session.user && u.host == session.account_host) => {
                p.require_user_admin()
            }
            _ => Ok(()),
        },
        Statement::CreateDatabase { name, .. } => {
            if p.has_global(bits::CREATE) {
                Ok(())
            } else {
                Err(p.db_denied(&name.value))
            }
        }
        Statement::DropDatabase { name, .. } => p.require_db(&name.value, bits::DROP),
        Statement::CreateTable(t) => {
            let (db, table) = super::table::resolve(session, &t.name)?;
            if !p.has(&db, Some(&table), bits::CREATE) {
                return Err(p.table_denied("CREATE", &table));
            }
            // CREATE TABLE AS SELECT reads what its query reads.
            match &t.as_query {
                Some(query) => read_relations(&p, session, query.as_ref()),
                None => Ok(()),
            }
        }
        Statement::CreateView(v) => {
            // OR REPLACE may replace someone else's view: DROP too, as in MySQL.
            let need = match (v.alter, v.or_replace) {
                (true, _) => bits::ALTER,
                (false, true) => bits::CREATE | bits::DROP,
                (false, false) => bits::CREATE,
            };
            let (db, view) = super::table::resolve(session, &v.name)?;
            if !p.has(&db, Some(&view), need) {
                return Err(p.table_denied(if v.alter { "ALTER" } else { "CREATE" }, &view));
            }
            // The creator must be able to read what the view reads.
            let mut query = v.query.clone();
            crate::sql::qualify(&mut query, &db);
            read_relations(&p, session, query.as_ref())
        }
        Statement::CreateMaterializedView(v) => {
            let (db, view) = super::table::resolve(session, &v.name)?;
            if !p.has(&db, Some(&view), bits::CREATE) {
                return Err(p.table_denied("CREATE", &view));
            }
            let mut query = v.query.clone();
            crate::sql::qualify(&mut query, &db);
            read_relations(&p, session, query.as_ref())
        }
        Statement::RefreshMaterializedView(r) => table_need(&p, session, &r.name, bits::ALTER),
        Statement::AlterMaterializedView(a) => table_need(&p, session, &a.name, bits::ALTER),
        Statement::ShowMaterializedViews(_) | Statement::ShowDynamicPartitionTables(_) => Ok(()),
        Statement::ShowCreateMaterializedView(name) => table_need(&p, session, name, bits::SELECT),
        Statement::TruncateTable(t) => table_need(&p, session, &t.table, bits::DROP),
        Statement::AddColumns(a) => table_need(&p, session, &a.table, bits::ALTER),
        Statement::DropColumn(a) => table_need(&p, session, &a.table, bits::ALTER),
        Statement::AddPartition(a) => table_need(&p, session, &a.table, bits::ALTER),
        Statement::AddPartitions(a) => table_need(&p, session, &a.table, bits::ALTER),
        Statement::SetTableProperties(a) => table_need(&p, session, &a.table, bits::ALTER),
        Statement::CompactTable(c) => table_need(&p, session, &c.table, bits::ALTER),
        Statement::RenameTable(r) => {
            table_need(&p, session, &r.table, bits::ALTER)?;
            if r.swap {
                // The other table, in the same database.
                let mut other = r.table.clone();
                if let Some(last) = other.0.last_mut() {
                    *last = sqlparser::ast::ObjectNamePart::Identifier(r.to.clone());
                }
                table_need(&p, session, &other, bits::ALTER)?;
            }
            Ok(())
        }
        Statement::DropPartition(d) => table_need(&p, session, &d.table, bits::ALTER),
        Statement::ChecksumTable(tables) => {
            for t in tables {
                table_need(&p, session, t, bits::SELECT)?;
            }
            Ok(())
        }
        Statement::ShowPartitions(t) | Statement::ShowTablet(t) => {
            table_need(&p, session, t, bits::SELECT)
        }
        Statement::ShowTableStatus { .. } => Ok(()),
        // Submitting a task needs what running its statement needs (each run checks again, as
        // the creator); changing or dropping one is its creator's or an admin's (`task.rs`).
        Statement::SubmitTask(t) => Box::pin(authorize(engine, session, &t.statement)).await,
        Statement::AlterTask(_) | Statement::DropTask(_) => Ok(()),
        // The daemon's settings: administrators only (checked above).
        Statement::AdminSetConfig(_) | Statement::AdminShowConfig(_) => {
            Err(p.denied("OPERATE", "SYSTEM"))
        }
        Statement::Std(s) => authorize_std(&p, session, s),
    }
}

impl Privileges {
    /// `need` on `*.*`.
    fn has_global(&self, need: u8) -> bool {
        self.all_data()
            || self.meta.as_ref().is_some_and(|m| {
                m.grants
                    .iter()
                    .filter(|g| g.db.is_none())
                    .fold(0u8, |a, g| a | g.privileges)
                    & need
                    == need
            })
    }
}

/// SHOW/CANCEL of a database's job: `need` on the database or on some table in it.
fn job_db(p: &Privileges, db: &str, need: u8) -> Result<()> {
    if p.has_any_in(db, need) {
        Ok(())
    } else {
        Err(p.denied(&bits::names(need).join(", "), &format!("DATABASE {db}")))
    }
}

fn table_need(p: &Privileges, session: &Session, name: &ObjectName, need: u8) -> Result<()> {
    let (db, table) = super::table::resolve(session, name)?;
    p.require_table(&db, &table, need)
}

/// The tables and views an `ON (...)` list names, with their alias; `None` when it covers the
/// whole database (no list, or `ALL TABLES`, `ALL VIEWS`, `ALL MATERIALIZED VIEWS`).
fn named_tables(on: &[BackupObject]) -> Option<Vec<(String, Option<String>)>> {
    if on.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for object in on {
        match object {
            // ALL VIEWS and ALL MATERIALIZED VIEWS are checked as the whole database is.
            BackupObject::All(ObjectKind::Function) => {}
            BackupObject::All(_) => return None,
            BackupObject::Named { object, .. } => {
                let Some(name) = object.name.0.last().and_then(|p| p.as_ident()) else {
                    continue;
                };
                out.push((
                    name.value.clone(),
                    object.alias.as_ref().map(|a| a.value.clone()),
                ));
            }
        }
    }
    Some(out)
}

/// What a BACKUP reads: the named objects, or every table and view of the database.
async fn backup_tables(engine: &Engine, db: &str, on: &[BackupObject]) -> Result<Vec<String>> {
    if let Some(tables) = named_tables(on) {
        return Ok(tables.into_iter().map(|(t, _)| t).collect());
    }
    if engine.catalog.database(db).await?.is_none() {
        return Ok(Vec::new()); // the statement reports the unknown database
    }
    let (_, trees) = engine.catalog.database_trees(db, None).await?;
    let views = engine.catalog.views(db).await?;
    Ok(trees
        .into_iter()
        .map(|t| t.table.name.clone())
        .chain(views.into_iter().map(|v| v.name))
        .collect())
}

/// SELECT, INSERT, DROP TABLE, DESC, SHOW CREATE TABLE, SHOW COLUMNS.
fn authorize_std(
    p: &Privileges,
    session: &Session,
    stmt: &sqlparser::ast::Statement,
) -> Result<()> {
    use sqlparser::ast::{ObjectType, ShowCreateObject, Statement as S};
    match stmt {
        S::Query(_) | S::Explain { .. } => read_relations(p, session, stmt),
        S::Insert(ins) => {
            if let sqlparser::ast::TableObject::TableName(name) = &ins.table {
                table_need(p, session, name, bits::INSERT)?;
            }
            if let Some(source) = &ins.source {
                read_relations(p, session, source)?;
            }
            Ok(())
        }
        // DELETE and UPDATE are loads (StarRocks 2.x: LOAD_PRIV) that also read the table.
        S::Delete(del) => {
            let tables = match &del.from {
                sqlparser::ast::FromTable::WithFromKeyword(t)
                | sqlparser::ast::FromTable::WithoutKeyword(t) => t,
            };
            for t in tables {
                if let sqlparser::ast::TableFactor::Table { name, .. } = &t.relation {
                    table_need(p, session, name, bits::INSERT)?;
                }
            }
            read_relations(p, session, stmt)
        }
        S::Update(upd) => {
            if let sqlparser::ast::TableFactor::Table { name, .. } = &upd.table.relation {
                table_need(p, session, name, bits::INSERT)?;
            }
            read_relations(p, session, stmt)
        }
        S::Drop {
            object_type: ObjectType::Table | ObjectType::View | ObjectType::MaterializedView,
            names,
            ..
        } => {
            for name in names {
                table_need(p, session, name, bits::DROP)?;
            }
            Ok(())
        }
        S::ShowCreate {
            obj_type: ShowCreateObject::Table | ShowCreateObject::View,
            obj_name,
        } => table_need(p, session, obj_name, bits::SELECT),
        S::ExplainTable { table_name, .. } => table_need(p, session, table_name, bits::SELECT),
        S::ShowVariable { variable } if super::table::is_show_index(variable) => {
            // A malformed SHOW INDEX is refused by its own check, with its own message.
            match super::table::show_index_table(variable) {
                Ok(name) => table_need(p, session, &name, bits::SELECT),
                Err(_) => Ok(()),
            }
        }
        S::ShowColumns { show_options, .. } => {
            match show_options
                .show_in
                .as_ref()
                .and_then(|i| i.parent_name.as_ref())
            {
                Some(name) => table_need(p, session, name, bits::SELECT),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// SELECT on every table `stmt` reads, for the session's user (a `SECURITY INVOKER` view's
/// query).
pub fn require_reads(
    engine: &Engine,
    session: &Session,
    stmt: &sqlparser::ast::Statement,
) -> Result<()> {
    read_relations(&Privileges::of(engine, session), session, stmt)
}

/// SELECT on every catalog table a query reads. Table functions (`FILES()`) read the daemon's
/// own file system: only users with every data privilege (admin, db_admin) may call them.
fn read_relations<V: Visit>(p: &Privileges, session: &Session, node: &V) -> Result<()> {
    struct Relations {
        tables: Vec<ObjectName>,
        functions: bool,
        ctes: Vec<String>,
    }
    impl Visitor for Relations {
        type Break = ();
        fn pre_visit_query(&mut self, query: &sqlparser::ast::Query) -> ControlFlow<()> {
            self.ctes.extend(crate::sql::with_names(query));
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            match factor {
                TableFactor::Table { args: Some(_), .. } | TableFactor::Function { .. } => {
                    self.functions = true
                }
                TableFactor::TableFunction { .. } => self.functions = true,
                TableFactor::Table { name, .. } => self.tables.push(name.clone()),
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut r = Relations {
        tables: Vec::new(),
        functions: false,
        ctes: Vec::new(),
    };
    let _ = node.visit(&mut r);
    if r.functions && !p.all_data() {
        return Err(p.denied("FILE", "SYSTEM"));
    }
    for name in &r.tables {
        if let [single] = name.0.as_slice()
            && single
                .as_ident()
                .is_some_and(|i| r.ctes.contains(&i.value.to_lowercase()))
        {
            continue;
        }
        match super::table::resolve(session, name) {
            Ok((db, table)) => p.require_table(&db, &table, bits::SELECT)?,
            // No database selected: the statement reports it.
            Err(Error::NoDatabaseSelected) => continue,
            // A name no table of ours has is refused, never skipped.
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
