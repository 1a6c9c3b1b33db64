//! The case projection over a real embedded log, driven through the command service.

use std::sync::Arc;

use docket_commands::{Actor, Clock, CommandRequest, CommandService};
use docket_domain::{CaseCommand, CaseId, CaseKind, Reach, Role};
use docket_eventlog::{EventLog, SqliteLog};
use docket_projections::{CASES, CaseFilter, Projector, ReadModel};
use serde_json::json;

/// Where the read model of a test lives: every test runs on both.
enum Backend {
    Sqlite,
    Postgres(docket_testkit::PgDatabase),
}

struct World {
    dir: std::path::PathBuf,
    log: Arc<SqliteLog>,
    commands: CommandService,
    clock: Arc<TestClock>,
    backend: Backend,
}

/// The wall clock, until a test sets the time.
#[derive(Debug, Default)]
struct TestClock(std::sync::Mutex<Option<jiff::Timestamp>>);

impl TestClock {
    fn set(&self, t: jiff::Timestamp) {
        *self.0.lock().unwrap() = Some(t);
    }
}

impl Clock for TestClock {
    fn now(&self) -> jiff::Timestamp {
        self.0.lock().unwrap().unwrap_or_else(jiff::Timestamp::now)
    }
}

fn world_on(backend: Backend) -> World {
    let dir = tempfile::tempdir().unwrap().keep();
    let log = Arc::new(SqliteLog::open(dir.join("log.sqlite")).unwrap());
    let clock = Arc::new(TestClock::default());
    let commands = CommandService::new(log.clone(), clock.clone()).with_vault(
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current()
                .block_on(docket_commands::Vault::in_memory())
                .unwrap()
        }),
    );
    // The tenants' directories: the community, grids and units the tests name.
    for tenant in ["qinghe", "other"] {
        let seeded = docket_domain::directory::seed_from_names(
            &["qinghe"],
            &[("g-1", "qinghe"), ("g-2", "qinghe"), ("g-9", "qinghe")],
            &[
                "qinghe-safety",
                "qinghe-housing",
                "qinghe-heating",
                "qinghe-other",
            ],
        )
        .unwrap();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current()
                .block_on(commands.seed_directory(&tenant.parse().unwrap(), seeded, "tests"))
                .unwrap()
        });
    }
    World {
        dir,
        log,
        commands,
        clock,
        backend,
    }
}

/// The log positions the two tenants' directories take: the tests' commits come after them.
const SEEDED: u64 = 2;

fn sqlite() -> World {
    world_on(Backend::Sqlite)
}

fn postgres() -> World {
    world_on(Backend::Postgres(docket_testkit::PgDatabase::fresh()))
}

/// Runs a test body against a SQLite and a Postgres read model.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() {
                super::$name(super::sqlite()).await
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() {
                super::$name(super::postgres()).await
            }
        }
    };
}

fn actor(tenant: &str, role: Role) -> Actor {
    Actor {
        id: format!("{role}-1"),
        tenant: tenant.parse().unwrap(),
        role,
        unit: Some("qinghe-safety".parse().unwrap()),
        grids: Vec::new(),
    }
}

impl World {
    /// Has `actor` give `command` (a filing when `case` is none); the case it went to.
    async fn give(&self, actor: &Actor, case: Option<CaseId>, command: CaseCommand) -> CaseId {
        let request = CommandRequest {
            case_id: case,
            command,
            idempotency_key: None,
            expected_version: None,
        };
        self.commands.handle(actor, request).await.unwrap().case_id
    }

    async fn file(&self, tenant: &str, grid: &str, title: &str) -> CaseId {
        let command = CaseCommand::parse_filing(json!({
            "kind": "hazard", "community": "qinghe", "grid": grid, "title": title,
            "category": "gas", "severity": "general", "source": "grid-worker",
            "unit": "qinghe-safety"
        }))
        .unwrap();
        let mut grid_worker = actor(tenant, Role::GridWorker);
        grid_worker.grids = vec![grid.parse().unwrap()];
        self.give(&grid_worker, None, command).await
    }

    async fn act(
        &self,
        tenant: &str,
        role: Role,
        case: CaseId,
        action: &str,
        body: serde_json::Value,
    ) {
        let command = CaseCommand::parse_action(CaseKind::Hazard, action, body).unwrap();
        self.give(&actor(tenant, role), Some(case), command).await;
    }

    /// Registers a petition by `petitioners` (their JSON) as a petition officer.
    async fn petition(&self, title: &str, petitioners: serde_json::Value) -> CaseId {
        let command = CaseCommand::parse_filing(json!({
            "kind": "petition", "community": "qinghe", "grid": "g-1", "title": title,
            "channel": "letter", "petition_type": "appeal-request", "category": "housing",
            "petitioners": petitioners
        }))
        .unwrap();
        self.give(&actor("qinghe", Role::PetitionOfficer), None, command)
            .await
    }

    /// Runs `sql` on the read model's database behind its back, as a bug or an upgrade would.
    async fn execute(&self, sql: &'static str) {
        match &self.backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", self.dir.join("read.sqlite").display());
                let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
            Backend::Postgres(db) => {
                let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }

    /// Where the read model lives, for a rebuild or an audit.
    fn target(&self) -> docket_projections::Target {
        match &self.backend {
            Backend::Sqlite => docket_projections::Target::Sqlite(self.dir.join("read.sqlite")),
            Backend::Postgres(db) => docket_projections::Target::Postgres(db.url().to_owned()),
        }
    }

    /// On SQLite, projects the whole log again into a model of its own written through sqlx
    /// (as repairs write) and holds its rows to `read`'s, written by the SQLite writer.
    async fn same_rows_through_sqlx(&self, read: &ReadModel) {
        if !matches!(self.backend, Backend::Sqlite) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let through_sqlx = ReadModel::open(dir.path().join("read.sqlite"), "sqlite")
            .await
            .unwrap()
            .writing_through_sqlx();
        Projector::new(self.log.clone(), through_sqlx.clone())
            .catch_up()
            .await
            .unwrap();
        Projector::new(self.log.clone(), read.clone())
            .catch_up()
            .await
            .unwrap();
        assert_eq!(
            through_sqlx.digest().await.unwrap(),
            read.digest().await.unwrap(),
            "the SQLite writer writes the rows sqlx writes"
        );
    }

    async fn read_model(&self) -> ReadModel {
        self.read_model_of("sqlite").await.unwrap()
    }

    async fn read_model_of(
        &self,
        log: &str,
    ) -> Result<ReadModel, docket_projections::ProjectionError> {
        match &self.backend {
            Backend::Sqlite => ReadModel::open(self.dir.join("read.sqlite"), log).await,
            Backend::Postgres(db) => ReadModel::connect(db.url(), log).await,
        }
    }
}

on_both!(cases_are_listed_newest_first_with_gap_free_numbers_and_filters);
async fn cases_are_listed_newest_first_with_gap_free_numbers_and_filters(w: World) {
    let mut filed = Vec::new();
    for i in 0..5 {
        let grid = if i % 2 == 0 { "g-1" } else { "g-2" };
        filed.push(w.file("qinghe", grid, &format!("hazard {i}")).await);
    }
    w.file("other", "g-1", "not ours").await;
    w.act(
        "qinghe",
        Role::Handler,
        filed[0],
        "dismiss",
        json!({"reason": "not-a-hazard"}),
    )
    .await;

    let read = w.read_model().await;
    let projector = Projector::new(w.log.clone(), read.clone());
    assert_eq!(projector.catch_up().await.unwrap(), SEEDED + 7);

    let all = read
        .list_cases("qinghe", &CaseFilter::default(), None, 50)
        .await
        .unwrap();
    let ids: Vec<_> = all.items.iter().map(|c| c.id).collect();
    let mut newest_first: Vec<_> = filed.iter().map(|c| c.as_uuid()).collect();
    newest_first.reverse();
    assert_eq!(ids, newest_first);
    let mut numbers: Vec<_> = all.items.iter().map(|c| c.number.clone()).collect();
    numbers.sort();
    let year = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .year();
    let expected: Vec<_> = (1..=5).map(|n| format!("HZ-{year}-{n:06}")).collect();
    assert_eq!(numbers, expected);

    let dismissed = CaseFilter {
        status: Some("dismissed".to_owned()),
        ..CaseFilter::default()
    };
    let page = read
        .list_cases("qinghe", &dismissed, None, 50)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.items[0].closed && page.items[0].closed_at.is_some());

    let grid_2 = CaseFilter {
        grid: Some("g-2".to_owned()),
        ..CaseFilter::default()
    };
    assert_eq!(
        read.list_cases("qinghe", &grid_2, None, 50)
            .await
            .unwrap()
            .items
            .len(),
        2
    );

