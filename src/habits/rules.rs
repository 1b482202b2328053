//! The habit engine: one rule decides whether a date is scheduled, and due-today, completion,
//! streaks, rates and statistics all ask it. Everything here works on the user's local dates.

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use serde_json::json;

use super::model::{
    CompletedDays, Credit, DayMark, FULL_CREDIT, HabitStatus, HabitsOrderBy, Measure,
    TargetDirection,
};
use crate::error::AppError;
use crate::text;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// The longest stretch `Habit.completions` lists at once.
pub const MAX_COMPLETIONS_RANGE_DAYS: i64 = 366;
pub const MAX_INTERVAL_DAYS: u32 = 365;

/// When a habit recurs. Built only through [`Schedule::daily`], [`Schedule::weekly`], ... which
/// validate, so every value is meaningful.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    Daily,
    /// Weekdays as `Weekday::num_days_from_monday`, sorted and without duplicates.
    Weekly(Vec<Weekday>),
    /// Day of the month, 1–31; in shorter months the last day.
    Monthly(u32),
    /// Month and day; Feb 29 falls on Feb 28 in common years.
    Yearly {
        month: u32,
        day: u32,
    },
    /// `active` days on, then `pause` days off, anchored at the habit's first day.
    Interval {
        active: u32,
        pause: u32,
    },
}

impl Schedule {
    pub fn weekly(days: &[Weekday]) -> Result<Self, AppError> {
        if days.len() > 7 {
            return Err(AppError::bad_input("days", "A week has at most 7 days"));
        }
        let mut days: Vec<Weekday> = days.to_vec();
        days.sort_by_key(Weekday::num_days_from_monday);
        days.dedup();
        if days.is_empty() {
            return Err(AppError::bad_input(
                "schedule",
                "A weekly schedule needs at least one day",
            ));
        }
        Ok(Self::Weekly(days))
    }

    pub fn monthly(day: i32) -> Result<Self, AppError> {
        match u32::try_from(day) {
            Ok(day @ 1..=31) => Ok(Self::Monthly(day)),
            _ => Err(AppError::bad_input("schedule", "A monthly day is 1 to 31")),
        }
    }

    /// Any date that exists in a leap year: Feb 29 is allowed, Apr 31 is not.
    pub fn yearly(month: i32, day: i32) -> Result<Self, AppError> {
        let exists = u32::try_from(month)
            .ok()
            .zip(u32::try_from(day).ok())
            .and_then(|(month, day)| {
                NaiveDate::from_ymd_opt(2024, month, day).map(|_| (month, day))
            });
        match exists {
            Some((month, day)) => Ok(Self::Yearly { month, day }),
            None => Err(AppError::bad_input("schedule", "Not a date of the year")),
        }
    }

    pub fn interval(active: i32, pause: i32) -> Result<Self, AppError> {
        let in_range = |days: i32| {
            u32::try_from(days)
                .ok()
                .filter(|days| (1..=MAX_INTERVAL_DAYS).contains(days))
        };
        match (in_range(active), in_range(pause)) {
            (Some(active), Some(pause)) => Ok(Self::Interval { active, pause }),
            _ => Err(AppError::bad_input(
                "schedule",
                format!("activeDays and breakDays are 1 to {MAX_INTERVAL_DAYS}"),
            )),
        }
    }

