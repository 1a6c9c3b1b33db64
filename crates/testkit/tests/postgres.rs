//! PgDatabase and PgCluster against real Postgres servers, through `psql`.
//!
//! The fallback paths of `PgDatabase::fresh` are chosen once per process from
//! `DOCKET_TEST_POSTGRES`, so they are proven in child processes: this test binary runs its own
//! ignored `child_makes_fresh_databases` with the variable set, and checks what it saw and what
//! it left behind once it has exited.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use docket_testkit::{PgCluster, PgDatabase};

fn try_psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .output()
        .expect("run psql");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

fn psql(url: &str, sql: &str) -> String {
    try_psql(url, sql).unwrap_or_else(|e| panic!("psql {url} -c {sql:?}: {e}"))
}

/// The same server's `postgres` database.
fn admin_of(url: &str) -> String {
    let (server, _) = url.rsplit_once('/').expect("URL with a database");
    format!("{server}/postgres")
}

fn port_of(url: &str) -> u16 {
    let (server, _) = url.rsplit_once('/').expect("URL with a database");
    let (_, port) = server.rsplit_once(':').expect("URL with a port");
    port.parse().expect("numeric port")
}

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "not within 30 s: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn fresh_databases_are_distinct_usable_and_dropped_even_when_in_use() {
    let a = PgDatabase::fresh();
    let b = PgDatabase::fresh();
    assert_ne!(a.name(), b.name());
    assert_ne!(a.url(), b.url());
    assert!(a.url().ends_with(&format!("/{}", a.name())), "{}", a.url());

    psql(
        a.url(),
        "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)",
    );
    assert_eq!(psql(a.url(), "SELECT sum(x) FROM t"), "3");
    assert_eq!(psql(b.url(), "SELECT to_regclass('t') IS NULL"), "t");
    psql(
        b.url(),
        "CREATE TABLE t (y text); INSERT INTO t VALUES ('b')",
    );
    assert_eq!(psql(b.url(), "SELECT y FROM t"), "b");
    assert_eq!(psql(a.url(), "SELECT count(*) FROM t"), "2");

    // A session still connected to `a` does not keep it alive: the drop is WITH (FORCE).
    let mut session = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-d", a.url()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run psql");
    let mut stdin = session.stdin.take().expect("psql stdin");
    stdin.write_all(b"SELECT 42;\n").expect("write to psql");
    let mut line = String::new();
    BufReader::new(session.stdout.take().expect("psql stdout"))
        .read_line(&mut line)
        .expect("read from psql");
    assert_eq!(line.trim(), "42", "the session is connected");

    let admin = admin_of(a.url());
    let names = format!("'{}', '{}'", a.name(), b.name());
    let count = format!("SELECT count(*) FROM pg_database WHERE datname IN ({names})");
    assert_eq!(psql(&admin, &count), "2");
    drop(a);
    drop(b);
    assert_eq!(psql(&admin, &count), "0");

    drop(stdin);
    let _ = session.kill();
    let _ = session.wait();
}

#[test]
fn cluster_keeps_committed_rows_across_kill_and_start_again() {
    let cluster = PgCluster::start();
    let url = cluster.create_database("docket");
    let port = port_of(&cluster.admin_url());
    assert_eq!(url, format!("postgres://postgres@127.0.0.1:{port}/docket"));
    psql(&url, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)");

    cluster.kill();
    assert!(try_psql(&url, "SELECT 1").is_err(), "killed server answers");
    cluster.start_again();
    assert_eq!(
        psql(&url, "SELECT string_agg(x::text, ',' ORDER BY x) FROM t"),
        "1"
    );

    // Again at once: the first restart's backends are still about when the second one starts.
    psql(&url, "INSERT INTO t VALUES (2)");
    cluster.kill();
    cluster.start_again();
    assert_eq!(
        psql(&url, "SELECT string_agg(x::text, ',' ORDER BY x) FROM t"),
        "1,2"
    );
}

