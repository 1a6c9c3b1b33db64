//! Open311 GeoReport v2 under `/open311/v2`: residents' apps file hazards and livelihood requests
//! and follow them, without an adapter.
//!
//! Every resource is served as `.json` and `.xml` from one document ([`Doc`]), so both formats
//! carry the same fields. A jurisdiction is a tenant. Services are the hazard and livelihood
//! categories of the tenant's directory (`hazard.<category>`, `livelihood.<category>`). Filing goes
//! through the command service as a service account (the API key's), like any other filing; reads
//! go through the same loading and disclosure rules as `/v1` (a service account sees no one's
//! personal data), and show only what is public: the state, the lead unit, the deadline, the place,
//! the reply the resident is told.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use docket_commands::{Actor, CommandError, CommandRequest, Read};
use docket_domain::directory::Directory;
use docket_domain::person::{Disclosure, is_sealed_text, mask_text};
use docket_domain::{CaseCommand, CaseId, CaseKind, CaseState, Detail, Role, TenantId};
use jiff::Timestamp;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde_json::{Value, json};

use crate::AppState;

/// The longest description a request may give (the specification's limit).
pub const MAX_DESCRIPTION: usize = 4000;
/// The widest date range a query may ask for, and the default one.
const MAX_RANGE: jiff::SignedDuration = jiff::SignedDuration::from_hours(90 * 24);
/// The most requests a query answers.
const MAX_REQUESTS: usize = 1000;
/// How long a filing's answer waits for the case's number before answering with a token.
const NUMBER_WAIT: Duration = Duration::from_secs(1);
const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";
/// The kinds residents file through Open311.
const KINDS: [CaseKind; 2] = [CaseKind::Hazard, CaseKind::Livelihood];

/// The routes under `/open311/v2`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/open311/v2/{file}", get(top).post(post_requests))
        .route("/open311/v2/services/{file}", get(service_definition))
        .route("/open311/v2/requests/{file}", get(request))
        .route("/open311/v2/tokens/{file}", get(token))
}

// ---- formats ----------------------------------------------------------------------------------

/// The two formats every resource is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// A resource's name and format, from `name.json` or `name.xml`.
fn split_format(file: &str) -> Result<(&str, Format), Open311Error> {
    match file.rsplit_once('.') {
        Some((name, "json")) if !name.is_empty() => Ok((name, Format::Json)),
        Some((name, "xml")) if !name.is_empty() => Ok((name, Format::Xml)),
        _ => Err(Open311Error::new(
            StatusCode::NOT_FOUND,
            format!("no resource {file:?}: resources end in .json or .xml"),
        )
        .in_format(Format::Xml)),
    }
}

/// One Open311 document: a root with its item elements, and fields in order. JSON drops the
/// root (the specification's "Spark convention"); XML names every list's items.
#[derive(Debug, Clone, PartialEq)]
enum Doc {
    /// An empty element, or `null`.
    Null,
    Text(String),
    Number(f64),
    Integer(i64),
    Bool(bool),
    /// A list, and the name of each item's element.
    List(&'static str, Vec<Doc>),
    Object(Vec<(&'static str, Doc)>),
}

impl Doc {
    fn text(value: impl Into<String>) -> Doc {
        Doc::Text(value.into())
    }

    fn maybe(value: Option<impl Into<String>>) -> Doc {
        value.map_or(Doc::Null, |v| Doc::Text(v.into()))
    }

    fn json(&self) -> Value {
        match self {
            Doc::Null => Value::Null,
            Doc::Text(t) => json!(t),
            Doc::Number(n) => json!(n),
            Doc::Integer(n) => json!(n),
            Doc::Bool(b) => json!(b),
            Doc::List(_, items) => Value::Array(items.iter().map(Doc::json).collect()),
            Doc::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.json()))
                    .collect(),
            ),
        }
    }

    fn write_xml(
        &self,
        name: &str,
        out: &mut quick_xml::Writer<Vec<u8>>,
    ) -> Result<(), std::io::Error> {
        match self {
            Doc::Null => out.write_event(Event::Empty(BytesStart::new(name)))?,
            Doc::Text(t) => {
                // A carriage return is written as a reference, or a parser would read it as a
                // line feed and the XML would say other than the JSON.
                let escaped = quick_xml::escape::escape(t.as_str()).replace('\r', "&#13;");
                out.create_element(name)
                    .write_text_content(BytesText::from_escaped(escaped))?;
            }
            Doc::Number(n) => {
                out.create_element(name)
                    .write_text_content(BytesText::new(&n.to_string()))?;
            }
            Doc::Integer(n) => {
                out.create_element(name)
                    .write_text_content(BytesText::new(&n.to_string()))?;
            }
            Doc::Bool(b) => {
                out.create_element(name)
                    .write_text_content(BytesText::new(if *b { "true" } else { "false" }))?;
            }
            Doc::List(item, items) => {
                out.write_event(Event::Start(BytesStart::new(name)))?;
                for i in items {
                    i.write_xml(item, out)?;
                }
                out.write_event(Event::End(BytesEnd::new(name)))?;
            }
            Doc::Object(fields) => {
                out.write_event(Event::Start(BytesStart::new(name)))?;
                for (k, v) in fields {
                    v.write_xml(k, out)?;
                }
                out.write_event(Event::End(BytesEnd::new(name)))?;
            }
        }
        Ok(())
    }

