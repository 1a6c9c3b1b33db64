//! What every case has beside its own table: notes and evidence, the lead unit and co-handling
//! units (主办, 协办) and the parts they record, supervision notices (督办), deadline extensions,
//! links and duplicates, return visits (回访) and reopening, and how it closed.
//!
//! Like the kinds' tables, this is a table (action, open or closed, who, which units, guard) read
//! by both `decide` and `allowed_actions`. It sees the case's kind through [`AnyKind`] only, so it
//! knows no kind by name.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::context::ActingFor;
use crate::evidence::{
    Evidence, MAX_SHORT_TEXT, MAX_TEXT, check_evidence, optional_text, required_text,
};
pub use crate::kind::Outcome;
use crate::table::{AnyKind, not_allowed_in_state, unit_not_permitted};
use crate::{CaseId, CommunityId, Context, GridId, Named, Refusal, ReplayError, Role, UnitId};

/// 满意 / 基本满意 / 不满意.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::Satisfaction)]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    Satisfied,
    BasicallySatisfied,
    Dissatisfied,
}

/// The actions every case has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    AddNote,
    AttachEvidence,
    RecordPart,
    Reassign,
    Relocate,
    AddCoHandler,
    RemoveCoHandler,
    Supervise,
    AnswerSupervision,
    RequestExtension,
    ApproveExtension,
    RefuseExtension,
    Link,
    MarkDuplicate,
    ReturnVisit,
    Reopen,
}

impl Action {
    pub const ALL: [Action; 16] = [
        Action::AddNote,
        Action::AttachEvidence,
        Action::RecordPart,
        Action::Reassign,
        Action::Relocate,
        Action::AddCoHandler,
        Action::RemoveCoHandler,
        Action::Supervise,
        Action::AnswerSupervision,
        Action::RequestExtension,
        Action::ApproveExtension,
        Action::RefuseExtension,
        Action::Link,
        Action::MarkDuplicate,
        Action::ReturnVisit,
        Action::Reopen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::AddNote => "add-note",
            Action::AttachEvidence => "attach-evidence",
            Action::RecordPart => "record-part",
            Action::Reassign => "reassign",
            Action::Relocate => "relocate",
            Action::AddCoHandler => "add-co-handler",
            Action::RemoveCoHandler => "remove-co-handler",
            Action::Supervise => "supervise",
            Action::AnswerSupervision => "answer-supervision",
            Action::RequestExtension => "request-extension",
            Action::ApproveExtension => "approve-extension",
            Action::RefuseExtension => "refuse-extension",
            Action::Link => "link",
            Action::MarkDuplicate => "mark-duplicate",
            Action::ReturnVisit => "return-visit",
            Action::Reopen => "reopen",
        }
    }
}

/// A case as the common actions see it: its kind's part through the kind's hooks, and the part
/// every case has.
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    pub kind: &'a dyn AnyKind,
    pub handling: &'a Handling,
}

impl Case<'_> {
    fn is_closed(&self) -> bool {
        self.kind.is_end()
    }
}

/// Whether a row applies to open cases, to closed ones, or to both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Open,
    Closed,
    Any,
}

impl Phase {
    fn admits(self, closed: bool) -> bool {
        match self {
            Phase::Open => !closed,
            Phase::Closed => closed,
            Phase::Any => true,
        }
    }
}

/// Which units' people (handlers, mediators) may take a row's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Units {
    /// The lead unit's (主办).
    Lead,
    /// The lead unit's and the co-handling units' (协办).
    LeadAndCoHandling,
}

impl Units {
    fn admit(self, acting_for: ActingFor) -> bool {
        match (self, acting_for) {
            (_, ActingFor::Tenant | ActingFor::LeadUnit) => true,
            (Units::LeadAndCoHandling, ActingFor::CoHandlingUnit) => true,
            (Units::Lead, ActingFor::CoHandlingUnit) | (_, ActingFor::OtherUnit) => false,
        }
    }
}

