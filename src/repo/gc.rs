//! Dropping snapshots and collecting the objects no snapshot needs (DESIGN.md "Repository
//! format", garbage collection), safe against backups running at the same time on this server
//! or on another one sharing the repository, and against a crash at any point.
//!
//! Dropping a snapshot deletes its COMMIT first (from then on it is not a snapshot), then its
//! manifest, then the rest of its folder. Its objects go in a separate *round*:
//!
//! 1. Read every committed manifest; every object none of them names is a candidate.
//! 2. Write a *mark* `gc/<server>-<round>.json` naming the candidates, then list the live
//!    leases and write them into the mark (`waits_for`).
//! 3. Wait until each of those leases has ended (its backup committed or stopped) or expired.
//! 4. Read the committed manifests again; delete the candidates still unreferenced; delete the
//!    mark.
//!
//! A backup writes its lease before it checks which objects exist, and before its COMMIT it
//! reads the marks ([`blocking_marks`]): a mark that may delete one of its objects, and that
//! does not wait for its lease, makes it wait until that round is over; then it checks every
//! object again and uploads any that went (also covering a lease that lapsed meanwhile). So an object a backup relies on is either
//! protected by the round waiting for the backup (whose COMMIT then names it), or checked again
//! after the round deleted it. Leases and marks expire when not refreshed; each writer stops
//! before its own expiry (minus a margin for clock skew) rather than act on a stale one.
//!
//! Everything here is derived from the repository itself, so a crash at any point leaves at
//! worst a manifest without COMMIT, unreferenced objects, or a stale mark, which the next round
//! removes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::layout::{self, LEASES_PREFIX, Lease, MARKS_PREFIX, OBJECTS_PREFIX, mark_key};
use super::manifest::{self, Manifest, SnapshotError};
use super::store::{ObjectStore, StoreError};
use crate::sql::TimestampFilter;

/// A lease or mark is trusted by its writer only until this long before it expires: covers
/// clock skew between servers and the time one request takes.
pub fn safety_margin_ms(lifetime_ms: i64) -> i64 {
    (lifetime_ms / 3).min(60_000)
}

/// `gc/<server id>-<round id>.json`: one collection round in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mark {
    pub server_id: String,
    pub round: String,
    pub created_ms: i64,
    pub heartbeat_ms: i64,
    pub expires_ms: i64,
    /// Objects (keys) this round may delete.
    pub candidates: BTreeSet<String>,
    /// Lease keys that were live once the mark was visible; `None` until listed.
    pub waits_for: Option<BTreeSet<String>>,
}

