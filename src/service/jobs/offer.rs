//! `/jobs/request` (1.3) and `/jobs/{uuid}/accept` (1.4).

use crate::db::models::RunnerJobRow;
use crate::db::{self, DbConnection, DbError};
use crate::domain::ids::{JOB_TOKEN_PREFIX, generate_token, hash_token};
use crate::domain::job::{JobState, JobType};
use crate::domain::lifecycle::{RunnerCapabilities, studio_tasks_supported};
use crate::error::ServiceError;
use crate::service::jobs::view::{AvailableJobs, Offer, RunnerJobView, raw_json};
use crate::service::runners;
use crate::state::AppState;

/// Most offers per `/jobs/request`.
pub const MAX_OFFERS: usize = 10;
/// Rows read per page while filtering offers.
const PAGE: i64 = 32;

/// A `/jobs/request` call, shape-checked.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// `runnerToken`.
    pub runner_token: String,
    /// `jobTypes` when sent (unknown names never match).
    pub job_types: Option<Vec<String>>,
    /// `version` when sent and plausible.
    pub version: Option<String>,
    /// Client IP.
    pub ip: String,
}

/// Up to 10 PENDING jobs for the calling runner: lowest priority first then oldest,
/// only the requested types (or, without `jobTypes`, those its version runs), never a
/// studio job with an unsupported task. With `runners.spread_offers`, each run of
/// equal priorities is rotated by the runner id so runners start on different jobs.
/// Refreshes the runner's contact, IP and version (throttled).
pub async fn request_jobs(
    state: &AppState,
    req: JobRequest,
) -> Result<AvailableJobs, ServiceError> {
    let hash = hash_token(&req.runner_token);
    let types: Vec<String> = match &req.job_types {
        Some(list) => list
            .iter()
            .filter(|t| t.parse::<JobType>().is_ok())
            .cloned()
            .collect(),
        None => RunnerCapabilities::from_version(req.version.as_deref())
            .job_types()
            .into_iter()
            .map(|t| t.as_str().to_owned())
            .collect(),
    };
    let spread = state.settings.runners.spread_offers;
    let (runner, mut offers) = state
        .db
        .run(move |conn| {
            let Some(runner) = db::runners::find_by_token_hash(conn, &hash)? else {
                return Ok(None);
            };
            let offers = collect_offers(conn, &types)?;
            Ok(Some((runner, offers)))
        })
        .await?
        .ok_or(ServiceError::UnknownRunnerToken)?;
    runners::record_contact(
        &state.db,
        &runner,
        &req.ip,
        req.version.as_deref(),
        state.settings.runners.last_contact_interval,
    )
    .await;
    if spread {
        spread_equal_priorities(&mut offers, runner.id);
    }
    Ok(AvailableJobs {
        available_jobs: offers
            .into_iter()
            .map(|(_, uuid, job_type, _, payload)| Offer {
                uuid,
                job_type,
                payload: raw_json(payload),
            })
            .collect(),
    })
}

fn collect_offers(
    conn: &mut DbConnection,
    types: &[String],
) -> Result<Vec<db::jobs::OfferRow>, DbError> {
    let list: Vec<&str> = types.iter().map(String::as_str).collect();
    let missing: Vec<&str> = JobType::ALL
        .iter()
        .map(|t| t.as_str())
        .filter(|t| !list.contains(t))
        .collect();
    let types = match missing.as_slice() {
        [] => db::jobs::TypeFilter::All,
        [one] => db::jobs::TypeFilter::AllBut(one),
        _ => db::jobs::TypeFilter::Only(&list),
    };
    let mut offers = Vec::with_capacity(MAX_OFFERS);
    let mut after = None;
    loop {
        let page = db::jobs::pending_offers(conn, types, after, PAGE)?;
        let full = page.len() as i64 == PAGE;
        after = page.last().map(|r| (r.3, r.0));
        offers.extend(page.into_iter().filter(offerable));
        if offers.len() >= MAX_OFFERS || !full {
            offers.truncate(MAX_OFFERS);
            return Ok(offers);
        }
    }
}

/// Studio jobs only with tasks every runner supports.
fn offerable(row: &db::jobs::OfferRow) -> bool {
    if row.2 != JobType::VideoStudioTranscoding.as_str() {
        return true;
    }
    let payload: serde_json::Value = serde_json::from_str(&row.4).unwrap_or_default();
    match payload.get("tasks").and_then(|t| t.as_array()) {
        Some(tasks) => {
            studio_tasks_supported(tasks.iter().map(|t| t.get("name").and_then(|n| n.as_str())))
        }
        None => false,
    }
}

