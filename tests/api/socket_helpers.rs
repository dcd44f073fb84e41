//! Helpers for the socket hub tests: an app with a short debounce, pending jobs, and
//! real clients (npm `socket.io-client` through Node, a raw WebSocket runner).

use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use peertube_runner_connector::config::Settings;
use peertube_runner_connector::domain::job::JobType;
use peertube_runner_connector::service::events::Event;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{TestApp, spawn_app_with};

pub const WAIT: Duration = Duration::from_secs(15);

/// An app whose `available-jobs` debounce is short, after `configure`.
pub async fn spawn_hub_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.socket.debounce = Duration::from_millis(50);
        configure(s);
    })
    .await
}

/// Inserts a PENDING job through the database layer (no event).
pub async fn insert_pending_job(app: &TestApp) {
    let spec = crate::runner_sim::spec(JobType::VodHlsTranscoding, 0, None);
    crate::runner_sim::insert_jobs_quietly(app, vec![spec]).await;
}

/// Makes a job pending the way the job engine does: insert, then publish.
pub async fn make_job_pending(app: &TestApp) {
    insert_pending_job(app).await;
    app.state.events.publish(Event::JobsAvailable);
}

/// Waits until `cond` holds (panics after [`WAIT`]).
pub async fn eventually(cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// npm `socket.io-client` in a Node process (`tests/socketio/runner-client.js`).
pub struct NodeClient {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    pub seen: Vec<Value>,
}

impl NodeClient {
    /// Connects to `url` (e.g. `http://127.0.0.1:PORT/runners`).
    pub fn spawn(
        url: &str,
        transports: Option<&[&str]>,
        auth: Value,
        fast_reconnect: bool,
    ) -> NodeClient {
        crate::node::ensure_socketio_client();
        let tests = crate::node::tests_dir();
        let mut cmd = Command::new("node");
        cmd.arg(tests.join("socketio/runner-client.js"))
            .arg(url)
            .arg(serde_json::to_string(&transports).unwrap())
            .arg(auth.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if fast_reconnect {
            cmd.env("FAST_RECONNECT", "1");
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node: {e}"));
        let stdout = child.stdout.take().unwrap();
        NodeClient {
            _child: child,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        }
    }

    /// The next event, whatever it is.
    pub async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no event from socket.io-client; seen {:?}", self.seen))
            .unwrap()
            .expect("socket.io-client exited");
        let v: Value = serde_json::from_str(&line).unwrap();
        self.seen.push(v.clone());
        v
    }

    /// Skips events until one named `event`.
    pub async fn wait_for(&mut self, event: &str) -> Value {
        loop {
            let v = self.next().await;
            if v["event"] == event {
                return v;
            }
        }
    }
}

/// A runner speaking the Socket.IO protocol by hand over a WebSocket.
pub struct RawRunner {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl RawRunner {
    /// Opens an Engine.IO WebSocket session (reads the open packet).
    pub async fn open(port: u16) -> RawRunner {
        let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut r = RawRunner { ws };
        let open = r.next_text().await;
        assert!(open.starts_with("0{\"sid\":"), "{open}");
        r
    }

    /// Opens a session and joins `/runners` with `token`.
    pub async fn connect(port: u16, token: &str) -> RawRunner {
        let mut r = RawRunner::open(port).await;
        r.send(&format!("40/runners,{{\"runnerToken\":\"{token}\"}}"))
            .await;
        let ack = r.next_text().await;
        assert!(ack.starts_with("40/runners,{\"sid\":"), "{ack}");
        r
    }

    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::Text(text.to_owned())).await.unwrap();
    }

    /// The next text frame that is not a ping (pings are answered).
    pub async fn next_text(&mut self) -> String {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")
            {
                Some(Ok(Message::Text(t))) if t == "2" => self.send("3").await,
                Some(Ok(Message::Text(t))) => return t,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// The next message of any kind (None when the socket ended).
    pub async fn next_message(&mut self) -> Option<Message> {
        tokio::time::timeout(WAIT, self.ws.next())
            .await
            .expect("a frame in time")
            .and_then(Result::ok)
    }
}
