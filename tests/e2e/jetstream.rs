//! `docket serve --log nats://…`: the same API on JetStream, surviving a SIGKILL of Docket.

use docket_testkit::NatsServer;
use docket_tests::{Server, data_dir};
use reqwest::{Method, StatusCode};

use crate::{call, file_and_verify};

#[tokio::test(flavor = "multi_thread")]
async fn serve_on_jetstream_files_acts_lists_and_survives_a_restart() {
    let nats = NatsServer::start();
    let dir = data_dir();
    let url = nats.url();
    let mut server = Server::start_with(dir.path(), &["--log", &url]);
    let grid = server.token("grid_worker");
    let handler = server.token("handler");

    let (id, position) = file_and_verify(&server.url, &grid, &handler, "消防通道被占").await;
    server.kill();

    let server = Server::start_with(dir.path(), &["--log", &url]);
    let (status, case) = call(
        Method::GET,
        &format!("{}/v1/cases/{id}", server.url),
        &handler,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{case}");
    assert_eq!(case["status"], "verified");
    assert_eq!(case["version"], 2);
    let (status, list) = call(
        Method::GET,
        &format!(
            "{}/v1/cases?min_position={position}&status=verified",
            server.url
        ),
        &handler,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"][0]["id"], id.as_str());
    let (_, history) = call(
        Method::GET,
        &format!("{}/v1/cases/{id}/history", server.url),
        &handler,
        None,
    )
    .await;
    assert_eq!(history["commits"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_model_from_the_embedded_log_is_not_reused_for_jetstream() {
    let nats = NatsServer::start();
    let dir = data_dir();
    drop(Server::start(dir.path()));
    let out = std::process::Command::new(docket_tests::docket_bin())
        .env("DOCKET_GRPC_LISTEN", "127.0.0.1:0")
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log",
            &nats.url(),
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("built from the log \"sqlite\""), "{stderr}");
}
