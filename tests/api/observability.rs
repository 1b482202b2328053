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

    let reply = t.metrics().await;
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

/// `/metrics` names every operation clients sent and how they failed: it is served on a listener
/// of its own (loopback unless configured), never on the API's, and every metric says what it
/// counts.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_served_apart_from_the_api_and_every_metric_has_help() {
    let defaults = agora::config::Config::from_env().unwrap();
    assert_eq!(defaults.metrics_listen, "127.0.0.1:9464");

    let t = TestApp::new().await;
    let server = t.binary(&[]).await;
    server
        .gql(None, "query Hello { __typename }", json!({}))
        .await;
    assert_eq!(server.get("/metrics").await.0, 404);

    let scraped = reqwest::get(format!("http://{}/metrics", server.metrics_address))
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let metrics = scraped.text().await.unwrap();
    assert_eq!(
        sample(
            &metrics,
            r#"agora_requests_total{operation="Hello",outcome="ok"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    let described: Vec<&str> = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("# HELP "))
        .filter_map(|help| help.split(' ').next())
        .collect();
    let undescribed: Vec<&str> = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|kind| kind.split(' ').next())
        .filter(|name| !described.contains(name))
        .collect();
    assert!(undescribed.is_empty(), "no HELP for {undescribed:?}");
    assert!(described.len() >= 5, "{metrics}");

    let off = t.binary(&[("AGORA_METRICS_LISTEN", "off")]).await;
    assert!(
        reqwest::get(format!("http://{}/metrics", off.metrics_address))
            .await
            .is_err(),
        "off serves no metrics"
    );
}
