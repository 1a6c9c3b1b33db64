//! Faults on the JetStream log: the server killed mid-stream, a cluster node lost. Every
//! acknowledged commit must be there once, in order, with its chain intact.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use docket_eventlog::contract::commit;
use docket_eventlog::{
    ChainHash, Commit, EventLog, JetStreamConfig, JetStreamLog, LogError, verify_chain,
};
use docket_testkit::{NatsCluster, NatsServer};
use uuid::Uuid;

/// Commits each writer appends: enough to be mid-stream when the fault strikes.
const VERSIONS: u64 = 400;

/// One writer: appends `versions` commits to its own case, retrying a failed append with the very
/// same commit (same id) until the log answers. Returns the case and the commits acknowledged.
async fn writer(
    log: Arc<JetStreamLog>,
    versions: u64,
    errors_seen: Arc<AtomicBool>,
    progress: Arc<AtomicU64>,
) -> (Uuid, Vec<Commit>) {
    let case = Uuid::now_v7();
    let mut prev = ChainHash::genesis();
    let mut acked = Vec::new();
    for version in 1..=versions {
        let c = commit("t1", case, version, prev.clone());
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(attempts < 600, "append of version {version} never answered");
            match log.append(&c).await {
                Ok(_) => break,
                Err(LogError::Unavailable(_)) => {
                    errors_seen.store(true, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(LogError::Conflict { .. }) => {
                    // As the command service does: read the case and see whose commit is there.
                    let now = settled(|| log.read_case("t1", case)).await;
                    if now
                        .iter()
                        .any(|r| r.commit.body.commit_id == c.body.commit_id)
                    {
                        break;
                    }
                    let at = now.last().map_or(0, |r| r.commit.body.version);
                    assert_eq!(at, version - 1, "only this writer writes this case");
                }
                Err(other) => panic!("version {version}: unexpected {other:?}"),
            }
        }
        prev = c.hash.clone();
        acked.push(c);
        progress.fetch_add(1, Ordering::Relaxed);
    }
    (case, acked)
}

/// Waits until the writers together have had `n` commits acknowledged: the fault then strikes
/// mid-stream however fast the machine is.
async fn after_acknowledged(progress: &AtomicU64, n: u64) {
    while progress.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The server, restarted on its own data (on a blocking thread: it waits for the port).
async fn restarted(mut server: NatsServer) -> NatsServer {
    tokio::task::spawn_blocking(move || {
        server.restart();
        server
    })
    .await
    .unwrap()
}

/// Appends `commit` once the restarted server takes it, retrying while it is unavailable (for
/// 30 s at most); returns when the append was answered.
async fn appended_once_back(log: &JetStreamLog, commit: &Commit) -> std::time::Instant {
    for _ in 0..300 {
        match log.append(commit).await {
            Ok(_) => return std::time::Instant::now(),
            Err(LogError::Unavailable(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(other) => panic!("{other:?}"),
        }
    }
    panic!("the restarted server never took the append")
}

/// Retries a read the way a reader does while the cluster settles after a fault.
async fn settled<T, F, Fut>(mut read: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, LogError>>,
{
    for _ in 0..60 {
        match read().await {
            Ok(v) => return v,
            Err(LogError::Unavailable(_)) => tokio::time::sleep(Duration::from_millis(500)).await,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    panic!("the log did not answer within 30 s")
}

async fn check_everything_acknowledged_is_there_once(
    log: &JetStreamLog,
    written: &[(Uuid, Vec<Commit>)],
) {
    for (case, acked) in written {
        let stored: Vec<Commit> = settled(|| log.read_case("t1", *case))
            .await
            .into_iter()
            .map(|r| r.commit)
            .collect();
        assert_eq!(
            &stored, acked,
            "case {case}: exactly the acknowledged commits, in order"
        );
        verify_chain(&stored).unwrap();
    }
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = settled(|| log.read_all(after, 1000)).await;
        let Some(last) = page.last() else { break };
        after = last.position;
        all.extend(page);
    }
    let total: usize = written.iter().map(|(_, c)| c.len()).sum();
    assert_eq!(
        all.len(),
        total,
        "no commit twice in the stream, none extra"
    );
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_of_the_server_loses_no_acknowledged_commit() {
    let mut server = NatsServer::start();
    let log = Arc::new(
        JetStreamLog::connect(&server.url(), JetStreamConfig::default())
            .await
            .unwrap(),
    );
    let errors_seen = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (log, errors, progress) = (log.clone(), errors_seen.clone(), progress.clone());
            tokio::spawn(writer(log, VERSIONS, errors, progress))
        })
        .collect();

    after_acknowledged(&progress, 8 * VERSIONS / 4).await;
    server.kill();
    let at_kill = progress.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _server = restarted(server).await;
    let mut written = Vec::new();
    for w in writers {
        written.push(w.await.unwrap());
    }
    // The kill struck mid-stream. (Whether a writer saw an error depends on timing: the client
    // may hold a publish through the restart and have it acknowledged after.)
    assert!(
        at_kill < 8 * VERSIONS,
        "the kill happened while writers were appending"
    );
    check_everything_acknowledged_is_there_once(&log, &written).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_keeps_appending_when_a_node_stops() {
    let mut cluster = tokio::task::spawn_blocking(|| NatsCluster::start(3))
        .await
        .unwrap();
    let config = JetStreamConfig {
        replicas: 3,
        ..JetStreamConfig::default()
    };
    let log = Arc::new(
        JetStreamLog::connect(&cluster.urls(), config)
            .await
            .unwrap(),
    );
    let errors_seen = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (log, errors, progress) = (log.clone(), errors_seen.clone(), progress.clone());
            tokio::spawn(writer(log, VERSIONS, errors, progress))
        })
        .collect();

    after_acknowledged(&progress, 4 * VERSIONS / 4).await;
    let before = settled(|| log.head()).await;
    cluster.nodes[2].kill();
    let mut written = Vec::new();
    for w in writers {
        written.push(w.await.unwrap());
    }
    let after = settled(|| log.head()).await;
    let total = 4 * VERSIONS;
    assert!(
        before < total,
        "the node stopped while writers were appending ({before} of {total} done)"
    );
    assert_eq!(after, total, "appends went on with two of three nodes");
    check_everything_acknowledged_is_there_once(&log, &written).await;
}

/// The reader of the whole log (the projector's) follows again within two seconds of the first
/// commit appended after a server restart: its consumer, which did not survive, is made anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tail_follows_again_within_two_seconds_of_a_restart() {
    let server = NatsServer::start();
    let log = JetStreamLog::connect(&server.url(), JetStreamConfig::default())
        .await
        .unwrap();
    let case = Uuid::now_v7();
    let first = commit("t1", case, 1, ChainHash::genesis());
    log.append(&first).await.unwrap();
    assert_eq!(log.read_all(0, 10).await.unwrap().len(), 1);
    // Caught up: the tail waits at position 2.
    assert!(log.read_all(1, 10).await.unwrap().is_empty());

    let mut server = restarted(server).await;
    // As the projector does: waiting for the next commit while it is appended.
    let log = Arc::new(log);
    let waiting = tokio::spawn({
        let log = log.clone();
        async move {
            loop {
                match log.wait_for(1, Duration::from_secs(10)).await {
                    Ok(head) if head > 1 => return std::time::Instant::now(),
                    Ok(_) | Err(LogError::Unavailable(_)) => {}
                    Err(other) => panic!("{other:?}"),
                }
            }
        }
    });
    let second = commit("t1", case, 2, first.hash.clone());
    let appended = appended_once_back(&log, &second).await;
    let woke = waiting.await.unwrap();
    assert!(
        woke.saturating_duration_since(appended) < Duration::from_secs(2),
        "the wait woke {:?} after the append",
        woke.saturating_duration_since(appended)
    );
    loop {
        match log.read_all(1, 10).await {
            Ok(page) if !page.is_empty() => {
                assert_eq!(page[0].commit.body.commit_id, second.body.commit_id);
                break;
            }
            Ok(_) | Err(LogError::Unavailable(_)) => {}
            Err(other) => panic!("{other:?}"),
        }
        assert!(
            appended.elapsed() < Duration::from_secs(2),
            "the tail did not follow within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(appended.elapsed() < Duration::from_secs(2));
    server.kill();
}

/// A follower waiting with `read_next` (the SQLite read model's projector) reads the first commit
/// appended after a server restart within two seconds: it asks for the head only when a second
/// passes with nothing handed over, and then makes its consumer anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_reads_on_within_two_seconds_of_a_restart() {
    let server = NatsServer::start();
    let log = Arc::new(
        JetStreamLog::connect(&server.url(), JetStreamConfig::default())
            .await
            .unwrap(),
    );
    let case = Uuid::now_v7();
    let first = commit("t1", case, 1, ChainHash::genesis());
    log.append(&first).await.unwrap();
    let wait = Duration::from_secs(10);
    assert_eq!(log.read_next(0, 10, wait).await.unwrap().len(), 1);

    let mut server = restarted(server).await;
    let following = tokio::spawn({
        let log = log.clone();
        async move {
            loop {
                match log.read_next(1, 10, wait).await {
                    Ok(page) if !page.is_empty() => return (std::time::Instant::now(), page),
                    Ok(_) => {}
                    // As the projector does, a moment's pause before trying again.
                    Err(LogError::Unavailable(_)) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(other) => panic!("{other:?}"),
                }
            }
        }
    });
    let second = commit("t1", case, 2, first.hash.clone());
    let appended = appended_once_back(&log, &second).await;
    let (read, page) = tokio::time::timeout(Duration::from_secs(10), following)
        .await
        .expect("the follower read on")
        .unwrap();
    let read_ids: Vec<(u64, Uuid)> = page
        .iter()
        .map(|r| (r.position, r.commit.body.commit_id))
        .collect();
    assert_eq!(read_ids, vec![(2, second.body.commit_id)]);
    assert!(
        read.saturating_duration_since(appended) < Duration::from_secs(2),
        "read {:?} after the append",
        read.saturating_duration_since(appended)
    );
    server.kill();
}
