//! One surface over every kind of case. Each kind is a module with its own table, commands,
//! events and state; this file routes to it, so a new kind is a new module plus one arm per match.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::common::{self, CommonCommand, CommonEvent, Handling, Outcome};
use crate::deadlines::DeadlinePolicy;
use crate::dispute::{self, Dispute, DisputeCommand, DisputeEvent};
use crate::hazard::{self, HazardCommand, HazardEvent, HazardTicket};
use crate::petition::{self, Petition, PetitionCommand, PetitionEvent};
use crate::{CaseId, CommunityId, GridId, Refusal, Role};

/// What a decision may look at besides the case and the command: who acts, and when.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub role: Role,
    pub now: Timestamp,
    /// The case the command is for (a filing's new id).
    pub case_id: CaseId,
    /// The tenant's deadline policy.
    pub policy: &'a DeadlinePolicy,
}

/// The kinds of case Docket handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    /// 安全隐患
    Hazard,
    /// 矛盾纠纷
    Dispute,
    /// 信访
    Petition,
}

impl CaseKind {
    pub const ALL: [CaseKind; 3] = [CaseKind::Hazard, CaseKind::Dispute, CaseKind::Petition];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Hazard => "hazard",
            CaseKind::Dispute => "dispute",
            CaseKind::Petition => "petition",
        }
    }

    /// The prefix of the human case number.
    pub fn number_prefix(self) -> &'static str {
        match self {
            CaseKind::Hazard => "HZ",
            CaseKind::Dispute => "DS",
            CaseKind::Petition => "XF",
        }
    }

    /// The action that files a case of this kind.
    pub fn filing_action(self) -> &'static str {
        match self {
            CaseKind::Hazard => hazard::Action::Report.as_str(),
            CaseKind::Dispute => dispute::Action::Register.as_str(),
            CaseKind::Petition => petition::Action::Register.as_str(),
        }
    }

    /// Every action of this kind's own table.
    pub fn actions(self) -> Vec<&'static str> {
        match self {
            CaseKind::Hazard => hazard::Action::ALL.iter().map(|a| a.as_str()).collect(),
            CaseKind::Dispute => dispute::Action::ALL.iter().map(|a| a.as_str()).collect(),
            CaseKind::Petition => petition::Action::ALL.iter().map(|a| a.as_str()).collect(),
        }
    }

    /// Whether `role` may file a case of this kind.
    pub fn filing_allowed(self, role: Role, now: Timestamp) -> bool {
        let filing = self.filing_action();
        match self {
            CaseKind::Hazard => hazard::allowed_actions(None, role).contains(&filing),
            CaseKind::Dispute => dispute::allowed_actions(None, role, now).contains(&filing),
            CaseKind::Petition => petition::allowed_actions(None, role, now).contains(&filing),
        }
    }

    /// Whether any kind, or the common table, knows an action of this name.
    pub fn is_known_action(name: &str) -> bool {
        is_common_action(name) || CaseKind::ALL.iter().any(|k| k.actions().contains(&name))
    }
}

fn is_common_action(name: &str) -> bool {
    common::Action::ALL.iter().any(|a| a.as_str() == name)
}

impl fmt::Display for CaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CaseKind {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CaseKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| InvalidInput {
                field: Some("kind".to_owned()),
                message: format!(
                    "unknown kind {s:?}; kinds are {}",
                    CaseKind::ALL.map(|k| k.as_str()).join(", ")
                ),
            })
    }
}

/// A request body that does not make a command: a missing or unknown field, a wrong type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidInput {
    /// The field at fault, when known.
    pub field: Option<String>,
    pub message: String,
}