    /// The document as `format`, its root element named `root`.
    fn respond(&self, root: &str, format: Format, status: StatusCode) -> Response {
        match format {
            Format::Json => {
                let body = serde_json::to_vec(&self.json()).expect("a document serializes");
                (
                    status,
                    [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                    body,
                )
                    .into_response()
            }
            Format::Xml => {
                let mut out = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
                let written = out
                    .write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
                    .and_then(|()| self.write_xml(root, &mut out));
                if let Err(e) = written {
                    tracing::error!(error = %e, "an Open311 document did not write as XML");
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
                (
                    status,
                    [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
                    out.into_inner(),
                )
                    .into_response()
            }
        }
    }
}

// ---- errors -----------------------------------------------------------------------------------

/// An Open311 error: its HTTP status (400, 403, 404 or 429), what went wrong, in the format asked.
#[derive(Debug)]
pub(crate) struct Open311Error {
    status: StatusCode,
    description: String,
    format: Format,
}

impl Open311Error {
    fn new(status: StatusCode, description: impl Into<String>) -> Open311Error {
        Open311Error {
            status,
            description: description.into(),
            format: Format::Xml,
        }
    }

    fn bad(description: impl Into<String>) -> Open311Error {
        Open311Error::new(StatusCode::BAD_REQUEST, description)
    }

    fn in_format(mut self, format: Format) -> Open311Error {
        self.format = format;
        self
    }

    /// What a command's failure is, as Open311 has errors: refusals and bad input are the
    /// request's fault (400); a failing store is not, but Open311 knows no 5xx but 400's "general
    /// service error", so it is 400 too, logged.
    fn from_command(e: CommandError) -> Open311Error {
        match e {
            CommandError::Refused(refusal) => Open311Error::bad(refusal.to_string()),
            CommandError::NotFound => Open311Error::new(StatusCode::NOT_FOUND, "no such request"),
            CommandError::OutsideReach(why) => Open311Error::bad(why),
            other => {
                tracing::error!(error = %other, "an Open311 request failed");
                Open311Error::bad("the service could not take the request now; try again later")
            }
        }
    }
}

impl IntoResponse for Open311Error {
    fn into_response(self) -> Response {
        let doc = Doc::List(
            "error",
            vec![Doc::Object(vec![
                ("code", Doc::Integer(i64::from(self.status.as_u16()))),
                ("description", Doc::text(self.description)),
            ])],
        );
        doc.respond("errors", self.format, self.status)
    }
}

fn internal(e: impl std::fmt::Display) -> Open311Error {
    tracing::error!(error = %e, "an Open311 read failed");
    Open311Error::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the service could not answer now; try again later",
    )
}

// ---- who asks ---------------------------------------------------------------------------------

/// The jurisdiction a request is for, and who acts in it: the API key's service account, or, for
/// reads without a key, an anonymous one.
struct Caller {
    actor: Actor,
    /// The community a key's reports go to when their place is in no grid's area.
    community: Option<String>,
    /// Whether an app asks, with its key: it is shown what its residents are told (the reply,
    /// a request's place, a hazard's description); anyone else only how the case stands.
    app: bool,
}

/// The caller of a request: by `api_key` if one is given (required when `key_required`), else by
/// `jurisdiction_id`.
async fn caller(
    state: &AppState,
    params: &BTreeMap<String, String>,
    key_required: bool,
) -> Result<Caller, Open311Error> {
    let given = |name: &str| params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let jurisdiction = given("jurisdiction_id");
    let Some(key) = given("api_key") else {
        if key_required {
            return Err(Open311Error::new(
                StatusCode::FORBIDDEN,
                "api_key was not provided: a request is filed with the key the office issued to the app",
            ));
        }
        let Some(jurisdiction) = jurisdiction else {
            return Err(Open311Error::bad(
                "jurisdiction_id was not provided (or an api_key, whose jurisdiction is taken)",
            ));
        };
        let tenant: TenantId = jurisdiction.parse().map_err(|_| {
            Open311Error::new(
                StatusCode::NOT_FOUND,
                format!("jurisdiction_id {jurisdiction:?} was not found"),
            )
        })?;
        // Readers without a key share one rate per jurisdiction.
        let actor = service_account(tenant, "open311:anonymous".to_owned());
        limit(state, &actor)?;
        return Ok(Caller {
            actor,
            community: None,
            app: false,
        });
    };
    let vault = state
        .commands
        .vault()
        .ok_or_else(|| internal("this server keeps no API keys"))?;
    let found = vault.api_key(key).await.map_err(internal)?;
    let Some(found) = found else {
        return Err(Open311Error::new(
            StatusCode::FORBIDDEN,
            "invalid api_key: no such key was issued",
        ));
    };
    if found.revoked_at.is_some() {
        return Err(Open311Error::new(
            StatusCode::FORBIDDEN,
            "invalid api_key: the key was revoked",
        ));
    }
    if jurisdiction.is_some_and(|j| j != found.tenant) {
        return Err(Open311Error::new(
            StatusCode::FORBIDDEN,
            "invalid api_key: the key is not for this jurisdiction_id",
        ));
    }
    let tenant: TenantId = found.tenant.parse().map_err(internal)?;
    let actor = service_account(tenant, format!("api-key:{}", found.id));
    limit(state, &actor)?;
    Ok(Caller {
        actor,
        community: Some(found.community),
        app: true,
    })
}

/// The request rate of a token, by key (or, without one, by jurisdiction).
fn limit(state: &AppState, actor: &Actor) -> Result<(), Open311Error> {
    state.limiter.check(actor).map_err(|_| {
        Open311Error::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests; slow down and try again",
        )
    })
}

fn service_account(tenant: TenantId, id: String) -> Actor {
    Actor {
        id,
        tenant,
        role: Role::ServiceAccount,
        unit: None,
        grids: Vec::new(),
    }
}

/// Who reads, and the directory of the jurisdiction they read.
async fn reader(
    state: &AppState,
    params: &BTreeMap<String, String>,
) -> Result<(Caller, std::sync::Arc<Directory>), Open311Error> {
    let caller = caller(state, params, false).await?;
    let directory = directory(state, &caller.actor).await?;
    Ok((caller, directory))
}

/// The tenant's directory, or 404 for a jurisdiction that has none.
async fn directory(
    state: &AppState,
    actor: &Actor,
) -> Result<std::sync::Arc<Directory>, Open311Error> {
    let kept = state
        .commands
        .directory(&actor.tenant)
        .await
        .map_err(Open311Error::from_command)?;
    let directory = kept.directory.clone();
    if directory.communities().next().is_none() {
        return Err(Open311Error::new(
            StatusCode::NOT_FOUND,
            format!("jurisdiction_id {:?} was not found", actor.tenant.as_str()),
        ));
    }
    Ok(directory)
}

// ---- services ---------------------------------------------------------------------------------

/// A service: a category of a kind residents file.
struct Service<'a> {
    kind: CaseKind,
    category: &'a docket_domain::directory::Category,
}

