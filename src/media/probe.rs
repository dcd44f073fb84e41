//! ffprobe: the command (hostile input confined to local files and a list of container
//! demuxers) and a pure parser of its JSON into [`MediaInfo`], tested on captured
//! outputs in `tests/fixtures/ffprobe/` and on the sample corpus (`tests/probe_corpus.rs`).
//!
//! The JSON is read with the `ffprobe` crate's types ([`ffprobe::FfProbe`]; the crate's
//! own runner is not used: ours has a timeout, kills on drop and whitelists protocols
//! and demuxers). One part stays ours, read from the same JSON by [`Rotations`]: the
//! rotation of a stream. The crate's `SideData` keeps only `side_data_type`, dropping
//! the display matrix's `rotation`, and its `StreamTags` has no `rotate`, so a phone
//! video recorded sideways (`rotated-90-1280x720` in the corpus) would be taken for
//! landscape: wrong resolution, wrong thumbnail and rendition sizes.

use serde::Deserialize;

use super::codecs::{audio_codec_string, video_codec_string};

/// Demuxers ffprobe/ffmpeg may use on uploads. Playlist-like formats (hls, concat,
/// image sequences…) are left out: they could make ffmpeg open other local files or
/// hosts while probing hostile input.
pub const DEMUXER_WHITELIST: &str =
    "mov,matroska,avi,mpegts,mpeg,mp3,flac,ogg,wav,aac,flv,asf,mxf,dv,ivf,m4v,h264,hevc,aiff,amr";

/// The demuxers an image probe may use (studio watermarks, storyboards).
pub const IMAGE_DEMUXERS: &str = "png_pipe,jpeg_pipe,webp_pipe,gif";

/// Codecs that make a "video" stream a still image (cover art).
const IMAGE_CODECS: &[&str] = &[
    "ansi",
    "apng",
    "bintext",
    "bmp",
    "brender_pix",
    "dpx",
    "exr",
    "fits",
    "gem",
    "gif",
    "jpeg2000",
    "jpegls",
    "mjpeg",
    "mjpegb",
    "msp2",
    "pam",
    "pbm",
    "pcx",
    "pfm",
    "pgm",
    "pgmyuv",
    "pgx",
    "photocd",
    "pictor",
    "png",
    "ppm",
    "psd",
    "qoi",
    "sgi",
    "sunrast",
    "svg",
    "targa",
    "tiff",
    "txd",
    "webp",
    "xbin",
    "xbm",
    "xface",
    "xpm",
    "xwd",
];

/// A video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoStream {
    /// ffprobe `codec_name`.
    pub codec: String,
    /// Displayed width (after rotation).
    pub width: u32,
    /// Displayed height (after rotation).
    pub height: u32,
    /// Frames per second, when known.
    pub fps: Option<f64>,
    /// Rotation in degrees from the display matrix or the `rotate` tag.
    pub rotation: i32,
    /// Bits per second, when known.
    pub bit_rate: Option<u64>,
    /// RFC 6381 codec string, when known.
    pub codec_string: Option<String>,
    /// A still image (cover art, attached picture).
    pub is_still_image: bool,
}

/// An audio stream.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioStream {
    /// ffprobe `codec_name`.
    pub codec: String,
    /// Bits per second, when known.
    pub bit_rate: Option<u64>,
    /// RFC 6381 codec string, when known.
    pub codec_string: Option<String>,
}

/// What probing a file tells.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaInfo {
    /// ffprobe `format_name`.
    pub format_name: String,
    /// Seconds, when known.
    pub duration: Option<f64>,
    /// Bytes, when known.
    pub size: Option<u64>,
    /// Overall bits per second, when known.
    pub bit_rate: Option<u64>,
    /// The first real video stream (cover art only if there is nothing else).
    pub video: Option<VideoStream>,
    /// The first audio stream.
    pub audio: Option<AudioStream>,
    /// Number of audio streams.
    pub audio_streams: usize,
    /// The raw ffprobe JSON, kept as rendition metadata.
    pub raw: serde_json::Value,
}

