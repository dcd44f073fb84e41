//! peertube-runner-connector: a standalone server that speaks PeerTube's remote-runner
//! protocol, so any application can transcode videos on stock `peertube-runner`s.
//!
//! Layers (the dependency rule): `http` and `socket` call `service`; `service` calls
//! `db`, storage, media and publishes events, through one [`service::Context`];
//! `domain` depends on nothing (its types are what `db` returns and what services
//! pass around: jobs with typed payloads, the lifecycle table, ids and tokens); only
//! `db` knows which SQL backend runs, and it maps the domain's enums to their stored
//! form in one place. Time comes from [`clock::Clock`], so tests move it. `socket` is
//! the `/runners` glue over the `socketio-actix` crate, which knows nothing of this
//! one; it reaches `service` only through the callbacks `startup` gives it. `fanout`
//! relays the event bus between server instances (PostgreSQL LISTEN/NOTIFY, Redis); it
//! knows the bus and the settings, nothing else. `metrics` is a leaf like `clock`: the
//! families `http`, `service` and `socket` record into, its registry held in the
//! context (no global recorder).

#![warn(missing_docs)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod fanout;
pub mod healthcheck;
pub mod http;
pub mod media;
pub mod metrics;
pub mod service;
pub mod shutdown;
pub mod socket;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
