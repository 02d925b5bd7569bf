//! Views: names in a database's table namespace that stand for a stored query.
//!
//! A view and a table never share a name in one database: every writer that creates or
//! renames either checks both redb tables ([`super::tables`]'s `name_free` and [`name_taken`]).
//! The definition is kept as SQL text with its table names as written, so an unqualified name
//! resolves in the view's own database when it is queried (also after a RESTORE into another
//! database); its columns are the ones the query gave when the view was created or altered.

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::schema::ColumnMeta;
use super::tables::{MetaTables, database_named, named, named_in, table_named};
use super::{Catalog, CatalogError, DATABASES, TABLES, decode, next_id, storage};

/// (database id, view name) → [`ViewMeta`] JSON.
pub const VIEWS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("views");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewMeta {
    pub id: u64,
    pub db_id: u64,
    pub name: String,
    /// The columns the query gave at CREATE or ALTER (named as the column list says, with its
    /// comments): what DESC and information_schema show.
    pub columns: Vec<ColumnMeta>,
    /// Whether CREATE named the columns: the query's columns are then renamed to them, in order.
    #[serde(default)]
    pub named_columns: bool,
    /// The query, as SQL text.
    pub definition: String,
    pub comment: Option<String>,
    /// `SECURITY INVOKER`: a reader needs SELECT on the tables the query reads too (the
    /// default, `NONE`, asks for SELECT on the view only).
    #[serde(default)]
    pub security_invoker: bool,
    /// `user@host` of the account that created or last altered it.
    #[serde(default)]
    pub definer: String,
    /// Milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// Set by a RESTORE that found a table or view the query reads neither in its snapshot nor
    /// on this server: why the view cannot be read yet. ALTER VIEW and CREATE OR REPLACE clear it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_reason: Option<String>,
}

/// How [`Catalog::put_view`] treats a name that is already a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// `CREATE VIEW`: an error.
    Refuse,
    /// `CREATE VIEW IF NOT EXISTS`: keep it, change nothing.
    Keep,
    /// `CREATE OR REPLACE VIEW`, a RESTORE: replace it.
    Replace,
    /// `ALTER VIEW`: replace it; it must exist.
    MustExist,
}

/// Whether `name` is a view of `db_id` (tables check this before taking a name).
pub(crate) fn name_taken(t: &MetaTables<'_>, db_id: u64, name: &str) -> Result<bool, CatalogError> {
    Ok(t.views.get((db_id, name)).map_err(storage)?.is_some())
}

