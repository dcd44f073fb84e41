//! The dashboard's pages, rendered on the server (maud): the overview (runners, queue
//! counts, the last hour's throughput), the queue (jobs, filtered and paged, with
//! cancel and retry), the videos (paged, with progress bars) and one video (player,
//! renditions, thumbnail, captions, jobs, webhook deliveries). Every list is one page
//! of a service listing; nothing here queries the database itself.
//!
//! Live regions (re-read by the script when the event stream says something changed)
//! carry `data-live` and an `id`; progress bars carry `data-video-progress` or
//! `data-job-progress` with the UUID the `progress` events name.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use maud::{DOCTYPE, Markup, html};

use super::DashboardError;
use super::session::Session;
use crate::domain::ids::VideoUuid;
use crate::domain::job::{JobState, JobType};
use crate::domain::listing::{Page, Sort};
use crate::domain::video::VideoState;
use crate::error::{ApiError, ServiceError};
use crate::http::listing::ListQuery;
use crate::service::admin::RunnerJobAdminView;
use crate::service::dashboard::{self, Minute, QueueCounts, RunnerStatus};
use crate::service::jobs::view::RunnerJobView;
use crate::service::queue_depth::Depth;
use crate::service::videos::{self, VideoView};
use crate::service::webhooks::deliveries::{self, DeliveryView};
use crate::state::AppState;

/// Rows per page of the queue and the video list.
pub const PAGE_SIZE: i64 = 50;

/// An HTML answer; pages are never cached and never framed.
pub fn html(status: StatusCode, body: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .insert_header(("x-frame-options", "DENY"))
        .insert_header((
            "content-security-policy",
            "default-src 'self'; img-src * data: blob:; media-src * blob:; connect-src *; \
             worker-src 'self' blob:; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; form-action 'self'",
        ))
        .body(body.into_string())
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · peertube-runner-connector" }
            link rel="stylesheet" href="/dashboard/assets/dashboard.css";
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Overview,
    Queue,
    Videos,
}

fn layout(tab: Tab, title: &str, player: bool, content: Markup) -> Markup {
    let link = |t: Tab, href: &str, label: &str| {
        html! { a href=(href) class=[(t == tab).then_some("current")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-session {
                header {
                    span.brand { "runner connector" }
                    (link(Tab::Overview, "/dashboard", "Overview"))
                    (link(Tab::Queue, "/dashboard/queue", "Queue"))
                    (link(Tab::Videos, "/dashboard/videos", "Videos"))
                    span #live { "connecting" }
                    form method="post" action="/dashboard/logout" {
                        button type="submit" { "Log out" }
                    }
                }
                main { (content) }
                @if player {
                    script src="/dashboard/assets/hls.light.min.js" {}
                }
                script src="/dashboard/assets/dashboard.js" {}
            }
        }
    }
}

/// The login form (`error` above it; `disabled` when no admin key is configured).
pub fn login_page(error: Option<&str>, disabled: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Log in"))
            body {
                form.login method="post" action="/dashboard/login" {
                    h1 { "Dashboard" }
                    @if disabled {
                        p.error { (crate::http::auth::ADMIN_DISABLED) }
                    } @else {
                        @if let Some(e) = error { p.error role="alert" { (e) } }
                        label for="key" { "Admin key" }
                        input #key type="password" name="key" autocomplete="current-password" required autofocus;
                        button type="submit" { "Log in" }
                    }
                }
            }
        }
    }
}

/// An error page.
pub fn error_page(status: StatusCode, detail: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Error"))
            body {
                main {
                    h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("Error")) }
                    p.error { (detail) }
                    p { a href="/dashboard" { "Back to the dashboard" } }
                }
            }
        }
    }
}

fn time(t: &NaiveDateTime) -> Markup {
    let iso = crate::service::timefmt::format(t);
    html! { time datetime=(iso) title=(iso) { (t.format("%Y-%m-%d %H:%M:%S")) } }
}

