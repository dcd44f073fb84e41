//! The OpenAPI document cannot drift from the service:
//! - every route of the route table (`src/http/mod.rs::configure`) is in the document,
//!   and every operation of the document is a route of the table;
//! - real answers of every operation, successes and errors, are checked against it:
//!   the status is one it lists, the media type one it gives, and the body valid
//!   against its schema (JSON Schema 2020-12, formats checked, and no member the
//!   schema does not name: objects are made closed for the check).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use peertube_runner_connector::config::Secret;
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin_api::{ADMIN_KEY, API_KEY};
use crate::helpers::{TestApp, spawn_app_with};
use crate::runner_sim::{SimRunner, clip};

/// The document and what the test checked against it.
struct Spec {
    doc: Value,
    /// (method, path template) → statuses checked.
    checked: Mutex<BTreeMap<(String, String), BTreeSet<u16>>>,
}

/// Makes every object schema with `properties` closed (`additionalProperties: false`)
/// unless it says otherwise: an undocumented member fails the check.
fn close_objects(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            for child in map.values_mut() {
                close_objects(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

impl Spec {
    async fn load(app: &TestApp) -> Spec {
        let res = app
            .client
            .get(app.url("/api/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let doc: Value = res.json().await.unwrap();
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
        let spec = Spec {
            doc,
            checked: Mutex::new(BTreeMap::new()),
        };
        spec.record("get", "/api/openapi.json", 200);
        spec
    }

    fn record(&self, method: &str, path: &str, status: u16) {
        self.checked
            .lock()
            .unwrap()
            .entry((method.to_owned(), path.to_owned()))
            .or_default()
            .insert(status);
    }

    fn operation(&self, method: &str, path: &str) -> &Value {
        let op = &self.doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not in the document");
        op
    }

    /// What is wrong with `body` under `schema` (of this document), objects closed.
    fn errors(&self, schema: &Value, body: &Value) -> Vec<String> {
        let mut schema = schema.clone();
        let mut components = self.doc["components"].clone();
        close_objects(&mut components);
        close_objects(&mut schema);
        let mut root = match schema {
            Value::Object(m) => m,
            other => panic!("schema {other}"),
        };
        root.insert("components".to_owned(), components);
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&Value::Object(root))
            .unwrap_or_else(|e| panic!("bad schema: {e}"));
        validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    /// Checks `res`, the answer of `method path` (the document's path template), and
    /// returns its status and JSON body (`Null` when it has none).
    async fn check(&self, method: &str, path: &str, res: reqwest::Response) -> (u16, Value) {
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned());
        let bytes = res.bytes().await.unwrap();
        let responses = &self.operation(method, path)["responses"];
        let documented = &responses[status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {path} answered {status}, which the document does not list ({})",
            String::from_utf8_lossy(&bytes)
        );
        self.record(method, path, status);
        let content = documented.get("content").and_then(Value::as_object);
        let Some(content) = content else {
            assert!(
                bytes.is_empty() || method == "head",
                "{method} {path} {status}: the document lists no body, got {}",
                String::from_utf8_lossy(&bytes)
            );
            return (status, Value::Null);
        };
        if method == "head" {
            return (status, Value::Null);
        }
        let ct = content_type.unwrap_or_default();
        let media = content
            .get(&ct)
            .or_else(|| {
                content
                    .get("application/octet-stream")
                    .filter(|_| !ct.contains("json"))
            })
            .or_else(|| content.get("text/html").filter(|_| !ct.contains("json")))
            .unwrap_or_else(|| {
                panic!(
                    "{method} {path} {status}: media type {ct} is not one of {:?}",
                    content.keys().collect::<Vec<_>>()
                )
            });
        if !ct.ends_with("json") {
            return (status, Value::Null);
        }
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{method} {path} {status}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        let schema = media["schema"].clone();
        assert!(!schema.is_null(), "{method} {path} {status}: no schema");
        let errors = self.errors(&schema, &body);
        assert!(
            errors.is_empty(),
            "{method} {path} {status} does not match the document:\n{}\n{body:#}",
            errors.join("\n")
        );
        (status, body)
    }
}

/// `method url` with an optional bearer key and JSON body.
async fn send(
    app: &TestApp,
    method: Method,
    url: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(url));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// The routes of `src/http/mod.rs::configure`: `(method, path)`, `*` for any method,
/// actix patterns as OpenAPI templates (`{key:.+}` is `{key}`).
fn route_table() -> BTreeSet<(String, String)> {
    let src = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/mod.rs"),
    )
    .unwrap();
    let start = src.find("pub fn configure").unwrap();
    let body = &src[start..];
    let bytes = body.as_bytes();
    // (prefix, depth at which it was opened)
    let mut scopes: Vec<(String, i32)> = Vec::new();
    let mut routes = BTreeSet::new();
    let mut depth = 0i32;
    let mut i = 0;
    let literal_at = |from: usize| -> Option<(String, usize)> {
        let rest = &body[from..];
        let open = rest.find('"')?;
        // A format!("{serve_path}/…") resource: the default serve path.
        let close = rest[open + 1..].find('"')? + open + 1;
        let text = rest[open + 1..close]
            .replace("{serve_path}", "/static")
            .replace("{{", "{")
            .replace("}}", "}");
        Some((text, from + close + 1))
    };
    let template = |p: &str| -> String {
        let mut out = String::new();
        let mut chars = p.chars().peekable();
        while let Some(c) = chars.next() {
            out.push(c);
            if c == '{' {
                for d in chars.by_ref() {
                    if d == ':' {
                        for e in chars.by_ref() {
                            if e == '}' {
                                break;
                            }
                        }
                        out.push('}');
                        break;
                    }
                    out.push(d);
                    if d == '}' {
                        break;
                    }
                }
            }
        }
        out
    };
    let method_after = |from: usize| -> String {
        let rest = &body[from..];
        let web = rest.find("web::").unwrap() + 5;
        let name: String = rest[web..]
            .chars()
            .take_while(|c| c.is_alphabetic())
            .collect();
        match name.as_str() {
            "route" => "*".to_owned(),
            m => m.to_owned(),
        }
    };
    let mut resource: Option<String> = None;
    while i < bytes.len() {
        let rest = &body[i..];
        if rest.starts_with("web::scope(") {
            // Open until the call that takes the scope (`.service(…)`) closes.
            let (p, end) = literal_at(i).unwrap();
            scopes.push((p, depth));
            depth += 1;
            i = end;
            continue;
        }
        if rest.starts_with("web::resource(") {
            // `web::resource(format!("…"))`: past the literal and format!'s `)`.
            let (p, end) = literal_at(i).unwrap();
            resource = Some(p);
            depth += 1;
            i = end + usize::from(body[end..].starts_with(')'));
            continue;
        }
        if rest.starts_with(".route(") {
            let after = i + ".route(".len();
            let prefix: String = scopes.iter().map(|(p, _)| p.as_str()).collect();
            let next_quote = body[after..].find('"');
            let next_web = body[after..].find("web::");
            match (next_quote, next_web) {
                (Some(q), Some(w)) if q < w => {
                    let (p, end) = literal_at(after).unwrap();
                    routes.insert((method_after(end), template(&format!("{prefix}{p}"))));
                }
                _ => {
                    let r = resource
                        .clone()
                        .expect("a .route(web::…) outside a resource");
                    routes.insert((method_after(after), template(&r)));
                }
            }
            i = after;
            depth += 1;
            continue;
        }
        match bytes[i] {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                while scopes.last().is_some_and(|(_, d)| depth < *d) {
                    scopes.pop();
                }
            }
            b'}' if depth == 0 => break,
            _ => {}
        }
        i += 1;
    }
    routes
}

/// `(method, path)` of every operation of the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if matches!(
                method.as_str(),
                "get" | "post" | "put" | "delete" | "head" | "patch" | "options"
            ) {
                ops.insert((method.clone(), path.clone()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn every_route_of_the_route_table_is_in_the_document_and_back() {
    let app = spawn_app_with(|_| {}).await;
    let spec = Spec::load(&app).await;
    let table = route_table();
    assert!(table.len() > 30, "the route table parser found {table:?}");
    let ops = operations(&spec.doc);
    let mut missing = Vec::new();
    // The dashboard's pages are HTML for people (src/http/dashboard), not API
    // operations; tests/api/dashboard.rs covers them.
    let dashboard: Vec<_> = table
        .iter()
        .filter(|(_, p)| p.starts_with("/dashboard"))
        .collect();
    assert!(
        dashboard.len() > 5,
        "the parser found the dashboard routes: {dashboard:?}"
    );
    for (method, path) in table.iter().filter(|(_, p)| !p.starts_with("/dashboard")) {
        let documented = if method == "*" {
            ops.iter().any(|(_, p)| p == path)
        } else {
            ops.contains(&(method.clone(), path.clone()))
        };
        if !documented {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(
        missing.is_empty(),
        "routes of src/http/mod.rs missing from the OpenAPI document (add #[utoipa::path] \
         to their handlers and list them in http::openapi::ApiDoc): {missing:?}"
    );
    let mut stale = Vec::new();
    for (method, path) in &ops {
        if !table.contains(&(method.clone(), path.clone()))
            && !table.contains(&("*".to_owned(), path.clone()))
        {
            stale.push(format!("{method} {path}"));
        }
    }
    assert!(stale.is_empty(), "documented but not routed: {stale:?}");
}

#[test]
fn the_route_table_parser_reads_scopes_resources_and_patterns() {
    let table = route_table();
    for (m, p) in [
        ("get", "/healthz"),
        ("*", "/socket.io"),
        ("post", "/api/v1/runners/jobs/{jobUUID}/accept"),
        (
            "post",
            "/api/v1/runners/jobs/{jobUUID}/files/videos/{videoId}/studio/task-files/{filename}",
        ),
        ("get", "/api/v1/runners"),
        ("delete", "/api/v1/runners/{runnerId}"),
        ("get", "/api/v1/videos"),
        ("head", "/static/{key}"),
        ("get", "/api/docs/{file}"),
    ] {
        assert!(
            table.contains(&(m.to_owned(), p.to_owned())),
            "{m} {p} in {table:#?}"
        );
    }
}

#[tokio::test]
async fn real_answers_of_every_operation_match_the_document() {
    let app = spawn_app_with(|s| {
        s.auth.admin_keys = vec![Secret::new(ADMIN_KEY)];
        s.auth.api_keys = vec![Secret::new(API_KEY)];
        s.transcoding.max_failures = 1;
        s.limits.runner_upload_bytes = 50 * 1024 * 1024;
        // Loopback and not allowed: each delivery is refused, dead at once.
        s.webhooks.endpoints = vec![crate::webhook_helpers::endpoint(
            "refused",
            "http://127.0.0.1:9/hook",
        )];
    })
    .await;
    let spec = Spec::load(&app).await;
    let s = &spec;
    let admin = Some(ADMIN_KEY);
    let api = Some(API_KEY);
    let get = Method::GET;
    let post = Method::POST;
    let del = Method::DELETE;

    // Service.
    s.check(
        "get",
        "/healthz",
        send(&app, get.clone(), "/healthz", None, None).await,
    )
    .await;
    s.check(
        "get",
        "/readyz",
        send(&app, get.clone(), "/readyz", None, None).await,
    )
    .await;
    let res = send(&app, get.clone(), "/metrics", None, None).await;
    assert_eq!(s.check("get", "/metrics", res).await.0, 200);
    let guarded = spawn_app_with(|s| s.metrics.keys = vec![Secret::new("scraper")]).await;
    let res = send(&guarded, get.clone(), "/metrics", Some("other"), None).await;
    assert_eq!(s.check("get", "/metrics", res).await.0, 401);
    let res = app
        .client
        .get(app.url("/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap();
    assert_eq!(s.check("get", "/socket.io", res).await.0, 200);
    let res = app
        .client
        .get(app.url("/socket.io/?EIO=3&transport=polling"))
        .send()
        .await
        .unwrap();
    assert_eq!(s.check("get", "/socket.io", res).await.0, 400);
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = no_redirect.get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(res.headers()["location"], "/api/docs/index.html");
    assert_eq!(s.check("get", "/api/docs", res).await.0, 302);
    let res = send(&app, get.clone(), "/api/docs/index.html", None, None).await;
    assert_eq!(s.check("get", "/api/docs/{file}", res).await.0, 200);
    let res = send(
        &app,
        get.clone(),
        "/api/docs/swagger-initializer.js",
        None,
        None,
    )
    .await;
    let js = {
        assert_eq!(res.status(), 200);
        res.text().await.unwrap()
    };
    assert!(
        js.contains("/api/openapi.json"),
        "Swagger UI loads this document"
    );
    let res = send(&app, get.clone(), "/api/docs/nope.js", None, None).await;
    assert_eq!(s.check("get", "/api/docs/{file}", res).await.0, 404);

    // A real video through the API, for the runner calls.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.mp4");
    std::fs::write(&file, &clip().mp4).unwrap();
    let submit = |key: Option<&'static str>| {
        let file = file.clone();
        let app = &app;
        async move {
            let form = reqwest::multipart::Form::new()
                .text("name", "clip")
                .text("resolutions", "240")
                .part(
                    "videoFile",
                    reqwest::multipart::Part::bytes(std::fs::read(&file).unwrap())
                        .file_name("clip.mp4"),
                );
            let mut req = app.client.post(app.url("/api/v1/videos")).multipart(form);
            if let Some(k) = key {
                req = req.bearer_auth(k);
            }
            req.send().await.unwrap()
        }
    };
    let (status, video) = s.check("post", "/api/v1/videos", submit(api).await).await;
    assert_eq!(status, 201);
    let video_uuid = video["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        s.check("post", "/api/v1/videos", submit(None).await)
            .await
            .0,
        401
    );
    let res = app
        .client
        .post(app.url("/api/v1/videos"))
        .bearer_auth(API_KEY)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(s.check("post", "/api/v1/videos", res).await.0, 415);
    let res = send(
        &app,
        post.clone(),
        "/api/v1/videos",
        api,
        Some(json!({"filePath": "no/such.mp4"})),
    )
    .await;
    assert_eq!(s.check("post", "/api/v1/videos", res).await.0, 400);

    let video_path = format!("/api/v1/videos/{video_uuid}");
    let res = send(&app, get.clone(), &video_path, admin, None).await;
    assert_eq!(s.check("get", "/api/v1/videos/{uuid}", res).await.0, 200);
    let res = send(
        &app,
        get.clone(),
        "/api/v1/videos/3f1e5bfa-1111-4a4a-9b9b-0123456789ab",
        api,
        None,
    )
    .await;
    assert_eq!(s.check("get", "/api/v1/videos/{uuid}", res).await.0, 404);

    // Webhook deliveries: the video's `video.created`, refused, so dead.
    let deliveries = "/api/v1/webhooks/deliveries";
    let dead = format!("{deliveries}?video={video_uuid}&state=dead&event=video.created");
    let mut page = Value::Null;
    for _ in 0..100 {
        let res = send(&app, get.clone(), &dead, api, None).await;
        let (status, body) = s.check("get", deliveries, res).await;
        assert_eq!(status, 200);
        if body["total"].as_i64() > Some(0) {
            page = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let id = page["data"][0]["id"].as_i64().expect("a dead delivery");
    let res = send(
        &app,
        get.clone(),
        &format!("{deliveries}?state=lost"),
        api,
        None,
    )
    .await;
    assert_eq!(s.check("get", deliveries, res).await.0, 400);
    let one = "/api/v1/webhooks/deliveries/{id}";
    let res = send(&app, get.clone(), &format!("{deliveries}/{id}"), api, None).await;
    let (status, body) = s.check("get", one, res).await;
    assert_eq!(
        (status, body["payload"]["type"].as_str()),
        (200, Some("video.created"))
    );
    let res = send(
        &app,
        get.clone(),
        &format!("{deliveries}/999999"),
        api,
        None,
    )
    .await;
    assert_eq!(s.check("get", one, res).await.0, 404);
    let again = "/api/v1/webhooks/deliveries/{id}/redeliver";
    let res = send(
        &app,
        post.clone(),
        &format!("{deliveries}/{id}/redeliver"),
        api,
        None,
    )
    .await;
    let (status, body) = s.check("post", again, res).await;
    assert_eq!(status, 201);
    assert_eq!(
        body["eventId"], page["data"][0]["eventId"],
        "the same event"
    );
    let res = send(
        &app,
        post.clone(),
        &format!("{deliveries}/999999/redeliver"),
        api,
        None,
    )
    .await;
    assert_eq!(s.check("post", again, res).await.0, 404);
    let res = send(
        &app,
        get.clone(),
        "/api/v1/videos?count=5&state=transcoding",
        api,
        None,
    )
    .await;
    assert_eq!(s.check("get", "/api/v1/videos", res).await.0, 200);
    let res = send(&app, get.clone(), "/api/v1/videos?state=nope", api, None).await;
    assert_eq!(s.check("get", "/api/v1/videos", res).await.0, 400);
    let res = send(
        &app,
        post.clone(),
        &format!("{video_path}/retry"),
        api,
        None,
    )
    .await;
    assert_eq!(
        s.check("post", "/api/v1/videos/{uuid}/retry", res).await.0,
        409
    );
    let res = send(
        &app,
        post.clone(),
        "/api/v1/videos/3f1e5bfa-1111-4a4a-9b9b-0123456789ab/retry",
        api,
        None,
    )
    .await;
    assert_eq!(
        s.check("post", "/api/v1/videos/{uuid}/retry", res).await.0,
        404
    );

    // Runners.
    let res = send(
        &app,
        post.clone(),
        "/api/v1/runners/registration-tokens/generate",
        admin,
        None,
    )
    .await;
    assert_eq!(
        s.check("post", "/api/v1/runners/registration-tokens/generate", res)
            .await
            .0,
        204
    );
    let res = send(
        &app,
        post.clone(),
        "/api/v1/runners/registration-tokens/generate",
        None,
        None,
    )
    .await;
    assert_eq!(
        s.check("post", "/api/v1/runners/registration-tokens/generate", res)
            .await
            .0,
        401
    );
    let (_, tokens) = s
        .check(
            "get",
            "/api/v1/runners/registration-tokens",
            send(
                &app,
                get.clone(),
                "/api/v1/runners/registration-tokens",
                admin,
                None,
            )
            .await,
        )
        .await;
    let res = send(
        &app,
        get.clone(),
        "/api/v1/runners/registration-tokens?count=500",
        admin,
        None,
    )
    .await;
    assert_eq!(
        s.check("get", "/api/v1/runners/registration-tokens", res)
            .await
            .0,
        400
    );
    let reg_token = tokens["data"][0]["registrationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = send(
        &app,
        post.clone(),
        "/api/v1/runners/register",
        None,
        Some(json!({"registrationToken": reg_token, "name": "doc-runner", "description": "d"})),
    )
    .await;
    let (status, registered) = s.check("post", "/api/v1/runners/register", res).await;
    assert_eq!(status, 200);
    let runner = SimRunner {
        base: app.address.clone(),
        client: reqwest::Client::new(),
        id: registered["id"].as_i64().unwrap(),
        token: registered["runnerToken"].as_str().unwrap().to_owned(),
        name: "doc-runner".to_owned(),
    };
    for body in [
        json!({"registrationToken": "ptrrt-nope", "name": "x"}),
        json!({"name": ""}),
        json!({"registrationToken": reg_token, "name": "doc-runner"}),
    ] {
        let res = send(
            &app,
            post.clone(),
            "/api/v1/runners/register",
            None,
            Some(body),
        )
        .await;
        s.check("post", "/api/v1/runners/register", res).await;
    }
    let res = runner.request(json!({})).await;
    let (_, offers) = s.check("post", "/api/v1/runners/jobs/request", res).await;
    let res = send(
        &app,
        post.clone(),
        "/api/v1/runners/jobs/request",
        None,
        Some(json!({"runnerToken": "ptrt-nope"})),
    )
    .await;
    assert_eq!(
        s.check("post", "/api/v1/runners/jobs/request", res).await.0,
        404
    );
    let res = send(
        &app,
        post.clone(),
        "/api/v1/runners/jobs/request",
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        s.check("post", "/api/v1/runners/jobs/request", res).await.0,
        400
    );
    let job_uuid = offers["availableJobs"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();

    let accept = "/api/v1/runners/jobs/{jobUUID}/accept";
    let (status, accepted) = s
        .check("post", accept, runner.accept(&job_uuid).await)
        .await;
    assert_eq!(status, 200);
    let job_token = accepted["job"]["jobToken"].as_str().unwrap().to_owned();
    assert_eq!(
        s.check("post", accept, runner.accept(&job_uuid).await)
            .await
            .0,
        400
    );
    assert_eq!(
        s.check(
            "post",
            accept,
            runner.accept("3f1e5bfa-1111-4a4a-9b9b-0123456789ab").await
        )
        .await
        .0,
        404
    );

    let update = "/api/v1/runners/jobs/{jobUUID}/update";
    let res = runner
        .update(&job_uuid, &job_token, &[("progress", "10")], vec![])
        .await;
    assert_eq!(s.check("post", update, res).await.0, 204);
    let res = runner
        .update(&job_uuid, &job_token, &[("progress", "x")], vec![])
        .await;
    assert_eq!(s.check("post", update, res).await.0, 400);
    let res = runner.update(&job_uuid, "ptrjt-nope", &[], vec![]).await;
    assert_eq!(s.check("post", update, res).await.0, 404);

    // Inputs.
    let input = accepted["job"]["payload"]["input"]["videoFileUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let files = "/api/v1/runners/jobs/{jobUUID}/files/videos/{videoId}";
    let base = input.trim_end_matches("/max-quality").to_owned();
    for (suffix, path) in [
        ("/max-quality", "/max-quality"),
        ("/max-quality/audio", "/max-quality/audio"),
        ("/previews/max-quality", "/previews/max-quality"),
    ] {
        let template = format!("{files}{path}");
        let res = runner
            .download(&format!("{base}{suffix}"), &job_token)
            .await;
        assert_eq!(s.check("post", &template, res).await.0, 200, "{suffix}");
        let res = runner
            .download(&format!("{base}{suffix}"), "ptrjt-nope")
            .await;
        assert_eq!(s.check("post", &template, res).await.0, 404, "{suffix}");
        let other = base.replace(&video_uuid, "not-a-video");
        let res = runner
            .download(&format!("{other}{suffix}"), &job_token)
            .await;
        assert_eq!(s.check("post", &template, res).await.0, 400, "{suffix}");
    }
    let res = app
        .client
        .post(format!("{base}/max-quality"))
        .header("range", "bytes=0-9")
        .json(&json!({"runnerToken": runner.token, "jobToken": job_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.check("post", &format!("{files}/max-quality"), res)
            .await
            .0,
        206
    );
    let task = format!("{files}/studio/task-files/{{filename}}");
    let res = runner
        .download(&format!("{base}/studio/task-files/intro.mp4"), &job_token)
        .await;
    assert_eq!(s.check("post", &task, res).await.0, 400);
    let res = runner
        .download(&format!("{base}/studio/task-files/intro.mp4"), "ptrjt-nope")
        .await;
    assert_eq!(s.check("post", &task, res).await.0, 404);

    // A studio job's task file (the server creates no studio job yet: inserted here).
    {
        use peertube_runner_connector::domain::job::JobType;
        use peertube_runner_connector::domain::payloads::JobPayload;
        let studio_video = crate::runner_sim::make_video(&app).await;
        let intro_key = format!("{}/studio/intro.mp4", studio_video.directory);
        app.state
            .storage
            .put_bytes(&intro_key, clip().mp4.clone())
            .await
            .unwrap();
        let mut spec = crate::runner_sim::spec(JobType::VideoStudioTranscoding, 0, None);
        let file_url = format!(
            "{}/api/v1/runners/jobs/{}/files/videos/{}/studio/task-files/intro.mp4",
            app.address, spec.uuid, studio_video.uuid
        );
        let payload = json!({"input": {"videoFileUrl": file_url, "separatedAudioFileUrl": []},
                             "tasks": [{"name": "add-intro", "options": {"file": file_url}}]});
        spec.payload =
            JobPayload::from_json(JobType::VideoStudioTranscoding, &payload.to_string()).unwrap();
        spec.private_payload =
            crate::runner_sim::private_for(JobType::VideoStudioTranscoding, studio_video.uuid);
        spec.video_id = Some(studio_video.id);
        let studio = crate::runner_sim::insert_jobs(&app, vec![spec]).await;
        let (_, t) = runner.accept_ok(studio[0].uuid).await;
        let res = runner.download(&file_url, &t).await;
        assert_eq!(s.check("post", &task, res).await.0, 200);
        let res = runner
            .download(&file_url.replace("intro.mp4", "outro.mp4"), &t)
            .await;
        assert_eq!(s.check("post", &task, res).await.0, 400);
        assert_eq!(runner.abort(studio[0].uuid, &t).await.status(), 204);
        let res = send(
            &app,
            del.clone(),
            &format!("/api/v1/runners/jobs/{}", studio[0].uuid),
            admin,
            None,
        )
        .await;
        assert_eq!(
            s.check("delete", "/api/v1/runners/jobs/{jobUUID}", res)
                .await
                .0,
            204
        );
    }

    // Abort, error, success.
    let abort = "/api/v1/runners/jobs/{jobUUID}/abort";
    let res = runner
        .post(
            &format!("/jobs/{job_uuid}/abort"),
            json!({"runnerToken": runner.token, "jobToken": job_token}),
        )
        .await;
    assert_eq!(s.check("post", abort, res).await.0, 400);
    assert_eq!(
        s.check("post", abort, runner.abort(&job_uuid, &job_token).await)
            .await
            .0,
        204
    );
    assert_eq!(
        s.check("post", abort, runner.abort(&job_uuid, &job_token).await)
            .await
            .0,
        404
    );
    let (_, again) = s
        .check("post", accept, runner.accept(&job_uuid).await)
        .await;
    let job_token = again["job"]["jobToken"].as_str().unwrap().to_owned();
    let success = "/api/v1/runners/jobs/{jobUUID}/success";
    let res = runner.success(&job_uuid, &job_token, &[], vec![]).await;
    assert_eq!(s.check("post", success, res).await.0, 400);
    let res = runner.success(&job_uuid, "ptrjt-nope", &[], vec![]).await;
    assert_eq!(s.check("post", success, res).await.0, 404);
    let error = "/api/v1/runners/jobs/{jobUUID}/error";
    let res = runner
        .post(
            &format!("/jobs/{job_uuid}/error"),
            json!({"runnerToken": runner.token, "jobToken": job_token}),
        )
        .await;
    assert_eq!(s.check("post", error, res).await.0, 400);
    assert_eq!(
        s.check(
            "post",
            error,
            runner.error(&job_uuid, &job_token, "ffmpeg failed").await
        )
        .await
        .0,
        204
    );
    assert_eq!(
        s.check(
            "post",
            error,
            runner.error(&job_uuid, &job_token, "again").await
        )
        .await
        .0,
        404
    );
    // The video failed (max_failures 1): retry it, then succeed with real files.
    let res = send(
        &app,
        post.clone(),
        &format!("{video_path}/retry"),
        api,
        None,
    )
    .await;
    assert_eq!(
        s.check("post", "/api/v1/videos/{uuid}/retry", res).await.0,
        200
    );
    let (_, again) = s
        .check("post", accept, runner.accept(&job_uuid).await)
        .await;
    let job_token = again["job"]["jobToken"].as_str().unwrap().to_owned();
    let job_type = again["job"]["type"].as_str().unwrap().to_owned();
    let files_of = if job_type == "vod-hls-transcoding" {
        crate::runner_sim::hls_files(&job_uuid)
    } else {
        vec![crate::runner_sim::FilePart::bytes(
            "videoFile",
            "out.mp4",
            "video/mp4",
            clip().mp4.clone(),
        )]
    };
    let res = runner.success(&job_uuid, &job_token, &[], files_of).await;
    assert_eq!(s.check("post", success, res).await.0, 204);
    let res = runner.update(&job_uuid, &job_token, &[], vec![]).await;
    assert_eq!(
        s.check("post", update, res).await.0,
        204,
        "late update of a completed job"
    );

    // Published outputs.
    crate::runner_sim::wait_state(
        &app,
        &job_uuid,
        peertube_runner_connector::domain::job::JobState::Completed,
    )
    .await;
    let (_, shown) = s
        .check(
            "get",
            "/api/v1/videos/{uuid}",
            send(&app, get.clone(), &video_path, api, None).await,
        )
        .await;
    let thumb = shown["thumbnailUrl"]
        .as_str()
        .unwrap()
        .replace(&app.address, "");
    let res = send(&app, get.clone(), &thumb, None, None).await;
    assert_eq!(s.check("get", "/static/{key}", res).await.0, 200);
    let res = app.client.head(app.url(&thumb)).send().await.unwrap();
    assert_eq!(s.check("head", "/static/{key}", res).await.0, 200);
    let res = send(&app, get.clone(), "/static/videos/nothing.mp4", None, None).await;
    assert_eq!(s.check("get", "/static/{key}", res).await.0, 404);
    let res = app
        .client
        .head(app.url("/static/videos/nothing.mp4"))
        .send()
        .await
        .unwrap();
    assert_eq!(s.check("head", "/static/{key}", res).await.0, 404);

    // Captions and transcriptions.
    let put_vtt = |path: String, body: &'static str| {
        let app = &app;
        async move {
            app.client
                .put(app.url(&path))
                .bearer_auth(API_KEY)
                .header("content-type", "text/vtt")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let vtt = "WEBVTT\n\n00:00.000 --> 00:01.000\nBonjour\n";
    let caption = "/api/v1/videos/{uuid}/captions/{lang}";
    let fr = format!("{video_path}/captions/fr");
    assert_eq!(
        s.check("put", caption, put_vtt(fr.clone(), vtt).await)
            .await
            .0,
        201
    );
    assert_eq!(
        s.check("put", caption, put_vtt(fr.clone(), vtt).await)
            .await
            .0,
        200
    );
    assert_eq!(
        s.check("put", caption, put_vtt(fr.clone(), "not vtt").await)
            .await
            .0,
        400
    );
    let nobody = "/api/v1/videos/3f1e5bfa-1111-4a4a-9b9b-0123456789ab";
    assert_eq!(
        s.check(
            "put",
            caption,
            put_vtt(format!("{nobody}/captions/fr"), vtt).await
        )
        .await
        .0,
        404
    );
    let res = send(
        &app,
        get.clone(),
        &format!("{video_path}/captions"),
        api,
        None,
    )
    .await;
    assert_eq!(
        s.check("get", "/api/v1/videos/{uuid}/captions", res)
            .await
            .0,
        200
    );
    let res = send(&app, get.clone(), &format!("{nobody}/captions"), api, None).await;
    assert_eq!(
        s.check("get", "/api/v1/videos/{uuid}/captions", res)
            .await
            .0,
        404
    );
    let (_, with_caption) = s
        .check(
            "get",
            "/api/v1/videos/{uuid}",
            send(&app, get.clone(), &video_path, api, None).await,
        )
        .await;
    assert_eq!(with_caption["captions"][0]["language"], "fr");
    let res = send(&app, del.clone(), &fr, api, None).await;
    assert_eq!(s.check("delete", caption, res).await.0, 204);
    let res = send(&app, del.clone(), &fr, api, None).await;
    assert_eq!(s.check("delete", caption, res).await.0, 404);
    let transcribe = "/api/v1/videos/{uuid}/transcription";
    let res = send(
        &app,
        post.clone(),
        &format!("{video_path}/transcription"),
        api,
        None,
    )
    .await;
    assert_eq!(s.check("post", transcribe, res).await.0, 202);
    let res = send(
        &app,
        post.clone(),
        &format!("{video_path}/transcription"),
        api,
        None,
    )
    .await;
    assert_eq!(s.check("post", transcribe, res).await.0, 409);
    let res = send(
        &app,
        post.clone(),
        &format!("{nobody}/transcription"),
        api,
        None,
    )
    .await;
    assert_eq!(s.check("post", transcribe, res).await.0, 404);
    // Studio edits and storyboards: the video lasts 1 s (400: a cut to 5 s, no
    // storyboard); then, 10 s long, both are taken.
    let edit_path = "/api/v1/videos/{uuid}/studio/edit";
    let board_path = "/api/v1/videos/{uuid}/storyboard";
    let cut = json!({"tasks": [{"name": "cut", "options": {"end": 5}}]});
    let edit_url = format!("{video_path}/studio/edit");
    let board_url = format!("{video_path}/storyboard");
    let res = send(&app, post.clone(), &edit_url, api, Some(cut.clone())).await;
    assert_eq!(s.check("post", edit_path, res).await.0, 400);
    let res = send(&app, post.clone(), &board_url, api, None).await;
    assert_eq!(s.check("post", board_path, res).await.0, 400);
    let res = send(
        &app,
        post.clone(),
        &format!("{nobody}/storyboard"),
        api,
        None,
    )
    .await;
    assert_eq!(s.check("post", board_path, res).await.0, 404);
    {
        use diesel::prelude::*;
        use peertube_runner_connector::db::schema::videos;
        let uuid = video_uuid.clone();
        app.state
            .db
            .run(move |conn| {
                diesel::update(videos::table.filter(videos::uuid.eq(uuid)))
                    .set((videos::state.eq(1), videos::duration.eq(Some(10.0))))
                    .execute(conn)
                    .map_err(peertube_runner_connector::db::DbError::from)
            })
            .await
            .unwrap();
    }
    let res = send(&app, post.clone(), &board_url, api, None).await;
    assert_eq!(s.check("post", board_path, res).await.0, 202);
    let res = send(&app, post.clone(), &board_url, api, None).await;
    assert_eq!(s.check("post", board_path, res).await.0, 409);
    let res = send(&app, post.clone(), &edit_url, api, Some(cut.clone())).await;
    assert_eq!(s.check("post", edit_path, res).await.0, 202);
    let res = send(&app, post.clone(), &edit_url, api, Some(cut)).await;
    assert_eq!(s.check("post", edit_path, res).await.0, 409);
    app.state
        .storage
        .put_bytes("uploads/talk.mp4", clip().mp4.clone())
        .await
        .unwrap();
    let res = send(
        &app,
        post.clone(),
        "/api/v1/transcriptions",
        api,
        Some(json!({"filePath": "uploads/talk.mp4"})),
    )
    .await;
    let (status, talk) = s.check("post", "/api/v1/transcriptions", res).await;
    assert_eq!(status, 201);
    let res = app
        .client
        .post(app.url("/api/v1/transcriptions"))
        .bearer_auth(API_KEY)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(s.check("post", "/api/v1/transcriptions", res).await.0, 415);
    let talk_path = format!("/api/v1/videos/{}", talk["uuid"].as_str().unwrap());
    let res = send(&app, del.clone(), &talk_path, api, None).await;
    assert_eq!(s.check("delete", "/api/v1/videos/{uuid}", res).await.0, 204);

    // Admin.
    let res = send(
        &app,
        get.clone(),
        "/api/v1/runners/jobs?sort=-updatedAt&count=100",
        admin,
        None,
    )
    .await;
    let (_, jobs) = s.check("get", "/api/v1/runners/jobs", res).await;
    assert!(jobs["total"].as_i64().unwrap() >= 1);
    let res = send(
        &app,
        get.clone(),
        "/api/v1/runners/jobs?stateOneOf=12",
        admin,
        None,
    )
    .await;
    assert_eq!(s.check("get", "/api/v1/runners/jobs", res).await.0, 400);
    let res = send(&app, get.clone(), "/api/v1/runners/jobs", api, None).await;
    assert_eq!(s.check("get", "/api/v1/runners/jobs", res).await.0, 401);
    let res = send(&app, get.clone(), "/api/v1/runners", admin, None).await;
    assert_eq!(s.check("get", "/api/v1/runners", res).await.0, 200);
    let res = send(&app, get.clone(), "/api/v1/runners?sort=name", admin, None).await;
    assert_eq!(s.check("get", "/api/v1/runners", res).await.0, 400);
    let pending = jobs["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["state"]["id"] == 1 || j["state"]["id"] == 5)
        .map(|j| j["uuid"].as_str().unwrap().to_owned());
    let done = job_uuid.clone();
    let jobs_path = "/api/v1/runners/jobs/{jobUUID}";
    let res = send(
        &app,
        post.clone(),
        &format!("/api/v1/runners/jobs/{done}/cancel"),
        admin,
        None,
    )
    .await;
    assert_eq!(
        s.check("post", &format!("{jobs_path}/cancel"), res).await.0,
        400
    );
    let res = send(
        &app,
        post.clone(),
        "/api/v1/runners/jobs/3f1e5bfa-1111-4a4a-9b9b-0123456789ab/cancel",
        admin,
        None,
    )
    .await;
    assert_eq!(
        s.check("post", &format!("{jobs_path}/cancel"), res).await.0,
        404
    );
    let res = send(
        &app,
        post.clone(),
        &format!("/api/v1/runners/jobs/{done}/retry"),
        admin,
        None,
    )
    .await;
    assert_eq!(
        s.check("post", &format!("{jobs_path}/retry"), res).await.0,
        409
    );
    let res = send(
        &app,
        post.clone(),
        "/api/v1/runners/jobs/x/retry",
        admin,
        None,
    )
    .await;
    assert_eq!(
        s.check("post", &format!("{jobs_path}/retry"), res).await.0,
        400
    );
    let res = send(
        &app,
        del.clone(),
        "/api/v1/runners/jobs/3f1e5bfa-1111-4a4a-9b9b-0123456789ab",
        admin,
        None,
    )
    .await;
    assert_eq!(s.check("delete", jobs_path, res).await.0, 404);
    if let Some(uuid) = pending {
        let res = send(
            &app,
            post.clone(),
            &format!("/api/v1/runners/jobs/{uuid}/cancel"),
            admin,
            None,
        )
        .await;
        assert_eq!(
            s.check("post", &format!("{jobs_path}/cancel"), res).await.0,
            204
        );
    } else {
        // Every job of the video ended: an unrelated pending job, to cancel.
        let extra = crate::runner_sim::insert_jobs(
            &app,
            vec![crate::runner_sim::spec(
                peertube_runner_connector::domain::job::JobType::VodHlsTranscoding,
                1,
                None,
            )],
        )
        .await;
        let res = send(
            &app,
            post.clone(),
            &format!("/api/v1/runners/jobs/{}/cancel", extra[0].uuid),
            admin,
            None,
        )
        .await;
        assert_eq!(
            s.check("post", &format!("{jobs_path}/cancel"), res).await.0,
            204
        );
    }
    // Fail a fresh job for good, then retry it through the admin API.
    let extra = crate::runner_sim::insert_jobs(
        &app,
        vec![crate::runner_sim::spec(
            peertube_runner_connector::domain::job::JobType::VodWebVideoTranscoding,
            0,
            None,
        )],
    )
    .await;
    let (_, t) = runner.accept_ok(extra[0].uuid).await;
    assert_eq!(runner.error(extra[0].uuid, &t, "boom").await.status(), 204);
    let res = send(
        &app,
        post.clone(),
        &format!("/api/v1/runners/jobs/{}/retry", extra[0].uuid),
        admin,
        None,
    )
    .await;
    assert_eq!(
        s.check("post", &format!("{jobs_path}/retry"), res).await.0,
        204
    );
    let res = send(
        &app,
        del.clone(),
        &format!("/api/v1/runners/jobs/{}", extra[0].uuid),
        admin,
        None,
    )
    .await;
    assert_eq!(s.check("delete", jobs_path, res).await.0, 204);
    let res = send(&app, del.clone(), "/api/v1/runners/jobs/nope", admin, None).await;
    assert_eq!(s.check("delete", jobs_path, res).await.0, 400);

    let res = send(&app, del.clone(), "/api/v1/runners/x", admin, None).await;
    assert_eq!(
        s.check("delete", "/api/v1/runners/{runnerId}", res).await.0,
        400
    );
    let res = send(&app, del.clone(), "/api/v1/runners/999999", admin, None).await;
    assert_eq!(
        s.check("delete", "/api/v1/runners/{runnerId}", res).await.0,
        404
    );
    let other = SimRunner::register(&app, "to-delete").await;
    let res = send(
        &app,
        del.clone(),
        &format!("/api/v1/runners/{}", other.id),
        admin,
        None,
    )
    .await;
    assert_eq!(
        s.check("delete", "/api/v1/runners/{runnerId}", res).await.0,
        204
    );
    let tokens_path = "/api/v1/runners/registration-tokens/{id}";
    let id = tokens["data"][0]["id"].as_i64().unwrap();
    let res = send(
        &app,
        del.clone(),
        "/api/v1/runners/registration-tokens/x",
        admin,
        None,
    )
    .await;
    assert_eq!(s.check("delete", tokens_path, res).await.0, 400);
    let res = send(
        &app,
        del.clone(),
        "/api/v1/runners/registration-tokens/999999",
        admin,
        None,
    )
    .await;
    assert_eq!(s.check("delete", tokens_path, res).await.0, 404);

    // Unregister, the last runner call, then the video's deletion.
    let res = send(
        &app,
        post.clone(),
        "/api/v1/runners/unregister",
        None,
        Some(json!({"runnerToken": runner.token})),
    )
    .await;
    assert_eq!(
        s.check("post", "/api/v1/runners/unregister", res).await.0,
        204
    );
    let res = send(
        &app,
        post.clone(),
        "/api/v1/runners/unregister",
        None,
        Some(json!({"runnerToken": runner.token})),
    )
    .await;
    assert_eq!(
        s.check("post", "/api/v1/runners/unregister", res).await.0,
        404
    );
    let res = send(
        &app,
        post.clone(),
        "/api/v1/runners/unregister",
        None,
        Some(json!({"runnerToken": 3})),
    )
    .await;
    assert_eq!(
        s.check("post", "/api/v1/runners/unregister", res).await.0,
        400
    );
    let res = send(
        &app,
        del.clone(),
        tokens_path.replace("{id}", &id.to_string()).as_str(),
        admin,
        None,
    )
    .await;
    assert_eq!(s.check("delete", tokens_path, res).await.0, 204);
    // The live stream: headers now, the body ends with `video.deleted`.
    let events_path = format!("{video_path}/events");
    let events = send(&app, get.clone(), &events_path, api, None).await;
    let res = send(&app, del.clone(), &video_path, api, None).await;
    assert_eq!(s.check("delete", "/api/v1/videos/{uuid}", res).await.0, 204);
    let stream = "/api/v1/videos/{uuid}/events";
    assert_eq!(s.check("get", stream, events).await.0, 200);
    let res = send(&app, get.clone(), &events_path, api, None).await;
    assert_eq!(s.check("get", stream, res).await.0, 404);
    let res = send(&app, del.clone(), &video_path, api, None).await;
    assert_eq!(s.check("delete", "/api/v1/videos/{uuid}", res).await.0, 404);

    // Every operation was checked: a success, and an error when it lists one.
    let checked = spec.checked.lock().unwrap().clone();
    let mut unchecked = Vec::new();
    for (method, path) in operations(&spec.doc) {
        let statuses = checked
            .get(&(method.clone(), path.clone()))
            .cloned()
            .unwrap_or_default();
        let responses = spec.doc["paths"][&path][&method]["responses"]
            .as_object()
            .unwrap();
        let lists_error = responses.keys().any(|k| k.starts_with('4'));
        let success = statuses.iter().any(|s| *s < 400);
        let failure = statuses.iter().any(|s| *s >= 400);
        if !success || (lists_error && !failure) {
            unchecked.push(format!("{method} {path} (checked: {statuses:?})"));
        }
    }
    assert!(
        unchecked.is_empty(),
        "operations not checked against real answers: {unchecked:#?}"
    );
}

#[tokio::test]
async fn the_check_refuses_what_the_document_does_not_say() {
    let app = spawn_app_with(|_| {}).await;
    let spec = Spec::load(&app).await;
    let page = &spec.doc["paths"]["/api/v1/runners"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    let runner = json!({"id": 1, "name": "r", "description": null, "ip": "::1",
        "lastContact": "2026-11-24T10:20:30.123Z", "version": null, "registrationTokenId": 2,
        "createdAt": "2026-11-24T10:20:30.123Z", "updatedAt": "2026-11-24T10:20:30.123Z"});
    let good = json!({"total": 1, "data": [runner.clone()]});
    assert_eq!(spec.errors(page, &good), Vec::<String>::new());
    let mut extra = runner.clone();
    extra["token"] = json!("ptrt-leaked");
    let mut missing = runner.clone();
    missing.as_object_mut().unwrap().remove("ip");
    let mut bad_date = runner.clone();
    bad_date["lastContact"] = json!("yesterday");
    let mut bad_type = runner;
    bad_type["id"] = json!("1");
    for bad in [extra, missing, bad_date, bad_type] {
        let body = json!({"total": 1, "data": [bad]});
        assert!(!spec.errors(page, &body).is_empty(), "accepted {body}");
    }
    let problem = json!({"$ref": "#/components/schemas/Problem"});
    let ok = json!({"type": "about:blank", "title": "Not Found", "status": 404,
                    "detail": "x", "error": "x", "code": "not_found"});
    assert_eq!(spec.errors(&problem, &ok), Vec::<String>::new());
    let mut odd = ok;
    odd["stack"] = json!("at …");
    assert!(!spec.errors(&problem, &odd).is_empty());
}

#[tokio::test]
async fn the_document_lists_every_webhook_event_type() {
    use peertube_runner_connector::domain::webhook::EventType;
    let app = spawn_app_with(|_| {}).await;
    let spec = Spec::load(&app).await;
    let listed: BTreeSet<String> = spec.doc["components"]["schemas"]["WebhookEventType"]["enum"]
        .as_array()
        .expect("WebhookEventType is an enum")
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let known: BTreeSet<String> = EventType::ALL
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    assert_eq!(listed, known);
    assert!(listed.contains("video.edited") && listed.contains("storyboard.ready"));
}
