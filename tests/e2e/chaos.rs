//! The cluster under faults, under load: the topology of deploy/ started natively (three NATS
//! nodes from deploy/nats, Postgres with a synchronous standby, two Docket replicas behind a
//! round-robin balancer), clients filing hazards and verifying them through the balancer, each
//! request retried with its idempotency key until answered, as a client in the field would. In
//! turn: a NATS node killed and restarted, a Docket replica killed, the projecting replica
//! killed, Postgres stopped and started, the read model failed over to the standby. At the end
//! every answered commit is in the log once where it was answered to be, `docket verify` passes
//! (every chain, and the read model against a rebuild), and no client waited longer than
//! UNAVAILABLE_BOUND for an answer. The numbers of each step are printed and written to
//! `target/chaos-report.txt`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use docket_eventlog::{EventLog, JetStreamConfig, JetStreamLog};
use docket_testkit::cluster::Topology;
use docket_tests::{directory_changes, docket_bin, workspace_root};
use serde_json::{Value, json};

/// The longest a client may go without an answer to a request it retries (docs/operations.md):
/// the loss of the stream's leader holds appends until the next one is elected (4 to 9 s on
/// nats-server; each commit is sent again until one answers), about twice that under load.
const UNAVAILABLE_BOUND: Duration = Duration::from_secs(25);
const CLIENTS: usize = 6;

/// What the clients saw in one step.
#[derive(Debug, Default, Clone)]
struct Step {
    name: &'static str,
    served: u64,
    errors: BTreeMap<String, u64>,
    /// The longest a request went unanswered, retries included.
    longest_wait: Duration,
    took: Duration,
}

#[derive(Debug, Default)]
struct Record {
    steps: Vec<Step>,
}

/// What a client was answered: the case, and the positions of its filing and its verification.
type Answered = (String, u64, Option<u64>);

