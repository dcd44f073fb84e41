//! `import-django`: moves a `django-peertube-runner-connector` deployment here without
//! re-registering its runners or losing its videos.
//!
//! 1. The library's tables are read in one read-only snapshot (`db::django`) and
//!    mapped ([`incoming`]): registration tokens as they are, runners with the hash of
//!    the token they hold (so they authenticate here with it), videos with their
//!    source, HLS and MP4 files, master playlist, thumbnail and transcript, under the
//!    storage keys the library wrote (nothing is moved). Jobs are not carried over:
//!    those with work left are reported.
//! 2. Every incoming row is compared with this database. A row found here as the
//!    library has it is "already imported" and left alone, so a second run changes
//!    nothing; a row here with the same name, token or UUID but other content (or a
//!    video folder overlapping another video's) is a conflict, and any conflict refuses
//!    the whole import before anything is written, naming the rows.
//! 3. One write transaction inserts what is new (`--dry-run` rolls it back at the end).
//!    Videos of the library that overlap each other are skipped, not refused.
//! 4. `--replan`: unfinished videos (to transcode or failed, no job here) whose source
//!    is in storage are probed and planned as a submission is, minus the renditions they
//!    have; the jobs are created in the same transaction, and published after it.

pub mod incoming;
pub mod report;

use std::collections::{HashMap, HashSet};

use crate::config::Settings;
use crate::db::folders::FolderConflict;
use crate::db::imported::ImportedRunner;
use crate::db::{self, Db, DbConnection, DbError};
use crate::domain::caption::{CaptionSource, NewCaption};
use crate::domain::job::{Job, JobState};
use crate::domain::planning::{self, Outputs, PlannedJob, PlannedKind};
use crate::domain::video::{FileKind, NewVideo, VideoState};
use crate::error::ServiceError;
use crate::media::Media;
use crate::service::events::{self, Event, EventBus};
use crate::service::jobs::create_jobs;
use crate::service::submit::{OutputOptions, job_specs, ladder_rules, source_facts};
use crate::storage::{Storage, StorageError};
use incoming::Incoming;
use report::{ImportReport, Replanned, SkippedRow};

/// What to import, and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The library's database URL (`postgres://…`, `sqlite://PATH` or a file path).
    pub from: String,
    /// Prefix of its tables (default `django_peertube_runner_connector_`).
    pub table_prefix: String,
    /// Do everything but commit.
    pub dry_run: bool,
    /// Plan jobs for the missing renditions of unfinished videos.
    pub replan: bool,
}

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The library's database could not be read.
    #[error("cannot read the library's database: {0}")]
    Read(DbError),
    /// Rows here conflict with the library's: nothing was written.
    #[error(
        "refusing to import: this database already holds rows that conflict with the \
         library's (nothing was written):\n  {}",
        .0.join("\n  ")
    )]
    Conflicts(Vec<String>),
    /// The command cannot run as asked.
    #[error("{0}")]
    Invalid(String),
    /// This database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Planning or creating jobs failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// Storage failed (not a missing object: those are reported).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// `--dry-run`: the transaction is rolled back with the report.
    #[error("dry run")]
    DryRun(Box<ImportReport>),
}

/// What `--replan` decided for one video before the transaction.
#[derive(Debug, Clone)]
struct Replan {
    uuid: String,
    jobs: Vec<PlannedJob>,
    has_rendition: bool,
}

