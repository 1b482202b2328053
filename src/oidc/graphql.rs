//! GraphQL for provider sign-in, for single-page apps and GraphiQL: the providers, a mutation
//! that returns the authorization URL (and sets the browser-binding cookie), completion with
//! the code (setting the same session cookies as `login`), the confirmation a pending link
//! needs, and linked identities for their owner and for administrators.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject, Union};
use chrono::{DateTime, Utc};

use super::model::Identity;
use super::{Begin, Outcome};
use crate::auth::cookies::oidc_cookie;
use crate::auth::payload::{AuthPayload, MfaChallenge, ReauthFactorInput, ReauthenticatePayload};
use crate::error::AppError;
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::perm;

/// A provider to offer a "Sign in with …" button for.
#[derive(SimpleObject)]
pub struct OidcProvider {
    /// For `beginOidcSignIn` and in linked identities.
    pub id: ID,
    /// What the button says: "Sign in with {displayName}".
    pub display_name: String,
}

/// An account at a provider, linked to an Agora user.
#[Object(name = "LinkedIdentity")]
impl Identity {
    /// For `unlinkIdentity` and `removeUserIdentity`.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// The provider's configured id.
    async fn provider(&self) -> &str {
        &self.provider
    }
    /// The address the provider gave when it was linked, if any.
    async fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
    /// When it was linked.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// The last sign-in with it.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.last_used_at
    }
}

/// Where `beginOidcSignIn` or `beginOidcLink` sends the browser.
#[derive(SimpleObject)]
pub struct OidcAuthorization {
    /// Navigate the window here (not a pop-up, not a fetch).
    pub authorization_url: String,
    /// The sign-in must come back before then (ten minutes).
    pub expires_at: DateTime<Utc>,
}

/// Which provider to sign in with, and where the browser goes afterwards.
#[derive(InputObject)]
pub struct BeginOidcInput {
    /// One of `oidcProviders`.
    pub provider: ID,
    /// Where the browser goes when it is over: a path of the front end (`/habits`) or a URL
    /// of a trusted origin. Anything else means `/`.
    pub return_to: Option<String>,
    /// A page of the front end the provider sends the code to, for `completeOidcSignIn`;
    /// omitted, Agora's own `/auth/oidc/{provider}/callback` takes it and sets the cookies.
    pub redirect_uri: Option<String>,
}

/// A provider re-authentication for `beginOidcReauthentication`.
#[derive(InputObject)]
pub struct BeginOidcReauthenticationInput {
    #[graphql(flatten)]
    pub begin: BeginOidcInput,
    #[graphql(flatten)]
    pub factor: ReauthFactorInput,
}

/// What the provider sent to the front end's redirect URI.
#[derive(InputObject)]
pub struct CompleteOidcSignInInput {
    /// The `code` parameter the provider sent to the redirect URI.
    pub code: String,
    /// The `state` parameter the provider sent back.
    pub state: String,
}

/// The provider identity's verified address belongs to an existing account, which is never
/// linked on its own: its owner proves the account with `confirmIdentityLink`.
#[derive(SimpleObject)]
pub struct IdentityLinkRequired {
    /// Single use, from this browser only, for `confirmIdentityLink`.
    pub link_token: String,
    /// The provider the identity is at.
    pub provider: String,
    /// The link token works until then (ten minutes).
    pub expires_at: DateTime<Utc>,
}

/// A signed-in user's `beginOidcLink` came back: the identity is theirs.
#[derive(SimpleObject)]
pub struct IdentityLinked {
    /// The identity, now linked.
    pub identity: Identity,
}

/// What a provider sign-in leads to.
#[derive(Union)]
pub enum OidcSignInResult {
    AuthPayload(Box<AuthPayload>),
    MfaChallenge(MfaChallenge),
    IdentityLinkRequired(IdentityLinkRequired),
    IdentityLinked(IdentityLinked),
    /// A `beginOidcReauthentication` came back: the session proved its user again.
    ReauthenticatePayload(ReauthenticatePayload),
}

