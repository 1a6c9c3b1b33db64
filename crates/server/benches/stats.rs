//! `make bench-stats` (also run by `make bench`): the supervisors' statistics over a hundred demo
//! years of one tenant in Postgres (about 10^6 cases), each query's latency against a raw count of
//! the same cases measured in the same run.
//!
//! The years are `docket demo`'s own plans (`src/demo/plan.rs`, seeded by year), driven through
//! the command service (`src/demo/drive.rs`) with personal data sealed by the vault, into a log
//! held in memory one year at a time, and projected into the read model year by year. (Cases
//! filed before 1970 get ids at 1970's first millisecond, the earliest a UUIDv7 holds; the
//! statistics read filing times, not ids.)
//!
//! DOCKET_BENCH_YEARS (default 100) years of DOCKET_BENCH_SCALE (default 1) ending with 2025;
//! DOCKET_BENCH_QUERIES (default 200) samples per query (a quarter of them for five and ten
//! years, 5 for all the years). DOCKET_BENCH_DB: a Postgres URL to load
//! into and keep (a database that already holds cases is measured as it is, without loading:
//! for rerunning queries); without it, a fresh database dropped afterwards.

#[path = "../src/demo/directory.rs"]
mod directory;
#[allow(dead_code)] // `docket demo` uses what the benchmark does not (its intended figures).
#[path = "../src/demo/plan.rs"]
mod plan;

#[path = "../src/demo/drive.rs"]
mod drive;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use docket_commands::{CommandService, Vault};
use docket_domain::{Reach, TenantId};
use docket_eventlog::{Appended, Commit, EventLog, LogError, Recorded};
use docket_projections::{Dimension, Projector, ReadModel, StatsQuery};
use docket_testkit::PgDatabase;
use jiff::Timestamp;
use jiff::civil::Date;
use uuid::Uuid;

// The allocator the docket binary runs with (and the shared helpers, some unused here).
mod common;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const TENANT: &str = "bench";
const LAST_YEAR: i16 = 2025;

/// A log in memory that accepts appends at the next version of a case, and forgets what has been
/// projected (a demo year's cases get no commands after their year's plan).
#[derive(Debug, Default)]
struct MemoryLog(Mutex<Held>);

#[derive(Debug, Default)]
struct Held {
    /// Positions up to here are forgotten.
    base: u64,
    commits: Vec<Recorded>,
    cases: HashMap<Uuid, Vec<Recorded>>,
}

impl MemoryLog {
    fn forget(&self) {
        let mut held = self.0.lock().unwrap();
        held.base += held.commits.len() as u64;
        held.commits.clear();
        held.cases.clear();
    }
}

#[async_trait::async_trait]
impl EventLog for MemoryLog {
    async fn append(&self, commit: &Commit) -> Result<Appended, LogError> {
        let mut held = self.0.lock().unwrap();
        let case_id = commit.body.case_id;
        let version = held.cases.get(&case_id).map_or(0, Vec::len) as u64;
        if commit.body.version != version + 1 {
            return Err(LogError::Conflict {
                case_id,
                expected: commit.body.version - 1,
            });
        }
        let position = held.base + held.commits.len() as u64 + 1;
        let recorded = Recorded {
            position,
            commit: commit.clone(),
        };
        held.commits.push(recorded.clone());
        held.cases.entry(case_id).or_default().push(recorded);
        Ok(Appended {
            position,
            duplicate: false,
        })
    }
    async fn read_case(&self, _: &str, case_id: Uuid) -> Result<Vec<Recorded>, LogError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .cases
            .get(&case_id)
            .cloned()
            .unwrap_or_default())
    }
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Recorded>, LogError> {
        let held = self.0.lock().unwrap();
        let start = after.checked_sub(held.base).ok_or_else(|| {
            LogError::Setup(format!(
                "position {after} is forgotten (before {})",
                held.base
            ))
        })? as usize;
        let end = (start + limit).min(held.commits.len());
        Ok(held.commits[start.min(end)..end].to_vec())
    }
    async fn read_position(&self, position: u64) -> Result<Option<Recorded>, LogError> {
        let held = self.0.lock().unwrap();
        Ok(position
            .checked_sub(held.base + 1)
            .and_then(|i| held.commits.get(i as usize).cloned()))
    }
    async fn head(&self) -> Result<u64, LogError> {
        let held = self.0.lock().unwrap();
        Ok(held.base + held.commits.len() as u64)
    }
    async fn wait_for(&self, _: u64, _: Duration) -> Result<u64, LogError> {
        self.head().await
    }
}

