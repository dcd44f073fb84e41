//! `video-transcription` jobs (issue 13) with the runner simulator speaking the protocol
//! as `peertube-runner` does: who is offered them, success with a WebVTT caption,
//! invalid languages and files, retries to failure, cancellation by deleting the
//! video, the three ways to ask for one, and the video's state left alone.

use peertube_runner_connector::domain::job::JobState;
use peertube_runner_connector::domain::job::JobType;
use serde_json::{Value, json};

use crate::helpers::{assert_staging_empty, problem};
use crate::media::sample;
use crate::runner_sim::{SimRunner, clip, insert_jobs, job, make_video, video_spec, wait_state};
use crate::transcription_helpers::*;
use crate::video_helpers::*;

#[tokio::test]
async fn transcriptions_are_offered_only_to_runners_that_run_and_want_them() {
    let app = spawn_video_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let v = make_video(&app).await;
    let body = ask_ok(&app, v.uuid).await;
    let jobs = transcription_jobs(&body);
    assert_eq!(jobs.len(), 1);
    let job_uuid = jobs[0]["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        jobs[0]["priority"], 200,
        "PeerTube's JOB_PRIORITY.TRANSCRIPTION"
    );
    assert_eq!(jobs[0]["dependsOn"], Value::Null);
    assert_eq!(body["transcription"]["state"], "pending");
    assert_eq!(body["transcription"]["jobUuid"], job_uuid.as_str());

    let offered = |offers: Vec<Value>| offers.iter().any(|o| o["uuid"] == job_uuid.as_str());
    // 0.0.21 sends neither version nor jobTypes: it runs transcriptions (≥ 0.0.17).
    assert!(offered(runner.available(json!({})).await));
    // Older than 0.0.17: never offered.
    assert!(!offered(
        runner.available(json!({"version": "0.0.16"})).await
    ));
    // The newest runner names what it wants.
    let only_hls = json!({"version": "0.1.0", "jobTypes": ["vod-hls-transcoding"]});
    assert!(!offered(runner.available(only_hls).await));
    let with =
        json!({"version": "0.1.0", "jobTypes": ["vod-hls-transcoding", "video-transcription"]});
    let offers = runner.available(with).await;
    assert!(offered(offers.clone()));
    // The payload is PeerTube's: the best audio, no output key.
    let offer = offers
        .iter()
        .find(|o| o["uuid"] == job_uuid.as_str())
        .unwrap();
    assert_eq!(
        offer["payload"],
        json!({"input": {"videoFileUrl": format!(
            "{}/api/v1/runners/jobs/{job_uuid}/files/videos/{}/max-quality/audio",
            app.address, v.uuid)}})
    );
}

