//! The one transition path (`db::jobs::transition`) on both backends: a
//! compare-and-set on the state read and its guard, the table's side effects, and the
//! cascade to the jobs waiting, level by level, in one transaction.

use std::time::Duration;

use peertube_runner_connector::clock::Clock;
use peertube_runner_connector::db::jobs::{Guard, Transitioned};
use peertube_runner_connector::db::{self, DbError};
use peertube_runner_connector::domain::ids::TokenHash;
use peertube_runner_connector::domain::job::JobState::*;
use peertube_runner_connector::domain::job::{Job, JobType};
use peertube_runner_connector::domain::lifecycle::Transition;
use peertube_runner_connector::service::jobs::JobParent;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with_clock};
use crate::runner_sim::{SimRunner, insert_jobs, job, spec};

/// [`Guard`], owned (to move into the database task).
enum G {
    State,
    Token(TokenHash),
    Unchanged(chrono::NaiveDateTime),
}

async fn apply(app: &TestApp, j: &Job, t: Transition, guard: G) -> Option<Transitioned> {
    let (j, now) = (j.clone(), app.state.now());
    app.state
        .db
        .run(move |conn| {
            let guard = match &guard {
                G::State => Guard::State,
                G::Token(h) => Guard::Token(h),
                G::Unchanged(t) => Guard::Unchanged(*t),
            };
            db::jobs::transition(conn, &j, &t, guard, now)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_transition_applies_once_from_the_state_read_with_the_tables_effects() {
    let app = spawn_app_with_clock(|_| {}, Clock::manual()).await;
    let runner = SimRunner::register(&app, "r").await;
    let rows = insert_jobs(
        &app,
        vec![
            spec(JobType::VodWebVideoTranscoding, 1, None),
            spec(JobType::VodHlsTranscoding, 1, Some(JobParent::Spec(0))),
            spec(JobType::VodHlsTranscoding, 1, Some(JobParent::Spec(1))),
            spec(JobType::VodHlsTranscoding, 1, Some(JobParent::Spec(0))),
        ],
    )
    .await;
    let pending = rows[0].clone();
    let hash = TokenHash::of("ptrjt-x");
    let accept = Transition::Accept {
        runner_id: runner.id,
        token_hash: hash.clone(),
    };
    let accepted = apply(&app, &pending, accept.clone(), G::State)
        .await
        .unwrap();
    assert_eq!(
        (accepted.job.state, accepted.job.runner_id),
        (Processing, Some(runner.id))
    );
    assert_eq!(accepted.job.token_hash.as_ref(), Some(&hash));
    assert_eq!(accepted.job.started_at, Some(app.state.now()));
    // The same transition from the same (now stale) read changes nothing.
    assert!(apply(&app, &pending, accept, G::State).await.is_none());
    // A state the transition does not start from is refused before any write.
    assert!(
        apply(&app, &accepted.job, Transition::Complete, G::State)
            .await
            .is_none()
    );
    // Guards: another token, or an `updated_at` that moved, does not match.
    let other = TokenHash::of("ptrjt-y");
    assert!(
        apply(&app, &accepted.job, Transition::Retry, G::Token(other))
            .await
            .is_none()
    );
    app.state.clock.advance(Duration::from_secs(5));
    let seen = accepted.job.updated_at - chrono::TimeDelta::seconds(1);
    assert!(
        apply(&app, &accepted.job, Transition::Retry, G::Unchanged(seen))
            .await
            .is_none()
    );
    let fail = Transition::Fail {
        message: "boom".to_owned(),
    };
    let failed = apply(&app, &accepted.job, fail, G::Token(hash))
        .await
        .unwrap();
    assert_eq!(
        (
            failed.job.state,
            failed.job.failures,
            failed.job.error.as_deref()
        ),
        (Errored, 1, Some("boom"))
    );
    assert_eq!(
        (failed.job.token_hash.clone(), failed.job.runner_id),
        (None, Some(runner.id)),
        "the token is dropped, the runner that held it stays recorded"
    );
    assert_eq!(failed.job.finished_at, Some(app.state.now()));
    // The cascade reached the children and the grandchild, in one change.
    let mut settled: Vec<_> = failed.cascaded.iter().map(|j| (j.id, j.state)).collect();
    settled.sort_by_key(|s| s.0);
    assert_eq!(
        settled,
        [
            (rows[1].id, ParentErrored),
            (rows[2].id, ParentErrored),
            (rows[3].id, ParentErrored)
        ]
    );
    for r in &rows[1..] {
        let stored = job(&app, r.uuid).await;
        assert_eq!(stored.state, ParentErrored);
        assert_eq!(stored.error.as_deref(), Some("Parent error"));
    }
    assert!(!failed.made_pending());
}

#[tokio::test]
async fn completion_releases_only_the_direct_children() {
    let app = spawn_app_with_clock(|_| {}, Clock::manual()).await;
    let rows = insert_jobs(
        &app,
        vec![
            spec(JobType::VodWebVideoTranscoding, 1, None),
            spec(JobType::VodHlsTranscoding, 1, Some(JobParent::Spec(0))),
            spec(JobType::VodHlsTranscoding, 1, Some(JobParent::Spec(1))),
        ],
    )
    .await;
    let parent_id = rows[0].id;
    app.state
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use peertube_runner_connector::db::schema::runner_jobs::dsl::*;
            diesel::update(runner_jobs.find(parent_id))
                .set((state.eq(Completing), progress.eq(90)))
                .execute(conn)?;
            Ok::<_, DbError>(())
        })
        .await
        .unwrap();
    let completing = job(&app, rows[0].uuid).await;
    let done = apply(&app, &completing, Transition::Complete, G::State)
        .await
        .unwrap();
    assert_eq!((done.job.state, done.job.progress), (Completed, None));
    assert_eq!(
        done.cascaded
            .iter()
            .map(|j| (j.id, j.state))
            .collect::<Vec<_>>(),
        [(rows[1].id, Pending)]
    );
    assert!(done.made_pending());
    assert_eq!(job(&app, rows[2].uuid).await.state, WaitingForParentJob);
}

#[tokio::test]
async fn a_stored_payload_that_is_not_its_types_is_an_error_not_a_guess() {
    let app = spawn_app_with_clock(|_| {}, Clock::manual()).await;
    let rows = insert_jobs(&app, vec![spec(JobType::VodHlsTranscoding, 1, None)]).await;
    let parent_id = rows[0].id;
    app.state
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use peertube_runner_connector::db::schema::runner_jobs::dsl::*;
            diesel::update(runner_jobs.find(parent_id))
                .set(payload.eq(json!({"input": {"rtmpUrl": "x"}}).to_string()))
                .execute(conn)?;
            Ok::<_, DbError>(())
        })
        .await
        .unwrap();
    let read = app
        .state
        .db
        .run(move |conn| db::jobs::find(conn, parent_id))
        .await;
    assert!(matches!(read, Err(DbError::Corrupt(_))), "{read:?}");
}
