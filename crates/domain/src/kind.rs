//! What a kind of case is to the machinery every case shares: its table, its commands, events and
//! state, and the hooks the common actions call (how it ended, whether its step can be extended,
//! where it is, which unit an event routes it to …).
//!
//! A kind is a module whose state type implements [`Kind`], plus one line in `case.rs`'s
//! registration. Nothing else in the domain names a kind.

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::ActingFor;
use crate::deadlines::{DeadlinePolicy, ExtensionRule};
use crate::person::{Disclosure, Personal};
use crate::table::{self, Row};
use crate::{CaseId, CaseKind, CommunityId, Context, GridId, Refusal, ReplayError, Role, UnitId};

/// A state of a kind's table.
pub trait Status: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    fn as_str(self) -> &'static str;
    /// Whether the case has ended in this state.
    fn is_end(self) -> bool;
}

/// An action of a kind's table.
pub trait Action: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// Every action, in table order.
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
}

/// How a closed case ended, as supervisors count it (化解率 = resolved / closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Resolved,
    NotResolved,
    /// Closed as a duplicate of another case: counted with that case, not on its own.
    Duplicate,
}

/// How a command refers to another case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseReference {
    /// A related case: it must exist.
    Related,
    /// The case this one duplicates: it must exist and not be a duplicate itself.
    Original,
}

/// A kind of case, implemented by the kind's state (`HazardTicket`, `Dispute`, `Petition`).
pub trait Kind:
    Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    const KIND: CaseKind;
    /// The name of the state before the case is filed, as a refusal says it.
    const NOT_FILED: &'static str = "not filed";

    type Status: Status;
    type Action: Action;
    /// A command of the kind's table, tagged `{"action": …, "input": …}`.
    type Command: Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync;
    /// An event of the kind, tagged `{"type": …, "data": …}`.
    type Event: Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync;

    /// The kind's table, row for row as the domain brief has it.
    fn table() -> &'static [Row<Self>];
    fn status(&self) -> Self::Status;
    fn action(command: &Self::Command) -> Self::Action;

    /// The events a command records, once the table has let the actor take it: the inputs are
    /// checked here.
    fn decide(
        case: Option<&Self>,
        command: &Self::Command,
        ctx: &Context<'_>,
    ) -> Result<Vec<Self::Event>, Refusal>;

    /// Applies one recorded event. Events are facts: this does not judge them again, it only
    /// refuses what cannot be replayed at all.
    fn evolve(case: Option<Self>, event: &Self::Event) -> Result<Self, ReplayError>;

    // ---- what every case shows ------------------------------------------------------------

    fn community(&self) -> &CommunityId;
    fn grid(&self) -> Option<&GridId>;
    fn title(&self) -> &str;
    fn description(&self) -> &str;
    /// The category in the kind's taxonomy, as its JSON name.
    fn category(&self) -> String;
    /// A hazard's severity; other kinds have none.
    fn severity(&self) -> Option<&'static str> {
        None
    }
    /// The deadline of the current step.
    fn deadline(&self) -> Option<Timestamp>;
    fn set_deadline(&mut self, deadline: Option<Timestamp>);
    /// The step the deadline is for.
    fn current_step(&self) -> Option<&'static str>;
    /// How the case ended, once it has.
    fn outcome(&self) -> Option<Outcome>;

    // ---- hooks of the actions every case has ------------------------------------------------

    /// Who routes the case to units (reassign, co-handling units, reopen).
    fn routers() -> &'static [Role];
    /// Who works the step and asks for its extension.
    fn step_workers() -> &'static [Role];
    /// The policy's limit on extending a step of this kind.
    fn extension_rule(policy: &DeadlinePolicy) -> ExtensionRule;
    /// Whether the current step's deadline may be extended, or why not.
    fn extendable(&self) -> Result<(), &'static str>;
    /// Whether a closed case may be reopened after a dissatisfied return visit, or why not.
    fn reopenable(&self) -> Result<(), &'static str>;
    /// The deadline of the step a reopened case goes back to.
    fn reopen_deadline(policy: &DeadlinePolicy, now: Timestamp) -> Timestamp;
    /// Applies a recorded reopening.
    fn reopened(&mut self, deadline: Timestamp);
    /// Applies a recorded "marked duplicate".
    fn marked_duplicate(&mut self);
    /// Who sees the people of the case how.
    fn disclosure(&self, role: Role, unit: Option<&UnitId>) -> Disclosure;
    /// A unit that may never lead or co-handle the case, with the reason: the unit a report
    /// or accusation names.
    fn barred_unit(&self) -> Option<(&UnitId, &'static str)> {
        None
    }
    /// Whether the case is backlog (积案).
    fn is_backlog(&self) -> bool {
        false
    }
    /// What the kind records, besides the deadline missed, when the case is found open past
    /// `deadline`.
    fn overdue_events(&self, _deadline: Timestamp) -> Vec<Self::Event> {
        Vec::new()
    }

    // ---- hooks on events and commands -------------------------------------------------------

    /// The unit an event makes the lead unit (主办), if any.
    fn assigned_unit(event: &Self::Event) -> Option<&UnitId>;
    /// The case an event closes this one as a duplicate of, if any.
    fn duplicate_of(_event: &Self::Event) -> Option<CaseId> {
        None
    }
    /// The people an event names, to seal before the commit is written.
    fn persons_mut(_event: &mut Self::Event) -> Vec<&mut Personal> {
        Vec::new()
    }
    fn persons(_event: &Self::Event) -> Vec<&Personal> {
        Vec::new()
    }
    /// Another case a command names, with its field.
    fn names_case(_command: &Self::Command) -> Option<(CaseId, &'static str, CaseReference)> {
        None
    }
    /// A filing by a handler or mediator that routes the case nowhere goes to their own unit.
    fn route_to_own_unit(_command: &mut Self::Command, _role: Role, _unit: &UnitId) {}
}

