use std::collections::HashMap;

use async_graphql::{Context, Object, SimpleObject};

use super::rules::{self, BucketSize, HabitCounts, HabitFacts, StatsRange};
use super::store;
use crate::db;
use crate::graphql::scalars::Date;
use crate::graphql::{ContextExt, Permission};
use crate::habits::graphql::{CompletionDataLoader, CompletionsOf, HabitKind, calendar, listed};
use crate::habits::model::Habit;
use crate::habits::rules::CompletedDays;
use crate::habits::store::{self as habit_store, HabitFilter};
use crate::rbac::perm;
use crate::tasks::rules::TaskPriority;
use crate::themes::graphql::load_theme;
use crate::themes::model::Theme;

/// How many habits `topStreaks` lists.
const TOP_STREAKS: usize = 5;

/// Scheduled and completed occurrences of one stretch of days.
#[derive(SimpleObject)]
pub struct StatsBucket {
    /// The bucket's first day.
    pub start: Date,
    /// The bucket's last day, included.
    pub end: Date,
    /// Scheduled occurrences that were completed.
    pub completed: u32,
    /// Scheduled occurrences (today counts once done).
    pub scheduled: u32,
    /// completed ÷ scheduled in percent, one decimal.
    pub rate: f64,
}

/// A habit with its current streak.
#[derive(SimpleObject)]
pub struct HabitStreak {
    /// The habit.
    pub habit: Habit,
    /// Consecutive scheduled occurrences completed, back from the latest one (today's only
    /// once done).
    pub streak: u32,
}

/// How many habits recur in one way.
#[derive(SimpleObject)]
pub struct HabitKindCount {
    /// The kind of schedule.
    pub kind: HabitKind,
    /// Habits with that kind, archived ones included.
    pub count: i64,
}

/// How many tasks have one priority.
#[derive(SimpleObject)]
pub struct TaskPriorityCount {
    /// The priority.
    pub priority: TaskPriority,
    /// Tasks with that priority, done ones included.
    pub count: i64,
}

pub struct ThemeCount {
    pub theme_id: Option<i64>,
    pub count: i64,
}

