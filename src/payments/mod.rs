//! Payments: users buy market budget with money through Stripe. `createTopUp` makes a top-up
//! and its PaymentIntent (the client pays it with Stripe.js); Stripe's signed webhook
//! `payment_intent.succeeded` credits the budget exactly once, in one transaction with a
//! `TOP_UP` ledger row: the event id and the PaymentIntent are each acted on once, so replays,
//! reordering and concurrent deliveries change nothing the second time. Refunds (Stripe's
//! `charge.refunded`, or an administrator's `refundTopUp`) take back the units they paid for,
//! as far as they are unspent, and flag the rest for an administrator.

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
use crate::audit::{Event, action, audited, store as audit_log};
use crate::config::Config;
use crate::db;
use crate::error::{AppError, reason};
use crate::request::RequestInfo;
use model::{FAILED, FROM_ADMIN, FROM_STRIPE, PENDING, SUCCEEDED, TopUp, TopUpRefund};
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
        let bought = store::units_since(conn, user_id, now - DAY).await?;
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
    // Only a pending top-up without one gets a PaymentIntent: a failed one (never given to
    // Stripe in time, see `reconcile`) must not become payable when nothing would credit it.
    if top_up.payment_intent_id.is_some() || top_up.state != PENDING {
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

/// What buying budget costs here and how much more the user may buy today.
pub struct TopUpOffer {
    pub currency: String,
    pub unit_price: i64,
    pub max_units: i64,
    pub daily_units: i64,
    pub remaining_today: i64,
    pub publishable_key: Option<String>,
}

/// The offer for `user_id`: prices and limits from the configuration, and the units left
/// under the daily limit (pending top-ups count, failed ones do not).
pub async fn offer(app: &App, user_id: i64) -> Result<TopUpOffer, AppError> {
    stripe_of(app)?;
    let config = &app.config;
    let mut conn = db::conn(&app.pool).await?;
    let bought = store::units_since(&mut conn, user_id, app.clock.now() - DAY).await?;
    Ok(TopUpOffer {
        currency: config.stripe_currency.clone(),
        unit_price: config.top_up_unit_price,
        max_units: config.top_up_max_units,
        daily_units: config.top_up_daily_units,
        remaining_today: (config.top_up_daily_units - bought).max(0),
        publishable_key: config.stripe_publishable_key.clone(),
    })
}

/// The window of the daily limit.
const DAY: Duration = Duration::hours(24);

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
    let told = Some((event.id.as_str(), event.event_type.as_str()));
    let unreadable = |_| WebhookRefusal::Unreadable;
    let settled = match event.event_type.as_str() {
        "payment_intent.succeeded" | "payment_intent.payment_failed" => {
            let intent: stripe::PaymentIntent =
                serde_json::from_value(event.data.object).map_err(unreadable)?;
            let settles = if event.event_type == "payment_intent.succeeded" {
                Settle::Credit
            } else {
                Settle::Fail
            };
            settle(app, origin, told, &Paid::from(&intent), settles).await
        }
        "charge.refunded" => {
            let charge: stripe::Charge =
                serde_json::from_value(event.data.object).map_err(unreadable)?;
            let Some(paid) = Paid::of_charge(&charge) else {
                return Ok(());
            };
            let refunded = Settle::Refunded(RefundTold {
                total: charge.amount_refunded,
                source: FROM_STRIPE,
                stripe_ref: &event.id,
                requested_by: None,
            });
            settle(app, origin, told, &paid, refunded).await
        }
        _ => return Ok(()),
    };
    settled.map(drop).map_err(WebhookRefusal::Unavailable)
}

/// Gives back `amount` (all that is left when `None`) of a paid top-up's money through
/// Stripe, as administrator `admin_id`, and takes back the units it paid for as far as they
/// are unspent. Stripe's running total of the charge's refunds decides what is recorded, so
/// the webhook telling of the same refund, before or after, records nothing more. The top-up
/// after, and the refund recorded (none when the webhook came first).
pub async fn refund_top_up(
    app: &App,
    origin: &RequestInfo,
    admin_id: i64,
    (top_up_id, amount): (i64, Option<i64>),
) -> Result<(TopUp, Option<TopUpRefund>), AppError> {
    let stripe = stripe_of(app)?;
    let paid_for = top_up(app, top_up_id).await?;
    let (Some(intent), SUCCEEDED) = (
        paid_for.payment_intent_id.as_deref(),
        paid_for.state.as_str(),
    ) else {
        return Err(AppError::bad_input(
            "topUpId",
            "Only a paid top-up can be refunded",
        ));
    };
    let amount = rules::refund_amount(amount, paid_for.amount - paid_for.refunded_amount)
        .map_err(|problem| AppError::bad_input("amount", problem))?;
    // A retry of this very request (same top-up, same total before it, same amount) gets
    // the refund the first attempt made.
    let key = format!(
        "agora-refund-{}-{}-{amount}",
        paid_for.id, paid_for.refunded_amount
    );
    let refund = stripe.create_refund(intent, amount, &key).await?;
    let charge = stripe.charge(&refund.charge).await?;
    let paid = Paid {
        intent_id: intent,
        amount: charge.amount,
        currency: &charge.currency,
    };
    let refunded = Settle::Refunded(RefundTold {
        total: charge.amount_refunded,
        source: FROM_ADMIN,
        stripe_ref: &refund.id,
        requested_by: Some(admin_id),
    });
    let recorded = settle(app, origin, None, &paid, refunded).await?.refund;
    Ok((top_up(app, top_up_id).await?, recorded))
}

