//! The read model through crashes: the projector killed mid-batch, Postgres stopped mid-stream,
//! and two replicas sharing one Postgres where the one projecting dies. After each, the model
//! equals a full rebuild from the log, row for row (compared by digest).

use std::sync::Arc;
use std::time::Duration;

use docket_eventlog::{EventLog, JetStreamConfig, JetStreamLog, SqliteLog};
use docket_projections::{CASES, Projector, ReadModel};
use docket_testkit::{NatsServer, PgCluster, PgDatabase};
use docket_tests::{Server, data_dir};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::call;

/// Files `count` hazards through `clients` concurrent clients; returns the last position.
async fn file_many(url: &str, token: &str, clients: usize, count: usize) -> u64 {
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (url, token) = (url.to_owned(), token.to_owned());
        let mine = (client..count).step_by(clients).count();
        tasks.push(tokio::spawn(async move {
            let mut last = 0;
            for n in 0..mine {
                let (status, body) = call(
                    Method::POST,
                    &format!("{url}/v1/cases"),
                    &token,
                    Some(json!({
                        "kind": "hazard", "community": "qinghe", "grid": format!("g-{}", n % 7),
                        "title": format!("隐患 {client}-{n}"), "category": "fire",
                        "severity": "general", "source": "grid-worker"
                    })),
                )
                .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
                last = last.max(body["position"].as_u64().unwrap());
            }
            last
        }));
    }
    let mut last = 0;
    for t in tasks {
        last = last.max(t.await.unwrap());
    }
    last
}

