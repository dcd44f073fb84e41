//! The `/runners` namespace: PeerTube's `authenticateRunnerSocket` middleware. A runner
//! joins with `auth: { runnerToken }`; its sockets are owned by its id so that they are
//! closed when the runner is deleted or unregisters.

use std::future::Future;

use serde_json::Value;
use socketio_actix::{Admission, Namespace};

use crate::error::ServiceError;

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

/// The `/runners` namespace. `authenticate` checks a runner token (the service's
/// `runners::authenticate_socket`): the runner's id, `UnknownRunnerToken`, or any other
/// error when it cannot tell (the database is down).
///
/// Outcomes: a token missing or not a string, or unknown, is refused with PeerTube's
/// CONNECT_ERROR messages; when the token cannot be checked, the connection is closed
/// with [`AUTH_UNAVAILABLE`] (WebSocket close 1013), which makes the runner reconnect
/// and try again, where a CONNECT_ERROR would stop it for good.
pub fn namespace<F, Fut>(authenticate: F) -> Namespace<i64>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<i64, ServiceError>> + Send + 'static,
{
    Namespace::new(move |auth: Option<Value>| {
        let checked = token_of(auth.as_ref()).map(|token| authenticate(token.to_owned()));
        async move {
            match checked {
                Err(message) => Admission::reject(message),
                Ok(check) => admission(check.await),
            }
        }
    })
}

/// The admission for the result of a token check.
fn admission(checked: Result<i64, ServiceError>) -> Admission<i64> {
    match checked {
        Ok(runner_id) => Admission::owned_by(runner_id),
        Err(ServiceError::UnknownRunnerToken) => Admission::reject(UNKNOWN_TOKEN),
        Err(e) => {
            tracing::error!(error = %e, "cannot authenticate a runner socket: asking it to retry");
            Admission::unavailable(AUTH_UNAVAILABLE)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn the_namespace_asks_the_callback_only_about_well_formed_tokens() {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = asked.clone();
        let ns = namespace(move |token: String| {
            seen.lock().unwrap().push(token.clone());
            async move {
                match token.as_str() {
                    "ptrt-known" => Ok(7),
                    "ptrt-unknown" => Err(ServiceError::UnknownRunnerToken),
                    // Any other failure means the token could not be checked.
                    _ => Err(ServiceError::Invalid("database down".into())),
                }
            }
        });
        let auth = |token: Value| Some(json!({ "runnerToken": token }));
        assert_eq!(
            ns.admit(auth(json!("ptrt-known"))).await,
            Admission::owned_by(7)
        );
        assert_eq!(
            ns.admit(auth(json!("ptrt-unknown"))).await,
            Admission::reject(UNKNOWN_TOKEN)
        );
        assert_eq!(
            ns.admit(auth(json!("ptrt-other"))).await,
            Admission::unavailable(AUTH_UNAVAILABLE)
        );
        assert_eq!(ns.admit(None).await, Admission::reject(NO_TOKEN));
        assert_eq!(
            ns.admit(auth(json!(42))).await,
            Admission::reject(TOKEN_NOT_A_STRING)
        );
        assert_eq!(
            *asked.lock().unwrap(),
            ["ptrt-known", "ptrt-unknown", "ptrt-other"]
        );
    }

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
