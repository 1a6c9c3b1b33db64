//! Postgres for tests: a fresh database per test on whatever server is at hand, and clusters of a
//! test's own that it may stop, kill and start again.
//!
//! Everything shells out to the Postgres programs (`psql`, `initdb`, `pg_ctl`, `postgres`): the
//! testkit has no async runtime and no Postgres client of its own.

use std::collections::hash_map::RandomState;
use std::fs::{self, OpenOptions};
use std::hash::BuildHasher;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::free_port;

/// Names the server fresh databases are made on: an admin URL such as
/// `postgres://postgres@127.0.0.1:5432/postgres`, or `temporary` to skip the machine's server and
/// use the test process's own temporary cluster.
const SERVER_VAR: &str = "DOCKET_TEST_POSTGRES";

/// The machine's server, used when it answers and `DOCKET_TEST_POSTGRES` is not set.
const MACHINE_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long a cluster may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh, empty database for one test, dropped (`WITH (FORCE)`, so open connections do not keep
/// it alive) when this is dropped.
///
/// The server is chosen once per test process:
/// 1. the one named by `DOCKET_TEST_POSTGRES`, an admin URL such as
///    `postgres://postgres@127.0.0.1:5432/postgres` (or `temporary`, which forces 3.);
/// 2. else the machine's at 127.0.0.1:5432, if a `psql ... -c 'SELECT 1'` as `postgres` answers;
/// 3. else one temporary [`PgCluster`] started for the whole test process. Its static is never
///    dropped; the cluster's reaper (see [`PgCluster`]) stops it and removes its directory when the
///    test process exits, however it exits.
///
/// On a running server this costs one `psql -c "CREATE DATABASE ..."`.
#[derive(Debug)]
pub struct PgDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl PgDatabase {
    /// Creates a database named `docket_test_<pid>_<counter>_<random>`: the random part keeps a
    /// rerun from colliding with a database a killed earlier run left behind under the same pid
    /// (containers hand out the same pids run after run).
    pub fn fresh() -> Self {
        Self::fresh_on(server_admin_url())
    }

    fn fresh_on(admin_url: &str) -> Self {
        let name = unique_name();
        psql(admin_url, &format!("CREATE DATABASE {}", quote_ident(&name))).unwrap_or_else(|e| {
            panic!("create test database {name} on {admin_url} (the server comes from {SERVER_VAR}, else 127.0.0.1:5432, else a temporary cluster): {e}")
        });
        Self {
            url: database_url(admin_url, &name),
            name,
            admin_url: admin_url.to_owned(),
        }
    }

    /// `postgres://postgres@HOST:PORT/<name>`
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&self.name)
        );
        if let Err(e) = psql(&self.admin_url, &sql) {
            // No panic in drop: it may run while a failed test unwinds.
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

/// The admin URL fresh databases are made on, chosen once per process (see [`PgDatabase`]).
fn server_admin_url() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(|| {
        let configured = std::env::var(SERVER_VAR).unwrap_or_default();
        match configured.trim() {
            "temporary" => temporary_cluster().admin_url(),
            "" if machine_server_answers() => MACHINE_ADMIN_URL.to_owned(),
            "" => temporary_cluster().admin_url(),
            url => url.to_owned(),
        }
    })
}

fn machine_server_answers() -> bool {
    let probe = format!("{MACHINE_ADMIN_URL}?connect_timeout=3");
    psql(&probe, "SELECT 1").is_ok_and(|out| out == "1")
}

/// The test process's one temporary cluster. A static is never dropped, so [`PgCluster`]'s Drop
/// never runs for it: its reaper stops it once the process has exited.
fn temporary_cluster() -> &'static PgCluster {
    static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
    CLUSTER.get_or_init(PgCluster::start)
}

