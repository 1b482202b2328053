//! The per-request DataLoader of habits' completion dates: the habit fields (streaks, rates,
//! today) share one load, and lists and statistics feed it what they already read. It loads a
//! list's notes too, one statement per range asked.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::NaiveDate;

use super::model::{Completions, CompletionsRead, Habit};
use super::rules::completions_range;
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

/// A habit's notes from one day to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NotesOf {
    pub habit_id: i64,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// Notes on done or skipped days: (day, skipped, note), oldest first.
pub type Notes = Arc<Vec<(NaiveDate, bool, String)>>;

impl Loader<NotesOf> for CompletionLoader {
    type Value = Notes;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[NotesOf]) -> Result<HashMap<NotesOf, Notes>, Self::Error> {
        let mut ranges: HashMap<(NaiveDate, NaiveDate), Vec<i64>> = HashMap::new();
        for key in keys {
            ranges
                .entry((key.from, key.to))
                .or_default()
                .push(key.habit_id);
        }
        let mut conn = db::conn(&self.pool).await?;
        let mut found = HashMap::new();
        for (range, ids) in ranges {
            let mut by_habit: HashMap<i64, Vec<(NaiveDate, bool, String)>> = HashMap::new();
            for (habit_id, day, skipped, note) in
                store::notes_between(&mut conn, &ids, range).await?
            {
                by_habit
                    .entry(habit_id)
                    .or_default()
                    .push((day, skipped, note));
            }
            for habit_id in ids {
                let notes = by_habit.remove(&habit_id).unwrap_or_default();
                let key = NotesOf {
                    habit_id,
                    from: range.0,
                    to: range.1,
                };
                found.insert(key, Arc::new(notes));
            }
        }
        Ok(found)
    }
}

/// The habit's notes from `from` to `to`, through the request's loader.
pub async fn load_notes(
    ctx: &Context<'_>,
    habit_id: i64,
    (from, to): (NaiveDate, NaiveDate),
) -> async_graphql::Result<Notes> {
    Ok(ctx
        .data_unchecked::<CompletionDataLoader>()
        .load_one(NotesOf { habit_id, from, to })
        .await?
        .unwrap_or_default())
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
/// that need them, and the notes in one per range the query asks for, rather than leaving
/// them to the loader's batching window.
pub async fn prime<'a>(
    ctx: &Context<'_>,
    habits: impl Iterator<Item = &'a Habit> + Clone,
) -> async_graphql::Result<()> {
    let wanted = [
        "currentStreak",
        "longestStreak",
        "completionRate",
        "completions",
        "skips",
        "score",
        "scoreHistory",
    ]
    .into_iter()
    .any(|field| selects_node_field(ctx, field));
    let loader = ctx.data_unchecked::<CompletionDataLoader>();
    if wanted {
        loader
            .load_many(habits.clone().map(|habit| CompletionsOf(habit.row.id)))
            .await?;
    }
    for (from, to) in notes_ranges(ctx) {
        let keys = habits.clone().filter_map(|habit| {
            let (from, to) = completions_range(from, to, habit.today).ok()?;
            Some(NotesOf {
                habit_id: habit.row.id,
                from,
                to,
            })
        });
        loader.load_many(keys).await?;
    }
    Ok(())
}

/// The `from` and `to` of each `notes` field the page's nodes select; one whose dates do not
/// read is left to the field, which says why.
fn notes_ranges(ctx: &Context<'_>) -> Vec<(Option<NaiveDate>, Option<NaiveDate>)> {
    let look_ahead = ctx.look_ahead();
    let selected = [
        look_ahead.field("edges").field("node").field("notes"),
        look_ahead.field("nodes").field("notes"),
    ];
    let date = |value: &async_graphql::Value| match value {
        async_graphql::Value::String(text) => text.parse().ok().map(Some),
        async_graphql::Value::Null => Some(None),
        _ => None,
    };
    selected
        .iter()
        .flat_map(|field| field.selection_fields())
        .filter_map(|field| {
            let arguments = field.arguments().ok()?;
            let argument = |name: &str| {
                arguments
                    .iter()
                    .find(|(key, _)| key.as_str() == name)
                    .map_or(Some(None), |(_, value)| date(value))
            };
            Some((argument("from")?, argument("to")?))
        })
        .collect()
}

/// Drops the request's cached completions after this request changed some, so later fields
/// (and later mutations of the same operation) read them afresh.
pub fn forget(ctx: &Context<'_>) {
    let loader = ctx.data_unchecked::<CompletionDataLoader>();
    loader.clear::<CompletionsOf>();
    loader.clear::<NotesOf>();
}
