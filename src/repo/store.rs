//! The object-store interface every repository goes through.
//!
//! One enum rather than a trait object: there are exactly two backends, and an enum keeps the
//! futures `Send` without boxing. Both backends stream: large files are uploaded and downloaded
//! in bounded chunks, so memory does not grow with object size.

use std::ops::Range;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;

use super::bandwidth::Bandwidth;
use super::local::LocalStore;
use super::s3::S3Store;

/// A stream of an object's bytes, in order.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, StoreError>> + Send>>;

/// What a listing or HEAD tells about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The key relative to the store's root.
    pub key: String,
    pub size: u64,
    /// Last modification time in milliseconds since the epoch, when the backend says.
    pub last_modified_ms: Option<i64>,
}

/// Why a storage operation failed. Messages name the object and the cause, never a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("object '{0}' does not exist")]
    NotFound(String),
    #[error("bucket '{0}' does not exist")]
    NoBucket(String),
    /// The credentials are valid but lack the permission for `op`.
    #[error("access denied to {op} '{key}': {detail}")]
    AccessDenied {
        op: &'static str,
        key: String,
        detail: String,
    },
    /// The storage does not accept the credentials (unknown key, wrong secret, expired token),
    /// or none could be obtained.
    #[error("the storage refused the credentials: {0}")]
    BadCredentials(String),
    /// Connecting failed or timed out.
    #[error("cannot reach the storage at {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    #[error("{op} '{key}' timed out after {secs} s")]
    Timeout {
        op: &'static str,
        key: String,
        secs: u64,
    },
    /// The storage still asked to slow down (SlowDown, 503, 429) after the store's retries.
    #[error("{op} '{key}' was throttled: {detail}")]
    Throttled {
        op: &'static str,
        key: String,
        detail: String,
    },
    /// Any other failure of one operation, after retries.
    #[error("{op} '{key}' failed: {detail}")]
    Failed {
        op: &'static str,
        key: String,
        detail: String,
    },
}

impl StoreError {
    /// A short name of the error's kind, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::NotFound(_) => "not_found",
            StoreError::NoBucket(_) => "no_bucket",
            StoreError::AccessDenied { .. } => "access_denied",
            StoreError::BadCredentials(_) => "bad_credentials",
            StoreError::Unreachable { .. } => "unreachable",
            StoreError::Timeout { .. } => "timeout",
            StoreError::Throttled { .. } => "throttled",
            StoreError::Failed { .. } => "failed",
        }
    }

    /// Whether retrying the same request later may succeed (throttling, 5xx, connection
    /// resets). The store has already retried these ([`super::retry`]) by the time a caller
    /// sees one: nothing above the store retries again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unreachable { .. }
                | StoreError::Timeout { .. }
                | StoreError::Throttled { .. }
                | StoreError::Failed { .. }
        )
    }
}

/// The objects one job writes with [`ObjectStore::stage_file`], waiting for
/// [`ObjectStore::publish`].
#[derive(Debug)]
pub enum Staging {
    Local(super::local::Staging),
    /// S3 objects are durable and visible once uploaded: nothing waits.
    Done,
}

/// Descriptors of the open-files budget ([`crate::open_files`]) that one storage operation
/// holds while it runs: its local files and, for S3, its connection.
async fn files(n: u32) -> crate::open_files::Permit {
    crate::open_files::budget().acquire(n).await
}

/// One repository root on some storage.
#[derive(Debug, Clone)]
pub enum ObjectStore {
    Local(LocalStore),
    S3(S3Store),
}

impl ObjectStore {
    /// Stores a small object (JSON documents, COMMIT markers) whole. Replaces an existing one.
    pub async fn put_bytes(&self, key: &str, data: Bytes) -> Result<(), StoreError> {
        // A temporary file and its folder (local), a connection (S3).
        let _files = self.starting("put", 2).await;
        match self {
            ObjectStore::Local(s) => s.put_bytes(key, data).await,
            ObjectStore::S3(s) => s.put_bytes(key, data).await,
        }
    }

    /// Streams a local file into the object `key`; S3 uses multipart upload above its part
    /// size, so memory stays bounded. Returns the bytes written.
    pub async fn put_file(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        self.put_file_paced(key, path, super::s3::PART_SIZE, &Bandwidth::unlimited())
            .await
    }

    /// [`ObjectStore::put_file`] with S3 multipart parts of `part_size` bytes (at least 5 MiB;
    /// files up to one part go in one request). A local folder ignores it.
    pub async fn put_file_parts(
        &self,
        key: &str,
        path: &Path,
        part_size: u64,
    ) -> Result<u64, StoreError> {
        self.put_file_paced(key, path, part_size, &Bandwidth::unlimited())
            .await
    }

    /// [`ObjectStore::put_file_parts`] within a job's `bandwidth`.
    pub async fn put_file_paced(
        &self,
        key: &str,
        path: &Path,
        part_size: u64,
        bandwidth: &Arc<Bandwidth>,
    ) -> Result<u64, StoreError> {
        // The source, a temporary file and its folder (local); the source and a connection (S3).
        let _files = self.starting("put", 3).await;
        match self {
            ObjectStore::Local(s) => s.put_file(key, path, bandwidth).await,
            ObjectStore::S3(s) => s.put_file(key, path, part_size, bandwidth).await,
        }
    }

    /// Begins the objects one job writes with [`ObjectStore::stage_file`].
    pub async fn staging(&self) -> Result<Staging, StoreError> {
        match self {
            ObjectStore::Local(s) => Ok(Staging::Local(s.staging().await?)),
            ObjectStore::S3(_) => Ok(Staging::Done),
        }
    }

