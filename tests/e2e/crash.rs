//! Crashes: every acknowledged command survives a SIGKILL, and the read model catches up.

use docket_eventlog::{EventLog, SqliteLog, verify_chain};
use docket_tests::{Server, data_dir};
use reqwest::{Method, StatusCode};

use crate::{call, file_and_verify};

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_command_survives_sigkill_and_the_read_model_catches_up() {
    let dir = data_dir();
    let mut server = Server::start(dir.path());
    let grid = server.token("grid_worker");
    let handler = server.token("handler");

    // Several cases, each acknowledged, the last one killed right after its answer.
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let title = format!("燃气瓶露天存放 {i}");
        acknowledged.push(file_and_verify(&server.url, &grid, &handler, &title).await);
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
