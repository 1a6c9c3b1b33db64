use std::sync::Arc;

use docket_domain::{CaseCommand, CaseKind, Refusal, Role};
use docket_eventlog::{EventLog, SqliteLog, verify_chain};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;

#[derive(Debug)]
struct FixedClock(Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

async fn service() -> (CommandService, Arc<SqliteLog>) {
    let dir = tempfile::tempdir().unwrap().keep();
    let log = Arc::new(SqliteLog::open(dir.join("log.sqlite")).unwrap());
    let clock = Arc::new(FixedClock("2025-03-03T02:00:00Z".parse().unwrap()));
    let svc = CommandService::new(log.clone(), clock);
    for tenant in ["qinghe", "other"] {
        seed(&svc, tenant).await;
    }
    (svc, log)
}

/// The log positions the two tenants' directories take: the tests' commits come after them.
const SEEDED: u64 = 2;

/// A tenant's directory with the community, grid and unit the tests name.
async fn seed(svc: &CommandService, tenant: &str) {
    let seeded = docket_domain::directory::seed_from_names(
        &["qinghe"],
        &[("qinghe-03", "qinghe")],
        &["qinghe-safety"],
    )
    .unwrap();
    svc.seed_directory(&tenant.parse().unwrap(), seeded, "the tests' tenant")
        .await
        .unwrap()
        .expect("a new directory");
}

fn actor(role: Role) -> Actor {
    Actor {
        id: format!("{role}-1"),
        tenant: "qinghe".parse().unwrap(),
        role,
        unit: Some("qinghe-safety".parse().unwrap()),
        grids: vec!["qinghe-03".parse().unwrap()],
    }
}

fn filing(title: &str) -> CaseCommand {
    CaseCommand::parse_filing(json!({
        "kind": "hazard", "community": "qinghe", "grid": "qinghe-03", "unit": "qinghe-safety",
        "title": title, "category": "fire", "severity": "general", "source": "night-patrol"
    }))
    .unwrap()
}

fn action(name: &str, body: Value) -> CaseCommand {
    CaseCommand::parse_action(CaseKind::Hazard, name, body).unwrap()
}

fn verify() -> CaseCommand {
    action(
        "verify",
        json!({"severity": "general", "responsible_party": "物业"}),
    )
}

/// How many commits the case holds in the log, once its chain is verified.
async fn verified_length(log: &dyn EventLog, case_id: CaseId) -> usize {
    let commits: Vec<_> = log
        .read_case("qinghe", case_id.as_uuid())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.commit)
        .collect();
    verify_chain(&commits).unwrap();
    commits.len()
}

fn request(case_id: Option<CaseId>, command: CaseCommand, key: Option<&str>) -> CommandRequest {
    CommandRequest {
        case_id,
        command,
        idempotency_key: key.map(str::to_owned),
        expected_version: None,
    }
}

#[tokio::test]
async fn a_filing_records_version_1_with_deadlines_from_the_injected_clock() {
    let (svc, log) = service().await;
    let out = svc
        .handle(
            &actor(Role::GridWorker),
            request(None, filing("楼道堆物"), None),
        )
        .await
        .unwrap();
    assert_eq!(out.version, 1);
    assert_eq!(out.state.status(), "reported");
    assert_eq!(
        out.state.deadline(),
        // 1 working day: the close of Tuesday 4 March in Shanghai.
        Some("2025-03-04T16:00:00Z".parse().unwrap())
    );
    let commits = log
        .read_case("qinghe", out.case_id.as_uuid())
        .await
        .unwrap();
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].commit.body.actor.role, "grid_worker");
    assert_eq!(
        commits[0].commit.body.events[0].event_type,
        "hazard.reported"
    );
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_first_outcome_and_records_nothing() {
    let (svc, log) = service().await;
    let gw = actor(Role::GridWorker);
    let first = svc
        .handle(&gw, request(None, filing("楼道堆物"), Some("k-1")))
        .await
        .unwrap();
    let again = svc
        .handle(&gw, request(None, filing("楼道堆物"), Some("k-1")))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(
        Outcome {
            replayed: false,
            ..again
        },
        first
    );
    assert_eq!(log.head().await.unwrap(), SEEDED + 1);

    let h = actor(Role::Handler);
    let verified = svc
        .handle(&h, request(Some(first.case_id), verify(), Some("k-2")))
        .await
        .unwrap();
    let verified_again = svc
        .handle(&h, request(Some(first.case_id), verify(), Some("k-2")))
        .await
        .unwrap();
    assert_eq!(verified_again.position, verified.position);
    assert_eq!(verified_again.state.status(), "verified");
    assert_eq!(log.head().await.unwrap(), SEEDED + 2);
}

