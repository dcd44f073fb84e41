//! Both migration trees must produce the same tables, columns (nullability and
//! portable type) and indexes (columns, uniqueness, partiality).

use std::collections::BTreeSet;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Text};
use peertube_runner_connector::db::{Db, DbConnection, PoolOptions};

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
    #[diesel(sql_type = Text)]
    data_type: String,
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
    #[diesel(sql_type = Text)]
    column_type: String,
}

#[derive(QueryableByName)]
struct PgIndex {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    columns: String,
    #[diesel(sql_type = Bool)]
    is_unique: bool,
    #[diesel(sql_type = Bool)]
    is_primary: bool,
    #[diesel(sql_type = Bool)]
    partial: bool,
}

#[derive(QueryableByName)]
struct SqliteIndex {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    index_name: String,
    #[diesel(sql_type = Integer)]
    is_unique: i32,
    #[diesel(sql_type = Text)]
    origin: String,
    #[diesel(sql_type = Integer)]
    partial: i32,
}

#[derive(QueryableByName)]
struct SqliteIndexColumn {
    #[diesel(sql_type = Text)]
    name: String,
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

/// The portable name of a column type. An `INTEGER PRIMARY KEY` is SQLite's 64-bit
/// row id, PostgreSQL's `BIGSERIAL`.
fn portable_type(declared: &str, primary_key: bool) -> String {
    let t = declared.to_ascii_lowercase();
    match t.as_str() {
        "integer" if primary_key => "bigint",
        "bigint" => "bigint",
        "integer" => "integer",
        "text" => "text",
        "double precision" => "double",
        "timestamp" | "timestamp without time zone" => "timestamp",
        _ => return t,
    }
    .to_owned()
}

/// (table, column, nullable, portable type)
fn columns(db: &Db) -> BTreeSet<(String, String, bool, String)> {
    let mut conn = db.get().unwrap();
    match &mut *conn {
        DbConnection::Postgresql(c) => diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name, \
             is_nullable::text AS is_nullable, data_type::text AS data_type \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
        )
        .load::<PgColumn>(c)
        .unwrap()
        .into_iter()
        .map(|c| {
            let t = portable_type(&c.data_type, false);
            (c.table_name, c.column_name, c.is_nullable == "YES", t)
        })
        .collect(),
        DbConnection::Sqlite(c) => diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name, p.\"notnull\" AS \"notnull\", \
             p.pk AS pk, p.type AS column_type \
             FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
             AND m.name <> '__diesel_schema_migrations'",
        )
        .load::<SqliteColumn>(c)
        .unwrap()
        .into_iter()
        // SQLite reports INTEGER PRIMARY KEY columns as nullable; they are not.
        .map(|c| {
            let t = portable_type(&c.column_type, c.pk == 1);
            (c.table_name, c.column_name, c.notnull == 0 && c.pk == 0, t)
        })
        .collect(),
    }
}

