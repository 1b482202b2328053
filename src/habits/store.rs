//! Habit queries, each scoped to the owner in SQL. Callers pass validated fields; what a change
//! means for the habit's span and archive state the domain (`habits`) decides.

use std::sync::LazyLock;

use chrono::{DateTime, Days, NaiveDate, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Date, Integer, Nullable, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{
    CompletedDays, DayEntry, DayMark, HabitChanges, HabitRow, HabitUpdate, Measure, NewHabit,
};
use crate::accounts::store as accounts_store;
use crate::db::fixed_sql::{FixedSql, fixed_sql};
use crate::db::quota;
use crate::db::schema::{habit_completions, habits};
use crate::error::AppError;
use crate::themes::store as theme_store;

/// Archives every habit (of one user, or of all) whose `endsOn` is before its owner's today,
/// dated the start of the day after `endsOn` as the owner's zone and day start place it
/// (`crate::dates::UserDays`, in SQL). Run by the periodic job and
/// before every read, so nobody sees an ended habit as active. Safe to run anywhere at once:
/// it only touches rows still unarchived.
pub async fn archive_ended(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    user_id: Option<i64>,
) -> Result<usize, AppError> {
    let mut archive = diesel::sql_query(
        "UPDATE habits h
         SET archived_at = ((h.ends_on + 1)::timestamp + make_interval(mins => u.day_start_minutes))
                           AT TIME ZONE u.time_zone,
             auto_archived = TRUE,
             updated_at = $1
         FROM users u
         WHERE u.id = h.user_id
           AND h.archived_at IS NULL AND h.ends_on IS NOT NULL
           AND h.ends_on < (($1 AT TIME ZONE u.time_zone)
                            - make_interval(mins => u.day_start_minutes))::date",
    )
    .into_boxed()
    .bind::<Timestamptz, _>(now);
    // Its own statement rather than `$2 IS NULL OR ...`, which no generic plan can answer from
    // the user's index: every read of habits would scan every habit.
    if let Some(user_id) = user_id {
        archive = archive
            .sql(" AND h.user_id = $2")
            .bind::<BigInt, _>(user_id);
    }
    Ok(archive.execute(conn).await?)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    id: i64,
) -> Result<HabitRow, AppError> {
    habits::table
        .find(id)
        .filter(habits::user_id.eq(user_id))
        .select(HabitRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Habit", id))
}

#[derive(Default)]
pub struct HabitFilter {
    /// `Some(false)`: only active habits; `Some(true)`: only archived ones.
    pub archived: Option<bool>,
    pub kind: Option<&'static str>,
    pub theme_id: Option<i64>,
    /// Matched against the name, the description and the days' notes; `%` and `_` match
    /// themselves.
    pub search: Option<String>,
}

/// A listed habit: the row, whether `today` is done, and every completion date (oldest first)
/// when they were asked for.
pub struct Listed {
    pub row: HabitRow,
    pub today_mark: DayMark,
    pub completions: Option<CompletedDays>,
}

/// The user's habits matching `filter` in creation order, each with whether `today` is done,
/// and with every completion date when `with_completions`: one statement either way.
pub async fn list(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    filter: &HabitFilter,
    today: NaiveDate,
    with_completions: bool,
) -> Result<Vec<Listed>, AppError> {
    if with_completions {
        let rows: Vec<(HabitRow, Vec<i32>)> = filtered(
            habits::table
                .select((HabitRow::as_select(), marked_days()))
                .into_boxed(),
            user_id,
            filter,
        )
        .load(conn)
        .await?;
        return Ok(rows
            .into_iter()
            .map(|(row, codes)| {
                let days = completed_days(&codes);
                Listed {
                    row,
                    today_mark: days.mark(today),
                    completions: Some(days),
                }
            })
            .collect());
    }
    // A scalar subquery rather than EXISTS: the planner may answer an EXISTS by hashing every
    // completion of that day across all users, where this is one index probe per habit. It is
    // null when the day holds nothing.
    static MARK_OF_DAY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "(SELECT {DAY_STATE} FROM habit_completions
              WHERE habit_completions.habit_id = habits.id AND habit_completions.completed_on = "
        )
    });
    let mark_today =
        fixed_sql::<Nullable<Integer>>(MARK_OF_DAY.as_str()).then(today.into_sql::<Date>(), ")");
    let rows: Vec<(HabitRow, Option<i32>)> = filtered(
        habits::table
            .select((HabitRow::as_select(), mark_today))
            .into_boxed(),
        user_id,
        filter,
    )
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(row, state)| Listed {
            row,
            today_mark: match state {
                Some(SKIPPED) => DayMark::Skipped,
                Some(DONE) => DayMark::Done,
                _ => DayMark::Open,
            },
            completions: None,
        })
        .collect())
}

