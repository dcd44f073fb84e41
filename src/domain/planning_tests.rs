use super::*;

fn fps_rules() -> FpsRules {
    FpsRules {
        min: 1,
        standard: vec![24, 25, 30],
        hd_standard: vec![50, 60],
        audio_merge: 25,
        average: 30,
        max: 60,
        keep_origin_fps_resolution_min: 720,
    }
}

/// The Django defaults: 360/480/720 enabled.
fn rules() -> LadderRules {
    LadderRules {
        enabled: vec![360, 480, 720],
        always_transcode_original_resolution: false,
        fps: fps_rules(),
    }
}

fn video(w: u32, h: u32, fps: Option<f64>) -> SourceFacts {
    SourceFacts {
        resolution: w.min(h),
        fps,
        audio_only: false,
        has_cover: false,
    }
}

fn audio(has_cover: bool) -> SourceFacts {
    SourceFacts {
        resolution: 0,
        fps: None,
        audio_only: true,
        has_cover,
    }
}

fn r(resolution: u32, fps: u32) -> Rung {
    Rung { resolution, fps }
}

#[test]
fn closest_takes_the_earliest_smallest_remainder() {
    let std = [24, 25, 30];
    assert_eq!(closest(60.0, &std), 30);
    assert_eq!(closest(50.0, &std), 25);
    assert_eq!(closest(48.0, &std), 24);
    assert_eq!(closest(120.0, &std), 24);
    let test_list = [20, 25, 30];
    assert_eq!(closest(23.976, &test_list), 20);
    assert_eq!(closest(29.97, &test_list), 25);
    assert_eq!(closest(59.94, &test_list), 25);
    assert_eq!(closest(59.0, &[50, 60]), 50);
    assert_eq!(closest(61.0, &[50, 60]), 60);
}

#[test]
fn frame_rates_round_ties_to_even() {
    assert_eq!(round_fps(29.97), 30);
    assert_eq!(round_fps(23.976), 24);
    assert_eq!(round_fps(24.5), 24);
    assert_eq!(round_fps(25.5), 26);
    assert_eq!(round_fps(0.0), 0);
    assert_eq!(round_fps(f64::NAN), 0);
}

#[test]
fn output_fps_snaps_low_resolutions_and_high_rates() {
    let f = fps_rules();
    assert_eq!(output_fps(720, 60, &f), 60);
    assert_eq!(output_fps(480, 60, &f), 30);
    assert_eq!(output_fps(360, 50, &f), 25);
    assert_eq!(output_fps(480, 30, &f), 30);
    assert_eq!(output_fps(1080, 120, &f), 60);
    assert_eq!(output_fps(1080, 100, &f), 50);
    // Below the minimum: raised to it rather than failing.
    let strict = FpsRules { min: 10, ..f };
    assert_eq!(output_fps(480, 5, &strict), 10);
}

/// Every row of `reference-library.md` Appendix A, with the fps argument order fixed
/// (the last column of the table) and the two failing rows given their fallback.
#[test]
fn appendix_a_rows_with_the_fps_fix() {
    let rows: Vec<(&str, SourceFacts, Rung, Vec<Rung>)> = vec![
        (
            "1920x1080@30",
            video(1920, 1080, Some(30.0)),
            r(720, 30),
            vec![r(360, 30), r(480, 30)],
        ),
        (
            "960x540@29.97",
            video(960, 540, Some(30000.0 / 1001.0)),
            r(480, 30),
            vec![r(360, 30)],
        ),
        (
            "1280x720@60",
            video(1280, 720, Some(60.0)),
            r(720, 60),
            vec![r(360, 30), r(480, 30)],
        ),
        (
            "1280x720@50",
            video(1280, 720, Some(50.0)),
            r(720, 50),
            vec![r(360, 25), r(480, 25)],
        ),
        (
            "640x360@25",
            video(640, 360, Some(25.0)),
            r(360, 25),
            vec![],
        ),
        (
            "1080x1920 portrait@30",
            video(1080, 1920, Some(30.0)),
            r(720, 30),
            vec![r(360, 30), r(480, 30)],
        ),
        // Library: ValueError (no rung ≤ 240). Here: one rendition at its own size.
        (
            "320x240@30",
            video(320, 240, Some(30.0)),
            r(240, 30),
            vec![],
        ),
        ("audio-only", audio(true), r(480, 25), vec![r(360, 25)]),
        // Library: ValueError on the first child. Here: fps.average.
        (
            "854x480 fps 0/0",
            video(854, 480, None),
            r(480, 30),
            vec![r(360, 30)],
        ),
    ];
    for (name, source, top, lower) in rows {
        assert_eq!(
            ladder(&source, &rules()),
            Ladder { top, lower },
            "row {name}"
        );
    }
}

#[test]
fn a_1080p60_source_with_1080p_enabled() {
    let rules = LadderRules {
        enabled: vec![360, 480, 720, 1080],
        ..rules()
    };
    assert_eq!(
        ladder(&video(1920, 1080, Some(60.0)), &rules),
        Ladder {
            top: r(1080, 60),
            lower: vec![r(360, 30), r(480, 30), r(720, 60)],
        }
    );
}

#[test]
fn never_upscales_and_tiny_inputs_keep_their_size() {
    let l = ladder(&video(176, 144, Some(15.0)), &rules());
    assert_eq!(
        l,
        Ladder {
            top: r(144, 15),
            lower: vec![]
        }
    );
    // Odd sizes round down to even, never up.
    let l = ladder(&video(250, 201, Some(30.0)), &rules());
    assert_eq!(l.top, r(200, 30));
    // Nothing enabled at all: the source's own size.
    let none = LadderRules {
        enabled: vec![],
        ..rules()
    };
    assert_eq!(ladder(&video(1280, 720, Some(30.0)), &none).top, r(720, 30));
}

