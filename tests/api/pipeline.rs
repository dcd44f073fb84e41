//! End to end: submit a video, then a simulated runner (the protocol as
//! `peertube-runner` speaks it) takes every job, downloads its input, runs REAL ffmpeg
//! for the MP4 and HLS outputs and reports success, until the video is published with
//! every rendition in its master playlist and every output readable by ffprobe.

use std::path::Path;

use serde_json::{Value, json};

use crate::media::{run_ffmpeg, sample};
use crate::runner_sim::{FilePart, SimRunner, wait_state};
use crate::video_helpers::*;

/// What the runner's ffmpeg makes for `job` from `input`, as success file parts.
fn transcode(job: &Value, input: &Path, dir: &Path) -> Vec<FilePart> {
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

async fn ffprobe_ok(url: &str) {
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
        wait_state(&app, &job_uuid, 3).await;
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
            .all(|j| j["state"]["id"] == 3)
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
