//! `import-django`: a database shaped as django-peertube-runner-connector's (SQL
//! fixtures in tests/fixtures/django, written from the library's schema) is imported
//! by the binary; then its runners call the API with their old tokens and its videos
//! are listed with their outputs. The library's database is a SQLite file, or (with
//! `TEST_DATABASE_URL`) a separate fresh PostgreSQL database on the same server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use diesel::Connection;
use diesel::connection::SimpleConnection;
use serde_json::{Value, json};

use crate::helpers::{TestDb, spawn_app_with};

const API_KEY: &str = "import-test-key";
const RUNNER_1: &str = "ptrt-8d2f6a4e-1b3c-4d5e-9f60-718293a4b5c6";
const RUNNER_2: &str = "ptrt-5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9";
const REGISTRATION_TOKEN: &str = "ptrrt-4f7e1c2a-9b3d-4e5f-8a6b-7c8d9e0f1a2b";
const LECTURE: &str = "9a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d";
const TALK: &str = "5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f";
const BROKEN: &str = "1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a";
const PENDING: &str = "7e8f9a0b-1c2d-4e3f-9a4b-5c6d7e8f9a0b";
const SAME_FOLDER: &str = "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d";
const TO_IMPORT: &str = "f0e1d2c3-b4a5-4968-8776-655443322110";
const OTHER: &str = "4b5c6d7e-8f9a-4b0c-9d1e-2f3a4b5c6d7e";
const PUBLIC_URL: &str = "http://transcode.example.test";

/// The library's database, filled from the fixture of its backend.
struct DjangoDb {
    url: String,
    _pg: Option<TestDb>,
}

impl DjangoDb {
    fn sqlite(dir: &Path) -> DjangoDb {
        let path = dir.join("django.sqlite3");
        let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        conn.batch_execute(include_str!("../fixtures/django/sqlite.sql"))
            .unwrap();
        DjangoDb {
            url: path.display().to_string(),
            _pg: None,
        }
    }

    fn postgres(admin: &str) -> DjangoDb {
        let db = TestDb::postgres(admin);
        let mut conn = diesel::PgConnection::establish(&db.url).unwrap();
        conn.batch_execute(include_str!("../fixtures/django/postgres.sql"))
            .unwrap();
        DjangoDb {
            url: db.url.clone(),
            _pg: Some(db),
        }
    }

    /// PostgreSQL when the suite runs on it, else SQLite.
    fn for_suite(dir: &Path) -> DjangoDb {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) if !admin.is_empty() => DjangoDb::postgres(&admin),
            _ => DjangoDb::sqlite(dir),
        }
    }
}

/// This service's side: its database, its storage root (the library's media root).
struct Target {
    db: TestDb,
    media: PathBuf,
    dir: tempfile::TempDir,
}

