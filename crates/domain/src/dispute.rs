//! The dispute (矛盾纠纷): registered → mediated → agreed and performed, or failed and referred.
//!
//! People's mediation is voluntary: a dispute may be declined at the door or withdrawn by a party,
//! and when mediation fails the parties are told where else to go (诉讼, 仲裁, 行政, 共享法庭).

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::deadlines::{DeadlinePolicy, ExtensionRule};
use crate::evidence::{
    Evidence, Location, MAX_SHORT_TEXT, MAX_TEXT, MAX_TITLE, check_evidence, check_location,
    check_person, optional_text, required_text,
};
use crate::kind::{self, Guard, Kind, Next, Outcome, Row, filed_names};
use crate::person::{Disclosure, Personal, PersonalDetails};
use crate::{CategoryId, CommunityId, Context, GridId, Named, Refusal, ReplayError, Role, UnitId};

const KIND: &str = "dispute";

/// The longest name of a person (a mediator, a party).
const MAX_NAME: usize = 100;

/// The most parties one dispute may name.
const MAX_PARTIES: usize = 50;

/// Where a dispute stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::Status)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Registered,
    Mediating,
    Agreed,
    Failed,
    /// Performed, or referred elsewhere after a failed mediation.
    Closed,
    Declined,
    Withdrawn,
    /// Marked a duplicate of another case (never by the table).
    Duplicate,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Registered,
        Status::Mediating,
        Status::Agreed,
        Status::Failed,
        Status::Closed,
        Status::Declined,
        Status::Withdrawn,
        Status::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Registered => "registered",
            Status::Mediating => "mediating",
            Status::Agreed => "agreed",
            Status::Failed => "failed",
            Status::Closed => "closed",
            Status::Declined => "declined",
            Status::Withdrawn => "withdrawn",
            Status::Duplicate => "duplicate",
        }
    }

    pub fn is_end(self) -> bool {
        match self {
            Status::Closed | Status::Declined | Status::Withdrawn | Status::Duplicate => true,
            Status::Registered | Status::Mediating | Status::Agreed | Status::Failed => false,
        }
    }
}

/// The actions of the dispute table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Register,
    Accept,
    Decline,
    ScheduleSession,
    RecordSession,
    RecordAgreement,
    RecordFailure,
    Withdraw,
    RecordJudicialConfirmation,
    ConfirmPerformance,
    Refer,
}

impl Action {
    pub const ALL: [Action; 11] = [
        Action::Register,
        Action::Accept,
        Action::Decline,
        Action::ScheduleSession,
        Action::RecordSession,
        Action::RecordAgreement,
        Action::RecordFailure,
        Action::Withdraw,
        Action::RecordJudicialConfirmation,
        Action::ConfirmPerformance,
        Action::Refer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Register => "register",
            Action::Accept => "accept",
            Action::Decline => "decline",
            Action::ScheduleSession => "schedule-session",
            Action::RecordSession => "record-session",
            Action::RecordAgreement => "record-agreement",
            Action::RecordFailure => "record-failure",
            Action::Withdraw => "withdraw",
            Action::RecordJudicialConfirmation => "record-judicial-confirmation",
            Action::ConfirmPerformance => "confirm-performance",
            Action::Refer => "refer",
        }
    }
}

kind::states_and_actions!();

/// Whether anything can still be recorded about judicial confirmation: an application within the
/// window, or the court's decision on an application made.
fn judicial_confirmation_open(d: &Dispute, now: Timestamp) -> bool {
    match d.judicial_confirmation {
        None => d.judicial_confirmation_by.is_some_and(|by| now < by),
        Some(JudicialConfirmation::Applied) => true,
        Some(JudicialConfirmation::Confirmed | JudicialConfirmation::Refused) => false,
    }
}

use Next::To;
use Role::{GridWorker, Mediator, Supervisor};
use Status::{Agreed, Closed, Declined, Failed, Mediating, Registered, Withdrawn};

