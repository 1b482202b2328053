//! Task fields, and what a move does to a task's completion time.

use async_graphql::Enum;
use chrono::{DateTime, Utc};

use crate::error::AppError;
use crate::text;

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 5000;

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

pub fn title(raw: &str) -> Result<String, AppError> {
    text::line("title", raw, MAX_TITLE_CHARS)
}

pub fn description(raw: &str) -> Result<String, AppError> {
    text::paragraphs("description", raw, MAX_DESCRIPTION_CHARS)
}

/// A target position within a column that holds `others` other tasks: 0 (top) to `others`
/// (bottom).
pub fn position(requested: i32, others: i64) -> Result<i32, AppError> {
    if requested < 0 || i64::from(requested) > others {
        return Err(AppError::bad_input(
            "position",
            format!("Positions in that column are 0 to {others}"),
        ));
    }
    Ok(requested)
}

/// Entering `DONE` stamps the task; moving within `DONE` keeps the stamp; leaving clears it.
pub fn completed_at_after_move(
    from: TaskStatus,
    to: TaskStatus,
    completed_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match (from, to) {
        (_, TaskStatus::Done) if from != TaskStatus::Done => Some(now),
        (TaskStatus::Done, TaskStatus::Done) => completed_at.or(Some(now)),
        _ => None,
    }
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

    #[test]
    fn positions_stay_inside_the_column() {
        assert_eq!(position(0, 0).unwrap(), 0);
        assert_eq!(position(3, 3).unwrap(), 3);
        assert!(position(4, 3).is_err());
        assert!(position(-1, 3).is_err());
    }

    #[test]
    fn completion_time_follows_the_done_column() {
        let earlier: DateTime<Utc> = "2026-01-01T10:00:00Z".parse().unwrap();
        let now: DateTime<Utc> = "2026-01-02T10:00:00Z".parse().unwrap();
        use TaskStatus::*;
        assert_eq!(completed_at_after_move(Todo, Done, None, now), Some(now));
        assert_eq!(
            completed_at_after_move(InProgress, Done, None, now),
            Some(now)
        );
        assert_eq!(
            completed_at_after_move(Done, Done, Some(earlier), now),
            Some(earlier)
        );
        assert_eq!(
            completed_at_after_move(Done, Todo, Some(earlier), now),
            None
        );
        assert_eq!(completed_at_after_move(Todo, InProgress, None, now), None);
    }

    #[test]
    fn titles_and_descriptions() {
        assert_eq!(title("  Ship it ").unwrap(), "Ship it");
        assert!(title("").is_err());
        assert!(title(&"t".repeat(201)).is_err());
        assert!(description(&"d".repeat(5000)).is_ok());
        assert!(description(&"d".repeat(5001)).is_err());
    }
}
