//! What one commit changes in the read model, worked out without a database: the case row, its
//! units, links, history entry and counters. The dialect modules only write these.

use docket_domain::common::{CommonEvent, Outcome, Satisfaction};
use docket_domain::deadlines::Policies;
use docket_domain::dispute::{DisputeEvent, JudicialConfirmation, Side};
use docket_domain::hazard::HazardEvent;
use docket_domain::livelihood::{LivelihoodEvent, ReplyResult};
use docket_domain::petition::PetitionEvent;
use docket_domain::risk_event::RiskEventEvent;
use docket_domain::{CaseEvent, CaseKind, CaseState, Detail};
use docket_eventlog::Recorded;
use jiff::Timestamp;

use crate::ProjectionError;

/// Microseconds since the epoch: how the read model stores instants, so ranges compare as numbers.
pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn from_micros(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(Timestamp::MAX)
}

/// The smallest UUIDv7 minted `hours` hours from `t`, as the read model stores ids.
pub(crate) fn uuid_floor(t: Timestamp, hours: i64) -> String {
    let at = t
        .checked_add(jiff::SignedDuration::from_hours(hours))
        .unwrap_or(t);
    let millis = u64::try_from(at.as_millisecond()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10])
        .into_uuid()
        .to_string()
}

/// The case row as of a commit.
#[derive(Debug)]
pub(crate) struct CaseRow {
    pub(crate) case_id: String,
    pub(crate) tenant: String,
    pub(crate) kind: CaseKind,
    pub(crate) status: &'static str,
    pub(crate) is_closed: bool,
    pub(crate) community: String,
    pub(crate) grid: Option<String>,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) category: String,
    pub(crate) severity: Option<&'static str>,
    pub(crate) lead_unit: Option<String>,
    pub(crate) assignee: Option<String>,
    pub(crate) version: i64,
    pub(crate) position: i64,
    pub(crate) deadline: Option<i64>,
    /// When the deadline watch next has something to record on the case.
    pub(crate) watch_at: Option<i64>,
    pub(crate) updated_at: i64,
    pub(crate) outcome: Option<&'static str>,
    pub(crate) closed_on_time: Option<bool>,
    /// How many deadlines the case has missed.
    pub(crate) missed: i64,
    pub(crate) backlog: bool,
    pub(crate) state: String,
    /// (unit, part): the lead and the assisting units.
    pub(crate) units: Vec<(String, &'static str)>,
    /// A livelihood request's dispatches, one per unit and round.
    pub(crate) dispatches: Vec<DispatchRow>,
    /// A livelihood request's replies, one per round replied.
    pub(crate) replies: Vec<ReplyRow>,
    /// How a petition or a livelihood request came in.
    pub(crate) channel: Option<&'static str>,
    pub(crate) petition: PetitionFlags,
}

/// What the petition reports count besides the slice: a collective visit (集体访) and how many
/// came, a key person (重点人员), a risk of going over the district's head (越级, 赴京). Empty
/// for other kinds.
#[derive(Debug, Default)]
pub(crate) struct PetitionFlags {
    pub(crate) headcount: Option<i64>,
    pub(crate) collective: bool,
    pub(crate) key_person: bool,
    pub(crate) escalation_risk: Option<&'static str>,
}

impl PetitionFlags {
    fn of(state: &CaseState) -> PetitionFlags {
        let Detail::Petition(p) = &state.detail else {
            return PetitionFlags::default();
        };
        PetitionFlags {
            headcount: Some(i64::from(p.headcount)),
            collective: p.collective,
            key_person: p.key_person,
            escalation_risk: p.escalation_risk.map(|r| r.as_str()),
        }
    }
}

/// One reply to a livelihood request: when it came, and when its round began (none: at
/// receipt).
#[derive(Debug)]
pub(crate) struct ReplyRow {
    pub(crate) seq: i64,
    pub(crate) round: i64,
    pub(crate) started_at: Option<i64>,
    pub(crate) replied_at: i64,
}

/// The reply rows of a case: a livelihood request's, none for other kinds.
fn reply_rows(state: &CaseState) -> Vec<ReplyRow> {
    let Detail::Livelihood(request) = &state.detail else {
        return Vec::new();
    };
    request
        .replies
        .iter()
        .enumerate()
        .map(|(i, r)| ReplyRow {
            seq: i as i64,
            round: i64::from(r.round),
            started_at: r.started.map(micros),
            replied_at: micros(r.at),
        })
        .collect()
}

