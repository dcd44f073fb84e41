//! Pure domain types: identifiers and tokens, job states and types, rendition planning
//! and job payloads. Nothing here does I/O or depends on another module of this crate.

pub mod ids;
pub mod job;
pub mod lifecycle;
pub mod payloads;
pub mod planning;
pub mod video;
