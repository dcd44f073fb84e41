//! A video owns its folder: no other video's folder may be inside it, around it or
//! equal to it, nor another video's source inside it; the check holds under
//! concurrency on both backends; and deleting a video removes only the objects its
//! rows record, so a neighbour (another video, an application's object) survives.

use std::sync::{Arc, Barrier};

use diesel::prelude::*;
use peertube_runner_connector::db::schema::videos;
use peertube_runner_connector::db::{self, folders};
use peertube_runner_connector::domain::ids::VideoUuid;
use peertube_runner_connector::domain::video::{
    FileFacts, FileKind, NewVideo, VideoOptions, VideoState,
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem};
use crate::media::sample;
use crate::video_helpers::*;

/// Copies a sample into storage under `key` (an application's object).
async fn store_object(app: &TestApp, sample_name: &str, key: &str) {
    store_file(app, &sample(sample_name), key).await;
}

/// Submits a stored object by key.
async fn submit_stored(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/videos"))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn delete(app: &TestApp, uuid: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/api/v1/videos/{uuid}")))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn folders_inside_around_or_equal_to_another_videos_are_refused() {
    let app = spawn_video_app().await;
    store_object(&app, "av-320x240.mp4", "uploads/in.mp4").await;
    let a = submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
    let a_dir = a["directory"].as_str().unwrap().to_owned();
    let a_source = a["source"]["key"].as_str().unwrap().to_owned();
    let ok = |dest: &str| json!({"filePath": "uploads/in.mp4", "destination": dest});

    let res = submit_stored(&app, ok("courses/42")).await;
    assert_eq!(res.status(), 201);
    let courses = res.json::<Value>().await.unwrap();
    let before = row_counts(&app).await;

    // (body, what the 409 says)
    let refused = [
        (ok(&format!("{a_dir}/nested")), "inside the folder"),
        (ok("courses/42/intro"), "inside the folder `courses/42`"),
        (ok("courses"), "contains the folder `courses/42`"),
        (ok("courses/42"), "already uses the folder"),
        (
            json!({"filePath": a_source, "destination": "out/copy"}),
            "filePath is inside the folder",
        ),
        (
            json!({"filePath": "uploads/in.mp4", "destination": "uploads"}),
            "contains `uploads/in.mp4`, the source of another video",
        ),
    ];
    for (body, detail) in refused {
        let res = submit_stored(&app, body.clone()).await;
        assert_eq!(res.status(), 409, "{body}");
        let doc = problem(res).await;
        assert_eq!(doc["code"], "folder_conflict", "{doc}");
        assert!(
            doc["detail"].as_str().unwrap().contains(detail),
            "{body}: {doc}"
        );
    }
    // The same through a multipart upload (the case).
    let res = submit(
        &app,
        &sample("av-320x240.mp4"),
        &[("destination", &format!("{a_dir}/nested"))],
    )
    .await;
    assert_eq!(res.status(), 409);
    // `videos` would hold every default folder.
    let res = submit_stored(&app, ok("videos")).await;
    assert_eq!(res.status(), 400);
    assert_eq!(row_counts(&app).await, before, "nothing recorded");
    assert!(!app.data_dir.join("storage/courses/42/intro").exists());
    assert!(
        !app.data_dir
            .join(format!("storage/{a_dir}/nested"))
            .exists()
    );

    // Siblings that only share a prefix of their names are not nested.
    for dest in ["courses/42-b", "courses/4", "courses/420/x"] {
        let res = submit_stored(&app, ok(dest)).await;
        assert_eq!(res.status(), 201, "{dest}");
    }
    // A source inside the video's own folder is fine.
    store_object(&app, "av-320x240.mp4", "lessons/7/raw.mp4").await;
    let res = submit_stored(
        &app,
        json!({"filePath": "lessons/7/raw.mp4", "destination": "lessons/7"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    // Once a video is deleted its folder is free again.
    assert_eq!(
        delete(&app, courses["uuid"].as_str().unwrap())
            .await
            .status(),
        204
    );
    assert_eq!(
        submit_stored(&app, ok("courses/42/intro")).await.status(),
        201
    );
}

fn new_video(directory: &str) -> NewVideo {
    NewVideo {
        uuid: VideoUuid::generate(),
        state: VideoState::ToTranscode,
        name: None,
        directory: directory.to_owned(),
        base_filename: "b".to_owned(),
        duration: None,
        thumbnail_key: None,
        options: VideoOptions {
            hls: true,
            web_videos: false,
            resolutions: Vec::new(),
            source_owned: false,
            edition: 0,
            switch_at: None,
        },
    }
}

/// Nested folders claimed at the same instant from several connections: exactly one
/// claim wins each round, on PostgreSQL (READ COMMITTED) as on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_of_nested_folders_have_one_winner() {
    let app = spawn_video_app().await;
    let chains = |round: usize| {
        vec![
            format!("race{round}"),
            format!("race{round}/a"),
            format!("race{round}/a/b"),
            format!("race{round}/a/b/c"),
            format!("race{round}/a"),
            format!("race{round}/a/b/c/d"),
        ]
    };
    for round in 0..15 {
        let dirs = chains(round);
        let barrier = Arc::new(Barrier::new(dirs.len()));
        let mut tasks = Vec::new();
        for dir in dirs {
            let (db, barrier) = (app.state.db.clone(), barrier.clone());
            tasks.push(tokio::task::spawn_blocking(move || {
                let mut conn = db.get().unwrap();
                barrier.wait();
                db::write_transaction(&mut conn, |conn| {
                    folders::claim(conn, &new_video(&dir), None, db::now())
                })
                .unwrap()
                .is_ok()
            }));
        }
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await.unwrap());
        }
        assert_eq!(winners, 1, "round {round}");
    }
    let n: i64 = app
        .state
        .db
        .run(|conn| Ok::<_, db::DbError>(videos::table.count().get_result(conn)?))
        .await
        .unwrap();
    assert_eq!(n, 15);
}

