//! Extractors whose failures come out as problem documents.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde_json::Value;

use crate::AppState;
use crate::auth::AuthError;
use crate::problem::ApiError;
use docket_commands::Actor;

/// A JSON body, or `Null` when the body is empty. Unknown fields are judged by the command parser.
#[derive(Debug)]
pub(crate) struct JsonBody(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            });
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(format!(
                    "the body is over the limit of {} bytes",
                    crate::MAX_BODY_BYTES
                ))
            } else {
                ApiError::BadRequest {
                    code: "unreadable-body",
                    detail: rejection.body_text(),
                }
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Null));
        }
        if is_json != Some(true) {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as Content-Type: application/json".to_owned(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::BadRequest {
                code: "malformed-json",
                detail: format!("the body is not valid JSON: {e}"),
            })
    }
}

/// Query parameters, or 400 `invalid-query` saying what is wrong with them.
#[derive(Debug)]
pub(crate) struct Params<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(params)| Params(params))
            .map_err(|e| ApiError::BadRequest {
                code: "invalid-query",
                detail: e.body_text(),
            })
    }
}

/// The authenticated caller.
#[derive(Debug)]
pub(crate) struct Caller(pub(crate) Actor);

/// When the caller's token expires: set on the request by `Caller`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenExpires(pub(crate) jiff::Timestamp);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthenticated(AuthError::Missing))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(ApiError::Unauthenticated(AuthError::Missing))?;
        let (actor, expires) = state
            .auth
            .authenticate(token)
            .await
            .map_err(ApiError::Unauthenticated)?;
        state.limiter.check(&actor)?;
        crate::directory::check_token(state, &actor).await?;
        // What answers long (an event stream) ends when the token does.
        parts.extensions.insert(TokenExpires(expires));
        Ok(Caller(actor))
    }
}

/// A request rate per token holder (tenant and subject): a sustained rate and a burst.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limiter: governor::DefaultKeyedRateLimiter<String>,
}

impl RateLimiter {
    pub(crate) fn new(per_second: u32, burst: u32) -> Self {
        let rate = std::num::NonZeroU32::new(per_second.max(1)).expect("at least 1");
        let burst = std::num::NonZeroU32::new(burst.max(1)).expect("at least 1");
        Self {
            limiter: governor::RateLimiter::keyed(
                governor::Quota::per_second(rate).allow_burst(burst),
            ),
        }
    }

    pub(crate) fn check(&self, actor: &Actor) -> Result<(), ApiError> {
        let key = format!("{}/{}", actor.tenant, actor.id);
        let verdict = self.limiter.check_key(&key);
        // Forget idle holders now and then, so the table does not grow without end.
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        verdict.map_err(|not_until| {
            use governor::clock::Clock as _;
            metrics::counter!("docket_rate_limited_total").increment(1);
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            ApiError::TooManyRequests {
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
#[derive(Debug)]
pub(crate) struct IdempotencyKey(pub(crate) Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        let bad = || ApiError::BadRequest {
            code: "invalid-idempotency-key",
            detail: "Idempotency-Key must be 1 to 255 visible ASCII characters".to_owned(),
        };
        let key = value.to_str().map_err(|_| bad())?;
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad());
        }
        Ok(IdempotencyKey(Some(key.to_owned())))
    }
}

/// The `If-Match` header: the case version the client saw, as its ETag (`"3"`).
#[derive(Debug)]
pub(crate) struct IfMatch(pub(crate) Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        value
            .to_str()
            .ok()
            .map(|v| v.trim().trim_matches('"'))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|v| IfMatch(Some(v)))
            .ok_or(ApiError::BadRequest {
                code: "invalid-if-match",
                detail: "If-Match must be a case ETag such as \"3\"".to_owned(),
            })
    }
}

/// The ETag of a case version.
pub(crate) fn etag(version: u64) -> String {
    format!("\"{version}\"")
}
