//! Completion of HLS renditions: siblings finishing at the same instant both end up in
//! the master playlist (`service::renditions::store_hls` called concurrently with real
//! ffmpeg-made fragmented MP4s and playlists).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use peertube_runner_connector::db;
use peertube_runner_connector::domain::video::FileKind;
use peertube_runner_connector::service::Context;
use peertube_runner_connector::service::renditions;
use peertube_runner_connector::storage::{MemoryStorage, PutHook, Storage};
use serde_json::Value;

use crate::media::{run_ffmpeg, sample};
use crate::video_helpers::*;

/// Makes what a runner uploads for an HLS job at `height`: `<id>-<res>-fragmented.mp4`
/// and `<id>-<res>.m3u8` referencing it, in `dir`.
fn runner_hls_output(dir: &Path, height: u32) -> (PathBuf, PathBuf) {
    let id = uuid::Uuid::new_v4();
    let mp4 = dir.join(format!("{id}-{height}-fragmented.mp4"));
    let m3u8 = dir.join(format!("{id}-{height}.m3u8"));
    let scale = format!("scale=-2:{height}");
    run_ffmpeg(
        &[
            "-i",
            sample("av-320x240.mp4").to_str().unwrap(),
            "-vf",
            &scale,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_segment_type",
            "fmp4",
            "-hls_flags",
            "single_file",
            "-hls_playlist_type",
            "vod",
            "-hls_segment_filename",
            mp4.to_str().unwrap(),
        ],
        &m3u8,
    );
    (mp4, m3u8)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn siblings_completing_together_both_reach_the_master_playlist() {
    let app = spawn_video_app().await;
    let work = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let body = submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
        let uuid = body["uuid"].as_str().unwrap().to_owned();
        let u = uuid.parse().unwrap();
        let video = app
            .state
            .db
            .run(move |conn| db::videos::find_by_uuid(conn, u))
            .await
            .unwrap()
            .unwrap();
        let (a_mp4, a_m3u8) = runner_hls_output(work.path(), 240);
        let (b_mp4, b_m3u8) = runner_hls_output(work.path(), 144);
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let run = |res: i32, mp4: PathBuf, m3u8: PathBuf| {
            let (state, barrier) = (app.state.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let (mp4, m3u8) = (stage_in(&state, &mp4).await, stage_in(&state, &m3u8).await);
                renditions::store_hls(&state, video.id, res, mp4, m3u8).await
            })
        };
        let (a, b) = tokio::join!(run(240, a_mp4, a_m3u8), run(144, b_mp4, b_m3u8));
        a.unwrap().unwrap();
        b.unwrap().unwrap();

        let master_key = format!("videos/{uuid}/master.m3u8");
        let master = String::from_utf8(
            app.state
                .storage
                .get_bytes(&master_key, 1 << 20)
                .await
                .unwrap(),
        )
        .unwrap();
        for res in [240, 144] {
            let name = format!("{uuid}-{res}.m3u8");
            assert!(
                master.contains(&name),
                "round {round}: {name} missing from\n{master}"
            );
            let playlist = String::from_utf8(
                app.state
                    .storage
                    .get_bytes(&format!("videos/{uuid}/{name}"), 1 << 20)
                    .await
                    .unwrap(),
            )
            .unwrap();
            assert!(
                playlist.contains(&format!("{uuid}-{res}-fragmented.mp4")),
                "{playlist}"
            );
        }
        assert!(
            master.contains("RESOLUTION=320x240") && master.contains("CODECS=\"avc1."),
            "{master}"
        );

        // The resource lists both renditions with URLs that are served.
        let view: Value = get(&app, &format!("/api/v1/videos/{uuid}"))
            .await
            .json()
            .await
            .unwrap();
        let renditions = view["hls"]["renditions"].as_array().unwrap();
        assert_eq!(renditions.len(), 2);
        assert_eq!(renditions[0]["resolution"], 240);
        let master_url = view["hls"]["masterPlaylistUrl"].as_str().unwrap();
        assert_eq!(
            app.client
                .get(master_url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            master
        );
        let file = app
            .client
            .get(renditions[1]["fileUrl"].as_str().unwrap())
            .header("range", "bytes=0-99")
            .send()
            .await
            .unwrap();
        assert_eq!(file.status(), 206);
        // The parent finished nothing (its job is still pending), so the video is
        // playable, not yet published.
        assert_eq!(view["state"]["name"], "playable");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_completion_racing_a_delete_leaves_no_file_behind() {
    let app = spawn_video_app().await;
    let work = tempfile::tempdir().unwrap();
    for _ in 0..4 {
        let body = submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
        let uuid = body["uuid"].as_str().unwrap().to_owned();
        let u = uuid.parse().unwrap();
        let video = app
            .state
            .db
            .run(move |conn| db::videos::find_by_uuid(conn, u))
            .await
            .unwrap()
            .unwrap();
        let (mp4, m3u8) = runner_hls_output(work.path(), 240);
        let state = app.state.clone();
        let complete = tokio::spawn(async move {
            let (mp4, m3u8) = (stage_in(&state, &mp4).await, stage_in(&state, &m3u8).await);
            renditions::store_hls(&state, video.id, 240, mp4, m3u8).await
        });
        let res = app
            .client
            .delete(app.url(&format!("/api/v1/videos/{uuid}")))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        // Either order is fine; neither may leave an object of the deleted video.
        let _ = complete.await.unwrap();
        let folder = app.data_dir.join(format!("storage/videos/{uuid}"));
        let left: Vec<_> = walkdir(&folder);
        assert!(left.is_empty(), "{left:?}");
    }
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                out.extend(walkdir(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// `app`'s state with an in-memory storage whose puts go through `hook`.
fn with_memory_storage(app: &crate::helpers::TestApp, hook: PutHook) -> (Context, MemoryStorage) {
    let memory = MemoryStorage::new("http://127.0.0.1/static").unwrap();
    memory.set_put_hook(hook);
    let mut ctx = app.state.ctx.clone();
    ctx.storage = Storage::Memory(memory.clone());
    (ctx, memory)
}

async fn video_id(app: &crate::helpers::TestApp) -> (i64, String) {
    let body = submit_ok(app, &sample("av-320x240.mp4"), &[]).await;
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    let u = uuid.parse().unwrap();
    let video = app
        .state
        .db
        .run(move |conn| db::videos::find_by_uuid(conn, u))
        .await
        .unwrap()
        .unwrap();
    (video.id, uuid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_master_playlist_is_written_after_the_commit_outside_any_transaction() {
    let app = spawn_video_app().await;
    let (id, uuid) = video_id(&app).await;
    // Every master playlist write stalls until released.
    let (entered_tx, mut entered) = tokio::sync::mpsc::unbounded_channel::<()>();
    let release = Arc::new(tokio::sync::Notify::new());
    let gate = release.clone();
    let hook: PutHook = Arc::new(move |key: &str| {
        let stall = key.ends_with("/master.m3u8");
        let (entered_tx, gate) = (entered_tx.clone(), gate.clone());
        Box::pin(async move {
            if stall {
                let _ = entered_tx.send(());
                gate.notified().await;
            }
            Ok(())
        })
    });
    let (state, memory) = with_memory_storage(&app, hook);
    let work = tempfile::tempdir().unwrap();
    let (mp4, m3u8) = runner_hls_output(work.path(), 240);
    let (mp4, m3u8) = (stage_in(&state, &mp4).await, stage_in(&state, &m3u8).await);
    let task_state = state.clone();
    let task =
        tokio::spawn(async move { renditions::store_hls(&task_state, id, 240, mp4, m3u8).await });
    tokio::time::timeout(Duration::from_secs(60), entered.recv())
        .await
        .expect("the master playlist is being written");

    // Meanwhile the rendition is committed, and the video's row can be written: no
    // transaction (nor, on SQLite, the write lock) is held during the storage write.
    let write = state
        .db
        .run(move |conn| db::write_transaction(conn, |conn| db::videos::lock(conn, id, db::now())));
    let written = tokio::time::timeout(Duration::from_secs(10), write).await;
    let files = state
        .db
        .run(move |conn| db::videos::files(conn, id))
        .await
        .unwrap();
    release.notify_one();
    let locked = written
        .expect("a write to the video goes through while its master is written")
        .unwrap();
    assert!(locked);
    assert!(
        files.iter().any(|f| f.kind == FileKind::Hls),
        "committed first"
    );
    task.await.unwrap().unwrap();
    let master = memory_text(&memory, &format!("videos/{uuid}/master.m3u8")).await;
    assert!(master.contains(&format!("{uuid}-240.m3u8")), "{master}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_playlist_that_cannot_be_written_undoes_the_rendition() {
    let app = spawn_video_app().await;
    let (id, uuid) = video_id(&app).await;
    let hook: PutHook = Arc::new(|key: &str| {
        let fail = key.ends_with("/master.m3u8");
        Box::pin(async move {
            if fail {
                Err(std::io::Error::other("injected failure"))
            } else {
                Ok(())
            }
        })
    });
    let (state, memory) = with_memory_storage(&app, hook);
    let work = tempfile::tempdir().unwrap();
    let (mp4, m3u8) = runner_hls_output(work.path(), 240);
    let (mp4, m3u8) = (stage_in(&state, &mp4).await, stage_in(&state, &m3u8).await);
    let err = renditions::store_hls(&state, id, 240, mp4, m3u8)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    let files = state
        .db
        .run(move |conn| db::videos::files(conn, id))
        .await
        .unwrap();
    assert!(!files.iter().any(|f| f.kind == FileKind::Hls), "{files:?}");
    let left: Vec<String> = memory
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(&format!("videos/{uuid}/")))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

async fn memory_text(memory: &MemoryStorage, key: &str) -> String {
    let storage = Storage::Memory(memory.clone());
    String::from_utf8(storage.get_bytes(key, 1 << 20).await.unwrap()).unwrap()
}
