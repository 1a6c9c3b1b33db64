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

/// Group commit under load: 64 clients file at once while the server is killed; every filing
/// that was answered is in the log with its chain, whatever batch it was written in.
#[tokio::test(flavor = "multi_thread")]
async fn filings_of_sixty_four_concurrent_writers_survive_sigkill_once_answered() {
    let dir = data_dir();
    let mut server = Server::start(dir.path());
    let grid = server.token("grid_worker");
    let http = reqwest::Client::new();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..64 {
        let (http, url, grid, stop) =
            (http.clone(), server.url.clone(), grid.clone(), stop.clone());
        clients.spawn(async move {
            let mut answered = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let filing = serde_json::json!({
                    "kind": "hazard", "community": "qinghe", "grid": "qinghe-01",
                    "unit": "qinghe-safety", "title": format!("并发 {client}-{n}"),
                    "category": "gas", "severity": "general", "source": "grid-worker"
                });
                let sent = http
                    .post(format!("{url}/v1/cases"))
                    .bearer_auth(&grid)
                    .json(&filing)
                    .send()
                    .await;
                // Once the server is gone, what was in flight has no answer: not counted.
                let Ok(response) = sent else { break };
                if response.status() != reqwest::StatusCode::CREATED {
                    break;
                }
                let Ok(body) = response.json::<serde_json::Value>().await else {
                    break;
                };
                answered.push((
                    body["case_id"].as_str().unwrap().to_owned(),
                    body["position"].as_u64().unwrap(),
                ));
            }
            answered
        });
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    server.kill();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered: Vec<(String, u64)> = clients.join_all().await.into_iter().flatten().collect();
    assert!(
        answered.len() > 64,
        "only {} filings answered",
        answered.len()
    );

    let log = SqliteLog::open(dir.path().join("log.sqlite")).unwrap();
    for (id, position) in &answered {
        let commits = log.read_case("demo", id.parse().unwrap()).await.unwrap();
        assert_eq!(
            commits.len(),
            1,
            "case {id} was answered, so it is in the log"
        );
        assert_eq!(
            commits[0].position, *position,
            "case {id} is where it was answered to be"
        );
        verify_chain(&[commits[0].commit.clone()]).unwrap();
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
