//! The library's rows read as this service's (`reference-library.md` 1 and 9): what
//! each would become, or why it cannot. Pure apart from the settings it is given.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;

use super::report::{NotCarriedOver, Section};
use crate::config::Settings;
use crate::db::django::{DjangoFile, DjangoTables, DjangoVideo};
use crate::domain::caption::Language;
use crate::domain::django;
use crate::domain::ids::{RegistrationToken, RunnerToken, TokenHash};
use crate::domain::video::{FileFacts, FileKind, VideoOptions, VideoState, keys};
use crate::service::submit::{DEFAULT_FOLDERS, check_naming};
use crate::storage::validate_key;

/// A registration token to carry over.
#[derive(Debug, Clone)]
pub struct Token {
    /// Its id in the library.
    pub django_id: String,
    /// The token, as handed out.
    pub token: String,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A runner to carry over.
#[derive(Debug, Clone)]
pub struct Runner {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Hash of the token it has.
    pub token_hash: TokenHash,
    /// Last client IP.
    pub ip: String,
    /// Last contact.
    pub last_contact: NaiveDateTime,
    /// Registration time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Its registration token's id in the library.
    pub token_django_id: String,
}

/// A file of a video to carry over.
#[derive(Debug, Clone)]
pub struct File {
    /// As this service records it.
    pub facts: FileFacts,
    /// When the library recorded it.
    pub created_at: NaiveDateTime,
}

/// A video to carry over, with its files.
#[derive(Debug, Clone)]
pub struct Video {
    /// Public UUID, canonical.
    pub uuid: String,
    /// State here.
    pub state: VideoState,
    /// Why it failed (the library's last job error).
    pub error: Option<String>,
    /// Storage folder.
    pub directory: String,
    /// Prefix of output names made here (after `--replan`).
    pub base_filename: String,
    /// Seconds.
    pub duration: Option<f64>,
    /// Thumbnail key.
    pub thumbnail_key: Option<String>,
    /// Output options.
    pub options: VideoOptions,
    /// Source, renditions.
    pub files: Vec<File>,
    /// Master playlist key, when it has HLS renditions.
    pub master_key: Option<String>,
    /// The transcript: language and key.
    pub caption: Option<(Language, String)>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl Video {
    /// Its source file.
    pub fn source(&self) -> Option<&FileFacts> {
        self.files
            .iter()
            .map(|f| &f.facts)
            .find(|f| f.kind == FileKind::Source)
    }

    /// Whether it has a published rendition.
    pub fn has_rendition(&self) -> bool {
        self.files.iter().any(|f| f.facts.kind.is_published())
    }

    /// Every storage key its rows will record.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for f in &self.files {
            keys.push(f.facts.storage_key.clone());
            keys.extend(f.facts.playlist_key.clone());
        }
        keys.extend(self.thumbnail_key.clone());
        keys.extend(self.master_key.clone());
        keys.extend(self.caption.as_ref().map(|(_, k)| k.clone()));
        keys
    }
}

/// Everything read, mapped; with what was skipped on the way.
#[derive(Debug, Default)]
pub struct Incoming {
    /// Registration tokens.
    pub tokens: Vec<Token>,
    /// Runners.
    pub runners: Vec<Runner>,
    /// Videos.
    pub videos: Vec<Video>,
    /// What was skipped of each table, with the reason.
    pub skipped: Skipped,
    /// Jobs with work left, which are not carried over.
    pub not_carried_over: Vec<NotCarriedOver>,
    /// How many library jobs had ended (nothing to carry over).
    pub finished_jobs: usize,
}

/// What the mapping skipped, per report section.
#[derive(Debug, Default)]
pub struct Skipped {
    /// Registration tokens.
    pub tokens: Section,
    /// Runners.
    pub runners: Section,
    /// Videos.
    pub videos: Section,
    /// Files.
    pub files: Section,
    /// Captions.
    pub captions: Section,
}

fn time(s: &str, what: &str) -> Result<NaiveDateTime, String> {
    django::time(s).ok_or_else(|| format!("unreadable {what} `{s}`"))
}

/// Maps the library's tables.
pub fn map(tables: &DjangoTables, settings: &Settings) -> Incoming {
    let mut incoming = Incoming::default();
    map_tokens(tables, &mut incoming);
    map_runners(tables, &mut incoming);
    map_jobs(tables, &mut incoming);
    let errors = last_errors(tables);
    let resolutions = settings.transcoding.resolutions.enabled();
    for v in &tables.videos {
        let label = django::uuid(&v.uuid).unwrap_or_else(|| v.uuid.clone());
        match map_video(tables, v, &errors, &resolutions, &mut incoming.skipped) {
            Ok(video) => incoming.videos.push(video),
            Err(reason) => incoming.skipped.videos.skip(label, reason),
        }
    }
    incoming
}

