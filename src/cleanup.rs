//! Deletes what nothing reads any more: ended sessions (with their refresh tokens), spent or
//! expired challenges and emailed tokens, old rate-limit events and delivered mail. Each step is
//! a plain conditional DELETE, so every instance may run the job at once: a row one instance
//! deleted is simply not there for the other.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::App;
use crate::db::schema::{account_tokens, email_outbox, mfa_challenges, rate_events, sessions};
use crate::error::AppError;

/// Ended sessions and delivered mail stay this long, for support questions and the audit trail.
const KEEP_HISTORY: chrono::Duration = chrono::Duration::days(30);
/// Longer than any window that reads these rows (the longest is an hour).
const KEEP_COUNTERS: chrono::Duration = chrono::Duration::days(1);
const INTERVAL: Duration = Duration::from_secs(3600);

/// Rows deleted, by kind.
pub async fn delete_expired(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let history = now - KEEP_HISTORY;
    let counters = now - KEEP_COUNTERS;
    // Expired and revoked sessions in two statements: the pool's generic plan for one
    // `expires_at < $1 OR revoked_at < $2` scans the whole table, where each range alone is
    // read from its index.
    let mut deleted = diesel::delete(sessions::table.filter(sessions::expires_at.lt(history)))
        .execute(conn)
        .await?;
    deleted += diesel::delete(sessions::table.filter(sessions::revoked_at.lt(history)))
        .execute(conn)
        .await?;
    deleted +=
        diesel::delete(mfa_challenges::table.filter(mfa_challenges::expires_at.lt(counters)))
            .execute(conn)
            .await?;
    deleted +=
        diesel::delete(account_tokens::table.filter(account_tokens::expires_at.lt(counters)))
            .execute(conn)
            .await?;
    deleted += diesel::delete(rate_events::table.filter(rate_events::at.lt(counters)))
        .execute(conn)
        .await?;
    deleted += diesel::delete(email_outbox::table.filter(email_outbox::sent_at.lt(history)))
        .execute(conn)
        .await?;
    Ok(deleted)
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