/// One unit's dispatch on a livelihood request, as the per-unit figures read it.
#[derive(Debug)]
pub(crate) struct DispatchRow {
    pub(crate) seq: i64,
    pub(crate) unit: String,
    pub(crate) lead: bool,
    pub(crate) round: i64,
    pub(crate) dispatched_at: i64,
    pub(crate) check_in_by: i64,
    pub(crate) checked_in_at: Option<i64>,
    pub(crate) late: bool,
    pub(crate) missed: bool,
    pub(crate) returned_at: Option<i64>,
    pub(crate) replaced: bool,
    /// The parts the unit recorded, counted on its latest dispatch.
    pub(crate) parts: i64,
    pub(crate) rating: Option<&'static str>,
}

fn satisfaction_name(s: Satisfaction) -> &'static str {
    match s {
        Satisfaction::Satisfied => "satisfied",
        Satisfaction::BasicallySatisfied => "basically_satisfied",
        Satisfaction::Dissatisfied => "dissatisfied",
    }
}

/// The dispatch rows of a case: a livelihood request's, none for other kinds.
fn dispatch_rows(state: &CaseState) -> Vec<DispatchRow> {
    let Detail::Livelihood(request) = &state.detail else {
        return Vec::new();
    };
    let parts = &state.handling.parts;
    let ds = &request.dispatches;
    ds.iter()
        .enumerate()
        .map(|(i, d)| {
            let latest = !ds[i + 1..].iter().any(|later| later.unit == d.unit);
            DispatchRow {
                seq: i as i64,
                unit: d.unit.to_string(),
                lead: d.lead,
                round: i64::from(d.round),
                dispatched_at: micros(d.dispatched_at),
                check_in_by: micros(d.check_in_by),
                checked_in_at: d.checked_in_at.map(micros),
                late: d.late,
                missed: d.missed,
                returned_at: d.returned_at.map(micros),
                replaced: d.replaced,
                parts: if latest {
                    parts.iter().filter(|p| p.unit == d.unit).count() as i64
                } else {
                    0
                },
                rating: d.rating.map(satisfaction_name),
            }
        })
        .collect()
}

/// Every per-day counter the projector keeps (`daily_counts.metric`): what `event=` lists the
/// cases behind.
pub const METRICS: &[&str] = &[
    "opened",
    "closed",
    "closed_on_time",
    "resolved",
    "extension_requests",
    "extensions",
    "extensions_refused",
    "supervisions",
    "supervisions_answered_on_time",
    "supervisions_answered_late",
    "deadlines_missed",
    "became_backlog",
    "reopened",
    "return_visits",
    "satisfied",
    "dissatisfied",
    "reviews",
    "re_reviews",
    "judicial_confirmations",
    "rectified",
    "risks_assessed",
    "risks_controlled",
    "risk_reviews",
    "risks_struck_off",
    "risks_escalated",
    "redone",
    "requests_dispatched",
    "requests_coordinated",
    "check_ins_late",
    "check_ins_on_time",
    "check_ins_missed",
    "dispatches_returned",
    "redispatched",
    "requests_replied",
    "requests_resolved",
    "ratings",
    "rated_satisfied",
];

/// One increment of a per-day counter, under the slice of the case as its event left it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Count {
    pub(crate) day: String,
    pub(crate) metric: &'static str,
    pub(crate) slice: Slice,
}

/// The slice a case is in: what its events are counted under.
fn slice_of(kind: CaseKind, state: &CaseState) -> Slice {
    [
        kind.as_str().to_owned(),
        state.community().to_string(),
        state.grid().map(ToString::to_string).unwrap_or_default(),
        state.category(),
        state
            .handling
            .lead_unit
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        state.severity().unwrap_or_default().to_owned(),
        state.channel().unwrap_or_default().to_owned(),
    ]
}

