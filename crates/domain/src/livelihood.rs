//! The livelihood request (民生诉求, 民呼我为): one call, many units (一呼百应).
//!
//! A resident's request is dispatched to a lead unit (首接负责) and any number of co-handling
//! units from the tenant's coordinated response network. Each unit checks in (签收) within its
//! response limit or returns a mis-routed dispatch; each records its part; the lead replies; the
//! resident's rating closes the request, and a dissatisfied one lets a supervisor order it redone
//! (重办). Every unit's check-in, lateness and return is kept per dispatch, so the office sees
//! which units hold the network back.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::common::Satisfaction;
use crate::deadlines::{DeadlinePolicy, ExtensionRule, TimeLimit};
use crate::evidence::{
    Location, MAX_SHORT_TEXT, MAX_TEXT, MAX_TITLE, check_location, check_media_url, check_person,
    optional_text, required_text,
};
use crate::kind::{self, Guard, Kind, Next, Outcome, Row, filed_names};
use crate::person::{Disclosure, Personal, PersonalDetails};
use crate::{CategoryId, CommunityId, Context, GridId, Named, Refusal, ReplayError, Role, UnitId};

const KIND: &str = "livelihood";

/// The most units one request is dispatched to.
const MAX_UNITS: usize = 30;

/// Where a livelihood request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = livelihood::Status)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Received,
    /// Sent to units, waiting for one to check in.
    Dispatched,
    InProgress,
    Replied,
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Received,
        Status::Dispatched,
        Status::InProgress,
        Status::Replied,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::Dispatched => "dispatched",
            Status::InProgress => "in-progress",
            Status::Replied => "replied",
            Status::Closed => "closed",
        }
    }

    pub fn is_end(self) -> bool {
        match self {
            Status::Closed => true,
            Status::Received | Status::Dispatched | Status::InProgress | Status::Replied => false,
        }
    }
}

/// The actions of the livelihood request table. Recording a unit's part is the `record-part`
/// every case has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Receive,
    Dispatch,
    CheckIn,
    ReturnDispatch,
    Redispatch,
    Reply,
    Rate,
    CloseUnrated,
    Redo,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::Receive,
        Action::Dispatch,
        Action::CheckIn,
        Action::ReturnDispatch,
        Action::Redispatch,
        Action::Reply,
        Action::Rate,
        Action::CloseUnrated,
        Action::Redo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Receive => "receive",
            Action::Dispatch => "dispatch",
            Action::CheckIn => "check-in",
            Action::ReturnDispatch => "return-dispatch",
            Action::Redispatch => "redispatch",
            Action::Reply => "reply",
            Action::Rate => "rate",
            Action::CloseUnrated => "close-unrated",
            Action::Redo => "redo",
        }
    }
}

kind::states_and_actions!();

use Next::{To, Unchanged};
use Role::{GridWorker, Handler, PetitionOfficer, ServiceAccount, Supervisor};
use Status::{Closed, Dispatched, InProgress, Received, Replied};

/// The livelihood request table of the domain brief, row for row.
pub const TABLE: &[Row<LivelihoodRequest>] = &[
    Row {
        from: &[None],
        action: Action::Receive,
        who: &[GridWorker, PetitionOfficer, Supervisor, ServiceAccount],
        to: To(Received),
        guard: None,
    },
    Row {
        from: &[Some(Received)],
        action: Action::Dispatch,
        who: &[PetitionOfficer, Supervisor],
        to: To(Dispatched),
        guard: None,
    },
    Row {
        from: &[Some(Dispatched), Some(InProgress)],
        action: Action::CheckIn,
        // Each dispatched unit's handlers, for their unit.
        who: &[Handler],
        to: To(InProgress),
        guard: Some(Guard {
            holds: |r, _| r.waiting_for_check_in().next().is_some(),
            reason: "every unit dispatched has checked in",
        }),
    },
    Row {
        from: &[Some(Dispatched), Some(InProgress)],
        action: Action::ReturnDispatch,
        who: &[Handler],
        to: Unchanged,
        guard: Some(Guard {
            holds: |r, now| r.active().any(|d| d.may_be_returned(now)),
            reason: "no unit that has not checked in is within its time to return the dispatch",
        }),
    },
    Row {
        from: &[Some(Dispatched), Some(InProgress)],
        action: Action::Redispatch,
        who: &[PetitionOfficer, Supervisor],
        to: To(Dispatched),
        guard: None,
    },
    Row {
        // Also while dispatched: a redispatch sends the request back to dispatched, and the
        // units it added may all have returned it since.
        from: &[Some(Dispatched), Some(InProgress)],
        action: Action::Reply,
        // The lead unit's handlers: the lead answers to the resident (首接负责), once every unit
        // on the request has checked in to answer its part.
        who: &[Handler],
        to: To(Replied),
        guard: Some(Guard {
            holds: |r, _| r.lead().is_some() && r.waiting_for_check_in().next().is_none(),
            reason: "the lead replies once it and every unit on the request have checked in",
        }),
    },
    Row {
        from: &[Some(Replied)],
        action: Action::Rate,
        // A service account passes on the rating the resident gave in the app.
        who: &[GridWorker, PetitionOfficer, ServiceAccount],
        to: To(Closed),
        guard: None,
    },
    Row {
        from: &[Some(Replied)],
        action: Action::CloseUnrated,
        who: &[PetitionOfficer, Supervisor],
        to: To(Closed),
        guard: Some(Guard {
            holds: |r, now| r.rate_by.is_some_and(|by| now >= by),
            reason: "the resident has until the rating limit after the reply to rate it",
        }),
    },
    Row {
        from: &[Some(Closed)],
        action: Action::Redo,
        who: &[Supervisor],
        to: To(Dispatched),
        guard: Some(Guard {
            holds: |r, _| r.rating == Some(Satisfaction::Dissatisfied),
            reason: "a request is redone after a dissatisfied rating",
        }),
    },
];

