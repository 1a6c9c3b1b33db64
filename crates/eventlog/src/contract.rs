//! The contract every `EventLog` backend keeps, written once. A backend's tests run all of it with
//! [`contract_tests!`](crate::contract_tests), each check on a fresh, empty log.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;
use uuid::Uuid;

use crate::{
    Actor, Appended, ChainHash, CommandInfo, Commit, CommitBody, EventLog, EventRecord, LogError,
    verify_chain,
};

/// A log under test.
pub type Log = Arc<dyn EventLog>;

/// A commit of `case` at `version`, linked after `prev`.
pub fn commit(tenant: &str, case: Uuid, version: u64, prev: ChainHash) -> Commit {
    CommitBody {
        hash_scheme: crate::HASH_SCHEME,
        commit_id: Uuid::now_v7(),
        tenant: tenant.to_owned(),
        case_id: case,
        case_kind: "hazard".to_owned(),
        version,
        events: vec![EventRecord {
            event_type: "hazard.noted".to_owned(),
            schema_version: 1,
            data: json!({ "note": format!("version {version}"), "汉字": "网格" }),
        }],
        actor: Actor {
            id: "grid-worker-7".to_owned(),
            role: "grid_worker".to_owned(),
            unit: None,
        },
        command: CommandInfo {
            name: "note".to_owned(),
            request_hash: "0".repeat(64),
        },
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        recorded_at: Timestamp::now(),
    }
    .seal(prev)
}

/// A case commit's body as a release before hash scheme 2 wrote it: scheme 1, the one event
/// `event_type` (`<prefix>.<name>`) at `schema_version`, by `old-{role}`, its command named as
/// the event, recorded now. Tests change what else they need before sealing it.
pub fn first_scheme_body(
    tenant: &str,
    case: Uuid,
    kind: &str,
    version: u64,
    (event_type, schema_version, data): (&str, u32, serde_json::Value),
    role: &str,
) -> CommitBody {
    let id = Uuid::now_v7();
    let name = event_type.split_once('.').map_or(event_type, |(_, n)| n);
    CommitBody {
        hash_scheme: 1,
        commit_id: id,
        tenant: tenant.to_owned(),
        case_id: case,
        case_kind: kind.to_owned(),
        version,
        events: vec![EventRecord {
            event_type: event_type.to_owned(),
            schema_version,
            data,
        }],
        actor: Actor {
            id: format!("old-{role}"),
            role: role.to_owned(),
            unit: None,
        },
        command: CommandInfo {
            name: name.to_owned(),
            request_hash: "0".repeat(64),
        },
        correlation_id: id,
        causation_id: None,
        recorded_at: Timestamp::now(),
    }
}

/// Appends `n` commits to a new case, returning them in order.
pub async fn case_with(log: &Log, tenant: &str, n: u64) -> (Uuid, Vec<Commit>) {
    let case = Uuid::now_v7();
    let mut prev = ChainHash::genesis();
    let mut commits = Vec::new();
    for version in 1..=n {
        let c = commit(tenant, case, version, prev);
        log.append(&c).await.expect("append");
        prev = c.hash.clone();
        commits.push(c);
    }
    (case, commits)
}

