//! End-to-end tests of the real `docket` binary: one test binary, a module per story.

mod crash;
mod jetstream;
mod walkthrough;

use serde_json::Value;

/// Sends a JSON request with a bearer token; returns the status and the JSON body.
pub(crate) async fn call(
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (reqwest::StatusCode, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request sent");
    let status = res.status();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body)
}
