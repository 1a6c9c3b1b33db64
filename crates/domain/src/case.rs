//! One surface over every kind of case. Each kind is a module with its own table, commands,
//! events and state; this file routes to it, so a new kind is a new module plus one arm per match.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::deadlines::DeadlinePolicy;
use crate::hazard::{self, HazardCommand, HazardEvent, HazardTicket};
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
}

impl CaseKind {
    pub const ALL: [CaseKind; 1] = [CaseKind::Hazard];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Hazard => "hazard",
        }
    }

    /// The prefix of the human case number.
    pub fn number_prefix(self) -> &'static str {
        match self {
            CaseKind::Hazard => "HZ",
        }
    }

    /// The action that files a case of this kind.
    pub fn filing_action(self) -> &'static str {
        match self {
            CaseKind::Hazard => hazard::Action::Report.as_str(),
        }
    }

    /// Every action name this kind's table knows.
    pub fn actions(self) -> Vec<&'static str> {
        match self {
            CaseKind::Hazard => hazard::Action::ALL.iter().map(|a| a.as_str()).collect(),
        }
    }

    /// The actions `role` may take to file a case of this kind.
    pub fn filing_allowed(self, role: Role) -> bool {
        match self {
            CaseKind::Hazard => hazard::allowed_actions(None, role).contains(&self.filing_action()),
        }
    }

    /// Whether any kind knows an action of this name.
    pub fn is_known_action(name: &str) -> bool {
        CaseKind::ALL.iter().any(|k| k.actions().contains(&name))
    }
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
    fn from_serde(err: serde_json::Error) -> Self {
        let message = err.to_string();
        // serde names the field in back-quotes: "missing field `title`", "unknown field `x`, ...".
        let field = message
            .split('`')
            .nth(1)
            .filter(|_| message.contains("field `"))
            .map(str::to_owned);
        InvalidInput { field, message }
    }
}

/// A command to some case, of some kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CaseCommand {
    Hazard(HazardCommand),
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
        match kind {
            CaseKind::Hazard => serde_json::from_value(tagged)
                .map(CaseCommand::Hazard)
                .map_err(InvalidInput::from_serde),
        }
    }

    pub fn kind(&self) -> CaseKind {
        match self {
            CaseCommand::Hazard(_) => CaseKind::Hazard,
        }
    }

    pub fn action(&self) -> &'static str {
        match self {
            CaseCommand::Hazard(c) => c.action().as_str(),
        }
    }

    pub fn is_filing(&self) -> bool {
        self.action() == self.kind().filing_action()
    }

    /// Decides the command against the case (`None`: not filed yet).
    pub fn decide(
        &self,
        state: Option<&CaseState>,
        ctx: &Context<'_>,
    ) -> Result<Vec<CaseEvent>, Refusal> {
        match (self, state) {
            (CaseCommand::Hazard(cmd), None) => hazard::decide(None, cmd, ctx),
            (CaseCommand::Hazard(cmd), Some(CaseState::Hazard(t))) => {
                hazard::decide(Some(t), cmd, ctx)
            }
        }
        .map(|events| events.into_iter().map(CaseEvent::Hazard).collect())
    }
}

/// An event of some case. On the log it is a type name (`hazard.reported`), a schema version and
/// a JSON object.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseEvent {
    Hazard(HazardEvent),
}

/// The schema version every event type is at now.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// A recorded event whose type or data this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read event {event_type} v{schema_version}: {reason}")]
pub struct UnknownEvent {
    pub event_type: String,
    pub schema_version: u32,
    pub reason: String,
}

impl CaseEvent {
    /// The type name, schema version and data as they go on the log.
    pub fn to_record(&self) -> (String, u32, Value) {
        let (kind, tagged) = match self {
            CaseEvent::Hazard(e) => (CaseKind::Hazard, serde_json::to_value(e)),
        };
        let tagged = tagged.expect("events serialize to JSON");
        let name = tagged["type"]
            .as_str()
            .expect("events are tagged with type");
        (
            format!("{kind}.{name}"),
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
        let (kind, name) = event_type
            .split_once('.')
            .ok_or_else(|| unknown("no kind prefix".to_owned()))?;
        let kind: CaseKind = kind.parse().map_err(|e: InvalidInput| unknown(e.message))?;
        let tagged = json!({ "type": name, "data": data });
        match kind {
            CaseKind::Hazard => serde_json::from_value(tagged)
                .map(CaseEvent::Hazard)
                .map_err(|e| unknown(e.to_string())),
        }
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

/// A case as its events have made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CaseState {
    Hazard(HazardTicket),
}

impl CaseState {
    /// Folds one event into the state (`None`: before the first event).
    pub fn evolve(state: Option<CaseState>, event: &CaseEvent) -> Result<CaseState, ReplayError> {
        match (state, event) {
            (None, CaseEvent::Hazard(e)) => hazard::evolve(None, e).map(CaseState::Hazard),
            (Some(CaseState::Hazard(t)), CaseEvent::Hazard(e)) => {
                hazard::evolve(Some(t), e).map(CaseState::Hazard)
            }
        }
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
        match self {
            CaseState::Hazard(_) => CaseKind::Hazard,
        }
    }

    pub fn status(&self) -> &'static str {
        match self {
            CaseState::Hazard(t) => t.status.as_str(),
        }
    }

    /// Whether the case has reached an end state.
    pub fn is_closed(&self) -> bool {
        match self {
            CaseState::Hazard(t) => t.status.is_end(),
        }
    }

    pub fn allowed_actions(&self, role: Role) -> Vec<&'static str> {
        match self {
            CaseState::Hazard(t) => hazard::allowed_actions(Some(t), role),
        }
    }

    pub fn community(&self) -> &CommunityId {
        match self {
            CaseState::Hazard(t) => &t.community,
        }
    }

    pub fn grid(&self) -> Option<&GridId> {
        match self {
            CaseState::Hazard(t) => t.grid.as_ref(),
        }
    }

    pub fn title(&self) -> &str {
        match self {
            CaseState::Hazard(t) => &t.title,
        }
    }

    /// The deadline of the current step.
    pub fn deadline(&self) -> Option<Timestamp> {
        match self {
            CaseState::Hazard(t) => t.deadline,
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
}