impl Service<'_> {
    fn code(&self) -> String {
        format!("{}.{}", self.kind, self.category.id)
    }
}

fn group(kind: CaseKind) -> &'static str {
    match kind {
        CaseKind::Hazard => "安全隐患",
        _ => "民生诉求",
    }
}

fn services(directory: &Directory) -> Vec<Service<'_>> {
    KINDS
        .iter()
        .flat_map(|kind| {
            directory
                .categories(*kind)
                .filter(|c| !c.retired)
                .map(|category| Service {
                    kind: *kind,
                    category,
                })
        })
        .collect()
}

/// The service a code names, in service.
fn service<'a>(directory: &'a Directory, code: &str) -> Option<Service<'a>> {
    let (kind, category) = code.split_once('.')?;
    let kind: CaseKind = kind.parse().ok().filter(|k| KINDS.contains(k))?;
    let category = directory
        .category(kind, &category.parse().ok()?)
        .filter(|c| !c.retired)?;
    Some(Service { kind, category })
}

/// The one attribute a kind asks of a resident: a hazard's severity as they judge it, a
/// request's urgency. Its code, description and values (key, name).
fn attribute(
    kind: CaseKind,
) -> (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
) {
    match kind {
        CaseKind::Hazard => (
            "severity",
            "您判断的隐患等级（工作人员核实时确定）",
            &[("general", "一般隐患"), ("major", "重大隐患")],
        ),
        _ => (
            "urgency",
            "紧急程度（决定办理时限）",
            &[
                ("emergency", "紧急（2小时）"),
                ("utility", "水电气热（24小时）"),
                ("general", "一般（7天）"),
                ("complex", "复杂（15天）"),
            ],
        ),
    }
}

/// `GET /open311/v2/{discovery,services,requests}.{format}`.
async fn top(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, Open311Error> {
    let (name, format) = split_format(&file)?;
    let answer = match name {
        "discovery" => Ok(discovery(&headers, format)),
        "services" => service_list(&state, &params, format).await,
        "requests" => requests(&state, &params, format).await,
        _ => Err(Open311Error::new(
            StatusCode::NOT_FOUND,
            format!("no resource {name:?}: discovery, services, requests, tokens"),
        )),
    };
    answer.map_err(|e| e.in_format(format))
}

fn discovery(headers: &HeaderMap, format: Format) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    // Behind a proxy that ends TLS, the scheme the client used.
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    let changeset = w3c(started());
    Doc::Object(vec![
        ("changeset", Doc::text(changeset.clone())),
        ("contact", Doc::text("街道办事处（the sub-district office running Docket）")),
        (
            "key_service",
            Doc::text("API keys are issued by the office's admin: docket api-key create --name APP --community COMMUNITY"),
        ),
        (
            "endpoints",
            Doc::List(
                "endpoint",
                vec![Doc::Object(vec![
                    ("specification", Doc::text(SPECIFICATION)),
                    ("url", Doc::text(format!("{scheme}://{host}/open311/v2"))),
                    ("changeset", Doc::text(changeset)),
                    ("type", Doc::text("production")),
                    (
                        "formats",
                        Doc::List(
                            "format",
                            vec![Doc::text("text/xml"), Doc::text("application/json")],
                        ),
                    ),
                ])],
            ),
        ),
    ])
    .respond("discovery", format, StatusCode::OK)
}

/// When this process started: what the discovery document's changesets say (the services come
/// from the directory, which changes without a restart, so clients should not cache them long).
fn started() -> Timestamp {
    static STARTED: std::sync::LazyLock<Timestamp> = std::sync::LazyLock::new(Timestamp::now);
    *STARTED
}

