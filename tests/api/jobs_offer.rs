//! `/jobs/request` and `/accept` (runner-protocol.md 1.3, 1.4, 1.9).

use peertube_runner_connector::domain::ids::{JobUuid, RunnerToken};
use peertube_runner_connector::domain::job::JobState::{Pending, Processing, WaitingForParentJob};
use peertube_runner_connector::domain::job::{JobState, JobType};
use peertube_runner_connector::error::ServiceError;
use peertube_runner_connector::service::jobs::{JobParent, offer};
use serde_json::{Value, json};

use crate::helpers::{problem, spawn_app, spawn_app_with};
use crate::runner_sim::{SimRunner, insert_jobs, spec};

fn uuids(offers: &[Value]) -> Vec<String> {
    offers
        .iter()
        .map(|o| o["uuid"].as_str().unwrap().to_owned())
        .collect()
}

/// Inserts a PENDING job of `job_type` with `payload` as raw JSON, as a foreign writer
/// (or an older version) could have, and returns its UUID.
async fn insert_raw_pending(
    app: &crate::helpers::TestApp,
    job_type: JobType,
    payload: Value,
) -> JobUuid {
    use diesel::prelude::*;
    use peertube_runner_connector::db::schema::runner_jobs as j;
    let uuid = JobUuid::generate();
    let now = app.state.now();
    app.state
        .db
        .run(move |conn| {
            diesel::insert_into(j::table)
                .values((
                    j::uuid.eq(uuid.to_string()),
                    j::job_type.eq(job_type),
                    j::state.eq(JobState::Pending),
                    j::payload.eq(payload.to_string()),
                    j::private_payload.eq("{}"),
                    j::priority.eq(10),
                    j::failures.eq(0),
                    j::created_at.eq(now),
                    j::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok::<_, peertube_runner_connector::db::DbError>(())
        })
        .await
        .unwrap();
    // No event: the index sees it at its next refresh, done here at once.
    peertube_runner_connector::service::jobs::queue::load(&app.state)
        .await
        .unwrap();
    uuid
}

#[tokio::test]
async fn request_offers_ten_pending_jobs_by_priority_then_age() {
    let app = spawn_app_with(|s| s.runners.spread_offers = false).await;
    let runner = SimRunner::register(&app, "r1").await;
    let mut specs: Vec<_> = (0..12)
        .map(|i| {
            spec(
                JobType::VodHlsTranscoding,
                if i % 2 == 0 { 100 } else { 50 },
                None,
            )
        })
        .collect();
    specs.push(spec(
        JobType::VodHlsTranscoding,
        1,
        Some(JobParent::Spec(0)),
    ));
    let rows = insert_jobs(&app, specs).await;
    let offers = runner.available(json!({})).await;
    assert_eq!(offers.len(), 10);
    let mut expected: Vec<_> = rows[..12]
        .iter()
        .map(|r| (r.priority, r.id, r.uuid.to_string()))
        .collect();
    expected.sort();
    let expected: Vec<String> = expected.into_iter().take(10).map(|e| e.2).collect();
    assert_eq!(
        uuids(&offers),
        expected,
        "priority ASC then id ASC; waiting child never offered"
    );
    let first = &offers[0];
    assert_eq!(first.as_object().unwrap().len(), 3);
    assert_eq!(first["type"], "vod-hls-transcoding");
    assert_eq!(first["payload"]["output"]["resolution"], 720);
    assert_eq!(
        first["payload"]["input"]["separatedAudioFileUrl"],
        json!([])
    );
}

#[tokio::test]
async fn request_honours_job_types_and_the_runner_version() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    insert_jobs(
        &app,
        vec![
            spec(JobType::VodHlsTranscoding, 10, None),
            spec(JobType::GenerateVideoStoryboard, 10, None),
            spec(JobType::VideoTranscription, 10, None),
            spec(JobType::VideoStudioTranscoding, 10, None),
        ],
    )
    .await;
    // A studio job with a task no runner supports cannot be created; one written
    // by something else is never offered, and does not break the listing.
    let studio_bad = insert_raw_pending(
        &app,
        JobType::VideoStudioTranscoding,
        json!({"input": {"videoFileUrl": "http://x/v"}, "tasks": [{"name": "cut"}, {"name": "add-blur"}]}),
    )
    .await;
    let types = |offers: Vec<Value>| {
        let mut t: Vec<String> = offers
            .iter()
            .map(|o| o["type"].as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    // Legacy 0.0.21: no version, no storyboard; never the unsupported studio task.
    assert_eq!(
        types(runner.available(json!({})).await),
        [
            "video-studio-transcoding",
            "video-transcription",
            "vod-hls-transcoding"
        ]
    );
    assert_eq!(
        types(runner.available(json!({"version": "0.0.16"})).await),
        ["video-studio-transcoding", "vod-hls-transcoding"]
    );
    let newest = runner.available(json!({"version": "0.1.0"})).await;
    assert_eq!(newest.len(), 4);
    assert!(!uuids(&newest).contains(&studio_bad.to_string()));
    assert_eq!(
        types(
            runner
                .available(
                    json!({"version": "0.1.0", "jobTypes": ["generate-video-storyboard", "nope"]})
                )
                .await
        ),
        ["generate-video-storyboard"]
    );
    assert!(runner.available(json!({"jobTypes": []})).await.is_empty());
    let runners = peertube_runner_connector::service::runners::list(&app.state.db)
        .await
        .unwrap();
    assert_eq!(
        runners[0].version.as_deref(),
        Some("0.1.0"),
        "a changed version is stored"
    );
}

#[tokio::test]
async fn request_spreads_equal_priorities_across_runners() {
    let app = spawn_app().await;
    let a = SimRunner::register(&app, "a").await;
    let b = SimRunner::register(&app, "b").await;
    insert_jobs(
        &app,
        (0..5)
            .map(|_| spec(JobType::VodHlsTranscoding, 100, None))
            .collect(),
    )
    .await;
    let (oa, ob) = (a.available(json!({})).await, b.available(json!({})).await);
    assert_eq!(oa.len(), 5);
    let (mut sa, mut sb) = (uuids(&oa), uuids(&ob));
    assert_ne!(sa[0], sb[0], "two runners do not start on the same job");
    sa.sort();
    sb.sort();
    assert_eq!(sa, sb, "same set of offers");
}

#[tokio::test]
async fn request_rejects_bad_bodies_and_unknown_tokens() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let res = runner.post("/jobs/request", json!({})).await;
    assert_eq!(res.status(), 400);
    assert!(problem(res).await["invalid-params"]["runnerToken"].is_object());
    let res = runner
        .request(json!({"jobTypes": "vod-hls-transcoding"}))
        .await;
    assert_eq!(res.status(), 400);
    let res = runner
        .post("/jobs/request", json!({"runnerToken": "ptrt-unknown"}))
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(problem(res).await["code"], "unknown_runner_token");
    // A malformed version is ignored, never refused.
    assert_eq!(
        runner.request(json!({"version": "x.y"})).await.status(),
        200
    );
}

#[tokio::test]
async fn accept_answers_the_runner_job_with_a_new_job_token() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let rows = insert_jobs(&app, vec![spec(JobType::VodWebVideoTranscoding, 7, None)]).await;
    let res = runner.accept(rows[0].uuid).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["job"]
    );
    let job = body["job"].as_object().unwrap();
    let mut keys: Vec<&str> = job.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "createdAt",
            "error",
            "failures",
            "jobToken",
            "payload",
            "priority",
            "progress",
            "runner",
            "startedAt",
            "state",
            "type",
            "updatedAt",
            "uuid"
        ],
        "finishedAt and parent omitted, not null"
    );
    assert_eq!(job["state"], json!({"id": 2, "label": "Processing"}));
    assert_eq!(job["progress"], Value::Null);
    assert_eq!(job["error"], Value::Null);
    assert_eq!(job["priority"], 7);
    assert_eq!(job["failures"], 0);
    assert_eq!(job["type"], "vod-web-video-transcoding");
    assert_eq!(
        job["runner"],
        json!({"id": runner.id, "name": "r1", "description": null})
    );
    assert_eq!(
        job["payload"],
        serde_json::to_value(&rows[0].payload).unwrap()
    );
    let token = job["jobToken"].as_str().unwrap();
    assert!(peertube_runner_connector::domain::ids::is_uuid_v4(
        token.strip_prefix("ptrjt-").unwrap()
    ));
    assert!(job["startedAt"].as_str().unwrap().ends_with('Z'));
    let row = crate::runner_sim::job(&app, rows[0].uuid).await;
    assert_eq!(row.state, Processing);
    assert_eq!(row.runner_id, Some(runner.id));
    assert_ne!(
        row.token_hash.as_ref().map(|h| h.as_str()),
        Some(token),
        "tokens are stored hashed"
    );
}