/// How the request reached the office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = livelihood::Channel)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// Transferred from the 12345 hotline, with its order number.
    Hotline,
    GridWorker,
    WalkIn,
    /// 网格议事日
    GridMeeting,
    ResidentApp,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Hotline,
        Channel::GridWorker,
        Channel::WalkIn,
        Channel::GridMeeting,
        Channel::ResidentApp,
    ];

    /// The JSON name, which figures are sliced by.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Hotline => "hotline",
            Channel::GridWorker => "grid-worker",
            Channel::WalkIn => "walk-in",
            Channel::GridMeeting => "grid-meeting",
            Channel::ResidentApp => "resident-app",
        }
    }
}

/// What sets the limits: emergency, utility (water, power, gas, heat), general, complex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = livelihood::Urgency)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    Emergency,
    Utility,
    General,
    Complex,
}

impl Urgency {
    pub const ALL: [Urgency; 4] = [
        Urgency::Emergency,
        Urgency::Utility,
        Urgency::General,
        Urgency::Complex,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Emergency => "emergency",
            Urgency::Utility => "utility",
            Urgency::General => "general",
            Urgency::Complex => "complex",
        }
    }

    fn pick(self, limits: &crate::deadlines::ByUrgency) -> TimeLimit {
        match self {
            Urgency::Emergency => limits.emergency,
            Urgency::Utility => limits.utility,
            Urgency::General => limits.general,
            Urgency::Complex => limits.complex,
        }
    }
}

/// 解决 / 部分解决 / 未解决.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = livelihood::ReplyResult)]
#[serde(rename_all = "kebab-case")]
pub enum ReplyResult {
    Resolved,
    PartlyResolved,
    NotResolved,
}

// ---- commands -------------------------------------------------------------------------------

/// A command to a livelihood request, named as the table names its action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = livelihood::Command)]
#[serde(tag = "action", content = "input", rename_all = "kebab-case")]
#[allow(
    clippy::large_enum_variant,
    reason = "a command is decided once and dropped, never kept in bulk"
)]
pub enum LivelihoodCommand {
    Receive(Receive),
    Dispatch(Dispatch),
    CheckIn(CheckIn),
    ReturnDispatch(ReturnDispatch),
    Redispatch(Redispatch),
    Reply(Reply),
    Rate(Rate),
    CloseUnrated(CloseUnrated),
    Redo(Redo),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = livelihood::Receive)]
#[serde(deny_unknown_fields)]
pub struct Receive {
    pub community: CommunityId,
    #[serde(default)]
    pub grid: Option<GridId>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub location: Option<Location>,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub channel: Channel,
    /// The 12345 hotline's order number, for a request transferred from it.
    #[serde(default)]
    pub hotline_order: Option<String>,
    pub category: CategoryId,
    pub urgency: Urgency,
    /// The resident who asked: personal data, sealed.
    #[serde(default)]
    pub requester: Option<PersonalDetails>,
    /// A photo or video of it where the reporting app keeps it (Open311's `media_url`).
    #[serde(default)]
    pub media_url: Option<String>,
}

/// The units a request goes to: the lead (首接负责) and the co-handling units, all from the
/// coordinated response network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = livelihood::Dispatch)]
#[serde(deny_unknown_fields)]
pub struct Dispatch {
    pub lead: UnitId,
    #[serde(default)]
    pub co_handlers: Vec<UnitId>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A unit's check-in (签收). A handler checks in for his own unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = livelihood::CheckIn)]
#[serde(deny_unknown_fields)]
pub struct CheckIn {
    #[serde(default)]
    pub unit: Option<UnitId>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A mis-routed dispatch sent back, with the reason; the dispatcher re-routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = livelihood::ReturnDispatch)]
#[serde(deny_unknown_fields)]
pub struct ReturnDispatch {
    #[serde(default)]
    pub unit: Option<UnitId>,
    pub reason: String,
}

