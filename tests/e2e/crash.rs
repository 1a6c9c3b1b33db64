//! Crashes: every acknowledged command survives a SIGKILL, and the read model catches up.

use docket_eventlog::{EventLog, SqliteLog, verify_chain};
use docket_tests::{Server, data_dir};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::call;

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_command_survives_sigkill_and_the_read_model_catches_up() {
    let dir = data_dir();
    let mut server = Server::start(dir.path());
    let grid = server.token("grid_worker");
    let handler = server.token("handler");

    // Several cases, each acknowledged, the last one killed right after its answer.
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let (status, filed) = call(
            Method::POST,
            &format!("{}/v1/cases", server.url),
            &grid,
            Some(json!({
                "kind": "hazard", "community": "qinghe", "grid": "qinghe-01",
                "title": format!("燃气瓶露天存放 {i}"), "category": "gas",
                "severity": "general", "source": "grid-worker"
            })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{filed}");
        let id = filed["case_id"].as_str().unwrap().to_owned();
        let (status, verified) = call(
            Method::POST,
            &format!("{}/v1/cases/{id}/actions/verify", server.url),
            &handler,
            Some(json!({"severity": "major", "responsible_party": "餐馆"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{verified}");
        acknowledged.push((id, verified["position"].as_u64().unwrap()));
    }
    server.kill();

    let log = SqliteLog::open(dir.path().join("log.sqlite")).unwrap();
    for (id, _) in &acknowledged {
        let commits: Vec<_> = log
            .read_case("demo", id.parse().unwrap())
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.commit)
            .collect();
        assert_eq!(commits.len(), 2, "case {id} kept both acknowledged commits");
        verify_chain(&commits).unwrap();
    }
    drop(log);

    let server = Server::start(dir.path());
    let last = acknowledged.last().unwrap().1;
    let (status, list) = call(
        Method::GET,
        &format!(
            "{}/v1/cases?status=verified&min_position={last}",
            server.url
        ),
        &handler,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut listed: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = acknowledged.iter().map(|(id, _)| id.clone()).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    for (id, _) in &acknowledged {
        let (status, history) = call(
            Method::GET,
            &format!("{}/v1/cases/{id}/history", server.url),
            &handler,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(history["commits"].as_array().unwrap().len(), 2);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_server_cleanly() {
    let dir = data_dir();
    let mut server = Server::start(dir.path());
    let token = server.token("supervisor");
    let (status, _) = call(
        Method::GET,
        &format!("{}/v1/cases", server.url),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(server.terminate(), "docket exits 0 on SIGTERM");
}
