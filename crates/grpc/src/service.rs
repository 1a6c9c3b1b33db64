//! The services of `docket.v1`, each call served by the HTTP router in process.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{self, HeaderMap, Method, header};
use futures_util::{Stream, StreamExt as _};
use serde_json::Value;
use tokio::sync::watch;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use tower::ServiceExt as _;

use docket_api::evidence::media_type_essence;
use docket_domain::shown;

use crate::convert::{from_struct, problem_status, to_struct};
use crate::observe;
use crate::proto::{
    self, case_service_server, directory_service_server, evidence_service_server,
    stats_service_server,
};

/// Serves every gRPC call through the HTTP router.
#[derive(Debug, Clone)]
pub struct Gateway {
    router: axum::Router,
    stopped: watch::Receiver<bool>,
    /// How long a read may take to be answered (a `Watch` or `GetEvidence`, until its stream
    /// opens).
    read_timeout: Duration,
}

/// What an operation answered: its headers and JSON body.
struct Answer {
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn replayed(&self) -> bool {
        self.headers
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true")
    }
}

/// One operation's request, as a call makes it.
struct Call<'a> {
    metadata: &'a MetadataMap,
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    expected_version: Option<u64>,
}

impl<'a> Call<'a> {
    fn new(metadata: &'a MetadataMap, method: Method, path: String) -> Self {
        Self {
            metadata,
            method,
            path,
            query: Vec::new(),
            body: None,
            expected_version: None,
        }
    }
}

impl Gateway {
    pub fn new(
        router: axum::Router,
        stopped: watch::Receiver<bool>,
        read_timeout: Duration,
    ) -> Self {
        Self {
            router,
            stopped,
            read_timeout,
        }
    }

