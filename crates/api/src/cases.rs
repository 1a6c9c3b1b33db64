//! `/v1/cases`: file, act, read, list, history.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_commands::{CommandRequest, Outcome, Read, names_earlier_cases, shows_repeats};
use docket_domain::{CaseCommand, CaseId, CaseKind};
use docket_projections::CaseFilter;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::directory::Names;
use crate::extract::{Caller, IdempotencyKey, IfMatch, JsonBody, Params, etag};
use crate::{ApiError, AppState};

/// How long a read waits for the read model to reach a position before answering 503.
const READ_YOUR_WRITES_WAIT: Duration = Duration::from_secs(5);
/// How long a filing or a detail waits for the projection to hand out the case number.
const NUMBER_WAIT: Duration = Duration::from_secs(2);
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

fn parse_case_id(raw: &str) -> Result<CaseId, ApiError> {
    raw.parse()
        .map_err(|e: docket_domain::InvalidId| ApiError::BadRequest {
            code: "invalid-case-id",
            detail: e.to_string(),
        })
}

/// Shows the people and the free texts sealed in `value` as the actor may see them in this case
/// through `read`, and records each person shown in clear (who, whose, when, through which read).
pub(crate) async fn show_people(
    state: &AppState,
    actor: &docket_commands::Actor,
    case: &docket_domain::CaseState,
    case_id: CaseId,
    read: Read,
    value: &mut Value,
) -> Result<(), ApiError> {
    let Some(vault) = state.commands.vault() else {
        return Ok(());
    };
    let disclosure = actor.disclosure(case, read);
    let tenant = actor.tenant.as_str();
    let shown = vault
        .render(tenant, value, disclosure)
        .await
        .map_err(ApiError::from)?;
    vault
        .render_texts(
            tenant,
            case_id.as_uuid(),
            value,
            actor.text_disclosure(case, read),
        )
        .await
        .map_err(ApiError::from)?;
    record_views(state, actor, shown, Some(case_id), read.name()).await
}

/// The linked cases `actor` reaches, and how many others there are: counted, not shown. Reach is
/// judged on the cases as the read model holds them, in one query.
async fn in_reach<T>(
    state: &AppState,
    actor: &docket_commands::Actor,
    linked: Vec<T>,
    case_of: impl Fn(&T) -> Uuid,
) -> Result<(Vec<T>, usize), ApiError> {
    let reach = actor.reach();
    if reach == docket_domain::Reach::Tenant {
        return Ok((linked, 0));
    }
    let ids: Vec<Uuid> = linked.iter().map(&case_of).collect();
    let states = state.read.case_states(actor.tenant.as_str(), &ids).await?;
    let (shown, outside): (Vec<T>, Vec<T>) = linked
        .into_iter()
        .partition(|item| states.get(&case_of(item)).is_some_and(|s| reach.covers(s)));
    Ok((shown, outside.len()))
}

/// Records that `actor` saw these people's details in clear, through `via`.
pub(crate) async fn record_views(
    state: &AppState,
    actor: &docket_commands::Actor,
    shown: Vec<docket_domain::person::PersonId>,
    case_id: Option<CaseId>,
    via: &str,
) -> Result<(), ApiError> {
    let Some(vault) = state.commands.vault() else {
        return Ok(());
    };
    let now = state.commands.clock().now();
    let views: Vec<docket_privacy::View> = shown
        .into_iter()
        .map(|person| docket_privacy::View {
            tenant: actor.tenant.to_string(),
            person,
            case_id: case_id.map(|c| c.as_uuid()),
            viewer: actor.id.clone(),
            role: actor.role.to_string(),
            via: via.to_owned(),
            viewed_at: now,
        })
        .collect();
    vault.record_views(&views).await.map_err(ApiError::from)
}

fn outcome_body(o: &Outcome) -> Value {
    json!({
        "case_id": o.case_id,
        "kind": o.kind,
        "commit_id": o.commit_id,
        "version": o.version,
        "position": o.position,
        "recorded_at": o.recorded_at,
        "status": o.state.status(),
        "events": o.events,
    })
}

