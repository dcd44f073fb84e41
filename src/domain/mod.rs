//! Pure domain types: identifiers and tokens, job states and types. Nothing here does
//! I/O or depends on another module of this crate.

pub mod ids;
pub mod job;
pub mod lifecycle;
pub mod video;
