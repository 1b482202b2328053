use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;

use super::rules::{self, MfaKeys};
use super::store;
use crate::App;
use crate::accounts::model::User;
use crate::accounts::store as accounts;
use crate::audit::{Event, action, store::record};
use crate::auth::graphql::{AuthPayload, check_password, open_signed_in_session};
use crate::auth::tokens::digest;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::mail::{store as outbox, templates};
use crate::ratelimit;
use crate::rbac::perm;

/// The second step of signing in with 2FA on: pass the token to `verifyMfa` with a code.
#[derive(SimpleObject)]
pub struct MfaChallenge {
    /// Single use; only `verifyMfa` accepts it.
    pub challenge_token: String,
    /// The challenge works until then: five minutes after `login`.
    pub expires_at: DateTime<Utc>,
}

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
#[derive(InputObject)]
pub struct BeginTwoFactorSetupInput {
    /// The caller's password, as re-authentication.
    pub password: String,
}

/// The code that proves the authenticator app was set up, for `confirmTwoFactorSetup`.
#[derive(InputObject)]
pub struct ConfirmTwoFactorSetupInput {
    /// A current code from the authenticator app.
    pub code: String,
}

/// Exactly one of `code` (from the authenticator) or `recoveryCode`.
#[derive(InputObject)]
pub struct VerifyMfaInput {
    /// The `challengeToken` that `login` answered, `agora_mfa_...`.
    pub challenge_token: String,
    /// The current 6-digit code from the authenticator app.
    pub code: Option<String>,
    /// One of the user's unused recovery codes, `xxxx-xxxx-xxxx-xxxx` (case and dashes do not
    /// matter).
    pub recovery_code: Option<String>,
}

/// The password and a second factor: exactly one of `code` or `recoveryCode`.
#[derive(InputObject)]
pub struct BothFactorsInput {
    /// The caller's password.
    pub password: String,
    /// The current 6-digit code from the authenticator app.
    pub code: Option<String>,
    /// One of the user's unused recovery codes, `xxxx-xxxx-xxxx-xxxx` (case and dashes do not
    /// matter).
    pub recovery_code: Option<String>,
}

/// Whose second factor `resetTwoFactor` removes.
#[derive(InputObject)]
pub struct ResetTwoFactorInput {
    /// The account to reset (`NOT_FOUND` if there is none).
    pub user_id: ID,
}

/// A second factor as the user gave it.
enum Factor {
    Code(String),
    RecoveryCode(String),
}

impl Factor {
    fn from_input(code: Option<String>, recovery_code: Option<String>) -> Result<Self, AppError> {
        match (code, recovery_code) {
            (Some(code), None) => Ok(Self::Code(code)),
            (None, Some(recovery)) => Ok(Self::RecoveryCode(recovery)),
            _ => Err(AppError::bad_input(
                "code",
                "Give either code or recoveryCode",
            )),
        }
    }

    fn field(&self) -> &'static str {
        match self {
            Self::Code(_) => "code",
            Self::RecoveryCode(_) => "recoveryCode",
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Code(_) => "totp",
            Self::RecoveryCode(_) => "recovery_code",
        }
    }
}

/// Whether users have 2FA on and how many recovery codes they have left, per request.
pub struct TwoFactorLoader {
    pub pool: DbPool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TwoFactorOf(pub i64);

#[derive(Clone, Copy, Debug, Default)]
pub struct TwoFactorStatus {
    pub enabled: bool,
    pub recovery_codes_left: i64,
}

impl Loader<TwoFactorOf> for TwoFactorLoader {
    type Value = TwoFactorStatus;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TwoFactorOf],
    ) -> Result<HashMap<TwoFactorOf, TwoFactorStatus>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|key| key.0).collect();
        let mut conn = db::conn(&self.pool).await?;
        Ok(store::status(&mut conn, &ids)
            .await?
            .into_iter()
            .map(|(user_id, enabled, left)| {
                (
                    TwoFactorOf(user_id),
                    TwoFactorStatus {
                        enabled,
                        recovery_codes_left: left,
                    },
                )
            })
            .collect())
    }
}

