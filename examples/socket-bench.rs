//! Socket hub benchmark (not a test): holds N WebSocket runner sockets on the real
//! service and measures the server's memory and how fast one `available-jobs` reaches
//! all of them. `bench/sockets.sh` builds it in release mode and runs it.
//!
//! `socket-bench [--sockets N]` starts itself as the server (`--server`: the service as
//! `serve` builds it, SQLite in a temporary directory, `available-jobs` debounce 1 ms),
//! connects N sockets as `peertube-runner` does (Engine.IO over WebSocket, CONNECT
//! `/runners` with a runner token), reads the server's RSS, asks it to publish one
//! `JobsAvailable` event and reports when 50 %, 99 % and 100 % of the sockets had the
//! event.

use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use peertube_runner_connector::config::Settings;
use peertube_runner_connector::service::events::Event;
use peertube_runner_connector::service::{registration_tokens, runners};
use peertube_runner_connector::startup::Application;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
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
        let sockets = arg("--sockets")
            .and_then(|s| s.parse().ok())
            .unwrap_or(10_000);
        runtime.block_on(client(sockets))
    }
}

/// The service, plus a line protocol on stdin/stdout to drive it.
async fn server() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let mut settings = Settings {
        data_dir: dir.path().to_owned(),
        ..Settings::default()
    };
    settings.database.url = Some(format!(
        "sqlite://{}",
        dir.path().join("bench.sqlite3").display()
    ));
    settings.server.bind = "127.0.0.1:0".to_owned();
    settings.socket.debounce = Duration::from_millis(1);
    let app = Application::build(settings).await?;
    let state = app.state().clone();
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let registration = registration_tokens::create(&state.db).await?;
    let runner = runners::register(
        &state.db,
        runners::Registration {
            registration_token: registration.registration_token,
            name: "bench".to_owned(),
            description: None,
            version: None,
            ip: "127.0.0.1".to_owned(),
        },
        state.now(),
    )
    .await?;
    println!("READY {port} {}", runner.runner_token.as_str());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim() == "publish" {
            state.events.publish(Event::JobsAvailable);
        }
    }
    Ok(())
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Signals shared by the runner sockets.
#[derive(Clone)]
struct Signals {
    joined: tokio::sync::mpsc::Sender<()>,
    received: tokio::sync::mpsc::UnboundedSender<Duration>,
    published_at: tokio::sync::watch::Receiver<Option<Instant>>,
}

/// One runner socket: handshake, join `/runners`, report the event, stay open.
async fn runner(port: u16, token: String, signals: Signals) -> Result<(), Error> {
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
            signals.joined.send(()).await?;
        } else if text == "42/runners,[\"available-jobs\"]" {
            let start = (*signals.published_at.borrow()).ok_or("event before publish")?;
            signals.received.send(start.elapsed())?;
        } else {
            return Err(format!("unexpected frame {text}").into());
        }
    }
    Ok(())
}

async fn client(sockets: usize) -> Result<(), Error> {
    let exe = std::env::current_exe()?;
    let mut server = tokio::process::Command::new(exe)
        .arg("--server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = server.id().ok_or("server exited")?;
    let mut stdin = server.stdin.take().ok_or("no stdin")?;
    let mut out = BufReader::new(server.stdout.take().ok_or("no stdout")?).lines();
    let ready_line = out.next_line().await?.ok_or("server did not start")?;
    let mut parts = ready_line.split_whitespace().skip(1);
    let port: u16 = parts.next().ok_or("no port")?.parse()?;
    let token = parts.next().ok_or("no token")?.to_owned();
    let rss_idle = rss_kib(pid, "VmRSS:");

    let (joined_tx, mut joined_rx) = tokio::sync::mpsc::channel(1024);
    let (received_tx, mut received_rx) = tokio::sync::mpsc::unbounded_channel();
    let (publish_tx, published_at) = tokio::sync::watch::channel(None);
    let signals = Signals {
        joined: joined_tx,
        received: received_tx,
        published_at,
    };
    let connect_start = Instant::now();
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        let (token, signals, limit) = (token.clone(), signals.clone(), limit.clone());
        // At most 256 handshakes at once; the permit is released once joined.
        let permit = limit.acquire_owned().await?;
        let (joined_tx, mut joined_rx) = tokio::sync::mpsc::channel(1);
        let outer = signals.joined.clone();
        let inner = Signals {
            joined: joined_tx,
            ..signals
        };
        tasks.push(tokio::spawn(runner(port, token, inner)));
        tokio::spawn(async move {
            if joined_rx.recv().await.is_some() {
                drop(permit);
                let _ = outer.send(()).await;
            }
        });
    }
    drop(signals);
    for n in 0..sockets {
        let joined = tokio::time::timeout(Duration::from_secs(60), joined_rx.recv()).await;
        if !matches!(joined, Ok(Some(()))) {
            return Err(format!("only {n} of {sockets} sockets joined").into());
        }
    }
    let connect_time = connect_start.elapsed();
    let threads_after_connect = rss_kib(pid, "Threads:");
    // Let the blocking threads that ran the token checks retire (tokio keeps idle ones
    // for 10 s), so that the figure is what holding the sockets costs.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let rss_held = rss_kib(pid, "VmRSS:");
    let threads_held = rss_kib(pid, "Threads:");

    publish_tx.send(Some(Instant::now()))?;
    stdin.write_all(b"publish\n").await?;
    stdin.flush().await?;
    let mut times = Vec::with_capacity(sockets);
    while times.len() < sockets {
        match tokio::time::timeout(Duration::from_secs(30), received_rx.recv()).await {
            Ok(Some(t)) => times.push(t),
            _ => {
                return Err(format!("only {} of {sockets} got available-jobs", times.len()).into());
            }
        }
    }
    let rss_peak = rss_kib(pid, "VmHWM:");
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    println!("sockets            {sockets}");
    println!("connect all        {connect_time:.2?}");
    println!("server RSS idle    {:.1} MiB", rss_idle as f64 / 1024.0);
    println!(
        "server RSS held    {:.1} MiB with {sockets} sockets",
        rss_held as f64 / 1024.0
    );
    println!("server RSS peak    {:.1} MiB", rss_peak as f64 / 1024.0);
    println!(
        "server threads     {threads_after_connect} after connecting, {threads_held} when measured"
    );
    println!("available-jobs p50 {:.1?}", at(0.50));
    println!("available-jobs p99 {:.1?}", at(0.99));
    println!("available-jobs max {:.1?}", at(1.0));
    if let Some(hold) = arg("--hold").and_then(|s| s.parse().ok()) {
        println!("holding for {hold} s (server pid {pid})");
        tokio::time::sleep(Duration::from_secs(hold)).await;
    }
    for task in tasks {
        task.abort();
    }
    drop(stdin);
    Ok(())
}
