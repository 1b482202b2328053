//! Signing in: a password checked within its limits, then a session with its tokens, or first
//! the second-factor challenge when 2FA is on. Re-authentication for sensitive changes checks
//! the password the same way.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::credentials::session_lifetime;
use super::mfa::{self, Challenge};
use super::model::ClientInfo;
use super::rules::{account_key, presented_password, sign_in_key};
use super::store;
use super::tokens::{AccessSubject, IssuedAccess, digest, new_refresh_token};
use crate::App;
use crate::accounts::model::User;
use crate::accounts::rules::MAX_EMAIL_CHARS;
use crate::accounts::store as accounts;
use crate::audit::{Event, action, audited, store::record};
use crate::db;
use crate::error::AppError;
use crate::ratelimit::Guarded;
use crate::request::RequestInfo;
use crate::text::{fold_identifier, term};

/// A session just opened or renewed, with the tokens that speak for it.
pub struct SignedIn {
    pub user: User,
    pub access: IssuedAccess,
    /// Single use; only its digest is stored.
    pub refresh_token: String,
    pub session_expires_at: DateTime<Utc>,
}

impl SignedIn {
    /// The `Set-Cookie` values that hand a browser this session's tokens.
    pub fn cookies(&self, config: &crate::config::Config, now: DateTime<Utc>) -> [String; 2] {
        super::cookies::auth_cookies(
            config,
            (&self.access.token, self.access.expires_at),
            (&self.refresh_token, self.session_expires_at),
            now,
        )
    }
}

/// How a user proved who they are: the factors in the order given (`password`, `totp`,
/// `recovery_code`, `passkey`, `oidc:<provider>`), kept on the session for the recent-proof
/// rule, and what else the sign-in's audit row says about them.
pub struct Proved {
    pub factors: Vec<String>,
    detail: serde_json::Map<String, serde_json::Value>,
}

impl Proved {
    pub fn by<F: Into<String>>(factors: impl IntoIterator<Item = F>) -> Self {
        Self {
            factors: factors.into_iter().map(Into::into).collect(),
            detail: serde_json::Map::new(),
        }
    }

    /// Adds `key` to what the audit row records.
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }

    fn audit_meta(&self) -> serde_json::Value {
        let mut meta = self.detail.clone();
        meta.insert("factors".to_owned(), json!(self.factors));
        serde_json::Value::Object(meta)
    }
}

/// What a password login leads to.
pub enum LoginOutcome {
    SignedIn(Box<SignedIn>),
    /// 2FA is on: the session waits for `verifyMfa`.
    Challenge(Challenge),
}

/// Signs in with a username or email and a password. Unknown user, wrong password and disabled
/// account all fail alike, and each failure is recorded.
pub async fn login(
    app: &App,
    origin: &RequestInfo,
    login: &str,
    password: &str,
) -> Result<LoginOutcome, AppError> {
    let address = origin.ip.clone().unwrap_or_default();
    let login = term("login", login, MAX_EMAIL_CHARS)?;
    let password = presented_password("password", password)?;
    app.limits
        .check(Guarded::LoginFromAddress, &address)
        .await?;
    let mut conn = db::conn(&app.pool).await?;
    let found = accounts::find_for_login(&mut conn, &fold_identifier(&login)).await?;
    // Release the connection while hashing: argon2 takes far longer than the query.
    drop(conn);
    let account_key = sign_in_key(found.as_ref().map(|(user, _)| user.id), &login);
    app.limits
        .check(Guarded::LoginToAccount, &account_key)
        .await?;
    let (user, stored_hash) = found.unzip();
    let password_ok = app.passwords.verify(password, stored_hash).await?;
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
            record(&mut conn, origin, event, app.clock.now()).await?;
            return Err(AppError::InvalidCredentials);
        }
    };
    app.limits
        .forgive(Guarded::LoginToAccount, &account_key)
        .await;
    if let Some(challenge) = mfa::challenge_if_enabled(app, user.id, "password").await? {
        return Ok(LoginOutcome::Challenge(challenge));
    }
    let signed_in = open_session(app, origin, user.id, Proved::by(["password"])).await?;
    Ok(LoginOutcome::SignedIn(Box::new(signed_in)))
}

/// Re-authentication: `BAD_USER_INPUT` on `field` unless `password` is the user's. It shares
/// the account's sign-in limit (`RATE_LIMITED`).
pub async fn check_password(
    app: &App,
    user_id: i64,
    field: &'static str,
    password: &str,
) -> Result<(), AppError> {
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

/// Opens a session for a user who has proven who they are (`how`), records the sign-in, and
/// issues its tokens.
pub async fn open_session(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    how: Proved,
) -> Result<SignedIn, AppError> {
    let now = app.clock.now();
    let refresh_token = new_refresh_token();
    let refresh_hash = digest(&refresh_token);
    let client = ClientInfo::from(origin);
    let expires_at = now + session_lifetime(&app.config);
    let mut conn = db::conn(&app.pool).await?;
    let (session, user) = audited(&mut conn, origin, now, async |conn| {
        let proved = (user_id, how.factors.as_slice());
        let session =
            store::open_session(conn, proved, &client, expires_at, &refresh_hash, now).await?;
        let event = Event::new(action::LOGIN, Some(user_id))
            .target("session", session.id)
            .meta(how.audit_meta());
        Ok(((session, accounts::find_by_id(conn, user_id).await?), event))
    })
    .await?;
    signed_in(app, user, session.id, refresh_token, session.expires_at)
}

/// The access token for a session whose refresh token the caller holds.
pub(crate) fn signed_in(
    app: &App,
    user: User,
    session_id: i64,
    refresh_token: String,
    session_expires_at: DateTime<Utc>,
) -> Result<SignedIn, AppError> {
    let subject = AccessSubject {
        user_id: user.id,
        session_id,
    };
    let access = app
        .tokens
        .issue_access(subject, app.clock.now())
        .map_err(AppError::Internal)?;
    Ok(SignedIn {
        user,
        access,
        refresh_token,
        session_expires_at,
    })
}
