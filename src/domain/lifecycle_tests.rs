use super::*;

fn every_transition() -> Vec<Transition> {
    vec![
        Transition::Accept {
            runner_id: 1,
            token_hash: TokenHash::of("t"),
        },
        Transition::Abort,
        Transition::Retry,
        Transition::BeginCompletion,
        Transition::Complete,
        Transition::Fail {
            message: "m".to_owned(),
        },
        Transition::Halt { message: "h" },
        Transition::CompletionFailed {
            message: "c".to_owned(),
        },
        Transition::CompletionLost,
        Transition::Cancel,
        Transition::ReleaseChild,
        Transition::ParentFailed,
        Transition::ParentCancelled,
        Transition::Reopen,
        Transition::ParentReopened,
    ]
}

#[test]
fn transitions_start_only_from_their_source_states() {
    for s in JobState::ALL {
        let accept = &every_transition()[0];
        assert_eq!(accept.allowed_from(s), s == Pending);
        assert_eq!(Transition::Complete.allowed_from(s), s == Completing);
        assert_eq!(
            Transition::ReleaseChild.allowed_from(s),
            s == WaitingForParentJob
        );
        assert_eq!(Transition::BeginCompletion.allowed_from(s), s == Processing);
        assert_eq!(
            Transition::Cancel.allowed_from(s),
            matches!(s, Pending | Processing | WaitingForParentJob)
        );
        assert_eq!(Transition::CompletionLost.allowed_from(s), s == Completing);
    }
    assert_eq!(initial_state(true), WaitingForParentJob);
    assert_eq!(initial_state(false), Pending);
}

#[test]
fn nothing_leaves_a_final_state_and_every_transition_moves() {
    for t in every_transition() {
        let rule = t.rule();
        // Only a retry leaves a final state, and it leads to one that is not.
        assert_eq!(rule.from.iter().any(|s| s.is_final()), rule.reopen, "{t:?}");
        assert!(!(rule.reopen && rule.to.is_final()), "{t:?}");
        assert!(!rule.from.contains(&rule.to), "{t:?} goes nowhere");
        // A job that ends gets its finish time; one that does not, none.
        assert_eq!(rule.finish, rule.to.is_final(), "{t:?}");
        // Children only ever leave WAITING_FOR_PARENT_JOB, or, when their parent is
        // retried, the PARENT_ERRORED its failure left them in.
        if let Some(c) = rule.cascade {
            let expected: &[JobState] = if rule.reopen {
                &[ParentErrored]
            } else {
                &[WaitingForParentJob]
            };
            assert_eq!(c.transition().rule().from, expected, "{t:?}");
        }
    }
}

#[test]
fn the_table_says_what_each_transition_does() {
    let r = Transition::Retry.rule();
    assert_eq!(
        (r.to, r.holder, r.count_failure),
        (Pending, Holder::Release, true)
    );
    let a = Transition::Abort.rule();
    assert_eq!(
        (a.to, a.holder, a.count_failure),
        (Pending, Holder::Release, false)
    );
    let c = Transition::Complete.rule();
    assert_eq!(
        (c.holder, c.clear_progress, c.cascade),
        (Holder::Keep, true, Some(Cascade::Release)),
        "the token is kept: a late update still gets its 204"
    );
    let f = Transition::Fail {
        message: "x".to_owned(),
    };
    assert_eq!(f.rule().cascade, Some(Cascade::Fail));
    assert_eq!(f.message(), Some("x"));
    assert!(f.rule().count_failure);
    assert!(!Transition::Halt { message: "h" }.rule().count_failure);
    assert!(
        !Transition::CompletionFailed {
            message: "c".into()
        }
        .rule()
        .count_failure
    );
    assert!(Transition::CompletionLost.rule().count_failure);
    assert_eq!(Transition::CompletionLost.message(), Some(COMPLETION_LOST));
    assert_eq!(Transition::ParentFailed.message(), Some(PARENT_ERROR));
    assert_eq!(Transition::ParentFailed.rule().cascade, Some(Cascade::Fail));
    assert_eq!(
        Transition::ReleaseChild.rule().cascade,
        None,
        "direct children only"
    );
    assert_eq!(Transition::Cancel.rule().cascade, Some(Cascade::Cancel));
    assert_eq!(Transition::Cancel.rule().holder, Holder::DropToken);
}

