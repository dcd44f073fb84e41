//! `POST /api/v1/videos`: planned jobs and payloads for real media, every bad input
//! refused with nothing left behind, and the API key.

use peertube_runner_connector::domain::job::JobState::{self, Pending, WaitingForParentJob};
use peertube_runner_connector::domain::job::JobType;
use peertube_runner_connector::domain::payloads::JobPayload;
use peertube_runner_connector::service::events::Event;
use serde_json::{Value, json};

use crate::helpers::problem;
use crate::media::sample;
use crate::video_helpers::*;

fn summary(body: &Value) -> Vec<(String, i64, i64, JobState)> {
    body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["type"].as_str().unwrap().to_owned(),
                j["resolution"].as_i64().unwrap(),
                j["fps"].as_i64().unwrap(),
                JobState::from_id(j["state"]["id"].as_i64().unwrap() as i32).unwrap(),
            )
        })
        .collect()
}

fn t(kind: &str, res: i64, fps: i64, state: JobState) -> (String, i64, i64, JobState) {
    (kind.to_owned(), res, fps, state)
}

#[tokio::test]
async fn a_small_video_gets_its_planned_jobs_with_exact_payloads() {
    let app = spawn_video_app().await;
    let mut events = app.state.events.subscribe();
    let body = submit_ok(
        &app,
        &sample("av-320x240.mp4"),
        &[
            ("name", "Clip"),
            ("webVideos", "true"),
            ("resolutions", "144,240"),
        ],
    )
    .await;
    assert_eq!(body["name"], "Clip");
    assert_eq!(body["state"]["name"], "transcoding");
    assert_eq!(body["source"]["width"], 320);
    assert_eq!(body["source"]["resolution"], 240);
    assert!((body["duration"].as_f64().unwrap() - 2.0).abs() < 0.2);
    let uuid = body["uuid"].as_str().unwrap().to_owned();
    assert_eq!(body["directory"], format!("videos/{uuid}"));
    // Parent MP4 at the top, then HLS at the top and both kinds at 144, waiting.
    assert_eq!(
        summary(&body),
        vec![
            t("vod-web-video-transcoding", 240, 30, Pending),
            t("vod-hls-transcoding", 240, 30, WaitingForParentJob),
            t("vod-web-video-transcoding", 144, 30, WaitingForParentJob),
            t("vod-hls-transcoding", 144, 30, WaitingForParentJob),
        ]
    );
    let rows = job_rows(&app).await;
    // Runners are told, beside the video's own events (webhooks, live streams).
    let queued: Vec<Event> = std::iter::from_fn(|| events.try_recv().ok())
        .filter(|e| !matches!(e, Event::VideoEvent { .. } | Event::DeliveriesDue))
        .collect();
    assert_eq!(
        queued,
        [
            Event::JobsChanged {
                job_ids: vec![rows[0].id]
            },
            Event::JobsAvailable
        ]
    );

    let parent = &rows[0];
    assert!(peertube_runner_connector::domain::ids::is_uuid_v4(
        &parent.uuid.to_string()
    ));
    let max = format!(
        "{}/api/v1/runners/jobs/{}/files/videos/{uuid}/max-quality",
        app.address, parent.uuid
    );
    assert_eq!(
        serde_json::to_value(&parent.payload).unwrap(),
        json!({"input": {"videoFileUrl": max, "separatedAudioFileUrl": []},
               "output": {"resolution": 240, "fps": 30}})
    );
    assert_eq!(parent.priority, 100);
    assert_eq!(parent.parent_id, None);
    let hls: Value = serde_json::to_value(&rows[1].payload).unwrap();
    assert_eq!(
        hls["output"],
        json!({"resolution": 240, "fps": 30, "separatedAudio": false})
    );
    assert_eq!(hls["input"]["separatedAudioFileUrl"], json!([]));
    assert!(
        hls["input"]["videoFileUrl"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "/jobs/{}/files/videos/{uuid}/max-quality",
                rows[1].uuid
            ))
    );
    let private: Value = serde_json::to_value(&rows[1].private_payload).unwrap();
    assert_eq!(private["videoUUID"], uuid.as_str());
    for child in &rows[1..] {
        assert_eq!(child.parent_id, Some(parent.id));
    }
    assert_eq!((rows[1].priority, rows[2].priority), (100, 10_000));
    assert_eq!(body["jobs"][1]["dependsOn"], parent.uuid.to_string());

    // The thumbnail is stored and served.
    let thumb = body["thumbnailUrl"].as_str().unwrap();
    assert_eq!(
        thumb,
        format!("{}/static/videos/{uuid}/thumbnail.jpg", app.address)
    );
    let res = app.client.get(thumb).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.bytes().await.unwrap().starts_with(&[0xff, 0xd8]));
    assert_eq!(row_counts(&app).await, (1, 1, 4));
    // Only the source and the thumbnail are stored; the staging area is empty.
    assert_eq!(stored_files(&app).len(), 2, "{:?}", stored_files(&app));
}

