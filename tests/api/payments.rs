//! Top-ups through a real Stripe-speaking server (localstripe, `common::stripe`): Agora makes
//! the PaymentIntent, the test pays it as Stripe.js would, and localstripe's signed webhook
//! reaches Agora's `/webhooks/stripe` on a loopback port.

use std::time::Duration;

use serde_json::json;

use crate::common::stripe::{LocalStripe, TestCard, signature_header, unix_now};
use crate::common::{Reply, TestApp, Tokens, eventually, free_port, http_client};

const SECRET: &str = "whsec_agora_test";
const CREATE: &str = "mutation($v: CreateTopUpInput!) { createTopUp(input: $v) { topUp { id units amount currency state paymentIntentId clientSecret creditedAt } } }";
const BUDGET: &str = "{ me { budget } }";

/// Agora with payments pointed at `stripe_url`, served on a loopback port, and its webhook URL.
async fn agora(
    stripe_url: &str,
    adjust: impl FnOnce(&mut agora::config::Config),
) -> (TestApp, String) {
    let stripe_url = stripe_url.to_owned();
    let t = TestApp::with_config(|config| {
        config.stripe_secret_key = Some("sk_test_agora".to_owned());
        config.stripe_webhook_secret = Some(SECRET.to_owned());
        config.stripe_api_base = stripe_url;
        config.top_up_unit_price = 100;
        adjust(config);
    })
    .await;
    let address = t.serve().await;
    (t, format!("http://{address}/webhooks/stripe"))
}

/// localstripe, and Agora served with its webhook registered there.
async fn with_webhook() -> (LocalStripe, TestApp, String) {
    let stripe = LocalStripe::start().await;
    let (t, webhook) = agora(&stripe.url(), |_| {}).await;
    stripe.register_webhook(&webhook, SECRET).await;
    (stripe, t, webhook)
}

