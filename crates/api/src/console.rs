//! The office's console in a browser (`docket-console`'s pages), served beside the API on the same
//! port: `/` is its page, `/console/*` its files. It is a client of the API like any other: it
//! signs in, then calls `/v1` with a bearer token it keeps in memory.
//!
//! How it signs in is `/console/config.json`: with an identity provider, the OpenID Connect
//! authorization-code flow with PKCE (issuer, client id, redirect URL); on a machine trying
//! Docket, a demo role picked from a list (`POST /console/demo-token`, only where `docket
//! serve` prints demo tokens anyway); a token pasted in either case.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use docket_commands::Actor;
use serde::{Deserialize, Serialize};

use crate::{ApiError, AppState};

/// How long a token picked on the sign-in page lasts: a working day.
const DEMO_SIGN_IN_TTL: Duration = Duration::from_secs(10 * 3600);

/// How the console signs people in.
#[derive(Debug, Clone, Default)]
pub struct ConsoleSetup {
    /// The demo actors offered on the sign-in page, one per role.
    pub demo: Vec<Actor>,
    pub oidc: Option<OidcClient>,
}

/// The console as a public client of an OpenID Connect provider.
#[derive(Debug, Clone, Serialize)]
pub struct OidcClient {
    pub issuer: String,
    pub client_id: String,
    pub redirect_url: String,
    /// The scopes asked for: `openid` and whatever the provider needs to put Docket's claims in
    /// the access token.
    pub scope: String,
    /// Where the pages may connect to besides this server: the issuer's origin and that of its
    /// token endpoint, which its discovery document names (it may be another), once read.
    #[serde(skip)]
    origins: std::sync::Arc<std::sync::RwLock<Vec<String>>>,
}

/// How long to wait between attempts to read a provider's discovery document that did not
/// answer.
const DISCOVERY_RETRY: Duration = Duration::from_secs(30);

impl OidcClient {
    /// The client of `issuer`. Its discovery document, which says where the token endpoint is,
    /// is read in the background (and read again until it answers), so that the server starts
    /// whether or not the provider does; until then the pages may connect to the issuer's origin.
    pub fn new(issuer: String, client_id: String, redirect_url: String, scope: String) -> Self {
        let client = Self {
            origins: std::sync::Arc::new(std::sync::RwLock::new(vec![origin(&issuer)])),
            issuer,
            client_id,
            redirect_url,
            scope,
        };
        tokio::spawn(client.clone().discover());
        client
    }

    /// Where the pages may connect to besides this server.
    fn origins(&self) -> Vec<String> {
        self.origins
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn discover(self) {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        loop {
            let found = async {
                let response = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()?
                    .get(&url)
                    .send()
                    .await?
                    .error_for_status()?;
                response.json::<serde_json::Value>().await
            }
            .await;
            match found {
                Ok(document) => {
                    // The browser is sent to the authorization endpoint; it fetches the token
                    // one.
                    if let Some(token) = document["token_endpoint"].as_str().map(origin) {
                        let mut origins = self.origins.write().unwrap_or_else(|p| p.into_inner());
                        if !token.is_empty() && !origins.contains(&token) {
                            origins.push(token);
                        }
                    }
                    return;
                }
                Err(e) => tracing::warn!(
                    error = %e.without_url(), %url,
                    "the identity provider's discovery document cannot be read yet; until it is, the console may connect to the issuer's origin only"
                ),
            }
            tokio::time::sleep(DISCOVERY_RETRY).await;
        }
    }
}

/// The console's own routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/console/config.json", get(config))
        .route("/console/demo-token", post(demo_token))
        .route("/console/{file}", get(file))
}

/// What the pages may load and connect to: this server only (and the identity provider, to
/// exchange a sign-in's code for tokens). ECharts sets inline styles, hence `'unsafe-inline'`
/// for styles, never for scripts.
fn security_headers(state: &AppState, headers: &mut HeaderMap) {
    let connect = match &state.console.oidc {
        Some(oidc) => format!("'self' {}", oidc.origins().join(" ")),
        None => "'self'".to_owned(),
    };
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' blob: data:; connect-src {connect}; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'self'"
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'self'")),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// `https://idp.example/realms/x` → `https://idp.example`.
fn origin(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => String::new(),
    }
}

async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(&state, "index.html", &headers)
}

async fn file(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&state, &name, &headers)
}

fn serve(state: &AppState, name: &str, request: &HeaderMap) -> Response {
    let Some(asset) = docket_console::asset(name) else {
        return ApiError::NoRoute.into_response();
    };
    let mut headers = HeaderMap::new();
    security_headers(state, &mut headers);
    headers.insert(header::ETAG, HeaderValue::from_static(asset.etag()));
    // Cached, and asked about again each time: an upgrade shows at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == asset.etag()));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    (headers, asset.bytes).into_response()
}

#[derive(Debug, Serialize)]
struct DemoRole {
    role: &'static str,
    unit: Option<String>,
    grids: Vec<String>,
}

/// `GET /console/config.json`: how to sign in here.
async fn config(State(state): State<AppState>) -> Response {
    let demo: Vec<DemoRole> = state
        .console
        .demo
        .iter()
        .map(|a| DemoRole {
            role: a.role.as_str(),
            unit: a.unit.as_ref().map(ToString::to_string),
            grids: a.grids.iter().map(ToString::to_string).collect(),
        })
        .collect();
    let tenant = state.console.demo.first().map(|a| a.tenant.to_string());
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    (
        headers,
        Json(serde_json::json!({
            "demo": { "tenant": tenant, "roles": demo },
            "oidc": state.console.oidc,
            "evidence_max_bytes": state.evidence.as_ref().map(|e| e.max_bytes()),
        })),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DemoTokenRequest {
    role: String,
}

/// Whether a request's `Host` names this machine's loopback: a page of another site that had its
/// name resolve to 127.0.0.1 (DNS rebinding) names its own host, and is refused.
fn names_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `POST /console/demo-token {"role": …}`: a token for the demo actor of that role, where the
/// server offers them: the embedded stores on a loopback address, asked for by a page of this
/// machine (its `Host` a loopback name, its body JSON).
async fn demo_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if state.console.demo.is_empty() || !state.auth.can_mint() || !names_loopback(&headers) {
        return Err(ApiError::NoRoute);
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().unwrap_or_default().trim() == "application/json");
    if !json {
        return Err(ApiError::UnsupportedMediaType(
            "the body is JSON: Content-Type: application/json".to_owned(),
        ));
    }
    let request: DemoTokenRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            code: "malformed-json",
            detail: format!("the body is {{\"role\": \"…\"}}: {e}"),
        })?;
    let actor = state
        .console
        .demo
        .iter()
        .find(|a| a.role.as_str() == request.role)
        .ok_or_else(|| ApiError::BadRequest {
            code: "invalid-query",
            detail: format!(
                "no demo role {:?}; the roles are {}",
                docket_domain::shown(&request.role),
                state
                    .console
                    .demo
                    .iter()
                    .map(|a| a.role.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
    let token = state.auth.mint(actor, DEMO_SIGN_IN_TTL);
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok((headers, Json(serde_json::json!({ "token": token }))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_loopback_host_may_ask_for_a_demo_token() {
        let with = |host: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            names_loopback(&headers)
        };
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "127.0.0.2",
        ] {
            assert!(with(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "10.0.0.5:8080",
            "127.0.0.1.evil.example",
            "[::2]:80",
        ] {
            assert!(!with(host), "{host}");
        }
        assert!(!names_loopback(&HeaderMap::new()));
    }
}
