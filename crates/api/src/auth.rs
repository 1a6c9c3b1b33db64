//! Bearer tokens: JWTs carrying subject, tenant, role, unit and grids. Either HS256 with one
//! shared secret (a single site; `docket token` mints them), or RS256/ES256 verified against the
//! keys of an identity provider's JWKS, from a file or fetched from a URL (fetched again when a
//! token names a key id not yet known, at most every [`REFETCH_AFTER`], and on a schedule, so
//! rotated keys arrive and revoked ones leave). `exp` is required; `nbf` is honoured; `iss` and
//! `aud` are required and checked when configured. The algorithm is the configuration's, never
//! the token's: `none`, or HS256 presented where keys are asymmetric, is refused.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use docket_commands::Actor;
use docket_domain::{GridId, Role, TenantId, UnitId};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// What a Docket token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The grids of a grid worker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grids: Vec<String>,
    /// When the token was issued: identity providers may leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
}

/// A token's audience: one, or several (RFC 7519 allows both, and identity providers send
/// either).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// How far a token's `exp` and `nbf` may be off the server's clock, by default.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token: send Authorization: Bearer <token>")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// A token configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token keys: {0}")]
pub struct KeyError(pub String);

/// A token naming an unknown key id fetches the JWKS again, but not sooner than this after the
/// last fetch: a stream of made-up key ids cannot make Docket hammer the identity provider.
pub const REFETCH_AFTER: Duration = Duration::from_secs(30);

/// How long a JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A JWKS larger than this is refused.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// An identity provider's public keys: key id, algorithm, key.
type ProviderKeys = Vec<(String, Algorithm, DecodingKey)>;

#[derive(Clone)]
enum Keys {
    /// One shared secret; tokens are HS256 and Docket can mint them.
    Shared {
        encoding: EncodingKey,
        decoding: DecodingKey,
    },
    /// An identity provider's public keys by key id, each with its algorithm; replaced whole
    /// when fetched again from the source, if any.
    Provider {
        keys: Arc<RwLock<Arc<ProviderKeys>>>,
        source: Option<Arc<JwksSource>>,
    },
}

/// Where an identity provider publishes its JWKS.
struct JwksSource {
    url: reqwest::Url,
    client: reqwest::Client,
    /// When the keys were last fetched (successfully or not); held while fetching, so one
    /// fetch runs at a time.
    last_fetch: tokio::sync::Mutex<Instant>,
    refetch_after: Duration,
}

/// Verifies (and, with a shared secret, mints) tokens.
#[derive(Clone)]
pub struct Authenticator {
    keys: Keys,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
    verified: Verified,
}

/// Tokens verified lately, by their text. A client sends the same token with every request, and
/// checking its signature and claims each time was about 3% of the server's CPU under load. An
/// entry answers only while its `exp` and `nbf` hold as a full check would judge them (with the
/// same leeway) and while the keys it was verified under are still the ones in use: replacing
/// the keys moves `keys_replaced` on, and entries of an earlier count are checked again.
#[derive(Clone)]
struct Verified {
    tokens: Arc<std::sync::Mutex<lru::LruCache<String, VerifiedToken>>>,
    keys_replaced: Arc<std::sync::atomic::AtomicU64>,
}

struct VerifiedToken {
    passed: Passed,
    keys_replaced: u64,
}

/// What a token that passed the full check says.
#[derive(Clone)]
struct Passed {
    actor: Actor,
    expires: jiff::Timestamp,
    /// Its `nbf`, in seconds, if it has one.
    not_before: Option<i64>,
}

/// How many verified tokens are kept (a kilobyte or two each).
const VERIFIED_TOKENS: usize = 4096;

