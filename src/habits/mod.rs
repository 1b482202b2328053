//! Habits: the recurrence engine (`rules`), their storage, the API, and the archive job. The
//! functions here are the domain's steps, each in the owner's calendar: archive what ended,
//! validate, change through the store, and answer the habit as its owner sees it today.

pub mod graphql;
pub mod loader;
pub mod model;
pub mod rules;
pub mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use model::{
    Completions, CompletionsRead, DayMark, Habit, HabitChanges, HabitKind, HabitRow, HabitStatus,
    HabitsOrderBy, Measure, NewHabit,
};
use rules::{Schedule, SortKey};
use store::HabitFilter;

use crate::App;
use crate::dates::UserDays;
use crate::db;
use crate::error::{AppError, reason};
use crate::themes::store as theme_store;
use crate::webhooks::model::EventType;

/// Archives ended habits of every user now and then, for as long as the server runs. Safe on
/// every instance at once: the statement only touches rows still unarchived.
pub async fn run_archive_job(app: Arc<App>) {
    let mut ticks =
        tokio::time::interval(Duration::from_secs(app.config.archive_interval_secs.max(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let outcome = match crate::db::conn(&app.pool).await {
            Ok(mut conn) => store::archive_ended(&mut conn, app.clock.now(), None).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(0) => {}
            Ok(archived) => tracing::info!(archived, "archived habits that ended"),
            Err(error) => tracing::warn!(?error, "archiving ended habits failed; will retry"),
        }
    }
}

/// The owner's calendar right now: how their days fall, the instant, and their date.
pub struct Calendar {
    pub user_id: i64,
    pub days: UserDays,
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
}

impl Calendar {
    /// The user's calendar at the app clock's now.
    pub fn of(app: &App, user_id: i64, days: UserDays) -> Self {
        let now = app.clock.now();
        Self {
            user_id,
            days,
            now,
            today: days.date_at(now),
        }
    }

    pub fn habit(&self, row: HabitRow) -> Result<Habit, AppError> {
        Habit::new(row, self.days, self.today)
    }

    /// Listed habits with their "done today" flags, and the completions that came with them.
    pub fn listed(
        &self,
        rows: Vec<store::Listed>,
    ) -> Result<(Vec<Habit>, CompletionsRead), AppError> {
        let mut completions = Vec::new();
        let habits = rows
            .into_iter()
            .map(|listed| {
                let mut habit = self.habit(listed.row)?;
                habit.today_mark = Some(listed.today_mark);
                if let Some(dates) = listed.completions {
                    completions.push((habit.row.id, Arc::new(dates)));
                }
                Ok(habit)
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        Ok((habits, completions))
    }
}

/// One of the user's habits, after archiving what ended.
pub async fn find(app: &App, calendar: &Calendar, id: i64) -> Result<Habit, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::archive_ended(&mut conn, calendar.now, Some(calendar.user_id)).await?;
    calendar.habit(store::find(&mut conn, calendar.user_id, id).await?)
}

/// What `habits` narrows to; every condition given must hold.
#[derive(Default)]
pub struct HabitQuery {
    pub status: Option<HabitStatus>,
    pub kind: Option<HabitKind>,
    pub theme_id: Option<i64>,
    /// Text in the name, the description or a day's note.
    pub search: Option<String>,
}

/// A page of habits with their sort keys, how many match in all, and the completions read on
/// the way (every habit's, when ordering by streak).
pub struct HabitList {
    pub page: Vec<(SortKey, Habit)>,
    pub total: i64,
    pub completions: CompletionsRead,
}

/// The user's habits matching `query` in `order`, up to `limit` after the cursor `after`.
/// Ended habits are archived before the list is read.
pub async fn list(
    app: &App,
    calendar: &Calendar,
    query: &HabitQuery,
    order: HabitsOrderBy,
    after: Option<&(HabitsOrderBy, SortKey)>,
    limit: usize,
) -> Result<HabitList, AppError> {
    if after.is_some_and(|(cursor_order, _)| *cursor_order != order) {
        return Err(AppError::bad_input(
            "after",
            "That cursor belongs to another order",
        ));
    }
    let filter = HabitFilter {
        archived: query.status.map(|status| status == HabitStatus::Archived),
        kind: query.kind.map(HabitKind::as_str),
        theme_id: query.theme_id,
        search: crate::text::search(query.search.as_deref())?,
    };
    // Ordering by streak needs every habit's completions; otherwise only the page's are read,
    // once it is known.
    let by_streak = order == HabitsOrderBy::Streak;
    let mut conn = db::conn(&app.pool).await?;
    store::archive_ended(&mut conn, calendar.now, Some(calendar.user_id)).await?;
    let rows = store::list(
        &mut conn,
        calendar.user_id,
        &filter,
        calendar.today,
        by_streak,
    )
    .await?;
    drop(conn);
    let (habits, completions) = calendar.listed(rows)?;
    let done: HashMap<i64, &Completions> = completions.iter().map(|(id, d)| (*id, d)).collect();
    let keyed = habits
        .into_iter()
        .filter(|habit| rules::in_status(query.status, &habit.plan, habit.today, habit.today_mark))
        .map(|habit| {
            let streak = match done.get(&habit.row.id) {
                Some(dates) if by_streak => habit.plan.current_streak(dates, habit.today),
                _ => 0,
            };
            let key = rules::sort_key(order, &habit.row.name, habit.row.id, streak);
            (key, habit)
        })
        .collect();
    let (page, total) = rules::page(keyed, after.map(|(_, key)| key), limit);
    Ok(HabitList {
        page,
        total,
        completions,
    })
}

/// A new habit's fields as typed; `starts_on` defaults to the owner's today.
pub struct HabitDraft<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub theme_id: Option<i64>,
    pub schedule: Schedule,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub skips_per_month: Option<i32>,
    /// A measurable habit's unit, target and direction, as [`rules::measure`] checked them;
    /// `None` makes a yes/no habit.
    pub measure: Option<Measure>,
}

/// Creates a habit unless the user has as many as allowed; one that already ended is
/// archived at once.
pub async fn create(
    app: &App,
    calendar: &Calendar,
    draft: HabitDraft<'_>,
) -> Result<Habit, AppError> {
    let new = NewHabit {
        name: rules::name(draft.name)?,
        description: rules::description(draft.description)?,
        theme_id: draft.theme_id,
        schedule: draft.schedule,
        starts_on: draft.starts_on.unwrap_or(calendar.today),
        ends_on: draft.ends_on,
        skips_per_month: draft
            .skips_per_month
            .map(rules::skips_per_month)
            .transpose()?,
        measure: draft.measure,
    };
    rules::check_span(new.starts_on, new.ends_on)?;
    let cap = app.config.max_habits_per_user;
    let mut conn = db::conn(&app.pool).await?;
    let row = store::create(&mut conn, calendar.user_id, &new, cap, calendar.now).await?;
    calendar.habit(row)
}

/// Changes of a habit as typed; `None` keeps a field, `Some(None)` clears it.
#[derive(Default)]
pub struct HabitEdit<'a> {
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub theme_id: Option<Option<i64>>,
    pub schedule: Option<Schedule>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<Option<NaiveDate>>,
    pub skips_per_month: Option<Option<i32>>,
    /// A measurable habit's new measure, checked by [`rules::measure`].
    pub measure: Option<Measure>,
}

/// Changes a habit. Moving the end of a habit archived because it ended to today or later (or
/// clearing it) makes it active again; moving it into the past archives it. A measurable habit
/// may change its measure, but a yes/no habit does not become measurable: its ticked days hold
/// no value to weigh against a target.
pub async fn update(
    app: &App,
    calendar: &Calendar,
    id: i64,
    edit: HabitEdit<'_>,
) -> Result<Habit, AppError> {
    let changes = HabitChanges {
        name: edit.name.map(rules::name).transpose()?,
        description: edit.description.map(rules::description).transpose()?,
        theme_id: edit.theme_id,
        schedule: edit.schedule,
        starts_on: edit.starts_on,
        ends_on: edit.ends_on,
        skips_per_month: edit
            .skips_per_month
            .map(|cap| cap.map(rules::skips_per_month).transpose())
            .transpose()?,
        measure: edit.measure,
    };
    let (user_id, today, now) = (calendar.user_id, calendar.today, calendar.now);
    let mut conn = db::conn(&app.pool).await?;
    let row = db::transaction(&mut conn, async |conn| {
        let current = store::lock(conn, user_id, id).await?;
        if changes.measure.is_some() && current.measure.is_none() {
            return Err(AppError::bad_input(
                "measure",
                "A yes/no habit cannot become measurable; create a measurable habit instead",
            ));
        }
        if let Some(Some(theme_id)) = changes.theme_id {
            theme_store::ensure_owned(conn, user_id, theme_id).await?;
        }
        let starts_on = changes.starts_on.unwrap_or(current.starts_on);
        let ends_on = changes.ends_on.unwrap_or(current.ends_on);
        rules::check_span(starts_on, ends_on)?;
        store::update(conn, id, &changes, now).await?;
        if changes.ends_on.is_some()
            && rules::revived_by_new_end(current.auto_archived, ends_on, today)
        {
            store::set_archived(conn, id, None, now).await?;
        }
        store::archive_ended(conn, now, Some(user_id)).await?;
        store::find(conn, user_id, id).await
    })
    .await?;
    calendar.habit(row)
}

/// Deletes a habit with its completions.
pub async fn delete(app: &App, calendar: &Calendar, id: i64) -> Result<Habit, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    calendar.habit(store::delete(&mut conn, calendar.user_id, id).await?)
}

