//! Delivery guarantees against a real receiver on loopback: retries until a 2xx and
//! then no more, survival of a server stopped before its worker ran, exactly one
//! delivery with two instances on one database, refused targets, no redirects,
//! failures as events, the deliveries API, the CLI and the retention.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use peertube_runner_connector::clock::Clock;
use peertube_runner_connector::db;
use peertube_runner_connector::domain::job::JobType;
use peertube_runner_connector::service::webhooks::{Notice, Outbox};
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app_with_clock};
use crate::media::sample;
use crate::runner_sim::{SimRunner, make_video, one_vod_job};
use crate::video_helpers::{KEY, submit_ok};
use crate::webhook_helpers::*;

/// The deliveries of the app's endpoint, once none is pending any more.
async fn settled(app: &TestApp) -> Vec<Value> {
    for _ in 0..200 {
        let page = deliveries(app, "?state=pending").await;
        if page["total"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    deliveries(app, "?count=100").await["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_failing_three_times_gets_the_event_exactly_once_more() {
    let hooks = Receiver::start(Answer::FailFirst(3));
    let app = spawn_webhook_app(&hooks, |_| {}).await;
    let body = submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
    let got = hooks.wait_count(4).await;
    // Retries keep the event's id and body; each attempt is signed anew.
    assert!(
        got.iter()
            .all(|r| r.id == got[0].id && r.body == got[0].body)
    );
    assert_eq!(got[0].event(), "video.created");
    assert_eq!(got[0].json()["data"]["video"]["uuid"], body["uuid"]);
    let list = settled(&app).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["state"], "delivered", "{list:?}");
    assert_eq!(list[0]["attempts"], 4);
    assert_eq!(list[0]["lastError"], Value::Null);
    // Nothing more once delivered.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(hooks.received().len(), 4);
    verify_with_python(&[(got[3].clone(), ENDPOINT_SECRET)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_recorded_by_a_server_stopped_before_delivering_is_delivered_after_restart() {
    let hooks = Receiver::start(Answer::Ok);
    // This instance records events but its worker never runs.
    let mut first = spawn_webhook_app(&hooks, |s| s.webhooks.concurrency = 0).await;
    let body = submit_ok(&first, &sample("av-320x240.mp4"), &[]).await;
    let pending = deliveries(&first, "?state=pending").await;
    assert_eq!(pending["total"], 1, "{pending}");
    first.shutdown.shutdown();
    first.shutdown.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), &mut first.running).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(hooks.received().is_empty());

    // Another instance on the same database delivers it.
    let url = first.db.url.clone();
    let second = spawn_webhook_app(&hooks, move |s| s.database.url = Some(url)).await;
    let got = hooks.wait_count(1).await;
    assert_eq!(got[0].event(), "video.created");
    assert_eq!(got[0].json()["data"]["video"]["uuid"], body["uuid"]);
    let list = settled(&second).await;
    assert_eq!(list[0]["state"], "delivered");
    assert_eq!(list[0]["attempts"], 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hooks.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_deliver_each_event_once_and_each_videos_events_in_order() {
    let hooks = Receiver::start(Answer::Ok);
    let a = spawn_webhook_app(&hooks, |s| s.webhooks.concurrency = 4).await;
    let url = a.db.url.clone();
    let b = spawn_webhook_app(&hooks, move |s| {
        s.database.url = Some(url);
        s.webhooks.concurrency = 4;
    })
    .await;
    let notices = [
        Notice::Created,
        Notice::Playable,
        Notice::Published,
        Notice::Failed("x"),
        Notice::Deleted,
    ];
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for _ in 0..8 {
        let video = make_video(&a).await;
        expected.insert(
            video.uuid.to_string(),
            notices
                .iter()
                .map(|n| n.event_type().as_str().to_owned())
                .collect(),
        );
        // Each event in its own transaction, alternating between the instances.
        for (i, n) in notices.into_iter().enumerate() {
            let app = if i % 2 == 0 { &a } else { &b };
            let (outbox, now, id) = (Outbox::of(&app.state), app.state.now(), video.id);
            let emitted = app
                .state
                .db
                .run(move |conn| {
                    db::write_transaction(conn, |conn| outbox.record(conn, id, &[n], now))
                })
                .await
                .unwrap();
            emitted.publish(&app.state.events);
        }
    }
    let got = hooks.wait_count(40).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_all = hooks.received();
    assert_eq!(got_all.len(), 40, "each event once");
    let ids: BTreeSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 40);
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &got_all {
        let video = r.json()["data"]["video"]["uuid"]
            .as_str()
            .unwrap()
            .to_owned();
        seen.entry(video).or_default().push(r.event());
    }
    assert_eq!(seen, expected, "each video's events arrive in order");
    for d in settled(&a).await {
        assert_eq!(
            (&d["state"], &d["attempts"]),
            (&Value::from("delivered"), &Value::from(1))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_targets_are_refused_unless_listed_and_redirects_are_not_followed() {
    let hooks = Receiver::start(Answer::Ok);
    let by_name = format!("http://localhost:{}/hooks", hooks.port);
    let app = spawn_webhook_app(&hooks, move |s| {
        s.webhooks.allowed_targets.clear();
        s.webhooks.endpoints.push(endpoint("by-name", &by_name));
    })
    .await;
    submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
    let list = settled(&app).await;
    assert_eq!(list.len(), 2);
    for d in &list {
        assert_eq!(d["state"], "dead", "refused at once: {d}");
        assert_eq!(d["attempts"], 1);
        let error = d["lastError"].as_str().unwrap();
        assert!(
            error.contains("loopback") && error.contains("allowed_targets"),
            "{error}"
        );
    }
    assert!(hooks.received().is_empty(), "nothing reached the receiver");

    // A receiver that redirects: the redirect is an error, never followed.
    let redirecting = Receiver::start(Answer::Redirect);
    let app = spawn_webhook_app(&redirecting, |_| {}).await;
    submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
    redirecting.wait_count(2).await;
    let d = &deliveries(&app, "").await["data"][0];
    assert_eq!(d["state"], "pending", "retried: {d}");
    assert_eq!(d["lastStatus"], 302);
    assert!(
        d["lastError"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{d}"
    );
    assert!(redirecting.received().iter().all(|r| r.path == "/hooks"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_failing_for_good_sends_job_failed_then_video_failed() {
    let hooks = Receiver::start(Answer::Ok);
    let app = spawn_webhook_app(&hooks, |s| s.transcoding.max_failures = 2).await;
    let (_video, job) = one_vod_job(&app, JobType::VodHlsTranscoding).await;
    let runner = SimRunner::register(&app, "failing-runner").await;
    for _ in 0..2 {
        let (_, token) = runner.accept_ok(job.uuid).await;
        let res = runner.error(job.uuid, &token, "ffmpeg exited with 1").await;
        assert_eq!(res.status(), 204);
    }
    let got = hooks.wait_count(2).await;
    assert_eq!(hooks.events(), ["job.failed", "video.failed"]);
    let job_failed = got[0].json();
    assert_eq!(job_failed["data"]["job"]["uuid"], job.uuid.to_string());
    assert_eq!(job_failed["data"]["job"]["failures"], 2);
    assert_eq!(job_failed["data"]["reason"], "ffmpeg exited with 1");
    let video_failed = got[1].json();
    assert_eq!(video_failed["data"]["reason"], "ffmpeg exited with 1");
    assert_eq!(video_failed["data"]["video"]["state"]["name"], "failed");
    // One retry before: no event.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hooks.received().len(), 2);
}

fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_peertube-runner-connector"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PRC_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("PRC_DATA_DIR", &app.data_dir)
        .arg("--database-url")
        .arg(&app.db.url)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_listed_filtered_and_redelivered_by_api_and_cli() {
    let hooks = Receiver::start(Answer::Ok);
    // Refused (loopback, not listed): dead at once.
    let app = spawn_webhook_app(&hooks, |s| s.webhooks.allowed_targets.clear()).await;
    let body = submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
    let uuid = body["uuid"].as_str().unwrap();
    let dead = settled(&app).await;
    let id = dead[0]["id"].as_i64().unwrap();
    assert_eq!(dead[0]["state"], "dead");
    assert_eq!(dead[0]["videoUuid"], uuid);
    assert_eq!(dead[0]["endpoint"], "test");
    assert_eq!(dead[0]["nextAttemptAt"], Value::Null);

    for (query, total) in [
        (format!("?video={uuid}"), 1),
        ("?event=video.created".to_owned(), 1),
        ("?event=video.published".to_owned(), 0),
        ("?state=dead".to_owned(), 1),
        ("?state=delivered".to_owned(), 0),
        (
            format!("?eventId={}", dead[0]["eventId"].as_str().unwrap()),
            1,
        ),
    ] {
        assert_eq!(deliveries(&app, &query).await["total"], total, "{query}");
    }
    for bad in [
        "?state=done",
        "?event=video.done",
        "?video=nope",
        "?count=1000",
    ] {
        let res =
            crate::video_helpers::get(&app, &format!("/api/v1/webhooks/deliveries{bad}")).await;
        assert_eq!(res.status(), 400, "{bad}");
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["code"], "invalid_request");
    }
    let one: Value = crate::video_helpers::get(&app, &format!("/api/v1/webhooks/deliveries/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["payload"]["type"], "video.created");
    assert_eq!(one["payload"]["id"], one["eventId"]);
    let res = crate::video_helpers::get(&app, "/api/v1/webhooks/deliveries/999999").await;
    assert_eq!(res.status(), 404);
    let res = app
        .client
        .get(app.url("/api/v1/webhooks/deliveries"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the API key is required");

    // Redelivered through the API: a new delivery of the same event.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/webhooks/deliveries/{id}/redeliver")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let again: Value = res.json().await.unwrap();
    assert_ne!(again["id"], id);
    assert_eq!(again["eventId"], dead[0]["eventId"]);
    let list = settled(&app).await;
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|d| d["state"] == "dead"));

    // The CLI lists and redelivers on the database.
    let out = cli(
        &app,
        &["webhook", "deliveries", "--state", "dead", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(page["total"], 2);
    let out = cli(&app, &["webhook", "deliveries", "--video", uuid]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("video.created") && text.contains("dead") && text.contains("2 in all"),
        "{text}"
    );
    let out = cli(&app, &["webhook", "redeliver", &id.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("queued again"));
    let list = settled(&app).await;
    assert_eq!(list.len(), 3, "the running server took the CLI's delivery");
    let out = cli(&app, &["webhook", "redeliver", "999999"]);
    assert!(!out.status.success());
    let out = cli(&app, &["webhook", "new-secret"]);
    let secret = String::from_utf8(out.stdout).unwrap();
    assert!(
        secret.trim().starts_with("whsec_") && secret.trim().len() > 40,
        "{secret}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_delivery_is_not_redelivered_and_old_ones_are_purged() {
    let hooks = Receiver::start(Answer::FailFirst(usize::MAX));
    let url = hooks.url.clone();
    let clock = Clock::manual();
    let app = spawn_app_with_clock(
        move |s| {
            s.auth.api_keys = vec![peertube_runner_connector::config::Secret::new(KEY)];
            fast_webhooks(s);
            s.webhooks.endpoints = vec![endpoint("test", &url)];
            s.webhooks.first_retry_delay = Duration::from_secs(3600);
            s.webhooks.max_retry_delay = Duration::from_secs(3600);
        },
        clock.clone(),
    )
    .await;
    submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
    hooks.wait_count(1).await;
    let d = &deliveries(&app, "").await["data"][0];
    assert_eq!(d["state"], "pending");
    assert_eq!(d["lastStatus"], 500);
    assert_eq!(d["lastError"], "HTTP 500 Internal Server Error: try later");
    let res = app
        .client
        .post(app.url(&format!(
            "/api/v1/webhooks/deliveries/{}/redeliver",
            d["id"]
        )))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    // A day later: retried, and dead after the retry period.
    for _ in 0..30 {
        clock.advance(Duration::from_secs(3600));
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    let list = settled(&app).await;
    assert_eq!(list[0]["state"], "dead", "{list:?}");
    let attempts = list[0]["attempts"].as_i64().unwrap();
    assert!(
        (20..=31).contains(&attempts),
        "about one attempt an hour: {attempts}"
    );
    // Past the retention (7 days), dead and delivered rows go.
    clock.advance(Duration::from_secs(8 * 24 * 3600));
    for _ in 0..100 {
        if deliveries(&app, "").await["total"] == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the dead delivery was not purged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_an_attempt_is_relieved_by_another_that_sends_it_once_more() {
    let hooks = Receiver::start(Answer::HangFirst);
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::TestDb::new(dir.path());
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let endpoints = format!(
        "[{{name=\"test\", url=\"{}\", secret=\"{ENDPOINT_SECRET}\"}}]",
        hooks.url
    );
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_peertube-runner-connector"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PRC_") {
            cmd.env_remove(k);
        }
    }
    let mut server = cmd
        .env("PRC_DATA_DIR", dir.path())
        .env("PRC_AUTH__API_KEYS", KEY)
        .env("PRC_WEBHOOKS__ENDPOINTS", &endpoints)
        .env("PRC_WEBHOOKS__ALLOWED_TARGETS", "127.0.0.1")
        .env("PRC_WEBHOOKS__TIMEOUT", "3s")
        .env("PRC_LOG__LEVEL", "warn")
        .arg("--database-url")
        .arg(&db.url)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..400 {
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let form = reqwest::multipart::Form::new().part(
        "videoFile",
        reqwest::multipart::Part::bytes(std::fs::read(sample("av-320x240.mp4")).unwrap())
            .file_name("clip.mp4"),
    );
    let res = client
        .post(format!("{base}/api/v1/videos"))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // The attempt is under way (the receiver does not answer): the server dies.
    let first = hooks.wait_count(1).await;
    server.kill().unwrap();
    server.wait().unwrap();

    // Another instance on the same database sends it again once the lease ends.
    let url = db.url.clone();
    let app = spawn_webhook_app(&hooks, move |s| s.database.url = Some(url)).await;
    let got = hooks.wait_count(2).await;
    assert_eq!(
        got[1].id, first[0].id,
        "the same event, the same webhook-id"
    );
    assert_eq!(got[1].event(), "video.created");
    let list = settled(&app).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["state"], "delivered");
    assert_eq!(list[0]["attempts"], 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hooks.received().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_end_when_the_server_shuts_down() {
    let hooks = Receiver::start(Answer::Ok);
    let mut app = spawn_webhook_app(&hooks, |_| {}).await;
    let body = submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
    let uuid = body["uuid"].as_str().unwrap();
    let res = app
        .client
        .get(app.url(&format!("/api/v1/videos/{uuid}/events")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let missing = crate::video_helpers::get(
        &app,
        "/api/v1/videos/00000000-0000-4000-8000-000000000000/events",
    )
    .await;
    assert_eq!(missing.status(), 404);
    let started = std::time::Instant::now();
    app.shutdown.shutdown();
    let text = tokio::time::timeout(Duration::from_secs(5), res.text())
        .await
        .expect("the stream ends with the shutdown")
        .unwrap();
    assert!(text.starts_with("retry: 3000\n\nevent: video\n"), "{text}");
    tokio::time::timeout(Duration::from_secs(5), &mut app.running)
        .await
        .expect("the shutdown does not wait for the stream")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}
