//! One error shape for clients: `application/problem+json` (RFC 9457) with a stable `code`.
//! A 5xx tells the client little and logs everything.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_commands::CommandError;
use docket_domain::{InvalidInput, Refusal};
use docket_eventlog::LogError;
use docket_projections::ProjectionError;
use serde_json::{Map, Value, json};

use crate::auth::AuthError;

/// Every problem code, with the status that carries it: the API document lists them per status,
/// and a test holds every `ApiError` to this list.
pub(crate) const CODES: &[(u16, &str)] = &[
    (400, "invalid-case-id"),
    (400, "invalid-idempotency-key"),
    (400, "invalid-if-match"),
    (400, "invalid-last-event-id"),
    (400, "invalid-person-id"),
    (400, "invalid-query"),
    (400, "invalid-content-hash"),
    (400, "malformed-json"),
    (400, "unreadable-body"),
    (401, "missing-token"),
    (401, "invalid-token"),
    (403, "outside-reach"),
    (403, "role-not-permitted"),
    (403, "unit-not-permitted"),
    (403, "token-not-in-directory"),
    (404, "case-not-found"),
    (404, "person-not-found"),
    (404, "audit-run-not-found"),
    (404, "evidence-not-found"),
    (404, "unknown-action"),
    (404, "no-route"),
    (405, "method-not-allowed"),
    (409, "not-allowed-in-state"),
    (409, "case-quarantined"),
    (409, "directory-quarantined"),
    (409, "audit-running"),
    (412, "version-mismatch"),
    (413, "body-too-large"),
    (415, "unsupported-media-type"),
    (422, "invalid-input"),
    (422, "idempotency-key-reused"),
    (429, "rate-limited"),
    (500, "internal"),
    (503, "read-model-behind"),
    (503, "contention"),
    (503, "unavailable"),
    (503, "not-ready"),
];

