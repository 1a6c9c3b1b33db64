//! The embedded log: one SQLite file in WAL mode, fsynced on every commit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use tokio::sync::watch;
use uuid::Uuid;

use crate::{Appended, ChainHash, Commit, EventLog, LogError, Recorded};

const READERS: usize = 4;

/// The embedded SQLite backend. Appends go through one writer connection; reads use a few
/// connections of their own, which WAL lets run beside the writer.
#[derive(Debug, Clone)]
pub struct SqliteLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    /// What the writer thread writes, and how far the log reaches.
    appends: Arc<Appends>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

/// Shared by the log's handles and its writer thread, which owns the writing connection: the
/// appends waiting for it (each time it looks, it writes all that are waiting as one batch:
/// group commit), and the head.
#[derive(Debug)]
struct Appends {
    waiting: Mutex<Waiting>,
    arrived: Condvar,
    head: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Waiting {
    pending: Vec<Pending>,
    /// Every handle of the log is gone: the writer writes what is waiting, and stops.
    closed: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.appends
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .closed = true;
        self.appends.arrived.notify_one();
    }
}

impl Appends {
    /// The writer thread: waits for appends, writes each gathering of them in one transaction
    /// (one fsync), moves the head, answers. While one batch is being fsynced, the appends that
    /// arrive meanwhile gather for the next. A batch that panics is answered with failures (its
    /// answers are dropped) and the thread goes on.
    fn write(&self, mut conn: Connection) {
        loop {
            let batch = {
                let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
                while waiting.pending.is_empty() && !waiting.closed {
                    waiting = self
                        .arrived
                        .wait(waiting)
                        .unwrap_or_else(|p| p.into_inner());
                }
                if waiting.pending.is_empty() {
                    return;
                }
                std::mem::take(&mut waiting.pending)
            };
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let results = append_batch(&mut conn, &batch);
                // The head moves before anyone is answered: whoever is told a position finds
                // the log there.
                let last = results
                    .iter()
                    .filter_map(|r| r.as_ref().ok().filter(|a| !a.duplicate).map(|a| a.position))
                    .max();
                if let Some(position) = last {
                    self.head.send_if_modified(|head| {
                        let moved = position > *head;
                        if moved {
                            *head = position;
                        }
                        moved
                    });
                }
                for (pending, result) in batch.into_iter().zip(results) {
                    let _ = pending.answer.send(result);
                }
            }));
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS commits (
    position  INTEGER PRIMARY KEY AUTOINCREMENT,
    commit_id TEXT    NOT NULL UNIQUE,
    tenant    TEXT    NOT NULL,
    case_id   TEXT    NOT NULL,
    case_kind TEXT    NOT NULL,
    version   INTEGER NOT NULL CHECK (version >= 1),
    hash      TEXT    NOT NULL,
    body      TEXT    NOT NULL,
    UNIQUE (case_id, version)
);
";

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> LogError {
    LogError::Unavailable(Box::new(e))
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk before the append is acknowledged, power cut included.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Statement journals (a group commit's appends share a transaction) in memory, not in
    // temporary files.
    conn.pragma_update(None, "temp_store", "memory")?;
    Ok(conn)
}

impl SqliteLog {
    /// Opens (creating if needed) the log at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LogError> {
        let path = path.as_ref().to_path_buf();
        let writer = open_connection(&path).map_err(unavailable)?;
        writer.execute_batch(SCHEMA).map_err(unavailable)?;
        let head: u64 = writer
            .query_row("SELECT COALESCE(MAX(position), 0) FROM commits", [], |r| {
                r.get(0)
            })
            .map_err(unavailable)?;
        let readers = (0..READERS)
            .map(|_| open_connection(&path).map(Mutex::new))
            .collect::<Result<_, _>>()
            .map_err(unavailable)?;
        let appends = Arc::new(Appends {
            waiting: Mutex::default(),
            arrived: Condvar::new(),
            head: watch::channel(head).0,
        });
        std::thread::Builder::new()
            .name("docket-log-writer".to_owned())
            .spawn({
                let appends = appends.clone();
                move || appends.write(writer)
            })
            .map_err(unavailable)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                appends,
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A consistent copy of the log as it stands, written to `dest` (which must not exist)
    /// through SQLite's online backup while appends go on beside it: the copy is one snapshot,
    /// taken in one step under a read transaction, which WAL lets the writer go on beside.
    /// Returns the copy's head.
    pub async fn back_up_to(&self, dest: impl AsRef<Path>) -> Result<u64, LogError> {
        let (source, dest) = (self.inner.path.clone(), dest.as_ref().to_path_buf());
        if dest.exists() {
            return Err(unavailable(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists already", dest.display()),
            )));
        }
        tokio::task::spawn_blocking(move || -> rusqlite::Result<u64> {
            use rusqlite::backup::{Backup, StepResult};
            let from = open_connection(&source)?;
            let mut to = Connection::open(&dest)?;
            {
                let backup = Backup::new(&from, &mut to)?;
                // -1: every page in one step, so the copy is of one moment.
                while backup.step(-1)? != StepResult::Done {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            to.query_row("SELECT COALESCE(MAX(position), 0) FROM commits", [], |r| {
                r.get(0)
            })
        })
        .await
        .map_err(unavailable)?
        .map_err(unavailable)
    }

    async fn read<T, F>(&self, f: F) -> Result<T, LogError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, LogError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let i = inner.next_reader.fetch_add(1, Ordering::Relaxed) % inner.readers.len();
            let conn = inner.readers[i].lock().unwrap_or_else(|p| p.into_inner());
            f(&conn)
        })
        .await
        .map_err(unavailable)?
    }
}

