//! Queries on `users`. Values come validated and normalised (folded logins, hashed passwords),
//! with the instant of the change from the app clock.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{IdentityChanges, NewUser, ProfileChanges, User};
use crate::db::schema::{user_roles, users};
use crate::error::{AppError, violated_unique_constraint};

/// Inserts the user, made at `now`; `TAKEN` on a username or address in use.
pub async fn create_user(
    conn: &mut AsyncPgConnection,
    new_user: &NewUser,
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    diesel::insert_into(users::table)
        .values((
            new_user,
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .returning(User::as_returning())
        .get_result(conn)
        .await
        .map_err(map_unique_violation)
}

pub async fn find_by_id(conn: &mut AsyncPgConnection, user_id: i64) -> Result<User, AppError> {
    users::table
        .find(user_id)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("User", user_id))
}

pub async fn find_by_ids(conn: &mut AsyncPgConnection, ids: &[i64]) -> Result<Vec<User>, AppError> {
    Ok(users::table
        .filter(users::id.eq_any(ids))
        .select(User::as_select())
        .load(conn)
        .await?)
}

/// The account a folded login name (username in any case, or email) refers to, with its
/// password hash.
pub async fn find_for_login(
    conn: &mut AsyncPgConnection,
    lowered: &str,
) -> Result<Option<(User, String)>, AppError> {
    Ok(users::table
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(username) = ")
                .bind::<diesel::sql_types::Text, _>(lowered.to_owned())
                .or(users::email.eq(lowered)),
        )
        .select((User::as_select(), users::password_hash))
        .first(conn)
        .await
        .optional()?)
}

pub async fn password_hash(conn: &mut AsyncPgConnection, user_id: i64) -> Result<String, AppError> {
    Ok(users::table
        .find(user_id)
        .select(users::password_hash)
        .first(conn)
        .await?)
}

