//! The petition (信访): registered → accepted and handled → replied, then reviewed and re-reviewed
//! at the petitioner's request, as the Regulations on Letters and Visits (2022) lay it down.
//!
//! A re-review decision ends the matter (终结): the same matter is not accepted again.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::common::Outcome;
use crate::deadlines::DeadlinePolicy;
use crate::evidence::{
    Evidence, MAX_SHORT_TEXT, MAX_TEXT, MAX_TITLE, check_evidence, check_person, optional_text,
    required_text,
};
use crate::person::{Personal, PersonalDetails};
use crate::{CommunityId, Context, GridId, Refusal, ReplayError, Role, UnitId};

const KIND: &str = "petition";

/// The most petitioners one petition names.
const MAX_PETITIONERS: usize = 200;
/// The largest headcount of one visit.
const MAX_HEADCOUNT: u32 = 10_000;
/// A visit of this many people or more is a collective visit (集体访).
const COLLECTIVE_HEADCOUNT: u32 = 5;

/// Where a petition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Registered,
    /// Accepted and with the handling unit.
    Handling,
    /// The handling opinion (处理意见书) is out.
    Replied,
    UnderReview,
    ReviewDecided,
    UnderReReview,
    Closed,
    NotAccepted,
    Transferred,
    /// 终结: the re-review is decided and the same matter is not accepted again.
    Concluded,
    /// Marked as a duplicate of another case (never by the table).
    Duplicate,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Registered => "registered",
            Status::Handling => "handling",
            Status::Replied => "replied",
            Status::UnderReview => "under-review",
            Status::ReviewDecided => "review-decided",
            Status::UnderReReview => "under-re-review",
            Status::Closed => "closed",
            Status::NotAccepted => "not-accepted",
            Status::Transferred => "transferred",
            Status::Concluded => "concluded",
            Status::Duplicate => "duplicate",
        }
    }

    pub fn is_end(self) -> bool {
        match self {
            Status::Closed
            | Status::NotAccepted
            | Status::Transferred
            | Status::Concluded
            | Status::Duplicate => true,
            Status::Registered
            | Status::Handling
            | Status::Replied
            | Status::UnderReview
            | Status::ReviewDecided
            | Status::UnderReReview => false,
        }
    }
}

/// The actions of the petition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Register,
    Accept,
    NotAccept,
    Transfer,
    Reply,
    ConfirmSatisfied,
    RequestReview,
    CloseWithoutReview,
    DecideReview,
    RequestReReview,
    Close,
    DecideReReview,
}

impl Action {
    pub const ALL: [Action; 12] = [
        Action::Register,
        Action::Accept,
        Action::NotAccept,
        Action::Transfer,
        Action::Reply,
        Action::ConfirmSatisfied,
        Action::RequestReview,
        Action::CloseWithoutReview,
        Action::DecideReview,
        Action::RequestReReview,
        Action::Close,
        Action::DecideReReview,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Register => "register",
            Action::Accept => "accept",
            Action::NotAccept => "not-accept",
            Action::Transfer => "transfer",
            Action::Reply => "reply",
            Action::ConfirmSatisfied => "confirm-satisfied",
            Action::RequestReview => "request-review",
            Action::CloseWithoutReview => "close-without-review",
            Action::DecideReview => "decide-review",
            Action::RequestReReview => "request-re-review",
            Action::Close => "close",
            Action::DecideReReview => "decide-re-review",
        }
    }
}

/// One row of the petition table. `from: None` is a petition not yet registered.
#[derive(Debug)]
pub struct Transition {
    pub from: &'static [Option<Status>],
    pub action: Action,
    pub who: &'static [Role],
    pub to: Status,
    /// A condition on the petition and the time beyond its state, with the reason given when it
    /// fails.
    guard: Option<Guard>,
}

