//! The command service: load a case from the log, let the domain decide, append the decision as one
//! commit at the loaded version, and on a conflict load and decide again, a bounded number of times.
//!
//! Authorization by role is the domain's table ("who"), applied inside `decide`; reach (which of
//! the tenant's cases the caller may see and act on) is checked here, before deciding, so every
//! interface gets it; tenant isolation is the log's (a case is read within the caller's tenant
//! only). A case outside reach is not found.

mod directory;
mod disclosure;
mod load;

use std::fmt;
use std::sync::Arc;

use docket_domain::deadlines::Policies;
use docket_domain::person::Personal;
use docket_domain::{
    CaseCommand, CaseId, CaseKind, CaseReference, CaseState, Context, GridId, Reach, Refusal, Role,
    TenantId, UnitId,
};
use docket_eventlog::{
    Actor as LogActor, Appended, ChainHash, CommandInfo, CommitBody, EventLog, EventRecord,
    LogError, Recorded, canonical_json,
};
pub use docket_privacy::Vault;
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use directory::{
    DIRECTORY_KIND, DirectoryOutcome, KeptDirectory, SEED_ACTOR, directory_stream,
};
pub use disclosure::{Read, names_earlier_cases, shows_repeats};
use load::CaseCache;
pub use load::{LoadedCase, load_case};

/// How far a chain of duplicates is followed to see that it does not lead back.
const MAX_DUPLICATE_CHAIN: usize = 16;

/// How many times the deadline watch and the directory decide again after losing a race for
/// the same version.
pub const MAX_ATTEMPTS: usize = 8;

/// How long a command without an expected version goes on deciding again after losing races for
/// the case's next version: each attempt needs only the latest version, so it wins once the
/// others have.
pub const CONTENTION_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// The races a command has lost, and since when.
struct Contention {
    since: std::time::Instant,
    lost: u32,
}

impl Contention {
    fn new() -> Self {
        Contention {
            since: std::time::Instant::now(),
            lost: 0,
        }
    }

    /// After a lost race: waits a random while, longer the more were lost (up to 50 ms), so
    /// that the losers do not meet again at once; false once the deadline has passed.
    async fn wait_to_decide_again(&mut self) -> bool {
        if self.since.elapsed() >= CONTENTION_DEADLINE {
            return false;
        }
        self.lost += 1;
        let ceiling = (1u64 << self.lost.min(6)).min(50);
        tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(0..=ceiling))).await;
        true
    }
}

/// A refusal's reason, as `docket_commands_total` labels it.
fn refusal_reason(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::NotAllowedInState { .. } => "not-allowed-in-state",
        Refusal::RoleNotPermitted { .. } => "role-not-permitted",
        Refusal::UnitNotPermitted { .. } => "unit-not-permitted",
        Refusal::InvalidField { .. } => "invalid-field",
    }
}

/// Why a command failed otherwise, as `docket_commands_total` labels it.
fn failure_reason(e: &CommandError) -> &'static str {
    match e {
        CommandError::Refused(refusal) => refusal_reason(refusal),
        CommandError::NotFound => "not-found",
        CommandError::OutsideReach(_) => "outside-reach",
        CommandError::VersionMismatch { .. } => "version-mismatch",
        CommandError::KeyReused => "key-reused",
        CommandError::Contention => "contention",
        CommandError::Log(_) => "log",
        CommandError::Privacy(_) => "privacy",
        CommandError::KeyStoreUnavailable(_) => "key-store-unavailable",
        CommandError::Corrupt { .. } => "corrupt",
        CommandError::Quarantined { .. } => "quarantined",
        CommandError::DirectoryQuarantined { .. } => "directory-quarantined",
    }
}

/// Where time comes from, so deadlines can be tested.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Who is acting, as their token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub tenant: TenantId,
    pub role: Role,
    pub unit: Option<UnitId>,
    /// The grids a grid worker works in (from the token).
    pub grids: Vec<GridId>,
}

impl Actor {
    /// The cases of the tenant this actor may see and act on.
    pub fn reach(&self) -> Reach {
        Reach::of(self.role, self.unit.as_ref(), &self.grids)
    }
}

/// One command, addressed to a case (or filing a new one), with the client's safeguards.
#[derive(Debug, Clone)]
pub struct CommandRequest {
    /// `None` files a new case.
    pub case_id: Option<CaseId>,
    pub command: CaseCommand,
    /// The client's idempotency key: a retry with the same key returns the first outcome.
    pub idempotency_key: Option<String>,
    /// The version the client saw (HTTP `If-Match`): honoured, never retried past.
    pub expected_version: Option<u64>,
}

