//! User management: `CREATE/ALTER/DROP USER`, `SET PASSWORD`, `GRANT`, `REVOKE`, `SHOW USERS`,
//! `SHOW GRANTS`. Who may run them is decided before (`privilege::authorize`).
//!
//! Every change is one catalog transaction, then the in-memory copy the logins and privilege
//! checks read is reloaded, so a change applies to every session's next statement.

use std::sync::Arc;

use super::{Outcome, Session};
use crate::catalog::users::{ObjectGrant, ROOT, UserError, UserMeta, bits};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::sql::{AlterUser, CreateUser, Grant, GrantObject, Password, Privilege, UserIdent};

/// The built-in roles a user may be granted (StarRocks 3.x).
const ROLES: &[&str] = &["root", "db_admin", "user_admin", "cluster_admin", "public"];

/// Hex SHA1(SHA1(pw)) of a password clause; `None` for the empty password.
fn hash_of(password: &Password) -> Option<String> {
    match password {
        Password::Plain(p) if p.is_empty() => None,
        Password::Plain(p) => Some(crate::catalog::users::stored_password(p.expose())),
        Password::Hash(h) => Some(h.trim_start_matches('*').to_ascii_lowercase()),
    }
}

fn check_user_name(user: &UserIdent) -> Result<()> {
    if user.user.len() > 64 || user.user.chars().any(|c| c.is_control()) {
        return Err(Error::Common(format!(
            "Incorrect user name '{}': use at most 64 printable characters",
            user.user
        )));
    }
    if user.host.is_empty() || user.host.len() > 255 {
        return Err(Error::Common(format!(
            "Incorrect host '{}': use an address, a pattern with % and _, or %",
            user.host
        )));
    }
    Ok(())
}

fn failed(op: &'static str, user: &UserIdent) -> Error {
    Error::User(UserError::OperationFailed {
        op,
        user: user.user.clone(),
        host: user.host.clone(),
    })
}

pub async fn create(engine: &Arc<Engine>, stmt: CreateUser) -> Result<Outcome> {
    check_user_name(&stmt.user)?;
    if stmt.user.user == ROOT {
        return if stmt.if_not_exists {
            Ok(Outcome::ok())
        } else {
            Err(failed("CREATE USER", &stmt.user))
        };
    }
    let mut meta = UserMeta::new(
        &stmt.user.user,
        &stmt.user.host,
        stmt.password.as_ref().and_then(hash_of),
    );
    for role in &stmt.default_roles {
        meta.roles.push(check_role(&role.value)?);
    }
    engine.catalog.create_user(meta, stmt.if_not_exists).await?;
    engine.reload_users().await?;
    Ok(Outcome::ok())
}

pub async fn alter(engine: &Arc<Engine>, stmt: AlterUser) -> Result<Outcome> {
    let Some(password) = stmt.password else {
        return Ok(Outcome::ok());
    };
    set_hash(
        engine,
        &stmt.user,
        hash_of(&password),
        stmt.if_exists,
        "ALTER USER",
    )
    .await
}

/// `SET PASSWORD [FOR u] = ...`: without FOR, the session's own account.
pub async fn set_password(
    engine: &Arc<Engine>,
    session: &Session,
    user: Option<UserIdent>,
    password: Password,
) -> Result<Outcome> {
    let user = user.unwrap_or_else(|| UserIdent {
        user: session.user.clone(),
        host: session.account_host.clone(),
    });
    set_hash(engine, &user, hash_of(&password), false, "SET PASSWORD").await
}

async fn set_hash(
    engine: &Arc<Engine>,
    user: &UserIdent,
    hash: Option<String>,
    if_exists: bool,
    op: &'static str,
) -> Result<Outcome> {
    let is_root = user.user == ROOT && user.host == "%";
    let (name, host) = (user.user.clone(), user.host.clone());
    let result = engine
        .catalog
        .update_user(&user.user, &user.host, op, move |current| {
            let mut meta = match current {
                Some(m) => m,
                // root has a row only once its password is set.
                None if is_root => UserMeta::new(&name, &host, None),
                None => return None,
            };
            meta.password_hash = hash;
            Some(meta)
        })
        .await;
    match result {
        Ok(_) => {}
        Err(UserError::OperationFailed { .. }) if if_exists => return Ok(Outcome::ok()),
        Err(e) => return Err(e.into()),
    }
    engine.reload_users().await?;
    Ok(Outcome::ok())
}

