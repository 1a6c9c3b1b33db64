//! `docket export` and `docket import`: an office moves from the embedded log to JetStream. A demo
//! year exported, imported into a stream and served there counts the same figures; an archive
//! with an altered commit is refused, naming the commit, and leaves the target empty.

use std::path::Path;
use std::process::Command;

use docket_testkit::NatsServer;
use docket_tests::{Server, data_dir, docket_bin, succeeded};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::call;

fn docket(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(docket_bin())
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap()
}

/// `docket import` of `archive` into the stream at `nats`, for the data directory `dir`.
fn import(nats: &NatsServer, archive: &Path, dir: &Path) -> std::process::Output {
    docket(
        &[
            "import",
            "--log",
            &nats.url(),
            "--from",
            archive.to_str().unwrap(),
        ],
        dir,
    )
}

/// The year's figures as a server counts them, once it has projected `head` commits.
async fn figures(server: &Server, head: usize) -> Value {
    let url = format!(
        "{}/v1/stats?from=2025-01-01&to=2025-12-31&by=kind&min_position={head}",
        server.url
    );
    let (status, stats) = call(Method::GET, &url, &server.token("supervisor"), None).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    stats["groups"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exported_year_imported_into_jetstream_counts_the_same_and_a_tampered_archive_is_refused()
 {
    let source = data_dir();
    succeeded(&docket(
        &["demo", "--scale", "0.05", "--year", "2025"],
        source.path(),
    ));
    let archive = source.path().join("year.jsonl");
    let said = succeeded(&docket(
        &["export", "--to", archive.to_str().unwrap()],
        source.path(),
    ));
    assert!(said.contains("exported"), "{said}");
    let text = std::fs::read_to_string(&archive).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let head = lines.len() - 2;
    assert!(head > 1000, "a year's commits: {head}");
    assert!(lines[0].contains("\"docket_archive\":1"), "{}", lines[0]);
    assert!(lines[lines.len() - 1].contains("\"end\""));

    let nats = NatsServer::start();
    let target = data_dir();
    // Keys and tokens stay with the office: the target uses the source's key store and secret.
    for file in ["keys.sqlite", "jwt-secret"] {
        if source.path().join(file).exists() {
            std::fs::copy(source.path().join(file), target.path().join(file)).unwrap();
        }
    }

    // An archive with one commit altered is refused, naming the commit, even with its trailer
    // made to match; nothing is appended.
    let victim = lines.len() / 2;
    let mut altered: Value = serde_json::from_str(lines[victim]).unwrap();
    let commit_id = altered["commit"]["commit_id"].as_str().unwrap().to_owned();
    altered["commit"]["actor"]["id"] = "someone-else".into();
    let mut forged: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    forged[victim] = altered.to_string();
    let body = forged[..forged.len() - 1].join("\n") + "\n";
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(body.as_bytes()))
    };
    let tampered = source.path().join("tampered.jsonl");
    std::fs::write(
        &tampered,
        format!("{body}{{\"end\":{{\"commits\":{head},\"sha256\":\"{digest}\"}}}}\n"),
    )
    .unwrap();
    let refused = import(&nats, &tampered, target.path());
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains(&commit_id) && why.contains("hash does not match"),
        "the refusal names the commit: {why}"
    );
    // Cut short: refused too.
    let cut = source.path().join("cut.jsonl");
    std::fs::write(&cut, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    let refused = import(&nats, &cut, target.path());
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("cut short"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The real archive: imported whole, and a second run finds it all there.
    let said = succeeded(&import(&nats, &archive, target.path()));
    assert!(said.contains(&format!("imported {head} commits")), "{said}");
    let said = succeeded(&import(&nats, &archive, target.path()));
    assert!(
        said.contains("imported 0 commits") && said.contains(&format!("{head} were there")),
        "{said}"
    );

    // Served from the stream, the year counts what it counted on the embedded log.
    let embedded = Server::start_bare(source.path(), &["--watch-every", "0"]);
    let before = figures(&embedded, head).await;
    drop(embedded);
    let moved = Server::start_bare(target.path(), &["--watch-every", "0", "--log", &nats.url()]);
    let after = figures(&moved, head).await;
    assert!(
        before.as_array().is_some_and(|g| g.len() >= 3),
        "figures by kind: {before}"
    );
    assert_eq!(after, before, "the same figures from the stream");
    drop(moved);

    // Row for row, the same read model.
    let digest = |dir: &Path, log: &'static str| {
        let path = dir.join("read.sqlite");
        async move {
            let model = docket_projections::ReadModel::open(path, log)
                .await
                .unwrap();
            let digest = model.digest().await.unwrap();
            model.close().await;
            digest
        }
    };
    assert_eq!(
        digest(target.path(), "nats:DOCKET").await,
        digest(source.path(), "sqlite").await,
        "the read model built from the stream is the embedded one's"
    );
}