/// A top-up by id (`NOT_FOUND` when there is none).
pub async fn top_up(app: &App, id: i64) -> Result<TopUp, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::find_top_up(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("Top-up".into()))
}

/// Refunds that found some of their units spent and await an administrator's review, oldest
/// first (the first 100).
pub async fn flagged_refunds(app: &App) -> Result<Vec<TopUpRefund>, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::flagged_refunds(&mut conn, 100).await
}

/// Marks a flagged refund reviewed by administrator `admin_id` (after settling the shortfall
/// with its user outside Agora); `NOT_FOUND` when no refund with `id` awaits review.
pub async fn review_refund(
    app: &App,
    origin: &RequestInfo,
    admin_id: i64,
    refund_id: i64,
) -> Result<TopUpRefund, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        let refund = store::mark_reviewed(conn, refund_id, admin_id, now)
            .await?
            .ok_or(AppError::NotFound("Flagged refund".into()))?;
        let event = Event::new(action::TOP_UP_REFUND_REVIEW, Some(admin_id))
            .target("top_up", refund.top_up_id)
            .meta(json!({ "refund": refund.id, "shortfall": refund.shortfall() }));
        Ok((refund, Some(event)))
    })
    .await
}

/// A top-up pending this long without its webhook is asked about.
const RECONCILE_AFTER: Duration = Duration::minutes(5);

/// Asks Stripe about top-ups pending longer than a few minutes (a webhook lost or not yet
/// delivered) and settles the paid and the cancelled ones as their webhook would have, and
/// fails those that never got a PaymentIntent: safe on every instance at once, since each step
/// locks the top-up and acts only on a pending one. How many were settled.
pub async fn reconcile(app: &App) -> Result<usize, AppError> {
    let Some(stripe) = app.stripe.as_ref() else {
        return Ok(0);
    };
    let mut conn = db::conn(&app.pool).await?;
    let now = app.clock.now();
    let origin = RequestInfo::default();
    let mut settled = fail_unsent(&mut conn, &origin, now).await?;
    let stale = store::pending_since_before(&mut conn, now - RECONCILE_AFTER).await?;
    drop(conn);
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
        if settle(app, &origin, None, &Paid::from(&intent), settles)
            .await?
            .changed
        {
            settled += 1;
        }
    }
    Ok(settled)
}

/// Fails the top-ups whose PaymentIntent was never made (Stripe did not answer, and the client
/// did not retry) within [`RECONCILE_AFTER`], so they stop holding the user's daily limit.
/// Nothing can pay them: a PaymentIntent is only ever made for a pending top-up.
async fn fail_unsent(
    conn: &mut diesel_async::AsyncPgConnection,
    origin: &RequestInfo,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, AppError> {
    audited(conn, origin, now, async |conn| {
        let failed = store::fail_unsent_before(conn, now - RECONCILE_AFTER, now).await?;
        let event = (!failed.is_empty()).then(|| {
            Event::new(action::TOP_UP_FAIL, None)
                .meta(json!({ "topUps": failed, "reason": "never given to Stripe" }))
        });
        Ok((failed.len(), event))
    })
    .await
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

/// What Stripe says happened to a payment.
#[derive(Clone, Copy)]
enum Settle<'a> {
    Credit,
    Fail,
    Refunded(RefundTold<'a>),
}

/// A refund as Stripe's charge tells of it.
#[derive(Clone, Copy)]
struct RefundTold<'a> {
    /// Stripe's running total of money given back for the charge.
    total: i64,
    source: &'static str,
    /// The event or refund that told of it.
    stripe_ref: &'a str,
    requested_by: Option<i64>,
}

/// The payment a settlement is about, as Stripe describes it.
struct Paid<'a> {
    intent_id: &'a str,
    amount: i64,
    currency: &'a str,
}

impl<'a> From<&'a stripe::PaymentIntent> for Paid<'a> {
    fn from(intent: &'a stripe::PaymentIntent) -> Self {
        Self {
            intent_id: &intent.id,
            amount: intent.amount,
            currency: &intent.currency,
        }
    }
}

