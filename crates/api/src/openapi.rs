//! The API's contract: an OpenAPI 3.1 document generated from the code. The routes carry their
//! `#[utoipa::path]` beside the handler; the request bodies are the domain's own command types
//! (each action's input is the type the domain parses it into); the problem codes are
//! `problem::CODES`. `/openapi.json` serves it and `/docs` shows it in Swagger UI, whose assets
//! are inside the binary. `docs/openapi.json` is a copy, kept equal by a test.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::OpenApi;
use uuid::Uuid;

use crate::problem::CODES;

/// What Swagger UI is served at.
pub(crate) const DOCS_PATH: &str = "/docs";
/// Where the document is served.
pub(crate) const DOCUMENT_PATH: &str = "/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Docket",
        description = "Case and grievance handling for a sub-district office: disputes, \
            petitions, hazards, stability-risk events and livelihood requests, each through its \
            state machine to closure. Every command is a commit of the event log; every figure \
            can be traced to the cases it counts.\n\nErrors are `application/problem+json` \
            (RFC 9457) with a stable `code`; the codes each status can carry are listed in its \
            schema.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::cases::file,
        crate::cases::list,
        crate::cases::detail,
        crate::cases::act,
        crate::cases::history,
        crate::cases::commits,
        crate::evidence::upload,
        crate::evidence::file,
        crate::directory::list,
        crate::directory::keep,
        crate::stats::stats,
        crate::stats::units,
        crate::stats::dispatches,
        crate::events::stream,
        crate::audit::start,
        crate::audit::list,
        crate::audit::show,
        crate::audit::quarantine,
        crate::persons::find,
        crate::persons::file,
        crate::persons::views,
        crate::healthz,
        crate::status,
        crate::readyz,
        crate::metrics::metrics,
        document_route,
        docs_route,
        docs_redirect_route,
        docs_file_route,
    ),
    components(schemas(
        docket_domain::CaseKind,
        docket_domain::Role,
        docket_projections::CaseSummary,
        CommandAnswer,
        CaseDetail,
        CaseList,
        CaseHistory,
        CaseCommits,
        docket_domain::evidence::Evidence,
        DirectoryList,
        DirectoryAnswer,
        Figures,
        UnitTable,
        Dispatches,
        AuditRun,
        AuditRuns,
        Quarantine,
        PersonLookup,
        PersonFile,
        PersonViews,
        Status,
        Ready,
    )),
    tags(
        (name = "cases", description = "File cases, act on them, read them."),
        (name = "directory", description = "The tenant's communities, grids, units and categories."),
        (name = "figures", description = "What supervisors count, each figure traced to its cases."),
        (name = "events", description = "Commits as they happen, as server-sent events."),
        (name = "audit", description = "Whether the read model holds what the log says."),
        (name = "persons", description = "Person files and who saw a person's details."),
        (name = "operations", description = "Liveness, readiness, status and metrics."),
    ),
)]
struct ApiDoc;

/// The document as `/openapi.json` serves it.
pub fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
        add_command_bodies(&mut doc);
        add_listed_case(&mut doc);
        add_problems(&mut doc);
        add_security(&mut doc);
        doc
    });
    &DOCUMENT
}

/// The document, pretty-printed as `docs/openapi.json` keeps it.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(document()).expect("the document serializes");
    text.push('\n');
    text
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "This document.", content_type = "application/json", body = Object)),
)]
pub(crate) async fn document_route() -> Json<&'static Value> {
    Json(document())
}

/// `GET /docs/`: the document in Swagger UI, served from the binary (nothing loads from
/// elsewhere).
#[utoipa::path(
    get,
    path = "/docs/",
    tag = "operations",
    responses((status = 200, description = "Swagger UI.", content_type = "text/html", body = String)),
)]
#[allow(dead_code, reason = "documents the route Swagger UI's router serves")]
async fn docs_route() {}

/// `GET /docs`: to `/docs/`.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "operations",
    responses((status = 303, description = "To Swagger UI at `/docs/`.", headers(("Location" = String, description = "`/docs/`")))),
)]
#[allow(dead_code, reason = "documents the route Swagger UI's router serves")]
async fn docs_redirect_route() {}