/// What a day's check-in amounts to, from a row of `habit_completions` and its habit: `DONE`,
/// `SKIPPED`, or the thousandths of an `AT_LEAST` target a value short of it reached (a value
/// over an `AT_MOST` target earns none). Decided as the day is read, so a changed target
/// applies to the days already recorded; a check-in without a value is a yes/no habit's tick.
const DAY_STATE: &str = "CASE
    WHEN habit_completions.skipped THEN 1001
    WHEN habits.measure IS NULL OR habit_completions.value IS NULL THEN 1000
    WHEN habits.measure ->> 'direction' = 'AT_MOST'
        THEN CASE WHEN habit_completions.value <= (habits.measure ->> 'target')::float8
                  THEN 1000 ELSE 0 END
    WHEN habit_completions.value >= (habits.measure ->> 'target')::float8 THEN 1000
    ELSE floor(habit_completions.value * 1000 / (habits.measure ->> 'target')::float8)::int
END";
const DONE: i32 = 1000;
const SKIPPED: i32 = 1001;
/// Room for every [`DAY_STATE`] beside the day number in one integer.
const STATES: i32 = 1024;

/// The habit's marked days, oldest first, read as one index range per habit: each as PostgreSQL
/// keeps dates, days since 2000-01-01, times [`STATES`], plus its [`DAY_STATE`], so done,
/// skipped and partly done days come in one array. (Aggregating all the habits' completions in
/// one GROUP BY read the same entries twice as slowly, and so did a second array for the
/// skips.) Dates lie in the window of `crate::dates`, so the codes fit an `int`.
fn marked_days() -> FixedSql<Array<Integer>> {
    static MARKED_DAYS: LazyLock<String> = LazyLock::new(|| {
        format!(
            "ARRAY(SELECT (habit_completions.completed_on - DATE '2000-01-01') * {STATES} + {DAY_STATE}
               FROM habit_completions WHERE habit_completions.habit_id = habits.id
               ORDER BY habit_completions.completed_on)"
        )
    });
    fixed_sql(MARKED_DAYS.as_str())
}

/// The done, skipped and partly done days [`marked_days`] encodes.
fn completed_days(codes: &[i32]) -> CompletedDays {
    let (mut done, mut skipped, mut partial, mut credits) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for code in codes {
        match (code.div_euclid(STATES), code.rem_euclid(STATES)) {
            (day, DONE) => done.push(day),
            (day, SKIPPED) => skipped.push(day),
            (_, 0) => {}
            (day, credit) => {
                partial.push(day);
                credits.push(credit.unsigned_abs());
            }
        }
    }
    CompletedDays::new(days_of(&done))
        .with_skipped(days_of(&skipped))
        .with_partial(days_of(&partial).into_iter().zip(credits).collect())
}

/// The dates of ascending day numbers. diesel decodes a `Date` by adding its day number to
/// 2000-01-01, which leaves the year and takes chrono's slow path for every date: a third of a
/// statistics request over two years of completions. Reached from the date before instead,
/// nearly every date stays within its year. (A date chrono cannot hold, past the year 262,143,
/// is never marked: marks are at most a year ahead.)
fn days_of(days: &[i32]) -> Vec<NaiveDate> {
    const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date");
    let mut previous = (0, EPOCH);
    days.iter()
        .filter_map(|&day| {
            let date = match u64::try_from(i64::from(day) - i64::from(previous.0)) {
                Ok(forward) => previous.1.checked_add_days(Days::new(forward)),
                Err(_) => EPOCH.checked_add_signed(chrono::TimeDelta::days(i64::from(day))),
            }?;
            previous = (day, date);
            Some(date)
        })
        .collect()
}

