//! `/metrics` in Prometheus text format: requests by operation and outcome, latency histograms,
//! pool and outbox gauges, and rate-limit refusals.

use serde_json::json;

use crate::common::TestApp;

fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_operations_outcomes_latency_pool_outbox_and_refusals() {
    let t = TestApp::with_config(|config| config.rate_register_per_address = 1).await;
    for _ in 0..3 {
        t.gql("query Hello { __typename }", json!({}))
            .await
            .assert_ok();
    }
    t.gql("query Private { me { id } }", json!({})).await;
    t.register("ada", "ada@example.com").await.assert_ok(); // a welcome mail waits in the outbox
    t.register("bob", "bob@example.com").await; // refused: one registration per address

    let reply = t.get("/metrics", &[]).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let metrics = reply.body.as_str().unwrap().to_owned();
    assert_eq!(
        sample(
            &metrics,
            r#"agora_requests_total{operation="Hello",outcome="ok"}"#
        ),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"agora_requests_total{operation="Private",outcome="UNAUTHENTICATED"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            r#"agora_request_duration_seconds_count{operation="Hello"}"#
        ),
        Some(3.0)
    );
    assert!(
        metrics.contains(r#"agora_request_duration_seconds_bucket{operation="Hello",le="0.005"}"#)
    );
    assert_eq!(
        sample(
            &metrics,
            r#"agora_rate_limit_refusals_total{limit="register"}"#
        ),
        Some(1.0)
    );
    assert!(sample(&metrics, r#"agora_db_pool_connections{state="idle"}"#).is_some());
    assert!(sample(&metrics, r#"agora_db_pool_connections{state="in_use"}"#).is_some());
    assert_eq!(sample(&metrics, "agora_db_pool_waiting"), Some(0.0));
    assert_eq!(sample(&metrics, "agora_outbox_backlog"), Some(1.0));
}
