//! The test Stripe (common::stripe, localstripe) on its own, as Agora's top-ups will use it: a
//! PaymentIntent paid by a good card, a declined one and one behind 3D Secure, refunds, and the
//! signed webhooks each sends or does not send, each signature checked here with HMAC-SHA256 as
//! the webhook endpoint will check it. What localstripe does unlike Stripe is asserted too, so a
//! localstripe that changes fails here before it confuses a feature's test.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::http_client;
use crate::common::stripe::{Delivery, LocalStripe, TestCard, WebhookInbox, unix_now};

const SECRET: &str = "whsec_agora_harness";
/// localstripe waits a second before it sends an event.
const WAIT: Duration = Duration::from_secs(10);
/// Long enough for an event localstripe would send to have arrived.
const QUIET: Duration = Duration::from_secs(2);

/// Stripe's check of `Stripe-Signature`: `t=<unix seconds>` and one or more `v1=<hex>` (more
/// than one while a secret rolls over; other schemes are ignored), where a v1 is the HMAC-SHA256
/// of `<t>.<raw body>` keyed with the whole endpoint secret. The timestamp when one matches.
fn verify(header: &str, body: &[u8], secret: &str) -> Option<i64> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let matches = signatures.iter().any(|signature| {
        from_hex(signature).is_some_and(|bytes| mac.clone().verify_slice(&bytes).is_ok())
    });
    if matches {
        timestamp.parse().ok()
    } else {
        None
    }
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

/// The event in `delivery`, once its signature verifies with `secret` and only with it;
/// checks the envelope localstripe gives every event.
fn verified_event(delivery: &Delivery, secret: &str) -> Value {
    assert_eq!(delivery.method, "POST");
    assert_eq!(delivery.path, "/webhooks/stripe");
    assert_eq!(
        delivery.header("content-type"),
        "application/json; charset=utf-8"
    );
    let header = delivery.header("stripe-signature");
    let parts: Vec<&str> = header.split(',').collect();
    assert_eq!(parts.len(), 2, "one t and one v1: {header}");
    assert!(parts[0].starts_with("t="), "{header}");
    assert!(
        parts[1].starts_with("v1=") && parts[1].len() == "v1=".len() + 64,
        "{header}"
    );
    let Some(timestamp) = verify(header, &delivery.body, secret) else {
        panic!(
            "the signature {header} does not verify: {}",
            delivery.text()
        );
    };
    assert_eq!(verify(header, &delivery.body, "whsec_someone_else"), None);
    let mut tampered = delivery.body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(verify(header, &tampered, secret), None);

    let event = delivery.json();
    // Signed at the event's creation, not at sending, which is a second later.
    assert_eq!(event["created"], timestamp);
    assert!(
        (unix_now() - timestamp).abs() <= 300,
        "{timestamp} is outside Stripe's default tolerance"
    );
    let mut fields: Vec<&str> = event
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "api_version",
            "created",
            "data",
            "id",
            "livemode",
            "object",
            "type"
        ],
        "{event}"
    );
    assert!(event["id"].as_str().unwrap().starts_with("evt_"), "{event}");
    assert_eq!(event["object"], "event");
    assert_eq!(event["livemode"], false);
    assert_eq!(event["api_version"], "2017-08-15");
    event
}

