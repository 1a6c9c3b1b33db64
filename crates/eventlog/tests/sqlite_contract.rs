//! The event-log contract on the embedded SQLite backend.

use std::sync::Arc;

use docket_eventlog::SqliteLog;

/// A fresh log in a temporary directory that lives as long as the test process.
fn fresh() -> Arc<SqliteLog> {
    let dir = tempfile::tempdir().unwrap().keep();
    Arc::new(SqliteLog::open(dir.join("log.sqlite")).unwrap())
}

docket_eventlog::contract_tests!(fresh());