pub async fn a_case_reads_back_as_appended(log: Log) {
    let (case, commits) = case_with(&log, "t1", 3).await;
    let read = log.read_case("t1", case).await.unwrap();
    let read: Vec<Commit> = read.into_iter().map(|r| r.commit).collect();
    assert_eq!(read, commits);
    verify_chain(&read).unwrap();
    assert!(
        log.read_case("t1", Uuid::now_v7())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn another_tenant_does_not_see_the_case(log: Log) {
    let (case, _) = case_with(&log, "t1", 1).await;
    assert!(log.read_case("t2", case).await.unwrap().is_empty());
}

pub async fn a_case_reads_on_from_a_version(log: Log) {
    reads_on_from_a_version(log, false).await;
}

/// What a command decides on: the commits after a version, read afresh or from the backend's
/// own view of the case, never another tenant's.
pub async fn a_case_reads_on_for_update_from_a_version(log: Log) {
    reads_on_from_a_version(log, true).await;
}

/// `read_case_after`, or with `for_update` `read_case_for_update_after`, on a case of four.
async fn reads_on_from_a_version(log: Log, for_update: bool) {
    let (case, commits) = case_with(&log, "t1", 4).await;
    let read = |tenant: &'static str, version: u64| {
        let log = log.clone();
        async move {
            let read = if for_update {
                log.read_case_for_update_after(tenant, case, version).await
            } else {
                log.read_case_after(tenant, case, version).await
            };
            read.unwrap()
        }
    };
    let after: Vec<_> = read("t1", 2).await.into_iter().map(|r| r.commit).collect();
    assert_eq!(after, commits[2..]);
    assert!(read("t1", 4).await.is_empty());
    assert!(read("t2", 0).await.is_empty());
    assert_eq!(read("t1", 0).await.len(), 4);
}

pub async fn a_new_case_starts_at_version_1(log: Log) {
    let case = Uuid::now_v7();
    let err = log
        .append(&commit("t1", case, 2, ChainHash::genesis()))
        .await
        .unwrap_err();
    assert!(matches!(err, LogError::Conflict { .. }), "{err:?}");
    assert!(log.read_case("t1", case).await.unwrap().is_empty());
}

pub async fn a_stale_version_is_a_conflict(log: Log) {
    let (case, commits) = case_with(&log, "t1", 2).await;
    let stale = commit("t1", case, 2, commits[0].hash.clone());
    let err = log.append(&stale).await.unwrap_err();
    assert!(
        matches!(err, LogError::Conflict { case_id, expected: 1 } if case_id == case),
        "{err:?}"
    );
    assert_eq!(log.read_case("t1", case).await.unwrap().len(), 2);
}

pub async fn a_broken_link_is_rejected(log: Log) {
    let (case, _) = case_with(&log, "t1", 1).await;
    let unlinked = commit("t1", case, 2, ChainHash::genesis());
    let err = log.append(&unlinked).await.unwrap_err();
    assert!(matches!(err, LogError::Rejected { .. }), "{err:?}");
    let mut tampered = commit("t1", Uuid::now_v7(), 1, ChainHash::genesis());
    tampered.body.actor.id = "someone-else".to_owned();
    let err = log.append(&tampered).await.unwrap_err();
    assert!(matches!(err, LogError::Rejected { .. }), "{err:?}");
    assert_eq!(log.head().await.unwrap(), 1);
}

pub async fn concurrent_appends_at_one_version_make_one_commit(log: Log) {
    let (case, commits) = case_with(&log, "t1", 1).await;
    let prev = commits[0].hash.clone();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let log = log.clone();
        let c = commit("t1", case, 2, prev.clone());
        tasks.spawn(async move { (log.append(&c).await, c) });
    }
    let mut won = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            (Ok(appended), c) => {
                assert!(!appended.duplicate);
                won.push(c);
            }
            (Err(LogError::Conflict { .. }), _) => {}
            (Err(other), _) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one of 32 appends wins");
    let read: Vec<Commit> = log
        .read_case("t1", case)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.commit)
        .collect();
    assert_eq!(read, vec![commits[0].clone(), won.remove(0)]);
    verify_chain(&read).unwrap();
}

/// A burst of appends to many cases, some of them refused (a broken link, a version out of turn):
/// each is answered on its own, the refused ones record nothing, and the others all land, each
/// at its own position, whatever else was written with them.
pub async fn a_refused_append_in_a_burst_fails_alone(log: Log) {
    let (old, commits) = case_with(&log, "t1", 1).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..48u32 {
        let log = log.clone();
        let c = match i % 6 {
            // A broken link, and a version out of turn, on the case already there.
            0 => commit("t1", old, 2, ChainHash::genesis()),
            1 => commit("t1", old, 5, commits[0].hash.clone()),
            _ => commit("t1", Uuid::now_v7(), 1, ChainHash::genesis()),
        };
        tasks.spawn(async move { (i, log.append(&c).await, c) });
    }
    let mut landed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, result, c) = joined.unwrap();
        match (i % 6, result) {
            (0, Err(LogError::Rejected { .. })) | (1, Err(LogError::Conflict { .. })) => {}
            (0 | 1, other) => panic!("commit {i} should be refused, got {other:?}"),
            (_, Ok(appended)) => landed.push((appended.position, c)),
            (_, Err(e)) => panic!("commit {i} failed with the refused ones: {e:?}"),
        }
    }
    assert_eq!(landed.len(), 32);
    let mut positions: Vec<u64> = landed.iter().map(|(p, _)| *p).collect();
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(positions.len(), 32, "each at its own position");
    for (position, c) in &landed {
        let read = log.read_case("t1", c.body.case_id).await.unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].position, *position);
        assert_eq!(&read[0].commit, c);
    }
    assert_eq!(log.read_case("t1", old).await.unwrap().len(), 1);
}

