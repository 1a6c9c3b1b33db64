//! `GET /v1/events`: server-sent events of the commits within the caller's reach, in log order.
//!
//! Each event is one commit: `id` its log position, `event: commit`, the data its case, number,
//! kind, version, actor, command and events. A client reconnecting with `Last-Event-ID` (or
//! `?after=`) gets every later commit within its reach once: positions are the log's global order
//! and the stream walks them in order. Reach is judged by the case as it is now (a case moved into
//! a grid worker's grids streams from then on). People in events are never shown in clear here:
//! masked, or withheld where the caller may not see them at all; the case itself shows them to
//! those who may, and records that they did.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use docket_commands::Actor;
use docket_commands::Read;
use docket_projections::StreamedCommit;
use serde::Deserialize;

use crate::extract::{Caller, Params, TokenExpires};
use crate::{ApiError, AppState};

/// Commits read from the read model at a time.
const PAGE: u32 = 200;
/// How long the stream waits for the read model to move before looking again.
const IDLE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventParams {
    /// Start after this log position (as `Last-Event-ID`, which wins when both are given).
    after: Option<u64>,
}

/// Where the stream starts: after the `Last-Event-ID` of a reconnecting client, after `?after=`,
/// or at the head (only what happens from now on).
fn start(state: &AppState, headers: &HeaderMap, params: &EventParams) -> Result<u64, ApiError> {
    if let Some(last) = headers.get("last-event-id") {
        return last
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::BadRequest {
                code: "invalid-last-event-id",
                detail: "Last-Event-ID must be the id of an event this stream sent (a log \
                         position)"
                    .to_owned(),
            });
    }
    Ok(params.after.unwrap_or_else(|| state.read.projected()))
}

struct Cursor {
    /// Counts the stream among those open while it lives.
    _open: Option<OpenStream>,
    state: AppState,
    actor: Actor,
    /// The stream ends when the token that opened it expires; the client reconnects with a
    /// new one and its last id.
    expires: jiff::Timestamp,
    after: u64,
    ready: VecDeque<Event>,
}

/// One event stream open: counted in `docket_event_streams_open` until it ends.
struct OpenStream;

impl OpenStream {
    fn new() -> Self {
        metrics::gauge!("docket_event_streams_open").increment(1.0);
        OpenStream
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("docket_event_streams_open").decrement(1.0);
    }
}

impl Cursor {
    /// The next event, waiting for the read model as long as it takes.
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Cursor)> {
        loop {
            let left = self.expires.duration_since(jiff::Timestamp::now());
            if left <= jiff::SignedDuration::ZERO {
                tracing::debug!("event stream ends: its token has expired");
                return None;
            }
            if let Some(event) = self.ready.pop_front() {
                return Some((Ok(event), self));
            }
            let upto = self.state.read.projected();
            if upto <= self.after {
                let wait = Duration::try_from(left).map_or(IDLE, |left| left.min(IDLE));
                self.state.read.wait_until(self.after + 1, wait).await;
                continue;
            }
            let page = self
                .state
                .read
                .commits_after(
                    self.actor.tenant.as_str(),
                    &self.actor.reach(),
                    self.after,
                    upto,
                    PAGE,
                )
                .await;
            let commits = match page {
                Ok(commits) => commits,
                Err(e) => {
                    // The client reconnects with its last id: nothing is lost by ending here.
                    tracing::warn!(error = %e, "event stream ends: the read model failed");
                    return None;
                }
            };
            // A full page may stop short of `upto`: continue from its last commit.
            self.after = match commits.last() {
                Some(last) if commits.len() == PAGE as usize => last.position,
                _ => upto,
            };
            for commit in commits {
                match self.event(commit).await {
                    Ok(event) => self.ready.push_back(event),
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream ends: a commit cannot be shown");
                        return None;
                    }
                }
            }
        }
    }

    async fn event(&self, commit: StreamedCommit) -> Result<Event, String> {
        let mut data = serde_json::to_value(&commit).map_err(|e| e.to_string())?;
        if let Some(vault) = self.state.commands.vault() {
            let tenant = self.actor.tenant.as_str();
            let shown = self.actor.disclosure(&commit.case, Read::Events);
            vault
                .render(tenant, &mut data, shown)
                .await
                .map_err(|e| e.to_string())?;
            let texts = self.actor.text_disclosure(&commit.case, Read::Events);
            vault
                .render_texts(tenant, commit.case_id, &mut data, texts)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(Event::default()
            .id(commit.position.to_string())
            .event("commit")
            .data(data.to_string()))
    }
}

/// `GET /v1/events`: the stream.
#[utoipa::path(
    get, path = "/v1/events", tag = "events",
    params(EventParams, ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event (a log position): sent by a reconnecting client.")),
    responses(
        (status = 200, description = "A stream of `commit` events, each `id` its log position, until the token expires.", content_type = "text/event-stream", body = String),
        (status = 400, description = "A bad `Last-Event-ID` or query parameter."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn stream(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Extension(TokenExpires(expires)): Extension<TokenExpires>,
    in_process: Option<Extension<crate::metrics::InProcess>>,
    headers: HeaderMap,
    Params(params): Params<EventParams>,
) -> Result<impl IntoResponse, ApiError> {
    // A token within its leeway opens no stream: it would end at once, and the client would
    // reconnect in a loop with the same token.
    if expires <= jiff::Timestamp::now() {
        return Err(ApiError::Unauthenticated(crate::auth::AuthError::Invalid(
            "the token has expired: an event stream is opened with a token still valid".to_owned(),
        )));
    }
    let after = start(&state, &headers, &params)?;
    let cursor = Cursor {
        // A gRPC Watch counts itself.
        _open: in_process.is_none().then(OpenStream::new),
        state,
        actor,
        expires,
        after,
        ready: VecDeque::new(),
    };
    let events = futures_util::stream::unfold(cursor, Cursor::next);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(IDLE).text("alive")))
}
