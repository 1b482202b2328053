//! Validation of account fields. Each function returns the value as it will be stored, or a
//! `BAD_USER_INPUT` naming the input field.

use std::str::FromStr;

use chrono::Timelike;
use unicode_normalization::UnicodeNormalization;

use crate::error::AppError;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EMAIL_CHARS: usize = 254;

/// 3–30 of `[A-Za-z0-9_.-]`, kept as typed (after compatibility forms such as fullwidth
/// letters fold to plain ones); uniqueness ignores case.
pub fn username(raw: &str) -> Result<String, AppError> {
    let value: String = raw.trim().nfkc().collect();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !(3..=30).contains(&value.len()) || !value.chars().all(allowed) {
        return Err(AppError::bad_input(
            "username",
            "Username must be 3 to 30 characters of letters, digits, '_', '.' or '-'",
        ));
    }
    Ok(value)
}

/// Trimmed, folded as [`crate::text::fold_identifier`] (width and case), syntactically an address with a dotted domain.
pub fn email(raw: &str) -> Result<String, AppError> {
    let value = crate::text::fold_identifier(raw);
    let invalid = || AppError::bad_input("email", "Email address is not valid");
    if value.chars().count() > MAX_EMAIL_CHARS {
        return Err(invalid());
    }
    let parsed = email_address::EmailAddress::from_str(&value).map_err(|_| invalid())?;
    // The crate accepts display names and bare hosts ("a@localhost"); accounts need a plain,
    // routable address.
    if parsed.email() != value || !parsed.domain().contains('.') {
        return Err(invalid());
    }
    Ok(value)
}

/// Trimmed, at most 100 characters, no control or bidi-override characters.
pub fn person_name(field: &'static str, raw: &str) -> Result<String, AppError> {
    crate::text::term(field, raw, MAX_NAME_CHARS)
}

/// An IANA time zone name such as `Europe/Berlin`.
pub fn time_zone(raw: &str) -> Result<String, AppError> {
    chrono_tz::Tz::from_str(raw.trim())
        .map(|zone| zone.name().to_owned())
        .map_err(|_| AppError::bad_input("timeZone", "Not a known IANA time zone name"))
}

/// A day start typed as `HH:MM`: minutes after midnight, from 00:00 to 12:00.
pub fn day_start(raw: &str) -> Result<i32, AppError> {
    let problem = || AppError::bad_input("dayStart", "A time from 00:00 to 12:00, as HH:MM");
    let time = chrono::NaiveTime::parse_from_str(raw.trim(), "%H:%M").map_err(|_| problem())?;
    let minutes = time.hour() * 60 + time.minute();
    if minutes > crate::dates::LATEST_DAY_START_MINUTES {
        return Err(problem());
    }
    i32::try_from(minutes).map_err(|_| problem())
}

/// A day start as `HH:MM`.
pub fn day_start_text(minutes: i32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_start_is_a_morning_time() {
        assert_eq!(day_start("04:00").ok(), Some(240));
        assert_eq!(day_start(" 00:00 ").ok(), Some(0));
        assert_eq!(day_start("12:00").ok(), Some(720));
        assert_eq!(day_start_text(270), "04:30");
        for bad in ["12:01", "23:00", "4", "04:60", "-1:00", "", "noon"] {
            assert_eq!(field_of(day_start(bad).unwrap_err()), "dayStart", "{bad}");
        }
    }

    fn field_of(error: AppError) -> &'static str {
        match error {
            AppError::BadUserInput { field, .. } => field,
            other => panic!("expected BAD_USER_INPUT, got {other:?}"),
        }
    }

    #[test]
    fn usernames() {
        assert_eq!(username(" Ada_L.ove-1 ").unwrap(), "Ada_L.ove-1");
        for bad in [
            "ab",
            &"a".repeat(31),
            "has space",
            "émile",
            "semi;colon",
            "",
        ] {
            assert_eq!(field_of(username(bad).unwrap_err()), "username", "{bad:?}");
        }
        assert!(username(&"a".repeat(30)).is_ok());
        assert_eq!(username("ａｌｉｃｅ").unwrap(), "alice");
    }

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        assert_eq!(email("ａｌｉｃｅ@x.com").unwrap(), "alice@x.com");
        for bad in [
            "",
            "no-at-sign",
            "a@",
            "@b.c",
            "a@localhost",
            "Ada <ada@example.com>",
            "a b@c.d",
        ] {
            assert_eq!(field_of(email(bad).unwrap_err()), "email", "{bad:?}");
        }
        let long_local = format!("{}@example.com", "a".repeat(250));
        assert!(email(&long_local).is_err());
    }

    #[test]
    fn names_refuse_control_and_bidi_characters() {
        assert_eq!(person_name("firstName", "  Zoë ").unwrap(), "Zoë");
        assert_eq!(person_name("firstName", "").unwrap(), "");
        assert_eq!(
            field_of(person_name("lastName", "a\u{0000}b").unwrap_err()),
            "lastName"
        );
        assert!(person_name("lastName", "evil\u{202E}txt").is_err());
        assert!(person_name("lastName", &"x".repeat(101)).is_err());
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(time_zone("Europe/Berlin").unwrap(), "Europe/Berlin");
        assert_eq!(time_zone("UTC").unwrap(), "UTC");
        assert_eq!(field_of(time_zone("Mars/Olympus").unwrap_err()), "timeZone");
        assert!(time_zone("").is_err());
    }
}