    /// The kind's name as stored and as the API's `HabitKind` spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Daily => "DAILY",
            Self::Weekly(_) => "WEEKLY",
            Self::Monthly(_) => "MONTHLY",
            Self::Yearly { .. } => "YEARLY",
            Self::Interval { .. } => "INTERVAL",
        }
    }

    /// The kind's parameters as stored beside the kind, e.g. `{"days": [0, 4]}` (0 = Monday).
    pub fn parameters(&self) -> serde_json::Value {
        match self {
            Self::Daily => json!({}),
            Self::Weekly(days) => {
                json!({"days": days.iter().map(Weekday::num_days_from_monday).collect::<Vec<_>>()})
            }
            Self::Monthly(day) => json!({"day": day}),
            Self::Yearly { month, day } => json!({"month": month, "day": day}),
            Self::Interval { active, pause } => json!({"activeDays": active, "breakDays": pause}),
        }
    }

    /// The schedule stored as `kind` and `parameters`, validated again on the way in.
    pub fn from_stored(kind: &str, parameters: &serde_json::Value) -> Option<Self> {
        let int = |name: &str| {
            parameters
                .get(name)
                .and_then(serde_json::Value::as_i64)
                .and_then(|value| i32::try_from(value).ok())
        };
        match kind {
            "DAILY" => Some(Self::Daily),
            "WEEKLY" => {
                let days: Option<Vec<Weekday>> = parameters
                    .get("days")?
                    .as_array()?
                    .iter()
                    .map(|day| {
                        let index = u8::try_from(day.as_u64()?).ok()?;
                        Weekday::try_from(index).ok()
                    })
                    .collect();
                Self::weekly(&days?).ok()
            }
            "MONTHLY" => Self::monthly(int("day")?).ok(),
            "YEARLY" => Self::yearly(int("month")?, int("day")?).ok(),
            "INTERVAL" => Self::interval(int("activeDays")?, int("breakDays")?).ok(),
            _ => None,
        }
    }

    /// Whether the pattern falls on `date`, ignoring the habit's first and last day.
    fn falls_on(&self, date: NaiveDate, anchor: NaiveDate) -> bool {
        match self {
            Self::Daily => true,
            Self::Weekly(days) => days.contains(&date.weekday()),
            Self::Monthly(day) => monthly_date(date.year(), date.month(), *day) == Some(date),
            Self::Yearly { month, day } => yearly_date(date.year(), *month, *day) == Some(date),
            Self::Interval { active, pause } => {
                (date - anchor)
                    .num_days()
                    .rem_euclid(i64::from(active + pause))
                    < i64::from(*active)
            }
        }
    }

    /// The first day on or after `date` the pattern falls on. Computed, not searched: every
    /// streak and count is built from these, so none walks the calendar day by day.
    fn next_on_or_after(&self, date: NaiveDate, anchor: NaiveDate) -> Option<NaiveDate> {
        match self {
            Self::Daily => Some(date),
            Self::Weekly(days) => {
                let today = date.weekday().num_days_from_monday();
                let ahead = days
                    .iter()
                    .map(|day| (day.num_days_from_monday() + 7 - today) % 7)
                    .min()?;
                date.checked_add_days(Days::new(u64::from(ahead)))
            }
            Self::Monthly(day) => {
                let this = monthly_date(date.year(), date.month(), *day)?;
                if this >= date {
                    return Some(this);
                }
                let next = first_of_month(date)?.checked_add_months(Months::new(1))?;
                monthly_date(next.year(), next.month(), *day)
            }
            Self::Yearly { month, day } => {
                let this = yearly_date(date.year(), *month, *day)?;
                if this >= date {
                    return Some(this);
                }
                yearly_date(date.year() + 1, *month, *day)
            }
            Self::Interval { active, pause } => {
                let offset = (date - anchor)
                    .num_days()
                    .rem_euclid(i64::from(active + pause));
                let wait = if offset < i64::from(*active) {
                    0
                } else {
                    i64::from(active + pause) - offset
                };
                date.checked_add_days(Days::new(u64::try_from(wait).ok()?))
            }
        }
    }

    /// The last day on or before `date` the pattern falls on.
    fn last_on_or_before(&self, date: NaiveDate, anchor: NaiveDate) -> Option<NaiveDate> {
        match self {
            Self::Daily => Some(date),
            Self::Weekly(days) => {
                let today = date.weekday().num_days_from_monday();
                let behind = days
                    .iter()
                    .map(|day| (today + 7 - day.num_days_from_monday()) % 7)
                    .min()?;
                date.checked_sub_days(Days::new(u64::from(behind)))
            }
            Self::Monthly(day) => {
                let this = monthly_date(date.year(), date.month(), *day)?;
                if this <= date {
                    return Some(this);
                }
                let previous = first_of_month(date)?.checked_sub_months(Months::new(1))?;
                monthly_date(previous.year(), previous.month(), *day)
            }
            Self::Yearly { month, day } => {
                let this = yearly_date(date.year(), *month, *day)?;
                if this <= date {
                    return Some(this);
                }
                yearly_date(date.year() - 1, *month, *day)
            }
            Self::Interval { active, pause } => {
                let offset = (date - anchor)
                    .num_days()
                    .rem_euclid(i64::from(active + pause));
                let back = if offset < i64::from(*active) {
                    0
                } else {
                    offset - i64::from(*active) + 1
                };
                date.checked_sub_days(Days::new(u64::try_from(back).ok()?))
            }
        }
    }

    /// How many days from `first` to `last`, both included, the pattern falls on, in constant
    /// time whatever the span.
    /// Occurrences per day on average: 1 for daily, 2/7 for two weekdays, a/(a+b) for an
    /// interval of a days on and b off.
    pub fn frequency(&self) -> f64 {
        match self {
            Self::Daily => 1.0,
            Self::Weekly(days) => days.len() as f64 / 7.0,
            Self::Monthly(_) => 12.0 / 365.25,
            Self::Yearly { .. } => 1.0 / 365.25,
            Self::Interval { active, pause } => {
                f64::from(*active) / f64::from(active.saturating_add(*pause).max(1))
            }
        }
    }

    fn count_between(&self, first: NaiveDate, last: NaiveDate, anchor: NaiveDate) -> u64 {
        if first > last {
            return 0;
        }
        let days = u64::try_from((last - first).num_days() + 1).unwrap_or(0);
        match self {
            Self::Daily => days,
            Self::Weekly(weekdays) => {
                let start = first.weekday().num_days_from_monday();
                let in_partial_week = weekdays
                    .iter()
                    .filter(|day| {
                        u64::from((day.num_days_from_monday() + 7 - start) % 7) < days % 7
                    })
                    .count();
                days / 7 * weekdays.len() as u64 + in_partial_week as u64
            }
            // Each month (year) holds exactly one occurrence: count the months (years) touched,
            // less the first one's if it falls before `first` and the last one's if after `last`.
            Self::Monthly(day) => {
                let months =
                    |date: NaiveDate| i64::from(date.year()) * 12 + i64::from(date.month0());
                let touched = months(last) - months(first) + 1;
                let early =
                    monthly_date(first.year(), first.month(), *day).is_some_and(|on| on < first);
                let late =
                    monthly_date(last.year(), last.month(), *day).is_some_and(|on| on > last);
                u64::try_from(touched - i64::from(early) - i64::from(late)).unwrap_or(0)
            }
            Self::Yearly { month, day } => {
                let touched = i64::from(last.year()) - i64::from(first.year()) + 1;
                let early = yearly_date(first.year(), *month, *day).is_some_and(|on| on < first);
                let late = yearly_date(last.year(), *month, *day).is_some_and(|on| on > last);
                u64::try_from(touched - i64::from(early) - i64::from(late)).unwrap_or(0)
            }
            Self::Interval { active, pause } => {
                // Active days among the offsets 0..n from the anchor, for any n.
                let cycle = i64::from(active + pause);
                let active = i64::from(*active);
                let before =
                    |n: i64| n.div_euclid(cycle) * active + n.rem_euclid(cycle).min(active);
                let from = (first - anchor).num_days();
                let to = (last - anchor).num_days();
                u64::try_from(before(to + 1) - before(from)).unwrap_or(0)
            }
        }
    }
}

/// The day a monthly habit on `day` falls on in that month: the last day in shorter months.
fn monthly_date(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day.min(days_in_month(year, month)?))
}

/// The day a yearly habit on `month`-`day` falls on in `year`: Feb 29 is Feb 28 in common years.
fn yearly_date(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day).or_else(|| {
        (month == 2 && day == 29)
            .then(|| NaiveDate::from_ymd_opt(year, 2, 28))
            .flatten()
    })
}

fn first_of_month(date: NaiveDate) -> Option<NaiveDate> {
    date.with_day(1)
}

/// The stretch of calendar a habit lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    /// The local date the habit was archived on, if it is.
    pub archived_on: Option<NaiveDate>,
}

impl Span {
    /// The last day that can be scheduled: the earlier of `ends_on` and the day before archiving.
    pub fn effective_end(&self) -> Option<NaiveDate> {
        let before_archive = self.archived_on.and_then(|day| day.pred_opt());
        match (self.ends_on, before_archive) {
            (Some(end), Some(archived)) => Some(end.min(archived)),
            (end, archived) => end.or(archived),
        }
    }
}

/// A habit as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub schedule: Schedule,
    pub span: Span,
}

impl Plan {
    /// The one rule: inside [starts_on, effective end] and on the schedule's pattern.
    pub fn is_scheduled(&self, date: NaiveDate) -> bool {
        date >= self.span.starts_on
            && self.span.effective_end().is_none_or(|end| date <= end)
            && self.schedule.falls_on(date, self.span.starts_on)
    }

    /// The first and last day from `from` to `to` the habit's span allows, if any.
    fn clamp(&self, from: NaiveDate, to: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
        let first = from.max(self.span.starts_on);
        let last = self.span.effective_end().map_or(to, |end| end.min(to));
        (first <= last).then_some((first, last))
    }

    /// The first scheduled date on or after `date`.
    fn scheduled_on_or_after(&self, date: NaiveDate) -> Option<NaiveDate> {
        let day = self
            .schedule
            .next_on_or_after(date.max(self.span.starts_on), self.span.starts_on)?;
        self.span
            .effective_end()
            .is_none_or(|end| day <= end)
            .then_some(day)
    }

    /// The latest scheduled date on or before `date`.
    fn scheduled_on_or_before(&self, date: NaiveDate) -> Option<NaiveDate> {
        let last = self.span.effective_end().map_or(date, |end| end.min(date));
        let day = self.schedule.last_on_or_before(last, self.span.starts_on)?;
        (day >= self.span.starts_on).then_some(day)
    }

