//! A repository in an S3 bucket (aws-sdk-s3), or any S3-compatible store.
//!
//! - Keys are relative to `<prefix>/` in the bucket.
//! - Credentials come from [`S3Options`]: static keys, the EC2 instance profile (IMDSv2), or
//!   aws-config's default chain, optionally with an STS AssumeRole on top.
//! - Every request has a connect timeout ([`CONNECT_TIMEOUT`]) and a read timeout
//!   ([`READ_TIMEOUT`]). The SDK's own retries are off: each request goes through the one
//!   retry loop of [`super::retry`] (5xx, timeouts and connection errors tried 5 times with
//!   capped backoff, throttling longer while the store's [`Gate`] lowers the requests in
//!   flight), so an unreachable endpoint fails within about half a minute at worst (connection
//!   refused: a few seconds).
//! - Large files are uploaded in parts ([`PART_SIZE`]); every request body streams from its
//!   byte range of the file, and a retry reads that range again. Downloads stream, and a body
//!   cut mid-stream resumes with a ranged GET from the next byte.
//! - Requests carry a checksum only where S3 requires one: streamed uploads then need no
//!   `aws-chunked` trailer, which several S3-compatible stores (GCS among them) do not accept.
//!   Every object's sha256 is kept and verified by the repository layer.
//! - Errors become [`StoreError`]s by the service's error code; no secret ever enters one.

