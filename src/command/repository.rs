//! `CREATE [READ ONLY] REPOSITORY`, `DROP REPOSITORY`, `SHOW REPOSITORIES`.

use std::sync::Arc;

use crate::catalog::repos::{RepoCatalogError, RepositoryMeta};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::repo::{RepoError, Repository};
use crate::sql::{Broker, CreateRepository};

use super::Outcome;

/// StarRocks' repository name rule: `^[a-zA-Z]\w{0,63}$` or `^_[a-zA-Z0-9]\w{0,62}$`.
fn valid_repository_name(name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = name.chars();
    let ok_start = match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => true,
        Some('_') => chars.next().is_some_and(|c| c.is_ascii_alphanumeric()),
        _ => false,
    };
    ok_start && name.len() <= 64 && name.chars().all(word)
}

pub async fn create(engine: &Engine, stmt: CreateRepository) -> Result<Outcome> {
    let name = stmt.name.value.clone();
    if !valid_repository_name(&name) {
        return Err(Error::Common(format!("Incorrect repository name '{name}'")));
    }
    let broker = match stmt.broker {
        None | Some(Broker::Direct) => String::new(),
        Some(Broker::Named(b)) => {
            return Err(Error::Common(format!(
                "Failed to create repository: broker does not exist: {b}. backstop reaches \
                 storage directly: write WITH BROKER without a name, or leave the clause out"
            )));
        }
    };
    if engine.catalog.repository(&name).await?.is_some() {
        return Err(RepoCatalogError::Exists(name).into());
    }
    let location = crate::repo::Location::parse(&stmt.location)
        .map_err(|e| Error::Common(format!("Failed to create repository: {e}")))?;
    let mut meta = RepositoryMeta {
        id: 0,
        name: name.clone(),
        read_only: stmt.read_only,
        location: stmt.location.clone(),
        normalized: location.to_string(),
        broker,
        properties: stmt.properties,
        created_ms: chrono::Utc::now().timestamp_millis(),
    };
    let repo = Repository::open(meta.clone()).await.map_err(create_error)?;
    let info = repo
        .check_and_init(engine.catalog.server_id())
        .await
        .map_err(create_error)?;
    // An adopted repository shows its original creation time, as StarRocks does.
    meta.created_ms = info.created_ms;
    let meta = engine.catalog.create_repository(meta).await?;
    tracing::info!(repository = %meta.name, location = %meta.normalized, read_only = meta.read_only, "repository created");
    engine.repos.insert(Arc::new(Repository {
        meta,
        location: repo.location,
        store: repo.store,
    }));
    Ok(Outcome::ok())
}

fn create_error(e: RepoError) -> Error {
    Error::Common(format!("Failed to create repository: {e}"))
}

pub async fn drop(engine: &Engine, name: &str) -> Result<Outcome> {
    if engine.jobs_using_repository(name) {
        return Err(Error::Common(
            "Backup or restore job is running on this repository. Can not drop it".into(),
        ));
    }
    engine.catalog.drop_repository(name).await?;
    engine.repos.remove(name);
    tracing::info!(repository = %name, "repository dropped");
    Ok(Outcome::ok())
}

pub async fn show(engine: &Engine) -> Result<Outcome> {
    let mut repositories = engine.catalog.repositories().await?;
    // In the order they were created, as StarRocks lists them (by id).
    repositories.sort_by_key(|r| r.id);
    let rows = repositories
        .into_iter()
        .map(|r| {
            vec![
                Some(r.id.to_string()),
                Some(r.name),
                super::format_datetime_ms(r.created_ms),
                Some(r.read_only.to_string()),
                Some(r.location),
                Some(r.broker),
                None,
            ]
        })
        .collect();
    Outcome::text_table(
        &[
            "RepoId",
            "RepoName",
            "CreateTime",
            "IsReadOnly",
            "Location",
            "Broker",
            "ErrMsg",
        ],
        rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        assert!(valid_repository_name("test_repo"));
        assert!(valid_repository_name("_1x"));
        assert!(!valid_repository_name("_"));
        assert!(!valid_repository_name("1repo"));
        assert!(!valid_repository_name("a-b"));
        assert!(!valid_repository_name(&"a".repeat(65)));
    }
}
