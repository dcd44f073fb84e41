//! Guarantees under load: many runners racing for jobs, and a 1 GiB upload.

use peertube_runner_connector::service::job_availability::pending_jobs_exist;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use peertube_runner_connector::domain::job::{JobState, JobType};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::helpers::spawn_app;
use crate::runner_sim::{SimRunner, insert_jobs, one_vod_job, spec};

/// Status and `code` of a lost accept.
type LostRace = (u16, Option<String>);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_runners_racing_over_200_jobs_accept_each_exactly_once() {
    let app = spawn_app().await;
    let rows = insert_jobs(
        &app,
        (0..200)
            .map(|i| spec(JobType::VodHlsTranscoding, i % 3, None))
            .collect(),
    )
    .await;
    let mut runners = Vec::new();
    for i in 0..20 {
        runners.push(SimRunner::register(&app, &format!("racer-{i}")).await);
    }
    let won: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let lost: Arc<Mutex<Vec<LostRace>>> = Arc::default();
    let tasks = runners.into_iter().map(|runner| {
        let (won, lost) = (won.clone(), lost.clone());
        let db = app.state.db.clone();
        tokio::spawn(async move {
            let mut short = 0;
            loop {
                // Half the runners behave like 0.0.21 (no version), half like the newest.
                let extra = if runner.id % 2 == 0 {
                    json!({})
                } else {
                    json!({"version": "0.1.0"})
                };
                let offers = runner.available(extra).await;
                let Some(first) = offers.first() else {
                    // A window of the offer index being refilled can answer short: a
                    // runner is told again then (available-jobs); this one asks again.
                    if pending_jobs_exist(&db).await.unwrap() {
                        short += 1;
                        assert!(short < 250, "pending jobs never offered again");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    break;
                };
                short = 0;
                let uuid = first["uuid"].as_str().unwrap().to_owned();
                let res = runner.accept(&uuid).await;
                match res.status().as_u16() {
                    200 => {
                        let previous = won.lock().await.insert(uuid, runner.id);
                        assert!(previous.is_none(), "a job was accepted twice");
                    }
                    status => {
                        let body: Value = res.json().await.unwrap();
                        lost.lock()
                            .await
                            .push((status, body["code"].as_str().map(str::to_owned)));
                    }
                }
            }
        })
    });
    for t in futures_util::future::join_all(tasks).await {
        t.unwrap();
    }
    let won = won.lock().await;
    assert_eq!(won.len(), 200, "no job lost");
    for (status, code) in lost.lock().await.iter() {
        match status {
            // The pre-check (400) and the compare-and-set (409) both carry the code
            // peertube-runner treats as a routine lost race.
            400 | 409 => assert_eq!(code.as_deref(), Some("runner_job_not_in_pending_state")),
            other => panic!("unexpected status {other}"),
        }
    }
    // The database agrees: every job PROCESSING, held by the runner that won it.
    for row in &rows {
        let stored = crate::runner_sim::job(&app, row.uuid).await;
        assert_eq!(stored.state, JobState::Processing);
        assert_eq!(stored.runner_id, won.get(&row.uuid.to_string()).copied());
    }
}

#[tokio::test]
async fn a_lost_race_tells_runners_again_while_other_jobs_wait() {
    use peertube_runner_connector::service::events::Event;
    let app = spawn_app().await;
    let rows = insert_jobs(
        &app,
        (0..2)
            .map(|_| spec(JobType::VodHlsTranscoding, 0, None))
            .collect(),
    )
    .await;
    let (a, b) = (
        SimRunner::register(&app, "winner").await,
        SimRunner::register(&app, "loser").await,
    );
    a.accept_ok(&rows[0].uuid).await;
    let mut events = app.state.events.subscribe();
    let lost = b.accept(&rows[0].uuid).await;
    assert!(matches!(lost.status().as_u16(), 400 | 409));
    let announced = std::iter::from_fn(|| events.try_recv().ok()).collect::<Vec<_>>();
    assert!(
        announced.contains(&Event::JobsAvailable),
        "the loser is told of the job still pending: {announced:?}"
    );
    // Nothing left to take: a lost race announces nothing.
    a.accept_ok(&rows[1].uuid).await;
    let mut events = app.state.events.subscribe();
    let lost = b.accept(&rows[1].uuid).await;
    assert!(matches!(lost.status().as_u16(), 400 | 409));
    let announced = std::iter::from_fn(|| events.try_recv().ok()).collect::<Vec<_>>();
    assert!(!announced.contains(&Event::JobsAvailable), "{announced:?}");
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

const CHILD: &str = "PRC_TEST_UPLOAD_MEMORY_CHILD";

/// Runs in a process of its own (this test re-executes the test binary for itself
/// only), so that other tests running in parallel do not disturb the RSS figures.
#[tokio::test]
async fn a_1_gib_success_upload_keeps_memory_flat() {
    if std::env::var_os(CHILD).is_some() {
        return upload_1_gib_and_measure().await;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "jobs_race::a_1_gib_success_upload_keeps_memory_flat",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
    for line in text.lines().filter(|l| l.contains("RSS")) {
        println!("{line}");
    }
}

async fn upload_1_gib_and_measure() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "big").await;
    let (_video, row) = one_vod_job(&app, JobType::VodWebVideoTranscoding).await;
    let (_, token) = runner.accept_ok(&row.uuid).await;
    const MIB: usize = 1 << 20;
    let chunk = bytes::Bytes::from(vec![0u8; MIB]);
    let body =
        futures_util::stream::iter((0..1024).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let part =
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(body), 1 << 30)
            .file_name("output.mp4")
            .mime_str("video/mp4")
            .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("runnerToken", runner.token.clone())
        .text("jobToken", token)
        .part("payload[videoFile]", part);
    let baseline = vm_rss_kib();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(baseline));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(vm_rss_kib(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let url = format!("{}/api/v1/runners/jobs/{}/success", app.address, row.uuid);
    let res = runner
        .client
        .post(url)
        .multipart(form)
        .send()
        .await
        .unwrap();
    sampler.abort();
    assert_eq!(res.status(), 204);
    let growth_mib = (peak.load(std::sync::atomic::Ordering::Relaxed) - baseline) / 1024;
    println!(
        "RSS baseline {} MiB, growth during a 1 GiB upload {growth_mib} MiB",
        baseline / 1024
    );
    assert!(growth_mib < 32, "RSS grew by {growth_mib} MiB");
    // Zeros are no video: the completion failed cleanly and the upload is gone.
    let row = crate::runner_sim::wait_state(&app, row.uuid, JobState::Errored).await;
    assert!(row.error.is_some());
    crate::helpers::assert_staging_empty(&app).await;
}
