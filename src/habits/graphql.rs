//! The habits API: GraphQL types for habits and schedules, and thin resolvers over the
//! domain's functions in the owner's calendar.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, OneofObject, SimpleObject};
use chrono::{DateTime, Utc};

use super::loader::{self, load_completions};
use super::model::{
    DayMark, Habit, HabitKind, HabitStatus, HabitsOrderBy, Measure, TargetDirection, Weekday,
};
use super::rules::{self, Schedule, SortKey};
use super::{Calendar, CompletionChange, DayChange, HabitDraft, HabitEdit, HabitQuery, ValueEntry};
use crate::error::AppError;
use crate::graphql::connection::{
    CountedConnection, decode_key, encode_key, keyed_connection, page_size,
};
use crate::graphql::scalars::Date;
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::perm;
use crate::themes::loader::load_theme;
use crate::themes::model::Theme;

/// The viewer's calendar at the app's now.
fn calendar(ctx: &Context<'_>) -> Result<Calendar, AppError> {
    let viewer = ctx.viewer()?;
    Ok(Calendar::of(ctx.app(), viewer.user_id, viewer.days))
}

/// When a habit recurs; only the fields of its kind are set.
#[derive(SimpleObject)]
pub struct HabitSchedule {
    /// The schedule's kind; it says which of the other fields are set.
    pub kind: HabitKind,
    /// WEEKLY: the weekdays, Monday first.
    pub days: Option<Vec<Weekday>>,
    /// MONTHLY: the day of the month (the last day in shorter months); YEARLY: the day.
    pub day: Option<i32>,
    /// YEARLY: the month, 1–12.
    pub month: Option<i32>,
    /// INTERVAL: days on.
    pub active_days: Option<i32>,
    /// INTERVAL: days off after them.
    pub break_days: Option<i32>,
}

impl From<&Schedule> for HabitSchedule {
    fn from(schedule: &Schedule) -> Self {
        let int = |value: u32| i32::try_from(value).ok();
        let mut shown = Self {
            kind: HabitKind::of(schedule),
            days: None,
            day: None,
            month: None,
            active_days: None,
            break_days: None,
        };
        match schedule {
            Schedule::Daily => {}
            Schedule::Weekly(days) => {
                shown.days = Some(days.iter().copied().map(Weekday::from).collect())
            }
            Schedule::Monthly(day) => shown.day = int(*day),
            Schedule::Yearly { month, day } => {
                shown.month = int(*month);
                shown.day = int(*day);
            }
            Schedule::Interval { active, pause } => {
                shown.active_days = int(*active);
                shown.break_days = int(*pause);
            }
        }
        shown
    }
}

/// A weekly schedule: the weekdays the habit falls on.
#[derive(InputObject)]
pub struct WeeklyScheduleInput {
    /// 1 to 7 days; repeats are ignored.
    pub days: Vec<Weekday>,
}

/// A monthly schedule: one day of each month.
#[derive(InputObject)]
pub struct MonthlyScheduleInput {
    /// 1–31; in shorter months the habit falls on the last day.
    pub day: i32,
}

/// A yearly schedule: one date each year.
#[derive(InputObject)]
pub struct YearlyScheduleInput {
    /// The month, 1–12.
    pub month: i32,
    /// A day that exists in that month in a leap year; Feb 29 falls on Feb 28 in other years.
    pub day: i32,
}

/// A repeating cycle: `activeDays` days on, then `breakDays` days off, each at most 365.
#[derive(InputObject)]
pub struct IntervalScheduleInput {
    /// Days on, at least 1.
    pub active_days: i32,
    /// Days off after them, at least 1. The cycle starts on `startsOn`.
    pub break_days: i32,
}

/// Exactly one kind.
#[derive(OneofObject)]
pub enum ScheduleInput {
    /// Every day; pass `true`.
    Daily(bool),
    /// On chosen weekdays.
    Weekly(WeeklyScheduleInput),
    /// On one day of each month.
    Monthly(MonthlyScheduleInput),
    /// On one date each year.
    Yearly(YearlyScheduleInput),
    /// Days on and days off in a fixed cycle from `startsOn`.
    Interval(IntervalScheduleInput),
}

