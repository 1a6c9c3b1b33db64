//! `make bench-http`: what a client sees. Starts the release `docket` binary, drives it over HTTP
//! from 1, 16 and 64 concurrent clients (filings, and actions on existing cases), on the embedded
//! default and on JetStream (the pinned nats-server, `sync_interval: always`), and prints each
//! rate (the median of the rounds) with its latency percentiles beside the raw baseline of the
//! same run at the same concurrency: raw SQLite inserts with Docket's durability (WAL,
//! `synchronous = FULL`, one insert per transaction) and raw JetStream publishes with the
//! expected-sequence header. DOCKET_BENCH_ROUNDS and DOCKET_BENCH_MS set the rounds and their
//! length; DOCKET_BENCH_ONLY=sqlite|jetstream runs one backend (a list: `jetstream,bound`), and
//! `bound` the bare front of JetStream (`bare`), which no default run includes; DOCKET_BENCH_CLIENTS=1,16
//! others. DOCKET_BENCH_DATA_IN puts the server's data directory (its read model; the embedded
//! log too) under another directory, `/dev/shm` say, while nats-server's store and the raw
//! baselines stay where they are: what the read model's writes to the shared disk cost.
//!
//! To see what the server's CPU does: build with line tables
//! (`CARGO_PROFILE_BENCH_DEBUG=line-tables-only cargo bench -p docket-server --bench http
//! --no-run`), run the printed executable with `--bench`, and while a phase runs attach
//! `perf record -F 499 --call-graph dwarf -p $(pgrep -f 'docket serve') -- sleep 3`; one
//! client-count at a time (`DOCKET_BENCH_CLIENTS=64 DOCKET_BENCH_ROUNDS=1 DOCKET_BENCH_MS=5000`)
//! makes the phases easy to find: a warm-up of filings, then for each operation a raw baseline
//! and a round.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

mod common;
use common::{
    WRITERS, median, raw_inserts, raw_jetstream, raw_publishes, raw_sqlite, raw_stream, round_time,
    rounds,
};

/// The release binary, started on a data directory of its own.
struct Docket {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Docket {
    fn start(extra: &[&str]) -> Docket {
        let dir = match std::env::var_os("DOCKET_BENCH_DATA_IN") {
            Some(parent) => {
                tempfile::tempdir_in(parent).expect("DOCKET_BENCH_DATA_IN is a directory")
            }
            None => tempfile::tempdir().unwrap(),
        };
        let mut docket = Command::new(env!("CARGO_BIN_EXE_docket"));
        docket
            .args(["serve", "--listen", "127.0.0.1:0", "--grpc-listen", "off"])
            .args(["--rate-limit", "100000000", "--rate-burst", "100000000"])
            .arg("--data-dir")
            .arg(dir.path())
            .args(extra)
            .env("DOCKET_LOG_LEVEL", "warn")
            .env_remove("DOCKET_JWT_SECRET");
        Docket::spawn(docket, dir)
    }

    /// This executable again, as the bare front of JetStream at `nats_url` (see `bare`),
    /// `following` the stream or not.
    fn bare(nats_url: &str, following: bool) -> Docket {
        let mut front = Command::new(std::env::current_exe().unwrap());
        front.env(bare::FRONT_OF, nats_url);
        if following {
            front.env(bare::FOLLOWING, "1");
        }
        Docket::spawn(front, tempfile::tempdir().unwrap())
    }

    /// Starts `command`, which prints `docket: serving <url>` once it listens.
    fn spawn(mut command: Command, dir: tempfile::TempDir) -> Docket {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut url = None;
        for line in stdout.by_ref().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("docket: serving ") {
                url = rest.split_whitespace().next().map(str::to_owned);
                break;
            }
        }
        // The rest of what it prints is read and dropped, so that it never writes to a closed pipe.
        std::thread::spawn(move || stdout.for_each(drop));
        Docket {
            child,
            url: url.expect("docket printed its address"),
            dir,
        }
    }

