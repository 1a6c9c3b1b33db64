//! The hazard ticket (安全隐患): found → rectified → struck off (销号).
//!
//! A hazard is closed only after a passed reinspection: that is the closed loop (闭环).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::deadlines::{DeadlinePolicy, ExtensionRule, Limit};
use crate::evidence::{
    Evidence, Location, MAX_SHORT_TEXT, MAX_TEXT, MAX_TITLE, check_evidence, check_location,
    check_media_url, optional_text, required_text,
};
use crate::kind::{self, CaseReference, Guard, Kind, Next, Outcome, Row, filed_names};
use crate::person::Disclosure;
use crate::{
    CaseId, CategoryId, CommunityId, Context, GridId, Named, Refusal, ReplayError, Role, UnitId,
};

const KIND: &str = "hazard";

/// Where a hazard ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = hazard::Status)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Reported,
    Verified,
    Rectifying,
    Rectified,
    /// 销号: struck off after a passed reinspection.
    Closed,
    Dismissed,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Reported,
        Status::Verified,
        Status::Rectifying,
        Status::Rectified,
        Status::Closed,
        Status::Dismissed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Reported => "reported",
            Status::Verified => "verified",
            Status::Rectifying => "rectifying",
            Status::Rectified => "rectified",
            Status::Closed => "closed",
            Status::Dismissed => "dismissed",
        }
    }

    pub fn is_end(self) -> bool {
        match self {
            Status::Closed | Status::Dismissed => true,
            Status::Reported | Status::Verified | Status::Rectifying | Status::Rectified => false,
        }
    }
}

/// The actions of the hazard table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Report,
    Verify,
    Dismiss,
    FixOnSpot,
    OrderRectification,
    ReportRectified,
    PassReinspection,
    FailReinspection,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::Report,
        Action::Verify,
        Action::Dismiss,
        Action::FixOnSpot,
        Action::OrderRectification,
        Action::ReportRectified,
        Action::PassReinspection,
        Action::FailReinspection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Report => "report",
            Action::Verify => "verify",
            Action::Dismiss => "dismiss",
            Action::FixOnSpot => "fix-on-spot",
            Action::OrderRectification => "order-rectification",
            Action::ReportRectified => "report-rectified",
            Action::PassReinspection => "pass-reinspection",
            Action::FailReinspection => "fail-reinspection",
        }
    }
}

kind::states_and_actions!();

use Next::To;
use Role::{GridWorker, Handler, ServiceAccount, Supervisor};
use Status::{Closed, Dismissed, Rectified, Rectifying, Reported, Verified};

/// The hazard table of the domain brief, row for row.
pub const TABLE: &[Row<HazardTicket>] = &[
    Row {
        from: &[None],
        action: Action::Report,
        // A service account files what residents report (source: resident report).
        who: &[GridWorker, Handler, Supervisor, ServiceAccount],
        to: To(Reported),
        guard: None,
    },
    Row {
        from: &[Some(Reported)],
        action: Action::Verify,
        who: &[Handler, Supervisor],
        to: To(Verified),
        guard: None,
    },
    Row {
        from: &[Some(Reported)],
        action: Action::Dismiss,
        who: &[Handler, Supervisor],
        to: To(Dismissed),
        guard: None,
    },
    Row {
        from: &[Some(Reported), Some(Verified)],
        action: Action::FixOnSpot,
        who: &[GridWorker, Handler],
        to: To(Rectified),
        guard: Some(Guard {
            holds: |t, _| t.severity == Severity::General,
            reason: "only a general hazard can be fixed on the spot; a major one needs a rectification order",
        }),
    },
    Row {
        from: &[Some(Verified)],
        action: Action::OrderRectification,
        who: &[Handler, Supervisor],
        to: To(Rectifying),
        guard: None,
    },
    Row {
        from: &[Some(Rectifying)],
        action: Action::ReportRectified,
        who: &[GridWorker, Handler],
        to: To(Rectified),
        guard: None,
    },
    Row {
        from: &[Some(Rectified)],
        action: Action::PassReinspection,
        who: &[Handler, Supervisor],
        to: To(Closed),
        guard: None,
    },
    Row {
        from: &[Some(Rectified)],
        action: Action::FailReinspection,
        who: &[Handler, Supervisor],
        to: To(Rectifying),
        guard: None,
    },
];