/// `GET /docs/{file}`: Swagger UI's scripts and styles.
#[utoipa::path(
    get,
    path = "/docs/{file}",
    tag = "operations",
    params(("file" = String, Path, description = "A file of Swagger UI.")),
    responses((status = 200, description = "The file.", content(
        (String = "text/javascript"), (String = "text/css"), (String = "text/html"), (String = "image/png")
    ))),
)]
#[allow(dead_code, reason = "documents the route Swagger UI's router serves")]
async fn docs_file_route() {}

/// Swagger UI at `/docs`, reading the document from `/openapi.json`.
pub(crate) fn docs<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    // No validator badge: Swagger UI would send the document's address to an online validator.
    utoipa_swagger_ui::SwaggerUi::new(DOCS_PATH)
        .config(utoipa_swagger_ui::Config::from(DOCUMENT_PATH).validator_url("none"))
        .into()
}

// ---- the command bodies ---------------------------------------------------------------------

/// The input schema of every action, per kind, as the domain's command enums describe them: each
/// is tagged `{"action": …, "input": …}`, and the input is what the HTTP body carries.
fn action_inputs<T: utoipa::ToSchema>(schemas: &mut Map<String, Value>) -> Vec<(String, Value)> {
    let mut nested = Vec::new();
    T::schemas(&mut nested);
    for (name, schema) in nested {
        schemas.insert(
            name,
            serde_json::to_value(schema).expect("a schema serializes"),
        );
    }
    let command = serde_json::to_value(T::schema()).expect("a schema serializes");
    let variants = command["oneOf"].as_array().cloned().unwrap_or_default();
    variants
        .into_iter()
        .map(|variant| {
            let action = variant["properties"]["action"]["enum"][0]
                .as_str()
                .expect("each variant names its action")
                .to_owned();
            let input = variant["properties"]["input"].clone();
            (action, input)
        })
        .collect()
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// Adds the filing of each kind (its filing action's input and `kind`), the body of each
/// action, and the directory's actions, to the operations that take them.
fn add_command_bodies(doc: &mut Value) {
    use docket_domain::{common, directory, dispute, hazard, livelihood, petition, risk_event};
    let mut schemas = doc["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let kinds: Vec<(&str, Vec<(String, Value)>)> = vec![
        (
            "dispute",
            action_inputs::<dispute::DisputeCommand>(&mut schemas),
        ),
        (
            "petition",
            action_inputs::<petition::PetitionCommand>(&mut schemas),
        ),
        (
            "hazard",
            action_inputs::<hazard::HazardCommand>(&mut schemas),
        ),
        (
            "risk_event",
            action_inputs::<risk_event::RiskCommand>(&mut schemas),
        ),
        (
            "livelihood",
            action_inputs::<livelihood::LivelihoodCommand>(&mut schemas),
        ),
    ];
    debug_assert_eq!(kinds.len(), docket_domain::CaseKind::ALL.len());
    let common = action_inputs::<common::CommonCommand>(&mut schemas);
    let keeping = action_inputs::<directory::DirectoryCommand>(&mut schemas);

    // A filing: the filing action's input with the kind beside it.
    let mut filings = Vec::new();
    let mut mapping = Map::new();
    for (kind, actions) in &kinds {
        let filing_action = kind
            .parse::<docket_domain::CaseKind>()
            .expect("a kind")
            .filing_action();
        let (_, input) = actions
            .iter()
            .find(|(a, _)| a == filing_action)
            .expect("each kind has its filing action");
        let mut filing = resolve(input, &schemas);
        filing["properties"]
            .as_object_mut()
            .expect("an input has properties")
            .insert(
                "kind".to_owned(),
                json!({ "type": "string", "const": kind }),
            );
        let required = filing["required"].as_array_mut().expect("required fields");
        required.insert(0, json!("kind"));
        filing["description"] = json!(format!(
            "Files a {kind}: the input of its `{filing_action}` action, with `kind`."
        ));
        let name = format!("filing.{kind}");
        schemas.insert(name.clone(), filing);
        mapping.insert(
            (*kind).to_owned(),
            json!(format!("#/components/schemas/{name}")),
        );
        filings.push(schema_ref(&name));
    }
    schemas.insert(
        "Filing".to_owned(),
        json!({
            "description": "A filing of any kind, told apart by `kind`.",
            "oneOf": filings,
            "discriminator": { "propertyName": "kind", "mapping": mapping },
        }),
    );

    // The body of an action: its input, which depends on the case's kind for actions of the
    // kinds' own tables; the common actions take the same input whatever the kind.
    let mut by_action: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    for (kind, actions) in &kinds {
        for (action, input) in actions {
            by_action
                .entry(action.clone())
                .or_default()
                .push(((*kind).to_owned(), input.clone()));
        }
    }
    for (action, input) in &common {
        by_action
            .entry(action.clone())
            .or_default()
            .push(("any".to_owned(), input.clone()));
    }
    let mut action_bodies = Vec::new();
    let mut table = String::from(
        "The body is the input of the action named in the path; the input schema of each \
         action, by kind:\n\n| action | kind | input |\n|---|---|---|\n",
    );
    for (action, inputs) in &by_action {
        for (kind, input) in inputs {
            let name = input["$ref"]
                .as_str()
                .and_then(|r| r.rsplit('/').next())
                .unwrap_or("(inline)");
            table.push_str(&format!("| `{action}` | {kind} | `{name}` |\n"));
            if !action_bodies.contains(input) {
                action_bodies.push(input.clone());
            }
        }
    }
    let action_names: Vec<&String> = by_action.keys().collect();
    let keeping_names: Vec<&String> = keeping.iter().map(|(a, _)| a).collect();
    let keeping_bodies: Vec<Value> = keeping.iter().map(|(_, input)| input.clone()).collect();
    doc["components"]["schemas"] = Value::Object(schemas);

    let filing = &mut doc["paths"]["/v1/cases"]["post"];
    filing["requestBody"] = json!({
        "required": true,
        "content": { "application/json": { "schema": schema_ref("Filing") } },
    });
    let act = &mut doc["paths"]["/v1/cases/{id}/actions/{action}"]["post"];
    act["requestBody"] = json!({
        "description": table,
        "required": false,
        "content": { "application/json": { "schema": { "anyOf": action_bodies } } },
    });
    set_path_enum(act, "action", &action_names);
    // The same table for programs (the console builds each action's form from it): by kind
    // (`any` for the actions every case has), each action's input schema.
    let mut inputs_by_kind = Map::new();
    for (action, inputs) in &by_action {
        for (kind, input) in inputs {
            inputs_by_kind
                .entry(kind.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("an object")
                .insert(action.clone(), input.clone());
        }
    }
    act["x-docket-action-inputs"] = Value::Object(inputs_by_kind);
    let keep = &mut doc["paths"]["/v1/directory/actions/{action}"]["post"];
    keep["requestBody"] = json!({
        "required": true,
        "content": { "application/json": { "schema": { "anyOf": keeping_bodies } } },
    });
    set_path_enum(keep, "action", &keeping_names);
}

/// A case as a list shows it: the read model's line (`CaseSummary`) with the names of its ids,
/// and `repeat` null where the caller may not know it.
fn add_listed_case(doc: &mut Value) {
    let schemas = doc["components"]["schemas"]
        .as_object_mut()
        .expect("schemas");
    let mut listed = schemas["CaseSummary"].clone();
    listed["description"] = json!(
        "A case as a list shows it: `repeat` is null where the caller may not know it, and \
         `names` gives the names of the ids it carries."
    );
    listed["additionalProperties"] = json!(false);
    listed["properties"]["repeat"] = json!({ "type": ["boolean", "null"] });
    listed["properties"]["names"] = json!({ "type": "object" });
    listed["required"]
        .as_array_mut()
        .expect("required fields")
        .push(json!("names"));
    schemas.insert("ListedCase".to_owned(), listed);
    schemas
        .remove("CaseSummary")
        .expect("CaseSummary was there");
    doc["components"]["schemas"]["CaseList"]["properties"]["items"]["items"] =
        schema_ref("ListedCase");
}

/// The schema a reference names, or the schema itself.
fn resolve(schema: &Value, schemas: &Map<String, Value>) -> Value {
    match schema["$ref"].as_str() {
        Some(r) => schemas[r.rsplit('/').next().expect("a name")].clone(),
        None => schema.clone(),
    }
}

fn set_path_enum(operation: &mut Value, parameter: &str, values: &[&String]) {
    for p in operation["parameters"].as_array_mut().into_iter().flatten() {
        if p["name"] == parameter {
            p["schema"] = json!({ "type": "string", "enum": values });
        }
    }
}

// ---- problems -------------------------------------------------------------------------------

/// Gives each error response the problem schema of its status, whose `code` lists the codes
/// that status carries; and adds to every operation that takes a token the answers any of them
/// can give (401, 403 for a token the directory no longer holds, 429, 500, 503).
fn add_problems(doc: &mut Value) {
    let mut statuses: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for (status, code) in CODES {
        statuses.entry(*status).or_default().push(code);
    }
    let schemas = doc["components"]["schemas"]
        .as_object_mut()
        .expect("schemas");
    schemas.insert(
        "Problem".to_owned(),
        json!({
            "description": "An error (RFC 9457), with a stable `code` and what the code adds.",
            "type": "object",
            "required": ["type", "title", "status", "code", "detail"],
            "properties": {
                "type": { "type": "string", "description": "`urn:docket:problem:` and the code." },
                "title": { "type": "string" },
                "status": { "type": "integer", "minimum": 400, "maximum": 599 },
                "code": { "type": "string" },
                "detail": { "type": "string" },
                "field": { "type": "string", "description": "The input field at fault." },
                "state": { "type": "string", "description": "The case's state, when the state refuses." },
                "role": { "type": "string" },
                "acting_for": { "type": ["string", "null"] },
                "allowed_actions": { "type": "array", "items": { "type": "string" } },
                "reason": { "type": "string" },
                "expected_version": { "type": "integer", "minimum": 0 },
                "current_version": { "type": "integer", "minimum": 0 },
                "action": { "type": "string" },
                "run": { "type": "string", "format": "uuid" },
            },
        }),
    );
    for (status, codes) in &statuses {
        schemas.insert(
            format!("Problem{status}"),
            json!({
                "allOf": [
                    schema_ref("Problem"),
                    {
                        "type": "object",
                        "properties": {
                            "status": { "const": status },
                            "code": { "enum": codes },
                        },
                    },
                ],
            }),
        );
    }
    let paths = doc["paths"].as_object_mut().expect("paths");
    for (_, item) in paths.iter_mut() {
        for (_, operation) in item.as_object_mut().expect("a path item").iter_mut() {
            let secured = operation.get("security").is_some();
            let responses = operation["responses"].as_object_mut().expect("responses");
            if secured {
                for (status, why) in [
                    (401, "No token, or one that does not verify."),
                    (
                        403,
                        "Not permitted: the role, the reach, or a token naming what the directory does not hold.",
                    ),
                    (
                        429,
                        "This token has made too many requests; `Retry-After` says when to try again.",
                    ),
                    (500, "A fault of ours, logged."),
                    (
                        503,
                        "A store Docket depends on does not answer; `Retry-After` says when to try again.",
                    ),
                ] {
                    responses
                        .entry(status.to_string())
                        .or_insert_with(|| json!({ "description": why }));
                }
            }
            for (status, response) in responses.iter_mut() {
                let Ok(status) = status.parse::<u16>() else {
                    continue;
                };
                if status < 400 {
                    continue;
                }
                assert!(
                    statuses.contains_key(&status),
                    "status {status} is answered but no problem code has it"
                );
                response["content"] = json!({
                    "application/problem+json": { "schema": schema_ref(&format!("Problem{status}")) },
                });
                if matches!(status, 429 | 503) {
                    response["headers"] = json!({
                        "Retry-After": {
                            "description": "Seconds to wait before trying again.",
                            "schema": { "type": "integer", "minimum": 1 },
                        },
                    });
                }
            }
        }
    }
}

fn add_security(doc: &mut Value) {
    doc["components"]["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A token naming the tenant, the user, the role and (for a grid \
                worker or a unit's handler) the grids or the unit; `docket token` issues one.",
        },
    });
}

