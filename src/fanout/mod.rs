//! Cross-instance fan-out: the relay between this process's [`EventBus`] and a channel
//! that every instance subscribes to, so that an event published by one instance
//! reaches the subscribers of all (`available-jobs` for runners connected anywhere, a
//! removed runner's sockets closed wherever they are, and whatever else is published).
//!
//! Backends (`[fanout] backend`): `none` (one instance), `postgres` (LISTEN/NOTIFY on
//! the job database, the default when it is PostgreSQL: [`postgres`]), `redis` and
//! `redis-sentinel` (pub/sub: [`redis`]). Messages are JSON envelopes ([`wire`]).
//!
//! The relay is one task ([`Relay::spawn`]): it connects, forwards the bus's events to
//! the channel and the channel's events (but its own) to the bus, and pings the
//! connection every [`PING_EVERY`]. When the connection fails it reconnects with
//! exponential backoff (250 ms doubling up to `fanout.reconnect_max_delay`, with
//! jitter), logging the loss once and the return once, never each attempt. Back, it
//! publishes [`Event::Resync`] locally: the socket hub then re-announces pending jobs
//! and closes the sockets of runners deleted meanwhile. Events published while it is
//! down wait in a bounded queue and are sent once it is back; past
//! [`QUEUE`] they are dropped and counted in the log. State is in `/readyz`
//! ([`EventBus::relay_status`]); a relay that is down does not make the instance
//! unready, since every instance re-announces pending jobs to its own runners every
//! `socket.reannounce_interval` anyway.

pub mod postgres;
pub mod redis;
pub mod wire;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{FanoutBackend, Settings};
use crate::db::Backend;
use crate::service::events::{Event, EventBus, RelayPort, RelayState};
use postgres::PgLink;
use redis::{RedisLink, RedisTarget};
use wire::Origin;

/// Events waiting for the relay while it cannot send.
pub const QUEUE: usize = 1024;
/// How often a connected relay checks its connection.
pub const PING_EVERY: Duration = Duration::from_secs(10);
/// How long a connection attempt, a ping or a send may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// First reconnection delay.
const FIRST_RETRY: Duration = Duration::from_millis(250);

/// A connection failure, as logged (never with credentials).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LinkError(pub String);

/// Why the fan-out cannot be set up (a configuration error).
#[derive(Debug, thiserror::Error)]
#[error("fan-out: {0}")]
pub struct FanoutError(String);

/// Where events go.
#[derive(Debug, Clone)]
pub enum Target {
    /// PostgreSQL LISTEN/NOTIFY.
    Postgres(Box<tokio_postgres::Config>),
    /// Redis pub/sub (direct or through Sentinel).
    Redis(RedisTarget),
}