fn decode(position: u64, body: &str) -> Result<Recorded, LogError> {
    let commit = serde_json::from_str(body).map_err(|e| LogError::Corrupt {
        position,
        reason: e.to_string(),
    })?;
    Ok(Recorded { position, commit })
}

fn decode_rows(rows: Vec<(u64, String)>) -> Result<Vec<Recorded>, LogError> {
    rows.iter().map(|(p, body)| decode(*p, body)).collect()
}

/// An append waiting for the writer: its commit and where its answer goes.
#[derive(Debug)]
struct Pending {
    commit: Commit,
    answer: tokio::sync::oneshot::Sender<Result<Appended, LogError>>,
}

/// Group commit: appends every waiting commit in one transaction, one fsync for them all. Each is
/// checked against its case on its own, after the ones before it in the batch, so a conflict or a
/// refusal fails that one only: its one write is a single `INSERT`, which SQLite backs out alone
/// when it fails (a constraint aborts the statement, not the transaction). Returns each one's
/// result, which is final only once the transaction is on disk: if it cannot commit, every one
/// fails.
fn append_batch(conn: &mut Connection, batch: &[Pending]) -> Vec<Result<Appended, LogError>> {
    let fail_all = |e: &dyn std::fmt::Display| {
        batch
            .iter()
            .map(|_| Err(LogError::Unavailable(e.to_string().into())))
            .collect()
    };
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return fail_all(&e),
    };
    let mut results = Vec::with_capacity(batch.len());
    for p in batch {
        let result = append_in(&tx, &p.commit);
        // Some failures (a full disk, an I/O error) roll the whole transaction back: then
        // nothing of the batch stands, and what follows must not run outside it.
        if result.is_err() && tx.is_autocommit() {
            return fail_all(&"the batch's transaction was rolled back");
        }
        results.push(result);
    }
    match tx.commit() {
        Ok(()) => results,
        Err(e) => fail_all(&e),
    }
}

