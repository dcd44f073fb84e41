//! Command line: `serve`, `migrate`, registration tokens, runners, `config`. Those
//! admin subcommands work directly on the database, so they need no running server.
//! `job …` and `video …` talk to a running server over HTTP ([`remote`]).

mod client;
pub mod progress;
pub mod remote;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::config::{Overrides, Settings};
use crate::db::Db;
use crate::service::events::{Event, EventBus};
use crate::service::{import_django, registration_tokens, runners, webhooks};
use crate::startup::{Application, open_database};

/// Standalone PeerTube remote-runner server.
#[derive(Debug, Parser)]
#[command(name = "peertube-runner-connector", version, about)]
pub struct Cli {
    /// TOML configuration file (layered over the defaults, under PRC_* variables).
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "PRC_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Database URL (postgres://… or sqlite://PATH); overrides the file and PRC_DATABASE__URL.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API and the socket hub.
    Serve {
        /// Listen address, e.g. 0.0.0.0:8000.
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
        /// Public origin runners use to reach this server, e.g. https://transcode.example.org.
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Manage registration tokens.
    #[command(subcommand)]
    RegistrationToken(TokenCommand),
    /// Manage registered runners.
    #[command(subcommand)]
    Runner(RunnerCommand),
    /// Webhook deliveries (the outbox) and secrets.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Print the effective configuration (secrets masked).
    Config,
    /// Runner jobs of a running server (admin API: needs an admin key).
    Job {
        /// Server and key.
        #[command(flatten)]
        remote: remote::Remote,
        /// What to do.
        #[command(subcommand)]
        command: remote::JobCommand,
    },
    /// Videos of a running server (video API): submit, follow, list, delete, retry.
    Video {
        /// Server and key.
        #[command(flatten)]
        remote: remote::Remote,
        /// What to do.
        #[command(subcommand)]
        command: remote::VideoCommand,
    },
    /// Import a django-peertube-runner-connector database: registration tokens, runners
    /// (they keep their tokens), videos with their files (they stay where they are).
    ImportDjango {
        /// The library's database: postgres://…, sqlite://PATH or a SQLite file path.
        #[arg(long, value_name = "URL")]
        from: String,
        /// Prefix of the library's tables (`schema.prefix` on PostgreSQL).
        #[arg(long, value_name = "PREFIX", default_value = crate::domain::django::DEFAULT_TABLE_PREFIX)]
        table_prefix: String,
        /// Do everything but commit.
        #[arg(long)]
        dry_run: bool,
        /// Plan jobs for the missing renditions of unfinished videos (needs their source
        /// in storage and server.public_url).
        #[arg(long)]
        replan: bool,
        /// Public origin runners reach the server at (for --replan's job URLs).
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 when the server answers 200 on /readyz (for container health checks).
    Healthcheck {
        /// URL to check; default: http://<server.bind with 0.0.0.0 as 127.0.0.1>/readyz.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
}

/// `registration-token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it.
    Create,
    /// List tokens.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a token and every runner registered with it.
    Delete {
        /// Token id (see `list`).
        id: i64,
    },
}

/// `runner …`
#[derive(Debug, Subcommand)]
pub enum RunnerCommand {
    /// List runners.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a runner; it can no longer call the API.
    Delete {
        /// Runner id (see `list`).
        id: i64,
    },
}

/// `webhook …`
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// List deliveries, newest first.
    Deliveries {
        /// Only those of this video (UUID).
        #[arg(long)]
        video: Option<String>,
        /// Only this event type (e.g. video.published).
        #[arg(long)]
        event: Option<String>,
        /// Only in this state: pending, delivered or dead.
        #[arg(long)]
        state: Option<String>,
        /// How many (at most 100).
        #[arg(long, default_value_t = 20)]
        count: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send a delivered or dead delivery again (a new delivery of the same event).
    Redeliver {
        /// Delivery id (see `deliveries`).
        id: i64,
    },
    /// Print a new random `whsec_` secret for webhooks.secret or an endpoint.
    NewSecret,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let (bind, public_url) = match &cli.command {
        Command::Serve { bind, public_url } => (bind.clone(), public_url.clone()),
        Command::ImportDjango { public_url, .. } => (None, public_url.clone()),
        _ => (None, None),
    };
    let settings = Settings::load(
        cli.config.as_deref(),
        &Overrides {
            database_url: cli.database_url.clone(),
            bind,
            public_url,
        },
    )?;
    crate::telemetry::init(&settings.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Serve { .. } => {
            let served = runtime.block_on(async {
                let app = Application::build(settings).await?;
                app.run_until_stopped().await?;
                Ok(())
            });
            // The graceful shutdown is over: a database call still running on the
            // blocking pool must not hold the exit.
            runtime.shutdown_timeout(std::time::Duration::from_millis(500));
            served
        }
        Command::Config => {
            write!(out, "{}", settings.to_toml()?)?;
            Ok(())
        }
        Command::Healthcheck { url } => {
            let url = url.unwrap_or_else(|| {
                let bind = settings.server.bind.replace("0.0.0.0", "127.0.0.1");
                format!("http://{bind}/readyz")
            });
            let status = crate::healthcheck::get_status(&url, std::time::Duration::from_secs(5))?;
            if status != 200 {
                anyhow::bail!("{url} answered {status}");
            }
            writeln!(out, "ok")?;
            Ok(())
        }
        Command::Migrate => {
            let db = open(&settings)?;
            let applied = db.run_migrations()?;
            if applied.is_empty() {
                writeln!(out, "database is up to date")?;
            }
            for name in applied {
                writeln!(out, "applied {name}")?;
            }
            Ok(())
        }
        Command::RegistrationToken(cmd) => {
            let db = open_migrated(&settings)?;
            runtime.block_on(tokens(&db, &settings, cmd, &mut out))
        }
        Command::Runner(cmd) => {
            let db = open_migrated(&settings)?;
            runtime.block_on(runner(&db, &settings, cmd, &mut out))
        }
        Command::Job { remote, command } => {
            runtime.block_on(remote::job(&settings, &remote, command))
        }
        Command::Video { remote, command } => {
            runtime.block_on(remote::video(&settings, &remote, command))
        }
        Command::ImportDjango {
            from,
            table_prefix,
            dry_run,
            replan,
            json,
            public_url: _,
        } => {
            let db = open_migrated(&settings)?;
            let options = import_django::ImportOptions {
                from,
                table_prefix,
                dry_run,
                replan,
            };
            runtime.block_on(import(&db, &settings, options, json, &mut out))
        }
        Command::Webhook(WebhookCommand::NewSecret) => {
            writeln!(out, "{}", webhooks::deliveries::new_secret())?;
            Ok(())
        }
        Command::Webhook(cmd) => {
            let db = open_migrated(&settings)?;
            runtime.block_on(webhook(&db, &settings, cmd, &mut out))
        }
    }
}

fn open(settings: &Settings) -> Result<Db> {
    open_database(settings).with_context(|| {
        format!(
            "cannot open database {}",
            redact_url(&settings.database_url())
        )
    })
}

fn open_migrated(settings: &Settings) -> Result<Db> {
    let db = open(settings)?;
    if settings.database.migrate_on_start {
        db.run_migrations()?;
    }
    Ok(db)
}

/// The URL with any password replaced, for messages.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("********"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

async fn tokens(
    db: &Db,
    settings: &Settings,
    cmd: TokenCommand,
    out: &mut impl Write,
) -> Result<()> {
    match cmd {
        TokenCommand::Create => {
            let token = registration_tokens::create(db).await?;
            writeln!(out, "{}", token.registration_token.as_str())?;
        }
        TokenCommand::List { json } => {
            let list = registration_tokens::list(db).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                writeln!(out, "{:<6} {:<42} {:>7}  CREATED", "ID", "TOKEN", "RUNNERS")?;
                for t in list {
                    writeln!(
                        out,
                        "{:<6} {:<42} {:>7}  {}",
                        t.id,
                        t.registration_token.as_str(),
                        t.registered_runners_count,
                        crate::service::timefmt::format(&t.created_at)
                    )?;
                }
            }
        }
        TokenCommand::Delete { id } => {
            let (events, mut published) = local_bus();
            registration_tokens::delete(db, &events, id).await?;
            writeln!(out, "deleted registration token {id}")?;
            tell_instances(settings, &mut published).await;
        }
    }
    Ok(())
}

/// A bus for a command's service calls, and a subscription to what they publish.
fn local_bus() -> (EventBus, tokio::sync::broadcast::Receiver<Event>) {
    let events = EventBus::default();
    let published = events.subscribe();
    (events, published)
}

/// Sends what a command published to the running instances through the configured
/// fan-out (their runners' sockets close at once). When that fails the change is made
/// all the same, and each instance finds it within `socket.reannounce_interval`.
async fn tell_instances(
    settings: &Settings,
    published: &mut tokio::sync::broadcast::Receiver<Event>,
) {
    tell_instances_or(
        settings,
        published,
        "they close the sockets of deleted runners within socket.reannounce_interval",
    )
    .await;
}

/// [`tell_instances`], saying `otherwise` of what happens when they are not told.
async fn tell_instances_or(
    settings: &Settings,
    published: &mut tokio::sync::broadcast::Receiver<Event>,
    otherwise: &str,
) {
    let mut events = Vec::new();
    while let Ok(event) = published.try_recv() {
        events.push(event);
    }
    if let Err(e) = crate::fanout::send_once(settings, &events).await {
        eprintln!("warning: running instances were not told ({e}); {otherwise}");
    }
}

async fn runner(
    db: &Db,
    settings: &Settings,
    cmd: RunnerCommand,
    out: &mut impl Write,
) -> Result<()> {
    match cmd {
        RunnerCommand::List { json } => {
            let list = runners::list(db).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                writeln!(
                    out,
                    "{:<6} {:<24} {:<10} {:<16} LAST CONTACT",
                    "ID", "NAME", "VERSION", "IP"
                )?;
                for r in list {
                    writeln!(
                        out,
                        "{:<6} {:<24} {:<10} {:<16} {}",
                        r.id,
                        r.name,
                        r.version.as_deref().unwrap_or("-"),
                        r.ip,
                        crate::service::timefmt::format(&r.last_contact)
                    )?;
                }
            }
        }
        RunnerCommand::Delete { id } => {
            let (events, mut published) = local_bus();
            runners::delete(db, &events, id).await?;
            writeln!(out, "deleted runner {id}")?;
            tell_instances(settings, &mut published).await;
        }
    }
    Ok(())
}

