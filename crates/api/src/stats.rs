//! `GET /v1/stats`: the supervisors' figures (docs/figures.md) for a range of tenant-local days,
//! narrowed to a slice and grouped by one dimension, as JSON or (`Accept: text/csv`) CSV. Each
//! figure carries the list query (`/v1/cases?...`) that returns exactly its cases; a rate carries
//! its numerator's and denominator's.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use docket_domain::Reach;
use docket_projections::{Dimension, GroupCounts, StatsQuery};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::extract::{Caller, Params};
use crate::{ApiError, AppState};

/// A range may span at most this many days.
const MAX_DAYS: i32 = 3660;

#[derive(Debug, Deserialize)]
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
    /// `csv` as an alternative to `Accept: text/csv`.
    format: Option<String>,
}

/// One figure of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Figure {
    pub(crate) name: &'static str,
    pub(crate) value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) numerator: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) denominator: Option<i64>,
    /// The list of exactly the counted cases (a rate's numerator).
    pub(crate) cases: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) denominator_cases: Option<String>,
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
    let date: Date = value
        .parse()
        .map_err(|_| bad(format!("{name}: {value:?} is not a date (YYYY-MM-DD)")))?;
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

    fn url(&self) -> String {
        let query = serde_urlencoded::to_string(&self.0).expect("pairs of strings encode");
        format!("/v1/cases?{query}")
    }
}

/// Builds the figures of one group; `base` narrows lists to the group and slice.
fn figures(g: &GroupCounts, base: &ListQuery, from: Date, to: Date) -> Vec<Figure> {
    let next_day = to.tomorrow().unwrap_or(to).to_string();
    let opened_q = ListQuery(
        base.0
            .iter()
            .cloned()
            .chain([
                ("filed_from", from.to_string()),
                ("filed_to", next_day.clone()),
            ])
            .collect(),
    );
    let closed_q = ListQuery(
        base.0
            .iter()
            .cloned()
            .chain([("closed_from", from.to_string()), ("closed_to", next_day)])
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
        value: Some(value as f64),
        numerator: None,
        denominator: None,
        cases: cases.map(|q| q.url()),
        denominator_cases: None,
    };
    let rate =
        |name, num: i64, den: i64, num_q: Option<ListQuery>, den_q: Option<ListQuery>| Figure {
            name,
            value: (den > 0).then(|| num as f64 / den as f64),
            numerator: Some(num),
            denominator: Some(den),
            cases: num_q.map(|q| q.url()),
            denominator_cases: den_q.map(|q| q.url()),
        };
    let days = |name, value: Option<f64>| Figure {
        name,
        value,
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
        rate(
            "mediation_success_rate",
            g.closed_disputes_resolved,
            g.closed_disputes,
            disputes_closed_q
                .as_ref()
                .and_then(|q| q.with("outcome", "resolved")),
            disputes_closed_q.clone(),
        ),
    ];
    for (name, metric) in [
        ("extensions", "extensions"),
        ("supervisions", "supervisions"),
        ("reviews", "reviews"),
        ("re_reviews", "re_reviews"),
        ("judicial_confirmations", "judicial_confirmations"),
        ("hazards_rectified", "rectified"),
        ("return_visits", "return_visits"),
        ("deadlines_missed", "deadlines_missed"),
        ("became_backlog", "became_backlog"),
        ("reopened", "reopened"),
    ] {
        out.push(count(name, counter(metric), event_q(metric)));
    }
    out
}

/// `GET /v1/stats`.
pub(crate) async fn stats(
    State(state): State<AppState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    Params(p): Params<StatsParams>,
) -> Result<Response, ApiError> {
    let reach = actor.reach();
    if reach == Reach::Nothing {
        return Err(ApiError::RoleNotPermitted(format!(
            "figures are counted over the cases a role reaches; {} reaches none",
            actor.role
        )));
    }
    let (from, to) = (day("from", &p.from)?, day("to", &p.to)?);
    if from > to {
        return Err(bad(format!("from ({from}) is after to ({to})")));
    }
    if (to - from).get_days() >= MAX_DAYS {
        return Err(bad(format!("a range spans at most {MAX_DAYS} days")));
    }
    let by =
        p.by.as_deref()
            .map(str::parse::<Dimension>)
            .transpose()
            .map_err(|e| bad(format!("by: {e}")))?;
    let mut slice = Vec::new();
    let mut base = ListQuery::default();
    for (dimension, value) in [
        (Dimension::Kind, &p.kind),
        (Dimension::Community, &p.community),
        (Dimension::Grid, &p.grid),
        (Dimension::Category, &p.category),
        (Dimension::Unit, &p.unit),
        (Dimension::Severity, &p.severity),
    ] {
        if let Some(value) = value {
            if by == Some(dimension) {
                return Err(bad(format!(
                    "{0}: grouped by {0} already; drop one",
                    dimension.name()
                )));
            }
            slice.push((dimension, value.clone()));
            base = base
                .with(list_param(dimension), value.clone())
                .expect("each dimension once");
        }
    }
    // A unit's figures are over the cases it leads; so are its lists here.
    if let Reach::Unit(unit) = &reach {
        base = base.with("lead_unit", unit.as_str()).ok_or_else(|| {
            ApiError::OutsideReach(format!(
                "unit: your figures are those of the cases {unit} leads"
            ))
        })?;
    }
    let now = state.commands.clock().now();
    let query = StatsQuery {
        tenant: actor.tenant.to_string(),
        from,
        to,
        now,
        reach,
        slice,
        by,
    };
    let groups = state.read.stats(&query).await?;
    let groups: Vec<(Option<String>, Vec<Figure>)> = if let Some(dimension) = by {
        groups
            .iter()
            .map(|(key, counts)| {
                let base = base
                    .with(list_param(dimension), key.clone())
                    .unwrap_or_else(|| base.clone());
                (Some(key.clone()), figures(counts, &base, from, to))
            })
            .collect()
    } else {
        let counts = groups.get("").cloned().unwrap_or_default();
        vec![(None, figures(&counts, &base, from, to))]
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
        "timezone": "Asia/Shanghai",
        "filters": filters,
        "by": by.map(Dimension::name),
        "groups": groups,
        "definitions": "docs/figures.md",
    }))
    .into_response())
}

/// The list parameter that narrows to a dimension's value as the figures count it.
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
                    text(f.value.map(|v| v.to_string())),
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
