//! A runner simulator speaking the protocol as `peertube-runner` does
//! (`runner-protocol.md` 0, 6): JSON bodies with the tokens for request, accept, abort,
//! error and downloads; multipart for update and success with every value a string,
//! nested keys as `payload[key]`, text fields first and file parts after them.

#![allow(dead_code)]

use peertube_runner_connector::db::{self, models::RunnerJobRow};
use peertube_runner_connector::domain::job::JobType;
use peertube_runner_connector::service::jobs::{JobParent, JobSpec, create_jobs};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A registered simulated runner.
#[derive(Clone)]
pub struct SimRunner {
    pub base: String,
    pub client: reqwest::Client,
    pub id: i64,
    pub token: String,
    pub name: String,
}

/// A file part of an update or success.
pub struct FilePart {
    /// `videoFile` → sent as `payload[videoFile]`.
    pub key: String,
    pub file_name: String,
    pub mime: String,
    pub body: reqwest::Body,
    pub len: u64,
}

impl FilePart {
    pub fn bytes(key: &str, file_name: &str, mime: &str, data: Vec<u8>) -> FilePart {
        FilePart {
            key: key.to_owned(),
            file_name: file_name.to_owned(),
            mime: mime.to_owned(),
            len: data.len() as u64,
            body: reqwest::Body::from(data),
        }
    }
}

impl SimRunner {
    pub async fn register(app: &TestApp, name: &str) -> SimRunner {
        let (id, token) = app.register_runner(name).await;
        SimRunner {
            base: app.address.clone(),
            client: reqwest::Client::new(),
            id,
            token,
            name: name.to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/runners{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("accept", "application/json")
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `/jobs/request` with extra body keys (`version`, `jobTypes`).
    pub async fn request(&self, extra: Value) -> reqwest::Response {
        let mut body = json!({"runnerToken": self.token});
        if let Value::Object(m) = extra {
            body.as_object_mut().unwrap().extend(m);
        }
        self.post("/jobs/request", body).await
    }

    /// `availableJobs` of a 200 `/jobs/request` (as the newest runner: with a version).
    pub async fn available(&self, extra: Value) -> Vec<Value> {
        let res = self.request(extra).await;
        assert_eq!(res.status(), 200);
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("application/json"), "{ct}");
        let body: Value = res.json().await.unwrap();
        body["availableJobs"].as_array().unwrap().clone()
    }

    pub async fn accept(&self, uuid: &str) -> reqwest::Response {
        self.post(
            &format!("/jobs/{uuid}/accept"),
            json!({"runnerToken": self.token}),
        )
        .await
    }

    /// Accepts and returns `(job, jobToken)`.
    pub async fn accept_ok(&self, uuid: &str) -> (Value, String) {
        let res = self.accept(uuid).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        let token = body["job"]["jobToken"].as_str().unwrap().to_owned();
        (body["job"].clone(), token)
    }

    pub async fn abort(&self, uuid: &str, job_token: &str) -> reqwest::Response {
        self.post(
            &format!("/jobs/{uuid}/abort"),
            json!({"runnerToken": self.token, "jobToken": job_token, "reason": "Runner stopped"}),
        )
        .await
    }

    pub async fn error(&self, uuid: &str, job_token: &str, message: &str) -> reqwest::Response {
        self.post(
            &format!("/jobs/{uuid}/error"),
            json!({"runnerToken": self.token, "jobToken": job_token, "message": message}),
        )
        .await
    }

    fn form(&self, job_token: &str, fields: &[(&str, &str)], files: Vec<FilePart>) -> Form {
        let mut form = Form::new()
            .text("runnerToken", self.token.clone())
            .text("jobToken", job_token.to_owned());
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        for f in files {
            let part = Part::stream_with_length(f.body, f.len)
                .file_name(f.file_name)
                .mime_str(&f.mime)
                .unwrap();
            form = form.part(format!("payload[{}]", f.key), part);
        }
        form
    }

    /// Multipart `update`; `fields` are raw names (`progress`, `payload[type]`).
    pub async fn update(
        &self,
        uuid: &str,
        job_token: &str,
        fields: &[(&str, &str)],
        files: Vec<FilePart>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/jobs/{uuid}/update")))
            .multipart(self.form(job_token, fields, files))
            .send()
            .await
            .unwrap()
    }

    /// Multipart `success`.
    pub async fn success(
        &self,
        uuid: &str,
        job_token: &str,
        fields: &[(&str, &str)],
        files: Vec<FilePart>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/jobs/{uuid}/success")))
            .multipart(self.form(job_token, fields, files))
            .send()
            .await
            .unwrap()
    }

    /// POSTs a download URL with the tokens, as the runner's `downloadFile` does.
    pub async fn download(&self, url: &str, job_token: &str) -> reqwest::Response {
        self.client
            .post(url)
            .json(&json!({"runnerToken": self.token, "jobToken": job_token}))
            .send()
            .await
            .unwrap()
    }
}

/// A VOD payload as in section 3.1/3.2.
pub fn vod_payload(job_uuid: &str, video_uuid: &str, resolution: i32, hls: bool) -> Value {
    let input = format!("http://127.0.0.1/api/v1/runners/jobs/{job_uuid}/files/videos/{video_uuid}/max-quality");
    let mut output = json!({"resolution": resolution, "fps": 30});
    if hls {
        output["separatedAudio"] = json!(false);
    }
    json!({"input": {"videoFileUrl": input, "separatedAudioFileUrl": []}, "output": output})
}

/// A spec for a job of `job_type` (VOD-shaped payload unless given).
pub fn spec(job_type: JobType, priority: i32, parent: Option<JobParent>) -> JobSpec {
    let uuid = JobSpec::new_uuid();
    let video_uuid = uuid::Uuid::new_v4().to_string();
    JobSpec {
        payload: vod_payload(&uuid, &video_uuid, 720, job_type == JobType::VodHlsTranscoding),
        private_payload: json!({"videoUUID": video_uuid, "isNewVideo": true}),
        uuid,
        job_type,
        priority,
        video_id: None,
        parent,
    }
}

/// Inserts jobs in one transaction.
pub async fn insert_jobs(app: &TestApp, specs: Vec<JobSpec>) -> Vec<RunnerJobRow> {
    app.state
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| create_jobs(conn, &specs))
                .map_err(|e| db::DbError::Task(e.to_string()))
        })
        .await
        .unwrap()
}

/// Reads a job row by UUID.
pub async fn job(app: &TestApp, uuid: &str) -> RunnerJobRow {
    let uuid = uuid.to_owned();
    app.state
        .db
        .run(move |conn| db::jobs::find_by_uuid(conn, &uuid))
        .await
        .unwrap()
        .unwrap()
}
