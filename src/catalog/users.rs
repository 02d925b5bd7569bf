//! Users and their grants in the catalog: `(name, host)` → [`UserMeta`].
//!
//! A password is kept only as its mysql_native_password hash, SHA1(SHA1(password)), in hex; the
//! password itself is never stored. `root` has a row only once its password was set (by SQL or
//! by `--root-password`); root's privileges are not stored, root always has every privilege.
//!
//! Users and grants live in this data directory only: nothing here ever enters a repository.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use super::{Catalog, CatalogError, decode, storage};

/// (user name, host pattern) → [`UserMeta`] JSON.
pub(crate) const USERS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("users");

/// The super user: always there, always allowed.
pub const ROOT: &str = "root";

/// SHA1(SHA1(password)), the form in which passwords are kept (`mysql_native_password`).
pub fn native_hash(password: &str) -> [u8; 20] {
    let once: [u8; 20] = Sha1::digest(password.as_bytes()).into();
    Sha1::digest(once).into()
}

/// What the catalog keeps of `password`: [`native_hash`] in hex.
pub fn stored_password(password: &str) -> String {
    crate::hex(&native_hash(password))
}

/// Privilege bits on databases and tables.
pub mod bits {
    pub const SELECT: u8 = 1;
    pub const INSERT: u8 = 1 << 1;
    pub const CREATE: u8 = 1 << 2;
    pub const DROP: u8 = 1 << 3;
    pub const ALTER: u8 = 1 << 4;
    pub const ALL: u8 = SELECT | INSERT | CREATE | DROP | ALTER;

    /// The names of the bits set, in a fixed order.
    pub fn names(b: u8) -> Vec<&'static str> {
        if b & ALL == ALL {
            return vec!["ALL"];
        }
        [
            (SELECT, "SELECT"),
            (INSERT, "INSERT"),
            (CREATE, "CREATE"),
            (DROP, "DROP"),
            (ALTER, "ALTER"),
        ]
        .into_iter()
        .filter(|(bit, _)| b & bit != 0)
        .map(|(_, n)| n)
        .collect()
    }
}

/// Privileges on `*.*` (both `None`), `db.*` (table `None`) or `db.table`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectGrant {
    pub db: Option<String>,
    pub table: Option<String>,
    /// [`bits`]
    pub privileges: u8,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMeta {
    pub name: String,
    /// `%` (any host), an address, `localhost`, or a pattern with `%` and `_`.
    pub host: String,
    /// Hex SHA1(SHA1(password)); `None` for no password.
    pub password_hash: Option<String>,
    /// Built-in roles granted: `root`, `db_admin`, `user_admin`, `cluster_admin`, `public`.
    #[serde(default)]
    pub roles: Vec<String>,
    /// 2.x `ADMIN_PRIV`: everything, like root.
    #[serde(default)]
    pub admin: bool,
    /// 3.x `REPOSITORY` on SYSTEM.
    #[serde(default)]
    pub repository: bool,
    #[serde(default)]
    pub grants: Vec<ObjectGrant>,
    pub created_ms: i64,
}

/// Debug output leaves the password hash out.
impl std::fmt::Debug for UserMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserMeta")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("has_password", &self.password_hash.is_some())
            .field("roles", &self.roles)
            .field("admin", &self.admin)
            .field("repository", &self.repository)
            .field("grants", &self.grants)
            .finish()
    }
}

impl UserMeta {
    pub fn new(name: &str, host: &str, password_hash: Option<String>) -> Self {
        UserMeta {
            name: name.to_string(),
            host: host.to_string(),
            password_hash,
            roles: Vec::new(),
            admin: false,
            repository: false,
            grants: Vec::new(),
            created_ms: chrono::Utc::now().timestamp_millis(),
        }
    }

