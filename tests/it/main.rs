//! Every integration test, in one test binary (`it`). Each module below was its own binary under
//! `tests/` before; one binary means the crate and its dependencies are linked once instead of
//! once per file, which is most of a cold CI build's link time. nextest still runs every test
//! in its own process, so tests that kill processes or read the environment stay isolated.
//!
//! Test names are `<module>::<test>`, e.g. `cargo nextest run -E 'test(/^kill_loop::/)'` or
//! `cargo nextest run kill_loop::`. `common` holds the shared helpers (the daemon, the clients,
//! the S3 servers, the fault proxy).

mod common;

mod backup_restore;
mod clients;
mod clients_backup;
mod compaction;
mod crash;
mod data;
mod disk_full;
mod examples;
mod fixtures;
mod functions;
mod hostile_repository;
mod kill_loop;
mod load;
mod load_beside_jobs;
mod object_store;
mod open_format;
mod operations;
mod privileges;
mod protocol_fuzz;
mod proxy;
mod repository;
mod s3_backup;
mod s3_faults;
mod s3_stalls;
mod secrets;
mod slt;
mod snapshot_lifecycle;
mod sync_jobs;
mod tables;
mod tasks;