    let first = read
        .list_cases("qinghe", &CaseFilter::default(), None, 2)
        .await
        .unwrap();
    let second = read
        .list_cases("qinghe", &CaseFilter::default(), first.next_cursor, 2)
        .await
        .unwrap();
    let third = read
        .list_cases("qinghe", &CaseFilter::default(), second.next_cursor, 2)
        .await
        .unwrap();
    let paged: Vec<_> = [first.items, second.items, third.items]
        .concat()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(paged, newest_first);
    assert_eq!(third.next_cursor, None);
}

on_both!(the_projector_hands_a_filing_its_number_as_the_database_holds_it);
/// A filing's answer takes its number from what the projector in the same process just applied;
/// another replica reads it from the database: the two agree, and neither answers another
/// tenant.
async fn the_projector_hands_a_filing_its_number_as_the_database_holds_it(w: World) {
    let ours = w.file("qinghe", "g-1", "hazard").await;
    let theirs = w.file("other", "g-1", "hazard").await;
    let read = w.read_model().await;
    let projector = Projector::new(w.log.clone(), read.clone());
    projector.catch_up().await.unwrap();
    let replica = w.read_model().await;
    for case in [ours, theirs] {
        let tenant = if case == ours { "qinghe" } else { "other" };
        let stranger = if case == ours { "other" } else { "qinghe" };
        let kept = read.case_number(tenant, case.as_uuid()).await.unwrap();
        let stored = replica.case_number(tenant, case.as_uuid()).await.unwrap();
        assert!(kept.as_deref().is_some_and(|n| n.starts_with("HZ-")));
        assert_eq!(kept, stored);
        assert_eq!(
            read.case_number(stranger, case.as_uuid()).await.unwrap(),
            None
        );
    }
    // The filing's answer: from the projector here once it has planned the batch; from the
    // database on a replica that does not project.
    let filed_at = w.log.read_case("qinghe", ours.as_uuid()).await.unwrap()[0].position;
    // Both hold the filing already: neither may wait out the minute.
    let wait = std::time::Duration::from_secs(60);
    let answered = |model: ReadModel| async move {
        model
            .filed_case_number("qinghe", ours.as_uuid(), filed_at, wait)
            .await
            .unwrap()
    };
    let kept = read.case_number("qinghe", ours.as_uuid()).await.unwrap();
    let soon = std::time::Duration::from_secs(10);
    let here = tokio::time::timeout(soon, answered(read.clone())).await;
    assert_eq!(here.expect("answered at once"), kept);
    let there = tokio::time::timeout(soon, answered(replica.clone())).await;
    assert_eq!(there.expect("answered at once"), kept);
    // Each tenant numbers its own cases from 1.
    let first = |n: Option<String>| n.unwrap().ends_with("-000001");
    assert!(first(
        read.case_number("qinghe", ours.as_uuid()).await.unwrap()
    ));
    assert!(first(
        read.case_number("other", theirs.as_uuid()).await.unwrap()
    ));
}

