//! Reads the tables of `django-peertube-runner-connector` (`reference-library.md` 1)
//! from its own database, PostgreSQL or SQLite, for `import-django`. Its schema is not
//! ours (camelCase columns, UUID keys, `timestamptz`), so the reader uses `sql_query`
//! with one row struct per table, reads every UUID, time and JSON column as text (the
//! forms differ by backend: `domain::django` reads them), and never writes: the SQLite
//! file is opened read-only, PostgreSQL reads in a read-only transaction. All tables
//! are read in one snapshot.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::{PgConnection, SqliteConnection};

use super::{Backend, DbConnection, DbError};

/// `…_runnerregistrationtoken`.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct DjangoRegistrationToken {
    /// Primary key.
    #[diesel(sql_type = Text)]
    pub id: String,
    /// `registrationToken`.
    #[diesel(sql_type = Text)]
    pub token: String,
    /// `createdAt`.
    #[diesel(sql_type = Text)]
    pub created_at: String,
    /// `updatedAt`.
    #[diesel(sql_type = Text)]
    pub updated_at: String,
}

/// `…_runner`.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct DjangoRunner {
    /// Primary key.
    #[diesel(sql_type = Text)]
    pub id: String,
    /// `runnerToken`, in clear.
    #[diesel(sql_type = Text)]
    pub token: String,
    /// Unique name.
    #[diesel(sql_type = Text)]
    pub name: String,
    /// Free text.
    #[diesel(sql_type = Nullable<Text>)]
    pub description: Option<String>,
    /// `lastContact`.
    #[diesel(sql_type = Text)]
    pub last_contact: String,
    /// Last client IP.
    #[diesel(sql_type = Text)]
    pub ip: String,
    /// `runnerRegistrationToken_id`.
    #[diesel(sql_type = Text)]
    pub registration_token_id: String,
    /// `createdAt`.
    #[diesel(sql_type = Text)]
    pub created_at: String,
    /// `updatedAt`.
    #[diesel(sql_type = Text)]
    pub updated_at: String,
}

/// `…_runnerjob`, the columns the import reports.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct DjangoJob {
    /// Public UUID.
    #[diesel(sql_type = Text)]
    pub uuid: String,
    /// Runner job type.
    #[diesel(sql_type = Text)]
    pub job_type: String,
    /// RunnerJobState.
    #[diesel(sql_type = Integer)]
    pub state: i32,
    /// `privatePayload` (JSON holding `videoUUID`).
    #[diesel(sql_type = Nullable<Text>)]
    pub private_payload: Option<String>,
    /// Last error.
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    /// `runner_id`.
    #[diesel(sql_type = Nullable<Text>)]
    pub runner_id: Option<String>,
}

/// `…_video`.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct DjangoVideo {
    /// Primary key.
    #[diesel(sql_type = Text)]
    pub id: String,
    /// Public UUID.
    #[diesel(sql_type = Text)]
    pub uuid: String,
    /// VideoState.
    #[diesel(sql_type = Integer)]
    pub state: i32,
    /// Whole seconds.
    #[diesel(sql_type = Nullable<Integer>)]
    pub duration: Option<i32>,
    /// Storage folder of the outputs.
    #[diesel(sql_type = Text)]
    pub directory: String,
    /// `thumbnailFilename`.
    #[diesel(sql_type = Nullable<Text>)]
    pub thumbnail: Option<String>,
    /// `transcriptFileName`.
    #[diesel(sql_type = Nullable<Text>)]
    pub transcript: Option<String>,
    /// Detected transcript language.
    #[diesel(sql_type = Nullable<Text>)]
    pub language: Option<String>,
    /// `baseFilename` (often NULL).
    #[diesel(sql_type = Nullable<Text>)]
    pub base_filename: Option<String>,
    /// `createdAt`.
    #[diesel(sql_type = Text)]
    pub created_at: String,
    /// `updatedAt`.
    #[diesel(sql_type = Text)]
    pub updated_at: String,
}

/// `…_videostreamingplaylist`.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct DjangoPlaylist {
    /// Primary key.
    #[diesel(sql_type = Text)]
    pub id: String,
    /// `playlistFilename` (the master playlist).
    #[diesel(sql_type = Nullable<Text>)]
    pub master: Option<String>,
    /// `video_id`.
    #[diesel(sql_type = Text)]
    pub video_id: String,
}

