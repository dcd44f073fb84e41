use super::*;
use crate::domain::payloads::{FileInput, TranscriptionPayload, VideoInput, VodHlsPayload};

fn payload(t: JobType) -> JobPayload {
    match t {
        JobType::VideoTranscription => JobPayload::Transcription(TranscriptionPayload {
            input: FileInput {
                video_file_url: "http://x/in".to_owned(),
            },
            output: None,
        }),
        _ => JobPayload::VodHls(VodHlsPayload {
            input: VideoInput {
                video_file_url: "http://x/in".to_owned(),
                separated_audio_file_url: Vec::new(),
            },
            output: crate::domain::payloads::HlsOutput {
                resolution: 720,
                fps: 30,
                separated_audio: false,
                video_file_custom_upload: None,
                resolution_playlist_file_custom_upload: None,
            },
        }),
    }
}

fn job(id: i64, priority: i32, t: JobType) -> PreparedOffer {
    PreparedOffer::new(id, JobUuid::generate(), priority, &payload(t)).unwrap()
}

const HLS: JobType = JobType::VodHlsTranscoding;
const VTT: JobType = JobType::VideoTranscription;

fn read(jobs: Vec<PreparedOffer>, complete: bool) -> WindowRead {
    WindowRead {
        last_key: jobs.last().map(|o| o.key()),
        offers: jobs,
        complete,
    }
}

fn loaded() -> PendingIndex {
    let mut index = PendingIndex::default();
    for t in JobType::ALL {
        index.apply_window(t, read(Vec::new(), true));
    }
    index
}

fn ids(offers: &[PreparedOffer]) -> Vec<i64> {
    offers.iter().map(|o| o.id).collect()
}

#[test]
fn offers_merge_types_by_priority_then_id() {
    let mut index = loaded();
    index.apply_window(HLS, read(vec![job(1, 100, HLS), job(4, 100, HLS)], true));
    index.apply_window(VTT, read(vec![job(2, 50, VTT), job(3, 100, VTT)], true));
    assert_eq!(ids(&index.offers(&[HLS, VTT], 10)), [2, 1, 3, 4]);
    assert_eq!(ids(&index.offers(&[HLS, VTT], 2)), [2, 1]);
    assert_eq!(ids(&index.offers(&[HLS], 10)), [1, 4]);
    assert!(index.offers(&[], 10).is_empty());
    let entry = serde_json::to_value(&index.offers(&[VTT], 1)[0]).unwrap();
    assert_eq!(entry["type"], "video-transcription");
    assert_eq!(entry["payload"]["input"]["videoFileUrl"], "http://x/in");
}

#[test]
fn nothing_is_offered_before_the_first_read() {
    let mut index = PendingIndex::default();
    index.note_pending(job(1, 1, HLS));
    assert!(index.offers(&[HLS], 10).is_empty());
    assert_eq!(index.low_windows().len(), JobType::ALL.len());
}

#[test]
fn an_incomplete_window_never_offers_past_its_bound() {
    let mut index = loaded();
    // The database has more HLS jobs than were read: the last read key is (100, 2).
    index.apply_window(HLS, read(vec![job(1, 100, HLS), job(2, 100, HLS)], false));
    index.apply_window(VTT, read(vec![job(3, 200, VTT)], true));
    // The transcription job may rank after unread HLS jobs: it waits.
    assert_eq!(ids(&index.offers(&[HLS, VTT], 10)), [1, 2]);
    assert_eq!(ids(&index.offers(&[VTT], 10)), [3]);
    // A new HLS job beyond the bound stays out (the database has it first); one before
    // the bound comes in.
    index.note_pending(job(9, 150, HLS));
    index.note_pending(job(8, 10, HLS));
    assert_eq!(ids(&index.offers(&[HLS], 10)), [8, 1, 2]);
    assert_eq!(index.low_windows(), [HLS]);
}

#[test]
fn a_read_begun_before_a_local_change_does_not_undo_it() {
    let mut index = loaded();
    index.apply_window(HLS, read(vec![job(1, 1, HLS), job(2, 1, HLS)], true));
    index.begin_read();
    // Meanwhile this instance's accept took job 1 and a new job 3 was created.
    index.note_gone(1);
    index.note_pending(job(3, 1, HLS));
    // The read (made before both) says 1 is pending and knows nothing of 3.
    index.apply_jobs(&[1, 2, 3], vec![job(1, 1, HLS), job(2, 1, HLS)]);
    assert_eq!(ids(&index.offers(&[HLS], 10)), [2, 3]);
    index.begin_read();
    index.apply_window(HLS, read(vec![job(1, 1, HLS), job(2, 1, HLS)], true));
    assert_eq!(
        ids(&index.offers(&[HLS], 10)),
        [1, 2],
        "a later read is the truth"
    );
}

#[test]
fn a_reread_adds_and_removes_and_ignores_what_it_was_not_asked() {
    let mut index = loaded();
    index.apply_window(HLS, read(vec![job(1, 1, HLS), job(2, 1, HLS)], true));
    index.begin_read();
    index.apply_jobs(&[2, 5], vec![job(5, 0, HLS)]);
    assert_eq!(ids(&index.offers(&[HLS], 10)), [5, 1]);
    let first = index.offers(&[HLS], 10)[0].uuid;
    assert!(index.contains(&first));
    assert_eq!(index.len(), 2);
}

#[test]
fn a_window_that_grows_too_large_drops_its_tail_and_lowers_its_bound() {
    let mut index = loaded();
    for id in 0..(2 * WINDOW as i64 + 1) {
        index.note_pending(job(id, 1, HLS));
    }
    assert_eq!(index.len(), WINDOW);
    let offered = ids(&index.offers(&[HLS], 10));
    assert_eq!(offered, (0..10).collect::<Vec<_>>());
    // Beyond the new bound: left to the database.
    index.note_pending(job(1000, 1, HLS));
    assert_eq!(index.len(), WINDOW);
    index.note_pending(job(-1, 1, HLS));
    assert_eq!(index.offers(&[HLS], 1)[0].id, -1);
}
