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
