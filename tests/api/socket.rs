//! The socket hub with real clients: npm `socket.io-client` (as `peertube-runner` uses
//! it, and with its default and polling-only transports) and `rust_socketio`.

use std::time::Duration;

use futures_util::FutureExt;
use peertube_runner_connector::service;
use peertube_runner_connector::socket::runners::AUTH_UNAVAILABLE;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::socket_helpers::{
    NodeClient, RawRunner, WAIT, eventually, make_job_pending, spawn_hub_app_with,
};

#[tokio::test]
async fn a_websocket_runner_connecting_like_peertube_runner_gets_available_jobs() {
    let app = spawn_hub_app_with(|_| {}).await;
    let (_, token) = app.register_runner("r1").await;
    let mut client = NodeClient::spawn(
        &app.url("/runners"),
        Some(&["websocket"]),
        json!({ "runnerToken": token }),
        false,
    );
    let connect = client.wait_for("connect").await;
    assert_eq!(connect["transport"], "websocket");
    assert_eq!(app.state.hub.stats().websocket_sessions, 1);
    make_job_pending(&app).await;
    let event = client.wait_for("available-jobs").await;
    assert_eq!(event["args"], json!([]));
    assert_eq!(app.state.hub.stats().broadcasts, 1);
}

#[tokio::test]
async fn default_transports_poll_then_upgrade_to_websocket_and_get_available_jobs() {
    let app = spawn_hub_app_with(|_| {}).await;
    let (_, token) = app.register_runner("r1").await;
    let mut client = NodeClient::spawn(
        &app.url("/runners"),
        None,
        json!({ "runnerToken": token }),
        false,
    );
    // socket.io-client probes WebSocket as soon as the polling session opens, so the
    // namespace CONNECT may complete on either transport.
    assert_eq!(client.wait_for("upgrade").await["transport"], "websocket");
    if !client.seen.iter().any(|e| e["event"] == "connect") {
        client.wait_for("connect").await;
    }
    // The client switches after sending the upgrade packet; the server follows.
    eventually(|| {
        let stats = app.state.hub.stats();
        (stats.polling_sessions, stats.websocket_sessions) == (0, 1)
    })
    .await;
    make_job_pending(&app).await;
    assert_eq!(
        client.wait_for("available-jobs").await["transport"],
        "websocket"
    );
}

#[tokio::test]
async fn a_polling_only_runner_gets_available_jobs() {
    let app = spawn_hub_app_with(|_| {}).await;
    let (_, token) = app.register_runner("r1").await;
    let mut client = NodeClient::spawn(
        &app.url("/runners"),
        Some(&["polling"]),
        json!({ "runnerToken": token }),
        false,
    );
    assert_eq!(client.wait_for("connect").await["transport"], "polling");
    assert_eq!(app.state.hub.stats().polling_sessions, 1);
    make_job_pending(&app).await;
    assert_eq!(
        client.wait_for("available-jobs").await["transport"],
        "polling"
    );
}

#[tokio::test]
async fn bad_tokens_get_peertube_connect_errors_on_every_transport() {
    let app = spawn_hub_app_with(|_| {}).await;
    for transports in [Some(&["websocket"][..]), Some(&["polling"][..]), None] {
        for (auth, message) in [
            (json!({}), "No runner token provided"),
            (json!({ "runnerToken": "" }), "No runner token provided"),
            (json!({ "runnerToken": 42 }), "Runner token is invalid"),
            (
                json!({ "runnerToken": "ptrt-unknown" }),
                "Invalid runner token.",
            ),
        ] {
            let mut client = NodeClient::spawn(&app.url("/runners"), transports, auth, false);
            let event = client.wait_for("connect_error").await;
            assert_eq!(event["message"], message, "{transports:?}");
        }
    }
    assert_eq!(app.state.hub.sockets_in("/runners"), 0);
}

#[tokio::test]
async fn a_runner_registered_with_a_trailing_slash_joins_through_double_slash() {
    let app = spawn_hub_app_with(|_| {}).await;
    let (_, token) = app.register_runner("r1").await;
    // peertube-runner builds `url + '/runners'`; with `--url http://host/` that is `//runners`.
    let url = format!("{}/{}", app.address, "/runners");
    let mut client = NodeClient::spawn(
        &url,
        Some(&["websocket"]),
        json!({ "runnerToken": token }),
        false,
    );
    client.wait_for("connect").await;
    assert_eq!(app.state.hub.sockets_in("/runners"), 1);
    make_job_pending(&app).await;
    client.wait_for("available-jobs").await;
}