on_both!(history_mirrors_the_log_and_nothing_is_applied_twice);
async fn history_mirrors_the_log_and_nothing_is_applied_twice(w: World) {
    let case = w.file("qinghe", "g-1", "gas smell").await;
    w.act(
        "qinghe",
        Role::Handler,
        case,
        "verify",
        json!({"severity": "general", "responsible_party": "餐馆"}),
    )
    .await;

    let read = w.read_model().await;
    let projector = Projector::new(w.log.clone(), read.clone());
    projector.catch_up().await.unwrap();
    // A second pass and a restart find nothing new to apply.
    projector.catch_up().await.unwrap();
    drop(read);
    let read = w.read_model().await;
    assert_eq!(read.checkpoint(CASES).await.unwrap(), SEEDED + 2);
    assert_eq!(read.projected(), SEEDED + 2);
    Projector::new(w.log.clone(), read.clone())
        .catch_up()
        .await
        .unwrap();

    let history = read.history("qinghe", case.as_uuid()).await.unwrap();
    let log = w.log.read_case("qinghe", case.as_uuid()).await.unwrap();
    assert_eq!(history.len(), 2);
    for (h, l) in history.iter().zip(&log) {
        assert_eq!(h.commit_id, l.commit.body.commit_id);
        assert_eq!(h.position, l.position);
        assert_eq!(h.hash, l.commit.hash.as_str());
        assert_eq!(h.prev_hash, l.commit.prev_hash.as_str());
        assert_eq!(h.events, l.commit.body.events);
    }
    assert!(
        read.history("other", case.as_uuid())
            .await
            .unwrap()
            .is_empty()
    );
    let listed = read
        .list_cases("qinghe", &CaseFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(listed.items[0].status, "verified");
    assert_eq!(listed.items[0].version, 2);
}

on_both!(a_stored_case_moved_commit_by_commit_reads_as_if_projected_at_once);
/// Each commit of a stored case is projected on its own, so its row is updated, not inserted:
/// whatever columns a commit changes (status, severity, lead unit and assignee, grid, deadline,
/// closing), the case is found by every filter as it now stands, and on SQLite the model holds
/// the rows a model projected from the whole log at once holds.
async fn a_stored_case_moved_commit_by_commit_reads_as_if_projected_at_once(w: World) {
    let read = w.read_model().await;
    let projector = Projector::new(w.log.clone(), read.clone());
    let case = w.file("qinghe", "g-1", "gas smell").await;
    let other = w.file("qinghe", "g-1", "blocked exit").await;
    projector.catch_up().await.unwrap();
    let found = |edit: fn(&mut CaseFilter)| {
        let read = read.clone();
        async move {
            let mut filter = CaseFilter::default();
            edit(&mut filter);
            let items = read
                .list_cases("qinghe", &filter, None, 50)
                .await
                .unwrap()
                .items;
            items.into_iter().map(|c| c.id).collect::<Vec<_>>()
        }
    };
    let photo = json!([{"content_hash": format!("sha256:{}", "ab".repeat(32)),
        "media_type": "image/jpeg", "size": 1024, "blob": "blobs/1.jpg"}]);
    // (who, of which unit, does what): the case's lead unit changes on the way.
    let steps = [
        (
            Role::Handler,
            "qinghe-safety",
            "verify",
            json!({"severity": "major", "responsible_party": "餐馆"}),
        ),
        (
            Role::Supervisor,
            "qinghe-safety",
            "relocate",
            json!({"community": "qinghe", "grid": "g-2", "reason": "位置有误"}),
        ),
        (
            Role::Supervisor,
            "qinghe-safety",
            "reassign",
            json!({"unit": "qinghe-housing", "assignee": "李四", "reason": "归口"}),
        ),
        (
            Role::Handler,
            "qinghe-housing",
            "order-rectification",
            json!({"measures": "关闭气阀"}),
        ),
        (
            Role::Handler,
            "qinghe-housing",
            "report-rectified",
            json!({"evidence": photo}),
        ),
        (
            Role::Handler,
            "qinghe-housing",
            "pass-reinspection",
            json!({}),
        ),
    ];
    for (role, unit, action, body) in steps {
        let mut acting = actor("qinghe", role);
        acting.unit = Some(unit.parse().unwrap());
        let command = CaseCommand::parse_action(CaseKind::Hazard, action, body).unwrap();
        w.give(&acting, Some(case), command).await;
        projector.catch_up().await.unwrap();
        w.same_rows_through_sqlx(&read).await;
    }

    let (case, other) = (case.as_uuid(), other.as_uuid());
    assert_eq!(found(|f| f.severity = Some("major".into())).await, [case]);
    assert_eq!(
        found(|f| f.severity = Some("general".into())).await,
        [other]
    );
    assert_eq!(
        found(|f| f.lead_unit = Some("qinghe-housing".into())).await,
        [case]
    );
    assert_eq!(found(|f| f.assignee = Some("李四".into())).await, [case]);
    assert_eq!(found(|f| f.grid = Some("g-2".into())).await, [case]);
    assert_eq!(found(|f| f.grid = Some("g-1".into())).await, [other]);
    assert_eq!(found(|f| f.closed = Some(true)).await, [case]);
    assert_eq!(found(|f| f.closed = Some(false)).await, [other]);
    assert_eq!(found(|f| f.status = Some("closed".into())).await, [case]);
    let history = read.history("qinghe", case).await.unwrap();
    assert_eq!(history.len(), 7, "the filing and six commits");
}

on_both!(a_running_projector_numbers_filings_on_from_the_counters_it_finds);
/// A projector started over a model that holds cases numbers the next filings on from the
/// model's counters, each tenant's on its own, as it reads them (on SQLite ahead of its writes,
/// here a read of two commits at a time); what a filing is answered with is what the model then
/// holds.
async fn a_running_projector_numbers_filings_on_from_the_counters_it_finds(w: World) {
    w.file("qinghe", "g-1", "a").await;
    w.file("qinghe", "g-1", "b").await;
    w.file("other", "g-1", "c").await;
    let read = w.read_model().await;
    Projector::new(w.log.clone(), read.clone())
        .catch_up()
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(
        Projector::new(w.log.clone(), read.clone())
            .with_batch(2)
            .run(stopped),
    );
    let wait = std::time::Duration::from_secs(10);
    let mut answered = Vec::new();
    for n in 0..6 {
        for (tenant, first) in [("qinghe", 3), ("other", 2)] {
            let case = w.file(tenant, "g-1", &format!("{tenant} {n}")).await;
            let at = w.log.read_case(tenant, case.as_uuid()).await.unwrap()[0].position;
            let number = read
                .filed_case_number(tenant, case.as_uuid(), at, wait)
                .await
                .unwrap()
                .expect("answered with a number");
            assert!(
                number.ends_with(&format!("-{:06}", first + n)),
                "{tenant}'s filing {n}: {number}"
            );
            answered.push((tenant, case, number));
        }
    }
    let head = w.log.head().await.unwrap();
    assert!(read.wait_until(head, wait).await);
    for (tenant, case, number) in answered {
        assert_eq!(
            read.case_number(tenant, case.as_uuid()).await.unwrap(),
            Some(number)
        );
    }
    stop.send(true).unwrap();
    running.await.unwrap();
}

on_both!(a_reader_can_wait_for_a_position);
async fn a_reader_can_wait_for_a_position(w: World) {
    let read = w.read_model().await;
    let projector = Projector::new(w.log.clone(), read.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(projector.run(stopped));
    // The directories' seeding is all the log holds yet.
    let seeded = w.log.head().await.unwrap();
    assert!(
        !read
            .wait_until(seeded + 1, std::time::Duration::from_millis(50))
            .await
    );
    w.file("qinghe", "g-1", "x").await;
    assert!(
        read.wait_until(seeded + 1, std::time::Duration::from_secs(5))
            .await
    );
    stop.send(true).unwrap();
    running.await.unwrap();
}

on_both!(a_read_model_built_from_another_log_is_refused);
async fn a_read_model_built_from_another_log_is_refused(w: World) {
    drop(w.read_model().await);
    let err = w.read_model_of("nats:DOCKET").await.unwrap_err();
    assert!(
        matches!(err, docket_projections::ProjectionError::OtherLog { .. }),
        "{err}"
    );
}

/// A log that serves fixed commits in order, as JetStream may after its duplicate window: a filing
/// retried late lands as a second case carrying the first one's commit id.
#[derive(Debug)]
struct FixedLog(Vec<docket_eventlog::Recorded>);

#[async_trait::async_trait]
impl EventLog for FixedLog {
    async fn append(
        &self,
        _: &docket_eventlog::Commit,
    ) -> Result<docket_eventlog::Appended, docket_eventlog::LogError> {
        Err(docket_eventlog::LogError::Setup(
            "read-only test log".to_owned(),
        ))
    }
    async fn read_case(
        &self,
        _: &str,
        case_id: uuid::Uuid,
    ) -> Result<Vec<docket_eventlog::Recorded>, docket_eventlog::LogError> {
        Ok(self
            .0
            .iter()
            .filter(|r| r.commit.body.case_id == case_id)
            .cloned()
            .collect())
    }
    async fn read_all(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<docket_eventlog::Recorded>, docket_eventlog::LogError> {
        Ok(self
            .0
            .iter()
            .filter(|r| r.position > after)
            .take(limit)
            .cloned()
            .collect())
    }
    async fn read_position(
        &self,
        position: u64,
    ) -> Result<Option<docket_eventlog::Recorded>, docket_eventlog::LogError> {
        Ok(self.0.iter().find(|r| r.position == position).cloned())
    }
    async fn head(&self) -> Result<u64, docket_eventlog::LogError> {
        Ok(self.0.last().map_or(0, |r| r.position))
    }
    async fn wait_for(
        &self,
        _: u64,
        _: std::time::Duration,
    ) -> Result<u64, docket_eventlog::LogError> {
        self.head().await
    }
}

on_both!(a_late_retried_filing_is_projected_as_a_second_case_not_a_stall);
async fn a_late_retried_filing_is_projected_as_a_second_case_not_a_stall(w: World) {
    let first = w.file("qinghe", "g-1", "retried late").await;
    let original = w
        .log
        .read_case("qinghe", first.as_uuid())
        .await
        .unwrap()
        .remove(0);
    let mut again = original.commit.body.clone();
    again.case_id = CaseId::new().as_uuid();
    let again = docket_eventlog::Recorded {
        position: original.position + 1,
        commit: again.seal(docket_eventlog::ChainHash::genesis()),
    };
    let last = again.position;
    let log = Arc::new(FixedLog(vec![original, again]));
    let read = w.read_model().await;
    assert_eq!(
        Projector::new(log, read.clone()).catch_up().await.unwrap(),
        last
    );
    let listed = read
        .list_cases("qinghe", &CaseFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 2);
}

impl World {
    async fn handle(
        &self,
        tenant: &str,
        role: Role,
        case: Option<CaseId>,
        command: CaseCommand,
    ) -> CaseId {
        let mut who = actor(tenant, role);
        if role == Role::GridWorker {
            who.id = "gw-li".to_owned();
            who.grids = vec!["g-2".parse().unwrap()];
        }
        self.commands
            .handle(
                &who,
                CommandRequest {
                    case_id: case,
                    command,
                    idempotency_key: None,
                    expected_version: None,
                },
            )
            .await
            .unwrap()
            .case_id
    }
}

on_both!(every_worklist_filter_narrows_the_list);
async fn every_worklist_filter_narrows_the_list(w: World) {
    let petition = w
        .handle(
            "qinghe",
            Role::PetitionOfficer,
            None,
            CaseCommand::parse_filing(json!({
                "kind": "petition", "community": "qinghe", "grid": "g-1", "title": "小区供暖不足",
                "description": "三号楼暖气不热", "channel": "letter", "petition_type": "appeal-request",
                "category": "housing", "petitioners": [{"name": "张三"}]
            }))
            .unwrap(),
        )
        .await;
    let accept = CaseCommand::parse_action(
        CaseKind::Petition,
        "accept",
        json!({"unit": "qinghe-housing"}),
    )
    .unwrap();
    w.handle("qinghe", Role::PetitionOfficer, Some(petition), accept)
        .await;
    let co = CaseCommand::parse_action(
        CaseKind::Petition,
        "add-co-handler",
        json!({"unit": "qinghe-heating"}),
    )
    .unwrap();
    w.handle("qinghe", Role::PetitionOfficer, Some(petition), co)
        .await;
    let hazard = w
        .handle(
            "qinghe",
            Role::GridWorker,
            None,
            CaseCommand::parse_filing(json!({
                "kind": "hazard", "community": "qinghe", "grid": "g-2", "title": "燃气管道锈蚀",
                "category": "gas", "severity": "major", "source": "night-patrol"
            }))
            .unwrap(),
        )
        .await;
    let read = w.read_model().await;
    Projector::new(w.log.clone(), read.clone())
        .catch_up()
        .await
        .unwrap();
    let ids = |filter: CaseFilter| {
        let read = read.clone();
        async move {
            read.list_cases("qinghe", &filter, None, 50)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };
    let both = vec![hazard.as_uuid(), petition.as_uuid()];
    let (h, p) = (vec![hazard.as_uuid()], vec![petition.as_uuid()]);
    assert_eq!(ids(CaseFilter::default()).await, both);
    let f = |edit: fn(&mut CaseFilter)| {
        let mut filter = CaseFilter::default();
        edit(&mut filter);
        filter
    };
    assert_eq!(ids(f(|f| f.kind = Some("petition".into()))).await, p);
    assert_eq!(ids(f(|f| f.category = Some("gas".into()))).await, h);
    assert_eq!(ids(f(|f| f.severity = Some("major".into()))).await, h);
    assert_eq!(ids(f(|f| f.unit = Some("qinghe-housing".into()))).await, p);
    assert_eq!(
        ids(f(|f| f.unit = Some("qinghe-heating".into()))).await,
        p,
        "co-handling units see it"
    );
    assert!(
        ids(f(|f| f.unit = Some("qinghe-other".into())))
            .await
            .is_empty()
    );
    assert_eq!(ids(f(|f| f.mine = Some("gw-li".into()))).await, h);
    // Reach: a grid worker's grids, a unit's led and co-handled cases, nothing, the tenant.
    let reach = |reach: Reach| CaseFilter {
        reach: Some(reach),
        ..CaseFilter::default()
    };
    let grids = |g: &[&str]| g.iter().map(|g| g.parse().unwrap()).collect();
    assert_eq!(ids(reach(Reach::Grids(grids(&["g-2", "g-9"])))).await, h);
    assert_eq!(ids(reach(Reach::Grids(grids(&["g-1", "g-2"])))).await, both);
    assert_eq!(
        ids(reach(Reach::Unit("qinghe-housing".parse().unwrap()))).await,
        p
    );
    assert_eq!(
        ids(reach(Reach::Unit("qinghe-heating".parse().unwrap()))).await,
        p
    );
    assert!(
        ids(reach(Reach::Unit("qinghe-other".parse().unwrap())))
            .await
            .is_empty()
    );
    assert!(ids(reach(Reach::Nothing)).await.is_empty());
    assert_eq!(ids(reach(Reach::Tenant)).await, both);
    assert_eq!(
        ids(f(|f| f.text = Some("供暖".into()))).await,
        p,
        "Chinese substring of the title"
    );
    assert!(
        ids(f(|f| f.text = Some("暖气不热".into())))
            .await
            .is_empty(),
        "a description is sealed in the read model: not searched, not found"
    );
    assert!(
        ids(f(|f| f.text = Some("%".into()))).await.is_empty(),
        "wildcards are literal"
    );
    assert_eq!(ids(f(|f| f.closed = Some(false))).await, both);
    // Deadlines: the hazard is due in 1 working day, the petition's handling in 60 days.
    let now = jiff::Timestamp::now();
    let in_days = |d: i64| now + jiff::SignedDuration::from_hours(24 * d);
    let filter = |due_before, overdue_at, filed: Option<(i64, i64)>| CaseFilter {
        due_before,
        overdue_at,
        filed_from: filed.map(|(from, _)| in_days(from)),
        filed_to: filed.map(|(_, to)| in_days(to)),
        ..CaseFilter::default()
    };
    assert_eq!(ids(filter(Some(in_days(10)), None, None)).await, h);
    assert_eq!(ids(filter(None, Some(in_days(100)), None)).await, both);
    assert!(ids(filter(None, Some(now), None)).await.is_empty());
    assert_eq!(ids(filter(None, None, Some((-1, 1)))).await, both);
    assert!(ids(filter(None, None, Some((1, 2)))).await.is_empty());

    // Per-day counters: two cases opened today, one supervision-free extension-free day.
    let today = now
        .to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date()
        .to_string();
    let counts = read.daily_counts("qinghe", &today, &today).await.unwrap();
    let opened: i64 = counts
        .iter()
        .filter(|c| c.metric == "opened")
        .map(|c| c.n)
        .sum();
    assert_eq!(opened, 2);
    w.same_rows_through_sqlx(&read).await;
}

on_both!(an_interrupted_rebuild_resumes_and_swaps_in_a_model_equal_to_a_fresh_one);
async fn an_interrupted_rebuild_resumes_and_swaps_in_a_model_equal_to_a_fresh_one(w: World) {
    for i in 0..1200 {
        w.file(
            "qinghe",
            if i % 2 == 0 { "g-1" } else { "g-2" },
            &format!("隐患 {i}"),
        )
        .await;
    }
    let live = w.read_model().await;
    Projector::new(w.log.clone(), live.clone())
        .catch_up()
        .await
        .unwrap();
    let before = live.digest().await.unwrap();
    let target = w.target();
    let log: Arc<dyn EventLog> = w.log.clone();
    // The live model goes wrong (as after a bug in a projection): the rebuild must put it right.
    w.execute("UPDATE cases SET title = 'tampered'").await;
    let tampered = live.digest().await.unwrap();
    assert_ne!(tampered, before);

    // Interrupted after its first batch (as by Ctrl-C): the live model is untouched.
    let interrupted = tokio::spawn({
        let (log, target) = (log.clone(), target.clone());
        async move {
            docket_projections::rebuild(log, &target, "sqlite", &Default::default(), &|at, _| {
                assert!(at < 500, "interrupted");
            })
            .await
        }
    })
    .await;
    assert!(interrupted.is_err(), "the first run stopped part-way");
    assert_eq!(
        live.digest().await.unwrap(),
        tampered,
        "the live model still serves as it was"
    );

    let report =
        docket_projections::rebuild(log, &target, "sqlite", &Default::default(), &|_, _| {})
            .await
            .unwrap();
    assert_eq!(report.resumed_from, 500, "the second run resumed");
    assert_eq!(report.position, SEEDED + 1200);
    assert_eq!(
        live.digest().await.unwrap(),
        before,
        "the rows as the log makes them"
    );
    let page = live
        .list_cases("qinghe", &CaseFilter::default(), None, 5)
        .await
        .unwrap();
    assert_eq!(
        page.items.len(),
        5,
        "the live handle reads the swapped-in tables"
    );
}

on_both!(person_files_gather_a_persons_cases_and_flag_repeat_petitions);
async fn person_files_gather_a_persons_cases_and_flag_repeat_petitions(w: World) {
    let day = jiff::SignedDuration::from_hours(24);
    let start: jiff::Timestamp = "2025-01-10T02:00:00Z".parse().unwrap();
    let zhang = json!({"name": "张三", "id_number": "11010519800101026X", "phone": "13800001111"});
    let li = json!({"name": "李四", "id_number": "110105194912310038"});
    w.clock.set(start);
    let first = w.petition("第一次", json!([zhang.clone()])).await;
    let other = w.petition("别人的", json!([li.clone()])).await;
    w.clock.set(start + day * 100);
    // The same person, by ID number, whatever the name is written as this time.
    let mut zhang_again = zhang.clone();
    zhang_again["name"] = json!("张 三");
    let second = w.petition("第二次", json!([zhang_again])).await;
    // Someone else on the same matter as li's: a repeat by matter once marked a duplicate.
    let same_matter = w.petition("同一事项", json!([{"name": "王五"}])).await;
    let command = CaseCommand::parse_action(
        CaseKind::Petition,
        "mark-duplicate",
        json!({"of": other.to_string()}),
    )
    .unwrap();
    w.give(
        &actor("qinghe", Role::PetitionOfficer),
        Some(same_matter),
        command,
    )
    .await;
    // More than a year after the first, but within a year of the second.
    w.clock.set(start + day * 400);
    let third = w.petition("第三次", json!([zhang.clone()])).await;
    // More than a year after the third: a first petition again.
    w.clock.set(start + day * 800);
    let fourth = w.petition("第四次", json!([zhang.clone()])).await;
    // A year and more after li's petition: no longer a repeat of it.
    let late_matter = w
        .petition("同一事项，晚了", json!([{"name": "赵六"}]))
        .await;
    let command = CaseCommand::parse_action(
        CaseKind::Petition,
        "mark-duplicate",
        json!({"of": other.to_string()}),
    )
    .unwrap();
    w.give(
        &actor("qinghe", Role::PetitionOfficer),
        Some(late_matter),
        command,
    )
    .await;

    let read = w.read_model().await;
    // Small batches, so the repeats span batches.
    Projector::new(w.log.clone(), read.clone())
        .with_batch(2)
        .catch_up()
        .await
        .unwrap();
    let vault = w.commands.vault().unwrap();
    let person = vault
        .find("qinghe", "11010519800101026x")
        .await
        .unwrap()
        .expect("the ID number is known");

    let file = read
        .person_cases("qinghe", person.as_uuid(), 100)
        .await
        .unwrap();
    let ids: Vec<_> = file.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [fourth, third, second, first].map(|c| c.as_uuid()),
        "newest first, and only this person's"
    );
    assert!(
        file.iter()
            .all(|c| c.part == "petitioner" && c.kind == "petition")
    );
    let repeats: Vec<_> = file.iter().map(|c| c.repeat).collect();
    assert_eq!(repeats, [false, true, true, false]);
    assert!(
        read.person_cases("other", person.as_uuid(), 100)
            .await
            .unwrap()
            .is_empty()
    );

    let repeat_of = |case: CaseId| {
        let read = read.clone();
        async move {
            read.repeat_of("qinghe", case.as_uuid())
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.case, r.by))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(repeat_of(first).await, []);
    assert_eq!(
        repeat_of(second).await,
        [(first.as_uuid(), "person".to_owned())]
    );
    assert_eq!(
        repeat_of(third).await,
        [(second.as_uuid(), "person".to_owned())]
    );
    assert_eq!(repeat_of(fourth).await, []);
    assert_eq!(
        repeat_of(same_matter).await,
        [(other.as_uuid(), "matter".to_owned())]
    );
    assert_eq!(repeat_of(late_matter).await, []);
    assert_eq!(repeat_of(other).await, []);

    // The list flags them, and filters on the flag.
    let only_repeats = CaseFilter {
        repeat: Some(true),
        ..CaseFilter::default()
    };
    let page = read
        .list_cases("qinghe", &only_repeats, None, 50)
        .await
        .unwrap();
    let mut listed: Vec<_> = page.items.iter().map(|c| c.id).collect();
    listed.sort();
    let mut expected = vec![second.as_uuid(), third.as_uuid(), same_matter.as_uuid()];
    expected.sort();
    assert_eq!(listed, expected);
    let all = read
        .list_cases("qinghe", &CaseFilter::default(), None, 50)
        .await
        .unwrap();
    assert_eq!(all.items.iter().filter(|c| c.repeat).count(), 3);
    let not_repeats = CaseFilter {
        repeat: Some(false),
        ..CaseFilter::default()
    };
    let page = read
        .list_cases("qinghe", &not_repeats, None, 50)
        .await
        .unwrap();
    assert_eq!(page.items.len(), all.items.len() - 3);

    // The figures count the same repeats, also when what they repeat was filed before the range.
    let repeats_in = |from: &str, to: &str| {
        let query = docket_projections::StatsQuery {
            tenant: "qinghe".to_owned(),
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
            now: start + day * 900,
            reach: Reach::Tenant,
            slice: Vec::new(),
            by: None,
        };
        let read = read.clone();
        async move {
            let all = read.stats(&query).await.unwrap();
            let g = all.get("").cloned().unwrap_or_else(|| panic!("{all:?}"));
            (g.opened_petitions, g.opened_repeats)
        }
    };
    assert_eq!(repeats_in("2025-01-01", "2027-12-31").await, (7, 3));
    assert_eq!(
        repeats_in("2025-04-20", "2026-02-14").await,
        (3, 3),
        "the second, the same matter and the third, whose earlier petitions precede the range"
    );
    assert_eq!(repeats_in("2027-03-21", "2027-03-21").await, (2, 0));

    // A petition projected after a later one (another replica's clock ran behind), between the
    // third and the fourth: it repeats the third, and now the fourth repeats it.
    w.clock.set(start + day * 600);
    let between = w.petition("晚到的一次", json!([zhang.clone()])).await;
    Projector::new(w.log.clone(), read.clone())
        .catch_up()
        .await
        .unwrap();
    let file = read
        .person_cases("qinghe", person.as_uuid(), 100)
        .await
        .unwrap();
    let flagged: Vec<_> = file.iter().map(|c| (c.id, c.repeat)).collect();
    assert_eq!(
        flagged,
        [
            (fourth.as_uuid(), true),
            (between.as_uuid(), true),
            (third.as_uuid(), true),
            (second.as_uuid(), true),
            (first.as_uuid(), false)
        ]
    );
    assert_eq!(repeats_in("2025-01-01", "2027-12-31").await, (8, 5));
    assert_eq!(repeats_in("2027-03-21", "2027-03-21").await, (2, 1));
    w.same_rows_through_sqlx(&read).await;
}

on_both!(the_audit_holds_on_a_sound_log_and_names_what_was_altered);
async fn the_audit_holds_on_a_sound_log_and_names_what_was_altered(w: World) {
    let mut filed = Vec::new();
    for i in 0..4 {
        filed.push(w.file("qinghe", "g-1", &format!("hazard {i}")).await);
    }
    w.act(
        "qinghe",
        Role::Handler,
        filed[1],
        "dismiss",
        json!({"reason": "not-a-hazard"}),
    )
    .await;
    let read = w.read_model().await;
    Projector::new(w.log.clone(), read.clone())
        .catch_up()
        .await
        .unwrap();
    let target = w.target();
    let report = docket_projections::audit(
        w.log.clone(),
        &target,
        "sqlite",
        &Default::default(),
        &|_| {},
    )
    .await
    .unwrap();
    assert!(report.holds(), "{:?}", report.findings);
    // The two directories' chains are checked beside the four cases'.
    assert_eq!(
        (
            report.commits,
            report.cases,
            report.directories,
            report.head
        ),
        (SEEDED + 5, 4, 2, SEEDED + 5)
    );
    assert_eq!(report.compared_at, Some(SEEDED + 5));
    // At least every case row and every history row.
    assert!(report.rows_compared >= 4 + 5, "{}", report.rows_compared);

    // One byte of one stored commit changed: the audit names that commit.
    let log =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", w.dir.join("log.sqlite").display()))
            .await
            .unwrap();
    let (position, commit_id): (i64, String) =
        sqlx::query_as("SELECT position, commit_id FROM commits WHERE body LIKE '%hazard 2%'")
            .fetch_one(&log)
            .await
            .unwrap();
    sqlx::query(
        "UPDATE commits SET body = replace(body, 'hazard 2', 'hazard 9') WHERE position = $1",
    )
    .bind(position)
    .execute(&log)
    .await
    .unwrap();
    // And a unit's id in the first directory's seeding.
    sqlx::query(
        "UPDATE commits SET body = replace(body, 'qinghe-heating', 'qinghe-heatinx') WHERE position = 1",
    )
    .execute(&log)
    .await
    .unwrap();
    // And one figure of the read model: a day's count of opened cases.
    match &w.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&format!(
                "sqlite://{}",
                w.dir.join("read.sqlite").display()
            ))
            .await
            .unwrap();
            sqlx::query("UPDATE daily_counts SET n = n + 1 WHERE metric = 'opened'")
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query("UPDATE monthly_counts SET n = n + 1 WHERE metric = 'closed'")
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query("UPDATE directory_entries SET name = 'renamed by hand' WHERE id = 'g-2'")
                .execute(&pool)
                .await
                .unwrap();
        }
        Backend::Postgres(db) => {
            let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
            sqlx::query("UPDATE daily_counts SET n = n + 1 WHERE metric = 'opened'")
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query("UPDATE monthly_counts SET n = n + 1 WHERE metric = 'closed'")
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query("UPDATE directory_entries SET name = 'renamed by hand' WHERE id = 'g-2'")
                .execute(&pool)
                .await
                .unwrap();
        }
    }
    let report = docket_projections::audit(
        w.log.clone(),
        &target,
        "sqlite",
        &Default::default(),
        &|_| {},
    )
    .await
    .unwrap();
    assert!(!report.holds());
    let chain: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.check == "chain")
        .collect();
    assert_eq!(chain.len(), 2, "{:?}", report.findings);
    // The directory's chain is verified like a case's.
    let directory = docket_commands::directory_stream(&"qinghe".parse().unwrap());
    assert_eq!(chain[0].position, Some(1));
    assert_eq!(chain[0].case_id, Some(directory));
    assert_eq!(chain[1].position, Some(position as u64));
    assert_eq!(chain[1].commit_id.unwrap().to_string(), commit_id);
    assert_eq!(chain[1].case_id, Some(filed[2].as_uuid()));
    assert_eq!(chain[1].tenant.as_deref(), Some("qinghe"));
    // The recount from the altered log gives another title, and the count was tampered with.
    let rows: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.check == "read-model")
        .map(|f| f.detail.as_str())
        .collect();
    assert!(
        rows.iter()
            .any(|d| d.starts_with("cases row") && d.contains("hazard 9")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|d| d.starts_with("daily_counts row") && d.contains("metric=opened")),
        "{rows:?}"
    );
    // The directory's names are recounted from its own commits.
    assert!(
        rows.iter()
            .any(|d| d.starts_with("directory_entries row") && d.contains("g-2")),
        "{rows:?}"
    );
    // The monthly sums long ranges read are recounted as well.
    assert!(
        rows.iter()
            .any(|d| d.starts_with("monthly_counts row") && d.contains("metric=closed")),
        "{rows:?}"
    );
}

