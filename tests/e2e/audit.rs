//! `docket verify` and the audit runs (`/v1/audit/runs`) on the real binary: a sound data
//! directory holds; one byte changed in one stored commit is reported with that commit.

use docket_tests::{Server, data_dir, docket_bin};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::call;

fn verify(dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(docket_bin())
        .arg("verify")
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap()
}

/// Follows an audit run until it ends; its last view.
async fn finished(run: &str, token: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, view) = call(Method::GET, run, token, None).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        if view["status"] != "running" {
            assert_eq!(view["status"], "finished", "{view}");
            return view;
        }
        assert!(view["holds"].is_null(), "{view}");
        assert!(
            std::time::Instant::now() < deadline,
            "the audit did not end: {view}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_holds_on_a_sound_directory_and_names_an_altered_commit() {
    let dir = data_dir();
    let mut server = Server::start(dir.path());
    let grid_worker = server.token("grid_worker");
    for i in 0..3 {
        let filing = json!({"kind": "hazard", "community": "qinghe", "grid": "qinghe-01",
            "title": format!("消防通道堵塞 {i}"), "category": "fire", "severity": "general",
            "source": "grid-worker"});
        let (status, body) = call(
            Method::POST,
            &format!("{}/v1/cases", server.url),
            &grid_worker,
            Some(filing),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let runs = format!("{}/v1/audit/runs", server.url);
    let supervisor = server.token("supervisor");
    let (status, started) = call(Method::POST, &runs, &supervisor, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let run = format!("{runs}/{}", started["id"].as_str().unwrap());
    let report = finished(&run, &supervisor).await;
    assert_eq!(report["holds"], true, "{report}");
    // The cases' three commits, and the directory's set-up.
    assert_eq!(
        report["commits"],
        3 + docket_tests::directory_changes().len()
    );
    assert_eq!(report["cases"], 3, "{report}");
    // A tenant's supervisor is shown their tenant's part, nothing of the log's size.
    for global in ["head", "rows_compared", "compared_at", "tenants"] {
        assert!(report.get(global).is_none(), "{global}: {report}");
    }
    // An administrator sees the same run whole, and the runs they may see.
    let admin = server.token("admin");
    let all = finished(&run, &admin).await;
    assert_eq!(all["tenants"]["demo"]["cases"], 3, "{all}");
    assert_eq!(all["head"], all["commits"], "{all}");
    let (status, listed) = call(Method::GET, &runs, &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["items"][0]["id"], started["id"], "{listed}");
    for who in [&grid_worker, &server.token("handler")] {
        let (status, problem) = call(Method::POST, &runs, who, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
        let (status, problem) = call(Method::GET, &run, who, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    }
    let (status, problem) = call(
        Method::GET,
        &format!("{runs}/{}", uuid::Uuid::nil()),
        &supervisor,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert_eq!(problem["code"], "audit-run-not-found", "{problem}");
    assert!(server.terminate());

    let out = verify(dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let commits = 3 + docket_tests::directory_changes().len();
    assert!(
        stdout.contains(&format!(
            "checked {commits} commits of 3 cases and 1 directories"
        )),
        "{stdout}"
    );

    // One byte of the second case's title: 1 becomes 7.
    let log = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("log.sqlite").display()
    ))
    .await
    .unwrap();
    let (position, commit_id): (i64, String) = sqlx::query_as(
        "SELECT position, commit_id FROM commits WHERE body LIKE '%消防通道堵塞 1%'",
    )
    .fetch_one(&log)
    .await
    .unwrap();
    let changed = sqlx::query(
        "UPDATE commits SET body = replace(body, '消防通道堵塞 1', '消防通道堵塞 7') WHERE position = $1",
    )
    .bind(position)
    .execute(&log)
    .await
    .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    log.close().await;

    let out = verify(dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    assert!(stderr.contains("mismatch"), "{stderr}");
    let chain_line = stdout
        .lines()
        .find(|l| l.starts_with("chain:"))
        .unwrap_or_else(|| panic!("no chain finding in {stdout}"));
    assert!(chain_line.contains(&commit_id), "{chain_line}");
    assert!(
        chain_line.contains(&format!("position {position}")),
        "{chain_line}"
    );
}
