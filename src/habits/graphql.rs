use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{
    Context, Enum, ID, InputObject, MaybeUndefined, Object, OneofObject, SimpleObject,
};
use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::model::{Habit, HabitChanges, HabitRow, NewHabit};
use super::rules::{self, CompletedDays, Schedule};
use super::store::{self, HabitFilter};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::graphql::connection::{
    CountedConnection, decode_key, encode_key, keyed_connection, page_size, selects_node_field,
};
use crate::graphql::scalars::Date;
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::perm;
use crate::text;
use crate::themes::graphql::load_theme;
use crate::themes::model::Theme;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// The longest stretch `Habit.completions` lists at once.
pub const MAX_COMPLETIONS_RANGE_DAYS: i64 = 366;

/// Loads the completion dates of a request's habits in one statement per batch. Cached, so
/// the streak, rate and today fields of one habit share one load, and a list can prime it.
pub struct CompletionLoader {
    pub pool: DbPool,
}

pub type CompletionDataLoader = DataLoader<CompletionLoader, HashMapCache>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CompletionsOf(pub i64);

pub type Completions = Arc<CompletedDays>;

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

async fn completions_of(ctx: &Context<'_>, habit_id: i64) -> async_graphql::Result<Completions> {
    Ok(ctx
        .data_unchecked::<CompletionDataLoader>()
        .load_one(CompletionsOf(habit_id))
        .await?
        .unwrap_or_default())
}

/// The viewer's calendar right now: zone, the instant, and their local date.
pub struct Calendar {
    pub user_id: i64,
    pub time_zone: Tz,
    pub now: DateTime<Utc>,
    pub today: NaiveDate,
}

impl Calendar {
    pub fn habit(&self, row: HabitRow) -> Result<Habit, AppError> {
        Habit::new(row, self.time_zone, self.today)
    }

    fn payload(&self, row: HabitRow) -> Result<HabitPayload, AppError> {
        Ok(HabitPayload {
            habit: self.habit(row)?,
        })
    }
}