/// One collection round at a time per repository on this server: a lock per repository name.
#[derive(Default)]
pub struct RoundLocks {
    locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl RoundLocks {
    /// The lock of the repository `repo` (names compare case-insensitively).
    pub fn lock_for(&self, repo: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry(repo.to_ascii_lowercase()).or_default())
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Refused(String),
    #[error("failpoint: {0}")]
    Failpoint(String),
}

impl From<crate::failpoint::Triggered> for GcError {
    fn from(e: crate::failpoint::Triggered) -> Self {
        GcError::Failpoint(e.to_string())
    }
}

/// Leases whose backups may still be running, by key. An unreadable lease counts as live until
/// the lifetime has passed since it was written (by its storage time) — never as dead.
pub async fn live_leases(
    store: &ObjectStore,
    lifetime_ms: i64,
) -> Result<BTreeMap<String, Lease>, StoreError> {
    let now = now_ms();
    let mut live = BTreeMap::new();
    for object in store.list(LEASES_PREFIX).await? {
        let lease = match store.get_bytes(&object.key).await {
            Ok(bytes) => serde_json::from_slice::<Lease>(&bytes).unwrap_or(Lease {
                expires_ms: object.last_modified_ms.unwrap_or(now) + lifetime_ms,
                ..Lease::default()
            }),
            Err(StoreError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        if lease.expires_ms > now {
            live.insert(object.key, lease);
        }
    }
    Ok(live)
}

/// Marks of rounds in progress (not expired), by key.
pub async fn live_marks(store: &ObjectStore) -> Result<BTreeMap<String, Mark>, StoreError> {
    let now = now_ms();
    let mut marks = BTreeMap::new();
    for object in store.list(MARKS_PREFIX).await? {
        match store.get_bytes(&object.key).await {
            Ok(bytes) => match serde_json::from_slice::<Mark>(&bytes) {
                Ok(m) if m.expires_ms > now => {
                    marks.insert(object.key, m);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(mark = %object.key, error = %e, "ignoring an unreadable collection mark")
                }
            },
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(marks)
}

/// The marks that may delete one of `skipped` without waiting for the lease `lease_key`: a
/// backup must wait for those rounds to end before it relies on what it skipped.
pub fn blocking_marks<'a>(
    marks: &'a BTreeMap<String, Mark>,
    lease_key: &str,
    skipped: &BTreeSet<String>,
) -> Vec<&'a str> {
    marks
        .iter()
        .filter(|(_, m)| !m.waits_for.as_ref().is_some_and(|w| w.contains(lease_key)))
        .filter(|(_, m)| m.candidates.iter().any(|c| skipped.contains(c)))
        .map(|(k, _)| k.as_str())
        .collect()
}

/// One committed snapshot as collection sees it.
#[derive(Debug)]
pub struct Committed {
    pub label: String,
    pub timestamp: String,
    pub manifest: Result<Manifest, SnapshotError>,
    /// Every object key the snapshot names (also read from a damaged manifest's raw text).
    pub objects: BTreeMap<String, u64>,
}

/// Every committed snapshot of the repository and the objects each names. A transient storage
/// error fails the whole read: collection never guesses what is referenced.
pub async fn committed(store: &ObjectStore) -> Result<Vec<Committed>, StoreError> {
    let mut out = Vec::new();
    for (label, stamps) in manifest::list_snapshots(store, None).await? {
        for (timestamp, has_commit) in stamps {
            if !has_commit {
                continue;
            }
            let result = manifest::read_committed(store, &label, &timestamp).await;
            let objects = match &result {
                Ok(m) => m.objects().into_iter().map(|(k, r)| (k, r.size)).collect(),
                Err(SnapshotError::Store(StoreError::NotFound(_)))
                | Err(SnapshotError::Missing { .. }) => continue,
                Err(SnapshotError::Store(e)) => return Err(e.clone()),
                Err(SnapshotError::Damaged { .. }) => {
                    // Keep whatever it may name: read the raw text for object keys.
                    let key = layout::manifest_key(&label, &timestamp);
                    match object_keys_streamed(store, &key).await {
                        Ok(keys) => keys.into_iter().map(|k| (k, 0)).collect(),
                        Err(StoreError::NotFound(_)) => BTreeMap::new(),
                        Err(e) => return Err(e),
                    }
                }
            };
            out.push(Committed {
                label: label.clone(),
                timestamp,
                manifest: result,
                objects,
            });
        }
    }
    Ok(out)
}

/// Object keys (`objects/<2 hex>/<64 hex>`) appearing anywhere in `text`.
/// The object keys in the first [`manifest::MAX_MANIFEST_BYTES`] of a damaged manifest, read
/// chunk by chunk: a hostile manifest of any size costs bounded memory, never its whole size.
async fn object_keys_streamed(
    store: &ObjectStore,
    key: &str,
) -> Result<BTreeSet<String>, StoreError> {
    use futures::StreamExt;
    // A key is `objects/` plus 67 characters: carrying that much over finds keys cut in two.
    const CARRY: usize = OBJECTS_PREFIX.len() + 67;
    let mut stream = store
        .get_stream(key, Some(0..manifest::MAX_MANIFEST_BYTES))
        .await?;
    let mut keys = BTreeSet::new();
    let mut window: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        window.extend_from_slice(&chunk?);
        keys.extend(object_keys_in(&window));
        let keep = window.len().saturating_sub(CARRY);
        window.drain(..keep);
    }
    Ok(keys)
}

pub fn object_keys_in(text: &[u8]) -> BTreeSet<String> {
    let text = String::from_utf8_lossy(text);
    let mut keys = BTreeSet::new();
    let mut rest = text.as_ref();
    while let Some(at) = rest.find(OBJECTS_PREFIX) {
        let tail = &rest[at + OBJECTS_PREFIX.len()..];
        let candidate: String = tail.chars().take(2 + 1 + 64).collect::<String>();
        let bytes = candidate.as_bytes();
        let ok = candidate.len() == 67
            && bytes.get(2) == Some(&b'/')
            && candidate
                .char_indices()
                .all(|(i, c)| i == 2 || c.is_ascii_hexdigit());
        if ok {
            keys.insert(format!("{OBJECTS_PREFIX}{candidate}"));
        }
        rest = tail;
    }
    keys
}

/// One snapshot a drop removes, and the objects only it (among the dropped, in order) frees.
#[derive(Debug, Clone)]
pub struct Dropped {
    pub label: String,
    pub timestamp: String,
    /// Server id that made it; `None` when its manifest cannot be read.
    pub created_by: Option<String>,
    pub freed_objects: u64,
    pub freed_bytes: u64,
}

/// What dropping `label` (the timestamps `which` selects) would remove, checked against the
/// rules: the snapshot exists, it was made by `server_id` (or `force`), no backup of the label
/// holds a live lease. Changes nothing.
pub async fn plan_drop(
    store: &ObjectStore,
    label: &str,
    which: Option<&TimestampFilter>,
    force: bool,
    server_id: &str,
    lifetime_ms: i64,
) -> Result<Vec<Dropped>, GcError> {
    let all = committed(store).await?;
    let chosen: Vec<&Committed> = all
        .iter()
        .filter(|c| c.label == label)
        .filter(|c| TimestampFilter::selects(which, &c.timestamp))
        .collect();
    if chosen.is_empty() {
        let what = match which {
            None => String::new(),
            Some(TimestampFilter::Eq(ts)) => format!(" with timestamp '{ts}'"),
            Some(TimestampFilter::AtOrBefore(ts)) => {
                format!(" with a timestamp at or before '{ts}'")
            }
        };
        return Err(GcError::Refused(format!(
            "Snapshot '{label}'{what} does not exist in the repository; SHOW SNAPSHOT lists them"
        )));
    }
    if !force {
        for c in &chosen {
            match &c.manifest {
                Ok(m) if m.server_id == server_id => {}
                Ok(m) => {
                    return Err(GcError::Refused(format!(
                        "Snapshot {}/{} was created by another server ({}); add FORCE to drop it",
                        c.label, c.timestamp, m.server_id
                    )));
                }
                Err(e) => {
                    return Err(GcError::Refused(format!(
                        "Snapshot {}/{} cannot be read ({e}), so its creator is unknown; add \
                         FORCE to drop it",
                        c.label, c.timestamp
                    )));
                }
            }
        }
    }
    if let Some((key, _)) = live_leases(store, lifetime_ms)
        .await?
        .into_iter()
        .find(|(_, l)| l.label == label)
    {
        return Err(GcError::Refused(format!(
            "A backup is writing snapshot '{label}' (lease {key}); wait until it ends or cancel it"
        )));
    }
    let dropped: BTreeSet<(&str, &str)> = chosen
        .iter()
        .map(|c| (c.label.as_str(), c.timestamp.as_str()))
        .collect();
    let kept: BTreeSet<&str> = all
        .iter()
        .filter(|c| !dropped.contains(&(c.label.as_str(), c.timestamp.as_str())))
        .flat_map(|c| c.objects.keys().map(String::as_str))
        .collect();
    let mut counted: BTreeSet<&str> = BTreeSet::new();
    Ok(chosen
        .iter()
        .map(|c| {
            let mut objects = 0;
            let mut bytes = 0;
            for (key, size) in &c.objects {
                if !kept.contains(key.as_str()) && counted.insert(key.as_str()) {
                    objects += 1;
                    bytes += size;
                }
            }
            Dropped {
                label: c.label.clone(),
                timestamp: c.timestamp.clone(),
                created_by: c.manifest.as_ref().ok().map(|m| m.server_id.clone()),
                freed_objects: objects,
                freed_bytes: bytes,
            }
        })
        .collect())
}

/// Deletes one snapshot: COMMIT, then the manifest, then anything else in its folder.
pub async fn delete_snapshot(
    store: &ObjectStore,
    label: &str,
    timestamp: &str,
) -> Result<(), GcError> {
    let dir = layout::snapshot_dir(label, timestamp);
    store.delete(&layout::commit_key(label, timestamp)).await?;
    crate::failpoint::hit("gc.after_commit_delete").await?;
    store
        .delete(&layout::manifest_key(label, timestamp))
        .await?;
    crate::failpoint::hit("gc.after_manifest_delete").await?;
    for object in store.list(&format!("{dir}/")).await? {
        store.delete(&object.key).await?;
    }
    Ok(())
}

/// What one collection round did.
#[derive(Debug, Default, Clone)]
pub struct Swept {
    pub objects: u64,
    pub bytes: u64,
    /// Leftovers removed besides objects: uncommitted snapshot folders, expired leases/marks.
    pub leftovers: u64,
    /// Leases the round waited for.
    pub waited_for: u64,
}

/// Settings of a round.
#[derive(Debug, Clone, Copy)]
pub struct RoundSettings {
    /// Lifetime of this round's mark, and the lifetime assumed for unreadable leases.
    pub lifetime_ms: i64,
    /// How often waits poll the repository.
    pub poll: Duration,
}

/// One collection round (steps in the module doc). Runs until the leases it waits for end.
pub async fn collect(
    store: &ObjectStore,
    server_id: &str,
    settings: RoundSettings,
) -> Result<Swept, GcError> {
    let mut swept = Swept::default();
    let referenced: BTreeSet<String> = committed(store)
        .await?
        .into_iter()
        .flat_map(|c| c.objects.into_keys())
        .collect();
    let candidates: BTreeMap<String, u64> = store
        .list(OBJECTS_PREFIX)
        .await?
        .into_iter()
        .filter(|o| !referenced.contains(&o.key))
        .map(|o| (o.key, o.size))
        .collect();
    if !candidates.is_empty() {
        let round = format!("{:x}", now_ms());
        let key = mark_key(server_id, &round);
        let mut mark = Mark {
            server_id: server_id.to_string(),
            round,
            created_ms: now_ms(),
            heartbeat_ms: 0,
            expires_ms: 0,
            candidates: candidates.keys().cloned().collect(),
            waits_for: None,
        };
        write_mark(store, &key, &mut mark, settings.lifetime_ms).await?;
        let leases = live_leases(store, settings.lifetime_ms).await?;
        mark.waits_for = Some(leases.keys().cloned().collect());
        let written = write_mark(store, &key, &mut mark, settings.lifetime_ms).await?;
        let fresh = Arc::new(AtomicI64::new(written));
        let heartbeat = spawn_mark_heartbeat(
            store.clone(),
            key.clone(),
            mark,
            settings.lifetime_ms,
            Arc::clone(&fresh),
        );
        let check_fresh = || {
            if now_ms() - fresh.load(Ordering::SeqCst)
                > settings.lifetime_ms - safety_margin_ms(settings.lifetime_ms)
            {
                Err(GcError::Refused(
                    "the collection round's mark could not be kept fresh in the repository; \
                     the round stopped (a later one finishes it)"
                        .to_string(),
                ))
            } else {
                Ok(())
            }
        };
        let result = async {
            crate::failpoint::hit("gc.after_mark").await?;
            swept.waited_for = leases.len() as u64;
            // Wait for every lease that was live once the mark was visible.
            loop {
                check_fresh()?;
                let live = live_leases(store, settings.lifetime_ms).await?;
                if !leases.keys().any(|k| live.contains_key(k)) {
                    break;
                }
                tokio::time::sleep(settings.poll).await;
            }
            let referenced: BTreeSet<String> = committed(store)
                .await?
                .into_iter()
                .flat_map(|c| c.objects.into_keys())
                .collect();
            for (object, size) in &candidates {
                if referenced.contains(object) {
                    continue;
                }
                // Never act on a mark that may look expired to a backup.
                check_fresh()?;
                store.delete(object).await?;
                swept.objects += 1;
                swept.bytes += size;
                crate::failpoint::hit("gc.mid_sweep").await?;
            }
            Ok::<_, GcError>(())
        }
        .await;
        heartbeat.abort();
        // Whether it finished or stopped, the round deletes nothing more: release the backups.
        let removed = store.delete(&key).await;
        result?;
        removed?;
    }
    swept.leftovers = remove_leftovers(store, server_id, settings.lifetime_ms).await?;
    Ok(swept)
}

/// Rewrites the round's mark every tenth of its lifetime while the round runs; stops once the
/// mark may have looked expired (the round then stops too, see `check_fresh`).
fn spawn_mark_heartbeat(
    store: ObjectStore,
    key: String,
    mut mark: Mark,
    lifetime_ms: i64,
    fresh: Arc<AtomicI64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_millis((lifetime_ms / 10).unsigned_abs().max(100));
        loop {
            tokio::time::sleep(every).await;
            if now_ms() - fresh.load(Ordering::SeqCst) > lifetime_ms - safety_margin_ms(lifetime_ms)
            {
                return;
            }
            match write_mark(&store, &key, &mut mark, lifetime_ms).await {
                Ok(at) => fresh.store(at, Ordering::SeqCst),
                Err(e) => {
                    tracing::warn!(mark = %key, error = %e, "cannot refresh the collection mark")
                }
            }
        }
    })
}

