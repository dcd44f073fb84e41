//! `/jobs/request` (1.3) and `/jobs/{uuid}/accept` (1.4).

use super::queue::index::PreparedOffer;
use crate::db;
use crate::db::jobs::Guard;
use crate::domain::ids::{JobToken, JobUuid, RunnerToken, TokenHash};
use crate::domain::job::{JobState, JobType};
use crate::domain::lifecycle::Transition;
use crate::domain::runner::Runner;
use crate::domain::runner_input::RunnerCapabilities;
use crate::error::ServiceError;
use crate::service::Context;
use crate::service::events::Event;
use crate::service::jobs::view::{AvailableJobs, RunnerJobView};
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
///
/// Served from memory: the offers from the index ([`super::queue`]), the runner from
/// the runner cache ([`crate::service::runner_cache`]). The database is read only for
/// a runner not seen lately, and written only when its contact is due.
pub async fn request_jobs(ctx: &Context, req: JobRequest) -> Result<AvailableJobs, ServiceError> {
    let hash = req.runner_token.hash();
    let runner = cached_runner(ctx, &hash).await?;
    let types: Vec<JobType> = match req.job_types {
        Some(list) => list,
        None => RunnerCapabilities::from_version(req.version.as_deref()).job_types(),
    };
    let mut offers = ctx.queue.offers(&types, MAX_OFFERS);
    if ctx.settings.runners.spread_offers {
        spread_equal_priorities(&mut offers, runner.id);
    }
    record_contact(ctx, &hash, runner, req.ip, req.version).await;
    Ok(AvailableJobs {
        available_jobs: offers,
    })
}

/// The runner whose token hashes to `hash`: from the cache, else from the database
/// (then cached). [`ServiceError::UnknownRunnerToken`] only when the database has none.
async fn cached_runner(ctx: &Context, hash: &TokenHash) -> Result<Runner, ServiceError> {
    let generation = match ctx.runner_cache.get(hash) {
        Ok(runner) => return Ok(runner),
        Err(generation) => generation,
    };
    let h = hash.clone();
    let runner = ctx
        .db
        .run(move |conn| db::runners::find_by_token_hash(conn, &h))
        .await?
        .ok_or(ServiceError::UnknownRunnerToken)?;
    ctx.runner_cache
        .store(hash.clone(), runner.clone(), generation);
    Ok(runner)
}

/// Records the runner's contact when due (throttled), and keeps the cached copy in
/// step.
async fn record_contact(
    ctx: &Context,
    hash: &TokenHash,
    runner: Runner,
    ip: String,
    version: Option<String>,
) {
    let interval = ctx.settings.runners.last_contact_interval;
    let now = ctx.now();
    let Some(stale_before) = runners::contact_due(&runner, &ip, version.as_deref(), interval, now)
    else {
        return;
    };
    runners::record_contact(&ctx.db, &runner, &ip, version.as_deref(), interval, now).await;
    // What `db::runners::touch_contact` wrote.
    ctx.runner_cache.update(hash, |r| {
        if r.last_contact < stale_before || r.ip != ip {
            r.last_contact = now;
            r.ip = ip;
        }
        if version.is_some() {
            r.version = version;
        }
    });
}

/// Rotates each run of equal priority by `runner_id` positions.
fn spread_equal_priorities(offers: &mut [PreparedOffer], runner_id: i64) {
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
/// (400 with code `runner_job_not_in_pending_state`: a lost race, which the runner
/// treats as routine). A job the offer index holds passes without a database read: the
/// compare-and-set decides.
pub async fn check_acceptable(ctx: &Context, job_uuid: JobUuid) -> Result<(), ServiceError> {
    if ctx.queue.contains(&job_uuid) {
        return Ok(());
    }
    let state = ctx
        .db
        .run(move |conn| db::jobs::state_by_uuid(conn, job_uuid))
        .await?
        .ok_or(ServiceError::UnknownRunnerJob)?;
    if state != JobState::Pending {
        lost_race(ctx);
        return Err(ServiceError::JobNotPending);
    }
    Ok(())
}

/// A runner lost an accept race. `peertube-runner` treats the answer as routine and
/// waits for the next `available-jobs`: when other jobs are still pending, runners are
/// told again (debounced with every other announce), or the loser would idle until the
/// periodic re-announce while jobs wait.
fn lost_race(ctx: &Context) {
    if !ctx.queue.is_empty() {
        ctx.events.publish(Event::JobsAvailable);
    }
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
    let outcome = ctx
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
            let Some(accepted) = db::jobs::transition(conn, &job, &accept, Guard::State, now)?
            else {
                return Ok(Err(job.id));
            };
            let accepted = accepted.job;
            let parent = match accepted.parent_id {
                Some(id) => db::jobs::find(conn, id)?,
                None => None,
            };
            // A PENDING job's `updated_at` is when it became PENDING.
            Ok::<_, ServiceError>(Ok((accepted, job.updated_at, parent, runner)))
        })
        .await?;
    let (job, pending_since, parent, runner) = match outcome {
        Ok(won) => won,
        Err(lost) => {
            // The index offered a job that was taken: it learns it now.
            ctx.queue.forget(lost);
            lost_race(ctx);
            return Err(ServiceError::JobTaken);
        }
    };
    ctx.metrics
        .jobs
        .accepted(job.job_type(), pending_since, now);
    super::publish_changes(ctx, [&job]);
    let mut view = RunnerJobView::new(job, parent.as_ref(), Some(&runner));
    view.job_token = Some(job_token);
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::payloads::{FileInput, JobPayload, TranscriptionPayload};

    fn offers(priorities: &[i32]) -> Vec<PreparedOffer> {
        let payload = JobPayload::Transcription(TranscriptionPayload {
            input: FileInput {
                video_file_url: String::new(),
            },
            output: None,
        });
        priorities
            .iter()
            .enumerate()
            .map(|(i, p)| PreparedOffer::new(i as i64, JobUuid::generate(), *p, &payload).unwrap())
            .collect()
    }

    fn ids(o: &[PreparedOffer]) -> Vec<i64> {
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
