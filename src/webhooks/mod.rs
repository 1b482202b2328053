//! Outbound webhooks: administrators register endpoints for market, account and habit events.
//! A change queues one delivery per subscribed endpoint in its own transaction (`store::Queue`),
//! so an event is sent exactly when its change committed. A job in every instance claims due
//! deliveries (`SKIP LOCKED` and a lease), signs each attempt the Standard Webhooks way and
//! POSTs it; failures are retried with a growing, jittered back-off, a delivery out of attempts
//! is dead until redelivered, and an endpoint failing too often in a row is paused until an
//! administrator resumes it. Delivery is at least once (an instance dying between an answer and
//! its record sends again after the lease), so receivers dedupe by `webhook-id`.

pub mod graphql;
pub mod model;
pub mod rules;
pub mod store;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncPgConnection;

use crate::App;
use crate::audit::{self, Event, action};
use crate::auth::tokens::Sealer;
use crate::config::Config;
use crate::db;
use crate::error::AppError;
use crate::request::RequestInfo;
use model::{Attempt, Delivery, Endpoint, EventType, Outcome, QueuedEvent};
use store::{DeliveryFilter, EndpointChanges};

/// Deliveries one pass claims and attempts together.
const BATCH: i64 = 32;
/// How long a claimed delivery stays reserved beyond the attempt's own timeout.
const LEASE_MARGIN: Duration = Duration::seconds(30);
const AUDIT_TARGET: &str = "webhook_endpoint";

/// What sending webhooks needs besides the database: the key their secrets are sealed with
/// and the HTTP client (bounded by `AGORA_WEBHOOK_TIMEOUT_MS`, no redirects followed).
pub struct Webhooks {
    sealer: Sealer,
    client: reqwest::Client,
}

impl Webhooks {
    pub fn new(config: &Config, secret: &[u8]) -> anyhow::Result<Self> {
        Ok(Self {
            sealer: Sealer::new(secret, b"agora webhook secret sealing v1")?,
            client: crate::outbound::client(StdDuration::from_millis(config.webhook_timeout_ms))?,
        })
    }
}

/// Queues `event_type` with `data` for the endpoints subscribed to it, in the caller's
/// transaction (the change the event tells of).
pub async fn queue(
    conn: &mut AsyncPgConnection,
    event_type: EventType,
    data: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    store::enqueue(conn, &QueuedEvent::new(event_type, now), data).await?;
    Ok(())
}

/// An endpoint to register, as typed.
pub struct NewEndpoint<'a> {
    pub url: &'a str,
    pub events: &'a [EventType],
    pub description: &'a str,
}

/// Registers an endpoint; answers it with its secret, shown this once.
pub async fn create_endpoint(
    app: &App,
    origin: &RequestInfo,
    actor: i64,
    new: &NewEndpoint<'_>,
) -> Result<(Endpoint, String), AppError> {
    let url = rules::url(new.url, https_only(&app.config))?;
    let events = rules::events(new.events)?;
    let description = rules::description(new.description)?;
    let secret = rules::new_secret();
    let sealed = app.webhooks.sealer.seal(&secret)?;
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let endpoint = audit::audited(&mut conn, origin, now, async |conn| {
        let endpoint =
            store::insert_endpoint(conn, &url, &description, &events, &sealed, now).await?;
        let event = audited(action::WEBHOOK_CREATE, actor, &endpoint);
        Ok((endpoint, event))
    })
    .await?;
    Ok((endpoint, rules::shown_secret(&secret)))
}

/// Changes of an endpoint, as typed; `None` keeps a field.
pub struct EndpointEdit<'a> {
    pub url: Option<&'a str>,
    pub events: Option<&'a [EventType]>,
    pub description: Option<&'a str>,
}

pub async fn update_endpoint(
    app: &App,
    origin: &RequestInfo,
    actor: i64,
    id: i64,
    edit: &EndpointEdit<'_>,
) -> Result<Endpoint, AppError> {
    let now = app.clock.now();
    let changes = EndpointChanges {
        url: edit
            .url
            .map(|url| rules::url(url, https_only(&app.config)))
            .transpose()?,
        events: edit.events.map(rules::events).transpose()?,
        description: edit.description.map(rules::description).transpose()?,
        sealed_secret: None,
        updated_at: now,
    };
    change(app, origin, now, actor, id, Change::Update(&changes)).await
}