#[tokio::test]
async fn accept_checks_in_peertubes_order() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let rows = insert_jobs(
        &app,
        vec![
            spec(JobType::VodHlsTranscoding, 1, None),
            spec(JobType::VodHlsTranscoding, 1, Some(JobParent::Spec(0))),
        ],
    )
    .await;
    let res = runner.accept("not-a-uuid").await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        problem(res).await["invalid-params"]["jobUUID"]["location"],
        "params"
    );
    let v1 = "0b2c6f5e-7f4a-1d3b-9c1e-2a3b4c5d6e7f";
    assert_eq!(runner.accept(v1).await.status(), 400, "UUID v1 refused");
    let res = runner.accept(&uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(res.status(), 404);
    let body = problem(res).await;
    assert_eq!(body["detail"], "Unknown runner job");
    assert!(body.get("code").is_none());
    // Not pending (waiting for its parent): 400, before the token check, with the code
    // the runner treats as a routine lost race.
    let res = runner
        .post(
            &format!("/jobs/{}/accept", rows[1].uuid),
            json!({"runnerToken": "ptrt-nope"}),
        )
        .await;
    assert_eq!(res.status(), 400);
    let body = problem(res).await;
    assert_eq!(body["detail"], "This runner job is not in pending state");
    assert_eq!(body["code"], "runner_job_not_in_pending_state");
    let res = runner
        .post(&format!("/jobs/{}/accept", rows[0].uuid), json!({}))
        .await;
    assert_eq!(res.status(), 400);
    let res = runner
        .post(
            &format!("/jobs/{}/accept", rows[0].uuid),
            json!({"runnerToken": "ptrt-nope"}),
        )
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(problem(res).await["code"], "unknown_runner_token");
    runner.accept_ok(rows[0].uuid).await;
    let res = runner.accept(rows[0].uuid).await;
    assert_eq!(res.status(), 400, "the usual lost race");
    assert_eq!(
        problem(res).await["code"],
        "runner_job_not_in_pending_state"
    );
    // A runner that passed the pre-check but lost the compare-and-set gets the 409.
    let token = RunnerToken::parse(&runner.token).unwrap();
    let lost = offer::accept(&app.state, rows[0].uuid, &token, "127.0.0.1").await;
    let err = lost.unwrap_err();
    assert!(matches!(err, ServiceError::JobTaken));
    let api = peertube_runner_connector::error::ApiError::from(err);
    assert_eq!(api.status(), 409);
    assert_eq!(api.body()["code"], "runner_job_not_in_pending_state");
    assert_eq!(
        api.body()["detail"],
        "This job is not in pending state anymore"
    );
}