/// A row's condition beyond open or closed, given the unit the actor acts for (none: acting
/// for the tenant, or asking whether anyone may): `Err` carries the reason a refusal gives.
type Check = fn(&Case<'_>, Option<&UnitId>, Timestamp) -> Result<(), &'static str>;

/// Who may take a row's action, by the kind of case.
type Who = fn(&dyn AnyKind) -> &'static [Role];

/// One row of the common table.
#[derive(Debug)]
pub struct Row {
    pub action: Action,
    pub phase: Phase,
    pub who: Who,
    pub units: Units,
    check: Option<Check>,
}

use Role::{GridWorker, Handler, Mediator, PetitionOfficer, Supervisor};

const WORKERS: &[Role] = &[GridWorker, Mediator, PetitionOfficer, Handler, Supervisor];

/// The actions of the domain brief's "Every case".
pub const TABLE: &[Row] = &[
    Row {
        action: Action::AddNote,
        phase: Phase::Open,
        who: |_| WORKERS,
        units: Units::LeadAndCoHandling,
        check: None,
    },
    Row {
        action: Action::AttachEvidence,
        phase: Phase::Open,
        who: |_| WORKERS,
        units: Units::LeadAndCoHandling,
        check: None,
    },
    Row {
        action: Action::RecordPart,
        phase: Phase::Open,
        // A unit records what it did: its own people, or for it the tenant's people it reported
        // to.
        who: |_| &[Handler, Mediator, PetitionOfficer, Supervisor],
        units: Units::LeadAndCoHandling,
        check: None,
    },
    Row {
        action: Action::Reassign,
        phase: Phase::Open,
        who: |k| k.routers(),
        units: Units::Lead,
        check: None,
    },
    Row {
        // A case filed in the wrong community or grid is moved where it belongs, by those who
        // route it.
        action: Action::Relocate,
        phase: Phase::Open,
        who: |k| k.routers(),
        units: Units::Lead,
        check: None,
    },
    Row {
        action: Action::AddCoHandler,
        phase: Phase::Open,
        who: |k| k.routers(),
        units: Units::Lead,
        check: None,
    },
    Row {
        action: Action::RemoveCoHandler,
        phase: Phase::Open,
        who: |k| k.routers(),
        units: Units::Lead,
        check: Some(|c, _, _| {
            if c.handling.co_handlers.is_empty() {
                Err("the case has no co-handling units")
            } else {
                Ok(())
            }
        }),
    },
    Row {
        action: Action::Supervise,
        phase: Phase::Open,
        who: |_| &[Supervisor],
        units: Units::Lead,
        check: None,
    },
    Row {
        action: Action::AnswerSupervision,
        // A notice outlives the case's closure until it is answered.
        phase: Phase::Any,
        who: |_| &[Handler, Mediator, PetitionOfficer],
        units: Units::LeadAndCoHandling,
        check: Some(|c, unit, _| {
            let h = c.handling;
            if h.unanswered_notices(unit).next().is_some() {
                Ok(())
            } else if unit.is_some() && h.unanswered_notices(None).next().is_some() {
                Err("no supervision notice addressed to your unit is waiting for an answer")
            } else {
                Err("no supervision notice is waiting for an answer")
            }
        }),
    },
    Row {
        action: Action::RequestExtension,
        phase: Phase::Open,
        // Whoever works the step: the handling unit, or for a dispute the mediator.
        who: |k| k.step_workers(),
        units: Units::Lead,
        check: Some(|c, _, now| {
            c.kind.extendable()?;
            if c.handling.pending_extension.is_some() {
                return Err("an extension request is already waiting for approval");
            }
            match c.kind.deadline() {
                None => Err("the current step has no deadline"),
                Some(deadline) if now >= deadline => {
                    Err("the deadline has passed; an extension is asked for before it")
                }
                Some(_) => Ok(()),
            }
        }),
    },
    Row {
        action: Action::ApproveExtension,
        phase: Phase::Open,
        who: |_| &[Supervisor],
        units: Units::Lead,
        check: Some(|c, unit, now| {
            pending_extension(c, unit, now)?;
            match c.kind.deadline() {
                Some(deadline) if now >= deadline => {
                    Err("the deadline has passed; an extension is approved before it")
                }
                _ => Ok(()),
            }
        }),
    },
    Row {
        action: Action::RefuseExtension,
        phase: Phase::Open,
        who: |_| &[Supervisor],
        units: Units::Lead,
        check: Some(pending_extension),
    },
    Row {
        action: Action::Link,
        phase: Phase::Open,
        who: |_| WORKERS,
        units: Units::Lead,
        check: None,
    },
    Row {
        action: Action::MarkDuplicate,
        phase: Phase::Open,
        who: |_| &[Mediator, PetitionOfficer, Handler, Supervisor],
        units: Units::Lead,
        check: None,
    },
    Row {
        action: Action::ReturnVisit,
        phase: Phase::Closed,
        who: |_| &[GridWorker, Mediator, PetitionOfficer, Supervisor],
        units: Units::Lead,
        check: Some(|c, _, _| {
            if c.handling.duplicate_of.is_some() {
                Err("a duplicate is visited through the case it duplicates")
            } else {
                Ok(())
            }
        }),
    },
    Row {
        action: Action::Reopen,
        phase: Phase::Closed,
        who: |k| k.routers(),
        units: Units::Lead,
        check: Some(|c, _, _| {
            let h = c.handling;
            // The visit must be one made since the case last closed.
            let since_closure = h.return_visits.get(h.visits_at_closure..).unwrap_or(&[]);
            match since_closure.last() {
                Some(v) if v.satisfaction == Satisfaction::Dissatisfied => {}
                _ => return Err("a case is reopened after a dissatisfied return visit"),
            }
            c.kind.reopenable()
        }),
    },
];

fn pending_extension(c: &Case<'_>, _: Option<&UnitId>, _: Timestamp) -> Result<(), &'static str> {
    if c.handling.pending_extension.is_some() {
        Ok(())
    } else {
        Err("no extension request is waiting for approval")
    }
}

/// The unit the actor acts for, when it is a unit that has a part in the case.
fn acting_unit<'a>(ctx: &Context<'a>, acting_for: ActingFor) -> Option<&'a UnitId> {
    match acting_for {
        ActingFor::LeadUnit | ActingFor::CoHandlingUnit => ctx.unit,
        ActingFor::Tenant | ActingFor::OtherUnit => None,
    }
}

