//! Two replicas on one JetStream log, each with its deadline watch, and a clock moved past the
//! cases' deadlines: each missed deadline is recorded exactly once, each overdue petition
//! becomes backlog once, and each unit's missed check-in on a livelihood request is recorded
//! once, whichever watch gets there and however they race.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docket_commands::{Actor, Clock, CommandRequest, CommandService, Vault};
use docket_domain::deadlines::{DeadlinePolicy, Limit, LivelihoodLimits, Policies, TimeLimit};
use docket_domain::{CaseCommand, CaseId, CaseKind, Role};
use docket_eventlog::{EventLog, JetStreamConfig, JetStreamLog};
use docket_projections::{Projector, ReadModel};
use docket_testkit::NatsServer;
use docket_watch::DeadlineWatch;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

#[derive(Debug)]
struct TestClock(Mutex<Timestamp>);

impl TestClock {
    fn set(&self, t: Timestamp) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

struct Replica {
    log: Arc<JetStreamLog>,
    commands: CommandService,
    read: ReadModel,
    watch: DeadlineWatch,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
}

async fn replica(server: &NatsServer, clock: Arc<TestClock>) -> Replica {
    replica_with(server, clock, Policies::default()).await
}

/// A replica whose tenants follow these deadline policies.
async fn replica_with(server: &NatsServer, clock: Arc<TestClock>, policies: Policies) -> Replica {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        JetStreamLog::connect(&server.url(), JetStreamConfig::default())
            .await
            .unwrap(),
    );
    let read = ReadModel::open(dir.path().join("read.sqlite"), "nats:DOCKET")
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(Projector::new(log.clone(), read.clone()).run(stopped));
    let commands = CommandService::new(log.clone(), clock)
        .with_vault(Vault::in_memory().await.unwrap())
        .with_policies(policies);
    // Whichever replica starts first seeds the tenant's directory; the other finds it kept.
    let mut seeded = docket_domain::directory::seed_from_names(
        &["qinghe"],
        &[("qinghe-03", "qinghe")],
        &["qinghe-safety", "qinghe-market", "qinghe-property"],
    )
    .unwrap();
    // All three answer in the coordinated response network.
    if let docket_domain::directory::DirectoryEvent::Seeded { units, .. } = &mut seeded {
        units.iter_mut().for_each(|u| u.in_network = true);
    }
    commands
        .seed_directory(&"qinghe".parse().unwrap(), seeded, "the test's tenant")
        .await
        .unwrap();
    let watch = DeadlineWatch::new(commands.clone(), read.clone());
    Replica {
        log,
        commands,
        read,
        watch,
        _dir: dir,
        _stop: stop,
    }
}

impl Replica {
    async fn handle(&self, role: Role, case_id: Option<CaseId>, command: CaseCommand) -> CaseId {
        self.handle_for("qinghe-safety", role, case_id, command)
            .await
    }

    /// As `handle`, by a person of `unit`.
    async fn handle_for(
        &self,
        unit: &str,
        role: Role,
        case_id: Option<CaseId>,
        command: CaseCommand,
    ) -> CaseId {
        let actor = Actor {
            id: format!("{role}-{unit}"),
            tenant: "qinghe".parse().unwrap(),
            role,
            unit: Some(unit.parse().unwrap()),
            grids: Vec::new(),
        };
        let request = CommandRequest {
            case_id,
            command,
            idempotency_key: None,
            expected_version: None,
        };
        self.commands.handle(&actor, request).await.unwrap().case_id
    }

    async fn caught_up(&self) {
        let head = self.log.head().await.unwrap();
        assert!(
            self.read.wait_until(head, Duration::from_secs(20)).await,
            "the read model reaches the head"
        );
    }
}

/// (case, event type, deadline) of every deadline event in the log, with the actor's id.
async fn deadline_events(log: &JetStreamLog) -> Vec<(String, String, String, String)> {
    let mut found = Vec::new();
    for r in log.read_all(0, 10_000).await.unwrap() {
        let body = &r.commit.body;
        for e in &body.events {
            if e.event_type == "case.deadline_missed" || e.event_type == "petition.became_backlog" {
                found.push((
                    body.case_id.to_string(),
                    e.event_type.clone(),
                    e.data["deadline"].as_str().unwrap().to_owned(),
                    body.actor.id.clone(),
                ));
            }
        }
    }
    found
}