/// The dispute table of the domain brief, row for row.
pub const TABLE: &[Row<Dispute>] = &[
    Row {
        from: &[None],
        action: Action::Register,
        who: &[GridWorker, Mediator, Supervisor],
        to: To(Registered),
        guard: None,
    },
    Row {
        from: &[Some(Registered)],
        action: Action::Accept,
        who: &[Mediator, Supervisor],
        to: To(Mediating),
        guard: None,
    },
    Row {
        from: &[Some(Registered)],
        action: Action::Decline,
        who: &[Mediator, Supervisor],
        to: To(Declined),
        guard: None,
    },
    Row {
        from: &[Some(Mediating)],
        action: Action::ScheduleSession,
        who: &[Mediator],
        to: To(Mediating),
        guard: None,
    },
    Row {
        from: &[Some(Mediating)],
        action: Action::RecordSession,
        who: &[Mediator],
        to: To(Mediating),
        guard: None,
    },
    Row {
        from: &[Some(Mediating)],
        action: Action::RecordAgreement,
        who: &[Mediator],
        to: To(Agreed),
        guard: None,
    },
    Row {
        from: &[Some(Mediating)],
        action: Action::RecordFailure,
        who: &[Mediator],
        to: To(Failed),
        guard: None,
    },
    Row {
        from: &[Some(Mediating)],
        action: Action::Withdraw,
        who: &[Mediator],
        to: To(Withdrawn),
        guard: None,
    },
    Row {
        from: &[Some(Agreed)],
        action: Action::RecordJudicialConfirmation,
        who: &[Mediator],
        to: To(Agreed),
        guard: Some(Guard {
            holds: judicial_confirmation_open,
            reason: "judicial confirmation is decided already, or was not applied for within its window",
        }),
    },
    Row {
        from: &[Some(Agreed)],
        action: Action::ConfirmPerformance,
        who: &[Mediator, GridWorker],
        to: To(Closed),
        guard: None,
    },
    Row {
        from: &[Some(Failed)],
        action: Action::Refer,
        who: &[Mediator, Supervisor],
        to: To(Closed),
        guard: None,
    },
];

/// How the dispute came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::Source)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    GridWorker,
    WalkIn,
    Hotline,
    /// 警调对接
    PoliceReferral,
    /// 诉调对接
    CourtReferral,
}

/// Which side of the dispute a party is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::Side)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    Applicant,
    Respondent,
}

/// A party to the dispute (当事人).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::Party)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub side: Side,
    pub name: String,
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

impl Party {
    /// The party as the registration records them: their side, their details to be sealed.
    pub fn recorded(&self) -> RecordedParty {
        RecordedParty {
            side: self.side,
            who: Personal::Clear(PersonalDetails {
                name: self.name.trim().to_owned(),
                id_number: self.id_number.clone(),
                phone: self.phone.clone(),
                address: self.address.clone(),
                email: None,
            }),
        }
    }
}

/// A party as recorded: the side in clear, the person sealed in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedParty {
    pub side: Side,
    pub who: Personal,
}

/// Why a registered dispute is not taken up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::DeclineReason)]
#[serde(rename_all = "kebab-case")]
pub enum DeclineReason {
    /// Not a dispute people's mediation may take.
    OutsideScope,
    /// Already before a court or arbitration.
    InLitigation,
    /// A party refuses mediation.
    PartyRefuses,
}

/// A mediation agreement is written (调解协议书) or, for simple matters, oral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::AgreementForm)]
#[serde(rename_all = "kebab-case")]
pub enum AgreementForm {
    Written,
    Oral,
}

/// Where the parties can go when mediation fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::Route)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    Litigation,
    Arbitration,
    /// An administrative body (行政调解, 行政裁决).
    Administrative,
    /// 共享法庭
    SharedCourt,
}

