//! Studio edits (issue 18) with the runner simulator doing the work with real ffmpeg:
//! the request's checks, the job offered to 0.0.21 (which knows every task the
//! server creates), the task files behind the token-checked route, the edit becoming
//! the source, the ladder planned again and switched to in one commit when its top
//! rendition is ready, the old source and renditions removed then (the neighbour
//! video untouched), and an edit that fails leaving the video as it was.

use peertube_runner_connector::domain::job::{JobState, JobType};
use serde_json::{Value, json};

use crate::admin_api::ADMIN_KEY;
use crate::helpers::{assert_staging_empty, problem};
use crate::media::sample;
use crate::runner_sim::{FilePart, SimRunner, wait_state};
use crate::studio_helpers::*;
use crate::video_helpers::{KEY, job_rows, spawn_video_app, spawn_video_app_with, submit_ok};
use crate::webhook_helpers::{Answer, Receiver, spawn_webhook_app};

const LADDER: &[(&str, &str)] = &[
    ("hls", "true"),
    ("webVideos", "true"),
    ("resolutions", "144,240"),
];

fn master_of(app: &crate::helpers::TestApp, view: &Value) -> String {
    let dir = view["directory"].as_str().unwrap();
    std::fs::read_to_string(app.data_dir.join("storage").join(dir).join("master.m3u8")).unwrap()
}