impl InvalidInput {
    /// Reads a tagged command (`{"action", "input"}`), naming the field at fault by its path
    /// within the input: `parties`, `parties[0].phone`, `category`.
    fn parse<T: serde::de::DeserializeOwned>(tagged: Value) -> Result<T, InvalidInput> {
        serde_path_to_error::deserialize(tagged).map_err(|err| {
            let path = err.path().to_string();
            let message = err.into_inner().to_string();
            let at = path
                .strip_prefix("input")
                .map(|p| p.trim_start_matches('.'))
                .filter(|p| !p.is_empty());
            // serde names a missing or unknown field in back-quotes: "missing field `title`".
            let named = message
                .split('`')
                .nth(1)
                .filter(|_| message.contains("field `"));
            let field = match (at, named) {
                (Some(at), Some(name)) if message.contains("missing field") => {
                    Some(format!("{at}.{name}"))
                }
                (Some(at), _) => Some(at.to_owned()),
                (None, Some(name)) => Some(name.to_owned()),
                (None, None) => None,
            };
            let message = match &field {
                Some(field) if !message.contains(field.as_str()) => format!("{field}: {message}"),
                _ => message,
            };
            InvalidInput { field, message }
        })
    }
}

/// A command to some case, of some kind, or one every case takes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CaseCommand {
    Hazard(HazardCommand),
    Dispute(DisputeCommand),
    Petition(PetitionCommand),
    /// An action every case has; `kind` is the kind of the case it is for.
    Common {
        #[serde(skip)]
        kind: CaseKind,
        #[serde(flatten)]
        command: CommonCommand,
    },
}

impl CaseCommand {
    /// Parses the body of a filing: an object with `kind` and that kind's filing fields.
    pub fn parse_filing(body: Value) -> Result<CaseCommand, InvalidInput> {
        let Value::Object(mut fields) = body else {
            return Err(InvalidInput {
                field: None,
                message: "the body must be a JSON object".to_owned(),
            });
        };
        let kind = match fields.remove("kind") {
            Some(Value::String(kind)) => kind.parse::<CaseKind>()?,
            Some(_) | None => {
                return Err(InvalidInput {
                    field: Some("kind".to_owned()),
                    message: "kind is required and must be a string".to_owned(),
                });
            }
        };
        Self::parse_action(kind, kind.filing_action(), Value::Object(fields))
    }

    /// Parses an action on a case of a known kind. An empty body (`null`) is an empty object.
    pub fn parse_action(
        kind: CaseKind,
        action: &str,
        body: Value,
    ) -> Result<CaseCommand, InvalidInput> {
        let input = match body {
            Value::Null => Value::Object(Map::new()),
            obj @ Value::Object(_) => obj,
            _ => {
                return Err(InvalidInput {
                    field: None,
                    message: "the body must be a JSON object".to_owned(),
                });
            }
        };
        let tagged = json!({ "action": action, "input": input });
        if is_common_action(action) {
            return InvalidInput::parse(tagged)
                .map(|command| CaseCommand::Common { kind, command });
        }
        match kind {
            CaseKind::Hazard => InvalidInput::parse(tagged).map(CaseCommand::Hazard),
            CaseKind::Dispute => InvalidInput::parse(tagged).map(CaseCommand::Dispute),
            CaseKind::Petition => InvalidInput::parse(tagged).map(CaseCommand::Petition),
        }
    }

    pub fn kind(&self) -> CaseKind {
        match self {
            CaseCommand::Hazard(_) => CaseKind::Hazard,
            CaseCommand::Dispute(_) => CaseKind::Dispute,
            CaseCommand::Petition(_) => CaseKind::Petition,
            CaseCommand::Common { kind, .. } => *kind,
        }
    }