/// Both watches sweep, racing, until neither finds anything more; returns the commits recorded.
async fn race(a: &Replica, b: &Replica) -> usize {
    let mut recorded = 0;
    for _ in 0..20 {
        a.caught_up().await;
        b.caught_up().await;
        let (sa, sb) = tokio::join!(a.watch.sweep(), b.watch.sweep());
        let (sa, sb) = (sa.unwrap(), sb.unwrap());
        assert_eq!(sa.failed + sb.failed, 0);
        recorded += sa.recorded + sb.recorded;
        if sa.found == 0 && sb.found == 0 {
            return recorded;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the watches kept finding overdue cases");
}

/// (case, unit, actor) of every missed check-in in the log.
async fn missed_check_ins(log: &JetStreamLog) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for r in log.read_all(0, 10_000).await.unwrap() {
        let body = &r.commit.body;
        for e in &body.events {
            if e.event_type == "livelihood.check_in_missed" {
                found.push((
                    body.case_id.to_string(),
                    e.data["unit"].as_str().unwrap().to_owned(),
                    body.actor.id.clone(),
                ));
            }
        }
    }
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn each_units_missed_check_in_is_recorded_once_by_two_racing_watches() {
    let server = NatsServer::start();
    // A Saturday morning: an emergency's limits run on the clock, weekend or not.
    let start: Timestamp = "2025-03-08T02:00:00Z".parse().unwrap();
    let clock = Arc::new(TestClock(Mutex::new(start)));
    let (a, b) = (
        replica(&server, clock.clone()).await,
        replica(&server, clock.clone()).await,
    );
    // Four emergency requests, each to the market (lead), the property company and the safety
    // office; the safety office checks in at once on the first two.
    let mut requests = Vec::new();
    for i in 0..4 {
        let on = if i % 2 == 0 { &a } else { &b };
        let receive = CaseCommand::parse_filing(json!({
            "kind": "livelihood", "community": "qinghe", "grid": "qinghe-03",
            "title": format!("燃气泄漏 {i}"), "channel": "walk-in", "category": "utilities",
            "urgency": "emergency"}))
        .unwrap();
        let id = on.handle(Role::PetitionOfficer, None, receive).await;
        let dispatch = CaseCommand::parse_action(
            CaseKind::Livelihood,
            "dispatch",
            json!({"lead": "qinghe-market", "co_handlers": ["qinghe-property", "qinghe-safety"]}),
        )
        .unwrap();
        on.handle(Role::PetitionOfficer, Some(id), dispatch).await;
        if i < 2 {
            let check_in =
                CaseCommand::parse_action(CaseKind::Livelihood, "check-in", json!({})).unwrap();
            on.handle(Role::Handler, Some(id), check_in).await;
        }
        requests.push(id.to_string());
    }
    assert_eq!(race(&a, &b).await, 0, "nothing is late yet");

    // Thirty-one minutes on: every unit not checked in has missed its 30 minutes.
    clock.set(start + SignedDuration::from_mins(31));
    let recorded = race(&a, &b).await;
    let missed = missed_check_ins(&a.log).await;
    let mut expected: Vec<(String, String, String)> = requests
        .iter()
        .enumerate()
        .flat_map(|(i, id)| {
            let units: &[&str] = if i < 2 {
                &["qinghe-market", "qinghe-property"]
            } else {
                &["qinghe-market", "qinghe-property", "qinghe-safety"]
            };
            units.iter().map(move |u| {
                (
                    id.clone(),
                    (*u).to_owned(),
                    docket_commands::WATCH_ACTOR.to_owned(),
                )
            })
        })
        .collect();
    expected.sort();
    assert_eq!(missed, expected);
    assert_eq!(recorded, requests.len(), "one commit per request");
    assert!(
        deadline_events(&a.log).await.is_empty(),
        "the 2 hours of handling have not passed"
    );

    // The property company checks in late on the first: late, and no second miss.
    let check_in = CaseCommand::parse_action(CaseKind::Livelihood, "check-in", json!({})).unwrap();
    let first: CaseId = requests[0].parse().unwrap();
    b.handle_for("qinghe-property", Role::Handler, Some(first), check_in)
        .await;
    // Two hours after receipt, on a Saturday: each request's handling limit is missed, once.
    clock.set(start + SignedDuration::from_mins(121));
    race(&a, &b).await;
    assert_eq!(missed_check_ins(&a.log).await, expected);
    let late = deadline_events(&a.log).await;
    assert_eq!(late.len(), requests.len(), "{late:?}");
    let state = docket_commands::load_case(a.log.as_ref(), &"qinghe".parse().unwrap(), first)
        .await
        .unwrap()
        .state
        .unwrap();
    let docket_domain::Detail::Livelihood(request) = &state.detail else {
        panic!("a livelihood request");
    };
    let property = request
        .dispatches
        .iter()
        .find(|d| d.unit.as_str() == "qinghe-property")
        .unwrap();
    assert!(property.checked_in && property.late && property.missed);
}

/// A general request handled in 7 working days, received on the Friday before National Day
/// (2025-09-26): the make-up working days (Sunday 28 September, Saturday 11 October) count, the
/// holiday (1 to 8 October) and the weekends do not, so its last day is Monday 13 October. The
/// watches record nothing at 23:59:59 that day, and the miss once at midnight.
#[tokio::test(flavor = "multi_thread")]
async fn a_general_requests_seven_working_days_run_across_national_day() {
    let server = NatsServer::start();
    let received: Timestamp = "2025-09-26T02:00:00Z".parse().unwrap();
    let clock = Arc::new(TestClock(Mutex::new(received)));
    let mut livelihood = LivelihoodLimits::default();
    livelihood.handle.general = TimeLimit::Days(Limit::working_days(7));
    let policy = DeadlinePolicy {
        livelihood,
        ..DeadlinePolicy::default()
    };
    let policies = || Policies::new(policy.clone());
    let (a, b) = (
        replica_with(&server, clock.clone(), policies()).await,
        replica_with(&server, clock.clone(), policies()).await,
    );
    let receive = CaseCommand::parse_filing(json!({
        "kind": "livelihood", "community": "qinghe", "grid": "qinghe-03", "title": "路灯不亮",
        "channel": "grid-meeting", "category": "public-facilities", "urgency": "general"}))
    .unwrap();
    let id = a.handle(Role::PetitionOfficer, None, receive).await;
    let dispatch = CaseCommand::parse_action(
        CaseKind::Livelihood,
        "dispatch",
        json!({"lead": "qinghe-safety"}),
    )
    .unwrap();
    a.handle(Role::PetitionOfficer, Some(id), dispatch).await;
    let check_in = CaseCommand::parse_action(CaseKind::Livelihood, "check-in", json!({})).unwrap();
    b.handle(Role::Handler, Some(id), check_in).await;
    // 13 October closes at 16:00 UTC (midnight in Shanghai).
    let due: Timestamp = "2025-10-13T16:00:00Z".parse().unwrap();
    clock.set(due - SignedDuration::from_secs(1));
    assert_eq!(race(&a, &b).await, 0, "the last working day is not over");
    clock.set(due);
    assert_eq!(race(&a, &b).await, 1);
    let missed = deadline_events(&a.log).await;
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(missed[0].2, due.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn each_missed_deadline_is_recorded_once_by_two_racing_watches() {
    let server = NatsServer::start();
    let start: Timestamp = "2025-03-03T02:00:00Z".parse().unwrap();
    let clock = Arc::new(TestClock(Mutex::new(start)));
    let (a, b) = (
        replica(&server, clock.clone()).await,
        replica(&server, clock.clone()).await,
    );

    let mut petitions = Vec::new();
    let mut others = Vec::new();
    for i in 0..6 {
        let (role, body) = match i % 3 {
            0 => (
                Role::Supervisor,
                json!({"kind": "hazard", "community": "qinghe", "grid": "qinghe-03",
                       "unit": "qinghe-safety", "title": format!("隐患 {i}"), "category": "fire",
                       "severity": "major", "source": "grid-worker"}),
            ),
            1 => (
                Role::Supervisor,
                json!({"kind": "dispute", "community": "qinghe", "grid": "qinghe-03",
                       "room": "qinghe-safety", "title": format!("纠纷 {i}"),
                       "dispute_type": "neighbour", "source": "walk-in",
                       "parties": [{"side": "applicant", "name": "甲"},
                                   {"side": "respondent", "name": "乙"}]}),
            ),
            _ => (
                Role::PetitionOfficer,
                json!({"kind": "petition", "community": "qinghe", "grid": "qinghe-03",
                       "title": format!("信访 {i}"), "channel": "letter",
                       "petition_type": "appeal-request", "category": "housing",
                       "petitioners": [{"name": "丙"}]}),
            ),
        };
        // Filed on either replica.
        let on = if i % 2 == 0 { &a } else { &b };
        let id = on
            .handle(role, None, CaseCommand::parse_filing(body).unwrap())
            .await;
        if i % 3 == 2 {
            petitions.push(id);
        } else {
            others.push(id);
        }
    }
    a.caught_up().await;
    b.caught_up().await;
    assert!(
        deadline_events(&a.log).await.is_empty(),
        "nothing is late yet"
    );
    // Nothing overdue: the watches find nothing.
    assert_eq!(a.watch.sweep().await.unwrap().found, 0);

    // Forty days on, every first step is late. Both watches sweep, racing, until neither finds
    // anything more.
    clock.set(start + SignedDuration::from_hours(40 * 24));
    let recorded = race(&a, &b).await;
    let events = deadline_events(&a.log).await;
    let cases = petitions.len() + others.len();
    let missed: Vec<_> = events
        .iter()
        .filter(|e| e.1 == "case.deadline_missed")
        .collect();
    let backlog: Vec<_> = events
        .iter()
        .filter(|e| e.1 == "petition.became_backlog")
        .collect();
    assert_eq!(missed.len(), cases, "{events:?}");
    assert_eq!(backlog.len(), petitions.len(), "{events:?}");
    let mut per_case: HashMap<&str, usize> = HashMap::new();
    for e in &missed {
        *per_case.entry(e.0.as_str()).or_default() += 1;
    }
    assert!(per_case.values().all(|n| *n == 1), "{per_case:?}");
    assert!(events.iter().all(|e| e.3 == docket_commands::WATCH_ACTOR));
    assert_eq!(
        recorded, cases,
        "one commit per case, by one watch or the other"
    );

    // On the worklist: every case missed a deadline; the petitions are backlog.
    a.caught_up().await;
    b.caught_up().await;
    for replica in [&a, &b] {
        let missed = docket_projections::CaseFilter {
            missed: Some(true),
            closed: Some(false),
            ..Default::default()
        };
        let page = replica
            .read
            .list_cases("qinghe", &missed, None, 50)
            .await
            .unwrap();
        assert_eq!(page.items.len(), cases);
        let backlog = docket_projections::CaseFilter {
            backlog: Some(true),
            ..Default::default()
        };
        let page = replica
            .read
            .list_cases("qinghe", &backlog, None, 50)
            .await
            .unwrap();
        assert_eq!(page.items.len(), petitions.len());
    }

    // The petitions are accepted late (nothing new to record: the miss and the backlog stand),
    // and their handling deadline passes in turn: one more miss each, and no second backlog.
    for id in &petitions {
        let accept = CaseCommand::parse_action(
            CaseKind::Petition,
            "accept",
            json!({"unit": "qinghe-safety"}),
        )
        .unwrap();
        b.handle(Role::PetitionOfficer, Some(*id), accept).await;
    }
    assert_eq!(deadline_events(&a.log).await.len(), events.len());
    clock.set(start + SignedDuration::from_hours(200 * 24));
    a.caught_up().await;
    b.caught_up().await;
    race(&a, &b).await;
    let later = deadline_events(&a.log).await;
    let mut seen = std::collections::HashSet::new();
    for e in &later {
        assert!(seen.insert((&e.0, &e.1, &e.2)), "recorded twice: {e:?}");
    }
    let petition_ids: Vec<String> = petitions.iter().map(ToString::to_string).collect();
    for id in &petition_ids {
        let missed = later
            .iter()
            .filter(|e| &e.0 == id && e.1 == "case.deadline_missed")
            .count();
        let backlog = later
            .iter()
            .filter(|e| &e.0 == id && e.1 == "petition.became_backlog")
            .count();
        assert_eq!((missed, backlog), (2, 1), "{id}: {later:?}");
    }
    // The others' deadlines did not move: nothing more for them.
    assert_eq!(later.len(), events.len() + petitions.len());
}
