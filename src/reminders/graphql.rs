//! The reminders API: `setHabitReminders`, and `habitReminders`, the live reminders of the
//! signed-in user. A habit's times are `Habit.reminders` (through `loader`).

use async_graphql::{Context, ID, InputObject, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use super::model::ReminderSent;
use super::rules;
use crate::error::AppError;
use crate::graphql::scalars::Date;
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::habits::Calendar;
use crate::habits::model::Habit;
use crate::rbac::perm;

/// The viewer's calendar at the app's now.
fn calendar(ctx: &Context<'_>) -> Result<Calendar, AppError> {
    let viewer = ctx.viewer()?;
    Ok(Calendar::of(ctx.app(), viewer.user_id, viewer.days))
}

/// The habit and the reminder times `setHabitReminders` gives it.
#[derive(InputObject)]
pub struct SetHabitRemindersInput {
    /// One of the user's habits; another user's is `NOT_FOUND`.
    pub habit_id: ID,
    /// Times of day, `HH:MM` (00:00 to 23:59) in the user's time zone, at most 5 once repeats
    /// are dropped; they replace the habit's reminders. An empty list removes them all.
    pub times: Vec<String>,
}

/// The result of `setHabitReminders`.
#[derive(SimpleObject)]
pub struct SetHabitRemindersPayload {
    /// The habit, its `reminders` as they are now.
    pub habit: Habit,
    /// The habit's reminder times, `HH:MM`, earliest first.
    pub reminders: Vec<String>,
}

#[derive(Default)]
pub struct RemindersMutation;

#[Object]
impl RemindersMutation {
    /// Sets the times a habit reminds its owner, by mail and on `habitReminders`, replacing
    /// the ones it had. Each fires on the days the habit is scheduled, at that time on the
    /// user's clock within their day (a time before `dayStart` falls in the day's night), and
    /// not once the day is done or skipped. A time the clock skips (a change to summer time)
    /// fires when it resumes; one it repeats, at its first pass. A time set after it passed
    /// today fires from tomorrow. A time not written `HH:MM`, or more than 5 times, is
    /// `BAD_USER_INPUT` on `times`.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn set_habit_reminders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The habit and its new reminder times.")] input: SetHabitRemindersInput,
    ) -> async_graphql::Result<SetHabitRemindersPayload> {
        let habit_id = parse_id("habitId", &input.habit_id)?;
        let (habit, times) =
            super::set_times(ctx.app(), &calendar(ctx)?, habit_id, &input.times).await?;
        Ok(SetHabitRemindersPayload {
            habit,
            reminders: times.into_iter().map(rules::format_time).collect(),
        })
    }
}

pub struct HabitReminderEvent(ReminderSent);

/// A habit's reminder, as it goes out to its owner (with its mail).
#[Object]
impl HabitReminderEvent {
    /// The habit it reminds of, as it is now.
    async fn habit(&self, ctx: &Context<'_>) -> async_graphql::Result<Habit> {
        Ok(crate::habits::find(ctx.app(), &calendar(ctx)?, self.0.habit_id).await?)
    }
    /// The user's day it reminds of (in their time zone, from their `dayStart`).
    async fn habit_day(&self) -> Date {
        Date::from(self.0.habit_day)
    }
    /// The reminder's time, `HH:MM`, as it was set.
    async fn time(&self) -> String {
        rules::format_time(self.0.time)
    }
    /// When it was due: that time on the user's clock that day (the first instant after a
    /// skipped hour, the first pass of a repeated one). It goes out then, or later the same
    /// day when no server ran at that moment.
    async fn fires_at(&self) -> DateTime<Utc> {
        self.0.fires_at
    }
}

#[derive(Default)]
pub struct RemindersSubscription;

#[Subscription]
impl RemindersSubscription {
    /// The signed-in user's habit reminders, as they go out (see `setHabitReminders`).
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn habit_reminders(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = HabitReminderEvent> + use<>> {
        let user_id = ctx.viewer()?.user_id;
        Ok(super::sent_to(ctx.app(), user_id).map(HabitReminderEvent))
    }
}