pub async fn drop(engine: &Arc<Engine>, user: UserIdent, if_exists: bool) -> Result<Outcome> {
    if user.user == ROOT {
        return Err(Error::Common("the root user cannot be dropped".to_string()));
    }
    engine
        .catalog
        .drop_user(&user.user, &user.host, if_exists)
        .await?;
    engine.reload_users().await?;
    // Its tasks run as it: they stop rather than run as whoever takes the name next.
    super::task::suspend_tasks_of(engine, &format!("{}@{}", user.user, user.host)).await?;
    Ok(Outcome::ok())
}

fn check_role(role: &str) -> Result<String> {
    let lower = role.to_ascii_lowercase();
    if ROLES.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err(Error::Common(format!(
            "Role {role} does not exist: backstop has the built-in roles {} (CREATE ROLE is not supported)",
            ROLES.join(", ")
        )))
    }
}

/// `GRANT` (`revoke` false) or `REVOKE`.
pub async fn grant(
    engine: &Arc<Engine>,
    session: &Session,
    stmt: Grant,
    revoke: bool,
) -> Result<Outcome> {
    let op = if revoke { "REVOKE" } else { "GRANT" };
    let user = stmt.user().clone();
    if user.user == ROOT {
        // root has every privilege, always; nothing to add or take away.
        return if revoke {
            Err(Error::Common(
                "the privileges of root cannot be revoked".into(),
            ))
        } else {
            Ok(Outcome::ok())
        };
    }
    let change = match stmt {
        Grant::Roles { roles, .. } => {
            let roles = roles
                .iter()
                .map(|r| check_role(&r.value))
                .collect::<Result<Vec<_>>>()?;
            Change::Roles(roles)
        }
        Grant::Privileges {
            privileges, object, ..
        } => privilege_change(session, &privileges, object)?,
    };
    engine
        .catalog
        .update_user(&user.user, &user.host, op, move |current| {
            let mut meta = current?;
            apply(&mut meta, change, revoke);
            Some(meta)
        })
        .await?;
    engine.reload_users().await?;
    Ok(Outcome::ok())
}

enum Change {
    Roles(Vec<String>),
    Admin,
    Repository,
    Object(ObjectGrant),
}

fn privilege_change(
    session: &Session,
    privileges: &[Privilege],
    object: GrantObject,
) -> Result<Change> {
    let names: Vec<&str> = privileges.iter().map(|p| p.name()).collect();
    let system_only = |p: &Privilege| matches!(p, Privilege::Repository);
    if privileges.iter().any(system_only) || object == GrantObject::System {
        if object != GrantObject::System || !privileges.iter().all(system_only) {
            return Err(Error::Common(format!(
                "{} cannot be granted on {object}: REPOSITORY is granted ON SYSTEM, and only it",
                names.join(", ")
            )));
        }
        return Ok(Change::Repository);
    }
    if privileges.contains(&Privilege::Admin) {
        if object != GrantObject::Global || privileges.len() != 1 {
            return Err(Error::Common(
                "ADMIN_PRIV is granted alone ON *.*".to_string(),
            ));
        }
        return Ok(Change::Admin);
    }
    let mut b = 0u8;
    for p in privileges {
        b |= match p {
            Privilege::Select => bits::SELECT,
            Privilege::Insert => bits::INSERT,
            Privilege::Create => bits::CREATE,
            Privilege::Drop => bits::DROP,
            Privilege::Alter => bits::ALTER,
            Privilege::All => bits::ALL,
            Privilege::Admin | Privilege::Repository => 0,
        };
    }
    let (db, table) = match object {
        GrantObject::Global => (None, None),
        GrantObject::Database(d) => (Some(d.value), None),
        GrantObject::Table(Some(d), t) => (Some(d.value), Some(t.value)),
        GrantObject::Table(None, t) => (
            Some(session.database.clone().ok_or(Error::NoDatabaseSelected)?),
            Some(t.value),
        ),
        GrantObject::System => (None, None),
    };
    Ok(Change::Object(ObjectGrant {
        db,
        table,
        privileges: b,
    }))
}

fn apply(meta: &mut UserMeta, change: Change, revoke: bool) {
    match change {
        Change::Roles(roles) => {
            for role in roles {
                meta.roles.retain(|r| *r != role);
                if !revoke {
                    meta.roles.push(role);
                }
            }
        }
        Change::Admin => meta.admin = !revoke,
        Change::Repository => meta.repository = !revoke,
        Change::Object(g) => {
            let same = |x: &ObjectGrant| eq_name(&x.db, &g.db) && eq_name(&x.table, &g.table);
            match meta.grants.iter_mut().find(|x| same(x)) {
                Some(existing) if revoke => existing.privileges &= !g.privileges,
                Some(existing) => existing.privileges |= g.privileges,
                None if revoke => {}
                None => meta.grants.push(g.clone()),
            }
            meta.grants.retain(|x| x.privileges != 0);
        }
    }
}

