//! Second-factor queries. Races are decided by conditional updates: a time step, a recovery
//! code and a challenge are each accepted by exactly one statement that finds them unused.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{Challenge, TwoFactorRow};
use crate::db::schema::{mfa_challenges, recovery_codes, two_factor};
use crate::error::AppError;

pub async fn find(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<Option<TwoFactorRow>, AppError> {
    Ok(two_factor::table
        .find(user_id)
        .select(TwoFactorRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn is_enabled(conn: &mut AsyncPgConnection, user_id: i64) -> Result<bool, AppError> {
    Ok(find(conn, user_id)
        .await?
        .is_some_and(|row| row.enabled_at.is_some()))
}

/// Whether each user has 2FA on, and how many unused recovery codes they hold.
pub async fn status(
    conn: &mut AsyncPgConnection,
    user_ids: &[i64],
) -> Result<Vec<(i64, bool, i64)>, AppError> {
    Ok(diesel::sql_query(
        "SELECT u.id AS user_id,
                EXISTS (SELECT 1 FROM two_factor t WHERE t.user_id = u.id AND t.enabled_at IS NOT NULL) AS enabled,
                (SELECT count(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL) AS codes_left
         FROM users u WHERE u.id = ANY ($1)",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(user_ids)
    .load::<StatusRow>(conn)
    .await?
    .into_iter()
    .map(|row| (row.user_id, row.enabled, row.codes_left))
    .collect())
}

#[derive(QueryableByName)]
struct StatusRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    user_id: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    enabled: bool,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    codes_left: i64,
}

/// Stores a new pending secret, replacing an earlier pending one; an enabled factor stays.
pub async fn set_pending(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    sealed: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::insert_into(two_factor::table)
        .values((
            two_factor::user_id.eq(user_id),
            two_factor::pending_secret.eq(sealed),
            two_factor::pending_expires_at.eq(expires_at),
        ))
        .on_conflict(two_factor::user_id)
        .do_update()
        .set((
            two_factor::pending_secret.eq(sealed),
            two_factor::pending_expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Turns the pending secret `sealed` into the enabled factor, with `step` already used. False
/// when the pending secret changed or expired meanwhile.
pub async fn enable(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    sealed: &[u8],
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let updated = diesel::update(
        two_factor::table
            .find(user_id)
            .filter(two_factor::pending_secret.eq(sealed))
            .filter(two_factor::pending_expires_at.gt(now)),
    )
    .set((
        two_factor::secret.eq(sealed),
        two_factor::enabled_at.eq(now),
        two_factor::last_step.eq(step),
        two_factor::pending_secret.eq(None::<Vec<u8>>),
        two_factor::pending_expires_at.eq(None::<DateTime<Utc>>),
    ))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

/// Accepts `step` for the user if it is newer than every step accepted before: the replay
/// guard. Two requests with the same code race here and only one wins.
pub async fn accept_step(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    step: i64,
) -> Result<bool, AppError> {
    let updated = diesel::update(
        two_factor::table
            .find(user_id)
            .filter(two_factor::enabled_at.is_not_null())
            .filter(
                two_factor::last_step
                    .is_null()
                    .or(two_factor::last_step.lt(step)),
            ),
    )
    .set(two_factor::last_step.eq(step))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

pub async fn replace_recovery_codes(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    hashes: &[Vec<u8>],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)
        .await?;
    let rows: Vec<_> = hashes
        .iter()
        .map(|hash| {
            (
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(hash),
                recovery_codes::created_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(recovery_codes::table)
        .values(rows)
        .execute(conn)
        .await?;
    Ok(())
}

/// Spends a recovery code; false if it is unknown or spent (also to the loser of a race).
pub async fn use_recovery_code(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    hash: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let updated = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

/// Removes the factor, pending or enabled, and the recovery codes.
pub async fn remove(conn: &mut AsyncPgConnection, user_id: i64) -> Result<bool, AppError> {
    let removed = diesel::delete(two_factor::table.find(user_id))
        .execute(conn)
        .await?;
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)
        .await?;
    Ok(removed == 1)
}

/// Removes everything second-factor of the user: the factor, recovery codes and challenges.
pub async fn remove_all(conn: &mut AsyncPgConnection, user_id: i64) -> Result<(), AppError> {
    remove(conn, user_id).await?;
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user_id)))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn create_challenge(
    conn: &mut AsyncPgConnection,
    (user_id, first_factor): (i64, &str),
    token_hash: &[u8],
    (now, expires_at): (DateTime<Utc>, DateTime<Utc>),
) -> Result<(), AppError> {
    diesel::insert_into(mfa_challenges::table)
        .values((
            mfa_challenges::user_id.eq(user_id),
            mfa_challenges::first_factor.eq(first_factor),
            mfa_challenges::token_hash.eq(token_hash),
            mfa_challenges::expires_at.eq(expires_at),
            mfa_challenges::created_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Counts a code checked against a live challenge, before it is checked: the challenge, or
/// `None` when it is unknown, used, expired or has had its `max_attempts`. One statement, so
/// codes sent together each take one of the attempts, and the rest find none left.
pub async fn claim_challenge_attempt(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
    max_attempts: i32,
    now: DateTime<Utc>,
) -> Result<Option<Challenge>, AppError> {
    Ok(diesel::update(
        mfa_challenges::table
            .filter(mfa_challenges::token_hash.eq(token_hash))
            .filter(mfa_challenges::used_at.is_null())
            .filter(mfa_challenges::expires_at.gt(now))
            .filter(mfa_challenges::attempts.lt(max_attempts)),
    )
    .set(mfa_challenges::attempts.eq(mfa_challenges::attempts + 1))
    .returning(Challenge::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}

/// The user of the live challenge with this digest, if any.
pub async fn live_challenge_user(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<i64>, AppError> {
    Ok(mfa_challenges::table
        .filter(mfa_challenges::token_hash.eq(token_hash))
        .filter(mfa_challenges::used_at.is_null())
        .filter(mfa_challenges::expires_at.gt(now))
        .select(mfa_challenges::user_id)
        .first(conn)
        .await
        .optional()?)
}

/// Uses up a live challenge; false if it was used or expired meanwhile.
pub async fn spend_challenge(
    conn: &mut AsyncPgConnection,
    challenge_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let updated = diesel::update(
        mfa_challenges::table
            .find(challenge_id)
            .filter(mfa_challenges::used_at.is_null())
            .filter(mfa_challenges::expires_at.gt(now)),
    )
    .set(mfa_challenges::used_at.eq(now))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}
