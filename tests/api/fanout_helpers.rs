//! What the fan-out tests run against: private `redis-server`s and sentinels started on
//! free loopback ports (nothing shared with other users of the machine's Redis), server
//! processes of the real binary, a second application on the first one's database,
//! and a job created the way applications create them.
//!
//! Redis tests need the `redis-server` binary (Debian package `redis-server`); without
//! it they fail, saying so, rather than pass.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peertube_runner_connector::config::{Secret, Settings};
use peertube_runner_connector::startup::Application;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{TestApp, TestDb, test_settings};
use crate::socket_helpers::{NodeClient, WAIT};

/// The API key test instances accept.
pub const KEY: &str = crate::video_helpers::KEY;

/// A channel name no other test uses.
pub fn unique_channel() -> String {
    format!("prc-test-{}", uuid::Uuid::new_v4().simple())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn redis_server_binary() -> &'static str {
    let ok = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`redis-server` is not in PATH: the Redis fan-out tests start their own \
         (Debian/Ubuntu: `apt-get install redis-server`)"
    );
    "redis-server"
}

/// A `redis-server` (or sentinel) of this test only, on a free loopback port.
pub struct RedisProcess {
    child: Option<std::process::Child>,
    pub port: u16,
    args: Vec<String>,
    password: Option<String>,
    _dir: tempfile::TempDir,
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

impl RedisProcess {
    /// A Redis server; with `password`, clients must authenticate.
    pub fn server(password: Option<&str>) -> RedisProcess {
        let dir = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(["--dir".to_owned(), dir.path().display().to_string()]);
        if let Some(pw) = password {
            args.extend(["--requirepass".to_owned(), pw.to_owned()]);
        }
        RedisProcess::launch(args, password, dir)
    }