/// `…_videofile`.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct DjangoFile {
    /// Primary key.
    #[diesel(sql_type = Text)]
    pub id: String,
    /// min(width, height) as probed (not snapped to a rung for sources).
    #[diesel(sql_type = Integer)]
    pub resolution: i32,
    /// Bytes.
    #[diesel(sql_type = BigInt)]
    pub size: i64,
    /// Lower-case extension with its dot, `""` if none.
    #[diesel(sql_type = Text)]
    pub extname: String,
    /// Frames per second, -1 for audio.
    #[diesel(sql_type = Integer)]
    pub fps: i32,
    /// `{"chapter", "format", "streams"}` from ffprobe.
    #[diesel(sql_type = Nullable<Text>)]
    pub metadata: Option<String>,
    /// Storage key.
    #[diesel(sql_type = Nullable<Text>)]
    pub filename: Option<String>,
    /// `video_id`.
    #[diesel(sql_type = Text)]
    pub video_id: String,
    /// `streamingPlaylist_id`: set for HLS renditions.
    #[diesel(sql_type = Nullable<Text>)]
    pub playlist_id: Option<String>,
    /// `createdAt`.
    #[diesel(sql_type = Text)]
    pub created_at: String,
}

/// Everything the import reads, each table in creation order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DjangoTables {
    /// Registration tokens.
    pub registration_tokens: Vec<DjangoRegistrationToken>,
    /// Runners.
    pub runners: Vec<DjangoRunner>,
    /// Runner jobs.
    pub jobs: Vec<DjangoJob>,
    /// Videos.
    pub videos: Vec<DjangoVideo>,
    /// HLS master playlists.
    pub playlists: Vec<DjangoPlaylist>,
    /// Video files (sources and renditions).
    pub files: Vec<DjangoFile>,
}

/// Whether `prefix` can name tables: letters, digits and `_`, optionally after one
/// `schema.` (PostgreSQL).
pub fn valid_prefix(prefix: &str) -> bool {
    let ident = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match prefix.split_once('.') {
        Some((schema, rest)) => !schema.is_empty() && ident(schema) && ident(rest),
        None => ident(prefix),
    }
}

/// Opens the library's database at `url` (`postgres://…`, `sqlite://PATH`,
/// `sqlite:PATH`, or a plain path to a SQLite file) for reading.
pub fn open(url: &str) -> Result<DbConnection, DbError> {
    let url = if url.contains("://") || url.starts_with("sqlite:") {
        url.to_owned()
    } else {
        format!("sqlite://{url}")
    };
    let (backend, target) = Backend::from_url(&url)?;
    match backend {
        Backend::Postgres => PgConnection::establish(&target)
            .map(DbConnection::Postgresql)
            .map_err(|e| DbError::Unavailable(e.to_string())),
        Backend::Sqlite => {
            if !std::path::Path::new(&target).is_file() {
                return Err(DbError::Unavailable(format!("no SQLite file at {target}")));
            }
            // A URI filename opened read-only: nothing can change the library's file.
            let path: String = target
                .chars()
                .map(|c| match c {
                    '%' => "%25".to_owned(),
                    '?' => "%3f".to_owned(),
                    '#' => "%23".to_owned(),
                    c => c.to_string(),
                })
                .collect();
            SqliteConnection::establish(&format!("file:{path}?mode=ro"))
                .map(DbConnection::Sqlite)
                .map_err(|e| DbError::Unavailable(e.to_string()))
        }
    }
}

/// How one backend spells the columns the reader needs as text.
struct Dialect {
    postgres: bool,
}

impl Dialect {
    fn text(&self, column: &str) -> String {
        if self.postgres {
            format!("\"{column}\"::text")
        } else {
            format!("\"{column}\"")
        }
    }

