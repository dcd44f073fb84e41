//! The socket hub at the wire level: HTTP rejections, debounce and re-announce timing,
//! and 1,000 concurrent WebSocket runners receiving one broadcast.

use std::time::Duration;

use futures_util::StreamExt;
use peertube_runner_connector::service::events::Event;
use serde_json::{Value, json};

use crate::socket_helpers::{
    RawRunner, eventually, insert_pending_job, make_job_pending, spawn_hub_app_with,
};

const AVAILABLE_JOBS: &str = "42/runners,[\"available-jobs\"]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_websocket_runners_all_receive_one_broadcast() {
    let app = spawn_hub_app_with(|_| {}).await;
    let (_, token) = app.register_runner("fleet").await;
    let port = app.port;
    let runners: Vec<RawRunner> = futures_util::stream::iter(0..1000)
        .map(|_| {
            let token = token.clone();
            async move { RawRunner::connect(port, &token).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert_eq!(app.state.hub.sockets_in("/runners"), 1000);
    assert_eq!(app.state.hub.stats().websocket_sessions, 1000);

    make_job_pending(&app).await;
    let received = futures_util::future::join_all(runners.into_iter().map(|mut r| async move {
        let text = r.next_text().await;
        (text, r)
    }))
    .await;
    assert!(received.iter().all(|(text, _)| text == AVAILABLE_JOBS));
    let stats = app.state.hub.stats();
    assert_eq!((stats.broadcasts, stats.broadcast_messages), (1, 1000));

    drop(received);
    eventually(|| app.state.hub.stats().websocket_sessions == 0).await;
    assert_eq!(app.state.hub.sockets_in("/runners"), 0);
}

#[tokio::test]
async fn the_first_event_is_announced_at_once_and_a_burst_makes_one_more_broadcast() {
    let app = spawn_hub_app_with(|s| s.socket.debounce = Duration::from_millis(300)).await;
    let (_, token) = app.register_runner("r").await;
    let mut runner = RawRunner::connect(app.port, &token).await;
    for _ in 0..5 {
        app.state.events.publish(Event::JobsAvailable);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The first event went out on its own (the leading edge).
    assert_eq!(runner.next_text().await, AVAILABLE_JOBS);
    // The four others: one broadcast when the window closes, then nothing.
    assert_eq!(runner.next_text().await, AVAILABLE_JOBS);
    let third = tokio::time::timeout(Duration::from_millis(700), runner.next_text()).await;
    assert!(third.is_err(), "a third broadcast: {third:?}");
    assert_eq!(app.state.hub.stats().broadcasts, 2);
}

#[tokio::test]
async fn available_jobs_is_reannounced_only_while_a_job_is_pending() {
    let app =
        spawn_hub_app_with(|s| s.socket.reannounce_interval = Duration::from_millis(200)).await;
    let (_, token) = app.register_runner("r").await;
    let mut runner = RawRunner::connect(app.port, &token).await;
    let quiet = tokio::time::timeout(Duration::from_millis(700), runner.next_text()).await;
    assert!(
        quiet.is_err(),
        "re-announced without pending jobs: {quiet:?}"
    );
    // A job became pending and its event was missed: the re-announce catches it.
    insert_pending_job(&app).await;
    assert_eq!(runner.next_text().await, AVAILABLE_JOBS);
    assert_eq!(runner.next_text().await, AVAILABLE_JOBS);
}

async fn get(app: &crate::helpers::TestApp, path_and_query: &str) -> (u16, String) {
    let res = app
        .client
        .get(app.url(path_and_query))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn engine_io_rejections_are_400_with_the_reference_error_bodies() {
    let app = spawn_hub_app_with(|_| {}).await;
    for (path, code, message) in [
        (
            "/socket.io/?transport=polling",
            5,
            "Unsupported protocol version",
        ),
        (
            "/socket.io/?EIO=3&transport=polling",
            5,
            "Unsupported protocol version",
        ),
        ("/socket.io/?EIO=4", 0, "Transport unknown"),
        ("/socket.io/?EIO=4&transport=flash", 0, "Transport unknown"),
        (
            "/socket.io/?EIO=4&transport=polling&sid=nope",
            1,
            "Session ID unknown",
        ),
        ("/socket.io/?EIO=4&transport=websocket", 3, "Bad request"),
    ] {
        let (status, body) = get(&app, path).await;
        assert_eq!(status, 400, "{path}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body, json!({"code": code, "message": message}), "{path}");
    }
    let res = app
        .client
        .post(app.url("/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], 2);
    // With and without the trailing slash.
    for path in [
        "/socket.io/?EIO=4&transport=polling",
        "/socket.io?EIO=4&transport=polling",
    ] {
        let (status, body) = get(&app, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(body.starts_with("0{\"sid\":"), "{body}");
        let open: Value = serde_json::from_str(&body[1..]).unwrap();
        assert_eq!(open["upgrades"], json!(["websocket"]));
        assert_eq!(open["pingInterval"], 25000);
        assert_eq!(open["pingTimeout"], 20000);
        assert_eq!(open["maxPayload"], 1_000_000);
    }
}

#[tokio::test]
async fn a_polling_session_joins_and_a_payload_over_max_payload_closes_it() {
    let app = spawn_hub_app_with(|s| s.socket.max_payload = 200).await;
    let (_, token) = app.register_runner("r").await;
    let (_, open) = get(&app, "/socket.io/?EIO=4&transport=polling").await;
    let sid = serde_json::from_str::<Value>(&open[1..]).unwrap()["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = app.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"));
    let res = app
        .client
        .post(&url)
        .body(format!("40/runners,{{\"runnerToken\":\"{token}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (res.status().as_u16(), res.text().await.unwrap()),
        (200, "ok".to_owned())
    );
    let body = app
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.starts_with("40/runners,{\"sid\":"), "{body}");
    assert_eq!(app.state.hub.sockets_in("/runners"), 1);

    let res = app
        .client
        .post(&url)
        .body("4".repeat(201))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let (status, _) = get(
        &app,
        &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(app.state.hub.sockets_in("/runners"), 0);
}

#[tokio::test]
async fn unknown_namespaces_and_malformed_packets_are_refused() {
    let app = spawn_hub_app_with(|_| {}).await;
    let mut r = RawRunner::open(app.port).await;
    r.send("40/admin,{}").await;
    assert_eq!(
        r.next_text().await,
        "44/admin,{\"message\":\"Invalid namespace\"}"
    );
    r.send("40").await;
    assert_eq!(r.next_text().await, "44{\"message\":\"Invalid namespace\"}");
    r.send("42{}").await;
    assert!(matches!(
        r.next_message().await,
        Some(tokio_tungstenite::tungstenite::Message::Close(_)) | None
    ));
}
