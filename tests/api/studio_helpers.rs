//! Helpers for the studio and storyboard tests: asking for an edit (multipart with
//! PeerTube's field names, or JSON), and a simulated runner that does the work with
//! real ffmpeg on what it downloads: each VOD job transcodes its input to the
//! requested resolution (a fragmented MP4 with its playlist, or an MP4), a studio
//! job cuts its input as the `cut` task says (the other tasks' files are downloaded
//! and checked, not applied), a storyboard job tiles sprites as its payload says.

use std::fmt::Display;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::runner_sim::{FilePart, SimRunner};
use crate::video_helpers::{KEY, get};

/// A task of an edit: its name, `start`/`end` text fields and an optional file.
pub struct Task<'a> {
    pub name: &'a str,
    pub start: Option<&'a str>,
    pub end: Option<&'a str>,
    pub file: Option<(&'a str, Vec<u8>)>,
}

pub fn cut<'a>(start: Option<&'a str>, end: Option<&'a str>) -> Task<'a> {
    Task {
        name: "cut",
        start,
        end,
        file: None,
    }
}

pub fn with_file<'a>(name: &'a str, file_name: &'a str, bytes: Vec<u8>) -> Task<'a> {
    Task {
        name,
        start: None,
        end: None,
        file: Some((file_name, bytes)),
    }
}

/// `POST /api/v1/videos/{uuid}/studio/edit` as multipart.
pub async fn edit(app: &TestApp, video: impl Display, tasks: Vec<Task<'_>>) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (i, t) in tasks.into_iter().enumerate() {
        form = form.text(format!("tasks[{i}][name]"), t.name.to_owned());
        if let Some(s) = t.start {
            form = form.text(format!("tasks[{i}][options][start]"), s.to_owned());
        }
        if let Some(e) = t.end {
            form = form.text(format!("tasks[{i}][options][end]"), e.to_owned());
        }
        if let Some((name, bytes)) = t.file {
            form = form.part(
                format!("tasks[{i}][options][file]"),
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
            );
        }
    }
    app.client
        .post(app.url(&format!("/api/v1/videos/{video}/studio/edit")))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// The same as JSON.
