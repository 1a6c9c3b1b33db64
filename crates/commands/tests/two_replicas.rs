//! Two Docket replicas on one JetStream log: one replica's cached view of a case goes stale when the
//! other acts on it. A stale view may cost a retry, never a wrong refusal or a lost update.

use std::sync::Arc;

use docket_commands::{Actor, CommandRequest, CommandService, SystemClock};
use docket_domain::{CaseCommand, CaseId, CaseKind, Role};
use docket_eventlog::{EventLog, JetStreamConfig, JetStreamLog};
use docket_testkit::NatsServer;
use serde_json::json;

async fn replica(server: &NatsServer) -> CommandService {
    let log = JetStreamLog::connect(&server.url(), JetStreamConfig::default())
        .await
        .unwrap();
    CommandService::new(Arc::new(log), Arc::new(SystemClock))
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

async fn act(svc: &CommandService, role: Role, case: Option<CaseId>, command: CaseCommand) -> u64 {
    let request = CommandRequest {
        case_id: case,
        command,
        idempotency_key: None,
        expected_version: None,
    };
    svc.handle(&actor(role), request).await.unwrap().version
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_with_a_stale_view_decides_on_the_case_as_it_stands() {
    let server = NatsServer::start();
    let (a, b) = (replica(&server).await, replica(&server).await);
    let seeded = docket_domain::directory::seed_from_names(
        &["qinghe"],
        &[("qinghe-03", "qinghe")],
        &["qinghe-safety"],
    )
    .unwrap();
    a.seed_directory(&"qinghe".parse().unwrap(), seeded, "the test's tenant")
        .await
        .unwrap();
    let filing = CaseCommand::parse_filing(json!({
        "kind": "hazard", "community": "qinghe", "grid": "qinghe-03", "unit": "qinghe-safety", "title": "楼顶违规搭建",
        "category": "structure", "severity": "major", "source": "grid-worker"
    }))
    .unwrap();
    let request = CommandRequest {
        case_id: None,
        command: filing,
        idempotency_key: None,
        expected_version: None,
    };
    let case = b
        .handle(&actor(Role::GridWorker), request)
        .await
        .unwrap()
        .case_id;
    let hazard =
        |action: &str, body| CaseCommand::parse_action(CaseKind::Hazard, action, body).unwrap();

    // Replica A verifies; B still holds the case as reported.
    let verify = hazard(
        "verify",
        json!({"severity": "major", "responsible_party": "业主"}),
    );
    assert_eq!(act(&a, Role::Handler, Some(case), verify).await, 2);

    // On B, ordering rectification needs the verified case: B must not refuse it on its stale view.
    let order = hazard("order-rectification", json!({"measures": "拆除"}));
    assert_eq!(act(&b, Role::Handler, Some(case), order).await, 3);

    let log = JetStreamLog::connect(&server.url(), JetStreamConfig::default())
        .await
        .unwrap();
    let commits = log.read_case("qinghe", case.as_uuid()).await.unwrap();
    let actions: Vec<&str> = commits
        .iter()
        .map(|r| r.commit.body.command.name.as_str())
        .collect();
    assert_eq!(actions, ["report", "verify", "order-rectification"]);
}
