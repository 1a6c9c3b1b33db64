//! docs/operations.md's walk-through, run verbatim against the cluster `make cluster` starts (the
//! same topology, fresh): a shell with the cluster's environment and `docket` on its path.

use std::process::Command;

use docket_testkit::cluster::Topology;
use docket_tests::docket_bin;

/// The shell block that follows `<!-- cluster walkthrough -->` in docs/operations.md.
fn walkthrough_script() -> String {
    docket_tests::shell_block_after("docs/operations.md", "<!-- cluster walkthrough -->")
}

#[test]
fn the_operations_walkthrough_runs_against_the_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let docket = docket_bin();
    let topology = Topology::start(&docket, dir.path());
    let env = dir.path().join("cluster.env");
    topology.write_env(&env);
    let path = format!(
        "{}:{}",
        docket.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &walkthrough_script()])
        .env("CLUSTER_ENV", &env)
        .env("PATH", path)
        .output()
        .expect("bash");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(r#""status":"verified""#),
        "the hazard was verified: {stdout}"
    );
    // One replica projects, the other follows.
    assert_eq!(
        stdout.matches("docket_projector_leading 1").count(),
        1,
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("docket_projector_leading 0").count(),
        1,
        "{stdout}"
    );
    assert!(stdout.contains("backed up nats:DOCKET"), "{stdout}");
    assert!(
        stdout.contains("verified: no mismatch") || stderr.contains("verified: no mismatch"),
        "{stdout}\n{stderr}"
    );
}
