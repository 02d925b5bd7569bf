//! Making files durable: the one home of every fsync-like call of the daemon. A leaf: the
//! tablet store, the local repository backend and the jobs all use it.
//!
//! Two ways, by how many files are written:
//! - one file: write a temporary, fsync it, rename it into place, fsync the folder
//!   ([`sync_dir`] after `File::sync_all`);
//! - many files: start each file's writeback as it is written ([`start_writeback`]), then make
//!   the whole file system durable at once ([`FolderSync`], one `syncfs`) instead of an fsync
//!   per file and folder.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Asks the kernel to start writing `file`'s dirty pages to disk now, without waiting for
/// them: a job that makes many files durable with one [`FolderSync::sync`] at its end overlaps
/// the disk writes with its copying instead of doing them all at the end. Advisory: where the
/// call is not supported, the final sync does all the work.
pub fn start_writeback(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range only reads its arguments; the descriptor is open for the call's
    // duration (borrowed from `file`), and offset 0 with length 0 means "to the end of file".
    let _ = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
}

/// Makes everything written to the file system that holds `dir` durable (`syncfs`): file
/// data, and metadata such as renames. One call instead of an fsync per file and folder.
///
/// Open `dir` before writing what it must make durable: the kernel reports a writeback error
/// to `syncfs` only when it happened after the descriptor was opened, or was not yet reported
/// to anyone else.
pub fn sync_filesystem(dir: &File) -> io::Result<()> {
    rustix::fs::syncfs(dir).map_err(io::Error::from)
}

/// Makes a rename durable: fsyncs the folder that holds `path`.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// A folder whose file system is made durable with one `syncfs`, opened before the writes it
/// must report on (see [`sync_filesystem`]).
#[derive(Debug)]
pub struct FolderSync(File);

impl FolderSync {
    /// Creates `dir` if needed and opens it.
    pub async fn open(dir: PathBuf) -> io::Result<FolderSync> {
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            File::open(&dir).map(FolderSync)
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Makes everything written since [`FolderSync::open`] durable.
    pub async fn sync(self) -> io::Result<()> {
        tokio::task::spawn_blocking(move || sync_filesystem(&self.0))
            .await
            .map_err(io::Error::other)?
    }
}
