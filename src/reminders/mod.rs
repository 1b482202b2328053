//! Habit reminders: a habit's local times of day, at which its owner gets a mail (through the
//! outbox) and an event on `habitReminders`, on each day the habit is scheduled and not yet
//! done or skipped. Each reminder row holds its next occurrence (`rules`), so the job, run by
//! every instance every `AGORA_REMINDERS_INTERVAL_SECS`, reads only what is due; the deliveries'
//! primary key sends each occurrence once, whichever instances tick together.

pub mod graphql;
pub mod loader;
pub mod model;
pub mod rules;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::{Stream, StreamExt};

use crate::App;
use crate::db;
use crate::error::AppError;
use crate::habits::Calendar;
use crate::habits::model::{Habit, HabitRow};
use crate::habits::store as habits_store;
use crate::mail::{store as mail_store, templates};
use model::{Occurrence, ReminderRow, ReminderSent};
use store::Due;

/// Reminders the job handles in one transaction: a crash or an error costs at most these, which
/// the next tick takes up again.
const BATCH: i64 = 100;

/// Makes `typed` (`HH:MM` each) the times of the user's habit, replacing what it had; answers
/// the habit and its times. A new time starts with its next occurrence: set after its time of
/// day, it fires tomorrow first. Another user's habit is `NOT_FOUND`.
pub async fn set_times(
    app: &App,
    calendar: &Calendar,
    habit_id: i64,
    typed: &[String],
) -> Result<(Habit, Vec<NaiveTime>), AppError> {
    let times = rules::times(typed)?;
    let planned: Vec<(NaiveTime, Occurrence)> = times
        .iter()
        .map(|time| {
            let first = rules::first_occurrence(&calendar.days, *time, calendar.now);
            (*time, first)
        })
        .collect();
    let (user_id, now) = (calendar.user_id, calendar.now);
    let mut conn = db::conn(&app.pool).await?;
    habits_store::archive_ended(&mut conn, now, Some(user_id)).await?;
    let row = db::transaction(&mut conn, async |conn| {
        let row = habits_store::lock(conn, user_id, habit_id).await?;
        store::replace(conn, habit_id, &planned, now).await?;
        Ok(row)
    })
    .await?;
    Ok((calendar.habit(row)?, times))
}

/// The reminders the user's subscription receives: theirs only.
pub fn sent_to(app: &App, user_id: i64) -> impl Stream<Item = ReminderSent> + use<> {
    app.reminder_events
        .subscribe()
        .filter(move |sent| std::future::ready(sent.user_id == user_id))
}

/// Sends every reminder due at the app clock's now, and moves each handled reminder to its
/// next occurrence; how many went out. Safe on every instance at once: claims skip rows
/// another instance holds, and a day's delivery row is written once.
pub async fn send_due(app: &App) -> Result<usize, AppError> {
    let now = app.clock.now();
    let tick = chrono::Duration::seconds(app.config.reminders_interval_secs.cast_signed());
    let mut sent_in_all = 0;
    loop {
        let mut conn = db::conn(&app.pool).await?;
        let (claimed, sent) = db::transaction(&mut conn, async |conn| {
            let due = store::claim_due(conn, now, BATCH).await?;
            let mut sent = Vec::new();
            for reminder in &due {
                sent.extend(handle(conn, reminder, now, tick).await?);
            }
            Ok((due.len(), sent))
        })
        .await?;
        if !sent.is_empty() {
            app.outbox_wakeup.notify_one();
        }
        sent_in_all += sent.len();
        for event in sent {
            app.reminder_events.publish(event).await;
        }
        if claimed < usize::try_from(BATCH).unwrap_or(usize::MAX) {
            return Ok(sent_in_all);
        }
    }
}

/// One claimed reminder: sends its occurrence when that is wanted, in the claim's transaction
/// (the delivery row and the mail commit together or not at all), and moves it on.
async fn handle(
    conn: &mut AsyncPgConnection,
    (reminder, habit, owner): &Due,
    now: DateTime<Utc>,
    tick: chrono::Duration,
) -> Result<Option<ReminderSent>, AppError> {
    let days = owner.days();
    let day = reminder.due_day;
    let fires_at = rules::fires_at(&days, day, reminder.local_time);
    if fires_at > now {
        // The owner's zone or day start changed and puts the occurrence later.
        let later = Occurrence { day, fires_at };
        store::reschedule(conn, reminder.id, later).await?;
        return Ok(None);
    }
    let wanted = owner.is_active
        && owner.deleted_at.is_none()
        && rules::may_send(fires_at, rules::day_ends(&days, day), now, tick)
        && scheduled(habit, &days, now, day)
        && !habits_store::day_done_or_skipped(conn, habit.id, day).await?;
    let mut sent = None;
    if wanted && store::record_delivery(conn, reminder.id, day, now).await? {
        let time = rules::format_time(reminder.local_time);
        let mail = templates::habit_reminder(&owner.email, &owner.username, &habit.name, &time);
        mail_store::enqueue(conn, &mail, now).await?;
        sent = Some(sent_event(reminder, habit, fires_at));
    }
    let next = rules::next_occurrence(&days, day, reminder.local_time, now);
    store::reschedule(conn, reminder.id, next).await?;
    Ok(sent)
}

/// Whether the habit is scheduled on `day`: active then (started, not ended, not archived) and
/// on its pattern. A habit whose stored schedule cannot be read gets no reminders, and the
/// others still theirs.
fn scheduled(
    habit: &HabitRow,
    days: &crate::dates::UserDays,
    now: DateTime<Utc>,
    day: chrono::NaiveDate,
) -> bool {
    match Habit::new(habit.clone(), *days, days.date_at(now)) {
        Ok(habit) => habit.plan.is_scheduled(day),
        Err(error) => {
            tracing::error!(?error, "skipping the reminder of an unreadable habit");
            false
        }
    }
}

fn sent_event(reminder: &ReminderRow, habit: &HabitRow, fires_at: DateTime<Utc>) -> ReminderSent {
    ReminderSent {
        user_id: habit.user_id,
        habit_id: habit.id,
        habit_day: reminder.due_day,
        time: reminder.local_time,
        fires_at,
    }
}

/// Runs [`send_due`] every `AGORA_REMINDERS_INTERVAL_SECS` for as long as the server runs.
pub async fn run_reminder_job(app: Arc<App>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(app.config.reminders_interval_secs));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match send_due(&app).await {
            Ok(0) => {}
            Ok(sent) => tracing::info!(sent, "sent habit reminders"),
            Err(error) => tracing::warn!(?error, "sending habit reminders failed; will retry"),
        }
    }
}
