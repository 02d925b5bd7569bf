//! Repositories: where snapshots live.
//!
//! - [`location`]: parsing and normalizing `s3a://`, `s3://` and `file://` locations.
//! - [`store`]: the one object-store interface ([`ObjectStore`]) with a local-folder
//!   ([`local::LocalStore`]) and an S3 ([`s3::S3Store`]) implementation behind it.
//! - [`s3props`]: the `aws.s3.*` properties of `CREATE REPOSITORY` and the credential modes
//!   they select.
//!
//! Keys given to a store are relative to the repository's root, `<location>/<repo name>/`
//! (DESIGN.md "Repository format"), and always use `/`.

pub mod gc;
pub mod local;
pub mod location;
pub mod manifest;
pub mod repository;
pub mod retry;
pub mod s3;
pub mod s3props;
pub mod store;

pub use location::Location;
pub use repository::{Registry, RepoError, Repository};
pub use store::{ByteStream, ObjectMeta, ObjectStore, StoreError};