/// Where judicial confirmation (司法确认) of the agreement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::JudicialConfirmation)]
#[serde(rename_all = "kebab-case")]
pub enum JudicialConfirmation {
    /// The parties applied to the court.
    Applied,
    /// The court confirmed the agreement: it is enforceable.
    Confirmed,
    /// The court refused to confirm it.
    Refused,
}

/// The agreement the parties reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::Agreement)]
pub struct Agreement {
    pub form: AgreementForm,
    pub terms: String,
    /// The tenant-local day by which the agreement is to be performed.
    #[schema(value_type = String, format = Date)]
    pub performance_date: Date,
}

// ---- commands -------------------------------------------------------------------------------

/// A command to a dispute, named as the table names its action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::Command)]
#[serde(tag = "action", content = "input", rename_all = "kebab-case")]
pub enum DisputeCommand {
    Register(Register),
    Accept(Accept),
    Decline(Decline),
    ScheduleSession(ScheduleSession),
    RecordSession(RecordSession),
    RecordAgreement(RecordAgreement),
    RecordFailure(RecordFailure),
    Withdraw(Withdraw),
    RecordJudicialConfirmation(RecordJudicialConfirmation),
    ConfirmPerformance(ConfirmPerformance),
    Refer(Refer),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::Register)]
#[serde(deny_unknown_fields)]
pub struct Register {
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
    pub dispute_type: CategoryId,
    pub source: Source,
    pub parties: Vec<Party>,
    /// The mediation room it is routed to, whose mediators take it up; a mediator's registration
    /// defaults to his own room. Without one, a supervisor routes it (`reassign`).
    #[serde(default)]
    pub room: Option<UnitId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::Accept)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    /// The mediator who takes the dispute.
    pub mediator: String,
    /// The mediation room (调解室 or 共享法庭) it is mediated in.
    pub room: UnitId,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::Decline)]
#[serde(deny_unknown_fields)]
pub struct Decline {
    pub reason: DeclineReason,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::ScheduleSession)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSession {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    #[serde(default)]
    pub place: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::RecordSession)]
#[serde(deny_unknown_fields)]
pub struct RecordSession {
    pub summary: String,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::RecordAgreement)]
#[serde(deny_unknown_fields)]
pub struct RecordAgreement {
    pub form: AgreementForm,
    pub terms: String,
    /// Tenant-local; not before today.
    #[schema(value_type = String, format = Date)]
    pub performance_date: Date,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::RecordFailure)]
#[serde(deny_unknown_fields)]
pub struct RecordFailure {
    pub reason: String,
    /// The routes the parties were told of: at least one.
    pub routes_told: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::Withdraw)]
#[serde(deny_unknown_fields)]
pub struct Withdraw {
    /// The party who withdrew.
    pub party: String,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::RecordJudicialConfirmation)]
#[serde(deny_unknown_fields)]
pub struct RecordJudicialConfirmation {
    pub status: JudicialConfirmation,
    #[serde(default)]
    pub court: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::ConfirmPerformance)]
#[serde(deny_unknown_fields)]
pub struct ConfirmPerformance {
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = dispute::Refer)]
#[serde(deny_unknown_fields)]
pub struct Refer {
    pub to: Route,
    #[serde(default)]
    pub note: Option<String>,
}

impl DisputeCommand {
    pub fn action(&self) -> Action {
        match self {
            DisputeCommand::Register(_) => Action::Register,
            DisputeCommand::Accept(_) => Action::Accept,
            DisputeCommand::Decline(_) => Action::Decline,
            DisputeCommand::ScheduleSession(_) => Action::ScheduleSession,
            DisputeCommand::RecordSession(_) => Action::RecordSession,
            DisputeCommand::RecordAgreement(_) => Action::RecordAgreement,
            DisputeCommand::RecordFailure(_) => Action::RecordFailure,
            DisputeCommand::Withdraw(_) => Action::Withdraw,
            DisputeCommand::RecordJudicialConfirmation(_) => Action::RecordJudicialConfirmation,
            DisputeCommand::ConfirmPerformance(_) => Action::ConfirmPerformance,
            DisputeCommand::Refer(_) => Action::Refer,
        }
    }
}