pub async fn set_password_hash(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::update(users::table.find(user_id))
        .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn update_profile(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    changes: &ProfileChanges,
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    if changes.first_name.is_none()
        && changes.last_name.is_none()
        && changes.time_zone.is_none()
        && changes.day_start_minutes.is_none()
    {
        return find_by_id(conn, user_id).await;
    }
    Ok(diesel::update(users::table.find(user_id))
        .set((changes, users::updated_at.eq(now)))
        .returning(User::as_returning())
        .get_result(conn)
        .await?)
}

#[derive(Default)]
pub struct UserFilter {
    /// Matched against username, email and names; `%` and `_` match themselves.
    pub search: Option<String>,
    pub role_id: Option<i64>,
    pub active: Option<bool>,
}

/// A page of users matching `filter` in id order, and how many match in all.
pub async fn search_users(
    conn: &mut AsyncPgConnection,
    filter: &UserFilter,
    after_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<User>, i64), AppError> {
    let matching = || {
        let mut query = users::table.into_boxed();
        if let Some(search) = &filter.search {
            let pattern = format!("%{}%", escape_like(search.trim()));
            query = query.filter(
                users::username
                    .ilike(pattern.clone())
                    .escape('\\')
                    .or(users::email.ilike(pattern.clone()).escape('\\'))
                    .or(users::first_name.ilike(pattern.clone()).escape('\\'))
                    .or(users::last_name.ilike(pattern).escape('\\')),
            );
        }
        if let Some(role_id) = filter.role_id {
            query = query.filter(
                users::id.eq_any(
                    user_roles::table
                        .filter(user_roles::role_id.eq(role_id))
                        .select(user_roles::user_id),
                ),
            );
        }
        if let Some(active) = filter.active {
            query = query.filter(users::is_active.eq(active));
        }
        query
    };
    let mut page = matching()
        .select(User::as_select())
        .order(users::id)
        .limit(limit);
    if let Some(after_id) = after_id {
        page = page.filter(users::id.gt(after_id));
    }
    let rows = page.load(conn).await?;
    let total = matching().count().get_result(conn).await?;
    Ok((rows, total))
}

/// `%`, `_` and the escape character itself, made literal for `LIKE ... ESCAPE '\\'`.
pub fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

pub async fn update_identity(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    changes: &IdentityChanges,
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    if changes.is_empty() {
        return find_by_id(conn, user_id).await;
    }
    diesel::update(
        users::table
            .find(user_id)
            .filter(users::deleted_at.is_null()),
    )
    .set((changes, users::updated_at.eq(now)))
    .returning(User::as_returning())
    .get_result(conn)
    .await
    .optional()
    .map_err(map_unique_violation)?
    .ok_or_else(|| AppError::not_found("User", user_id))
}

/// The account using `email` (already normalised), active or not, if any.
pub async fn find_by_email(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> Result<Option<User>, AppError> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The active account using `email` (already normalised), if any.
pub async fn find_active_by_email(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> Result<Option<User>, AppError> {
    Ok(users::table
        .filter(users::email.eq(email))
        .filter(users::is_active)
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Marks the address verified if it is still the account's address.
pub async fn mark_email_verified(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    email: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let updated = diesel::update(users::table.find(user_id).filter(users::email.eq(email)))
        .set(users::email_verified_at.eq(now))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// A new, unverified address.
pub async fn change_email(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    email: &str,
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    diesel::update(users::table.find(user_id))
        .set((
            users::email.eq(email),
            users::email_verified_at.eq(None::<DateTime<Utc>>),
            users::updated_at.eq(now),
        ))
        .returning(User::as_returning())
        .get_result(conn)
        .await
        .map_err(map_unique_violation)
}

pub async fn set_active(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    active: bool,
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    diesel::update(
        users::table
            .find(user_id)
            .filter(users::deleted_at.is_null()),
    )
    .set((users::is_active.eq(active), users::updated_at.eq(now)))
    .returning(User::as_returning())
    .get_result(conn)
    .await
    .optional()?
    .ok_or_else(|| AppError::not_found("User", user_id))
}

/// The account, locked until the transaction ends; `NOT_FOUND` for an unknown id or a
/// tombstone. A trade locks its trader the same way first, so a trade and an erasure of the
/// same account run one after the other.
pub async fn lock_live(conn: &mut AsyncPgConnection, user_id: i64) -> Result<User, AppError> {
    users::table
        .find(user_id)
        .filter(users::deleted_at.is_null())
        .select(User::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("User", user_id))
}

/// Whether the account is a tombstone (an unknown id is not).
pub async fn is_deleted(conn: &mut AsyncPgConnection, user_id: i64) -> Result<bool, AppError> {
    Ok(users::table
        .find(user_id)
        .select(users::deleted_at.is_not_null())
        .first(conn)
        .await
        .optional()?
        .unwrap_or(false))
}

/// Makes the account a tombstone at `now`: the placeholder `username` and `email` (which no
/// registration can take), no password, names, zone, verification or sign-in time, inactive.
/// The id and the budget stay.
pub async fn erase(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    (username, email): (&str, &str),
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    Ok(diesel::update(users::table.find(user_id))
        .set((
            users::username.eq(username),
            users::email.eq(email),
            users::password_hash.eq(""),
            users::first_name.eq(""),
            users::last_name.eq(""),
            users::time_zone.eq("UTC"),
            users::is_active.eq(false),
            users::last_login_at.eq(None::<DateTime<Utc>>),
            users::email_verified_at.eq(None::<DateTime<Utc>>),
            users::deleted_at.eq(now),
            users::updated_at.eq(now),
        ))
        .returning(User::as_returning())
        .get_result(conn)
        .await?)
}

fn map_unique_violation(error: diesel::result::Error) -> AppError {
    match violated_unique_constraint(&error) {
        Some("users_username_lower_key") => AppError::taken("username"),
        Some("users_email_key") => AppError::taken("email"),
        _ => error.into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_taken_literally() {
        assert_eq!(super::escape_like("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(super::escape_like("plain"), "plain");
    }
}