/// Drives `years` demo years into the log and projects each into `read` as it goes.
async fn load(url: &str, read: &ReadModel, years: i16, scale: f64) -> (usize, u64) {
    let tenant: TenantId = TENANT.parse().unwrap();
    let log = Arc::new(MemoryLog::default());
    let clock = Arc::new(drive::DemoClock::new());
    let vault = Vault::connect(url).await.unwrap();
    let commands = CommandService::new(log.clone(), clock.clone()).with_vault(vault);
    let projector = Projector::new(log.clone(), read.clone());
    let started = Instant::now();
    let mut cases = 0;
    for (i, year) in (LAST_YEAR - years + 1..=LAST_YEAR).enumerate() {
        let plan = plan::plan(TENANT, year, scale, year as u64);
        let t = Instant::now();
        drive::drive(&commands, &clock, &tenant, &plan, || {})
            .await
            .unwrap();
        let driven = t.elapsed().as_secs_f64();
        let t = Instant::now();
        projector.catch_up().await.unwrap();
        log.forget();
        cases += plan.kinds.len();
        eprintln!(
            "year {year} ({}/{years}): {} cases, {} commands in {driven:.1} s, projected in \
             {:.1} s; {cases} cases in {:.0} s",
            i + 1,
            plan.kinds.len(),
            plan.steps.len(),
            t.elapsed().as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    }
    (cases, log.head().await.unwrap())
}

fn percentile(mut xs: Vec<f64>, p: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() as f64 - 1.0) * p).round() as usize]
}

/// The first and last day of a range of the hundred years: `months` long, starting on a day
/// chosen by `i` (any day of a month, so that most ranges have days left over at both ends).
fn range(i: usize, months: i32, years: i16) -> (Date, Date) {
    let total = i32::from(years) * 12;
    let start = (i as i32 * 7919) % (total - months).max(1);
    let first_year = LAST_YEAR - years + 1;
    let day = 1 + (i as i32 * 13) % 28;
    let from = Date::new(
        first_year + (start / 12) as i16,
        (start % 12 + 1) as i8,
        day as i8,
    )
    .unwrap();
    let to = from
        .checked_add(jiff::Span::new().months(months))
        .unwrap()
        .yesterday()
        .unwrap();
    (from, to)
}

/// Micros since the epoch of a local day's start (UTC+8), as the read model stores moments.
fn day_start(d: Date) -> i64 {
    d.to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .unwrap()
        .timestamp()
        .as_microsecond()
}

struct Shape {
    name: &'static str,
    months: i32,
    reach: Reach,
    slice: Vec<(Dimension, String)>,
    by: Option<Dimension>,
}