/// Every way a request can fail, as the client sees it.
#[derive(Debug)]
pub enum ApiError {
    /// 401: no token, or one that does not verify.
    Unauthenticated(AuthError),
    /// 400: the request is malformed (bad JSON, a bad id in the path, a bad header).
    BadRequest { code: &'static str, detail: String },
    /// 413
    PayloadTooLarge(String),
    /// 415
    UnsupportedMediaType(String),
    /// 404: no such case within the caller's reach.
    CaseNotFound,
    /// 403: a filing would put the case outside the filer's own reach.
    OutsideReach(String),
    /// 403: the caller's role may not use this resource at all.
    RoleNotPermitted(String),
    /// 403: the token names a unit or grid the tenant's directory does not hold in service.
    NotInDirectory(String),
    /// 404: no person of this id or ID number in the caller's tenant.
    PersonNotFound,
    /// 404: no audit run with this id that the caller may see.
    AuditRunNotFound,
    /// 404: no evidence of this content hash in the caller's tenant.
    EvidenceNotFound,
    /// 409: a commit of the case (or the directory) cannot be projected; it takes no commands
    /// until repaired.
    Quarantined { code: &'static str, detail: String },
    /// 409: an audit is running already; `run` is its id, where the caller may see it.
    AuditRunning { run: Option<uuid::Uuid> },
    /// 404: no case kind knows this action.
    UnknownAction { action: String },
    /// 404: no such route.
    NoRoute,
    /// 405
    MethodNotAllowed,
    /// 422: the body does not make a valid command.
    InvalidInput(InvalidInput),
    /// 422: an idempotency key reused for a different request.
    IdempotencyKeyReused,
    /// 409 (state) or 403 (role) or 422 (a field's value): the case refuses the command.
    Refused(Refusal),
    /// 412: `If-Match` names a version the case is not at.
    VersionMismatch { expected: u64, actual: u64 },
    /// 503: a read model has not reached the position asked for yet, or the case is too busy.
    NotYet { code: &'static str, detail: String },
    /// 429: this token has made too many requests; try again after the seconds given.
    TooManyRequests { retry_after_secs: u64 },
    /// 503: the event log or a read model is unreachable.
    Unavailable(String),
    /// 503 from `/readyz`: what keeps this replica from serving.
    NotReady(String),
    /// 500: a fault of ours. Logged in full, described to the client in general terms.
    Internal(String),
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Refused(r) => ApiError::Refused(r),
            CommandError::NotFound => ApiError::CaseNotFound,
            CommandError::OutsideReach(why) => ApiError::OutsideReach(why),
            CommandError::VersionMismatch { expected, actual } => {
                ApiError::VersionMismatch { expected, actual }
            }
            CommandError::KeyReused => ApiError::IdempotencyKeyReused,
            CommandError::Contention => ApiError::NotYet {
                code: "contention",
                detail: e.to_string(),
            },
            CommandError::Log(log) => log.into(),
            CommandError::Quarantined { .. } => ApiError::Quarantined {
                code: "case-quarantined",
                detail: e.to_string(),
            },
            CommandError::DirectoryQuarantined { .. } => ApiError::Quarantined {
                code: "directory-quarantined",
                detail: e.to_string(),
            },
            CommandError::KeyStoreUnavailable(_) => ApiError::Unavailable(e.to_string()),
            CommandError::Corrupt { .. } | CommandError::Privacy(_) => {
                ApiError::Internal(e.to_string())
            }
        }
    }
}

/// The key store's failures: unavailable (a Postgres restarting or failing over) is 503, like the
/// log's; anything else is a fault of ours.
impl From<docket_privacy::PrivacyError> for ApiError {
    fn from(e: docket_privacy::PrivacyError) -> Self {
        if e.is_unavailable() {
            ApiError::Unavailable(e.to_string())
        } else {
            ApiError::Internal(e.to_string())
        }
    }
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Unavailable(_) => ApiError::Unavailable(e.to_string()),
            LogError::Conflict { .. }
            | LogError::Rejected { .. }
            | LogError::Corrupt { .. }
            | LogError::Setup(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(e: ProjectionError) -> Self {
        match e {
            ProjectionError::Database(_) | ProjectionError::Sqlite(_) | ProjectionError::Log(_) => {
                ApiError::Unavailable(e.to_string())
            }
            ProjectionError::AuditRunning => ApiError::AuditRunning { run: None },
            ProjectionError::Migration(_)
            | ProjectionError::OtherLog { .. }
            | ProjectionError::Superseded { .. }
            | ProjectionError::NumbersDiverged
            | ProjectionError::BadAddress(_)
            | ProjectionError::Io(_)
            | ProjectionError::Unprojectable { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

impl ApiError {
    /// The status and the code this error answers with.
    #[cfg(test)]
    pub(crate) fn status_and_code(&self) -> (u16, &'static str) {
        let (status, code, ..) = self.parts();
        (status.as_u16(), code)
    }

    fn parts(
        &self,
    ) -> (
        StatusCode,
        &'static str,
        &'static str,
        String,
        Map<String, Value>,
    ) {
        let mut ext = Map::new();
        let (status, code, title, detail) = match self {
            ApiError::Unauthenticated(e) => (
                StatusCode::UNAUTHORIZED,
                match e {
                    AuthError::Missing => "missing-token",
                    AuthError::Invalid(_) => "invalid-token",
                },
                "Not authenticated",
                e.to_string(),
            ),
            ApiError::BadRequest { code, detail } => (
                StatusCode::BAD_REQUEST,
                *code,
                "Bad request",
                detail.clone(),
            ),
            ApiError::PayloadTooLarge(d) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Request body too large",
                d.clone(),
            ),
            ApiError::UnsupportedMediaType(d) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                d.clone(),
            ),
            ApiError::CaseNotFound => (
                StatusCode::NOT_FOUND,
                "case-not-found",
                "Case not found",
                "no such case".to_owned(),
            ),
            ApiError::OutsideReach(why) => (
                StatusCode::FORBIDDEN,
                "outside-reach",
                "Outside your reach",
                why.clone(),
            ),
            ApiError::RoleNotPermitted(why) => (
                StatusCode::FORBIDDEN,
                "role-not-permitted",
                "Not permitted for this role",
                why.clone(),
            ),
            ApiError::NotInDirectory(why) => (
                StatusCode::FORBIDDEN,
                "token-not-in-directory",
                "Token names what the directory does not hold",
                why.clone(),
            ),
            ApiError::EvidenceNotFound => (
                StatusCode::NOT_FOUND,
                "evidence-not-found",
                "Evidence not found",
                "no evidence of this content hash in this tenant".to_owned(),
            ),
            ApiError::PersonNotFound => (
                StatusCode::NOT_FOUND,
                "person-not-found",
                "Person not found",
                "no such person in this tenant".to_owned(),
            ),
            ApiError::AuditRunNotFound => (
                StatusCode::NOT_FOUND,
                "audit-run-not-found",
                "Audit run not found",
                "no such audit run for this caller (runs are kept until the server restarts, the \
                 last 16 of them)"
                    .to_owned(),
            ),
            ApiError::Quarantined { code, detail } => {
                (StatusCode::CONFLICT, *code, "Quarantined", detail.clone())
            }
            ApiError::AuditRunning { run } => {
                if let Some(run) = run {
                    ext.insert("run".into(), json!(run));
                }
                (
                    StatusCode::CONFLICT,
                    "audit-running",
                    "An audit is running",
                    "one audit runs at a time; follow the running one, or start another when it \
                     has finished"
                        .to_owned(),
                )
            }
            ApiError::UnknownAction { action } => {
                let action = docket_domain::shown(action);
                ext.insert("action".into(), json!(action));
                (
                    StatusCode::NOT_FOUND,
                    "unknown-action",
                    "Unknown action",
                    format!("no kind of case has an action {action:?}"),
                )
            }
            ApiError::NoRoute => (
                StatusCode::NOT_FOUND,
                "no-route",
                "Not found",
                "no such resource".to_owned(),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this resource does not take that method".to_owned(),
            ),
            ApiError::InvalidInput(e) => {
                if let Some(field) = &e.field {
                    ext.insert("field".into(), json!(field));
                }
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-input",
                    "Invalid input",
                    e.message.clone(),
                )
            }
            ApiError::IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                "this Idempotency-Key was already used for a different request".to_owned(),
            ),
            ApiError::Refused(r) => {
                let status = match r {
                    Refusal::NotAllowedInState {
                        state,
                        allowed,
                        reason,
                        ..
                    } => {
                        ext.insert("state".into(), json!(state));
                        ext.insert("allowed_actions".into(), json!(allowed));
                        if let Some(reason) = reason {
                            ext.insert("reason".into(), json!(reason));
                        }
                        (
                            StatusCode::CONFLICT,
                            "not-allowed-in-state",
                            "Action not allowed in this state",
                        )
                    }
                    Refusal::RoleNotPermitted {
                        state,
                        role,
                        allowed,
                        ..
                    } => {
                        ext.insert("state".into(), json!(state));
                        ext.insert("role".into(), json!(role));
                        ext.insert("allowed_actions".into(), json!(allowed));
                        (
                            StatusCode::FORBIDDEN,
                            "role-not-permitted",
                            "Action not permitted for this role",
                        )
                    }
                    Refusal::UnitNotPermitted {
                        state,
                        role,
                        acting_for,
                        allowed,
                        ..
                    } => {
                        ext.insert("state".into(), json!(state));
                        ext.insert("role".into(), json!(role));
                        ext.insert("acting_for".into(), json!(acting_for));
                        ext.insert("allowed_actions".into(), json!(allowed));
                        (
                            StatusCode::FORBIDDEN,
                            "unit-not-permitted",
                            "Action is for the lead unit",
                        )
                    }
                    Refusal::InvalidField { field, .. } => {
                        ext.insert("field".into(), json!(field));
                        (
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "invalid-input",
                            "Invalid input",
                        )
                    }
                };
                (status.0, status.1, status.2, r.to_string())
            }
            ApiError::VersionMismatch { expected, actual } => {
                ext.insert("expected_version".into(), json!(expected));
                ext.insert("current_version".into(), json!(actual));
                (
                    StatusCode::PRECONDITION_FAILED,
                    "version-mismatch",
                    "Case changed",
                    format!("If-Match names version {expected}; the case is at version {actual}"),
                )
            }
            ApiError::NotYet { code, detail } => (
                StatusCode::SERVICE_UNAVAILABLE,
                *code,
                "Not yet",
                detail.clone(),
            ),
            ApiError::TooManyRequests { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!(
                    "this token has made more requests than its rate allows; retry in {retry_after_secs} s"
                ),
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "a store Docket depends on is unavailable; try again shortly".to_owned(),
            ),
            ApiError::NotReady(detail) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "not-ready",
                "Not ready",
                detail.clone(),
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "something went wrong on our side; it has been logged".to_owned(),
            ),
        };
        (status, code, title, detail, ext)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(e) => tracing::error!(error = %e, "internal error"),
            ApiError::Unavailable(e) => tracing::warn!(error = %e, "dependency unavailable"),
            ApiError::NotReady(e) => tracing::warn!(reason = %e, "not ready"),
            _ => {}
        }
        let (status, code, title, detail, ext) = self.parts();
        let mut body = json!({
            "type": format!("urn:docket:problem:{code}"),
            "title": title,
            "status": status.as_u16(),
            "code": code,
            "detail": detail,
        });
        body.as_object_mut().expect("an object").extend(ext);
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            ApiError::Unauthenticated(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::NotYet { .. } | ApiError::Unavailable(_) | ApiError::NotReady(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }
}
