//! The job-token check (1.10), update (1.6), abort (1.5), error (1.7), cancel
//! propagation (5.8) and the watchdog (5.7).

use std::time::Duration;

use peertube_runner_connector::domain::ids::JobUuid;
use peertube_runner_connector::domain::job::JobState::{self, *};
use peertube_runner_connector::domain::job::JobType;
use peertube_runner_connector::service::jobs::{self, JobParent, watchdog};
use serde_json::json;

use peertube_runner_connector::clock::Clock;
use peertube_runner_connector::config::Settings;

use crate::helpers::{TestApp, problem, spawn_app, spawn_app_with, spawn_app_with_clock};
use crate::runner_sim::{FilePart, SimRunner, insert_jobs, job, spec};

/// One accepted VOD job: `(runner, uuid, jobToken)`.
async fn accepted(app: &TestApp, runner: &SimRunner) -> (String, String) {
    let rows = insert_jobs(app, vec![spec(JobType::VodHlsTranscoding, 1, None)]).await;
    let (_, token) = runner.accept_ok(rows[0].uuid).await;
    (rows[0].uuid.to_string(), token)
}

async fn assert_unknown_job(res: reqwest::Response) {
    assert_eq!(res.status(), 404);
    let body = problem(res).await;
    assert_eq!(body["detail"], "Unknown runner job");
    assert!(body.get("code").is_none());
}

#[tokio::test]
async fn every_job_call_checks_the_job_and_runner_tokens() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let other = SimRunner::register(&app, "r2").await;
    let (uuid, token) = accepted(&app, &runner).await;
    let video = uuid::Uuid::new_v4();
    let dl = format!(
        "{}/api/v1/runners/jobs/{uuid}/files/videos/{video}/max-quality",
        app.address
    );
    // Wrong job token, or the right one from another runner: 404 without code.
    assert_unknown_job(runner.abort(&uuid, "ptrjt-wrong").await).await;
    assert_unknown_job(other.abort(&uuid, &token).await).await;
    assert_unknown_job(runner.error(&uuid, "ptrjt-wrong", "x").await).await;
    assert_unknown_job(runner.update(&uuid, "ptrjt-wrong", &[], vec![]).await).await;
    assert_unknown_job(other.success(&uuid, &token, &[], vec![]).await).await;
    assert_unknown_job(runner.download(&dl, "ptrjt-wrong").await).await;
    // Shapes: 400 validation problems.
    let res = runner
        .post(
            &format!("/jobs/{uuid}/abort"),
            json!({"runnerToken": runner.token}),
        )
        .await;
    assert_eq!(res.status(), 400);
    let body = problem(res).await;
    assert!(body["invalid-params"]["jobToken"].is_object());
    assert!(body["invalid-params"]["reason"].is_object());
    let res = runner
        .post(
            "/jobs/nope/error",
            json!({"runnerToken": runner.token, "jobToken": token, "message": "m"}),
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = runner
        .post(
            &format!("/jobs/{uuid}/error"),
            json!({"runnerToken": runner.token, "jobToken": token, "message": ""}),
        )
        .await;
    assert_eq!(res.status(), 400);
    // Still PROCESSING and held: nothing above changed it.
    let row = job(&app, &uuid).await;
    assert_eq!((row.state, row.failures), (Processing, 0));
    // A deleted runner can no longer pass the check.
    peertube_runner_connector::service::runners::delete(
        &app.state.db,
        &app.state.events,
        runner.id,
    )
    .await
    .unwrap();
    assert_unknown_job(
        runner
            .update(&uuid, &token, &[("progress", "5")], vec![])
            .await,
    )
    .await;
}

#[tokio::test]
async fn update_stores_progress_and_refreshes_the_heartbeat_every_time() {
    let app = app_with_manual_clock(|_| {}).await;
    let runner = SimRunner::register(&app, "r1").await;
    let (uuid, token) = accepted(&app, &runner).await;
    let res = runner
        .update(&uuid, &token, &[("progress", "42")], vec![])
        .await;
    assert_eq!(res.status(), 204);
    let first = job(&app, &uuid).await;
    assert_eq!(first.progress, Some(42));
    app.state.clock.advance(Duration::from_secs(20));
    // Transcription-style update: no progress at all. Still a heartbeat.
    assert_eq!(
        runner.update(&uuid, &token, &[], vec![]).await.status(),
        204
    );
    let second = job(&app, &uuid).await;
    assert_eq!(
        second.updated_at - first.updated_at,
        chrono::TimeDelta::seconds(20)
    );
    assert_eq!(second.progress, Some(42));
    for bad in ["42.5", "101", "-3", "abc"] {
        let res = runner
            .update(&uuid, &token, &[("progress", bad)], vec![])
            .await;
        assert_eq!(res.status(), 400, "{bad}");
        assert!(problem(res).await["invalid-params"]["progress"].is_object());
    }
    assert_eq!(
        runner
            .update(&uuid, &token, &[("progress", "0")], vec![])
            .await
            .status(),
        204
    );
    assert_eq!(job(&app, &uuid).await.progress, Some(0));
    // VOD jobs take no payload in updates.
    let res = runner
        .update(&uuid, &token, &[("payload[type]", "add-chunk")], vec![])
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(problem(res).await["detail"], "Payload is invalid");
}

