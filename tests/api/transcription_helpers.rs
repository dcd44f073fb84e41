//! Helpers for the transcription and caption tests: asking for a transcription, a
//! simulated runner taking it and reporting a caption as `peertube-runner` does
//! (`payload[inputLanguage]` text field, `payload[vttFile]` file part), and what the
//! storage holds.

use std::fmt::Display;

use peertube_runner_connector::domain::job::{JobState, JobType};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::runner_sim::{FilePart, SimRunner, wait_state};
use crate::video_helpers::{KEY, get, stored_files};

/// A WebVTT file as Whisper writes it.
pub const VTT: &str = "WEBVTT\n\n00:00.000 --> 00:01.000\nBonjour tout le monde\n";

/// `POST /api/v1/videos/{uuid}/transcription`.
pub async fn ask(app: &TestApp, video: impl Display) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/videos/{video}/transcription")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
}

/// Asks and expects 202.
pub async fn ask_ok(app: &TestApp, video: impl Display) -> Value {
    let res = ask(app, video).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 202, "{body}");
    body
}

/// The video resource.
pub async fn video(app: &TestApp, uuid: impl Display) -> Value {
    let res = get(app, &format!("/api/v1/videos/{uuid}")).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The first transcription offered to a runner asking only for transcriptions, as the
/// newest runner does, accepted: `(job, jobToken)`.
pub async fn take(runner: &SimRunner) -> (Value, String) {
    let offers = runner
        .available(json!({"version": "0.1.0", "jobTypes": ["video-transcription"]}))
        .await;
    let first = offers.first().expect("a transcription is offered");
    assert_eq!(first["type"], "video-transcription");
    runner.accept_ok(first["uuid"].as_str().unwrap()).await
}

/// The `vttFile` part.
pub fn vtt_part(body: &[u8]) -> FilePart {
    FilePart::bytes("vttFile", "output.vtt", "text/vtt", body.to_vec())
}

/// Reports success with `language` and `body`.
pub async fn succeed(
    runner: &SimRunner,
    uuid: &str,
    token: &str,
    language: &str,
    body: &[u8],
) -> reqwest::Response {
    runner
        .success(
            uuid,
            token,
            &[("payload[inputLanguage]", language)],
            vec![vtt_part(body)],
        )
        .await
}

/// Takes the pending transcription, reports `language` and `body`, and waits for the
/// job to reach `state`; returns the job's UUID.
pub async fn run_transcription(
    app: &TestApp,
    runner: &SimRunner,
    language: &str,
    body: &[u8],
    state: JobState,
) -> String {
    let (job, token) = take(runner).await;
    let uuid = job["uuid"].as_str().unwrap().to_owned();
    let res = succeed(runner, &uuid, &token, language, body).await;
    assert_eq!(res.status(), 204);
    wait_state(app, &uuid, state).await;
    uuid
}

/// The caption files in storage (staging excluded), as keys under the storage root.
pub fn vtt_keys(app: &TestApp) -> Vec<String> {
    let root = app.data_dir.join("storage");
    let mut keys: Vec<String> = stored_files(app)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "vtt"))
        .filter(|p| !p.starts_with(root.join(".staging")))
        .map(|p| {
            p.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    keys.sort();
    keys
}

/// The video's transcription jobs in the resource.
pub fn transcription_jobs(view: &Value) -> Vec<Value> {
    view["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["type"] == JobType::VideoTranscription.as_str())
        .cloned()
        .collect()
}
