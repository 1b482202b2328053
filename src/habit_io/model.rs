//! What an export is asked for and gives, and what an import reports.

use async_graphql::{Enum, SimpleObject};

/// The layout of an export of the user's habits.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HabitExportFormat {
    /// Loop Habit Tracker's CSV export: a zip of `Habits.csv`, a folder per habit with its
    /// `Checkmarks.csv` and `Scores.csv`, and `Checkmarks.csv` and `Scores.csv` with a column per
    /// habit. Loop can read its values back; `importHabits` can.
    LoopCsv,
    /// Agora's own JSON (`agora-habits/1`): every habit's fields, schedule, measure and
    /// every marked day with its value and note.
    Json,
}

/// The layout of a file given to `importHabits`.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HabitImportFormat {
    /// Loop Habit Tracker's CSV export (the zip its "Export as CSV" makes).
    LoopCsv,
}

/// A file, ready to save.
pub struct ExportFile {
    pub filename: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// Why an import left a row out.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportRefusalReason {
    /// The row cannot be read: a bad date, value, name, note or target.
    Malformed,
    /// A second habit of the same name, or a second row of the same day.
    Duplicate,
    /// Loop's frequency has no schedule here (more than 365 days off in a cycle).
    Unsupported,
    /// The day is not scheduled for the habit (its schedule follows Loop's frequency on the
    /// days checked most).
    NotScheduled,
    /// After today, or before 1900.
    OutOfRange,
    /// The day, or the habit, already holds something else here; what is here is kept.
    Conflict,
    /// The user has as many habits as allowed.
    LimitReached,
}

/// A row an import left out, and why.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct RefusedRow {
    /// The file in the archive (`Habits.csv`, `001 Walk/Checkmarks.csv`).
    pub file: String,
    /// The row's line in the file, the header being line 1.
    pub line: u64,
    /// Why, as a stable code.
    pub reason: ImportRefusalReason,
    /// Why, in a sentence.
    pub message: String,
}

/// What an import did. Importing the same file again finds its habits and adds nothing.
#[derive(SimpleObject, Clone, Debug, Default, PartialEq)]
pub struct ImportReport {
    /// Habits made by this import.
    pub habits_created: u32,
    /// Habits an earlier import made, found again by their name.
    pub habits_matched: u32,
    /// Days written: done, skipped, or a measurable habit's value.
    pub days_added: u32,
    /// Days already held exactly so.
    pub days_unchanged: u32,
    /// Rows with nothing to keep: Loop's missed (`NO`), not-expected (`YES_AUTO`) and unknown
    /// days of yes/no habits.
    pub rows_ignored: u32,
    /// The rows left out, habit by habit: first those that cannot be read, then those that
    /// cannot be kept.
    pub refused: Vec<RefusedRow>,
}
