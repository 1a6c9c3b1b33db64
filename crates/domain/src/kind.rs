//! What a kind of case is to the machinery every case shares: its table, its commands, events and
//! state, and the hooks the common actions call (how it ended, whether its step can be extended,
//! where it is, which unit an event routes it to …).
//!
//! A kind is a module whose state type implements [`Kind`], plus one line in `case.rs`'s
//! registration. Nothing else in the domain names a kind. A table is data: rows of (from
//! states, action, who, next state, guard); `table.rs` reads them.

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::deadlines::{DeadlinePolicy, ExtensionRule};
use crate::person::{Disclosure, Personal};
use crate::{
    CaseId, CategoryId, CommunityId, Context, GridId, Named, Refusal, ReplayError, Role, UnitId,
};

/// A state of a kind's table.
pub trait Status: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// Every state, in the order cases pass through them.
    const ALL: &'static [Self];
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
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
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
    /// A case that arose from this one: it must exist and be of one of these kinds.
    ArisenFrom(&'static [&'static str]),
}

/// A kind of case, implemented by the kind's state (`HazardTicket`, `Dispute`, `Petition`).
pub trait Kind:
    Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The kind's name, as the log, URLs and refusals say it: `hazard`. The registration's
    /// variant is this name in CamelCase.
    const NAME: &'static str;
    /// The prefix of its case numbers: `HZ`.
    const NUMBER_PREFIX: &'static str;
    /// The name of the state before the case is filed, as a refusal says it.
    const NOT_FILED: &'static str = "not filed";
    /// The kind's categories as Docket ships them (slug, name): a tenant's directory starts
    /// with them.
    const CATEGORIES: &'static [(&'static str, &'static str)];

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
    /// Moves the case to another community and grid (and address, when given).
    fn relocate(&mut self, community: CommunityId, grid: Option<GridId>, address: Option<String>);
    fn title(&self) -> &str;
    fn description(&self) -> &str;
    /// The category in the kind's taxonomy, as its JSON name.
    fn category(&self) -> String;
    /// A hazard's severity; other kinds have none.
    fn severity(&self) -> Option<&'static str> {
        None
    }
    /// How the case came in (a petition's or a livelihood request's channel); other kinds have
    /// none. Figures are sliced by it.
    fn channel(&self) -> Option<&'static str> {
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
    /// What the kind's own limits, apart from the current step's deadline, make the deadline
    /// watch record at `now`, once each (a unit's check-in missed).
    fn watched_events(&self, _now: Timestamp) -> Vec<Self::Event> {
        Vec::new()
    }
    /// When the earliest of those limits passes.
    fn next_watch(&self) -> Option<Timestamp> {
        None
    }
    /// Whether the co-handling units' people take this action of the table too, each for its
    /// own unit (a check-in); otherwise only the lead unit's people do.
    fn each_units_own(_action: Self::Action) -> bool {
        false
    }
    /// Whether `unit` may take now the table's `action` that each unit takes for itself (a
    /// check-in: its dispatch is waiting for one), so that a unit is not offered what would be
    /// refused for it.
    fn unit_may(&self, _action: Self::Action, _unit: &UnitId, _now: Timestamp) -> bool {
        true
    }
    /// The lead and co-handling units, when the kind keeps them itself (a livelihood request's
    /// dispatches): the case's handling follows them after each of its events.
    fn units(&self) -> Option<(Option<&UnitId>, Vec<UnitId>)> {
        None
    }
    /// Whether `unit`, which has a part in the case, may record its part now, or why not.
    fn part_recordable(&self, _unit: &UnitId) -> Result<(), String> {
        Ok(())
    }

    // ---- hooks on events and commands -------------------------------------------------------

    /// The unit an event makes the lead unit (主办), if any.
    fn assigned_unit(event: &Self::Event) -> Option<&UnitId>;
    /// The case an event closes this one as a duplicate of, if any.
    fn duplicate_of(_event: &Self::Event) -> Option<CaseId> {
        None
    }
    /// Another case an event links this one to, both ways.
    fn linked_case(_event: &Self::Event) -> Option<CaseId> {
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
    /// What a command names from the tenant's directory, field by field.
    fn named(_command: &Self::Command) -> Vec<(&'static str, Named<'_>)> {
        Vec::new()
    }
    /// A filing by a handler or mediator that routes the case nowhere goes to their own unit.
    fn route_to_own_unit(_command: &mut Self::Command, _role: Role, _unit: &UnitId) {}
}

// ---- the shape of a table ---------------------------------------------------------------------

/// One row of a kind's table. `from: None` is a case not yet filed.
pub struct Row<K: Kind> {
    pub from: &'static [Option<K::Status>],
    pub action: K::Action,
    pub who: &'static [Role],
    pub to: Next<K::Status>,
    /// A condition beyond the state, with the reason a refusal gives when it does not hold.
    pub guard: Option<Guard<K>>,
}

impl<K: Kind> fmt::Debug for Row<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Row")
            .field("from", &self.from)
            .field("action", &self.action)
            .field("who", &self.who)
            .field("to", &self.to)
            .field("guarded", &self.guard.as_ref().map(|g| g.reason))
            .finish()
    }
}

