//! The HTTP interface driven without a socket (`router(state).oneshot(..)`), over a real embedded
//! log and read model.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use docket_commands::{Actor, CommandService, SystemClock};
use docket_domain::Role;
use docket_eventlog::{EventLog, SqliteLog};
use docket_projections::{Projector, ReadModel};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

struct App {
    router: Router,
    state: AppState,
    auth: Authenticator,
    log: Arc<SqliteLog>,
    /// The latest position a command answered this client with: its reads pass it as
    /// `min_position` to see their own writes, as a client does.
    written: std::sync::atomic::AtomicU64,
    _stop: tokio::sync::watch::Sender<bool>,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

#[derive(Debug)]
struct FixedClock(jiff::Timestamp);

impl docket_commands::Clock for FixedClock {
    fn now(&self) -> jiff::Timestamp {
        self.0
    }
}

async fn app() -> App {
    app_with_clock(Arc::new(SystemClock)).await
}

async fn app_with_clock(clock: Arc<dyn docket_commands::Clock>) -> App {
    app_with(clock, docket_domain::deadlines::Policies::default()).await
}

/// An app whose tenants follow `policies` (deadlines, time zones) in commands and read model.
async fn app_with(
    clock: Arc<dyn docket_commands::Clock>,
    policies: docket_domain::deadlines::Policies,
) -> App {
    let dir = tempfile::tempdir().unwrap().keep();
    let log = Arc::new(SqliteLog::open(dir.join("log.sqlite")).unwrap());
    let read = ReadModel::open(dir.join("read.sqlite"), "sqlite")
        .await
        .unwrap()
        .with_policies(policies.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(Projector::new(log.clone(), read.clone()).run(stopped));
    let auth = Authenticator::hs256(b"test-secret-test-secret-test-secret");
    let commands = CommandService::new(log.clone(), clock)
        .with_policies(policies)
        .with_vault(docket_commands::Vault::in_memory().await.unwrap());
    seed_directory(&commands).await;
    let state = AppState::new(commands, read, auth.clone());
    let router = router(state.clone());
    App {
        router,
        state,
        auth,
        log,
        written: std::sync::atomic::AtomicU64::new(0),
        _stop: stop,
    }
}

/// The log position of the directory's seeding: the tests' commits come after it.
const SEEDED: u64 = 1;

/// The directory of the tests' tenant: its communities, grids and the units the tests name.
async fn seed_directory(commands: &CommandService) {
    let grids: Vec<String> = (1..=9).map(|n| format!("qinghe-{n:02}")).collect();
    let mut grids: Vec<(&str, &str)> = grids.iter().map(|g| (g.as_str(), "qinghe")).collect();
    // A neighbouring community, where a case filed in the wrong place is moved.
    grids.push(("beiyuan-01", "beiyuan"));
    let units = [
        "qinghe-safety",
        "qinghe-housing",
        "qinghe-fire",
        "qinghe-far",
        "qinghe-urban",
        "qinghe-labour",
        "qinghe-mediation",
    ];
    let mut seeded =
        docket_domain::directory::seed_from_names(&["qinghe", "beiyuan"], &grids, &units).unwrap();
    // Every unit answers in the coordinated response network (一呼百应).
    if let docket_domain::directory::DirectoryEvent::Seeded { units, .. } = &mut seeded {
        units.iter_mut().for_each(|u| u.in_network = true);
    }
    commands
        .seed_directory(&"qinghe".parse().unwrap(), seeded, "the tests' tenant")
        .await
        .unwrap()
        .expect("a new directory");
}

const HAZARD: &str = r#"{"kind":"hazard","community":"qinghe","grid":"qinghe-03","unit":"qinghe-safety",
    "title":"电动车楼道充电","category":"e-bike-charging","severity":"general","source":"night-patrol"}"#;

impl App {
    /// The latest position a command answered this client with.
    fn written(&self) -> u64 {
        self.written.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn token(&self, role: Role) -> String {
        self.token_in("qinghe", role)
    }

    fn token_in(&self, tenant: &str, role: Role) -> String {
        let actor = Actor {
            id: format!("{role}-1"),
            tenant: tenant.parse().unwrap(),
            role,
            // Each role with the reach the tests' cases are filed in.
            unit: matches!(role, Role::Handler | Role::Mediator)
                .then(|| "qinghe-safety".parse().unwrap()),
            grids: if role == Role::GridWorker {
                vec!["qinghe-03".parse().unwrap()]
            } else {
                Vec::new()
            },
        };
        self.auth.mint(&actor, Duration::from_secs(600))
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let method = request.method().to_string();
        let path = request.uri().to_string();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        // Every answer a test receives is one the API document allows.
        contract().assert(docket_testkit::contract::Answer {
            method: &method,
            path: &path,
            status: status.as_u16(),
            content_type: headers.get("content-type").and_then(|v| v.to_str().ok()),
            body: &bytes,
        });
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if let Some(position) = body.get("position").and_then(Value::as_u64)
            && status.is_success()
        {
            self.written
                .fetch_max(position, std::sync::atomic::Ordering::Relaxed);
        }
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        role: Option<Role>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(role) = role {
            req = req.header("authorization", format!("Bearer {}", self.token(role)));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_owned()));
        self.send(req.body(body).unwrap()).await
    }

