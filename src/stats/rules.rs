//! What the statistics count, as plain functions over plans and completions: the range and
//! its buckets, occurrences per bucket, today's numbers and the best streaks.

use std::collections::HashMap;

use chrono::{Datelike, Days, Months, NaiveDate};

use super::model::{BucketSize, HabitCounts, StatsRange, ThemeCount};
use crate::habits::model::CompletedDays;
use crate::habits::rules::{Plan, Tally, percent};

/// All time is in months up to this many, in years beyond, so its answer stays small however
/// far back the user's data goes (at most one bucket a year since [`crate::dates::EARLIEST`]).
pub const MAX_MONTH_BUCKETS: i32 = 120;

impl StatsRange {
    /// The first day of the range ending `today`; all time starts at `first_day` (the earliest
    /// day the user has data for), or today without any, and never before the date window
    /// (rows stored before the window was enforced may start earlier).
    pub fn first_day(self, today: NaiveDate, first_day: Option<NaiveDate>) -> NaiveDate {
        let back = |days: u64| today.checked_sub_days(Days::new(days)).unwrap_or(today);
        match self {
            Self::Last7Days => back(6),
            Self::Last30Days => back(29),
            Self::Last90Days => back(89),
            Self::AllTime => first_day.map_or(today, |first| {
                first.clamp(crate::dates::EARLIEST.min(today), today)
            }),
        }
    }

    /// The buckets of the range from `from` to `to`.
    pub fn bucket_size(self, from: NaiveDate, to: NaiveDate) -> BucketSize {
        match self {
            Self::Last7Days | Self::Last30Days => BucketSize::Day,
            Self::Last90Days => BucketSize::Week,
            Self::AllTime => {
                let months =
                    (to.year() - from.year()) * 12 + to.month() as i32 - from.month() as i32 + 1;
                if months <= MAX_MONTH_BUCKETS {
                    BucketSize::Month
                } else {
                    BucketSize::Year
                }
            }
        }
    }
}

/// One bucket of the range, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub tally: Tally,
}

/// The buckets covering `from..=to`, empty tallies, in order.
pub fn buckets(size: BucketSize, from: NaiveDate, to: NaiveDate) -> Vec<Bucket> {
    let mut buckets = Vec::new();
    let mut start = from;
    while start <= to {
        let natural_end = match size {
            BucketSize::Day => start,
            BucketSize::Week => start
                .checked_add_days(Days::new(u64::from(
                    6 - start.weekday().num_days_from_monday(),
                )))
                .unwrap_or(to),
            BucketSize::Month => start
                .with_day(1)
                .and_then(|first| first.checked_add_months(Months::new(1)))
                .and_then(|next| next.pred_opt())
                .unwrap_or(to),
            BucketSize::Year => NaiveDate::from_ymd_opt(start.year(), 12, 31).unwrap_or(to),
        };
        let end = natural_end.min(to);
        buckets.push(Bucket {
            start,
            end,
            tally: Tally::default(),
        });
        match end.succ_opt() {
            Some(next) => start = next,
            None => break,
        }
    }
    buckets
}

/// A habit as the statistics see it.
pub struct HabitFacts<'a> {
    pub plan: &'a Plan,
    pub archived: bool,
    pub completed: &'a CompletedDays,
}

#[derive(Debug, Default, PartialEq)]
pub struct HabitSummary {
    pub counts: HabitCounts,
    pub range: Tally,
    pub buckets: Vec<Bucket>,
}

/// Counts every habit's scheduled occurrences up to `today` into `buckets` (today
/// only once done, as everywhere), bucket by bucket, so the cost is the buckets and the
/// completions, not the days. Archived habits count until the day before archiving, which their
/// plans already encode.
pub fn summarize<'a>(
    habits: impl IntoIterator<Item = HabitFacts<'a>>,
    mut buckets: Vec<Bucket>,
    today: NaiveDate,
) -> HabitSummary {
    let mut summary = HabitSummary::default();
    let mut today_tally = Tally::default();
    for habit in habits {
        let counts = &mut summary.counts;
        counts.total += 1;
        if habit.archived {
            counts.archived += 1;
        } else {
            counts.active += 1;
            // A day skipped is neither due nor counted.
            if habit.plan.is_scheduled(today) && !habit.completed.is_skipped(today) {
                let done = habit.completed.contains(today);
                today_tally.scheduled += 1;
                today_tally.completed += u32::from(done);
                if done {
                    counts.completed_today += 1;
                } else {
                    counts.due_today += 1;
                }
            }
        }
        for bucket in &mut buckets {
            let tally = habit
                .plan
                .occurrences(habit.completed, bucket.start, bucket.end, today);
            bucket.tally.add(tally);
            summary.range.add(tally);
        }
    }
    summary.counts.today_rate = today_tally.percent();
    summary.counts.success_rate = summary.range.percent();
    summary.buckets = buckets;
    summary
}

