//! `make bench-readmodel` (also run by `make bench`): a rebuild of generated commits into a
//! Postgres read model against a raw batched insert (UNNEST) of the same rows into the same
//! tables, in the same run; then list and worklist query latency over the rebuilt cases.
//!
//! DOCKET_BENCH_CASES (default 1,000,000) cases are filed, and one in four gets a second commit
//! (a hazard verified, a petition or dispute accepted by a unit), so the log holds 1.25 x that
//! many commits. DOCKET_BENCH_ROUNDS (default 3) rounds of rebuild and baseline; medians quoted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use docket_domain::deadlines::DeadlinePolicy;
use docket_domain::{CaseCommand, CaseId, CaseKind, CaseState, Context, Role};
use docket_eventlog::{
    Actor, Appended, ChainHash, CommandInfo, CommitBody, EventLog, EventRecord, LogError, Recorded,
};
use docket_projections::{CaseFilter, Projector, ReadModel};
use docket_testkit::PgDatabase;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use uuid::Uuid;

// The allocator the docket binary runs with (and the shared helpers, some unused here).
mod common;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

const TENANT: &str = "bench";
const GRIDS: usize = 60;
const UNITS: usize = 20;
const FILERS: usize = 200;

/// A log held in memory: the rebuild reads it as it would read JetStream or SQLite.
#[derive(Debug)]
struct MemoryLog(Vec<Recorded>);

#[async_trait::async_trait]
impl EventLog for MemoryLog {
    async fn append(&self, _: &docket_eventlog::Commit) -> Result<Appended, LogError> {
        Err(LogError::Setup("read-only".to_owned()))
    }
    async fn read_case(&self, _: &str, _: Uuid) -> Result<Vec<Recorded>, LogError> {
        Ok(Vec::new())
    }
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Recorded>, LogError> {
        let start = after as usize;
        Ok(self.0[start.min(self.0.len())..(start + limit).min(self.0.len())].to_vec())
    }
    async fn read_position(&self, position: u64) -> Result<Option<Recorded>, LogError> {
        Ok(self.0.get(position as usize - 1).cloned())
    }
    async fn head(&self) -> Result<u64, LogError> {
        Ok(self.0.len() as u64)
    }
    async fn wait_for(&self, _: u64, _: Duration) -> Result<u64, LogError> {
        self.head().await
    }
}

fn records(events: &[docket_domain::CaseEvent]) -> Vec<EventRecord> {
    events
        .iter()
        .map(|e| {
            let (event_type, schema_version, data) = e.to_record();
            EventRecord {
                event_type,
                schema_version,
                data,
            }
        })
        .collect()
}