// ---- events ---------------------------------------------------------------------------------

/// What happened to a dispute. Deadlines are decided when the event is, and recorded in it, so
/// replaying history never depends on today's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum DisputeEvent {
    Registered {
        community: CommunityId,
        grid: Option<GridId>,
        address: Option<String>,
        location: Option<Location>,
        title: String,
        description: String,
        dispute_type: CategoryId,
        source: Source,
        parties: Vec<RecordedParty>,
        /// The room it was routed to at registration, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<UnitId>,
        accept_by: Timestamp,
    },
    Accepted {
        mediator: String,
        room: UnitId,
        note: Option<String>,
        mediate_by: Timestamp,
    },
    Declined {
        reason: DeclineReason,
        note: Option<String>,
    },
    SessionScheduled {
        at: Timestamp,
        place: Option<String>,
    },
    SessionRecorded {
        summary: String,
        evidence: Vec<Evidence>,
    },
    AgreementRecorded {
        form: AgreementForm,
        terms: String,
        performance_date: Date,
        evidence: Vec<Evidence>,
        /// The close of the performance date.
        perform_by: Timestamp,
        /// The last moment the parties may apply for judicial confirmation.
        judicial_confirmation_by: Timestamp,
    },
    FailureRecorded {
        reason: String,
        routes_told: Vec<Route>,
    },
    Withdrawn {
        party: String,
        reason: Option<String>,
    },
    JudicialConfirmationRecorded {
        status: JudicialConfirmation,
        court: Option<String>,
        note: Option<String>,
    },
    PerformanceConfirmed {
        note: Option<String>,
        evidence: Vec<Evidence>,
    },
    Referred {
        to: Route,
        note: Option<String>,
    },
}

// ---- state ----------------------------------------------------------------------------------

/// A dispute as its events have made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispute {
    pub status: Status,
    pub community: CommunityId,
    pub grid: Option<GridId>,
    pub address: Option<String>,
    pub location: Option<Location>,
    pub title: String,
    pub description: String,
    pub dispute_type: CategoryId,
    pub source: Source,
    pub parties: Vec<RecordedParty>,
    /// The deadline of the current step; none when failed or ended.
    pub deadline: Option<Timestamp>,
    pub mediator: Option<String>,
    /// The mediation room, once accepted.
    pub room: Option<UnitId>,
    /// How many sessions have been recorded.
    pub sessions: u32,
    /// The session scheduled and not yet recorded, if any.
    pub next_session: Option<Timestamp>,
    pub agreement: Option<Agreement>,
    pub judicial_confirmation: Option<JudicialConfirmation>,
    pub judicial_confirmation_by: Option<Timestamp>,
    pub failure_reason: Option<String>,
    pub routes_told: Vec<Route>,
    pub referred_to: Option<Route>,
    pub decline_reason: Option<DeclineReason>,
    pub withdrawn_by: Option<String>,
    pub evidence: Vec<Evidence>,
}

// ---- the rules ------------------------------------------------------------------------------

fn check_parties(parties: &[Party]) -> Result<(), Refusal> {
    if parties.len() > MAX_PARTIES {
        return Err(Refusal::invalid(
            "parties",
            format!("at most {MAX_PARTIES} parties"),
        ));
    }
    let has = |side| parties.iter().any(|p| p.side == side);
    if !has(Side::Applicant) || !has(Side::Respondent) {
        return Err(Refusal::invalid(
            "parties",
            "a dispute needs at least one applicant and one respondent",
        ));
    }
    for p in parties {
        check_person(
            "parties",
            &p.name,
            p.id_number.as_deref(),
            p.phone.as_deref(),
            p.address.as_deref(),
        )?;
    }
    Ok(())
}