/// 一般隐患 can be fixed at once; 重大隐患 needs stoppage or a plan and is supervised by law.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = hazard::Severity)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    General,
    Major,
}

impl Severity {
    pub const ALL: [Severity; 2] = [Severity::General, Severity::Major];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::General => "general",
            Severity::Major => "major",
        }
    }
}

/// Who found the hazard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = hazard::Source)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// 365日巡夜查
    NightPatrol,
    /// 清荷行动 and other campaigns
    SpecialCampaign,
    GridWorker,
    /// A resident's report (Open311).
    ResidentReport,
    SelfInspection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = hazard::DismissReason)]
#[serde(rename_all = "kebab-case")]
pub enum DismissReason {
    NotAHazard,
    Duplicate,
}

// ---- commands -------------------------------------------------------------------------------

/// A command to a hazard ticket, named as the table names its action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = hazard::Command)]
#[serde(tag = "action", content = "input", rename_all = "kebab-case")]
#[allow(
    clippy::large_enum_variant,
    reason = "a command is decided once and dropped, never kept in bulk"
)]
pub enum HazardCommand {
    Report(Report),
    Verify(Verify),
    Dismiss(Dismiss),
    FixOnSpot(FixOnSpot),
    OrderRectification(OrderRectification),
    ReportRectified(ReportRectified),
    PassReinspection(PassReinspection),
    FailReinspection(FailReinspection),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = hazard::Report)]
#[serde(deny_unknown_fields)]
pub struct Report {
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
    pub category: CategoryId,
    pub severity: Severity,
    pub source: Source,
    #[serde(default)]
    pub responsible_party: Option<String>,
    /// The responsible unit (责任单位) the ticket is routed to, whose handlers verify and follow
    /// it; a handler's report defaults to his own unit. Without one, a supervisor routes it
    /// (`reassign`).
    #[serde(default)]
    pub unit: Option<UnitId>,
    /// A photo or video of it where the reporting app keeps it (Open311's `media_url`).
    #[serde(default)]
    pub media_url: Option<String>,
    /// Photos taken when it was found, uploaded first (`POST /v1/evidence`): the case keeps
    /// each one's content hash.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = hazard::Verify)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// The severity as confirmed on site.
    pub severity: Severity,
    pub responsible_party: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = hazard::Dismiss)]
#[serde(deny_unknown_fields)]
pub struct Dismiss {
    pub reason: DismissReason,
    #[serde(default)]
    pub duplicate_of: Option<CaseId>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = hazard::FixOnSpot)]
#[serde(deny_unknown_fields)]
pub struct FixOnSpot {
    pub evidence: Vec<Evidence>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = hazard::OrderRectification)]
#[serde(deny_unknown_fields)]
pub struct OrderRectification {
    pub measures: String,
    /// When rectification is due; by default 7 days for a general hazard and 30 for a major one.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = hazard::ReportRectified)]
#[serde(deny_unknown_fields)]
pub struct ReportRectified {
    pub evidence: Vec<Evidence>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = hazard::PassReinspection)]
#[serde(deny_unknown_fields)]
pub struct PassReinspection {
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = hazard::FailReinspection)]
#[serde(deny_unknown_fields)]
pub struct FailReinspection {
    pub reason: String,
    /// The new rectification deadline; by default as long again as a first order.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<Timestamp>,
}

impl HazardCommand {
    pub fn action(&self) -> Action {
        match self {
            HazardCommand::Report(_) => Action::Report,
            HazardCommand::Verify(_) => Action::Verify,
            HazardCommand::Dismiss(_) => Action::Dismiss,
            HazardCommand::FixOnSpot(_) => Action::FixOnSpot,
            HazardCommand::OrderRectification(_) => Action::OrderRectification,
            HazardCommand::ReportRectified(_) => Action::ReportRectified,
            HazardCommand::PassReinspection(_) => Action::PassReinspection,
            HazardCommand::FailReinspection(_) => Action::FailReinspection,
        }
    }
}

