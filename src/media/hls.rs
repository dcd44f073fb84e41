//! HLS playlists: the master playlist written from known rendition metadata (no
//! probing), and the checks and rewrite applied to media playlists uploaded by runners.

use std::fmt::Write;

/// One rendition in the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Media playlist URI relative to the master (a bare file name).
    pub uri: String,
    /// Peak bits per second.
    pub bandwidth: u64,
    /// Average bits per second, when known.
    pub average_bandwidth: Option<u64>,
    /// Displayed width and height; `None` for audio-only renditions.
    pub resolution: Option<(u32, u32)>,
    /// Frames per second, when known.
    pub frame_rate: Option<f64>,
    /// RFC 6381 codecs, when known.
    pub codecs: Option<String>,
}

/// Writes a master playlist listing `variants` by descending bandwidth.
pub fn master_playlist(variants: &[Variant]) -> String {
    let mut sorted: Vec<&Variant> = variants.iter().collect();
    sorted.sort_by(|a, b| {
        b.bandwidth
            .cmp(&a.bandwidth)
            .then_with(|| a.uri.cmp(&b.uri))
    });
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in sorted {
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth.max(1));
        if let Some(avg) = v.average_bandwidth {
            let _ = write!(out, ",AVERAGE-BANDWIDTH={}", avg.max(1));
        }
        if let Some((w, h)) = v.resolution {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        if let Some(fps) = v.frame_rate.filter(|f| *f > 0.0) {
            let _ = write!(out, ",FRAME-RATE={fps:.3}");
        }
        if let Some(codecs) = &v.codecs {
            let _ = write!(out, ",CODECS=\"{codecs}\"");
        }
        let _ = writeln!(out, "\n{}", v.uri);
    }
    out
}

/// Why an uploaded media playlist was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaylistError {
    /// Not an HLS playlist.
    #[error("the resolution playlist is not an HLS playlist")]
    NotAPlaylist,
    /// It references something other than one local file name.
    #[error("the resolution playlist must reference only the uploaded video file, found `{0}`")]
    ForeignReference(String),
    /// It references no file at all.
    #[error("the resolution playlist references no media file")]
    NoReference,
}

/// A checked media playlist with its file references renamed.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist {
    /// The rewritten text.
    pub text: String,
    /// Peak bits per second over segments (from byte ranges and durations).
    pub peak_bandwidth: Option<u64>,
    /// Average bits per second over the whole playlist.
    pub average_bandwidth: Option<u64>,
}

