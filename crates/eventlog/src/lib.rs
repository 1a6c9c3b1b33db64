//! Docket's event log. One commit holds all the events one command produced for one case; commits of
//! a case form a hash chain; all commits have one global order that projectors follow.
//!
//! The log knows commits, not case rules: events travel as typed JSON.

mod commit;
#[cfg(any(test, feature = "contract"))]
pub mod contract;
mod jetstream;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

pub use commit::{
    Actor, ChainError, ChainHash, CommandInfo, Commit, CommitBody, EventRecord, HASH_SCHEME,
    canonical_json, verify_chain,
};
pub use jetstream::{JetStreamConfig, JetStreamLog};
pub use sqlite::SqliteLog;

/// A commit as the log holds it, with its place in the global order (from 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub position: u64,
    pub commit: Commit,
}

/// The log's answer to an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub position: u64,
    /// The log already held a commit with this id; `position` is that commit's.
    pub duplicate: bool,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What can go wrong talking to the log. A conflict is an answer, not a failure: the caller reloads
/// and decides again.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The case is not at the version the commit follows.
    #[error("case {case_id} is not at version {expected}: another commit came first")]
    Conflict { case_id: Uuid, expected: u64 },
    /// The commit is malformed: a broken chain link, a hash that does not hold.
    #[error("commit {commit_id} rejected: {reason}")]
    Rejected { commit_id: Uuid, reason: String },
    /// A stored commit cannot be read back.
    #[error("stored commit at position {position} is unreadable: {reason}")]
    Corrupt { position: u64, reason: String },
    /// The store is set up in a way Docket cannot run on (a stream with other settings).
    #[error("event log setup: {0}")]
    Setup(String),
    /// The store is down or failing; the operation may be retried.
    #[error("event log unavailable: {0}")]
    Unavailable(#[source] BoxError),
}

/// The event log every backend implements, and the contract suite checks.
#[async_trait]
pub trait EventLog: Send + Sync + std::fmt::Debug {
    /// Appends a commit at version `commit.body.version`, which must follow the case's current
    /// version (1 for a new case). A commit whose id the log already holds is not appended again:
    /// the answer points at the original. (SQLite knows every id; JetStream knows the ids in the
    /// commit's own case at any age, and other cases' ids within its duplicate window.)
    async fn append(&self, commit: &Commit) -> Result<Appended, LogError>;

    /// All commits of one case of one tenant, in version order; empty if there is none.
    async fn read_case(&self, tenant: &str, case_id: Uuid) -> Result<Vec<Recorded>, LogError>;

    /// The case's commits as a basis for deciding a command. A backend may answer from what it
    /// last saw without asking the store: a stale answer only costs a conflict on append, after
    /// which the caller reads again. By default the same as `read_case`.
    async fn read_case_for_update(
        &self,
        tenant: &str,
        case_id: Uuid,
    ) -> Result<Vec<Recorded>, LogError> {
        self.read_case(tenant, case_id).await
    }

    /// The commits of one case after `version`, in version order, as a basis for deciding a
    /// command: what `read_case_for_update` would answer beyond the first `version`, and as
    /// stale. By default `read_case_after`.
    async fn read_case_for_update_after(
        &self,
        tenant: &str,
        case_id: Uuid,
        version: u64,
    ) -> Result<Vec<Recorded>, LogError> {
        self.read_case_after(tenant, case_id, version).await
    }

    /// The commits of one case after `version`, in version order: what a reader who holds the
    /// first `version` lacks. By default `read_case` without them.
    async fn read_case_after(
        &self,
        tenant: &str,
        case_id: Uuid,
        version: u64,
    ) -> Result<Vec<Recorded>, LogError> {
        let mut commits = self.read_case(tenant, case_id).await?;
        commits.retain(|r| r.commit.body.version > version);
        Ok(commits)
    }

    /// Up to `limit` commits after global position `after`, in order.
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Recorded>, LogError>;

    /// Up to `limit` commits after `after`, waiting at most `wait` for the first of them: what a
    /// reader following the log's end asks. Empty when none came in time. Unlike `read_all`, an
    /// empty page does not say the log holds nothing past `after`: a commit may be on its way.
    /// By default `read_all`, and when that is empty, `wait_for` and `read_all` again.
    async fn read_next(
        &self,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<Recorded>, LogError> {
        let page = self.read_all(after, limit).await?;
        if !page.is_empty() {
            return Ok(page);
        }
        self.wait_for(after, wait).await?;
        self.read_all(after, limit).await
    }

    /// The commit at a global position, if there is one. With `Appended::duplicate` this finds
    /// the commit an earlier append with the same commit id recorded.
    async fn read_position(&self, position: u64) -> Result<Option<Recorded>, LogError>;

    /// The position of the last commit (0 when the log is empty).
    async fn head(&self) -> Result<u64, LogError>;

    /// Waits until the log holds a commit after `after`, or `timeout` passes. Returns the head
    /// position seen.
    async fn wait_for(&self, after: u64, timeout: Duration) -> Result<u64, LogError>;

    /// Another handle on the same log for a long walk beside this one's readers (the audit's):
    /// it shares the connection but not the place `read_all` reads from, so neither reader waits
    /// for the other or moves the other's tail. `None` where reads share nothing to begin with.
    fn own_reader(&self) -> Option<Arc<dyn EventLog>> {
        None
    }
}
