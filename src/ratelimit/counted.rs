//! Limits counted in Postgres (`store.rs`), for auth paths whose limits must hold across
//! instances and restarts even without Redis (password reset, verification mail).

use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncPgConnection;
use sha2::{Digest, Sha256};

use super::store;
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
        store::lock_key(conn, limit.bucket, key).await?;
        let (count, oldest) =
            store::attempts_since(conn, limit.bucket, key, now - limit.window).await?;
        if count >= limit.max {
            let free_at = oldest.unwrap_or(now) + limit.window;
            let retry_after_secs = u64::try_from((free_at - now).num_seconds())
                .unwrap_or(0)
                .max(1);
            return Err(AppError::RateLimited { retry_after_secs });
        }
        Ok(Attempt(store::record(conn, limit.bucket, key, now).await?))
    })
    .await
}

/// Takes back an attempt that turned out not to be one the limit is about: a right code, say,
/// where only wrong ones should run out the budget.
pub async fn refund(conn: &mut AsyncPgConnection, attempt: Attempt) -> Result<(), AppError> {
    store::delete(conn, attempt.0).await
}
