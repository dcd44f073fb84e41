//! S3 backend (`aws-sdk-s3`): objects in a bucket of AWS S3 or any S3-compatible store
//! (MinIO, Garage, Ceph, R2…), under an optional key prefix. Staging stays on local
//! disk (ffprobe needs a seekable file); staged files are uploaded from disk
//! ([`upload`]: multipart above the part size, memory flat), streamed reads are
//! ranged `GetObject`s pinned to the entity tag the metadata came with.
//!
//! URLs: output URLs are presigned, public (`storage.public_base_url` + the object's
//! key in the bucket) or this server's `/static` (which then streams from the bucket);
//! runner downloads are streamed through this server, or redirected to a presigned
//! URL (`config::S3Settings` has the settings).

mod error;
mod upload;

use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as S3Body;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use self::error::{Failure, storage_error, stream_error};
use super::object::{ByteStream, LocalCopy, ObjectMeta, ObjectReader};
use super::staging::{StagedFile, Staging, SweepReport};
use super::{Audience, Delivery, StorageError, validate_key};
use crate::config::{OutputUrls, RunnerDownloads, S3Settings};

/// Where output URLs point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Urls {
    /// Presigned GET URLs in the video resource. Durable links (webhook and event
    /// bodies, which may be read long after a presigned URL expires) are
    /// `<base>/<key>` on this server's `/static`, which redirects to a fresh
    /// presigned URL.
    Presigned(String),
    /// `<base>/<prefix><key>`: a public bucket, or a CDN in front of the bucket.
    Public(String),
    /// `<base>/<key>`: this server's `/static` (or a CDN in front of it), which
    /// streams from the bucket.
    Proxy(String),
}

impl S3Urls {
    /// The policy of `settings`, given `storage.public_base_url` and this server's
    /// `<public_url><serve_path>`.
    pub fn from_settings(
        s3: &S3Settings,
        public_base_url: Option<&str>,
        served_at: &str,
    ) -> S3Urls {
        let trim = |s: &str| s.trim_end_matches('/').to_owned();
        match (s3.output_urls, public_base_url) {
            (OutputUrls::Presigned, _) | (OutputUrls::Public, None) => {
                S3Urls::Presigned(trim(served_at))
            }
            (OutputUrls::Public, Some(base)) => S3Urls::Public(trim(base)),
            (OutputUrls::Proxy, base) => S3Urls::Proxy(trim(base.unwrap_or(served_at))),
        }
    }
}

/// Objects in a bucket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct S3Storage {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Empty, or ending with `/`.
    prefix: String,
    /// The endpoint named in messages.
    endpoint: String,
    staging: Staging,
    urls: S3Urls,
    runner_downloads: RunnerDownloads,
    presign_lifetime: Duration,
    part_size: u64,
    upload_concurrency: usize,
}

fn io(key: &str) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        key: key.to_owned(),
        source,
    }
}

/// The entity tag without its quotes.
fn bare_etag(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_owned()
}

