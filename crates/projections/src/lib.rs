//! Read models built from the event log, and the projector that keeps them.
//!
//! The projector reads the log in global order from its checkpoint and applies commits in batches,
//! each inside one transaction that also advances the checkpoint: a crash loses nothing and applies
//! nothing twice.

mod audit;
mod directory;
mod projector;
mod queries;
mod rebuild;
mod rows;
mod stats;
mod store;
mod writer;
mod writes;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use tokio::sync::watch;

pub use audit::{AuditReport, Finding, Progress, Reporter, TenantTotals, audit};
pub use projector::{CASES, DEFAULT_BATCH, Projector};
pub use queries::{
    CaseFilter, CaseLink, CaseSummary, DailyCount, DirectoryEntry, HistoryEntry, NamesInUse, Page,
    PersonCase, RepairReport, RepeatOf, StreamedCommit,
};
pub use rebuild::{NEXT_SCHEMA, RebuildReport, Target, rebuild};
pub use rows::{METRICS, QuarantinedCommit};
pub use stats::{
    Dimension, DispatchRecord, GroupCounts, MEDIAN, NetworkCounts, NetworkGroup, P90, StatsQuery,
    UnitRow, by_unit, percentile,
};

use docket_domain::deadlines::{DeadlinePolicy, Policies};
use queries::on_db;

/// A tenant's policy, by the tenant's name as the log writes it (one that does not parse as a
/// tenant follows the default).
pub(crate) fn policy_of<'p>(policies: &'p Policies, tenant: &str) -> &'p DeadlinePolicy {
    match tenant.parse::<docket_domain::TenantId>() {
        Ok(tenant) => policies.for_tenant(&tenant),
        Err(_) => policies.default_policy(),
    }
}

/// Failures of the read side.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("read model database: {0}")]
    Database(#[from] sqlx::Error),
    /// A failure of the SQLite read model's writer (`writer`).
    #[error("read model database: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
    /// Another projector moved the checkpoint past `at` first: this batch was not applied.
    #[error("another projector has applied the log past position {at}")]
    Superseded { at: u64 },
    /// A batch's plan gave a filing another number than the one handed out as the log was
    /// read (the model's counters were changed by another process: a repair, a rebuild): the
    /// plan's stands, and numbering starts again from the model.
    #[error("numbers handed out ahead differ from the model's: numbering starts again")]
    NumbersDiverged,
    /// A file of the read model could not be handled.
    #[error("read model file: {0}")]
    Io(String),
    /// The read-model address is neither a path nor a postgres:// URL.
    #[error("read model {0:?}: use `sqlite` (in the data directory) or postgres://USER@HOST/DB")]
    BadAddress(String),
    /// A commit that cannot be applied: the projection stops there rather than skip it.
    #[error("commit at position {position} cannot be projected: {reason}")]
    Unprojectable { position: u64, reason: String },
    /// Another audit, of this process or another, is using the read model's scratch copy.
    #[error("an audit of this read model is running already; one runs at a time")]
    AuditRunning,
}

/// The database of a read model.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The read-model database (SQLite in the embedded mode, Postgres scaled out) and where its
/// projector has got to.
#[derive(Debug, Clone)]
pub struct ReadModel {
    db: Db,
    /// On SQLite, the connection the projector writes its batches on.
    writer: Option<writer::Writer>,
    projected: watch::Sender<u64>,
    /// The tenants' policies: their time zones make the local days events are counted on and
    /// the years cases are numbered in.
    policies: std::sync::Arc<Policies>,
    /// The numbers this process's projector handed out lately, and how far it has numbered.
    numbering: std::sync::Arc<Numbering>,
    /// How many times this process has changed the quarantine (a batch held a commit, a repair
    /// let one go): what a cached view of the quarantine is checked against.
    quarantine_moves: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// What a filing's answer waits for. On a SQLite read model the projector numbers a batch's cases
/// once it has planned the batch, before writing it: the plan is a function of the log up to the
/// batch and of the model's rows before it, and this projector is the model's only one, so a
/// write that fails and is planned again hands out the same numbers (the numbers of a batch not
/// written are withdrawn meanwhile). On Postgres, numbers are announced once written.
#[derive(Debug)]
struct Numbering {
    recent: std::sync::Mutex<RecentNumbers>,
    /// How many numbers a plan has changed from those handed out before it.
    diverged: std::sync::atomic::AtomicU64,
    /// The position up to which cases are numbered: never behind `projected`.
    through: watch::Sender<u64>,
}

/// How many case numbers the read model keeps in memory: those of the last few seconds' filings.
const RECENT_NUMBERS: usize = 8192;

/// The numbers of the cases the last batches moved, by tenant and case: a filing's answer finds
/// its number here, without asking the database. Only the filing's answer reads it; every other
/// read asks the database. What is not kept (another replica projects, or it has been pushed
/// out) is read from the database.
#[derive(Debug, Default)]
struct RecentNumbers {
    by_case: std::collections::HashMap<(String, String), String>,
    order: std::collections::VecDeque<(String, String)>,
}

impl RecentNumbers {
    fn withdraw(&mut self, numbered: &[rows::Numbered]) {
        for n in numbered {
            let key = (n.tenant.clone(), n.case_id.clone());
            self.by_case.remove(&key);
            self.order.retain(|k| *k != key);
        }
    }

