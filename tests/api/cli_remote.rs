//! `job …` and `video …`: the real binary against a running server, its progress read
//! as the plain lines it prints when standard error is not a terminal.

use std::process::Output;
use std::time::Duration;

use peertube_runner_connector::config::Secret;
use peertube_runner_connector::domain::job::JobType;
use serde_json::{Value, json};

use crate::admin_api::{ADMIN_KEY, API_KEY};
use crate::helpers::{TestApp, spawn_app_with};
use crate::runner_sim::{SimRunner, clip, hls_files, insert_jobs, job, spec};

async fn spawn() -> TestApp {
    spawn_app_with(|s| {
        s.auth.admin_keys = vec![Secret::new(ADMIN_KEY)];
        s.auth.api_keys = vec![Secret::new(API_KEY)];
        s.transcoding.max_failures = 1;
    })
    .await
}

/// Runs the binary with `args`, the server and key given by `env` (a `PRC_`-free
/// environment otherwise).
async fn run(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_peertube-runner-connector"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PRC_") {
            cmd.env_remove(k);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    cmd.env("PRC_DATA_DIR", dir.path())
        .env("PRC_LOG__LEVEL", "warn")
        .envs(env.iter().copied())
        .args(args)
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("the command ends")
        .unwrap()
}

fn server<'a>(app: &'a TestApp, key: &'a str) -> [(&'a str, &'a str); 2] {
    [("PRC_URL", app.address.as_str()), ("PRC_API_KEY", key)]
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn clip_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    std::fs::write(&path, &clip().mp4).unwrap();
    let path = path.to_string_lossy().into_owned();
    (dir, path)
}