#[tokio::test]
async fn live_chunk_names_are_validated_before_the_live_handler() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let rows = insert_jobs(&app, vec![spec(JobType::LiveRtmpHlsTranscoding, 1, None)]).await;
    let (_, token) = runner.accept_ok(&rows[0].uuid).await;
    let chunk = |name: &str| FilePart::bytes("videoChunkFile", name, "video/mp2t", vec![0x47; 188]);
    for (name, playlist) in [
        ("../../etc/x.ts", None),
        ("0-000001.ts", Some("../0.m3u8")),
        ("0-1.TS", None),
        ("a/b.ts", None),
    ] {
        let mut fields = vec![
            ("payload[type]", "add-chunk"),
            ("payload[videoChunkFilename]", name),
        ];
        let mut files = vec![chunk("0-000001.ts")];
        if let Some(p) = playlist {
            fields.push(("payload[resolutionPlaylistFilename]", p));
            files.push(FilePart::bytes(
                "resolutionPlaylistFile",
                "master.m3u8",
                "application/vnd.apple.mpegurl",
                b"#EXTM3U\n".to_vec(),
            ));
        }
        let res = runner.update(&rows[0].uuid, &token, &fields, files).await;
        assert_eq!(res.status(), 400, "{name}");
        assert_eq!(problem(res).await["detail"], "Payload is invalid");
    }
    // add-chunk without its file is invalid too.
    let res = runner
        .update(
            &rows[0].uuid,
            &token,
            &[
                ("payload[type]", "add-chunk"),
                ("payload[videoChunkFilename]", "0-000001.ts"),
            ],
            vec![],
        )
        .await;
    assert_eq!(res.status(), 400);
    // A valid chunk reaches the live handler: this server stores no live chunks, so it
    // answers with the code that makes the runner stop cleanly.
    let res = runner
        .update(
            &rows[0].uuid,
            &token,
            &[
                ("payload[type]", "add-chunk"),
                ("payload[videoChunkFilename]", "0-000001.ts"),
            ],
            vec![chunk("ignored-name")],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        problem(res).await["code"],
        "runner_job_not_in_processing_state"
    );
    // Nothing is left in the staging directory.
    let staging = app.state.storage.staging_dir().to_owned();
    crate::socket_helpers::eventually(|| std::fs::read_dir(&staging).is_ok_and(|d| d.count() == 0))
        .await;
}

#[tokio::test]
async fn abort_requeues_without_a_failure_and_pings_runners() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let (uuid, token) = accepted(&app, &runner).await;
    let mut events = app.state.events.subscribe();
    assert_eq!(runner.abort(&uuid, &token).await.status(), 204);
    let row = job(&app, &uuid).await;
    assert_eq!(crate::helpers::announced(&mut events).await, [row.id]);
    assert_eq!((row.state, row.failures, row.progress), (Pending, 0, None));
    assert_eq!(
        (row.runner_id, row.token_hash.clone(), row.started_at),
        (None, None, None)
    );
    // The old token is gone: a trailing call gets 404 and changes nothing.
    assert_unknown_job(runner.error(&uuid, &token, "late").await).await;
    assert_eq!(job(&app, &uuid).await.state, Pending);
    // A live job cannot be aborted: it is errored.
    let rows = insert_jobs(&app, vec![spec(JobType::LiveRtmpHlsTranscoding, 1, None)]).await;
    let (_, live_token) = runner.accept_ok(&rows[0].uuid).await;
    assert_eq!(runner.abort(&rows[0].uuid, &live_token).await.status(), 204);
    let live = job(&app, &rows[0].uuid).await;
    assert_eq!(live.state, Errored);
    assert_eq!(
        live.error.as_deref(),
        Some("Job has been aborted but it is not supported by this job type")
    );
}

