//! Hostile input: control characters in stored text are refused with a 400 on both
//! backends and leave nothing behind (no row, file or folder); error bodies never
//! carry server paths or tool output, and never echo a submitted value whole.

use peertube_runner_connector::domain::job::JobState;
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem};
use crate::media::sample;
use crate::runner_sim::{FilePart, SimRunner, wait_state};
use crate::video_helpers::*;

const CONTROLS: [&str; 5] = ["\u{0}", "\u{7}", "\u{1b}[31m", "\u{7f}", "\u{9b}"];

async fn store_object(app: &TestApp, key: &str) {
    store_file(app, &sample("av-320x240.mp4"), key).await;
}

async fn post_video_json(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/videos"))
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn control_characters_in_a_video_name_are_refused_leaving_nothing() {
    let app = spawn_video_app().await;
    store_object(&app, "uploads/in.mp4").await;
    let baseline = stored_files(&app);
    for c in CONTROLS {
        let name = format!("bad{c}name");
        let res = post_video_json(&app, &json!({"filePath": "uploads/in.mp4", "name": name})).await;
        assert_eq!(res.status(), 400, "{name:?}");
        let doc = problem(res).await;
        assert!(doc["detail"].as_str().unwrap().contains("name"), "{doc}");

        let res = submit(&app, &sample("av-320x240.mp4"), &[("name", &name)]).await;
        assert_eq!(res.status(), 400, "multipart {name:?}");
        assert!(
            problem(res).await["detail"]
                .as_str()
                .unwrap()
                .contains("control characters")
        );
    }
    assert_eq!(row_counts(&app).await, (0, 0, 0));
    // Refused uploads are removed on the blocking pool just after the answer.
    crate::helpers::assert_staging_empty(&app).await;
    assert_eq!(stored_files(&app), baseline);
    assert_eq!(
        stored_folders(&app),
        vec![app.data_dir.join("storage/uploads")]
    );
    // Tabs and line breaks are control characters too in a one-line name.
    let res = post_video_json(&app, &json!({"filePath": "uploads/in.mp4", "name": "a\tb"})).await;
    assert_eq!(res.status(), 400);
    // Ordinary text, accents and emoji included, is kept as given.
    let body = submit_ok(
        &app,
        &sample("av-320x240.mp4"),
        &[("name", "Cours n°3 — été 🎬")],
    )
    .await;
    assert_eq!(body["name"], "Cours n°3 — été 🎬");
}

#[tokio::test]
async fn control_characters_in_runner_registration_are_refused() {
    let app = spawn_video_app().await;
    let token = app.registration_token().await;
    let register = |body: Value| {
        let app = &app;
        async move { app.post_json("/api/v1/runners/register", &body).await }
    };
    for c in CONTROLS {
        for (field, body) in [
            (
                "registrationToken",
                json!({"registrationToken": format!("{token}{c}"), "name": "r"}),
            ),
            (
                "name",
                json!({"registrationToken": token, "name": format!("runner{c}")}),
            ),
            (
                "description",
                json!({"registrationToken": token, "name": "r", "description": format!("d{c}")}),
            ),
        ] {
            let res = register(body).await;
            assert_eq!(res.status(), 400, "{field} {c:?}");
            let doc = problem(res).await;
            assert_eq!(
                doc["invalid-params"][field]["msg"], "Should not contain control characters",
                "{doc}"
            );
        }
    }
    // A description may span lines; a version with control characters is ignored
    // like any other unusable version.
    let res = register(json!({
        "registrationToken": token, "name": "multi",
        "description": "first line\nsecond\tline", "version": "0.1\u{0}"
    }))
    .await;
    assert_eq!(res.status(), 200);
    let runners = peertube_runner_connector::service::runners::list(&app.state.db)
        .await
        .unwrap();
    assert_eq!(runners.len(), 1);
    assert_eq!(
        runners[0].description.as_deref(),
        Some("first line\nsecond\tline")
    );
    assert_eq!(runners[0].version, None);
}

#[tokio::test]
async fn a_runner_error_message_is_stored_without_control_characters() {
    let app = spawn_video_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let body = submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
    let job_uuid = body["jobs"][0]["uuid"].as_str().unwrap().to_owned();
    let mut message = "ffmpeg exited\u{0} with \u{1b}[31mcode 1\u{1b}[0m\nline 2".to_owned();
    for attempt in 0..5 {
        let (_, token) = runner.accept_ok(&job_uuid).await;
        let res = runner.error(&job_uuid, &token, &message).await;
        assert_eq!(res.status(), 204, "attempt {attempt}");
        message.push('!');
    }
    let row = wait_state(&app, &job_uuid, JobState::Errored).await;
    assert_eq!(
        row.error.as_deref(),
        Some("ffmpeg exited with [31mcode 1[0m\nline 2!!!!")
    );
}

/// Everything a client could learn of the server's files from an error body.
fn assert_no_server_details(app: &TestApp, text: &str) {
    let root = app.data_dir.to_string_lossy().into_owned();
    for leak in [
        root.as_str(),
        "/tmp/",
        ".staging",
        "upload-",
        "Invalid data found",
        "ffprobe failed",
        "ffmpeg failed",
        "moov atom",
    ] {
        assert!(!text.contains(leak), "{leak:?} in {text}");
    }
}

#[tokio::test]
async fn refused_media_errors_name_no_server_path_or_tool_output() {
    let app = spawn_video_app().await;
    for file in ["random.mp4", "truncated.mp4", "image.png"] {
        let res = submit(&app, &sample(file), &[]).await;
        assert_eq!(res.status(), 400, "{file}");
        let text = res.text().await.unwrap();
        assert!(
            text.contains("not a readable video or audio file"),
            "{text}"
        );
        assert_no_server_details(&app, &text);
    }
    // A file named by key that is not media.
    app.state
        .storage
        .put_bytes("uploads/notes.mp4", b"plain text, not a video".to_vec())
        .await
        .unwrap();
    let res = post_video_json(&app, &json!({"filePath": "uploads/notes.mp4"})).await;
    assert_eq!(res.status(), 400);
    assert_no_server_details(&app, &res.text().await.unwrap());
}

#[tokio::test]
async fn a_failed_completion_shows_a_reason_without_server_details() {
    let app = spawn_video_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let body = submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
    let uuid = body["uuid"].as_str().unwrap();
    let job_uuid = body["jobs"][0]["uuid"].as_str().unwrap().to_owned();
    let (_, token) = runner.accept_ok(&job_uuid).await;
    let garbage = vec![
        FilePart::bytes("videoFile", "x.mp4", "video/mp4", vec![7u8; 4096]),
        FilePart::bytes(
            "resolutionPlaylistFile",
            "x.m3u8",
            "application/vnd.apple.mpegurl",
            b"#EXTM3U\n".to_vec(),
        ),
    ];
    let res = runner.success(&job_uuid, &token, &[], garbage).await;
    assert_eq!(res.status(), 204);
    let row = wait_state(&app, &job_uuid, JobState::Errored).await;
    let error = row.error.unwrap();
    assert!(error.contains("not readable media"), "{error}");
    let view = get(&app, &format!("/api/v1/videos/{uuid}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(view.contains("not readable media"), "{view}");
    assert_no_server_details(&app, &view);
}

#[tokio::test]
async fn validation_errors_never_echo_a_huge_value_whole() {
    let app = spawn_video_app().await;
    store_object(&app, "uploads/in.mp4").await;
    let huge = "x".repeat(300 * 1024);
    let res = post_video_json(&app, &json!({"filePath": "uploads/in.mp4", "name": huge})).await;
    assert_eq!(res.status(), 400);
    let text = res.text().await.unwrap();
    assert!(text.len() < 4096, "{} bytes", text.len());
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["detail"], "Incorrect request parameters: name");
    assert!(
        doc["invalid-params"]["name"]["value"]
            .as_str()
            .unwrap()
            .len()
            < 200
    );

    let token = app.registration_token().await;
    let half = &huge[..200 * 1024];
    for body in [
        json!({"registrationToken": token, "name": huge}),
        json!({"registrationToken": huge, "name": "r"}),
        json!({"registrationToken": token, "name": "r", "description": [half, half]}),
    ] {
        let res = app.post_json("/api/v1/runners/register", &body).await;
        assert_eq!(res.status(), 400);
        let text = res.text().await.unwrap();
        assert!(text.len() < 4096, "{} bytes", text.len());
    }
    // A key that is too long is named, shortened.
    let long_key = format!("a/{}", "b".repeat(2000));
    let res = post_video_json(
        &app,
        &json!({"filePath": "uploads/in.mp4", "destination": long_key}),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().len() < 4096);
}