/// Archives (from now) or unarchives a habit; asking for the state it is in changes nothing.
pub async fn set_archived_by_hand(
    app: &App,
    calendar: &Calendar,
    id: i64,
    archive: bool,
) -> Result<Habit, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::archive_ended(&mut conn, calendar.now, Some(calendar.user_id)).await?;
    let mut row = store::find(&mut conn, calendar.user_id, id).await?;
    if !archive {
        rules::check_unarchive(row.ends_on, calendar.today)?;
    }
    if row.archived_at.is_some() != archive {
        let archived_at = archive.then_some(calendar.now);
        row = store::set_archived(&mut conn, id, archived_at, calendar.now).await?;
    }
    calendar.habit(row)
}

/// What marking a day done or skipped, or taking that back, did.
pub struct CompletionChange {
    pub habit: Habit,
    pub date: NaiveDate,
    /// False when the day was already so.
    pub changed: bool,
}

/// A day to mark, as typed: `date` defaults to today.
pub struct DayChange<'a> {
    pub date: Option<NaiveDate>,
    /// Done or skipped.
    pub mark: DayMark,
    /// Set the mark, or take it back.
    pub set: bool,
    /// Replaces the day's note when given with a mark set.
    pub note: Option<&'a str>,
}

/// Marks a scheduled day done or skipped, or takes that mark back. A day holds one mark:
/// completing a skipped day (or skipping a done one) is `CONFLICT`. A skip may be planned up
/// to a year ahead and counts against the habit's monthly cap (`CONFLICT`, `LIMIT_REACHED`);
/// the habit's row lock queues skips of one habit, so two cannot both take the last one.
pub async fn mark_day(
    app: &App,
    calendar: &Calendar,
    id: i64,
    change: DayChange<'_>,
) -> Result<CompletionChange, AppError> {
    let date = change.date.unwrap_or(calendar.today);
    let note = change.note.map(rules::note).transpose()?;
    let mut conn = db::conn(&app.pool).await?;
    store::archive_ended(&mut conn, calendar.now, Some(calendar.user_id)).await?;
    let (user_id, now) = (calendar.user_id, calendar.now);
    let (row, changed) = db::transaction(&mut conn, async |conn| {
        let row = store::lock(conn, user_id, id).await?;
        let habit = calendar.habit(row.clone())?;
        let archived = habit.is_archived();
        match (change.mark, change.set) {
            (DayMark::Skipped, true) => {
                rules::check_skip(&habit.plan, archived, date, calendar.today)?
            }
            (_, true) if habit.measure.is_some() => {
                return Err(AppError::bad_input(
                    "habitId",
                    "A measurable habit's day is done by its value: use recordHabitValue",
                ));
            }
            (_, true) => rules::check_completion(&habit.plan, archived, date, calendar.today)?,
            (DayMark::Skipped, false) => {
                rules::check_changeable_day(archived, date, rules::skip_horizon(calendar.today))?
            }
            (_, false) => rules::check_changeable_day(archived, date, calendar.today)?,
        }
        let marked = (date, change.mark, change.set);
        match store::set_mark(conn, id, marked, note.as_deref(), now).await? {
            // Counted after the skip is in, so a day already marked is told as such first;
            // over the cap, the transaction takes the skip back.
            Ok(true) if change.mark == DayMark::Skipped && change.set => {
                if let Some(cap) = row.skips_per_month {
                    let taken = store::skips_between(conn, id, rules::month_of(date)).await?;
                    if taken > i64::from(cap) {
                        return Err(AppError::Conflict {
                            reason: reason::LIMIT_REACHED,
                            field: Some("date"),
                            message: format!("This habit allows {cap} skipped days a month"),
                        });
                    }
                }
                Ok((row, true))
            }
            Ok(true) if change.mark == DayMark::Done && change.set => {
                let data = serde_json::json!({
                    "habit": { "id": row.id.to_string(), "name": row.name },
                    "userId": user_id.to_string(),
                    "date": date,
                });
                crate::webhooks::queue(conn, EventType::HabitCompleted, &data, now).await?;
                Ok((row, true))
            }
            Ok(changed) => Ok((row, changed)),
            Err(held) => Err(already_marked(held)),
        }
    })
    .await?;
    Ok(CompletionChange {
        habit: calendar.habit(row)?,
        date,
        changed,
    })
}

