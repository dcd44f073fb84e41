//! Captions of the video API (issue 13 items 3, 4): the application's own WebVTT file
//! (`PUT …/captions/{lang}`, multipart `captionfile` as PeerTube or a raw `text/vtt`
//! body), listing, deletion of one language, and how uploads and transcriptions meet.

use peertube_runner_connector::domain::job::JobState;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::helpers::{TestApp, assert_staging_empty, problem};
use crate::runner_sim::{SimRunner, job, make_video};
use crate::transcription_helpers::*;
use crate::video_helpers::*;

const FIXED: &str = "WEBVTT\n\n00:00.000 --> 00:01.000\nHello, everyone\n";

async fn put_multipart(app: &TestApp, path: &str, body: &[u8]) -> reqwest::Response {
    let part = Part::bytes(body.to_vec())
        .file_name("fixed.vtt")
        .mime_str("text/vtt")
        .unwrap();
    app.client
        .put(app.url(path))
        .bearer_auth(KEY)
        .multipart(Form::new().part("captionfile", part))
        .send()
        .await
        .unwrap()
}

async fn put_raw(app: &TestApp, path: &str, content_type: &str, body: &[u8]) -> reqwest::Response {
    app.client
        .put(app.url(path))
        .bearer_auth(KEY)
        .header("content-type", content_type)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

async fn delete(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .delete(app.url(path))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
}

async fn fetch(app: &TestApp, url: &str) -> (u16, String) {
    let res = app.client.get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn an_uploaded_caption_replaces_the_machines_and_no_transcription_replaces_it() {
    let app = spawn_video_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let v = make_video(&app).await;
    let base = format!("/api/v1/videos/{}/captions", v.uuid);
    ask_ok(&app, v.uuid).await;
    run_transcription(&app, &runner, "en", VTT.as_bytes(), JobState::Completed).await;
    let machine = video(&app, v.uuid).await["captions"][0].clone();
    assert_eq!(machine["source"], "auto");

    // The application corrects the machine's text: 200 (replaced), a new URL, the
    // machine's file gone.
    let res = put_multipart(&app, &format!("{base}/en"), FIXED.as_bytes()).await;
    assert_eq!(res.status(), 200);
    let fixed: Value = res.json().await.unwrap();
    assert_eq!(fixed["source"], "uploaded");
    assert_eq!(fixed["language"], "en");
    assert_ne!(fixed["url"], machine["url"]);
    assert_eq!(
        fetch(&app, fixed["url"].as_str().unwrap()).await,
        (200, FIXED.to_owned())
    );
    assert_eq!(fetch(&app, machine["url"].as_str().unwrap()).await.0, 404);
    assert_eq!(vtt_keys(&app).len(), 1);
    let t = video(&app, v.uuid).await["transcription"].clone();
    assert_eq!(t["state"], "completed");
    assert_eq!(t["language"], Value::Null, "its caption was replaced");

    // A later transcription detecting the same language never overwrites it: the job
    // fails, saying why, and the upload stays.
    ask_ok(&app, v.uuid).await;
    let uuid = run_transcription(&app, &runner, "en", VTT.as_bytes(), JobState::Errored).await;
    let error = job(&app, &uuid).await.error.unwrap_or_default();
    assert!(error.contains("uploaded caption in `en`"), "{error}");
    assert_eq!(
        fetch(&app, fixed["url"].as_str().unwrap()).await,
        (200, FIXED.to_owned())
    );
    assert_eq!(vtt_keys(&app).len(), 1);
    // One in another language is stored beside it.
    ask_ok(&app, v.uuid).await;
    run_transcription(&app, &runner, "es", VTT.as_bytes(), JobState::Completed).await;

    // A raw text/vtt body, in a new language: 201.
    let res = put_raw(&app, &format!("{base}/pt-br"), "text/vtt", FIXED.as_bytes()).await;
    assert_eq!(res.status(), 201);
    let pt: Value = res.json().await.unwrap();
    assert_eq!(pt["language"], "pt-BR");
    let res = get(&app, &base).await;
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.unwrap();
    assert_eq!(list["total"], 3);
    let languages: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["language"].as_str().unwrap())
        .collect();
    assert_eq!(languages, ["en", "es", "pt-BR"]);
    assert_eq!(video(&app, v.uuid).await["captions"], list["data"]);
    assert_staging_empty(&app).await;
}

#[tokio::test]
async fn caption_uploads_are_validated_and_leave_nothing_when_refused() {
    let app = spawn_video_app_with(|s| s.captions.max_bytes = 100).await;
    let v = make_video(&app).await;
    let path = format!("/api/v1/videos/{}/captions/fr", v.uuid);
    let srt = b"1\n00:00:00,000 --> 00:00:01,000\nSalut\n";
    let cases: Vec<(reqwest::Response, u16, &str)> = vec![
        (
            put_multipart(&app, &path, srt).await,
            400,
            "invalid_caption",
        ),
        (
            put_raw(&app, &path, "text/vtt", b"WEBVTT\n\xff").await,
            400,
            "invalid_caption",
        ),
        (
            put_raw(&app, &path, "text/vtt", &[b'W'; 101]).await,
            413,
            "payload_too_large",
        ),
        (
            put_multipart(&app, &path, &[b'W'; 5000]).await,
            413,
            "payload_too_large",
        ),
        (
            put_raw(&app, &path, "text/plain", FIXED.as_bytes()).await,
            415,
            "unsupported_media_type",
        ),
        (
            put_raw(
                &app,
                &format!("/api/v1/videos/{}/captions/xx", v.uuid),
                "text/vtt",
                FIXED.as_bytes(),
            )
            .await,
            400,
            "invalid_request",
        ),
        (
            put_raw(
                &app,
                "/api/v1/videos/3f1e0c2a-0000-4000-8000-000000000000/captions/fr",
                "text/vtt",
                FIXED.as_bytes(),
            )
            .await,
            404,
            "video_not_found",
        ),
    ];
    for (i, (res, status, code)) in cases.into_iter().enumerate() {
        assert_eq!(res.status(), status, "case {i}");
        assert_eq!(problem(res).await["code"], code, "case {i}");
    }
    // A multipart body with another field is refused, as is one without the file.
    let form = Form::new().text("language", "fr");
    let res = app
        .client
        .put(app.url(&path))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(vtt_keys(&app).is_empty());
    assert!(
        video(&app, v.uuid).await["captions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_staging_empty(&app).await;
    // A BOM and CRLF line ends are WebVTT too.
    let bom = "\u{feff}WEBVTT\r\n\r\n00:00.000 --> 00:01.000\r\nSalut\r\n";
    assert_eq!(
        put_raw(&app, &path, "text/vtt; charset=utf-8", bom.as_bytes())
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn deleting_a_caption_removes_that_language_only() {
    let app = spawn_video_app().await;
    let v = make_video(&app).await;
    let other = make_video(&app).await;
    let base = format!("/api/v1/videos/{}/captions", v.uuid);
    let fr = put_raw(&app, &format!("{base}/fr"), "text/vtt", FIXED.as_bytes()).await;
    let fr: Value = fr.json().await.unwrap();
    let de = put_raw(&app, &format!("{base}/de"), "text/vtt", FIXED.as_bytes()).await;
    let de: Value = de.json().await.unwrap();
    let theirs = put_raw(
        &app,
        &format!("/api/v1/videos/{}/captions/fr", other.uuid),
        "text/vtt",
        FIXED.as_bytes(),
    )
    .await;
    let theirs: Value = theirs.json().await.unwrap();

    assert_eq!(delete(&app, &format!("{base}/fr")).await.status(), 204);
    assert_eq!(fetch(&app, fr["url"].as_str().unwrap()).await.0, 404);
    assert_eq!(fetch(&app, de["url"].as_str().unwrap()).await.0, 200);
    assert_eq!(fetch(&app, theirs["url"].as_str().unwrap()).await.0, 200);
    let left = video(&app, v.uuid).await;
    assert_eq!(left["captions"].as_array().unwrap().len(), 1);
    assert_eq!(left["captions"][0]["language"], "de");
    assert_eq!(
        video(&app, other.uuid).await["captions"][0]["language"],
        "fr"
    );
    assert_eq!(vtt_keys(&app).len(), 2);

    let res = delete(&app, &format!("{base}/fr")).await;
    assert_eq!(res.status(), 404);
    assert_eq!(problem(res).await["code"], "caption_not_found");
    let res = delete(&app, &format!("{base}/not-a-language")).await;
    assert_eq!(problem(res).await["code"], "caption_not_found");
    let res = delete(
        &app,
        "/api/v1/videos/3f1e0c2a-0000-4000-8000-000000000000/captions/de",
    )
    .await;
    assert_eq!(problem(res).await["code"], "video_not_found");
    // The tag is normalised the way it was stored.
    assert_eq!(delete(&app, &format!("{base}/DE")).await.status(), 204);
    assert!(
        video(&app, v.uuid).await["captions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
