//! Storyboards (issue 18): a `generate-video-storyboard` job once the source is probed
//! (with `transcoding.storyboards`) or on request, never offered to 0.0.21 or to a
//! runner that does not ask for it, PeerTube's sprite geometry, the JPEG and its
//! WebVTT thumbnails track stored and listed, and bad results refused.

use peertube_runner_connector::domain::job::JobState;
use serde_json::{Value, json};

use crate::helpers::problem;
use crate::media::sample;
use crate::runner_sim::{FilePart, SimRunner, wait_state};
use crate::studio_helpers::*;
use crate::video_helpers::{spawn_video_app_with, submit_ok};
use crate::webhook_helpers::{Answer, Receiver, spawn_webhook_app};

const NEWEST: &str = "0.1.0";

fn storyboard_jobs(view: &Value) -> Vec<Value> {
    view["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["type"] == "generate-video-storyboard")
        .cloned()
        .collect()
}

async fn ask(app: &crate::helpers::TestApp, uuid: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/videos/{uuid}/storyboard")))
        .bearer_auth(crate::video_helpers::KEY)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_storyboard_is_made_by_newer_runners_only_and_listed_with_its_thumbnails_track() {
    let receiver = Receiver::start(Answer::Ok);
    let app = spawn_webhook_app(&receiver, |s| s.transcoding.storyboards = true).await;
    let runner = SimRunner::register(&app, "r1").await;
    // 10 s of 1280x720: ten 1 s sprites of 192x108 in one row (PeerTube's formula).
    let body = submit_ok(&app, &sample("720p-10s.mp4"), &[("resolutions", "240")]).await;
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    let jobs = storyboard_jobs(&body);
    assert_eq!(jobs.len(), 1, "{body}");
    let job_uuid = jobs[0]["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        jobs[0]["priority"], 95,
        "PeerTube's JOB_PRIORITY.STORYBOARD"
    );
    assert_eq!(body["storyboard"]["state"], "pending");
    assert_eq!(body["storyboard"]["url"], Value::Null);

    let offered = |offers: &[Value]| offers.iter().any(|o| o["uuid"] == job_uuid.as_str());
    // 0.0.21 (no version, no jobTypes) and runners not asking for it: never.
    let legacy = runner.available(json!({})).await;
    assert!(!offered(&legacy));
    assert!(legacy.iter().any(|o| o["type"] == "vod-hls-transcoding"));
    assert!(!offered(
        &runner.available(json!({"version": "0.0.21"})).await
    ));
    assert!(!offered(
        &runner
            .available(json!({"version": NEWEST, "jobTypes": ["vod-hls-transcoding"]}))
            .await
    ));
    let offers = runner
        .available(json!({"version": NEWEST, "jobTypes": ["generate-video-storyboard"]}))
        .await;
    let offer = offers
        .iter()
        .find(|o| o["uuid"] == job_uuid.as_str())
        .unwrap();
    assert_eq!(
        offer["payload"],
        json!({
            "input": {"videoFileUrl": format!(
                "{}/api/v1/runners/jobs/{job_uuid}/files/videos/{uuid}/max-quality", app.address)},
            "sprites": {"size": {"width": 192, "height": 108},
                        "count": {"width": 10, "height": 1}, "duration": 1.0}
        })
    );

    let (job, token) = runner.accept_ok(&job_uuid).await;
    let input = fetch(
        &runner,
        job["payload"]["input"]["videoFileUrl"].as_str().unwrap(),
        &token,
    )
    .await;
    let image = storyboard_image(&job["payload"], &input);
    let part = FilePart::bytes(
        "storyboardFile",
        "storyboard.jpg",
        "image/jpeg",
        image.clone(),
    );
    assert_eq!(
        runner
            .success(&job_uuid, &token, &[], vec![part])
            .await
            .status(),
        204
    );
    wait_state(&app, &job_uuid, JobState::Completed).await;

    let v = video(&app, &uuid).await;
    let sb = &v["storyboard"];
    assert_eq!(sb["state"], "completed", "{v}");
    assert_eq!(
        (
            &sb["totalWidth"],
            &sb["totalHeight"],
            &sb["spriteWidth"],
            &sb["spriteHeight"]
        ),
        (&json!(1920), &json!(108), &json!(192), &json!(108))
    );
    assert_eq!(
        (&sb["spriteDuration"], &sb["spriteCount"]),
        (&json!(1.0), &json!(10))
    );
    // The video's own state does not follow the storyboard.
    assert_eq!(v["state"]["name"], "transcoding");
    // The sheet and its track are served.
    let url = sb["url"].as_str().unwrap();
    let res = app.client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    assert_eq!(res.bytes().await.unwrap().as_ref(), image.as_slice());
    let track_url = sb["trackUrl"].as_str().unwrap();
    let track = app
        .client
        .get(track_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        track.starts_with(
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nstoryboard.jpg#xywh=0,0,192,108\n"
        ),
        "{track}"
    );
    assert!(
        track.ends_with("00:00:09.000 --> 00:00:10.000\nstoryboard.jpg#xywh=1728,0,192,108\n"),
        "{track}"
    );
    assert_eq!(track.matches("#xywh=").count(), 10);

    receiver
        .wait_for("storyboard.ready", |got| {
            got.iter().any(|r| {
                r.event() == "storyboard.ready"
                    && r.json()["data"]["video"]["storyboard"]["spriteCount"] == 10
            })
        })
        .await;

    // Asked again for the existing video: a new job, whose result replaces the sheet.
    let res = ask(&app, &uuid).await;
    assert_eq!(res.status(), 202);
    let res = ask(&app, &uuid).await;
    assert_eq!(res.status(), 409, "one at a time");
}

#[tokio::test]
async fn storyboards_are_asked_for_existing_videos_and_bad_results_refused() {
    let app = spawn_video_app_with(|s| s.transcoding.max_failures = 1).await;
    let runner = SimRunner::register(&app, "r1").await;
    // Off by default: no storyboard job at submission.
    let body = submit_ok(&app, &sample("720p-10s.mp4"), &[("resolutions", "240")]).await;
    assert!(storyboard_jobs(&body).is_empty());
    assert_eq!(body["storyboard"], Value::Null);
    let uuid = body["uuid"].as_str().unwrap().to_owned();

    // Too short (2 s is fine, but an audio-only video has no picture).
    let audio = submit_ok(&app, &sample("audio.m4a"), &[]).await;
    let res = ask(&app, audio["uuid"].as_str().unwrap()).await;
    assert_eq!(res.status(), 400);
    assert!(
        problem(res).await["detail"]
            .as_str()
            .unwrap()
            .contains("no storyboard")
    );
    assert_eq!(
        ask(&app, &uuid::Uuid::new_v4().to_string()).await.status(),
        404
    );

    let res = ask(&app, &uuid).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    let job_uuid = storyboard_jobs(&body)[0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, token) = runner.accept_ok(&job_uuid).await;
    // A text file is no storyboard: the job fails with the reason, nothing stored.
    let junk = FilePart::bytes(
        "storyboardFile",
        "storyboard.jpg",
        "image/jpeg",
        b"nope".to_vec(),
    );
    assert_eq!(
        runner
            .success(&job_uuid, &token, &[], vec![junk])
            .await
            .status(),
        204
    );
    wait_state(&app, &job_uuid, JobState::Errored).await;
    let v = video(&app, &uuid).await;
    assert_eq!(v["storyboard"]["state"], "failed");
    assert!(
        v["storyboard"]["error"]
            .as_str()
            .unwrap()
            .contains("not a readable image"),
        "{v}"
    );
    assert_eq!(v["storyboard"]["url"], Value::Null);
    assert!(stored_keys(&app).iter().all(|k| !k.contains("storyboard")));
    // No file part at all: refused by the success checks (the job's required file).
    let res = ask(&app, &uuid).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    let next = storyboard_jobs(&body)
        .into_iter()
        .find(|j| j["state"]["id"] == 1)
        .unwrap();
    let (_, token) = runner.accept_ok(next["uuid"].as_str().unwrap()).await;
    let res = runner
        .success(next["uuid"].as_str().unwrap(), &token, &[], vec![])
        .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn an_edited_video_gets_a_new_storyboard() {
    let app = spawn_video_app_with(|s| s.transcoding.storyboards = true).await;
    let runner = SimRunner::register(&app, "r1").await;
    let v = published_video(
        &app,
        &runner,
        &sample("720p-10s.mp4"),
        &[("resolutions", "240")],
    )
    .await;
    let uuid = v["uuid"].as_str().unwrap().to_owned();
    // Its storyboard, still pending at the edit (no newer runner came), is cancelled
    // by it: it would show the source before.
    assert_eq!(storyboard_jobs(&v).len(), 1, "{v}");
    let intro = std::fs::read(sample("720p-10s.mp4")).unwrap();
    let res = edit(
        &app,
        &uuid,
        vec![with_file("add-intro", "intro.mp4", intro.clone())],
    )
    .await;
    assert_eq!(res.status(), 202);
    let offers = runner.available(json!({})).await;
    let offer = offers
        .iter()
        .find(|o| o["type"] == "video-studio-transcoding")
        .unwrap();
    let job_uuid = offer["uuid"].as_str().unwrap().to_owned();
    let (_, token) = runner.accept_ok(&job_uuid).await;
    // The simulator's "intro": the 10 s clip itself stands for the edited video.
    let part = FilePart::bytes("videoFile", "output.mp4", "video/mp4", intro);
    assert_eq!(
        runner
            .success(&job_uuid, &token, &[], vec![part])
            .await
            .status(),
        204
    );
    wait_state(&app, &job_uuid, JobState::Completed).await;
    let after = video(&app, &uuid).await;
    let jobs: Vec<Value> = storyboard_jobs(&after)
        .into_iter()
        .filter(|j| j["state"]["id"] == 1)
        .collect();
    assert_eq!(jobs.len(), 1, "{after}");
    // The storyboard asked for before the edit (of the source before) is cancelled.
    assert_eq!(
        storyboard_jobs(&after)
            .iter()
            .filter(|j| j["state"]["id"] == 6)
            .count(),
        1,
        "{after}"
    );
    let offers = runner
        .available(json!({"version": NEWEST, "jobTypes": ["generate-video-storyboard"]}))
        .await;
    let sb = offers
        .iter()
        .find(|o| o["uuid"] == jobs[0]["uuid"])
        .unwrap();
    assert_eq!(
        sb["payload"]["sprites"]["count"],
        json!({"width": 10, "height": 1})
    );
}
