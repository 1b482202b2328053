//! Links sent by mail: password reset and email verification, and the email change that needs
//! a fresh verification. The flows here issue, check and spend the links; `store` keeps only
//! their digests.

pub mod graphql;
pub mod model;
pub mod store;

use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncPgConnection;

pub use model::{Purpose, RESET_LIFETIME, VERIFY_LIFETIME};

use super::credentials::{Ended, Keep, replace_password};
use super::recent::Reauth;
use super::rules::check_new_password;
use super::tokens::{digest, random_secret};
use crate::App;
use crate::accounts::model::User;
use crate::accounts::rules as account_rules;
use crate::accounts::store as accounts;
use crate::audit::{Event, action, audited};
use crate::db;
use crate::error::AppError;
use crate::mail::{Mail, store as outbox, templates};
use crate::ratelimit::{self, Limit, hashed_key};
use crate::request::RequestInfo;
use crate::webhooks::model::EventType;

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

/// Issues a mailed token for `purpose` to `email` at `now`, live for `lifetime` (in the caller's
/// transaction), and returns the link that carries it: the purpose's page.
async fn issue_link(
    app: &App,
    conn: &mut AsyncPgConnection,
    (user_id, email): (i64, &str),
    purpose: Purpose,
    (now, lifetime): (DateTime<Utc>, Duration),
) -> Result<String, AppError> {
    let token = random_secret();
    let hash = digest(&token);
    store::issue(
        conn,
        user_id,
        (purpose, &hash),
        email,
        (now, now + lifetime),
    )
    .await?;
    Ok(templates::link(
        &app.config.links_base(),
        purpose.page(),
        &token,
    ))
}

/// A verification link for `email`, in the caller's transaction: the one way every mail that
/// asks to confirm an address gets its link.
async fn verification_link(
    app: &App,
    conn: &mut AsyncPgConnection,
    user_id: i64,
    email: &str,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let verify = (now, VERIFY_LIFETIME);
    issue_link(app, conn, (user_id, email), Purpose::EmailVerify, verify).await
}

/// The welcome mail with a verification link, for a new account made at `now` (in its
/// transaction).
pub async fn welcome(
    app: &App,
    conn: &mut AsyncPgConnection,
    user: &User,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let url = verification_link(app, conn, user.id, &user.email, now).await?;
    let mail = templates::welcome(&user.email, &user.username, &url);
    outbox::enqueue(conn, &mail, now).await
}

/// Counts a reset request against the client address and the asked-for address, then queues
/// the mail in the background: whether the account exists must not show in the answer's
/// timing, so the lookup and the mail happen after the answer.
pub async fn request_password_reset(
    app: &std::sync::Arc<App>,
    origin: &RequestInfo,
    email: &str,
) -> Result<(), AppError> {
    let email = account_rules::email(email)?;
    let now = app.clock.now();
    let ip = origin.ip.clone().unwrap_or_default();
    let mut conn = db::conn(&app.pool).await?;
    let _ = ratelimit::hit(&mut conn, RESET_PER_IP, &ip, now).await?;
    let _ = ratelimit::hit(&mut conn, RESET_PER_EMAIL, &hashed_key(&email), now).await?;
    drop(conn);
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(error) = queue_reset(&app, &email).await {
            tracing::warn!(?error, "queueing a password reset failed");
        }
    });
    Ok(())
}

/// The work behind a reset request, done after the answer: a token and a mail if the address
/// belongs to an active account, nothing otherwise.
async fn queue_reset(app: &App, email: &str) -> Result<(), AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let Some(user) = accounts::find_active_by_email(&mut conn, email).await? else {
        return Ok(());
    };
    db::transaction(&mut conn, async |conn| {
        let reset = (now, RESET_LIFETIME);
        let url = issue_link(app, conn, (user.id, email), Purpose::PasswordReset, reset).await?;
        outbox::enqueue(
            conn,
            &templates::password_reset(email, &user.username, &url),
            now,
        )
        .await
    })
    .await?;
    app.outbox_wakeup.notify_one();
    Ok(())
}

