//! Pure domain types: identifiers and tokens, captions, jobs (states, types, payloads and the
//! lifecycle table), videos, runners, rendition planning and the checks on what runners
//! send. Nothing here does I/O or depends on another module of this crate.

pub mod caption;
pub mod django;
pub mod ids;
pub mod job;
pub mod lifecycle;
pub mod listing;
pub mod payloads;
pub mod planning;
pub mod progress;
pub mod runner;
pub mod runner_input;
pub mod storyboard;
pub mod studio;
pub mod video;
pub mod webhook;
