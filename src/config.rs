//! Layered configuration: built-in defaults → optional TOML file → `PRC_*` environment
//! variables (`__` separates sections: `PRC_DATABASE__URL`) → command-line flags.
//! `config/example.toml` documents every key. Secrets are [`Secret`]s: they never
//! print, in logs or in `config` output.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod fanout;
mod metrics;
mod queue;
mod s3;
mod sources;
pub use fanout::{FanoutBackend, FanoutSettings};
pub use metrics::MetricsSettings;
pub use queue::{QueueSettings, RetentionSettings};
pub use s3::{OutputUrls, RunnerDownloads, S3Settings, StorageBackend};
use sources::{EnvLayer, list, with_password};
mod webhooks;
pub use webhooks::{EndpointSettings, WebhookSettings, check_url as check_webhook_url};

/// Prefix of every environment variable read as configuration.
pub const ENV_PREFIX: &str = "PRC_";

/// `PRC_*` variables that are not configuration keys: the configuration file, and the
/// server URL and key the HTTP subcommands of the CLI use (`job …`, `video …`).
pub const NOT_CONFIG: [&str; 3] = ["CONFIG", "URL", "API_KEY"];

/// A secret string. `Debug` and `Serialize` mask it; read it with [`Secret::expose`].
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret value. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with `candidate` in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        if a.len() != b.len() || a.is_empty() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret::new(s))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"********\""
        })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "********" })
    }
}

/// The whole configuration tree.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Directory for the default SQLite database and local storage.
    pub data_dir: PathBuf,
    /// HTTP server.
    pub server: ServerSettings,
    /// Database.
    pub database: DatabaseSettings,
    /// Where sources and outputs are kept.
    pub storage: StorageSettings,
    /// API keys.
    pub auth: AuthSettings,
    /// Body size limits.
    pub limits: LimitSettings,
    /// Rendition planning, as the Django library's `TRANSCODING_*` settings.
    pub transcoding: TranscodingSettings,
    /// Runner bookkeeping and the stalled-job watchdog.
    pub runners: RunnerSettings,
    /// Captions: transcription results and uploaded files.
    pub captions: CaptionSettings,
    /// Engine.IO / Socket.IO hub.
    pub socket: SocketSettings,
    /// ffprobe / ffmpeg.
    pub media: MediaSettings,
    /// Logging.
    pub log: LogSettings,
    /// Signed webhooks: endpoints, secrets, retries, allowed targets.
    pub webhooks: WebhookSettings,
    /// How events reach the other server instances.
    pub fanout: FanoutSettings,
    /// The Prometheus endpoint.
    pub metrics: MetricsSettings,
    /// The in-memory offer index.
    pub queue: QueueSettings,
    /// How long finished jobs are kept.
    pub retention: RetentionSettings,
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port to listen on.
    pub bind: String,
    /// Public origin runners and applications reach this server at, e.g.
    /// `https://transcode.example.org` (no trailing slash). Input URLs handed to runners
    /// are built from it. Unset: derived from the bound address.
    pub public_url: Option<String>,
    /// HTTP worker threads (0: one per core).
    pub workers: usize,
    /// Proxies whose `X-Forwarded-For` is trusted for the client IP.
    #[serde(deserialize_with = "list::deserialize")]
    pub trusted_proxies: Vec<IpAddr>,
    /// On SIGTERM/SIGINT, the longest the shutdown takes: runner sockets are closed at
    /// once; requests in progress may finish until its last second (last fifth, if
    /// shorter), then are refused (503) or cut.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite://PATH`. Unset: `sqlite://<data_dir>/connector.sqlite3`.
    pub url: Option<String>,
    /// PostgreSQL password, used instead of one in `url`. Any characters are fine: it is
    /// percent-encoded into the URL, so it need not be escaped by whoever sets it.
    pub password: Option<Secret>,
    /// Pool size.
    pub max_connections: u32,
    /// How long to wait for a connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
}

