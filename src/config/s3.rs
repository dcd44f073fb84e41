//! `[storage] backend` and `[storage.s3]`: where objects live when they are not on
//! local disk, and how their URLs are handed out.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret};

/// `storage.backend`
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Files under `storage.root`.
    #[default]
    Local,
    /// An S3-compatible bucket (`[storage.s3]`).
    S3,
}

/// `storage.s3.output_urls`: the URLs of published outputs in the video resource, when
/// `storage.public_base_url` is not set.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OutputUrls {
    /// Presigned GET URLs valid for `presign_lifetime`; `/static` serves nothing.
    #[default]
    Presigned,
    /// `<storage.public_base_url>/<prefix><key>`: a public bucket, or a CDN in front
    /// of the bucket; `/static` serves nothing.
    Public,
    /// `<public_url><serve_path>/<key>` (or `<storage.public_base_url>/<key>`, a CDN
    /// in front of this server): this server streams the outputs from the bucket
    /// (Range and conditional requests as on local disk).
    Proxy,
}

/// `storage.s3.runner_downloads`: how runners get their inputs.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RunnerDownloads {
    /// This server streams the object (works for runners that cannot reach the
    /// object store).
    #[default]
    Proxy,
    /// A 302 to a presigned GET URL valid for `presign_lifetime` (the runner follows
    /// it, as a GET).
    Redirect,
}

/// `[storage.s3]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// Bucket name (required with `storage.backend = "s3"`; it must exist).
    pub bucket: String,
    /// Region. Unset: the standard AWS chain's (`AWS_REGION`, profile), else
    /// `us-east-1`.
    pub region: Option<String>,
    /// Endpoint URL of an S3-compatible store (MinIO, Garage, Ceph, R2…). Unset: AWS.
    pub endpoint: Option<String>,
    /// Path-style addressing (`<endpoint>/<bucket>/<key>`), which most self-hosted
    /// stores need.
    pub force_path_style: bool,
    /// Prefix of every object key in the bucket, e.g. `connector/`.
    pub prefix: String,
    /// Access key id. Unset: the standard AWS credential chain (environment, profile,
    /// web identity, container and instance roles).
    pub access_key_id: Option<String>,
    /// Secret access key, with `access_key_id`.
    pub secret_access_key: Option<Secret>,
    /// Output URLs when `storage.public_base_url` is not set.
    pub output_urls: OutputUrls,
    /// How runners download their inputs.
    pub runner_downloads: RunnerDownloads,
    /// Lifetime of presigned URLs (output URLs and runner redirects), at most 7 days.
    #[serde(with = "humantime_serde")]
    pub presign_lifetime: Duration,
    /// Part size of multipart uploads, bytes (5 MiB to 5 GiB; raised for files that
    /// would need more than 10,000 parts).
    pub part_size: u64,
    /// Parts of one upload sent at once.
    pub upload_concurrency: usize,
}

/// Smallest part S3 accepts (except the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Largest part S3 accepts.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Longest lifetime of a SigV4 presigned URL.
pub const MAX_PRESIGN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            bucket: String::new(),
            region: None,
            endpoint: None,
            force_path_style: false,
            prefix: String::new(),
            access_key_id: None,
            secret_access_key: None,
            output_urls: OutputUrls::default(),
            runner_downloads: RunnerDownloads::default(),
            presign_lifetime: Duration::from_secs(3600),
            part_size: 16 * 1024 * 1024,
            upload_concurrency: 4,
        }
    }
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