    /// Keeps `numbered`; returns how many differed from a number kept before.
    fn remember(&mut self, numbered: Vec<rows::Numbered>) -> u64 {
        let mut differed = 0;
        for n in numbered {
            let key = (n.tenant, n.case_id);
            match self.by_case.insert(key.clone(), n.number.clone()) {
                None => self.order.push_back(key),
                // Numbered ahead from the log, then planned: the two must agree.
                Some(before) if before != n.number => {
                    tracing::error!(
                        tenant = %key.0, case_id = %key.1, answered = %before, planned = %n.number,
                        "a filing was answered with another number than its plan gives it"
                    );
                    differed += 1;
                }
                Some(_) => {}
            }
        }
        while self.order.len() > RECENT_NUMBERS {
            if let Some(oldest) = self.order.pop_front() {
                self.by_case.remove(&oldest);
            }
        }
        differed
    }
}

impl ReadModel {
    /// Opens (creating and migrating as needed) the SQLite read model at `path`, built from the
    /// log named `log` (such as `sqlite` or `nats:DOCKET`): a model built from another log is
    /// refused.
    pub async fn open(path: impl AsRef<Path>, log: &str) -> Result<Self, ProjectionError> {
        let path = path.as_ref();
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // The read model is rebuilt from the log if lost; rows and checkpoint move together.
            .synchronous(SqliteSynchronous::Normal)
            // A batch's statements run in one transaction, each with a statement journal (the
            // pages it changed, to undo it alone); past 64 KiB SQLite moves such a journal to a
            // temporary file, which under load was about a page written per commit projected.
            // In memory, so are sorts and temporary tables, whole: the largest, the percentiles
            // over every closure of a figure's range, hold tens of bytes a closure (a few MB for
            // a decade of a busy office).
            .pragma("temp_store", "memory")
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Self::start(Db::Sqlite(pool), Some(writer::Writer::new(path)), log).await
    }

