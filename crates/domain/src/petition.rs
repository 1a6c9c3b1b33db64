//! The petition (信访): registered → accepted and handled → replied, then reviewed and re-reviewed
//! at the petitioner's request, as the Regulations on Letters and Visits (2022) lay it down.
//!
//! A re-review decision ends the matter (终结): the same matter is not accepted again.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::deadlines::{DeadlinePolicy, ExtensionRule};
use crate::evidence::{
    Evidence, MAX_SHORT_TEXT, MAX_TEXT, MAX_TITLE, check_evidence, check_person, optional_text,
    required_text,
};
use crate::kind::{self, Guard, Kind, Next, Outcome, Row, filed_names};
use crate::person::{Disclosure, Personal, PersonalDetails};
use crate::{CategoryId, CommunityId, Context, GridId, Named, Refusal, ReplayError, Role, UnitId};

const KIND: &str = "petition";

/// The most petitioners one petition names.
const MAX_PETITIONERS: usize = 200;
/// The largest headcount of one visit.
const MAX_HEADCOUNT: u32 = 10_000;
/// A visit of this many people or more is a collective visit (集体访).
const COLLECTIVE_HEADCOUNT: u32 = 5;

/// Where a petition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::Status)]
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
    pub const ALL: [Status; 11] = [
        Status::Registered,
        Status::Handling,
        Status::Replied,
        Status::UnderReview,
        Status::ReviewDecided,
        Status::UnderReReview,
        Status::Closed,
        Status::NotAccepted,
        Status::Transferred,
        Status::Concluded,
        Status::Duplicate,
    ];

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

kind::states_and_actions!();

use Next::To;
use Role::{GridWorker, Handler, PetitionOfficer, Supervisor};
use Status::{
    Closed, Concluded, Handling, NotAccepted, Registered, Replied, ReviewDecided, Transferred,
    UnderReReview, UnderReview,
};

/// The petition table of the domain brief, row for row. A grid worker registers visits only:
/// that looks at the command, not the petition, so `decide` checks it.
pub const TABLE: &[Row<Petition>] = &[
    Row {
        from: &[None],
        action: Action::Register,
        who: &[PetitionOfficer, GridWorker],
        to: To(Registered),
        guard: None,
    },
    Row {
        from: &[Some(Registered)],
        action: Action::Accept,
        who: &[PetitionOfficer],
        to: To(Handling),
        guard: None,
    },
    Row {
        from: &[Some(Registered)],
        action: Action::NotAccept,
        who: &[PetitionOfficer],
        to: To(NotAccepted),
        guard: None,
    },
    Row {
        from: &[Some(Registered)],
        action: Action::Transfer,
        who: &[PetitionOfficer],
        to: To(Transferred),
        guard: None,
    },
    Row {
        from: &[Some(Handling)],
        action: Action::Reply,
        who: &[Handler, PetitionOfficer],
        to: To(Replied),
        guard: None,
    },
    Row {
        from: &[Some(Replied)],
        action: Action::ConfirmSatisfied,
        who: &[PetitionOfficer],
        to: To(Closed),
        guard: None,
    },
    Row {
        from: &[Some(Replied)],
        action: Action::RequestReview,
        who: &[PetitionOfficer],
        to: To(UnderReview),
        guard: Some(Guard {
            holds: |p, now| p.review_request_by.is_some_and(|by| now < by),
            reason: "a review must be requested within 30 days of the reply",
        }),
    },
    Row {
        from: &[Some(Replied)],
        action: Action::CloseWithoutReview,
        who: &[PetitionOfficer, Supervisor],
        to: To(Closed),
        guard: Some(Guard {
            holds: |p, now| p.review_request_by.is_none_or(|by| now >= by),
            reason: "the 30 days for requesting a review have not passed",
        }),
    },
    Row {
        from: &[Some(UnderReview)],
        action: Action::DecideReview,
        who: &[Supervisor],
        to: To(ReviewDecided),
        guard: None,
    },
    Row {
        from: &[Some(ReviewDecided)],
        action: Action::RequestReReview,
        who: &[PetitionOfficer],
        to: To(UnderReReview),
        guard: Some(Guard {
            holds: |p, now| p.re_review_request_by.is_some_and(|by| now < by),
            reason: "a re-review must be requested within 30 days of the review decision",
        }),
    },
    Row {
        from: &[Some(ReviewDecided)],
        action: Action::Close,
        who: &[PetitionOfficer, Supervisor],
        to: To(Closed),
        guard: None,
    },
    Row {
        from: &[Some(UnderReReview)],
        action: Action::DecideReReview,
        who: &[Supervisor],
        to: To(Concluded),
        guard: None,
    },
];

