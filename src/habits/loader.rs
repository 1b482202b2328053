//! The per-request DataLoader of habits' completion dates: the habit fields (streaks, rates,
//! today) share one load, and lists and statistics feed it what they already read.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};

use super::model::{Completions, CompletionsRead, Habit};
use super::store;
use crate::db::{self, DbPool};
use crate::graphql::connection::selects_node_field;

/// Loads the completion dates of a request's habits in one statement per batch. Cached, so
/// the streak, rate and today fields of one habit share one load, and a list can prime it.
pub struct CompletionLoader {
    pub pool: DbPool,
}

pub type CompletionDataLoader = DataLoader<CompletionLoader, HashMapCache>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CompletionsOf(pub i64);

impl Loader<CompletionsOf> for CompletionLoader {
    type Value = Completions;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[CompletionsOf],
    ) -> Result<HashMap<CompletionsOf, Completions>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|key| key.0).collect();
        let mut conn = db::conn(&self.pool).await?;
        let mut by_habit: HashMap<CompletionsOf, Completions> = keys
            .iter()
            .map(|key| (*key, Completions::default()))
            .collect();
        for (habit_id, dates) in store::completions(&mut conn, &ids).await? {
            by_habit.insert(CompletionsOf(habit_id), Arc::new(dates));
        }
        Ok(by_habit)
    }
}

/// The habit's completion dates, through the request's loader.
pub async fn load_completions(
    ctx: &Context<'_>,
    habit_id: i64,
) -> async_graphql::Result<Completions> {
    Ok(ctx
        .data_unchecked::<CompletionDataLoader>()
        .load_one(CompletionsOf(habit_id))
        .await?
        .unwrap_or_default())
}

/// Hands completions a list or the statistics read anyway to the request's loader, so no
/// field asks for them again.
pub async fn feed(ctx: &Context<'_>, completions: CompletionsRead) {
    ctx.data_unchecked::<CompletionDataLoader>()
        .feed_many(
            completions
                .into_iter()
                .map(|(habit_id, dates)| (CompletionsOf(habit_id), dates)),
        )
        .await;
}

/// Loads the completions of a whole page in one statement when the query asks for fields
/// that need them, rather than leaving it to the loader's batching window.
pub async fn prime<'a>(
    ctx: &Context<'_>,
    habits: impl Iterator<Item = &'a Habit>,
) -> async_graphql::Result<()> {
    let wanted = [
        "currentStreak",
        "longestStreak",
        "completionRate",
        "completions",
    ]
    .into_iter()
    .any(|field| selects_node_field(ctx, field));
    if wanted {
        ctx.data_unchecked::<CompletionDataLoader>()
            .load_many(habits.map(|habit| CompletionsOf(habit.row.id)))
            .await?;
    }
    Ok(())
}

/// Drops the request's cached completions after this request changed some, so later fields
/// (and later mutations of the same operation) read them afresh.
pub fn forget(ctx: &Context<'_>) {
    ctx.data_unchecked::<CompletionDataLoader>()
        .clear::<CompletionsOf>();
}
