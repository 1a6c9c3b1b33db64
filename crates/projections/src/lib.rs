//! Read models built from the event log, and the projector that keeps them.
//!
//! The projector reads the log in global order from its checkpoint and applies commits in batches,
//! each inside one transaction that also advances the checkpoint: a crash loses nothing and applies
//! nothing twice.

mod projector;
mod queries;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::watch;

pub use projector::{CASES, Projector};
pub use queries::{CaseFilter, CaseLink, CaseSummary, HistoryEntry, Page};

/// Failures of the read side.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("read model database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("read model migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Log(#[from] docket_eventlog::LogError),
    /// The read model was built from another log than the one it is opened with.
    #[error(
        "the read model was built from the log {built_from:?}, not {opened_with:?}: positions differ \
         between logs; use another data directory, or remove the read model to rebuild it"
    )]
    OtherLog {
        built_from: String,
        opened_with: String,
    },
    /// A commit that cannot be applied: the projection stops there rather than skip it.
    #[error("commit at position {position} cannot be projected: {reason}")]
    Unprojectable { position: u64, reason: String },
}

/// The read-model database (SQLite in the embedded mode) and where its projector has got to.
#[derive(Debug, Clone)]
pub struct ReadModel {
    pool: SqlitePool,
    projected: watch::Sender<u64>,
}

impl ReadModel {
    /// Opens (creating and migrating as needed) the read model at `path`, built from the log
    /// named `log` (such as `sqlite` or `nats:DOCKET`): a model built from another log is refused.
    pub async fn open(path: impl AsRef<Path>, log: &str) -> Result<Self, ProjectionError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // The read model is rebuilt from the log if lost; rows and checkpoint move together.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        sqlx::query("INSERT INTO log_source (id, log) VALUES (1, ?) ON CONFLICT (id) DO NOTHING")
            .bind(log)
            .execute(&pool)
            .await?;
        let built_from: String = sqlx::query_scalar("SELECT log FROM log_source WHERE id = 1")
            .fetch_one(&pool)
            .await?;
        if built_from != log {
            return Err(ProjectionError::OtherLog {
                built_from,
                opened_with: log.to_owned(),
            });
        }
        let read = Self {
            pool,
            projected: watch::channel(0).0,
        };
        let at = read.checkpoint(CASES).await?;
        read.projected.send_replace(at);
        Ok(read)
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The log position a projection has applied up to.
    pub async fn checkpoint(&self, projection: &str) -> Result<u64, ProjectionError> {
        let at: Option<i64> =
            sqlx::query_scalar("SELECT position FROM checkpoints WHERE projection = ?")
                .bind(projection)
                .fetch_optional(&self.pool)
                .await?;
        Ok(at.map_or(0, |p| p as u64))
    }

    /// The position the case projection has reached, as last published.
    pub fn projected(&self) -> u64 {
        *self.projected.borrow()
    }

    /// Waits until the read model has applied the log up to `position`, at most `timeout`.
    /// Returns whether it got there.
    pub async fn wait_until(&self, position: u64, timeout: Duration) -> bool {
        let mut rx = self.projected.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|p| *p >= position))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
