//! A session after sign-in: listed, refreshed with its single-use refresh token, ended one at
//! a time or all at once.

use serde_json::json;

use super::model::Session;
use super::sign_in::{SignedIn, signed_in};
use super::store::{self, Presented, Rotation};
use super::tokens::digest;
use crate::App;
use crate::accounts::store as accounts;
use crate::audit::{Event, action, audited};
use crate::config::REFRESH_REUSE_GRACE;
use crate::db;
use crate::error::AppError;
use crate::request::RequestInfo;

/// What presenting a refresh token led to.
pub enum Refresh {
    Renewed(Box<SignedIn>),
    /// A token already rotated came back after the grace period: its session is revoked.
    Reused,
}

/// Exchanges a refresh token (`presented`, or else the refresh cookie) for new tokens.
pub async fn refresh(
    app: &App,
    origin: &RequestInfo,
    presented: Option<String>,
) -> Result<Refresh, AppError> {
    let presented = presented
        .or_else(|| origin.refresh_cookie.clone())
        .ok_or_else(|| AppError::bad_input("refreshToken", "No refresh token given"))?;
    let now = app.clock.now();
    let successor = app.tokens.successor_refresh_token(&presented);
    let (presented_hash, successor_hash) = (digest(&presented), digest(&successor));
    let mut conn = db::conn(&app.pool).await?;
    let rotation = audited(&mut conn, origin, now, async |conn| {
        let presented = Presented {
            hash: &presented_hash,
            successor_hash: &successor_hash,
            idle_secs: app.config.session_idle_secs,
            grace: REFRESH_REUSE_GRACE,
        };
        let rotation = store::rotate_refresh_token(conn, presented, now).await?;
        let event = match rotation {
            Rotation::ReuseDetected {
                user_id,
                session_id,
            } => {
                Some(Event::new(action::REFRESH_REUSE, Some(user_id)).target("session", session_id))
            }
            _ => None,
        };
        Ok((rotation, event))
    })
    .await?;
    match rotation {
        Rotation::Rotated {
            user_id,
            session_id,
            session_expires_at,
        } => {
            let user = accounts::find_by_id(&mut conn, user_id).await?;
            let renewed = signed_in(app, user, session_id, successor, session_expires_at)?;
            Ok(Refresh::Renewed(Box::new(renewed)))
        }
        Rotation::ReuseDetected { .. } => {
            tracing::warn!("refresh token reuse detected; session revoked");
            Ok(Refresh::Reused)
        }
        Rotation::Invalid => Err(AppError::Unauthenticated),
    }
}

/// A page of the user's live sessions, newest first, and how many there are in all.
pub async fn list(
    app: &App,
    user_id: i64,
    page: (Option<i64>, i64),
) -> Result<(Vec<Session>, i64), AppError> {
    let mut conn = db::conn(&app.pool).await?;
    let idle_secs = app.config.session_idle_secs;
    store::list_live_sessions(&mut conn, user_id, idle_secs, app.clock.now(), page).await
}

/// Ends the caller's session; how many ended (0 when it had ended already). A request with an
/// API token has no session to end.
pub async fn logout(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    session_id: Option<i64>,
) -> Result<usize, AppError> {
    let session_id = session_id.ok_or_else(|| {
        AppError::bad_input(
            "authorization",
            "API tokens have no session; revoke them with revokeApiToken",
        )
    })?;
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        let revoked = store::revoke_session(conn, user_id, session_id, now).await?;
        let event = Event::new(action::LOGOUT, Some(user_id)).target("session", session_id);
        Ok((usize::from(revoked.is_some()), event))
    })
    .await
}

/// Ends every session of the user; how many.
pub async fn logout_all(app: &App, origin: &RequestInfo, user_id: i64) -> Result<usize, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        let revoked = store::revoke_all_sessions(conn, user_id, None, now).await?;
        let event = Event::new(action::LOGOUT_ALL, Some(user_id))
            .target("user", user_id)
            .meta(json!({ "sessionsRevoked": revoked }));
        Ok((revoked, event))
    })
    .await
}

/// Ends one of the user's sessions (`NOT_FOUND` if it is not theirs or ended already).
pub async fn revoke(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    session_id: i64,
) -> Result<Session, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        let session = store::revoke_session(conn, user_id, session_id, now)
            .await?
            .ok_or_else(|| AppError::not_found("Session", session_id))?;
        let event = Event::new(action::SESSION_REVOKE, Some(user_id)).target("session", session.id);
        Ok((session, event))
    })
    .await
}
