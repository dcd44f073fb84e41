//! `/metrics`: scraped from a running app and parsed with a grammar-based parser of
//! the exposition formats (`openmetrics-parser`), then checked against what each test
//! did itself: every app has its own registry, so values are exact.

use std::time::Duration;

use futures_util::StreamExt;
use openmetrics_parser::{
    HistogramValue, MetricsExposition, PrometheusType, PrometheusValue, openmetrics, prometheus,
};
use peertube_runner_connector::clock::Clock;
use peertube_runner_connector::config::Secret;
use peertube_runner_connector::domain::job::JobState::*;
use peertube_runner_connector::domain::job::JobType::*;
use peertube_runner_connector::metrics::{Format, Snapshot};
use peertube_runner_connector::service::jobs::{JobParent, cancel_job};
use reqwest::multipart::{Form, Part};

use crate::helpers::{TestApp, spawn_app_with, spawn_app_with_clock};
use crate::runner_sim::{SimRunner, hls_files, insert_jobs, one_vod_job, spec, wait_state};
use crate::socket_helpers::{RawRunner, eventually};

/// A parsed scrape in the Prometheus text format.
struct Scrape {
    text: String,
    exposition: MetricsExposition<PrometheusType, PrometheusValue>,
}

impl Scrape {
    async fn get(client: &reqwest::Client, url: &str) -> Scrape {
        let res = client.get(url).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
        let text = res.text().await.unwrap();
        let exposition = prometheus::parse_prometheus(&text)
            .unwrap_or_else(|e| panic!("not the Prometheus text format: {e}\n{text}"));
        Scrape { text, exposition }
    }

    async fn of(app: &TestApp) -> Scrape {
        Scrape::get(&app.client, &app.url("/metrics")).await
    }

    /// The value of the series of `family` with exactly these labels.
    fn find(&self, family: &str, labels: &[(&str, &str)]) -> Option<&PrometheusValue> {
        let family = self.exposition.families.get(family)?;
        family
            .iter_samples()
            .find(|s| {
                let set = s.get_labelset().unwrap();
                set.iter().count() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| set.get_label_value(k) == Some(v))
            })
            .map(|s| &s.value)
    }

    /// A gauge or counter.
    fn value(&self, family: &str, labels: &[(&str, &str)]) -> f64 {
        match self.find(family, labels) {
            Some(PrometheusValue::Gauge(n)) => n.as_f64(),
            Some(PrometheusValue::Counter(c)) => c.value.as_f64(),
            other => panic!("{family}{labels:?}: {other:?}\n{}", self.text),
        }
    }

    fn histogram(&self, family: &str, labels: &[(&str, &str)]) -> HistogramValue {
        match self.find(family, labels) {
            Some(PrometheusValue::Histogram(h)) => h.clone(),
            other => panic!("{family}{labels:?}: {other:?}\n{}", self.text),
        }
    }

    fn has(&self, family: &str) -> bool {
        self.exposition.families.contains_key(family)
    }
}

/// Observations of `h` at most `le`.
fn bucket(h: &HistogramValue, le: f64) -> f64 {
    h.buckets
        .iter()
        .find(|b| b.upper_bound == le)
        .unwrap_or_else(|| panic!("no bucket le={le}: {h:?}"))
        .count
        .as_f64()
}

fn sum(h: &HistogramValue) -> f64 {
    h.sum.unwrap().as_f64()
}

const HLS: &str = "vod-hls-transcoding";
const WEB: &str = "vod-web-video-transcoding";