impl TryFrom<ScheduleInput> for Schedule {
    type Error = AppError;

    fn try_from(input: ScheduleInput) -> Result<Self, AppError> {
        match input {
            ScheduleInput::Daily(true) => Ok(Self::Daily),
            ScheduleInput::Daily(false) => Err(AppError::bad_input(
                "schedule",
                "Set daily to true, or choose another kind",
            )),
            ScheduleInput::Weekly(weekly) => {
                let days: Vec<chrono::Weekday> = weekly.days.into_iter().map(Into::into).collect();
                Self::weekly(&days)
            }
            ScheduleInput::Monthly(monthly) => Self::monthly(monthly.day),
            ScheduleInput::Yearly(yearly) => Self::yearly(yearly.month, yearly.day),
            ScheduleInput::Interval(interval) => {
                Self::interval(interval.active_days, interval.break_days)
            }
        }
    }
}

/// Something the user means to do again and again.
#[Object]
impl Habit {
    /// The habit's id.
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }
    /// 1–100 characters.
    async fn name(&self) -> &str {
        &self.row.name
    }
    /// At most 1000 characters.
    async fn description(&self) -> &str {
        &self.row.description
    }
    /// The user's theme the habit belongs to; null when it has none.
    async fn theme(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Theme>> {
        load_theme(ctx, self.row.theme_id).await
    }
    /// When the habit recurs.
    async fn schedule(&self) -> HabitSchedule {
        HabitSchedule::from(&self.plan.schedule)
    }
    /// The first day the habit is scheduled on, in the user's calendar.
    async fn starts_on(&self) -> Date {
        Date::from(self.row.starts_on)
    }
    /// The last day it may be scheduled on; the day after, it is archived.
    async fn ends_on(&self) -> Option<Date> {
        self.row.ends_on.map(Date::from)
    }
    /// When the habit was archived; from that local day on, nothing is scheduled.
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.row.archived_at
    }
    /// True once the habit is archived, by hand or because its `endsOn` passed.
    async fn archived(&self) -> bool {
        self.is_archived()
    }
    /// Not archived, scheduled today, and neither completed nor skipped today.
    async fn due_today(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(!self.is_archived()
            && self.plan.is_scheduled(self.today)
            && today_mark(ctx, self).await? == DayMark::Open)
    }
    /// Whether today, in the user's calendar, is marked done.
    async fn completed_today(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(today_mark(ctx, self).await? == DayMark::Done)
    }
    /// Whether today, in the user's calendar, is marked skipped.
    async fn skipped_today(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(today_mark(ctx, self).await? == DayMark::Skipped)
    }
    /// The most days that may be skipped in one calendar month; null: no cap.
    async fn skips_per_month(&self) -> Option<i32> {
        self.row.skips_per_month
    }
    /// What a measurable habit counts and the target a day must meet; null for a yes/no
    /// habit. A measurable day is done when its value meets the target (`recordHabitValue`).
    async fn measure(&self) -> Option<&Measure> {
        self.measure.as_ref()
    }
    /// A measurable habit's value today, in the user's calendar; null before one is recorded
    /// and for a yes/no habit.
    async fn today_value(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<f64>> {
        let entries = loader::load_entries(ctx, self.row.id, (self.today, self.today)).await?;
        Ok(entries.first().and_then(|entry| entry.value))
    }
    /// Completed scheduled days in a row, up to the latest scheduled day; today counts once
    /// done and does not break the streak before it is over.
    async fn current_streak(&self, ctx: &Context<'_>) -> async_graphql::Result<u32> {
        let done = load_completions(ctx, self.row.id).await?;
        Ok(self.plan.current_streak(&done, self.today))
    }
    /// The longest run of completed scheduled days in a row, from `startsOn` up to today.
    async fn longest_streak(&self, ctx: &Context<'_>) -> async_graphql::Result<u32> {
        let done = load_completions(ctx, self.row.id).await?;
        Ok(self.plan.longest_streak(&done, self.today))
    }
    /// The habit's strength, 0 to 100 with one decimal: Loop Habit Tracker's exponential
    /// score over the scheduled days since `startsOn`. Each done day moves it toward 100 and
    /// each missed one toward 0, by a step that is smaller the more often the habit recurs
    /// (it halves in 13 days without a check-in for a daily habit, 34 for a weekly one).
    /// A measurable day short of an `AT_LEAST` target moves it as the share it reached.
    /// Skipped days freeze it; today counts once done.
    async fn score(&self, ctx: &Context<'_>) -> async_graphql::Result<f64> {
        let days = load_completions(ctx, self.row.id).await?;
        Ok(rules::score_percent(self.plan.score(&days, self.today)))
    }
    /// The strength (`score`) at the end of each day from `from` (default 30 days before
    /// `to`) to `to` (default today), at most 366 days, none after today.
    async fn score_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first day, included; 30 days before `to` when omitted.")]
        from: Option<Date>,
        #[graphql(desc = "The last day, included; today in the user's time zone when omitted.")]
        to: Option<Date>,
    ) -> async_graphql::Result<Vec<HabitScore>> {
        let range = day_range(from, to, self.today)?;
        let days = load_completions(ctx, self.row.id).await?;
        Ok(self
            .plan
            .score_history(&days, range, self.today)
            .into_iter()
            .map(|(date, score)| HabitScore {
                date: Date::from(date),
                score: rules::score_percent(score),
            })
            .collect())
    }
    /// Completed scheduled days ÷ scheduled days so far, in percent with one decimal. A
    /// measurable day short of an `AT_LEAST` target counts as the share it reached (5 of 8
    /// glasses: 0.625 of a day); one over an `AT_MOST` target counts nothing.
    async fn completion_rate(&self, ctx: &Context<'_>) -> async_graphql::Result<f64> {
        let done = load_completions(ctx, self.row.id).await?;
        Ok(self
            .plan
            .occurrences(&done, self.row.starts_on, self.today, self.today)
            .percent())
    }
    /// Completed days from `from` (default 30 days before `to`) to `to` (default today), at
    /// most 366 days.
    async fn completions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first day, included; 30 days before `to` when omitted.")]
        from: Option<Date>,
        #[graphql(desc = "The last day, included; today in the user's time zone when omitted.")]
        to: Option<Date>,
    ) -> async_graphql::Result<Vec<Date>> {
        let (from, to) = day_range(from, to, self.today)?;
        let days = load_completions(ctx, self.row.id).await?;
        Ok(days
            .between(from, to)
            .iter()
            .copied()
            .map(Date::from)
            .collect())
    }
    /// Skipped days from `from` (default 30 days before `to`) to `to` (default today), at
    /// most 366 days; planned skips lie after today.
    async fn skips(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first day, included; 30 days before `to` when omitted.")]
        from: Option<Date>,
        #[graphql(desc = "The last day, included; today in the user's time zone when omitted.")]
        to: Option<Date>,
    ) -> async_graphql::Result<Vec<Date>> {
        let (from, to) = day_range(from, to, self.today)?;
        let days = load_completions(ctx, self.row.id).await?;
        Ok(days
            .skipped_between(from, to)
            .iter()
            .copied()
            .map(Date::from)
            .collect())
    }
    /// The notes on done or skipped days from `from` (default 30 days before `to`) to `to`
    /// (default today), oldest first, at most 366 days.
    async fn notes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first day, included; 30 days before `to` when omitted.")]
        from: Option<Date>,
        #[graphql(desc = "The last day, included; today in the user's time zone when omitted.")]
        to: Option<Date>,
    ) -> async_graphql::Result<Vec<HabitNote>> {
        let range = day_range(from, to, self.today)?;
        let entries = loader::load_entries(ctx, self.row.id, range).await?;
        Ok(entries
            .iter()
            .filter(|entry| !entry.note.is_empty())
            .map(|entry| HabitNote {
                date: Date::from(entry.date),
                skipped: entry.skipped,
                note: entry.note.clone(),
            })
            .collect())
    }
    /// A measurable habit's recorded values from `from` (default 30 days before `to`) to `to`
    /// (default today), oldest first, at most 366 days; empty for a yes/no habit.
    async fn values(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first day, included; 30 days before `to` when omitted.")]
        from: Option<Date>,
        #[graphql(desc = "The last day, included; today in the user's time zone when omitted.")]
        to: Option<Date>,
    ) -> async_graphql::Result<Vec<HabitValue>> {
        let range = day_range(from, to, self.today)?;
        let entries = loader::load_entries(ctx, self.row.id, range).await?;
        Ok(entries
            .iter()
            .filter_map(|entry| {
                Some(HabitValue {
                    date: Date::from(entry.date),
                    value: entry.value?,
                    met: entry.met,
                    note: entry.note.clone(),
                })
            })
            .collect())
    }
    /// The times of day it reminds the user, `HH:MM` in their time zone, earliest first (see
    /// `setHabitReminders`).
    async fn reminders(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        crate::reminders::loader::load_times(ctx, self.row.id).await
    }
    /// When the habit was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
    /// When the habit's fields or archived state last changed (completions do not count).
    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
}

