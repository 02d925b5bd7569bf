//! backstop: a daemon that speaks the MySQL protocol and protects table data with StarRocks'
//! BACKUP / RESTORE statements.
//!
//! A statement takes one path (DESIGN.md):
//! - [`server`]: the MySQL protocol edge — handshake and authentication, the command loop,
//!   prepared statements, session chatter ([`server::federated`]), result encoding.
//! - [`sql`]: SQL text → typed [`sql::Statement`]s (sqlparser, extended for our statements).
//! - [`command`]: dispatch of one statement to the engine; SELECT runs in DataFusion.
//! - [`catalog`]: durable metadata in one embedded ACID store (redb).
//! - [`engine`]: the shared handle (configuration, query runtime; later catalog, store, jobs).
//! - [`store`]: Parquet rowset files, their checksums and write path.
//! - [`error`]: one error type and its mapping to MySQL error codes.
//! - [`config`]: flags, the config file and defaults.
//! - [`metrics`]: process-wide counters, served by `--metrics-listen`.

pub mod catalog;
pub mod command;
pub mod config;
pub mod engine;
pub mod error;
pub mod failpoint;
pub mod jobs;
pub mod metrics;
pub mod repo;
pub mod server;
pub mod sql;
pub mod store;

pub use error::{Error, Result};

/// Lower-case hex of `bytes` (sha256 digests, ids).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