#[tokio::test]
async fn a_deleted_runner_is_disconnected_by_the_server() {
    let app = spawn_hub_app_with(|_| {}).await;
    let (id, token) = app.register_runner("r1").await;
    let (_, other) = app.register_runner("r2").await;
    let mut client = NodeClient::spawn(
        &app.url("/runners"),
        Some(&["websocket"]),
        json!({ "runnerToken": token }),
        false,
    );
    let mut bystander = RawRunner::connect(app.port, &other).await;
    client.wait_for("connect").await;
    service::runners::delete(&app.state.db, &app.state.events, id)
        .await
        .unwrap();
    // A namespace DISCONNECT from the server: socket.io-client does not reconnect.
    assert_eq!(
        client.wait_for("disconnect").await["reason"],
        "io server disconnect"
    );
    eventually(|| app.state.hub.sockets_in("/runners") == 1).await;
    assert_eq!(app.state.hub.stats().kicked, 1);
    make_job_pending(&app).await;
    assert_eq!(
        bystander.next_text().await,
        "42/runners,[\"available-jobs\"]"
    );
}

async fn rename_runners_table(app: &crate::helpers::TestApp, from: &'static str, to: &'static str) {
    app.state
        .db
        .run(move |conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query(format!("ALTER TABLE {from} RENAME TO {to}")).execute(conn)?;
            Ok::<_, peertube_runner_connector::db::DbError>(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_database_error_is_not_an_unknown_token_and_the_runner_retries() {
    let app = spawn_hub_app_with(|_| {}).await;
    let (_, token) = app.register_runner("r1").await;
    rename_runners_table(&app, "runners", "runners_away").await;

    // Refused at the transport level with a distinct reason, never `Invalid runner token.`.
    let mut raw = RawRunner::open(app.port).await;
    raw.send(&format!("40/runners,{{\"runnerToken\":\"{token}\"}}"))
        .await;
    match raw.next_message().await {
        Some(Message::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 1013);
            assert_eq!(frame.reason, AUTH_UNAVAILABLE);
        }
        other => panic!("expected a close frame, got {other:?}"),
    }

    // socket.io-client reconnects by itself and joins once the database is back.
    let mut client = NodeClient::spawn(
        &app.url("/runners"),
        Some(&["websocket"]),
        json!({ "runnerToken": token }),
        true,
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    rename_runners_table(&app, "runners_away", "runners").await;
    client.wait_for("connect").await;
    assert!(
        client.seen.iter().all(|e| e["event"] != "connect_error"),
        "{:?}",
        client.seen
    );
    make_job_pending(&app).await;
    client.wait_for("available-jobs").await;
}

fn rust_client(
    port: u16,
    token: Value,
    transport: TransportType,
    tx: mpsc::UnboundedSender<String>,
) -> ClientBuilder {
    let (jobs_tx, err_tx) = (tx.clone(), tx.clone());
    ClientBuilder::new(format!("http://127.0.0.1:{port}/"))
        .namespace("/runners")
        .auth(json!({ "runnerToken": token }))
        .transport_type(transport)
        .reconnect(false)
        .on("open", move |_: Payload, _: Client| {
            let tx = tx.clone();
            async move {
                let _ = tx.send("connect".to_owned());
            }
            .boxed()
        })
        // rust_socketio 0.6 reports an event without arguments, `["available-jobs"]`,
        // as a "message" event whose payload is the event name.
        .on_any(move |event: Event, payload: Payload, _: Client| {
            let tx = jobs_tx.clone();
            let named = match (&event, &payload) {
                (Event::Custom(name), _) => name == "available-jobs",
                (Event::Message, Payload::Text(values)) => values == &[json!("available-jobs")],
                _ => false,
            };
            async move {
                if named {
                    let _ = tx.send("available-jobs".to_owned());
                }
            }
            .boxed()
        })
        .on("error", move |payload: Payload, _: Client| {
            let tx = err_tx.clone();
            async move {
                let _ = tx.send(format!("error: {payload:?}"));
            }
            .boxed()
        })
}

async fn next_matching(rx: &mut mpsc::UnboundedReceiver<String>, what: &str) -> String {
    loop {
        let got = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what}"))
            .unwrap();
        if got.starts_with(what) {
            return got;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_socketio_clients_get_available_jobs_and_connect_errors() {
    let app = spawn_hub_app_with(|_| {}).await;
    let (_, token) = app.register_runner("r1").await;
    for (name, transport) in [
        ("websocket", TransportType::Websocket),
        ("any", TransportType::Any),
        ("polling", TransportType::Polling),
    ] {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let client = rust_client(app.port, json!(token), transport, tx)
            .connect()
            .await
            .unwrap();
        next_matching(&mut rx, "connect").await;
        make_job_pending(&app).await;
        let got = tokio::time::timeout(WAIT, next_matching(&mut rx, "available-jobs")).await;
        assert!(got.is_ok(), "{name}: no available-jobs");
        client.disconnect().await.unwrap();
    }
    for (token, message) in [
        (json!("ptrt-unknown"), "Invalid runner token."),
        (json!(7), "Runner token is invalid"),
    ] {
        let (tx, mut rx) = mpsc::unbounded_channel();
        // connect() succeeds even when the namespace refuses: the error callback says it.
        let client = rust_client(app.port, token, TransportType::Websocket, tx)
            .connect()
            .await
            .unwrap();
        let error = next_matching(&mut rx, "error").await;
        assert!(error.contains(message), "{error}");
        let _ = client.disconnect().await;
    }
}