#[tokio::test]
async fn errors_are_retried_until_max_failures_then_children_fail_recursively() {
    let app = spawn_app_with(|s| s.transcoding.max_failures = 3).await;
    let runner = SimRunner::register(&app, "r1").await;
    let rows = insert_jobs(
        &app,
        vec![
            spec(JobType::VodWebVideoTranscoding, 1, None),
            spec(JobType::VodHlsTranscoding, 1, Some(JobParent::Spec(0))),
            spec(JobType::VodHlsTranscoding, 1, Some(JobParent::Spec(1))),
            spec(JobType::VodHlsTranscoding, 1, Some(JobParent::Spec(0))),
        ],
    )
    .await;
    let parent = &rows[0].uuid;
    for attempt in 1..=2 {
        let (_, token) = runner.accept_ok(parent).await;
        assert_eq!(
            runner
                .error(parent, &token, "ffmpeg exited with code 1")
                .await
                .status(),
            204
        );
        let row = job(&app, parent).await;
        assert_eq!((row.state, row.failures), (Pending, attempt), "retried");
        assert_eq!(row.token_hash, None);
    }
    let (_, token) = runner.accept_ok(parent).await;
    assert_eq!(
        runner
            .error(parent, &token, "ffmpeg exited with code 1")
            .await
            .status(),
        204
    );
    let row = job(&app, parent).await;
    assert_eq!((row.state, row.failures), (Errored, 3));
    assert_eq!(row.error.as_deref(), Some("ffmpeg exited with code 1"));
    assert!(row.finished_at.is_some());
    for child in &rows[1..] {
        let c = job(&app, &child.uuid).await;
        assert_eq!(c.state, ParentErrored, "grandchildren too");
        assert_eq!(c.error.as_deref(), Some("Parent error"));
    }
    // A trailing error on the errored job: 404, nothing changes.
    assert_unknown_job(runner.error(parent, &token, "again").await).await;
    assert_eq!(job(&app, parent).await.failures, 3);
    // Live jobs are never retried.
    let live = insert_jobs(&app, vec![spec(JobType::LiveRtmpHlsTranscoding, 1, None)]).await;
    let (_, token) = runner.accept_ok(&live[0].uuid).await;
    runner.error(&live[0].uuid, &token, "rtmp closed").await;
    assert_eq!(job(&app, &live[0].uuid).await.state, Errored);
}

#[tokio::test]
async fn cancel_propagates_to_descendants_and_the_runner_finds_out_on_its_next_call() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let rows = insert_jobs(
        &app,
        vec![
            spec(JobType::VodWebVideoTranscoding, 1, None),
            spec(JobType::VodHlsTranscoding, 1, Some(JobParent::Spec(0))),
            spec(JobType::VodHlsTranscoding, 1, Some(JobParent::Spec(1))),
        ],
    )
    .await;
    let (_, token) = runner.accept_ok(&rows[0].uuid).await;
    jobs::cancel_job(&app.state, rows[0].uuid).await.unwrap();
    let parent = job(&app, &rows[0].uuid).await;
    assert_eq!((parent.state, parent.token_hash), (Cancelled, None));
    assert_eq!(
        job(&app, &rows[1].uuid).await.state,
        JobState::ParentCancelled
    );
    assert_eq!(
        job(&app, &rows[2].uuid).await.state,
        JobState::ParentCancelled
    );
    assert_unknown_job(
        runner
            .update(&rows[0].uuid, &token, &[("progress", "50")], vec![])
            .await,
    )
    .await;
    assert_unknown_job(runner.success(&rows[0].uuid, &token, &[], vec![]).await).await;
    let again = jobs::cancel_job(&app.state, rows[0].uuid)
        .await
        .unwrap_err();
    assert!(matches!(
        again,
        peertube_runner_connector::error::ServiceError::NotCancellable
    ));
    let missing = jobs::cancel_job(&app.state, JobUuid::generate())
        .await
        .unwrap_err();
    assert!(matches!(
        missing,
        peertube_runner_connector::error::ServiceError::UnknownRunnerJob
    ));
}

#[tokio::test]
async fn cancelling_a_videos_jobs_ends_every_unfinished_one() {
    let app = spawn_app().await;
    let video = crate::runner_sim::make_video(&app).await;
    let mk = |t, p| crate::runner_sim::video_spec(&app, &video, t, 240, p);
    let specs = vec![
        mk(JobType::VodWebVideoTranscoding, None),
        mk(JobType::VodHlsTranscoding, Some(JobParent::Spec(0))),
        mk(JobType::VodHlsTranscoding, Some(JobParent::Spec(1))),
    ];
    let rows = insert_jobs(&app, specs).await;
    assert_eq!(
        jobs::cancel_jobs_of_video(&app.state, video.id)
            .await
            .unwrap(),
        3
    );
    let states: Vec<JobState> =
        futures_util::future::join_all(rows.iter().map(|r| job(&app, r.uuid)))
            .await
            .iter()
            .map(|r| r.state)
            .collect();
    assert_eq!(states, [Cancelled, ParentCancelled, ParentCancelled]);
    assert_eq!(
        jobs::cancel_jobs_of_video(&app.state, video.id)
            .await
            .unwrap(),
        0
    );
}

