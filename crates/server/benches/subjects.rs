//! `make scaling`: nats-server memory and disk as the number of case subjects grows, one commit
//! per subject, on the pinned server with `sync_interval: always`. Prints a table for
//! docs/scaling.md. `DOCKET_SCALING_STEPS` (default `100000,1000000`) sets the subject counts.

use std::time::Instant;

use async_nats::jetstream::stream::{Config as StreamConfig, StorageType};
use docket_eventlog::ChainHash;
use docket_eventlog::contract::commit;
use docket_testkit::NatsServer;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use uuid::Uuid;

// The allocator the docket binary runs with (and the shared helpers, some unused here).
mod common;

const IN_FLIGHT: usize = 512;
const TENANTS: usize = 100;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn disk_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

fn main() {
    let steps: Vec<usize> = std::env::var("DOCKET_SCALING_STEPS")
        .unwrap_or_else(|_| "100000,1000000".to_owned())
        .split(',')
        .map(|s| s.trim().parse().expect("a number of subjects"))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut server = NatsServer::start();
    let payload =
        serde_json::to_vec(&commit("t00", Uuid::now_v7(), 1, ChainHash::genesis())).unwrap();
    println!(
        "| case subjects | server RSS (MiB) | RSS after restart (MiB) | store on disk (MiB) | bytes on disk per commit | publish rate (/s) |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut published = 0usize;
    let baseline_rss = rss_kib(server.pid().unwrap());
    eprintln!("empty server: RSS {} MiB", baseline_rss / 1024);
    for target in steps {
        let url = server.url();
        let count = target - published;
        let start = Instant::now();
        runtime.block_on(async {
            let client = async_nats::connect(url).await.unwrap();
            let js = async_nats::jetstream::new(client);
            js.get_or_create_stream(StreamConfig {
                name: "DOCKET".to_owned(),
                subjects: vec!["docket.>".to_owned()],
                storage: StorageType::File,
                allow_direct: true,
                deny_delete: true,
                deny_purge: true,
                ..StreamConfig::default()
            })
            .await
            .unwrap();
            let mut acks = FuturesUnordered::new();
            for i in 0..count {
                let subject = format!("docket.t{:02}.hazard.{}", i % TENANTS, Uuid::now_v7());
                acks.push(
                    js.publish(subject, payload.clone().into())
                        .await
                        .unwrap()
                        .into_future(),
                );
                if acks.len() >= IN_FLIGHT {
                    acks.next().await.unwrap().unwrap();
                }
            }
            while let Some(ack) = acks.next().await {
                ack.unwrap();
            }
        });
        published = target;
        let rate = count as f64 / start.elapsed().as_secs_f64();
        let rss = rss_kib(server.pid().unwrap());
        server.restart();
        let rss_restarted = rss_kib(server.pid().unwrap());
        let disk = disk_bytes(server.store_dir());
        println!(
            "| {target} | {:.0} | {:.0} | {:.0} | {:.0} | {rate:.0} |",
            rss as f64 / 1024.0,
            rss_restarted as f64 / 1024.0,
            disk as f64 / (1024.0 * 1024.0),
            disk as f64 / target as f64
        );
    }
}