/// Sets a new password with a reset token: every session and API token of the account ends,
/// nobody is signed in, a notice is mailed. Tokens that are not live count as guesses.
pub async fn reset_password(
    app: &App,
    origin: &RequestInfo,
    token: &str,
    new_password: &str,
) -> Result<Ended, AppError> {
    let now = app.clock.now();
    let ip = origin.ip.clone().unwrap_or_default();
    let token_hash = digest(token);
    let mut conn = db::conn(&app.pool).await?;
    // Counted before the lookup, so guesses sent together cannot all slip under; a live
    // token is no guess and hands its attempts back.
    let guesses = [
        ratelimit::hit(&mut conn, RESET_GUESSES_PER_IP, &ip, now).await?,
        ratelimit::hit(
            &mut conn,
            RESET_GUESSES_PER_TOKEN,
            &hashed_key(&token_beginning(token)),
            now,
        )
        .await?,
    ];
    let Some(user_id) =
        store::find_live(&mut conn, &token_hash, Purpose::PasswordReset, now).await?
    else {
        return Err(invalid_token());
    };
    for guess in guesses {
        ratelimit::refund(&mut conn, guess).await?;
    }
    let user = accounts::find_by_id(&mut conn, user_id).await?;
    drop(conn);
    // Only now is the new password worth a hash: an anonymous caller without a live
    // token costs one indexed lookup, not argon2.
    let new_password = check_new_password(new_password, &[&user.username, &user.email])
        .map_err(|problem| AppError::bad_input("newPassword", problem.message()))?;
    let new_hash = app.passwords.hash(new_password).await?;
    let mut conn = db::conn(&app.pool).await?;
    let ended = db::transaction(&mut conn, async |conn| {
        // Of two resets racing with one token, one wins here.
        if store::spend(conn, &token_hash, Purpose::PasswordReset, now)
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
    Ok(ended)
}

/// Confirms an address with the token mailed to it: the account as it now is.
pub async fn verify_email(app: &App, token: &str) -> Result<User, AppError> {
    let now = app.clock.now();
    let token_hash = digest(token);
    let mut conn = db::conn(&app.pool).await?;
    db::transaction(&mut conn, async |conn| {
        let Some((user_id, email)) =
            store::spend(conn, &token_hash, Purpose::EmailVerify, now).await?
        else {
            return Err(invalid_token());
        };
        // A link to an address the account has since left verifies nothing.
        if !accounts::mark_email_verified(conn, user_id, &email, now).await? {
            return Err(invalid_token());
        }
        let user = accounts::find_by_id(conn, user_id).await?;
        let data = serde_json::json!({
            "user": { "id": user.id.to_string(), "username": user.username },
        });
        crate::webhooks::queue(conn, EventType::UserEmailVerified, &data, now).await?;
        Ok(user)
    })
    .await
}

/// Mails a new verification link to the user's address (3 per hour); false when it is
/// verified already.
pub async fn resend_verification(app: &App, user_id: i64) -> Result<bool, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let user = accounts::find_by_id(&mut conn, user_id).await?;
    if user.email_verified_at.is_some() {
        return Ok(false);
    }
    let _ = ratelimit::hit(&mut conn, VERIFY_PER_USER, &user_id.to_string(), now).await?;
    db::transaction(&mut conn, async |conn| {
        let url = verification_link(app, conn, user.id, &user.email, now).await?;
        outbox::enqueue(
            conn,
            &templates::verify_email(&user.email, &user.username, &url),
            now,
        )
        .await
    })
    .await?;
    app.outbox_wakeup.notify_one();
    Ok(true)
}

/// Changes the user's address after re-authentication: the new one must be verified again,
/// and the old one gets a notice.
pub async fn change_email(
    app: &App,
    origin: &RequestInfo,
    user_id: i64,
    new_email: &str,
    reauth: Reauth<'_>,
) -> Result<User, AppError> {
    let new_email = account_rules::email(new_email)?;
    reauth.check(app, origin).await?;
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let old = accounts::find_by_id(&mut conn, user_id).await?;
    if old.email == new_email {
        return Ok(old);
    }
    let user = audited(&mut conn, origin, now, async |conn| {
        let user = accounts::change_email(conn, user_id, &new_email, now).await?;
        let url = verification_link(app, conn, user_id, &new_email, now).await?;
        enqueue_all(
            conn,
            &[
                templates::verify_email(&new_email, &user.username, &url),
                templates::email_changed(&old.email, &user.username, &new_email),
            ],
            now,
        )
        .await?;
        let event = Event::new(action::EMAIL_CHANGE, Some(user_id)).target("user", user_id);
        Ok((user, event))
    })
    .await?;
    app.outbox_wakeup.notify_one();
    Ok(user)
}

/// Enqueues mails at `now` in the caller's transaction.
async fn enqueue_all(
    conn: &mut AsyncPgConnection,
    mails: &[Mail],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    for mail in mails {
        outbox::enqueue(conn, mail, now).await?;
    }
    Ok(())
}

/// The part of a presented token that the guess limit is keyed by: long enough that live
/// tokens never share one (48 random bits), short enough that guesses at one token do.
fn token_beginning(token: &str) -> String {
    token.chars().take(8).collect()
}

fn invalid_token() -> AppError {
    AppError::bad_input("token", "This link is invalid or has expired")
}
