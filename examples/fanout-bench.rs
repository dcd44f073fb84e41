//! Cross-instance broadcast benchmark (not a test): two server processes on one
//! database with a fan-out backend, N WebSocket runner sockets on each, one
//! `JobsAvailable` published on the first; reports how long the sockets of each
//! instance took to get `available-jobs`. `bench/fanout.sh` builds it in release mode
//! and runs it.
//!
//! `fanout-bench --sockets N --database-url URL [--fanout-backend B] [--redis-url U]
//! [--rounds R]` starts itself twice as a server (`--server`: the service as `serve`
//! builds it, `available-jobs` debounce 1 ms so that the figure is the fan-out, not the
//! debounce), connects N sockets to each as `peertube-runner` does, then R times asks
//! the first to publish and waits for every socket of both.

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use peertube_runner_connector::config::{FanoutBackend, Settings};
use peertube_runner_connector::service::events::{Event, RelayState};
use peertube_runner_connector::service::{registration_tokens, runners};
use peertube_runner_connector::startup::Application;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if std::env::args().any(|a| a == "--server") {
        runtime.block_on(server())
    } else {
        runtime.block_on(client())
    }
}

/// The service on the given database and fan-out, plus a line protocol on stdin/stdout.
async fn server() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let mut settings = Settings {
        data_dir: dir.path().to_owned(),
        ..Settings::default()
    };
    settings.database.url = Some(arg("--database-url").ok_or("--database-url")?);
    settings.server.bind = "127.0.0.1:0".to_owned();
    settings.socket.debounce = Duration::from_millis(1);
    if let Some(backend) = arg("--fanout-backend") {
        settings.fanout.backend = match backend.as_str() {
            "postgres" => FanoutBackend::Postgres,
            "redis" => FanoutBackend::Redis,
            other => return Err(format!("unknown backend {other}").into()),
        };
    }
    if let Some(url) = arg("--redis-url") {
        settings.fanout.redis_url = url;
    }
    if let Some(channel) = arg("--channel") {
        settings.fanout.channel = channel;
    }
    let app = Application::build(settings).await?;
    let state = app.state().clone();
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    // Ready once the relay is.
    let deadline = Instant::now() + Duration::from_secs(30);
    while state.events.relay_status().map(|s| s.state) != Some(RelayState::Connected) {
        if Instant::now() > deadline {
            return Err("the fan-out did not connect".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let token = if std::env::args().any(|a| a == "--register") {
        let registration = registration_tokens::create(&state.db).await?;
        let runner = runners::register(
            &state.db,
            runners::Registration {
                registration_token: registration.registration_token,
                name: format!("bench-{}", uuid::Uuid::new_v4().simple()),
                description: None,
                version: None,
                ip: "127.0.0.1".to_owned(),
            },
            state.now(),
        )
        .await?;
        runner.runner_token.as_str().to_owned()
    } else {
        "-".to_owned()
    };
    println!("READY {port} {token}");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim() == "publish" {
            state.events.publish(Event::JobsAvailable);
        }
    }
    Ok(())
}

/// One runner socket: handshake, join `/runners`, report each event, stay open.
async fn runner(
    port: u16,
    token: String,
    instance: usize,
    joined: mpsc::Sender<()>,
    received: mpsc::UnboundedSender<(usize, Instant)>,
) -> Result<(), Error> {
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    while let Some(msg) = ws.next().await {
        let Message::Text(text) = msg? else { continue };
        if text == "2" {
            ws.send(Message::Text("3".into())).await?;
        } else if text.starts_with('0') {
            let join = format!("40/runners,{{\"runnerToken\":\"{token}\"}}");
            ws.send(Message::Text(join)).await?;
        } else if text.starts_with("40/runners,") {
            joined.send(()).await?;
        } else if text == "42/runners,[\"available-jobs\"]" {
            received.send((instance, Instant::now()))?;
        } else {
            return Err(format!("unexpected frame {text}").into());
        }
    }
    Ok(())
}

struct Server {
    _child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    port: u16,
    token: String,
}

async fn start_server(register: bool) -> Result<Server, Error> {
    let exe = std::env::current_exe()?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("--server");
    for name in [
        "--database-url",
        "--fanout-backend",
        "--redis-url",
        "--channel",
    ] {
        if let Some(value) = arg(name) {
            cmd.arg(name).arg(value);
        }
    }
    if register {
        cmd.arg("--register");
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let mut out = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let ready = out.next_line().await?.ok_or("server did not start")?;
    let mut parts = ready.split_whitespace().skip(1);
    let port: u16 = parts.next().ok_or("no port")?.parse()?;
    let token = parts.next().ok_or("no token")?.to_owned();
    Ok(Server {
        _child: child,
        stdin,
        port,
        token,
    })
}

fn quantile(times: &mut [Duration], q: f64) -> Duration {
    times.sort();
    times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1]
}

async fn client() -> Result<(), Error> {
    let sockets: usize = arg("--sockets")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let rounds: usize = arg("--rounds").and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut a = start_server(true).await?;
    let b = start_server(false).await?;
    let token = a.token.clone();

    let (joined_tx, mut joined_rx) = mpsc::channel(1024);
    let (received_tx, mut received_rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::with_capacity(2 * sockets);
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(256));
    for (instance, port) in [(0, a.port), (1, b.port)] {
        for _ in 0..sockets {
            let permit = limit.clone().acquire_owned().await?;
            let (inner_tx, mut inner_rx) = mpsc::channel(1);
            let outer = joined_tx.clone();
            tasks.push(tokio::spawn(runner(
                port,
                token.clone(),
                instance,
                inner_tx,
                received_tx.clone(),
            )));
            tokio::spawn(async move {
                if inner_rx.recv().await.is_some() {
                    drop(permit);
                    let _ = outer.send(()).await;
                }
            });
        }
    }
    drop(joined_tx);
    for n in 0..2 * sockets {
        let joined = tokio::time::timeout(Duration::from_secs(60), joined_rx.recv()).await;
        if !matches!(joined, Ok(Some(()))) {
            return Err(format!("only {n} of {} sockets joined", 2 * sockets).into());
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut local = Vec::new();
    let mut remote = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        a.stdin.write_all(b"publish\n").await?;
        a.stdin.flush().await?;
        let mut got = 0;
        while got < 2 * sockets {
            match tokio::time::timeout(Duration::from_secs(30), received_rx.recv()).await {
                Ok(Some((instance, at))) => {
                    got += 1;
                    let took = at.duration_since(start);
                    if instance == 0 {
                        local.push(took)
                    } else {
                        remote.push(took)
                    }
                }
                _ => return Err(format!("only {got} of {} got available-jobs", 2 * sockets).into()),
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "backend            {}",
        arg("--fanout-backend").unwrap_or_else(|| "auto".to_owned())
    );
    println!("sockets            {sockets} per instance, 2 instances, {rounds} rounds");
    for (name, times) in [
        ("instance A (local)", &mut local),
        ("instance B (relayed)", &mut remote),
    ] {
        println!(
            "{name:<21} p50 {:.1?}  p99 {:.1?}  max {:.1?}",
            quantile(times, 0.50),
            quantile(times, 0.99),
            quantile(times, 1.0)
        );
    }
    for task in tasks {
        task.abort();
    }
    drop(b);
    Ok(())
}