    /// The stored hash as bytes; `None` for no password. A stored hash that does not decode
    /// also reads `None`: callers check [`UserMeta::password_hash`] first.
    pub fn hash_bytes(&self) -> Option<[u8; 20]> {
        let hex = self.password_hash.as_deref()?;
        let mut out = [0u8; 20];
        if hex.len() != 40 {
            return None;
        }
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(out)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// MySQL's ER_CANNOT_USER (1396).
    #[error("Operation {op} failed for '{user}'@'{host}'")]
    OperationFailed {
        op: &'static str,
        user: String,
        host: String,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl Catalog {
    /// Every user row (root's only once its password was set).
    pub async fn users(&self) -> Result<Vec<UserMeta>, CatalogError> {
        self.read(read_users).await
    }

    /// As [`Catalog::users`], for start-up.
    pub fn users_blocking(&self) -> Result<Vec<UserMeta>, CatalogError> {
        let txn = self.db.begin_read().map_err(storage)?;
        read_users(&txn)
    }

    /// Adds a user; `Ok(false)` when it exists and `if_not_exists`.
    pub async fn create_user(
        &self,
        meta: UserMeta,
        if_not_exists: bool,
    ) -> Result<bool, UserError> {
        let out = self
            .write(move |txn| {
                let mut users = txn.open_table(USERS).map_err(storage)?;
                let key = (meta.name.as_str(), meta.host.as_str());
                if users.get(key).map_err(storage)?.is_some() {
                    return Ok(Err(meta));
                }
                let bytes = serde_json::to_vec(&meta).map_err(storage)?;
                users.insert(key, bytes.as_slice()).map_err(storage)?;
                Ok(Ok(()))
            })
            .await?;
        match out {
            Ok(()) => Ok(true),
            Err(_) if if_not_exists => Ok(false),
            Err(meta) => Err(UserError::OperationFailed {
                op: "CREATE USER",
                user: meta.name,
                host: meta.host,
            }),
        }
    }

    /// Changes one user in one transaction. A missing user is `None` to `change`, which may
    /// create it (root) by returning a row, or refuse.
    pub async fn update_user<F>(
        &self,
        name: &str,
        host: &str,
        op: &'static str,
        change: F,
    ) -> Result<UserMeta, UserError>
    where
        F: FnOnce(Option<UserMeta>) -> Option<UserMeta> + Send + 'static,
    {
        let (n, h) = (name.to_string(), host.to_string());
        let out = self
            .write(move |txn| {
                let mut users = txn.open_table(USERS).map_err(storage)?;
                let current = match users.get((n.as_str(), h.as_str())).map_err(storage)? {
                    Some(v) => Some(decode::<UserMeta>(v.value())?),
                    None => None,
                };
                let Some(next) = change(current) else {
                    return Ok(None);
                };
                let bytes = serde_json::to_vec(&next).map_err(storage)?;
                users
                    .insert((n.as_str(), h.as_str()), bytes.as_slice())
                    .map_err(storage)?;
                Ok(Some(next))
            })
            .await?;
        out.ok_or_else(|| UserError::OperationFailed {
            op,
            user: name.to_string(),
            host: host.to_string(),
        })
    }

    /// As [`Catalog::update_user`], for start-up (`--root-password`).
    pub fn put_user_blocking(&self, meta: &UserMeta) -> Result<(), CatalogError> {
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut users = txn.open_table(USERS).map_err(storage)?;
            let bytes = serde_json::to_vec(meta).map_err(storage)?;
            users
                .insert((meta.name.as_str(), meta.host.as_str()), bytes.as_slice())
                .map_err(storage)?;
        }
        txn.commit().map_err(storage)
    }

    /// Removes a user; `Ok(false)` when it did not exist and `if_exists`.
    pub async fn drop_user(
        &self,
        name: &str,
        host: &str,
        if_exists: bool,
    ) -> Result<bool, UserError> {
        let (n, h) = (name.to_string(), host.to_string());
        let removed = self
            .write(move |txn| {
                let mut users = txn.open_table(USERS).map_err(storage)?;
                let removed = users
                    .remove((n.as_str(), h.as_str()))
                    .map_err(storage)?
                    .is_some();
                Ok(removed)
            })
            .await?;
        if !removed && !if_exists {
            return Err(UserError::OperationFailed {
                op: "DROP USER",
                user: name.to_string(),
                host: host.to_string(),
            });
        }
        Ok(removed)
    }
}

fn read_users(txn: &redb::ReadTransaction) -> Result<Vec<UserMeta>, CatalogError> {
    super::decode_all(txn, USERS)
}

/// What a login matched: the account's host pattern and its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub host: String,
    /// `None`: no password.
    pub hash: Option<[u8; 20]>,
    /// A stored hash that does not decode: the account cannot log in.
    pub locked: bool,
}

/// Every user row in memory, so a login and a privilege check never wait for the store.
/// Writers change the catalog first, then [`UserCache::replace`] the copy here.
#[derive(Default)]
pub struct UserCache {
    // std's lock: it is never held across an await.
    users: std::sync::RwLock<std::sync::Arc<Vec<UserMeta>>>,
}

impl UserCache {
    pub fn new(users: Vec<UserMeta>) -> Self {
        UserCache {
            users: std::sync::RwLock::new(std::sync::Arc::new(users)),
        }
    }

