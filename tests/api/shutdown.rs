//! Graceful shutdown: runner sockets closed at once with a transport close (and the
//! real socket.io-client reconnecting), requests finished or refused within the grace
//! period and named in the log, background tasks stopped. The SIGTERM tests run the
//! real binary.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use peertube_runner_connector::service::jobs::watchdog;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::TestDb;
use crate::media::sample;
use crate::socket_helpers::{NodeClient, RawRunner, WAIT, eventually, spawn_hub_app_with};
use crate::video_helpers::{KEY, spawn_video_app_with};

/// The binary serving on a free port, its JSON log lines collected.
struct Served {
    child: Child,
    port: u16,
    logs: Arc<Mutex<Vec<Value>>>,
    db: TestDb,
    dir: tempfile::TempDir,
}

impl Served {
    async fn start(env: &[(&str, &str)]) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(dir.path());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_peertube-runner-connector"));
        for (k, _) in std::env::vars() {
            if k.starts_with("PRC_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.env("PRC_DATA_DIR", dir.path())
            .env("PRC_DATABASE__URL", &db.url)
            .env("PRC_SERVER__WORKERS", "2")
            .env("PRC_LOG__FORMAT", "json")
            .envs(env.iter().copied())
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let v = serde_json::from_str(&line).unwrap_or_else(|_| json!({ "raw": line }));
                sink.lock().unwrap().push(v);
            }
        });
        let mut served = Served {
            child,
            port: 0,
            logs,
            db,
            dir,
        };
        let listening = served.wait_log("listening").await;
        let addr = listening["fields"]["addr"].as_str().unwrap();
        served.port = addr.rsplit(':').next().unwrap().parse().unwrap();
        served
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The first log line whose message starts with `message` (waits for it).
    async fn wait_log(&self, message: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(v) = self.logs.lock().unwrap().iter().find(|v| {
                v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(message))
            }) {
                return v.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no log line {message:?} in {:?}",
                self.logs.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Registers a runner through the API; returns its runner token.
    async fn register_runner(&self, name: &str) -> String {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_peertube-runner-connector"))
            .env("PRC_DATA_DIR", self.dir.path())
            .args([
                "--database-url",
                &self.db.url,
                "registration-token",
                "create",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let body: Value = reqwest::Client::new()
            .post(self.url("/api/v1/runners/register"))
            .json(&json!({ "registrationToken": token, "name": name }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["runnerToken"].as_str().unwrap().to_owned()
    }

    fn sigterm(&self) {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit (a bound only so that a hang fails the test).
    async fn exit_status(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("still running; log: {:?}", self.logs.lock().unwrap()))
            .unwrap()
    }
}

/// Reads the next frame, answering Engine.IO pings; `None` once the connection ended.
async fn next_frame(raw: &mut RawRunner) -> Option<Message> {
    loop {
        match raw.next_message().await {
            Some(Message::Text(t)) if t == "2" => raw.send("3").await,
            other => return other,
        }
    }
}

#[tokio::test]
async fn sigterm_closes_runner_sockets_at_once_and_socket_io_clients_reconnect() {
    let mut served = Served::start(&[]).await;
    let (a, b, c) = (
        served.register_runner("ws").await,
        served.register_runner("polling").await,
        served.register_runner("raw").await,
    );
    let url = served.url("/runners");
    let mut websocket = NodeClient::spawn(
        &url,
        Some(&["websocket"]),
        json!({ "runnerToken": a }),
        true,
    );
    let mut polling =
        NodeClient::spawn(&url, Some(&["polling"]), json!({ "runnerToken": b }), true);
    let mut raw = RawRunner::connect(served.port, &c).await;
    websocket.wait_for("connect").await;
    polling.wait_for("connect").await;

    served.sigterm();

    // A WebSocket close frame, "going away", and no Socket.IO DISCONNECT before it.
    match next_frame(&mut raw).await {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close frame, got {other:?}"),
    }
    // socket.io-client sees a transport close (not "io server disconnect", after which
    // it would never reconnect) and starts reconnecting, on both transports.
    for client in [&mut websocket, &mut polling] {
        assert_eq!(
            client.wait_for("disconnect").await["reason"],
            "transport close"
        );
        client.wait_for("reconnect_attempt").await;
    }
    let status = served.exit_status().await;
    assert!(status.success(), "{status}");
    let closed = served.wait_log("runner sockets closed").await;
    assert_eq!(
        (
            &closed["fields"]["websocket"],
            &closed["fields"]["polling"],
            &closed["fields"]["runners"]
        ),
        (&json!(2), &json!(1), &json!(3))
    );
    served.wait_log("shutdown complete").await;
}

/// A multipart upload of `videoFile` whose body stalls after its first bytes, until
/// `rest` says to send the remainder (never, if it is dropped).
fn stalled_upload(
    file: &[u8],
    rest: tokio::sync::oneshot::Receiver<()>,
) -> (String, reqwest::Body) {
    let boundary = "shutdown-test-boundary";
    let mut head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"videoFile\"; \
         filename=\"v.m4a\"\r\nContent-Type: audio/mp4\r\n\r\n"
    )
    .into_bytes();
    let half = file.len() / 2;
    head.extend_from_slice(&file[..half]);
    let mut tail = file[half..].to_vec();
    tail.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let first = futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) });
    let second = futures_util::stream::once(async move {
        if rest.await.is_err() {
            std::future::pending::<()>().await;
        }
        Ok(tail)
    });
    (
        format!("multipart/form-data; boundary={boundary}"),
        reqwest::Body::wrap_stream(first.chain(second)),
    )
}