    async fn file_hazard(&self) -> String {
        let r = self
            .call(
                "POST",
                "/v1/cases",
                Some(Role::GridWorker),
                &[],
                Some(HAZARD),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["case_id"].as_str().unwrap().to_owned()
    }

    async fn act(&self, id: &str, action: &str, role: Role, body: &str) -> Reply {
        self.call(
            "POST",
            &format!("/v1/cases/{id}/actions/{action}"),
            Some(role),
            &[],
            Some(body),
        )
        .await
    }

    /// Appends to a stream of the tests' tenant (a case, or its directory) a commit carrying an
    /// event at a version this release does not know, as a newer release would write it, and
    /// waits until the projector has met it; returns its position.
    async fn append_from_a_newer_release(
        &self,
        stream: uuid::Uuid,
        kind: &str,
        (event_type, data): (&str, Value),
    ) -> u64 {
        let last = self
            .log
            .read_case("qinghe", stream)
            .await
            .unwrap()
            .pop()
            .expect("the stream has commits");
        let newer = docket_eventlog::contract::first_scheme_body(
            "qinghe",
            stream,
            kind,
            last.commit.body.version + 1,
            (event_type, 99, data),
            "newer-release",
        );
        let position = self
            .log
            .append(&newer.seal(last.commit.hash))
            .await
            .unwrap()
            .position;
        assert!(
            self.state
                .read
                .wait_until(position, Duration::from_secs(5))
                .await
        );
        position
    }

    async fn history_len(&self, id: &str) -> usize {
        let r = self
            .call(
                "GET",
                &format!("/v1/cases/{id}/history"),
                Some(Role::Supervisor),
                &[],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["commits"].as_array().unwrap().len()
    }
}

/// The API document, as the tests hold answers to it.
fn contract() -> &'static docket_testkit::contract::Contract {
    static CONTRACT: std::sync::LazyLock<docket_testkit::contract::Contract> =
        std::sync::LazyLock::new(|| {
            docket_testkit::contract::Contract::new(crate::openapi::document().clone())
        });
    &CONTRACT
}

#[track_caller]
fn assert_problem(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(
        r.headers["content-type"], "application/problem+json",
        "{}",
        r.body
    );
    assert_eq!(r.body["code"], code, "{}", r.body);
    assert_eq!(r.body["status"], status.as_u16());
    assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

#[tokio::test]
async fn a_filed_case_reads_back_with_etag_and_allowed_actions() {
    let app = app().await;
    let id = app.file_hazard().await;
    let r = app
        .call(
            "GET",
            &format!("/v1/cases/{id}"),
            Some(Role::Handler),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["etag"], "\"1\"");
    assert_eq!(r.body["status"], "reported");
    assert_eq!(
        r.body["allowed_actions"],
        json!([
            "verify",
            "dismiss",
            "fix-on-spot",
            "add-note",
            "attach-evidence",
            "record-part",
            "link",
            "mark-duplicate"
        ])
    );
    assert!(r.body["number"].as_str().unwrap().starts_with("HZ-"));
    assert_eq!(r.body["deadline"]["step"], "verify");
    assert_eq!(r.body["deadline"]["overdue"], false);
    let gw = app
        .call(
            "GET",
            &format!("/v1/cases/{id}"),
            Some(Role::GridWorker),
            &[],
            None,
        )
        .await;
    assert_eq!(
        gw.body["allowed_actions"],
        json!(["fix-on-spot", "add-note", "attach-evidence", "link"])
    );
}

#[tokio::test]
async fn an_action_not_allowed_in_the_state_is_409_and_records_nothing() {
    let app = app().await;
    let id = app.file_hazard().await;
    let r = app.act(&id, "pass-reinspection", Role::Handler, "{}").await;
    assert_problem(&r, StatusCode::CONFLICT, "not-allowed-in-state");
    assert_eq!(r.body["state"], "reported");
    assert_eq!(
        r.body["allowed_actions"],
        json!([
            "verify",
            "dismiss",
            "fix-on-spot",
            "add-note",
            "attach-evidence",
            "record-part",
            "reassign",
            "relocate",
            "add-co-handler",
            "supervise",
            "link",
            "mark-duplicate"
        ])
    );
    assert_eq!(app.history_len(&id).await, 1);
}

#[tokio::test]
async fn an_action_not_allowed_for_the_role_is_403_and_records_nothing() {
    let app = app().await;
    let id = app.file_hazard().await;
    let r = app
        .act(
            &id,
            "verify",
            Role::GridWorker,
            r#"{"severity":"general","responsible_party":"物业"}"#,
        )
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "role-not-permitted");
    assert_eq!(r.body["state"], "reported");
    assert_eq!(
        r.body["allowed_actions"],
        json!(["fix-on-spot", "add-note", "attach-evidence", "link"])
    );
    assert_eq!(app.history_len(&id).await, 1);
}

#[tokio::test]
async fn thirty_two_concurrent_actions_over_http_make_one_commit() {
    let app = Arc::new(app().await);
    let id = app.file_hazard().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let app = app.clone();
        let id = id.clone();
        tasks.spawn(async move {
            app.act(
                &id,
                "verify",
                Role::Handler,
                r#"{"severity":"major","responsible_party":"物业"}"#,
            )
            .await
            .status
        });
    }
    let statuses = tasks.join_all().await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let conflict = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflict), (1, 31), "{statuses:?}");
    assert_eq!(app.history_len(&id).await, 2);

    // The same race, with every client naming the version it saw: one wins, 31 get 412.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let app = app.clone();
        let id = id.clone();
        tasks.spawn(async move {
            app.call(
                "POST",
                &format!("/v1/cases/{id}/actions/order-rectification"),
                Some(Role::Handler),
                &[("if-match", "\"2\"")],
                Some(r#"{"measures":"停用楼道插座"}"#),
            )
            .await
            .status
        });
    }
    let statuses = tasks.join_all().await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let stale = statuses
        .iter()
        .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((ok, stale), (1, 31), "{statuses:?}");
    let commits = app
        .log
        .read_case("qinghe", id.parse().unwrap())
        .await
        .unwrap();
    let versions: Vec<u64> = commits.iter().map(|r| r.commit.body.version).collect();
    assert_eq!(versions, vec![1, 2, 3]);
}