impl S3Storage {
    /// A client for the bucket of `s3` (no request is made: see
    /// [`S3Storage::startup_check`]). `staging` is the local staging area.
    pub async fn connect(s3: &S3Settings, staging: Staging, urls: S3Urls) -> S3Storage {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &s3.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let (Some(id), Some(secret)) = (&s3.access_key_id, &s3.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(
                id,
                secret.expose(),
                None,
                None,
                "storage.s3 settings",
            ));
        }
        if let Some(endpoint) = &s3.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(s3.force_path_style)
            // Checksums only where S3 requires them: many S3-compatible stores refuse
            // the trailing checksums the SDK otherwise adds to every upload.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if shared.region().is_none() {
            config = config.region(Region::from_static("us-east-1"));
        }
        S3Storage {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket: s3.bucket.clone(),
            prefix: s3.prefix.clone(),
            endpoint: s3.endpoint.clone().unwrap_or_else(|| "AWS S3".to_owned()),
            staging,
            urls,
            runner_downloads: s3.runner_downloads,
            presign_lifetime: s3.presign_lifetime,
            part_size: s3.part_size,
            upload_concurrency: s3.upload_concurrency,
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object's key in the bucket.
    fn object(&self, key: &str) -> Result<String, StorageError> {
        Ok(format!("{}{}", self.prefix, validate_key(key)?))
    }

    pub(super) fn staging(&self) -> &Staging {
        &self.staging
    }

    pub(super) async fn sweep_staging(&self, max_age: Duration) -> SweepReport {
        let staging = self.staging.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = staging.heartbeat() {
                tracing::warn!(error = %e, "cannot refresh the staging folder");
            }
            staging.sweep(max_age)
        })
        .await
        .unwrap_or_default()
    }

    /// Uploads the staged file, then removes it.
    pub(super) async fn put_file(&self, key: &str, src: StagedFile) -> Result<u64, StorageError> {
        let object = self.object(key)?;
        let size = src.len().await.map_err(io(key))?;
        upload::upload_file(self, key, &object, src.path(), size).await?;
        src.remove().await.map_err(io(key))?;
        Ok(size)
    }

    /// Stages what `reader` yields, then uploads it ([`Self::put_file`]).
    pub(super) async fn put_stream<R>(&self, key: &str, reader: R) -> Result<u64, StorageError>
    where
        R: tokio::io::AsyncRead + Unpin + Send,
    {
        self.object(key)?;
        let (tmp, file) = self
            .staging
            .create_file("put-", "")
            .await
            .map_err(io(key))?;
        let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
        let mut reader = reader;
        tokio::io::copy(&mut reader, &mut out)
            .await
            .map_err(io(key))?;
        out.flush().await.map_err(io(key))?;
        out.into_inner().sync_all().await.map_err(io(key))?;
        self.put_file(key, tmp).await
    }

    pub(super) async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        let object = self.object(key)?;
        let len = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(object)
            .content_type(super::content_type(key))
            .content_length(len)
            .body(S3Body::from(bytes))
            .send()
            .await
            .map_err(|e| storage_error(key, &e))?;
        Ok(())
    }

    pub(super) async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        let object = self.object(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&object)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectMeta {
                size: u64::try_from(out.content_length().unwrap_or(0)).unwrap_or(0),
                modified: out
                    .last_modified()
                    .and_then(|t| SystemTime::try_from(*t).ok()),
                etag: bare_etag(out.e_tag()),
            })),
            Err(e) => match storage_error(key, &e) {
                StorageError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    /// The object's metadata now; its bytes are read by [`RemoteObject::stream`].
    pub(super) async fn read(&self, key: &str) -> Result<ObjectReader, StorageError> {
        let meta = self
            .head(key)
            .await?
            .ok_or_else(|| StorageError::NotFound(key.to_owned()))?;
        let remote = RemoteObject {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            object: self.object(key)?,
            etag: meta.etag.clone(),
        };
        Ok(ObjectReader::remote(key, meta, remote))
    }

    /// A copy downloaded into staging (with the key's extension), removed when the
    /// [`LocalCopy`] is dropped.
    pub(super) async fn materialize(&self, key: &str) -> Result<LocalCopy, StorageError> {
        use futures_util::StreamExt;
        let reader = self.read(key).await?;
        let ext = key
            .rsplit_once('/')
            .map_or(key, |(_, name)| name)
            .rsplit_once('.')
            .map(|(_, ext)| format!(".{ext}"))
            .unwrap_or_default();
        let (copy, file) = self
            .staging
            .create_file("copy-", &ext)
            .await
            .map_err(io(key))?;
        let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
        let mut body = reader.stream(None).await?;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| stream_error(key, e))?;
            out.write_all(&chunk).await.map_err(io(key))?;
        }
        out.flush().await.map_err(io(key))?;
        out.into_inner().sync_all().await.map_err(io(key))?;
        Ok(LocalCopy::downloaded(copy))
    }

    /// Deletes one object (S3 answers success for a missing one too).
    pub(super) async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let object = self.object(key)?;
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(object)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match storage_error(key, &e) {
                StorageError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    /// A presigned GET URL of the object, valid for `storage.s3.presign_lifetime`.
    pub async fn presign(&self, key: &str) -> Result<String, StorageError> {
        let object = self.object(key)?;
        let config = PresigningConfig::expires_in(self.presign_lifetime).map_err(|e| {
            StorageError::ObjectStore {
                key: key.to_owned(),
                reason: e.to_string(),
            }
        })?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(object)
            .presigned(config)
            .await
            .map_err(|e| storage_error(key, &e))?;
        Ok(presigned.uri().to_owned())
    }

    pub(super) async fn deliver(
        &self,
        key: &str,
        audience: Audience,
    ) -> Result<Delivery, StorageError> {
        match audience {
            Audience::Runner if self.runner_downloads == RunnerDownloads::Redirect => {
                if self.head(key).await?.is_none() {
                    return Err(StorageError::NotFound(key.to_owned()));
                }
                Ok(Delivery::Redirect(self.presign(key).await?))
            }
            // A durable link of a presigned bucket: to a fresh presigned URL.
            Audience::Public if matches!(self.urls, S3Urls::Presigned(_)) => {
                Ok(Delivery::Redirect(self.presign(key).await?))
            }
            _ => Ok(Delivery::Stream(self.read(key).await?)),
        }
    }

    /// Whether `/static` serves the outputs: streamed from the bucket (`proxy`), or
    /// redirected to presigned URLs (`presigned`, for durable links).
    pub(super) fn serves_published(&self) -> bool {
        matches!(self.urls, S3Urls::Proxy(_) | S3Urls::Presigned(_))
    }

    /// Whether the video resource links presigned URLs ([`Self::fresh_url`]).
    pub(super) fn presigns(&self) -> bool {
        matches!(self.urls, S3Urls::Presigned(_))
    }

    /// The durable link of `key` (it does not expire).
    pub(super) fn url(&self, key: &str) -> String {
        match &self.urls {
            S3Urls::Public(base) => format!("{base}/{}{key}", self.prefix),
            S3Urls::Presigned(base) | S3Urls::Proxy(base) => format!("{base}/{key}"),
        }
    }

    /// The link the video resource gives: presigned, or [`Self::url`].
    pub(super) async fn fresh_url(&self, key: &str) -> Result<String, StorageError> {
        match &self.urls {
            S3Urls::Presigned(_) => self.presign(key).await,
            _ => Ok(self.url(key)),
        }
    }

    /// Readiness: the bucket answers to these credentials, and staging is writable.
    pub(super) async fn health_check(&self) -> Result<(), StorageError> {
        self.head_bucket().await?;
        let probe = self
            .staging
            .write_file("health-", "", b"ok")
            .await
            .map_err(io("health check"))?;
        probe.remove().await.map_err(io("health check"))
    }

    /// At startup: [`Self::health_check`], then an object written, read and deleted
    /// under the prefix, so that read-only or wrong credentials are an error now
    /// rather than at the first upload.
    pub(super) async fn startup_check(&self) -> Result<(), StorageError> {
        self.health_check().await?;
        let key = format!("connector-health-check/{}", uuid::Uuid::new_v4().simple());
        let unusable = |e: StorageError| StorageError::Unusable {
            bucket: self.bucket.clone(),
            endpoint: self.endpoint.clone(),
            reason: format!("a test object could not be written, read and deleted: {e}"),
        };
        self.put_bytes(&key, Bytes::from_static(b"ok"))
            .await
            .map_err(unusable)?;
        let read = self.head(&key).await.map_err(unusable);
        let deleted = self.delete(&key).await.map_err(unusable);
        match read? {
            Some(_) => deleted,
            None => Err(unusable(StorageError::NotFound(key))),
        }
    }

    async fn head_bucket(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StorageError::Unusable {
                bucket: self.bucket.clone(),
                endpoint: self.endpoint.clone(),
                reason: Failure::of(&e).explain(),
            })
    }
}

/// An object's bytes, read on demand (`GetObject` with `Range` and `If-Match`, so a
/// replaced object fails the read rather than mixing two versions).
#[derive(Debug)]
pub(super) struct RemoteObject {
    client: aws_sdk_s3::Client,
    bucket: String,
    object: String,
    etag: String,
}

impl RemoteObject {
    /// The bytes of `range` (end excluded; checked by the caller), or all of them.
    pub(super) async fn stream(
        self,
        key: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<ByteStream, StorageError> {
        let mut get = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.object)
            .if_match(format!("\"{}\"", self.etag));
        if let Some(r) = range {
            get = get.range(format!("bytes={}-{}", r.start, r.end - 1));
        }
        let out = get.send().await.map_err(|e| storage_error(key, &e))?;
        let body = out.body;
        // Ends after the first error.
        Ok(Box::pin(futures_util::stream::unfold(
            Some(body),
            |body| async move {
                let mut body = body?;
                match body.next().await? {
                    Ok(bytes) => Some((Ok(bytes), Some(body))),
                    Err(e) => Some((Err(std::io::Error::other(e)), None)),
                }
            },
        )))
    }
}

#[cfg(test)]
mod tests;
