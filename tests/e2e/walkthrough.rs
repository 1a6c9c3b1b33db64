//! The README's walk-through, run verbatim against the real binary.

use std::process::Command;

use docket_eventlog::{EventLog, SqliteLog, verify_chain};
use docket_tests::{Server, data_dir, docket_bin, workspace_root};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::call;

/// The shell block that follows `<!-- walkthrough -->` in the README.
fn walkthrough_script() -> String {
    docket_tests::shell_block_after("README.md", "<!-- walkthrough -->")
}

/// A directory holding a `curl` that runs the machine's curl and keeps each answer (method, URL,
/// status, content type, body) in `answers`, passing the body on as curl would.
fn record_curl(answers: &std::path::Path) -> std::path::PathBuf {
    let real = String::from_utf8(
        Command::new("bash")
            .args(["-c", "command -v curl"])
            .output()
            .expect("bash")
            .stdout,
    )
    .unwrap();
    let dir = answers.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!(
        "#!/usr/bin/env bash\n\
         n=\"{answers}/$(date +%s%N)-$$\"\n\
         {real} \"$@\" -o \"$n.body\" -w '%{{method}} %{{url_effective}} %{{response_code}} %{{content_type}}\\n' > \"$n.meta\"\n\
         code=$?\n\
         cat \"$n.body\" 2>/dev/null\n\
         exit $code\n",
        answers = answers.display(),
        real = real.trim(),
    );
    let curl = dir.join("curl");
    std::fs::write(&curl, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&curl, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Holds each answer `record_curl` kept to the API document; returns how many there were.
fn check_recorded_answers(answers: &std::path::Path) -> usize {
    let mut checked = 0;
    for entry in std::fs::read_dir(answers).unwrap() {
        let meta = entry.unwrap().path();
        if meta.extension().is_none_or(|e| e != "meta") {
            continue;
        }
        let line = std::fs::read_to_string(&meta).unwrap();
        let mut fields = line.trim().splitn(4, ' ');
        let (method, url, status) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap().parse::<u16>().unwrap(),
        );
        let content_type = fields.next().filter(|c| !c.is_empty());
        let body = std::fs::read(meta.with_extension("body")).unwrap_or_default();
        docket_tests::check_answer(method, url, status, content_type, &body);
        checked += 1;
    }
    checked
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_walkthrough_takes_a_hazard_to_closed() {
    let dir = data_dir();
    // A fresh tenant: the walk-through sets up its directory itself.
    let server = Server::start_bare(dir.path(), &[]);
    let bin_dir = docket_bin().parent().unwrap().to_path_buf();
    // curl as the reader runs it, each answer kept beside for the contract check.
    let answers = tempfile::tempdir().unwrap();
    let wrapper = record_curl(answers.path());
    let path = format!(
        "{}:{}:{}",
        wrapper.display(),
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &walkthrough_script()])
        .current_dir(workspace_root())
        .env("DOCKET", &server.url)
        .env("DOCKET_DATA_DIR", dir.path())
        .env("PATH", path)
        .env_remove("DOCKET_JWT_SECRET")
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "walk-through failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every answer the walk-through received is one the API document allows.
    let checked = check_recorded_answers(answers.path());
    assert!(checked >= 8, "{checked} answers recorded");

    let lines: Vec<&str> = stdout.lines().collect();
    let case_id = lines[0]
        .strip_prefix("reported ")
        .expect("first line names the case");
    assert_eq!(&lines[1..4], ["verified", "rectifying", "rectified"]);

    let detail: Value = serde_json::from_str(lines[4]).unwrap();
    assert_eq!(detail["status"], "closed");
    assert_eq!(detail["version"], 5);
    assert_eq!(detail["allowed_actions"], serde_json::json!([]));
    let number = detail["number"].as_str().unwrap();
    assert!(
        number.starts_with("HZ-") && number.ends_with("-000001"),
        "{number}"
    );

    let listed: Value = serde_json::from_str(lines[5]).unwrap();
    assert_eq!(listed["number"], number);
    assert_eq!(listed["status"], "closed");

    let history: Vec<Value> = lines[6..]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let commands: Vec<&str> = history
        .iter()
        .map(|h| h["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        commands,
        [
            "report",
            "verify",
            "order-rectification",
            "report-rectified",
            "pass-reinspection"
        ]
    );

    // The same state over HTTP, and the chain in the log verifies.
    let token = server.token("supervisor");
    let (status, case) = call(
        Method::GET,
        &format!("{}/v1/cases/{case_id}", server.url),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(case["status"], "closed");
    let (_, full) = call(
        Method::GET,
        &format!("{}/v1/cases/{case_id}/history", server.url),
        &token,
        None,
    )
    .await;
    let log = SqliteLog::open(dir.path().join("log.sqlite")).unwrap();
    let commits: Vec<_> = log
        .read_case("demo", case_id.parse().unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.commit)
        .collect();
    verify_chain(&commits).unwrap();
    let hashes: Vec<&str> = commits.iter().map(|c| c.hash.as_str()).collect();
    let served: Vec<&str> = full["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hash"].as_str().unwrap())
        .collect();
    assert_eq!(served, hashes);
}
