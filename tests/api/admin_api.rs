//! The admin API at PeerTube's paths (`runner-protocol.md` 4): auth, paging, sorting,
//! filters, the shapes PeerTube's own clients read (`RunnersCommand`,
//! `RunnerJobsCommand`, `RunnerRegistrationTokensCommand` of its server-commands:
//! the same paths, query parameters and statuses), and the retries beyond PeerTube.

use std::collections::BTreeSet;

use peertube_runner_connector::domain::job::{JobState, JobType};
use peertube_runner_connector::service::jobs::JobParent;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem, spawn_app_with};
use crate::runner_sim::{SimRunner, hls_files, insert_jobs, job, one_vod_job, spec};

pub const ADMIN_KEY: &str = "admin-secret";
pub const API_KEY: &str = "api-secret";

pub async fn spawn_admin_app() -> TestApp {
    spawn_app_with(|s| {
        s.auth.admin_keys = vec![peertube_runner_connector::config::Secret::new(ADMIN_KEY)];
        s.auth.api_keys = vec![peertube_runner_connector::config::Secret::new(API_KEY)];
    })
    .await
}

pub async fn admin(app: &TestApp, method: Method, path: &str) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
}

pub async fn admin_json(app: &TestApp, path: &str) -> Value {
    let res = admin(app, Method::GET, path).await;
    assert_eq!(res.status(), 200, "{path}");
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    res.json().await.unwrap()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn uuids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["uuid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn admin_routes_need_an_admin_key() {
    let routes = [
        (Method::GET, "/api/v1/runners"),
        (Method::DELETE, "/api/v1/runners/1"),
        (Method::POST, "/api/v1/runners/registration-tokens/generate"),
        (Method::GET, "/api/v1/runners/registration-tokens"),
        (Method::DELETE, "/api/v1/runners/registration-tokens/1"),
        (Method::GET, "/api/v1/runners/jobs"),
        (
            Method::POST,
            "/api/v1/runners/jobs/3f1e5bfa-1111-4a4a-9b9b-0123456789ab/cancel",
        ),
        (
            Method::DELETE,
            "/api/v1/runners/jobs/3f1e5bfa-1111-4a4a-9b9b-0123456789ab",
        ),
        (
            Method::POST,
            "/api/v1/runners/jobs/3f1e5bfa-1111-4a4a-9b9b-0123456789ab/retry",
        ),
    ];
    // No admin key configured: closed, whatever is sent.
    let closed = spawn_app_with(|s| {
        s.auth.api_keys = vec![peertube_runner_connector::config::Secret::new(API_KEY)];
    })
    .await;
    for (m, path) in &routes {
        let res = closed
            .client
            .request(m.clone(), closed.url(path))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{m} {path}");
        assert_eq!(problem(res).await["code"], "admin_api_disabled");
    }
    let app = spawn_admin_app().await;
    for (m, path) in &routes {
        let res = app
            .client
            .request(m.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{m} {path}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        assert_eq!(problem(res).await["code"], "missing_admin_key");
        // An API key opens the video API, not the admin API.
        let res = app
            .client
            .request(m.clone(), app.url(path))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{m} {path}");
        assert_eq!(problem(res).await["code"], "invalid_admin_key");
    }
    // An admin key opens the video API too.
    let res = app
        .client
        .get(app.url("/api/v1/videos"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The runner API stays keyless.
    let res = app
        .post_json("/api/v1/runners/jobs/request", &json!({"runnerToken": "x"}))
        .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn registration_tokens_are_generated_listed_paged_and_deleted_with_their_runners() {
    let app = spawn_admin_app().await;
    for _ in 0..3 {
        let res = admin(
            &app,
            Method::POST,
            "/api/v1/runners/registration-tokens/generate",
        )
        .await;
        assert_eq!(res.status(), 204);
        assert_eq!(
            res.text().await.unwrap(),
            "",
            "PeerTube answers 204 without a body"
        );
    }
    let page = admin_json(&app, "/api/v1/runners/registration-tokens").await;
    assert_eq!(keys(&page), set(&["total", "data"]));
    assert_eq!(page["total"], 3);
    let first = &page["data"][0];
    // PeerTube's RunnerRegistrationToken, member for member.
    assert_eq!(
        keys(first),
        set(&[
            "id",
            "registrationToken",
            "createdAt",
            "updatedAt",
            "registeredRunnersCount"
        ])
    );
    assert!(
        first["registrationToken"]
            .as_str()
            .unwrap()
            .starts_with("ptrrt-")
    );
    // Default sort -createdAt: newest first; createdAt ascending reverses it.
    let ids: Vec<i64> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    let asc = admin_json(&app, "/api/v1/runners/registration-tokens?sort=createdAt").await;
    let asc_ids: Vec<i64> = asc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(asc_ids, ids.iter().rev().copied().collect::<Vec<_>>());
    let one = admin_json(&app, "/api/v1/runners/registration-tokens?start=1&count=1").await;
    assert_eq!(one["total"], 3);
    assert_eq!(one["data"][0]["id"].as_i64().unwrap(), ids[1]);

    // A runner registers with the newest token: counted; the token's deletion removes
    // it and leaves the others alone.
    let token = first["registrationToken"].as_str().unwrap();
    let res = app
        .post_json(
            "/api/v1/runners/register",
            &json!({"registrationToken": token, "name": "r1"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let runner_token = res.json::<Value>().await.unwrap()["runnerToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let neighbour = SimRunner::register(&app, "neighbour").await;
    let page = admin_json(&app, "/api/v1/runners/registration-tokens").await;
    assert_eq!(page["data"][0]["registeredRunnersCount"], 1);
    let res = admin(
        &app,
        Method::DELETE,
        &format!("/api/v1/runners/registration-tokens/{}", ids[0]),
    )
    .await;
    assert_eq!(res.status(), 204);
    let res = app
        .post_json(
            "/api/v1/runners/jobs/request",
            &json!({"runnerToken": runner_token}),
        )
        .await;
    assert_eq!(problem(res).await["code"], "unknown_runner_token");
    assert_eq!(neighbour.request(json!({})).await.status(), 200);

    let res = admin(
        &app,
        Method::DELETE,
        &format!("/api/v1/runners/registration-tokens/{}", ids[0]),
    )
    .await;
    assert_eq!(res.status(), 404);
    let body = problem(res).await;
    assert_eq!(body["detail"], "Registration token not found");
    assert_eq!(body["code"], "registration_token_not_found");
    let res = admin(
        &app,
        Method::DELETE,
        "/api/v1/runners/registration-tokens/abc",
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        problem(res).await["invalid-params"]["id"]["location"],
        "params"
    );
}

#[tokio::test]
async fn runners_are_listed_as_peertube_lists_them_and_deleted() {
    let app = spawn_admin_app().await;
    let a = SimRunner::register(&app, "alpha").await;
    let b = SimRunner::register(&app, "beta").await;
    // A newest runner reports its version.
    b.request(json!({"version": "0.1.0"})).await;
    let page = admin_json(&app, "/api/v1/runners").await;
    assert_eq!(page["total"], 2);
    let newest = &page["data"][0];
    assert_eq!(newest["name"], "beta");
    // PeerTube's Runner (newest tree: with `version`), plus the registration token id.
    assert_eq!(
        keys(newest),
        set(&[
            "id",
            "name",
            "description",
            "ip",
            "lastContact",
            "version",
            "createdAt",
            "updatedAt",
            "registrationTokenId"
        ])
    );
    assert_eq!(newest["version"], "0.1.0");
    assert_eq!(newest["ip"], "127.0.0.1");
    // Runner 0.0.21 sends no version: null, as PeerTube stores it.
    assert_eq!(page["data"][1]["version"], Value::Null);
    let asc = admin_json(&app, "/api/v1/runners?sort=createdAt&count=1").await;
    assert_eq!(asc["total"], 2);
    assert_eq!(asc["data"][0]["name"], "alpha");
    assert_eq!(asc["data"].as_array().unwrap().len(), 1);
    let none = admin_json(&app, "/api/v1/runners?count=0").await;
    assert_eq!(
        (
            none["total"].as_i64(),
            none["data"].as_array().map(Vec::len)
        ),
        (Some(2), Some(0))
    );

    for bad in [
        "count=101",
        "count=-1",
        "start=-1",
        "start=x",
        "sort=name",
        "sort=-updatedAt",
    ] {
        let res = admin(&app, Method::GET, &format!("/api/v1/runners?{bad}")).await;
        assert_eq!(res.status(), 400, "{bad}");
        let body = problem(res).await;
        assert_eq!(body["code"], "invalid_request");
        let name = bad.split('=').next().unwrap();
        assert_eq!(body["invalid-params"][name]["location"], "query", "{bad}");
    }

    let res = admin(&app, Method::DELETE, &format!("/api/v1/runners/{}", a.id)).await;
    assert_eq!(res.status(), 204);
    assert_eq!(a.request(json!({})).await.status(), 404);
    assert_eq!(
        b.request(json!({})).await.status(),
        200,
        "the neighbour survives"
    );
    let res = admin(&app, Method::DELETE, &format!("/api/v1/runners/{}", a.id)).await;
    assert_eq!(res.status(), 404);
    let body = problem(res).await;
    assert_eq!(
        (body["detail"].as_str(), body["code"].as_str()),
        (Some("Runner not found"), Some("runner_not_found"))
    );
    let res = admin(&app, Method::DELETE, "/api/v1/runners/first").await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn jobs_are_listed_with_filters_sorts_and_private_payloads() {
    let app = spawn_admin_app().await;
    let jobs = insert_jobs(
        &app,
        vec![
            spec(JobType::VodWebVideoTranscoding, 100, None),
            spec(JobType::VodHlsTranscoding, 50, Some(JobParent::Spec(0))),
            spec(JobType::VideoTranscription, 200, None),
        ],
    )
    .await;
    let runner = SimRunner::register(&app, "Hal-9000").await;
    let (_, token) = runner.accept_ok(jobs[0].uuid).await;
    let res = runner
        .update(jobs[0].uuid, &token, &[("progress", "40")], vec![])
        .await;
    assert_eq!(res.status(), 204);

    let page = admin_json(&app, "/api/v1/runners/jobs").await;
    assert_eq!(page["total"], 3);
    let listed: Vec<&Value> = page["data"].as_array().unwrap().iter().collect();
    // Default -createdAt, ties by id: the three were created together.
    let web = listed
        .iter()
        .find(|j| j["uuid"] == jobs[0].uuid.to_string())
        .unwrap();
    assert_eq!(
        keys(web),
        set(&[
            "uuid",
            "type",
            "state",
            "progress",
            "priority",
            "failures",
            "error",
            "payload",
            "startedAt",
            "createdAt",
            "updatedAt",
            "runner",
            "privatePayload"
        ]),
        "RunnerJobAdmin: finishedAt and parent omitted when empty"
    );
    assert_eq!(web["state"], json!({"id": 2, "label": "Processing"}));
    assert_eq!(web["progress"], 40);
    assert_eq!(
        web["runner"],
        json!({"id": runner.id, "name": "Hal-9000", "description": null})
    );
    assert!(web["privatePayload"]["videoUUID"].is_string());
    let child = listed
        .iter()
        .find(|j| j["uuid"] == jobs[1].uuid.to_string())
        .unwrap();
    assert_eq!(child["runner"], Value::Null);
    assert_eq!(
        child["parent"],
        json!({"id": jobs[0].id, "uuid": jobs[0].uuid.to_string(),
               "type": "vod-web-video-transcoding", "state": {"id": 2, "label": "Processing"}})
    );
    assert!(child.get("startedAt").is_none());

    // stateOneOf as PeerTube's clients send it (repeated), with brackets, one value.
    for q in [
        "stateOneOf=1&stateOneOf=5",
        "stateOneOf[]=1&stateOneOf[]=5",
        "stateOneOf[0]=1&stateOneOf[1]=5",
    ] {
        let page = admin_json(&app, &format!("/api/v1/runners/jobs?{q}")).await;
        assert_eq!(page["total"], 2, "{q}");
        assert!(!uuids(&page).contains(&jobs[0].uuid.to_string()), "{q}");
    }
    let page = admin_json(&app, "/api/v1/runners/jobs?stateOneOf=2").await;
    assert_eq!(uuids(&page), [jobs[0].uuid.to_string()]);
    let page = admin_json(&app, "/api/v1/runners/jobs?typeOneOf=video-transcription").await;
    assert_eq!(uuids(&page), [jobs[2].uuid.to_string()]);
    // search: an exact UUID, or text in the type or the runner name, any case.
    let page = admin_json(
        &app,
        &format!("/api/v1/runners/jobs?search={}", jobs[1].uuid),
    )
    .await;
    assert_eq!(uuids(&page), [jobs[1].uuid.to_string()]);
    let page = admin_json(&app, "/api/v1/runners/jobs?search=HLS").await;
    assert_eq!(uuids(&page), [jobs[1].uuid.to_string()]);
    let page = admin_json(&app, "/api/v1/runners/jobs?search=hal-9").await;
    assert_eq!(uuids(&page), [jobs[0].uuid.to_string()]);
    let page = admin_json(&app, "/api/v1/runners/jobs?search=%25").await;
    assert_eq!(page["total"], 0, "wildcards are matched literally");
    // Sorts.
    let page = admin_json(&app, "/api/v1/runners/jobs?sort=priority").await;
    assert_eq!(
        uuids(&page),
        [jobs[1].uuid, jobs[0].uuid, jobs[2].uuid].map(|u| u.to_string())
    );
    let page = admin_json(&app, "/api/v1/runners/jobs?sort=-priority&start=1&count=1").await;
    assert_eq!(
        (page["total"].as_i64(), uuids(&page)),
        (Some(3), vec![jobs[0].uuid.to_string()])
    );
    // Jobs without progress last ascending, first descending (both backends).
    let page = admin_json(&app, "/api/v1/runners/jobs?sort=progress").await;
    assert_eq!(uuids(&page)[0], jobs[0].uuid.to_string());
    let page = admin_json(&app, "/api/v1/runners/jobs?sort=-progress").await;
    assert_eq!(uuids(&page)[2], jobs[0].uuid.to_string());
    let page = admin_json(&app, "/api/v1/runners/jobs?sort=state").await;
    assert_eq!(
        uuids(&page)[0],
        jobs[2].uuid.to_string(),
        "pending (1) first"
    );

    for bad in [
        "stateOneOf=0",
        "stateOneOf=x",
        "typeOneOf=vod",
        "sort=-name",
        "count=1000",
    ] {
        let res = admin(&app, Method::GET, &format!("/api/v1/runners/jobs?{bad}")).await;
        assert_eq!(res.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn jobs_are_cancelled_and_deleted_as_peertube_does() {
    let app = spawn_admin_app().await;
    let jobs = insert_jobs(
        &app,
        vec![
            spec(JobType::VodWebVideoTranscoding, 100, None),
            spec(JobType::VodHlsTranscoding, 100, Some(JobParent::Spec(0))),
            spec(JobType::VodHlsTranscoding, 100, Some(JobParent::Spec(1))),
            spec(JobType::VodWebVideoTranscoding, 100, None),
        ],
    )
    .await;
    let runner = SimRunner::register(&app, "r").await;
    let (_, token) = runner.accept_ok(jobs[0].uuid).await;

    let cancel = |uuid: String| {
        let app = &app;
        async move {
            admin(
                app,
                Method::POST,
                &format!("/api/v1/runners/jobs/{uuid}/cancel"),
            )
            .await
        }
    };
    let res = cancel(jobs[0].uuid.to_string()).await;
    assert_eq!(res.status(), 204);
    assert_eq!(job(&app, jobs[0].uuid).await.state, JobState::Cancelled);
    assert_eq!(
        job(&app, jobs[1].uuid).await.state,
        JobState::ParentCancelled
    );
    assert_eq!(
        job(&app, jobs[2].uuid).await.state,
        JobState::ParentCancelled
    );
    assert_eq!(
        job(&app, jobs[3].uuid).await.state,
        JobState::Pending,
        "neighbour"
    );
    // The runner finds out at its next call.
    let res = runner
        .update(jobs[0].uuid, &token, &[("progress", "10")], vec![])
        .await;
    assert_eq!(res.status(), 404);

    let res = cancel(jobs[0].uuid.to_string()).await;
    assert_eq!(res.status(), 400);
    let body = problem(res).await;
    assert_eq!(
        body["detail"],
        "Cannot cancel this job that is not in \"pending\", \"processing\" or \"waiting for parent job\" state"
    );
    assert_eq!(body["code"], "not_cancellable");
    let res = cancel("3f1e5bfa-1111-4a4a-9b9b-0123456789ab".to_owned()).await;
    assert_eq!(res.status(), 404);
    let body = problem(res).await;
    assert_eq!(
        (body["detail"].as_str(), body["code"].as_str()),
        (Some("Unknown runner job"), Some("job_not_found"))
    );
    let res = cancel("not-a-uuid".to_owned()).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        problem(res).await["invalid-params"]["jobUUID"]["location"],
        "params"
    );

    // Delete: the job and every job depending on it; the neighbour stays.
    let res = admin(
        &app,
        Method::DELETE,
        &format!("/api/v1/runners/jobs/{}", jobs[0].uuid),
    )
    .await;
    assert_eq!(res.status(), 204);
    let page = admin_json(&app, "/api/v1/runners/jobs").await;
    assert_eq!(uuids(&page), [jobs[3].uuid.to_string()]);
    // A pending job is cancelled first, then deleted.
    let res = admin(
        &app,
        Method::DELETE,
        &format!("/api/v1/runners/jobs/{}", jobs[3].uuid),
    )
    .await;
    assert_eq!(res.status(), 204);
    assert_eq!(admin_json(&app, "/api/v1/runners/jobs").await["total"], 0);
    let res = admin(
        &app,
        Method::DELETE,
        &format!("/api/v1/runners/jobs/{}", jobs[3].uuid),
    )
    .await;
    assert_eq!(res.status(), 404);
}

/// Fails `job` for good: errors until `transcoding.max_failures` (1 here).
async fn fail(runner: &SimRunner, uuid: impl std::fmt::Display) {
    let (_, token) = runner.accept_ok(&uuid).await;
    let res = runner.error(&uuid, &token, "ffmpeg exited with 1").await;
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn an_errored_job_is_retried_with_the_jobs_that_failed_with_it() {
    let app = spawn_app_with(|s| {
        s.auth.admin_keys = vec![peertube_runner_connector::config::Secret::new(ADMIN_KEY)];
        s.transcoding.max_failures = 1;
    })
    .await;
    let jobs = insert_jobs(
        &app,
        vec![
            spec(JobType::VodWebVideoTranscoding, 100, None),
            spec(JobType::VodHlsTranscoding, 100, Some(JobParent::Spec(0))),
            spec(JobType::VodHlsTranscoding, 100, Some(JobParent::Spec(1))),
            spec(JobType::VodWebVideoTranscoding, 100, None),
        ],
    )
    .await;
    let runner = SimRunner::register(&app, "r").await;
    fail(&runner, jobs[0].uuid).await;
    let failed = job(&app, jobs[0].uuid).await;
    assert_eq!((failed.state, failed.failures), (JobState::Errored, 1));
    assert_eq!(job(&app, jobs[2].uuid).await.state, JobState::ParentErrored);

    let retry = |uuid: String| {
        let app = &app;
        async move {
            admin(
                app,
                Method::POST,
                &format!("/api/v1/runners/jobs/{uuid}/retry"),
            )
            .await
        }
    };
    let res = retry(jobs[0].uuid.to_string()).await;
    assert_eq!(res.status(), 204);
    let again = job(&app, jobs[0].uuid).await;
    assert_eq!(
        (
            again.state,
            again.failures,
            again.error.as_deref(),
            again.finished_at,
            again.runner_id
        ),
        (JobState::Pending, 0, None, None, None),
        "a fresh budget of attempts"
    );
    for child in &jobs[1..3] {
        let c = job(&app, child.uuid).await;
        assert_eq!(
            (c.state, c.error.as_deref(), c.finished_at),
            (JobState::WaitingForParentJob, None, None)
        );
    }
    assert_eq!(
        job(&app, jobs[3].uuid).await.state,
        JobState::Pending,
        "neighbour"
    );
    // Offered again; the retried job then completes and releases its child.
    let offered: Vec<String> = runner
        .available(json!({}))
        .await
        .iter()
        .map(|j| j["uuid"].as_str().unwrap().to_owned())
        .collect();
    assert!(offered.contains(&jobs[0].uuid.to_string()));

    // Only errored jobs: a pending one, a parent-errored one, a cancelled one, no job.
    let res = retry(jobs[0].uuid.to_string()).await;
    assert_eq!(res.status(), 409);
    assert_eq!(problem(res).await["code"], "not_retryable");
    let res = retry("3f1e5bfa-1111-4a4a-9b9b-0123456789ab".to_owned()).await;
    assert_eq!(res.status(), 404);
    let res = retry("nope".to_owned()).await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn a_failed_video_is_retried_and_then_published() {
    let app = spawn_app_with(|s| {
        s.auth.api_keys = vec![peertube_runner_connector::config::Secret::new(API_KEY)];
        s.transcoding.max_failures = 1;
    })
    .await;
    let (video, hls) = one_vod_job(&app, JobType::VodHlsTranscoding).await;
    let runner = SimRunner::register(&app, "r").await;
    fail(&runner, hls.uuid).await;
    let get = || async {
        let res = app
            .client
            .get(app.url(&format!("/api/v1/videos/{}", video.uuid)))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        res.json::<Value>().await.unwrap()
    };
    let failed = get().await;
    assert_eq!(failed["state"]["name"], "failed");
    assert_eq!(failed["error"], "ffmpeg exited with 1");

    let retry = || async {
        app.client
            .post(app.url(&format!("/api/v1/videos/{}/retry", video.uuid)))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap()
    };
    let res = retry().await;
    assert_eq!(res.status(), 200);
    let retried: Value = res.json().await.unwrap();
    assert_eq!(retried["state"]["name"], "transcoding");
    assert_eq!(retried["error"], Value::Null);
    assert_eq!(retried["jobs"][0]["state"]["id"], 1);
    assert_eq!(retried["jobs"][0]["failures"], 0);
    // Nothing failed any more.
    let res = retry().await;
    assert_eq!(res.status(), 409);
    assert_eq!(problem(res).await["code"], "not_retryable");

    let (_, token) = runner.accept_ok(hls.uuid).await;
    let res = runner
        .success(hls.uuid, &token, &[], hls_files(hls.uuid))
        .await;
    assert_eq!(res.status(), 204);
    crate::runner_sim::wait_state(&app, hls.uuid, JobState::Completed).await;
    assert_eq!(get().await["state"]["name"], "published");

    let res = app
        .client
        .post(app.url("/api/v1/videos/3f1e5bfa-1111-4a4a-9b9b-0123456789ab/retry"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(problem(res).await["code"], "video_not_found");
}