/// A condition a row puts on the petition at the time of the command, and what a refusal says
/// when it does not hold.
#[derive(Debug, Clone, Copy)]
struct Guard {
    holds: fn(&Petition, Timestamp) -> bool,
    reason: &'static str,
}

use Role::{GridWorker, Handler, PetitionOfficer, Supervisor};
use Status::{
    Closed, Concluded, Handling, NotAccepted, Registered, Replied, ReviewDecided, Transferred,
    UnderReReview, UnderReview,
};

/// The petition table of the domain brief, row for row. A grid worker registers visits only:
/// that looks at the command, not the petition, so `decide` checks it.
pub const TABLE: &[Transition] = &[
    Transition {
        from: &[None],
        action: Action::Register,
        who: &[PetitionOfficer, GridWorker],
        to: Registered,
        guard: None,
    },
    Transition {
        from: &[Some(Registered)],
        action: Action::Accept,
        who: &[PetitionOfficer],
        to: Handling,
        guard: None,
    },
    Transition {
        from: &[Some(Registered)],
        action: Action::NotAccept,
        who: &[PetitionOfficer],
        to: NotAccepted,
        guard: None,
    },
    Transition {
        from: &[Some(Registered)],
        action: Action::Transfer,
        who: &[PetitionOfficer],
        to: Transferred,
        guard: None,
    },
    Transition {
        from: &[Some(Handling)],
        action: Action::Reply,
        who: &[Handler, PetitionOfficer],
        to: Replied,
        guard: None,
    },
    Transition {
        from: &[Some(Replied)],
        action: Action::ConfirmSatisfied,
        who: &[PetitionOfficer],
        to: Closed,
        guard: None,
    },
    Transition {
        from: &[Some(Replied)],
        action: Action::RequestReview,
        who: &[PetitionOfficer],
        to: UnderReview,
        guard: Some(Guard {
            holds: |p, now| p.review_request_by.is_some_and(|by| now < by),
            reason: "a review must be requested within 30 days of the reply",
        }),
    },
    Transition {
        from: &[Some(Replied)],
        action: Action::CloseWithoutReview,
        who: &[PetitionOfficer, Supervisor],
        to: Closed,
        guard: Some(Guard {
            holds: |p, now| p.review_request_by.is_none_or(|by| now >= by),
            reason: "the 30 days for requesting a review have not passed",
        }),
    },
    Transition {
        from: &[Some(UnderReview)],
        action: Action::DecideReview,
        who: &[Supervisor],
        to: ReviewDecided,
        guard: None,
    },
    Transition {
        from: &[Some(ReviewDecided)],
        action: Action::RequestReReview,
        who: &[PetitionOfficer],
        to: UnderReReview,
        guard: Some(Guard {
            holds: |p, now| p.re_review_request_by.is_some_and(|by| now < by),
            reason: "a re-review must be requested within 30 days of the review decision",
        }),
    },
    Transition {
        from: &[Some(ReviewDecided)],
        action: Action::Close,
        who: &[PetitionOfficer, Supervisor],
        to: Closed,
        guard: None,
    },
    Transition {
        from: &[Some(UnderReReview)],
        action: Action::DecideReReview,
        who: &[Supervisor],
        to: Concluded,
        guard: None,
    },
];

/// How the petition came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// 来信
    Letter,
    /// 来访 (走访)
    Visit,
    /// 网上信访
    Online,
    /// 来电
    Phone,
}

/// The kinds of petition of art. 30.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PetitionType {
    /// 建议意见
    Suggestion,
    /// 检举控告
    ReportAccusation,
    /// 申诉求决
    AppealRequest,
}

/// What the petition is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// 征地拆迁
    LandAndRelocation,
    /// 住房
    Housing,
    /// 劳动和工资 (欠薪)
    LabourAndWages,
    /// 社会保障
    SocialSecurity,
    /// 城市管理
    UrbanManagement,
    /// 环境
    Environment,
    /// 公共安全
    PublicSafety,
    /// 干部作风
    OfficialsConduct,
    Other,
}