/// `[storage]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// `local` (files under `root`) or `s3` (`[storage.s3]`).
    pub backend: StorageBackend,
    /// Root of local storage (with S3: only its `.staging` folder is used). Unset:
    /// `<data_dir>/storage`.
    pub root: Option<PathBuf>,
    /// URL path under which this server serves local storage (outputs, thumbnails).
    pub serve_path: String,
    /// Public base URL of stored objects (e.g. a CDN). Unset: `<public_url><serve_path>`.
    pub public_base_url: Option<String>,
    /// Staging files left by a stopped instance are removed once this old
    /// (`storage::staging` has the whole rule).
    #[serde(with = "humantime_serde")]
    pub staging_max_age: Duration,
    /// The S3 backend.
    pub s3: S3Settings,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            backend: StorageBackend::Local,
            s3: S3Settings::default(),
            root: None,
            serve_path: "/static".to_owned(),
            public_base_url: None,
            staging_max_age: Duration::from_secs(3600),
        }
    }
}

/// `[media]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MediaSettings {
    /// ffprobe executable (name in PATH or absolute path).
    pub ffprobe: String,
    /// ffmpeg executable (name in PATH or absolute path).
    pub ffmpeg: String,
    /// Longest an ffprobe run may take.
    #[serde(with = "humantime_serde")]
    pub probe_timeout: Duration,
    /// Longest a thumbnail extraction may take.
    #[serde(with = "humantime_serde")]
    pub thumbnail_timeout: Duration,
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            ffprobe: "ffprobe".to_owned(),
            ffmpeg: "ffmpeg".to_owned(),
            probe_timeout: Duration::from_secs(30),
            thumbnail_timeout: Duration::from_secs(60),
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Bearer keys accepted by the private video API. Empty: that API refuses everything.
    #[serde(deserialize_with = "list::deserialize")]
    pub api_keys: Vec<Secret>,
    /// Bearer keys accepted by the admin API (runners, registration tokens, jobs) and
    /// by the video API. Empty: the admin API refuses everything.
    #[serde(deserialize_with = "list::deserialize")]
    pub admin_keys: Vec<Secret>,
}

/// `[limits]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Largest JSON body in bytes (PeerTube: 500 kB).
    pub json_body_bytes: usize,
    /// Largest runner `update`/`success` upload in bytes (PeerTube's nginx: 12 GiB).
    pub runner_upload_bytes: u64,
    /// Largest video submitted to `POST /api/v1/videos` in bytes.
    pub video_upload_bytes: u64,
}

/// `[transcoding]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TranscodingSettings {
    /// Produce HLS renditions.
    pub hls: bool,
    /// Produce MP4 ("web video") renditions.
    pub web_videos: bool,
    /// Enabled rungs of the ladder (`TRANSCODING_RESOLUTIONS_<N>P`).
    pub resolutions: Resolutions,
    /// Also produce the source's own resolution when it is not an enabled rung.
    pub always_transcode_original_resolution: bool,
    /// Frame-rate rules (`TRANSCODING_FPS_*`).
    pub fps: FpsSettings,
    /// Attempts before a job is errored (`TRANSCODING_RUNNER_MAX_FAILURE`).
    pub max_failures: i32,
    /// Also make a storyboard (seek-preview sprite sheet) of every video once its
    /// source is probed: a `generate-video-storyboard` job, which only runners newer
    /// than 0.0.21 take.
    pub storyboards: bool,
}

/// `[transcoding.resolutions]`: which rungs of the ladder are produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
#[expect(missing_docs, reason = "one flag per rung, named by the rung")]
pub struct Resolutions {
    #[serde(rename = "144p")]
    pub r144: bool,
    #[serde(rename = "240p")]
    pub r240: bool,
    #[serde(rename = "360p")]
    pub r360: bool,
    #[serde(rename = "480p")]
    pub r480: bool,
    #[serde(rename = "720p")]
    pub r720: bool,
    #[serde(rename = "1080p")]
    pub r1080: bool,
    #[serde(rename = "1440p")]
    pub r1440: bool,
    #[serde(rename = "2160p")]
    pub r2160: bool,
}