    /// Scheduled dates from `from` to `to`, both included, in order, one step per occurrence.
    pub fn scheduled_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Iterator<Item = NaiveDate> + '_ {
        let first = self.scheduled_on_or_after(from);
        std::iter::successors(first, |day| {
            day.succ_opt()
                .and_then(|next| self.scheduled_on_or_after(next))
        })
        .take_while(move |day| *day <= to)
    }

    /// How many dates from `from` to `to` are scheduled, in constant time.
    pub fn scheduled_count(&self, from: NaiveDate, to: NaiveDate) -> u64 {
        self.clamp(from, to).map_or(0, |(first, last)| {
            self.schedule
                .count_between(first, last, self.span.starts_on)
        })
    }

    /// Consecutive completed scheduled dates, walking back from the latest scheduled date not
    /// after `today`. Today, if scheduled and not yet done, is passed over: it is not lost until
    /// it is over. Skipped days are passed over too: they neither break nor extend the streak.
    /// Completions on unscheduled dates neither count nor break. Each step is a completion or a
    /// skip, so the walk is as long as the streak and its skips, not as the habit's life.
    pub fn current_streak(&self, completed: &CompletedDays, today: NaiveDate) -> u32 {
        let before = |day: NaiveDate| {
            day.pred_opt()
                .and_then(|day| self.scheduled_on_or_before(day))
        };
        let mut cursor = self.scheduled_on_or_before(today);
        if cursor == Some(today) && !completed.contains(today) {
            cursor = before(today);
        }
        let mut streak = 0;
        while let Some(day) = cursor {
            if completed.contains(day) {
                streak += 1;
            } else if !completed.is_skipped(day) {
                break;
            }
            cursor = before(day);
        }
        streak
    }

    /// The longest run of consecutive completed scheduled dates up to `today`, read from the
    /// completions and skips alone: two completed occurrences are in one run when only skipped
    /// occurrences lie between them.
    pub fn longest_streak(&self, completed: &CompletedDays, today: NaiveDate) -> u32 {
        let Some((first, last)) = self.clamp(self.span.starts_on, today) else {
            return 0;
        };
        let (mut longest, mut run) = (0, 0);
        let mut previous: Option<NaiveDate> = None;
        for &day in completed.between(first, last) {
            if !self.is_scheduled(day) {
                continue;
            }
            let follows =
                previous.and_then(|before| self.next_unskipped(before, completed)) == Some(day);
            run = if follows { run + 1 } else { 1 };
            longest = longest.max(run);
            previous = Some(day);
        }
        longest
    }

    /// The strength score at the end of each day from `from` to `to` (not after `today`),
    /// from 0 to 1: Loop's exponential average over the scheduled occurrences since
    /// `startsOn`, each `score = score·m + v·(1 − m)` with `v` 1 for a done day, 0 for a
    /// missed one, and the share of its target a measurable day short of it reached
    /// ([`score_multiplier`]). Skipped days leave it as it is (frozen), and so does today
    /// until it is done, as with streaks. The walk is one step per occurrence since the start.
    pub fn score_history(
        &self,
        completed: &CompletedDays,
        (from, to): (NaiveDate, NaiveDate),
        today: NaiveDate,
    ) -> Vec<(NaiveDate, f64)> {
        let multiplier = score_multiplier(self.schedule.frequency());
        let last = to.min(today);
        let mut occurrences = self.scheduled_between(self.span.starts_on, last).peekable();
        let mut score = 0.0;
        let mut history = Vec::new();
        let mut apply_through = |day: NaiveDate, score: &mut f64| {
            while let Some(occurrence) = occurrences.next_if(|occurrence| *occurrence <= day) {
                let value = match completed.mark(occurrence) {
                    DayMark::Done => 1.0,
                    DayMark::Skipped => continue,
                    DayMark::Open if occurrence == today => continue,
                    DayMark::Open => f64::from(completed.credit(occurrence)) / 1000.0,
                };
                *score = *score * multiplier + value * (1.0 - multiplier);
            }
        };
        if let Some(before) = from.pred_opt() {
            apply_through(before, &mut score);
        }
        let mut day = from;
        while day <= last {
            apply_through(day, &mut score);
            history.push((day, score));
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        history
    }

    /// The strength score at the end of `today` ([`Plan::score_history`]).
    pub fn score(&self, completed: &CompletedDays, today: NaiveDate) -> f64 {
        self.score_history(completed, (today, today), today)
            .last()
            .map_or(0.0, |(_, score)| *score)
    }

    /// The first scheduled date after `day` that is not skipped.
    fn next_unskipped(&self, day: NaiveDate, completed: &CompletedDays) -> Option<NaiveDate> {
        let mut next = self.scheduled_on_or_after(day.succ_opt()?)?;
        while completed.is_skipped(next) {
            next = self.scheduled_on_or_after(next.succ_opt()?)?;
        }
        Some(next)
    }

    /// Completed and scheduled occurrences from `from` to `to`, neither after `today`, and the
    /// credit of the days short of a measurable target. Today counts only once done, like the
    /// streak; skipped occurrences are not counted at all. Counted, not walked: the cost is the
    /// completions and skips in the range.
    pub fn occurrences(
        &self,
        completed: &CompletedDays,
        from: NaiveDate,
        to: NaiveDate,
        today: NaiveDate,
    ) -> Tally {
        let Some((first, last)) = self.clamp(from, to.min(today)) else {
            return Tally::default();
        };
        let done = completed
            .between(first, last)
            .iter()
            .filter(|day| self.is_scheduled(**day))
            .count();
        let skipped = completed
            .skipped_between(first, last)
            .iter()
            .filter(|day| self.is_scheduled(**day))
            .count();
        let today_pending =
            last == today && self.is_scheduled(today) && completed.mark(today) == DayMark::Open;
        let partial = completed
            .partial_between(first, last)
            .iter()
            .filter(|(day, _)| self.is_scheduled(*day) && !(today_pending && *day == today))
            .map(|(_, credit)| *credit)
            .sum();
        let scheduled = self
            .schedule
            .count_between(first, last, self.span.starts_on)
            .saturating_sub(skipped as u64 + u64::from(today_pending));
        Tally {
            completed: u32::try_from(done).unwrap_or(u32::MAX),
            scheduled: u32::try_from(scheduled).unwrap_or(u32::MAX),
            partial,
        }
    }
}

/// A score from 0 to 1 as a percentage with one decimal.
pub fn score_percent(score: f64) -> f64 {
    (score.clamp(0.0, 1.0) * 1000.0).round() / 10.0
}

