//! What one commit changes in the read model, worked out without a database: the case row, its
//! units, links, history entry and counters. The dialect modules only write these.

use docket_domain::common::{CommonEvent, Outcome, Satisfaction};
use docket_domain::dispute::{DisputeEvent, JudicialConfirmation};
use docket_domain::hazard::HazardEvent;
use docket_domain::petition::PetitionEvent;
use docket_domain::{CaseEvent, CaseKind, CaseState};
use docket_eventlog::Recorded;
use jiff::Timestamp;
use jiff::tz::{self, TimeZone};

use crate::ProjectionError;

/// Microseconds since the epoch: how the read model stores instants, so ranges compare as numbers.
pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn from_micros(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(Timestamp::MAX)
}

/// Tenant-local time for numbering years and counting days (China Standard Time).
fn local() -> TimeZone {
    TimeZone::fixed(tz::offset(8))
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
    pub(crate) updated_at: i64,
    pub(crate) outcome: Option<&'static str>,
    pub(crate) closed_on_time: Option<bool>,
    pub(crate) state: String,
    /// (unit, part): the lead and the assisting units.
    pub(crate) units: Vec<(String, &'static str)>,
}

/// A filing: the first commit of a case, which takes a number.
#[derive(Debug)]
pub(crate) struct Filing {
    pub(crate) year: i64,
    pub(crate) filed_at: i64,
    pub(crate) filed_by: String,
}

/// One increment of a per-day counter.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Count {
    pub(crate) day: String,
    pub(crate) metric: &'static str,
}

/// Everything one commit changes.
#[derive(Debug)]
pub(crate) struct Projected {
    pub(crate) row: CaseRow,
    pub(crate) filing: Option<Filing>,
    /// (from, to, relation), both directions.
    pub(crate) links: Vec<(String, String, &'static str)>,
    pub(crate) counts: Vec<Count>,
    /// The slice the counts are for: kind, community, grid, category, unit, severity.
    pub(crate) slice: [String; 6],
    pub(crate) events_json: String,
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
) -> Result<(Projected, CaseState), ProjectionError> {
    let position = recorded.position;
    let body = &recorded.commit.body;
    let unprojectable = |reason: String| ProjectionError::Unprojectable { position, reason };
    let case_id = body.case_id.to_string();
    let day = body
        .recorded_at
        .to_zoned_datetime(local())
        .date()
        .to_string();
    let mut state = before;
    let mut links = Vec::new();
    let mut counts = Vec::new();
    let mut count = |metric| {
        counts.push(Count {
            day: day.clone(),
            metric,
        })
    };
    if body.version == 1 {
        count("opened");
    }
    for record in &body.events {
        let event = CaseEvent::from_record(&record.event_type, record.schema_version, &record.data)
            .map_err(|e| unprojectable(e.to_string()))?;
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
            CaseEvent::Common(CommonEvent::ExtensionApproved { .. }) => count("extensions"),
            CaseEvent::Common(CommonEvent::SupervisionNoticed { .. }) => count("supervisions"),
            CaseEvent::Common(CommonEvent::DeadlineMissed { .. }) => count("deadlines_missed"),
            CaseEvent::Common(CommonEvent::Reopened { .. }) => count("reopened"),
            CaseEvent::Common(CommonEvent::ReturnVisited { satisfaction, .. }) => {
                count("return_visits");
                if *satisfaction != Satisfaction::Dissatisfied {
                    count("satisfied");
                }
            }
            CaseEvent::Petition(PetitionEvent::ReviewRequested { .. }) => count("reviews"),
            CaseEvent::Petition(PetitionEvent::ReReviewRequested { .. }) => count("re_reviews"),
            CaseEvent::Dispute(DisputeEvent::JudicialConfirmationRecorded {
                status: JudicialConfirmation::Applied,
                ..
            }) => count("judicial_confirmations"),
            CaseEvent::Hazard(HazardEvent::FixedOnSpot { .. })
            | CaseEvent::Hazard(HazardEvent::RectificationReported { .. }) => count("rectified"),
            _ => {}
        }
        state = Some(CaseState::evolve(state, &event).map_err(|e| unprojectable(e.to_string()))?);
    }
    let state = state.ok_or_else(|| unprojectable("a commit without events".to_owned()))?;
    let kind: CaseKind = body
        .case_kind
        .parse()
        .map_err(|e: docket_domain::InvalidInput| unprojectable(e.message))?;
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
        description: state.description().to_owned(),
        category: state.category(),
        severity: state.severity(),
        lead_unit: h.lead_unit.as_ref().map(ToString::to_string),
        assignee: h.assignee.clone(),
        version: body.version as i64,
        position: position as i64,
        deadline: state.deadline().map(micros),
        updated_at: micros(body.recorded_at),
        outcome: h.closure.map(|c| outcome_name(c.outcome)),
        closed_on_time: h.closure.map(|c| c.on_time),
        state: serde_json::to_string(&state).expect("case state serializes"),
        units,
    };
    let filing = (body.version == 1).then(|| Filing {
        year: i64::from(body.recorded_at.to_zoned_datetime(local()).year()),
        filed_at: micros(body.recorded_at),
        filed_by: body.actor.id.clone(),
    });
    let slice = [
        kind.as_str().to_owned(),
        row.community.clone(),
        row.grid.clone().unwrap_or_default(),
        row.category.clone(),
        row.lead_unit.clone().unwrap_or_default(),
        row.severity.unwrap_or_default().to_owned(),
    ];
    let events_json = serde_json::to_string(&body.events).expect("events serialize");
    Ok((
        Projected {
            row,
            filing,
            links,
            counts,
            slice,
            events_json,
        },
        state,
    ))
}