fn check_judicial_confirmation(
    dispute: Option<&Dispute>,
    status: JudicialConfirmation,
    now: Timestamp,
) -> Result<(), Refusal> {
    let recorded = dispute.and_then(|d| d.judicial_confirmation);
    match (status, recorded) {
        (JudicialConfirmation::Applied, None) => {
            let window = dispute.and_then(|d| d.judicial_confirmation_by);
            if window.is_some_and(|by| now < by) {
                Ok(())
            } else {
                Err(Refusal::invalid(
                    "status",
                    "the window to apply for judicial confirmation has passed",
                ))
            }
        }
        (JudicialConfirmation::Applied, Some(_)) => Err(Refusal::invalid(
            "status",
            "judicial confirmation has been applied for already",
        )),
        (
            JudicialConfirmation::Confirmed | JudicialConfirmation::Refused,
            Some(JudicialConfirmation::Applied),
        ) => Ok(()),
        (JudicialConfirmation::Confirmed | JudicialConfirmation::Refused, None) => {
            Err(Refusal::invalid(
                "status",
                "the court confirms or refuses only after an application is recorded",
            ))
        }
        (
            JudicialConfirmation::Confirmed | JudicialConfirmation::Refused,
            Some(JudicialConfirmation::Confirmed | JudicialConfirmation::Refused),
        ) => Err(Refusal::invalid(
            "status",
            "the court has decided on judicial confirmation already",
        )),
    }
}

