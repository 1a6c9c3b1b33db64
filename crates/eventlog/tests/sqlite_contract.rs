//! The event-log contract on the embedded SQLite backend.

use std::sync::Arc;

use docket_eventlog::SqliteLog;
use docket_eventlog::contract::Log;

/// A fresh log in a temporary directory, removed with the guard.
fn fresh() -> (Log, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(SqliteLog::open(dir.path().join("log.sqlite")).unwrap());
    (log, dir)
}

docket_eventlog::contract_tests!(fresh());
