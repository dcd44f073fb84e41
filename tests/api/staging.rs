//! What a killed server leaves is cleaned at startup and periodically, once older
//! than `storage.staging_max_age`: staging files (a running instance's never are,
//! even an upload that pauses for longer than that age) and submissions cut between
//! claiming their folder and creating their jobs.

use std::path::Path;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use peertube_runner_connector::db;
use peertube_runner_connector::domain::video::{
    FileFacts, FileKind, NewVideo, VideoOptions, VideoState,
};
use peertube_runner_connector::service::cleanup;

use crate::helpers::TestApp;

use crate::media::sample;
use crate::video_helpers::*;

/// Sets the modification time of `path` (file or folder) `by` in the past.
fn age(path: &Path, by: Duration) {
    std::fs::File::open(path)
        .unwrap()
        .set_modified(SystemTime::now() - by)
        .unwrap();
}

/// What a killed instance leaves: its staging folder with a half-written upload,
/// both last touched `by` ago. Returns (folder, file).
fn killed_instance(root: &Path, by: Duration) -> (std::path::PathBuf, std::path::PathBuf) {
    let folder = root
        .join(".staging")
        .join(uuid::Uuid::new_v4().simple().to_string());
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("upload-AbCdEf");
    std::fs::write(&file, vec![0u8; 512 * 1024]).unwrap();
    age(&file, by);
    age(&folder, by);
    (folder, file)
}

#[tokio::test]
async fn a_killed_servers_staging_files_are_removed_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    let two_hours = Duration::from_secs(2 * 3600);
    let (dead_folder, dead_file) = killed_instance(&root, two_hours);
    // Loose files of an older layout: the old one goes, the recent one stays.
    let loose_old = root.join(".staging/upload-oBrXiH");
    let loose_new = root.join(".staging/upload-recent");
    std::fs::write(&loose_old, b"old").unwrap();
    std::fs::write(&loose_new, b"new").unwrap();
    age(&loose_old, two_hours);
    // An instance killed a minute ago: too recent to be told from a running one.
    let (recent_folder, recent_file) = killed_instance(&root, Duration::from_secs(60));

    let storage_root = root.clone();
    let app = spawn_video_app_with(move |s| s.storage.root = Some(storage_root)).await;
    assert!(!dead_file.exists() && !dead_folder.exists());
    assert!(!loose_old.exists());
    assert!(loose_new.exists());
    assert!(recent_file.exists() && recent_folder.exists());
    // The server works in its own staging folder.
    assert!(
        app.state
            .storage
            .staging_dir()
            .starts_with(root.join(".staging"))
    );
    assert_ne!(app.state.storage.staging_dir(), recent_folder.as_path());
}

