use serde_json::json;

use super::super::planning::{PRIORITY_REQUIRED, Rung};
use super::*;

fn planned(kind: PlannedKind, resolution: u32, fps: u32) -> PlannedJob {
    PlannedJob {
        kind,
        rung: Rung { resolution, fps },
        priority: PRIORITY_REQUIRED,
        parent: None,
    }
}

fn ids() -> (JobUuid, VideoUuid) {
    (
        JobUuid::parse("0b2c6f5e-7f4a-4d3b-9c1e-2a3b4c5d6e7f").unwrap(),
        VideoUuid::parse("1c3d7a6f-8a5b-4e4c-8d2f-3b4c5d6e7f80").unwrap(),
    )
}

/// Every payload of section 3, as runners receive it, reads back as its type and
/// writes back unchanged.
#[test]
fn every_protocol_payload_round_trips_through_its_type() {
    let cases = [
        (
            JobType::VodWebVideoTranscoding,
            json!({"input": {"videoFileUrl": "u", "separatedAudioFileUrl": []},
                   "output": {"resolution": 720, "fps": 30}}),
        ),
        (
            JobType::VodHlsTranscoding,
            json!({"input": {"videoFileUrl": "u", "separatedAudioFileUrl": ["a"]},
                   "output": {"resolution": 0, "fps": 0, "separatedAudio": true,
                              "videoFileCustomUpload": {"url": "https://up/x", "method": "POST"}}}),
        ),
        (
            JobType::VodAudioMergeTranscoding,
            json!({"input": {"audioFileUrl": "a", "previewFileUrl": "p"},
                   "output": {"resolution": 480, "fps": 25}}),
        ),
        (
            JobType::LiveRtmpHlsTranscoding,
            json!({"input": {"rtmpUrl": "rtmp://h:1935/live/key"},
                   "output": {"toTranscode": [{"resolution": 720, "fps": 30}, {"resolution": 360, "fps": 30}],
                              "segmentDuration": 4, "segmentListSize": 15}}),
        ),
        (
            JobType::VideoStudioTranscoding,
            json!({"input": {"videoFileUrl": "u", "separatedAudioFileUrl": []},
            "tasks": [
                {"name": "cut", "options": {"start": 1.5, "end": 10.0}},
                {"name": "add-intro", "options": {"file": "http://h/studio/task-files/intro.mp4"}},
                {"name": "add-outro", "options": {"file": "http://h/studio/task-files/outro.mp4"}},
                {"name": "add-watermark", "options": {"file": "http://h/studio/task-files/w.png",
                    "watermarkSizeRatio": 0.1, "horitonzalMarginRatio": 0.02, "verticalMarginRatio": 0.03}}
            ]}),
        ),
        (
            JobType::VideoTranscription,
            json!({"input": {"videoFileUrl": "u/max-quality/audio"}}),
        ),
        (
            JobType::GenerateVideoStoryboard,
            json!({"input": {"videoFileUrl": "u"},
                   "sprites": {"size": {"width": 192, "height": 108}, "count": {"width": 10, "height": 10},
                               "duration": 2.5}}),
        ),
    ];
    for (job_type, wire) in cases {
        let parsed = JobPayload::from_json(job_type, &wire.to_string()).unwrap();
        assert_eq!(parsed.job_type(), job_type);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&parsed.to_json()).unwrap(),
            wire,
            "{job_type}"
        );
    }
}

#[test]
fn a_payload_of_another_shape_or_an_unknown_studio_task_is_refused() {
    let hls = json!({"input": {"videoFileUrl": "u"}, "output": {"resolution": 1, "fps": 1}});
    // No `separatedAudio`: not an HLS payload.
    assert!(JobPayload::from_json(JobType::VodHlsTranscoding, &hls.to_string()).is_err());
    let blur =
        json!({"input": {"videoFileUrl": "u"}, "tasks": [{"name": "add-blur", "options": {}}]});
    assert!(JobPayload::from_json(JobType::VideoStudioTranscoding, &blur.to_string()).is_err());
    assert!(JobPayload::from_json(JobType::VodWebVideoTranscoding, "not json").is_err());
}

