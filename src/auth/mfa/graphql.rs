//! GraphQL for the second factor: setup, the second step of signing in, recovery codes, and
//! removal by the user or an administrator. Resolvers call the flows in `auth::mfa`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::Factor;
use crate::accounts::model::User;
use crate::auth::payload::{AuthPayload, RecentProofInput};
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::perm;

/// What an authenticator app needs to add the account.
#[derive(SimpleObject)]
pub struct TwoFactorSetup {
    /// `otpauth://totp/Agora:<username>?secret=...&issuer=Agora` (the issuer is configurable);
    /// shown now, never again.
    pub otpauth_uri: String,
    /// The same URI as a QR code: an SVG `data:` URL for an `<img>`.
    pub qr_code: String,
    /// Confirm with a code before this, or begin again.
    pub expires_at: DateTime<Utc>,
}

/// The result of `confirmTwoFactorSetup` or `regenerateRecoveryCodes`.
#[derive(SimpleObject)]
pub struct RecoveryCodesPayload {
    /// Ten single-use codes for when the authenticator is lost. Shown only here.
    pub recovery_codes: Vec<String>,
    /// The signed-in user, with 2FA on.
    pub user: User,
}

/// The result of `disableTwoFactor`.
#[derive(SimpleObject)]
pub struct DisableTwoFactorPayload {
    /// The signed-in user, with 2FA off.
    pub user: User,
    /// The user's other sessions, ended by turning 2FA off.
    pub sessions_revoked: i32,
}

/// The result of `resetTwoFactor`.
#[derive(SimpleObject)]
pub struct ResetTwoFactorPayload {
    /// The user, now without a second factor.
    pub user: User,
    /// False when the user had no second factor.
    pub changed: bool,
}

/// Re-authentication for `beginTwoFactorSetup`.
#[derive(InputObject, Default)]
pub struct BeginTwoFactorSetupInput {
    #[graphql(flatten)]
    pub proof: RecentProofInput,
}

/// The code that proves the authenticator app was set up, for `confirmTwoFactorSetup`.
#[derive(InputObject)]
pub struct ConfirmTwoFactorSetupInput {
    /// A current code from the authenticator app.
    pub code: String,
}

/// A second factor, flattened into the inputs that need exactly one of its fields.
#[derive(InputObject)]
pub struct SecondFactorInput {
    /// The current 6-digit code from the authenticator app.
    pub code: Option<String>,
    /// One of the user's unused recovery codes, `xxxx-xxxx-xxxx-xxxx` (case and dashes do not
    /// matter).
    pub recovery_code: Option<String>,
}

impl SecondFactorInput {
    fn factor(self) -> Result<Factor, crate::error::AppError> {
        Factor::from_input(self.code, self.recovery_code)
    }
}

/// Exactly one of `code` (from the authenticator) or `recoveryCode`.
#[derive(InputObject)]
pub struct VerifyMfaInput {
    /// The `challengeToken` that `login` answered, `agora_mfa_...`.
    pub challenge_token: String,
    #[graphql(flatten)]
    pub factor: SecondFactorInput,
    /// Instead of a code: the ceremony `beginMfaPasskey` began for this challenge.
    pub passkey_ceremony_id: Option<String>,
    /// With `passkeyCeremonyId`: the `PublicKeyCredential` `navigator.credentials.get()`
    /// gave, as JSON.
    pub passkey_credential: Option<async_graphql::types::Json<serde_json::Value>>,
}

/// Re-authentication with both factors: the password and exactly one of `code` or
/// `recoveryCode`, or nothing within a recent proof.
#[derive(InputObject, Default)]
pub struct BothFactorsInput {
    #[graphql(flatten)]
    pub proof: RecentProofInput,
}

/// Whose second factor `resetTwoFactor` removes.
#[derive(InputObject)]
pub struct ResetTwoFactorInput {
    /// The account to reset (`NOT_FOUND` if there is none).
    pub user_id: ID,
}

#[derive(Default)]
pub struct MfaMutation;