    fn token(&self, role: &str, reach: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_docket"))
            .args(["token", "--role", role])
            .args(reach)
            .arg("--data-dir")
            .arg(self.dir.path())
            .env_remove("DOCKET_JWT_SECRET")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

impl Drop for Docket {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the clients send, with the tokens they send it with.
#[derive(Clone)]
struct Office {
    http: reqwest::Client,
    url: String,
    grid_worker: String,
    handler: String,
}

impl Office {
    /// The clients' HTTP connections, kept alive.
    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .unwrap()
    }

    async fn open(docket: &Docket) -> Office {
        let http = Office::client();
        let admin = docket.token("admin", &[]);
        for (action, body) in [
            (
                "add-unit",
                json!({"id": "qinghe-safety", "name": "安全办", "unit_kind": "office"}),
            ),
            (
                "add-community",
                json!({"id": "qinghe", "name": "清河社区", "intake_unit": "qinghe-safety"}),
            ),
            (
                "add-grid",
                json!({"id": "qinghe-01", "name": "第一网格", "community": "qinghe"}),
            ),
        ] {
            let r = http
                .post(format!("{}/v1/directory/actions/{action}", docket.url))
                .bearer_auth(&admin)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{action}: {}", r.status());
        }
        // Tokens naming a unit or grid wait for the directory to be projected.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Office {
            http,
            url: docket.url.clone(),
            grid_worker: docket.token("grid_worker", &["--grids", "qinghe-01"]),
            handler: docket.token("handler", &["--unit", "qinghe-safety"]),
        }
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let answer: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }

    async fn file(&self) -> String {
        let filing = json!({
            "kind": "hazard", "community": "qinghe", "grid": "qinghe-01", "unit": "qinghe-safety",
            "title": "电动车在楼道充电", "category": "e-bike-charging", "severity": "general",
            "source": "night-patrol",
        });
        let answer = self.post("/v1/cases", &self.grid_worker, &filing).await;
        answer["case_id"].as_str().unwrap().to_owned()
    }

    async fn act(&self, case: &str, action: &str, body: Value) {
        self.post(
            &format!("/v1/cases/{case}/actions/{action}"),
            &self.handler,
            &body,
        )
        .await;
    }

    /// A case brought to `rectifying`, where `report-rectified` and `fail-reinspection` take it
    /// back and forth for ever.
    async fn rectifying_case(&self) -> String {
        let case = self.file().await;
        self.act(
            &case,
            "verify",
            json!({"severity": "general", "responsible_party": "住户"}),
        )
        .await;
        self.act(
            &case,
            "order-rectification",
            json!({"measures": "移出楼道"}),
        )
        .await;
        case
    }
}

const EVIDENCE: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Operation {
    Filing,
    Action,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Filing => "filing (POST /v1/cases)",
            Operation::Action => "action on an existing case",
        }
    }
}

/// Cases made for a round of actions, shared among its clients: enough that each case takes a few
/// to a few dozen commits in a round, as cases in use have (a case's load grows with its history).
const CASES_PER_ROUND: usize = 320;

/// One round of `clients` loops of `operation`; returns how many per second, each one's latency
/// in microseconds, and the CPU the `watched` processes spent on each.
async fn round(
    office: &Office,
    watched: &Watched,
    operation: Operation,
    clients: usize,
) -> (f64, Histogram<u64>, CpuPerOperation) {
    // Each client acts on cases of its own, made before the clock starts, in turn.
    let mut cases: Vec<Vec<String>> = vec![Vec::new(); clients];
    if operation == Operation::Action {
        let per_client = (CASES_PER_ROUND / clients).max(1);
        let mut making = tokio::task::JoinSet::new();
        for client in 0..clients {
            let office = office.clone();
            making.spawn(async move {
                let mut mine = Vec::new();
                for _ in 0..per_client {
                    mine.push(office.rectifying_case().await);
                }
                (client, mine)
            });
        }
        for (client, mine) in making.join_all().await {
            cases[client] = mine;
        }
    }
    let cpu = watched.cpu();
    let until = Instant::now() + round_time();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mine in cases {
        let office = office.clone();
        tasks.spawn(async move {
            let mut latencies = Histogram::<u64>::new(3).unwrap();
            // Whether each case stands rectified (next: fail-reinspection) or rectifying.
            let mut rectified = vec![false; mine.len()];
            let mut turn = 0;
            while Instant::now() < until {
                let sent = Instant::now();
                match operation {
                    Operation::Filing => {
                        office.file().await;
                    }
                    Operation::Action => {
                        let i = turn % mine.len();
                        if rectified[i] {
                            office
                                .act(
                                    &mine[i],
                                    "fail-reinspection",
                                    json!({"reason": "复查不合格"}),
                                )
                                .await;
                        } else {
                            let body = json!({"evidence": [{"content_hash": EVIDENCE,
                                "media_type": "image/jpeg", "size": 1, "blob": "p.jpg"}]});
                            office.act(&mine[i], "report-rectified", body).await;
                        }
                        rectified[i] = !rectified[i];
                        turn += 1;
                    }
                }
                latencies.record(sent.elapsed().as_micros() as u64).unwrap();
            }
            latencies
        });
    }
    let mut all = Histogram::<u64>::new(3).unwrap();
    for latencies in tasks.join_all().await {
        all.add(latencies).unwrap();
    }
    let cpu = watched.cpu().since(&cpu, all.len());
    (all.len() as f64 / started.elapsed().as_secs_f64(), all, cpu)
}

