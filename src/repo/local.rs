//! A repository in a local folder (`file:///path`).
//!
//! Writes are atomic: a temporary file beside the target is written, fsynced and renamed over
//! it, and the folder is fsynced, so a crash leaves either the old object or the new one, never
//! a torn one. A backup's objects are staged the same way but made durable together (one
//! `syncfs`, then the renames, then one fsync per folder: [`LocalStore::publish`]); an object
//! gets its name only once its bytes are on disk. Temporary files start with `.tmp-` and are
//! invisible to listings; the collection round removes those a crash left.

use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::bandwidth::Bandwidth;
use super::store::{ByteStream, ObjectMeta, StoreError};

/// Prefix of temporary files; never a key.
const TMP_PREFIX: &str = ".tmp-";
/// Read size of streamed gets.
const CHUNK: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: PathBuf) -> LocalStore {
        LocalStore { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }

    /// The file that holds object `key` (for readers that copy it with plain file I/O).
    pub fn object_path(&self, key: &str) -> Result<PathBuf, StoreError> {
        self.path(key)
    }

    /// The file of `key`, which must stay inside the root: relative, `/`-separated, with no
    /// empty, `.`, `..` or temporary segment, no `\\` and no NUL. Keys come from manifests and
    /// users, so this is the one gate between them and the file system.
    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        if !is_safe_key(key, false) {
            return Err(bad_key(key));
        }
        Ok(self.root.join(key))
    }

    pub async fn put_bytes(&self, key: &str, data: Bytes) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let key = key.to_string();
        blocking(move || {
            write_atomic(&path, |f| f.write_all(&data)).map_err(|e| io_error("put", &key, &e))
        })
        .await
    }

    pub async fn put_file(
        &self,
        key: &str,
        source: &Path,
        bandwidth: &Arc<Bandwidth>,
    ) -> Result<u64, StoreError> {
        let copy = self.file_copy(key, source, bandwidth)?;
        blocking(move || {
            let mut input = std::fs::File::open(&copy.source).map_err(|e| copy.error(&e))?;
            let mut written = 0;
            write_atomic(&copy.path, |f| {
                written = super::bandwidth::copy(&mut input, f, &copy.bandwidth)?;
                Ok(())
            })
            .map_err(|e| copy.error(&e))?;
            Ok(written)
        })
        .await
    }

    /// What copying the file at `source` into object `key` needs on the blocking pool.
    fn file_copy(
        &self,
        key: &str,
        source: &Path,
        bandwidth: &Arc<Bandwidth>,
    ) -> Result<FileCopy, StoreError> {
        Ok(FileCopy {
            path: self.path(key)?,
            key: key.to_string(),
            source: source.to_path_buf(),
            bandwidth: Arc::clone(bandwidth),
        })
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(data) => Ok(Bytes::from(data)),
            Err(e) => Err(io_error("get", key, &e)),
        }
    }

    pub async fn get_stream(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, StoreError> {
        let path = self.path(key)?;
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| io_error("get", key, &e))?;
        let owned_key = key.to_string();
        let stream: ByteStream = match range {
            None => Box::pin(
                ReaderStream::with_capacity(file, CHUNK)
                    .map(move |r| r.map_err(|e| io_error("get", &owned_key, &e))),
            ),
            Some(range) => {
                file.seek(std::io::SeekFrom::Start(range.start))
                    .await
                    .map_err(|e| io_error("get", key, &e))?;
                let limited = file.take(range.end.saturating_sub(range.start));
                Box::pin(
                    ReaderStream::with_capacity(limited, CHUNK)
                        .map(move |r| r.map_err(|e| io_error("get", &owned_key, &e))),
                )
            }
        };
        Ok(stream)
    }

    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        // A prefix names a folder to walk: the same rules as a key (a trailing `/` allowed).
        if !prefix.is_empty() && !is_safe_key(prefix, true) {
            return Err(bad_key(prefix));
        }
        let root = self.root.clone();
        let prefix = prefix.to_string();
        blocking(move || {
            let mut out = Vec::new();
            // Walk only the folder the prefix names, not the whole repository.
            let dir_part = prefix.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            let start = if dir_part.is_empty() {
                root.clone()
            } else {
                root.join(dir_part)
            };
            walk(&root, &start, &prefix, &mut out).map_err(|e| io_error("list", &prefix, &e))?;
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let path = self.path(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(meta(key.to_string(), &m))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("head", key, &e)),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {
                // A dropped snapshot's folder goes with its last file (only its own job ever
                // writes there). Object prefix folders stay: a backup may be writing into one.
                if key.starts_with(super::layout::SNAPSHOTS_PREFIX)
                    && let Some(dir) = path.parent()
                {
                    let _ = tokio::fs::remove_dir(dir).await;
                }
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("delete", key, &e)),
        }
    }
}