fn id(object: &Value) -> String {
    object["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_good_card_pays_and_sends_one_signed_payment_intent_succeeded() {
    let stripe = LocalStripe::start().await;
    let mut inbox = WebhookInbox::start().await;
    stripe.register_webhook(&inbox.url(), SECRET).await;

    // Any sk_ key is accepted, none refused.
    let (status, _) = stripe.get("/v1/events").await;
    assert_eq!(status, 200);
    assert!(stripe.secret_key().starts_with("sk_"));
    let unauthenticated = http_client()
        .get(format!("{}/v1/events", stripe.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    let intent = stripe
        .create_payment_intent(1500, "eur", &[("topup", "t-1"), ("user", "42")])
        .await;
    let pi = id(&intent);
    assert!(pi.starts_with("pi_"), "{intent}");
    assert_eq!(intent["object"], "payment_intent");
    assert_eq!(intent["status"], "requires_payment_method");
    assert_eq!(intent["amount"], 1500);
    assert_eq!(intent["currency"], "eur");
    assert_eq!(intent["metadata"], json!({ "topup": "t-1", "user": "42" }));
    assert_eq!(intent["livemode"], false);
    assert_eq!(intent["latest_charge"], Value::Null);
    assert_eq!(intent["capture_method"], "automatic_async");
    assert!(
        intent["client_secret"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{pi}_secret_")),
        "{intent}"
    );

    let (status, paid) = stripe.pay(&pi, TestCard::Visa).await;
    assert_eq!(status, 200, "{paid}");
    // Events are sent after the answer, never during the request.
    assert!(inbox.try_next().is_none());
    assert_eq!(paid["status"], "succeeded");
    let charge = &paid["latest_charge"];
    assert!(charge.is_object(), "the whole charge, not its id: {paid}");
    let charge_id = id(charge);
    assert!(charge_id.starts_with("ch_"), "{charge}");
    assert_eq!(charge["payment_intent"], pi.as_str());
    assert_eq!(charge["amount"], 1500);
    assert_eq!(charge["status"], "succeeded");
    assert_eq!(charge["captured"], true);
    assert_eq!(charge["paid"], true);
    assert_eq!(charge["amount_refunded"], 0);

    let event = verified_event(&inbox.next(WAIT).await, SECRET);
    assert_eq!(event["type"], "payment_intent.succeeded");
    let object = &event["data"]["object"];
    assert_eq!(object["object"], "payment_intent");
    assert_eq!(object["id"], pi.as_str());
    assert_eq!(object["status"], "succeeded");
    assert_eq!(object["amount"], 1500);
    assert_eq!(object["currency"], "eur");
    assert_eq!(object["metadata"], json!({ "topup": "t-1", "user": "42" }));
    assert_eq!(object["latest_charge"]["id"], charge_id.as_str());

    // The one event of the payment: no payment_intent.created, no charge.succeeded.
    inbox.nothing_within(QUIET).await;
    let events = stripe.events(None).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["id"], event["id"]);
    assert_eq!(events[0]["type"], "payment_intent.succeeded");
    let (status, fetched) = stripe.get(&format!("/v1/events/{}", id(&event))).await;
    assert_eq!(status, 200);
    assert_eq!(fetched["data"]["object"]["id"], pi.as_str());

    let fetched = stripe.payment_intent(&pi).await;
    assert_eq!(fetched["status"], "succeeded");
    assert_eq!(fetched["latest_charge"]["id"], charge_id.as_str());
    let (status, missing) = stripe.get("/v1/payment_intents/pi_missing").await;
    assert_eq!(status, 404, "{missing}");
}

#[tokio::test]
async fn a_declined_card_answers_402_and_sends_payment_intent_payment_failed() {
    let stripe = LocalStripe::start().await;
    let mut inbox = WebhookInbox::start().await;
    stripe.register_webhook(&inbox.url(), SECRET).await;

    let intent = stripe
        .create_payment_intent(700, "eur", &[("topup", "t-2")])
        .await;
    let pi = id(&intent);
    let (status, declined) = stripe.pay(&pi, TestCard::Declined).await;
    assert_eq!(status, 402, "{declined}");
    let error = &declined["error"];
    assert_eq!(error["code"], "card_declined");
    assert_eq!(error["message"], "Your card was declined.");
    // Stripe says card_error and names the PaymentIntent; localstripe names the charge only.
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error.get("payment_intent"), None, "{declined}");
    let charge_id = error["charge"].as_str().unwrap().to_owned();
    assert!(charge_id.starts_with("ch_"), "{declined}");

    let fetched = stripe.payment_intent(&pi).await;
    assert_eq!(fetched["status"], "requires_payment_method");
    assert_eq!(
        fetched["last_payment_error"],
        json!({ "charge": charge_id, "code": "card_declined", "message": "Your card was declined." })
    );
    assert_eq!(fetched["latest_charge"]["status"], "failed");
    assert_eq!(
        stripe.charge(&charge_id).await["payment_intent"],
        pi.as_str()
    );

    let event = verified_event(&inbox.next(WAIT).await, SECRET);
    assert_eq!(event["type"], "payment_intent.payment_failed");
    let object = &event["data"]["object"];
    assert_eq!(object["id"], pi.as_str());
    assert_eq!(object["status"], "requires_payment_method");
    assert_eq!(object["last_payment_error"]["code"], "card_declined");
    assert_eq!(object["metadata"], json!({ "topup": "t-2" }));
    inbox.nothing_within(QUIET).await;

    // Stripe lets the customer try another card; localstripe refuses any new confirmation.
    let (status, answer) = stripe.pay(&pi, TestCard::Visa).await;
    assert_eq!(status, 400, "{answer}");

    // Stripe's generic decline, 4000000000000002, is declined by localstripe only when attached
    // to a customer: charged, it pays.
    let other = id(&stripe.create_payment_intent(700, "eur", &[]).await);
    let (status, _) = stripe
        .post(
            &format!("/v1/payment_intents/{other}"),
            &[("payment_method", "pm_card_visa_chargeDeclined")],
        )
        .await;
    assert_eq!(status, 200);
    let (status, paid) = stripe
        .post(
            &format!("/v1/payment_intents/{other}/confirm"),
            crate::common::stripe::NO_FORM,
        )
        .await;
    assert_eq!((status, &paid["status"]), (200, &json!("succeeded")));
    let event = verified_event(&inbox.next(WAIT).await, SECRET);
    assert_eq!(event["type"], "payment_intent.succeeded");
    assert_eq!(event["data"]["object"]["id"], other.as_str());
}

#[tokio::test]
async fn a_card_behind_3d_secure_waits_for_the_customer_and_a_failed_check_sends_nothing() {
    let stripe = LocalStripe::start().await;
    let mut inbox = WebhookInbox::start().await;
    stripe.register_webhook(&inbox.url(), SECRET).await;

    let intent = stripe.create_payment_intent(900, "eur", &[]).await;
    let (status, waiting) = stripe.pay(&id(&intent), TestCard::ThreeDSecure).await;
    assert_eq!(status, 200, "{waiting}");
    assert_eq!(waiting["status"], "requires_action");
    assert_eq!(waiting["next_action"]["type"], "use_stripe_sdk");
    // Stripe would send payment_intent.requires_action.
    inbox.nothing_within(QUIET).await;
    let (status, paid) = stripe.authenticate(&intent, true).await;
    assert_eq!(
        (status, &paid["status"]),
        (200, &json!("succeeded")),
        "{paid}"
    );
    let event = verified_event(&inbox.next(WAIT).await, SECRET);
    assert_eq!(event["type"], "payment_intent.succeeded");
    assert_eq!(event["data"]["object"]["id"], intent["id"]);

    // A failed check drops the payment method, and, unlike Stripe, sends no
    // payment_intent.payment_failed: a top-up left to reconciliation.
    let intent = stripe.create_payment_intent(900, "eur", &[]).await;
    let (status, _) = stripe.pay(&id(&intent), TestCard::ThreeDSecure).await;
    assert_eq!(status, 200);
    let (status, failed) = stripe.authenticate(&intent, false).await;
    assert_eq!(status, 200, "{failed}");
    assert_eq!(failed["status"], "requires_payment_method");
    assert_eq!(
        failed["last_payment_error"]["code"],
        "payment_intent_authentication_failure"
    );
    assert_eq!(failed["payment_method"], Value::Null);
    // Nor does a cancellation send payment_intent.canceled.
    let (status, canceled) = stripe.cancel(&id(&intent)).await;
    assert_eq!((status, &canceled["status"]), (200, &json!("canceled")));
    inbox.nothing_within(QUIET).await;
    assert_eq!(stripe.events(None).await.len(), 1);
}

#[tokio::test]
async fn refunds_succeed_unchecked_and_send_no_webhook() {
    let stripe = LocalStripe::start().await;
    let mut inbox = WebhookInbox::start().await;
    stripe.register_webhook(&inbox.url(), SECRET).await;
    let intent = stripe.create_payment_intent(1500, "eur", &[]).await;
    let pi = id(&intent);
    let (status, paid) = stripe.pay(&pi, TestCard::Visa).await;
    assert_eq!(status, 200);
    let charge_id = id(&paid["latest_charge"]);
    assert_eq!(
        verified_event(&inbox.next(WAIT).await, SECRET)["type"],
        "payment_intent.succeeded"
    );

    let (status, refund) = stripe.refund(&pi, Some(500)).await;
    assert_eq!(status, 200, "{refund}");
    assert!(id(&refund).starts_with("re_"), "{refund}");
    assert_eq!(refund["object"], "refund");
    assert_eq!(refund["amount"], 500);
    assert_eq!(refund["currency"], "eur");
    assert_eq!(refund["status"], "succeeded");
    assert_eq!(refund["charge"], charge_id.as_str());
    assert_eq!(refund["payment_intent"], pi.as_str());
    let fetched = stripe.payment_intent(&pi).await;
    assert_eq!(fetched["status"], "succeeded");
    assert_eq!(fetched["latest_charge"]["amount_refunded"], 500);
    assert_eq!(fetched["latest_charge"]["refunded"], false);
    // Stripe would send charge.refunded (and refund.created, charge.refund.updated).
    inbox.nothing_within(QUIET).await;
    assert!(stripe.events(Some("charge.refunded")).await.is_empty());
    assert_eq!(stripe.events(None).await.len(), 1);

    // By charge, the refund does not name the PaymentIntent (Stripe's does).
    let (status, by_charge) = stripe
        .post(
            "/v1/refunds",
            &[("charge", charge_id.as_str()), ("amount", "400")],
        )
        .await;
    assert_eq!(status, 200, "{by_charge}");
    assert_eq!(by_charge["payment_intent"], Value::Null);
    // Nothing is checked against what is left: without an amount the whole charge is refunded
    // again, and refunds past the charge's amount succeed.
    let (status, rest) = stripe.refund(&pi, None).await;
    assert_eq!((status, &rest["amount"]), (200, &json!(1500)), "{rest}");
    let charge = stripe.charge(&charge_id).await;
    assert_eq!(charge["amount"], 1500);
    assert_eq!(charge["amount_refunded"], 2400);
    assert_eq!(charge["refunded"], true);
    assert_eq!(charge["refunds"]["total_count"], 3);
    inbox.nothing_within(QUIET).await;

    // A payment that failed cannot be refunded.
    let failed = id(&stripe.create_payment_intent(700, "eur", &[]).await);
    let (status, _) = stripe.pay(&failed, TestCard::Declined).await;
    assert_eq!(status, 402);
    let (status, refused) = stripe.refund(&failed, None).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        refused["error"]["message"],
        "Cannot refund a failed payment."
    );
    assert_eq!(
        verified_event(&inbox.next(WAIT).await, SECRET)["type"],
        "payment_intent.payment_failed"
    );

    // What the refund tests will send in localstripe's stead: charge.refunded about the real
    // charge, signed as localstripe signs.
    let event = stripe.event("charge.refunded", charge);
    assert_eq!(stripe.deliver(&inbox.url(), SECRET, &event).await, 200);
    let delivered = verified_event(&inbox.next(WAIT).await, SECRET);
    assert_eq!(delivered, event);
    assert_eq!(delivered["data"]["object"]["payment_intent"], pi.as_str());
}

#[tokio::test]
async fn events_go_once_to_each_matching_endpoint_and_idempotency_keys_are_ignored() {
    let stripe = LocalStripe::start().await;
    let mut failing = WebhookInbox::start().await;
    failing.answer_with(500);
    let mut failures_only = WebhookInbox::start().await;
    stripe.register_webhook(&failing.url(), SECRET).await;
    stripe
        .register_webhook_for(
            &failures_only.url(),
            "whsec_other",
            &["payment_intent.payment_failed"],
        )
        .await;

    let paid = id(&stripe.create_payment_intent(1000, "eur", &[]).await);
    let (status, _) = stripe.pay(&paid, TestCard::Visa).await;
    assert_eq!(status, 200);
    let event = verified_event(&failing.next(WAIT).await, SECRET);
    assert_eq!(event["data"]["object"]["id"], paid.as_str());
    // A 500 is not retried.
    failing.nothing_within(Duration::from_secs(3)).await;
    assert!(failures_only.try_next().is_none());
    assert!(
        stripe
            .logs()
            .iter()
            .any(|line| line.contains("failed with response code 500")),
        "{:#?}",
        stripe.logs()
    );

    let declined = id(&stripe.create_payment_intent(1000, "eur", &[]).await);
    let (status, _) = stripe.pay(&declined, TestCard::Declined).await;
    assert_eq!(status, 402);
    let to_failing = verified_event(&failing.next(WAIT).await, SECRET);
    let to_other = verified_event(&failures_only.next(WAIT).await, "whsec_other");
    assert_eq!(to_failing["type"], "payment_intent.payment_failed");
    assert_eq!(to_other, to_failing);

    // The same Idempotency-Key makes a second PaymentIntent.
    let form = [("amount", "300"), ("currency", "eur")];
    let (_, first) = stripe
        .post_with_idempotency_key("/v1/payment_intents", "topup-t-3", &form)
        .await;
    let (_, second) = stripe
        .post_with_idempotency_key("/v1/payment_intents", "topup-t-3", &form)
        .await;
    assert!(id(&first).starts_with("pi_"), "{first}");
    assert_ne!(first["id"], second["id"]);
}

#[tokio::test]
async fn a_restart_keeps_the_objects_and_the_endpoints_and_a_stop_refuses_connections() {
    let mut stripe = LocalStripe::start().await;
    let mut inbox = WebhookInbox::start().await;
    stripe.register_webhook(&inbox.url(), SECRET).await;
    let pi = id(&stripe
        .create_payment_intent(1200, "eur", &[("topup", "t-4")])
        .await);

    stripe.stop().await;
    assert!(
        http_client()
            .get(format!("{}/v1/events", stripe.url()))
            .send()
            .await
            .is_err()
    );

    stripe.restart().await;
    let kept = stripe.payment_intent(&pi).await;
    assert_eq!(kept["metadata"], json!({ "topup": "t-4" }));
    let (status, _) = stripe.pay(&pi, TestCard::Visa).await;
    assert_eq!(status, 200);
    let event = verified_event(&inbox.next(WAIT).await, SECRET);
    assert_eq!(event["data"]["object"]["id"], pi.as_str());
}
