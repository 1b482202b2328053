//! Deletes what nothing reads any more: ended sessions (with their refresh tokens), spent or
//! expired challenges, emailed tokens and provider sign-in flows, old rate-limit events, delivered mail,
//! delivered webhooks and market events older than a resuming subscriber may ask for. Each step is
//! a plain conditional DELETE (`store.rs`), so every instance may run the job at once: a row one instance
//! deleted is simply not there for the other.

pub mod store;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;

use crate::App;
use crate::error::AppError;

/// Ended sessions and delivered mail stay this long, for support questions and the audit trail.
const KEEP_HISTORY: chrono::Duration = chrono::Duration::days(30);
/// Longer than any window that reads these rows (the longest is an hour).
const KEEP_COUNTERS: chrono::Duration = chrono::Duration::days(1);
/// How long a `marketEvents` subscriber may stay away and still resume where it left off.
const KEEP_MARKET_EVENTS: chrono::Duration = chrono::Duration::days(7);
const INTERVAL: Duration = Duration::from_secs(3600);

/// Deletes what ended long enough before `now`; returns how many rows.
pub async fn delete_expired(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let history = now - KEEP_HISTORY;
    Ok(store::delete_ended_sessions(conn, history).await?
        + store::delete_spent_tokens_and_counters(conn, now - KEEP_COUNTERS).await?
        + store::delete_sent_mail(conn, history).await?
        + crate::reminders::store::delete_deliveries_before(conn, history).await?
        + crate::market::store::delete_events_before(conn, now - KEEP_MARKET_EVENTS).await?
        + crate::webhooks::store::delete_delivered_before(conn, history).await?)
}

pub async fn run_cleanup_job(app: Arc<App>) {
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let outcome = match crate::db::conn(&app.pool).await {
            Ok(mut conn) => delete_expired(&mut conn, app.clock.now()).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted expired sessions, tokens and counters"),
            Err(error) => tracing::warn!(?error, "cleanup failed; will retry"),
        }
    }
}
