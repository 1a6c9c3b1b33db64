//! The stability-risk event (涉稳风险事件): identified → assessed → under control (稳控) →
//! struck off (销号), or escalated (上报) to the district.
//!
//! The level a risk is assessed at (重大 / 较大 / 一般) sets how often it is reviewed while under
//! control; a review may change it. A petition or dispute that arises from a risk is linked to
//! it. The people involved are personal data, sealed as petitioners are.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::deadlines::{DeadlinePolicy, ExtensionRule, Limit};
use crate::evidence::{
    Evidence, MAX_SHORT_TEXT, MAX_TEXT, MAX_TITLE, check_evidence, check_person, optional_text,
    required_text,
};
use crate::kind::{self, CaseReference, Kind, Next, Outcome, Row, filed_names};
use crate::person::{Disclosure, Personal, PersonalDetails};
use crate::{
    CaseId, CategoryId, CommunityId, Context, GridId, Named, Refusal, ReplayError, Role, UnitId,
};

const KIND: &str = "risk_event";

/// The most people one risk event names.
const MAX_PEOPLE: usize = 200;

/// Where a risk event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = risk_event::Status)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Identified,
    Assessed,
    /// 稳控
    UnderControl,
    /// 销号: the risk is gone.
    StruckOff,
    /// 上报: handed to the district, not resolved here.
    Escalated,
    /// Closed as a duplicate of another case.
    Duplicate,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Identified,
        Status::Assessed,
        Status::UnderControl,
        Status::StruckOff,
        Status::Escalated,
        Status::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Identified => "identified",
            Status::Assessed => "assessed",
            Status::UnderControl => "under-control",
            Status::StruckOff => "struck-off",
            Status::Escalated => "escalated",
            Status::Duplicate => "duplicate",
        }
    }

    pub fn is_end(self) -> bool {
        match self {
            Status::StruckOff | Status::Escalated | Status::Duplicate => true,
            Status::Identified | Status::Assessed | Status::UnderControl => false,
        }
    }
}

/// The actions of the risk event table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Identify,
    Assess,
    Control,
    Review,
    StrikeOff,
    Escalate,
    RaiseCase,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Identify,
        Action::Assess,
        Action::Control,
        Action::Review,
        Action::StrikeOff,
        Action::Escalate,
        Action::RaiseCase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Identify => "identify",
            Action::Assess => "assess",
            Action::Control => "control",
            Action::Review => "review",
            Action::StrikeOff => "strike-off",
            Action::Escalate => "escalate",
            Action::RaiseCase => "raise-case",
        }
    }
}

kind::states_and_actions!();

use Next::{To, Unchanged};
use Role::{GridWorker, Handler, Mediator, PetitionOfficer, Supervisor};
use Status::{Assessed, Duplicate, Escalated, Identified, StruckOff, UnderControl};

/// The risk event table of the domain brief, row for row.
pub const TABLE: &[Row<RiskEvent>] = &[
    Row {
        from: &[None],
        action: Action::Identify,
        who: &[GridWorker, PetitionOfficer, Handler, Supervisor],
        to: To(Identified),
        guard: None,
    },
    Row {
        from: &[Some(Identified)],
        action: Action::Assess,
        who: &[Handler, Supervisor],
        to: To(Assessed),
        guard: None,
    },
    Row {
        from: &[Some(Assessed)],
        action: Action::Control,
        who: &[Supervisor],
        to: To(UnderControl),
        guard: None,
    },
    Row {
        from: &[Some(UnderControl)],
        action: Action::Review,
        // The responsible unit's handlers (the lead unit's), or a supervisor.
        who: &[Handler, Supervisor],
        to: Unchanged,
        guard: None,
    },
    Row {
        from: &[Some(UnderControl)],
        action: Action::StrikeOff,
        who: &[Supervisor],
        to: To(StruckOff),
        guard: None,
    },
    Row {
        from: &[Some(Assessed), Some(UnderControl)],
        action: Action::Escalate,
        who: &[Supervisor],
        to: To(Escalated),
        guard: None,
    },
    Row {
        from: &[Some(Identified), Some(Assessed), Some(UnderControl)],
        action: Action::RaiseCase,
        who: &[PetitionOfficer, Mediator, Supervisor],
        to: Unchanged,
        guard: None,
    },
];

