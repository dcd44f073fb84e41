//! TEMPORARY until main's renditions land.
use futures_util::future::BoxFuture;

use super::RunnerUpload;
use super::handlers::{CompletionError, JobTypeHandler};
use crate::db::models::RunnerJobRow;
use crate::domain::job::JobType;
use crate::state::AppState;

/// `vod-web-video-transcoding`.
#[derive(Debug)]
pub struct WebVideo;
/// `vod-hls-transcoding`.
#[derive(Debug)]
pub struct Hls;

impl JobTypeHandler for WebVideo {
    fn job_type(&self) -> JobType {
        JobType::VodWebVideoTranscoding
    }
    fn complete<'a>(
        &'a self,
        _s: &'a AppState,
        _j: &'a RunnerJobRow,
        _u: RunnerUpload,
    ) -> BoxFuture<'a, Result<(), CompletionError>> {
        Box::pin(async { Ok(()) })
    }
}
impl JobTypeHandler for Hls {
    fn job_type(&self) -> JobType {
        JobType::VodHlsTranscoding
    }
    fn complete<'a>(
        &'a self,
        _s: &'a AppState,
        _j: &'a RunnerJobRow,
        _u: RunnerUpload,
    ) -> BoxFuture<'a, Result<(), CompletionError>> {
        Box::pin(async { Ok(()) })
    }
}
