//! GraphQL for passkeys: the two-step ceremonies (options out as JSON for
//! `navigator.credentials`, the browser's answer back as JSON), the user's list, rename and
//! removal.

use async_graphql::types::Json;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::Ceremony;
use super::model::PasskeyRow;
use crate::auth::payload::{AuthPayload, RecentProofInput};
use crate::error::AppError;
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::perm;

/// A registered passkey.
#[Object(name = "Passkey")]
impl PasskeyRow {
    /// For `renamePasskey` and `deletePasskey`.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// The name its owner gave it.
    async fn name(&self) -> &str {
        &self.name
    }
    /// When it was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// The last sign-in with it.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.last_used_at
    }
    /// Whether it may be synced to other devices (a multi-device passkey).
    async fn backup_eligible(&self) -> bool {
        self.backup_eligible
    }
    /// Whether it is synced (backed up) now, as the authenticator last said.
    async fn backed_up(&self) -> bool {
        self.backup_state
    }
    /// Set when its signature counter went backwards: it may have been copied, and it is
    /// refused.
    async fn possibly_cloned_at(&self) -> Option<DateTime<Utc>> {
        self.possibly_cloned_at
    }
}

/// A passkey ceremony begun: pass `options` to the browser, then its answer and `ceremonyId`
/// to the finishing mutation.
#[derive(SimpleObject)]
pub struct PasskeyCeremony {
    /// Single use, for the finishing mutation.
    pub ceremony_id: String,
    /// `PublicKeyCredentialCreationOptions` or `…RequestOptions`, as JSON (its binary fields
    /// base64url), under `publicKey`.
    pub options: Json<serde_json::Value>,
    /// The ceremony must finish before then (five minutes).
    pub expires_at: DateTime<Utc>,
}

impl From<Ceremony> for PasskeyCeremony {
    fn from(ceremony: Ceremony) -> Self {
        Self {
            ceremony_id: ceremony.token,
            options: Json(ceremony.options),
            expires_at: ceremony.expires_at,
        }
    }
}

/// Re-authentication before a passkey is added.
#[derive(InputObject, Default)]
pub struct BeginPasskeyRegistrationInput {
    #[graphql(flatten)]
    pub proof: RecentProofInput,
}

/// The browser's answer to a registration.
#[derive(InputObject)]
pub struct FinishPasskeyRegistrationInput {
    /// From `beginPasskeyRegistration`.
    pub ceremony_id: String,
    /// The `PublicKeyCredential` `navigator.credentials.create()` gave, as JSON (binary fields
    /// base64url).
    pub credential: Json<serde_json::Value>,
    /// A name to recognise it by, 1–100 characters.
    pub name: String,
}

/// The browser's answer to a sign-in.
#[derive(InputObject)]
pub struct FinishPasskeySignInInput {
    /// From `beginPasskeySignIn`.
    pub ceremony_id: String,
    /// The `PublicKeyCredential` `navigator.credentials.get()` gave, as JSON.
    pub credential: Json<serde_json::Value>,
}

/// The sign-in challenge a passkey is to answer.
#[derive(InputObject)]
pub struct BeginMfaPasskeyInput {
    /// The `challengeToken` that `login` (or a provider sign-in) answered.
    pub challenge_token: String,
}

/// A new name for a passkey.
#[derive(InputObject)]
pub struct RenamePasskeyInput {
    /// One of the caller's passkeys.
    pub id: ID,
    /// 1–100 characters.
    pub name: String,
}

/// Which passkey to remove.
#[derive(InputObject)]
pub struct DeletePasskeyInput {
    /// One of the caller's passkeys.
    pub id: ID,
}

#[derive(Default)]
pub struct PasskeysQuery;

#[Object]
impl PasskeysQuery {
    /// The caller's passkeys, oldest first.
    #[graphql(guard = "Permission(perm::PROFILE_READ)")]
    async fn my_passkeys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PasskeyRow>> {
        let viewer = ctx.viewer()?;
        Ok(super::list(ctx.app(), viewer.user_id).await?)
    }
}

#[derive(Default)]
pub struct PasskeysMutation;