#[tokio::test]
async fn a_transcription_stores_a_caption_served_as_webvtt_and_leaves_the_video_state() {
    let app = spawn_video_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let v = make_video(&app).await;
    insert_jobs(
        &app,
        vec![video_spec(&app, &v, JobType::VodHlsTranscoding, 240, None)],
    )
    .await;
    ask_ok(&app, v.uuid).await;
    let before = video(&app, v.uuid).await;
    assert_eq!(before["state"]["name"], "transcoding");

    let (job, token) = take(&runner).await;
    let uuid = job["uuid"].as_str().unwrap();
    // The input goes through the same token-checked download as transcoding's.
    let url = job["payload"]["input"]["videoFileUrl"].as_str().unwrap();
    let res = runner.download(url, &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), clip().mp4.as_slice());
    assert_eq!(runner.download(url, "ptrjt-wrong").await.status(), 404);
    // Whisper's progress updates carry no `progress`: a heartbeat.
    assert_eq!(runner.update(uuid, &token, &[], vec![]).await.status(), 204);
    // `inputLanguage` is required, as PeerTube's validator wants (the job stays).
    let res = runner
        .success(uuid, &token, &[], vec![vtt_part(VTT.as_bytes())])
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(problem(res).await["detail"], "Payload is invalid");
    let res = runner
        .success(uuid, &token, &[("payload[inputLanguage]", "fr")], vec![])
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(job_state(&app, uuid).await, JobState::Processing);

    assert_eq!(
        succeed(&runner, uuid, &token, "FR", VTT.as_bytes())
            .await
            .status(),
        204
    );
    wait_state(&app, uuid, JobState::Completed).await;
    let after = video(&app, v.uuid).await;
    assert_eq!(
        after["state"], before["state"],
        "transcription never moves the state"
    );
    assert_eq!(after["error"], Value::Null);
    assert_eq!(after["language"], "fr");
    let captions = after["captions"].as_array().unwrap();
    assert_eq!(captions.len(), 1);
    assert_eq!(captions[0]["language"], "fr");
    assert_eq!(captions[0]["source"], "auto");
    assert_eq!(captions[0]["size"], VTT.len());
    let t = &after["transcription"];
    assert_eq!(
        (
            t["state"].as_str(),
            t["language"].as_str(),
            t["failures"].as_i64()
        ),
        (Some("completed"), Some("fr"), Some(0))
    );
    assert_eq!(t["captionUrl"], captions[0]["url"]);
    assert!(t["finishedAt"].is_string());
    // Stored under the video's folder, named after its base and the language.
    let keys = vtt_keys(&app);
    assert_eq!(keys.len(), 1);
    let prefix = format!("videos/{}/clip-fr-", v.uuid);
    assert!(
        keys[0].starts_with(&prefix) && keys[0].ends_with(".vtt"),
        "{keys:?}"
    );
    // Served with `text/vtt` through the static route.
    let res = app
        .client
        .get(captions[0]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/vtt; charset=utf-8");
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert_eq!(res.text().await.unwrap(), VTT);
    // A late update is ignored; a second success changes nothing.
    assert_eq!(runner.update(uuid, &token, &[], vec![]).await.status(), 204);
    let res = succeed(&runner, uuid, &token, "en", VTT.as_bytes()).await;
    assert_eq!(
        problem(res).await["code"],
        "runner_job_not_in_processing_state"
    );
    assert_eq!(vtt_keys(&app), keys);
    assert_staging_empty(&app).await;
}

#[tokio::test]
async fn a_pending_or_failed_transcription_never_holds_back_or_fails_its_video() {
    let app = spawn_video_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let v = make_video(&app).await;
    let hls = insert_jobs(
        &app,
        vec![video_spec(&app, &v, JobType::VodHlsTranscoding, 240, None)],
    )
    .await
    .remove(0);
    ask_ok(&app, v.uuid).await;
    // The transcoding completes while the transcription waits: published.
    let (_, token) = runner.accept_ok(hls.uuid).await;
    let res = runner
        .success(
            hls.uuid,
            &token,
            &[],
            crate::runner_sim::hls_files(hls.uuid),
        )
        .await;
    assert_eq!(res.status(), 204);
    wait_state(&app, hls.uuid, JobState::Completed).await;
    assert_eq!(video(&app, v.uuid).await["state"]["name"], "published");

    // Retried like PeerTube: each error counts, the job is offered again, until the
    // fifth fails it for good (transcoding.max_failures).
    for attempt in 1..=5 {
        let (job, token) = take(&runner).await;
        let uuid = job["uuid"].as_str().unwrap().to_owned();
        let res = runner.error(&uuid, &token, "whisper crashed").await;
        assert_eq!(res.status(), 204);
        let row = job_row(&app, &uuid).await;
        assert_eq!(row.failures, attempt);
        let expected = if attempt < 5 {
            JobState::Pending
        } else {
            JobState::Errored
        };
        assert_eq!(row.state, expected, "attempt {attempt}");
        if attempt < 5 {
            assert_eq!(
                video(&app, v.uuid).await["transcription"]["state"],
                "pending"
            );
        }
    }
    let after = video(&app, v.uuid).await;
    assert_eq!(
        after["state"]["name"], "published",
        "a failed transcription fails nothing"
    );
    assert_eq!(after["error"], Value::Null);
    let t = &after["transcription"];
    assert_eq!(t["state"], "failed");
    assert_eq!(t["failures"], 5);
    assert_eq!(t["error"], "whisper crashed");
    assert_eq!(t["language"], Value::Null);
    assert!(after["captions"].as_array().unwrap().is_empty());
    assert!(runner.available(json!({})).await.is_empty());
    // A new one may be asked for once it ended.
    assert_eq!(
        ask_ok(&app, v.uuid).await["transcription"]["state"],
        "pending"
    );
}