impl Resolutions {
    /// The enabled rungs, ascending.
    pub fn enabled(&self) -> Vec<u32> {
        [
            (144, self.r144),
            (240, self.r240),
            (360, self.r360),
            (480, self.r480),
            (720, self.r720),
            (1080, self.r1080),
            (1440, self.r1440),
            (2160, self.r2160),
        ]
        .into_iter()
        .filter_map(|(r, on)| on.then_some(r))
        .collect()
    }
}

/// `[transcoding.fps]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FpsSettings {
    /// Lowest acceptable output frame rate.
    pub min: u32,
    /// Snapping list below `keep_origin_fps_resolution_min`.
    #[serde(deserialize_with = "list::deserialize")]
    pub standard: Vec<u32>,
    /// Snapping list above `max`.
    #[serde(deserialize_with = "list::deserialize")]
    pub hd_standard: Vec<u32>,
    /// Frame rate assumed for audio-only sources.
    pub audio_merge: u32,
    /// Above this, low resolutions snap to `standard`.
    pub average: u32,
    /// Above this, frame rates snap to `hd_standard`.
    pub max: u32,
    /// Resolutions from this one up keep the source frame rate (up to `max`).
    pub keep_origin_fps_resolution_min: u32,
}

/// `[captions]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CaptionSettings {
    /// Largest caption file, in bytes (a transcription's `vttFile` or an upload).
    pub max_bytes: u64,
    /// Languages accepted (BCP 47 tags, normalised when loaded: `pt-br` → `pt-BR`).
    /// Empty: every valid tag. A transcription detecting another language fails.
    #[serde(deserialize_with = "list::deserialize")]
    pub languages: Vec<String>,
}

impl Default for CaptionSettings {
    fn default() -> Self {
        CaptionSettings {
            max_bytes: 20 * 1024 * 1024,
            languages: Vec::new(),
        }
    }
}

/// `[runners]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RunnerSettings {
    /// A runner's last contact and IP are written at most this often.
    #[serde(with = "humantime_serde")]
    pub last_contact_interval: Duration,
    /// How often the watchdog looks for stalled jobs.
    #[serde(with = "humantime_serde")]
    pub watchdog_interval: Duration,
    /// VOD, studio, transcription and storyboard jobs without an update for this long
    /// go back to PENDING.
    #[serde(with = "humantime_serde")]
    pub stalled_vod_after: Duration,
    /// Live jobs without an update for this long are errored.
    #[serde(with = "humantime_serde")]
    pub stalled_live_after: Duration,
    /// Jobs stuck in COMPLETING for this long are errored.
    #[serde(with = "humantime_serde")]
    pub stalled_completing_after: Duration,
    /// Vary the order of equal-priority jobs offered by `/jobs/request` per runner, so
    /// runners taking the first offer do not all race for the same job.
    pub spread_offers: bool,
}

/// `[socket]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SocketSettings {
    /// Engine.IO `pingInterval`.
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// Engine.IO `pingTimeout`.
    #[serde(with = "humantime_serde")]
    pub ping_timeout: Duration,
    /// Engine.IO `maxPayload` in bytes.
    pub max_payload: usize,
    /// `available-jobs` goes out at once for the first job of a quiet period; later
    /// triggers within this window make one more broadcast when it ends.
    #[serde(with = "humantime_serde")]
    pub debounce: Duration,
    /// `available-jobs` is re-sent this often while jobs are pending.
    #[serde(with = "humantime_serde")]
    pub reannounce_interval: Duration,
    /// A connection that joined no namespace within this delay is closed.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// How long a WebSocket upgrade of a long-polling session may take.
    #[serde(with = "humantime_serde")]
    pub upgrade_timeout: Duration,
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// Default filter (`RUST_LOG` wins when set), e.g. `info` or `peertube_runner_connector=debug`.
    pub level: String,
    /// `pretty` or `json`.
    pub format: LogFormat,
}

