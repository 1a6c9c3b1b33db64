//! Serving HTTP with limits, so that slow or silent clients cannot take the server down: each
//! request's header must arrive within a timeout (an idle kept-alive connection is closed after
//! it too), a read must be answered within another, and at most so many connections are open. At
//! the limit, a new connection takes the place of the oldest one with no request in hand (one
//! that never sent a whole request first); if every connection is in the middle of a request,
//! the new one is closed at once. On shutdown the server stops accepting, lets the requests in
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
                    drop(in_hand);
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