#[tokio::test]
async fn fingerprints_are_keyed_with_the_tenants_secret_and_still_tell_requests_apart() {
    let (svc, log) = service().await;
    let svc = svc.with_vault(crate::Vault::in_memory().await.unwrap());
    let gw = actor(Role::GridWorker);
    let first = svc
        .handle(&gw, request(None, filing("楼道堆物"), Some("k-1")))
        .await
        .unwrap();
    let again = svc
        .handle(&gw, request(None, filing("楼道堆物"), Some("k-1")))
        .await
        .unwrap();
    assert_eq!(again.position, first.position);
    let err = svc
        .handle(&gw, request(None, filing("另一件事"), Some("k-1")))
        .await
        .unwrap_err();
    assert!(matches!(err, CommandError::KeyReused), "{err:?}");
    let recorded = log
        .read_position(first.position)
        .await
        .unwrap()
        .unwrap()
        .commit
        .body
        .command
        .request_hash;
    assert!(
        recorded.starts_with(docket_privacy::KEYED_FINGERPRINT),
        "{recorded}"
    );
    // Not the bare hash of the request anyone could recompute.
    let bare = hex::encode(Sha256::digest(canonical_json(
        &serde_json::to_value(filing("楼道堆物")).unwrap(),
    )));
    assert!(!recorded.contains(&bare));
}

#[test]
fn fingerprints_from_before_keying_are_compared_with_the_unkeyed_one() {
    let keyed = format!("{}{}", docket_privacy::KEYED_FINGERPRINT, "ab".repeat(32));
    let other = format!("{}{}", docket_privacy::KEYED_FINGERPRINT, "cd".repeat(32));
    let (bare, other_bare) = ("ef".repeat(32), "01".repeat(32));
    assert!(same_request(&keyed, &keyed, &bare));
    assert!(!same_request(&keyed, &other, &bare));
    assert!(same_request(&bare, &keyed, &bare));
    assert!(!same_request(&bare, &keyed, &other_bare));
}

#[tokio::test]
async fn the_same_key_for_a_different_request_is_refused() {
    let (svc, log) = service().await;
    let gw = actor(Role::GridWorker);
    svc.handle(&gw, request(None, filing("楼道堆物"), Some("k-1")))
        .await
        .unwrap();
    let err = svc
        .handle(&gw, request(None, filing("另一件事"), Some("k-1")))
        .await
        .unwrap_err();
    assert!(matches!(err, CommandError::KeyReused), "{err:?}");
    assert_eq!(log.head().await.unwrap(), SEEDED + 1);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_record_one_commit() {
    let (svc, log) = service().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let svc = svc.clone();
        tasks.spawn(async move {
            svc.handle(
                &actor(Role::GridWorker),
                request(None, filing("楼道堆物"), Some("same")),
            )
            .await
            .unwrap()
        });
    }
    let outcomes: Vec<Outcome> = tasks.join_all().await;
    assert_eq!(log.head().await.unwrap(), SEEDED + 1);
    assert!(
        outcomes
            .iter()
            .all(|o| o.case_id == outcomes[0].case_id && o.position == SEEDED + 1)
    );
}

#[tokio::test]
async fn a_refusal_records_nothing() {
    let (svc, log) = service().await;
    let out = svc
        .handle(&actor(Role::GridWorker), request(None, filing("t"), None))
        .await
        .unwrap();
    let err = svc
        .handle(
            &actor(Role::GridWorker),
            request(Some(out.case_id), verify(), None),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CommandError::Refused(Refusal::RoleNotPermitted { .. })),
        "{err:?}"
    );
    assert_eq!(log.head().await.unwrap(), SEEDED + 1);
}