impl Target {
    /// The backend's name, as `/readyz` shows it.
    pub fn name(&self) -> &'static str {
        match self {
            Target::Postgres(_) => "postgres",
            Target::Redis(RedisTarget::Direct(_)) => "redis",
            Target::Redis(RedisTarget::Sentinel { .. }) => "redis-sentinel",
        }
    }

    /// The target `settings` describe; `None` when events stay in the process.
    pub fn from_settings(settings: &Settings) -> Result<Option<Target>, FanoutError> {
        let f = &settings.fanout;
        let database = settings.database_url();
        let db_is_postgres = matches!(Backend::from_url(&database), Ok((Backend::Postgres, _)));
        let backend = match f.backend {
            FanoutBackend::Auto if db_is_postgres => FanoutBackend::Postgres,
            FanoutBackend::Auto => FanoutBackend::None,
            other => other,
        };
        let target = match backend {
            FanoutBackend::None | FanoutBackend::Auto => return Ok(None),
            FanoutBackend::Postgres => {
                let url = match &f.postgres_url {
                    Some(url) => url.expose().to_owned(),
                    None if db_is_postgres => database,
                    None => {
                        return Err(FanoutError(
                            "backend `postgres` needs a PostgreSQL database.url or fanout.postgres_url"
                                .to_owned(),
                        ));
                    }
                };
                let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
                    FanoutError(format!(
                        "the PostgreSQL URL cannot be used for LISTEN ({e}); set fanout.postgres_url"
                    ))
                })?;
                config
                    .application_name(postgres::APPLICATION_NAME)
                    .connect_timeout(settings.database.connect_timeout.min(IO_TIMEOUT));
                Target::Postgres(Box::new(config))
            }
            FanoutBackend::Redis => {
                let info = redis_info(&f.redis_url, "fanout.redis_url")?;
                let info = match &f.redis_password {
                    Some(pw) => {
                        let redis = info.redis_settings().clone().set_password(pw.expose());
                        info.set_redis_settings(redis)
                    }
                    None => info,
                };
                Target::Redis(RedisTarget::Direct(info))
            }
            FanoutBackend::RedisSentinel => {
                let sentinels = f
                    .sentinels
                    .iter()
                    .map(|s| redis_info(s, "fanout.sentinels"))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut node = ::redis::RedisConnectionInfo::default();
                if let Some(pw) = &f.redis_password {
                    node = node.set_password(pw.expose());
                }
                Target::Redis(RedisTarget::Sentinel {
                    sentinels,
                    master: f.sentinel_master.clone(),
                    node,
                })
            }
        };
        Ok(Some(target))
    }
}

/// `host:port` or a `redis://` URL as connection info.
fn redis_info(address: &str, key: &str) -> Result<::redis::ConnectionInfo, FanoutError> {
    use ::redis::IntoConnectionInfo;
    let url = if address.contains("://") {
        address.to_owned()
    } else {
        format!("redis://{address}")
    };
    url.as_str()
        .into_connection_info()
        .map_err(|e| FanoutError(format!("{key}: `{address}` is not a Redis address ({e})")))
}

/// One open connection of either backend.
enum Link {
    Postgres(PgLink),
    Redis(RedisLink),
}

impl Link {
    async fn connect(target: &Target, channel: &str) -> Result<Link, LinkError> {
        let connecting = async {
            match target {
                Target::Postgres(config) => {
                    PgLink::connect(config, channel).await.map(Link::Postgres)
                }
                Target::Redis(t) => RedisLink::connect(t, channel).await.map(Link::Redis),
            }
        };
        tokio::time::timeout(IO_TIMEOUT, connecting)
            .await
            .unwrap_or_else(|_| Err(LinkError("connection attempt timed out".to_owned())))
    }

    async fn recv(&mut self) -> Result<String, LinkError> {
        match self {
            Link::Postgres(l) => l.recv().await,
            Link::Redis(l) => l.recv().await,
        }
    }

    async fn publish(&mut self, channel: &str, payload: &str) -> Result<(), LinkError> {
        let sending = async {
            match self {
                Link::Postgres(l) => l.publish(channel, payload).await,
                Link::Redis(l) => l.publish(channel, payload).await,
            }
        };
        tokio::time::timeout(IO_TIMEOUT, sending)
            .await
            .unwrap_or_else(|_| Err(LinkError("send timed out".to_owned())))
    }

    async fn ping(&mut self) -> Result<(), LinkError> {
        let pinging = async {
            match self {
                Link::Postgres(l) => l.ping().await,
                Link::Redis(l) => l.ping().await,
            }
        };
        tokio::time::timeout(IO_TIMEOUT, pinging)
            .await
            .unwrap_or_else(|_| Err(LinkError("no answer to a ping".to_owned())))
    }
}

