//! An auditor checks a case's hash chain without Docket: `docket export-chain` prints the
//! commits, and `docs/verify-chain.py`, over an independent RFC 8785 implementation (PyPI's
//! `rfc8785`), checks them. New commits hash under RFC 8785, coordinates included; commits of the
//! first scheme still verify, in `docket verify` and in the script; one changed byte is refused.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use docket_eventlog::{
    ChainHash, CommitBody, EventLog, HASH_SCHEME, SqliteLog, contract::first_scheme_body,
};
use docket_tests::{Server, data_dir, docket_bin, workspace_root};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::call;

/// The Python with `rfc8785` that `make test` installs.
fn jcs_python() -> std::path::PathBuf {
    let python = std::env::var_os("DOCKET_JCS_PYTHON")
        .map(Into::into)
        .unwrap_or_else(|| workspace_root().join(".tools/jcs/bin/python3"));
    assert!(
        python.exists(),
        "{} is missing: run `make test` (or make .tools/jcs/bin/python3)",
        python.display()
    );
    python
}

fn export_chain(dir: &Path, case: Uuid) -> String {
    let out = Command::new(docket_bin())
        .args(["export-chain", &case.to_string(), "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs the documented script on an exported chain: whether it holds, and what it said.
fn script_says(chain: &str) -> (bool, String) {
    let mut child = Command::new(jcs_python())
        .arg(workspace_root().join("docs/verify-chain.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(chain.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// A commit as a release before RFC 8785 hashing wrote it.
fn first_scheme(case: Uuid, version: u64, event: &str, data: serde_json::Value) -> CommitBody {
    let event_type = format!("hazard.{event}");
    first_scheme_body(
        "demo",
        case,
        "hazard",
        version,
        (&event_type, 1, data),
        "grid_worker",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exported_chain_verifies_with_an_independent_jcs_implementation() {
    let dir = data_dir();
    let mut server = Server::start(dir.path());
    let grid_worker = server.token("grid_worker");
    let filing = json!({"kind": "hazard", "community": "qinghe", "grid": "qinghe-01",
        "title": "井盖缺失 \u{1F6A7}", "category": "fire", "severity": "general",
        "source": "grid-worker",
        "location": {"latitude": 39.904_211_000_000_01, "longitude": 116.407_395_999_999_99}});
    let (status, filed) = call(
        Method::POST,
        &format!("{}/v1/cases", server.url),
        &grid_worker,
        Some(filing),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    let case: Uuid = filed["case_id"].as_str().unwrap().parse().unwrap();
    let (status, noted) = call(
        Method::POST,
        &format!("{}/v1/cases/{case}/actions/add-note", server.url),
        &grid_worker,
        Some(json!({"text": "已设置围挡 ①"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{noted}");
    assert!(server.terminate());

    // A case of the first scheme, carried on under the new one.
    let old = Uuid::now_v7();
    {
        let log = SqliteLog::open(dir.path().join("log.sqlite")).unwrap();
        let filed = first_scheme(
            old,
            1,
            "reported",
            json!({"community": "qinghe", "grid": "qinghe-01", "title": "路灯不亮"}),
        )
        .seal(ChainHash::genesis());
        let noted =
            first_scheme(old, 2, "noted", json!({"note": "已报修"})).seal(filed.hash.clone());
        let mut carried = first_scheme(old, 3, "noted", json!({"note": "已修复", "lat": 0.1}));
        carried.hash_scheme = HASH_SCHEME;
        let carried = carried.seal(noted.hash.clone());
        for commit in [&filed, &noted, &carried] {
            log.append(commit).await.unwrap();
        }
    }

    let new_chain = export_chain(dir.path(), case);
    assert_eq!(new_chain.lines().count(), 2, "{new_chain}");
    assert!(new_chain.contains("\"hash_scheme\":2"), "{new_chain}");
    assert!(new_chain.contains("39.90421100000001"), "{new_chain}");
    let (holds, said) = script_says(&new_chain);
    assert!(holds, "{said}");
    assert!(said.starts_with("the chain holds: 2 commits"), "{said}");

    let mixed = export_chain(dir.path(), old);
    assert_eq!(mixed.lines().count(), 3, "{mixed}");
    assert!(
        !mixed.lines().next().unwrap().contains("hash_scheme"),
        "{mixed}"
    );
    let (holds, said) = script_says(&mixed);
    assert!(holds, "{said}");
    assert!(said.starts_with("the chain holds: 3 commits"), "{said}");

    // The note is sealed under the case's key: the chain verifies without it in clear.
    assert!(!new_chain.contains("已设置围挡"), "{new_chain}");

    // One changed byte, and the script names the commit.
    let altered = new_chain.replacen("\"add-note\"", "\"add-notf\"", 1);
    assert_ne!(altered, new_chain);
    let (holds, said) = script_says(&altered);
    assert!(!holds, "{said}");
    assert!(
        said.contains("version 2: its hash is not the hash of its content"),
        "{said}"
    );

    // Docket's own audit agrees: both schemes verify.
    let out = Command::new(docket_bin())
        .arg("verify")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
