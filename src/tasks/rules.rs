//! Task fields, and what a move does to a task's completion time.

use chrono::{DateTime, Utc};

use super::model::TaskStatus;
use crate::error::AppError;
use crate::text;

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 5000;

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