#[Object]
impl MfaMutation {
    /// Starts turning on 2FA: a new pending secret, as an `otpauth://` URI and QR code. Asking
    /// again replaces only the pending secret; a factor already on stays as it is.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn begin_two_factor_setup(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The caller's password, unless the session proved its user recently.",
            default
        )]
        input: BeginTwoFactorSetupInput,
    ) -> async_graphql::Result<TwoFactorSetup> {
        let viewer = ctx.viewer()?;
        let reauth = input.proof.reauth(viewer);
        let setup =
            super::begin_setup(ctx.app(), ctx.request_info(), viewer.user_id, reauth).await?;
        Ok(TwoFactorSetup {
            otpauth_uri: setup.otpauth_uri,
            qr_code: setup.qr_code,
            expires_at: setup.expires_at,
        })
    }

    /// Turns 2FA on with a current code from the pending secret, and returns the recovery codes.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn confirm_two_factor_setup(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A code from the pending secret.")] input: ConfirmTwoFactorSetupInput,
    ) -> async_graphql::Result<RecoveryCodesPayload> {
        let user_id = ctx.viewer()?.user_id;
        let (recovery_codes, user) =
            super::confirm_setup(ctx.app(), ctx.request_info(), user_id, &input.code).await?;
        Ok(RecoveryCodesPayload {
            recovery_codes,
            user,
        })
    }

    /// The second step of signing in: a challenge from `login` and a code (or a recovery code)
    /// give a session. A challenge works once, for five minutes, and takes five codes at most;
    /// an account gets ten wrong codes per fifteen minutes (`RATE_LIMITED`).
    async fn verify_mfa(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The challenge and a second factor.")] input: VerifyMfaInput,
    ) -> async_graphql::Result<AuthPayload> {
        let passkey = (input.passkey_ceremony_id, input.passkey_credential);
        let factor = match (passkey, &input.factor) {
            (
                (Some(ceremony), Some(credential)),
                SecondFactorInput {
                    code: None,
                    recovery_code: None,
                },
            ) => Factor::Passkey {
                ceremony,
                credential: credential.0,
            },
            ((None, None), _) => input.factor.factor()?,
            _ => {
                return Err(crate::error::AppError::bad_input(
                    "passkeyCeremonyId",
                    "Give a code, a recovery code, or a passkey's ceremony and answer",
                )
                .into());
            }
        };
        let signed_in = super::verify(
            ctx.app(),
            ctx.request_info(),
            &input.challenge_token,
            factor,
        )
        .await?;
        Ok(AuthPayload::respond(ctx, signed_in))
    }

    /// Turns 2FA off and ends the user's other sessions. Needs a recent proof: the password and
    /// a second factor, or a session that proved its user recently.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn disable_two_factor(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The password and a second factor, unless the session proved its user recently.",
            default
        )]
        input: BothFactorsInput,
    ) -> async_graphql::Result<DisableTwoFactorPayload> {
        let viewer = ctx.viewer()?;
        let caller = (viewer.user_id, viewer.session_id);
        let reauth = input.proof.reauth(viewer);
        let (user, revoked) = super::disable(ctx.app(), ctx.request_info(), caller, reauth).await?;
        Ok(DisableTwoFactorPayload {
            user,
            sessions_revoked: i32::try_from(revoked).unwrap_or(i32::MAX),
        })
    }

    /// Replaces the recovery codes. Needs a recent proof: the password and a second factor, or
    /// a session that proved its user recently.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn regenerate_recovery_codes(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The password and a second factor, unless the session proved its user recently.",
            default
        )]
        input: BothFactorsInput,
    ) -> async_graphql::Result<RecoveryCodesPayload> {
        let viewer = ctx.viewer()?;
        let reauth = input.proof.reauth(viewer);
        let (app, origin) = (ctx.app(), ctx.request_info());
        let (recovery_codes, user) =
            super::regenerate_codes(app, origin, viewer.user_id, reauth).await?;
        Ok(RecoveryCodesPayload {
            recovery_codes,
            user,
        })
    }

    /// For administrators: removes a user's second factor (they can sign in with the password
    /// alone and set it up again). Audited.
    #[graphql(guard = "Permission(perm::USERS_MANAGE)")]
    async fn reset_two_factor(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account to reset.")] input: ResetTwoFactorInput,
    ) -> async_graphql::Result<ResetTwoFactorPayload> {
        let actor = ctx.viewer()?.user_id;
        let user_id = parse_id("userId", &input.user_id)?;
        let (user, changed) = super::reset(ctx.app(), ctx.request_info(), actor, user_id).await?;
        Ok(ResetTwoFactorPayload { user, changed })
    }
}