// ---- events ---------------------------------------------------------------------------------

/// What happened to a hazard ticket. Deadlines are decided when the event is, and recorded in it,
/// so replaying history never depends on today's policy.
#[allow(
    clippy::large_enum_variant,
    reason = "an event lives from deciding to writing; boxing the filing's fields would complicate every match for no measured gain"
)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum HazardEvent {
    Reported {
        community: CommunityId,
        grid: Option<GridId>,
        address: Option<String>,
        location: Option<Location>,
        title: String,
        description: String,
        category: CategoryId,
        severity: Severity,
        source: Source,
        responsible_party: Option<String>,
        /// The responsible unit it was routed to at filing, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<UnitId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_url: Option<String>,
        /// Photos taken when it was found.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        evidence: Vec<Evidence>,
        verify_by: Timestamp,
    },
    Verified {
        severity: Severity,
        responsible_party: String,
        note: Option<String>,
    },
    Dismissed {
        reason: DismissReason,
        duplicate_of: Option<CaseId>,
        note: Option<String>,
    },
    FixedOnSpot {
        evidence: Vec<Evidence>,
        note: Option<String>,
        reinspect_by: Timestamp,
    },
    RectificationOrdered {
        measures: String,
        deadline: Timestamp,
    },
    RectificationReported {
        evidence: Vec<Evidence>,
        note: Option<String>,
        reinspect_by: Timestamp,
    },
    ReinspectionPassed {
        evidence: Vec<Evidence>,
        note: Option<String>,
    },
    ReinspectionFailed {
        reason: String,
        deadline: Timestamp,
    },
}

// ---- state ----------------------------------------------------------------------------------

/// A hazard ticket as its events have made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HazardTicket {
    pub status: Status,
    pub community: CommunityId,
    pub grid: Option<GridId>,
    pub address: Option<String>,
    pub location: Option<Location>,
    pub title: String,
    pub description: String,
    pub category: CategoryId,
    pub severity: Severity,
    pub source: Source,
    pub responsible_party: Option<String>,
    /// Rectification measures ordered, if any.
    pub measures: Option<String>,
    /// The deadline of the current step; none once the ticket has ended.
    pub deadline: Option<Timestamp>,
    pub evidence: Vec<Evidence>,
    pub failed_reinspections: u32,
    pub dismissal: Option<DismissReason>,
    pub duplicate_of: Option<CaseId>,
    /// A photo or video of it where the reporting app keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_url: Option<String>,
}

// ---- deadlines ------------------------------------------------------------------------------

fn rectification_limit(policy: &DeadlinePolicy, severity: Severity) -> Limit {
    match severity {
        Severity::General => policy.hazard.rectify_general,
        Severity::Major => policy.hazard.rectify_major,
    }
}

// ---- the rules ------------------------------------------------------------------------------

/// The rectification deadline an order or a failed reinspection sets: the one the user names,
/// which must lie ahead and within the policy's limit for the hazard's severity, or that limit.
fn rectification_deadline(
    named: Option<Timestamp>,
    severity: Severity,
    ctx: &Context<'_>,
) -> Result<Timestamp, Refusal> {
    let policy = ctx.policy;
    let limit = rectification_limit(policy, severity);
    let ceiling = policy.due(ctx.now, limit);
    match named {
        Some(d) if d <= ctx.now => Err(Refusal::invalid("deadline", "must be in the future")),
        Some(d) if d > ceiling => Err(Refusal::invalid(
            "deadline",
            format!(
                "must be at most the policy's {limit} for rectifying a {} hazard, that is by {}; a longer time is an extension for a supervisor to approve",
                severity.as_str(),
                policy.local_day(ceiling)
            ),
        )),
        Some(d) => Ok(d),
        None => Ok(ceiling),
    }
}

