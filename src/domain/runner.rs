//! Runners and the registration tokens they register with, as the service knows them.

use chrono::NaiveDateTime;

use super::ids::{RegistrationToken, TokenHash};

/// A registered runner. Its token is not here: only its hash is stored, and only the
/// database compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runner {
    /// The `id` the runner received at registration.
    pub id: i64,
    /// The registration token it registered with.
    pub registration_token_id: i64,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Last client IP.
    pub ip: String,
    /// Last API call (recorded at most every `runners.last_contact_interval`).
    pub last_contact: NaiveDateTime,
    /// Runner package version, when it sends one.
    pub version: Option<String>,
    /// Registration time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A runner to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRunner {
    /// The registration token used.
    pub registration_token_id: i64,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Hash of its new runner token.
    pub token_hash: TokenHash,
    /// Client IP.
    pub ip: String,
    /// Runner package version.
    pub version: Option<String>,
}

/// A registration token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRegistrationToken {
    /// Id operators delete it by.
    pub id: i64,
    /// The token, in clear.
    pub token: RegistrationToken,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}
