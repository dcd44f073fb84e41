//! What every backend must do, checked on each of them: local disk, memory, and S3
//! against a real S3 server on loopback (`s3s-fs`, see `tests/support/s3_server.rs`).

use std::any::Any;

use futures_util::StreamExt;

use super::*;
use crate::config::{S3Settings, Secret};

#[path = "../../tests/support/s3_server.rs"]
#[allow(dead_code, reason = "shared with tests/api, which uses all of it")]
pub(super) mod s3_server;

use s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};

/// Settings for `bucket` of `server`, objects under `prc/`.
pub(super) fn s3_settings(server: &S3Server, bucket: &str) -> S3Settings {
    S3Settings {
        bucket: bucket.to_owned(),
        endpoint: Some(server.endpoint.clone()),
        region: Some("us-east-1".to_owned()),
        force_path_style: true,
        prefix: "prc/".to_owned(),
        access_key_id: Some(ACCESS_KEY.to_owned()),
        secret_access_key: Some(Secret::new(SECRET_KEY)),
        ..S3Settings::default()
    }
}

/// An S3 storage on a fresh server and bucket (`None`: no server, skipped), with
/// `/static`-style URLs; the guard keeps the server and staging folder alive.
pub(super) async fn s3_storage(
    configure: impl FnOnce(&mut S3Settings),
) -> Option<(Box<dyn Any>, S3Server, Storage)> {
    let server = S3Server::start()?;
    server.create_bucket("media").await;
    let mut settings = s3_settings(&server, "media");
    configure(&mut settings);
    let dir = tempfile::tempdir().unwrap();
    let staging = Staging::open(dir.path().join(".staging")).unwrap();
    let urls = S3Urls::Proxy("http://h/static".to_owned());
    let s = S3Storage::connect(&settings, staging, urls).await;
    Some((Box::new(dir), server, Storage::S3(s)))
}

async fn backends() -> Vec<(Box<dyn Any>, Storage)> {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalStorage::open(&dir.path().join("root"), "http://h/static/").unwrap();
    let memory = MemoryStorage::new("http://h/static").unwrap();
    let mut all: Vec<(Box<dyn Any>, Storage)> = vec![
        (Box::new(dir), Storage::Local(local)),
        (Box::new(()), Storage::Memory(memory)),
    ];
    if let Some((guard, server, s3)) = s3_storage(|_| {}).await {
        all.push((Box::new((guard, server)), s3));
    }
    all
}

async fn read_all(stream: ByteStream) -> Vec<u8> {
    let chunks: Vec<_> = stream.collect().await;
    chunks
        .into_iter()
        .flat_map(|c| c.unwrap().to_vec())
        .collect()
}

fn name(s: &Storage) -> &'static str {
    match s {
        Storage::Local(_) => "local",
        Storage::Memory(_) => "memory",
        Storage::S3(_) => "s3",
    }
}

#[tokio::test]
async fn puts_of_every_kind_read_back_whole_and_by_range() {
    for (_dir, s) in backends().await {
        let b = name(&s);
        let staged = s
            .staging()
            .write_file("upload-", "", b"0123456789")
            .await
            .unwrap();
        assert_eq!(s.put_file("v/a/file.mp4", staged).await.unwrap(), 10, "{b}");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let size = s.put_stream("v/a/stream.bin", &data[..]).await.unwrap();
        assert_eq!(size, data.len() as u64, "{b}");
        s.put_bytes("v/a/small.m3u8", "#EXTM3U\n").await.unwrap();

        let (meta, body) = s.get_range("v/a/stream.bin", None).await.unwrap();
        assert_eq!(meta.size, data.len() as u64, "{b}");
        assert!(!meta.etag.is_empty() && meta.modified.is_some(), "{b}");
        assert_eq!(read_all(body).await, data, "{b}");
        let (_, body) = s
            .get_range("v/a/stream.bin", Some(100_000..200_001))
            .await
            .unwrap();
        assert_eq!(read_all(body).await, &data[100_000..200_001], "{b}");
        let (_, body) = s.get_range("v/a/file.mp4", Some(9..10)).await.unwrap();
        assert_eq!(read_all(body).await, b"9", "{b}");
        #[expect(clippy::reversed_empty_ranges, reason = "refused ranges")]
        let refused = [10..11, 5..5, 3..2];
        for bad in refused {
            assert!(
                matches!(
                    s.get_range("v/a/file.mp4", Some(bad.clone())).await,
                    Err(StorageError::RangeNotSatisfiable { size: 10 })
                ),
                "{b} {bad:?}"
            );
        }
        assert_eq!(
            s.get_bytes("v/a/small.m3u8", 100).await.unwrap(),
            b"#EXTM3U\n"
        );
        assert!(matches!(
            s.get_bytes("v/a/stream.bin", 10).await,
            Err(StorageError::TooLarge { .. })
        ));
        assert_eq!(s.size("v/a/file.mp4").await.unwrap(), Some(10), "{b}");
        assert_eq!(s.url("v/a/small.m3u8"), "http://h/static/v/a/small.m3u8");
    }
}

