//! `success` (1.8) with real renditions, input downloads (2), and hostile multipart.

use peertube_runner_connector::domain::job::JobState::*;
use peertube_runner_connector::domain::job::JobType;
use peertube_runner_connector::service::jobs::JobParent;
use serde_json::Value;

use crate::helpers::{problem, spawn_app, spawn_app_with};
use crate::runner_sim::{
    FilePart, SimRunner, clip, hls_files, insert_jobs, job, make_video, one_vod_job, video_spec,
    wait_state,
};

#[tokio::test]
async fn hls_success_stores_the_rendition_and_releases_only_waiting_children() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let video = make_video(&app).await;
    let specs = vec![
        video_spec(&app, &video, JobType::VodHlsTranscoding, 240, None),
        video_spec(
            &app,
            &video,
            JobType::VodWebVideoTranscoding,
            240,
            Some(JobParent::Spec(0)),
        ),
        video_spec(
            &app,
            &video,
            JobType::VodHlsTranscoding,
            240,
            Some(JobParent::Spec(1)),
        ),
    ];
    let rows = insert_jobs(&app, specs).await;
    let (offered, token) = runner.accept_ok(&rows[0].uuid).await;
    // The runner downloads its input with the URL from the payload.
    let url = offered["payload"]["input"]["videoFileUrl"]
        .as_str()
        .unwrap();
    let res = runner.download(url, &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), clip().mp4.as_slice());
    let mut events = app.state.events.subscribe();
    let res = runner
        .success(&rows[0].uuid, &token, &[], hls_files(rows[0].uuid))
        .await;
    assert_eq!(res.status(), 204);
    let done = wait_state(&app, &rows[0].uuid, Completed).await;
    assert!(done.finished_at.is_some() && done.progress.is_none());
    assert_eq!(crate::helpers::announced(&mut events).await, [rows[1].id]);
    assert_eq!(
        job(&app, &rows[1].uuid).await.state,
        Pending,
        "direct child released"
    );
    assert_eq!(
        job(&app, &rows[2].uuid).await.state,
        WaitingForParentJob,
        "grandchild still waits"
    );
    let dir = &video.directory;
    let playlist = app
        .state
        .storage
        .get_bytes(&format!("{dir}/clip-240.m3u8"), 1 << 20)
        .await
        .unwrap();
    let playlist = String::from_utf8(playlist).unwrap();
    assert!(playlist.contains("clip-240-fragmented.mp4"), "{playlist}");
    assert!(
        !playlist.contains(&rows[0].uuid.to_string()),
        "runner's file name rewritten"
    );
    let master = app
        .state
        .storage
        .get_bytes(&format!("{dir}/master.m3u8"), 1 << 20)
        .await
        .unwrap();
    assert!(String::from_utf8(master).unwrap().contains("clip-240.m3u8"));
    // Late update after completion: 204 and ignored (its file is not kept).
    let late = FilePart::bytes("videoChunkFile", "x.ts", "video/mp2t", vec![1; 1000]);
    assert_eq!(
        runner
            .update(&rows[0].uuid, &token, &[("progress", "99")], vec![late])
            .await
            .status(),
        204
    );
    assert_eq!(job(&app, &rows[0].uuid).await.progress, None);
    // Duplicate success: token kept after COMPLETED, so 400 with the code, no change.
    let res = runner
        .success(&rows[0].uuid, &token, &[], hls_files(rows[0].uuid))
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        problem(res).await["code"],
        "runner_job_not_in_processing_state"
    );
    crate::helpers::assert_staging_empty(&app).await;
    // The web-video child completes too and releases the grandchild.
    let (_, token) = runner.accept_ok(&rows[1].uuid).await;
    let mp4 = FilePart::bytes("videoFile", "output-x.mp4", "video/mp4", clip().mp4.clone());
    assert_eq!(
        runner
            .success(&rows[1].uuid, &token, &[], vec![mp4])
            .await
            .status(),
        204
    );
    wait_state(&app, &rows[1].uuid, Completed).await;
    assert_eq!(job(&app, &rows[2].uuid).await.state, Pending);
    assert!(
        app.state
            .storage
            .exists(&format!("{dir}/clip-240.mp4"))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_failed_completion_errors_the_job_and_its_children() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let video = make_video(&app).await;
    let specs = vec![
        video_spec(&app, &video, JobType::VodWebVideoTranscoding, 240, None),
        video_spec(
            &app,
            &video,
            JobType::VodHlsTranscoding,
            240,
            Some(JobParent::Spec(0)),
        ),
    ];
    let rows = insert_jobs(&app, specs).await;
    let (_, token) = runner.accept_ok(&rows[0].uuid).await;
    let garbage = FilePart::bytes(
        "videoFile",
        "out.mp4",
        "video/mp4",
        b"not a video at all".to_vec(),
    );
    assert_eq!(
        runner
            .success(&rows[0].uuid, &token, &[], vec![garbage])
            .await
            .status(),
        204
    );
    let row = wait_state(&app, &rows[0].uuid, Errored).await;
    assert!(row.error.unwrap().contains("not readable media"));
    assert_eq!(job(&app, &rows[1].uuid).await.state, ParentErrored);
}

