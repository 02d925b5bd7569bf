//! How a job moves its objects: streams in flight, part size and the bandwidth cap.

use std::sync::Mutex;

use super::lock;

/// Transfer settings of one job: `parallel` streams, and `max_bandwidth` bytes per second.
#[derive(Debug, Clone, Copy)]
pub struct TransferSettings {
    pub parallel: usize,
    pub max_bandwidth: Option<u64>,
    /// S3 multipart part size of uploads.
    pub part_size: u64,
}

impl Default for TransferSettings {
    fn default() -> Self {
        TransferSettings {
            parallel: DEFAULT_PARALLEL,
            max_bandwidth: None,
            part_size: crate::repo::s3::PART_SIZE,
        }
    }
}

/// Objects in flight at once by default.
pub const DEFAULT_PARALLEL: usize = 4;

/// A job's bandwidth cap: each object's bytes are admitted before it moves, at most
/// `bytes_per_sec` on average since the job's transfers began.
#[derive(Debug)]
pub struct Bandwidth {
    bytes_per_sec: Option<u64>,
    start: std::time::Instant,
    admitted: Mutex<u64>,
}

impl Bandwidth {
    pub fn new(bytes_per_sec: Option<u64>) -> Self {
        Bandwidth {
            bytes_per_sec: bytes_per_sec.filter(|b| *b > 0),
            start: std::time::Instant::now(),
            admitted: Mutex::new(0),
        }
    }

    /// Waits until `bytes` more fit under the cap.
    pub async fn admit(&self, bytes: u64) {
        let Some(rate) = self.bytes_per_sec else {
            return;
        };
        let due = {
            let mut admitted = lock(&self.admitted);
            let before = *admitted;
            *admitted += bytes;
            std::time::Duration::from_secs_f64(before as f64 / rate as f64)
        };
        if let Some(wait) = due.checked_sub(self.start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
}
