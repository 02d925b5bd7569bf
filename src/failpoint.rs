//! Named failpoints (DESIGN.md "Failpoints"): debug builds read
//! `BACKSTOP_FAILPOINTS=name=action[,name=action...]` once, with actions
//! - `crash`: abort the process on the spot (as a power cut or `kill -9` would);
//! - `error`: the operation fails with an internal error;
//! - `panic`: the thread panics there (as a bug would), to prove that a panic on a statement's
//!   way fails that statement only;
//! - `pause`: the operation waits for an hour (tests act meanwhile, then kill the daemon or
//!   cancel the job). When `BACKSTOP_FAILPOINT_DIR` names a folder, reaching the point creates
//!   `<dir>/<name>.reached` and creating `<dir>/<name>.resume` lets the operation go on.
//!
//! Release builds compile every failpoint to nothing.
//!
//! A leaf: it imports nothing of the crate, so every layer may pass through a failpoint. Each
//! layer turns [`Triggered`] into its own error.

/// The failpoint `0` was set to `error` and reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failpoint {0}")]
pub struct Triggered(pub String);

#[cfg(debug_assertions)]
fn action(name: &str) -> Option<&'static str> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static POINTS: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    let points = POINTS.get_or_init(|| {
        std::env::var("BACKSTOP_FAILPOINTS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|item| item.split_once('='))
            .filter_map(|(n, a)| {
                let a = match a.trim() {
                    "crash" => "crash",
                    "error" => "error",
                    "panic" => "panic",
                    "pause" => "pause",
                    _ => return None,
                };
                Some((n.trim().to_string(), a))
            })
            .collect()
    });
    points.get(name).copied()
}

/// Passes through the failpoint `name`.
#[cfg(debug_assertions)]
pub async fn hit(name: &str) -> Result<(), Triggered> {
    if action(name) != Some("pause") {
        return hit_blocking(name);
    }
    tracing::warn!(failpoint = name, "paused at failpoint");
    let Some(dir) = std::env::var_os("BACKSTOP_FAILPOINT_DIR") else {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        return Ok(());
    };
    let dir = std::path::PathBuf::from(dir);
    let _ = std::fs::write(dir.join(format!("{name}.reached")), b"");
    let resume = dir.join(format!("{name}.resume"));
    for _ in 0..36_000 {
        if resume.exists() {
            tracing::warn!(failpoint = name, "resumed at failpoint");
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(())
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub async fn hit(_name: &str) -> Result<(), Triggered> {
    Ok(())
}

/// The failpoint `name` inside blocking code (a catalog transaction): `crash`, `error` and
/// `panic` act, `pause` is not available there.
#[cfg(debug_assertions)]
pub fn hit_blocking(name: &str) -> Result<(), Triggered> {
    match action(name) {
        Some("crash") => {
            tracing::warn!(failpoint = name, "crashing at failpoint");
            std::process::abort()
        }
        Some("error") => Err(Triggered(name.to_string())),
        Some("panic") => panic!("failpoint {name}"),
        _ => Ok(()),
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn hit_blocking(_name: &str) -> Result<(), Triggered> {
    Ok(())
}
