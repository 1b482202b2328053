//! Passkeys, WebAuthn handles and begun ceremonies in the database.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::PasskeyRow;
use crate::db::schema::{passkeys, users, webauthn_ceremonies};
use crate::error::AppError;

/// The user's WebAuthn handle, made (random) the first time one is asked for.
pub async fn handle_of(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    fresh: &str,
) -> Result<String, AppError> {
    diesel::update(
        users::table
            .find(user_id)
            .filter(users::webauthn_handle.is_null()),
    )
    .set(users::webauthn_handle.eq(fresh))
    .execute(conn)
    .await?;
    Ok(users::table
        .find(user_id)
        .select(users::webauthn_handle.assume_not_null())
        .first(conn)
        .await?)
}

/// The user a WebAuthn handle names.
pub async fn user_of_handle(
    conn: &mut AsyncPgConnection,
    handle: &str,
) -> Result<Option<i64>, AppError> {
    Ok(users::table
        .filter(users::webauthn_handle.eq(handle))
        .select(users::id)
        .first(conn)
        .await
        .optional()?)
}

pub async fn insert_ceremony(
    conn: &mut AsyncPgConnection,
    (token_hash, kind): (&[u8], &str),
    user_id: Option<i64>,
    state: &serde_json::Value,
    (now, expires_at): (DateTime<Utc>, DateTime<Utc>),
) -> Result<(), AppError> {
    diesel::insert_into(webauthn_ceremonies::table)
        .values((
            webauthn_ceremonies::token_hash.eq(token_hash),
            webauthn_ceremonies::kind.eq(kind),
            webauthn_ceremonies::user_id.eq(user_id),
            webauthn_ceremonies::state.eq(state),
            webauthn_ceremonies::created_at.eq(now),
            webauthn_ceremonies::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes the live ceremony of this kind with this token: its user and state, once. One
/// statement, so a response replayed in parallel finds it gone.
pub async fn take_ceremony(
    conn: &mut AsyncPgConnection,
    (token_hash, kind): (&[u8], &str),
    now: DateTime<Utc>,
) -> Result<Option<(Option<i64>, serde_json::Value)>, AppError> {
    Ok(diesel::delete(
        webauthn_ceremonies::table
            .filter(webauthn_ceremonies::token_hash.eq(token_hash))
            .filter(webauthn_ceremonies::kind.eq(kind))
            .filter(webauthn_ceremonies::expires_at.gt(now)),
    )
    .returning((webauthn_ceremonies::user_id, webauthn_ceremonies::state))
    .get_result(conn)
    .await
    .optional()?)
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_passkey(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    (credential_id, passkey): (&[u8], &serde_json::Value),
    name: &str,
    (counter, backup_eligible, backup_state): (i64, bool, bool),
    now: DateTime<Utc>,
) -> Result<PasskeyRow, AppError> {
    Ok(diesel::insert_into(passkeys::table)
        .values((
            passkeys::user_id.eq(user_id),
            passkeys::credential_id.eq(credential_id),
            passkeys::passkey.eq(passkey),
            passkeys::name.eq(name),
            passkeys::counter.eq(counter),
            passkeys::backup_eligible.eq(backup_eligible),
            passkeys::backup_state.eq(backup_state),
            passkeys::created_at.eq(now),
        ))
        .returning(PasskeyRow::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn passkeys_of(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<Vec<PasskeyRow>, AppError> {
    Ok(passkeys::table
        .filter(passkeys::user_id.eq(user_id))
        .order(passkeys::id)
        .select(PasskeyRow::as_select())
        .load(conn)
        .await?)
}

/// The passkey with this credential id, locked until the transaction ends.
pub async fn lock_by_credential(
    conn: &mut AsyncPgConnection,
    credential_id: &[u8],
) -> Result<Option<PasskeyRow>, AppError> {
    Ok(passkeys::table
        .filter(passkeys::credential_id.eq(credential_id))
        .select(PasskeyRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// One of the user's passkeys, locked.
pub async fn lock_own(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    passkey_id: i64,
) -> Result<Option<PasskeyRow>, AppError> {
    Ok(passkeys::table
        .find(passkey_id)
        .filter(passkeys::user_id.eq(user_id))
        .select(PasskeyRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// After a use: the updated credential, counter and flags.
pub async fn record_use(
    conn: &mut AsyncPgConnection,
    passkey_id: i64,
    passkey: &serde_json::Value,
    (counter, backup_state): (i64, bool),
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::update(passkeys::table.find(passkey_id))
        .set((
            passkeys::passkey.eq(passkey),
            passkeys::counter.eq(counter),
            passkeys::backup_state.eq(backup_state),
            passkeys::last_used_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn mark_cloned(
    conn: &mut AsyncPgConnection,
    passkey_id: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::update(passkeys::table.find(passkey_id))
        .set(passkeys::possibly_cloned_at.eq(now))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn rename(
    conn: &mut AsyncPgConnection,
    passkey_id: i64,
    name: &str,
) -> Result<PasskeyRow, AppError> {
    Ok(diesel::update(passkeys::table.find(passkey_id))
        .set(passkeys::name.eq(name))
        .returning(PasskeyRow::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn delete(conn: &mut AsyncPgConnection, passkey_id: i64) -> Result<(), AppError> {
    diesel::delete(passkeys::table.find(passkey_id))
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes every passkey of the user (an account being erased).
pub async fn delete_all(conn: &mut AsyncPgConnection, user_id: i64) -> Result<usize, AppError> {
    Ok(
        diesel::delete(passkeys::table.filter(passkeys::user_id.eq(user_id)))
            .execute(conn)
            .await?,
    )
}