async fn import(
    db: &Db,
    settings: &Settings,
    options: import_django::ImportOptions,
    json: bool,
    out: &mut impl Write,
) -> Result<()> {
    let storage = crate::startup::open_storage(settings)
        .await
        .context("cannot open the storage")?;
    let media = crate::media::Media::new(settings.media.clone());
    let (events, mut published) = local_bus();
    let report = import_django::run(db, &storage, &media, settings, &events, options).await?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write!(out, "{}", report.to_text())?;
    }
    if !report.replanned.is_empty() {
        let otherwise = "they offer the new jobs within queue.refresh_interval";
        tell_instances_or(settings, &mut published, otherwise).await;
    }
    Ok(())
}

async fn webhook(
    db: &Db,
    settings: &Settings,
    cmd: WebhookCommand,
    out: &mut impl Write,
) -> Result<()> {
    use crate::db::webhooks::DeliveryFilter;
    use crate::domain::ids::VideoUuid;
    use crate::domain::webhook::DeliveryState;
    match cmd {
        WebhookCommand::Deliveries {
            video,
            event,
            state,
            count,
            json,
        } => {
            let filter = DeliveryFilter {
                video: video
                    .map(|v| {
                        VideoUuid::from_stored(&v)
                            .map_err(|_| anyhow::anyhow!("--video: not a UUID"))
                    })
                    .transpose()?,
                event: event
                    .map(|e| e.parse())
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                state: state
                    .map(|s| {
                        DeliveryState::parse(&s).ok_or_else(|| {
                            anyhow::anyhow!("--state: one of pending, delivered, dead")
                        })
                    })
                    .transpose()?,
                event_id: None,
            };
            let page = webhooks::deliveries::list(db, filter, 0, count).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&page)?)?;
                return Ok(());
            }
            writeln!(
                out,
                "{:<7} {:<24} {:<10} {:>8}  {:<24} {:<16} LAST ERROR",
                "ID", "EVENT", "STATE", "ATTEMPTS", "CREATED", "ENDPOINT"
            )?;
            for d in page.data {
                writeln!(
                    out,
                    "{:<7} {:<24} {:<10} {:>8}  {:<24} {:<16} {}",
                    d.id,
                    d.event.as_str(),
                    d.state.as_str(),
                    d.attempts,
                    crate::service::timefmt::format(&d.created_at),
                    d.endpoint.as_deref().unwrap_or("(callbackUrl)"),
                    d.last_error.as_deref().unwrap_or("-"),
                )?;
            }
            writeln!(out, "{} in all", page.total)?;
        }
        WebhookCommand::Redeliver { id } => {
            let now = crate::clock::system_now();
            let new = webhooks::deliveries::redeliver(db, &EventBus::default(), settings, id, now)
                .await?;
            writeln!(
                out,
                "delivery {id} queued again as delivery {} (a running server sends it)",
                new.id
            )?;
        }
        WebhookCommand::NewSecret => writeln!(out, "{}", webhooks::deliveries::new_secret())?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(
            redact_url("postgres://u:hunter2@h:5432/db"),
            "postgres://u:********@h:5432/db"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
