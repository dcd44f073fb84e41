//! Readiness: whether the service can do its work now.

use crate::db::DbError;
use crate::service::Context;
use crate::service::events::RelayStatus;
use crate::storage::StorageError;

/// What each dependency answered.
#[derive(Debug)]
pub struct Readiness {
    /// The database answers a trivial query.
    pub database: Result<(), DbError>,
    /// Storage can be used ([`crate::storage::Storage::health_check`]: on S3 the
    /// bucket answers to the credentials).
    pub storage: Result<(), StorageError>,
}

impl Readiness {
    /// Whether everything is ready.
    pub fn is_ready(&self) -> bool {
        self.database.is_ok() && self.storage.is_ok()
    }
}

/// Checks the database and storage, at the same time.
pub async fn ready(ctx: &Context) -> Readiness {
    let (database, storage) = tokio::join!(ctx.db.ping(), ctx.storage.health_check());
    Readiness { database, storage }
}

/// The cross-instance relay's state (`None`: events stay in this instance). It is
/// reported, not required: an instance whose relay is down still serves its runners,
/// and every instance re-announces pending jobs to its own.
pub fn fanout(ctx: &Context) -> Option<RelayStatus> {
    ctx.events.relay_status()
}