fn open_rows<'a>(
    case: &'a Case<'a>,
    unit: Option<&'a UnitId>,
    now: Timestamp,
) -> impl Iterator<Item = &'static Row> + 'a {
    let closed = case.is_closed();
    TABLE.iter().filter(move |row| {
        row.phase.admits(closed) && row.check.is_none_or(|check| check(case, unit, now).is_ok())
    })
}

/// The common actions `role` may take on this case now, acting for `acting_for`.
pub fn allowed_actions(
    case: &Case<'_>,
    role: Role,
    unit: Option<&UnitId>,
    acting_for: ActingFor,
    now: Timestamp,
) -> Vec<&'static str> {
    let unit = match acting_for {
        ActingFor::LeadUnit | ActingFor::CoHandlingUnit => unit,
        ActingFor::Tenant | ActingFor::OtherUnit => None,
    };
    open_rows(case, unit, now)
        .filter(|row| (row.who)(case.kind).contains(&role) && row.units.admit(acting_for))
        .map(|row| row.action.as_str())
        .collect()
}

/// The common actions anyone may take on this case now.
pub fn open_actions(case: &Case<'_>, now: Timestamp) -> Vec<&'static str> {
    open_rows(case, None, now)
        .map(|row| row.action.as_str())
        .collect()
}

/// Lets the actor take `action`, or says why not. The refusals' lists of allowed actions are the
/// common table's; the case widens them with its kind's.
fn authorize(
    case: &Case<'_>,
    action: Action,
    ctx: &Context<'_>,
    acting_for: ActingFor,
) -> Result<(), Refusal> {
    let row = TABLE
        .iter()
        .find(|row| row.action == action)
        .expect("every common action has a row");
    let unit = acting_unit(ctx, acting_for);
    let kind = case.kind.name();
    let state = case.kind.status_name();
    let role_may = (row.who)(case.kind).contains(&ctx.role);
    // A unit without the part the row asks for is refused whatever the state.
    if role_may && !row.units.admit(acting_for) {
        return Err(unit_not_permitted(
            kind,
            state,
            action.as_str(),
            ctx,
            acting_for,
            allowed_actions(case, ctx.role, ctx.unit, acting_for, ctx.now),
        ));
    }
    let in_phase = row.phase.admits(case.is_closed());
    let reason = match (in_phase, row.check) {
        (false, _) => Some(match row.phase {
            Phase::Open => "the case is closed",
            Phase::Closed | Phase::Any => "the case is still open",
        }),
        // Whether the state allows it at all: for anyone; then for the actor's unit (a notice
        // addressed to another unit).
        (true, Some(check)) => check(case, None, ctx.now)
            .and_then(|()| unit.map_or(Ok(()), |u| check(case, Some(u), ctx.now)))
            .err(),
        (true, None) => None,
    };
    if let Some(reason) = reason {
        return Err(not_allowed_in_state(
            kind,
            state,
            action.as_str(),
            open_actions(case, ctx.now),
            Some(reason),
        ));
    }
    if !role_may {
        return Err(Refusal::RoleNotPermitted {
            kind,
            state,
            action: action.as_str().to_owned(),
            role: ctx.role,
            allowed: allowed_actions(case, ctx.role, ctx.unit, acting_for, ctx.now),
        });
    }
    Ok(())
}

// ---- commands -------------------------------------------------------------------------------

/// A command any case takes, named as the table names its action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::Command)]
#[serde(tag = "action", content = "input", rename_all = "kebab-case")]
pub enum CommonCommand {
    AddNote(AddNote),
    AttachEvidence(AttachEvidence),
    RecordPart(RecordPart),
    Reassign(Reassign),
    Relocate(Relocate),
    AddCoHandler(CoHandler),
    RemoveCoHandler(CoHandler),
    Supervise(Supervise),
    AnswerSupervision(AnswerSupervision),
    RequestExtension(RequestExtension),
    ApproveExtension(ApproveExtension),
    RefuseExtension(RefuseExtension),
    Link(Link),
    MarkDuplicate(MarkDuplicate),
    ReturnVisit(ReturnVisit),
    Reopen(Reopen),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::AddNote)]
