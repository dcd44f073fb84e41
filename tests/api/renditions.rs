//! Completion of HLS renditions: siblings finishing at the same instant both end up in
//! the master playlist (`service::renditions::store_hls` called concurrently with real
//! ffmpeg-made fragmented MP4s and playlists).

use std::path::{Path, PathBuf};

use peertube_runner_connector::db;
use peertube_runner_connector::service::renditions;
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
        let u = uuid.clone();
        let video = app
            .state
            .db
            .run(move |conn| db::videos::find_by_uuid(conn, &u))
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
        let u = uuid.clone();
        let video = app
            .state
            .db
            .run(move |conn| db::videos::find_by_uuid(conn, &u))
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