/// A new top-up of `units` for `who`: its PaymentIntent's id.
async fn top_up_intent(t: &TestApp, who: &Tokens, units: i64) -> String {
    let created = create(t, who, units, "k").await;
    created.assert_ok()["createTopUp"]["topUp"]["paymentIntentId"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn create(t: &TestApp, who: &Tokens, units: i64, key: &str) -> Reply {
    t.gql_as(
        &who.access,
        CREATE,
        json!({"v": {"units": units, "idempotencyKey": key}}),
    )
    .await
}

async fn budget(t: &TestApp, who: &Tokens) -> i64 {
    t.gql_as(&who.access, BUDGET, json!({})).await.assert_ok()["me"]["budget"]
        .as_i64()
        .unwrap()
}

async fn post_webhook(url: &str, signature: Option<&str>, payload: &[u8]) -> u16 {
    let mut request = http_client()
        .post(url)
        .header("content-type", "application/json")
        .body(payload.to_vec());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paid_top_up_is_credited_exactly_once() {
    let (stripe, t, webhook) = with_webhook().await;
    let ada = t.user("ada").await;
    let before = budget(&t, &ada).await;

    let created = create(&t, &ada, 50, "first").await;
    let top_up = created.assert_ok()["createTopUp"]["topUp"].clone();
    assert_eq!(top_up["state"], "PENDING");
    assert_eq!(top_up["amount"], 5000);
    assert_eq!(top_up["currency"], "usd");
    assert!(
        top_up["clientSecret"]
            .as_str()
            .unwrap()
            .contains("_secret_")
    );
    let intent_id = top_up["paymentIntentId"].as_str().unwrap().to_owned();
    let intent = stripe.payment_intent(&intent_id).await;
    assert_eq!(intent["amount"], 5000);
    assert_eq!(intent["metadata"]["agora_top_up_id"], top_up["id"]);
    // The same key is the same top-up; another amount under it is refused.
    let again = create(&t, &ada, 50, "first").await;
    assert_eq!(
        again.assert_ok()["createTopUp"]["topUp"]["id"],
        top_up["id"]
    );
    let reused = create(&t, &ada, 60, "first").await;
    assert_eq!(
        reused.error()["extensions"]["reason"],
        "IDEMPOTENCY_KEY_REUSED"
    );
    assert_eq!(
        budget(&t, &ada).await,
        before,
        "nothing is credited before payment"
    );

    let (status, paid) = stripe.pay(&intent_id, TestCard::Visa).await;
    assert_eq!(status, 200, "{paid}");
    eventually(
        Duration::from_secs(10),
        "the webhook's credit",
        async || (budget(&t, &ada).await == before + 50).then_some(()),
    )
    .await;
    let mine = t
        .gql_as(
            &ada.access,
            "{ myTopUps { id state creditedAt } }",
            json!({}),
        )
        .await;
    assert_eq!(mine.assert_ok()["myTopUps"][0]["state"], "SUCCEEDED");
    let ledger = "SELECT count(*) FROM market_transactions WHERE kind = 'TOP_UP' AND amount = 50";
    assert_eq!(t.count(ledger).await, 1);

    // The same event delivered again, ten times at once, and a new event about the same
    // payment: all taken, none credits again.
    let events = stripe.events(Some("payment_intent.succeeded")).await;
    let event = events.last().unwrap().clone();
    let deliveries = (0..10).map(|_| stripe.deliver(&webhook, SECRET, &event));
    let statuses = futures_util::future::join_all(deliveries).await;
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    let another = stripe.event("payment_intent.succeeded", event["data"]["object"].clone());
    assert_eq!(stripe.deliver(&webhook, SECRET, &another).await, 200);
    assert_eq!(budget(&t, &ada).await, before + 50);
    assert_eq!(t.count(ledger).await, 1);
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'top_up.credit'")
            .await,
        1
    );
    // Budgets still add up to the ledger: the default, plus the top-up.
    assert_eq!(
        t.count("SELECT sum(balance_after) FROM market_transactions WHERE kind = 'TOP_UP'")
            .await,
        before + 50
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_without_a_good_signature_are_refused_and_change_nothing() {
    let stripe = LocalStripe::start().await;
    let (t, webhook) = agora(&stripe.url(), |_| {}).await;
    let ada = t.user("ada").await;
    let before = budget(&t, &ada).await;
    let intent_id = top_up_intent(&t, &ada, 10).await;
    let intent = stripe.payment_intent(&intent_id).await;
    let event = stripe.event("payment_intent.succeeded", intent);
    let payload = serde_json::to_vec(&event).unwrap();
    let now = unix_now();
    for (signature, why) in [
        (None, "no signature"),
        (
            Some(signature_header("whsec_other", now, &payload)),
            "another secret",
        ),
        (
            Some(signature_header(SECRET, now - 600, &payload)),
            "ten minutes old",
        ),
        (Some(format!("t={now},v1=00")), "a wrong value"),
        (Some("garbage".to_owned()), "no fields"),
    ] {
        assert_eq!(
            post_webhook(&webhook, signature.as_deref(), &payload).await,
            400,
            "{why}"
        );
    }
    // Signed, but no event.
    let junk = b"not json";
    let signed = signature_header(SECRET, now, junk);
    assert_eq!(post_webhook(&webhook, Some(&signed), junk).await, 400);
    assert_eq!(budget(&t, &ada).await, before);
    assert_eq!(t.count("SELECT count(*) FROM stripe_events").await, 0);
    // The good one still works afterwards.
    let good = signature_header(SECRET, now, &payload);
    assert_eq!(post_webhook(&webhook, Some(&good), &payload).await, 200);
    assert_eq!(budget(&t, &ada).await, before + 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_card_fails_the_top_up() {
    let (stripe, t, _) = with_webhook().await;
    let ada = t.user("ada").await;
    let before = budget(&t, &ada).await;
    let intent_id = top_up_intent(&t, &ada, 10).await;
    let (status, declined) = stripe.pay(&intent_id, TestCard::Declined).await;
    assert_eq!(status, 402, "{declined}");
    eventually(
        Duration::from_secs(10),
        "the failure's webhook",
        async || {
            let mine = t
                .gql_as(&ada.access, "{ myTopUps { state } }", json!({}))
                .await;
            (mine.assert_ok()["myTopUps"][0]["state"] == "FAILED").then_some(())
        },
    )
    .await;
    assert_eq!(budget(&t, &ada).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_amounts_limits_and_a_server_without_stripe() {
    // No Stripe keys: the feature says so, and its webhook is not there.
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let off = create(&t, &ada, 10, "k").await;
    assert_eq!(off.code(), Some("FORBIDDEN"));
    assert_eq!(
        off.error()["extensions"]["reason"],
        "PAYMENTS_NOT_CONFIGURED"
    );
    let address = t.serve().await;
    let url = format!("http://{address}/webhooks/stripe");
    assert_eq!(post_webhook(&url, None, b"{}").await, 404);

    // Stripe down: the top-up is kept pending (so it counts), and a retry asks again.
    let down = format!("http://127.0.0.1:{}", free_port());
    let (t, _) = agora(&down, |config| config.top_up_daily_units = 100).await;
    let ada = t.user("ada").await;
    for (units, key) in [(0, "a"), (-5, "a"), (10_001, "a")] {
        let refused = create(&t, &ada, units, key).await;
        assert_eq!(refused.code(), Some("BAD_USER_INPUT"), "{units}");
        assert_eq!(refused.error()["extensions"]["field"], "units");
    }
    let empty_key = create(&t, &ada, 5, "").await;
    assert_eq!(empty_key.error()["extensions"]["field"], "idempotencyKey");
    let unavailable = create(&t, &ada, 60, "big").await;
    assert_eq!(unavailable.code(), Some("SERVICE_UNAVAILABLE"));
    let retried = create(&t, &ada, 60, "big").await;
    assert_eq!(retried.code(), Some("SERVICE_UNAVAILABLE"));
    let over = create(&t, &ada, 60, "more").await;
    assert_eq!(over.code(), Some("CONFLICT"));
    assert_eq!(over.error()["extensions"]["reason"], "LIMIT_REACHED");
    assert_eq!(t.count("SELECT count(*) FROM top_ups").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_webhook_is_made_up_for_by_the_reconciliation() {
    // localstripe knows no endpoint: the payment's webhook never comes.
    let stripe = LocalStripe::start().await;
    let (t, webhook) = agora(&stripe.url(), |_| {}).await;
    let ada = t.user("ada").await;
    let before = budget(&t, &ada).await;
    let paid = top_up_intent(&t, &ada, 20).await;
    let (status, _) = stripe.pay(&paid, TestCard::Visa).await;
    assert_eq!(status, 200);
    let unpaid = create(&t, &ada, 7, "left").await;
    assert!(unpaid.assert_ok()["createTopUp"]["topUp"]["id"].is_string());
    // Within its first minutes a top-up is left to its webhook.
    assert_eq!(agora::payments::reconcile(&t.app).await.unwrap(), 0);
    t.app
        .clock
        .pin(chrono::Utc::now() + chrono::Duration::minutes(6));
    assert_eq!(agora::payments::reconcile(&t.app).await.unwrap(), 1);
    assert_eq!(budget(&t, &ada).await, before + 20);
    let states = t
        .gql_as(&ada.access, "{ myTopUps { units state } }", json!({}))
        .await;
    assert_eq!(
        states.assert_ok()["myTopUps"],
        json!([{"units": 7, "state": "PENDING"}, {"units": 20, "state": "SUCCEEDED"}])
    );
    // Again, and the webhook arriving late after all: nothing more.
    assert_eq!(agora::payments::reconcile(&t.app).await.unwrap(), 0);
    // localstripe signs with its own time: Agora's clock must be near it again.
    t.app.clock.pin(chrono::Utc::now());
    let event = stripe.events(Some("payment_intent.succeeded")).await;
    assert_eq!(
        stripe
            .deliver(&webhook, SECRET, event.last().unwrap())
            .await,
        200
    );
    assert_eq!(budget(&t, &ada).await, before + 20);
    assert_eq!(
        t.count("SELECT count(*) FROM market_transactions WHERE kind = 'TOP_UP'")
            .await,
        1
    );
}
