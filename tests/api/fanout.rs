//! Cross-instance fan-out through Redis, Redis Sentinel and PostgreSQL, with two
//! applications in this test process on one database.
//!
//! Two `Application`s in one process share nothing in memory: each has its own event
//! bus, socket hub, relay task and connection pool (the service keeps no global
//! state), so an event can only reach the other through the real channel; their
//! runners are real `socket.io-client`s over WebSocket. `multi_instance.rs` does the
//! same with two server processes of the binary.
//!
//! The `available-jobs` deadline is 1.5 s from the moment the job exists (the 201 of
//! its submission), with the real 1 s debounce, and `socket.reannounce_interval` left
//! at 60 s where a re-announce could otherwise pass for a relayed event.

use std::time::Duration;

use peertube_runner_connector::config::{FanoutBackend, Settings};
use tokio::time::Instant;

use crate::fanout_helpers::*;
use crate::helpers::{TestApp, spawn_app_with};
use crate::socket_helpers::NodeClient;

const DEADLINE: Duration = Duration::from_millis(1500);

/// Two connected runners on each of `a` and `b`.
async fn runners_on(a: &TestApp, b: &TestApp) -> (Vec<NodeClient>, Vec<(i64, String)>) {
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for (app, name) in [(a, "a1"), (a, "a2"), (b, "b1"), (b, "b2")] {
        let registration = app.registration_token().await;
        let (id, token) = register_runner(&app.address, &registration, name).await;
        clients.push(connected_runner(&app.address, &token).await);
        ids.push((id, token));
    }
    (clients, ids)
}

/// Creates a job through `through` and checks that every client hears of it in time.
async fn job_reaches_everyone(through: &TestApp, clients: &mut [NodeClient], what: &str) {
    create_job_through(&through.address).await;
    let deadline = Instant::now() + DEADLINE;
    let mut all: Vec<&mut NodeClient> = clients.iter_mut().collect();
    all_hear_available_jobs(&mut all, deadline, what).await;
}

