use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use docket_domain::{CaseEvent, CaseId, CaseState, TenantId};
use docket_eventlog::{ChainHash, EventLog, Recorded};
use uuid::Uuid;

use crate::{CommandError, genesis_or};

/// A case loaded from the log: its commits and the state they fold to.
#[derive(Debug, Clone)]
pub struct LoadedCase {
    /// Shared with the cache of cases loaded for deciding: a case grown by a commit shares the
    /// commits before it.
    pub commits: Vec<Arc<Recorded>>,
    /// `None` when the case has no commits (in this tenant).
    pub state: Option<CaseState>,
}

impl LoadedCase {
    /// The case's version: its number of commits.
    pub fn version(&self) -> u64 {
        self.commits.last().map_or(0, |r| r.commit.body.version)
    }

    pub(crate) fn last_hash(&self) -> ChainHash {
        genesis_or(self.commits.last().map(|r| &**r))
    }

    /// The state right after the commit at `version`.
    pub fn state_at(&self, version: u64) -> Result<CaseState, CommandError> {
        let upto = self
            .commits
            .iter()
            .map(|r| &**r)
            .take_while(|r| r.commit.body.version <= version);
        fold(None, upto)?.ok_or_else(|| CommandError::Corrupt {
            case_id: self
                .commits
                .first()
                .map_or_else(uuid::Uuid::nil, |r| r.commit.body.case_id),
            reason: format!("no commit at version {version}"),
        })
    }
}

/// `state` with the events of `commits` folded on, in order.
fn fold<'a>(
    mut state: Option<CaseState>,
    commits: impl Iterator<Item = &'a Recorded>,
) -> Result<Option<CaseState>, CommandError> {
    for recorded in commits {
        let body = &recorded.commit.body;
        let corrupt = |reason: String| CommandError::Corrupt {
            case_id: body.case_id,
            reason,
        };
        for record in &body.events {
            let event =
                CaseEvent::from_record(&record.event_type, record.schema_version, &record.data)
                    .map_err(|e| corrupt(e.to_string()))?;
            state = Some(CaseState::evolve(state, &event).map_err(|e| corrupt(e.to_string()))?);
        }
    }
    Ok(state)
}

/// Reads a case of `tenant` from the log and folds its events: the case as it stands.
pub async fn load_case(
    log: &dyn EventLog,
    tenant: &TenantId,
    case_id: CaseId,
) -> Result<LoadedCase, CommandError> {
    let commits = log.read_case(tenant.as_str(), case_id.as_uuid()).await?;
    LoadedCase::of(commits)
}

impl LoadedCase {
    /// A case not filed yet.
    pub(crate) fn new_case() -> Self {
        Self {
            commits: Vec::new(),
            state: None,
        }
    }

    /// The case `commits` (all of them, in version order) make.
    pub(crate) fn of(commits: Vec<Recorded>) -> Result<Self, CommandError> {
        let state = fold(None, commits.iter())?;
        Ok(Self {
            commits: commits.into_iter().map(Arc::new).collect(),
            state,
        })
    }

    /// This case with `newer` (the commits that follow its last, in version order) folded on.
    fn followed_by(&self, newer: Vec<Recorded>) -> Result<Self, CommandError> {
        let state = fold(self.state.clone(), newer.iter())?;
        let mut commits = self.commits.clone();
        commits.extend(newer.into_iter().map(Arc::new));
        Ok(Self { commits, state })
    }

    /// This case once `appended` is recorded, which the caller has folded into `state`.
    pub(crate) fn with_appended(&self, appended: Recorded, state: CaseState) -> Self {
        let mut commits = self.commits.clone();
        commits.push(Arc::new(appended));
        Self {
            commits,
            state: Some(state),
        }
    }

    fn tenant(&self) -> Option<&str> {
        self.commits.first().map(|r| r.commit.body.tenant.as_str())
    }
}

/// How many cases the cache of cases loaded for deciding keeps (a few thousand in use at once;
/// a case's commits are a few kilobytes each).
const CACHED_CASES: NonZeroUsize = NonZeroUsize::new(4096).expect("not zero");

/// The cases last loaded for deciding a command or grown by one, folded: the next command on a
/// case asks the log only for the commits since, and folds only those. The case used least
/// recently goes first, so a stream of new filings does not push out the cases being worked on.
#[derive(Debug)]
pub(crate) struct CaseCache {
    cases: Mutex<lru::LruCache<Uuid, Arc<LoadedCase>>>,
}

impl Default for CaseCache {
    fn default() -> Self {
        Self::with_capacity(CACHED_CASES)
    }
}

impl CaseCache {
    pub(crate) fn with_capacity(cases: NonZeroUsize) -> Self {
        Self {
            cases: Mutex::new(lru::LruCache::new(cases)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, lru::LruCache<Uuid, Arc<LoadedCase>>> {
        self.cases.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The case as last seen, if it is `tenant`'s.
    pub(crate) fn get(&self, tenant: &TenantId, case_id: CaseId) -> Option<Arc<LoadedCase>> {
        self.lock()
            .get(&case_id.as_uuid())
            .filter(|c| c.tenant() == Some(tenant.as_str()))
            .cloned()
    }

    /// Keeps `case` unless a later version of it is kept already.
    pub(crate) fn keep(&self, case_id: CaseId, case: Arc<LoadedCase>) {
        if case.state.is_none() {
            return;
        }
        let mut cases = self.lock();
        let newer_kept = cases
            .peek(&case_id.as_uuid())
            .is_some_and(|kept| kept.version() > case.version());
        if !newer_kept {
            cases.put(case_id.as_uuid(), case);
        }
    }

    /// Loads a case to decide a command on it: the cached case with what the log has after it
    /// folded on (on JetStream possibly the log's own cached view, which may be stale: a stale
    /// case is caught by the append's version check).
    pub(crate) async fn load_for_update(
        &self,
        log: &dyn EventLog,
        tenant: &TenantId,
        case_id: CaseId,
    ) -> Result<Arc<LoadedCase>, CommandError> {
        let held = self.get(tenant, case_id);
        let after = held.as_ref().map_or(0, |c| c.version());
        let newer = log
            .read_case_for_update_after(tenant.as_str(), case_id.as_uuid(), after)
            .await?;
        let loaded = match held {
            Some(held) if newer.is_empty() => return Ok(held),
            Some(held) if newer[0].commit.body.version == after + 1 => held.followed_by(newer)?,
            // What the log answered does not follow what is held: read the case whole.
            Some(_) => load_case(log, tenant, case_id).await?,
            None => LoadedCase::of(newer)?,
        };
        let loaded = Arc::new(loaded);
        self.keep(case_id, loaded.clone());
        Ok(loaded)
    }
}
