use std::sync::Arc;
use std::time::Duration;

use docket_eventlog::{EventLog, Recorded};
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;

use crate::store::{postgres, sqlite};
use crate::{Db, ProjectionError, ReadModel, rows};

/// The name of the case projection (list, detail, history, numbers, counters) in the checkpoints
/// table.
pub const CASES: &str = "cases";

/// Commits applied per transaction by default.
pub const DEFAULT_BATCH: usize = 500;
const IDLE_WAIT: Duration = Duration::from_secs(5);
/// How often a replica that does not hold the projection lease looks at the shared checkpoint,
/// and tries for the lease.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);
const LEASE_RETRY: Duration = Duration::from_secs(1);
/// How long a projector waits after another applied its batch first, before it reads the
/// checkpoint again: two projectors at odds never spin against each other.
const SUPERSEDED_PAUSE: Duration = Duration::from_millis(200);
/// The Postgres channel the projecting replica announces each batch's checkpoint on, so that the
/// others publish it at once rather than at their next look (a filing answered by another replica
/// waits for its number to be projected).
const CHECKPOINT_CHANNEL: &str = "docket_projected";
/// How often the leader makes sure it still holds the lease, idle or not: a lease lost (its
/// connection cut) is noticed within about this, and the batch in hand.
const LEASE_CHECK_EVERY: Duration = Duration::from_secs(1);
/// The Postgres advisory lock that makes one projector, among replicas, the one applying commits.
const LEASE_KEY: i64 = 0x646f_636b_6574_0001;

/// Keeps the case read model in step with the log.
#[derive(Debug, Clone)]
pub struct Projector {
    log: Arc<dyn EventLog>,
    read: ReadModel,
    batch: usize,
}

impl Projector {
    pub fn new(log: Arc<dyn EventLog>, read: ReadModel) -> Self {
        Self {
            log,
            read,
            batch: DEFAULT_BATCH,
        }
    }

    /// The read model this projector keeps.
    pub(crate) fn read(&self) -> &ReadModel {
        &self.read
    }

    /// Sets how many commits one transaction applies (at least 1): larger batches project
    /// faster, smaller ones publish progress sooner.
    pub fn with_batch(mut self, commits: usize) -> Self {
        self.batch = commits.max(1);
        self
    }