/// Polls the model's checkpoint until `done` says so, at most `within`.
async fn wait_for_checkpoint(
    read: &ReadModel,
    within: Duration,
    done: impl Fn(u64) -> bool,
) -> u64 {
    let until = tokio::time::Instant::now() + within;
    loop {
        let at = read.checkpoint(CASES).await.unwrap_or(0);
        if done(at) {
            return at;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "checkpoint stuck at {at}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The digest of a model built afresh from the whole log.
async fn rebuilt_digest(log: Arc<dyn EventLog>, fresh: ReadModel) -> String {
    Projector::new(log, fresh.clone()).catch_up().await.unwrap();
    fresh.digest().await.unwrap()
}

/// Fills a log, then starts a server whose read model must project all of it, kills it mid-way,
/// restarts it, and compares its model with a rebuild.
async fn sigkill_mid_projection(read_model: Option<(&str, &str)>) {
    let dir = data_dir();
    let mut args = Vec::new();
    if let Some((url, _)) = read_model {
        args = vec!["--read-model", url];
    }
    let mut server = Server::start(dir.path());
    let token = server.token("supervisor");
    let head = file_many(&server.url, &token, 16, 3000).await;
    assert!(server.terminate());
    for file in ["read.sqlite", "read.sqlite-wal", "read.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.path().join(file));
    }

    // One commit a batch, so the projection of 3,000 commits takes long enough to be killed in
    // (with ten a batch it could finish before the test had set up and looked).
    let mut slow = args.clone();
    slow.extend(["--projection-batch", "1"]);
    let mut server = Server::start_with(dir.path(), &slow);
    let model = match read_model {
        Some((url, _)) => ReadModel::connect(url, "sqlite").await.unwrap(),
        None => ReadModel::open(dir.path().join("read.sqlite"), "sqlite")
            .await
            .unwrap(),
    };
    let at = wait_for_checkpoint(&model, Duration::from_secs(60), |at| at >= 300).await;
    server.kill();
    let stopped_at = model.checkpoint(CASES).await.unwrap();
    assert!(
        stopped_at < head,
        "killed mid-projection ({at}, {stopped_at} of {head})"
    );

    let server = Server::start_with(dir.path(), &args);
    wait_for_checkpoint(&model, Duration::from_secs(60), |at| at == head).await;
    drop(server);
    let log: Arc<dyn EventLog> = Arc::new(SqliteLog::open(dir.path().join("log.sqlite")).unwrap());
    let fresh = match read_model {
        Some((_, rebuild_url)) => ReadModel::connect(rebuild_url, "sqlite").await.unwrap(),
        None => ReadModel::open(dir.path().join("rebuild.sqlite"), "sqlite")
            .await
            .unwrap(),
    };
    assert_eq!(
        model.digest().await.unwrap(),
        rebuilt_digest(log, fresh).await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_projector_killed_mid_batch_resumes_to_the_same_sqlite_model_as_a_rebuild() {
    sigkill_mid_projection(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_projector_killed_mid_batch_resumes_to_the_same_postgres_model_as_a_rebuild() {
    let (db, rebuild) = (PgDatabase::fresh(), PgDatabase::fresh());
    sigkill_mid_projection(Some((db.url(), rebuild.url()))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_stopped_mid_stream_and_restarted_ends_as_a_rebuild() {
    let cluster = Arc::new(tokio::task::spawn_blocking(PgCluster::start).await.unwrap());
    let url = cluster.create_database("docket");
    let rebuild_url = cluster.create_database("rebuild");
    let dir = data_dir();
    let server = Server::start_with(dir.path(), &["--read-model", &url]);
    let token = server.token("supervisor");
    let model = ReadModel::connect(&url, "sqlite").await.unwrap();

    let filing = tokio::spawn({
        let (url, token) = (server.url.clone(), token.clone());
        async move { file_many(&url, &token, 8, 2000).await }
    });
    wait_for_checkpoint(&model, Duration::from_secs(60), |at| at >= 300).await;
    model.close().await;
    let stopping = cluster.clone();
    tokio::task::spawn_blocking(move || stopping.stop())
        .await
        .unwrap();
    // Commands go on: the log is not in Postgres. The projector waits and retries.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let starting = cluster.clone();
    tokio::task::spawn_blocking(move || starting.start_again())
        .await
        .unwrap();
    let head = filing.await.unwrap();
    let model = ReadModel::connect(&url, "sqlite").await.unwrap();
    wait_for_checkpoint(&model, Duration::from_secs(60), |at| at == head).await;
    drop(server);
    let log: Arc<dyn EventLog> = Arc::new(SqliteLog::open(dir.path().join("log.sqlite")).unwrap());
    let fresh = ReadModel::connect(&rebuild_url, "sqlite").await.unwrap();
    assert_eq!(
        model.digest().await.unwrap(),
        rebuilt_digest(log, fresh).await
    );
}

/// Who holds the projection lease on this database, as Postgres sees it.
async fn lease_holders(url: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let n = sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    n
}

/// Two replicas on one Postgres read model: the one leading the projection is killed while it
/// follows a steady stream of filings, the other takes over within seconds, and the model then
/// equals one rebuilt from the log (no commit applied twice or skipped).
#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_one_postgres_the_survivor_takes_over_the_projection() {
    let nats = NatsServer::start();
    let (db, rebuild) = (PgDatabase::fresh(), PgDatabase::fresh());
    let (dir_a, dir_b) = (data_dir(), data_dir());
    let args = ["--log", &nats.url(), "--read-model", db.url()];
    let mut a = Server::start_with(dir_a.path(), &args);
    // A holds the lease before B starts.
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while lease_holders(db.url()).await != 1 {
        assert!(tokio::time::Instant::now() < until, "A took the lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = Server::start_with(dir_b.path(), &args);
    let (token_a, token_b) = (a.token("supervisor"), b.token("supervisor"));
    let (first_a, first_b) = tokio::join!(
        file_many(&a.url, &token_a, 4, 200),
        file_many(&b.url, &token_b, 4, 200)
    );
    // B reads what A projected.
    let seen = first_a.max(first_b);
    let (status, page) = call(
        Method::GET,
        &format!("{}/v1/cases?min_position={seen}&limit=1", b.url),
        &token_b,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");

    // A is killed while it follows the log: B files on before, during and after, so A has
    // commits read, numbered or in a batch being written when it dies.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let filing = tokio::spawn({
        let (url, token, stop) = (b.url.clone(), token_b.clone(), stop.clone());
        async move {
            let mut last = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                last = last.max(file_many(&url, &token, 4, 4).await);
            }
            last
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill();
    let started = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let last = filing.await.unwrap();
    loop {
        let (status, _) = call(
            Method::GET,
            &format!("{}/v1/cases?min_position={last}&limit=1", b.url),
            &token_b,
            None,
        )
        .await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "B took over within seconds"
        );
    }
    assert_eq!(lease_holders(db.url()).await, 1, "B holds the lease now");
    drop(b);
    let model = ReadModel::connect(db.url(), "nats:DOCKET").await.unwrap();
    assert_eq!(model.checkpoint(CASES).await.unwrap(), last);
    let log: Arc<dyn EventLog> = Arc::new(
        JetStreamLog::connect(&nats.url(), JetStreamConfig::default())
            .await
            .unwrap(),
    );
    let fresh = ReadModel::connect(rebuild.url(), "nats:DOCKET")
        .await
        .unwrap();
    assert_eq!(
        model.digest().await.unwrap(),
        rebuilt_digest(log, fresh).await,
        "no commit applied twice or skipped"
    );
}

/// Runs `docket rebuild` on a served data directory while a client reads the list; the client
/// sees every case on every read, before, during and after the swap.
async fn rebuild_while_a_client_reads(read_model: Option<&str>) {
    let dir = data_dir();
    let mut args = Vec::new();
    if let Some(url) = read_model {
        args = vec!["--read-model", url];
    }
    let server = Server::start_with(dir.path(), &args);
    let token = server.token("supervisor");
    let filer = server.token("supervisor");
    let head = file_many(&server.url, &filer, 8, 1500).await;
    let (status, _) = call(
        Method::GET,
        &format!("{}/v1/cases?min_position={head}&limit=1", server.url),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The list is newest first by case id; note which case heads it before the rebuild.
    let (_, before) = call(
        Method::GET,
        &format!("{}/v1/cases?limit=1", server.url),
        &token,
        None,
    )
    .await;
    let newest = before["items"][0]["number"].as_str().unwrap().to_owned();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = tokio::spawn({
        let (url, token, stop, newest) = (
            server.url.clone(),
            token.clone(),
            stop.clone(),
            newest.clone(),
        );
        async move {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, page) = call(
                    Method::GET,
                    &format!("{url}/v1/cases?limit=200&filed_from=2000-01-01"),
                    &token,
                    None,
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{page}");
                let items = page["items"].as_array().unwrap();
                assert_eq!(items.len(), 200, "a full page on every read");
                assert!(page["next_cursor"].is_string(), "and more after it");
                // A model built part-way (in log order) would lack the newest cases.
                assert_eq!(
                    items[0]["number"],
                    newest.as_str(),
                    "the same newest case first"
                );
                reads += 1;
            }
            reads
        }
    });
    let mut command = std::process::Command::new(docket_tests::docket_bin());
    command
        .args(["rebuild", "--data-dir"])
        .arg(dir.path())
        .args(&args);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("rebuilt cases to position {head}")),
        "{said}"
    );
    assert!(
        reads >= 3,
        "the client read during the rebuild ({reads} reads)"
    );

    // The server goes on projecting into the swapped-in model.
    let (status, filed) = call(
        Method::POST,
        &format!("{}/v1/cases", server.url),
        &filer,
        Some(
            json!({"kind": "hazard", "community": "qinghe", "title": "after the rebuild",
                    "category": "gas", "severity": "general", "source": "grid-worker"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    assert!(
        filed["number"].as_str().unwrap().ends_with("-001501"),
        "{filed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_on_sqlite_never_shows_a_reader_a_partial_model() {
    rebuild_while_a_client_reads(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_on_postgres_never_shows_a_reader_a_partial_model() {
    let db = PgDatabase::fresh();
    rebuild_while_a_client_reads(Some(db.url())).await;
}

#[test]
fn rebuild_names_the_projections_it_knows() {
    let dir = data_dir();
    let out = std::process::Command::new(docket_tests::docket_bin())
        .args(["rebuild", "parcels", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("unknown projection \"parcels\"") && said.contains("cases"),
        "{said}"
    );
}