on_both!(the_projector_goes_on_while_an_audit_walks_and_compares);
/// The audit is paused where it waits longest in a real log, mid-walk and mid-comparison (the
/// live model's read snapshot open): meanwhile new commits are projected as they come.
async fn the_projector_goes_on_while_an_audit_walks_and_compares(w: World) {
    for i in 0..3 {
        w.file("qinghe", "g-1", &format!("before {i}")).await;
    }
    let read = w.read_model().await;
    let projector = Projector::new(w.log.clone(), read.clone());
    projector.catch_up().await.unwrap();
    let target = w.target();
    let (paused_tx, paused) = std::sync::mpsc::channel::<&'static str>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let log: Arc<dyn docket_eventlog::EventLog> = w.log.clone();
    // On a thread of its own, so that a paused audit holds up nothing but itself.
    let auditing = std::thread::spawn(move || {
        let pause_at = std::sync::Mutex::new((vec!["compare", "chains"], paused_tx, released));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(docket_projections::audit(
            log,
            &target,
            "sqlite",
            &Default::default(),
            &|p| {
                let mut pause = pause_at.lock().unwrap();
                let (pauses, paused, released) = &mut *pause;
                if pauses.last() == Some(&p.phase) {
                    pauses.pop();
                    paused.send(p.phase).unwrap();
                    released.recv().unwrap();
                }
            },
        ))
    });
    for (phase, title) in [
        ("chains", "during the walk"),
        ("compare", "during the comparison"),
    ] {
        assert_eq!(
            paused.recv_timeout(std::time::Duration::from_secs(30)),
            Ok(phase)
        );
        let case = w.file("qinghe", "g-1", title).await;
        let head = w.log.head().await.unwrap();
        let projected = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            projector.catch_up().await.unwrap()
        })
        .await
        .unwrap_or_else(|_| panic!("the projector waited for the audit {title}"));
        assert_eq!(projected, head);
        let number = read.case_number("qinghe", case.as_uuid()).await.unwrap();
        assert!(number.is_some(), "the case filed {title} is projected");
        release.send(()).unwrap();
    }
    let report = auditing.join().unwrap().unwrap();
    // Compared where the live model was when the comparison began: the walk saw one more case.
    assert!(report.holds(), "{:?}", report.findings);
    assert_eq!(report.compared_at, Some(SEEDED + 4));
}

