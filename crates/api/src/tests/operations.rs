//! What an operator runs the service by: `/metrics` in Prometheus text, which moves as requests,
//! commands and projections happen, and `/readyz`, which says whether a load balancer should
//! send anyone here.

use std::collections::HashMap;

use super::*;

/// Every sample of a scrape, by its name and labels, as Prometheus would parse it.
async fn scrape(app: &App) -> HashMap<String, f64> {
    let r = app.call("GET", "/metrics", None, &[], None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        r.headers
    );
    let text = r.body.as_str().expect("a text body").to_owned();
    let parsed = openmetrics_parser::prometheus::parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("not Prometheus text: {e:?}\n{text}"));
    let mut samples = HashMap::new();
    for (name, family) in &parsed.families {
        for sample in family.iter_samples() {
            let labels = sample.get_labelset().expect("a sample of a family");
            let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            let labels = labels.join(",");
            let (key, value) = match &sample.value {
                openmetrics_parser::PrometheusValue::Counter(c) => (name.clone(), c.value.as_f64()),
                openmetrics_parser::PrometheusValue::Gauge(v)
                | openmetrics_parser::PrometheusValue::Unknown(v) => (name.clone(), v.as_f64()),
                openmetrics_parser::PrometheusValue::Histogram(h) => {
                    (format!("{name}_count"), h.count.unwrap_or(0) as f64)
                }
                openmetrics_parser::PrometheusValue::Summary(_) => continue,
            };
            samples.insert(format!("{key}{{{labels}}}"), value);
        }
    }
    samples
}

