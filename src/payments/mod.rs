//! Payments: users buy market budget with money through Stripe. `createTopUp` makes a top-up
//! and its PaymentIntent (the client pays it with Stripe.js); Stripe's signed webhook
//! `payment_intent.succeeded` credits the budget exactly once, in one transaction with a
//! `TOP_UP` ledger row: the event id and the PaymentIntent are each acted on once, so replays,
//! reordering and concurrent deliveries change nothing the second time.

pub mod graphql;
pub mod model;
pub mod rules;
pub mod store;
pub mod stripe;

use chrono::Duration;
use serde::Deserialize;
use serde_json::json;

use crate::App;
use crate::accounts::store as accounts;
use crate::audit::{Event, action, audited};
use crate::config::Config;
use crate::db;
use crate::error::{AppError, reason};
use crate::request::RequestInfo;
use model::{FAILED, PENDING, TopUp};
use stripe::{IntentRequest, Stripe};

/// The Stripe client when payments are configured (a secret key and a webhook secret).
pub fn client(config: &Config) -> anyhow::Result<Option<Stripe>> {
    config
        .stripe_secret_key
        .as_deref()
        .map(|key| Stripe::new(&config.stripe_api_base, key))
        .transpose()
}

fn stripe_of(app: &App) -> Result<&Stripe, AppError> {
    app.stripe
        .as_ref()
        .ok_or(AppError::FeatureOff(reason::PAYMENTS_NOT_CONFIGURED))
}

/// Starts buying `units` of budget for `user_id`: the top-up, with the client secret of its
/// PaymentIntent. The same `idempotency_key` answers with the same top-up (and asks Stripe
/// for its PaymentIntent again if the first call did not get one).
pub async fn create_top_up(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    (units, idempotency_key): (i64, &str),
) -> Result<TopUp, AppError> {
    let stripe = stripe_of(app)?;
    let config = &app.config;
    let key = crate::market::rules::idempotency_key(idempotency_key)?;
    let amount = rules::top_up_amount(units, config.top_up_max_units, config.top_up_unit_price)
        .map_err(|problem| AppError::bad_input("units", problem))?;
    let now = app.clock.now();
    let new = store::NewTopUp {
        user_id,
        units,
        amount,
        currency: &config.stripe_currency,
        idempotency_key: &key,
    };
    let mut conn = db::conn(&app.pool).await?;
    let top_up = audited(&mut conn, origin, now, async |conn| {
        // Creations of one user queue here, so two cannot both pass the daily limit.
        accounts::lock_live(conn, user_id).await?;
        let bought = store::units_since(conn, user_id, now - Duration::hours(24)).await?;
        let (row, created) = store::insert_or_find_top_up(conn, &new, now).await?;
        if !created {
            if row.units != units {
                return Err(AppError::Conflict {
                    reason: reason::IDEMPOTENCY_KEY_REUSED,
                    field: Some("idempotencyKey"),
                    message: "This idempotency key was used for another top-up".to_owned(),
                });
            }
            return Ok((row, None));
        }
        if bought + units > config.top_up_daily_units {
            return Err(AppError::Conflict {
                reason: reason::LIMIT_REACHED,
                field: Some("units"),
                message: format!(
                    "At most {} units may be bought in 24 hours",
                    config.top_up_daily_units
                ),
            });
        }
        let event = Event::new(action::TOP_UP_CREATE, Some(user_id))
            .target("top_up", row.id)
            .meta(json!({ "units": units, "amount": amount, "currency": row.currency }));
        Ok((row, Some(event)))
    })
    .await?;
    drop(conn);
    if top_up.payment_intent_id.is_some() {
        return Ok(top_up);
    }
    let metadata = [
        ("agora_user_id", user_id.to_string()),
        ("agora_top_up_id", top_up.id.to_string()),
    ];
    let intent = stripe
        .create_payment_intent(&IntentRequest {
            amount: top_up.amount,
            currency: &top_up.currency,
            metadata: &metadata,
            idempotency_key: &format!("agora-top-up-{}", top_up.id),
        })
        .await?;
    let secret = intent.client_secret.unwrap_or_default();
    let mut conn = db::conn(&app.pool).await?;
    store::attach_payment_intent(&mut conn, top_up.id, (&intent.id, &secret), app.clock.now()).await
}

/// The user's top-ups, newest first (the last 100).
pub async fn top_ups_of(app: &App, user_id: i64) -> Result<Vec<TopUp>, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::top_ups_of(&mut conn, user_id, 100).await
}

/// Why a webhook delivery was not taken.
#[derive(Debug)]
pub enum WebhookRefusal {
    /// Payments are off here.
    Off,
    /// No valid `Stripe-Signature` for this payload: answered 400, and the payload is not
    /// logged.
    Signature(rules::SignatureProblem),
    /// Signed, but not an event Agora can read.
    Unreadable,
    /// Agora could not act on it now; Stripe delivers it again later.
    Unavailable(AppError),
}

#[derive(Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: serde_json::Value,
}