fn outcome_response(status: StatusCode, o: &Outcome, body: Value) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag(o.version)).expect("ascii"),
    );
    if status == StatusCode::CREATED {
        let location = format!("/v1/cases/{}", o.case_id);
        headers.insert(
            header::LOCATION,
            HeaderValue::from_str(&location).expect("ascii"),
        );
    }
    if o.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    (status, headers, Json(body)).into_response()
}

/// The number the projection gave a case just filed, waited for at most `wait`; none if the read
/// model is slower, or cannot be asked (the filing stands whatever the read model's state).
pub(crate) async fn filed_number(
    state: &AppState,
    actor: &docket_commands::Actor,
    outcome: &Outcome,
    wait: std::time::Duration,
) -> Option<String> {
    state
        .read
        .filed_case_number(
            actor.tenant.as_str(),
            outcome.case_id.as_uuid(),
            outcome.position,
            wait,
        )
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, case_id = %outcome.case_id, "case number not known yet");
            None
        })
}

/// `POST /v1/cases`: file a new case of the kind named in the body.
#[utoipa::path(
    post, path = "/v1/cases", tag = "cases",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body answer the first answer again (with `Idempotent-Replayed: true`); the same key with another body answers 422. 1 to 255 visible ASCII characters.")),
    responses(
        (status = 201, description = "Filed: the case and its first commit.", body = crate::openapi::CommandAnswer,
            headers(("ETag" = String, description = "The case version, quoted: send it back as `If-Match`."), ("Location" = String, description = "The case's URL."), ("Idempotent-Replayed" = String, description = "`true` when this is the answer to an earlier request with the same Idempotency-Key."))),
        (status = 400, description = "A malformed body or header."),
        (status = 409, description = "The directory is quarantined."),
        (status = 413, description = "The body is over 1 MiB."),
        (status = 415, description = "The body is not JSON."),
        (status = 422, description = "The body does not make a valid filing, or the Idempotency-Key was used for another request."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn file(
    State(state): State<AppState>,
    Caller(actor): Caller,
    IdempotencyKey(key): IdempotencyKey,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    if body.is_null() {
        return Err(ApiError::InvalidInput(docket_domain::InvalidInput {
            field: None,
            message: "a filing needs a JSON body naming its kind".to_owned(),
        }));
    }
    let command = CaseCommand::parse_filing(body).map_err(ApiError::InvalidInput)?;
    let request = CommandRequest {
        case_id: None,
        command,
        idempotency_key: key,
        expected_version: None,
    };
    let outcome = state.commands.handle(&actor, request).await?;
    // The case number is handed out in log order by the projection: wait briefly for it, so the
    // filer can write it down. A slow read model leaves it null; the case's GET shows it later.
    // The filing is recorded whatever the read model's state: if it cannot be asked, the
    // answer is still 201, without the number.
    let number = filed_number(&state, &actor, &outcome, NUMBER_WAIT).await;
    let mut body = outcome_body(&outcome);
    body["number"] = json!(number);
    show_people(
        &state,
        &actor,
        &outcome.state,
        outcome.case_id,
        Read::Filing,
        &mut body,
    )
    .await?;
    Ok(outcome_response(StatusCode::CREATED, &outcome, body))
}

/// `POST /v1/cases/{id}/actions/{action}`: one action of the case's table.
#[utoipa::path(
    post, path = "/v1/cases/{id}/actions/{action}", tag = "cases",
    params(("id" = docket_domain::CaseId, Path, description = "The case id."), ("action" = String, Path, description = "The action, as the case's table names it."), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body answer the first answer again (with `Idempotent-Replayed: true`); the same key with another body answers 422. 1 to 255 visible ASCII characters."), ("If-Match" = Option<String>, Header, description = "The case's ETag as the client saw it (`\"3\"`): the action is refused with 412 if the case has moved on.")),
    responses(
        (status = 200, description = "Recorded: the commit and the case's new state.", body = crate::openapi::CommandAnswer,
            headers(("ETag" = String, description = "The case version, quoted: send it back as `If-Match`."), ("Idempotent-Replayed" = String, description = "`true` when this is the answer to an earlier request with the same Idempotency-Key."))),
        (status = 400, description = "A malformed id, body or header."),
        (status = 404, description = "No such case within reach, or no kind has the action."),
        (status = 409, description = "The case's state does not allow the action (`allowed_actions` says what does), or the case is quarantined."),
        (status = 412, description = "`If-Match` names a version the case is not at."),
        (status = 413, description = "The body is over 1 MiB."),
        (status = 415, description = "The body is not JSON."),
        (status = 422, description = "The body does not make a valid input for the action."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn act(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path((id, action)): Path<(String, String)>,
    IdempotencyKey(key): IdempotencyKey,
    IfMatch(expected_version): IfMatch,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let case_id = parse_case_id(&id)?;
    if !CaseKind::is_known_action(&action) {
        return Err(ApiError::UnknownAction { action });
    }
    let kind = state.commands.case_kind(&actor.tenant, case_id).await?;
    let command = match CaseCommand::parse_action(kind, &action, body) {
        Ok(command) => command,
        Err(invalid) => {
            // A case outside reach is not found, whatever the body.
            state.commands.load_in_reach(&actor, case_id).await?;
            return Err(ApiError::InvalidInput(invalid));
        }
    };
    let request = CommandRequest {
        case_id: Some(case_id),
        command,
        idempotency_key: key,
        expected_version,
    };
    let outcome = state.commands.handle(&actor, request).await?;
    let mut body = outcome_body(&outcome);
    show_people(
        &state,
        &actor,
        &outcome.state,
        outcome.case_id,
        Read::Action,
        &mut body,
    )
    .await?;
    Ok(outcome_response(StatusCode::OK, &outcome, body))
}

/// `GET /v1/cases/{id}`: the case as of its last commit, with the caller's allowed actions.
#[utoipa::path(
    get, path = "/v1/cases/{id}", tag = "cases",
    params(("id" = docket_domain::CaseId, Path, description = "The case id.")),
    responses(
        (status = 200, description = "The case.", body = crate::openapi::CaseDetail, headers(("ETag" = String, description = "The case version, quoted: send it back as `If-Match`."))),
        (status = 400, description = "A malformed id."),
        (status = 404, description = "No such case within reach."),
        (status = 409, description = "The case is quarantined and cannot be read."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn detail(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let case_id = parse_case_id(&id)?;
    let case = state.commands.load_in_reach(&actor, case_id).await?;
    let (Some(current), Some(first), Some(last)) =
        (&case.state, case.commits.first(), case.commits.last())
    else {
        return Err(ApiError::CaseNotFound);
    };
    // The number is the projection's; wait briefly for it to reach the filing. Links recorded
    // by other cases come from the read model too.
    state.read.wait_until(last.position, NUMBER_WAIT).await;
    let number = state
        .read
        .case_number(actor.tenant.as_str(), case_id.as_uuid())
        .await?;
    let links = state
        .read
        .links(actor.tenant.as_str(), case_id.as_uuid())
        .await?;
    let (links, links_outside_reach) = in_reach(&state, &actor, links, |l| l.case).await?;
    // Which earlier petitions a person made is the person's: shown only to those who see the
    // case's people in clear, and not at all where they are withheld.
    let disclosure = actor.disclosure(current, Read::Case);
    let mut repeat_of = state
        .read
        .repeat_of(actor.tenant.as_str(), case_id.as_uuid())
        .await?;
    let repeat = shows_repeats(disclosure).then_some(!repeat_of.is_empty());
    if !shows_repeats(disclosure) {
        repeat_of.clear();
    } else if !names_earlier_cases(disclosure) {
        repeat_of.retain(|r| r.by != "person");
    }
    let (repeat_of, repeat_of_outside_reach) =
        in_reach(&state, &actor, repeat_of, |r| r.case).await?;
    let now = state.commands.clock().now();
    let handling = &current.handling;
    let names = Names::of(&state, actor.tenant.as_str()).await?;
    let co_handlers: Vec<&str> = handling.co_handlers.iter().map(|u| u.as_str()).collect();
    let closed_at = current
        .is_closed()
        .then(|| last_closure_time(&case.commits))
        .flatten();
    let mut body = json!({
        "id": case_id,
        "number": number,
        "kind": current.kind(),
        "status": current.status(),
        "closed": current.is_closed(),
        "outcome": current.outcome(),
        "version": case.version(),
        "position": last.position,
        "deadline": {
            "step": current.current_step(),
            "due": current.deadline(),
            "overdue": current.is_overdue(now),
            "missed": handling.missed_deadlines,
            "extensions": handling.extensions,
            "pending_extension": handling.pending_extension,
        },
        "closed_on_time": current.closed_on_time(),
        "filed_at": first.commit.body.recorded_at,
        "updated_at": last.commit.body.recorded_at,
        "closed_at": closed_at,
        "lead_unit": handling.lead_unit,
        "assignee": handling.assignee,
        "co_handlers": handling.co_handlers,
        "supervision": handling.supervisions,
        "links": links,
        "links_outside_reach": links_outside_reach,
        "repeat": repeat,
        "repeat_of": repeat_of,
        "repeat_of_outside_reach": repeat_of_outside_reach,
        "return_visits": handling.return_visits,
        "allowed_actions": current.allowed_actions(actor.role, actor.unit.as_ref(), now),
        "names": names.of_case(
            current.kind().as_str(),
            current.community().as_str(),
            current.grid().map(|g| g.as_str()),
            handling.lead_unit.as_ref().map(|u| u.as_str()),
            Some(&co_handlers),
            &current.category(),
        ),
        "case": current,
    });
    show_people(&state, &actor, current, case_id, Read::Case, &mut body).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag(case.version())).expect("ascii"),
    );
    Ok((headers, Json(body)).into_response())
}

/// A due-soon worklist shows open cases due within this long.
const DUE_SOON: jiff::SignedDuration = jiff::SignedDuration::from_hours(72);

/// Which end of a range a list parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// `*_from`: a day from its start, or an instant.
    From,
    /// `*_to`: a day to its end (inclusive), or up to an instant.
    To,
    /// `*_before`: before a day's start, or before an instant.
    Before,
}

/// A list's range bound as the instant the read model compares with: `*_from` at or after it,
/// `*_to` and `*_before` before it. An RFC 3339 time (`2025-10-01T00:00:00+08:00`) is that
/// instant; a day (`2025-10-01`) is a day of the tenant's time zone (its policy's), and a `*_to`
/// day counts whole.
fn parse_bound(
    value: &str,
    bound: Bound,
    policy: &docket_domain::deadlines::DeadlinePolicy,
) -> Result<jiff::Timestamp, String> {
    if let Ok(t) = value.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let day: jiff::civil::Date = value.parse().map_err(|_| {
        format!(
            "{:?} is neither an RFC 3339 time nor a date (YYYY-MM-DD)",
            docket_domain::shown(value)
        )
    })?;
    Ok(if bound == Bound::To {
        policy.end_of_day(day)
    } else {
        policy.start_of_day(day)
    })
}

/// When the case last reached an end state: the commit that recorded its closure.
fn last_closure_time(
    commits: &[std::sync::Arc<docket_eventlog::Recorded>],
) -> Option<jiff::Timestamp> {
    commits
        .iter()
        .rev()
        .find(|r| {
            r.commit
                .body
                .events
                .iter()
                .any(|e| e.event_type == "case.closed")
        })
        .map(|r| r.commit.body.recorded_at)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    #[param(value_type = Option<docket_domain::CaseKind>)]
    kind: Option<String>,
    status: Option<String>,
    community: Option<String>,
    grid: Option<String>,
    category: Option<String>,
    severity: Option<String>,
    unit: Option<String>,
    lead_unit: Option<String>,
    assignee: Option<String>,
    closed: Option<bool>,
    overdue: Option<bool>,
    /// Only repeat petitions (`true`), or no repeats (`false`).
    repeat: Option<bool>,
    /// Only livelihood requests that went to two or more units (`true`), or none (`false`).
    coordinated: Option<bool>,
    /// Only backlog petitions (积案), or none.
    backlog: Option<bool>,
    /// Only cases that missed a deadline, or none.
    missed: Option<bool>,
    /// How a petition or livelihood request came in.
    channel: Option<String>,
    /// Only collective visits (集体访), or none.
    collective: Option<bool>,
    /// Only key persons' petitions (重点人员), or none.
    key_person: Option<bool>,
    /// Only petitions at risk of escalation (越级, 赴京), or none.
    escalation_risk: Option<bool>,
    closed_from: Option<String>,
    closed_to: Option<String>,
    /// Livelihood requests replied to in a range.
    replied_from: Option<String>,
    replied_to: Option<String>,
    closed_on_time: Option<bool>,
    outcome: Option<String>,
    /// Cases in which a counted event (a figure's metric) happened between `event_from` and
    /// `event_to` (local days, inclusive).
    event: Option<String>,
    event_from: Option<String>,
    event_to: Option<String>,
    due_before: Option<String>,
    filed_from: Option<String>,
    filed_to: Option<String>,
    q: Option<String>,
    /// A worklist: `mine`, `my-unit`, `due-soon` or `overdue`.
    /// `mine`, `my-unit`, `due-soon`, `overdue` or `missed-deadline`.
    worklist: Option<String>,
    /// At most this many (50 when not given).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    cursor: Option<String>,
    min_position: Option<u64>,
}

/// Read your own write: `min_position`, a command's `position`, makes the read wait (up to 5 s)
/// for the read model to reach it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AtPosition {
    pub(crate) min_position: Option<u64>,
}

pub(crate) async fn wait_for_position(
    state: &AppState,
    position: Option<u64>,
) -> Result<(), ApiError> {
    match position {
        Some(p) if !state.read.wait_until(p, READ_YOUR_WRITES_WAIT).await => {
            Err(ApiError::NotYet {
                code: "read-model-behind",
                detail: format!(
                    "the read model is at position {}, not yet at {p}; retry shortly",
                    state.read.projected()
                ),
            })
        }
        _ => Ok(()),
    }
}

/// `GET /v1/cases`: the caller's tenant's cases, newest first, filtered and paged.
#[utoipa::path(
    get, path = "/v1/cases", tag = "cases",
    params(ListParams),
    responses(
        (status = 200, description = "A page of the cases within reach that match, newest first.", body = crate::openapi::CaseList),
        (status = 400, description = "A bad query parameter."),
        (status = 422, description = "An unknown kind."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Params(p): Params<ListParams>,
) -> Result<Response, ApiError> {
    let kind = p
        .kind
        .as_deref()
        .map(str::parse::<CaseKind>)
        .transpose()
        .map_err(ApiError::InvalidInput)?;
    for (name, value) in [
        ("status", &p.status),
        ("community", &p.community),
        ("grid", &p.grid),
        ("category", &p.category),
        ("severity", &p.severity),
        ("channel", &p.channel),
        ("unit", &p.unit),
        ("lead_unit", &p.lead_unit),
        ("outcome", &p.outcome),
        ("event", &p.event),
    ] {
        if let Some(value) = value {
            crate::filters::check(name, value, kind)?;
        }
    }
    if let Some(q) = &p.q {
        crate::filters::check_text("q", q)?;
    }
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest {
            code: "invalid-query",
            detail: format!("limit must be between 1 and {MAX_PAGE}"),
        });
    }
    let cursor = p
        .cursor
        .as_deref()
        .map(Uuid::parse_str)
        .transpose()
        .map_err(|_| ApiError::BadRequest {
            code: "invalid-query",
            detail: "cursor must be the next_cursor of a previous page".to_owned(),
        })?;
    // Every `*_from` and `*_to` takes a tenant-local day (both ends inclusive) or an RFC 3339
    // instant (from it, up to but not including it).
    let bound = |name: &str,
                 value: &Option<String>,
                 end: Bound|
     -> Result<Option<jiff::Timestamp>, ApiError> {
        value
            .as_deref()
            .map(|v| parse_bound(v, end, state.read.policy(actor.tenant.as_str())))
            .transpose()
            .map_err(|detail| ApiError::BadRequest {
                code: "invalid-query",
                detail: format!("{name}: {detail}"),
            })
    };
    let (from, to, before) = (Bound::From, Bound::To, Bound::Before);
    let now = state.commands.clock().now();
    let mut filter = CaseFilter {
        kind: p.kind,
        status: p.status,
        community: p.community,
        grid: p.grid,
        category: p.category,
        severity: p.severity,
        unit: p.unit,
        lead_unit: p.lead_unit,
        assignee: p.assignee,
        closed: p.closed,
        repeat: p.repeat,
        coordinated: p.coordinated,
        backlog: p.backlog,
        missed: p.missed,
        closed_from: bound("closed_from", &p.closed_from, from)?,
        closed_to: bound("closed_to", &p.closed_to, to)?,
        replied_from: bound("replied_from", &p.replied_from, from)?,
        replied_to: bound("replied_to", &p.replied_to, to)?,
        closed_on_time: p.closed_on_time,
        outcome: p.outcome,
        event: match (p.event, p.event_from, p.event_to) {
            (None, None, None) => None,
            (Some(metric), Some(from), Some(to)) => {
                for (name, day) in [("event_from", &from), ("event_to", &to)] {
                    day.parse::<jiff::civil::Date>()
                        .map_err(|_| ApiError::BadRequest {
                            code: "invalid-query",
                            detail: format!("{name}: {day:?} is not a date (YYYY-MM-DD)"),
                        })?;
                }
                Some((metric, from, to))
            }
            _ => {
                return Err(ApiError::BadRequest {
                    code: "invalid-query",
                    detail: "event, event_from and event_to go together".to_owned(),
                });
            }
        },
        overdue_at: p.overdue.filter(|o| *o).map(|_| now),
        due_before: bound("due_before", &p.due_before, before)?,
        filed_from: bound("filed_from", &p.filed_from, from)?,
        filed_to: bound("filed_to", &p.filed_to, to)?,
        channel: p.channel,
        collective: p.collective,
        key_person: p.key_person,
        escalation_risk: p.escalation_risk,
        text: p.q.filter(|q| !q.trim().is_empty()),
        now: Some(now),
        reach: Some(actor.reach()),
        ..CaseFilter::default()
    };
    if let Some(q) = &filter.text
        && q.chars().count() > 100
    {
        return Err(ApiError::BadRequest {
            code: "invalid-query",
            detail: "q: at most 100 characters".to_owned(),
        });
    }
    match p.worklist.as_deref() {
        None => {}
        Some("mine") => filter.mine = Some(actor.id.clone()),
        Some("my-unit") => {
            let Some(unit) = &actor.unit else {
                return Err(ApiError::BadRequest {
                    code: "invalid-query",
                    detail: "worklist=my-unit: the token names no unit".to_owned(),
                });
            };
            filter.unit = Some(unit.to_string());
            filter.closed = Some(false);
        }
        Some("due-soon") => {
            filter.due_before = Some(now + DUE_SOON);
            filter.closed = Some(false);
        }
        Some("overdue") => filter.overdue_at = Some(now),
        Some("missed-deadline") => {
            filter.missed = Some(true);
            filter.closed = Some(false);
        }
        Some(other) => {
            return Err(ApiError::BadRequest {
                code: "invalid-query",
                detail: format!(
                    "worklist {:?}: worklists are mine, my-unit, due-soon, overdue and \
                     missed-deadline",
                    docket_domain::shown(other)
                ),
            });
        }
    }
    wait_for_position(&state, p.min_position).await?;
    let names = Names::of(&state, actor.tenant.as_str()).await?;
    // Whether a petition repeats an earlier one is its people's: shown as the case shows them,
    // and a case whose people the caller may not see is neither a repeat nor not one to them,
    // so the `repeat` filter leaves it out either way. Pages are filled from as many pages of
    // the model as that takes, and the cursor is always a case shown: a case left out is never
    // the point a page ends at.
    let mut items: Vec<Value> = Vec::new();
    let mut after = cursor;
    let next_cursor = loop {
        let page = state
            .read
            .list_cases(actor.tenant.as_str(), &filter, after, limit)
            .await?;
        let petitions: Vec<Uuid> = page
            .items
            .iter()
            .filter(|c| c.kind == CaseKind::Petition.as_str())
            .map(|c| c.id)
            .collect();
        let states = if petitions.is_empty() {
            std::collections::HashMap::new()
        } else {
            state
                .read
                .case_states(actor.tenant.as_str(), &petitions)
                .await?
        };
        let repeats_shown = |c: &docket_projections::CaseSummary| {
            c.kind != CaseKind::Petition.as_str()
                || states
                    .get(&c.id)
                    .is_some_and(|s| shows_repeats(actor.disclosure(s, Read::List)))
        };
        let mut last_shown = None;
        for c in &page.items {
            if items.len() == limit as usize {
                break;
            }
            let shown = repeats_shown(c);
            if filter.repeat.is_some() && !shown {
                continue;
            }
            let mut item = json!(c);
            if !shown {
                item["repeat"] = Value::Null;
            }
            item["names"] = names.of_case(
                &c.kind,
                &c.community,
                c.grid.as_deref(),
                c.lead_unit.as_deref(),
                None,
                &c.category,
            );
            items.push(item);
            last_shown = Some(c.id);
        }
        match page.next_cursor {
            // The model has more: a full page ends at its last case shown; a short one reads on.
            Some(end) if items.len() < limit as usize => after = Some(end),
            Some(_) => break last_shown.or(after),
            None => break None,
        }
    };
    Ok(Json(json!({
        "items": items,
        "next_cursor": next_cursor,
        "position": state.read.projected(),
    }))
    .into_response())
}

/// `GET /v1/cases/{id}/history`: the case's commits with actor, time, events and hashes, as of
/// the case's latest commit.
#[utoipa::path(
    get, path = "/v1/cases/{id}/history", tag = "cases",
    params(("id" = docket_domain::CaseId, Path, description = "The case id.")),
    responses(
        (status = 200, description = "The case's commits, oldest first.", body = crate::openapi::CaseHistory),
        (status = 400, description = "A malformed id."),
        (status = 404, description = "No such case within reach."),
        (status = 409, description = "The case is quarantined and cannot be read."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn history(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let case_id = parse_case_id(&id)?;
    let case = state.commands.load_in_reach(&actor, case_id).await?;
    let last = case.commits.last().ok_or(ApiError::CaseNotFound)?;
    wait_for_position(&state, Some(last.position)).await?;
    let entries = state
        .read
        .history(actor.tenant.as_str(), case_id.as_uuid())
        .await?;
    let mut body = json!({ "case_id": case_id, "commits": entries });
    if let Some(current) = &case.state {
        show_people(&state, &actor, current, case_id, Read::History, &mut body).await?;
    }
    Ok(Json(body).into_response())
}

/// `GET /v1/cases/{id}/commits`: the case's commits as the log holds them (sealed fields sealed),
/// so that a client can check the case's chain itself: the console's "verify this case".
#[utoipa::path(
    get, path = "/v1/cases/{id}/commits", tag = "cases",
    params(("id" = docket_domain::CaseId, Path, description = "The case id.")),
    responses(
        (status = 200, description = "The case's commits, oldest first, as hashed.", body = crate::openapi::CaseCommits),
        (status = 400, description = "A malformed id."),
        (status = 404, description = "No such case within reach."),
        (status = 409, description = "The case is quarantined and cannot be read."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn commits(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let case_id = parse_case_id(&id)?;
    let case = state.commands.load_in_reach(&actor, case_id).await?;
    let commits: Vec<Value> = case
        .commits
        .iter()
        .map(|r| json!({ "position": r.position, "commit": r.commit }))
        .collect();
    Ok(Json(json!({ "case_id": case_id, "commits": commits })).into_response())
}