/// What a command the table allowed records on a ticket, once its inputs are checked.
fn record(
    ticket: Option<&HazardTicket>,
    command: &HazardCommand,
    ctx: &Context<'_>,
) -> Result<Vec<HazardEvent>, Refusal> {
    let now = ctx.now;
    let policy = ctx.policy;
    let event = match command {
        HazardCommand::Report(r) => {
            required_text("title", &r.title, MAX_TITLE)?;
            optional_text("description", Some(&r.description), MAX_TEXT)?;
            optional_text("address", r.address.as_deref(), MAX_SHORT_TEXT)?;
            optional_text(
                "responsible_party",
                r.responsible_party.as_deref(),
                MAX_SHORT_TEXT,
            )?;
            check_location(r.location.as_ref())?;
            check_media_url(r.media_url.as_deref())?;
            check_evidence(&r.evidence, false)?;
            if ctx.role == ServiceAccount && r.source != Source::ResidentReport {
                return Err(Refusal::invalid(
                    "source",
                    "a service account files what residents report: source resident-report",
                ));
            }
            HazardEvent::Reported {
                community: r.community.clone(),
                grid: r.grid.clone(),
                address: r.address.clone(),
                location: r.location,
                title: r.title.trim().to_owned(),
                description: r.description.clone(),
                category: r.category.clone(),
                severity: r.severity,
                source: r.source,
                media_url: r.media_url.as_deref().map(|u| u.trim().to_owned()),
                evidence: r.evidence.clone(),
                responsible_party: r.responsible_party.clone(),
                // Not routed: to the community's intake unit.
                unit: r.unit.clone().or_else(|| {
                    ctx.directory
                        .and_then(|d| d.intake_unit(&r.community))
                        .cloned()
                }),
                verify_by: policy.due(now, policy.hazard.verify),
            }
        }
        HazardCommand::Verify(v) => {
            required_text("responsible_party", &v.responsible_party, MAX_SHORT_TEXT)?;
            optional_text("note", v.note.as_deref(), MAX_TEXT)?;
            HazardEvent::Verified {
                severity: v.severity,
                responsible_party: v.responsible_party.clone(),
                note: v.note.clone(),
            }
        }
        HazardCommand::Dismiss(d) => {
            optional_text("note", d.note.as_deref(), MAX_TEXT)?;
            if d.duplicate_of == Some(ctx.case_id) {
                return Err(Refusal::invalid(
                    "duplicate_of",
                    "a case does not duplicate itself",
                ));
            }
            match (d.reason, d.duplicate_of) {
                (DismissReason::Duplicate, None) => {
                    return Err(Refusal::invalid(
                        "duplicate_of",
                        "a duplicate names the case it duplicates",
                    ));
                }
                (DismissReason::NotAHazard, Some(_)) => {
                    return Err(Refusal::invalid(
                        "duplicate_of",
                        "only a duplicate names another case",
                    ));
                }
                (DismissReason::Duplicate, Some(_)) | (DismissReason::NotAHazard, None) => {}
            }
            HazardEvent::Dismissed {
                reason: d.reason,
                duplicate_of: d.duplicate_of,
                note: d.note.clone(),
            }
        }
        HazardCommand::FixOnSpot(f) => {
            check_evidence(&f.evidence, true)?;
            optional_text("note", f.note.as_deref(), MAX_TEXT)?;
            HazardEvent::FixedOnSpot {
                evidence: f.evidence.clone(),
                note: f.note.clone(),
                reinspect_by: policy.due(now, policy.hazard.reinspect),
            }
        }
        HazardCommand::OrderRectification(o) => {
            required_text("measures", &o.measures, MAX_TEXT)?;
            let severity = ticket.map_or(Severity::General, |t| t.severity);
            HazardEvent::RectificationOrdered {
                measures: o.measures.clone(),
                deadline: rectification_deadline(o.deadline, severity, ctx)?,
            }
        }
        HazardCommand::ReportRectified(r) => {
            check_evidence(&r.evidence, true)?;
            optional_text("note", r.note.as_deref(), MAX_TEXT)?;
            HazardEvent::RectificationReported {
                evidence: r.evidence.clone(),
                note: r.note.clone(),
                reinspect_by: policy.due(now, policy.hazard.reinspect),
            }
        }
        HazardCommand::PassReinspection(p) => {
            check_evidence(&p.evidence, false)?;
            optional_text("note", p.note.as_deref(), MAX_TEXT)?;
            HazardEvent::ReinspectionPassed {
                evidence: p.evidence.clone(),
                note: p.note.clone(),
            }
        }
        HazardCommand::FailReinspection(f) => {
            required_text("reason", &f.reason, MAX_TEXT)?;
            let severity = ticket.map_or(Severity::General, |t| t.severity);
            HazardEvent::ReinspectionFailed {
                reason: f.reason.clone(),
                deadline: rectification_deadline(f.deadline, severity, ctx)?,
            }
        }
    };
    Ok(vec![event])
}

