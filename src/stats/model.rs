//! What the statistics answer: the range, its buckets and the counts, as the API shows them.

use async_graphql::{Enum, SimpleObject};

use crate::graphql::scalars::Date;
use crate::habits::model::{Habit, HabitKind};
use crate::tasks::model::TaskPriority;

/// Which days the statistics cover; each range ends today, in the user's time zone.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsRange {
    /// Today and the 6 days before, in daily buckets.
    Last7Days,
    /// Today and the 29 days before, in daily buckets.
    Last30Days,
    /// Today and the 89 days before, in weekly buckets.
    Last90Days,
    /// From the day the first habit starts or the first task was created (today without any),
    /// in monthly buckets, or yearly ones when that is more than ten years ago.
    AllTime,
}

/// How completions are grouped: days for a week or a month, weeks for a quarter, months (years
/// beyond ten years) for all time.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BucketSize {
    /// One day each.
    Day,
    /// Calendar weeks, Monday to Sunday, cut to the range.
    Week,
    /// Calendar months, cut to the range.
    Month,
    /// Calendar years, cut to the range.
    Year,
}

/// The headline numbers of a user's habits.
#[derive(SimpleObject, Debug, Default, PartialEq)]
pub struct HabitCounts {
    /// All the user's habits, archived ones included.
    pub total: u64,
    /// Habits not archived.
    pub active: u64,
    /// Archived habits, by hand or because their schedule ended.
    pub archived: u64,
    /// Active habits scheduled today and not yet done.
    pub due_today: u64,
    /// Active habits scheduled today and done.
    pub completed_today: u64,
    /// completedToday ÷ (dueToday + completedToday), in percent.
    pub today_rate: f64,
    /// Completed ÷ scheduled occurrences in the range (a habit counts only while it is not
    /// archived; today once done), in percent.
    pub success_rate: f64,
}

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
