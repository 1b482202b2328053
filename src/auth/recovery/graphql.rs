use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::Duration;
use diesel_async::AsyncPgConnection;

use super::{Purpose, RESET_LIFETIME, VERIFY_LIFETIME, store};
use crate::App;
use crate::accounts::model::User;
use crate::accounts::rules as account_rules;
use crate::accounts::store as accounts;
use crate::audit::{Event, action, store::record};
use crate::auth::credentials::{Keep, replace_password};
use crate::auth::mfa::graphql::reauthenticate;
use crate::auth::rules::check_new_password;
use crate::db;
use crate::error::AppError;
use crate::graphql::{ContextExt, Permission};
use crate::mail::{Mail, store as outbox, templates};
use crate::ratelimit::{self, Limit, hashed_key};
use crate::rbac::perm;

/// Reset mails per address (known or not) per hour.
const RESET_PER_EMAIL: Limit = Limit {
    bucket: "reset_email",
    max: 3,
    window: Duration::hours(1),
};
const RESET_PER_IP: Limit = Limit {
    bucket: "reset_ip",
    max: 20,
    window: Duration::hours(1),
};
/// `resetPassword` calls per client address per hour with a token that is not live.
const RESET_GUESSES_PER_IP: Limit = Limit {
    bucket: "reset_guess_ip",
    max: 10,
    window: Duration::hours(1),
};
/// The same, per token beginning: someone holding part of a link cannot try out the rest.
const RESET_GUESSES_PER_TOKEN: Limit = Limit {
    bucket: "reset_guess_token",
    max: 5,
    window: Duration::hours(1),
};
const VERIFY_PER_USER: Limit = Limit {
    bucket: "verify_user",
    max: 3,
    window: Duration::hours(1),
};

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
    /// The caller's password, as re-authentication.
    pub password: String,
    /// With 2FA on: a current code, or else `recoveryCode`.
    pub code: Option<String>,
    /// With 2FA on and no `code`: one of the user's unused recovery codes.
    pub recovery_code: Option<String>,
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

/// Enqueues mails in the caller's transaction.
pub async fn enqueue_all(conn: &mut AsyncPgConnection, mails: &[Mail]) -> Result<(), AppError> {
    for mail in mails {
        outbox::enqueue(conn, mail).await?;
    }
    Ok(())
}