    pub fn action(&self) -> &'static str {
        match self {
            CaseCommand::Hazard(c) => c.action().as_str(),
            CaseCommand::Dispute(c) => c.action().as_str(),
            CaseCommand::Petition(c) => c.action().as_str(),
            CaseCommand::Common { command, .. } => command.action().as_str(),
        }
    }

    pub fn is_filing(&self) -> bool {
        self.action() == self.kind().filing_action()
    }

    /// Another case this command names, with the field naming it: the command service checks
    /// it exists in the tenant (and, for a duplicate, is not itself a duplicate).
    pub fn names_case(&self) -> Option<(CaseId, &'static str, CaseReference)> {
        match self {
            CaseCommand::Common {
                command: CommonCommand::Link(l),
                ..
            } => Some((l.case, "case", CaseReference::Related)),
            CaseCommand::Common {
                command: CommonCommand::MarkDuplicate(m),
                ..
            } => Some((m.of, "of", CaseReference::Original)),
            CaseCommand::Hazard(HazardCommand::Dismiss(hazard::Dismiss {
                duplicate_of: Some(of),
                ..
            })) => Some((*of, "duplicate_of", CaseReference::Original)),
            _ => None,
        }
    }

    /// Decides the command against the case (`None`: not filed yet). Besides the events of the
    /// action itself, records that the current step's deadline was missed (once per deadline)
    /// and, when the case reaches an end state, how it closed.
    pub fn decide(
        &self,
        state: Option<&CaseState>,
        ctx: &Context<'_>,
    ) -> Result<Vec<CaseEvent>, Refusal> {
        let mut events = self
            .decide_action(state, ctx)
            .map_err(|refusal| match state {
                Some(s) => s.widen(refusal, ctx),
                None => refusal,
            })?;
        let Some(before) = state else {
            return Ok(events);
        };
        events.splice(0..0, before.overdue_events(ctx.now));
        let mut after = before.clone();
        for event in &events {
            after = CaseState::evolve(Some(after), event).map_err(|e| Refusal::InvalidField {
                field: "case",
                reason: e.to_string(),
            })?;
        }
        if !before.is_closed() && after.is_closed() {
            let outcome = after.outcome().unwrap_or(Outcome::NotResolved);
            events.push(CaseEvent::Common(CommonEvent::Closed {
                outcome,
                on_time: after.handling.missed_deadlines.is_empty(),
            }));
        }
        Ok(events)
    }

    fn decide_action(
        &self,
        state: Option<&CaseState>,
        ctx: &Context<'_>,
    ) -> Result<Vec<CaseEvent>, Refusal> {
        let detail = state.map(|s| &s.detail);
        match (self, detail) {
            (CaseCommand::Hazard(cmd), None) => {
                lift(hazard::decide(None, cmd, ctx), CaseEvent::Hazard)
            }
            (CaseCommand::Hazard(cmd), Some(Detail::Hazard(t))) => {
                lift(hazard::decide(Some(t), cmd, ctx), CaseEvent::Hazard)
            }
            (CaseCommand::Dispute(cmd), None) => {
                lift(dispute::decide(None, cmd, ctx), CaseEvent::Dispute)
            }
            (CaseCommand::Dispute(cmd), Some(Detail::Dispute(d))) => {
                lift(dispute::decide(Some(d), cmd, ctx), CaseEvent::Dispute)
            }
            (CaseCommand::Petition(cmd), None) => {
                lift(petition::decide(None, cmd, ctx), CaseEvent::Petition)
            }
            (CaseCommand::Petition(cmd), Some(Detail::Petition(p))) => {
                lift(petition::decide(Some(p), cmd, ctx), CaseEvent::Petition)
            }
            (CaseCommand::Common { command, .. }, Some(_)) => {
                let state = state.expect("a detail comes from a state");
                lift(common::decide(state, command, ctx), CaseEvent::Common)
            }
            (CaseCommand::Common { command, .. }, None) => Err(Refusal::NotAllowedInState {
                kind: self.kind().as_str(),
                state: "not filed",
                action: command.action().as_str().to_owned(),
                allowed: vec![self.kind().filing_action()],
                reason: None,
            }),
            (_, Some(detail)) => Err(Refusal::NotAllowedInState {
                kind: detail.kind().as_str(),
                state: detail.status(),
                action: self.action().to_owned(),
                allowed: Vec::new(),
                reason: Some("the command is for another kind of case"),
            }),
        }
    }
}

/// How a command refers to another case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseReference {
    /// A related case: it must exist.
    Related,
    /// The case this one duplicates: it must exist and not be a duplicate itself.
    Original,
}

fn lift<E>(
    decided: Result<Vec<E>, Refusal>,
    wrap: fn(E) -> CaseEvent,
) -> Result<Vec<CaseEvent>, Refusal> {
    decided.map(|events| events.into_iter().map(wrap).collect())
}

/// An event of some case. On the log it is a type name (`hazard.reported`, `case.note_added`), a
/// schema version and a JSON object.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseEvent {
    Hazard(HazardEvent),
    Dispute(DisputeEvent),
    Petition(PetitionEvent),
    /// An event every kind of case has; recorded as `case.<name>`.
    Common(CommonEvent),
}

