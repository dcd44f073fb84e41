//! A video from submission to deletion, transcoded by the runner simulator with real
//! ffmpeg: every event reaches real receivers on loopback, in order, signed (checked
//! by PyPI's `standardwebhooks`), and a Server-Sent Events client sees the progress
//! rise and the final `video.published`.

use std::time::Duration;

use futures_util::StreamExt;
use peertube_runner_connector::domain::job::JobState;
use peertube_runner_connector::domain::progress::weight;
use peertube_runner_connector::domain::webhook::EventType;
use serde_json::{Value, json};

use crate::media::sample;
use crate::pipeline::transcode;
use crate::runner_sim::{SimRunner, wait_state};
use crate::video_helpers::{KEY, get, submit, submit_ok};
use crate::webhook_helpers::*;

/// One Server-Sent Event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: String,
    pub id: Option<String>,
    pub data: Value,
}

/// Reads the stream at `url` until it ends (or 90 s), sending each event.
pub async fn read_sse(url: String, tx: tokio::sync::mpsc::UnboundedSender<Sse>) {
    let res = reqwest::Client::new()
        .get(&url)
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut stream = res.bytes_stream();
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, stream.next()).await {
        buffer.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let (mut event, mut id, mut data) = (None, None, None);
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(v).unwrap());
                }
            }
            if let (Some(event), Some(data)) = (event, data) {
                let _ = tx.send(Sse { event, id, data });
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_tells_its_receivers_every_event_in_order_and_streams_its_progress() {
    let hooks = Receiver::start(Answer::Ok);
    let callback = Receiver::start(Answer::Ok);
    let published_only = Receiver::start(Answer::Ok);
    let only_url = published_only.url.clone();
    let app = spawn_webhook_app(&hooks, move |s| {
        let mut only = endpoint("published-only", &only_url);
        only.events = vec![EventType::VideoPublished];
        s.webhooks.endpoints.push(only);
    })
    .await;
    let runner = SimRunner::register(&app, "hook-runner").await;
    let body = submit_ok(
        &app,
        &sample("av-320x240.mp4"),
        &[("resolutions", "144,240"), ("callbackUrl", &callback.url)],
    )
    .await;
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    assert_eq!(body["callbackUrl"], callback.url.as_str());
    assert_eq!(body["progress"], 0);

    let (tx, mut sse) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(read_sse(
        app.url(&format!("/api/v1/videos/{uuid}/events")),
        tx,
    ));
    let first = tokio::time::timeout(Duration::from_secs(10), sse.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.event, "video");
    assert_eq!(first.data["uuid"], uuid.as_str());

    let work = tempfile::tempdir().unwrap();
    let mut weights = Vec::new();
    for _ in 0..10 {
        let offers = runner.available(json!({"version": "0.1.0"})).await;
        let Some(offer) = offers.first() else { break };
        let job_uuid = offer["uuid"].as_str().unwrap().to_owned();
        let (job, token) = runner.accept_ok(&job_uuid).await;
        let out = &job["payload"]["output"];
        weights.push(weight(
            out["resolution"].as_u64().unwrap() as u32,
            out["fps"].as_u64().unwrap() as u32,
        ));
        let input_url = job["payload"]["input"]["videoFileUrl"].as_str().unwrap();
        let res = runner.download(input_url, &token).await;
        let input = work.path().join(format!("in-{job_uuid}"));
        std::fs::write(&input, res.bytes().await.unwrap()).unwrap();
        for p in ["25", "50", "75"] {
            let res = runner
                .update(&job_uuid, &token, &[("progress", p)], vec![])
                .await;
            assert_eq!(res.status(), 204);
        }
        if weights.len() == 1 {
            // The resource shows the progress too.
            let view: Value = get(&app, &format!("/api/v1/videos/{uuid}"))
                .await
                .json()
                .await
                .unwrap();
            let p = view["progress"].as_u64().unwrap();
            assert!(p > 0 && p < 100, "{view}");
        }
        let files = transcode(&job, &input, work.path());
        let res = runner.success(&job_uuid, &token, &[], files).await;
        assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
        wait_state(&app, &job_uuid, JobState::Completed).await;
    }
    assert_eq!(weights.len(), 2, "two HLS jobs");

    let order = [
        "video.created",
        "video.rendition.ready",
        "video.playable",
        "video.rendition.ready",
        "video.published",
    ];
    let got = hooks.wait_count(order.len()).await;
    assert_eq!(hooks.events(), order);
    let from_callback = callback.wait_count(order.len()).await;
    assert_eq!(callback.events(), order);
    let only = published_only.wait_count(1).await;
    assert_eq!(published_only.events(), ["video.published"]);

    let mut ids = std::collections::BTreeSet::new();
    for (r, c) in got.iter().zip(&from_callback) {
        let body = r.json();
        assert_eq!(r.content_type, "application/json");
        assert_eq!(r.path, "/hooks");
        assert_eq!(body["id"], r.id.as_str(), "webhook-id is the event's id");
        assert!(r.signature.starts_with("v1,"));
        assert_eq!(body["data"]["video"]["uuid"], uuid.as_str());
        // The same event reaches every target with the same id and body.
        assert_eq!((&r.id, &r.body), (&c.id, &c.body));
        assert!(ids.insert(r.id.clone()), "ids are unique");
    }
    assert_eq!(only[0].id, got[4].id);
    let ready: Vec<Value> = got
        .iter()
        .filter(|r| r.event() == "video.rendition.ready")
        .map(|r| r.json()["data"]["rendition"].clone())
        .collect();
    assert_eq!(ready[0]["type"], "hls");
    assert_eq!(ready[0]["height"], 240);
    assert_eq!(ready[1]["height"], 144);
    assert!(ready[0]["playlistUrl"].as_str().unwrap().ends_with(".m3u8"));
    let playable = got[2].json();
    assert_eq!(playable["data"]["video"]["state"]["name"], "playable");
    let published = got[4].json();
    assert_eq!(published["data"]["video"]["state"]["name"], "published");
    assert_eq!(published["data"]["video"]["progress"], 100);
    assert_eq!(
        published["data"]["video"]["hls"]["renditions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // An independent implementation accepts every signature (and no tampered body).
    let mut signed: Vec<(Received, &str)> =
        got.iter().map(|r| (r.clone(), ENDPOINT_SECRET)).collect();
    signed.extend(from_callback.iter().map(|r| (r.clone(), CALLBACK_SECRET)));
    assert!(verify_with_python(&signed) == signed.len() || std::env::var_os("CI").is_none());

    // Every delivery is recorded, delivered on the first attempt.
    let page = deliveries(&app, &format!("?video={uuid}&count=100")).await;
    assert_eq!(page["total"], 11, "{page}");
    assert!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "delivered" && d["attempts"] == 1 && d["lastStatus"] == 204)
    );
    let page = deliveries(&app, "?event=video.published").await;
    let mut endpoints: Vec<String> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["endpoint"].to_string())
        .collect();
    endpoints.sort();
    assert_eq!(endpoints, ["\"published-only\"", "\"test\"", "null"]);

    // Deleting the video: video.deleted, and the stream ends with it.
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/videos/{uuid}")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let got = hooks.wait_count(order.len() + 1).await;
    assert_eq!(got.last().unwrap().event(), "video.deleted");
    assert_eq!(
        got.last().unwrap().json()["data"]["video"]["uuid"],
        uuid.as_str()
    );
    callback.wait_count(order.len() + 1).await;
    tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .unwrap()
        .unwrap();
    let mut frames = Vec::new();
    while let Ok(f) = sse.try_recv() {
        frames.push(f);
    }
    let progress: Vec<u64> = frames
        .iter()
        .filter(|f| f.event == "progress")
        .map(|f| f.data["progress"].as_u64().unwrap())
        .collect();
    assert_eq!(progress.len(), 6, "three updates per job: {progress:?}");
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert!(progress.iter().all(|p| *p < 100), "{progress:?}");
    // The first job (the largest rendition) at 25 %: its share of the weights.
    let first_expected = weights[0] * 25 / (weights[0] + weights[1]);
    assert_eq!(progress[0], first_expected, "{progress:?} {weights:?}");
    assert!(
        frames
            .iter()
            .all(|f| f.event != "progress" || f.data["job"]["progress"].is_number())
    );
    let events: Vec<&str> = frames
        .iter()
        .filter(|f| f.event.starts_with("video."))
        .map(|f| f.event.as_str())
        .collect();
    assert_eq!(
        events,
        [
            "video.rendition.ready",
            "video.playable",
            "video.rendition.ready",
            "video.published",
            "video.deleted"
        ]
    );
    let published_frame = frames
        .iter()
        .find(|f| f.event == "video.published")
        .unwrap();
    assert_eq!(published_frame.id.as_deref(), Some(got[4].id.as_str()));
    assert_eq!(published_frame.data["data"]["video"]["progress"], 100);
}