#[serde(deny_unknown_fields)]
pub struct AddNote {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::AttachEvidence)]
#[serde(deny_unknown_fields)]
pub struct AttachEvidence {
    pub evidence: Vec<Evidence>,
    #[serde(default)]
    pub note: Option<String>,
}

/// What a unit did on the case, as its own part (a co-handling unit's answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::RecordPart)]
#[serde(deny_unknown_fields)]
pub struct RecordPart {
    pub text: String,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// The unit whose part it is: a handler's or mediator's own (the default), or, recorded by
    /// a petition officer or supervisor, a unit with a part in the case that reported it.
    #[serde(default)]
    pub unit: Option<UnitId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::Reassign)]
#[serde(deny_unknown_fields)]
pub struct Reassign {
    /// The new lead unit (主办).
    pub unit: UnitId,
    /// The person in the unit, when named.
    #[serde(default)]
    pub assignee: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::CoHandler)]
#[serde(deny_unknown_fields)]
pub struct CoHandler {
    /// An assisting unit (协办).
    pub unit: UnitId,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::Supervise)]
#[serde(deny_unknown_fields)]
pub struct Supervise {
    /// What the supervisor demands (督办意见).
    pub notice: String,
    /// The tenant-local day the answer is due; by default the policy's answer limit.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub due_on: Option<Date>,
    /// The unit the notice is addressed to: the lead unit (the default) or a co-handling one.
    #[serde(default)]
    pub unit: Option<UnitId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::AnswerSupervision)]
#[serde(deny_unknown_fields)]
pub struct AnswerSupervision {
    /// The number of the notice answered (1 for the first).
    pub notice: u32,
    pub answer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::RequestExtension)]
#[serde(deny_unknown_fields)]
pub struct RequestExtension {
    pub days: u32,
    /// The reason, told to the petitioner or parties.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::ApproveExtension)]
#[serde(deny_unknown_fields)]
pub struct ApproveExtension {
    /// The days approved, at most those requested; by default all of them.
    #[serde(default)]
    pub days: Option<u32>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::RefuseExtension)]
#[serde(deny_unknown_fields)]
pub struct RefuseExtension {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::Link)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub case: CaseId,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::MarkDuplicate)]
#[serde(deny_unknown_fields)]
pub struct MarkDuplicate {
    /// The case this one duplicates.
    pub of: CaseId,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::ReturnVisit)]
#[serde(deny_unknown_fields)]
pub struct ReturnVisit {
    pub satisfaction: Satisfaction,
    #[serde(default)]
    pub note: Option<String>,
}

/// Where the case belongs, when it was filed in the wrong community or grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::Relocate)]
#[serde(deny_unknown_fields)]
pub struct Relocate {
    pub community: CommunityId,
    #[serde(default)]
    pub grid: Option<GridId>,
    /// The address there; none keeps the one recorded.
    #[serde(default)]
    pub address: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = common::Reopen)]
#[serde(deny_unknown_fields)]
pub struct Reopen {
    pub reason: String,
}

impl CommonCommand {
    /// What the command names from the tenant's directory: the units it routes the case to.
    pub fn named(&self) -> Vec<(&'static str, Named<'_>)> {
        match self {
            CommonCommand::Reassign(Reassign { unit, .. })
            | CommonCommand::AddCoHandler(CoHandler { unit, .. })
            | CommonCommand::Supervise(Supervise {
                unit: Some(unit), ..
            }) => vec![("unit", Named::Unit(unit))],
            CommonCommand::Relocate(Relocate {
                community, grid, ..
            }) => {
                let mut named = vec![("community", Named::Community(community))];
                named.extend(grid.iter().map(|g| ("grid", Named::Grid(g, community))));
                named
            }
            // A unit is removed from a case whether or not it is still in service.
            CommonCommand::RemoveCoHandler(_)
            | CommonCommand::Supervise(Supervise { unit: None, .. })
            | CommonCommand::AddNote(_)
            | CommonCommand::AttachEvidence(_)
            | CommonCommand::RecordPart(_)
            | CommonCommand::AnswerSupervision(_)
            | CommonCommand::RequestExtension(_)
            | CommonCommand::ApproveExtension(_)
            | CommonCommand::RefuseExtension(_)
            | CommonCommand::Link(_)
            | CommonCommand::MarkDuplicate(_)
            | CommonCommand::ReturnVisit(_)
            | CommonCommand::Reopen(_) => Vec::new(),
        }
    }

