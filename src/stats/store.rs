//! The task side of the statistics: a few aggregate statements, whatever the number of tasks.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::tasks;
use crate::error::AppError;

#[derive(QueryableByName, Debug)]
pub struct TaskTotals {
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub done: i64,
    #[diesel(sql_type = BigInt)]
    pub created_in_range: i64,
    #[diesel(sql_type = BigInt)]
    pub completed_in_range: i64,
    /// Over the tasks completed in the range; null without any.
    #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
    pub average_hours: Option<f64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub first_created_at: Option<DateTime<Utc>>,
}

/// Totals of the user's tasks; "in range" means at or after `since` (everything when `None`).
pub async fn task_totals(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    since: Option<DateTime<Utc>>,
) -> Result<TaskTotals, AppError> {
    Ok(diesel::sql_query(
        "SELECT count(*) AS total,
                count(*) FILTER (WHERE status = 'DONE') AS done,
                count(*) FILTER (WHERE created_at >= COALESCE($2, '-infinity')) AS created_in_range,
                count(*) FILTER (WHERE completed_at >= COALESCE($2, '-infinity')) AS completed_in_range,
                (avg(extract(epoch FROM completed_at - created_at))
                    FILTER (WHERE completed_at >= COALESCE($2, '-infinity')) / 3600)::float8 AS average_hours,
                min(created_at) AS first_created_at
         FROM tasks WHERE user_id = $1",
    )
    .bind::<BigInt, _>(user_id)
    .bind::<Nullable<Timestamptz>, _>(since)
    .get_result(conn)
    .await?)
}

pub async fn tasks_by_priority(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<Vec<(String, i64)>, AppError> {
    Ok(tasks::table
        .filter(tasks::user_id.eq(user_id))
        .group_by(tasks::priority)
        .select((tasks::priority, diesel::dsl::count_star()))
        .load(conn)
        .await?)
}

pub async fn tasks_by_theme(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<Vec<(Option<i64>, i64)>, AppError> {
    Ok(tasks::table
        .filter(tasks::user_id.eq(user_id))
        .group_by(tasks::theme_id)
        .select((tasks::theme_id, diesel::dsl::count_star()))
        .load(conn)
        .await?)
}
