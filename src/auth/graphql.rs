//! GraphQL for sessions and API tokens: sign-in, refresh, logout, password change, token
//! management. Each resolver reads its input, calls one flow of `auth`, and shapes the answer.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject, Union};
use chrono::{DateTime, Utc};

use super::api_tokens::{self, TokenRequest};
use super::credentials::change_password;
use super::model::{ApiToken, Session};
use super::payload::{
    AuthPayload, MfaChallenge, ReauthFactorInput, ReauthenticatePayload, RecentProofInput,
    clear_auth_cookies,
};
use super::recent::{self, Presented};
use super::session::{self, Refresh};
use super::sign_in::{self, LoginOutcome};
use crate::accounts::model::User;
use crate::budgets::loader::BudgetLoader;
use crate::budgets::model::{BudgetRow, Holder};
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
    /// When the user last proved who they are in this session: at sign-in, or since with
    /// `reauthenticate` or a password given with a sensitive change. Sensitive changes need a
    /// proof younger than `AGORA_REAUTH_WINDOW_SECS` (10 minutes by default).
    async fn proved_at(&self) -> DateTime<Utc> {
        self.session.proved_at
    }
    /// The factors of that proof, in the order given: `password`, `totp`, `recovery_code`,
    /// `passkey`, `oidc:<provider>`.
    async fn proved_with(&self) -> &[String] {
        &self.session.proved_by
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
    /// The token's own request budget (see `setRequestBudget`); its requests run under the
    /// tighter of this and its owner's. Null when it has none.
    async fn request_budget(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<BudgetRow>> {
        let loader = ctx.data_unchecked::<DataLoader<BudgetLoader>>();
        loader.load_one(Holder::ApiToken(self.id)).await
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
    #[graphql(flatten)]
    pub proof: RecentProofInput,
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

/// What `login` answers: a session, or the second step when 2FA is on.
#[derive(Union)]
pub enum LoginResult {
    AuthPayload(Box<AuthPayload>),
    MfaChallenge(MfaChallenge),
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
    #[graphql(flatten)]
    pub factor: ReauthFactorInput,
    /// Keep the API tokens working. By default a new password revokes them: a token made
    /// by whoever knew the old password should not outlive it.
    #[graphql(default)]
    pub keep_api_tokens: bool,
}

/// A new proof of who the signed-in user is, for `reauthenticate`: either the password (with
/// `code` or `recoveryCode` while 2FA is on), or a passkey's answer to
/// `beginPasskeyReauthentication`.
#[derive(InputObject)]
pub struct ReauthenticateInput {
    /// The account's password.
    pub password: Option<String>,
    #[graphql(flatten)]
    pub factor: ReauthFactorInput,
    /// Instead of the password: the ceremony `beginPasskeyReauthentication` began.
    pub passkey_ceremony_id: Option<String>,
    /// With `passkeyCeremonyId`: the `PublicKeyCredential` `navigator.credentials.get()`
    /// gave, as JSON.
    pub passkey_credential: Option<async_graphql::types::Json<serde_json::Value>>,
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
        let (rows, total) = session::list(
            ctx.app(),
            viewer.user_id,
            (page.after_id, page.fetch_limit()),
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
        let (rows, total) = api_tokens::list(
            ctx.app(),
            viewer.user_id,
            (page.after_id, page.fetch_limit()),
        )
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
        let outcome =
            sign_in::login(ctx.app(), ctx.request_info(), &input.login, &input.password).await?;
        Ok(match outcome {
            LoginOutcome::SignedIn(signed_in) => {
                LoginResult::AuthPayload(Box::new(AuthPayload::respond(ctx, *signed_in)))
            }
            LoginOutcome::Challenge(challenge) => LoginResult::MfaChallenge(challenge.into()),
        })
    }

    /// Exchanges a refresh token (argument or cookie) for new tokens. Each refresh token works
    /// once; presenting a used one again after a short grace period revokes the whole session.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(default, desc = "The refresh token; omit it to use the cookie.")]
        input: RefreshSessionInput,
    ) -> async_graphql::Result<AuthPayload> {
        match session::refresh(ctx.app(), ctx.request_info(), input.refresh_token).await? {
            Refresh::Renewed(renewed) => Ok(AuthPayload::respond(ctx, *renewed)),
            Refresh::Reused => {
                clear_auth_cookies(ctx);
                Err(AppError::Unauthenticated.into())
            }
        }
    }

    /// Ends the current session.
    async fn logout(&self, ctx: &Context<'_>) -> async_graphql::Result<LogoutPayload> {
        let viewer = ctx.viewer()?;
        let revoked = session::logout(
            ctx.app(),
            ctx.request_info(),
            viewer.user_id,
            viewer.session_id,
        )
        .await?;
        clear_auth_cookies(ctx);
        Ok(LogoutPayload {
            sessions_revoked: count(revoked),
        })
    }

    /// Ends every session of the current user, this one included.
    #[graphql(guard = "Permission(perm::SESSIONS_MANAGE)")]
    async fn logout_all(&self, ctx: &Context<'_>) -> async_graphql::Result<LogoutPayload> {
        let user_id = ctx.viewer()?.user_id;
        let revoked = session::logout_all(ctx.app(), ctx.request_info(), user_id).await?;
        clear_auth_cookies(ctx);
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
        let session =
            session::revoke(ctx.app(), ctx.request_info(), viewer.user_id, session_id).await?;
        let current = Some(session.id) == viewer.session_id;
        if current {
            clear_auth_cookies(ctx);
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
        let proof = input
            .factor
            .with_password("currentPassword", &input.current_password);
        let changed = change_password(
            ctx.app(),
            ctx.request_info(),
            (&viewer.account, viewer.session_id),
            &input.new_password,
            input.keep_api_tokens,
            proof,
        )
        .await?;
        Ok(ChangePasswordPayload {
            user: changed.user,
            sessions_revoked: count(changed.ended.sessions),
            api_tokens_revoked: count(changed.ended.api_tokens),
            session: changed
                .session
                .map(|renewed| AuthPayload::respond(ctx, renewed)),
        })
    }

    /// Proves again who the signed-in user is, without a new session: sensitive changes
    /// (address, 2FA, API tokens, passkeys, account deletion, role grants) need a
    /// proof younger than `AGORA_REAUTH_WINDOW_SECS` (10 minutes by default) and otherwise
    /// answer `FORBIDDEN` with reason `REAUTHENTICATION_REQUIRED`. Give the password (and, while
    /// 2FA is on, `code` or `recoveryCode`), or a passkey's answer; an account without a
    /// password may also prove itself with a linked provider (`beginOidcReauthentication`). A wrong answer is `BAD_USER_INPUT` on
    /// its field and counts against the account as at sign-in. Needs a session: API tokens
    /// give the password with each sensitive change instead.
    async fn reauthenticate(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The password (and second factor), or a passkey's answer.")]
        input: ReauthenticateInput,
    ) -> async_graphql::Result<ReauthenticatePayload> {
        let viewer = ctx.viewer()?;
        let presented = match (
            input.password.as_deref(),
            input.passkey_ceremony_id,
            input.passkey_credential,
        ) {
            (Some(password), None, None) => {
                Presented::Password(input.factor.with_password("password", password))
            }
            (None, Some(ceremony), Some(credential)) => Presented::Passkey {
                ceremony,
                credential: credential.0,
            },
            _ => {
                return Err(AppError::bad_input(
                    "password",
                    "Give either password or passkeyCeremonyId with passkeyCredential",
                )
                .into());
            }
        };
        let proved =
            recent::reauthenticate(ctx.app(), ctx.request_info(), viewer, presented).await?;
        Ok(proved.into())
    }

    /// Creates an API token for scripts, after a recent proof of who the caller is (their
    /// password, or a session that proved its user recently). It may use only
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
        let request = TokenRequest {
            name: &input.name,
            permissions: &input.permissions,
            expires_in_days: input.expires_in_days,
        };
        let reauth = input.proof.reauth(viewer);
        let holder = (viewer.user_id, |name: &str| viewer.can(name));
        let (token, api_token) =
            api_tokens::create(ctx.app(), ctx.request_info(), holder, request, reauth).await?;
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
        let user_id = ctx.viewer()?.user_id;
        let api_token =
            api_tokens::revoke(ctx.app(), ctx.request_info(), user_id, token_id).await?;
        Ok(RevokeApiTokenPayload { api_token })
    }
}

fn count(rows: usize) -> i32 {
    i32::try_from(rows).unwrap_or(i32::MAX)
}
