//! Rebuilding a read model from the whole log into fresh tables while the current ones keep
//! serving, then swapping them in within one transaction: readers see the old model or the new
//! one, never a part of either.
//!
//! SQLite builds into `read.next.sqlite` beside the model and copies it in; Postgres builds into
//! the schema `docket_next` and moves its tables in. An interrupted rebuild resumes from the
//! fresh model's own checkpoint when run again.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use docket_domain::deadlines::Policies;
use docket_eventlog::EventLog;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::store::TABLES;
use crate::{CASES, Db, ProjectionError, Projector, ReadModel};

/// The Postgres schema a rebuild builds into.
pub const NEXT_SCHEMA: &str = "docket_next";

/// Where a read model lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// The fresh model's position when this run started (non-zero when resuming).
    pub resumed_from: u64,
    /// The position swapped in.
    pub position: u64,
}

/// Held while a scratch model is in use (`Target::lock_scratch`); dropping it lets go.
#[derive(Debug)]
#[expect(dead_code, reason = "held, never read: dropping it lets go")]
pub(crate) enum ScratchLock {
    File(std::fs::File),
    Postgres(sqlx::PgConnection),
}

impl Target {
    /// Opens the model serving here.
    pub async fn open(&self, log: &str) -> Result<ReadModel, ProjectionError> {
        match self {
            Target::Sqlite(path) => ReadModel::open(path, log).await,
            Target::Postgres(url) => ReadModel::connect(url, log).await,
        }
    }

    fn next_path(path: &Path) -> PathBuf {
        Self::scratch_path(path, "next")
    }

    fn scratch_path(path: &Path, name: &str) -> PathBuf {
        path.with_file_name(format!(
            "{}.{name}.sqlite",
            path.file_stem().and_then(|s| s.to_str()).unwrap_or("read")
        ))
    }

    fn scratch_schema(name: &str) -> String {
        format!("docket_{name}")
    }

    /// Takes the lock that keeps scratch model `name` to one user at a time, across processes:
    /// a lock on a file beside the SQLite model, or a Postgres advisory lock on a connection of
    /// its own (released when that connection closes). `None` if another holds it.
    pub(crate) async fn lock_scratch(
        &self,
        name: &str,
    ) -> Result<Option<ScratchLock>, ProjectionError> {
        match self {
            Target::Sqlite(path) => {
                let at = Self::scratch_path(path, name).with_extension("lock");
                let file = std::fs::File::options()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&at)
                    .map_err(|e| ProjectionError::Io(format!("{}: {e}", at.display())))?;
                match file.try_lock() {
                    Ok(()) => Ok(Some(ScratchLock::File(file))),
                    Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                    Err(std::fs::TryLockError::Error(e)) => {
                        Err(ProjectionError::Io(format!("{}: {e}", at.display())))
                    }
                }
            }
            Target::Postgres(url) => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(url).await?;
                let key = format!("docket scratch {}", Self::scratch_schema(name));
                let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
                    .bind(key)
                    .fetch_one(&mut conn)
                    .await?;
                Ok(taken.then_some(ScratchLock::Postgres(conn)))
            }
        }
    }

    /// Opens the fresh model a rebuild fills; one from another log is dropped and begun again.
    async fn open_next(&self, log: &str) -> Result<ReadModel, ProjectionError> {
        self.open_scratch("next", log).await
    }

    /// Opens a second model beside this one (`read.NAME.sqlite`, or schema `docket_NAME`);
    /// one from another log is dropped and begun again.
    pub(crate) async fn open_scratch(
        &self,
        name: &str,
        log: &str,
    ) -> Result<ReadModel, ProjectionError> {
        for attempt in 0..2 {
            let opened = match self {
                Target::Sqlite(path) => ReadModel::open(Self::scratch_path(path, name), log).await,
                Target::Postgres(url) => {
                    connect_in_schema(url, &Self::scratch_schema(name), log).await
                }
            };
            match opened {
                Err(ProjectionError::OtherLog { .. }) if attempt == 0 => {
                    self.drop_scratch(name).await?
                }
                other => return other,
            }
        }
        unreachable!("the second attempt returns")
    }

    /// Removes the fresh model.
    async fn drop_next(&self) -> Result<(), ProjectionError> {
        self.drop_scratch("next").await
    }

    /// Removes a second model beside this one.
    pub(crate) async fn drop_scratch(&self, name: &str) -> Result<(), ProjectionError> {
        match self {
            Target::Sqlite(path) => {
                let next = Self::scratch_path(path, name);
                for suffix in ["", "-wal", "-shm"] {
                    let file = PathBuf::from(format!("{}{suffix}", next.display()));
                    match std::fs::remove_file(&file) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(ProjectionError::Io(e.to_string())),
                    }
                }
                Ok(())
            }
            Target::Postgres(url) => {
                let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {} CASCADE",
                    Self::scratch_schema(name)
                )))
                .execute(&pool)
                .await?;
                pool.close().await;
                Ok(())
            }
        }
    }
}

