//! `spawn_app()` and the per-test database.

use std::path::PathBuf;

use diesel::{Connection, PgConnection, RunQueryDsl};
use peertube_runner_connector::clock::Clock;
use peertube_runner_connector::config::Settings;
use peertube_runner_connector::service::registration_tokens;
use peertube_runner_connector::shutdown::ShutdownHandle;
use peertube_runner_connector::startup::Application;
use peertube_runner_connector::state::AppState;
use serde_json::Value;
use tempfile::TempDir;

/// A database that exists for one test only.
pub struct TestDb {
    pub url: String,
    pg: Option<(String, String)>,
}

impl TestDb {
    /// A fresh PostgreSQL database when `TEST_DATABASE_URL` is set, else a SQLite file
    /// inside `dir`.
    pub fn new(dir: &std::path::Path) -> TestDb {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) if !admin.is_empty() => TestDb::postgres(&admin),
            _ => TestDb::sqlite(dir),
        }
    }

    pub fn sqlite(dir: &std::path::Path) -> TestDb {
        TestDb {
            url: format!("sqlite://{}", dir.join("test.sqlite3").display()),
            pg: None,
        }
    }

    pub fn postgres(admin_url: &str) -> TestDb {
        let name = format!("prc_test_{}", uuid::Uuid::new_v4().simple());
        // Test databases are local: skip TLS unless the URL asks for it. libtest exits
        // the process while threads of finished tests may still hold libpq connections,
        // and OpenSSL's exit handlers then crash (SIGSEGV) under a TLS connection.
        let mut admin_parsed = url::Url::parse(admin_url).unwrap();
        if !admin_parsed.query_pairs().any(|(k, _)| k == "sslmode") {
            admin_parsed
                .query_pairs_mut()
                .append_pair("sslmode", "disable");
        }
        let admin_url = admin_parsed.as_str();
        let mut admin = PgConnection::establish(admin_url)
            .unwrap_or_else(|e| panic!("TEST_DATABASE_URL {admin_url}: {e}"));
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .unwrap();
        let mut url = admin_parsed.clone();
        url.set_path(&name);
        TestDb {
            url: url.to_string(),
            pg: Some((admin_url.to_owned(), name)),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// Another handle on `db` that does not drop it (for a second instance).
    pub fn shared(db: &TestDb) -> TestDb {
        TestDb {
            url: db.url.clone(),
            pg: None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.pg
            && let Ok(mut admin) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

/// A running application.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// `http://…` of the `metrics.bind` listener, when the test set one.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    pub state: AppState,
    pub data_dir: PathBuf,
    pub db: TestDb,
    /// Starts the graceful shutdown a SIGTERM starts.
    pub shutdown: ShutdownHandle,
    /// The application's `run()` future, spawned.
    pub running: tokio::task::JoinHandle<std::io::Result<()>>,
    server: actix_web::dev::ServerHandle,
    _dir: TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the server's worker threads with the test rather than at process exit
        // (the stop command is sent at once; nothing needs to await it).
        drop(self.server.stop(false));
    }
}

/// Settings for a test: data in `dir`, database `db`, port 0, two workers.
pub fn test_settings(dir: &std::path::Path, db: &TestDb) -> Settings {
    let mut s = Settings {
        data_dir: dir.to_owned(),
        ..Settings::default()
    };
    s.database.url = Some(db.url.clone());
    s.database.max_connections = 8;
    s.storage.root = Some(dir.join("storage"));
    s.server.bind = "127.0.0.1:0".to_owned();
    s.server.workers = 2;
    s
}

/// Starts the application with the default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the application after `configure` adjusted the test settings.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with_clock(configure, Clock::System).await
}

/// [`spawn_app_with`] with the clock services read ([`Clock::manual`]: the test moves
/// time with `app.state.clock.advance`).
pub async fn spawn_app_with_clock(configure: impl FnOnce(&mut Settings), clock: Clock) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        peertube_runner_connector::telemetry::init(&Default::default());
    }
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path());
    let mut settings = test_settings(dir.path(), &db);
    configure(&mut settings);
    let app = Application::build_with_clock(settings, clock)
        .await
        .expect("application builds");
    spawn_built(app, db, dir)
}

/// Runs a built application as a [`TestApp`] owning `db` and `dir`.
pub fn spawn_built(app: Application, db: TestDb, dir: TempDir) -> TestApp {
    let port = app.port();
    let metrics_address = app.metrics_addr().map(|a| format!("http://{a}"));
    let state = app.state().clone();
    let server = app.server_handle();
    let shutdown = app.shutdown_handle();
    // `run`, not `run_until_stopped`: test apps leave the process's signals alone.
    let running = tokio::spawn(app.run());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        metrics_address,
        client: reqwest::Client::new(),
        state,
        data_dir: dir.path().to_owned(),
        db,
        shutdown,
        running,
        server,
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// POSTs a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a registration token through the service layer.
    pub async fn registration_token(&self) -> String {
        registration_tokens::create(&self.state.db)
            .await
            .unwrap()
            .registration_token
            .as_str()
            .to_owned()
    }

    /// Registers a runner and returns `(id, runnerToken)`.
    pub async fn register_runner(&self, name: &str) -> (i64, String) {
        let token = self.registration_token().await;
        let res = self
            .post_json(
                "/api/v1/runners/register",
                &serde_json::json!({"registrationToken": token, "name": name}),
            )
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        (
            body["id"].as_i64().unwrap(),
            body["runnerToken"].as_str().unwrap().to_owned(),
        )
    }
}

/// Reads a problem document and checks its media type.
pub async fn problem(res: reqwest::Response) -> Value {
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        ct.starts_with("application/problem+json"),
        "content-type {ct}"
    );
    res.json().await.unwrap()
}

/// Waits until the app's staging folder is empty: refused or consumed uploads are
/// removed on the blocking pool, just after the answer that refused them.
pub async fn assert_staging_empty(app: &TestApp) {
    let staging = app.state.storage.staging_dir().to_owned();
    crate::socket_helpers::eventually(|| std::fs::read_dir(&staging).is_ok_and(|d| d.count() == 0))
        .await;
}

/// The announcement the job engine makes after a change that made jobs PENDING: the
/// jobs' ids for the offer indexes, then `available-jobs` for runners. Returns the ids.
pub async fn announced(
    events: &mut tokio::sync::broadcast::Receiver<
        peertube_runner_connector::service::events::Event,
    >,
) -> Vec<i64> {
    use peertube_runner_connector::service::events::Event;
    // The video's own events (webhooks, live streams, progress) come in between.
    let mut next = async || loop {
        match events.recv().await.unwrap() {
            Event::VideoEvent { .. } | Event::Progress { .. } | Event::DeliveriesDue => {}
            other => break other,
        }
    };
    let ids = match next().await {
        Event::JobsChanged { job_ids } => job_ids,
        other => panic!("expected jobs-changed, got {other:?}"),
    };
    assert_eq!(next().await, Event::JobsAvailable);
    ids
}