/// Log output format.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("data"),
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            storage: StorageSettings::default(),
            auth: AuthSettings::default(),
            limits: LimitSettings::default(),
            transcoding: TranscodingSettings::default(),
            runners: RunnerSettings::default(),
            captions: CaptionSettings::default(),
            socket: SocketSettings::default(),
            media: MediaSettings::default(),
            log: LogSettings::default(),
            webhooks: WebhookSettings::default(),
            fanout: FanoutSettings::default(),
            metrics: MetricsSettings::default(),
            queue: QueueSettings::default(),
            retention: RetentionSettings::default(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            bind: "127.0.0.1:8000".to_owned(),
            public_url: None,
            workers: 0,
            trusted_proxies: Vec::new(),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: None,
            password: None,
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            migrate_on_start: true,
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            json_body_bytes: 500 * 1024,
            runner_upload_bytes: 12 * 1024 * 1024 * 1024,
            video_upload_bytes: 12 * 1024 * 1024 * 1024,
        }
    }
}

impl Default for TranscodingSettings {
    fn default() -> Self {
        TranscodingSettings {
            hls: true,
            web_videos: false,
            resolutions: Resolutions::default(),
            always_transcode_original_resolution: false,
            fps: FpsSettings::default(),
            max_failures: 5,
            storyboards: false,
        }
    }
}

impl Default for Resolutions {
    fn default() -> Self {
        Resolutions {
            r144: false,
            r240: false,
            r360: true,
            r480: true,
            r720: true,
            r1080: false,
            r1440: false,
            r2160: false,
        }
    }
}

impl Default for FpsSettings {
    fn default() -> Self {
        FpsSettings {
            min: 1,
            standard: vec![24, 25, 30],
            hd_standard: vec![50, 60],
            audio_merge: 25,
            average: 30,
            max: 60,
            keep_origin_fps_resolution_min: 720,
        }
    }
}

impl Default for RunnerSettings {
    fn default() -> Self {
        RunnerSettings {
            last_contact_interval: Duration::from_secs(30),
            watchdog_interval: Duration::from_secs(30),
            stalled_vod_after: Duration::from_secs(120),
            stalled_live_after: Duration::from_secs(30),
            stalled_completing_after: Duration::from_secs(6 * 3600),
            spread_offers: true,
        }
    }
}