/// Up to `limit` (index, streak) pairs with the longest current streaks, longest first; ties
/// keep the input order. Zero streaks are not "best".
pub fn best_streaks(streaks: impl IntoIterator<Item = u32>, limit: usize) -> Vec<(usize, u32)> {
    let mut ranked: Vec<(usize, u32)> = streaks
        .into_iter()
        .enumerate()
        .filter(|(_, streak)| *streak > 0)
        .collect();
    ranked.sort_by(|left, right| right.1.cmp(&left.1).then(left.0.cmp(&right.0)));
    ranked.truncate(limit);
    ranked
}

/// `part ÷ whole` in percent, one decimal, half-up (0 of 0 is 0).
pub fn rate(part: i64, whole: i64) -> f64 {
    percent(part.max(0) as u64, whole.max(0) as u64)
}

/// Hours rounded half-up to one decimal.
pub fn hours(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// How many of `theme_ids` name each theme (`None`: no theme), most first.
pub fn count_by_theme(theme_ids: impl Iterator<Item = Option<i64>>) -> Vec<ThemeCount> {
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
pub fn ranked(mut counts: Vec<ThemeCount>) -> Vec<ThemeCount> {
    counts.sort_by_key(|entry| {
        (
            std::cmp::Reverse(entry.count),
            entry.theme_id.is_none(),
            entry.theme_id,
        )
    });
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theme_counts_rank_most_first_and_unthemed_last_among_equals() {
        let counts = count_by_theme([Some(2), None, Some(1), Some(2), None, Some(1)].into_iter());
        let order: Vec<(Option<i64>, i64)> = counts
            .iter()
            .map(|entry| (entry.theme_id, entry.count))
            .collect();
        assert_eq!(order, [(Some(1), 2), (Some(2), 2), (None, 2)]);
    }
    use crate::habits::rules::{Schedule, Span};

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn daily(starts_on: &str) -> Plan {
        Plan {
            schedule: Schedule::Daily,
            span: Span {
                starts_on: d(starts_on),
                ends_on: None,
                archived_on: None,
            },
        }
    }

    fn dates(days: &[&str]) -> CompletedDays {
        CompletedDays::new(days.iter().map(|day| d(day)).collect())
    }

    #[test]
    fn ranges_end_today() {
        let today = d("2026-03-31");
        assert_eq!(
            StatsRange::Last7Days.first_day(today, None),
            d("2026-03-25")
        );
        assert_eq!(
            StatsRange::Last30Days.first_day(today, None),
            d("2026-03-02")
        );
        assert_eq!(
            StatsRange::Last90Days.first_day(today, None),
            d("2026-01-01")
        );
        assert_eq!(
            StatsRange::AllTime.first_day(today, Some(d("2025-07-04"))),
            d("2025-07-04")
        );
        assert_eq!(StatsRange::AllTime.first_day(today, None), today);
    }

    #[test]
    fn buckets_are_days_calendar_weeks_or_calendar_months() {
        let days = buckets(BucketSize::Day, d("2026-01-01"), d("2026-01-07"));
        assert_eq!(days.len(), 7);
        assert!(days.iter().all(|bucket| bucket.start == bucket.end));
        // 2026-01-01 is a Thursday: the first week is cut to Thu–Sun.
        let weeks = buckets(BucketSize::Week, d("2026-01-01"), d("2026-03-31"));
        assert_eq!(
            (weeks[0].start, weeks[0].end),
            (d("2026-01-01"), d("2026-01-04"))
        );
        assert_eq!(
            (weeks[1].start, weeks[1].end),
            (d("2026-01-05"), d("2026-01-11"))
        );
        assert_eq!(weeks.last().unwrap().end, d("2026-03-31"));
        assert_eq!(weeks.len(), 14);
        let months = buckets(BucketSize::Month, d("2025-11-15"), d("2026-02-10"));
        let spans: Vec<(NaiveDate, NaiveDate)> = months
            .iter()
            .map(|bucket| (bucket.start, bucket.end))
            .collect();
        assert_eq!(
            spans,
            [
                (d("2025-11-15"), d("2025-11-30")),
                (d("2025-12-01"), d("2025-12-31")),
                (d("2026-01-01"), d("2026-01-31")),
                (d("2026-02-01"), d("2026-02-10")),
            ]
        );
    }

    #[test]
    fn the_issue_example_rates_three_of_seven() {
        let plan = daily("2026-01-01");
        let done = dates(&["2026-01-01", "2026-01-03", "2026-01-07"]);
        let today = d("2026-01-07");
        let from = StatsRange::Last7Days.first_day(today, None);
        let summary = summarize(
            [HabitFacts {
                plan: &plan,
                archived: false,
                completed: &done,
            }],
            buckets(BucketSize::Day, from, today),
            today,
        );
        let counts = &summary.counts;
        assert_eq!(counts.success_rate, 42.9);
        assert_eq!((counts.completed_today, counts.due_today), (1, 0));
        assert_eq!(counts.today_rate, 100.0);
        let per_day: Vec<u32> = summary
            .buckets
            .iter()
            .map(|bucket| bucket.tally.completed)
            .collect();
        assert_eq!(per_day, [1, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn archived_habits_count_only_before_archiving_and_today_waits() {
        let mut archived = daily("2026-01-01");
        archived.span.archived_on = Some(d("2026-01-04"));
        let open = daily("2026-01-01");
        let none = CompletedDays::default();
        let today = d("2026-01-07");
        let from = d("2026-01-01");
        let summary = summarize(
            [
                HabitFacts {
                    plan: &archived,
                    archived: true,
                    completed: &none,
                },
                HabitFacts {
                    plan: &open,
                    archived: false,
                    completed: &none,
                },
            ],
            buckets(BucketSize::Day, from, today),
            today,
        );
        // Archived: Jan 1–3; open: Jan 1–6 (today not over, not done).
        assert_eq!(summary.range.scheduled, 3 + 6);
        let counts = &summary.counts;
        assert_eq!((counts.total, counts.active, counts.archived), (2, 1, 1));
        assert_eq!((counts.due_today, counts.today_rate), (1, 0.0));
    }

    #[test]
    fn all_time_turns_to_years_past_ten_years_and_starts_in_the_window() {
        let today = d("2026-03-10");
        let all = StatsRange::AllTime;
        assert_eq!(all.bucket_size(d("2016-04-01"), today), BucketSize::Month);
        assert_eq!(all.bucket_size(d("2016-03-31"), today), BucketSize::Year);
        assert_eq!(
            StatsRange::Last90Days.bucket_size(d("1900-01-01"), today),
            BucketSize::Week
        );
        assert_eq!(all.first_day(today, Some(d("0001-01-01"))), d("1900-01-01"));
        let from = all.first_day(today, Some(d("1900-01-01")));
        let years = buckets(all.bucket_size(from, today), from, today);
        assert_eq!(years.len(), 127);
        assert_eq!(
            (years[0].start, years[0].end),
            (d("1900-01-01"), d("1900-12-31"))
        );
        assert_eq!((years[126].start, years[126].end), (d("2026-01-01"), today));
        let cut = buckets(BucketSize::Year, d("2024-07-04"), d("2025-02-01"));
        assert_eq!(
            cut.iter()
                .map(|bucket| (bucket.start, bucket.end))
                .collect::<Vec<_>>(),
            [
                (d("2024-07-04"), d("2024-12-31")),
                (d("2025-01-01"), d("2025-02-01"))
            ]
        );
    }

    #[test]
    fn yearly_buckets_of_a_habit_from_1900_count_each_year() {
        let plan = daily("1900-01-01");
        let done = dates(&["1900-03-01", "2026-03-10"]);
        let today = d("2026-03-10");
        let summary = summarize(
            [HabitFacts {
                plan: &plan,
                archived: false,
                completed: &done,
            }],
            buckets(BucketSize::Year, d("1900-01-01"), today),
            today,
        );
        assert_eq!(
            summary.buckets[0].tally,
            Tally {
                completed: 1,
                scheduled: 365,
                partial: 0,
            }
        );
        assert_eq!(
            summary.buckets[100].tally,
            Tally {
                completed: 0,
                scheduled: 366,
                partial: 0,
            }
        );
        assert_eq!(
            summary.buckets[126].tally,
            Tally {
                completed: 1,
                scheduled: 69,
                partial: 0,
            }
        );
        assert_eq!(
            summary.range,
            Tally {
                completed: 2,
                scheduled: 46_090,
                partial: 0,
            }
        );
    }

    #[test]
    fn best_streaks_skip_zeros_and_keep_order_on_ties() {
        assert_eq!(
            best_streaks([3, 0, 5, 3, 1, 2, 4], 5),
            [(2, 5), (6, 4), (0, 3), (3, 3), (5, 2)]
        );
        assert!(best_streaks([0, 0], 5).is_empty());
    }

    #[test]
    fn hours_round_to_one_decimal() {
        assert_eq!(hours(1.25), 1.3);
        assert_eq!(hours(1.24), 1.2);
        assert_eq!(rate(1, 3), 33.3);
        assert_eq!(rate(2, 3), 66.7);
        assert_eq!(rate(0, 0), 0.0);
    }
}