// ---- the answers ----------------------------------------------------------------------------
//
// What the handlers answer, as types: the handlers build their JSON where the data is, and the
// end-to-end suite checks every answer it receives against these (`additionalProperties: false`
// at the top level, so an undocumented field fails it).

/// What a filing or an action answers: the commit it recorded and the case's new state.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommandAnswer {
    case_id: docket_domain::CaseId,
    kind: docket_domain::CaseKind,
    commit_id: Uuid,
    /// The case's version after this commit; its `ETag`.
    version: u64,
    /// The commit's log position: pass it as `min_position` to read your own write.
    position: u64,
    #[schema(value_type = String, format = DateTime)]
    recorded_at: String,
    /// The case's state after the commit.
    status: String,
    /// The events recorded, each `{"type", "data"}`.
    events: Vec<Value>,
    /// The case number (a filing only): null when the read model has not handed it out yet.
    #[schema(nullable)]
    number: Option<String>,
}

/// A case as the caller may see it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseDetail {
    id: docket_domain::CaseId,
    #[schema(nullable)]
    number: Option<String>,
    kind: docket_domain::CaseKind,
    status: String,
    closed: bool,
    /// How a closed case ended: `resolved`, `not_resolved` or `duplicate`.
    #[schema(nullable)]
    outcome: Option<String>,
    version: u64,
    position: u64,
    /// The current step, when it is due, whether it is overdue, the deadlines missed, the
    /// extensions granted and any pending.
    deadline: Value,
    #[schema(nullable)]
    closed_on_time: Option<bool>,
    #[schema(value_type = String, format = DateTime)]
    filed_at: String,
    #[schema(value_type = String, format = DateTime)]
    updated_at: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    closed_at: Option<String>,
    #[schema(nullable)]
    lead_unit: Option<String>,
    #[schema(nullable)]
    assignee: Option<String>,
    co_handlers: Vec<String>,
    supervision: Vec<Value>,
    /// The linked cases within the caller's reach.
    links: Vec<Value>,
    /// How many linked cases are outside the caller's reach: counted, not shown.
    links_outside_reach: u64,
    /// Whether the case repeats an earlier one; null where the caller may not know.
    #[schema(nullable)]
    repeat: Option<bool>,
    repeat_of: Vec<Value>,
    repeat_of_outside_reach: u64,
    return_visits: Vec<Value>,
    /// The actions the caller may take now.
    allowed_actions: Vec<String>,
    /// The names of the ids the case carries (community, grid, units, category).
    names: Value,
    /// The case's own state, as its kind records it.
    case: Value,
}