pub async fn status(ctx: &Context<'_>, user_id: i64) -> async_graphql::Result<TwoFactorStatus> {
    Ok(ctx
        .data_unchecked::<DataLoader<TwoFactorLoader>>()
        .load_one(TwoFactorOf(user_id))
        .await?
        .unwrap_or_default())
}

/// Re-authentication for sensitive changes: the password, and with 2FA on a second factor
/// too (`BAD_USER_INPUT` on `code` when it is missing).
pub async fn reauthenticate(
    ctx: &Context<'_>,
    user_id: i64,
    (password_field, password): (&'static str, &str),
    code: Option<String>,
    recovery_code: Option<String>,
) -> Result<(), AppError> {
    check_password(ctx, user_id, password_field, password).await?;
    let app = ctx.app();
    let mut conn = db::conn(&app.pool).await?;
    if !store::is_enabled(&mut conn, user_id).await? {
        return Ok(());
    }
    if code.is_none() && recovery_code.is_none() {
        return Err(AppError::bad_input(
            "code",
            "Two-factor authentication is on: give a code or a recovery code",
        ));
    }
    check_factor(
        app,
        &mut conn,
        user_id,
        &Factor::from_input(code, recovery_code)?,
    )
    .await
}

/// For `login`: a challenge instead of a session when the user has 2FA on.
pub async fn challenge_if_enabled(
    ctx: &Context<'_>,
    user_id: i64,
) -> Result<Option<MfaChallenge>, AppError> {
    let app = ctx.app();
    let mut conn = db::conn(&app.pool).await?;
    if !store::is_enabled(&mut conn, user_id).await? {
        return Ok(None);
    }
    let token = rules::new_challenge_token();
    let expires_at = app.clock.now() + rules::CHALLENGE_LIFETIME;
    store::create_challenge(&mut conn, user_id, &digest(&token), expires_at).await?;
    Ok(Some(MfaChallenge {
        challenge_token: token,
        expires_at,
    }))
}

/// Checks a second factor, counting a wrong one against the account. Refused outright while
/// the account has used up its wrong codes. A code's time step and a recovery code are each
/// accepted once.
async fn check_factor(
    app: &App,
    conn: &mut AsyncPgConnection,
    user_id: i64,
    factor: &Factor,
) -> Result<(), AppError> {
    let now = app.clock.now();
    // Counted before the check and handed back when the code is right: codes sent together
    // each see the ones before them, so no more than the limit are ever checked.
    let attempt = ratelimit::hit(
        conn,
        rules::WRONG_CODES_PER_ACCOUNT,
        &user_id.to_string(),
        now,
    )
    .await?;
    let accepted = match factor {
        Factor::Code(code) => match enabled_totp(app, conn, user_id).await? {
            Some(totp) => match rules::matched_step(&totp, code, now) {
                Some(step) => store::accept_step(conn, user_id, step).await?,
                None => false,
            },
            None => false,
        },
        Factor::RecoveryCode(code) => {
            let hash = app.mfa.recovery_code_hash(code);
            store::use_recovery_code(conn, user_id, &hash, now).await?
        }
    };
    if accepted {
        return ratelimit::refund(conn, attempt).await;
    }
    Err(AppError::bad_input(factor.field(), "Invalid code"))
}

async fn enabled_totp(
    app: &App,
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<Option<totp_rs::Totp>, AppError> {
    let Some(sealed) = store::find(conn, user_id).await?.and_then(|row| row.secret) else {
        return Ok(None);
    };
    let secret = open_secret(&app.mfa, &sealed)?;
    rules::totp(secret, &app.config.totp_issuer, "").map(Some)
}

fn two_factor_off(email: &str, username: &str) -> crate::mail::Mail {
    templates::two_factor_changed(email, username, false)
}

fn open_secret(keys: &MfaKeys, sealed: &[u8]) -> Result<Vec<u8>, AppError> {
    keys.open(sealed).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!(
            "a TOTP secret does not open with this AGORA_SECRET"
        ))
    })
}