on_both!(figures_count_the_range_by_filing_closing_and_event_days);
async fn figures_count_the_range_by_filing_closing_and_event_days(w: World) {
    use docket_projections::{Dimension, StatsQuery};
    let at = |s: &str| -> jiff::Timestamp { s.parse().unwrap() };
    let evidence = json!([{"content_hash": format!("sha256:{}", "ab".repeat(32)),
                           "media_type": "image/jpeg", "size": 1000, "blob": "blobs/1.jpg"}]);
    let zhang = json!([{"name": "张三", "id_number": "11010519800101026X"}]);
    w.clock.set(at("2025-02-25T02:00:00Z"));
    let h0 = w.file("qinghe", "g-1", "before the range").await;
    w.clock.set(at("2025-03-03T02:00:00Z"));
    let h1 = w.file("qinghe", "g-1", "dismissed in the range").await;
    let h2 = w.file("qinghe", "g-2", "left open").await;
    w.clock.set(at("2025-03-04T02:00:00Z"));
    w.act(
        "qinghe",
        Role::Handler,
        h1,
        "dismiss",
        json!({"reason": "not-a-hazard"}),
    )
    .await;
    w.clock.set(at("2025-03-05T02:00:00Z"));
    w.act(
        "qinghe",
        Role::Handler,
        h0,
        "fix-on-spot",
        json!({"evidence": evidence}),
    )
    .await;
    w.act("qinghe", Role::Handler, h0, "pass-reinspection", json!({}))
        .await;
    w.clock.set(at("2025-03-10T02:00:00Z"));
    let p1 = w.petition("第一次", zhang.clone()).await;
    w.clock.set(at("2025-03-12T02:00:00Z"));
    let p2 = w.petition("第二次", zhang.clone()).await;
    // Filed on the last day, late evening local time: still in the range.
    w.clock.set(at("2025-03-31T15:59:00Z"));
    let late = w.file("other", "g-1", "another tenant").await;
    w.clock.set(at("2025-04-02T02:00:00Z"));
    w.file("qinghe", "g-1", "after the range").await;
    let _ = (late, p1, p2, h2);

    let read = w.read_model().await;
    Projector::new(w.log.clone(), read.clone())
        .catch_up()
        .await
        .unwrap();
    let query = |by: Option<Dimension>, slice: Vec<(Dimension, String)>| StatsQuery {
        tenant: "qinghe".to_owned(),
        from: "2025-03-01".parse().unwrap(),
        to: "2025-03-31".parse().unwrap(),
        now: at("2025-04-20T00:00:00Z"),
        reach: Reach::Tenant,
        slice,
        by,
    };
    let all = read.stats(&query(None, Vec::new())).await.unwrap();
    let g = &all[""];
    assert_eq!(g.opened, 4, "{g:?}");
    assert_eq!(g.opened_closed, 1, "h1 only: h0 was filed before the range");
    assert_eq!(g.opened_hazards, 2);
    assert_eq!((g.opened_petitions, g.opened_repeats), (2, 1));
    assert_eq!(g.closed, 2, "h1 and h0 closed in the range");
    assert_eq!(g.closed_resolved, 1, "h0 rectified; h1 dismissed");
    assert_eq!(g.closed_hazards_resolved, 1);
    // Two closures, of 1 and 8 days: the median is the first (nearest rank 1 of 2), the 90th
    // percentile the second.
    assert_eq!(g.median_days_to_close, Some(1.0), "{g:?}");
    assert_eq!(g.p90_days_to_close, Some(8.0), "{g:?}");
    assert_eq!(g.counters.get("opened"), Some(&4));
    assert_eq!(g.counters.get("closed"), Some(&2));
    assert_eq!(g.counters.get("rectified"), Some(&1));
    // Open past their deadlines on 20 April: h2 (verification) and both petitions (acceptance).
    assert_eq!(g.opened_overdue, 3);

    let by_grid = read
        .stats(&query(Some(Dimension::Grid), Vec::new()))
        .await
        .unwrap();
    assert_eq!(by_grid.keys().collect::<Vec<_>>(), ["g-1", "g-2"]);
    // The petitions are filed in g-1.
    assert_eq!((by_grid["g-1"].opened, by_grid["g-2"].opened), (3, 1));
    assert_eq!((by_grid["g-1"].closed, by_grid["g-2"].closed), (2, 0));
    // Each group ranks its own closures; a group without any has no percentile.
    let ranked = |g: &str| {
        (
            by_grid[g].median_days_to_close,
            by_grid[g].p90_days_to_close,
        )
    };
    assert_eq!(ranked("g-1"), (Some(1.0), Some(8.0)));
    assert_eq!(ranked("g-2"), (None, None));
    let petitions = read
        .stats(&query(None, vec![(Dimension::Kind, "petition".to_owned())]))
        .await
        .unwrap();
    assert_eq!(petitions[""].opened, 2);
    assert_eq!(petitions[""].closed, 0);
    // A grid worker's figures are her grids'.
    let mut mine = query(None, Vec::new());
    mine.reach = Reach::Grids(vec!["g-2".parse().unwrap()]);
    let mine = read.stats(&mine).await.unwrap();
    assert_eq!((mine[""].opened, mine[""].closed), (1, 0));
    assert_eq!(mine[""].counters.get("opened"), Some(&1));
    w.same_rows_through_sqlx(&read).await;
}

