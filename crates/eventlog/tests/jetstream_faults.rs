//! Faults on the JetStream log: the server killed mid-stream, a cluster node lost. Every
//! acknowledged commit must be there once, in order, with its chain intact.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::stream::Stream;
use docket_eventlog::contract::commit;
use docket_eventlog::{
    ChainHash, Commit, EventLog, JetStreamConfig, JetStreamLog, LogError, verify_chain,
};
use docket_testkit::{NatsCluster, NatsServer};
use uuid::Uuid;

/// Commits each writer appends: enough to be mid-stream when the fault strikes.
const VERSIONS: u64 = 400;

/// What the writers of one test share.
#[derive(Debug, Default)]
struct Writing {
    /// Whether any append was answered unavailable.
    errors_seen: AtomicBool,
    /// Appends the log refused as conflicts (only one writer writes each case, so each of these
    /// was the writer's own commit or nothing at all in the way).
    conflicts: AtomicU64,
    /// Commits acknowledged, all writers together.
    progress: AtomicU64,
    /// Set to have each writer stop after the commit in hand.
    stop: AtomicBool,
}

/// One writer: appends up to `versions` commits to its own case (fewer if told to stop),
/// retrying a failed append with the very same commit (same id) until the log answers. Returns
/// the case and the commits acknowledged.
async fn writer(
    log: Arc<JetStreamLog>,
    versions: u64,
    writing: Arc<Writing>,
) -> (Uuid, Vec<Commit>) {
    let case = Uuid::now_v7();
    let mut prev = ChainHash::genesis();
    let mut acked = Vec::new();
    for version in 1..=versions {
        if writing.stop.load(Ordering::Relaxed) {
            break;
        }
        let c = commit("t1", case, version, prev.clone());
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(attempts < 600, "append of version {version} never answered");
            match log.append(&c).await {
                Ok(_) => break,
                Err(LogError::Unavailable(_)) => {
                    writing.errors_seen.store(true, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(LogError::Conflict { .. }) => {
                    writing.conflicts.fetch_add(1, Ordering::Relaxed);
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
        writing.progress.fetch_add(1, Ordering::Relaxed);
    }
    (case, acked)
}

/// `n` writers of `versions` commits each, started.
fn writers(
    log: &Arc<JetStreamLog>,
    n: usize,
    versions: u64,
    writing: &Arc<Writing>,
) -> Vec<tokio::task::JoinHandle<(Uuid, Vec<Commit>)>> {
    (0..n)
        .map(|_| tokio::spawn(writer(log.clone(), versions, writing.clone())))
        .collect()
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
    let (mut server, log) = server_and_log().await;
    let log = Arc::new(log);
    let writing = Arc::new(Writing::default());
    let writers = writers(&log, 8, VERSIONS, &writing);

    after_acknowledged(&writing.progress, 8 * VERSIONS / 4).await;
    server.kill();
    let at_kill = writing.progress.load(Ordering::Relaxed);
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
    let (mut cluster, log) = cluster_and_log().await;
    let writing = Arc::new(Writing::default());
    let writers = writers(&log, 4, VERSIONS, &writing);

    after_acknowledged(&writing.progress, 4 * VERSIONS / 4).await;
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

/// Follows the log's end as the projector does, counting the commits read into `read`.
async fn follow(reader: Arc<dyn EventLog>, read: Arc<AtomicU64>) {
    let mut after = 0;
    loop {
        match reader.read_next(after, 1000, Duration::from_secs(1)).await {
            Ok(page) => {
                if let Some(last) = page.last() {
                    after = last.position;
                }
                read.fetch_add(page.len() as u64, Ordering::Relaxed);
            }
            Err(LogError::Unavailable(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(other) => panic!("the follower: {other:?}"),
        }
    }
}

/// One server, and the log on it.
async fn server_and_log() -> (NatsServer, JetStreamLog) {
    let server = NatsServer::start();
    let log = JetStreamLog::connect(&server.url(), JetStreamConfig::default())
        .await
        .unwrap();
    (server, log)
}

/// The log's stream on `server`, as another client of the server sees it.
async fn the_stream(server: &NatsServer) -> (async_nats::jetstream::Context, Stream) {
    let js = async_nats::jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let stream = js.get_stream("DOCKET").await.unwrap();
    (js, stream)
}

/// A three-node cluster whose stream keeps three replicas, and the log on it.
async fn cluster_and_log() -> (NatsCluster, Arc<JetStreamLog>) {
    let cluster = tokio::task::spawn_blocking(|| NatsCluster::start(3))
        .await
        .unwrap();
    let config = JetStreamConfig {
        replicas: 3,
        ..JetStreamConfig::default()
    };
    let log = JetStreamLog::connect(&cluster.urls(), config)
        .await
        .unwrap();
    (cluster, Arc::new(log))
}

/// Commits appended one after another to one case are never refused for the one before them. A
/// cluster's leader refuses a conditional write to a subject it has another write in flight for
/// ("wrong last sequence", 10164, without comparing), and it lets go of the subject only just
/// after acknowledging that write: the next commit of the same writer can arrive first. That
/// refusal is not a conflict; the commit is sent again and lands. (The race is a matter of
/// timing: a run may not meet it. Before such refusals were sent again, eight writers of 400
/// commits met it in every run tried, and took 17.7 s against 5.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_does_not_refuse_a_commit_for_the_one_just_before_it() {
    let (_cluster, log) = cluster_and_log().await;
    let writing = Arc::new(Writing::default());
    let writers = writers(&log, 8, VERSIONS, &writing);
    let mut written = Vec::new();
    for w in writers {
        written.push(w.await.unwrap());
    }
    assert_eq!(
        writing.conflicts.load(Ordering::Relaxed),
        0,
        "each case has one writer: no append of its was a conflict"
    );
    assert!(!writing.errors_seen.load(Ordering::Relaxed));
    check_everything_acknowledged_is_there_once(&log, &written).await;
}

/// When the node leading the stream dies, appends wait for the next leader rather than fail:
/// each is sent again (same commit id) until one is elected (nats-server takes 4 to 9 s), and
/// they go on within a couple of seconds of it (of the meta leader's election too, when the node
/// led the cluster as well: appends were seen to wait for that); a reader following the log (the projector's)
/// reads on as soon as the stream has a leader again, by gets from it until the meta leader has
/// placed a consumer of its own on a live node (it may place one on the dead node, where it is
/// never made: the reader once waited 9 s for that). Every acknowledged commit is there once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_wait_through_the_loss_of_the_stream_leader_and_go_on_under_the_next() {
    let (mut cluster, log) = cluster_and_log().await;
    let writing = Arc::new(Writing::default());
    let writers = writers(&log, 4, u64::MAX, &writing);
    let read = Arc::new(AtomicU64::new(0));
    let follower = tokio::spawn(follow(log.own_reader().unwrap(), read.clone()));
    within(
        Duration::from_secs(30),
        "200 commits before the fault",
        after_acknowledged(&writing.progress, 200),
    )
    .await;

    let leader = tokio::task::block_in_place(|| cluster.stream_leader("DOCKET"))
        .expect("the stream has a leader");
    cluster.nodes[leader].kill();
    let killed = std::time::Instant::now();
    let (mut stream_led, mut meta_led) = (None, None);
    while stream_led.is_none() || meta_led.is_none() {
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no new leaders within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (stream, meta) = tokio::task::block_in_place(|| {
            (cluster.stream_leader("DOCKET"), cluster.meta_leader())
        });
        if stream_led.is_none() && stream.is_some_and(|l| l != leader) {
            stream_led = Some(std::time::Instant::now());
        }
        if meta_led.is_none() && meta.is_some_and(|l| l != leader) {
            meta_led = Some(std::time::Instant::now());
        }
    }
    let (stream_led, meta_led) = (stream_led.unwrap(), meta_led.unwrap());
    // Commits go on after the election: two for each writer's worth.
    let at_election = writing.progress.load(Ordering::Relaxed);
    within(
        Duration::from_secs(30),
        "appends after the election",
        after_acknowledged(&writing.progress, at_election + 8),
    )
    .await;
    let went_on = stream_led.max(meta_led).elapsed();
    writing.stop.store(true, Ordering::Relaxed);
    let mut written = Vec::new();
    for w in writers {
        written.push(w.await.unwrap());
    }
    let total: u64 = written.iter().map(|(_, c)| c.len() as u64).sum();
    within(
        Duration::from_secs(30),
        "the follower reading everything",
        after_acknowledged(&read, total),
    )
    .await;
    let read_on = stream_led.max(meta_led).elapsed();
    assert!(
        !follower.is_finished(),
        "the follower ended: {:?}",
        follower.await
    );
    follower.abort();
    eprintln!(
        "leader lost: a new stream leader seen {:.1} s after, a meta leader {:.1} s after; appends \
         went on {:.2} s after both, the follower had read them all {:.2} s after both",
        (stream_led - killed).as_secs_f64(),
        (meta_led - killed).as_secs_f64(),
        went_on.as_secs_f64(),
        read_on.as_secs_f64()
    );
    assert!(
        went_on < Duration::from_secs(3),
        "appends went on {went_on:?} after the new leaders were seen"
    );
    assert!(
        read_on < Duration::from_secs(5),
        "the follower had read everything only {read_on:?} after the new leaders were seen"
    );
    assert!(
        !writing.errors_seen.load(Ordering::Relaxed),
        "no append failed while the leader was being replaced"
    );
    check_everything_acknowledged_is_there_once(&log, &written).await;
}

/// `wait`, failing the test with `what` if it takes longer than `limit`.
async fn within(limit: Duration, what: &str, wait: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(limit, wait).await.is_err() {
        panic!("{what}: not within {limit:?}");
    }
}

/// A follower whose consumer the client remakes before it handed anything over (its server
/// lost it, as when the node it lived on dies) reads on from where it was. async-nats remakes
/// such an ordered consumer from the stream's first message; handed over, those commits would
/// have been projected again out of order, and the ones after them skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_whose_consumer_is_remade_reads_on_from_where_it_was() {
    use futures_util::TryStreamExt as _;
    let (server, log) = server_and_log().await;
    let case = Uuid::now_v7();
    let mut prev = ChainHash::genesis();
    for version in 1..=3 {
        let c = commit("t1", case, version, prev.clone());
        log.append(&c).await.unwrap();
        prev = c.hash.clone();
    }
    // Caught up: the tail's consumer starts at position 4 and has handed nothing over.
    let wait = Duration::from_millis(200);
    assert!(log.read_next(3, 10, wait).await.unwrap().is_empty());
    let (_, stream) = the_stream(&server).await;
    let consumers: Vec<String> = stream.consumer_names().try_collect().await.unwrap();
    assert_eq!(consumers.len(), 1, "the tail's consumer: {consumers:?}");
    stream.delete_consumer(&consumers[0]).await.unwrap();
    let fourth = commit("t1", case, 4, prev);
    log.append(&fourth).await.unwrap();

    let began = std::time::Instant::now();
    let page = loop {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "the follower read nothing within 30 s"
        );
        match log.read_next(3, 10, Duration::from_secs(1)).await {
            Ok(page) if !page.is_empty() => break page,
            Ok(_) | Err(LogError::Unavailable(_)) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => panic!("{other:?}"),
        }
    };
    let positions: Vec<u64> = page.iter().map(|r| r.position).collect();
    assert_eq!(positions, [4], "only what follows position 3");
    assert_eq!(page[0].commit.body.commit_id, fourth.body.commit_id);
}

/// A reader for whom no consumer can be made (in a cluster that lost a node, the meta leader may
/// place it on the lost one, and its creation is never answered) reads the log by gets from the
/// stream's leader meanwhile, and follows through a consumer again once one can be made. Here
/// the stream's limit of one consumer, taken by another, refuses the creation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_without_a_consumer_reads_by_gets_until_one_can_be_made() {
    use futures_util::TryStreamExt as _;
    let (server, log) = server_and_log().await;
    let (js, mut stream) = the_stream(&server).await;
    let mut limited = stream.info().await.unwrap().config.clone();
    limited.max_consumers = 1;
    js.update_stream(limited).await.unwrap();
    stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("another".into()),
            ..Default::default()
        })
        .await
        .unwrap();

    let case = Uuid::now_v7();
    let mut prev = ChainHash::genesis();
    let mut appended = Vec::new();
    for version in 1..=3 {
        let c = commit("t1", case, version, prev.clone());
        log.append(&c).await.unwrap();
        prev = c.hash.clone();
        appended.push(c.body.commit_id);
    }
    let read = log.read_all(0, 10).await.unwrap();
    let ids: Vec<Uuid> = read.iter().map(|r| r.commit.body.commit_id).collect();
    assert_eq!(ids, appended, "the whole log, read by gets");
    assert!(log.read_all(3, 10).await.unwrap().is_empty());
    assert!(
        log.read_next(3, 10, Duration::from_millis(200))
            .await
            .unwrap()
            .is_empty()
    );
    let fourth = commit("t1", case, 4, prev.clone());
    log.append(&fourth).await.unwrap();
    let page = log.read_next(3, 10, Duration::from_secs(1)).await.unwrap();
    let positions: Vec<u64> = page.iter().map(|r| r.position).collect();
    assert_eq!(positions, [4]);
    // Waiting for the next commit: none yet, then one appended meanwhile.
    assert_eq!(
        log.wait_for(4, Duration::from_millis(200)).await.unwrap(),
        4
    );
    let fifth = commit("t1", case, 5, fourth.hash.clone());
    let (seen, appended) = tokio::join!(log.wait_for(4, Duration::from_secs(5)), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        log.append(&fifth).await
    });
    appended.unwrap();
    assert_eq!(seen.unwrap(), 5);
    let names: Vec<String> = stream.consumer_names().try_collect().await.unwrap();
    assert_eq!(
        names,
        ["another"],
        "no consumer of the reader's could be made"
    );

    // The limit lifted: the reader's next consumer is made, and it reads on through it.
    stream.delete_consumer("another").await.unwrap();
    let mut after = 5;
    let mut prev = fifth.hash.clone();
    let began = std::time::Instant::now();
    loop {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "no consumer of the reader's within 10 s"
        );
        for version in [after + 1, after + 2] {
            let next = commit("t1", case, version, prev.clone());
            log.append(&next).await.unwrap();
            prev = next.hash.clone();
        }
        let page = log
            .read_next(after, 10, Duration::from_secs(1))
            .await
            .unwrap();
        let positions: Vec<u64> = page.iter().map(|r| r.position).collect();
        assert_eq!(positions, [after + 1, after + 2], "in order, once each");
        after += 2;
        let names: Vec<String> = stream.consumer_names().try_collect().await.unwrap();
        if let [name] = names.as_slice()
            && name != "another"
            && stream
                .consumer_info(name)
                .await
                .unwrap()
                .delivered
                .stream_sequence
                == after
        {
            break;
        }
    }
}

/// The reader of the whole log (the projector's) follows again within two seconds of the first
/// commit appended after a server restart: its consumer, which did not survive, is made anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tail_follows_again_within_two_seconds_of_a_restart() {
    let (server, log) = server_and_log().await;
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
    let (server, log) = server_and_log().await;
    let log = Arc::new(log);
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
