//! Authentication: the viewer an access token or API token speaks for, checked against its
//! session or token row and the user's current permissions on every request. The transport only
//! finds the token (header, cookie, `connection_init`); everything after that is here.

use chrono::{DateTime, Duration, Utc};

use super::rules::token_permissions;
use super::store::{live_api_token, live_session, touch_api_token, touch_session};
use super::tokens::{API_TOKEN_PREFIX, digest};
use crate::App;
use crate::db;
use crate::error::AppError;
use crate::request::Viewer;

/// Sessions are marked as used at most this often, so most authenticated requests only read.
const TOUCH_INTERVAL: Duration = Duration::seconds(60);

/// The viewer an access token or API token speaks for at `now`, or `None` when the token is
/// invalid, expired or revoked (the request is then anonymous; resolvers that need a viewer
/// answer UNAUTHENTICATED).
pub async fn viewer(
    app: &App,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Viewer>, AppError> {
    if token.starts_with(API_TOKEN_PREFIX) {
        return api_token_viewer(app, token, now).await;
    }
    let Some(subject) = app.tokens.verify_access(token, now) else {
        return Ok(None);
    };
    let mut conn = db::conn(&app.pool).await?;
    let Some(session) = live_session(
        &mut conn,
        subject.user_id,
        subject.session_id,
        app.config.session_idle_secs,
        now,
    )
    .await?
    else {
        return Ok(None);
    };
    if now - session.last_seen_at > TOUCH_INTERVAL {
        touch_session(&mut conn, subject.session_id, now).await?;
    }
    let held = app
        .permission_sets
        .of(&mut conn, subject.user_id, session.rbac_epoch)
        .await?;
    Ok(Some(Viewer {
        user_id: subject.user_id,
        session_id: Some(subject.session_id),
        api_token_id: None,
        proved_at: Some(session.proved_at),
        permissions: held.permissions,
        budget: held.budget,
        days: session.user.days(),
        account: session.user,
    }))
}

/// An API token's viewer holds only the permissions the token was granted that its owner still
/// holds.
async fn api_token_viewer(
    app: &App,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Viewer>, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    let Some(live) = live_api_token(&mut conn, &digest(token), now).await? else {
        return Ok(None);
    };
    let stale = live
        .last_used_at
        .is_none_or(|used| now - used > TOUCH_INTERVAL);
    if stale {
        touch_api_token(&mut conn, live.token_id, now).await?;
    }
    let held = app
        .permission_sets
        .of(&mut conn, live.user.id, live.rbac_epoch)
        .await?;
    Ok(Some(Viewer {
        user_id: live.user.id,
        session_id: None,
        api_token_id: Some(live.token_id),
        proved_at: None,
        permissions: std::sync::Arc::new(token_permissions(live.granted, &held.permissions)),
        budget: crate::budgets::rules::tighter(held.budget, live.budget),
        days: live.user.days(),
        account: live.user,
    }))
}
