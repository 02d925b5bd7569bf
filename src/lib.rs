//! backstop: a daemon that speaks the MySQL protocol and protects table data with StarRocks'
//! BACKUP / RESTORE statements.
//!
//! A statement takes one path (DESIGN.md); the modules form layers, each importing only the
//! ones below it (the table is in docs/architecture.md, "Layers", and a test holds it):
//! - [`server`]: the MySQL protocol edge — handshake and authentication, the command loop,
//!   prepared statements, session chatter ([`server::federated`]), result encoding.
//! - [`command`]: dispatch of one statement, a file per statement family; SELECT runs in
//!   DataFusion.
//! - [`jobs`]: the BACKUP, RESTORE and VERIFY steps and the snapshot lifecycle.
//! - [`engine`]: the shared handle (configuration, catalog, scheduler, repositories, pins,
//!   query runtime).
//! - [`scheduler`]: job records, one job per database, cancellation, transfer settings.
//! - [`error`]: the top-level error and its mapping to MySQL error codes.
//! - [`store`]: Parquet rowset files, loads, checksums, queries over tablets, pins.
//! - [`repo`]: repositories — locations, backends, the snapshot format, collection.
//! - [`catalog`]: durable metadata in one embedded ACID store (redb).
//! - [`sql`]: SQL text → typed [`sql::Statement`]s (sqlparser, extended for our statements).
//! - Leaves: [`config`] (flags, the config file, defaults, the one byte-size grammar),
//!   [`durable`] (fsync and friends), [`failpoint`], [`metrics`], [`hex`].

pub mod catalog;
pub mod clock;
pub mod command;
pub mod config;
pub mod cron;
pub mod durable;
pub mod engine;
pub mod error;
pub mod failpoint;
pub mod jobs;
#[cfg(test)]
mod layering;
pub mod metrics;
pub mod open_files;
pub mod repo;
pub mod scheduler;
pub mod server;
pub mod sql;
pub mod store;

pub use error::{Error, Result};

/// Lower-case hex of `bytes` (sha256 digests, ids).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
