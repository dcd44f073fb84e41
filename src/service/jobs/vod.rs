//! `vod-web-video-transcoding`, `vod-hls-transcoding` and `vod-audio-merge-transcoding`
//! completions: thin adapters over [`crate::service::renditions`], which stores the
//! files under the video's folder, rewrites the HLS media playlist, rebuilds the master
//! playlist and moves the video's state.
//!
//! The audio merge (`vod-audio-merge-transcoding`, [`Mp4Kind::MergedAudio`]) is the
//! audio source with its cover image as a still video (PeerTube's "optimize" step for
//! audio uploads), the `max-quality` input of the HLS children (`service::inputs`).
//! With web videos on it is the top web-video rendition; with web videos off it is an
//! intermediate file: never listed or served, deleted once every job of the video
//! ended (`renditions::refresh_state`), as PeerTube deletes web-video files then.

use super::RunnerUpload;
use super::per_type::{CompletionError, take, video_of};
use crate::domain::job::Job;
use crate::service::Context;
use crate::service::renditions::{self, Mp4Kind};

fn resolution(r: u32) -> Result<i32, CompletionError> {
    i32::try_from(r).map_err(|_| CompletionError(format!("resolution {r} is out of range")))
}

/// Stores the MP4 of a web-video or audio-merge job at `output.resolution`.
pub async fn store_mp4(
    ctx: &Context,
    job: &Job,
    output_resolution: u32,
    kind: Mp4Kind,
    mut upload: RunnerUpload,
) -> Result<(), CompletionError> {
    let video_id = video_of(job)?;
    let video = take(&mut upload, "videoFile")?;
    let res = resolution(output_resolution)?;
    renditions::store_mp4(ctx, video_id, res, video.file, kind).await?;
    Ok(())
}

/// Stores the fragmented MP4 and media playlist of an HLS job at `output.resolution`.
pub async fn store_hls(
    ctx: &Context,
    job: &Job,
    output_resolution: u32,
    mut upload: RunnerUpload,
) -> Result<(), CompletionError> {
    let video_id = video_of(job)?;
    let video = take(&mut upload, "videoFile")?;
    let playlist = take(&mut upload, "resolutionPlaylistFile")?;
    let res = resolution(output_resolution)?;
    renditions::store_hls(ctx, video_id, res, video.file, playlist.file).await?;
    Ok(())
}
