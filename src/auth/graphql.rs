use async_graphql::{Context, ID, InputObject, Object, SimpleObject, Union};
use chrono::{DateTime, Utc};

use super::cookies::{clear_auth_cookies, set_auth_cookies};
use super::credentials::{Keep, renew_session, replace_password, session_lifetime};
use super::mfa::graphql::reauthenticate;
use super::model::{ApiToken, ClientInfo, Session};
use super::rules::{
    account_key, api_token_lifetime, api_token_name, api_token_permissions, check_new_password,
    presented_password, sign_in_key,
};
use super::store::{self, Rotation};
use super::tokens::{AccessSubject, new_api_token, new_refresh_token};
use crate::mail::{store as outbox, templates};
use crate::ratelimit::Guarded;
use serde_json::json;

use crate::accounts::model::User;
use crate::accounts::rules::MAX_EMAIL_CHARS;
use crate::accounts::store as accounts;
use crate::audit::{Event, action, store::record};
use crate::config::REFRESH_REUSE_GRACE;
use crate::db;
use crate::error::AppError;
use crate::graphql::connection::{CountedConnection, Page, connection};
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::perm;

pub struct SessionNode {
    session: Session,
    current: bool,
}

/// A signed-in session of the current user.
#[Object(name = "Session")]
impl SessionNode {
    /// The session's id, for `revokeSession`.
    async fn id(&self) -> ID {
        ID(self.session.id.to_string())
    }
    /// When the user signed in.
    async fn created_at(&self) -> DateTime<Utc> {
        self.session.created_at
    }
    /// When the session was last used, to the minute; by default it ends after 7 days unused.
    async fn last_seen_at(&self) -> DateTime<Utc> {
        self.session.last_seen_at
    }
    /// When the session ends at the latest, however much it is used.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.session.expires_at
    }
    /// Client address at sign-in.
    async fn ip_address(&self) -> Option<&str> {
        self.session.ip.as_deref()
    }
    /// The browser or program that signed in, as it named itself.
    async fn user_agent(&self) -> Option<&str> {
        self.session.user_agent.as_deref()
    }
    /// Whether this is the session making the request.
    async fn current(&self) -> bool {
        self.current
    }
}

/// A personal access token for scripts. The secret is shown once, by `createApiToken`.
#[Object(name = "ApiToken")]
impl ApiToken {
    /// The token's id, for `revokeApiToken`.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// The label given at creation.
    async fn name(&self) -> &str {
        &self.name
    }
    /// What the token may do: these permissions, as far as its owner still holds them.
    async fn permissions(&self) -> &[String] {
        &self.permissions
    }
    /// When the token was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// When the token stops working; null if it does not expire.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
    /// Updated at most once a minute.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.last_used_at
    }
    /// When the token was revoked; null while it is not.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.revoked_at
    }
}

/// A new API token for `createApiToken`.
#[derive(InputObject)]
pub struct CreateApiTokenInput {
    /// A label to recognise the token by.
    pub name: String,
    /// Permission names the token may use, 1 to 100 of them; each must be one the caller
    /// holds.
    pub permissions: Vec<String>,
    /// Days until it expires (1–3650); omitted, it does not expire.
    pub expires_in_days: Option<i32>,
    /// The caller's password, as re-authentication.
    pub password: String,
    /// With 2FA on: a current code, or else `recoveryCode`.
    pub code: Option<String>,
    /// With 2FA on and no `code`: one of the user's unused recovery codes.
    pub recovery_code: Option<String>,
}

/// The result of `createApiToken`.
#[derive(SimpleObject)]
pub struct CreateApiTokenPayload {
    /// The secret, `agora_pat_...`, for `Authorization: Bearer`. Shown only here, only once.
    pub token: String,
    /// The new token's details (everything but the secret).
    pub api_token: ApiToken,
}

/// Which token `revokeApiToken` revokes.
#[derive(InputObject)]
pub struct RevokeApiTokenInput {
    /// One of the caller's API tokens (`NOT_FOUND` otherwise, or when it is revoked already).
    pub id: ID,
}

/// The result of `revokeApiToken`.
#[derive(SimpleObject)]
pub struct RevokeApiTokenPayload {
    /// The token, now revoked.
    pub api_token: ApiToken,
}

