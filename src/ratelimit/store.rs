//! The `rate_events` table: one row per counted attempt, by bucket and key.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::rate_events;
use crate::error::AppError;

/// Serializes the attempts on one key until the transaction ends.
pub async fn lock_key(
    conn: &mut AsyncPgConnection,
    bucket: &str,
    key: &str,
) -> Result<(), AppError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1 || ':' || $2))")
        .bind::<Text, _>(bucket)
        .bind::<Text, _>(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets the key's attempts made at or before `window_start`, then counts the rest: how many,
/// and when the oldest was.
pub async fn attempts_since(
    conn: &mut AsyncPgConnection,
    bucket: &str,
    key: &str,
    window_start: DateTime<Utc>,
) -> Result<(i64, Option<DateTime<Utc>>), AppError> {
    let this_key = rate_events::bucket.eq(bucket).and(rate_events::key.eq(key));
    diesel::delete(
        rate_events::table
            .filter(this_key)
            .filter(rate_events::at.le(window_start)),
    )
    .execute(conn)
    .await?;
    Ok(rate_events::table
        .filter(this_key)
        .select((diesel::dsl::count_star(), diesel::dsl::min(rate_events::at)))
        .first(conn)
        .await?)
}

/// Counts an attempt made `at`; returns its id.
pub async fn record(
    conn: &mut AsyncPgConnection,
    bucket: &str,
    key: &str,
    at: DateTime<Utc>,
) -> Result<i64, AppError> {
    Ok(diesel::insert_into(rate_events::table)
        .values((
            rate_events::bucket.eq(bucket),
            rate_events::key.eq(key),
            rate_events::at.eq(at),
        ))
        .returning(rate_events::id)
        .get_result(conn)
        .await?)
}

pub async fn delete(conn: &mut AsyncPgConnection, id: i64) -> Result<(), AppError> {
    diesel::delete(rate_events::table.find(id))
        .execute(conn)
        .await?;
    Ok(())
}
