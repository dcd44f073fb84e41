//! Building and running the application: `Application::build(settings)` opens the
//! database (migrating it when configured), binds the listener (port 0 works, for
//! tests), and returns the server ready to run; `run_until_stopped` serves until
//! SIGTERM/SIGINT and then shuts down gracefully (see [`crate::shutdown`]).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{Condition, NormalizePath, TrailingSlash};
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::clock::Clock;
use crate::config::Settings;
use crate::config::StorageBackend;
use crate::db::{Db, PoolOptions};
use crate::http::inflight::{InFlight, TrackInFlight};
use crate::http::request_metrics::RecordRequests;
use crate::media::Media;
use crate::metrics::Metrics;
use crate::service::Context;
use crate::service::jobs::queue::PendingQueue;
use crate::service::runner_cache::RunnerCache;
use crate::shutdown::{Drain, ShutdownHandle, ShutdownListener};
use crate::state::AppState;
use crate::storage::{LocalStorage, S3Storage, S3Urls, Staging, Storage, StorageError};

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The derived public URL is not valid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The storage backend could not be opened.
    #[error("cannot open storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
    /// The fan-out settings are not usable.
    #[error(transparent)]
    Fanout(#[from] crate::fanout::FanoutError),
}

/// A built, not yet running, application.
pub struct Application {
    addr: SocketAddr,
    server: Server,
    /// The `metrics.bind` listener, when set.
    metrics_server: Option<(SocketAddr, Server)>,
    state: AppState,
    inflight: InFlight,
    shutdown: ShutdownHandle,
    notifier: tokio::task::JoinHandle<()>,
    /// The fan-out relay and what stops it (dropping the sender): it outlives the
    /// drain, so that what requests finishing during a shutdown publish still reaches
    /// the other instances.
    relay: Option<(
        tokio::task::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
    )>,
}

