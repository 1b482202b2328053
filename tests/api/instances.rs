//! Two real server processes on one database and one Redis, as behind a load balancer: they
//! start together on an empty database, and each sees what the other did at once.

use serde_json::{Value, json};

use crate::common::{Instances, PASSWORD, Server, make_admin};
use crate::subscriptions::{connect, next, subscribe_as, subscribed};

pub(crate) async fn sign_in(server: &Server, username: &str) -> (String, String) {
    let reply = server
        .gql(
            None,
            "mutation($i: LoginInput!) { login(input: $i) { ... on AuthPayload { accessToken user { id } } } }",
            json!({ "i": { "login": username, "password": PASSWORD } }),
        )
        .await;
    let login = &reply.assert_ok()["login"];
    (
        login["accessToken"].as_str().unwrap().to_owned(),
        login["user"]["id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_sessions_limits_and_events() {
    // Both start at once on a database that does not exist yet.
    let Instances {
        a, b, database_url, ..
    } = &Instances::start(
        &[
            ("AGORA_ENV", "production"),
            ("AGORA_PUBLIC_URL", "https://agora.example"),
            ("AGORA_RATE_LOGIN_PER_ACCOUNT", "3"),
            ("RUST_LOG", "info"),
        ],
        true,
    )
    .await;
    for server in [a, b] {
        let (status, body) = server.get("/readyz").await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["status"], "ready");
        assert_eq!(body["rateLimits"], "redis");
    }

    // A logout on A is refused on B at once.
    a.register("ada").await;
    let (ada, _) = sign_in(a, "ada").await;
    let me = "{ me { username } }";
    assert_eq!(
        b.gql(Some(&ada), me, json!({})).await.assert_ok()["me"]["username"],
        "ada"
    );
    a.gql(
        Some(&ada),
        "mutation { logout { sessionsRevoked } }",
        json!({}),
    )
    .await
    .assert_ok();
    assert_eq!(
        b.gql(Some(&ada), me, json!({})).await.code(),
        Some("UNAUTHENTICATED")
    );

    // A rate limit counted on A applies on B.
    let guess = "mutation { login(input: {login: \"ghost\", password: \"not the password\"}) { __typename } }";
    for _ in 0..3 {
        let reply = a.gql(None, guess, json!({})).await;
        assert_eq!(reply.code(), Some("UNAUTHENTICATED"));
    }
    let refused = b.gql(None, guess, json!({})).await;
    assert_eq!(refused.code(), Some("RATE_LIMITED"));

    // A purchase on A is pushed to a subscriber on B.
    a.register("root").await;
    let (root, root_id) = sign_in(a, "root").await;
    make_admin(database_url, root_id).await;
    a.register("bob").await;
    let (bob, _) = sign_in(b, "bob").await;
    let (watcher, _) = sign_in(b, "ada").await;
    let mut socket = connect(b.address).await;
    subscribe_as(
        &mut socket,
        &watcher,
        "subscription { marketEvents { kind item { name owner { username } } } }",
    )
    .await;
    subscribed(&mut socket).await;
    let item = a
        .gql(
            Some(&root),
            "mutation { createItem(input: {name: \"Lamp\", price: 10, barcode: \"400638133393\"}) { item { id } } }",
            json!({}),
        )
        .await;
    let item_id = item.assert_ok()["createItem"]["item"]["id"].clone();
    a.gql(
        Some(&bob),
        "mutation($v: PurchaseItemInput!) { purchaseItem(input: $v) { budget } }",
        json!({ "v": { "itemId": item_id } }),
    )
    .await
    .assert_ok();
    let listed = next(&mut socket).await.unwrap();
    assert_eq!(listed["payload"]["data"]["marketEvents"]["kind"], "LISTED");
    let purchased = next(&mut socket).await.unwrap();
    assert_eq!(
        purchased["payload"]["data"]["marketEvents"],
        json!({ "kind": "PURCHASED", "item": { "name": "Lamp", "owner": { "username": "bob" } } })
    );

    // Production logs are JSON lines with request id, operation, user and duration, and
    // never a password or a token.
    let logs = a.logs();
    let requests: Vec<Value> = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["fields"]["message"] == "graphql request")
        .collect();
    assert!(!requests.is_empty(), "{logs:#?}");
    assert!(requests.iter().all(|entry| {
        let fields = &entry["fields"];
        fields["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
            && fields["duration_ms"].is_number()
            && fields["outcome"].is_string()
    }));
    assert!(
        requests
            .iter()
            .any(|entry| entry["fields"]["user_id"].is_number())
    );
    for secret in [PASSWORD, ada.as_str(), bob.as_str(), root.as_str()] {
        assert!(
            !logs.iter().any(|line| line.contains(secret)),
            "a secret in the logs"
        );
    }
}
