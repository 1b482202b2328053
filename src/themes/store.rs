//! Theme queries; every one is scoped to the owning user in SQL. Callers pass validated
//! names and colours.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{Theme, ThemeChanges, ThemeUsage};
use crate::db::quota;
use crate::db::schema::themes;
use crate::error::{AppError, violated_unique_constraint};

const NAME_INDEX: &str = "themes_user_name_key";
const COLOR_INDEX: &str = "themes_user_color_key";

pub async fn find(conn: &mut AsyncPgConnection, user_id: i64, id: i64) -> Result<Theme, AppError> {
    themes::table
        .find(id)
        .filter(themes::user_id.eq(user_id))
        .select(Theme::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Theme", id))
}

/// `NOT_FOUND` unless the theme exists and belongs to `user_id`: tasks and habits may only
/// carry their owner's themes.
pub async fn ensure_owned(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    id: i64,
) -> Result<(), AppError> {
    find(conn, user_id, id).await.map(|_| ())
}

pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[i64]) -> Result<Vec<Theme>, AppError> {
    Ok(themes::table
        .filter(themes::id.eq_any(ids))
        .select(Theme::as_select())
        .load(conn)
        .await?)
}

/// A page of the user's themes in creation order, and how many they have.
pub async fn page(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    after_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<Theme>, i64), AppError> {
    let mut query = themes::table
        .filter(themes::user_id.eq(user_id))
        .select(Theme::as_select())
        .order(themes::id)
        .limit(limit)
        .into_boxed();
    if let Some(after_id) = after_id {
        query = query.filter(themes::id.gt(after_id));
    }
    let rows = query.load(conn).await?;
    let total = themes::table
        .filter(themes::user_id.eq(user_id))
        .count()
        .get_result(conn)
        .await?;
    Ok((rows, total))
}

pub async fn usage(conn: &mut AsyncPgConnection, ids: &[i64]) -> Result<Vec<ThemeUsage>, AppError> {
    Ok(diesel::sql_query(
        "SELECT t.id AS theme_id,
                (SELECT count(*) FROM tasks WHERE theme_id = t.id) AS tasks,
                (SELECT count(*) FROM habits WHERE theme_id = t.id) AS habits
         FROM themes t WHERE t.id = ANY ($1)",
    )
    .bind::<Array<BigInt>, _>(ids)
    .load(conn)
    .await?)
}

/// The colours the user's themes have.
pub async fn colors(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<HashSet<String>, AppError> {
    Ok(themes::table
        .filter(themes::user_id.eq(user_id))
        .select(themes::color)
        .load(conn)
        .await?
        .into_iter()
        .collect())
}

/// One insert in its own savepoint, so a unique violation leaves the creating transaction
/// usable for the next attempt.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    name: &str,
    color: &str,
    now: DateTime<Utc>,
) -> Result<Theme, AppError> {
    crate::db::transaction(conn, async |conn| {
        diesel::insert_into(themes::table)
            .values((
                themes::user_id.eq(user_id),
                themes::name.eq(name),
                themes::color.eq(color),
                themes::created_at.eq(now),
            ))
            .returning(Theme::as_returning())
            .get_result(conn)
            .await
            .map_err(map_taken)
    })
    .await
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    id: i64,
    changes: &ThemeChanges,
) -> Result<Theme, AppError> {
    if changes.name.is_none() && changes.color.is_none() {
        return find(conn, user_id, id).await;
    }
    diesel::update(themes::table.find(id).filter(themes::user_id.eq(user_id)))
        .set(changes)
        .returning(Theme::as_returning())
        .get_result(conn)
        .await
        .optional()
        .map_err(map_taken)?
        .ok_or_else(|| AppError::not_found("Theme", id))
}

/// Deletes a theme; its tasks and habits stay, unthemed (the foreign keys set null).
pub async fn delete(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    id: i64,
) -> Result<Theme, AppError> {
    diesel::delete(themes::table.find(id).filter(themes::user_id.eq(user_id)))
        .returning(Theme::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Theme", id))
}

/// Deletes every theme of the user; how many there were.
pub async fn delete_all(conn: &mut AsyncPgConnection, user_id: i64) -> Result<usize, AppError> {
    quota::lock(conn, quota::THEMES_LOCK, user_id).await?;
    Ok(
        diesel::delete(themes::table.filter(themes::user_id.eq(user_id)))
            .execute(conn)
            .await?,
    )
}

fn map_taken(error: diesel::result::Error) -> AppError {
    match violated_unique_constraint(&error) {
        Some(NAME_INDEX) => AppError::taken("name"),
        Some(COLOR_INDEX) => AppError::taken("color"),
        _ => error.into(),
    }
}

/// A theme deleted between the ownership check and the write that names it.
pub fn missing_theme(error: diesel::result::Error) -> AppError {
    match error {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        ) => AppError::NotFound("The theme".into()),
        error => error.into(),
    }
}
