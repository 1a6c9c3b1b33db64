//! Personal data (PIPL): never in clear in the log or the read model, shown by role, withheld
//! from the unit a report or accusation names, and erased by destroying the person's key.

use std::path::Path;
use std::process::Command;

use docket_eventlog::{EventLog, SqliteLog, verify_chain};
use docket_testkit::NatsServer;
use docket_tests::{Server, data_dir, docket_bin};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::call;

/// What the tests file: names, ID numbers, phones and an address, none of which may be found
/// in clear in the log.
const SECRETS: &[&str] = &[
    "欧阳秀英",
    "110105194912310038",
    "13911112222",
    "上官建国",
    "13833334444",
    "海淀区清河路甲12号",
    "司马光明",
    "11010519800101026X",
    "13755556666",
    "漏水已三个月",
];

fn dispute() -> Value {
    json!({
        "kind": "dispute", "community": "qinghe", "grid": "qinghe-02", "room": "qinghe-mediation",
        "title": "楼上漏水", "dispute_type": "neighbour", "source": "walk-in",
        "description": "欧阳秀英说楼上漏水已三个月",
        "parties": [
            {"side": "applicant", "name": "欧阳秀英", "id_number": "110105194912310038",
             "phone": "13911112222", "address": "海淀区清河路甲12号"},
            {"side": "respondent", "name": "上官建国", "phone": "13833334444"}
        ]
    })
}

fn accusation() -> Value {
    json!({
        "kind": "petition", "community": "qinghe", "grid": "qinghe-02", "title": "反映城管执法问题",
        "channel": "letter", "petition_type": "report-accusation", "category": "urban-management",
        "accused_unit": "qinghe-urban",
        "petitioners": [{"name": "司马光明", "id_number": "11010519800101026X", "phone": "13755556666"}]
    })
}

/// Which of `needles` each file under `dir` (that `only` admits) holds, byte for byte.
fn found_in<'a>(
    dir: &Path,
    only: &dyn Fn(&Path) -> bool,
    needles: &[&'a [u8]],
) -> Vec<(String, &'a [u8])> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if only(&path) {
            let bytes = std::fs::read(&path).unwrap();
            for needle in needles {
                if bytes.windows(needle.len()).any(|w| w == *needle) {
                    found.push((path.display().to_string(), *needle));
                }
            }
        }
    }
    found
}

/// Every file under `dir`, its raw bytes searched for each secret.
fn secrets_in(dir: &Path, only: &dyn Fn(&Path) -> bool) -> Vec<(String, &'static str)> {
    let secrets: Vec<&[u8]> = SECRETS.iter().map(|s| s.as_bytes()).collect();
    found_in(dir, only, &secrets)
        .into_iter()
        .map(|(path, needle)| {
            let secret = SECRETS.iter().find(|s| s.as_bytes() == needle).unwrap();
            (path, *secret)
        })
        .collect()
}

fn text(v: &Value) -> String {
    v.to_string()
}