/// Writes `mark` with a fresh heartbeat; returns when it was written.
async fn write_mark(
    store: &ObjectStore,
    key: &str,
    mark: &mut Mark,
    lifetime_ms: i64,
) -> Result<i64, StoreError> {
    let now = now_ms();
    mark.heartbeat_ms = now;
    mark.expires_ms = now + lifetime_ms;
    let json = serde_json::to_vec(mark).map_err(|e| StoreError::Failed {
        op: "encode",
        key: key.to_string(),
        detail: e.to_string(),
    })?;
    store.put_bytes(key, Bytes::from(json)).await?;
    Ok(now)
}

/// Aborts the multipart uploads (S3) that writers that died left open under the objects
/// prefix: they are listed first, then the leases, so the lease of any job that began one of
/// them is seen (a job writes its lease before its first upload). While another server has a
/// live lease nothing is aborted (its uploads cannot be told from dead ones); this server's
/// own transfers in flight are known and kept; an upload S3 says began less than a lease
/// lifetime ago is kept too.
pub async fn abort_dead_uploads(store: &ObjectStore, server_id: &str, lifetime_ms: i64) -> u64 {
    // Best effort: a store that cannot list uploads (a policy without
    // s3:ListBucketMultipartUploads, a server without the call) costs a warning, not the round.
    let uploads = match store.open_uploads(OBJECTS_PREFIX).await {
        Ok(uploads) => uploads,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list unfinished multipart uploads; a bucket lifecycle rule must abort them");
            return 0;
        }
    };
    if uploads.is_empty() {
        return 0;
    }
    let leases = match live_leases(store, lifetime_ms).await {
        Ok(leases) => leases,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list leases; no upload aborted");
            return 0;
        }
    };
    if leases.values().any(|l| l.server_id != server_id) {
        return 0;
    }
    let now = now_ms();
    let mut aborted = 0;
    for upload in uploads {
        // Our own transfers in flight are kept; so is an upload S3 says is young, or whose age
        // it does not say while a job of ours runs (it may have begun after the registry was read).
        let young = match upload.begun_ms {
            Some(b) => now - b < lifetime_ms,
            None => !leases.is_empty(),
        };
        if upload.ours || young {
            continue;
        }
        if store.abort_upload(&upload).await {
            tracing::info!(key = %upload.key, "aborted a multipart upload a writer that died left open");
            aborted += 1;
        }
    }
    aborted
}