#[tokio::test]
async fn a_scrape_reports_the_jobs_runners_sockets_and_requests_the_test_made() {
    let app = spawn_app_with_clock(|s| s.transcoding.max_failures = 1, Clock::manual()).await;
    let runner = SimRunner::register(&app, "metrics-runner").await;
    SimRunner::register(&app, "idle-runner").await;
    // One runner with two WebSockets, and a long-polling session that joined nothing.
    let _ws1 = RawRunner::connect(app.port, &runner.token).await;
    let _ws2 = RawRunner::connect(app.port, &runner.token).await;
    let polling = app
        .client
        .get(app.url("/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap();
    assert_eq!(polling.status(), 200);

    // A: an HLS job that completes. B: a web-video job that fails for good, its child C
    // then ends with it. D stays pending. E is cancelled before it ever runs.
    let (_video, a) = one_vod_job(&app, VodHlsTranscoding).await;
    let rows = insert_jobs(
        &app,
        vec![
            spec(VodWebVideoTranscoding, 1, None),
            spec(VodHlsTranscoding, 1, Some(JobParent::Spec(0))),
            spec(VodHlsTranscoding, 1, None),
            spec(VodHlsTranscoding, 1, None),
        ],
    )
    .await;
    let (b, d, e) = (&rows[0], &rows[2], &rows[3]);

    let before = Scrape::of(&app).await;
    let jobs =
        |s: &Scrape, state: &str, t: &str| s.value("prc_jobs", &[("state", state), ("type", t)]);
    assert_eq!(jobs(&before, "pending", HLS), 3.0);
    assert_eq!(jobs(&before, "pending", WEB), 1.0);
    assert_eq!(jobs(&before, "waiting_for_parent_job", HLS), 1.0);
    assert_eq!(jobs(&before, "processing", HLS), 0.0);

    app.state.clock.advance(Duration::from_secs(7));
    let (_, token_a) = runner.accept_ok(a.uuid).await;
    app.state.clock.advance(Duration::from_secs(2));
    let (_, token_b) = runner.accept_ok(b.uuid).await;

    let running = Scrape::of(&app).await;
    assert_eq!(jobs(&running, "processing", HLS), 1.0);
    assert_eq!(jobs(&running, "processing", WEB), 1.0);
    assert_eq!(jobs(&running, "pending", HLS), 2.0);

    app.state.clock.advance(Duration::from_secs(95));
    let files = hls_files(a.uuid);
    let uploaded: u64 = files.iter().map(|f| f.len).sum();
    let res = runner.success(a.uuid, &token_a, &[], files).await;
    assert_eq!(res.status(), 204);
    wait_state(&app, a.uuid, Completed).await;
    let res = runner.error(b.uuid, &token_b, "ffmpeg exited with 1").await;
    assert_eq!(res.status(), 204);
    wait_state(&app, b.uuid, Errored).await;
    wait_state(&app, rows[1].uuid, ParentErrored).await;
    cancel_job(&app.state, e.uuid).await.unwrap();

    let s = Scrape::of(&app).await;
    // From the database.
    assert_eq!(jobs(&s, "pending", HLS), 1.0, "D");
    assert_eq!(jobs(&s, "processing", HLS), 0.0);
    assert_eq!(jobs(&s, "waiting_for_parent_job", HLS), 0.0);
    assert!(
        s.find("prc_jobs", &[("state", "completed"), ("type", HLS)])
            .is_none()
    );
    assert_eq!(s.value("prc_runners_registered", &[]), 2.0);
    assert_eq!(s.value("prc_database_up", &[]), 1.0);
    // Ends, by type and final state.
    let ended =
        |state: &str, t: &str| s.value("prc_jobs_ended_total", &[("type", t), ("state", state)]);
    assert_eq!(ended("completed", HLS), 1.0);
    assert_eq!(ended("errored", WEB), 1.0);
    assert_eq!(ended("parent_errored", HLS), 1.0);
    assert_eq!(ended("cancelled", HLS), 1.0);
    // Waits: A 7 s, B 9 s (pending since their creation).
    let wait_hls = s.histogram("prc_job_wait_duration_seconds", &[("type", HLS)]);
    assert_eq!((wait_hls.count, sum(&wait_hls)), (Some(1), 7.0));
    assert_eq!(
        (bucket(&wait_hls, 5.0), bucket(&wait_hls, 10.0)),
        (0.0, 1.0)
    );
    let wait_web = s.histogram("prc_job_wait_duration_seconds", &[("type", WEB)]);
    assert_eq!((wait_web.count, sum(&wait_web)), (Some(1), 9.0));
    // Runs: A from its accept to its completion (97 s), B to its error (95 s). C and E
    // never ran.
    let run_a = s.histogram(
        "prc_job_run_duration_seconds",
        &[("type", HLS), ("outcome", "completed")],
    );
    assert_eq!((run_a.count, sum(&run_a)), (Some(1), 97.0));
    assert_eq!((bucket(&run_a, 60.0), bucket(&run_a, 120.0)), (0.0, 1.0));
    let run_b = s.histogram(
        "prc_job_run_duration_seconds",
        &[("type", WEB), ("outcome", "errored")],
    );
    assert_eq!((run_b.count, sum(&run_b)), (Some(1), 95.0));
    assert!(
        s.find(
            "prc_job_run_duration_seconds",
            &[("type", HLS), ("outcome", "cancelled")]
        )
        .is_none()
    );
    // The socket hub: one runner connected twice, one polling session.
    assert_eq!(s.value("prc_runners_connected", &[]), 1.0);
    assert_eq!(
        s.value("prc_socket_sessions", &[("transport", "websocket")]),
        2.0
    );
    assert_eq!(
        s.value("prc_socket_sessions", &[("transport", "polling")]),
        1.0
    );
    // The runner's success upload, byte for byte.
    assert_eq!(
        s.value("prc_upload_received_bytes_total", &[("kind", "runner")]),
        uploaded as f64
    );
    assert_eq!(
        s.value("prc_uploads_in_progress", &[("kind", "runner")]),
        0.0
    );
    assert_eq!(
        s.value("prc_upload_received_bytes_total", &[("kind", "video")]),
        0.0
    );
    // HTTP requests by route pattern; no job UUID anywhere.
    let requests = |method: &str, route: &str, status: &str| {
        s.histogram(
            "prc_http_request_duration_seconds",
            &[("method", method), ("route", route), ("status", status)],
        )
        .count
    };
    assert_eq!(
        requests("POST", "/api/v1/runners/jobs/{jobUUID}/accept", "200"),
        Some(2)
    );
    assert_eq!(
        requests("POST", "/api/v1/runners/jobs/{jobUUID}/success", "204"),
        Some(1)
    );
    assert_eq!(
        requests("POST", "/api/v1/runners/jobs/{jobUUID}/error", "204"),
        Some(1)
    );
    assert_eq!(requests("POST", "/api/v1/runners/register", "200"), Some(2));
    assert_eq!(requests("GET", "/metrics", "200"), Some(2));
    for uuid in [a.uuid, b.uuid, d.uuid, e.uuid] {
        assert!(!s.text.contains(&uuid.to_string()), "{uuid} in\n{}", s.text);
    }
    assert!(!s.text.contains("metrics-runner"), "runner names stay out");
    assert_eq!(s.value("prc_db_pool_max_connections", &[]), 8.0);
}

#[tokio::test]
async fn unmatched_routes_share_one_label() {
    let app = spawn_app_with(|_| {}).await;
    for path in ["/nope", "/nope/again", "/api/v2/runners/nope"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 404);
    }
    let s = Scrape::of(&app).await;
    let h = s.histogram(
        "prc_http_request_duration_seconds",
        &[("method", "GET"), ("route", "unmatched"), ("status", "404")],
    );
    assert_eq!(h.count, Some(3));
    assert!(!s.text.contains("/nope"), "{}", s.text);
}

#[tokio::test]
async fn a_video_upload_is_in_progress_until_its_last_byte_and_counted_in_full() {
    let app = spawn_app_with(|s| s.auth.api_keys = vec![Secret::new("k")]).await;
    let clip = crate::runner_sim::clip().mp4.clone();
    let (half, rest) = clip.split_at(clip.len() / 2);
    let (half, rest) = (half.to_vec(), rest.to_vec());
    // The file part's second half waits for the test's go.
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let body = futures_util::stream::once(async move { Ok::<_, std::io::Error>(half) }).chain(
        futures_util::stream::once(async move {
            wait.await.unwrap();
            Ok(rest)
        }),
    );
    let form = Form::new().part(
        "videoFile",
        Part::stream(reqwest::Body::wrap_stream(body))
            .file_name("clip.mp4")
            .mime_str("video/mp4")
            .unwrap(),
    );
    let upload = tokio::spawn({
        let req = app
            .client
            .post(app.url("/api/v1/videos"))
            .bearer_auth("k")
            .multipart(form);
        async move { req.send().await.unwrap().status() }
    });
    let in_progress = |s: &Scrape| s.value("prc_uploads_in_progress", &[("kind", "video")]);
    let received = |s: &Scrape| s.value("prc_upload_received_bytes_total", &[("kind", "video")]);
    // While the client waits, the first half arrives (all but what may be the start of
    // the closing boundary, which the multipart reader holds back).
    let mut during = Scrape::of(&app).await;
    for _ in 0..500 {
        if in_progress(&during) == 1.0 && received(&during) > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        during = Scrape::of(&app).await;
    }
    assert_eq!(in_progress(&during), 1.0);
    assert!(received(&during) > 0.0 && received(&during) <= (clip.len() / 2) as f64);
    go.send(()).unwrap();
    assert_eq!(upload.await.unwrap(), 201);
    let after = Scrape::of(&app).await;
    assert_eq!(in_progress(&after), 0.0);
    assert_eq!(received(&after), clip.len() as f64);
    let h = after.histogram(
        "prc_http_request_duration_seconds",
        &[
            ("method", "POST"),
            ("route", "/api/v1/videos"),
            ("status", "201"),
        ],
    );
    assert_eq!(h.count, Some(1));
}

#[tokio::test]
async fn openmetrics_is_served_to_scrapers_that_ask_and_parses_strictly() {
    let app = spawn_app_with(|_| {}).await;
    SimRunner::register(&app, "r").await;
    let res = app
        .client
        .get(app.url("/metrics"))
        // What Prometheus sends.
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
             version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"));
    // openmetrics-parser 0.5.1 refuses UNIT metadata on histograms, which the
    // specification allows (its own example has one on a summary; fixed upstream after
    // 0.5.1): check those lines here, and parse the rest.
    let mut type_of = None;
    let mut without_units = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            type_of = rest.split(' ').next();
        }
        match line.strip_prefix("# UNIT ") {
            Some(unit) => {
                let (family, unit) = unit.split_once(' ').unwrap();
                assert_eq!(
                    Some(family),
                    type_of,
                    "UNIT after its family's TYPE: {line}"
                );
                assert!(family.ends_with(&format!("_{unit}")), "{line}");
            }
            None => {
                without_units.push_str(line);
                without_units.push('\n');
            }
        }
    }
    assert!(text.contains("# UNIT prc_http_request_duration_seconds seconds\n"));
    let om = openmetrics::parse_openmetrics(&without_units)
        .unwrap_or_else(|e| panic!("not OpenMetrics: {e}\n{text}"));
    let registered = om.families.get("prc_runners_registered").unwrap();
    let value = registered.iter_samples().next().unwrap();
    assert!(
        matches!(
            value.value,
            openmetrics_parser::OpenMetricsValue::Gauge(n) if n.as_f64() == 1.0
        ),
        "{:?}",
        value.value
    );
    // Counters are one family named without `_total` in OpenMetrics.
    assert!(om.families.contains_key("prc_webhook_deliveries"), "{text}");
    assert!(text.contains("prc_webhook_deliveries_total{outcome=\"delivered\"} 0\n"));
    assert!(
        om.families
            .contains_key("prc_http_request_duration_seconds")
    );
}

