//! Serving HTTP with limits, so that slow or silent clients cannot take the server down: each
//! request's header must arrive within a timeout (an idle kept-alive connection is closed after
//! it too), a read must be answered within another, and at most so many connections are open. At
//! the limit, a new connection takes the place of the oldest one with no request in hand (one
//! that never sent a whole request first); if every connection is in the middle of a request,
//! the new one is closed at once. A request is in hand until its answer's last byte is sent (a
//! download is not cut off to make room), except an event stream, which never ends by itself
//! and which its client opens again. On shutdown the server stops accepting, lets the requests in
//! hand finish for a grace period, then closes what is left (an event stream never finishes by
//! itself).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// The limits a server keeps to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// How long a client has to send a request's header (and an idle connection stays open).
    pub(crate) header_read_timeout: Duration,
    /// How long a request may take to be answered (its response's head; a stream may go on).
    pub(crate) request_timeout: Duration,
    /// How many connections may be open at once.
    pub(crate) max_connections: usize,
    /// How long requests in hand may take to finish once the server is stopping.
    pub(crate) grace: Duration,
}

/// One open connection, as the limit sees it.
struct Slot {
    id: u64,
    /// Whether the client has sent a whole request.
    started: Arc<AtomicBool>,
    /// Requests of the connection being answered now.
    in_hand: Arc<AtomicUsize>,
    /// Closes the connection.
    close: Arc<Notify>,
}

/// Takes a connection's slot back when its task ends, however it ends (a panicking handler
/// included).
struct Release {
    slots: Arc<Mutex<Slots>>,
    id: u64,
}

impl Drop for Release {
    fn drop(&mut self) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.open.retain(|s| s.id != self.id);
        }
    }
}

/// Counts a request in hand while it is answered.
struct InHand(Arc<AtomicUsize>);

impl InHand {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        InHand(count.clone())
    }
}