/// The schema version every event type is at now.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// The type prefix of the events every case has.
const COMMON_PREFIX: &str = "case";

/// A recorded event whose type or data this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read event {event_type} v{schema_version}: {reason}")]
pub struct UnknownEvent {
    pub event_type: String,
    pub schema_version: u32,
    pub reason: String,
}

impl CaseEvent {
    /// The people the event names (parties, petitioners), to seal before the commit is written.
    pub fn persons_mut(&mut self) -> Vec<&mut crate::person::Personal> {
        match self {
            CaseEvent::Dispute(DisputeEvent::Registered { parties, .. }) => {
                parties.iter_mut().map(|p| &mut p.who).collect()
            }
            CaseEvent::Petition(PetitionEvent::Registered { petitioners, .. }) => {
                petitioners.iter_mut().collect()
            }
            _ => Vec::new(),
        }
    }

    /// The people the event names.
    pub fn persons(&self) -> Vec<&crate::person::Personal> {
        match self {
            CaseEvent::Dispute(DisputeEvent::Registered { parties, .. }) => {
                parties.iter().map(|p| &p.who).collect()
            }
            CaseEvent::Petition(PetitionEvent::Registered { petitioners, .. }) => {
                petitioners.iter().collect()
            }
            _ => Vec::new(),
        }
    }

    /// The type name, schema version and data as they go on the log.
    pub fn to_record(&self) -> (String, u32, Value) {
        let (prefix, tagged) = match self {
            CaseEvent::Hazard(e) => (CaseKind::Hazard.as_str(), serde_json::to_value(e)),
            CaseEvent::Dispute(e) => (CaseKind::Dispute.as_str(), serde_json::to_value(e)),
            CaseEvent::Petition(e) => (CaseKind::Petition.as_str(), serde_json::to_value(e)),
            CaseEvent::Common(e) => (COMMON_PREFIX, serde_json::to_value(e)),
        };
        let tagged = tagged.expect("events serialize to JSON");
        let name = tagged["type"]
            .as_str()
            .expect("events are tagged with type");
        (
            format!("{prefix}.{name}"),
            SCHEMA_VERSION,
            tagged.get("data").cloned().unwrap_or(Value::Null),
        )
    }

    pub fn from_record(
        event_type: &str,
        schema_version: u32,
        data: &Value,
    ) -> Result<Self, UnknownEvent> {
        let unknown = |reason: String| UnknownEvent {
            event_type: event_type.to_owned(),
            schema_version,
            reason,
        };
        if schema_version != SCHEMA_VERSION {
            return Err(unknown("unsupported schema version".to_owned()));
        }
        let (prefix, name) = event_type
            .split_once('.')
            .ok_or_else(|| unknown("no kind prefix".to_owned()))?;
        let tagged = json!({ "type": name, "data": data });
        let read = |e: serde_json::Error| unknown(e.to_string());
        if prefix == COMMON_PREFIX {
            return serde_json::from_value(tagged)
                .map(CaseEvent::Common)
                .map_err(read);
        }
        let kind: CaseKind = prefix
            .parse()
            .map_err(|e: InvalidInput| unknown(e.message))?;
        match kind {
            CaseKind::Hazard => serde_json::from_value(tagged).map(CaseEvent::Hazard),
            CaseKind::Dispute => serde_json::from_value(tagged).map(CaseEvent::Dispute),
            CaseKind::Petition => serde_json::from_value(tagged).map(CaseEvent::Petition),
        }
        .map_err(read)
    }
}

/// Recorded events that cannot be replayed onto the state they follow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot replay {kind} history: {reason}")]
pub struct ReplayError {
    pub kind: &'static str,
    pub reason: &'static str,
}

impl ReplayError {
    pub(crate) fn new(kind: &'static str, reason: &'static str) -> Self {
        Self { kind, reason }
    }
}

/// What is particular to the kind of a case: its own table's state and fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Detail {
    Hazard(HazardTicket),
    Dispute(Dispute),
    Petition(Petition),
}

