//! End-to-end tests of the real `docket` binary: one test binary, a module per story.

mod archive;
mod audit;
mod backup;
mod chain;
mod chaos;
mod cluster;
mod connections;
mod coordination;
mod crash;
mod demo;
mod evidence;
mod grpc;
mod jetstream;
mod numbers;
mod open311;
mod operations;
mod privacy;
mod readmodel;
mod stories;
mod tokens;
mod upgrade;
mod walkthrough;

use serde_json::Value;

/// Sends a JSON request with a bearer token; returns the status and the JSON body, which the
/// API document must allow.
pub(crate) async fn call(
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (reqwest::StatusCode, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.clone(), url).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request sent");
    // Every answer is one the API document allows.
    let (status, body) = docket_tests::checked(method.as_str(), res).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Files a hazard as a grid worker and verifies it as a handler, each acknowledged; returns the
/// case id and the log position of the verify commit.
pub(crate) async fn file_and_verify(
    url: &str,
    grid: &str,
    handler: &str,
    title: &str,
) -> (String, u64) {
    let (status, filed) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/cases"),
        grid,
        Some(serde_json::json!({
            "kind": "hazard", "community": "qinghe", "grid": "qinghe-01", "unit": "qinghe-safety",
            "title": title,
            "category": "gas", "severity": "general", "source": "grid-worker"
        })),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{filed}");
    let id = filed["case_id"].as_str().unwrap().to_owned();
    let (status, verified) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/cases/{id}/actions/verify"),
        handler,
        Some(serde_json::json!({"severity": "major", "responsible_party": "餐馆"})),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{verified}");
    (id, verified["position"].as_u64().unwrap())
}
