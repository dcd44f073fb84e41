//! The offer index (`service::jobs::queue`) against the database it mirrors, and the
//! runner cache: changes reach it through events (from this instance or, through the
//! fan-out, from another), a missed change within `queue.refresh_interval`, and the
//! compare-and-set still decides every accept.

use std::time::Duration;

use diesel::prelude::*;
use peertube_runner_connector::db::DbError;
use peertube_runner_connector::db::schema::runner_jobs as j;
use peertube_runner_connector::domain::job::{JobState, JobType};
use peertube_runner_connector::service::events::{Event, jobs_changed};
use serde_json::json;

use crate::helpers::{TestApp, problem, spawn_app, spawn_app_with};
use crate::runner_sim::{SimRunner, insert_jobs, insert_jobs_quietly, spec};

fn offered(offers: &[serde_json::Value]) -> Vec<String> {
    offers
        .iter()
        .map(|o| o["uuid"].as_str().unwrap().to_owned())
        .collect()
}

/// Sets a job's state behind the service's back, as another instance's change does.
async fn set_state_quietly(app: &TestApp, id: i64, state: JobState) {
    app.state
        .db
        .run(move |conn| {
            diesel::update(j::table.find(id))
                .set(j::state.eq(state))
                .execute(conn)?;
            Ok::<_, DbError>(())
        })
        .await
        .unwrap();
}

/// Delivers `Event::JobsChanged` for `ids` as the fan-out relay does for an event of
/// another instance, and waits for the index to apply it.
async fn relay_changes(app: &TestApp, ids: &[i64]) {
    for event in jobs_changed(ids) {
        app.state.events.publish(event);
    }
    app.state.queue.settle().await;
}

#[tokio::test]
async fn a_job_created_by_another_instance_is_offered_once_its_event_arrives() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    let rows = insert_jobs_quietly(&app, vec![spec(JobType::VodHlsTranscoding, 5, None)]).await;
    assert!(
        runner.available(json!({})).await.is_empty(),
        "no event yet: the index does not know it"
    );
    relay_changes(&app, &[rows[0].id]).await;
    assert_eq!(
        offered(&runner.available(json!({})).await),
        [rows[0].uuid.to_string()]
    );
}

#[tokio::test]
async fn a_job_taken_elsewhere_leaves_the_offers_with_its_event_or_at_the_lost_accept() {
    let app = spawn_app_with(|s| s.runners.spread_offers = false).await;
    let runner = SimRunner::register(&app, "r1").await;
    let rows = insert_jobs(
        &app,
        vec![
            spec(JobType::VodHlsTranscoding, 1, None),
            spec(JobType::VodHlsTranscoding, 2, None),
        ],
    )
    .await;
    let (a, b) = (&rows[0], &rows[1]);
    assert_eq!(runner.available(json!({})).await.len(), 2);

    // Another instance accepted `a`, and its event came through.
    set_state_quietly(&app, a.id, JobState::Processing).await;
    relay_changes(&app, &[a.id]).await;
    assert_eq!(
        offered(&runner.available(json!({})).await),
        [b.uuid.to_string()]
    );

    // `b` too, but that event was lost: the index still offers it, the accept loses
    // the compare-and-set (the routine 409), and the index forgets it at once.
    set_state_quietly(&app, b.id, JobState::Processing).await;
    assert_eq!(runner.available(json!({})).await.len(), 1);
    let res = runner.accept(b.uuid).await;
    assert_eq!(res.status(), 409);
    assert_eq!(
        problem(res).await["code"],
        "runner_job_not_in_pending_state"
    );
    assert!(runner.available(json!({})).await.is_empty());
}

#[tokio::test]
async fn the_winner_of_an_accept_is_not_offered_again_on_this_instance() {
    let app = spawn_app().await;
    let (r1, r2) = (
        SimRunner::register(&app, "r1").await,
        SimRunner::register(&app, "r2").await,
    );
    let rows = insert_jobs(&app, vec![spec(JobType::VodHlsTranscoding, 1, None)]).await;
    assert_eq!(r2.available(json!({})).await.len(), 1);
    r1.accept_ok(rows[0].uuid).await;
    assert!(
        r2.available(json!({})).await.is_empty(),
        "the index learnt it before the accept answered"
    );
    let res = r2.accept(rows[0].uuid).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        problem(res).await["code"],
        "runner_job_not_in_pending_state"
    );
}