impl Detail {
    pub fn kind(&self) -> CaseKind {
        match self {
            Detail::Hazard(_) => CaseKind::Hazard,
            Detail::Dispute(_) => CaseKind::Dispute,
            Detail::Petition(_) => CaseKind::Petition,
        }
    }

    pub fn status(&self) -> &'static str {
        match self {
            Detail::Hazard(t) => t.status.as_str(),
            Detail::Dispute(d) => d.status.as_str(),
            Detail::Petition(p) => p.status.as_str(),
        }
    }
}

/// A case as its events have made it: its kind's part and the part every case has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseState {
    #[serde(flatten)]
    pub detail: Detail,
    pub handling: Handling,
}

impl CaseState {
    /// Folds one event into the state (`None`: before the first event).
    pub fn evolve(state: Option<CaseState>, event: &CaseEvent) -> Result<CaseState, ReplayError> {
        let filed = |detail| CaseState {
            detail,
            handling: Handling::default(),
        };
        let mut state = match (state, event) {
            (None, CaseEvent::Hazard(e)) => {
                let t = hazard::evolve(None, e)?;
                let mut s = filed(Detail::Hazard(t));
                s.handling.lead_unit = hazard::assigned_unit(e).cloned();
                return Ok(s);
            }
            (None, CaseEvent::Dispute(e)) => {
                let d = dispute::evolve(None, e)?;
                let mut s = filed(Detail::Dispute(d));
                s.handling.lead_unit = dispute::assigned_unit(e).cloned();
                return Ok(s);
            }
            (None, CaseEvent::Petition(e)) => {
                let p = petition::evolve(None, e)?;
                let mut s = filed(Detail::Petition(p));
                s.handling.lead_unit = petition::assigned_unit(e).cloned();
                return Ok(s);
            }
            (None, CaseEvent::Common(_)) => {
                return Err(ReplayError::new("case", "event before the case was filed"));
            }
            (Some(state), _) => state,
        };
        if let CaseEvent::Common(e) = event {
            common::evolve(&mut state, e)?;
            return Ok(state);
        }
        let before = state.deadline();
        let assigned = match event {
            CaseEvent::Dispute(e) => dispute::assigned_unit(e).cloned(),
            CaseEvent::Petition(e) => petition::assigned_unit(e).cloned(),
            CaseEvent::Hazard(_) | CaseEvent::Common(_) => None,
        };
        state.detail = match (state.detail, event) {
            (Detail::Hazard(t), CaseEvent::Hazard(e)) => {
                Detail::Hazard(hazard::evolve(Some(t), e)?)
            }
            (Detail::Dispute(d), CaseEvent::Dispute(e)) => {
                Detail::Dispute(dispute::evolve(Some(d), e)?)
            }
            (Detail::Petition(p), CaseEvent::Petition(e)) => {
                Detail::Petition(petition::evolve(Some(p), e)?)
            }
            (detail, _) => {
                return Err(ReplayError::new(
                    detail.kind().as_str(),
                    "an event of another kind of case",
                ));
            }
        };
        if let Some(unit) = assigned {
            state.handling.co_handlers.retain(|u| u != &unit);
            state.handling.lead_unit = Some(unit);
            state.handling.assignee = None;
        }
        // The hazard table's own dismissal as a duplicate is a duplicate like mark-duplicate's.
        if let CaseEvent::Hazard(HazardEvent::Dismissed {
            duplicate_of: Some(of),
            ..
        }) = event
        {
            state.handling.duplicate_of = Some(*of);
            if !state.handling.links.contains(of) {
                state.handling.links.push(*of);
            }
        }
        // A new step starts its own extensions.
        if state.deadline() != before {
            state.handling.step_extended_days = 0;
            state.handling.step_extensions = 0;
            state.handling.pending_extension = None;
        }
        Ok(state)
    }

