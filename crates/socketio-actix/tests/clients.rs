//! The hub on a real actix-web server, driven by real clients: `rust_socketio` (WebSocket,
//! polling, polling upgraded to WebSocket) and raw WebSocket and HTTP clients for what
//! must be checked at the wire level (close codes, attachments, polling packets).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{App, HttpServer};
use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Payload, TransportType};
use serde_json::{Value, json};
use socketio_actix::{Admission, ClientEvent, Hub, HubConfig, Namespace, Reply};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest wait for something that should happen.
const WAIT: Duration = Duration::from_secs(10);

/// `/private`: `auth: {token: "good-N"}` joins as owner N, `down` cannot be checked
/// (after 100 ms), anything else is refused. `/` is open. Both answer:
/// - `whoami` (ack) → `[owner]`;
/// - `add` (ack) → `[sum of the arguments]`;
/// - `echo` → `echo-back` with the same arguments and attachments, acknowledged the
///   same way when an ack is asked.
fn test_hub(config: HubConfig) -> Hub<i64> {
    let private = Namespace::new(|auth: Option<Value>| async move {
        let token = auth
            .as_ref()
            .and_then(|a| a.get("token"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if token == "down" {
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Admission::unavailable("database down, retry later");
        }
        match token.strip_prefix("good-").and_then(|n| n.parse().ok()) {
            Some(owner) => Admission::owned_by(owner),
            None => Admission::reject("bad token"),
        }
    })
    .on_event(answer);
    Hub::builder(config)
        .namespace("/", Namespace::open().on_event(answer))
        .namespace("/private", private)
        .build()
}

async fn answer(event: ClientEvent<i64>) -> Vec<Reply> {
    let args = event.args().to_vec();
    match (event.name(), event.ack) {
        (Some("whoami"), Some(id)) => vec![Reply::ack(id, json!([event.owner]))],
        (Some("add"), Some(id)) => {
            let sum: i64 = args.iter().filter_map(Value::as_i64).sum();
            vec![Reply::ack(id, json!([sum]))]
        }
        (Some("echo"), None) => {
            let mut data = vec![json!("echo-back")];
            data.extend(args);
            vec![Reply::emit(Value::Array(data)).with_attachments(event.attachments)]
        }
        (Some("echo"), Some(id)) => {
            vec![Reply::ack(id, Value::Array(args)).with_attachments(event.attachments)]
        }
        _ => Vec::new(),
    }
}

struct Server {
    port: u16,
    hub: Hub<i64>,
}

async fn start(config: HubConfig) -> Server {
    let hub = test_hub(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = hub.clone();
    let server = HttpServer::new(move || {
        App::new().service(socketio_actix::resource("/socket.io", served.clone()))
    })
    .workers(2)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    Server { port, hub }
}

fn fast_heartbeat() -> HubConfig {
    HubConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        ..HubConfig::default()
    }
}

async fn eventually(mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "condition not met");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What a `rust_socketio` client saw.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Connected,
    Event(String, Payload),
    Error(String),
}

fn rust_client(port: u16, nsp: &str, auth: Value, transport: TransportType) -> ClientBuilder {
    ClientBuilder::new(format!("http://127.0.0.1:{port}/"))
        .namespace(nsp)
        .auth(auth)
        .transport_type(transport)
        .reconnect(false)
}

async fn connect(
    builder: ClientBuilder,
    events: &[&str],
) -> (Client, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (connected, failed) = (tx.clone(), tx.clone());
    let mut builder = builder
        .on("open", move |_: Payload, _: Client| {
            let tx = connected.clone();
            async move {
                let _ = tx.send(Seen::Connected);
            }
            .boxed()
        })
        .on("error", move |payload: Payload, _: Client| {
            let tx = failed.clone();
            async move {
                let _ = tx.send(Seen::Error(format!("{payload:?}")));
            }
            .boxed()
        });
    for name in events {
        let tx = tx.clone();
        let name = (*name).to_owned();
        builder = builder.on(name.clone(), move |payload: Payload, _: Client| {
            let (tx, name) = (tx.clone(), name.clone());
            async move {
                let _ = tx.send(Seen::Event(name, payload));
            }
            .boxed()
        });
    }
    (builder.connect().await.unwrap(), rx)
}

async fn next_seen(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("nothing seen in time")
        .expect("client gone")
}

async fn ack(client: &Client, event: &str, args: Vec<Value>) -> Payload {
    let (tx, mut rx) = mpsc::unbounded_channel();
    client
        .emit_with_ack(event, Payload::Text(args), WAIT, move |p: Payload, _| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(p);
            }
            .boxed()
        })
        .await
        .unwrap();
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no ack in time")
        .expect("ack dropped")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_socketio_joins_on_every_transport_with_acks_binary_and_broadcasts() {
    let server = start(fast_heartbeat()).await;
    for (name, transport) in [
        ("websocket", TransportType::Websocket),
        ("polling", TransportType::Polling),
        ("any", TransportType::Any),
    ] {
        let builder = rust_client(
            server.port,
            "/private",
            json!({"token": "good-7"}),
            transport,
        );
        let (client, mut seen) = connect(builder, &["echo-back", "news", "private"]).await;
        assert_eq!(next_seen(&mut seen).await, Seen::Connected, "{name}");
        assert_eq!(server.hub.sockets_in("/private"), 1);

        // rust_socketio hands an ack's arguments over as one array.
        let who = ack(&client, "whoami", Vec::new()).await;
        assert_eq!(who, Payload::Text(vec![json!([7])]), "{name}");
        let sum = ack(&client, "add", vec![json!(2), json!(40)]).await;
        assert_eq!(sum, Payload::Text(vec![json!([42])]), "{name}");

        let bytes = Bytes::from_static(&[0, 1, 2, 255]);
        client
            .emit("echo", Payload::Binary(bytes.clone()))
            .await
            .unwrap();
        assert_eq!(
            next_seen(&mut seen).await,
            Seen::Event("echo-back".into(), Payload::Binary(bytes)),
            "{name}"
        );

        // Longer than a heartbeat round: the client answers pings and stays.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(
            server.hub.broadcast("/private", "news", &[json!("hello")]),
            1
        );
        assert_eq!(
            next_seen(&mut seen).await,
            Seen::Event("news".into(), Payload::Text(vec![json!("hello")]))
        );
        assert_eq!(server.hub.emit_to_owner("/private", &8, "private", &[]), 0);
        assert_eq!(
            server
                .hub
                .emit_to_owner("/private", &7, "private", &[json!(1)]),
            1
        );
        assert_eq!(
            next_seen(&mut seen).await,
            Seen::Event("private".into(), Payload::Text(vec![json!(1)]))
        );
        client.disconnect().await.unwrap();
        eventually(|| server.hub.stats().namespace_sockets == 0).await;
    }
    eventually(|| {
        let stats = server.hub.stats();
        stats.polling_sessions + stats.websocket_sessions == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_client_upgrades_to_websocket() {
    let server = start(HubConfig::default()).await;
    let builder = rust_client(server.port, "/", json!({}), TransportType::WebsocketUpgrade);
    let (client, mut seen) = connect(builder, &[]).await;
    assert_eq!(next_seen(&mut seen).await, Seen::Connected);
    eventually(|| {
        let stats = server.hub.stats();
        (stats.polling_sessions, stats.websocket_sessions) == (0, 1)
    })
    .await;
    let sum = ack(&client, "add", vec![json!(1), json!(1)]).await;
    assert_eq!(sum, Payload::Text(vec![json!([2])]));
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_is_a_connect_error_with_its_message() {
    let server = start(HubConfig::default()).await;
    for (name, transport) in [
        ("websocket", TransportType::Websocket),
        ("polling", TransportType::Polling),
    ] {
        let builder = rust_client(
            server.port,
            "/private",
            json!({"token": "forged"}),
            transport,
        );
        let (client, mut seen) = connect(builder, &[]).await;
        match next_seen(&mut seen).await {
            Seen::Error(e) => assert!(e.contains("bad token"), "{name}: {e}"),
            other => panic!("{name}: expected a connect error, got {other:?}"),
        }
        let _ = client.disconnect().await;
    }
    assert_eq!(server.hub.sockets_in("/private"), 0);
}

/// A raw Engine.IO client over WebSocket.
struct Raw {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Raw {
    async fn open(port: u16) -> Raw {
        let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut raw = Raw { ws };
        let open = raw.next_text().await;
        assert!(open.starts_with("0{\"sid\":"), "{open}");
        raw
    }

    /// Opens a session and joins `nsp` with `auth`, expecting the CONNECT answer.
    async fn join(port: u16, nsp: &str, auth: Value) -> Raw {
        let mut raw = Raw::open(port).await;
        // The main namespace is not written.
        let prefix = if nsp == "/" {
            String::new()
        } else {
            format!("{nsp},")
        };
        raw.send(&format!("40{prefix}{auth}")).await;
        let joined = raw.next_text().await;
        assert!(
            joined.starts_with(&format!("40{prefix}{{\"sid\":")),
            "{joined}"
        );
        raw
    }

    async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws.send(Message::binary(bytes.to_vec())).await.unwrap();
    }

    /// The next message other than Engine.IO pings (answered) and WebSocket pings.
    async fn next_message(&mut self) -> Option<Message> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("nothing received in time")?
                .ok()?;
            match msg {
                Message::Text(t) if t == "2" => self.send("3").await,
                Message::Ping(_) | Message::Pong(_) => {}
                other => return Some(other),
            }
        }
    }

    async fn next_text(&mut self) -> String {
        match self.next_message().await {
            Some(Message::Text(t)) => t,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    async fn next_close(&mut self) -> (u16, String) {
        match self.next_message().await {
            Some(Message::Close(Some(frame))) => (u16::from(frame.code), frame.reason.to_string()),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_are_reassembled_and_sent_back_after_their_packet() {
    let server = start(HubConfig::default()).await;
    let mut raw = Raw::join(server.port, "/private", json!({"token": "good-1"})).await;
    raw.send(
        r#"452-/private,["echo",{"_placeholder":true,"num":0},"x",{"_placeholder":true,"num":1}]"#,
    )
    .await;
    raw.send_binary(&[1, 2, 3]).await;
    raw.send_binary(&[4]).await;
    assert_eq!(
        raw.next_text().await,
        r#"452-/private,["echo-back",{"_placeholder":true,"num":0},"x",{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(
        raw.next_message().await,
        Some(Message::binary(vec![1, 2, 3]))
    );
    assert_eq!(raw.next_message().await, Some(Message::binary(vec![4])));

    // With an ack id: a BINARY_ACK.
    raw.send(r#"451-/private,12["echo",{"_placeholder":true,"num":0}]"#)
        .await;
    raw.send_binary(&[9]).await;
    assert_eq!(
        raw.next_text().await,
        r#"461-/private,12[{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(raw.next_message().await, Some(Message::binary(vec![9])));

    // The main namespace needs no auth; events on a namespace not joined are ignored.
    raw.send("40").await;
    assert!(raw.next_text().await.starts_with("40{\"sid\":"));
    raw.send("42/other,5[\"add\",1]").await;
    raw.send("425[\"add\",1,2,3]").await;
    assert_eq!(raw.next_text().await, "435[6]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_namespaces_and_malformed_packets_are_refused() {
    let server = start(HubConfig::default()).await;
    let mut raw = Raw::open(server.port).await;
    raw.send("40/admin,{}").await;
    assert_eq!(
        raw.next_text().await,
        r#"44/admin,{"message":"Invalid namespace"}"#
    );
    // A client may not emit reserved event names.
    raw.send(r#"42["disconnect"]"#).await;
    assert!(matches!(
        raw.next_message().await,
        Some(Message::Close(_)) | None
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_closes_the_websocket_with_1013_and_the_polling_session_with_a_close_packet() {
    let server = start(HubConfig::default()).await;
    let mut raw = Raw::open(server.port).await;
    raw.send(r#"40/private,{"token":"down"}"#).await;
    assert_eq!(
        raw.next_close().await,
        (1013, "database down, retry later".to_owned())
    );

    let polling = Polling::open(server.port).await;
    polling.post(r#"40/private,{"token":"down"}"#).await;
    // The GET is pending when the callback answers (it takes 100 ms).
    assert_eq!(polling.get().await, (200, "1".to_owned()));
    assert_eq!(polling.get().await.0, 400);
    assert_eq!(server.hub.stats().namespace_sockets, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnecting_an_owner_leaves_the_other_sockets_connected() {
    let server = start(HubConfig::default()).await;
    let mut three = Raw::join(server.port, "/private", json!({"token": "good-3"})).await;
    let mut four = Raw::join(server.port, "/private", json!({"token": "good-4"})).await;
    let mut open = Raw::join(server.port, "/", json!({})).await;
    assert_eq!(server.hub.disconnect_owner("/private", &3), 1);
    assert_eq!(three.next_text().await, "41/private,");
    assert!(matches!(
        three.next_message().await,
        Some(Message::Close(_)) | None
    ));
    eventually(|| server.hub.sockets_in("/private") == 1).await;
    assert_eq!(server.hub.stats().kicked, 1);
    assert_eq!(server.hub.broadcast("/private", "tick", &[]), 1);
    assert_eq!(four.next_text().await, r#"42/private,["tick"]"#);
    assert_eq!(server.hub.broadcast("/", "tock", &[json!(null)]), 1);
    assert_eq!(open.next_text().await, r#"42["tock",null]"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_answer_pings_is_closed() {
    let server = start(fast_heartbeat()).await;
    let url = format!(
        "ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket",
        server.port
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let start = tokio::time::Instant::now();
    let mut texts = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Text(t))) => texts.push(t),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    assert!(texts[0].starts_with("0{"), "{texts:?}");
    assert!(texts[0].contains(r#""pingInterval":300,"pingTimeout":200"#));
    assert_eq!(texts[1..], ["2"]);
    // Closed after one ping interval plus the ping timeout, not before.
    assert!(
        start.elapsed() >= Duration::from_millis(450),
        "{:?}",
        start.elapsed()
    );
}

/// A raw Engine.IO client over HTTP long-polling.
struct Polling {
    http: reqwest::Client,
    url: String,
}

impl Polling {
    async fn open(port: u16) -> Polling {
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling");
        let open = http.get(&base).send().await.unwrap().text().await.unwrap();
        let handshake: Value = serde_json::from_str(&open[1..]).unwrap();
        assert_eq!(handshake["upgrades"], json!(["websocket"]));
        let sid = handshake["sid"].as_str().unwrap();
        Polling {
            http,
            url: format!("{base}&sid={sid}"),
        }
    }

    async fn post(&self, body: &str) -> u16 {
        let res = self
            .http
            .post(&self.url)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        res.status().as_u16()
    }

    async fn get(&self) -> (u16, String) {
        let res = tokio::time::timeout(WAIT, self.http.get(&self.url).send())
            .await
            .expect("poll not answered in time")
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_carries_packets_both_ways_and_enforces_max_payload() {
    let server = start(HubConfig {
        max_payload: 200,
        ..HubConfig::default()
    })
    .await;
    let polling = Polling::open(server.port).await;
    assert_eq!(polling.post("40").await, 200);
    let (status, body) = polling.get().await;
    assert_eq!(status, 200);
    assert!(body.starts_with("40{\"sid\":"), "{body}");
    // Two packets in one payload, each answered.
    assert_eq!(
        polling.post("427[\"add\",20,22]\u{1e}421[\"add\"]").await,
        200
    );
    let mut answers = polling.get().await.1;
    if !answers.contains('\u{1e}') {
        answers = format!("{answers}\u{1e}{}", polling.get().await.1);
    }
    assert_eq!(answers, "437[42]\u{1e}431[0]");
    // A binary attachment travels base64-encoded.
    polling
        .post("451-8[\"echo\",{\"_placeholder\":true,\"num\":0}]\u{1e}bAQID")
        .await;
    assert_eq!(
        polling.get().await.1,
        "461-8[{\"_placeholder\":true,\"num\":0}]\u{1e}bAQID"
    );

    let res = polling
        .http
        .post(&polling.url)
        .body("4".repeat(201))
        .send()
        .await;
    assert_eq!(res.unwrap().status(), 413);
    assert_eq!(polling.get().await.0, 400);
    eventually(|| server.hub.stats().polling_sessions == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_io_requests_are_checked_like_the_reference_server() {
    let server = start(HubConfig::default()).await;
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", server.port);
    for (query, code, message) in [
        ("transport=polling", 5, "Unsupported protocol version"),
        ("EIO=3&transport=polling", 5, "Unsupported protocol version"),
        ("EIO=4", 0, "Transport unknown"),
        ("EIO=4&transport=flash", 0, "Transport unknown"),
        ("EIO=4&transport=polling&sid=nope", 1, "Session ID unknown"),
        ("EIO=4&transport=websocket", 3, "Bad request"),
    ] {
        let res = http
            .get(format!("{base}/socket.io/?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{query}");
        let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        assert_eq!(body, json!({"code": code, "message": message}), "{query}");
    }
    let res = http
        .post(format!("{base}/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // With and without the trailing slash.
    for path in ["/socket.io/", "/socket.io"] {
        let res = http
            .get(format!("{base}{path}?EIO=4&transport=polling"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_websockets_with_1001_and_polling_sessions_with_a_close_packet() {
    let server = start(HubConfig::default()).await;
    let mut ws = Raw::join(server.port, "/private", json!({"token": "good-1"})).await;
    let polling = Polling::open(server.port).await;
    polling.post("40").await;
    assert!(polling.get().await.1.starts_with("40{\"sid\":"));
    let pending = {
        let (http, url) = (polling.http.clone(), polling.url.clone());
        tokio::spawn(async move { http.get(url).send().await.unwrap().text().await.unwrap() })
    };
    eventually(|| server.hub.stats().polling_sessions == 1).await;
    // Let the GET reach its session.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let closed = server.hub.shutdown();
    assert_eq!(
        (closed.websocket, closed.polling, closed.namespace_sockets),
        (1, 1, 2)
    );
    assert_eq!(ws.next_close().await.0, u16::from(CloseCode::Away));
    assert_eq!(pending.await.unwrap(), "1");
    tokio::time::timeout(WAIT, server.hub.sessions_closed())
        .await
        .expect("sessions still open");
    let res = polling
        .http
        .get(format!(
            "http://127.0.0.1:{}/socket.io/?EIO=4&transport=polling",
            server.port
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
}