/// A habit's strength at the end of a day.
#[derive(SimpleObject)]
pub struct HabitScore {
    /// The day.
    pub date: Date,
    /// 0 to 100, one decimal (see `Habit.score`).
    pub score: f64,
}

/// A note on a done or skipped day.
#[derive(SimpleObject)]
pub struct HabitNote {
    /// The day.
    pub date: Date,
    /// True when the day is skipped, false when it is done.
    pub skipped: bool,
    /// The note, at most 1000 characters.
    pub note: String,
}

/// A measurable habit's value on a day.
#[derive(SimpleObject)]
pub struct HabitValue {
    /// The day.
    pub date: Date,
    /// The value recorded.
    pub value: f64,
    /// Whether it meets the habit's target, which makes the day done.
    pub met: bool,
    /// The day's note; empty when it has none.
    pub note: String,
}

/// The days a day-list field covers, checked.
fn day_range(
    from: Option<Date>,
    to: Option<Date>,
    today: chrono::NaiveDate,
) -> Result<(chrono::NaiveDate, chrono::NaiveDate), AppError> {
    let to = to.map(|date| date.checked("to")).transpose()?;
    let from = from.map(|date| date.checked("from")).transpose()?;
    rules::completions_range(from, to, today)
}

async fn today_mark(ctx: &Context<'_>, habit: &Habit) -> async_graphql::Result<DayMark> {
    match habit.today_mark {
        Some(mark) => Ok(mark),
        None => Ok(load_completions(ctx, habit.row.id).await?.mark(habit.today)),
    }
}