/// A multipart upload of `file` whose body stops for `pause` half-way.
fn paused_upload(file: &Path, pause: Duration) -> (String, reqwest::Body) {
    let boundary = "PaUsEbOuNdArY";
    let bytes = std::fs::read(file).unwrap();
    let (first, second) = bytes.split_at(bytes.len() / 2);
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"videoFile\"; filename=\"a.mp4\"\r\n\
         Content-Type: video/mp4\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let mut first_part = head.into_bytes();
    first_part.extend_from_slice(first);
    let mut second_part = second.to_vec();
    second_part.extend_from_slice(tail.as_bytes());
    let chunks = vec![(Duration::ZERO, first_part), (pause, second_part)];
    let stream = futures_util::stream::iter(chunks).then(|(wait, chunk)| async move {
        tokio::time::sleep(wait).await;
        Ok::<_, std::io::Error>(chunk)
    });
    (
        format!("multipart/form-data; boundary={boundary}"),
        reqwest::Body::wrap_stream(stream),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_sweep_spares_a_paused_upload_and_removes_a_dead_instances_files() {
    let app = spawn_video_app_with(|s| s.storage.staging_max_age = Duration::from_secs(1)).await;
    let root = app.data_dir.join("storage");

    let (content_type, body) = paused_upload(&sample("av-320x240.mp4"), Duration::from_secs(4));
    let upload = app
        .client
        .post(app.url("/api/v1/videos"))
        .bearer_auth(KEY)
        .header("content-type", content_type)
        .body(body)
        .send();
    let upload = tokio::spawn(upload);

    // Planted after startup: only a periodic sweep can remove it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (dead_folder, dead_file) = killed_instance(&root, Duration::from_secs(30));
    let mut paused_file_seen = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mine: Vec<_> = std::fs::read_dir(app.state.storage.staging_dir())
            .unwrap()
            .flatten()
            .collect();
        paused_file_seen |= !mine.is_empty();
        if !dead_folder.exists() {
            break;
        }
    }
    assert!(!dead_file.exists() && !dead_folder.exists());
    assert!(paused_file_seen, "the upload was being staged");

    // The upload paused four times longer than the maximum age, and still succeeds.
    let res = upload.await.unwrap().unwrap();
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert!(
        app.state
            .storage
            .exists(body["source"]["key"].as_str().unwrap())
            .await
            .unwrap()
    );
}

/// A video as a crash between claiming its folder and creating its jobs leaves it:
/// `importing`, created `ago`, its source and thumbnail recorded and stored.
pub async fn cut_submission(app: &TestApp, ago: Duration) -> (String, Vec<String>) {
    let uuid = uuid::Uuid::new_v4().to_string();
    let dir = format!("videos/{uuid}");
    let (source, thumb) = (
        format!("{dir}/{uuid}-source.mp4"),
        format!("{dir}/thumbnail.jpg"),
    );
    for key in [&source, &thumb] {
        app.state
            .storage
            .put_bytes(key, vec![1, 2, 3])
            .await
            .unwrap();
    }
    let (u, s, t) = (uuid.parse().unwrap(), source.clone(), thumb.clone());
    let at = app.state.clock.ago(ago);
    app.state
        .db
        .run(move |conn| {
            let video = db::videos::insert(
                conn,
                &NewVideo {
                    uuid: u,
                    state: VideoState::Importing,
                    name: None,
                    directory: dir,
                    base_filename: "b".to_owned(),
                    duration: None,
                    thumbnail_key: Some(t),
                    options: VideoOptions {
                        hls: true,
                        web_videos: false,
                        resolutions: Vec::new(),
                        source_owned: true,
                        edition: 0,
                        switch_at: None,
                    },
                },
                at,
            )?;
            db::videos::insert_file(
                conn,
                video.id,
                &FileFacts {
                    kind: FileKind::Source,
                    storage_key: s,
                    playlist_key: None,
                    resolution: 0,
                    width: 0,
                    height: 0,
                    fps: 0.0,
                    size: 3,
                    bitrate: None,
                    codecs: None,
                    format: None,
                    metadata: None,
                },
                at,
            )?;
            Ok::<_, db::DbError>(())
        })
        .await
        .unwrap();
    (uuid, vec![source, thumb])
}

#[tokio::test]
async fn submissions_cut_by_a_crash_are_removed_once_older_than_the_maximum_age() {
    let app = spawn_video_app().await;
    let (old, old_keys) = cut_submission(&app, Duration::from_secs(2 * 3600)).await;
    let (recent, recent_keys) = cut_submission(&app, Duration::from_secs(60)).await;
    let removed = cleanup::remove_abandoned_imports(&app.state, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert_eq!(
        get(&app, &format!("/api/v1/videos/{old}")).await.status(),
        404
    );
    for key in &old_keys {
        assert!(!app.state.storage.exists(key).await.unwrap(), "{key}");
    }
    // Possibly still being stored by another instance: left alone.
    assert_eq!(
        get(&app, &format!("/api/v1/videos/{recent}"))
            .await
            .status(),
        200
    );
    for key in &recent_keys {
        assert!(app.state.storage.exists(key).await.unwrap(), "{key}");
    }

    // The periodic cleanup does the same.
    let app = spawn_video_app_with(|s| s.storage.staging_max_age = Duration::from_secs(1)).await;
    let (cut, keys) = cut_submission(&app, Duration::from_secs(30)).await;
    for _ in 0..40 {
        if get(&app, &format!("/api/v1/videos/{cut}")).await.status() == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        get(&app, &format!("/api/v1/videos/{cut}")).await.status(),
        404
    );
    for key in &keys {
        assert!(!app.state.storage.exists(key).await.unwrap(), "{key}");
    }
    assert_nothing_left(&app, "cut submission").await;
}
