//! Running the real binary as an operator does: JSON log lines for a collector, `/readyz` for the
//! load balancer, `/metrics` for Prometheus.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use docket_tests::{data_dir, docket_bin};

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_readyz_and_metrics_on_the_real_binary() {
    let dir = data_dir();
    let mut child = Command::new(docket_bin())
        .env("DOCKET_GRPC_LISTEN", "127.0.0.1:0")
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("DOCKET_LOG_LEVEL", "info")
        .env_remove("DOCKET_JWT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start docket serve");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (urls, url) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("docket: serving ") {
                let _ = urls.send(rest.split_whitespace().next().unwrap().to_owned());
            }
        }
    });
    let (lines, logged) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let url = url.recv_timeout(Duration::from_secs(30)).expect("serving");

    // Every log line is one JSON object with its level, target and fields.
    let first = logged
        .recv_timeout(Duration::from_secs(10))
        .expect("a log line");
    let line: serde_json::Value =
        serde_json::from_str(&first).unwrap_or_else(|e| panic!("not JSON ({e}): {first}"));
    assert!(line["level"].is_string(), "{line}");
    assert!(line["fields"]["message"].is_string(), "{line}");
    assert!(line["timestamp"].is_string(), "{line}");

    let client = reqwest::Client::new();
    let ready = client.get(format!("{url}/readyz")).send().await.unwrap();
    let (status, _) = docket_tests::checked("GET", ready).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let metrics = client.get(format!("{url}/metrics")).send().await.unwrap();
    let (status, text) = docket_tests::checked("GET", metrics).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains(
            "docket_http_requests_total{route=\"/readyz\",method=\"GET\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("# TYPE docket_http_request_duration_seconds histogram"),
        "{text}"
    );

    let _ = child.kill();
    let _ = child.wait();
    for line in logged.try_iter() {
        serde_json::from_str::<serde_json::Value>(&line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
}
