//! Signed webhooks with a durable outbox.
//!
//! - [`outbox`]: what state changes call, inside their transaction, to record an
//!   event ([`Outbox::record`] with a [`Notice`]), and what they publish after the
//!   commit ([`Emitted::publish`]).
//! - [`send`]: one signed attempt (Standard Webhooks headers, no redirects, targets
//!   checked against `webhooks.allowed_targets` at every connection).
//! - [`worker`]: the delivery loop of an instance (leases, backoff, dead letters).
//! - [`deliveries`]: listing and redelivering, for the API and the CLI.
//!
//! Delivery is at least once: a delivery attempted when its instance died is attempted
//! again, with the same `webhook-id`, which receivers use to ignore duplicates.

pub mod deliveries;
pub mod outbox;
pub mod send;
pub mod worker;

pub use outbox::{Emitted, Notice, Outbox, TranscriptionData};
