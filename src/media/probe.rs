//! ffprobe: the command (hostile input confined to local files and a list of container
//! demuxers) and a pure parser of its JSON into [`MediaInfo`], tested on captured
//! outputs in `tests/fixtures/ffprobe/`.

use serde::Deserialize;

use super::codecs::{audio_codec_string, video_codec_string};

/// Demuxers ffprobe/ffmpeg may use on uploads. Playlist-like formats (hls, concat,
/// image sequences…) are left out: they could make ffmpeg open other local files or
/// hosts while probing hostile input.
pub const DEMUXER_WHITELIST: &str =
    "mov,matroska,avi,mpegts,mpeg,mp3,flac,ogg,wav,aac,flv,asf,mxf,dv,ivf,m4v,h264,hevc,aiff,amr";

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

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    streams: Vec<RawStream>,
    format: Option<RawFormat>,
}

#[derive(Deserialize)]
struct RawFormat {
    #[serde(default)]
    format_name: String,
    duration: Option<String>,
    size: Option<String>,
    bit_rate: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawStream {
    #[serde(default)]
    codec_type: String,
    #[serde(default)]
    codec_name: String,
    #[serde(default)]
    codec_tag_string: String,
    #[serde(default)]
    profile: String,
    level: Option<i64>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    bit_rate: Option<String>,
    #[serde(default)]
    disposition: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    tags: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
}

/// Parses `"N/D"` into N/D when both are positive.
fn ratio(s: Option<&str>) -> Option<f64> {
    let (n, d) = s?.split_once('/')?;
    let (n, d): (f64, f64) = (n.trim().parse().ok()?, d.trim().parse().ok()?);
    (n > 0.0 && d > 0.0).then_some(n / d)
}

fn number<T: std::str::FromStr>(s: Option<&str>) -> Option<T> {
    s?.trim().parse().ok()
}

impl RawStream {
    fn rotation(&self) -> i32 {
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

    fn is_still_image(&self) -> bool {
        IMAGE_CODECS.contains(&self.codec_name.as_str())
            || self
                .disposition
                .get("attached_pic")
                .and_then(serde_json::Value::as_i64)
                == Some(1)
    }

    fn video(&self) -> VideoStream {
        let rotation = self.rotation();
        let (w, h) = (self.width.unwrap_or(0), self.height.unwrap_or(0));
        let (width, height) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
        let fps =
            ratio(self.avg_frame_rate.as_deref()).or_else(|| ratio(self.r_frame_rate.as_deref()));
        VideoStream {
            codec: self.codec_name.clone(),
            width,
            height,
            fps: fps.filter(|f| f.is_finite() && *f < 1000.0),
            rotation,
            bit_rate: number(self.bit_rate.as_deref()),
            codec_string: video_codec_string(
                &self.codec_name,
                &self.codec_tag_string,
                &self.profile,
                self.level.unwrap_or(-1),
            ),
            is_still_image: self.is_still_image(),
        }
    }
}

/// Parses `ffprobe -show_format -show_streams -of json` output.
pub fn parse(json: &[u8]) -> Result<MediaInfo, ParseError> {
    let raw_value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| ParseError::Json(e.to_string()))?;
    let raw: Raw =
        serde_json::from_value(raw_value.clone()).map_err(|e| ParseError::Json(e.to_string()))?;
    let videos: Vec<&RawStream> = raw
        .streams
        .iter()
        .filter(|s| s.codec_type == "video")
        .collect();
    let video = videos
        .iter()
        .find(|s| !s.is_still_image())
        .or_else(|| videos.first())
        .map(|s| s.video());
    let audios: Vec<&RawStream> = raw
        .streams
        .iter()
        .filter(|s| s.codec_type == "audio")
        .collect();
    let audio = audios.first().map(|s| AudioStream {
        codec: s.codec_name.clone(),
        bit_rate: number(s.bit_rate.as_deref()),
        codec_string: audio_codec_string(&s.codec_name, &s.profile),
    });
    if video.is_none() && audio.is_none() {
        return Err(ParseError::NoMediaStreams);
    }
    let format = raw.format;
    Ok(MediaInfo {
        format_name: format
            .as_ref()
            .map(|f| f.format_name.clone())
            .unwrap_or_default(),
        duration: format
            .as_ref()
            .and_then(|f| number::<f64>(f.duration.as_deref()))
            .filter(|d| d.is_finite() && *d >= 0.0),
        size: format.as_ref().and_then(|f| number(f.size.as_deref())),
        bit_rate: format.as_ref().and_then(|f| number(f.bit_rate.as_deref())),
        video,
        audio,
        audio_streams: audios.len(),
        raw: raw_value,
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

    #[test]
    fn junk_and_streamless_outputs_are_errors_not_panics() {
        assert!(matches!(parse(b"not json"), Err(ParseError::Json(_))));
        assert!(matches!(parse(b"[]"), Err(ParseError::Json(_))));
        assert_eq!(
            parse(br#"{"streams":[],"format":{}}"#),
            Err(ParseError::NoMediaStreams)
        );
        assert_eq!(
            parse(br#"{"streams":[{"codec_type":"data"}]}"#),
            Err(ParseError::NoMediaStreams)
        );
        let odd = parse(
            br#"{"streams":[{"codec_type":"video","codec_name":"h264","width":0,"height":0,"avg_frame_rate":"0/0","r_frame_rate":"30/0"}],"format":{"duration":"N/A"}}"#,
        )
        .unwrap();
        assert_eq!(odd.video.as_ref().unwrap().fps, None);
        assert_eq!(odd.duration, None);
        assert_eq!(odd.resolution(), 0);
    }
}