async fn service_list(
    state: &AppState,
    params: &BTreeMap<String, String>,
    format: Format,
) -> Result<Response, Open311Error> {
    let (_, directory) = reader(state, params).await?;
    let items = services(&directory)
        .iter()
        .map(|s| {
            Doc::Object(vec![
                ("service_code", Doc::text(s.code())),
                ("service_name", Doc::text(&s.category.name)),
                (
                    "description",
                    Doc::text(format!("{}：{}", group(s.kind), s.category.name)),
                ),
                ("metadata", Doc::Bool(true)),
                ("type", Doc::text("realtime")),
                (
                    "keywords",
                    Doc::text(format!("{}, {}, {}", s.kind, s.category.id, group(s.kind))),
                ),
                ("group", Doc::text(group(s.kind))),
            ])
        })
        .collect();
    Ok(Doc::List("service", items).respond("services", format, StatusCode::OK))
}

/// `GET /open311/v2/services/{code}.{format}`.
async fn service_definition(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, Open311Error> {
    let (code, format) = split_format(&file)?;
    async {
        let (_, directory) = reader(&state, &params).await?;
        let service = service(&directory, code).ok_or_else(|| unknown_service(code))?;
        let (attribute_code, description, values) = attribute(service.kind);
        let values = values
            .iter()
            .map(|(key, name)| {
                Doc::Object(vec![("key", Doc::text(*key)), ("name", Doc::text(*name))])
            })
            .collect();
        Ok(Doc::Object(vec![
            ("service_code", Doc::text(service.code())),
            (
                "attributes",
                Doc::List(
                    "attribute",
                    vec![Doc::Object(vec![
                        ("variable", Doc::Bool(true)),
                        ("code", Doc::text(attribute_code)),
                        ("datatype", Doc::text("singlevaluelist")),
                        ("required", Doc::Bool(false)),
                        ("datatype_description", Doc::Null),
                        ("order", Doc::Integer(1)),
                        ("description", Doc::text(description)),
                        ("values", Doc::List("value", values)),
                    ])],
                ),
            ),
        ])
        .respond("service_definition", format, StatusCode::OK))
    }
    .await
    .map_err(|e: Open311Error| e.in_format(format))
}

fn unknown_service(code: &str) -> Open311Error {
    Open311Error::new(
        StatusCode::NOT_FOUND,
        format!("service_code {code:?} was not found (GET services lists them)"),
    )
}

// ---- filing -----------------------------------------------------------------------------------

/// `POST /open311/v2/requests.{format}`: a resident's report, form-encoded.
async fn post_requests(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Open311Error> {
    let (name, format) = split_format(&file)?;
    file_request(&state, name, query, &headers, &body)
        .await
        .map(|doc| doc.respond("service_requests", format, StatusCode::OK))
        .map_err(|e| e.in_format(format))
}

async fn file_request(
    state: &AppState,
    name: &str,
    query: BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Doc, Open311Error> {
    if name != "requests" {
        return Err(Open311Error::new(
            StatusCode::NOT_FOUND,
            format!("no resource {name:?} takes a POST: POST requests files one"),
        ));
    }
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(Open311Error::bad(
            "send the request as Content-Type: application/x-www-form-urlencoded",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| Open311Error::bad(format!("the form does not read: {e}")))?;
    // The form's fields, and the query's (an api_key in the URL, as some clients send it).
    let mut fields = query;
    let mut attributes = BTreeMap::new();
    for (key, value) in pairs {
        if let Some(code) = key
            .strip_prefix("attribute[")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            attributes.insert(code.to_owned(), value);
        } else {
            fields.insert(key, value);
        }
    }
    let caller = caller(state, &fields, true).await?;
    let directory = directory(state, &caller.actor).await?;
    let given = |name: &str| fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let code =
        given("service_code").ok_or_else(|| Open311Error::bad("service_code was not provided"))?;
    let service = service(&directory, code).ok_or_else(|| unknown_service(code))?;
    let filing = Filing::read(&fields, &attributes, &service)?;

    // The grid whose area covers the place; else the key's community, without a grid.
    let grid = filing
        .location
        .and_then(|at| directory.grids().find(|g| !g.retired && g.covers(&at)));
    let community = match grid {
        Some(g) => g.community.to_string(),
        None => caller.community.clone().ok_or_else(|| {
            Open311Error::bad("the key names no community for a place outside every grid")
        })?,
    };
    let mut body = json!({
        "kind": service.kind,
        "community": community,
        "title": service.category.name,
        "description": filing.description,
        "category": service.category.id,
    });
    if let Some(g) = grid {
        body["grid"] = json!(g.id);
    }
    if let Some(address) = &filing.address {
        body["address"] = json!(address);
    }
    if let Some(url) = &filing.media_url {
        body["media_url"] = json!(url);
    }
    if let Some(at) = filing.location {
        body["location"] = json!({"latitude": at.latitude, "longitude": at.longitude});
    }
    match service.kind {
        CaseKind::Hazard => {
            body["severity"] = json!(filing.choice.as_deref().unwrap_or("general"));
            body["source"] = json!("resident-report");
        }
        _ => {
            body["urgency"] = json!(filing.choice.as_deref().unwrap_or("general"));
            body["channel"] = json!("resident-app");
            if let Some(requester) = filing.requester() {
                body["requester"] = requester;
            }
        }
    }
    let command = CaseCommand::parse_filing(body).map_err(|e| Open311Error::bad(e.to_string()))?;
    let outcome = state
        .commands
        .handle(
            &caller.actor,
            CommandRequest {
                case_id: None,
                command,
                idempotency_key: None,
                expected_version: None,
            },
        )
        .await
        .map_err(Open311Error::from_command)?;
    let number = crate::cases::filed_number(state, &caller.actor, &outcome, NUMBER_WAIT).await;
    let id = match number {
        Some(number) => ("service_request_id", Doc::text(number)),
        None => ("token", Doc::text(outcome.case_id.to_string())),
    };
    Ok(Doc::List(
        "request",
        vec![Doc::Object(vec![
            id,
            (
                "service_notice",
                Doc::maybe(service.category.notice.clone()),
            ),
            ("account_id", Doc::maybe(given("account_id"))),
        ])],
    ))
}

/// What a resident's form says, checked.
struct Filing {
    location: Option<docket_domain::evidence::Location>,
    address: Option<String>,
    description: String,
    /// The attribute's value: a severity or an urgency.
    choice: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    media_url: Option<String>,
}

impl Filing {
    fn read(
        fields: &BTreeMap<String, String>,
        attributes: &BTreeMap<String, String>,
        service: &Service<'_>,
    ) -> Result<Filing, Open311Error> {
        let given = |name: &str| {
            fields
                .get(name)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let coordinate = |name: &str, range: std::ops::RangeInclusive<f64>| {
            given(name)
                .map(|v| {
                    v.parse::<f64>()
                        .ok()
                        .filter(|n| range.contains(n))
                        .ok_or_else(|| {
                            Open311Error::bad(format!(
                                "{name} must be a WGS84 coordinate between {} and {}",
                                range.start(),
                                range.end()
                            ))
                        })
                })
                .transpose()
        };
        let location = match (
            coordinate("lat", -90.0..=90.0)?,
            coordinate("long", -180.0..=180.0)?,
        ) {
            (Some(latitude), Some(longitude)) => Some(docket_domain::evidence::Location {
                latitude,
                longitude,
            }),
            (None, None) => None,
            _ => return Err(Open311Error::bad("lat and long are sent together")),
        };
        // An address id from the office's address register is kept as the address it names.
        let address = given("address_string").or_else(|| given("address_id"));
        if location.is_none() && address.is_none() {
            return Err(Open311Error::bad(
                "a location is required: lat and long, address_string or address_id",
            ));
        }
        if address.as_ref().is_some_and(|a| a.chars().count() > 500) {
            return Err(Open311Error::bad(
                "address_string is at most 500 characters",
            ));
        }
        let description = given("description").unwrap_or_default();
        if description.chars().count() > MAX_DESCRIPTION {
            return Err(Open311Error::bad(format!(
                "description is at most {MAX_DESCRIPTION} characters"
            )));
        }
        let (code, _, values) = attribute(service.kind);
        let mut choice = None;
        for (name, value) in attributes {
            if name != code {
                return Err(Open311Error::bad(format!(
                    "attribute[{name}] is not an attribute of {} (it has {code})",
                    service.code()
                )));
            }
            let value = value.trim();
            if !value.is_empty() {
                if !values.iter().any(|(key, _)| *key == value) {
                    let keys: Vec<&str> = values.iter().map(|(k, _)| *k).collect();
                    return Err(Open311Error::bad(format!(
                        "attribute[{code}] is one of {}",
                        keys.join(", ")
                    )));
                }
                choice = Some(value.to_owned());
            }
        }
        // A Chinese name is written family name first.
        let name = match (given("last_name"), given("first_name")) {
            (Some(last), Some(first)) => Some(format!("{last}{first}")),
            (last, first) => last.or(first),
        };
        Ok(Filing {
            location,
            address,
            description,
            choice,
            name,
            phone: given("phone"),
            email: given("email"),
            media_url: given("media_url"),
        })
    }

    /// The resident as a livelihood request's requester, when they gave anything of themselves.
    fn requester(&self) -> Option<Value> {
        if self.name.is_none() && self.phone.is_none() && self.email.is_none() {
            return None;
        }
        let mut requester = json!({"name": self.name.as_deref().unwrap_or("居民")});
        if let Some(phone) = &self.phone {
            requester["phone"] = json!(phone);
        }
        if let Some(email) = &self.email {
            requester["email"] = json!(email);
        }
        Some(requester)
    }
}

// ---- reading ----------------------------------------------------------------------------------

/// `GET /open311/v2/requests/{id}.{format}`: one request, by its number (or case id).
async fn request(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, Open311Error> {
    let (id, format) = split_format(&file)?;
    async {
        let (caller, directory) = reader(&state, &params).await?;
        let case_id = find(&state, &caller.actor, id)
            .await?
            .ok_or_else(|| unknown_request(id))?;
        let shown = public_request(&state, &caller, &directory, case_id)
            .await?
            .ok_or_else(|| unknown_request(id))?;
        Ok(Doc::List("request", vec![shown]).respond("service_requests", format, StatusCode::OK))
    }
    .await
    .map_err(|e: Open311Error| e.in_format(format))
}

/// `GET /open311/v2/tokens/{token}.{format}`: the number a filing answered with a token got.
async fn token(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, Open311Error> {
    let (token, format) = split_format(&file)?;
    async {
        let caller = caller(&state, &params, false).await?;
        let unknown = || {
            Open311Error::new(
                StatusCode::NOT_FOUND,
                format!("token {token:?} was not found"),
            )
        };
        let case_id: CaseId = token.parse().map_err(|_| unknown())?;
        let case = state
            .commands
            .load_in_reach(&caller.actor, case_id)
            .await
            .map_err(|_| unknown())?;
        if !case.state.as_ref().is_some_and(from_residents) {
            return Err(unknown());
        }
        let number = state
            .read
            .case_number(caller.actor.tenant.as_str(), case_id.as_uuid())
            .await
            .map_err(internal)?;
        let mut fields = Vec::new();
        if let Some(number) = number {
            fields.push(("service_request_id", Doc::text(number)));
        }
        fields.push(("token", Doc::text(token)));
        Ok(Doc::List("request", vec![Doc::Object(fields)]).respond(
            "service_requests",
            format,
            StatusCode::OK,
        ))
    }
    .await
    .map_err(|e: Open311Error| e.in_format(format))
}

fn unknown_request(id: &str) -> Open311Error {
    Open311Error::new(
        StatusCode::NOT_FOUND,
        format!("service_request_id {id:?} was not found"),
    )
}

/// The case a service request id names: its number, or its case id.
async fn find(state: &AppState, actor: &Actor, id: &str) -> Result<Option<CaseId>, Open311Error> {
    if let Ok(case) = id.parse::<CaseId>() {
        return Ok(Some(case));
    }
    Ok(state
        .read
        .case_by_number(actor.tenant.as_str(), id)
        .await
        .map_err(internal)?
        .and_then(|uuid| CaseId::from_uuid(uuid).ok()))
}

/// `GET /open311/v2/requests.{format}`: requests by id, or by service, date and status.
async fn requests(
    state: &AppState,
    params: &BTreeMap<String, String>,
    format: Format,
) -> Result<Response, Open311Error> {
    let (caller, directory) = reader(state, params).await?;
    let given = |name: &str| params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let list = |name: &str| -> Vec<String> {
        given(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut shown = Vec::new();
    // Ids asked for override every other argument.
    let mut ids = list("service_request_id");
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    if !ids.is_empty() {
        if ids.len() > MAX_REQUESTS {
            return Err(Open311Error::bad(format!(
                "at most {MAX_REQUESTS} service_request_id at once"
            )));
        }
        for id in &ids {
            if let Some(case_id) = find(state, &caller.actor, id).await?
                && let Some(request) = public_request(state, &caller, &directory, case_id).await?
            {
                shown.push(request);
            }
        }
        return Ok(Doc::List("request", shown).respond("service_requests", format, StatusCode::OK));
    }
    let date = |name: &str| {
        given(name)
            .map(|v| {
                v.parse::<Timestamp>().map_err(|_| {
                    Open311Error::bad(format!(
                        "{name} must be a W3C datetime with its time zone, such as 2026-12-01T00:00:00Z"
                    ))
                })
            })
            .transpose()
    };
    let now = state.commands.clock().now();
    let (start, end) = match (date("start_date")?, date("end_date")?) {
        (Some(start), Some(end)) => (start, end),
        (Some(start), None) => (
            start,
            start.checked_add(MAX_RANGE).unwrap_or(Timestamp::MAX),
        ),
        (None, Some(end)) => (end.checked_sub(MAX_RANGE).unwrap_or(Timestamp::MIN), end),
        (None, None) => (now.checked_sub(MAX_RANGE).unwrap_or(Timestamp::MIN), now),
    };
    if end < start {
        return Err(Open311Error::bad("end_date is before start_date"));
    }
    if end.duration_since(start) > MAX_RANGE {
        return Err(Open311Error::bad(
            "start_date and end_date may not span more than 90 days",
        ));
    }
    let mut closed = None;
    let statuses = list("status");
    for status in &statuses {
        match status.as_str() {
            "open" | "closed" => {}
            other => {
                return Err(Open311Error::bad(format!(
                    "status {other:?} is open or closed"
                )));
            }
        }
    }
    if statuses.iter().all(|s| s == "open") && !statuses.is_empty() {
        closed = Some(false);
    } else if statuses.iter().all(|s| s == "closed") && !statuses.is_empty() {
        closed = Some(true);
    }
    // Each service asked for, or every kind residents file.
    let mut slices: Vec<(CaseKind, Option<String>)> = Vec::new();
    let codes = list("service_code");
    if codes.len() > 100 {
        return Err(Open311Error::bad("at most 100 service_code at once"));
    }
    for code in codes {
        let service = service(&directory, &code).ok_or_else(|| unknown_service(&code))?;
        let slice = (service.kind, Some(service.category.id.to_string()));
        if !slices.contains(&slice) {
            slices.push(slice);
        }
    }
    if slices.is_empty() {
        slices = KINDS.iter().map(|k| (*k, None)).collect();
    }
    // What was filed before this query is listed: the read model is waited for, briefly, to
    // reach the log's head as it stood when the query came.
    let head = state.commands.log().head().await.map_err(internal)?;
    state.read.wait_until(head, NUMBER_WAIT).await;
    let mut found: Vec<docket_projections::CaseSummary> = Vec::new();
    for (kind, category) in slices {
        let filter = docket_projections::CaseFilter {
            kind: Some(kind.to_string()),
            category,
            // Only what residents asked through their apps is shown here.
            channel: (kind == CaseKind::Livelihood).then(|| "resident-app".to_owned()),
            closed,
            filed_from: Some(start),
            filed_to: Some(end),
            reach: Some(docket_domain::Reach::Tenant),
            ..Default::default()
        };
        // The newest of each slice, newest first: enough of each that the newest of all are
        // among them.
        let mut after = None;
        let mut of_slice = 0;
        loop {
            let page = state
                .read
                .list_cases(caller.actor.tenant.as_str(), &filter, after, 200)
                .await
                .map_err(internal)?;
            of_slice += page.items.len();
            found.extend(page.items);
            match page.next_cursor {
                Some(next) if of_slice < MAX_REQUESTS => after = Some(next),
                _ => break,
            }
        }
    }
    found.sort_by_key(|c| std::cmp::Reverse((c.filed_at, c.id)));
    found.dedup_by_key(|c| c.id);
    found.truncate(MAX_REQUESTS);
    // The cases are shown as the read model holds them, which has reached the log's head: their
    // states in one query, not each case read from the log. A quarantined case, whose state
    // there stopped short of its log, is left out, as reading it from the log would refuse it.
    let tenant = caller.actor.tenant.as_str();
    let held: std::collections::HashSet<String> = state
        .read
        .quarantined(Some(tenant))
        .await
        .map_err(internal)?
        .into_iter()
        .map(|q| q.case_id)
        .collect();
    let listed = found.len();
    found.retain(|c| !held.contains(&c.id.to_string()));
    if found.len() < listed {
        tracing::warn!(
            left_out = listed - found.len(),
            "an Open311 listing left out quarantined cases"
        );
    }
    let ids: Vec<uuid::Uuid> = found.iter().map(|c| c.id).collect();
    let states = state
        .read
        .case_states(tenant, &ids)
        .await
        .map_err(internal)?;
    for summary in found {
        let (Ok(case_id), Some(current)) = (CaseId::from_uuid(summary.id), states.get(&summary.id))
        else {
            continue;
        };
        let listed = Listed {
            case_id,
            current,
            number: summary.number,
            requested: summary.filed_at,
            updated: summary.updated_at,
        };
        // One case that cannot be shown leaves the others to be shown.
        match request_doc(state, &caller, &directory, listed).await {
            Ok(Some(request)) => shown.push(request),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%case_id, error = e.description, "an Open311 listing left a case out");
            }
        }
    }
    Ok(Doc::List("request", shown).respond("service_requests", format, StatusCode::OK))
}

/// A case as a request is shown from: its state, its number, and when it was filed and last
/// changed (its first and last commits).
struct Listed<'a> {
    case_id: CaseId,
    current: &'a CaseState,
    number: String,
    requested: Timestamp,
    updated: Timestamp,
}

/// A case as Open311 shows it to anyone: its state, service, lead unit, deadline, place and the
/// reply the resident is told; never anyone's personal data, an internal note or a member of a
/// unit. `None` for a case of a kind residents do not file.
async fn public_request(
    state: &AppState,
    caller: &Caller,
    directory: &Directory,
    case_id: CaseId,
) -> Result<Option<Doc>, Open311Error> {
    let actor = &caller.actor;
    let case = match state.commands.load_in_reach(actor, case_id).await {
        Ok(case) => case,
        Err(CommandError::NotFound) => return Ok(None),
        Err(e) => return Err(Open311Error::from_command(e)),
    };
    let (Some(current), Some(first), Some(last)) =
        (&case.state, case.commits.first(), case.commits.last())
    else {
        return Ok(None);
    };
    let number = state
        .read
        .case_number(actor.tenant.as_str(), case_id.as_uuid())
        .await
        .map_err(internal)?
        .unwrap_or_else(|| case_id.to_string());
    let listed = Listed {
        case_id,
        current,
        number,
        requested: first.commit.body.recorded_at,
        updated: last.commit.body.recorded_at,
    };
    request_doc(state, caller, directory, listed).await
}

/// The request document of a case (see `public_request`); `None` for a case of a kind residents
/// do not file.
async fn request_doc(
    state: &AppState,
    caller: &Caller,
    directory: &Directory,
    listed: Listed<'_>,
) -> Result<Option<Doc>, Open311Error> {
    let actor = &caller.actor;
    let Listed {
        case_id,
        current,
        number,
        requested,
        updated,
    } = listed;
    let kind = current.kind();
    if !from_residents(current) {
        return Ok(None);
    }
    let tenant = actor.tenant.as_str();
    let category = current.category();
    let listed_as = category
        .parse()
        .ok()
        .and_then(|c| directory.category(kind, &c));
    // A request's place is often the resident's home: shown to the app only; a hazard's is
    // the hazard's.
    let (address, location) = if caller.app || kind == CaseKind::Hazard {
        place(current)
    } else {
        (None, None)
    };
    let lead = current.handling.lead_unit.as_ref().map(|u| {
        directory
            .unit(u)
            .map_or_else(|| u.to_string(), |u| u.name.clone())
    });
    // A hazard's description, the resident's words, is shown to the app; a request's, which may
    // name people, to no one here.
    let description = if caller.app {
        open_text(state, actor, current, case_id, current.description()).await?
    } else {
        None
    };
    Ok(Some(Doc::Object(vec![
        ("service_request_id", Doc::text(number)),
        (
            "status",
            Doc::text(if current.is_closed() {
                "closed"
            } else {
                "open"
            }),
        ),
        (
            "status_notes",
            Doc::maybe(status_notes(state, caller.app, tenant, case_id, current).await?),
        ),
        (
            "service_name",
            Doc::text(listed_as.map_or_else(|| category.clone(), |c| c.name.clone())),
        ),
        ("service_code", Doc::text(format!("{kind}.{category}"))),
        ("description", Doc::maybe(description)),
        ("agency_responsible", Doc::maybe(lead)),
        (
            "service_notice",
            Doc::maybe(listed_as.and_then(|c| c.notice.clone())),
        ),
        ("requested_datetime", Doc::text(w3c(requested))),
        ("updated_datetime", Doc::text(w3c(updated))),
        (
            "expected_datetime",
            Doc::maybe(current.deadline().filter(|_| !current.is_closed()).map(w3c)),
        ),
        ("address", Doc::maybe(address)),
        ("address_id", Doc::Null),
        ("zipcode", Doc::Null),
        (
            "lat",
            location.map_or(Doc::Null, |l| Doc::Number(l.latitude)),
        ),
        (
            "long",
            location.map_or(Doc::Null, |l| Doc::Number(l.longitude)),
        ),
        ("media_url", Doc::maybe(media_url(current))),
    ])))
}

/// Whether residents filed the case through an app: a hazard they reported, a request from
/// their app. Nothing else is shown through Open311.
fn from_residents(case: &CaseState) -> bool {
    match &case.detail {
        Detail::Hazard(h) => h.source == docket_domain::hazard::Source::ResidentReport,
        Detail::Livelihood(r) => r.channel == docket_domain::livelihood::Channel::ResidentApp,
        _ => false,
    }
}

/// The photo or video the reporting app keeps of it.
fn media_url(case: &CaseState) -> Option<String> {
    match &case.detail {
        Detail::Hazard(h) => h.media_url.clone(),
        Detail::Livelihood(r) => r.media_url.clone(),
        _ => None,
    }
}

/// Where the case is: its address and its point.
fn place(case: &CaseState) -> (Option<String>, Option<docket_domain::evidence::Location>) {
    match &case.detail {
        Detail::Hazard(h) => (h.address.clone(), h.location),
        Detail::Livelihood(r) => (r.address.clone(), r.location),
        _ => (None, None),
    }
}

/// A free text of the case as the caller may see it in a case read: a hazard's texts are its
/// substance; a request's may name people, and a service account sees no one.
async fn open_text(
    state: &AppState,
    actor: &Actor,
    case: &CaseState,
    case_id: CaseId,
    text: &str,
) -> Result<Option<String>, Open311Error> {
    if text.is_empty() {
        return Ok(None);
    }
    let disclosure = actor.text_disclosure(case, Read::Case);
    if disclosure == Disclosure::Withheld {
        return Ok(None);
    }
    let clear = unsealed(state, actor.tenant.as_str(), case_id, text).await?;
    Ok(clear.map(|t| {
        if disclosure == Disclosure::Clear {
            t
        } else {
            mask_text(&t)
        }
    }))
}

/// A text in clear: unsealed under the case's key, or as written (texts from before sealing).
async fn unsealed(
    state: &AppState,
    tenant: &str,
    case_id: CaseId,
    text: &str,
) -> Result<Option<String>, Open311Error> {
    if !is_sealed_text(text) {
        return Ok(Some(text.to_owned()));
    }
    let Some(vault) = state.commands.vault() else {
        return Ok(None);
    };
    match vault.unseal_text(tenant, case_id.as_uuid(), text).await {
        Ok(clear) => Ok(clear),
        Err(docket_privacy::PrivacyError::CorruptText { reason, .. }) => {
            tracing::warn!(%case_id, %reason, "a sealed text does not open");
            Ok(None)
        }
        Err(e) => Err(internal(e)),
    }
}

/// What the resident is told of the case's state: the reply once there is one, else the step
/// it is at, in words of the office's.
async fn status_notes(
    state: &AppState,
    app: bool,
    tenant: &str,
    case_id: CaseId,
    case: &CaseState,
) -> Result<Option<String>, Open311Error> {
    if app
        && let Detail::Livelihood(r) = &case.detail
        && let Some(reply) = &r.reply
        && let Some(reply) = unsealed(state, tenant, case_id, reply).await?
    {
        return Ok(Some(reply));
    }
    let words = match (case.kind(), case.status()) {
        (_, "duplicate") => "与已反映的事项重复，合并办理",
        (CaseKind::Hazard, "reported") => "已受理，等待核实",
        (CaseKind::Hazard, "verified") => "已核实，等待处置",
        (CaseKind::Hazard, "rectifying") => "整改中",
        (CaseKind::Hazard, "rectified") => "已整改，等待复查",
        (CaseKind::Hazard, "closed") => "已复查销号",
        (CaseKind::Hazard, "dismissed") => "经核实，不作为隐患处理",
        (_, "received") => "已受理，等待派单",
        (_, "dispatched") => "已派单，等待承办单位签收",
        (_, "in-progress") => "承办单位办理中",
        (_, "replied" | "closed") => "已答复",
        _ => "办理中",
    };
    Ok(Some(words.to_owned()))
}

/// A time as the specification writes it: W3C, to the second, in UTC.
fn w3c(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