/// A Postgres cluster of the test's own (initdb in a temporary directory, on a free loopback
/// port, fsync on), which a test may stop, kill (SIGKILL of the postmaster) and start again,
/// keeping its data. Removed on drop.
///
/// The postmaster is started as this process's own child, not by `pg_ctl start`: `pg_ctl`'s
/// postmaster is an orphan, and PID 1 on these machines reaps orphans only seconds later, so a
/// killed one lingers as a zombie whose pid, still in `postmaster.pid`, makes every restart in the
/// meantime fail with "lock file already exists". Our own child we reap at once.
///
/// Cleanup is done by a reaper: a small shell, started with the cluster, that waits for
/// end-of-file on a pipe from this process, then runs `pg_ctl stop -m immediate` and removes the
/// directory. Dropping the cluster closes the pipe and waits for the reaper; if the test process
/// ends instead (exit, abort, SIGKILL), the kernel closes the pipe and the reaper cleans up all the
/// same. It has a process group of its own, so Ctrl-C on the terminal does not kill it first.
///
/// As root (initdb and postgres refuse to run as root) the server programs and the reaper run as
/// the `postgres` OS user, which then owns the temporary directory.
#[derive(Debug)]
pub struct PgCluster {
    port: u16,
    dir: PathBuf,
    data: PathBuf,
    log: PathBuf,
    postmaster: Mutex<Option<Child>>,
    reaper: Option<Child>,
    /// Further `-c` settings the server starts with.
    settings: Vec<String>,
    _dir: tempfile::TempDir,
}

impl PgCluster {
    /// Runs initdb (`-A trust -U postgres`) and starts the server, listening on 127.0.0.1 only,
    /// with its unix socket in the temporary directory, and waits until it accepts connections.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// As [`PgCluster::start`], the server started with these settings (`name=value`) too.
    pub fn start_with(settings: &[&str]) -> Self {
        let mut cluster = Self::prepare(settings);
        cluster.initdb();
        cluster.first_launch();
        cluster
    }

