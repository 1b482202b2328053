//! GraphQL shapes that the resolvers of `auth`, `auth::mfa` and `auth::recovery` share: the
//! session payload, whose tokens also go out as cookies, the second-factor challenge a sign-in
//! may answer instead (password or provider), and the second factor that comes with a password
//! for a sensitive change.

use async_graphql::{Context, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use super::cookies::cleared_auth_cookies;
use super::mfa::{Challenge, Proof};
use super::recent::{Reauth, Reauthenticated};
use super::sign_in::SignedIn;
use crate::accounts::model::User;
use crate::graphql::ContextExt;
use crate::request::Viewer;

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

impl AuthPayload {
    /// The answer for a session just opened or renewed: its tokens, also set as cookies, with
    /// the request now acting as its user.
    pub fn respond(ctx: &Context<'_>, signed_in: SignedIn) -> Self {
        let app = ctx.app();
        ctx.acting_as(signed_in.user.id);
        for cookie in signed_in.cookies(&app.config, app.clock.now()) {
            ctx.append_http_header(axum::http::header::SET_COOKIE, cookie);
        }
        Self {
            access_token: signed_in.access.token,
            access_token_expires_at: signed_in.access.expires_at,
            refresh_token: signed_in.refresh_token,
            refresh_token_expires_at: signed_in.session_expires_at,
            user: signed_in.user,
        }
    }
}

/// The second step of signing in with 2FA on: pass the token to `verifyMfa` with a code.
#[derive(SimpleObject)]
pub struct MfaChallenge {
    /// Single use; only `verifyMfa` accepts it.
    pub challenge_token: String,
    /// The challenge works until then: five minutes after `login`.
    pub expires_at: DateTime<Utc>,
}

impl From<Challenge> for MfaChallenge {
    fn from(challenge: Challenge) -> Self {
        Self {
            challenge_token: challenge.token,
            expires_at: challenge.expires_at,
        }
    }
}

/// A proof `reauthenticate` (or a provider's re-authentication) recorded on the session.
#[derive(SimpleObject)]
pub struct ReauthenticatePayload {
    /// When the proof was made: now.
    pub proved_at: DateTime<Utc>,
    /// Until when the session may make sensitive changes without a new proof.
    pub valid_until: DateTime<Utc>,
    /// The factors proved, in the order given: `password`, `totp`, `recovery_code`,
    /// `passkey`, `oidc:<provider>`.
    pub proved_with: Vec<String>,
}

impl From<Reauthenticated> for ReauthenticatePayload {
    fn from(proved: Reauthenticated) -> Self {
        Self {
            proved_at: proved.proved_at,
            valid_until: proved.valid_until,
            proved_with: proved.factors,
        }
    }
}

/// Tells the browser to forget its auth cookies.
pub fn clear_auth_cookies(ctx: &Context<'_>) {
    for cookie in cleared_auth_cookies(&ctx.app().config) {
        ctx.append_http_header(axum::http::header::SET_COOKIE, cookie);
    }
}

/// The second factor of a re-authentication, flattened into the inputs that take a password.
#[derive(InputObject, Default)]
pub struct ReauthFactorInput {
    /// With 2FA on: a current code, or else `recoveryCode`.
    pub code: Option<String>,
    /// With 2FA on and no `code`: one of the user's unused recovery codes.
    pub recovery_code: Option<String>,
}

impl ReauthFactorInput {
    /// The proof this factor makes with `password`, which came in `field`.
    pub fn with_password<'a>(self, field: &'static str, password: &'a str) -> Proof<'a> {
        Proof {
            password: (field, password),
            code: self.code,
            recovery_code: self.recovery_code,
        }
    }
}

/// The proof a sensitive change may carry, flattened into its input: the password and, while
/// 2FA is on, a second factor; or nothing, within a recent proof (see `reauthenticate`).
#[derive(InputObject, Default)]
pub struct RecentProofInput {
    /// The caller's password, as re-authentication. It may be left out for a session whose
    /// user proved who they are recently (signing in or `reauthenticate`, within
    /// `AGORA_REAUTH_WINDOW_SECS`, 10 minutes by default); otherwise, and always with an API
    /// token, it is needed (`FORBIDDEN`, `REAUTHENTICATION_REQUIRED`).
    pub password: Option<String>,
    #[graphql(flatten)]
    pub factor: ReauthFactorInput,
}

impl RecentProofInput {
    /// What the viewer's change offers as proof: the password it carries with its factor, or,
    /// without one, the session's recent proof.
    pub fn reauth<'a>(&'a self, viewer: &Viewer) -> Reauth<'a> {
        let proof = self.password.as_deref().map(|password| Proof {
            password: ("password", password),
            code: self.factor.code.clone(),
            recovery_code: self.factor.recovery_code.clone(),
        });
        Reauth::new(viewer, proof)
    }
}
