//! What `import-django` says it did: per kind of row, what was imported, what was
//! there already, what was skipped and why (`--json` prints this as is).

use serde::Serialize;

/// A row left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedRow {
    /// What it is (a name, a UUID, `video: key`).
    pub item: String,
    /// Why it was left out.
    pub reason: String,
}

/// One kind of row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Section {
    /// Written by this run.
    pub imported: Vec<String>,
    /// Found here as the library has it: left as it is.
    pub already_imported: Vec<String>,
    /// Left out.
    pub skipped: Vec<SkippedRow>,
}

impl Section {
    /// Records a row left out.
    pub fn skip(&mut self, item: impl Into<String>, reason: impl Into<String>) {
        self.skipped.push(SkippedRow {
            item: item.into(),
            reason: reason.into(),
        });
    }
}

/// A library job that had work left: not carried over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotCarriedOver {
    /// Job UUID.
    pub uuid: String,
    /// Runner job type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// Its state's label.
    pub state: String,
    /// The runner holding it.
    pub runner: Option<String>,
    /// Its video's UUID.
    pub video: Option<String>,
}

/// A video `--replan` gave jobs to (or found complete).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replanned {
    /// Video UUID.
    pub video: String,
    /// The renditions planned, e.g. `hls 720p`.
    pub jobs: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// Nothing was committed.
    pub dry_run: bool,
    /// Registration tokens (by their id in the library).
    pub registration_tokens: Section,
    /// Runners (by name).
    pub runners: Section,
    /// Videos (by UUID).
    pub videos: Section,
    /// Files of videos (`video: key`).
    pub files: Section,
    /// Transcripts, as captions (`video: language`).
    pub captions: Section,
    /// Library jobs that were pending or running: not carried over.
    pub jobs_not_carried_over: Vec<NotCarriedOver>,
    /// Library jobs that had ended.
    pub finished_jobs: usize,
    /// Keys the imported rows record that the configured storage does not hold.
    pub missing_objects: Vec<String>,
    /// `--replan`: videos given jobs for their missing renditions.
    pub replanned: Vec<Replanned>,
    /// `--replan`: unfinished videos not re-planned, and why.
    pub replan_skipped: Vec<SkippedRow>,
}

impl ImportReport {
    /// The report as text, for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if self.dry_run {
            out.push_str("dry run: nothing was written\n");
        }
        let sections = [
            ("registration tokens", &self.registration_tokens),
            ("runners", &self.runners),
            ("videos", &self.videos),
            ("files", &self.files),
            ("captions", &self.captions),
        ];
        for (name, s) in sections {
            out.push_str(&format!(
                "{name}: {} imported, {} already imported, {} skipped\n",
                s.imported.len(),
                s.already_imported.len(),
                s.skipped.len()
            ));
            for k in &s.skipped {
                out.push_str(&format!("  skipped {}: {}\n", k.item, k.reason));
            }
        }
        out.push_str(&format!(
            "jobs: {} ended in the library, {} pending or running not carried over\n",
            self.finished_jobs,
            self.jobs_not_carried_over.len()
        ));
        for j in &self.jobs_not_carried_over {
            out.push_str(&format!(
                "  not carried over: {} {} ({}), video {}, runner {}\n",
                j.job_type,
                j.uuid,
                j.state,
                j.video.as_deref().unwrap_or("-"),
                j.runner.as_deref().unwrap_or("-")
            ));
        }
        if !self.jobs_not_carried_over.is_empty() && self.replanned.is_empty() {
            out.push_str("  (--replan re-creates the missing renditions of unfinished videos)\n");
        }
        for r in &self.replanned {
            if r.jobs.is_empty() {
                out.push_str(&format!(
                    "replanned {}: every planned rendition exists, marked published\n",
                    r.video
                ));
            } else {
                out.push_str(&format!("replanned {}: {}\n", r.video, r.jobs.join(", ")));
            }
        }
        for k in &self.replan_skipped {
            out.push_str(&format!("not replanned {}: {}\n", k.item, k.reason));
        }
        if !self.missing_objects.is_empty() {
            out.push_str(&format!(
                "warning: {} recorded objects are not in the configured storage (is storage \
                 pointed at the library's files?):\n",
                self.missing_objects.len()
            ));
            for k in &self.missing_objects {
                out.push_str(&format!("  {k}\n"));
            }
        }
        out
    }
}
