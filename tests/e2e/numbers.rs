//! Case numbers: gap-free per tenant, kind and year, in filing order, and the same on every
//! replica. Numbers are handed out in log order by each replica's projection, so replicas cannot
//! disagree: there is nothing to race for.

use std::collections::BTreeMap;

use docket_testkit::NatsServer;
use docket_tests::{Server, data_dir};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::call;

/// Files `count` hazards through `clients` concurrent clients spread over `urls`; returns
/// (case id, log position, number from the filing response) for each.
async fn file_concurrently(
    urls: &[(String, String)],
    clients: usize,
    count: usize,
) -> Vec<(String, u64, Option<String>)> {
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (url, token) = urls[client % urls.len()].clone();
        let mine = (client..count).step_by(clients).count();
        tasks.push(tokio::spawn(async move {
            let mut filed = Vec::new();
            for n in 0..mine {
                let (status, body) = call(
                    Method::POST,
                    &format!("{url}/v1/cases"),
                    &token,
                    Some(json!({
                        "kind": "hazard", "community": "qinghe", "title": format!("隐患 {client}-{n}"),
                        "category": "fire", "severity": "general", "source": "grid-worker"
                    })),
                )
                .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
                filed.push((
                    body["case_id"].as_str().unwrap().to_owned(),
                    body["position"].as_u64().unwrap(),
                    body["number"].as_str().map(str::to_owned),
                ));
            }
            filed
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

async fn number_on(url: &str, token: &str, id: &str) -> String {
    let (status, case) = call(Method::GET, &format!("{url}/v1/cases/{id}"), token, None).await;
    assert_eq!(status, StatusCode::OK, "{case}");
    case["number"].as_str().expect("a number").to_owned()
}

/// Asserts the numbers are HZ-<year>-000001 .. count, in log order.
fn assert_gap_free_in_log_order(by_position: &BTreeMap<u64, String>, count: usize) {
    let numbers: Vec<&String> = by_position.values().collect();
    assert_eq!(numbers.len(), count);
    let year = &numbers[0][3..7];
    for (i, number) in numbers.iter().enumerate() {
        assert_eq!(**number, format!("HZ-{year}-{:06}", i + 1), "in log order");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_filings_from_sixteen_clients_get_a_thousand_gap_free_numbers() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let token = server.token("supervisor");
    let filed = file_concurrently(&[(server.url.clone(), token.clone())], 16, 1000).await;
    let mut by_position = BTreeMap::new();
    for (id, position, number) in filed {
        let number = match number {
            Some(n) => n,
            None => number_on(&server.url, &token, &id).await,
        };
        assert!(
            by_position.insert(position, number).is_none(),
            "one commit per filing"
        );
    }
    assert_gap_free_in_log_order(&by_position, 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_one_jetstream_log_hand_out_the_same_numbers() {
    let nats = NatsServer::start();
    let (dir_a, dir_b) = (data_dir(), data_dir());
    let a = Server::start_with(dir_a.path(), &["--log", &nats.url()]);
    let b = Server::start_with(dir_b.path(), &["--log", &nats.url()]);
    let (token_a, token_b) = (a.token("supervisor"), b.token("supervisor"));
    let urls = [
        (a.url.clone(), token_a.clone()),
        (b.url.clone(), token_b.clone()),
    ];
    let filed = file_concurrently(&urls, 16, 400).await;
    let mut on_a = BTreeMap::new();
    for (id, position, _) in &filed {
        let number_a = number_on(&a.url, &token_a, id).await;
        let number_b = number_on(&b.url, &token_b, id).await;
        assert_eq!(number_a, number_b, "both replicas number case {id} alike");
        on_a.insert(*position, number_a);
    }
    assert_gap_free_in_log_order(&on_a, 400);
}
