//! The second factor: TOTP codes (RFC 6238) with a replay guard, single-use recovery codes, and
//! the sign-in challenge a password login with 2FA on hands out instead of a session. The flows
//! here (setup, sign-in's second step, re-authentication, removal) are what the resolvers call.

pub mod graphql;
pub mod loader;
pub mod model;
pub mod rules;
pub mod store;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;

use rules::MfaKeys;

use super::recent::Reauth;
use super::sign_in::{self, SignedIn, check_password};
use super::tokens::digest;
use crate::App;
use crate::accounts::model::User;
use crate::accounts::store as accounts;
use crate::audit::{Event, action, audited, store::record};
use crate::db;
use crate::error::AppError;
use crate::mail::{store as outbox, templates};
use crate::ratelimit;
use crate::request::RequestInfo;

/// The second step of signing in with 2FA on.
pub struct Challenge {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// A new pending secret, as an authenticator app takes it.
pub struct Setup {
    pub otpauth_uri: String,
    pub qr_code: String,
    pub expires_at: DateTime<Utc>,
}

/// A second factor as the user gave it.
pub enum Factor {
    Code(String),
    RecoveryCode(String),
    /// The answer to a `beginMfaPasskey` ceremony.
    Passkey {
        ceremony: String,
        credential: serde_json::Value,
    },
}

impl Factor {
    /// Exactly one of the two, or `BAD_USER_INPUT`.
    pub fn from_input(
        code: Option<String>,
        recovery_code: Option<String>,
    ) -> Result<Self, AppError> {
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
            Self::Passkey { .. } => "passkeyCredential",
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Code(_) => "totp",
            Self::RecoveryCode(_) => "recovery_code",
            Self::Passkey { .. } => "passkey",
        }
    }
}

/// Re-authentication for a sensitive change: the password (named by the field it came in),
/// and a second factor, needed only while 2FA is on.
pub struct Proof<'a> {
    pub password: (&'static str, &'a str),
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

/// Checks a [`Proof`]: `BAD_USER_INPUT` on `code` when 2FA is on and no factor came with it.
/// The factors it proved with.
pub async fn reauthenticate(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    proof: Proof<'_>,
) -> Result<Vec<String>, AppError> {
    let (password_field, password) = proof.password;
    check_password(app, user_id, password_field, password).await?;
    let second =
        second_factor_if_enabled(app, origin, user_id, (proof.code, proof.recovery_code)).await?;
    Ok(std::iter::once("password")
        .chain(second)
        .map(str::to_owned)
        .collect())
}

/// While the user has 2FA on, checks the second factor that came with another one (`code` or
/// `recoveryCode`, `BAD_USER_INPUT` on `code` when neither did) and names it; otherwise none
/// is needed and any given is ignored.
pub async fn second_factor_if_enabled(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    (code, recovery_code): (Option<String>, Option<String>),
) -> Result<Option<&'static str>, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    if !store::is_enabled(&mut conn, user_id).await? {
        return Ok(None);
    }
    if code.is_none() && recovery_code.is_none() {
        return Err(AppError::bad_input(
            "code",
            "Two-factor authentication is on: give a code or a recovery code",
        ));
    }
    let factor = Factor::from_input(code, recovery_code)?;
    check_factor(app, origin, (&mut conn, user_id), &factor).await?;
    Ok(Some(factor.name()))
}

/// Checks one second factor of the user (a passkey for `reauthenticate`), counting a wrong one
/// against the account as at sign-in.
pub async fn prove(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    factor: &Factor,
) -> Result<(), AppError> {
    let mut conn = db::conn(&app.pool).await?;
    check_factor(app, origin, (&mut conn, user_id), factor).await
}

/// The user a live (unspent, unexpired) sign-in challenge is for, without counting an
/// attempt: a passkey ceremony for it is begun before any factor is checked.
pub async fn challenged_user(app: &App, challenge_token: &str) -> Result<i64, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::live_challenge_user(&mut conn, &digest(challenge_token), app.clock.now())
        .await?
        .ok_or(AppError::Unauthenticated)
}

/// For a sign-in that `first_factor` (`password`, `oidc:<provider>`) began: a challenge instead
/// of a session when the user has 2FA on.
pub async fn challenge_if_enabled(
    app: &App,
    user_id: i64,
    first_factor: &str,
) -> Result<Option<Challenge>, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    if !store::is_enabled(&mut conn, user_id).await? {
        return Ok(None);
    }
    let token = rules::new_challenge_token();
    let now = app.clock.now();
    let expires_at = now + rules::CHALLENGE_LIFETIME;
    store::create_challenge(
        &mut conn,
        (user_id, first_factor),
        &digest(&token),
        (now, expires_at),
    )
    .await?;
    Ok(Some(Challenge { token, expires_at }))
}