/// The bus of a process, and its relay when events cross instances.
pub fn open(settings: &Settings) -> Result<(EventBus, Option<Relay>), FanoutError> {
    Ok(match Target::from_settings(settings)? {
        None => (EventBus::default(), None),
        Some(target) => {
            let (bus, port) = EventBus::with_relay(1024, QUEUE, target.name());
            let relay = Relay {
                target,
                channel: settings.fanout.channel.clone(),
                max_delay: settings.fanout.reconnect_max_delay.max(FIRST_RETRY),
                origin: Origin::generate(),
                port,
            };
            (bus, Some(relay))
        }
    })
}

/// Sends `events` to the running instances once, for a command that is not a server
/// (the CLI deleting a runner). Nothing to do when the configuration has no fan-out.
pub async fn send_once(settings: &Settings, events: &[Event]) -> Result<(), FanoutError> {
    let Some(target) = Target::from_settings(settings)? else {
        return Ok(());
    };
    let channel = &settings.fanout.channel;
    let mut link = Link::connect(&target, channel)
        .await
        .map_err(|e| FanoutError(format!("cannot reach {}: {e}", target.name())))?;
    let origin = Origin::generate();
    for event in events.iter().filter(|e| !e.is_local()) {
        let payload = wire::encode(origin, event).map_err(|e| FanoutError(e.to_string()))?;
        link.publish(channel, &payload)
            .await
            .map_err(|e| FanoutError(format!("cannot send to {}: {e}", target.name())))?;
    }
    Ok(())
}

/// The relay task, not started yet.
pub struct Relay {
    target: Target,
    channel: String,
    max_delay: Duration,
    origin: Origin,
    port: RelayPort,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("backend", &self.target.name())
            .field("channel", &self.channel)
            .finish()
    }
}

/// Why a connected session ended.
enum SessionEnd {
    /// Asked to stop, or every bus handle is gone.
    Stopped,
    /// The connection failed.
    Lost(LinkError),
}

