//! Habit rows, a habit as its owner sees it today, completion dates, and the domain's enums
//! (which the API shows as they are).

use std::sync::Arc;

use async_graphql::{Enum, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::rules::{Plan, Schedule, Span};
use crate::dates::UserDays;
use crate::db::schema::habits;
use crate::error::AppError;

/// A habit's completion dates, ascending and each once. Streaks and statistics ask one thing of
/// them, whether a day was done, which a binary search answers; dates read in order need no
/// building, and dropping them is one free (a `BTreeSet` of two years of dates per habit was a
/// quarter of a statistics request, half to build and half to drop).
///
/// Skipped days (sick, travel) are kept beside them: a day is done, skipped, or neither. So
/// are the days of a measurable habit whose value fell short of an `AT_LEAST` target, with the
/// share of it they reached: they are not done, but rates and the score credit that share.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompletedDays {
    done: Vec<NaiveDate>,
    skipped: Vec<NaiveDate>,
    partial: Vec<(NaiveDate, Credit)>,
}

/// A share of a day's target, in thousandths: 1000 is the whole target. Integers, so sums of
/// shares and the rates made of them round the same way every time.
pub type Credit = u32;

/// The credit of a done day.
pub const FULL_CREDIT: Credit = 1000;

/// Ascending without repeats, sorting only when they are not already so.
fn ascending<T: Ord>(mut dates: Vec<T>) -> Vec<T> {
    if !dates.is_sorted_by(|earlier, later| earlier < later) {
        dates.sort_unstable();
        dates.dedup();
    }
    dates
}

/// The entries of `dates` from `from` to `to`, both included.
fn within<T>(
    dates: &[T],
    date_of: impl Fn(&T) -> NaiveDate,
    from: NaiveDate,
    to: NaiveDate,
) -> &[T] {
    let start = dates.partition_point(|day| date_of(day) < from);
    let end = dates.partition_point(|day| date_of(day) <= to).max(start);
    &dates[start..end]
}

impl CompletedDays {
    /// Keeps `dates` as they are when already ascending without repeats (as the database reads
    /// them), else sorts them and drops repeats.
    pub fn new(dates: Vec<NaiveDate>) -> Self {
        Self {
            done: ascending(dates),
            ..Self::default()
        }
    }

    /// These days, with `skipped` marked skipped.
    pub fn with_skipped(self, skipped: Vec<NaiveDate>) -> Self {
        Self {
            skipped: ascending(skipped),
            ..self
        }
    }

    /// These days, with `partial` days short of their target by the credit each earned
    /// (days with no credit need not be given).
    pub fn with_partial(self, partial: Vec<(NaiveDate, Credit)>) -> Self {
        Self {
            partial: ascending(partial),
            ..self
        }
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.done.binary_search(&day).is_ok()
    }

    pub fn is_skipped(&self, day: NaiveDate) -> bool {
        self.skipped.binary_search(&day).is_ok()
    }

    pub fn mark(&self, day: NaiveDate) -> DayMark {
        if self.contains(day) {
            DayMark::Done
        } else if self.is_skipped(day) {
            DayMark::Skipped
        } else {
            DayMark::Open
        }
    }

    /// The share of its target `day` reached: all of it when done, none when open or skipped,
    /// and what a value short of an `AT_LEAST` target earned.
    pub fn credit(&self, day: NaiveDate) -> Credit {
        if self.contains(day) {
            return FULL_CREDIT;
        }
        self.partial
            .binary_search_by_key(&day, |(date, _)| *date)
            .map_or(0, |found| self.partial[found].1)
    }

    /// The completed days from `from` to `to`, both included, ascending.
    pub fn between(&self, from: NaiveDate, to: NaiveDate) -> &[NaiveDate] {
        within(&self.done, |day| *day, from, to)
    }

    /// The skipped days from `from` to `to`, both included, ascending.
    pub fn skipped_between(&self, from: NaiveDate, to: NaiveDate) -> &[NaiveDate] {
        within(&self.skipped, |day| *day, from, to)
    }