/// Where a petitioner has gone or threatens to go over the heads of the local office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EscalationRisk {
    /// 越级访
    CrossLevel,
    /// 赴京访
    ToBeijing,
}

/// Where a matter that is not accepted as a petition belongs (art. 31).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// 诉讼
    Litigation,
    /// 仲裁
    Arbitration,
    /// 行政复议
    AdministrativeReview,
}

/// What the handling opinion (处理意见书) says (art. 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplyOutcome {
    /// 予以支持
    Support,
    /// 解释说明
    Explain,
    /// 不予支持
    NotSupport,
}

/// What a review or re-review does to the opinion before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReviewDecision {
    /// 维持
    Upheld,
    /// 变更
    Changed,
    /// 撤销
    Revoked,
}

/// One petitioner as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Petitioner {
    pub name: String,
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

impl Petitioner {
    /// The petitioner as the registration records them: details to be sealed.
    pub fn recorded(&self) -> Personal {
        Personal::Clear(PersonalDetails {
            name: self.name.trim().to_owned(),
            id_number: self.id_number.clone(),
            phone: self.phone.clone(),
            address: self.address.clone(),
        })
    }
}

// ---- commands -------------------------------------------------------------------------------

/// A command to a petition, named as the table names its action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", content = "input", rename_all = "kebab-case")]
pub enum PetitionCommand {
    Register(Register),
    Accept(Accept),
    NotAccept(NotAccept),
    Transfer(Transfer),
    Reply(Reply),
    ConfirmSatisfied(ConfirmSatisfied),
    RequestReview(RequestReview),
    CloseWithoutReview(CloseWithoutReview),
    DecideReview(DecideReview),
    RequestReReview(RequestReReview),
    Close(Close),
    DecideReReview(DecideReReview),
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    pub community: CommunityId,
    #[serde(default)]
    pub grid: Option<GridId>,
    #[serde(default)]
    pub address: Option<String>,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub channel: Channel,
    pub petition_type: PetitionType,
    pub category: Category,
    pub petitioners: Vec<Petitioner>,
    /// How many people came (for a visit, the whole batch); at least the petitioners named.
    #[serde(default = "one")]
    pub headcount: u32,
    /// 重点人员
    #[serde(default)]
    pub key_person: bool,
    /// The name of the leader who owns the case (包案领导).
    #[serde(default)]
    pub leader_owned: Option<String>,
    /// 积案
    #[serde(default)]
    pub backlog: bool,
    #[serde(default)]
    pub escalation_risk: Option<EscalationRisk>,
    /// For a report or accusation: the unit reported on, from which the reporter is hidden.
    #[serde(default)]
    pub accused_unit: Option<UnitId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    /// The handling unit (承办单位).
    pub unit: UnitId,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotAccept {
    pub reason: String,
    pub route: Route,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The authority the matter belongs to.
    pub authority: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    pub outcome: ReplyOutcome,
    /// The handling opinion (处理意见书).
    pub opinion: String,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmSatisfied {
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestReview {
    pub reason: String,
    #[serde(default)]
    pub reviewing_body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseWithoutReview {
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideReview {
    pub decision: ReviewDecision,
    pub opinion: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestReReview {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Close {
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideReReview {
    pub decision: ReviewDecision,
    pub opinion: String,
}

impl PetitionCommand {
    pub fn action(&self) -> Action {
        match self {
            PetitionCommand::Register(_) => Action::Register,
            PetitionCommand::Accept(_) => Action::Accept,
            PetitionCommand::NotAccept(_) => Action::NotAccept,
            PetitionCommand::Transfer(_) => Action::Transfer,
            PetitionCommand::Reply(_) => Action::Reply,
            PetitionCommand::ConfirmSatisfied(_) => Action::ConfirmSatisfied,
            PetitionCommand::RequestReview(_) => Action::RequestReview,
            PetitionCommand::CloseWithoutReview(_) => Action::CloseWithoutReview,
            PetitionCommand::DecideReview(_) => Action::DecideReview,
            PetitionCommand::RequestReReview(_) => Action::RequestReReview,
            PetitionCommand::Close(_) => Action::Close,
            PetitionCommand::DecideReReview(_) => Action::DecideReReview,
        }
    }
}

// ---- events ---------------------------------------------------------------------------------

/// What happened to a petition. Deadlines are decided when the event is, and recorded in it,
/// so replaying history never depends on today's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum PetitionEvent {
    Registered {
        community: CommunityId,
        grid: Option<GridId>,
        address: Option<String>,
        title: String,
        description: String,
        channel: Channel,
        petition_type: PetitionType,
        category: Category,
        petitioners: Vec<Personal>,
        headcount: u32,
        key_person: bool,
        leader_owned: Option<String>,
        backlog: bool,
        escalation_risk: Option<EscalationRisk>,
        accused_unit: Option<UnitId>,
        accept_by: Timestamp,
    },
    Accepted {
        unit: UnitId,
        note: Option<String>,
        handle_by: Timestamp,
    },
    NotAccepted {
        reason: String,
        route: Route,
    },
    Transferred {
        authority: String,
        note: Option<String>,
    },
    Replied {
        outcome: ReplyOutcome,
        opinion: String,
        evidence: Vec<Evidence>,
        review_request_by: Timestamp,
    },
    ConfirmedSatisfied {
        note: Option<String>,
    },
    ReviewRequested {
        reason: String,
        reviewing_body: Option<String>,
        decide_by: Timestamp,
    },
    ClosedWithoutReview {
        note: Option<String>,
    },
    ReviewDecided {
        decision: ReviewDecision,
        opinion: String,
        re_review_request_by: Timestamp,
    },
    ReReviewRequested {
        reason: String,
        decide_by: Timestamp,
    },
    Closed {
        note: Option<String>,
    },
    ReReviewDecided {
        decision: ReviewDecision,
        opinion: String,
    },
    /// Still open past the deadline: the petition is backlog (积案) from now on.
    BecameBacklog {
        deadline: Timestamp,
    },
}

// ---- state ----------------------------------------------------------------------------------

/// The handling opinion given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyGiven {
    pub outcome: ReplyOutcome,
    pub opinion: String,
}

/// Why a petition was not accepted, and where the matter belongs instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotAcceptance {
    pub reason: String,
    pub route: Route,
}

/// A petition as its events have made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Petition {
    pub status: Status,
    pub community: CommunityId,
    pub grid: Option<GridId>,
    pub address: Option<String>,
    pub title: String,
    pub description: String,
    pub channel: Channel,
    pub petition_type: PetitionType,
    pub category: Category,
    pub petitioners: Vec<Personal>,
    pub headcount: u32,
    /// A visit of five or more people (集体访).
    pub collective: bool,
    pub key_person: bool,
    pub leader_owned: Option<String>,
    pub backlog: bool,
    pub escalation_risk: Option<EscalationRisk>,
    pub accused_unit: Option<UnitId>,
    pub handling_unit: Option<UnitId>,
    /// The deadline of the current step; none once the petition has ended. An approved extension
    /// moves it.
    pub deadline: Option<Timestamp>,
    /// Until when the petitioner may request a review of the reply.
    pub review_request_by: Option<Timestamp>,
    /// Until when the petitioner may request a re-review of the review decision.
    pub re_review_request_by: Option<Timestamp>,
    pub reply: Option<ReplyGiven>,
    pub review: Option<ReviewDecision>,
    pub re_review: Option<ReviewDecision>,
    pub not_accepted: Option<NotAcceptance>,
    pub transferred_to: Option<String>,
    pub evidence: Vec<Evidence>,
}

// ---- the rules ------------------------------------------------------------------------------

fn status_of(petition: Option<&Petition>) -> Option<Status> {
    petition.map(|p| p.status)
}

fn state_name(petition: Option<&Petition>) -> &'static str {
    status_of(petition).map_or("not registered", Status::as_str)
}

fn open_rows(
    petition: Option<&Petition>,
    now: Timestamp,
) -> impl Iterator<Item = &'static Transition> + '_ {
    let status = status_of(petition);
    TABLE.iter().filter(move |row| {
        row.from.contains(&status)
            && match (row.guard, petition) {
                (Some(guard), Some(p)) => (guard.holds)(p, now),
                (Some(_), None) | (None, _) => true,
            }
    })
}

/// The actions `role` may take on this petition at `now` (`None`: a petition not yet
/// registered).
pub fn allowed_actions(
    petition: Option<&Petition>,
    role: Role,
    now: Timestamp,
) -> Vec<&'static str> {
    open_rows(petition, now)
        .filter(|row| row.who.contains(&role))
        .map(|row| row.action.as_str())
        .collect()
}

/// Finds the row that lets `role` take `action` here at `now`, or says why none does.
pub fn authorize(
    petition: Option<&Petition>,
    action: Action,
    role: Role,
    now: Timestamp,
) -> Result<&'static Transition, Refusal> {
    let Some(row) = open_rows(petition, now).find(|row| row.action == action) else {
        let status = status_of(petition);
        let reason = TABLE
            .iter()
            .find(|row| row.action == action && row.from.contains(&status))
            .and_then(|row| row.guard.map(|g| g.reason));
        return Err(Refusal::NotAllowedInState {
            kind: KIND,
            state: state_name(petition),
            action: action.as_str().to_owned(),
            allowed: open_rows(petition, now)
                .map(|r| r.action.as_str())
                .collect(),
            reason,
        });
    };
    if !row.who.contains(&role) {
        return Err(Refusal::RoleNotPermitted {
            kind: KIND,
            state: state_name(petition),
            action: action.as_str().to_owned(),
            role,
            allowed: allowed_actions(petition, role, now),
        });
    }
    Ok(row)
}

fn check_register(r: &Register, role: Role) -> Result<(), Refusal> {
    if role == GridWorker && r.channel != Channel::Visit {
        return Err(Refusal::invalid(
            "channel",
            "a grid worker registers visits only",
        ));
    }
    required_text("title", &r.title, MAX_TITLE)?;
    optional_text("description", Some(&r.description), MAX_TEXT)?;
    optional_text("address", r.address.as_deref(), MAX_SHORT_TEXT)?;
    if let Some(leader) = &r.leader_owned {
        required_text("leader_owned", leader, 100)?;
    }
    if r.petitioners.is_empty() {
        return Err(Refusal::invalid(
            "petitioners",
            "a petition names at least one petitioner",
        ));
    }
    if r.petitioners.len() > MAX_PETITIONERS {
        return Err(Refusal::invalid(
            "petitioners",
            format!("at most {MAX_PETITIONERS} petitioners"),
        ));
    }
    for p in &r.petitioners {
        check_person(
            "petitioners",
            &p.name,
            p.id_number.as_deref(),
            p.phone.as_deref(),
            p.address.as_deref(),
        )?;
    }
    let named = u32::try_from(r.petitioners.len()).unwrap_or(u32::MAX);
    if r.headcount < named {
        return Err(Refusal::invalid(
            "headcount",
            "must be at least the number of petitioners named",
        ));
    }
    if r.headcount > MAX_HEADCOUNT {
        return Err(Refusal::invalid(
            "headcount",
            format!("must be at most {MAX_HEADCOUNT}"),
        ));
    }
    if r.accused_unit.is_some() && r.petition_type != PetitionType::ReportAccusation {
        return Err(Refusal::invalid(
            "accused_unit",
            "only a report or accusation names an accused unit",
        ));
    }
    Ok(())
}

/// Decides what a command does to a petition: the events to record, or a refusal.
pub fn decide(
    petition: Option<&Petition>,
    command: &PetitionCommand,
    ctx: &Context<'_>,
) -> Result<Vec<PetitionEvent>, Refusal> {
    let now = ctx.now;
    authorize(petition, command.action(), ctx.role, now)?;
    let policy = ctx.policy;
    let limits = &policy.petition;
    let event = match command {
        PetitionCommand::Register(r) => {
            check_register(r, ctx.role)?;
            PetitionEvent::Registered {
                community: r.community.clone(),
                grid: r.grid.clone(),
                address: r.address.clone(),
                title: r.title.trim().to_owned(),
                description: r.description.clone(),
                channel: r.channel,
                petition_type: r.petition_type,
                category: r.category,
                petitioners: r.petitioners.iter().map(Petitioner::recorded).collect(),
                headcount: r.headcount,
                key_person: r.key_person,
                leader_owned: r.leader_owned.clone(),
                backlog: r.backlog,
                escalation_risk: r.escalation_risk,
                accused_unit: r.accused_unit.clone(),
                accept_by: policy.due(now, limits.accept),
            }
        }
        PetitionCommand::Accept(a) => {
            optional_text("note", a.note.as_deref(), MAX_TEXT)?;
            PetitionEvent::Accepted {
                unit: a.unit.clone(),
                note: a.note.clone(),
                handle_by: policy.due(now, limits.handle),
            }
        }
        PetitionCommand::NotAccept(n) => {
            required_text("reason", &n.reason, MAX_TEXT)?;
            PetitionEvent::NotAccepted {
                reason: n.reason.clone(),
                route: n.route,
            }
        }
        PetitionCommand::Transfer(t) => {
            required_text("authority", &t.authority, MAX_SHORT_TEXT)?;
            optional_text("note", t.note.as_deref(), MAX_TEXT)?;
            PetitionEvent::Transferred {
                authority: t.authority.trim().to_owned(),
                note: t.note.clone(),
            }
        }
        PetitionCommand::Reply(r) => {
            required_text("opinion", &r.opinion, MAX_TEXT)?;
            check_evidence(&r.evidence, false)?;
            PetitionEvent::Replied {
                outcome: r.outcome,
                opinion: r.opinion.clone(),
                evidence: r.evidence.clone(),
                review_request_by: policy.due(now, limits.request_review),
            }
        }
        PetitionCommand::ConfirmSatisfied(c) => {
            optional_text("note", c.note.as_deref(), MAX_TEXT)?;
            PetitionEvent::ConfirmedSatisfied {
                note: c.note.clone(),
            }
        }
        PetitionCommand::RequestReview(r) => {
            required_text("reason", &r.reason, MAX_TEXT)?;
            optional_text(
                "reviewing_body",
                r.reviewing_body.as_deref(),
                MAX_SHORT_TEXT,
            )?;
            PetitionEvent::ReviewRequested {
                reason: r.reason.clone(),
                reviewing_body: r.reviewing_body.clone(),
                decide_by: policy.due(now, limits.decide_review),
            }
        }
        PetitionCommand::CloseWithoutReview(c) => {
            optional_text("note", c.note.as_deref(), MAX_TEXT)?;
            PetitionEvent::ClosedWithoutReview {
                note: c.note.clone(),
            }
        }
        PetitionCommand::DecideReview(d) => {
            required_text("opinion", &d.opinion, MAX_TEXT)?;
            PetitionEvent::ReviewDecided {
                decision: d.decision,
                opinion: d.opinion.clone(),
                re_review_request_by: policy.due(now, limits.request_re_review),
            }
        }
        PetitionCommand::RequestReReview(r) => {
            required_text("reason", &r.reason, MAX_TEXT)?;
            PetitionEvent::ReReviewRequested {
                reason: r.reason.clone(),
                decide_by: policy.due(now, limits.decide_re_review),
            }
        }
        PetitionCommand::Close(c) => {
            optional_text("note", c.note.as_deref(), MAX_TEXT)?;
            PetitionEvent::Closed {
                note: c.note.clone(),
            }
        }
        PetitionCommand::DecideReReview(d) => {
            required_text("opinion", &d.opinion, MAX_TEXT)?;
            PetitionEvent::ReReviewDecided {
                decision: d.decision,
                opinion: d.opinion.clone(),
            }
        }
    };
    Ok(vec![event])
}

/// Applies one recorded event. Events are facts: this does not judge them again, it only refuses
/// what cannot be replayed at all (a follow-up event before the petition was registered).
pub fn evolve(petition: Option<Petition>, event: &PetitionEvent) -> Result<Petition, ReplayError> {
    let mut p = match (petition, event) {
        (None, PetitionEvent::Registered { .. }) => {
            return Ok(registered(event));
        }
        (Some(_), PetitionEvent::Registered { .. }) => {
            return Err(ReplayError::new(KIND, "registered twice"));
        }
        (None, _) => {
            return Err(ReplayError::new(
                KIND,
                "event before the petition was registered",
            ));
        }
        (Some(p), _) => p,
    };
    match event {
        PetitionEvent::Registered { .. } => unreachable!("handled above"),
        PetitionEvent::Accepted {
            unit, handle_by, ..
        } => {
            p.status = Handling;
            p.handling_unit = Some(unit.clone());
            p.deadline = Some(*handle_by);
        }
        PetitionEvent::NotAccepted { reason, route } => {
            p.status = NotAccepted;
            p.not_accepted = Some(NotAcceptance {
                reason: reason.clone(),
                route: *route,
            });
            p.deadline = None;
        }
        PetitionEvent::Transferred { authority, .. } => {
            p.status = Transferred;
            p.transferred_to = Some(authority.clone());
            p.deadline = None;
        }
        PetitionEvent::Replied {
            outcome,
            opinion,
            evidence,
            review_request_by,
        } => {
            p.status = Replied;
            p.reply = Some(ReplyGiven {
                outcome: *outcome,
                opinion: opinion.clone(),
            });
            p.evidence.extend(evidence.iter().cloned());
            p.review_request_by = Some(*review_request_by);
            // The 30 days are the petitioner's to request a review, not the office's to act in.
            p.deadline = None;
        }
        PetitionEvent::ConfirmedSatisfied { .. }
        | PetitionEvent::ClosedWithoutReview { .. }
        | PetitionEvent::Closed { .. } => {
            p.status = Closed;
            p.deadline = None;
        }
        PetitionEvent::ReviewRequested { decide_by, .. } => {
            p.status = UnderReview;
            p.deadline = Some(*decide_by);
        }
        PetitionEvent::ReviewDecided {
            decision,
            re_review_request_by,
            ..
        } => {
            p.status = ReviewDecided;
            p.review = Some(*decision);
            p.re_review_request_by = Some(*re_review_request_by);
            // The petitioner's window for a re-review, not the office's deadline.
            p.deadline = None;
        }
        PetitionEvent::ReReviewRequested { decide_by, .. } => {
            p.status = UnderReReview;
            p.deadline = Some(*decide_by);
        }
        PetitionEvent::ReReviewDecided { decision, .. } => {
            p.status = Concluded;
            p.re_review = Some(*decision);
            p.deadline = None;
        }
        PetitionEvent::BecameBacklog { .. } => {
            p.backlog = true;
        }
    }
    Ok(p)
}

fn registered(event: &PetitionEvent) -> Petition {
    let PetitionEvent::Registered {
        community,
        grid,
        address,
        title,
        description,
        channel,
        petition_type,
        category,
        petitioners,
        headcount,
        key_person,
        leader_owned,
        backlog,
        escalation_risk,
        accused_unit,
        accept_by,
    } = event.clone()
    else {
        unreachable!("called with a Registered event only")
    };
    Petition {
        status: Registered,
        community,
        grid,
        address,
        title,
        description,
        channel,
        petition_type,
        category,
        petitioners,
        headcount,
        collective: channel == Channel::Visit && headcount >= COLLECTIVE_HEADCOUNT,
        key_person,
        leader_owned,
        backlog,
        escalation_risk,
        accused_unit,
        handling_unit: None,
        deadline: Some(accept_by),
        review_request_by: None,
        re_review_request_by: None,
        reply: None,
        review: None,
        re_review: None,
        not_accepted: None,
        transferred_to: None,
        evidence: Vec::new(),
    }
}

// ---- hooks for what every case has beside its table -----------------------------------------

/// How an ended petition ended: closed (satisfied, no review requested in time, or closed after a
/// review) is resolved; not accepted, transferred and concluded (终结) are not; a duplicate is
/// counted with the case it duplicates. `None` while the petition is open.
pub fn outcome(petition: &Petition) -> Option<Outcome> {
    match petition.status {
        Closed => Some(Outcome::Resolved),
        NotAccepted | Transferred | Concluded => Some(Outcome::NotResolved),
        Status::Duplicate => Some(Outcome::Duplicate),
        Registered | Handling | Replied | UnderReview | ReviewDecided | UnderReReview => None,
    }
}

/// Only the handling of a petition may be extended (art. 34).
pub fn extendable(petition: &Petition) -> Result<(), &'static str> {
    match petition.status {
        Handling => Ok(()),
        _ => Err("only the handling of a petition can be extended"),
    }
}

