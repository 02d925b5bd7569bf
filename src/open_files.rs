//! The daemon's budget of open files: one count of the descriptors that queries, loads and jobs
//! hold for their data files, so that together they never reach the process's limit
//! (`RLIMIT_NOFILE`) and a crowd of clients over tables of many rowsets makes statements wait
//! instead of failing with "Too many open files".
//!
//! The budget is process-wide because the limit is: [`init`] sizes it once from the limit, what
//! the client connections need and a reserve for everything else the process keeps open (the
//! catalog, the listeners, the runtime, S3 connections, spill files). Every user takes a
//! [`Permit`] for as long as it keeps files open and holds nothing else while it waits for one:
//! a query's read of one file, a load's write of a buffered chunk of a rowset, a job's copy of
//! one object. The permits are handed out first come, first served (the semaphore is fair), so
//! loads, jobs and queries share the budget and none starves; none of them waits for a second
//! permit while holding one (a copy that needs two files asks for both at once), so the waits
//! cannot deadlock.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Descriptors kept for what the budget does not count: standard streams, the runtime's epoll
/// and wakers, listeners, the catalog, S3 connections in their pools, sort spill files, the
/// folder a restore syncs.
pub const RESERVE: u64 = 128;
/// The budget never goes below this, however low the limit: the connections give way instead.
pub const MIN_FILES: u64 = 64;
/// Budget when the limit is unlimited or unknown.
const UNLIMITED_FILES: u64 = 65_536;

/// How the process's descriptors are shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Files queries, loads and jobs may hold open together.
    pub files: u64,
    /// Client connections served at once (at most what was asked for).
    pub connections: u64,
}

/// Shares `limit` (the process's open-files limit; `None` for unlimited) between `connections`
/// client connections, the reserve and the files. The files get what is left, and at least
/// [`MIN_FILES`]; when that does not fit, fewer connections are served.
pub fn plan(limit: Option<u64>, connections: u64) -> Plan {
    let Some(limit) = limit else {
        return Plan {
            files: UNLIMITED_FILES,
            connections,
        };
    };
    let left = limit.saturating_sub(RESERVE);
    let files = left.saturating_sub(connections).max(MIN_FILES);
    Plan {
        files: files.min(UNLIMITED_FILES),
        connections: connections.min(left.saturating_sub(files)).max(1),
    }
}

/// The budget: a fair semaphore and what it has seen.
#[derive(Debug)]
pub struct OpenFiles {
    permits: Semaphore,
    size: u64,
    in_use: AtomicUsize,
    peak: AtomicUsize,
    waits: AtomicU64,
}

/// Files held open for one use; given back when dropped.
#[derive(Debug)]
pub struct Permit {
    budget: &'static OpenFiles,
    /// `None` only if the semaphore were closed, which it never is: the use then goes ahead
    /// uncounted rather than fail.
    _permit: Option<SemaphorePermit<'static>>,
    files: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.budget.in_use.fetch_sub(self.files, Ordering::Relaxed);
    }
}

static BUDGET: OnceLock<OpenFiles> = OnceLock::new();

/// Sizes the budget to `files`. The first call wins (one daemon per process; a test that starts
/// several engines in one process shares one budget); returns the size in force.
pub fn init(files: u64) -> u64 {
    BUDGET.get_or_init(|| OpenFiles::new(files)).size
}

/// The budget ([`init`]'s size; the size [`plan`] gives the current limit and 1024
/// connections when nothing called `init`). Called for every file opened: after the first
/// call it is a load of the initialized cell.
pub fn budget() -> &'static OpenFiles {
    BUDGET.get_or_init(|| OpenFiles::new(plan(process_limit(), 1024).files))
}

/// The process's soft limit of open files (`None`: unlimited).
pub fn process_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

impl OpenFiles {
    fn new(files: u64) -> Self {
        let files = files.max(1);
        OpenFiles {
            permits: Semaphore::new(usize::try_from(files).unwrap_or(Semaphore::MAX_PERMITS)),
            size: files,
            in_use: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            waits: AtomicU64::new(0),
        }
    }

    /// Waits for `files` files of the budget (more than the whole budget counts as all of it).
    pub async fn acquire(&'static self, files: u32) -> Permit {
        let files = self.clamp(files);
        let permit = match self.permits.try_acquire_many(files) {
            Ok(p) => Some(p),
            Err(_) => {
                self.waits.fetch_add(1, Ordering::Relaxed);
                self.permits.acquire_many(files).await.ok()
            }
        };
        self.held(permit, files)
    }

    /// [`acquire`](Self::acquire) for blocking code (a load's writer, a job's copy on a blocking
    /// thread). Never call it on an async worker thread.
    pub fn acquire_blocking(&'static self, files: u32) -> Permit {
        futures::executor::block_on(self.acquire(files))
    }

    fn clamp(&self, files: u32) -> u32 {
        files
            .max(1)
            .min(u32::try_from(self.size).unwrap_or(u32::MAX))
    }

    fn held(&'static self, permit: Option<SemaphorePermit<'static>>, files: u32) -> Permit {
        let files = files as usize;
        let now = self.in_use.fetch_add(files, Ordering::Relaxed) + files;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Permit {
            budget: self,
            _permit: permit,
            files,
        }
    }

    /// The budget's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Files held open now.
    pub fn in_use(&self) -> u64 {
        self.in_use.load(Ordering::Relaxed) as u64
    }

    /// Most files held open at once since start.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed) as u64
    }

    /// How many times a query, load or job waited for files.
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }
}

/// A stream of what an open file (or connection) gives, holding its [`Permit`] until the stream
/// ends, fails or is dropped: a reader that keeps an exhausted stream around while it asks for
/// another file does not hold two.
pub struct Holding<S> {
    inner: S,
    permit: Option<Permit>,
}

impl<S> Holding<S> {
    pub fn new(inner: S, permit: Permit) -> Self {
        Self {
            inner,
            permit: Some(permit),
        }
    }
}

impl<S, T, E> futures::Stream for Holding<S>
where
    S: futures::Stream<Item = Result<T, E>> + Unpin,
{
    type Item = Result<T, E>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_next(cx);
        if matches!(polled, std::task::Poll::Ready(None | Some(Err(_)))) {
            self.permit = None;
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_get_what_connections_and_the_reserve_leave() {
        assert_eq!(
            plan(Some(4096), 1024),
            Plan {
                files: 4096 - RESERVE - 1024,
                connections: 1024
            }
        );
        // A low limit: the files keep their minimum, the connections give way.
        assert_eq!(
            plan(Some(1024), 1024),
            Plan {
                files: MIN_FILES,
                connections: 1024 - RESERVE - MIN_FILES
            }
        );
        assert_eq!(plan(Some(10), 5).connections, 1);
        assert_eq!(plan(None, 7).files, UNLIMITED_FILES);
        assert_eq!(plan(Some(10_000_000), 100).files, UNLIMITED_FILES);
    }

    #[tokio::test]
    async fn a_stream_gives_its_file_back_when_it_ends() {
        use futures::StreamExt;
        let budget = budget();
        let permit = budget.acquire(1).await;
        let mut stream = Holding::new(futures::stream::iter([Ok::<u8, ()>(1), Ok(2)]), permit);
        assert_eq!(stream.next().await, Some(Ok(1)));
        assert!(stream.permit.is_some());
        assert_eq!(stream.next().await, Some(Ok(2)));
        assert_eq!(stream.next().await, None);
        // Still in scope, but exhausted: its file is given back.
        assert!(stream.permit.is_none());
    }
}
