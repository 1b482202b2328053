//! When a reminder fires, and which times a habit may have. A reminder is a wall-clock time of
//! its owner's; on one of their habit days (from `UserDays::start_of(D)` to the start of the
//! next) it fires at that time on the calendar date that falls inside the day, as the clock
//! reads it there: a time the clock skips fires when it resumes, one it repeats fires at its
//! first pass.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Timelike, Utc};

use super::model::Occurrence;
use crate::dates::UserDays;
use crate::error::AppError;

/// The most reminders one habit may have: a handful nudges, more would be noise.
pub const MAX_PER_HABIT: usize = 5;

/// `HH:MM`, 00:00 to 23:59, two digits each, as `dayStart` is written.
pub fn parse_time(text: &str) -> Option<NaiveTime> {
    let (hours, minutes) = text.split_once(':')?;
    let two_digits = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(hours) || !two_digits(minutes) {
        return None;
    }
    NaiveTime::from_hms_opt(hours.parse().ok()?, minutes.parse().ok()?, 0)
}

/// A reminder's time as the API shows it.
pub fn format_time(time: NaiveTime) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

/// The times of a habit's reminders as typed: ascending, each once, at most
/// [`MAX_PER_HABIT`]. A time not written `HH:MM` is `BAD_USER_INPUT` on `times`.
pub fn times(typed: &[String]) -> Result<Vec<NaiveTime>, AppError> {
    let mut times = typed
        .iter()
        .map(|text| {
            parse_time(text).ok_or_else(|| {
                AppError::bad_input(
                    "times",
                    format!("{text:?} is not a time of day written HH:MM (00:00 to 23:59)"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    times.sort_unstable();
    times.dedup();
    if times.len() > MAX_PER_HABIT {
        return Err(AppError::bad_input(
            "times",
            format!("A habit has at most {MAX_PER_HABIT} reminders"),
        ));
    }
    Ok(times)
}

/// The instant a reminder at `time` fires on the habit day `day`: `time` on the day's own date
/// when it is at or after the day start, else on the next date (a 01:00 reminder of a day
/// starting at 04:00 comes in its night). The first instant whose clock reads `time` or later:
/// at the end of a gap the clock skips, at the first pass of an hour it repeats. A reminder in
/// a gap that ends exactly as the next day begins fires at that beginning.
pub fn fires_at(days: &UserDays, day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let before_day_start = time.num_seconds_from_midnight() < days.day_start_minutes * 60;
    let date = if before_day_start {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    days.first_instant_at(date.and_time(time))
}

/// The instant the habit day `day` ends: the start of the next.
pub fn day_ends(days: &UserDays, day: NaiveDate) -> DateTime<Utc> {
    days.start_of(day.succ_opt().unwrap_or(day))
}

fn occurrence(days: &UserDays, day: NaiveDate, time: NaiveTime) -> Occurrence {
    Occurrence {
        day,
        fires_at: fires_at(days, day, time),
    }
}

/// The first occurrence of a reminder set at `now`: today's when it is still ahead, else
/// tomorrow's. A reminder set after its time does not fire at once for a day it was not there.
pub fn first_occurrence(days: &UserDays, time: NaiveTime, now: DateTime<Utc>) -> Occurrence {
    let today = occurrence(days, days.date_at(now), time);
    if today.fires_at > now {
        today
    } else {
        next_day(days, today.day, time)
    }
}

/// The occurrence after the one of `handled`: the next day's, or today's when the days between
/// were missed (no instance ran), since a day that is over gets no reminder.
pub fn next_occurrence(
    days: &UserDays,
    handled: NaiveDate,
    time: NaiveTime,
    now: DateTime<Utc>,
) -> Occurrence {
    let next = next_day(days, handled, time);
    let today = days.date_at(now);
    if next.day < today {
        occurrence(days, today, time)
    } else {
        next
    }
}

fn next_day(days: &UserDays, day: NaiveDate, time: NaiveTime) -> Occurrence {
    occurrence(days, day.succ_opt().unwrap_or(day), time)
}

/// Whether an occurrence that fired at `fires` may go out at `now`: while its day lasts (late,
/// when no instance ran at its time), never for a day that is over, except in the first tick
/// after the end (`tick`, the job's interval) for one whose time fell in the last interval of
/// the day, which no tick before the end could see.
pub fn may_send(
    fires: DateTime<Utc>,
    day_ends: DateTime<Utc>,
    now: DateTime<Utc>,
    tick: Duration,
) -> bool {
    fires <= now && (now < day_ends || now - fires <= tick)
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, Offset, TimeZone};
    use chrono_tz::Tz;
    use proptest::prelude::*;

    use super::*;

    fn t(text: &str) -> NaiveTime {
        parse_time(text).unwrap()
    }

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn in_zone(zone: Tz, day_start_minutes: i32) -> UserDays {
        UserDays::new(zone, day_start_minutes)
    }

    #[test]
    fn times_are_two_digit_hours_and_minutes_of_one_day() {
        assert_eq!(parse_time("00:00"), NaiveTime::from_hms_opt(0, 0, 0));
        assert_eq!(parse_time("23:59"), NaiveTime::from_hms_opt(23, 59, 0));
        for bad in [
            "24:00",
            "7:30",
            "07:3",
            "07:60",
            "07-30",
            "0730",
            "",
            "07:30:00",
            " 07:30",
            "+7:30",
            "٠٧:٣٠",
        ] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
        assert_eq!(format_time(t("07:05")), "07:05");
    }

    #[test]
    fn a_habit_s_times_come_sorted_once_each_and_at_most_five() {
        let typed = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            times(&typed(&["21:00", "07:30", "21:00"])).unwrap(),
            [t("07:30"), t("21:00")]
        );
        assert_eq!(times(&[]).unwrap(), []);
        // Repeats collapse before counting.
        let six_with_a_repeat = typed(&["01:00", "02:00", "03:00", "04:00", "05:00", "01:00"]);
        assert_eq!(times(&six_with_a_repeat).unwrap().len(), 5);
        for refused in [
            typed(&["01:00", "02:00", "03:00", "04:00", "05:00", "06:00"]),
            typed(&["07:30", "7:45"]),
        ] {
            match times(&refused) {
                Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "times"),
                other => panic!("{refused:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_reminder_fires_at_its_wall_clock_time_inside_the_habit_day() {
        let berlin = in_zone(chrono_tz::Europe::Berlin, 0);
        assert_eq!(
            fires_at(&berlin, d("2026-01-10"), t("07:30")),
            utc("2026-01-10T06:30:00Z")
        );
        // With a day starting at 04:00, 01:00 is the night after the day's date, 04:00 its start.
        let late = in_zone(chrono_tz::Europe::Berlin, 240);
        assert_eq!(
            fires_at(&late, d("2026-01-10"), t("01:00")),
            utc("2026-01-11T00:00:00Z")
        );
        assert_eq!(
            fires_at(&late, d("2026-01-10"), t("04:00")),
            late.start_of(d("2026-01-10"))
        );
        assert_eq!(
            day_ends(&late, d("2026-01-10")),
            utc("2026-01-11T03:00:00Z")
        );
    }

    #[test]
    fn a_time_the_clock_skips_fires_when_it_resumes_and_a_repeated_one_at_its_first_pass() {
        let cases = [
            // Berlin skips 02:00–03:00 on 2026-03-29 and repeats 02:00–03:00 on 2026-10-25.
            (
                chrono_tz::Europe::Berlin,
                "2026-03-29",
                "02:30",
                "2026-03-29T01:00:00Z",
            ),
            (
                chrono_tz::Europe::Berlin,
                "2026-10-25",
                "02:30",
                "2026-10-25T00:30:00Z",
            ),
            // New York skips 02:00–03:00 on 2026-03-08 and repeats 01:00–02:00 on 2026-11-01.
            (
                chrono_tz::America::New_York,
                "2026-03-08",
                "02:30",
                "2026-03-08T07:00:00Z",
            ),
            (
                chrono_tz::America::New_York,
                "2026-11-01",
                "01:30",
                "2026-11-01T05:30:00Z",
            ),
            // Lord Howe moves by half an hour: 02:00 becomes 02:30 on 2026-10-04 (to +11),
            // 02:00 becomes 01:30 on 2026-04-05 (to +10:30).
            (
                chrono_tz::Australia::Lord_Howe,
                "2026-10-04",
                "02:15",
                "2026-10-03T15:30:00Z",
            ),
            (
                chrono_tz::Australia::Lord_Howe,
                "2026-04-05",
                "01:45",
                "2026-04-04T14:45:00Z",
            ),
        ];
        for (zone, day, time, expected) in cases {
            assert_eq!(
                fires_at(&in_zone(zone, 0), d(day), t(time)),
                utc(expected),
                "{zone} {day} {time}"
            );
        }
    }

    #[test]
    fn a_reminder_set_after_its_time_starts_tomorrow() {
        let days = in_zone(chrono_tz::UTC, 0);
        let now = utc("2026-05-01T10:00:00Z");
        assert_eq!(
            first_occurrence(&days, t("10:01"), now),
            Occurrence {
                day: d("2026-05-01"),
                fires_at: utc("2026-05-01T10:01:00Z")
            }
        );
        for time in ["10:00", "09:00"] {
            assert_eq!(
                first_occurrence(&days, t(time), now).day,
                d("2026-05-02"),
                "{time}"
            );
        }
    }

    #[test]
    fn after_a_handled_day_comes_the_next_or_today_when_days_were_missed() {
        let days = in_zone(chrono_tz::UTC, 0);
        let now = utc("2026-05-01T10:00:00Z");
        assert_eq!(
            next_occurrence(&days, d("2026-05-01"), t("08:00"), now),
            Occurrence {
                day: d("2026-05-02"),
                fires_at: utc("2026-05-02T08:00:00Z")
            }
        );
        // Three days behind: today's, already past, so the job sends it late in the same run.
        assert_eq!(
            next_occurrence(&days, d("2026-04-27"), t("08:00"), now),
            Occurrence {
                day: d("2026-05-01"),
                fires_at: utc("2026-05-01T08:00:00Z")
            }
        );
    }

    #[test]
    fn an_occurrence_goes_out_late_within_its_day_and_not_after() {
        let minute = Duration::seconds(60);
        let fires = utc("2026-05-01T08:00:00Z");
        let ends = utc("2026-05-02T00:00:00Z");
        assert!(!may_send(fires, ends, fires - Duration::seconds(1), minute));
        assert!(may_send(fires, ends, fires, minute));
        assert!(may_send(fires, ends, ends - Duration::seconds(1), minute));
        assert!(!may_send(fires, ends, ends, minute));
        // 23:59:30 with ticks at the top of each minute: the tick at 00:00:10 still sends it.
        let last = utc("2026-05-01T23:59:30Z");
        assert!(may_send(last, ends, utc("2026-05-02T00:00:10Z"), minute));
        assert!(may_send(last, ends, utc("2026-05-02T00:00:30Z"), minute));
        assert!(!may_send(last, ends, utc("2026-05-02T00:00:31Z"), minute));
    }

    const ZONES: [Tz; 4] = [
        chrono_tz::Europe::Berlin,
        chrono_tz::America::New_York,
        chrono_tz::Australia::Lord_Howe,
        chrono_tz::America::Santiago,
    ];

    /// The habit days around each clock change of `zone` from 2024 to 2028.
    fn days_around_changes(zone: Tz) -> Vec<NaiveDate> {
        let offset = |at: DateTime<Utc>| at.with_timezone(&zone).offset().fix();
        let mut found = Vec::new();
        let mut at = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        while at.year() < 2029 {
            let next = at + Duration::minutes(30);
            if offset(at) != offset(next) {
                let local = next.with_timezone(&zone).date_naive();
                found.extend([local.pred_opt().unwrap(), local, local.succ_opt().unwrap()]);
            }
            at = next;
        }
        found
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Around every clock change of a few zones, for any day start and time: a reminder
        /// fires once per habit day, inside that day (or as the next begins, for a time in a
        /// gap just before it), no earlier than its time reads on the clock, at the time
        /// itself whenever the clock shows it, and later each day than the day before.
        #[test]
        fn a_reminder_fires_once_inside_each_habit_day_across_clock_changes(
            zone in 0..ZONES.len(),
            day_start in 0u32..=720,
            minute_of_day in 0u32..1440,
            pick in any::<prop::sample::Index>(),
        ) {
            let zone = ZONES[zone];
            let days = in_zone(zone, day_start as i32);
            let time = NaiveTime::from_hms_opt(minute_of_day / 60, minute_of_day % 60, 0).unwrap();
            let candidates = days_around_changes(zone);
            let day = candidates[pick.index(candidates.len())];
            let fires = fires_at(&days, day, time);
            let ends = day_ends(&days, day);
            prop_assert!(days.start_of(day) <= fires && fires <= ends);
            if fires < ends {
                prop_assert_eq!(days.date_at(fires), day);
            }
            let wall = fires.with_timezone(&zone).naive_local();
            let expected_date = if minute_of_day < day_start { day.succ_opt().unwrap() } else { day };
            let asked = expected_date.and_time(time);
            prop_assert!(wall >= asked, "fires at {} before {}", wall, asked);
            let shown = zone.from_local_datetime(&asked).earliest();
            if let Some(shown) = shown {
                prop_assert_eq!(fires, shown.with_timezone(&Utc));
            }
            let next = fires_at(&days, day.succ_opt().unwrap(), time);
            prop_assert!(next > fires);
        }
    }
}