/// The units the request goes to from now on: units kept keep their check-in, units left out
/// are replaced, and at least one unit is new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = livelihood::Redispatch)]
#[serde(deny_unknown_fields)]
pub struct Redispatch {
    pub lead: UnitId,
    #[serde(default)]
    pub co_handlers: Vec<UnitId>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = livelihood::Reply)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    pub result: ReplyResult,
    /// What the resident is told.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = livelihood::Rate)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub rating: Satisfaction,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = livelihood::CloseUnrated)]
#[serde(deny_unknown_fields)]
pub struct CloseUnrated {
    #[serde(default)]
    pub note: Option<String>,
}

/// 重办: the request goes out again, to the same or other units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = livelihood::Redo)]
#[serde(deny_unknown_fields)]
pub struct Redo {
    pub lead: UnitId,
    #[serde(default)]
    pub co_handlers: Vec<UnitId>,
    pub reason: String,
}

impl LivelihoodCommand {
    pub fn action(&self) -> Action {
        match self {
            LivelihoodCommand::Receive(_) => Action::Receive,
            LivelihoodCommand::Dispatch(_) => Action::Dispatch,
            LivelihoodCommand::CheckIn(_) => Action::CheckIn,
            LivelihoodCommand::ReturnDispatch(_) => Action::ReturnDispatch,
            LivelihoodCommand::Redispatch(_) => Action::Redispatch,
            LivelihoodCommand::Reply(_) => Action::Reply,
            LivelihoodCommand::Rate(_) => Action::Rate,
            LivelihoodCommand::CloseUnrated(_) => Action::CloseUnrated,
            LivelihoodCommand::Redo(_) => Action::Redo,
        }
    }

    /// The lead and co-handling units a dispatch, redispatch or redo names.
    fn units(&self) -> Option<(&UnitId, &[UnitId])> {
        match self {
            LivelihoodCommand::Dispatch(d) => Some((&d.lead, &d.co_handlers)),
            LivelihoodCommand::Redispatch(d) => Some((&d.lead, &d.co_handlers)),
            LivelihoodCommand::Redo(d) => Some((&d.lead, &d.co_handlers)),
            _ => None,
        }
    }
}

// ---- events ---------------------------------------------------------------------------------

/// What happened to a livelihood request. Limits are decided when the event is, and recorded.
#[allow(
    clippy::large_enum_variant,
    reason = "an event lives from deciding to writing; boxing the filing's fields would complicate every match for no measured gain"
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum LivelihoodEvent {
    Received {
        community: CommunityId,
        grid: Option<GridId>,
        address: Option<String>,
        location: Option<Location>,
        title: String,
        description: String,
        channel: Channel,
        hotline_order: Option<String>,
        category: CategoryId,
        urgency: Urgency,
        requester: Option<Personal>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_url: Option<String>,
        /// The reply is due by then (the handling limit of its urgency, from receipt).
        handle_by: Timestamp,
    },
    Dispatched {
        round: u32,
        lead: UnitId,
        co_handlers: Vec<UnitId>,
        /// When the units were sent it.
        at: Timestamp,
        /// Each unit dispatched checks in by then …
        check_in_by: Timestamp,
        /// … and may return a mis-routed dispatch until then.
        return_by: Timestamp,
        note: Option<String>,
    },
    CheckedIn {
        unit: UnitId,
        /// After its check-in limit.
        late: bool,
        at: Timestamp,
    },
    DispatchReturned {
        unit: UnitId,
        reason: String,
        at: Timestamp,
    },
    Redispatched {
        lead: UnitId,
        co_handlers: Vec<UnitId>,
        at: Timestamp,
        /// For the units new to the request.
        check_in_by: Timestamp,
        return_by: Timestamp,
        reason: String,
    },
    /// Found by the deadline watch (or the next command): a unit had not checked in by its
    /// limit. Recorded once per dispatch.
    CheckInMissed {
        unit: UnitId,
        due: Timestamp,
    },
    Replied {
        result: ReplyResult,
        text: String,
        at: Timestamp,
        /// Unrated by then, it may be closed unrated.
        rate_by: Timestamp,
    },
    Rated {
        rating: Satisfaction,
        note: Option<String>,
    },
    ClosedUnrated {
        note: Option<String>,
    },
    Redone {
        round: u32,
        lead: UnitId,
        co_handlers: Vec<UnitId>,
        at: Timestamp,
        check_in_by: Timestamp,
        return_by: Timestamp,
        reason: String,
        handle_by: Timestamp,
    },
}

// ---- state ----------------------------------------------------------------------------------

/// One unit's dispatch: when it was sent, checked in or returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitDispatch {
    pub unit: UnitId,
    /// The lead unit (首接负责); the others co-handle.
    pub lead: bool,
    /// The round it belongs to: 1, then one more for each redo.
    pub round: u32,
    pub dispatched_at: Timestamp,
    pub check_in_by: Timestamp,
    pub return_by: Timestamp,
    pub checked_in: bool,
    pub checked_in_at: Option<Timestamp>,
    /// Checked in after the limit, or found not checked in by it.
    pub late: bool,
    /// The watch recorded the check-in missed.
    pub missed: bool,
    pub returned: Option<String>,
    pub returned_at: Option<Timestamp>,
    /// Left out by a redispatch or a redo.
    pub replaced: bool,
    /// The resident's rating of the round, for the units still on it when it was rated.
    pub rating: Option<Satisfaction>,
}

