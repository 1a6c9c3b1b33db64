//! The API's contract: the document served is the one checked in, it lists every route the
//! router serves and nothing it does not, its problem codes are the ones the API answers with,
//! and Swagger UI is served from the binary. (Every answer the other tests receive is held to
//! the document by `App::send`.)

use super::*;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A path of the router with its parameters filled in.
fn instance(template: &str) -> String {
    template
        .replace("{id}", "0190f5c2-6a4e-7c3d-8b2a-3f9e4d5c6b7a")
        .replace("{action}", "verify")
        .replace("{file}", "swagger-ui.css")
}

#[tokio::test]
async fn the_served_document_is_the_one_checked_in() {
    let app = app().await;
    let r = app.call("GET", "/openapi.json", None, &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["openapi"], "3.1.0");
    let path = docket_testkit::workspace_root().join("docs/openapi.json");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == crate::openapi::document_text(),
        "docs/openapi.json is not the document the server serves; write it again with \
         `cargo run -p docket-server --bin docket -- openapi > docs/openapi.json`"
    );
    let checked_in: Value = serde_json::from_str(&checked_in).unwrap();
    assert_eq!(r.body, checked_in);
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_operation_is_routed() {
    let app = app().await;
    let doc = crate::openapi::document();
    let paths = doc["paths"].as_object().unwrap();
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    documented.sort_unstable();
    let mut routed: Vec<&str> = crate::ROUTES.to_vec();
    routed.extend(["/docs", "/docs/", "/docs/{file}"]);
    routed.sort_unstable();
    assert_eq!(
        routed, documented,
        "the router's paths and the document's differ"
    );
    for template in routed {
        for method in METHODS {
            let r = app.call(method, &instance(template), None, &[], None).await;
            let routed = r.status != StatusCode::METHOD_NOT_ALLOWED && r.body["code"] != "no-route";
            let documented = !paths[template][method.to_ascii_lowercase()].is_null();
            assert_eq!(
                routed, documented,
                "{method} {template}: routed {routed}, documented {documented} ({})",
                r.status
            );
        }
    }
}

#[test]
fn every_problem_the_api_answers_is_documented_under_its_status() {
    use docket_domain::{InvalidInput, Refusal};
    let refusal = |r: Refusal| ApiError::Refused(r);
    let errors = [
        ApiError::Unauthenticated(AuthError::Missing),
        ApiError::Unauthenticated(AuthError::Invalid("expired".into())),
        ApiError::PayloadTooLarge(String::new()),
        ApiError::UnsupportedMediaType(String::new()),
        ApiError::CaseNotFound,
        ApiError::OutsideReach(String::new()),
        ApiError::RoleNotPermitted(String::new()),
        ApiError::NotInDirectory(String::new()),
        ApiError::PersonNotFound,
        ApiError::AuditRunNotFound,
        ApiError::AuditRunning { run: None },
        ApiError::UnknownAction {
            action: "fly".into(),
        },
        ApiError::NoRoute,
        ApiError::MethodNotAllowed,
        ApiError::InvalidInput(InvalidInput {
            field: None,
            message: String::new(),
        }),
        ApiError::IdempotencyKeyReused,
        ApiError::VersionMismatch {
            expected: 1,
            actual: 2,
        },
        ApiError::TooManyRequests {
            retry_after_secs: 1,
        },
        ApiError::Unavailable(String::new()),
        ApiError::NotReady(String::new()),
        ApiError::Internal(String::new()),
        ApiError::from(docket_commands::CommandError::Contention),
        ApiError::from(docket_commands::CommandError::Quarantined {
            case_id: uuid::Uuid::nil(),
            position: 1,
        }),
        ApiError::from(docket_commands::CommandError::DirectoryQuarantined { position: 1 }),
        refusal(Refusal::InvalidField {
            field: "title",
            reason: String::new(),
        }),
    ];
    let doc = crate::openapi::document();
    for error in &errors {
        let (status, code) = error.status_and_code();
        assert!(
            crate::problem::CODES.contains(&(status, code)),
            "{error:?} answers {status} {code}, which problem::CODES does not list"
        );
        let codes = &doc["components"]["schemas"][format!("Problem{status}")]["allOf"][1]["properties"]
            ["code"]["enum"];
        assert!(
            codes.as_array().is_some_and(|c| c.contains(&json!(code))),
            "{status} {code} is not in the document"
        );
    }
}

#[test]
fn counts_are_integers_and_enums_list_their_values() {
    let doc = crate::openapi::document();
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("CommandAnswer", "version"),
        ("CommandAnswer", "position"),
        ("CaseDetail", "links_outside_reach"),
        ("Dispatches", "count"),
        ("PersonFile", "petitions"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["type"], "integer",
            "{schema}.{field}"
        );
    }
    assert_eq!(
        schemas["hazard.Severity"]["enum"],
        json!(["general", "major"])
    );
    let kinds: Vec<&str> = docket_domain::CaseKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(schemas["CaseKind"]["enum"], json!(kinds));
    // The filing of each kind is its filing action's input with `kind`.
    for kind in docket_domain::CaseKind::ALL {
        let filing = &schemas[format!("filing.{}", kind.as_str())];
        assert_eq!(filing["properties"]["kind"]["const"], kind.as_str());
        assert!(
            filing["required"]
                .as_array()
                .unwrap()
                .contains(&json!("kind"))
        );
        assert_eq!(filing["additionalProperties"], false);
    }
}

