//! The tablet store: immutable Parquet rowset files under `<data-dir>/data/`, their write path
//! and the content checksum kept with each of them.
//!
//! - [`rowset`]: writes one rowset (temp file → fsync → rename → fsync dir), computing its
//!   sha256, size, row count and content checksum while the bytes pass;
//! - [`load`]: the load path (INSERT): rows routed to partitions and buckets, one rowset per
//!   touched tablet;
//! - [`checksum`]: the order-independent row checksum behind `CHECKSUM TABLE`;
//! - [`table`]: the query provider over a table's rowsets, with partition pruning ([`prune`]);
//! - [`json`]: JSON values' stored form and the JSON functions;
//! - [`keyed`]: deleted rows (PRIMARY/UNIQUE KEY upserts, DELETE, UPDATE) as Iceberg
//!   position-delete files beside the immutable data files;
//! - [`compaction`]: small rowset files merged into larger ones, delete files folded in;
//! - [`pins`]: who still needs which rowset file, and the collector that deletes the rest.
//!
//! Files become part of a table only through a catalog transaction (DESIGN.md "Data model").

pub mod checksum;
pub mod compaction;
pub mod files;
pub mod json;
pub mod keyed;
pub mod load;
pub mod pins;
pub mod prune;
pub mod rowset;
pub mod sketch;
pub mod table;

use std::path::{Path, PathBuf};

/// Why writing a rowset file failed (the repository's storage errors are
/// [`crate::repo::StoreError`]).
#[derive(Debug, thiserror::Error)]
pub enum RowsetError {
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error("cannot encode Parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("the rowset writer was already finished")]
    Closed,
}

impl RowsetError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        RowsetError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