fn is_bare_file_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Checks a runner's media playlist (every URI — segment lines and `URI="…"`
/// attributes — must be one and the same bare file name, the uploaded fMP4) and points
/// those references at `stored_name`. Also measures bandwidth from `#EXTINF` durations
/// and `#EXT-X-BYTERANGE` lengths.
pub fn rewrite_media_playlist(
    text: &str,
    stored_name: &str,
) -> Result<MediaPlaylist, PlaylistError> {
    if !text.trim_start_matches('\u{feff}').starts_with("#EXTM3U") {
        return Err(PlaylistError::NotAPlaylist);
    }
    let mut referenced: Option<String> = None;
    let mut check = |uri: &str| -> Result<(), PlaylistError> {
        if !is_bare_file_name(uri) {
            return Err(PlaylistError::ForeignReference(
                uri.chars().take(100).collect(),
            ));
        }
        match &referenced {
            Some(r) if r != uri => Err(PlaylistError::ForeignReference(
                uri.chars().take(100).collect(),
            )),
            Some(_) => Ok(()),
            None => {
                referenced = Some(uri.to_owned());
                Ok(())
            }
        }
    };
    let mut out = String::with_capacity(text.len());
    let (mut pending_duration, mut pending_len): (Option<f64>, Option<u64>) = (None, None);
    let (mut peak, mut total_bits, mut total_secs) = (0f64, 0f64, 0f64);
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            out.push('\n');
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('#') {
            if let Some(d) = rest.strip_prefix("EXTINF:") {
                pending_duration = d.split(',').next().and_then(|x| x.trim().parse().ok());
            } else if let Some(r) = rest.strip_prefix("EXT-X-BYTERANGE:") {
                pending_len = r.split('@').next().and_then(|x| x.trim().parse().ok());
            }
            if let Some(start) = trimmed.find("URI=\"") {
                let after = &trimmed[start + 5..];
                let end = after.find('"').ok_or(PlaylistError::NotAPlaylist)?;
                check(&after[..end])?;
                out.push_str(&trimmed[..start + 5]);
                out.push_str(stored_name);
                out.push_str(&after[end..]);
            } else {
                out.push_str(trimmed);
            }
            out.push('\n');
            continue;
        }
        check(trimmed)?;
        out.push_str(stored_name);
        out.push('\n');
        if let (Some(d), Some(len)) = (pending_duration.take(), pending_len.take())
            && d > 0.0
        {
            let bits = len as f64 * 8.0;
            peak = peak.max(bits / d);
            total_bits += bits;
            total_secs += d;
        }
    }
    if referenced.is_none() {
        return Err(PlaylistError::NoReference);
    }
    Ok(MediaPlaylist {
        text: out,
        peak_bandwidth: (peak > 0.0).then(|| peak.ceil() as u64),
        average_bandwidth: (total_secs > 0.0).then(|| (total_bits / total_secs).ceil() as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNER_PLAYLIST: &str = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"3f1c1b2e-8a9b-4c3d-9e8f-0a1b2c3d4e5f-480-fragmented.mp4\",BYTERANGE=\"1200@0\"\n#EXTINF:4.000000,\n#EXT-X-BYTERANGE:400000@1200\n3f1c1b2e-8a9b-4c3d-9e8f-0a1b2c3d4e5f-480-fragmented.mp4\n#EXTINF:2.000000,\n#EXT-X-BYTERANGE:300000@401200\n3f1c1b2e-8a9b-4c3d-9e8f-0a1b2c3d4e5f-480-fragmented.mp4\n#EXT-X-ENDLIST\n";

    #[test]
    fn runner_playlists_are_renamed_and_measured() {
        let p = rewrite_media_playlist(RUNNER_PLAYLIST, "video-480-fragmented.mp4").unwrap();
        assert!(!p.text.contains("3f1c1b2e"));
        assert_eq!(p.text.matches("video-480-fragmented.mp4").count(), 3);
        assert!(
            p.text
                .contains("#EXT-X-MAP:URI=\"video-480-fragmented.mp4\",BYTERANGE=\"1200@0\"")
        );
        // 300000 bytes over 2 s is the peak; 700000 bytes over 6 s the average.
        assert_eq!(p.peak_bandwidth, Some(1_200_000));
        assert_eq!(p.average_bandwidth, Some(933_334));
    }

    #[test]
    fn playlists_reaching_elsewhere_are_refused() {
        for bad in [
            "#EXTM3U\n#EXTINF:4,\nhttp://evil/x.ts\n",
            "#EXTM3U\n#EXTINF:4,\n../../etc/passwd\n",
            "#EXTM3U\n#EXT-X-MAP:URI=\"/etc/passwd\"\n#EXTINF:4,\na.mp4\n",
            "#EXTM3U\n#EXTINF:4,\na.mp4\n#EXTINF:4,\nb.mp4\n",
        ] {
            assert!(
                matches!(
                    rewrite_media_playlist(bad, "x.mp4"),
                    Err(PlaylistError::ForeignReference(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            rewrite_media_playlist("hello", "x"),
            Err(PlaylistError::NotAPlaylist)
        );
        assert_eq!(
            rewrite_media_playlist("#EXTM3U\n#EXT-X-ENDLIST\n", "x"),
            Err(PlaylistError::NoReference)
        );
    }

    #[test]
    fn master_lists_renditions_by_descending_bandwidth() {
        let v = |uri: &str, bw, res| Variant {
            uri: uri.to_owned(),
            bandwidth: bw,
            average_bandwidth: Some(bw / 2),
            resolution: res,
            frame_rate: Some(30.0),
            codecs: Some("avc1.64001f,mp4a.40.2".to_owned()),
        };
        let text = master_playlist(&[
            v("a-360.m3u8", 800_000, Some((640, 360))),
            v("a-720.m3u8", 2_500_000, Some((1280, 720))),
        ]);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=2500000,AVERAGE-BANDWIDTH=1250000,RESOLUTION=1280x720,FRAME-RATE=30.000,CODECS=\"avc1.64001f,mp4a.40.2\"\na-720.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=800000,AVERAGE-BANDWIDTH=400000,RESOLUTION=640x360,FRAME-RATE=30.000,CODECS=\"avc1.64001f,mp4a.40.2\"\na-360.m3u8\n"
        );
    }
}
