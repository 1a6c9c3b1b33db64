//! The gRPC interface of the real binary, with tonic clients generated from `proto/docket/v1`:
//! the README's walk-through, refusals with their code in the details, reach, a resumed Watch,
//! idempotent retries, a SIGTERM during a Watch, health and reflection, and evidence files
//! uploaded and read back in pieces.

use std::time::Duration;

use docket_grpc::proto::case_service_client::CaseServiceClient;
use docket_grpc::proto::directory_service_client::DirectoryServiceClient;
use docket_grpc::proto::evidence_service_client::EvidenceServiceClient;
use docket_grpc::proto::stats_service_client::StatsServiceClient;
use docket_grpc::proto::{
    ActRequest, FileCaseRequest, GetCaseRequest, GetDirectoryRequest, GetEvidenceRequest,
    GetFiguresRequest, GetHistoryRequest, ListCasesRequest, UploadEvidenceRequest, WatchRequest,
    WatchResponse,
};
use docket_tests::{Server, data_dir};
use serde_json::{Value, json};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

type Streaming = tonic::Streaming<WatchResponse>;

/// A `Struct` from a JSON object.
fn object(value: Value) -> prost_types::Struct {
    let Value::Object(fields) = value else {
        panic!("an object")
    };
    prost_types::Struct {
        fields: fields.into_iter().map(|(k, v)| (k, field(v))).collect(),
    }
}

fn field(value: Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.into_iter().map(field).collect(),
        }),
        Value::Object(_) => Kind::StructValue(object(value)),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A request carrying a bearer token, and an idempotency key when given.
fn authorized<T>(message: T, token: &str, key: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    if let Some(key) = key {
        request
            .metadata_mut()
            .insert("idempotency-key", key.parse().unwrap());
    }
    request
}

async fn channel(server: &Server) -> Channel {
    Channel::from_shared(server.grpc_url.clone())
        .unwrap()
        .connect()
        .await
        .expect("the gRPC interface answers")
}

fn hazard(grid: &str, title: &str) -> FileCaseRequest {
    FileCaseRequest {
        kind: "hazard".to_owned(),
        input: Some(object(json!({
            "community": "qinghe", "grid": grid, "unit": "qinghe-safety",
            "title": title, "address": "清河路 12 号 3 单元",
            "category": "e-bike-charging", "severity": "general", "source": "night-patrol",
        }))),
    }
}

fn act(case_id: &str, action: &str, input: Value) -> ActRequest {
    ActRequest {
        case_id: case_id.to_owned(),
        action: action.to_owned(),
        input: Some(object(input)),
        expected_version: None,
    }
}

/// The next commit of a Watch, within a few seconds.
async fn next(stream: &mut Streaming) -> WatchResponse {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a commit within 10 s")
        .expect("the stream is sound")
        .expect("the stream is open")
}

