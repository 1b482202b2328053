//! Limits counted in Postgres, for auth paths whose limits must hold across instances and
//! restarts even without Redis (password reset, verification mail).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};

use crate::db::schema::rate_events;
use crate::error::AppError;

/// A limit: at most `max` attempts per `window` for one key.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub bucket: &'static str,
    pub max: i64,
    pub window: Duration,
}

/// A key that does not store what it stands for (an email address, say).
pub fn hashed_key(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// An attempt [`hit`] counted, to hand back with [`refund`].
#[must_use = "an attempt that proves right is refunded; drop it with `let _` otherwise"]
#[derive(Clone, Copy, Debug)]
pub struct Attempt(i64);

/// Counts one attempt for `key`, or refuses with `RATE_LIMITED` (and `retryAfter`) when the
/// window already holds `max` of them. Refused attempts are not counted. Callers count before
/// they check: attempts that arrive together each see the ones counted before them, so no
/// more than `max` are ever checked.
pub async fn hit(
    conn: &mut AsyncPgConnection,
    limit: Limit,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Attempt, AppError> {
    crate::db::transaction(conn, async |conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1 || ':' || $2))")
            .bind::<Text, _>(limit.bucket)
            .bind::<Text, _>(key)
            .execute(conn)
            .await?;
        let window_start = now - limit.window;
        let this_key = rate_events::bucket
            .eq(limit.bucket)
            .and(rate_events::key.eq(key));
        diesel::delete(
            rate_events::table
                .filter(this_key)
                .filter(rate_events::at.le(window_start)),
        )
        .execute(conn)
        .await?;
        let (count, oldest): (i64, Option<DateTime<Utc>>) = rate_events::table
            .filter(this_key)
            .select((diesel::dsl::count_star(), diesel::dsl::min(rate_events::at)))
            .first(conn)
            .await?;
        if count >= limit.max {
            let free_at = oldest.unwrap_or(now) + limit.window;
            let retry_after_secs = u64::try_from((free_at - now).num_seconds())
                .unwrap_or(0)
                .max(1);
            return Err(AppError::RateLimited { retry_after_secs });
        }
        let id = diesel::insert_into(rate_events::table)
            .values((
                rate_events::bucket.eq(limit.bucket),
                rate_events::key.eq(key),
                rate_events::at.eq(now),
            ))
            .returning(rate_events::id)
            .get_result(conn)
            .await?;
        Ok(Attempt(id))
    })
    .await
}

/// Takes back an attempt that turned out not to be one the limit is about: a right code, say,
/// where only wrong ones should run out the budget.
pub async fn refund(conn: &mut AsyncPgConnection, attempt: Attempt) -> Result<(), AppError> {
    diesel::delete(rate_events::table.find(attempt.0))
        .execute(conn)
        .await?;
    Ok(())
}
