//! The S3 backend against a real S3 server on loopback (`s3s-fs`): multipart uploads
//! of files of several parts, what is recorded with each object, presigned URLs,
//! redirects, and the startup check's errors. Skipped (saying so) when the server is
//! not installed, unless CI requires it (`tests/support/s3_server.rs`).

use futures_util::StreamExt;

use super::super::contract_tests::s3_server::S3Server;
use super::super::contract_tests::{s3_settings, s3_storage};
use super::*;
use crate::config::Secret;
use crate::storage::Storage;

const MIB: usize = 1024 * 1024;

async fn read_all(stream: ByteStream) -> Vec<u8> {
    let chunks: Vec<_> = stream.collect().await;
    chunks
        .into_iter()
        .flat_map(|c| c.unwrap().to_vec())
        .collect()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

#[tokio::test]
async fn a_file_larger_than_a_part_goes_up_in_parts_and_reads_back_whole_and_by_range() {
    let Some((_guard, server, s)) = s3_storage(|c| {
        c.part_size = 5 * MIB as u64;
        c.upload_concurrency = 2;
    })
    .await
    else {
        return;
    };
    // 3 parts: 5 MiB, 5 MiB and a short last one.
    let data = pattern(10 * MIB + 12_345);
    let staged = s.staging().write_file("up-", "", &data).await.unwrap();
    let staged_path = staged.path().to_owned();
    assert_eq!(
        s.put_file("videos/v/big-720.mp4", staged).await.unwrap(),
        data.len() as u64
    );
    assert!(
        !staged_path.exists(),
        "the staged file is removed once uploaded"
    );
    let head = server
        .client()
        .head_object()
        .bucket("media")
        .key("prc/videos/v/big-720.mp4")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(data.len() as i64));
    assert_eq!(head.content_type(), Some("video/mp4"));
    assert!(
        head.e_tag().unwrap().ends_with("-3\""),
        "a multipart entity tag counts its parts: {:?}",
        head.e_tag()
    );
    let (meta, body) = s.get_range("videos/v/big-720.mp4", None).await.unwrap();
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(read_all(body).await, data);
    // A range across the first part boundary.
    let range = (5 * MIB - 10) as u64..(5 * MIB + 10) as u64;
    let (_, body) = s
        .get_range("videos/v/big-720.mp4", Some(range.clone()))
        .await
        .unwrap();
    assert_eq!(
        read_all(body).await,
        &data[range.start as usize..range.end as usize]
    );
    let copy = s.materialize("videos/v/big-720.mp4").await.unwrap();
    assert_eq!(std::fs::read(copy.path()).unwrap(), data);
}

#[tokio::test]
async fn objects_carry_their_media_type_and_live_under_the_prefix() {
    let Some((_guard, server, s)) = s3_storage(|_| {}).await else {
        return;
    };
    s.put_bytes("v/a/master.m3u8", "#EXTM3U\n").await.unwrap();
    let thumb = s
        .staging()
        .write_file("t-", ".jpg", b"\xff\xd8")
        .await
        .unwrap();
    s.put_file("v/a/thumbnail.jpg", thumb).await.unwrap();
    s.put_stream("v/a/in.webm", &b"webm"[..]).await.unwrap();
    assert_eq!(
        server.keys("media").await,
        [
            "prc/v/a/in.webm",
            "prc/v/a/master.m3u8",
            "prc/v/a/thumbnail.jpg"
        ]
    );
    for (key, ty) in [
        ("prc/v/a/master.m3u8", "application/vnd.apple.mpegurl"),
        ("prc/v/a/thumbnail.jpg", "image/jpeg"),
        ("prc/v/a/in.webm", "video/webm"),
    ] {
        let head = server
            .client()
            .head_object()
            .bucket("media")
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_type(), Some(ty), "{key}");
    }
    s.delete("v/a/master.m3u8").await.unwrap();
    assert_eq!(
        server.keys("media").await,
        ["prc/v/a/in.webm", "prc/v/a/thumbnail.jpg"],
        "only the object deleted goes"
    );
}

#[tokio::test]
async fn presigned_urls_read_the_object_and_runners_are_redirected_when_configured() {
    let Some((_guard, _server, s)) = s3_storage(|c| {
        c.runner_downloads = RunnerDownloads::Redirect;
        c.presign_lifetime = Duration::from_secs(120);
    })
    .await
    else {
        return;
    };
    s.put_bytes("v/b/source.mp4", vec![9u8; 1000])
        .await
        .unwrap();
    let Delivery::Redirect(url) = s.deliver("v/b/source.mp4", Audience::Runner).await.unwrap()
    else {
        panic!("runners are redirected");
    };
    assert!(url.contains("X-Amz-Expires=120") && url.contains("/media/prc/v/b/source.mp4"));
    let res = reqwest::get(&url).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().len(), 1000);
    // A tampered URL is refused by the store.
    let forged = url.replace("source.mp4", "other.mp4");
    assert_eq!(reqwest::get(&forged).await.unwrap().status(), 403);
    // Published outputs are streamed (this storage proxies), and a missing object is
    // not found before any redirect.
    assert!(matches!(
        s.deliver("v/b/source.mp4", Audience::Public).await.unwrap(),
        Delivery::Stream(_)
    ));
    assert!(matches!(
        s.deliver("v/b/none.mp4", Audience::Runner).await,
        Err(StorageError::NotFound(_))
    ));
}