/// Waits until `app`'s relay is connected again, in a state newer than `since`.
async fn reconnected(app: &TestApp, since: &serde_json::Value) {
    let deadline = Instant::now() + crate::socket_helpers::WAIT;
    loop {
        let status = fanout_status(&app.address).await;
        if status["state"] == "connected" && status["since"] != *since {
            return;
        }
        assert!(Instant::now() < deadline, "never reconnected: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// After a reconnection each instance re-reads: jobs are pending, so every runner is
/// told at once (and that announcement cannot pass for a later relayed one).
async fn resync_announces(clients: &mut [NodeClient], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut all: Vec<&mut NodeClient> = clients.iter_mut().collect();
    all_hear_available_jobs(&mut all, deadline, &format!("resync {what}")).await;
}

async fn pair(configure: impl Fn(&mut Settings) + Clone) -> (TestApp, TestApp) {
    let c = configure.clone();
    let a = spawn_app_with(move |s| {
        instance_settings(s);
        c(s);
    })
    .await;
    let b = spawn_second(&a, configure).await;
    wait_fanout_state(&a.address, "connected").await;
    wait_fanout_state(&b.address, "connected").await;
    (a, b)
}

fn redis(redis: &RedisProcess, channel: &str) -> impl Fn(&mut Settings) + Clone + use<> {
    let (url, channel) = (redis.url(), channel.to_owned());
    move |s: &mut Settings| {
        s.fanout.backend = FanoutBackend::Redis;
        s.fanout.redis_url = url.clone();
        s.fanout.channel = channel.clone();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_fan_out_reaches_every_runner_and_resumes_after_the_connection_is_killed() {
    let mut server = RedisProcess::server(None);
    let (a, b) = pair(redis(&server, &unique_channel())).await;
    assert_eq!(fanout_status(&a.address).await["backend"], "redis");
    let (mut clients, _) = runners_on(&a, &b).await;
    job_reaches_everyone(&a, &mut clients, "created through A").await;
    job_reaches_everyone(&b, &mut clients, "created through B").await;

    // The server closes both instances' subscriptions: they reconnect and events cross again.
    let since = (
        fanout_status(&a.address).await["since"].clone(),
        fanout_status(&b.address).await["since"].clone(),
    );
    assert!(server.kill_pubsub_clients() >= 2);
    reconnected(&a, &since.0).await;
    reconnected(&b, &since.1).await;
    resync_announces(&mut clients, "after CLIENT KILL").await;
    job_reaches_everyone(&a, &mut clients, "after CLIENT KILL").await;

    // Redis itself goes away: each instance still tells its own runners.
    server.stop();
    wait_fanout_state(&a.address, "reconnecting").await;
    let down = wait_fanout_state(&b.address, "reconnecting").await;
    assert!(down["lastError"].is_string(), "{down}");
    create_job_through(&a.address).await;
    let deadline = Instant::now() + DEADLINE;
    {
        let (on_a, on_b) = clients.split_at_mut(2);
        let mut local: Vec<&mut NodeClient> = on_a.iter_mut().collect();
        all_hear_available_jobs(&mut local, deadline, "A's runners, Redis down").await;
        // B's cannot hear of it through the relay.
        let heard = tokio::time::timeout(DEADLINE, on_b[0].wait_for("available-jobs")).await;
        assert!(
            heard.is_err(),
            "B's runner heard through a relay that is down"
        );
    }
    // Back: both resynchronise at once (jobs are pending: B's runners hear of the job
    // they missed), then events cross again.
    server.restart();
    wait_fanout_state(&a.address, "connected").await;
    wait_fanout_state(&b.address, "connected").await;
    resync_announces(&mut clients, "after the outage").await;
    job_reaches_everyone(&b, &mut clients, "after the outage").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reannounce_reaches_runners_of_every_instance_while_the_fanout_is_down() {
    // A Redis address where nothing listens any more.
    let port = {
        let dead = RedisProcess::server(None);
        dead.port
    };
    let channel = unique_channel();
    let configure = move |s: &mut Settings| {
        s.fanout.backend = FanoutBackend::Redis;
        s.fanout.redis_url = format!("redis://127.0.0.1:{port}");
        s.fanout.channel = channel.clone();
        s.socket.reannounce_interval = Duration::from_secs(2);
    };
    let c = configure.clone();
    let a = spawn_app_with(move |s| {
        instance_settings(s);
        c(s);
    })
    .await;
    let b = spawn_second(&a, configure).await;
    // Not connected, and saying why once the first attempt failed.
    let deadline = Instant::now() + crate::socket_helpers::WAIT;
    loop {
        let status = fanout_status(&b.address).await;
        assert_eq!(status["state"], "connecting", "{status}");
        if status["lastError"].is_string() {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let registration = b.registration_token().await;
    let (_, token) = register_runner(&b.address, &registration, "b").await;
    let mut runner = connected_runner(&b.address, &token).await;
    create_job_through(&a.address).await;
    // Within one re-announce period (plus scheduling slack), without any relay.
    let heard =
        tokio::time::timeout(Duration::from_secs(4), runner.wait_for("available-jobs")).await;
    assert!(heard.is_ok(), "no re-announce: {:?}", runner.seen);
    assert_eq!(fanout_status(&b.address).await["state"], "connecting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_sentinel_fan_out_finds_the_master_and_closes_removed_runners_everywhere() {
    let master = RedisProcess::server(Some("s3cret-master"));
    let sentinel = RedisProcess::sentinel(&master, "prc-master");
    let channel = unique_channel();
    let sentinel_addr = format!("127.0.0.1:{}", sentinel.port);
    let (a, b) = pair(move |s: &mut Settings| {
        s.fanout.backend = FanoutBackend::RedisSentinel;
        s.fanout.sentinels = vec![sentinel_addr.clone()];
        s.fanout.sentinel_master = "prc-master".to_owned();
        s.fanout.redis_password = Some(peertube_runner_connector::config::Secret::new(
            "s3cret-master",
        ));
        s.fanout.channel = channel.clone();
    })
    .await;
    assert_eq!(fanout_status(&b.address).await["backend"], "redis-sentinel");
    let (mut clients, ids) = runners_on(&a, &b).await;
    job_reaches_everyone(&a, &mut clients, "created through A").await;
    job_reaches_everyone(&b, &mut clients, "created through B").await;

    // b1 (connected to B) unregisters through A: its socket on B is closed.
    let res = a
        .post_json(
            "/api/v1/runners/unregister",
            &serde_json::json!({"runnerToken": ids[2].1}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let gone = clients[2].wait_for("disconnect").await;
    assert_eq!(gone["reason"], "io server disconnect");
    // Its neighbours keep theirs.
    job_reaches_everyone(&a, &mut clients[3..], "b2 after b1 left").await;
    assert!(
        !clients[3].seen.iter().any(|e| e["event"] == "disconnect"),
        "{:?}",
        clients[3].seen
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fan_out_resumes_after_its_connection_is_terminated() {
    let Some(admin) = postgres_admin("postgres_fan_out_resumes_after_its_connection_is_terminated")
    else {
        return;
    };
    // The default on PostgreSQL: LISTEN/NOTIFY on the job database.
    let (a, b) = pair(|_: &mut Settings| {}).await;
    assert_eq!(fanout_status(&a.address).await["backend"], "postgres");
    let (mut clients, _) = runners_on(&a, &b).await;
    job_reaches_everyone(&a, &mut clients, "created through A").await;

    let name = url::Url::parse(&a.db.url).unwrap().path()[1..].to_owned();
    let since = (
        fanout_status(&a.address).await["since"].clone(),
        fanout_status(&b.address).await["since"].clone(),
    );
    use diesel::{Connection, RunQueryDsl};
    let mut conn = diesel::PgConnection::establish(&admin).unwrap();
    let killed = diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND application_name = '{}'",
        peertube_runner_connector::fanout::postgres::APPLICATION_NAME
    ))
    .execute(&mut conn)
    .unwrap();
    assert_eq!(killed, 2, "one LISTEN connection per instance");
    reconnected(&a, &since.0).await;
    reconnected(&b, &since.1).await;
    resync_announces(&mut clients, "after the connections were terminated").await;
    job_reaches_everyone(&b, &mut clients, "after the connections were terminated").await;
}

#[tokio::test]
async fn readyz_shows_the_fanout_backend_and_its_state() {
    let app = spawn_app_with(|_| {}).await;
    let status = fanout_status(&app.address).await;
    if app.db.is_postgres() {
        let status = wait_fanout_state(&app.address, "connected").await;
        assert_eq!(status["backend"], "postgres");
        assert!(
            status["since"].is_string() && status["lastError"].is_null(),
            "{status}"
        );
    } else {
        assert_eq!(status, serde_json::json!({"backend": "none"}));
    }
}

#[tokio::test]
async fn a_runner_deleted_without_an_event_loses_its_sockets_at_the_next_round() {
    // No fan-out, and the row deleted behind the service's back (what a CLI without
    // fan-out, or a lost event, amounts to): the periodic round finds it.
    let app = spawn_app_with(|s| {
        s.fanout.backend = FanoutBackend::None;
        s.socket.reannounce_interval = Duration::from_millis(300);
    })
    .await;
    let registration = app.registration_token().await;
    let (gone_id, gone) = register_runner(&app.address, &registration, "gone").await;
    let (_, kept) = register_runner(&app.address, &registration, "kept").await;
    let mut gone_client = connected_runner(&app.address, &gone).await;
    let kept_client = connected_runner(&app.address, &kept).await;
    app.state
        .db
        .run(move |conn| peertube_runner_connector::db::runners::delete(conn, gone_id))
        .await
        .unwrap();
    let closed = gone_client.wait_for("disconnect").await;
    assert_eq!(closed["reason"], "io server disconnect");
    // The other one stays through several rounds.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(app.state.hub.sockets_in("/runners"), 1);
    assert!(!kept_client.seen.iter().any(|e| e["event"] == "disconnect"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_while_an_instance_drains_still_reach_the_others() {
    let server = RedisProcess::server(None);
    let configure = redis(&server, &unique_channel());
    let (a, b) = pair(move |s: &mut Settings| {
        configure(s);
        s.server.shutdown_grace = Duration::from_secs(4);
    })
    .await;
    let registration = b.registration_token().await;
    let (_, token) = register_runner(&b.address, &registration, "b").await;
    let mut runner = connected_runner(&b.address, &token).await;

    // An upload in progress on A keeps its shutdown draining.
    use tokio::io::AsyncWriteExt;
    let mut upload = tokio::net::TcpStream::connect(("127.0.0.1", a.port))
        .await
        .unwrap();
    let head = format!(
        "POST /api/v1/videos HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: multipart/form-data; boundary=X\r\nContent-Length: 100000\r\n\r\n--X\r\n"
    );
    upload.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.shutdown.shutdown();
    crate::socket_helpers::eventually(|| a.state.hub.is_closing()).await;
    assert!(!a.running.is_finished(), "A is draining");
    // What a request finishing during the drain publishes (a job completed, its
    // children became pending) still crosses.
    a.state
        .events
        .publish(peertube_runner_connector::service::events::Event::JobsAvailable);
    let heard = tokio::time::timeout(DEADLINE, runner.wait_for("available-jobs")).await;
    assert!(
        heard.is_ok(),
        "B's runner missed an event of a draining instance: {:?}",
        runner.seen
    );
    drop(upload);
}