impl Relay {
    /// Runs the relay until `stop` resolves; what is queued then is sent first.
    pub fn spawn(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(stop))
    }

    async fn run(mut self, stop: impl Future<Output = ()> + Send) {
        tokio::pin!(stop);
        let backend = self.target.name();
        let mut delay = FIRST_RETRY;
        // An envelope taken from the queue whose send failed: sent first next time.
        let mut unsent: Option<String> = None;
        let mut connected_once = false;
        // Set while disconnected: since when, and how many attempts failed.
        let mut outage: Option<(Instant, u32)> = None;
        loop {
            let attempt = tokio::select! {
                () = &mut stop => return,
                link = Link::connect(&self.target, &self.channel) => link,
            };
            let mut link = match attempt {
                Ok(link) => link,
                Err(e) => {
                    match &mut outage {
                        Some((_, failures)) => {
                            *failures += 1;
                            tracing::debug!(backend, error = %e, "fan-out: reconnection failed");
                        }
                        None => {
                            outage = Some((Instant::now(), 1));
                            tracing::warn!(
                                backend,
                                error = %e,
                                "fan-out: cannot connect; retrying with backoff (until then, events reach this instance only)"
                            );
                        }
                    }
                    let state = if connected_once {
                        RelayState::Reconnecting
                    } else {
                        RelayState::Connecting
                    };
                    self.port.set_state(state, Some(e.0));
                    tokio::select! {
                        () = &mut stop => return,
                        () = tokio::time::sleep(jitter(delay)) => {}
                    }
                    delay = (delay * 2).min(self.max_delay);
                    continue;
                }
            };
            delay = FIRST_RETRY;
            self.port.set_state(RelayState::Connected, None);
            let dropped = self.port.take_dropped();
            match outage.take() {
                Some((since, failures)) => {
                    tracing::info!(
                        backend,
                        channel = %self.channel,
                        down_for = ?since.elapsed(),
                        failed_attempts = failures,
                        events_dropped = dropped,
                        "fan-out: connected"
                    );
                    // Other instances' events of the outage are lost: re-read.
                    self.port.deliver(Event::Resync);
                }
                None => tracing::info!(backend, channel = %self.channel, "fan-out: connected"),
            }
            connected_once = true;
            match self.session(&mut link, &mut unsent, stop.as_mut()).await {
                SessionEnd::Stopped => return,
                SessionEnd::Lost(e) => {
                    tracing::warn!(backend, error = %e, "fan-out: connection lost; reconnecting");
                    self.port.set_state(RelayState::Reconnecting, Some(e.0));
                    outage = Some((Instant::now(), 0));
                }
            }
        }
    }

    /// Relays both ways until the connection fails or `stop` resolves.
    async fn session<S: Future<Output = ()>>(
        &mut self,
        link: &mut Link,
        unsent: &mut Option<String>,
        mut stop: Pin<&mut S>,
    ) -> SessionEnd {
        if let Some(payload) = unsent.take()
            && let Err(e) = link.publish(&self.channel, &payload).await
        {
            *unsent = Some(payload);
            return SessionEnd::Lost(e);
        }
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        let mut undecodable_logged = false;
        loop {
            tokio::select! {
                () = &mut stop => {
                    self.flush(link).await;
                    return SessionEnd::Stopped;
                }
                message = link.recv() => match message {
                    Ok(text) => match wire::decode(&text, self.origin) {
                        Ok(Some(event)) => self.port.deliver(event),
                        Ok(None) => {}
                        Err(e) if !undecodable_logged => {
                            undecodable_logged = true;
                            tracing::warn!(error = %e, "fan-out: skipping a message this version cannot read (a newer instance?); further ones are logged at debug level");
                        }
                        Err(e) => tracing::debug!(error = %e, "fan-out: skipping a message"),
                    },
                    Err(e) => return SessionEnd::Lost(e),
                },
                event = self.port.next_outbound() => {
                    let Some(event) = event else { return SessionEnd::Stopped };
                    match wire::encode(self.origin, &event) {
                        Ok(payload) => {
                            if let Err(e) = link.publish(&self.channel, &payload).await {
                                *unsent = Some(payload);
                                return SessionEnd::Lost(e);
                            }
                        }
                        // A bug in whoever made the event: this process had it.
                        Err(e) => tracing::error!(error = %e, "fan-out: event delivered to this instance only"),
                    }
                }
                _ = ping.tick() => {
                    if let Err(e) = link.ping().await {
                        return SessionEnd::Lost(e);
                    }
                }
            }
        }
    }
}

impl Relay {
    /// Sends what is still queued, at the end: a failure only loses those events.
    async fn flush(&mut self, link: &mut Link) {
        while let Some(event) = self.port.try_next_outbound() {
            let Ok(payload) = wire::encode(self.origin, &event) else {
                continue;
            };
            if let Err(e) = link.publish(&self.channel, &payload).await {
                tracing::warn!(error = %e, "fan-out: cannot send the last events before stopping");
                return;
            }
        }
    }
}

