//! Task rows and changes, and the board's enums (which the API shows as they are).

use async_graphql::{Enum, SimpleObject};
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

/// The board's columns, in board order.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Not started.
    Todo,
    /// Being worked on.
    InProgress,
    /// Finished; tasks here have `completedAt`.
    Done,
}

impl TaskStatus {
    pub const ALL: [Self; 3] = [Self::Todo, Self::InProgress, Self::Done];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Todo => "TODO",
            Self::InProgress => "IN_PROGRESS",
            Self::Done => "DONE",
        }
    }

    pub fn parse(stored: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == stored)
            .unwrap_or(Self::Todo)
    }

    /// The column's place on the board, 1-based as SQL's `array_position` counts.
    pub fn rank(self) -> i32 {
        match self {
            Self::Todo => 1,
            Self::InProgress => 2,
            Self::Done => 3,
        }
    }
}

/// How important a task is.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskPriority {
    /// Low priority.
    Low,
    /// Normal priority, the default.
    Medium,
    /// High priority.
    High,
}

impl TaskPriority {
    pub const ALL: [Self; 3] = [Self::Low, Self::Medium, Self::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
        }
    }

    pub fn parse(stored: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|priority| priority.as_str() == stored)
            .unwrap_or(Self::Medium)
    }
}

/// One column of the board.
#[derive(SimpleObject)]
pub struct BoardColumn {
    /// Which column this is.
    pub status: TaskStatus,
    /// How many tasks the column holds, all of them, not only those listed.
    pub total_count: i64,
    /// The column's tasks from the top.
    pub tasks: Vec<Task>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_priorities_round_trip_their_stored_names() {
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), status);
        }
        for priority in TaskPriority::ALL {
            assert_eq!(TaskPriority::parse(priority.as_str()), priority);
        }
        let ranks: Vec<i32> = TaskStatus::ALL.iter().map(|status| status.rank()).collect();
        assert_eq!(ranks, [1, 2, 3]);
    }
}