#[tokio::test]
async fn an_expected_version_is_honoured_not_retried() {
    let (svc, _log) = service().await;
    let out = svc
        .handle(&actor(Role::GridWorker), request(None, filing("t"), None))
        .await
        .unwrap();
    let mut stale = request(Some(out.case_id), verify(), None);
    stale.expected_version = Some(2);
    let err = svc.handle(&actor(Role::Handler), stale).await.unwrap_err();
    assert!(
        matches!(
            err,
            CommandError::VersionMismatch {
                expected: 2,
                actual: 1
            }
        ),
        "{err:?}"
    );
    let mut fresh = request(Some(out.case_id), verify(), None);
    fresh.expected_version = Some(1);
    assert_eq!(
        svc.handle(&actor(Role::Handler), fresh)
            .await
            .unwrap()
            .version,
        2
    );
}

#[tokio::test]
async fn another_tenants_case_is_not_found() {
    let (svc, _log) = service().await;
    let out = svc
        .handle(&actor(Role::GridWorker), request(None, filing("t"), None))
        .await
        .unwrap();
    let mut stranger = actor(Role::Handler);
    stranger.tenant = "elsewhere".parse().unwrap();
    let err = svc
        .handle(&stranger, request(Some(out.case_id), verify(), None))
        .await
        .unwrap_err();
    assert!(matches!(err, CommandError::NotFound), "{err:?}");
}

#[tokio::test]
async fn thirty_two_concurrent_actions_make_exactly_one_commit_per_version() {
    let (svc, log) = service().await;
    let case_id = svc
        .handle(&actor(Role::GridWorker), request(None, filing("t"), None))
        .await
        .unwrap()
        .case_id;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let svc = svc.clone();
        tasks.spawn(async move {
            svc.handle(
                &actor(Role::Handler),
                request(Some(case_id), verify(), None),
            )
            .await
        });
    }
    let results = tasks.join_all().await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(CommandError::Refused(Refusal::NotAllowedInState { .. }))
            )
        })
        .count();
    assert_eq!((won, refused), (1, 31), "{results:?}");
    assert_eq!(verified_length(log.as_ref(), case_id).await, 2);
}

/// Actions that need no particular version (no If-Match) all win in the end, however many race
/// for the case: each decides again on the latest version until it gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_unconditional_actions_on_one_case_all_succeed() {
    let (svc, log) = service().await;
    let case_id = svc
        .handle(&actor(Role::GridWorker), request(None, filing("t"), None))
        .await
        .unwrap()
        .case_id;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let svc = svc.clone();
        tasks.spawn(async move {
            svc.handle(
                &actor(Role::Handler),
                request(
                    Some(case_id),
                    action("add-note", json!({"text": format!("电话联系 {i}")})),
                    None,
                ),
            )
            .await
        });
    }
    let results = tasks.join_all().await;
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(verified_length(log.as_ref(), case_id).await, 65);
}

#[tokio::test]
async fn a_link_or_duplicate_names_an_existing_case_of_the_tenant_that_is_not_a_duplicate() {
    let (svc, log) = service().await;
    let supervisor = actor(Role::Supervisor);
    let file = |title: &'static str, who: Actor| {
        let svc = svc.clone();
        async move {
            svc.handle(&who, request(None, filing(title), None))
                .await
                .unwrap()
                .case_id
        }
    };
    let a = file("A", actor(Role::GridWorker)).await;
    let b = file("B", actor(Role::GridWorker)).await;
    let c = file("C", actor(Role::GridWorker)).await;
    let mut elsewhere = actor(Role::GridWorker);
    elsewhere.tenant = "other".parse().unwrap();
    let foreign = file("D", elsewhere).await;

    let refused_field = |result: Result<Outcome, CommandError>| match result {
        Err(CommandError::Refused(Refusal::InvalidField { field, reason })) => (field, reason),
        other => panic!("expected a refusal naming a field, got {other:?}"),
    };
    for missing in [CaseId::default(), foreign] {
        let (field, reason) = refused_field(
            svc.handle(
                &supervisor,
                request(Some(a), action("link", json!({"case": missing})), None),
            )
            .await,
        );
        assert_eq!(field, "case");
        assert!(reason.contains("no case"), "{reason}");
    }
    svc.handle(
        &supervisor,
        request(Some(b), action("mark-duplicate", json!({"of": a})), None),
    )
    .await
    .unwrap();
    let (field, reason) = refused_field(
        svc.handle(
            &supervisor,
            request(Some(c), action("mark-duplicate", json!({"of": b})), None),
        )
        .await,
    );
    assert_eq!(field, "of");
    assert!(reason.contains("itself a duplicate"), "{reason}");
    let commits = log.read_case("qinghe", c.as_uuid()).await.unwrap();
    assert_eq!(commits.len(), 1, "a refusal records nothing");
    // Nor of its own duplicate, nor of itself.
    for (of, says) in [
        (b, "duplicate of this case"),
        (a, "does not duplicate itself"),
    ] {
        let (field, reason) = refused_field(
            svc.handle(
                &supervisor,
                request(Some(a), action("mark-duplicate", json!({"of": of})), None),
            )
            .await,
        );
        assert_eq!(field, "of");
        assert!(reason.contains(says), "{reason}");
    }
    // Nor is a hazard dismissed as its own duplicate.
    let (field, reason) = refused_field(
        svc.handle(
            &supervisor,
            request(
                Some(a),
                action("dismiss", json!({"reason": "duplicate", "duplicate_of": a})),
                None,
            ),
        )
        .await,
    );
    assert_eq!(field, "duplicate_of");
    assert!(reason.contains("does not duplicate itself"), "{reason}");
    let commits = log.read_case("qinghe", a.as_uuid()).await.unwrap();
    assert_eq!(commits.len(), 1, "a refusal records nothing");
}

