//! `/metrics`: what an operator's Prometheus scrapes, in the OpenMetrics text format
//! (`prometheus-client`): how far the read model is behind the log, and what the projector holds
//! in quarantine, which wants an operator (alert on `docket_quarantined_commits > 0`).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::{ApiError, AppState, Health};

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics`: the gauges as they stand now. Needs no token: it shows no case data.
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let health = Health::of(&state).await?;
    let mut registry = Registry::with_prefix("docket");
    let gauges = [
        ("log_head", "The log's last position", health.log_head),
        (
            "projected_position",
            "The log position the read model has applied",
            health.projected,
        ),
        (
            "projection_lag_commits",
            "Commits the read model is behind the log",
            health.lag(),
        ),
        (
            "quarantined_commits",
            "Commits the projector could not apply and holds aside (docket repair)",
            health.quarantined_commits,
        ),
        (
            "quarantined_cases",
            "Cases whose commits are held aside: they refuse commands",
            health.quarantined_cases,
        ),
    ];
    for (name, help, value) in gauges {
        let gauge: Gauge = Gauge::default();
        gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        registry.register(name, help, gauge);
    }
    let mut body = String::new();
    encode(&mut body, &registry).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}