/// Whether `key` names something inside the root (see [`LocalStore::path`]); `prefix` allows
/// one trailing `/`.
fn is_safe_key(key: &str, prefix: bool) -> bool {
    let key = if prefix {
        key.strip_suffix('/').unwrap_or(key)
    } else {
        key
    };
    !key.is_empty()
        && !key.starts_with('/')
        && !key.contains(['\\', '\0'])
        && !key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.starts_with(TMP_PREFIX))
}

fn bad_key(key: &str) -> StoreError {
    StoreError::Failed {
        op: "use",
        key: key.to_string(),
        detail: "not a valid object key".to_string(),
    }
}

fn meta(key: String, m: &std::fs::Metadata) -> ObjectMeta {
    let last_modified_ms = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_millis()).ok());
    ObjectMeta {
        key,
        size: m.len(),
        last_modified_ms,
    }
}

fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<ObjectMeta>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(TMP_PREFIX) {
            continue;
        }
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let key = rel
            .components()
            .filter_map(|c| c.as_os_str().to_str())
            .collect::<Vec<_>>()
            .join("/");
        // An object deleted while the folder is read (a lease, a dropped snapshot's file) is
        // simply not listed.
        let vanished = |e: &std::io::Error| e.kind() == ErrorKind::NotFound;
        let file_type = match entry.file_type() {
            Ok(t) => t,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(e),
        };
        if file_type.is_dir() {
            // Descend only where keys below can still start with the prefix.
            let dir_key = format!("{key}/");
            if dir_key.starts_with(prefix) || prefix.starts_with(&dir_key) {
                walk(root, &path, prefix, out)?;
            }
        } else if file_type.is_file() && key.starts_with(prefix) {
            match entry.metadata() {
                Ok(m) => out.push(meta(key, &m)),
                Err(e) if vanished(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// A file copied under a temporary name beside its object: neither durable nor visible until
/// [`LocalStore::publish`].
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
}

/// The files one job stages, and the repository's root opened before the first of them is
/// copied ([`crate::durable::sync_filesystem`] reports the write errors that happened since
/// then): one descriptor per job, however many files it stages.
#[derive(Debug)]
pub struct Staging {
    root: std::fs::File,
    staged: std::sync::Mutex<Vec<Staged>>,
}

impl Staging {
    fn take(self) -> (std::fs::File, Vec<Staged>) {
        let staged = self.staged.into_inner().unwrap_or_else(|p| p.into_inner());
        (self.root, staged)
    }
}

impl LocalStore {
    /// Opens the repository's root for a job that will stage files.
    pub async fn staging(&self) -> Result<Staging, StoreError> {
        let root = self.root.clone();
        blocking(move || {
            std::fs::create_dir_all(&root)
                .and_then(|()| std::fs::File::open(&root))
                .map(|root| Staging {
                    root,
                    staged: std::sync::Mutex::new(Vec::new()),
                })
                .map_err(|e| io_error("put", "", &e))
        })
        .await
    }

    /// Copies `source` to a temporary file beside object `key`, without fsync: a backup stages
    /// all its objects, then publishes them at once (one `syncfs` instead of one fsync per
    /// file, as `cp -r` + `sync` does), and only then do they get their names.
    pub async fn stage_file(
        &self,
        staging: &Staging,
        key: &str,
        source: &Path,
        bandwidth: &Arc<Bandwidth>,
    ) -> Result<u64, StoreError> {
        let copy = self.file_copy(key, source, bandwidth)?;
        let (staged, n) = blocking(move || {
            let dir = copy
                .path
                .parent()
                .ok_or_else(|| std::io::Error::other("object path has no folder"))
                .map_err(|e| copy.error(&e))?;
            std::fs::create_dir_all(dir).map_err(|e| copy.error(&e))?;
            let tmp = temporary_beside(&copy.path);
            let copied = (|| {
                let mut input = std::fs::File::open(&copy.source)?;
                let mut output = std::fs::File::create(&tmp)?;
                // In-kernel (copy_file_range), then the disk writes start while the next
                // object is copied; publish waits for them.
                let n = super::bandwidth::copy(&mut input, &mut output, &copy.bandwidth)?;
                crate::durable::start_writeback(&output);
                Ok(n)
            })();
            match copied {
                Ok(n) => Ok((
                    Staged {
                        tmp,
                        path: copy.path,
                    },
                    n,
                )),
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    Err(copy.error(&e))
                }
            }
        })
        .await?;
        staging
            .staged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(staged);
        Ok(n)
    }

    /// Makes staged files durable (one `syncfs` of the repository's file system), then gives
    /// them their names, then makes the renames durable (each folder fsynced once).
    pub async fn publish(&self, staging: Staging) -> Result<(), StoreError> {
        let (root, staged) = staging.take();
        if staged.is_empty() {
            return Ok(());
        }
        blocking(move || {
            let failed = |e: std::io::Error| io_error("publish", super::layout::OBJECTS_PREFIX, &e);
            // The root as it was before any of the copies.
            crate::durable::sync_filesystem(&root).map_err(failed)?;
            let mut folders = std::collections::BTreeSet::new();
            for s in &staged {
                std::fs::rename(&s.tmp, &s.path).map_err(failed)?;
                if let Some(parent) = s.path.parent() {
                    folders.insert(parent.to_path_buf());
                }
            }
            for folder in folders {
                std::fs::File::open(&folder)
                    .and_then(|f| f.sync_all())
                    .map_err(failed)?;
            }
            Ok(())
        })
        .await
    }

    /// Removes staged files that will not be published.
    pub fn discard(staging: Staging) {
        for s in staging.take().1 {
            let _ = std::fs::remove_file(&s.tmp);
        }
    }

    /// Removes temporary files older than `age_ms` (left by a crash) under `prefix`'s folder.
    pub async fn remove_stale_temporaries(&self, prefix: &str, age_ms: i64) -> u64 {
        let start = self.root.join(prefix.trim_end_matches('/'));
        blocking(move || {
            let mut removed = 0;
            let now = std::time::SystemTime::now();
            let mut dirs = vec![start];
            while let Some(dir) = dirs.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    let Ok(kind) = entry.file_type() else {
                        continue;
                    };
                    if kind.is_dir() {
                        dirs.push(path);
                        continue;
                    }
                    let old = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| now.duration_since(t).ok())
                        .is_some_and(|d| d.as_millis() > u128::try_from(age_ms).unwrap_or(0));
                    if old
                        && entry.file_name().to_string_lossy().starts_with(TMP_PREFIX)
                        && std::fs::remove_file(&path).is_ok()
                    {
                        removed += 1;
                    }
                }
            }
            Ok::<_, StoreError>(removed)
        })
        .await
        .unwrap_or(0)
    }
}

