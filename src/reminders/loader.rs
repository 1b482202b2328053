//! The per-request DataLoader of habits' reminder times: `Habit.reminders` of a page of habits
//! is one statement, and the habits domain reads them through [`load_times`] without knowing
//! this one's resolvers.

use std::collections::HashMap;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};

use super::rules::format_time;
use super::store;
use crate::db::{self, DbPool};

/// Batches the reminder times of one request's habits. Without a cache: a habit asked after
/// `setHabitReminders` in the same request shows the new times.
pub struct ReminderLoader {
    pub pool: DbPool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimesOf(pub i64);

impl Loader<TimesOf> for ReminderLoader {
    type Value = Vec<String>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[TimesOf]) -> Result<HashMap<TimesOf, Vec<String>>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|key| key.0).collect();
        let mut conn = db::conn(&self.pool).await?;
        let mut times: HashMap<TimesOf, Vec<String>> = HashMap::new();
        for (habit_id, time) in store::times_of(&mut conn, &ids).await? {
            times
                .entry(TimesOf(habit_id))
                .or_default()
                .push(format_time(time));
        }
        Ok(times)
    }
}

/// The habit's reminder times, `HH:MM`, earliest first.
pub async fn load_times(ctx: &Context<'_>, habit_id: i64) -> async_graphql::Result<Vec<String>> {
    Ok(ctx
        .data_unchecked::<DataLoader<ReminderLoader>>()
        .load_one(TimesOf(habit_id))
        .await?
        .unwrap_or_default())
}
