//! Bodies and parameters PeerTube takes beyond what `peertube-runner` sends (its
//! Express app parses JSON and form-urlencoded bodies on every route, multer adds
//! multipart on `update` and `success`; its validators check `videoId`'s form), as
//! PeerTube's OpenAPI document and generated clients use them.

use peertube_runner_connector::domain::job::JobType;
use serde_json::{Value, json};

use crate::helpers::{problem, spawn_app};
use crate::runner_sim::{SimRunner, job, one_vod_job};

#[tokio::test]
async fn update_takes_the_json_body_peertubes_document_declares() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r").await;
    let (_video, row) = one_vod_job(&app, JobType::VodHlsTranscoding).await;
    let (_, token) = runner.accept_ok(row.uuid).await;
    let path = format!("/jobs/{}/update", row.uuid);
    let body = |extra: Value| {
        let mut b = json!({"runnerToken": runner.token, "jobToken": token});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let res = runner
        .post(&path, body(json!({"progress": 42, "payload": {}})))
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(job(&app, row.uuid).await.progress, Some(42));
    let res = runner.post(&path, body(json!({"progress": "43"}))).await;
    assert_eq!(res.status(), 204);
    assert_eq!(job(&app, row.uuid).await.progress, Some(43));
    // What PeerTube refuses, refused the same way.
    let res = runner.post(&path, body(json!({"progress": 42.5}))).await;
    assert_eq!(res.status(), 400);
    assert!(problem(res).await["invalid-params"]["progress"].is_object());
    let res = runner
        .post(&path, body(json!({"payload": {"type": "add-chunk"}})))
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(problem(res).await["detail"], "Payload is invalid");
    let res = runner.post(&path, body(json!({"payload": "x"}))).await;
    assert_eq!(res.status(), 400);
    assert_eq!(problem(res).await["detail"], "Payload is invalid");
    // Tokens are checked first, as for multipart.
    let res = runner
        .post(
            &path,
            json!({"runnerToken": runner.token, "jobToken": "ptrjt-x"}),
        )
        .await;
    assert_eq!(res.status(), 404);
    assert!(problem(res).await.get("code").is_none());
    // Form-urlencoded too.
    let res = runner
        .client
        .post(format!("{}/api/v1/runners{path}", app.address))
        .form(&[
            ("runnerToken", runner.token.as_str()),
            ("jobToken", token.as_str()),
            ("progress", "44"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(job(&app, row.uuid).await.progress, Some(44));
}

#[tokio::test]
async fn malformed_json_and_unparsed_bodies_are_400s_as_with_peertube() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r").await;
    let (_video, row) = one_vod_job(&app, JobType::VodWebVideoTranscoding).await;
    let (_, token) = runner.accept_ok(row.uuid).await;
    let url = |call: &str| format!("{}/api/v1/runners/jobs/{}/{call}", app.address, row.uuid);
    for call in ["update", "success", "abort", "error"] {
        let res = runner
            .client
            .post(url(call))
            .header("content-type", "application/json")
            .body("{\"runnerToken\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{call}");
        let body = problem(res).await;
        assert!(body.get("code").is_none(), "{call}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("Malformed JSON")
        );
    }
    // A body no parser reads: no field at all.
    for call in ["update", "success", "abort", "error"] {
        let res = runner
            .client
            .post(url(call))
            .header("content-type", "text/plain")
            .body(format!("runnerToken={}", runner.token))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{call}");
        let detail = problem(res).await["detail"].as_str().unwrap().to_owned();
        assert!(
            detail.contains("jobToken") && detail.contains("runnerToken"),
            "{detail}"
        );
    }
    let res = runner
        .client
        .post(format!("{}/api/v1/runners/jobs/request", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "no body, no content type");
    assert_eq!(
        problem(res).await["detail"],
        "Incorrect request parameters: runnerToken"
    );
    // A JSON success carries no file: the token check passes, the payload does not.
    let res = runner
        .post(
            &format!("/jobs/{}/success", row.uuid),
            json!({"runnerToken": runner.token, "jobToken": token, "payload": {}}),
        )
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(problem(res).await["detail"], "Payload is invalid");
    assert_eq!(
        job(&app, row.uuid).await.state,
        peertube_runner_connector::domain::job::JobState::Processing,
        "nothing changed"
    );
}

#[tokio::test]
async fn register_and_request_take_form_urlencoded_bodies() {
    let app = spawn_app().await;
    let token = app.registration_token().await;
    let res = app
        .client
        .post(app.url("/api/v1/runners/register"))
        .form(&[
            ("registrationToken", token.as_str()),
            ("name", "form runner"),
            ("description", "registered with a form"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let runner_token = body["runnerToken"].as_str().unwrap().to_owned();
    // Repeated keys are an array, as Node's querystring reads them.
    let res = app
        .client
        .post(app.url("/api/v1/runners/jobs/request"))
        .body(format!(
            "runnerToken={runner_token}&jobTypes=vod-hls-transcoding&jobTypes=vod-web-video-transcoding"
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(app.url("/api/v1/runners/unregister"))
        .form(&[("runnerToken", runner_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn a_download_names_its_video_by_id_uuid_or_short_uuid_else_400() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r").await;
    let (video, row) = one_vod_job(&app, JobType::VodWebVideoTranscoding).await;
    let (_, token) = runner.accept_ok(row.uuid).await;
    let url = |video_id: &str| {
        format!(
            "{}/api/v1/runners/jobs/{}/files/videos/{video_id}/max-quality",
            app.address, row.uuid
        )
    };
    let res = runner.download(&url("not-a-video"), &token).await;
    assert_eq!(res.status(), 400);
    let body = problem(res).await;
    assert_eq!(body["invalid-params"]["videoId"]["location"], "params");
    assert_eq!(
        body["invalid-params"]["videoId"]["msg"],
        "Should have a valid video id (id, short UUID or UUID)"
    );
    // The tokens first: a bad pair is a 404 whatever the video id.
    let res = runner.download(&url("not-a-video"), "ptrjt-x").await;
    assert_eq!(res.status(), 404);
    // An id or a UUID that names no video: 404; the job's own video by id: served.
    let res = runner.download(&url("987654"), &token).await;
    assert_eq!(res.status(), 404);
    assert_eq!(problem(res).await["detail"], "Video not found");
    let res = runner.download(&url(&video.id.to_string()), &token).await;
    assert_eq!(res.status(), 200);
    let res = runner.download(&url(&video.uuid.to_string()), &token).await;
    assert_eq!(res.status(), 200);
}