/// Removes what dead jobs left: snapshot folders without COMMIT and without a live lease
/// (a backup that stopped before COMMIT, or a drop cut short), expired leases, expired marks,
/// temporary files and open multipart uploads.
async fn remove_leftovers(
    store: &ObjectStore,
    server_id: &str,
    lifetime_ms: i64,
) -> Result<u64, StoreError> {
    let now = now_ms();
    let mut removed = 0;
    let leases = live_leases(store, lifetime_ms).await?;
    let writing: BTreeSet<(&str, &str)> = leases
        .values()
        .map(|l| (l.label.as_str(), l.timestamp.as_str()))
        .collect();
    for (label, stamps) in manifest::list_snapshots(store, None).await? {
        for (timestamp, has_commit) in stamps {
            if has_commit || writing.contains(&(label.as_str(), timestamp.as_str())) {
                continue;
            }
            let dir = layout::snapshot_dir(&label, &timestamp);
            for object in store.list(&format!("{dir}/")).await? {
                // A folder younger than a lease's lifetime may belong to a backup whose lease
                // this server cannot see yet: leave it for a later round.
                if object
                    .last_modified_ms
                    .is_some_and(|m| now - m < lifetime_ms)
                {
                    continue;
                }
                store.delete(&object.key).await?;
                removed += 1;
            }
        }
    }
    for object in store.list(LEASES_PREFIX).await? {
        if !leases.contains_key(&object.key)
            && object
                .last_modified_ms
                .is_none_or(|m| now - m > lifetime_ms)
        {
            store.delete(&object.key).await?;
            removed += 1;
        }
    }
    // A local folder's temporary files that writers that died left: older than the oldest
    // live lease by a lease lifetime (every live job wrote its lease before its first file).
    // A lease without a start time (an older version's) stops the sweep.
    if leases.values().all(|l| l.started_ms > 0) {
        let oldest = leases
            .values()
            .map(|l| l.started_ms)
            .min()
            .unwrap_or(now)
            .min(now);
        removed += store
            .remove_stale_temporaries(OBJECTS_PREFIX, now - oldest + lifetime_ms)
            .await;
    }
    removed += abort_dead_uploads(store, server_id, lifetime_ms).await;
    let marks = live_marks(store).await?;
    for object in store.list(MARKS_PREFIX).await? {
        if !marks.contains_key(&object.key)
            && object
                .last_modified_ms
                .is_none_or(|m| now - m > lifetime_ms)
        {
            store.delete(&object.key).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_are_found_in_raw_text() {
        let sha = "ab".repeat(32);
        let text =
            format!(r#"{{"object": "objects/ab/{sha}", "bad": "objects/zz/{sha}"}} objects/"#);
        let keys = object_keys_in(text.as_bytes());
        assert_eq!(keys.len(), 1);
        assert!(keys.contains(&format!("objects/ab/{sha}")));
    }

    #[test]
    fn a_mark_blocks_only_backups_it_does_not_wait_for() {
        let mark = |waits: Option<&[&str]>| Mark {
            server_id: "s".into(),
            round: "1".into(),
            created_ms: 0,
            heartbeat_ms: 0,
            expires_ms: i64::MAX,
            candidates: ["objects/aa/x".to_string()].into(),
            waits_for: waits.map(|w| w.iter().map(|s| s.to_string()).collect()),
        };
        let skipped: BTreeSet<String> = ["objects/aa/x".to_string()].into();
        let other: BTreeSet<String> = ["objects/bb/y".to_string()].into();
        let marks: BTreeMap<String, Mark> = [
            ("gc/a".to_string(), mark(None)),
            ("gc/b".to_string(), mark(Some(&["leases/me"]))),
            ("gc/c".to_string(), mark(Some(&["leases/other"]))),
        ]
        .into();
        assert_eq!(
            blocking_marks(&marks, "leases/me", &skipped),
            vec!["gc/a", "gc/c"]
        );
        assert!(blocking_marks(&marks, "leases/me", &other).is_empty());
    }
}
