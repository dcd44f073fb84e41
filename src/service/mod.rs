//! Use cases. `http`, `socket` and the CLI call these with a [`Context`]; they call
//! `db`, storage and media, and publish [`events::Event`]s. Runner and
//! registration-token administration takes only the database and the event bus, so the
//! CLI runs it without opening storage.

pub mod admin;
pub mod captions;
pub mod cleanup;
pub mod context;
pub mod dashboard;
pub mod events;
pub mod files;
pub mod health;
pub mod import_django;
pub mod inputs;
pub mod job_availability;
pub mod jobs;
pub mod live;
pub mod metrics;
pub mod published;
pub mod queue_depth;
pub mod registration_tokens;
pub mod renditions;
pub mod retention;
pub mod runner_cache;
pub mod runners;
pub mod storyboards;
pub mod studio;
pub mod submit;
pub mod task_state;
pub mod timefmt;
pub mod transcription;
pub mod videos;
pub mod webhooks;

pub use context::Context;
