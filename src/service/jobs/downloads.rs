//! Input downloads (`runner-protocol.md` 2): which stored file a runner may fetch for a
//! job it holds.

use super::HeldJob;
use crate::db;
use crate::error::ServiceError;
use crate::service::inputs::{self, InputKind};
use crate::state::AppState;
use crate::storage::Delivery;

/// Input `kind` of video `video_ref` (a UUID or a numeric id), for `held`.
/// 404 `Video not found` for an unknown video, 403 `Job is not associated to this
/// video` when the job's private `videoUUID` is another video's, 400 `File is not
/// associated to this edition task` for a task file no task of the job names.
pub async fn deliver_input(
    state: &AppState,
    held: &HeldJob,
    video_ref: &str,
    kind: InputKind,
) -> Result<Delivery, ServiceError> {
    let reference = video_ref.to_owned();
    let video = state
        .db
        .run(move |conn| match reference.parse::<i64>() {
            Ok(id) => db::videos::find(conn, id),
            Err(_) => db::videos::find_by_uuid(conn, &reference),
        })
        .await?
        .ok_or(ServiceError::NotFound("Video"))?;
    let private: serde_json::Value =
        serde_json::from_str(&held.job.private_payload).unwrap_or_default();
    if private["videoUUID"].as_str() != Some(video.uuid.as_str()) {
        return Err(ServiceError::Forbidden(
            "Job is not associated to this video",
        ));
    }
    if let InputKind::StudioTaskFile(name) = &kind
        && !task_files(&held.job.payload).iter().any(|f| f == name)
    {
        return Err(ServiceError::Invalid(
            "File is not associated to this edition task".to_owned(),
        ));
    }
    inputs::deliver(state, &video.uuid, kind).await
}

/// Base names of the `options.file` URLs of a studio payload's tasks.
fn task_files(payload: &str) -> Vec<String> {
    let payload: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
    payload["tasks"]
        .as_array()
        .map(|tasks| {
            tasks
                .iter()
                .filter_map(|t| t["options"]["file"].as_str())
                .filter_map(|url| url.rsplit('/').next())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn task_files_are_the_base_names_of_task_urls() {
        let payload = r#"{"tasks":[{"name":"cut","options":{"start":1}},
            {"name":"add-intro","options":{"file":"http://h/api/v1/runners/jobs/j/files/videos/v/studio/task-files/intro-1.mp4"}}]}"#;
        assert_eq!(super::task_files(payload), ["intro-1.mp4"]);
        assert!(super::task_files("{}").is_empty());
    }
}