pub fn calendar(ctx: &Context<'_>) -> Result<Calendar, AppError> {
    let viewer = ctx.viewer()?;
    let now = ctx.app().clock.now();
    Ok(Calendar {
        user_id: viewer.user_id,
        time_zone: viewer.time_zone,
        now,
        today: viewer.local_date(now),
    })
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
    /// Not archived, scheduled today, and not yet completed today.
    async fn due_today(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(!self.is_archived()
            && self.plan.is_scheduled(self.today)
            && !completed_today(ctx, self).await?)
    }
    /// Whether today, in the user's time zone, is marked done.
    async fn completed_today(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        completed_today(ctx, self).await
    }
    /// Completed scheduled days in a row, up to the latest scheduled day; today counts once
    /// done and does not break the streak before it is over.
    async fn current_streak(&self, ctx: &Context<'_>) -> async_graphql::Result<u32> {
        let done = completions_of(ctx, self.row.id).await?;
        Ok(self.plan.current_streak(&done, self.today))
    }
    /// The longest run of completed scheduled days in a row, from `startsOn` up to today.
    async fn longest_streak(&self, ctx: &Context<'_>) -> async_graphql::Result<u32> {
        let done = completions_of(ctx, self.row.id).await?;
        Ok(self.plan.longest_streak(&done, self.today))
    }
    /// Completed scheduled days ÷ scheduled days so far, in percent with one decimal.
    async fn completion_rate(&self, ctx: &Context<'_>) -> async_graphql::Result<f64> {
        let done = completions_of(ctx, self.row.id).await?;
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
        let to = to.map_or(Ok(self.today), |date| date.checked("to"))?;
        let from = match from {
            Some(date) => date.checked("from")?,
            None => to.checked_sub_days(Days::new(30)).unwrap_or(to),
        };
        if from > to || (to - from).num_days() >= MAX_COMPLETIONS_RANGE_DAYS {
            return Err(AppError::bad_input(
                "from",
                format!(
                    "from must be on or before to, at most {MAX_COMPLETIONS_RANGE_DAYS} days apart"
                ),
            )
            .into());
        }
        let done = completions_of(ctx, self.row.id).await?;
        Ok(done
            .between(from, to)
            .iter()
            .copied()
            .map(Date::from)
            .collect())
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

async fn completed_today(ctx: &Context<'_>, habit: &Habit) -> async_graphql::Result<bool> {
    match habit.completed_today {
        Some(done) => Ok(done),
        None => Ok(completions_of(ctx, habit.row.id)
            .await?
            .contains(habit.today)),
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

/// Narrows `habits`; every condition given must hold.
#[derive(InputObject, Default)]
pub struct HabitsFilter {
    /// Only habits in this state today.
    pub status: Option<HabitStatus>,
    /// Only habits with this kind of schedule.
    pub kind: Option<HabitKind>,
    /// Only habits with this theme.
    pub theme_id: Option<ID>,
}

/// Where a page of habits ends: the order and the last habit's place in it.
type HabitCursor = (HabitsOrderBy, SortKey);
/// Sorts ascending in every order: a streak is stored negated so longer comes first.
type SortKey = (i64, String, i64);

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
        let calendar = calendar(ctx)?;
        let mut conn = db::conn(&ctx.app().pool).await?;
        store::archive_ended(&mut conn, calendar.now, Some(calendar.user_id)).await?;
        Ok(calendar.habit(store::find(&mut conn, calendar.user_id, id).await?)?)
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
        let filter = filter.unwrap_or_default();
        let size = page_size(first)?;
        let after: Option<HabitCursor> = after.as_deref().map(decode_key).transpose()?;
        if after.as_ref().is_some_and(|(order, _)| *order != order_by) {
            return Err(
                AppError::bad_input("after", "That cursor belongs to another order").into(),
            );
        }
        let calendar = calendar(ctx)?;
        let store_filter = HabitFilter {
            archived: filter.status.map(|status| status == HabitStatus::Archived),
            kind: filter.kind.map(HabitKind::as_str),
            theme_id: filter
                .theme_id
                .as_ref()
                .map(|id| parse_id("themeId", id))
                .transpose()?,
        };
        // Ordering by streak needs every habit's completions; otherwise only the page's are
        // read, once it is known.
        let with_completions = order_by == HabitsOrderBy::Streak;
        let mut conn = db::conn(&ctx.app().pool).await?;
        store::archive_ended(&mut conn, calendar.now, Some(calendar.user_id)).await?;
        let rows = store::list(
            &mut conn,
            calendar.user_id,
            &store_filter,
            calendar.today,
            with_completions,
        )
        .await?;
        drop(conn);
        let habits = listed(ctx, rows, &calendar)
            .await?
            .into_iter()
            .filter(|habit| match filter.status {
                Some(HabitStatus::DueToday) => {
                    habit.plan.is_scheduled(habit.today) && habit.completed_today == Some(false)
                }
                Some(HabitStatus::CompletedToday) => habit.completed_today == Some(true),
                Some(HabitStatus::Active | HabitStatus::Archived) | None => true,
            })
            .collect();
        let mut keyed = sort_keys(ctx, habits, order_by).await?;
        keyed.sort_by(|(left, _), (right, _)| left.cmp(right));
        let total = keyed.len() as i64;
        if let Some((_, after_key)) = &after {
            keyed.retain(|(key, _)| key > after_key);
        }
        keyed.truncate(usize::try_from(size + 1).unwrap_or(usize::MAX));
        prime_completions(ctx, keyed.iter().map(|(_, habit)| habit)).await?;
        Ok(keyed_connection(
            keyed,
            size,
            after.is_some(),
            total,
            |(key, _)| encode_key(&(order_by, key)),
            |(_, habit)| habit,
        ))
    }
}

/// Listed habits with their "done today" flags, as the viewer's calendar sees them. Completions
/// that came with them go to the request's loader, so no field asks for them again.
pub async fn listed(
    ctx: &Context<'_>,
    rows: Vec<store::Listed>,
    calendar: &Calendar,
) -> async_graphql::Result<Vec<Habit>> {
    let mut completions = Vec::new();
    let habits = rows
        .into_iter()
        .map(|listed| {
            let mut habit = calendar.habit(listed.row)?;
            habit.completed_today = Some(listed.completed_today);
            if let Some(dates) = listed.completions {
                completions.push((CompletionsOf(habit.row.id), Arc::new(dates)));
            }
            Ok(habit)
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    ctx.data_unchecked::<CompletionDataLoader>()
        .feed_many(completions)
        .await;
    Ok(habits)
}

/// Loads the completions of a whole page in one statement when the query asks for fields
/// that need them, rather than leaving it to the loader's batching window.
async fn prime_completions<'a>(
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

async fn sort_keys(
    ctx: &Context<'_>,
    habits: Vec<Habit>,
    order: HabitsOrderBy,
) -> async_graphql::Result<Vec<(SortKey, Habit)>> {
    if order != HabitsOrderBy::Streak {
        return Ok(habits
            .into_iter()
            .map(|habit| {
                let name = match order {
                    HabitsOrderBy::Name => habit.row.name.to_lowercase(),
                    _ => String::new(),
                };
                ((0, name, habit.row.id), habit)
            })
            .collect());
    }
    let loaded = ctx
        .data_unchecked::<CompletionDataLoader>()
        .load_many(habits.iter().map(|habit| CompletionsOf(habit.row.id)))
        .await?;
    Ok(habits
        .into_iter()
        .map(|habit| {
            let streak = loaded
                .get(&CompletionsOf(habit.row.id))
                .map_or(0, |done| habit.plan.current_streak(done, habit.today));
            ((-i64::from(streak), String::new(), habit.row.id), habit)
        })
        .collect())
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
}

/// The habit and day `uncompleteHabit` takes back.
#[derive(InputObject)]
pub struct UncompleteHabitInput {
    /// The habit whose completion to remove.
    pub habit_id: ID,
    /// The day to take back, today or earlier, in the user's calendar.
    pub date: Date,
}

/// The result of a habit mutation.
#[derive(SimpleObject)]
pub struct HabitPayload {
    /// The habit as it is now (for `deleteHabit`, as it was).
    pub habit: Habit,
}

/// The result of `completeHabit` or `uncompleteHabit`.
#[derive(SimpleObject)]
pub struct CompletionPayload {
    /// The habit; its streaks and rates include the change.
    pub habit: Habit,
    /// The day that was marked done or taken back.
    pub date: Date,
    /// False when the day was already so (repeating the call changes nothing).
    pub changed: bool,
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
        let calendar = calendar(ctx)?;
        let new = NewHabit {
            name: text::line("name", &input.name, MAX_NAME_CHARS)?,
            description: text::paragraphs(
                "description",
                &input.description,
                MAX_DESCRIPTION_CHARS,
            )?,
            theme_id: input
                .theme_id
                .as_ref()
                .map(|id| parse_id("themeId", id))
                .transpose()?,
            schedule: Schedule::try_from(input.schedule)?,
            starts_on: input
                .starts_on
                .map_or(Ok(calendar.today), |date| date.checked("startsOn"))?,
            ends_on: input
                .ends_on
                .map(|date| date.checked("endsOn"))
                .transpose()?,
        };
        rules::check_span(new.starts_on, new.ends_on)?;
        let mut conn = db::conn(&ctx.app().pool).await?;
        let cap = ctx.app().config.max_habits_per_user;
        let row = store::create(&mut conn, calendar.user_id, &new, cap, calendar.now).await?;
        Ok(calendar.payload(row)?)
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
        let calendar = calendar(ctx)?;
        let changes = HabitChanges {
            name: input
                .name
                .as_deref()
                .map(|name| text::line("name", name, MAX_NAME_CHARS))
                .transpose()?,
            description: input
                .description
                .as_deref()
                .map(|text| text::paragraphs("description", text, MAX_DESCRIPTION_CHARS))
                .transpose()?,
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
        };
        let mut conn = db::conn(&ctx.app().pool).await?;
        let row = store::update(
            &mut conn,
            calendar.user_id,
            id,
            &changes,
            calendar.today,
            calendar.now,
        )
        .await?;
        forget_completions(ctx);
        Ok(calendar.payload(row)?)
    }

    /// Deletes a habit with its completions.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn delete_habit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The habit to delete.")] input: HabitIdInput,
    ) -> async_graphql::Result<HabitPayload> {
        let id = parse_id("id", &input.id)?;
        let calendar = calendar(ctx)?;
        let mut conn = db::conn(&ctx.app().pool).await?;
        let row = store::delete(&mut conn, calendar.user_id, id).await?;
        forget_completions(ctx);
        Ok(calendar.payload(row)?)
    }

    /// Marks a scheduled day done (today by default). Future days, unscheduled days and
    /// archived habits are `BAD_USER_INPUT`; a day already done answers `changed: false`.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn complete_habit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The habit and, optionally, the day.")] input: CompleteHabitInput,
    ) -> async_graphql::Result<CompletionPayload> {
        let id = parse_id("habitId", &input.habit_id)?;
        let calendar = calendar(ctx)?;
        let date = input
            .date
            .map_or(Ok(calendar.today), |date| date.checked("date"))?;
        set_completion(ctx, &calendar, id, date, true).await
    }

    /// Takes back a completion; a day that was not done answers `changed: false`.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn uncomplete_habit(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The habit and the day.")] input: UncompleteHabitInput,
    ) -> async_graphql::Result<CompletionPayload> {
        let id = parse_id("habitId", &input.habit_id)?;
        let calendar = calendar(ctx)?;
        let date = input.date.checked("date")?;
        set_completion(ctx, &calendar, id, date, false).await
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
    let calendar = calendar(ctx)?;
    let mut conn = db::conn(&ctx.app().pool).await?;
    store::archive_ended(&mut conn, calendar.now, Some(calendar.user_id)).await?;
    let mut row = store::find(&mut conn, calendar.user_id, id).await?;
    if !archive {
        rules::check_unarchive(row.ends_on, calendar.today)?;
    }
    if row.archived_at.is_some() != archive {
        let archived_at = archive.then_some(calendar.now);
        row = store::set_archived(&mut conn, id, archived_at, calendar.now).await?;
    }
    Ok(calendar.payload(row)?)
}

async fn set_completion(
    ctx: &Context<'_>,
    calendar: &Calendar,
    id: i64,
    date: NaiveDate,
    completed: bool,
) -> async_graphql::Result<CompletionPayload> {
    let mut conn = db::conn(&ctx.app().pool).await?;
    store::archive_ended(&mut conn, calendar.now, Some(calendar.user_id)).await?;
    let habit = calendar.habit(store::find(&mut conn, calendar.user_id, id).await?)?;
    if completed {
        rules::check_completion(&habit.plan, habit.is_archived(), date, calendar.today)?;
    } else {
        rules::check_changeable_day(habit.is_archived(), date, calendar.today)?;
    }
    let changed = store::set_completed(&mut conn, id, date, completed, calendar.now).await?;
    forget_completions(ctx);
    Ok(CompletionPayload {
        habit,
        date: Date::from(date),
        changed,
    })
}

/// Drops the request's cached completions after this request changed some, so later fields
/// (and later mutations of the same operation) read them afresh.
fn forget_completions(ctx: &Context<'_>) {
    ctx.data_unchecked::<CompletionDataLoader>()
        .clear::<CompletionsOf>();
}