/// How the petition came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::Channel)]
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

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::Letter,
        Channel::Visit,
        Channel::Online,
        Channel::Phone,
    ];

    /// The JSON name, which figures are sliced by.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Letter => "letter",
            Channel::Visit => "visit",
            Channel::Online => "online",
            Channel::Phone => "phone",
        }
    }
}

/// The kinds of petition of art. 30.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::PetitionType)]
#[serde(rename_all = "kebab-case")]
pub enum PetitionType {
    /// 建议意见
    Suggestion,
    /// 检举控告
    ReportAccusation,
    /// 申诉求决
    AppealRequest,
}

/// Where a petitioner has gone or threatens to go over the heads of the local office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::EscalationRisk)]
#[serde(rename_all = "kebab-case")]
pub enum EscalationRisk {
    /// 越级访
    CrossLevel,
    /// 赴京访
    ToBeijing,
}

impl EscalationRisk {
    /// The JSON name, which the lists filter on.
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationRisk::CrossLevel => "cross-level",
            EscalationRisk::ToBeijing => "to-beijing",
        }
    }
}

/// Where a matter that is not accepted as a petition belongs (art. 31).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::Route)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::ReplyOutcome)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::ReviewDecision)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::Petitioner)]
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
            email: None,
        })
    }
}

// ---- commands -------------------------------------------------------------------------------

/// A command to a petition, named as the table names its action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::Command)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::Register)]
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
    pub category: CategoryId,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::Accept)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    /// The handling unit (承办单位).
    pub unit: UnitId,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::NotAccept)]
#[serde(deny_unknown_fields)]
pub struct NotAccept {
    pub reason: String,
    pub route: Route,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::Transfer)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The authority the matter belongs to.
    pub authority: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::Reply)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    pub outcome: ReplyOutcome,
    /// The handling opinion (处理意见书).
    pub opinion: String,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::ConfirmSatisfied)]
#[serde(deny_unknown_fields)]
pub struct ConfirmSatisfied {
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::RequestReview)]
#[serde(deny_unknown_fields)]
pub struct RequestReview {
    pub reason: String,
    #[serde(default)]
    pub reviewing_body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::CloseWithoutReview)]
#[serde(deny_unknown_fields)]
pub struct CloseWithoutReview {
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::DecideReview)]
#[serde(deny_unknown_fields)]
pub struct DecideReview {
    pub decision: ReviewDecision,
    pub opinion: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::RequestReReview)]
#[serde(deny_unknown_fields)]
pub struct RequestReReview {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::Close)]
#[serde(deny_unknown_fields)]
pub struct Close {
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = petition::DecideReReview)]
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
        category: CategoryId,
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
    pub category: CategoryId,
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

