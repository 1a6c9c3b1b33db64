//! `make bench-batch`: would grouping commits of different cases into one atomic batch
//! (nats-server 2.12, ADR-50) lift durable throughput past the one-publish-one-fsync ceiling?
//! Raw JetStream only, on the pinned server with `sync_interval: always`: single publishes with
//! `Nats-Expected-Last-Subject-Sequence` against atomic batches whose every message carries the same
//! check on its own subject; and whether the server takes `Nats-Msg-Id` (Docket's commit id) inside
//! a batch.

use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::stream::{Config as StreamConfig, StorageType};
use docket_testkit::NatsServer;
use uuid::Uuid;

// The allocator the docket binary runs with (and the shared helpers, some unused here).
mod common;

const ROUND: Duration = Duration::from_secs(3);

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Commits per second: `writers` tasks, each publishing batches of `batch` messages on `batch`
/// subjects of its own (batch 1: a plain publish), waiting for the ack of each.
async fn rate(
    client: &async_nats::Client,
    writers: usize,
    batch: usize,
    msg_ids: bool,
) -> Result<f64, String> {
    let js = async_nats::jetstream::new(client.clone());
    let payload = vec![b'x'; 700];
    let until = Instant::now() + ROUND;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..writers {
        let (js, client, payload) = (js.clone(), client.clone(), payload.clone());
        tasks.spawn(async move {
            let subjects: Vec<String> = (0..batch)
                .map(|_| format!("raw.{}", Uuid::now_v7()))
                .collect();
            let mut last = vec![0u64; batch];
            let mut commits = 0u64;
            while Instant::now() < until {
                let batch_id = Uuid::now_v7().to_string();
                for (i, subject) in subjects.iter().enumerate() {
                    let mut h = HeaderMap::new();
                    h.insert(
                        "Nats-Expected-Last-Subject-Sequence",
                        last[i].to_string().as_str(),
                    );
                    if msg_ids {
                        h.insert("Nats-Msg-Id", Uuid::now_v7().to_string().as_str());
                    }
                    if batch > 1 {
                        h.insert("Nats-Batch-Id", batch_id.as_str());
                        h.insert("Nats-Batch-Sequence", (i + 1).to_string().as_str());
                    }
                    if i + 1 < batch {
                        client
                            .publish_with_headers(subject.clone(), h, payload.clone().into())
                            .await
                            .map_err(|e| e.to_string())?;
                        continue;
                    }
                    if batch > 1 {
                        h.insert("Nats-Batch-Commit", "1");
                    }
                    let ack = js
                        .publish_with_headers(subject.clone(), h, payload.clone().into())
                        .await
                        .map_err(|e| e.to_string())?
                        .await
                        .map_err(|e| e.to_string())?;
                    // The batch's messages took the sequences up to the ack's, in order.
                    let first = ack.sequence + 1 - batch as u64;
                    for (j, seq) in last.iter_mut().enumerate() {
                        *seq = first + j as u64;
                    }
                }
                commits += batch as u64;
            }
            Ok::<u64, String>(commits)
        });
    }
    let mut total = 0;
    for r in tasks.join_all().await {
        total += r?;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = NatsServer::start();
    runtime.block_on(async {
        let client = async_nats::connect(server.url()).await.unwrap();
        let js = async_nats::jetstream::new(client.clone());
        js.create_stream(StreamConfig {
            name: "RAW".to_owned(),
            subjects: vec!["raw.>".to_owned()],
            storage: StorageType::File,
            allow_atomic_publish: true,
            ..StreamConfig::default()
        })
        .await
        .unwrap();
        println!(
            "| publish | writers | batch | commits per second (median of 3) | ratio to single |"
        );
        println!("| --- | ---: | ---: | ---: | ---: |");
        for writers in [16, 64] {
            let single = median(vec![
                rate(&client, writers, 1, false).await.unwrap(),
                rate(&client, writers, 1, false).await.unwrap(),
                rate(&client, writers, 1, false).await.unwrap(),
            ]);
            println!("| single | {writers} | 1 | {single:.0} | 1.00 |");
            for (batchers, batch) in [(writers / 4, 4), (writers / 16, 16)] {
                let mut rs = Vec::new();
                for _ in 0..3 {
                    match rate(&client, batchers.max(1), batch, false).await {
                        Ok(r) => rs.push(r),
                        Err(e) => {
                            println!("| atomic batch | {batchers} | {batch} | refused: {e} | - |");
                            break;
                        }
                    }
                }
                if rs.len() == 3 {
                    let r = median(rs);
                    println!(
                        "| atomic batch | {batchers} | {batch} | {r:.0} | {:.2} |",
                        r / single
                    );
                }
            }
        }
        match rate(&client, 1, 4, true).await {
            Ok(_) => println!("\nNats-Msg-Id inside an atomic batch: accepted"),
            Err(e) => println!("\nNats-Msg-Id inside an atomic batch: refused ({e})"),
        }
    });
}