/// Tokens for a session. Browser clients may ignore them: the same tokens are set as HttpOnly
/// cookies.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Bearer token for the `Authorization` header; short-lived.
    pub access_token: String,
    /// When the access token stops working (15 minutes after issue by default); refresh
    /// before then.
    pub access_token_expires_at: DateTime<Utc>,
    /// Single-use token for `refreshSession`.
    pub refresh_token: String,
    /// When the session ends at the latest (30 days after sign-in by default); it ends sooner
    /// after 7 days without use.
    pub refresh_token_expires_at: DateTime<Utc>,
    /// The signed-in user.
    pub user: User,
}

/// What `login` answers: a session, or the second step when 2FA is on.
#[derive(Union)]
pub enum LoginResult {
    AuthPayload(Box<AuthPayload>),
    MfaChallenge(super::mfa::graphql::MfaChallenge),
}

/// Credentials for `login`.
#[derive(InputObject)]
pub struct LoginInput {
    /// Username (any case) or email address, at most 254 characters.
    pub login: String,
    /// The account's password.
    pub password: String,
}

/// The refresh token for `refreshSession`.
#[derive(InputObject, Default)]
pub struct RefreshSessionInput {
    /// The refresh token; may be omitted when it comes as the refresh cookie
    /// (`__Host-agora_refresh`, or `agora_refresh` where cookies are not Secure).
    pub refresh_token: Option<String>,
}

/// Which session `revokeSession` ends.
#[derive(InputObject)]
pub struct RevokeSessionInput {
    /// One of the caller's sessions (`NOT_FOUND` if it is not theirs or was revoked already).
    pub id: ID,
}

/// The passwords for `changePassword`, and a second factor when 2FA is on.
#[derive(InputObject)]
pub struct ChangePasswordInput {
    /// The password in use now (`BAD_USER_INPUT` if it is wrong).
    pub current_password: String,
    /// 8–256 characters; common passwords are refused.
    pub new_password: String,
    /// With 2FA on: a current code, or else `recoveryCode`.
    pub code: Option<String>,
    /// With 2FA on and no `code`: one of the user's unused recovery codes.
    pub recovery_code: Option<String>,
    /// Keep the API tokens working. By default a new password revokes them: a token made
    /// by whoever knew the old password should not outlive it.
    #[graphql(default)]
    pub keep_api_tokens: bool,
}

/// The result of `logout` or `logoutAll`.
#[derive(SimpleObject)]
pub struct LogoutPayload {
    /// How many sessions were ended.
    pub sessions_revoked: i32,
}

/// The result of `revokeSession`.
#[derive(SimpleObject)]
pub struct RevokeSessionPayload {
    /// The session, now ended.
    pub session: SessionNode,
}