impl Verified {
    fn new() -> Self {
        Self {
            tokens: Arc::new(std::sync::Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(VERIFIED_TOKENS).expect("not zero"),
            ))),
            keys_replaced: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    fn keys_replaced(&self) -> u64 {
        self.keys_replaced
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// An empty cache counting the same key replacements (for an authenticator made from this
    /// one with other rules, which shares its keys).
    fn emptied(&self) -> Self {
        Self {
            keys_replaced: self.keys_replaced.clone(),
            ..Self::new()
        }
    }

    /// Called after the keys in use are replaced.
    fn replaced_keys(&self) {
        self.keys_replaced
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn get(&self, token: &str, leeway: Duration) -> Option<(Actor, jiff::Timestamp)> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let known = tokens.get(token)?;
        let leeway = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
        let now = jiff::Timestamp::now().as_second();
        // As jsonwebtoken judges them: expired once exp < now - leeway, not valid yet while
        // nbf > now + leeway (a clock set back).
        let passed = &known.passed;
        let expired = passed.expires.as_second() < now.saturating_sub(leeway);
        let early = passed
            .not_before
            .is_some_and(|nbf| nbf > now.saturating_add(leeway));
        if expired || early || known.keys_replaced != self.keys_replaced() {
            tokens.pop(token);
            return None;
        }
        Some((passed.actor.clone(), passed.expires))
    }

    fn keep(&self, token: &str, passed: &Passed, keys_replaced: u64) {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).put(
            token.to_owned(),
            VerifiedToken {
                passed: passed.clone(),
                keys_replaced,
            },
        );
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = match &self.keys {
            Keys::Shared { .. } => "HS256, secret: <redacted>".to_owned(),
            Keys::Provider { keys, source } => format!(
                "JWKS{}: {}",
                source
                    .as_ref()
                    .map(|s| format!(" from {}", s.url))
                    .unwrap_or_default(),
                keys.read()
                    .expect("key lock")
                    .iter()
                    .map(|k| k.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        write!(
            f,
            "Authenticator {{ {keys}, issuer: {:?}, audience: {:?}, leeway: {:?} }}",
            self.issuer, self.audience, self.leeway
        )
    }
}

fn jwk_algorithm(jwk: &Jwk) -> Result<Algorithm, KeyError> {
    let kid = jwk.common.key_id.clone().unwrap_or_default();
    match (&jwk.algorithm, &jwk.common.key_algorithm) {
        (jsonwebtoken::jwk::AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => {
            Ok(Algorithm::RS256)
        }
        (
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_),
            None | Some(KeyAlgorithm::ES256),
        ) => Ok(Algorithm::ES256),
        (_, alg) => Err(KeyError(format!(
            "key {kid:?}: only RS256 (RSA) and ES256 (P-256) keys are accepted, not {alg:?}"
        ))),
    }
}

/// How a JWKS is read: every key must be usable (the operator's own file), or unusable keys are
/// skipped (an identity provider's published set, which may hold encryption keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strictness {
    EveryKey,
    UsableKeys,
}

fn parse_jwks(json: &str, strictness: Strictness) -> Result<ProviderKeys, KeyError> {
    let set: JwkSet =
        serde_json::from_str(json).map_err(|e| KeyError(format!("not a JWKS: {e}")))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let usable = (|| {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or_else(|| KeyError("every key needs a kid".to_owned()))?;
            if jwk.common.public_key_use == Some(jsonwebtoken::jwk::PublicKeyUse::Encryption) {
                return Err(KeyError(format!(
                    "key {kid:?} is for encryption, not signatures"
                )));
            }
            let algorithm = jwk_algorithm(jwk)?;
            let key =
                DecodingKey::from_jwk(jwk).map_err(|e| KeyError(format!("key {kid:?}: {e}")))?;
            Ok((kid, algorithm, key))
        })();
        match (usable, strictness) {
            (Ok(key), _) => keys.push(key),
            (Err(e), Strictness::EveryKey) => return Err(e),
            (Err(e), Strictness::UsableKeys) => {
                tracing::debug!(reason = %e, "JWKS key skipped");
            }
        }
    }
    if keys.is_empty() {
        return Err(KeyError(match strictness {
            Strictness::EveryKey => "the JWKS has no keys".to_owned(),
            Strictness::UsableKeys => {
                "the JWKS has no usable keys (RS256 or ES256 signing keys, each with a kid)"
                    .to_owned()
            }
        }));
    }
    Ok(keys)
}

impl JwksSource {
    async fn fetch(&self) -> Result<ProviderKeys, KeyError> {
        let url = &self.url;
        let fail = |e: &dyn std::fmt::Display| KeyError(format!("JWKS from {url}: {e}"));
        let response = self
            .client
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| fail(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(fail(&format!("the server answered {status}")));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(fail(&format!("larger than {MAX_JWKS_BYTES} bytes")));
        }
        let body = response.bytes().await.map_err(|e| fail(&e))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(fail(&format!("larger than {MAX_JWKS_BYTES} bytes")));
        }
        let json = std::str::from_utf8(&body).map_err(|e| fail(&e))?;
        parse_jwks(json, Strictness::UsableKeys).map_err(|e| fail(&e.0))
    }
}