    pub fn replace(&self, users: Vec<UserMeta>) {
        let mut guard = self
            .users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = std::sync::Arc::new(users);
    }

    pub fn all(&self) -> std::sync::Arc<Vec<UserMeta>> {
        let guard = self
            .users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::sync::Arc::clone(&guard)
    }

    /// The row of exactly `name@host`.
    pub fn get(&self, name: &str, host: &str) -> Option<UserMeta> {
        self.all()
            .iter()
            .find(|u| u.name == name && u.host == host)
            .cloned()
    }

    /// The account a client `name` connecting from `peer` logs in as: the most specific host
    /// pattern that matches (an exact host before patterns, `%` last), as MySQL picks.
    /// `root` without a row is root@% with no password.
    pub fn login(&self, name: &str, peer: &str) -> Option<Account> {
        let users = self.all();
        let best = users
            .iter()
            .filter(|u| u.name == name && host_matches(&u.host, peer))
            .max_by_key(|u| specificity(&u.host));
        match best {
            Some(u) => Some(Account {
                name: u.name.clone(),
                host: u.host.clone(),
                hash: u.hash_bytes(),
                locked: u.password_hash.is_some() && u.hash_bytes().is_none(),
            }),
            None if name == ROOT => Some(Account {
                name: ROOT.to_string(),
                host: "%".to_string(),
                hash: None,
                locked: false,
            }),
            None => None,
        }
    }
}

/// Higher is more specific: no wildcard beats a pattern, a longer pattern beats a shorter one.
fn specificity(host: &str) -> (bool, usize) {
    (!host.contains(['%', '_']), host.len())
}

/// MySQL's host matching: `%` any run, `_` one character; `localhost` is the loopback address.
pub fn host_matches(pattern: &str, peer: &str) -> bool {
    if pattern == "%" {
        return true;
    }
    if pattern.eq_ignore_ascii_case("localhost") {
        return peer == "::1" || peer.starts_with("127.");
    }
    like(pattern.as_bytes(), peer.as_bytes())
}

fn like(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'%', rest)) => (0..=s.len()).any(|i| s.get(i..).is_some_and(|t| like(rest, t))),
        Some((b'_', rest)) => s.split_first().is_some_and(|(_, t)| like(rest, t)),
        Some((c, rest)) => s
            .split_first()
            .is_some_and(|(d, t)| c.eq_ignore_ascii_case(d) && like(rest, t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_like_mysql() {
        assert!(host_matches("%", "10.0.0.1"));
        assert!(host_matches("localhost", "127.0.0.1"));
        assert!(!host_matches("localhost", "10.0.0.1"));
        assert!(host_matches("10.0.%", "10.0.3.4"));
        assert!(!host_matches("10.0.%", "10.1.3.4"));
        assert!(host_matches("127.0.0._", "127.0.0.1"));
        assert!(host_matches("127.0.0.1", "127.0.0.1"));
    }

    #[test]
    fn the_most_specific_account_wins() {
        let cache = UserCache::new(vec![
            UserMeta::new("u", "%", None),
            UserMeta::new("u", "127.0.0.1", Some("00".repeat(20))),
        ]);
        let a = cache.login("u", "127.0.0.1").unwrap();
        assert_eq!(a.host, "127.0.0.1");
        assert_eq!(cache.login("u", "10.0.0.1").unwrap().host, "%");
        assert!(cache.login("x", "127.0.0.1").is_none());
        assert_eq!(cache.login("root", "127.0.0.1").unwrap().hash, None);
    }
}