/// Files `cases` cases through the domain over a year, and acts on one in four.
fn generate(cases: usize) -> Vec<Recorded> {
    let policy = DeadlinePolicy::default();
    let start: Timestamp = "2025-01-01T01:00:00Z".parse().unwrap();
    let step = SignedDuration::from_secs(365 * 24 * 3600 / cases.max(1) as i64);
    let mut log = Vec::with_capacity(cases + cases / 4);
    let mut pending: Vec<(CaseId, CaseKind, CaseState, ChainHash, Timestamp)> = Vec::new();
    let commit = |log: &mut Vec<Recorded>,
                  case_id: CaseId,
                  kind: CaseKind,
                  version: u64,
                  events: &[docket_domain::CaseEvent],
                  who: (&str, Role),
                  action: &str,
                  at: Timestamp,
                  prev: ChainHash| {
        let body = CommitBody {
            hash_scheme: docket_eventlog::HASH_SCHEME,
            commit_id: Uuid::now_v7(),
            tenant: TENANT.to_owned(),
            case_id: case_id.as_uuid(),
            case_kind: kind.to_string(),
            version,
            events: records(events),
            actor: Actor {
                id: who.0.to_owned(),
                role: who.1.to_string(),
                unit: None,
            },
            command: CommandInfo {
                name: action.to_owned(),
                request_hash: String::new(),
            },
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            recorded_at: at,
        };
        let sealed = body.seal(prev);
        let hash = sealed.hash.clone();
        log.push(Recorded {
            position: log.len() as u64 + 1,
            commit: sealed,
        });
        hash
    };
    for i in 0..cases {
        let at = start + step * i as i32;
        let grid = format!("grid-{:02}", i % GRIDS);
        let filer = format!("gw-{:03}", i % FILERS);
        let category = ["fire", "gas", "electrical", "e-bike-charging"][i % 4];
        let severity = if i % 13 == 0 { "major" } else { "general" };
        let (kind, body, role) = match i % 10 {
            0..=6 => (
                CaseKind::Hazard,
                json!({"kind": "hazard", "community": "qinghe", "grid": grid,
                       "title": format!("隐患 {i} 楼道堆物"), "description": "巡查发现",
                       "category": category, "severity": severity,
                       "source": "night-patrol"}),
                Role::GridWorker,
            ),
            7 | 8 => (
                CaseKind::Petition,
                json!({"kind": "petition", "community": "qinghe", "grid": grid,
                       "title": format!("信访 {i} 供暖不足"), "channel": "visit",
                       "petition_type": "appeal-request", "category": "housing",
                       "petitioners": [{"name": "张三"}]}),
                Role::GridWorker,
            ),
            _ => (
                CaseKind::Dispute,
                json!({"kind": "dispute", "community": "qinghe", "grid": grid,
                       "title": format!("纠纷 {i} 楼上漏水"), "dispute_type": "neighbour",
                       "source": "grid-worker",
                       "parties": [{"side": "applicant", "name": "甲"}, {"side": "respondent", "name": "乙"}]}),
                Role::GridWorker,
            ),
        };
        let case_id = CaseId::new();
        let command = CaseCommand::parse_filing(body).unwrap();
        let ctx = Context::new(role, at, case_id, &policy);
        let events = command.decide(None, &ctx).unwrap();
        let state = CaseState::replay(&events).unwrap().unwrap();
        let hash = commit(
            &mut log,
            case_id,
            kind,
            1,
            &events,
            (&filer, role),
            command.action(),
            at,
            ChainHash::genesis(),
        );
        if i % 4 == 0 {
            pending.push((case_id, kind, state, hash, at));
        }
        // Act on cases filed a while ago, so their state comes from earlier batches.
        if pending.len() > 2000 || i + 1 == cases {
            for (case_id, kind, state, prev, filed) in pending.drain(..) {
                let unit = format!("unit-{:02}", case_id.as_uuid().as_u128() as usize % UNITS);
                // The supervisor acts: these cases were filed routed to no unit.
                let (role, action, body) = match kind {
                    CaseKind::Hazard => (
                        Role::Supervisor,
                        "verify",
                        json!({"severity": "general", "responsible_party": "物业"}),
                    ),
                    CaseKind::Petition => (Role::PetitionOfficer, "accept", json!({"unit": unit})),
                    CaseKind::Dispute => (
                        Role::Supervisor,
                        "accept",
                        json!({"mediator": "调解员", "room": unit}),
                    ),
                    CaseKind::RiskEvent | CaseKind::Livelihood => {
                        unreachable!("this bench files hazards, petitions and disputes")
                    }
                };
                let command = CaseCommand::parse_action(kind, action, body).unwrap();
                let now = filed + SignedDuration::from_hours(5);
                let ctx = Context::new(role, now, case_id, &policy);
                let events = command.decide(Some(&state), &ctx).unwrap();
                commit(
                    &mut log,
                    case_id,
                    kind,
                    2,
                    &events,
                    ("officer", role),
                    action,
                    now,
                    prev,
                );
            }
        }
    }
    log
}

/// The rows a model holds, read back to insert raw.
struct Rows {
    cases: Vec<sqlx::postgres::PgRow>,
    history: Vec<sqlx::postgres::PgRow>,
}

async fn read_rows(url: &str) -> Rows {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let cases = sqlx::query("SELECT * FROM cases ORDER BY position")
        .fetch_all(&pool)
        .await
        .unwrap();
    let history = sqlx::query("SELECT * FROM case_history ORDER BY position")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    Rows { cases, history }
}