fn filtered<'a, ST: 'a>(
    mut query: habits::BoxedQuery<'a, Pg, ST>,
    user_id: i64,
    filter: &HabitFilter,
) -> habits::BoxedQuery<'a, Pg, ST> {
    query = query.filter(habits::user_id.eq(user_id)).order(habits::id);
    match filter.archived {
        Some(true) => query = query.filter(habits::archived_at.is_not_null()),
        Some(false) => query = query.filter(habits::archived_at.is_null()),
        None => {}
    }
    if let Some(kind) = filter.kind {
        query = query.filter(habits::kind.eq(kind));
    }
    if let Some(theme_id) = filter.theme_id {
        query = query.filter(habits::theme_id.eq(theme_id));
    }
    if let Some(search) = &filter.search {
        let pattern = format!("%{}%", accounts_store::escape_like(search));
        let in_notes = diesel::dsl::exists(
            habit_completions::table
                .filter(habit_completions::habit_id.eq(habits::id))
                .filter(habit_completions::note.ilike(pattern.clone()).escape('\\')),
        );
        query = query.filter(
            habits::name
                .ilike(pattern.clone())
                .escape('\\')
                .or(habits::description.ilike(pattern).escape('\\'))
                .or(in_notes),
        );
    }
    query
}

/// Every completion date of each of the given habits.
pub async fn completions(
    conn: &mut AsyncPgConnection,
    habit_ids: &[i64],
) -> Result<Vec<(i64, CompletedDays)>, AppError> {
    let rows: Vec<(i64, Vec<i32>)> = habits::table
        .filter(habits::id.eq_any(habit_ids))
        .select((habits::id, marked_days()))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(habit_id, codes)| (habit_id, completed_days(&codes)))
        .collect())
}

/// Creates a habit unless the user has `cap` already; one that ended before today is archived
/// at once.
pub async fn create(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    new: &NewHabit,
    cap: u32,
    now: DateTime<Utc>,
) -> Result<HabitRow, AppError> {
    crate::db::transaction(conn, async |conn| {
        quota::lock(conn, quota::HABITS_LOCK, user_id).await?;
        let owned = habits::table
            .filter(habits::user_id.eq(user_id))
            .count()
            .get_result(conn)
            .await?;
        quota::check("habits", owned, cap)?;
        if let Some(theme_id) = new.theme_id {
            theme_store::ensure_owned(conn, user_id, theme_id).await?;
        }
        let id: i64 = diesel::insert_into(habits::table)
            .values((
                habits::user_id.eq(user_id),
                habits::name.eq(&new.name),
                habits::description.eq(&new.description),
                habits::theme_id.eq(new.theme_id),
                habits::kind.eq(new.schedule.kind()),
                habits::schedule.eq(new.schedule.parameters()),
                habits::starts_on.eq(new.starts_on),
                habits::ends_on.eq(new.ends_on),
                habits::skips_per_month.eq(new.skips_per_month),
                habits::measure.eq(new.measure.as_ref().map(stored_measure)),
                habits::created_at.eq(now),
                habits::updated_at.eq(now),
            ))
            .returning(habits::id)
            .get_result(conn)
            .await
            .map_err(theme_store::missing_theme)?;
        archive_ended(conn, now, Some(user_id)).await?;
        find(conn, user_id, id).await
    })
    .await
}

fn stored_measure(measure: &Measure) -> serde_json::Value {
    serde_json::json!(measure)
}

/// The habit, locked against other changes until the transaction ends.
pub async fn lock(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    id: i64,
) -> Result<HabitRow, AppError> {
    habits::table
        .find(id)
        .filter(habits::user_id.eq(user_id))
        .select(HabitRow::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Habit", id))
}

/// Writes the changed fields; a theme deleted meanwhile is `NOT_FOUND`.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: i64,
    changes: &HabitChanges,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::update(habits::table.find(id))
        .set(HabitUpdate {
            name: changes.name.clone(),
            description: changes.description.clone(),
            theme_id: changes.theme_id,
            kind: changes.schedule.as_ref().map(|schedule| schedule.kind()),
            schedule: changes
                .schedule
                .as_ref()
                .map(|schedule| schedule.parameters()),
            starts_on: changes.starts_on,
            ends_on: changes.ends_on,
            skips_per_month: changes.skips_per_month,
            measure: changes.measure.as_ref().map(stored_measure),
            updated_at: now,
        })
        .execute(conn)
        .await
        .map_err(theme_store::missing_theme)?;
    Ok(())
}