#[tokio::test]
async fn changes_no_event_carried_are_seen_within_the_refresh_interval() {
    let app = spawn_app_with(|s| s.queue.refresh_interval = Duration::from_millis(100)).await;
    let runner = SimRunner::register(&app, "r1").await;
    let rows = insert_jobs_quietly(&app, vec![spec(JobType::VodHlsTranscoding, 1, None)]).await;
    let uuid = rows[0].uuid.to_string();
    let mut seen = false;
    for _ in 0..200 {
        if offered(&runner.available(json!({})).await) == [uuid.clone()] {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        seen,
        "a job created without an event is offered after a refresh"
    );
    set_state_quietly(&app, rows[0].id, JobState::Cancelled).await;
    let mut gone = false;
    for _ in 0..200 {
        if runner.available(json!({})).await.is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        gone,
        "a job gone without an event stops being offered after a refresh"
    );
}

#[tokio::test]
async fn more_pending_jobs_than_a_window_are_offered_in_order_as_the_head_is_taken() {
    let app = spawn_app_with(|s| s.runners.spread_offers = false).await;
    let runner = SimRunner::register(&app, "r1").await;
    // 150 jobs (more than a window holds) and a transcription job ranking after all.
    let mut specs: Vec<_> = (0..150)
        .map(|i| spec(JobType::VodHlsTranscoding, 10 + i / 50, None))
        .collect();
    specs.push(spec(JobType::VideoTranscription, 20, None));
    let rows = insert_jobs_quietly(&app, specs).await;
    peertube_runner_connector::service::jobs::queue::load(&app.state)
        .await
        .unwrap();
    let mut taken = Vec::new();
    for _ in 0..40 {
        let offers = runner.available(json!({"version": "0.1.0"})).await;
        assert!(!offers.is_empty());
        let first = offers[0]["uuid"].as_str().unwrap().to_owned();
        runner.accept_ok(&first).await;
        app.state.queue.settle().await;
        taken.push(first);
    }
    let expected: Vec<String> = rows[..40].iter().map(|r| r.uuid.to_string()).collect();
    assert_eq!(
        taken, expected,
        "always the head of the queue, across refills"
    );
    assert_eq!(runner.available(json!({})).await.len(), 10);
}

#[tokio::test]
async fn a_deleted_runner_is_refused_at_once_and_a_new_one_works_at_once() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    insert_jobs(&app, vec![spec(JobType::VodHlsTranscoding, 1, None)]).await;
    assert_eq!(runner.available(json!({})).await.len(), 1, "now cached");
    let id = peertube_runner_connector::service::runners::list(&app.state.db)
        .await
        .unwrap()[0]
        .id;
    peertube_runner_connector::service::runners::delete(&app.state.db, &app.state.events, id)
        .await
        .unwrap();
    let res = runner.request(json!({})).await;
    assert_eq!(res.status(), 404);
    assert_eq!(problem(res).await["code"], "unknown_runner_token");
    let other = SimRunner::register(&app, "r2").await;
    assert_eq!(other.available(json!({})).await.len(), 1);
}

#[tokio::test]
async fn a_runner_removed_on_another_instance_is_refused_once_its_event_arrives() {
    let app = spawn_app().await;
    let runner = SimRunner::register(&app, "r1").await;
    assert_eq!(runner.request(json!({})).await.status(), 200);
    let id = peertube_runner_connector::service::runners::list(&app.state.db)
        .await
        .unwrap()[0]
        .id;
    // Deleted through another process: the database row goes, no event here.
    app.state
        .db
        .run(move |conn| peertube_runner_connector::db::runners::delete(conn, id))
        .await
        .unwrap();
    assert_eq!(
        runner.request(json!({})).await.status(),
        200,
        "cached until its event or the refresh interval"
    );
    app.state
        .events
        .publish(Event::RunnerRemoved { runner_id: id });
    assert_eq!(runner.request(json!({})).await.status(), 404);
}