/// Sends a request until it is answered with `expected`, retrying failures (no answer, 5xx, 429)
/// with the same idempotency key; any other answer fails the test. Notes every outcome in the
/// current step.
async fn until_answered(
    http: &reqwest::Client,
    request: impl Fn() -> reqwest::RequestBuilder,
    expected: reqwest::StatusCode,
    record: &Mutex<Record>,
    step: &AtomicUsize,
) -> Value {
    let began = Instant::now();
    let _ = http;
    loop {
        // Past the bound, the test has failed: say so rather than wait on.
        assert!(
            began.elapsed() < UNAVAILABLE_BOUND,
            "a request went unanswered for {} s (step {})",
            UNAVAILABLE_BOUND.as_secs(),
            step.load(Ordering::Relaxed)
        );
        let outcome = request().timeout(Duration::from_secs(10)).send().await;
        let kind = match outcome {
            Ok(response) if response.status() == expected => {
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if !body.is_null() {
                    let waited = began.elapsed();
                    if waited > Duration::from_secs(5) {
                        eprintln!(
                            "chaos: a request was answered after {:.1} s, in step {}",
                            waited.as_secs_f64(),
                            step.load(Ordering::Relaxed)
                        );
                    }
                    let mut r = record.lock().unwrap();
                    let s = &mut r.steps[step.load(Ordering::Relaxed)];
                    s.served += 1;
                    s.longest_wait = s.longest_wait.max(waited);
                    return body;
                }
                "answer cut off".to_owned()
            }
            Ok(response)
                if response.status().is_server_error()
                    || response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS =>
            {
                format!("HTTP {}", response.status().as_u16())
            }
            Ok(response) => {
                let status = response.status();
                panic!(
                    "a request was refused with {status}: {}",
                    response.text().await.unwrap_or_default()
                );
            }
            Err(e) if e.is_timeout() => "timed out".to_owned(),
            Err(e) if e.is_connect() => "no connection".to_owned(),
            Err(_) => "connection lost".to_owned(),
        };
        {
            let mut r = record.lock().unwrap();
            let s = &mut r.steps[step.load(Ordering::Relaxed)];
            *s.errors.entry(kind).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One client: files a hazard, verifies it, again and again, until told to stop (finishing the
/// case in hand).
async fn client(
    n: usize,
    url: String,
    grid: String,
    handler: String,
    record: Arc<Mutex<Record>>,
    step: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Vec<Answered> {
    let http = reqwest::Client::new();
    let mut answered = Vec::new();
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let key = format!("chaos-{n}-{i}-{}", uuid::Uuid::now_v7());
        let filed = until_answered(
            &http,
            || {
                http.post(format!("{url}/v1/cases"))
                    .bearer_auth(&grid)
                    .header("idempotency-key", format!("{key}-file"))
                    .json(&json!({
                        "kind": "hazard", "community": "qinghe", "grid": "qinghe-01",
                        "unit": "qinghe-safety", "title": format!("混沌 {n}-{i}"),
                        "category": "gas", "severity": "general", "source": "grid-worker"
                    }))
            },
            reqwest::StatusCode::CREATED,
            &record,
            &step,
        )
        .await;
        let id = filed["case_id"].as_str().unwrap().to_owned();
        let position = filed["position"].as_u64().unwrap();
        answered.push((id.clone(), position, None));
        let verified = until_answered(
            &http,
            || {
                http.post(format!("{url}/v1/cases/{id}/actions/verify"))
                    .bearer_auth(&handler)
                    .header("idempotency-key", format!("{key}-verify"))
                    .json(&json!({"severity": "major", "responsible_party": "餐馆"}))
            },
            reqwest::StatusCode::OK,
            &record,
            &step,
        )
        .await;
        answered.last_mut().unwrap().2 = Some(verified["position"].as_u64().unwrap());
    }
    answered
}

fn report(steps: &[Step]) -> String {
    let mut text = format!(
        "{:<34} {:>7} {:>8} {:>9}  errors by kind\n",
        "step", "took s", "answers", "longest s"
    );
    for s in steps {
        let errors = if s.errors.is_empty() {
            "none".to_owned()
        } else {
            s.errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        text.push_str(&format!(
            "{:<34} {:>7.1} {:>8} {:>9.2}  {errors}\n",
            s.name,
            s.took.as_secs_f64(),
            s.served,
            s.longest_wait.as_secs_f64()
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cluster_loses_no_answered_commit_through_node_replica_and_database_faults() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let docket = docket_bin();
    let mut topology = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || Topology::start(&docket, &dir)
    })
    .await
    .unwrap();
    eprintln!(
        "chaos: cluster up in {:.1} s at {}",
        started.elapsed().as_secs_f64(),
        topology.url()
    );
    let url = topology.url();
    let admin = topology.token("admin", &[]);
    let http = reqwest::Client::new();
    for (i, (action, body)) in directory_changes().iter().enumerate() {
        let r = http
            .post(format!("{url}/v1/directory/actions/{action}"))
            .bearer_auth(&admin)
            .header("idempotency-key", format!("chaos-directory-{i}"))
            .json(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{action}: {}", r.status());
    }
    let grid = topology.token("grid_worker", &["--grids", "qinghe-01"]);
    let handler = topology.token("handler", &["--unit", "qinghe-safety"]);

    let names = [
        "steady load",
        "a NATS node killed, restarted",
        "a Docket replica killed, restarted",
        "the projecting replica killed",
        "Postgres stopped, started",
        "the read model failed over",
        "after",
    ];
    let record = Arc::new(Mutex::new(Record {
        steps: names
            .iter()
            .map(|name| Step {
                name,
                ..Step::default()
            })
            .collect(),
    }));
    let step = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    for n in 0..CLIENTS {
        clients.spawn(client(
            n,
            url.clone(),
            grid.clone(),
            handler.clone(),
            record.clone(),
            step.clone(),
            stop.clone(),
        ));
    }
    let mut step_began = Instant::now();
    let mut next_step = |record: &Mutex<Record>, step: &AtomicUsize| {
        let i = step.load(Ordering::Relaxed);
        record.lock().unwrap().steps[i].took = step_began.elapsed();
        step_began = Instant::now();
        step.store(i + 1, Ordering::Relaxed);
        eprintln!("chaos: {}", names[i + 1]);
    };
    let pause = |seconds: u64| tokio::time::sleep(Duration::from_secs(seconds));
    // Blocking work on the topology (waiting for a process) off the runtime's threads.
    macro_rules! blocking {
        ($body:expr) => {
            tokio::task::block_in_place(|| $body)
        };
    }

    pause(3).await;
    next_step(&record, &step);
    // The node that leads the stream: its loss is the one clients can feel.
    let leader = blocking!(topology.nats.stream_leader("DOCKET")).expect("the stream has a leader");
    eprintln!(
        "chaos: killing {}, the stream's leader",
        topology.nats.nodes[leader].name()
    );
    blocking!(topology.nats.nodes[leader].kill());
    pause(4).await;
    blocking!(topology.nats.nodes[leader].restart());
    pause(3).await;

    next_step(&record, &step);
    let projecting = blocking!(topology.projecting_replica(Duration::from_secs(15)))
        .expect("a replica projects");
    let other = 1 - projecting;
    blocking!(topology.replicas[other].kill());
    pause(3).await;
    blocking!(topology.replicas[other].restart());
    pause(3).await;

    next_step(&record, &step);
    blocking!(topology.replicas[projecting].kill());
    assert_eq!(
        blocking!(topology.projecting_replica(Duration::from_secs(15))),
        Some(other),
        "the other replica took the projection over"
    );
    pause(2).await;
    blocking!(topology.replicas[projecting].restart());
    pause(3).await;

    next_step(&record, &step);
    blocking!(topology.primary().stop());
    pause(3).await;
    blocking!(topology.primary().start_again());
    pause(3).await;

    next_step(&record, &step);
    blocking!(topology.fail_over());
    pause(5).await;

    next_step(&record, &step);
    pause(2).await;
    stop.store(true, Ordering::Relaxed);
    let answered: Vec<Answered> = clients.join_all().await.into_iter().flatten().collect();
    {
        let mut r = record.lock().unwrap();
        let last = r.steps.len() - 1;
        r.steps[last].took = step_began.elapsed();
    }
    let steps = record.lock().unwrap().steps.clone();
    let text = report(&steps);
    eprintln!("chaos: {} cases filed and verified\n{text}", answered.len());
    let _ = std::fs::create_dir_all(workspace_root().join("target"));
    let _ = std::fs::write(
        workspace_root().join("target/chaos-report.txt"),
        format!("{} cases filed and verified\n{text}", answered.len()),
    );

    // Every answered commit is in the log, once, where it was answered to be.
    let log = JetStreamLog::connect(
        &topology.log_url(),
        JetStreamConfig {
            replicas: 3,
            ..JetStreamConfig::default()
        },
    )
    .await
    .unwrap();
    for (id, filed, verified) in &answered {
        let commits = log.read_case("demo", id.parse().unwrap()).await.unwrap();
        let positions: Vec<u64> = commits.iter().map(|r| r.position).collect();
        assert_eq!(
            positions,
            vec![*filed, verified.expect("every case was verified")],
            "case {id}: its filing and verification, once each, where they were answered"
        );
    }
    // No filing twice: the log holds as many hazards as were answered.
    let (mut after, mut hazards) = (0, 0);
    let head = log.head().await.unwrap();
    while after < head {
        let page = log.read_all(after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.position;
        hazards += page
            .iter()
            .filter(|r| r.commit.body.version == 1 && r.commit.body.case_kind == "hazard")
            .count();
    }
    assert_eq!(hazards, answered.len(), "every filing in the log once");

    // The texts sealed under the cases' keys still open (the keys survived the stop and the
    // failover of the database they live in): a sample across the whole run, as the handler.
    let step_size = (answered.len() / 100).max(1);
    for (id, _, verified) in answered.iter().step_by(step_size) {
        let response = http
            .get(format!(
                "{url}/v1/cases/{id}?min_position={}",
                verified.unwrap()
            ))
            .bearer_auth(&handler)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK, "case {id}");
        let case: Value = response.json().await.unwrap();
        assert_eq!(
            case["case"]["responsible_party"], "餐馆",
            "case {id}'s sealed text opens: {case}"
        );
    }

    // Every chain, and the read model against a rebuild (once it has caught up).
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let verified = blocking!(topology.docket(&["verify"]));
        if verified.status.success() {
            break;
        }
        assert!(
            Instant::now() < until,
            "docket verify on the cluster: {}{}",
            String::from_utf8_lossy(&verified.stdout),
            String::from_utf8_lossy(&verified.stderr)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for s in &steps {
        assert!(
            s.longest_wait < UNAVAILABLE_BOUND,
            "{}: a client waited {:.1} s for an answer\n{text}",
            s.name,
            s.longest_wait.as_secs_f64()
        );
        assert!(s.served > 0, "{}: answers went on\n{text}", s.name);
    }
    eprintln!("chaos: done in {:.1} s", started.elapsed().as_secs_f64());
    drop(topology);
}
