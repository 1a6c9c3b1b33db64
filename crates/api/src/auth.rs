//! Bearer tokens: HS256 JWTs carrying subject, tenant and role.

use std::time::Duration;

use docket_commands::Actor;
use docket_domain::{Role, TenantId, UnitId};
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
    pub iat: i64,
    pub exp: i64,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token: send Authorization: Bearer <token>")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Verifies and mints tokens with one shared secret (HS256).
#[derive(Clone)]
pub struct Authenticator {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator { HS256, secret: <redacted> }")
    }
}

impl Authenticator {
    pub fn hs256(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A token for `actor`, valid for `ttl` from now.
    pub fn mint(&self, actor: &Actor, ttl: Duration) -> String {
        let now = jiff::Timestamp::now().as_second();
        let claims = Claims {
            sub: actor.id.clone(),
            tenant: actor.tenant.to_string(),
            role: actor.role.to_string(),
            unit: actor.unit.as_ref().map(ToString::to_string),
            iat: now,
            exp: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing does not fail")
    }

    /// The actor a bearer token speaks for.
    pub fn verify(&self, token: &str) -> Result<Actor, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let c = data.claims;
        let invalid = |e: &dyn std::fmt::Display| AuthError::Invalid(e.to_string());
        if c.sub.is_empty() || c.sub.len() > 200 {
            return Err(AuthError::Invalid(
                "sub must be 1 to 200 characters".to_owned(),
            ));
        }
        Ok(Actor {
            id: c.sub,
            tenant: c.tenant.parse::<TenantId>().map_err(|e| invalid(&e))?,
            role: c.role.parse::<Role>().map_err(|e| invalid(&e))?,
            unit: c
                .unit
                .map(|u| u.parse::<UnitId>())
                .transpose()
                .map_err(|e| invalid(&e))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor {
            id: "wang".to_owned(),
            tenant: "qinghe".parse().unwrap(),
            role: Role::Handler,
            unit: Some("fire-brigade".parse().unwrap()),
        }
    }

    #[test]
    fn a_minted_token_verifies_to_its_actor() {
        let auth = Authenticator::hs256(b"0123456789abcdef0123456789abcdef");
        let token = auth.mint(&actor(), Duration::from_secs(60));
        assert_eq!(auth.verify(&token).unwrap(), actor());
    }

    #[test]
    fn another_secret_or_a_tampered_token_is_refused() {
        let auth = Authenticator::hs256(b"0123456789abcdef0123456789abcdef");
        let other = Authenticator::hs256(b"ffffffffffffffffffffffffffffffff");
        let token = other.mint(&actor(), Duration::from_secs(60));
        assert!(matches!(auth.verify(&token), Err(AuthError::Invalid(_))));
        let mut tampered = auth.mint(&actor(), Duration::from_secs(60));
        tampered.insert(tampered.len() - 3, 'x');
        assert!(matches!(auth.verify(&tampered), Err(AuthError::Invalid(_))));
        assert!(matches!(
            auth.verify("not-a-jwt"),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let auth = Authenticator::hs256(b"0123456789abcdef0123456789abcdef");
        let claims = Claims {
            sub: "wang".to_owned(),
            tenant: "qinghe".to_owned(),
            role: "handler".to_owned(),
            unit: None,
            iat: 1_000,
            exp: 2_000,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        let err = auth.verify(&token).unwrap_err();
        assert!(err.to_string().contains("xpired"), "{err}");
    }
}