/// 重大 / 较大 / 一般: sets how often the risk is reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = risk_event::Level)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Major,
    Large,
    General,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Major, Level::Large, Level::General];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Major => "major",
            Level::Large => "large",
            Level::General => "general",
        }
    }

    fn review_limit(self, policy: &DeadlinePolicy) -> Limit {
        match self {
            Level::Major => policy.risk.review_major,
            Level::Large => policy.risk.review_large,
            Level::General => policy.risk.review_general,
        }
    }
}

/// Where the risk came to light.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = risk_event::Source)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    GridPatrol,
    Petition,
    Dispute,
    Hotline,
    PoliceNotice,
    Other,
}

/// What a review found the risk doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = risk_event::Trend)]
#[serde(rename_all = "kebab-case")]
pub enum Trend {
    Eased,
    Persists,
    Grew,
}

// ---- commands -------------------------------------------------------------------------------

/// A command to a risk event, named as the table names its action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = risk_event::Command)]
#[serde(tag = "action", content = "input", rename_all = "kebab-case")]
pub enum RiskCommand {
    Identify(Identify),
    Assess(Assess),
    Control(Control),
    Review(Review),
    StrikeOff(StrikeOff),
    Escalate(Escalate),
    RaiseCase(RaiseCase),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = risk_event::Identify)]
#[serde(deny_unknown_fields)]
pub struct Identify {
    pub community: CommunityId,
    #[serde(default)]
    pub grid: Option<GridId>,
    #[serde(default)]
    pub address: Option<String>,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub source: Source,
    pub category: CategoryId,
    /// The people involved: personal data, sealed.
    #[serde(default)]
    pub people: Vec<PersonalDetails>,
    /// How many people the risk involves; at least those named.
    #[serde(default)]
    pub headcount: Option<u32>,
    /// The unit that follows the risk until it is controlled; a handler's own by default.
    #[serde(default)]
    pub unit: Option<UnitId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = risk_event::Assess)]
#[serde(deny_unknown_fields)]
pub struct Assess {
    pub level: Level,
    pub reason: String,
}

/// 稳控: the measures, who carries them out, and the leader who owns the risk (包案).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = risk_event::Control)]
#[serde(deny_unknown_fields)]
pub struct Control {
    pub measures: String,
    /// The responsible unit (责任单位): it leads the case from now on.
    pub unit: UnitId,
    pub responsible_person: String,
    /// 包案领导
    pub leader: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = risk_event::Review)]
#[serde(deny_unknown_fields)]
pub struct Review {
    pub situation: String,
    pub trend: Trend,
    /// A new level, when the review changes it.
    #[serde(default)]
    pub level: Option<Level>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = risk_event::StrikeOff)]
#[serde(deny_unknown_fields)]
pub struct StrikeOff {
    /// Why the risk is gone (销号依据).
    pub basis: String,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = risk_event::Escalate)]
#[serde(deny_unknown_fields)]
pub struct Escalate {
    pub reason: String,
    /// Whom it is reported to; the district by default.
    #[serde(default)]
    pub to: Option<String>,
}

/// A petition or dispute that arose from the risk: both are linked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = risk_event::RaiseCase)]
#[serde(deny_unknown_fields)]
pub struct RaiseCase {
    pub case: CaseId,
    #[serde(default)]
    pub note: Option<String>,
}

impl RiskCommand {
    pub fn action(&self) -> Action {
        match self {
            RiskCommand::Identify(_) => Action::Identify,
            RiskCommand::Assess(_) => Action::Assess,
            RiskCommand::Control(_) => Action::Control,
            RiskCommand::Review(_) => Action::Review,
            RiskCommand::StrikeOff(_) => Action::StrikeOff,
            RiskCommand::Escalate(_) => Action::Escalate,
            RiskCommand::RaiseCase(_) => Action::RaiseCase,
        }
    }
}

// ---- events ---------------------------------------------------------------------------------

/// What happened to a risk event. Deadlines are decided when the event is, and recorded in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum RiskEventEvent {
    Identified {
        community: CommunityId,
        grid: Option<GridId>,
        address: Option<String>,
        title: String,
        description: String,
        source: Source,
        category: CategoryId,
        people: Vec<Personal>,
        headcount: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<UnitId>,
        assess_by: Timestamp,
    },
    Assessed {
        level: Level,
        reason: String,
    },
    Controlled {
        measures: String,
        unit: UnitId,
        responsible_person: String,
        leader: String,
        review_by: Timestamp,
    },
    Reviewed {
        number: u32,
        situation: String,
        trend: Trend,
        /// The level after the review.
        level: Level,
        review_by: Timestamp,
    },
    StruckOff {
        basis: String,
        evidence: Vec<Evidence>,
    },
    Escalated {
        reason: String,
        to: String,
    },
    CaseRaised {
        case: CaseId,
        note: Option<String>,
    },
}

