//! Evidence photos: a grid worker uploads a photo, files a hazard naming it, and anyone of the
//! tenant gets it back by its hash; what is not a photo or document, or not what it says it is,
//! or too large, is refused and kept nowhere. Kept in the data directory by default, or in an
//! S3-compatible bucket (moto's S3 server here), where another replica finds it. What no commit
//! names is removed by `docket sweep-evidence` once its grace period is over, from either.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use docket_testkit::free_port;
use docket_tests::{Server, data_dir, docket_bin, workspace_root};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::call;

/// How a phone's JPEG begins, and then some bytes.
fn photo(tag: &str) -> Vec<u8> {
    [b"\xFF\xD8\xFF\xE0".as_slice(), tag.as_bytes()].concat()
}

/// How a PNG begins, and then some bytes.
fn png() -> Vec<u8> {
    [b"\x89PNG\r\n\x1a\n".as_slice(), b"orphan"].concat()
}

async fn upload(
    server: &Server,
    token: &str,
    media_type: &str,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/evidence", server.url))
        .bearer_auth(token)
        .header("Content-Type", media_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn fetch(server: &Server, token: &str, path: &str) -> (StatusCode, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status(), response.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_photo_is_kept_by_its_hash_named_in_the_filing_and_read_back() {
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &["--evidence-max-bytes", "4096"]);
    let grid = server.token("grid_worker");
    let handler = server.token("handler");

    let (status, kept) = upload(&server, &grid, "image/jpeg", photo("楼道")).await;
    assert_eq!(status, StatusCode::CREATED, "{kept}");
    let hash = kept["content_hash"].as_str().unwrap().to_owned();
    assert!(hash.starts_with("sha256:") && hash.len() == 71, "{kept}");
    assert_eq!(kept["size"], photo("楼道").len());
    // The same photo again is the same evidence.
    let (_, again) = upload(&server, &grid, "image/jpeg", photo("楼道")).await;
    assert_eq!(again, kept);

    let (status, filed) = call(
        Method::POST,
        &format!("{}/v1/cases", server.url),
        &grid,
        Some(json!({
            "kind": "hazard", "community": "qinghe", "grid": "qinghe-01", "unit": "qinghe-safety",
            "title": "楼道堆物", "category": "fire", "severity": "general", "source": "grid-worker",
            "location": {"latitude": 39.9, "longitude": 116.4}, "evidence": [kept.clone()]
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    let case = filed["case_id"].as_str().unwrap();
    let (status, detail) = call(
        Method::GET,
        &format!("{}/v1/cases/{case}", server.url),
        &handler,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["case"]["evidence"][0], kept);

    // The handler, another role of the tenant, reads the photo by the link the case names.
    let (status, bytes) = fetch(&server, &handler, kept["blob"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, photo("楼道"));
    let (status, _) = fetch(
        &server,
        &handler,
        &format!("/v1/evidence/sha256:{}", "0".repeat(64)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another office's official does not find it.
    let elsewhere = server.token_with("supervisor", &["--tenant", "haidian"]);
    let (status, _) = fetch(&server, &elsewhere, kept["blob"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = fetch(&server, &handler, "/v1/evidence/..%2F..%2Fjwt-secret").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let unauthenticated = reqwest::get(format!("{}{}", server.url, kept["blob"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    // Refused, and nothing kept: not a kind of evidence, not what it says, empty, too large.
    let files = || {
        std::fs::read_dir(dir.path().join("evidence/demo"))
            .unwrap()
            .count()
    };
    let before = files();
    for (media_type, body, expected) in [
        (
            "image/svg+xml",
            b"<svg/>".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "image/png",
            photo("not a png"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("image/jpeg", Vec::new(), StatusCode::BAD_REQUEST),
        (
            "image/jpeg",
            [photo("big"), vec![0; 5000]].concat(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ] {
        let (status, problem) = upload(&server, &grid, media_type, body).await;
        assert_eq!(status, expected, "{media_type}: {problem}");
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{problem}"
        );
    }
    assert_eq!(files(), before, "a refused upload keeps nothing");
}

/// Runs `docket sweep-evidence` on `data`; answers whether it succeeded, its stdout and its
/// stderr.
fn sweep(data: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(docket_bin())
        .arg("sweep-evidence")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Files a hazard naming `evidence`; answers the case's id.
async fn file_naming(server: &Server, token: &str, evidence: &serde_json::Value) -> String {
    let (status, filed) = call(
        Method::POST,
        &format!("{}/v1/cases", server.url),
        token,
        Some(json!({
            "kind": "hazard", "community": "qinghe", "grid": "qinghe-01", "unit": "qinghe-safety",
            "title": "楼道堆物", "category": "fire", "severity": "general", "source": "grid-worker",
            "evidence": [evidence]
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    filed["case_id"].as_str().unwrap().to_owned()
}

/// Takes `action` on `case`, which must be recorded.
async fn act(server: &Server, token: &str, case: &str, action: &str, input: serde_json::Value) {
    let (status, answer) = call(
        Method::POST,
        &format!("{}/v1/cases/{case}/actions/{action}", server.url),
        token,
        Some(input),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{action}: {answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_removes_the_uploads_no_commit_names_once_their_grace_is_over() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let grid = server.token("grid_worker");
    let (_, named) = upload(&server, &grid, "image/jpeg", photo("有案")).await;
    let (_, unnamed) = upload(&server, &grid, "image/jpeg", photo("无案")).await;
    let case = file_naming(&server, &grid, &named).await;
    // Evidence named by later actions too: one any case takes, and a hazard's rectification.
    let (_, attached) = upload(&server, &grid, "image/jpeg", photo("补充")).await;
    act(
        &server,
        &grid,
        &case,
        "attach-evidence",
        json!({"evidence": [attached]}),
    )
    .await;
    let handler = server.token("handler");
    let verify = json!({"severity": "general", "responsible_party": "住户"});
    act(&server, &handler, &case, "verify", verify).await;
    let order = json!({"measures": "移出楼道"});
    act(&server, &handler, &case, "order-rectification", order).await;
    let (_, rectified) = upload(&server, &grid, "image/jpeg", photo("整改")).await;
    let report = json!({"evidence": [rectified]});
    act(&server, &grid, &case, "report-rectified", report).await;
    let kept = dir.path().join("evidence/demo");
    let path = |evidence: &serde_json::Value| {
        kept.join(&evidence["content_hash"].as_str().unwrap()["sha256:".len()..])
    };
    // An upload a crash cut short leaves a temporary; an operator's note is no upload at all.
    let leftover = kept.join(format!(".{}.0190a7b2", "0".repeat(64)));
    std::fs::write(&leftover, b"\xFF\xD8").unwrap();
    let note = kept.join("README.txt");
    std::fs::write(&note, b"photos of the office").unwrap();
    let all = [
        path(&named),
        path(&attached),
        path(&rectified),
        path(&unnamed),
        leftover.clone(),
        note.clone(),
    ];
    let age = |files: &[std::path::PathBuf]| {
        let ten_days_ago = std::time::SystemTime::now() - Duration::from_secs(10 * 24 * 3600);
        for file in files {
            std::fs::File::options()
                .write(true)
                .open(file)
                .unwrap()
                .set_modified(ten_days_ago)
                .unwrap();
        }
    };
    let unnamed_hex = &unnamed["content_hash"].as_str().unwrap()["sha256:".len()..];

    // Within the grace period (7 days) nothing goes, the server serving meanwhile.
    let (ok, out, err) = sweep(dir.path(), &[], &[]);
    assert!(ok, "{err}");
    assert_eq!(out, "", "{err}");
    assert!(err.contains("removed 0 (0 bytes)"), "{err}");

    // Ten days on, a dry run lists the unnamed upload and the temporary, and removes nothing.
    age(&all);
    let (ok, out, err) = sweep(dir.path(), &["--dry-run"], &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("would remove demo/{unnamed_hex}")),
        "{out}"
    );
    assert!(out.contains("would remove demo/.000"), "{out}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(all.iter().all(|f| f.exists()));

    // The same photo uploaded again is a fresh upload, whose action may be on its way.
    let (status, again) = upload(&server, &grid, "image/jpeg", photo("无案")).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    let (ok, out, err) = sweep(dir.path(), &["--dry-run"], &[]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("would remove demo/.000"), "{out}");

    age(&all);
    let (ok, out, err) = sweep(dir.path(), &[], &[]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("removed demo/{unnamed_hex}")),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(err.contains("3 named by the log"), "{err}");
    assert!(!path(&unnamed).exists() && !leftover.exists());
    assert!(path(&named).exists() && path(&attached).exists() && path(&rectified).exists());
    assert!(note.exists());
    let (status, _) = fetch(&server, &grid, unnamed["blob"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, bytes) = fetch(&server, &grid, named["blob"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, photo("有案"));

    // Pointed at another data directory, it refuses rather than remove everything.
    let (_, stray) = upload(&server, &grid, "image/jpeg", photo("迷路")).await;
    age(&[path(&stray)]);
    let evidence_dir = dir.path().join("evidence");
    let evidence_dir = ["--evidence-dir", evidence_dir.to_str().unwrap()];
    let elsewhere = data_dir();
    let (ok, _, err) = sweep(elsewhere.path(), &evidence_dir, &[]);
    assert!(!ok);
    assert!(err.contains("no embedded log"), "{err}");
    assert!(
        std::fs::read_dir(elsewhere.path())
            .unwrap()
            .next()
            .is_none(),
        "it made nothing there"
    );
    // Nor does a log with no commits at all speak for the files.
    let empty = data_dir();
    drop(Server::start_bare_env(empty.path(), &[], &[]));
    let (ok, _, err) = sweep(empty.path(), &evidence_dir, &[]);
    assert!(!ok);
    assert!(err.contains("the log holds no commits"), "{err}");
    // A log that names none of the tenant's files is not the one the server writes.
    let other = data_dir();
    drop(Server::start(other.path()));
    let (ok, out, err) = sweep(other.path(), &evidence_dir, &[]);
    assert!(ok, "{err}");
    assert_eq!(out, "");
    assert!(err.contains("names none of tenant demo's"), "{err}");
    assert!(path(&named).exists() && path(&stray).exists());
}

/// moto's S3 server on a free loopback port, stopped on drop.
struct ObjectStore {
    child: Child,
    url: String,
}

impl ObjectStore {
    fn start() -> ObjectStore {
        let bin = std::env::var_os("DOCKET_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".tools/moto/bin/moto_server"));
        assert!(
            bin.is_file(),
            "no S3 test server at {}: run `make moto` (make test does)",
            bin.display()
        );
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        ObjectStore { child, url }
    }
}

impl Drop for ObjectStore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn evidence_in_a_bucket_is_found_by_another_replica() {
    let store = ObjectStore::start();
    let created = reqwest::Client::new()
        .put(format!("{}/docket-evidence", store.url))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    let args = [
        "--evidence-s3-endpoint",
        store.url.as_str(),
        "--evidence-s3-bucket",
        "docket-evidence",
    ];
    let env = [
        ("AWS_ACCESS_KEY_ID", "docket"),
        ("AWS_SECRET_ACCESS_KEY", "docket-secret"),
    ];
    let (first, second) = (data_dir(), data_dir());
    let one = Server::start_bare_env(first.path(), &args, &env);
    one.set_up_directory();
    let (status, kept) = upload(&one, &one.token("grid_worker"), "image/jpeg", photo("桶")).await;
    assert_eq!(status, StatusCode::CREATED, "{kept}");
    assert!(
        !first.path().join("evidence").exists(),
        "nothing is kept in the data directory"
    );

    // Another replica, with a data directory of its own and the same secret, serves it.
    std::fs::copy(
        first.path().join("jwt-secret"),
        second.path().join("jwt-secret"),
    )
    .unwrap();
    let two = Server::start_bare_env(second.path(), &args, &env);
    let (status, bytes) = fetch(
        &two,
        &one.token("supervisor"),
        kept["blob"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, photo("桶"));

    // A sweep of the bucket removes what no commit names and keeps what one does; a file is
    // judged by commits recorded after it was written (the bucket's times are in seconds).
    let (_, orphan) = upload(&one, &one.token("grid_worker"), "image/png", png()).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    file_naming(&one, &one.token("grid_worker"), &kept).await;
    let sweep_args = [&args[..], &["--grace-days", "0"]].concat();
    let (ok, out, err) = sweep(first.path(), &sweep_args, &env);
    assert!(ok, "{err}");
    let orphan_hex = &orphan["content_hash"].as_str().unwrap()["sha256:".len()..];
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with(&format!("removed demo/{orphan_hex}")),
        "{out}"
    );
    let supervisor = one.token("supervisor");
    let (status, _) = fetch(&two, &supervisor, orphan["blob"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = fetch(&two, &supervisor, kept["blob"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    // The store unreachable: the upload is refused as unavailable, not lost silently.
    drop(store);
    let (status, problem) =
        upload(&one, &one.token("grid_worker"), "image/jpeg", photo("断")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
}
