//! Integration tests: the real application on port 0, a fresh database per test
//! (SQLite file by default, a PostgreSQL database when `TEST_DATABASE_URL` is set).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

mod admin_api;
mod captions;
mod cli;
mod cli_remote;
mod dashboard;
mod dashboard_browser;
mod fanout;
mod fanout_helpers;
mod health;
mod helpers;
mod import_django;
mod input_hygiene;
mod jobs_calls;
mod jobs_offer;
mod jobs_queue;
mod jobs_race;
mod jobs_success;
mod media;
mod metrics;
mod multi_instance;
mod node;
mod openapi;
mod pipeline;
mod probe_corpus;
mod protocol_gaps;
mod register;
mod renditions;
mod retention;
mod runner_sim;
mod s3_server;
mod s3_storage;
mod schema;
mod shutdown;
mod socket;
mod socket_helpers;
mod socket_ws;
mod staging;
mod static_files;
mod storyboards;
mod studio;
mod studio_helpers;
mod transcription;
mod transcription_helpers;
mod transitions;
mod video_folders;
mod video_helpers;
mod videos;
mod videos_api;
mod webhook_helpers;
mod webhooks_delivery;
mod webhooks_flow;
