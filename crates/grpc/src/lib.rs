//! Docket's gRPC interface, from `proto/docket/v1`: cases (file, act, get, list, history, and a
//! server-streaming `Watch` of commits), figures, the directory and evidence files (uploaded and
//! read in pieces), beside the standard health and reflection services.
//!
//! Each call is the HTTP operation of the same name in another encoding: it becomes that
//! operation's request (its bearer token, `idempotency-key` and `if-match` carried over from the
//! metadata) and is served in process by the same router, with no socket between. So reach,
//! disclosure, validation, idempotency, version checks and rate limits are the HTTP API's own,
//! written once; a refusal comes back as a gRPC status whose `google.rpc.ErrorInfo` carries the
//! problem's `code` as its reason, and the problem's other fields as its metadata.

mod convert;
mod service;

use std::time::{Duration, Instant};

use tokio::sync::watch;

pub use service::Gateway;

/// The messages, servers and clients of `docket.v1`.
pub mod proto {
    #![allow(missing_docs, unreachable_pub, missing_debug_implementations)]
    tonic::include_proto!("docket.v1");
}

/// The descriptors of `docket.v1` (and what it imports), for the reflection service.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/docket_v1.bin"));

/// The error ErrorInfo's `domain` names.
pub const ERROR_DOMAIN: &str = "docket";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a read may take to be answered (a `Watch` or `GetEvidence`, until its stream opens:
/// the stream goes on). The server cuts no command or upload off, as over HTTP.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Calls one connection may have in hand at once.
const CALLS_PER_CONNECTION: usize = 64;

/// Serves the gRPC interface on `listener` until `stopped` turns true: then health says
/// NOT_SERVING, open `Watch` streams end, and the calls in hand finish. A connection whose peer
/// stops answering pings is closed. At most `max_connections` are open at once: one past them
/// is closed as it comes, so that clients holding connections cannot use up the process's open
/// files (which its logs and read model need too); and one that sends nothing for
/// `first_bytes` after it opens is closed, so that silent connections cannot hold every slot.
/// A read not answered within `request_timeout` is refused UNAVAILABLE; the server cuts no
/// command (nor an evidence upload) off, as over HTTP, though a client's own deadline
/// (`grpc-timeout`) still ends its call.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    stopped: watch::Receiver<bool>,
    request_timeout: Duration,
    max_connections: usize,
    first_bytes: Duration,
) -> Result<(), BoxError> {
    use proto::case_service_server::CaseServiceServer;
    use proto::directory_service_server::DirectoryServiceServer;
    use proto::evidence_service_server::EvidenceServiceServer;
    use proto::stats_service_server::StatsServiceServer;

    let gateway = Gateway::new(router, stopped.clone(), request_timeout);
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<CaseServiceServer<Gateway>>().await;
    health.set_serving::<StatsServiceServer<Gateway>>().await;
    health
        .set_serving::<DirectoryServiceServer<Gateway>>()
        .await;
    health.set_serving::<EvidenceServiceServer<Gateway>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let mut stop = stopped;
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
        health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        health.set_not_serving::<CaseServiceServer<Gateway>>().await;
        health
            .set_not_serving::<StatsServiceServer<Gateway>>()
            .await;
        health
            .set_not_serving::<DirectoryServiceServer<Gateway>>()
            .await;
        health
            .set_not_serving::<EvidenceServiceServer<Gateway>>()
            .await;
    };
    tonic::transport::Server::builder()
        .concurrency_limit_per_connection(CALLS_PER_CONNECTION)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(CaseServiceServer::new(gateway.clone()))
        .add_service(StatsServiceServer::new(gateway.clone()))
        .add_service(DirectoryServiceServer::new(gateway.clone()))
        .add_service(EvidenceServiceServer::new(gateway))
        .serve_with_incoming_shutdown(admitted(listener, max_connections, first_bytes), shutdown)
        .await?;
    Ok(())
}

/// The connections `listener` accepts, each holding one of `max` slots while it is open; one that
/// finds every slot taken is closed at once, and one that sends nothing within `first_bytes`
/// is closed then.
fn admitted(
    listener: tokio::net::TcpListener,
    max: usize,
    first_bytes: Duration,
) -> impl futures_util::Stream<Item = std::io::Result<Admitted>> {
    use futures_util::StreamExt;
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(max.max(1)));
    tokio_stream::wrappers::TcpListenerStream::new(listener).filter_map(move |accepted| {
        let slot = slots.clone().try_acquire_owned();
        async move {
            match (accepted, slot) {
                (Ok(stream), Ok(slot)) => {
                    let _ = stream.set_nodelay(true);
                    Some(Ok(Admitted {
                        stream,
                        silent_until: Some(Box::pin(tokio::time::sleep(first_bytes))),
                        _slot: slot,
                    }))
                }
                (Ok(stream), Err(_)) => {
                    metrics::counter!("docket_grpc_connections_refused_total").increment(1);
                    tracing::warn!(peer = ?stream.peer_addr().ok(), max,
                        "every gRPC connection is taken: refused one");
                    None
                }
                (Err(e), _) => Some(Err(e)),
            }
        }
    })
}

/// An accepted connection, and the slot it holds until it closes.
#[derive(Debug)]
struct Admitted {
    stream: tokio::net::TcpStream,
    /// Until the client's first bytes: when it must have sent them.
    silent_until: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl tonic::transport::server::Connected for Admitted {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl tokio::io::AsyncRead for Admitted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::future::Future;
        use std::task::Poll;
        let this = &mut *self;
        let before = buf.filled().len();
        let read = std::pin::Pin::new(&mut this.stream).poll_read(cx, buf);
        match &read {
            Poll::Ready(Ok(())) if buf.filled().len() > before => this.silent_until = None,
            Poll::Pending => {
                if let Some(deadline) = &mut this.silent_until
                    && deadline.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client sent nothing after it connected",
                    )));
                }
            }
            _ => {}
        }
        read
    }
}

impl tokio::io::AsyncWrite for Admitted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Counts a call by method and status code, and how long its answer took.
fn observe<T>(method: &'static str, started: Instant, result: &Result<T, tonic::Status>) {
    let code = match result {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    };
    metrics::counter!("docket_grpc_requests_total",
        "method" => method, "code" => code_name(code))
    .increment(1);
    metrics::histogram!("docket_grpc_request_duration_seconds", "method" => method)
        .record(started.elapsed().as_secs_f64());
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
