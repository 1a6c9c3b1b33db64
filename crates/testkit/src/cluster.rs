//! The deployment's topology (deploy/compose) on one machine, natively on loopback, from the same
//! configuration files: three pinned nats-servers from `deploy/nats/nats.conf` with the `docket`
//! user's password, a Postgres primary with a synchronous streaming standby (the machine's
//! binaries), two Docket replicas sharing the stream and the read model, and two small TCP proxies
//! in front: a round-robin balancer over the replicas (compose's load balancer), and the read
//! model's address, which follows the primary (what the operator's read-write service does). `make
//! cluster` runs it; the chaos test kills and restarts its parts under load.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{NatsCluster, PgCluster, free_port, http_get};

/// A TCP proxy on a loopback port: each connection goes to the next target in turn, skipping any
/// that refuses it (as a load balancer skips a dead backend); none answering, the connection is
/// closed. The targets can be changed while it runs (a failover).
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    targets: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(targets: Vec<SocketAddr>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let addr = listener.local_addr().expect("the proxy's address");
        let targets = Arc::new(Mutex::new(targets));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = targets.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("the proxy's runtime");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let next = Arc::new(AtomicUsize::new(0));
                tokio::pin!(stopped);
                loop {
                    let (client, _) = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok(a) => a,
                            Err(_) => continue,
                        },
                        _ = &mut stopped => return,
                    };
                    let targets = shared.lock().expect("targets").clone();
                    let next = next.clone();
                    tokio::spawn(async move {
                        let start = next.fetch_add(1, Ordering::Relaxed);
                        for i in 0..targets.len() {
                            let target = targets[(start + i) % targets.len()];
                            let connected = tokio::time::timeout(
                                Duration::from_secs(1),
                                tokio::net::TcpStream::connect(target),
                            )
                            .await;
                            if let Ok(Ok(mut upstream)) = connected {
                                let mut client = client;
                                let _ = client.set_nodelay(true);
                                let _ = upstream.set_nodelay(true);
                                let _ =
                                    tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                                return;
                            }
                        }
                    });
                }
            });
        });
        Self {
            addr,
            targets,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where new connections go from now on.
    pub fn set_targets(&self, targets: Vec<SocketAddr>) {
        *self.targets.lock().expect("targets") = targets;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether `GET path` on 127.0.0.1:`port` answers 200.
fn http_ok(port: u16, path: &str) -> bool {
    http_get(port, path)
        .is_some_and(|r| r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200"))
}

/// One `docket serve` of the cluster, on a fixed port (so the balancer finds it again after a
/// restart), its output appended to `docket.log` in its data directory.
#[derive(Debug)]
pub struct Replica {
    pub name: String,
    pub port: u16,
    pub data_dir: PathBuf,
    docket: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Replica {
    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.join("docket.log"))
            .expect("the replica's log");
        let child = Command::new(&self.docket)
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start docket serve");
        self.child = Some(child);
    }

    /// Waits until it answers `/healthz`; panics with its log's tail if it exits or takes
    /// longer than a minute.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http_ok(self.port, "/healthz") {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "{} exited at start ({status}):\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} not healthy within 60 s:\n{}",
                self.name,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.data_dir.join("docket.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again (after a kill) and waits until it is healthy.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
        self.wait_ready();
    }

    /// Whether this replica applies the log to the read model now (its `/metrics` say so).
    pub fn leads_projection(&self) -> bool {
        http_get(self.port, "/metrics")
            .is_some_and(|m| m.lines().any(|l| l.trim() == "docket_projector_leading 1"))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The whole topology. Dropped, it stops everything and removes what it made.
#[derive(Debug)]
pub struct Topology {
    pub replicas: Vec<Replica>,
    /// Where clients send requests: round robin over the replicas.
    pub balancer: Proxy,
    pub nats: NatsCluster,
    /// The primary first, then the standby; after a failover the promoted standby is the primary.
    pub postgres: Vec<PgCluster>,
    primary: usize,
    /// The read model's address: follows the primary.
    pub read_model_proxy: Proxy,
    /// The `docket` NATS user's password (the route and admin users' too, here).
    pub password: String,
    /// The token secret the replicas share (`DOCKET_JWT_SECRET`).
    pub token_secret: String,
    docket: PathBuf,
    dir: PathBuf,
}

/// Random hex from the standard library's randomly keyed hasher: enough for a password of a
/// cluster on loopback that lives as long as a test.
fn random_hex(bytes: usize) -> String {
    use std::hash::{BuildHasher, RandomState};
    let mut out = String::new();
    while out.len() < bytes * 2 {
        out.push_str(&format!("{:016x}", RandomState::new().hash_one(out.len())));
    }
    out.truncate(bytes * 2);
    out
}

impl Topology {
    /// Starts it all under `dir` with the `docket` binary at `docket`, and waits until every part
    /// is healthy.
    pub fn start(docket: &Path, dir: &Path) -> Self {
        // Starting with a letter: nats-server reads a variable's value as a configuration value,
        // and one that starts with digits is taken for a number and refused.
        let password = format!("p{}", random_hex(16));
        let nats_dir = dir.join("nats");
        std::fs::create_dir_all(&nats_dir).expect("the NATS stores' directory");
        let nats = NatsCluster::from_deploy(&nats_dir, &password);

        let primary = PgCluster::start();
        primary
            .execute("CREATE DATABASE docket")
            .expect("create the read model's database");
        let standby = PgCluster::standby_of(&primary, &[]);
        // Synchronous: a commit (a key of the key store among them) is on the standby before it
        // is acknowledged, so a failover loses no key.
        primary
            .execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
            .and_then(|_| primary.execute("SELECT pg_reload_conf()"))
            .expect("make the standby synchronous");
        let read_model_proxy =
            Proxy::start(vec![SocketAddr::from(([127, 0, 0, 1], primary.port()))]);

        let token_secret = random_hex(32);
        let mut topology = Self {
            replicas: Vec::new(),
            balancer: Proxy::start(Vec::new()),
            nats,
            postgres: vec![primary, standby],
            primary: 0,
            read_model_proxy,
            password,
            token_secret,
            docket: docket.to_path_buf(),
            dir: dir.to_path_buf(),
        };
        // One after the other: the first creates the stream and takes the projection lease.
        for i in 0..2 {
            let data_dir = dir.join(format!("docket-{i}"));
            std::fs::create_dir_all(&data_dir).expect("a replica's data directory");
            let mut replica = Replica {
                name: format!("docket-{i}"),
                port: free_port(),
                data_dir,
                docket: docket.to_path_buf(),
                env: topology.docket_env(),
                child: None,
            };
            replica.launch();
            replica.wait_ready();
            topology.replicas.push(replica);
        }
        topology.balancer.set_targets(
            topology
                .replicas
                .iter()
                .map(|r| SocketAddr::from(([127, 0, 0, 1], r.port)))
                .collect(),
        );
        topology
    }

    /// The environment every Docket process of the cluster runs with: the stream with three
    /// replicas, the shared read model, the shared token secret.
    pub fn docket_env(&self) -> Vec<(String, String)> {
        [
            ("DOCKET_LOG", self.log_url()),
            ("DOCKET_NATS_REPLICAS", "3".to_owned()),
            ("DOCKET_READ_MODEL", self.read_model_url()),
            ("DOCKET_JWT_SECRET", self.token_secret.clone()),
            ("DOCKET_GRPC_LISTEN", "off".to_owned()),
            ("DOCKET_WATCH_EVERY", "5".to_owned()),
            ("DOCKET_RATE_LIMIT", "1000000".to_owned()),
            ("DOCKET_RATE_BURST", "1000000".to_owned()),
            ("DOCKET_LOG_LEVEL", "info".to_owned()),
            // One evidence directory for every replica, as compose's shared volume.
            (
                "DOCKET_EVIDENCE_DIR",
                self.dir.join("evidence").display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The stream's address for Docket: every node, with the `docket` user's password.
    pub fn log_url(&self) -> String {
        self.nats
            .nodes
            .iter()
            .map(|n| {
                n.url()
                    .replacen("nats://", &format!("nats://docket:{}@", self.password), 1)
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn read_model_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/docket",
            self.read_model_proxy.addr().port()
        )
    }

    /// The address clients use: `http://127.0.0.1:PORT` of the balancer.
    pub fn url(&self) -> String {
        format!("http://{}", self.balancer.addr())
    }

    /// `docket ARGS` with the cluster's environment, as an operator would run it beside the
    /// replicas (a data directory of its own).
    pub fn docket(&self, args: &[&str]) -> std::process::Output {
        let data_dir = self.dir.join("docket-cli");
        std::fs::create_dir_all(&data_dir).expect("the command line's data directory");
        Command::new(&self.docket)
            .args(args)
            .arg("--data-dir")
            .arg(&data_dir)
            .envs(self.docket_env())
            .output()
            .expect("run docket")
    }

    /// A token of `role` with the cluster's secret, and these further arguments.
    pub fn token(&self, role: &str, args: &[&str]) -> String {
        let mut all = vec!["token", "--role", role];
        all.extend_from_slice(args);
        let out = self.docket(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A shell's environment for the cluster (`. FILE`): the balancer's address (`DOCKET_URL`),
    /// each replica's (`REPLICA_0`, `REPLICA_1`), tokens of the tests' tenant (`ADMIN`,
    /// `SUPERVISOR`, `GRID_WORKER` of grid qinghe-01, `HANDLER` of unit qinghe-safety), and what
    /// `docket` needs to reach the stores beside the replicas (`DOCKET_LOG`,
    /// `DOCKET_NATS_REPLICAS`, `DOCKET_READ_MODEL`, `DOCKET_JWT_SECRET`). Written to `path`.
    pub fn write_env(&self, path: &Path) {
        let mut lines = vec![format!("export DOCKET_URL='{}'", self.url())];
        for (i, r) in self.replicas.iter().enumerate() {
            lines.push(format!("export REPLICA_{i}='{}'", r.url()));
        }
        for (name, role, extra) in [
            ("ADMIN", "admin", &[][..]),
            ("SUPERVISOR", "supervisor", &[][..]),
            ("GRID_WORKER", "grid_worker", &["--grids", "qinghe-01"][..]),
            ("HANDLER", "handler", &["--unit", "qinghe-safety"][..]),
        ] {
            lines.push(format!("export {name}='{}'", self.token(role, extra)));
        }
        for (k, v) in self.docket_env() {
            if matches!(
                k.as_str(),
                "DOCKET_LOG" | "DOCKET_NATS_REPLICAS" | "DOCKET_READ_MODEL" | "DOCKET_JWT_SECRET"
            ) {
                lines.push(format!("export {k}='{v}'"));
            }
        }
        std::fs::write(path, lines.join("\n") + "\n").expect("write the cluster's environment");
    }

    /// The replica that applies the log to the read model, waiting up to `patience` for one to
    /// (a lease changes hands within seconds).
    pub fn projecting_replica(&self, patience: Duration) -> Option<usize> {
        let until = Instant::now() + patience;
        loop {
            let found = self.replicas.iter().position(Replica::leads_projection);
            if found.is_some() || Instant::now() > until {
                return found;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn primary(&self) -> &PgCluster {
        &self.postgres[self.primary]
    }

    /// The read model fails over: the primary is killed, the standby promoted, and the read
    /// model's address made to lead to it.
    pub fn fail_over(&mut self) {
        assert_eq!(self.primary, 0, "one failover: there is one standby");
        self.postgres[0].kill();
        self.postgres[1].promote();
        self.primary = 1;
        self.read_model_proxy.set_targets(vec![SocketAddr::from((
            [127, 0, 0, 1],
            self.postgres[1].port(),
        ))]);
    }
}