/// The processes whose CPU each round counts: the server under test (Docket or the bare front),
/// nats-server when there is one, and this load generator (which is also the raw baselines'
/// client).
struct Watched {
    server: Option<u32>,
    nats: Option<u32>,
}

/// CPU time of the watched processes at one moment, in clock ticks (`/proc/<pid>/stat`'s
/// `utime + stime`: every thread, those ended included).
struct CpuTicks {
    server: Option<u64>,
    nats: Option<u64>,
    load: u64,
}

/// Microseconds of CPU per operation, per process.
#[derive(Clone, Copy, Default)]
struct CpuPerOperation {
    server: f64,
    nats: f64,
    load: f64,
}

impl Watched {
    fn cpu(&self) -> CpuTicks {
        CpuTicks {
            server: self.server.and_then(cpu_ticks),
            nats: self.nats.and_then(cpu_ticks),
            load: cpu_ticks(std::process::id()).unwrap_or(0),
        }
    }
}

impl CpuTicks {
    fn since(&self, before: &CpuTicks, operations: u64) -> CpuPerOperation {
        let per = |after: Option<u64>, before: Option<u64>| match (after, before) {
            (Some(a), Some(b)) if operations > 0 => {
                a.saturating_sub(b) as f64 * 1e6 / clock_ticks_per_second() / operations as f64
            }
            _ => 0.0,
        };
        CpuPerOperation {
            server: per(self.server, before.server),
            nats: per(self.nats, before.nats),
            load: per(Some(self.load), Some(before.load)),
        }
    }
}

/// `utime + stime` of process `pid`, in clock ticks; `None` once it is gone.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command's name, which is in parentheses and may hold spaces: the state
    // is field 3, utime field 14 and stime field 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn median_cpu(cpus: &[CpuPerOperation]) -> CpuPerOperation {
    let of = |f: fn(&CpuPerOperation) -> f64| median(cpus.iter().map(f).collect());
    CpuPerOperation {
        server: of(|c| c.server),
        nats: of(|c| c.nats),
        load: of(|c| c.load),
    }
}

struct Row {
    backend: &'static str,
    operation: Operation,
    clients: usize,
    per_second: f64,
    latencies: Histogram<u64>,
    baseline: f64,
    /// CPU per operation of each process (medians of the rounds).
    cpu: CpuPerOperation,
    /// CPU per raw operation: nats-server's, and the client's (this process).
    baseline_cpu: CpuPerOperation,
}

fn print(rows: &[Row], baseline_names: &[(&str, &str)]) {
    println!();
    println!(
        "| backend | operation | clients | per second (median) | p50 ms | p99 ms | max ms | raw baseline per second | ratio to raw |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let ms = |us: u64| us as f64 / 1000.0;
    for r in rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.0} | {:.2} |",
            r.backend,
            r.operation.name(),
            r.clients,
            r.per_second,
            ms(r.latencies.value_at_quantile(0.5)),
            ms(r.latencies.value_at_quantile(0.99)),
            ms(r.latencies.max()),
            r.baseline,
            r.per_second / r.baseline
        );
    }
    println!();
    println!(
        "CPU per operation, µs (medians of the rounds; `/proc` counts of each process over each round):"
    );
    println!();
    println!(
        "| backend | operation | clients | server | nats-server | load generator | all three (sum of the medians) | raw: nats-server | raw: client | raw: both |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let us = |x: f64| {
        if x > 0.0 {
            format!("{x:.0}")
        } else {
            "".to_owned()
        }
    };
    for r in rows {
        let (c, b) = (r.cpu, r.baseline_cpu);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.backend,
            r.operation.name(),
            r.clients,
            us(c.server),
            us(c.nats),
            us(c.load),
            us(c.server + c.nats + c.load),
            us(b.nats),
            us(b.load),
            us(b.server + b.nats + b.load),
        );
    }
    println!();
    for (backend, what) in baseline_names {
        println!("raw baseline, {backend}: {what}");
    }
}

fn clients() -> Vec<usize> {
    std::env::var("DOCKET_BENCH_CLIENTS")
        .ok()
        .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .unwrap_or_else(|| WRITERS.to_vec())
}

