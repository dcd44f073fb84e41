//! End to end: submit a video, then a simulated runner (the protocol as
//! `peertube-runner` speaks it) takes every job, downloads its input, runs REAL ffmpeg
//! for the MP4 and HLS outputs and reports success, until the video is published with
//! every rendition in its master playlist and every output readable by ffprobe.

use std::path::Path;

use peertube_runner_connector::domain::job::JobState;
use serde_json::{Value, json};

use crate::media::{run_ffmpeg, sample};
use crate::runner_sim::{FilePart, SimRunner, wait_state};
use crate::video_helpers::*;

/// What the runner's ffmpeg makes for `job` from `input`, as success file parts.
pub fn transcode(job: &Value, input: &Path, dir: &Path) -> Vec<FilePart> {
    let uuid = job["uuid"].as_str().unwrap();
    let out = &job["payload"]["output"];
    let (res, fps) = (
        out["resolution"].as_i64().unwrap(),
        out["fps"].as_i64().unwrap(),
    );
    let (scale, rate) = (format!("scale=-2:{res}"), fps.to_string());
    let mut args = vec![
        "-i",
        input.to_str().unwrap(),
        "-vf",
        &scale,
        "-r",
        &rate,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
    ];
    let file = |key: &str, path: &Path, mime: &str| {
        FilePart::bytes(
            key,
            &path.file_name().unwrap().to_string_lossy(),
            mime,
            std::fs::read(path).unwrap(),
        )
    };
    match job["type"].as_str().unwrap() {
        "vod-web-video-transcoding" => {
            let mp4 = dir.join(format!("output-{uuid}.mp4"));
            args.extend(["-f", "mp4"]);
            run_ffmpeg(&args, &mp4);
            vec![file("videoFile", &mp4, "video/mp4")]
        }
        "vod-hls-transcoding" => {
            assert_eq!(out["separatedAudio"], false);
            let mp4 = dir.join(format!("{uuid}-{res}-fragmented.mp4"));
            let m3u8 = dir.join(format!("{uuid}-{res}.m3u8"));
            let seg = mp4.to_str().unwrap().to_owned();
            args.extend([
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
                &seg,
            ]);
            run_ffmpeg(&args, &m3u8);
            vec![
                file("videoFile", &mp4, "video/mp4"),
                file(
                    "resolutionPlaylistFile",
                    &m3u8,
                    "application/vnd.apple.mpegurl",
                ),
            ]
        }
        other => panic!("unexpected job type {other}"),
    }
}

