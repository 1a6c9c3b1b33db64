//! Runs the real `docket` binary for end-to-end tests: start it on a free port with its own data
//! directory, talk to it over HTTP, stop it gently or kill it outright.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The workspace root (where the README is).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The `docket` binary built beside this test (`make test` builds it first).
pub fn docket_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/e2e-<hash> → target/<profile>/docket
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .join("docket");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build -p docket-server --bin docket` (make test does)",
        bin.display()
    );
    bin
}

/// A running `docket serve`.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
}

impl Server {
    /// Starts the server on a free port over `data_dir`, and waits until it serves.
    pub fn start(data_dir: &Path) -> Server {
        Self::start_with(data_dir, &[])
    }

    /// Starts the server with extra `serve` arguments (such as `--log nats://…`).
    pub fn start_with(data_dir: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(docket_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("DOCKET_LOG_LEVEL", "warn")
            // Load tests file thousands of cases with one token; a test of the limit passes its own.
            .env("DOCKET_RATE_LIMIT", "1000000")
            .env("DOCKET_RATE_BURST", "1000000")
            .env_remove("DOCKET_JWT_SECRET")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start docket serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("docket: serving ") {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send(url);
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("docket serve printed its address within 30 s");
        Server {
            child,
            url,
            data_dir: data_dir.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        self.child.wait().expect("wait for docket").success()
    }

    /// A token minted by `docket token` for this server's data directory, with the reach the
    /// tests' cases are filed in: grid workers in qinghe-01 to qinghe-05, handlers in the unit
    /// qinghe-safety, mediators in the room qinghe-mediation.
    pub fn token(&self, role: &str) -> String {
        let reach: &[&str] = match role {
            "grid_worker" => &[
                "--grids",
                "qinghe-01,qinghe-02,qinghe-03,qinghe-04,qinghe-05",
            ],
            "handler" => &["--unit", "qinghe-safety"],
            "mediator" => &["--unit", "qinghe-mediation"],
            _ => &[],
        };
        self.token_with(role, reach)
    }

    /// A token minted by `docket token` with these further arguments (`--unit`, `--grids`, `--sub`).
    pub fn token_with(&self, role: &str, args: &[&str]) -> String {
        let out = Command::new(docket_bin())
            .args(["token", "--role", role])
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env_remove("DOCKET_JWT_SECRET")
            .output()
            .expect("run docket token");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fresh data directory, removed when the returned guard drops.
pub fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}