impl MediaInfo {
    /// PeerTube's resolution: the shorter displayed side; 0 without a real video stream.
    pub fn resolution(&self) -> u32 {
        match &self.video {
            Some(v) if !v.is_still_image => v.width.min(v.height),
            _ => 0,
        }
    }

    /// No moving picture: audio, possibly with cover art.
    pub fn is_audio_only(&self) -> bool {
        self.video.as_ref().is_none_or(|v| v.is_still_image)
    }

    /// Whether there is sound.
    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// The `CODECS` attribute value (`avc1.64001f,mp4a.40.2`), or `None` when a present
    /// stream's codec has no known mapping (then the attribute must be left out).
    pub fn codecs_string(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(v) = self.video.as_ref().filter(|v| !v.is_still_image) {
            parts.push(v.codec_string.clone()?);
        }
        if let Some(a) = &self.audio {
            parts.push(a.codec_string.clone()?);
        }
        (!parts.is_empty()).then(|| parts.join(","))
    }
}

/// Why a probe output could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not ffprobe JSON.
    #[error("unreadable ffprobe output: {0}")]
    Json(String),
    /// Neither an audio nor a video stream.
    #[error("the file has neither an audio nor a video stream")]
    NoMediaStreams,
}

/// What the crate's types drop (see the module documentation): per stream, the
/// display matrix side data and the tags, to find the rotation.
#[derive(Deserialize)]
struct Rotations {
    #[serde(default)]
    streams: Vec<StreamRotation>,
}

#[derive(Deserialize, Default)]
struct StreamRotation {
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
    #[serde(default)]
    tags: serde_json::Map<String, serde_json::Value>,
}

impl StreamRotation {
    /// Degrees in 0..360: the display matrix first (ffmpeg 5 and later), else the
    /// `rotate` tag (older muxers and ffmpeg versions).
    fn degrees(&self) -> i32 {
        let from_matrix = self
            .side_data_list
            .iter()
            .find_map(|d| d.get("rotation").and_then(serde_json::Value::as_f64));
        let from_tag = self
            .tags
            .get("rotate")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<f64>().ok());
        from_matrix
            .or(from_tag)
            .map_or(0, |r| (r.round() as i32).rem_euclid(360))
    }
}

/// Parses `"N/D"` into N/D when both are positive.
fn ratio(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/')?;
    let (n, d): (f64, f64) = (n.trim().parse().ok()?, d.trim().parse().ok()?);
    (n > 0.0 && d > 0.0).then_some(n / d)
}

fn number<T: std::str::FromStr>(s: Option<&str>) -> Option<T> {
    s?.trim().parse().ok()
}

