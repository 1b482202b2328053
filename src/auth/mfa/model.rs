//! Rows of the second factor: a user's TOTP secret (pending or enabled) and sign-in challenges.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::{mfa_challenges, two_factor};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = two_factor, check_for_backend(diesel::pg::Pg))]
pub struct TwoFactorRow {
    pub user_id: i64,
    pub secret: Option<Vec<u8>>,
    pub enabled_at: Option<DateTime<Utc>>,
    pub last_step: Option<i64>,
    pub pending_secret: Option<Vec<u8>>,
    pub pending_expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = mfa_challenges, check_for_backend(diesel::pg::Pg))]
pub struct Challenge {
    pub id: i64,
    pub user_id: i64,
    pub expires_at: DateTime<Utc>,
    pub attempts: i32,
    pub used_at: Option<DateTime<Utc>>,
    /// What proved the account before this challenge: `password`, or `oidc:<provider>`.
    pub first_factor: String,
}
