//! Whether runners have something to take (used by the socket hub's re-announce).

use crate::db::{self, Db};
use crate::error::ServiceError;

/// Whether at least one job is PENDING.
pub async fn pending_jobs_exist(db: &Db) -> Result<bool, ServiceError> {
    Ok(db.run(db::jobs_pending::pending_job_exists).await?)
}