pub async fn delete(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    id: i64,
) -> Result<HabitRow, AppError> {
    diesel::delete(habits::table.find(id).filter(habits::user_id.eq(user_id)))
        .returning(HabitRow::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Habit", id))
}

/// Deletes every habit of the user, and so their completions; how many habits there were.
pub async fn delete_all(conn: &mut AsyncPgConnection, user_id: i64) -> Result<usize, AppError> {
    quota::lock(conn, quota::HABITS_LOCK, user_id).await?;
    Ok(
        diesel::delete(habits::table.filter(habits::user_id.eq(user_id)))
            .execute(conn)
            .await?,
    )
}

/// Archives by hand (`Some(at)`) or unarchives (`None`).
pub async fn set_archived(
    conn: &mut AsyncPgConnection,
    id: i64,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<HabitRow, AppError> {
    Ok(diesel::update(habits::table.find(id))
        .set((
            habits::archived_at.eq(at),
            habits::auto_archived.eq(false),
            habits::updated_at.eq(now),
        ))
        .returning(HabitRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Marks one day done or skipped (with its note), or takes that mark back: false when the
/// day was already so. The primary key decides races: two concurrent marks of one date store
/// one row. `Err` with the mark the day holds when it holds the other one and `set` asks for
/// this one (taking back a mark the day does not hold changes nothing).
pub async fn set_mark(
    conn: &mut AsyncPgConnection,
    habit_id: i64,
    (date, mark, set): (NaiveDate, DayMark, bool),
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Result<bool, DayMark>, AppError> {
    let skipped = mark == DayMark::Skipped;
    let changed = if set {
        diesel::insert_into(habit_completions::table)
            .values((
                habit_completions::habit_id.eq(habit_id),
                habit_completions::completed_on.eq(date),
                habit_completions::skipped.eq(skipped),
                habit_completions::note.eq(note.unwrap_or_default()),
                habit_completions::created_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?
    } else {
        diesel::delete(
            habit_completions::table
                .filter(habit_completions::habit_id.eq(habit_id))
                .filter(habit_completions::completed_on.eq(date))
                .filter(habit_completions::skipped.eq(skipped)),
        )
        .execute(conn)
        .await?
    };
    if changed == 1 {
        return Ok(Ok(true));
    }
    let held: Option<bool> = habit_completions::table
        .filter(habit_completions::habit_id.eq(habit_id))
        .filter(habit_completions::completed_on.eq(date))
        .select(habit_completions::skipped)
        .get_result(conn)
        .await
        .optional()?;
    match held {
        Some(other) if other != skipped && set => Ok(Err(if other {
            DayMark::Skipped
        } else {
            DayMark::Done
        })),
        Some(_) => {
            // Marked so already: a note given now replaces the old one.
            if let Some(note) = note.filter(|_| set) {
                diesel::update(
                    habit_completions::table
                        .filter(habit_completions::habit_id.eq(habit_id))
                        .filter(habit_completions::completed_on.eq(date)),
                )
                .set(habit_completions::note.eq(note))
                .execute(conn)
                .await?;
            }
            Ok(Ok(false))
        }
        None => Ok(Ok(false)),
    }
}

/// Whether the habit's `day` is already dealt with: done (a measurable habit's value meets its
/// target) or skipped. The one answer to "does this day still want doing" that reminders ask
/// before they nag; a value short of the target still wants doing.
pub async fn day_done_or_skipped(
    conn: &mut AsyncPgConnection,
    habit_id: i64,
    day: NaiveDate,
) -> Result<bool, AppError> {
    let state: Option<i32> = habit_completions::table
        .inner_join(habits::table)
        .filter(habit_completions::habit_id.eq(habit_id))
        .filter(habit_completions::completed_on.eq(day))
        .select(fixed_sql::<Integer>(DAY_STATE))
        .first(conn)
        .await
        .optional()?;
    Ok(matches!(state, Some(DONE | SKIPPED)))
}

/// The given habits' days with a note or a value from `from` to `to`, each habit's oldest
/// first.
pub async fn entries_between(
    conn: &mut AsyncPgConnection,
    habit_ids: &[i64],
    (from, to): (NaiveDate, NaiveDate),
) -> Result<Vec<(i64, DayEntry)>, AppError> {
    let rows: Vec<(i64, NaiveDate, bool, Option<f64>, i32, String)> = habit_completions::table
        .inner_join(habits::table)
        .filter(habit_completions::habit_id.eq_any(habit_ids))
        .filter(habit_completions::completed_on.between(from, to))
        .filter(
            habit_completions::note
                .ne("")
                .or(habit_completions::value.is_not_null()),
        )
        .order((habit_completions::habit_id, habit_completions::completed_on))
        .select((
            habit_completions::habit_id,
            habit_completions::completed_on,
            habit_completions::skipped,
            habit_completions::value,
            fixed_sql::<Integer>(DAY_STATE),
            habit_completions::note,
        ))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(habit_id, date, skipped, value, state, note)| {
            let met = state == DONE;
            (
                habit_id,
                DayEntry {
                    date,
                    skipped,
                    value,
                    met,
                    note,
                },
            )
        })
        .collect())
}

/// What the habit's day holds, if anything: whether it is skipped, its value and its note.
pub async fn day(
    conn: &mut AsyncPgConnection,
    habit_id: i64,
    date: NaiveDate,
) -> Result<Option<(bool, Option<f64>, String)>, AppError> {
    Ok(habit_completions::table
        .find((habit_id, date))
        .select((
            habit_completions::skipped,
            habit_completions::value,
            habit_completions::note,
        ))
        .first(conn)
        .await
        .optional()?)
}

/// Stores a measurable habit's value for a day, replacing the value and note it had.
pub async fn record_value(
    conn: &mut AsyncPgConnection,
    habit_id: i64,
    (date, value): (NaiveDate, f64),
    note: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::insert_into(habit_completions::table)
        .values((
            habit_completions::habit_id.eq(habit_id),
            habit_completions::completed_on.eq(date),
            habit_completions::value.eq(value),
            habit_completions::note.eq(note),
            habit_completions::created_at.eq(now),
        ))
        .on_conflict((habit_completions::habit_id, habit_completions::completed_on))
        .do_update()
        .set((
            habit_completions::value.eq(value),
            habit_completions::note.eq(note),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// How many days of the habit are skipped from `from` to `to`, both included.
pub async fn skips_between(
    conn: &mut AsyncPgConnection,
    habit_id: i64,
    (from, to): (NaiveDate, NaiveDate),
) -> Result<i64, AppError> {
    Ok(habit_completions::table
        .filter(habit_completions::habit_id.eq(habit_id))
        .filter(habit_completions::skipped)
        .filter(habit_completions::completed_on.between(from, to))
        .count()
        .get_result(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_become_the_dates_postgresql_means() {
        let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        // Before 2000, the leap day of 2000, year ends, a 2024 leap day, a gap of years.
        let days = [
            -800, -1, 0, 58, 59, 60, 365, 366, 730, 8825, 8826, 9555, 20000,
        ];
        let expected: Vec<NaiveDate> = days
            .iter()
            .map(|&day| epoch + chrono::TimeDelta::days(i64::from(day)))
            .collect();
        assert_eq!(expected[4], NaiveDate::from_ymd_opt(2000, 2, 29).unwrap());
        let done: Vec<i32> = days.iter().map(|day| day * STATES + DONE).collect();
        assert_eq!(completed_days(&done), CompletedDays::new(expected.clone()));
        assert_eq!(completed_days(&[]), CompletedDays::default());
        // Every third day skipped, every third one short of its target (one with nothing
        // earned), before 2000 too.
        let state = |i: usize| match i % 3 {
            0 => SKIPPED,
            1 => DONE,
            _ => i32::try_from(i).unwrap() * 50 - 100,
        };
        let mixed: Vec<i32> = days
            .iter()
            .enumerate()
            .map(|(i, day)| day * STATES + state(i))
            .collect();
        let with = |wanted: i32| -> Vec<NaiveDate> {
            (0..days.len())
                .filter(|&i| state(i) == wanted)
                .map(|i| expected[i])
                .collect()
        };
        let partial = (0..days.len())
            .filter(|&i| !matches!(state(i), DONE | SKIPPED | 0))
            .map(|i| (expected[i], state(i).unsigned_abs()))
            .collect();
        assert_eq!(
            completed_days(&mixed),
            CompletedDays::new(with(DONE))
                .with_skipped(with(SKIPPED))
                .with_partial(partial)
        );
    }
}