/// An app whose services read a manual clock, and whose own watchdog never fires:
/// the test sweeps when it has moved time.
async fn app_with_manual_clock(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with_clock(
        |s| {
            s.runners.watchdog_interval = Duration::from_secs(3600);
            configure(s);
        },
        Clock::manual(),
    )
    .await
}

#[tokio::test]
async fn stalled_jobs_are_requeued_by_the_watchdog_and_live_ones_errored() {
    let app = app_with_manual_clock(|s| {
        s.runners.stalled_vod_after = Duration::from_secs(120);
        s.runners.stalled_live_after = Duration::from_secs(30);
    })
    .await;
    let clock = &app.state.clock;
    let runner = SimRunner::register(&app, "r1").await;
    let rows = insert_jobs(
        &app,
        vec![
            spec(JobType::VodHlsTranscoding, 1, None),
            spec(JobType::VideoTranscription, 1, None),
            spec(JobType::LiveRtmpHlsTranscoding, 1, None),
        ],
    )
    .await;
    let mut tokens = Vec::new();
    for r in &rows {
        tokens.push(runner.accept_ok(r.uuid).await.1);
    }
    let mut events = app.state.events.subscribe();
    // The transcription job sends progress-less heartbeats; the others are silent.
    let heartbeat = || runner.update(rows[1].uuid, &tokens[1], &[], vec![]);
    clock.advance(Duration::from_secs(40));
    assert_eq!(heartbeat().await.status(), 204);
    let first = watchdog::sweep(&app.state).await.unwrap();
    assert_eq!(
        (first.requeued, first.failed),
        (0, 1),
        "only live is past its window"
    );
    let live = job(&app, rows[2].uuid).await;
    assert_eq!(
        (live.state, live.error.as_deref()),
        (Errored, Some("Stalled runner job"))
    );
    assert_eq!(job(&app, rows[0].uuid).await.state, Processing);
    clock.advance(Duration::from_secs(90));
    assert_eq!(heartbeat().await.status(), 204);
    let second = watchdog::sweep(&app.state).await.unwrap();
    assert_eq!((second.requeued, second.failed), (1, 0));
    let vod = job(&app, rows[0].uuid).await;
    assert_eq!(
        (vod.state, vod.failures, vod.token_hash),
        (Pending, 0, None),
        "requeued, no failure"
    );
    assert_eq!(
        job(&app, rows[1].uuid).await.state,
        Processing,
        "heartbeats keep it"
    );
    assert_eq!(crate::helpers::announced(&mut events).await, [vod.id]);
    assert_unknown_job(runner.success(rows[0].uuid, &tokens[0], &[], vec![]).await).await;
}

#[tokio::test]
async fn a_lost_completion_is_errored_and_sweeps_change_a_job_once() {
    let app = app_with_manual_clock(|s| {
        s.runners.stalled_completing_after = Duration::from_secs(600);
        s.runners.stalled_vod_after = Duration::from_secs(120);
    })
    .await;
    let rows = insert_jobs(
        &app,
        vec![
            spec(JobType::VodHlsTranscoding, 1, None),
            spec(JobType::VodHlsTranscoding, 1, None),
        ],
    )
    .await;
    let (first, second) = (rows[0].id, rows[1].id);
    app.state
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use peertube_runner_connector::db::schema::runner_jobs::dsl::*;
            diesel::update(runner_jobs.find(first))
                .set(state.eq(Completing))
                .execute(conn)?;
            diesel::update(runner_jobs.find(second))
                .set((state.eq(Processing), job_token_hash.eq("h")))
                .execute(conn)?;
            Ok::<_, peertube_runner_connector::db::DbError>(())
        })
        .await
        .unwrap();
    app.state.clock.advance(Duration::from_secs(599));
    let early = watchdog::sweep(&app.state).await.unwrap();
    assert_eq!(
        (early.requeued, early.failed),
        (1, 0),
        "completing: not yet"
    );
    app.state.clock.advance(Duration::from_secs(2));
    // Two instances sweeping at once: each job changes exactly once.
    let (a, b) = tokio::join!(watchdog::sweep(&app.state), watchdog::sweep(&app.state));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.requeued + b.requeued, 0);
    assert_eq!(a.failed + b.failed, 1);
    let lost = job(&app, rows[0].uuid).await;
    assert_eq!((lost.state, lost.failures), (Errored, 1));
    assert_eq!(lost.error.as_deref(), Some("Job completion was lost"));
    assert_eq!(job(&app, rows[1].uuid).await.state, Pending);
}