/// A duration as people read it: `45s`, `3m 12s`, `2h 05m`.
pub fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn state_badge(state: JobState) -> Markup {
    html! { span class={ "badge s-" (state.id()) } { (state.label()) } }
}

fn video_badge(state: VideoState) -> Markup {
    html! { span class={ "badge v-" (state.name()) } { (state.label()) } }
}

fn bar(attr: &str, uuid: &str, value: i64) -> Markup {
    let value = value.clamp(0, 100);
    html! {
        progress max="100" value=(value) data-video-progress=[(attr == "video").then_some(uuid)]
            data-job-progress=[(attr == "job").then_some(uuid)] {}
        " "
        span.mono data-video-progress=[(attr == "video").then_some(uuid)]
            data-job-progress=[(attr == "job").then_some(uuid)] { (value) "%" }
    }
}

fn online_ids(state: &AppState) -> Vec<i64> {
    state.hub.owners_in(crate::socket::runners::NAMESPACE)
}

/// `GET /dashboard`: runners, queue counts, throughput.
pub async fn overview(
    state: web::Data<AppState>,
    _session: Session,
) -> Result<HttpResponse, DashboardError> {
    let all = Page {
        start: 0,
        count: crate::domain::listing::MAX_COUNT,
    };
    let runners = dashboard::runners(&state, &online_ids(&state), all).await?;
    let counts = dashboard::queue_counts(&state).await?;
    let minutes = dashboard::throughput(&state).await?;
    let now = state.now();
    let depth = state.queue_depth.last_hour(Depth::of(&counts, now));
    let body = html! {
        h1 { "Overview" }
        section #runners data-live {
            h2 { "Runners (" (runners.total) ")" }
            (runners_table(&runners.data, state.now()))
            @if runners.total > runners.data.len() as i64 {
                p.muted { "The " (runners.data.len()) " most recently registered are shown." }
            }
        }
        section #counts data-live {
            h2 { "Queue" }
            (counts_view(&counts))
        }
        section #throughput data-live {
            h2 { "Jobs ended per minute, last hour" }
            (chart(&minutes))
        }
        section #depth data-live {
            h2 { "Queue depth, last hour" }
            (depth_chart(&depth, now))
        }
    };
    Ok(html(
        StatusCode::OK,
        layout(Tab::Overview, "Overview", false, body),
    ))
}