fn map_tokens(tables: &DjangoTables, incoming: &mut Incoming) {
    for t in &tables.registration_tokens {
        let mapped = (|| {
            RegistrationToken::parse(&t.token).map_err(|e| format!("token: {e}"))?;
            Ok::<_, String>(Token {
                django_id: t.id.clone(),
                token: t.token.clone(),
                created_at: time(&t.created_at, "createdAt")?,
                updated_at: time(&t.updated_at, "updatedAt")?,
            })
        })();
        match mapped {
            Ok(token) => incoming.tokens.push(token),
            Err(reason) => incoming.skipped.tokens.skip(t.id.clone(), reason),
        }
    }
}

fn map_runners(tables: &DjangoTables, incoming: &mut Incoming) {
    let tokens: HashSet<&str> = incoming
        .tokens
        .iter()
        .map(|t| t.django_id.as_str())
        .collect();
    let mut hashes: HashMap<TokenHash, String> = HashMap::new();
    for r in &tables.runners {
        let mapped = (|| {
            let token = RunnerToken::parse(&r.token).map_err(|e| format!("runnerToken: {e}"))?;
            if !tokens.contains(r.registration_token_id.as_str()) {
                return Err("its registration token was not imported".to_owned());
            }
            let token_hash = token.hash();
            if let Some(other) = hashes.get(&token_hash) {
                return Err(format!(
                    "it has the same runner token as runner `{other}` (tokens are unique here)"
                ));
            }
            hashes.insert(token_hash.clone(), r.name.clone());
            Ok(Runner {
                name: r.name.clone(),
                description: r.description.clone(),
                token_hash,
                ip: r.ip.clone(),
                last_contact: time(&r.last_contact, "lastContact")?,
                created_at: time(&r.created_at, "createdAt")?,
                updated_at: time(&r.updated_at, "updatedAt")?,
                token_django_id: r.registration_token_id.clone(),
            })
        })();
        match mapped {
            Ok(runner) => incoming.runners.push(runner),
            Err(reason) => incoming.skipped.runners.skip(r.name.clone(), reason),
        }
    }
}

/// The `videoUUID` of a job's private payload.
fn job_video(private_payload: Option<&str>) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(private_payload?).ok()?;
    django::uuid(v.get("videoUUID")?.as_str()?)
}

fn map_jobs(tables: &DjangoTables, incoming: &mut Incoming) {
    let runner_names: HashMap<&str, &str> = tables
        .runners
        .iter()
        .map(|r| (r.id.as_str(), r.name.as_str()))
        .collect();
    for j in &tables.jobs {
        if !django::job_unfinished(j.state) {
            incoming.finished_jobs += 1;
            continue;
        }
        incoming.not_carried_over.push(NotCarriedOver {
            uuid: django::uuid(&j.uuid).unwrap_or_else(|| j.uuid.clone()),
            job_type: j.job_type.clone(),
            state: crate::domain::job::JobState::from_id(j.state)
                .map_or_else(|| j.state.to_string(), |s| s.label().to_owned()),
            runner: j
                .runner_id
                .as_deref()
                .and_then(|id| runner_names.get(id))
                .map(|n| (*n).to_owned()),
            video: job_video(j.private_payload.as_deref()),
        });
    }
}

/// The last error of an errored job, per video UUID.
fn last_errors(tables: &DjangoTables) -> HashMap<String, String> {
    let mut errors = HashMap::new();
    for j in tables.jobs.iter().filter(|j| j.state == 4) {
        if let (Some(video), Some(error)) = (job_video(j.private_payload.as_deref()), &j.error) {
            errors.insert(video, error.clone());
        }
    }
    errors
}

fn key(k: &str, what: &str) -> Result<String, String> {
    validate_key(k)
        .map(str::to_owned)
        .map_err(|e| format!("{what}: {e}"))
}

