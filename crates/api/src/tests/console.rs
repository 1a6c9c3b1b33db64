//! The console's pages and sign-in routes: served from this server only under a policy that
//! says so, cached until they change, and demo tokens only where they are offered, to this
//! machine's own pages.

use super::*;

async fn raw(
    router: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, bytes.to_vec())
}

fn demo_actor(role: Role) -> Actor {
    Actor {
        id: format!("demo-{role}"),
        tenant: "qinghe".parse().unwrap(),
        role,
        unit: None,
        grids: Vec::new(),
    }
}

#[tokio::test]
async fn the_page_and_its_files_come_from_here_only_and_are_revalidated() {
    let app = app().await;
    let (status, headers, page) = raw(&app.router, "GET", "/", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = headers["content-security-policy"].to_str().unwrap();
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(part), "{policy}");
    }
    assert!(!policy.contains("unsafe-eval"), "{policy}");
    assert!(String::from_utf8_lossy(&page).contains("/console/console.js"));

    let (status, headers, script) = raw(&app.router, "GET", "/console/console.js", &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(!script.is_empty());
    let tag = headers["etag"].to_str().unwrap().to_owned();
    let (status, _, body) = raw(
        &app.router,
        "GET",
        "/console/console.js",
        &[("if-none-match", &tag)],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());

    let (status, _, _) = raw(&app.router, "GET", "/console/nothing.js", &[], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn demo_tokens_are_not_offered_unless_the_server_offers_them() {
    let app = app().await;
    let (_, _, config) = raw(&app.router, "GET", "/console/config.json", &[], "").await;
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["demo"]["roles"], json!([]));
    assert_eq!(config["oidc"], Value::Null);
    let (status, _, _) = raw(
        &app.router,
        "POST",
        "/console/demo-token",
        &[
            ("host", "127.0.0.1:8080"),
            ("content-type", "application/json"),
        ],
        r#"{"role": "admin"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_demo_token_is_for_this_machines_own_pages_and_signs_in_as_its_role() {
    let app = app().await;
    let router = router(
        app.state
            .clone()
            .with_console(crate::console::ConsoleSetup {
                demo: vec![demo_actor(Role::Supervisor), demo_actor(Role::Admin)],
                oidc: None,
            }),
    );
    let (_, _, config) = raw(&router, "GET", "/console/config.json", &[], "").await;
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["demo"]["tenant"], "qinghe");
    assert_eq!(config["demo"]["roles"][0]["role"], "supervisor");

    let ask = |host: &'static str, content_type: &'static str, body: &'static str| {
        let router = router.clone();
        async move {
            raw(
                &router,
                "POST",
                "/console/demo-token",
                &[("host", host), ("content-type", content_type)],
                body,
            )
            .await
        }
    };
    let (status, _, body) = ask(
        "127.0.0.1:8080",
        "application/json",
        r#"{"role": "supervisor"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token: Value = serde_json::from_slice(&body).unwrap();
    let actor = app.auth.verify(token["token"].as_str().unwrap()).unwrap();
    assert_eq!(
        (actor.role, actor.id.as_str()),
        (Role::Supervisor, "demo-supervisor")
    );

    // Another site's page that had its name resolve here (DNS rebinding), a form post, a role
    // not offered.
    let (status, _, _) = ask(
        "evil.example:8080",
        "application/json",
        r#"{"role": "admin"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = ask("localhost:8080", "text/plain", r#"{"role": "admin"}"#).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _, body) = ask(
        "localhost:8080",
        "application/json",
        r#"{"role": "grid_worker"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("supervisor, admin"));
}

#[tokio::test]
async fn the_pages_may_reach_the_providers_token_endpoint_once_its_discovery_is_read() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let provider = Router::new().route(
        "/.well-known/openid-configuration",
        axum::routing::get(|| async {
            axum::Json(json!({ "token_endpoint": "https://tokens.example/oauth/token" }))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, provider).await });

    let app = app().await;
    let oidc = crate::console::OidcClient::new(
        issuer.clone(),
        "docket-console".to_owned(),
        "http://127.0.0.1:8080/".to_owned(),
        "openid".to_owned(),
    );
    let router = router(
        app.state
            .clone()
            .with_console(crate::console::ConsoleSetup {
                demo: Vec::new(),
                oidc: Some(oidc),
            }),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let policy = loop {
        let (_, headers, _) = raw(&router, "GET", "/", &[], "").await;
        let policy = headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        if policy.contains("https://tokens.example") || std::time::Instant::now() > deadline {
            break policy;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        policy.contains(&format!(
            "connect-src 'self' {issuer} https://tokens.example;"
        )),
        "{policy}"
    );
    let (_, _, config) = raw(&router, "GET", "/console/config.json", &[], "").await;
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config["oidc"]["issuer"], issuer);
    assert_eq!(config["oidc"]["client_id"], "docket-console");
}