/// The proof that the caller owns the account a provider identity is to be linked to.
#[derive(InputObject)]
pub struct ConfirmIdentityLinkInput {
    /// From `IdentityLinkRequired` (or the `linkToken` the callback route put in the URL
    /// fragment).
    pub link_token: String,
    /// The existing account's password.
    pub password: String,
    #[graphql(flatten)]
    pub factor: ReauthFactorInput,
}

/// Which linked identity to remove.
#[derive(InputObject)]
pub struct UnlinkIdentityInput {
    /// A `LinkedIdentity` id.
    pub id: ID,
}

/// The result of `unlinkIdentity` or `removeUserIdentity`.
#[derive(SimpleObject)]
pub struct UnlinkIdentityPayload {
    /// The identity, no longer linked.
    pub identity: Identity,
}

#[derive(Default)]
pub struct OidcQuery;

#[Object]
impl OidcQuery {
    /// The providers this server signs in with; empty when none is configured.
    async fn oidc_providers(&self, ctx: &Context<'_>) -> Vec<OidcProvider> {
        ctx.app()
            .oidc
            .list()
            .iter()
            .map(|provider| OidcProvider {
                id: ID(provider.id.clone()),
                display_name: provider.display_name.clone(),
            })
            .collect()
    }
}

#[derive(Default)]
pub struct OidcMutation;

