//! Several instances on one database: two `serve` processes of the real binary with
//! the default fan-out (PostgreSQL LISTEN/NOTIFY), runners connected to each with
//! `socket.io-client`, the CLI against the shared database; and the periodic tasks
//! run by several instances at once.

use std::time::Duration;

use peertube_runner_connector::config::FanoutBackend;
use peertube_runner_connector::service::cleanup;
use tokio::time::Instant;

use crate::fanout_helpers::*;
use crate::helpers::{TestDb, spawn_app_with};
use crate::socket_helpers::NodeClient;

const DEADLINE: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_on_one_postgres_database_share_jobs_and_runner_removals() {
    let Some(admin) = postgres_admin("two_server_processes_on_one_postgres_database") else {
        return;
    };
    let db = TestDb::postgres(&admin);
    let root = tempfile::tempdir().unwrap();
    let storage = root.path().join("storage").display().to_string();
    let env = [("PRC_STORAGE__ROOT", storage.as_str())];
    let a = ServerProcess::start(&db.url, &data_dir(root.path(), "a"), &env).await;
    let b = ServerProcess::start(&db.url, &data_dir(root.path(), "b"), &env).await;
    for server in [&a, &b] {
        let status = wait_fanout_state(&server.address, "connected").await;
        assert_eq!(status["backend"], "postgres");
    }

    let pool = peertube_runner_connector::db::Db::connect(&db.url, &Default::default()).unwrap();
    let registration = peertube_runner_connector::service::registration_tokens::create(&pool)
        .await
        .unwrap()
        .registration_token
        .as_str()
        .to_owned();
    // a1, a2 on A; b1, b2, b3 on B.
    let mut runners: Vec<(i64, String, NodeClient)> = Vec::new();
    for (server, name) in [(&a, "a1"), (&a, "a2"), (&b, "b1"), (&b, "b2"), (&b, "b3")] {
        let (id, token) = register_runner(&server.address, &registration, name).await;
        let client = connected_runner(&server.address, &token).await;
        runners.push((id, token, client));
    }

    for (through, what) in [(&a, "created through A"), (&b, "created through B")] {
        create_job_through(&through.address).await;
        let deadline = Instant::now() + DEADLINE;
        let mut all: Vec<&mut NodeClient> = runners.iter_mut().map(|(_, _, c)| c).collect();
        all_hear_available_jobs(&mut all, deadline, what).await;
    }

    // b1, connected to B, unregisters through A: its socket on B is closed.
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/runners/unregister", a.address))
        .json(&serde_json::json!({"runnerToken": runners[2].1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let started = Instant::now();
    let gone = runners[2].2.wait_for("disconnect").await;
    assert_eq!(gone["reason"], "io server disconnect");
    assert!(started.elapsed() < DEADLINE, "{:?}", started.elapsed());

    // b2, connected to B, is deleted with the CLI against the shared database.
    let b2 = runners[3].0.to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_peertube-runner-connector"))
        .env("PRC_DATA_DIR", root.path().join("cli"))
        .env_remove("PRC_FANOUT__BACKEND")
        .args(["--database-url", &db.url, "runner", "delete", &b2])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    let gone = runners[3].2.wait_for("disconnect").await;
    assert_eq!(gone["reason"], "io server disconnect");
    assert!(started.elapsed() < DEADLINE, "{:?}", started.elapsed());

    // The others keep their sockets and still hear of jobs.
    create_job_through(&b.address).await;
    let deadline = Instant::now() + DEADLINE;
    let mut kept: Vec<&mut NodeClient> = runners
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| ![2, 3].contains(i))
        .map(|(_, (_, _, c))| c)
        .collect();
    all_hear_available_jobs(&mut kept, deadline, "after the deletions").await;
    for c in kept {
        assert!(
            !c.seen.iter().any(|e| e["event"] == "disconnect"),
            "{:?}",
            c.seen
        );
    }
    assert!(a.messages().iter().any(|m| m == "fan-out: connected"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_warns_when_it_cannot_tell_running_instances() {
    // A Redis fan-out where nothing listens: the deletion is done, and said to be
    // found by the instances' periodic round.
    let port = RedisProcess::server(None).port;
    let app = spawn_app_with(|_| {}).await;
    let (id, _) = app.register_runner("r").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_peertube-runner-connector"))
        .env("PRC_DATA_DIR", app.data_dir.join("cli"))
        .env("PRC_FANOUT__BACKEND", "redis")
        .env("PRC_FANOUT__REDIS_URL", format!("redis://127.0.0.1:{port}"))
        .args([
            "--database-url",
            &app.db.url,
            "runner",
            "delete",
            &id.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("running instances were not told")
            && stderr.contains("reannounce_interval"),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("deleted runner {id}\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_cleaning_up_at_once_remove_an_abandoned_submission_once() {
    let a = spawn_app_with(|s| {
        instance_settings(s);
        s.fanout.backend = FanoutBackend::None;
    })
    .await;
    let storage = a.state.settings.storage_root();
    let b = spawn_second(&a, |s| s.storage.root = Some(storage.clone())).await;
    let hour = Duration::from_secs(3600);
    let mut abandoned = Vec::new();
    for _ in 0..5 {
        abandoned.push(crate::staging::cut_submission(&a, 2 * hour).await);
    }
    let (recent, recent_keys) = crate::staging::cut_submission(&a, Duration::from_secs(60)).await;
    let (ra, rb) = tokio::join!(
        cleanup::remove_abandoned_imports(&a.state, hour),
        cleanup::remove_abandoned_imports(&b.state, hour)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra + rb, 5, "each removal counted once: {ra} + {rb}");
    for (uuid, keys) in &abandoned {
        let res = crate::video_helpers::get(&a, &format!("/api/v1/videos/{uuid}")).await;
        assert_eq!(res.status(), 404);
        for key in keys {
            assert!(!a.state.storage.exists(key).await.unwrap(), "{key}");
        }
    }
    // The neighbour, maybe still being stored by a third instance, is left alone.
    let res = crate::video_helpers::get(&a, &format!("/api/v1/videos/{recent}")).await;
    assert_eq!(res.status(), 200);
    for key in &recent_keys {
        assert!(b.state.storage.exists(key).await.unwrap(), "{key}");
    }
}