#[test]
fn planned_payloads_match_the_protocol_shapes() {
    let (j, v) = ids();
    let max = format!("https://t.example/api/v1/runners/jobs/{j}/files/videos/{v}/max-quality");
    let json = |p: JobPayload| serde_json::to_value(p).unwrap();
    assert_eq!(
        json(payload(
            &planned(PlannedKind::Hls, 720, 30),
            "https://t.example/",
            j,
            v.into()
        )),
        json!({"input": {"videoFileUrl": max, "separatedAudioFileUrl": []},
               "output": {"resolution": 720, "fps": 30, "separatedAudio": false}})
    );
    assert_eq!(
        json(payload(
            &planned(PlannedKind::WebVideo, 480, 25),
            "https://t.example",
            j,
            v.into()
        )),
        json!({"input": {"videoFileUrl": max, "separatedAudioFileUrl": []},
               "output": {"resolution": 480, "fps": 25}})
    );
    assert_eq!(
        json(payload(
            &planned(PlannedKind::AudioMerge, 480, 25),
            "https://t.example",
            j,
            v.into()
        )),
        json!({"input": {"audioFileUrl": format!("{max}/audio"),
                         "previewFileUrl": format!("https://t.example/api/v1/runners/jobs/{j}/files/videos/{v}/previews/max-quality")},
               "output": {"resolution": 480, "fps": 25}})
    );
    assert_eq!(job_type(PlannedKind::Hls).as_str(), "vod-hls-transcoding");
}

#[test]
fn private_payloads_have_peertubes_shape_and_name_their_video() {
    let (_, v) = ids();
    let hls = private_payload(&planned(PlannedKind::Hls, 720, 30), v);
    assert_eq!(
        serde_json::to_value(&hls).unwrap(),
        json!({"videoUUID": v.to_string(), "isNewVideo": true, "deleteWebVideoFiles": false})
    );
    assert_eq!(hls.video_uuid(), v);
    let live = json!({"videoUUID": v.to_string(), "masterPlaylistName": "m.m3u8",
                      "outputDirectory": "lives/x", "sessionId": "s1"});
    let parsed =
        PrivatePayload::from_json(JobType::LiveRtmpHlsTranscoding, &live.to_string()).unwrap();
    assert_eq!(parsed.job_type(), JobType::LiveRtmpHlsTranscoding);
    assert_eq!(serde_json::to_value(&parsed).unwrap(), live);
    let merge = private_payload(&planned(PlannedKind::AudioMerge, 480, 25), v);
    assert_eq!(merge.job_type(), JobType::VodAudioMergeTranscoding);
}

#[test]
fn urls_have_peertubes_shape_and_task_files_are_their_base_names() {
    let (j, v) = ids();
    assert_eq!(
        input_url("https://h/", j, v.into(), InputFile::MaxQuality),
        format!("https://h/api/v1/runners/jobs/{j}/files/videos/{v}/max-quality")
    );
    assert_eq!(
        input_url(
            "https://h",
            j,
            v.into(),
            InputFile::StudioTaskFile("intro.mp4")
        ),
        format!("https://h/api/v1/runners/jobs/{j}/files/videos/{v}/studio/task-files/intro.mp4")
    );
    let studio = json!({"input": {"videoFileUrl": "u", "separatedAudioFileUrl": []},
        "tasks": [{"name": "cut", "options": {"start": 1}},
                  {"name": "add-intro", "options": {"file": "http://h/x/studio/task-files/intro-1.mp4"}}]});
    let p = JobPayload::from_json(JobType::VideoStudioTranscoding, &studio.to_string()).unwrap();
    assert_eq!(p.task_file_names(), ["intro-1.mp4"]);
    assert!(p.output_rung().is_none());
}

#[test]
fn an_edited_videos_urls_name_its_edition_so_input_caches_keep_editions_apart() {
    let (j, v) = ids();
    let edited = InputVideo {
        uuid: v,
        edition: 2,
    };
    let url = input_url("https://h", j, edited, InputFile::MaxQuality);
    assert_eq!(
        url,
        format!("https://h/api/v1/runners/jobs/{j}/files/videos/{v}~e2/max-quality")
    );
    // The newest runner's cache key: the segment after `/files/videos/`
    // (`runner-protocol.md` 2). Each edition gets its own; the route reads the UUID back.
    let key = |u: &str| {
        u.split("/files/videos/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .map(str::to_owned)
    };
    let before = input_url("https://h", j, v.into(), InputFile::MaxQuality);
    assert_eq!(key(&before), Some(v.to_string()));
    assert_ne!(key(&url), key(&before));
    assert_eq!(
        key(&url).and_then(|k| super::super::ids::VideoRef::parse(&k)),
        Some(super::super::ids::VideoRef::Uuid(v))
    );
}

#[test]
fn transcription_payloads_are_peertubes() {
    let (j, v) = ids();
    assert_eq!(
        serde_json::to_value(transcription_payload("https://t.example/", j, v.into())).unwrap(),
        json!({"input": {"videoFileUrl": format!(
            "https://t.example/api/v1/runners/jobs/{j}/files/videos/{v}/max-quality/audio")}})
    );
    let private = transcription_private_payload(v);
    assert_eq!(private.job_type(), JobType::VideoTranscription);
    assert_eq!(
        serde_json::to_value(&private).unwrap(),
        json!({"videoUUID": v.to_string()})
    );
}