impl Authenticator {
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            keys: Keys::Shared {
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
            },
            issuer: None,
            audience: None,
            leeway: DEFAULT_LEEWAY,
            verified: Verified::new(),
        }
    }

    /// Verifies against the keys of a JWKS document (RS256 and ES256 keys, each with a `kid`).
    /// A key of any other kind is refused: the document is the operator's own.
    pub fn jwks(json: &str) -> Result<Self, KeyError> {
        let keys = parse_jwks(json, Strictness::EveryKey)?;
        Ok(Self::provider(keys, None))
    }

    /// Verifies against the JWKS an identity provider publishes at `url` (https, or http on a
    /// loopback address), fetched now and again as tokens and the schedule need. Keys of other
    /// kinds (encryption keys, other algorithms) are skipped; at least one must be usable.
    pub async fn jwks_url(url: &str) -> Result<Self, KeyError> {
        Self::jwks_url_refetching_after(url, REFETCH_AFTER).await
    }

    /// As [`Authenticator::jwks_url`], fetching again for an unknown key id no sooner than
    /// `refetch_after` after the last fetch.
    pub async fn jwks_url_refetching_after(
        url: &str,
        refetch_after: Duration,
    ) -> Result<Self, KeyError> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| KeyError(format!("JWKS URL {url:?}: {e}")))?;
        let loopback = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(KeyError(format!(
                    "JWKS URL {url:?}: keys are fetched over https (plain http only from a \
                     loopback address)"
                )));
            }
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| KeyError(format!("JWKS URL {url:?}: {e}")))?;
        let source = JwksSource {
            url: parsed,
            client,
            last_fetch: tokio::sync::Mutex::new(Instant::now()),
            refetch_after,
        };
        let keys = source.fetch().await?;
        Ok(Self::provider(keys, Some(Arc::new(source))))
    }

    fn provider(keys: ProviderKeys, source: Option<Arc<JwksSource>>) -> Self {
        Self {
            keys: Keys::Provider {
                keys: Arc::new(RwLock::new(Arc::new(keys))),
                source,
            },
            issuer: None,
            audience: None,
            leeway: DEFAULT_LEEWAY,
            verified: Verified::new(),
        }
    }

    /// Fetches the keys again from the JWKS URL, now. On failure the keys in use stay and the
    /// error says why. Does nothing for a shared secret or a JWKS file.
    pub async fn refresh(&self) -> Result<(), KeyError> {
        let Keys::Provider {
            keys,
            source: Some(source),
        } = &self.keys
        else {
            return Ok(());
        };
        let mut last = source.last_fetch.lock().await;
        *last = Instant::now();
        let fresh = source.fetch().await?;
        *keys.write().expect("key lock") = Arc::new(fresh);
        self.verified.replaced_keys();
        Ok(())
    }

    /// Whether keys come from a URL, to be refreshed on a schedule.
    pub fn fetches_keys(&self) -> bool {
        matches!(
            self.keys,
            Keys::Provider {
                source: Some(_),
                ..
            }
        )
    }

    /// Fetches the keys again because a token named `kid`, unless they were fetched within
    /// the refetch interval or someone else fetched them while we waited.
    async fn refetch_for(&self, kid: &str) {
        let Keys::Provider {
            keys,
            source: Some(source),
        } = &self.keys
        else {
            return;
        };
        let mut last = source.last_fetch.lock().await;
        if self.knows_key(kid) || last.elapsed() < source.refetch_after {
            return;
        }
        *last = Instant::now();
        match source.fetch().await {
            Ok(fresh) => {
                tracing::info!(url = %source.url, kid, keys = fresh.len(), "JWKS fetched again for an unknown key id");
                *keys.write().expect("key lock") = Arc::new(fresh);
                self.verified.replaced_keys();
            }
            Err(e) => {
                tracing::warn!(url = %source.url, error = %e, "JWKS fetch failed; the keys in use stay")
            }
        }
    }

    /// Requires tokens to name this issuer (`iss`).
    pub fn with_issuer(mut self, issuer: Option<String>) -> Self {
        self.issuer = issuer;
        // Tokens verified under other rules are not this one's.
        self.verified = self.verified.emptied();
        self
    }

    /// Requires tokens to name this audience (`aud`).
    pub fn with_audience(mut self, audience: Option<String>) -> Self {
        self.audience = audience;
        // Tokens verified under other rules are not this one's.
        self.verified = self.verified.emptied();
        self
    }

    /// How far a token's `exp` and `nbf` may be off the server's clock (clock skew between the
    /// identity provider and this server).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        // Tokens verified under other rules are not this one's.
        self.verified = self.verified.emptied();
        self
    }

    /// Whether this configuration can mint tokens (a shared secret).
    pub fn can_mint(&self) -> bool {
        matches!(self.keys, Keys::Shared { .. })
    }

    /// A token for `actor`, valid for `ttl` from now, with the configured issuer and audience.
    /// Only with a shared secret: an identity provider mints its own.
    pub fn mint(&self, actor: &Actor, ttl: Duration) -> String {
        let Keys::Shared { encoding, .. } = &self.keys else {
            panic!("tokens are minted with a shared secret only");
        };
        let now = jiff::Timestamp::now().as_second();
        let claims = Claims {
            sub: actor.id.clone(),
            tenant: actor.tenant.to_string(),
            role: actor.role.to_string(),
            unit: actor.unit.as_ref().map(ToString::to_string),
            grids: actor.grids.iter().map(ToString::to_string).collect(),
            iat: Some(now),
            nbf: None,
            exp: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            iss: self.issuer.clone(),
            aud: self.audience.clone().map(Audience::One),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, encoding)
            .expect("HS256 signing does not fail")
    }

    /// The actor a bearer token speaks for, by the keys known now.
    pub fn verify(&self, token: &str) -> Result<Actor, AuthError> {
        self.verify_until(token).map(|(actor, _)| actor)
    }

    /// The actor a bearer token speaks for, and until when (its `exp`).
    fn verify_until(&self, token: &str) -> Result<(Actor, jiff::Timestamp), AuthError> {
        if let Some(known) = self.verified.get(token, self.leeway) {
            return Ok(known);
        }
        // Read before the keys: a replacement meanwhile leaves the entry of an earlier count.
        let keys_replaced = self.verified.keys_replaced();
        let passed = self.check_token(token)?;
        self.verified.keep(token, &passed, keys_replaced);
        Ok((passed.actor, passed.expires))
    }

    /// Checks a token's signature and claims.
    fn check_token(&self, token: &str) -> Result<Passed, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| {
            AuthError::Invalid(format!(
                "{e} (tokens are signed JWTs: HS256, RS256 or ES256 as configured; never alg none)"
            ))
        })?;
        let (algorithm, key) = match &self.keys {
            Keys::Shared { decoding, .. } => {
                if header.alg != Algorithm::HS256 {
                    return Err(AuthError::Invalid(format!(
                        "algorithm {:?} is not accepted: this server verifies HS256 tokens",
                        header.alg
                    )));
                }
                (Algorithm::HS256, decoding)
            }
            Keys::Provider { keys, .. } => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| AuthError::Invalid("the token names no key (kid)".to_owned()))?;
                let keys = keys.read().expect("key lock").clone();
                let (_, algorithm, key) = keys
                    .iter()
                    .find(|(id, _, _)| id == kid)
                    .ok_or_else(|| AuthError::Invalid(format!("unknown key id {kid:?}")))?;
                if header.alg != *algorithm {
                    return Err(AuthError::Invalid(format!(
                        "algorithm {:?} is not accepted for key {kid:?}, which is {algorithm:?}",
                        header.alg
                    )));
                }
                return self.check_claims(token, *algorithm, key);
            }
        };
        self.check_claims(token, algorithm, key)
    }

    /// The actor a bearer token speaks for, fetching the identity provider's keys again first
    /// if the token names a key id not known yet (a rotated key).
    pub async fn authenticate(&self, token: &str) -> Result<(Actor, jiff::Timestamp), AuthError> {
        if self.fetches_keys()
            && let Ok(Some(kid)) = jsonwebtoken::decode_header(token).map(|h| h.kid)
            && !self.knows_key(&kid)
        {
            self.refetch_for(&kid).await;
        }
        self.verify_until(token)
    }

    fn knows_key(&self, kid: &str) -> bool {
        match &self.keys {
            Keys::Shared { .. } => false,
            Keys::Provider { keys, .. } => keys
                .read()
                .expect("key lock")
                .iter()
                .any(|(id, _, _)| id == kid),
        }
    }

    fn check_claims(
        &self,
        token: &str,
        algorithm: Algorithm,
        key: &DecodingKey,
    ) -> Result<Passed, AuthError> {
        let invalid = |e: &dyn std::fmt::Display| AuthError::Invalid(e.to_string());
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &self.issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
            let reason = match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "the token has expired".to_owned()
                }
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                    "the token is not valid yet (nbf)".to_owned()
                }
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => format!(
                    "wrong issuer: tokens must be issued by {:?}",
                    self.issuer.as_deref().unwrap_or_default()
                ),
                jsonwebtoken::errors::ErrorKind::InvalidAudience => format!(
                    "wrong audience: tokens must be for {:?}",
                    self.audience.as_deref().unwrap_or_default()
                ),
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    "the signature does not verify".to_owned()
                }
                jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(claim) => {
                    format!("the token has no {claim} claim")
                }
                _ => e.to_string(),
            };
            AuthError::Invalid(reason)
        })?;
        let c = data.claims;
        if c.sub.is_empty() || c.sub.len() > 200 {
            return Err(AuthError::Invalid(
                "sub must be 1 to 200 characters".to_owned(),
            ));
        }
        if c.grids.len() > 1000 {
            return Err(AuthError::Invalid("at most 1000 grids".to_owned()));
        }
        let expires = jiff::Timestamp::from_second(c.exp)
            .map_err(|_| AuthError::Invalid("exp is out of range".to_owned()))?;
        let role = c.role.parse::<Role>().map_err(|e| invalid(&e))?;
        if role == Role::ServiceAccount {
            return Err(AuthError::Invalid(
                "role service_account acts through an Open311 API key (docket api-key create), not a token"
                    .to_owned(),
            ));
        }
        let actor = Actor {
            id: c.sub,
            tenant: c.tenant.parse::<TenantId>().map_err(|e| invalid(&e))?,
            role,
            unit: c
                .unit
                .map(|u| u.parse::<UnitId>())
                .transpose()
                .map_err(|e| invalid(&e))?,
            grids: c
                .grids
                .iter()
                .map(|g| g.parse::<GridId>())
                .collect::<Result<_, _>>()
                .map_err(|e| invalid(&e))?,
        };
        Ok(Passed {
            actor,
            expires,
            not_before: c.nbf,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const JWKS: &str = include_str!("../fixtures/jwt/jwks.json");
    const RSA: &[u8] = include_bytes!("../fixtures/jwt/rsa.pem");
    const EC: &[u8] = include_bytes!("../fixtures/jwt/ec.pem");
    const RSA_OTHER: &[u8] = include_bytes!("../fixtures/jwt/rsa-other.pem");

    fn actor() -> Actor {
        Actor {
            id: "wang".to_owned(),
            tenant: "qinghe".parse().unwrap(),
            role: Role::GridWorker,
            unit: Some("fire-brigade".parse().unwrap()),
            grids: vec!["qinghe-01".parse().unwrap(), "qinghe-02".parse().unwrap()],
        }
    }

    fn claims() -> Claims {
        let now = jiff::Timestamp::now().as_second();
        Claims {
            sub: "wang".to_owned(),
            tenant: "qinghe".to_owned(),
            role: "grid_worker".to_owned(),
            unit: Some("fire-brigade".to_owned()),
            grids: vec!["qinghe-01".to_owned(), "qinghe-02".to_owned()],
            iat: Some(now),
            nbf: None,
            exp: now + 600,
            iss: Some("https://idp.example".to_owned()),
            aud: Some(Audience::One("docket".to_owned())),
        }
    }

    fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Claims) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    fn provider() -> Authenticator {
        Authenticator::jwks(JWKS)
            .unwrap()
            .with_issuer(Some("https://idp.example".to_owned()))
            .with_audience(Some("docket".to_owned()))
    }

    #[track_caller]
    fn refused(auth: &Authenticator, token: &str, says: &str) {
        match auth.verify(token) {
            Err(AuthError::Invalid(reason)) => {
                assert!(reason.contains(says), "expected {says:?} in {reason:?}")
            }
            other => panic!("expected a refusal saying {says:?}, got {other:?}"),
        }
    }

    #[test]
    fn a_minted_token_verifies_to_its_actor_with_unit_and_grids() {
        let auth = Authenticator::hs256(SECRET);
        let token = auth.mint(&actor(), Duration::from_secs(60));
        assert_eq!(auth.verify(&token).unwrap(), actor());
    }

    #[test]
    fn identity_provider_tokens_verify_with_rs256_and_es256() {
        let auth = provider();
        let rsa = EncodingKey::from_rsa_pem(RSA).unwrap();
        let ec = EncodingKey::from_ec_pem(EC).unwrap();
        let token = sign(Algorithm::RS256, Some("rsa-1"), &rsa, &claims());
        assert_eq!(auth.verify(&token).unwrap(), actor());
        let token = sign(Algorithm::ES256, Some("ec-1"), &ec, &claims());
        assert_eq!(auth.verify(&token).unwrap(), actor());
    }

    /// A service account acts through an Open311 API key only: no token, from the data
    /// directory's secret or an identity provider, may name the role.
    #[test]
    fn no_token_names_a_service_account() {
        let rsa = EncodingKey::from_rsa_pem(RSA).unwrap();
        let mut app = claims();
        app.role = "service_account".to_owned();
        refused(
            &provider(),
            &sign(Algorithm::RS256, Some("rsa-1"), &rsa, &app),
            "API key",
        );
        let auth = Authenticator::hs256(SECRET);
        let minted = auth.mint(
            &Actor {
                role: Role::ServiceAccount,
                ..actor()
            },
            Duration::from_secs(60),
        );
        refused(&auth, &minted, "API key");
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_refused() {
        let auth = provider();
        let rsa = EncodingKey::from_rsa_pem(RSA).unwrap();
        let mut old = claims();
        old.exp = 2_000;
        old.iat = Some(1_000);
        refused(
            &auth,
            &sign(Algorithm::RS256, Some("rsa-1"), &rsa, &old),
            "expired",
        );
        let mut early = claims();
        early.nbf = Some(jiff::Timestamp::now().as_second() + 3600);
        refused(
            &auth,
            &sign(Algorithm::RS256, Some("rsa-1"), &rsa, &early),
            "not valid yet",
        );
        let hs = Authenticator::hs256(SECRET);
        let mut old = claims();
        old.exp = 2_000;
        let token = sign(
            Algorithm::HS256,
            None,
            &EncodingKey::from_secret(SECRET),
            &old,
        );
        refused(&hs, &token, "expired");
    }

    #[test]
    fn a_token_verified_before_is_refused_once_it_expires() {
        let auth = Authenticator::hs256(SECRET).with_leeway(Duration::ZERO);
        let mut soon = claims();
        soon.exp = jiff::Timestamp::now().as_second() + 1;
        let token = sign(
            Algorithm::HS256,
            None,
            &EncodingKey::from_secret(SECRET),
            &soon,
        );
        assert_eq!(auth.verify(&token).unwrap(), actor());
        assert_eq!(auth.verify(&token).unwrap(), actor());
        std::thread::sleep(Duration::from_millis(2100));
        refused(&auth, &token, "expired");
    }

    #[test]
    fn identity_providers_tokens_with_several_audiences_or_no_iat_verify() {
        let auth = provider();
        let rsa = EncodingKey::from_rsa_pem(RSA).unwrap();
        let mut several = claims();
        several.aud = Some(Audience::Many(vec![
            "account".to_owned(),
            "docket".to_owned(),
        ]));
        let token = sign(Algorithm::RS256, Some("rsa-1"), &rsa, &several);
        assert_eq!(auth.verify(&token).unwrap(), actor());
        several.aud = Some(Audience::Many(vec!["account".to_owned()]));
        refused(
            &auth,
            &sign(Algorithm::RS256, Some("rsa-1"), &rsa, &several),
            "wrong audience",
        );
        let mut no_iat = claims();
        no_iat.iat = None;
        let token = sign(Algorithm::RS256, Some("rsa-1"), &rsa, &no_iat);
        assert_eq!(auth.verify(&token).unwrap(), actor());
    }

    #[test]
    fn clocks_may_differ_by_the_leeway_and_no_more() {
        let rsa = EncodingKey::from_rsa_pem(RSA).unwrap();
        let now = jiff::Timestamp::now().as_second();
        let token = |exp: i64, nbf: Option<i64>| {
            let mut c = claims();
            c.exp = exp;
            c.nbf = nbf;
            sign(Algorithm::RS256, Some("rsa-1"), &rsa, &c)
        };
        // The default minute: expired 40 s ago, or valid from 40 s on, by this server's clock.
        let auth = provider();
        assert!(auth.verify(&token(now - 40, None)).is_ok());
        assert!(auth.verify(&token(now + 600, Some(now + 40))).is_ok());
        refused(&auth, &token(now - 90, None), "expired");
        refused(&auth, &token(now + 600, Some(now + 90)), "not valid yet");
        // Configured tighter.
        let strict = provider().with_leeway(Duration::from_secs(10));
        refused(&strict, &token(now - 40, None), "expired");
        refused(&strict, &token(now + 600, Some(now + 40)), "not valid yet");
    }

    #[test]
    fn wrong_issuer_or_audience_or_none_at_all_is_refused() {
        let auth = provider();
        let rsa = EncodingKey::from_rsa_pem(RSA).unwrap();
        let mut other = claims();
        other.iss = Some("https://elsewhere.example".to_owned());
        refused(
            &auth,
            &sign(Algorithm::RS256, Some("rsa-1"), &rsa, &other),
            "wrong issuer",
        );
        let mut other = claims();
        other.aud = Some(Audience::One("payroll".to_owned()));
        refused(
            &auth,
            &sign(Algorithm::RS256, Some("rsa-1"), &rsa, &other),
            "wrong audience",
        );
        let mut missing = claims();
        missing.iss = None;
        refused(
            &auth,
            &sign(Algorithm::RS256, Some("rsa-1"), &rsa, &missing),
            "no iss claim",
        );
    }

    #[test]
    fn the_algorithm_is_the_configurations_not_the_tokens() {
        use base64::Engine as _;
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let payload = b64(&serde_json::to_value(claims()).unwrap());
        // alg none, unsigned: refused by both configurations.
        let none = format!(
            "{}.{payload}.",
            b64(&serde_json::json!({"alg": "none", "typ": "JWT"}))
        );
        refused(&provider(), &none, "never alg none");
        refused(&Authenticator::hs256(SECRET), &none, "never alg none");
        // HS256 signed with the provider's public key as the secret, under its kid.
        let public = serde_json::to_vec(
            &serde_json::from_str::<serde_json::Value>(JWKS).unwrap()["keys"][0],
        )
        .unwrap();
        let forged = sign(
            Algorithm::HS256,
            Some("rsa-1"),
            &EncodingKey::from_secret(&public),
            &claims(),
        );
        refused(&provider(), &forged, "not accepted for key \"rsa-1\"");
        // An RS256 token where HS256 is configured.
        let rsa = EncodingKey::from_rsa_pem(RSA).unwrap();
        let token = sign(Algorithm::RS256, Some("rsa-1"), &rsa, &claims());
        refused(
            &Authenticator::hs256(SECRET),
            &token,
            "verifies HS256 tokens",
        );
    }

    #[test]
    fn tampered_signatures_and_unknown_keys_are_refused() {
        let auth = provider();
        let rsa = EncodingKey::from_rsa_pem(RSA).unwrap();
        let other = EncodingKey::from_rsa_pem(RSA_OTHER).unwrap();
        // Signed by a key the JWKS does not list, under an unknown kid and under a known one.
        refused(
            &auth,
            &sign(Algorithm::RS256, Some("rsa-9"), &other, &claims()),
            "unknown key id",
        );
        refused(
            &auth,
            &sign(Algorithm::RS256, Some("rsa-1"), &other, &claims()),
            "does not verify",
        );
        refused(
            &auth,
            &sign(Algorithm::RS256, None, &rsa, &claims()),
            "names no key",
        );
        // A valid token with its payload changed.
        let token = sign(Algorithm::RS256, Some("rsa-1"), &rsa, &claims());
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut admin = claims();
        admin.role = "supervisor".to_owned();
        use base64::Engine as _;
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&admin).unwrap());
        refused(&auth, &parts.join("."), "does not verify");
        let hs = Authenticator::hs256(SECRET);
        let mut tampered = hs.mint(&actor(), Duration::from_secs(60));
        tampered.insert(tampered.len() - 3, 'x');
        assert!(matches!(hs.verify(&tampered), Err(AuthError::Invalid(_))));
        assert!(matches!(hs.verify("not-a-jwt"), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn a_jwks_with_other_kinds_of_key_is_refused_at_start() {
        let err = Authenticator::jwks(r#"{"keys": []}"#).unwrap_err();
        assert!(err.0.contains("no keys"), "{err}");
        let err = Authenticator::jwks(r#"{"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}"#)
            .unwrap_err();
        assert!(err.0.contains("only RS256"), "{err}");
        let err = Authenticator::jwks("not json").unwrap_err();
        assert!(err.0.contains("not a JWKS"), "{err}");
    }

    /// An identity provider publishing a JWKS that a test can change, counting fetches.
    mod from_a_url {
        use std::sync::Mutex;
        use std::sync::atomic::{AtomicUsize, Ordering};

        use super::*;

        struct Idp {
            url: String,
            answer: Arc<Mutex<(u16, String)>>,
            fetches: Arc<AtomicUsize>,
        }

        impl Idp {
            async fn start(jwks: String) -> Idp {
                let answer = Arc::new(Mutex::new((200, jwks)));
                let fetches = Arc::new(AtomicUsize::new(0));
                let (a, f) = (answer.clone(), fetches.clone());
                let app = axum::Router::new().route(
                    "/jwks",
                    axum::routing::get(move || {
                        let (a, f) = (a.clone(), f.clone());
                        async move {
                            f.fetch_add(1, Ordering::SeqCst);
                            let (status, body) = a.lock().unwrap().clone();
                            (axum::http::StatusCode::from_u16(status).unwrap(), body)
                        }
                    }),
                );
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let url = format!("http://{}/jwks", listener.local_addr().unwrap());
                tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
                Idp {
                    url,
                    answer,
                    fetches,
                }
            }

            fn publish(&self, status: u16, body: String) {
                *self.answer.lock().unwrap() = (status, body);
            }

            fn fetches(&self) -> usize {
                self.fetches.load(Ordering::SeqCst)
            }
        }

        /// The fixture's JWKS with only the keys named, plus any extra keys.
        fn jwks_of(kids: &[&str], extra: &[serde_json::Value]) -> String {
            let all: serde_json::Value = serde_json::from_str(JWKS).unwrap();
            let mut keys: Vec<serde_json::Value> = all["keys"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|k| kids.contains(&k["kid"].as_str().unwrap()))
                .cloned()
                .collect();
            keys.extend(extra.iter().cloned());
            serde_json::json!({ "keys": keys }).to_string()
        }

        fn rsa_token() -> String {
            let rsa = EncodingKey::from_rsa_pem(RSA).unwrap();
            sign(Algorithm::RS256, Some("rsa-1"), &rsa, &claims())
        }

        fn ec_token() -> String {
            let ec = EncodingKey::from_ec_pem(EC).unwrap();
            sign(Algorithm::ES256, Some("ec-1"), &ec, &claims())
        }

        async fn refused_async(auth: &Authenticator, token: &str, says: &str) {
            match auth.authenticate(token).await {
                Err(AuthError::Invalid(reason)) => {
                    assert!(reason.contains(says), "expected {says:?} in {reason:?}")
                }
                other => panic!("expected a refusal saying {says:?}, got {other:?}"),
            }
        }

        #[tokio::test]
        async fn keys_come_from_the_url_and_a_new_key_id_fetches_them_again() {
            let idp = Idp::start(jwks_of(&["rsa-1"], &[])).await;
            let auth = Authenticator::jwks_url_refetching_after(&idp.url, Duration::ZERO)
                .await
                .unwrap()
                .with_issuer(Some("https://idp.example".to_owned()))
                .with_audience(Some("docket".to_owned()));
            assert_eq!(idp.fetches(), 1);
            // One token throughout, as a client sends it with every request (verified once).
            let rsa = rsa_token();
            assert_eq!(auth.authenticate(&rsa).await.unwrap().0, actor());
            assert_eq!(auth.authenticate(&rsa).await.unwrap().0, actor());
            assert_eq!(idp.fetches(), 1, "a known key id needs no fetch");

            // A key id the provider does not publish yet: fetched again, still refused.
            refused_async(&auth, &ec_token(), "unknown key id").await;
            assert_eq!(idp.fetches(), 2);

            // The provider rotates in a new key: the first token naming it fetches it.
            idp.publish(200, jwks_of(&["rsa-1", "ec-1"], &[]));
            assert_eq!(auth.authenticate(&ec_token()).await.unwrap().0, actor());
            assert_eq!(idp.fetches(), 3);

            // And retires the old one: after the next scheduled refresh it is refused, though
            // it verified a moment before.
            assert_eq!(auth.authenticate(&rsa).await.unwrap().0, actor());
            idp.publish(200, jwks_of(&["ec-1"], &[]));
            auth.refresh().await.unwrap();
            refused(&auth, &rsa, "unknown key id");
            refused_async(&auth, &rsa, "unknown key id").await;
            assert_eq!(auth.authenticate(&ec_token()).await.unwrap().0, actor());
        }

        #[tokio::test]
        async fn a_refresh_reaches_authenticators_made_from_the_refreshed_one() {
            let idp = Idp::start(jwks_of(&["rsa-1", "ec-1"], &[])).await;
            let base = Authenticator::jwks_url(&idp.url).await.unwrap();
            let strict = base.clone().with_audience(Some("docket".to_owned()));
            let rsa = rsa_token();
            assert_eq!(strict.verify(&rsa).unwrap(), actor());
            idp.publish(200, jwks_of(&["ec-1"], &[]));
            base.refresh().await.unwrap();
            refused(&strict, &rsa, "unknown key id");
        }

        #[tokio::test]
        async fn made_up_key_ids_do_not_make_docket_hammer_the_provider() {
            let idp = Idp::start(jwks_of(&["rsa-1"], &[])).await;
            let auth = Authenticator::jwks_url(&idp.url).await.unwrap();
            let rsa = EncodingKey::from_rsa_pem(RSA).unwrap();
            let mut attempts = tokio::task::JoinSet::new();
            for i in 0..20 {
                let token = sign(
                    Algorithm::RS256,
                    Some(&format!("made-up-{i}")),
                    &rsa,
                    &claims(),
                );
                let auth = auth.clone();
                attempts.spawn(async move { auth.authenticate(&token).await });
            }
            for result in attempts.join_all().await {
                assert!(
                    matches!(result, Err(AuthError::Invalid(r)) if r.contains("unknown key id"))
                );
            }
            assert_eq!(
                idp.fetches(),
                1,
                "no fetch again within {REFETCH_AFTER:?} of the last"
            );
        }

        #[tokio::test]
        async fn a_failed_refresh_keeps_the_keys_in_use() {
            let idp = Idp::start(jwks_of(&["rsa-1"], &[])).await;
            let auth = Authenticator::jwks_url(&idp.url).await.unwrap();
            idp.publish(503, "down for maintenance".to_owned());
            let err = auth.refresh().await.unwrap_err();
            assert!(err.0.contains("503") && err.0.contains(&idp.url), "{err}");
            idp.publish(200, "<html>login</html>".to_owned());
            let err = auth.refresh().await.unwrap_err();
            assert!(err.0.contains("not a JWKS"), "{err}");
            idp.publish(200, r#"{"keys": []}"#.to_owned());
            let err = auth.refresh().await.unwrap_err();
            assert!(err.0.contains("no usable keys"), "{err}");
            assert_eq!(auth.authenticate(&rsa_token()).await.unwrap().0, actor());
        }

        #[tokio::test]
        async fn a_published_set_may_hold_keys_docket_does_not_use() {
            let encryption = serde_json::json!({"kty": "RSA", "kid": "enc-1", "use": "enc",
                "alg": "RSA-OAEP", "n": "qYnP0H0KROI", "e": "AQAB"});
            let secret = serde_json::json!({"kty": "oct", "kid": "s", "k": "c2VjcmV0"});
            let idp = Idp::start(jwks_of(&["rsa-1"], &[encryption.clone(), secret.clone()])).await;
            let auth = Authenticator::jwks_url(&idp.url).await.unwrap();
            assert_eq!(auth.authenticate(&rsa_token()).await.unwrap().0, actor());
            // But not only such keys.
            idp.publish(200, jwks_of(&[], &[encryption, secret]));
            let err = Authenticator::jwks_url(&idp.url).await.unwrap_err();
            assert!(err.0.contains("no usable keys"), "{err}");
        }

        #[tokio::test]
        async fn a_bad_or_unreachable_jwks_url_is_refused_at_start() {
            for (url, says) in [
                ("http://idp.example/jwks", "https"),
                ("ftp://127.0.0.1/jwks", "https"),
                ("not a url", "JWKS URL"),
                ("http://127.0.0.1:1/jwks", "127.0.0.1:1"),
            ] {
                let err = Authenticator::jwks_url(url).await.unwrap_err();
                assert!(err.0.contains(says), "{url}: expected {says:?} in {err}");
            }
        }
    }
}