/// The baseline: the same case and history rows inserted straight into the same tables, 500
/// commits' worth per transaction, with UNNEST.
async fn raw_insert(url: &str, rows: &Rows, per_tx: usize) -> f64 {
    use sqlx::Row;
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let started = Instant::now();
    let text = |rows: &[sqlx::postgres::PgRow], c: &str| -> Vec<Option<String>> {
        rows.iter().map(|r| r.try_get(c).unwrap()).collect()
    };
    let int = |rows: &[sqlx::postgres::PgRow], c: &str| -> Vec<Option<i64>> {
        rows.iter().map(|r| r.try_get(c).unwrap()).collect()
    };
    let boolean = |rows: &[sqlx::postgres::PgRow], c: &str| -> Vec<Option<bool>> {
        rows.iter().map(|r| r.try_get(c).unwrap()).collect()
    };
    let chunks = rows.history.len().div_ceil(per_tx);
    let case_chunk = rows.cases.len().div_ceil(chunks);
    for (hist, cases) in rows
        .history
        .chunks(per_tx)
        .zip(rows.cases.chunks(case_chunk.max(1)))
    {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO cases SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                $5::text[], $6::bool[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                $12::text[], $13::text[], $14::text[], $15::text[], $16::int8[], $17::int8[],
                $18::int8[], $19::int8[], $20::int8[], $21::int8[], $22::text[], $23::bool[],
                $24::text[])",
        )
        .bind(text(cases, "case_id")).bind(text(cases, "tenant")).bind(text(cases, "kind"))
        .bind(text(cases, "case_number")).bind(text(cases, "status")).bind(boolean(cases, "is_closed"))
        .bind(text(cases, "community")).bind(text(cases, "grid")).bind(text(cases, "title"))
        .bind(text(cases, "description")).bind(text(cases, "category")).bind(text(cases, "severity"))
        .bind(text(cases, "lead_unit")).bind(text(cases, "assignee")).bind(text(cases, "filed_by"))
        .bind(int(cases, "version")).bind(int(cases, "position")).bind(int(cases, "deadline"))
        .bind(int(cases, "filed_at")).bind(int(cases, "updated_at")).bind(int(cases, "closed_at"))
        .bind(text(cases, "outcome")).bind(boolean(cases, "closed_on_time")).bind(text(cases, "state"))
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO case_history SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[],
                $4::int8[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                $11::text[], $12::text[], $13::text[])",
        )
        .bind(text(hist, "case_id"))
        .bind(int(hist, "version"))
        .bind(text(hist, "tenant"))
        .bind(int(hist, "position"))
        .bind(text(hist, "commit_id"))
        .bind(text(hist, "actor_id"))
        .bind(text(hist, "actor_role"))
        .bind(text(hist, "actor_unit"))
        .bind(text(hist, "command"))
        .bind(text(hist, "recorded_at"))
        .bind(text(hist, "events"))
        .bind(text(hist, "prev_hash"))
        .bind(text(hist, "hash"))
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    pool.close().await;
    secs
}

