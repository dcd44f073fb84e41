//! `/static` serves a video's published outputs only (decided by its rows), never
//! through a symbolic link, with `nosniff` and the media types players expect.

use std::path::Path;

use peertube_runner_connector::db;
use peertube_runner_connector::service::renditions;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::media::sample;
use crate::runner_sim::clip;
use crate::video_helpers::*;

async fn fetch(app: &TestApp, url: &str) -> reqwest::Response {
    app.client.get(url).send().await.unwrap()
}

fn nosniff(res: &reqwest::Response) -> bool {
    res.headers()
        .get("x-content-type-options")
        .is_some_and(|v| v == "nosniff")
}

/// A submitted video with one HLS and one MP4 rendition stored as runners would.
async fn video_with_outputs(app: &TestApp) -> Value {
    let body = submit_ok(app, &sample("av-320x240.mp4"), &[("webVideos", "true")]).await;
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    let u = uuid.parse().unwrap();
    let video = app
        .state
        .db
        .run(move |conn| db::videos::find_by_uuid(conn, u))
        .await
        .unwrap()
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = work.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let mp4 = write("runner-240-fragmented.mp4", &clip().fragmented);
    let m3u8 = write("runner-240.m3u8", clip().playlist.as_bytes());
    let (mp4, m3u8) = (stage(app, &mp4).await, stage(app, &m3u8).await);
    renditions::store_hls(&app.state, video.id, 240, mp4, m3u8)
        .await
        .unwrap();
    let web = write("web.mp4", &clip().mp4);
    renditions::store_web_video(&app.state, video.id, 240, stage(app, &web).await)
        .await
        .unwrap();
    get(app, &format!("/api/v1/videos/{uuid}"))
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn only_published_outputs_are_served_with_their_types() {
    let app = spawn_video_app().await;
    let view = video_with_outputs(&app).await;
    let hls = &view["hls"]["renditions"][0];
    let expected = [
        (
            view["hls"]["masterPlaylistUrl"].as_str().unwrap(),
            "application/vnd.apple.mpegurl",
        ),
        (
            hls["playlistUrl"].as_str().unwrap(),
            "application/vnd.apple.mpegurl",
        ),
        (hls["fileUrl"].as_str().unwrap(), "video/mp4"),
        (
            view["webVideos"][0]["fileUrl"].as_str().unwrap(),
            "video/mp4",
        ),
        (view["thumbnailUrl"].as_str().unwrap(), "image/jpeg"),
    ];
    for (url, mime) in expected {
        let res = fetch(&app, url).await;
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(res.headers()["content-type"], mime, "{url}");
        assert!(nosniff(&res), "{url}");
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
    }
    let part = app
        .client
        .get(hls["fileUrl"].as_str().unwrap())
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);

    // The uploaded source, derivable from any output URL, is not published.
    let source_url = format!(
        "{}/static/{}",
        app.address,
        view["source"]["key"].as_str().unwrap()
    );
    let res = fetch(&app, &source_url).await;
    assert_eq!(res.status(), 404);
    assert!(nosniff(&res));
    // Nor is anything else a video's folder (or storage) holds.
    let dir = view["directory"].as_str().unwrap();
    for key in [format!("{dir}/notes.txt"), "uploads/in.mp4".to_owned()] {
        app.state
            .storage
            .put_bytes(&key, b"not published".to_vec())
            .await
            .unwrap();
        let res = fetch(&app, &format!("{}/static/{key}", app.address)).await;
        assert_eq!(res.status(), 404, "{key}");
    }
}

