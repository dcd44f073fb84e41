//! Use cases. `http`, `socket` and the CLI call these; they call `db`, storage, media
//! and publish [`events::Event`]s.

pub mod cleanup;
pub mod events;
pub mod files;
pub mod inputs;
pub mod job_availability;
pub mod jobs;
pub mod published;
pub mod registration_tokens;
pub mod renditions;
pub mod runners;
pub mod submit;
pub mod timefmt;
pub mod videos;