/// Runs the import (see the module documentation) and returns its report; after a
/// commit, the jobs `--replan` created are published on `events`.
pub async fn run(
    db: &Db,
    storage: &Storage,
    media: &Media,
    settings: &Settings,
    events: &EventBus,
    options: ImportOptions,
) -> Result<ImportReport, ImportError> {
    let public_url = settings.server.public_url.clone();
    if options.replan && public_url.is_none() {
        return Err(ImportError::Invalid(
            "--replan needs server.public_url (PRC_SERVER__PUBLIC_URL): the jobs it creates \
             give runners absolute input URLs on it"
                .to_owned(),
        ));
    }
    let (from, prefix) = (options.from.clone(), options.table_prefix.clone());
    let tables = tokio::task::spawn_blocking(move || {
        let mut conn = db::django::open(&from)?;
        db::django::read(&mut conn, &prefix)
    })
    .await
    .map_err(|e| ImportError::Read(DbError::Task(e.to_string())))?
    .map_err(ImportError::Read)?;
    let incoming = incoming::map(&tables, settings);

    let mut missing = Vec::new();
    let mut sizes: HashMap<String, u64> = HashMap::new();
    for key in incoming.videos.iter().flat_map(|v| v.keys()) {
        match storage.size(&key).await? {
            Some(size) => {
                sizes.insert(key, size);
            }
            None => missing.push(key),
        }
    }
    let (replans, replan_skipped) = if options.replan {
        plan_replans(db, storage, media, settings, &incoming).await?
    } else {
        (Vec::new(), Vec::new())
    };

    let dry_run = options.dry_run;
    let public_url = public_url.unwrap_or_default();
    let now = db::now();
    let outcome = db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                let mut report = ImportReport {
                    dry_run,
                    missing_objects: missing,
                    replan_skipped,
                    ..ImportReport::default()
                };
                let jobs = import(
                    conn,
                    &incoming,
                    &sizes,
                    &replans,
                    &public_url,
                    now,
                    &mut report,
                )?;
                if dry_run {
                    return Err(ImportError::DryRun(Box::new(report)));
                }
                Ok((report, jobs))
            })
        })
        .await;
    let (report, jobs) = match outcome {
        Ok(done) => done,
        Err(ImportError::DryRun(report)) => return Ok(*report),
        Err(e) => return Err(e),
    };
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    for event in events::jobs_changed(&ids) {
        events.publish(event);
    }
    if jobs.iter().any(|j| j.state == JobState::Pending) {
        events.publish(Event::JobsAvailable);
    }
    Ok(report)
}

