//! Rows of authentication: sessions, where they came from, and API tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::sessions;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub proved_at: DateTime<Utc>,
    /// The factors of the last proof, in the order given: `password`, `totp`, `recovery_code`,
    /// `passkey`, `oidc:<provider>`.
    pub proved_by: Vec<String>,
}

/// Where a login came from, recorded on its session.
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl From<&crate::request::RequestInfo> for ClientInfo {
    fn from(origin: &crate::request::RequestInfo) -> Self {
        Self {
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.clone(),
        }
    }
}

/// A personal access token for scripts; the secret itself is never stored.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::api_tokens, check_for_backend(diesel::pg::Pg))]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An API token to store: validated, with only the digest of its secret.
#[derive(Insertable)]
#[diesel(table_name = crate::db::schema::api_tokens)]
pub struct NewApiToken<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub permissions: &'a [String],
    pub expires_at: Option<DateTime<Utc>>,
    pub token_hash: &'a [u8],
}

/// The ways an account can sign in, counted: what the last-credential rule looks at.
#[derive(Clone, Copy, Debug, QueryableByName)]
pub struct WaysIn {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub password: bool,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub identities: i64,
    /// Passkeys not marked as possibly cloned.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub passkeys: i64,
}

impl WaysIn {
    /// Whether removing one identity or passkey would leave the account with no way in.
    pub fn removing_one_locks_out(&self) -> bool {
        !self.password && self.identities + self.passkeys <= 1
    }
}

#[cfg(test)]
mod tests {
    use super::WaysIn;

    #[test]
    fn the_last_way_in_stays() {
        let ways = |password, identities, passkeys| WaysIn {
            password,
            identities,
            passkeys,
        };
        assert!(ways(false, 1, 0).removing_one_locks_out());
        assert!(ways(false, 0, 1).removing_one_locks_out());
        assert!(!ways(false, 1, 1).removing_one_locks_out());
        assert!(!ways(true, 1, 0).removing_one_locks_out());
        assert!(!ways(false, 0, 2).removing_one_locks_out());
    }
}