#[test]
fn cluster_keeps_committed_rows_across_stop_and_start_again() {
    let cluster = PgCluster::start();
    let url = cluster.create_database("docket");
    psql(&url, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)");

    cluster.stop();
    assert!(
        try_psql(&url, "SELECT 1").is_err(),
        "stopped server answers"
    );
    cluster.start_again();
    assert_eq!(psql(&url, "SELECT x FROM t"), "1");
    assert_eq!(psql(&url, "SHOW fsync"), "on");
}

#[test]
fn clusters_are_stopped_and_removed_on_drop_running_or_killed() {
    for kill_first in [false, true] {
        let cluster = PgCluster::start();
        let admin = cluster.admin_url();
        let port = port_of(&admin);
        let data = PathBuf::from(psql(&admin, "SHOW data_directory"));
        let dir = data
            .parent()
            .expect("data inside the temporary directory")
            .to_path_buf();
        assert!(data.join("PG_VERSION").is_file(), "{}", data.display());
        if kill_first {
            cluster.kill();
        }
        drop(cluster);
        assert!(!dir.exists(), "{} left behind", dir.display());
        assert!(!listening(port), "something still listens on {port}");
    }
}

/// The temporary-cluster path, forced with `DOCKET_TEST_POSTGRES=temporary`: both databases on one
/// cluster of the child's own, which is stopped and removed after the child has exited.
#[test]
fn temporary_cluster_serves_the_process_and_is_removed_after_it_exits() {
    let seen = run_child("temporary");
    let port = port_of(&seen.urls[0]);
    assert_eq!(port, port_of(&seen.urls[1]), "one cluster for the process");
    assert_ne!(port, 5432, "not the machine's server");
    let dir = seen
        .data_directory
        .parent()
        .expect("data inside the temporary directory");
    assert!(
        dir.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("docket-pg-")),
        "{}",
        seen.data_directory.display()
    );
    eventually("the temporary cluster stops", || !listening(port));
    eventually("the temporary cluster's directory is removed", || {
        !dir.exists()
    });
}

/// The configured path: `DOCKET_TEST_POSTGRES` names an admin URL, here a cluster of ours.
#[test]
fn configured_server_is_used_and_its_databases_dropped() {
    let cluster = PgCluster::start();
    let seen = run_child(&cluster.admin_url());
    for url in &seen.urls {
        assert_eq!(port_of(url), port_of(&cluster.admin_url()), "{url}");
    }
    let left = psql(
        &cluster.admin_url(),
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'docket_test_%'",
    );
    assert_eq!(left, "0", "the child's databases are dropped");
}

struct ChildSaw {
    urls: Vec<String>,
    data_directory: PathBuf,
}

fn run_child(server: &str) -> ChildSaw {
    let exe = std::env::current_exe().expect("path of this test binary");
    let out = Command::new(exe)
        .args([
            "child_makes_fresh_databases",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env("DOCKET_TEST_POSTGRES", server)
        .output()
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child test with DOCKET_TEST_POSTGRES={server} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen = ChildSaw {
        urls: Vec::new(),
        data_directory: PathBuf::new(),
    };
    for line in stdout.lines() {
        if let Some(url) = line.strip_prefix("docket-child url=") {
            seen.urls.push(url.to_owned());
        } else if let Some(dir) = line.strip_prefix("docket-child data_directory=") {
            seen.data_directory = Path::new(dir).to_path_buf();
        }
    }
    assert_eq!(seen.urls.len(), 2, "child output:\n{stdout}");
    seen
}

#[test]
#[ignore = "run by the fallback tests in a child process, with DOCKET_TEST_POSTGRES set"]
fn child_makes_fresh_databases() {
    let a = PgDatabase::fresh();
    let b = PgDatabase::fresh();
    psql(a.url(), "CREATE TABLE t (x int); INSERT INTO t VALUES (7)");
    psql(b.url(), "CREATE TABLE t (x int); INSERT INTO t VALUES (8)");
    assert_eq!(psql(a.url(), "SELECT x FROM t"), "7");
    assert_eq!(psql(b.url(), "SELECT x FROM t"), "8");
    println!("docket-child url={}", a.url());
    println!("docket-child url={}", b.url());
    println!(
        "docket-child data_directory={}",
        psql(a.url(), "SHOW data_directory")
    );
}
