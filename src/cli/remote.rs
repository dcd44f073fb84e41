//! The CLI's commands that talk to a running server over HTTP: `job …` (the admin API)
//! and `video …` (the video API). The server is `--url` (or `PRC_URL`; default: the
//! configuration's `server.public_url`, else `http://<server.bind>`), the key
//! `--api-key` (or `PRC_API_KEY`; default: the configuration's first admin key, else
//! its first API key). `--json` prints the server's JSON as it came.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::Value;

use super::client::Client;
use super::progress::{Mode, Transcoding, Upload};
use crate::config::Settings;

/// Exit status of `video submit --wait` (and `video retry --wait`) when the video
/// failed.
pub const EXIT_FAILED: u8 = 3;
/// Exit status when `--timeout` passed before the video was published or failed.
pub const EXIT_TIMEOUT: u8 = 4;

/// A command that ended with a status to exit with (the message is printed).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    /// The process exit status.
    pub code: u8,
    /// What to print.
    pub message: String,
}

/// Which server, with which key.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// Server origin, e.g. http://127.0.0.1:8000 (default: server.public_url, else
    /// http://<server.bind>).
    #[arg(long, global = true, env = "PRC_URL", value_name = "URL")]
    pub url: Option<String>,
    /// Bearer key: an admin key for `job …`, an API or admin key for `video …`
    /// (default: the configuration's first admin key, else its first API key).
    #[arg(
        long,
        global = true,
        env = "PRC_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// Print the server's JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `job …`
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// List runner jobs, newest first.
    List {
        /// Only jobs in this state (pending, processing, completed, errored, waiting,
        /// cancelled, parent-errored, parent-cancelled, completing, or 1..9); repeatable.
        #[arg(long, value_name = "STATE")]
        state: Vec<String>,
        /// Only jobs of this type (vod-hls-transcoding, …); repeatable.
        #[arg(long = "type", value_name = "TYPE")]
        job_type: Vec<String>,
        /// A job UUID, or text found in the type or the runner name.
        #[arg(long)]
        search: Option<String>,
        /// createdAt, updatedAt, priority, state or progress; `-` first for descending.
        #[arg(long, allow_hyphen_values = true, default_value = "-createdAt")]
        sort: String,
        /// Jobs skipped.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Jobs shown (at most 100).
        #[arg(long, default_value_t = 15)]
        count: u64,
    },
    /// Cancel a pending, waiting or running job (and the jobs waiting for it).
    Cancel {
        /// Job UUID.
        uuid: String,
    },
    /// Retry an errored job: offered again, the jobs that failed with it wait again.
    Retry {
        /// Job UUID.
        uuid: String,
    },
    /// Delete a job and the jobs depending on it (cancelled first if needed).
    Delete {
        /// Job UUID.
        uuid: String,
    },
}

/// How long to wait for a video.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Follow the transcoding until the video is published (exit 0) or failed (exit 3).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (exit 4), e.g. 30m.
    #[arg(long, value_parser = humantime::parse_duration, requires = "wait")]
    pub timeout: Option<Duration>,
    /// With --wait: how often to ask the server.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub poll_interval: Duration,
}