    pub fn action(&self) -> Action {
        match self {
            CommonCommand::AddNote(_) => Action::AddNote,
            CommonCommand::AttachEvidence(_) => Action::AttachEvidence,
            CommonCommand::RecordPart(_) => Action::RecordPart,
            CommonCommand::Reassign(_) => Action::Reassign,
            CommonCommand::Relocate(_) => Action::Relocate,
            CommonCommand::AddCoHandler(_) => Action::AddCoHandler,
            CommonCommand::RemoveCoHandler(_) => Action::RemoveCoHandler,
            CommonCommand::Supervise(_) => Action::Supervise,
            CommonCommand::AnswerSupervision(_) => Action::AnswerSupervision,
            CommonCommand::RequestExtension(_) => Action::RequestExtension,
            CommonCommand::ApproveExtension(_) => Action::ApproveExtension,
            CommonCommand::RefuseExtension(_) => Action::RefuseExtension,
            CommonCommand::Link(_) => Action::Link,
            CommonCommand::MarkDuplicate(_) => Action::MarkDuplicate,
            CommonCommand::ReturnVisit(_) => Action::ReturnVisit,
            CommonCommand::Reopen(_) => Action::Reopen,
        }
    }
}

// ---- events ---------------------------------------------------------------------------------

/// What happened to a case, whatever its kind. On the log these are `case.<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum CommonEvent {
    NoteAdded {
        text: String,
    },
    EvidenceAttached {
        evidence: Vec<Evidence>,
        note: Option<String>,
    },
    /// A unit's own part: what it did.
    PartRecorded {
        unit: UnitId,
        text: String,
        evidence: Vec<Evidence>,
    },
    Reassigned {
        unit: UnitId,
        assignee: Option<String>,
        reason: String,
    },
    /// Moved to the community and grid it belongs to.
    Relocated {
        community: CommunityId,
        grid: Option<GridId>,
        /// The new address; none: the one recorded stands.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        reason: String,
    },
    CoHandlerAdded {
        unit: UnitId,
    },
    CoHandlerRemoved {
        unit: UnitId,
    },
    SupervisionNoticed {
        number: u32,
        notice: String,
        due: Timestamp,
        /// A co-handling unit the notice is addressed to; none: the lead unit. (Since version
        /// 2 of the event, always written; version 1 left it out for the lead unit.)
        unit: Option<UnitId>,
    },
    SupervisionAnswered {
        number: u32,
        answer: String,
    },
    ExtensionRequested {
        days: u32,
        reason: String,
    },
    ExtensionApproved {
        days: u32,
        /// The step's deadline after the extension.
        deadline: Timestamp,
        note: Option<String>,
    },
    ExtensionRefused {
        reason: String,
    },
    Linked {
        case: CaseId,
        note: Option<String>,
    },
    MarkedDuplicate {
        of: CaseId,
        note: Option<String>,
    },
    ReturnVisited {
        satisfaction: Satisfaction,
        note: Option<String>,
    },
    Reopened {
        reason: String,
        /// The deadline of the step the case goes back to.
        deadline: Timestamp,
    },
    /// The current step's deadline had passed when the case was next acted on.
    DeadlineMissed {
        deadline: Timestamp,
    },
    /// The case reached an end state: recorded with the event that ended it.
    Closed {
        outcome: Outcome,
        /// No step of the case missed its deadline.
        on_time: bool,
    },
}

// ---- state ----------------------------------------------------------------------------------

/// The parts of a case every kind shares. Fields added later read as their defaults from
/// states stored before them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Handling {
    /// The lead unit (主办).
    pub lead_unit: Option<UnitId>,
    pub assignee: Option<String>,
    /// Assisting units (协办).
    pub co_handlers: Vec<UnitId>,
    /// The parts units recorded, in order.
    pub parts: Vec<Part>,
    pub notes: Vec<String>,
    pub evidence: Vec<Evidence>,
    pub supervisions: Vec<SupervisionNotice>,
    pub pending_extension: Option<ExtensionRequest>,
    pub extensions: Vec<ApprovedExtension>,
    /// Days and times the current step has been extended.
    pub step_extended_days: u32,
    pub step_extensions: u32,
    pub links: Vec<CaseId>,
    pub duplicate_of: Option<CaseId>,
    pub return_visits: Vec<Visit>,
    /// How many return visits there were when the case last closed.
    pub visits_at_closure: usize,
    pub reopened: u32,
    /// Deadlines that passed before their step was done.
    pub missed_deadlines: Vec<Timestamp>,
    pub closure: Option<Closure>,
}

impl Handling {
    /// The notices waiting for an answer from `unit` (none: from anyone). A notice addressed
    /// to no unit is the lead unit's.
    pub fn unanswered_notices<'a>(
        &'a self,
        unit: Option<&'a UnitId>,
    ) -> impl Iterator<Item = &'a SupervisionNotice> + 'a {
        self.supervisions.iter().filter(move |n| {
            n.answer.is_none() && unit.is_none_or(|u| self.addressee(n) == Some(u))
        })
    }

    /// The unit that answers a notice.
    pub fn addressee<'a>(&'a self, notice: &'a SupervisionNotice) -> Option<&'a UnitId> {
        notice.unit.as_ref().or(self.lead_unit.as_ref())
    }
}