// ---- state ----------------------------------------------------------------------------------

/// A risk event as its events have made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskEvent {
    pub status: Status,
    pub community: CommunityId,
    pub grid: Option<GridId>,
    pub address: Option<String>,
    pub title: String,
    pub description: String,
    pub source: Source,
    pub category: CategoryId,
    /// The people involved, sealed.
    pub people: Vec<Personal>,
    pub headcount: u32,
    pub level: Option<Level>,
    pub measures: Option<String>,
    pub responsible_person: Option<String>,
    /// 包案领导
    pub leader: Option<String>,
    pub reviews: u32,
    pub last_trend: Option<Trend>,
    /// The deadline of the current step: assessment, then the next review.
    pub deadline: Option<Timestamp>,
    /// The petitions and disputes that arose from it.
    pub raised: Vec<CaseId>,
    pub escalated_to: Option<String>,
}

// ---- the rules ------------------------------------------------------------------------------

/// What a command the table allowed records on a risk event, once its inputs are checked.
fn record(
    risk: Option<&RiskEvent>,
    command: &RiskCommand,
    ctx: &Context<'_>,
) -> Result<Vec<RiskEventEvent>, Refusal> {
    let now = ctx.now;
    let policy = ctx.policy;
    let event = match command {
        RiskCommand::Identify(i) => {
            required_text("title", &i.title, MAX_TITLE)?;
            optional_text("description", Some(&i.description), MAX_TEXT)?;
            optional_text("address", i.address.as_deref(), MAX_SHORT_TEXT)?;
            if i.people.len() > MAX_PEOPLE {
                return Err(Refusal::invalid(
                    "people",
                    format!("at most {MAX_PEOPLE} people"),
                ));
            }
            for p in &i.people {
                check_person(
                    "people",
                    &p.name,
                    p.id_number.as_deref(),
                    p.phone.as_deref(),
                    p.address.as_deref(),
                )?;
            }
            let named = u32::try_from(i.people.len()).unwrap_or(u32::MAX);
            let headcount = i.headcount.unwrap_or(named.max(1));
            if headcount < named.max(1) {
                return Err(Refusal::invalid(
                    "headcount",
                    "must be at least 1 and at least the number of people named",
                ));
            }
            RiskEventEvent::Identified {
                community: i.community.clone(),
                grid: i.grid.clone(),
                address: i.address.clone(),
                title: i.title.trim().to_owned(),
                description: i.description.clone(),
                source: i.source,
                category: i.category.clone(),
                people: i
                    .people
                    .iter()
                    .map(|p| {
                        Personal::Clear(PersonalDetails {
                            name: p.name.trim().to_owned(),
                            ..p.clone()
                        })
                    })
                    .collect(),
                headcount,
                unit: i.unit.clone(),
                assess_by: policy.due(now, policy.risk.assess),
            }
        }
        RiskCommand::Assess(a) => {
            required_text("reason", &a.reason, MAX_TEXT)?;
            RiskEventEvent::Assessed {
                level: a.level,
                reason: a.reason.clone(),
            }
        }
        RiskCommand::Control(c) => {
            required_text("measures", &c.measures, MAX_TEXT)?;
            required_text("responsible_person", &c.responsible_person, MAX_SHORT_TEXT)?;
            required_text("leader", &c.leader, MAX_SHORT_TEXT)?;
            let level = risk.and_then(|r| r.level).unwrap_or(Level::General);
            RiskEventEvent::Controlled {
                measures: c.measures.clone(),
                unit: c.unit.clone(),
                responsible_person: c.responsible_person.trim().to_owned(),
                leader: c.leader.trim().to_owned(),
                review_by: policy.due(now, level.review_limit(policy)),
            }
        }
        RiskCommand::Review(r) => {
            required_text("situation", &r.situation, MAX_TEXT)?;
            let level = r
                .level
                .or_else(|| risk.and_then(|k| k.level))
                .unwrap_or(Level::General);
            RiskEventEvent::Reviewed {
                number: risk.map_or(0, |k| k.reviews).saturating_add(1),
                situation: r.situation.clone(),
                trend: r.trend,
                level,
                review_by: policy.due(now, level.review_limit(policy)),
            }
        }
        RiskCommand::StrikeOff(s) => {
            required_text("basis", &s.basis, MAX_TEXT)?;
            check_evidence(&s.evidence, true)?;
            RiskEventEvent::StruckOff {
                basis: s.basis.clone(),
                evidence: s.evidence.clone(),
            }
        }
        RiskCommand::Escalate(e) => {
            required_text("reason", &e.reason, MAX_TEXT)?;
            optional_text("to", e.to.as_deref(), MAX_SHORT_TEXT)?;
            RiskEventEvent::Escalated {
                reason: e.reason.clone(),
                to: e
                    .to
                    .as_deref()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .unwrap_or("区")
                    .to_owned(),
            }
        }
        RiskCommand::RaiseCase(c) => {
            optional_text("note", c.note.as_deref(), MAX_TEXT)?;
            if c.case == ctx.case_id {
                return Err(Refusal::invalid(
                    "case",
                    "a risk event does not arise from itself",
                ));
            }
            if risk.is_some_and(|r| r.raised.contains(&c.case)) {
                return Err(Refusal::invalid(
                    "case",
                    "that case is already linked to this risk event",
                ));
            }
            RiskEventEvent::CaseRaised {
                case: c.case,
                note: c.note.clone(),
            }
        }
    };
    Ok(vec![event])
}