/// Applies one recorded event. Events are facts: this does not judge them again, it only refuses
/// what cannot be replayed at all (a follow-up event before the ticket was reported).
pub fn evolve(
    ticket: Option<HazardTicket>,
    event: &HazardEvent,
) -> Result<HazardTicket, ReplayError> {
    let Some(mut t) = kind::continued(
        KIND,
        ticket,
        matches!(event, HazardEvent::Reported { .. }),
        ("reported twice", "event before the ticket was reported"),
    )?
    else {
        return Ok(reported(event));
    };
    match event {
        HazardEvent::Reported { .. } => unreachable!("handled above"),
        HazardEvent::Verified {
            severity,
            responsible_party,
            ..
        } => {
            t.status = Verified;
            t.severity = *severity;
            t.responsible_party = Some(responsible_party.clone());
            t.deadline = None;
        }
        HazardEvent::Dismissed {
            reason,
            duplicate_of,
            ..
        } => {
            t.status = Dismissed;
            t.dismissal = Some(*reason);
            t.duplicate_of = *duplicate_of;
            t.deadline = None;
        }
        HazardEvent::FixedOnSpot {
            evidence,
            reinspect_by,
            ..
        }
        | HazardEvent::RectificationReported {
            evidence,
            reinspect_by,
            ..
        } => {
            t.status = Rectified;
            t.evidence.extend(evidence.iter().cloned());
            t.deadline = Some(*reinspect_by);
        }
        HazardEvent::RectificationOrdered { measures, deadline } => {
            t.status = Rectifying;
            t.measures = Some(measures.clone());
            t.deadline = Some(*deadline);
        }
        HazardEvent::ReinspectionPassed { evidence, .. } => {
            t.status = Closed;
            t.evidence.extend(evidence.iter().cloned());
            t.deadline = None;
        }
        HazardEvent::ReinspectionFailed { deadline, .. } => {
            t.status = Rectifying;
            t.failed_reinspections += 1;
            t.deadline = Some(*deadline);
        }
    }
    Ok(t)
}

fn reported(event: &HazardEvent) -> HazardTicket {
    let HazardEvent::Reported {
        community,
        grid,
        address,
        location,
        title,
        description,
        category,
        severity,
        source,
        responsible_party,
        unit: _,
        media_url,
        evidence,
        verify_by,
    } = event.clone()
    else {
        unreachable!("called with a Reported event only")
    };
    HazardTicket {
        status: Reported,
        community,
        grid,
        address,
        location,
        title,
        description,
        category,
        severity,
        source,
        responsible_party,
        measures: None,
        deadline: Some(verify_by),
        evidence,
        failed_reinspections: 0,
        dismissal: None,
        duplicate_of: None,
        media_url,
    }
}

// ---- the kind -------------------------------------------------------------------------------

