use docket_domain::{CaseEvent, CaseId, CaseState, TenantId};
use docket_eventlog::{ChainHash, EventLog, Recorded};

use crate::{CommandError, genesis_or};

/// A case loaded from the log: its commits and the state they fold to.
#[derive(Debug, Clone)]
pub struct LoadedCase {
    pub commits: Vec<Recorded>,
    /// `None` when the case has no commits (in this tenant).
    pub state: Option<CaseState>,
}

impl LoadedCase {
    /// The case's version: its number of commits.
    pub fn version(&self) -> u64 {
        self.commits.last().map_or(0, |r| r.commit.body.version)
    }

    pub(crate) fn last_hash(&self) -> ChainHash {
        genesis_or(self.commits.last())
    }

    /// The state right after the commit at `version`.
    pub fn state_at(&self, version: u64) -> Result<CaseState, CommandError> {
        let upto = self
            .commits
            .iter()
            .take_while(|r| r.commit.body.version <= version);
        fold(upto)?.ok_or_else(|| CommandError::Corrupt {
            case_id: self
                .commits
                .first()
                .map_or_else(uuid::Uuid::nil, |r| r.commit.body.case_id),
            reason: format!("no commit at version {version}"),
        })
    }
}

fn fold<'a>(
    commits: impl Iterator<Item = &'a Recorded>,
) -> Result<Option<CaseState>, CommandError> {
    let mut state = None;
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
    let state = fold(commits.iter())?;
    Ok(LoadedCase { commits, state })
}

/// Loads a case to decide a command on it: possibly from the log's cache, since a stale view is
/// caught by the append's version check.
pub(crate) async fn load_for_update(
    log: &dyn EventLog,
    tenant: &TenantId,
    case_id: CaseId,
) -> Result<LoadedCase, CommandError> {
    let commits = log
        .read_case_for_update(tenant.as_str(), case_id.as_uuid())
        .await?;
    let state = fold(commits.iter())?;
    Ok(LoadedCase { commits, state })
}

impl LoadedCase {
    /// A case not filed yet.
    pub(crate) fn new_case() -> Self {
        Self {
            commits: Vec::new(),
            state: None,
        }
    }
}
