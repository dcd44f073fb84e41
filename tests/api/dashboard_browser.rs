//! The dashboard in a real browser: Debian's chromium, driven by npm `playwright-core`
//! (`tests/dashboard/browser.mjs`), against the real server, a runner holding a real
//! socket.io-client socket and simulated runner calls with real ffmpeg outputs. The
//! browser logs in, sees the runner online, watches a submitted video's progress bar
//! move without a reload, plays the published video's master playlist with hls.js
//! (`currentTime` advances, a picture is decoded) and cancels a job through the
//! confirmation. Screenshots go to `target/dashboard-screenshots/`.
//!
//! Without chromium the test is skipped, saying so; with `TEST_BROWSER_REQUIRED` set
//! (`.ci/run` sets it) it fails instead. The browser is `TEST_CHROMIUM` when set, else
//! `chromium` in `PATH`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use peertube_runner_connector::config::Secret;
use peertube_runner_connector::domain::job::JobState;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::media::sample;
use crate::pipeline::transcode;
use crate::runner_sim::{SimRunner, job, wait_state};
use crate::socket_helpers::NodeClient;
use crate::video_helpers::{spawn_video_app_with, submit_ok};

const ADMIN: &str = "dashboard-admin-key";
const INSTALL: &str = "apt-get install chromium";

/// The browser binary, or `None` (after saying so) when it is missing and not
/// required.
pub fn chromium() -> Option<PathBuf> {
    let found = match std::env::var_os("TEST_CHROMIUM") {
        Some(named) => Some(PathBuf::from(named)).filter(|p| p.is_file()),
        None => std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("chromium"))
                .find(|p| p.is_file())
        }),
    };
    if found.is_none() {
        let msg = format!(
            "the dashboard browser test needs Debian's chromium: `{INSTALL}` (or name it with \
             TEST_CHROMIUM)"
        );
        let required = std::env::var_os("TEST_BROWSER_REQUIRED").is_some_and(|v| !v.is_empty());
        assert!(!required, "{msg} (TEST_BROWSER_REQUIRED is set)");
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// `target/dashboard-screenshots/`, beside this test binary's `debug/`.
fn screenshots() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_follows_a_video_in_the_browser_plays_it_and_cancels_a_job() {
    let Some(browser) = chromium() else { return };
    let app = spawn_video_app_with(|s| s.auth.admin_keys = vec![Secret::new(ADMIN)]).await;
    let runner = SimRunner::register(&app, "browser-runner").await;
    let mut socket = NodeClient::spawn(
        &format!("{}/runners", app.address),
        Some(&["websocket"]),
        json!({"runnerToken": runner.token}),
        false,
    );
    socket.wait_for("connect").await;

    let shots = screenshots();
    let mut child = Command::new("node")
        .arg(crate::node::tests_dir().join("dashboard/browser.mjs"))
        .env("BASE", &app.address)
        .env("ADMIN_KEY", ADMIN)
        .env("RUNNER", &runner.name)
        .env("CHROMIUM", &browser)
        .env("SHOTS", &shots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    let fields = [
        ("name", "Dashboard clip"),
        ("hls", "true"),
        ("webVideos", "false"),
        ("resolutions", "240"),
    ];
    let clip = sample("av-320x240.mp4");
    let work = tempfile::tempdir().unwrap();
    let mut video = String::new();
    let mut held: Option<(Value, String)> = None;
    let mut to_cancel = String::new();
    let mut done = false;
    while let Some(line) = tokio::time::timeout(Duration::from_secs(90), lines.next_line())
        .await
        .expect("the browser script answers within 90 s")
        .unwrap()
    {
        let answer = match line.as_str() {
            "STEP submit-video" => {
                let body = submit_ok(&app, &clip, &fields).await;
                video = body["uuid"].as_str().unwrap().to_owned();
                let offers = runner.available(json!({})).await;
                let uuid = offers[0]["uuid"].as_str().unwrap().to_owned();
                let (job, token) = runner.accept_ok(&uuid).await;
                let res = runner
                    .update(&uuid, &token, &[("progress", "10")], vec![])
                    .await;
                assert_eq!(res.status(), 204);
                held = Some((job, token));
                json!({ "video": video })
            }
            "STEP progress" => {
                let (job, token) = held.as_ref().unwrap();
                let uuid = job["uuid"].as_str().unwrap();
                let res = runner
                    .update(uuid, token, &[("progress", "60")], vec![])
                    .await;
                assert_eq!(res.status(), 204);
                json!({})
            }
            "STEP publish" => {
                let (job, token) = held.as_ref().unwrap();
                let uuid = job["uuid"].as_str().unwrap();
                let url = job["payload"]["input"]["videoFileUrl"].as_str().unwrap();
                let res = runner.download(url, token).await;
                assert_eq!(res.status(), 200);
                let input = work.path().join("input.mp4");
                std::fs::write(&input, res.bytes().await.unwrap()).unwrap();
                let files = transcode(job, &input, work.path());
                let res = runner.success(uuid, token, &[], files).await;
                assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
                wait_state(&app, uuid, JobState::Completed).await;
                json!({})
            }
            "STEP job-to-cancel" => {
                let other = [("name", "To cancel")];
                let body = submit_ok(&app, &clip, &[&fields[1..], &other[..]].concat()).await;
                to_cancel = body["jobs"][0]["uuid"].as_str().unwrap().to_owned();
                json!({ "job": to_cancel })
            }
            "STEP cancelled" => {
                assert_eq!(job(&app, &to_cancel).await.state, JobState::Cancelled);
                // The neighbour, the published video's job, is untouched.
                let (first, _) = held.as_ref().unwrap();
                let first = job(&app, first["uuid"].as_str().unwrap()).await;
                assert_eq!(first.state, JobState::Completed);
                json!({})
            }
            "DONE" => {
                done = true;
                break;
            }
            other => panic!("unexpected line from the browser script: {other}"),
        };
        stdin
            .write_all(format!("{answer}\n").as_bytes())
            .await
            .unwrap();
    }
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success() && done,
        "the browser script failed ({status})"
    );
    assert!(!video.is_empty());
    for name in [
        "1-overview",
        "2-videos-progress",
        "3-video-page",
        "4-queue-cancelled",
    ] {
        let shot = shots.join(format!("{name}.png"));
        assert!(std::fs::metadata(&shot).unwrap().len() > 1000, "{shot:?}");
    }
}
