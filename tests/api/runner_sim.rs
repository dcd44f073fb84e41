//! A runner simulator speaking the protocol as `peertube-runner` does
//! (`runner-protocol.md` 0, 6): JSON bodies with the tokens for request, accept, abort,
//! error and downloads; multipart for update and success with every value a string,
//! nested keys as `payload[key]`, text fields first and file parts after them.

#![allow(dead_code)]

use std::fmt::Display;

use peertube_runner_connector::db;
use peertube_runner_connector::domain::ids::{JobUuid, VideoUuid};
use peertube_runner_connector::domain::job::{Job, JobState, JobType};
use peertube_runner_connector::domain::payloads::{
    InputFile, InputVideo, JobPayload, PrivatePayload, input_url,
};
use peertube_runner_connector::domain::video::{
    FileFacts, FileKind, NewVideo, Video, VideoOptions, VideoState,
};
use peertube_runner_connector::service::jobs::{JobParent, JobSpec, create_jobs};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A registered simulated runner.
#[derive(Clone)]
pub struct SimRunner {
    pub base: String,
    pub client: reqwest::Client,
    pub id: i64,
    pub token: String,
    pub name: String,
}

/// A file part of an update or success.
pub struct FilePart {
    /// `videoFile` → sent as `payload[videoFile]`.
    pub key: String,
    pub file_name: String,
    pub mime: String,
    pub body: reqwest::Body,
    pub len: u64,
}

impl FilePart {
    pub fn bytes(key: &str, file_name: &str, mime: &str, data: Vec<u8>) -> FilePart {
        FilePart {
            key: key.to_owned(),
            file_name: file_name.to_owned(),
            mime: mime.to_owned(),
            len: data.len() as u64,
            body: reqwest::Body::from(data),
        }
    }
}

