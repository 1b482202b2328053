//! SQL of reminders: a habit's times, the occurrences the job claims once they are due, and
//! the deliveries that send each occurrence once.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{Occurrence, ReminderRow};
use crate::accounts::model::User;
use crate::db::schema::{habit_reminder_deliveries, habit_reminders, habits, users};
use crate::error::AppError;
use crate::habits::model::HabitRow;

/// The reminder times of each of the given habits, each habit's earliest first.
pub async fn times_of(
    conn: &mut AsyncPgConnection,
    habit_ids: &[i64],
) -> Result<Vec<(i64, NaiveTime)>, AppError> {
    Ok(habit_reminders::table
        .filter(habit_reminders::habit_id.eq_any(habit_ids))
        .order((habit_reminders::habit_id, habit_reminders::local_time))
        .select((habit_reminders::habit_id, habit_reminders::local_time))
        .load(conn)
        .await?)
}

/// Makes `planned` the habit's reminders: times no longer wanted go (with their deliveries),
/// new ones start at their first occurrence, and times kept stay as they were, so replacing a
/// list with itself changes nothing and sends nothing twice. The caller holds the habit's lock.
pub async fn replace(
    conn: &mut AsyncPgConnection,
    habit_id: i64,
    planned: &[(NaiveTime, Occurrence)],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let kept: Vec<NaiveTime> = planned.iter().map(|(time, _)| *time).collect();
    diesel::delete(
        habit_reminders::table
            .filter(habit_reminders::habit_id.eq(habit_id))
            .filter(habit_reminders::local_time.ne_all(&kept)),
    )
    .execute(conn)
    .await?;
    let rows: Vec<_> = planned
        .iter()
        .map(|(time, first)| {
            (
                habit_reminders::habit_id.eq(habit_id),
                habit_reminders::local_time.eq(*time),
                habit_reminders::due_day.eq(first.day),
                habit_reminders::due_at.eq(first.fires_at),
                habit_reminders::created_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(habit_reminders::table)
        .values(rows)
        .on_conflict((habit_reminders::habit_id, habit_reminders::local_time))
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// A due reminder, with its habit and the habit's owner as they are now.
pub type Due = (ReminderRow, HabitRow, User);

/// Claims up to `limit` reminders whose occurrence has come by `now`, earliest first, locked
/// until the transaction ends. Other instances skip the locked rows (and, once this one
/// commits, find them moved forward), so the instances share the work without waiting.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Due>, AppError> {
    // Locks the reminders only: a habit or account being changed meanwhile holds up nothing.
    let ids: Vec<i64> = habit_reminders::table
        .filter(habit_reminders::due_at.le(now))
        .order(habit_reminders::due_at)
        .limit(limit)
        .select(habit_reminders::id)
        .for_update()
        .skip_locked()
        .load(conn)
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(habit_reminders::table
        .inner_join(habits::table.inner_join(users::table))
        .filter(habit_reminders::id.eq_any(&ids))
        .order(habit_reminders::due_at)
        .select((
            ReminderRow::as_select(),
            HabitRow::as_select(),
            User::as_select(),
        ))
        .load(conn)
        .await?)
}

/// Moves the reminder to its next occurrence.
pub async fn reschedule(
    conn: &mut AsyncPgConnection,
    id: i64,
    next: Occurrence,
) -> Result<(), AppError> {
    diesel::update(habit_reminders::table.find(id))
        .set((
            habit_reminders::due_day.eq(next.day),
            habit_reminders::due_at.eq(next.fires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records that the reminder goes out for the habit day `day`: true when it had not yet. The
/// primary key decides between instances: of two inserting the same day, one gets false.
pub async fn record_delivery(
    conn: &mut AsyncPgConnection,
    reminder_id: i64,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let inserted = diesel::insert_into(habit_reminder_deliveries::table)
        .values((
            habit_reminder_deliveries::reminder_id.eq(reminder_id),
            habit_reminder_deliveries::habit_day.eq(day),
            habit_reminder_deliveries::sent_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Makes every reminder of the user due for the job to place again, after their zone or day
/// start changed: their instants were worked out in the old days. The job moves each to its
/// instant in the new ones (or sends it, when that has passed on a day not yet reminded).
pub async fn replan_user(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let owned = habits::table
        .filter(habits::user_id.eq(user_id))
        .select(habits::id);
    Ok(diesel::update(
        habit_reminders::table
            .filter(habit_reminders::habit_id.eq_any(owned))
            .filter(habit_reminders::due_at.gt(now)),
    )
    .set(habit_reminders::due_at.eq(now))
    .execute(conn)
    .await?)
}

/// Deletes the records of reminders sent before `before`; how many. The job never looks back
/// further than a day, so older records only answer support questions.
pub async fn delete_deliveries_before(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
) -> Result<usize, AppError> {
    Ok(diesel::delete(
        habit_reminder_deliveries::table.filter(habit_reminder_deliveries::sent_at.lt(before)),
    )
    .execute(conn)
    .await?)
}
