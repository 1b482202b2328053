//! The deletes the cleanup job runs, one conditional DELETE each, on the tables whose rows end.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{
    account_tokens, email_outbox, mfa_challenges, oidc_flows, oidc_pending_links, rate_events,
    sessions, webauthn_ceremonies,
};
use crate::error::AppError;

/// Sessions that expired or were revoked before `before`. Rows deleted.
pub async fn delete_ended_sessions(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
) -> Result<usize, AppError> {
    // Two statements: the pool's generic plan for one `expires_at < $1 OR revoked_at < $2`
    // scans the whole table, where each range alone is read from its index.
    let expired = diesel::delete(sessions::table.filter(sessions::expires_at.lt(before)))
        .execute(conn)
        .await?;
    let revoked = diesel::delete(sessions::table.filter(sessions::revoked_at.lt(before)))
        .execute(conn)
        .await?;
    Ok(expired + revoked)
}

/// Login challenges, emailed tokens, counted attempts, provider sign-ins and pending links that
/// ended before `before`.
pub async fn delete_spent_tokens_and_counters(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
) -> Result<usize, AppError> {
    let challenges =
        diesel::delete(mfa_challenges::table.filter(mfa_challenges::expires_at.lt(before)))
            .execute(conn)
            .await?;
    let tokens =
        diesel::delete(account_tokens::table.filter(account_tokens::expires_at.lt(before)))
            .execute(conn)
            .await?;
    let counters = diesel::delete(rate_events::table.filter(rate_events::at.lt(before)))
        .execute(conn)
        .await?;
    let flows = diesel::delete(oidc_flows::table.filter(oidc_flows::expires_at.lt(before)))
        .execute(conn)
        .await?;
    let links =
        diesel::delete(oidc_pending_links::table.filter(oidc_pending_links::expires_at.lt(before)))
            .execute(conn)
            .await?;
    let ceremonies = diesel::delete(
        webauthn_ceremonies::table.filter(webauthn_ceremonies::expires_at.lt(before)),
    )
    .execute(conn)
    .await?;
    Ok(challenges + tokens + counters + flows + links + ceremonies)
}

/// Mail delivered before `before`.
pub async fn delete_sent_mail(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
) -> Result<usize, AppError> {
    Ok(
        diesel::delete(email_outbox::table.filter(email_outbox::sent_at.lt(before)))
            .execute(conn)
            .await?,
    )
}
