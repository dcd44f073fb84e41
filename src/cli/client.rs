//! The CLI's HTTP client of a running server: one base URL and bearer key, JSON in
//! and out, problem documents turned into errors that quote the server's `detail`
//! and `code`.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

/// How long a request other than an upload may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A server answered with an error status.
#[derive(Debug, thiserror::Error)]
#[error("{method} {path}: {status}{}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default(), code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct HttpError {
    /// The method.
    pub method: Method,
    /// The path asked.
    pub path: String,
    /// The status answered.
    pub status: StatusCode,
    /// The problem document's `detail`.
    pub detail: Option<String>,
    /// The problem document's `code`.
    pub code: Option<String>,
}

/// The API of one server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    key: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client of the server at `base` (an origin, no trailing slash needed) sending
    /// `key` as its bearer token.
    pub fn new(base: &str, key: Option<String>) -> Result<Client> {
        let base = base.trim_end_matches('/').to_owned();
        url::Url::parse(&base).with_context(|| format!("invalid server URL `{base}`"))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client { base, key, http })
    }

    /// A request to `path` (from the origin), with the key.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.key {
            Some(key) => req.bearer_auth(key),
            None => req,
        }
    }

    /// Sends `req` (to `method path`), and reads its JSON body (`Null` for 204); an
    /// error status is an [`HttpError`].
    pub async fn send(&self, method: Method, path: &str, req: RequestBuilder) -> Result<Value> {
        let res = req
            .send()
            .await
            .with_context(|| format!("cannot reach {}{path}", self.base))?;
        let status = res.status();
        let text = res
            .text()
            .await
            .with_context(|| format!("{method} {path}: cannot read the answer"))?;
        let body: Option<Value> = serde_json::from_str(&text).ok();
        if !status.is_success() {
            let field = |k: &str| {
                body.as_ref()
                    .and_then(|b| b.get(k))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            return Err(HttpError {
                method,
                path: path.to_owned(),
                status,
                detail: field("detail"),
                code: field("code"),
            }
            .into());
        }
        if status == StatusCode::NO_CONTENT || text.is_empty() {
            return Ok(Value::Null);
        }
        body.ok_or_else(|| anyhow!("{method} {path}: the answer is not JSON"))
    }

    /// `GET path` with `query`.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let req = self
            .request(Method::GET, path)
            .query(query)
            .timeout(TIMEOUT);
        self.send(Method::GET, path, req).await
    }

    /// `POST path` without a body.
    pub async fn post(&self, path: &str) -> Result<Value> {
        let req = self.request(Method::POST, path).timeout(TIMEOUT);
        self.send(Method::POST, path, req).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Value> {
        let req = self.request(Method::DELETE, path).timeout(TIMEOUT);
        self.send(Method::DELETE, path, req).await
    }
}