fn shape(name: &'static str, months: i32) -> Shape {
    Shape {
        name,
        months,
        reach: Reach::Tenant,
        slice: Vec::new(),
        by: None,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let years: i16 = env("DOCKET_BENCH_YEARS", 100);
    let scale: f64 = env("DOCKET_BENCH_SCALE", 1.0);
    let samples: usize = env("DOCKET_BENCH_QUERIES", 200);
    let fresh;
    let url = match std::env::var("DOCKET_BENCH_DB") {
        Ok(url) => url,
        Err(_) => {
            fresh = PgDatabase::fresh();
            fresh.url().to_owned()
        }
    };
    let read = ReadModel::connect(&url, "bench").await.unwrap();
    // The baseline's own connections, set as the read model sets its own (no JIT).
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let pool = sqlx::PgPool::connect_with(options.options([("jit", "off")]))
        .await
        .unwrap();
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
        .fetch_one(&pool)
        .await
        .unwrap();
    if held == 0 {
        eprintln!("loading {years} demo years (scale {scale}) of tenant {TENANT} ...");
        let t = Instant::now();
        let (cases, commits) = load(&url, &read, years, scale).await;
        eprintln!(
            "loaded {cases} cases, {commits} commits in {:.0} s",
            t.elapsed().as_secs_f64()
        );
    } else {
        eprintln!("measuring the {held} cases already in the database");
    }
    // As after any bulk load or rebuild (and what autovacuum would do in time): fresh planner
    // statistics, and pages marked all-visible for index-only scans.
    let t = Instant::now();
    read.analyze().await.unwrap();
    eprintln!("analyzed in {:.0} s", t.elapsed().as_secs_f64());
    let cases: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cases")
        .fetch_one(&pool)
        .await
        .unwrap();

    let year = 12;
    let unit: docket_domain::UnitId = format!("{TENANT}-housing").parse().unwrap();
    let shapes = vec![
        shape("a month", 1),
        shape("a quarter", 3),
        shape("a year", year),
        Shape {
            by: Some(Dimension::Kind),
            ..shape("a year, by kind", year)
        },
        Shape {
            by: Some(Dimension::Grid),
            ..shape("a year, by grid", year)
        },
        Shape {
            by: Some(Dimension::Unit),
            ..shape("a year, by unit", year)
        },
        Shape {
            slice: vec![
                (Dimension::Community, "qinghe".to_owned()),
                (Dimension::Kind, "petition".to_owned()),
            ],
            ..shape("a year, one community's petitions", year)
        },
        Shape {
            reach: Reach::Unit(unit),
            ..shape("a year, a unit's own (its reach)", year)
        },
        shape("five years", 5 * year),
        shape("ten years", 10 * year),
        Shape {
            by: Some(Dimension::Community),
            ..shape(
                "ten years (the longest range served), by community",
                10 * year,
            )
        },
        // Beyond what the API serves (3,660 days at most): how the cost grows past it.
        Shape {
            by: Some(Dimension::Community),
            ..shape(
                "all the years, by community (not served)",
                i32::from(years) * 12,
            )
        },
    ];
    let now = Timestamp::now();
    println!(
        "\n| statistics over {cases} cases ({years} demo years) | cases filed in range | p50 ms \
         | p95 ms | max ms | raw count p50 ms | ratio (p50) | first pass p95 ms |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for s in &shapes {
        let n = if s.months > 120 {
            5
        } else if s.months >= 60 {
            (samples / 4).max(5)
        } else {
            samples.max(5)
        };
        // Two passes over the same ranges: the first reads what the earlier shapes left out of
        // memory (reported as its p95), the second is the one measured.
        let mut first_pass = Vec::new();
        let (mut times, mut raw_times, mut filed) = (Vec::new(), Vec::new(), Vec::new());
        for pass in 0..2 {
            for i in 0..n {
                let (from, to) = range(i, s.months, years);
                let query = StatsQuery {
                    tenant: TENANT.to_owned(),
                    from,
                    to,
                    now,
                    reach: s.reach.clone(),
                    slice: s.slice.clone(),
                    by: s.by,
                };
                let t = Instant::now();
                let groups = read.stats(&query).await.unwrap();
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                std::hint::black_box(&groups);
                if pass == 0 {
                    first_pass.push(ms);
                    continue;
                }
                times.push(ms);
                // The baseline: a bare count of the cases filed in the same range.
                let t = Instant::now();
                let count: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM cases \
                     WHERE tenant = $1 AND filed_at >= $2 AND filed_at < $3",
                )
                .bind(TENANT)
                .bind(day_start(from))
                .bind(day_start(to.tomorrow().unwrap()))
                .fetch_one(&pool)
                .await
                .unwrap();
                raw_times.push(t.elapsed().as_secs_f64() * 1000.0);
                filed.push(count as f64);
            }
        }
        let (p50, raw) = (percentile(times.clone(), 0.5), percentile(raw_times, 0.5));
        println!(
            "| {} | {:.0} | {p50:.1} | {:.1} | {:.1} | {raw:.1} | {:.1} | {:.1} |",
            s.name,
            percentile(filed, 0.5),
            percentile(times.clone(), 0.95),
            percentile(times, 1.0),
            p50 / raw.max(0.001),
            percentile(first_pass, 0.95),
        );
    }
    pool.close().await;
    read.close().await;
}