/// Whether the petition may be reopened after a dissatisfied return visit: a closed one only.
pub fn reopenable(petition: &Petition) -> Result<(), &'static str> {
    match petition.status {
        Closed => Ok(()),
        Concluded => Err("a concluded petition (终结) is not accepted again"),
        NotAccepted => Err("a petition that was not accepted cannot be reopened"),
        Transferred => Err("a petition transferred to another authority cannot be reopened"),
        Status::Duplicate => Err("a duplicate is reopened through the case it duplicates"),
        Registered | Handling | Replied | UnderReview | ReviewDecided | UnderReReview => {
            Err("only a closed petition can be reopened; this one is still open")
        }
    }
}

/// The handling deadline of a reopened petition: handled again from `now`.
pub fn reopen_deadline(policy: &DeadlinePolicy, now: Timestamp) -> Timestamp {
    policy.due(now, policy.petition.handle)
}

/// Applies a recorded reopening: the petition is handled again, by this deadline. The previous
/// reply and review decisions stay on record until new ones replace them; the request windows
/// that followed them are spent.
pub fn reopened(petition: &mut Petition, deadline: Timestamp) {
    petition.status = Handling;
    petition.deadline = Some(deadline);
    petition.review_request_by = None;
    petition.re_review_request_by = None;
}

/// Applies a recorded "marked duplicate": the petition ends as a duplicate.
pub fn marked_duplicate(petition: &mut Petition) {
    petition.status = Status::Duplicate;
    petition.deadline = None;
}

/// The unit an event assigns the petition to (the handling unit on acceptance), if any.
pub fn assigned_unit(event: &PetitionEvent) -> Option<&UnitId> {
    match event {
        PetitionEvent::Accepted { unit, .. } => Some(unit),
        _ => None,
    }
}

/// A short name of the step the current deadline is for; `None` without a deadline.
pub fn current_step(petition: &Petition) -> Option<&'static str> {
    petition.deadline?;
    match petition.status {
        Registered => Some("accept"),
        Handling => Some("handle"),
        UnderReview => Some("decide-review"),
        UnderReReview => Some("decide-re-review"),
        Replied
        | ReviewDecided
        | Closed
        | NotAccepted
        | Transferred
        | Concluded
        | Status::Duplicate => None,
    }
}

#[cfg(test)]
mod tests;
