//! Automatic persisted queries (Apollo APQ): hash first, text on a miss, hash alone afterwards;
//! over POST and GET, kept per instance without Redis and shared between instances with it.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::common::{Reply, TestApp};

const QUERY: &str = "query Hello { __typename }";

fn hash(text: &str) -> String {
    agora::ratelimit::hashed_key(text)
}

async fn post(t: &TestApp, body: Value) -> Reply {
    t.send(
        Request::builder()
            .method(Method::POST)
            .uri("/graphql")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_is_sent_once_then_named_by_its_hash() {
    let t = TestApp::new().await;
    let extensions = persisted(&hash(QUERY));
    let miss = post(&t, json!({ "extensions": extensions })).await;
    assert_eq!(miss.code(), Some("PERSISTED_QUERY_NOT_FOUND"));
    assert_eq!(miss.error()["message"], "PersistedQueryNotFound");
    post(&t, json!({ "query": QUERY, "extensions": extensions }))
        .await
        .assert_ok();
    let hit = post(&t, json!({ "extensions": extensions })).await;
    assert_eq!(hit.assert_ok()["__typename"], "Query");
    // GET, as Apollo Client sends hashed queries when asked to: still queries only.
    let uri = format!(
        "/graphql?extensions={}",
        url_escape(&extensions.to_string())
    );
    assert_eq!(t.get(&uri, &[]).await.assert_ok()["__typename"], "Query");
    let mutation = "mutation Out { logout { sessionsRevoked } }";
    let mutation_extensions = persisted(&hash(mutation));
    post(
        &t,
        json!({ "query": mutation, "extensions": mutation_extensions }),
    )
    .await;
    let by_get = t
        .get(
            &format!(
                "/graphql?extensions={}",
                url_escape(&mutation_extensions.to_string())
            ),
            &[],
        )
        .await;
    assert_eq!(by_get.status, StatusCode::METHOD_NOT_ALLOWED);
}

fn url_escape(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_hash_or_unparsable_text_is_never_stored() {
    let t = TestApp::new().await;
    let wrong = post(
        &t,
        json!({ "query": QUERY, "extensions": persisted(&hash("something else")) }),
    )
    .await;
    assert_eq!(wrong.code(), Some("BAD_REQUEST"));
    assert_eq!(
        wrong.error()["message"],
        "provided sha does not match query"
    );
    let junk = "query {";
    let parse = post(
        &t,
        json!({ "query": junk, "extensions": persisted(&hash(junk)) }),
    )
    .await;
    assert_eq!(parse.code(), Some("GRAPHQL_PARSE_FAILED"));
    let later = post(&t, json!({ "extensions": persisted(&hash(junk)) })).await;
    assert_eq!(later.code(), Some("PERSISTED_QUERY_NOT_FOUND"));
    let bad = post(
        &t,
        json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hash(QUERY) } } }),
    )
    .await;
    assert_eq!(bad.code(), Some("BAD_REQUEST"));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_redis_a_query_registered_on_one_instance_is_known_on_another() {
    let prefix = format!("apq-{}", crate::common::free_port());
    let shared = |config: &mut agora::config::Config| config.redis_prefix = prefix.clone();
    let a = TestApp::with_redis(shared).await;
    let b = TestApp::with_redis(shared).await;
    let text = format!(
        "query Unique{} {{ __typename }}",
        crate::common::free_port()
    );
    let extensions = persisted(&hash(&text));
    post(&a, json!({ "query": text, "extensions": extensions }))
        .await
        .assert_ok();
    let on_b = post(&b, json!({ "extensions": extensions })).await;
    assert_eq!(on_b.assert_ok()["__typename"], "Query");
    // Without Redis, instances do not share them.
    let alone = TestApp::new().await;
    let miss = post(&alone, json!({ "extensions": extensions })).await;
    assert_eq!(miss.code(), Some("PERSISTED_QUERY_NOT_FOUND"));
}