/// Runs every operation at every concurrency against `docket`, each beside `baseline` at the
/// same concurrency, measured in the same run.
async fn measure<B, Fut>(
    backend: &'static str,
    docket: &Docket,
    nats: Option<u32>,
    baseline: B,
    rows: &mut Vec<Row>,
) where
    B: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    let office = Office::open(docket).await;
    let operations = [Operation::Filing, Operation::Action];
    let watched = Watched {
        server: Some(docket.child.id()),
        nats,
    };
    measure_office(backend, &office, &watched, &operations, baseline, rows).await;
}

/// Runs `operations` at every concurrency against `office`, each beside `baseline` at the same
/// concurrency, measured in the same run.
async fn measure_office<B, Fut>(
    backend: &'static str,
    office: &Office,
    watched: &Watched,
    operations: &[Operation],
    baseline: B,
    rows: &mut Vec<Row>,
) where
    B: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = f64>,
{
    // Warm up: connections, caches, the first pages of the tables.
    round(office, watched, Operation::Filing, 4).await;
    // The raw baselines run beside no server: only nats-server and this process count.
    let raw_watched = Watched {
        server: None,
        nats: watched.nats,
    };
    for &operation in operations {
        for clients in clients() {
            let mut rates = Vec::new();
            let mut raw = Vec::new();
            let mut latencies = Histogram::<u64>::new(3).unwrap();
            let (mut cpus, mut raw_cpus) = (Vec::new(), Vec::new());
            for _ in 0..rounds() {
                let (before, started) = (raw_watched.cpu(), Instant::now());
                let raw_rate = baseline(clients).await;
                let raw_operations = (raw_rate * started.elapsed().as_secs_f64()).round() as u64;
                raw_cpus.push(raw_watched.cpu().since(&before, raw_operations));
                raw.push(raw_rate);
                let (rate, l, cpu) = round(office, watched, operation, clients).await;
                rates.push(rate);
                cpus.push(cpu);
                latencies.add(l).unwrap();
            }
            let row = Row {
                backend,
                operation,
                clients,
                per_second: median(rates),
                latencies,
                baseline: median(raw),
                cpu: median_cpu(&cpus),
                baseline_cpu: median_cpu(&raw_cpus),
            };
            eprintln!(
                "{backend} {:?} x{clients}: {:.0}/s (raw {:.0}/s)",
                operation, row.per_second, row.baseline
            );
            rows.push(row);
        }
    }
}

/// The bound this machine sets for any HTTP front of JetStream, Docket or not: a process that
/// takes a filing's JSON, publishes it as the first message of a subject of its own (expected
/// last subject sequence 0, a message id, as Docket's filing does) and answers with the new id
/// once acknowledged. No token, no deciding, no chain, no read model: only HTTP and the publish,
/// on the same two cores as nats-server and the load generator; then the same front reading the
/// stream as it grows, as Docket's projector follows the log. `DOCKET_BENCH_ONLY=bound` runs
/// both beside raw publish, as the `jetstream` rows run Docket.
mod bare {
    use async_nats::HeaderMap;
    use async_nats::jetstream::Context;
    use axum::Json;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::StatusCode;
    use serde_json::{Value, json};
    use uuid::Uuid;

    /// Set to a NATS address, this executable serves as the bare front instead of benchmarking.
    pub(crate) const FRONT_OF: &str = "DOCKET_BENCH_BARE_FRONT_OF";
    /// Set, the bare front also follows the stream (`follow`).
    pub(crate) const FOLLOWING: &str = "DOCKET_BENCH_BARE_FOLLOWING";

    pub(crate) fn serve(nats_url: &str) -> ! {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = async_nats::connect(nats_url).await.unwrap();
            let js = async_nats::jetstream::new(client);
            js.get_or_create_stream(async_nats::jetstream::stream::Config {
                name: "BARE".to_owned(),
                subjects: vec!["bare.>".to_owned()],
                storage: async_nats::jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await
            .unwrap();
            if std::env::var(FOLLOWING).is_ok() {
                follow(&js).await;
            }
            let app = axum::Router::new()
                .route("/v1/cases", axum::routing::post(file))
                .with_state(js);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("docket: serving http://{}", listener.local_addr().unwrap());
            axum::serve(listener, app).await.unwrap();
        });
        std::process::exit(0)
    }

