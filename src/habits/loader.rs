//! The per-request DataLoader of habits' completion dates: the habit fields (streaks, rates,
//! today) share one load, and lists and statistics feed it what they already read. It loads a
//! list's notes and values too, one statement per range asked.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::NaiveDate;

use super::model::{Completions, CompletionsRead, DayEntry, Habit};
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

/// A habit's days with a note or a value, from one day to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntriesOf {
    pub habit_id: i64,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// Days with a note or a value, oldest first.
pub type Entries = Arc<Vec<DayEntry>>;

impl Loader<EntriesOf> for CompletionLoader {
    type Value = Entries;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[EntriesOf]) -> Result<HashMap<EntriesOf, Entries>, Self::Error> {
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
            let mut by_habit: HashMap<i64, Vec<DayEntry>> = HashMap::new();
            for (habit_id, entry) in store::entries_between(&mut conn, &ids, range).await? {
                by_habit.entry(habit_id).or_default().push(entry);
            }
            for habit_id in ids {
                let entries = by_habit.remove(&habit_id).unwrap_or_default();
                let key = EntriesOf {
                    habit_id,
                    from: range.0,
                    to: range.1,
                };
                found.insert(key, Arc::new(entries));
            }
        }
        Ok(found)
    }
}

/// The habit's days with a note or a value from `from` to `to`, through the request's loader.
pub async fn load_entries(
    ctx: &Context<'_>,
    habit_id: i64,
    (from, to): (NaiveDate, NaiveDate),
) -> async_graphql::Result<Entries> {
    Ok(ctx
        .data_unchecked::<CompletionDataLoader>()
        .load_one(EntriesOf { habit_id, from, to })
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
/// that need them, and the notes and values in one per range the query asks for, rather than leaving
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
    // A page is one user's habits, so one today.
    let Some(today) = habits.clone().next().map(|habit| habit.today) else {
        return Ok(());
    };
    let mut ranges: Vec<(NaiveDate, NaiveDate)> = entry_ranges(ctx)
        .into_iter()
        .filter_map(|(from, to)| completions_range(from, to, today).ok())
        .collect();
    if selects_node_field(ctx, "todayValue") {
        ranges.push((today, today));
    }
    for (from, to) in ranges {
        let keys = habits.clone().map(|habit| EntriesOf {
            habit_id: habit.row.id,
            from,
            to,
        });
        loader.load_many(keys).await?;
    }
    Ok(())
}

/// The `from` and `to` of each `notes` and `values` field the page's nodes select; one whose
/// dates do not read is left to the field, which says why.
fn entry_ranges(ctx: &Context<'_>) -> Vec<(Option<NaiveDate>, Option<NaiveDate>)> {
    let look_ahead = ctx.look_ahead();
    let selected = ["notes", "values"].into_iter().flat_map(|field| {
        [
            look_ahead.field("edges").field("node").field(field),
            look_ahead.field("nodes").field(field),
        ]
    });
    let date = |value: &async_graphql::Value| match value {
        async_graphql::Value::String(text) => text.parse().ok().map(Some),
        async_graphql::Value::Null => Some(None),
        _ => None,
    };
    selected
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
    loader.clear::<EntriesOf>();
}