impl UnitDispatch {
    /// Still on the request: neither returned nor replaced.
    pub fn is_active(&self) -> bool {
        self.returned.is_none() && !self.replaced
    }

    /// A unit returns a mis-routed dispatch instead of checking in, within its time.
    pub fn may_be_returned(&self, now: Timestamp) -> bool {
        !self.checked_in && now <= self.return_by
    }
}

/// When a round's reply came, and when the round began (none: at receipt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTime {
    pub round: u32,
    pub started: Option<Timestamp>,
    pub at: Timestamp,
}

/// A livelihood request as its events have made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivelihoodRequest {
    pub status: Status,
    pub community: CommunityId,
    pub grid: Option<GridId>,
    pub address: Option<String>,
    pub location: Option<Location>,
    pub title: String,
    pub description: String,
    pub channel: Channel,
    pub hotline_order: Option<String>,
    pub category: CategoryId,
    pub urgency: Urgency,
    /// The resident who asked, sealed.
    pub requester: Option<Personal>,
    pub round: u32,
    /// Every unit's dispatch, in order, across rounds.
    pub dispatches: Vec<UnitDispatch>,
    pub result: Option<ReplyResult>,
    pub reply: Option<String>,
    pub replied_at: Option<Timestamp>,
    /// Every reply, round by round.
    pub replies: Vec<ReplyTime>,
    /// When the current round began, if it is a redo (the first began at receipt).
    pub round_started: Option<Timestamp>,
    pub rate_by: Option<Timestamp>,
    pub rating: Option<Satisfaction>,
    pub redone: u32,
    pub duplicate: bool,
    /// The reply is due by then.
    pub deadline: Option<Timestamp>,
    /// A photo or video of it where the reporting app keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_url: Option<String>,
}

impl LivelihoodRequest {
    /// The dispatches still on the request.
    pub fn active(&self) -> impl Iterator<Item = &UnitDispatch> {
        self.dispatches.iter().filter(|d| d.is_active())
    }

    /// The lead unit's dispatch, while it is on the request.
    pub fn lead(&self) -> Option<&UnitDispatch> {
        self.active().find(|d| d.lead)
    }

    fn dispatch_of(&self, unit: &UnitId) -> Option<&UnitDispatch> {
        self.active().find(|d| &d.unit == unit)
    }

    /// Whether the units on the request are exactly these, with this lead.
    fn dispatched_as(&self, lead: &UnitId, co_handlers: &[UnitId]) -> bool {
        self.lead().is_some_and(|d| &d.unit == lead)
            && self.active().filter(|d| !d.lead).count() == co_handlers.len()
            && co_handlers.iter().all(|u| self.dispatch_of(u).is_some())
    }

    /// The units on the request that have not checked in yet.
    pub fn waiting_for_check_in(&self) -> impl Iterator<Item = &UnitDispatch> {
        self.active().filter(|d| !d.checked_in)
    }

    /// Whether units are still expected to check in: the request is out and not yet replied.
    fn is_out(&self) -> bool {
        matches!(self.status, Dispatched | InProgress)
    }
}

// ---- the rules ------------------------------------------------------------------------------

/// The unit an action is taken for: the actor's own, or (when the actor has none) the one the
/// body names. A handler never acts for another unit.
fn unit_acted_for<'a>(given: Option<&'a UnitId>, ctx: &Context<'a>) -> Result<&'a UnitId, Refusal> {
    match (ctx.unit, given) {
        (Some(own), Some(named)) if own != named => Err(Refusal::invalid(
            "unit",
            format!("you act for unit \"{own}\", not \"{named}\""),
        )),
        (Some(own), _) => Ok(own),
        (None, Some(named)) => Ok(named),
        (None, None) => Err(Refusal::invalid("unit", "name the unit acted for")),
    }
}

/// Checks the units of a dispatch: a lead, co-handling units that are neither the lead nor
/// listed twice, and not too many.
fn check_units(lead: &UnitId, co_handlers: &[UnitId]) -> Result<(), Refusal> {
    if co_handlers.len() + 1 > MAX_UNITS {
        return Err(Refusal::invalid(
            "co_handlers",
            format!("a request goes to at most {MAX_UNITS} units"),
        ));
    }
    if co_handlers.contains(lead) {
        return Err(Refusal::invalid(
            "co_handlers",
            format!("the lead unit \"{lead}\" is not also a co-handling unit"),
        ));
    }
    for (i, unit) in co_handlers.iter().enumerate() {
        if co_handlers[..i].contains(unit) {
            return Err(Refusal::invalid(
                "co_handlers",
                format!("unit \"{unit}\" is listed twice"),
            ));
        }
    }
    Ok(())
}