/// New recovery codes for the user, replacing any old ones; the plain codes are returned once.
async fn new_recovery_codes(
    keys: &MfaKeys,
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<Vec<String>, AppError> {
    let codes = rules::new_recovery_codes();
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|code| keys.recovery_code_hash(code))
        .collect();
    store::replace_recovery_codes(conn, user_id, &hashes).await?;
    Ok(codes)
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
        #[graphql(desc = "The caller's password.")] input: BeginTwoFactorSetupInput,
    ) -> async_graphql::Result<TwoFactorSetup> {
        let viewer = ctx.viewer()?;
        check_password(ctx, viewer.user_id, "password", &input.password).await?;
        let app = ctx.app();
        let mut conn = db::conn(&app.pool).await?;
        let user = accounts::find_by_id(&mut conn, viewer.user_id).await?;
        let secret = rules::new_secret();
        // The label names the account by username: the key URI format forbids a colon in it,
        // and a valid address may hold one (`"a:b"@example.com`); a username never does.
        let totp = rules::totp(secret.clone(), &app.config.totp_issuer, &user.username)?;
        let otpauth_uri = totp.to_url().map_err(|error| {
            AppError::Internal(anyhow::anyhow!("building the otpauth URI: {error}"))
        })?;
        let expires_at = app.clock.now() + rules::PENDING_LIFETIME;
        store::set_pending(&mut conn, user.id, &app.mfa.seal(&secret), expires_at).await?;
        Ok(TwoFactorSetup {
            qr_code: rules::qr_data_url(&otpauth_uri)?,
            otpauth_uri,
            expires_at,
        })
    }

    /// Turns 2FA on with a current code from the pending secret, and returns the recovery codes.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn confirm_two_factor_setup(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A code from the pending secret.")] input: ConfirmTwoFactorSetupInput,
    ) -> async_graphql::Result<RecoveryCodesPayload> {
        let viewer = ctx.viewer()?;
        let app = ctx.app();
        let now = app.clock.now();
        let user_id = viewer.user_id;
        let origin = ctx.request_info();
        let mut conn = db::conn(&app.pool).await?;
        let pending = store::find(&mut conn, user_id)
            .await?
            .and_then(|row| row.pending_secret.zip(row.pending_expires_at))
            .filter(|(_, expires_at)| *expires_at > now);
        let Some((sealed, _)) = pending else {
            return Err(AppError::bad_input(
                "code",
                "No setup is pending; call beginTwoFactorSetup first",
            )
            .into());
        };
        let totp = rules::totp(open_secret(&app.mfa, &sealed)?, &app.config.totp_issuer, "")?;
        let Some(step) = rules::matched_step(&totp, &input.code, now) else {
            return Err(AppError::bad_input("code", "Invalid code").into());
        };
        let keys = &app.mfa;
        let (codes, user) = crate::db::transaction(&mut conn, async |conn| {
            if !store::enable(conn, user_id, &sealed, step, now).await? {
                return Err(AppError::bad_input(
                    "code",
                    "The pending setup changed or expired; begin again",
                ));
            }
            let codes = new_recovery_codes(keys, conn, user_id).await?;
            record(
                conn,
                origin,
                Event::new(action::MFA_ENABLE, Some(user_id)).target("user", user_id),
            )
            .await?;
            outbox::enqueue_for_user(conn, user_id, |email, username| {
                templates::two_factor_changed(email, username, true)
            })
            .await?;
            Ok((codes, accounts::find_by_id(conn, user_id).await?))
        })
        .await?;
        app.outbox_wakeup.notify_one();
        Ok(RecoveryCodesPayload {
            recovery_codes: codes,
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
        let factor = Factor::from_input(input.code, input.recovery_code)?;
        let app = ctx.app();
        let now = app.clock.now();
        let mut conn = db::conn(&app.pool).await?;
        let challenge = store::claim_challenge_attempt(
            &mut conn,
            &digest(&input.challenge_token),
            rules::CHALLENGE_MAX_ATTEMPTS,
            now,
        )
        .await?;
        let Some(challenge) = challenge else {
            return Err(AppError::Unauthenticated.into());
        };
        if let Err(error) = check_factor(app, &mut conn, challenge.user_id, &factor).await {
            if matches!(error, AppError::BadUserInput { .. }) {
                let event = Event::new(action::MFA_FAILED, None)
                    .target("user", challenge.user_id)
                    .meta(json!({ "factor": factor.name() }));
                record(&mut conn, ctx.request_info(), event).await?;
            }
            return Err(error.into());
        }
        let spent = store::spend_challenge(&mut conn, challenge.id, now).await?;
        let active = accounts::find_by_id(&mut conn, challenge.user_id)
            .await?
            .is_active;
        drop(conn);
        if !spent || !active {
            return Err(AppError::Unauthenticated.into());
        }
        open_signed_in_session(
            ctx,
            challenge.user_id,
            json!({ "factors": ["password", factor.name()] }),
        )
        .await
    }

    /// Turns 2FA off (password and a second factor) and ends the user's other sessions.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn disable_two_factor(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The password and a second factor.")] input: BothFactorsInput,
    ) -> async_graphql::Result<DisableTwoFactorPayload> {
        let viewer = ctx.viewer()?;
        let factor = Factor::from_input(input.code, input.recovery_code)?;
        check_password(ctx, viewer.user_id, "password", &input.password).await?;
        let app = ctx.app();
        let (user_id, session_id, origin) = (viewer.user_id, viewer.session_id, ctx.request_info());
        let mut conn = db::conn(&app.pool).await?;
        check_factor(app, &mut conn, user_id, &factor).await?;
        let (user, revoked) = crate::db::transaction(&mut conn, async |conn| {
            store::remove(conn, user_id).await?;
            let revoked =
                crate::auth::store::revoke_all_sessions(conn, user_id, session_id).await?;
            let event = Event::new(action::MFA_DISABLE, Some(user_id))
                .target("user", user_id)
                .meta(json!({ "sessionsRevoked": revoked }));
            record(conn, origin, event).await?;
            outbox::enqueue_for_user(conn, user_id, two_factor_off).await?;
            Ok((accounts::find_by_id(conn, user_id).await?, revoked))
        })
        .await?;
        app.outbox_wakeup.notify_one();
        Ok(DisableTwoFactorPayload {
            user,
            sessions_revoked: i32::try_from(revoked).unwrap_or(i32::MAX),
        })
    }

    /// Replaces the recovery codes (password and a second factor).
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn regenerate_recovery_codes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The password and a second factor.")] input: BothFactorsInput,
    ) -> async_graphql::Result<RecoveryCodesPayload> {
        let viewer = ctx.viewer()?;
        let factor = Factor::from_input(input.code, input.recovery_code)?;
        check_password(ctx, viewer.user_id, "password", &input.password).await?;
        let app = ctx.app();
        let (user_id, origin) = (viewer.user_id, ctx.request_info());
        let mut conn = db::conn(&app.pool).await?;
        check_factor(app, &mut conn, user_id, &factor).await?;
        let keys = &app.mfa;
        let (codes, user) = crate::db::transaction(&mut conn, async |conn| {
            let codes = new_recovery_codes(keys, conn, user_id).await?;
            let event = Event::new(action::RECOVERY_CODES_REGENERATE, Some(user_id))
                .target("user", user_id);
            record(conn, origin, event).await?;
            Ok((codes, accounts::find_by_id(conn, user_id).await?))
        })
        .await?;
        Ok(RecoveryCodesPayload {
            recovery_codes: codes,
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
        let origin = ctx.request_info();
        let mut conn = db::conn(&ctx.app().pool).await?;
        let (user, changed) = crate::db::transaction(&mut conn, async |conn| {
            let user = accounts::find_by_id(conn, user_id).await?;
            let changed = store::remove(conn, user_id).await?;
            if changed {
                let event = Event::new(action::MFA_RESET, Some(actor)).target("user", user_id);
                record(conn, origin, event).await?;
                outbox::enqueue_for_user(conn, user_id, two_factor_off).await?;
            }
            Ok((user, changed))
        })
        .await?;
        ctx.app().outbox_wakeup.notify_one();
        Ok(ResetTwoFactorPayload { user, changed })
    }
}