#[tokio::test]
async fn create_jobs_wants_parents_first_and_inserts_nothing_otherwise() {
    use peertube_runner_connector::db;
    use peertube_runner_connector::service::jobs::create_jobs;
    let app = spawn_app().await;
    let bad = vec![
        spec(JobType::VodHlsTranscoding, 1, Some(JobParent::Spec(1))),
        spec(JobType::VodHlsTranscoding, 1, None),
    ];
    let now = app.state.now();
    let result = app
        .state
        .db
        .run(move |conn| db::write_transaction(conn, |conn| create_jobs(conn, &bad, now)))
        .await;
    assert!(matches!(result, Err(ServiceError::Invalid(_))));
    // Both payloads of a job are of its type.
    let mut mismatched = spec(JobType::VodHlsTranscoding, 1, None);
    mismatched.private_payload = spec(JobType::VideoTranscription, 1, None).private_payload;
    let result = app
        .state
        .db
        .run(move |conn| create_jobs(conn, &[mismatched], now))
        .await;
    assert!(matches!(result, Err(ServiceError::Invalid(_))));
    let runner = SimRunner::register(&app, "r").await;
    assert!(runner.available(json!({})).await.is_empty());
    let rows = insert_jobs(
        &app,
        vec![
            spec(JobType::VodHlsTranscoding, 1, None),
            spec(JobType::VodHlsTranscoding, 1, Some(JobParent::Spec(0))),
        ],
    )
    .await;
    assert_eq!(
        (rows[0].state, rows[1].state),
        (Pending, WaitingForParentJob)
    );
    assert_eq!(rows[1].parent_id, Some(rows[0].id));
}

#[tokio::test]
async fn an_unreadable_pending_job_is_skipped_and_ten_readable_ones_are_still_offered() {
    let app = spawn_app_with(|s| s.runners.spread_offers = false).await;
    let runner = SimRunner::register(&app, "r1").await;
    // First in line (priority 10 is the lowest), and not a studio payload at all.
    let bad = insert_raw_pending(
        &app,
        JobType::VideoStudioTranscoding,
        json!({"tasks": "not a list"}),
    )
    .await;
    let rows = insert_jobs(
        &app,
        (0..11)
            .map(|_| spec(JobType::VodHlsTranscoding, 20, None))
            .collect(),
    )
    .await;
    let offers = runner.available(json!({"version": "0.1.0"})).await;
    let expected: Vec<String> = rows[..10].iter().map(|r| r.uuid.to_string()).collect();
    assert_eq!(uuids(&offers), expected);
    assert!(!uuids(&offers).contains(&bad.to_string()));
}