#[tokio::test]
async fn the_admin_keeps_the_directory_on_its_own_chained_stream() {
    let dir = tempfile::tempdir().unwrap().keep();
    let log = Arc::new(SqliteLog::open(dir.join("log.sqlite")).unwrap());
    let svc = CommandService::new(
        log.clone(),
        Arc::new(FixedClock("2025-03-03T02:00:00Z".parse().unwrap())),
    );
    let tenant: docket_domain::TenantId = "xisanqi".parse().unwrap();
    let admin = Actor {
        tenant: tenant.clone(),
        ..actor(Role::Admin)
    };
    let add = |id: &str| {
        docket_domain::directory::DirectoryCommand::parse(
            "add-community",
            json!({"id": id, "name": "西三旗社区"}),
        )
        .unwrap()
    };
    // Nobody else keeps it.
    for role in [Role::Supervisor, Role::Handler, Role::GridWorker] {
        let who = Actor {
            tenant: tenant.clone(),
            ..actor(role)
        };
        let err = svc
            .keep_directory(&who, &add("xisanqi"), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, CommandError::Refused(Refusal::RoleNotPermitted { .. })),
            "{err:?}"
        );
    }
    assert_eq!(log.head().await.unwrap(), 0, "a refusal records nothing");
    // The first change carries the shipped taxonomies with it.
    let first = svc
        .keep_directory(&admin, &add("xisanqi"), Some("k1"))
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    let types: Vec<&str> = first.events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["directory.seeded", "directory.community_added"]);
    assert!(
        first
            .directory
            .category(CaseKind::Hazard, &"fire".parse().unwrap())
            .is_some()
    );
    // A retry answers as the first time; the key on another change is refused.
    let again = svc
        .keep_directory(&admin, &add("xisanqi"), Some("k1"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!((again.version, again.position), (1, first.position));
    let err = svc
        .keep_directory(&admin, &add("xisanqi-east"), Some("k1"))
        .await
        .unwrap_err();
    assert!(matches!(err, CommandError::KeyReused), "{err:?}");
    svc.keep_directory(&admin, &add("xisanqi-east"), None)
        .await
        .unwrap();
    // Its own stream, chained like a case's; another service reads it from the log.
    let stream = crate::directory_stream(&tenant);
    let commits = log.read_case("xisanqi", stream).await.unwrap();
    assert_eq!(commits.len(), 2);
    let chain: Vec<_> = commits.iter().map(|r| r.commit.clone()).collect();
    docket_eventlog::verify_chain(&chain).unwrap();
    let fresh = CommandService::new(log.clone(), Arc::new(SystemClock));
    let kept = fresh.directory(&tenant).await.unwrap();
    assert_eq!(kept.version, 2);
    assert_eq!(kept.directory.communities().count(), 2);
    // A seeding adds what the directory lacks, once; the shipped taxonomy it has already.
    let nothing_new = fresh
        .seed_directory(
            &tenant,
            docket_domain::directory::seed_from_use([], [], [], []),
            "nothing new",
        )
        .await
        .unwrap();
    assert!(nothing_new.is_none());
    let seeded = docket_domain::directory::seed_from_names(&["old-town"], &[], &[]).unwrap();
    let upgrade = fresh
        .seed_directory(&tenant, seeded.clone(), "upgrade")
        .await
        .unwrap()
        .expect("the community it lacked");
    assert_eq!(upgrade.version, 3);
    assert_eq!(upgrade.directory.communities().count(), 3);
    assert!(
        fresh
            .seed_directory(&tenant, seeded, "again")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn another_replicas_directory_change_is_seen_within_a_second() {
    let (one, log) = service().await;
    let other = CommandService::new(log.clone(), Arc::new(SystemClock));
    let tenant: docket_domain::TenantId = "qinghe".parse().unwrap();
    assert_eq!(one.directory(&tenant).await.unwrap().version, 1);
    let admin = actor(Role::Admin);
    let add = docket_domain::directory::DirectoryCommand::parse(
        "add-community",
        json!({"id": "xisanqi", "name": "西三旗社区"}),
    )
    .unwrap();
    other.keep_directory(&admin, &add, None).await.unwrap();
    assert_eq!(
        other.directory(&tenant).await.unwrap().version,
        2,
        "at once"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(one.directory(&tenant).await.unwrap().version, 2);
}

/// A filing naming a unit another replica added a moment ago is not refused on a replica whose
/// cached directory predates it: a refusal is judged against the directory as the log holds it.
#[tokio::test]
async fn a_filing_naming_a_unit_another_replica_just_added_is_accepted() {
    let (one, log) = service().await;
    let other = CommandService::new(log.clone(), Arc::new(SystemClock));
    let tenant: docket_domain::TenantId = "qinghe".parse().unwrap();
    // `one` has the directory cached, without the unit.
    one.directory(&tenant).await.unwrap();
    let add = docket_domain::directory::DirectoryCommand::parse(
        "add-unit",
        json!({"id": "qinghe-fire", "name": "消防站", "unit_kind": "office", "in_network": true}),
    )
    .unwrap();
    other
        .keep_directory(&actor(Role::Admin), &add, None)
        .await
        .unwrap();
    let command = CaseCommand::parse_filing(json!({
        "kind": "hazard", "community": "qinghe", "grid": "qinghe-03", "unit": "qinghe-fire",
        "title": "消防通道堵塞", "category": "fire", "severity": "general", "source": "grid-worker"
    }))
    .unwrap();
    let filed = one
        .handle(&actor(Role::GridWorker), request(None, command, None))
        .await;
    assert!(filed.is_ok(), "{filed:?}");
}

/// A SQLite log that counts, per case, the commits it hands out for deciding and reading.
#[derive(Debug)]
struct CountingLog {
    inner: SqliteLog,
    handed_out: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, usize>>,
}

impl CountingLog {
    fn count(&self, case_id: uuid::Uuid, commits: &[docket_eventlog::Recorded]) {
        *self.handed_out.lock().unwrap().entry(case_id).or_default() += commits.len();
    }

    fn handed_out(&self, case_id: CaseId) -> usize {
        self.handed_out
            .lock()
            .unwrap()
            .get(&case_id.as_uuid())
            .copied()
            .unwrap_or(0)
    }
}

#[async_trait::async_trait]
impl EventLog for CountingLog {
    async fn append(
        &self,
        commit: &docket_eventlog::Commit,
    ) -> Result<docket_eventlog::Appended, LogError> {
        self.inner.append(commit).await
    }
    async fn read_case(
        &self,
        tenant: &str,
        case_id: uuid::Uuid,
    ) -> Result<Vec<docket_eventlog::Recorded>, LogError> {
        let commits = self.inner.read_case(tenant, case_id).await?;
        self.count(case_id, &commits);
        Ok(commits)
    }
    async fn read_case_after(
        &self,
        tenant: &str,
        case_id: uuid::Uuid,
        version: u64,
    ) -> Result<Vec<docket_eventlog::Recorded>, LogError> {
        let commits = self.inner.read_case_after(tenant, case_id, version).await?;
        self.count(case_id, &commits);
        Ok(commits)
    }
    async fn read_all(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<docket_eventlog::Recorded>, LogError> {
        self.inner.read_all(after, limit).await
    }
    async fn read_position(
        &self,
        position: u64,
    ) -> Result<Option<docket_eventlog::Recorded>, LogError> {
        self.inner.read_position(position).await
    }
    async fn head(&self) -> Result<u64, LogError> {
        self.inner.head().await
    }
    async fn wait_for(&self, after: u64, timeout: std::time::Duration) -> Result<u64, LogError> {
        self.inner.wait_for(after, timeout).await
    }
}

/// A case in use takes commands all day: each decides on the case as last seen, with only the
/// commits since read and folded, including those another replica appended in between.
#[tokio::test]
async fn deciding_again_on_a_case_reads_only_the_commits_since_it_was_last_seen() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(CountingLog {
        inner: SqliteLog::open(dir.path().join("log.sqlite")).unwrap(),
        handed_out: Default::default(),
    });
    let clock = Arc::new(FixedClock("2025-03-03T02:00:00Z".parse().unwrap()));
    let svc = CommandService::new(log.clone(), clock.clone());
    for tenant in ["qinghe", "other"] {
        seed(&svc, tenant).await;
    }
    let handler = actor(Role::Handler);
    let case_id = svc
        .handle(&actor(Role::GridWorker), request(None, filing("t"), None))
        .await
        .unwrap()
        .case_id;
    svc.handle(&handler, request(Some(case_id), verify(), None))
        .await
        .unwrap();
    let order = action("order-rectification", json!({"measures": "清理楼道"}));
    svc.handle(&handler, request(Some(case_id), order, None))
        .await
        .unwrap();
    // Filed and acted on here: nothing of the case was read back whole.
    assert_eq!(log.handed_out(case_id), 0);

    // Another replica, which has not seen the case, reads it whole and moves it on.
    let other = CommandService::new(log.clone(), clock);
    let rectified = action(
        "report-rectified",
        json!({"evidence": [{"content_hash": format!("sha256:{}", "ab".repeat(32)),
            "media_type": "image/jpeg", "size": 1, "blob": "p.jpg"}]}),
    );
    let out = other
        .handle(&handler, request(Some(case_id), rectified, None))
        .await
        .unwrap();
    assert_eq!(out.version, 4);
    assert_eq!(log.handed_out(case_id), 3);

    // This one reads only that commit, and decides on the case as it now stands.
    let fail = action("fail-reinspection", json!({"reason": "复查不合格"}));
    let out = svc
        .handle(&handler, request(Some(case_id), fail, None))
        .await
        .unwrap();
    assert_eq!((out.version, out.state.status()), (5, "rectifying"));
    assert_eq!(log.handed_out(case_id), 4);
    assert_eq!(verified_length(&log.inner, case_id).await, 5);
}

/// New filings push out the case used least recently, never one being worked on.
#[tokio::test]
async fn new_filings_push_out_the_case_used_least_recently() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(CountingLog {
        inner: SqliteLog::open(dir.path().join("log.sqlite")).unwrap(),
        handed_out: Default::default(),
    });
    let clock = Arc::new(FixedClock("2025-03-03T02:00:00Z".parse().unwrap()));
    let mut svc = CommandService::new(log.clone(), clock);
    svc.cases = Arc::new(CaseCache::with_capacity(
        std::num::NonZeroUsize::new(2).unwrap(),
    ));
    seed(&svc, "qinghe").await;
    let (worker, handler) = (actor(Role::GridWorker), actor(Role::Handler));
    let file = |title: &'static str| {
        let svc = svc.clone();
        let worker = worker.clone();
        async move {
            svc.handle(&worker, request(None, filing(title), None))
                .await
                .unwrap()
                .case_id
        }
    };
    let worked = file("worked on").await;
    let left = file("left alone").await;
    svc.handle(&handler, request(Some(worked), verify(), None))
        .await
        .unwrap();
    file("a third").await;
    let order = action("order-rectification", json!({"measures": "清理楼道"}));
    svc.handle(&handler, request(Some(worked), order, None))
        .await
        .unwrap();
    assert_eq!(log.handed_out(worked), 0, "the case worked on stayed");
    svc.handle(&handler, request(Some(left), verify(), None))
        .await
        .unwrap();
    assert_eq!(
        log.handed_out(left),
        1,
        "the case left alone was read again"
    );
}
