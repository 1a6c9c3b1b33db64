//! `/v1/directory`: the tenant's communities, grids, units and categories. Everyone of the
//! tenant reads it (filing forms choose from it); only the admin keeps it. Tokens naming a unit
//! or grid it does not hold in service are refused here, for every route.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use docket_commands::Actor;
use docket_domain::directory::DirectoryCommand;
use docket_projections::DirectoryEntry;
use serde_json::{Value, json};

use crate::cases::{AtPosition, wait_for_position};
use crate::extract::{Caller, IdempotencyKey, JsonBody, Params};
use crate::{ApiError, AppState};

/// Refuses a token whose unit or grids the tenant's directory does not hold in service: a
/// typo in a token would otherwise act for a unit no case is ever routed to.
pub(crate) async fn check_token(state: &AppState, actor: &Actor) -> Result<(), ApiError> {
    if actor.unit.is_none() && actor.grids.is_empty() {
        return Ok(());
    }
    let kept = state.commands.directory(&actor.tenant).await?;
    let directory = kept.directory.as_ref();
    let tenant = &actor.tenant;
    if let Some(unit) = &actor.unit {
        match directory.unit(unit) {
            Some(u) if !u.retired => {}
            Some(_) => {
                return Err(ApiError::NotInDirectory(format!(
                    "the token's unit \"{unit}\" is retired from {tenant}'s directory; ask for a token of the unit that took over"
                )));
            }
            None => {
                return Err(ApiError::NotInDirectory(format!(
                    "the token's unit \"{unit}\" is not in {tenant}'s directory; the admin adds it, or the token is issued again with the right unit"
                )));
            }
        }
    }
    for grid in &actor.grids {
        match directory.grid(grid) {
            Some(g) if !g.retired => {}
            Some(_) => {
                return Err(ApiError::NotInDirectory(format!(
                    "the token's grid \"{grid}\" is retired from {tenant}'s directory"
                )));
            }
            None => {
                return Err(ApiError::NotInDirectory(format!(
                    "the token's grid \"{grid}\" is not in {tenant}'s directory; the admin adds it, or the token is issued again with the right grids"
                )));
            }
        }
    }
    Ok(())
}

/// `GET /v1/directory`: every entry, retired ones too, grouped by what it is.
#[utoipa::path(
    get, path = "/v1/directory", tag = "directory",
    params(AtPosition),
    responses(
        (status = 200, description = "Every entry, retired ones too.", body = crate::openapi::DirectoryList),
        (status = 400, description = "A bad query parameter."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Params(p): Params<AtPosition>,
) -> Result<Response, ApiError> {
    wait_for_position(&state, p.min_position).await?;
    let entries = state.read.directory(actor.tenant.as_str()).await?;
    let group = |what: &str| -> Vec<&DirectoryEntry> {
        entries.iter().filter(|e| e.entry == what).collect()
    };
    Ok(Json(json!({
        "communities": group("community"),
        "grids": group("grid"),
        "units": group("unit"),
        "categories": group("category"),
        "position": state.read.projected(),
    }))
    .into_response())
}

/// `POST /v1/directory/actions/{action}`: the admin adds, renames, retires or updates an entry.
#[utoipa::path(
    post, path = "/v1/directory/actions/{action}", tag = "directory",
    params(("action" = String, Path, description = "What to do to the directory."), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body answer the first answer again (with `Idempotent-Replayed: true`); the same key with another body answers 422. 1 to 255 visible ASCII characters.")),
    responses(
        (status = 200, description = "Recorded.", body = crate::openapi::DirectoryAnswer, headers(("Idempotent-Replayed" = String, description = "`true` when this is the answer to an earlier request with the same Idempotency-Key."))),
        (status = 400, description = "A malformed body or header."),
        (status = 404, description = "No such directory action."),
        (status = 409, description = "The directory refuses the change in its state, or is quarantined."),
        (status = 413, description = "The body is over 1 MiB."),
        (status = 415, description = "The body is not JSON."),
        (status = 422, description = "The body does not make a valid change."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn keep(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(action): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    if actor.role != docket_domain::Role::Admin {
        return Err(ApiError::RoleNotPermitted(format!(
            "the directory is kept by the tenant's admin; a {} reads it (GET /v1/directory)",
            actor.role
        )));
    }
    if !DirectoryCommand::ACTIONS.contains(&action.as_str()) {
        return Err(ApiError::UnknownAction { action });
    }
    let command = DirectoryCommand::parse(&action, body).map_err(ApiError::InvalidInput)?;
    let outcome = state
        .commands
        .keep_directory(&actor, &command, key.as_deref())
        .await?;
    let mut headers = HeaderMap::new();
    if outcome.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    let body = json!({
        "commit_id": outcome.commit_id,
        "version": outcome.version,
        "position": outcome.position,
        "recorded_at": outcome.recorded_at,
        "events": outcome.events,
    });
    Ok((headers, Json(body)).into_response())
}

/// The names of a tenant's directory entries, to show beside the ids cases carry.
#[derive(Debug, Default)]
pub(crate) struct Names {
    by_id: HashMap<(String, String, String), String>,
}

impl Names {
    pub(crate) async fn of(state: &AppState, tenant: &str) -> Result<Names, ApiError> {
        let entries = state.read.directory(tenant).await?;
        Ok(Names {
            by_id: entries
                .into_iter()
                .map(|e| ((e.entry, e.kind.unwrap_or_default(), e.id), e.name))
                .collect(),
        })
    }

    fn name(&self, entry: &str, kind: &str, id: Option<&str>) -> Value {
        id.and_then(|id| {
            self.by_id
                .get(&(entry.to_owned(), kind.to_owned(), id.to_owned()))
        })
        .map_or(Value::Null, |n| json!(n))
    }

    /// A unit's name, as the directory names it now.
    pub(crate) fn unit(&self, id: &str) -> Option<String> {
        self.by_id
            .get(&("unit".to_owned(), String::new(), id.to_owned()))
            .cloned()
    }

    /// The names beside a case's ids: its community, grid, lead unit, co-handling units (when
    /// given) and category, as the directory names them now.
    pub(crate) fn of_case(
        &self,
        kind: &str,
        community: &str,
        grid: Option<&str>,
        lead_unit: Option<&str>,
        co_handlers: Option<&[&str]>,
        category: &str,
    ) -> Value {
        let mut names = json!({
            "community": self.name("community", "", Some(community)),
            "grid": self.name("grid", "", grid),
            "lead_unit": self.name("unit", "", lead_unit),
            "category": self.name("category", kind, Some(category)),
        });
        if let Some(units) = co_handlers {
            let co: serde_json::Map<String, Value> = units
                .iter()
                .map(|u| ((*u).to_owned(), self.name("unit", "", Some(u))))
                .collect();
            names["co_handlers"] = Value::Object(co);
        }
        names
    }
}
