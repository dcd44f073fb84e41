//! A database outage under load writes one error line, a summary per interval and one
//! line when the database is back, not one line per failed connection attempt.
//!
//! Its own test binary: r2d2 reports from its own threads, so the log is captured by a
//! process-wide subscriber, which no other test shares. The outage is real: PostgreSQL
//! (when `TEST_DATABASE_URL` is set) is reached through a loopback TCP proxy that is
//! stopped and restarted; SQLite's database directory is replaced by a plain file and
//! put back.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use peertube_runner_connector::db::{Db, DbError, PoolOptions};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Every log line of the process, as JSON.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn install() -> Captured {
        let captured = Captured::default();
        let writer = captured.clone();
        // Also routes the `log` crate (what r2d2's default handler writes to).
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .try_init()
            .unwrap();
        captured
    }

    fn lines(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A loopback TCP proxy to `upstream` that can be stopped (listener closed, every
/// connection cut) and started again on the same port.
struct Proxy {
    port: u16,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            port: listener.local_addr().unwrap().port(),
            upstream,
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (upstream, tasks) = (self.upstream, self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    async fn restart(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }
}

/// Where the database lives and how to take it away.
enum Outage {
    Postgres {
        proxy: Proxy,
        admin: String,
        name: String,
    },
    Sqlite {
        dir: PathBuf,
        aside: PathBuf,
        _tmp: tempfile::TempDir,
    },
}

impl Outage {
    /// A fresh database; returns its URL (through the proxy for PostgreSQL) and the
    /// name logs give it.
    async fn new() -> (Outage, String, String) {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) if !admin.is_empty() => {
                let name = format!("prc_outage_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&admin).unwrap();
                diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .unwrap();
                let parsed = url::Url::parse(&admin).unwrap();
                let upstream = tokio::net::lookup_host((
                    parsed.host_str().unwrap().to_owned(),
                    parsed.port().unwrap_or(5432),
                ))
                .await
                .unwrap()
                .next()
                .unwrap();
                let proxy = Proxy::start(upstream).await;
                let mut url = parsed.clone();
                url.set_host(Some("127.0.0.1")).unwrap();
                url.set_port(Some(proxy.port)).unwrap();
                url.set_path(&name);
                url.set_query(Some("sslmode=disable"));
                let label = format!("127.0.0.1:{}/{name}", proxy.port);
                (
                    Outage::Postgres { proxy, admin, name },
                    url.to_string(),
                    label,
                )
            }
            _ => {
                let tmp = tempfile::tempdir().unwrap();
                let dir = tmp.path().join("db");
                let file = dir.join("outage.sqlite3");
                let path = file.display().to_string();
                (
                    Outage::Sqlite {
                        aside: tmp.path().join("db-away"),
                        dir,
                        _tmp: tmp,
                    },
                    format!("sqlite://{path}"),
                    path,
                )
            }
        }
    }

    async fn begin(&self) {
        match self {
            Outage::Postgres { proxy, .. } => proxy.stop(),
            Outage::Sqlite { dir, aside, .. } => {
                std::fs::rename(dir, aside).unwrap();
                std::fs::write(dir, b"not a directory").unwrap();
            }
        }
    }

    async fn end(&self) {
        match self {
            Outage::Postgres { proxy, .. } => proxy.restart().await,
            Outage::Sqlite { dir, aside, .. } => {
                std::fs::remove_file(dir).unwrap();
                std::fs::rename(aside, dir).unwrap();
            }
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if let Outage::Postgres { proxy, admin, name } = self {
            proxy.stop();
            if let Ok(mut conn) = PgConnection::establish(admin) {
                let _ =
                    conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
        }
    }
}

/// A query holding its connection for a while, as a request does: four at once need
/// four connections.
async fn select_one(db: &Db) -> Result<(), DbError> {
    db.run(|conn| {
        conn.batch_execute("SELECT 1")?;
        std::thread::sleep(Duration::from_millis(50));
        Ok(())
    })
    .await
}

fn is_error(line: &Value) -> bool {
    line["level"] == "ERROR"
}

fn message(line: &Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_logs_its_first_error_summaries_and_the_recovery() {
    let captured = Captured::install();
    let (outage, url, label) = Outage::new().await;
    let db = Db::connect(
        &url,
        &PoolOptions {
            max_connections: 4,
            connect_timeout: Duration::from_millis(500),
            error_summary_every: Duration::from_secs(1),
        },
    )
    .unwrap();
    select_one(&db).await.unwrap();

    // 2.5 s without the database while requests keep coming (four at a time).
    outage.begin().await;
    let until = tokio::time::Instant::now() + Duration::from_millis(2500);
    while tokio::time::Instant::now() < until {
        futures_util::future::join_all((0..4).map(|_| select_one(&db))).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    outage.end().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while select_one(&db).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the database is not back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No line from r2d2's default handler, which writes one per failed attempt.
    let lines = captured.lines();
    let from_r2d2: Vec<&Value> = lines.iter().filter(|l| l["target"] == "r2d2").collect();
    assert!(
        from_r2d2.is_empty(),
        "{} lines from r2d2: {from_r2d2:#?}",
        from_r2d2.len()
    );
    // The "restored" line comes from r2d2's thread once a new connection is made.
    let restored = loop {
        let lines = captured.lines();
        if let Some(l) = lines
            .iter()
            .find(|l| message(l).starts_with("database connection restored"))
        {
            break l.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recovery line in {lines:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let lines = captured.lines();
    let ours: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["database"] == label.as_str())
        .collect();

    let first: Vec<_> = ours
        .iter()
        .filter(|l| message(l) == "database connection failed")
        .collect();
    let summaries: Vec<_> = ours
        .iter()
        .filter(|l| message(l).contains("more database connection errors in the last"))
        .collect();
    assert_eq!(first.len(), 1, "{ours:#?}");
    assert!(is_error(first[0]));
    // One summary per second of outage at most (2.5 s, plus the reconnection).
    assert!(
        (1..=4).contains(&summaries.len()),
        "{} summaries: {ours:#?}",
        summaries.len()
    );
    assert_eq!(restored["level"], "INFO");
    let total = restored["fields"]["errors"].as_u64().unwrap();
    let summarised: u64 = summaries
        .iter()
        .map(|l| l["fields"]["errors"].as_u64().unwrap())
        .sum();
    // Many failed attempts, few lines; the first error is not in any summary.
    assert!(total >= 8, "only {total} connection errors");
    assert!(summarised < total, "{summarised} summarised of {total}");
    assert_eq!(
        ours.iter().filter(|l| is_error(l)).count(),
        1 + summaries.len(),
        "{ours:#?}"
    );
    drop(outage);
}
