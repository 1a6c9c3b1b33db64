//! `GET /v1/stats`: the supervisors' figures (docs/figures.md) for a range of tenant-local days,
//! narrowed to a slice and grouped by one dimension, as JSON or (`Accept: text/csv`) CSV. Each
//! figure carries the list query (`/v1/cases?...`) that returns exactly its cases; a rate carries
//! its numerator's and denominator's.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use docket_domain::Reach;
use docket_projections::{Dimension, GroupCounts, NetworkGroup, StatsQuery};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::extract::{Caller, Params};
use crate::{ApiError, AppState};

/// A range may span at most this many days.
const MAX_DAYS: i32 = 3660;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsParams {
    from: Option<String>,
    to: Option<String>,
    by: Option<String>,
    kind: Option<String>,
    community: Option<String>,
    grid: Option<String>,
    category: Option<String>,
    unit: Option<String>,
    severity: Option<String>,
    channel: Option<String>,
    /// `csv` as an alternative to `Accept: text/csv`.
    format: Option<String>,
    /// Count only once the read model has reached this log position (a command's `position`).
    min_position: Option<u64>,
}

/// One figure of one group.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Figure {
    /// What it counts or measures (docs/figures.md).
    pub(crate) name: &'static str,
    /// A count is an integer; a rate, a median or a percentile a number; null when there is
    /// nothing to measure (a rate over none).
    #[schema(value_type = Option<f64>)]
    pub(crate) value: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) numerator: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) denominator: Option<i64>,
    /// The list of exactly the counted cases (a rate's numerator).
    pub(crate) cases: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) denominator_cases: Option<String>,
}

/// A measured figure's value: a number, null when there was nothing to measure.
fn measure(value: Option<f64>) -> Option<serde_json::Number> {
    value.and_then(serde_json::Number::from_f64)
}

fn bad(detail: String) -> ApiError {
    ApiError::BadRequest {
        code: "invalid-query",
        detail,
    }
}

fn day(name: &str, value: &Option<String>) -> Result<Date, ApiError> {
    let value = value.as_deref().ok_or_else(|| {
        bad(format!(
            "{name} is required: a tenant-local date, YYYY-MM-DD"
        ))
    })?;
    let date: Date = value.parse().map_err(|_| {
        bad(format!(
            "{name}: {:?} is not a date (YYYY-MM-DD)",
            docket_domain::shown(value)
        ))
    })?;
    // The range ends at the start of the day after `to`, which must exist.
    if !(1..=9998).contains(&date.year()) {
        return Err(bad(format!(
            "{name}: {value:?} is outside the years 1 to 9998"
        )));
    }
    Ok(date)
}