/// `video …`
#[derive(Debug, Subcommand)]
pub enum VideoCommand {
    /// Upload a file (with a progress bar) and print the new video's UUID.
    Submit {
        /// The video or audio file.
        file: PathBuf,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Storage folder of the outputs (default videos/<uuid>).
        #[arg(long)]
        destination: Option<String>,
        /// Prefix of output names (default: the video UUID).
        #[arg(long)]
        base_filename: Option<String>,
        /// Make HLS renditions (default: transcoding.hls).
        #[arg(long, value_name = "BOOL")]
        hls: Option<bool>,
        /// Make MP4 renditions (default: transcoding.web_videos).
        #[arg(long, value_name = "BOOL")]
        web_videos: Option<bool>,
        /// Rungs to make, e.g. 360,720 (default: transcoding.resolutions).
        #[arg(long, value_delimiter = ',', value_name = "LIST")]
        resolutions: Vec<u32>,
        /// Waiting.
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// List videos, newest first.
    List {
        /// Only videos in this state (importing, transcoding, playable, published, failed).
        #[arg(long)]
        state: Option<String>,
        /// Videos skipped.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Videos shown (at most 100).
        #[arg(long, default_value_t = 15)]
        count: u64,
    },
    /// Show a video: state, jobs and files.
    Get {
        /// Video UUID.
        uuid: String,
    },
    /// Delete a video, its jobs and its files.
    Delete {
        /// Video UUID.
        uuid: String,
    },
    /// Retry what failed of a video.
    Retry {
        /// Video UUID.
        uuid: String,
        /// Waiting.
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// The server URL and key `remote` and `settings` say.
fn client(remote: &Remote, settings: &Settings) -> Result<Client> {
    let url = remote.url.clone().unwrap_or_else(|| {
        settings.server.public_url.clone().unwrap_or_else(|| {
            let bind = settings.server.bind.replace("0.0.0.0", "127.0.0.1");
            format!("http://{bind}")
        })
    });
    let key = remote.api_key.clone().or_else(|| {
        settings
            .auth
            .admin_keys
            .first()
            .or_else(|| settings.auth.api_keys.first())
            .map(|k| k.expose().to_owned())
    });
    Client::new(&url, key)
}

fn print_json(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// A `--state` of `job list` as PeerTube's integer.
fn job_state(s: &str) -> Result<String> {
    const NAMES: [&str; 9] = [
        "pending",
        "processing",
        "completed",
        "errored",
        "waiting",
        "cancelled",
        "parent-errored",
        "parent-cancelled",
        "completing",
    ];
    if let Ok(n) = s.parse::<usize>()
        && (1..=NAMES.len()).contains(&n)
    {
        return Ok(n.to_string());
    }
    match NAMES.iter().position(|n| *n == s) {
        Some(i) => Ok((i + 1).to_string()),
        None => bail!(
            "unknown job state `{s}`: one of {} or 1..9",
            NAMES.join(", ")
        ),
    }
}

/// Runs `job …`.
pub async fn job(settings: &Settings, remote: &Remote, cmd: JobCommand) -> Result<()> {
    let api = client(remote, settings)?;
    match cmd {
        JobCommand::List {
            state,
            job_type,
            search,
            sort,
            start,
            count,
        } => {
            let mut query = vec![
                ("start", start.to_string()),
                ("count", count.to_string()),
                ("sort", sort),
            ];
            for s in &state {
                query.push(("stateOneOf", job_state(s)?));
            }
            for t in job_type {
                query.push(("typeOneOf", t));
            }
            if let Some(s) = search {
                query.push(("search", s));
            }
            let page = api.get("/api/v1/runners/jobs", &query).await?;
            if remote.json {
                return print_json(&page);
            }
            println!(
                "{:<36}  {:<28} {:<16} {:>4} {:>8} {:>3}  {:<16} UPDATED",
                "UUID", "TYPE", "STATE", "PROG", "PRIORITY", "ERR", "RUNNER"
            );
            for j in page["data"].as_array().into_iter().flatten() {
                let progress = j["progress"]
                    .as_i64()
                    .map_or("-".to_owned(), |p| format!("{p}%"));
                println!(
                    "{:<36}  {:<28} {:<16} {:>4} {:>8} {:>3}  {:<16} {}",
                    text(&j["uuid"]),
                    text(&j["type"]),
                    text(&j["state"]["label"]),
                    progress,
                    j["priority"],
                    j["failures"],
                    text(&j["runner"]["name"]),
                    text(&j["updatedAt"]),
                );
            }
            println!(
                "{} of {} jobs",
                page["data"].as_array().map_or(0, Vec::len),
                page["total"]
            );
        }
        JobCommand::Cancel { uuid } => {
            api.post(&format!("/api/v1/runners/jobs/{uuid}/cancel"))
                .await?;
            println!("cancelled job {uuid}");
        }
        JobCommand::Retry { uuid } => {
            api.post(&format!("/api/v1/runners/jobs/{uuid}/retry"))
                .await?;
            println!("retried job {uuid}");
        }
        JobCommand::Delete { uuid } => {
            api.delete(&format!("/api/v1/runners/jobs/{uuid}")).await?;
            println!("deleted job {uuid}");
        }
    }
    Ok(())
}

/// Runs `video …`.
pub async fn video(settings: &Settings, remote: &Remote, cmd: VideoCommand) -> Result<()> {
    let api = client(remote, settings)?;
    match cmd {
        VideoCommand::Submit {
            file,
            name,
            destination,
            base_filename,
            hls,
            web_videos,
            resolutions,
            wait,
        } => {
            let mut fields: Vec<(&'static str, String)> = Vec::new();
            fields.extend(name.map(|v| ("name", v)));
            fields.extend(destination.map(|v| ("destination", v)));
            fields.extend(base_filename.map(|v| ("baseFilename", v)));
            fields.extend(hls.map(|v| ("hls", v.to_string())));
            fields.extend(web_videos.map(|v| ("webVideos", v.to_string())));
            if !resolutions.is_empty() {
                let list: Vec<String> = resolutions.iter().map(u32::to_string).collect();
                fields.push(("resolutions", list.join(",")));
            }
            let mode = Mode::detect();
            let video = upload(&api, &file, fields, mode).await?;
            let uuid = text(&video["uuid"]).to_owned();
            let end = if wait.wait {
                Some(follow(&api, &uuid, &wait, mode).await?)
            } else {
                None
            };
            report(remote, end.as_ref().unwrap_or(&video), &uuid)?;
            if let Some(end) = end {
                return outcome(&end);
            }
        }
        VideoCommand::List {
            state,
            start,
            count,
        } => {
            let mut query = vec![("start", start.to_string()), ("count", count.to_string())];
            query.extend(state.map(|s| ("state", s)));
            let page = api.get("/api/v1/videos", &query).await?;
            if remote.json {
                return print_json(&page);
            }
            println!(
                "{:<36}  {:<12} {:>5}  {:<24} CREATED",
                "UUID", "STATE", "JOBS", "NAME"
            );
            for v in page["data"].as_array().into_iter().flatten() {
                println!(
                    "{:<36}  {:<12} {:>5}  {:<24} {}",
                    text(&v["uuid"]),
                    text(&v["state"]["name"]),
                    v["jobs"].as_array().map_or(0, Vec::len),
                    text(&v["name"]),
                    text(&v["createdAt"]),
                );
            }
            println!(
                "{} of {} videos",
                page["data"].as_array().map_or(0, Vec::len),
                page["total"]
            );
        }
        VideoCommand::Get { uuid } => {
            let video = api.get(&format!("/api/v1/videos/{uuid}"), &[]).await?;
            if remote.json {
                return print_json(&video);
            }
            describe(&video);
        }
        VideoCommand::Delete { uuid } => {
            api.delete(&format!("/api/v1/videos/{uuid}")).await?;
            println!("deleted video {uuid}");
        }
        VideoCommand::Retry { uuid, wait } => {
            let video = api.post(&format!("/api/v1/videos/{uuid}/retry")).await?;
            let end = if wait.wait {
                Some(follow(&api, &uuid, &wait, Mode::detect()).await?)
            } else {
                None
            };
            report(remote, end.as_ref().unwrap_or(&video), &uuid)?;
            if let Some(end) = end {
                return outcome(&end);
            }
        }
    }
    Ok(())
}

/// Prints the result of a submission or a retry: the JSON, or the UUID and state.
fn report(remote: &Remote, video: &Value, uuid: &str) -> Result<()> {
    if remote.json {
        return print_json(video);
    }
    println!("{uuid} {}", text(&video["state"]["name"]));
    Ok(())
}

/// The exit of a wait that ended: published is success, failed is [`EXIT_FAILED`].
fn outcome(video: &Value) -> Result<()> {
    match video["state"]["name"].as_str() {
        Some("failed") => Err(Exit {
            code: EXIT_FAILED,
            message: format!(
                "video {} failed: {}",
                text(&video["uuid"]),
                text(&video["error"])
            ),
        }
        .into()),
        _ => Ok(()),
    }
}

/// What `video get` prints.
fn describe(v: &Value) {
    println!("uuid      {}", text(&v["uuid"]));
    println!("name      {}", text(&v["name"]));
    println!(
        "state     {} ({})",
        text(&v["state"]["name"]),
        text(&v["state"]["label"])
    );
    if let Some(e) = v["error"].as_str() {
        println!("error     {e}");
    }
    println!("directory {}", text(&v["directory"]));
    if let Some(url) = v["hls"]["masterPlaylistUrl"].as_str() {
        println!("hls       {url}");
    }
    for w in v["webVideos"].as_array().into_iter().flatten() {
        println!("mp4       {}p {}", w["resolution"], text(&w["fileUrl"]));
    }
    println!("jobs:");
    for j in v["jobs"].as_array().into_iter().flatten() {
        let progress = j["progress"]
            .as_i64()
            .map_or(String::new(), |p| format!(" {p}%"));
        let rung = j["resolution"]
            .as_i64()
            .map_or(String::new(), |r| format!(" {r}p"));
        println!(
            "  {} {}{} {}{}",
            text(&j["uuid"]),
            text(&j["type"]),
            rung,
            text(&j["state"]["label"]),
            progress
        );
    }
}

/// Uploads `file` with `fields` to `POST /api/v1/videos`, showing its progress; the
/// file is streamed, never read whole.
async fn upload(
    api: &Client,
    file: &Path,
    fields: Vec<(&'static str, String)>,
    mode: Mode,
) -> Result<Value> {
    let handle = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("cannot open {}", file.display()))?;
    let total = handle
        .metadata()
        .await
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let file_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "video".to_owned());
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let stream =
        tokio_util::io::ReaderStream::with_capacity(handle, 256 * 1024).map(move |chunk| {
            if let Ok(bytes) = &chunk {
                counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            chunk
        });
    let part =
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), total)
            .file_name(file_name);
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k, v);
    }
    let form = form.part("videoFile", part);
    let req = api.request(Method::POST, "/api/v1/videos").multipart(form);
    let mut progress = Upload::new(mode, total);
    let send = api.send(Method::POST, "/api/v1/videos", req);
    tokio::pin!(send);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let answer = loop {
        tokio::select! {
            answer = &mut send => break answer,
            _ = tick.tick() => progress.set(sent.load(Ordering::Relaxed)),
        }
    };
    let video = answer?;
    progress.finish();
    Ok(video)
}

/// Follows the video `uuid` until it is published or failed (or `--timeout`), showing
/// the transcoding's progress; returns the video as it ended.
async fn follow(api: &Client, uuid: &str, wait: &WaitArgs, mode: Mode) -> Result<Value> {
    let started = Instant::now();
    let mut shown = Transcoding::new(mode);
    loop {
        let video = api.get(&format!("/api/v1/videos/{uuid}"), &[]).await?;
        shown.update(&video);
        if matches!(
            video["state"]["name"].as_str(),
            Some("published" | "failed")
        ) {
            shown.finish();
            return Ok(video);
        }
        if let Some(limit) = wait.timeout
            && started.elapsed() >= limit
        {
            shown.finish();
            return Err(Exit {
                code: EXIT_TIMEOUT,
                message: format!(
                    "video {uuid} is still {} after {}",
                    text(&video["state"]["name"]),
                    humantime::format_duration(limit)
                ),
            }
            .into());
        }
        tokio::time::sleep(wait.poll_interval).await;
    }
}