/// The videos `--replan` plans, probed from their sources in storage, and those it
/// cannot plan with the reason.
async fn plan_replans(
    db: &Db,
    storage: &Storage,
    media: &Media,
    settings: &Settings,
    incoming: &Incoming,
) -> Result<(Vec<Replan>, Vec<SkippedRow>), ImportError> {
    let unfinished: Vec<&incoming::Video> = incoming
        .videos
        .iter()
        .filter(|v| v.state != VideoState::Published)
        .collect();
    let uuids: Vec<String> = unfinished.iter().map(|v| v.uuid.clone()).collect();
    let with_jobs: HashSet<String> = db
        .run(move |conn| {
            let mut found = HashSet::new();
            for uuid in uuids {
                if let Some((id, _)) = db::imported::video_by_uuid(conn, &uuid)?
                    && db::imported::job_count(conn, id)? > 0
                {
                    found.insert(uuid);
                }
            }
            Ok::<_, DbError>(found)
        })
        .await?;
    let t = &settings.transcoding;
    let rules = ladder_rules(t, &OutputOptions::default());
    let outputs = Outputs {
        hls: t.hls,
        web_videos: t.web_videos,
    };
    let (mut planned, mut skipped) = (Vec::new(), Vec::new());
    let mut skip = |uuid: &str, reason: String| {
        skipped.push(SkippedRow {
            item: uuid.to_owned(),
            reason,
        })
    };
    for v in unfinished {
        if with_jobs.contains(&v.uuid) {
            skip(
                &v.uuid,
                "it has jobs here already (replanned before)".to_owned(),
            );
            continue;
        }
        let Some(source) = v.source() else {
            skip(&v.uuid, "the library recorded no source file".to_owned());
            continue;
        };
        let copy = match storage.materialize(&source.storage_key).await {
            Ok(copy) => copy,
            Err(StorageError::NotFound(_)) => {
                skip(
                    &v.uuid,
                    format!("its source `{}` is not in storage", source.storage_key),
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let info = match media.probe(copy.path()).await {
            Ok(info) => info,
            Err(e) => {
                skip(&v.uuid, format!("its source cannot be probed: {e}"));
                continue;
            }
        };
        let plan = match planning::plan_jobs(&source_facts(&info), &rules, outputs) {
            Ok(plan) => plan,
            Err(e) => {
                skip(&v.uuid, e.to_string());
                continue;
            }
        };
        let have: HashSet<(FileKind, i32)> = v
            .files
            .iter()
            .map(|f| (f.facts.kind, f.facts.resolution))
            .collect();
        planned.push(Replan {
            uuid: v.uuid.clone(),
            jobs: missing_jobs(&plan, &have),
            has_rendition: v.has_rendition(),
        });
    }
    Ok((planned, skipped))
}

/// The jobs of `plan` whose rendition the video lacks; a job whose parent is dropped
/// (its rendition exists) no longer waits.
fn missing_jobs(plan: &[PlannedJob], have: &HashSet<(FileKind, i32)>) -> Vec<PlannedJob> {
    let exists = |job: &PlannedJob| {
        let kind = match job.kind {
            PlannedKind::Hls => FileKind::Hls,
            PlannedKind::WebVideo => FileKind::WebVideo,
            PlannedKind::AudioMerge => return false,
        };
        i32::try_from(job.rung.resolution).is_ok_and(|r| have.contains(&(kind, r)))
    };
    let mut index: Vec<Option<usize>> = Vec::with_capacity(plan.len());
    let mut kept = Vec::new();
    for job in plan {
        if exists(job) {
            index.push(None);
            continue;
        }
        index.push(Some(kept.len()));
        kept.push(PlannedJob {
            parent: job.parent.and_then(|p| index.get(p).copied().flatten()),
            ..*job
        });
    }
    kept
}

fn describe(job: &PlannedJob) -> String {
    let kind = match job.kind {
        PlannedKind::Hls => "hls",
        PlannedKind::WebVideo => "web-video",
        PlannedKind::AudioMerge => "audio-merge",
    };
    format!("{kind} {}p", job.rung.resolution)
}

/// Which other library video a folder conflict names, if any.
fn names_library_video(conflict: &FolderConflict, incoming: &Incoming) -> Option<String> {
    let named = match conflict {
        FolderConflict::Same(s)
        | FolderConflict::Inside(s)
        | FolderConflict::Contains(s)
        | FolderConflict::SourceInside(s)
        | FolderConflict::ContainsSource(s) => s,
    };
    incoming
        .videos
        .iter()
        .find(|v| &v.directory == named || v.source().is_some_and(|s| &s.storage_key == named))
        .map(|v| v.uuid.clone())
}

/// What the rows here say of an incoming video.
enum Found {
    New,
    Here(i64),
    Overlaps(String),
}

/// Steps 2 and 3 of the module documentation, inside the caller's transaction.
fn import(
    conn: &mut DbConnection,
    incoming: &Incoming,
    sizes: &HashMap<String, u64>,
    replans: &[Replan],
    public_url: &str,
    now: chrono::NaiveDateTime,
    report: &mut ImportReport,
) -> Result<Vec<Job>, ImportError> {
    let skipped = &incoming.skipped;
    report.registration_tokens.skipped = skipped.tokens.skipped.clone();
    report.runners.skipped = skipped.runners.skipped.clone();
    report.videos.skipped = skipped.videos.skipped.clone();
    report.files.skipped = skipped.files.skipped.clone();
    report.captions.skipped = skipped.captions.skipped.clone();
    report.jobs_not_carried_over = incoming.not_carried_over.clone();
    report.finished_jobs = incoming.finished_jobs;
    db::folders::lock(conn)?;

    // Compare first: a conflict refuses everything before any write.
    let mut conflicts = Vec::new();
    let mut token_ids: HashMap<&str, i64> = HashMap::new();
    for t in &incoming.tokens {
        if let Some(id) = db::imported::registration_token_id(conn, &t.token)? {
            token_ids.insert(&t.django_id, id);
        }
    }
    let mut runners_here: HashSet<&str> = HashSet::new();
    for r in &incoming.runners {
        let matching = db::imported::runners_matching(conn, &r.name, &r.token_hash)?;
        match matching.as_slice() {
            [] => {}
            [one] if one.name == r.name && one.token_hash == r.token_hash.as_str() => {
                runners_here.insert(&r.name);
            }
            others => {
                for o in others {
                    conflicts.push(if o.name == r.name {
                        format!(
                            "runner `{}`: a runner here (id {}) has this name and another token",
                            r.name, o.id
                        )
                    } else {
                        format!(
                            "runner `{}`: runner `{}` here (id {}) has the same token",
                            r.name, o.name, o.id
                        )
                    });
                }
            }
        }
    }
    let mut found: Vec<Found> = Vec::with_capacity(incoming.videos.len());
    for v in &incoming.videos {
        found.push(match db::imported::video_by_uuid(conn, &v.uuid)? {
            Some((id, dir)) if dir == v.directory => Found::Here(id),
            Some((id, dir)) => {
                conflicts.push(format!(
                    "video {}: the video here (id {id}) has folder `{dir}`, the library's `{}`",
                    v.uuid, v.directory
                ));
                Found::New
            }
            None => match db::folders::conflict(conn, &v.directory, source_key(v))? {
                None => Found::New,
                Some(c) => match names_library_video(&c, incoming) {
                    Some(other) => Found::Overlaps(format!("{c} (video {other} of the library)")),
                    None => {
                        conflicts.push(format!("video {}: {c}", v.uuid));
                        Found::New
                    }
                },
            },
        });
    }
    if !conflicts.is_empty() {
        return Err(ImportError::Conflicts(conflicts));
    }

    for t in &incoming.tokens {
        if token_ids.contains_key(t.django_id.as_str()) {
            report
                .registration_tokens
                .already_imported
                .push(t.django_id.clone());
            continue;
        }
        let id =
            db::imported::insert_registration_token(conn, &t.token, t.created_at, t.updated_at)?;
        token_ids.insert(&t.django_id, id);
        report
            .registration_tokens
            .imported
            .push(t.django_id.clone());
    }
    for r in &incoming.runners {
        if runners_here.contains(r.name.as_str()) {
            report.runners.already_imported.push(r.name.clone());
            continue;
        }
        let Some(&registration_token_id) = token_ids.get(r.token_django_id.as_str()) else {
            report
                .runners
                .skip(r.name.clone(), "its registration token was not imported");
            continue;
        };
        db::imported::insert_runner(
            conn,
            &ImportedRunner {
                registration_token_id,
                name: &r.name,
                description: r.description.as_deref(),
                token_hash: &r.token_hash,
                ip: &r.ip,
                last_contact: r.last_contact,
                created_at: r.created_at,
                updated_at: r.updated_at,
            },
        )?;
        report.runners.imported.push(r.name.clone());
    }

    let mut ids: HashMap<&str, i64> = HashMap::new();
    for (v, found) in incoming.videos.iter().zip(found) {
        match found {
            Found::Here(id) => {
                ids.insert(&v.uuid, id);
                report.videos.already_imported.push(v.uuid.clone());
                for f in &v.files {
                    let label = format!("{}: {}", v.uuid, f.facts.storage_key);
                    report.files.already_imported.push(label);
                }
                if let Some((language, _)) = &v.caption {
                    let label = format!("{}: {}", v.uuid, language.as_str());
                    report.captions.already_imported.push(label);
                }
            }
            Found::Overlaps(reason) => report.videos.skip(v.uuid.clone(), reason),
            Found::New => {
                // Another library video written by this run may overlap it.
                if let Some(c) = db::folders::conflict(conn, &v.directory, source_key(v))? {
                    let other = names_library_video(&c, incoming).unwrap_or_default();
                    report.videos.skip(
                        v.uuid.clone(),
                        format!("{c} (video {other} of the library)"),
                    );
                    continue;
                }
                let id = insert_video(conn, v, sizes, now, report)?;
                ids.insert(&v.uuid, id);
                report.videos.imported.push(v.uuid.clone());
            }
        }
    }

    let mut created = Vec::new();
    for r in replans {
        let Some(&id) = ids.get(r.uuid.as_str()) else {
            continue;
        };
        if db::imported::job_count(conn, id)? > 0 {
            report.replan_skipped.push(SkippedRow {
                item: r.uuid.clone(),
                reason: "it has jobs here already (replanned before)".to_owned(),
            });
            continue;
        }
        let state = match (r.jobs.is_empty(), r.has_rendition) {
            (true, _) => VideoState::Published,
            (false, true) => VideoState::Playable,
            (false, false) => VideoState::ToTranscode,
        };
        db::imported::restart(conn, id, state, now)?;
        let video = db::videos::find(conn, id)?.ok_or(ServiceError::NotFound("Video"))?;
        let specs = job_specs(&r.jobs, public_url, &video);
        created.extend(create_jobs(conn, &specs, now)?);
        report.replanned.push(Replanned {
            video: r.uuid.clone(),
            jobs: r.jobs.iter().map(describe).collect(),
        });
    }
    Ok(created)
}

/// The source key a video names, for the folder checks.
fn source_key(v: &incoming::Video) -> Option<&str> {
    v.source().map(|s| s.storage_key.as_str())
}

/// Inserts a new video with its files, master playlist and caption; returns its id.
fn insert_video(
    conn: &mut DbConnection,
    v: &incoming::Video,
    sizes: &HashMap<String, u64>,
    now: chrono::NaiveDateTime,
    report: &mut ImportReport,
) -> Result<i64, ImportError> {
    let uuid = crate::domain::ids::VideoUuid::from_stored(&v.uuid)
        .map_err(|e| ImportError::Invalid(format!("video {}: {e}", v.uuid)))?;
    let new = NewVideo {
        uuid,
        state: v.state,
        name: None,
        directory: v.directory.clone(),
        base_filename: v.base_filename.clone(),
        duration: v.duration,
        thumbnail_key: v.thumbnail_key.clone(),
        options: v.options.clone(),
    };
    let id =
        db::imported::insert_video(conn, &new, v.error.as_deref(), v.created_at, v.updated_at)?;
    for f in &v.files {
        db::imported::insert_file(conn, id, &f.facts, f.created_at)?;
        report
            .files
            .imported
            .push(format!("{}: {}", v.uuid, f.facts.storage_key));
    }
    if let Some(master) = &v.master_key {
        db::videos::ensure_streaming_playlist(conn, id, master, v.updated_at)?;
    }
    if let Some((language, key)) = &v.caption {
        let size = sizes.get(key).copied().unwrap_or(0);
        db::captions::replace(
            conn,
            id,
            &NewCaption {
                language: language.clone(),
                storage_key: key.clone(),
                source: CaptionSource::Auto,
                size: i64::try_from(size).unwrap_or(i64::MAX),
                job_id: None,
            },
            now,
        )?;
        report
            .captions
            .imported
            .push(format!("{}: {}", v.uuid, language.as_str()));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::planning::Rung;

    fn job(kind: PlannedKind, resolution: u32, parent: Option<usize>) -> PlannedJob {
        PlannedJob {
            kind,
            rung: Rung {
                resolution,
                fps: 30,
            },
            priority: 0,
            parent,
        }
    }

    #[test]
    fn replanning_keeps_only_missing_renditions_and_frees_orphans() {
        let plan = vec![
            job(PlannedKind::Hls, 720, None),
            job(PlannedKind::Hls, 480, Some(0)),
            job(PlannedKind::Hls, 360, Some(0)),
        ];
        let have: HashSet<(FileKind, i32)> = [(FileKind::Hls, 720), (FileKind::Hls, 360)].into();
        let kept = missing_jobs(&plan, &have);
        assert_eq!(kept, vec![job(PlannedKind::Hls, 480, None)]);

        let have: HashSet<(FileKind, i32)> = [(FileKind::Hls, 480)].into();
        let kept = missing_jobs(&plan, &have);
        assert_eq!(
            kept,
            vec![
                job(PlannedKind::Hls, 720, None),
                job(PlannedKind::Hls, 360, Some(0))
            ]
        );
        assert!(missing_jobs(&plan[..1], &[(FileKind::Hls, 720)].into()).is_empty());
    }
}
