use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;

use crate::db::schema::tasks;

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = tasks, check_for_backend(diesel::pg::Pg))]
pub struct Task {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub description: String,
    pub priority: String,
    pub status: String,
    pub position: i32,
    pub due_on: Option<NaiveDate>,
    pub theme_id: Option<i64>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Field changes other than the column and position, which only a move changes.
#[derive(AsChangeset, Default)]
#[diesel(table_name = tasks)]
pub struct TaskChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub priority: Option<String>,
    /// `Some(None)` clears the due date.
    pub due_on: Option<Option<NaiveDate>>,
    /// `Some(None)` removes the theme.
    pub theme_id: Option<Option<i64>>,
}

impl TaskChanges {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.priority.is_none()
            && self.due_on.is_none()
            && self.theme_id.is_none()
    }
}

pub struct NewTask {
    pub title: String,
    pub description: String,
    pub priority: String,
    pub status: String,
    pub due_on: Option<NaiveDate>,
    pub theme_id: Option<i64>,
}

/// A task with its column's size, for the board.
#[derive(QueryableByName)]
pub struct BoardRow {
    #[diesel(embed)]
    pub task: Task,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub column_total: i64,
}