/// What a command the table allowed records on a petition, once its inputs are checked.
fn record(
    petition: Option<&Petition>,
    command: &PetitionCommand,
    ctx: &Context<'_>,
) -> Result<Vec<PetitionEvent>, Refusal> {
    let now = ctx.now;
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
                category: r.category.clone(),
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
            if let Some((barred, reason)) = petition.and_then(Kind::barred_unit)
                && barred == &a.unit
            {
                return Err(Refusal::invalid("unit", reason));
            }
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
    let Some(mut p) = kind::continued(
        KIND,
        petition,
        matches!(event, PetitionEvent::Registered { .. }),
        (
            "registered twice",
            "event before the petition was registered",
        ),
    )?
    else {
        return Ok(registered(event));
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

// ---- the kind -------------------------------------------------------------------------------

impl Kind for Petition {
    const NUMBER_PREFIX: &'static str = "XF";
    const CATEGORIES: &'static [(&'static str, &'static str)] = &[
        ("land-and-relocation", "征地拆迁"),
        ("housing", "住房"),
        ("labour-and-wages", "劳动和工资"),
        ("social-security", "社会保障"),
        ("urban-management", "城市管理"),
        ("environment", "环境"),
        ("public-safety", "公共安全"),
        ("officials-conduct", "干部作风"),
        ("other", "其他"),
    ];
    const NOT_FILED: &'static str = "not registered";

    type Command = PetitionCommand;
    type Event = PetitionEvent;

    kind::kind_alike!();

    /// What the petition is about.
    fn category(&self) -> String {
        self.category.to_string()
    }

    /// Letter, visit, online or phone (来信, 来访, 网上, 来电): figures are sliced by it.
    fn channel(&self) -> Option<&'static str> {
        Some(self.channel.as_str())
    }

    /// The step the current deadline is for; none without a deadline.
    fn current_step(&self) -> Option<&'static str> {
        self.deadline?;
        match self.status {
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

    /// Closed (satisfied, no review requested in time, or closed after a review) is resolved;
    /// not accepted, transferred and concluded (终结) are not; a duplicate is counted with the
    /// case it duplicates.
    fn outcome(&self) -> Option<Outcome> {
        match self.status {
            Closed => Some(Outcome::Resolved),
            NotAccepted | Transferred | Concluded => Some(Outcome::NotResolved),
            Status::Duplicate => Some(Outcome::Duplicate),
            Registered | Handling | Replied | UnderReview | ReviewDecided | UnderReReview => None,
        }
    }

    /// The petition officer routes petitions to units, and the supervisor.
    fn routers() -> &'static [Role] {
        &[PetitionOfficer, Supervisor]
    }

    /// The handling unit works the petition.
    fn step_workers() -> &'static [Role] {
        &[Handler]
    }

    fn extension_rule(policy: &DeadlinePolicy) -> ExtensionRule {
        policy.extensions.petition
    }

    /// Only the handling of a petition may be extended (art. 34).
    fn extendable(&self) -> Result<(), &'static str> {
        match self.status {
            Handling => Ok(()),
            _ => Err("only the handling of a petition can be extended"),
        }
    }

    fn reopenable(&self) -> Result<(), &'static str> {
        match self.status {
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

    /// Handled again from `now`.
    fn reopen_deadline(policy: &DeadlinePolicy, now: Timestamp) -> Timestamp {
        policy.due(now, policy.petition.handle)
    }

    /// Handled again. The previous reply and review decisions stay on record until new ones
    /// replace them; the request windows that followed them are spent.
    fn reopened(&mut self, deadline: Timestamp) {
        self.status = Handling;
        self.deadline = Some(deadline);
        self.review_request_by = None;
        self.re_review_request_by = None;
    }

    fn marked_duplicate(&mut self) {
        self.status = Status::Duplicate;
        self.deadline = None;
    }

    /// Petition officers, supervisors and handlers see petitioners; everyone else within reach
    /// sees them masked. The identity of a person who reports or accuses (检举控告) is shown in
    /// clear to petition officers and supervisors only, masked to handlers of another unit than
    /// the one accused, and to nobody else at all: never to the unit it names.
    fn disclosure(&self, role: Role, unit: Option<&UnitId>) -> Disclosure {
        if self.petition_type == PetitionType::ReportAccusation {
            return match role {
                Role::PetitionOfficer | Role::Supervisor => Disclosure::Clear,
                Role::Handler if unit.is_some() && unit != self.accused_unit.as_ref() => {
                    Disclosure::Masked
                }
                _ => Disclosure::Withheld,
            };
        }
        match role {
            Role::PetitionOfficer | Role::Supervisor | Role::Handler => Disclosure::Clear,
            _ => Disclosure::Masked,
        }
    }

    /// The unit a report or accusation names never handles it.
    fn barred_unit(&self) -> Option<(&UnitId, &'static str)> {
        self.accused_unit.as_ref().map(|unit| {
            (
                unit,
                "a report or accusation is never handled by the unit it accuses",
            )
        })
    }

    fn is_backlog(&self) -> bool {
        self.backlog
    }

    /// Still open past its deadline, a petition becomes backlog (积案), once.
    fn overdue_events(&self, deadline: Timestamp) -> Vec<PetitionEvent> {
        if self.backlog {
            Vec::new()
        } else {
            vec![PetitionEvent::BecameBacklog { deadline }]
        }
    }

    fn named(command: &PetitionCommand) -> Vec<(&'static str, Named<'_>)> {
        match command {
            PetitionCommand::Register(r) => filed_names(
                &r.community,
                r.grid.as_ref(),
                KIND,
                ("category", &r.category),
                [("accused_unit", r.accused_unit.as_ref())],
            ),
            PetitionCommand::Accept(a) => vec![("unit", Named::Unit(&a.unit))],
            _ => Vec::new(),
        }
    }

    /// The handling unit on acceptance.
    fn assigned_unit(event: &PetitionEvent) -> Option<&UnitId> {
        match event {
            PetitionEvent::Accepted { unit, .. } => Some(unit),
            _ => None,
        }
    }

    fn persons_mut(event: &mut PetitionEvent) -> Vec<&mut Personal> {
        match event {
            PetitionEvent::Registered { petitioners, .. } => petitioners.iter_mut().collect(),
            _ => Vec::new(),
        }
    }

    fn persons(event: &PetitionEvent) -> Vec<&Personal> {
        match event {
            PetitionEvent::Registered { petitioners, .. } => petitioners.iter().collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
