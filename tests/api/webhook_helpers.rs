//! A real webhook receiver on loopback (an actix-web server in the test process), apps
//! configured to send to it, and the independent signature check: the `standardwebhooks`
//! package from PyPI, in a venv under the target directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use peertube_runner_connector::config::{EndpointSettings, Secret, Settings};
use serde_json::Value;

use crate::helpers::TestApp;
use crate::video_helpers::spawn_video_app_with;

/// The secret of the test endpoint.
pub const ENDPOINT_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// `webhooks.secret` (per-video callbacks) in tests.
pub const CALLBACK_SECRET: &str = "whsec_dGVzdC1jYWxsYmFjay1zZWNyZXQtMzItYnl0ZXMh";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub content_type: String,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    pub fn event(&self) -> String {
        self.json()["type"].as_str().unwrap().to_owned()
    }
}

/// What the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ok,
    /// 500 to the first `n` requests, then 200.
    FailFirst(usize),
    /// 302 to `/elsewhere`.
    Redirect,
    /// The first request gets no answer for a minute; the others 200.
    HangFirst,
}

#[derive(Debug)]
struct Shared {
    received: Mutex<Vec<Received>>,
    answer: Answer,
    seen: AtomicUsize,
}

/// A webhook receiver on 127.0.0.1.
pub struct Receiver {
    pub url: String,
    pub port: u16,
    shared: Arc<Shared>,
    server: actix_web::dev::ServerHandle,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let response = record(&req, body, &shared);
    if shared.answer == Answer::HangFirst && shared.seen.load(Ordering::SeqCst) == 1 {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    response
}

fn record(req: &HttpRequest, body: web::Bytes, shared: &Shared) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let n = shared.seen.fetch_add(1, Ordering::SeqCst);
    shared.received.lock().unwrap().push(Received {
        path: req.path().to_owned(),
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    match shared.answer {
        Answer::FailFirst(k) if n < k => HttpResponse::InternalServerError().body("try later"),
        Answer::Redirect if req.path() != "/elsewhere" => HttpResponse::Found()
            .insert_header(("location", "/elsewhere"))
            .finish(),
        _ => HttpResponse::NoContent().finish(),
    }
}

impl Receiver {
    pub fn start(answer: Answer) -> Receiver {
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            answer,
            seen: AtomicUsize::new(0),
        });
        let data = web::Data::from(shared.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks"),
            port,
            shared,
            server: handle,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The event types received, in order.
    pub fn events(&self) -> Vec<String> {
        self.received().iter().map(Received::event).collect()
    }

    /// Waits until `cond` holds for what was received (or panics after 20 s).
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..400 {
            let got = self.received();
            if cond(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("receiver: {what}; got {:?}", self.events());
    }

    /// Waits until `n` requests arrived.
    pub async fn wait_count(&self, n: usize) -> Vec<Received> {
        self.wait_for(&format!("{n} requests"), |r| r.len() >= n)
            .await
    }
}

/// The test endpoint `name` at `url`, for every event.
pub fn endpoint(name: &str, url: &str) -> EndpointSettings {
    EndpointSettings {
        name: name.to_owned(),
        url: url.to_owned(),
        secret: Secret::new(ENDPOINT_SECRET),
        events: Vec::new(),
    }
}

/// Fast webhooks to loopback: the callback secret, 127.0.0.1 allowed, quick retries.
pub fn fast_webhooks(s: &mut Settings) {
    s.webhooks.secret = Some(Secret::new(CALLBACK_SECRET));
    s.webhooks.allowed_targets = vec!["127.0.0.1".to_owned()];
    s.webhooks.first_retry_delay = Duration::from_millis(50);
    s.webhooks.max_retry_delay = Duration::from_millis(200);
    s.webhooks.poll_interval = Duration::from_millis(50);
    s.webhooks.timeout = Duration::from_secs(5);
}

/// A video app sending every event to `receiver` as endpoint `test`.
pub async fn spawn_webhook_app(
    receiver: &Receiver,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let url = receiver.url.clone();
    spawn_video_app_with(move |s| {
        fast_webhooks(s);
        s.webhooks.endpoints = vec![endpoint("test", &url)];
        configure(s);
    })
    .await
}

/// The deliveries API's page for `query`.
pub async fn deliveries(app: &TestApp, query: &str) -> Value {
    let res = crate::video_helpers::get(app, &format!("/api/v1/webhooks/deliveries{query}")).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// A Python with `standardwebhooks` installed (a venv under the target directory,
/// made on first use with pip from PyPI). `None` (said loudly) when Python or pip is
/// missing here; in CI (`CI` set) that is a failure, as `.ci/run` installs them.
pub fn standardwebhooks_python() -> Option<PathBuf> {
    static PYTHON: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("standardwebhooks-venv");
            let python = venv.join("bin/python");
            let works = |p: &PathBuf| {
                std::process::Command::new(p)
                    .args(["-c", "import standardwebhooks"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            if works(&python) {
                return Some(python);
            }
            let made = std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .output();
            let installed = made.is_ok_and(|o| o.status.success())
                && std::process::Command::new(&python)
                    .args(["-m", "pip", "install", "--quiet", "standardwebhooks==1.1.0"])
                    .output()
                    .is_ok_and(|o| {
                        if !o.status.success() {
                            eprintln!("pip: {}", String::from_utf8_lossy(&o.stderr));
                        }
                        o.status.success()
                    });
            if installed && works(&python) {
                return Some(python);
            }
            let why =
                "python3 with venv and pip (to install PyPI `standardwebhooks`) is not available";
            assert!(
                std::env::var_os("CI").is_none(),
                "{why}: .ci/run installs it"
            );
            eprintln!("SKIPPED: signatures not checked by an independent implementation: {why}");
            None
        })
        .clone()
}

/// Verifies every request with `standardwebhooks` (each with its `secret`), and that a
/// tampered body is rejected. Returns how many were verified (0 when skipped).
pub fn verify_with_python(requests: &[(Received, &str)]) -> usize {
    let Some(python) = standardwebhooks_python() else {
        return 0;
    };
    let cases: Vec<Value> = requests
        .iter()
        .map(|(r, secret)| {
            serde_json::json!({"secret": secret, "id": r.id, "timestamp": r.timestamp,
                               "signature": r.signature, "body": r.body})
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cases.json");
    std::fs::write(&input, serde_json::to_vec(&cases).unwrap()).unwrap();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
cases = json.load(open(sys.argv[1]))
for c in cases:
    headers = {"webhook-id": c["id"], "webhook-timestamp": c["timestamp"],
               "webhook-signature": c["signature"]}
    Webhook(c["secret"]).verify(c["body"], headers)
    try:
        Webhook(c["secret"]).verify(c["body"] + " ", headers)
        sys.exit("a tampered body was accepted")
    except WebhookVerificationError:
        pass
print("verified", len(cases))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(&input)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "standardwebhooks refused a signature: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), format!("verified {}", cases.len()));
    cases.len()
}