#[tokio::test]
async fn frame_rates_follow_the_fixed_rules_for_1080p60() {
    let app = spawn_video_app().await;
    let body = submit_ok(&app, &sample("1080p60.mp4"), &[]).await;
    assert_eq!(
        summary(&body),
        vec![
            t("vod-hls-transcoding", 720, 60, Pending),
            t("vod-hls-transcoding", 360, 30, WaitingForParentJob),
            t("vod-hls-transcoding", 480, 30, WaitingForParentJob),
        ]
    );
}

#[tokio::test]
async fn portrait_and_audio_sources_are_planned_like_peertube() {
    let app = spawn_video_app().await;
    let body = submit_ok(&app, &sample("portrait-360x640.mp4"), &[]).await;
    assert_eq!(
        summary(&body),
        vec![t("vod-hls-transcoding", 360, 30, Pending)]
    );
    assert_eq!(body["source"]["height"], 640);

    // Audio only, no picture: one audio-only HLS rendition, no thumbnail.
    let body = submit_ok(&app, &sample("audio.m4a"), &[]).await;
    assert_eq!(
        summary(&body),
        vec![t("vod-hls-transcoding", 0, 0, Pending)]
    );
    assert_eq!(body["thumbnailUrl"], Value::Null);
    assert_eq!(body["source"]["resolution"], 0);

    // Audio with cover art: merged with it, then transcoded.
    let body = submit_ok(&app, &sample("audio-cover.mp3"), &[]).await;
    assert_eq!(
        summary(&body),
        vec![
            t("vod-audio-merge-transcoding", 480, 25, Pending),
            t("vod-hls-transcoding", 480, 25, WaitingForParentJob),
            t("vod-hls-transcoding", 360, 25, WaitingForParentJob),
        ]
    );
    assert!(body["thumbnailUrl"].is_string());
    let merge = job_rows(&app)
        .await
        .into_iter()
        .find(|j| j.job_type() == JobType::VodAudioMergeTranscoding)
        .unwrap();
    let JobPayload::VodAudioMerge(payload) = &merge.payload else {
        panic!("{:?}", merge.payload)
    };
    assert!(payload.input.audio_file_url.ends_with("/max-quality/audio"));
    assert!(
        payload
            .input
            .preview_file_url
            .ends_with("/previews/max-quality")
    );
}