/// Applies one recorded event. Events are facts: this does not judge them again, it only refuses
/// what cannot be replayed at all.
pub fn evolve(risk: Option<RiskEvent>, event: &RiskEventEvent) -> Result<RiskEvent, ReplayError> {
    let Some(mut r) = kind::continued(
        KIND,
        risk,
        matches!(event, RiskEventEvent::Identified { .. }),
        ("identified twice", "event before the risk was identified"),
    )?
    else {
        return Ok(identified(event));
    };
    match event {
        RiskEventEvent::Identified { .. } => unreachable!("handled above"),
        RiskEventEvent::Assessed { level, .. } => {
            r.status = Assessed;
            r.level = Some(*level);
            r.deadline = None;
        }
        RiskEventEvent::Controlled {
            measures,
            responsible_person,
            leader,
            review_by,
            ..
        } => {
            r.status = UnderControl;
            r.measures = Some(measures.clone());
            r.responsible_person = Some(responsible_person.clone());
            r.leader = Some(leader.clone());
            r.deadline = Some(*review_by);
        }
        RiskEventEvent::Reviewed {
            trend,
            level,
            review_by,
            ..
        } => {
            r.reviews += 1;
            r.last_trend = Some(*trend);
            r.level = Some(*level);
            r.deadline = Some(*review_by);
        }
        RiskEventEvent::StruckOff { .. } => {
            r.status = StruckOff;
            r.deadline = None;
        }
        RiskEventEvent::Escalated { to, .. } => {
            r.status = Escalated;
            r.escalated_to = Some(to.clone());
            r.deadline = None;
        }
        RiskEventEvent::CaseRaised { case, .. } => r.raised.push(*case),
    }
    Ok(r)
}

fn identified(event: &RiskEventEvent) -> RiskEvent {
    let RiskEventEvent::Identified {
        community,
        grid,
        address,
        title,
        description,
        source,
        category,
        people,
        headcount,
        assess_by,
        ..
    } = event.clone()
    else {
        unreachable!("called with an Identified event only")
    };
    RiskEvent {
        status: Identified,
        community,
        grid,
        address,
        title,
        description,
        source,
        category,
        people,
        headcount,
        level: None,
        measures: None,
        responsible_person: None,
        leader: None,
        reviews: 0,
        last_trend: None,
        deadline: Some(assess_by),
        raised: Vec::new(),
        escalated_to: None,
    }
}

// ---- the kind -------------------------------------------------------------------------------