#[tokio::test]
async fn metrics_keys_are_required_when_configured() {
    let app = spawn_app_with(|s| s.metrics.keys = vec![Secret::new("m-key")]).await;
    let get = |key: Option<&str>| {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send()
    };
    for (key, code) in [
        (None, "missing_api_key"),
        (Some("wrong"), "invalid_api_key"),
    ] {
        let res = get(key).await.unwrap();
        assert_eq!(res.status(), 401, "{key:?}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        let problem = crate::helpers::problem(res).await;
        assert_eq!(problem["code"], code);
    }
    let res = get(Some("m-key")).await.unwrap();
    assert_eq!(res.status(), 200);
    prometheus::parse_prometheus(&res.text().await.unwrap()).unwrap();
}

#[tokio::test]
async fn metrics_bind_serves_them_on_their_own_listener_only() {
    let app = spawn_app_with(|s| s.metrics.bind = Some("127.0.0.1:0".to_owned())).await;
    let on_api = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(on_api.status(), 404);
    let base = app.metrics_address.clone().expect("a metrics listener");
    assert_ne!(base, app.address);
    let s = Scrape::get(&app.client, &format!("{base}/metrics")).await;
    assert_eq!(s.value("prc_database_up", &[]), 1.0);
    // The API's 404 was recorded; the listener's own scrapes are not.
    let h = s.histogram(
        "prc_http_request_duration_seconds",
        &[("method", "GET"), ("route", "/metrics"), ("status", "404")],
    );
    assert_eq!(h.count, Some(1));
    assert!(
        s.find(
            "prc_http_request_duration_seconds",
            &[("method", "GET"), ("route", "/metrics"), ("status", "200")]
        )
        .is_none()
    );
    let other = app
        .client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "the listener serves only /metrics");
    // It stops with the application.
    app.shutdown.shutdown();
    let stopped = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if app
                .client
                .get(format!("{base}/metrics"))
                .send()
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        stopped.is_ok(),
        "the metrics listener outlived the shutdown"
    );
}

