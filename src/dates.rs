//! The calendar window every date a client sends must lie in, and how a user's instants fall
//! into their days. Postgres and chrono both hold dates far outside the window (years -4713
//! and -262,143 on), but nothing a person plans happens there, and every span the habit engine
//! and the statistics walk stays bounded by it.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::AppError;

pub const EARLIEST: NaiveDate = NaiveDate::from_ymd_opt(1900, 1, 1).expect("a valid date");
pub const LATEST: NaiveDate = NaiveDate::from_ymd_opt(2199, 12, 31).expect("a valid date");

/// `date` when it lies from [`EARLIEST`] to [`LATEST`], both included.
pub fn in_window(field: &'static str, date: NaiveDate) -> Result<NaiveDate, AppError> {
    if (EARLIEST..=LATEST).contains(&date) {
        Ok(date)
    } else {
        Err(AppError::bad_input(
            field,
            format!("Dates are from {EARLIEST} to {LATEST}"),
        ))
    }
}

/// `instant` when its UTC date lies in the window: a time filter that reached the database
/// outside it (before 4713 BC) would fail there.
pub fn instant_in_window(
    field: &'static str,
    instant: DateTime<Utc>,
) -> Result<DateTime<Utc>, AppError> {
    in_window(field, instant.date_naive()).map(|_| instant)
}

/// The latest local time a user's day may begin at: a day that begins after noon would put
/// most of its waking hours in the date before.
pub const LATEST_DAY_START_MINUTES: u32 = 12 * 60;

/// How a user's instants fall into their days: their zone, and the local time each of their
/// days begins (`dayStart`, 00:00 by default: someone up past midnight sets 04:00 and their
/// night still counts for the evening's date). "Today", due-today, streaks and statistics all
/// ask [`UserDays::date_at`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserDays {
    pub time_zone: Tz,
    /// Minutes after local midnight, 0 to [`LATEST_DAY_START_MINUTES`].
    pub day_start_minutes: u32,
}

impl UserDays {
    pub fn new(time_zone: Tz, day_start_minutes: i32) -> Self {
        let day_start_minutes = u32::try_from(day_start_minutes)
            .unwrap_or(0)
            .min(LATEST_DAY_START_MINUTES);
        Self {
            time_zone,
            day_start_minutes,
        }
    }

    fn day_start(&self) -> Duration {
        Duration::minutes(i64::from(self.day_start_minutes))
    }

    /// The user's date at `instant`: the local wall-clock date moved back by the day start,
    /// in wall-clock time, so a day starting at 02:30 on a night that skips from 02:00 to 03:00
    /// begins at 03:00. On a night that repeats an hour the wall clock goes back, but a date
    /// once begun (at the first 02:30, see [`UserDays::start_of`]) does not end again.
    pub fn date_at(&self, instant: DateTime<Utc>) -> NaiveDate {
        let wall_date =
            (instant.with_timezone(&self.time_zone).naive_local() - self.day_start()).date();
        match wall_date.succ_opt() {
            Some(next) if self.start_of(next) <= instant => next,
            _ => wall_date,
        }
    }

