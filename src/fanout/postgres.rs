//! PostgreSQL LISTEN/NOTIFY: one dedicated `tokio-postgres` connection per process,
//! outside the diesel pool, that LISTENs on the channel and sends with `pg_notify`.
//!
//! The connection must reach PostgreSQL itself or a session-pooling proxy: a
//! transaction-pooling PgBouncer hands each statement to whichever server connection
//! is free, so a LISTEN does not stay (set `fanout.postgres_url` to go around it).
//! Notifications are per database: instances share events when they share the
//! database and the channel. TLS follows `sslmode` (`disable`, `prefer`, `require`),
//! encrypting without verifying the certificate, as libpq does for those modes.

use futures_util::StreamExt;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use postgres_openssl::MakeTlsConnector;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, Config};

use super::LinkError;

/// Application name of the LISTEN connection (`pg_stat_activity.application_name`).
pub const APPLICATION_NAME: &str = "peertube-runner-connector fanout";

/// A connected, listening session.
pub struct PgLink {
    client: Client,
    notifications: mpsc::UnboundedReceiver<Result<String, String>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for PgLink {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// `"name"`, quoted as an SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn tls() -> Result<MakeTlsConnector, LinkError> {
    let mut builder = SslConnector::builder(SslMethod::tls_client())
        .map_err(|e| LinkError(format!("TLS setup: {e}")))?;
    builder.set_verify(SslVerifyMode::NONE);
    Ok(MakeTlsConnector::new(builder.build()))
}

impl PgLink {
    /// Connects and LISTENs on `channel`.
    pub async fn connect(config: &Config, channel: &str) -> Result<PgLink, LinkError> {
        let (client, mut connection) = config.connect(tls()?).await.map_err(pg_error)?;
        let (tx, notifications) = mpsc::unbounded_channel();
        // The connection object does the I/O; notifications arrive through it.
        let driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if tx.send(Ok(n.payload().to_owned())).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                }
            }
            let _ = tx.send(Err("connection closed by the server".to_owned()));
        });
        client
            .batch_execute(&format!("LISTEN {}", quote_ident(channel)))
            .await
            .map_err(pg_error)?;
        Ok(PgLink {
            client,
            notifications,
            driver,
        })
    }

    /// The next notification's payload. Cancel-safe.
    pub async fn recv(&mut self) -> Result<String, LinkError> {
        match self.notifications.recv().await {
            Some(Ok(payload)) => Ok(payload),
            Some(Err(e)) => Err(LinkError(e)),
            None => Err(LinkError("connection closed".to_owned())),
        }
    }

    /// NOTIFY `channel` with `payload`.
    pub async fn publish(&mut self, channel: &str, payload: &str) -> Result<(), LinkError> {
        self.client
            .execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
            .await
            .map(drop)
            .map_err(pg_error)
    }

    /// A round trip, to find a dead connection.
    pub async fn ping(&mut self) -> Result<(), LinkError> {
        self.client.batch_execute("").await.map_err(pg_error)
    }
}

/// The error with its cause (tokio-postgres keeps the server's message there).
fn pg_error(e: tokio_postgres::Error) -> LinkError {
    use std::error::Error;
    match e.source() {
        Some(cause) => LinkError(format!("{e}: {cause}")),
        None => LinkError(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_quoted_identifiers() {
        assert_eq!(
            quote_ident("peertube-runner-connector"),
            "\"peertube-runner-connector\""
        );
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
