//! A job's bandwidth cap (`max_bandwidth`), held for every byte: the transfers admit their bytes
//! chunk by chunk as they move (a request body as it is sent, a download as it arrives, a copy
//! into a folder as it is written), not object by object, so one large object moves at the cap
//! from its first byte.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Bytes a paced transfer moves between two admissions.
pub const CHUNK: usize = 256 << 10;

/// The cap of one job, shared by its transfers in flight: on average at most `bytes_per_sec`
/// since the job's transfers began.
#[derive(Debug)]
pub struct Bandwidth {
    bytes_per_sec: Option<u64>,
    start: Instant,
    admitted: Mutex<u64>,
}

static UNLIMITED: LazyLock<Arc<Bandwidth>> = LazyLock::new(|| Bandwidth::new(None));

impl Bandwidth {
    /// A cap of `bytes_per_sec` (`None` or 0: none).
    pub fn new(bytes_per_sec: Option<u64>) -> Arc<Self> {
        Arc::new(Bandwidth {
            bytes_per_sec: bytes_per_sec.filter(|b| *b > 0),
            start: Instant::now(),
            admitted: Mutex::new(0),
        })
    }

    /// No cap.
    pub fn unlimited() -> Arc<Self> {
        Arc::clone(&UNLIMITED)
    }

    pub fn is_limited(&self) -> bool {
        self.bytes_per_sec.is_some()
    }

    /// Counts `bytes` in and says how long to wait before they may move: until the bytes
    /// admitted before them have had their time at the cap.
    fn reserve(&self, bytes: u64) -> Duration {
        let Some(rate) = self.bytes_per_sec else {
            return Duration::ZERO;
        };
        let due = {
            let mut admitted = self.admitted.lock().unwrap_or_else(|p| p.into_inner());
            let before = *admitted;
            *admitted += bytes;
            Duration::from_secs_f64(before as f64 / rate as f64)
        };
        due.saturating_sub(self.start.elapsed())
    }

    /// Waits until `bytes` more fit under the cap.
    pub async fn admit(&self, bytes: u64) {
        let wait = self.reserve(bytes);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// [`admit`](Self::admit) for a blocking thread.
    pub fn admit_blocking(&self, bytes: u64) {
        let wait = self.reserve(bytes);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// Copies `input` to `output` within `bandwidth`; returns the bytes copied. Without a cap, one
/// in-kernel copy (`copy_file_range`); with one, [`CHUNK`] at a time, each admitted first.
/// Blocking.
pub fn copy(
    input: &mut std::fs::File,
    output: &mut std::fs::File,
    bandwidth: &Bandwidth,
) -> std::io::Result<u64> {
    use std::io::{Read, Write};
    if !bandwidth.is_limited() {
        return std::io::copy(input, output);
    }
    let mut buffer = vec![0u8; CHUNK];
    let mut copied = 0u64;
    loop {
        let n = input.read(&mut buffer)?;
        let Some(chunk) = buffer.get(..n).filter(|c| !c.is_empty()) else {
            return Ok(copied);
        };
        bandwidth.admit_blocking(n as u64);
        output.write_all(chunk)?;
        copied += n as u64;
    }
}

/// A request body of `len` bytes of a file from `offset`, read [`CHUNK`] at a time and sent as
/// `bandwidth` admits them.
pub struct PacedBody {
    file: tokio::fs::File,
    left: u64,
    bandwidth: Arc<Bandwidth>,
    /// A chunk read and admitted, waiting for its time.
    ready: Option<(Bytes, std::pin::Pin<Box<tokio::time::Sleep>>)>,
}

impl PacedBody {
    pub async fn open(
        path: &std::path::Path,
        offset: u64,
        len: u64,
        bandwidth: Arc<Bandwidth>,
    ) -> std::io::Result<PacedBody> {
        use tokio::io::AsyncSeekExt;
        let mut file = tokio::fs::File::open(path).await?;
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        Ok(PacedBody {
            file,
            left: len,
            bandwidth,
            ready: None,
        })
    }
}

impl http_body::Body for PacedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        use std::task::Poll;
        use tokio::io::AsyncRead;
        let this = &mut *self;
        loop {
            if let Some((_, sleep)) = this.ready.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let Some((chunk, _)) = this.ready.take() else {
                    continue;
                };
                return Poll::Ready(Some(Ok(http_body::Frame::data(chunk))));
            }
            if this.left == 0 {
                return Poll::Ready(None);
            }
            let want = usize::try_from(this.left).unwrap_or(CHUNK).min(CHUNK);
            let mut buffer = vec![0u8; want];
            let mut read = tokio::io::ReadBuf::new(&mut buffer);
            match std::pin::Pin::new(&mut this.file).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Ok(())) => {}
            }
            let n = read.filled().len();
            if n == 0 {
                return Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file is shorter than when its upload began",
                ))));
            }
            buffer.truncate(n);
            this.left -= n as u64;
            let wait = this.bandwidth.reserve(n as u64);
            this.ready = Some((Bytes::from(buffer), Box::pin(tokio::time::sleep(wait))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0 && self.ready.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let pending = self.ready.as_ref().map_or(0, |(c, _)| c.len() as u64);
        http_body::SizeHint::with_exact(self.left + pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_paces_chunks_not_whole_objects() {
        let b = Bandwidth::new(Some(1 << 20));
        // The first chunk goes at once; the next waits for the first's time at the cap.
        assert!(b.reserve(512 << 10).is_zero());
        let wait = b.reserve(512 << 10);
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
        assert!(Bandwidth::unlimited().reserve(u64::MAX / 2).is_zero());
        assert!(!Bandwidth::new(Some(0)).is_limited());
    }

    #[tokio::test]
    async fn a_paced_body_sends_the_range_at_the_cap() {
        use http_body::Body;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        // 768 KiB from offset 100 at 2 MiB/s: the last of 3 chunks may go after 2 x 128 ms.
        let started = Instant::now();
        let mut body = PacedBody::open(&path, 100, 768 << 10, Bandwidth::new(Some(2 << 20)))
            .await
            .unwrap();
        let mut got = Vec::new();
        while let Some(frame) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            got.extend_from_slice(frame.unwrap().data_ref().unwrap());
        }
        assert!(body.is_end_stream());
        assert_eq!(&got[..], &data[100..100 + (768 << 10)]);
        assert!(started.elapsed() >= Duration::from_millis(240));
    }
}