/// A runner that takes every pending HLS job and completes it (or errors it).
fn serve_jobs(runner: SimRunner, fail: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for _ in 0..600 {
            for offer in runner.available(json!({})).await {
                let uuid = offer["uuid"].as_str().unwrap().to_owned();
                let res = runner.accept(&uuid).await;
                if res.status() != 200 {
                    continue;
                }
                let body: Value = res.json().await.unwrap();
                let token = body["job"]["jobToken"].as_str().unwrap().to_owned();
                runner
                    .update(&uuid, &token, &[("progress", "50")], vec![])
                    .await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                if fail {
                    runner.error(&uuid, &token, "ffmpeg exited with 1").await;
                } else {
                    let res = runner.success(&uuid, &token, &[], hls_files(&uuid)).await;
                    assert_eq!(res.status(), 204);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

#[tokio::test]
async fn video_submit_uploads_with_progress_and_waits_until_published() {
    let app = spawn().await;
    let worker = serve_jobs(SimRunner::register(&app, "worker").await, false);
    let (_dir, file) = clip_file();
    let out = run(
        &server(&app, API_KEY),
        &[
            "video",
            "submit",
            &file,
            "--name",
            "From the CLI",
            "--resolutions",
            "240",
            "--wait",
            "--poll-interval",
            "200ms",
        ],
    )
    .await;
    worker.abort();
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{}\n{o}\n{e}", out.status);
    let lines: Vec<&str> = e.lines().collect();
    // Plain progress lines (standard error is not a terminal here): the upload by
    // tenths, from 0% to 100%, then the transcoding until published.
    let size = peertube_runner_connector::cli::progress::bytes(clip().mp4.len() as u64);
    assert_eq!(
        lines.first().copied(),
        Some(format!("upload 0% (0 B / {size})").as_str()),
        "{e}"
    );
    assert!(
        lines.contains(&format!("upload 100% ({size} / {size})").as_str()),
        "{e}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("transcoding ") && l.ends_with("(0/1 jobs done, transcoding)")),
        "{e}"
    );
    assert_eq!(
        lines.last().copied(),
        Some("transcoding 100% (1/1 jobs done, published)"),
        "{e}"
    );
    assert!(
        !e.contains('\r') && !e.contains('\u{1b}'),
        "no bar drawn: {e:?}"
    );
    // Standard output has the result alone: the UUID and the final state.
    let (uuid, state) = o.trim().split_once(' ').unwrap();
    assert_eq!(state, "published");

    // The same video through the other commands.
    let out = run(&server(&app, API_KEY), &["video", "get", uuid, "--json"]).await;
    let video: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(video["name"], "From the CLI");
    assert_eq!(video["state"]["name"], "published");
    let out = run(&server(&app, API_KEY), &["video", "get", uuid]).await;
    assert!(
        stdout(&out).contains("state     published"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("hls       http://"),
        "{}",
        stdout(&out)
    );
    let out = run(
        &server(&app, API_KEY),
        &["video", "list", "--state", "published"],
    )
    .await;
    assert!(out.status.success());
    assert!(
        stdout(&out).contains(uuid) && stdout(&out).contains("1 of 1 videos"),
        "{}",
        stdout(&out)
    );
    let out = run(
        &server(&app, API_KEY),
        &["video", "list", "--json", "--state", "failed"],
    )
    .await;
    let page: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(page["total"], 0);
    let out = run(&server(&app, API_KEY), &["video", "delete", uuid]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&server(&app, API_KEY), &["video", "get", uuid]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("404") && stderr(&out).contains("video_not_found"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn a_failed_video_exits_3_and_is_retried_and_a_wait_can_time_out() {
    let app = spawn().await;
    let worker = serve_jobs(SimRunner::register(&app, "failing").await, true);
    let (_dir, file) = clip_file();
    let out = run(
        &server(&app, ADMIN_KEY),
        &[
            "video",
            "submit",
            &file,
            "--resolutions",
            "240",
            "--wait",
            "--poll-interval",
            "200ms",
        ],
    )
    .await;
    worker.abort();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("failed: ffmpeg exited with 1"),
        "{}",
        stderr(&out)
    );
    let uuid = stdout(&out).split_whitespace().next().unwrap().to_owned();

    // Retried, with nobody to run it: the wait times out.
    let out = run(
        &server(&app, API_KEY),
        &[
            "video",
            "retry",
            &uuid,
            "--wait",
            "--timeout",
            "1s",
            "--poll-interval",
            "200ms",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is still transcoding after 1s"),
        "{}",
        stderr(&out)
    );
    // Nothing left to retry.
    let out = run(&server(&app, API_KEY), &["video", "retry", &uuid]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("409") && stderr(&out).contains("not_retryable"));
}

#[tokio::test]
async fn jobs_are_listed_cancelled_retried_and_deleted() {
    let app = spawn().await;
    let jobs = insert_jobs(
        &app,
        vec![
            spec(JobType::VodHlsTranscoding, 100, None),
            spec(JobType::VodWebVideoTranscoding, 50, None),
            spec(JobType::VideoTranscription, 10, None),
        ],
    )
    .await;
    let runner = SimRunner::register(&app, "cli-runner").await;
    let (_, token) = runner.accept_ok(jobs[2].uuid).await;
    assert_eq!(
        runner
            .error(jobs[2].uuid, &token, "no audio")
            .await
            .status(),
        204
    );

    let env = server(&app, ADMIN_KEY);
    let out = run(&env, &["job", "list"]).await;
    let table = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(table.starts_with("UUID"), "{table}");
    assert!(table.contains("3 of 3 jobs"), "{table}");
    assert!(
        table.contains("cli-runner") && table.contains("Errored"),
        "{table}"
    );
    let out = run(
        &env,
        &[
            "job",
            "list",
            "--json",
            "--state",
            "pending",
            "--sort",
            "-priority",
        ],
    )
    .await;
    let page: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let listed: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [jobs[0].uuid.to_string(), jobs[1].uuid.to_string()]);
    let out = run(
        &env,
        &[
            "job",
            "list",
            "--json",
            "--state",
            "4",
            "--type",
            "video-transcription",
        ],
    )
    .await;
    let page: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(page["total"], 1);
    let out = run(&env, &["job", "list", "--state", "later"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown job state `later`"));

    let out = run(&env, &["job", "retry", &jobs[2].uuid.to_string()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(job(&app, jobs[2].uuid).await.failures, 0);
    let out = run(&env, &["job", "cancel", &jobs[0].uuid.to_string()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&env, &["job", "cancel", &jobs[0].uuid.to_string()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not_cancellable"), "{}", stderr(&out));
    let out = run(&env, &["job", "delete", &jobs[1].uuid.to_string()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&env, &["job", "list", "--json"]).await;
    let page: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(page["total"], 2);

    // The admin API needs an admin key; flags win over the environment.
    let out = run(&server(&app, API_KEY), &["job", "list"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("401") && stderr(&out).contains("invalid_admin_key"));
    let out = run(
        &server(&app, API_KEY),
        &["job", "list", "--api-key", ADMIN_KEY],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    // No server there: a clear error.
    let out = run(
        &[],
        &[
            "job",
            "list",
            "--url",
            "http://127.0.0.1:9",
            "--api-key",
            "k",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot reach http://127.0.0.1:9"),
        "{}",
        stderr(&out)
    );
}
