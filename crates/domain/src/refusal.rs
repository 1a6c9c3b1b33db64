//! What the domain answers when it will not do something: a refusal of a command, a body that
//! makes no command, recorded events that cannot be read or replayed.

use serde::Serialize;

use crate::Role;

/// The case refuses a command. Nothing is recorded. This is a verdict on the request, not a failure
/// of the system: the store being down is a different type in the layers that do I/O.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum Refusal {
    /// The action is not one the case's current state allows.
    #[error(
        "{kind} is {state}: {action} is not allowed; allowed here: {}",
        list(allowed)
    )]
    NotAllowedInState {
        kind: &'static str,
        state: &'static str,
        action: String,
        /// Every action the state allows, whoever may take it.
        allowed: Vec<&'static str>,
        /// Why, when the state alone does not tell (a guard such as "general hazards only").
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'static str>,
    },
    /// The state allows the action, but not for this role.
    #[error(
        "{kind} is {state}: a {role} may not {action}; allowed for a {role}: {}",
        list(allowed)
    )]
    RoleNotPermitted {
        kind: &'static str,
        state: &'static str,
        action: String,
        role: Role,
        /// The actions this role may take here.
        allowed: Vec<&'static str>,
    },
    /// The state allows the action to the role, but only for the lead unit (主办): the actor's
    /// unit co-handles the case (协办) or has no part in it.
    #[error(
        "{kind} is {state}: {action} is for the lead unit's people, and this {role} acts for {acting_for}; allowed for them: {}",
        list(allowed)
    )]
    UnitNotPermitted {
        kind: &'static str,
        state: &'static str,
        action: String,
        role: Role,
        /// The part the actor's unit has in the case, in words.
        acting_for: &'static str,
        /// The actions the actor may take here.
        allowed: Vec<&'static str>,
    },
    /// The command carries a value the rules do not accept.
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

fn list(actions: &[&str]) -> String {
    if actions.is_empty() {
        "none".to_owned()
    } else {
        actions.join(", ")
    }
}

impl Refusal {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Refusal::InvalidField {
            field,
            reason: reason.into(),
        }
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
    /// Reads an action's body (an object; an empty body is an empty object) as the command
    /// tagged `{"action", "input"}`.
    pub(crate) fn parse_action<T: serde::de::DeserializeOwned>(
        action: &str,
        body: serde_json::Value,
    ) -> Result<T, InvalidInput> {
        let input = match body {
            serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::new()),
            obj @ serde_json::Value::Object(_) => obj,
            _ => {
                return Err(InvalidInput {
                    field: None,
                    message: "the body must be a JSON object".to_owned(),
                });
            }
        };
        Self::parse(serde_json::json!({ "action": action, "input": input }))
    }

    /// Reads a tagged command (`{"action", "input"}`), naming the field at fault by its path
    /// within the input: `parties`, `parties[0].phone`, `category`.
    fn parse<T: serde::de::DeserializeOwned>(tagged: serde_json::Value) -> Result<T, InvalidInput> {
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

/// A recorded event whose type or data this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read event {event_type} v{schema_version}: {reason}")]
pub struct UnknownEvent {
    pub event_type: String,
    pub schema_version: u32,
    pub reason: String,
}