/// A page of cases.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseList {
    items: Vec<Value>,
    /// Pass as `cursor` for the next page; null on the last.
    #[schema(nullable)]
    next_cursor: Option<Uuid>,
    /// The log position the read model had reached.
    position: u64,
}

/// A case's commits, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseHistory {
    case_id: docket_domain::CaseId,
    commits: Vec<Value>,
}

/// A case's commits exactly as its chain holds them, oldest first, for checking the chain
/// anywhere: each commit's `hash` is SHA-256 over its `prev_hash` (hex) and the rest of the
/// commit in RFC 8785 canonical JSON (commits without `hash_scheme`: keys sorted by UTF-8 bytes).
/// Sealed fields stay sealed.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaseCommits {
    case_id: docket_domain::CaseId,
    /// Each `{"position", "commit"}`: the log position and the commit as the log holds it.
    commits: Vec<Value>,
}

/// The tenant's directory, retired entries too.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DirectoryList {
    communities: Vec<Value>,
    grids: Vec<Value>,
    units: Vec<Value>,
    categories: Vec<Value>,
    position: u64,
}

/// What a change to the directory answers.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DirectoryAnswer {
    commit_id: Uuid,
    version: u64,
    position: u64,
    #[schema(value_type = String, format = DateTime)]
    recorded_at: String,
    events: Vec<Value>,
}