/// A list query: `/v1/cases?` and its parameters, each named once.
#[derive(Debug, Clone, Default)]
struct ListQuery(Vec<(&'static str, String)>);

impl ListQuery {
    fn with(&self, name: &'static str, value: impl Into<String>) -> Option<ListQuery> {
        let value = value.into();
        // Petitions and requests always have a channel: among the cases without one there
        // are none.
        let channelled = |kind: &str| {
            kind.parse::<docket_domain::CaseKind>()
                .is_ok_and(|k| !k.channels().is_empty())
        };
        let has = |n: &str, v: &dyn Fn(&str) -> bool| self.0.iter().any(|(k, x)| *k == n && v(x));
        if (name == "kind" && channelled(&value) && has("channel", &|c| c.is_empty()))
            || (name == "channel" && value.is_empty() && has("kind", &channelled))
        {
            return None;
        }
        match self.0.iter().find(|(n, _)| *n == name) {
            // Already narrowed to the same: the same list; to another: no such cases.
            Some((_, v)) if *v == value => Some(self.clone()),
            Some(_) => None,
            None => {
                let mut q = self.clone();
                q.0.push((name, value));
                Some(q)
            }
        }
    }

    /// Narrowed to one value of a dimension. A channel belongs to one kind (a letter is a
    /// petition's, the hotline a request's), so the list is of that kind too: another kind's
    /// figures then have no list, as in a slice of that kind.
    fn narrowed(&self, dimension: Dimension, value: &str) -> Option<ListQuery> {
        let q = self.with(list_param(dimension), value)?;
        match (dimension, channel_kind(value)) {
            (Dimension::Channel, Some(kind)) => q.with("kind", kind),
            _ => Some(q),
        }
    }

    fn url(&self) -> String {
        let query = serde_urlencoded::to_string(&self.0).expect("pairs of strings encode");
        format!("/v1/cases?{query}")
    }
}

/// Builds the figures of one group; `base` narrows lists to the group and slice.
fn figures(
    g: &GroupCounts,
    network: &NetworkGroup,
    lists: &Lists,
    from: Date,
    to: Date,
) -> Vec<Figure> {
    let base = &lists.cases;
    let next_day = to.tomorrow().unwrap_or(to).to_string();
    let opened_q = ListQuery(
        base.0
            .iter()
            .cloned()
            .chain([
                ("filed_from", from.to_string()),
                ("filed_to", to.to_string()),
            ])
            .collect(),
    );
    let closed_q = ListQuery(
        base.0
            .iter()
            .cloned()
            .chain([
                ("closed_from", from.to_string()),
                ("closed_to", to.to_string()),
            ])
            .collect(),
    );
    let event_q = |metric: &str| {
        base.with("event", metric)
            .and_then(|q| q.with("event_from", from.to_string()))
            .and_then(|q| q.with("event_to", to.to_string()))
    };
    let counter = |metric: &str| g.counters.get(metric).copied().unwrap_or(0);
    let count = |name, value: i64, cases: Option<ListQuery>| Figure {
        name,
        value: Some(value.into()),
        numerator: None,
        denominator: None,
        cases: cases.map(|q| q.url()),
        denominator_cases: None,
    };
    let rate =
        |name, num: i64, den: i64, num_q: Option<ListQuery>, den_q: Option<ListQuery>| Figure {
            name,
            value: measure((den > 0).then(|| num as f64 / den as f64)),
            numerator: Some(num),
            denominator: Some(den),
            cases: num_q.map(|q| q.url()),
            denominator_cases: den_q.map(|q| q.url()),
        };
    let days = |name, value: Option<f64>| Figure {
        name,
        value: measure(value),
        numerator: None,
        denominator: None,
        cases: Some(closed_q.url()),
        denominator_cases: None,
    };
    let petitions_q = opened_q.with("kind", "petition");
    let disputes_closed_q = closed_q.with("kind", "dispute");
    let mut out = vec![
        count("opened", g.opened, Some(opened_q.clone())),
        count("closed", g.closed, Some(closed_q.clone())),
        count(
            "still_open",
            g.opened - g.opened_closed,
            opened_q.with("closed", "false"),
        ),
        count(
            "overdue",
            g.opened_overdue,
            opened_q.with("overdue", "true"),
        ),
        count(
            "closed_on_time",
            g.closed_on_time,
            closed_q.with("closed_on_time", "true"),
        ),
        rate(
            "closure_rate",
            g.opened_closed,
            g.opened,
            opened_q.with("closed", "true"),
            Some(opened_q.clone()),
        ),
        rate(
            "resolution_rate",
            g.closed_resolved,
            g.closed,
            closed_q.with("outcome", "resolved"),
            Some(closed_q.clone()),
        ),
        rate(
            "on_time_rate",
            g.closed_on_time,
            g.closed,
            closed_q.with("closed_on_time", "true"),
            Some(closed_q.clone()),
        ),
        days("median_days_to_close", g.median_days_to_close),
        days("p90_days_to_close", g.p90_days_to_close),
        rate(
            "satisfaction_rate",
            counter("satisfied"),
            counter("return_visits"),
            event_q("satisfied"),
            event_q("return_visits"),
        ),
        rate(
            "repeat_rate",
            g.opened_repeats,
            g.opened_petitions,
            petitions_q.as_ref().and_then(|q| q.with("repeat", "true")),
            petitions_q.clone(),
        ),
        count(
            "hazards_found",
            g.opened_hazards,
            opened_q.with("kind", "hazard"),
        ),
        count(
            "hazards_struck_off",
            g.closed_hazards_resolved,
            closed_q
                .with("kind", "hazard")
                .and_then(|q| q.with("outcome", "resolved")),
        ),
        // Over the disputes mediated: accepted, and ended by agreement or failure.
        rate(
            "mediation_success_rate",
            g.closed_disputes_resolved,
            g.closed_disputes_mediated,
            disputes_closed_q
                .as_ref()
                .and_then(|q| q.with("outcome", "resolved")),
            disputes_closed_q
                .as_ref()
                .and_then(|q| q.with("status", "closed")),
        ),
        // The earlier reading, over every dispute closed (declined, withdrawn and duplicates
        // too).
        rate(
            "dispute_resolution_rate",
            g.closed_disputes_resolved,
            g.closed_disputes,
            disputes_closed_q
                .as_ref()
                .and_then(|q| q.with("outcome", "resolved")),
            disputes_closed_q.clone(),
        ),
        count(
            "closed_duplicates",
            g.closed_duplicates,
            closed_q.with("outcome", "duplicate"),
        ),
        // Petitions (信访) filed in the range; `by=channel` gives 来信, 来访, 网上, 来电.
        count(
            "petitions_received",
            g.opened_petitions,
            petitions_q.clone(),
        ),
        count(
            "collective_visits",
            g.collective_visits,
            petitions_q
                .as_ref()
                .and_then(|q| q.with("collective", "true")),
        ),
        count(
            "collective_visitors",
            g.collective_visitors,
            petitions_q
                .as_ref()
                .and_then(|q| q.with("collective", "true")),
        ),
        count(
            "key_person_petitions",
            g.key_person_petitions,
            petitions_q
                .as_ref()
                .and_then(|q| q.with("key_person", "true")),
        ),
        count(
            "escalation_risk_petitions",
            g.escalation_risk_petitions,
            petitions_q
                .as_ref()
                .and_then(|q| q.with("escalation_risk", "true")),
        ),
    ];
    // Risk events (涉稳): of those identified in the range, where they stand now.
    let risks_q = opened_q.with("kind", "risk_event");
    let risks_in = |status: &str| risks_q.as_ref().and_then(|q| q.with("status", status));
    let under_control = base
        .with("kind", "risk_event")
        .and_then(|q| q.with("status", "under-control"));
    out.extend([
        count("risks_found", g.opened_risks, risks_q.clone()),
        count(
            "risks_under_control",
            g.risks_under_control,
            risks_in("under-control"),
        ),
        // Reviews of the risks under control now, whenever they were identified.
        count(
            "risk_reviews_due",
            g.risk_reviews_due,
            under_control
                .as_ref()
                .and_then(|q| q.with("due_before", next_day.clone())),
        ),
        count(
            "risk_reviews_overdue",
            g.risk_reviews_overdue,
            under_control
                .as_ref()
                .and_then(|q| q.with("overdue", "true")),
        ),
        count(
            "risks_struck_off",
            g.risks_struck_off,
            risks_in("struck-off"),
        ),
        count("risks_escalated", g.risks_escalated, risks_in("escalated")),
        rate(
            "strike_off_rate",
            g.risks_struck_off,
            g.opened_risks,
            risks_in("struck-off"),
            risks_q.clone(),
        ),
    ]);
    // Livelihood requests (民呼我为) and the network's units (一呼百应).
    let n = &network.counts;
    // Dispatches are livelihood requests': in a slice of another kind there are none.
    let of_requests = lists.dispatches.with("kind", "livelihood").is_some();
    let dispatches = |filter: Option<(&str, &str)>| {
        let mut q = vec![("from", from.to_string()), ("to", to.to_string())];
        q.extend(lists.dispatches.0.iter().cloned());
        if let Some((name, value)) = filter {
            q.push((name, value.to_owned()));
        }
        of_requests.then(|| {
            format!(
                "/v1/stats/dispatches?{}",
                serde_urlencoded::to_string(&q).expect("pairs of strings encode")
            )
        })
    };
    let minutes = |name, value: Option<f64>| Figure {
        name,
        value: measure(value),
        numerator: None,
        denominator: None,
        cases: dispatches(Some(("checked_in", "true"))),
        denominator_cases: None,
    };
    // Replies are measured in the requests as they are now, as dispatches are: the list is
    // the requests replied to in the range.
    let replied_q = base
        .with("kind", "livelihood")
        .and_then(|q| q.with("replied_from", from.to_string()))
        .and_then(|q| q.with("replied_to", to.to_string()));
    let hours = |name, value: Option<f64>| Figure {
        name,
        value: measure(value),
        numerator: None,
        denominator: None,
        cases: replied_q.as_ref().map(|q| q.url()),
        denominator_cases: None,
    };
    out.extend([
        count(
            "requests_received",
            g.opened_requests,
            opened_q.with("kind", "livelihood"),
        ),
        count(
            "requests_coordinated",
            g.requests_coordinated,
            opened_q
                .with("kind", "livelihood")
                .and_then(|q| q.with("coordinated", "true")),
        ),
        Figure {
            name: "units_dispatched",
            value: Some(n.dispatched.into()),
            numerator: None,
            denominator: None,
            cases: dispatches(None),
            denominator_cases: None,
        },
        Figure {
            name: "response_rate",
            value: measure(n.response_rate()),
            numerator: Some(n.checked_in_on_time),
            denominator: Some(n.dispatched),
            cases: dispatches(Some(("on_time", "true"))),
            denominator_cases: dispatches(None),
        },
        rate(
            "request_resolution_rate",
            counter("requests_resolved"),
            counter("requests_replied"),
            event_q("requests_resolved"),
            event_q("requests_replied"),
        ),
        rate(
            "request_satisfaction_rate",
            counter("rated_satisfied"),
            counter("ratings"),
            event_q("rated_satisfied"),
            event_q("ratings"),
        ),
        minutes("median_minutes_to_check_in", n.median_minutes_to_check_in),
        minutes("p90_minutes_to_check_in", n.p90_minutes_to_check_in),
        hours("median_hours_to_reply", network.median_hours_to_reply),
        hours("p90_hours_to_reply", network.p90_hours_to_reply),
        Figure {
            name: "check_ins_late",
            value: Some(n.late.into()),
            numerator: None,
            denominator: None,
            cases: dispatches(Some(("late", "true"))),
            denominator_cases: None,
        },
    ]);
    // A counter of one kind's events lists that kind's cases: in a slice of another kind there
    // are none, and its list is null, as a filing or closure figure's is.
    for (name, metric, kind) in [
        ("extension_requests", "extension_requests", None),
        ("extensions", "extensions", None),
        ("extensions_refused", "extensions_refused", None),
        ("supervisions", "supervisions", None),
        (
            "supervisions_answered_on_time",
            "supervisions_answered_on_time",
            None,
        ),
        (
            "supervisions_answered_late",
            "supervisions_answered_late",
            None,
        ),
        ("reviews", "reviews", Some("petition")),
        ("re_reviews", "re_reviews", Some("petition")),
        (
            "judicial_confirmations",
            "judicial_confirmations",
            Some("dispute"),
        ),
        ("hazards_rectified", "rectified", Some("hazard")),
        ("return_visits", "return_visits", None),
        ("return_visits_dissatisfied", "dissatisfied", None),
        ("deadlines_missed", "deadlines_missed", None),
        ("became_backlog", "became_backlog", Some("petition")),
        ("reopened", "reopened", None),
        ("risks_assessed", "risks_assessed", Some("risk_event")),
        ("risk_reviews", "risk_reviews", Some("risk_event")),
        (
            "dispatches_returned",
            "dispatches_returned",
            Some("livelihood"),
        ),
        ("check_ins_missed", "check_ins_missed", Some("livelihood")),
        ("requests_redone", "redone", Some("livelihood")),
    ] {
        let list = match kind {
            Some(kind) => event_q(metric).and_then(|q| q.with("kind", kind)),
            None => event_q(metric),
        };
        out.push(count(name, counter(metric), list));
    }
    out
}

/// The lists a group's figures drill down to: cases narrowed to the slice, the group and the
/// caller's reach, and dispatches narrowed to the slice and group (the dispatches endpoint
/// applies the reach itself: a unit's own dispatches).
struct Lists {
    cases: ListQuery,
    dispatches: ListQuery,
}

/// A range and slice checked and made a query of the read model.
struct Counted {
    query: StatsQuery,
    /// The lists' parameters: the slice as the caller gave it (a channel's kind with it).
    base: ListQuery,
}

/// Checks the range (`from`, `to`: local days, at most `MAX_DAYS`) and the slice (each
/// dimension once, not the one grouped by) for `actor`, who must reach some cases.
fn counted<const N: usize>(
    state: &AppState,
    actor: &docket_commands::Actor,
    (from, to): (&Option<String>, &Option<String>),
    dimensions: [(Dimension, &Option<String>); N],
    by: Option<Dimension>,
) -> Result<Counted, ApiError> {
    let reach = actor.reach();
    if reach == Reach::Nothing {
        return Err(ApiError::RoleNotPermitted(format!(
            "figures are counted over the cases a role reaches; {} reaches none",
            actor.role
        )));
    }
    let (from, to) = (day("from", from)?, day("to", to)?);
    if from > to {
        return Err(bad(format!("from ({from}) is after to ({to})")));
    }
    if (to - from).get_days() >= MAX_DAYS {
        return Err(bad(format!("a range spans at most {MAX_DAYS} days")));
    }
    let mut slice = Vec::new();
    let mut base = ListQuery::default();
    let kind = dimensions
        .iter()
        .find(|(d, _)| *d == Dimension::Kind)
        .and_then(|(_, v)| v.as_deref());
    if let Some(kind) = kind {
        crate::filters::check("kind", kind, None)?;
    }
    let kind = kind.and_then(|k| k.parse::<docket_domain::CaseKind>().ok());
    for (dimension, value) in dimensions {
        if let Some(value) = value {
            if by == Some(dimension) {
                return Err(bad(format!(
                    "{0}: grouped by {0} already; drop one",
                    dimension.name()
                )));
            }
            // Each value is one a case can have (a channel of any kind: the kind sliced is
            // checked against it next).
            if dimension != Dimension::Kind {
                let of_kind = kind.filter(|_| dimension != Dimension::Channel);
                crate::filters::check_as(dimension.name(), list_param(dimension), value, of_kind)?;
            }
            slice.push((dimension, value.clone()));
            base = base.narrowed(dimension, value).ok_or_else(|| {
                bad(format!(
                    "channel: {value:?} is a {}'s channel, not one of the kind sliced",
                    channel_kind(value).unwrap_or("case")
                ))
            })?;
        }
    }
    Ok(Counted {
        query: StatsQuery {
            tenant: actor.tenant.to_string(),
            from,
            to,
            now: state.commands.clock().now(),
            reach,
            slice,
            by,
        },
        base,
    })
}

/// `GET /v1/stats`.
#[utoipa::path(
    get, path = "/v1/stats", tag = "figures",
    params(StatsParams),
    responses(
        (status = 200, description = "The figures; as CSV with `Accept: text/csv` or `format=csv`.",
            content((crate::openapi::Figures = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad query parameter."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn stats(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    Params(p): Params<StatsParams>,
) -> Result<Response, ApiError> {
    let by =
        p.by.as_deref()
            .map(str::parse::<Dimension>)
            .transpose()
            .map_err(|e| bad(format!("by: {e}")))?;
    crate::cases::wait_for_position(&state, p.min_position).await?;
    // The figures are as of at least this position; their lists wait for it.
    let position = state.read.projected();
    let Counted { query, base } = counted(
        &state,
        &actor,
        (&p.from, &p.to),
        [
            (Dimension::Kind, &p.kind),
            (Dimension::Community, &p.community),
            (Dimension::Grid, &p.grid),
            (Dimension::Category, &p.category),
            (Dimension::Unit, &p.unit),
            (Dimension::Severity, &p.severity),
            (Dimension::Channel, &p.channel),
        ],
        by,
    )?;
    // A unit's figures are over the cases it leads; so are its lists here. (Its dispatches
    // are its own, whichever unit leads their cases: the network's endpoints narrow those.)
    let (mut base, explicit) = (base.clone(), base);
    if let Reach::Unit(unit) = &query.reach {
        base = base.with("lead_unit", unit.as_str()).ok_or_else(|| {
            ApiError::OutsideReach(format!(
                "unit: your figures are those of the cases {unit} leads"
            ))
        })?;
    }
    let (from, to, now) = (query.from, query.to, query.now);
    let at_position = |q: ListQuery| {
        q.with("min_position", position.to_string())
            .expect("min_position is not a slice")
    };
    let (base, explicit) = (at_position(base), at_position(explicit));
    let (mut groups, network) =
        tokio::try_join!(state.read.stats(&query), state.read.network(&query))?;
    for key in network.keys() {
        groups.entry(key.clone()).or_default();
    }
    let none = NetworkGroup::default();
    let groups: Vec<(Option<String>, Vec<Figure>)> = if let Some(dimension) = by {
        groups
            .iter()
            .map(|(key, counts)| {
                let network = network.get(key).unwrap_or(&none);
                // A group the caller's lists cannot hold (a unit grouped under another lead
                // unit, by its dispatches) lists nothing: its lists are null.
                let (cases, dispatches) = (
                    base.narrowed(dimension, key),
                    explicit.narrowed(dimension, key),
                );
                let lists = Lists {
                    cases: cases.clone().unwrap_or_default(),
                    dispatches: dispatches.clone().unwrap_or_default(),
                };
                let mut figures = figures(counts, network, &lists, from, to);
                for f in &mut figures {
                    for link in [&mut f.cases, &mut f.denominator_cases] {
                        let listable = match link.as_deref() {
                            Some(url) if url.starts_with("/v1/stats/dispatches") => {
                                dispatches.is_some()
                            }
                            _ => cases.is_some(),
                        };
                        if !listable {
                            *link = None;
                        }
                    }
                }
                (Some(key.clone()), figures)
            })
            .collect()
    } else {
        let counts = groups.get("").cloned().unwrap_or_default();
        let network = network.get("").unwrap_or(&none);
        let lists = Lists {
            cases: base.clone(),
            dispatches: explicit.clone(),
        };
        vec![(None, figures(&counts, network, &lists, from, to))]
    };
    let wants_csv = p.format.as_deref() == Some("csv")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"));
    if let Some(format) = p.format.as_deref()
        && format != "csv"
        && format != "json"
    {
        return Err(bad(format!("format: {format:?} is not csv or json")));
    }
    if wants_csv {
        return csv_response(by, &groups);
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(key, figures)| {
            let mut group = serde_json::Map::new();
            if let (Some(dimension), Some(key)) = (by, key) {
                group.insert(dimension.name().to_owned(), json!(key));
            }
            json!({ "group": group, "figures": figures })
        })
        .collect();
    let filters: serde_json::Map<String, Value> = query
        .slice
        .iter()
        .map(|(d, v)| (d.name().to_owned(), json!(v)))
        .collect();
    Ok(Json(json!({
        "from": from,
        "to": to,
        "as_of": now,
        "position": position,
        "timezone": state.read.policy(actor.tenant.as_str()).time_zone_name,
        "filters": filters,
        "by": by.map(Dimension::name),
        "groups": groups,
        "definitions": "docs/figures.md",
    }))
    .into_response())
}

/// The list parameter that narrows to a dimension's value as the figures count it.
/// The kind of case a channel is one of: a petition's (来信, 来访, 网上, 来电) or a livelihood
/// request's; none for an unknown one or none at all.
fn channel_kind(channel: &str) -> Option<&'static str> {
    docket_domain::CaseKind::ALL
        .into_iter()
        .find(|k| k.channels().contains(&channel))
        .map(docket_domain::CaseKind::as_str)
}

fn list_param(dimension: Dimension) -> &'static str {
    match dimension {
        // Figures count a case under the unit that leads it.
        Dimension::Unit => "lead_unit",
        other => other.name(),
    }
}

fn csv_response(
    by: Option<Dimension>,
    groups: &[(Option<String>, Vec<Figure>)],
) -> Result<Response, ApiError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let group_column = by.map_or("group", Dimension::name);
    let write = |out: &mut csv::Writer<Vec<u8>>, record: &[String]| {
        out.write_record(record)
            .map_err(|e| ApiError::Internal(e.to_string()))
    };
    write(
        &mut out,
        &[
            group_column,
            "figure",
            "value",
            "numerator",
            "denominator",
            "cases",
            "denominator_cases",
        ]
        .map(str::to_owned),
    )?;
    let text = |v: Option<String>| v.unwrap_or_default();
    for (key, figures) in groups {
        for f in figures {
            write(
                &mut out,
                &[
                    key.clone().unwrap_or_default(),
                    f.name.to_owned(),
                    text(
                        f.value
                            .as_ref()
                            .and_then(serde_json::Number::as_f64)
                            .map(|v| v.to_string()),
                    ),
                    text(f.numerator.map(|v| v.to_string())),
                    text(f.denominator.map(|v| v.to_string())),
                    text(f.cases.clone()),
                    text(f.denominator_cases.clone()),
                ],
            )?;
        }
    }
    let body = out
        .into_inner()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    Ok((headers, body).into_response())
}

/// The query of the per-unit table and of its drill-down, the dispatches.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct NetworkParams {
    from: Option<String>,
    to: Option<String>,
    kind: Option<String>,
    community: Option<String>,
    grid: Option<String>,
    category: Option<String>,
    /// The unit that leads the case (a slice, as in `/v1/stats`).
    lead_unit: Option<String>,
    severity: Option<String>,
    channel: Option<String>,
    /// The unit dispatched (the dispatches of one unit).
    unit: Option<String>,
    on_time: Option<bool>,
    late: Option<bool>,
    returned: Option<bool>,
    checked_in: Option<bool>,
    /// The per-unit table's order: `late` (the default), `response_rate`, `median_response`,
    /// `returned`, `dissatisfied`, `dispatched` or `unit`.
    sort: Option<String>,
    format: Option<String>,
    /// Count only once the read model has reached this log position.
    min_position: Option<u64>,
}

impl NetworkParams {
    fn counted(
        &self,
        state: &AppState,
        actor: &docket_commands::Actor,
    ) -> Result<Counted, ApiError> {
        counted(
            state,
            actor,
            (&self.from, &self.to),
            [
                (Dimension::Kind, &self.kind),
                (Dimension::Community, &self.community),
                (Dimension::Grid, &self.grid),
                (Dimension::Category, &self.category),
                (Dimension::Unit, &self.lead_unit),
                (Dimension::Severity, &self.severity),
                (Dimension::Channel, &self.channel),
            ],
            None,
        )
    }

    fn wants_csv(&self, headers: &HeaderMap) -> Result<bool, ApiError> {
        match self.format.as_deref() {
            Some("csv") => Ok(true),
            Some("json") => Ok(false),
            Some(other) => Err(bad(format!(
                "format: {:?} is not csv or json",
                docket_domain::shown(other)
            ))),
            None => Ok(headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/csv"))),
        }
    }

    /// The query string that lists a unit's dispatches in the same range and slice, as of
    /// `position`.
    fn dispatches_of(&self, unit: &str, position: u64) -> String {
        let position = position.to_string();
        let mut q: Vec<(&str, &str)> = Vec::new();
        for (name, value) in [
            ("from", &self.from),
            ("to", &self.to),
            ("kind", &self.kind),
            ("community", &self.community),
            ("grid", &self.grid),
            ("category", &self.category),
            ("lead_unit", &self.lead_unit),
            ("severity", &self.severity),
        ] {
            if let Some(v) = value {
                q.push((name, v));
            }
        }
        q.push(("unit", unit));
        q.push(("min_position", &position));
        format!(
            "/v1/stats/dispatches?{}",
            serde_urlencoded::to_string(&q).expect("pairs of strings encode")
        )
    }
}

/// `GET /v1/stats/units`: the per-unit table of the coordinated response network: for each unit
/// dispatched in the range, its dispatches, check-ins on time and late, returns, parts, median
/// minutes to check in and dissatisfied ratings, sorted to show the units that hold the network
/// back first. Each row links to its dispatches.
#[utoipa::path(
    get, path = "/v1/stats/units", tag = "figures",
    params(NetworkParams),
    responses(
        (status = 200, description = "The per-unit table; as CSV with `Accept: text/csv` or `format=csv`.",
            content((crate::openapi::UnitTable = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad query parameter."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn units(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    Params(p): Params<NetworkParams>,
) -> Result<Response, ApiError> {
    for (name, given) in [
        ("unit", p.unit.is_some()),
        ("on_time", p.on_time.is_some()),
        ("late", p.late.is_some()),
        ("returned", p.returned.is_some()),
        ("checked_in", p.checked_in.is_some()),
    ] {
        if given {
            return Err(bad(format!(
                "{name}: narrows the dispatches (/v1/stats/dispatches), not the per-unit table"
            )));
        }
    }
    crate::cases::wait_for_position(&state, p.min_position).await?;
    let position = state.read.projected();
    let Counted { query, .. } = p.counted(&state, &actor)?;
    let dispatches = state.read.dispatches(&query, None).await?;
    let mut rows = docket_projections::by_unit(&dispatches);
    let worst_rate = |r: &docket_projections::UnitRow| r.counts.response_rate().unwrap_or(1.0);
    match p.sort.as_deref().unwrap_or("late") {
        "late" => rows.sort_by_key(|r| std::cmp::Reverse(r.counts.late)),
        "response_rate" => rows.sort_by(|a, b| worst_rate(a).total_cmp(&worst_rate(b))),
        "median_response" => rows.sort_by(|a, b| {
            let m = |r: &docket_projections::UnitRow| r.counts.median_minutes_to_check_in;
            m(b).unwrap_or(f64::INFINITY)
                .total_cmp(&m(a).unwrap_or(f64::INFINITY))
        }),
        "returned" => rows.sort_by_key(|r| std::cmp::Reverse(r.counts.returned)),
        "dissatisfied" => rows.sort_by_key(|r| std::cmp::Reverse(r.counts.dissatisfied)),
        "dispatched" => rows.sort_by_key(|r| std::cmp::Reverse(r.counts.dispatched)),
        "unit" => {}
        other => {
            return Err(bad(format!(
                "sort: {:?} is not late, response_rate, median_response, returned, dissatisfied, dispatched or unit",
                docket_domain::shown(other)
            )));
        }
    }
    let names = crate::directory::Names::of(&state, actor.tenant.as_str()).await?;
    if p.wants_csv(&headers)? {
        let mut out = csv::Writer::from_writer(Vec::new());
        let mut write = |record: Vec<String>| {
            out.write_record(&record)
                .map_err(|e| ApiError::Internal(e.to_string()))
        };
        write(
            [
                "unit",
                "name",
                "dispatched",
                "returned",
                "checked_in_on_time",
                "late",
                "response_rate",
                "median_minutes_to_check_in",
                "p90_minutes_to_check_in",
                "parts",
                "dissatisfied",
                "dispatches",
            ]
            .map(str::to_owned)
            .to_vec(),
        )?;
        for r in &rows {
            let c = &r.counts;
            write(vec![
                r.unit.clone(),
                names.unit(&r.unit).unwrap_or_default(),
                c.dispatched.to_string(),
                c.returned.to_string(),
                c.checked_in_on_time.to_string(),
                c.late.to_string(),
                c.response_rate().map(|v| v.to_string()).unwrap_or_default(),
                c.median_minutes_to_check_in
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                c.p90_minutes_to_check_in
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                c.parts.to_string(),
                c.dissatisfied.to_string(),
                p.dispatches_of(&r.unit, position),
            ])?;
        }
        let body = out
            .into_inner()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut row = serde_json::to_value(r).expect("a row serializes");
            row["name"] = json!(names.unit(&r.unit));
            row["response_rate"] = json!(r.counts.response_rate());
            row["dispatches"] = json!(p.dispatches_of(&r.unit, position));
            row
        })
        .collect();
    Ok(Json(json!({
        "from": query.from,
        "to": query.to,
        "as_of": query.now,
        "timezone": state.read.policy(actor.tenant.as_str()).time_zone_name,
        "position": position,
        "sort": p.sort.as_deref().unwrap_or("late"),
        "units": rows,
        "definitions": "docs/figures.md",
    }))
    .into_response())
}

/// `GET /v1/stats/dispatches`: the dispatches sent in the range, within the caller's reach (a
/// unit's own), narrowed to one unit and to those on time, late, returned or checked in: what a
/// per-unit figure or a network figure counts, each with its case.
#[utoipa::path(
    get, path = "/v1/stats/dispatches", tag = "figures",
    params(NetworkParams),
    responses(
        (status = 200, description = "The dispatches a per-unit figure counts.", body = crate::openapi::Dispatches),
        (status = 400, description = "A bad query parameter."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn dispatches(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    Params(p): Params<NetworkParams>,
) -> Result<Response, ApiError> {
    if p.sort.is_some() {
        return Err(bad(
            "sort: dispatches are listed in the order they were sent".to_owned(),
        ));
    }
    if p.wants_csv(&headers)? {
        return Err(bad(
            "format: dispatches are listed as JSON; the per-unit table (/v1/stats/units) has CSV"
                .to_owned(),
        ));
    }
    crate::cases::wait_for_position(&state, p.min_position).await?;
    let Counted { query, .. } = p.counted(&state, &actor)?;
    let items: Vec<Value> = state
        .read
        .dispatches(&query, p.unit.as_deref())
        .await?
        .into_iter()
        .filter(|d| {
            p.on_time.is_none_or(|v| d.on_time() == v)
                && p.late.is_none_or(|v| d.late == v)
                && p.returned.is_none_or(|v| d.returned() == v)
                && p.checked_in.is_none_or(|v| d.checked_in_at.is_some() == v)
        })
        .map(|d| {
            let mut item = serde_json::to_value(&d).expect("a dispatch serializes");
            item["minutes_to_check_in"] = json!(d.response_minutes());
            item["case"] = json!(format!("/v1/cases/{}", d.case_id));
            item
        })
        .collect();
    Ok(Json(json!({
        "from": query.from,
        "to": query.to,
        "count": items.len(),
        "items": items,
    }))
    .into_response())
}