pub(crate) fn view_named(
    views: &impl ReadableTable<(u64, &'static str), &'static [u8]>,
    db_id: u64,
    name: &str,
) -> Result<Option<ViewMeta>, CatalogError> {
    named(views, db_id, name)
}

fn views_of(
    views: &impl ReadableTable<(u64, &'static str), &'static [u8]>,
    db_id: u64,
) -> Result<Vec<ViewMeta>, CatalogError> {
    named_in(views, db_id)
}

/// The id of database `db` in a read, `None` when there is no such database.
fn database_id(txn: &redb::ReadTransaction, db: &str) -> Result<Option<u64>, CatalogError> {
    let dbs = txn.open_table(DATABASES).map_err(storage)?;
    let Some(meta) = dbs.get(db).map_err(storage)? else {
        return Ok(None);
    };
    Ok(Some(decode::<super::DatabaseMeta>(meta.value())?.id))
}

fn not_a_view(db: &str, name: &str) -> CatalogError {
    CatalogError::not_view(db, name)
}

impl MetaTables<'_> {
    /// Stores `view` in database `db` (its `id`, `db_id` and `created_ms` are assigned here).
    /// Returns false when [`Existing::Keep`] found the name taken by a view.
    pub fn put_view(
        &mut self,
        db: &str,
        mut view: ViewMeta,
        existing: Existing,
    ) -> Result<bool, CatalogError> {
        super::validate_table_name(&view.name)?;
        let db_meta = database_named(&self.databases, db)?;
        if table_named(&self.tables, db_meta.id, &view.name)?.is_some() {
            return Err(match existing {
                Existing::MustExist => not_a_view(db, &view.name),
                _ => CatalogError::TableExists(view.name),
            });
        }
        let old = view_named(&self.views, db_meta.id, &view.name)?;
        match (&old, existing) {
            (Some(_), Existing::Refuse) => return Err(CatalogError::TableExists(view.name)),
            (Some(_), Existing::Keep) => return Ok(false),
            (None, Existing::MustExist) => {
                return Err(CatalogError::UnknownTable(format!("{db}.{}", view.name)));
            }
            _ => {}
        }
        view.id = match &old {
            Some(old) => old.id,
            None => next_id(self.txn())?,
        };
        view.db_id = db_meta.id;
        view.created_ms = chrono::Utc::now().timestamp_millis();
        let bytes = serde_json::to_vec(&view).map_err(storage)?;
        self.views
            .insert((db_meta.id, view.name.as_str()), bytes.as_slice())
            .map_err(storage)?;
        Ok(true)
    }

    /// Removes every view of database `db_id`.
    pub fn delete_views_of(&mut self, db_id: u64) -> Result<(), CatalogError> {
        for view in views_of(&self.views, db_id)? {
            self.views
                .remove((db_id, view.name.as_str()))
                .map_err(storage)?;
        }
        Ok(())
    }
}

impl Catalog {
    /// `CREATE [OR REPLACE] VIEW [IF NOT EXISTS]` and `ALTER VIEW`, by `existing`. Returns false
    /// when nothing was stored ([`Existing::Keep`] and the view exists).
    pub async fn put_view(
        &self,
        db: &str,
        view: ViewMeta,
        existing: Existing,
    ) -> Result<bool, CatalogError> {
        let db = db.to_string();
        self.write(move |txn| MetaTables::open(txn)?.put_view(&db, view, existing))
            .await
    }

    /// `DROP VIEW [IF EXISTS] v, ...`, in one transaction. A table named here is refused (DROP
    /// TABLE drops tables). Returns how many were dropped.
    pub async fn drop_views(
        &self,
        db: &str,
        names: Vec<String>,
        if_exists: bool,
    ) -> Result<u64, CatalogError> {
        self.drop_each(db, names, move |t, db_id, db, name| {
            if view_named(&t.views, db_id, name)?.is_some() {
                t.views.remove((db_id, name)).map_err(storage)?;
                Ok(true)
            } else if table_named(&t.tables, db_id, name)?.is_some() {
                Err(not_a_view(db, name))
            } else if !if_exists {
                Err(CatalogError::UnknownTable(format!("{db}.{name}")))
            } else {
                Ok(false)
            }
        })
        .await
    }

    /// The view `db`.`name`, if there is one.
    pub async fn view(&self, db: &str, name: &str) -> Result<Option<ViewMeta>, CatalogError> {
        let (db, name) = (db.to_string(), name.to_string());
        self.read(move |txn| {
            let Some(db_id) = database_id(txn, &db)? else {
                return Ok(None);
            };
            let views = txn.open_table(VIEWS).map_err(storage)?;
            view_named(&views, db_id, &name)
        })
        .await
    }

    /// Every view of database `db`, by name.
    pub async fn views(&self, db: &str) -> Result<Vec<ViewMeta>, CatalogError> {
        let db = db.to_string();
        self.read(move |txn| {
            let dbs = txn.open_table(DATABASES).map_err(storage)?;
            let db_meta = database_named(&dbs, &db)?;
            let views = txn.open_table(VIEWS).map_err(storage)?;
            views_of(&views, db_meta.id)
        })
        .await
    }

    /// Whether `db`.`name` is a table or a view.
    pub async fn relation_exists(&self, db: &str, name: &str) -> Result<bool, CatalogError> {
        let (db, name) = (db.to_string(), name.to_string());
        self.read(move |txn| {
            let Some(db_id) = database_id(txn, &db)? else {
                return Ok(false);
            };
            let tables = txn.open_table(TABLES).map_err(storage)?;
            let views = txn.open_table(VIEWS).map_err(storage)?;
            Ok(table_named(&tables, db_id, &name)?.is_some()
                || view_named(&views, db_id, &name)?.is_some())
        })
        .await
    }
}

impl ViewMeta {
    /// The view as a table definition with its columns and nothing else (no key, one
    /// unpartitioned bucket), for what describes columns: DESC, SHOW COLUMNS, information_schema.
    pub fn as_table(&self) -> super::TableMeta {
        super::TableMeta {
            id: self.id,
            db_id: self.db_id,
            created_ms: self.created_ms,
            ..super::TableMeta::columns_only(
                self.name.clone(),
                self.columns.clone(),
                self.comment.clone(),
            )
        }
    }
}
