//! `docket backup` while the server files cases, `docket restore` into a fresh data directory (and
//! a fresh stream): `docket verify` passes, every filing answered before the backup began is
//! there, people's details still open (the keys came along), and the source's tokens still sign
//! in (the secret came along), and the evidence photos are there. On both logs. A damaged backup is
//! refused and restores nothing.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use docket_testkit::NatsServer;
use docket_tests::{Server, data_dir, docket_bin, succeeded};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::call;

fn docket(args: &[&str], dir: &Path, store: &[&str]) -> std::process::Output {
    Command::new(docket_bin())
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .args(store)
        .output()
        .unwrap()
}

/// Backs up `source` (served with `store`) under a load of filings, restores it into a fresh
/// data directory served with `restored_store`, and checks the restored office.
async fn backup_under_load_restores_every_answered_filing(store: &[&str], restored_store: &[&str]) {
    let source = data_dir();
    let server = Server::start_with(source.path(), store);
    let mediator = server.token("mediator");
    let (status, dispute) = call(
        Method::POST,
        &format!("{}/v1/cases", server.url),
        &server.token("grid_worker"),
        Some(json!({
            "kind": "dispute", "community": "qinghe", "grid": "qinghe-02",
            "room": "qinghe-mediation", "title": "楼上漏水", "dispute_type": "neighbour",
            "source": "walk-in", "description": "欧阳秀英说楼上漏水已三个月",
            "parties": [
                {"side": "applicant", "name": "欧阳秀英", "phone": "13911112222"},
                {"side": "respondent", "name": "上官建国"}
            ]
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{dispute}");
    let dispute = dispute["case_id"].as_str().unwrap().to_owned();
    // A photo the grid worker took, kept as evidence.
    let photo = [b"\xFF\xD8\xFF\xE0".as_slice(), "楼道照片".as_bytes()].concat();
    let kept = reqwest::Client::new()
        .post(format!("{}/v1/evidence", server.url))
        .bearer_auth(server.token("grid_worker"))
        .header("Content-Type", "image/jpeg")
        .body(photo.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), StatusCode::CREATED);
    let kept: serde_json::Value = kept.json().await.unwrap();

    // Eight grid workers file hazards without pause; each answered filing is noted with when.
    let grid = server.token("grid_worker");
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..8 {
        let (url, grid, stop) = (server.url.clone(), grid.clone(), stop.clone());
        clients.spawn(async move {
            let http = reqwest::Client::new();
            let mut answered = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let response = http
                    .post(format!("{url}/v1/cases"))
                    .bearer_auth(&grid)
                    .json(&json!({
                        "kind": "hazard", "community": "qinghe", "grid": "qinghe-01",
                        "unit": "qinghe-safety", "title": format!("巡查 {client}-{n}"),
                        "category": "gas", "severity": "general", "source": "grid-worker",
                        // Sealed under a key the filing makes: the key and the commit are
                        // written a moment apart, the backup between them must hold both.
                        "description": format!("楼道堆物 {client}-{n}")
                    }))
                    .send()
                    .await
                    .expect("the server answers");
                assert_eq!(response.status(), StatusCode::CREATED);
                let body: serde_json::Value = response.json().await.unwrap();
                answered.push((
                    Instant::now(),
                    body["case_id"].as_str().unwrap().to_owned(),
                    format!("楼道堆物 {client}-{n}"),
                ));
            }
            answered
        });
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let began = Instant::now();
    let backup = source.path().join("backup");
    let (dir, args) = (source.path().to_owned(), store.to_vec());
    let mut backup_args = vec!["backup", "--to", backup.to_str().unwrap()];
    backup_args.extend(args.iter().copied());
    let args: Vec<String> = backup_args.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(docket_bin())
            .args(&args)
            .arg("--data-dir")
            .arg(&dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let said = succeeded(&out);
    assert!(said.contains("backed up"), "{said}");
    // Filings go on after the backup: they are not in it, and nothing says they should be.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let answered: Vec<(Instant, String, String)> =
        clients.join_all().await.into_iter().flatten().collect();
    let before: Vec<(&String, &String)> = answered
        .iter()
        .filter(|(at, _, _)| *at < began)
        .map(|(_, id, description)| (id, description))
        .collect();
    assert!(
        before.len() > 20,
        "filings answered before the backup: {}",
        before.len()
    );
    assert!(
        answered.len() > before.len(),
        "filings went on during the backup"
    );
    drop(server);

    // A damaged backup is refused, naming the file, and restores nothing.
    let damaged = source.path().join("damaged");
    copy_tree(&backup, &damaged);
    let mut keys = std::fs::read(damaged.join("keys.sqlite")).unwrap();
    let middle = keys.len() / 2;
    keys[middle] ^= 0x55;
    std::fs::write(damaged.join("keys.sqlite"), keys).unwrap();
    let target = data_dir();
    let refused = docket(
        &["restore", "--from", damaged.to_str().unwrap()],
        target.path(),
        restored_store,
    );
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("keys.sqlite") && why.contains("nothing was restored"),
        "{why}"
    );

    let said = succeeded(&docket(
        &["restore", "--from", backup.to_str().unwrap()],
        target.path(),
        restored_store,
    ));
    assert!(said.contains("restored"), "{said}");
    let verified = docket(&["verify"], target.path(), restored_store);
    assert!(
        verified.status.success(),
        "docket verify on the restored office: {}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    // Restoring again into what now holds the office is refused.
    let again = docket(
        &["restore", "--from", backup.to_str().unwrap()],
        target.path(),
        restored_store,
    );
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("restore into an empty"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // Served from the restored directory: the source's token signs in, every filing answered
    // before the backup began is there, and the dispute's people and description open.
    let restored = Server::start_bare(target.path(), restored_store);
    let client = reqwest::Client::new();
    for (id, description) in &before {
        let response = client
            .get(format!("{}/v1/cases/{id}", restored.url))
            .bearer_auth(&grid)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "case {id}, answered before the backup began, is restored"
        );
        let case: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            case["case"]["description"], **description,
            "case {id}'s description opens: its key is restored"
        );
    }
    let (status, case) = call(
        Method::GET,
        &format!("{}/v1/cases/{dispute}", restored.url),
        &mediator,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(
        case["case"]["parties"][0]["who"]["name"], "欧阳秀英",
        "{case}"
    );
    assert_eq!(
        case["case"]["description"], "欧阳秀英说楼上漏水已三个月",
        "{case}"
    );
    let photo_again = client
        .get(format!(
            "{}{}",
            restored.url,
            kept["blob"].as_str().unwrap()
        ))
        .bearer_auth(&grid)
        .send()
        .await
        .unwrap();
    assert_eq!(
        photo_again.status(),
        StatusCode::OK,
        "the evidence is restored"
    );
    assert_eq!(
        photo_again.bytes().await.unwrap().as_ref(),
        photo.as_slice()
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_embedded_backup_taken_under_load_restores_every_answered_filing() {
    backup_under_load_restores_every_answered_filing(&[], &[]).await;
}

/// The move to a cluster that docs/operations.md advises: an embedded office's backup restored
/// into a stream, its commits appended a page at a time.
#[tokio::test(flavor = "multi_thread")]
async fn an_embedded_backup_restores_into_a_stream() {
    let nats = NatsServer::start();
    let url = nats.url();
    backup_under_load_restores_every_answered_filing(&[], &["--log", &url]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_jetstream_backup_taken_under_load_restores_into_a_fresh_stream() {
    let nats = NatsServer::start();
    let url = nats.url();
    backup_under_load_restores_every_answered_filing(
        &["--log", &url],
        &["--log", &url, "--nats-stream", "RESTORED"],
    )
    .await;
}

/// A mistyped data directory, or one with no log, is not "backed up" as an empty office.
#[test]
fn a_backup_of_a_missing_or_empty_office_is_refused() {
    let dir = data_dir();
    let to = dir.path().join("backup");
    let missing = docket(
        &["backup", "--to", to.to_str().unwrap()],
        &dir.path().join("mistyped"),
        &[],
    );
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no data directory"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let empty = docket(&["backup", "--to", to.to_str().unwrap()], dir.path(), &[]);
    assert!(!empty.status.success());
    assert!(
        String::from_utf8_lossy(&empty.stderr).contains("no embedded log"),
        "{}",
        String::from_utf8_lossy(&empty.stderr)
    );
    assert!(!to.exists(), "nothing was written");
}
