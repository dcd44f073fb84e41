//! Readiness: whether the service can do its work now.

use crate::db::DbError;
use crate::service::Context;
use crate::service::events::RelayStatus;

/// Whether the database answers a trivial query.
pub async fn ready(ctx: &Context) -> Result<(), DbError> {
    ctx.db.ping().await
}

/// The cross-instance relay's state (`None`: events stay in this instance). It is
/// reported, not required: an instance whose relay is down still serves its runners,
/// and every instance re-announces pending jobs to its own.
pub fn fanout(ctx: &Context) -> Option<RelayStatus> {
    ctx.events.relay_status()
}