/// Checks one commit against its case's last (its version, its chain, its tenant) and inserts it,
/// inside the batch's transaction; what it refuses leaves nothing behind. Its statements are
/// prepared once and kept: the writer runs them for every commit.
fn append_in(tx: &Connection, commit: &Commit) -> Result<Appended, LogError> {
    let b = &commit.body;
    let rejected = |reason: &str| LogError::Rejected {
        commit_id: b.commit_id,
        reason: reason.to_owned(),
    };
    if !commit.hash_holds() {
        return Err(rejected("its hash does not match its content"));
    }
    let body = serde_json::to_string(commit).map_err(unavailable)?;
    let earlier: Option<u64> = tx
        .prepare_cached("SELECT position FROM commits WHERE commit_id = ?1")
        .and_then(|mut s| {
            s.query_row([b.commit_id.to_string()], |r| r.get(0))
                .optional()
        })
        .map_err(unavailable)?;
    if let Some(position) = earlier {
        return Ok(Appended {
            position,
            duplicate: true,
        });
    }
    let last: Option<(u64, String, String)> = tx
        .prepare_cached(
            "SELECT version, hash, tenant FROM commits WHERE case_id = ?1
             ORDER BY version DESC LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row([b.case_id.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(unavailable)?;
    let (current, last_hash) = match &last {
        Some((version, hash, tenant)) => {
            if *tenant != b.tenant {
                return Err(rejected("the case belongs to another tenant"));
            }
            (*version, ChainHash::from_hex(hash))
        }
        None => (0, Some(ChainHash::genesis())),
    };
    if b.version != current + 1 {
        return Err(LogError::Conflict {
            case_id: b.case_id,
            expected: b.version.saturating_sub(1),
        });
    }
    if last_hash.as_ref() != Some(&commit.prev_hash) {
        return Err(rejected("it does not link to the case's last commit"));
    }
    let inserted = tx
        .prepare_cached(
            "INSERT INTO commits (commit_id, tenant, case_id, case_kind, version, hash, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut s| {
            s.execute(params![
                b.commit_id.to_string(),
                b.tenant,
                b.case_id.to_string(),
                b.case_kind,
                b.version,
                commit.hash.as_str(),
                body
            ])
        });
    match inserted {
        Ok(_) => {}
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => {
            return Err(LogError::Conflict {
                case_id: b.case_id,
                expected: b.version.saturating_sub(1),
            });
        }
        Err(e) => return Err(unavailable(e)),
    }
    let position = u64::try_from(tx.last_insert_rowid()).map_err(unavailable)?;
    Ok(Appended {
        position,
        duplicate: false,
    })
}

#[async_trait]
impl EventLog for SqliteLog {
    #[tracing::instrument(skip_all, fields(case_id = %commit.body.case_id, version = commit.body.version), err(level = "debug"))]
    async fn append(&self, commit: &Commit) -> Result<Appended, LogError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let appends = &self.inner.appends;
        appends
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pending
            .push(Pending {
                commit: commit.clone(),
                answer,
            });
        appends.arrived.notify_one();
        answered
            .await
            .map_err(|_| LogError::Unavailable("the writer stopped before answering".into()))?
    }

    async fn read_case(&self, tenant: &str, case_id: Uuid) -> Result<Vec<Recorded>, LogError> {
        self.read_case_after(tenant, case_id, 0).await
    }

    async fn read_case_after(
        &self,
        tenant: &str,
        case_id: Uuid,
        version: u64,
    ) -> Result<Vec<Recorded>, LogError> {
        let tenant = tenant.to_owned();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT position, body FROM commits WHERE case_id = ?1 AND tenant = ?2
                     AND version > ?3 ORDER BY version",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![case_id.to_string(), tenant, version], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(unavailable)?;
            decode_rows(rows)
        })
        .await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Recorded>, LogError> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT position, body FROM commits WHERE position > ?1
                     ORDER BY position LIMIT ?2",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(unavailable)?;
            decode_rows(rows)
        })
        .await
    }

    async fn read_position(&self, position: u64) -> Result<Option<Recorded>, LogError> {
        self.read(move |conn| {
            let body: Option<String> = conn
                .query_row(
                    "SELECT body FROM commits WHERE position = ?1",
                    [position],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            body.map(|body| decode(position, &body)).transpose()
        })
        .await
    }

    async fn head(&self) -> Result<u64, LogError> {
        Ok(*self.inner.appends.head.borrow())
    }

    async fn wait_for(&self, after: u64, timeout: Duration) -> Result<u64, LogError> {
        let mut rx = self.inner.appends.head.subscribe();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|head| *head > after)).await;
        match waited {
            Ok(Ok(head)) => Ok(*head),
            // Timed out, or the log is being dropped: report where it stands.
            Ok(Err(_)) | Err(_) => Ok(*self.inner.appends.head.borrow()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::commit;

    fn pending(
        commit: Commit,
    ) -> (
        Pending,
        tokio::sync::oneshot::Receiver<Result<Appended, LogError>>,
    ) {
        let (answer, answered) = tokio::sync::oneshot::channel();
        (Pending { commit, answer }, answered)
    }

    /// One batch holding a commit, a racer for its version, the commit again, a broken link and
    /// a bad hash: each is answered as if it had been appended alone, in batch order.
    #[test]
    fn a_batch_judges_each_commit_after_the_ones_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_connection(&dir.path().join("log.sqlite")).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let case = Uuid::now_v7();
        let first = commit("t1", case, 1, ChainHash::genesis());
        let racer = commit("t1", case, 1, ChainHash::genesis());
        let broken = commit("t1", Uuid::now_v7(), 1, first.hash.clone());
        let mut tampered = commit("t1", Uuid::now_v7(), 1, ChainHash::genesis());
        tampered.body.case_kind = "other".to_owned();
        let next = commit("t1", case, 2, first.hash.clone());
        let batch: Vec<Pending> = [&first, &racer, &first, &broken, &tampered, &next]
            .into_iter()
            .map(|c| pending(c.clone()).0)
            .collect();
        let results = append_batch(&mut conn, &batch);
        assert!(matches!(
            results[0],
            Ok(Appended {
                position: 1,
                duplicate: false
            })
        ));
        assert!(
            matches!(results[1], Err(LogError::Conflict { .. })),
            "{:?}",
            results[1]
        );
        assert!(matches!(
            results[2],
            Ok(Appended {
                position: 1,
                duplicate: true
            })
        ));
        assert!(
            matches!(results[3], Err(LogError::Rejected { .. })),
            "{:?}",
            results[3]
        );
        assert!(
            matches!(results[4], Err(LogError::Rejected { .. })),
            "{:?}",
            results[4]
        );
        assert!(
            matches!(
                results[5],
                Ok(Appended {
                    position: 2,
                    duplicate: false
                })
            ),
            "{:?}",
            results[5]
        );
        let stored: i64 = conn
            .query_row("SELECT COUNT(*) FROM commits", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, 2, "the refused ones left nothing behind");
    }

    /// A commit whose insert itself fails (here a trigger refuses one case's rows) fails alone:
    /// the commits before and after it in the batch are written, and it leaves nothing.
    #[test]
    fn an_insert_that_fails_fails_its_commit_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open_connection(&dir.path().join("log.sqlite")).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let (before, refused, after) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        conn.execute_batch(&format!(
            "CREATE TRIGGER refuse BEFORE INSERT ON commits WHEN NEW.case_id = '{refused}'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;"
        ))
        .unwrap();
        let batch: Vec<Pending> = [before, refused, after]
            .into_iter()
            .map(|case| pending(commit("t1", case, 1, ChainHash::genesis())).0)
            .collect();
        let results = append_batch(&mut conn, &batch);
        assert!(
            matches!(results[0], Ok(Appended { position: 1, .. })),
            "{:?}",
            results[0]
        );
        assert!(results[1].is_err(), "{:?}", results[1]);
        assert!(
            matches!(results[2], Ok(Appended { position: 2, .. })),
            "{:?}",
            results[2]
        );
        let cases: Vec<String> = conn
            .prepare("SELECT case_id FROM commits ORDER BY position")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(cases, [before.to_string(), after.to_string()]);
    }
}