#[tokio::test]
async fn a_source_named_by_key_is_not_served() {
    let app = spawn_video_app().await;
    store_file(&app, &sample("av-320x240.mp4"), "media/lesson.mp4").await;
    let res = app
        .client
        .post(app.url("/api/v1/videos"))
        .bearer_auth(KEY)
        .json(&json!({"filePath": "media/lesson.mp4", "destination": "media"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let view: Value = res.json().await.unwrap();
    assert_eq!(
        fetch(&app, view["thumbnailUrl"].as_str().unwrap())
            .await
            .status(),
        200
    );
    let res = fetch(&app, &format!("{}/static/media/lesson.mp4", app.address)).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn links_planted_in_storage_are_never_followed() {
    let app = spawn_video_app().await;
    let view = video_with_outputs(&app).await;
    let root = app.data_dir.join("storage");
    let dir = view["directory"].as_str().unwrap();
    let secret = app.data_dir.join("secret.txt");
    std::fs::write(&secret, "database password").unwrap();

    // A published key whose file was replaced by a link to a file outside storage.
    let thumb_url = view["thumbnailUrl"].as_str().unwrap();
    let thumb = root.join(format!("{dir}/thumbnail.jpg"));
    std::fs::remove_file(&thumb).unwrap();
    std::os::unix::fs::symlink(&secret, &thumb).unwrap();
    let res = fetch(&app, thumb_url).await;
    assert_eq!(res.status(), 404);
    assert!(!res.text().await.unwrap().contains("password"));

    // A video folder replaced by a link to a folder elsewhere.
    let master_url = view["hls"]["masterPlaylistUrl"].as_str().unwrap();
    assert_eq!(fetch(&app, master_url).await.status(), 200);
    let elsewhere = app.data_dir.join("elsewhere");
    std::fs::rename(root.join(dir), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join(dir)).unwrap();
    assert!(Path::new(&elsewhere).join("master.m3u8").exists());
    let res = fetch(&app, master_url).await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn conditional_requests_head_and_ranges_use_the_objects_version() {
    let app = spawn_video_app().await;
    let view = video_with_outputs(&app).await;
    let master = view["hls"]["masterPlaylistUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let full = fetch(&app, &master).await;
    assert_eq!(full.status(), 200);
    let etag = full.headers()["etag"].to_str().unwrap().to_owned();
    let modified = full.headers()["last-modified"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let text = full.text().await.unwrap();

    let get_with = |name: &'static str, value: String| {
        let (client, url) = (app.client.clone(), master.clone());
        async move { client.get(url).header(name, value).send().await.unwrap() }
    };
    // Unchanged: 304 with the validators, no body.
    for (name, value) in [
        ("if-none-match", etag.clone()),
        ("if-none-match", format!("W/{etag}")),
        ("if-none-match", "*".to_owned()),
        ("if-modified-since", modified.clone()),
    ] {
        let res = get_with(name, value.clone()).await;
        assert_eq!(res.status(), 304, "{name}: {value}");
        assert_eq!(res.headers()["etag"].to_str().unwrap(), etag);
        assert!(nosniff(&res));
        assert!(res.bytes().await.unwrap().is_empty());
    }
    assert_eq!(
        get_with("if-none-match", "\"other\"".to_owned())
            .await
            .status(),
        200
    );
    assert_eq!(
        get_with("if-match", "\"other\"".to_owned()).await.status(),
        412
    );
    assert_eq!(get_with("if-match", etag.clone()).await.status(), 200);

    // HEAD: the headers of a GET, no body.
    let head = app.client.head(&master).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        text.len().to_string()
    );
    assert_eq!(
        head.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(head.headers()["etag"].to_str().unwrap(), etag);
    assert!(head.bytes().await.unwrap().is_empty());
    let head_range = app
        .client
        .head(&master)
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(head_range.status(), 206);
    assert_eq!(head_range.headers()["content-length"], "4");

    // A range only while If-Range still names this version; 416 past the end.
    let ranged = |if_range: String| {
        let (client, url) = (app.client.clone(), master.clone());
        async move {
            client
                .get(url)
                .header("range", "bytes=0-6")
                .header("if-range", if_range)
                .send()
                .await
                .unwrap()
        }
    };
    let res = ranged(etag.clone()).await;
    assert_eq!(res.status(), 206);
    assert_eq!(res.text().await.unwrap(), &text[..7]);
    assert_eq!(ranged("\"old\"".to_owned()).await.status(), 200);
    let res = app
        .client
        .get(&master)
        .header("range", format!("bytes={}-", text.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 416);
    assert_eq!(
        res.headers()["content-range"].to_str().unwrap(),
        format!("bytes */{}", text.len())
    );

    // Rebuilding the master gives it a new version: the old tag no longer matches.
    let uuid = view["uuid"].as_str().unwrap().to_owned();
    let u = uuid.parse().unwrap();
    let video = app
        .state
        .db
        .run(move |conn| db::videos::find_by_uuid(conn, u))
        .await
        .unwrap()
        .unwrap();
    renditions::rebuild_master(&app.state, video.id)
        .await
        .unwrap();
    let res = get_with("if-none-match", etag.clone()).await;
    assert_eq!(res.status(), 200);
    assert_ne!(res.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(res.text().await.unwrap(), text);
}
