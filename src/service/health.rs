//! Readiness: whether the service can do its work now.

use crate::db::DbError;
use crate::service::Context;

/// Whether the database answers a trivial query.
pub async fn ready(ctx: &Context) -> Result<(), DbError> {
    ctx.db.ping().await
}