fn dimension(v: Option<i64>) -> u32 {
    v.and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

fn is_still_image(s: &ffprobe::Stream) -> bool {
    s.codec_name
        .as_deref()
        .is_some_and(|c| IMAGE_CODECS.contains(&c))
        || s.disposition.attached_pic == 1
}

fn video(s: &ffprobe::Stream, rotation: i32) -> VideoStream {
    let (w, h) = (dimension(s.width), dimension(s.height));
    let (width, height) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
    let fps = ratio(&s.avg_frame_rate).or_else(|| ratio(&s.r_frame_rate));
    let codec = s.codec_name.clone().unwrap_or_default();
    VideoStream {
        codec_string: video_codec_string(
            &codec,
            &s.codec_tag_string,
            s.profile.as_deref().unwrap_or_default(),
            s.level.unwrap_or(-1),
        ),
        codec,
        width,
        height,
        fps: fps.filter(|f| f.is_finite() && *f < 1000.0),
        rotation,
        bit_rate: number(s.bit_rate.as_deref()),
        is_still_image: is_still_image(s),
    }
}

/// Parses `ffprobe -show_format -show_streams -of json` output.
pub fn parse(json: &[u8]) -> Result<MediaInfo, ParseError> {
    let raw: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| ParseError::Json(e.to_string()))?;
    let probe: ffprobe::FfProbe =
        serde_json::from_value(raw.clone()).map_err(|e| ParseError::Json(e.to_string()))?;
    let rotations: Rotations =
        serde_json::from_value(raw.clone()).map_err(|e| ParseError::Json(e.to_string()))?;
    let rotation_of = |position: usize| {
        rotations
            .streams
            .get(position)
            .map_or(0, StreamRotation::degrees)
    };
    let of_type = |kind: &'static str| {
        probe
            .streams
            .iter()
            .enumerate()
            .filter(move |(_, s)| s.codec_type.as_deref() == Some(kind))
    };
    let videos: Vec<(usize, &ffprobe::Stream)> = of_type("video").collect();
    let video = videos
        .iter()
        .find(|(_, s)| !is_still_image(s))
        .or_else(|| videos.first())
        .map(|(i, s)| video(s, rotation_of(*i)));
    let audios: Vec<&ffprobe::Stream> = of_type("audio").map(|(_, s)| s).collect();
    let audio = audios.first().map(|s| {
        let codec = s.codec_name.clone().unwrap_or_default();
        AudioStream {
            codec_string: audio_codec_string(&codec, s.profile.as_deref().unwrap_or_default()),
            codec,
            bit_rate: number(s.bit_rate.as_deref()),
        }
    });
    if video.is_none() && audio.is_none() {
        return Err(ParseError::NoMediaStreams);
    }
    let format = &probe.format;
    Ok(MediaInfo {
        format_name: format.format_name.clone(),
        duration: number::<f64>(format.duration.as_deref()).filter(|d| d.is_finite() && *d >= 0.0),
        size: number(Some(&format.size)),
        bit_rate: number(format.bit_rate.as_deref()),
        video,
        audio,
        audio_streams: audios.len(),
        raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> MediaInfo {
        let path = format!(
            "{}/tests/fixtures/ffprobe/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        parse(&std::fs::read(&path).unwrap()).unwrap()
    }

    #[test]
    fn a_720p30_h264_aac_upload() {
        let m = fixture("h264-aac-720p30");
        let v = m.video.as_ref().unwrap();
        assert_eq!((v.width, v.height, v.fps), (1280, 720, Some(30.0)));
        assert_eq!(m.resolution(), 720);
        assert!(!m.is_audio_only() && m.has_audio());
        assert_eq!(m.codecs_string().as_deref(), Some("avc1.64001f,mp4a.40.2"));
        assert!((m.duration.unwrap() - 2.0).abs() < 0.1);
        assert!(m.size.unwrap() > 0);
    }

    #[test]
    fn frame_rates_23_976_and_60() {
        let m = fixture("h264-aac-360p23.976");
        assert!((m.video.unwrap().fps.unwrap() - 23.976).abs() < 0.001);
        assert_eq!(fixture("h264-aac-1080p60").video.unwrap().fps, Some(60.0));
    }

    #[test]
    fn rotation_swaps_the_displayed_dimensions() {
        let m = fixture("rotated-90-1280x720");
        let v = m.video.unwrap();
        assert_eq!((v.width, v.height, v.rotation), (720, 1280, 90));
        let p = fixture("portrait-720x1280").video.unwrap();
        assert_eq!((p.width, p.height, p.rotation), (720, 1280, 0));
    }

    #[test]
    fn audio_only_and_cover_art_are_audio_files() {
        let m = fixture("audio-only");
        assert!(m.is_audio_only() && m.has_audio());
        assert_eq!(m.resolution(), 0);
        assert_eq!(m.codecs_string().as_deref(), Some("mp4a.40.34"));
        let c = fixture("audio-cover-art");
        assert!(c.video.as_ref().unwrap().is_still_image);
        assert!(c.is_audio_only());
        assert_eq!(c.resolution(), 0);
    }

    #[test]
    fn webm_and_silent_video() {
        let m = fixture("vp9-opus-480p30");
        assert_eq!(m.codecs_string().as_deref(), Some("vp09.00.50.08,opus"));
        let s = fixture("h264-noaudio-240p25");
        assert!(!s.has_audio());
        assert_eq!(s.resolution(), 240);
        assert_eq!(s.codecs_string().as_deref(), Some("avc1.640015"));
    }

    #[test]
    fn a_lone_image_is_a_still_with_no_audio() {
        let m = fixture("cover");
        assert!(m.is_audio_only() && !m.has_audio());
    }

    /// A document with every field the crate's types require, and `streams`.
    fn document(streams: &str, duration: &str) -> Vec<u8> {
        format!(
            r#"{{"streams":[{streams}],"format":{{"filename":"x","nb_streams":1,"nb_programs":0,
            "format_name":"mov","format_long_name":"QuickTime","duration":"{duration}","probe_score":100}}}}"#
        )
        .into_bytes()
    }

    const STREAM_FIELDS: &str = r#""index":0,"codec_tag_string":"[0][0][0][0]","codec_tag":"0x0000",
        "time_base":"1/1000","disposition":{"default":1,"dub":0,"original":0,"comment":0,
        "lyrics":0,"karaoke":0,"forced":0,"hearing_impaired":0,"visual_impaired":0,
        "clean_effects":0,"attached_pic":0,"timed_thumbnails":0}"#;

    #[test]
    fn junk_and_streamless_outputs_are_errors_not_panics() {
        assert!(matches!(parse(b"not json"), Err(ParseError::Json(_))));
        assert!(matches!(parse(b"[]"), Err(ParseError::Json(_))));
        assert!(matches!(parse(b"{}"), Err(ParseError::Json(_))));
        assert_eq!(parse(&document("", "1.0")), Err(ParseError::NoMediaStreams));
        let data = format!(
            r#"{{{STREAM_FIELDS},"codec_type":"data","r_frame_rate":"0/0","avg_frame_rate":"0/0"}}"#
        );
        assert_eq!(
            parse(&document(&data, "1.0")),
            Err(ParseError::NoMediaStreams)
        );
        let odd = format!(
            r#"{{{STREAM_FIELDS},"codec_type":"video","codec_name":"h264","width":0,"height":0,
            "avg_frame_rate":"0/0","r_frame_rate":"30/0"}}"#
        );
        let odd = parse(&document(&odd, "N/A")).unwrap();
        assert_eq!(odd.video.as_ref().unwrap().fps, None);
        assert_eq!(odd.duration, None);
        assert_eq!(odd.resolution(), 0);
    }

    #[test]
    fn every_checked_in_fixture_is_read_by_the_crates_types() {
        let dir = format!("{}/tests/fixtures/ffprobe", env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let typed: Result<ffprobe::FfProbe, _> = serde_json::from_slice(&bytes);
            assert!(typed.is_ok(), "{}: {typed:?}", path.display());
            parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
        assert!(seen >= 18, "{seen} fixtures");
    }

    #[test]
    fn the_crates_types_lose_the_rotation_which_ours_keep() {
        let path = format!(
            "{}/tests/fixtures/ffprobe/rotated-90-1280x720.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let typed: ffprobe::FfProbe =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let round_trip = serde_json::to_string(&typed).unwrap();
        assert!(round_trip.contains("Display Matrix"));
        assert!(!round_trip.contains("\"rotation\""), "{round_trip}");
        assert_eq!(fixture("rotated-90-1280x720").resolution(), 720);
    }

    #[test]
    fn the_rest_of_the_corpus() {
        let ts = fixture("h264-aac-720p");
        assert_eq!((ts.resolution(), ts.has_audio()), (720, true));
        assert!(ts.format_name.contains("mpegts"));
        let avi = fixture("mpeg4-mp3-480p");
        assert_eq!(avi.resolution(), 480);
        assert_eq!(avi.audio.as_ref().unwrap().codec, "mp3");
        let two = fixture("h264-2audio-720p50");
        assert_eq!((two.audio_streams, two.video.unwrap().fps), (2, Some(50.0)));
        // ffmpeg's test source rounds the odd size down to 320x240 (4:4:4, no audio).
        let odd = fixture("odd-321x241");
        assert_eq!((odd.resolution(), odd.has_audio()), (240, false));
        assert_eq!(fixture("tiny-96x64").resolution(), 64);
        for audio in ["audio-only-opus", "audio-only-flac"] {
            let a = fixture(audio);
            assert!(a.is_audio_only() && a.has_audio(), "{audio}");
            assert!(a.duration.unwrap() > 1.0, "{audio}");
        }
        let vfr = fixture("vfr-360p");
        assert_eq!(vfr.resolution(), 360);
    }
}
