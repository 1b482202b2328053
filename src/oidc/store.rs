//! Provider identities, begun flows and pending links in the database. Secrets that travel in
//! URLs (the state, the link token) and the browser binding are stored as digests.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{Flow, Identity, NewFlow, PendingLink, identity_in_use};
use crate::db::schema::{oidc_flows, oidc_pending_links, user_identities};
use crate::error::{AppError, violated_unique_constraint};

pub async fn insert_flow(conn: &mut AsyncPgConnection, flow: &NewFlow<'_>) -> Result<(), AppError> {
    diesel::insert_into(oidc_flows::table)
        .values(flow)
        .execute(conn)
        .await?;
    Ok(())
}

/// Spends the live flow with this state begun by this browser: `None` when there is none (an
/// unknown, used or expired state, or another browser's). One statement, so a state replayed
/// in parallel is spent once.
pub async fn take_flow(
    conn: &mut AsyncPgConnection,
    (state_hash, browser_hash): (&[u8], &[u8]),
    now: DateTime<Utc>,
) -> Result<Option<Flow>, AppError> {
    Ok(diesel::update(
        oidc_flows::table
            .filter(oidc_flows::state_hash.eq(state_hash))
            .filter(oidc_flows::browser_hash.eq(browser_hash))
            .filter(oidc_flows::used_at.is_null())
            .filter(oidc_flows::expires_at.gt(now)),
    )
    .set(oidc_flows::used_at.eq(now))
    .returning(Flow::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}

/// The user this provider identity signs in as, if it is linked.
pub async fn find_identity(
    conn: &mut AsyncPgConnection,
    provider: &str,
    subject: &str,
) -> Result<Option<Identity>, AppError> {
    Ok(user_identities::table
        .filter(user_identities::provider.eq(provider))
        .filter(user_identities::subject.eq(subject))
        .select(Identity::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn touch_identity(
    conn: &mut AsyncPgConnection,
    identity_id: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::update(user_identities::table.find(identity_id))
        .set(user_identities::last_used_at.eq(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Links the identity to `user_id`; `CONFLICT` (`IDENTITY_IN_USE`) when it already signs in
/// as someone.
pub async fn link(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    (provider, subject, email): (&str, &str, Option<&str>),
    now: DateTime<Utc>,
) -> Result<Identity, AppError> {
    diesel::insert_into(user_identities::table)
        .values((
            user_identities::user_id.eq(user_id),
            user_identities::provider.eq(provider),
            user_identities::subject.eq(subject),
            user_identities::email.eq(email),
            user_identities::created_at.eq(now),
            user_identities::last_used_at.eq(now),
        ))
        .returning(Identity::as_returning())
        .get_result(conn)
        .await
        .map_err(|error| match violated_unique_constraint(&error) {
            Some(_) => identity_in_use(),
            None => error.into(),
        })
}

/// The identities of each of `user_ids`, oldest first.
pub async fn identities_of_users(
    conn: &mut AsyncPgConnection,
    user_ids: &[i64],
) -> Result<Vec<Identity>, AppError> {
    Ok(user_identities::table
        .filter(user_identities::user_id.eq_any(user_ids))
        .order(user_identities::id)
        .select(Identity::as_select())
        .load(conn)
        .await?)
}

pub async fn find_identity_by_id(
    conn: &mut AsyncPgConnection,
    identity_id: i64,
) -> Result<Option<Identity>, AppError> {
    Ok(user_identities::table
        .find(identity_id)
        .select(Identity::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn delete_identity(
    conn: &mut AsyncPgConnection,
    identity_id: i64,
) -> Result<(), AppError> {
    diesel::delete(user_identities::table.find(identity_id))
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets every identity of the user (an account being erased).
pub async fn delete_identities_of(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<usize, AppError> {
    Ok(
        diesel::delete(user_identities::table.filter(user_identities::user_id.eq(user_id)))
            .execute(conn)
            .await?,
    )
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_pending_link(
    conn: &mut AsyncPgConnection,
    (token_hash, browser_hash): (&[u8], &[u8]),
    user_id: i64,
    (provider, subject, email): (&str, &str, Option<&str>),
    (now, expires_at): (DateTime<Utc>, DateTime<Utc>),
) -> Result<(), AppError> {
    diesel::insert_into(oidc_pending_links::table)
        .values((
            oidc_pending_links::token_hash.eq(token_hash),
            oidc_pending_links::browser_hash.eq(browser_hash),
            oidc_pending_links::user_id.eq(user_id),
            oidc_pending_links::provider.eq(provider),
            oidc_pending_links::subject.eq(subject),
            oidc_pending_links::email.eq(email),
            oidc_pending_links::created_at.eq(now),
            oidc_pending_links::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The live pending link with this token, made in this browser.
pub async fn find_pending_link(
    conn: &mut AsyncPgConnection,
    (token_hash, browser_hash): (&[u8], &[u8]),
    now: DateTime<Utc>,
) -> Result<Option<PendingLink>, AppError> {
    Ok(oidc_pending_links::table
        .filter(oidc_pending_links::token_hash.eq(token_hash))
        .filter(oidc_pending_links::browser_hash.eq(browser_hash))
        .filter(oidc_pending_links::used_at.is_null())
        .filter(oidc_pending_links::expires_at.gt(now))
        .select(PendingLink::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Spends a pending link; false when another request spent it first.
pub async fn spend_pending_link(
    conn: &mut AsyncPgConnection,
    link_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let spent = diesel::update(
        oidc_pending_links::table
            .find(link_id)
            .filter(oidc_pending_links::used_at.is_null()),
    )
    .set(oidc_pending_links::used_at.eq(now))
    .execute(conn)
    .await?;
    Ok(spent == 1)
}
