//! Dependency faults: an exhausted pool answers quickly and recovers.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use crate::common::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn an_exhausted_pool_answers_service_unavailable_then_recovers() {
    let t = TestApp::with_config(|config| {
        config.db_pool_size = 1;
        config.db_wait_secs = 1;
    })
    .await;
    let ada = t.user("ada").await;
    // Something else holds the only connection.
    let held = t.app.pool.get().await.unwrap();
    let started = Instant::now();
    let reply = t
        .gql_as(&ada.access, "{ me { username } }", json!({}))
        .await;
    assert_eq!(reply.code(), Some("SERVICE_UNAVAILABLE"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the wait is bounded"
    );
    assert_eq!(t.get("/healthz", &[]).await.status, StatusCode::OK);
    let ready = t.get("/readyz", &[]).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    drop(held);
    let reply = t
        .gql_as(&ada.access, "{ me { username } }", json!({}))
        .await;
    assert_eq!(reply.assert_ok()["me"]["username"], "ada");
    assert_eq!(t.get("/readyz", &[]).await.status, StatusCode::OK);
    assert_eq!(t.app.pool.status().size, 1, "the pool is whole again");
}