/// What a command the table allowed records on a request, once its inputs are checked.
fn record(
    request: Option<&LivelihoodRequest>,
    command: &LivelihoodCommand,
    ctx: &Context<'_>,
) -> Result<Vec<LivelihoodEvent>, Refusal> {
    let now = ctx.now;
    let policy = ctx.policy;
    let limits = &policy.livelihood;
    let urgency = request.map_or(Urgency::General, |r| r.urgency);
    let check_in_by = policy.due_within(now, urgency.pick(&limits.check_in));
    let return_by = policy.due(now, limits.return_dispatch);
    if let Some((lead, co_handlers)) = command.units() {
        check_units(lead, co_handlers)?;
    }
    let event = match command {
        LivelihoodCommand::Receive(r) => {
            required_text("title", &r.title, MAX_TITLE)?;
            optional_text("description", Some(&r.description), MAX_TEXT)?;
            optional_text("address", r.address.as_deref(), MAX_SHORT_TEXT)?;
            check_location(r.location.as_ref())?;
            check_media_url(r.media_url.as_deref())?;
            if ctx.role == ServiceAccount
                && !matches!(r.channel, Channel::ResidentApp | Channel::Hotline)
            {
                return Err(Refusal::invalid(
                    "channel",
                    "a service account receives requests from residents' apps (resident-app) or the 12345 hotline (hotline)",
                ));
            }
            match (r.channel, r.hotline_order.as_deref()) {
                (Channel::Hotline, None) => {
                    return Err(Refusal::invalid(
                        "hotline_order",
                        "a request transferred from the 12345 hotline gives its order number",
                    ));
                }
                (Channel::Hotline, Some(order)) => {
                    required_text("hotline_order", order, 64)?;
                }
                (_, order) => optional_text("hotline_order", order, 64)?,
            }
            if let Some(p) = &r.requester {
                check_person(
                    "requester",
                    &p.name,
                    p.id_number.as_deref(),
                    p.phone.as_deref(),
                    p.address.as_deref(),
                )?;
                if let Some(email) = p.email.as_deref() {
                    let (local, domain) = email.split_once('@').unwrap_or_default();
                    if local.is_empty()
                        || !domain.contains('.')
                        || email.chars().count() > 254
                        || email.chars().any(char::is_whitespace)
                    {
                        return Err(Refusal::invalid(
                            "requester",
                            "email must be an address such as name@example.cn, at most 254 characters",
                        ));
                    }
                }
            }
            LivelihoodEvent::Received {
                community: r.community.clone(),
                grid: r.grid.clone(),
                address: r.address.clone(),
                location: r.location,
                title: r.title.trim().to_owned(),
                description: r.description.clone(),
                channel: r.channel,
                hotline_order: r.hotline_order.as_deref().map(|o| o.trim().to_owned()),
                category: r.category.clone(),
                urgency: r.urgency,
                requester: r.requester.as_ref().map(|p| {
                    Personal::Clear(PersonalDetails {
                        name: p.name.trim().to_owned(),
                        ..p.clone()
                    })
                }),
                media_url: r.media_url.as_deref().map(|u| u.trim().to_owned()),
                handle_by: policy.due_within(now, r.urgency.pick(&limits.handle)),
            }
        }
        LivelihoodCommand::Dispatch(d) => {
            optional_text("note", d.note.as_deref(), MAX_TEXT)?;
            LivelihoodEvent::Dispatched {
                round: 1,
                lead: d.lead.clone(),
                co_handlers: d.co_handlers.clone(),
                at: now,
                check_in_by,
                return_by,
                note: d.note.clone(),
            }
        }
        LivelihoodCommand::CheckIn(c) => {
            optional_text("note", c.note.as_deref(), MAX_TEXT)?;
            let unit = unit_acted_for(c.unit.as_ref(), ctx)?;
            let dispatch = dispatched(request, unit)?;
            if dispatch.checked_in {
                return Err(Refusal::invalid(
                    "unit",
                    format!("unit \"{unit}\" has checked in already"),
                ));
            }
            LivelihoodEvent::CheckedIn {
                unit: unit.clone(),
                late: dispatch.missed || now > dispatch.check_in_by,
                at: now,
            }
        }
        LivelihoodCommand::ReturnDispatch(r) => {
            required_text("reason", &r.reason, MAX_TEXT)?;
            let unit = unit_acted_for(r.unit.as_ref(), ctx)?;
            let dispatch = dispatched(request, unit)?;
            if dispatch.checked_in {
                return Err(Refusal::invalid(
                    "unit",
                    format!(
                        "unit \"{unit}\" has checked in: it answers its part rather than return it"
                    ),
                ));
            }
            if now > dispatch.return_by {
                return Err(Refusal::invalid(
                    "unit",
                    format!(
                        "unit \"{unit}\" could return this dispatch until {}; it handles its part now",
                        dispatch.return_by
                    ),
                ));
            }
            LivelihoodEvent::DispatchReturned {
                unit: unit.clone(),
                reason: r.reason.clone(),
                at: now,
            }
        }
        LivelihoodCommand::Redispatch(d) => {
            required_text("reason", &d.reason, MAX_TEXT)?;
            if request.is_some_and(|r| r.dispatched_as(&d.lead, &d.co_handlers)) {
                return Err(Refusal::invalid(
                    "co_handlers",
                    "the request is dispatched so already: a redispatch adds, replaces or drops a unit, or changes the lead",
                ));
            }
            LivelihoodEvent::Redispatched {
                lead: d.lead.clone(),
                co_handlers: d.co_handlers.clone(),
                at: now,
                check_in_by,
                return_by,
                reason: d.reason.clone(),
            }
        }
        LivelihoodCommand::Reply(r) => {
            required_text("text", &r.text, MAX_TEXT)?;
            LivelihoodEvent::Replied {
                result: r.result,
                text: r.text.clone(),
                at: now,
                rate_by: policy.due(now, limits.rate),
            }
        }
        LivelihoodCommand::Rate(r) => {
            optional_text("note", r.note.as_deref(), MAX_TEXT)?;
            // A service account passes on the rating of a resident who asked through it.
            if ctx.role == ServiceAccount
                && !request
                    .is_some_and(|q| matches!(q.channel, Channel::ResidentApp | Channel::Hotline))
            {
                return Err(Refusal::invalid(
                    "rating",
                    "a service account rates requests that came from residents' apps or the hotline",
                ));
            }
            LivelihoodEvent::Rated {
                rating: r.rating,
                note: r.note.clone(),
            }
        }
        LivelihoodCommand::CloseUnrated(c) => {
            optional_text("note", c.note.as_deref(), MAX_TEXT)?;
            LivelihoodEvent::ClosedUnrated {
                note: c.note.clone(),
            }
        }
        LivelihoodCommand::Redo(d) => {
            required_text("reason", &d.reason, MAX_TEXT)?;
            LivelihoodEvent::Redone {
                round: request.map_or(1, |r| r.round).saturating_add(1),
                lead: d.lead.clone(),
                co_handlers: d.co_handlers.clone(),
                at: now,
                check_in_by,
                return_by,
                reason: d.reason.clone(),
                handle_by: policy.due_within(now, urgency.pick(&limits.handle)),
            }
        }
    };
    Ok(vec![event])
}