on_both!(counters_over_years_and_months_equal_the_sum_of_their_days);
async fn counters_over_years_and_months_equal_the_sum_of_their_days(w: World) {
    use docket_projections::{Dimension, StatsQuery};
    // Hazards filed across three years, at local noon, in two grids; every third one dismissed
    // the next day (closed).
    let mut filed: Vec<(jiff::civil::Date, &str)> = Vec::new();
    let mut day: jiff::civil::Date = "2023-11-28".parse().unwrap();
    let mut i = 0;
    while day < "2026-02-03".parse().unwrap() {
        let grid = if i % 2 == 0 { "g-1" } else { "g-2" };
        w.clock.set(
            day.to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
                .unwrap()
                .timestamp()
                + jiff::SignedDuration::from_hours(12),
        );
        let case = w.file("qinghe", grid, "on patrol").await;
        if i % 3 == 0 {
            w.clock
                .set(w.clock.now() + jiff::SignedDuration::from_hours(24));
            w.act(
                "qinghe",
                Role::Handler,
                case,
                "dismiss",
                json!({"reason": "not-a-hazard"}),
            )
            .await;
        }
        filed.push((day, grid));
        day = day.checked_add(jiff::Span::new().days(13)).unwrap();
        i += 1;
    }
    let read = w.read_model().await;
    Projector::new(w.log.clone(), read.clone())
        .catch_up()
        .await
        .unwrap();
    let ranges = [
        ("2024-01-01", "2025-12-31"),
        ("2023-12-15", "2025-02-10"),
        ("2024-03-01", "2024-05-31"),
        ("2024-02-14", "2024-02-20"),
        ("2023-11-01", "2026-03-01"),
        ("2024-12-31", "2025-01-01"),
    ];
    for (from, to) in ranges {
        let (from, to): (jiff::civil::Date, jiff::civil::Date) =
            (from.parse().unwrap(), to.parse().unwrap());
        let query = StatsQuery {
            tenant: "qinghe".to_owned(),
            from,
            to,
            now: "2026-06-01T00:00:00Z".parse().unwrap(),
            reach: Reach::Tenant,
            slice: Vec::new(),
            by: Some(Dimension::Grid),
        };
        let by_grid = read.stats(&query).await.unwrap();
        // Counted from the filings themselves, and from the per-day table.
        for grid in ["g-1", "g-2"] {
            let expected = filed
                .iter()
                .filter(|(d, g)| *g == grid && from <= *d && *d <= to)
                .count() as i64;
            let counted = by_grid.get(grid).and_then(|g| g.counters.get("opened"));
            assert_eq!(
                counted.copied().unwrap_or(0),
                expected,
                "{grid} {from}..={to}"
            );
        }
        let by_day = read
            .daily_counts("qinghe", &from.to_string(), &to.to_string())
            .await
            .unwrap();
        for metric in ["opened", "closed"] {
            let days: i64 = by_day
                .iter()
                .filter(|c| c.metric == metric)
                .map(|c| c.n)
                .sum();
            let summed: i64 = by_grid
                .values()
                .filter_map(|g| g.counters.get(metric))
                .sum();
            assert_eq!(summed, days, "{metric} {from}..={to}");
        }
    }
    w.same_rows_through_sqlx(&read).await;
}