#[Object]
impl PasskeysMutation {
    /// Begins adding a passkey to the signed-in account (a session, not an API token), after a
    /// recent proof: its password and, with 2FA on, a code; or a session that proved its user
    /// recently (an account with no password proves itself with `reauthenticate` through a
    /// passkey, or with a linked provider through `beginOidcReauthentication`).
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn begin_passkey_registration(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Re-authentication, unless the session proved its user recently.",
            default
        )]
        input: BeginPasskeyRegistrationInput,
    ) -> async_graphql::Result<PasskeyCeremony> {
        let viewer = ctx.viewer()?;
        if viewer.session_id.is_none() {
            return Err(AppError::SessionRequired.into());
        }
        let reauth = input.proof.reauth(viewer);
        let (app, origin) = (ctx.app(), ctx.request_info());
        Ok(
            super::begin_registration(app, origin, viewer.user_id, reauth)
                .await?
                .into(),
        )
    }

    /// Finishes adding a passkey. A notice is mailed.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn finish_passkey_registration(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ceremony, the browser's answer and a name.")]
        input: FinishPasskeyRegistrationInput,
    ) -> async_graphql::Result<PasskeyRow> {
        let viewer = ctx.viewer()?;
        Ok(super::finish_registration(
            ctx.app(),
            ctx.request_info(),
            viewer.user_id,
            (&input.ceremony_id, input.credential.0, &input.name),
        )
        .await?)
    }

    /// Begins a sign-in with a passkey, without a username: the options allow any of the
    /// site's passkeys (and `mediation: "conditional"` for the browser's autofill).
    async fn begin_passkey_sign_in(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<PasskeyCeremony> {
        Ok(super::begin_sign_in(ctx.app()).await?.into())
    }

    /// Finishes a passkey sign-in: a session (also set as cookies). A passkey verifies its
    /// user, so it is both factors. `UNAUTHENTICATED` when the answer fails a check (origin,
    /// RP id, challenge, user verification, signature, or a counter that went backwards).
    async fn finish_passkey_sign_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The ceremony and the browser's answer.")] input: FinishPasskeySignInInput,
    ) -> async_graphql::Result<AuthPayload> {
        let signed_in = super::finish_sign_in(
            ctx.app(),
            ctx.request_info(),
            &input.ceremony_id,
            input.credential.0,
        )
        .await?;
        Ok(AuthPayload::respond(ctx, signed_in))
    }

    /// Begins proving who the signed-in user is with a passkey, for `reauthenticate` (sensitive
    /// changes need a recent proof): pass `options` to `navigator.credentials.get()` and the
    /// answer to `reauthenticate` as `passkeyCeremonyId` and `passkeyCredential`. Needs a
    /// session; `BAD_USER_INPUT` when the account has no usable passkey.
    async fn begin_passkey_reauthentication(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<PasskeyCeremony> {
        let viewer = ctx.viewer()?;
        if viewer.session_id.is_none() {
            return Err(AppError::SessionRequired.into());
        }
        Ok(super::begin_reauthentication(ctx.app(), viewer.user_id)
            .await?
            .into())
    }

    /// With 2FA on, a passkey may answer the sign-in's `MfaChallenge` instead of a code: pass
    /// `options` to `navigator.credentials.get()` and the answer to `verifyMfa` as
    /// `passkeyCeremonyId` and `passkeyCredential`. `UNAUTHENTICATED` for a challenge that is
    /// not live; `BAD_USER_INPUT` when the account has no passkey.
    async fn begin_mfa_passkey(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The challenge to answer.")] input: BeginMfaPasskeyInput,
    ) -> async_graphql::Result<PasskeyCeremony> {
        Ok(
            super::begin_second_factor(ctx.app(), &input.challenge_token)
                .await?
                .into(),
        )
    }

    /// Renames one of the caller's passkeys.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn rename_passkey(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The passkey and its new name.")] input: RenamePasskeyInput,
    ) -> async_graphql::Result<PasskeyRow> {
        let viewer = ctx.viewer()?;
        let id = parse_id("id", &input.id)?;
        Ok(super::rename(
            ctx.app(),
            ctx.request_info(),
            viewer.user_id,
            (id, &input.name),
        )
        .await?)
    }

    /// Removes one of the caller's passkeys (a session, not an API token). `CONFLICT` with
    /// reason `LAST_CREDENTIAL` when the account would have no way to sign in.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn delete_passkey(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The passkey to remove.")] input: DeletePasskeyInput,
    ) -> async_graphql::Result<PasskeyRow> {
        let viewer = ctx.viewer()?;
        if viewer.session_id.is_none() {
            return Err(AppError::SessionRequired.into());
        }
        let id = parse_id("id", &input.id)?;
        Ok(super::remove(ctx.app(), ctx.request_info(), viewer.user_id, id).await?)
    }
}