/// The result of `changePassword`.
#[derive(SimpleObject)]
pub struct ChangePasswordPayload {
    /// The signed-in user.
    pub user: User,
    /// The user's other sessions, now signed out.
    pub sessions_revoked: i32,
    /// The user's API tokens, now revoked (0 with `keepApiTokens`).
    pub api_tokens_revoked: i32,
    /// The changing session under its new id, with new tokens; null when the change came
    /// with an API token, which has no session.
    pub session: Option<AuthPayload>,
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The current user's live sessions, newest first.
    #[graphql(
        guard = "Permission(perm::SESSIONS_MANAGE)",
        complexity = "crate::graphql::page_cost(first, child_complexity)"
    )]
    async fn my_sessions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge already seen.")] after: Option<String>,
    ) -> async_graphql::Result<CountedConnection<SessionNode>> {
        let viewer = ctx.viewer()?;
        let page = Page::parse(first, after.as_deref())?;
        let app = ctx.app();
        let mut conn = db::conn(&app.pool).await?;
        let (rows, total) = store::list_live_sessions(
            &mut conn,
            viewer.user_id,
            app.config.session_idle_secs,
            page.after_id,
            page.fetch_limit(),
        )
        .await?;
        Ok(connection(
            rows,
            page,
            total,
            |session| session.id,
            |session| SessionNode {
                current: Some(session.id) == viewer.session_id,
                session,
            },
        ))
    }

    /// The current user's API tokens, newest first, revoked ones included.
    #[graphql(
        guard = "Permission(perm::API_TOKENS_MANAGE)",
        complexity = "crate::graphql::page_cost(first, child_complexity)"
    )]
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge already seen.")] after: Option<String>,
    ) -> async_graphql::Result<CountedConnection<ApiToken>> {
        let viewer = ctx.viewer()?;
        let page = Page::parse(first, after.as_deref())?;
        let mut conn = db::conn(&ctx.app().pool).await?;
        let (rows, total) =
            store::list_api_tokens(&mut conn, viewer.user_id, page.after_id, page.fetch_limit())
                .await?;
        Ok(connection(
            rows,
            page,
            total,
            |token| token.id,
            |token| token,
        ))
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Signs in with a username or email and a password. Unknown user, wrong password and
    /// disabled account all answer the same `UNAUTHENTICATED` "Invalid credentials". With 2FA
    /// on, the answer is an `MfaChallenge` for `verifyMfa` instead of a session.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Who signs in, and their password.")] input: LoginInput,
    ) -> async_graphql::Result<LoginResult> {
        let app = ctx.app();
        let address = ctx.request_info().ip.clone().unwrap_or_default();
        let login = crate::text::term("login", &input.login, MAX_EMAIL_CHARS)?;
        let password = presented_password("password", &input.password)?;
        app.limits
            .check(Guarded::LoginFromAddress, &address)
            .await?;
        let mut conn = db::conn(&app.pool).await?;
        let found = accounts::find_for_login(&mut conn, &login).await?;
        // Release the connection while hashing: argon2 takes far longer than the query.
        drop(conn);
        let account_key = sign_in_key(found.as_ref().map(|(user, _)| user.id), &login);
        app.limits
            .check(Guarded::LoginToAccount, &account_key)
            .await?;
        let (user, stored_hash) = found.unzip();
        let password_ok = app.passwords.verify(password, stored_hash).await?;
        let origin = ctx.request_info();
        let user = match user {
            Some(user) if password_ok && user.is_active => user,
            known_or_not => {
                // Same row shape whether or not the account exists; only its owner (the
                // target) and auditors can read it.
                let mut event = Event::new(action::LOGIN_FAILED, None)
                    .meta(json!({ "login": login.chars().take(100).collect::<String>() }));
                if let Some(user) = known_or_not {
                    event = event.target("user", user.id);
                }
                let mut conn = db::conn(&app.pool).await?;
                record(&mut conn, origin, event).await?;
                return Err(AppError::InvalidCredentials.into());
            }
        };
        app.limits
            .forgive(Guarded::LoginToAccount, &account_key)
            .await;
        if let Some(challenge) = super::mfa::graphql::challenge_if_enabled(ctx, user.id).await? {
            return Ok(LoginResult::MfaChallenge(challenge));
        }
        open_signed_in_session(ctx, user.id, json!({ "factors": ["password"] }))
            .await
            .map(|payload| LoginResult::AuthPayload(Box::new(payload)))
    }

    /// Exchanges a refresh token (argument or cookie) for new tokens. Each refresh token works
    /// once; presenting a used one again after a short grace period revokes the whole session.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "The refresh token; omit it to use the cookie.")]
        input: RefreshSessionInput,
    ) -> async_graphql::Result<AuthPayload> {
        let app = ctx.app();
        let presented = input
            .refresh_token
            .or_else(|| ctx.request_info().refresh_cookie.clone())
            .ok_or_else(|| AppError::bad_input("refreshToken", "No refresh token given"))?;
        let origin = ctx.request_info();
        let mut conn = db::conn(&app.pool).await?;
        let rotation = crate::db::transaction(&mut conn, async |conn| {
            let rotation = store::rotate_refresh_token(
                conn,
                &app.tokens,
                &presented,
                app.config.session_idle_secs,
                REFRESH_REUSE_GRACE,
            )
            .await?;
            if let Rotation::ReuseDetected {
                user_id,
                session_id,
            } = rotation
            {
                let event =
                    Event::new(action::REFRESH_REUSE, Some(user_id)).target("session", session_id);
                record(conn, origin, event).await?;
            }
            Ok(rotation)
        })
        .await?;
        match rotation {
            Rotation::Rotated {
                user_id,
                session_id,
                successor,
                session_expires_at,
            } => {
                let user = accounts::find_by_id(&mut conn, user_id).await?;
                issue_tokens(ctx, user, session_id, successor, session_expires_at)
            }
            Rotation::ReuseDetected { .. } => {
                tracing::warn!("refresh token reuse detected; session revoked");
                clear_auth_cookies(ctx, &app.config);
                Err(AppError::Unauthenticated.into())
            }
            Rotation::Invalid => Err(AppError::Unauthenticated.into()),
        }
    }

    /// Ends the current session.
    async fn logout(&self, ctx: &Context<'_>) -> async_graphql::Result<LogoutPayload> {
        let viewer = ctx.viewer()?;
        let session_id = viewer.session_id.ok_or_else(|| {
            AppError::bad_input(
                "authorization",
                "API tokens have no session; revoke them with revokeApiToken",
            )
        })?;
        let app = ctx.app();
        let mut conn = db::conn(&app.pool).await?;
        let revoked = crate::db::transaction(&mut conn, async |conn| {
            let revoked = store::revoke_session(conn, viewer.user_id, session_id).await?;
            let event =
                Event::new(action::LOGOUT, Some(viewer.user_id)).target("session", session_id);
            record(conn, ctx.request_info(), event).await?;
            Ok(revoked)
        })
        .await?;
        clear_auth_cookies(ctx, &app.config);
        Ok(LogoutPayload {
            sessions_revoked: i32::from(revoked.is_some()),
        })
    }

    /// Ends every session of the current user, this one included.
    #[graphql(guard = "Permission(perm::SESSIONS_MANAGE)")]
    async fn logout_all(&self, ctx: &Context<'_>) -> async_graphql::Result<LogoutPayload> {
        let viewer = ctx.viewer()?;
        let app = ctx.app();
        let mut conn = db::conn(&app.pool).await?;
        let revoked = crate::db::transaction(&mut conn, async |conn| {
            let revoked = store::revoke_all_sessions(conn, viewer.user_id, None).await?;
            let event = Event::new(action::LOGOUT_ALL, Some(viewer.user_id))
                .target("user", viewer.user_id)
                .meta(json!({ "sessionsRevoked": revoked }));
            record(conn, ctx.request_info(), event).await?;
            Ok(revoked)
        })
        .await?;
        clear_auth_cookies(ctx, &app.config);
        Ok(LogoutPayload {
            sessions_revoked: count(revoked),
        })
    }

    /// Ends one of the current user's sessions.
    #[graphql(guard = "Permission(perm::SESSIONS_MANAGE)")]
    async fn revoke_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session to end.")] input: RevokeSessionInput,
    ) -> async_graphql::Result<RevokeSessionPayload> {
        let viewer = ctx.viewer()?;
        let session_id = parse_id("id", &input.id)?;
        let app = ctx.app();
        let mut conn = db::conn(&app.pool).await?;
        let session = crate::db::transaction(&mut conn, async |conn| {
            let session = store::revoke_session(conn, viewer.user_id, session_id)
                .await?
                .ok_or(AppError::NotFound("Session"))?;
            let event = Event::new(action::SESSION_REVOKE, Some(viewer.user_id))
                .target("session", session.id);
            record(conn, ctx.request_info(), event).await?;
            Ok(session)
        })
        .await?;
        let current = Some(session.id) == viewer.session_id;
        if current {
            clear_auth_cookies(ctx, &app.config);
        }
        Ok(RevokeSessionPayload {
            session: SessionNode { session, current },
        })
    }

    /// Sets a new password after checking the current one. Every other session is signed out,
    /// the API tokens are revoked unless `keepApiTokens`, and the session making the change
    /// moves to a new id: its old access and refresh tokens stop working, and `session` holds
    /// the new ones (also set as cookies). A notice is mailed.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The current and the new password.")] input: ChangePasswordInput,
    ) -> async_graphql::Result<ChangePasswordPayload> {
        let viewer = ctx.viewer()?;
        let app = ctx.app();
        let account = &viewer.account;
        let new_password =
            check_new_password(&input.new_password, &[&account.username, &account.email])
                .map_err(|problem| AppError::bad_input("newPassword", problem.message()))?;
        reauthenticate(
            ctx,
            viewer.user_id,
            ("currentPassword", &input.current_password),
            input.code,
            input.recovery_code,
        )
        .await?;
        let new_hash = app.passwords.hash(new_password).await?;
        let (user_id, origin, now) = (viewer.user_id, ctx.request_info(), app.clock.now());
        let keep = Keep {
            session: viewer.session_id,
            api_tokens: input.keep_api_tokens,
        };
        let client = ClientInfo {
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.clone(),
        };
        let refresh_token = new_refresh_token();
        let mut conn = db::conn(&app.pool).await?;
        let (user, ended, renewed) = crate::db::transaction(&mut conn, async |conn| {
            let change = (origin, action::PASSWORD_CHANGE);
            let ended = replace_password(conn, user_id, &new_hash, keep, change, now).await?;
            let renewed = match keep.session {
                Some(old) => Some(
                    renew_session(conn, &app.config, (user_id, old), &client, &refresh_token)
                        .await?,
                ),
                None => None,
            };
            Ok((accounts::find_by_id(conn, user_id).await?, ended, renewed))
        })
        .await?;
        app.outbox_wakeup.notify_one();
        let session = renewed
            .map(|session| {
                issue_tokens(
                    ctx,
                    user.clone(),
                    session.id,
                    refresh_token,
                    session.expires_at,
                )
            })
            .transpose()?;
        Ok(ChangePasswordPayload {
            user,
            sessions_revoked: count(ended.sessions),
            api_tokens_revoked: count(ended.api_tokens),
            session,
        })
    }

    /// Creates an API token for scripts, after checking the caller's password. It may use only
    /// permissions the caller holds. A user with as many live tokens as allowed (50 by default;
    /// revoked and expired ones do not count) gets `CONFLICT` with reason `LIMIT_REACHED`.
    #[graphql(guard = "Permission(perm::API_TOKENS_MANAGE)")]
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token's name, permissions and lifetime, and re-authentication.")]
        input: CreateApiTokenInput,
    ) -> async_graphql::Result<CreateApiTokenPayload> {
        let viewer = ctx.viewer()?;
        let app = ctx.app();
        let name = api_token_name(&input.name)?;
        let lifetime = api_token_lifetime(input.expires_in_days)?;
        let granted = api_token_permissions(&input.permissions)?;
        let mut conn = db::conn(&app.pool).await?;
        let unknown = store::unknown_permissions(&mut conn, &granted).await?;
        if !unknown.is_empty() {
            return Err(AppError::bad_input(
                "permissions",
                format!("Unknown permissions: {}", unknown.join(", ")),
            )
            .into());
        }
        if let Some(missing) = granted.iter().find(|name| !viewer.can(name)) {
            return Err(
                AppError::bad_input("permissions", format!("You do not hold {missing}")).into(),
            );
        }
        drop(conn);
        reauthenticate(
            ctx,
            viewer.user_id,
            ("password", &input.password),
            input.code,
            input.recovery_code,
        )
        .await?;
        let token = new_api_token();
        let expires_at = lifetime.map(|lifetime| Utc::now() + lifetime);
        let (user_id, origin) = (viewer.user_id, ctx.request_info());
        let cap = app.config.max_api_tokens_per_user;
        let mut conn = db::conn(&app.pool).await?;
        let api_token = crate::db::transaction(&mut conn, async |conn| {
            let api_token =
                store::create_api_token(conn, user_id, &name, &granted, expires_at, &token, cap)
                    .await?;
            let event = Event::new(action::API_TOKEN_CREATE, Some(user_id))
                .target("api_token", api_token.id)
                .meta(json!({ "name": api_token.name, "permissions": api_token.permissions }));
            record(conn, origin, event).await?;
            outbox::enqueue_for_user(conn, user_id, |email, username| {
                templates::api_token_created(email, username, &name)
            })
            .await?;
            Ok(api_token)
        })
        .await?;
        app.outbox_wakeup.notify_one();
        Ok(CreateApiTokenPayload { token, api_token })
    }

    /// Revokes one of the current user's API tokens; it stops working at once.
    #[graphql(guard = "Permission(perm::API_TOKENS_MANAGE)")]
    async fn revoke_api_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token to revoke.")] input: RevokeApiTokenInput,
    ) -> async_graphql::Result<RevokeApiTokenPayload> {
        let token_id = parse_id("id", &input.id)?;
        let (user_id, origin) = (ctx.viewer()?.user_id, ctx.request_info());
        let mut conn = db::conn(&ctx.app().pool).await?;
        let api_token = crate::db::transaction(&mut conn, async |conn| {
            let api_token = store::revoke_api_token(conn, user_id, token_id)
                .await?
                .ok_or(AppError::NotFound("API token"))?;
            let event = Event::new(action::API_TOKEN_REVOKE, Some(user_id))
                .target("api_token", api_token.id)
                .meta(json!({ "name": api_token.name }));
            record(conn, origin, event).await?;
            Ok(api_token)
        })
        .await?;
        Ok(RevokeApiTokenPayload { api_token })
    }
}