/// What a command the table allowed records on a dispute, once its inputs are checked.
fn record(
    dispute: Option<&Dispute>,
    command: &DisputeCommand,
    ctx: &Context<'_>,
) -> Result<Vec<DisputeEvent>, Refusal> {
    let now = ctx.now;
    let policy = ctx.policy;
    let event = match command {
        DisputeCommand::Register(r) => {
            required_text("title", &r.title, MAX_TITLE)?;
            optional_text("description", Some(&r.description), MAX_TEXT)?;
            optional_text("address", r.address.as_deref(), MAX_SHORT_TEXT)?;
            check_location(r.location.as_ref())?;
            check_parties(&r.parties)?;
            DisputeEvent::Registered {
                community: r.community.clone(),
                grid: r.grid.clone(),
                address: r.address.clone(),
                location: r.location,
                title: r.title.trim().to_owned(),
                description: r.description.clone(),
                dispute_type: r.dispute_type.clone(),
                source: r.source,
                parties: r.parties.iter().map(Party::recorded).collect(),
                // Not routed: to the community's mediation room, whose mediators take it up.
                room: r.room.clone().or_else(|| {
                    ctx.directory
                        .and_then(|d| d.mediation_room(&r.community))
                        .cloned()
                }),
                accept_by: policy.due(now, policy.dispute.accept),
            }
        }
        DisputeCommand::Accept(a) => {
            required_text("mediator", &a.mediator, MAX_NAME)?;
            optional_text("note", a.note.as_deref(), MAX_TEXT)?;
            DisputeEvent::Accepted {
                mediator: a.mediator.trim().to_owned(),
                room: a.room.clone(),
                note: a.note.clone(),
                mediate_by: policy.due(now, policy.dispute.mediate),
            }
        }
        DisputeCommand::Decline(d) => {
            optional_text("note", d.note.as_deref(), MAX_TEXT)?;
            DisputeEvent::Declined {
                reason: d.reason,
                note: d.note.clone(),
            }
        }
        DisputeCommand::ScheduleSession(s) => {
            if s.at <= now {
                return Err(Refusal::invalid("at", "must be in the future"));
            }
            optional_text("place", s.place.as_deref(), MAX_SHORT_TEXT)?;
            DisputeEvent::SessionScheduled {
                at: s.at,
                place: s.place.clone(),
            }
        }
        DisputeCommand::RecordSession(s) => {
            required_text("summary", &s.summary, MAX_TEXT)?;
            check_evidence(&s.evidence, false)?;
            DisputeEvent::SessionRecorded {
                summary: s.summary.clone(),
                evidence: s.evidence.clone(),
            }
        }
        DisputeCommand::RecordAgreement(a) => {
            required_text("terms", &a.terms, MAX_TEXT)?;
            if a.performance_date < policy.local_day(now) {
                return Err(Refusal::invalid(
                    "performance_date",
                    "must not be before today",
                ));
            }
            check_evidence(&a.evidence, false)?;
            DisputeEvent::AgreementRecorded {
                form: a.form,
                terms: a.terms.clone(),
                performance_date: a.performance_date,
                evidence: a.evidence.clone(),
                perform_by: policy.end_of_day(a.performance_date),
                judicial_confirmation_by: policy.due(now, policy.dispute.judicial_confirmation),
            }
        }
        DisputeCommand::RecordFailure(f) => {
            required_text("reason", &f.reason, MAX_TEXT)?;
            if f.routes_told.is_empty() {
                return Err(Refusal::invalid(
                    "routes_told",
                    "the parties are told at least one route: litigation, arbitration, administrative or shared-court",
                ));
            }
            DisputeEvent::FailureRecorded {
                reason: f.reason.clone(),
                routes_told: f.routes_told.clone(),
            }
        }
        DisputeCommand::Withdraw(w) => {
            required_text("party", &w.party, MAX_NAME)?;
            optional_text("reason", w.reason.as_deref(), MAX_TEXT)?;
            DisputeEvent::Withdrawn {
                party: w.party.trim().to_owned(),
                reason: w.reason.clone(),
            }
        }
        DisputeCommand::RecordJudicialConfirmation(j) => {
            check_judicial_confirmation(dispute, j.status, now)?;
            optional_text("court", j.court.as_deref(), MAX_SHORT_TEXT)?;
            optional_text("note", j.note.as_deref(), MAX_TEXT)?;
            DisputeEvent::JudicialConfirmationRecorded {
                status: j.status,
                court: j.court.clone(),
                note: j.note.clone(),
            }
        }
        DisputeCommand::ConfirmPerformance(c) => {
            optional_text("note", c.note.as_deref(), MAX_TEXT)?;
            check_evidence(&c.evidence, false)?;
            DisputeEvent::PerformanceConfirmed {
                note: c.note.clone(),
                evidence: c.evidence.clone(),
            }
        }
        DisputeCommand::Refer(r) => {
            optional_text("note", r.note.as_deref(), MAX_TEXT)?;
            DisputeEvent::Referred {
                to: r.to,
                note: r.note.clone(),
            }
        }
    };
    Ok(vec![event])
}