    /// Connects to (and migrates) the Postgres read model at `url`, built from the log `log`.
    pub async fn connect(url: &str, log: &str) -> Result<Self, ProjectionError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ProjectionError::BadAddress(url.to_owned()));
        }
        // No JIT: the model's queries are short, and compiling them costs more than it saves
        // (tens of milliseconds on a year's statistics). Sorts of up to about a decade of
        // closures (the percentiles) in memory rather than in files: 4 MB, the default, spilled.
        let options =
            PgConnectOptions::from_str(url)?.options([("jit", "off"), ("work_mem", "32MB")]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Self::start(Db::Postgres(pool), None, log).await
    }

    pub(crate) async fn start(
        db: Db,
        writer: Option<writer::Writer>,
        log: &str,
    ) -> Result<Self, ProjectionError> {
        let read = Self {
            db,
            writer,
            projected: watch::channel(0).0,
            policies: std::sync::Arc::default(),
            quarantine_moves: std::sync::Arc::default(),
            numbering: std::sync::Arc::new(Numbering {
                recent: std::sync::Mutex::default(),
                diverged: std::sync::atomic::AtomicU64::new(0),
                through: watch::channel(0).0,
            }),
        };
        let built_from = on_db!(read, log_source(log))?;
        if built_from != log {
            return Err(ProjectionError::OtherLog {
                built_from,
                opened_with: log.to_owned(),
            });
        }
        let at = read.checkpoint(CASES).await?;
        read.publish(at);
        Ok(read)
    }

    /// Sets the tenants' policies (by default the domain's, China Standard Time for everyone):
    /// a tenant's time zone decides the local day each event is counted on and the year each
    /// case is numbered in, so every model built from one log must be given the same ones (a
    /// tenant whose zone changes has its model rebuilt).
    pub fn with_policies(mut self, policies: Policies) -> Self {
        self.policies = std::sync::Arc::new(policies);
        self
    }

    /// The tenants' policies this model counts days under.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// The tenant's policy, whose `local_day` is the one way a local day is worked out.
    pub fn policy(&self, tenant: &str) -> &DeadlinePolicy {
        policy_of(&self.policies, tenant)
    }

    /// `sqlite` or `postgres`.
    pub fn dialect(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// Has this model's projector write its batches through sqlx, as repairs write, rather than
    /// through the SQLite writer: for the tests that hold the two to the same rows.
    #[doc(hidden)]
    pub fn writing_through_sqlx(mut self) -> Self {
        self.writer = None;
        self
    }

    /// On SQLite, the connection the projector writes its batches on.
    pub(crate) fn writer(&self) -> Option<&writer::Writer> {
        self.writer.as_ref()
    }

    /// The tenants' policies, shared.
    pub(crate) fn shared_policies(&self) -> std::sync::Arc<Policies> {
        self.policies.clone()
    }

    /// Keeps the numbers a planned batch gives its cases, and announces every case up to
    /// `through` numbered.
    pub(crate) fn announce_numbers(&self, numbered: Vec<rows::Numbered>, through: u64) {
        let differed = self
            .numbering
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remember(numbered);
        if differed > 0 {
            self.numbering
                .diverged
                .fetch_add(differed, std::sync::atomic::Ordering::AcqRel);
        }
        advance(&self.numbering.through, through);
    }

    /// How many numbers plans have changed from those handed out before them, in this process.
    pub(crate) fn numbers_diverged(&self) -> u64 {
        self.numbering
            .diverged
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Forgets the numbers of a planned batch that was not written.
    pub(crate) fn withdraw_numbers(&self, numbered: &[rows::Numbered]) {
        self.numbering
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .withdraw(numbered);
    }

    /// A number kept from a recent batch.
    pub(crate) fn recent_number(&self, tenant: &str, case_id: uuid::Uuid) -> Option<String> {
        self.numbering
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_case
            .get(&(tenant.to_owned(), case_id.to_string()))
            .cloned()
    }

    /// The number of a case filed at `position`, for the filing's answer: once the projector
    /// here has numbered that far, from memory; otherwise once the model holds the filing, from
    /// the database. `None` if neither happens within `timeout`, or the filing drew no number.
    pub async fn filed_case_number(
        &self,
        tenant: &str,
        case_id: uuid::Uuid,
        position: u64,
        timeout: Duration,
    ) -> Result<Option<String>, ProjectionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut numbered = self.numbering.through.subscribe();
        let _ = tokio::time::timeout(timeout, numbered.wait_for(|p| *p >= position)).await;
        if let Some(number) = self.recent_number(tenant, case_id) {
            return Ok(Some(number));
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.wait_until(position, left).await;
        on_db!(self, case_number(tenant, case_id))
    }

    /// Changes whenever this process changes the quarantine: a view of it read at one value
    /// holds, as far as this process knows, until the value moves.
    pub fn quarantine_generation(&self) -> u64 {
        self.quarantine_moves
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn quarantine_moved(&self) {
        self.quarantine_moves
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The log position a projection has applied up to.
    pub async fn checkpoint(&self, projection: &str) -> Result<u64, ProjectionError> {
        on_db!(self, checkpoint(projection))
    }

    /// The position the case projection has reached, as last published.
    pub fn projected(&self) -> u64 {
        *self.projected.borrow()
    }

    /// Publishes a position the model has reached (never moving backwards).
    pub(crate) fn publish(&self, position: u64) {
        advance(&self.numbering.through, position);
        advance(&self.projected, position);
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
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        match &self.db {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// Moves a published position forward to `position`, never back.
fn advance(published: &watch::Sender<u64>, position: u64) {
    published.send_if_modified(|at| {
        let moved = position > *at;
        if moved {
            *at = position;
        }
        moved
    });
}

#[cfg(test)]
mod tests {
    use super::{RECENT_NUMBERS, RecentNumbers, rows::Numbered};

    fn numbered(tenant: &str, case: usize) -> Numbered {
        Numbered {
            tenant: tenant.to_owned(),
            case_id: format!("case-{case}"),
            number: format!("HZ-2025-{case:06}"),
        }
    }

    #[test]
    fn recent_numbers_are_kept_per_tenant_and_the_oldest_go_first() {
        let mut recent = RecentNumbers::default();
        recent.remember(vec![numbered("qinghe", 1), numbered("other", 2)]);
        let get = |r: &RecentNumbers, tenant: &str, case: usize| {
            r.by_case
                .get(&(tenant.to_owned(), format!("case-{case}")))
                .cloned()
        };
        assert_eq!(get(&recent, "qinghe", 1).as_deref(), Some("HZ-2025-000001"));
        assert_eq!(get(&recent, "other", 1), None);
        // A case moved again keeps one place in the queue.
        recent.remember(vec![numbered("qinghe", 1)]);
        assert_eq!(recent.order.len(), 2);
        recent.remember(
            (3..RECENT_NUMBERS + 2)
                .map(|c| numbered("qinghe", c))
                .collect(),
        );
        assert_eq!(recent.order.len(), RECENT_NUMBERS);
        assert_eq!(recent.by_case.len(), RECENT_NUMBERS);
        // One over the bound: the oldest (the first case, moved again but not re-queued) goes.
        assert_eq!(get(&recent, "qinghe", 1), None);
        assert!(get(&recent, "other", 2).is_some());
        assert!(get(&recent, "qinghe", RECENT_NUMBERS + 1).is_some());
        // A batch planned but not written takes its numbers back.
        recent.withdraw(&[numbered("other", 2)]);
        assert_eq!(get(&recent, "other", 2), None);
        assert_eq!(recent.order.len(), RECENT_NUMBERS - 1);
    }
}