#[tokio::test]
async fn a_repeated_post_with_one_idempotency_key_returns_the_same_response() {
    let app = app().await;
    let key = [("idempotency-key", "file-7f3a")];
    let first = app
        .call(
            "POST",
            "/v1/cases",
            Some(Role::GridWorker),
            &key,
            Some(HAZARD),
        )
        .await;
    let again = app
        .call(
            "POST",
            "/v1/cases",
            Some(Role::GridWorker),
            &key,
            Some(HAZARD),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["location"], first.headers["location"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(app.log.head().await.unwrap(), SEEDED + 1);

    let other = HAZARD.replace("电动车楼道充电", "另一件事");
    let reused = app
        .call(
            "POST",
            "/v1/cases",
            Some(Role::GridWorker),
            &key,
            Some(&other),
        )
        .await;
    assert_problem(
        &reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
    );
    assert_eq!(app.log.head().await.unwrap(), SEEDED + 1);

    let id = first.body["case_id"].as_str().unwrap();
    let uri = format!("/v1/cases/{id}/actions/dismiss");
    let key = [("idempotency-key", "dismiss-1")];
    let body = r#"{"reason":"not-a-hazard"}"#;
    let a = app
        .call("POST", &uri, Some(Role::Handler), &key, Some(body))
        .await;
    let b = app
        .call("POST", &uri, Some(Role::Handler), &key, Some(body))
        .await;
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(a.body, b.body);
    assert_eq!(app.log.head().await.unwrap(), SEEDED + 2);
}

#[tokio::test]
async fn bad_input_gets_a_clear_problem_and_changes_nothing() {
    let app = app().await;
    let id = app.file_hazard().await;
    let gw = Some(Role::GridWorker);

    let r = app
        .call("POST", "/v1/cases", gw, &[], Some("{\"kind\": \"hazard\","))
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "malformed-json");

    let unknown = HAZARD.replace("\"kind\"", "\"colour\":\"red\",\"kind\"");
    let r = app.call("POST", "/v1/cases", gw, &[], Some(&unknown)).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    assert_eq!(r.body["field"], "colour");

    let r = app
        .call(
            "POST",
            "/v1/cases",
            gw,
            &[],
            Some(r#"{"kind":"hazard","community":"qinghe"}"#),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    assert_eq!(r.body["field"], "title");

    let huge = format!(
        r#"{{"kind":"hazard","title":"{}"}}"#,
        "x".repeat(MAX_BODY_BYTES)
    );
    let r = app.call("POST", "/v1/cases", gw, &[], Some(&huge)).await;
    assert_problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "body-too-large");

    let r = app.call("GET", "/v1/cases/not-a-uuid", gw, &[], None).await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-case-id");
    // One form of case id: the case's own, not braced, a URN, upper case or without hyphens.
    let uuid: uuid::Uuid = id.parse().unwrap();
    for other in [
        format!("{{{id}}}"),
        format!("urn:uuid:{id}"),
        id.to_uppercase(),
        uuid.simple().to_string(),
    ] {
        let r = app
            .call("GET", &format!("/v1/cases/{other}"), gw, &[], None)
            .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-case-id");
        let r = app
            .act(&other, "add-note", Role::GridWorker, r#"{"text":"x"}"#)
            .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-case-id");
    }

    // A resident ID number whose check character does not follow from its digits (GB 11643).
    let petition = |id_number: &str| {
        json!({"kind": "petition", "community": "qinghe", "grid": "qinghe-03", "title": "供暖",
               "channel": "letter", "petition_type": "appeal-request", "category": "housing",
               "petitioners": [{"name": "丙", "id_number": id_number}]})
        .to_string()
    };
    let officer = Some(Role::PetitionOfficer);
    let r = app
        .call(
            "POST",
            "/v1/cases",
            officer,
            &[],
            Some(&petition("110105194912310021")),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("check character"),
        "{}",
        r.body
    );
    let r = app
        .call(
            "POST",
            "/v1/cases",
            officer,
            &[],
            Some(
                r#"{"kind": "petition", "community": "qinghe",
            "title": "供暖", "channel": "letter", "petition_type": "appeal-request",
            "category": "housing", "petitioners": []}"#,
            ),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    assert_eq!(r.body["field"], "petitioners");

    // Control characters are not text: refused, naming the field.
    let nul = HAZARD.replace("\"title\":\"", "\"title\":\"a\\u0000");
    assert_ne!(nul, HAZARD);
    let r = app.call("POST", "/v1/cases", gw, &[], Some(&nul)).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    assert_eq!(r.body["field"], "title");
    let r = app
        .act(&id, "add-note", Role::GridWorker, r#"{"text":"a\u0007b"}"#)
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
    assert_eq!(r.body["field"], "text");
    let r = app
        .act(
            &id,
            "add-note",
            Role::GridWorker,
            r#"{"text":"第一行\n第二行"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "line breaks are text: {}", r.body);

    let r = app.act(&id, "explode", Role::Handler, "{}").await;
    assert_problem(&r, StatusCode::NOT_FOUND, "unknown-action");

    let r = app
        .act(
            &id,
            "verify",
            Role::Handler,
            r#"{"severity":"catastrophic","responsible_party":"x"}"#,
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");

    let r = app.call("POST", "/v1/cases", None, &[], Some(HAZARD)).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "missing-token");
    assert_eq!(r.headers["www-authenticate"], "Bearer");

    let r = app
        .call(
            "POST",
            "/v1/cases",
            None,
            &[("authorization", "Bearer abc.def.ghi")],
            Some(HAZARD),
        )
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "invalid-token");

    let r = app
        .call(
            "POST",
            &format!("/v1/cases/{id}/actions/verify"),
            Some(Role::Handler),
            &[("if-match", "yesterday")],
            Some("{}"),
        )
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-if-match");

    let r = app.call("GET", "/v1/cases?colour=red", gw, &[], None).await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-query");

    let req = Request::builder()
        .method("POST")
        .uri("/v1/cases")
        .header(
            "authorization",
            format!("Bearer {}", app.token(Role::GridWorker)),
        )
        .header("content-type", "text/plain");
    let r = app.send(req.body(Body::from(HAZARD)).unwrap()).await;
    assert_problem(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    );

    // A token whose claim is long is refused without echoing it back whole.
    let now = jiff::Timestamp::now().as_second();
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "x", "tenant": "t".repeat(10_000), "role": "supervisor",
                "iat": now, "exp": now + 60}),
        &jsonwebtoken::EncodingKey::from_secret(b"test-secret-test-secret-test-secret"),
    )
    .unwrap();
    let r = app
        .call(
            "GET",
            "/v1/cases",
            None,
            &[("authorization", &format!("Bearer {forged}"))],
            None,
        )
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "invalid-token");
    assert!(r.body.to_string().len() < 1000, "{}", r.body);

    assert_eq!(
        app.log.head().await.unwrap(),
        SEEDED + 2,
        "nothing was recorded but the note with a line break"
    );
    assert_eq!(app.history_len(&id).await, 2);
}