/// Two submissions racing with nested folders through the API: one 201, one 409,
/// and the loser wrote nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_submissions_with_nested_folders_do_not_both_succeed() {
    let app = spawn_video_app().await;
    store_object(&app, "av-320x240.mp4", "uploads/in.mp4").await;
    for round in 0..4 {
        let outer = format!("r{round}");
        let inner = format!("r{round}/inner");
        let (a, b) = tokio::join!(
            submit_stored(
                &app,
                json!({"filePath": "uploads/in.mp4", "destination": outer})
            ),
            submit_stored(
                &app,
                json!({"filePath": "uploads/in.mp4", "destination": inner})
            ),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {round}");
        let thumbs = [
            app.data_dir.join(format!("storage/{outer}/thumbnail.jpg")),
            app.data_dir.join(format!("storage/{inner}/thumbnail.jpg")),
        ];
        assert_eq!(
            thumbs.iter().filter(|t| t.exists()).count(),
            1,
            "only the winner wrote its thumbnail"
        );
    }
}

/// The case, as rows made before nesting was refused: deleting video A removes
/// A's objects and nothing else: not the video whose folder lies inside A's, not an
/// application's object in A's folder.
#[tokio::test]
async fn deleting_a_video_leaves_its_neighbours_objects() {
    let app = spawn_video_app().await;
    let a = submit_ok(&app, &sample("av-320x240.mp4"), &[]).await;
    let other = submit_ok(&app, &sample("audio.m4a"), &[]).await;
    let a_uuid = a["uuid"].as_str().unwrap().to_owned();
    let a_dir = a["directory"].as_str().unwrap().to_owned();

    // A neighbour recorded inside A's folder (possible before nesting was refused).
    let nested_dir = format!("{a_dir}/nested");
    let nested_source = format!("{nested_dir}/b-source.mp4");
    let nested_thumb = format!("{nested_dir}/thumbnail.jpg");
    store_object(&app, "av-320x240.mp4", &nested_source).await;
    store_object(&app, "cover.jpg", &nested_thumb).await;
    let (src, thumb, dir) = (nested_source.clone(), nested_thumb.clone(), nested_dir);
    let nested_uuid = app
        .state
        .db
        .run(move |conn| {
            let mut v = new_video(&dir);
            v.thumbnail_key = Some(thumb);
            v.options.source_owned = true;
            let now = db::now();
            let row = db::videos::insert(conn, &v, now)?;
            db::videos::insert_file(
                conn,
                row.id,
                &FileFacts {
                    kind: FileKind::Source,
                    storage_key: src,
                    playlist_key: None,
                    resolution: 240,
                    width: 320,
                    height: 240,
                    fps: 30.0,
                    size: 1,
                    bitrate: None,
                    codecs: None,
                    format: None,
                    metadata: None,
                },
                now,
            )?;
            Ok::<_, db::DbError>(row.uuid)
        })
        .await
        .unwrap();
    // An object the application put in A's folder, recorded by no row.
    let app_object = format!("{a_dir}/notes.bin");
    app.state
        .storage
        .put_bytes(&app_object, b"mine".to_vec())
        .await
        .unwrap();

    assert_eq!(delete(&app, &a_uuid).await.status(), 204);
    let storage = &app.state.storage;
    assert!(
        !storage
            .exists(a["source"]["key"].as_str().unwrap())
            .await
            .unwrap()
    );
    assert!(
        !storage
            .exists(&format!("{a_dir}/thumbnail.jpg"))
            .await
            .unwrap()
    );
    for key in [&nested_source, &nested_thumb, &app_object] {
        assert!(storage.exists(key).await.unwrap(), "{key} was deleted");
    }
    let nested = get(&app, &format!("/api/v1/videos/{nested_uuid}")).await;
    assert_eq!(nested.status(), 200);
    let other_uuid = other["uuid"].as_str().unwrap();
    assert_eq!(
        get(&app, &format!("/api/v1/videos/{other_uuid}"))
            .await
            .status(),
        200
    );
    assert!(
        storage
            .exists(other["source"]["key"].as_str().unwrap())
            .await
            .unwrap()
    );

    // Deleting the neighbour removes its own objects, and the emptied folder.
    assert_eq!(delete(&app, &nested_uuid.to_string()).await.status(), 204);
    assert!(!storage.exists(&nested_source).await.unwrap());
    assert!(
        !app.data_dir
            .join(format!("storage/{a_dir}/nested"))
            .exists()
    );
    assert!(storage.exists(&app_object).await.unwrap());
}