impl SimRunner {
    pub async fn register(app: &TestApp, name: &str) -> SimRunner {
        let (id, token) = app.register_runner(name).await;
        SimRunner {
            base: app.address.clone(),
            client: reqwest::Client::new(),
            id,
            token,
            name: name.to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/runners{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("accept", "application/json")
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `/jobs/request` with extra body keys (`version`, `jobTypes`).
    pub async fn request(&self, extra: Value) -> reqwest::Response {
        let mut body = json!({"runnerToken": self.token});
        if let Value::Object(m) = extra {
            body.as_object_mut().unwrap().extend(m);
        }
        self.post("/jobs/request", body).await
    }

    /// `availableJobs` of a 200 `/jobs/request` (as the newest runner: with a version).
    pub async fn available(&self, extra: Value) -> Vec<Value> {
        let res = self.request(extra).await;
        assert_eq!(res.status(), 200);
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("application/json"), "{ct}");
        let body: Value = res.json().await.unwrap();
        body["availableJobs"].as_array().unwrap().clone()
    }

    pub async fn accept(&self, uuid: impl Display) -> reqwest::Response {
        self.post(
            &format!("/jobs/{uuid}/accept"),
            json!({"runnerToken": self.token}),
        )
        .await
    }

    /// Accepts and returns `(job, jobToken)`.
    pub async fn accept_ok(&self, uuid: impl Display) -> (Value, String) {
        let res = self.accept(uuid).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        let token = body["job"]["jobToken"].as_str().unwrap().to_owned();
        (body["job"].clone(), token)
    }

    pub async fn abort(&self, uuid: impl Display, job_token: &str) -> reqwest::Response {
        self.post(
            &format!("/jobs/{uuid}/abort"),
            json!({"runnerToken": self.token, "jobToken": job_token, "reason": "Runner stopped"}),
        )
        .await
    }

    pub async fn error(
        &self,
        uuid: impl Display,
        job_token: &str,
        message: &str,
    ) -> reqwest::Response {
        self.post(
            &format!("/jobs/{uuid}/error"),
            json!({"runnerToken": self.token, "jobToken": job_token, "message": message}),
        )
        .await
    }

    fn form(&self, job_token: &str, fields: &[(&str, &str)], files: Vec<FilePart>) -> Form {
        let mut form = Form::new()
            .text("runnerToken", self.token.clone())
            .text("jobToken", job_token.to_owned());
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        for f in files {
            let part = Part::stream_with_length(f.body, f.len)
                .file_name(f.file_name)
                .mime_str(&f.mime)
                .unwrap();
            form = form.part(format!("payload[{}]", f.key), part);
        }
        form
    }

    /// Multipart `update`; `fields` are raw names (`progress`, `payload[type]`).
    pub async fn update(
        &self,
        uuid: impl Display,
        job_token: &str,
        fields: &[(&str, &str)],
        files: Vec<FilePart>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/jobs/{uuid}/update")))
            .multipart(self.form(job_token, fields, files))
            .send()
            .await
            .unwrap()
    }

    /// Multipart `success`.
    pub async fn success(
        &self,
        uuid: impl Display,
        job_token: &str,
        fields: &[(&str, &str)],
        files: Vec<FilePart>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/jobs/{uuid}/success")))
            .multipart(self.form(job_token, fields, files))
            .send()
            .await
            .unwrap()
    }

    /// POSTs a download URL with the tokens, as the runner's `downloadFile` does.
    pub async fn download(&self, url: &str, job_token: &str) -> reqwest::Response {
        self.client
            .post(url)
            .json(&json!({"runnerToken": self.token, "jobToken": job_token}))
            .send()
            .await
            .unwrap()
    }
}

/// A payload of `job_type` as in section 3 (VOD ones at 720p, input URLs on a fake
/// origin).
pub fn payload_for(job_type: JobType, job: JobUuid, video: VideoUuid) -> JobPayload {
    let input =
        format!("http://127.0.0.1/api/v1/runners/jobs/{job}/files/videos/{video}/max-quality");
    let json = match job_type {
        JobType::VodWebVideoTranscoding => json!({
            "input": {"videoFileUrl": input, "separatedAudioFileUrl": []},
            "output": {"resolution": 720, "fps": 30}}),
        JobType::VodHlsTranscoding => json!({
            "input": {"videoFileUrl": input, "separatedAudioFileUrl": []},
            "output": {"resolution": 720, "fps": 30, "separatedAudio": false}}),
        JobType::VodAudioMergeTranscoding => json!({
            "input": {"audioFileUrl": format!("{input}/audio"), "previewFileUrl": input},
            "output": {"resolution": 480, "fps": 25}}),
        JobType::LiveRtmpHlsTranscoding => json!({
            "input": {"rtmpUrl": "rtmp://127.0.0.1:1935/live/key"},
            "output": {"toTranscode": [{"resolution": 720, "fps": 30}],
                       "segmentDuration": 4, "segmentListSize": 15}}),
        JobType::VideoStudioTranscoding => json!({
            "input": {"videoFileUrl": input, "separatedAudioFileUrl": []},
            "tasks": [{"name": "cut", "options": {"start": 1, "end": 5}}]}),
        JobType::VideoTranscription => json!({"input": {"videoFileUrl": format!("{input}/audio")}}),
        JobType::GenerateVideoStoryboard => json!({
            "input": {"videoFileUrl": input},
            "sprites": {"size": {"width": 192, "height": 108},
                        "count": {"width": 10, "height": 10}, "duration": 1}}),
    };
    JobPayload::from_json(job_type, &json.to_string()).unwrap()
}

/// The private payload of a job of `job_type` for `video`.
pub fn private_for(job_type: JobType, video: VideoUuid) -> PrivatePayload {
    let json = match job_type {
        JobType::LiveRtmpHlsTranscoding => {
            json!({"videoUUID": video, "masterPlaylistName": "master.m3u8",
            "outputDirectory": "lives/x", "sessionId": "s1"})
        }
        JobType::VideoStudioTranscoding => json!({"videoUUID": video, "originalTasks": []}),
        _ => json!({"videoUUID": video, "isNewVideo": true}),
    };
    PrivatePayload::from_json(job_type, &json.to_string()).unwrap()
}

/// A spec for a job of `job_type` for a video that does not exist.
pub fn spec(job_type: JobType, priority: i32, parent: Option<JobParent>) -> JobSpec {
    let uuid = JobUuid::generate();
    let video = VideoUuid::generate();
    JobSpec {
        payload: payload_for(job_type, uuid, video),
        private_payload: private_for(job_type, video),
        uuid,
        priority,
        video_id: None,
        parent,
    }
}

/// Inserts jobs in one transaction, then tells the offer index and runners, as the
/// job engine does after a commit.
pub async fn insert_jobs(app: &TestApp, specs: Vec<JobSpec>) -> Vec<Job> {
    let jobs = insert_jobs_quietly(app, specs).await;
    peertube_runner_connector::service::jobs::publish_changes(
        &app.state,
        jobs.iter()
            .filter(|j| j.state == peertube_runner_connector::domain::job::JobState::Pending),
    );
    jobs
}

/// Inserts jobs through the database layer only: no event, so the offer index learns
/// about them at its next refresh (`queue::load`), and runners are not told.
pub async fn insert_jobs_quietly(app: &TestApp, specs: Vec<JobSpec>) -> Vec<Job> {
    let now = app.state.now();
    app.state
        .db
        .run(move |conn| db::write_transaction(conn, |conn| create_jobs(conn, &specs, now)))
        .await
        .unwrap()
}

/// Reads a job by UUID.
pub async fn job(app: &TestApp, uuid: impl Display) -> Job {
    let uuid = JobUuid::parse(&uuid.to_string()).unwrap();
    app.state
        .db
        .run(move |conn| db::jobs::find_by_uuid(conn, uuid))
        .await
        .unwrap()
        .unwrap()
}

/// A tiny real clip, made once per test process with ffmpeg: an MP4 (320x240, 1 s,
/// with audio) and its HLS form as the runner uploads it (`<name>-240-fragmented.mp4`
/// plus a media playlist referencing it).
pub struct Clip {
    pub mp4: Vec<u8>,
    pub fragmented: Vec<u8>,
    pub playlist: String,
}

pub fn clip() -> &'static Clip {
    static CLIP: std::sync::OnceLock<Clip> = std::sync::OnceLock::new();
    CLIP.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let ok = std::process::Command::new("ffmpeg")
                .args(["-loglevel", "error", "-y"])
                .args(args)
                .current_dir(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "ffmpeg {args:?}");
        };
        run(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25:duration=1",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-shortest",
            "src.mp4",
        ]);
        run(&[
            "-i",
            "src.mp4",
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_segment_type",
            "fmp4",
            "-hls_flags",
            "single_file",
            "-hls_playlist_type",
            "vod",
            "-hls_segment_filename",
            "runner-240-fragmented.mp4",
            "runner-240.m3u8",
        ]);
        let read = |n: &str| std::fs::read(dir.path().join(n)).unwrap();
        Clip {
            mp4: read("src.mp4"),
            fragmented: read("runner-240-fragmented.mp4"),
            playlist: String::from_utf8(read("runner-240.m3u8")).unwrap(),
        }
    })
}

