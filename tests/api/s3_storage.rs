//! The application on S3 storage, against a real S3 server on loopback (`s3s-fs`, see
//! `tests/support/s3_server.rs`; skipped, saying so, when it is not installed and CI
//! does not require it): submit → runner simulator with real ffmpeg → published, with
//! every output read by ffprobe through its URL; runner downloads streamed (with
//! Range) or redirected; `filePath` sources; private sources; deletion of exactly a
//! video's objects; a store that fails mid-submission; a bucket that is missing at
//! startup or disappears later.

use std::path::Path;

use peertube_runner_connector::config::{OutputUrls, RunnerDownloads, Settings};
use peertube_runner_connector::domain::job::JobState;
use peertube_runner_connector::startup::Application;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_staging_empty, test_settings};
use crate::media::sample;
use crate::pipeline::{ffprobe_ok, transcode};
use crate::runner_sim::{SimRunner, wait_state};
use crate::s3_server::{S3Server, configure};
use crate::video_helpers::*;

const BUCKET: &str = "media";

/// A server with the bucket, and an app storing in it after `tweak`.
async fn s3_app(tweak: impl FnOnce(&mut Settings)) -> Option<(S3Server, TestApp)> {
    let server = S3Server::start()?;
    server.create_bucket(BUCKET).await;
    let app = spawn_video_app_with(|s| {
        configure(&server, s, BUCKET);
        tweak(s);
    })
    .await;
    Some((server, app))
}

/// Takes every job the runner is offered and completes it with real ffmpeg; checks
/// each input download with `check_download`. Returns the number of jobs done.
async fn run_all_jobs(app: &TestApp, runner: &SimRunner, work: &Path) -> usize {
    let mut done = 0;
    for _ in 0..20 {
        let offers = runner.available(json!({"version": "0.1.0"})).await;
        let Some(offer) = offers.first() else { break };
        let job_uuid = offer["uuid"].as_str().unwrap().to_owned();
        let (job, token) = runner.accept_ok(&job_uuid).await;
        let input_url = job["payload"]["input"]["videoFileUrl"].as_str().unwrap();
        assert!(input_url.starts_with(&app.address), "{input_url}");
        let res = runner.download(input_url, &token).await;
        assert_eq!(res.status(), 200);
        let input = work.join(format!("in-{job_uuid}"));
        std::fs::write(&input, res.bytes().await.unwrap()).unwrap();
        let files = transcode(&job, &input, work);
        let res = runner.success(&job_uuid, &token, &[], files).await;
        assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
        wait_state(app, &job_uuid, JobState::Completed).await;
        done += 1;
    }
    done
}

