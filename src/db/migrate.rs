//! Embedded migrations, one tree per backend, applied at `serve` start and by `migrate`.

use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{Db, DbConnection, DbError};

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Advisory lock key held while PostgreSQL migrations run.
const MIGRATION_LOCK: i64 = 0x0070_7263_5f6d_6967;

impl Db {
    /// Applies every pending migration and returns the names of those applied.
    pub fn run_migrations(&self) -> Result<Vec<String>, DbError> {
        let mut conn = self.get()?;
        let applied = match &mut *conn {
            DbConnection::Postgresql(c) => {
                // Several instances may start at once against one database: serialise them.
                c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
                let result = c
                    .run_pending_migrations(POSTGRES)
                    .map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>());
                c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
                result
            }
            DbConnection::Sqlite(c) => c
                .run_pending_migrations(SQLITE)
                .map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>()),
        }
        .map_err(|e| DbError::Migration(e.to_string()))?;
        Ok(applied)
    }
}