/// Writers that each want one commit on the same case take turns: every writer reads the case,
/// appends the next version, and on a conflict reads and tries again.
pub async fn sixty_four_writers_on_one_case_get_one_commit_per_version(log: Log) {
    let (case, _) = case_with(&log, "t1", 1).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let log = log.clone();
        tasks.spawn(async move {
            let mut conflicts = 0u32;
            loop {
                let current = log.read_case("t1", case).await.unwrap();
                let last = current.last().unwrap();
                let c = commit(
                    "t1",
                    case,
                    last.commit.body.version + 1,
                    last.commit.hash.clone(),
                );
                match log.append(&c).await {
                    Ok(a) => {
                        assert!(!a.duplicate);
                        return (c.body.commit_id, conflicts);
                    }
                    Err(LogError::Conflict { .. }) => conflicts += 1,
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
        });
    }
    let mut landed: Vec<Uuid> = tasks
        .join_all()
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let commits: Vec<Commit> = log
        .read_case("t1", case)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.commit)
        .collect();
    assert_eq!(commits.len(), 65);
    verify_chain(&commits).unwrap();
    let mut recorded: Vec<Uuid> = commits[1..].iter().map(|c| c.body.commit_id).collect();
    landed.sort();
    recorded.sort();
    assert_eq!(recorded, landed, "each writer's commit once, nothing else");
}