fn outputs(view: &Value) -> (Vec<Value>, Vec<Value>) {
    (
        view["hls"]["renditions"].as_array().unwrap().clone(),
        view["webVideos"].as_array().unwrap().clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_a_video_is_published_with_presigned_urls_that_ffprobe_reads() {
    // The default output URLs (presigned), runners redirected to presigned URLs.
    let Some((server, app)) = s3_app(|s| {
        s.storage.s3.runner_downloads = RunnerDownloads::Redirect;
    })
    .await
    else {
        return;
    };
    let runner = SimRunner::register(&app, "s3-runner").await;
    let body = submit_ok(
        &app,
        &sample("av-320x240.mp4"),
        &[("webVideos", "true"), ("resolutions", "144,240")],
    )
    .await;
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    let source_key = body["source"]["key"].as_str().unwrap().to_owned();
    // The source went to the bucket, under the prefix; nothing stays on local disk.
    assert!(
        server
            .keys(BUCKET)
            .await
            .contains(&format!("prc/{source_key}")),
        "{:?}",
        server.keys(BUCKET).await
    );
    assert_staging_empty(&app).await;

    let work = tempfile::tempdir().unwrap();
    assert_eq!(run_all_jobs(&app, &runner, work.path()).await, 4);
    let view: Value = get(&app, &format!("/api/v1/videos/{uuid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["state"]["name"], "published", "{view}");
    let (hls, mp4s) = outputs(&view);
    assert_eq!((hls.len(), mp4s.len()), (2, 2));
    let presigned = |url: &str| {
        assert!(
            url.starts_with(&format!("{}/{BUCKET}/prc/", server.endpoint))
                && url.contains("X-Amz-Signature="),
            "{url}"
        );
    };
    for r in hls.iter().chain(&mp4s) {
        let url = r["fileUrl"].as_str().unwrap();
        presigned(url);
        ffprobe_ok(url).await;
    }
    let thumbnail = view["thumbnailUrl"].as_str().unwrap();
    presigned(thumbnail);
    let res = app.client.get(thumbnail).send().await.unwrap();
    assert_eq!(
        (
            res.status().as_u16(),
            res.headers()["content-type"].to_str().unwrap()
        ),
        (200, "image/jpeg")
    );
    // The master playlist, read through its presigned URL, lists every rendition.
    let master_url = view["hls"]["masterPlaylistUrl"].as_str().unwrap();
    presigned(master_url);
    let master = app.client.get(master_url).send().await.unwrap();
    assert_eq!(
        master.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    let master = master.text().await.unwrap();
    for r in &hls {
        let name = r["playlistUrl"]
            .as_str()
            .unwrap()
            .split('?')
            .next()
            .unwrap();
        let name = name.rsplit('/').next().unwrap();
        assert!(master.contains(name), "{name} missing from\n{master}");
    }
    // The durable links (webhook bodies) are /static's: a published output redirects
    // to a fresh presigned URL, the source stays private.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mp4_key = format!("videos/{uuid}/{uuid}-240.mp4");
    let res = no_redirect
        .get(app.url(&format!("/static/{mp4_key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let fresh = res.headers()["location"].to_str().unwrap().to_owned();
    presigned(&fresh);
    ffprobe_ok(&fresh).await;
    let source_key = view["source"]["key"].as_str().unwrap();
    let res = no_redirect
        .get(app.url(&format!("/static/{source_key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "sources are never linked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_proxied_outputs_play_through_static_and_sources_stay_private() {
    let Some((server, app)) = s3_app(|s| {
        s.storage.s3.output_urls = OutputUrls::Proxy;
    })
    .await
    else {
        return;
    };
    let runner = SimRunner::register(&app, "s3-proxy-runner").await;
    let body = submit_ok(
        &app,
        &sample("av-320x240.mp4"),
        &[("resolutions", "144,240")],
    )
    .await;
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    let work = tempfile::tempdir().unwrap();
    assert_eq!(run_all_jobs(&app, &runner, work.path()).await, 2);
    let view: Value = get(&app, &format!("/api/v1/videos/{uuid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["state"]["name"], "published", "{view}");
    let (hls, _) = outputs(&view);
    let master_url = view["hls"]["masterPlaylistUrl"].as_str().unwrap();
    assert_eq!(
        master_url,
        app.url(&format!("/static/videos/{uuid}/master.m3u8"))
    );
    for r in &hls {
        ffprobe_ok(r["playlistUrl"].as_str().unwrap()).await;
        // One byte range of the fragmented MP4, streamed from the bucket: its
        // first box is `ftyp`.
        let res = app
            .client
            .get(r["fileUrl"].as_str().unwrap())
            .header("range", "bytes=4-7")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 206);
        assert_eq!(&res.bytes().await.unwrap()[..], b"ftyp");
    }
    // A player reads the whole ladder through the master playlist.
    ffprobe_ok(master_url).await;
    // The source is in the bucket but never served.
    let source_key = view["source"]["key"].as_str().unwrap();
    assert!(
        server
            .keys(BUCKET)
            .await
            .contains(&format!("prc/{source_key}"))
    );
    let res = app
        .client
        .get(app.url(&format!("/static/{source_key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

/// Puts `src` into the bucket as the application would (under the prefix).
async fn put_object(server: &S3Server, key: &str, src: &Path) {
    server
        .client()
        .put_object()
        .bucket(BUCKET)
        .key(format!("prc/{key}"))
        .body(aws_sdk_s3::primitives::ByteStream::from(
            std::fs::read(src).unwrap(),
        ))
        .send()
        .await
        .unwrap();
}

async fn submit_stored(app: &TestApp, body: Value) -> Value {
    let res = app
        .client
        .post(app.url("/api/v1/videos"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

#[tokio::test]
async fn on_s3_a_stored_source_is_submitted_by_key_and_runners_stream_it_with_ranges() {
    let Some((server, app)) = s3_app(|_| {}).await else {
        return;
    };
    let src = sample("av-320x240.mp4");
    put_object(&server, "uploads/clip.mp4", &src).await;
    let body = submit_stored(&app, json!({"filePath": "uploads/clip.mp4"})).await;
    assert_eq!(body["source"]["key"], "uploads/clip.mp4");
    assert_eq!(body["source"]["height"], 240);
    assert!(
        body["thumbnailUrl"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Signature=")
    );
    // The probe's downloaded copy is gone.
    assert_staging_empty(&app).await;

    // Proxied (the default): the runner gets the bytes from this server, Range too.
    let runner = SimRunner::register(&app, "s3-range-runner").await;
    let offers = runner.available(json!({})).await;
    let job_uuid = offers[0]["uuid"].as_str().unwrap().to_owned();
    let (job, token) = runner.accept_ok(&job_uuid).await;
    let url = job["payload"]["input"]["videoFileUrl"].as_str().unwrap();
    let whole = runner.download(url, &token).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "video/mp4");
    assert_eq!(whole.bytes().await.unwrap(), std::fs::read(&src).unwrap());
    let part = runner
        .client
        .post(url)
        .header("range", "bytes=100-199")
        .json(&json!({"runnerToken": runner.token, "jobToken": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    let len = std::fs::metadata(&src).unwrap().len();
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 100-199/{len}").as_str()
    );
    assert_eq!(
        part.bytes().await.unwrap(),
        std::fs::read(&src).unwrap()[100..200]
    );
    // With a wrong job token: nothing, not even a redirect.
    let refused = runner
        .download(url, "ptrjt-00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(refused.status(), 404);
}

#[tokio::test]
async fn on_s3_delete_removes_exactly_the_objects_the_video_records() {
    let Some((server, app)) = s3_app(|_| {}).await else {
        return;
    };
    let src = sample("av-320x240.mp4");
    // An application's own objects: a source named by filePath inside the folder of the
    // video to delete, and a file next to it; and a neighbour video in a folder whose
    // name extends the first one's.
    put_object(&server, "courses/42/intro/raw.mp4", &src).await;
    put_object(&server, "courses/42/intro/notes.txt", &src).await;
    let doomed = submit_stored(
        &app,
        json!({"filePath": "courses/42/intro/raw.mp4", "destination": "courses/42/intro"}),
    )
    .await;
    let neighbour = submit_ok(&app, &src, &[("destination", "courses/42/intro-b")]).await;
    let uploaded = submit_ok(&app, &src, &[]).await;
    let before = server.keys(BUCKET).await;
    let of = |dir: &str| -> Vec<String> {
        before
            .iter()
            .filter(|k| k.starts_with(&format!("prc/{dir}/")))
            .cloned()
            .collect()
    };
    assert_eq!(
        of("courses/42/intro"),
        [
            "prc/courses/42/intro/notes.txt",
            "prc/courses/42/intro/raw.mp4",
            "prc/courses/42/intro/thumbnail.jpg",
        ]
    );
    let neighbour_keys = of("courses/42/intro-b");
    assert_eq!(
        neighbour_keys.len(),
        2,
        "source and thumbnail: {neighbour_keys:?}"
    );

    for video in [&doomed, &uploaded] {
        let uuid = video["uuid"].as_str().unwrap();
        let res = app
            .client
            .delete(app.url(&format!("/api/v1/videos/{uuid}")))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
    let mut expected = vec![
        "prc/courses/42/intro/notes.txt".to_owned(),
        "prc/courses/42/intro/raw.mp4".to_owned(),
    ];
    expected.extend(neighbour_keys);
    expected.sort();
    assert_eq!(server.keys(BUCKET).await, expected);
    let res = get(
        &app,
        &format!("/api/v1/videos/{}", neighbour["uuid"].as_str().unwrap()),
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn on_s3_a_submission_the_store_cannot_take_leaves_no_row() {
    let Some((server, app)) = s3_app(|_| {}).await else {
        return;
    };
    // The store goes away after the startup check.
    drop(server);
    let res = submit(&app, &sample("av-320x240.mp4"), &[]).await;
    assert!(res.status().is_server_error(), "{}", res.status());
    assert_eq!(row_counts(&app).await, (0, 0, 0));
    assert_staging_empty(&app).await;
}

#[tokio::test]
async fn a_missing_bucket_or_wrong_credentials_stop_the_start_with_a_clear_error() {
    let Some(server) = S3Server::start() else {
        return;
    };
    server.create_bucket(BUCKET).await;
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::TestDb::new(dir.path());
    let build = |tweak: &dyn Fn(&mut Settings)| {
        let mut s = test_settings(dir.path(), &db);
        configure(&server, &mut s, BUCKET);
        tweak(&mut s);
        Application::build(s)
    };
    let err = match build(&|s| s.storage.s3.bucket = "absent".to_owned()).await {
        Ok(_) => panic!("a missing bucket must stop the start"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("`absent`") && err.contains("does not exist"),
        "{err}"
    );
    let err = match build(&|s| {
        s.storage.s3.secret_access_key =
            Some(peertube_runner_connector::config::Secret::new("wrong"))
    })
    .await
    {
        Ok(_) => panic!("wrong credentials must stop the start"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("credentials"), "{err}");

    // The CLI: `serve` exits at once with the same message.
    let bin = env!("CARGO_BIN_EXE_peertube-runner-connector");
    let out = tokio::process::Command::new(bin)
        .arg("serve")
        .env("PRC_DATA_DIR", dir.path().join("cli"))
        .env("PRC_SERVER__BIND", "127.0.0.1:0")
        .env("PRC_STORAGE__BACKEND", "s3")
        .env("PRC_STORAGE__S3__BUCKET", "absent")
        .env("PRC_STORAGE__S3__ENDPOINT", &server.endpoint)
        .env("PRC_STORAGE__S3__REGION", "us-east-1")
        .env("PRC_STORAGE__S3__FORCE_PATH_STYLE", "true")
        .env(
            "PRC_STORAGE__S3__ACCESS_KEY_ID",
            crate::s3_server::ACCESS_KEY,
        )
        .env(
            "PRC_STORAGE__S3__SECRET_ACCESS_KEY",
            crate::s3_server::SECRET_KEY,
        )
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot use bucket `absent`") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains(crate::s3_server::SECRET_KEY), "{stderr}");
}

#[tokio::test]
async fn readyz_and_the_healthcheck_report_a_bucket_that_disappears() {
    let Some((server, app)) = s3_app(|_| {}).await else {
        return;
    };
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["database"].as_str(), body["storage"].as_str()),
        (Some("ok"), Some("ok"))
    );
    // The (empty: the startup probe is deleted) bucket is removed.
    server
        .client()
        .delete_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body = crate::helpers::problem(res).await;
    assert_eq!(body["database"], "ok");
    let storage = body["storage"].as_str().unwrap();
    assert!(
        storage.contains(&format!("`{BUCKET}`")) && storage.contains("does not exist"),
        "{storage}"
    );
    let bin = env!("CARGO_BIN_EXE_peertube-runner-connector");
    let out = tokio::process::Command::new(bin)
        .args(["healthcheck", "--url", &app.url("/readyz")])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
}
