//! The prober (our process runner, the `ffprobe` crate's types, our rotation) on every
//! file of the shared sample corpus, generated into a temporary folder by
//! `shared/tools/make-sample-media.sh` (found beside the repository, as CI lays it out,
//! or named by `SAMPLE_MEDIA_SCRIPT`). Without the script (a clone on its own) the test
//! says so and passes: the checked-in fixtures in `tests/fixtures/ffprobe/` still cover
//! the parser everywhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use peertube_runner_connector::config::MediaSettings;
use peertube_runner_connector::media::Media;

fn script() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("SAMPLE_MEDIA_SCRIPT") {
        return Some(PathBuf::from(path));
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    repo.ancestors()
        .skip(1)
        .take(3)
        .map(|dir| dir.join("shared/tools/make-sample-media.sh"))
        .find(|p| p.is_file())
}

/// What probing each corpus file must give: `Some((resolution, audio only))`, or
/// `None` when the file must be refused as bad input.
fn expected(name: &str) -> Option<Option<(u32, bool)>> {
    Some(match name {
        "h264-aac-720p30.mp4" | "h264-aac-720p.ts" | "h264-2audio-720p50.mkv" => Some((720, false)),
        "h264-aac-1080p60.mp4" => Some((1080, false)),
        "h264-aac-360p23.976.mp4" | "vfr-360p.mp4" => Some((360, false)),
        "h264-noaudio-240p25.mp4" | "odd-321x241.mkv" => Some((240, false)),
        "vp9-opus-480p30.webm" | "mpeg4-mp3-480p.avi" => Some((480, false)),
        "portrait-720x1280.mp4" | "rotated-90-1280x720.mp4" => Some((720, false)),
        "tiny-96x64.mp4" => Some((64, false)),
        "audio-only.mp3" | "audio-only.opus" | "audio-only.flac" | "audio-cover-art.mp3" => {
            Some((0, true))
        }
        // PNG is not an accepted container; the rest is not media.
        "cover.png" | "image-only.png" | "empty.mp4" | "truncated.mp4" | "text-named.mp4"
        | "random-bytes.mkv" => None,
        _ => return None,
    })
}

#[tokio::test]
async fn every_file_of_the_sample_corpus_probes_as_expected() {
    let Some(script) = script() else {
        eprintln!("skipped: shared/tools/make-sample-media.sh not found (set SAMPLE_MEDIA_SCRIPT)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("bash")
        .arg(&script)
        .arg(dir.path())
        .arg("1")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{} failed", script.display());
    let media = Media::new(MediaSettings::default());
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 20, "{names:?}");
    for name in &names {
        let probed = media.probe(&dir.path().join(name)).await;
        match expected(name) {
            Some(Some((resolution, audio_only))) => {
                let info = probed.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(info.resolution(), resolution, "{name}");
                assert_eq!(info.is_audio_only(), audio_only, "{name}");
                assert!(info.duration.is_some_and(|d| d > 0.5), "{name}");
                if !audio_only {
                    assert!(
                        info.codecs_string().is_some() || name.ends_with(".avi"),
                        "{name}"
                    );
                }
            }
            Some(None) => {
                let err = probed.expect_err(name);
                assert!(err.is_bad_input(), "{name}: {err}");
            }
            None => {
                // A file the corpus gained since: read, or refused as the input's fault.
                if let Err(e) = probed {
                    assert!(e.is_bad_input(), "{name}: {e}");
                }
            }
        }
    }
    let rotated = media
        .probe(&dir.path().join("rotated-90-1280x720.mp4"))
        .await
        .unwrap();
    let v = rotated.video.unwrap();
    assert_eq!((v.width, v.height, v.rotation), (720, 1280, 90));
    let two = media
        .probe(&dir.path().join("h264-2audio-720p50.mkv"))
        .await
        .unwrap();
    assert_eq!(two.audio_streams, 2);
}
