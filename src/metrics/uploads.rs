//! File uploads, recorded by the multipart reader:
//!
//! - `prc_uploads_in_progress{kind}`: file parts being received now;
//! - `prc_upload_received_bytes_total{kind}`: bytes of file parts received, kept or
//!   refused.
//!
//! `kind` is `video` (`POST /api/v1/videos`) or `runner` (a runner's `update` or
//! `success`).

use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

/// Who uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadKind {
    /// An application submitting a video.
    Video,
    /// A runner sending results.
    Runner,
}

impl UploadKind {
    /// Both kinds.
    pub const ALL: [UploadKind; 2] = [UploadKind::Video, UploadKind::Runner];

    fn name(self) -> &'static str {
        match self {
            UploadKind::Video => "video",
            UploadKind::Runner => "runner",
        }
    }
}

impl EncodeLabelSet for UploadKind {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        [("kind", self.name())].encode(encoder)
    }
}

/// The upload families.
#[derive(Debug, Clone)]
pub struct UploadMetrics {
    in_progress: Family<UploadKind, Gauge>,
    received: Family<UploadKind, Counter>,
}

impl UploadMetrics {
    pub(super) fn register(registry: &mut Registry) -> UploadMetrics {
        let in_progress = Family::<UploadKind, Gauge>::default();
        let received = Family::<UploadKind, Counter>::default();
        for kind in UploadKind::ALL {
            in_progress.get_or_create_owned(&kind);
            received.get_or_create_owned(&kind);
        }
        registry.register(
            "uploads_in_progress",
            "File parts being received, by kind (video, runner)",
            in_progress.clone(),
        );
        registry.register_with_unit(
            "upload_received",
            "Bytes of file parts received, by kind (video, runner)",
            Unit::Bytes,
            received.clone(),
        );
        UploadMetrics {
            in_progress,
            received,
        }
    }

    /// The meter of the uploads of `kind`.
    pub fn meter(&self, kind: UploadKind) -> UploadMeter {
        UploadMeter {
            in_progress: self.in_progress.get_or_create_owned(&kind),
            received: self.received.get_or_create_owned(&kind),
        }
    }
}

/// What one multipart body records into: cheap to clone, and [`Default`] gives one
/// that is exported nowhere (for readers built without an application).
#[derive(Debug, Clone, Default)]
pub struct UploadMeter {
    in_progress: Gauge,
    received: Counter,
}

impl UploadMeter {
    /// A file part starts: counted in progress until the guard is dropped.
    pub fn start(&self) -> UploadGuard {
        self.in_progress.inc();
        UploadGuard(self.in_progress.clone())
    }

    /// `n` more bytes of a file part arrived.
    pub fn received(&self, n: u64) {
        self.received.inc_by(n);
    }
}

/// Counts one upload in progress while it lives.
#[derive(Debug)]
pub struct UploadGuard(Gauge);

impl Drop for UploadGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
