//! The `/runners` namespace: PeerTube's `authenticateRunnerSocket` middleware. A runner
//! joins with `auth: { runnerToken }`; its sockets are tagged with its id so that they
//! are closed when the runner is deleted or unregisters.

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::namespace::{Admission, Namespace};
use crate::db::Db;
use crate::domain::ids::RunnerToken;
use crate::error::ServiceError;
use crate::service;

/// The canonical name of the runners' namespace.
pub const NAMESPACE: &str = "/runners";
/// The event telling runners to call `/jobs/request`.
pub const AVAILABLE_JOBS: &str = "available-jobs";
/// CONNECT_ERROR when `auth.runnerToken` is missing or falsy (PeerTube's wording).
pub const NO_TOKEN: &str = "No runner token provided";
/// CONNECT_ERROR when `auth.runnerToken` is not a string (PeerTube's wording).
pub const TOKEN_NOT_A_STRING: &str = "Runner token is invalid";
/// CONNECT_ERROR when no runner has this token (PeerTube's wording).
pub const UNKNOWN_TOKEN: &str = "Invalid runner token.";
/// Close reason when the token could not be checked (database down). Deliberately not
/// a CONNECT_ERROR: socket.io-client never retries those, while a closed transport
/// makes it reconnect with backoff and authenticate again.
pub const AUTH_UNAVAILABLE: &str = "Runner authentication temporarily unavailable, retry later";

/// Authenticates runner sockets against the runners table.
#[derive(Debug, Clone)]
pub struct RunnersNamespace {
    db: Db,
}

impl RunnersNamespace {
    /// A namespace checking tokens in `db`.
    pub fn new(db: Db) -> RunnersNamespace {
        RunnersNamespace { db }
    }
}

/// What the auth payload's `runnerToken` is, judged as PeerTube's JavaScript does
/// (`if (!runnerToken)`, then `typeof runnerToken !== 'string'`).
fn token_of(auth: Option<&Value>) -> Result<&str, &'static str> {
    match auth.and_then(|a| a.get("runnerToken")) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Err(NO_TOKEN),
        Some(Value::String(s)) if s.is_empty() => Err(NO_TOKEN),
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => Err(NO_TOKEN),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(TOKEN_NOT_A_STRING),
    }
}

impl Namespace for RunnersNamespace {
    fn admit(&self, auth: Option<Value>) -> BoxFuture<'static, Admission> {
        let db = self.db.clone();
        Box::pin(async move {
            let token = match token_of(auth.as_ref()) {
                Ok(token) => token,
                Err(message) => return Admission::Refuse(message.to_owned()),
            };
            // A string no runner token can be (too long, control characters) is
            // unknown, as PeerTube's lookup would find it.
            let Ok(token) = RunnerToken::parse(token) else {
                return Admission::Refuse(UNKNOWN_TOKEN.to_owned());
            };
            match service::runners::authenticate(&db, &token).await {
                Ok(runner) => Admission::Accept {
                    owner: Some(runner.id),
                    welcome: Vec::new(),
                },
                Err(ServiceError::UnknownRunnerToken) => {
                    Admission::Refuse(UNKNOWN_TOKEN.to_owned())
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot authenticate a runner socket: asking it to retry");
                    Admission::Retry(AUTH_UNAVAILABLE.to_owned())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tokens_are_judged_like_peertube() {
        assert_eq!(token_of(None), Err(NO_TOKEN));
        assert_eq!(token_of(Some(&json!({}))), Err(NO_TOKEN));
        assert_eq!(token_of(Some(&json!({"runnerToken": null}))), Err(NO_TOKEN));
        assert_eq!(token_of(Some(&json!({"runnerToken": ""}))), Err(NO_TOKEN));
        assert_eq!(token_of(Some(&json!({"runnerToken": 0}))), Err(NO_TOKEN));
        assert_eq!(
            token_of(Some(&json!({"runnerToken": false}))),
            Err(NO_TOKEN)
        );
        assert_eq!(
            token_of(Some(&json!({"runnerToken": 42}))),
            Err(TOKEN_NOT_A_STRING)
        );
        assert_eq!(
            token_of(Some(&json!({"runnerToken": ["a"]}))),
            Err(TOKEN_NOT_A_STRING)
        );
        assert_eq!(
            token_of(Some(&json!({"runnerToken": true}))),
            Err(TOKEN_NOT_A_STRING)
        );
        assert_eq!(
            token_of(Some(&json!({"runnerToken": "ptrt-x"}))),
            Ok("ptrt-x")
        );
    }
}