/// Applies one recorded event. Events are facts: this does not judge them again, it only refuses
/// what cannot be replayed at all (a follow-up event before the dispute was registered).
pub fn evolve(dispute: Option<Dispute>, event: &DisputeEvent) -> Result<Dispute, ReplayError> {
    let Some(mut d) = kind::continued(
        KIND,
        dispute,
        matches!(event, DisputeEvent::Registered { .. }),
        (
            "registered twice",
            "event before the dispute was registered",
        ),
    )?
    else {
        return Ok(registered(event));
    };
    match event {
        DisputeEvent::Registered { .. } => unreachable!("handled above"),
        DisputeEvent::Accepted {
            mediator,
            room,
            mediate_by,
            ..
        } => {
            d.status = Mediating;
            d.mediator = Some(mediator.clone());
            d.room = Some(room.clone());
            d.deadline = Some(*mediate_by);
        }
        DisputeEvent::Declined { reason, .. } => {
            d.status = Declined;
            d.decline_reason = Some(*reason);
            d.deadline = None;
        }
        DisputeEvent::SessionScheduled { at, .. } => {
            d.next_session = Some(*at);
        }
        DisputeEvent::SessionRecorded { evidence, .. } => {
            d.sessions += 1;
            d.next_session = None;
            d.evidence.extend(evidence.iter().cloned());
        }
        DisputeEvent::AgreementRecorded {
            form,
            terms,
            performance_date,
            evidence,
            // Performance is the parties' to do by that date; the office confirms it after, so
            // the agreed step has no office deadline. The instant stays in the event.
            perform_by: _,
            judicial_confirmation_by,
        } => {
            d.status = Agreed;
            d.agreement = Some(Agreement {
                form: *form,
                terms: terms.clone(),
                performance_date: *performance_date,
            });
            d.judicial_confirmation = None;
            d.judicial_confirmation_by = Some(*judicial_confirmation_by);
            d.next_session = None;
            d.evidence.extend(evidence.iter().cloned());
            d.deadline = None;
        }
        DisputeEvent::FailureRecorded {
            reason,
            routes_told,
        } => {
            d.status = Failed;
            d.failure_reason = Some(reason.clone());
            d.routes_told = routes_told.clone();
            d.next_session = None;
            d.deadline = None;
        }
        DisputeEvent::Withdrawn { party, .. } => {
            d.status = Withdrawn;
            d.withdrawn_by = Some(party.clone());
            d.next_session = None;
            d.deadline = None;
        }
        DisputeEvent::JudicialConfirmationRecorded { status, .. } => {
            d.judicial_confirmation = Some(*status);
        }
        DisputeEvent::PerformanceConfirmed { evidence, .. } => {
            d.status = Closed;
            d.evidence.extend(evidence.iter().cloned());
            d.deadline = None;
        }
        DisputeEvent::Referred { to, .. } => {
            d.status = Closed;
            d.referred_to = Some(*to);
            d.deadline = None;
        }
    }
    Ok(d)
}

fn registered(event: &DisputeEvent) -> Dispute {
    let DisputeEvent::Registered {
        community,
        grid,
        address,
        location,
        title,
        description,
        dispute_type,
        source,
        parties,
        room: _,
        accept_by,
    } = event.clone()
    else {
        unreachable!("called with a Registered event only")
    };
    Dispute {
        status: Registered,
        community,
        grid,
        address,
        location,
        title,
        description,
        dispute_type,
        source,
        parties,
        deadline: Some(accept_by),
        mediator: None,
        room: None,
        sessions: 0,
        next_session: None,
        agreement: None,
        judicial_confirmation: None,
        judicial_confirmation_by: None,
        failure_reason: None,
        routes_told: Vec::new(),
        referred_to: None,
        decline_reason: None,
        withdrawn_by: None,
        evidence: Vec::new(),
    }
}

// ---- the kind -------------------------------------------------------------------------------