    /// Applies everything the log holds now; returns the position reached.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        let mut at = self.read.checkpoint(CASES).await?;
        self.read.publish(at);
        loop {
            let batch = self.log.read_all(at, self.batch).await?;
            if batch.is_empty() {
                return Ok(at);
            }
            at = self.apply_batch(at, batch).await?;
        }
    }

    /// Applies the log up to position `until` (or its end, if sooner); returns the position
    /// reached.
    pub async fn catch_up_to(&self, until: u64) -> Result<u64, ProjectionError> {
        self.catch_up_to_reporting(until, &|_| {}).await
    }

    /// As `catch_up_to`, telling `progress` the position after each batch.
    pub async fn catch_up_to_reporting(
        &self,
        until: u64,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, ProjectionError> {
        let mut at = self.read.checkpoint(CASES).await?;
        while at < until {
            let room = usize::try_from(until - at).unwrap_or(usize::MAX);
            let batch = self.log.read_all(at, self.batch.min(room)).await?;
            let batch: Vec<_> = batch.into_iter().filter(|r| r.position <= until).collect();
            if batch.is_empty() {
                break;
            }
            at = self.apply_batch(at, batch).await?;
            progress(at);
        }
        Ok(at)
    }

    /// As `catch_up`, telling `progress` the position after each batch.
    pub async fn catch_up_reporting(
        &self,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, ProjectionError> {
        let mut at = self.read.checkpoint(CASES).await?;
        progress(at);
        loop {
            let batch = self.log.read_all(at, self.batch).await?;
            if batch.is_empty() {
                return Ok(at);
            }
            at = self.apply_batch(at, batch).await?;
            progress(at);
        }
    }

    /// How far the read model is behind the log, in commits.
    pub async fn lag(&self) -> Result<u64, ProjectionError> {
        Ok(self.log.head().await?.saturating_sub(self.read.projected()))
    }

    #[tracing::instrument(skip_all, fields(from = batch[0].position, count = batch.len()), err)]
    async fn apply_batch(&self, from: u64, batch: Vec<Recorded>) -> Result<u64, ProjectionError> {
        let started = std::time::Instant::now();
        // On a SQLite read model, which has this one projector, the filings waiting for their
        // numbers are answered once the batch is planned, not after it is written: planned again
        // after a failed write, it gives the same numbers. On Postgres a replica configured
        // otherwise (another release, other time zones) may take the batch over, so the numbers
        // are announced once written.
        let early = matches!(self.read.db(), Db::Sqlite(_));
        let through = batch.last().map_or(from, |r| r.position);
        let commits = batch.len() as u64;
        let planned = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let numbered = {
            let read = self.read.clone();
            let planned = planned.clone();
            move |plan: &rows::BatchPlan| {
                let numbers = plan.numbered();
                if early {
                    read.announce_numbers(numbers.clone(), through);
                }
                *planned.lock().unwrap_or_else(|p| p.into_inner()) = numbers;
            }
        };
        let applied = match (self.read.db(), self.read.writer()) {
            (Db::Sqlite(_), Some(writer)) => {
                writer
                    .apply_batch(from, batch, self.read.shared_policies(), numbered)
                    .await
            }
            (Db::Sqlite(pool), None) => {
                sqlite::apply_batch(pool, from, &batch, self.read.policies(), &numbered).await
            }
            (Db::Postgres(pool), _) => {
                postgres::apply_batch(pool, from, &batch, self.read.policies(), &numbered).await
            }
        };
        let numbers = std::mem::take(&mut *planned.lock().unwrap_or_else(|p| p.into_inner()));
        let (last, quarantined) = match applied {
            Ok(applied) => applied,
            Err(e) => {
                // Not written: what the database holds is the record again.
                self.read.withdraw_numbers(&numbers);
                return Err(e);
            }
        };
        if !early {
            self.read.announce_numbers(numbers, last);
        }
        if let Db::Postgres(pool) = self.read.db() {
            // Followers are told at once; one that misses it looks within FOLLOW_EVERY.
            let told = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHECKPOINT_CHANNEL)
                .bind(last.to_string())
                .execute(pool)
                .await;
            if let Err(e) = told {
                tracing::debug!(error = %e, "the checkpoint was not announced");
            }
        }
        if quarantined > 0 {
            self.read.quarantine_moved();
        }
        self.read.publish(last);
        metrics::histogram!("docket_projection_batch_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("docket_projected_commits_total").increment(commits);
        Ok(last)
    }

    /// Follows the log until `shutdown` turns true, finishing the batch in hand. Failures are
    /// logged and retried with backoff: the projector never skips a commit. On Postgres, where
    /// several replicas share the read model, only the holder of the projection lease applies
    /// commits; the others follow the shared checkpoint and take the lease when its holder dies.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        match self.read.db().clone() {
            Db::Sqlite(_) => {
                metrics::gauge!("docket_projector_leading").set(1.0);
                self.lead_numbering_ahead(shutdown).await
            }
            Db::Postgres(pool) => {
                metrics::gauge!("docket_projector_leading").set(0.0);
                self.share(pool, shutdown).await
            }
        }
    }

    async fn share(self, pool: PgPool, mut shutdown: watch::Receiver<bool>) {
        // The connection the lease is tried on, kept between tries: one of its own, never the
        // pool's, so that no pooled connection can ever hold the lock.
        let mut candidate: Option<PgConnection> = None;
        let mut listener: Option<PgListener> = None;
        loop {
            // Stopped, or no one is left to say stop.
            if *shutdown.borrow() || shutdown.has_changed().is_err() {
                return;
            }
            match take_lease(&pool, &mut candidate).await {
                Ok(Some(mut lease)) => {
                    tracing::info!("projection lease taken: this replica applies the log");
                    metrics::gauge!("docket_projector_leading").set(1.0);
                    self.lead(shutdown.clone(), &mut lease).await;
                    lease.release().await;
                    metrics::gauge!("docket_projector_leading").set(0.0);
                    tracing::info!("projection lease given up");
                }
                Ok(None) => {
                    // Another replica projects: follow its checkpoint for readers here, as the
                    // leader announces it, and looked up at least every FOLLOW_EVERY.
                    if listener.is_none() {
                        listener = listen(&pool).await;
                    }
                    let until = tokio::time::Instant::now() + LEASE_RETRY;
                    let mut look = true;
                    while tokio::time::Instant::now() < until {
                        if look && let Ok(at) = self.read.checkpoint(CASES).await {
                            self.read.publish(at);
                        }
                        look = true;
                        tokio::select! {
                            notice = announced(&mut listener) => {
                                if let Some(at) = notice {
                                    self.read.publish(at);
                                    look = false;
                                }
                            }
                            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
                            _ = shutdown.changed() => return,
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reach the read model for the projection lease");
                    tokio::select! {
                        _ = tokio::time::sleep(LEASE_RETRY) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }
    }

    /// Applies the log while `lease` is held, looking about every second whether it still is.
    async fn lead(&self, mut shutdown: watch::Receiver<bool>, lease: &mut Lease) {
        let mut backoff = Duration::from_millis(100);
        loop {
            if *shutdown.borrow() {
                return;
            }
            if !lease.still_held().await {
                tracing::warn!("the projection lease was lost: its connection ended");
                return;
            }
            match self.follow_for(LEASE_CHECK_EVERY, &mut shutdown).await {
                Ok(Following::Stop) => return,
                Ok(Following::LookAgain) => backoff = Duration::from_millis(100),
                Err(ProjectionError::Superseded { at }) => {
                    tracing::warn!(at, "another projector applied this batch first");
                    pause(SUPERSEDED_PAUSE, &mut shutdown).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, retry_in = ?backoff, "projection stalled");
                    pause(backoff, &mut shutdown).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

/// Waits `time`, or until shutdown is asked for (or no one is left to ask it).
async fn pause(time: Duration, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(time) => {}
        _ = shutdown.changed() => {}
    }
}

/// Why `follow_for` handed back.
enum Following {
    /// Its time is up: the caller looks at its lease, and follows again.
    LookAgain,
    /// Shutdown was asked for, or no one is left to ask.
    Stop,
}

impl Projector {
    /// Applies the log as it comes, for `span`, from the model's checkpoint: each page
    /// `read_next` hands over is one batch. A follower waits on the log without asking for its
    /// head (on JetStream a stream info request, two each time `read_all` and `wait_for` caught
    /// up), and looks at its lease again when `span` is over.
    async fn follow_for(
        &self,
        span: Duration,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Following, ProjectionError> {
        let mut at = self.read.checkpoint(CASES).await?;
        self.read.publish(at);
        let until = tokio::time::Instant::now() + span;
        loop {
            // A shutdown asked for while a batch was applied stops before the next.
            if *shutdown.borrow() {
                return Ok(Following::Stop);
            }
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(Following::LookAgain);
            }
            let page = tokio::select! {
                page = self.log.read_next(at, self.batch, left) => page?,
                changed = shutdown.changed() => {
                    return Ok(if changed.is_err() || *shutdown.borrow() {
                        Following::Stop
                    } else {
                        Following::LookAgain
                    });
                }
            };
            if !page.is_empty() {
                at = self.apply_batch(at, page).await?;
            }
        }
    }

    /// As `lead`, for a SQLite read model, which has this one projector: the log is read, and
    /// its filings numbered, ahead of the writes, so that a filing's answer waits for its own
    /// commit to be read rather than for the batches written before it. While the writer
    /// writes, reading runs at most `AHEAD` reads ahead; the writer takes whatever has been
    /// read, and what more is read while the log keeps coming (`GATHER_GAP`, `GATHER_FOR`), up
    /// to a batch.
    /// On a failure, the numbers handed out for what was not written are withdrawn, and both
    /// start again from the checkpoint.
    async fn lead_numbering_ahead(&self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            if *shutdown.borrow() {
                return;
            }
            let ahead = std::sync::Mutex::new(std::collections::VecDeque::new());
            match self
                .project_ahead(&mut shutdown, &ahead, &mut backoff)
                .await
            {
                Ok(()) => return,
                Err(e) => {
                    // A batch given up on beside the failure is written or not before the
                    // numbers are withdrawn and the checkpoint read again.
                    if let Some(writer) = self.read.writer() {
                        writer.settle().await;
                    }
                    for (_, numbered) in ahead.into_inner().unwrap_or_else(|p| p.into_inner()) {
                        self.read.withdraw_numbers(&numbered);
                    }
                    match e {
                        ProjectionError::Superseded { at } => {
                            tracing::warn!(at, "another projector applied this batch first");
                            pause(SUPERSEDED_PAUSE, &mut shutdown).await;
                            continue;
                        }
                        ProjectionError::NumbersDiverged => {
                            tracing::warn!("numbering starts again from the model's counters");
                            continue;
                        }
                        _ => {}
                    }
                    tracing::error!(error = %e, retry_in = ?backoff, "projection stalled");
                    pause(backoff, &mut shutdown).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Reads and numbers ahead while writing, until `shutdown` (the batches read are written
    /// first) or a failure. `ahead` holds the numbers handed out for each read batch (by its
    /// last position) until the batch is written.
    async fn project_ahead(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        ahead: &std::sync::Mutex<std::collections::VecDeque<(u64, Vec<rows::Numbered>)>>,
        backoff: &mut Duration,
    ) -> Result<(), ProjectionError> {
        let diverged = self.read.numbers_diverged();
        let Db::Sqlite(pool) = self.read.db() else {
            unreachable!("numbering ahead is for a SQLite read model");
        };
        let (start, mut counters) = sqlite::numbering_start(pool).await?;
        self.read.publish(start);
        let (read, mut to_write) = tokio::sync::mpsc::channel::<Vec<Recorded>>(AHEAD);
        let reader = async move {
            let mut at = start;
            loop {
                if *shutdown.borrow() {
                    return Ok::<(), ProjectionError>(());
                }
                let batch = tokio::select! {
                    batch = self.log.read_next(at, self.batch, IDLE_WAIT) => batch?,
                    changed = shutdown.changed() => {
                        // No one left to say stop: stop.
                        if changed.is_err() {
                            return Ok(());
                        }
                        continue;
                    }
                };
                let Some(last) = batch.last().map(|r| r.position) else {
                    continue;
                };
                let numbered = rows::numbers_ahead(&batch, self.read.policies(), &mut counters);
                ahead
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_back((last, numbered.clone()));
                self.read.announce_numbers(numbered, last);
                at = last;
                if read.send(batch).await.is_err() {
                    return Ok(());
                }
            }
        };
        let writer = async move {
            let mut at = start;
            let mut next = None;
            loop {
                let mut batch = match next.take() {
                    Some(batch) => batch,
                    None => match to_write.recv().await {
                        Some(batch) => batch,
                        None => return Ok(()),
                    },
                };
                // While the log keeps coming, gather it into one larger batch: a batch rewrites
                // the same index pages whatever its size, so fewer, larger batches write far
                // less. Filings do not wait for this (their numbers were handed out as they were
                // read); a read of one's own write waits at most GATHER_FOR more.
                let gathering = tokio::time::Instant::now();
                while batch.len() < self.batch {
                    let until =
                        (tokio::time::Instant::now() + GATHER_GAP).min(gathering + GATHER_FOR);
                    match tokio::time::timeout_at(until, to_write.recv()).await {
                        Ok(Some(more)) if batch.len() + more.len() <= self.batch => {
                            batch.extend(more);
                        }
                        Ok(Some(more)) => {
                            next = Some(more);
                            break;
                        }
                        // Nothing more for GATHER_GAP, GATHER_FOR is over, or the reader has
                        // stopped: what is held is written.
                        Ok(None) | Err(_) => break,
                    }
                }
                at = self.apply_batch(at, batch).await?;
                *backoff = Duration::from_millis(100);
                if self.read.numbers_diverged() != diverged {
                    return Err(ProjectionError::NumbersDiverged);
                }
                ahead
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .retain(|(last, _)| *last > at);
            }
        };
        tokio::try_join!(reader, writer).map(|_| ())
    }
}

/// How many reads of the log the projector of a SQLite read model reads and numbers ahead of
/// the batch being written (each up to a batch). Under load a read is a few commits, and a
/// gathered batch takes 10 to 20 ms to write: filings read meanwhile get their numbers without
/// waiting for it.
const AHEAD: usize = 32;

/// How long the writer, holding read commits, waits for more of the log before writing them:
/// it writes once nothing more came for GATHER_GAP, and at most GATHER_FOR after it began to
/// wait.
const GATHER_GAP: Duration = Duration::from_millis(5);
const GATHER_FOR: Duration = Duration::from_millis(25);

/// A connection listening for the leader's checkpoints, or `None` when Postgres cannot be
/// reached (followers then look every FOLLOW_EVERY).
async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen(CHECKPOINT_CHANNEL).await.ok()?;
    Some(listener)
}

/// The next checkpoint the leader announces; never, without a listener. A listener that fails is
/// dropped (made again on the next round).
async fn announced(listener: &mut Option<PgListener>) -> Option<u64> {
    let Some(l) = listener else {
        return std::future::pending().await;
    };
    match l.try_recv().await {
        Ok(Some(notice)) => notice.payload().parse().ok(),
        Ok(None) | Err(_) => {
            *listener = None;
            None
        }
    }
}

/// The projection lease: a session advisory lock held on a connection of its own, opened with the
/// pool's options but never the pool's: it cannot go back to the pool still holding the lock.
/// Given up explicitly when this replica stops leading; closed (and so given up by Postgres) when
/// the lease is dropped, however the projector stops, and when the replica dies.
#[derive(Debug)]
struct Lease {
    conn: PgConnection,
}

/// Tries for the lease on `candidate` (opening it if need be): the lease, with the connection,
/// or `None` and the connection kept for the next try.
async fn take_lease(
    pool: &PgPool,
    candidate: &mut Option<PgConnection>,
) -> Result<Option<Lease>, sqlx::Error> {
    let mut conn = match candidate.take() {
        Some(conn) => conn,
        None => PgConnection::connect_with(&pool.connect_options()).await?,
    };
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LEASE_KEY)
        .fetch_one(&mut conn)
        .await?;
    if !taken {
        *candidate = Some(conn);
        return Ok(None);
    }
    Ok(Some(Lease { conn }))
}

impl Lease {
    /// Gives the lease up at once, and closes its connection.
    async fn release(mut self) {
        let released = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1)")
            .bind(LEASE_KEY)
            .fetch_one(&mut self.conn)
            .await;
        if let Err(e) = released {
            tracing::debug!(error = %e, "the lease's connection is gone, and the lease with it");
        }
        if let Err(e) = self.conn.close().await {
            tracing::debug!(error = %e, "closing the lease's connection");
        }
    }

    /// Whether the lock's connection is alive, hence the lock still ours.
    async fn still_held(&mut self) -> bool {
        let held: Result<bool, _> = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
                AND pid = pg_backend_pid() AND objid = ($1::bigint & 4294967295)::oid AND granted)",
        )
        .bind(LEASE_KEY)
        .fetch_one(&mut self.conn)
        .await;
        held.unwrap_or(false)
    }
}
