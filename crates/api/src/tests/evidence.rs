//! Evidence uploads as the server reads them: a body sent without its length (chunked) is read
//! no further than the store's limit and keeps nothing; one that fits is kept.

use axum::body::Bytes;

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