/// A temporary name in the folder of `path`.
fn temporary_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("object");
    let dir = path.parent().unwrap_or(Path::new("."));
    dir.join(format!("{TMP_PREFIX}{name}-{:016x}", rand::random::<u64>()))
}

/// Writes `path` through a temporary file: write, fsync, rename, fsync the folder.
/// Copying a local file into an object: the object's path and key (for errors), the file and
/// the job's bandwidth.
struct FileCopy {
    path: PathBuf,
    key: String,
    source: PathBuf,
    bandwidth: Arc<Bandwidth>,
}

impl FileCopy {
    fn error(&self, e: &std::io::Error) -> StoreError {
        io_error("put", &self.key, e)
    }
}

fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("object path has no folder"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = temporary_beside(path);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        fill(&mut file)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        crate::durable::sync_dir(path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn io_error(op: &'static str, key: &str, e: &std::io::Error) -> StoreError {
    match e.kind() {
        ErrorKind::NotFound => StoreError::NotFound(key.to_string()),
        ErrorKind::PermissionDenied => StoreError::AccessDenied {
            op,
            key: key.to_string(),
            detail: e.to_string(),
        },
        _ => StoreError::Failed {
            op,
            key: key.to_string(),
            detail: e.to_string(),
        },
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Failed {
            op: "run",
            key: String::new(),
            detail: e.to_string(),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_outside_the_root_are_refused() {
        let store = LocalStore::new(PathBuf::from("/repo/root"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "objects/../../x",
            "a//b",
            "a/./b",
            "a\\..\\b",
            "a\0b",
            ".tmp-x",
            "objects/ab/.tmp-1",
        ] {
            assert!(store.path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            store.path("objects/ab/abcd").unwrap(),
            PathBuf::from("/repo/root/objects/ab/abcd")
        );
        assert!(is_safe_key("snapshots/", true));
        assert!(!is_safe_key("../", true));
    }

    proptest! {
        #![proptest_config(crate::sql::tests::proptest_config(1024))]

        /// Whatever the key, an accepted one names a path strictly below the root.
        #[test]
        fn accepted_keys_stay_below_the_root(key in "[a-z./\\\\\\x00-]{0,24}") {
            let root = PathBuf::from("/repo/root");
            let store = LocalStore::new(root.clone());
            if let Ok(path) = store.path(&key) {
                prop_assert!(path.starts_with(&root) && path != root);
                prop_assert!(path
                    .components()
                    .all(|c| matches!(c, std::path::Component::RootDir | std::path::Component::Normal(_))));
            }
        }
    }
}