/// The dispatch of `unit` still on the request, or the refusal naming the unit.
fn dispatched<'a>(
    request: Option<&'a LivelihoodRequest>,
    unit: &UnitId,
) -> Result<&'a UnitDispatch, Refusal> {
    request.and_then(|r| r.dispatch_of(unit)).ok_or_else(|| {
        Refusal::invalid(
            "unit",
            format!("unit \"{unit}\" is not dispatched on this request"),
        )
    })
}

/// The dispatches a dispatch, redispatch or redo adds.
fn send(
    r: &mut LivelihoodRequest,
    (lead, co_handlers): (&UnitId, &[UnitId]),
    at: Timestamp,
    check_in_by: Timestamp,
    return_by: Timestamp,
) {
    for unit in std::iter::once(lead).chain(co_handlers) {
        let is_lead = unit == lead;
        let round = r.round;
        match r
            .dispatches
            .iter_mut()
            .find(|d| d.is_active() && &d.unit == unit)
        {
            Some(kept) => kept.lead = is_lead,
            None => r.dispatches.push(UnitDispatch {
                unit: unit.clone(),
                lead: is_lead,
                round,
                dispatched_at: at,
                check_in_by,
                return_by,
                checked_in: false,
                checked_in_at: None,
                late: false,
                missed: false,
                returned: None,
                returned_at: None,
                replaced: false,
                rating: None,
            }),
        }
    }
}