    /// The operation's HTTP request: the call's token, idempotency key and expected version as
    /// the headers HTTP carries them in.
    fn request(
        call: &Call<'_>,
        extra_query: &BTreeMap<String, String>,
    ) -> Result<http::Request<Body>, Status> {
        let mut uri = call.path.clone();
        let mut pairs: Vec<(&str, &str)> =
            call.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pairs.extend(extra_query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if !pairs.is_empty() {
            let query = serde_urlencoded::to_string(&pairs)
                .map_err(|e| refused("invalid-query", format!("a bad query: {e}")))?;
            uri.push('?');
            uri.push_str(&query);
        }
        let mut request = http::Request::builder()
            .method(call.method.clone())
            .uri(uri);
        for (name, into) in [
            ("authorization", header::AUTHORIZATION.as_str()),
            ("idempotency-key", "idempotency-key"),
            ("if-match", header::IF_MATCH.as_str()),
        ] {
            // `expected_version` is the if-match of a call that gives it.
            if name == "if-match" && call.expected_version.is_some() {
                continue;
            }
            if let Some(value) = call.metadata.get(name) {
                let value = value.to_str().map_err(|_| {
                    refused(
                        "invalid-metadata",
                        format!("the {name} metadata must be ASCII"),
                    )
                })?;
                request = request.header(into, value);
            }
        }
        if let Some(version) = call.expected_version {
            request = request.header(header::IF_MATCH, format!("\"{version}\""));
        }
        let body = match &call.body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let mut request = request
            .body(body)
            .map_err(|e| refused("invalid-metadata", format!("a bad request: {e}")))?;
        request
            .extensions_mut()
            .insert(docket_api::metrics::InProcess);
        Ok(request)
    }

    /// Sends the request to the router; a problem answer becomes the status it maps to.
    async fn send(&self, request: http::Request<Body>) -> Result<http::Response<Body>, Status> {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(|e: std::convert::Infallible| Status::internal(e.to_string()))?;
        let status = response.status();
        if status.is_client_error() || status.is_server_error() {
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .map_err(|e| Status::internal(e.to_string()))?;
            let problem: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(problem_status(
                status.as_u16(),
                &problem,
                retry_after.as_deref(),
            ));
        }
        Ok(response)
    }

    async fn answer(
        &self,
        call: Call<'_>,
        query: &BTreeMap<String, String>,
    ) -> Result<Answer, Status> {
        let response = self.send(Self::request(&call, query)?).await?;
        Self::json(response).await
    }

    /// An operation's answer: its headers and its body, which is JSON.
    async fn json(response: http::Response<Body>) -> Result<Answer, Status> {
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let body = serde_json::from_slice(&bytes).map_err(|e| {
            tracing::error!(error = %e, "an operation answered a gRPC call with no JSON");
            problem_status(500, &serde_json::json!({"code": "internal", "detail": "something went wrong on our side; it has been logged"}), None)
        })?;
        Ok(Answer { headers, body })
    }
}

/// A path segment from a caller's string, so that it cannot name another path; an empty one is
/// refused as the field it is, with the code HTTP would give it.
fn segment(value: &str, field: &str, code: &str) -> Result<String, Status> {
    if value.is_empty() {
        return Err(refused(code, format!("{field} is required")));
    }
    Ok(
        percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    )
}

/// The path of the case a call names.
fn case_path(case_id: &str) -> Result<String, Status> {
    Ok(format!(
        "/v1/cases/{}",
        segment(case_id, "case_id", "invalid-case-id")?
    ))
}

/// UNAVAILABLE with the problem HTTP answers when it cannot serve for now (`unavailable`).
fn unavailable(detail: &str) -> Status {
    problem_status(
        503,
        &serde_json::json!({"code": "unavailable", "detail": detail}),
        None,
    )
}

/// A read not answered in time, as HTTP answers it.
fn not_answered_within(limit: Duration) -> Status {
    unavailable(&format!(
        "the request was not answered within {} s; retry",
        limit.as_secs()
    ))
}

/// A call refused before it becomes a request: INVALID_ARGUMENT with its code, as a problem would
/// carry it.
fn refused(code: &str, detail: String) -> Status {
    problem_status(
        400,
        &serde_json::json!({"code": code, "detail": detail}),
        None,
    )
}

/// The figures come as JSON over gRPC: CSV is for HTTP.
fn json_only(query: &BTreeMap<String, String>) -> Result<(), Status> {
    if query.contains_key("format") {
        return Err(refused(
            "invalid-query",
            "format: the figures come as JSON over gRPC; CSV is HTTP's (Accept: text/csv)"
                .to_owned(),
        ));
    }
    Ok(())
}

fn input(input: Option<prost_types::Struct>) -> Option<Value> {
    input.map(from_struct)
}

fn string(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn recorded(answer: &Answer) -> proto::Recorded {
    let body = &answer.body;
    proto::Recorded {
        case_id: string(&body["case_id"]),
        kind: string(&body["kind"]),
        commit_id: string(&body["commit_id"]),
        version: body["version"].as_u64().unwrap_or_default(),
        position: body["position"].as_u64().unwrap_or_default(),
        recorded_at: body["recorded_at"]
            .as_str()
            .and_then(|t| t.parse::<prost_types::Timestamp>().ok()),
        status: string(&body["status"]),
        events: body["events"]
            .as_array()
            .into_iter()
            .flatten()
            .cloned()
            .map(to_struct)
            .collect(),
        replayed: answer.replayed(),
    }
}

/// Runs one call, counted in the metrics by its method. A read (`within` some time) that is not
/// answered in that time is refused UNAVAILABLE, as HTTP answers a read; the server cuts no
/// command off, as over HTTP: one cut off could still be recorded after its caller was told it
/// failed, and an upload from a phone on a slow link may take minutes. (A deadline the client
/// sets, `grpc-timeout`, still ends its call: tonic drops the call then, as gRPC's deadlines
/// mean; an idempotency key makes the retry safe.)
async fn observed<T>(
    method: &'static str,
    within: Option<Duration>,
    call: impl Future<Output = Result<T, Status>>,
) -> Result<Response<T>, Status> {
    let started = Instant::now();
    let result = match within {
        Some(limit) => tokio::time::timeout(limit, call)
            .await
            .unwrap_or_else(|_| Err(not_answered_within(limit))),
        None => call.await,
    };
    observe(method, started, &result);
    result.map(Response::new)
}

const NO_QUERY: &BTreeMap<String, String> = &BTreeMap::new();

#[tonic::async_trait]
impl case_service_server::CaseService for Gateway {
    async fn file_case(
        &self,
        request: Request<proto::FileCaseRequest>,
    ) -> Result<Response<proto::FileCaseResponse>, Status> {
        observed("FileCase", None, async {
            let (metadata, _, r) = request.into_parts();
            let mut body = input(r.input).unwrap_or_else(|| Value::Object(Default::default()));
            if let Some(fields) = body.as_object_mut() {
                fields.insert("kind".to_owned(), Value::String(r.kind));
            }
            let mut call = Call::new(&metadata, Method::POST, "/v1/cases".to_owned());
            call.body = Some(body);
            let answer = self.answer(call, NO_QUERY).await?;
            Ok(proto::FileCaseResponse {
                recorded: Some(recorded(&answer)),
                number: answer.body["number"].as_str().map(str::to_owned),
            })
        })
        .await
    }

    async fn act(
        &self,
        request: Request<proto::ActRequest>,
    ) -> Result<Response<proto::ActResponse>, Status> {
        observed("Act", None, async {
            let (metadata, _, r) = request.into_parts();
            let path = format!(
                "{}/actions/{}",
                case_path(&r.case_id)?,
                segment(&r.action, "action", "invalid-input")?
            );
            let mut call = Call::new(&metadata, Method::POST, path);
            call.body = input(r.input);
            call.expected_version = r.expected_version;
            let answer = self.answer(call, NO_QUERY).await?;
            Ok(proto::ActResponse {
                recorded: Some(recorded(&answer)),
            })
        })
        .await
    }

    async fn get_case(
        &self,
        request: Request<proto::GetCaseRequest>,
    ) -> Result<Response<proto::GetCaseResponse>, Status> {
        observed("GetCase", Some(self.read_timeout), async {
            let (metadata, _, r) = request.into_parts();
            let call = Call::new(&metadata, Method::GET, case_path(&r.case_id)?);
            let Answer { body, .. } = self.answer(call, NO_QUERY).await?;
            Ok(proto::GetCaseResponse {
                id: string(&body["id"]),
                number: body["number"].as_str().map(str::to_owned),
                kind: string(&body["kind"]),
                status: string(&body["status"]),
                closed: body["closed"].as_bool().unwrap_or_default(),
                version: body["version"].as_u64().unwrap_or_default(),
                position: body["position"].as_u64().unwrap_or_default(),
                allowed_actions: body["allowed_actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(string)
                    .collect(),
                detail: Some(to_struct(body)),
            })
        })
        .await
    }

    async fn list_cases(
        &self,
        request: Request<proto::ListCasesRequest>,
    ) -> Result<Response<proto::ListCasesResponse>, Status> {
        observed("ListCases", Some(self.read_timeout), async {
            let (metadata, _, r) = request.into_parts();
            let mut call = Call::new(&metadata, Method::GET, "/v1/cases".to_owned());
            if let Some(limit) = r.limit {
                call.query.push(("limit", limit.to_string()));
            }
            if let Some(cursor) = r.cursor {
                call.query.push(("cursor", cursor));
            }
            if let Some(position) = r.min_position {
                call.query.push(("min_position", position.to_string()));
            }
            let filters: BTreeMap<String, String> = r.filters.into_iter().collect();
            let Answer { body, .. } = self.answer(call, &filters).await?;
            let cases = body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|item| proto::CaseSummary {
                    id: string(&item["id"]),
                    number: item["number"].as_str().map(str::to_owned),
                    kind: string(&item["kind"]),
                    status: string(&item["status"]),
                    title: string(&item["title"]),
                    fields: Some(to_struct(item.clone())),
                })
                .collect();
            Ok(proto::ListCasesResponse {
                cases,
                next_cursor: body["next_cursor"].as_str().map(str::to_owned),
                position: body["position"].as_u64().unwrap_or_default(),
            })
        })
        .await
    }

    async fn get_history(
        &self,
        request: Request<proto::GetHistoryRequest>,
    ) -> Result<Response<proto::GetHistoryResponse>, Status> {
        observed("GetHistory", Some(self.read_timeout), async {
            let (metadata, _, r) = request.into_parts();
            let call = Call::new(
                &metadata,
                Method::GET,
                format!("{}/history", case_path(&r.case_id)?),
            );
            let Answer { body, .. } = self.answer(call, NO_QUERY).await?;
            Ok(proto::GetHistoryResponse {
                case_id: string(&body["case_id"]),
                commits: body["commits"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .cloned()
                    .map(to_struct)
                    .collect(),
            })
        })
        .await
    }

    type WatchStream = Pin<Box<dyn Stream<Item = Result<proto::WatchResponse, Status>> + Send>>;

    async fn watch(
        &self,
        request: Request<proto::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        observed("Watch", Some(self.read_timeout), async {
            let (metadata, _, r) = request.into_parts();
            let mut call = Call::new(&metadata, Method::GET, "/v1/events".to_owned());
            if let Some(after) = r.after {
                call.query.push(("after", after.to_string()));
            }
            let response = self.send(Self::request(&call, NO_QUERY)?).await?;
            let stream: Self::WatchStream = Box::pin(commits(
                response.into_body().into_data_stream(),
                self.stopped.clone(),
            ));
            Ok(stream)
        })
        .await
    }
}

/// Counts a Watch among those open while it lives.
struct OpenWatch;

impl OpenWatch {
    fn new() -> Self {
        metrics::gauge!("docket_grpc_watches_open").increment(1.0);
        OpenWatch
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        metrics::gauge!("docket_grpc_watches_open").decrement(1.0);
    }
}

/// The commits of an event stream's body, until it ends or the server stops.
fn commits(
    body: axum::body::BodyDataStream,
    stopped: watch::Receiver<bool>,
) -> impl Stream<Item = Result<proto::WatchResponse, Status>> + Send {
    struct State {
        body: axum::body::BodyDataStream,
        buffer: Vec<u8>,
        ready: VecDeque<proto::WatchResponse>,
        stopped: watch::Receiver<bool>,
        _open: OpenWatch,
    }
    let state = State {
        body,
        buffer: Vec::new(),
        ready: VecDeque::new(),
        stopped,
        _open: OpenWatch::new(),
    };
    futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(commit) = state.ready.pop_front() {
                return Some((Ok(commit), state));
            }
            if *state.stopped.borrow() {
                return None;
            }
            let chunk = tokio::select! {
                chunk = state.body.next() => chunk,
                _ = state.stopped.wait_for(|s| *s) => return None,
            };
            match chunk {
                None => return None,
                Some(Err(e)) => return Some((Err(Status::internal(e.to_string())), state)),
                Some(Ok(bytes)) => {
                    // Frames are split on bytes, so a character across two chunks stays whole.
                    state.buffer.extend_from_slice(&bytes);
                    while let Some(end) = state.buffer.windows(2).position(|w| w == b"\n\n") {
                        let frame: Vec<u8> = state.buffer.drain(..end + 2).collect();
                        if let Some(commit) = commit_of(&String::from_utf8_lossy(&frame)) {
                            state.ready.push_back(commit);
                        }
                    }
                }
            }
        }
    })
}