/// `delay` less up to a quarter, at random, so that instances cut off together do
/// not reconnect in step.
fn jitter(delay: Duration) -> Duration {
    let random = uuid::Uuid::new_v4().as_u128() as u64 % 1000;
    delay - delay / 4 * u32::try_from(random).unwrap_or(0) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(configure: impl FnOnce(&mut Settings)) -> Settings {
        let mut s = Settings::default();
        configure(&mut s);
        s
    }

    #[test]
    fn auto_follows_the_database_and_none_keeps_events_local() {
        let sqlite = settings(|s| s.database.url = Some("sqlite://x.db".to_owned()));
        assert!(Target::from_settings(&sqlite).unwrap().is_none());
        let pg = settings(|s| s.database.url = Some("postgres://u@db:5432/prc".to_owned()));
        let target = Target::from_settings(&pg).unwrap().unwrap();
        assert_eq!(target.name(), "postgres");
        let Target::Postgres(config) = target else {
            unreachable!()
        };
        assert_eq!(
            config.get_application_name(),
            Some(postgres::APPLICATION_NAME)
        );
        assert_eq!(config.get_dbname(), Some("prc"));
        let none = settings(|s| {
            s.database.url = Some("postgres://u@db/prc".to_owned());
            s.fanout.backend = FanoutBackend::None;
        });
        assert!(Target::from_settings(&none).unwrap().is_none());
    }

    #[test]
    fn postgres_needs_a_postgres_url_that_tokio_postgres_reads() {
        let on_sqlite = settings(|s| {
            s.database.url = Some("sqlite://x.db".to_owned());
            s.fanout.backend = FanoutBackend::Postgres;
        });
        assert!(Target::from_settings(&on_sqlite).is_err());
        let apart = settings(|s| {
            s.database.url = Some("sqlite://x.db".to_owned());
            s.fanout.backend = FanoutBackend::Postgres;
            s.fanout.postgres_url = Some(crate::config::Secret::new("postgres://u@pg:5433/events"));
        });
        let Some(Target::Postgres(config)) = Target::from_settings(&apart).unwrap() else {
            panic!("a postgres target")
        };
        assert_eq!(config.get_ports(), &[5433]);
        let unreadable = settings(|s| {
            s.database.url = Some("postgres://u@db/prc?sslmode=verify-full".to_owned());
        });
        let err = Target::from_settings(&unreadable).unwrap_err().to_string();
        assert!(err.contains("fanout.postgres_url"), "{err}");
        // The database password goes to the LISTEN connection too.
        let with_password = settings(|s| {
            s.database.url = Some("postgres://u@db/prc".to_owned());
            s.database.password = Some(crate::config::Secret::new("p@ss/word"));
        });
        let Some(Target::Postgres(config)) = Target::from_settings(&with_password).unwrap() else {
            panic!("a postgres target")
        };
        assert_eq!(config.get_password(), Some(&b"p@ss/word"[..]));
    }

    #[test]
    fn redis_addresses_are_urls_or_host_ports_and_the_password_is_applied() {
        let s = settings(|s| {
            s.fanout.backend = FanoutBackend::Redis;
            s.fanout.redis_url = "redis://:old@10.0.0.1:6380/2".to_owned();
            s.fanout.redis_password = Some(crate::config::Secret::new("new"));
        });
        let Some(Target::Redis(RedisTarget::Direct(info))) = Target::from_settings(&s).unwrap()
        else {
            panic!("a redis target")
        };
        assert_eq!(info.redis_settings().password(), Some("new"));
        assert_eq!(info.addr().to_string(), "10.0.0.1:6380");

        let s = settings(|s| {
            s.fanout.backend = FanoutBackend::RedisSentinel;
            s.fanout.sentinels = vec!["127.0.0.1:26379".to_owned(), "redis://h2:26380".to_owned()];
            s.fanout.redis_password = Some(crate::config::Secret::new("pw"));
        });
        let target = Target::from_settings(&s).unwrap().unwrap();
        assert_eq!(target.name(), "redis-sentinel");
        let Target::Redis(RedisTarget::Sentinel {
            sentinels,
            master,
            node,
        }) = target
        else {
            unreachable!()
        };
        assert_eq!(master, "mymaster");
        assert_eq!(node.password(), Some("pw"));
        let addrs: Vec<String> = sentinels.iter().map(|i| i.addr().to_string()).collect();
        assert_eq!(addrs, ["127.0.0.1:26379", "h2:26380"]);

        let bad = settings(|s| {
            s.fanout.backend = FanoutBackend::RedisSentinel;
            s.fanout.sentinels = vec!["redis://".to_owned()];
        });
        assert!(Target::from_settings(&bad).is_err());
    }

    #[test]
    fn jitter_takes_off_at_most_a_quarter() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(4));
            assert!(
                d > Duration::from_secs(3) - Duration::from_millis(5)
                    && d <= Duration::from_secs(4)
            );
        }
    }
}