/// How much one occurrence moves the strength score: Loop Habit Tracker's daily multiplier
/// `0.5^(sqrt(f)/13)` for a habit done `f` times a day, taken once per occurrence (every
/// `1/f` days), so the score halves in `13/sqrt(f)` days without a check-in: 13 days for a
/// daily habit, 34 for a weekly one. Per occurrence that is `0.5^(1/(13·sqrt(f)))`.
pub fn score_multiplier(frequency: f64) -> f64 {
    0.5_f64.powf(1.0 / (13.0 * frequency.max(1.0 / 366.0).sqrt()))
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub completed: u32,
    pub scheduled: u32,
    /// The credit of the occurrences short of a measurable target, in thousandths of a day.
    pub partial: Credit,
}

impl Tally {
    /// Completed (with the partial credit) ÷ scheduled as a percentage, one decimal, half-up;
    /// 0 when nothing was scheduled.
    pub fn percent(&self) -> f64 {
        let whole = u64::from(FULL_CREDIT);
        percent(
            u64::from(self.completed) * whole + u64::from(self.partial),
            u64::from(self.scheduled) * whole,
        )
    }

    /// Adds another tally's counts to this one.
    pub fn add(&mut self, other: Tally) {
        self.completed += other.completed;
        self.scheduled += other.scheduled;
        self.partial += other.partial;
    }
}

/// `part ÷ whole` as a percentage rounded half-up to one decimal, in integers so 0.05 steps
/// never round the wrong way through floating point.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    let tenths = (part * 2000 + whole) / (2 * whole);
    tenths as f64 / 10.0
}

/// `endsOn`, if set, is on or after `startsOn`.
pub fn check_span(starts_on: NaiveDate, ends_on: Option<NaiveDate>) -> Result<(), AppError> {
    match ends_on {
        Some(end) if end < starts_on => Err(AppError::bad_input(
            "endsOn",
            "endsOn must be on or after startsOn",
        )),
        _ => Ok(()),
    }
}

/// A habit archived because its end passed comes back when the end moves to today or later,
/// or goes away; one archived by hand stays archived.
pub fn revived_by_new_end(
    auto_archived: bool,
    ends_on: Option<NaiveDate>,
    today: NaiveDate,
) -> bool {
    auto_archived && ends_on.is_none_or(|end| end >= today)
}

/// Why a habit cannot be unarchived, if it cannot: it would only be archived again.
pub fn check_unarchive(ends_on: Option<NaiveDate>, today: NaiveDate) -> Result<(), AppError> {
    match ends_on {
        Some(end) if end < today => Err(AppError::bad_input(
            "endsOn",
            format!("The habit ended on {end}; move endsOn to today or later first"),
        )),
        _ => Ok(()),
    }
}

/// Why a day's completion cannot be recorded or taken back, if it cannot: archived habits are
/// closed and the future has not happened.
pub fn check_changeable_day(
    archived: bool,
    date: NaiveDate,
    today: NaiveDate,
) -> Result<(), AppError> {
    if archived {
        return Err(AppError::bad_input(
            "habitId",
            "Archived habits cannot be changed",
        ));
    }
    if date > today {
        return Err(AppError::bad_input(
            "date",
            "Dates in the future cannot be completed",
        ));
    }
    Ok(())
}

/// Why a completion is refused, if it is: besides a changeable day, the day must be scheduled.
pub fn check_completion(
    plan: &Plan,
    archived: bool,
    date: NaiveDate,
    today: NaiveDate,
) -> Result<(), AppError> {
    check_changeable_day(archived, date, today)?;
    if !plan.is_scheduled(date) {
        return Err(AppError::bad_input(
            "date",
            "The habit is not scheduled on that date",
        ));
    }
    Ok(())
}

/// How far ahead a day may be skipped (a trip planned months before).
pub const MAX_SKIP_AHEAD_DAYS: u64 = 366;
/// The longest note on a day.
pub const MAX_NOTE_CHARS: usize = 1000;

/// Why a skip is refused, if it is: the habit is not archived, the day is scheduled, and it is
/// at most [`MAX_SKIP_AHEAD_DAYS`] ahead (unlike a completion, a skip may be planned).
pub fn check_skip(
    plan: &Plan,
    archived: bool,
    date: NaiveDate,
    today: NaiveDate,
) -> Result<(), AppError> {
    check_changeable_day(archived, date, skip_horizon(today))?;
    if !plan.is_scheduled(date) {
        return Err(AppError::bad_input(
            "date",
            "The habit is not scheduled on that date",
        ));
    }
    Ok(())
}

/// The last day a skip may be planned for.
pub fn skip_horizon(today: NaiveDate) -> NaiveDate {
    today
        .checked_add_days(Days::new(MAX_SKIP_AHEAD_DAYS))
        .unwrap_or(today)
}

/// The first and last day of `date`'s calendar month.
pub fn month_of(date: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = date.with_day(1).unwrap_or(date);
    let last = first
        .checked_add_months(Months::new(1))
        .and_then(|next| next.pred_opt())
        .unwrap_or(date);
    (first, last)
}

/// At most [`MAX_NOTE_CHARS`] characters, trimmed; line breaks allowed.
pub fn note(raw: &str) -> Result<String, AppError> {
    text::paragraphs("note", raw, MAX_NOTE_CHARS)
}

/// The longest unit of a measurable habit.
pub const MAX_UNIT_CHARS: usize = 20;
/// The largest target or value: far beyond anything counted in a day, and exact in a double.
pub const MAX_VALUE: f64 = 1e9;

/// A measurable habit's unit (trimmed, at most [`MAX_UNIT_CHARS`]) and target: above 0 for
/// `AT_LEAST` (a floor of 0 is met by nothing at all), from 0 for `AT_MOST`, at most
/// [`MAX_VALUE`].
pub fn measure(unit: &str, target: f64, direction: TargetDirection) -> Result<Measure, AppError> {
    let unit = text::term("measure.unit", unit, MAX_UNIT_CHARS)?;
    let floor_met_by_nothing = direction == TargetDirection::AtLeast && target == 0.0;
    if !(0.0..=MAX_VALUE).contains(&target) || floor_met_by_nothing {
        return Err(AppError::bad_input(
            "measure.target",
            format!(
                "From {} to {MAX_VALUE}",
                if direction == TargetDirection::AtLeast {
                    "above 0"
                } else {
                    "0"
                }
            ),
        ));
    }
    Ok(Measure {
        unit,
        target,
        direction,
    })
}

/// A day's value: from 0 to [`MAX_VALUE`].
pub fn value(value: f64) -> Result<f64, AppError> {
    if (0.0..=MAX_VALUE).contains(&value) {
        Ok(value)
    } else {
        Err(AppError::bad_input(
            "value",
            format!("From 0 to {MAX_VALUE}"),
        ))
    }
}

/// A monthly skip cap: 0 to 31 days.
pub fn skips_per_month(cap: i32) -> Result<i32, AppError> {
    if (0..=31).contains(&cap) {
        Ok(cap)
    } else {
        Err(AppError::bad_input(
            "skipsPerMonth",
            "From 0 to 31 days a month",
        ))
    }
}

/// 1–100 characters after trimming.
pub fn name(raw: &str) -> Result<String, AppError> {
    text::line("name", raw, MAX_NAME_CHARS)
}