/// The JSON name of a value that serializes as a string (a category, a type): `e-bike-charging`.
pub(crate) fn json_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A case's kind part as the actions every case has see it, whatever the kind: the hooks of
/// [`Kind`] that do not name the kind's own types.
pub trait AnyKind: fmt::Debug + Send + Sync {
    fn kind(&self) -> CaseKind;
    fn status_name(&self) -> &'static str;
    fn is_end(&self) -> bool;
    fn deadline(&self) -> Option<Timestamp>;
    fn set_deadline(&mut self, deadline: Option<Timestamp>);
    fn routers(&self) -> &'static [Role];
    fn step_workers(&self) -> &'static [Role];
    fn extension_rule(&self, policy: &DeadlinePolicy) -> ExtensionRule;
    fn extendable(&self) -> Result<(), &'static str>;
    fn reopenable(&self) -> Result<(), &'static str>;
    fn reopen_deadline(&self, policy: &DeadlinePolicy, now: Timestamp) -> Timestamp;
    fn reopened(&mut self, deadline: Timestamp);
    fn marked_duplicate(&mut self);
    fn barred_unit(&self) -> Option<(&UnitId, &'static str)>;
    fn community(&self) -> &CommunityId;
    fn grid(&self) -> Option<&GridId>;
    fn title(&self) -> &str;
    fn description(&self) -> &str;
    fn category(&self) -> String;
    fn severity(&self) -> Option<&'static str>;
    fn current_step(&self) -> Option<&'static str>;
    fn outcome(&self) -> Option<Outcome>;
    fn disclosure(&self, role: Role, unit: Option<&UnitId>) -> Disclosure;
    fn is_backlog(&self) -> bool;
    /// The actions of the kind's table `role` may take now, acting for `acting_for`.
    fn allowed_actions(
        &self,
        role: Role,
        acting_for: ActingFor,
        now: Timestamp,
    ) -> Vec<&'static str>;
}

impl<K: Kind> AnyKind for K {
    fn kind(&self) -> CaseKind {
        K::KIND
    }

    fn status_name(&self) -> &'static str {
        self.status().as_str()
    }

    fn is_end(&self) -> bool {
        self.status().is_end()
    }

    fn deadline(&self) -> Option<Timestamp> {
        Kind::deadline(self)
    }

    fn set_deadline(&mut self, deadline: Option<Timestamp>) {
        Kind::set_deadline(self, deadline);
    }

    fn routers(&self) -> &'static [Role] {
        K::routers()
    }

    fn step_workers(&self) -> &'static [Role] {
        K::step_workers()
    }

    fn extension_rule(&self, policy: &DeadlinePolicy) -> ExtensionRule {
        K::extension_rule(policy)
    }

    fn extendable(&self) -> Result<(), &'static str> {
        Kind::extendable(self)
    }

    fn reopenable(&self) -> Result<(), &'static str> {
        Kind::reopenable(self)
    }

    fn reopen_deadline(&self, policy: &DeadlinePolicy, now: Timestamp) -> Timestamp {
        K::reopen_deadline(policy, now)
    }

    fn reopened(&mut self, deadline: Timestamp) {
        Kind::reopened(self, deadline);
    }

    fn marked_duplicate(&mut self) {
        Kind::marked_duplicate(self);
    }

    fn barred_unit(&self) -> Option<(&UnitId, &'static str)> {
        Kind::barred_unit(self)
    }

    fn community(&self) -> &CommunityId {
        Kind::community(self)
    }

    fn grid(&self) -> Option<&GridId> {
        Kind::grid(self)
    }

    fn title(&self) -> &str {
        Kind::title(self)
    }

    fn description(&self) -> &str {
        Kind::description(self)
    }

    fn category(&self) -> String {
        Kind::category(self)
    }

    fn severity(&self) -> Option<&'static str> {
        Kind::severity(self)
    }

    fn current_step(&self) -> Option<&'static str> {
        Kind::current_step(self)
    }

    fn outcome(&self) -> Option<Outcome> {
        Kind::outcome(self)
    }

    fn disclosure(&self, role: Role, unit: Option<&UnitId>) -> Disclosure {
        Kind::disclosure(self, role, unit)
    }

    fn is_backlog(&self) -> bool {
        Kind::is_backlog(self)
    }

    fn allowed_actions(
        &self,
        role: Role,
        acting_for: ActingFor,
        now: Timestamp,
    ) -> Vec<&'static str> {
        table::allowed_actions(Some(self), role, acting_for, now)
    }
}