async fn file(server: &Server, token: &str, body: Value) -> Value {
    let (status, filed) = call(
        Method::POST,
        &format!("{}/v1/cases", server.url),
        token,
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    filed
}

async fn get(server: &Server, token: &str, path: &str) -> (StatusCode, Value) {
    call(Method::GET, &format!("{}{path}", server.url), token, None).await
}

#[tokio::test(flavor = "multi_thread")]
async fn personal_data_is_sealed_shown_by_role_and_erased_with_its_key() {
    let dir = data_dir();
    let mut server = Server::start(dir.path());
    let officer = server.token("petition_officer");
    let supervisor = server.token("supervisor");
    let mediator = server.token("mediator");
    let grid_worker = server.token("grid_worker");
    let accused = server.token_with("handler", &["--unit", "qinghe-urban"]);

    let dispute_id = file(&server, &grid_worker, dispute()).await["case_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let petition_id = file(&server, &officer, accusation()).await["case_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Never assigned to the very unit it accuses: refused, and handled by another unit.
    let (status, refused) = call(
        Method::POST,
        &format!("{}/v1/cases/{petition_id}/actions/accept", server.url),
        &officer,
        Some(json!({"unit": "qinghe-urban"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["field"], "unit", "{refused}");
    let (status, accepted) = call(
        Method::POST,
        &format!("{}/v1/cases/{petition_id}/actions/accept", server.url),
        &officer,
        Some(json!({"unit": "qinghe-housing"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");

    // The mediator works with the parties: in clear. The grid worker who filed sees them masked.
    let (_, case) = get(&server, &mediator, &format!("/v1/cases/{dispute_id}")).await;
    let applicant = &case["case"]["parties"][0]["who"];
    assert_eq!(applicant["name"], "欧阳秀英", "{case}");
    assert_eq!(applicant["phone"], "13911112222");
    let person = applicant["person"].as_str().unwrap().to_owned();
    // The description may name the people: sealed under the case's key, shown as they are.
    assert_eq!(
        case["case"]["description"], "欧阳秀英说楼上漏水已三个月",
        "{case}"
    );
    let (_, masked) = get(&server, &grid_worker, &format!("/v1/cases/{dispute_id}")).await;
    assert_eq!(
        masked["case"]["parties"][0]["who"]["name"], "欧***",
        "{masked}"
    );
    assert_eq!(masked["case"]["parties"][0]["who"]["phone"], "139****2222");
    assert_eq!(masked["case"]["description"], "欧…", "{masked}");
    for secret in SECRETS {
        assert!(
            !text(&masked).contains(secret),
            "{secret} shown to the grid worker"
        );
    }

    // The accused unit's handler never reaches the petition, let alone who wrote it.
    for path in [
        format!("/v1/cases/{petition_id}"),
        format!("/v1/cases/{petition_id}/history"),
    ] {
        let (status, body) = get(&server, &accused, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    // The grid worker of its grid reaches it, but not the reporter: withheld, not even masked.
    let (status, seen) = get(&server, &grid_worker, &format!("/v1/cases/{petition_id}")).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    let (status, history) = get(
        &server,
        &grid_worker,
        &format!("/v1/cases/{petition_id}/history"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let (_, officers_view) = get(&server, &officer, &format!("/v1/cases/{petition_id}")).await;
    let reporter = &officers_view["case"]["petitioners"][0];
    assert_eq!(reporter["name"], "司马光明", "{officers_view}");
    let reporter_id = reporter["person"].as_str().unwrap();
    assert_eq!(
        seen["case"]["petitioners"][0],
        json!({"withheld": true}),
        "{seen}"
    );
    for body in [&seen, &history] {
        for secret in [
            "司马",
            "11010519800101026X",
            "13755556666",
            "1375",
            reporter_id,
        ] {
            assert!(
                !text(body).contains(secret),
                "{secret} shown to the grid worker: {body}"
            );
        }
    }

    // Nothing in clear on disk: the log, the read model and the key file alike.
    assert!(server.terminate());
    let leaks = secrets_in(dir.path(), &|_| true);
    assert!(
        leaks.is_empty(),
        "personal data in clear on disk: {leaks:?}"
    );

    // The applicant's key, as the key file holds it (hex), before it is destroyed.
    let key: String = {
        let pool = sqlx::SqlitePool::connect(&format!(
            "sqlite://{}?mode=ro",
            dir.path().join("keys.sqlite").display()
        ))
        .await
        .unwrap();
        let key = sqlx::query_scalar("SELECT key FROM person_keys WHERE person = $1")
            .bind(&person)
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        key
    };
    let key_bytes: Vec<u8> = (0..key.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&key[i..i + 2], 16).unwrap())
        .collect();

    // Erase the applicant: every interface shows the person erased, the chain still verifies.
    let out = Command::new(docket_bin())
        .args(["erase-person", &person, "--tenant", "demo", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No copy of the destroyed key is left in any file of the data directory, the key file's
    // write-ahead log included.
    let copies = found_in(dir.path(), &|_| true, &[key.as_bytes(), &key_bytes[..]]);
    assert!(
        copies.is_empty(),
        "the destroyed key is still in {copies:?}"
    );
    // Nor can a guess at the person be confirmed by hashing: neither their details' digests nor
    // the request's fingerprint as it was kept unkeyed before (the whole filing, hashed) are
    // anywhere.
    let filing = docket_domain::CaseCommand::parse_filing(dispute()).unwrap();
    let digest = |bytes: &[u8]| -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(bytes))
    };
    let mut guesses = vec![digest(&docket_eventlog::canonical_json(
        &serde_json::to_value(&filing).unwrap(),
    ))];
    guesses.extend(SECRETS.iter().map(|s| digest(s.as_bytes())));
    let guesses: Vec<&[u8]> = guesses.iter().map(|g| g.as_bytes()).collect();
    let confirmed = found_in(dir.path(), &|_| true, &guesses);
    assert!(
        confirmed.is_empty(),
        "a guess is confirmed in {confirmed:?}"
    );
    let server = Server::start(dir.path());
    for (token, path) in [
        (&supervisor, format!("/v1/cases/{dispute_id}")),
        (&mediator, format!("/v1/cases/{dispute_id}")),
        (&supervisor, format!("/v1/cases/{dispute_id}/history")),
        (&grid_worker, format!("/v1/cases/{dispute_id}")),
    ] {
        let (status, body) = get(&server, token, &path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for secret in [
            "欧阳",
            "110105194912310038",
            "13911112222",
            "2222",
            "海淀区清河路甲12号",
        ] {
            assert!(
                !text(&body).contains(secret),
                "{secret} after erasure at {path}: {body}"
            );
        }
    }
    let (_, case) = get(&server, &supervisor, &format!("/v1/cases/{dispute_id}")).await;
    assert_eq!(case["case"]["parties"][0]["who"]["erased"], true, "{case}");
    assert_eq!(
        case["case"]["description"], "[erased]",
        "the case's texts go with the person they name: {case}"
    );
    assert_eq!(
        case["case"]["parties"][1]["who"]["name"], "上官建国",
        "the other party stays"
    );
    drop(server);
    let log = SqliteLog::open(dir.path().join("log.sqlite")).unwrap();
    for id in [&dispute_id, &petition_id] {
        let commits: Vec<_> = log
            .read_case("demo", id.parse().unwrap())
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.commit)
            .collect();
        verify_chain(&commits).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_jetstream_stream_holds_no_personal_data_in_clear() {
    let nats = NatsServer::start();
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &["--log", &nats.url()]);
    let officer = server.token("petition_officer");
    let grid_worker = server.token("grid_worker");
    file(&server, &grid_worker, dispute()).await;
    let filed = file(&server, &officer, accusation()).await;
    let (status, _) = get(
        &server,
        &officer,
        &format!("/v1/cases/{}", filed["case_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stream_files = secrets_in(nats.store_dir(), &|_| true);
    assert!(
        stream_files.is_empty(),
        "personal data in the stream: {stream_files:?}"
    );
    // The stream does hold the cases: the scan looked at the right place.
    let mut sizes = 0;
    let mut stack = vec![nats.store_dir().to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&p).unwrap();
            if bytes
                .windows("反映城管执法问题".len())
                .any(|w| w == "反映城管执法问题".as_bytes())
            {
                sizes += 1;
            }
        }
    }
    assert!(sizes > 0, "the stream's files hold the filing's title");
}