/// At most 1000 characters; line breaks allowed.
pub fn description(raw: &str) -> Result<String, AppError> {
    text::paragraphs("description", raw, MAX_DESCRIPTION_CHARS)
}

/// The days `Habit.completions` lists: `to` defaults to today and `from` to 30 days before
/// `to`; `from` on or before `to`, fewer than [`MAX_COMPLETIONS_RANGE_DAYS`] days apart.
pub fn completions_range(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), AppError> {
    let to = to.unwrap_or(today);
    let from = from.unwrap_or_else(|| to.checked_sub_days(Days::new(30)).unwrap_or(to));
    if from > to || (to - from).num_days() >= MAX_COMPLETIONS_RANGE_DAYS {
        return Err(AppError::bad_input(
            "from",
            format!(
                "from must be on or before to, at most {MAX_COMPLETIONS_RANGE_DAYS} days apart"
            ),
        ));
    }
    Ok((from, to))
}

/// Whether a habit is in `status` today. The store already narrowed archived and active
/// habits; `today_mark` is what the list read.
pub fn in_status(
    status: Option<HabitStatus>,
    plan: &Plan,
    today: NaiveDate,
    today_mark: Option<DayMark>,
) -> bool {
    match status {
        Some(HabitStatus::DueToday) => {
            plan.is_scheduled(today) && today_mark == Some(DayMark::Open)
        }
        Some(HabitStatus::CompletedToday) => today_mark == Some(DayMark::Done),
        Some(HabitStatus::Active | HabitStatus::Archived) | None => true,
    }
}

/// A habit's place in a list. Sorts ascending in every order: a streak is stored negated so
/// longer comes first, and the id breaks ties.
pub type SortKey = (i64, String, i64);

/// The sort key of a habit in `order`; `streak` counts only when ordering by streak.
pub fn sort_key(order: HabitsOrderBy, name: &str, id: i64, streak: u32) -> SortKey {
    match order {
        HabitsOrderBy::CreatedAt => (0, String::new(), id),
        HabitsOrderBy::Name => (0, name.to_lowercase(), id),
        HabitsOrderBy::Streak => (-i64::from(streak), String::new(), id),
    }
}

/// Sorts keyed habits and keeps up to `limit` of those after `after`, with how many there are
/// in all.
pub fn page<T>(
    mut keyed: Vec<(SortKey, T)>,
    after: Option<&SortKey>,
    limit: usize,
) -> (Vec<(SortKey, T)>, i64) {
    keyed.sort_by(|(left, _), (right, _)| left.cmp(right));
    let total = keyed.len() as i64;
    if let Some(after) = after {
        keyed.retain(|(key, _)| key > after);
    }
    keyed.truncate(limit);
    (keyed, total)
}

fn days_in_month(year: i32, month: u32) -> Option<u32> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = first.checked_add_months(Months::new(1))?;
    u32::try_from((next - first).num_days()).ok()
}

