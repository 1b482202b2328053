//! The account row and the validated shapes that create or change one.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::users;

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub time_zone: String,
    pub budget: i64,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub email_verified_at: Option<DateTime<Utc>>,
    /// Set when the account was deleted: the row is then a tombstone (see `crate::privacy`).
    pub deleted_at: Option<DateTime<Utc>>,
    /// When the user's day begins, in minutes after local midnight (`crate::dates::UserDays`).
    pub day_start_minutes: i32,
}

impl User {
    /// How the user's instants fall into their days. Stored zones were validated when set; a
    /// name a newer tz database dropped falls back to UTC rather than locking the user out.
    pub fn days(&self) -> crate::dates::UserDays {
        let zone = self.time_zone.parse().unwrap_or(chrono_tz::Tz::UTC);
        crate::dates::UserDays::new(zone, self.day_start_minutes)
    }
}

/// A validated account with its password hashed, ready to insert.
#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub budget: i64,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
pub struct ProfileChanges {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub time_zone: Option<String>,
    pub day_start_minutes: Option<i32>,
}

/// What an administrator may change about an account: identity only, never roles or flags.
#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
pub struct IdentityChanges {
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

impl IdentityChanges {
    pub fn is_empty(&self) -> bool {
        self.username.is_none()
            && self.email.is_none()
            && self.first_name.is_none()
            && self.last_name.is_none()
    }
}
