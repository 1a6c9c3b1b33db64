//! `make cluster`: the deployment's topology started natively on loopback from deploy/'s files
//! (three NATS nodes, Postgres with a synchronous standby, two Docket replicas behind a
//! round-robin balancer), its addresses and tokens printed; Ctrl-C or SIGTERM stops it all and
//! removes its data.

use std::io::Write;
use std::path::PathBuf;

use docket_testkit::cluster::Topology;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let docket = std::env::var_os("DOCKET_BIN").map_or_else(
        || docket_testkit::workspace_root().join("target/debug/docket"),
        PathBuf::from,
    );
    if !docket.is_file() {
        eprintln!(
            "docket-cluster: no docket binary at {} (build it, or set DOCKET_BIN)",
            docket.display()
        );
        std::process::exit(2);
    }
    if !args.is_empty() {
        eprintln!("docket-cluster takes no arguments (DOCKET_BIN names the docket binary)");
        std::process::exit(2);
    }
    let temp = tempfile::Builder::new()
        .prefix("docket-cluster-")
        .tempdir()
        .expect("a temporary directory");
    let dir = temp.path().to_path_buf();
    eprintln!("docket-cluster: starting in {} …", dir.display());
    let topology = Topology::start(&docket, &dir);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "docket-cluster: up");
    let _ = writeln!(out, "  API (balancer)      {}", topology.url());
    for r in &topology.replicas {
        let _ = writeln!(
            out,
            "  replica {:<11} {}  (log: {})",
            r.name,
            r.url(),
            r.data_dir.join("docket.log").display()
        );
    }
    for (i, n) in topology.nats.nodes.iter().enumerate() {
        let _ = writeln!(out, "  NATS nats-{i}        {}", n.url());
    }
    let _ = writeln!(out, "  NATS user           docket / {}", topology.password);
    let _ = writeln!(out, "  read model          {}", topology.read_model_url());
    for (i, pg) in topology.postgres.iter().enumerate() {
        let _ = writeln!(
            out,
            "  Postgres {}    postgres://postgres@127.0.0.1:{}/docket",
            if i == 0 { "primary" } else { "standby" },
            pg.port()
        );
    }
    let env = dir.join("cluster.env");
    topology.write_env(&env);
    let _ = writeln!(
        out,
        "  environment         {} (addresses, tokens, what docket needs beside the replicas)",
        env.display()
    );
    let _ = writeln!(
        out,
        "for a shell:  export CLUSTER_ENV={} && . \"$CLUSTER_ENV\"",
        env.display()
    );
    let _ = writeln!(out, "docket-cluster: Ctrl-C stops it all");
    drop(out);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    });
    eprintln!("docket-cluster: stopping");
    drop(topology);
}
