//! How a job moves its objects: streams in flight, part size and the bandwidth cap.

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