impl Kind for HazardTicket {
    const NUMBER_PREFIX: &'static str = "HZ";
    const CATEGORIES: &'static [(&'static str, &'static str)] = &[
        ("fire", "消防"),
        ("gas", "燃气"),
        ("electrical", "电气"),
        ("e-bike-charging", "电动自行车充电"),
        ("rental-housing", "出租房屋"),
        ("shopfront", "临街店铺"),
        ("small-enterprise", "小微企业"),
        ("structure", "房屋结构"),
        ("other", "其他"),
    ];

    type Command = HazardCommand;
    type Event = HazardEvent;

    kind::kind_alike!();

    fn category(&self) -> String {
        self.category.to_string()
    }

    fn severity(&self) -> Option<&'static str> {
        Some(self.severity.as_str())
    }

    /// The step whose deadline the ticket shows.
    fn current_step(&self) -> Option<&'static str> {
        match self.status {
            Reported => Some("verify"),
            Rectifying => Some("rectify"),
            Rectified => Some("reinspect"),
            Verified | Closed | Dismissed => None,
        }
    }

    /// Struck off after reinspection is resolved; a dismissed ticket is not (or is a duplicate).
    fn outcome(&self) -> Option<Outcome> {
        match self.status {
            Closed => Some(Outcome::Resolved),
            Dismissed if self.dismissal == Some(DismissReason::Duplicate) => {
                Some(Outcome::Duplicate)
            }
            Dismissed => Some(Outcome::NotResolved),
            Reported | Verified | Rectifying | Rectified => None,
        }
    }

    /// The supervisor routes hazards to units.
    fn routers() -> &'static [Role] {
        &[Supervisor]
    }

    /// The responsible unit works every step.
    fn step_workers() -> &'static [Role] {
        &[Handler]
    }

    fn extension_rule(policy: &DeadlinePolicy) -> ExtensionRule {
        policy.extensions.hazard
    }

    /// Only a rectification deadline can be extended.
    fn extendable(&self) -> Result<(), &'static str> {
        match self.status {
            Rectifying => Ok(()),
            _ => Err("only a rectification deadline can be extended"),
        }
    }

    /// A struck-off hazard can be reopened (the hazard is back); a dismissed one is reported anew.
    fn reopenable(&self) -> Result<(), &'static str> {
        match self.status {
            Closed => Ok(()),
            _ => Err("only a struck-off hazard is reopened; a dismissed one is reported again"),
        }
    }

    /// A reopened hazard is verified again on site.
    fn reopen_deadline(policy: &DeadlinePolicy, now: Timestamp) -> Timestamp {
        policy.due(now, policy.hazard.verify)
    }

    fn reopened(&mut self, deadline: Timestamp) {
        self.status = Reported;
        self.deadline = Some(deadline);
    }

    /// The hazard table's own dismissal as a duplicate.
    fn marked_duplicate(&mut self) {
        self.status = Dismissed;
        self.dismissal = Some(DismissReason::Duplicate);
        self.deadline = None;
    }

    /// A hazard names no one but its responsible party, which is not personal data.
    fn disclosure(&self, _role: Role, _unit: Option<&UnitId>) -> Disclosure {
        Disclosure::Masked
    }

    /// The responsible unit named at filing.
    fn assigned_unit(event: &HazardEvent) -> Option<&UnitId> {
        match event {
            HazardEvent::Reported { unit, .. } => unit.as_ref(),
            _ => None,
        }
    }

    fn duplicate_of(event: &HazardEvent) -> Option<CaseId> {
        match event {
            HazardEvent::Dismissed { duplicate_of, .. } => *duplicate_of,
            _ => None,
        }
    }

    fn names_case(command: &HazardCommand) -> Option<(CaseId, &'static str, CaseReference)> {
        match command {
            HazardCommand::Dismiss(Dismiss {
                duplicate_of: Some(of),
                ..
            }) => Some((*of, "duplicate_of", CaseReference::Original)),
            _ => None,
        }
    }

    fn named(command: &HazardCommand) -> Vec<(&'static str, Named<'_>)> {
        match command {
            HazardCommand::Report(r) => filed_names(
                &r.community,
                r.grid.as_ref(),
                KIND,
                ("category", &r.category),
                [("unit", r.unit.as_ref())],
            ),
            _ => Vec::new(),
        }
    }

    /// A handler's report goes to his own unit.
    fn route_to_own_unit(command: &mut HazardCommand, role: Role, unit: &UnitId) {
        if let HazardCommand::Report(r) = command
            && role == Handler
            && r.unit.is_none()
        {
            r.unit = Some(unit.clone());
        }
    }
}

#[cfg(test)]
mod tests;