    /// The days short of their target from `from` to `to`, with their credit, ascending.
    pub fn partial_between(&self, from: NaiveDate, to: NaiveDate) -> &[(NaiveDate, Credit)] {
        within(&self.partial, |(day, _)| *day, from, to)
    }
}

/// A day of a habit with more to it than its mark: a note, or a measurable habit's value.
#[derive(Clone, Debug, PartialEq)]
pub struct DayEntry {
    pub date: NaiveDate,
    pub skipped: bool,
    /// A measurable habit's value; `None` on a skipped day or a yes/no habit's.
    pub value: Option<f64>,
    /// Whether the day is done: the value meets the target, or the yes/no day is ticked.
    pub met: bool,
    /// Empty when the day has none.
    pub note: String,
}

/// Completion dates shared between a request's loader cache and the fields reading them.
pub type Completions = Arc<CompletedDays>;

/// Completions read along with habits, by habit id, for the request's loader.
pub type CompletionsRead = Vec<(i64, Completions)>;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = habits, check_for_backend(diesel::pg::Pg))]
pub struct HabitRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub description: String,
    pub theme_id: Option<i64>,
    pub kind: String,
    pub schedule: serde_json::Value,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    pub archived_at: Option<DateTime<Utc>>,
    pub auto_archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The most days that may be skipped in one calendar month; `None`: no cap.
    pub skips_per_month: Option<i32>,
    /// A measurable habit's [`Measure`]; `None` for a yes/no habit.
    pub measure: Option<serde_json::Value>,
}

/// Whether a measurable habit's target is a floor or a ceiling.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetDirection {
    /// Met by a value at or above the target ("at least 8 glasses"). A value below it earns
    /// its share of the target in rates and the score.
    AtLeast,
    /// Met by a value at or below the target ("at most 2 coffees"). A value above it is a
    /// miss, with no partial credit: going over a limit is not part of meeting it.
    AtMost,
}

/// What a measurable habit counts each scheduled day, and the value that makes the day done.
#[derive(SimpleObject, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[graphql(name = "HabitMeasure")]
pub struct Measure {
    /// What is counted ("glasses", "km"), at most 20 characters; may be empty.
    pub unit: String,
    /// The value a day must reach (`AT_LEAST`) or stay within (`AT_MOST`).
    pub target: f64,
    /// Whether the target is a floor or a ceiling.
    pub direction: TargetDirection,
}

/// What a day of a habit holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayMark {
    Open,
    Done,
    Skipped,
}

/// A habit as its owner sees it today: the row, its plan in the owner's calendar, and
/// what today holds when the query that found it already knew.
#[derive(Clone, Debug)]
pub struct Habit {
    pub row: HabitRow,
    pub plan: Plan,
    pub today: NaiveDate,
    pub today_mark: Option<DayMark>,
    /// `None` for a yes/no habit.
    pub measure: Option<Measure>,
}

impl Habit {
    pub fn new(row: HabitRow, days: UserDays, today: NaiveDate) -> Result<Self, AppError> {
        let schedule = Schedule::from_stored(&row.kind, &row.schedule).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "habit {} has an unreadable schedule",
                row.id
            ))
        })?;
        let measure = row
            .measure
            .clone()
            .map(serde_json::from_value::<Measure>)
            .transpose()
            .map_err(|error| {
                AppError::Internal(anyhow::anyhow!(
                    "habit {} has an unreadable measure: {error}",
                    row.id
                ))
            })?;
        let plan = Plan {
            schedule,
            span: Span {
                starts_on: row.starts_on,
                ends_on: row.ends_on,
                archived_on: row.archived_at.map(|at| days.date_at(at)),
            },
        };
        Ok(Self {
            row,
            plan,
            today,
            today_mark: None,
            measure,
        })
    }

    pub fn is_archived(&self) -> bool {
        self.row.archived_at.is_some()
    }
}

