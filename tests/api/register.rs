//! `POST /api/v1/runners/register` and `/unregister` (runner-protocol.md 1.1, 1.2, 1.11).

use serde_json::{Value, json};

use crate::helpers::{problem, spawn_app};

#[tokio::test]
async fn register_answers_200_with_id_and_runner_token() {
    let app = spawn_app().await;
    let token = app.registration_token().await;
    assert!(token.starts_with("ptrrt-"));
    let res = app
        .post_json(
            "/api/v1/runners/register",
            &json!({"registrationToken": token, "name": "runner-1", "description": "gpu box", "version": "0.1.0-rc.45"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = res.json().await.unwrap();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "runnerToken"]);
    assert!(body["id"].as_i64().unwrap() > 0);
    let runner_token = body["runnerToken"].as_str().unwrap();
    let uuid = runner_token.strip_prefix("ptrt-").unwrap();
    assert!(peertube_runner_connector::domain::ids::is_uuid_v4(uuid));

    let runners = peertube_runner_connector::service::runners::list(&app.state.db)
        .await
        .unwrap();
    assert_eq!(runners.len(), 1);
    assert_eq!(runners[0].name, "runner-1");
    assert_eq!(runners[0].description.as_deref(), Some("gpu box"));
    assert_eq!(runners[0].version.as_deref(), Some("0.1.0-rc.45"));
    assert_eq!(runners[0].ip, "127.0.0.1");
}

#[tokio::test]
async fn register_accepts_any_version_string_and_a_trailing_or_doubled_slash() {
    let app = spawn_app().await;
    let token = app.registration_token().await;
    // PeerTube would 400 on this version; we are lenient so the runner keeps working.
    let res = app
        .post_json(
            "//api/v1/runners/register/",
            &json!({"registrationToken": token, "name": "r", "version": "0.1.0-rc-45"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let runners = peertube_runner_connector::service::runners::list(&app.state.db)
        .await
        .unwrap();
    assert_eq!(runners[0].version.as_deref(), Some("0.1.0-rc-45"));
}

#[tokio::test]
async fn an_unknown_registration_token_is_404_without_code() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/v1/runners/register",
            &json!({"registrationToken": "ptrrt-nope", "name": "r"}),
        )
        .await;
    assert_eq!(res.status(), 404);
    let body = problem(res).await;
    assert_eq!(body["detail"], "Registration token is invalid");
    assert_eq!(body["error"], "Registration token is invalid");
    assert_eq!(body["type"], "about:blank");
    assert!(body.get("code").is_none());
    assert!(
        peertube_runner_connector::service::runners::list(&app.state.db)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_duplicate_name_is_400_and_writes_nothing() {
    let app = spawn_app().await;
    app.register_runner("same").await;
    let token = app.registration_token().await;
    let res = app
        .post_json(
            "/api/v1/runners/register",
            &json!({"registrationToken": token, "name": "same"}),
        )
        .await;
    assert_eq!(res.status(), 400);
    let body = problem(res).await;
    assert_eq!(
        body["detail"],
        "This runner name already exists on this instance"
    );
    assert_eq!(
        peertube_runner_connector::service::runners::list(&app.state.db)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_have_exactly_one_winner() {
    let app = spawn_app().await;
    let token = app.registration_token().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = app.client.clone();
        let url = app.url("/api/v1/runners/register");
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"registrationToken": token, "name": "racer"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 400, 400, 400, 400, 400, 400, 400]);
}

#[tokio::test]
async fn invalid_fields_are_400_validation_problems() {
    let app = spawn_app().await;
    let long_name = "n".repeat(101);
    let cases = [
        (json!({}), vec!["name", "registrationToken"]),
        (
            json!({"registrationToken": "", "name": "ok"}),
            vec!["registrationToken"],
        ),
        (
            json!({"registrationToken": "t", "name": long_name}),
            vec!["name"],
        ),
        (
            json!({"registrationToken": 5, "name": "ok"}),
            vec!["registrationToken"],
        ),
        (
            json!({"registrationToken": "t", "name": "ok", "description": "d".repeat(1001)}),
            vec!["description"],
        ),
    ];
    for (body, fields) in cases {
        let res = app.post_json("/api/v1/runners/register", &body).await;
        assert_eq!(res.status(), 400, "{body}");
        let doc = problem(res).await;
        assert_eq!(doc["status"], 400);
        assert_eq!(doc["instance"], "/api/v1/runners/register");
        let invalid: Vec<&String> = doc["invalid-params"].as_object().unwrap().keys().collect();
        assert_eq!(invalid, fields, "{body}");
        assert_eq!(
            doc["detail"],
            format!("Incorrect request parameters: {}", fields.join(", "))
        );
    }
}

#[tokio::test]
async fn malformed_bodies_get_clear_problems() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/runners/register");
    let res = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(
        problem(res).await["detail"]
            .as_str()
            .unwrap()
            .starts_with("Malformed JSON body")
    );

    let res = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("[1,2]")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    problem(res).await;

    let res = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    // As PeerTube: no parser reads it, so no field was sent.
    assert_eq!(res.status(), 400);
    assert_eq!(
        problem(res).await["detail"],
        "Incorrect request parameters: name, registrationToken"
    );

    let huge = json!({"registrationToken": "t", "name": "x".repeat(600 * 1024)});
    let res = app.post_json("/api/v1/runners/register", &huge).await;
    assert_eq!(res.status(), 413);
    problem(res).await;

    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(
        peertube_runner_connector::service::runners::list(&app.state.db)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn unregister_removes_the_runner_and_answers_204() {
    let app = spawn_app().await;
    let (_, token) = app.register_runner("leaver").await;
    let mut events = app.state.events.subscribe();
    let res = app
        .post_json("/api/v1/runners/unregister", &json!({"runnerToken": token}))
        .await;
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.unwrap().is_empty());
    assert!(matches!(
        events.try_recv(),
        Ok(peertube_runner_connector::service::events::Event::RunnerRemoved { .. })
    ));

    // The token is gone now: the code that makes the runner forget this instance.
    let res = app
        .post_json("/api/v1/runners/unregister", &json!({"runnerToken": token}))
        .await;
    assert_eq!(res.status(), 404);
    let body = problem(res).await;
    assert_eq!(body["code"], "unknown_runner_token");
    assert_eq!(
        body["type"],
        "https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/unknown_runner_token"
    );
}

#[tokio::test]
async fn unregister_without_token_is_a_validation_error() {
    let app = spawn_app().await;
    let res = app
        .post_json("/api/v1/runners/unregister", &json!({}))
        .await;
    assert_eq!(res.status(), 400);
    let body = problem(res).await;
    assert!(body["invalid-params"]["runnerToken"].is_object());
}

#[tokio::test]
async fn deleting_a_registration_token_deletes_its_runners() {
    let app = spawn_app().await;
    app.register_runner("a").await;
    let tokens = peertube_runner_connector::service::registration_tokens::list(&app.state.db)
        .await
        .unwrap();
    assert_eq!(tokens[0].registered_runners_count, 1);
    peertube_runner_connector::service::registration_tokens::delete(
        &app.state.db,
        &app.state.events,
        tokens[0].id,
    )
    .await
    .unwrap();
    assert!(
        peertube_runner_connector::service::runners::list(&app.state.db)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_runners_contact_is_recorded_at_most_once_per_interval_and_on_any_change() {
    use std::time::Duration;

    use peertube_runner_connector::clock::Clock;
    let app = crate::helpers::spawn_app_with_clock(
        |s| s.runners.last_contact_interval = Duration::from_secs(30),
        Clock::manual(),
    )
    .await;
    let clock = &app.state.clock;
    let registered_at = app.state.now();
    let runner = crate::runner_sim::SimRunner::register(&app, "r1").await;
    let contact = || async {
        let list = peertube_runner_connector::service::runners::list(&app.state.db)
            .await
            .unwrap();
        (list[0].last_contact, list[0].version.clone())
    };
    assert_eq!(contact().await, (registered_at, None));
    clock.advance(Duration::from_secs(10));
    runner.available(json!({})).await;
    assert_eq!(
        contact().await,
        (registered_at, None),
        "within the interval"
    );
    // A new version is recorded at once, however recent the last contact.
    runner.available(json!({"version": "0.1.0"})).await;
    assert_eq!(contact().await, (registered_at, Some("0.1.0".to_owned())));
    clock.advance(Duration::from_secs(25));
    let now = app.state.now();
    runner.available(json!({"version": "0.1.0"})).await;
    assert_eq!(contact().await, (now, Some("0.1.0".to_owned())));
}
