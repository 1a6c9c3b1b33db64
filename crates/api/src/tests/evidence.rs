//! Evidence uploads as the server reads them: a body sent without its length (chunked) is read
//! no further than the store's limit and keeps nothing; one that fits is kept.

use axum::body::Bytes;
use http_body_util::BodyExt;

use super::*;
use crate::evidence::EvidenceStore;

fn chunked(token: &str, chunks: Vec<Vec<u8>>) -> Request<Body> {
    let stream = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
    );
    Request::builder()
        .method("POST")
        .uri("/v1/evidence")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "image/jpeg")
        .body(Body::from_stream(stream))
        .unwrap()
}

#[tokio::test]
async fn a_file_sent_without_its_length_is_read_no_further_than_the_limit() {
    let app = app().await;
    let dir = tempfile::tempdir().unwrap();
    let router = router(
        app.state
            .clone()
            .with_evidence(EvidenceStore::new(dir.path(), 64)),
    );
    let token = app.token(Role::GridWorker);

    let over = chunked(
        &token,
        vec![b"\xFF\xD8\xFF".to_vec(), vec![7; 40], vec![7; 40]],
    );
    let response = router.clone().oneshot(over).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing is kept"
    );

    let within = chunked(&token, vec![b"\xFF\xD8\xFF".to_vec(), vec![7; 40]]);
    let response = router.oneshot(within).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let kept = std::fs::read_dir(dir.path().join("qinghe"))
        .unwrap()
        .count();
    assert_eq!(kept, 1);
}

/// Uploads `bytes` as a JPEG and asks for it back: the answer, and its body's frames.
async fn kept_and_read_back(
    router: &axum::Router,
    token: &str,
    bytes: Vec<u8>,
) -> (axum::http::Response<Body>, Vec<Bytes>) {
    let response = router
        .clone()
        .oneshot(chunked(token, vec![bytes]))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let kept: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let get = Request::builder()
        .uri(kept["blob"].as_str().unwrap())
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (parts, mut body) = router.clone().oneshot(get).await.unwrap().into_parts();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            frames.push(data);
        }
    }
    (
        axum::http::Response::from_parts(parts, Body::empty()),
        frames,
    )
}

#[tokio::test]
async fn a_kept_file_is_sent_as_it_is_read_with_its_length_and_type() {
    let app = app().await;
    let dir = tempfile::tempdir().unwrap();
    let router = router(
        app.state
            .clone()
            .with_evidence(EvidenceStore::new(dir.path(), 1024 * 1024)),
    );
    let token = app.token(Role::GridWorker);

    let photo: Vec<u8> = b"\xFF\xD8\xFF"
        .iter()
        .copied()
        .chain((0..300_000u32).map(|i| (i % 251) as u8))
        .collect();
    let (answer, frames) = kept_and_read_back(&router, &token, photo.clone()).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["content-type"], "image/jpeg");
    assert_eq!(answer.headers()["content-length"], photo.len().to_string());
    assert!(
        frames.len() > 2,
        "sent in pieces as read, not whole: {} frames",
        frames.len()
    );
    assert_eq!(frames.concat(), photo);

    // Shorter than what tells a kind of file apart: all of it, still known by how it begins.
    let tiny = b"\xFF\xD8\xFF!".to_vec();
    let (answer, frames) = kept_and_read_back(&router, &token, tiny.clone()).await;
    assert_eq!(answer.headers()["content-type"], "image/jpeg");
    assert_eq!(answer.headers()["content-length"], "4");
    assert_eq!(frames.concat(), tiny);
}
