//! GraphQL for mailed links: password reset, email verification, and email change. Resolvers
//! call the flows in `auth::recovery`.

use async_graphql::{Context, InputObject, Object, SimpleObject};

use crate::accounts::model::User;
use crate::auth::payload::RecentProofInput;
use crate::graphql::{ContextExt, Permission};
use crate::rbac::perm;

/// The one answer `requestPasswordReset` gives, whether or not the address has an account.
const RESET_ANSWER: &str = "If an account uses this address, a reset link is on its way.";

/// Where `requestPasswordReset` sends the link.
#[derive(InputObject)]
pub struct RequestPasswordResetInput {
    /// The account's email address (any case).
    pub email: String,
}

/// The result of `requestPasswordReset`.
#[derive(SimpleObject)]
pub struct RequestPasswordResetPayload {
    /// The same for every address.
    pub message: String,
}

/// The mailed token and the new password, for `resetPassword`.
#[derive(InputObject)]
pub struct ResetPasswordInput {
    /// The token from the reset link.
    pub token: String,
    /// 8–256 characters; common passwords are refused.
    pub new_password: String,
}

/// The result of `resetPassword`.
#[derive(SimpleObject)]
pub struct ResetPasswordPayload {
    /// Every session of the account ended; sign in with the new password.
    pub sessions_revoked: i32,
    /// Every API token of the account revoked.
    pub api_tokens_revoked: i32,
}

/// The mailed token, for `verifyEmail`.
#[derive(InputObject)]
pub struct VerifyEmailInput {
    /// The token from the verification link.
    pub token: String,
}

/// The new address and re-authentication, for `changeEmail`.
#[derive(InputObject)]
pub struct ChangeEmailInput {
    /// A plain address with a dotted domain; stored lower-cased, unique (`CONFLICT`, `TAKEN`).
    pub new_email: String,
    #[graphql(flatten)]
    pub proof: RecentProofInput,
}

/// The result of `verifyEmail` or `changeEmail`.
#[derive(SimpleObject)]
pub struct EmailPayload {
    /// The account with its address as it now is.
    pub user: User,
}

/// The result of `resendVerification`.
#[derive(SimpleObject)]
pub struct ResendVerificationPayload {
    /// False when the address is verified already (nothing was sent).
    pub sent: bool,
}

#[derive(Default)]
pub struct RecoveryMutation;

#[Object]
impl RecoveryMutation {
    /// Mails a reset link if the address belongs to an active account. The answer, and the
    /// time it takes, are the same either way; at most 3 mails per address and 20 requests
    /// per client address per hour (`RATE_LIMITED`), counted alike for unknown addresses.
    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's address.")] input: RequestPasswordResetInput,
    ) -> async_graphql::Result<RequestPasswordResetPayload> {
        super::request_password_reset(ctx.app(), ctx.request_info(), &input.email).await?;
        Ok(RequestPasswordResetPayload {
            message: RESET_ANSWER.to_owned(),
        })
    }

    /// Sets a new password with a reset token (single use, 30 minutes). Ends every session
    /// and every API token and signs nobody in; a notice is mailed. Tokens that are not live
    /// count as guesses: 10 per client address and 5 per token beginning per hour
    /// (`RATE_LIMITED`).
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mailed token and the new password.")] input: ResetPasswordInput,
    ) -> async_graphql::Result<ResetPasswordPayload> {
        let (app, origin) = (ctx.app(), ctx.request_info());
        let ended = super::reset_password(app, origin, &input.token, &input.new_password).await?;
        Ok(ResetPasswordPayload {
            sessions_revoked: i32::try_from(ended.sessions).unwrap_or(i32::MAX),
            api_tokens_revoked: i32::try_from(ended.api_tokens).unwrap_or(i32::MAX),
        })
    }

    /// Confirms an address with the token mailed to it (single use, 24 hours). Needs no
    /// sign-in: the link may be opened anywhere.
    async fn verify_email(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mailed token.")] input: VerifyEmailInput,
    ) -> async_graphql::Result<EmailPayload> {
        let user = super::verify_email(ctx.app(), &input.token).await?;
        ctx.acting_as(user.id);
        Ok(EmailPayload { user })
    }

    /// Mails a new verification link to the signed-in user's address (3 per hour).
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn resend_verification(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<ResendVerificationPayload> {
        let user_id = ctx.viewer()?.user_id;
        let sent = super::resend_verification(ctx.app(), user_id).await?;
        Ok(ResendVerificationPayload { sent })
    }

    /// Changes the signed-in user's address after a recent proof of who they are (their
    /// password, or a session that proved its user recently): the new one must be verified
    /// again, and the old one gets a notice.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn change_email(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new address and re-authentication.")] input: ChangeEmailInput,
    ) -> async_graphql::Result<EmailPayload> {
        let viewer = ctx.viewer()?;
        let reauth = input.proof.reauth(viewer);
        let (app, origin) = (ctx.app(), ctx.request_info());
        let new_email = &input.new_email;
        let user = super::change_email(app, origin, viewer.user_id, new_email, reauth).await?;
        Ok(EmailPayload { user })
    }
}
