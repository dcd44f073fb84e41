//! Registration tokens: operators create them, runners register with them.

use chrono::NaiveDateTime;

use crate::db::{self, Db};
use crate::domain::ids::RegistrationToken as Token;
use crate::domain::runner::StoredRegistrationToken;
use crate::error::ServiceError;
use crate::service::events::{Event, EventBus};

/// A registration token as operators see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationToken {
    /// Id used to delete it.
    pub id: i64,
    /// `ptrrt-…`.
    pub registration_token: Token,
    /// Creation time (UTC).
    #[serde(with = "crate::service::timefmt")]
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    #[serde(with = "crate::service::timefmt")]
    pub updated_at: NaiveDateTime,
    /// Runners registered with it.
    pub registered_runners_count: i64,
}

/// Creates a new `ptrrt-…` token.
pub async fn create(db: &Db) -> Result<RegistrationToken, ServiceError> {
    let token = Token::generate();
    let stored = db
        .run(move |conn| db::registration_tokens::insert(conn, &token, db::now()))
        .await?;
    Ok(RegistrationToken::new(stored, 0))
}

impl RegistrationToken {
    fn new(t: StoredRegistrationToken, registered_runners_count: i64) -> RegistrationToken {
        RegistrationToken {
            id: t.id,
            registration_token: t.token,
            created_at: t.created_at,
            updated_at: t.updated_at,
            registered_runners_count,
        }
    }
}

/// Every token, newest first.
pub async fn list(db: &Db) -> Result<Vec<RegistrationToken>, ServiceError> {
    let rows = db
        .run(db::registration_tokens::list_with_runner_counts)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(t, count)| RegistrationToken::new(t, count))
        .collect())
}

/// Deletes a token and every runner registered with it (their sockets are closed).
pub async fn delete(db: &Db, events: &EventBus, id: i64) -> Result<(), ServiceError> {
    let removed = db
        .run(move |conn| db::registration_tokens::delete(conn, id))
        .await?
        .ok_or(ServiceError::NotFound("Registration token"))?;
    for runner_id in removed {
        events.publish(Event::RunnerRemoved { runner_id });
    }
    Ok(())
}
