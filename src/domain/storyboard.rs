//! Storyboards: the sprite sheet of seek previews a `generate-video-storyboard` job
//! makes (`runner-protocol.md` 3.7), its geometry computed here as PeerTube computes it
//! (`server/core/lib/job-queue/handlers/generate-storyboard.ts`), so every runner makes
//! the same image, and the WebVTT thumbnails track (`#xywh=` cues) players read it by.

use super::payloads::{Size, Sprites};

/// Longer side of one sprite, in pixels (PeerTube's `STORYBOARD.SPRITE_MAX_SIZE`).
pub const SPRITE_MAX_SIZE: u32 = 192;
/// Most sprites per row or column (PeerTube's `STORYBOARD.SPRITES_MAX_EDGE_COUNT`).
pub const SPRITES_MAX_EDGE_COUNT: u32 = 11;
/// Videos shorter than this many seconds get no storyboard.
pub const MIN_DURATION: f64 = 3.0;

/// The geometry of the storyboard of a video of `width` × `height` pixels lasting
/// `duration` seconds, or `None` when it gets none (shorter than [`MIN_DURATION`], or
/// no picture).
pub fn sprites(width: u32, height: u32, duration: f64) -> Option<Sprites> {
    if width == 0 || height == 0 || !duration.is_finite() || duration < MIN_DURATION {
        return None;
    }
    let ratio = f64::from(width) / f64::from(height);
    let size = if height > width {
        Size {
            width: (f64::from(SPRITE_MAX_SIZE) * ratio).round() as u32,
            height: SPRITE_MAX_SIZE,
        }
    } else {
        Size {
            width: SPRITE_MAX_SIZE,
            height: (f64::from(SPRITE_MAX_SIZE) / ratio).round() as u32,
        }
    };
    let max_sprites = duration
        .ceil()
        .min(f64::from(SPRITES_MAX_EDGE_COUNT * SPRITES_MAX_EDGE_COUNT));
    let sprite_duration = (duration / max_sprites).ceil();
    let total = (duration / sprite_duration).ceil() as u32;
    Some(Sprites {
        size,
        count: grid(total)?,
        duration: sprite_duration,
    })
}

/// PeerTube's `findGridSize`: the first `width` × `height` (height ≤ width ≤
/// [`SPRITES_MAX_EDGE_COUNT`], by rows then columns) that holds `total` sprites.
fn grid(total: u32) -> Option<Size> {
    (1..=SPRITES_MAX_EDGE_COUNT).find_map(|height| {
        (height..=SPRITES_MAX_EDGE_COUNT)
            .find(|width| total <= height * width)
            .map(|width| Size { width, height })
    })
}

/// How many sprites of `sprites` cover `duration` seconds.
pub fn sprite_total(sprites: &Sprites, duration: f64) -> u32 {
    if sprites.duration <= 0.0 {
        return 0;
    }
    let fits = sprites.count.width * sprites.count.height;
    ((duration / sprites.duration).ceil() as u32).min(fits)
}

/// The WebVTT thumbnails track of a sprite sheet named `image` (resolved against the
/// track's own URL): one cue per sprite, `image#xywh=x,y,w,h`, left to right then top
/// to bottom, the last cue ending at `duration`.
pub fn thumbnails_track(sprites: &Sprites, duration: f64, image: &str) -> String {
    let mut vtt = String::from("WEBVTT\n");
    let (w, h) = (sprites.size.width, sprites.size.height);
    for i in 0..sprite_total(sprites, duration) {
        let start = f64::from(i) * sprites.duration;
        let end = (start + sprites.duration).min(duration);
        let (x, y) = ((i % sprites.count.width) * w, (i / sprites.count.width) * h);
        vtt.push_str(&format!(
            "\n{} --> {}\n{image}#xywh={x},{y},{w},{h}\n",
            timestamp(start),
            timestamp(end)
        ));
    }
    vtt
}

/// `hh:mm:ss.mmm`.
fn timestamp(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(width: u32, height: u32) -> Size {
        Size { width, height }
    }

    #[test]
    fn geometry_follows_peertube() {
        // 10 s landscape 16:9: one sprite a second, a 10 × 1 grid.
        let s = sprites(1280, 720, 10.0).unwrap();
        assert_eq!(s.size, size(192, 108));
        assert_eq!(s.count, size(10, 1));
        assert_eq!(s.duration, 1.0);
        // 10.2 s: 11 sprites (ceil), still one row.
        let s = sprites(1280, 720, 10.2).unwrap();
        assert_eq!((s.count, s.duration), (size(11, 1), 1.0));
        // 12 s: two rows of 6 (the first grid by rows then columns that holds 12).
        assert_eq!(sprites(640, 360, 12.0).unwrap().count, size(6, 2));
        // Portrait 9:16: the height is the longer side.
        assert_eq!(sprites(720, 1280, 30.0).unwrap().size, size(108, 192));
        // One hour: at most 121 sprites, ceil(3600 / 121) = 30 s each, 120 of them.
        let s = sprites(1920, 1080, 3600.0).unwrap();
        assert_eq!((s.count, s.duration), (size(11, 11), 30.0));
        assert_eq!(sprite_total(&s, 3600.0), 120);
    }

    #[test]
    fn short_or_pictureless_videos_get_none() {
        assert!(sprites(1280, 720, 2.9).is_none());
        assert!(sprites(0, 0, 60.0).is_none());
        assert!(sprites(1280, 720, f64::NAN).is_none());
    }

    #[test]
    fn the_track_has_one_cue_per_sprite_over_the_grid() {
        let s = sprites(640, 360, 12.5).unwrap();
        // 13 sprites of 1 s in a 7 × 2 grid.
        assert_eq!(s.count, size(7, 2));
        let vtt = thumbnails_track(&s, 12.5, "storyboard.jpg");
        assert!(vtt.starts_with(
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nstoryboard.jpg#xywh=0,0,192,108\n"
        ));
        assert!(
            vtt.contains("\n00:00:07.000 --> 00:00:08.000\nstoryboard.jpg#xywh=0,108,192,108\n")
        );
        assert!(
            vtt.ends_with("\n00:00:12.000 --> 00:00:12.500\nstoryboard.jpg#xywh=960,108,192,108\n")
        );
        assert_eq!(vtt.matches("#xywh=").count(), 13);
        assert_eq!(timestamp(3723.25), "01:02:03.250");
    }
}