/// Nothing more on a Watch for a while.
async fn quiet(stream: &mut Streaming) {
    if let Ok(more) = tokio::time::timeout(Duration::from_millis(700), stream.message()).await {
        panic!("expected nothing more, got {more:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_hazard_walkthrough_over_grpc_with_its_refusals() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let mut cases = CaseServiceClient::new(channel(&server).await);
    let grid = server.token("grid_worker");
    let handler = server.token("handler");

    let filed = cases
        .file_case(authorized(
            hazard("qinghe-03", "电动车在楼道充电"),
            &grid,
            Some("walk-1"),
        ))
        .await
        .expect("filed")
        .into_inner();
    let recorded = filed.recorded.unwrap();
    assert_eq!(recorded.kind, "hazard");
    assert_eq!(recorded.status, "reported");
    assert_eq!(recorded.version, 1);
    assert!(!recorded.replayed);
    assert!(recorded.recorded_at.is_some());
    let case_id = recorded.case_id.clone();

    // The same filing again with its key answers the first answer: no second case.
    let again = cases
        .file_case(authorized(
            hazard("qinghe-03", "电动车在楼道充电"),
            &grid,
            Some("walk-1"),
        ))
        .await
        .expect("replayed")
        .into_inner()
        .recorded
        .unwrap();
    assert_eq!(again.case_id, case_id);
    assert_eq!(again.commit_id, recorded.commit_id);
    assert!(again.replayed);
    // The key with another body is refused, as over HTTP.
    let reused = cases
        .file_case(authorized(
            hazard("qinghe-03", "另一处"),
            &grid,
            Some("walk-1"),
        ))
        .await
        .expect_err("a reused key");
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert_eq!(
        reused.get_details_error_info().unwrap().reason,
        "idempotency-key-reused"
    );

    let steps = [
        (
            "verify",
            &handler,
            json!({"severity": "general", "responsible_party": "3 单元 502 住户"}),
            "verified",
        ),
        (
            "order-rectification",
            &handler,
            json!({"measures": "移出楼道，改到小区充电桩充电"}),
            "rectifying",
        ),
        (
            "report-rectified",
            &grid,
            json!({"evidence": [{
            "content_hash": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "media_type": "image/jpeg", "size": 48213, "blob": "photos/qinghe-03/0001.jpg"}]}),
            "rectified",
        ),
        (
            "pass-reinspection",
            &handler,
            json!({"note": "复查合格"}),
            "closed",
        ),
    ];
    let mut position = 0;
    for (action, token, input, status) in steps {
        let r = cases
            .act(authorized(act(&case_id, action, input), token, None))
            .await
            .unwrap_or_else(|e| panic!("{action}: {e:?}"))
            .into_inner()
            .recorded
            .unwrap();
        assert_eq!(r.status, status, "{action}");
        position = r.position;
    }

    let case = cases
        .get_case(authorized(
            GetCaseRequest {
                case_id: case_id.clone(),
            },
            &handler,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(case.status, "closed");
    assert!(case.closed);
    assert_eq!(case.version, 5);
    assert!(case.allowed_actions.is_empty());
    let number = case.number.clone().expect("a case number");
    assert!(number.starts_with("HZ-"), "{number}");

    let listed = cases
        .list_cases(authorized(
            ListCasesRequest {
                filters: [("kind", "hazard"), ("status", "closed")]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                min_position: Some(position),
                ..Default::default()
            },
            &handler,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.cases.len(), 1);
    assert_eq!(listed.cases[0].number.as_deref(), Some(number.as_str()));
    assert_eq!(listed.cases[0].title, "电动车在楼道充电");

    let history = cases
        .get_history(authorized(
            GetHistoryRequest {
                case_id: case_id.clone(),
            },
            &handler,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.commits.len(), 5);

    // A refusal: the state does not allow the action; the details carry the code and what is
    // allowed.
    let refused = cases
        .act(authorized(
            act(
                &case_id,
                "verify",
                json!({"severity": "major", "responsible_party": "x"}),
            ),
            &handler,
            None,
        ))
        .await
        .expect_err("verify a closed hazard");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let info = refused.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(info.reason, "not-allowed-in-state");
    assert_eq!(info.domain, "docket");
    assert_eq!(info.metadata["state"], "closed");
    assert_eq!(info.metadata["http_status"], "409");

    // Bad input names its field; a stale version is refused; no token is refused.
    let bad = cases
        .file_case(authorized(
            FileCaseRequest {
                kind: "hazard".to_owned(),
                input: Some(object(json!({"community": "qinghe", "title": "x"}))),
            },
            &grid,
            None,
        ))
        .await
        .expect_err("a filing without its fields");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(
        bad.get_details_error_info().unwrap().reason,
        "invalid-input"
    );
    let other = cases
        .file_case(authorized(hazard("qinghe-03", "又一处"), &grid, None))
        .await
        .unwrap()
        .into_inner()
        .recorded
        .unwrap();
    let stale = cases
        .act(authorized(
            ActRequest {
                expected_version: Some(7),
                ..act(
                    &other.case_id,
                    "verify",
                    json!({"severity": "general", "responsible_party": "x"}),
                )
            },
            &handler,
            None,
        ))
        .await
        .expect_err("a stale version");
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(
        stale.get_details_error_info().unwrap().reason,
        "version-mismatch"
    );
    let anonymous = cases
        .get_case(tonic::Request::new(GetCaseRequest {
            case_id: case_id.clone(),
        }))
        .await
        .expect_err("no token");
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    assert_eq!(
        anonymous.get_details_error_info().unwrap().reason,
        "missing-token"
    );
    // A case id that is not one cannot name another path.
    let sneaky = cases
        .get_case(authorized(
            GetCaseRequest {
                case_id: format!("{case_id}/history"),
            },
            &handler,
            None,
        ))
        .await
        .expect_err("not a case id");
    assert_eq!(sneaky.code(), Code::InvalidArgument);

    // An empty case id is a bad argument, not a missing method.
    let empty = cases
        .act(authorized(act("", "verify", json!({})), &handler, None))
        .await
        .expect_err("no case id");
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert_eq!(
        empty.get_details_error_info().unwrap().reason,
        "invalid-case-id"
    );

    // Figures and the directory, through the same layers.
    let supervisor = server.token("supervisor");
    let csv = StatsServiceClient::new(channel(&server).await)
        .get_figures(authorized(
            GetFiguresRequest {
                query: [
                    ("from", "2025-01-01"),
                    ("to", "2025-12-31"),
                    ("format", "csv"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            },
            &supervisor,
            None,
        ))
        .await
        .expect_err("CSV is HTTP's");
    assert_eq!(csv.code(), Code::InvalidArgument);
    assert_eq!(
        csv.get_details_error_info().unwrap().reason,
        "invalid-query"
    );
    let figures = StatsServiceClient::new(channel(&server).await)
        .get_figures(authorized(
            GetFiguresRequest {
                query: [("from", "2025-01-01"), ("to", "2030-12-31")]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            },
            &supervisor,
            None,
        ))
        .await
        .unwrap()
        .into_inner()
        .figures
        .unwrap();
    assert!(figures.fields.contains_key("groups"));
    let directory = DirectoryServiceClient::new(channel(&server).await)
        .get_directory(authorized(GetDirectoryRequest::default(), &grid, None))
        .await
        .unwrap()
        .into_inner()
        .directory
        .unwrap();
    assert!(directory.fields.contains_key("grids"));

    // The calls are counted as gRPC calls, by method and code, and not again as HTTP requests.
    let metrics = metrics(&server).await;
    for line in [
        "docket_grpc_requests_total{method=\"Act\",code=\"OK\"} 4",
        "docket_grpc_requests_total{method=\"Act\",code=\"FAILED_PRECONDITION\"} 1",
        "docket_grpc_requests_total{method=\"FileCase\",code=\"OK\"} 3",
        "docket_grpc_request_duration_seconds_count{method=\"GetCase\"} 3",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
    assert!(
        !metrics.contains("route=\"/v1/cases/{id}/actions/{action}\""),
        "{metrics}"
    );
}

async fn metrics(server: &Server) -> String {
    let response = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    let (status, body) = docket_tests::checked("GET", response).await;
    assert!(status.is_success());
    String::from_utf8(body).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_grid_workers_list_and_watch_show_only_her_grids_and_a_resumed_watch_misses_nothing() {
    let dir = data_dir();
    let server = Server::start(dir.path());
    let mut cases = CaseServiceClient::new(channel(&server).await);
    let mine = server.token_with("grid_worker", &["--grids", "qinghe-01"]);
    let supervisor = server.token("supervisor");

    let mut watch = cases
        .watch(authorized(WatchRequest { after: None }, &mine, None))
        .await
        .expect("a watch")
        .into_inner();
    let mut everything = cases
        .watch(authorized(WatchRequest { after: None }, &supervisor, None))
        .await
        .expect("a watch")
        .into_inner();

    // Two cases in her grid, one in another.
    let mut filed = Vec::new();
    for (grid, title) in [
        ("qinghe-01", "一"),
        ("qinghe-02", "二"),
        ("qinghe-01", "三"),
    ] {
        let r = cases
            .file_case(authorized(hazard(grid, title), &supervisor, None))
            .await
            .unwrap()
            .into_inner()
            .recorded
            .unwrap();
        filed.push(r.case_id);
    }
    let first = next(&mut watch).await;
    let second = next(&mut watch).await;
    assert_eq!(
        [first.case_id.as_str(), second.case_id.as_str()],
        [filed[0].as_str(), filed[2].as_str()]
    );
    assert!(first.position < second.position);
    quiet(&mut watch).await;
    let seen: Vec<String> = [
        next(&mut everything).await,
        next(&mut everything).await,
        next(&mut everything).await,
    ]
    .into_iter()
    .map(|c| c.case_id)
    .collect();
    assert_eq!(seen, filed);
    let open = metrics(&server).await;
    assert!(
        open.contains("docket_grpc_watches_open 2"),
        "two Watch streams open:\n{open}"
    );
    // Counted once, as Watch streams, not again as event streams.
    assert!(
        open.contains("docket_event_streams_open 0") || !open.contains("docket_event_streams_open"),
        "{open}"
    );

    let listed = cases
        .list_cases(authorized(
            ListCasesRequest {
                min_position: Some(second.position),
                ..Default::default()
            },
            &mine,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut ids: Vec<&str> = listed.cases.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![filed[0].as_str(), filed[2].as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    // The other grid's case is not hers to read.
    let outside = cases
        .get_case(authorized(
            GetCaseRequest {
                case_id: filed[1].clone(),
            },
            &mine,
            None,
        ))
        .await
        .expect_err("outside her reach");
    assert_eq!(outside.code(), Code::NotFound);

    // She drops the stream after the first commit; what happens meanwhile reaches her when she
    // resumes from it, once, in order.
    drop(watch);
    let handler = server.token("handler");
    let mut later = Vec::new();
    for case in [&filed[0], &filed[1], &filed[2]] {
        let r = cases
            .act(authorized(
                act(
                    case,
                    "verify",
                    json!({"severity": "general", "responsible_party": "住户"}),
                ),
                &handler,
                None,
            ))
            .await
            .unwrap()
            .into_inner()
            .recorded
            .unwrap();
        later.push(r);
    }
    let mut resumed = cases
        .watch(authorized(
            WatchRequest {
                after: Some(first.position),
            },
            &mine,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next(&mut resumed).await);
    }
    quiet(&mut resumed).await;
    let positions: Vec<u64> = got.iter().map(|c| c.position).collect();
    assert_eq!(
        positions,
        [second.position, later[0].position, later[2].position]
    );
    assert_eq!(
        got[1].commit.as_ref().unwrap().fields["case_id"],
        prost_types::Value {
            kind: Some(prost_types::value::Kind::StringValue(filed[0].clone()))
        }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_an_open_watch_ends_it_and_the_server_cleanly() {
    let dir = data_dir();
    let mut server = Server::start(dir.path());
    let mut cases = CaseServiceClient::new(channel(&server).await);
    let supervisor = server.token("supervisor");
    let mut watch = cases
        .watch(authorized(
            WatchRequest { after: Some(0) },
            &supervisor,
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    // The directory's commits are not cases': the stream shows only cases. File one to see the
    // stream is live.
    cases
        .file_case(authorized(hazard("qinghe-01", "终止前"), &supervisor, None))
        .await
        .unwrap();
    next(&mut watch).await;
    let started = std::time::Instant::now();
    let (exited, ended) = tokio::join!(
        tokio::task::spawn_blocking(move || server.terminate()),
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match watch.message().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => break Ok(()),
                    Err(status) => break Err(status),
                }
            }
        }),
    );
    assert!(exited.unwrap(), "a clean exit");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let ended = ended.expect("the stream ends with the server");
    assert!(ended.is_ok(), "the stream ends cleanly, not with {ended:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_reflection_let_any_client_discover_the_services() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let dir = data_dir();
    let server = Server::start(dir.path());
    let channel = channel(&server).await;

    let mut health = HealthClient::new(channel.clone());
    for service in [
        "",
        "docket.v1.CaseService",
        "docket.v1.StatsService",
        "docket.v1.EvidenceService",
    ] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }

    // As grpcurl does: list the services, then ask for the file that declares one.
    let mut reflection = ServerReflectionClient::new(channel);
    let ask = |message| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(message),
    };
    let requests = tokio_stream::iter([
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol(
            "docket.v1.CaseService".to_owned(),
        )),
    ]);
    let mut answers = reflection
        .server_reflection_info(requests)
        .await
        .unwrap()
        .into_inner();
    let listed = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = listed.message_response else {
        panic!("{listed:?}")
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in [
        "docket.v1.CaseService",
        "docket.v1.StatsService",
        "docket.v1.DirectoryService",
        "docket.v1.EvidenceService",
        "grpc.health.v1.Health",
    ] {
        assert!(names.contains(&service), "{names:?}");
    }
    let file = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(files)) = file.message_response else {
        panic!("{file:?}")
    };
    use prost::Message as _;
    let descriptors: Vec<prost_types::FileDescriptorProto> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap())
        .collect();
    let cases = descriptors
        .iter()
        .find(|f| f.name() == "docket/v1/cases.proto")
        .expect("cases.proto");
    let methods: Vec<&str> = cases.service[0].method.iter().map(|m| m.name()).collect();
    assert_eq!(
        methods,
        [
            "FileCase",
            "Act",
            "GetCase",
            "ListCases",
            "GetHistory",
            "Watch"
        ]
    );
}

/// A file as an upload's messages: the media type in the first, the bytes in pieces of `piece`.
fn pieces(media_type: &str, bytes: &[u8], piece: usize) -> Vec<UploadEvidenceRequest> {
    bytes
        .chunks(piece)
        .enumerate()
        .map(|(i, chunk)| UploadEvidenceRequest {
            media_type: if i == 0 {
                media_type.to_owned()
            } else {
                String::new()
            },
            chunk: chunk.to_vec(),
        })
        .collect()
}

/// The reason of a refusal's ErrorInfo.
fn reason(status: &tonic::Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn evidence_is_uploaded_in_pieces_named_in_an_action_and_read_back_in_pieces() {
    use sha2::Digest as _;

    let dir = data_dir();
    let server = Server::start_with(dir.path(), &["--evidence-max-bytes", "1048576"]);
    let channel = channel(&server).await;
    let evidence = EvidenceServiceClient::new(channel.clone());
    let mut cases = CaseServiceClient::new(channel);
    let grid = server.token("grid_worker");
    let handler = server.token("handler");

    // A PDF of 600 KiB, sent in pieces of 100 KiB.
    let document: Vec<u8> = b"%PDF-1.7\n"
        .iter()
        .copied()
        .chain((0..600 * 1024).map(|i: u32| (i % 251) as u8))
        .collect();
    let upload = |messages: Vec<UploadEvidenceRequest>, token: &str| {
        let mut evidence = evidence.clone();
        let request = authorized(tokio_stream::iter(messages), token, None);
        async move { evidence.upload_evidence(request).await }
    };
    let kept = upload(pieces("application/pdf", &document, 100 * 1024), &grid)
        .await
        .expect("kept")
        .into_inner()
        .evidence
        .unwrap();
    let hash = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&document)));
    assert_eq!(kept.content_hash, hash);
    assert_eq!(kept.media_type, "application/pdf");
    assert_eq!(kept.size, document.len() as u64);
    assert_eq!(kept.blob, format!("/v1/evidence/{hash}"));
    // The same file again, in other pieces, is the same evidence.
    let again = upload(pieces("application/pdf", &document, 7000), &grid)
        .await
        .expect("kept again")
        .into_inner()
        .evidence
        .unwrap();
    assert_eq!(again, kept);

    // An action names it as the upload answered it, and the case shows it.
    let case = cases
        .file_case(authorized(hazard("qinghe-03", "楼道堆物"), &grid, None))
        .await
        .expect("filed")
        .into_inner()
        .recorded
        .unwrap()
        .case_id;
    let named = json!({"evidence": [{"content_hash": kept.content_hash, "media_type":
        kept.media_type, "size": kept.size, "blob": kept.blob}]});
    cases
        .act(authorized(
            act(&case, "attach-evidence", named.clone()),
            &grid,
            None,
        ))
        .await
        .expect("attached");
    let detail = cases
        .get_case(authorized(
            GetCaseRequest {
                case_id: case.clone(),
            },
            &handler,
            None,
        ))
        .await
        .unwrap()
        .into_inner()
        .detail
        .unwrap();
    let shown = format!("{detail:?}");
    assert!(shown.contains(&hash), "{shown}");

    // Another role of the tenant reads it back in pieces, the media type in the first.
    let mut read = evidence
        .clone()
        .get_evidence(authorized(
            GetEvidenceRequest {
                content_hash: hash.clone(),
            },
            &handler,
            None,
        ))
        .await
        .expect("found")
        .into_inner();
    let mut back = Vec::new();
    let mut messages = 0;
    while let Some(piece) = read.message().await.expect("read whole") {
        assert_eq!(
            piece.media_type,
            if messages == 0 { "application/pdf" } else { "" }
        );
        back.extend_from_slice(&piece.chunk);
        messages += 1;
    }
    assert!(messages >= 3, "{messages} messages");
    assert_eq!(back, document);

    // Refusals, each with its code; the photo refused below is kept by none of them.
    let photo = [b"\xFF\xD8\xFF\xE0".as_slice(), "楼道".as_bytes()].concat();
    let refusals = [
        (Vec::new(), "unsupported-media-type"),
        (
            vec![UploadEvidenceRequest {
                media_type: "image/jpeg".to_owned(),
                chunk: Vec::new(),
            }],
            "unreadable-body",
        ),
        (pieces("image/png", &photo, 4), "unsupported-media-type"),
        (pieces("text/plain", b"hello", 4), "unsupported-media-type"),
        (pieces("", &photo, 4), "unsupported-media-type"),
        (
            pieces("image/jpeg", &vec![0xFF; 1048576 + 1], 300 * 1024),
            "body-too-large",
        ),
    ];
    for (messages, code) in refusals {
        let refused = upload(messages, &grid).await.expect_err(code);
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert_eq!(reason(&refused), code, "{refused:?}");
    }
    let mut changing = pieces("image/jpeg", &photo, 4);
    changing[1].media_type = "image/png".to_owned();
    let refused = upload(changing, &grid).await.expect_err("two media types");
    assert_eq!(reason(&refused), "unreadable-body", "{refused:?}");
    assert!(refused.message().contains("image/png"), "{refused:?}");
    let photo_hash = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&photo)));
    let get = |content_hash: String, token: &str| {
        let mut evidence = evidence.clone();
        let request = authorized(GetEvidenceRequest { content_hash }, token, None);
        async move { evidence.get_evidence(request).await }
    };
    let missing = get(photo_hash.clone(), &handler)
        .await
        .expect_err("never kept");
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    assert_eq!(reason(&missing), "evidence-not-found");
    // Media types compare as HTTP compares them: without case or parameters.
    let mut spelled = pieces("IMAGE/JPEG", &photo, 4);
    spelled[1].media_type = "image/jpeg; q=1".to_owned();
    let kept = upload(spelled, &grid).await.expect("one media type");
    assert_eq!(kept.into_inner().evidence.unwrap().content_hash, photo_hash);
    let bad = get("../../jwt-secret".to_owned(), &handler)
        .await
        .expect_err("not a hash");
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    assert_eq!(reason(&bad), "invalid-content-hash");
    // Another office's official does not find it; no token is no call.
    let elsewhere = server.token_with("supervisor", &["--tenant", "haidian"]);
    let hidden = get(hash.clone(), &elsewhere)
        .await
        .expect_err("another tenant");
    assert_eq!(hidden.code(), Code::NotFound, "{hidden:?}");
    let mut anonymous = evidence.clone();
    let unauthenticated = anonymous
        .upload_evidence(tokio_stream::iter(pieces("image/jpeg", &photo, 4)))
        .await
        .expect_err("no token");
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);
    // The token is judged first, even of an empty upload.
    let unauthenticated = anonymous
        .upload_evidence(tokio_stream::iter(Vec::<UploadEvidenceRequest>::new()))
        .await
        .expect_err("no token");
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_upload_is_kept_and_a_read_past_the_request_timeout_is_refused_unavailable() {
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &["--request-timeout", "1"]);
    let channel = channel(&server).await;
    let grid = server.token("grid_worker");

    // A phone on a slow link: a photo in four pieces over about two seconds, past the timeout.
    let photo = [b"\xFF\xD8\xFF\xE0".as_slice(), "慢速上传".as_bytes()].concat();
    let slowly = tokio_stream::StreamExt::throttle(
        tokio_stream::iter(pieces("image/jpeg", &photo, 4)),
        Duration::from_millis(600),
    );
    let started = std::time::Instant::now();
    let kept = EvidenceServiceClient::new(channel.clone())
        .upload_evidence(authorized(slowly, &grid, None))
        .await
        .expect("a command is not cut off")
        .into_inner()
        .evidence
        .unwrap();
    assert!(started.elapsed() > Duration::from_millis(1500));
    assert_eq!(kept.size, photo.len() as u64);

    // A read waiting for a position the log never reaches is refused once the timeout passes,
    // with the problem HTTP would answer, before the read model's own wait (5 s) is over.
    let started = std::time::Instant::now();
    let refused = CaseServiceClient::new(channel)
        .list_cases(authorized(
            ListCasesRequest {
                min_position: Some(1_000_000),
                ..Default::default()
            },
            &grid,
            None,
        ))
        .await
        .expect_err("not answered in time");
    let waited = started.elapsed();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert_eq!(reason(&refused), "unavailable", "{refused:?}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}
