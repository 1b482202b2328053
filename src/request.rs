//! Who asks, and from where: the facts about an incoming request that outlive the transport.
//! The HTTP layer fills them in (the [`Viewer`] from `crate::auth::authenticate`); domains act
//! on them and stores record them (audit rows, sessions) without knowing anything of HTTP or
//! GraphQL.

use chrono::{DateTime, NaiveDate, Utc};

use crate::dates::UserDays;

/// The authenticated caller: a live session and the permissions its user holds right now
/// (read from the database on this request, never from token claims).
#[derive(Clone, Debug)]
pub struct Viewer {
    pub user_id: i64,
    /// The session of a signed-in client; `None` for a script using an API token.
    pub session_id: Option<i64>,
    /// The API token the request came with, if any.
    pub api_token_id: Option<i64>,
    /// When the session's user last proved who they are (sign-in or `reauthenticate`); `None`
    /// for an API token, which has no session to prove.
    pub proved_at: Option<DateTime<Utc>>,
    pub permissions: crate::rbac::permissions::PermissionSet,
    /// The request budget: the user's roles', and for an API token the tighter of that and
    /// the token's own.
    pub budget: crate::budgets::model::Budget,
    /// The user's zone and day start: calendar logic ("today", streaks, statistics) runs in
    /// their dates.
    pub days: UserDays,
    /// The account as it was read with the session, so `me` costs no second statement.
    pub account: crate::accounts::model::User,
}

impl Viewer {
    pub fn can(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }

    /// The user's date at `now`, as their day start divides days.
    pub fn local_date(&self, now: DateTime<Utc>) -> NaiveDate {
        self.days.date_at(now)
    }
}

/// Facts about the HTTP request that domains record with what they change (audit rows, sessions).
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The refresh token sent as a cookie, for `refreshSession` called without an argument.
    pub refresh_cookie: Option<String>,
    /// The cookie binding a provider sign-in to this browser (`crate::oidc`).
    pub oidc_cookie: Option<String>,
    /// The server's id of this request, recorded with audit rows.
    pub request_id: Option<String>,
    /// The `x-request-id` the client sent, when usable (see [`ClientRequestId`]).
    pub client_request_id: Option<String>,
}

/// The `x-request-id` a client sent, kept apart from the request id, which the server always
/// makes itself: a client could otherwise choose the id its requests are logged and audited
/// under (and collide with, or forge, another's).
#[derive(Clone, Debug)]
pub struct ClientRequestId(pub String);
