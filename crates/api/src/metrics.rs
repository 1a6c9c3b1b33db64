//! `/metrics`: what an operator's Prometheus scrapes, in its text format. The crates record
//! through the `metrics` facade where things happen (requests here, commands in the command
//! service, batches in the projector, sweeps in the deadline watch); one recorder per process,
//! `metrics-exporter-prometheus`, renders them. The gauges of the service's standing (log head,
//! lag, quarantine) are read at each scrape. Alert on `docket_quarantined_commits > 0` and on a
//! growing `docket_projection_lag_commits`.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{AppState, Health};

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets, in seconds, for every `*_seconds` histogram: from a millisecond to ten
/// seconds.
const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's recorder, installed on first use (one per process, whatever the number of
/// routers: tests build many), with the metrics described. The server calls it before anything
/// else starts, so nothing recorded at start-up is lost, and keeps it drained (`keep_drained`).
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS)
                .expect("the buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed: /metrics shows ours only");
            }
            describe();
            handle
        })
        .clone()
}

/// Drains the recorder's histogram samples every few seconds, so that memory stays flat where
/// nobody scrapes, until `shutdown` turns true.
pub async fn keep_drained(mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let handle = recorder();
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = ticks.tick() => handle.run_upkeep(),
            _ = shutdown.changed() => return,
        }
    }
}

/// A request's method as a label: the usual ones by name, any other `other`, so that no client
/// can make series at will.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts every request by route (its template, not its ids), method and status, and times it
/// to its response's head (an event stream's, then, not its whole life).
pub(crate) async fn observe(request: Request, next: Next) -> Response {
    // A gRPC call is counted as such where it is served, not again as the request it becomes.
    if request.extensions().get::<InProcess>().is_some() {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("docket_http_requests_total",
        "route" => route.clone(), "method" => method, "status" => status)
    .increment(1);
    metrics::histogram!("docket_http_request_duration_seconds",
        "route" => route, "method" => method)
    .record(started.elapsed().as_secs_f64());
    response
}

/// Marks a request the gRPC interface made of a call, served in process by the same router: the
/// call's own metrics count it.
#[derive(Debug, Clone, Copy)]
pub struct InProcess;

/// `GET /metrics`. Needs no token: no metric carries a case or a person (tenants are named only
/// in the per-tenant command rate). The counters render
/// whatever happens; the standing gauges (head, lag, quarantine) are read for this scrape and
/// left out, with a warning, when a store does not answer.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "The process's metrics, in Prometheus's text format.", content_type = "text/plain", body = String)),
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let mut body = state.metrics.render();
    match Health::of(&state).await {
        Ok(health) => {
            let gauges = [
                (
                    "docket_log_head",
                    "The log's last position",
                    health.log_head,
                ),
                (
                    "docket_projected_position",
                    "The log position the read model has applied",
                    health.projected,
                ),
                (
                    "docket_projection_lag_commits",
                    "Commits the read model is behind the log",
                    health.lag(),
                ),
                (
                    "docket_quarantined_commits",
                    "Commits the projector could not apply and holds aside (docket repair)",
                    health.quarantined_commits,
                ),
                (
                    "docket_quarantined_cases",
                    "Cases whose commits are held aside: they refuse commands",
                    health.quarantined_cases,
                ),
            ];
            for (name, help, value) in gauges {
                body.push_str(&format!(
                    "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n\n"
                ));
            }
        }
        Err(e) => {
            tracing::warn!(error = ?e, "/metrics without the standing gauges: a store does not answer")
        }
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

/// Describes the metrics once, for the `# HELP` lines.
fn describe() {
    static DESCRIBED: OnceLock<()> = OnceLock::new();
    DESCRIBED.get_or_init(|| {
        use metrics::{describe_counter, describe_gauge, describe_histogram};
        describe_counter!("docket_http_requests_total", "HTTP requests by route, method and status");
        describe_histogram!(
            "docket_http_request_duration_seconds",
            "Time to the response's head, by route and method"
        );
        describe_counter!(
            "docket_commands_total",
            "Commands by case kind, action and outcome (accepted, replayed, refused, failed) and reason"
        );
        describe_counter!(
            "docket_tenant_commands_total",
            "Commands by tenant and outcome (accepted, replayed, refused, failed)"
        );
        describe_counter!(
            "docket_command_conflicts_total",
            "Races for a case's next version lost and decided again, by kind and action"
        );
        describe_histogram!("docket_log_append_duration_seconds", "Time to append a commit to the log");
        describe_histogram!(
            "docket_projection_batch_duration_seconds",
            "Time to apply one batch of commits to the read model"
        );
        describe_counter!("docket_projected_commits_total", "Commits the projector applied");
        describe_gauge!(
            "docket_projector_leading",
            "1 while this replica applies the log to the read model (holds the projection lease), else 0"
        );
        describe_counter!("docket_watch_sweeps_total", "Sweeps of the deadline watch");
        describe_counter!(
            "docket_watch_misses_recorded_total",
            "Missed deadlines and limits the deadline watch recorded"
        );
        describe_gauge!("docket_event_streams_open", "Server-sent event streams open now");
        describe_counter!("docket_grpc_requests_total", "gRPC calls by method and status code");
        describe_histogram!(
            "docket_grpc_request_duration_seconds",
            "Time to answer a gRPC call (a stream's first answer), by method"
        );
        describe_gauge!("docket_grpc_watches_open", "gRPC Watch streams open now");
        describe_counter!("docket_rate_limited_total", "Requests refused for a token over its rate");
    });
}
