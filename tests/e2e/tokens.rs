//! `docket serve --jwks`: tokens of an identity provider, checked by the real binary.

use docket_tests::{Server, data_dir, docket_bin, workspace_root};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::call;

fn fixture(name: &str) -> std::path::PathBuf {
    workspace_root().join("crates/api/fixtures/jwt").join(name)
}

fn token(kid: &str, key: &str, alg: Algorithm, claims: serde_json::Value) -> String {
    let pem = std::fs::read(fixture(key)).unwrap();
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
        _ => EncodingKey::from_ec_pem(&pem).unwrap(),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identity_providers_tokens_are_checked_by_key_issuer_audience_and_time() {
    let dir = data_dir();
    let jwks = fixture("jwks.json");
    let server = Server::start_bare(
        dir.path(),
        &[
            "--jwks",
            jwks.to_str().unwrap(),
            "--jwt-issuer",
            "https://idp.example",
            "--jwt-audience",
            "docket",
        ],
    );
    let now = jiff::Timestamp::now().as_second();
    // The tenant's admin, by the identity provider, sets up its directory.
    server.set_up_directory_as(&token(
        "ec-1",
        "ec.pem",
        Algorithm::ES256,
        json!({"sub": "admin", "tenant": "qinghe", "role": "admin", "iat": now,
               "exp": now + 600, "iss": "https://idp.example", "aud": "docket"}),
    ));
    let claims = |exp: i64, aud: &str| {
        json!({"sub": "li", "tenant": "qinghe", "role": "grid_worker", "grids": ["qinghe-01"],
               "iat": now, "exp": exp, "iss": "https://idp.example", "aud": aud})
    };
    let with = |mut claims: serde_json::Value, key: &str, value: serde_json::Value| {
        claims[key] = value;
        claims
    };
    let b64 = |v: serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    // alg none: a header and claims, no signature at all.
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"})),
        b64(claims(now + 600, "docket"))
    );
    // HS256 under the RSA key's id, "signed" with the public key as an HMAC secret: the classic
    // algorithm confusion.
    let confused = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-1".to_owned());
        let public = std::fs::read(fixture("jwks.json")).unwrap();
        jsonwebtoken::encode(
            &header,
            &claims(now + 600, "docket"),
            &EncodingKey::from_secret(&public),
        )
        .unwrap()
    };
    // A good token with one character of its signature changed.
    let tampered = {
        let mut t = token(
            "ec-1",
            "ec.pem",
            Algorithm::ES256,
            claims(now + 600, "docket"),
        );
        // Inside the signature: its last character carries padding bits.
        let at = t.rfind('.').unwrap() + 10;
        let flipped = if &t[at..=at] == "A" { "B" } else { "A" };
        t.replace_range(at..=at, flipped);
        t
    };
    let filing = json!({"kind": "hazard", "community": "qinghe", "grid": "qinghe-01", "title": "t",
                        "category": "gas", "severity": "general", "source": "grid-worker"});
    let url = format!("{}/v1/cases", server.url);
    let good = token(
        "ec-1",
        "ec.pem",
        Algorithm::ES256,
        claims(now + 600, "docket"),
    );
    let (status, body) = call(Method::POST, &url, &good, Some(filing.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // As identity providers issue them: several audiences, no iat.
    let mut theirs = with(
        claims(now + 600, "docket"),
        "aud",
        json!(["account", "docket"]),
    );
    theirs.as_object_mut().unwrap().remove("iat");
    let theirs = token("ec-1", "ec.pem", Algorithm::ES256, theirs);
    let (status, body) = call(Method::GET, &url, &theirs, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for (bad, says) in [
        (
            token(
                "ec-1",
                "ec.pem",
                Algorithm::ES256,
                with(claims(now + 600, "docket"), "nbf", json!(now + 3600)),
            ),
            "not valid yet",
        ),
        (
            token(
                "ec-1",
                "ec.pem",
                Algorithm::ES256,
                with(
                    claims(now + 600, "docket"),
                    "iss",
                    json!("https://evil.example"),
                ),
            ),
            "wrong issuer",
        ),
        (unsigned, "never alg none"),
        (confused, "not accepted for key"),
        (tampered, "does not verify"),
        (
            token(
                "ec-1",
                "ec.pem",
                Algorithm::ES256,
                claims(now - 600, "docket"),
            ),
            "expired",
        ),
        (
            token(
                "ec-1",
                "ec.pem",
                Algorithm::ES256,
                claims(now + 600, "payroll"),
            ),
            "wrong audience",
        ),
        (
            token(
                "rsa-9",
                "rsa-other.pem",
                Algorithm::RS256,
                claims(now + 600, "docket"),
            ),
            "unknown key id",
        ),
        (
            token(
                "rsa-1",
                "rsa-other.pem",
                Algorithm::RS256,
                claims(now + 600, "docket"),
            ),
            "does not verify",
        ),
    ] {
        let (status, problem) = call(Method::POST, &url, &bad, Some(filing.clone())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
        assert_eq!(problem["code"], "invalid-token", "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{says}: {problem}"
        );
    }

    // With an identity provider, Docket mints no tokens of its own.
    let out = std::process::Command::new(docket_tests::docket_bin())
        .args([
            "token",
            "--role",
            "supervisor",
            "--jwks",
            jwks.to_str().unwrap(),
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("identity provider"));
}

/// Serves `jwks` at `/jwks` on a free loopback port, as an identity provider publishes it.
async fn publish_jwks(jwks: String) -> String {
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { ([("content-type", "application/json")], jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn the_keys_can_come_from_the_url_the_identity_provider_publishes_them_at() {
    let dir = data_dir();
    let jwks_url = publish_jwks(std::fs::read_to_string(fixture("jwks.json")).unwrap()).await;
    let server = Server::start_bare(
        dir.path(),
        &["--jwks", &jwks_url, "--jwt-audience", "docket"],
    );
    let now = jiff::Timestamp::now().as_second();
    let claims = json!({"sub": "li", "tenant": "qinghe", "role": "supervisor",
                        "iat": now, "exp": now + 600, "aud": "docket"});
    let url = format!("{}/v1/cases", server.url);
    let good = token("rsa-1", "rsa.pem", Algorithm::RS256, claims.clone());
    let (status, body) = call(Method::GET, &url, &good, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stranger = token("rsa-9", "rsa-other.pem", Algorithm::RS256, claims);
    let (status, problem) = call(Method::GET, &url, &stranger, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("unknown key id"),
        "{problem}"
    );

    // A provider that cannot be reached stops the server at start, saying where it looked.
    let other = data_dir();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(docket_tests::docket_bin())
            .env("DOCKET_GRPC_LISTEN", "127.0.0.1:0")
            .args(["serve", "--listen", "127.0.0.1:0", "--jwks"])
            .arg("http://127.0.0.1:1/jwks")
            .arg("--data-dir")
            .arg(other.path())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("http://127.0.0.1:1/jwks"), "{stderr}");
}

/// Month-long demo tokens are printed at start only for a trial on one's own machine (the
/// embedded stores on a loopback address), or when asked for.
#[test]
fn demo_tokens_are_printed_only_for_a_local_trial_or_when_asked_for() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    for (listen, extra, printed) in [
        ("127.0.0.1:0", &[][..], true),
        ("0.0.0.0:0", &[][..], false),
        ("0.0.0.0:0", &["--demo-tokens"][..], true),
    ] {
        let dir = data_dir();
        let mut child = Command::new(docket_bin())
            .env("DOCKET_GRPC_LISTEN", "127.0.0.1:0")
            .args(["serve", "--listen", listen, "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .env("DOCKET_LOG_LEVEL", "warn")
            .env_remove("DOCKET_JWT_SECRET")
            .env_remove("DOCKET_DEMO_TOKENS")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.starts_with("docket: serving"))
            .collect();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(
            lines.iter().any(|l| l.starts_with("Demo tokens")),
            printed,
            "{listen} {extra:?}: {lines:?}"
        );
    }
}
