//! Outbound webhooks against real receivers on loopback: one that fails on purpose, one that is
//! slow, one that is down while events happen, and two server processes sharing the queue.
//! Every receiver verifies the signatures with the Standard Webhooks authors' own library.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use crate::common::{Instances, TestApp, Tokens, eventually};
use crate::instances::sign_in;

/// One request a receiver got.
#[derive(Clone)]
struct Received {
    at: Instant,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

type Answer = Arc<dyn Fn(usize) -> (StatusCode, Duration) + Send + Sync>;

/// A webhook receiver of the test's own: logs each request, then answers what `answer` says
/// for the n-th request (from 1), after the delay it says.
#[derive(Clone)]
struct Receiver {
    log: Arc<Mutex<Vec<Received>>>,
    answer: Answer,
}

impl Receiver {
    fn new(answer: impl Fn(usize) -> (StatusCode, Duration) + Send + Sync + 'static) -> Self {
        Self {
            log: Arc::default(),
            answer: Arc::new(answer),
        }
    }

    /// Answers 200 while `healthy` holds, 500 otherwise.
    fn switched(healthy: Arc<AtomicBool>) -> Self {
        Self::new(move |_| {
            let status = if healthy.load(Ordering::SeqCst) {
                StatusCode::OK
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (status, Duration::ZERO)
        })
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/hook", post(receive))
            .with_state(self.clone())
    }

    /// Serves on a free loopback port; the URL to register.
    async fn start(&self) -> String {
        let (port, _) = crate::common::serve_on_loopback(self.router()).await;
        format!("http://127.0.0.1:{port}/hook")
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until `count` requests came.
    async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        eventually(within, &format!("{count} webhook requests"), async || {
            let received = self.received();
            (received.len() >= count).then_some(received)
        })
        .await
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = {
        let mut log = receiver.log.lock().unwrap();
        log.push(Received {
            at: Instant::now(),
            headers,
            body,
        });
        log.len()
    };
    let (status, delay) = (receiver.answer)(n);
    tokio::time::sleep(delay).await;
    status
}

/// Whether `request` carries a signature the documented library accepts under `secret`.
fn verified(secret: &str, request: &Received) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&request.body, &request.headers)
        .is_ok()
}

/// A server whose delivery job runs in this test, with short back-off settings.
async fn app(adjust: impl FnOnce(&mut agora::config::Config)) -> TestApp {
    let t = TestApp::with_config(|config| {
        config.webhook_retry_base_ms = 100;
        config.webhook_retry_max_ms = 800;
        config.webhook_poll_ms = 20;
        config.webhook_timeout_ms = 2000;
        adjust(config);
    })
    .await;
    tokio::spawn(agora::webhooks::run_delivery_job(t.app.clone()));
    t
}

const CREATE: &str = "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret endpoint { id url events paused } } }";

/// Registers `url` for `events`; the endpoint's id and secret.
async fn register(t: &TestApp, admin: &Tokens, url: &str, events: &[&str]) -> (String, String) {
    let reply = t
        .gql_as(
            &admin.access,
            CREATE,
            json!({ "i": { "url": url, "events": events, "description": "test receiver" } }),
        )
        .await;
    let created = &reply.assert_ok()["createWebhookEndpoint"];
    (
        created["endpoint"]["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// Lists `name` at `price`; the item's id.
async fn list(t: &TestApp, admin: &Tokens, name: &str, price: i64) -> String {
    let barcode = format!("{:012}", rand::random::<u32>());
    let reply = t
        .gql_as(
            &admin.access,
            "mutation($i: CreateItemInput!) { createItem(input: $i) { item { id } } }",
            json!({ "i": { "name": name, "price": price, "barcode": barcode } }),
        )
        .await;
    reply.assert_ok()["createItem"]["item"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

const BUY: &str =
    "mutation($i: PurchaseItemInput!) { purchaseItem(input: $i) { budget item { id } } }";

async fn buy(t: &TestApp, buyer: &Tokens, item_id: &str) -> crate::common::Reply {
    t.gql_as(&buyer.access, BUY, json!({ "i": { "itemId": item_id } }))
        .await
}

const DELIVERIES: &str = "query($f: WebhookDeliveryFilter) { webhookDeliveries(first: 100, filter: $f) { totalCount nodes { id eventId eventType state attempts lastStatus lastError deliveredAt nextAttemptAt payload } } }";

async fn deliveries(t: &TestApp, admin: &Tokens, filter: Value) -> Vec<Value> {
    let reply = t
        .gql_as(&admin.access, DELIVERIES, json!({ "f": filter }))
        .await;
    reply.assert_ok()["webhookDeliveries"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until every delivery is in `state`; the deliveries.
async fn all_in_state(t: &TestApp, admin: &Tokens, count: usize, state: &str) -> Vec<Value> {
    eventually(
        Duration::from_secs(20),
        &format!("{count} deliveries {state}"),
        async || {
            let listed = deliveries(t, admin, json!({})).await;
            (listed.len() == count && listed.iter().all(|d| d["state"] == state)).then_some(listed)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_receiver_gets_the_event_after_retries_that_wait_longer_each_time() {
    let t = app(|_| {}).await;
    let receiver = Receiver::new(|n| {
        let status = if n <= 3 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::NO_CONTENT
        };
        (status, Duration::ZERO)
    });
    let url = receiver.start().await;
    let admin = t.admin("ada").await;
    let (_, secret) = register(&t, &admin, &url, &["ITEM_PURCHASED"]).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let item = list(&t, &admin, "Lamp", 120).await;
    let bob = t.user("bob").await;
    let bought = buy(&t, &bob, &item).await;
    let budget = bought.assert_ok()["purchaseItem"]["budget"].clone();

    let received = receiver.wait_for(4, Duration::from_secs(20)).await;
    let first = &received[0];
    for request in &received {
        assert!(
            verified(&secret, request),
            "a signature the library refuses"
        );
        assert_eq!(
            request.id(),
            first.id(),
            "every attempt carries the event's id"
        );
        assert_eq!(request.body, first.body, "the same body every attempt");
        assert_eq!(request.headers["content-type"], "application/json");
    }
    let other = format!("whsec_{}", "A".repeat(43) + "=");
    assert!(!verified(&other, first), "another secret verifies nothing");
    let mut tampered = first.clone();
    tampered.body = Bytes::from([&b" "[..], &first.body[..]].concat());
    assert!(!verified(&secret, &tampered), "a changed body is refused");

    let event = first.json();
    assert_eq!(event["type"], "item.purchased");
    assert_eq!(event["id"], first.id());
    assert!(event["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        event["data"],
        json!({
            "item": { "id": item, "name": "Lamp", "price": 120 },
            "userId": bob.user_id,
            "budgetAfter": budget,
        })
    );

    // Waits of 100 × 2^(n-1) ms, of which the first half always passes: each retry waits at
    // least as long as the one before could have, and no longer than its own step (plus the
    // polling and the request, well under 150 ms here).
    let gaps: Vec<u128> = received
        .windows(2)
        .map(|pair| pair[1].at.duration_since(pair[0].at).as_millis())
        .collect();
    for (n, gap) in gaps.iter().enumerate() {
        let step = 100u128 << n;
        assert!(
            (step / 2..step + 150).contains(gap),
            "retry {} waited {gap} ms, not within the {step} ms step: {gaps:?}",
            n + 1
        );
    }
    assert!(gaps[2] > gaps[0], "the back-off grows: {gaps:?}");

    let listed = all_in_state(&t, &admin, 1, "DELIVERED").await;
    assert_eq!(listed[0]["attempts"], 4);
    assert_eq!(listed[0]["lastStatus"], 204);
    assert_eq!(listed[0]["eventId"], first.id());
    assert_eq!(listed[0]["nextAttemptAt"], Value::Null);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 4, "nothing after the delivery");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_slower_than_the_timeout_counts_as_a_failure_and_gets_a_retry() {
    let t = app(|config| config.webhook_timeout_ms = 300).await;
    let receiver = Receiver::new(|n| {
        let delay = if n == 1 { 1500 } else { 0 };
        (StatusCode::OK, Duration::from_millis(delay))
    });
    let url = receiver.start().await;
    let admin = t.admin("ada").await;
    let (_, secret) = register(&t, &admin, &url, &["ITEM_PURCHASED"]).await;
    let item = list(&t, &admin, "Lamp", 120).await;
    let bob = t.user("bob").await;
    buy(&t, &bob, &item).await.assert_ok();

    let received = receiver.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(received[0].id(), received[1].id());
    assert!(received.iter().all(|request| verified(&secret, request)));
    let listed = all_in_state(&t, &admin, 1, "DELIVERED").await;
    assert_eq!(listed[0]["attempts"], 2);
    assert_eq!(
        t.count("SELECT count(*) FROM webhook_deliveries WHERE last_error IS NULL")
            .await,
        1,
        "a delivered attempt clears the last error"
    );
    let delivered_after = t
        .count("SELECT (extract(epoch FROM delivered_at - created_at) * 1000)::bigint FROM webhook_deliveries")
        .await;
    assert!(
        delivered_after < 1500,
        "the timed-out attempt did not hold the delivery for the receiver's {delivered_after} ms"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_made_while_the_receiver_is_down_arrive_once_each_when_it_is_up() {
    let t = app(|config| config.webhook_max_attempts = 100).await;
    let port = crate::common::free_port();
    let admin = t.admin("ada").await;
    let url = format!("http://127.0.0.1:{port}/hook");
    let (_, secret) = register(&t, &admin, &url, &["ITEM_PURCHASED"]).await;
    let bob = t.user("bob").await;
    let mut bought = Vec::new();
    for n in 0..5 {
        let item = list(&t, &admin, &format!("Lamp {n}"), 10).await;
        buy(&t, &bob, &item).await.assert_ok();
        bought.push(item);
    }
    // Nothing listens: attempts fail (connection refused) and are retried.
    eventually(Duration::from_secs(10), "failed attempts", async || {
        let listed = deliveries(&t, &admin, json!({})).await;
        listed
            .iter()
            .all(|d| d["attempts"].as_i64().unwrap() >= 2 && d["lastStatus"].is_null())
            .then_some(())
    })
    .await;
    let error = &deliveries(&t, &admin, json!({})).await[0]["lastError"];
    assert!(!error.as_str().unwrap().contains(&url), "{error}");

    let receiver = Receiver::new(|_| (StatusCode::OK, Duration::ZERO));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let router = receiver.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    all_in_state(&t, &admin, 5, "DELIVERED").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let received = receiver.received();
    let mut ids: Vec<String> = received.iter().map(Received::id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (received.len(), ids.len()),
        (5, 5),
        "each event exactly once"
    );
    let mut items: Vec<String> = received
        .iter()
        .map(|request| {
            assert!(verified(&secret, request));
            request.json()["data"]["item"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    items.sort();
    bought.sort();
    assert_eq!(items, bought);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_out_of_attempts_is_dead_until_redelivered() {
    let t = app(|config| config.webhook_max_attempts = 3).await;
    let healthy = Arc::new(AtomicBool::new(false));
    let receiver = Receiver::switched(healthy.clone());
    let url = receiver.start().await;
    let admin = t.admin("ada").await;
    let (_, secret) = register(&t, &admin, &url, &["ITEM_PURCHASED"]).await;
    let item = list(&t, &admin, "Lamp", 120).await;
    let bob = t.user("bob").await;
    buy(&t, &bob, &item).await.assert_ok();

    let dead = all_in_state(&t, &admin, 1, "DEAD").await;
    assert_eq!(dead[0]["attempts"], 3);
    assert_eq!(dead[0]["lastStatus"], 500);
    assert_eq!(dead[0]["nextAttemptAt"], Value::Null);
    let letters = deliveries(&t, &admin, json!({ "state": "DEAD" })).await;
    assert_eq!(letters.len(), 1, "on the dead-letter list");
    assert!(
        deliveries(&t, &admin, json!({ "state": "PENDING" }))
            .await
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.received().len(), 3, "no attempt after the last");

    healthy.store(true, Ordering::SeqCst);
    let reply = t
        .gql_as(
            &admin.access,
            "mutation($i: RedeliverWebhookDeliveryInput!) { redeliverWebhookDelivery(input: $i) { delivery { state attempts } } }",
            json!({ "i": { "id": dead[0]["id"] } }),
        )
        .await;
    assert_eq!(
        reply.assert_ok()["redeliverWebhookDelivery"]["delivery"],
        json!({ "state": "PENDING", "attempts": 0 })
    );
    let received = receiver.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!(received[3].id(), received[0].id(), "the same event again");
    assert!(verified(&secret, &received[3]));
    let delivered = all_in_state(&t, &admin, 1, "DELIVERED").await;
    assert_eq!(delivered[0]["attempts"], 1);
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'webhook.redeliver'")
            .await,
        1
    );

    let unknown = t
        .gql_as(
            &admin.access,
            "mutation { redeliverWebhookDelivery(input: {id: \"999999\"}) { delivery { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(unknown.code(), Some("NOT_FOUND"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_failing_in_a_row_is_paused_until_resumed() {
    let t = app(|config| {
        config.webhook_pause_after = 3;
        config.webhook_max_attempts = 100;
    })
    .await;
    let healthy = Arc::new(AtomicBool::new(false));
    let receiver = Receiver::switched(healthy.clone());
    let url = receiver.start().await;
    let admin = t.admin("ada").await;
    let (endpoint, _) = register(&t, &admin, &url, &["ITEM_PURCHASED"]).await;
    let bob = t.user("bob").await;
    let first = list(&t, &admin, "Lamp", 10).await;
    buy(&t, &bob, &first).await.assert_ok();

    let endpoints = "{ webhookEndpoints(first: 10) { totalCount nodes { id paused pausedAt consecutiveFailures } } }";
    let paused = eventually(Duration::from_secs(10), "the pause", async || {
        let reply = t.gql_as(&admin.access, endpoints, json!({})).await;
        let node = reply.assert_ok()["webhookEndpoints"]["nodes"][0].clone();
        (node["paused"] == true).then_some(node)
    })
    .await;
    assert_eq!(paused["consecutiveFailures"], 3);
    assert!(paused["pausedAt"].is_string());
    // Paused: no attempt, and events keep being queued for it.
    let second = list(&t, &admin, "Desk", 10).await;
    buy(&t, &bob, &second).await.assert_ok();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.received().len(), 3, "no attempt while paused");
    assert_eq!(
        deliveries(&t, &admin, json!({ "state": "PENDING" }))
            .await
            .len(),
        2
    );

    healthy.store(true, Ordering::SeqCst);
    let reply = t
        .gql_as(
            &admin.access,
            "mutation($i: WebhookEndpointIdInput!) { resumeWebhookEndpoint(input: $i) { endpoint { paused consecutiveFailures } } }",
            json!({ "i": { "id": endpoint } }),
        )
        .await;
    assert_eq!(
        reply.assert_ok()["resumeWebhookEndpoint"]["endpoint"],
        json!({ "paused": false, "consecutiveFailures": 0 })
    );
    all_in_state(&t, &admin, 2, "DELIVERED").await;
    let mut items: Vec<String> = receiver.received()[3..]
        .iter()
        .map(|request| {
            request.json()["data"]["item"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    items.sort();
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(items, expected, "both pending events once each");
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'webhook.resume'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_is_queued_with_its_change_and_not_without_it() {
    // No job runs: the queue is read as written.
    let t = TestApp::new().await;
    let admin = t.admin("ada").await;
    register(&t, &admin, "https://hooks.example/in", &["ITEM_PURCHASED"]).await;
    let bob = t.user("bob").await;
    let dear = list(&t, &admin, "Piano", 5000).await;
    let refused = buy(&t, &bob, &dear).await;
    assert_eq!(refused.code(), Some("CONFLICT"));
    assert_eq!(
        refused.error()["extensions"]["reason"],
        "INSUFFICIENT_FUNDS"
    );
    let queued = "SELECT count(*) FROM webhook_deliveries";
    assert_eq!(
        t.count(queued).await,
        0,
        "a refused purchase queues nothing"
    );

    let cheap = list(&t, &admin, "Lamp", 10).await;
    let key = json!({ "i": { "itemId": cheap, "idempotencyKey": "order-1" } });
    t.gql_as(&bob.access, BUY, key.clone()).await.assert_ok();
    assert_eq!(t.count(queued).await, 1, "a purchase queues its event");
    t.gql_as(&bob.access, BUY, key).await.assert_ok();
    assert_eq!(
        t.count(queued).await,
        1,
        "a replayed purchase queues nothing"
    );
    let own = buy(&t, &bob, &cheap).await;
    assert_eq!(own.code(), Some("CONFLICT"));
    assert_eq!(t.count(queued).await, 1);
    // Listings were not subscribed to.
    assert_eq!(
        t.count("SELECT count(*) FROM webhook_deliveries WHERE event_type <> 'item.purchased'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn account_market_and_habit_events_reach_their_subscribers() {
    let t = TestApp::new().await;
    let admin = t.admin("ada").await;
    let all = [
        "ITEM_LISTED",
        "ITEM_PURCHASED",
        "ITEM_SOLD",
        "USER_REGISTERED",
        "USER_EMAIL_VERIFIED",
        "USER_DELETED",
        "HABIT_COMPLETED",
    ];
    register(&t, &admin, "https://everything.example/in", &all).await;
    register(
        &t,
        &admin,
        "https://habits.example/in",
        &["HABIT_COMPLETED"],
    )
    .await;
    let bob = t.user("bob").await;
    let item = list(&t, &admin, "Lamp", 10).await;
    buy(&t, &bob, &item).await.assert_ok();
    t.gql_as(
        &bob.access,
        "mutation($i: SellItemInput!) { sellItem(input: $i) { budget } }",
        json!({ "i": { "itemId": item } }),
    )
    .await
    .assert_ok();
    let habit = t
        .gql_as(
            &bob.access,
            "mutation { createHabit(input: {name: \"Walk\", schedule: {daily: true}}) { habit { id } } }",
            json!({}),
        )
        .await;
    let habit_id = habit.assert_ok()["createHabit"]["habit"]["id"].clone();
    t.gql_as(
        &bob.access,
        "mutation($i: CompleteHabitInput!) { completeHabit(input: $i) { habit { id } } }",
        json!({ "i": { "habitId": habit_id } }),
    )
    .await
    .assert_ok();
    t.gql_as(
        &admin.access,
        "mutation($i: DeleteUserInput!) { deleteUser(input: $i) { deletedUserId } }",
        json!({ "i": { "id": bob.user_id } }),
    )
    .await
    .assert_ok();

    assert_eq!(
        payload(&t, "user.registered").await["data"],
        json!({ "user": { "id": bob.user_id, "username": "bob" } })
    );
    assert_eq!(
        payload(&t, "item.listed").await["data"],
        json!({ "item": { "id": item, "name": "Lamp", "price": 10 } })
    );
    assert_eq!(
        payload(&t, "item.sold").await["data"]["userId"],
        bob.user_id
    );
    let completed = payload(&t, "habit.completed").await;
    assert_eq!(completed["data"]["habit"]["id"], habit_id);
    assert_eq!(completed["data"]["userId"], bob.user_id);
    assert_eq!(
        payload(&t, "user.deleted").await["data"],
        json!({ "user": { "id": bob.user_id }, "itemsReturned": 0 })
    );
    let by_type = "SELECT string_agg(event_type || '@' || split_part(e.url, '/', 3), ',' ORDER BY d.id) AS t \
                   FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id";
    assert_eq!(
        t.text(by_type).await,
        [
            "user.registered@everything.example",
            "item.listed@everything.example",
            "item.purchased@everything.example",
            "item.sold@everything.example",
            "habit.completed@everything.example",
            "habit.completed@habits.example",
            "user.deleted@everything.example",
        ]
        .join(",")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_are_for_administrators_with_checked_urls_and_an_audit_trail() {
    let t = TestApp::production().await;
    let admin = t.admin("ada").await;
    let bob = t.user("bob").await;
    let input = json!({ "i": { "url": "https://hooks.example/in", "events": ["ITEM_SOLD"] } });
    let refused = t.gql_as(&bob.access, CREATE, input.clone()).await;
    assert_eq!(refused.code(), Some("FORBIDDEN"));
    let listing = t
        .gql_as(
            &bob.access,
            "{ webhookDeliveries { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(listing.code(), Some("FORBIDDEN"));

    for (url, events) in [
        ("http://hooks.example/in", json!(["ITEM_SOLD"])),
        ("ftp://hooks.example/in", json!(["ITEM_SOLD"])),
        ("https://user:pw@hooks.example/in", json!(["ITEM_SOLD"])),
        ("https://hooks.example/in", json!([])),
    ] {
        let reply = t
            .gql_as(
                &admin.access,
                CREATE,
                json!({ "i": { "url": url, "events": events } }),
            )
            .await;
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{url} {events}");
    }
    assert_eq!(t.count("SELECT count(*) FROM webhook_endpoints").await, 0);

    let (id, secret) = register(&t, &admin, "https://hooks.example/in", &["ITEM_SOLD"]).await;
    let sealed = t
        .text("SELECT encode(sealed_secret, 'base64') AS t FROM webhook_endpoints")
        .await;
    assert!(!sealed.contains(secret.trim_start_matches("whsec_")));
    let rotated = t
        .gql_as(
            &admin.access,
            "mutation($i: WebhookEndpointIdInput!) { rotateWebhookSecret(input: $i) { secret } }",
            json!({ "i": { "id": id } }),
        )
        .await;
    let new_secret = rotated.assert_ok()["rotateWebhookSecret"]["secret"].clone();
    assert_ne!(new_secret, secret.as_str());
    let updated = t
        .gql_as(
            &admin.access,
            "mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { endpoint { url events description } } }",
            json!({ "i": { "id": id, "events": ["ITEM_SOLD", "ITEM_LISTED"], "description": "shop" } }),
        )
        .await;
    assert_eq!(
        updated.assert_ok()["updateWebhookEndpoint"]["endpoint"],
        json!({ "url": "https://hooks.example/in", "events": ["ITEM_LISTED", "ITEM_SOLD"], "description": "shop" })
    );
    let deleted = t
        .gql_as(
            &admin.access,
            "mutation($i: WebhookEndpointIdInput!) { deleteWebhookEndpoint(input: $i) { endpoint { id } } }",
            json!({ "i": { "id": id } }),
        )
        .await;
    deleted.assert_ok();
    let again = t
        .gql_as(
            &admin.access,
            "mutation($i: WebhookEndpointIdInput!) { deleteWebhookEndpoint(input: $i) { endpoint { id } } }",
            json!({ "i": { "id": id } }),
        )
        .await;
    assert_eq!(again.code(), Some("NOT_FOUND"));
    assert_eq!(
        t.text("SELECT string_agg(action, ',' ORDER BY id) AS t FROM audit_log WHERE action LIKE 'webhook.%'")
            .await,
        "webhook.create,webhook.rotate_secret,webhook.update,webhook.delete"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cleanup_deletes_old_delivered_deliveries_and_keeps_dead_letters() {
    let t = TestApp::new().await;
    let admin = t.admin("ada").await;
    let (endpoint, _) = register(&t, &admin, "https://hooks.example/in", &["ITEM_SOLD"]).await;
    t.sql(&format!(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, payload, state, attempts,
           next_attempt_at, delivered_at, created_at) VALUES
           ({endpoint}, 'evt_old', 'item.sold', '{{}}', 'DELIVERED', 1, now(), now() - interval '31 days', now()),
           ({endpoint}, 'evt_recent', 'item.sold', '{{}}', 'DELIVERED', 1, now(), now() - interval '29 days', now()),
           ({endpoint}, 'evt_dead', 'item.sold', '{{}}', 'DEAD', 10, now() - interval '60 days', NULL, now())"
    ))
    .await;
    let mut conn = agora::db::conn(&t.app.pool).await.unwrap();
    agora::cleanup::delete_expired(&mut conn, t.app.clock.now())
        .await
        .unwrap();
    assert_eq!(
        t.text("SELECT string_agg(event_id, ',' ORDER BY id) AS t FROM webhook_deliveries")
            .await,
        "evt_recent,evt_dead"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_send_each_delivery_once() {
    let Instances {
        a, b, database_url, ..
    } = &Instances::start(
        &[
            ("AGORA_WEBHOOK_POLL_MS", "10"),
            ("AGORA_WEBHOOK_RETRY_BASE_MS", "50"),
        ],
        false,
    )
    .await;
    // A receiver that takes a moment, so both instances' jobs have claims in flight together.
    let receiver = Receiver::new(|_| (StatusCode::OK, Duration::from_millis(30)));
    let url = receiver.start().await;

    a.register("root").await;
    let root = sign_in(a, "root").await;
    crate::common::make_admin(database_url, &root.1).await;
    let created = a
        .gql(
            Some(&root.0),
            CREATE,
            json!({ "i": { "url": url, "events": ["ITEM_LISTED", "ITEM_PURCHASED"] } }),
        )
        .await;
    let secret = created.assert_ok()["createWebhookEndpoint"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    b.register("bob").await;
    let bob = sign_in(b, "bob").await;
    let events = 30;
    for n in 0..events / 2 {
        let server = if n % 2 == 0 { &a } else { &b };
        let listed = server
            .gql(
                Some(&root.0),
                "mutation($i: CreateItemInput!) { createItem(input: $i) { item { id } } }",
                json!({ "i": { "name": format!("Lamp {n}"), "price": 1, "barcode": format!("{n:012}") } }),
            )
            .await;
        let item = listed.assert_ok()["createItem"]["item"]["id"].clone();
        server
            .gql(Some(&bob.0), BUY, json!({ "i": { "itemId": item } }))
            .await
            .assert_ok();
    }
    let received = receiver.wait_for(events, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received_all = receiver.received();
    let mut ids: Vec<String> = received_all.iter().map(Received::id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (received_all.len(), ids.len()),
        (events, events),
        "each delivery sent once by one of the instances"
    );
    assert!(received.iter().all(|request| verified(&secret, request)));
}

/// The payload queued for the endpoint subscribed to everything, of the one `event`.
async fn payload(t: &TestApp, event: &str) -> Value {
    let sql = format!(
        "SELECT payload AS t FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
         WHERE d.event_type = '{event}' AND e.url LIKE 'https://everything%'"
    );
    serde_json::from_str(&t.text(&sql).await).unwrap()
}