#[tokio::test]
async fn output_urls_are_presigned_public_or_served_here() {
    let Some(server) = S3Server::start() else {
        return;
    };
    server.create_bucket("media").await;
    let settings = s3_settings(&server, "media");
    let dir = tempfile::tempdir().unwrap();
    let open = |urls: S3Urls| {
        let staging = Staging::open(dir.path().join(".staging")).unwrap();
        S3Storage::connect(&settings, staging, urls)
    };
    let presigned = Storage::S3(open(S3Urls::Presigned("http://h:8000/static".into())).await);
    presigned
        .put_bytes("v/c/thumbnail.jpg", "jpg")
        .await
        .unwrap();
    assert!(presigned.presigns());
    let url = presigned.fresh_url("v/c/thumbnail.jpg").await.unwrap();
    assert!(url.starts_with(&format!("{}/media/prc/v/c/thumbnail.jpg?", server.endpoint)));
    let res = reqwest::get(&url).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    // The durable link is this server's, which redirects to a fresh presigned URL.
    assert_eq!(
        presigned.url("v/c/thumbnail.jpg"),
        "http://h:8000/static/v/c/thumbnail.jpg"
    );
    assert!(presigned.serves_published());
    let Delivery::Redirect(fresh) = presigned
        .deliver("v/c/thumbnail.jpg", Audience::Public)
        .await
        .unwrap()
    else {
        panic!("a presigned bucket's /static redirects")
    };
    assert_eq!(reqwest::get(&fresh).await.unwrap().status(), 200);

    let public = Storage::S3(open(S3Urls::Public("https://cdn.example/media".into())).await);
    assert_eq!(
        public.url("v/c/thumbnail.jpg"),
        "https://cdn.example/media/prc/v/c/thumbnail.jpg"
    );
    assert_eq!(
        public.fresh_url("v/c/thumbnail.jpg").await.unwrap(),
        public.url("v/c/thumbnail.jpg")
    );
    assert!(!public.serves_published() && !public.presigns());
    let proxied = Storage::S3(open(S3Urls::Proxy("http://h:8000/static".into())).await);
    assert_eq!(
        proxied.url("v/c/thumbnail.jpg"),
        "http://h:8000/static/v/c/thumbnail.jpg"
    );
    assert!(proxied.serves_published());
}

#[tokio::test]
async fn a_missing_bucket_or_wrong_credentials_fail_the_startup_check_saying_why() {
    let Some(server) = S3Server::start() else {
        return;
    };
    server.create_bucket("media").await;
    let dir = tempfile::tempdir().unwrap();
    let check = |settings: S3Settings| {
        let staging = Staging::open(dir.path().join(".staging")).unwrap();
        async move {
            let s = Storage::S3(
                S3Storage::connect(
                    &settings,
                    staging,
                    S3Urls::Presigned("http://h/static".into()),
                )
                .await,
            );
            (s.startup_check().await, s.health_check().await)
        }
    };
    let (startup, ready) = check(s3_settings(&server, "media")).await;
    startup.unwrap();
    ready.unwrap();
    assert_eq!(
        server.keys("media").await,
        Vec::<String>::new(),
        "the probe is deleted"
    );

    let (startup, ready) = check(s3_settings(&server, "missing")).await;
    for e in [startup.unwrap_err(), ready.unwrap_err()] {
        let msg = e.to_string();
        assert!(matches!(e, StorageError::Unusable { .. }), "{msg}");
        assert!(
            msg.contains("`missing`") && msg.contains("does not exist"),
            "{msg}"
        );
    }

    let mut wrong = s3_settings(&server, "media");
    wrong.secret_access_key = Some(Secret::new("not-the-secret"));
    let (startup, _) = check(wrong).await;
    let msg = startup.unwrap_err().to_string();
    assert!(msg.contains("credentials"), "{msg}");
    assert!(!msg.contains("not-the-secret"), "{msg}");

    let mut unknown = s3_settings(&server, "media");
    unknown.access_key_id = Some("nobody".to_owned());
    let msg = check(unknown).await.0.unwrap_err().to_string();
    assert!(msg.contains("credentials"), "{msg}");

    let mut closed = s3_settings(&server, "media");
    closed.endpoint = Some("http://127.0.0.1:1".to_owned());
    let msg = check(closed).await.0.unwrap_err().to_string();
    assert!(msg.contains("cannot be reached"), "{msg}");
}