/// Narrows `habits`; every condition given must hold.
#[derive(InputObject, Default)]
pub struct HabitsFilter {
    /// Only habits in this state today.
    pub status: Option<HabitStatus>,
    /// Only habits with this kind of schedule.
    pub kind: Option<HabitKind>,
    /// Only habits with this theme.
    pub theme_id: Option<ID>,
    /// Only habits whose name, description or a day's note contains this text (any case),
    /// at most 100 characters.
    pub search: Option<String>,
}

impl TryFrom<HabitsFilter> for HabitQuery {
    type Error = AppError;

    fn try_from(filter: HabitsFilter) -> Result<Self, AppError> {
        Ok(Self {
            status: filter.status,
            kind: filter.kind,
            theme_id: filter
                .theme_id
                .as_ref()
                .map(|id| parse_id("themeId", id))
                .transpose()?,
            search: filter.search,
        })
    }
}

/// Where a page of habits ends: the order and the last habit's place in it.
type HabitCursor = (HabitsOrderBy, SortKey);

#[derive(Default)]
pub struct HabitsQuery;

#[Object]
impl HabitsQuery {
    /// One of the current user's habits.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn habit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The habit's id; another user's habit is `NOT_FOUND`.")] id: ID,
    ) -> async_graphql::Result<Habit> {
        let id = parse_id("id", &id)?;
        Ok(super::find(ctx.app(), &calendar(ctx)?, id).await?)
    }

    /// The current user's habits. Ended habits are archived before the list is read.
    #[graphql(
        guard = "Permission(perm::HABITS_MANAGE)",
        complexity = "crate::graphql::page_cost(first, child_complexity)"
    )]
    async fn habits(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions on state, kind and theme.")] filter: Option<HabitsFilter>,
        #[graphql(default, desc = "The order; `CREATED_AT` when omitted.")] order_by: HabitsOrderBy,
        #[graphql(desc = "Page size, 0 to 100; 20 when omitted.")] first: Option<i32>,
        #[graphql(
            desc = "The `endCursor` of the previous page, listed in the same `orderBy`; omit for the first page."
        )]
        after: Option<String>,
    ) -> async_graphql::Result<CountedConnection<Habit>> {
        let size = page_size(first)?;
        let after: Option<HabitCursor> = after.as_deref().map(decode_key).transpose()?;
        let query = HabitQuery::try_from(filter.unwrap_or_default())?;
        let limit = usize::try_from(size + 1).unwrap_or(usize::MAX);
        let (app, calendar) = (ctx.app(), calendar(ctx)?);
        let listed = super::list(app, &calendar, &query, order_by, after.as_ref(), limit).await?;
        loader::feed(ctx, listed.completions).await;
        loader::prime(ctx, listed.page.iter().map(|(_, habit)| habit)).await?;
        Ok(keyed_connection(
            listed.page,
            size,
            after.is_some(),
            listed.total,
            |(key, _)| encode_key(&(order_by, key)),
            |(_, habit)| habit,
        ))
    }
}