fn runners_table(runners: &[RunnerStatus], now: NaiveDateTime) -> Markup {
    html! {
        @if runners.is_empty() {
            p.muted { "No runner is registered. Create a registration token (" code { "registration-token create" } ") and register a runner with it." }
        } @else {
            table {
                thead { tr { th { "Name" } th { "Version" } th { "IP" } th { "Socket" } th { "Last contact" } th { "Jobs in hand" } } }
                tbody {
                    @for r in runners {
                        tr data-runner=(r.runner.name) {
                            td { b { (r.runner.name) } @if let Some(d) = &r.runner.description { br; span.muted { (d) } } }
                            td { (r.runner.version.as_deref().unwrap_or("-")) }
                            td.mono { (r.runner.ip) }
                            td { @if r.online { span.badge.online { "online" } } @else { span.badge.offline { "offline" } } }
                            td { (time(&r.runner.last_contact)) " " span.muted { "(" (span((now - r.runner.last_contact).num_seconds())) " ago)" } }
                            td {
                                @if r.jobs.is_empty() { span.muted { "none" } }
                                @for j in &r.jobs {
                                    div { code { (j.job_type.as_str()) } " " (bar("job", &j.uuid.to_string(), i64::from(j.progress.unwrap_or(0)))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn counts_view(counts: &QueueCounts) -> Markup {
    let states = [
        JobState::Pending,
        JobState::WaitingForParentJob,
        JobState::Processing,
        JobState::Completing,
        JobState::Completed,
        JobState::Errored,
        JobState::Cancelled,
        JobState::ParentErrored,
        JobState::ParentCancelled,
    ];
    html! {
        div.counts {
            @for s in states {
                a.count href={ "/dashboard/queue?stateOneOf=" (s.id()) } {
                    b data-count=(s.id()) { (counts.in_state(s)) } (s.label())
                }
            }
        }
        table {
            thead { tr { th { "Type" } @for s in [JobState::Pending, JobState::Processing, JobState::Completed, JobState::Errored] { th.num { (s.label()) } } th.num { "All" } } }
            tbody {
                @for t in JobType::ALL {
                    @let n = counts.of_type(t);
                    @if n > 0 {
                        tr {
                            td { a href={ "/dashboard/queue?typeOneOf=" (t.as_str()) } { code { (t.as_str()) } } }
                            @for s in [JobState::Pending, JobState::Processing, JobState::Completed, JobState::Errored] {
                                td.num { (counts.cells.iter().filter(|c| c.0 == s && c.1 == t).map(|c| c.2).sum::<i64>()) }
                            }
                            td.num { (n) }
                        }
                    }
                }
                tr { td { b { "All types" } } @for s in [JobState::Pending, JobState::Processing, JobState::Completed, JobState::Errored] { td.num { (counts.in_state(s)) } } td.num { b { (counts.total()) } } }
            }
        }
    }
}

/// Bars of the jobs ended each minute (completed up, failed stacked on top).
fn chart(minutes: &[Minute]) -> Markup {
    let max = minutes
        .iter()
        .map(|m| m.completed + m.failed)
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, top) = (12.0_f64, 110.0_f64, 8.0_f64);
    let scale = |n: u32| f64::from(n) / f64::from(max) * (h - top);
    let total: u32 = minutes.iter().map(|m| m.completed + m.failed).sum();
    html! {
        svg.chart viewBox={ "0 0 " (w * minutes.len() as f64 + 40.0) " 130" } role="img"
            aria-label={ (total) " jobs ended in the last hour" } {
            @for (i, m) in minutes.iter().enumerate() {
                @let x = 30.0 + w * i as f64;
                @let c = scale(m.completed);
                @let f = scale(m.failed);
                rect.completed x=(x) y=(h - c) width=(w - 2.0) height=(c) { title { (m.completed) " completed" } }
                rect.failed x=(x) y=(h - c - f) width=(w - 2.0) height=(f) { title { (m.failed) " failed or cancelled" } }
            }
            text x="0" y=(top + 4.0) { (max) }
            text x="0" y=(h) { "0" }
            text x="30" y="126" { "−60 min" }
            text x=(30.0 + w * 58.0) y="126" { "now" }
        }
        p.muted { (total) " jobs ended in the last hour (green: completed; red: errored or cancelled)." }
    }
}

/// Lines of the jobs waiting and running, one point per sample (this instance samples
/// once a minute since it started) and the current reading last.
fn depth_chart(samples: &[Depth], now: NaiveDateTime) -> Markup {
    let max = samples
        .iter()
        .map(|d| d.waiting.max(d.running))
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, top) = (12.0_f64, 110.0_f64, 8.0_f64);
    let point = |d: &Depth, n: i64| {
        let ago = (now - d.at).num_seconds().clamp(0, 3600) as f64 / 60.0;
        let x = 30.0 + w * (60.0 - ago) + (w - 2.0) / 2.0;
        let y = h - n as f64 / max as f64 * (h - top);
        format!("{x:.1},{y:.1}")
    };
    let line = |n: fn(&Depth) -> i64| {
        samples
            .iter()
            .map(|d| point(d, n(d)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let current = samples.last().copied();
    html! {
        svg.chart viewBox={ "0 0 " (w * 61.0 + 40.0) " 130" } role="img"
            aria-label={ "Queue depth: " (current.map_or(0, |d| d.waiting)) " waiting, "
                (current.map_or(0, |d| d.running)) " running now" } {
            polyline.waiting points=(line(|d| d.waiting)) { title { "waiting" } }
            polyline.running points=(line(|d| d.running)) { title { "running" } }
            text x="0" y=(top + 4.0) { (max) }
            text x="0" y=(h) { "0" }
            text x="30" y="126" { "−60 min" }
            text x=(30.0 + w * 58.0) y="126" { "now" }
        }
        p.muted {
            "Jobs waiting (blue: pending or waiting for their parent) and running (green), "
            "sampled by this instance each minute since it started ("
            @let n = samples.len().saturating_sub(1);
            (n) @if n == 1 { " sample" } @else { " samples" } " in the last hour)."
        }
    }
}

/// `GET /dashboard/queue?stateOneOf&typeOneOf&start`: one page of jobs, newest first.
pub async fn queue(
    state: web::Data<AppState>,
    _session: Session,
    req: HttpRequest,
) -> Result<HttpResponse, DashboardError> {
    // The filter form sends `stateOneOf=` for "any": empty values are no filter.
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            url::form_urlencoded::parse(req.query_string().as_bytes())
                .filter(|(_, v)| !v.is_empty()),
        )
        .finish();
    let mut q = ListQuery::new(&query);
    let (page, filter) = (q.page(), q.job_filter());
    q.finish(req.path()).map_err(ApiError::for_admin_api)?;
    let page = Page {
        start: page.start,
        count: if query.split('&').any(|p| p.starts_with("count=")) {
            page.count
        } else {
            PAGE_SIZE
        },
    };
    let (state_filter, type_filter) = (
        filter.states.first().copied(),
        filter.types.first().copied(),
    );
    let jobs = crate::service::admin::jobs(&state.db, filter, Sort::default(), page).await?;
    let counts = dashboard::queue_counts(&state).await?;
    let now = state.now();
    // The pager keeps every filter of this page (search, several states…).
    let kept: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "start" && k != "count")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let search = kept
        .iter()
        .find(|(k, _)| k == "search")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let filters_query = |start: i64| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&kept)
            .append_pair("start", &start.to_string())
            .append_pair("count", &page.count.to_string())
            .finish();
        format!("/dashboard/queue?{query}")
    };
    let body = html! {
        h1 { "Queue" }
        section #queue-counts data-live { (counts_view(&counts)) }
        form.filters method="get" action="/dashboard/queue" {
            label { "State"
                select name="stateOneOf" {
                    option value="" { "any" }
                    @for s in JobState::ALL { option value=(s.id()) selected[state_filter == Some(s)] { (s.label()) } }
                }
            }
            label { "Type"
                select name="typeOneOf" {
                    option value="" { "any" }
                    @for t in JobType::ALL { option value=(t.as_str()) selected[type_filter == Some(t)] { (t.as_str()) } }
                }
            }
            label { "Search (job UUID, type or runner)"
                input type="search" name="search" value=(search);
            }
            button.action type="submit" { "Filter" }
        }
        section #jobs data-live {
            p.muted { (jobs.total) " jobs match; " ((page.start + 1).min(jobs.total)) "–" (page.start + jobs.data.len() as i64) " shown, newest first." }
            (jobs_table(&jobs.data, now))
            div.pager {
                @if page.start > 0 { a href=(filters_query((page.start - page.count).max(0))) { "← newer" } }
                @if page.start + page.count < jobs.total { a href=(filters_query(page.start + page.count)) { "older →" } }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        layout(Tab::Queue, "Queue", false, body),
    ))
}

fn waits(j: &RunnerJobView, now: NaiveDateTime) -> (String, String) {
    let wait = match j.started_at {
        Some(s) => span((s - j.created_at).num_seconds()),
        None if j.state.is_final() => "-".to_owned(),
        None => span((now - j.created_at).num_seconds()),
    };
    let run = match (j.started_at, j.finished_at) {
        (Some(s), Some(f)) => span((f - s).num_seconds()),
        (Some(s), None) if !j.state.is_final() => span((now - s).num_seconds()),
        _ => "-".to_owned(),
    };
    (wait, run)
}

fn jobs_table(jobs: &[RunnerJobAdminView], now: NaiveDateTime) -> Markup {
    html! {
        table {
            thead { tr { th { "Job" } th { "Type" } th { "State" } th { "Video" } th { "Runner" } th { "Progress" } th.num { "Priority" } th.num { "Failures" } th.num { "Waited" } th.num { "Ran" } th { "Error" } th { "" } } }
            tbody {
                @for a in jobs {
                    @let j = &a.job;
                    @let uuid = j.uuid.to_string();
                    @let video = a.private_payload.video_uuid().to_string();
                    @let (wait, run) = waits(j, now);
                    tr data-job=(uuid) {
                        td.mono title=(uuid) { (uuid.get(..8).unwrap_or(&uuid)) }
                        td { code { (j.job_type.as_str()) } }
                        td data-state { (state_badge(j.state)) }
                        td.mono { a href={ "/dashboard/videos/" (video) } title=(video) { (video.get(..8).unwrap_or(&video)) } }
                        td { @if let Some(r) = &j.runner { (r.name) } @else { span.muted { "-" } } }
                        td { @if let Some(p) = j.progress { (bar("job", &uuid, i64::from(p))) } @else { span.muted { "-" } } }
                        td.num { (j.priority) }
                        td.num { (j.failures) }
                        td.num { (wait) }
                        td.num { (run) }
                        td.error { @if let Some(e) = &j.error { (e) } }
                        td {
                            @if !j.state.is_final() {
                                form.inline method="post" action={ "/dashboard/jobs/" (uuid) "/cancel" }
                                    data-confirm={ "Cancel job " (uuid) " (" (j.job_type.as_str()) ")? The jobs waiting for it are cancelled too." } {
                                    button.action.danger type="submit" { "Cancel" }
                                }
                            }
                            @if j.state == JobState::Errored {
                                form.inline method="post" action={ "/dashboard/jobs/" (uuid) "/retry" }
                                    data-confirm={ "Retry job " (uuid) " with a fresh budget of attempts?" } {
                                    button.action type="submit" { "Retry" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /dashboard/videos?state&start`: one page of videos, newest first.
pub async fn videos(
    state: web::Data<AppState>,
    _session: Session,
    query: web::Query<VideoQuery>,
) -> Result<HttpResponse, DashboardError> {
    let filter = match query.state.as_deref().filter(|s| !s.is_empty()) {
        Some(name) => Some(VideoState::from_name(name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Unknown video state `{}`",
                name.chars().take(64).collect::<String>()
            ))
        })?),
        None => None,
    };
    let start = query.start.unwrap_or(0).max(0);
    let page = videos::list(&state, filter, start, PAGE_SIZE).await?;
    let link = |start: i64| match filter {
        Some(s) => format!("/dashboard/videos?state={}&start={start}", s.name()),
        None => format!("/dashboard/videos?start={start}"),
    };
    let body = html! {
        h1 { "Videos" }
        form.filters method="get" action="/dashboard/videos" {
            label { "State"
                select name="state" {
                    option value="" { "any" }
                    @for s in ["importing", "transcoding", "playable", "published", "failed"] {
                        option value=(s) selected[filter.map(VideoState::name) == Some(s)] { (s) }
                    }
                }
            }
            button.action type="submit" { "Filter" }
        }
        section #videos data-live {
            p.muted { (page.total) " videos; " ((start + 1).min(page.total)) "–" (start + page.data.len() as i64) " shown, newest first." }
            table {
                thead { tr { th { "Video" } th { "State" } th { "Progress" } th { "Jobs" } th.num { "Duration" } th { "Created" } } }
                tbody {
                    @for v in &page.data {
                        @let uuid = v.uuid.to_string();
                        @let done = v.jobs.iter().filter(|j| j.state == JobState::Completed).count();
                        tr data-video=(uuid) {
                            td { a href={ "/dashboard/videos/" (uuid) } { (v.name.as_deref().unwrap_or("(no name)")) } br; span.mono.muted { (uuid) } }
                            td { (video_badge(v.state)) @if let Some(e) = &v.error { br; span.error { (e) } } }
                            td { (bar("video", &uuid, i64::from(v.progress))) }
                            td { (done) " / " (v.jobs.len()) " done" }
                            td.num { @if let Some(d) = v.duration { (span(d.round() as i64)) } }
                            td { (time(&v.created_at)) }
                        }
                    }
                }
            }
            div.pager {
                @if start > 0 { a href=(link((start - PAGE_SIZE).max(0))) { "← newer" } }
                @if start + PAGE_SIZE < page.total { a href=(link(start + PAGE_SIZE)) { "older →" } }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        layout(Tab::Videos, "Videos", false, body),
    ))
}

/// The video list's query string.
#[derive(Debug, serde::Deserialize)]
pub struct VideoQuery {
    /// `importing`, `transcoding`, `playable`, `published` or `failed`.
    pub state: Option<String>,
    /// Rows skipped.
    pub start: Option<i64>,
}

/// `GET /dashboard/videos/{uuid}`: one video.
pub async fn video(
    state: web::Data<AppState>,
    _session: Session,
    uuid: web::Path<String>,
) -> Result<HttpResponse, DashboardError> {
    let uuid = VideoUuid::from_stored(&uuid).map_err(|_| ServiceError::NotFound("Video"))?;
    let v = videos::get(&state, uuid)
        .await
        .map_err(|e| ApiError::from(e).for_video_api())?;
    let filter = crate::db::webhooks::DeliveryFilter {
        video: Some(uuid),
        ..Default::default()
    };
    let deliveries = deliveries::list(&state.db, filter, 0, 100).await?;
    let title = v.name.clone().unwrap_or_else(|| uuid.to_string());
    let body = video_body(&v, &deliveries.data, deliveries.total, state.now());
    Ok(html(
        StatusCode::OK,
        layout(Tab::Videos, &title, true, body),
    ))
}

fn video_body(
    v: &VideoView,
    deliveries: &[DeliveryView],
    total: i64,
    now: NaiveDateTime,
) -> Markup {
    let uuid = v.uuid.to_string();
    html! {
        h1 { (v.name.as_deref().unwrap_or("(no name)")) " " span.mono.muted { (uuid) } }
        div.video-head {
            div {
                @if let Some(hls) = &v.hls {
                    video #player controls muted playsinline preload="auto" data-hls=(hls.master_playlist_url)
                        poster=[v.thumbnail_url.as_deref()] {
                        @for c in &v.captions {
                            track kind="captions" src=(c.url) srclang=(c.language.to_string()) label=(c.language.to_string());
                        }
                    }
                    p.muted { "HLS: " a href=(hls.master_playlist_url) { "master playlist" } }
                } @else {
                    p.muted { "No HLS rendition yet: the player appears once one is ready." }
                }
            }
            section #video-summary data-live {
                dl.facts {
                    dt { "State" } dd { (video_badge(v.state)) @if let Some(e) = &v.error { " " span.error { (e) } } }
                    dt { "Progress" } dd { (bar("video", &uuid, i64::from(v.progress))) }
                    dt { "Duration" } dd { @if let Some(d) = v.duration { (format!("{d:.1} s")) } @else { "-" } }
                    dt { "Folder" } dd.mono { (v.directory) }
                    @if let Some(s) = &v.source {
                        dt { "Source" } dd { (s.width) "×" (s.height) " · " (format!("{:.2}", s.fps)) " fps · " (s.size) " bytes" @if let Some(c) = &s.codecs { " · " code { (c) } } }
                    }
                    dt { "Language" } dd { (v.language.as_deref().unwrap_or("-")) }
                    dt { "Created" } dd { (time(&v.created_at)) }
                    dt { "Updated" } dd { (time(&v.updated_at)) }
                }
                @if let Some(t) = &v.thumbnail_url {
                    h2 { "Thumbnail" }
                    img.thumb src=(t) alt="thumbnail";
                }
            }
        }
        section #video-files data-live {
            h2 { "Renditions" }
            @let hls = v.hls.as_ref().map(|h| h.renditions.as_slice()).unwrap_or_default();
            @if hls.is_empty() && v.web_videos.is_empty() { p.muted { "None yet." } } @else {
                table {
                    thead { tr { th { "Kind" } th.num { "Resolution" } th.num { "Size" } th.num { "fps" } th.num { "Bytes" } th { "Codecs" } th { "Files" } } }
                    tbody {
                        @for (kind, r) in hls.iter().map(|r| ("HLS", r)).chain(v.web_videos.iter().map(|r| ("MP4", r))) {
                            tr {
                                td { (kind) }
                                td.num { (r.resolution) "p" }
                                td.num { (r.width) "×" (r.height) }
                                td.num { (format!("{:.0}", r.fps)) }
                                td.num { (r.size) }
                                td { code { (r.codecs.as_deref().unwrap_or("-")) } }
                                td { a href=(r.file_url) { "file" } @if let Some(p) = &r.playlist_url { " · " a href=(p) { "playlist" } } }
                            }
                        }
                    }
                }
            }
            h2 { "Captions" }
            @if v.captions.is_empty() { p.muted { "None." } } @else {
                ul { @for c in &v.captions { li { a href=(c.url) { (c.language.to_string()) } " · " (c.size) " bytes · " (time(&c.updated_at)) } } }
            }
        }
        section #video-jobs data-live {
            h2 { "Jobs" }
            table {
                thead { tr { th { "Job" } th { "Type" } th.num { "Rung" } th { "State" } th { "Progress" } th.num { "Failures" } th { "Error" } th { "Created" } } }
                tbody {
                    @for j in &v.jobs {
                        @let ju = j.uuid.to_string();
                        tr data-job=(ju) {
                            td.mono { a href={ "/dashboard/queue?search=" (ju) } title=(ju) { (ju.get(..8).unwrap_or(&ju)) } }
                            td { code { (j.job_type.as_str()) } }
                            td.num { @if let (Some(r), Some(f)) = (j.resolution, j.fps) { (r) "p" (f) } }
                            td { (state_badge(j.state)) }
                            td { (bar("job", &ju, i64::from(j.progress.unwrap_or(if j.state == JobState::Completed { 100 } else { 0 })))) }
                            td.num { (j.failures) }
                            td.error { @if let Some(e) = &j.error { (e) } }
                            td { (time(&j.created_at)) }
                        }
                    }
                }
            }
        }
        section #video-deliveries data-live {
            h2 { "Webhook deliveries (" (total) ")" }
            @if deliveries.is_empty() { p.muted { "None: no webhook endpoint or callback URL is configured for this video." } } @else {
                table {
                    thead { tr { th { "Event" } th { "Target" } th { "State" } th.num { "Attempts" } th { "Last answer" } th { "When" } } }
                    tbody {
                        @for d in deliveries {
                            tr {
                                td { code { (d.event.to_string()) } }
                                td { (d.endpoint.as_deref().unwrap_or("callbackUrl")) br; span.mono.muted { (d.url) } }
                                td { span.badge { (format!("{:?}", d.state).to_lowercase()) } }
                                td.num { (d.attempts) }
                                td { @if let Some(s) = d.last_status { (s) " " } @if let Some(e) = &d.last_error { span.error { (e) } } }
                                td { (time(&d.created_at)) " " span.muted { "(" (span((now - d.created_at).num_seconds())) " ago)" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(span(-3), "0s");
        assert_eq!(span(45), "45s");
        assert_eq!(span(192), "3m 12s");
        assert_eq!(span(7500), "2h 05m");
    }

    #[test]
    fn text_is_escaped() {
        let page = error_page(StatusCode::BAD_REQUEST, "<script>x</script>").into_string();
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!page.contains("<script>x"));
    }
}
