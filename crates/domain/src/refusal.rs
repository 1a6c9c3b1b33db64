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