#[tokio::test]
async fn another_tenant_sees_no_case() {
    let app = app().await;
    let id = app.file_hazard().await;
    let token = app.token_in("elsewhere", Role::Supervisor);
    let auth = [("authorization", format!("Bearer {token}"))];
    for uri in [format!("/v1/cases/{id}"), format!("/v1/cases/{id}/history")] {
        let req = Request::builder()
            .uri(&uri)
            .header(auth[0].0, &auth[0].1)
            .body(Body::empty())
            .unwrap();
        assert_problem(
            &app.send(req).await,
            StatusCode::NOT_FOUND,
            "case-not-found",
        );
    }
    let req = Request::builder()
        .uri("/v1/cases?min_position=1")
        .header(auth[0].0, &auth[0].1)
        .body(Body::empty())
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.body["items"], json!([]));
}

#[tokio::test]
async fn a_list_waits_for_the_position_a_client_asks_for() {
    let app = app().await;
    let filed = app
        .call(
            "POST",
            "/v1/cases",
            Some(Role::GridWorker),
            &[],
            Some(HAZARD),
        )
        .await;
    let position = filed.body["position"].as_u64().unwrap();
    let r = app
        .call(
            "GET",
            &format!("/v1/cases?min_position={position}&status=reported"),
            Some(Role::Supervisor),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["items"][0]["id"], filed.body["case_id"]);

    let r = app
        .call(
            "GET",
            "/v1/cases?min_position=999",
            Some(Role::Supervisor),
            &[],
            None,
        )
        .await;
    assert_problem(&r, StatusCode::SERVICE_UNAVAILABLE, "read-model-behind");
    assert_eq!(r.headers["retry-after"], "1");
}

