//! CREATE DATABASE, DROP DATABASE, SHOW DATABASES.

use super::{Outcome, Session};
use crate::catalog::INFORMATION_SCHEMA;
use crate::engine::Engine;
use crate::error::{Error, Result};

pub async fn create(engine: &Engine, name: &str, if_not_exists: bool) -> Result<Outcome> {
    let created = engine.catalog.create_database(name, if_not_exists).await?;
    Ok(Outcome::Done {
        affected_rows: u64::from(created),
    })
}

/// `DROP DATABASE [IF EXISTS] db [FORCE]`: the database and its tables go in one transaction,
/// as in StarRocks. There is no recycle bin, so FORCE changes nothing.
pub async fn drop(
    engine: &Engine,
    session: &mut Session,
    name: &str,
    if_exists: bool,
) -> Result<Outcome> {
    if name == INFORMATION_SCHEMA {
        return Err(Error::NotSupported(format!(
            "{INFORMATION_SCHEMA} cannot be dropped"
        )));
    }
    engine.catalog.drop_database(name, if_exists).await?;
    engine.pins.mark_dirty();
    if session.database.as_deref() == Some(name) {
        session.database = None;
    }
    Ok(Outcome::ok())
}

/// The names of the catalog's databases (information_schema is not one of them).
pub async fn names(engine: &Engine) -> Result<Vec<String>> {
    Ok(engine
        .catalog
        .databases()
        .await?
        .into_iter()
        .map(|d| d.name)
        .collect())
}

/// `SHOW DATABASES [LIKE 'pattern']`.
pub async fn show(engine: &Engine, like: Option<&str>) -> Result<Outcome> {
    let mut names = names(engine).await?;
    names.push(INFORMATION_SCHEMA.to_string());
    names.sort();
    let rows = names
        .into_iter()
        .filter(|n| like.is_none_or(|p| like_match(p, n)))
        .map(|n| vec![Some(n)])
        .collect();
    Outcome::text_table(&["Database"], rows)
}

/// SQL `LIKE` with `%`, `_` and `\` escapes, case-insensitive as MySQL's default collation.
pub fn like_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    // Iterative matcher with backtracking to the last '%'.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('%') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('\\') if p.get(pi + 1) == t.get(ti) && p.get(pi + 1).is_some() => {
                pi += 2;
                ti += 1;
                continue;
            }
            Some('_') => {
                pi += 1;
                ti += 1;
                continue;
            }
            Some(c) if Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '%'))
}

#[cfg(test)]
mod tests {
    use super::like_match;

    #[test]
    fn like_patterns() {
        assert!(like_match("sr%", "SR_hub"));
        assert!(like_match("s_h%b", "sxhub"));
        assert!(like_match("%", ""));
        assert!(!like_match("a%c", "abd"));
        assert!(like_match("a\\_b", "a_b"));
        assert!(!like_match("a\\_b", "axb"));
        assert!(like_match("%b%", "abc"));
    }
}
