//! Both migration trees must produce the same tables and columns.

use std::collections::BTreeSet;

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use peertube_runner_connector::db::{Db, DbConnection, PoolOptions};

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Integer)]
    notnull: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

fn open(url: &str) -> Db {
    let db = Db::connect(
        url,
        &PoolOptions {
            max_connections: 1,
            connect_timeout: std::time::Duration::from_secs(5),
            ..Default::default()
        },
    )
    .unwrap();
    db.run_migrations().unwrap();
    db
}

/// (table, column, nullable)
fn columns(db: &Db) -> BTreeSet<(String, String, bool)> {
    let mut conn = db.get().unwrap();
    match &mut *conn {
        DbConnection::Postgresql(c) => diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name, \
             is_nullable::text AS is_nullable FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
        )
        .load::<PgColumn>(c)
        .unwrap()
        .into_iter()
        .map(|c| (c.table_name, c.column_name, c.is_nullable == "YES"))
        .collect(),
        DbConnection::Sqlite(c) => diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name, p.\"notnull\" AS \"notnull\", p.pk AS pk \
             FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
             AND m.name <> '__diesel_schema_migrations'",
        )
        .load::<SqliteColumn>(c)
        .unwrap()
        .into_iter()
        // SQLite reports INTEGER PRIMARY KEY columns as nullable; they are not.
        .map(|c| (c.table_name, c.column_name, c.notnull == 0 && c.pk == 0))
        .collect(),
    }
}

#[test]
fn migration_trees_produce_the_same_schema() {
    let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("needs TEST_DATABASE_URL (PostgreSQL); .ci/run sets it");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = open(&format!("sqlite://{}", dir.path().join("s.db").display()));
    let pg_db = crate::helpers::TestDb::postgres(&admin);
    let pg = open(&pg_db.url);
    let (s, p) = (columns(&sqlite), columns(&pg));
    assert!(s.len() > 50, "{s:?}");
    let only_sqlite: Vec<_> = s.difference(&p).collect();
    let only_pg: Vec<_> = p.difference(&s).collect();
    assert!(
        only_sqlite.is_empty() && only_pg.is_empty(),
        "only in sqlite: {only_sqlite:?}\nonly in postgres: {only_pg:?}"
    );
}

#[test]
fn migrations_are_idempotent_and_reversible_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let db = open(&url);
    assert!(db.run_migrations().unwrap().is_empty());
    let mut conn = db.get().unwrap();
    let DbConnection::Sqlite(c) = &mut *conn else {
        unreachable!()
    };
    use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
    const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
    c.revert_all_migrations(SQLITE).unwrap();
    drop(conn);
    let trees = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert_eq!(db.run_migrations().unwrap().len(), trees);
}

#[tokio::test]
async fn a_storage_folder_holds_one_video() {
    use peertube_runner_connector::db::{self, DbError};
    use peertube_runner_connector::domain::video::{NewVideo, VideoOptions, VideoState};
    let dir = tempfile::tempdir().unwrap();
    let test_db = crate::helpers::TestDb::new(dir.path());
    let db = open(&test_db.url);
    let video = |uuid: &str| NewVideo {
        uuid: uuid.parse().unwrap(),
        state: VideoState::ToTranscode,
        name: None,
        directory: "videos/shared".to_owned(),
        base_filename: "v".to_owned(),
        duration: None,
        thumbnail_key: None,
        options: VideoOptions {
            hls: true,
            web_videos: false,
            resolutions: Vec::new(),
            source_owned: true,
        },
    };
    let first = video("6f1c2a8e-1d2b-4c3d-8e9f-0a1b2c3d4e5f");
    let second = video("7a2d3b9f-2e3c-4d4e-9f0a-1b2c3d4e5f60");
    db.run(move |conn| db::videos::insert(conn, &first, db::now()))
        .await
        .unwrap();
    let err: DbError = db
        .run(move |conn| db::videos::insert(conn, &second, db::now()))
        .await
        .unwrap_err();
    assert!(err.is_unique_violation(), "{err}");
}
