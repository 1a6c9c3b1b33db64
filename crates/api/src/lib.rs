//! Docket's HTTP interface under `/v1`. The router is built by a function, so tests drive it
//! without a socket and the server binds it to one.

mod audit;
pub mod auth;
mod cases;
pub mod console;
mod directory;
mod events;
pub mod evidence;
mod extract;
mod filters;
pub mod metrics;
pub mod open311;
pub mod openapi;
mod persons;
mod problem;
mod stats;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use docket_commands::CommandService;
use docket_projections::ReadModel;

pub use auth::{AuthError, Authenticator, Claims};
pub use problem::ApiError;

/// The read model's quarantine, as the command service asks it whether a case is held: once per
/// command, so it is read whole and kept until this process changes it (a batch holds a commit, a
/// repair lets one go) or `HELD_KEPT_FOR` has passed, which bounds how late a change made by
/// another process (a replica projecting, `docket repair`) is seen.
#[derive(Debug)]
pub struct HeldCases {
    read: ReadModel,
    seen: std::sync::Mutex<Option<std::sync::Arc<Held>>>,
}

/// How long the quarantine as last read is kept.
const HELD_KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// The quarantine as read at one generation: each held stream's first held position.
#[derive(Debug)]
struct Held {
    generation: u64,
    read_at: std::time::Instant,
    first: std::collections::HashMap<(String, String), u64>,
}

impl HeldCases {
    pub fn new(read: ReadModel) -> Self {
        Self {
            read,
            seen: std::sync::Mutex::new(None),
        }
    }

    /// The quarantine as last read, if it still holds.
    fn kept(&self, generation: u64) -> Option<std::sync::Arc<Held>> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|h| h.generation == generation && h.read_at.elapsed() < HELD_KEPT_FOR)
    }
}

#[async_trait::async_trait]
impl docket_commands::Quarantine for HeldCases {
    async fn quarantined_at(
        &self,
        tenant: &docket_domain::TenantId,
        stream: uuid::Uuid,
    ) -> Result<Option<u64>, docket_commands::CommandError> {
        let generation = self.read.quarantine_generation();
        let held = match self.kept(generation) {
            Some(held) => held,
            // The quarantine is a guard rail, not the record: a read model that does not answer
            // does not stop commands, which need only the log.
            None => match self.read.quarantined(None).await {
                Ok(commits) => {
                    let mut first = std::collections::HashMap::new();
                    for c in commits {
                        let position = u64::try_from(c.position).unwrap_or(0);
                        first
                            .entry((c.tenant, c.case_id))
                            .and_modify(|p: &mut u64| *p = (*p).min(position))
                            .or_insert(position);
                    }
                    let held = std::sync::Arc::new(Held {
                        generation,
                        read_at: std::time::Instant::now(),
                        first,
                    });
                    *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(held.clone());
                    held
                }
                Err(e) => {
                    tracing::warn!(error = %e, %stream, "the quarantine cannot be read; the command goes on");
                    return Ok(None);
                }
            },
        };
        Ok(held
            .first
            .get(&(tenant.to_string(), stream.to_string()))
            .copied())
    }
}

/// Request bodies over this size are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler shares; each part is cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) commands: CommandService,
    pub(crate) read: ReadModel,
    pub(crate) auth: Authenticator,
    pub(crate) limiter: std::sync::Arc<extract::RateLimiter>,
    pub(crate) audit: Option<std::sync::Arc<audit::AuditSetup>>,
    /// The process's metrics, rendered at `/metrics`.
    pub(crate) metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// The projection lag, in commits, above which `/readyz` says the replica is not ready.
    pub(crate) ready_max_lag: u64,
    /// Where uploaded evidence is kept; none refuses uploads.
    pub(crate) evidence: Option<evidence::EvidenceStore>,
    /// How the console signs people in.
    pub(crate) console: console::ConsoleSetup,
}