pub async fn a_repeated_commit_id_answers_with_the_original(log: Log) {
    let c = commit("t1", Uuid::now_v7(), 1, ChainHash::genesis());
    let first = log.append(&c).await.unwrap();
    assert!(!first.duplicate);
    let again = log.append(&c).await.unwrap();
    assert_eq!(
        again,
        Appended {
            position: first.position,
            duplicate: true
        }
    );
    assert_eq!(log.read_case("t1", c.body.case_id).await.unwrap().len(), 1);
    let found = log.read_position(again.position).await.unwrap().unwrap();
    assert_eq!(found.position, first.position);
    assert_eq!(found.commit, c);
    assert!(
        log.read_position(first.position + 1)
            .await
            .unwrap()
            .is_none()
    );

    // The same commit id on another case still answers with the original: ids are log-wide.
    let mut elsewhere = c.body.clone();
    elsewhere.case_id = Uuid::now_v7();
    let elsewhere = elsewhere.seal(ChainHash::genesis());
    assert_eq!(log.append(&elsewhere).await.unwrap(), again);
    assert!(
        log.read_case("t1", elsewhere.body.case_id)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn all_commits_read_in_global_order(log: Log) {
    let (a, _) = case_with(&log, "t1", 2).await;
    let (b, _) = case_with(&log, "t2", 3).await;
    assert_eq!(log.head().await.unwrap(), 5);
    let all = log.read_all(0, 100).await.unwrap();
    let positions: Vec<u64> = all.iter().map(|r| r.position).collect();
    assert_eq!(positions, vec![1, 2, 3, 4, 5]);
    let cases: Vec<Uuid> = all.iter().map(|r| r.commit.body.case_id).collect();
    assert_eq!(cases, vec![a, a, b, b, b]);
    let page: Vec<u64> = log
        .read_all(2, 2)
        .await
        .unwrap()
        .iter()
        .map(|r| r.position)
        .collect();
    assert_eq!(page, vec![3, 4]);
    assert!(log.read_all(5, 10).await.unwrap().is_empty());
}

pub async fn a_waiter_wakes_on_append(log: Log) {
    let waiter = {
        let log = log.clone();
        tokio::spawn(async move { log.wait_for(0, Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    case_with(&log, "t1", 1).await;
    let head = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woken well before the timeout")
        .unwrap()
        .unwrap();
    assert_eq!(head, 1);
    let idle = log.wait_for(1, Duration::from_millis(50)).await.unwrap();
    assert_eq!(idle, 1, "nothing new: returns at the timeout with the head");
}

pub async fn a_follower_reads_the_next_commit_as_it_comes(log: Log) {
    let follower = {
        let log = log.clone();
        tokio::spawn(async move { log.read_next(0, 10, Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (case, _) = case_with(&log, "t1", 1).await;
    let page = tokio::time::timeout(Duration::from_secs(5), follower)
        .await
        .expect("woken well before the wait was over")
        .unwrap()
        .unwrap();
    let read: Vec<(u64, Uuid)> = page
        .iter()
        .map(|r| (r.position, r.commit.body.case_id))
        .collect();
    assert_eq!(read, vec![(1, case)]);

    let started = std::time::Instant::now();
    let idle = log
        .read_next(1, 10, Duration::from_millis(100))
        .await
        .unwrap();
    assert!(idle.is_empty(), "nothing new: an empty page");
    assert!(
        started.elapsed() >= Duration::from_millis(90),
        "the empty page came after the wait, not at once"
    );

    let (b, _) = case_with(&log, "t2", 3).await;
    // Pages end where the commits received so far end: followed to the head, at most the limit
    // each, every commit once and in order.
    let mut read = Vec::new();
    while read.last().map_or(1, |&(position, _)| position) < 4 {
        let after = read.last().map_or(1, |&(position, _)| position);
        let page = log
            .read_next(after, 2, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(
            !page.is_empty(),
            "the commits after {after} came within the wait"
        );
        assert!(page.len() <= 2, "at most the limit: {} commits", page.len());
        read.extend(page.iter().map(|r| (r.position, r.commit.body.case_id)));
    }
    assert_eq!(read, vec![(2, b), (3, b), (4, b)]);
}

pub async fn a_follower_given_up_on_misses_nothing(log: Log) {
    // A follower abandoned mid-wait (a projector shutting down, a timeout): the next one reads
    // the commit that came after, once.
    let abandoned = tokio::time::timeout(
        Duration::from_millis(50),
        log.read_next(0, 10, Duration::from_secs(10)),
    )
    .await;
    assert!(
        abandoned.is_err(),
        "nothing to read: still waiting when given up on"
    );
    let (case, _) = case_with(&log, "t1", 1).await;
    let page = log.read_next(0, 10, Duration::from_secs(5)).await.unwrap();
    let read: Vec<(u64, Uuid)> = page
        .iter()
        .map(|r| (r.position, r.commit.body.case_id))
        .collect();
    assert_eq!(read, vec![(1, case)]);
    let more = log
        .read_next(1, 10, Duration::from_millis(100))
        .await
        .unwrap();
    assert!(more.is_empty(), "read once");
}

/// Runs every contract check as its own test. `$make` is an async-context expression giving a
/// fresh, empty log and a guard that keeps what the log needs alive (a directory, a server).
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@each $make;
            a_case_reads_back_as_appended,
            a_case_reads_on_from_a_version,
            a_case_reads_on_for_update_from_a_version,
            another_tenant_does_not_see_the_case,
            a_new_case_starts_at_version_1,
            a_stale_version_is_a_conflict,
            a_broken_link_is_rejected,
            concurrent_appends_at_one_version_make_one_commit,
            a_refused_append_in_a_burst_fails_alone,
            sixty_four_writers_on_one_case_get_one_commit_per_version,
            a_repeated_commit_id_answers_with_the_original,
            all_commits_read_in_global_order,
            a_waiter_wakes_on_append,
            a_follower_reads_the_next_commit_as_it_comes,
            a_follower_given_up_on_misses_nothing,
        );
    };
    (@each $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let (log, _guard): ($crate::contract::Log, _) = $make;
                $crate::contract::$check(log).await;
            }
        )*
    };
}