    /// A streaming standby of `primary`: `pg_basebackup -R` from it (which writes the standby's
    /// recovery settings), started on a port of its own; it replays the primary's WAL as the
    /// primary writes it and serves reads until promoted.
    pub fn standby_of(primary: &PgCluster, settings: &[&str]) -> Self {
        let mut standby = Self::prepare(settings);
        let out = standby
            .server_command("pg_basebackup")
            .arg("-D")
            .arg(&standby.data)
            .args(["-h", "127.0.0.1", "-U", "postgres", "-R", "-X", "stream"])
            .arg("-p")
            .arg(primary.port.to_string())
            .args(["--no-sync", "-c", "fast"])
            .output()
            .expect("run pg_basebackup");
        assert!(
            out.status.success(),
            "pg_basebackup of {} into {} failed: {}{}",
            primary.admin_url(),
            standby.dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        standby.first_launch();
        standby
    }

    /// Makes a standby the primary (`pg_ctl promote`), and waits until it takes writes.
    pub fn promote(&self) {
        let out = self
            .server_command("pg_ctl")
            .arg("promote")
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-t", "30"])
            .output()
            .expect("run pg_ctl promote");
        assert!(
            out.status.success(),
            "pg_ctl promote failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail(0)
        );
    }

    /// Runs SQL through psql on the database `postgres`: its output, or why it failed.
    pub fn execute(&self, sql: &str) -> Result<String, String> {
        psql(&self.admin_url(), sql)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    fn prepare(settings: &[&str]) -> Self {
        let temp = tempfile::Builder::new()
            .prefix("docket-pg-")
            .tempdir()
            .expect("temporary directory for a Postgres cluster");
        let dir = temp.path().to_path_buf();
        if let Some((uid, gid)) = server_user() {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .expect("give the cluster's temporary directory to the postgres OS user");
        }
        let mut cluster = Self {
            port: free_port(),
            data: dir.join("data"),
            log: dir.join("postgres.log"),
            dir,
            postmaster: Mutex::new(None),
            reaper: None,
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
            _dir: temp,
        };
        // Before anything can fail, so a panic below still leaves nothing behind.
        cluster.reaper = Some(cluster.spawn_reaper());
        cluster
    }

    fn first_launch(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        for attempt in 1.. {
            match self.launch(deadline) {
                Ok(()) => break,
                // free_port() only found the port free; someone may have taken it since.
                Err(log) if log.contains("Address already in use") && attempt < 5 => {
                    self.port = free_port();
                }
                Err(log) => panic!(
                    "Postgres cluster in {} did not start on port {}; server log:\n{log}",
                    self.dir.display(),
                    self.port
                ),
            }
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Creates the database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let admin_url = self.admin_url();
        psql(
            &admin_url,
            &format!("CREATE DATABASE {}", quote_ident(name)),
        )
        .unwrap_or_else(|e| panic!("create database {name} on {admin_url}: {e}"));
        database_url(&admin_url, name)
    }

    /// A clean shutdown: `pg_ctl stop -m fast`, which rolls back open transactions, writes a
    /// shutdown checkpoint and waits until the server has exited.
    pub fn stop(&self) {
        let mut postmaster = self.postmaster();
        let mut child = postmaster
            .take()
            .expect("PgCluster::stop: the cluster is not running");
        let out = self
            .server_command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "-t", "30"])
            .output()
            .expect("run pg_ctl stop");
        if !out.status.success() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "pg_ctl stop -m fast failed: {}{}\nserver log:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log_tail(0)
            );
        }
        child.wait().expect("reap the stopped postmaster");
    }

    /// SIGKILL to the postmaster: no shutdown checkpoint, as in a crash. Its backends notice that
    /// their postmaster is gone and exit by themselves; the next start runs crash recovery.
    pub fn kill(&self) {
        let mut postmaster = self.postmaster();
        let mut child = postmaster
            .take()
            .expect("PgCluster::kill: the cluster is not running");
        let pid = fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()
            .and_then(|text| {
                text.lines()
                    .next()
                    .and_then(|l| l.trim().parse::<u32>().ok())
            });
        assert_eq!(
            pid,
            Some(child.id()),
            "postmaster.pid names the postmaster this cluster started"
        );
        child.kill().expect("SIGKILL the postmaster");
        child.wait().expect("reap the killed postmaster");
    }

    /// Starts the stopped or killed server again on the same port and data, and waits until it
    /// accepts connections (after a kill, once crash recovery is done).
    pub fn start_again(&self) {
        assert!(
            self.postmaster().is_none(),
            "PgCluster::start_again: the cluster is already running"
        );
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.launch(deadline) {
                Ok(()) => return,
                // After a kill, backends of the old postmaster may still hold its shared memory
                // for a moment; Postgres refuses to start until they are gone.
                Err(log) if log.contains("still in use") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(log) => panic!(
                    "Postgres cluster in {} did not start again on port {}; server log:\n{log}",
                    self.dir.display(),
                    self.port
                ),
            }
        }
    }

    fn initdb(&self) {
        // --no-sync: only a crash of the machine could lose initdb's files, and the cluster does
        // not outlive the test. The server itself runs with fsync on.
        let out = self
            .server_command("initdb")
            .arg("-D")
            .arg(&self.data)
            .args(["-A", "trust", "-U", "postgres"])
            .args(["--locale=C", "--encoding=UTF8", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb in {} failed: {}{}",
            self.dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the postmaster and waits until it accepts connections. `Err` with the server log of
    /// this attempt if it exits first; a panic if it is not up by `deadline`.
    fn launch(&self, deadline: Instant) -> Result<(), String> {
        let log_start = fs::metadata(&self.log).map_or(0, |m| m.len());
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the server log");
        let mut child = self
            .server_command("postgres")
            .arg("-D")
            .arg(&self.data)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("port={}", self.port))
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.display()))
            .args(["-c", "fsync=on"])
            .args(self.settings.iter().flat_map(|s| ["-c", s]))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("server log handle"))
            .stderr(log)
            .spawn()
            .expect("start postgres");
        loop {
            if let Some(status) = child.try_wait().expect("poll the postmaster") {
                return Err(format!(
                    "(postgres exited: {status})\n{}",
                    self.log_tail(log_start)
                ));
            }
            if self.accepting(child.id()) {
                *self.postmaster() = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "Postgres cluster in {} not accepting connections on port {} within {} s; server log:\n{}",
                    self.dir.display(),
                    self.port,
                    READY_TIMEOUT.as_secs(),
                    self.log_tail(log_start)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What `pg_ctl start -w` checks: `postmaster.pid` is this postmaster's and says `ready`
    /// (or `standby`),
    /// written once its sockets listen and it accepts connections.
    fn accepting(&self, pid: u32) -> bool {
        let Ok(text) = fs::read_to_string(self.data.join("postmaster.pid")) else {
            return false;
        };
        let lines: Vec<&str> = text.lines().collect();
        // `standby`: a hot standby accepting (read-only) connections.
        lines.first().map(|l| l.trim()) == Some(pid.to_string().as_str())
            && matches!(lines.get(7).map(|l| l.trim()), Some("ready" | "standby"))
    }

    /// The server log from byte `from`, at most its last 40 lines.
    fn log_tail(&self, from: u64) -> String {
        let mut text = String::new();
        if let Ok(mut file) = fs::File::open(&self.log) {
            let _ = file.seek(SeekFrom::Start(from));
            let _ = file.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn spawn_reaper(&self) -> Child {
        const SCRIPT: &str = r#"cat >/dev/null
"$0" stop -D "$1" -m immediate -w -t 60 >/dev/null 2>&1
rm -rf "$2""#;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(SCRIPT)
            .arg(pg_bin("pg_ctl"))
            .arg(&self.data)
            .arg(&self.dir)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        if let Some((uid, gid)) = server_user() {
            command.uid(uid).gid(gid);
        }
        command.spawn().expect("start the cluster's reaper (sh)")
    }

    fn server_command(&self, program: &str) -> Command {
        let mut command = Command::new(pg_bin(program));
        command.current_dir(&self.dir);
        if let Some((uid, gid)) = server_user() {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn postmaster(&self) -> MutexGuard<'_, Option<Child>> {
        self.postmaster
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(mut reaper) = self.reaper.take() {
            drop(reaper.stdin.take());
            let _ = reaper.wait();
        }
        // Stopped by the reaper by now; the kill is only for a reaper that failed.
        if let Some(mut child) = self.postmaster().take() {
            if !matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// Who runs the server programs: `None` for ourselves, or, when we are root (where initdb and
/// postgres refuse to run), the uid and gid of the `postgres` OS user. Set on the Command itself,
/// not through su or runuser, which would drag PAM and a login shell in.
fn server_user() -> Option<(u32, u32)> {
    static USER: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *USER.get_or_init(|| {
        if id(&["-u"]).expect("`id -u` says who runs the tests") != 0 {
            return None;
        }
        let missing = "running as root, where initdb refuses to run: need a `postgres` OS user to run the test cluster as";
        Some((
            id(&["-u", "postgres"]).expect(missing),
            id(&["-g", "postgres"]).expect(missing),
        ))
    })
}

fn id(args: &[&str]) -> Option<u32> {
    let out = Command::new("id").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// A Postgres program from the newest `/usr/lib/postgresql/<version>/bin`, where Debian keeps the
/// server programs (off PATH), else from PATH. `psql` too: Debian's `/usr/bin/psql` is a Perl
/// wrapper that costs a start-up per call.
fn pg_bin(name: &str) -> PathBuf {
    static BINDIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    let bindir = BINDIR.get_or_init(|| {
        let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                let bin = entry.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, bin)| bin)
    });
    match bindir {
        Some(dir) if dir.join(name).is_file() => dir.join(name),
        _ => PathBuf::from(name),
    }
}

/// Runs one SQL command through `psql` (no psqlrc, stop on error) and returns its unaligned,
/// tuples-only output, or psql's complaint.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let program = pg_bin("psql");
    let out = Command::new(&program)
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
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("run {}: {e}", program.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let random = RandomState::new().hash_one((nanos, n));
    format!("docket_test_{}_{n}_{random:016x}", std::process::id())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `admin_url` with its database replaced by `name`, keeping any `?parameters`.
fn database_url(admin_url: &str, name: &str) -> String {
    let authority_start = admin_url.find("://").map_or(0, |i| i + 3);
    let authority_end = admin_url[authority_start..]
        .find(['/', '?'])
        .map_or(admin_url.len(), |i| authority_start + i);
    let rest = &admin_url[authority_end..];
    let query = rest.find('?').map_or("", |i| &rest[i..]);
    let mut path = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            path.push(char::from(byte));
        } else {
            path.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{}/{path}{query}", &admin_url[..authority_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_replaces_only_the_database() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "d1"),
            "postgres://postgres@127.0.0.1:5432/d1"
        );
        assert_eq!(
            database_url("postgresql://u:p@h:1/postgres?sslmode=disable", "d 1"),
            "postgresql://u:p@h:1/d%201?sslmode=disable"
        );
        assert_eq!(database_url("postgres://h:1", "d"), "postgres://h:1/d");
        assert_eq!(
            database_url("postgres://h:1?x=y", "d"),
            "postgres://h:1/d?x=y"
        );
    }

    #[test]
    fn unique_names_differ_and_fit_postgres_identifiers() {
        let (a, b) = (unique_name(), unique_name());
        assert_ne!(a, b);
        assert!(a.len() <= 63, "{a} is longer than NAMEDATALEN - 1");
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
    }
}
