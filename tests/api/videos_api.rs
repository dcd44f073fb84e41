//! `GET /api/v1/videos[/{uuid}]`, `DELETE /api/v1/videos/{uuid}` and `/static` with
//! Range requests.

use serde_json::Value;

use crate::helpers::problem;
use crate::media::sample;
use crate::video_helpers::*;

#[tokio::test]
async fn videos_are_listed_in_pages_and_filtered_by_state() {
    let app = spawn_video_app().await;
    let mut uuids = Vec::new();
    for i in 0..3 {
        let body = submit_ok(&app, &sample("audio.m4a"), &[("name", &format!("v{i}"))]).await;
        uuids.push(body["uuid"].as_str().unwrap().to_owned());
    }
    let page: Value = get(&app, "/api/v1/videos?start=0&count=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 3);
    let names: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["v2", "v1"]);
    assert_eq!(page["data"][0]["jobs"].as_array().unwrap().len(), 1);
    let page: Value = get(&app, "/api/v1/videos?start=2&count=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["name"], "v0");

    let page: Value = get(&app, "/api/v1/videos?state=transcoding")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 3);
    let page: Value = get(&app, "/api/v1/videos?state=published")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            page["total"].as_i64(),
            page["data"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );

    for bad in ["count=101", "count=-1", "start=x", "state=bogus"] {
        let res = get(&app, &format!("/api/v1/videos?{bad}")).await;
        assert_eq!(res.status(), 400, "{bad}");
        problem(res).await;
    }
}

#[tokio::test]
async fn one_video_shows_its_state_jobs_and_files() {
    let app = spawn_video_app().await;
    let body = submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
    let uuid = body["uuid"].as_str().unwrap();
    let res = get(&app, &format!("/api/v1/videos/{uuid}")).await;
    assert_eq!(res.status(), 200);
    let got: Value = res.json().await.unwrap();
    assert_eq!(got, body);
    assert_eq!(
        got["state"],
        serde_json::json!({"id": 2, "name": "transcoding", "label": "To transcode"})
    );
    assert_eq!(got["error"], Value::Null);
    let codecs = got["source"]["codecs"].as_str().unwrap();
    assert!(
        codecs.starts_with("avc1.") && codecs.ends_with(",mp4a.40.2"),
        "{codecs}"
    );
    assert!(got["source"]["format"].as_str().unwrap().contains("mp4"));
    let job = &got["jobs"][0];
    assert_eq!(job["type"], "vod-hls-transcoding");
    assert_eq!(job["state"]["label"], "Pending");
    assert_eq!(job["progress"], Value::Null);
    assert_eq!(got["hls"], Value::Null);
    assert_eq!(got["webVideos"], serde_json::json!([]));

    let res = get(&app, "/api/v1/videos/3f1e0c2a-0000-4000-8000-000000000000").await;
    assert_eq!(res.status(), 404);
    let doc = problem(res).await;
    assert_eq!(
        (doc["code"].as_str(), doc["type"].as_str()),
        (Some("video_not_found"), Some("about:blank"))
    );
    let res = get(&app, "/api/v1/videos/not-a-uuid").await;
    assert_eq!(res.status(), 404);
    assert_eq!(problem(res).await["code"], "video_not_found");
    let res = get(&app, "/api/v1/videos?count=1000").await;
    assert_eq!(res.status(), 400);
    assert_eq!(problem(res).await["code"], "invalid_request");
}

#[tokio::test]
async fn deleting_a_video_removes_its_rows_jobs_and_files() {
    let app = spawn_video_app().await;
    let keep = submit_ok(&app, &sample("audio.m4a"), &[]).await;
    let body = submit_ok(&app, &sample("av-320x240.mp4"), &[("webVideos", "true")]).await;
    let uuid = body["uuid"].as_str().unwrap();
    let before = stored_files(&app).len();
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/videos/{uuid}")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        get(&app, &format!("/api/v1/videos/{uuid}")).await.status(),
        404
    );
    // The other video is untouched: one row, its source, one job.
    assert_eq!(row_counts(&app).await, (1, 1, 1));
    assert_eq!(stored_files(&app).len(), before - 2);
    assert!(!app.data_dir.join(format!("storage/videos/{uuid}")).exists());
    let other = keep["uuid"].as_str().unwrap();
    assert_eq!(
        get(&app, &format!("/api/v1/videos/{other}")).await.status(),
        200
    );
    let again = app
        .client
        .delete(app.url(&format!("/api/v1/videos/{uuid}")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn static_files_support_ranges_and_refuse_odd_keys() {
    let app = spawn_video_app().await;
    let body = submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
    let thumb = body["thumbnailUrl"].as_str().unwrap();
    let full = app.client.get(thumb).send().await.unwrap();
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["content-type"], "image/jpeg");
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    assert_eq!(full.headers()["access-control-allow-origin"], "*");
    let bytes = full.bytes().await.unwrap();

    let part = app
        .client
        .get(thumb)
        .header("range", "bytes=2-11")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        format!("bytes 2-11/{}", bytes.len())
    );
    assert_eq!(part.bytes().await.unwrap(), bytes.slice(2..12));

    let head = app.client.head(thumb).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        bytes.len().to_string()
    );

    let unsatisfiable = app
        .client
        .get(thumb)
        .header("range", format!("bytes={}-", bytes.len() + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(unsatisfiable.status(), 416);

    for path in [
        "/static/nothing/here.jpg",
        "/static/.staging/x",
        "/static/videos/%2e%2e/%2e%2e/etc/passwd",
        "/static/videos",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
}
