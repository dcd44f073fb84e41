//! Small media files made with ffmpeg, generated once per build into
//! `CARGO_TARGET_TMPDIR` (atomic rename, so parallel test binaries agree).

use std::path::{Path, PathBuf};
use std::process::Command;

fn ffmpeg(args: &[&str], out: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

fn dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("media-samples-v1");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The sample `name`, generated on first use.
pub fn sample(name: &str) -> PathBuf {
    let path = dir().join(name);
    if path.exists() {
        return path;
    }
    let tmp = dir().join(format!(".{}-{name}", uuid::Uuid::new_v4().simple()));
    let x264 = [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ];
    let video = |size: &str, rate: &str, secs: &str, audio: bool| {
        let src = format!("testsrc2=size={size}:rate={rate}");
        let mut args = vec!["-f", "lavfi", "-t", secs, "-i", &src];
        if audio {
            args.extend(["-f", "lavfi", "-t", secs, "-i", "sine=frequency=440"]);
        }
        args.extend(x264);
        if audio {
            args.extend(["-c:a", "aac"]);
        }
        args.extend(["-f", "mp4"]);
        ffmpeg(&args, &tmp);
    };
    match name {
        "av-320x240.mp4" => video("320x240", "30", "2", true),
        "1080p60.mp4" => video("1920x1080", "60", "1", false),
        "portrait-360x640.mp4" => video("360x640", "30", "1", true),
        "720p-10s.mp4" => video("1280x720", "30", "10", true),
        "audio.m4a" => ffmpeg(
            &[
                "-f", "lavfi", "-t", "2", "-i", "sine", "-c:a", "aac", "-f", "mp4",
            ],
            &tmp,
        ),
        "cover.jpg" => ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "color=red:s=320x240",
                "-frames:v",
                "1",
                "-f",
                "image2",
            ],
            &tmp,
        ),
        "audio-cover.mp3" => {
            let cover = sample("cover.jpg");
            ffmpeg(
                &[
                    "-f",
                    "lavfi",
                    "-t",
                    "2",
                    "-i",
                    "sine",
                    "-i",
                    cover.to_str().unwrap(),
                    "-map",
                    "0:a",
                    "-map",
                    "1:v",
                    "-c:a",
                    "libmp3lame",
                    "-c:v",
                    "copy",
                    "-disposition:v",
                    "attached_pic",
                    "-id3v2_version",
                    "3",
                    "-f",
                    "mp3",
                ],
                &tmp,
            );
        }
        "image.png" => ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "color=blue:s=64x64",
                "-frames:v",
                "1",
                "-f",
                "image2",
                "-c:v",
                "png",
            ],
            &tmp,
        ),
        "still.mkv" => ffmpeg(
            &[
                "-f",
                "lavfi",
                "-i",
                "color=blue:s=64x64",
                "-frames:v",
                "1",
                "-c:v",
                "png",
                "-f",
                "matroska",
            ],
            &tmp,
        ),
        "empty.mp4" => std::fs::write(&tmp, b"").unwrap(),
        "random.mp4" => {
            let bytes: Vec<u8> = (0..65536u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect();
            std::fs::write(&tmp, bytes).unwrap();
        }
        "truncated.mp4" => {
            let full = std::fs::read(sample("av-320x240.mp4")).unwrap();
            std::fs::write(&tmp, &full[..full.len() / 2]).unwrap();
        }
        other => panic!("unknown sample {other}"),
    }
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// Runs ffmpeg with `args` then `out` (for tests making runner-like outputs).
pub fn run_ffmpeg(args: &[&str], out: &Path) {
    ffmpeg(args, out);
}
