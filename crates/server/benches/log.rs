//! `make bench`: what Docket's log and command path cost over the raw store, measured in one run
//! on one machine. JetStream runs on the pinned nats-server with `sync_interval: always`; SQLite
//! with WAL and `synchronous = FULL`, as Docket runs them. Each figure is the median of a few
//! timed rounds; each ratio is to the raw baseline measured in the same run.

use std::sync::Arc;
use std::time::Instant;

use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::stream::Config as StreamConfig;
use docket_commands::{Actor, CommandRequest, CommandService, SystemClock};
use docket_domain::{CaseCommand, CaseId, CaseKind, Role};
use docket_eventlog::contract::commit;
use docket_eventlog::{ChainHash, EventLog, JetStreamConfig, JetStreamLog, SqliteLog};
use futures_util::StreamExt;
use serde_json::json;
use uuid::Uuid;

mod common;
use common::{WRITERS, median, raw_sqlite, round_time, rounds, throughput};
use common::{raw_inserts, raw_jetstream, raw_publishes, raw_stream};

struct Row {
    backend: &'static str,
    what: &'static str,
    writers: Option<usize>,
    per_second: f64,
    baseline: f64,
}

/// Adds a row per measure, each compared with the first: the raw baseline of the same run.
fn compare(
    rows: &mut Vec<Row>,
    backend: &'static str,
    writers: Option<usize>,
    measures: Vec<(&'static str, Vec<f64>)>,
) {
    let baseline = median(measures[0].1.clone());
    for (what, rounds) in measures {
        rows.push(Row {
            backend,
            what,
            writers,
            per_second: median(rounds),
            baseline,
        });
    }
}

fn print(rows: &[Row]) {
    println!();
    println!("| backend | measure | writers | per second (median) | ratio to raw |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} |",
            r.backend,
            r.what,
            r.writers.map_or("-".to_owned(), |w| w.to_string()),
            r.per_second,
            r.per_second / r.baseline
        );
    }
}

/// A commit as the log carries it, for raw payloads of the same size.
fn sample_payload() -> Vec<u8> {
    serde_json::to_vec(&commit("bench", Uuid::now_v7(), 1, ChainHash::genesis())).unwrap()
}

fn actor(role: Role) -> Actor {
    Actor {
        id: format!("bench-{role}"),
        tenant: "bench".parse().unwrap(),
        role,
        unit: Some("bench-safety".parse().unwrap()),
        grids: vec!["bench-01".parse().unwrap()],
    }
}

fn command(action: &str, body: serde_json::Value) -> CaseCommand {
    CaseCommand::parse_action(CaseKind::Hazard, action, body).unwrap()
}

async fn handle(
    svc: &CommandService,
    role: Role,
    case_id: Option<CaseId>,
    cmd: CaseCommand,
) -> CaseId {
    let req = CommandRequest {
        case_id,
        command: cmd,
        idempotency_key: None,
        expected_version: None,
    };
    svc.handle(&actor(role), req).await.unwrap().case_id
}

/// Commits per case before a writer moves to a new one: cases are short (tens of commits), and
/// the bench should load cases of the length the product sees.
const CASE_LENGTH: u64 = 20;

/// The next command a command-path writer sends to its hazard.
#[derive(Debug, Clone, Copy)]
enum Step {
    File,
    Verify,
    Order,
    Rectified,
    Failed,
}

fn filing() -> CaseCommand {
    CaseCommand::parse_filing(json!({
        "kind": "hazard", "community": "bench", "grid": "bench-01", "unit": "bench-safety",
        "title": "bench", "category": "fire", "severity": "general", "source": "grid-worker"
    }))
    .unwrap()
}

/// One command of a writer's round: file, verify, order, then rectified ↔ failed reinspection
/// until the case is CASE_LENGTH commits long, then a new case.
async fn next_command(
    svc: &CommandService,
    case: Option<CaseId>,
    version: u64,
    step: Step,
) -> (Option<CaseId>, u64, Step) {
    let (role, cmd, next) = match step {
        Step::File => (Role::GridWorker, filing(), Step::Verify),
        Step::Verify => (
            Role::Handler,
            command(
                "verify",
                json!({"severity": "general", "responsible_party": "x"}),
            ),
            Step::Order,
        ),
        Step::Order => (
            Role::Handler,
            command("order-rectification", json!({"measures": "x"})),
            Step::Rectified,
        ),
        Step::Rectified => (Role::Handler, rectified(), Step::Failed),
        Step::Failed if version + 1 >= CASE_LENGTH => (Role::Handler, failed(), Step::File),
        Step::Failed => (Role::Handler, failed(), Step::Rectified),
    };
    let target = if matches!(step, Step::File) {
        None
    } else {
        case
    };
    let id = handle(svc, role, target, cmd).await;
    (
        Some(id),
        if matches!(step, Step::File) {
            1
        } else {
            version + 1
        },
        next,
    )
}

fn rectified() -> CaseCommand {
    command(
        "report-rectified",
        json!({"evidence": [{"content_hash": format!("sha256:{}", "ab".repeat(32)),
            "media_type": "image/jpeg", "size": 1000, "blob": "b"}]}),
    )
}

fn failed() -> CaseCommand {
    command("fail-reinspection", json!({"reason": "again"}))
}

