//! Habits: the recurrence engine (`rules`), completions, streaks and statistics.

pub mod rules;