/// The figures of a range, grouped by a dimension or not; each figure names the list of cases
/// it counts.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Figures {
    /// The first day counted, in the tenant's time zone.
    #[schema(value_type = String, format = Date)]
    from: String,
    /// The last day counted.
    #[schema(value_type = String, format = Date)]
    to: String,
    #[schema(value_type = String, format = DateTime)]
    as_of: String,
    position: u64,
    timezone: String,
    filters: Map<String, Value>,
    #[schema(nullable)]
    by: Option<String>,
    groups: Vec<FigureGroup>,
    definitions: String,
}

/// One group's figures: the group's key by the dimension (none when ungrouped).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FigureGroup {
    group: Map<String, Value>,
    figures: Vec<crate::stats::Figure>,
}

/// The per-unit table of the coordinated response network.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UnitTable {
    /// The first day counted, in the tenant's time zone.
    #[schema(value_type = String, format = Date)]
    from: String,
    /// The last day counted.
    #[schema(value_type = String, format = Date)]
    to: String,
    #[schema(value_type = String, format = DateTime)]
    as_of: String,
    timezone: String,
    position: u64,
    sort: String,
    units: Vec<Value>,
    definitions: String,
}

/// The dispatches a per-unit figure counts.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Dispatches {
    /// The first day counted, in the tenant's time zone.
    #[schema(value_type = String, format = Date)]
    from: String,
    /// The last day counted.
    #[schema(value_type = String, format = Date)]
    to: String,
    count: u64,
    items: Vec<Value>,
}