/// A new habit for `createHabit`.
#[derive(InputObject)]
pub struct CreateHabitInput {
    /// 1–100 characters after trimming.
    pub name: String,
    /// At most 1000 characters; line breaks allowed. Empty when omitted.
    #[graphql(default)]
    pub description: String,
    /// One of the user's themes; any other id is `NOT_FOUND`.
    pub theme_id: Option<ID>,
    /// When the habit recurs: exactly one kind.
    pub schedule: ScheduleInput,
    /// Defaults to today in the user's time zone.
    pub starts_on: Option<Date>,
    /// On or after `startsOn`.
    pub ends_on: Option<Date>,
    /// The most days that may be skipped in one calendar month, 0 to 31; no cap when omitted.
    pub skips_per_month: Option<i32>,
    /// Makes the habit measurable: each scheduled day records a value, and is done when the
    /// value meets the target. A yes/no habit (ticked with `completeHabit`) when omitted.
    pub measure: Option<HabitMeasureInput>,
}

/// What a measurable habit counts, and the target a day must meet.
#[derive(InputObject)]
pub struct HabitMeasureInput {
    /// What is counted ("glasses", "km"), at most 20 characters after trimming; may be empty.
    #[graphql(default)]
    pub unit: String,
    /// `AT_LEAST`: above 0; `AT_MOST`: 0 or more; at most 1,000,000,000.
    pub target: f64,
    /// Whether the target is a floor or a ceiling.
    pub direction: TargetDirection,
}

impl TryFrom<HabitMeasureInput> for Measure {
    type Error = AppError;

    fn try_from(input: HabitMeasureInput) -> Result<Self, AppError> {
        rules::measure(&input.unit, input.target, input.direction)
    }
}

