//! `/jobs/request` (1.3) and `/jobs/{uuid}/accept` (1.4).

use crate::db::jobs::{Guard, Offer, TypeFilter};
use crate::db::{self, DbConnection, DbError};
use crate::domain::ids::{JobToken, JobUuid, RunnerToken};
use crate::domain::job::{JobState, JobType};
use crate::domain::lifecycle::Transition;
use crate::domain::runner_input::RunnerCapabilities;
use crate::error::ServiceError;
use crate::service::Context;
use crate::service::jobs::view::{AvailableJobs, OfferView, RunnerJobView};
use crate::service::runners;

/// Most offers per `/jobs/request`.
pub const MAX_OFFERS: usize = 10;

/// A `/jobs/request` call, parsed.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// `runnerToken`.
    pub runner_token: RunnerToken,
    /// `jobTypes` when sent, without the names this server does not know (they never
    /// match).
    pub job_types: Option<Vec<JobType>>,
    /// `version` when sent and plausible.
    pub version: Option<String>,
    /// Client IP.
    pub ip: String,
}

/// Up to 10 PENDING jobs for the calling runner: lowest priority first then oldest,
/// only the requested types (or, without `jobTypes`, those its version runs). With
/// `runners.spread_offers`, each run of equal priorities is rotated by the runner id
/// so runners start on different jobs. Refreshes the runner's contact, IP and version
/// (throttled).
pub async fn request_jobs(ctx: &Context, req: JobRequest) -> Result<AvailableJobs, ServiceError> {
    let hash = req.runner_token.hash();
    let types: Vec<JobType> = match req.job_types {
        Some(list) => list,
        None => RunnerCapabilities::from_version(req.version.as_deref()).job_types(),
    };
    let spread = ctx.settings.runners.spread_offers;
    let interval = ctx.settings.runners.last_contact_interval;
    let now = ctx.now();
    let (ip, version) = (req.ip, req.version);
    let (runner_id, mut offers) = ctx
        .db
        .run(move |conn| {
            let runner = db::runners::find_by_token_hash(conn, &hash)?
                .ok_or(ServiceError::UnknownRunnerToken)?;
            runners::record_contact_in(conn, &runner, &ip, version.as_deref(), interval, now);
            Ok::<_, ServiceError>((runner.id, collect_offers(conn, &types)?))
        })
        .await?;
    if spread {
        spread_equal_priorities(&mut offers, runner_id);
    }
    Ok(AvailableJobs {
        available_jobs: offers
            .into_iter()
            .map(|o| OfferView {
                uuid: o.uuid,
                job_type: o.payload.job_type(),
                payload: o.payload,
            })
            .collect(),
    })
}

fn collect_offers(conn: &mut DbConnection, types: &[JobType]) -> Result<Vec<Offer>, DbError> {
    let missing: Vec<JobType> = JobType::ALL
        .into_iter()
        .filter(|t| !types.contains(t))
        .collect();
    let filter = match missing.as_slice() {
        [] => TypeFilter::All,
        [one] => TypeFilter::AllBut(*one),
        _ => TypeFilter::Only(types),
    };
    db::jobs::pending_offers(conn, filter, MAX_OFFERS)
}

/// Rotates each run of equal priority by `runner_id` positions.
fn spread_equal_priorities(offers: &mut [Offer], runner_id: i64) {
    let mut start = 0;
    while start < offers.len() {
        let priority = offers[start].priority;
        let len = offers[start..]
            .iter()
            .take_while(|o| o.priority == priority)
            .count();
        let shift = usize::try_from(runner_id.rem_euclid(len as i64)).unwrap_or(0);
        offers[start..start + len].rotate_left(shift);
        start += len;
    }
}

/// Accept, steps 2–3 (1.4): the job exists (404 `Unknown runner job`) and is PENDING
/// (400 without code, the usual answer to a lost race).
pub async fn check_acceptable(ctx: &Context, job_uuid: JobUuid) -> Result<(), ServiceError> {
    let state = ctx
        .db
        .run(move |conn| db::jobs::state_by_uuid(conn, job_uuid))
        .await?
        .ok_or(ServiceError::UnknownRunnerJob)?;
    if state != JobState::Pending {
        return Err(ServiceError::JobNotPending);
    }
    Ok(())
}

/// Accept, steps 4–5 (1.4): authenticates the runner, then one compare-and-set
/// PENDING → PROCESSING with a fresh `ptrjt-` token. The loser of a race gets
/// [`ServiceError::JobTaken`] (409 `runner_job_not_in_pending_state`). The runner's
/// contact is recorded either way.
pub async fn accept(
    ctx: &Context,
    job_uuid: JobUuid,
    runner_token: &RunnerToken,
    ip: &str,
) -> Result<RunnerJobView, ServiceError> {
    let runner_hash = runner_token.hash();
    let job_token = JobToken::generate();
    let token_hash = job_token.hash();
    let interval = ctx.settings.runners.last_contact_interval;
    let (ip, now) = (ip.to_owned(), ctx.now());
    let (job, pending_since, parent, runner) = ctx
        .db
        .run(move |conn| {
            let runner = db::runners::find_by_token_hash(conn, &runner_hash)?
                .ok_or(ServiceError::UnknownRunnerToken)?;
            runners::record_contact_in(conn, &runner, &ip, None, interval, now);
            let job =
                db::jobs::find_by_uuid(conn, job_uuid)?.ok_or(ServiceError::UnknownRunnerJob)?;
            let accept = Transition::Accept {
                runner_id: runner.id,
                token_hash,
            };
            let accepted = db::jobs::transition(conn, &job, &accept, Guard::State, now)?
                .ok_or(ServiceError::JobTaken)?
                .job;
            let parent = match accepted.parent_id {
                Some(id) => db::jobs::find(conn, id)?,
                None => None,
            };
            // A PENDING job's `updated_at` is when it became PENDING.
            Ok::<_, ServiceError>((accepted, job.updated_at, parent, runner))
        })
        .await?;
    ctx.metrics
        .jobs
        .accepted(job.job_type(), pending_since, now);
    let mut view = RunnerJobView::new(job, parent.as_ref(), Some(&runner));
    view.job_token = Some(job_token);
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::payloads::{FileInput, JobPayload, TranscriptionPayload};

    fn offers(priorities: &[i32]) -> Vec<Offer> {
        priorities
            .iter()
            .enumerate()
            .map(|(i, p)| Offer {
                id: i as i64,
                uuid: JobUuid::generate(),
                priority: *p,
                payload: JobPayload::Transcription(TranscriptionPayload {
                    input: FileInput {
                        video_file_url: String::new(),
                    },
                    output: None,
                }),
            })
            .collect()
    }

    fn ids(o: &[Offer]) -> Vec<i64> {
        o.iter().map(|o| o.id).collect()
    }

    #[test]
    fn spreading_rotates_only_within_equal_priorities() {
        let mut o = offers(&[1, 5, 5, 5, 9]);
        spread_equal_priorities(&mut o, 1);
        assert_eq!(ids(&o), [0, 2, 3, 1, 4]);
        let mut o = offers(&[5, 5, 5]);
        spread_equal_priorities(&mut o, 3);
        assert_eq!(ids(&o), [0, 1, 2]);
        let mut firsts = std::collections::HashSet::new();
        for runner in 0..10 {
            let mut o = offers(&[100; 10]);
            spread_equal_priorities(&mut o, runner);
            firsts.insert(o[0].id);
        }
        assert_eq!(firsts.len(), 10, "ten runners start on ten different jobs");
    }
}
