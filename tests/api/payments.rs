//! Top-ups through a real Stripe-speaking server (localstripe, `common::stripe`): Agora makes
//! the PaymentIntent, the test pays it as Stripe.js would, and localstripe's signed webhook
//! reaches Agora's `/webhooks/stripe` on a loopback port.

use std::time::Duration;

use serde_json::json;

use crate::common::stripe::{LocalStripe, TestCard, signature_header, unix_now};
use crate::common::{Reply, Server, TestApp, Tokens, eventually, free_port, http_client};
use crate::market::{PURCHASE, list_item, money};

const SECRET: &str = "whsec_agora_test";
const CREATE: &str = "mutation($v: CreateTopUpInput!) { createTopUp(input: $v) { topUp { id units amount currency state paymentIntentId clientSecret creditedAt } } }";
const BUDGET: &str = "{ me { budget } }";
const REFUND: &str = "mutation($v: RefundTopUpInput!) { refundTopUp(input: $v) { topUp { state refundedAmount refundedUnits } refund { id amount units debitedUnits shortfallUnits source reviewedAt } } }";
const FLAGGED: &str = "{ flaggedRefunds { id shortfallUnits source topUp { id } } }";

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
        config.stripe_publishable_key = Some("pk_test_agora".to_owned());
        config.top_up_unit_price = 100;
        config.top_up_daily_units = 500;
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
    let offer =
        "{ topUpOffer { currency unitPrice maxUnits dailyUnits remainingToday publishableKey } }";
    let fresh = t.gql_as(&ada.access, offer, json!({})).await;
    assert_eq!(
        fresh.assert_ok()["topUpOffer"],
        json!({"currency": "usd", "unitPrice": 100, "maxUnits": 10_000, "dailyUnits": 500,
               "remainingToday": 500, "publishableKey": "pk_test_agora"})
    );

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

    let pending = t.gql_as(&ada.access, offer, json!({})).await;
    assert_eq!(pending.assert_ok()["topUpOffer"]["remainingToday"], 450);

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
    let no_offer = t
        .gql_as(&ada.access, "{ topUpOffer { unitPrice } }", json!({}))
        .await;
    for refused in [off, no_offer] {
        assert_eq!(refused.code(), Some("FORBIDDEN"));
        assert_eq!(
            refused.error()["extensions"]["reason"],
            "PAYMENTS_NOT_CONFIGURED"
        );
    }
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

    // Never given to Stripe: the reconciliation fails it after five minutes, so it stops
    // holding the day's limit, and its key answers with the failed top-up, never a payment.
    t.app
        .clock
        .pin(chrono::Utc::now() + chrono::Duration::minutes(6));
    assert_eq!(agora::payments::reconcile(&t.app).await.unwrap(), 1);
    let retried = create(&t, &ada, 60, "big").await;
    let retried = &retried.assert_ok()["createTopUp"]["topUp"];
    assert_eq!(retried["state"], "FAILED");
    assert_eq!(retried["paymentIntentId"], serde_json::Value::Null);
    let now_fits = create(&t, &ada, 60, "more").await;
    assert_eq!(now_fits.code(), Some("SERVICE_UNAVAILABLE"));
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

/// A top-up of `units` for `who`, paid with a good card and credited by its webhook: the
/// top-up's id and its PaymentIntent's.
async fn paid_top_up(
    stripe: &LocalStripe,
    t: &TestApp,
    who: &Tokens,
    (units, key): (i64, &str),
) -> (String, String) {
    let created = create(t, who, units, key).await;
    let top_up = &created.assert_ok()["createTopUp"]["topUp"];
    let id = top_up["id"].as_str().unwrap().to_owned();
    let intent = top_up["paymentIntentId"].as_str().unwrap().to_owned();
    let (status, paid) = stripe.pay(&intent, TestCard::Visa).await;
    assert_eq!(status, 200, "{paid}");
    eventually(Duration::from_secs(10), "the credit", async || {
        let mine = t
            .gql_as(&who.access, "{ myTopUps { id state } }", json!({}))
            .await;
        let mine = mine.assert_ok()["myTopUps"].as_array().unwrap().clone();
        mine.iter()
            .any(|row| row["id"] == id.as_str() && row["state"] == "SUCCEEDED")
            .then_some(())
    })
    .await;
    (id, intent)
}