/// What a command did: the commit it recorded, and the case right after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub case_id: CaseId,
    pub kind: CaseKind,
    pub commit_id: Uuid,
    pub version: u64,
    /// The commit's global log position: read models that reached it show this outcome.
    pub position: u64,
    pub recorded_at: Timestamp,
    pub events: Vec<EventRecord>,
    pub state: CaseState,
    /// True when this is the outcome of an earlier request with the same idempotency key.
    pub replayed: bool,
}

/// Why a command did not produce a commit.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The case refuses the command.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// No such case within the caller's reach (in another tenant, or not theirs to see).
    #[error("case not found")]
    NotFound,
    /// A filing would create a case outside the caller's own reach.
    #[error("{0}")]
    OutsideReach(String),
    /// The client's expected version is not the case's.
    #[error("the case is at version {actual}, not {expected}")]
    VersionMismatch { expected: u64, actual: u64 },
    /// The idempotency key was first used for a different request.
    #[error("this idempotency key was already used for a different request")]
    KeyReused,
    /// Lost the race for the case's next version too many times in a row.
    #[error("the case is changing too fast; try again")]
    Contention,
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Personal data could not be sealed (the key store failed).
    #[error("personal data cannot be protected: {0}")]
    Privacy(String),
    /// The key store cannot be reached now (down, restarting, failing over): asking again later
    /// may succeed.
    #[error("the key store is unavailable: {0}")]
    KeyStoreUnavailable(String),
    /// The case's recorded history cannot be read or replayed.
    #[error("the history of case {case_id} cannot be replayed: {reason}")]
    Corrupt { case_id: Uuid, reason: String },
    /// A commit of the case could not be projected and is held aside: the case takes no
    /// command until `docket repair` has applied it.
    #[error(
        "case {case_id} is quarantined: a commit of it cannot be projected by this release; it \
         takes no commands until an operator runs `docket repair`"
    )]
    Quarantined { case_id: Uuid, position: u64 },
    /// A commit of the tenant's directory could not be projected: the directory takes no change
    /// until it is repaired (the lists would not show it).
    #[error(
        "the directory is quarantined: a commit of it cannot be projected by this release; it \
         takes no change until an operator runs `docket repair`"
    )]
    DirectoryQuarantined { position: u64 },
}

impl CommandError {
    /// What a failure of the key store means for a command: unavailable (try again) or a fault.
    fn sealing(e: docket_privacy::PrivacyError) -> Self {
        if e.is_unavailable() {
            CommandError::KeyStoreUnavailable(e.to_string())
        } else {
            CommandError::Privacy(e.to_string())
        }
    }
}

/// Where the command service learns that a case is quarantined: a commit of it could not be
/// projected (the read model keeps the list).
#[async_trait::async_trait]
pub trait Quarantine: Send + Sync + fmt::Debug {
    /// The log position of the first quarantined commit of a stream (a case, or a tenant's
    /// directory), if it is held.
    async fn quarantined_at(
        &self,
        tenant: &TenantId,
        stream: Uuid,
    ) -> Result<Option<u64>, CommandError>;
}

/// The command service.
#[derive(Debug, Clone)]
pub struct CommandService {
    log: Arc<dyn EventLog>,
    clock: Arc<dyn Clock>,
    policies: Arc<Policies>,
    /// Seals the people events name; without one, a command naming people is refused.
    vault: Option<Vault>,
    /// The tenants' directories as last read.
    directories: Arc<directory::DirectoryCache>,
    /// The cases held because a commit of theirs cannot be projected: none, without one.
    quarantine: Option<Arc<dyn Quarantine>>,
    /// The cases last decided on, folded.
    cases: Arc<CaseCache>,
}

/// Idempotency keys are scoped to the tenant and the acting user.
/// The namespace of the deadline watch's commit ids (UUIDv5 of tenant, case and deadline).
const WATCH_NAMESPACE: Uuid = Uuid::from_u128(0x3f1e_8a2d_47c6_4b09_9e15_d2c7_a4b8_61f3);

