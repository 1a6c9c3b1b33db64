//! Test support. Starts the project's pinned `nats-server` (installed by `make nats-server` into
//! `.tools/`, never the machine's own) on free loopback ports with temporary storage, and kills,
//! restarts or clusters it for fault tests. Gives each test a fresh Postgres database (on
//! `DOCKET_TEST_POSTGRES`, else the machine's server, else a temporary cluster), and Postgres
//! clusters of a test's own to stop, kill and start again. Everything is removed on drop. Holds
//! the answers tests receive to the API's OpenAPI document (`contract`).

pub mod cluster;
pub mod contract;
mod nats;
mod postgres;

pub use nats::{NatsCluster, NatsServer, nats_server_bin};
pub use postgres::{PgCluster, PgDatabase};

use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/testkit sits two levels below the workspace root")
        .to_path_buf()
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `GET path` on 127.0.0.1:`port` over HTTP/1.0 (the body comes whole, never in chunks): the
/// whole response, head and body, or `None` when nothing answers.
pub(crate) fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    Some(response)
}