    fn time(&self, column: &str) -> String {
        if self.postgres {
            format!("to_char(\"{column}\" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
        } else {
            format!("\"{column}\"")
        }
    }
}

/// A table of the library, quoted: `"<prefix><model>"` or `"<schema>"."<rest><model>"`.
fn table(prefix: &str, model: &str) -> String {
    match prefix.split_once('.') {
        Some((schema, rest)) => format!("\"{schema}\".\"{rest}{model}\""),
        None => format!("\"{prefix}{model}\""),
    }
}

/// Reads every table the import needs, in one read-only snapshot. A missing table or
/// column fails with the database's message naming it.
pub fn read(conn: &mut DbConnection, prefix: &str) -> Result<DjangoTables, DbError> {
    if !valid_prefix(prefix) {
        return Err(DbError::InvalidUrl(format!(
            "table prefix `{prefix}`: letters, digits and `_`, optionally after `schema.`"
        )));
    }
    let d = Dialect {
        postgres: matches!(conn, DbConnection::Postgresql(_)),
    };
    let begin = if d.postgres {
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    } else {
        "BEGIN"
    };
    conn.batch_execute(begin)?;
    let read = read_all(conn, prefix, &d);
    // Nothing was written: ending the snapshot either way is the same.
    let ended = conn.batch_execute("ROLLBACK");
    let tables = read?;
    ended?;
    Ok(tables)
}

fn read_all(conn: &mut DbConnection, prefix: &str, d: &Dialect) -> Result<DjangoTables, DbError> {
    let order = "ORDER BY \"createdAt\", \"id\"";
    let tokens = format!(
        "SELECT {} AS id, \"registrationToken\" AS token, {} AS created_at, {} AS updated_at \
         FROM {} {order}",
        d.text("id"),
        d.time("createdAt"),
        d.time("updatedAt"),
        table(prefix, "runnerregistrationtoken"),
    );
    let runners = format!(
        "SELECT {} AS id, \"runnerToken\" AS token, name, description, {} AS last_contact, ip, \
         {} AS registration_token_id, {} AS created_at, {} AS updated_at FROM {} {order}",
        d.text("id"),
        d.time("lastContact"),
        d.text("runnerRegistrationToken_id"),
        d.time("createdAt"),
        d.time("updatedAt"),
        table(prefix, "runner"),
    );
    let jobs = format!(
        "SELECT {} AS uuid, type AS job_type, state, {} AS private_payload, error, \
         {} AS runner_id FROM {} {order}",
        d.text("uuid"),
        d.text("privatePayload"),
        d.text("runner_id"),
        table(prefix, "runnerjob"),
    );
    let videos = format!(
        "SELECT {} AS id, {} AS uuid, state, duration, directory, \
         \"thumbnailFilename\" AS thumbnail, \"transcriptFileName\" AS transcript, language, \
         \"baseFilename\" AS base_filename, {} AS created_at, {} AS updated_at FROM {} {order}",
        d.text("id"),
        d.text("uuid"),
        d.time("createdAt"),
        d.time("updatedAt"),
        table(prefix, "video"),
    );
    let playlists = format!(
        "SELECT {} AS id, \"playlistFilename\" AS master, {} AS video_id FROM {} {order}",
        d.text("id"),
        d.text("video_id"),
        table(prefix, "videostreamingplaylist"),
    );
    let files = format!(
        "SELECT {} AS id, resolution, size, extname, fps, {} AS metadata, filename, \
         {} AS video_id, {} AS playlist_id, {} AS created_at FROM {} {order}",
        d.text("id"),
        d.text("metadata"),
        d.text("video_id"),
        d.text("streamingPlaylist_id"),
        d.time("createdAt"),
        table(prefix, "videofile"),
    );
    Ok(DjangoTables {
        registration_tokens: diesel::sql_query(tokens).load(conn)?,
        runners: diesel::sql_query(runners).load(conn)?,
        jobs: diesel::sql_query(jobs).load(conn)?,
        videos: diesel::sql_query(videos).load(conn)?,
        playlists: diesel::sql_query(playlists).load(conn)?,
        files: diesel::sql_query(files).load(conn)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_name_tables_and_nothing_else() {
        assert!(valid_prefix("django_peertube_runner_connector_"));
        assert!(valid_prefix("legacy.django_peertube_runner_connector_"));
        assert!(!valid_prefix("x\"; DROP TABLE videos; --"));
        assert!(!valid_prefix(".x"));
        assert_eq!(table("p_", "video"), "\"p_video\"");
        assert_eq!(table("s.p_", "video"), "\"s\".\"p_video\"");
    }
}