/// `GET /readyz` of `router`: its status and body.
async fn readyz(router: &axum::Router) -> (StatusCode, Value) {
    let response = router
        .clone()
        .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn value(samples: &HashMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_move_with_requests_commands_and_projection() {
    let app = app().await;
    let before = scrape(&app).await;
    let id = app.file_hazard().await;
    // A grid worker may not verify: refused.
    let r = app
        .act(
            &id,
            "verify",
            Role::GridWorker,
            r#"{"severity":"general","responsible_party":"物业"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .act(
            &id,
            "verify",
            Role::Handler,
            r#"{"severity":"general","responsible_party":"物业"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let head = app.log.head().await.unwrap();
    assert!(
        app.state
            .read
            .wait_until(head, Duration::from_secs(5))
            .await
    );
    let after = scrape(&app).await;
    let moved = |key: &str| value(&after, key) - value(&before, key);

    // At least: other tests of the same process (under `cargo test`) count into the same
    // recorder; under nextest each test has a process of its own and these are exact.
    assert!(
        moved("docket_commands_total{action=report,kind=hazard,outcome=accepted,reason=}") >= 1.0,
        "{after:?}"
    );
    assert!(
        moved("docket_commands_total{action=verify,kind=hazard,outcome=accepted,reason=}") >= 1.0
    );
    assert!(moved("docket_tenant_commands_total{outcome=accepted,tenant=qinghe}") >= 2.0);
    assert!(moved("docket_tenant_commands_total{outcome=refused,tenant=qinghe}") >= 1.0);
    assert!(
        moved(
            "docket_commands_total{action=verify,kind=hazard,outcome=refused,reason=role-not-permitted}"
        ) >= 1.0
    );
    assert!(moved("docket_http_requests_total{method=POST,route=/v1/cases,status=201}") >= 1.0);
    assert!(
        moved(
            "docket_http_requests_total{method=POST,route=/v1/cases/{id}/actions/{action},status=403}"
        ) >= 1.0
    );
    assert!(
        moved("docket_http_request_duration_seconds_count{method=POST,route=/v1/cases}") >= 1.0
    );
    assert!(
        moved("docket_projected_commits_total{}") >= 2.0,
        "{after:?}"
    );
    assert!(
        moved("docket_log_append_duration_seconds_count{}") >= 2.0,
        "{after:?}"
    );
    assert_eq!(value(&after, "docket_log_head{}"), head as f64);
    assert_eq!(value(&after, "docket_projection_lag_commits{}"), 0.0);
    assert_eq!(value(&after, "docket_quarantined_commits{}"), 0.0);
}

/// A stopped Postgres read model makes the replica not ready (503 naming it), and ready again
/// once it is back; the log alone answering is not enough.
#[tokio::test(flavor = "multi_thread")]
async fn readyz_is_503_while_the_read_model_is_down_and_200_once_it_is_back() {
    let cluster = tokio::task::block_in_place(docket_testkit::PgCluster::start);
    let url = cluster.create_database("readyz");
    let dir = tempfile::tempdir().unwrap().keep();
    let log = Arc::new(SqliteLog::open(dir.join("log.sqlite")).unwrap());
    let read = ReadModel::connect(&url, "sqlite").await.unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(Projector::new(log.clone(), read.clone()).run(stopped));
    let auth = Authenticator::hs256(b"test-secret-test-secret-test-secret");
    let commands = CommandService::new(log.clone(), Arc::new(SystemClock));
    let router = router(AppState::new(commands, read, auth));
    let readyz = || readyz(&router);
    let (status, body) = readyz().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ready"], true);

    tokio::task::block_in_place(|| cluster.stop());
    let (status, body) = readyz().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "not-ready", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("read model"),
        "{body}"
    );

    tokio::task::block_in_place(|| cluster.start_again());
    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = readyz().await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "not ready 15 s after the read model came back: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A replica further behind the log than its bound is not ready, and ready once it catches up.
#[tokio::test]
async fn readyz_is_503_while_the_projection_lags_past_its_bound() {
    let dir = tempfile::tempdir().unwrap().keep();
    let log: docket_eventlog::contract::Log =
        Arc::new(SqliteLog::open(dir.join("log.sqlite")).unwrap());
    let read = ReadModel::open(dir.join("read.sqlite"), "sqlite")
        .await
        .unwrap();
    let auth = Authenticator::hs256(b"test-secret-test-secret-test-secret");
    let commands = CommandService::new(log.clone(), Arc::new(SystemClock));
    // No projector runs: the commits below stay unprojected until the test projects them.
    let router = router(AppState::new(commands, read.clone(), auth).with_ready_max_lag(2));
    let readyz = || readyz(&router);
    docket_eventlog::contract::case_with(&log, "qinghe", 2).await;
    let (status, body) = readyz().await;
    assert_eq!(
        status,
        StatusCode::OK,
        "2 behind is within the bound: {body}"
    );
    assert_eq!(body["lag"], 2, "{body}");
    docket_eventlog::contract::case_with(&log, "qinghe", 1).await;
    let (status, body) = readyz().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "not-ready", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("3 commits behind"),
        "{body}"
    );
    Projector::new(log.clone(), read).catch_up().await.unwrap();
    let (status, body) = readyz().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["lag"], 0, "{body}");
}

/// The rest of what an operator watches moves too: races lost and decided again when clients act
/// on one case at once, the deadline watch's sweeps, open event streams, requests over a rate.
#[tokio::test(flavor = "multi_thread")]
async fn conflicts_sweeps_streams_and_rate_limits_show_in_the_metrics() {
    let mut app = app().await;
    let before = scrape(&app).await;
    let id = app.file_hazard().await;
    // Clients adding notes to one case at once, without If-Match: some lose the race for the
    // next version and decide again (all of them succeed). Rounds until one race is lost.
    let lost = "docket_command_conflicts_total{action=add-note,kind=hazard}";
    for round in 0..5 {
        let notes = (0..16).map(|i| {
            let app = &app;
            let id = id.clone();
            async move {
                let body = format!(r#"{{"text":"第{round}轮第{i}条"}}"#);
                app.act(&id, "add-note", Role::Handler, &body).await
            }
        });
        for r in futures_util::future::join_all(notes).await {
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        if value(&scrape(&app).await, lost) > value(&before, lost) {
            break;
        }
    }
    let after = scrape(&app).await;
    assert!(value(&after, lost) > value(&before, lost), "{after:?}");

    let sweeps = "docket_watch_sweeps_total{}";
    docket_watch::DeadlineWatch::new(app.state.commands.clone(), app.state.read.clone())
        .sweep()
        .await
        .unwrap();
    assert!(value(&scrape(&app).await, sweeps) > value(&before, sweeps));

    let streams = "docket_event_streams_open{}";
    let response = app
        .router
        .clone()
        .oneshot(
            Request::get("/v1/events")
                .header(
                    "authorization",
                    format!("Bearer {}", app.token(Role::Supervisor)),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let open = value(&scrape(&app).await, streams);
    assert!(open >= 1.0, "an open stream is counted: {open}");
    drop(response);
    assert!(
        value(&scrape(&app).await, streams) < open,
        "a stream dropped is no longer counted"
    );

    let limited = "docket_rate_limited_total{}";
    app.router = router(app.state.clone().with_rate_limit(1, 1));
    for _ in 0..2 {
        app.call("GET", "/v1/cases", Some(Role::GridWorker), &[], None)
            .await;
    }
    assert!(value(&scrape(&app).await, limited) > value(&before, limited));
}