#[tokio::test]
async fn each_action_body_is_documented_by_the_input_the_domain_parses_it_into() {
    let doc = crate::openapi::document();
    let act = &doc["paths"]["/v1/cases/{id}/actions/{action}"]["post"];
    let actions = act["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "action")
        .unwrap()["schema"]["enum"]
        .as_array()
        .unwrap()
        .clone();
    let table = act["requestBody"]["description"].as_str().unwrap();
    for kind in docket_domain::CaseKind::ALL {
        for action in kind.actions() {
            assert!(actions.contains(&json!(action)), "{action} is not listed");
            assert!(
                table.contains(&format!("| `{action}` | {} |", kind.as_str())),
                "{kind:?} {action} has no input in the table"
            );
        }
    }
    // A body the document describes is one the domain takes: the documented verify input, sent.
    let verify = &doc["components"]["schemas"]["hazard.Verify"];
    assert_eq!(verify["additionalProperties"], false);
    assert!(
        verify["required"]
            .as_array()
            .unwrap()
            .contains(&json!("responsible_party"))
    );
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = app().await;
    let r = app.call("GET", "/docs/", None, &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    let page = r.body.as_str().unwrap();
    assert!(page.contains("swagger-ui"), "{page}");
    // Nothing loads from elsewhere: every script and style is the binary's own.
    for attribute in ["src=\"http", "href=\"http", "src='http", "href='http"] {
        assert!(!page.contains(attribute), "{page}");
    }
    let r = app
        .call("GET", "/docs/swagger-initializer.js", None, &[], None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let initializer = r.body.as_str().unwrap();
    assert!(initializer.contains("/openapi.json"), "{initializer}");
    // Nor does it send the document's address to an online validator.
    assert!(
        initializer.contains("\"validatorUrl\": \"none\"")
            || initializer.contains("\"validatorUrl\":\"none\""),
        "{initializer}"
    );
    let r = app
        .call("GET", "/docs/swagger-ui-bundle.js", None, &[], None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[test]
fn an_answer_the_document_does_not_allow_is_caught() {
    use docket_testkit::contract::Answer;
    let answer = |method, path, status, body: &'static str| Answer {
        method,
        path,
        status,
        content_type: Some("application/json"),
        body: body.as_bytes(),
    };
    let status = r#"{"log_head": 3, "projected": 3, "lag": 0, "read_model": "sqlite",
        "quarantined": {"commits": 0, "cases": 0}}"#;
    contract().assert(answer("GET", "/v1/status", 200, status));
    // A field the document does not have, a count that is not an integer, a status the
    // operation does not answer, an operation that is not there: each is caught.
    let extra = r#"{"log_head": 3, "projected": 3, "lag": 0, "read_model": "sqlite",
        "quarantined": {}, "secret": 1}"#;
    let float = r#"{"log_head": 3.5, "projected": 3, "lag": 0, "read_model": "sqlite",
        "quarantined": {}}"#;
    for (bad, why) in [
        (answer("GET", "/v1/status", 200, extra), "secret"),
        (answer("GET", "/v1/status", 200, float), "log_head"),
        (answer("GET", "/v1/status", 418, status), "418"),
        (answer("DELETE", "/v1/status", 200, status), "delete"),
        (answer("GET", "/v1/nowhere", 200, status), "/v1/nowhere"),
    ] {
        let e = contract().check(bad).expect_err(why);
        assert!(e.contains(why), "{e}");
    }
    // A time that is not one.
    let run = |started_at: &str| {
        format!(
            r#"{{"items": [{{"id": "0190f5c2-6a4e-7c3d-8b2a-3f9e4d5c6b7a", "status": "running",
            "started_at": "{started_at}", "started_by": "s", "phase": "chains", "percent": 0,
            "commits": 0, "cases": 0, "mismatches": 0, "holds": null}}]}}"#
        )
    };
    let good = run("2026-12-05T08:00:00Z");
    contract().assert(answer(
        "GET",
        "/v1/audit/runs",
        200,
        Box::leak(good.into_boxed_str()),
    ));
    let bad = run("yesterday");
    let e = contract()
        .check(answer(
            "GET",
            "/v1/audit/runs",
            200,
            Box::leak(bad.into_boxed_str()),
        ))
        .expect_err("not a date-time");
    assert!(e.contains("date-time"), "{e}");
    let problem = r#"{"type": "urn:docket:problem:made-up", "title": "t", "status": 409,
        "code": "made-up", "detail": "d"}"#;
    let e = contract()
        .check(Answer {
            content_type: Some("application/problem+json"),
            ..answer(
                "POST",
                "/v1/cases/0190f5c2-6a4e-7c3d-8b2a-3f9e4d5c6b7a/actions/verify",
                409,
                problem,
            )
        })
        .expect_err("an unknown code");
    assert!(e.contains("made-up"), "{e}");
}
