use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;

use super::rules::{Plan, Schedule, Span};
use crate::db::schema::habits;
use crate::error::AppError;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = habits, check_for_backend(diesel::pg::Pg))]
pub struct HabitRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub description: String,
    pub theme_id: Option<i64>,
    pub kind: String,
    pub schedule: serde_json::Value,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    pub archived_at: Option<DateTime<Utc>>,
    pub auto_archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A habit as its owner sees it today: the row, its plan in the owner's calendar, and
/// whether today's occurrence is done when the query that found it already knew.
#[derive(Clone, Debug)]
pub struct Habit {
    pub row: HabitRow,
    pub plan: Plan,
    pub today: NaiveDate,
    pub completed_today: Option<bool>,
}

impl Habit {
    pub fn new(row: HabitRow, time_zone: Tz, today: NaiveDate) -> Result<Self, AppError> {
        let schedule = Schedule::from_stored(&row.kind, &row.schedule).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "habit {} has an unreadable schedule",
                row.id
            ))
        })?;
        let plan = Plan {
            schedule,
            span: Span {
                starts_on: row.starts_on,
                ends_on: row.ends_on,
                archived_on: row
                    .archived_at
                    .map(|at| at.with_timezone(&time_zone).date_naive()),
            },
        };
        Ok(Self {
            row,
            plan,
            today,
            completed_today: None,
        })
    }

    pub fn is_archived(&self) -> bool {
        self.row.archived_at.is_some()
    }
}

pub struct NewHabit {
    pub name: String,
    pub description: String,
    pub theme_id: Option<i64>,
    pub schedule: Schedule,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
}

/// What `updateHabit` may change; `None` keeps a field.
#[derive(Default)]
pub struct HabitChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` removes the theme.
    pub theme_id: Option<Option<i64>>,
    pub schedule: Option<Schedule>,
    pub starts_on: Option<NaiveDate>,
    /// `Some(None)` clears the end.
    pub ends_on: Option<Option<NaiveDate>>,
}

#[derive(AsChangeset)]
#[diesel(table_name = habits)]
pub struct HabitUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub theme_id: Option<Option<i64>>,
    pub kind: Option<&'static str>,
    pub schedule: Option<serde_json::Value>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<Option<NaiveDate>>,
    pub updated_at: DateTime<Utc>,
}
