//! What the benchmarks share: rounds and their medians, concurrent loops, and the raw baselines
//! (SQLite inserts with Docket's durability, JetStream publishes with the expected-sequence
//! header) every figure is compared with in the same run.

#![allow(dead_code, reason = "each benchmark uses the part it needs")]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use uuid::Uuid;

/// The allocator the `docket` binary runs with, so that Docket's code measured in a benchmark's
/// own process (the log, the read model, statistics) allocates as it does in the server. Every
/// benchmark includes this module.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub(crate) const WRITERS: [usize; 3] = [1, 16, 64];

pub(crate) fn round_time() -> Duration {
    Duration::from_millis(
        std::env::var("DOCKET_BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000),
    )
}

pub(crate) fn rounds() -> usize {
    std::env::var("DOCKET_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

pub(crate) fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Runs `op` in `writers` concurrent loops for one round; returns operations per second.
pub(crate) async fn throughput<S, F, Fut>(writers: usize, state: impl Fn(usize) -> S, op: F) -> f64
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = S> + Send,
{
    let until = Instant::now() + round_time();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let op = op.clone();
        let mut s = state(w);
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                s = op(s).await;
                n += 1;
            }
            n
        });
    }
    let total: u64 = tasks.join_all().await.into_iter().sum();
    total as f64 / start.elapsed().as_secs_f64()
}

/// Raw SQLite: one connection, WAL, synchronous FULL, one insert per transaction.
pub(crate) fn raw_sqlite(path: &std::path::Path) -> Arc<Mutex<rusqlite::Connection>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch(
        "CREATE TABLE raw (position INTEGER PRIMARY KEY AUTOINCREMENT, commit_id TEXT UNIQUE,
         case_id TEXT, version INTEGER, body TEXT, UNIQUE (case_id, version))",
    )
    .unwrap();
    Arc::new(Mutex::new(conn))
}

/// One round of raw SQLite inserts from `writers` loops, each its own case, one insert per
/// transaction; returns inserts per second.
pub(crate) async fn raw_inserts(
    db: &Arc<Mutex<rusqlite::Connection>>,
    body: &str,
    writers: usize,
) -> f64 {
    let (db, body) = (db.clone(), body.to_owned());
    throughput(
        writers,
        move |_| (db.clone(), Uuid::now_v7().to_string(), 1u64, body.clone()),
        |(db, case, version, body)| async move {
            let db2 = db.clone();
            let (case, body) = tokio::task::spawn_blocking(move || {
                let mut conn = db2.lock().unwrap();
                let tx = conn.transaction().unwrap();
                tx.execute(
                    "INSERT INTO raw (commit_id, case_id, version, body) VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![Uuid::now_v7().to_string(), case, version, body],
                )
                .unwrap();
                tx.commit().unwrap();
                (case, body)
            })
            .await
            .unwrap();
            (db, case, version + 1, body)
        },
    )
    .await
}

/// The raw baselines' stream: file storage, subjects `raw.>`; each benchmark adds what it needs.
pub(crate) fn raw_stream() -> async_nats::jetstream::stream::Config {
    async_nats::jetstream::stream::Config {
        name: "RAW".to_owned(),
        subjects: vec!["raw.>".to_owned()],
        storage: async_nats::jetstream::stream::StorageType::File,
        ..Default::default()
    }
}

/// The pinned nats-server, started on free ports, a JetStream context on it, and the raw
/// baseline's stream made with `config` (`raw_stream()` and what a benchmark adds).
pub(crate) async fn raw_jetstream(
    config: async_nats::jetstream::stream::Config,
) -> (
    docket_testkit::NatsServer,
    async_nats::jetstream::Context,
    async_nats::jetstream::stream::Stream,
) {
    let server = tokio::task::spawn_blocking(docket_testkit::NatsServer::start)
        .await
        .unwrap();
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.create_stream(config).await.unwrap();
    (server, js, stream)
}

/// One round of raw JetStream publishes from `writers` loops, each to its own subject with the
/// expected last subject sequence, each waiting for its ack; returns publishes per second.
pub(crate) async fn raw_publishes(
    js: &async_nats::jetstream::Context,
    payload: &[u8],
    writers: usize,
) -> f64 {
    let (js, payload) = (js.clone(), payload.to_vec());
    throughput(
        writers,
        move |_| {
            (
                js.clone(),
                format!("raw.{}", Uuid::now_v7()),
                0u64,
                payload.clone(),
            )
        },
        |(js, subject, last, payload)| async move {
            let mut headers = HeaderMap::new();
            headers.insert(
                "Nats-Expected-Last-Subject-Sequence",
                last.to_string().as_str(),
            );
            let ack = js
                .publish_with_headers(subject.clone(), headers, payload.clone().into())
                .await
                .unwrap()
                .await
                .unwrap();
            (js, subject, ack.sequence, payload)
        },
    )
    .await
}