/// Tells Agora what Stripe's charge of `intent` now looks like, as Stripe's
/// `charge.refunded` does (localstripe never sends it): the delivery's status.
async fn tell_refund(stripe: &LocalStripe, webhook: &str, intent: &str) -> u16 {
    let payment = stripe.payment_intent(intent).await;
    let latest = &payment["latest_charge"];
    let charge_id = latest.as_str().or(latest["id"].as_str()).unwrap();
    let charge = stripe.charge(charge_id).await;
    let event = stripe.event("charge.refunded", charge);
    stripe.deliver(webhook, SECRET, &event).await
}

/// The state and refunded totals of `who`'s latest top-up.
async fn latest_refunds(t: &TestApp, who: &Tokens) -> serde_json::Value {
    let mine = t
        .gql_as(
            &who.access,
            "{ myTopUps { state refundedAmount refundedUnits } }",
            json!({}),
        )
        .await;
    mine.assert_ok()["myTopUps"][0].clone()
}

async fn refund_top_up(t: &TestApp, who: &Tokens, top_up: &str, amount: Option<i64>) -> Reply {
    t.gql_as(
        &who.access,
        REFUND,
        json!({"v": {"topUpId": top_up, "amount": amount}}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn refunds_take_back_unspent_units_and_flag_the_rest() {
    let (stripe, t, webhook) = with_webhook().await;
    let root = t.admin("root").await;
    let ada = t.user("ada").await;
    let start = budget(&t, &ada).await;
    let (top_up, intent) = paid_top_up(&stripe, &t, &ada, (10, "ten")).await;
    assert_eq!(budget(&t, &ada).await, start + 10);
    // Ada spends all but five units.
    let item = list_item(&t, &root, "Lamp", start + 5).await;
    t.gql_as(&ada.access, PURCHASE, json!({"v": {"itemId": item}}))
        .await
        .assert_ok();
    assert_eq!(budget(&t, &ada).await, 5);

    // Given back from Stripe's side: 3.00 is three units, all unspent.
    let (status, refund) = stripe.refund(&intent, Some(300)).await;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(tell_refund(&stripe, &webhook, &intent).await, 200);
    assert_eq!(budget(&t, &ada).await, 2);
    // Told again, by a new event about the same charge: nothing more.
    assert_eq!(tell_refund(&stripe, &webhook, &intent).await, 200);
    assert_eq!(budget(&t, &ada).await, 2);
    assert_eq!(
        latest_refunds(&t, &ada).await,
        json!({"state": "SUCCEEDED", "refundedAmount": 300, "refundedUnits": 3})
    );

    // An administrator gives back 5.00: two units are left to take, three are spent.
    let refunded = refund_top_up(&t, &root, &top_up, Some(500)).await;
    let refunded = &refunded.assert_ok()["refundTopUp"];
    assert_eq!(
        refunded["topUp"],
        json!({"state": "SUCCEEDED", "refundedAmount": 800, "refundedUnits": 8})
    );
    let first_flagged = refunded["refund"]["id"].clone();
    assert_eq!(
        refunded["refund"],
        json!({"id": first_flagged, "amount": 500, "units": 5, "debitedUnits": 2,
               "shortfallUnits": 3, "source": "ADMIN", "reviewedAt": null})
    );
    assert_eq!(budget(&t, &ada).await, 0, "never below zero");
    assert_eq!(
        stripe.payment_intent(&intent).await["amount"],
        1000,
        "the PaymentIntent is Stripe's own"
    );
    // Stripe's webhook for that refund comes after: its running total is recorded already.
    assert_eq!(tell_refund(&stripe, &webhook, &intent).await, 200);
    assert_eq!(t.count("SELECT count(*) FROM top_up_refunds").await, 2);

    // The shortfall is flagged for administrators only.
    let hidden = t.gql_as(&ada.access, FLAGGED, json!({})).await;
    assert_eq!(hidden.code(), Some("FORBIDDEN"));
    let flagged = t.gql_as(&root.access, FLAGGED, json!({})).await;
    assert_eq!(
        flagged.assert_ok()["flaggedRefunds"],
        json!([{"id": first_flagged, "shortfallUnits": 3, "source": "ADMIN", "topUp": {"id": top_up}}])
    );

    // More than is left, then the rest, then nothing left.
    let over = refund_top_up(&t, &root, &top_up, Some(300)).await;
    assert_eq!(over.code(), Some("BAD_USER_INPUT"));
    assert_eq!(over.error()["extensions"]["field"], "amount");
    let rest = refund_top_up(&t, &root, &top_up, None).await;
    assert_eq!(
        rest.assert_ok()["refundTopUp"]["refund"]["shortfallUnits"],
        2
    );
    let none_left = refund_top_up(&t, &root, &top_up, None).await;
    assert_eq!(none_left.error()["extensions"]["field"], "amount");

    // Reviewing clears the flag, once.
    let review =
        "mutation($v: ReviewRefundInput!) { reviewRefund(input: $v) { refund { id reviewedAt } } }";
    let reviewed = t
        .gql_as(
            &root.access,
            review,
            json!({"v": {"refundId": first_flagged}}),
        )
        .await;
    assert!(reviewed.assert_ok()["reviewRefund"]["refund"]["reviewedAt"].is_string());
    let flagged = t.gql_as(&root.access, FLAGGED, json!({})).await;
    assert_eq!(
        flagged.assert_ok()["flaggedRefunds"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let again = t
        .gql_as(
            &root.access,
            review,
            json!({"v": {"refundId": first_flagged}}),
        )
        .await;
    assert_eq!(again.code(), Some("NOT_FOUND"));

    // Refused: a user refunding, a top-up not paid, one that does not exist.
    let own = refund_top_up(&t, &ada, &top_up, Some(1)).await;
    assert_eq!(own.code(), Some("FORBIDDEN"));
    let pending = create(&t, &ada, 3, "unpaid").await;
    let pending = pending.assert_ok()["createTopUp"]["topUp"]["id"].clone();
    let unpaid = refund_top_up(&t, &root, pending.as_str().unwrap(), None).await;
    assert_eq!(unpaid.error()["extensions"]["field"], "topUpId");
    let missing = refund_top_up(&t, &root, "999999", None).await;
    assert_eq!(missing.code(), Some("NOT_FOUND"));

    // Every unit is accounted for: 10 bought; 3 + 2 taken back; 3 + 2 flagged.
    assert_eq!(
        t.count("SELECT coalesce(sum(amount), 0) FROM market_transactions WHERE kind = 'REFUND'")
            .await,
        5
    );
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'top_up.refund'")
            .await,
        3
    );
    let users = t.count("SELECT count(*) FROM users").await;
    let put_in = users * t.app.config.default_budget + 10 - 5;
    let money = money(&t).await;
    assert_eq!(money.budgets_plus_holdings, put_in);
    assert_eq!(
        money.budgets_minus_ledger,
        users * t.app.config.default_budget
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_told_before_its_payment_credits_first_and_the_payment_then_changes_nothing() {
    // No endpoint at localstripe: the test delivers the events, in the wrong order.
    let stripe = LocalStripe::start().await;
    let (t, webhook) = agora(&stripe.url(), |_| {}).await;
    let ada = t.user("ada").await;
    let before = budget(&t, &ada).await;
    let intent = top_up_intent(&t, &ada, 4).await;
    let (status, _) = stripe.pay(&intent, TestCard::Visa).await;
    assert_eq!(status, 200);
    let (status, _) = stripe.refund(&intent, Some(100)).await;
    assert_eq!(status, 200);
    assert_eq!(tell_refund(&stripe, &webhook, &intent).await, 200);
    assert_eq!(budget(&t, &ada).await, before + 3);
    let succeeded = stripe.events(Some("payment_intent.succeeded")).await;
    assert_eq!(
        stripe
            .deliver(&webhook, SECRET, succeeded.last().unwrap())
            .await,
        200
    );
    assert_eq!(budget(&t, &ada).await, before + 3);
    assert_eq!(
        latest_refunds(&t, &ada).await,
        json!({"state": "SUCCEEDED", "refundedAmount": 100, "refundedUnits": 1})
    );
    assert_eq!(
        t.count(
            "SELECT count(*) FROM audit_log WHERE action IN ('top_up.credit', 'top_up.refund')"
        )
        .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn money_adds_up_while_refunds_race_purchases() {
    let (stripe, t, webhook) = with_webhook().await;
    let root = t.admin("root").await;
    let default = t.app.config.default_budget;
    let mut buyers = Vec::new();
    for name in ["ann", "bob", "cyd", "dee"] {
        let who = t.user(name).await;
        let (top_up, intent) = paid_top_up(&stripe, &t, &who, (20, name)).await;
        // An item each that costs all but ten units of the budget.
        let item = list_item(&t, &root, &format!("{name}'s lamp"), default + 10).await;
        buyers.push((who, top_up, intent, item));
    }
    // Each buyer's purchase races a refund of the whole top-up, half from Stripe's side and
    // half by the administrator: whichever lands first, no budget goes below zero and every
    // unit is either taken back or flagged.
    let races = buyers
        .iter()
        .enumerate()
        .map(|(i, (who, top_up, intent, item))| {
            let (t, stripe, webhook, root) = (&t, &stripe, &webhook, &root);
            async move {
                let purchase = async {
                    t.gql_as(&who.access, PURCHASE, json!({"v": {"itemId": item}}))
                        .await
                };
                let refund = async {
                    if i % 2 == 0 {
                        let (status, _) = stripe.refund(intent, None).await;
                        assert_eq!(status, 200);
                        assert_eq!(tell_refund(stripe, webhook, intent).await, 200);
                    } else {
                        refund_top_up(t, root, top_up, None).await.assert_ok();
                    }
                };
                let (bought, ()) = tokio::join!(purchase, refund);
                bought
            }
        });
    let purchases = futures_util::future::join_all(races).await;
    for (who, _, _, _) in &buyers {
        assert!(budget(&t, who).await >= 0);
    }
    let bought = purchases
        .iter()
        .filter(|reply| reply.code().is_none())
        .count() as i64;
    let refunded: i64 = t
        .count("SELECT coalesce(sum(refunded_units), 0) FROM top_ups")
        .await;
    assert_eq!(refunded, 4 * 20);
    let debited = t
        .count("SELECT coalesce(sum(debited_units), 0) FROM top_up_refunds")
        .await;
    let users = t.count("SELECT count(*) FROM users").await;
    let money = money(&t).await;
    assert_eq!(
        money.budgets_plus_holdings,
        users * default + 4 * 20 - debited,
        "{bought} purchases went through"
    );
    assert_eq!(money.budgets_minus_ledger, users * default);
    assert_eq!(
        t.count("SELECT coalesce(sum(units - debited_units), 0) FROM top_up_refunds")
            .await,
        80 - debited
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn agora_restarted_between_payment_and_webhook_credits_once() {
    let stripe = LocalStripe::start().await;
    // The database and ada; the server is the release binary, stopped and started again.
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let before = budget(&t, &ada).await;
    let listen = format!("127.0.0.1:{}", free_port());
    let stripe_url = stripe.url();
    let env = [
        ("DATABASE_URL", t.app.config.database_url.as_str()),
        ("AGORA_LISTEN", listen.as_str()),
        ("AGORA_STRIPE_SECRET_KEY", "sk_test_agora"),
        ("AGORA_STRIPE_WEBHOOK_SECRET", SECRET),
        ("AGORA_STRIPE_API_BASE", stripe_url.as_str()),
    ];
    let webhook = format!("http://{listen}/webhooks/stripe");
    stripe.register_webhook(&webhook, SECRET).await;
    let mut first = Server::start(&env).await;
    let created = first
        .gql(
            Some(&ada.access),
            CREATE,
            json!({"v": {"units": 5, "idempotencyKey": "restart"}}),
        )
        .await;
    let intent = created.assert_ok()["createTopUp"]["topUp"]["paymentIntentId"]
        .as_str()
        .unwrap()
        .to_owned();
    first.process.kill().await.unwrap();

    // Paid while Agora is down: localstripe's one delivery finds nobody, or the new process
    // if it is up by then.
    let (status, _) = stripe.pay(&intent, TestCard::Visa).await;
    assert_eq!(status, 200);
    let second = Server::start(&env).await;
    // Stripe delivers again until it is answered: the same event, once more.
    let events = stripe.events(Some("payment_intent.succeeded")).await;
    assert_eq!(events.len(), 1);
    assert_eq!(stripe.deliver(&webhook, SECRET, &events[0]).await, 200);
    eventually(Duration::from_secs(10), "the credit", async || {
        (budget(&t, &ada).await == before + 5).then_some(())
    })
    .await;
    // localstripe's own delivery, a second after the payment, has reached the new process or
    // found nobody: either way nothing more was credited, and the reconciliation finds
    // nothing left either.
    eventually(
        Duration::from_secs(10),
        "localstripe's delivery",
        async || {
            let logs = stripe.logs();
            logs.iter()
                .find(|line| line.contains(r#"webhook "payment_intent.succeeded""#))
                .cloned()
        },
    )
    .await;
    t.app
        .clock
        .pin(chrono::Utc::now() + chrono::Duration::minutes(6));
    assert_eq!(agora::payments::reconcile(&t.app).await.unwrap(), 0);
    assert_eq!(budget(&t, &ada).await, before + 5);
    assert_eq!(
        t.count("SELECT count(*) FROM market_transactions WHERE kind = 'TOP_UP'")
            .await,
        1
    );
    drop(second);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_reconciling_at_once_credit_each_top_up_once() {
    // No endpoint at localstripe: only the reconciliation can credit.
    let stripe = LocalStripe::start().await;
    let (t, _) = agora(&stripe.url(), |_| {}).await;
    let other = agora::App::build(t.app.config.clone()).await.unwrap();
    let mut people = Vec::new();
    for name in ["ann", "bob", "cyd"] {
        let who = t.user(name).await;
        let before = budget(&t, &who).await;
        let intent = top_up_intent(&t, &who, 7).await;
        let (status, _) = stripe.pay(&intent, TestCard::Visa).await;
        assert_eq!(status, 200);
        people.push((who, before));
    }
    let later = chrono::Utc::now() + chrono::Duration::minutes(6);
    t.app.clock.pin(later);
    other.clock.pin(later);
    let (here, there) = tokio::join!(
        agora::payments::reconcile(&t.app),
        agora::payments::reconcile(&other)
    );
    assert_eq!(
        here.unwrap() + there.unwrap(),
        3,
        "each top-up settled by one"
    );
    for (who, before) in &people {
        assert_eq!(budget(&t, who).await, before + 7);
    }
    assert_eq!(
        t.count("SELECT count(*) FROM audit_log WHERE action = 'top_up.credit'")
            .await,
        3
    );
}