    /// The first instant of the user's `date`: the earliest whose wall clock reads the day
    /// start or later that date (the first instant after a clock change's gap when the day
    /// start falls in it).
    pub fn start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        self.first_instant_at(date.and_time(chrono::NaiveTime::MIN) + self.day_start())
    }

    /// The first instant whose wall clock reads `wall` or later: `wall` itself, its first pass
    /// when the clock repeats it, or the end of the gap when the clock skips it. Day starts
    /// and reminders are whole minutes, and so are the ends of gaps.
    pub fn first_instant_at(&self, wall: NaiveDateTime) -> DateTime<Utc> {
        // Gaps are at most a few hours; a minute's steps find their end.
        (0..=24 * 60)
            .find_map(|minutes| {
                match self
                    .time_zone
                    .from_local_datetime(&(wall + Duration::minutes(minutes)))
                {
                    LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => {
                        Some(at.with_timezone(&Utc))
                    }
                    LocalResult::None => None,
                }
            })
            .unwrap_or_else(|| wall.and_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn the_window_includes_both_ends_and_nothing_beyond() {
        assert_eq!(
            in_window("dueOn", d("1900-01-01")).unwrap(),
            d("1900-01-01")
        );
        assert_eq!(
            in_window("dueOn", d("2199-12-31")).unwrap(),
            d("2199-12-31")
        );
        for outside in ["1899-12-31", "2200-01-01", "0001-01-01", "-5000-01-01"] {
            match in_window("dueOn", d(outside)) {
                Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "dueOn"),
                other => panic!("{outside}: {other:?}"),
            }
        }
        let far: DateTime<Utc> = "-5000-01-01T00:00:00Z".parse().unwrap();
        assert!(instant_in_window("since", far).is_err());
        let near: DateTime<Utc> = "2026-12-02T23:00:00Z".parse().unwrap();
        assert_eq!(instant_in_window("since", near).unwrap(), near);
    }

    mod user_days {
        use chrono::{Duration, NaiveDate, TimeZone, Utc};
        use chrono_tz::Tz;
        use proptest::prelude::*;

        use super::super::UserDays;

        const ZONES: [Tz; 5] = [
            chrono_tz::Europe::Berlin,
            chrono_tz::America::New_York,
            chrono_tz::America::Santiago,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Asia::Kolkata,
        ];

        fn at(zone: Tz, local: &str) -> chrono::DateTime<Utc> {
            zone.from_local_datetime(&local.parse().unwrap())
                .earliest()
                .unwrap()
                .with_timezone(&Utc)
        }

        fn d(text: &str) -> NaiveDate {
            text.parse().unwrap()
        }

        #[test]
        fn a_day_starting_at_four_keeps_the_night_in_the_evening_before() {
            let berlin = UserDays::new(chrono_tz::Europe::Berlin, 240);
            assert_eq!(
                berlin.date_at(at(berlin.time_zone, "2026-03-10T03:59:00")),
                d("2026-03-09")
            );
            assert_eq!(
                berlin.date_at(at(berlin.time_zone, "2026-03-10T04:00:00")),
                d("2026-03-10")
            );
            assert_eq!(
                berlin.start_of(d("2026-03-10")),
                at(berlin.time_zone, "2026-03-10T04:00:00")
            );
            // Midnight by default.
            let plain = UserDays::new(chrono_tz::Europe::Berlin, 0);
            assert_eq!(
                plain.date_at(at(plain.time_zone, "2026-03-10T00:00:00")),
                d("2026-03-10")
            );
        }

        #[test]
        fn a_day_start_inside_a_skipped_hour_begins_when_the_clock_resumes() {
            // Berlin skips 02:00–03:00 on 2026-03-29; a 02:30 day start begins at 03:00.
            let days = UserDays::new(chrono_tz::Europe::Berlin, 150);
            let start = days.start_of(d("2026-03-29"));
            assert_eq!(start, at(days.time_zone, "2026-03-29T03:00:00"));
            assert_eq!(days.date_at(start), d("2026-03-29"));
            assert_eq!(days.date_at(start - Duration::seconds(1)), d("2026-03-28"));
            // On 2026-10-25 02:00–03:00 repeats: the day begins at the first 02:30, once.
            let start = days.start_of(d("2026-10-25"));
            assert_eq!(start, at(days.time_zone, "2026-10-25T02:30:00"));
            assert_eq!(days.date_at(start + Duration::hours(1)), d("2026-10-25"));
        }

        #[test]
        fn days_start_at_local_midnight_or_the_first_instant_after_a_skip() {
            let start = |zone, date| UserDays::new(zone, 0).start_of(d(date)).to_rfc3339();
            assert_eq!(
                start(chrono_tz::Pacific::Auckland, "2026-01-02"),
                "2026-01-01T11:00:00+00:00"
            );
            assert_eq!(
                start(chrono_tz::UTC, "2026-01-02"),
                "2026-01-02T00:00:00+00:00"
            );
            // Santiago skipped from 00:00 to 01:00 on 2025-09-07.
            assert_eq!(
                start(chrono_tz::America::Santiago, "2025-09-07"),
                "2025-09-07T04:00:00+00:00"
            );
        }

        #[test]
        fn out_of_range_day_starts_are_clamped() {
            assert_eq!(UserDays::new(chrono_tz::UTC, -5).day_start_minutes, 0);
            assert_eq!(UserDays::new(chrono_tz::UTC, 9_999).day_start_minutes, 720);
        }

        /// Every clock change of the zone from 2020 to 2030, as the instant it happens.
        fn transitions(zone: Tz) -> Vec<chrono::DateTime<Utc>> {
            let offset = |instant: chrono::DateTime<Utc>| {
                use chrono::Offset;
                instant.with_timezone(&zone).offset().fix()
            };
            let mut found = Vec::new();
            let mut hour = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
            let end = Utc.with_ymd_and_hms(2030, 12, 31, 0, 0, 0).unwrap();
            while hour < end {
                let next = hour + Duration::minutes(30);
                if offset(hour) != offset(next) {
                    found.push(next);
                }
                hour = next;
            }
            found
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Around every clock change of a few zones, for any day start: dates never go
            /// back as time goes on, each date begins exactly at `start_of`, and no date is
            /// skipped.
            #[test]
            fn days_follow_the_day_start_across_every_clock_change(
                zone in 0..ZONES.len(),
                day_start in 0u32..=720,
                pick in any::<prop::sample::Index>(),
            ) {
                let zone = ZONES[zone];
                let changes = transitions(zone);
                prop_assume!(!changes.is_empty() || zone == chrono_tz::Asia::Kolkata);
                let days = UserDays::new(zone, day_start as i32);
                let around = if changes.is_empty() {
                    Utc.with_ymd_and_hms(2026, 3, 29, 0, 0, 0).unwrap()
                } else {
                    changes[pick.index(changes.len())]
                };
                let mut instant = around - Duration::hours(36);
                let mut date = days.date_at(instant);
                while instant < around + Duration::hours(36) {
                    let next = instant + Duration::minutes(1);
                    let next_date = days.date_at(next);
                    prop_assert!(next_date >= date);
                    if next_date != date {
                        prop_assert_eq!(next_date, date.succ_opt().unwrap());
                        prop_assert_eq!(days.start_of(next_date), next);
                    }
                    instant = next;
                    date = next_date;
                }
            }
        }
    }
}