/// The second step of signing in: a live challenge and a right factor open a session. A wrong
/// factor is recorded against the account.
pub async fn verify(
    app: &App,
    origin: &RequestInfo,
    challenge_token: &str,
    factor: Factor,
) -> Result<SignedIn, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let challenge = store::claim_challenge_attempt(
        &mut conn,
        &digest(challenge_token),
        rules::CHALLENGE_MAX_ATTEMPTS,
        now,
    )
    .await?;
    let Some(challenge) = challenge else {
        return Err(AppError::Unauthenticated);
    };
    let checked = check_factor(app, origin, (&mut conn, challenge.user_id), &factor).await;
    if let Err(error) = checked {
        if matches!(error, AppError::BadUserInput { .. }) {
            let event = Event::new(action::MFA_FAILED, None)
                .target("user", challenge.user_id)
                .meta(json!({ "factor": factor.name() }));
            record(&mut conn, origin, event, now).await?;
        }
        return Err(error);
    }
    let spent = store::spend_challenge(&mut conn, challenge.id, now).await?;
    let active = accounts::find_by_id(&mut conn, challenge.user_id)
        .await?
        .is_active;
    drop(conn);
    if !spent || !active {
        return Err(AppError::Unauthenticated);
    }
    let how = sign_in::Proved::by([challenge.first_factor.as_str(), factor.name()]);
    sign_in::open_session(app, origin, challenge.user_id, how).await
}

/// Starts turning 2FA on, after a recent proof: a new pending secret (replacing only a pending
/// one; a factor already on stays as it is).
pub async fn begin_setup(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    reauth: Reauth<'_>,
) -> Result<Setup, AppError> {
    reauth.check(app, origin).await?;
    let mut conn = db::conn(&app.pool).await?;
    let user = accounts::find_by_id(&mut conn, user_id).await?;
    let secret = rules::new_secret();
    // The label names the account by username: the key URI format forbids a colon in it,
    // and a valid address may hold one (`"a:b"@example.com`); a username never does.
    let totp = rules::totp(secret.clone(), &app.config.totp_issuer, &user.username)?;
    let otpauth_uri = totp.to_url().map_err(|error| {
        AppError::Internal(anyhow::anyhow!("building the otpauth URI: {error}"))
    })?;
    let expires_at = app.clock.now() + rules::PENDING_LIFETIME;
    store::set_pending(&mut conn, user.id, &app.mfa.seal(&secret)?, expires_at).await?;
    Ok(Setup {
        qr_code: rules::qr_data_url(&otpauth_uri)?,
        otpauth_uri,
        expires_at,
    })
}

/// Turns 2FA on with a current code from the pending secret: the new recovery codes, shown
/// once, and the user.
pub async fn confirm_setup(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    code: &str,
) -> Result<(Vec<String>, User), AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let pending = store::find(&mut conn, user_id)
        .await?
        .and_then(|row| row.pending_secret.zip(row.pending_expires_at))
        .filter(|(_, expires_at)| *expires_at > now);
    let Some((sealed, _)) = pending else {
        return Err(AppError::bad_input(
            "code",
            "No setup is pending; call beginTwoFactorSetup first",
        ));
    };
    let totp = rules::totp(open_secret(&app.mfa, &sealed)?, &app.config.totp_issuer, "")?;
    let Some(step) = rules::matched_step(&totp, code, now) else {
        return Err(AppError::bad_input("code", "Invalid code"));
    };
    let keys = &app.mfa;
    let done = audited(&mut conn, origin, now, async |conn| {
        if !store::enable(conn, user_id, &sealed, step, now).await? {
            return Err(AppError::bad_input(
                "code",
                "The pending setup changed or expired; begin again",
            ));
        }
        let codes = new_recovery_codes(keys, conn, user_id, now).await?;
        outbox::enqueue_for_user(
            conn,
            user_id,
            |email, username| templates::two_factor_changed(email, username, true),
            now,
        )
        .await?;
        let event = Event::new(action::MFA_ENABLE, Some(user_id)).target("user", user_id);
        Ok(((codes, accounts::find_by_id(conn, user_id).await?), event))
    })
    .await?;
    app.outbox_wakeup.notify_one();
    Ok(done)
}