/// (table, indexed columns in order, unique, partial), primary keys left out (an
/// `INTEGER PRIMARY KEY` has no index on SQLite) and names ignored (a `UNIQUE`
/// constraint's index is named differently by each backend).
fn indexes(db: &Db) -> BTreeSet<(String, String, bool, bool)> {
    let mut conn = db.get().unwrap();
    match &mut *conn {
        DbConnection::Postgresql(c) => diesel::sql_query(
            "SELECT t.relname::text AS table_name, \
             array_to_string(ARRAY(SELECT a.attname::text \
                 FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, n) \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                 ORDER BY k.n), ',') AS columns, \
             ix.indisunique AS is_unique, ix.indisprimary AS is_primary, \
             ix.indpred IS NOT NULL AS partial \
             FROM pg_index ix \
             JOIN pg_class i ON i.oid = ix.indexrelid \
             JOIN pg_class t ON t.oid = ix.indrelid \
             JOIN pg_namespace ns ON ns.oid = t.relnamespace \
             WHERE ns.nspname = 'public' AND t.relname <> '__diesel_schema_migrations'",
        )
        .load::<PgIndex>(c)
        .unwrap()
        .into_iter()
        .filter(|i| !i.is_primary)
        .map(|i| (i.table_name, i.columns, i.is_unique, i.partial))
        .collect(),
        DbConnection::Sqlite(c) => {
            let list = diesel::sql_query(
                "SELECT m.name AS table_name, il.name AS index_name, il.\"unique\" AS is_unique, \
                 il.origin AS origin, il.partial AS partial \
                 FROM sqlite_master m, pragma_index_list(m.name) il \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
                 AND m.name <> '__diesel_schema_migrations'",
            )
            .load::<SqliteIndex>(c)
            .unwrap();
            list.into_iter()
                .filter(|i| i.origin != "pk")
                .map(|i| {
                    let columns: Vec<String> =
                        diesel::sql_query("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                            .bind::<Text, _>(&i.index_name)
                            .load::<SqliteIndexColumn>(c)
                            .unwrap()
                            .into_iter()
                            .map(|c| c.name)
                            .collect();
                    (
                        i.table_name,
                        columns.join(","),
                        i.is_unique == 1,
                        i.partial == 1,
                    )
                })
                .collect()
        }
    }
}

fn assert_same<T: Ord + std::fmt::Debug>(what: &str, s: &BTreeSet<T>, p: &BTreeSet<T>) {
    let only_sqlite: Vec<_> = s.difference(p).collect();
    let only_pg: Vec<_> = p.difference(s).collect();
    assert!(
        only_sqlite.is_empty() && only_pg.is_empty(),
        "{what} differ\nonly in sqlite: {only_sqlite:?}\nonly in postgres: {only_pg:?}"
    );
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
    assert!(
        s.iter()
            .all(|c| ["bigint", "integer", "text", "double", "timestamp"].contains(&c.3.as_str())),
        "only portable column types: {s:?}"
    );
    assert_same("columns (name, nullability or type)", &s, &p);
    let (si, pi) = (indexes(&sqlite), indexes(&pg));
    // The offer index's reads and the watchdog's sweep (cost flat in the table size).
    for columns in ["state,job_type,priority,id", "state,updated_at"] {
        assert!(
            si.contains(&("runner_jobs".to_owned(), columns.to_owned(), false, false)),
            "{columns}: {si:?}"
        );
    }
    assert!(
        si.contains(&("videos".to_owned(), "directory".to_owned(), true, false)),
        "{si:?}"
    );
    assert_same("indexes", &si, &pi);
}

/// The lock-step check itself notices a difference in a column's type or an index.
#[test]
fn the_schema_comparison_sees_types_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&format!("sqlite://{}", dir.path().join("a.db").display()));
    let b = open(&format!("sqlite://{}", dir.path().join("b.db").display()));
    assert_eq!(columns(&a), columns(&b));
    assert_eq!(indexes(&a), indexes(&b));
    {
        let mut conn = b.get().unwrap();
        let DbConnection::Sqlite(c) = &mut *conn else {
            unreachable!()
        };
        diesel::sql_query("ALTER TABLE webhook_deliveries ADD COLUMN extra DOUBLE PRECISION")
            .execute(c)
            .unwrap();
        diesel::sql_query("CREATE INDEX runners_ip ON runners (ip)")
            .execute(c)
            .unwrap();
    }
    let (ca, cb) = (columns(&a), columns(&b));
    let added: Vec<_> = cb.difference(&ca).collect();
    assert_eq!(
        added,
        [&(
            "webhook_deliveries".to_owned(),
            "extra".to_owned(),
            true,
            "double".to_owned()
        )]
    );
    let (ia, ib) = (indexes(&a), indexes(&b));
    let added: Vec<_> = ib.difference(&ia).collect();
    assert_eq!(
        added,
        [&("runners".to_owned(), "ip".to_owned(), false, false)]
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
            edition: 0,
            switch_at: None,
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