/// The day after `date`, for archiving a habit the day after it ends.
pub fn day_after(date: NaiveDate) -> NaiveDate {
    date.checked_add_days(Days::new(1)).unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_range_defaults_and_bounds() {
        let today = d("2026-03-31");
        assert_eq!(
            completions_range(None, None, today).unwrap(),
            (d("2026-03-01"), today)
        );
        let to = d("2026-02-10");
        assert_eq!(
            completions_range(None, Some(to), today).unwrap(),
            (d("2026-01-11"), to)
        );
        assert!(completions_range(Some(d("2026-02-11")), Some(to), today).is_err());
        assert!(completions_range(Some(d("2025-02-09")), Some(to), today).is_err());
        assert!(completions_range(Some(d("2025-02-10")), Some(to), today).is_ok());
    }

    fn marked(done: &[&str], skipped: &[&str]) -> CompletedDays {
        let dates = |list: &[&str]| list.iter().map(|day| d(day)).collect();
        CompletedDays::new(dates(done)).with_skipped(dates(skipped))
    }

    #[test]
    fn skips_neither_break_nor_extend_streaks_and_leave_rates() {
        let daily = plan(Schedule::Daily, "2026-01-01");
        let today = d("2026-01-10");
        let done = ["2026-01-05", "2026-01-06", "2026-01-09"];
        let sick = marked(&done, &["2026-01-07", "2026-01-08"]);
        assert_eq!(daily.current_streak(&sick, today), 3);
        assert_eq!(daily.longest_streak(&sick, today), 3);
        // The same days without the skips: the run breaks.
        let lapsed = marked(&done, &[]);
        assert_eq!(daily.current_streak(&lapsed, today), 1);
        assert_eq!(daily.longest_streak(&lapsed, today), 2);
        // Nine days up to yesterday, two skipped: seven counted, three done.
        let tally = daily.occurrences(&sick, d("2026-01-01"), today, today);
        assert_eq!(
            tally,
            Tally {
                completed: 3,
                scheduled: 7,
                partial: 0,
            }
        );
        // Today skipped as well: not pending, not counted, the streak unchanged.
        let resting = marked(&done, &["2026-01-07", "2026-01-08", "2026-01-10"]);
        assert_eq!(daily.current_streak(&resting, today), 3);
        let tally = daily.occurrences(&resting, d("2026-01-01"), today, today);
        assert_eq!(
            tally,
            Tally {
                completed: 3,
                scheduled: 7,
                partial: 0,
            }
        );
        // A skip on a day the habit is not scheduled changes nothing.
        let mondays = plan(Schedule::weekly(&[Weekday::Mon]).unwrap(), "2026-01-05");
        let odd = marked(&["2026-01-05", "2026-01-12"], &["2026-01-13"]);
        let monday = d("2026-01-19");
        assert_eq!(
            mondays.occurrences(&odd, d("2026-01-05"), monday, monday),
            Tally {
                completed: 2,
                scheduled: 2,
                partial: 0,
            }
        );
        // A skipped run at the start of a streak: the streak is only the done days.
        let started = marked(&["2026-01-09"], &["2026-01-01", "2026-01-02"]);
        assert_eq!(daily.current_streak(&started, today), 1);
    }

    #[test]
    fn the_score_is_loops_exponential_average_per_occurrence() {
        let daily = plan(Schedule::Daily, "2026-01-01");
        let m = 0.5_f64.powf(1.0 / 13.0);
        assert!((score_multiplier(1.0) - m).abs() < 1e-12);
        // One done day: 1 − m ≈ 0.0519.
        let one = marked(&["2026-01-01"], &[]);
        assert!((daily.score(&one, d("2026-01-01")) - (1.0 - m)).abs() < 1e-12);
        assert!((daily.score(&one, d("2026-01-01")) - 0.051_922).abs() < 1e-6);
        // Thirteen done days in a row: exactly half.
        let thirteen: Vec<String> = (1..=13).map(|day| format!("2026-01-{day:02}")).collect();
        let names: Vec<&str> = thirteen.iter().map(String::as_str).collect();
        let run = marked(&names, &[]);
        assert!((daily.score(&run, d("2026-01-13")) - 0.5).abs() < 1e-12);
        // Today not yet done leaves it; a missed day (yesterday) lowers it by m.
        assert!((daily.score(&run, d("2026-01-14")) - 0.5).abs() < 1e-12);
        assert!((daily.score(&run, d("2026-01-15")) - 0.5 * m).abs() < 1e-12);
        // A skipped day freezes it.
        let resting = marked(&names, &["2026-01-14", "2026-01-15"]);
        assert!((daily.score(&resting, d("2026-01-16")) - 0.5).abs() < 1e-12);
        // A weekly habit moves more per occurrence: its half-life is 13·sqrt(7) ≈ 34 days.
        let weekly = score_multiplier(1.0 / 7.0);
        assert!((weekly.powf(34.4 / 7.0) - 0.5).abs() < 0.01);
        // The history has a point per day, none after today.
        let history =
            daily.score_history(&run, (d("2026-01-12"), d("2026-01-20")), d("2026-01-14"));
        assert_eq!(history.len(), 3);
        assert_eq!(history[0].0, d("2026-01-12"));
        assert!((history[1].1 - 0.5).abs() < 1e-12);
    }

    mod score_properties {
        use proptest::prelude::*;

        use super::*;

        fn plan_of(kind: u8, days: u32) -> Plan {
            let schedule = match kind % 4 {
                0 => Schedule::Daily,
                1 => Schedule::weekly(&[Weekday::Mon, Weekday::Thu]).unwrap(),
                2 => Schedule::Monthly(days % 28 + 1),
                _ => Schedule::Interval {
                    active: days % 3 + 1,
                    pause: days % 4,
                },
            };
            plan(schedule, "2026-01-01")
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Whatever was done and skipped: the score stays within 0 and 1, and marking one
            /// more missed occurrence done never lowers it.
            #[test]
            fn scores_are_bounded_and_rise_with_each_completion(
                kind in 0u8..4,
                days in 0u32..100,
                marks in prop::collection::vec(0u8..3, 200),
                extra in 0usize..200,
            ) {
                let plan = plan_of(kind, days);
                let start = d("2026-01-01");
                let day = |i: usize| start + chrono::Days::new(i as u64);
                let today = day(199);
                let pick = |mark: u8| -> Vec<NaiveDate> {
                    (0..200).filter(|i| marks[*i] == mark).map(day).collect()
                };
                let done = pick(1);
                let skipped = pick(2);
                let before = CompletedDays::new(done.clone()).with_skipped(skipped.clone());
                let score = plan.score(&before, today);
                prop_assert!((0.0..=1.0).contains(&score));
                if marks[extra] == 0 {
                    let mut more = done.clone();
                    more.push(day(extra));
                    let after = CompletedDays::new(more).with_skipped(skipped);
                    prop_assert!(plan.score(&after, today) >= score - 1e-12);
                }
            }
        }
    }

    #[test]
    fn status_filters_ask_today() {
        let daily = plan(Schedule::Daily, "2026-01-01");
        let today = d("2026-01-10");
        use DayMark::{Done, Open, Skipped};
        use HabitStatus::*;
        assert!(in_status(Some(DueToday), &daily, today, Some(Open)));
        assert!(!in_status(Some(DueToday), &daily, today, Some(Done)));
        assert!(!in_status(Some(DueToday), &daily, today, Some(Skipped)));
        assert!(in_status(Some(CompletedToday), &daily, today, Some(Done)));
        assert!(!in_status(Some(CompletedToday), &daily, today, Some(Open)));
        assert!(!in_status(
            Some(CompletedToday),
            &daily,
            today,
            Some(Skipped)
        ));
        assert!(in_status(Some(Active), &daily, today, None));
        assert!(in_status(None, &daily, today, None));
        let mondays = plan(Schedule::weekly(&[Weekday::Mon]).unwrap(), "2026-01-01");
        assert!(!in_status(
            Some(DueToday),
            &mondays,
            d("2026-01-10"),
            Some(Open)
        ));
    }

    #[test]
    fn pages_follow_the_order_and_the_cursor() {
        let keyed = vec![
            (sort_key(HabitsOrderBy::Name, "beta", 1, 0), 'b'),
            (sort_key(HabitsOrderBy::Name, "Alpha", 2, 0), 'a'),
            (sort_key(HabitsOrderBy::Name, "gamma", 3, 0), 'g'),
        ];
        let (first, total) = page(keyed.clone(), None, 2);
        assert_eq!(total, 3);
        assert_eq!(first.iter().map(|(_, c)| *c).collect::<String>(), "ab");
        let (rest, total) = page(keyed, Some(&first[1].0), 2);
        assert_eq!(total, 3);
        assert_eq!(rest.iter().map(|(_, c)| *c).collect::<String>(), "g");
        assert!(
            sort_key(HabitsOrderBy::Streak, "", 9, 5) < sort_key(HabitsOrderBy::Streak, "", 1, 2)
        );
        assert_eq!(
            sort_key(HabitsOrderBy::CreatedAt, "x", 4, 7),
            (0, String::new(), 4)
        );
    }

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn plan(schedule: Schedule, starts_on: &str) -> Plan {
        Plan {
            schedule,
            span: Span {
                starts_on: d(starts_on),
                ends_on: None,
                archived_on: None,
            },
        }
    }

    fn done(days: &[&str]) -> CompletedDays {
        CompletedDays::new(days.iter().map(|day| d(day)).collect())
    }

    #[test]
    fn weekly_monday_is_not_due_on_a_saturday() {
        let monday = plan(Schedule::weekly(&[Weekday::Mon]).unwrap(), "2026-01-01");
        assert_eq!(d("2026-01-10").weekday(), Weekday::Sat);
        assert!(!monday.is_scheduled(d("2026-01-10")));
        assert!(check_completion(&monday, false, d("2026-01-10"), d("2026-01-10")).is_err());
        assert!(monday.is_scheduled(d("2026-01-12")));
    }

    #[test]
    fn what_falls_on_saturday_2026_02_28() {
        let day = d("2026-02-28");
        let due = |schedule: Schedule| plan(schedule, "2026-01-01").is_scheduled(day);
        assert!(due(Schedule::weekly(&[Weekday::Sat]).unwrap()));
        assert!(
            due(Schedule::monthly(31).unwrap()),
            "31 falls on the last day of February"
        );
        assert!(
            due(Schedule::yearly(2, 29).unwrap()),
            "Feb 29 falls on Feb 28 in a common year"
        );
        assert!(!due(Schedule::weekly(&[Weekday::Mon]).unwrap()));
        assert!(!due(Schedule::monthly(27).unwrap()));
        assert!(!due(Schedule::yearly(3, 1).unwrap()));
    }

    #[test]
    fn monthly_and_yearly_edges() {
        let monthly_31 = plan(Schedule::monthly(31).unwrap(), "2024-01-01");
        assert!(
            monthly_31.is_scheduled(d("2024-02-29")),
            "leap February ends on the 29th"
        );
        assert!(!monthly_31.is_scheduled(d("2024-02-28")));
        assert!(monthly_31.is_scheduled(d("2024-04-30")));
        assert!(
            monthly_31.is_scheduled(d("2024-05-31")) && !monthly_31.is_scheduled(d("2024-05-30"))
        );
        let leap_day = plan(Schedule::yearly(2, 29).unwrap(), "2024-01-01");
        assert!(leap_day.is_scheduled(d("2024-02-29")) && !leap_day.is_scheduled(d("2024-02-28")));
        assert!(leap_day.is_scheduled(d("2025-02-28")));
        assert!(
            Schedule::yearly(4, 31).is_err()
                && Schedule::yearly(13, 1).is_err()
                && Schedule::yearly(0, 1).is_err()
        );
        assert!(Schedule::monthly(0).is_err() && Schedule::monthly(32).is_err());
        assert!(Schedule::weekly(&[]).is_err());
        assert!(Schedule::weekly(&[Weekday::Mon; 7]).is_ok());
        assert!(Schedule::weekly(&[Weekday::Mon; 8]).is_err());
        assert_eq!(
            Schedule::weekly(&[Weekday::Fri, Weekday::Mon, Weekday::Fri]).unwrap(),
            Schedule::Weekly(vec![Weekday::Mon, Weekday::Fri])
        );
        assert!(
            Schedule::interval(0, 1).is_err()
                && Schedule::interval(1, 0).is_err()
                && Schedule::interval(1, 366).is_err()
        );
    }

    #[test]
    fn interval_two_on_two_off_is_a_grid_from_the_first_day() {
        let grid = plan(Schedule::interval(2, 2).unwrap(), "2026-01-01");
        for on in [
            "2026-01-01",
            "2026-01-02",
            "2026-01-05",
            "2026-01-06",
            "2026-01-09",
        ] {
            assert!(grid.is_scheduled(d(on)), "{on}");
        }
        for off in ["2026-01-03", "2026-01-04", "2026-01-07", "2025-12-31"] {
            assert!(!grid.is_scheduled(d(off)), "{off}");
        }
    }

    #[test]
    fn daily_streak_and_rate_with_gaps() {
        let daily = plan(Schedule::Daily, "2026-01-01");
        let completed = done(&["2026-01-01", "2026-01-03", "2026-01-07"]);
        let today = d("2026-01-07");
        assert_eq!(daily.current_streak(&completed, today), 1);
        let week = daily.occurrences(&completed, d("2026-01-01"), today, today);
        assert_eq!(
            week,
            Tally {
                completed: 3,
                scheduled: 7,
                partial: 0,
            }
        );
        assert_eq!(week.percent(), 42.9);
        assert_eq!(daily.longest_streak(&completed, today), 1);
    }

    #[test]
    fn completed_days_answer_membership_and_ranges_in_any_input_order() {
        let days = done(&["2026-01-05", "2026-01-01", "2026-01-03", "2026-01-03"]);
        assert_eq!(days, done(&["2026-01-01", "2026-01-03", "2026-01-05"]));
        assert!(days.contains(d("2026-01-03")));
        assert!(!days.contains(d("2026-01-04")));
        assert!(!CompletedDays::default().contains(d("2026-01-03")));
        assert_eq!(
            days.between(d("2026-01-02"), d("2026-01-05")),
            [d("2026-01-03"), d("2026-01-05")]
        );
        assert_eq!(
            days.between(d("2026-01-01"), d("2026-01-01")),
            [d("2026-01-01")]
        );
        assert!(days.between(d("2026-01-06"), d("2026-02-01")).is_empty());
        assert!(days.between(d("2026-01-05"), d("2026-01-01")).is_empty());
    }

    #[test]
    fn today_is_not_lost_until_it_is_over() {
        let daily = plan(Schedule::Daily, "2026-01-01");
        let completed = done(&["2026-01-03", "2026-01-04", "2026-01-05"]);
        assert_eq!(daily.current_streak(&completed, d("2026-01-06")), 3);
        assert_eq!(
            daily.current_streak(&completed, d("2026-01-07")),
            0,
            "yesterday was missed"
        );
        let with_today = done(&["2026-01-03", "2026-01-04", "2026-01-05", "2026-01-06"]);
        assert_eq!(daily.current_streak(&with_today, d("2026-01-06")), 4);
        assert_eq!(daily.longest_streak(&with_today, d("2026-01-06")), 4);
        assert_eq!(
            daily.occurrences(
                &completed,
                d("2026-01-01"),
                d("2026-01-06"),
                d("2026-01-06")
            ),
            Tally {
                completed: 3,
                scheduled: 5,
                partial: 0,
            }
        );
    }

    #[test]
    fn unscheduled_completions_neither_count_nor_break() {
        let mondays = plan(Schedule::weekly(&[Weekday::Mon]).unwrap(), "2026-01-01");
        // Mondays 01-05 and 01-12 done, plus a stray Wednesday.
        let completed = done(&["2026-01-05", "2026-01-07", "2026-01-12"]);
        assert_eq!(mondays.current_streak(&completed, d("2026-01-14")), 2);
        assert_eq!(
            mondays.occurrences(
                &completed,
                d("2026-01-01"),
                d("2026-01-14"),
                d("2026-01-14")
            ),
            Tally {
                completed: 2,
                scheduled: 2,
                partial: 0,
            }
        );
    }

    #[test]
    fn the_span_bounds_every_schedule() {
        let mut ending = plan(Schedule::Daily, "2026-01-01");
        ending.span.ends_on = Some(d("2026-01-05"));
        assert!(ending.is_scheduled(d("2026-01-05")) && !ending.is_scheduled(d("2026-01-06")));
        ending.span.archived_on = Some(d("2026-01-04"));
        assert_eq!(ending.span.effective_end(), Some(d("2026-01-03")));
        assert!(!ending.is_scheduled(d("2026-01-04")));
        assert_eq!(
            ending
                .scheduled_between(d("2025-12-01"), d("2026-02-01"))
                .count(),
            3
        );
        assert!(
            !ending.is_scheduled(d("2025-12-31")),
            "nothing before the first day"
        );
        let completed = done(&["2026-01-01", "2026-01-02", "2026-01-03"]);
        assert_eq!(
            ending.current_streak(&completed, d("2026-03-01")),
            3,
            "a finished habit keeps its streak"
        );
        assert!(check_completion(&ending, true, d("2026-01-02"), d("2026-01-10")).is_err());
        assert!(
            check_completion(&ending, false, d("2026-01-09"), d("2026-01-08")).is_err(),
            "future"
        );
    }

    #[test]
    fn percentages_round_half_up_to_one_decimal() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(1, 8), 12.5);
        assert_eq!(percent(1, 16), 6.3, "6.25 rounds up");
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(percent(5, 5), 100.0);
    }

    #[test]
    fn schedules_survive_storage() {
        let schedules = [
            Schedule::Daily,
            Schedule::weekly(&[Weekday::Sun, Weekday::Mon, Weekday::Mon]).unwrap(),
            Schedule::monthly(31).unwrap(),
            Schedule::yearly(2, 29).unwrap(),
            Schedule::interval(2, 3).unwrap(),
        ];
        for schedule in schedules {
            let stored = schedule.parameters();
            assert_eq!(
                Schedule::from_stored(schedule.kind(), &stored),
                Some(schedule.clone())
            );
        }
        assert_eq!(
            Schedule::weekly(&[Weekday::Sun, Weekday::Mon])
                .unwrap()
                .parameters(),
            json!({"days": [0, 6]})
        );
        assert_eq!(Schedule::from_stored("WEEKLY", &json!({"days": []})), None);
        assert_eq!(Schedule::from_stored("WEEKLY", &json!({"days": [7]})), None);
        assert_eq!(Schedule::from_stored("MONTHLY", &json!({"day": 32})), None);
        assert_eq!(Schedule::from_stored("HOURLY", &json!({})), None);
    }

    /// Schedules and anchors with their edges: leap days, month ends, long cycles.
    fn varied_plans() -> Vec<Plan> {
        let schedules = [
            Schedule::Daily,
            Schedule::weekly(&[Weekday::Mon]).unwrap(),
            Schedule::weekly(&[Weekday::Tue, Weekday::Sat, Weekday::Sun]).unwrap(),
            Schedule::monthly(1).unwrap(),
            Schedule::monthly(30).unwrap(),
            Schedule::monthly(31).unwrap(),
            Schedule::yearly(2, 29).unwrap(),
            Schedule::yearly(12, 31).unwrap(),
            Schedule::interval(1, 1).unwrap(),
            Schedule::interval(3, 4).unwrap(),
            Schedule::interval(365, 365).unwrap(),
        ];
        let mut plans = Vec::new();
        for schedule in schedules {
            for (starts_on, ends_on) in [("2023-02-27", None), ("2024-02-29", Some("2026-08-31"))] {
                plans.push(Plan {
                    schedule: schedule.clone(),
                    span: Span {
                        starts_on: d(starts_on),
                        ends_on: ends_on.map(d),
                        archived_on: None,
                    },
                });
            }
        }
        plans
    }

    /// Every `step`-th day from `from` to `to`.
    fn days(from: &str, to: &str, step: usize) -> Vec<NaiveDate> {
        d(from)
            .iter_days()
            .take_while(|day| *day <= d(to))
            .step_by(step)
            .collect()
    }

    #[test]
    fn computed_counts_and_neighbours_agree_with_walking_the_calendar() {
        for plan in varied_plans() {
            // Far enough past the last `from` that every next occurrence is in it.
            let walked: Vec<NaiveDate> = days("2022-12-01", "2029-12-31", 1)
                .into_iter()
                .filter(|day| plan.is_scheduled(*day))
                .collect();
            assert_eq!(
                plan.scheduled_between(d("2022-12-01"), d("2029-12-31"))
                    .collect::<Vec<_>>(),
                walked,
                "{plan:?}"
            );
            for from in days("2022-12-01", "2027-03-31", 37) {
                for to in days("2022-11-20", "2027-03-31", 53) {
                    let expected = walked
                        .iter()
                        .filter(|day| (from..=to).contains(day))
                        .count();
                    assert_eq!(
                        plan.scheduled_count(from, to),
                        expected as u64,
                        "{plan:?} {from}..{to}"
                    );
                }
                let next = walked.iter().find(|day| **day >= from).copied();
                let last = walked.iter().rev().find(|day| **day <= from).copied();
                assert_eq!(plan.scheduled_on_or_after(from), next, "{plan:?} {from}");
                assert_eq!(plan.scheduled_on_or_before(from), last, "{plan:?} {from}");
            }
        }
    }

    /// The streaks and tallies as first written: walking every day of the habit's life.
    fn walked_streaks(plan: &Plan, done: &CompletedDays, today: NaiveDate) -> (u32, u32, Tally) {
        let scheduled: Vec<NaiveDate> = plan
            .span
            .starts_on
            .iter_days()
            .take_while(|day| *day <= today)
            .filter(|day| plan.is_scheduled(*day))
            .collect();
        let (mut longest, mut run) = (0, 0);
        let mut tally = Tally::default();
        for day in &scheduled {
            if done.contains(*day) {
                run += 1;
                longest = longest.max(run);
                tally.completed += 1;
                tally.scheduled += 1;
            } else if *day != today {
                run = 0;
                tally.scheduled += 1;
            }
        }
        let mut current = 0;
        for day in scheduled.iter().rev() {
            if done.contains(*day) {
                current += 1;
            } else if *day != today {
                break;
            }
        }
        (current, longest, tally)
    }

    #[test]
    fn streaks_and_rates_from_completions_match_walking_every_day() {
        let today = d("2026-05-20");
        for plan in varied_plans() {
            // Completions on and off the schedule, some runs long, some broken, one on today.
            for pattern in [1_usize, 2, 3, 7] {
                let done = CompletedDays::new(
                    days("2023-01-01", "2026-05-20", 1)
                        .into_iter()
                        .enumerate()
                        .filter(|(index, _)| index % (pattern * 11) < pattern * 9)
                        .map(|(_, day)| day)
                        .collect(),
                );
                let (current, longest, tally) = walked_streaks(&plan, &done, today);
                assert_eq!(plan.current_streak(&done, today), current, "{plan:?}");
                assert_eq!(plan.longest_streak(&done, today), longest, "{plan:?}");
                assert_eq!(
                    plan.occurrences(&done, plan.span.starts_on, today, today),
                    tally,
                    "{plan:?}"
                );
            }
        }
    }

    #[test]
    fn a_habit_from_1900_is_counted_without_walking_its_days() {
        let daily = plan(Schedule::Daily, "1900-01-01");
        let done = done(&["2026-03-09", "2026-03-10"]);
        let today = d("2026-03-10");
        assert_eq!(
            daily.occurrences(&done, daily.span.starts_on, today, today),
            Tally {
                completed: 2,
                scheduled: 46_090,
                partial: 0,
            }
        );
        assert_eq!(daily.current_streak(&done, today), 2);
        assert_eq!(daily.longest_streak(&done, today), 2);
    }

    #[test]
    fn spans_archiving_and_revival() {
        assert!(check_span(d("2026-01-02"), Some(d("2026-01-02"))).is_ok());
        assert!(check_span(d("2026-01-02"), None).is_ok());
        assert!(check_span(d("2026-01-02"), Some(d("2026-01-01"))).is_err());
        let today = d("2026-03-10");
        assert!(revived_by_new_end(true, None, today));
        assert!(revived_by_new_end(true, Some(today), today));
        assert!(!revived_by_new_end(true, Some(d("2026-03-09")), today));
        assert!(!revived_by_new_end(false, None, today));
        assert!(check_unarchive(Some(d("2026-03-09")), today).is_err());
        assert!(check_unarchive(Some(today), today).is_ok());
        assert!(check_unarchive(None, today).is_ok());
    }
}