#[tokio::test]
async fn a_rewrite_changes_the_etag_and_deletes_are_idempotent() {
    for (_dir, s) in backends().await {
        let b = name(&s);
        s.put_bytes("m/master.m3u8", "one").await.unwrap();
        let first = s.head("m/master.m3u8").await.unwrap().unwrap();
        s.put_bytes("m/master.m3u8", "two").await.unwrap();
        let second = s.head("m/master.m3u8").await.unwrap().unwrap();
        assert_ne!(first.etag, second.etag, "{b}");
        assert_eq!(s.get_bytes("m/master.m3u8", 10).await.unwrap(), b"two");
        s.delete("m/master.m3u8").await.unwrap();
        s.delete("m/master.m3u8").await.unwrap();
        assert!(!s.exists("m/master.m3u8").await.unwrap(), "{b}");
        assert!(
            matches!(
                s.open("m/master.m3u8").await,
                Err(StorageError::NotFound(_))
            ),
            "{b}"
        );
        assert!(matches!(
            s.deliver("m/master.m3u8", Audience::Runner).await,
            Err(StorageError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn materialized_copies_are_readable_files() {
    for (_dir, s) in backends().await {
        let b = name(&s);
        s.put_bytes("in/clip.mp4", vec![7u8; 1000]).await.unwrap();
        let copy = s.materialize("in/clip.mp4").await.unwrap();
        assert_eq!(std::fs::read(copy.path()).unwrap(), vec![7u8; 1000], "{b}");
        assert!(
            copy.path().to_str().unwrap().ends_with(".mp4"),
            "{b}: tools guess from the extension"
        );
        let path = copy.path().to_owned();
        drop(copy);
        assert!(
            s.exists("in/clip.mp4").await.unwrap(),
            "{b}: the object stays"
        );
        if let Storage::Memory(_) | Storage::S3(_) = s {
            for _ in 0..100 {
                if !path.exists() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(!path.exists(), "the downloaded copy goes");
        }
        assert!(matches!(
            s.materialize("in/none.mp4").await,
            Err(StorageError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn bad_keys_are_refused_everywhere() {
    for (_dir, s) in backends().await {
        let b = name(&s);
        for key in ["../escape", "/abs", "a//b", ".staging/x", ""] {
            assert!(
                matches!(
                    s.put_bytes(key, "x").await,
                    Err(StorageError::InvalidKey(_))
                ),
                "{b} {key}"
            );
            assert!(
                matches!(s.open(key).await, Err(StorageError::InvalidKey(_))),
                "{b} {key}"
            );
            assert!(
                matches!(s.delete(key).await, Err(StorageError::InvalidKey(_))),
                "{b} {key}"
            );
        }
        s.health_check().await.unwrap();
    }
}

#[tokio::test]
async fn a_memory_put_hook_fails_chosen_writes() {
    let s = MemoryStorage::new("http://h").unwrap();
    s.set_put_hook(std::sync::Arc::new(|key: &str| {
        let fail = key.ends_with("master.m3u8");
        Box::pin(async move {
            if fail {
                Err(std::io::Error::other("injected"))
            } else {
                Ok(())
            }
        })
    }));
    let s = Storage::Memory(s);
    s.put_bytes("v/a.m3u8", "x").await.unwrap();
    assert!(s.put_bytes("v/master.m3u8", "x").await.is_err());
    assert!(!s.exists("v/master.m3u8").await.unwrap());
}
