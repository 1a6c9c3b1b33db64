//! `make bench-pattern`: what Docket's way of using JetStream costs the server, without Docket.
//! Raw publishes at 64 writers on the pinned server (`sync_interval: always`), each waiting for
//! its ack, in the shape of the `bench-http` baseline (one subject per writer, the expected last
//! subject sequence) and then with one of Docket's habits added at a time: a new subject per
//! publish (a filing opens a case), `Nats-Msg-Id` and Docket's two headers, a payload of a real
//! commit's size, and an ordered consumer reading the stream meanwhile (the projector; Docket's
//! reader also asks for the stream's info when it has caught up, which this leaves out: under
//! filings at 64 clients the server counted 100 to 150 API requests a second in all); last, all
//! of them. Each variant is measured in rounds interleaved with the baseline's, and reported as
//! the median ratio to it. `DOCKET_BENCH_ROUNDS` (default 3) and `DOCKET_BENCH_MS` set the
//! rounds.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::stream::Config as StreamConfig;
use common::{median, raw_jetstream, raw_publishes, raw_stream, rounds, throughput};
use futures_util::StreamExt;
use uuid::Uuid;

const WRITERS: usize = 64;
/// The bench-http baseline's payload, and a commit of a filing as Docket stores it.
const BASELINE_BYTES: usize = 600;
const COMMIT_BYTES: usize = 1_100;

#[derive(Clone, Copy, Default)]
struct Habits {
    subject_per_publish: bool,
    msg_id: bool,
    commit_size: bool,
    consumer: bool,
}

const VARIANTS: [(&str, Habits); 5] = [
    (
        "a new subject per publish",
        Habits {
            subject_per_publish: true,
            msg_id: false,
            commit_size: false,
            consumer: false,
        },
    ),
    (
        "Nats-Msg-Id and Docket's headers",
        Habits {
            subject_per_publish: false,
            msg_id: true,
            commit_size: false,
            consumer: false,
        },
    ),
    (
        "a commit's size (1,100 bytes)",
        Habits {
            subject_per_publish: false,
            msg_id: false,
            commit_size: true,
            consumer: false,
        },
    ),
    (
        "an ordered consumer reading alongside",
        Habits {
            subject_per_publish: false,
            msg_id: false,
            commit_size: false,
            consumer: true,
        },
    ),
    (
        "all of them (Docket's pattern)",
        Habits {
            subject_per_publish: true,
            msg_id: true,
            commit_size: true,
            consumer: true,
        },
    ),
];

/// One round of publishes with `habits`; returns publishes per second.
async fn publishes(js: &async_nats::jetstream::Context, habits: Habits) -> f64 {
    let size = if habits.commit_size {
        COMMIT_BYTES
    } else {
        BASELINE_BYTES
    };
    let payload = vec![b'x'; size];
    let js = js.clone();
    throughput(
        WRITERS,
        move |_| (js.clone(), format!("raw.{}", Uuid::now_v7()), 0u64),
        move |(js, own_subject, last)| {
            let payload = payload.clone();
            async move {
                let (subject, expected) = if habits.subject_per_publish {
                    (format!("raw.demo.hazard.{}", Uuid::now_v7()), 0)
                } else {
                    (own_subject.clone(), last)
                };
                let mut headers = HeaderMap::new();
                headers.insert(
                    "Nats-Expected-Last-Subject-Sequence",
                    expected.to_string().as_str(),
                );
                if habits.msg_id {
                    headers.insert("Nats-Msg-Id", Uuid::now_v7().to_string().as_str());
                    headers.insert("Docket-Case-Version", "1");
                    headers.insert("Docket-Event-Types", "hazard.reported");
                }
                let ack = js
                    .publish_with_headers(subject, headers, payload.into())
                    .await
                    .unwrap()
                    .await
                    .unwrap();
                (js, own_subject, ack.sequence)
            }
        },
    )
    .await
}

/// Reads the stream from its end on until `stop`, as the projector does; returns how many it
/// read.
async fn read_alongside(
    stream: &async_nats::jetstream::stream::Stream,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    let mut info = stream.clone();
    let start = info.info().await.unwrap().state.last_sequence + 1;
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: "raw.>".to_owned(),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..OrderedConfig::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let read = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_millis(100), messages.next()).await {
                Ok(Some(Ok(_))) => {
                    read.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Some(Err(e))) => panic!("the consumer failed: {e}"),
                Ok(None) => break,
                Err(_) => {}
            }
        }
        read.load(Ordering::Relaxed)
    })
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (_nats, js, stream) = raw_jetstream(StreamConfig {
            duplicate_window: Duration::from_secs(10 * 60),
            ..raw_stream()
        })
        .await;
        let baseline_payload = vec![b'x'; BASELINE_BYTES];
        // Warm up: the connection, the store's first blocks.
        raw_publishes(&js, &baseline_payload, WRITERS).await;
        println!(
            "| publishes at {WRITERS} writers, each awaiting its ack | per second (median of {}) | baseline per second | ratio to baseline |",
            rounds()
        );
        println!("| --- | ---: | ---: | ---: |");
        for (name, habits) in VARIANTS {
            let (mut rates, mut baselines, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds() {
                let baseline = raw_publishes(&js, &baseline_payload, WRITERS).await;
                let stop = Arc::new(AtomicBool::new(false));
                let reader = if habits.consumer {
                    Some(read_alongside(&stream, stop.clone()).await)
                } else {
                    None
                };
                let rate = publishes(&js, habits).await;
                stop.store(true, Ordering::Relaxed);
                if let Some(reader) = reader {
                    let read = reader.await.unwrap();
                    assert!(read > 0, "the consumer read nothing");
                }
                rates.push(rate);
                baselines.push(baseline);
                ratios.push(rate / baseline);
            }
            let row = (median(rates), median(baselines), median(ratios));
            eprintln!("{name}: {:.0}/s against {:.0}/s", row.0, row.1);
            println!("| {name} | {:.0} | {:.0} | {:.2} |", row.0, row.1, row.2);
        }
    });
}
