//! A `/metrics` scrape: the recorded families of [`Context::metrics`] and what is read
//! now (the database's counts, the pool's state, and the socket hub's, which the caller
//! reads since services never see the hub).

use crate::db::{self, DbError};
use crate::metrics::scrape::{DatabaseCounts, PoolGauges, SocketGauges};
use crate::metrics::{Format, Snapshot};
use crate::service::Context;

/// The exposition in `format`. A database that cannot be read does not fail the
/// scrape: `prc_database_up` is then 0 and the families read from it are missing (the
/// cause is logged). Fails only if encoding does (a bug).
pub async fn scrape(
    ctx: &Context,
    sockets: SocketGauges,
    format: Format,
) -> Result<String, std::fmt::Error> {
    // Before the query, which may itself wait for a connection.
    let pool = ctx.db.pool_usage();
    let counts = ctx
        .db
        .run(|conn| {
            Ok::<_, DbError>(DatabaseCounts {
                jobs: db::stats::unfinished_job_counts(conn)?,
                runners_registered: db::stats::runner_count(conn)?,
            })
        })
        .await;
    let database = match counts {
        Ok(counts) => Some(counts),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot read the database");
            None
        }
    };
    let snapshot = Snapshot {
        database,
        pool: PoolGauges {
            max: pool.max,
            open: pool.open,
            idle: pool.idle,
            waiting: pool.waiting,
        },
        sockets,
    };
    ctx.metrics.render(&snapshot, format)
}
