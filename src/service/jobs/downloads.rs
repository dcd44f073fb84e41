//! Input downloads (`runner-protocol.md` 2): which stored file a runner may fetch for a
//! job it holds.

use super::{JobCredentials, hold};
use crate::db;
use crate::domain::ids::VideoRef;
use crate::domain::lifecycle::RunnerCall;
use crate::error::ServiceError;
use crate::service::Context;
use crate::service::inputs::{self, InputKind};
use crate::storage::Delivery;

/// Input `kind` of video `video_ref` (a UUID or a numeric id, as the URL names it),
/// ready to send, for the job `creds` name, which must be PROCESSING and held by that
/// runner (the job-token check). Then, as PeerTube: [`ServiceError::InvalidVideoRef`]
/// when `video_ref` is no id, UUID or short UUID, 404 `Video not found` for an unknown
/// video, 403 `Job
/// is not associated to this video` when the job's private `videoUUID` is another
/// video's, 400 `File is not associated to this edition task` for a task file no task
/// of the job names.
pub async fn deliver_input(
    ctx: &Context,
    creds: &JobCredentials,
    ip: &str,
    video_ref: &str,
    kind: InputKind,
) -> Result<Delivery, ServiceError> {
    let held = hold(ctx, creds, ip, RunnerCall::Download).await?;
    let reference = VideoRef::parse(video_ref).ok_or(ServiceError::InvalidVideoRef)?;
    let video = ctx
        .db
        .run(move |conn| match reference {
            VideoRef::Id(id) => db::videos::find(conn, id),
            VideoRef::Uuid(uuid) => db::videos::find_by_uuid(conn, uuid),
        })
        .await?
        .ok_or(ServiceError::NotFound("Video"))?;
    if held.job.private_payload.video_uuid() != video.uuid {
        return Err(ServiceError::Forbidden(
            "Job is not associated to this video",
        ));
    }
    if let InputKind::StudioTaskFile(name) = &kind
        && !held.job.payload.task_file_names().contains(&name.as_str())
    {
        return Err(ServiceError::Invalid(
            "File is not associated to this edition task".to_owned(),
        ));
    }
    inputs::deliver(ctx, video.uuid, kind).await
}
