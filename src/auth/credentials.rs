//! A new password, by change or by reset, and what it ends: whatever the old password vouched
//! for. A reset keeps nothing, since whoever knew the old password may hold any of it. A change
//! keeps the changer signed in, on a new session id, and the API tokens only when asked to.

use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;

use super::model::{ClientInfo, Session};
use super::recovery::{self, Purpose};
use super::store;
use crate::accounts::store as accounts;
use crate::audit::{Event, store::record};
use crate::config::Config;
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
    accounts::set_password_hash(conn, user_id, new_hash).await?;
    let ended = Ended {
        sessions: store::revoke_all_sessions(conn, user_id, keep.session).await?,
        api_tokens: if keep.api_tokens {
            0
        } else {
            store::revoke_all_api_tokens(conn, user_id).await?
        },
    };
    recovery::store::expire_all(conn, user_id, Purpose::PasswordReset, now).await?;
    let event = Event::new(action, Some(user_id))
        .target("user", user_id)
        .meta(json!({
            "sessionsRevoked": ended.sessions,
            "apiTokensRevoked": ended.api_tokens,
        }));
    record(conn, origin, event).await?;
    outbox::enqueue_for_user(conn, user_id, |email, username| {
        templates::password_changed(email, username, ended.api_tokens)
    })
    .await?;
    Ok(ended)
}

/// Ends `old` and opens its successor with `refresh_token`: access tokens issued for the old
/// id stop working, so a copy of one taken before the change is worth nothing after it.
pub async fn renew_session(
    conn: &mut AsyncPgConnection,
    config: &Config,
    (user_id, old): (i64, i64),
    client: &ClientInfo,
    refresh_token: &str,
) -> Result<Session, AppError> {
    store::revoke_session(conn, user_id, old).await?;
    store::open_session(
        conn,
        user_id,
        client,
        session_lifetime(config),
        refresh_token,
    )
    .await
}

/// How long a session lasts at most from sign-in, however much it is used.
pub fn session_lifetime(config: &Config) -> Duration {
    Duration::seconds(i64::try_from(config.session_absolute_secs).unwrap_or(i64::MAX / 2))
}
