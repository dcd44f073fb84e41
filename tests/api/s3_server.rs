//! The S3 test server ([`S3Server`], in `tests/support`) and settings pointing the
//! application at it.

#[path = "../support/s3_server.rs"]
mod server;

pub use server::*;

use peertube_runner_connector::config::{Secret, Settings, StorageBackend};

/// Settings for S3 storage in `bucket` of `server` (prefix `prc/`).
pub fn configure(server: &S3Server, s: &mut Settings, bucket: &str) {
    s.storage.backend = StorageBackend::S3;
    let s3 = &mut s.storage.s3;
    s3.bucket = bucket.to_owned();
    s3.endpoint = Some(server.endpoint.clone());
    s3.region = Some("us-east-1".to_owned());
    s3.force_path_style = true;
    s3.prefix = "prc/".to_owned();
    s3.access_key_id = Some(ACCESS_KEY.to_owned());
    s3.secret_access_key = Some(Secret::new(SECRET_KEY));
}