/// Re-authentication: `BAD_USER_INPUT` on `field` unless `password` is the user's. It shares
/// the account's sign-in limit (`RATE_LIMITED`).
pub(crate) async fn check_password(
    ctx: &Context<'_>,
    user_id: i64,
    field: &'static str,
    password: &str,
) -> Result<(), AppError> {
    let app = ctx.app();
    let password = presented_password(field, password)?;
    // A stolen session must not become a way to guess the password faster than signing in.
    let budget = account_key(user_id);
    app.limits.check(Guarded::LoginToAccount, &budget).await?;
    let mut conn = db::conn(&app.pool).await?;
    let stored_hash = accounts::password_hash(&mut conn, user_id).await?;
    drop(conn);
    if !app.passwords.verify(password, Some(stored_hash)).await? {
        return Err(AppError::bad_input(field, "Password is incorrect"));
    }
    app.limits.forgive(Guarded::LoginToAccount, &budget).await;
    Ok(())
}

/// Opens a session for a user who has proven who they are, records the sign-in, and hands
/// out tokens (also as cookies).
pub(crate) async fn open_signed_in_session(
    ctx: &Context<'_>,
    user_id: i64,
    how: serde_json::Value,
) -> async_graphql::Result<AuthPayload> {
    let app = ctx.app();
    let origin = ctx.request_info();
    let refresh_token = new_refresh_token();
    let client = ClientInfo {
        ip: origin.ip.clone(),
        user_agent: origin.user_agent.clone(),
    };
    let lifetime = session_lifetime(&app.config);
    let mut conn = db::conn(&app.pool).await?;
    let (session, user) = crate::db::transaction(&mut conn, async |conn| {
        let session = store::open_session(conn, user_id, &client, lifetime, &refresh_token).await?;
        let event = Event::new(action::LOGIN, Some(user_id))
            .target("session", session.id)
            .meta(how.clone());
        record(conn, origin, event).await?;
        Ok((session, accounts::find_by_id(conn, user_id).await?))
    })
    .await?;
    issue_tokens(ctx, user, session.id, refresh_token, session.expires_at)
}

fn issue_tokens(
    ctx: &Context<'_>,
    user: User,
    session_id: i64,
    refresh_token: String,
    session_expires_at: DateTime<Utc>,
) -> async_graphql::Result<AuthPayload> {
    let app = ctx.app();
    ctx.acting_as(user.id);
    let access = app
        .tokens
        .issue_access(
            AccessSubject {
                user_id: user.id,
                session_id,
            },
            Utc::now(),
        )
        .map_err(AppError::Internal)?;
    set_auth_cookies(
        ctx,
        &app.config,
        (&access.token, access.expires_at),
        (&refresh_token, session_expires_at),
    );
    Ok(AuthPayload {
        access_token: access.token,
        access_token_expires_at: access.expires_at,
        refresh_token,
        refresh_token_expires_at: session_expires_at,
        user,
    })
}

fn count(rows: usize) -> i32 {
    i32::try_from(rows).unwrap_or(i32::MAX)
}