pub async fn ffprobe_ok(url: &str) {
    let out = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .await
        .unwrap();
    let streams = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        streams.contains("video") && streams.contains("audio"),
        "{url}: {streams}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_video_is_transcoded_by_a_runner_into_hls_and_mp4() {
    let app = spawn_video_app().await;
    let runner = SimRunner::register(&app, "e2e-runner").await;
    let body = submit_ok(
        &app,
        &sample("av-320x240.mp4"),
        &[("webVideos", "true"), ("resolutions", "144,240")],
    )
    .await;
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    let work = tempfile::tempdir().unwrap();
    let mut done = 0;
    for _ in 0..20 {
        let offers = runner.available(json!({"version": "0.1.0"})).await;
        let Some(offer) = offers.first() else { break };
        let job_uuid = offer["uuid"].as_str().unwrap().to_owned();
        let (job, token) = runner.accept_ok(&job_uuid).await;
        let input_url = job["payload"]["input"]["videoFileUrl"].as_str().unwrap();
        assert!(input_url.starts_with(&app.address) && input_url.ends_with("/max-quality"));
        let res = runner.download(input_url, &token).await;
        assert_eq!(res.status(), 200);
        let input = work.path().join(format!("in-{job_uuid}"));
        std::fs::write(&input, res.bytes().await.unwrap()).unwrap();
        let files = transcode(&job, &input, work.path());
        let res = runner.success(&job_uuid, &token, &[], files).await;
        assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
        wait_state(&app, &job_uuid, JobState::Completed).await;
        done += 1;
    }
    assert_eq!(done, 4, "every planned job was offered and completed");

    let view: Value = get(&app, &format!("/api/v1/videos/{uuid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["state"]["name"], "published", "{view}");
    assert!(
        view["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["state"]["id"] == JobState::Completed.id())
    );
    let hls = view["hls"]["renditions"].as_array().unwrap();
    let mp4s = view["webVideos"].as_array().unwrap();
    let heights = |list: &[Value]| {
        list.iter()
            .map(|r| r["height"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(heights(hls), vec![240, 144]);
    assert_eq!(heights(mp4s), vec![240, 144]);

    let master_url = view["hls"]["masterPlaylistUrl"].as_str().unwrap();
    let master = app
        .client
        .get(master_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for r in hls {
        let playlist = r["playlistUrl"].as_str().unwrap();
        let name = playlist.rsplit('/').next().unwrap();
        assert!(master.contains(name), "{name} missing from\n{master}");
        ffprobe_ok(playlist).await;
        ffprobe_ok(r["fileUrl"].as_str().unwrap()).await;
    }
    for r in mp4s {
        ffprobe_ok(r["fileUrl"].as_str().unwrap()).await;
    }
    // A player reads the whole ladder through the master playlist over HTTP.
    ffprobe_ok(master_url).await;
}

/// What the runner's ffmpeg makes for an audio-merge job: the still image over the
/// audio, at the requested height and frame rate.
fn merge(job: &Value, audio: &Path, preview: &Path, dir: &Path) -> Vec<FilePart> {
    let out = &job["payload"]["output"];
    let (res, fps) = (
        out["resolution"].as_i64().unwrap(),
        out["fps"].as_i64().unwrap(),
    );
    let (scale, rate) = (format!("scale=-2:{res}"), fps.to_string());
    let mp4 = dir.join(format!("output-{}.mp4", job["uuid"].as_str().unwrap()));
    run_ffmpeg(
        &[
            "-loop",
            "1",
            "-i",
            preview.to_str().unwrap(),
            "-i",
            audio.to_str().unwrap(),
            "-shortest",
            "-vf",
            &scale,
            "-r",
            &rate,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "stillimage",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-f",
            "mp4",
        ],
        &mp4,
    );
    vec![FilePart::bytes(
        "videoFile",
        &mp4.file_name().unwrap().to_string_lossy(),
        "video/mp4",
        std::fs::read(&mp4).unwrap(),
    )]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audio_upload_with_cover_art_is_merged_then_transcoded_to_hls() {
    let app = spawn_video_app().await;
    let runner = SimRunner::register(&app, "merge-runner").await;
    let body = submit_ok(&app, &sample("audio-cover.mp3"), &[]).await;
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    let work = tempfile::tempdir().unwrap();
    let mut types = Vec::new();
    for _ in 0..20 {
        let offers = runner.available(json!({"version": "0.1.0"})).await;
        let Some(offer) = offers.first() else { break };
        let job_uuid = offer["uuid"].as_str().unwrap().to_owned();
        let (job, token) = runner.accept_ok(&job_uuid).await;
        let fetch = |key: &'static str| {
            let url = job["payload"]["input"][key].as_str().unwrap().to_owned();
            let path = work.path().join(format!("{key}-{job_uuid}"));
            let runner = &runner;
            let token = token.clone();
            async move {
                let res = runner.download(&url, &token).await;
                assert_eq!(res.status(), 200, "{url}");
                std::fs::write(&path, res.bytes().await.unwrap()).unwrap();
                path
            }
        };
        let job_type = job["type"].as_str().unwrap().to_owned();
        let files = if job_type == "vod-audio-merge-transcoding" {
            let audio = fetch("audioFileUrl").await;
            let preview = fetch("previewFileUrl").await;
            merge(&job, &audio, &preview, work.path())
        } else {
            let input = fetch("videoFileUrl").await;
            // The HLS children read the merged MP4, which has a picture.
            let probe = std::process::Command::new("ffprobe")
                .args(["-v", "error", "-select_streams", "v", "-show_entries"])
                .args(["stream=codec_name", "-of", "csv=p=0"])
                .arg(&input)
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "h264");
            transcode(&job, &input, work.path())
        };
        let res = runner.success(&job_uuid, &token, &[], files).await;
        assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
        wait_state(&app, &job_uuid, JobState::Completed).await;
        types.push(job_type);
    }
    assert_eq!(types[0], "vod-audio-merge-transcoding", "{types:?}");
    assert!(
        types[1..].iter().all(|t| t == "vod-hls-transcoding"),
        "{types:?}"
    );
    assert!(types.len() >= 2, "{types:?}");

    let view: Value = get(&app, &format!("/api/v1/videos/{uuid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["state"]["name"], "published", "{view}");
    let hls = view["hls"]["renditions"].as_array().unwrap();
    assert_eq!(hls.len(), types.len() - 1, "{view}");
    let master_url = view["hls"]["masterPlaylistUrl"].as_str().unwrap();
    for r in hls {
        assert!(r["height"].as_i64().unwrap() > 0, "{r}");
        ffprobe_ok(r["playlistUrl"].as_str().unwrap()).await;
    }
    ffprobe_ok(master_url).await;
}

/// Runs every offered job of the app like `peertube-runner` (audio merges with
/// `merge`, the rest with `transcode`), calling `after_merge` once the merge is
/// stored. Returns the job types in the order they ran.
async fn run_all_jobs<F, Fut>(app: &crate::helpers::TestApp, mut after_merge: F) -> Vec<String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let runner = SimRunner::register(app, "merge-runner-2").await;
    let work = tempfile::tempdir().unwrap();
    let mut types = Vec::new();
    for _ in 0..20 {
        let offers = runner.available(json!({"version": "0.1.0"})).await;
        let Some(offer) = offers.first() else { break };
        let job_uuid = offer["uuid"].as_str().unwrap().to_owned();
        let (job, token) = runner.accept_ok(&job_uuid).await;
        let fetch = |key: &'static str| {
            let url = job["payload"]["input"][key].as_str().unwrap().to_owned();
            let path = work.path().join(format!("{key}-{job_uuid}"));
            let runner = &runner;
            let token = token.clone();
            async move {
                let res = runner.download(&url, &token).await;
                assert_eq!(res.status(), 200, "{url}");
                std::fs::write(&path, res.bytes().await.unwrap()).unwrap();
                path
            }
        };
        let job_type = job["type"].as_str().unwrap().to_owned();
        let is_merge = job_type == "vod-audio-merge-transcoding";
        let files = if is_merge {
            let audio = fetch("audioFileUrl").await;
            let preview = fetch("previewFileUrl").await;
            merge(&job, &audio, &preview, work.path())
        } else {
            let input = fetch("videoFileUrl").await;
            transcode(&job, &input, work.path())
        };
        let res = runner.success(&job_uuid, &token, &[], files).await;
        assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
        wait_state(app, &job_uuid, JobState::Completed).await;
        if is_merge {
            after_merge().await;
        }
        types.push(job_type);
    }
    types
}

/// Keys of the stored files of a video folder.
fn files_in(app: &crate::helpers::TestApp, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(app.data_dir.join("storage").join(dir))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_web_videos_the_audio_merge_is_an_unpublished_input_removed_at_the_end() {
    let app = spawn_video_app().await;
    let body = submit_ok(&app, &sample("audio-cover.mp3"), &[("webVideos", "false")]).await;
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    let dir = body["directory"].as_str().unwrap().to_owned();
    let merged_key = std::cell::RefCell::new(None::<String>);
    let types = run_all_jobs(&app, || {
        let (app, uuid, dir, merged_key) = (&app, &uuid, &dir, &merged_key);
        async move {
            let view: Value = get(app, &format!("/api/v1/videos/{uuid}"))
                .await
                .json()
                .await
                .unwrap();
            // Stored, but neither listed nor playable nor served.
            assert_eq!(view["webVideos"], json!([]), "{view}");
            assert_eq!(view["hls"], Value::Null, "{view}");
            assert_eq!(view["state"]["name"], "transcoding", "{view}");
            let merged: Vec<String> = files_in(app, dir)
                .into_iter()
                .filter(|n| n.ends_with(".mp4") && !n.contains("source"))
                .collect();
            assert_eq!(merged.len(), 1, "{merged:?}");
            let key = format!("{dir}/{}", merged[0]);
            let res = app
                .client
                .get(format!("{}/static/{key}", app.address))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 404);
            *merged_key.borrow_mut() = Some(key);
        }
    })
    .await;
    assert_eq!(types[0], "vod-audio-merge-transcoding", "{types:?}");
    assert!(types.len() >= 2, "{types:?}");
    let view: Value = get(&app, &format!("/api/v1/videos/{uuid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["state"]["name"], "published", "{view}");
    assert_eq!(view["webVideos"], json!([]), "{view}");
    assert_eq!(
        view["hls"]["renditions"].as_array().unwrap().len(),
        types.len() - 1
    );
    // No job needs the merged file any more: it is gone, with its row.
    let key = merged_key.borrow().clone().expect("the merge ran");
    assert!(!app.state.storage.exists(&key).await.unwrap(), "{key}");
    let (_, files, _) = row_counts(&app).await;
    assert_eq!(
        files as usize,
        1 + types.len() - 1,
        "source + HLS renditions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_web_videos_the_audio_merge_is_the_top_web_video() {
    let app = spawn_video_app().await;
    let body = submit_ok(&app, &sample("audio-cover.mp3"), &[("webVideos", "true")]).await;
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    let types = run_all_jobs(&app, || async {}).await;
    assert_eq!(types[0], "vod-audio-merge-transcoding", "{types:?}");
    let view: Value = get(&app, &format!("/api/v1/videos/{uuid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["state"]["name"], "published", "{view}");
    let mp4s = view["webVideos"].as_array().unwrap();
    assert_eq!(mp4s[0]["height"], 480, "{view}");
    let res = app
        .client
        .get(mp4s[0]["fileUrl"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