#[tokio::test]
async fn disabled_metrics_are_not_served_nor_recorded() {
    let app = spawn_app_with(|s| s.metrics.enabled = false).await;
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let unknown = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(
        crate::helpers::problem(res).await,
        crate::helpers::problem(unknown).await,
        "answered as an unknown route"
    );
    // The middleware is not installed: nothing is recorded.
    let text = app
        .state
        .metrics
        .render(&Snapshot::default(), Format::Prometheus)
        .unwrap();
    assert!(
        !text.contains("prc_http_request_duration_seconds_count"),
        "{text}"
    );
}

#[tokio::test]
async fn the_pool_gauges_show_connections_in_use_and_callers_waiting() {
    let app = spawn_app_with(|s| {
        s.database.max_connections = 1;
        // Nothing else of the server takes the connection meanwhile: no webhook
        // worker polling, no offer-index refresh, no retention round.
        s.webhooks.concurrency = 0;
        s.queue.refresh_interval = std::time::Duration::from_secs(3600);
        s.retention.interval = std::time::Duration::from_secs(3600);
    })
    .await;
    let db = app.state.db.clone();
    // Hold the only connection until told.
    let (held_tx, held_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = tokio::spawn({
        let db = db.clone();
        async move {
            db.run(move |_conn| {
                held_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                Ok::<_, peertube_runner_connector::db::DbError>(())
            })
            .await
        }
    });
    held_rx.await.unwrap();
    // A caller waiting for it.
    let waiter = tokio::spawn({
        let db = db.clone();
        async move {
            db.run(|_| Ok::<_, peertube_runner_connector::db::DbError>(()))
                .await
        }
    });
    // (Background tasks of the server may be waiting too.)
    eventually(|| db.pool_usage().waiting >= 1).await;
    let before = db.pool_usage().waiting;
    // The scrape reads the pool before its own query, which then waits too.
    let scrape = tokio::spawn({
        let client = app.client.clone();
        let url = app.url("/metrics");
        async move { Scrape::get(&client, &url).await }
    });
    eventually(|| db.pool_usage().waiting > before).await;
    release_tx.send(()).unwrap();
    let s = scrape.await.unwrap();
    holder.await.unwrap().unwrap();
    waiter.await.unwrap().unwrap();
    assert_eq!(s.value("prc_db_pool_max_connections", &[]), 1.0);
    assert_eq!(
        s.value("prc_db_pool_connections", &[("state", "in_use")]),
        1.0
    );
    assert_eq!(
        s.value("prc_db_pool_connections", &[("state", "idle")]),
        0.0
    );
    // The waiter, and whatever else waited then.
    assert!(s.value("prc_db_pool_waiting", &[]) >= 1.0);
    assert!(s.has("prc_jobs"));
}