#[Object]
impl OidcMutation {
    /// Begins a sign-in with a provider: navigate to `authorizationUrl`. The answer sets a
    /// cookie binding the sign-in to this browser; completion elsewhere is refused. A provider
    /// that does not answer is `SERVICE_UNAVAILABLE`; an unknown one `NOT_FOUND`.
    async fn begin_oidc_sign_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The provider and where to return.")] input: BeginOidcInput,
    ) -> async_graphql::Result<OidcAuthorization> {
        begin(ctx, input, None).await
    }

    /// Begins adding a provider to the signed-in account (a session, not an API token).
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn begin_oidc_link(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The provider and where to return.")] input: BeginOidcInput,
    ) -> async_graphql::Result<OidcAuthorization> {
        let viewer = ctx.viewer()?;
        if viewer.session_id.is_none() {
            return Err(AppError::SessionRequired.into());
        }
        begin(ctx, input, Some(viewer.user_id)).await
    }

    /// Proves the signed-in user again (a session) with a provider already linked to the
    /// account, for sensitive changes (see `reauthenticate`): navigate to
    /// `authorizationUrl`; the callback route returns with `#reauthenticated=<valid until>`,
    /// or `completeOidcSignIn` answers `ReauthenticatePayload`. While 2FA is on, `code` or
    /// `recoveryCode` comes here. A provider not linked to the account is `BAD_USER_INPUT`
    /// on `provider`; signing in at the provider as someone else is `UNAUTHENTICATED`.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn begin_oidc_reauthentication(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The provider, where to return, and the second factor while 2FA is on.")]
        input: BeginOidcReauthenticationInput,
    ) -> async_graphql::Result<OidcAuthorization> {
        let viewer = ctx.viewer()?;
        let (app, origin) = (ctx.app(), ctx.request_info());
        let request = Begin {
            provider: &input.begin.provider,
            return_to: input.begin.return_to.as_deref(),
            redirect_uri: input.begin.redirect_uri.as_deref(),
            link_user: None,
            reauth: None,
            browser: origin.oidc_cookie.as_deref(),
        };
        let second = (input.factor.code, input.factor.recovery_code);
        let begun = super::begin_reauthentication(app, origin, viewer, request, second).await?;
        Ok(authorization(ctx, begun))
    }

    /// Finishes a sign-in whose redirect URI was a page of the front end: a session (also
    /// set as cookies), the second-factor challenge when 2FA is on, a link to confirm, the
    /// identity linked, or a re-authentication. `BAD_USER_INPUT` on `state` for an unknown, used or expired sign-in
    /// or one begun in another browser; `UNAUTHENTICATED` when the provider's answer fails a
    /// check.
    async fn complete_oidc_sign_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The code and state the provider sent.")] input: CompleteOidcSignInInput,
    ) -> async_graphql::Result<OidcSignInResult> {
        let origin = ctx.request_info();
        let finished = super::complete(
            ctx.app(),
            origin,
            (&input.code, &input.state),
            origin.oidc_cookie.as_deref(),
            None,
        )
        .await?;
        Ok(match finished.outcome? {
            Outcome::SignedIn(signed_in) => {
                OidcSignInResult::AuthPayload(Box::new(AuthPayload::respond(ctx, *signed_in)))
            }
            Outcome::Challenge(challenge) => OidcSignInResult::MfaChallenge(challenge.into()),
            Outcome::LinkRequired {
                link_token,
                provider,
                expires_at,
            } => OidcSignInResult::IdentityLinkRequired(IdentityLinkRequired {
                link_token,
                provider,
                expires_at,
            }),
            Outcome::Linked(identity) => {
                OidcSignInResult::IdentityLinked(IdentityLinked { identity })
            }
            Outcome::Reauthenticated(proved) => {
                OidcSignInResult::ReauthenticatePayload(proved.into())
            }
        })
    }

    /// Links a provider identity to the existing account its verified address matched, once
    /// the account's owner proves it: the password, and a code or recovery code when 2FA is
    /// on. Opens a session (also set as cookies). Mailed as a security notice.
    async fn confirm_identity_link(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The link token and the account's proof.")]
        input: ConfirmIdentityLinkInput,
    ) -> async_graphql::Result<AuthPayload> {
        let origin = ctx.request_info();
        let proof = input.factor.with_password("password", &input.password);
        let signed_in = super::confirm_link(
            ctx.app(),
            origin,
            &input.link_token,
            origin.oidc_cookie.as_deref(),
            proof,
        )
        .await?;
        Ok(AuthPayload::respond(ctx, signed_in))
    }

    /// Removes one of the caller's linked identities. `CONFLICT` with reason
    /// `LAST_CREDENTIAL` when the account would be left with no way to sign in.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn unlink_identity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The identity to remove.")] input: UnlinkIdentityInput,
    ) -> async_graphql::Result<UnlinkIdentityPayload> {
        let viewer = ctx.viewer()?;
        if viewer.session_id.is_none() {
            return Err(AppError::SessionRequired.into());
        }
        let id = parse_id("id", &input.id)?;
        let identity = super::unlink(
            ctx.app(),
            ctx.request_info(),
            viewer.user_id,
            Some(viewer.user_id),
            id,
        )
        .await?;
        Ok(UnlinkIdentityPayload { identity })
    }

    /// An administrator removes a user's linked identity (same `LAST_CREDENTIAL` rule).
    #[graphql(guard = "Permission(perm::USERS_MANAGE)")]
    async fn remove_user_identity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The identity to remove.")] input: UnlinkIdentityInput,
    ) -> async_graphql::Result<UnlinkIdentityPayload> {
        let actor = ctx.viewer()?.user_id;
        let id = parse_id("id", &input.id)?;
        let identity = super::unlink(ctx.app(), ctx.request_info(), actor, None, id).await?;
        Ok(UnlinkIdentityPayload { identity })
    }
}

async fn begin(
    ctx: &Context<'_>,
    input: BeginOidcInput,
    link_user: Option<i64>,
) -> async_graphql::Result<OidcAuthorization> {
    let app = ctx.app();
    let origin = ctx.request_info();
    let begun = super::begin(
        app,
        origin,
        Begin {
            provider: &input.provider,
            return_to: input.return_to.as_deref(),
            redirect_uri: input.redirect_uri.as_deref(),
            link_user,
            reauth: None,
            browser: origin.oidc_cookie.as_deref(),
        },
    )
    .await?;
    Ok(authorization(ctx, begun))
}

/// The answer to a begun flow, with the cookie binding it to this browser when it had none.
fn authorization(ctx: &Context<'_>, begun: super::Begun) -> OidcAuthorization {
    if let Some(browser) = begun.new_browser {
        let cookie = oidc_cookie(&ctx.app().config, &browser, super::rules::FLOW_LIFETIME);
        ctx.append_http_header(axum::http::header::SET_COOKIE, cookie);
    }
    OidcAuthorization {
        authorization_url: begun.authorization_url,
        expires_at: begun.expires_at,
    }
}