/// The refusal of a mark on a day that holds the other one.
fn already_marked(held: DayMark) -> AppError {
    let (reason, held) = if held == DayMark::Skipped {
        (reason::SKIPPED, "skipped")
    } else {
        (reason::COMPLETED, "checked in")
    };
    AppError::Conflict {
        reason,
        field: Some("date"),
        message: format!("That day is already {held}"),
    }
}

/// A measurable habit's value for a day, as typed: `date` defaults to today.
pub struct ValueEntry<'a> {
    pub date: Option<NaiveDate>,
    pub value: f64,
    /// Replaces the day's note when given; the note stays otherwise.
    pub note: Option<&'a str>,
}

/// Records a measurable habit's value for a scheduled day, today or before, replacing the
/// value the day had: the day is done when the value meets the target. A skipped day is
/// `CONFLICT` with reason `SKIPPED`; a yes/no habit is `BAD_USER_INPUT` (it is ticked).
pub async fn record_value(
    app: &App,
    calendar: &Calendar,
    id: i64,
    entry: ValueEntry<'_>,
) -> Result<CompletionChange, AppError> {
    let date = entry.date.unwrap_or(calendar.today);
    let value = rules::value(entry.value)?;
    let note = entry.note.map(rules::note).transpose()?;
    let mut conn = db::conn(&app.pool).await?;
    store::archive_ended(&mut conn, calendar.now, Some(calendar.user_id)).await?;
    let (user_id, now) = (calendar.user_id, calendar.now);
    let (row, changed) = db::transaction(&mut conn, async |conn| {
        let row = store::lock(conn, user_id, id).await?;
        let habit = calendar.habit(row.clone())?;
        if habit.measure.is_none() {
            return Err(AppError::bad_input(
                "habitId",
                "Only a measurable habit records a value; mark this one with completeHabit",
            ));
        }
        rules::check_completion(&habit.plan, habit.is_archived(), date, calendar.today)?;
        // The habit's row lock queues every change of its days, so the day read here is
        // the one written over.
        let held = store::day(conn, id, date).await?;
        let (held_value, held_note) = match held {
            Some((true, ..)) => return Err(already_marked(DayMark::Skipped)),
            Some((false, value, note)) => (value, note),
            None => (None, String::new()),
        };
        let note = note.as_deref().unwrap_or(&held_note);
        if held_value == Some(value) && note == held_note {
            return Ok((row, false));
        }
        store::record_value(conn, id, (date, value), note, now).await?;
        Ok((row, true))
    })
    .await?;
    Ok(CompletionChange {
        habit: calendar.habit(row)?,
        date,
        changed,
    })
}