fn studio_jobs(view: &Value) -> Vec<Value> {
    view["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["type"] == "video-studio-transcoding")
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_edit_with_every_task_becomes_the_source_and_its_ladder_replaces_the_old_one_at_once() {
    let receiver = Receiver::start(Answer::Ok);
    let app = spawn_webhook_app(&receiver, |_| {}).await;
    let runner = SimRunner::register(&app, "r1").await;
    let clip = sample("av-320x240.mp4");
    let neighbour = published_video(&app, &runner, &clip, LADDER).await;
    let neighbour_keys: Vec<String> = stored_keys(&app);
    let v = published_video(&app, &runner, &clip, LADDER).await;
    let uuid = v["uuid"].as_str().unwrap().to_owned();
    let old_master = master_of(&app, &v);
    assert_eq!(variants(&old_master).len(), 2, "{old_master}");
    let old_keys: Vec<String> = stored_keys(&app)
        .into_iter()
        .filter(|k| !neighbour_keys.contains(k))
        .collect();

    let intro = std::fs::read(&clip).unwrap();
    let watermark = png(32, 32);
    let res = edit(
        &app,
        &uuid,
        vec![
            cut(None, Some("1")),
            with_file("add-intro", "intro.mp4", intro.clone()),
            with_file("add-outro", "outro.mp4", intro.clone()),
            with_file("add-watermark", "logo.png", watermark.clone()),
        ],
    )
    .await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"]["name"], "editing");
    assert_eq!(body["studio"]["state"], "pending");
    assert_eq!(
        body["studio"]["tasks"],
        json!(["cut", "add-intro", "add-outro", "add-watermark"])
    );
    let studio = studio_jobs(&body);
    assert_eq!(studio.len(), 1);
    let job_uuid = studio[0]["uuid"].as_str().unwrap().to_owned();

    // 0.0.21 (no version, no jobTypes) is offered it: it knows every task.
    let offers = runner.available(json!({})).await;
    let offer = offers
        .iter()
        .find(|o| o["uuid"] == job_uuid.as_str())
        .expect("the studio job is offered to 0.0.21");
    assert_eq!(offer["type"], "video-studio-transcoding");
    let files = format!(
        "{}/api/v1/runners/jobs/{job_uuid}/files/videos/{uuid}",
        app.address
    );
    let tasks = offer["payload"]["tasks"].as_array().unwrap().clone();
    assert_eq!(
        offer["payload"]["input"]["videoFileUrl"],
        format!("{files}/max-quality")
    );
    assert_eq!(
        offer["payload"]["input"]["separatedAudioFileUrl"],
        json!([])
    );
    assert_eq!(tasks[0], json!({"name": "cut", "options": {"end": 1.0}}));
    assert_eq!(tasks[3]["options"]["watermarkSizeRatio"], 0.1);
    assert_eq!(tasks[3]["options"]["horitonzalMarginRatio"], 0.05);
    assert_eq!(tasks[3]["options"]["verticalMarginRatio"], 0.05);
    for (i, t) in tasks.iter().enumerate().skip(1) {
        let url = t["options"]["file"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{files}/studio/task-files/{job_uuid}-{i}.")),
            "{url}"
        );
    }
    assert!(
        tasks[3]["options"]["file"]
            .as_str()
            .unwrap()
            .ends_with(".png")
    );

    let (job, token) = runner.accept_ok(&job_uuid).await;
    // The task files, behind the job's tokens.
    let intro_url = tasks[1]["options"]["file"].as_str().unwrap();
    assert_eq!(fetch(&runner, intro_url, &token).await, intro);
    let wm_url = tasks[3]["options"]["file"].as_str().unwrap();
    assert_eq!(fetch(&runner, wm_url, &token).await, watermark);
    assert_eq!(
        runner.download(intro_url, "ptrjt-wrong").await.status(),
        404
    );
    let other = format!("{files}/studio/task-files/other-0.mp4");
    assert_eq!(runner.download(&other, &token).await.status(), 400);

    let input = fetch(
        &runner,
        job["payload"]["input"]["videoFileUrl"].as_str().unwrap(),
        &token,
    )
    .await;
    let update = runner
        .update(&job_uuid, &token, &[("progress", "25")], vec![])
        .await;
    assert_eq!(update.status(), 204);
    assert_eq!(video(&app, &uuid).await["studio"]["progress"], 25);
    let edited = apply_cuts(&input, &tasks);
    let res = runner
        .success(
            &job_uuid,
            &token,
            &[],
            vec![FilePart::bytes(
                "videoFile",
                "output.mp4",
                "video/mp4",
                edited,
            )],
        )
        .await;
    assert_eq!(res.status(), 204);
    wait_state(&app, &job_uuid, JobState::Completed).await;

    let after = video(&app, &uuid).await;
    assert_eq!(after["state"]["name"], "playable", "{after}");
    assert_eq!(after["studio"]["state"], "completed");
    assert_eq!(after["studio"]["edition"], 1);
    // The new ladder's inputs name the edition, so a runner's per-video input cache
    // still holding the source before the edit is not used for them.
    let offers = runner.available(json!({})).await;
    let ladder: Vec<&str> = offers
        .iter()
        .filter_map(|o| o["payload"]["input"]["videoFileUrl"].as_str())
        .filter(|u| u.contains(uuid.as_str()))
        .collect();
    assert!(!ladder.is_empty(), "{offers:?}");
    for url in ladder {
        assert!(
            url.ends_with(&format!("/files/videos/{uuid}~e1/max-quality")),
            "{url}"
        );
    }
    assert!(
        after["source"]["key"]
            .as_str()
            .unwrap()
            .ends_with("-e1-source.mp4")
    );
    let duration = after["duration"].as_f64().unwrap();
    assert!((0.9..1.2).contains(&duration), "{duration}");
    // The task files went with the job; the old renditions are still what is served.
    assert!(stored_keys(&app).iter().all(|k| !k.contains("/studio/")));
    assert_eq!(master_of(&app, &after), old_master);
    assert_eq!(after["hls"]["renditions"].as_array().unwrap().len(), 2);

    // The new ladder: the top web video, then the lower HLS rendition before the top
    // one. Until the top HLS rendition is there, clients see the old ladder whole.
    run_jobs(
        &app,
        &runner,
        &uuid,
        &[
            ("vod-web-video-transcoding", 240),
            ("vod-hls-transcoding", 144),
        ],
    )
    .await;
    let mid = video(&app, &uuid).await;
    assert_eq!(
        master_of(&app, &mid),
        old_master,
        "switched before the top rendition"
    );
    assert_eq!(mid["hls"]["renditions"].as_array().unwrap().len(), 2);
    assert!(
        mid["hls"]["renditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !r["playlistUrl"].as_str().unwrap().contains("-e1-")),
        "{mid}"
    );
    // The rest: the top HLS rendition switches, the lower web video follows.
    run_ladder(&app, &runner, &uuid).await;
    let end = wait_video(&app, &uuid, "published").await;
    let master = master_of(&app, &end);
    let uris = variants(&master);
    assert_eq!(uris.len(), 2, "{master}");
    assert!(uris.iter().all(|u| u.contains("-e1-")), "{master}");
    assert!(
        end["webVideos"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["fileUrl"].as_str().unwrap().contains("-e1-"))
    );
    // Old source and renditions gone; the neighbour's files all there.
    let now = stored_keys(&app);
    for k in &old_keys {
        let kept = k.ends_with("master.m3u8") || k.ends_with("thumbnail.jpg");
        assert_eq!(now.contains(k), kept, "{k}");
    }
    for k in &neighbour_keys {
        assert!(now.contains(k), "neighbour lost {k}");
    }
    assert_eq!(
        video(&app, neighbour["uuid"].as_str().unwrap()).await["state"]["name"],
        "published"
    );
    assert_staging_empty(&app).await;

    let events = receiver
        .wait_for("video.edited then video.published", |got| {
            let names: Vec<String> = got
                .iter()
                .filter(|r| r.json()["data"]["video"]["uuid"] == uuid.as_str())
                .map(|r| r.event())
                .collect();
            names.iter().any(|e| e == "video.edited")
                && names.iter().filter(|e| *e == "video.published").count() == 2
        })
        .await;
    let edited = events
        .iter()
        .find(|r| r.event() == "video.edited")
        .unwrap()
        .json();
    assert_eq!(
        edited["data"]["video"]["studio"]["jobUuid"],
        job_uuid.as_str()
    );
    assert_eq!(edited["data"]["video"]["options"]["edition"], 1);
}

#[tokio::test]
async fn bad_edits_are_refused_with_the_reason_and_leave_nothing_behind() {
    let app = spawn_video_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let clip = sample("av-320x240.mp4");
    let v = published_video(&app, &runner, &clip, &[("resolutions", "240")]).await;
    let uuid = v["uuid"].as_str().unwrap().to_owned();
    let before = stored_keys(&app);
    let mp4 = std::fs::read(&clip).unwrap();

    let cases: Vec<(&str, Vec<Task<'_>>, u16, &str)> = vec![
        (
            "eleven tasks",
            (0..11).map(|_| cut(Some("1"), None)).collect(),
            400,
            "1 to 10",
        ),
        (
            "unknown task",
            vec![Task {
                name: "blur",
                start: None,
                end: None,
                file: None,
            }],
            400,
            "unknown task `blur`",
        ),
        (
            "cut past the end",
            vec![cut(Some("1"), Some("9"))],
            400,
            "past the end",
        ),
        (
            "cut start after end",
            vec![cut(Some("1"), Some("1"))],
            400,
            "before `end`",
        ),
        (
            "cut without bounds",
            vec![cut(None, None)],
            400,
            "give `start`",
        ),
        (
            "cut start outside",
            vec![cut(Some("5"), None)],
            400,
            "not inside",
        ),
        (
            "cut not a number",
            vec![cut(Some("1.5"), None)],
            400,
            "whole number",
        ),
        (
            "intro without file",
            vec![Task {
                name: "add-intro",
                start: None,
                end: None,
                file: None,
            }],
            400,
            "needs a file",
        ),
        (
            "intro that is an image",
            vec![with_file("add-intro", "i.png", png(16, 16))],
            400,
            "not a readable video",
        ),
        (
            "outro without a picture",
            vec![with_file(
                "add-outro",
                "o.m4a",
                std::fs::read(sample("audio.m4a")).unwrap(),
            )],
            400,
            "does not contain a video stream",
        ),
        (
            "outro that is not media",
            vec![with_file("add-outro", "o.mp4", b"not a video".to_vec())],
            400,
            "not a readable",
        ),
        (
            "watermark that is a video",
            vec![with_file("add-watermark", "w.mp4", mp4.clone())],
            400,
            "must be an image",
        ),
        (
            "empty watermark",
            vec![with_file("add-watermark", "w.png", Vec::new())],
            400,
            "empty",
        ),
        (
            "a good task then a bad one",
            vec![
                with_file("add-intro", "i.mp4", mp4.clone()),
                cut(Some("3"), None),
            ],
            400,
            "tasks[1]",
        ),
    ];
    for (case, tasks, status, says) in cases {
        let res = edit(&app, &uuid, tasks).await;
        assert_eq!(res.status().as_u16(), status, "{case}");
        let p = problem(res).await;
        assert!(
            p["detail"].as_str().unwrap_or_default().contains(says),
            "{case}: {p}"
        );
    }
    // No task (JSON: an empty multipart body is malformed), an unknown field, JSON
    // with a file.
    let res = edit_json(&app, &uuid, &json!({"tasks": []})).await;
    assert_eq!(res.status(), 400);
    assert!(
        problem(res).await["detail"]
            .as_str()
            .unwrap()
            .contains("1 to 10 tasks")
    );
    let form = reqwest::multipart::Form::new().text("tasks[0][nme]", "cut");
    let res = app
        .client
        .post(app.url(&format!("/api/v1/videos/{uuid}/studio/edit")))
        .bearer_auth(crate::video_helpers::KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = edit_json(
        &app,
        &uuid,
        &json!({"tasks": [{"name": "add-intro", "options": {"file": "x"}}]}),
    )
    .await;
    assert_eq!(res.status(), 400);
    // Unknown video.
    let res = edit_json(
        &app,
        uuid::Uuid::new_v4(),
        &json!({"tasks": [{"name": "cut", "options": {"end": 1}}]}),
    )
    .await;
    assert_eq!(res.status(), 404);

    // Nothing was stored or created.
    assert!(
        job_rows(&app)
            .await
            .iter()
            .all(|j| j.job_type() != JobType::VideoStudioTranscoding)
    );
    assert_eq!(stored_keys(&app), before);
    assert_staging_empty(&app).await;
    assert_eq!(video(&app, &uuid).await["state"]["name"], "published");

    // A JSON cut is taken; a second edit while it runs is refused.
    let res = edit_json(
        &app,
        &uuid,
        &json!({"tasks": [{"name": "cut", "options": {"start": 1}}]}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let res = edit_json(
        &app,
        &uuid,
        &json!({"tasks": [{"name": "cut", "options": {"start": 1}}]}),
    )
    .await;
    assert_eq!(res.status(), 409);
    assert!(
        problem(res).await["detail"]
            .as_str()
            .unwrap()
            .contains("editing")
    );

    // A video still transcoding cannot be edited.
    let busy = submit_ok(&app, &clip, &[("resolutions", "240")]).await;
    let res = edit_json(
        &app,
        busy["uuid"].as_str().unwrap(),
        &json!({"tasks": [{"name": "cut", "options": {"start": 1}}]}),
    )
    .await;
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn an_edit_that_fails_for_good_leaves_the_video_published_as_it_was() {
    let app = spawn_video_app_with(|s| {
        s.transcoding.max_failures = 1;
        s.auth.admin_keys = vec![peertube_runner_connector::config::Secret::new(ADMIN_KEY)];
    })
    .await;
    let runner = SimRunner::register(&app, "r1").await;
    let clip = sample("av-320x240.mp4");
    let v = published_video(&app, &runner, &clip, &[("resolutions", "240")]).await;
    let uuid = v["uuid"].as_str().unwrap().to_owned();
    let before = stored_keys(&app);

    // The runner uploads something that is not a video: the job fails.
    let res = edit(
        &app,
        &uuid,
        vec![with_file("add-watermark", "w.png", png(16, 16))],
    )
    .await;
    assert_eq!(res.status(), 202);
    let job_uuid = studio_jobs(&video(&app, &uuid).await)[0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, token) = runner.accept_ok(&job_uuid).await;
    let junk = FilePart::bytes("videoFile", "output.mp4", "video/mp4", b"junk".to_vec());
    assert_eq!(
        runner
            .success(&job_uuid, &token, &[], vec![junk])
            .await
            .status(),
        204
    );
    wait_state(&app, &job_uuid, JobState::Errored).await;
    let after = wait_video(&app, &uuid, "published").await;
    assert_eq!(after["studio"]["state"], "failed");
    assert!(
        after["studio"]["error"]
            .as_str()
            .unwrap()
            .contains("not readable media"),
        "{after}"
    );
    assert_eq!(after["source"], v["source"]);
    assert_eq!(after["hls"], v["hls"]);
    // Its watermark went with the job; everything else is as before.
    assert_eq!(stored_keys(&app), before);

    // A runner error on the next edit (max_failures 1): the same.
    let res = edit_json(
        &app,
        &uuid,
        &json!({"tasks": [{"name": "cut", "options": {"end": 1}}]}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let job_uuid = studio_jobs(&video(&app, &uuid).await)
        .into_iter()
        .find(|j| j["state"]["id"] == 1)
        .unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, token) = runner.accept_ok(&job_uuid).await;
    assert_eq!(
        runner
            .error(&job_uuid, &token, "ffmpeg exited with code 1")
            .await
            .status(),
        204
    );
    wait_state(&app, &job_uuid, JobState::Errored).await;
    let after = wait_video(&app, &uuid, "published").await;
    assert_eq!(after["studio"]["error"], "ffmpeg exited with code 1");
    assert_eq!(stored_keys(&app), before);
    // Its task files are gone: the admin API refuses to retry it and the video's
    // retry finds nothing to retry, both saying so; the job stays errored.
    for (path, key) in [
        (format!("/api/v1/runners/jobs/{job_uuid}/retry"), ADMIN_KEY),
        (format!("/api/v1/videos/{uuid}/retry"), KEY),
    ] {
        let res = app
            .client
            .post(app.url(&path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 409, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "not_retryable", "{body}");
    }
    wait_state(&app, &job_uuid, JobState::Errored).await;
}