#[tokio::test]
async fn an_invalid_language_or_file_fails_the_transcription_with_its_reason() {
    let app = spawn_video_app_with(|s| s.captions.max_bytes = 200).await;
    let runner = SimRunner::register(&app, "r1").await;
    let v = make_video(&app).await;
    let srt = b"1\n00:00:00,000 --> 00:00:01,000\nHello\n".to_vec();
    let big = format!("{VTT}{}", "blah ".repeat(100)).into_bytes();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("xx", VTT.as_bytes().to_vec(), "`xx` is not a language code"),
        ("english", VTT.as_bytes().to_vec(), "is not a language code"),
        ("en", srt, "not WebVTT"),
        ("en", b"WEBVTT\n\n\xff\xfe\x00".to_vec(), "not UTF-8"),
        ("en", big, "larger than the limit of 200 bytes"),
    ];
    for (language, body, reason) in cases {
        ask_ok(&app, v.uuid).await;
        let uuid = run_transcription(&app, &runner, language, &body, JobState::Errored).await;
        let row = job_row(&app, &uuid).await;
        let error = row.error.unwrap_or_default();
        assert!(error.contains(reason), "{language}: {error}");
        let view = video(&app, v.uuid).await;
        assert_eq!(view["transcription"]["state"], "failed");
        assert_eq!(
            view["transcription"]["error"].as_str(),
            Some(error.as_str())
        );
        assert_eq!(
            view["state"]["name"], "transcoding",
            "{language}: state unchanged"
        );
        assert!(view["captions"].as_array().unwrap().is_empty());
        assert_eq!(view["language"], Value::Null);
        assert!(vtt_keys(&app).is_empty(), "{language}: nothing stored");
    }
    assert_staging_empty(&app).await;
}

#[tokio::test]
async fn languages_outside_the_configured_list_are_refused() {
    let app =
        spawn_video_app_with(|s| s.captions.languages = vec!["fr".into(), "pt-BR".into()]).await;
    let runner = SimRunner::register(&app, "r1").await;
    let v = make_video(&app).await;
    ask_ok(&app, v.uuid).await;
    let uuid = run_transcription(&app, &runner, "en", VTT.as_bytes(), JobState::Errored).await;
    let error = job_row(&app, &uuid).await.error.unwrap_or_default();
    assert!(error.contains("captions.languages: fr, pt-BR"), "{error}");
    ask_ok(&app, v.uuid).await;
    // Whisper's codes are normalised before the check.
    run_transcription(&app, &runner, "pt-br", VTT.as_bytes(), JobState::Completed).await;
    assert_eq!(
        video(&app, v.uuid).await["captions"][0]["language"],
        "pt-BR"
    );
}