/// Where a row leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next<S> {
    To(S),
    /// The state stays as it is (a session recorded, a review of a risk).
    Unchanged,
}

/// A condition a row puts on the case at the time of the command.
pub struct Guard<K> {
    pub holds: fn(&K, Timestamp) -> bool,
    pub reason: &'static str,
}

impl<K> fmt::Debug for Guard<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("reason", &self.reason)
            .finish()
    }
}

impl<K: Kind> Row<K> {
    pub(crate) fn admits(&self, case: Option<&K>, now: Timestamp) -> bool {
        self.from.contains(&case.map(K::status))
            && match (&self.guard, case) {
                (Some(guard), Some(c)) => (guard.holds)(c, now),
                (Some(_), None) | (None, _) => true,
            }
    }

    /// Whether `after` is where this row leads from `before`.
    pub fn leads_to(&self, before: Option<&K>, after: &K) -> bool {
        match self.to {
            Next::To(status) => after.status() == status,
            Next::Unchanged => before.map(K::status) == Some(after.status()),
        }
    }
}

/// The case a replayed event of a kind applies to: a filing starts a case (`Ok(None)`: the caller
/// builds it from the filing), anything else continues the case filed. A second filing, or an
/// event before any, cannot be replayed; `refusals` says each of those as the kind words it
/// ("reported twice", "event before the ticket was reported").
pub(crate) fn continued<K>(
    kind: &'static str,
    case: Option<K>,
    is_filing: bool,
    (twice, before): (&'static str, &'static str),
) -> Result<Option<K>, ReplayError> {
    match (case, is_filing) {
        (None, true) => Ok(None),
        (Some(_), true) => Err(ReplayError::new(kind, twice)),
        (None, false) => Err(ReplayError::new(kind, before)),
        (Some(case), false) => Ok(Some(case)),
    }
}

/// What a filing names: its community, grid (in that community), category, and the units it
/// gives.
pub(crate) fn filed_names<'a, const N: usize>(
    community: &'a CommunityId,
    grid: Option<&'a GridId>,
    kind: &'static str,
    (category_field, category): (&'static str, &'a CategoryId),
    units: [(&'static str, Option<&'a UnitId>); N],
) -> Vec<(&'static str, Named<'a>)> {
    let mut named = vec![("community", Named::Community(community))];
    if let Some(grid) = grid {
        named.push(("grid", Named::Grid(grid, community)));
    }
    named.push((category_field, Named::Category(kind, category)));
    named.extend(
        units
            .into_iter()
            .filter_map(|(field, unit)| unit.map(|u| (field, Named::Unit(u)))),
    );
    named
}

/// What every kind's impl of [`Kind`] says alike: its name is the module's `KIND`, its states
/// and actions its `Status` and `Action`, its table its `TABLE`, its decisions and replays its
/// `record` and `evolve`, and its state has the fields every case shows (`status`, `community`,
/// `grid`, `title`, `description`, `deadline`).
macro_rules! kind_alike {
    () => {
        const NAME: &'static str = KIND;

        type Status = Status;
        type Action = Action;

        fn table() -> &'static [$crate::kind::Row<Self>] {
            TABLE
        }

        fn status(&self) -> Self::Status {
            self.status
        }

        fn action(command: &Self::Command) -> Self::Action {
            command.action()
        }

        fn decide(
            case: Option<&Self>,
            command: &Self::Command,
            ctx: &$crate::Context<'_>,
        ) -> Result<Vec<Self::Event>, $crate::Refusal> {
            record(case, command, ctx)
        }

        fn evolve(case: Option<Self>, event: &Self::Event) -> Result<Self, $crate::ReplayError> {
            evolve(case, event)
        }

        fn community(&self) -> &$crate::CommunityId {
            &self.community
        }

        fn grid(&self) -> Option<&$crate::GridId> {
            self.grid.as_ref()
        }

        fn relocate(
            &mut self,
            community: $crate::CommunityId,
            grid: Option<$crate::GridId>,
            address: Option<String>,
        ) {
            self.community = community;
            self.grid = grid;
            if address.is_some() {
                self.address = address;
            }
        }

        fn title(&self) -> &str {
            &self.title
        }

        fn description(&self) -> &str {
            &self.description
        }

        fn deadline(&self) -> Option<jiff::Timestamp> {
            self.deadline
        }

        fn set_deadline(&mut self, deadline: Option<jiff::Timestamp>) {
            self.deadline = deadline;
        }
    };
}
pub(crate) use kind_alike;

/// Makes a kind module's `Status` and `Action` enums (each with `as_str`, and `is_end` or `ALL`)
/// the table's states and actions.
macro_rules! states_and_actions {
    () => {
        impl $crate::kind::Status for Status {
            const ALL: &'static [Status] = &Status::ALL;

            fn as_str(self) -> &'static str {
                Status::as_str(self)
            }

            fn is_end(self) -> bool {
                Status::is_end(self)
            }
        }

        impl $crate::kind::Action for Action {
            const ALL: &'static [Action] = &Action::ALL;

            fn as_str(self) -> &'static str {
                Action::as_str(self)
            }
        }
    };
}
pub(crate) use states_and_actions;