/// What an administrator may do to an endpoint besides changing it.
#[derive(Clone, Copy)]
pub enum Act {
    /// Deletes it with its deliveries, pending or not.
    Delete,
    /// Lifts its pause: its pending deliveries go out at once.
    Resume,
}

/// Does `act` to endpoint `id`; the endpoint as it now is (as it was, once deleted).
pub async fn act_on_endpoint(
    app: &App,
    origin: &RequestInfo,
    actor: i64,
    id: i64,
    act: Act,
) -> Result<Endpoint, AppError> {
    let now = app.clock.now();
    let what = match act {
        Act::Delete => Change::Delete,
        Act::Resume => Change::Resume,
    };
    change(app, origin, now, actor, id, what).await
}

/// Gives an endpoint a new secret, shown this once; attempts from now on are signed with it.
pub async fn rotate_secret(
    app: &App,
    origin: &RequestInfo,
    actor: i64,
    id: i64,
) -> Result<(Endpoint, String), AppError> {
    let now = app.clock.now();
    let secret = rules::new_secret();
    let changes = EndpointChanges {
        url: None,
        events: None,
        description: None,
        sealed_secret: Some(app.webhooks.sealer.seal(&secret)?),
        updated_at: now,
    };
    let endpoint = change(app, origin, now, actor, id, Change::Rotate(&changes)).await?;
    Ok((endpoint, rules::shown_secret(&secret)))
}

/// Queues a delivery again from its first attempt (a dead letter, or one the receiver lost).
pub async fn redeliver(
    app: &App,
    origin: &RequestInfo,
    actor: i64,
    id: i64,
) -> Result<Delivery, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audit::audited(&mut conn, origin, now, async |conn| {
        let delivery = store::redeliver(conn, id, now).await?;
        let event = Event::new(action::WEBHOOK_REDELIVER, Some(actor))
            .target(AUDIT_TARGET, delivery.endpoint_id)
            .meta(serde_json::json!({ "deliveryId": delivery.id.to_string() }));
        Ok((delivery, event))
    })
    .await
}

pub async fn endpoint(app: &App, id: i64) -> Result<Endpoint, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::find_endpoint(&mut conn, id).await
}

pub async fn endpoints_page(
    app: &App,
    after_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<Endpoint>, i64), AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::endpoints_page(&mut conn, after_id, limit).await
}

pub async fn deliveries_page(
    app: &App,
    filter: DeliveryFilter,
    before_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<Delivery>, i64), AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::deliveries_page(&mut conn, filter, before_id, limit).await
}

/// What an administrator does to one endpoint.
enum Change<'a> {
    Update(&'a EndpointChanges),
    Rotate(&'a EndpointChanges),
    Delete,
    Resume,
}

/// Makes `change` to endpoint `id`, with its audit row.
async fn change(
    app: &App,
    origin: &RequestInfo,
    now: DateTime<Utc>,
    actor: i64,
    id: i64,
    change: Change<'_>,
) -> Result<Endpoint, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    let change = &change;
    audit::audited(&mut conn, origin, now, async |conn| {
        let (endpoint, action) = match change {
            Change::Update(changes) => (
                store::update_endpoint(conn, id, changes).await?,
                action::WEBHOOK_UPDATE,
            ),
            Change::Rotate(changes) => (
                store::update_endpoint(conn, id, changes).await?,
                action::WEBHOOK_ROTATE_SECRET,
            ),
            Change::Delete => (
                store::delete_endpoint(conn, id).await?,
                action::WEBHOOK_DELETE,
            ),
            Change::Resume => (store::resume(conn, id, now).await?, action::WEBHOOK_RESUME),
        };
        let event = audited(action, actor, &endpoint);
        Ok((endpoint, event))
    })
    .await
}

fn audited(action: &'static str, actor: i64, endpoint: &Endpoint) -> Event {
    Event::new(action, Some(actor))
        .target(AUDIT_TARGET, endpoint.id)
        .meta(serde_json::json!({ "url": endpoint.url, "events": endpoint.events }))
}

fn https_only(config: &Config) -> bool {
    config.is_production() && !config.webhook_allow_http
}