impl<'a> Paid<'a> {
    /// A charge's payment; `None` for a charge made outside a PaymentIntent (not Agora's).
    fn of_charge(charge: &'a stripe::Charge) -> Option<Self> {
        Some(Self {
            intent_id: charge.payment_intent.as_deref()?,
            amount: charge.amount,
            currency: &charge.currency,
        })
    }
}

/// What a settlement did.
#[derive(Default)]
struct Settled {
    /// The top-up moved on: credited, failed or refunded.
    changed: bool,
    /// The refund recorded, if any.
    refund: Option<TopUpRefund>,
}

/// One transaction: the event, if one told of it, is claimed (a second delivery finds it
/// claimed), the top-up is locked, and a pending one is credited or failed, or a paid one
/// refunded. A paid amount or currency that differs from the top-up's credits nothing and is
/// audited. A refund told before the payment's success credits first: the success, when it
/// comes, finds nothing left to do.
async fn settle(
    app: &App,
    origin: &RequestInfo,
    told: Option<(&str, &str)>,
    paid: &Paid<'_>,
    settles: Settle<'_>,
) -> Result<Settled, AppError> {
    let now = app.clock.now();
    let event_id = told.map(|(id, _)| id);
    let unchanged = || Ok((Settled::default(), None));
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        if let Some(event) = told
            && !store::claim_event(conn, event, now).await?
        {
            return unchanged();
        }
        let Some(mut top_up) = store::lock_by_payment_intent(conn, paid.intent_id).await? else {
            return unchanged();
        };
        let changed = |event| {
            let settled = Settled {
                changed: true,
                refund: None,
            };
            Ok((settled, Some(event)))
        };
        let facts = json!({ "event": event_id, "paymentIntent": paid.intent_id });
        if let Settle::Fail = settles {
            if top_up.state != PENDING {
                return unchanged();
            }
            store::set_state(conn, top_up.id, FAILED, now).await?;
            return changed(
                Event::new(action::TOP_UP_FAIL, None)
                    .target("user", top_up.user_id)
                    .meta(json!({ "topUp": top_up.id, "stripe": facts })),
            );
        }
        if top_up.state == PENDING {
            if paid.amount != top_up.amount || paid.currency != top_up.currency {
                tracing::warn!(top_up = top_up.id, "a paid amount differs from its top-up");
                let event = Event::new(action::TOP_UP_MISMATCH, None)
                    .target("top_up", top_up.id)
                    .meta(json!({ "stripe": facts, "amount": paid.amount, "currency": paid.currency }));
                return Ok((Settled::default(), Some(event)));
            }
            let budget = store::credit(conn, &top_up, now).await?;
            let credited = Event::new(action::TOP_UP_CREDIT, None)
                .target("user", top_up.user_id)
                .meta(json!({ "topUp": top_up.id, "units": top_up.units, "budget": budget, "stripe": facts }));
            let Settle::Refunded(_) = settles else {
                return changed(credited);
            };
            audit_log::record(conn, origin, credited, now).await?;
            top_up.state = SUCCEEDED.to_owned();
        }
        match settles {
            Settle::Refunded(refund) if top_up.state == SUCCEEDED => {
                let (refund, event) = take_back(conn, &top_up, &refund, now).await?;
                let changed = refund.is_some();
                Ok((Settled { changed, refund }, event))
            }
            _ => unchanged(),
        }
    })
    .await
}

/// Records what a refund adds to those already recorded for a paid top-up (nothing when
/// Stripe's running total is no higher), taking its units back from the budget as far as
/// they are unspent.
async fn take_back(
    conn: &mut diesel_async::AsyncPgConnection,
    top_up: &TopUp,
    told: &RefundTold<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Option<TopUpRefund>, Option<Event>), AppError> {
    let total = told.total.min(top_up.amount);
    let amount = total - top_up.refunded_amount;
    if amount <= 0 {
        return Ok((None, None));
    }
    let units = rules::units_refunded(top_up.units, top_up.amount, total) - top_up.refunded_units;
    let (debited_units, balance_after) = store::debit_unspent(conn, top_up.user_id, units).await?;
    let new = store::NewRefund {
        top_up,
        amount,
        units,
        debited_units,
        balance_after,
        source: told.source,
        stripe_ref: told.stripe_ref,
        requested_by: told.requested_by,
    };
    let refund = store::record_refund(conn, &new, now).await?;
    if refund.shortfall() > 0 {
        tracing::warn!(
            top_up = top_up.id,
            shortfall = refund.shortfall(),
            "a refund found its units spent; flagged for an administrator"
        );
    }
    let event = Event::new(action::TOP_UP_REFUND, told.requested_by)
        .target("user", top_up.user_id)
        .meta(json!({
            "topUp": top_up.id, "refund": refund.id, "amount": amount, "units": units,
            "debited": debited_units, "shortfall": refund.shortfall(),
            "source": told.source, "stripe": told.stripe_ref, "budget": balance_after,
        }));
    Ok((Some(refund), Some(event)))
}
