//! Rows of provider sign-in.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::{oidc_flows, oidc_pending_links, user_identities};
use crate::error::{AppError, reason};

/// An account at a provider, linked to a user.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = user_identities)]
pub struct Identity {
    pub id: i64,
    pub user_id: i64,
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Insertable)]
#[diesel(table_name = oidc_flows)]
pub struct NewFlow<'a> {
    pub state_hash: &'a [u8],
    pub browser_hash: &'a [u8],
    pub provider: &'a str,
    pub nonce: &'a str,
    pub pkce_verifier: &'a str,
    pub redirect_uri: &'a str,
    pub return_to: &'a str,
    pub link_user_id: Option<i64>,
    pub reauth_session_id: Option<i64>,
    pub reauth_second_factor: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A begun sign-in, as the callback finds it.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = oidc_flows)]
pub struct Flow {
    pub provider: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub redirect_uri: String,
    pub return_to: String,
    pub link_user_id: Option<i64>,
    /// The session of `link_user_id` this flow re-authenticates, instead of linking.
    pub reauth_session_id: Option<i64>,
    /// The second factor checked when the re-authentication began (2FA on).
    pub reauth_second_factor: Option<String>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = oidc_pending_links)]
pub struct PendingLink {
    pub id: i64,
    pub user_id: i64,
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
}

/// The refusal for an identity that already signs in as another account.
pub fn identity_in_use() -> AppError {
    AppError::Conflict {
        reason: reason::IDENTITY_IN_USE,
        field: None,
        message: "This provider account already signs in to another Agora account".to_owned(),
    }
}