    /// Starts writing object `key` from `path` for [`ObjectStore::publish`]: a local folder
    /// copies it under a temporary name (durable and visible only once published); S3 uploads
    /// it now (a PUT is atomic and durable when it returns). Returns the bytes written.
    pub async fn stage_file(
        &self,
        staging: &Staging,
        key: &str,
        path: &Path,
        part_size: u64,
        bandwidth: &Arc<Bandwidth>,
    ) -> Result<u64, StoreError> {
        // The source and the copy (local), the source and a connection (S3).
        let _files = self.starting("put", 2).await;
        match (self, staging) {
            (ObjectStore::Local(s), Staging::Local(staging)) => {
                s.stage_file(staging, key, path, bandwidth).await
            }
            (ObjectStore::Local(s), Staging::Done) => s.put_file(key, path, bandwidth).await,
            (ObjectStore::S3(s), _) => s.put_file(key, path, part_size, bandwidth).await,
        }
    }

    /// Makes every staged object durable and visible.
    pub async fn publish(&self, staging: Staging) -> Result<(), StoreError> {
        let _files = files(1).await;
        match (self, staging) {
            (ObjectStore::Local(s), Staging::Local(staging)) => s.publish(staging).await,
            _ => Ok(()),
        }
    }

    /// Drops staged objects that will not be published.
    pub fn discard(staging: Staging) {
        if let Staging::Local(staging) = staging {
            super::local::LocalStore::discard(staging);
        }
    }

    /// Removes what writers that died left under `prefix` and is older than `age_ms` (a local
    /// folder's temporary files); S3 keeps nothing of an unfinished PUT, and its unfinished
    /// multipart uploads are [`ObjectStore::open_uploads`].
    pub async fn remove_stale_temporaries(&self, prefix: &str, age_ms: i64) -> u64 {
        // The folders being walked.
        let _files = files(2).await;
        match self {
            ObjectStore::Local(s) => s.remove_stale_temporaries(prefix, age_ms).await,
            ObjectStore::S3(_) => 0,
        }
    }

    /// The multipart uploads open under `prefix` (S3; a local folder has none).
    pub async fn open_uploads(
        &self,
        prefix: &str,
    ) -> Result<Vec<super::s3::OpenUpload>, StoreError> {
        match self {
            ObjectStore::Local(_) => Ok(Vec::new()),
            ObjectStore::S3(s) => {
                // A connection.
                let _files = files(1).await;
                s.open_uploads(prefix).await
            }
        }
    }

    /// Aborts an open multipart upload (best effort); whether it was aborted.
    pub async fn abort_upload(&self, upload: &super::s3::OpenUpload) -> bool {
        match self {
            ObjectStore::S3(s) => {
                let _files = files(1).await;
                s.abort_open(upload).await
            }
            ObjectStore::Local(_) => false,
        }
    }

    /// Reads a small object whole.
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, StoreError> {
        let _files = self.starting("get", 1).await;
        match self {
            ObjectStore::Local(s) => s.get_bytes(key).await,
            ObjectStore::S3(s) => s.get_bytes(key).await,
        }
    }

    /// Streams an object, or the byte range `range` of it.
    pub async fn get_stream(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, StoreError> {
        // The file or connection stays open until the stream ends or is dropped.
        let held = files(1).await;
        let stream = self.stream_unbudgeted(key, range).await?;
        Ok(Box::pin(crate::open_files::Holding::new(stream, held)))
    }

    /// [`ObjectStore::get_stream`] for a caller that holds the descriptors already.
    pub(super) async fn stream_unbudgeted(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, StoreError> {
        self.local_request("get");
        match self {
            ObjectStore::Local(s) => s.get_stream(key, range).await,
            ObjectStore::S3(s) => s.get_stream(key, range).await,
        }
    }

    /// Every object whose key starts with `prefix`, in key order (all pages).
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        // The folders being walked (local), a connection (S3).
        let _files = self.starting("list", 2).await;
        match self {
            ObjectStore::Local(s) => s.list(prefix).await,
            ObjectStore::S3(s) => s.list(prefix).await,
        }
    }

    /// The object's size and time, or `None` when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let _files = self.starting("head", 1).await;
        match self {
            ObjectStore::Local(s) => s.head(key).await,
            ObjectStore::S3(s) => s.head(key).await,
        }
    }

    /// Deletes an object; deleting one that does not exist succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let _files = self.starting("delete", 1).await;
        match self {
            ObjectStore::Local(s) => s.delete(key).await,
            ObjectStore::S3(s) => s.delete(key).await,
        }
    }

    /// An operation of kind `op` that keeps `n` files (or connections) open while it runs: their
    /// permit, and on a local folder the operation counted as one request (S3 counts each of
    /// its requests itself, per attempt and per LIST page).
    async fn starting(&self, op: &'static str, n: u32) -> crate::open_files::Permit {
        self.local_request(op);
        files(n).await
    }

    /// Counts one operation on a local folder as one request of kind `op`.
    pub(super) fn local_request(&self, op: &'static str) {
        if matches!(self, ObjectStore::Local(_)) {
            super::retry::report_request(op);
        }
    }

    /// Where this store is, for messages (no credentials).
    pub fn describe(&self) -> String {
        match self {
            ObjectStore::Local(s) => s.describe(),
            ObjectStore::S3(s) => s.describe(),
        }
    }
}