    /// A sentinel monitoring `master` as `name` (quorum 1).
    pub fn sentinel(master: &RedisProcess, name: &str) -> RedisProcess {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("sentinel.conf");
        let mut text = format!(
            "bind 127.0.0.1\ndir {}\nsentinel monitor {name} 127.0.0.1 {} 1\n\
             sentinel down-after-milliseconds {name} 60000\n",
            dir.path().display(),
            master.port
        );
        if let Some(pw) = &master.password {
            text.push_str(&format!("sentinel auth-pass {name} {pw}\n"));
        }
        std::fs::write(&conf, text).unwrap();
        let args = vec![conf.display().to_string(), "--sentinel".to_owned()];
        let sentinel = RedisProcess::launch(args, None, dir);
        // Ready once it names the master.
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let addr: Result<Vec<String>, _> = sentinel.query(
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(name),
            );
            if addr.is_ok_and(|a| a.get(1) == Some(&master.port.to_string())) {
                return sentinel;
            }
            assert!(std::time::Instant::now() < deadline, "sentinel not ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn launch(args: Vec<String>, password: Option<&str>, dir: tempfile::TempDir) -> RedisProcess {
        let mut process = RedisProcess {
            child: None,
            port: 0,
            args,
            password: password.map(str::to_owned),
            _dir: dir,
        };
        for _ in 0..5 {
            process.port = free_port();
            if process.start_on_port() {
                return process;
            }
        }
        panic!("cannot start redis-server {:?}", process.args);
    }

    /// Starts the process on `self.port`; whether it answers.
    fn start_on_port(&mut self) -> bool {
        let child = std::process::Command::new(redis_server_binary())
            .args(&self.args)
            .arg("--port")
            .arg(self.port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if self.query::<String>(&redis::cmd("PING")).is_ok() {
                return true;
            }
            if let Some(child) = &mut self.child
                && child.try_wait().unwrap().is_some()
            {
                self.child = None;
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    /// Stops the process (clients see their connections drop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        assert!(self.start_on_port(), "redis-server did not come back");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs one command.
    pub fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let mut info = redis::IntoConnectionInfo::into_connection_info(self.url().as_str())?;
        if let Some(pw) = &self.password {
            let settings = info.redis_settings().clone().set_password(pw);
            info = info.set_redis_settings(settings);
        }
        let client = redis::Client::open(info)?;
        let mut conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
        cmd.query(&mut conn)
    }

    /// Closes every pub/sub client connection (`CLIENT KILL TYPE pubsub`); how many.
    pub fn kill_pubsub_clients(&self) -> i64 {
        self.query(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"))
            .unwrap()
    }
}

/// Settings for an instance of a fan-out test: short debounce of the real 1 s kept,
/// quick reconnections, the test's API key.
pub fn instance_settings(s: &mut Settings) {
    s.auth.api_keys = vec![Secret::new(KEY)];
    s.fanout.reconnect_max_delay = Duration::from_millis(500);
}

/// A second application on `first`'s database and storage, sharing nothing in memory
/// with it (its own bus, hub, relay, pool); `configure` runs after the first's settings
/// were copied.
pub async fn spawn_second(first: &TestApp, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::shared(&first.db);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = (*first.state.settings).clone();
    let own = test_settings(dir.path(), &db);
    settings.data_dir = own.data_dir;
    settings.server.bind = own.server.bind;
    settings.server.public_url = None;
    configure(&mut settings);
    crate::helpers::spawn_built(Application::build(settings).await.unwrap(), db, dir)
}

/// Submits the test clip through `app`'s video API: jobs are created and the engine
/// publishes that they are available. Returns the video's UUID.
pub async fn create_job_through(address: &str) -> String {
    let mp4 = crate::runner_sim::clip().mp4.clone();
    let form = reqwest::multipart::Form::new().part(
        "videoFile",
        reqwest::multipart::Part::bytes(mp4).file_name("clip.mp4"),
    );
    let res = reqwest::Client::new()
        .post(format!("{address}/api/v1/videos"))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["uuid"].as_str().unwrap().to_owned()
}

/// Registers a runner through `address`; `(id, runnerToken)`.
pub async fn register_runner(address: &str, registration_token: &str, name: &str) -> (i64, String) {
    let res = reqwest::Client::new()
        .post(format!("{address}/api/v1/runners/register"))
        .json(&json!({"registrationToken": registration_token, "name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    (
        body["id"].as_i64().unwrap(),
        body["runnerToken"].as_str().unwrap().to_owned(),
    )
}

/// A socket.io-client runner connected to `address` (WebSocket, as peertube-runner),
/// once connected.
pub async fn connected_runner(address: &str, token: &str) -> NodeClient {
    let mut client = NodeClient::spawn(
        &format!("{address}/runners"),
        Some(&["websocket"]),
        json!({ "runnerToken": token }),
        false,
    );
    client.wait_for("connect").await;
    client
}

/// Waits for `available-jobs` on every client, all by `deadline`.
pub async fn all_hear_available_jobs(
    clients: &mut [&mut NodeClient],
    deadline: tokio::time::Instant,
    what: &str,
) {
    for (i, client) in clients.iter_mut().enumerate() {
        let heard = tokio::time::timeout_at(deadline, client.wait_for("available-jobs")).await;
        assert!(
            heard.is_ok(),
            "{what}: runner {i} had no available-jobs in time; it saw {:?}",
            client.seen
        );
    }
}

/// `GET /readyz`'s `fanout` member.
pub async fn fanout_status(address: &str) -> Value {
    let body: Value = reqwest::get(format!("{address}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["fanout"].clone()
}

/// Waits until `/readyz` shows the relay in `state`.
pub async fn wait_fanout_state(address: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = fanout_status(address).await;
        if status["state"] == state {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "fan-out never {state}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `serve` process of the real binary.
pub struct ServerProcess {
    _child: tokio::process::Child,
    pub address: String,
    /// Its log, one JSON object per line.
    pub log: Arc<Mutex<Vec<Value>>>,
}

impl ServerProcess {
    /// Starts `serve` on `database_url` with data in `data_dir`, on a free port, with
    /// `env` added to a `PRC_`-free environment; returns once it listens.
    pub async fn start(database_url: &str, data_dir: &Path, env: &[(&str, &str)]) -> ServerProcess {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_peertube-runner-connector"));
        for (k, _) in std::env::vars() {
            if k.starts_with("PRC_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.env("PRC_DATA_DIR", data_dir)
            .env("PRC_DATABASE__URL", database_url)
            .env("PRC_SERVER__BIND", "127.0.0.1:0")
            .env("PRC_SERVER__WORKERS", "2")
            .env("PRC_LOG__FORMAT", "json")
            .env("PRC_AUTH__API_KEYS", KEY)
            .env("PRC_FANOUT__RECONNECT_MAX_DELAY", "500ms")
            .envs(env.iter().copied())
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let addr = tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                log.lock().unwrap().push(v.clone());
                if v["fields"]["message"] == "listening" {
                    return v["fields"]["addr"].as_str().unwrap().to_owned();
                }
            }
            panic!("server exited: {:?}", log.lock().unwrap());
        })
        .await
        .expect("server listening in time");
        let kept = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    kept.lock().unwrap().push(v);
                }
            }
        });
        ServerProcess {
            _child: child,
            address: format!("http://{addr}"),
            log,
        }
    }

    /// The messages of its log so far.
    pub fn messages(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|v| v["fields"]["message"].as_str().map(str::to_owned))
            .collect()
    }
}

/// The PostgreSQL admin URL of the run, or `None` (the test says it is skipped).
pub fn postgres_admin(test: &str) -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "{test} needs TEST_DATABASE_URL (PostgreSQL); .ci/run sets it. Skipped on SQLite."
            );
            None
        }
    }
}

/// A data directory for a server process.
pub fn data_dir(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