/// Everything one commit changes.
#[derive(Debug)]
pub(crate) struct Projected {
    pub(crate) row: CaseRow,
    /// (from, to, relation), both directions.
    pub(crate) links: Vec<(String, String, &'static str)>,
    pub(crate) counts: Vec<Count>,
    pub(crate) events_json: String,
    /// (person, part): the people the commit names, by their pseudonymous ids.
    pub(crate) persons: Vec<(String, &'static str)>,
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Resolved => "resolved",
        Outcome::NotResolved => "not_resolved",
        Outcome::Duplicate => "duplicate",
    }
}

/// Works out what `recorded` changes, given the case's state before it.
pub(crate) fn project(
    recorded: &Recorded,
    before: Option<CaseState>,
    policies: &Policies,
) -> Result<(Projected, CaseState), ProjectionError> {
    let position = recorded.position;
    let body = &recorded.commit.body;
    let unprojectable = |reason: String| ProjectionError::Unprojectable { position, reason };
    let case_id = body.case_id.to_string();
    let day = crate::policy_of(policies, &body.tenant)
        .local_day(body.recorded_at)
        .to_string();
    let mut state = before;
    let mut links = Vec::new();
    let mut persons = Vec::new();
    let mut counts = Vec::new();
    // The counters an event adds to, counted under the case as that event left it: a deadline
    // missed before a late command's own events under the unit and severity it was missed in,
    // an assessment under the level it set.
    let mut pending: Vec<&'static str> = Vec::new();
    if body.version == 1 {
        pending.push("opened");
    }
    let kind: CaseKind = body
        .case_kind
        .parse()
        .map_err(|e: docket_domain::InvalidInput| unprojectable(e.message))?;
    for record in &body.events {
        let event = CaseEvent::from_record(&record.event_type, record.schema_version, &record.data)
            .map_err(|e| unprojectable(e.to_string()))?;
        let mut count = |metric| {
            debug_assert!(METRICS.contains(&metric), "{metric} is not in METRICS");
            pending.push(metric)
        };
        match &event {
            CaseEvent::Common(CommonEvent::Linked { case, .. }) => {
                links.push((case_id.clone(), case.to_string(), "related"));
                links.push((case.to_string(), case_id.clone(), "related"));
            }
            CaseEvent::Common(CommonEvent::MarkedDuplicate { of, .. })
            | CaseEvent::Hazard(HazardEvent::Dismissed {
                duplicate_of: Some(of),
                ..
            }) => {
                links.push((case_id.clone(), of.to_string(), "duplicate-of"));
                links.push((of.to_string(), case_id.clone(), "duplicated-by"));
            }
            _ => {}
        }
        if let Some(case) = event.linked_case() {
            links.push((case_id.clone(), case.to_string(), "related"));
            links.push((case.to_string(), case_id.clone(), "related"));
        }
        match &event {
            CaseEvent::RiskEvent(RiskEventEvent::Identified { people, .. }) => {
                for person in people {
                    persons.extend(person.person().map(|p| (p.to_string(), "involved")));
                }
            }
            CaseEvent::Livelihood(LivelihoodEvent::Received { requester, .. }) => {
                if let Some(person) = requester.as_ref().and_then(|r| r.person()) {
                    persons.push((person.to_string(), "requester"));
                }
            }
            CaseEvent::Dispute(DisputeEvent::Registered { parties, .. }) => {
                for party in parties {
                    let part = match party.side {
                        Side::Applicant => "applicant",
                        Side::Respondent => "respondent",
                    };
                    persons.extend(party.who.person().map(|p| (p.to_string(), part)));
                }
            }
            CaseEvent::Petition(PetitionEvent::Registered { petitioners, .. }) => {
                for petitioner in petitioners {
                    persons.extend(petitioner.person().map(|p| (p.to_string(), "petitioner")));
                }
            }
            _ => {}
        }
        match &event {
            CaseEvent::Common(CommonEvent::Closed { outcome, on_time }) => {
                count("closed");
                if *on_time {
                    count("closed_on_time");
                }
                if *outcome == Outcome::Resolved {
                    count("resolved");
                }
            }
            CaseEvent::Common(CommonEvent::ExtensionRequested { .. }) => {
                count("extension_requests")
            }
            CaseEvent::Common(CommonEvent::ExtensionApproved { .. }) => count("extensions"),
            CaseEvent::Common(CommonEvent::ExtensionRefused { .. }) => count("extensions_refused"),
            CaseEvent::Common(CommonEvent::SupervisionNoticed { .. }) => count("supervisions"),
            CaseEvent::Common(CommonEvent::SupervisionAnswered { number, .. }) => {
                // On time: answered by the notice's due time.
                let due = state.as_ref().and_then(|s| {
                    s.handling
                        .supervisions
                        .iter()
                        .find(|n| n.number == *number)
                        .map(|n| n.due)
                });
                count(match due {
                    Some(due) if body.recorded_at > due => "supervisions_answered_late",
                    _ => "supervisions_answered_on_time",
                });
            }
            CaseEvent::Common(CommonEvent::DeadlineMissed { .. }) => count("deadlines_missed"),
            CaseEvent::Petition(PetitionEvent::BecameBacklog { .. }) => count("became_backlog"),
            CaseEvent::Common(CommonEvent::Reopened { .. }) => count("reopened"),
            CaseEvent::Common(CommonEvent::ReturnVisited { satisfaction, .. }) => {
                count("return_visits");
                count(if *satisfaction == Satisfaction::Dissatisfied {
                    "dissatisfied"
                } else {
                    "satisfied"
                });
            }
            CaseEvent::Petition(PetitionEvent::ReviewRequested { .. }) => count("reviews"),
            CaseEvent::Petition(PetitionEvent::ReReviewRequested { .. }) => count("re_reviews"),
            CaseEvent::Dispute(DisputeEvent::JudicialConfirmationRecorded {
                status: JudicialConfirmation::Applied,
                ..
            }) => count("judicial_confirmations"),
            CaseEvent::Hazard(HazardEvent::FixedOnSpot { .. })
            | CaseEvent::Hazard(HazardEvent::RectificationReported { .. }) => count("rectified"),
            CaseEvent::RiskEvent(RiskEventEvent::Assessed { .. }) => count("risks_assessed"),
            CaseEvent::RiskEvent(RiskEventEvent::Controlled { .. }) => count("risks_controlled"),
            CaseEvent::RiskEvent(RiskEventEvent::Reviewed { .. }) => count("risk_reviews"),
            CaseEvent::RiskEvent(RiskEventEvent::StruckOff { .. }) => count("risks_struck_off"),
            CaseEvent::RiskEvent(RiskEventEvent::Escalated { .. }) => count("risks_escalated"),
            CaseEvent::Livelihood(LivelihoodEvent::Dispatched { co_handlers, .. })
            | CaseEvent::Livelihood(LivelihoodEvent::Redone { co_handlers, .. }) => {
                if matches!(event, CaseEvent::Livelihood(LivelihoodEvent::Redone { .. })) {
                    count("redone");
                }
                count("requests_dispatched");
                if !co_handlers.is_empty() {
                    count("requests_coordinated");
                }
            }
            CaseEvent::Livelihood(LivelihoodEvent::CheckedIn { late, .. }) => {
                count(if *late {
                    "check_ins_late"
                } else {
                    "check_ins_on_time"
                });
            }
            CaseEvent::Livelihood(LivelihoodEvent::CheckInMissed { .. }) => {
                count("check_ins_missed")
            }
            CaseEvent::Livelihood(LivelihoodEvent::DispatchReturned { .. }) => {
                count("dispatches_returned")
            }
            CaseEvent::Livelihood(LivelihoodEvent::Redispatched { .. }) => count("redispatched"),
            CaseEvent::Livelihood(LivelihoodEvent::Replied { result, .. }) => {
                count("requests_replied");
                if *result == ReplyResult::Resolved {
                    count("requests_resolved");
                }
            }
            CaseEvent::Livelihood(LivelihoodEvent::Rated { rating, .. }) => {
                count("ratings");
                if *rating != Satisfaction::Dissatisfied {
                    count("rated_satisfied");
                }
            }
            _ => {}
        }
        let after = CaseState::evolve(state, &event).map_err(|e| unprojectable(e.to_string()))?;
        if !pending.is_empty() {
            let slice = slice_of(kind, &after);
            counts.extend(pending.drain(..).map(|metric| Count {
                day: day.clone(),
                metric,
                slice: slice.clone(),
            }));
        }
        state = Some(after);
    }
    let state = state.ok_or_else(|| unprojectable("a commit without events".to_owned()))?;
    let h = &state.handling;
    let mut units: Vec<(String, &'static str)> = h
        .lead_unit
        .iter()
        .map(|u| (u.to_string(), "lead"))
        .collect();
    units.extend(h.co_handlers.iter().map(|u| (u.to_string(), "assist")));
    let row = CaseRow {
        case_id,
        tenant: body.tenant.clone(),
        kind,
        status: state.status(),
        is_closed: state.is_closed(),
        community: state.community().to_string(),
        grid: state.grid().map(ToString::to_string),
        title: state.title().to_owned(),
        // A sealed description is not kept here: it could only be searched as ciphertext.
        description: Some(state.description())
            .filter(|d| !docket_domain::person::is_sealed_text(d))
            .unwrap_or_default()
            .to_owned(),
        category: state.category(),
        severity: state.severity(),
        lead_unit: h.lead_unit.as_ref().map(ToString::to_string),
        assignee: h.assignee.clone(),
        version: body.version as i64,
        position: position as i64,
        deadline: state.deadline().map(micros),
        watch_at: state.next_watch().map(micros),
        updated_at: micros(body.recorded_at),
        outcome: h.closure.map(|c| outcome_name(c.outcome)),
        closed_on_time: h.closure.map(|c| c.on_time),
        missed: h.missed_deadlines.len() as i64,
        backlog: state.is_backlog(),
        state: serde_json::to_string(&state).expect("case state serializes"),
        units,
        dispatches: dispatch_rows(&state),
        replies: reply_rows(&state),
        channel: state.channel(),
        petition: PetitionFlags::of(&state),
    };
    let events_json = serde_json::to_string(&body.events).expect("events serialize");
    Ok((
        Projected {
            row,
            links,
            counts,
            events_json,
            persons,
        },
        state,
    ))
}

// ---- a whole batch ----------------------------------------------------------------------------

/// A case's stored row, as a batch that continues it needs it.
#[derive(Debug)]
pub(crate) struct StoredCase {
    pub(crate) case_id: String,
    pub(crate) version: i64,
    pub(crate) number: String,
    pub(crate) filed_at: i64,
    pub(crate) filed_by: String,
    pub(crate) closed_at: Option<i64>,
    pub(crate) state: String,
}

/// The counter of case numbers per tenant, kind and filing year.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct NumberKey {
    pub(crate) tenant: String,
    pub(crate) kind: &'static str,
    pub(crate) year: i64,
}

/// A case's number, as a batch that moved the case leaves it.
#[derive(Debug, Clone)]
pub(crate) struct Numbered {
    pub(crate) tenant: String,
    pub(crate) case_id: String,
    pub(crate) number: String,
}

/// A case's row after the batch, with what it keeps from its filing.
#[derive(Debug)]
pub(crate) struct PlannedCase {
    pub(crate) row: CaseRow,
    pub(crate) number: String,
    pub(crate) filed_at: i64,
    pub(crate) filed_by: String,
    pub(crate) closed_at: Option<i64>,
}

#[derive(Debug)]
pub(crate) struct HistoryRow {
    pub(crate) case_id: String,
    pub(crate) version: i64,
    pub(crate) tenant: String,
    pub(crate) position: i64,
    pub(crate) commit_id: String,
    pub(crate) actor_id: String,
    pub(crate) actor_role: String,
    pub(crate) actor_unit: Option<String>,
    pub(crate) command: String,
    pub(crate) recorded_at: String,
    pub(crate) events: String,
    pub(crate) prev_hash: String,
    pub(crate) hash: String,
}

#[derive(Debug)]
pub(crate) struct LinkRow {
    pub(crate) tenant: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) relation: &'static str,
    pub(crate) position: i64,
}