/// One server-sent event as a commit; none for a keep-alive comment.
fn commit_of(frame: &str) -> Option<proto::WatchResponse> {
    let mut position = None;
    let mut data = String::new();
    for line in frame.lines() {
        if let Some(id) = line.strip_prefix("id:") {
            position = id.trim().parse::<u64>().ok();
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    let commit: Value = serde_json::from_str(&data).ok()?;
    Some(proto::WatchResponse {
        position: position?,
        case_id: string(&commit["case_id"]),
        commit: Some(to_struct(commit)),
    })
}

impl Gateway {
    /// A figures operation's JSON answer to `query`, as a `Struct`.
    async fn figures(
        &self,
        metadata: &MetadataMap,
        path: &str,
        query: std::collections::HashMap<String, String>,
    ) -> Result<prost_types::Struct, Status> {
        let query: BTreeMap<String, String> = query.into_iter().collect();
        json_only(&query)?;
        let call = Call::new(metadata, Method::GET, path.to_owned());
        let Answer { body, .. } = self.answer(call, &query).await?;
        Ok(to_struct(body))
    }
}

#[tonic::async_trait]
impl stats_service_server::StatsService for Gateway {
    async fn get_figures(
        &self,
        request: Request<proto::GetFiguresRequest>,
    ) -> Result<Response<proto::GetFiguresResponse>, Status> {
        observed("GetFigures", Some(self.read_timeout), async {
            let (metadata, _, r) = request.into_parts();
            let figures = self.figures(&metadata, "/v1/stats", r.query).await?;
            Ok(proto::GetFiguresResponse {
                figures: Some(figures),
            })
        })
        .await
    }

    async fn get_unit_table(
        &self,
        request: Request<proto::GetUnitTableRequest>,
    ) -> Result<Response<proto::GetUnitTableResponse>, Status> {
        observed("GetUnitTable", Some(self.read_timeout), async {
            let (metadata, _, r) = request.into_parts();
            let table = self.figures(&metadata, "/v1/stats/units", r.query).await?;
            Ok(proto::GetUnitTableResponse { table: Some(table) })
        })
        .await
    }

    async fn list_dispatches(
        &self,
        request: Request<proto::ListDispatchesRequest>,
    ) -> Result<Response<proto::ListDispatchesResponse>, Status> {
        observed("ListDispatches", Some(self.read_timeout), async {
            let (metadata, _, r) = request.into_parts();
            let dispatches = self
                .figures(&metadata, "/v1/stats/dispatches", r.query)
                .await?;
            Ok(proto::ListDispatchesResponse {
                dispatches: Some(dispatches),
            })
        })
        .await
    }
}

#[tonic::async_trait]
impl directory_service_server::DirectoryService for Gateway {
    async fn get_directory(
        &self,
        request: Request<proto::GetDirectoryRequest>,
    ) -> Result<Response<proto::GetDirectoryResponse>, Status> {
        observed("GetDirectory", Some(self.read_timeout), async {
            let (metadata, _, r) = request.into_parts();
            let mut call = Call::new(&metadata, Method::GET, "/v1/directory".to_owned());
            if let Some(position) = r.min_position {
                call.query.push(("min_position", position.to_string()));
            }
            let Answer { body, .. } = self.answer(call, NO_QUERY).await?;
            Ok(proto::GetDirectoryResponse {
                directory: Some(to_struct(body)),
            })
        })
        .await
    }

    async fn change_directory(
        &self,
        request: Request<proto::ChangeDirectoryRequest>,
    ) -> Result<Response<proto::ChangeDirectoryResponse>, Status> {
        observed("ChangeDirectory", None, async {
            let (metadata, _, r) = request.into_parts();
            let mut call = Call::new(
                &metadata,
                Method::POST,
                format!(
                    "/v1/directory/actions/{}",
                    segment(&r.action, "action", "invalid-input")?
                ),
            );
            call.body = input(r.input);
            let answer = self.answer(call, NO_QUERY).await?;
            Ok(proto::ChangeDirectoryResponse {
                recorded: Some(recorded(&answer)),
            })
        })
        .await
    }
}

/// The largest piece of a file `GetEvidence` sends in one message (a client takes 4 MiB by
/// default).
const EVIDENCE_PIECE: usize = 256 * 1024;

type EvidencePieces =
    Pin<Box<dyn Stream<Item = Result<proto::GetEvidenceResponse, Status>> + Send>>;

#[tonic::async_trait]
impl evidence_service_server::EvidenceService for Gateway {
    async fn upload_evidence(
        &self,
        request: Request<tonic::Streaming<proto::UploadEvidenceRequest>>,
    ) -> Result<Response<proto::UploadEvidenceResponse>, Status> {
        observed("UploadEvidence", None, async {
            let (metadata, _, mut pieces) = request.into_parts();
            // An empty stream is an upload naming no media type, which the operation refuses
            // once it has judged the token, as it refuses an empty body over HTTP.
            let first = pieces
                .message()
                .await
                .map_err(|e| {
                    refused(
                        "unreadable-body",
                        format!("the upload could not be read: {}", shown(e.message())),
                    )
                })?
                .unwrap_or_default();
            // The file goes to the operation as it comes, so the operation's own limit stops an
            // upload that is too large without the gateway holding more of it.
            let named = first.media_type.clone();
            let rest = pieces.map(move |piece| {
                let piece = piece.map_err(|e| std::io::Error::other(shown(e.message())))?;
                if !piece.media_type.is_empty()
                    && media_type_essence(&piece.media_type) != media_type_essence(&named)
                {
                    return Err(std::io::Error::other(format!(
                        "a later message names media type {:?}, the first {:?}",
                        shown(&piece.media_type),
                        shown(&named)
                    )));
                }
                Ok(Bytes::from(piece.chunk))
            });
            let body = futures_util::stream::once(std::future::ready(Ok(Bytes::from(first.chunk))))
                .chain(rest);
            let call = Call::new(&metadata, Method::POST, "/v1/evidence".to_owned());
            let mut request = Self::request(&call, NO_QUERY)?;
            // One that cannot be a header is no media type the operation takes: it goes without.
            if let Ok(content_type) = http::HeaderValue::from_str(&first.media_type) {
                request
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type);
            }
            *request.body_mut() = Body::from_stream(body);
            let Answer { body, .. } = Self::json(self.send(request).await?).await?;
            Ok(proto::UploadEvidenceResponse {
                evidence: Some(proto::Evidence {
                    content_hash: text(&body["content_hash"]),
                    media_type: text(&body["media_type"]),
                    size: body["size"].as_u64().unwrap_or_default(),
                    blob: text(&body["blob"]),
                }),
            })
        })
        .await
    }

    type GetEvidenceStream = EvidencePieces;

    async fn get_evidence(
        &self,
        request: Request<proto::GetEvidenceRequest>,
    ) -> Result<Response<Self::GetEvidenceStream>, Status> {
        observed("GetEvidence", Some(self.read_timeout), async {
            let (metadata, _, r) = request.into_parts();
            let path = format!(
                "/v1/evidence/{}",
                segment(&r.content_hash, "content_hash", "invalid-content-hash")?
            );
            let call = Call::new(&metadata, Method::GET, path);
            let response = self.send(Self::request(&call, NO_QUERY)?).await?;
            let media_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_owned();
            let mut first = Some(media_type);
            let stream = response
                .into_body()
                .into_data_stream()
                .flat_map(|frame| {
                    let pieces = match frame {
                        Ok(bytes) => split(bytes, EVIDENCE_PIECE).into_iter().map(Ok).collect(),
                        Err(e) => {
                            tracing::warn!(error = %e, "evidence broke off in a GetEvidence");
                            vec![Err(unavailable(
                                "the file could not be read to its end; ask again",
                            ))]
                        }
                    };
                    futures_util::stream::iter(pieces)
                })
                .map(move |piece| {
                    piece.map(|chunk| proto::GetEvidenceResponse {
                        media_type: first.take().unwrap_or_default(),
                        chunk: chunk.to_vec(),
                    })
                });
            let stream: EvidencePieces = Box::pin(stream);
            Ok(stream)
        })
        .await
    }
}

/// `bytes` in pieces of at most `most` bytes, none empty.
fn split(mut bytes: Bytes, most: usize) -> Vec<Bytes> {
    let mut pieces = Vec::with_capacity(bytes.len().div_ceil(most));
    while !bytes.is_empty() {
        pieces.push(bytes.split_to(bytes.len().min(most)));
    }
    pieces
}

/// A JSON string's text; empty when it is not a string.
fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_of_evidence_goes_in_pieces_no_larger_than_a_message_takes() {
        let frame = Bytes::from((0..=255u8).cycle().take(600_000).collect::<Vec<u8>>());
        let pieces = split(frame.clone(), EVIDENCE_PIECE);
        let sizes: Vec<usize> = pieces.iter().map(Bytes::len).collect();
        assert_eq!(sizes, [262_144, 262_144, 75_712]);
        assert_eq!(pieces.concat(), frame.to_vec());
        assert_eq!(split(Bytes::from_static(b"%PDF-"), EVIDENCE_PIECE).len(), 1);
        assert!(split(Bytes::new(), EVIDENCE_PIECE).is_empty());
    }
}