#[tokio::test]
async fn a_callback_url_needs_a_secret_and_an_allowed_target() {
    let hooks = Receiver::start(Answer::Ok);
    let strict = spawn_webhook_app(&hooks, |s| s.webhooks.allowed_targets.clear()).await;
    for (url, says) in [
        ("http://10.1.2.3/hook", "private"),
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://localhost:9/hook", "loopback"),
        ("http://[::1]:9/hook", "loopback"),
        ("ftp://example.org/hook", "http"),
        ("http://user:pw@127.0.0.1/hook", "credentials"),
    ] {
        let res = submit(&strict, &sample("av-320x240.mp4"), &[("callbackUrl", url)]).await;
        assert_eq!(res.status(), 400, "{url}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "invalid_request", "{url}");
        assert!(
            body["detail"].as_str().unwrap().contains(says),
            "{url}: {body}"
        );
    }
    let no_secret = spawn_webhook_app(&hooks, |s| s.webhooks.secret = None).await;
    let res = submit(
        &no_secret,
        &sample("av-320x240.mp4"),
        &[("callbackUrl", &hooks.url)],
    )
    .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("webhooks.secret"),
        "{body}"
    );
    // Listed (127.0.0.1): accepted.
    let app = spawn_webhook_app(&hooks, |_| {}).await;
    let res = submit(
        &app,
        &sample("av-320x240.mp4"),
        &[("callbackUrl", &hooks.url)],
    )
    .await;
    assert_eq!(res.status(), 201);
}
