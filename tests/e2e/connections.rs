//! Connections a client holds open cannot take the server down: silent and half-sent ones are
//! closed after the header timeout and give way at the connection limit, so `/healthz` keeps
//! answering; on SIGTERM, open event streams do not hold the server up.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use docket_tests::{Server, data_dir};

fn address(server: &Server) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_and_slow_connections_past_the_limit_do_not_stop_healthz() {
    let dir = data_dir();
    let mut server = Server::start_bare(
        dir.path(),
        &["--max-connections", "16", "--header-read-timeout", "2"],
    );
    let at = address(&server);
    // More than the limit: connections that send nothing, and ones that stop mid-header.
    let mut held = Vec::new();
    for i in 0..40 {
        let mut s = TcpStream::connect(&at).unwrap();
        if i % 4 == 0 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: docket\r\n")
                .unwrap();
        }
        held.push(s);
    }
    // The median of ten within 100 ms, and every one within a second: the tests around it share
    // two cores, so one request may wait for the scheduler, not for the server.
    let client = reqwest::Client::new();
    let mut took = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let r = client
            .get(format!("{}/healthz", server.url))
            .send()
            .await
            .expect("healthz answers");
        let (status, _) = docket_tests::checked("GET", r).await;
        took.push(started.elapsed());
        assert!(status.is_success(), "{status}");
    }
    took.sort_unstable();
    assert!(
        took[4] < Duration::from_millis(100),
        "healthz took {took:?}"
    );
    assert!(took[9] < Duration::from_secs(1), "healthz took {took:?}");
    // A silent connection that was not made to give way is closed after the header timeout.
    let mut last = held.pop().unwrap();
    last.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = last.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(server.terminate());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_twenty_event_streams_open_exits_within_five_seconds() {
    let dir = data_dir();
    let mut server = Server::start_bare(dir.path(), &[]);
    let token = server.token("supervisor");
    let client = reqwest::Client::new();
    let mut streams = Vec::new();
    for _ in 0..20 {
        let r = client
            .get(format!("{}/v1/events", server.url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("the stream opens");
        assert!(r.status().is_success(), "{}", r.status());
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        // The stream's body is read below, once the server has ended it.
        docket_tests::check_answer(
            "GET",
            r.url().as_str(),
            r.status().as_u16(),
            content_type,
            b"",
        );
        streams.push(r);
    }
    let started = Instant::now();
    assert!(server.terminate(), "a clean exit");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "exited after {took:?}");
    // Each stream has ended.
    for r in streams {
        let body = tokio::time::timeout(Duration::from_secs(2), r.bytes()).await;
        assert!(body.is_ok(), "a stream still open after the exit");
    }
}

/// Sixty-four clients act on one case at once, none with `If-Match`: each action decides again
/// on the case as the others left it, until it gets in; every one is recorded, each at its own
/// version.
#[tokio::test(flavor = "multi_thread")]
async fn sixty_four_clients_acting_on_one_case_without_if_match_all_succeed() {
    use reqwest::{Method, StatusCode};
    use serde_json::json;

    use crate::call;

    let dir = data_dir();
    let server = Server::start(dir.path());
    let grid_worker = server.token("grid_worker");
    let (status, filed) = call(
        Method::POST,
        &format!("{}/v1/cases", server.url),
        &grid_worker,
        Some(
            json!({"kind": "hazard", "community": "qinghe", "grid": "qinghe-01",
            "title": "电动车楼道充电", "category": "fire", "severity": "general",
            "source": "grid-worker"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    let case = filed["case_id"].as_str().unwrap().to_owned();
    let notes: Vec<_> = (0..64)
        .map(|i| {
            let (url, token) = (
                format!("{}/v1/cases/{case}/actions/add-note", server.url),
                grid_worker.clone(),
            );
            tokio::spawn(async move {
                call(
                    Method::POST,
                    &url,
                    &token,
                    Some(json!({"text": format!("第{i}次巡查")})),
                )
                .await
            })
        })
        .collect();
    let (mut versions, mut last) = (Vec::new(), 0u64);
    for note in notes {
        let (status, body) = note.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        versions.push(body["version"].as_u64().unwrap());
        last = last.max(body["position"].as_u64().unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (2..=65).collect::<Vec<u64>>());
    let (status, history) = call(
        Method::GET,
        &format!("{}/v1/cases/{case}/history", server.url),
        &grid_worker,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let commits = history["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 65, "{history}");
    assert_eq!(commits.last().unwrap()["position"], last, "{history}");
}

/// gRPC connections past `--grpc-max-connections` are closed as they come, so clients holding
/// connections cannot use up the server's open files; ones that send nothing are closed after
/// `--header-read-timeout`, so they cannot hold every slot; HTTP is not held up meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn grpc_connections_past_the_limit_are_closed_and_silent_ones_make_room() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let dir = data_dir();
    let server = Server::start_bare(
        dir.path(),
        &["--grpc-max-connections", "4", "--header-read-timeout", "3"],
    );
    let at = server.grpc_url.trim_start_matches("http://").to_owned();
    let opened = Instant::now();
    let mut held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&at).unwrap()).collect();
    // Each held one is accepted (it gets the server's HTTP/2 settings) before the next comes.
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut settings = [0u8; 9];
        s.read_exact(&mut settings)
            .expect("an admitted connection is answered");
    }

    let mut refused = TcpStream::connect(&at).unwrap();
    refused
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = refused.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the fifth is closed without an answer");
    assert!(
        opened.elapsed() < Duration::from_secs(3),
        "refused before any held one timed out: {:?}",
        opened.elapsed()
    );
    let healthz = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap();
    assert!(healthz.status().is_success());

    // The silent ones are closed once their time to speak is up, not before.
    for s in &mut held {
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("a silent connection was not closed: {e}"),
            }
        }
    }
    let closed_after = opened.elapsed();
    assert!(
        closed_after >= Duration::from_secs(3) && closed_after < Duration::from_secs(8),
        "closed after {closed_after:?}"
    );

    // With the sockets still held on this side, a client gets in.
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        let checked = async {
            let channel = tonic::transport::Channel::from_shared(server.grpc_url.clone())
                .unwrap()
                .connect()
                .await?;
            let answer = HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await?;
            Ok::<_, Box<dyn std::error::Error>>(answer.into_inner().status)
        };
        match checked.await {
            Ok(status) => break status,
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the silent connections never made room: {e}"),
        }
    };
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    drop(held);
}
