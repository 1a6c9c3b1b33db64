//! The table machinery every kind uses: rows of (from states, action, who, next state, guard),
//! the actions a person may take now, authorization, and the refusals, written once.
//!
//! The row's next state is the single source of where an action leads: `decide` checks (in debug
//! builds, and a test over every row of every kind) that the events it records take the case
//! there.

use std::fmt;

use jiff::Timestamp;

use crate::context::ActingFor;
use crate::deadlines::{DeadlinePolicy, ExtensionRule};
use crate::kind::{Action as _, Kind, Outcome, Row, Status as _};
use crate::person::Disclosure;
use crate::{CommunityId, Context, GridId, Refusal, Role, UnitId};

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

/// The roles the kind's table lets take `action` in some state.
pub fn roles_for<K: Kind>(action: &str) -> Vec<Role> {
    let mut roles: Vec<Role> = K::table()
        .iter()
        .filter(|row| row.action.as_str() == action)
        .flat_map(|row| row.who.iter().copied())
        .collect();
    roles.sort_unstable();
    roles.dedup();
    roles
}

/// The actions of the kind's table `role` may take now, acting for `acting_for`.
pub fn allowed_actions<K: Kind>(
    case: Option<&K>,
    role: Role,
    acting_for: ActingFor,
    now: Timestamp,
) -> Vec<&'static str> {
    open_rows(case, now)
        .filter(|row| row.who.contains(&role) && may_act_for::<K>(acting_for, row.action))
        .map(|row| row.action.as_str())
        .collect()
}

/// Whether someone acting for `acting_for` takes the table's `action` at all: the tenant's people
/// and the lead unit's take every action; a co-handling unit's take the ones each unit takes for
/// itself.
fn may_act_for<K: Kind>(acting_for: ActingFor, action: K::Action) -> bool {
    acting_for.leads() || (acting_for == ActingFor::CoHandlingUnit && K::each_units_own(action))
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
    if !may_act_for::<K>(acting_for, action) && role_has_a_row {
        return Err(unit_not_permitted(
            K::NAME,
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
            K::NAME,
            state_name(case),
            action.as_str(),
            allowed,
            reason,
        ));
    };
    if !row.who.contains(&ctx.role) {
        return Err(Refusal::RoleNotPermitted {
            kind: K::NAME,
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
        K::NAME,
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

/// A case's kind part as the actions every case has see it, whatever the kind: the hooks of
/// [`Kind`] that do not name the kind's own types.
pub trait AnyKind: fmt::Debug + Send + Sync {
    /// The kind's name.
    fn name(&self) -> &'static str;
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
    fn part_recordable(&self, unit: &UnitId) -> Result<(), String>;
    /// Whether `unit` may take now this action of the table that each unit takes for itself.
    fn unit_may(&self, action: &str, unit: &UnitId, now: Timestamp) -> bool;
    fn next_watch(&self) -> Option<Timestamp>;
    fn barred_unit(&self) -> Option<(&UnitId, &'static str)>;
    fn community(&self) -> &CommunityId;
    fn grid(&self) -> Option<&GridId>;
    fn relocate(&mut self, community: CommunityId, grid: Option<GridId>, address: Option<String>);
    fn title(&self) -> &str;
    fn description(&self) -> &str;
    fn category(&self) -> String;
    fn severity(&self) -> Option<&'static str>;
    fn channel(&self) -> Option<&'static str>;
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
    fn name(&self) -> &'static str {
        K::NAME
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

    fn part_recordable(&self, unit: &UnitId) -> Result<(), String> {
        Kind::part_recordable(self, unit)
    }

    fn unit_may(&self, action: &str, unit: &UnitId, now: Timestamp) -> bool {
        K::Action::ALL
            .iter()
            .find(|a| a.as_str() == action)
            .is_none_or(|a| !K::each_units_own(*a) || Kind::unit_may(self, *a, unit, now))
    }

    fn next_watch(&self) -> Option<Timestamp> {
        Kind::next_watch(self)
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
    fn relocate(&mut self, community: CommunityId, grid: Option<GridId>, address: Option<String>) {
        Kind::relocate(self, community, grid, address);
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
    fn channel(&self) -> Option<&'static str> {
        Kind::channel(self)
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
        allowed_actions(Some(self), role, acting_for, now)
    }
}