impl Drop for InHand {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Slots {
    open: VecDeque<Slot>,
    next_id: u64,
}

impl Slots {
    /// Makes room for a new connection under `max`: the oldest connection that has sent no whole
    /// request yet is closed to make it. False when every connection is busy.
    fn admit(&mut self, max: usize) -> bool {
        if self.open.len() < max {
            return true;
        }
        let idle = |s: &Slot| s.in_hand.load(Ordering::Relaxed) == 0;
        let silent = |s: &Slot| !s.started.load(Ordering::Relaxed) && idle(s);
        match self
            .open
            .iter()
            .position(silent)
            .or_else(|| self.open.iter().position(idle))
        {
            Some(i) => {
                let slot = self.open.remove(i).expect("a slot at its index");
                slot.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A response's body that keeps its request counted in hand until the body ends or is dropped.
struct Sending {
    body: Body,
    _in_hand: InHand,
}

impl hyper::body::Body for Sending {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Whether `response` is an event stream: it never ends by itself, so it is not counted in hand
/// while it runs (at the limit it gives way, and the browser opens it again).
fn is_event_stream(response: &Response) -> bool {
    response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// Whether a request is answered within the request timeout: reads, which are safe to give up
/// on and ask again. A command runs to its end (it is bounded by the command service's own
/// deadline, and giving up on it half-way would leave the client not knowing whether it was
/// recorded); so does the audit, which takes as long as a rebuild.
fn bounded(request: &hyper::Request<Incoming>) -> bool {
    matches!(request.method(), &hyper::Method::GET | &hyper::Method::HEAD)
        && !request.uri().path().starts_with("/v1/audit/")
}

/// Answers a read that took longer than its timeout.
fn timed_out(after: Duration) -> Response {
    let body = serde_json::json!({
        "type": "urn:docket:problem:unavailable",
        "title": "Service unavailable",
        "status": 503,
        "code": "unavailable",
        "detail": format!("the request was not answered within {} s; retry", after.as_secs()),
    });
    let mut response = (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(body),
    )
        .into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// Serves `app` on `listener` under `limits` until `stop` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let slots = Arc::new(Mutex::new(Slots::default()));
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|stopping| *stopping) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (started, close) = (Arc::new(AtomicBool::new(false)), Arc::new(Notify::new()));
        let in_hand = Arc::new(AtomicUsize::new(0));
        let id = {
            let mut slots = slots.lock().expect("slots lock");
            if !slots.admit(limits.max_connections) {
                tracing::warn!(%peer, max = limits.max_connections, "every connection is busy: refused one");
                continue;
            }
            let id = slots.next_id;
            slots.next_id += 1;
            slots.open.push_back(Slot {
                id,
                started: started.clone(),
                in_hand: in_hand.clone(),
                close: close.clone(),
            });
            id
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let slots = slots.clone();
        let mut stopping = stop.clone();
        connections.spawn(async move {
            let _release = Release { slots, id };
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                started.store(true, Ordering::Relaxed);
                let in_hand = InHand::new(&in_hand);
                let app = app.clone();
                async move {
                    let bounded = bounded(&request);
                    let answered = app.oneshot(request.map(Body::new));
                    let response = if bounded {
                        match tokio::time::timeout(limits.request_timeout, answered).await {
                            Ok(Ok(response)) => response,
                            Ok(Err(never)) => match never {},
                            Err(_) => timed_out(limits.request_timeout),
                        }
                    } else {
                        match answered.await {
                            Ok(response) => response,
                            Err(never) => match never {},
                        }
                    };
                    // In hand until the answer is sent whole; an event stream, until it began.
                    let response = if is_event_stream(&response) {
                        drop(in_hand);
                        response
                    } else {
                        response.map(|body| {
                            Body::new(Sending {
                                body,
                                _in_hand: in_hand,
                            })
                        })
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = close.notified() => {}
                () = async { let _ = stopping.wait_for(|stopping| *stopping).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.as_mut().await;
                }
            }
        });
    }
    drop(listener);
    // Requests in hand finish within the grace period; what is left (event streams) is closed.
    let drained = tokio::time::timeout(limits.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            left = connections.len(),
            "closing the connections still open after the grace period"
        );
        connections.shutdown().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(slots: &mut Slots, started: bool, in_hand: usize) -> Arc<Notify> {
        let close = Arc::new(Notify::new());
        let id = slots.next_id;
        slots.next_id += 1;
        slots.open.push_back(Slot {
            id,
            started: Arc::new(AtomicBool::new(started)),
            in_hand: Arc::new(AtomicUsize::new(in_hand)),
            close: close.clone(),
        });
        close
    }

    #[test]
    fn at_the_limit_a_silent_connection_makes_room_then_an_idle_one_and_busy_ones_stay() {
        let mut slots = Slots::default();
        assert!(slots.admit(3));
        let _idle = slot(&mut slots, true, 0);
        let _silent = slot(&mut slots, false, 0);
        let _busy = slot(&mut slots, true, 1);
        assert!(slots.admit(3), "the silent one makes room first");
        assert_eq!(slots.open.iter().map(|s| s.id).collect::<Vec<_>>(), [0, 2]);
        slot(&mut slots, true, 1);
        assert!(slots.admit(3), "then the idle kept-alive one");
        assert_eq!(slots.open.iter().map(|s| s.id).collect::<Vec<_>>(), [2, 3]);
        let mut all_busy = Slots::default();
        for _ in 0..3 {
            slot(&mut all_busy, true, 1);
        }
        assert!(!all_busy.admit(3));
        assert_eq!(all_busy.open.len(), 3);
    }

    /// Serves a router whose `/download` sends one piece, then the rest once `rest` is told, and
    /// whose `/events` is an event stream that never ends; at most one connection.
    fn one_connection_server(rest: Arc<Notify>) -> (std::net::SocketAddr, watch::Sender<bool>) {
        use axum::routing::get;
        use futures_util::StreamExt as _;
        let download = move || {
            let rest = rest.clone();
            async move {
                let pieces = futures_util::stream::unfold(0, move |n| {
                    let rest = rest.clone();
                    async move {
                        match n {
                            0 => Some((Ok::<_, Infallible>(axum::body::Bytes::from("first;")), 1)),
                            1 => {
                                rest.notified().await;
                                Some((Ok(axum::body::Bytes::from("rest")), 2))
                            }
                            _ => None,
                        }
                    }
                });
                Body::from_stream(pieces)
            }
        };
        let events = || async {
            let pieces = futures_util::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                None::<(Result<axum::body::Bytes, Infallible>, ())>
            });
            (
                [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
                Body::from_stream(
                    futures_util::stream::once(async {
                        Ok::<_, Infallible>(axum::body::Bytes::from(": open\n\n"))
                    })
                    .chain(pieces),
                ),
            )
        };
        let app = Router::new()
            .route("/download", get(download))
            .route("/events", get(events));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        let limits = Limits {
            header_read_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            max_connections: 1,
            grace: Duration::from_secs(1),
        };
        // The server as main runs it: on a runtime of its own, awaited rather than spawned.
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let listener = TcpListener::from_std(listener).unwrap();
                    serve(listener, app, limits, stopped).await
                })
        });
        (address, stop)
    }

    /// Sends a GET of `path` and reads until `until` has come.
    async fn get_until(
        address: std::net::SocketAddr,
        path: &str,
        until: &str,
    ) -> (tokio::net::TcpStream, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(address).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: docket\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&got).contains(until) {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .expect("an answer in time")
                .unwrap();
            assert!(
                n > 0,
                "closed before {until:?}: {}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
        (s, String::from_utf8_lossy(&got).into_owned())
    }

    /// Whether the server closes `s` (without answering) within a second.
    async fn closed(s: &mut tokio::net::TcpStream) -> bool {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }

    #[tokio::test]
    async fn at_the_limit_a_download_in_progress_stays_and_an_event_stream_gives_way() {
        let rest = Arc::new(Notify::new());
        let (address, _stop) = one_connection_server(rest.clone());

        let (mut downloading, _) = get_until(address, "/download", "first;").await;
        let mut newcomer = tokio::net::TcpStream::connect(address).await.unwrap();
        assert!(closed(&mut newcomer).await, "the newcomer is refused");
        rest.notify_one();
        let mut tail = String::new();
        {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 1024];
            while !tail.contains("rest") {
                let n = tokio::time::timeout(Duration::from_secs(5), downloading.read(&mut buf))
                    .await
                    .expect("the rest in time")
                    .unwrap();
                assert!(n > 0, "the download was cut off: {tail}");
                tail.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
        drop(downloading);
        // Once the connection has gone, its slot is free again.
        tokio::time::sleep(Duration::from_millis(200)).await;

        let (mut streaming, _) = get_until(address, "/events", ": open").await;
        let (_newcomer, answer) = get_until(address, "/download", "first;").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(closed(&mut streaming).await, "the event stream gave way");
    }

    #[test]
    fn a_slot_is_given_back_when_its_task_ends_however_it_ends() {
        let slots = Arc::new(Mutex::new(Slots::default()));
        slot(&mut slots.lock().unwrap(), false, 0);
        let release = Release {
            slots: slots.clone(),
            id: 0,
        };
        let panicked = std::thread::spawn(move || {
            let _release = release;
            panic!("a handler panicked");
        })
        .join();
        assert!(panicked.is_err());
        assert!(slots.lock().unwrap().open.is_empty());
    }
}
