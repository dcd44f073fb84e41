//! Keeping the storage staging area clean (the rule is in [`crate::storage::staging`]):
//! one sweep when the server starts, then one with every heartbeat of this instance.

use crate::state::AppState;
use crate::storage::SweepReport;
use crate::storage::staging::heartbeat_period;

/// Refreshes this instance's heartbeat and removes what stopped instances left in
/// staging; logs what it removed.
pub async fn sweep(state: &AppState) -> SweepReport {
    let report = state
        .storage
        .sweep_staging(state.settings.storage.staging_max_age)
        .await;
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

/// Runs [`sweep`] every heartbeat period until the task is aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks =
            tokio::time::interval(heartbeat_period(state.settings.storage.staging_max_age));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            sweep(&state).await;
        }
    })
}
