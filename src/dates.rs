//! The calendar window every date a client sends must lie in. Postgres and chrono both hold
//! dates far outside it (years -4713 and -262,143 on), but nothing a person plans happens there,
//! and every span the habit engine and the statistics walk stays bounded by it.

use chrono::{DateTime, NaiveDate, Utc};

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
}
