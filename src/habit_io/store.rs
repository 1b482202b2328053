//! What imports keep: which habit each imported name became, and a habit's days written in bulk.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{habit_completions, habit_imports};
use crate::error::AppError;

/// The habit an earlier import made of `source`, if it still exists.
pub async fn imported_habit(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    source: &str,
) -> Result<Option<i64>, AppError> {
    Ok(habit_imports::table
        .find((user_id, source))
        .select(habit_imports::habit_id)
        .first(conn)
        .await
        .optional()?)
}

/// Notes that `source` was imported as `habit_id`.
pub async fn remember_import(
    conn: &mut AsyncPgConnection,
    (user_id, source): (i64, &str),
    habit_id: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::insert_into(habit_imports::table)
        .values((
            habit_imports::user_id.eq(user_id),
            habit_imports::source.eq(source),
            habit_imports::habit_id.eq(habit_id),
            habit_imports::created_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A day as it is stored: skipped or not, and a measurable habit's value.
pub type StoredDay = (bool, Option<f64>);

/// Every marked day of the habit.
pub async fn days(
    conn: &mut AsyncPgConnection,
    habit_id: i64,
) -> Result<HashMap<NaiveDate, StoredDay>, AppError> {
    let rows: Vec<(NaiveDate, bool, Option<f64>)> = habit_completions::table
        .filter(habit_completions::habit_id.eq(habit_id))
        .select((
            habit_completions::completed_on,
            habit_completions::skipped,
            habit_completions::value,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(date, skipped, value)| (date, (skipped, value)))
        .collect())
}

/// A day to write: its date, whether it is skipped, its value and its note.
pub struct NewDay {
    pub date: NaiveDate,
    pub skipped: bool,
    pub value: Option<f64>,
    pub note: String,
}

/// Writes days the habit does not hold yet, in statements of a few thousand rows (a
/// statement takes at most 65,535 parameters).
pub async fn insert_days(
    conn: &mut AsyncPgConnection,
    habit_id: i64,
    days: &[NewDay],
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let mut written = 0;
    for chunk in days.chunks(5_000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|day| {
                (
                    habit_completions::habit_id.eq(habit_id),
                    habit_completions::completed_on.eq(day.date),
                    habit_completions::skipped.eq(day.skipped),
                    habit_completions::value.eq(day.value),
                    habit_completions::note.eq(&day.note),
                    habit_completions::created_at.eq(now),
                )
            })
            .collect();
        written += diesel::insert_into(habit_completions::table)
            .values(rows)
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(written)
}