    /// Folds a whole history.
    pub fn replay<'a>(
        events: impl IntoIterator<Item = &'a CaseEvent>,
    ) -> Result<Option<CaseState>, ReplayError> {
        events
            .into_iter()
            .try_fold(None, |state, e| Self::evolve(state, e).map(Some))
    }

    pub fn kind(&self) -> CaseKind {
        self.detail.kind()
    }

    pub fn status(&self) -> &'static str {
        self.detail.status()
    }

    /// Whether the case has reached an end state.
    pub fn is_closed(&self) -> bool {
        match &self.detail {
            Detail::Hazard(t) => t.status.is_end(),
            Detail::Dispute(d) => d.status.is_end(),
            Detail::Petition(p) => p.status.is_end(),
        }
    }

    /// How the case ended, once it has.
    pub fn outcome(&self) -> Option<Outcome> {
        match &self.detail {
            Detail::Hazard(t) => hazard::outcome(t),
            Detail::Dispute(d) => dispute::outcome(d),
            Detail::Petition(p) => petition::outcome(p),
        }
    }

    /// The actions `role` may take now: its kind's table and the common one.
    pub fn allowed_actions(&self, role: Role, now: Timestamp) -> Vec<&'static str> {
        let mut actions = match &self.detail {
            Detail::Hazard(t) => hazard::allowed_actions(Some(t), role),
            Detail::Dispute(d) => dispute::allowed_actions(Some(d), role, now),
            Detail::Petition(p) => petition::allowed_actions(Some(p), role, now),
        };
        actions.extend(common::allowed_actions(self, role, now));
        actions
    }

    /// The actions anyone may take now, in table order: the kind's, then the common ones.
    pub fn open_actions(&self, now: Timestamp) -> Vec<&'static str> {
        let open: Vec<&'static str> = Role::ALL
            .iter()
            .flat_map(|role| self.allowed_actions(*role, now))
            .collect();
        self.kind()
            .actions()
            .into_iter()
            .chain(common::Action::ALL.iter().map(|a| a.as_str()))
            .filter(|action| open.contains(action))
            .collect()
    }

    /// A refusal from a kind's table lists the common actions allowed too.
    fn widen(&self, refusal: Refusal, ctx: &Context<'_>) -> Refusal {
        match refusal {
            Refusal::NotAllowedInState {
                kind,
                state,
                action,
                reason,
                ..
            } => Refusal::NotAllowedInState {
                kind,
                state,
                action,
                allowed: self.open_actions(ctx.now),
                reason,
            },
            Refusal::RoleNotPermitted {
                kind,
                state,
                action,
                role,
                ..
            } => Refusal::RoleNotPermitted {
                kind,
                state,
                action,
                role,
                allowed: self.allowed_actions(role, ctx.now),
            },
            invalid @ Refusal::InvalidField { .. } => invalid,
        }
    }

    pub fn community(&self) -> &CommunityId {
        match &self.detail {
            Detail::Hazard(t) => &t.community,
            Detail::Dispute(d) => &d.community,
            Detail::Petition(p) => &p.community,
        }
    }

    pub fn grid(&self) -> Option<&GridId> {
        match &self.detail {
            Detail::Hazard(t) => t.grid.as_ref(),
            Detail::Dispute(d) => d.grid.as_ref(),
            Detail::Petition(p) => p.grid.as_ref(),
        }
    }

    pub fn title(&self) -> &str {
        match &self.detail {
            Detail::Hazard(t) => &t.title,
            Detail::Dispute(d) => &d.title,
            Detail::Petition(p) => &p.title,
        }
    }

    pub fn description(&self) -> &str {
        match &self.detail {
            Detail::Hazard(t) => &t.description,
            Detail::Dispute(d) => &d.description,
            Detail::Petition(p) => &p.description,
        }
    }

    /// The category in the kind's taxonomy, as its JSON name: a hazard's category, a dispute's
    /// type, a petition's matter.
    pub fn category(&self) -> String {
        let value = match &self.detail {
            Detail::Hazard(t) => serde_json::to_value(t.category),
            Detail::Dispute(d) => serde_json::to_value(d.dispute_type),
            Detail::Petition(p) => serde_json::to_value(p.category),
        };
        value
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// A hazard's severity (general or major); other kinds have none.
    pub fn severity(&self) -> Option<&'static str> {
        match &self.detail {
            Detail::Hazard(t) => Some(match t.severity {
                hazard::Severity::General => "general",
                hazard::Severity::Major => "major",
            }),
            Detail::Dispute(_) | Detail::Petition(_) => None,
        }
    }

    /// What being overdue at `now` records, once each: the current step's deadline missed, and
    /// a petition still open past it becoming backlog (积案). Empty for a closed case, one within
    /// its deadline, or one whose miss is recorded already. The deadline watch records these on
    /// its own; any command taken late records them first.
    pub fn overdue_events(&self, now: Timestamp) -> Vec<CaseEvent> {
        let mut events = Vec::new();
        let Some(deadline) = self.deadline().filter(|d| !self.is_closed() && now >= *d) else {
            return events;
        };
        if !self.handling.missed_deadlines.contains(&deadline) {
            events.push(CaseEvent::Common(CommonEvent::DeadlineMissed { deadline }));
        }
        if let Detail::Petition(p) = &self.detail
            && !p.backlog
        {
            events.push(CaseEvent::Petition(PetitionEvent::BecameBacklog {
                deadline,
            }));
        }
        events
    }

    /// Whether the case is a petition that is backlog (积案): flagged at registration, or open
    /// past a deadline since.
    pub fn is_backlog(&self) -> bool {
        matches!(&self.detail, Detail::Petition(p) if p.backlog)
    }

    /// The deadline of the current step.
    pub fn deadline(&self) -> Option<Timestamp> {
        match &self.detail {
            Detail::Hazard(t) => t.deadline,
            Detail::Dispute(d) => d.deadline,
            Detail::Petition(p) => p.deadline,
        }
    }

    /// The step the deadline is for.
    pub fn current_step(&self) -> Option<&'static str> {
        match &self.detail {
            Detail::Hazard(t) => hazard::current_step(t),
            Detail::Dispute(d) => dispute::current_step(d),
            Detail::Petition(p) => petition::current_step(p),
        }
    }

    /// Whether the case is open past its deadline at `now`.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        !self.is_closed() && self.deadline().is_some_and(|d| now >= d)
    }

    /// For a closed case, whether every step finished within its deadline.
    pub fn closed_on_time(&self) -> Option<bool> {
        self.handling.closure.map(|c| c.on_time)
    }

    pub(crate) fn set_deadline(&mut self, deadline: Option<Timestamp>) {
        match &mut self.detail {
            Detail::Hazard(t) => t.deadline = deadline,
            Detail::Dispute(d) => d.deadline = deadline,
            Detail::Petition(p) => p.deadline = deadline,
        }
    }

    pub(crate) fn extendable(&self) -> Result<(), &'static str> {
        match &self.detail {
            Detail::Hazard(t) => hazard::extendable(t),
            Detail::Dispute(d) => dispute::extendable(d),
            Detail::Petition(p) => petition::extendable(p),
        }
    }

    pub(crate) fn reopenable(&self) -> Result<(), &'static str> {
        match &self.detail {
            Detail::Hazard(t) => hazard::reopenable(t),
            Detail::Dispute(d) => dispute::reopenable(d),
            Detail::Petition(p) => petition::reopenable(p),
        }
    }

    pub(crate) fn reopen_deadline(&self, policy: &DeadlinePolicy, now: Timestamp) -> Timestamp {
        match &self.detail {
            Detail::Hazard(_) => hazard::reopen_deadline(policy, now),
            Detail::Dispute(_) => dispute::reopen_deadline(policy, now),
            Detail::Petition(_) => petition::reopen_deadline(policy, now),
        }
    }

    pub(crate) fn reopened(&mut self, deadline: Timestamp) {
        match &mut self.detail {
            Detail::Hazard(t) => hazard::reopened(t, deadline),
            Detail::Dispute(d) => dispute::reopened(d, deadline),
            Detail::Petition(p) => petition::reopened(p, deadline),
        }
    }

    pub(crate) fn marked_duplicate(&mut self) {
        match &mut self.detail {
            Detail::Hazard(t) => hazard::marked_duplicate(t),
            Detail::Dispute(d) => dispute::marked_duplicate(d),
            Detail::Petition(p) => petition::marked_duplicate(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filing_body_names_its_kind_and_rejects_unknown_fields() {
        let body = json!({
            "kind": "hazard", "community": "qinghe", "title": "t",
            "category": "gas", "severity": "general", "source": "grid-worker"
        });
        let cmd = CaseCommand::parse_filing(body.clone()).unwrap();
        assert_eq!(cmd.kind(), CaseKind::Hazard);
        assert!(cmd.is_filing());

        let mut extra = body.clone();
        extra["colour"] = json!("red");
        let err = CaseCommand::parse_filing(extra).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("colour"));

        let mut missing = body.clone();
        missing.as_object_mut().unwrap().remove("title");
        let err = CaseCommand::parse_filing(missing).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("title"));

        let mut unknown_kind = body;
        unknown_kind["kind"] = json!("parking");
        let err = CaseCommand::parse_filing(unknown_kind).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("kind"));
    }

    #[test]
    fn events_round_trip_through_their_log_records() {
        let event = CaseEvent::Hazard(HazardEvent::Verified {
            severity: hazard::Severity::Major,
            responsible_party: "物业".to_owned(),
            note: None,
        });
        let (event_type, version, data) = event.to_record();
        assert_eq!(event_type, "hazard.verified");
        assert_eq!(
            CaseEvent::from_record(&event_type, version, &data).unwrap(),
            event
        );
        assert!(CaseEvent::from_record("hazard.exploded", 1, &data).is_err());
        assert!(CaseEvent::from_record(&event_type, 99, &data).is_err());
    }

    mod decoding {
        use proptest::prelude::*;

        use super::*;
        use crate::deadlines::DeadlinePolicy;

        /// Any JSON value, nested a few levels.
        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(|f| json!(f)),
                "\\PC{0,12}".prop_map(Value::from),
                prop::sample::select(vec![
                    "hazard",
                    "dispute",
                    "petition",
                    "qinghe",
                    "general",
                    "gas",
                    "visit",
                    "letter",
                    "applicant",
                    "2025-10-01",
                    "sha256:00",
                    "",
                ])
                .prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 24, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(
                        prop::sample::select(vec![
                            "kind",
                            "community",
                            "grid",
                            "title",
                            "category",
                            "severity",
                            "source",
                            "parties",
                            "petitioners",
                            "channel",
                            "petition_type",
                            "dispute_type",
                            "headcount",
                            "evidence",
                            "days",
                            "reason",
                            "unit",
                            "satisfaction",
                            "notice",
                            "due_on",
                            "case",
                            "of",
                            "x",
                        ]),
                        inner,
                        0..8,
                    )
                    .prop_map(|m| Value::Object(
                        m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                    )),
                ]
            })
        }

        fn every_action() -> Vec<&'static str> {
            let mut all: Vec<&'static str> =
                CaseKind::ALL.iter().flat_map(|k| k.actions()).collect();
            all.extend(crate::common::Action::ALL.iter().map(|a| a.as_str()));
            all
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            /// Whatever a client sends, decoding answers (a command or an error that says
            /// something) and deciding answers (events or a refusal that says something).
            #[test]
            fn any_body_decodes_or_is_refused_with_a_reason(
                body in json_value(),
                kind in prop::sample::select(CaseKind::ALL.to_vec()),
                action in prop::sample::select(every_action()),
                role in prop::sample::select(Role::ALL.to_vec()),
            ) {
                let policy = DeadlinePolicy::default();
                let ctx = Context {
                    role,
                    now: "2025-03-03T02:00:00Z".parse().unwrap(),
                    case_id: CaseId::default(),
                    policy: &policy,
                };
                let mut filing = body.clone();
                if let Value::Object(fields) = &mut filing {
                    fields.insert("kind".to_owned(), json!(kind.as_str()));
                }
                for parsed in [
                    CaseCommand::parse_filing(filing),
                    CaseCommand::parse_action(kind, action, body),
                ] {
                    match parsed {
                        Err(e) => prop_assert!(!e.message.is_empty()),
                        Ok(command) => {
                            if let Err(refusal) = command.decide(None, &ctx) {
                                prop_assert!(!refusal.to_string().is_empty());
                            }
                        }
                    }
                }
            }
        }
    }
}
