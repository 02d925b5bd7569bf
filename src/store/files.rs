//! The file system as the query engine reads it: DataFusion's local object store, with every
//! request that opens a file taking its descriptor from the daemon's open-files budget
//! ([`crate::open_files`]) for as long as the file is open.
//!
//! A scan opens a rowset file per request (a footer, a set of column chunks) and closes it when
//! the request returns, so a query over thousands of rowsets holds a few files at a time, and a
//! crowd of queries waits its turn for descriptors instead of failing with "Too many open
//! files". Asking for a file's size (`head`) opens nothing and takes nothing.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use futures::stream::{BoxStream, StreamExt};

use crate::open_files::{self, Permit};

/// [`LocalFileSystem`] within the open-files budget.
#[derive(Debug)]
pub struct BudgetedFiles {
    inner: Arc<LocalFileSystem>,
}

impl BudgetedFiles {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(LocalFileSystem::new()),
        }
    }
}

impl Default for BudgetedFiles {
    fn default() -> Self {
        Self::new()
    }
}

impl BudgetedFiles {
    /// A file's size and time from `stat`, which opens nothing (the local store opens the file
    /// to answer a HEAD): a scan asks for every rowset file's size before it reads any.
    async fn head_by_stat(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let path = self.inner.path_to_filesystem(location)?;
        let located = location.clone();
        let meta = tokio::task::spawn_blocking(move || {
            let metadata = std::fs::metadata(&path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    datafusion::object_store::Error::NotFound {
                        path: path.display().to_string(),
                        source: Box::new(e),
                    }
                } else {
                    datafusion::object_store::Error::Generic {
                        store: "LocalFileSystem",
                        source: Box::new(e),
                    }
                }
            })?;
            Ok::<_, datafusion::object_store::Error>(object_meta(located, &metadata))
        })
        .await
        .map_err(|e| datafusion::object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(e),
        })??;
        options.check_preconditions(&meta)?;
        Ok(GetResult {
            payload: GetResultPayload::Stream(futures::stream::empty().boxed()),
            range: 0..meta.size,
            meta,
            attributes: Default::default(),
        })
    }
}

/// What the local store says of a file, from its metadata: the same size, time and e-tag
/// (inode, modification time in microseconds and size, in hex).
fn object_meta(location: Path, metadata: &std::fs::Metadata) -> ObjectMeta {
    use std::os::unix::fs::MetadataExt;
    let modified = metadata.modified().unwrap_or(std::time::UNIX_EPOCH);
    let mtime = modified
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    ObjectMeta {
        location,
        last_modified: modified.into(),
        size: metadata.len(),
        e_tag: Some(format!(
            "{:x}-{mtime:x}-{:x}",
            metadata.ino(),
            metadata.len()
        )),
        version: None,
    }
}

impl fmt::Display for BudgetedFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BudgetedFiles({})", self.inner)
    }
}

async fn one_file() -> Permit {
    open_files::budget().acquire(1).await
}

#[async_trait]
impl ObjectStore for BudgetedFiles {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let _permit = one_file().await;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        // The local upload writes its parts to a temporary file that it opens per part.
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if options.head {
            return self.head_by_stat(location, options).await;
        }
        let permit = one_file().await;
        let ranged = options.range.is_some();
        let result = self.inner.get_opts(location, options).await?;
        if !matches!(result.payload, GetResultPayload::File(..)) {
            return Ok(result);
        }
        let (meta, range, attributes) = (
            result.meta.clone(),
            result.range.clone(),
            result.attributes.clone(),
        );
        let payload = if ranged {
            // A byte range (a Parquet footer): read it now and close the file.
            let bytes = result.bytes().await?;
            drop(permit);
            futures::stream::once(async { Ok(bytes) }).boxed()
        } else {
            // A whole file (a CSV being streamed): open as long as it is read.
            open_files::Holding::new(result.into_stream(), permit).boxed()
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(payload),
            meta,
            range,
            attributes,
        })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let _permit = one_file().await;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let inner = Arc::clone(&self.inner);
        let prefix = prefix.cloned();
        // A listing walks folders, each an open descriptor while it is read.
        futures::stream::once(async move {
            open_files::Holding::new(inner.list(prefix.as_ref()), one_file().await)
        })
        .flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let _permit = one_file().await;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        let _permits = open_files::budget().acquire(2).await;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use datafusion::object_store::{ObjectStoreExt, local::LocalFileSystem};

    use super::*;

    #[tokio::test]
    async fn answers_as_the_local_store_does() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("1.parquet");
        std::fs::write(&file, b"0123456789").unwrap();
        let location = Path::from_filesystem_path(&file).unwrap();
        let ours = BudgetedFiles::new();
        let theirs = LocalFileSystem::new();

        // HEAD by stat: the same size, time and e-tag as the local store's open-and-fstat.
        assert_eq!(
            ours.head(&location).await.unwrap(),
            theirs.head(&location).await.unwrap()
        );
        assert_eq!(
            ours.get_range(&location, 2..5).await.unwrap(),
            Bytes::from_static(b"234")
        );
        assert_eq!(
            ours.get(&location).await.unwrap().bytes().await.unwrap(),
            Bytes::from_static(b"0123456789")
        );
        assert_eq!(
            ours.get_ranges(&location, &[0..1, 9..10]).await.unwrap(),
            vec![Bytes::from_static(b"0"), Bytes::from_static(b"9")]
        );

        let missing = Path::from_filesystem_path(dir.path())
            .unwrap()
            .join("2.parquet");
        assert!(matches!(
            ours.head(&missing).await,
            Err(datafusion::object_store::Error::NotFound { .. })
        ));
        assert!(matches!(
            ours.get_range(&missing, 0..1).await,
            Err(datafusion::object_store::Error::NotFound { .. })
        ));
    }
}