/// The lag, in commits, above which a replica is not ready by default.
pub const DEFAULT_READY_MAX_LAG: u64 = 1000;

/// Requests per second a token may make by default, and the burst it may spend at once.
pub const DEFAULT_RATE: (u32, u32) = (50, 200);

impl AppState {
    pub fn new(commands: CommandService, read: ReadModel, auth: Authenticator) -> Self {
        // One view of the quarantine per process: the caller's (which its deadline watch shares),
        // or one made here.
        let commands = if commands.has_quarantine() {
            commands
        } else {
            commands.with_quarantine(std::sync::Arc::new(HeldCases::new(read.clone())))
        };
        Self {
            commands,
            read,
            auth,
            limiter: std::sync::Arc::new(extract::RateLimiter::new(DEFAULT_RATE.0, DEFAULT_RATE.1)),
            audit: None,
            metrics: metrics::recorder(),
            ready_max_lag: DEFAULT_READY_MAX_LAG,
            evidence: None,
            console: console::ConsoleSetup::default(),
        }
    }

    /// Keeps uploaded evidence in `store`.
    pub fn with_evidence(mut self, store: evidence::EvidenceStore) -> Self {
        self.evidence = Some(store);
        self
    }

    /// Sets how the console signs people in.
    pub fn with_console(mut self, setup: console::ConsoleSetup) -> Self {
        self.console = setup;
        self
    }

    /// Sets the projection lag, in commits, above which `/readyz` answers 503.
    pub fn with_ready_max_lag(mut self, commits: u64) -> Self {
        self.ready_max_lag = commits;
        self
    }

    /// Enables the audit runs (`/v1/audit/runs`): the read model lives at `target`, built from the log
    /// named `log_name`; the audit projects the log again beside it.
    pub fn with_audit(mut self, target: docket_projections::Target, log_name: &str) -> Self {
        self.audit = Some(std::sync::Arc::new(audit::AuditSetup {
            target,
            log_name: log_name.to_owned(),
            runs: std::sync::Mutex::default(),
        }));
        self
    }

    /// Sets the per-token request rate: `per_second` sustained, `burst` at once.
    pub fn with_rate_limit(mut self, per_second: u32, burst: u32) -> Self {
        self.limiter = std::sync::Arc::new(extract::RateLimiter::new(per_second, burst));
        self
    }
}

/// Declares the routes once: `router` serves them, and `ROUTES` lists their paths, which a test
/// holds against the API document's.
macro_rules! routes {
    ($($path:expr => $method_router:expr),+ $(,)?) => {
        /// Every path the router serves (Swagger UI's files under `/docs/` aside).
        #[cfg_attr(not(test), allow(dead_code, reason = "listed for the test that holds the routes to the API document"))]
        pub(crate) const ROUTES: &[&str] = &[$($path),+];

        fn routes(router: Router<AppState>) -> Router<AppState> {
            router $(.route($path, $method_router))+
        }
    };
}

routes! {
    "/v1/cases" => post(cases::file).get(cases::list),
    "/v1/cases/{id}" => get(cases::detail),
    "/v1/cases/{id}/actions/{action}" => post(cases::act),
    "/v1/cases/{id}/history" => get(cases::history),
    "/v1/cases/{id}/commits" => get(cases::commits),
    "/v1/evidence" => post(evidence::upload)
        // The upload reads no more than its store's own limit (`EvidenceStore::max_bytes`).
        .layer(DefaultBodyLimit::disable()),
    "/v1/evidence/{hash}" => get(evidence::file),
    "/v1/directory" => get(directory::list),
    "/v1/directory/actions/{action}" => post(directory::keep),
    "/v1/stats" => get(stats::stats),
    "/v1/stats/units" => get(stats::units),
    "/v1/stats/dispatches" => get(stats::dispatches),
    "/v1/events" => get(events::stream),
    "/v1/audit/runs" => post(audit::start).get(audit::list),
    "/v1/audit/runs/{id}" => get(audit::show),
    "/v1/quarantine" => get(audit::quarantine),
    "/v1/persons/find" => post(persons::find),
    "/v1/persons/{id}" => get(persons::file),
    "/v1/persons/{id}/views" => get(persons::views),
    "/healthz" => get(healthz),
    "/v1/status" => get(status),
    "/metrics" => get(metrics::metrics),
    "/readyz" => get(readyz),
    openapi::DOCUMENT_PATH => get(openapi::document_route),
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    routes(Router::new())
        .merge(open311::routes())
        .merge(console::routes())
        .merge(openapi::docs())
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(metrics::observe))
        .with_state(state)
}