fn map_video(
    tables: &DjangoTables,
    v: &DjangoVideo,
    errors: &HashMap<String, String>,
    resolutions: &[u32],
    skipped: &mut Skipped,
) -> Result<Video, String> {
    let uuid = django::uuid(&v.uuid).ok_or_else(|| format!("unreadable uuid `{}`", v.uuid))?;
    let state = django::video_state(v.state).ok_or_else(|| {
        format!(
            "state {} is not one the library writes (1, 2 or 7)",
            v.state
        )
    })?;
    let directory = key(&v.directory, "directory")?;
    if directory == DEFAULT_FOLDERS {
        return Err(format!(
            "directory `{DEFAULT_FOLDERS}` holds this service's default folders"
        ));
    }
    let base_filename = v
        .base_filename
        .clone()
        .filter(|b| check_naming(None, None, Some(b.as_str())).is_ok())
        .unwrap_or_else(|| uuid.clone());
    let duration = v.duration.filter(|d| *d > 0);
    let mut files: Vec<File> = Vec::new();
    let own: Vec<&DjangoFile> = tables.files.iter().filter(|f| f.video_id == v.id).collect();
    for f in own {
        let label = format!(
            "{uuid}: {}",
            f.filename.as_deref().unwrap_or("(no filename)")
        );
        match map_file(&directory, duration, f, &files) {
            Ok(file) => files.push(file),
            Err(reason) => skipped.files.skip(label, reason),
        }
    }
    let has_hls = files.iter().any(|f| f.facts.kind == FileKind::Hls);
    let master_key = if has_hls {
        let given = tables
            .playlists
            .iter()
            .find(|p| p.video_id == v.id)
            .and_then(|p| p.master.clone());
        Some(match given {
            Some(m) => key(&m, "playlistFilename")?,
            None => keys::master(&directory),
        })
    } else {
        None
    };
    let caption = match (&v.transcript, &v.language) {
        (None, _) => None,
        (Some(t), language) => {
            let mapped = (|| {
                let tag = language
                    .as_deref()
                    .ok_or("the transcript has no language")?;
                let language = Language::parse(tag).map_err(|e| e.to_string())?;
                Ok::<_, String>((language, key(t, "transcriptFileName")?))
            })();
            match mapped {
                Ok(c) => Some(c),
                Err(reason) => {
                    skipped.captions.skip(format!("{uuid}: {t}"), reason);
                    None
                }
            }
        }
    };
    let thumbnail_key = v
        .thumbnail
        .as_deref()
        .map(|t| key(t, "thumbnailFilename"))
        .transpose()?;
    let web_videos = files.iter().any(|f| f.facts.kind == FileKind::WebVideo);
    let state = match state {
        VideoState::ToTranscode if files.iter().any(|f| f.facts.kind.is_published()) => {
            VideoState::Playable
        }
        s => s,
    };
    let error = (state == VideoState::TranscodingFailed).then(|| {
        errors
            .get(&uuid)
            .cloned()
            .unwrap_or_else(|| "Transcoding failed in django-peertube-runner-connector".to_owned())
    });
    Ok(Video {
        state,
        error,
        directory,
        base_filename,
        duration: duration.map(f64::from),
        thumbnail_key,
        options: VideoOptions {
            hls: true,
            web_videos,
            resolutions: resolutions.to_vec(),
            source_owned: false,
            // No studio edit was ever applied: the library has none.
            edition: 0,
            switch_at: None,
        },
        files,
        master_key,
        caption,
        created_at: time(&v.created_at, "createdAt")?,
        updated_at: time(&v.updated_at, "updatedAt")?,
        uuid,
    })
}

fn map_file(
    directory: &str,
    duration: Option<i32>,
    f: &DjangoFile,
    earlier: &[File],
) -> Result<File, String> {
    let filename = f.filename.as_deref().ok_or("no filename")?;
    let storage_key = key(filename, "filename")?;
    let kind = if f.playlist_id.is_some() {
        FileKind::Hls
    } else if django::is_web_video(directory, &storage_key, &f.extname, f.resolution) {
        FileKind::WebVideo
    } else {
        FileKind::Source
    };
    if let Some(other) = earlier.iter().find(|e| {
        e.facts.kind == kind && (kind == FileKind::Source || e.facts.resolution == f.resolution)
    }) {
        return Err(match kind {
            FileKind::Source => format!(
                "neither an HLS rendition nor a web video, and `{}` is the source",
                other.facts.storage_key
            ),
            _ => format!(
                "`{}` is the {} rendition at {}p already",
                other.facts.storage_key,
                kind.as_str(),
                f.resolution
            ),
        });
    }
    let playlist_key = match kind {
        FileKind::Hls => Some(key(&django::hls_playlist_key(&storage_key), "playlist")?),
        _ => None,
    };
    let info = f
        .metadata
        .as_deref()
        .and_then(|m| crate::media::probe::parse(m.as_bytes()).ok());
    let (width, height) = info
        .as_ref()
        .and_then(|i| i.video.as_ref().filter(|v| !v.is_still_image))
        .map_or((0, 0), |v| (v.width as i32, v.height as i32));
    let bitrate = info
        .as_ref()
        .and_then(|i| i.bit_rate)
        .and_then(|b| i64::try_from(b).ok())
        .unwrap_or_else(|| django::bandwidth(f.size, duration));
    Ok(File {
        facts: FileFacts {
            kind,
            storage_key,
            playlist_key,
            resolution: f.resolution.max(0),
            width,
            height,
            fps: django::fps(f.fps),
            size: f.size,
            bitrate: Some(bitrate),
            codecs: info.as_ref().and_then(|i| i.codecs_string()),
            format: info.as_ref().map(|i| i.format_name.clone()),
            metadata: f.metadata.clone(),
        },
        created_at: time(&f.created_at, "createdAt")?,
    })
}
