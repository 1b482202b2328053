//! Mailed tokens in the database, by digest: issued, looked up, spent and expired.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::Purpose;
use crate::db::schema::account_tokens;
use crate::error::AppError;

/// Stores a token for `purpose` by its digest, bound to the address it is mailed to, issued at
/// `now` and live until `expires_at`.
pub async fn issue(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    (purpose, token_hash): (Purpose, &[u8]),
    email: &str,
    (now, expires_at): (DateTime<Utc>, DateTime<Utc>),
) -> Result<(), AppError> {
    diesel::insert_into(account_tokens::table)
        .values((
            account_tokens::user_id.eq(user_id),
            account_tokens::purpose.eq(purpose.as_str()),
            account_tokens::token_hash.eq(token_hash),
            account_tokens::email.eq(email),
            account_tokens::expires_at.eq(expires_at),
            account_tokens::created_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The user of a live token of `purpose`, without spending it.
pub async fn find_live(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<Option<i64>, AppError> {
    Ok(account_tokens::table
        .filter(account_tokens::token_hash.eq(token_hash))
        .filter(account_tokens::purpose.eq(purpose.as_str()))
        .filter(account_tokens::used_at.is_null())
        .filter(account_tokens::expires_at.gt(now))
        .select(account_tokens::user_id)
        .first(conn)
        .await
        .optional()?)
}

/// Spends a live token of `purpose`: its user and address, or `None` if it is unknown, spent,
/// expired or meant for something else. Of two concurrent spends, one wins.
pub async fn spend(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<Option<(i64, String)>, AppError> {
    Ok(diesel::update(
        account_tokens::table
            .filter(account_tokens::token_hash.eq(token_hash))
            .filter(account_tokens::purpose.eq(purpose.as_str()))
            .filter(account_tokens::used_at.is_null())
            .filter(account_tokens::expires_at.gt(now)),
    )
    .set(account_tokens::used_at.eq(now))
    .returning((account_tokens::user_id, account_tokens::email))
    .get_result(conn)
    .await
    .optional()?)
}

/// Ends every unspent token of `purpose` for the user (a password change ends reset links).
pub async fn expire_all(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::update(
        account_tokens::table
            .filter(account_tokens::user_id.eq(user_id))
            .filter(account_tokens::purpose.eq(purpose.as_str()))
            .filter(account_tokens::used_at.is_null()),
    )
    .set(account_tokens::used_at.eq(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes every mailed token of the user, spent or not, for any purpose.
pub async fn delete_all(conn: &mut AsyncPgConnection, user_id: i64) -> Result<(), AppError> {
    diesel::delete(account_tokens::table.filter(account_tokens::user_id.eq(user_id)))
        .execute(conn)
        .await?;
    Ok(())
}