/// Regular files under the staging folder (each instance stages in its own subfolder).
fn staged_files(staging: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(staging) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => staged_files(&e.path()),
            Ok(t) if t.is_file() => 1,
            _ => 0,
        })
        .sum()
}

#[tokio::test]
async fn sigterm_refuses_an_upload_still_running_at_the_end_of_the_grace_period_and_logs_it() {
    let mut served = Served::start(&[
        ("PRC_SERVER__SHUTDOWN_GRACE", "1s"),
        ("PRC_AUTH__API_KEYS", &format!("[\"{KEY}\"]")),
    ])
    .await;
    let file = std::fs::read(sample("audio.m4a")).unwrap();
    let (_never, rest) = tokio::sync::oneshot::channel();
    let (content_type, body) = stalled_upload(&file, rest);
    let upload = tokio::spawn(
        reqwest::Client::new()
            .post(served.url("/api/v1/videos"))
            .bearer_auth(KEY)
            .header("content-type", content_type)
            .body(body)
            .send(),
    );
    // The upload is under way once its staging file exists.
    let staging = served.dir.path().join("storage/.staging");
    eventually(|| staged_files(&staging) > 0).await;

    served.sigterm();

    let res = upload
        .await
        .unwrap()
        .expect("an answer, not a cut connection");
    assert_eq!(res.status(), 503);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["status"], 503);
    let status = served.exit_status().await;
    assert!(status.success(), "{status}");
    let refused = served
        .wait_log("request still running when the grace period ended")
        .await;
    assert_eq!(refused["level"], "WARN");
    assert_eq!(
        (&refused["fields"]["method"], &refused["fields"]["path"]),
        (&json!("POST"), &json!("/api/v1/videos"))
    );
    // Nothing half-written is left behind.
    assert_eq!(staged_files(&staging), 0);
}

#[tokio::test]
async fn a_request_under_way_at_shutdown_finishes_within_the_grace_period() {
    let app = spawn_video_app_with(|_| {}).await;
    let file = std::fs::read(sample("audio.m4a")).unwrap();
    let (go, rest) = tokio::sync::oneshot::channel();
    let (content_type, body) = stalled_upload(&file, rest);
    let upload = tokio::spawn(
        app.client
            .post(app.url("/api/v1/videos"))
            .bearer_auth(KEY)
            .header("content-type", content_type)
            .body(body)
            .send(),
    );
    let staging = app.data_dir.join("storage/.staging");
    eventually(|| staged_files(&staging) > 0).await;

    app.shutdown.shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !app.running.is_finished(),
        "the server waits for the upload"
    );
    go.send(()).unwrap();

    let res = upload.await.unwrap().unwrap();
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let mut app = app;
    let served = tokio::time::timeout(WAIT, &mut app.running).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "{served:?}");
}

#[tokio::test]
async fn shutdown_closes_sockets_without_a_namespace_disconnect_and_stops_background_tasks() {
    let mut app = spawn_hub_app_with(|_| {}).await;
    let (_, token) = app.register_runner("r1").await;
    let mut raw = RawRunner::connect(app.port, &token).await;
    let mut listener = app.shutdown.listener();
    let sweeping = watchdog::spawn(
        app.state.ctx.clone(),
        async move { listener.requested().await },
    );

    app.shutdown.shutdown();

    match next_frame(&mut raw).await {
        Some(Message::Close(Some(frame))) => {
            assert_eq!(frame.code, CloseCode::Away);
            assert_eq!(frame.reason, "server shutting down");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    let served = tokio::time::timeout(WAIT, &mut app.running).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "{served:?}");
    assert_eq!(app.state.hub.stats().websocket_sessions, 0);
    // Stopped, not aborted.
    let stopped = tokio::time::timeout(WAIT, sweeping).await.unwrap();
    assert!(stopped.is_ok(), "{stopped:?}");
}

#[tokio::test]
async fn asking_twice_ends_the_grace_period_at_once() {
    // A grace period no test waits for: only the second request can end it.
    let mut app =
        spawn_video_app_with(|s| s.server.shutdown_grace = Duration::from_secs(600)).await;
    let file = std::fs::read(sample("audio.m4a")).unwrap();
    let (_never, rest) = tokio::sync::oneshot::channel();
    let (content_type, body) = stalled_upload(&file, rest);
    let upload = tokio::spawn(
        app.client
            .post(app.url("/api/v1/videos"))
            .bearer_auth(KEY)
            .header("content-type", content_type)
            .body(body)
            .send(),
    );
    let staging = app.data_dir.join("storage/.staging");
    eventually(|| staged_files(&staging) > 0).await;

    app.shutdown.shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.shutdown.shutdown();

    let res = tokio::time::timeout(WAIT, upload)
        .await
        .expect("answered once asked twice")
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), 503);
    let served = tokio::time::timeout(WAIT, &mut app.running).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "{served:?}");
}