fn eq_name(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// `SHOW ROLES`: the built-in roles (StarRocks 3.x columns).
pub fn show_roles() -> Result<Outcome> {
    let comment = |r: &str| match r {
        "root" => "every privilege",
        "db_admin" => "every data privilege, REPOSITORY, FILES()",
        "user_admin" => "user management",
        "cluster_admin" => "none in backstop (a single server has no nodes to manage)",
        _ => "no privileges",
    };
    let rows = ROLES
        .iter()
        .map(|r| {
            vec![
                Some((*r).to_string()),
                Some("true".to_string()),
                Some(comment(r).to_string()),
            ]
        })
        .collect();
    Outcome::text_table(&["Name", "Builtin", "Comment"], rows)
}

/// `SET DEFAULT ROLE ... TO u`: every granted role is always active, so only the user is
/// checked.
pub fn set_default_role(engine: &Arc<Engine>, user: UserIdent) -> Result<Outcome> {
    if user.user != ROOT && engine.users.get(&user.user, &user.host).is_none() {
        return Err(failed("SET DEFAULT ROLE", &user));
    }
    Ok(Outcome::ok())
}

/// `SHOW USERS`: one column `User`, `'name'@'host'`, root first.
pub async fn show_users(engine: &Arc<Engine>) -> Result<Outcome> {
    let mut rows = vec![vec![Some(ident(ROOT, "%"))]];
    for u in engine.users.all().iter() {
        if u.name != ROOT {
            rows.push(vec![Some(ident(&u.name, &u.host))]);
        }
    }
    Outcome::text_table(&["User"], rows)
}

fn ident(name: &str, host: &str) -> String {
    UserIdent {
        user: name.to_string(),
        host: host.to_string(),
    }
    .to_string()
}

/// `SHOW GRANTS [FOR u]`: `UserIdentity`, `Catalog`, `Grants` (StarRocks 3.x), one row per
/// grant, each a statement that grants it again.
pub async fn show_grants(
    engine: &Arc<Engine>,
    session: &Session,
    user: Option<UserIdent>,
) -> Result<Outcome> {
    let user = user.unwrap_or_else(|| UserIdent {
        user: session.user.clone(),
        host: session.account_host.clone(),
    });
    let meta = engine.users.get(&user.user, &user.host);
    if meta.is_none() && user.user != ROOT {
        return Err(failed("SHOW GRANTS", &user));
    }
    let rows = grant_rows(&user, meta.as_ref());
    Outcome::text_table(&["UserIdentity", "Catalog", "Grants"], rows)
}

/// `SHOW ALL GRANTS`: every user's grants.
pub async fn show_all_grants(engine: &Arc<Engine>) -> Result<Outcome> {
    let root = UserIdent {
        user: ROOT.into(),
        host: "%".into(),
    };
    let mut rows = grant_rows(&root, None);
    for u in engine.users.all().iter().filter(|u| u.name != ROOT) {
        let id = UserIdent {
            user: u.name.clone(),
            host: u.host.clone(),
        };
        rows.extend(grant_rows(&id, Some(u)));
    }
    Outcome::text_table(&["UserIdentity", "Catalog", "Grants"], rows)
}

fn grant_rows(user: &UserIdent, meta: Option<&UserMeta>) -> Vec<Vec<Option<String>>> {
    let mut grants = Vec::new();
    if user.user == ROOT {
        grants.push(format!("GRANT root TO USER {user}"));
    }
    if let Some(m) = meta {
        for role in &m.roles {
            grants.push(format!("GRANT {role} TO USER {user}"));
        }
        if m.admin {
            grants.push(format!("GRANT ADMIN_PRIV ON *.* TO USER {user}"));
        }
        if m.repository {
            grants.push(format!("GRANT REPOSITORY ON SYSTEM TO USER {user}"));
        }
        for g in &m.grants {
            let object = match (&g.db, &g.table) {
                (None, _) => "*.*".to_string(),
                (Some(d), None) => format!("{}.*", quote(d)),
                (Some(d), Some(t)) => format!("{}.{}", quote(d), quote(t)),
            };
            grants.push(format!(
                "GRANT {} ON {object} TO USER {user}",
                bits::names(g.privileges).join(", ")
            ));
        }
    }
    grants
        .into_iter()
        .map(|g| {
            vec![
                Some(user.to_string()),
                Some("default_catalog".to_string()),
                Some(g),
            ]
        })
        .collect()
}

fn quote(name: &str) -> String {
    crate::sql::Id(&crate::sql::Ident::new(name)).to_string()
}