#[test]
fn errors_retry_until_max_failures_and_live_never_retries() {
    let vod = JobType::VodHlsTranscoding;
    let live = JobType::LiveRtmpHlsTranscoding;
    let m = || "boom".to_owned();
    assert_eq!(on_error(vod, 0, 5, m()), Transition::Retry);
    assert_eq!(on_error(vod, 3, 5, m()), Transition::Retry);
    assert_eq!(on_error(vod, 4, 5, m()), Transition::Fail { message: m() });
    assert_eq!(on_error(live, 0, 5, m()), Transition::Fail { message: m() });
    assert_eq!(on_abort(vod), Transition::Abort);
    assert_eq!(
        on_abort(live),
        Transition::Halt {
            message: ABORT_NOT_SUPPORTED
        }
    );
    assert_eq!(on_stall(JobType::VideoTranscription), Transition::Abort);
    assert_eq!(
        on_stall(live),
        Transition::Halt {
            message: STALLED_JOB
        }
    );
}

#[test]
fn runner_calls_accept_their_states_and_late_updates_are_ignored() {
    assert_eq!(
        RunnerCall::Update.allowed_states(),
        [Processing, Completing, Completed]
    );
    for call in [
        RunnerCall::Abort,
        RunnerCall::Error,
        RunnerCall::Success,
        RunnerCall::Download,
    ] {
        assert_eq!(call.allowed_states(), [Processing]);
    }
    assert!(update_is_ignored(Completed) && update_is_ignored(Completing));
    assert!(!update_is_ignored(Processing));
}

#[test]
fn success_requires_the_files_of_its_type() {
    use super::super::runner_input::SUCCESS_FILE_FIELDS;
    assert_eq!(
        policy(JobType::VodHlsTranscoding).success_files,
        ["videoFile", "resolutionPlaylistFile"]
    );
    assert!(
        policy(JobType::LiveRtmpHlsTranscoding)
            .success_files
            .is_empty()
    );
    assert_eq!(
        policy(JobType::VideoTranscription).success_files,
        ["vttFile"]
    );
    assert_eq!(
        policy(JobType::VideoTranscription).success_fields,
        ["inputLanguage"]
    );
    for t in JobType::ALL {
        if t != JobType::VideoTranscription {
            assert!(policy(t).success_fields.is_empty(), "{t}");
        }
        let p = policy(t);
        assert!(
            p.success_files
                .iter()
                .all(|f| SUCCESS_FILE_FIELDS.contains(f))
        );
        assert_eq!(p.live_chunks, t == JobType::LiveRtmpHlsTranscoding);
        assert_eq!(
            p.video_follows_jobs,
            matches!(
                t,
                JobType::VodWebVideoTranscoding
                    | JobType::VodHlsTranscoding
                    | JobType::VodAudioMergeTranscoding
            )
        );
    }
}

#[test]
fn a_retry_reopens_an_errored_job_and_the_descendants_that_failed_with_it() {
    let r = Transition::Reopen.rule();
    assert_eq!(
        (r.from, r.to, r.holder, r.reopen, r.count_failure),
        (&[Errored][..], Pending, Holder::Release, true, false)
    );
    assert_eq!(r.cascade, Some(Cascade::Reopen));
    let c = Transition::ParentReopened.rule();
    assert_eq!(
        (c.from, c.to, c.reopen, c.cascade),
        (
            &[ParentErrored][..],
            WaitingForParentJob,
            true,
            Some(Cascade::Reopen)
        )
    );
    for s in JobState::ALL {
        assert_eq!(Transition::Reopen.allowed_from(s), s == Errored, "{s:?}");
    }
}