/// Changes for `updateHabit`; fields left out keep their value.
#[derive(InputObject)]
pub struct UpdateHabitInput {
    /// The habit to change.
    pub id: ID,
    /// 1–100 characters after trimming.
    pub name: Option<String>,
    /// At most 1000 characters; line breaks allowed.
    pub description: Option<String>,
    /// Null removes the theme; leaving it out keeps it.
    pub theme_id: MaybeUndefined<ID>,
    /// A new schedule, replacing the old one.
    pub schedule: Option<ScheduleInput>,
    /// A new first day, on or before `endsOn`; interval cycles count from it.
    pub starts_on: Option<Date>,
    /// Null clears the end; leaving it out keeps it. Moving it to today or later revives a
    /// habit that was archived because it ended.
    pub ends_on: MaybeUndefined<Date>,
    /// A new monthly skip cap (0 to 31); null lifts it. Skips already made stay.
    pub skips_per_month: MaybeUndefined<i32>,
    /// A measurable habit's new unit, target and direction; days already recorded are weighed
    /// against the new target. A yes/no habit cannot become measurable (`BAD_USER_INPUT`).
    pub measure: Option<HabitMeasureInput>,
}

/// A measurable habit's value for a day, for `recordHabitValue`.
#[derive(InputObject)]
pub struct RecordHabitValueInput {
    /// A measurable habit; a yes/no habit is `BAD_USER_INPUT` (tick it with `completeHabit`).
    pub habit_id: ID,
    /// A scheduled day, today or earlier; defaults to today in the user's time zone.
    pub date: Option<Date>,
    /// From 0 to 1,000,000,000; replaces the day's value.
    pub value: f64,
    /// A note on the day, at most 1000 characters; replaces the day's note when given, and
    /// keeps it when omitted.
    pub note: Option<String>,
}

/// Names one of the user's habits.
#[derive(InputObject)]
pub struct HabitIdInput {
    /// The habit's id; another user's habit is `NOT_FOUND`.
    pub id: ID,
}

/// The habit and day `completeHabit` marks done.
#[derive(InputObject)]
pub struct CompleteHabitInput {
    /// The habit to complete.
    pub habit_id: ID,
    /// A scheduled day, today or earlier; defaults to today in the user's time zone.
    pub date: Option<Date>,
    /// A note on the day, at most 1000 characters (line breaks allowed); replaces the note
    /// the day had when given.
    pub note: Option<String>,
}

/// The habit and day `skipHabit` marks skipped.
#[derive(InputObject)]
pub struct SkipHabitInput {
    /// The habit to skip a day of.
    pub habit_id: ID,
    /// A scheduled day, at most a year ahead; defaults to today in the user's time zone.
    pub date: Option<Date>,
    /// Why (sick, travel), at most 1000 characters; replaces the day's note when given.
    pub note: Option<String>,
}

/// The habit and day `uncompleteHabit` or `unskipHabit` takes back.
#[derive(InputObject)]
pub struct UncompleteHabitInput {
    /// The habit whose completion (or skip) to remove.
    pub habit_id: ID,
    /// The day to take back, in the user's calendar; today when omitted (a client need not
    /// know the user's zone and day start to undo today's mark).
    pub date: Option<Date>,
}

/// The result of a habit mutation.
#[derive(SimpleObject)]
pub struct HabitPayload {
    /// The habit as it is now (for `deleteHabit`, as it was).
    pub habit: Habit,
}

/// The result of `completeHabit`, `uncompleteHabit`, `skipHabit` or `unskipHabit`.
#[derive(SimpleObject)]
pub struct CompletionPayload {
    /// The habit; its streaks and rates include the change.
    pub habit: Habit,
    /// The day that was marked done or taken back.
    pub date: Date,
    /// False when the day was already so (repeating the call changes nothing).
    pub changed: bool,
}

impl From<CompletionChange> for CompletionPayload {
    fn from(change: CompletionChange) -> Self {
        Self {
            habit: change.habit,
            date: Date::from(change.date),
            changed: change.changed,
        }
    }
}

