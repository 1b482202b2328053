//! A new password, by change or by reset, and what it ends: whatever the old password vouched
//! for. A reset keeps nothing, since whoever knew the old password may hold any of it. A change
//! keeps the changer signed in, on a new session id, and the API tokens only when asked to.

use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;

use super::mfa::{self, Proof};
use super::model::{ClientInfo, Session};
use super::recovery::{self, Purpose};
use super::rules::check_new_password;
use super::sign_in::{SignedIn, signed_in};
use super::store;
use super::tokens::{digest, new_refresh_token};
use crate::App;
use crate::accounts::model::User;
use crate::accounts::store as accounts;
use crate::audit::{Event, action, store::record};
use crate::config::Config;
use crate::db;
use crate::error::AppError;
use crate::mail::{store as outbox, templates};
use crate::request::RequestInfo;

/// What a new password leaves in place.
#[derive(Clone, Copy, Debug)]
pub struct Keep {
    /// The session that changed the password, moved to a new id by [`renew_session`].
    pub session: Option<i64>,
    pub api_tokens: bool,
}

impl Keep {
    pub const NOTHING: Keep = Keep {
        session: None,
        api_tokens: false,
    };
}

/// What a new password ended.
#[derive(Clone, Copy, Debug)]
pub struct Ended {
    pub sessions: usize,
    pub api_tokens: usize,
}

/// In the caller's transaction: stores `new_hash` and ends the user's sessions, API tokens and
/// pending reset links but what `keep` names; records `action` and queues a notice saying what
/// ended.
pub async fn replace_password(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    new_hash: &str,
    keep: Keep,
    (origin, action): (&RequestInfo, &'static str),
    now: DateTime<Utc>,
) -> Result<Ended, AppError> {
    accounts::set_password_hash(conn, user_id, new_hash, now).await?;
    let ended = Ended {
        sessions: store::revoke_all_sessions(conn, user_id, keep.session, now).await?,
        api_tokens: if keep.api_tokens {
            0
        } else {
            store::revoke_all_api_tokens(conn, user_id, now).await?
        },
    };
    recovery::store::expire_all(conn, user_id, Purpose::PasswordReset, now).await?;
    let event = Event::new(action, Some(user_id))
        .target("user", user_id)
        .meta(json!({
            "sessionsRevoked": ended.sessions,
            "apiTokensRevoked": ended.api_tokens,
        }));
    record(conn, origin, event, now).await?;
    outbox::enqueue_for_user(
        conn,
        user_id,
        |email, username| templates::password_changed(email, username, ended.api_tokens),
        now,
    )
    .await?;
    Ok(ended)
}

/// Ends `old` and opens its successor with the refresh token digested as `refresh_hash`:
/// access tokens issued for the old id stop working, so a copy of one taken before the change
/// is worth nothing after it.
async fn renew_session(
    conn: &mut AsyncPgConnection,
    config: &Config,
    (user_id, old, proved_by): (i64, i64, &[String]),
    (client, refresh_hash): (&ClientInfo, &[u8]),
    now: DateTime<Utc>,
) -> Result<Session, AppError> {
    store::revoke_session(conn, user_id, old, now).await?;
    let expires_at = now + session_lifetime(config);
    let proved = (user_id, proved_by);
    store::open_session(conn, proved, client, expires_at, refresh_hash, now).await
}

/// What `change_password` did.
pub struct PasswordChanged {
    pub user: User,
    pub ended: Ended,
    /// The changing session under its new id; `None` for a change made with an API token.
    pub session: Option<SignedIn>,
}

/// Sets a new password for `account` after checking the current one (and the second factor):
/// every other session ends, the API tokens too unless `keep_api_tokens`, and the changing
/// session (`session`) moves to a new id. A notice is mailed.
pub async fn change_password(
    app: &App,
    origin: &RequestInfo,
    (account, session): (&User, Option<i64>),
    new_password: &str,
    keep_api_tokens: bool,
    proof: Proof<'_>,
) -> Result<PasswordChanged, AppError> {
    let user_id = account.id;
    let new_password = check_new_password(new_password, &[&account.username, &account.email])
        .map_err(|problem| AppError::bad_input("newPassword", problem.message()))?;
    let proved_by = mfa::reauthenticate(app, origin, user_id, proof).await?;
    let new_hash = app.passwords.hash(new_password).await?;
    let now = app.clock.now();
    let keep = Keep {
        session,
        api_tokens: keep_api_tokens,
    };
    let client = ClientInfo::from(origin);
    let refresh_token = new_refresh_token();
    let refresh_hash = digest(&refresh_token);
    let mut conn = db::conn(&app.pool).await?;
    let (user, ended, renewed) = db::transaction(&mut conn, async |conn| {
        let change = (origin, action::PASSWORD_CHANGE);
        let ended = replace_password(conn, user_id, &new_hash, keep, change, now).await?;
        let renewed = match keep.session {
            Some(old) => {
                let new = (&client, refresh_hash.as_slice());
                let old = (user_id, old, proved_by.as_slice());
                Some(renew_session(conn, &app.config, old, new, now).await?)
            }
            None => None,
        };
        Ok((accounts::find_by_id(conn, user_id).await?, ended, renewed))
    })
    .await?;
    app.outbox_wakeup.notify_one();
    let session = renewed
        .map(|session| {
            signed_in(
                app,
                user.clone(),
                session.id,
                refresh_token,
                session.expires_at,
            )
        })
        .transpose()?;
    Ok(PasswordChanged {
        user,
        ended,
        session,
    })
}

/// How long a session lasts at most from sign-in, however much it is used.
pub fn session_lifetime(config: &Config) -> Duration {
    Duration::seconds(i64::try_from(config.session_absolute_secs).unwrap_or(i64::MAX / 2))
}
