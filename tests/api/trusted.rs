//! Trusted documents: with a manifest configured, only its documents run (named by hash or sent
//! as their exact text, over POST, GET and WebSocket), but for holders of `documents:any`;
//! anything else is refused before it is parsed.

use axum::body::Body;
use axum::http::{Method, Request, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{Reply, TestApp};
use crate::subscriptions::{connect, next, subscribe_as, subscribed};

const ME: &str = "query Me { me { username } }";
const EVENTS: &str = "subscription Events { marketEvents { kind } }";
const UNLISTED: &str = "query Who { me { username email } }";

fn hash(text: &str) -> String {
    format!("{:x}", Sha256::digest(text))
}

fn persisted(text: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash(text) } })
}

/// An instance of `t` serving only [`ME`] and [`EVENTS`].
async fn trusted(t: &TestApp) -> TestApp {
    let manifest =
        std::env::temp_dir().join(format!("agora-trusted-{}.json", t.app.config.redis_prefix));
    let documents: serde_json::Map<String, Value> = [ME, EVENTS]
        .iter()
        .map(|text| (hash(text), json!(text)))
        .collect();
    std::fs::write(&manifest, Value::Object(documents).to_string()).unwrap();
    t.instance_with(|config| config.trusted_documents = Some(manifest))
        .await
}

async fn post(t: &TestApp, token: Option<&str>, body: Value) -> Reply {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    t.send(request.body(Body::from(body.to_string())).unwrap())
        .await
}

fn refused(reply: &Reply) {
    assert_eq!(
        reply.code(),
        Some("PERSISTED_QUERY_NOT_IN_LIST"),
        "{:?}",
        reply.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_manifests_documents_run_over_post_and_get() {
    let setup = TestApp::new().await;
    let ada = setup.user("ada").await;
    let root = setup.admin("root").await;
    let t = trusted(&setup).await;
    for body in [
        json!({ "extensions": persisted(ME) }),
        json!({ "query": ME }),
        json!({ "query": ME, "extensions": persisted(ME) }),
    ] {
        let reply = post(&t, Some(&ada.access), body.clone()).await;
        assert_eq!(reply.assert_ok()["me"]["username"], "ada", "{body}");
    }
    let extensions = persisted(ME).to_string();
    let by_get = t
        .get(
            &format!(
                "/graphql?extensions={}",
                url::form_urlencoded::byte_serialize(extensions.as_bytes()).collect::<String>()
            ),
            &[("authorization", &format!("Bearer {}", ada.access))],
        )
        .await;
    assert_eq!(by_get.assert_ok()["me"]["username"], "ada");

    // Anything else, whoever sends it, unless they hold documents:any; a text that does not
    // even parse is refused for the same reason, so nothing parsed it.
    for body in [
        json!({ "query": UNLISTED }),
        json!({ "extensions": persisted(UNLISTED) }),
        json!({ "query": UNLISTED, "extensions": persisted(UNLISTED) }),
        json!({ "query": UNLISTED, "extensions": persisted(ME) }),
        json!({ "query": format!("{ME} ") }),
        json!({ "query": "{{{ not graphql" }),
    ] {
        refused(&post(&t, None, body.clone()).await);
        refused(&post(&t, Some(&ada.access), body).await);
    }
    let by_get = t
        .get(
            &format!(
                "/graphql?query={}",
                url::form_urlencoded::byte_serialize(UNLISTED.as_bytes()).collect::<String>()
            ),
            &[("authorization", &format!("Bearer {}", ada.access))],
        )
        .await;
    refused(&by_get);

    let reply = post(&t, Some(&root.access), json!({ "query": UNLISTED })).await;
    assert_eq!(reply.assert_ok()["me"]["email"], "root@example.com");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_manifests_documents_run_over_websockets() {
    let setup = TestApp::new().await;
    let ada = setup.user("ada").await;
    let root = setup.admin("root").await;
    let t = trusted(&setup).await;
    let address = t.serve().await;

    let mut socket = connect(address).await;
    subscribe_as(
        &mut socket,
        &ada.access,
        "subscription { marketEvents { kind } }",
    )
    .await;
    let message = next(&mut socket).await.unwrap();
    assert_eq!(message["payload"]["data"], Value::Null, "{message}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_IN_LIST"
    );

    for (token, query) in [
        (&ada.access, EVENTS),
        (&root.access, "subscription { marketEvents { kind } }"),
    ] {
        let mut socket = connect(address).await;
        subscribe_as(&mut socket, token, query).await;
        subscribed(&mut socket).await;
        t.gql_as(
            &root.access,
            "mutation { createItem(input: {name: \"Lamp\", price: 10, barcode: \"012345678905\"}) { item { id } } }",
            json!({}),
        )
        .await;
        let event = next(&mut socket).await.unwrap();
        assert_eq!(
            event["payload"]["data"]["marketEvents"]["kind"], "LISTED",
            "{event}"
        );
        t.sql("DELETE FROM items").await;
    }
}

#[test]
fn a_manifest_whose_hashes_do_not_match_its_documents_is_refused_at_start() {
    let manifest =
        std::env::temp_dir().join(format!("agora-bad-manifest-{}.json", std::process::id()));
    std::fs::write(&manifest, json!({ hash(ME): UNLISTED }).to_string()).unwrap();
    let error = agora::graphql::trusted::TrustedDocuments::load(&manifest)
        .err()
        .expect("refused");
    assert!(error.to_string().contains("is not the SHA-256"), "{error}");
}