fn percentile(mut xs: Vec<f64>, p: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let cases = env("DOCKET_BENCH_CASES", 1_000_000);
    let rounds = env("DOCKET_BENCH_ROUNDS", 3);
    eprintln!("generating {cases} cases through the domain ...");
    let started = Instant::now();
    let log: Arc<dyn EventLog> = Arc::new(MemoryLog(generate(cases)));
    let commits = log.head().await.unwrap();
    eprintln!(
        "generated {commits} commits in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let mut rebuild_secs = Vec::new();
    let mut raw_secs = Vec::new();
    let mut kept: Option<(PgDatabase, ReadModel)> = None;
    for round in 1..=rounds {
        let db = PgDatabase::fresh();
        let read = ReadModel::connect(db.url(), "bench").await.unwrap();
        let t = Instant::now();
        Projector::new(log.clone(), read.clone())
            .catch_up()
            .await
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        rebuild_secs.push(secs);
        // As autovacuum would after a load this size (and `docket rebuild` does).
        read.analyze().await.unwrap();
        let rows = read_rows(db.url()).await;
        let raw_db = PgDatabase::fresh();
        ReadModel::connect(raw_db.url(), "bench")
            .await
            .unwrap()
            .close()
            .await;
        let raw = raw_insert(raw_db.url(), &rows, 500).await;
        raw_secs.push(raw);
        drop(rows);
        eprintln!(
            "round {round}: rebuild {secs:.1} s ({:.0} commits/s), raw insert {raw:.1} s ({:.0} commits/s)",
            commits as f64 / secs,
            commits as f64 / raw
        );
        if round == rounds {
            kept = Some((db, read));
        } else {
            read.close().await;
        }
    }
    let (rebuild, raw) = (median(rebuild_secs), median(raw_secs));
    println!(
        "\n| rebuild into Postgres ({commits} commits, {cases} cases) | median s | commits/s | ratio to raw |"
    );
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| raw batched insert (UNNEST, 500 per tx) of the same rows | {raw:.1} | {:.0} | 1.00 |",
        commits as f64 / raw
    );
    println!(
        "| docket projector (batches of 500, one tx each) | {rebuild:.1} | {:.0} | {:.2} |",
        commits as f64 / rebuild,
        raw / rebuild
    );

    let (_db, read) = kept.expect("at least one round");
    let now: Timestamp = "2025-12-31T00:00:00Z".parse().unwrap();
    let samples = env("DOCKET_BENCH_QUERIES", 200);
    type Make = Box<dyn Fn(usize) -> CaseFilter>;
    let queries: Vec<(&str, Make)> = vec![
        (
            "newest first, no filter",
            Box::new(|_| CaseFilter::default()),
        ),
        (
            "by grid",
            Box::new(|i| CaseFilter {
                grid: Some(format!("grid-{:02}", i % GRIDS)),
                ..CaseFilter::default()
            }),
        ),
        (
            "by status",
            Box::new(|i| CaseFilter {
                status: Some(["reported", "verified", "handling", "registered"][i % 4].to_owned()),
                ..CaseFilter::default()
            }),
        ),
        (
            "by kind and category",
            Box::new(|i| CaseFilter {
                kind: Some("hazard".to_owned()),
                category: Some(["fire", "gas", "electrical"][i % 3].to_owned()),
                ..CaseFilter::default()
            }),
        ),
        (
            "major hazards",
            Box::new(|_| CaseFilter {
                severity: Some("major".to_owned()),
                ..CaseFilter::default()
            }),
        ),
        (
            "worklist: mine",
            Box::new(|i| CaseFilter {
                mine: Some(format!("gw-{:03}", i % FILERS)),
                ..CaseFilter::default()
            }),
        ),
        (
            "worklist: my unit",
            Box::new(|i| CaseFilter {
                unit: Some(format!("unit-{:02}", i % UNITS)),
                closed: Some(false),
                ..CaseFilter::default()
            }),
        ),
        (
            "worklist: overdue",
            Box::new(move |_| CaseFilter {
                overdue_at: Some(now),
                ..CaseFilter::default()
            }),
        ),
        (
            "worklist: due soon",
            Box::new(move |_| CaseFilter {
                due_before: Some(now + SignedDuration::from_hours(72)),
                closed: Some(false),
                ..CaseFilter::default()
            }),
        ),
        (
            "filed in a month",
            Box::new(|i| {
                let from: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
                let from = from + SignedDuration::from_hours(24 * 30 * (i % 11) as i64);
                CaseFilter {
                    filed_from: Some(from),
                    filed_to: Some(from + SignedDuration::from_hours(24 * 30)),
                    ..CaseFilter::default()
                }
            }),
        ),
        (
            "text search (title)",
            Box::new(|i| CaseFilter {
                text: Some(format!("隐患 {}", i * 7919 % 700_000)),
                ..CaseFilter::default()
            }),
        ),
    ];
    println!("\n| list query over {cases} cases (page of 50) | p50 ms | p95 ms | max ms |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, make) in &queries {
        let mut times = Vec::new();
        for i in 0..samples {
            let filter = make(i);
            let t = Instant::now();
            let page = read.list_cases(TENANT, &filter, None, 50).await.unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(page);
        }
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} |",
            percentile(times.clone(), 0.5),
            percentile(times.clone(), 0.95),
            percentile(times, 1.0)
        );
    }
}