/// Stops the relay, once its queue is flushed (or after a second).
async fn stop_relay(
    relay: Option<(
        tokio::task::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
    )>,
) {
    if let Some((task, stop)) = relay {
        drop(stop);
        let abort = task.abort_handle();
        if tokio::time::timeout(std::time::Duration::from_secs(1), task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// Opens the storage backend described by `settings` (`server.public_url` set) and
/// checks it can be used ([`Storage::startup_check`]): a missing bucket or wrong
/// credentials fail the start, with what to check.
pub async fn open_storage(settings: &Settings) -> Result<Storage, StartupError> {
    let served_at = format!(
        "{}{}",
        settings.server.public_url.as_deref().unwrap_or_default(),
        settings.storage.serve_path
    );
    let public_base_url = settings.storage.public_base_url.as_deref();
    let storage = match settings.storage.backend {
        StorageBackend::Local => Storage::Local(LocalStorage::open(
            &settings.storage_root(),
            public_base_url.map_or(served_at.as_str(), |b| b.trim_end_matches('/')),
        )?),
        StorageBackend::S3 => {
            let area = settings.storage_root().join(".staging");
            let staging = Staging::open(area.clone()).map_err(|source| StorageError::Io {
                key: area.display().to_string(),
                source,
            })?;
            let s3 = &settings.storage.s3;
            let urls = S3Urls::from_settings(s3, public_base_url, &served_at);
            Storage::S3(S3Storage::connect(s3, staging, urls).await)
        }
    };
    storage.startup_check().await?;
    Ok(storage)
}

/// Opens the database pool described by `settings`.
pub fn open_database(settings: &Settings) -> Result<Db, crate::db::DbError> {
    Db::connect(
        &settings.database_url(),
        &PoolOptions {
            max_connections: settings.database.max_connections,
            connect_timeout: settings.database.connect_timeout,
            ..PoolOptions::default()
        },
    )
}

/// A future that completes when `listener` hears the shutdown: how background loops
/// (which know nothing of the shutdown machinery) learn to stop.
async fn stopped(mut listener: ShutdownListener) {
    listener.requested().await
}

/// What the socket hub's notifier asks, answered by `service`.
struct HubLookups {
    db: Db,
    queue: PendingQueue,
}

impl crate::socket::notifier::Lookups for HubLookups {
    async fn pending_jobs(&self) -> Result<bool, crate::error::ServiceError> {
        crate::service::job_availability::pending_jobs_exist(&self.db).await
    }

    async fn existing_runners(
        &self,
        ids: Vec<i64>,
    ) -> Result<Vec<i64>, crate::error::ServiceError> {
        crate::service::runners::existing(&self.db, ids).await
    }

    async fn settle(&self) {
        self.queue.settle().await;
    }
}

/// The runners' socket hub: its `/runners` namespace checks runner tokens through
/// `service` (the socket layer holds no database handle).
fn runners_hub(settings: &crate::config::SocketSettings, db: &Db) -> crate::socket::Hub {
    let db = db.clone();
    crate::socket::runners_hub(settings, move |token| {
        let db = db.clone();
        async move { crate::service::runners::authenticate_socket(&db, &token).await }
    })
}

impl Application {
    /// Opens the database, applies migrations (unless disabled), binds the listener.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        Application::build_with_clock(settings, Clock::System).await
    }

    /// [`Application::build`] with the clock services read (tests use
    /// [`Clock::manual`] to move time without sleeping).
    pub async fn build_with_clock(
        mut settings: Settings,
        clock: Clock,
    ) -> Result<Application, StartupError> {
        let db = {
            let settings = settings.clone();
            tokio::task::spawn_blocking(move || {
                let db = open_database(&settings)?;
                if settings.database.migrate_on_start {
                    for name in db.run_migrations()? {
                        tracing::info!(migration = %name, "applied migration");
                    }
                }
                Ok::<_, crate::db::DbError>(db)
            })
            .await
            .map_err(|e| crate::db::DbError::Task(e.to_string()))??
        };

        let listener =
            TcpListener::bind(&settings.server.bind).map_err(|source| StartupError::Bind {
                addr: settings.server.bind.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.server.bind.clone(),
            source,
        })?;
        if settings.server.public_url.is_none() {
            let host = if addr.ip().is_unspecified() {
                tracing::warn!(
                    "server.public_url is not set: runners on other hosts need it (PRC_SERVER__PUBLIC_URL)"
                );
                "127.0.0.1".to_owned()
            } else {
                addr.ip().to_string()
            };
            let url = match addr {
                SocketAddr::V6(_) if !addr.ip().is_unspecified() => {
                    format!("http://[{host}]:{}", addr.port())
                }
                _ => format!("http://{host}:{}", addr.port()),
            };
            settings.server.public_url = Some(crate::config::normalize_public_url(&url)?);
        }

        if settings.auth.api_keys.is_empty() && settings.auth.admin_keys.is_empty() {
            tracing::warn!("{}", crate::http::auth::DISABLED);
        }
        if settings.auth.admin_keys.is_empty() {
            tracing::info!("{}", crate::http::auth::ADMIN_DISABLED);
        }
        let storage = open_storage(&settings).await?;
        let shutdown = ShutdownHandle::default();
        // Events cross to the other instances through the relay, if one is configured.
        let (events, relay) = crate::fanout::open(&settings)?;
        let state = AppState {
            shutdown: shutdown.listener(),
            hub: runners_hub(&settings.socket, &db),
            ctx: Context {
                media: Media::new(settings.media.clone()),
                runner_cache: RunnerCache::new(&events, settings.queue.refresh_interval),
                queue: PendingQueue::default(),
                queue_depth: Default::default(),
                settings: Arc::new(settings),
                db,
                events,
                storage,
                clock,
                metrics: Metrics::new(),
            },
        };
        // What a killed instance left goes before anything is served.
        crate::service::cleanup::run(&state).await;
        // The offer index is read before the first request (the task started by `run`
        // keeps it in step).
        if let Err(e) = crate::service::jobs::queue::load(&state.ctx).await {
            tracing::warn!(error = %e, "cannot read the pending jobs yet; will retry");
        }
        // Socket hub: turns job events into `available-jobs` broadcasts.
        let notifier = crate::socket::notifier::spawn(
            state.hub.clone(),
            &state.events,
            HubLookups {
                db: state.db.clone(),
                queue: state.queue.clone(),
            },
            &state.settings.socket,
            stopped(shutdown.listener()),
        );
        let relay = relay.map(|relay| {
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = relay.spawn(async move {
                let _ = stopped.await;
            });
            (task, stop)
        });
        let metrics = &state.settings.metrics;
        let metrics_server = match (metrics.enabled, metrics.bind.as_deref()) {
            (true, Some(bind)) => Some(Self::metrics_server(bind, &state)?),
            _ => None,
        };
        let inflight = InFlight::default();
        let server = Self::server(listener, state.clone(), inflight.clone()).map_err(|source| {
            StartupError::Bind {
                addr: addr.to_string(),
                source,
            }
        })?;
        Ok(Application {
            addr,
            server,
            metrics_server,
            state,
            inflight,
            shutdown,
            notifier,
            relay,
        })
    }

    fn server(
        listener: TcpListener,
        state: AppState,
        inflight: InFlight,
    ) -> std::io::Result<Server> {
        let workers = match state.settings.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let serve_path = state.settings.storage.serve_path.clone();
        // Our own shutdown ends every request within the grace period; actix's stop
        // timeout is only a backstop.
        let backstop = state.settings.server.shutdown_grace.as_secs() + 2;
        // With metrics off, the middleware has nothing to record for.
        let record = RecordRequests(state.metrics.http.clone());
        let record_requests = state.settings.metrics.enabled;
        let data = web::Data::new(state);
        let track = TrackInFlight(inflight.clone());
        let server = HttpServer::new(move || {
            App::new()
                // Around the router only: it times the handlers and their bodies.
                .wrap(Condition::new(record_requests, record.clone()))
                // Inside the logger, so that its refusals are logged in the request span.
                .wrap(track.clone())
                .wrap(NormalizePath::new(TrailingSlash::Trim))
                .wrap(TracingLogger::default())
                .app_data(data.clone())
                .configure(|cfg| crate::http::configure(cfg, &serve_path))
        })
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(backstop)
        .on_connect(move |_, ext| {
            ext.insert(inflight.connection());
        })
        .listen(listener)?
        .run();
        Ok(server)
    }

    /// The `metrics.bind` listener: `/metrics` only, one worker, no request metrics
    /// of its own (scrapes would count themselves).
    fn metrics_server(bind: &str, state: &AppState) -> Result<(SocketAddr, Server), StartupError> {
        let failed = |source| StartupError::Bind {
            addr: bind.to_owned(),
            source,
        };
        let listener = TcpListener::bind(bind).map_err(failed)?;
        let addr = listener.local_addr().map_err(failed)?;
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(data.clone())
                .configure(crate::http::metrics::configure_listener)
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .map_err(failed)?
        .run();
        Ok((addr, server))
    }

    /// The address of the `metrics.bind` listener, when there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_server.as_ref().map(|(addr, _)| *addr)
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the server (`stop(graceful)`) without the graceful shutdown
    /// of [`Application::shutdown_handle`], e.g. when a test ends.
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// A handle that starts the graceful shutdown a SIGTERM starts.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// The shared state (tests use it to reach the database and the event bus).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or SIGINT (or the shutdown handle), then shuts down
    /// gracefully; a second signal skips the rest of the grace period.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let signals = tokio::spawn(crate::shutdown::forward_os_signals(self.shutdown_handle()));
        let served = self.run().await;
        signals.abort();
        served
    }

    /// Serves until [`Application::shutdown_handle`] asks for a graceful shutdown, or
    /// the [`Application::server_handle`] stops the server. OS signals are left alone
    /// (tests run many applications in one process).
    pub async fn run(self) -> std::io::Result<()> {
        tracing::info!(
            addr = %self.addr,
            public_url = %self.state.public_url(),
            backend = ?self.state.db.backend(),
            "listening"
        );
        let mut listener = self.shutdown.listener();
        let watchdog = crate::service::jobs::watchdog::spawn(
            self.state.ctx.clone(),
            stopped(self.shutdown.listener()),
        );
        let cleanup = crate::service::cleanup::spawn(
            self.state.ctx.clone(),
            stopped(self.shutdown.listener()),
        );
        // Webhook deliveries: this instance's share of the outbox.
        let webhooks = crate::service::webhooks::worker::spawn(
            self.state.ctx.clone(),
            stopped(self.shutdown.listener()),
        );
        let queue = crate::service::jobs::queue::spawn(
            self.state.ctx.clone(),
            stopped(self.shutdown.listener()),
        );
        let retention = crate::service::retention::spawn(
            self.state.ctx.clone(),
            stopped(self.shutdown.listener()),
        );
        let queue_depth = crate::service::queue_depth::spawn(
            self.state.ctx.clone(),
            stopped(self.shutdown.listener()),
        );
        let background = vec![
            watchdog,
            cleanup,
            webhooks,
            queue,
            retention,
            queue_depth,
            self.notifier,
        ];
        let relay = self.relay;
        let metrics = self.metrics_server.map(|(addr, server)| {
            tracing::info!(addr = %addr, "serving /metrics");
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        let server_handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        tokio::select! {
            served = &mut server => {
                // Stopped through its handle: stop the background tasks with it.
                self.shutdown.shutdown();
                for task in background {
                    let _ = task.await;
                }
                if let Some(metrics) = metrics {
                    metrics.stop(false).await;
                }
                stop_relay(relay).await;
                return served.unwrap_or_else(|e| Err(std::io::Error::other(e)));
            }
            () = listener.requested() => {}
        }
        Drain {
            server: server_handle,
            hub: self.state.hub.clone(),
            inflight: self.inflight,
            grace: self.state.settings.server.shutdown_grace,
            listener,
            background,
        }
        .run()
        .await;
        // Scrapes were answered while the server drained.
        if let Some(metrics) = metrics {
            metrics.stop(false).await;
        }
        // Every request is over, and what they published is queued: relay it, then stop.
        stop_relay(relay).await;
        // Nothing writes to this instance's staging folder any more: leave it empty
        // rather than to the next instance's sweep.
        let storage = self.state.storage.clone();
        let removed = tokio::task::spawn_blocking(move || storage.staging().remove_own()).await;
        if let Ok(Err(e)) = removed {
            tracing::warn!(error = %e, "cannot remove this instance's staging folder");
        }
        Ok(())
    }
}