/// A video in state "to transcode" with the clip stored as its source.
pub async fn make_video(app: &TestApp) -> Video {
    let uuid = VideoUuid::generate();
    let directory = format!("videos/{uuid}");
    let source_key = format!("{directory}/source.mp4");
    app.state
        .storage
        .put_bytes(&source_key, clip().mp4.clone())
        .await
        .unwrap();
    let size = clip().mp4.len() as i64;
    let now = app.state.now();
    app.state
        .db
        .run(move |conn| {
            let video = db::videos::insert(
                conn,
                &NewVideo {
                    uuid,
                    state: VideoState::ToTranscode,
                    name: Some("clip".to_owned()),
                    directory,
                    base_filename: "clip".to_owned(),
                    duration: Some(1.0),
                    thumbnail_key: None,
                    options: VideoOptions {
                        hls: true,
                        web_videos: true,
                        resolutions: vec![240],
                        source_owned: true,
                        edition: 0,
                        switch_at: None,
                    },
                },
                now,
            )?;
            db::videos::replace_file(
                conn,
                video.id,
                &FileFacts {
                    kind: FileKind::Source,
                    storage_key: source_key,
                    playlist_key: None,
                    resolution: 240,
                    width: 320,
                    height: 240,
                    fps: 25.0,
                    size,
                    bitrate: None,
                    codecs: None,
                    format: None,
                    metadata: None,
                },
                now,
            )?;
            Ok::<_, db::DbError>(video)
        })
        .await
        .unwrap()
}

/// A VOD job spec for `video` at `resolution`, with input URLs on this app.
pub fn video_spec(
    app: &TestApp,
    video: &Video,
    job_type: JobType,
    resolution: u32,
    parent: Option<JobParent>,
) -> JobSpec {
    let uuid = JobUuid::generate();
    let input = input_url(
        &app.address,
        uuid,
        InputVideo::of(video),
        InputFile::MaxQuality,
    );
    let mut output = json!({"resolution": resolution, "fps": 25});
    if job_type == JobType::VodHlsTranscoding {
        output["separatedAudio"] = json!(false);
    }
    let payload =
        json!({"input": {"videoFileUrl": input, "separatedAudioFileUrl": []}, "output": output});
    JobSpec {
        payload: JobPayload::from_json(job_type, &payload.to_string()).unwrap(),
        private_payload: private_for(job_type, video.uuid),
        uuid,
        priority: 100,
        video_id: Some(video.id),
        parent,
    }
}

/// A fresh video with one PENDING 240p job of `job_type`.
pub async fn one_vod_job(app: &TestApp, job_type: JobType) -> (Video, Job) {
    let video = make_video(app).await;
    let spec = video_spec(app, &video, job_type, 240, None);
    let mut rows = insert_jobs(app, vec![spec]).await;
    (video, rows.remove(0))
}

/// The HLS success files of the clip, named as the runner names them.
pub fn hls_files(job_uuid: impl Display) -> Vec<FilePart> {
    let mp4_name = format!("{job_uuid}-240-fragmented.mp4");
    let playlist = clip()
        .playlist
        .replace("runner-240-fragmented.mp4", &mp4_name);
    vec![
        FilePart::bytes(
            "videoFile",
            &mp4_name,
            "video/mp4",
            clip().fragmented.clone(),
        ),
        FilePart::bytes(
            "resolutionPlaylistFile",
            &format!("{job_uuid}-240.m3u8"),
            "application/vnd.apple.mpegurl",
            playlist.into_bytes(),
        ),
    ]
}

/// Waits until the job is in `state` (completion may finish after the 204).
pub async fn wait_state(app: &TestApp, uuid: impl Display, state: JobState) -> Job {
    for _ in 0..200 {
        let row = job(app, &uuid).await;
        if row.state == state {
            return row;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let row = job(app, &uuid).await;
    panic!(
        "job {uuid} stayed in state {:?} (error {:?})",
        row.state, row.error
    );
}
