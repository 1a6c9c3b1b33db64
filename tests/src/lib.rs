//! Runs the real `docket` binary for end-to-end tests: start it on a free port with its own data
//! directory, talk to it over HTTP, stop it gently or kill it outright.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The API document as checked in (`docs/openapi.json`, which a test holds equal to what the
/// server serves): every answer the end-to-end tests receive is held to it.
pub fn contract() -> &'static docket_testkit::contract::Contract {
    static CONTRACT: std::sync::LazyLock<docket_testkit::contract::Contract> =
        std::sync::LazyLock::new(|| {
            let text = std::fs::read_to_string(workspace_root().join("docs/openapi.json"))
                .expect("docs/openapi.json");
            docket_testkit::contract::Contract::new(
                serde_json::from_str(&text).expect("docs/openapi.json is JSON"),
            )
        });
    &CONTRACT
}

/// Holds one answer to the API document: panics naming what it does not allow.
#[track_caller]
pub fn check_answer(method: &str, url: &str, status: u16, content_type: Option<&str>, body: &[u8]) {
    let path = url::Url::parse(url)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| url.to_owned());
    contract().assert(docket_testkit::contract::Answer {
        method,
        path: &path,
        status,
        content_type,
        body,
    });
}

/// Reads a response's body and holds it to the API document; returns the status and the body.
pub async fn checked(method: &str, response: reqwest::Response) -> (reqwest::StatusCode, Vec<u8>) {
    let status = response.status();
    let url = response.url().to_string();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.bytes().await.expect("a body").to_vec();
    check_answer(
        method,
        &url,
        status.as_u16(),
        content_type.as_deref(),
        &body,
    );
    (status, body)
}

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
    /// Where its gRPC interface listens (`http://…`).
    pub grpc_url: String,
    pub data_dir: PathBuf,
}

impl Server {
    /// Starts the server on a free port over `data_dir`, waits until it serves, and sets up the
    /// directory the tests' cases name (see `set_up_directory`).
    pub fn start(data_dir: &Path) -> Server {
        Self::start_with(data_dir, &[])
    }

    /// Starts the server with extra `serve` arguments (such as `--log nats://…`), and sets up
    /// the tests' directory.
    pub fn start_with(data_dir: &Path, args: &[&str]) -> Server {
        let server = Self::start_bare(data_dir, args);
        server.set_up_directory();
        server
    }

    /// Starts the server and leaves its tenants' directories as they are.
    pub fn start_bare(data_dir: &Path, args: &[&str]) -> Server {
        Self::start_bare_env(data_dir, args, &[])
    }

    /// As `start_bare`, with variables set in the server's environment (credentials, say).
    pub fn start_bare_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(docket_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("DOCKET_LOG_LEVEL", "warn")
            .env("DOCKET_GRPC_LISTEN", "127.0.0.1:0")
            // Load tests file thousands of cases with one token; a test of the limit passes its own.
            .env("DOCKET_RATE_LIMIT", "1000000")
            .env("DOCKET_RATE_BURST", "1000000")
            .env_remove("DOCKET_JWT_SECRET")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start docket serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let (grpc_tx, grpc_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let first_word = |rest: &str| {
                rest.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            };
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("docket: serving ") {
                    let _ = tx.send(first_word(rest));
                } else if let Some(rest) = line.strip_prefix("docket: gRPC on ") {
                    let _ = grpc_tx.send(first_word(rest));
                }
            }
        });
        let grpc_url = grpc_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("docket serve printed its gRPC address within 30 s");
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("docket serve printed its address within 30 s");
        Server {
            child,
            url,
            grpc_url,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// Has the admin of the default tenant (`demo`) set up the directory the tests' cases name:
    /// the community qinghe, its grids qinghe-01 to qinghe-05, and the units and rooms the tests
    /// route cases to. Each change carries its own idempotency key, so setting up again (after a
    /// restart, or on a second replica) changes nothing.
    pub fn set_up_directory(&self) {
        self.set_up_directory_as(&self.token("admin"));
    }

    /// As `set_up_directory`, as the admin this token names (of its tenant).
    pub fn set_up_directory_as(&self, admin: &str) {
        let url = self.url.clone();
        let token = admin.to_owned();
        let changes = directory_changes();
        // Its own thread and runtime: a test may call this from within its own runtime.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let client = reqwest::Client::new();
                for (i, (action, body)) in changes.iter().enumerate() {
                    let r = client
                        .post(format!("{url}/v1/directory/actions/{action}"))
                        .bearer_auth(&token)
                        .header("idempotency-key", format!("e2e-directory-{i}"))
                        .json(body)
                        .send()
                        .await
                        .expect("the server answers");
                    let (status, text) = checked("POST", r).await;
                    let text = String::from_utf8_lossy(&text);
                    assert!(status.is_success(), "{action} {body}: {status} {text}");
                }
            });
        })
        .join()
        .expect("the directory is set up");
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

/// The admin's changes that set up the tests' directory, one commit each: the community
/// qinghe, its grids qinghe-01 to qinghe-05 and g-0 to g-6, and the units and rooms the tests
/// route cases to, some in the coordinated response network.
pub fn directory_changes() -> Vec<(&'static str, serde_json::Value)> {
    let mut changes = vec![(
        "add-community",
        serde_json::json!({"id": "qinghe", "name": "清河社区"}),
    )];
    let grids = (1..=5)
        .map(|n| format!("qinghe-{n:02}"))
        .chain((0..=6).map(|n| format!("g-{n}")));
    for id in grids {
        changes.push((
            "add-grid",
            serde_json::json!({"name": format!("网格 {id}"), "id": id, "community": "qinghe"}),
        ));
    }
    // The safety office, the market and the property company answer in the coordinated
    // response network (一呼百应); the urban office does not.
    for (id, kind, in_network) in [
        ("qinghe-safety", "office", true),
        ("qinghe-urban", "office", false),
        ("qinghe-housing", "office", true),
        ("qinghe-env", "office", false),
        ("qinghe-mediation", "mediation-room", false),
        ("qinghe-court", "mediation-room", false),
        ("qinghe-market", "market", true),
        ("qinghe-property", "property-company", true),
    ] {
        changes.push((
            "add-unit",
            serde_json::json!({"id": id, "name": id, "unit_kind": kind, "in_network": in_network}),
        ));
    }
    changes
}

/// A fresh data directory, removed when the returned guard drops.
pub fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// The `sh` block that follows `marker` in the document at `path` (relative to the workspace):
/// a walk-through the tests run verbatim.
pub fn shell_block_after(path: &str, marker: &str) -> String {
    let doc = std::fs::read_to_string(workspace_root().join(path)).expect("the document");
    let after = doc
        .split_once(marker)
        .unwrap_or_else(|| panic!("{path} marks its walk-through with {marker}"))
        .1;
    let block = after
        .split_once("```sh\n")
        .expect("a sh block follows the marker")
        .1;
    block
        .split_once("```")
        .expect("the block is closed")
        .0
        .to_owned()
}

/// The standard error of a `docket` command that must have succeeded (else its error is the
/// test's failure), with its standard output before it.
#[track_caller]
pub fn succeeded(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}
