//! RFC 6381 `CODECS` strings for HLS master playlists, from ffprobe stream fields.
//! Fixes the reference library's faults: Constrained Baseline is `42E0`, `hvc1` is
//! supported, AV1 levels are two decimal digits of `seq_level_idx`.

/// The video part, e.g. `avc1.64001f`. `None` when the codec has no known mapping.
pub fn video_codec_string(codec: &str, tag: &str, profile: &str, level: i64) -> Option<String> {
    match codec {
        "h264" => {
            let profile_hex = match profile {
                "Constrained Baseline" => "42e0",
                "Baseline" => "4200",
                "Main" => "4d40",
                "Extended" => "5800",
                "High" => "6400",
                "High 10" | "High 10 Intra" => "6e00",
                "High 4:2:2" | "High 4:2:2 Intra" => "7a00",
                "High 4:4:4 Predictive" | "High 4:4:4 Intra" => "f400",
                _ => "6400",
            };
            let level = if (1..=0xff).contains(&level) {
                level
            } else {
                31
            };
            Some(format!("avc1.{profile_hex}{level:02x}"))
        }
        "hevc" => {
            let fourcc = if tag == "hev1" { "hev1" } else { "hvc1" };
            let (profile_idc, compat) = match profile {
                "Main 10" => (2, 4),
                "Rext" => (4, 10),
                _ => (1, 6),
            };
            let level = if level > 0 { level } else { 93 };
            Some(format!("{fourcc}.{profile_idc}.{compat}.L{level}.B0"))
        }
        "vp9" => {
            let profile_n = match profile {
                "Profile 1" => 1,
                "Profile 2" => 2,
                "Profile 3" => 3,
                _ => 0,
            };
            let depth = if profile_n >= 2 { 10 } else { 8 };
            let level = if level > 0 { level } else { 50 };
            Some(format!("vp09.{profile_n:02}.{level:02}.{depth:02}"))
        }
        "av1" => {
            let profile_n = match profile {
                "High" => 1,
                "Professional" => 2,
                _ => 0,
            };
            let level = if level >= 0 { level } else { 8 };
            Some(format!("av01.{profile_n}.{level:02}M.08"))
        }
        _ => None,
    }
}

/// The audio part, e.g. `mp4a.40.2`. `None` when the codec has no known mapping.
pub fn audio_codec_string(codec: &str, profile: &str) -> Option<String> {
    let s = match codec {
        "aac" => match profile {
            "HE-AAC" => "mp4a.40.5",
            "HE-AACv2" => "mp4a.40.29",
            _ => "mp4a.40.2",
        },
        "mp3" => "mp4a.40.34",
        "opus" => "opus",
        "vorbis" => "vorbis",
        "flac" => "fLaC",
        "ac3" => "ac-3",
        "eac3" => "ec-3",
        _ => return None,
    };
    Some(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_profiles_and_levels() {
        assert_eq!(
            video_codec_string("h264", "avc1", "High", 31).as_deref(),
            Some("avc1.64001f")
        );
        assert_eq!(
            video_codec_string("h264", "avc1", "Main", 42).as_deref(),
            Some("avc1.4d402a")
        );
        assert_eq!(
            video_codec_string("h264", "avc1", "Constrained Baseline", 30).as_deref(),
            Some("avc1.42e01e")
        );
        assert_eq!(
            video_codec_string("h264", "avc1", "Baseline", 1).as_deref(),
            Some("avc1.420001")
        );
    }

    #[test]
    fn other_video_codecs() {
        assert_eq!(
            video_codec_string("hevc", "hvc1", "Main", 120).as_deref(),
            Some("hvc1.1.6.L120.B0")
        );
        assert_eq!(
            video_codec_string("hevc", "hev1", "Main 10", 93).as_deref(),
            Some("hev1.2.4.L93.B0")
        );
        assert_eq!(
            video_codec_string("vp9", "", "Profile 0", -99).as_deref(),
            Some("vp09.00.50.08")
        );
        assert_eq!(
            video_codec_string("av1", "av01", "Main", 8).as_deref(),
            Some("av01.0.08M.08")
        );
        assert_eq!(video_codec_string("mpeg4", "", "", 0), None);
    }

    #[test]
    fn audio_codecs() {
        assert_eq!(
            audio_codec_string("aac", "LC").as_deref(),
            Some("mp4a.40.2")
        );
        assert_eq!(
            audio_codec_string("aac", "HE-AAC").as_deref(),
            Some("mp4a.40.5")
        );
        assert_eq!(audio_codec_string("mp3", "").as_deref(), Some("mp4a.40.34"));
        assert_eq!(audio_codec_string("opus", "").as_deref(), Some("opus"));
        assert_eq!(audio_codec_string("pcm_s16le", ""), None);
    }
}