/// Waits until the read model has projected the whole log; fails after `within`.
async fn projected_within(w: &World, read: &ReadModel, within: std::time::Duration) {
    let head = w.log.head().await.unwrap();
    let until = tokio::time::Instant::now() + within;
    while read.checkpoint(CASES).await.unwrap() < head {
        assert!(
            tokio::time::Instant::now() < until,
            "position {head} projected within {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Two replicas' projectors on one Postgres read model, each with a pool of its own that stays
/// open: when the leader stops leading (shut down, or its task dropped), the other takes over
/// within seconds rather than when an idle connection holding the lease is reaped.
#[tokio::test(flavor = "multi_thread")]
async fn a_replica_that_stops_leading_hands_the_projection_on_within_seconds() {
    use std::time::Duration;
    let w = postgres();
    let Backend::Postgres(db) = &w.backend else {
        unreachable!()
    };
    let leases = || async {
        let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        n
    };
    let (a_read, b_read) = (w.read_model().await, w.read_model().await);
    let (stop_a, shutdown) = tokio::sync::watch::channel(false);
    let a = tokio::spawn(Projector::new(w.log.clone(), a_read.clone()).run(shutdown));
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while leases().await != 1 {
        assert!(tokio::time::Instant::now() < until, "A took the lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_stop_b, shutdown) = tokio::sync::watch::channel(false);
    let b = tokio::spawn(Projector::new(w.log.clone(), b_read.clone()).run(shutdown));
    w.file("qinghe", "g-1", "projected by A").await;
    projected_within(&w, &b_read, Duration::from_secs(5)).await;

    // A stops leading; its pool serves on.
    stop_a.send(true).unwrap();
    a.await.unwrap();
    assert_eq!(a_read.checkpoint(CASES).await.unwrap(), SEEDED + 1);
    w.file("qinghe", "g-1", "projected by B").await;
    projected_within(&w, &a_read, Duration::from_secs(5)).await;

    // A projects again when B's projector is dropped mid-wait, its pool open too.
    let (_stop_a, shutdown) = tokio::sync::watch::channel(false);
    let _a = tokio::spawn(Projector::new(w.log.clone(), a_read.clone()).run(shutdown));
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.abort();
    assert!(b.await.unwrap_err().is_cancelled());
    w.file("qinghe", "g-1", "projected by A again").await;
    projected_within(&w, &b_read, Duration::from_secs(5)).await;
    assert_eq!(leases().await, 1, "one replica leads");
    assert_eq!(b_read.checkpoint(CASES).await.unwrap(), SEEDED + 3);
}

on_both!(a_first_version_event_is_read_through_its_upcaster);
/// A 督办 notice recorded at version 1 of its event (no `unit` for the lead unit's) is projected
/// as version 2 reads it: counted, and the case's state holds the notice.
async fn a_first_version_event_is_read_through_its_upcaster(w: World) {
    w.clock.set("2025-03-03T02:00:00Z".parse().unwrap());
    let case = w.file("qinghe", "g-1", "old notice").await;
    let filed = w
        .log
        .read_case("qinghe", case.as_uuid())
        .await
        .unwrap()
        .remove(0)
        .commit;
    let mut notice = docket_eventlog::contract::first_scheme_body(
        "qinghe",
        case.as_uuid(),
        "hazard",
        2,
        (
            "case.supervision_noticed",
            1,
            json!({"number": 1, "notice": "限期核实", "due": "2025-03-10T00:00:00Z"}),
        ),
        "supervisor",
    );
    notice.command.name = "supervise".to_owned();
    notice.recorded_at = "2025-03-03T03:00:00Z".parse().unwrap();
    let notice = notice.seal(filed.hash.clone());
    w.log.append(&notice).await.unwrap();
    let read = w.read_model().await;
    Projector::new(w.log.clone(), read.clone())
        .catch_up()
        .await
        .unwrap();
    let counts = read
        .daily_counts("qinghe", "2025-03-03", "2025-03-03")
        .await
        .unwrap();
    assert!(
        counts
            .iter()
            .any(|c| c.metric == "supervisions" && c.n == 1),
        "{counts:?}"
    );
    // The domain reads it the same way: the notice can be answered.
    w.act(
        "qinghe",
        Role::Handler,
        case,
        "answer-supervision",
        json!({"notice": 1, "answer": "已核实"}),
    )
    .await;
}

/// The read model's quarantine, as the command service asks it.
#[derive(Debug)]
struct HeldIn(ReadModel);

#[async_trait::async_trait]
impl docket_commands::Quarantine for HeldIn {
    async fn quarantined_at(
        &self,
        tenant: &docket_domain::TenantId,
        stream: uuid::Uuid,
    ) -> Result<Option<u64>, docket_commands::CommandError> {
        Ok(self
            .0
            .quarantined_at(tenant.as_str(), &stream.to_string())
            .await
            .unwrap())
    }
}

/// A commit sealed onto the last one of `case`, of one event at `schema_version`.
async fn append_raw(
    w: &World,
    tenant: &str,
    case: uuid::Uuid,
    version: u64,
    (event_type, schema_version, data): (&str, u32, serde_json::Value),
) -> u64 {
    let prev = match w.log.read_case(tenant, case).await.unwrap().pop() {
        Some(last) => last.commit.hash,
        None => docket_eventlog::ChainHash::genesis(),
    };
    let body = docket_eventlog::contract::first_scheme_body(
        tenant,
        case,
        "hazard",
        version,
        (event_type, schema_version, data),
        "supervisor",
    );
    w.log.append(&body.seal(prev)).await.unwrap().position
}

fn notice(schema_version: u32) -> (&'static str, u32, serde_json::Value) {
    (
        "case.supervision_noticed",
        schema_version,
        json!({"number": 1, "notice": "限期核实", "due": "2030-03-10T00:00:00Z", "unit": "qinghe-safety"}),
    )
}

on_both!(a_commit_that_cannot_be_applied_is_quarantined_and_the_rest_of_the_log_projects);
/// A commit of a newer release (an event version this one does not know) is held aside with its
/// position and why, and so is every later commit of its case, and a filing this release cannot
/// read keeps the number it drew; the other cases of the tenant and of other tenants project on,
/// the held case takes no commands, and a repair by this release leaves it held. A rebuild holds
/// the same commits, so the audit's recount agrees.
async fn a_commit_that_cannot_be_applied_is_quarantined_and_the_rest_of_the_log_projects(w: World) {
    let held = w.file("qinghe", "g-1", "held").await;
    let neighbour = w.file("qinghe", "g-1", "neighbour").await;
    let newer = append_raw(&w, "qinghe", held.as_uuid(), 2, notice(99)).await;
    let after = append_raw(&w, "qinghe", held.as_uuid(), 3, notice(1)).await;
    let unreadable_filing = CaseId::new();
    let filing = append_raw(
        &w,
        "qinghe",
        unreadable_filing.as_uuid(),
        1,
        ("case.filed", 99, json!({"title": "from the future"})),
    )
    .await;
    w.act(
        "qinghe",
        Role::Handler,
        neighbour,
        "verify",
        json!({"severity": "general", "responsible_party": "餐馆"}),
    )
    .await;
    let elsewhere = w.file("other", "g-1", "another tenant").await;
    let last_filing = w.file("qinghe", "g-2", "filed after").await;

    let read = w.read_model().await;
    let head = w.log.head().await.unwrap();
    assert_eq!(
        Projector::new(w.log.clone(), read.clone())
            .catch_up()
            .await
            .unwrap(),
        head,
        "the projection went past the commits it could not apply"
    );
    let quarantined = read.quarantined(None).await.unwrap();
    let positions: Vec<i64> = quarantined.iter().map(|q| q.position).collect();
    assert_eq!(
        positions,
        [newer as i64, after as i64, filing as i64],
        "{quarantined:?}"
    );
    assert!(
        quarantined[0].reason.contains("99"),
        "{}",
        quarantined[0].reason
    );
    assert_eq!(
        quarantined[1].reason,
        "follows a quarantined commit of the same case"
    );
    assert!(quarantined.iter().all(|q| q.tenant == "qinghe"));
    assert!(read.quarantined(Some("other")).await.unwrap().is_empty());
    assert_eq!(
        read.quarantined_at("qinghe", &held.to_string())
            .await
            .unwrap(),
        Some(newer)
    );
    assert_eq!(
        read.quarantined_at("other", &held.to_string())
            .await
            .unwrap(),
        None,
        "another tenant's quarantine is not this tenant's"
    );

    let list = read
        .list_cases("qinghe", &CaseFilter::default(), None, 50)
        .await
        .unwrap();
    let version_of = |id: CaseId| {
        list.items
            .iter()
            .find(|c| c.id == id.as_uuid())
            .map(|c| c.version)
    };
    assert_eq!(
        version_of(held),
        Some(1),
        "as its last applied commit left it"
    );
    assert_eq!(version_of(neighbour), Some(2));
    assert_eq!(version_of(unreadable_filing), None);
    // The unreadable filing drew the third number: the case filed after it has the fourth.
    assert_eq!(
        quarantined[2].number.as_deref().map(|n| &n[n.len() - 6..]),
        Some("000003")
    );
    let last = list
        .items
        .iter()
        .find(|c| c.id == last_filing.as_uuid())
        .unwrap();
    assert!(last.number.ends_with("000004"), "{}", last.number);
    let theirs = read
        .list_cases("other", &CaseFilter::default(), None, 50)
        .await
        .unwrap();
    assert_eq!(theirs.items.len(), 1);
    assert_eq!(theirs.items[0].id, elsewhere.as_uuid());

    // The held case refuses commands; the others take them.
    let commands = w
        .commands
        .clone()
        .with_quarantine(Arc::new(HeldIn(read.clone())));
    let verify = || {
        CaseCommand::parse_action(
            CaseKind::Hazard,
            "verify",
            json!({"severity": "general", "responsible_party": "餐馆"}),
        )
        .unwrap()
    };
    let refused = commands
        .handle(
            &actor("qinghe", Role::Handler),
            CommandRequest {
                case_id: Some(held),
                command: verify(),
                idempotency_key: None,
                expected_version: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, docket_commands::CommandError::Quarantined { position, .. } if position == newer),
        "{refused:?}"
    );
    let head_before = w.log.head().await.unwrap();
    assert_eq!(head_before, head, "a refused command writes nothing");

    // This release still cannot read them: a repair leaves them held, and says so.
    let report = read.repair(w.log.as_ref(), None).await.unwrap();
    assert_eq!((report.cases, report.applied, report.still_held), (2, 0, 3));
    assert_eq!(read.quarantined(None).await.unwrap(), quarantined);

    // A rebuild from the log holds the same commits: the live model and a recount agree.
    let before = read.digest().await.unwrap();
    let target = w.target();
    let log: Arc<dyn EventLog> = w.log.clone();
    docket_projections::rebuild(log, &target, "sqlite", &Default::default(), &|_, _| {})
        .await
        .unwrap();
    let rebuilt = w.read_model().await;
    assert_eq!(rebuilt.digest().await.unwrap(), before);
}

on_both!(a_case_whose_stored_state_cannot_be_read_is_held_until_repaired);
/// A case whose stored state no longer reads (as after an upgrade that changed it) holds its next
/// commit aside while the others project; once it reads again, `repair` applies the held commit,
/// and the model is the one a projection that never held it builds.
async fn a_case_whose_stored_state_cannot_be_read_is_held_until_repaired(w: World) {
    let held = w.file("qinghe", "g-1", "held").await;
    let other = w.file("qinghe", "g-1", "other").await;
    let read = w.read_model().await;
    let projector = Projector::new(w.log.clone(), read.clone());
    projector.catch_up().await.unwrap();
    w.execute("UPDATE cases SET state = '~' || state WHERE title = 'held'")
        .await;
    let verify = json!({"severity": "major", "responsible_party": "餐馆"});
    w.act("qinghe", Role::Handler, held, "verify", verify.clone())
        .await;
    w.act("qinghe", Role::Handler, other, "verify", verify)
        .await;
    projector.catch_up().await.unwrap();
    let quarantined = read.quarantined(None).await.unwrap();
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    assert_eq!(quarantined[0].case_id, held.to_string());
    assert!(
        quarantined[0].reason.contains("stored state"),
        "{}",
        quarantined[0].reason
    );
    let severity = |read: ReadModel, id: CaseId| async move {
        read.list_cases("qinghe", &CaseFilter::default(), None, 50)
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|c| c.id == id.as_uuid())
            .unwrap()
            .severity
    };
    assert_eq!(
        severity(read.clone(), other).await.as_deref(),
        Some("major")
    );
    assert_eq!(
        severity(read.clone(), held).await.as_deref(),
        Some("general")
    );

    let report = read.repair(w.log.as_ref(), None).await.unwrap();
    assert_eq!((report.applied, report.still_held), (0, 1), "{report:?}");

    w.execute("UPDATE cases SET state = substr(state, 2) WHERE title = 'held'")
        .await;
    let report = read
        .repair(w.log.as_ref(), Some(&held.to_string()))
        .await
        .unwrap();
    assert_eq!((report.cases, report.applied, report.still_held), (1, 1, 0));
    assert!(read.quarantined(None).await.unwrap().is_empty());
    assert_eq!(severity(read.clone(), held).await.as_deref(), Some("major"));
    assert_eq!(
        read.history("qinghe", held.as_uuid()).await.unwrap().len(),
        2
    );

    let repaired = read.digest().await.unwrap();
    let target = w.target();
    let log: Arc<dyn EventLog> = w.log.clone();
    docket_projections::rebuild(log, &target, "sqlite", &Default::default(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(
        w.read_model().await.digest().await.unwrap(),
        repaired,
        "the repaired model is the one a projection that never held the commit builds"
    );
}

on_both!(each_tenant_counts_days_and_numbers_years_in_its_own_time_zone);
/// A tenant whose policy sets London's time counts a filing at 20:00 UTC on New Year's Eve on
/// 31 December, numbers it in the old year, and finds it in that day's figures; a tenant on the
/// default (Asia/Shanghai) counts the same instant on 1 January of the new year.
async fn each_tenant_counts_days_and_numbers_years_in_its_own_time_zone(w: World) {
    use docket_domain::deadlines::{DeadlinePolicy, Policies};
    let london = DeadlinePolicy::from_toml("time_zone = \"Europe/London\"", |_| {
        Err("no calendar".to_owned())
    })
    .unwrap();
    let policies = Policies::default().with_tenant("other".parse().unwrap(), london);
    w.clock.set("2025-12-31T20:00:00Z".parse().unwrap());
    let shanghai_case = w.file("qinghe", "g-1", "new year's night in qinghe").await;
    let london_case = w.file("other", "g-1", "new year's eve in london").await;
    let read = w.read_model().await.with_policies(policies.clone());
    Projector::new(w.log.clone(), read.clone())
        .catch_up()
        .await
        .unwrap();

    let number = |tenant: &'static str, case: CaseId| {
        let read = read.clone();
        async move {
            read.case_number(tenant, case.as_uuid())
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(number("qinghe", shanghai_case).await, "HZ-2026-000001");
    assert_eq!(number("other", london_case).await, "HZ-2025-000001");
    let opened_on = |tenant: &'static str, day: &'static str| {
        let read = read.clone();
        async move {
            read.daily_counts(tenant, day, day)
                .await
                .unwrap()
                .iter()
                .filter(|c| c.metric == "opened")
                .map(|c| c.n)
                .sum::<i64>()
        }
    };
    assert_eq!(opened_on("qinghe", "2026-01-01").await, 1);
    assert_eq!(opened_on("qinghe", "2025-12-31").await, 0);
    assert_eq!(opened_on("other", "2025-12-31").await, 1);
    assert_eq!(opened_on("other", "2026-01-01").await, 0);
    // The figures' range is the tenant's days: the cohort filed on its 31 December.
    let stats = |tenant: &str, day: &str| docket_projections::StatsQuery {
        tenant: tenant.to_owned(),
        from: day.parse().unwrap(),
        to: day.parse().unwrap(),
        now: "2026-01-02T00:00:00Z".parse().unwrap(),
        reach: Reach::Tenant,
        slice: Vec::new(),
        by: None,
    };
    let opened = |q: docket_projections::StatsQuery| {
        let read = read.clone();
        async move {
            read.stats(&q)
                .await
                .unwrap()
                .get("")
                .map_or(0, |g| g.opened)
        }
    };
    assert_eq!(opened(stats("other", "2025-12-31")).await, 1);
    assert_eq!(opened(stats("other", "2026-01-01")).await, 0);
    assert_eq!(opened(stats("qinghe", "2026-01-01")).await, 1);

    // A rebuild and the audit under the same policies agree with the live model.
    let live = read.digest().await.unwrap();
    let log: Arc<dyn EventLog> = w.log.clone();
    docket_projections::rebuild(log, &w.target(), "sqlite", &policies, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(w.read_model().await.digest().await.unwrap(), live);
    let report =
        docket_projections::audit(w.log.clone(), &w.target(), "sqlite", &policies, &|_| {})
            .await
            .unwrap();
    assert_eq!(report.mismatches, 0, "{report:?}");
}
