//! A Docket process dies after its commit reached JetStream but before it answered. The client
//! retries with the same idempotency key on another process: one commit, and the first outcome.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use docket_commands::{Actor, CommandError, CommandRequest, CommandService, SystemClock};
use docket_domain::{CaseCommand, CaseId, CaseKind, Role};
use docket_eventlog::{
    Appended, Commit, EventLog, JetStreamConfig, JetStreamLog, LogError, Recorded,
};
use docket_testkit::NatsServer;
use serde_json::json;
use uuid::Uuid;

/// A log whose appends land but whose answers are lost, as when the process dies in between.
#[derive(Debug)]
struct DiesAfterAppend(JetStreamLog);

#[async_trait]
impl EventLog for DiesAfterAppend {
    async fn append(&self, commit: &Commit) -> Result<Appended, LogError> {
        self.0.append(commit).await?;
        Err(LogError::Unavailable(
            "the process died before answering".into(),
        ))
    }
    async fn read_case(&self, tenant: &str, case_id: Uuid) -> Result<Vec<Recorded>, LogError> {
        self.0.read_case(tenant, case_id).await
    }
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<Recorded>, LogError> {
        self.0.read_all(after, limit).await
    }
    async fn read_position(&self, position: u64) -> Result<Option<Recorded>, LogError> {
        self.0.read_position(position).await
    }
    async fn head(&self) -> Result<u64, LogError> {
        self.0.head().await
    }
    async fn wait_for(&self, after: u64, timeout: Duration) -> Result<u64, LogError> {
        self.0.wait_for(after, timeout).await
    }
}

async fn process(server: &NatsServer) -> JetStreamLog {
    JetStreamLog::connect(&server.url(), JetStreamConfig::default())
        .await
        .unwrap()
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

fn request(case_id: Option<CaseId>, command: CaseCommand) -> CommandRequest {
    CommandRequest {
        case_id,
        command,
        idempotency_key: Some("retry-me".to_owned()),
        expected_version: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_filing_and_a_retried_action_each_make_one_commit() {
    let server = NatsServer::start();
    let filing = CaseCommand::parse_filing(json!({
        "kind": "hazard", "community": "qinghe", "grid": "qinghe-03", "unit": "qinghe-safety", "title": "配电箱门破损",
        "category": "electrical", "severity": "general", "source": "grid-worker"
    }))
    .unwrap();
    let seeded = docket_domain::directory::seed_from_names(
        &["qinghe"],
        &[("qinghe-03", "qinghe")],
        &["qinghe-safety"],
    )
    .unwrap();
    CommandService::new(Arc::new(process(&server).await), Arc::new(SystemClock))
        .seed_directory(&"qinghe".parse().unwrap(), seeded, "the test's tenant")
        .await
        .unwrap();

    let dying = CommandService::new(
        Arc::new(DiesAfterAppend(process(&server).await)),
        Arc::new(SystemClock),
    );
    let err = dying
        .handle(&actor(Role::GridWorker), request(None, filing.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CommandError::Log(LogError::Unavailable(_))),
        "{err:?}"
    );

    let survivor = CommandService::new(Arc::new(process(&server).await), Arc::new(SystemClock));
    let filed = survivor
        .handle(&actor(Role::GridWorker), request(None, filing))
        .await
        .unwrap();
    assert!(filed.replayed, "the retry answers with the first filing");
    let log = process(&server).await;
    // The directory's seeding is position 1.
    assert_eq!(log.head().await.unwrap(), 2, "one commit for two attempts");

    let verify = CaseCommand::parse_action(
        CaseKind::Hazard,
        "verify",
        json!({"severity": "general", "responsible_party": "物业"}),
    )
    .unwrap();
    let err = dying
        .handle(
            &actor(Role::Handler),
            request(Some(filed.case_id), verify.clone()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, CommandError::Log(LogError::Unavailable(_))),
        "{err:?}"
    );
    let verified = survivor
        .handle(&actor(Role::Handler), request(Some(filed.case_id), verify))
        .await
        .unwrap();
    assert!(verified.replayed);
    assert_eq!(verified.version, 2);
    assert_eq!(log.head().await.unwrap(), 3, "one commit for two attempts");
    let commits = log
        .read_case("qinghe", filed.case_id.as_uuid())
        .await
        .unwrap();
    assert_eq!(commits.len(), 2);
}