#[tokio::test]
async fn deleting_the_video_cancels_its_transcription_and_removes_only_its_captions() {
    let app = spawn_video_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let neighbour = make_video(&app).await;
    ask_ok(&app, neighbour.uuid).await;
    run_transcription(&app, &runner, "en", VTT.as_bytes(), JobState::Completed).await;
    let kept = video(&app, neighbour.uuid).await["captions"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();

    let v = make_video(&app).await;
    ask_ok(&app, v.uuid).await;
    run_transcription(&app, &runner, "de", VTT.as_bytes(), JobState::Completed).await;
    let own = video(&app, v.uuid).await["captions"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    // A second transcription is running when the video goes.
    ask_ok(&app, v.uuid).await;
    let (job, token) = take(&runner).await;
    let uuid = job["uuid"].as_str().unwrap().to_owned();
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/videos/{}", v.uuid)))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // The runner learns at its next call (`Unknown runner job`).
    let res = succeed(&runner, &uuid, &token, "de", VTT.as_bytes()).await;
    assert_eq!(res.status(), 404);
    assert_eq!(problem(res).await["detail"], "Unknown runner job");
    assert_eq!(runner.error(&uuid, &token, "x").await.status(), 404);
    assert_eq!(app.client.get(&own).send().await.unwrap().status(), 404);
    // Only the neighbour's caption remains, served.
    let keys = vtt_keys(&app);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with(&format!("videos/{}/", neighbour.uuid)));
    assert_eq!(app.client.get(&kept).send().await.unwrap().status(), 200);
    assert_eq!(
        video(&app, neighbour.uuid).await["captions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_staging_empty(&app).await;
}

#[tokio::test]
async fn transcription_requests_are_checked_before_any_job_exists() {
    let app = spawn_video_app().await;
    let res = ask(&app, "3f1e0c2a-0000-4000-8000-000000000000").await;
    assert_eq!(res.status(), 404);
    assert_eq!(problem(res).await["code"], "video_not_found");
    // Media without audio: refused up front, not five failing attempts (trap 19).
    let silent = submit_ok(&app, &sample("1080p60.mp4"), &[]).await;
    let silent = silent["uuid"].as_str().unwrap();
    let res = ask(&app, silent).await;
    assert_eq!(res.status(), 400);
    let doc = problem(res).await;
    assert_eq!(doc["code"], "no_audio");
    assert!(doc["detail"].as_str().unwrap().contains("no audio"));
    assert!(transcription_jobs(&video(&app, silent).await).is_empty());
    // One at a time per video, even when asked twice at once.
    let v = make_video(&app).await;
    let (a, b) = tokio::join!(ask(&app, v.uuid), ask(&app, v.uuid));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [202, 409]);
    let res = ask(&app, v.uuid).await;
    assert_eq!(res.status(), 409);
    assert_eq!(problem(res).await["code"], "transcription_in_progress");
    assert_eq!(transcription_jobs(&video(&app, v.uuid).await).len(), 1);
    // Without an API key, nothing.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/videos/{}/transcription", v.uuid)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_submission_can_ask_for_a_transcription_beside_its_transcoding() {
    let app = spawn_video_app().await;
    let body = submit_ok(
        &app,
        &sample("av-320x240.mp4"),
        &[("transcription", "true")],
    )
    .await;
    let jobs = transcription_jobs(&body);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["priority"], 200);
    assert_eq!(jobs[0]["state"]["label"], "Pending");
    assert_eq!(
        jobs[0]["dependsOn"],
        Value::Null,
        "independent of transcoding"
    );
    assert!(body["jobs"].as_array().unwrap().len() > 1);
    assert_eq!(body["transcription"]["state"], "pending");
    // The JSON form too, for a stored source.
    store_file(&app, &sample("av-320x240.mp4"), "uploads/talk.mp4").await;
    let res = app
        .client
        .post(app.url("/api/v1/videos"))
        .bearer_auth(KEY)
        .json(&json!({"filePath": "uploads/talk.mp4", "transcription": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(transcription_jobs(&body).len(), 1);
    // Without it, none.
    let body = submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
    assert!(transcription_jobs(&body).is_empty());
    assert_eq!(body["transcription"], Value::Null);
    assert_eq!(body["captions"], json!([]));
}

#[tokio::test]
async fn a_silent_submission_asking_for_a_transcription_is_refused_whole() {
    let app = spawn_video_app().await;
    let res = submit(&app, &sample("1080p60.mp4"), &[("transcription", "true")]).await;
    assert_eq!(res.status(), 400);
    assert_eq!(problem(res).await["code"], "no_audio");
    assert_nothing_left(&app, "silent submission").await;
    let res = submit(
        &app,
        &sample("av-320x240.mp4"),
        &[("transcription", "maybe")],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_nothing_left(&app, "bad flag").await;
}

#[tokio::test]
async fn a_stored_object_is_transcribed_without_becoming_ours_to_delete() {
    let app = spawn_video_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    store_file(&app, &sample("audio.m4a"), "uploads/lecture.m4a").await;
    let post = |body: Value| {
        app.client
            .post(app.url("/api/v1/transcriptions"))
            .bearer_auth(KEY)
            .json(&body)
            .send()
    };
    let res = post(
        json!({"filePath": "uploads/lecture.m4a", "destination": "courses/42/lecture",
                          "baseFilename": "lecture", "name": "Lecture 1"}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/videos/{uuid}"));
    assert_eq!(body["state"]["name"], "published");
    assert_eq!(body["source"]["key"], "uploads/lecture.m4a");
    assert_eq!(body["options"]["sourceOwned"], false);
    assert_eq!(body["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(body["transcription"]["state"], "pending");

    let (job, token) = take(&runner).await;
    let job_uuid = job["uuid"].as_str().unwrap();
    let url = job["payload"]["input"]["videoFileUrl"].as_str().unwrap();
    assert!(url.ends_with(&format!("/files/videos/{uuid}/max-quality/audio")));
    let res = runner.download(url, &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.bytes().await.unwrap().as_ref(),
        std::fs::read(sample("audio.m4a")).unwrap().as_slice()
    );
    assert_eq!(
        succeed(&runner, job_uuid, &token, "en", VTT.as_bytes())
            .await
            .status(),
        204
    );
    wait_state(&app, job_uuid, JobState::Completed).await;
    let after = video(&app, &uuid).await;
    assert_eq!(after["state"]["name"], "published");
    assert_eq!(after["captions"][0]["language"], "en");
    let keys = vtt_keys(&app);
    assert!(
        keys[0].starts_with("courses/42/lecture/lecture-en-"),
        "{keys:?}"
    );

    // Deleting it removes the caption, never the application's object.
    let res = app
        .client
        .delete(app.url(&location))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(vtt_keys(&app).is_empty());
    assert!(
        app.state
            .storage
            .exists("uploads/lecture.m4a")
            .await
            .unwrap()
    );
    assert_eq!(row_counts(&app).await, (0, 0, 0));

    // Refusals leave no row.
    store_file(&app, &sample("1080p60.mp4"), "uploads/silent.mp4").await;
    app.state
        .storage
        .put_bytes("uploads/notes.txt", b"not media".to_vec())
        .await
        .unwrap();
    let cases = [
        (
            json!({"filePath": "uploads/missing.m4a"}),
            400,
            "invalid_request",
        ),
        (json!({"filePath": "../etc/passwd"}), 400, "invalid_request"),
        (json!({"filePath": "uploads/silent.mp4"}), 400, "no_audio"),
        (
            json!({"filePath": "uploads/notes.txt"}),
            400,
            "invalid_media",
        ),
        (
            json!({"filePath": "uploads/lecture.m4a", "destination": "videos"}),
            400,
            "invalid_request",
        ),
        (json!({}), 400, "invalid_request"),
    ];
    for (body, status, code) in cases {
        let res = post(body.clone()).await.unwrap();
        assert_eq!(res.status(), status, "{body}");
        assert_eq!(problem(res).await["code"], code, "{body}");
    }
    assert_eq!(row_counts(&app).await, (0, 0, 0));
    // An object inside another video's folder is that video's: use its own route.
    let other = make_video(&app).await;
    let res = post(json!({"filePath": format!("{}/source.mp4", other.directory)}))
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(problem(res).await["code"], "folder_conflict");
    let res = app
        .client
        .post(app.url("/api/v1/transcriptions"))
        .bearer_auth(KEY)
        .body("filePath=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
}

async fn job_row(
    app: &crate::helpers::TestApp,
    uuid: &str,
) -> peertube_runner_connector::domain::job::Job {
    job(app, uuid).await
}

async fn job_state(app: &crate::helpers::TestApp, uuid: &str) -> JobState {
    job(app, uuid).await.state
}
