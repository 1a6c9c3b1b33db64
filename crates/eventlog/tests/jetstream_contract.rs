//! The event-log contract on JetStream, against the pinned nats-server started per test.

use std::sync::Arc;

use docket_eventlog::contract::Log;
use docket_eventlog::{JetStreamConfig, JetStreamLog};
use docket_testkit::NatsServer;

/// A fresh server with an empty store, and the log on it; the server stops with the guard.
async fn fresh() -> (Log, NatsServer) {
    let server = NatsServer::start();
    let log = JetStreamLog::connect(&server.url(), JetStreamConfig::default())
        .await
        .unwrap();
    (Arc::new(log), server)
}

docket_eventlog::contract_tests!(fresh().await);

/// Two deployments on one NATS server, each with its own stream: the subjects follow the stream,
/// so both open, and each reads back only its own commits.
#[tokio::test]
async fn two_streams_share_a_server_without_their_subjects_overlapping() {
    use docket_eventlog::contract::commit;
    use docket_eventlog::{ChainHash, EventLog};
    let server = NatsServer::start();
    let open = |stream: &str| {
        let config = JetStreamConfig {
            stream: stream.to_owned(),
            ..JetStreamConfig::default()
        };
        let url = server.url();
        async move { JetStreamLog::connect(&url, config).await.unwrap() }
    };
    let (a, b) = (open("DOCKET").await, open("DOCKET_TRAINING").await);
    let (in_a, in_b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    a.append(&commit("t1", in_a, 1, ChainHash::genesis()))
        .await
        .unwrap();
    b.append(&commit("t1", in_b, 1, ChainHash::genesis()))
        .await
        .unwrap();
    for (log, mine, theirs) in [(&a, in_a, in_b), (&b, in_b, in_a)] {
        let all = log.read_all(0, 10).await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].commit.body.case_id, mine);
        assert_eq!(log.read_case("t1", mine).await.unwrap().len(), 1);
        assert!(log.read_case("t1", theirs).await.unwrap().is_empty());
    }
    // Opened again, each finds its own stream as it left it.
    assert_eq!(open("DOCKET_TRAINING").await.head().await.unwrap(), 1);
}