#[derive(Default)]
pub struct HabitsMutation;

#[Object]
impl HabitsMutation {
    /// Creates a habit for the current user (`habits:manage`). A bad schedule or an `endsOn`
    /// before `startsOn` is `BAD_USER_INPUT`; a habit that already ended is archived at once. A
    /// user with as many habits as allowed (500 by default, archived ones included) gets
    /// `CONFLICT` with reason `LIMIT_REACHED`.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn create_habit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new habit's fields.")] input: CreateHabitInput,
    ) -> async_graphql::Result<HabitPayload> {
        let draft = HabitDraft {
            name: &input.name,
            description: &input.description,
            theme_id: input
                .theme_id
                .as_ref()
                .map(|id| parse_id("themeId", id))
                .transpose()?,
            schedule: Schedule::try_from(input.schedule)?,
            starts_on: input
                .starts_on
                .map(|date| date.checked("startsOn"))
                .transpose()?,
            ends_on: input
                .ends_on
                .map(|date| date.checked("endsOn"))
                .transpose()?,
            skips_per_month: input.skips_per_month,
            measure: input.measure.map(Measure::try_from).transpose()?,
        };
        let habit = super::create(ctx.app(), &calendar(ctx)?, draft).await?;
        Ok(HabitPayload { habit })
    }

    /// Changes one of the user's habits (`habits:manage`). Moving `endsOn` into the past
    /// archives the habit; an `endsOn` before `startsOn` is `BAD_USER_INPUT`.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn update_habit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The habit and the fields to change.")] input: UpdateHabitInput,
    ) -> async_graphql::Result<HabitPayload> {
        let id = parse_id("id", &input.id)?;
        let edit = HabitEdit {
            name: input.name.as_deref(),
            description: input.description.as_deref(),
            theme_id: input
                .theme_id
                .map_value(|id| parse_id("themeId", &id))
                .transpose()?
                .into(),
            schedule: input.schedule.map(Schedule::try_from).transpose()?,
            starts_on: input
                .starts_on
                .map(|date| date.checked("startsOn"))
                .transpose()?,
            ends_on: input
                .ends_on
                .map_value(|date| date.checked("endsOn"))
                .transpose()?
                .into(),
            skips_per_month: input.skips_per_month.into(),
            measure: input.measure.map(Measure::try_from).transpose()?,
        };
        let habit = super::update(ctx.app(), &calendar(ctx)?, id, edit).await?;
        loader::forget(ctx);
        Ok(HabitPayload { habit })
    }

    /// Deletes a habit with its completions.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn delete_habit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The habit to delete.")] input: HabitIdInput,
    ) -> async_graphql::Result<HabitPayload> {
        let id = parse_id("id", &input.id)?;
        let habit = super::delete(ctx.app(), &calendar(ctx)?, id).await?;
        loader::forget(ctx);
        Ok(HabitPayload { habit })
    }

    /// Marks a scheduled day of a yes/no habit done (today by default). Future days,
    /// unscheduled days, archived habits and measurable habits (use `recordHabitValue`) are
    /// `BAD_USER_INPUT`; a day already done answers `changed: false`.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn complete_habit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The habit and, optionally, the day.")] input: CompleteHabitInput,
    ) -> async_graphql::Result<CompletionPayload> {
        let day = (input.date, input.note.as_deref());
        mark_day(ctx, &input.habit_id, day, DayMark::Done).await
    }

    /// Records a measurable habit's value for a scheduled day (today by default), replacing
    /// the value it had: the day is done when the value meets the target. Future days,
    /// unscheduled days and archived habits are `BAD_USER_INPUT`; a skipped day is `CONFLICT`
    /// with reason `SKIPPED`; the same value again answers `changed: false`. `uncompleteHabit`
    /// clears a day's value.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn record_habit_value(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The habit, the day, the value and a note.")] input: RecordHabitValueInput,
    ) -> async_graphql::Result<CompletionPayload> {
        let id = parse_id("habitId", &input.habit_id)?;
        let entry = ValueEntry {
            date: input.date.map(|date| date.checked("date")).transpose()?,
            value: input.value,
            note: input.note.as_deref(),
        };
        let change = super::record_value(ctx.app(), &calendar(ctx)?, id, entry).await?;
        loader::forget(ctx);
        Ok(change.into())
    }

    /// Takes back a completion, or a measurable habit's value; a day that was not done
    /// answers `changed: false`.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn uncomplete_habit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The habit and the day.")] input: UncompleteHabitInput,
    ) -> async_graphql::Result<CompletionPayload> {
        take_back(ctx, input, DayMark::Done).await
    }

    /// Marks a scheduled day skipped (sick, travel; today by default, or planned up to a year
    /// ahead): it neither breaks nor extends the streak and leaves rates. Beyond the habit's
    /// `skipsPerMonth` it is `CONFLICT` with reason `LIMIT_REACHED`; a day already done is
    /// `CONFLICT` with reason `COMPLETED` (and completing a skipped day is `SKIPPED`).
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn skip_habit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The habit, the day and why.")] input: SkipHabitInput,
    ) -> async_graphql::Result<CompletionPayload> {
        let day = (input.date, input.note.as_deref());
        mark_day(ctx, &input.habit_id, day, DayMark::Skipped).await
    }

    /// Takes back a skip; a day that was not skipped answers `changed: false`.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn unskip_habit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The habit and the day.")] input: UncompleteHabitInput,
    ) -> async_graphql::Result<CompletionPayload> {
        take_back(ctx, input, DayMark::Skipped).await
    }

    /// Archives a habit by hand: from today on nothing is scheduled. Archiving an archived
    /// habit changes nothing.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn archive_habit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The habit to archive.")] input: HabitIdInput,
    ) -> async_graphql::Result<HabitPayload> {
        set_archived_by_hand(ctx, &input.id, true).await
    }

    /// Makes an archived habit active again; one whose `endsOn` has passed is
    /// `BAD_USER_INPUT` (move `endsOn` instead).
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn unarchive_habit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The habit to unarchive.")] input: HabitIdInput,
    ) -> async_graphql::Result<HabitPayload> {
        set_archived_by_hand(ctx, &input.id, false).await
    }
}