impl Kind for RiskEvent {
    const NUMBER_PREFIX: &'static str = "FX";
    const CATEGORIES: &'static [(&'static str, &'static str)] = &[
        ("relocation-compensation", "征地拆迁补偿"),
        ("wage-arrears", "拖欠工资"),
        ("property", "物业纠纷"),
        ("investment-finance", "投资理财"),
        ("group-visit", "群体访风险"),
        ("public-safety", "公共安全"),
        ("other", "其他"),
    ];

    type Command = RiskCommand;
    type Event = RiskEventEvent;

    kind::kind_alike!();

    fn category(&self) -> String {
        self.category.to_string()
    }

    /// The level stands where a hazard's severity does: figures are sliced by it.
    fn severity(&self) -> Option<&'static str> {
        self.level.map(Level::as_str)
    }

    fn current_step(&self) -> Option<&'static str> {
        match self.status {
            Identified => Some("assess"),
            UnderControl => Some("review"),
            Assessed | StruckOff | Escalated | Duplicate => None,
        }
    }

    /// Struck off is resolved; escalated is not.
    fn outcome(&self) -> Option<Outcome> {
        match self.status {
            Duplicate => Some(Outcome::Duplicate),
            StruckOff => Some(Outcome::Resolved),
            Escalated => Some(Outcome::NotResolved),
            Identified | Assessed | UnderControl => None,
        }
    }

    /// Supervisors route risks (the responsible unit is named when the risk is controlled).
    fn routers() -> &'static [Role] {
        &[Supervisor]
    }

    fn step_workers() -> &'static [Role] {
        &[Handler]
    }

    fn extension_rule(_policy: &DeadlinePolicy) -> ExtensionRule {
        ExtensionRule {
            ceiling_days: 0,
            times: 0,
        }
    }

    fn extendable(&self) -> Result<(), &'static str> {
        Err("a risk event's deadlines follow its level: review it, or change its level, instead")
    }

    fn reopenable(&self) -> Result<(), &'static str> {
        Err("a risk that returns is identified again as a new risk event")
    }

    fn reopen_deadline(policy: &DeadlinePolicy, now: Timestamp) -> Timestamp {
        policy.due(now, policy.risk.assess)
    }

    fn reopened(&mut self, deadline: Timestamp) {
        self.status = Identified;
        self.deadline = Some(deadline);
    }

    /// A duplicate risk event ends, counted with the case it duplicates.
    fn marked_duplicate(&mut self) {
        self.status = Duplicate;
        self.deadline = None;
    }

    /// The people involved are shown as petitioners are: in clear to those who work the risk.
    fn disclosure(&self, role: Role, _unit: Option<&UnitId>) -> Disclosure {
        match role {
            PetitionOfficer | Supervisor | Handler => Disclosure::Clear,
            _ => Disclosure::Masked,
        }
    }

    /// The unit named at identification, then the responsible unit of control.
    fn assigned_unit(event: &RiskEventEvent) -> Option<&UnitId> {
        match event {
            RiskEventEvent::Identified { unit, .. } => unit.as_ref(),
            RiskEventEvent::Controlled { unit, .. } => Some(unit),
            _ => None,
        }
    }

    fn linked_case(event: &RiskEventEvent) -> Option<CaseId> {
        match event {
            RiskEventEvent::CaseRaised { case, .. } => Some(*case),
            _ => None,
        }
    }

    fn persons_mut(event: &mut RiskEventEvent) -> Vec<&mut Personal> {
        match event {
            RiskEventEvent::Identified { people, .. } => people.iter_mut().collect(),
            _ => Vec::new(),
        }
    }

    fn persons(event: &RiskEventEvent) -> Vec<&Personal> {
        match event {
            RiskEventEvent::Identified { people, .. } => people.iter().collect(),
            _ => Vec::new(),
        }
    }

    fn names_case(command: &RiskCommand) -> Option<(CaseId, &'static str, CaseReference)> {
        match command {
            RiskCommand::RaiseCase(r) => Some((
                r.case,
                "case",
                CaseReference::ArisenFrom(&["petition", "dispute"]),
            )),
            _ => None,
        }
    }

    fn named(command: &RiskCommand) -> Vec<(&'static str, Named<'_>)> {
        match command {
            RiskCommand::Identify(i) => filed_names(
                &i.community,
                i.grid.as_ref(),
                KIND,
                ("category", &i.category),
                [("unit", i.unit.as_ref())],
            ),
            RiskCommand::Control(c) => vec![("unit", Named::Unit(&c.unit))],
            _ => Vec::new(),
        }
    }

    /// A handler's identification goes to his own unit.
    fn route_to_own_unit(command: &mut RiskCommand, role: Role, unit: &UnitId) {
        if let RiskCommand::Identify(i) = command
            && role == Handler
            && i.unit.is_none()
        {
            i.unit = Some(unit.clone());
        }
    }
}

#[cfg(test)]
mod tests;