/// What a unit did on a case, as it recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub unit: UnitId,
    pub text: String,
    pub evidence: Vec<Evidence>,
}

/// A supervision notice (督办) and the assignee's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisionNotice {
    pub number: u32,
    pub notice: String,
    pub due: Timestamp,
    /// The co-handling unit addressed; none: the lead unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<UnitId>,
    pub answer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtensionRequest {
    pub days: u32,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovedExtension {
    pub days: u32,
    pub reason: String,
    pub deadline: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    pub satisfaction: Satisfaction,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closure {
    pub outcome: Outcome,
    pub on_time: bool,
}

// ---- the rules ------------------------------------------------------------------------------

/// Checks `days` more of extension against the kind's ceiling and count.
fn check_extension(case: &Case<'_>, days: u32, ctx: &Context<'_>) -> Result<(), Refusal> {
    let rule = case.kind.extension_rule(ctx.policy);
    let h = case.handling;
    let kind = case.kind.name();
    if days == 0 {
        return Err(Refusal::invalid("days", "an extension is at least 1 day"));
    }
    if h.step_extensions >= rule.times {
        return Err(Refusal::invalid(
            "days",
            format!(
                "this step of a {kind} has been extended {} time(s), the most the policy allows",
                h.step_extensions
            ),
        ));
    }
    let left = rule.ceiling_days.saturating_sub(h.step_extended_days);
    if days > left {
        return Err(Refusal::invalid(
            "days",
            format!(
                "a {kind} step may be extended by at most {} days in all; {} already approved, so at most {left} more",
                rule.ceiling_days, h.step_extended_days
            ),
        ));
    }
    Ok(())
}

/// A unit the case may be routed to: not the one it may never be handled by.
fn check_not_barred(case: &Case<'_>, unit: &UnitId) -> Result<(), Refusal> {
    match case.kind.barred_unit() {
        Some((barred, reason)) if barred == unit => Err(Refusal::invalid("unit", reason)),
        Some(_) | None => Ok(()),
    }
}

/// Decides a common command on a filed case, for an actor acting for `acting_for`.
pub fn decide(
    case: &Case<'_>,
    command: &CommonCommand,
    ctx: &Context<'_>,
    acting_for: ActingFor,
) -> Result<Vec<CommonEvent>, Refusal> {
    authorize(case, command.action(), ctx, acting_for)?;
    let h = case.handling;
    let event = match command {
        CommonCommand::AddNote(n) => {
            required_text("text", &n.text, MAX_TEXT)?;
            CommonEvent::NoteAdded {
                text: n.text.clone(),
            }
        }
        CommonCommand::AttachEvidence(a) => {
            check_evidence(&a.evidence, true)?;
            optional_text("note", a.note.as_deref(), MAX_TEXT)?;
            CommonEvent::EvidenceAttached {
                evidence: a.evidence.clone(),
                note: a.note.clone(),
            }
        }
        CommonCommand::RecordPart(p) => {
            required_text("text", &p.text, MAX_TEXT)?;
            check_evidence(&p.evidence, false)?;
            let unit = match (acting_unit(ctx, acting_for), &p.unit) {
                (Some(own), Some(named)) if own != named => {
                    return Err(Refusal::invalid(
                        "unit",
                        format!("a unit records its own part: you act for unit \"{own}\""),
                    ));
                }
                (Some(own), _) => own,
                (None, Some(named))
                    if h.lead_unit.as_ref() == Some(named) || h.co_handlers.contains(named) =>
                {
                    named
                }
                (None, Some(named)) => {
                    return Err(Refusal::invalid(
                        "unit",
                        format!("unit \"{named}\" has no part in this case"),
                    ));
                }
                (None, None) => {
                    return Err(Refusal::invalid("unit", "name the unit whose part it is"));
                }
            };
            case.kind
                .part_recordable(unit)
                .map_err(|reason| Refusal::invalid("unit", reason))?;
            CommonEvent::PartRecorded {
                unit: unit.clone(),
                text: p.text.clone(),
                evidence: p.evidence.clone(),
            }
        }
        CommonCommand::Reassign(r) => {
            required_text("reason", &r.reason, MAX_TEXT)?;
            check_not_barred(case, &r.unit)?;
            optional_text("assignee", r.assignee.as_deref(), MAX_SHORT_TEXT)?;
            if h.lead_unit.as_ref() == Some(&r.unit) && h.assignee == r.assignee {
                return Err(Refusal::invalid("unit", "the case is already assigned so"));
            }
            CommonEvent::Reassigned {
                unit: r.unit.clone(),
                assignee: r.assignee.clone(),
                reason: r.reason.clone(),
            }
        }
        CommonCommand::Relocate(r) => {
            required_text("reason", &r.reason, MAX_TEXT)?;
            optional_text("address", r.address.as_deref(), MAX_TEXT)?;
            if *case.kind.community() == r.community
                && case.kind.grid() == r.grid.as_ref()
                && r.address.is_none()
            {
                return Err(Refusal::invalid(
                    "community",
                    "the case is in that community and grid already",
                ));
            }
            CommonEvent::Relocated {
                community: r.community.clone(),
                grid: r.grid.clone(),
                address: r.address.clone(),
                reason: r.reason.clone(),
            }
        }
        CommonCommand::AddCoHandler(c) => {
            optional_text("note", c.note.as_deref(), MAX_TEXT)?;
            check_not_barred(case, &c.unit)?;
            if h.lead_unit.as_ref() == Some(&c.unit) {
                return Err(Refusal::invalid("unit", "the lead unit cannot also assist"));
            }
            if h.co_handlers.contains(&c.unit) {
                return Err(Refusal::invalid("unit", "the unit already assists"));
            }
            CommonEvent::CoHandlerAdded {
                unit: c.unit.clone(),
            }
        }
        CommonCommand::RemoveCoHandler(c) => {
            if !h.co_handlers.contains(&c.unit) {
                return Err(Refusal::invalid(
                    "unit",
                    "the unit does not assist on this case",
                ));
            }
            if h.unanswered_notices(Some(&c.unit)).next().is_some() {
                return Err(Refusal::invalid(
                    "unit",
                    "the unit has a supervision notice to answer first",
                ));
            }
            CommonEvent::CoHandlerRemoved {
                unit: c.unit.clone(),
            }
        }
        CommonCommand::Supervise(s) => {
            required_text("notice", &s.notice, MAX_TEXT)?;
            let policy = ctx.policy;
            let due = match s.due_on {
                Some(day) if day < policy.local_day(ctx.now) => {
                    return Err(Refusal::invalid("due_on", "must not be in the past"));
                }
                Some(day) => policy.end_of_day(day),
                None => policy.due(ctx.now, policy.supervision.answer),
            };
            let unit = match &s.unit {
                Some(unit) if h.lead_unit.as_ref() == Some(unit) => None,
                Some(unit) if h.co_handlers.contains(unit) => Some(unit.clone()),
                Some(_) => {
                    return Err(Refusal::invalid(
                        "unit",
                        "a notice is addressed to the lead unit or a co-handling unit of the case",
                    ));
                }
                None => None,
            };
            CommonEvent::SupervisionNoticed {
                number: u32::try_from(h.supervisions.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(1),
                notice: s.notice.clone(),
                due,
                unit,
            }
        }
        CommonCommand::AnswerSupervision(a) => {
            required_text("answer", &a.answer, MAX_TEXT)?;
            let unit = acting_unit(ctx, acting_for);
            match h.supervisions.iter().find(|n| n.number == a.notice) {
                Some(n)
                    if n.answer.is_none() && unit.is_some_and(|u| h.addressee(n) != Some(u)) =>
                {
                    return Err(Refusal::invalid(
                        "notice",
                        "that notice is addressed to another unit",
                    ));
                }
                Some(n) if n.answer.is_none() => {}
                Some(_) => {
                    return Err(Refusal::invalid(
                        "notice",
                        "that notice is already answered",
                    ));
                }
                None => {
                    return Err(Refusal::invalid(
                        "notice",
                        "no supervision notice has that number",
                    ));
                }
            }
            CommonEvent::SupervisionAnswered {
                number: a.notice,
                answer: a.answer.clone(),
            }
        }
        CommonCommand::RequestExtension(r) => {
            required_text("reason", &r.reason, MAX_TEXT)?;
            check_extension(case, r.days, ctx)?;
            CommonEvent::ExtensionRequested {
                days: r.days,
                reason: r.reason.clone(),
            }
        }
        CommonCommand::ApproveExtension(a) => {
            optional_text("note", a.note.as_deref(), MAX_TEXT)?;
            let requested = h
                .pending_extension
                .as_ref()
                .expect("the row's check found the request");
            let days = a.days.unwrap_or(requested.days);
            if days > requested.days {
                return Err(Refusal::invalid(
                    "days",
                    format!("at most the {} days requested", requested.days),
                ));
            }
            check_extension(case, days, ctx)?;
            let deadline = case
                .kind
                .deadline()
                .expect("the request was made on a step with a deadline");
            CommonEvent::ExtensionApproved {
                days,
                deadline: ctx.policy.extended(deadline, days),
                note: a.note.clone(),
            }
        }
        CommonCommand::RefuseExtension(r) => {
            required_text("reason", &r.reason, MAX_TEXT)?;
            CommonEvent::ExtensionRefused {
                reason: r.reason.clone(),
            }
        }
        CommonCommand::Link(l) => {
            optional_text("note", l.note.as_deref(), MAX_TEXT)?;
            if l.case == ctx.case_id {
                return Err(Refusal::invalid("case", "a case is not linked to itself"));
            }
            if h.links.contains(&l.case) {
                return Err(Refusal::invalid("case", "the cases are already linked"));
            }
            CommonEvent::Linked {
                case: l.case,
                note: l.note.clone(),
            }
        }
        CommonCommand::MarkDuplicate(m) => {
            optional_text("note", m.note.as_deref(), MAX_TEXT)?;
            if m.of == ctx.case_id {
                return Err(Refusal::invalid("of", "a case does not duplicate itself"));
            }
            CommonEvent::MarkedDuplicate {
                of: m.of,
                note: m.note.clone(),
            }
        }
        CommonCommand::ReturnVisit(v) => {
            optional_text("note", v.note.as_deref(), MAX_TEXT)?;
            CommonEvent::ReturnVisited {
                satisfaction: v.satisfaction,
                note: v.note.clone(),
            }
        }
        CommonCommand::Reopen(r) => {
            required_text("reason", &r.reason, MAX_TEXT)?;
            CommonEvent::Reopened {
                reason: r.reason.clone(),
                deadline: case.kind.reopen_deadline(ctx.policy, ctx.now),
            }
        }
    };
    Ok(vec![event])
}

/// Applies a common event to a filed case: its kind's part and the part every case has.
pub(crate) fn evolve(
    kind: &mut dyn AnyKind,
    h: &mut Handling,
    event: &CommonEvent,
) -> Result<(), ReplayError> {
    match event {
        CommonEvent::NoteAdded { text } => h.notes.push(text.clone()),
        CommonEvent::EvidenceAttached { evidence, .. } => {
            h.evidence.extend(evidence.iter().cloned())
        }
        CommonEvent::PartRecorded {
            unit,
            text,
            evidence,
        } => h.parts.push(Part {
            unit: unit.clone(),
            text: text.clone(),
            evidence: evidence.clone(),
        }),
        CommonEvent::Reassigned { unit, assignee, .. } => {
            h.co_handlers.retain(|u| u != unit);
            h.lead_unit = Some(unit.clone());
            h.assignee = assignee.clone();
        }
        CommonEvent::Relocated {
            community,
            grid,
            address,
            ..
        } => kind.relocate(community.clone(), grid.clone(), address.clone()),
        CommonEvent::CoHandlerAdded { unit } => h.co_handlers.push(unit.clone()),
        CommonEvent::CoHandlerRemoved { unit } => h.co_handlers.retain(|u| u != unit),
        CommonEvent::SupervisionNoticed {
            number,
            notice,
            due,
            unit,
        } => {
            h.supervisions.push(SupervisionNotice {
                number: *number,
                notice: notice.clone(),
                due: *due,
                unit: unit.clone(),
                answer: None,
            });
        }
        CommonEvent::SupervisionAnswered { number, answer } => {
            let notice = h
                .supervisions
                .iter_mut()
                .find(|n| n.number == *number)
                .ok_or_else(|| {
                    ReplayError::new("case", "answer to an unknown supervision notice")
                })?;
            notice.answer = Some(answer.clone());
        }
        CommonEvent::ExtensionRequested { days, reason } => {
            h.pending_extension = Some(ExtensionRequest {
                days: *days,
                reason: reason.clone(),
            });
        }
        CommonEvent::ExtensionApproved { days, deadline, .. } => {
            let request = h
                .pending_extension
                .take()
                .ok_or_else(|| ReplayError::new("case", "extension approved without a request"))?;
            h.extensions.push(ApprovedExtension {
                days: *days,
                reason: request.reason,
                deadline: *deadline,
            });
            h.step_extended_days += days;
            h.step_extensions += 1;
            kind.set_deadline(Some(*deadline));
        }
        CommonEvent::ExtensionRefused { .. } => h.pending_extension = None,
        CommonEvent::Linked { case, .. } => h.links.push(*case),
        CommonEvent::MarkedDuplicate { of, .. } => {
            h.duplicate_of = Some(*of);
            if !h.links.contains(of) {
                h.links.push(*of);
            }
            h.pending_extension = None;
            kind.marked_duplicate();
        }
        CommonEvent::ReturnVisited { satisfaction, note } => h.return_visits.push(Visit {
            satisfaction: *satisfaction,
            note: note.clone(),
        }),
        CommonEvent::Reopened { deadline, .. } => {
            h.reopened += 1;
            h.closure = None;
            h.step_extended_days = 0;
            h.step_extensions = 0;
            kind.reopened(*deadline);
        }
        CommonEvent::DeadlineMissed { deadline } => h.missed_deadlines.push(*deadline),
        CommonEvent::Closed { outcome, on_time } => {
            h.pending_extension = None;
            h.visits_at_closure = h.return_visits.len();
            h.closure = Some(Closure {
                outcome: *outcome,
                on_time: *on_time,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