pub async fn edit_json(app: &TestApp, video: impl Display, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/videos/{video}/studio/edit")))
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The video resource.
pub async fn video(app: &TestApp, uuid: impl Display) -> Value {
    let res = get(app, &format!("/api/v1/videos/{uuid}")).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Waits until the video is in state `name`.
pub async fn wait_video(app: &TestApp, uuid: impl Display, name: &str) -> Value {
    for _ in 0..400 {
        let v = video(app, &uuid).await;
        if v["state"]["name"] == name {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let v = video(app, &uuid).await;
    panic!("video stayed {}: {v}", v["state"]["name"]);
}

fn ffmpeg(dir: &Path, args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A one-frame PNG image of `w` × `h`.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let size = format!("color=c=red:size={w}x{h}");
    ffmpeg(
        dir.path(),
        &["-f", "lavfi", "-i", &size, "-frames:v", "1", "w.png"],
    );
    std::fs::read(dir.path().join("w.png")).unwrap()
}

/// Downloads `url` with the job's tokens (200 expected).
pub async fn fetch(runner: &SimRunner, url: &str, token: &str) -> Vec<u8> {
    let res = runner.download(url, token).await;
    assert_eq!(res.status(), 200, "{url}");
    res.bytes().await.unwrap().to_vec()
}

/// What a VOD job outputs, made by ffmpeg from its input as the runner does.
pub fn transcode(job_type: &str, uuid: &str, input: &[u8], resolution: u64) -> Vec<FilePart> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in"), input).unwrap();
    let scale = format!("scale=-2:{resolution}");
    let common = [
        "-i",
        "in",
        "-vf",
        &scale,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
    ];
    if job_type == "vod-hls-transcoding" {
        let mp4 = format!("{uuid}-{resolution}-fragmented.mp4");
        let m3u8 = format!("{uuid}-{resolution}.m3u8");
        let mut args = common.to_vec();
        args.extend([
            "-f",
            "hls",
            "-hls_segment_type",
            "fmp4",
            "-hls_flags",
            "single_file",
            "-hls_playlist_type",
            "vod",
            "-hls_segment_filename",
            &mp4,
            &m3u8,
        ]);
        ffmpeg(dir.path(), &args);
        let read = |n: &str| std::fs::read(dir.path().join(n)).unwrap();
        vec![
            FilePart::bytes("videoFile", &mp4, "video/mp4", read(&mp4)),
            FilePart::bytes(
                "resolutionPlaylistFile",
                &m3u8,
                "application/vnd.apple.mpegurl",
                read(&m3u8),
            ),
        ]
    } else {
        let mut args = common.to_vec();
        args.extend(["-f", "mp4", "out.mp4"]);
        ffmpeg(dir.path(), &args);
        let bytes = std::fs::read(dir.path().join("out.mp4")).unwrap();
        vec![FilePart::bytes("videoFile", "out.mp4", "video/mp4", bytes)]
    }
}

/// The studio job's output: its input cut as its `cut` tasks say (whole seconds).
pub fn apply_cuts(input: &[u8], tasks: &[Value]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.mp4"), input).unwrap();
    let mut args: Vec<String> = Vec::new();
    for t in tasks.iter().filter(|t| t["name"] == "cut") {
        if let Some(s) = t["options"]["start"].as_f64() {
            args.extend(["-ss".to_owned(), s.to_string()]);
        }
        if let Some(e) = t["options"]["end"].as_f64() {
            args.extend(["-to".to_owned(), e.to_string()]);
        }
    }
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend([
        "-i",
        "in.mp4",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "out.mp4",
    ]);
    // -ss/-to before -i seek the input: the kept part is start..end.
    ffmpeg(dir.path(), &all);
    std::fs::read(dir.path().join("out.mp4")).unwrap()
}

/// The storyboard a runner makes: `count` sprites of `size`, tiled.
pub fn storyboard_image(payload: &Value, input: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.mp4"), input).unwrap();
    let s = &payload["sprites"];
    let filter = format!(
        "fps=1/{},scale={}:{},tile={}x{}",
        s["duration"],
        s["size"]["width"],
        s["size"]["height"],
        s["count"]["width"],
        s["count"]["height"]
    );
    ffmpeg(
        dir.path(),
        &["-i", "in.mp4", "-vf", &filter, "-frames:v", "1", "sb.jpg"],
    );
    std::fs::read(dir.path().join("sb.jpg")).unwrap()
}

/// The VOD offers of the video to the newest runner asking for VOD types.
async fn vod_offers(runner: &SimRunner, video_uuid: &str) -> Vec<Value> {
    runner
        .available(json!({"version": "0.1.0", "jobTypes":
            ["vod-web-video-transcoding", "vod-hls-transcoding"]}))
        .await
        .into_iter()
        .filter(|o| {
            o["payload"]["input"]["videoFileUrl"]
                .as_str()
                .is_some_and(|u| u.contains(video_uuid))
        })
        .collect()
}

/// Takes the offer, transcodes its input with ffmpeg, reports success and waits for
/// the job to complete.
async fn run_offer(app: &TestApp, runner: &SimRunner, offer: &Value) {
    let uuid = offer["uuid"].as_str().unwrap();
    let (job, token) = runner.accept_ok(uuid).await;
    let input = fetch(
        runner,
        job["payload"]["input"]["videoFileUrl"].as_str().unwrap(),
        &token,
    )
    .await;
    let kind = job["type"].as_str().unwrap();
    let res = job["payload"]["output"]["resolution"].as_u64().unwrap();
    let files = transcode(kind, uuid, &input, res);
    let answer = runner.success(uuid, &token, &[], files).await;
    assert_eq!(answer.status(), 204);
    crate::runner_sim::wait_state(
        app,
        uuid,
        peertube_runner_connector::domain::job::JobState::Completed,
    )
    .await;
}

/// Runs every pending VOD job of the video, first offered first, until none is left.
pub async fn run_ladder(app: &TestApp, runner: &SimRunner, video_uuid: &str) -> usize {
    let mut n = 0;
    while let Some(offer) = vod_offers(runner, video_uuid).await.first() {
        run_offer(app, runner, offer).await;
        n += 1;
        assert!(n < 20, "the ladder does not end");
    }
    n
}

/// Runs the video's jobs of these `(type, resolution)`, in this order (each must be
/// offered when its turn comes).
pub async fn run_jobs(app: &TestApp, runner: &SimRunner, video_uuid: &str, jobs: &[(&str, u64)]) {
    for (kind, res) in jobs {
        let offers = vod_offers(runner, video_uuid).await;
        let offer = offers
            .iter()
            .find(|o| o["type"] == *kind && o["payload"]["output"]["resolution"] == *res)
            .unwrap_or_else(|| panic!("no {kind} {res} offered: {offers:?}"));
        run_offer(app, runner, offer).await;
    }
}

/// Submits `file` with `fields` and runs its ladder to `published`.
pub async fn published_video(
    app: &TestApp,
    runner: &SimRunner,
    file: &Path,
    fields: &[(&str, &str)],
) -> Value {
    let body = crate::video_helpers::submit_ok(app, file, fields).await;
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    run_ladder(app, runner, &uuid).await;
    wait_video(app, &uuid, "published").await
}

/// The keys of every file under the storage root but staging, sorted.
pub fn stored_keys(app: &TestApp) -> Vec<String> {
    let root = app.data_dir.join("storage");
    let mut keys: Vec<String> = crate::video_helpers::stored_files(app)
        .into_iter()
        .filter(|p| !p.starts_with(root.join(".staging")))
        .map(|p| {
            p.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    keys.sort();
    keys
}

/// The variant URIs a master playlist lists.
pub fn variants(master: &str) -> Vec<String> {
    master
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}
