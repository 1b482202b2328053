//! Personal access tokens for scripts: made after re-authentication with permissions the maker
//! holds, at most so many live per user, listed and revoked.

use serde_json::json;

use super::model::{ApiToken, NewApiToken};
use super::recent::Reauth;
use super::rules::{api_token_lifetime, api_token_name, api_token_permissions};
use super::store;
use super::tokens::{digest, new_api_token};
use crate::App;
use crate::audit::{Event, action, audited};
use crate::db;
use crate::error::AppError;
use crate::mail::{store as outbox, templates};
use crate::request::RequestInfo;

/// What someone asks a new token to be.
pub struct TokenRequest<'a> {
    pub name: &'a str,
    pub permissions: &'a [String],
    pub expires_in_days: Option<i32>,
}

/// Creates an API token for `user_id`, who `holds` some permissions and proves who they are:
/// its secret (shown once) and its row. Mails the owner a notice.
pub async fn create(
    app: &App,
    origin: &RequestInfo,
    (user_id, holds): (i64, impl Fn(&str) -> bool),
    request: TokenRequest<'_>,
    reauth: Reauth<'_>,
) -> Result<(String, ApiToken), AppError> {
    let name = api_token_name(request.name)?;
    let lifetime = api_token_lifetime(request.expires_in_days)?;
    let granted = api_token_permissions(request.permissions)?;
    let mut conn = db::conn(&app.pool).await?;
    let unknown = store::unknown_permissions(&mut conn, &granted).await?;
    drop(conn);
    if !unknown.is_empty() {
        return Err(AppError::bad_input(
            "permissions",
            format!("Unknown permissions: {}", unknown.join(", ")),
        ));
    }
    if let Some(missing) = granted.iter().find(|name| !holds(name)) {
        return Err(AppError::bad_input(
            "permissions",
            format!("You do not hold {missing}"),
        ));
    }
    reauth.check(app, origin).await?;
    let token = new_api_token();
    let token_hash = digest(&token);
    let now = app.clock.now();
    let new = NewApiToken {
        user_id,
        name: &name,
        permissions: &granted,
        expires_at: lifetime.map(|lifetime| now + lifetime),
        token_hash: &token_hash,
    };
    let cap = app.config.max_api_tokens_per_user;
    let mut conn = db::conn(&app.pool).await?;
    let api_token = audited(&mut conn, origin, now, async |conn| {
        let api_token = store::create_api_token(conn, &new, cap, now).await?;
        outbox::enqueue_for_user(
            conn,
            user_id,
            |email, username| templates::api_token_created(email, username, &name),
            now,
        )
        .await?;
        let event = Event::new(action::API_TOKEN_CREATE, Some(user_id))
            .target("api_token", api_token.id)
            .meta(json!({ "name": api_token.name, "permissions": api_token.permissions }));
        Ok((api_token, event))
    })
    .await?;
    app.outbox_wakeup.notify_one();
    Ok((token, api_token))
}

/// A page of the user's API tokens, newest first, revoked ones included.
pub async fn list(
    app: &App,
    user_id: i64,
    (after_id, limit): (Option<i64>, i64),
) -> Result<(Vec<ApiToken>, i64), AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::list_api_tokens(&mut conn, user_id, after_id, limit).await
}

/// Revokes one of the user's tokens (`NOT_FOUND` if it is not theirs or revoked already).
pub async fn revoke(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    token_id: i64,
) -> Result<ApiToken, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        let api_token = store::revoke_api_token(conn, user_id, token_id, now)
            .await?
            .ok_or_else(|| AppError::not_found("API token", token_id))?;
        let event = Event::new(action::API_TOKEN_REVOKE, Some(user_id))
            .target("api_token", api_token.id)
            .meta(json!({ "name": api_token.name }));
        Ok((api_token, event))
    })
    .await
}