/// Acts on one webhook delivery from Stripe, after checking its signature against the raw
/// payload. Events other than a PaymentIntent's success or failure are acknowledged and left.
pub async fn webhook(
    app: &App,
    origin: &RequestInfo,
    signature: Option<&str>,
    payload: &[u8],
) -> Result<(), WebhookRefusal> {
    let secret = app
        .config
        .stripe_webhook_secret
        .as_deref()
        .ok_or(WebhookRefusal::Off)?;
    let now = app.clock.now();
    rules::verify_signature(signature.unwrap_or_default(), payload, secret, now)
        .map_err(WebhookRefusal::Signature)?;
    let event: StripeEvent =
        serde_json::from_slice(payload).map_err(|_| WebhookRefusal::Unreadable)?;
    let settles = match event.event_type.as_str() {
        "payment_intent.succeeded" => Settle::Credit,
        "payment_intent.payment_failed" => Settle::Fail,
        _ => return Ok(()),
    };
    let intent: stripe::PaymentIntent =
        serde_json::from_value(event.data.object).map_err(|_| WebhookRefusal::Unreadable)?;
    let told = Some((event.id.as_str(), event.event_type.as_str()));
    settle(app, origin, told, &intent, settles)
        .await
        .map_err(WebhookRefusal::Unavailable)
}

/// A top-up pending this long without its webhook is asked about.
const RECONCILE_AFTER: Duration = Duration::minutes(5);

/// Asks Stripe about top-ups pending longer than a few minutes (a webhook lost or not yet
/// delivered) and settles the paid and the cancelled ones as their webhook would have: safe
/// on every instance at once, since settling locks the top-up and acts only on a pending one.
/// How many were settled.
pub async fn reconcile(app: &App) -> Result<usize, AppError> {
    let Some(stripe) = app.stripe.as_ref() else {
        return Ok(0);
    };
    let mut conn = db::conn(&app.pool).await?;
    let stale = store::pending_since_before(&mut conn, app.clock.now() - RECONCILE_AFTER).await?;
    drop(conn);
    let origin = RequestInfo::default();
    let mut settled = 0;
    for top_up in stale {
        let Some(id) = top_up.payment_intent_id.as_deref() else {
            continue;
        };
        let intent = stripe.payment_intent(id).await?;
        let settles = match intent.status.as_str() {
            "succeeded" => Settle::Credit,
            "canceled" => Settle::Fail,
            // Declined or waiting for the customer: Stripe.js may still pay it.
            _ => continue,
        };
        settle(app, &origin, None, &intent, settles).await?;
        settled += 1;
    }
    Ok(settled)
}

/// Runs [`reconcile`] every minute while payments are configured.
pub async fn run_reconcile_job(app: std::sync::Arc<App>) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(60));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match reconcile(&app).await {
            Ok(0) => {}
            Ok(settled) => tracing::info!(settled, "settled top-ups whose webhook had not come"),
            Err(error) => tracing::warn!(?error, "reconciling top-ups failed; will retry"),
        }
    }
}

#[derive(Clone, Copy)]
enum Settle {
    Credit,
    Fail,
}

/// One transaction: the event, if one told of it, is claimed (a second delivery finds it
/// claimed), the top-up is locked, and a pending one is credited or failed. An amount or
/// currency that differs from the top-up's credits nothing and is audited.
async fn settle(
    app: &App,
    origin: &RequestInfo,
    told: Option<(&str, &str)>,
    intent: &stripe::PaymentIntent,
    settles: Settle,
) -> Result<(), AppError> {
    let now = app.clock.now();
    let event_id = told.map_or("reconciliation", |(id, _)| id);
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        if let Some(event) = told
            && !store::claim_event(conn, event, now).await?
        {
            return Ok(((), None));
        }
        let Some(top_up) = store::lock_by_payment_intent(conn, &intent.id).await? else {
            return Ok(((), None));
        };
        if top_up.state != PENDING {
            return Ok(((), None));
        }
        let facts = json!({ "event": event_id, "paymentIntent": intent.id });
        let event = match settles {
            Settle::Credit if intent.amount != top_up.amount || intent.currency != top_up.currency => {
                tracing::warn!(top_up = top_up.id, "a paid amount differs from its top-up");
                Event::new(action::TOP_UP_MISMATCH, None)
                    .target("top_up", top_up.id)
                    .meta(json!({ "event": event_id, "amount": intent.amount, "currency": intent.currency }))
            }
            Settle::Credit => {
                let budget = store::credit(conn, &top_up, now).await?;
                Event::new(action::TOP_UP_CREDIT, None)
                    .target("user", top_up.user_id)
                    .meta(json!({ "topUp": top_up.id, "units": top_up.units, "budget": budget, "stripe": facts }))
            }
            Settle::Fail => {
                store::set_state(conn, top_up.id, FAILED, now).await?;
                Event::new(action::TOP_UP_FAIL, None)
                    .target("user", top_up.user_id)
                    .meta(json!({ "topUp": top_up.id, "stripe": facts }))
            }
        };
        Ok(((), Some(event)))
    })
    .await
}
