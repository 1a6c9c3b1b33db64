use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, workspace_root};

/// The pinned nats-server: `DOCKET_NATS_SERVER`, or the one `make nats-server` put in `.tools/`.
pub fn nats_server_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("DOCKET_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let tools = workspace_root().join(".tools");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&tools)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("nats-server"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "no pinned nats-server under {}: run `make nats-server` (make test does)",
            tools.display()
        )
    })
}

/// One nats-server with JetStream, fsyncing every write (`sync_interval: always`).
#[derive(Debug)]
pub struct NatsServer {
    name: String,
    port: u16,
    http_port: u16,
    config: PathBuf,
    store: PathBuf,
    /// The environment the configuration's variables are read from.
    env: Vec<(String, String)>,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

struct Layout<'a> {
    name: &'a str,
    port: u16,
    http_port: u16,
    store: &'a Path,
    cluster: Option<(u16, &'a [u16])>,
}

fn config_text(l: &Layout<'_>) -> String {
    let mut text = format!(
        "server_name: {name}\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{http}\n\
         jetstream {{\n  store_dir: \"{store}\"\n  sync_interval: always\n}}\n",
        name = l.name,
        port = l.port,
        http = l.http_port,
        store = l.store.display(),
    );
    if let Some((cluster_port, routes)) = l.cluster {
        let routes: Vec<String> = routes
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        text.push_str(&format!(
            "cluster {{\n  name: docket\n  listen: 127.0.0.1:{cluster_port}\n  routes: [{}]\n}}\n",
            routes.join(", ")
        ));
    }
    text
}

impl NatsServer {
    /// Starts a single node on free ports with a temporary store, and waits until JetStream is up.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        for _ in 0..5 {
            let mut server = Self::configure(dir.path(), "n1", None);
            server.launch();
            if all_serve_unless_one_exits(std::slice::from_mut(&mut server)) {
                server._dir = Some(dir);
                return server;
            }
            // It ended at once: a port free_port() found free was taken before nats-server bound
            // it (tests start servers side by side). Again, on other ports.
        }
        panic!("nats-server n1 ended at start five times, each on other ports");
    }

    /// Whether its process has ended (it is then forgotten).
    fn exited(&mut self) -> bool {
        let ended = self
            .child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))));
        if ended {
            self.child = None;
        }
        ended
    }

    fn configure(dir: &Path, name: &str, cluster: Option<(u16, &[u16])>) -> Self {
        let store = dir.join(format!("{name}-store"));
        let config = dir.join(format!("{name}.conf"));
        let (port, http_port) = (free_port(), free_port());
        let text = config_text(&Layout {
            name,
            port,
            http_port,
            store: &store,
            cluster,
        });
        std::fs::write(&config, text).expect("write nats config");
        Self {
            name: name.to_owned(),
            port,
            http_port,
            config,
            store,
            env: Vec::new(),
            child: None,
            _dir: None,
        }
    }

    fn launch(&mut self) {
        // A node of deploy/nats writes its log beside its store, to say why it ended.
        let log = if self.env.is_empty() {
            Stdio::null()
        } else {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log_path())
                .map_or_else(|_| Stdio::null(), Stdio::from)
        };
        let child = Command::new(nats_server_bin())
            .arg("-c")
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
    }

    fn log_path(&self) -> PathBuf {
        self.store.with_extension("log")
    }

    /// `nats://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn store_dir(&self) -> &Path {
        &self.store
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no flush, no goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the killed server again on the same ports and store, and waits until it serves.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
        self.wait_ready();
    }

    /// Starts it again without waiting (for a cluster node, whose readiness needs its peers).
    pub fn relaunch(&mut self) {
        self.kill();
        self.launch();
    }

    /// Waits until the monitoring endpoint says the server and JetStream are healthy.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.healthy() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nats-server {} not healthy within 30 s", self.name);
    }

    fn healthy(&self) -> bool {
        self.monitor_response("/healthz").is_some_and(|response| {
            response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200")
        })
    }

    /// The body of `GET path` on the monitoring port, when it answers.
    fn monitor(&self, path: &str) -> Option<String> {
        let response = self.monitor_response(path)?;
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
    }

    fn monitor_response(&self, path: &str) -> Option<String> {
        crate::http_get(self.http_port, path)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A cluster of nodes with routes between them, on loopback.
#[derive(Debug)]
pub struct NatsCluster {
    pub nodes: Vec<NatsServer>,
    _dir: tempfile::TempDir,
}

/// Waits until every node is healthy (true), or until one's process ends (false: a port
/// `free_port()` found free was taken before the node bound it, as tests start servers side by
/// side, and the caller starts them again on other ports). A node's peers cannot become healthy
/// without it, so every node is watched at once, not one after the other.
fn all_serve_unless_one_exits(nodes: &mut [NatsServer]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if nodes.iter_mut().any(NatsServer::exited) {
            for node in nodes.iter_mut() {
                node.kill();
            }
            return false;
        }
        if nodes.iter().all(NatsServer::healthy) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let unhealthy: Vec<&str> = nodes
        .iter()
        .filter(|n| !n.healthy())
        .map(|n| n.name.as_str())
        .collect();
    panic!("nats-server {unhealthy:?} not healthy within 30 s");
}

impl NatsCluster {
    /// Starts `size` nodes and waits until each is healthy (JetStream meta leader elected).
    pub fn start(size: usize) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        for _ in 0..5 {
            let mut nodes = Self::nodes(dir.path(), size);
            for node in &mut nodes {
                node.launch();
            }
            if all_serve_unless_one_exits(&mut nodes) {
                return Self { nodes, _dir: dir };
            }
        }
        panic!("a node of the {size}-node cluster ended at start five times, each on other ports");
    }

    fn nodes(dir: &Path, size: usize) -> Vec<NatsServer> {
        let cluster_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        (0..size)
            .map(|i| {
                let routes: Vec<u16> = cluster_ports
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, p)| *p)
                    .collect();
                NatsServer::configure(
                    dir,
                    &format!("n{}", i + 1),
                    Some((cluster_ports[i], &routes)),
                )
            })
            .collect()
    }

    /// The three nodes of `deploy/nats/nats.conf` (the configuration every deployment uses),
    /// on free loopback ports with their stores under `dir`, the `docket` user's password
    /// `password` (and the route and admin users' the same), started and healthy.
    pub fn from_deploy(dir: &Path, password: &str) -> Self {
        // A port free_port() found free may be taken before a node binds it (tests start
        // servers side by side): the node exits at once, and the cluster is started again on
        // other ports.
        for _ in 0..5 {
            let mut nodes = Self::deploy_nodes(dir, password);
            for node in &mut nodes {
                node.launch();
            }
            if all_serve_unless_one_exits(&mut nodes) {
                return Self {
                    nodes,
                    _dir: tempfile::tempdir_in(dir).expect("a directory beside the stores"),
                };
            }
        }
        let tails: Vec<String> = (0..3)
            .map(|i| {
                let text =
                    std::fs::read_to_string(dir.join(format!("nats-{i}.log"))).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                format!(
                    "nats-{i}:\n{}",
                    lines[lines.len().saturating_sub(8)..].join("\n")
                )
            })
            .collect();
        panic!(
            "a node of the deploy/nats cluster ended at start five times, each on other ports:\n{}",
            tails.join("\n")
        );
    }

    fn deploy_nodes(dir: &Path, password: &str) -> Vec<NatsServer> {
        let config = workspace_root().join("deploy/nats/nats.conf");
        let ports: Vec<(u16, u16, u16)> = (0..3)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        ports
            .iter()
            .enumerate()
            .map(|(i, (port, http_port, cluster_port))| {
                let name = format!("nats-{i}");
                let store = dir.join(&name);
                let mut env = vec![
                    ("NATS_SERVER_NAME".to_owned(), name.clone()),
                    ("NATS_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
                    ("NATS_MONITOR".to_owned(), format!("127.0.0.1:{http_port}")),
                    (
                        "NATS_CLUSTER_LISTEN".to_owned(),
                        format!("127.0.0.1:{cluster_port}"),
                    ),
                    ("NATS_STORE_DIR".to_owned(), store.display().to_string()),
                    ("DOCKET_NATS_PASSWORD".to_owned(), password.to_owned()),
                    ("NATS_ROUTE_PASSWORD".to_owned(), password.to_owned()),
                    ("NATS_ADMIN_PASSWORD".to_owned(), password.to_owned()),
                ];
                for (j, (_, _, route)) in ports.iter().enumerate() {
                    env.push((
                        format!("NATS_ROUTE_{j}"),
                        format!("nats://route:{password}@127.0.0.1:{route}"),
                    ));
                }
                NatsServer {
                    name,
                    port: *port,
                    http_port: *http_port,
                    config: config.clone(),
                    store,
                    env,
                    child: None,
                    _dir: None,
                }
            })
            .collect()
    }

    /// The node that leads the Docket stream now (by its monitoring endpoint), if one does.
    pub fn stream_leader(&self, stream: &str) -> Option<usize> {
        for node in &self.nodes {
            let Some(body) = node.monitor("/jsz?accounts=true&streams=true") else {
                continue;
            };
            let Ok(jsz) = serde_json::from_str::<serde_json::Value>(&body) else {
                continue;
            };
            let leader = jsz["account_details"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|a| a["stream_detail"].as_array().into_iter().flatten())
                .find(|s| s["name"] == stream)
                .and_then(|s| s["cluster"]["leader"].as_str().map(str::to_owned));
            if let Some(leader) = leader {
                return self.nodes.iter().position(|n| n.name == leader);
            }
        }
        None
    }

    /// The node that leads the JetStream meta group now (which places streams and consumers), by
    /// the monitoring endpoint of a node that answers and knows one.
    pub fn meta_leader(&self) -> Option<usize> {
        self.nodes.iter().find_map(|node| {
            let jsz: serde_json::Value = serde_json::from_str(&node.monitor("/jsz")?).ok()?;
            let leader = jsz["meta_cluster"]["leader"].as_str()?;
            self.nodes.iter().position(|n| n.name == leader)
        })
    }

    /// Every node's URL, comma-separated, as a client's server list.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }
}
