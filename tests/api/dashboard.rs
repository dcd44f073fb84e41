//! The dashboard over plain HTTP: the login and its cookie, the cross-origin check of
//! its actions, and what its pages list. The browser test (`dashboard_browser.rs`)
//! covers the live updates, the player and the confirmation dialogs.

use peertube_runner_connector::config::Secret;
use peertube_runner_connector::domain::job::{JobState, JobType};
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::redirect::Policy;

use crate::helpers::{TestApp, spawn_app_with};
use crate::runner_sim::{insert_jobs, job, one_vod_job, video_spec};

const ADMIN: &str = "dashboard-test-admin";

async fn dashboard_app() -> TestApp {
    spawn_app_with(|s| s.auth.admin_keys = vec![Secret::new(ADMIN)]).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Logs in; returns the `Set-Cookie` header.
async fn login(app: &TestApp, key: &str) -> reqwest::Response {
    client()
        .post(app.url("/dashboard/login"))
        .header(ORIGIN, &app.address)
        .form(&[("key", key)])
        .send()
        .await
        .unwrap()
}

/// A logged-in session's `Cookie` header value.
async fn session(app: &TestApp) -> String {
    let res = login(app, ADMIN).await;
    assert_eq!(res.status(), 303);
    let set = res.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

async fn page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let res = client()
        .get(app.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn pages_need_a_session_opened_with_an_admin_key() {
    let app = dashboard_app().await;
    let res = client().get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/dashboard/login");
    let res = client()
        .get(app.url("/dashboard/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("name=\"key\""));

    let res = login(&app, "not-the-key").await;
    assert_eq!(res.status(), 401);
    assert!(res.headers().get(SET_COOKIE).is_none());
    assert!(res.text().await.unwrap().contains("not an admin key"));

    let res = login(&app, ADMIN).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/dashboard");
    let set = res.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attr in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/dashboard",
        "Max-Age=43200",
    ] {
        assert!(set.contains(attr), "{attr} missing from {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert!(!set.contains(ADMIN), "the cookie holds no key: {set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let (status, body) = page(&app, &cookie, "/dashboard").await;
    assert_eq!(status, 200);
    assert!(body.contains("Runners"));

    // A forged or altered cookie is refused.
    let forged = format!("{}x", cookie);
    assert_eq!(page(&app, &forged, "/dashboard").await.0, 303);
    assert_eq!(page(&app, "prc_dashboard=1.2.3", "/dashboard").await.0, 303);

    // Logging out removes the cookie.
    let res = client()
        .post(app.url("/dashboard/logout"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let cleared = res.headers()[SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.starts_with("prc_dashboard=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

#[tokio::test]
async fn a_session_of_a_removed_admin_key_is_refused() {
    let app = dashboard_app().await;
    let cookie = session(&app).await;
    let other = spawn_app_with(|s| s.auth.admin_keys = vec![Secret::new("another-key")]).await;
    let res = client()
        .get(other.url("/dashboard"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn without_an_admin_key_the_dashboard_is_closed() {
    let app = spawn_app_with(|_| {}).await;
    let res = client()
        .get(app.url("/dashboard/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(login(&app, "").await.status(), 403);
    assert_eq!(
        client()
            .get(app.url("/dashboard"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn the_cookie_is_secure_over_https_as_a_trusted_proxy_says() {
    let app = spawn_app_with(|s| {
        s.auth.admin_keys = vec![Secret::new(ADMIN)];
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let res = client()
        .post(app.url("/dashboard/login"))
        .header(ORIGIN, "https://dash.example.org")
        .header("host", "dash.example.org")
        .header("x-forwarded-proto", "https")
        .form(&[("key", ADMIN)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Secure")
    );

    // The same header from a peer that is not a trusted proxy is not believed.
    let untrusted = dashboard_app().await;
    let res = client()
        .post(untrusted.url("/dashboard/login"))
        .header(ORIGIN, &untrusted.address)
        .header("x-forwarded-proto", "https")
        .form(&[("key", ADMIN)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(
        !res.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Secure")
    );
}

#[tokio::test]
async fn actions_refuse_other_origins_and_cancel_only_the_job_named() {
    let app = dashboard_app().await;
    let cookie = session(&app).await;
    let (video, target) = one_vod_job(&app, JobType::VodHlsTranscoding).await;
    let spec = video_spec(&app, &video, JobType::VodWebVideoTranscoding, 240, None);
    let neighbour = insert_jobs(&app, vec![spec]).await.remove(0);
    let cancel = format!("/dashboard/jobs/{}/cancel", target.uuid);

    for origin in [Some("http://evil.example"), None] {
        let mut req = client().post(app.url(&cancel)).header(COOKIE, &cookie);
        if let Some(o) = origin {
            req = req.header(ORIGIN, o);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 403, "{origin:?}");
        assert_eq!(job(&app, target.uuid).await.state, JobState::Pending);
    }
    // No session: to the login form, nothing done.
    let res = client()
        .post(app.url(&cancel))
        .header(ORIGIN, &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/dashboard/login");
    assert_eq!(job(&app, target.uuid).await.state, JobState::Pending);

    let res = client()
        .post(app.url(&cancel))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &app.address)
        .header("referer", app.url("/dashboard/queue?stateOneOf=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/dashboard/queue?stateOneOf=1");
    assert_eq!(job(&app, target.uuid).await.state, JobState::Cancelled);
    assert_eq!(job(&app, neighbour.uuid).await.state, JobState::Pending);

    // Cancelling it again: the admin API's answer, as a page.
    let res = client()
        .post(app.url(&cancel))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // A retry of a job that did not fail is refused the same way.
    let retry = format!("/dashboard/jobs/{}/retry", neighbour.uuid);
    let res = client()
        .post(app.url(&retry))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(job(&app, neighbour.uuid).await.state, JobState::Pending);
}

#[tokio::test]
async fn the_pages_list_runners_jobs_and_videos_with_filters_and_paging() {
    let app = dashboard_app().await;
    let cookie = session(&app).await;
    app.register_runner("listed-runner").await;
    let (video, first) = one_vod_job(&app, JobType::VodHlsTranscoding).await;
    let spec = video_spec(&app, &video, JobType::VodWebVideoTranscoding, 240, None);
    let second = insert_jobs(&app, vec![spec]).await.remove(0);

    let (status, body) = page(&app, &cookie, "/dashboard").await;
    assert_eq!(status, 200);
    assert!(body.contains("data-runner=\"listed-runner\""));
    assert!(body.contains("offline"), "no socket: offline");
    // The depth chart ends on the current counts: both jobs wait.
    assert!(
        body.contains("Queue depth: 2 waiting, 0 running now"),
        "{body}"
    );

    let (_, all) = page(&app, &cookie, "/dashboard/queue").await;
    assert!(all.contains(&first.uuid.to_string()) && all.contains(&second.uuid.to_string()));
    let (_, hls) = page(
        &app,
        &cookie,
        "/dashboard/queue?typeOneOf=vod-hls-transcoding",
    )
    .await;
    assert!(hls.contains(&first.uuid.to_string()));
    assert!(!hls.contains(&second.uuid.to_string()));
    let (_, paged) = page(&app, &cookie, "/dashboard/queue?count=1&start=1").await;
    // Newest first: the second page of one holds the first job.
    assert!(paged.contains(&first.uuid.to_string()) && !paged.contains(&second.uuid.to_string()));
    assert!(paged.contains("← newer"));
    // Paging keeps the filters.
    let (_, searched) = page(&app, &cookie, "/dashboard/queue?search=hls&count=1").await;
    assert!(searched.contains(&first.uuid.to_string()));
    assert!(!searched.contains("older →"), "one HLS job: one page");
    let (_, typed) = page(&app, &cookie, "/dashboard/queue?typeOneOf=vod-web-video-transcoding&typeOneOf=vod-hls-transcoding&count=1").await;
    assert!(typed.contains("typeOneOf=vod-web-video-transcoding&amp;typeOneOf=vod-hls-transcoding&amp;start=1&amp;count=1"), "{typed}");
    // The filter form's "any" sends empty values: no filter.
    let (status, any) = page(&app, &cookie, "/dashboard/queue?stateOneOf=&typeOneOf=").await;
    assert_eq!(status, 200);
    assert!(any.contains(&first.uuid.to_string()) && any.contains(&second.uuid.to_string()));
    let (status, _) = page(&app, &cookie, "/dashboard/queue?stateOneOf=42").await;
    assert_eq!(status, 400);

    let (_, videos) = page(&app, &cookie, "/dashboard/videos").await;
    assert!(videos.contains(&video.uuid.to_string()));
    let (_, published) = page(&app, &cookie, "/dashboard/videos?state=published").await;
    assert!(!published.contains(&video.uuid.to_string()));
    let (status, one) = page(&app, &cookie, &format!("/dashboard/videos/{}", video.uuid)).await;
    assert_eq!(status, 200);
    assert!(one.contains(&first.uuid.to_string()) && one.contains("Webhook deliveries"));
    let (status, _) = page(
        &app,
        &cookie,
        "/dashboard/videos/00000000-0000-4000-8000-000000000000",
    )
    .await;
    assert_eq!(status, 404);

    let res = client()
        .get(app.url("/dashboard/assets/hls.light.min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let res = client()
        .get(app.url("/dashboard/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn the_event_stream_needs_a_session_and_relays_progress() {
    use futures_util::StreamExt;
    let app = dashboard_app().await;
    let cookie = session(&app).await;
    let res = client()
        .get(app.url("/dashboard/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = client()
        .get(app.url("/dashboard/events"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert_eq!(&first[..], b"retry: 3000\n\n");
    let (video, job) = (
        peertube_runner_connector::domain::ids::VideoUuid::generate(),
        peertube_runner_connector::domain::ids::JobUuid::generate(),
    );
    app.state.events.publish(
        peertube_runner_connector::service::events::Event::Progress {
            video,
            job,
            job_progress: 30,
            progress: 15,
        },
    );
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = String::from_utf8(frame.to_vec()).unwrap();
    assert!(text.starts_with("event: progress\n"), "{text}");
    assert!(text.contains(&video.to_string()) && text.contains("\"progress\":15"));
}