#[tokio::test]
async fn worklists_and_filters_are_query_parameters_with_clear_errors() {
    // Monday 3 March 2025, 10:00 in Shanghai: verification is due at the close of Tuesday.
    let app = app_with_clock(Arc::new(FixedClock(
        "2025-03-03T02:00:00Z".parse().unwrap(),
    )))
    .await;
    let id = app.file_hazard().await;
    let r = app
        .call(
            "POST",
            "/v1/cases",
            Some(Role::Supervisor),
            &[],
            Some(HAZARD),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let position = r.body["position"].as_u64().unwrap();
    let list = |query: String, role: Role| {
        let app = &app;
        async move {
            app.call(
                "GET",
                &format!("/v1/cases?min_position={position}&{query}"),
                Some(role),
                &[],
                None,
            )
            .await
        }
    };
    // Mine: the grid worker filed the first case only.
    let r = list("worklist=mine".into(), Role::GridWorker).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    // Verification is due within a working day: due soon, not overdue.
    let r = list("worklist=due-soon".into(), Role::Supervisor).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2, "{}", r.body);
    assert_eq!(r.body["items"][0]["overdue"], false);
    let r = list("worklist=overdue".into(), Role::Supervisor).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 0, "{}", r.body);
    let r = list(
        "severity=general&category=e-bike-charging&closed=false".into(),
        Role::Supervisor,
    )
    .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2, "{}", r.body);
    let r = list(
        "filed_from=2000-01-01&filed_to=2000-01-02".into(),
        Role::Supervisor,
    )
    .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 0, "{}", r.body);

    // A value that names nothing is refused, naming the parameter: an empty list would look
    // like a fact. Empty grid, severity and lead unit mean "without one".
    for query in [
        "status=reported",
        "kind=hazard&status=reported",
        "severity=",
        "grid=",
        "lead_unit=",
        "channel=visit",
        "outcome=duplicate",
        "event=supervisions&event_from=2025-03-01&event_to=2025-03-31",
    ] {
        let r = list(query.to_owned(), Role::Supervisor).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
    }
    for (query, says) in [
        ("worklist=someday", "worklists are"),
        ("worklist=my-unit", "names no unit"),
        ("due_before=next-week", "due_before"),
        ("closed=perhaps", "closed"),
        ("colour=red", "colour"),
        ("status=bogus", "status"),
        ("kind=petition&status=rectifying", "a state of petition"),
        ("outcome=bogus", "outcome"),
        ("severity=general%3BDROP", "severity"),
        ("grid=..%2Fg1", "grid"),
        ("community=Qinghe", "community"),
        ("channel=pigeon", "channel"),
        (
            "event=bogus&event_from=2025-03-01&event_to=2025-03-31",
            "event",
        ),
        ("q=%00", "control characters"),
    ] {
        let r = list(query.to_owned(), Role::Supervisor).await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-query");
        assert!(
            r.body["detail"].as_str().unwrap().contains(says),
            "{query}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn status_reports_the_projection_lag() {
    let app = app().await;
    app.file_hazard().await;
    let mut last = Value::Null;
    for _ in 0..100 {
        last = app.call("GET", "/v1/status", None, &[], None).await.body;
        if last["lag"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(last["log_head"], SEEDED + 1, "{last}");
    assert_eq!(last["projected"], SEEDED + 1, "{last}");
    assert_eq!(last["lag"], 0, "{last}");
    assert_eq!(last["read_model"], "sqlite");
}

/// A tenant on London's time: a case filed at 20:00 UTC on New Year's Eve is on its 31 December
/// in lists (`filed_from`/`filed_to` days), numbered in the old year, and its figures say so.
#[tokio::test]
async fn lists_and_figures_take_days_in_the_tenants_time_zone() {
    let london = docket_domain::deadlines::DeadlinePolicy::from_toml(
        "time_zone = \"Europe/London\"",
        |_| Err("no calendar".to_owned()),
    )
    .unwrap();
    let policies = docket_domain::deadlines::Policies::default()
        .with_tenant("qinghe".parse().unwrap(), london);
    let clock = Arc::new(FixedClock("2025-12-31T20:00:00Z".parse().unwrap()));
    let app = app_with(clock, policies).await;
    let id = app.file_hazard().await;
    let list = |query: &'static str| {
        let app = &app;
        async move {
            let uri = format!("/v1/cases?{query}&min_position={}", SEEDED + 1);
            let r = app
                .call("GET", &uri, Some(Role::Supervisor), &[], None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            r.body["items"].as_array().unwrap().clone()
        }
    };
    let on_eve = list("filed_from=2025-12-31&filed_to=2025-12-31").await;
    assert_eq!(on_eve.len(), 1);
    assert_eq!(on_eve[0]["id"], id.as_str());
    assert!(
        on_eve[0]["number"]
            .as_str()
            .unwrap()
            .starts_with("HZ-2025-")
    );
    assert!(list("filed_from=2026-01-01").await.is_empty());
    let r = app
        .call(
            "GET",
            "/v1/stats?from=2025-12-31&to=2025-12-31",
            Some(Role::Supervisor),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["timezone"], "Europe/London", "{}", r.body);
}

/// A commit this release cannot read (an event version of a newer one) quarantines its case: the
/// status counts it for the operator, supervisors see it listed with why, and the case answers
/// 409 `case-quarantined` to commands and reads instead of failing, while the rest serves.
#[tokio::test]
async fn a_quarantined_case_answers_409_and_the_status_counts_it() {
    let app = app().await;
    let held = app.file_hazard().await;
    let other = app.file_hazard().await;
    // A command before the case is held: the quarantine it read then must not be the one the
    // next command goes by.
    let earlier = app.file_hazard().await;
    let verify = r#"{"severity":"general","responsible_party":"餐馆"}"#;
    let r = app.act(&earlier, "verify", Role::Handler, verify).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let position = app
        .append_from_a_newer_release(
            held.parse().unwrap(),
            "hazard",
            ("case.verified", json!({"severity": "general"})),
        )
        .await;

    let status = app.call("GET", "/v1/status", None, &[], None).await.body;
    assert_eq!(
        status["quarantined"],
        json!({"commits": 1, "cases": 1}),
        "{status}"
    );
    assert_eq!(status["lag"], 0, "{status}");
    let metrics = app.call("GET", "/metrics", None, &[], None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.body.as_str().unwrap();
    for line in [
        "docket_quarantined_commits 1",
        "docket_quarantined_cases 1",
        "docket_projection_lag_commits 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }

    let r = app.act(&held, "verify", Role::Handler, verify).await;
    assert_problem(&r, StatusCode::CONFLICT, "case-quarantined");
    assert!(r.body["detail"].as_str().unwrap().contains("docket repair"));
    let r = app
        .call(
            "GET",
            &format!("/v1/cases/{held}"),
            Some(Role::Supervisor),
            &[],
            None,
        )
        .await;
    assert_problem(&r, StatusCode::CONFLICT, "case-quarantined");
    assert_eq!(
        app.log.head().await.unwrap(),
        position,
        "nothing was written"
    );
    let r = app.act(&other, "verify", Role::Handler, verify).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let listed = app
        .call("GET", "/v1/quarantine", Some(Role::Supervisor), &[], None)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", listed.body);
    assert_eq!(items[0]["case_id"], held.as_str());
    assert_eq!(items[0]["version"], 2);
    assert!(
        items[0]["reason"].as_str().unwrap().contains("v99"),
        "{}",
        listed.body
    );
    assert!(
        items[0].get("position").is_none(),
        "positions count other tenants' commits"
    );
    let admin = app
        .call("GET", "/v1/quarantine", Some(Role::Admin), &[], None)
        .await;
    assert_eq!(
        admin.body["items"][0]["position"], position,
        "{}",
        admin.body
    );
    let theirs = app
        .send(
            Request::builder()
                .uri("/v1/quarantine")
                .header(
                    "authorization",
                    format!("Bearer {}", app.token_in("other", Role::Supervisor)),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(theirs.body["items"], json!([]), "{}", theirs.body);
    let handler = app
        .call("GET", "/v1/quarantine", Some(Role::Handler), &[], None)
        .await;
    assert_problem(&handler, StatusCode::FORBIDDEN, "role-not-permitted");
}

#[tokio::test]
async fn a_token_over_its_rate_gets_429_with_retry_after_and_others_go_on() {
    let mut app = app().await;
    app.router = router(app.state.clone().with_rate_limit(1, 3));
    for _ in 0..3 {
        let r = app
            .call("GET", "/v1/cases", Some(Role::Handler), &[], None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = app
        .call("GET", "/v1/cases", Some(Role::Handler), &[], None)
        .await;
    assert_problem(&r, StatusCode::TOO_MANY_REQUESTS, "rate-limited");
    assert_eq!(r.headers["retry-after"], "1");
    let other = app
        .call("GET", "/v1/cases", Some(Role::Supervisor), &[], None)
        .await;
    assert_eq!(
        other.status,
        StatusCode::OK,
        "another token has its own rate"
    );
}

mod console;
mod directory;
mod disclosure;
mod events;
mod evidence;
mod openapi;
mod operations;
mod persons;
mod reach;
mod stats;
mod watch;

#[tokio::test]
async fn a_retried_action_answers_first_even_once_it_moved_the_case_out_of_reach() {
    let app = app().await;
    let mediator = Actor {
        id: "mediator-1".to_owned(),
        tenant: "qinghe".parse().unwrap(),
        role: Role::Mediator,
        unit: Some("qinghe-mediation".parse().unwrap()),
        grids: Vec::new(),
    };
    let token = app.auth.mint(&mediator, Duration::from_secs(600));
    let post = |uri: String, key: Option<&'static str>, body: Value| {
        let mut req = Request::builder()
            .method("POST")
            .uri(uri)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json");
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        req.body(Body::from(body.to_string())).unwrap()
    };
    let filed = app
        .send(post(
            "/v1/cases".to_owned(),
            None,
            json!({"kind": "dispute", "community": "qinghe", "grid": "qinghe-03",
                   "room": "qinghe-mediation", "title": "邻里噪音", "dispute_type": "neighbour",
                   "source": "walk-in",
                   "parties": [{"side": "applicant", "name": "甲"}, {"side": "respondent", "name": "乙"}]}),
        ))
        .await;
    assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.body);
    let id = filed.body["case_id"].as_str().unwrap().to_owned();
    // The room hands the dispute to another unit: out of the mediator's reach.
    let reassign = || {
        post(
            format!("/v1/cases/{id}/actions/reassign"),
            Some("hand-over-1"),
            json!({"unit": "qinghe-fire", "reason": "涉及消防通道"}),
        )
    };
    let first = app.send(reassign()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let head = app.log.head().await.unwrap();
    // The answer was lost; the client retries with the same key and gets it, not a 404.
    let again = app.send(reassign()).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["commit_id"], first.body["commit_id"]);
    assert_eq!(
        app.log.head().await.unwrap(),
        head,
        "nothing recorded twice"
    );
    // The same request under another key, or anything else of theirs on the case, is not
    // found now.
    let other_key = app
        .send(post(
            format!("/v1/cases/{id}/actions/reassign"),
            Some("hand-over-2"),
            json!({"unit": "qinghe-fire", "reason": "涉及消防通道"}),
        ))
        .await;
    assert_problem(&other_key, StatusCode::NOT_FOUND, "case-not-found");
    let other = app
        .send(post(
            format!("/v1/cases/{id}/actions/reassign"),
            Some("hand-back-1"),
            json!({"unit": "qinghe-mediation", "reason": "退回"}),
        ))
        .await;
    assert_problem(&other, StatusCode::NOT_FOUND, "case-not-found");
    let r = app
        .send_as(&mediator, "GET", &format!("/v1/cases/{id}"), None)
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "case-not-found");
}