/// Turns 2FA off after a recent proof and ends the user's other sessions than `session_id`:
/// the user, and how many ended.
pub async fn disable(
    app: &App,
    origin: &RequestInfo,
    (user_id, session_id): (i64, Option<i64>),
    reauth: Reauth<'_>,
) -> Result<(User, usize), AppError> {
    reauth.check(app, origin).await?;
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let done = audited(&mut conn, origin, now, async |conn| {
        store::remove(conn, user_id).await?;
        let revoked =
            crate::auth::store::revoke_all_sessions(conn, user_id, session_id, now).await?;
        outbox::enqueue_for_user(conn, user_id, two_factor_off, now).await?;
        let event = Event::new(action::MFA_DISABLE, Some(user_id))
            .target("user", user_id)
            .meta(json!({ "sessionsRevoked": revoked }));
        Ok(((accounts::find_by_id(conn, user_id).await?, revoked), event))
    })
    .await?;
    app.outbox_wakeup.notify_one();
    Ok(done)
}

/// Replaces the recovery codes after a recent proof: the new ones, shown once.
pub async fn regenerate_codes(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    reauth: Reauth<'_>,
) -> Result<(Vec<String>, User), AppError> {
    reauth.check(app, origin).await?;
    let mut conn = db::conn(&app.pool).await?;
    let keys = &app.mfa;
    let now = app.clock.now();
    audited(&mut conn, origin, now, async |conn| {
        let codes = new_recovery_codes(keys, conn, user_id, now).await?;
        let event =
            Event::new(action::RECOVERY_CODES_REGENERATE, Some(user_id)).target("user", user_id);
        Ok(((codes, accounts::find_by_id(conn, user_id).await?), event))
    })
    .await
}

/// An administrator (`actor`) removes a user's second factor: the user, and false when they
/// had none (then nothing is recorded or mailed).
pub async fn reset(
    app: &App,
    origin: &RequestInfo,
    actor: i64,
    user_id: i64,
) -> Result<(User, bool), AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let done = audited(&mut conn, origin, now, async |conn| {
        let user = accounts::find_by_id(conn, user_id).await?;
        let changed = store::remove(conn, user_id).await?;
        if changed {
            outbox::enqueue_for_user(conn, user_id, two_factor_off, now).await?;
        }
        let event =
            changed.then(|| Event::new(action::MFA_RESET, Some(actor)).target("user", user_id));
        Ok(((user, changed), event))
    })
    .await?;
    app.outbox_wakeup.notify_one();
    Ok(done)
}

/// Checks a second factor, counting a wrong one against the account. Refused outright while
/// the account has used up its wrong codes. A code's time step and a recovery code are each
/// accepted once.
async fn check_factor(
    app: &App,
    origin: &RequestInfo,
    (conn, user_id): (&mut AsyncPgConnection, i64),
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
    let refused = match factor {
        Factor::Code(code) => match enabled_totp(app, conn, user_id).await? {
            Some(totp) => match rules::matched_step(&totp, code, now) {
                Some(step) if store::accept_step(conn, user_id, step).await? => None,
                // Right, but its time step was already accepted: the replay guard. Saying so
                // tells the owner to wait for the next code rather than to retype this one.
                Some(_) => {
                    Some("This code was already used; enter the next one your authenticator shows")
                }
                None => Some("Invalid code"),
            },
            None => Some("Invalid code"),
        },
        Factor::RecoveryCode(code) => {
            let hash = app.mfa.recovery_code_hash(code);
            let used = store::use_recovery_code(conn, user_id, &hash, now).await?;
            (!used).then_some("Invalid recovery code (each works once)")
        }
        Factor::Passkey {
            ceremony,
            credential,
        } => {
            let answer = (ceremony.as_str(), credential.clone());
            let accepted =
                crate::passkeys::check_second_factor(app, origin, user_id, answer).await?;
            (!accepted).then_some("The passkey's answer was not accepted")
        }
    };
    match refused {
        None => ratelimit::refund(conn, attempt).await,
        Some(message) => Err(AppError::bad_input(factor.field(), message)),
    }
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

/// New recovery codes for the user made at `now`, replacing any old ones; the plain codes are
/// returned once.
async fn new_recovery_codes(
    keys: &MfaKeys,
    conn: &mut AsyncPgConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<String>, AppError> {
    let codes = rules::new_recovery_codes();
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|code| keys.recovery_code_hash(code))
        .collect();
    store::replace_recovery_codes(conn, user_id, &hashes, now).await?;
    Ok(codes)
}