use std::error::Error as StdError;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, SharedCredentialsProvider,
};
use aws_sdk_s3::error::{ErrorMetadata, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream as SdkByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use futures::TryStreamExt;

use super::bandwidth::{Bandwidth, PacedBody};
use super::retry::{self, Backoff, Class, Gate, Permit};
use super::s3props::{CredentialMode, S3Options};
use super::store::{ByteStream, ObjectMeta, StoreError};

/// How long opening a TCP (+TLS) connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the service may take to start answering a request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// [`READ_TIMEOUT`], or in debug builds `BACKSTOP_TEST_S3_READ_TIMEOUT_MS` (tests make a stall
/// longer than the timeout cost a second, not half a minute).
fn read_timeout() -> Duration {
    std::env::var("BACKSTOP_TEST_S3_READ_TIMEOUT_MS")
        .ok()
        .filter(|_| cfg!(debug_assertions))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(READ_TIMEOUT, Duration::from_millis)
}
/// Files up to this size are uploaded with one PutObject; larger ones in parts of (at least) this
/// size, each streamed from its range of the file.
pub const PART_SIZE: u64 = 8 << 20;
/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// S3 allows at most this many parts; a file that would need more gets larger parts.
const MAX_PARTS: u64 = 10_000;
/// The session name of assumed roles (shows in CloudTrail).
const SESSION_NAME: &str = "backstop";

/// One repository root in a bucket.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// Without leading or trailing `/`; may be empty.
    prefix: String,
    /// For messages: the endpoint written, or AWS's regional one.
    endpoint: String,
    /// Secrets of static credentials, scrubbed from every message as a last line of defence.
    secrets: Arc<Vec<String>>,
    /// How many requests may be in flight (lowered by throttling), shared by every clone.
    gate: Arc<Gate>,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// A store for `s3://bucket/prefix/`. Builds the client and the credential providers but
    /// sends no request: credentials and reachability show on the first operation.
    pub async fn connect(
        bucket: &str,
        prefix: &str,
        opts: &S3Options,
    ) -> Result<S3Store, StoreError> {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(read_timeout())
            .build();
        // Requests to S3 are retried by our loop alone ([`S3Store::send`]). AssumeRole calls to
        // STS, made by the credential provider, keep the SDK's standard retry.
        let sts_retries = RetryConfig::standard().with_max_attempts(3);
        let region = Region::new(opts.region.clone());

        let mut secrets = Vec::new();
        let base = match &opts.credentials {
            CredentialMode::Static {
                access_key,
                secret_key,
                session_token,
            } => {
                secrets.push(secret_key.expose().to_string());
                if let Some(t) = session_token {
                    secrets.push(t.expose().to_string());
                }
                SharedCredentialsProvider::new(Credentials::new(
                    access_key.clone(),
                    secret_key.expose().to_string(),
                    session_token.as_ref().map(|t| t.expose().to_string()),
                    None,
                    "backstop-repository-properties",
                ))
            }
            CredentialMode::InstanceProfile => SharedCredentialsProvider::new(
                aws_config::imds::credentials::ImdsCredentialsProvider::builder().build(),
            ),
            CredentialMode::DefaultChain => SharedCredentialsProvider::new(
                aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .region(region.clone())
                    .build()
                    .await,
            ),
        };

        let credentials = match &opts.assume_role {
            None => base,
            Some(role) => {
                let sts_region = Region::new(
                    role.sts_region
                        .clone()
                        .unwrap_or_else(|| opts.region.clone()),
                );
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .region(sts_region)
                    .credentials_provider(base)
                    .timeout_config(timeouts.clone())
                    .retry_config(sts_retries);
                if let Some(endpoint) = sts_endpoint(opts) {
                    loader = loader.endpoint_url(endpoint);
                }
                let sts_conf = loader.load().await;
                let mut builder = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn)
                    .configure(&sts_conf)
                    .session_name(SESSION_NAME);
                if let Some(id) = &role.external_id {
                    builder = builder.external_id(id);
                }
                SharedCredentialsProvider::new(builder.build().await)
            }
        };

        let mut conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(region)
            .credentials_provider(credentials)
            .force_path_style(opts.path_style)
            .timeout_config(timeouts)
            .retry_config(RetryConfig::disabled())
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
        if let Some(endpoint) = &opts.endpoint {
            conf = conf.endpoint_url(endpoint);
        }
        let endpoint = opts
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", opts.region));
        Ok(S3Store {
            client: Client::from_conf(conf.build()),
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint,
            secrets: Arc::new(secrets),
            gate: Arc::new(Gate::default()),
        })
    }

    pub fn describe(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// The bucket key of a store key.
    fn full_key(&self, key: &str) -> Result<String, StoreError> {
        if key.is_empty() || key.starts_with('/') {
            return Err(StoreError::Failed {
                op: "use",
                key: key.to_string(),
                detail: "not a valid object key".to_string(),
            });
        }
        Ok(self.join(key))
    }

    fn join(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// Sends one request through the store's retry loop ([`super::retry`]): `attempt` builds
    /// and sends it afresh each time (a body is re-read from its file or bytes). Returns the
    /// answer with the permit it was sent under (held by a caller that goes on streaming its
    /// body), or the last attempt's error.
    async fn send<T, E, F, Fut>(
        &self,
        op: &'static str,
        key: &str,
        mut attempt: F,
    ) -> Result<(T, Permit), SdkError<E, HttpResponse>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let mut backoff = Backoff::new(retry::POLICY);
        loop {
            let permit = self.gate.acquire().await;
            retry::report_request(op);
            match attempt().await {
                Ok(out) => {
                    permit.succeeded();
                    return Ok((out, permit));
                }
                Err(e) => {
                    let class = classify(&e);
                    let Some(pause) = backoff.next(class) else {
                        return Err(e);
                    };
                    if class == Class::Throttled {
                        permit.throttled();
                    }
                    drop(permit);
                    retry::report("retrying", &self.map_err(op, key, e));
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    /// [`S3Store::send`] for a request whose answer is read at once: the error mapped.
    async fn call<T, E, F, Fut>(
        &self,
        op: &'static str,
        key: &str,
        attempt: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        match self.send(op, key, attempt).await {
            Ok((out, _permit)) => Ok(out),
            Err(e) => Err(self.map_err(op, key, e)),
        }
    }

    pub async fn put_bytes(&self, key: &str, data: Bytes) -> Result<(), StoreError> {
        let full = self.full_key(key)?;
        let len = i64::try_from(data.len()).unwrap_or(i64::MAX);
        self.call("put", key, || {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&full)
                .content_length(len)
                .body(SdkByteStream::from(data.clone()))
                .send()
        })
        .await?;
        Ok(())
    }

    /// Uploads the file at `path`: one PutObject up to `part_size` bytes, else a multipart
    /// upload. Every request body streams from its byte range of the file (re-read by a retry),
    /// so memory does not depend on the part size.
    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        part_size: u64,
        bandwidth: &Arc<Bandwidth>,
    ) -> Result<u64, StoreError> {
        let part_size = part_size.max(MIN_PART_SIZE);
        let full = self.full_key(key)?;
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| local_error(key, path, &e))?
            .len();
        if size <= part_size {
            self.call("put", key, || async {
                let body = file_range(path, 0, size, bandwidth).await?;
                self.client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&full)
                    .content_length(i64::try_from(size).unwrap_or(i64::MAX))
                    .body(body)
                    .send()
                    .await
            })
            .await?;
            return Ok(size);
        }
        self.put_multipart(key, &full, path, size, part_size, bandwidth)
            .await
    }

    async fn put_multipart(
        &self,
        key: &str,
        full: &str,
        path: &Path,
        size: u64,
        part_size: u64,
        bandwidth: &Arc<Bandwidth>,
    ) -> Result<u64, StoreError> {
        let upload = self
            .call("put", key, || {
                self.client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(full)
                    .send()
            })
            .await?;
        let Some(upload_id) = upload.upload_id else {
            return Err(StoreError::Failed {
                op: "put",
                key: key.to_string(),
                detail: "CreateMultipartUpload returned no upload id".to_string(),
            });
        };
        // From here on the upload is aborted unless it completes: on an error below, and also
        // when this future is dropped (a job's CANCEL or timeout drops its transfers).
        open_here().insert(upload_id.clone());
        let mut pending = PendingUpload {
            store: self.clone(),
            key: key.to_string(),
            full: full.to_string(),
            upload_id,
            open: true,
        };
        let result = self
            .upload_parts(
                key,
                full,
                path,
                (size, part_size),
                &pending.upload_id,
                bandwidth,
            )
            .await;
        if result.is_err() {
            pending.abort().await;
        } else {
            pending.open = false;
        }
        result
    }

    /// Aborts the multipart upload `upload_id` of `full`. Best effort: a failed abort leaves
    /// parts that a bucket lifecycle rule removes.
    async fn abort_upload(&self, key: &str, full: &str, upload_id: &str) -> bool {
        let aborted = self
            .call("abort upload", key, || {
                self.client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(full)
                    .upload_id(upload_id)
                    .send()
            })
            .await;
        match aborted {
            Ok(_) => {
                tracing::debug!(key, "multipart upload aborted");
                true
            }
            Err(e) => {
                tracing::warn!(key, error = %e, "cannot abort a multipart upload");
                false
            }
        }
    }

    async fn upload_parts(
        &self,
        key: &str,
        full: &str,
        path: &Path,
        (size, part_size): (u64, u64),
        upload_id: &str,
        bandwidth: &Arc<Bandwidth>,
    ) -> Result<u64, StoreError> {
        let part_size = part_size.max(size.div_ceil(MAX_PARTS).next_multiple_of(1 << 20));
        let mut parts = Vec::new();
        let mut offset: u64 = 0;
        for number in 1.. {
            let len = part_size.min(size - offset);
            let out = self
                .call("put", key, || async move {
                    let body = file_range(path, offset, len, bandwidth).await?;
                    self.client
                        .upload_part()
                        .bucket(&self.bucket)
                        .key(full)
                        .upload_id(upload_id)
                        .part_number(number)
                        .content_length(i64::try_from(len).unwrap_or(i64::MAX))
                        .body(body)
                        .send()
                        .await
                })
                .await?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag)
                    .build(),
            );
            offset += len;
            crate::failpoint::hit("s3.multipart.after_part")
                .await
                .map_err(|e| StoreError::Failed {
                    op: "put",
                    key: key.to_string(),
                    detail: e.to_string(),
                })?;
            if offset >= size {
                break;
            }
        }
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(parts))
            .build();
        let completing = self
            .call("put", key, || {
                self.client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(full)
                    .upload_id(upload_id)
                    .multipart_upload(completed.clone())
                    .send()
            })
            .await;
        if let Err(e) = completing {
            // An attempt may have completed the upload and lost its answer, and the retry then
            // finds no such upload. Keys are content-addressed: an object of this key and size
            // is this file.
            match self.head(key).await {
                Ok(Some(meta)) if meta.size == size => {}
                _ => return Err(e),
            }
        }
        Ok(size)
    }

    /// Reads a small object whole.
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, StoreError> {
        let chunks: Vec<Bytes> = self.get_stream(key, None).await?.try_collect().await?;
        Ok(Bytes::from(chunks.concat()))
    }

    /// Streams an object, or a byte range of it. A body cut mid-stream resumes where it broke
    /// off (a ranged GET from the next byte), under the same retry policy as any request; the
    /// request's permit of the gate is held while the body streams.
    pub async fn get_stream(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, StoreError> {
        let full = self.full_key(key)?;
        let (start, end) = match range {
            Some(r) if r.end <= r.start => return Ok(Box::pin(futures::stream::empty())),
            Some(r) => (r.start, Some(r.end)),
            None => (0, None),
        };
        let Some((body, permit)) = self.open_body(key, &full, start, end).await? else {
            return Ok(Box::pin(futures::stream::empty()));
        };
        let reading = Reading {
            store: self.clone(),
            key: key.to_string(),
            full,
            next: start,
            end,
            body,
            permit: Some(permit),
            backoff: Backoff::new(retry::POLICY),
            since_break: 0,
        };
        Ok(Box::pin(futures::stream::unfold(
            Some(reading),
            |reading| async move {
                let mut r = reading?;
                match r.next_chunk().await {
                    Ok(None) => None,
                    Ok(Some(chunk)) => Some((Ok(chunk), Some(r))),
                    // Stop after the first error.
                    Err(e) => Some((Err(e), None)),
                }
            },
        )))
    }

    /// Sends the GET of `[start, end)` (`end` `None`: to the object's end); `None` when the
    /// range starts at or past the end (nothing, as the local store answers).
    async fn open_body(
        &self,
        key: &str,
        full: &str,
        start: u64,
        end: Option<u64>,
    ) -> Result<Option<(SdkByteStream, Permit)>, StoreError> {
        let range = match (start, end) {
            (0, None) => None,
            (s, None) => Some(format!("bytes={s}-")),
            (s, Some(e)) => Some(format!("bytes={s}-{}", e.saturating_sub(1))),
        };
        let sent = self
            .send("get", key, || {
                self.client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(full)
                    .set_range(range.clone())
                    .send()
            })
            .await;
        match sent {
            // A store that ignored the range would hand back bytes from the object's start.
            Ok((out, _)) if start > 0 && !starts_at(out.content_range.as_deref(), start) => {
                Err(StoreError::Failed {
                    op: "get",
                    key: key.to_string(),
                    detail: format!(
                        "asked for the bytes from {start}, the storage answered the range {:?}",
                        out.content_range.unwrap_or_default()
                    ),
                })
            }
            Ok((out, permit)) => Ok(Some((out.body, permit))),
            Err(e) if range.is_some() && e.code() == Some("InvalidRange") => Ok(None),
            Err(e) => Err(self.map_err("get", key, e)),
        }
    }

    /// The multipart uploads open under `prefix`: begun and neither completed nor aborted.
    pub async fn open_uploads(&self, prefix: &str) -> Result<Vec<OpenUpload>, StoreError> {
        let root = self.join("");
        let full_prefix = self.join(prefix);
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .call("list uploads", prefix, || {
                    self.client
                        .list_multipart_uploads()
                        .bucket(&self.bucket)
                        .prefix(&full_prefix)
                        .set_key_marker(key_marker.clone())
                        .set_upload_id_marker(id_marker.clone())
                        .send()
                })
                .await?;
            for upload in page.uploads.unwrap_or_default() {
                let (Some(full), Some(id)) = (upload.key, upload.upload_id) else {
                    continue;
                };
                out.push(OpenUpload {
                    key: full.strip_prefix(&root).unwrap_or(&full).to_string(),
                    ours: is_ours(&id),
                    full,
                    id,
                    begun_ms: upload.initiated.and_then(|t| t.to_millis().ok()),
                });
            }
            if page.is_truncated != Some(true) {
                break;
            }
            key_marker = page.next_key_marker;
            id_marker = page.next_upload_id_marker;
            if key_marker.is_none() && id_marker.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Aborts `upload` (best effort: a failure is logged); whether it was aborted.
    pub async fn abort_open(&self, upload: &OpenUpload) -> bool {
        self.abort_upload(&upload.key, &upload.full, &upload.id)
            .await
    }

    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let root = self.join("");
        let full_prefix = self.join(prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .call("list", prefix, || {
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(&full_prefix)
                        .set_continuation_token(token.clone())
                        .send()
                })
                .await?;
            for object in page.contents.unwrap_or_default() {
                let Some(full) = object.key else { continue };
                let Some(key) = full.strip_prefix(&root) else {
                    continue;
                };
                out.push(ObjectMeta {
                    key: key.to_string(),
                    size: object.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                    last_modified_ms: object.last_modified.and_then(|t| t.to_millis().ok()),
                });
            }
            match page.next_continuation_token {
                Some(next) if page.is_truncated == Some(true) && !next.is_empty() => {
                    token = Some(next);
                }
                _ => break,
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let full = self.full_key(key)?;
        let sent = self
            .send("head", key, || {
                self.client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(&full)
                    .send()
            })
            .await;
        match sent {
            Ok((out, _permit)) => Ok(Some(ObjectMeta {
                key: key.to_string(),
                size: out
                    .content_length
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(0),
                last_modified_ms: out.last_modified.and_then(|t| t.to_millis().ok()),
            })),
            // A HEAD answer has no body, so a missing bucket looks like a missing object here.
            Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(403) => {
                // Nor can a wrong secret be told from a missing permission: ask a one-byte GET
                // of the same object, whose error has a code.
                let probe = self
                    .send("head", key, || {
                        self.client
                            .get_object()
                            .bucket(&self.bucket)
                            .key(&full)
                            .range("bytes=0-0")
                            .send()
                    })
                    .await;
                match probe {
                    Err(probe) if probe.code().is_some() => Err(self.map_err("head", key, probe)),
                    _ => Err(self.map_err("head", key, e)),
                }
            }
            Err(e) => match self.map_err("head", key, e) {
                StoreError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let full = self.full_key(key)?;
        match self
            .call("delete", key, || {
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(&full)
                    .send()
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound(_)) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Removes every secret this store knows from a message.
    fn scrub(&self, mut text: String) -> String {
        for s in self.secrets.iter().filter(|s| !s.is_empty()) {
            if text.contains(s.as_str()) {
                text = text.replace(s.as_str(), "***");
            }
        }
        text
    }

    fn body_error(&self, key: &str, e: &(dyn StdError + 'static)) -> StoreError {
        StoreError::Failed {
            op: "get",
            key: key.to_string(),
            detail: self.scrub(format!("reading the object failed: {}", error_chain(e))),
        }
    }

    /// Maps an SDK error of operation `op` on store key `key` to a [`StoreError`].
    fn map_err<E>(&self, op: &'static str, key: &str, err: SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let key = key.to_string();
        // Credential provider failures (IMDS, STS, the default chain) surface as dispatch
        // failures whose cause is a CredentialsError.
        if let Some(cred) = find_source::<CredentialsError>(&err) {
            return StoreError::BadCredentials(
                self.scrub(format!("cannot obtain credentials: {}", error_chain(cred))),
            );
        }
        match &err {
            SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
                let status = err.raw_response().map(|r| r.status().as_u16());
                let code = err.code().unwrap_or("");
                let message = err.message().unwrap_or("");
                let detail = self.scrub(match (code, message, status) {
                    ("", "", Some(s)) => format!("HTTP status {s}"),
                    ("", m, _) => m.to_string(),
                    (c, "", _) => c.to_string(),
                    (c, m, _) => format!("{c}: {m}"),
                });
                match (code, status) {
                    ("NoSuchKey" | "NotFound", _) => StoreError::NotFound(key),
                    ("NoSuchBucket", _) => StoreError::NoBucket(self.bucket.clone()),
                    (
                        "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken"
                        | "ExpiredToken" | "TokenRefreshRequired" | "NotSignedUp"
                        | "InvalidSecurity" | "InvalidClientTokenId" | "UnrecognizedClientException",
                        _,
                    ) => StoreError::BadCredentials(detail),
                    ("AccessDenied" | "AllAccessDisabled" | "AccountProblem", _) => {
                        StoreError::AccessDenied { op, key, detail }
                    }
                    // A HEAD answer has no body and thus no code: go by the status alone.
                    ("", Some(404)) if op == "head" => StoreError::NotFound(key),
                    // Any other S3 answer has a code: this is something else (a proxy, a web
                    // server), and "not found" would make a repository look empty.
                    ("", Some(status)) if op != "head" => StoreError::Failed {
                        op,
                        key,
                        detail: self.scrub(format!(
                            "HTTP status {status} without an S3 error code: is {} an S3 endpoint?",
                            self.endpoint
                        )),
                    },
                    ("", Some(403)) => StoreError::AccessDenied {
                        op,
                        key,
                        detail: "HTTP status 403 (no error code: the credentials are wrong or lack the permission)".to_string(),
                    },
                    ("", Some(401)) => StoreError::BadCredentials(detail),
                    (
                        "SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded"
                        | "TooManyRequests" | "RequestThrottled",
                        _,
                    )
                    | (_, Some(429 | 503)) => StoreError::Throttled { op, key, detail },
                    _ => StoreError::Failed { op, key, detail },
                }
            }
            SdkError::TimeoutError(_) => StoreError::Timeout {
                op,
                key,
                secs: read_timeout().as_secs(),
            },
            SdkError::DispatchFailure(failure) => {
                let detail = self.scrub(error_chain(&err));
                if failure.is_timeout() && !detail.contains("HTTP connect") {
                    StoreError::Timeout {
                        op,
                        key,
                        secs: read_timeout().as_secs(),
                    }
                } else if failure.is_io() || failure.is_timeout() || failure.is_other() {
                    StoreError::Unreachable {
                        endpoint: self.endpoint.clone(),
                        detail,
                    }
                } else {
                    StoreError::Failed { op, key, detail }
                }
            }
            _ => StoreError::Failed {
                op,
                key,
                detail: self.scrub(error_chain(&err)),
            },
        }
    }
}

/// A multipart upload that has begun: aborted when dropped while still `open`, so that a
/// cancelled job (whose transfers are dropped) leaves no parts behind. The abort then runs on
/// its own task, since a drop cannot wait.
/// A multipart upload open in the bucket ([`S3Store::open_uploads`]).
#[derive(Debug, Clone)]
pub struct OpenUpload {
    /// The object's key in the repository.
    pub key: String,
    full: String,
    id: String,
    /// When S3 says it began (some S3-compatible servers answer a fixed date).
    pub begun_ms: Option<i64>,
    /// Whether a transfer of this process has it open now.
    pub ours: bool,
}

/// The ids of the multipart uploads this process has open (a [`PendingUpload`] each), so that
/// a sweep for uploads writers that died left never aborts one in flight here.
fn open_here() -> std::sync::MutexGuard<'static, std::collections::HashSet<String>> {
    static OPEN: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> =
        std::sync::OnceLock::new();
    OPEN.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn is_ours(id: &str) -> bool {
    open_here().contains(id)
}

struct PendingUpload {
    store: S3Store,
    key: String,
    full: String,
    upload_id: String,
    open: bool,
}

impl PendingUpload {
    /// Aborts now, waiting for the answer.
    async fn abort(&mut self) {
        self.open = false;
        self.store
            .abort_upload(&self.key, &self.full, &self.upload_id)
            .await;
    }
}

impl Drop for PendingUpload {
    fn drop(&mut self) {
        open_here().remove(&self.upload_id);
        if !self.open {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, key, full, id) = (
            self.store.clone(),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.full),
            std::mem::take(&mut self.upload_id),
        );
        tracing::info!(key, "aborting a multipart upload that was cancelled");
        runtime.spawn(async move { store.abort_upload(&key, &full, &id).await });
    }
}

/// Where AssumeRole goes: `aws.s3.sts.endpoint`, else the S3 endpoint when it is not AWS's own
/// (S3-compatible stores with an STS, moto among them, serve it on the S3 endpoint), else
/// AWS's regional STS endpoint (`None`). An `s3.<region>.amazonaws.com` endpoint, as StarRocks'
/// examples write it, is not an STS endpoint.
fn sts_endpoint(opts: &S3Options) -> Option<&str> {
    let role = opts.assume_role.as_ref()?;
    if let Some(e) = &role.sts_endpoint {
        return Some(e);
    }
    let s3 = opts.endpoint.as_deref()?;
    let host = s3
        .split_once("://")
        .map_or(s3, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let aws = [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"]
        .iter()
        .any(|suffix| host.ends_with(suffix));
    (!aws).then_some(s3)
}

/// `err` and its causes, `: `-separated, each once: Display texts that repeat an earlier one
/// are left out, and the SDK's error metadata shows as `code: message` (its Display is a debug
/// dump). Unlike `DisplayErrorContext`, no raw response is ever printed.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        let text = match e.downcast_ref::<ErrorMetadata>() {
            Some(meta) => match (meta.code(), meta.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                (None, Some(m)) => m.to_string(),
                (None, None) => "no error code in the response".to_string(),
            },
            None => e.to_string(),
        };
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// The first error of type `T` in `err`'s source chain (`err` included).
fn find_source<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current: Option<&'a (dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// The body of a request: `len` bytes of the file at `path` from `offset`, streamed.
async fn file_range<E>(
    path: &Path,
    offset: u64,
    len: u64,
    bandwidth: &Arc<Bandwidth>,
) -> Result<SdkByteStream, SdkError<E, HttpResponse>> {
    if bandwidth.is_limited() {
        // Sent as the job's cap admits each chunk.
        let body = PacedBody::open(path, offset, len, Arc::clone(bandwidth))
            .await
            .map_err(SdkError::construction_failure)?;
        return Ok(SdkByteStream::new(
            aws_smithy_types::body::SdkBody::from_body_1_x(body),
        ));
    }
    SdkByteStream::read_from()
        .path(path)
        .offset(offset)
        .length(Length::Exact(len))
        .buffer_size(READ_BUFFER)
        .build()
        .await
        .map_err(SdkError::construction_failure)
}

/// Read size of request bodies streamed from files.
const READ_BUFFER: usize = 256 << 10;

/// How an attempt's failure may be retried ([`super::retry`]).
fn classify<E: ProvideErrorMetadata + StdError + 'static>(
    err: &SdkError<E, HttpResponse>,
) -> Class {
    if find_source::<CredentialsError>(err).is_some() {
        return Class::Permanent;
    }
    match err {
        SdkError::TimeoutError(_) => Class::Transient,
        // Connections refused, reset or closed before the answer was complete ("other" is
        // how the HTTP client reports a connection the server closed on it).
        SdkError::DispatchFailure(f) if f.is_io() || f.is_timeout() || f.is_other() => {
            Class::Transient
        }
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            match (err.code().unwrap_or(""), status) {
                (
                    "SlowDown"
                    | "Throttling"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "TooManyRequests"
                    | "RequestThrottled",
                    _,
                )
                | (_, Some(429 | 503)) => Class::Throttled,
                (
                    "InternalError" | "RequestTimeout" | "ServiceUnavailable" | "IncompleteBody",
                    _,
                ) => Class::Transient,
                (_, Some(501)) => Class::Permanent,
                (_, Some(s)) if s >= 500 => Class::Transient,
                // An answer that could not be read: cut off, or garbled on the way.
                _ if matches!(err, SdkError::ResponseError(_)) => Class::Transient,
                _ => Class::Permanent,
            }
        }
        _ => Class::Permanent,
    }
}

/// A GET body being streamed, resumable where it broke off.
struct Reading {
    store: S3Store,
    key: String,
    full: String,
    /// The next byte to read.
    next: u64,
    end: Option<u64>,
    body: SdkByteStream,
    /// The gate's room for this request, held while the body streams (not while it waits to
    /// resume: with the limit at one, the resumed GET would wait for itself).
    permit: Option<Permit>,
    backoff: Backoff,
    /// Bytes read since the body last broke.
    since_break: u64,
}

/// A body that broke after this many bytes since the last break starts a fresh count of
/// attempts: a long download over a flaky link fails only if it stops making progress.
const PROGRESS_RESETS_ATTEMPTS: u64 = 1 << 20;

impl Reading {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, StoreError> {
        loop {
            match self.body.next().await {
                None => return Ok(None),
                Some(Ok(chunk)) => {
                    self.next += chunk.len() as u64;
                    self.since_break += chunk.len() as u64;
                    return Ok(Some(chunk));
                }
                Some(Err(e)) => {
                    self.permit = None;
                    let err = self.store.body_error(&self.key, &e);
                    if self.since_break >= PROGRESS_RESETS_ATTEMPTS {
                        self.backoff = Backoff::new(retry::POLICY);
                    }
                    self.since_break = 0;
                    let Some(pause) = self.backoff.next(Class::Transient) else {
                        return Err(err);
                    };
                    retry::report("retrying", &err);
                    tokio::time::sleep(pause).await;
                    // Broke after the range's last byte: nothing is left to read.
                    if self.end.is_some_and(|end| self.next >= end) {
                        return Ok(None);
                    }
                    match self
                        .store
                        .open_body(&self.key, &self.full, self.next, self.end)
                        .await?
                    {
                        Some((body, permit)) => {
                            self.body = body;
                            self.permit = Some(permit);
                        }
                        // The object ended where the body broke off.
                        None => return Ok(None),
                    }
                }
            }
        }
    }
}

/// Whether a `Content-Range` answer (`bytes 100-199/1000`) starts at byte `start`.
fn starts_at(content_range: Option<&str>, start: u64) -> bool {
    content_range
        .and_then(|r| r.trim().strip_prefix("bytes "))
        .and_then(|r| r.split('-').next())
        .and_then(|first| first.trim().parse::<u64>().ok())
        == Some(start)
}

fn local_error(key: &str, path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Failed {
        op: "put",
        key: key.to_string(),
        detail: format!("cannot read {}: {e}", path.display()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> S3Options {
        let props: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        S3Options::from_properties(&props).unwrap()
    }

    #[test]
    fn sts_endpoint_choice() {
        let role = ("aws.s3.iam_role_arn", "arn:aws:iam::123456789012:role/r");
        let region = ("aws.s3.region", "us-west-2");
        assert_eq!(sts_endpoint(&opts(&[role, region])), None);
        // No role, no STS.
        assert_eq!(
            sts_endpoint(&opts(&[("aws.s3.endpoint", "http://127.0.0.1:9000")])),
            None
        );
        assert_eq!(
            sts_endpoint(&opts(&[
                role,
                region,
                ("aws.s3.endpoint", "http://127.0.0.1:9000")
            ])),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            sts_endpoint(&opts(&[
                role,
                region,
                ("aws.s3.endpoint", "https://s3.us-west-2.amazonaws.com")
            ])),
            None
        );
        assert_eq!(
            sts_endpoint(&opts(&[
                role,
                region,
                ("aws.s3.endpoint", "s3.us-west-2.amazonaws.com"),
                ("aws.s3.sts.endpoint", "sts.us-west-2.amazonaws.com"),
            ])),
            Some("https://sts.us-west-2.amazonaws.com")
        );
    }

    #[test]
    fn content_range_start() {
        assert!(starts_at(Some("bytes 100-199/1000"), 100));
        assert!(starts_at(Some("bytes 0-0/1"), 0));
        assert!(!starts_at(Some("bytes 0-999/1000"), 100));
        assert!(!starts_at(Some("bytes */1000"), 100));
        assert!(!starts_at(None, 100));
    }

    #[test]
    fn error_chain_has_each_cause_once() {
        let io = std::io::Error::other("Connection refused");
        assert_eq!(error_chain(&io), "Connection refused");
        let meta = ErrorMetadata::builder()
            .code("AccessDenied")
            .message("not allowed")
            .build();
        assert_eq!(error_chain(&meta), "AccessDenied: not allowed");
    }
}
