//! A real S3 server on loopback for the S3 tests (shared by `tests/api` and the
//! storage contract tests of the library, which include this file): `s3s-fs` (a filesystem-backed S3
//! implementation; `cargo install s3s-fs@0.14.1 --features binary --locked`), one
//! process per test on a free port, with authentication on, stopped when dropped.
//!
//! The binary is `TEST_S3_SERVER` when set, else `s3s-fs` in `PATH` or
//! `~/.cargo/bin`. When it is missing the S3 tests fail, naming the install command,
//! if `TEST_S3_REQUIRED` or `CI` is set (`.ci/run` installs it and sets both), and
//! are skipped with that message otherwise (so that `cargo test` on a fresh clone
//! runs everything else).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

pub const ACCESS_KEY: &str = "prc-test-access";
pub const SECRET_KEY: &str = "prc-test-secret-key";

const INSTALL: &str = "cargo install s3s-fs@0.14.1 --features binary --locked";

/// A running `s3s-fs`.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// Where it keeps buckets (one folder each).
    pub root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TEST_S3_SERVER").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
}

fn required() -> bool {
    ["TEST_S3_REQUIRED", "CI"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}

impl S3Server {
    /// Starts a server, or `None` (after saying so) when the binary is missing and
    /// not required. Panics when it is required and missing, or does not start.
    pub fn start() -> Option<S3Server> {
        let Some(bin) = find_binary() else {
            let msg = format!(
                "the S3 tests need the s3s-fs server: install it with `{INSTALL}` \
                 (or name it with TEST_S3_SERVER)"
            );
            assert!(!required(), "{msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("buckets");
        std::fs::create_dir_all(&root).unwrap();
        let log_path = dir.path().join("s3s.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&root)
            .env("RUST_LOG", "s3s_fs=info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut server = S3Server {
            child,
            endpoint: String::new(),
            root,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        const READY: &str = "server is running at ";
        loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(at) = text.find(READY) {
                let rest = &text[at + READY.len()..];
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                server.endpoint = rest[..end].to_owned();
                return Some(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("s3s-fs exited with {status}: {text}");
            }
            assert!(Instant::now() < deadline, "s3s-fs did not start: {text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A client of this server (path-style, fixed region, the test credentials).
    pub fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Creates `bucket` through the S3 API.
    pub async fn create_bucket(&self, bucket: &str) {
        self.client()
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
    }

    /// Every key in `bucket`, sorted.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut pages = self
            .client()
            .list_objects_v2()
            .bucket(bucket)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.unwrap();
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        keys.sort();
        keys
    }
}
