//! Reminder rows, and the event a reminder sends to its owner's subscriptions.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::schema::habit_reminders;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = habit_reminders, check_for_backend(diesel::pg::Pg))]
pub struct ReminderRow {
    pub id: i64,
    pub habit_id: i64,
    pub local_time: NaiveTime,
    /// The habit day of the next occurrence to handle.
    pub due_day: NaiveDate,
    /// When that occurrence fires.
    pub due_at: DateTime<Utc>,
}

/// A reminder that went out: to the habit's owner, for one of their habit days. It crosses
/// instances through Redis, so it names the habit rather than holding it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderSent {
    pub user_id: i64,
    pub habit_id: i64,
    pub habit_day: NaiveDate,
    pub time: NaiveTime,
    pub fires_at: DateTime<Utc>,
}

/// An occurrence of a reminder: one of the owner's habit days, and the instant the reminder
/// fires on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub day: NaiveDate,
    pub fires_at: DateTime<Utc>,
}
