//! `/v1/persons`: person files (一人一档) and the record of who saw a person's details.
//!
//! A person is known by a pseudonymous id; the same resident ID number gives the same id within
//! a tenant (through a keyed hash: the number itself is never stored). A person file lists every
//! case naming the person that the caller reaches and that shows the person to them (the others
//! within reach are left out, those outside it counted), flags repeat petitions, and shows the
//! details as the newest of those cases that shows them best recorded them, as that case shows
//! them (the one disclosure rule, `docket_commands::Read`). Files hold personal data, so only
//! petition officers and supervisors open them, and each showing in clear is recorded; only
//! supervisors read that record.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use docket_commands::{Actor, Read, shows_repeats};
use docket_domain::person::{Disclosure, PersonId, is_resident_id_number};
use docket_domain::{InvalidInput, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cases::{AtPosition, record_views, wait_for_position};
use crate::extract::{Caller, JsonBody, Params};
use crate::{ApiError, AppState};

/// A person file lists at most this many cases, newest first.
const FILE_LIMIT: u32 = 500;

/// Who opens person files: the roles that see petitioners in clear across the tenant.
const FILE_READERS: &[Role] = &[Role::PetitionOfficer, Role::Supervisor];

fn require(actor: &Actor, roles: &[Role], what: &str) -> Result<(), ApiError> {
    if roles.contains(&actor.role) {
        return Ok(());
    }
    let names: Vec<String> = roles.iter().map(ToString::to_string).collect();
    Err(ApiError::RoleNotPermitted(format!(
        "{what} are for {} only, not {}",
        names.join(" and "),
        actor.role
    )))
}

fn parse_person(raw: &str) -> Result<PersonId, ApiError> {
    raw.parse().map_err(|_| ApiError::BadRequest {
        code: "invalid-person-id",
        detail: format!(
            "{:?} is not a person id (a UUID)",
            docket_domain::shown(raw)
        ),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Lookup {
    id_number: String,
}

/// `POST /v1/persons/find` `{"id_number": "..."}`: the person file of whoever filed with this
/// resident ID number. A POST, so the number never appears in a URL or an access log.
#[utoipa::path(
    post, path = "/v1/persons/find", tag = "persons",
    params(AtPosition),
    request_body(content = crate::openapi::PersonLookup),
    responses(
        (status = 200, description = "The person file.", body = crate::openapi::PersonFile),
        (status = 400, description = "A malformed body."),
        (status = 404, description = "No one filed with this number in the tenant."),
        (status = 413, description = "The body is over 1 MiB."),
        (status = 415, description = "The body is not JSON."),
        (status = 422, description = "Not a resident ID number."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn find(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Params(at): Params<AtPosition>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    require(&actor, FILE_READERS, "person files")?;
    wait_for_position(&state, at.min_position).await?;
    let lookup: Lookup = serde_json::from_value(body).map_err(|e| {
        ApiError::InvalidInput(InvalidInput {
            field: None,
            message: format!("a lookup is {{\"id_number\": \"...\"}}: {e}"),
        })
    })?;
    let id_number = lookup.id_number.trim();
    if !is_resident_id_number(id_number) {
        return Err(ApiError::InvalidInput(InvalidInput {
            field: Some("id_number".to_owned()),
            message: "id_number must be a resident ID number: 17 digits and their check character (GB 11643)".to_owned(),
        }));
    }
    let vault = state.commands.vault().ok_or(ApiError::PersonNotFound)?;
    let person = vault
        .find(actor.tenant.as_str(), id_number)
        .await
        .map_err(ApiError::from)?
        .ok_or(ApiError::PersonNotFound)?;
    person_file(&state, &actor, person).await
}

/// `GET /v1/persons/{person}`: the person file.
#[utoipa::path(
    get, path = "/v1/persons/{id}", tag = "persons",
    params(("id" = uuid::Uuid, Path, description = "The person id."), AtPosition),
    responses(
        (status = 200, description = "The person file.", body = crate::openapi::PersonFile),
        (status = 400, description = "A malformed person id."),
        (status = 404, description = "No such person in the tenant."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn file(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    Params(at): Params<AtPosition>,
) -> Result<Response, ApiError> {
    require(&actor, FILE_READERS, "person files")?;
    let person = parse_person(&id)?;
    wait_for_position(&state, at.min_position).await?;
    person_file(&state, &actor, person).await
}

/// The sealed details of `person` in a case's state, as the case last recorded them.
fn sealed_details(state: &docket_domain::CaseState, person: PersonId) -> Option<Value> {
    fn walk(value: &Value, person: &str) -> Option<Value> {
        match value {
            Value::Object(map) => {
                if map.get("person").and_then(Value::as_str) == Some(person)
                    && map.contains_key("sealed")
                {
                    return Some(value.clone());
                }
                map.values().find_map(|v| walk(v, person))
            }
            Value::Array(items) => items.iter().find_map(|v| walk(v, person)),
            _ => None,
        }
    }
    walk(&serde_json::to_value(state).ok()?, &person.to_string())
}

async fn person_file(
    state: &AppState,
    actor: &Actor,
    person: PersonId,
) -> Result<Response, ApiError> {
    let tenant = actor.tenant.as_str();
    let mut cases = state
        .read
        .person_cases(tenant, person.as_uuid(), FILE_LIMIT + 1)
        .await?;
    let more = cases.len() > FILE_LIMIT as usize;
    cases.truncate(FILE_LIMIT as usize);
    let ids: Vec<uuid::Uuid> = cases.iter().map(|c| c.id).collect();
    let states = state.read.case_states(tenant, &ids).await?;
    // The cases within reach that show the person at all (the others counted, or, where the
    // person is withheld, not even that); the details as the newest of them that shows the
    // person best recorded them, and shown that way.
    let reach = actor.reach();
    let mut outside_reach = 0;
    let mut shown_from: Option<(&docket_domain::CaseState, Disclosure)> = None;
    let mut listed = Vec::with_capacity(cases.len());
    for case in &cases {
        let Some(case_state) = states.get(&case.id).filter(|s| reach.covers(s)) else {
            outside_reach += 1;
            continue;
        };
        let disclosure = actor.disclosure(case_state, Read::PersonFile);
        if !shows_repeats(disclosure) {
            continue;
        }
        if shown_from
            .is_none_or(|(_, best)| best != Disclosure::Clear && disclosure == Disclosure::Clear)
        {
            shown_from = Some((case_state, disclosure));
        }
        listed.push(case);
    }
    let Some((from, disclosure)) = shown_from else {
        return Err(ApiError::PersonNotFound);
    };
    let mut details = sealed_details(from, person).unwrap_or(Value::Null);
    if let Some(vault) = state.commands.vault() {
        let shown = vault
            .render(tenant, &mut details, disclosure)
            .await
            .map_err(ApiError::from)?;
        record_views(state, actor, shown, None, Read::PersonFile.name()).await?;
    }
    let petitions = listed.iter().filter(|c| c.kind == "petition").count();
    let repeats = listed.iter().filter(|c| c.repeat).count();
    Ok(Json(json!({
        "person": person,
        "details": details,
        "petitions": petitions,
        "repeat_petitions": repeats,
        "cases": listed,
        "cases_outside_reach": outside_reach,
        "more": more,
    }))
    .into_response())
}

/// `GET /v1/persons/{person}/views`: every time the person's details were shown in clear:
/// who, in which role, through which read, about which case, when. Supervisors only.
#[utoipa::path(
    get, path = "/v1/persons/{id}/views", tag = "persons",
    params(("id" = uuid::Uuid, Path, description = "The person id.")),
    responses(
        (status = 200, description = "Every time the person's details were shown in clear.", body = crate::openapi::PersonViews),
        (status = 400, description = "A malformed person id."),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn views(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require(
        &actor,
        &[Role::Supervisor],
        "the records of who saw a person's details",
    )?;
    let person = parse_person(&id)?;
    let views = match state.commands.vault() {
        Some(vault) => vault
            .views(actor.tenant.as_str(), person)
            .await
            .map_err(ApiError::from)?,
        None => Vec::new(),
    };
    let views: Vec<Value> = views
        .into_iter()
        .map(|v| {
            json!({
                "viewer": v.viewer,
                "role": v.role,
                "via": v.via,
                "case": v.case_id,
                "at": v.viewed_at,
            })
        })
        .collect();
    Ok(Json(json!({ "person": person, "views": views })).into_response())
}