/// An audit run: its progress and, once finished, whether everything held. An administrator sees
/// positions, the log's totals and every finding; a tenant's supervisor a share of the way, their
/// tenant's totals and findings, and counts of the others.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditRun {
    id: Uuid,
    /// `running`, `finished` or `failed`.
    status: String,
    #[schema(value_type = String, format = DateTime)]
    started_at: String,
    started_by: String,
    /// `chains`, `recount`, `compare` or `finished`.
    phase: String,
    /// How far along, in the phase's units (administrators).
    done: Option<u64>,
    /// Out of how many (administrators).
    of: Option<u64>,
    #[schema(maximum = 100)]
    percent: u64,
    #[schema(value_type = Option<String>, format = DateTime)]
    ended_at: Option<String>,
    /// Why it could not finish.
    failure: Option<String>,
    /// The log's last position when the audit began (administrators).
    head: Option<u64>,
    /// Commits checked (a supervisor: of their tenant).
    commits: u64,
    /// Cases checked (a supervisor: of their tenant).
    cases: u64,
    /// Directories checked (administrators).
    directories: Option<u64>,
    /// The position the live read model was compared at (administrators).
    compared_at: Option<u64>,
    /// Rows compared (administrators).
    rows_compared: Option<u64>,
    /// Mismatches found, listed or not.
    mismatches: u64,
    /// The findings (not in the list of runs).
    findings: Option<Vec<Value>>,
    /// Each tenant's commits, cases and mismatches (administrators).
    tenants: Option<Map<String, Value>>,
    /// Findings of the log itself, counted (a supervisor).
    findings_in_the_log: Option<u64>,
    /// Findings in other tenants, counted (a supervisor).
    findings_in_other_tenants: Option<u64>,
    /// Whether everything held; null until the run has finished.
    #[schema(nullable)]
    holds: Option<bool>,
}

/// The audit runs the caller may see, newest first.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditRuns {
    items: Vec<AuditRun>,
}

/// The commits the projector holds aside, with why.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Quarantine {
    items: Vec<Value>,
}

/// A lookup by resident ID number.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PersonLookup {
    /// 17 digits and their check character (GB 11643).
    id_number: String,
}

/// A person file: the person's details and the cases they filed, within the caller's reach.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PersonFile {
    person: Uuid,
    details: Value,
    petitions: u64,
    repeat_petitions: u64,
    cases: Vec<Value>,
    cases_outside_reach: u64,
    more: bool,
}

/// Who saw a person's details in clear, through which read, when.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PersonViews {
    person: Uuid,
    views: Vec<Value>,
}

/// How the service stands.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Status {
    log_head: u64,
    projected: u64,
    lag: u64,
    /// `sqlite` or `postgres`.
    read_model: String,
    /// Commits held, and of how many cases.
    quarantined: Value,
}

/// A ready replica.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ready {
    ready: bool,
    log_head: u64,
    projected: u64,
    lag: u64,
}
