//! `video-transcription` completion (`runner-protocol.md` 1.8, 3.6): a thin adapter
//! over [`crate::service::captions`]. The detected language (`payload[inputLanguage]`)
//! must be a valid tag accepted by `captions.languages`, and the `payload[vttFile]` a
//! UTF-8 WebVTT file within `captions.max_bytes`; otherwise the job fails with the
//! reason (the Django library completed it silently, storing nothing).

use super::RunnerUpload;
use super::per_type::{CompletionError, take, video_of};
use crate::domain::job::Job;
use crate::service::Context;
use crate::service::captions::{self, Origin};

/// Stores the caption a transcription job's runner uploaded.
pub async fn store_caption(
    ctx: &Context,
    job: &Job,
    mut upload: RunnerUpload,
) -> Result<(), CompletionError> {
    let video_id = video_of(job)?;
    let detected = upload
        .fields
        .get("inputLanguage")
        .map(String::as_str)
        .unwrap_or_default();
    let language = captions::language(ctx, detected)
        .map_err(|e| CompletionError(format!("the detected language is refused: {e}")))?;
    let vtt = take(&mut upload, "vttFile")?;
    captions::store(ctx, video_id, language, Origin::Job(job.id), vtt.file).await?;
    Ok(())
}