impl Target {
    fn new() -> Target {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("media");
        std::fs::create_dir_all(&media).unwrap();
        Target {
            db: TestDb::new(dir.path()),
            media,
            dir,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_peertube-runner-connector"));
        for (k, _) in std::env::vars() {
            if k.starts_with("PRC_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("PRC_DATA_DIR", self.dir.path())
            .env("PRC_STORAGE__ROOT", &self.media)
            .arg("--database-url")
            .arg(&self.db.url)
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs `import-django --json` with `args`; returns the parsed report.
    fn import(&self, from: &DjangoDb, args: &[&str]) -> Value {
        let mut all = vec!["import-django", "--from", &from.url, "--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "{all:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Writes an object at `key` of the storage root.
    fn put(&self, key: &str, bytes: &[u8]) {
        let path = self.media.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    /// The objects the library wrote, in its layout (§9); the pending video's source
    /// is a real 854x480 clip (`--replan` probes it).
    fn put_library_objects(&self) {
        self.put("vod/lecture-1/base_video.mp4", b"source bytes");
        self.put(
            "vod/lecture-1/7b3e2f1a-9c8d-4e6f-a5b4-c3d2e1f0a9b8-480-fragmented.mp4",
            b"fmp4 480",
        );
        self.put(
            "vod/lecture-1/7b3e2f1a-9c8d-4e6f-a5b4-c3d2e1f0a9b8-480.m3u8",
            b"#EXTM3U\n",
        );
        self.put(
            "vod/lecture-1/0e4d5c6b-7a8f-4b9e-8d1c-2f3a4b5c6d7e-360-fragmented.mp4",
            b"fmp4 360",
        );
        self.put(
            "vod/lecture-1/0e4d5c6b-7a8f-4b9e-8d1c-2f3a4b5c6d7e-360.m3u8",
            b"#EXTM3U\n",
        );
        self.put("vod/lecture-1/master.m3u8", b"#EXTM3U\n#EXT-X-VERSION:3\n");
        self.put("vod/lecture-1/thumbnail.jpg", b"jpeg");
        self.put(
            "vod/lecture-1/3f0c9d2e-5b4a-4c7d-9e8f-1a2b3c4d5e6f-en.vtt",
            b"WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n",
        );
        self.put("uploads/talk-2/original.mov", b"mov");
        self.put("vod/talk-2/talk-720.mp4", b"mp4 720");
        self.put("vod/talk-2/thumbnail.jpg", b"jpeg");
        self.put("vod/pending-4/thumbnail.jpg", b"jpeg");
        self.put(
            "vod/pending-4/2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d-480-fragmented.mp4",
            b"fmp4 480",
        );
        self.put(
            "vod/pending-4/2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d-480.m3u8",
            b"#EXTM3U\n",
        );
        self.put("vod/pending-4/master.m3u8", b"#EXTM3U\n");
        let clip = self.media.join("vod/pending-4/base_video.mp4");
        let made = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc=size=854x480:rate=30")
            .args(["-f", "lavfi", "-i", "sine=frequency=440", "-t", "1"])
            .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"])
            .arg(&clip)
            .status()
            .unwrap();
        assert!(made.success(), "ffmpeg makes the pending video's source");
    }
}

fn strings(v: &Value) -> Vec<String> {
    let mut list: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    list.sort();
    list
}

fn skipped_items(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s["item"].as_str().unwrap().to_owned())
        .collect()
}

fn sorted(items: &[&str]) -> Vec<String> {
    let mut list: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
    list.sort();
    list
}

#[tokio::test(flavor = "multi_thread")]
async fn a_django_database_is_imported_and_its_runners_keep_working() {
    let target = Target::new();
    let django = DjangoDb::for_suite(target.dir.path());
    target.put_library_objects();

    // A dry run reports everything and writes nothing.
    let dry = target.import(&django, &["--dry-run"]);
    assert_eq!(dry["dryRun"], true);
    assert_eq!(
        strings(&dry["runners"]["imported"]),
        ["encoder-1", "encoder-2"]
    );
    assert_eq!(
        strings(&dry["videos"]["imported"]),
        sorted(&[LECTURE, TALK, BROKEN, PENDING])
    );
    assert_eq!(target.json(&["runner", "list", "--json"]), json!([]));
    assert_eq!(
        target.json(&["registration-token", "list", "--json"]),
        json!([])
    );

    let report = target.import(&django, &["--replan", "--public-url", PUBLIC_URL]);
    assert_eq!(report["dryRun"], false);
    assert_eq!(
        report["registrationTokens"]["imported"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        strings(&report["runners"]["imported"]),
        ["encoder-1", "encoder-2"]
    );
    assert_eq!(
        strings(&report["videos"]["imported"]),
        sorted(&[LECTURE, TALK, BROKEN, PENDING])
    );
    // The library's quirks: a second video in an existing folder, a state it never
    // writes.
    let skipped = &report["videos"]["skipped"];
    assert_eq!(
        skipped_items(skipped),
        [TO_IMPORT, SAME_FOLDER],
        "{skipped}"
    );
    assert!(
        skipped[0]["reason"].as_str().unwrap().contains("state 3"),
        "{skipped}"
    );
    assert!(
        skipped[1]["reason"]
            .as_str()
            .unwrap()
            .contains("vod/lecture-1"),
        "{skipped}"
    );
    assert_eq!(report["files"]["imported"].as_array().unwrap().len(), 8);
    assert_eq!(
        strings(&report["captions"]["imported"]),
        [format!("{LECTURE}: en")]
    );
    // Jobs with work left are reported, not carried over: the processing one with the
    // runner holding it, and a pending transcription.
    let left = report["jobsNotCarriedOver"].as_array().unwrap();
    assert_eq!(left.len(), 2, "{left:?}");
    let processing = left.iter().find(|j| j["state"] == "Processing").unwrap();
    assert_eq!(processing["runner"], "encoder-2");
    assert_eq!(processing["video"], PENDING);
    assert_eq!(processing["type"], "vod-hls-transcoding");
    assert!(
        left.iter()
            .any(|j| j["type"] == "video-transcription" && j["state"] == "Pending")
    );
    assert_eq!(report["finishedJobs"], 3);
    // The failed video's source was never put in storage: reported.
    assert_eq!(
        report["missingObjects"],
        json!(["vod/broken-3/base_video.mp4"])
    );
    // --replan: the pending video gets its missing rendition only (its 480p exists);
    // the failed one has no source in storage.
    assert_eq!(
        report["replanned"],
        json!([{"video": PENDING, "jobs": ["hls 360p"]}])
    );
    assert_eq!(skipped_items(&report["replanSkipped"]), [BROKEN]);
    assert!(
        report["replanSkipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not in storage")
    );

    // Run twice = same result.
    let again = target.import(&django, &["--replan", "--public-url", PUBLIC_URL]);
    for section in [
        "registrationTokens",
        "runners",
        "videos",
        "files",
        "captions",
    ] {
        assert_eq!(again[section]["imported"], json!([]), "{section}: {again}");
    }
    assert_eq!(
        strings(&again["runners"]["alreadyImported"]),
        ["encoder-1", "encoder-2"]
    );
    assert_eq!(
        strings(&again["videos"]["alreadyImported"]),
        sorted(&[LECTURE, TALK, BROKEN, PENDING])
    );
    assert_eq!(
        again["files"]["alreadyImported"].as_array().unwrap().len(),
        8
    );
    assert_eq!(
        strings(&again["captions"]["alreadyImported"]),
        [format!("{LECTURE}: en")]
    );
    assert_eq!(again["replanned"], json!([]));
    assert_eq!(skipped_items(&again["replanSkipped"]), [BROKEN, PENDING]);
    let tokens = target.json(&["registration-token", "list", "--json"]);
    assert_eq!(tokens.as_array().unwrap().len(), 2);
    let token = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["registrationToken"] == REGISTRATION_TOKEN)
        .unwrap();
    assert_eq!(token["registeredRunnersCount"], 2);

    // The server on the imported database, storage at the library's media root.
    let (url, media) = (target.db.url.clone(), target.media.clone());
    let app = spawn_app_with(move |s| {
        s.database.url = Some(url);
        s.storage.root = Some(media);
        s.server.public_url = Some(PUBLIC_URL.to_owned());
        s.auth.api_keys = vec![peertube_runner_connector::config::Secret::new(API_KEY)];
    })
    .await;
    for token in [RUNNER_1, RUNNER_2] {
        let res = app
            .post_json(
                "/api/v1/runners/jobs/request",
                &json!({"runnerToken": token}),
            )
            .await;
        assert_eq!(res.status(), 200, "runner {token}");
        let body: Value = res.json().await.unwrap();
        let jobs = body["availableJobs"].as_array().unwrap();
        assert_eq!(jobs.len(), 1, "{body}");
        assert_eq!(jobs[0]["type"], "vod-hls-transcoding");
        assert_eq!(jobs[0]["payload"]["output"]["resolution"], 360);
        let input = jobs[0]["payload"]["input"]["videoFileUrl"]
            .as_str()
            .unwrap();
        assert!(
            input.starts_with(PUBLIC_URL) && input.contains(PENDING),
            "{input}"
        );
    }
    let res = app
        .post_json(
            "/api/v1/runners/jobs/request",
            &json!({"runnerToken": "ptrt-unknown"}),
        )
        .await;
    assert_eq!(res.status(), 404);
    // A new runner registers with the imported registration token.
    let res = app
        .post_json(
            "/api/v1/runners/register",
            &json!({"registrationToken": REGISTRATION_TOKEN, "name": "encoder-3"}),
        )
        .await;
    assert_eq!(res.status(), 200);

    let res = app
        .client
        .get(app.url("/api/v1/videos?count=100"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["total"], 4, "{page}");
    let video = |uuid: &str| {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["uuid"] == uuid)
            .unwrap_or_else(|| panic!("{uuid} listed"))
            .clone()
    };
    let lecture = video(LECTURE);
    assert_eq!(lecture["state"]["name"], "published");
    assert_eq!(lecture["directory"], "vod/lecture-1");
    assert_eq!(
        lecture["baseFilename"], LECTURE,
        "baseFilename NULL: the UUID"
    );
    assert_eq!(lecture["source"]["key"], "vod/lecture-1/base_video.mp4");
    let hls = &lecture["hls"];
    assert_eq!(
        hls["masterPlaylistUrl"],
        format!("{PUBLIC_URL}/static/vod/lecture-1/master.m3u8")
    );
    let renditions = hls["renditions"].as_array().unwrap();
    assert_eq!(renditions.len(), 2);
    assert_eq!(renditions[0]["resolution"], 480);
    assert_eq!(
        renditions[0]["width"], 854,
        "from the library's ffprobe metadata"
    );
    assert_eq!(
        renditions[0]["playlistUrl"],
        format!("{PUBLIC_URL}/static/vod/lecture-1/7b3e2f1a-9c8d-4e6f-a5b4-c3d2e1f0a9b8-480.m3u8")
    );
    assert_eq!(lecture["captions"][0]["language"], "en");
    assert_eq!(
        lecture["thumbnailUrl"],
        format!("{PUBLIC_URL}/static/vod/lecture-1/thumbnail.jpg")
    );
    let talk = video(TALK);
    assert_eq!(talk["webVideos"][0]["resolution"], 720);
    assert_eq!(talk["baseFilename"], "talk");
    assert_eq!(talk["source"]["key"], "uploads/talk-2/original.mov");
    assert!(talk["hls"].is_null());
    let broken = video(BROKEN);
    assert_eq!(broken["state"]["name"], "failed");
    assert_eq!(
        broken["error"],
        "ffmpeg exited with code 1: Invalid data found when processing input"
    );
    let pending = video(PENDING);
    assert_eq!(pending["state"]["name"], "playable");
    assert_eq!(pending["jobs"].as_array().unwrap().len(), 1);

    // Deleting an imported video removes the outputs its rows record, not the
    // application's source, and nothing of its neighbours.
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/videos/{TALK}")))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(!target.media.join("vod/talk-2/talk-720.mp4").exists());
    assert!(!target.media.join("vod/talk-2/thumbnail.jpg").exists());
    assert!(target.media.join("uploads/talk-2/original.mov").exists());
    assert!(target.media.join("vod/lecture-1/thumbnail.jpg").exists());

    // The outputs are served from where the library wrote them.
    for key in [
        "vod/lecture-1/7b3e2f1a-9c8d-4e6f-a5b4-c3d2e1f0a9b8-480-fragmented.mp4",
        "vod/lecture-1/3f0c9d2e-5b4a-4c7d-9e8f-1a2b3c4d5e6f-en.vtt",
        "vod/pending-4/2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d-480.m3u8",
    ] {
        let res = app
            .client
            .get(app.url(&format!("/static/{key}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{key}");
        assert_eq!(
            res.bytes().await.unwrap().as_ref(),
            std::fs::read(target.media.join(key)).unwrap()
        );
    }
}

#[test]
fn conflicting_rows_refuse_the_import_before_anything_is_written() {
    let target = Target::new();
    let django = DjangoDb::for_suite(target.dir.path());
    // A runner here with the name of one of the library's, and another token.
    let token = target.run(&["registration-token", "create"]);
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = peertube_runner_connector::db::Db::connect(
            &target.db.url,
            &peertube_runner_connector::db::PoolOptions::default(),
        )
        .unwrap();
        peertube_runner_connector::service::runners::register(
            &db,
            peertube_runner_connector::service::runners::Registration {
                registration_token: token.parse().unwrap(),
                name: "encoder-2".into(),
                description: None,
                version: None,
                ip: "10.9.9.9".into(),
            },
            peertube_runner_connector::db::now(),
        )
        .await
        .unwrap();
    });

    // A video here with a library video's UUID in another folder, and one inside the
    // folder of another library video.
    let db = peertube_runner_connector::db::Db::connect(
        &target.db.url,
        &peertube_runner_connector::db::PoolOptions::default(),
    )
    .unwrap();
    for (uuid, directory) in [(LECTURE, "elsewhere/lecture"), (OTHER, "vod/talk-2/extra")] {
        let video = peertube_runner_connector::domain::video::NewVideo {
            uuid: peertube_runner_connector::domain::ids::VideoUuid::parse(uuid).unwrap(),
            state: peertube_runner_connector::domain::video::VideoState::Published,
            name: None,
            directory: directory.to_owned(),
            base_filename: "x".to_owned(),
            duration: None,
            thumbnail_key: None,
            options: peertube_runner_connector::domain::video::VideoOptions {
                hls: true,
                web_videos: false,
                resolutions: vec![],
                source_owned: false,
                edition: 0,
                switch_at: None,
            },
        };
        rt.block_on(db.run(move |conn| {
            peertube_runner_connector::db::videos::insert(
                conn,
                &video,
                peertube_runner_connector::db::now(),
            )
        }))
        .unwrap();
    }

    for extra in [&[][..], &["--dry-run"][..]] {
        let mut args = vec!["import-django", "--from", &django.url];
        args.extend_from_slice(extra);
        let out = target.run(&args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("refusing to import"), "{stderr}");
        assert!(
            stderr.contains(
                "runner `encoder-2`: a runner here (id 1) has this name and another token"
            ),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "video {LECTURE}: the video here (id 1) has folder `elsewhere/lecture`, the library's `vod/lecture-1`"
            )),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "video {TALK}: The destination contains the folder `vod/talk-2/extra` of another video"
            )),
            "{stderr}"
        );
    }
    // Nothing was written: the one token, runner and the two videos that were here.
    let tokens = target.json(&["registration-token", "list", "--json"]);
    assert_eq!(tokens.as_array().unwrap().len(), 1);
    let runners = target.json(&["runner", "list", "--json"]);
    assert_eq!(runners.as_array().unwrap().len(), 1);
    assert_eq!(runners[0]["ip"], "10.9.9.9");
    let videos = rt.block_on(async {
        db.run(|conn| peertube_runner_connector::db::videos::list(conn, None, 0, 10))
            .await
            .unwrap()
    });
    assert_eq!(videos.1, 2);
}

#[test]
fn a_missing_table_or_database_fails_with_a_clear_message() {
    let target = Target::new();
    let out = target.run(&["import-django", "--from", "/nonexistent/django.sqlite3"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read the library's database"),
        "{stderr}"
    );

    let django = DjangoDb::sqlite(target.dir.path());
    let out = target.run(&[
        "import-django",
        "--from",
        &django.url,
        "--table-prefix",
        "myapp_",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("myapp_runnerregistrationtoken"), "{stderr}");
}

#[test]
fn the_sqlite_fixture_imports_into_either_backend() {
    // On the PostgreSQL run, this is SQLite (the library's) into PostgreSQL (ours).
    let target = Target::new();
    let django = DjangoDb::sqlite(target.dir.path());
    let report = target.import(&django, &[]);
    assert_eq!(
        strings(&report["runners"]["imported"]),
        ["encoder-1", "encoder-2"]
    );
    assert_eq!(
        strings(&report["videos"]["imported"]),
        sorted(&[LECTURE, TALK, BROKEN, PENDING])
    );
    assert_eq!(report["replanned"], json!([]));
    // Without storage objects, every recorded key is reported missing.
    assert_eq!(report["missingObjects"].as_array().unwrap().len(), 17);
    let runners = target.json(&["runner", "list", "--json"]);
    let encoder_2 = runners
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "encoder-2")
        .unwrap();
    assert_eq!(encoder_2["description"], "GPU box in room 4");
    assert_eq!(encoder_2["ip"], "10.0.0.6");
    assert_eq!(encoder_2["lastContact"], "2024-11-21T09:30:12.500Z");
}