/// Applies one recorded event. Events are facts: this does not judge them again, it only refuses
/// what cannot be replayed at all.
pub fn evolve(
    request: Option<LivelihoodRequest>,
    event: &LivelihoodEvent,
) -> Result<LivelihoodRequest, ReplayError> {
    let Some(mut r) = kind::continued(
        KIND,
        request,
        matches!(event, LivelihoodEvent::Received { .. }),
        ("received twice", "event before the request was received"),
    )?
    else {
        return Ok(received(event));
    };
    match event {
        LivelihoodEvent::Received { .. } => unreachable!("handled above"),
        LivelihoodEvent::Dispatched {
            round,
            lead,
            co_handlers,
            at,
            check_in_by,
            return_by,
            ..
        } => {
            r.status = Dispatched;
            r.round = *round;
            send(&mut r, (lead, co_handlers), *at, *check_in_by, *return_by);
        }
        LivelihoodEvent::CheckedIn { unit, late, at } => {
            let d = active_dispatch(&mut r, unit)?;
            d.checked_in = true;
            d.checked_in_at = Some(*at);
            d.late |= *late;
            r.status = InProgress;
        }
        LivelihoodEvent::DispatchReturned { unit, reason, at } => {
            let d = active_dispatch(&mut r, unit)?;
            d.returned = Some(reason.clone());
            d.returned_at = Some(*at);
        }
        LivelihoodEvent::Redispatched {
            lead,
            co_handlers,
            at,
            check_in_by,
            return_by,
            ..
        } => {
            for d in r.dispatches.iter_mut().filter(|d| d.is_active()) {
                if &d.unit != lead && !co_handlers.contains(&d.unit) {
                    d.replaced = true;
                }
            }
            send(&mut r, (lead, co_handlers), *at, *check_in_by, *return_by);
            r.status = Dispatched;
        }
        LivelihoodEvent::CheckInMissed { unit, .. } => {
            let d = active_dispatch(&mut r, unit)?;
            d.missed = true;
            d.late = true;
        }
        LivelihoodEvent::Replied {
            result,
            text,
            at,
            rate_by,
        } => {
            r.status = Replied;
            r.result = Some(*result);
            r.reply = Some(text.clone());
            r.replied_at = Some(*at);
            r.replies.push(ReplyTime {
                round: r.round,
                started: r.round_started,
                at: *at,
            });
            r.rate_by = Some(*rate_by);
            r.deadline = None;
        }
        LivelihoodEvent::Rated { rating, .. } => {
            r.status = Closed;
            r.rating = Some(*rating);
            for d in r.dispatches.iter_mut().filter(|d| d.is_active()) {
                d.rating = Some(*rating);
            }
        }
        LivelihoodEvent::ClosedUnrated { .. } => r.status = Closed,
        LivelihoodEvent::Redone {
            round,
            lead,
            co_handlers,
            at,
            check_in_by,
            return_by,
            handle_by,
            ..
        } => {
            for d in r.dispatches.iter_mut().filter(|d| d.is_active()) {
                d.replaced = true;
            }
            r.round = *round;
            r.round_started = Some(*at);
            r.redone += 1;
            r.result = None;
            r.reply = None;
            r.replied_at = None;
            r.rate_by = None;
            r.rating = None;
            r.deadline = Some(*handle_by);
            send(&mut r, (lead, co_handlers), *at, *check_in_by, *return_by);
            r.status = Dispatched;
        }
    }
    Ok(r)
}

fn active_dispatch<'a>(
    r: &'a mut LivelihoodRequest,
    unit: &UnitId,
) -> Result<&'a mut UnitDispatch, ReplayError> {
    r.dispatches
        .iter_mut()
        .find(|d| d.is_active() && &d.unit == unit)
        .ok_or_else(|| ReplayError::new(KIND, "an event for a unit not dispatched"))
}

fn received(event: &LivelihoodEvent) -> LivelihoodRequest {
    let LivelihoodEvent::Received {
        community,
        grid,
        address,
        location,
        title,
        description,
        channel,
        hotline_order,
        category,
        urgency,
        requester,
        media_url,
        handle_by,
    } = event.clone()
    else {
        unreachable!("called with a Received event only")
    };
    LivelihoodRequest {
        status: Received,
        community,
        grid,
        address,
        location,
        title,
        description,
        channel,
        hotline_order,
        category,
        urgency,
        requester,
        round: 0,
        dispatches: Vec::new(),
        result: None,
        reply: None,
        replied_at: None,
        replies: Vec::new(),
        round_started: None,
        rate_by: None,
        rating: None,
        redone: 0,
        duplicate: false,
        deadline: Some(handle_by),
        media_url,
    }
}

// ---- the kind -------------------------------------------------------------------------------

