//! Repositories: where snapshots live. The repository owns its format and its backends: jobs
//! name keys through [`layout`], read and write snapshots through [`manifest`], download
//! through [`ObjectStore::download_verified`], and never look at which backend they hold.
//!
//! - [`location`]: parsing and normalizing `s3a://`, `s3://` and `file://` locations.
//! - [`store`]: the one object-store interface ([`ObjectStore`]) with a local-folder
//!   ([`local::LocalStore`]) and an S3 ([`s3::S3Store`]) implementation behind it; [`retry`]:
//!   the one retry loop of storage requests and the gate that throttling lowers.
//! - [`s3props`]: the `aws.s3.*` properties of `CREATE REPOSITORY` and the credential modes
//!   they select.
//! - [`repository`]: an opened repository, `repository.json` and the CREATE checks; the
//!   registry of opened ones.
//! - [`layout`]: every key of the format, leases and commit markers; [`manifest`]: the
//!   committed-manifest writer and reader; [`download`]: the verified download.
//! - [`gc`]: dropping snapshots and the collection rounds that remove unreferenced objects
//!   beside running backups of any server.
//!
//! Keys given to a store are relative to the repository's root, `<location>/<repo name>/`
//! (DESIGN.md "Repository format"), and always use `/`.

pub mod bandwidth;
pub mod download;
pub mod gc;
pub mod layout;
pub mod local;
pub mod location;
pub mod manifest;
pub mod repository;
pub mod retry;
pub mod s3;
pub mod s3props;
pub mod store;

pub use bandwidth::Bandwidth;
pub use location::Location;
pub use repository::{Registry, RepoError, Repository};
pub use store::{ByteStream, ObjectMeta, ObjectStore, StoreError};