/// Rotates each run of equal priority by `runner_id` positions.
fn spread_equal_priorities<T>(offers: &mut [(i64, String, String, i32, T)], runner_id: i64) {
    let mut start = 0;
    while start < offers.len() {
        let priority = offers[start].3;
        let len = offers[start..]
            .iter()
            .take_while(|o| o.3 == priority)
            .count();
        let shift = usize::try_from(runner_id.rem_euclid(len as i64)).unwrap_or(0);
        offers[start..start + len].rotate_left(shift);
        start += len;
    }
}

/// Accept, steps 2–3 (1.4): the job exists (404 `Unknown runner job`) and is PENDING
/// (400 without code, the usual answer to a lost race).
pub async fn check_acceptable(state: &AppState, job_uuid: &str) -> Result<(), ServiceError> {
    let uuid = job_uuid.to_owned();
    let job = state
        .db
        .run(move |conn| db::jobs::find_by_uuid(conn, &uuid))
        .await?
        .ok_or(ServiceError::UnknownRunnerJob)?;
    if job.state != JobState::Pending.id() {
        return Err(ServiceError::JobNotPending);
    }
    Ok(())
}

/// Accept, steps 4–5 (1.4): authenticates the runner, then one compare-and-set
/// PENDING → PROCESSING with a fresh `ptrjt-` token. The loser of a race gets
/// [`ServiceError::JobTaken`] (409 `runner_job_not_in_pending_state`).
pub async fn accept(
    state: &AppState,
    job_uuid: &str,
    runner_token: &str,
    ip: &str,
) -> Result<RunnerJobView, ServiceError> {
    let runner_hash = hash_token(runner_token);
    let job_token = generate_token(JOB_TOKEN_PREFIX);
    let token_hash = hash_token(&job_token);
    let uuid = job_uuid.to_owned();
    let (runner, outcome) = state
        .db
        .run(move |conn| {
            let Some(runner) = db::runners::find_by_token_hash(conn, &runner_hash)? else {
                return Ok(None);
            };
            if db::jobs::accept(conn, &uuid, runner.id, &token_hash, db::now())? == 0 {
                return Ok(Some((runner, Err(ServiceError::JobTaken))));
            }
            let Some(job) = db::jobs::find_by_uuid(conn, &uuid)? else {
                return Ok(Some((runner, Err(ServiceError::UnknownRunnerJob))));
            };
            let parent: Option<RunnerJobRow> = match job.depends_on_job_id {
                Some(id) => db::jobs::find(conn, id)?,
                None => None,
            };
            Ok(Some((runner, Ok((job, parent)))))
        })
        .await?
        .ok_or(ServiceError::UnknownRunnerToken)?;
    runners::record_contact(
        &state.db,
        &runner,
        ip,
        None,
        state.settings.runners.last_contact_interval,
    )
    .await;
    let (job, parent) = outcome?;
    let mut view = RunnerJobView::new(job, parent.as_ref(), Some(&runner));
    view.job_token = Some(job_token);
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offers(priorities: &[i32]) -> Vec<(i64, String, String, i32, ())> {
        priorities
            .iter()
            .enumerate()
            .map(|(i, p)| (i as i64, String::new(), String::new(), *p, ()))
            .collect()
    }

    #[test]
    fn spreading_rotates_only_within_equal_priorities() {
        let mut o = offers(&[1, 5, 5, 5, 9]);
        spread_equal_priorities(&mut o, 1);
        assert_eq!(o.iter().map(|o| o.0).collect::<Vec<_>>(), [0, 2, 3, 1, 4]);
        let mut o = offers(&[5, 5, 5]);
        spread_equal_priorities(&mut o, 3);
        assert_eq!(o.iter().map(|o| o.0).collect::<Vec<_>>(), [0, 1, 2]);
        let mut firsts = std::collections::HashSet::new();
        for runner in 0..10 {
            let mut o = offers(&[100; 10]);
            spread_equal_priorities(&mut o, runner);
            firsts.insert(o[0].0);
        }
        assert_eq!(firsts.len(), 10, "ten runners start on ten different jobs");
    }

    #[test]
    fn studio_offers_need_supported_tasks() {
        let row = |t: &str, p: &str| (1, String::new(), t.to_owned(), 0, p.to_owned());
        assert!(offerable(&row("vod-hls-transcoding", "{}")));
        assert!(offerable(&row(
            "video-studio-transcoding",
            r#"{"tasks":[{"name":"cut","options":{}}]}"#
        )));
        assert!(!offerable(&row(
            "video-studio-transcoding",
            r#"{"tasks":[{"name":"cut"},{"name":"add-blur"}]}"#
        )));
        assert!(!offerable(&row("video-studio-transcoding", "{}")));
    }
}
