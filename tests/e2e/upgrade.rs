//! A data directory made before tenants had directories: its log holds cases only. The binary
//! starts on it, seeds each tenant's directory from the names its cases use, and serves the
//! cases to the tokens that served them before.

use std::time::{Duration, Instant};

use docket_eventlog::{ChainHash, CommitBody, EventLog, SqliteLog, contract::first_scheme_body};
use docket_tests::{Server, data_dir, docket_bin};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::call;

/// A case's first commit as the previous release recorded it.
fn filing(case: Uuid, kind: &str, event: &str, data: Value, role: &str) -> CommitBody {
    let event_type = format!("{kind}.{event}");
    first_scheme_body("demo", case, kind, 1, (&event_type, 1, data), role)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_data_directory_seeds_its_directory_and_serves_its_cases() {
    let dir = data_dir();
    let hazard = Uuid::now_v7();
    let dispute = Uuid::now_v7();
    let petition = Uuid::now_v7();
    let due = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 30);
    {
        let log = SqliteLog::open(dir.path().join("log.sqlite")).unwrap();
        for body in [
            filing(
                hazard,
                "hazard",
                "reported",
                json!({"community": "old-town", "grid": "old-town-07", "address": null,
                       "location": null, "title": "配电箱锈蚀", "description": "",
                       "category": "electrical", "severity": "general",
                       "source": "night-patrol", "responsible_party": null,
                       "unit": "old-town-safety", "verify_by": due}),
                "grid_worker",
            ),
            filing(
                dispute,
                "dispute",
                "registered",
                json!({"community": "old-town", "grid": null, "address": null, "location": null,
                       "title": "噪音", "description": "", "dispute_type": "neighbour",
                       "source": "walk-in", "parties": [], "room": "old-town-room",
                       "accept_by": due}),
                "mediator",
            ),
            filing(
                petition,
                "petition",
                "registered",
                json!({"community": "old-town", "grid": "old-town-07", "address": null,
                       "title": "供暖", "description": "", "channel": "letter",
                       "petition_type": "appeal-request", "category": "housing",
                       "petitioners": [], "headcount": 1, "key_person": false,
                       "leader_owned": null, "backlog": false, "escalation_risk": null,
                       "accused_unit": null, "accept_by": due}),
                "petition_officer",
            ),
        ] {
            log.append(&body.seal(ChainHash::genesis())).await.unwrap();
        }
        // A 督办 notice as recorded before notices were addressed to a unit.
        let first = log
            .read_case("demo", hazard)
            .await
            .unwrap()
            .remove(0)
            .commit;
        let mut notice = filing(
            hazard,
            "hazard",
            "unused",
            json!({"number": 1, "notice": "限期核实", "due": due}),
            "supervisor",
        );
        notice.version = 2;
        notice.events[0].event_type = "case.supervision_noticed".to_owned();
        notice.command.name = "supervise".to_owned();
        log.append(&notice.seal(first.hash)).await.unwrap();
    }

    let server = Server::start_bare(dir.path(), &[]);
    // Seeded once the read model has caught up with the log.
    let admin = server.token("admin");
    let url = format!("{}/v1/directory", server.url);
    let started = Instant::now();
    let directory = loop {
        let (status, body) = call(Method::GET, &url, &admin, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if !body["communities"].as_array().unwrap().is_empty() {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no directory seeded: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ids = |what: &str| -> Vec<String> {
        directory[what]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids("communities"), ["old-town"]);
    assert_eq!(ids("grids"), ["old-town-07"]);
    assert_eq!(ids("units"), ["old-town-room", "old-town-safety"]);
    assert!(ids("categories").contains(&"electrical".to_owned()));

    // The units' people reach and work their cases as before, old notices included.
    let handler = server.token_with("handler", &["--unit", "old-town-safety"]);
    let case = format!("{}/v1/cases/{hazard}", server.url);
    let (status, body) = call(Method::GET, &case, &handler, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["names"]["community"], "old-town");
    let (status, body) = call(
        Method::POST,
        &format!("{case}/actions/answer-supervision"),
        &handler,
        Some(json!({"notice": 1, "answer": "已核实"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let officer = server.token("petition_officer");
    let (status, body) = call(
        Method::GET,
        &format!("{}/v1/cases/{petition}", server.url),
        &officer,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["names"]["category"], "住房", "{body}");
    let (status, body) = call(
        Method::POST,
        &format!("{case}/actions/verify"),
        &handler,
        Some(json!({"severity": "general", "responsible_party": "物业"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mediator = server.token_with("mediator", &["--unit", "old-town-room"]);
    let (status, body) = call(
        Method::GET,
        &format!("{}/v1/cases/{dispute}", server.url),
        &mediator,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A restart seeds nothing again; the whole log verifies.
    drop(server);
    let server = Server::start_bare(dir.path(), &[]);
    let (_, again) = call(
        Method::GET,
        &format!("{}/v1/directory", server.url),
        &admin,
        None,
    )
    .await;
    assert_eq!(again["communities"], directory["communities"]);
    drop(server);
    let log = SqliteLog::open(dir.path().join("log.sqlite")).unwrap();
    assert_eq!(
        log.head().await.unwrap(),
        7,
        "three cases, a notice, one seeding, an answer, a verify"
    );
    let out = std::process::Command::new(docket_bin())
        .args(["verify", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("of 3 cases and 1 directories"), "{stdout}");
}