/// `GET /healthz`: liveness. The process answers; whether it can serve is `/readyz`.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is alive.", content_type = "text/plain", body = String)),
)]
async fn healthz() -> &'static str {
    "ok"
}

/// How the service stands: the log's head, how far the read model has projected it, and what
/// the projector holds in quarantine. `/v1/status` and `/metrics` both show it.
pub(crate) struct Health {
    pub(crate) log_head: u64,
    pub(crate) projected: u64,
    pub(crate) quarantined_commits: u64,
    pub(crate) quarantined_cases: u64,
}

impl Health {
    pub(crate) async fn of(state: &AppState) -> Result<Health, ApiError> {
        let log_head = state.commands.log().head().await?;
        let projected = state.read.projected();
        let (quarantined_commits, quarantined_cases) = state.read.quarantine_counts().await?;
        Ok(Health {
            log_head,
            projected,
            quarantined_commits,
            quarantined_cases,
        })
    }

    pub(crate) fn lag(&self) -> u64 {
        self.log_head.saturating_sub(self.projected)
    }
}

/// `GET /v1/status`: the log's head, how far the read model has projected it, the lag between
/// them, and how many commits (of how many cases) are quarantined, for monitoring: anything
/// quarantined wants an operator. Needs no token: it shows no case data.
#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "operations",
    responses(
        (status = 200, description = "How the service stands.", body = openapi::Status),
        (status = 500, description = "A fault of ours, logged."),
        (status = 503, description = "The log or the read model does not answer."),
    ),
)]
async fn status(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let health = Health::of(&state).await?;
    Ok(axum::Json(serde_json::json!({
        "log_head": health.log_head,
        "projected": health.projected,
        "lag": health.lag(),
        "read_model": state.read.dialect(),
        "quarantined": {
            "commits": health.quarantined_commits,
            "cases": health.quarantined_cases,
        },
    })))
}

/// `GET /readyz`: 200 when the log and the read model answer and the projection is within
/// `--ready-max-lag` commits of the log; else 503 naming what is wrong, so that a load balancer
/// sends no one to a replica whose reads would be stale or fail. `/healthz` is liveness only.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve.", body = openapi::Ready),
        (status = 500, description = "A fault of ours, logged."),
        (status = 503, description = "Not ready: the log or the read model does not answer, or the projection lags."),
    ),
)]
async fn readyz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    // What failed goes to the log; the answer, which needs no token, says only which store.
    let head = state.commands.log().head().await.map_err(|e| {
        tracing::warn!(error = %e, "not ready: the event log does not answer");
        ApiError::NotReady("the event log does not answer".to_owned())
    })?;
    let projected = state
        .read
        .checkpoint(docket_projections::CASES)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "not ready: the read model does not answer");
            ApiError::NotReady("the read model does not answer".to_owned())
        })?;
    let lag = head.saturating_sub(projected);
    if lag > state.ready_max_lag {
        return Err(ApiError::NotReady(format!(
            "the read model is {lag} commits behind the log (ready within {})",
            state.ready_max_lag
        )));
    }
    Ok(axum::Json(serde_json::json!({
        "ready": true,
        "log_head": head,
        "projected": projected,
        "lag": lag,
    })))
}

#[cfg(test)]
mod tests;