impl Default for SocketSettings {
    fn default() -> Self {
        SocketSettings {
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            max_payload: 1_000_000,
            debounce: Duration::from_secs(1),
            reannounce_interval: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(45),
            upgrade_timeout: Duration::from_secs(10),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".to_owned(),
            format: LogFormat::Pretty,
        }
    }
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A layer holds a bad key or value.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Values given on the command line; they override every other layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--database-url`
    pub database_url: Option<String>,
    /// `serve --bind`
    pub bind: Option<String>,
    /// `serve --public-url`
    pub public_url: Option<String>,
}

impl Settings {
    /// Loads the layers from the process environment.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Settings, ConfigError> {
        Settings::load_from(file, std::env::vars(), overrides)
    }

    /// Loads the layers with the given environment (tests pass their own).
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            // Read here for a clear error; figment reads it again and names it in errors.
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            figment = figment.merge(Toml::file_exact(path));
        }
        // Environment: `PRC_SECTION__KEY=value`. Values are kept exactly as written (a
        // password `007`, `true` or `[x]` stays that string); numbers and booleans are
        // read from them by the lossy extraction below, lists by [`list`]. Taken from the
        // iterator rather than figment's `Env` so that tests stay hermetic.
        let vars: BTreeMap<String, String> = env
            .into_iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix(ENV_PREFIX)?;
                (!NOT_CONFIG.contains(&key) && !key.is_empty())
                    .then(|| (key.to_lowercase().replace("__", "."), v))
            })
            .collect();
        figment = figment.merge(EnvLayer(vars));
        if let Some(url) = &overrides.database_url {
            figment = figment.merge(Serialized::default("database.url", url));
        }
        if let Some(bind) = &overrides.bind {
            figment = figment.merge(Serialized::default("server.bind", bind));
        }
        if let Some(public_url) = &overrides.public_url {
            figment = figment.merge(Serialized::default("server.public_url", public_url));
        }
        let mut settings: Settings = figment
            .extract_lossy()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        settings.resolve()?;
        Ok(settings)
    }

    /// Fills the derived defaults and checks values that serde cannot.
    fn resolve(&mut self) -> Result<(), ConfigError> {
        if self.database.url.is_none() {
            let path = self.data_dir.join("connector.sqlite3");
            self.database.url = Some(format!("sqlite://{}", path.display()));
        }
        if self.storage.root.is_none() {
            self.storage.root = Some(self.data_dir.join("storage"));
        }
        if self.database.password.is_some() {
            let url = self.database.url.as_deref().unwrap_or_default();
            if with_password(url, "").is_none() {
                return Err(ConfigError::Invalid(
                    "database.password needs database.url to be a postgres:// URL naming a host"
                        .to_owned(),
                ));
            }
        }
        if let Some(url) = &self.server.public_url {
            self.server.public_url = Some(normalize_public_url(url)?);
        }
        self.fanout.check()?;
        if !self.storage.serve_path.starts_with('/') || self.storage.serve_path.len() < 2 {
            return Err(ConfigError::Invalid(
                "storage.serve_path must start with `/` and not be `/` alone".to_owned(),
            ));
        }
        self.storage.serve_path = self.storage.serve_path.trim_end_matches('/').to_owned();
        if self.storage.backend == StorageBackend::S3 {
            let public_base_url = self.storage.public_base_url.clone();
            self.storage.s3.resolve(public_base_url.as_deref())?;
        }
        if self.storage.staging_max_age < Duration::from_secs(1) {
            return Err(ConfigError::Invalid(
                "storage.staging_max_age must be at least 1s".to_owned(),
            ));
        }
        for tag in &mut self.captions.languages {
            let language = crate::domain::caption::Language::parse(tag)
                .map_err(|e| ConfigError::Invalid(format!("captions.languages: {e}")))?;
            *tag = language.as_str().to_owned();
        }
        if self.captions.max_bytes == 0 {
            return Err(ConfigError::Invalid(
                "captions.max_bytes must be at least 1".to_owned(),
            ));
        }
        if self.transcoding.max_failures < 1 {
            return Err(ConfigError::Invalid(
                "transcoding.max_failures must be at least 1".to_owned(),
            ));
        }
        if self.transcoding.fps.standard.is_empty() || self.transcoding.fps.hd_standard.is_empty() {
            return Err(ConfigError::Invalid(
                "transcoding.fps.standard and hd_standard must not be empty".to_owned(),
            ));
        }
        if self.transcoding.fps.standard.contains(&0)
            || self.transcoding.fps.hd_standard.contains(&0)
        {
            return Err(ConfigError::Invalid(
                "transcoding.fps.standard and hd_standard must not contain 0".to_owned(),
            ));
        }
        self.webhooks.check()?;
        Ok(())
    }

    /// The database URL to connect to (always set after loading), with
    /// `database.password` in it when that is set. It may hold a password: never log it
    /// unredacted.
    pub fn database_url(&self) -> String {
        let url = self.database.url.as_deref().unwrap_or_default();
        self.database
            .password
            .as_ref()
            .and_then(|password| with_password(url, password.expose()))
            .unwrap_or_else(|| url.to_owned())
    }

    /// The local storage root (always set after loading).
    pub fn storage_root(&self) -> PathBuf {
        self.storage
            .root
            .clone()
            .unwrap_or_else(|| self.data_dir.join("storage"))
    }

    /// The effective configuration as TOML, secrets masked.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(self).map_err(|e| ConfigError::Invalid(e.to_string()))
    }
}

/// Checks a public URL is an `http(s)` origin (optionally with a path) and strips the
/// trailing slash, which would otherwise double every slash runners concatenate.
pub fn normalize_public_url(raw: &str) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(raw)
        .map_err(|e| ConfigError::Invalid(format!("server.public_url `{raw}`: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(ConfigError::Invalid(format!(
            "server.public_url `{raw}` must be an http:// or https:// URL"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ConfigError::Invalid(format!(
            "server.public_url `{raw}` must not have a query or fragment"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod load_tests;

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    pub(super) fn load(file: Option<&Path>, vars: &[(&str, &str)], o: &Overrides) -> Settings {
        match Settings::load_from(file, env(vars), o) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn defaults_match_the_django_library() {
        let s = load(None, &[], &Overrides::default());
        assert_eq!(s.transcoding.resolutions.enabled(), vec![360, 480, 720]);
        assert_eq!(s.transcoding.fps.standard, vec![24, 25, 30]);
        assert_eq!(s.transcoding.fps.hd_standard, vec![50, 60]);
        assert_eq!(s.transcoding.fps.audio_merge, 25);
        assert_eq!(s.transcoding.fps.average, 30);
        assert_eq!(s.transcoding.fps.max, 60);
        assert_eq!(s.transcoding.fps.keep_origin_fps_resolution_min, 720);
        assert_eq!(s.transcoding.fps.min, 1);
        assert_eq!(s.transcoding.max_failures, 5);
        assert!(!s.transcoding.always_transcode_original_resolution);
        assert_eq!(s.database_url(), "sqlite://data/connector.sqlite3");
        assert_eq!(s.storage_root(), PathBuf::from("data/storage"));
    }

    #[test]
    fn layers_apply_in_order_file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/prc\"\n[server]\nbind = \"0.0.0.0:9000\"\npublic_url = \"https://a.example/\"\n\
             [database]\nurl = \"sqlite:///from/file.db\"\n[transcoding.resolutions]\n1080p = true\n\
             [runners]\nstalled_vod_after = \"90s\"\n",
        )
        .unwrap();
        let s = load(Some(&file), &[], &Overrides::default());
        assert_eq!(s.server.bind, "0.0.0.0:9000");
        assert_eq!(s.server.public_url.as_deref(), Some("https://a.example"));
        assert_eq!(s.database_url(), "sqlite:///from/file.db");
        assert_eq!(s.storage_root(), PathBuf::from("/srv/prc/storage"));
        assert_eq!(
            s.transcoding.resolutions.enabled(),
            vec![360, 480, 720, 1080]
        );
        assert_eq!(s.runners.stalled_vod_after, Duration::from_secs(90));

        let vars = [
            ("PRC_DATABASE__URL", "postgres://env/db"),
            ("PRC_SERVER__BIND", "127.0.0.1:1"),
            ("PRC_TRANSCODING__RESOLUTIONS__720P", "false"),
            ("PRC_AUTH__API_KEYS", "[\"k1\", \"k2\"]"),
            ("PRC_CONFIG", "/ignored.toml"),
            ("PRC_URL", "http://ignored.example"),
            ("PRC_API_KEY", "ignored"),
            ("PRC_AUTH__ADMIN_KEYS", "a1, a2"),
            ("UNRELATED", "x"),
        ];
        let s = load(Some(&file), &vars, &Overrides::default());
        assert_eq!(s.database_url(), "postgres://env/db");
        assert_eq!(s.server.bind, "127.0.0.1:1");
        assert_eq!(s.transcoding.resolutions.enabled(), vec![360, 480, 1080]);
        assert_eq!(s.auth.api_keys, vec![Secret::new("k1"), Secret::new("k2")]);
        assert_eq!(
            s.auth.admin_keys,
            vec![Secret::new("a1"), Secret::new("a2")]
        );

        let flags = Overrides {
            database_url: Some("sqlite://flag.db".to_owned()),
            bind: Some("127.0.0.1:2".to_owned()),
            public_url: Some("http://flag.example:8080".to_owned()),
        };
        let s = load(Some(&file), &vars, &flags);
        assert_eq!(s.database_url(), "sqlite://flag.db");
        assert_eq!(s.server.bind, "127.0.0.1:2");
        assert_eq!(
            s.server.public_url.as_deref(),
            Some("http://flag.example:8080")
        );
    }

    #[test]
    fn the_example_file_documents_exactly_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
        let from_file = load(Some(&path), &[], &Overrides::default());
        assert_eq!(from_file, load(None, &[], &Overrides::default()));
        // Every key of the effective configuration appears in the file (commented or not).
        let text = std::fs::read_to_string(&path).unwrap();
        let dumped: toml::Table = toml::from_str(&from_file.to_toml().unwrap()).unwrap();
        fn keys(prefix: &str, t: &toml::Table, out: &mut Vec<String>) {
            for (k, v) in t {
                match v {
                    toml::Value::Table(inner) => keys(&format!("{prefix}{k}."), inner, out),
                    _ => out.push(k.clone()),
                }
            }
        }
        let mut all = Vec::new();
        keys("", &dumped, &mut all);
        for key in all {
            assert!(
                text.contains(&format!("{key} =")) || text.contains(&format!("# {key} =")),
                "config/example.toml does not document `{key}`"
            );
        }
    }

    #[test]
    fn bad_layers_are_reported() {
        let o = Overrides::default();
        assert!(matches!(
            Settings::load_from(Some(Path::new("/nonexistent/x.toml")), env(&[]), &o),
            Err(ConfigError::Read { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[server]\nbnid = \"typo\"\n").unwrap();
        let err = Settings::load_from(Some(&file), env(&[]), &o).unwrap_err();
        assert!(err.to_string().contains("bnid"), "{err}");
        std::fs::write(&file, "not toml at all [").unwrap();
        assert!(Settings::load_from(Some(&file), env(&[]), &o).is_err());
        let err =
            Settings::load_from(None, env(&[("PRC_SERVER__WORKERS", "many")]), &o).unwrap_err();
        assert!(err.to_string().contains("PRC_SERVER__WORKERS"), "{err}");
        let err = Settings::load_from(None, env(&[("PRC_SERVER__PUBLIC_URL", "ftp://x")]), &o)
            .unwrap_err();
        assert!(err.to_string().contains("public_url"), "{err}");
        let err = Settings::load_from(None, env(&[("PRC_TRANSCODING__MAX_FAILURES", "0")]), &o)
            .unwrap_err();
        assert!(err.to_string().contains("max_failures"), "{err}");
    }

    #[test]
    fn caption_languages_are_normalised_and_checked() {
        let s = load(
            None,
            &[("PRC_CAPTIONS__LANGUAGES", "fr,pt-br,ZH-hans")],
            &Overrides::default(),
        );
        assert_eq!(s.captions.languages, ["fr", "pt-BR", "zh-Hans"]);
        assert_eq!(s.captions.max_bytes, 20 * 1024 * 1024);
        let o = Overrides::default();
        let err = Settings::load_from(None, env(&[("PRC_CAPTIONS__LANGUAGES", "fr,xx")]), &o)
            .unwrap_err();
        assert!(err.to_string().contains("captions.languages"), "{err}");
        let err =
            Settings::load_from(None, env(&[("PRC_CAPTIONS__MAX_BYTES", "0")]), &o).unwrap_err();
        assert!(err.to_string().contains("max_bytes"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let s = load(
            None,
            &[
                ("PRC_AUTH__API_KEYS", "topsecret"),
                (
                    "PRC_DATABASE__URL",
                    "postgres://connector@db:5432/connector",
                ),
                ("PRC_DATABASE__PASSWORD", "pgsecret"),
            ],
            &Overrides::default(),
        );
        let dumped = s.to_toml().unwrap();
        let debugged = format!("{s:?}");
        for text in [&dumped, &debugged] {
            assert!(
                !text.contains("topsecret") && !text.contains("pgsecret"),
                "{text}"
            );
        }
        assert!(dumped.contains("********"));
        assert!(s.auth.api_keys[0].matches("topsecret"));
        assert!(!s.auth.api_keys[0].matches("topsecreT"));
        assert!(!Secret::default().matches(""));
    }
}
