//! Scalars of our own where the library's would leak an implementation name into the schema.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

use crate::error::AppError;

/// A calendar date, `YYYY-MM-DD`, in the user's time zone where it means "a day of theirs".
/// What a client sent is reachable only through [`Date::checked`], so no input date skips the
/// window check, and the check can name the field it came in (a scalar's own parse error cannot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(NaiveDate);

impl Date {
    /// The date a client sent, if it lies in the window ([`crate::dates`]).
    pub fn checked(self, field: &'static str) -> Result<NaiveDate, AppError> {
        crate::dates::in_window(field, self.0)
    }
}

/// A calendar date as `YYYY-MM-DD` (ISO 8601), e.g. `2026-01-31`; where it names a day of the
/// user's, it is a day in their time zone (`User.timeZone`). Dates sent are from 1900-01-01 to
/// 2199-12-31 (`BAD_USER_INPUT` otherwise).
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom("Dates are YYYY-MM-DD, e.g. 2026-01-31")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

impl From<NaiveDate> for Date {
    fn from(date: NaiveDate) -> Self {
        Self(date)
    }
}
