//! Statistics over a user's habits and tasks, in their local calendar days. [`stats`] reads
//! a fixed number of statements and aggregates with the pure functions of `rules`.

pub mod graphql;
pub mod model;
pub mod rules;
pub mod store;

use std::collections::HashMap;

use model::{
    HabitKindCount, HabitStats, HabitStreak, Stats, StatsBucket, StatsRange, TaskPriorityCount,
    TaskStats, ThemeCount,
};
use rules::HabitFacts;

use crate::App;
use crate::dates::UserDays;
use crate::db;
use crate::error::AppError;
use crate::graphql::scalars::Date;
use crate::habits::Calendar;
use crate::habits::model::{CompletedDays, CompletionsRead, Habit, HabitKind};
use crate::habits::store::{self as habit_store, HabitFilter};
use crate::tasks::model::TaskPriority;

/// How many habits `topStreaks` lists.
const TOP_STREAKS: usize = 5;

/// The user's habit and task statistics over `range`, with the completions read on the way
/// (for the request's loader, so the listed habits' fields do not read them again).
pub async fn stats(
    app: &App,
    user_id: i64,
    days: UserDays,
    range: StatsRange,
) -> Result<(Stats, CompletionsRead), AppError> {
    let calendar = Calendar::of(app, user_id, days);
    let today = calendar.today;
    let mut conn = db::conn(&app.pool).await?;
    habit_store::archive_ended(&mut conn, calendar.now, Some(user_id)).await?;
    let rows = habit_store::list(&mut conn, user_id, &HabitFilter::default(), today, true).await?;
    // All time has no lower bound; the others do not depend on the data.
    let since = (range != StatsRange::AllTime).then(|| days.start_of(range.first_day(today, None)));
    let totals = store::task_totals(&mut conn, user_id, since).await?;
    let by_priority = store::tasks_by_priority(&mut conn, user_id).await?;
    let tasks_by_theme = store::tasks_by_theme(&mut conn, user_id).await?;
    drop(conn);

    let first_task_day = totals.first_created_at.map(|at| days.date_at(at));
    let first_start = rows.iter().map(|listed| listed.row.starts_on).min();
    let first_day = [first_start, first_task_day].into_iter().flatten().min();
    let from = range.first_day(today, first_day);
    let bucket_size = range.bucket_size(from, today);

    let (habits, completions) = calendar.listed(rows)?;
    let by_habit: HashMap<i64, &CompletedDays> = completions
        .iter()
        .map(|(habit_id, dates)| (*habit_id, dates.as_ref()))
        .collect();
    let none = CompletedDays::default();
    let completed_of = |habit: &Habit| by_habit.get(&habit.row.id).copied().unwrap_or(&none);
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
    let habits_by_theme = rules::count_by_theme(habits.iter().map(|habit| habit.row.theme_id));

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
        by_theme: rules::ranked(
            tasks_by_theme
                .into_iter()
                .map(|(theme_id, count)| ThemeCount { theme_id, count })
                .collect(),
        ),
        created_in_range: totals.created_in_range,
        completed_in_range: totals.completed_in_range,
        average_hours_to_complete: totals.average_hours.map(rules::hours),
    };
    let stats = Stats {
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
    };
    Ok((stats, completions))
}