impl S3Settings {
    /// Checks the values (with `storage.backend = "s3"`) and normalises the prefix
    /// (no leading `/`, one trailing `/` when not empty).
    pub(super) fn resolve(&mut self, public_base_url: Option<&str>) -> Result<(), ConfigError> {
        match (self.output_urls, public_base_url) {
            (OutputUrls::Public, None) => {
                return Err(invalid(
                    "storage.s3.output_urls = \"public\" needs storage.public_base_url \
                     (the public bucket's or CDN's URL)",
                ));
            }
            (OutputUrls::Presigned, Some(_)) => {
                return Err(invalid(
                    "storage.public_base_url is not used with storage.s3.output_urls = \
                     \"presigned\": set output_urls to \"public\" (a public bucket or CDN) \
                     or \"proxy\" (a CDN in front of this server)",
                ));
            }
            _ => {}
        }
        if self.bucket.is_empty() {
            return Err(invalid(
                "storage.s3.bucket must be set with storage.backend = \"s3\" (PRC_STORAGE__S3__BUCKET)",
            ));
        }
        if let Some(endpoint) = &self.endpoint {
            let parsed = url::Url::parse(endpoint)
                .map_err(|e| invalid(format!("storage.s3.endpoint `{endpoint}`: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(invalid(format!(
                    "storage.s3.endpoint `{endpoint}` must be an http:// or https:// URL"
                )));
            }
        }
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(_), None) | (None, Some(_)) => {
                return Err(invalid(
                    "storage.s3.access_key_id and secret_access_key go together \
                     (or leave both unset for the standard AWS credential chain)",
                ));
            }
            (Some(id), Some(secret)) if id.is_empty() || secret.expose().is_empty() => {
                return Err(invalid(
                    "storage.s3.access_key_id and secret_access_key must not be empty",
                ));
            }
            _ => {}
        }
        let prefix = self.prefix.trim_matches('/');
        if !prefix.is_empty() && crate::storage::validate_key(prefix).is_err() {
            return Err(invalid(format!(
                "storage.s3.prefix `{}`: letters, digits, `-`, `_`, `.` and `/` only, \
                 no empty, `.` or `..` segment",
                self.prefix
            )));
        }
        self.prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        if self.presign_lifetime < Duration::from_secs(1)
            || self.presign_lifetime > MAX_PRESIGN_LIFETIME
        {
            return Err(invalid(
                "storage.s3.presign_lifetime must be between 1s and 7 days",
            ));
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size) {
            return Err(invalid(format!(
                "storage.s3.part_size must be between {MIN_PART_SIZE} (5 MiB) and {MAX_PART_SIZE} (5 GiB)"
            )));
        }
        if !(1..=64).contains(&self.upload_concurrency) {
            return Err(invalid(
                "storage.s3.upload_concurrency must be between 1 and 64",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load;
    use super::*;
    use crate::config::Overrides;

    fn s3_env(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars = vec![
            ("PRC_STORAGE__BACKEND", "s3"),
            ("PRC_STORAGE__S3__BUCKET", "media"),
        ];
        vars.extend_from_slice(extra);
        vars
    }

    #[test]
    fn s3_settings_come_from_the_environment() {
        let s = load(
            None,
            &s3_env(&[
                ("PRC_STORAGE__S3__ENDPOINT", "http://127.0.0.1:9000"),
                ("PRC_STORAGE__S3__REGION", "garage"),
                ("PRC_STORAGE__S3__FORCE_PATH_STYLE", "true"),
                ("PRC_STORAGE__S3__PREFIX", "/connector/prod"),
                ("PRC_STORAGE__S3__ACCESS_KEY_ID", "AKID"),
                ("PRC_STORAGE__S3__SECRET_ACCESS_KEY", "s3-secret-value"),
                ("PRC_STORAGE__S3__OUTPUT_URLS", "proxy"),
                ("PRC_STORAGE__S3__RUNNER_DOWNLOADS", "redirect"),
                ("PRC_STORAGE__S3__PRESIGN_LIFETIME", "15m"),
                ("PRC_STORAGE__S3__PART_SIZE", "8388608"),
                ("PRC_STORAGE__S3__UPLOAD_CONCURRENCY", "2"),
            ]),
            &Overrides::default(),
        );
        assert_eq!(s.storage.backend, StorageBackend::S3);
        let s3 = &s.storage.s3;
        assert_eq!(s3.bucket, "media");
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s3.region.as_deref(), Some("garage"));
        assert!(s3.force_path_style);
        assert_eq!(s3.prefix, "connector/prod/");
        assert_eq!(s3.access_key_id.as_deref(), Some("AKID"));
        assert_eq!(s3.output_urls, OutputUrls::Proxy);
        assert_eq!(s3.runner_downloads, RunnerDownloads::Redirect);
        assert_eq!(s3.presign_lifetime, Duration::from_secs(900));
        assert_eq!((s3.part_size, s3.upload_concurrency), (8 << 20, 2));
        let dumped = s.to_toml().unwrap();
        assert!(!dumped.contains("s3-secret-value") && !format!("{s:?}").contains("s3-secret"));
    }

    #[test]
    fn bad_s3_settings_are_refused_with_the_key_named() {
        let o = Overrides::default();
        let refused = |vars: Vec<(&str, &str)>, needle: &str| {
            let env = super::super::tests::env(&vars);
            let err = crate::config::Settings::load_from(None, env, &o).unwrap_err();
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        };
        refused(vec![("PRC_STORAGE__BACKEND", "s3")], "storage.s3.bucket");
        refused(
            vec![("PRC_STORAGE__BACKEND", "gcs")],
            "PRC_STORAGE__BACKEND",
        );
        refused(
            s3_env(&[("PRC_STORAGE__S3__ENDPOINT", "ftp://x")]),
            "storage.s3.endpoint",
        );
        refused(
            s3_env(&[("PRC_STORAGE__S3__ACCESS_KEY_ID", "AKID")]),
            "secret_access_key",
        );
        refused(
            s3_env(&[
                ("PRC_STORAGE__S3__ACCESS_KEY_ID", "AKID"),
                ("PRC_STORAGE__S3__SECRET_ACCESS_KEY", ""),
            ]),
            "must not be empty",
        );
        refused(
            s3_env(&[("PRC_STORAGE__S3__OUTPUT_URLS", "public")]),
            "needs storage.public_base_url",
        );
        refused(
            s3_env(&[("PRC_STORAGE__PUBLIC_BASE_URL", "https://cdn.example")]),
            "not used with storage.s3.output_urls",
        );
        refused(
            s3_env(&[("PRC_STORAGE__S3__PREFIX", "a/../b")]),
            "storage.s3.prefix",
        );
        refused(
            s3_env(&[("PRC_STORAGE__S3__PRESIGN_LIFETIME", "8days")]),
            "presign_lifetime",
        );
        refused(
            s3_env(&[("PRC_STORAGE__S3__PART_SIZE", "1024")]),
            "part_size",
        );
        refused(
            s3_env(&[("PRC_STORAGE__S3__UPLOAD_CONCURRENCY", "0")]),
            "upload_concurrency",
        );
        // Local storage ignores an incomplete [storage.s3].
        load(None, &[("PRC_STORAGE__S3__PART_SIZE", "1")], &o);
    }
}