impl Kind for Dispute {
    const NUMBER_PREFIX: &'static str = "DS";
    const CATEGORIES: &'static [(&'static str, &'static str)] = &[
        ("neighbour", "邻里"),
        ("property-management", "物业"),
        ("labour", "劳资"),
        ("consumer", "商户/消费"),
        ("family", "婚姻家庭"),
        ("tenancy", "租赁"),
        ("relocation", "征迁"),
        ("other", "其他"),
    ];

    type Command = DisputeCommand;
    type Event = DisputeEvent;

    kind::kind_alike!();

    /// The dispute's type.
    fn category(&self) -> String {
        self.dispute_type.to_string()
    }

    /// "accept", "mediate"; none without a deadline.
    fn current_step(&self) -> Option<&'static str> {
        self.deadline?;
        match self.status {
            Status::Registered => Some("accept"),
            Status::Mediating => Some("mediate"),
            Status::Agreed
            | Status::Failed
            | Status::Closed
            | Status::Declined
            | Status::Withdrawn
            | Status::Duplicate => None,
        }
    }

    /// Closed after performance is resolved; closed by referral, declined and withdrawn are not.
    fn outcome(&self) -> Option<Outcome> {
        match self.status {
            Status::Closed if self.referred_to.is_some() => Some(Outcome::NotResolved),
            Status::Closed => Some(Outcome::Resolved),
            Status::Declined | Status::Withdrawn => Some(Outcome::NotResolved),
            Status::Duplicate => Some(Outcome::Duplicate),
            Status::Registered | Status::Mediating | Status::Agreed | Status::Failed => None,
        }
    }

    /// The mediation room routes its disputes, and the supervisor.
    fn routers() -> &'static [Role] {
        &[Mediator, Supervisor]
    }

    /// The mediator works the steps.
    fn step_workers() -> &'static [Role] {
        &[Mediator]
    }

    fn extension_rule(policy: &DeadlinePolicy) -> ExtensionRule {
        policy.extensions.dispute
    }

    /// Only mediation may be extended.
    fn extendable(&self) -> Result<(), &'static str> {
        match self.status {
            Status::Mediating => Ok(()),
            _ => Err("only mediation can be extended"),
        }
    }

    fn reopenable(&self) -> Result<(), &'static str> {
        match self.status {
            Status::Closed => Ok(()),
            _ => Err("only a closed dispute can be reopened"),
        }
    }

    /// Mediation again.
    fn reopen_deadline(policy: &DeadlinePolicy, now: Timestamp) -> Timestamp {
        policy.due(now, policy.dispute.mediate)
    }

    /// Back to mediating. The failure and referral are cleared (they no longer describe where
    /// the dispute stands); the agreement, if any, stays until a new one is recorded.
    fn reopened(&mut self, deadline: Timestamp) {
        self.status = Status::Mediating;
        self.deadline = Some(deadline);
        self.next_session = None;
        self.failure_reason = None;
        self.routes_told.clear();
        self.referred_to = None;
    }

    fn marked_duplicate(&mut self) {
        self.status = Status::Duplicate;
        self.deadline = None;
        self.next_session = None;
    }

    /// Mediators and supervisors see the parties; everyone else within reach sees them masked.
    fn disclosure(&self, role: Role, _unit: Option<&UnitId>) -> Disclosure {
        match role {
            Role::Mediator | Role::Supervisor => Disclosure::Clear,
            _ => Disclosure::Masked,
        }
    }

    /// The room it is routed to at registration, or accepted in.
    fn assigned_unit(event: &DisputeEvent) -> Option<&UnitId> {
        match event {
            DisputeEvent::Registered { room, .. } => room.as_ref(),
            DisputeEvent::Accepted { room, .. } => Some(room),
            _ => None,
        }
    }

    fn persons_mut(event: &mut DisputeEvent) -> Vec<&mut Personal> {
        match event {
            DisputeEvent::Registered { parties, .. } => {
                parties.iter_mut().map(|p| &mut p.who).collect()
            }
            _ => Vec::new(),
        }
    }

    fn persons(event: &DisputeEvent) -> Vec<&Personal> {
        match event {
            DisputeEvent::Registered { parties, .. } => parties.iter().map(|p| &p.who).collect(),
            _ => Vec::new(),
        }
    }

    fn named(command: &DisputeCommand) -> Vec<(&'static str, Named<'_>)> {
        match command {
            DisputeCommand::Register(r) => filed_names(
                &r.community,
                r.grid.as_ref(),
                KIND,
                ("dispute_type", &r.dispute_type),
                [("room", r.room.as_ref())],
            ),
            DisputeCommand::Accept(a) => vec![("room", Named::Unit(&a.room))],
            _ => Vec::new(),
        }
    }

    /// A mediator's registration goes to his own room.
    fn route_to_own_unit(command: &mut DisputeCommand, role: Role, unit: &UnitId) {
        if let DisputeCommand::Register(r) = command
            && role == Mediator
            && r.room.is_none()
        {
            r.room = Some(unit.clone());
        }
    }
}

#[cfg(test)]
mod tests;