impl Kind for LivelihoodRequest {
    const NUMBER_PREFIX: &'static str = "MS";
    const CATEGORIES: &'static [(&'static str, &'static str)] = &[
        ("market-order", "市场秩序"),
        ("property-service", "物业服务"),
        ("utilities", "水电气热"),
        ("environment", "环境卫生"),
        ("traffic-parking", "交通停车"),
        ("public-facilities", "公共设施"),
        ("safety", "安全隐患"),
        ("noise", "噪声扰民"),
        ("other", "其他"),
    ];

    type Command = LivelihoodCommand;
    type Event = LivelihoodEvent;

    kind::kind_alike!();

    fn category(&self) -> String {
        self.category.to_string()
    }

    /// The urgency stands where a hazard's severity does: figures are sliced by it.
    fn severity(&self) -> Option<&'static str> {
        Some(self.urgency.as_str())
    }

    fn channel(&self) -> Option<&'static str> {
        Some(self.channel.as_str())
    }

    fn current_step(&self) -> Option<&'static str> {
        match self.status {
            Received | Dispatched | InProgress => Some("handle"),
            Replied | Closed => None,
        }
    }

    /// Closed: resolved when the reply said so; a duplicate counts with its original.
    fn outcome(&self) -> Option<Outcome> {
        match self.status {
            Closed if self.duplicate => Some(Outcome::Duplicate),
            Closed if self.result == Some(ReplyResult::Resolved) => Some(Outcome::Resolved),
            Closed => Some(Outcome::NotResolved),
            Received | Dispatched | InProgress | Replied => None,
        }
    }

    /// Units are changed by redispatch and redo, which keep each unit's dispatch: nobody
    /// reassigns a request or adds co-handling units beside them.
    fn routers() -> &'static [Role] {
        &[]
    }

    fn step_workers() -> &'static [Role] {
        &[Handler]
    }

    fn extension_rule(policy: &DeadlinePolicy) -> ExtensionRule {
        policy.extensions.livelihood
    }

    fn extendable(&self) -> Result<(), &'static str> {
        if self.is_out() {
            Ok(())
        } else {
            Err("only the handling limit of a request out to units can be extended")
        }
    }

    fn reopenable(&self) -> Result<(), &'static str> {
        Err("a livelihood request is redone (redo) after a dissatisfied rating, not reopened")
    }

    fn reopen_deadline(policy: &DeadlinePolicy, now: Timestamp) -> Timestamp {
        policy.due_within(now, policy.livelihood.handle.general)
    }

    fn reopened(&mut self, deadline: Timestamp) {
        self.status = Received;
        self.deadline = Some(deadline);
    }

    fn marked_duplicate(&mut self) {
        self.status = Closed;
        self.duplicate = true;
        self.deadline = None;
    }

    /// The requester is shown in clear to those who work the request.
    fn disclosure(&self, role: Role, _unit: Option<&UnitId>) -> Disclosure {
        match role {
            PetitionOfficer | Supervisor | Handler => Disclosure::Clear,
            _ => Disclosure::Masked,
        }
    }

    /// The units follow the dispatches ([`Kind::units`]), not single events.
    fn assigned_unit(_event: &LivelihoodEvent) -> Option<&UnitId> {
        None
    }

    /// Each unit checks in and returns its own dispatch.
    fn each_units_own(action: Action) -> bool {
        matches!(action, Action::CheckIn | Action::ReturnDispatch)
    }

    /// A unit checks in while its dispatch waits for it, and returns it within its time.
    fn unit_may(&self, action: Action, unit: &UnitId, now: Timestamp) -> bool {
        self.dispatch_of(unit).is_some_and(|d| match action {
            Action::CheckIn => !d.checked_in,
            Action::ReturnDispatch => d.may_be_returned(now),
            _ => true,
        })
    }

    /// The lead and co-handling units are the dispatches still on the request.
    fn units(&self) -> Option<(Option<&UnitId>, Vec<UnitId>)> {
        Some((
            self.lead().map(|d| &d.unit),
            self.active()
                .filter(|d| !d.lead)
                .map(|d| d.unit.clone())
                .collect(),
        ))
    }

    /// A unit records its part once it has checked in, until the lead replies.
    fn part_recordable(&self, unit: &UnitId) -> Result<(), String> {
        if !self.is_out() {
            return Err(format!(
                "parts are recorded while the request is out to units; it is {}",
                self.status.as_str()
            ));
        }
        match self.dispatch_of(unit) {
            None => Err(format!("unit \"{unit}\" is not dispatched on this request")),
            Some(d) if !d.checked_in => Err(format!(
                "unit \"{unit}\" checks in before it records its part"
            )),
            Some(_) => Ok(()),
        }
    }

    /// Each unit not checked in by its limit, once.
    fn watched_events(&self, now: Timestamp) -> Vec<LivelihoodEvent> {
        if !self.is_out() {
            return Vec::new();
        }
        self.waiting_for_check_in()
            .filter(|d| !d.missed && now > d.check_in_by)
            .map(|d| LivelihoodEvent::CheckInMissed {
                unit: d.unit.clone(),
                due: d.check_in_by,
            })
            .collect()
    }

    fn next_watch(&self) -> Option<Timestamp> {
        if !self.is_out() {
            return None;
        }
        self.waiting_for_check_in()
            .filter(|d| !d.missed)
            .map(|d| d.check_in_by)
            .min()
    }

    fn persons_mut(event: &mut LivelihoodEvent) -> Vec<&mut Personal> {
        match event {
            LivelihoodEvent::Received { requester, .. } => requester.iter_mut().collect(),
            _ => Vec::new(),
        }
    }

    fn persons(event: &LivelihoodEvent) -> Vec<&Personal> {
        match event {
            LivelihoodEvent::Received { requester, .. } => requester.iter().collect(),
            _ => Vec::new(),
        }
    }

    fn named(command: &LivelihoodCommand) -> Vec<(&'static str, Named<'_>)> {
        if let LivelihoodCommand::Receive(r) = command {
            return filed_names(
                &r.community,
                r.grid.as_ref(),
                KIND,
                ("category", &r.category),
                [],
            );
        }
        let Some((lead, co_handlers)) = command.units() else {
            return Vec::new();
        };
        std::iter::once(("lead", Named::NetworkUnit(lead)))
            .chain(
                co_handlers
                    .iter()
                    .map(|u| ("co_handlers", Named::NetworkUnit(u))),
            )
            .collect()
    }
}

#[cfg(test)]
mod tests;