/// Attempts every due delivery once; how many were claimed. Safe on every instance at once.
pub async fn deliver_due(app: &App) -> Result<usize, AppError> {
    let timeout = Duration::milliseconds(app.config.webhook_timeout_ms.cast_signed());
    let claimed = {
        let mut conn = db::conn(&app.pool).await?;
        store::claim(&mut conn, app.clock.now(), timeout + LEASE_MARGIN, BATCH).await?
    };
    // No connection is held while receivers take their time.
    let outcomes =
        futures_util::future::join_all(claimed.iter().map(|attempt| send(app, attempt))).await;
    let mut conn = db::conn(&app.pool).await?;
    for (attempt, outcome) in claimed.iter().zip(outcomes) {
        record(app, &mut conn, attempt, outcome).await?;
    }
    Ok(claimed.len())
}

/// One signed POST of the delivery's payload.
async fn send(app: &App, attempt: &Attempt) -> Outcome {
    let Some(secret) = app.webhooks.sealer.open(&attempt.sealed_secret) else {
        return Outcome::Failed {
            status: None,
            error: "the endpoint's secret cannot be opened (was AGORA_SECRET changed?)".into(),
        };
    };
    let timestamp = app.clock.now().timestamp();
    let signature = match rules::signature(&secret, &attempt.event_id, timestamp, &attempt.payload)
    {
        Ok(signature) => signature,
        Err(error) => {
            return Outcome::Failed {
                status: None,
                error: format!("signing: {error:?}"),
            };
        }
    };
    let sent = app
        .webhooks
        .client
        .post(&attempt.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "Agora-Webhooks/1")
        .header("webhook-id", &attempt.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(attempt.payload.clone())
        .send()
        .await;
    match sent {
        Ok(answer) if answer.status().is_success() => Outcome::Delivered {
            status: i32::from(answer.status().as_u16()),
        },
        Ok(answer) => Outcome::Failed {
            status: Some(i32::from(answer.status().as_u16())),
            error: format!("answered {}", answer.status()),
        },
        Err(error) if error.is_timeout() => Outcome::Failed {
            status: None,
            error: format!("no answer within {} ms", app.config.webhook_timeout_ms),
        },
        // Without the URL: it may carry a receiver's token.
        Err(error) => Outcome::Failed {
            status: None,
            error: rules::error_text(&error.without_url().to_string()),
        },
    }
}

async fn record(
    app: &App,
    conn: &mut AsyncPgConnection,
    attempt: &Attempt,
    outcome: Outcome,
) -> Result<(), AppError> {
    let now = app.clock.now();
    match outcome {
        Outcome::Delivered { status } => store::mark_delivered(conn, attempt, status, now).await,
        Outcome::Failed { status, error } => {
            let config = &app.config;
            let retry_at = (attempt.attempts < config.webhook_max_attempts).then(|| {
                let base = Duration::milliseconds(config.webhook_retry_base_ms.cast_signed());
                let cap = Duration::milliseconds(config.webhook_retry_max_ms.cast_signed());
                now + rules::retry_delay(attempt.attempts, base, cap, rand::random::<f64>())
            });
            tracing::warn!(
                delivery = attempt.id,
                endpoint = attempt.endpoint_id,
                attempts = attempt.attempts,
                dead = retry_at.is_none(),
                %error,
                "webhook attempt failed"
            );
            let paused = store::mark_failed(
                conn,
                attempt,
                status,
                &error,
                retry_at,
                config.webhook_pause_after,
                now,
            )
            .await?;
            if paused {
                tracing::warn!(
                    endpoint = attempt.endpoint_id,
                    failures = config.webhook_pause_after,
                    "webhook endpoint paused after failing attempts in a row; resume it with resumeWebhookEndpoint"
                );
            }
            Ok(())
        }
    }
}

/// Delivers due webhooks every `AGORA_WEBHOOK_POLL_MS` (at once again after a full batch)
/// until the server begins to stop.
pub async fn run_delivery_job(app: Arc<App>) {
    let poll = StdDuration::from_millis(app.config.webhook_poll_ms);
    let mut stopping = app.stopping.subscribe();
    loop {
        let pass = match deliver_due(&app).await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(?error, "the webhook queue could not be read; will retry");
                0
            }
        };
        if pass == usize::try_from(BATCH).unwrap_or(usize::MAX) {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
    }
}