#[tokio::test]
async fn success_needs_the_files_of_its_type_and_racing_successes_win_once() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let (_video, row) = one_vod_job(&app, JobType::VodHlsTranscoding).await;
    let uuid = &row.uuid;
    let (_, token) = runner.accept_ok(uuid).await;
    let only_video = hls_files(uuid).into_iter().take(1).collect();
    let res = runner.success(uuid, &token, &[], only_video).await;
    assert_eq!(res.status(), 400);
    assert_eq!(problem(res).await["detail"], "Payload is invalid");
    assert_eq!(job(&app, uuid).await.state, Processing);
    let (a, b) = tokio::join!(
        runner.success(uuid, &token, &[], hls_files(uuid)),
        runner.success(uuid, &token, &[], hls_files(uuid))
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert!(
        statuses == [204, 400] || statuses == [204, 409],
        "{statuses:?}"
    );
    wait_state(&app, uuid, Completed).await;
}

#[tokio::test]
async fn downloads_check_the_job_the_video_and_support_ranges() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let (video, row) = one_vod_job(&app, JobType::VodHlsTranscoding).await;
    let other = make_video(&app).await;
    let uuid = &row.uuid;
    let base = format!("{}/api/v1/runners/jobs/{uuid}/files/videos", app.address);
    // Not accepted yet: no row token matches.
    assert_eq!(
        runner
            .download(&format!("{base}/{}/max-quality", video.uuid), "ptrjt-x")
            .await
            .status(),
        404
    );
    let (_, token) = runner.accept_ok(uuid).await;
    let res = runner
        .download(&format!("{base}/{}/max-quality", other.uuid), &token)
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        problem(res).await["detail"],
        "Job is not associated to this video"
    );
    let res = runner
        .download(
            &format!("{base}/{}/max-quality", uuid::Uuid::new_v4()),
            &token,
        )
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(problem(res).await["detail"], "Video not found");
    let audio = runner
        .download(&format!("{base}/{}/max-quality/audio", video.uuid), &token)
        .await;
    assert_eq!(audio.status(), 200);
    let res = runner
        .client
        .post(format!("{base}/{}/max-quality", video.uuid))
        .header("range", "bytes=0-9")
        .json(&serde_json::json!({"runnerToken": runner.token, "jobToken": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &clip().mp4[..10]);
    let res = runner
        .download(
            &format!("{base}/{}/previews/max-quality", video.uuid),
            &token,
        )
        .await;
    assert_eq!(res.status(), 404, "no preview stored");
    for name in [
        "..%2F..%2Fsource.mp4",
        "intro.mp4.exe",
        "INTRO.mp4",
        "a.toolongext",
    ] {
        let res = runner
            .download(
                &format!("{base}/{}/studio/task-files/{name}", video.uuid),
                &token,
            )
            .await;
        assert_eq!(res.status(), 400, "{name}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["invalid-params"]["filename"].is_object(),
            "{name}: {body}"
        );
    }
    let res = runner
        .download(
            &format!("{base}/{}/studio/task-files/intro.mp4", video.uuid),
            &token,
        )
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        problem(res).await["detail"],
        "File is not associated to this edition task"
    );
}

#[tokio::test]
async fn hostile_multipart_bodies_get_clear_errors_and_leave_nothing_behind() {
    let app = spawn_app_with(|s| s.limits.runner_upload_bytes = 1 << 20).await;
    let runner = SimRunner::register(&app, "r1").await;
    let (_video, row) = one_vod_job(&app, JobType::VodWebVideoTranscoding).await;
    let uuid = &row.uuid;
    let (_, token) = runner.accept_ok(uuid).await;
    let url = format!("{}/api/v1/runners/jobs/{uuid}/success", app.address);
    // JSON instead of multipart (PeerTube parses it too): here without its job token.
    let res = runner
        .client
        .post(&url)
        .json(&serde_json::json!({"runnerToken": runner.token}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Truncated multipart (no closing boundary, part cut short).
    let body = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"runnerToken\"\r\n\r\n{}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"jobTo",
        runner.token
    );
    let res = runner
        .client
        .post(&url)
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(
        problem(res).await["detail"]
            .as_str()
            .unwrap()
            .starts_with("Malformed multipart")
    );
    // Over the size limit, declared or streamed.
    let big = FilePart::bytes("videoFile", "out.mp4", "video/mp4", vec![0; 2 << 20]);
    assert_eq!(
        runner.success(uuid, &token, &[], vec![big]).await.status(),
        413
    );
    let chunks =
        futures_util::stream::iter((0..64).map(|_| Ok::<_, std::io::Error>(vec![0u8; 64 * 1024])));
    let streamed =
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(chunks)).file_name("o.mp4");
    let form = reqwest::multipart::Form::new()
        .text("runnerToken", runner.token.clone())
        .text("jobToken", token.clone())
        .part("payload[videoFile]", streamed);
    let res = runner.client.post(&url).multipart(form).send().await;
    assert!(
        res.map(|r| r.status() == 413).unwrap_or(true),
        "413 or connection closed"
    );
    // A path-traversal file name is never used: the upload lands under our own name.
    let evil = FilePart::bytes(
        "videoFile",
        "../../../../tmp/evil.mp4",
        "video/mp4",
        clip().mp4.clone(),
    );
    let unknown = FilePart::bytes("evilField", "x", "text/plain", b"ignored".to_vec());
    assert_eq!(
        runner
            .success(uuid, &token, &[], vec![evil, unknown])
            .await
            .status(),
        204
    );
    wait_state(&app, uuid, Completed).await;
    assert!(!std::path::Path::new("/tmp/evil.mp4").exists());
    crate::helpers::assert_staging_empty(&app).await;
    assert_eq!(
        job(&app, uuid).await.state,
        Completed,
        "the failed attempts changed nothing"
    );
}