    /// Reads the stream from its end on, on the same connection, decoding each message, as
    /// Docket's projector follows the log (and writing nothing).
    async fn follow(js: &Context) {
        use async_nats::jetstream::consumer::DeliverPolicy;
        use async_nats::jetstream::consumer::pull::OrderedConfig;
        use futures_util::StreamExt;
        let stream = js.get_stream("BARE").await.unwrap();
        let consumer = stream
            .create_consumer(OrderedConfig {
                filter_subject: "bare.>".to_owned(),
                deliver_policy: DeliverPolicy::New,
                ..OrderedConfig::default()
            })
            .await
            .unwrap();
        let mut messages = consumer.messages().await.unwrap();
        // A consumer's error is shown (the ordered consumer goes on after it); a follower that
        // ends ends the front, so that its rows never measure a front no longer following.
        tokio::spawn(async move {
            loop {
                match messages.next().await {
                    Some(Ok(message)) => {
                        let _: Value = serde_json::from_slice(&message.payload).unwrap();
                    }
                    Some(Err(e)) => eprintln!("the bare front's follower: {e}"),
                    None => {
                        eprintln!("the bare front's follower ended");
                        std::process::exit(1);
                    }
                }
            }
        });
    }

    async fn file(State(js): State<Context>, body: Bytes) -> (StatusCode, Json<Value>) {
        let filing: Value = match serde_json::from_slice(&body) {
            Ok(filing) => filing,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"detail": e.to_string()})),
                );
            }
        };
        let id = Uuid::now_v7();
        let payload = serde_json::to_vec(&json!({"case_id": id, "filing": filing})).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Expected-Last-Subject-Sequence", "0");
        headers.insert("Nats-Msg-Id", id.to_string().as_str());
        let acked = match js
            .publish_with_headers(format!("bare.{id}"), headers, payload.into())
            .await
        {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match acked {
            Ok(ack) => (
                StatusCode::CREATED,
                Json(json!({"case_id": id, "position": ack.sequence})),
            ),
            Err(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"detail": e.to_string()})),
            ),
        }
    }
}

/// Filings against the bare front (see `bare`), `following` the stream or not, each round beside
/// raw publish at the same concurrency.
async fn bound(
    js: &async_nats::jetstream::Context,
    nats: &docket_testkit::NatsServer,
    following: bool,
    rows: &mut Vec<Row>,
) {
    let front = Docket::bare(&nats.url(), following);
    let watched = Watched {
        server: Some(front.child.id()),
        nats: nats.pid(),
    };
    let office = Office {
        http: Office::client(),
        url: front.url.clone(),
        grid_worker: "unused".to_owned(),
        handler: "unused".to_owned(),
    };
    let backend = if following {
        "bare front of jetstream, following it"
    } else {
        "bare front of jetstream"
    };
    let payload = vec![b'x'; 600];
    let baseline = |clients| raw_publishes(js, &payload, clients);
    measure_office(
        backend,
        &office,
        &watched,
        &[Operation::Filing],
        baseline,
        rows,
    )
    .await;
}

fn main() {
    if let Ok(nats_url) = std::env::var(bare::FRONT_OF) {
        bare::serve(&nats_url);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::var("DOCKET_BENCH_ONLY").unwrap_or_default();
    let runs = |backend: &str| {
        if only.is_empty() {
            backend != "bound"
        } else {
            only.split(',').any(|o| o.trim() == backend)
        }
    };
    eprintln!(
        "docket bench-http: {} rounds of {:?}, clients {:?}",
        rounds(),
        round_time(),
        clients()
    );
    let mut rows = Vec::new();
    let body = String::from_utf8(vec![b'x'; 600]).unwrap();
    runtime.block_on(async {
        if runs("sqlite") {
            let raw_dir = tempfile::tempdir().unwrap();
            let db = raw_sqlite(&raw_dir.path().join("raw.sqlite"));
            let docket = Docket::start(&[]);
            measure(
                "sqlite (embedded)",
                &docket,
                None,
                |clients| raw_inserts(&db, &body, clients),
                &mut rows,
            )
            .await;
        }
        if runs("jetstream") || runs("bound") {
            let (nats, js, _) = raw_jetstream(raw_stream()).await;
            if runs("jetstream") {
                let docket = Docket::start(&["--log", &nats.url()]);
                let payload = body.as_bytes().to_vec();
                measure(
                    "jetstream",
                    &docket,
                    nats.pid(),
                    |clients| raw_publishes(&js, &payload, clients),
                    &mut rows,
                )
                .await;
            }
            if runs("bound") {
                for following in [false, true] {
                    bound(&js, &nats, following, &mut rows).await;
                }
            }
        }
    });
    print(
        &rows,
        &[
            (
                "sqlite",
                "INSERT of a 600-byte row, one per transaction, WAL, synchronous = FULL",
            ),
            (
                "jetstream",
                "publish of a 600-byte message with Nats-Expected-Last-Subject-Sequence, awaiting its ack",
            ),
        ],
    );
}