/// A person named by a case: the person file (一人一档) is every case that names them.
#[derive(Debug)]
pub(crate) struct PersonRow {
    pub(crate) tenant: String,
    pub(crate) person: String,
    pub(crate) case_id: String,
    pub(crate) kind: &'static str,
    pub(crate) part: &'static str,
    pub(crate) filed_at: i64,
    pub(crate) position: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CountKey {
    pub(crate) tenant: String,
    pub(crate) day: String,
    pub(crate) slice: Slice,
    pub(crate) metric: &'static str,
}

/// What a counted event is counted under: the case's kind, community, grid, category, lead
/// unit, severity and channel when it happened (empty text for none), in the order of
/// `store::SLICE`.
pub(crate) type Slice = [String; 7];

/// (case, counter): the cases behind the counters, each under the slice of its events.
pub(crate) type CaseEventKey = (String, CountKey);

/// Everything a batch writes, one list per table.
#[derive(Debug, Default)]
pub(crate) struct BatchPlan {
    pub(crate) cases: Vec<PlannedCase>,
    pub(crate) history: Vec<HistoryRow>,
    pub(crate) links: Vec<LinkRow>,
    pub(crate) persons: Vec<PersonRow>,
    /// How many times each counted event happened in each case on each day.
    pub(crate) case_events: Vec<(CaseEventKey, i64)>,
    pub(crate) counts: Vec<(CountKey, i64)>,
    /// The same counts summed per month (`day` holds `YYYY-MM`) and per year (`YYYY`), which
    /// long ranges read instead of their whole months and years of days.
    pub(crate) monthly_counts: Vec<(CountKey, i64)>,
    pub(crate) yearly_counts: Vec<(CountKey, i64)>,
    /// The last number handed out per counter, after the batch.
    pub(crate) numbers: Vec<(NumberKey, i64)>,
    /// The commits kept aside, in log order.
    pub(crate) quarantined: Vec<QuarantinedCommit>,
}

/// The ids of the cases `batch` names, sorted, once each.
pub(crate) fn case_ids(batch: &[Recorded]) -> Vec<String> {
    sorted_ids(batch.iter())
}

/// The ids of the cases `batch` continues past their filing, sorted, once each.
pub(crate) fn continued_case_ids(batch: &[Recorded]) -> Vec<String> {
    sorted_ids(batch.iter().filter(|r| r.commit.body.version > 1))
}

fn sorted_ids<'a>(commits: impl Iterator<Item = &'a Recorded>) -> Vec<String> {
    let mut ids: Vec<String> = commits.map(|r| r.commit.body.case_id.to_string()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl BatchPlan {
    /// Each case's units, beside its row.
    pub(crate) fn units(&self) -> Vec<(&CaseRow, &(String, &'static str))> {
        self.cases
            .iter()
            .flat_map(|c| c.row.units.iter().map(move |u| (&c.row, u)))
            .collect()
    }

    /// Each case's dispatches, beside its row.
    pub(crate) fn dispatches(&self) -> Vec<(&CaseRow, &DispatchRow)> {
        self.cases
            .iter()
            .flat_map(|c| c.row.dispatches.iter().map(move |d| (&c.row, d)))
            .collect()
    }

    /// Each case's replies, beside its row.
    pub(crate) fn replies(&self) -> Vec<(&CaseRow, &ReplyRow)> {
        self.cases
            .iter()
            .flat_map(|c| c.row.replies.iter().map(move |r| (&c.row, r)))
            .collect()
    }

    /// Each person the batch names on a petition, by tenant, once.
    pub(crate) fn petitioners(&self) -> Vec<(&str, &str)> {
        let mut petitioners: Vec<(&str, &str)> = self
            .persons
            .iter()
            .filter(|p| p.kind == "petition")
            .map(|p| (p.tenant.as_str(), p.person.as_str()))
            .collect();
        petitioners.sort_unstable();
        petitioners.dedup();
        petitioners
    }

    /// The number of every case the batch moves.
    pub(crate) fn numbered(&self) -> Vec<Numbered> {
        self.cases
            .iter()
            .map(|c| Numbered {
                tenant: c.row.tenant.clone(),
                case_id: c.row.case_id.clone(),
                number: c.number.clone(),
            })
            .collect()
    }
}

/// Per-day counts summed over the periods their days begin with (`YYYY-MM-DD` cut to `period`
/// characters), in key order so that concurrent writers take row locks in one order.
fn rolled_up(counts: &[(CountKey, i64)], period: usize) -> Vec<(CountKey, i64)> {
    let mut sums: std::collections::BTreeMap<(&str, &str, &Slice, &'static str), i64> =
        std::collections::BTreeMap::new();
    for (key, n) in counts {
        *sums
            .entry((&key.tenant, &key.day[..period], &key.slice, key.metric))
            .or_insert(0) += n;
    }
    sums.into_iter()
        .map(|((tenant, period, slice, metric), n)| {
            (
                CountKey {
                    tenant: tenant.to_owned(),
                    day: period.to_owned(),
                    slice: slice.clone(),
                    metric,
                },
                n,
            )
        })
        .collect()
}

fn number_key(recorded: &Recorded, policies: &Policies) -> Result<NumberKey, String> {
    let body = &recorded.commit.body;
    let kind: CaseKind = body
        .case_kind
        .parse()
        .map_err(|e: docket_domain::InvalidInput| e.message)?;
    Ok(NumberKey {
        tenant: body.tenant.clone(),
        kind: kind.as_str(),
        year: i64::from(
            crate::policy_of(policies, &body.tenant)
                .local_day(body.recorded_at)
                .year(),
        ),
    })
}

/// The next number of the counter the filing `recorded` draws on (its tenant, kind and filing
/// year), counting on from `numbers`; an error for a filing of no known kind, which draws none.
pub(crate) fn draw_number(
    recorded: &Recorded,
    policies: &Policies,
    numbers: &mut std::collections::HashMap<NumberKey, i64>,
) -> Result<String, String> {
    let key = number_key(recorded, policies)?;
    let kind: CaseKind = key.kind.parse().expect("a number key's kind is a kind");
    let year = key.year as i16;
    let last = numbers.entry(key).or_insert(0);
    *last += 1;
    Ok(docket_domain::CaseNumber::new(kind, year, *last as u32).to_string())
}

/// The numbers the filings of `batch` draw, counting on from `numbers` (the counters as the
/// commits before the batch left them): those its plan gives them, worked out from the log
/// alone, so that the filings can be answered before the batch is planned.
pub(crate) fn numbers_ahead(
    batch: &[Recorded],
    policies: &Policies,
    numbers: &mut std::collections::HashMap<NumberKey, i64>,
) -> Vec<Numbered> {
    batch
        .iter()
        .filter(|r| r.commit.body.version == 1 && !crate::directory::is_directory(r))
        .filter_map(|r| {
            let number = draw_number(r, policies, numbers).ok()?;
            Some(Numbered {
                tenant: r.commit.body.tenant.clone(),
                case_id: r.commit.body.case_id.to_string(),
                number,
            })
        })
        .collect()
}

/// The number counters the filings of a batch draw on (a filing of no known kind draws on
/// none: it is quarantined).
pub(crate) fn number_keys(batch: &[Recorded], policies: &Policies) -> Vec<NumberKey> {
    let mut keys = Vec::new();
    for recorded in batch.iter().filter(|r| r.commit.body.version == 1) {
        if let Ok(key) = number_key(recorded, policies)
            && !keys.contains(&key)
        {
            keys.push(key);
        }
    }
    keys
}

/// A commit the projector could not apply, or one that follows such a commit in its case (or
/// directory): kept aside with why, while the rest of the log projects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuarantinedCommit {
    pub position: i64,
    pub tenant: String,
    /// The case's id, or a directory's stream id.
    pub case_id: String,
    pub version: i64,
    pub reason: String,
    /// The number a quarantined filing drew, which its case keeps once repaired.
    pub number: Option<String>,
}

impl QuarantinedCommit {
    pub(crate) fn of(recorded: &Recorded, reason: String, number: Option<String>) -> Self {
        let body = &recorded.commit.body;
        tracing::error!(
            position = recorded.position,
            tenant = %body.tenant,
            case_id = %body.case_id,
            version = body.version,
            %reason,
            "commit quarantined: it cannot be projected; its case refuses commands until `docket repair`"
        );
        QuarantinedCommit {
            position: recorded.position as i64,
            tenant: body.tenant.clone(),
            case_id: body.case_id.to_string(),
            version: body.version as i64,
            reason,
            number,
        }
    }

    /// Why a commit after a quarantined one of its stream is quarantined too (in words that
    /// name no log position, which counts other tenants' commits).
    pub(crate) fn following(recorded: &Recorded) -> Self {
        Self::of(
            recorded,
            "follows a quarantined commit of the same case".to_owned(),
            None,
        )
    }
}

/// What the quarantine holds already for the streams (cases, directories) a batch continues:
/// each one's first quarantined position, and the numbers quarantined filings drew.
#[derive(Debug, Default, Clone)]
pub(crate) struct Held {
    pub(crate) first: std::collections::HashMap<String, i64>,
    /// Set only when repairing: the numbers of the filings being applied again.
    pub(crate) numbers: std::collections::HashMap<String, String>,
}

fn reason_of(e: ProjectionError) -> String {
    match e {
        ProjectionError::Unprojectable { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// Works out a batch in log order: each case's final row, every history entry, link and
/// counter increment, and the numbers its filings take (counting on from `numbers`). A commit
/// that cannot be applied is quarantined with every later commit of its case; the other cases
/// go on. Each commit's rows are added only once it is worked out whole.
pub(crate) fn plan_batch(
    batch: &[Recorded],
    stored: Vec<StoredCase>,
    mut numbers: std::collections::HashMap<NumberKey, i64>,
    held: &Held,
    policies: &Policies,
) -> BatchPlan {
    use std::collections::HashMap;

    struct Working {
        state: Option<CaseState>,
        /// Why the stored state cannot be read, if it cannot.
        unreadable: Option<String>,
        version: i64,
        number: String,
        filed_at: i64,
        filed_by: String,
        closed_at: Option<i64>,
        row: Option<CaseRow>,
    }
    let mut cases: HashMap<String, Working> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut quarantined = held.first.clone();
    for s in stored {
        let (state, unreadable) = match serde_json::from_str(&s.state) {
            Ok(state) => (Some(state), None),
            Err(e) => (
                None,
                Some(format!("the stored state of case {}: {e}", s.case_id)),
            ),
        };
        cases.insert(
            s.case_id,
            Working {
                state,
                unreadable,
                version: s.version,
                number: s.number,
                filed_at: s.filed_at,
                filed_by: s.filed_by,
                closed_at: s.closed_at,
                row: None,
            },
        );
    }
    let mut plan = BatchPlan::default();
    let mut counts: HashMap<CountKey, i64> = HashMap::new();
    let mut count_order: Vec<CountKey> = Vec::new();
    let mut case_events: HashMap<CaseEventKey, i64> = HashMap::new();
    let mut case_event_order: Vec<CaseEventKey> = Vec::new();
    for recorded in batch {
        let body = &recorded.commit.body;
        let case_id = body.case_id.to_string();
        let version = body.version as i64;
        if quarantined.contains_key(&case_id) {
            plan.quarantined
                .push(QuarantinedCommit::following(recorded));
            continue;
        }
        let mut drawn = None;
        let mut filed_here = false;
        let worked: Result<(Projected, CaseState), String> = 'commit: {
            if version == 1 {
                if cases.contains_key(&case_id) {
                    break 'commit Err(format!("case {case_id} is filed twice"));
                }
                let number = match held.numbers.get(&case_id) {
                    Some(number) => number.clone(),
                    None => match draw_number(recorded, policies, &mut numbers) {
                        Ok(number) => number,
                        Err(reason) => break 'commit Err(reason),
                    },
                };
                drawn = Some(number.clone());
                filed_here = true;
                cases.insert(
                    case_id.clone(),
                    Working {
                        state: None,
                        unreadable: None,
                        version: 0,
                        number,
                        filed_at: micros(body.recorded_at),
                        filed_by: body.actor.id.clone(),
                        closed_at: None,
                        row: None,
                    },
                );
            }
            let Some(working) = cases.get_mut(&case_id) else {
                break 'commit Err(format!(
                    "case {case_id} version {version} before its filing"
                ));
            };
            if working.version != version - 1 {
                break 'commit Err(format!(
                    "case {case_id} version {version} does not follow the projected version {}",
                    working.version
                ));
            }
            if let Some(reason) = &working.unreadable {
                break 'commit Err(reason.clone());
            }
            project(recorded, working.state.take(), policies).map_err(reason_of)
        };
        let (projected, state) = match worked {
            Ok(worked) => worked,
            Err(reason) => {
                // The case's rows stay as its last applied commit left them (within this batch
                // too); a filing that failed leaves no case behind, only its number.
                if filed_here {
                    cases.remove(&case_id);
                }
                quarantined.insert(case_id.clone(), recorded.position as i64);
                plan.quarantined
                    .push(QuarantinedCommit::of(recorded, reason, drawn));
                continue;
            }
        };
        let working = cases
            .get_mut(&case_id)
            .expect("a case worked out is in the batch's cases");
        working.state = Some(state);
        working.version = version;
        working.closed_at = match (projected.row.is_closed, working.closed_at) {
            (true, Some(at)) => Some(at),
            (true, None) => Some(projected.row.updated_at),
            (false, _) => None,
        };
        if working.row.is_none() {
            order.push(case_id.clone());
        }
        plan.history.push(HistoryRow {
            case_id: case_id.clone(),
            version,
            tenant: body.tenant.clone(),
            position: recorded.position as i64,
            commit_id: body.commit_id.to_string(),
            actor_id: body.actor.id.clone(),
            actor_role: body.actor.role.clone(),
            actor_unit: body.actor.unit.clone(),
            command: body.command.name.clone(),
            recorded_at: body.recorded_at.to_string(),
            events: projected.events_json.clone(),
            prev_hash: recorded.commit.prev_hash.as_str().to_owned(),
            hash: recorded.commit.hash.as_str().to_owned(),
        });
        for (from, to, relation) in &projected.links {
            plan.links.push(LinkRow {
                tenant: body.tenant.clone(),
                from: from.clone(),
                to: to.clone(),
                relation,
                position: recorded.position as i64,
            });
        }
        for (person, part) in &projected.persons {
            plan.persons.push(PersonRow {
                tenant: body.tenant.clone(),
                person: person.clone(),
                case_id: case_id.clone(),
                kind: projected.row.kind.as_str(),
                part,
                filed_at: working.filed_at,
                position: recorded.position as i64,
            });
        }
        for count in &projected.counts {
            let key = CountKey {
                tenant: body.tenant.clone(),
                day: count.day.clone(),
                slice: count.slice.clone(),
                metric: count.metric,
            };
            let case_event = (case_id.clone(), key.clone());
            let n = case_events.entry(case_event.clone()).or_insert(0);
            if *n == 0 {
                case_event_order.push(case_event);
            }
            *n += 1;
            let n = counts.entry(key.clone()).or_insert(0);
            if *n == 0 {
                count_order.push(key);
            }
            *n += 1;
        }
        working.row = Some(projected.row);
    }
    for case_id in order {
        let w = cases
            .remove(&case_id)
            .expect("every case in the order is worked");
        plan.cases.push(PlannedCase {
            row: w.row.expect("a case in the order has a row"),
            number: w.number,
            filed_at: w.filed_at,
            filed_by: w.filed_by,
            closed_at: w.closed_at,
        });
    }
    plan.counts = count_order
        .into_iter()
        .map(|key| {
            let n = counts[&key];
            (key, n)
        })
        .collect();
    plan.monthly_counts = rolled_up(&plan.counts, "YYYY-MM".len());
    plan.yearly_counts = rolled_up(&plan.counts, "YYYY".len());
    plan.case_events = case_event_order
        .into_iter()
        .map(|key| {
            let n = case_events[&key];
            (key, n)
        })
        .collect();
    let mut touched: Vec<(NumberKey, i64)> = numbers.into_iter().collect();
    touched
        .sort_by(|a, b| (&a.0.tenant, a.0.kind, a.0.year).cmp(&(&b.0.tenant, b.0.kind, b.0.year)));
    plan.numbers = touched;
    plan
}