/// What makes a watch commit's id: the deadline missed, as it always was, or else what the
/// kind's own limits record (each unit's check-in missed, with its limit): the same misses give
/// the same id on every replica.
fn watch_key(events: &[docket_domain::CaseEvent]) -> String {
    use docket_domain::CaseEvent;
    use docket_domain::common::CommonEvent;
    if let Some(deadline) = events.iter().find_map(|e| match e {
        CaseEvent::Common(CommonEvent::DeadlineMissed { deadline }) => Some(deadline),
        _ => None,
    }) {
        return deadline.to_string();
    }
    events
        .iter()
        .map(|e| {
            let (event_type, _, data) = e.to_record();
            format!("{event_type} {data}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Who the deadline watch's commits name as their actor.
pub const WATCH_ACTOR: &str = "deadline-watch";

const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x6d0c_4b7e_9a51_4f0e_8d3c_2a1b_0c9d_8e7f);

impl CommandService {
    pub fn new(log: Arc<dyn EventLog>, clock: Arc<dyn Clock>) -> Self {
        Self {
            log,
            clock,
            policies: Arc::new(Policies::default()),
            vault: None,
            directories: Arc::default(),
            quarantine: None,
            cases: Arc::default(),
        }
    }

    /// Sets where quarantined cases are looked up: they refuse commands until repaired.
    pub fn with_quarantine(mut self, quarantine: Arc<dyn Quarantine>) -> Self {
        self.quarantine = Some(quarantine);
        self
    }

    /// Whether quarantined cases are looked up anywhere.
    pub fn has_quarantine(&self) -> bool {
        self.quarantine.is_some()
    }

    /// A case whose history this release cannot replay is, once the projector has met the same
    /// commit, quarantined: that is the answer, not a fault.
    async fn unless_quarantined<T>(
        &self,
        loaded: Result<T, CommandError>,
        tenant: &TenantId,
        case_id: CaseId,
    ) -> Result<T, CommandError> {
        match loaded {
            Err(CommandError::Corrupt { .. }) => {
                self.check_not_quarantined(tenant, case_id).await?;
                loaded
            }
            loaded => loaded,
        }
    }

    /// Refuses a command on a case whose commits are held in quarantine.
    async fn check_not_quarantined(
        &self,
        tenant: &TenantId,
        case_id: CaseId,
    ) -> Result<(), CommandError> {
        let Some(quarantine) = &self.quarantine else {
            return Ok(());
        };
        match quarantine.quarantined_at(tenant, case_id.as_uuid()).await? {
            Some(position) => Err(CommandError::Quarantined {
                case_id: case_id.as_uuid(),
                position,
            }),
            None => Ok(()),
        }
    }

    /// Sets the key store that seals the people events name (parties, petitioners).
    pub fn with_vault(mut self, vault: Vault) -> Self {
        self.vault = Some(vault);
        self
    }

    pub fn vault(&self) -> Option<&Vault> {
        self.vault.as_ref()
    }

    /// Seals every person the events name under their own key, so the log never holds
    /// personal data in clear.
    async fn seal_persons(
        &self,
        tenant: &TenantId,
        case_id: CaseId,
        events: &mut [docket_domain::CaseEvent],
    ) -> Result<(), CommandError> {
        let mut named = Vec::new();
        for event in events.iter_mut() {
            for person in event.persons_mut() {
                let Personal::Clear(details) = person else {
                    continue;
                };
                let vault = self.vault.as_ref().ok_or_else(|| {
                    CommandError::Privacy("no key store is configured to seal personal data".into())
                })?;
                let sealed = vault
                    .seal(tenant.as_str(), details)
                    .await
                    .map_err(CommandError::sealing)?;
                named.push(sealed.person);
                *person = Personal::Sealed(sealed);
            }
        }
        // The case's free texts go with the people it names: erasing one destroys its key.
        if let Some(vault) = &self.vault
            && !named.is_empty()
        {
            vault
                .link_people(tenant.as_str(), case_id.as_uuid(), &named)
                .await
                .map_err(CommandError::sealing)?;
        }
        Ok(())
    }

    /// Seals the free texts the events hold (the fields `FREE_TEXT_FIELDS` names: descriptions,
    /// notes and the like) under the case's own key, and links the people the case named
    /// `before` to it; true if any was sealed.
    /// Without a key store they stay as given (tests of the rules alone).
    async fn seal_texts(
        &self,
        tenant: &TenantId,
        case_id: CaseId,
        before: Option<&CaseState>,
        events: &mut [docket_domain::CaseEvent],
    ) -> Result<bool, CommandError> {
        let Some(vault) = &self.vault else {
            return Ok(false);
        };
        let mut sealed_any = false;
        for event in events.iter_mut() {
            let (event_type, version, mut data) = event.to_record();
            let texts = docket_domain::person::free_texts_mut(&mut data);
            if texts.is_empty() {
                continue;
            }
            for text in texts {
                *text = vault
                    .seal_text(tenant.as_str(), case_id.as_uuid(), text)
                    .await
                    .map_err(CommandError::sealing)?;
            }
            *event = docket_domain::CaseEvent::from_record(&event_type, version, &data).map_err(
                |e| CommandError::Corrupt {
                    case_id: case_id.as_uuid(),
                    reason: format!("an event with its texts sealed does not read back: {e}"),
                },
            )?;
            sealed_any = true;
        }
        // The people the case named before (perhaps before texts were sealed at all) go with
        // its texts as well as those this command names.
        if sealed_any && let Some(before) = before {
            let named = docket_domain::person::sealed_people(
                &serde_json::to_value(before).expect("a case state serializes"),
            );
            vault
                .link_people(tenant.as_str(), case_id.as_uuid(), &named)
                .await
                .map_err(CommandError::sealing)?;
        }
        Ok(sealed_any)
    }

    /// Sets the tenants' deadline policies (by default, the domain's defaults for everyone).
    pub fn with_policies(mut self, policies: Policies) -> Self {
        self.policies = Arc::new(policies);
        self
    }

    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// The commit id a request with this idempotency key records under. An action's includes its
    /// case, so that a retry is recognised in the case's own commits at any age; a filing's cannot
    /// (its case id is new each time) and is recognised by the log's duplicate detection.
    pub fn commit_id_for_key(actor: &Actor, case_id: Option<CaseId>, key: &str) -> Uuid {
        let case = case_id.map(|id| id.to_string()).unwrap_or_default();
        let name = format!("{}\n{}\n{}\n{}", actor.tenant, actor.id, case, key);
        Uuid::new_v5(&IDEMPOTENCY_NAMESPACE, name.as_bytes())
    }

    /// The case as it stands, if it is within the actor's reach: what every read of one case
    /// goes through.
    pub async fn load_in_reach(
        &self,
        actor: &Actor,
        case_id: CaseId,
    ) -> Result<LoadedCase, CommandError> {
        let loaded = load_case(self.log.as_ref(), &actor.tenant, case_id).await;
        let case = self
            .unless_quarantined(loaded, &actor.tenant, case_id)
            .await?;
        match &case.state {
            Some(s) if actor.reach().covers(s) => Ok(case),
            _ => Err(CommandError::NotFound),
        }
    }

    /// The kind of a case, to parse an action on it: from the cases kept for deciding, which the
    /// command's own load then reuses.
    pub async fn case_kind(
        &self,
        tenant: &TenantId,
        case_id: CaseId,
    ) -> Result<CaseKind, CommandError> {
        // A case's kind never changes: a case held already answers without asking the log.
        let case = match self.cases.get(tenant, case_id) {
            Some(held) => held,
            None => {
                let loaded = self
                    .cases
                    .load_for_update(self.log.as_ref(), tenant, case_id)
                    .await;
                self.unless_quarantined(loaded, tenant, case_id).await?
            }
        };
        let first = case.commits.first().ok_or(CommandError::NotFound)?;
        first
            .commit
            .body
            .case_kind
            .parse()
            .map_err(|e: docket_domain::InvalidInput| CommandError::Corrupt {
                case_id: case_id.as_uuid(),
                reason: e.message,
            })
    }

    /// A link or a duplicate names a case of the same tenant that exists; a duplicate's original
    /// is not a duplicate itself (name the case it duplicates instead).
    async fn check_named_case(
        &self,
        actor: &Actor,
        case_id: CaseId,
        command: &CaseCommand,
    ) -> Result<(), CommandError> {
        let Some((other, field, reference)) = command.names_case() else {
            return Ok(());
        };
        if other == case_id {
            return Ok(()); // the domain refuses a case naming itself
        }
        let named = load_case(self.log.as_ref(), &actor.tenant, other).await?;
        let invalid =
            |reason: String| CommandError::Refused(Refusal::InvalidField { field, reason });
        let Some(state) = named.state.filter(|s| actor.reach().covers(s)) else {
            return Err(invalid(format!(
                "there is no case {other} within your reach"
            )));
        };
        if let CaseReference::ArisenFrom(kinds) = reference
            && !kinds.contains(&state.kind().as_str())
        {
            return Err(invalid(format!(
                "case {other} is a {}; only a {} can be named here",
                state.kind(),
                kinds.join(" or ")
            )));
        }
        if reference == CaseReference::Original
            && let Some(original) = state.handling.duplicate_of
        {
            // A case never duplicates a case that is, directly or through others, its own
            // duplicate: the chain would close on itself.
            let mut next = Some(original);
            for _ in 0..MAX_DUPLICATE_CHAIN {
                let Some(at) = next else { break };
                if at == case_id {
                    return Err(invalid(format!(
                        "case {other} is a duplicate of this case; a case cannot duplicate its own duplicate"
                    )));
                }
                next = load_case(self.log.as_ref(), &actor.tenant, at)
                    .await?
                    .state
                    .and_then(|s| s.handling.duplicate_of);
            }
            return Err(invalid(format!(
                "case {other} is itself a duplicate of {original}; name that case"
            )));
        }
        Ok(())
    }

    /// Decides `request` for `actor` and records the decision: the one way a case command (from
    /// any interface) reaches the log. Counted in `docket_commands_total` by kind, action and
    /// outcome, and in `docket_tenant_commands_total` by tenant and outcome.
    pub async fn handle(
        &self,
        actor: &Actor,
        request: CommandRequest,
    ) -> Result<Outcome, CommandError> {
        let (kind, action) = (request.command.kind(), request.command.action());
        let result = self.decide_and_record(actor, request).await;
        let (outcome, reason) = match &result {
            Ok(o) if o.replayed => ("replayed", ""),
            Ok(_) => ("accepted", ""),
            Err(CommandError::Refused(refusal)) => ("refused", refusal_reason(refusal)),
            Err(e) => ("failed", failure_reason(e)),
        };
        metrics::counter!("docket_commands_total",
            "kind" => kind.as_str(), "action" => action, "outcome" => outcome, "reason" => reason)
        .increment(1);
        // Per tenant, by outcome only: a city's dashboard shows each office's rate, at a few
        // series per tenant.
        metrics::counter!("docket_tenant_commands_total",
            "tenant" => actor.tenant.to_string(), "outcome" => outcome)
        .increment(1);
        result
    }

    #[tracing::instrument(skip_all, fields(tenant = %actor.tenant, action = request.command.action(), case_id), err(level = "debug"))]
    async fn decide_and_record(
        &self,
        actor: &Actor,
        request: CommandRequest,
    ) -> Result<Outcome, CommandError> {
        let mut request = request;
        request
            .command
            .route_to_own_unit(actor.role, actor.unit.as_ref());
        let reach = actor.reach();
        let request_hash = self.fingerprint(&actor.tenant, &request.command).await?;
        let commit_id = match &request.idempotency_key {
            Some(key) => Self::commit_id_for_key(actor, request.case_id, key),
            None => Uuid::now_v7(),
        };
        // A retried filing decides again on a new case id; the log recognises its commit id and
        // answers with the first filing's position.
        let case_id = request
            .case_id
            .unwrap_or_else(|| CaseId::filed_at(self.clock.now()));
        tracing::Span::current().record("case_id", tracing::field::display(case_id));

        // A client's expected version, and any refusal, is judged against the case as it stands;
        // otherwise the log's cached view will do, since a stale one only costs a conflict.
        let mut fresh = request.expected_version.is_some();
        let mut named_case_checked = false;
        let mut quarantine_checked = false;
        let mut contention = Contention::new();
        loop {
            // Every name the command gives is checked against the tenant's directory as it
            // stands at this attempt: the cached view, or (judging a refusal, or when the client
            // expects a version) the log's now, so that a unit another replica added a moment
            // ago is known.
            let directory = self.read_directory(&actor.tenant, fresh).await?.directory;
            // A filing's case id is new: there is nothing to load.
            let case = match (request.case_id, fresh) {
                (None, _) => Arc::new(LoadedCase::new_case()),
                (Some(_), true) => {
                    let loaded = load_case(self.log.as_ref(), &actor.tenant, case_id)
                        .await
                        .map(Arc::new);
                    let case = self
                        .unless_quarantined(loaded, &actor.tenant, case_id)
                        .await?;
                    self.cases.keep(case_id, case.clone());
                    case
                }
                (Some(_), false) => {
                    let loaded = self
                        .cases
                        .load_for_update(self.log.as_ref(), &actor.tenant, case_id)
                        .await;
                    self.unless_quarantined(loaded, &actor.tenant, case_id)
                        .await?
                }
            };
            // A retry of a commit this actor made (the id is theirs: tenant, actor, case and
            // key) answers with it, even once that commit has moved the case out of their reach.
            if let Some(earlier) = case
                .commits
                .iter()
                .find(|r| r.commit.body.commit_id == commit_id)
            {
                return self
                    .replay(actor, Some(case_id), (**earlier).clone(), &request_hash)
                    .await;
            }
            if request.case_id.is_some() {
                match &case.state {
                    None => return Err(CommandError::NotFound),
                    // A cached view may predate the case coming into reach: look again.
                    Some(s) if !reach.covers(s) && !fresh => {
                        fresh = true;
                        continue;
                    }
                    Some(s) if !reach.covers(s) => return Err(CommandError::NotFound),
                    Some(_) => {}
                }
                if !quarantine_checked {
                    self.check_not_quarantined(&actor.tenant, case_id).await?;
                    quarantine_checked = true;
                }
            }
            if let Some(expected) = request.expected_version
                && expected != case.version()
            {
                return Err(CommandError::VersionMismatch {
                    expected,
                    actual: case.version(),
                });
            }
            let now = self.clock.now();
            let ctx = Context {
                role: actor.role,
                unit: actor.unit.as_ref(),
                grids: &actor.grids,
                now,
                case_id,
                policy: self.policies.for_tenant(&actor.tenant),
                directory: Some(directory.as_ref()),
            };
            let mut events = match request.command.decide(case.state.as_ref(), &ctx) {
                Ok(events) => events,
                Err(_) if !fresh => {
                    fresh = true;
                    continue;
                }
                Err(refusal) => return Err(refusal.into()),
            };
            // Another case the command names, once the rules let the actor take it here.
            if !named_case_checked {
                self.check_named_case(actor, case_id, &request.command)
                    .await?;
                named_case_checked = true;
            }
            let state = fold_onto(case.state.clone(), &events, case_id)?;
            if request.case_id.is_none() && !reach.covers(&state) {
                return Err(CommandError::OutsideReach(reach.why_not()));
            }
            // Sealing changes the people and the free texts only, not reach: folded again for
            // the outcome.
            let sealed_people = if events.iter().any(|e| !e.persons().is_empty()) {
                self.seal_persons(&actor.tenant, case_id, &mut events)
                    .await?;
                true
            } else {
                false
            };
            let sealed_texts = self
                .seal_texts(&actor.tenant, case_id, case.state.as_ref(), &mut events)
                .await?;
            let state = if sealed_people || sealed_texts {
                fold_onto(case.state.clone(), &events, case_id)?
            } else {
                state
            };
            let appended = self
                .append_decided(
                    &case,
                    Decided {
                        commit_id,
                        tenant: actor.tenant.to_string(),
                        case_id,
                        kind: request.command.kind(),
                        events,
                        state,
                        actor: LogActor {
                            id: actor.id.clone(),
                            role: actor.role.to_string(),
                            unit: actor.unit.as_ref().map(ToString::to_string),
                        },
                        command: CommandInfo {
                            name: request.command.action().to_owned(),
                            request_hash: request_hash.keyed.clone(),
                        },
                        now,
                    },
                )
                .await?;
            match appended {
                Appending::Recorded(outcome) => return Ok(*outcome),
                Appending::Duplicate(position) => {
                    // A request with the same key got there first: answer as it was answered.
                    let earlier = self.log.read_position(position).await?.ok_or_else(|| {
                        CommandError::Corrupt {
                            case_id: case_id.as_uuid(),
                            reason: format!(
                                "the log answered duplicate at empty position {position}"
                            ),
                        }
                    })?;
                    return self
                        .replay(actor, request.case_id, earlier, &request_hash)
                        .await;
                }
                Appending::Conflict => {
                    if let Some(expected) = request.expected_version {
                        let actual = load_case(self.log.as_ref(), &actor.tenant, case_id)
                            .await?
                            .version();
                        return Err(CommandError::VersionMismatch { expected, actual });
                    }
                    metrics::counter!("docket_command_conflicts_total",
                        "kind" => request.command.kind().as_str(),
                        "action" => request.command.action())
                    .increment(1);
                    if !contention.wait_to_decide_again().await {
                        return Err(CommandError::Contention);
                    }
                    tracing::debug!("lost the race for the next version; deciding again");
                }
            }
        }
    }

    /// Records what being overdue now means for the case (its current step's deadline missed, a
    /// petition become backlog), as the deadline watch does: `None` when there is nothing to
    /// record, or another watcher recorded it first. The commit id is derived from the case and
    /// the deadline, so watchers on several replicas record each miss once: the log answers a
    /// second append of the same id with the first, and a watcher that loses the race for the
    /// version finds the miss recorded when it decides again.
    pub async fn record_overdue(
        &self,
        tenant: &TenantId,
        case_id: CaseId,
    ) -> Result<Option<Outcome>, CommandError> {
        self.check_not_quarantined(tenant, case_id).await?;
        for _ in 0..MAX_ATTEMPTS {
            let case = load_case(self.log.as_ref(), tenant, case_id).await?;
            let Some(before) = &case.state else {
                return Err(CommandError::NotFound);
            };
            let now = self.clock.now();
            let events = before.overdue_events(now);
            if events.is_empty() {
                return Ok(None);
            }
            let name = format!("{tenant}\n{case_id}\n{}", watch_key(&events));
            let commit_id = Uuid::new_v5(&WATCH_NAMESPACE, name.as_bytes());
            let state = fold_onto(case.state.clone(), &events, case_id)?;
            let appended = self
                .append_decided(
                    &case,
                    Decided {
                        commit_id,
                        tenant: tenant.to_string(),
                        case_id,
                        kind: before.kind(),
                        events,
                        state,
                        actor: LogActor {
                            id: WATCH_ACTOR.to_owned(),
                            role: "system".to_owned(),
                            unit: None,
                        },
                        command: CommandInfo {
                            name: "record-overdue".to_owned(),
                            request_hash: hex::encode(Sha256::digest(name.as_bytes())),
                        },
                        now,
                    },
                )
                .await?;
            match appended {
                Appending::Recorded(outcome) => return Ok(Some(*outcome)),
                Appending::Duplicate(_) => return Ok(None),
                Appending::Conflict => {
                    tracing::debug!(%case_id, "the case moved on; deciding what is overdue again");
                }
            }
        }
        Err(CommandError::Contention)
    }

    /// Appends a commit to the log, timed in `docket_log_append_duration_seconds`.
    async fn append(
        &self,
        commit: &docket_eventlog::Commit,
    ) -> Result<docket_eventlog::Appended, LogError> {
        let started = std::time::Instant::now();
        let appended = self.log.append(commit).await;
        metrics::histogram!("docket_log_append_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        appended
    }

    /// Seals decided events onto the case's chain as one commit and appends it.
    async fn append_decided(
        &self,
        case: &LoadedCase,
        d: Decided,
    ) -> Result<Appending, CommandError> {
        let commit = CommitBody {
            hash_scheme: docket_eventlog::HASH_SCHEME,
            commit_id: d.commit_id,
            tenant: d.tenant,
            case_id: d.case_id.as_uuid(),
            case_kind: d.kind.to_string(),
            version: case.version() + 1,
            events: d.events.iter().map(to_record).collect(),
            actor: d.actor,
            command: d.command,
            correlation_id: d.commit_id,
            causation_id: None,
            recorded_at: d.now,
        }
        .seal(case.last_hash());
        match self.append(&commit).await {
            Ok(Appended {
                position,
                duplicate: false,
            }) => {
                let grown = case.with_appended(
                    Recorded {
                        position,
                        commit: commit.clone(),
                    },
                    d.state.clone(),
                );
                self.cases.keep(d.case_id, Arc::new(grown));
                Ok(Appending::Recorded(Box::new(Outcome {
                    case_id: d.case_id,
                    kind: d.kind,
                    commit_id: d.commit_id,
                    version: commit.body.version,
                    position,
                    recorded_at: d.now,
                    events: commit.body.events,
                    state: d.state,
                    replayed: false,
                })))
            }
            Ok(Appended {
                position,
                duplicate: true,
            }) => Ok(Appending::Duplicate(position)),
            Err(LogError::Conflict { .. }) => Ok(Appending::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// The outcome of an earlier request with the same idempotency key, if it was the same request.
    async fn replay(
        &self,
        actor: &Actor,
        case_id: Option<CaseId>,
        earlier: Recorded,
        request_hash: &Fingerprint,
    ) -> Result<Outcome, CommandError> {
        let body = &earlier.commit.body;
        let same_case = case_id.is_none_or(|id| id.as_uuid() == body.case_id);
        if !same_case
            || body.tenant != actor.tenant.as_str()
            || !same_request(
                &body.command.request_hash,
                &request_hash.keyed,
                &request_hash.bare,
            )
        {
            return Err(CommandError::KeyReused);
        }
        let case_id = CaseId::from_uuid(body.case_id).map_err(|e| CommandError::Corrupt {
            case_id: body.case_id,
            reason: e.to_string(),
        })?;
        let case = load_case(self.log.as_ref(), &actor.tenant, case_id).await?;
        let state = case.state_at(body.version)?;
        Ok(Outcome {
            case_id,
            kind: state.kind(),
            commit_id: body.commit_id,
            version: body.version,
            position: earlier.position,
            recorded_at: body.recorded_at,
            events: body.events.clone(),
            state,
            replayed: true,
        })
    }
}

/// A decision ready to be committed: its events, the case after them, and who and what caused it.
struct Decided {
    commit_id: Uuid,
    tenant: String,
    case_id: CaseId,
    kind: CaseKind,
    events: Vec<docket_domain::CaseEvent>,
    state: CaseState,
    actor: LogActor,
    command: CommandInfo,
    now: Timestamp,
}

/// What the log made of a decided commit.
enum Appending {
    Recorded(Box<Outcome>),
    /// The log holds a commit with this id already, at this position.
    Duplicate(u64),
    /// Another commit took the case's next version first.
    Conflict,
}

/// The case after the decided events.
fn fold_onto(
    state: Option<CaseState>,
    events: &[docket_domain::CaseEvent],
    case_id: CaseId,
) -> Result<CaseState, CommandError> {
    events
        .iter()
        .try_fold(state, |s, e| CaseState::evolve(s, e).map(Some))
        .map_err(|e| CommandError::Corrupt {
            case_id: case_id.as_uuid(),
            reason: e.to_string(),
        })?
        .ok_or_else(|| CommandError::Corrupt {
            case_id: case_id.as_uuid(),
            reason: "a decision recorded no event".to_owned(),
        })
}

fn to_record(event: &docket_domain::CaseEvent) -> EventRecord {
    let (event_type, schema_version, data) = event.to_record();
    EventRecord {
        event_type,
        schema_version,
        data,
    }
}

/// A request's fingerprints: the one a commit records, and the unkeyed one that commits written
/// before fingerprints were keyed recorded, kept in memory to recognise their retries.
pub(crate) struct Fingerprint {
    pub(crate) keyed: String,
    pub(crate) bare: String,
}

impl Fingerprint {
    /// The fingerprint of a request that names no one: its bare SHA-256.
    pub(crate) fn unkeyed(command: &impl serde::Serialize) -> Self {
        let value = serde_json::to_value(command).expect("commands serialize to JSON");
        let bare = hex::encode(Sha256::digest(canonical_json(&value)));
        Self {
            keyed: bare.clone(),
            bare,
        }
    }
}

impl CommandService {
    /// A fingerprint of the request (the command with its inputs, as canonical JSON): keyed with
    /// the tenant's secret in the key store. Without a key store, which cannot seal personal data
    /// and so takes no command that names a person, its bare SHA-256.
    pub(crate) async fn fingerprint(
        &self,
        tenant: &TenantId,
        command: &impl serde::Serialize,
    ) -> Result<Fingerprint, CommandError> {
        let value = serde_json::to_value(command).expect("commands serialize to JSON");
        let canonical = canonical_json(&value);
        let bare = hex::encode(Sha256::digest(&canonical));
        let keyed = match &self.vault {
            Some(vault) => vault
                .fingerprint(tenant.as_str(), &canonical)
                .await
                .map_err(CommandError::sealing)?,
            None => bare.clone(),
        };
        Ok(Fingerprint { keyed, bare })
    }
}

/// Whether a retry is the request first recorded with fingerprint `recorded`: `now` is the
/// retry's fingerprint, `bare` its unkeyed one. A fingerprint written before they were keyed
/// (64 bare hex digits) is compared with the unkeyed one, computed in memory and never written.
pub(crate) fn same_request(recorded: &str, now: &str, bare: &str) -> bool {
    if recorded.starts_with(docket_privacy::KEYED_FINGERPRINT) {
        recorded == now
    } else {
        recorded == bare
    }
}

pub(crate) fn genesis_or(last: Option<&Recorded>) -> ChainHash {
    last.map_or_else(ChainHash::genesis, |r| r.commit.hash.clone())
}

#[cfg(test)]
mod tests;
