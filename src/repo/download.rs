//! The verified download: one object of a repository to one local file, its size and sha256
//! checked against what the manifest says, whatever the backend. Jobs call
//! [`ObjectStore::download_verified`] and never look at which backend they hold.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::bandwidth::Bandwidth;
use super::store::{ObjectStore, StoreError};

/// Size of the writes of a downloaded object to its file.
const WRITE_SIZE: usize = 1 << 20;

/// Why a verified download failed.
#[derive(Debug)]
pub enum DownloadError {
    /// The store's error (already retried by the store, a body cut mid-stream included).
    Store(StoreError),
    /// The object's bytes are not the ones expected: why.
    Damaged(String),
    /// Writing the local file failed.
    Local(std::io::Error),
}

/// The temporary file a download writes before it is checked: `<target>.tmp`, beside it.
pub fn temporary_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

impl ObjectStore {
    /// Downloads `key` to a temporary file beside `target`, checks that it has `size` bytes
    /// with sha256 `sha256` (lower-case hex), and renames it into place; a damaged object
    /// leaves nothing behind. The file's writeback starts at once: the caller makes it durable
    /// (one [`crate::durable::FolderSync`] for many files).
    pub async fn download_verified(
        &self,
        key: &str,
        size: u64,
        sha256: &str,
        target: &Path,
        bandwidth: &Arc<Bandwidth>,
    ) -> Result<(), DownloadError> {
        let dir = target
            .parent()
            .ok_or_else(|| DownloadError::Local(std::io::Error::other("no folder")))?;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(DownloadError::Local)?;
        let tmp = temporary_path(target);
        // The object (a file or a connection) and the local copy, while they are open.
        let _files = crate::open_files::budget().acquire(2).await;
        let (got_size, got_sha) = match self {
            // A local repository: one blocking copy with plain file I/O (no per-chunk hops).
            ObjectStore::Local(local) => {
                self.local_request("get");
                let source = local.object_path(key).map_err(DownloadError::Store)?;
                let (key, tmp) = (key.to_string(), tmp.clone());
                let bandwidth = Arc::clone(bandwidth);
                tokio::task::spawn_blocking(move || copy_hashing(&key, &source, &tmp, &bandwidth))
                    .await
                    .map_err(|e| DownloadError::Local(std::io::Error::other(e.to_string())))??
            }
            ObjectStore::S3(_) => self.stream_hashing(key, &tmp, bandwidth).await?,
        };
        if got_size != size || got_sha != sha256 {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(DownloadError::Damaged(format!(
                "it has {got_size} bytes with sha256 {got_sha}; the manifest says {size} bytes \
                 with sha256 {sha256}"
            )));
        }
        tokio::fs::rename(&tmp, target)
            .await
            .map_err(DownloadError::Local)?;
        Ok(())
    }

    /// Streams `key` into the file `path`, hashing on the way, and starts its writeback.
    /// Returns the size and sha256 of what arrived.
    async fn stream_hashing(
        &self,
        key: &str,
        path: &Path,
        bandwidth: &Bandwidth,
    ) -> Result<(u64, String), DownloadError> {
        let mut stream = self
            .stream_unbudgeted(key, None)
            .await
            .map_err(DownloadError::Store)?;
        // The body arrives in small chunks: write it in large ones (each write of a tokio file
        // is a hop to a blocking thread).
        let mut file = tokio::io::BufWriter::with_capacity(
            WRITE_SIZE,
            tokio::fs::File::create(path)
                .await
                .map_err(DownloadError::Local)?,
        );
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(DownloadError::Store)?;
            // Reading no faster than the cap holds the sender to it (TCP flow control).
            bandwidth.admit(chunk.len() as u64).await;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(DownloadError::Local)?;
        }
        file.flush().await.map_err(DownloadError::Local)?;
        crate::durable::start_writeback(&file.into_inner().into_std().await);
        Ok((size, crate::hex(&hasher.finalize())))
    }
}

/// Copies the object file `source` to `target`, hashing on the way, and starts its writeback.
/// Blocking. Returns the size and sha256 of what was copied.
fn copy_hashing(
    key: &str,
    source: &Path,
    target: &Path,
    bandwidth: &Bandwidth,
) -> Result<(u64, String), DownloadError> {
    let read_error = |e: std::io::Error| {
        DownloadError::Store(if e.kind() == std::io::ErrorKind::NotFound {
            StoreError::NotFound(key.to_string())
        } else {
            StoreError::Failed {
                op: "get",
                key: key.to_string(),
                detail: e.to_string(),
            }
        })
    };
    let mut input = std::fs::File::open(source).map_err(read_error)?;
    let mut output = std::fs::File::create(target).map_err(DownloadError::Local)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; WRITE_SIZE];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buffer).map_err(read_error)?;
        let Some(chunk) = buffer.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        bandwidth.admit_blocking(n as u64);
        hasher.update(chunk);
        output.write_all(chunk).map_err(DownloadError::Local)?;
        size += n as u64;
    }
    crate::durable::start_writeback(&output);
    Ok((size, crate::hex(&hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temporary_sits_beside_its_target() {
        assert_eq!(
            temporary_path(Path::new("/d/data/7/12.parquet")),
            PathBuf::from("/d/data/7/12.parquet.tmp")
        );
    }
}