/// A Postgres read model in a schema of its own.
async fn connect_in_schema(
    url: &str,
    schema: &str,
    log: &str,
) -> Result<ReadModel, ProjectionError> {
    let admin = PgPoolOptions::new().max_connections(1).connect(url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&admin)
    .await?;
    admin.close().await;
    // Its own schema first; `public` after it for extensions such as pg_trgm's operators.
    let search_path = format!("{schema}, public");
    let options = PgConnectOptions::from_str(url)?.options([("search_path", search_path.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    ReadModel::start(Db::Postgres(pool), None, log).await
}

/// Rebuilds the case projection at `target` from `log` under the tenants' `policies` (their time
/// zones), reporting (position, head) as it goes.
pub async fn rebuild(
    log: Arc<dyn EventLog>,
    target: &Target,
    log_name: &str,
    policies: &Policies,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<RebuildReport, ProjectionError> {
    let live = target.open(log_name).await?;
    let next = target
        .open_next(log_name)
        .await?
        .with_policies(policies.clone());
    let resumed_from = next.checkpoint(CASES).await?;
    let projector = Projector::new(log.clone(), next.clone());
    let head = log.head().await?;
    projector
        .catch_up_reporting(&|at| progress(at, head.max(at)))
        .await?;
    // The planner's statistics of the fresh tables travel with them (Postgres moves the tables).
    next.analyze().await?;
    let position = match (live.db(), next.db()) {
        (Db::Sqlite(live_pool), Db::Sqlite(_)) => {
            let Target::Sqlite(path) = target else {
                unreachable!("a SQLite model has a path")
            };
            let next_path = Target::next_path(path);
            let mut conn = live_pool.acquire().await?;
            sqlx::query("ATTACH DATABASE $1 AS next")
                .bind(next_path.to_string_lossy().into_owned())
                .execute(&mut *conn)
                .await?;
            let swapped = async {
                // Writers of the live model wait from this write on; readers go on reading it.
                // (Not BEGIN IMMEDIATE: that would lock the attached fresh model too, which the
                // catch-up below still writes; its snapshot is taken by the first copy.)
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                sqlx::query("UPDATE main.checkpoints SET position = position")
                    .execute(&mut *tx)
                    .await?;
                let position = projector.catch_up().await?;
                for table in TABLES.iter().map(|t| t.0).chain(["log_source"]) {
                    sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM main.{table}")))
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO main.{table} SELECT * FROM next.{table}"
                    )))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok::<u64, ProjectionError>(position)
            }
            .await;
            sqlx::query("DETACH DATABASE next")
                .execute(&mut *conn)
                .await?;
            drop(conn);
            let position = swapped?;
            // SQLite keeps statistics per file: gather them for the copied rows.
            live.analyze().await?;
            next.close().await;
            target.drop_next().await?;
            position
        }
        (Db::Postgres(live_pool), Db::Postgres(_)) => {
            let mut tx = live_pool.begin().await?;
            // The live projector waits from here; readers go on reading the live tables until
            // the commit, then read the new ones.
            sqlx::query("LOCK TABLE checkpoints IN ACCESS EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
            let position = projector.catch_up().await?;
            next.close().await;
            let schema: String = sqlx::query_scalar("SELECT current_schema()")
                .fetch_one(&mut *tx)
                .await?;
            for table in TABLES.iter().map(|t| t.0).chain(["log_source"]) {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "ALTER TABLE {NEXT_SCHEMA}.{table} SET SCHEMA \"{schema}\""
                )))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            target.drop_next().await?;
            position
        }
        _ => unreachable!("the fresh model is where the live one is"),
    };
    live.close().await;
    Ok(RebuildReport {
        resumed_from,
        position,
    })
}
