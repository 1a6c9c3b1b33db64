//! What a decision may look at besides the case and the command: who acts, for which unit, and
//! when.

use std::fmt;

use jiff::Timestamp;

use crate::deadlines::DeadlinePolicy;
use crate::{CaseId, CategoryId, CommunityId, GridId, Refusal, Role, UnitId};

#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub role: Role,
    /// The unit the actor works for (a handler's 责任单位, a mediator's room), as the token says.
    pub unit: Option<&'a UnitId>,
    /// The grids a grid worker works in, as the token says.
    pub grids: &'a [GridId],
    pub now: Timestamp,
    /// The case the command is for (a filing's new id).
    pub case_id: CaseId,
    /// The tenant's deadline policy.
    pub policy: &'a DeadlinePolicy,
    /// The tenant's directory, which every name a command gives must be in; none: names are
    /// not checked (a decision replayed or tested on its own).
    pub directory: Option<&'a dyn DirectoryLookup>,
}

/// An entry of the tenant's directory that a command names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named<'a> {
    Community(&'a CommunityId),
    /// A grid, which must lie in the community the command names.
    Grid(&'a GridId, &'a CommunityId),
    Unit(&'a UnitId),
    /// A unit of the tenant's coordinated response network (一呼百应).
    NetworkUnit(&'a UnitId),
    /// A category of the taxonomy of the kind of this name.
    Category(&'static str, &'a CategoryId),
}

/// The tenant's directory as a decision sees it.
pub trait DirectoryLookup: fmt::Debug + Sync {
    /// Whether the entry named is in the directory and in service; a refusal names `field`.
    fn check(&self, field: &'static str, named: Named<'_>) -> Result<(), Refusal>;
    /// The community's default mediation room: where a dispute registered there without one
    /// goes.
    fn mediation_room(&self, community: &CommunityId) -> Option<&UnitId>;
    /// The community's default intake unit: where a hazard reported there without a unit goes.
    fn intake_unit(&self, community: &CommunityId) -> Option<&UnitId>;
}

impl<'a> Context<'a> {
    /// A context for `role` acting without a unit or grids.
    pub fn new(role: Role, now: Timestamp, case_id: CaseId, policy: &'a DeadlinePolicy) -> Self {
        Context {
            role,
            unit: None,
            grids: &[],
            now,
            case_id,
            policy,
            directory: None,
        }
    }

    /// The same context, checking names against `directory`.
    pub fn with_directory(self, directory: &'a dyn DirectoryLookup) -> Self {
        Context {
            directory: Some(directory),
            ..self
        }
    }

    /// Checks what a command names against the directory, if there is one.
    pub(crate) fn check_names(&self, named: &[(&'static str, Named<'_>)]) -> Result<(), Refusal> {
        let Some(directory) = self.directory else {
            return Ok(());
        };
        named
            .iter()
            .try_for_each(|(field, named)| directory.check(field, *named))
    }

    /// The same context, for a person of `unit`.
    pub fn of_unit(self, unit: Option<&'a UnitId>) -> Self {
        Context { unit, ..self }
    }

    /// The same context, for a person working in `grids`.
    pub fn in_grids(self, grids: &'a [GridId]) -> Self {
        Context { grids, ..self }
    }

    /// For whom the actor acts on a case led by `lead` with these co-handling units.
    pub fn acting_for(&self, lead: Option<&UnitId>, co_handlers: &[UnitId]) -> ActingFor {
        ActingFor::of(self.role, self.unit, lead, co_handlers)
    }
}

/// For whom a person acts on a case: handlers and mediators act for their unit, by the part it
/// has in the case; everyone else acts for the tenant, within their reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActingFor {
    /// Supervisors, petition officers, grid workers.
    Tenant,
    /// The unit that leads the case (主办).
    LeadUnit,
    /// A unit that assists on it (协办).
    CoHandlingUnit,
    /// A unit with no part in the case.
    OtherUnit,
}

impl ActingFor {
    /// For whom a person of `role` and `unit` acts on a case led by `lead` with these
    /// co-handling units.
    pub fn of(
        role: Role,
        unit: Option<&UnitId>,
        lead: Option<&UnitId>,
        co_handlers: &[UnitId],
    ) -> ActingFor {
        if !role.acts_for_a_unit() {
            return ActingFor::Tenant;
        }
        match unit {
            Some(unit) if lead == Some(unit) => ActingFor::LeadUnit,
            Some(unit) if co_handlers.contains(unit) => ActingFor::CoHandlingUnit,
            Some(_) | None => ActingFor::OtherUnit,
        }
    }

    /// As a refusal names it.
    pub fn as_str(self) -> &'static str {
        match self {
            ActingFor::Tenant => "the tenant",
            ActingFor::LeadUnit => "the lead unit",
            ActingFor::CoHandlingUnit => "a co-handling unit",
            ActingFor::OtherUnit => "a unit with no part in the case",
        }
    }

    /// Whether the actor may take the actions of the case's own table: the tenant's people and
    /// the lead unit's.
    pub fn leads(self) -> bool {
        match self {
            ActingFor::Tenant | ActingFor::LeadUnit => true,
            ActingFor::CoHandlingUnit | ActingFor::OtherUnit => false,
        }
    }
}