#[test]
fn always_transcode_original_resolution_makes_the_source_size_the_top() {
    let rules = LadderRules {
        always_transcode_original_resolution: true,
        ..rules()
    };
    assert_eq!(
        ladder(&video(1920, 1080, Some(30.0)), &rules),
        Ladder {
            top: r(1080, 30),
            lower: vec![r(360, 30), r(480, 30), r(720, 30)],
        }
    );
    assert_eq!(
        ladder(&video(960, 540, Some(60.0)), &rules),
        Ladder {
            top: r(540, 30),
            lower: vec![r(360, 30), r(480, 30)],
        }
    );
    // When the source is itself a rung, it is not produced twice.
    assert_eq!(
        ladder(&video(1280, 720, Some(30.0)), &rules),
        Ladder {
            top: r(720, 30),
            lower: vec![r(360, 30), r(480, 30)],
        }
    );
}

#[test]
fn hls_only_is_a_parent_with_one_job_per_lower_rung() {
    let jobs = plan_jobs(
        &video(1920, 1080, Some(60.0)),
        &rules(),
        Outputs {
            hls: true,
            web_videos: false,
        },
    )
    .unwrap();
    let shape: Vec<_> = jobs
        .iter()
        .map(|j| (j.kind, j.rung, j.priority, j.parent))
        .collect();
    assert_eq!(
        shape,
        vec![
            (PlannedKind::Hls, r(720, 60), PRIORITY_REQUIRED, None),
            (PlannedKind::Hls, r(360, 30), PRIORITY_OPTIONAL, Some(0)),
            (PlannedKind::Hls, r(480, 30), PRIORITY_OPTIONAL, Some(0)),
        ]
    );
}

#[test]
fn web_videos_make_the_parent_an_mp4_and_hls_a_chain() {
    let jobs = plan_jobs(
        &video(1280, 720, Some(30.0)),
        &rules(),
        Outputs {
            hls: true,
            web_videos: true,
        },
    )
    .unwrap();
    let shape: Vec<_> = jobs
        .iter()
        .map(|j| (j.kind, j.rung.resolution, j.priority, j.parent))
        .collect();
    // The top HLS rendition waits for the MP4 parent at the parent's priority (as the
    // README states); only the lower rungs are optional.
    let (required, optional) = (PRIORITY_REQUIRED, PRIORITY_OPTIONAL);
    assert_eq!((required, optional), (100, 10_000));
    assert_eq!(
        shape,
        vec![
            (PlannedKind::WebVideo, 720, required, None),
            (PlannedKind::Hls, 720, required, Some(0)),
            (PlannedKind::WebVideo, 360, optional, Some(0)),
            (PlannedKind::Hls, 360, optional, Some(0)),
            (PlannedKind::WebVideo, 480, optional, Some(0)),
            (PlannedKind::Hls, 480, optional, Some(0)),
        ]
    );
    let mp4_only = plan_jobs(
        &video(640, 360, Some(25.0)),
        &rules(),
        Outputs {
            hls: false,
            web_videos: true,
        },
    )
    .unwrap();
    assert_eq!(mp4_only.len(), 1);
    assert_eq!(mp4_only[0].kind, PlannedKind::WebVideo);
}

#[test]
fn audio_with_cover_is_merged_then_transcoded() {
    let jobs = plan_jobs(
        &audio(true),
        &rules(),
        Outputs {
            hls: true,
            web_videos: false,
        },
    )
    .unwrap();
    let shape: Vec<_> = jobs.iter().map(|j| (j.kind, j.rung, j.parent)).collect();
    assert_eq!(
        shape,
        vec![
            (PlannedKind::AudioMerge, r(480, 25), None),
            (PlannedKind::Hls, r(480, 25), Some(0)),
            (PlannedKind::Hls, r(360, 25), Some(0)),
        ]
    );
}

#[test]
fn audio_without_cover_is_one_audio_only_hls_rendition() {
    let both = Outputs {
        hls: true,
        web_videos: true,
    };
    let jobs = plan_jobs(&audio(false), &rules(), both).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].kind, jobs[0].rung), (PlannedKind::Hls, r(0, 0)));
    let mp4_only = Outputs {
        hls: false,
        web_videos: true,
    };
    assert_eq!(
        plan_jobs(&audio(false), &rules(), mp4_only),
        Err(PlanError::AudioOnlyNeedsHls)
    );
    let nothing = Outputs {
        hls: false,
        web_videos: false,
    };
    assert_eq!(
        plan_jobs(&video(640, 360, None), &rules(), nothing),
        Err(PlanError::NoOutput)
    );
}

#[test]
fn parents_always_come_first() {
    for source in [
        video(3840, 2160, Some(24.0)),
        audio(true),
        video(100, 100, None),
    ] {
        let jobs = plan_jobs(
            &source,
            &LadderRules {
                enabled: vec![144, 240, 360, 480, 720, 1080, 1440, 2160],
                ..rules()
            },
            Outputs {
                hls: true,
                web_videos: true,
            },
        )
        .unwrap();
        for (i, j) in jobs.iter().enumerate() {
            assert!(j.parent.is_none_or(|p| p < i), "{source:?}: {jobs:?}");
            assert!(j.rung.resolution <= jobs[0].rung.resolution);
        }
    }
}