/// Archives (from now) or unarchives a habit; asking for the state it is in changes nothing.
async fn set_archived_by_hand(
    ctx: &Context<'_>,
    id: &ID,
    archive: bool,
) -> async_graphql::Result<HabitPayload> {
    let id = parse_id("id", id)?;
    let habit = super::set_archived_by_hand(ctx.app(), &calendar(ctx)?, id, archive).await?;
    Ok(HabitPayload { habit })
}

/// Marks a day (today when `date` is omitted) done or skipped, with its note.
async fn mark_day(
    ctx: &Context<'_>,
    habit_id: &ID,
    (date, note): (Option<Date>, Option<&str>),
    mark: DayMark,
) -> async_graphql::Result<CompletionPayload> {
    let change = DayChange {
        date: date.map(|date| date.checked("date")).transpose()?,
        mark,
        set: true,
        note,
    };
    change_day(ctx, parse_id("habitId", habit_id)?, change).await
}

/// Takes a day's mark back.
async fn take_back(
    ctx: &Context<'_>,
    input: UncompleteHabitInput,
    mark: DayMark,
) -> async_graphql::Result<CompletionPayload> {
    let change = DayChange {
        date: input.date.map(|date| date.checked("date")).transpose()?,
        mark,
        set: false,
        note: None,
    };
    change_day(ctx, parse_id("habitId", &input.habit_id)?, change).await
}

async fn change_day(
    ctx: &Context<'_>,
    id: i64,
    change: DayChange<'_>,
) -> async_graphql::Result<CompletionPayload> {
    let change = super::mark_day(ctx.app(), &calendar(ctx)?, id, change).await?;
    loader::forget(ctx);
    Ok(change.into())
}