/// The command path on `log`: W writers, each working its own hazards, one command at a time.
async fn command_path(log: Arc<dyn EventLog>, writers: usize) -> f64 {
    let svc = CommandService::new(log, Arc::new(SystemClock));
    // The tenant's directory, which every command is checked against (once per log).
    let seeded = docket_domain::directory::seed_from_names(
        &["bench"],
        &[("bench-01", "bench")],
        &["bench-safety"],
    )
    .unwrap();
    svc.seed_directory(&"bench".parse().unwrap(), seeded, "the benchmark's tenant")
        .await
        .unwrap();
    throughput(
        writers,
        |_| (svc.clone(), None, 0u64, Step::File),
        |(svc, case, version, step)| async move {
            let (case, version, step) = next_command(&svc, case, version, step).await;
            (svc, case, version, step)
        },
    )
    .await
}

/// `EventLog::append`: W writers, each appending the next commit of its own case (a new case every
/// CASE_LENGTH commits).
async fn appends(log: Arc<dyn EventLog>, writers: usize) -> f64 {
    throughput(
        writers,
        |_| (log.clone(), Uuid::now_v7(), 1u64, ChainHash::genesis()),
        |(log, case, version, prev)| async move {
            let (case, version, prev) = if version > CASE_LENGTH {
                (Uuid::now_v7(), 1, ChainHash::genesis())
            } else {
                (case, version, prev)
            };
            let c = commit("bench", case, version, prev);
            log.append(&c).await.unwrap();
            (log, case, version + 1, c.hash)
        },
    )
    .await
}

async fn read_all_rate(log: &dyn EventLog) -> f64 {
    let start = Instant::now();
    let (mut after, mut n) = (0, 0usize);
    loop {
        let page = log.read_all(after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.position;
        n += page.len();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn jetstream(rows: &mut Vec<Row>) {
    let (server, js, raw_stream) = raw_jetstream(StreamConfig {
        allow_direct: true,
        ..raw_stream()
    })
    .await;
    let log: Arc<dyn EventLog> = Arc::new(
        JetStreamLog::connect(&server.url(), JetStreamConfig::default())
            .await
            .unwrap(),
    );
    let payload = sample_payload();
    for writers in WRITERS {
        let mut raw = Vec::new();
        let mut ours = Vec::new();
        let mut path = Vec::new();
        for _ in 0..rounds() {
            raw.push(raw_publishes(&js, &payload, writers).await);
            ours.push(appends(log.clone(), writers).await);
            path.push(command_path(log.clone(), writers).await);
        }
        compare(
            &mut *rows,
            "jetstream",
            Some(writers),
            vec![
                ("raw publish + ack, expected-subject-seq (baseline)", raw),
                ("EventLog::append", ours),
                ("command path (load, decide, append)", path),
            ],
        );
    }

    let total = log.head().await.unwrap();
    let mut raw = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..rounds() {
        let consumer = js
            .get_stream("DOCKET")
            .await
            .unwrap()
            .create_consumer(OrderedConfig {
                filter_subject: "docket.>".to_owned(),
                ..OrderedConfig::default()
            })
            .await
            .unwrap();
        let start = Instant::now();
        let mut messages = consumer.messages().await.unwrap();
        for _ in 0..total {
            messages.next().await.unwrap().unwrap();
        }
        raw.push(total as f64 / start.elapsed().as_secs_f64());
        // A fresh log each round: no tail left positioned by the previous one.
        let fresh = JetStreamLog::connect(&server.url(), JetStreamConfig::default())
            .await
            .unwrap();
        ours.push(read_all_rate(&fresh).await);
    }
    compare(
        &mut *rows,
        "jetstream",
        None,
        vec![
            ("read all: raw ordered consumer (baseline)", raw),
            ("read all: EventLog::read_all", ours),
        ],
    );
    drop(raw_stream);
    eprintln!("jetstream: {total} commits in the log at the end");
}

async fn sqlite(rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().unwrap();
    let raw_db = raw_sqlite(&dir.path().join("raw.sqlite"));
    let log: Arc<dyn EventLog> = Arc::new(SqliteLog::open(dir.path().join("log.sqlite")).unwrap());
    let body = String::from_utf8(sample_payload()).unwrap();
    for writers in WRITERS {
        let mut raw = Vec::new();
        let mut ours = Vec::new();
        let mut path = Vec::new();
        for _ in 0..rounds() {
            raw.push(raw_inserts(&raw_db, &body, writers).await);
            ours.push(appends(log.clone(), writers).await);
            path.push(command_path(log.clone(), writers).await);
        }
        compare(
            &mut *rows,
            "sqlite",
            Some(writers),
            vec![
                ("raw insert, one per transaction (baseline)", raw),
                ("EventLog::append", ours),
                ("command path (load, decide, append)", path),
            ],
        );
    }

    let mut raw = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..rounds() {
        let conn = rusqlite::Connection::open(dir.path().join("log.sqlite")).unwrap();
        let start = Instant::now();
        let mut stmt = conn
            .prepare("SELECT position, body FROM commits ORDER BY position")
            .unwrap();
        let n = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .count();
        raw.push(n as f64 / start.elapsed().as_secs_f64());
        ours.push(read_all_rate(log.as_ref()).await);
    }
    compare(
        &mut *rows,
        "sqlite",
        None,
        vec![
            ("read all: raw select (baseline)", raw),
            ("read all: EventLog::read_all", ours),
        ],
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::var("DOCKET_BENCH_ONLY").unwrap_or_default();
    eprintln!(
        "docket bench: {} rounds of {:?} per figure, writers {:?} (DOCKET_BENCH_ROUNDS, DOCKET_BENCH_MS)",
        rounds(),
        round_time(),
        WRITERS
    );
    let mut rows = Vec::new();
    runtime.block_on(async {
        if only.is_empty() || only == "jetstream" {
            jetstream(&mut rows).await;
        }
        if only.is_empty() || only == "sqlite" {
            sqlite(&mut rows).await;
        }
    });
    print(&rows);
}
