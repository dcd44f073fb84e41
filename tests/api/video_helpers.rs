//! Helpers for the video API tests: an app with an API key, submissions, and checks
//! that nothing was left behind.

use std::path::{Path, PathBuf};

use diesel::prelude::*;
use peertube_runner_connector::config::{Secret, Settings};
use peertube_runner_connector::db::schema::{runner_jobs, video_files, videos};
use peertube_runner_connector::db::{self, DbError};
use peertube_runner_connector::domain::job::Job;
use peertube_runner_connector::service::Context;
use peertube_runner_connector::storage::StagedFile;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app_with};

pub const KEY: &str = "test-api-key";

/// A copy of the local file `src` staged in `state`'s staging folder, as an upload
/// would be.
pub async fn stage_in(state: &Context, src: &Path) -> StagedFile {
    state
        .storage
        .staging()
        .write_file("test-", "", &std::fs::read(src).unwrap())
        .await
        .unwrap()
}

/// [`stage_in`] for `app`.
pub async fn stage(app: &TestApp, src: &Path) -> StagedFile {
    stage_in(&app.state, src).await
}

/// Stores a copy of the local file `src` under `key` (an application's object).
pub async fn store_file(app: &TestApp, src: &Path, key: &str) {
    let file = tokio::fs::File::open(src).await.unwrap();
    app.state.storage.put_stream(key, file).await.unwrap();
}

/// An app accepting [`KEY`].
pub async fn spawn_video_app() -> TestApp {
    spawn_video_app_with(|_| {}).await
}

/// An app accepting [`KEY`], after `configure`.
pub async fn spawn_video_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.auth.api_keys = vec![Secret::new(KEY)];
        configure(s);
    })
    .await
}

/// POSTs `file` as `videoFile` plus the text `fields`.
pub async fn submit(app: &TestApp, file: &Path, fields: &[(&str, &str)]) -> reqwest::Response {
    let bytes = std::fs::read(file).unwrap();
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    form = form.part(
        "videoFile",
        reqwest::multipart::Part::bytes(bytes).file_name(name),
    );
    app.client
        .post(app.url("/api/v1/videos"))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Submits `file` and returns the 201 body.
pub async fn submit_ok(app: &TestApp, file: &Path, fields: &[(&str, &str)]) -> Value {
    let res = submit(app, file, fields).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

/// GET with the API key.
pub async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
}

/// (videos, video files, runner jobs) rows.
pub async fn row_counts(app: &TestApp) -> (i64, i64, i64) {
    app.state
        .db
        .run(|conn| {
            Ok::<_, DbError>((
                videos::table.count().get_result(conn)?,
                video_files::table.count().get_result(conn)?,
                runner_jobs::table.count().get_result(conn)?,
            ))
        })
        .await
        .unwrap()
}

/// Every job row, in id order.
pub async fn job_rows(app: &TestApp) -> Vec<Job> {
    app.state
        .db
        .run(|conn| {
            let ids: Vec<i64> = runner_jobs::table
                .order(runner_jobs::id.asc())
                .select(runner_jobs::id)
                .load(conn)?;
            ids.into_iter()
                .filter_map(|id| db::jobs::find(conn, id).transpose())
                .collect::<Result<Vec<Job>, DbError>>()
        })
        .await
        .unwrap()
}

/// Every regular file under the storage root (staging included).
pub fn stored_files(app: &TestApp) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&app.data_dir.join("storage"), &mut out);
    out
}

/// Every folder under the storage root but the staging area (`.staging` and the
/// instance folders in it).
pub fn stored_folders(app: &TestApp) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && e.file_name() != ".staging" {
                out.push(p.clone());
                walk(&p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&app.data_dir.join("storage"), &mut out);
    out
}

/// No video, file or job row, no stored file and no folder (not even an empty one).
pub async fn assert_nothing_left(app: &TestApp, case: &str) {
    // Cleanup of an aborted request may finish just after the response.
    for _ in 0..50 {
        if row_counts(app).await == (0, 0, 0)
            && stored_files(app).is_empty()
            && stored_folders(app).is_empty()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(row_counts(app).await, (0, 0, 0), "{case}: rows left");
    assert_eq!(
        stored_files(app),
        Vec::<PathBuf>::new(),
        "{case}: files left"
    );
    assert_eq!(
        stored_folders(app),
        Vec::<PathBuf>::new(),
        "{case}: folders left"
    );
}