/// The welcome mail with a verification link, for a new account (in its transaction).
pub async fn welcome(app: &App, conn: &mut AsyncPgConnection, user: &User) -> Result<(), AppError> {
    let expires_at = app.clock.now() + VERIFY_LIFETIME;
    let token = store::issue(conn, user.id, Purpose::EmailVerify, &user.email, expires_at).await?;
    let url = templates::link(&app.config.public_url, "verify-email", &token);
    outbox::enqueue(conn, &templates::welcome(&user.email, &user.username, &url)).await
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
        let email = account_rules::email(&input.email)?;
        let app = ctx.app().clone();
        let now = app.clock.now();
        let ip = ctx.request_info().ip.clone().unwrap_or_default();
        let mut conn = db::conn(&app.pool).await?;
        let _ = ratelimit::hit(&mut conn, RESET_PER_IP, &ip, now).await?;
        let _ = ratelimit::hit(&mut conn, RESET_PER_EMAIL, &hashed_key(&email), now).await?;
        drop(conn);
        // Whether the account exists must not show in the answer's timing, so the lookup and
        // the mail happen after the answer.
        tokio::spawn(async move {
            if let Err(error) = queue_reset(&app, &email).await {
                tracing::warn!(?error, "queueing a password reset failed");
            }
        });
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
        let app = ctx.app();
        let now = app.clock.now();
        let origin = ctx.request_info();
        let ip = origin.ip.clone().unwrap_or_default();
        let mut conn = db::conn(&app.pool).await?;
        // Counted before the lookup, so guesses sent together cannot all slip under; a live
        // token is no guess and hands its attempts back.
        let guesses = [
            ratelimit::hit(&mut conn, RESET_GUESSES_PER_IP, &ip, now).await?,
            ratelimit::hit(
                &mut conn,
                RESET_GUESSES_PER_TOKEN,
                &hashed_key(&token_beginning(&input.token)),
                now,
            )
            .await?,
        ];
        let Some(user_id) =
            store::find_live(&mut conn, &input.token, Purpose::PasswordReset, now).await?
        else {
            return Err(invalid_token().into());
        };
        for guess in guesses {
            ratelimit::refund(&mut conn, guess).await?;
        }
        let user = accounts::find_by_id(&mut conn, user_id).await?;
        drop(conn);
        // Only now is the new password worth a hash: an anonymous caller without a live
        // token costs one indexed lookup, not argon2.
        let new_password = check_new_password(&input.new_password, &[&user.username, &user.email])
            .map_err(|problem| AppError::bad_input("newPassword", problem.message()))?;
        let new_hash = app.passwords.hash(new_password).await?;
        let mut conn = db::conn(&app.pool).await?;
        let ended = crate::db::transaction(&mut conn, async |conn| {
            // Of two resets racing with one token, one wins here.
            if store::spend(conn, &input.token, Purpose::PasswordReset, now)
                .await?
                .is_none_or(|(spender, _)| spender != user_id)
            {
                return Err(invalid_token());
            }
            let reset = (origin, action::PASSWORD_RESET);
            replace_password(conn, user_id, &new_hash, Keep::NOTHING, reset, now).await
        })
        .await?;
        app.outbox_wakeup.notify_one();
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
        let now = ctx.app().clock.now();
        let mut conn = db::conn(&ctx.app().pool).await?;
        let user = crate::db::transaction(&mut conn, async |conn| {
            let Some((user_id, email)) =
                store::spend(conn, &input.token, Purpose::EmailVerify, now).await?
            else {
                return Err(invalid_token());
            };
            // A link to an address the account has since left verifies nothing.
            if !accounts::mark_email_verified(conn, user_id, &email, now).await? {
                return Err(invalid_token());
            }
            accounts::find_by_id(conn, user_id).await
        })
        .await?;
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
        let app = ctx.app();
        let now = app.clock.now();
        let mut conn = db::conn(&app.pool).await?;
        let user = accounts::find_by_id(&mut conn, user_id).await?;
        if user.email_verified_at.is_some() {
            return Ok(ResendVerificationPayload { sent: false });
        }
        let _ = ratelimit::hit(&mut conn, VERIFY_PER_USER, &user_id.to_string(), now).await?;
        crate::db::transaction(&mut conn, async |conn| {
            let token = store::issue(
                conn,
                user.id,
                Purpose::EmailVerify,
                &user.email,
                now + VERIFY_LIFETIME,
            )
            .await?;
            let url = templates::link(&app.config.public_url, "verify-email", &token);
            outbox::enqueue(
                conn,
                &templates::verify_email(&user.email, &user.username, &url),
            )
            .await
        })
        .await?;
        app.outbox_wakeup.notify_one();
        Ok(ResendVerificationPayload { sent: true })
    }

    /// Changes the signed-in user's address (password required): the new one must be verified
    /// again, and the old one gets a notice.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn change_email(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new address and re-authentication.")] input: ChangeEmailInput,
    ) -> async_graphql::Result<EmailPayload> {
        let viewer = ctx.viewer()?;
        let new_email = account_rules::email(&input.new_email)?;
        reauthenticate(
            ctx,
            viewer.user_id,
            ("password", &input.password),
            input.code,
            input.recovery_code,
        )
        .await?;
        let app = ctx.app();
        let (user_id, origin, now) = (viewer.user_id, ctx.request_info(), app.clock.now());
        let mut conn = db::conn(&app.pool).await?;
        let user = crate::db::transaction(&mut conn, async |conn| {
            let old = accounts::find_by_id(conn, user_id).await?;
            if old.email == new_email {
                return Ok(old);
            }
            let user = accounts::change_email(conn, user_id, &new_email).await?;
            let token = store::issue(
                conn,
                user_id,
                Purpose::EmailVerify,
                &new_email,
                now + VERIFY_LIFETIME,
            )
            .await?;
            let url = templates::link(&app.config.public_url, "verify-email", &token);
            enqueue_all(
                conn,
                &[
                    templates::verify_email(&new_email, &user.username, &url),
                    templates::email_changed(&old.email, &user.username, &new_email),
                ],
            )
            .await?;
            let event = Event::new(action::EMAIL_CHANGE, Some(user_id)).target("user", user_id);
            record(conn, origin, event).await?;
            Ok(user)
        })
        .await?;
        app.outbox_wakeup.notify_one();
        Ok(EmailPayload { user })
    }
}

/// The part of a presented token that the guess limit is keyed by: long enough that live
/// tokens never share one (48 random bits), short enough that guesses at one token do.
fn token_beginning(token: &str) -> String {
    token.chars().take(8).collect()
}

fn invalid_token() -> AppError {
    AppError::bad_input("token", "This link is invalid or has expired")
}

/// The work behind a reset request, done after the answer: a token and a mail if the address
/// belongs to an active account, nothing otherwise.
async fn queue_reset(app: &App, email: &str) -> Result<(), AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let Some(user) = accounts::find_active_by_email(&mut conn, email).await? else {
        return Ok(());
    };
    crate::db::transaction(&mut conn, async |conn| {
        let token = store::issue(
            conn,
            user.id,
            Purpose::PasswordReset,
            email,
            now + RESET_LIFETIME,
        )
        .await?;
        let url = templates::link(&app.config.public_url, "reset-password", &token);
        outbox::enqueue(
            conn,
            &templates::password_reset(email, &user.username, &url),
        )
        .await
    })
    .await?;
    app.outbox_wakeup.notify_one();
    Ok(())
}
