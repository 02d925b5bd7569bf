//! A repository in an S3 bucket (aws-sdk-s3). (Stub: being written.)

use std::ops::Range;
use std::path::Path;

use bytes::Bytes;

use super::s3props::S3Options;
use super::store::{ByteStream, ObjectMeta, StoreError};

#[derive(Debug, Clone)]
pub struct S3Store {
    bucket: String,
    prefix: String,
}

fn stub(op: &'static str, key: &str) -> StoreError {
    StoreError::Failed {
        op,
        key: key.to_string(),
        detail: "S3 is not built yet".to_string(),
    }
}

impl S3Store {
    pub async fn connect(
        bucket: &str,
        prefix: &str,
        opts: &S3Options,
    ) -> Result<S3Store, StoreError> {
        let _ = opts;
        Ok(S3Store {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
    pub fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
    pub async fn put_bytes(&self, key: &str, _data: Bytes) -> Result<(), StoreError> {
        Err(stub("put", key))
    }
    pub async fn put_file(&self, key: &str, _path: &Path) -> Result<u64, StoreError> {
        Err(stub("put", key))
    }
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, StoreError> {
        Err(stub("get", key))
    }
    pub async fn get_stream(
        &self,
        key: &str,
        _range: Option<Range<u64>>,
    ) -> Result<ByteStream, StoreError> {
        Err(stub("get", key))
    }
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        Err(stub("list", prefix))
    }
    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        Err(stub("head", key))
    }
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        Err(stub("delete", key))
    }
}