pub struct NewHabit {
    pub name: String,
    pub description: String,
    pub theme_id: Option<i64>,
    pub schedule: Schedule,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    pub skips_per_month: Option<i32>,
    pub measure: Option<Measure>,
}

/// What `updateHabit` may change; `None` keeps a field.
#[derive(Default)]
pub struct HabitChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` removes the theme.
    pub theme_id: Option<Option<i64>>,
    pub schedule: Option<Schedule>,
    pub starts_on: Option<NaiveDate>,
    /// `Some(None)` clears the end.
    pub ends_on: Option<Option<NaiveDate>>,
    /// `Some(None)` lifts the cap.
    pub skips_per_month: Option<Option<i32>>,
    /// A measurable habit's new unit, target and direction.
    pub measure: Option<Measure>,
}

#[derive(AsChangeset)]
#[diesel(table_name = habits)]
pub struct HabitUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub theme_id: Option<Option<i64>>,
    pub kind: Option<&'static str>,
    pub schedule: Option<serde_json::Value>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<Option<NaiveDate>>,
    pub skips_per_month: Option<Option<i32>>,
    pub measure: Option<serde_json::Value>,
    pub updated_at: DateTime<Utc>,
}

/// A day of the week.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weekday {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl From<Weekday> for chrono::Weekday {
    fn from(day: Weekday) -> Self {
        match day {
            Weekday::Monday => Self::Mon,
            Weekday::Tuesday => Self::Tue,
            Weekday::Wednesday => Self::Wed,
            Weekday::Thursday => Self::Thu,
            Weekday::Friday => Self::Fri,
            Weekday::Saturday => Self::Sat,
            Weekday::Sunday => Self::Sun,
        }
    }
}

impl From<chrono::Weekday> for Weekday {
    fn from(day: chrono::Weekday) -> Self {
        match day {
            chrono::Weekday::Mon => Self::Monday,
            chrono::Weekday::Tue => Self::Tuesday,
            chrono::Weekday::Wed => Self::Wednesday,
            chrono::Weekday::Thu => Self::Thursday,
            chrono::Weekday::Fri => Self::Friday,
            chrono::Weekday::Sat => Self::Saturday,
            chrono::Weekday::Sun => Self::Sunday,
        }
    }
}

/// The kind of a habit's schedule.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HabitKind {
    /// Every day.
    Daily,
    /// On chosen weekdays.
    Weekly,
    /// On one day of each month.
    Monthly,
    /// On one date each year.
    Yearly,
    /// A fixed cycle of days on and days off, counted from `startsOn`.
    Interval,
}

impl HabitKind {
    pub const ALL: [Self; 5] = [
        Self::Daily,
        Self::Weekly,
        Self::Monthly,
        Self::Yearly,
        Self::Interval,
    ];

    /// The stored name, as `Schedule::kind` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "DAILY",
            Self::Weekly => "WEEKLY",
            Self::Monthly => "MONTHLY",
            Self::Yearly => "YEARLY",
            Self::Interval => "INTERVAL",
        }
    }

    pub fn of(schedule: &Schedule) -> Self {
        match schedule {
            Schedule::Daily => Self::Daily,
            Schedule::Weekly(_) => Self::Weekly,
            Schedule::Monthly(_) => Self::Monthly,
            Schedule::Yearly { .. } => Self::Yearly,
            Schedule::Interval { .. } => Self::Interval,
        }
    }
}

/// A habit's state today, for filtering `habits`.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HabitStatus {
    /// Not archived, scheduled today, not yet completed today.
    DueToday,
    /// Not archived.
    Active,
    /// Not archived and completed today.
    CompletedToday,
    /// Archived, by hand or because its `endsOn` passed.
    Archived,
}

/// The order of `habits`.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum HabitsOrderBy {
    /// Oldest first.
    #[default]
    CreatedAt,
    /// A to Z, ignoring case.
    Name,
    /// Longest current streak first, over the whole filtered list.
    Streak,
}