/// A count per theme; `theme` is null for what has none.
#[Object]
impl ThemeCount {
    /// The theme; null for the habits or tasks without one.
    async fn theme(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Theme>> {
        load_theme(ctx, self.theme_id).await
    }
    /// How many habits or tasks have the theme.
    async fn count(&self) -> i64 {
        self.count
    }
}

/// The user's habits: counts, completion rates and streaks.
#[derive(SimpleObject)]
pub struct HabitStats {
    #[graphql(flatten)]
    pub counts: HabitCounts,
    /// The range in buckets (see `Stats.bucketSize`), zero-filled.
    pub completions: Vec<StatsBucket>,
    /// The longest current streaks, up to five, longest first.
    pub top_streaks: Vec<HabitStreak>,
    /// Every kind, zero-filled.
    pub by_kind: Vec<HabitKindCount>,
    /// Themes that have habits, most first.
    pub by_theme: Vec<ThemeCount>,
}

/// The user's tasks: counts, completion and speed.
#[derive(SimpleObject)]
pub struct TaskStats {
    /// All the user's tasks.
    pub total: i64,
    /// Tasks with status `DONE`.
    pub done: i64,
    /// Tasks not yet done (`total` − `done`).
    pub open: i64,
    /// done ÷ total, in percent.
    pub completion_rate: f64,
    /// Every priority, zero-filled.
    pub by_priority: Vec<TaskPriorityCount>,
    /// Themes that have tasks, most first.
    pub by_theme: Vec<ThemeCount>,
    /// Tasks created on or after the range's first day.
    pub created_in_range: i64,
    /// Tasks completed on or after the range's first day.
    pub completed_in_range: i64,
    /// Mean hours from creation to completion of the tasks completed in the range, one
    /// decimal; null when none were.
    pub average_hours_to_complete: Option<f64>,
}

/// Statistics of the current user's habits and tasks over a range of their local days.
#[derive(SimpleObject)]
pub struct Stats {
    /// The range asked for.
    pub range: StatsRange,
    /// The range's first local day.
    pub from: Date,
    /// Today, the range's last day.
    pub to: Date,
    /// How `habits.completions` groups the range's days.
    pub bucket_size: BucketSize,
    /// Habit statistics.
    pub habits: HabitStats,
    /// Task statistics. Only `createdInRange`, `completedInRange` and
    /// `averageHoursToComplete` depend on the range.
    pub tasks: TaskStats,
}

#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// The current user's habit and task statistics over `range`, in their local days.
    /// A fixed number of statements answers it, however many habits and tasks there are.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The days to cover, ending today.")] range: StatsRange,
    ) -> async_graphql::Result<Stats> {
        let calendar = calendar(ctx)?;
        let today = calendar.today;
        let mut conn = db::conn(&ctx.app().pool).await?;
        habit_store::archive_ended(&mut conn, calendar.now, Some(calendar.user_id)).await?;
        let rows = habit_store::list(
            &mut conn,
            calendar.user_id,
            &HabitFilter::default(),
            today,
            true,
        )
        .await?;
        // All time has no lower bound; the others do not depend on the data.
        let since = (range != StatsRange::AllTime)
            .then(|| rules::start_of_day(calendar.time_zone, range.first_day(today, None)));
        let totals = store::task_totals(&mut conn, calendar.user_id, since).await?;
        let by_priority = store::tasks_by_priority(&mut conn, calendar.user_id).await?;
        let tasks_by_theme = store::tasks_by_theme(&mut conn, calendar.user_id).await?;
        drop(conn);

        let first_task_day = totals
            .first_created_at
            .map(|at| at.with_timezone(&calendar.time_zone).date_naive());
        let first_start = rows.iter().map(|listed| listed.row.starts_on).min();
        let first_day = [first_start, first_task_day].into_iter().flatten().min();
        let from = range.first_day(today, first_day);
        let bucket_size = range.bucket_size(from, today);

        let habits = listed(ctx, rows, &calendar).await?;
        let completions = ctx
            .data_unchecked::<CompletionDataLoader>()
            .load_many(habits.iter().map(|habit| CompletionsOf(habit.row.id)))
            .await?;
        let none = CompletedDays::default();
        let completed_of = |habit: &Habit| {
            completions
                .get(&CompletionsOf(habit.row.id))
                .map_or(&none, |dates| dates.as_ref())
        };
        let summary = rules::summarize(
            habits.iter().map(|habit| HabitFacts {
                plan: &habit.plan,
                archived: habit.is_archived(),
                completed: completed_of(habit),
            }),
            rules::buckets(bucket_size, from, today),
            today,
        );
        let streaks = habits.iter().map(|habit| {
            if habit.is_archived() {
                0
            } else {
                habit.plan.current_streak(completed_of(habit), today)
            }
        });
        let top_streaks = rules::best_streaks(streaks.collect::<Vec<_>>(), TOP_STREAKS)
            .into_iter()
            .map(|(index, streak)| HabitStreak {
                habit: habits[index].clone(),
                streak,
            })
            .collect();
        let by_kind = HabitKind::ALL
            .into_iter()
            .map(|kind| HabitKindCount {
                kind,
                count: habits
                    .iter()
                    .filter(|habit| HabitKind::of(&habit.plan.schedule) == kind)
                    .count() as i64,
            })
            .collect();
        let habits_by_theme = count_by_theme(habits.iter().map(|habit| habit.row.theme_id));

        let priority_counts: HashMap<String, i64> = by_priority.into_iter().collect();
        let tasks = TaskStats {
            total: totals.total,
            done: totals.done,
            open: totals.total - totals.done,
            completion_rate: rules::rate(totals.done, totals.total),
            by_priority: TaskPriority::ALL
                .into_iter()
                .map(|priority| TaskPriorityCount {
                    priority,
                    count: priority_counts
                        .get(priority.as_str())
                        .copied()
                        .unwrap_or_default(),
                })
                .collect(),
            by_theme: ranked(
                tasks_by_theme
                    .into_iter()
                    .map(|(theme_id, count)| ThemeCount { theme_id, count })
                    .collect(),
            ),
            created_in_range: totals.created_in_range,
            completed_in_range: totals.completed_in_range,
            average_hours_to_complete: totals.average_hours.map(rules::hours),
        };
        Ok(Stats {
            range,
            from: Date::from(from),
            to: Date::from(today),
            bucket_size,
            habits: HabitStats {
                counts: summary.counts,
                completions: summary
                    .buckets
                    .into_iter()
                    .map(|bucket| StatsBucket {
                        start: Date::from(bucket.start),
                        end: Date::from(bucket.end),
                        completed: bucket.tally.completed,
                        scheduled: bucket.tally.scheduled,
                        rate: bucket.tally.percent(),
                    })
                    .collect(),
                top_streaks,
                by_kind,
                by_theme: habits_by_theme,
            },
            tasks,
        })
    }
}

fn count_by_theme(theme_ids: impl Iterator<Item = Option<i64>>) -> Vec<ThemeCount> {
    let mut counts: HashMap<Option<i64>, i64> = HashMap::new();
    for theme_id in theme_ids {
        *counts.entry(theme_id).or_default() += 1;
    }
    ranked(
        counts
            .into_iter()
            .map(|(theme_id, count)| ThemeCount { theme_id, count })
            .collect(),
    )
}

/// Most first; unthemed last among equals, then by theme id, so the order is stable.
fn ranked(mut counts: Vec<ThemeCount>) -> Vec<ThemeCount> {
    counts.sort_by_key(|entry| {
        (
            std::cmp::Reverse(entry.count),
            entry.theme_id.is_none(),
            entry.theme_id,
        )
    });
    counts
}
