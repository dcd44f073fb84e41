//! Retention of finished jobs (`[retention]`): a video's jobs go together once all of
//! them ended longer ago than `finished_jobs_after`; nothing else goes.

use std::time::Duration;

use peertube_runner_connector::clock::Clock;
use peertube_runner_connector::domain::job::JobType;
use peertube_runner_connector::service::jobs::cancel_jobs_of_video;
use peertube_runner_connector::service::retention::{PurgeReport, sweep};
use peertube_runner_connector::service::videos;

use crate::helpers::spawn_app_with_clock;
use crate::runner_sim::{insert_jobs, make_video, video_spec};

#[tokio::test]
async fn only_videos_whose_jobs_all_ended_long_enough_ago_lose_their_jobs() {
    let app = spawn_app_with_clock(
        |s| s.retention.finished_jobs_after = Duration::from_secs(3600),
        Clock::manual(),
    )
    .await;
    let clock = app.state.clock.clone();
    let mk = |video| {
        let app = &app;
        async move {
            let parent = video_spec(app, &video, JobType::VodWebVideoTranscoding, 240, None);
            let child = video_spec(
                app,
                &video,
                JobType::VodHlsTranscoding,
                240,
                Some(peertube_runner_connector::service::jobs::JobParent::Spec(0)),
            );
            insert_jobs(app, vec![parent, child]).await;
            video
        }
    };
    let old = mk(make_video(&app).await).await;
    let busy = mk(make_video(&app).await).await;
    let recent = mk(make_video(&app).await).await;
    cancel_jobs_of_video(&app.state, old.id).await.unwrap();
    clock.advance(Duration::from_secs(3000));
    cancel_jobs_of_video(&app.state, recent.id).await.unwrap();
    clock.advance(Duration::from_secs(700));

    assert_eq!(
        sweep(&app.state).await.unwrap(),
        PurgeReport { videos: 1, jobs: 2 }
    );
    let old_view = videos::get(&app.state, old.uuid).await.unwrap();
    assert!(old_view.jobs.is_empty(), "its jobs went");
    assert_eq!(old_view.uuid, old.uuid, "the video stays");
    assert_eq!(
        videos::get(&app.state, busy.uuid).await.unwrap().jobs.len(),
        2,
        "a pending job keeps every job of its video"
    );
    assert_eq!(
        videos::get(&app.state, recent.uuid)
            .await
            .unwrap()
            .jobs
            .len(),
        2,
        "ended less than an hour ago"
    );
    assert_eq!(sweep(&app.state).await.unwrap(), PurgeReport::default());
}

#[tokio::test]
async fn with_the_default_nothing_is_purged() {
    let app = spawn_app_with_clock(|_| {}, Clock::manual()).await;
    let video = make_video(&app).await;
    insert_jobs(
        &app,
        vec![video_spec(
            &app,
            &video,
            JobType::VodHlsTranscoding,
            240,
            None,
        )],
    )
    .await;
    cancel_jobs_of_video(&app.state, video.id).await.unwrap();
    app.state
        .clock
        .advance(Duration::from_secs(10 * 365 * 86400));
    assert_eq!(sweep(&app.state).await.unwrap(), PurgeReport::default());
    assert_eq!(
        videos::get(&app.state, video.uuid)
            .await
            .unwrap()
            .jobs
            .len(),
        1
    );
}