#[tokio::test]
async fn a_stored_object_can_be_submitted_by_key() {
    let app = spawn_video_app().await;
    store_file(&app, &sample("av-320x240.mp4"), "uploads/in.mp4").await;
    let res = app
        .client
        .post(app.url("/api/v1/videos"))
        .bearer_auth(KEY)
        .json(&json!({"filePath": "uploads/in.mp4", "destination": "out/v1", "baseFilename": "clip", "hls": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["source"]["key"], "uploads/in.mp4");
    assert_eq!(body["directory"], "out/v1");
    assert_eq!(body["baseFilename"], "clip");
    // A second video in the same folder would overwrite the first one's outputs.
    let res = app
        .client
        .post(app.url("/api/v1/videos"))
        .bearer_auth(KEY)
        .json(&json!({"filePath": "uploads/in.mp4", "destination": "out/v1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(row_counts(&app).await.0, 1);
    // Deleting the video leaves the application's own object alone.
    let res = app
        .client
        .delete(app.url(&format!(
            "/api/v1/videos/{}",
            body["uuid"].as_str().unwrap()
        )))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(app.state.storage.exists("uploads/in.mp4").await.unwrap());
    assert!(
        !app.state
            .storage
            .exists("out/v1/thumbnail.jpg")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn bad_uploads_are_refused_and_leave_nothing_behind() {
    let app = spawn_video_app_with(|s| s.limits.video_upload_bytes = 150_000).await;
    // (file, fields, status, code, what the detail says)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, &'a str, &'a str);
    let cases: [Case; 10] = [
        ("empty.mp4", &[], 400, "invalid_media", "empty"),
        (
            "random.mp4",
            &[],
            400,
            "invalid_media",
            "not a readable video",
        ),
        (
            "truncated.mp4",
            &[],
            400,
            "invalid_media",
            "not a readable video",
        ),
        (
            "image.png",
            &[],
            400,
            "invalid_media",
            "not a readable video",
        ),
        ("still.mkv", &[], 400, "invalid_media", "no moving picture"),
        (
            "av-320x240.mp4",
            &[],
            413,
            "payload_too_large",
            "larger than the limit",
        ),
        (
            "audio.m4a",
            &[("resolutions", "100")],
            400,
            "invalid_request",
            "resolutions",
        ),
        (
            "audio.m4a",
            &[("hls", "false"), ("webVideos", "true")],
            400,
            "invalid_request",
            "audio-only",
        ),
        (
            "audio.m4a",
            &[("surprise", "1")],
            400,
            "invalid_request",
            "Unknown field",
        ),
        (
            "audio.m4a",
            &[("destination", "../../etc")],
            400,
            "invalid_request",
            "destination",
        ),
    ];
    for (file, fields, status, code, detail) in cases {
        let res = submit(&app, &sample(file), fields).await;
        assert_eq!(res.status(), status, "{file} {fields:?}");
        let doc = problem(res).await;
        assert_eq!(doc["code"], code, "{file} {fields:?}: {doc}");
        assert!(
            doc["detail"].as_str().unwrap().contains(detail),
            "{file}: {doc}"
        );
        assert_nothing_left(&app, file).await;
    }
    // No file part at all.
    let form = reqwest::multipart::Form::new().text("name", "x");
    let res = app
        .client
        .post(app.url("/api/v1/videos"))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let doc = problem(res).await;
    assert!(doc["detail"].as_str().unwrap().contains("videoFile"));
    assert_eq!(doc["code"], "invalid_request");
    // Neither multipart nor JSON.
    let res = app
        .client
        .post(app.url("/api/v1/videos"))
        .bearer_auth(KEY)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert_eq!(problem(res).await["code"], "unsupported_media_type");
    assert_nothing_left(&app, "no file").await;
}

#[tokio::test]
async fn an_interrupted_upload_leaves_nothing_behind() {
    let app = spawn_video_app().await;
    let boundary = "XyZ";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"videoFile\"; filename=\"a.mp4\"\r\n\r\n"
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(head.into_bytes()),
        Ok(vec![0u8; 256 * 1024]),
        Err(std::io::Error::other("client gave up")),
    ];
    let res = app
        .client
        .post(app.url("/api/v1/videos"))
        .bearer_auth(KEY)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await;
    assert!(res.is_err() || res.unwrap().status().is_client_error());
    assert_nothing_left(&app, "interrupted").await;
}

#[tokio::test]
async fn bad_stored_keys_are_refused() {
    let app = spawn_video_app().await;
    for (body, status) in [
        (json!({"filePath": "../outside.mp4"}), 400),
        (json!({"filePath": "/etc/passwd"}), 400),
        (json!({"filePath": ".staging/x"}), 400),
        (json!({"filePath": "nothing/here.mp4"}), 400),
        (json!({"name": "no path"}), 400),
        (json!({"filePath": "a.mp4", "hls": "yes"}), 400),
    ] {
        let res = app
            .client
            .post(app.url("/api/v1/videos"))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{body}");
        problem(res).await;
    }
    assert_nothing_left(&app, "json").await;
}

#[tokio::test]
async fn missing_media_tools_answer_503_naming_the_fix() {
    for tool in ["ffprobe", "ffmpeg"] {
        let app = spawn_video_app_with(|s| match tool {
            "ffprobe" => s.media.ffprobe = "no-such-ffprobe".into(),
            _ => s.media.ffmpeg = "no-such-ffmpeg".into(),
        })
        .await;
        let res = submit(&app, &sample("av-320x240.mp4"), &[]).await;
        assert_eq!(res.status(), 503, "{tool}");
        let doc = problem(res).await;
        assert_eq!(doc["code"], "media_tools_unavailable");
        assert!(
            doc["detail"]
                .as_str()
                .unwrap()
                .contains("apt-get install ffmpeg"),
            "{doc}"
        );
        assert_nothing_left(&app, tool).await;
    }
}

#[tokio::test]
async fn the_private_api_needs_a_configured_key() {
    let closed = crate::helpers::spawn_app().await;
    let res = closed
        .client
        .get(closed.url("/api/v1/videos"))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let doc = problem(res).await;
    assert!(
        doc["detail"]
            .as_str()
            .unwrap()
            .contains("PRC_AUTH__API_KEYS")
    );
    assert_eq!(doc["code"], "api_disabled");

    let app = spawn_video_app().await;
    let res = app
        .client
        .get(app.url("/api/v1/videos"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(problem(res).await["code"], "missing_api_key");
    let res = app
        .client
        .get(app.url("/api/v1/videos"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(problem(res).await["code"], "invalid_api_key");
    let res = submit(&closed, &sample("av-320x240.mp4"), &[]).await;
    assert_eq!(res.status(), 403);
    assert_nothing_left(&closed, "closed").await;
    assert_eq!(get(&app, "/api/v1/videos").await.status(), 200);
}

#[tokio::test]
async fn a_refused_field_is_answered_after_the_rest_of_the_upload_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_video_app().await;
    // A client that sends its whole request before reading the answer (as many HTTP
    // libraries do): the refused field comes first, 32 MiB of video follow it.
    let boundary = "DrAiN";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"surprise\"\r\n\r\n1\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"videoFile\"; filename=\"a.mp4\"\r\n\r\n"
    )
    .into_bytes();
    body.extend(vec![0u8; 32 << 20]);
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /api/v1/videos HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&body)
        .await
        .expect("the server reads the whole body before answering");
    let mut answer = vec![0u8; 4096];
    let n = stream.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("Unknown field"), "{answer}");
    assert_nothing_left(&app, "refused field").await;
}
