//! What a crash leaves behind, cleaned once when the server starts and then with every
//! staging heartbeat of this instance:
//! - staging files of stopped instances ([`crate::storage::staging`] has the rule);
//! - submissions cut between claiming their folder and creating their jobs (videos
//!   still `importing` after `storage.staging_max_age`; a submission takes seconds):
//!   never acknowledged to the client, they are deleted with the objects they record.

use std::time::Duration;

use std::future::Future;

use crate::db;
use crate::error::ServiceError;
use crate::service::Context;
use crate::storage::SweepReport;
use crate::storage::staging::heartbeat_period;

/// Runs every cleanup once; logs what it removed.
pub async fn run(state: &Context) {
    let max_age = state.settings.storage.staging_max_age;
    sweep_staging(state, max_age).await;
    match remove_abandoned_imports(state, max_age).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(videos = n, "removed submissions cut by a crash"),
        Err(e) => tracing::warn!(error = %e, "cannot remove abandoned submissions"),
    }
}

/// Refreshes this instance's staging heartbeat and removes what stopped instances left
/// in staging for longer than `max_age`.
pub async fn sweep_staging(state: &Context, max_age: Duration) -> SweepReport {
    let report = state.storage.sweep_staging(max_age).await;
    if report != SweepReport::default() {
        tracing::info!(
            files = report.files,
            bytes = report.bytes,
            folders = report.folders,
            "removed staging files left by stopped instances"
        );
    }
    report
}

/// Deletes the videos still `importing` that were created more than `max_age` ago,
/// with the objects their rows record. Returns how many went.
pub async fn remove_abandoned_imports(
    state: &Context,
    max_age: Duration,
) -> Result<usize, ServiceError> {
    let cutoff = state.clock.ago(max_age);
    let uuids = state
        .db
        .run(move |conn| db::videos::importing_before(conn, cutoff))
        .await?;
    let mut removed = 0;
    for uuid in uuids {
        match crate::service::videos::delete(state, uuid).await {
            Ok(()) => removed += 1,
            Err(ServiceError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// Runs [`run`] every staging heartbeat period until `stop` completes.
pub fn spawn(
    state: Context,
    stop: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks =
            tokio::time::interval(heartbeat_period(state.settings.storage.staging_max_age));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = &mut stop => return,
            }
            run(&state).await;
        }
    })
}
