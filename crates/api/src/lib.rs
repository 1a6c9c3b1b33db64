//! Docket's HTTP interface under `/v1`. The router is built by a function, so tests drive it
//! without a socket and the server binds it to one.

pub mod auth;
mod cases;
mod extract;
mod problem;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use docket_commands::CommandService;
use docket_projections::ReadModel;

pub use auth::{AuthError, Authenticator, Claims};
pub use problem::ApiError;

/// Request bodies over this size are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler shares; each part is cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) commands: CommandService,
    pub(crate) read: ReadModel,
    pub(crate) auth: Authenticator,
}

impl AppState {
    pub fn new(commands: CommandService, read: ReadModel, auth: Authenticator) -> Self {
        Self {
            commands,
            read,
            auth,
        }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/cases", post(cases::file).get(cases::list))
        .route("/v1/cases/{id}", get(cases::detail))
        .route("/v1/cases/{id}/actions/{action}", post(cases::act))
        .route("/v1/cases/{id}/history", get(cases::history))
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/status", get(status))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// `GET /v1/status`: the log's head, how far the read model has projected it, and the lag
/// between them, for monitoring. Needs no token: it shows no case data.
async fn status(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let head = state.commands.log().head().await?;
    let projected = state.read.projected();
    Ok(axum::Json(serde_json::json!({
        "log_head": head,
        "projected": projected,
        "lag": head.saturating_sub(projected),
        "read_model": state.read.dialect(),
    })))
}

#[cfg(test)]
mod tests;
