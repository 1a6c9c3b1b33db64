//! The table machinery every kind uses: rows of (from states, action, who, next state, guard),
//! the actions a person may take now, authorization, and the refusals, written once.
//!
//! The row's next state is the single source of where an action leads: `decide` checks (in debug
//! builds, and a test over every row of every kind) that the events it records take the case
//! there.

use std::fmt;

use jiff::Timestamp;

use crate::context::ActingFor;
use crate::kind::{Action as _, Kind, Status as _};
use crate::{Context, Refusal, Role};

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
    fn admits(&self, case: Option<&K>, now: Timestamp) -> bool {
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

fn state_name<K: Kind>(case: Option<&K>) -> &'static str {
    case.map_or(K::NOT_FILED, |c| c.status().as_str())
}

/// The rows open on this case at `now`, whoever acts.
pub fn open_rows<K: Kind>(
    case: Option<&K>,
    now: Timestamp,
) -> impl Iterator<Item = &'static Row<K>> + '_ {
    K::table().iter().filter(move |row| row.admits(case, now))
}

/// The actions of the kind's table `role` may take now, acting for `acting_for`.
pub fn allowed_actions<K: Kind>(
    case: Option<&K>,
    role: Role,
    acting_for: ActingFor,
    now: Timestamp,
) -> Vec<&'static str> {
    if !acting_for.leads() {
        return Vec::new();
    }
    open_rows(case, now)
        .filter(|row| row.who.contains(&role))
        .map(|row| row.action.as_str())
        .collect()
}

/// Finds the row that lets the actor take `action` here and now, or says why none does.
pub fn authorize<K: Kind>(
    case: Option<&K>,
    action: K::Action,
    ctx: &Context<'_>,
    acting_for: ActingFor,
) -> Result<&'static Row<K>, Refusal> {
    let now = ctx.now;
    // A unit that does not lead the case takes none of its table's actions, whatever the state.
    let role_has_a_row = K::table()
        .iter()
        .any(|row| row.action == action && row.who.contains(&ctx.role));
    if !acting_for.leads() && role_has_a_row {
        return Err(unit_not_permitted(
            K::KIND.as_str(),
            state_name(case),
            action.as_str(),
            ctx,
            acting_for,
            Vec::new(),
        ));
    }
    let Some(row) = open_rows(case, now).find(|row| row.action == action) else {
        let status = case.map(K::status);
        let reason = K::table()
            .iter()
            .find(|row| row.action == action && row.from.contains(&status))
            .and_then(|row| row.guard.as_ref().map(|g| g.reason));
        let allowed = open_rows(case, now).map(|r| r.action.as_str()).collect();
        return Err(not_allowed_in_state(
            K::KIND.as_str(),
            state_name(case),
            action.as_str(),
            allowed,
            reason,
        ));
    };
    if !row.who.contains(&ctx.role) {
        return Err(Refusal::RoleNotPermitted {
            kind: K::KIND.as_str(),
            state: state_name(case),
            action: action.as_str().to_owned(),
            role: ctx.role,
            allowed: allowed_actions(case, ctx.role, acting_for, now),
        });
    }
    Ok(row)
}

/// Decides a command of the kind's table: authorizes it by the table, lets the kind check its
/// inputs and record its events, and (in debug builds) checks that the events lead where the
/// row says.
pub fn decide<K: Kind>(
    case: Option<&K>,
    command: &K::Command,
    ctx: &Context<'_>,
    acting_for: ActingFor,
) -> Result<Vec<K::Event>, Refusal> {
    let row = authorize(case, K::action(command), ctx, acting_for)?;
    let events = K::decide(case, command, ctx)?;
    debug_assert!(
        leads_where_the_row_says(row, case, &events),
        "{} {:?} --{}--> not {:?}",
        K::KIND.as_str(),
        case.map(K::status),
        row.action.as_str(),
        row.to
    );
    Ok(events)
}

/// Whether the events, applied to `before`, take the case where `row` leads.
pub fn leads_where_the_row_says<K: Kind>(
    row: &Row<K>,
    before: Option<&K>,
    events: &[K::Event],
) -> bool {
    let after = events
        .iter()
        .try_fold(before.cloned(), |case, e| K::evolve(case, e).map(Some));
    matches!(after, Ok(Some(after)) if row.leads_to(before, &after))
}

/// The refusal of an action the case's state does not allow.
pub(crate) fn not_allowed_in_state(
    kind: &'static str,
    state: &'static str,
    action: &str,
    allowed: Vec<&'static str>,
    reason: Option<&'static str>,
) -> Refusal {
    Refusal::NotAllowedInState {
        kind,
        state,
        action: action.to_owned(),
        allowed,
        reason,
    }
}

/// The refusal of an action the state allows the role, but not for the part the actor's unit
/// has in the case.
pub(crate) fn unit_not_permitted(
    kind: &'static str,
    state: &'static str,
    action: &str,
    ctx: &Context<'_>,
    acting_for: ActingFor,
    allowed: Vec<&'static str>,
) -> Refusal {
    Refusal::UnitNotPermitted {
        kind,
        state,
        action: action.to_owned(),
        role: ctx.role,
        acting_for: acting_for.as_str(),
        allowed,
    }
}
