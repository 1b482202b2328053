//! Loop Habit Tracker's CSV export, as its `HabitsCSVExporter` and `HabitList.writeCSV` write
//! it: a zip of `Habits.csv` (one row per habit), a folder per habit (`001 Walk/`) holding
//! `Checkmarks.csv` (`Date,Value,Notes`, the known days, newest first) and `Scores.csv`
//! (`Date,Score`), and at the root `Checkmarks.csv` and `Scores.csv` with a column per habit.
//! Loop keeps a measurable habit's values in thousandths, and its CSV prints them so; the
//! codes 2, 1, 0, 3 and -1 print as `YES_MANUAL`, `YES_AUTO`, `NO`, `SKIP` and `UNKNOWN`, for
//! measurable habits too (Loop's `Entry.formattedValue`). Pure: bytes in, bytes out.

use std::collections::HashMap;
use std::fmt;
use std::io::{Cursor, Read, Write};

use chrono::{Datelike, NaiveDate, Weekday};
use zip::ZipArchive;
use zip::write::{SimpleFileOptions, ZipWriter};

use crate::habits::model::{CompletedDays, DayEntry, DayMark, Habit, TargetDirection};
use crate::habits::rules::{MAX_INTERVAL_DAYS, Schedule};

pub const HABITS_FILE: &str = "Habits.csv";
const CHECKMARKS_FILE: &str = "Checkmarks.csv";
const SCORES_FILE: &str = "Scores.csv";
/// The longest file read from an archive, and the most read in all: a Loop export of 500
/// habits over ten years is a few MiB unpacked, and a zip bomb stops here.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
const MAX_ENTRIES: usize = 5_000;
/// The most day rows read in all: ten years of 100 daily habits, as Loop lists every day since
/// each habit began. An import is one transaction, and this bounds it.
const MAX_DAY_ROWS: usize = 400_000;

/// What a day holds in Loop's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Done by the user.
    YesManual,
    /// Not done, and not expected by the habit's frequency.
    YesAuto,
    /// Not done though expected.
    No,
    Skip,
    /// Nothing known: before the habit, after it, or today while it is open.
    Unknown,
    /// A measurable habit's value in thousandths, as Loop keeps it.
    Thousandths(i64),
}

impl fmt::Display for Cell {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::YesManual | Self::Thousandths(2) => out.write_str("YES_MANUAL"),
            Self::YesAuto | Self::Thousandths(1) => out.write_str("YES_AUTO"),
            Self::No | Self::Thousandths(0) => out.write_str("NO"),
            Self::Skip | Self::Thousandths(3) => out.write_str("SKIP"),
            Self::Unknown | Self::Thousandths(-1) => out.write_str("UNKNOWN"),
            Self::Thousandths(value) => write!(out, "{value}"),
        }
    }
}

impl Cell {
    /// A cell as Loop writes it; numbers are also how Loop 1.x wrote yes/no days (2 done).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "YES_MANUAL" => Some(Self::YesManual),
            "YES_AUTO" => Some(Self::YesAuto),
            "NO" => Some(Self::No),
            "SKIP" => Some(Self::Skip),
            "UNKNOWN" => Some(Self::Unknown),
            number => number.parse().ok().map(Self::Thousandths),
        }
    }

    /// What the cell means for a habit that is measurable or not. A measurable habit's named
    /// codes are the thousandths they stand for (Loop prints a value of 0 as `NO`).
    pub fn day(self, measurable: bool) -> Day {
        let value = |thousandths: i64| Day::Value(thousandths as f64 / 1000.0);
        match (self, measurable) {
            (Self::Skip, _) | (Self::Thousandths(3), false) => Day::Skipped,
            (Self::Unknown, _) => Day::Nothing,
            (Self::YesManual | Self::Thousandths(2), false) => Day::Done,
            (_, false) => Day::Nothing,
            (Self::YesManual, true) => value(2),
            (Self::YesAuto, true) => value(1),
            (Self::No, true) => value(0),
            (Self::Thousandths(thousandths), true) if thousandths >= 0 => value(thousandths),
            (Self::Thousandths(_), true) => Day::Nothing,
        }
    }
}

/// A day of an imported habit, as Agora keeps it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Day {
    Done,
    Skipped,
    Value(f64),
    /// Nothing to keep: a missed day, one not expected, or one not known.
    Nothing,
}

/// Loop's frequency, "`numerator` times in `denominator` days", nearest to a schedule.
pub fn frequency(schedule: &Schedule) -> (u32, u32) {
    match schedule {
        Schedule::Daily => (1, 1),
        Schedule::Weekly(days) => (u32::try_from(days.len()).unwrap_or(7), 7),
        Schedule::Monthly(_) => (1, 30),
        Schedule::Yearly { .. } => (1, 365),
        Schedule::Interval { active, pause } => (*active, active + pause),
    }
}

/// The schedule for Loop's "`numerator` times in `denominator` days". Loop lets any days of
/// the period count; Agora schedules fixed days, so a weekly, monthly or yearly frequency falls
/// on the days the user checked most (ties: the earlier), and any other on a cycle of
/// `numerator` days on and the rest off from the first check-in. `None` when no schedule fits.
pub fn schedule_for(numerator: u32, denominator: u32, done: &[NaiveDate]) -> Option<Schedule> {
    if numerator == 0 || denominator == 0 {
        return None;
    }
    if numerator >= denominator {
        return Some(Schedule::Daily);
    }
    match (numerator, denominator) {
        (_, 7) => {
            let busiest = most_common(done.iter().map(|day| day.weekday().num_days_from_monday()));
            let mut days: Vec<Weekday> = busiest
                .into_iter()
                .chain(0..7)
                .filter_map(|day| Weekday::try_from(u8::try_from(day).ok()?).ok())
                .fold(Vec::new(), |mut days, day| {
                    if !days.contains(&day) {
                        days.push(day);
                    }
                    days
                });
            days.truncate(usize::try_from(numerator).ok()?);
            Schedule::weekly(&days).ok()
        }
        (1, 28..=31) => {
            let day = most_common(done.iter().map(Datelike::day)).first().copied();
            Schedule::monthly(i32::try_from(day.unwrap_or(1)).ok()?).ok()
        }
        (1, 365 | 366) => {
            let dates = most_common(done.iter().map(|day| (day.month(), day.day())));
            let (month, day) = dates.first().copied().unwrap_or((1, 1));
            Schedule::yearly(i32::try_from(month).ok()?, i32::try_from(day).ok()?).ok()
        }
        (active, period) if period - active <= MAX_INTERVAL_DAYS && active <= MAX_INTERVAL_DAYS => {
            Schedule::interval(
                i32::try_from(active).ok()?,
                i32::try_from(period - active).ok()?,
            )
            .ok()
        }
        _ => None,
    }
}

/// The values, most frequent first, ties in ascending order.
fn most_common<T: Ord + Copy + std::hash::Hash>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut counts: HashMap<T, usize> = HashMap::new();
    for value in values {
        *counts.entry(value).or_default() += 1;
    }
    let mut ranked: Vec<(T, usize)> = counts.into_iter().collect();
    ranked.sort_by(|left, right| right.1.cmp(&left.1).then(left.0.cmp(&right.0)));
    ranked.into_iter().map(|(value, _)| value).collect()
}

/// A number as Kotlin's `Double.toString` prints it (`8.0`, `0.25`, `1.0E7`).
pub fn kotlin_double(value: f64) -> String {
    if (1e-3..1e7).contains(&value.abs()) || value == 0.0 {
        if value.fract() == 0.0 {
            format!("{value:.1}")
        } else {
            format!("{value}")
        }
    } else {
        let text = format!("{value:E}");
        match text.split_once('E') {
            Some((mantissa, exponent)) if !mantissa.contains('.') => {
                format!("{mantissa}.0E{exponent}")
            }
            _ => text,
        }
    }
}

/// The folder of a habit: its position and its name with only `[ a-zA-Z0-9._-]` kept.
pub fn folder(position: usize, name: &str) -> String {
    let sane: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'))
        .take(100)
        .collect();
    format!("{position:03} {sane}").trim().to_owned()
}

/// A habit to write, with its days.
pub struct ExportedHabit<'a> {
    pub habit: &'a Habit,
    pub days: &'a CompletedDays,
    /// Its days with a value or a note.
    pub entries: &'a [DayEntry],
}

impl ExportedHabit<'_> {
    fn measurable(&self) -> bool {
        self.habit.measure.is_some()
    }

    /// The first day anything is known of.
    fn first_day(&self) -> NaiveDate {
        let first_entry = self.entries.first().map(|entry| entry.date);
        [Some(self.habit.row.starts_on), first_entry]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(self.habit.row.starts_on)
    }

    /// What `date` holds, as Loop's computed entries say it.
    fn cell(&self, date: NaiveDate, values: &HashMap<NaiveDate, f64>) -> Cell {
        let (today, plan) = (self.habit.today, &self.habit.plan);
        let mark = self.days.mark(date);
        if mark == DayMark::Skipped {
            return Cell::Skip;
        }
        if self.measurable() {
            return values.get(&date).map_or(Cell::Unknown, |value| {
                Cell::Thousandths((value * 1000.0).round() as i64)
            });
        }
        let within = date >= plan.span.starts_on
            && date <= today
            && plan.span.effective_end().is_none_or(|end| date <= end);
        match mark {
            DayMark::Done => Cell::YesManual,
            _ if !within || (date == today && plan.is_scheduled(date)) => Cell::Unknown,
            _ if plan.is_scheduled(date) => Cell::No,
            _ => Cell::YesAuto,
        }
    }
}

/// Loop's CSV export of `habits` (in their order) on `today`, as a zip.
pub fn write(habits: &[ExportedHabit<'_>], today: NaiveDate) -> Result<Vec<u8>, std::io::Error> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut put = |name: &str, bytes: Vec<u8>| -> Result<(), std::io::Error> {
        zip.start_file(name, options)
            .map_err(std::io::Error::other)?;
        zip.write_all(&bytes)
    };
    put(HABITS_FILE, habits_csv(habits)?)?;
    let values: Vec<HashMap<NaiveDate, f64>> = habits
        .iter()
        .map(|exported| {
            exported
                .entries
                .iter()
                .filter_map(|entry| Some((entry.date, entry.value?)))
                .collect()
        })
        .collect();
    let scores: Vec<HashMap<NaiveDate, f64>> = habits
        .iter()
        .map(|exported| {
            let plan = &exported.habit.plan;
            plan.score_history(exported.days, (exported.first_day(), today), today)
                .into_iter()
                .collect()
        })
        .collect();
    for (index, exported) in habits.iter().enumerate() {
        let folder = folder(index + 1, &exported.habit.row.name);
        let days: Vec<NaiveDate> = days_back(today, exported.first_day()).collect();
        let mut rows = csv_writer();
        rows.write_record(["Date", "Score"])?;
        for day in &days {
            rows.write_record([day.to_string(), score(scores[index].get(day))])?;
        }
        put(&format!("{folder}/{SCORES_FILE}"), finish(rows)?)?;
        let notes: HashMap<NaiveDate, &str> = exported
            .entries
            .iter()
            .map(|entry| (entry.date, entry.note.as_str()))
            .collect();
        let mut rows = csv_writer();
        rows.write_record(["Date", "Value", "Notes"])?;
        for day in &days {
            let cell = exported.cell(*day, &values[index]);
            if cell != Cell::Unknown {
                let note = notes.get(day).copied().unwrap_or_default();
                rows.write_record([day.to_string(), cell.to_string(), note.to_owned()])?;
            }
        }
        put(&format!("{folder}/{CHECKMARKS_FILE}"), finish(rows)?)?;
    }
    let oldest = habits
        .iter()
        .map(ExportedHabit::first_day)
        .min()
        .unwrap_or(today);
    let mut header = vec!["Date".to_owned()];
    header.extend(
        habits
            .iter()
            .map(|exported| exported.habit.row.name.clone()),
    );
    header.push(String::new());
    let (mut checks, mut all_scores) = (csv_writer(), csv_writer());
    checks.write_record(&header)?;
    all_scores.write_record(&header)?;
    for day in days_back(today, oldest) {
        let mut check_row = vec![day.to_string()];
        let mut score_row = vec![day.to_string()];
        for (index, exported) in habits.iter().enumerate() {
            check_row.push(exported.cell(day, &values[index]).to_string());
            score_row.push(score(scores[index].get(&day)));
        }
        check_row.push(String::new());
        score_row.push(String::new());
        checks.write_record(&check_row)?;
        all_scores.write_record(&score_row)?;
    }
    put(SCORES_FILE, finish(all_scores)?)?;
    put(CHECKMARKS_FILE, finish(checks)?)?;
    let cursor = zip.finish().map_err(std::io::Error::other)?;
    Ok(cursor.into_inner())
}

fn habits_csv(habits: &[ExportedHabit<'_>]) -> Result<Vec<u8>, std::io::Error> {
    let mut rows = csv_writer();
    rows.write_record([
        "Position",
        "Name",
        "Type",
        "Question",
        "Description",
        "FrequencyNumerator",
        "FrequencyDenominator",
        "Color",
        "Unit",
        "Target Type",
        "Target Value",
        "Archived?",
    ])?;
    for (index, exported) in habits.iter().enumerate() {
        let habit = exported.habit;
        let (numerator, denominator) = frequency(&habit.plan.schedule);
        let measure = habit.measure.as_ref();
        rows.write_record([
            format!("{:03}", index + 1),
            habit.row.name.clone(),
            if measure.is_some() {
                "NUMERICAL"
            } else {
                "YES_NO"
            }
            .to_owned(),
            String::new(),
            habit.row.description.clone(),
            numerator.to_string(),
            denominator.to_string(),
            String::new(),
            measure.map(|m| m.unit.clone()).unwrap_or_default(),
            measure
                .map(|m| direction_name(m.direction).to_owned())
                .unwrap_or_default(),
            measure.map(|m| kotlin_double(m.target)).unwrap_or_default(),
            habit.is_archived().to_string(),
        ])?;
    }
    finish(rows)
}

fn direction_name(direction: TargetDirection) -> &'static str {
    match direction {
        TargetDirection::AtLeast => "AT_LEAST",
        TargetDirection::AtMost => "AT_MOST",
    }
}

fn score(score: Option<&f64>) -> String {
    format!("{:.4}", score.copied().unwrap_or_default())
}

/// From `today` back to `oldest`, newest first, as Loop lists days.
fn days_back(today: NaiveDate, oldest: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    today
        .iter_days()
        .rev()
        .take_while(move |day| *day >= oldest)
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new())
}

fn finish(rows: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, std::io::Error> {
    rows.into_inner()
        .map_err(|error| std::io::Error::other(error.to_string()))
}

/// Why a file cannot be read as a Loop export at all.
#[derive(Debug, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// A habit of a Loop export, with its days as written.
#[derive(Debug, PartialEq)]
pub struct LoopHabit {
    /// Its line in `Habits.csv`.
    pub line: u64,
    /// `001`, as its folder begins.
    pub position: String,
    pub name: String,
    pub description: String,
    pub numerator: Option<u32>,
    pub denominator: Option<u32>,
    /// `Unit`, `Target Type` and `Target Value` of a `NUMERICAL` habit, as written.
    pub measure: Option<(String, String, String)>,
    pub archived: bool,
    /// The habit's `Checkmarks.csv` in the archive, when there is one.
    pub days_file: Option<String>,
    pub days: Vec<LoopRow>,
}

/// A row of a habit's `Checkmarks.csv`, as written.
#[derive(Debug, PartialEq, Eq)]
pub struct LoopRow {
    pub line: u64,
    pub date: String,
    pub value: String,
    pub note: String,
}

/// The habits of a Loop export and their days. The archive may hold the export's files at its
/// root, as Loop writes them, or in one folder, as a re-zipped download does.
pub fn read(bytes: &[u8]) -> Result<Vec<LoopHabit>, Unreadable> {
    let mut archive = ZipArchive::new(Cursor::new(bytes))
        .map_err(|_| Unreadable("This is not a zip archive".into()))?;
    if archive.len() > MAX_ENTRIES {
        return Err(Unreadable(format!(
            "The archive holds more than {MAX_ENTRIES} files"
        )));
    }
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.map(std::borrow::Cow::into_owned))
        .collect::<Result<_, _>>()
        .map_err(|_| Unreadable("The archive's file names cannot be read".into()))?;
    let habits_file = names
        .iter()
        .filter(|name| name.rsplit('/').next() == Some(HABITS_FILE))
        .min_by_key(|name| name.len())
        .ok_or_else(|| {
            Unreadable(format!(
                "No {HABITS_FILE}: this is not a Loop Habit Tracker CSV export"
            ))
        })?
        .clone();
    let root = &habits_file[..habits_file.len() - HABITS_FILE.len()];
    let mut budget = MAX_TOTAL_BYTES;
    let mut text_of = |name: &str| -> Result<String, Unreadable> {
        let file = archive
            .by_name(name)
            .map_err(|_| Unreadable(format!("{name} cannot be read")))?;
        let mut text = String::new();
        file.take(MAX_FILE_BYTES.min(budget) + 1)
            .read_to_string(&mut text)
            .map_err(|_| Unreadable(format!("{name} is not UTF-8 text")))?;
        let read = u64::try_from(text.len()).unwrap_or(u64::MAX);
        if read > MAX_FILE_BYTES.min(budget) {
            return Err(Unreadable(format!("{name} is too large")));
        }
        budget -= read;
        Ok(text)
    };
    let mut habits = read_habits(&text_of(&habits_file)?)?;
    for habit in &mut habits {
        // Loop names the folder by the position and the cleaned name; the position alone
        // finds it even when the name was cleaned differently.
        let days_file = names.iter().find(|name| {
            let folder = name
                .strip_prefix(root)
                .and_then(|name| name.strip_suffix(&format!("/{CHECKMARKS_FILE}")));
            folder.is_some_and(|folder| {
                !folder.contains('/')
                    && (folder == habit.position
                        || folder.starts_with(&format!("{} ", habit.position)))
            })
        });
        if let Some(days_file) = days_file {
            habit.days = read_days(&text_of(days_file)?)?;
            habit.days_file = Some(days_file[root.len()..].to_owned());
        }
    }
    if habits.iter().map(|habit| habit.days.len()).sum::<usize>() > MAX_DAY_ROWS {
        return Err(Unreadable(format!(
            "The export holds more than {MAX_DAY_ROWS} days; import fewer habits at a time"
        )));
    }
    Ok(habits)
}

fn read_habits(text: &str) -> Result<Vec<LoopHabit>, Unreadable> {
    let mut rows = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = rows
        .headers()
        .map_err(|_| Unreadable(format!("{HABITS_FILE} has no header")))?
        .clone();
    let column = |names: &[&str]| {
        headers
            .iter()
            .position(|header| names.contains(&header.trim()))
    };
    let name =
        column(&["Name"]).ok_or_else(|| Unreadable(format!("{HABITS_FILE} has no Name column")))?;
    let position = column(&["Position"]);
    // Loop 1.x called the frequency NumRepetitions per Interval.
    let (numerator, denominator) = (
        column(&["FrequencyNumerator", "NumRepetitions"]),
        column(&["FrequencyDenominator", "Interval"]),
    );
    let (kind, question, description) = (
        column(&["Type"]),
        column(&["Question"]),
        column(&["Description"]),
    );
    let (unit, target_type, target) = (
        column(&["Unit"]),
        column(&["Target Type"]),
        column(&["Target Value"]),
    );
    let archived = column(&["Archived?"]);
    let mut habits = Vec::new();
    for (index, row) in rows.records().enumerate() {
        let row = row.map_err(|error| Unreadable(format!("{HABITS_FILE}: {error}")))?;
        let field = |at: Option<usize>| {
            at.and_then(|at| row.get(at))
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        let number = |at: Option<usize>| field(at).parse().ok();
        let text_or = |first: Option<usize>, then: Option<usize>| {
            Some(field(first))
                .filter(|text| !text.is_empty())
                .unwrap_or_else(|| field(then))
        };
        let measurable = field(kind) == "NUMERICAL";
        habits.push(LoopHabit {
            line: u64::try_from(index).unwrap_or(u64::MAX) + 2,
            name: field(Some(name)),
            description: text_or(description, question),
            numerator: number(numerator),
            denominator: number(denominator),
            measure: measurable.then(|| (field(unit), field(target_type), field(target))),
            archived: field(archived) == "true",
            position: Some(field(position))
                .filter(|position| !position.is_empty())
                .unwrap_or_else(|| format!("{:03}", index + 1)),
            days_file: None,
            days: Vec::new(),
        });
    }
    Ok(habits)
}

fn read_days(text: &str) -> Result<Vec<LoopRow>, Unreadable> {
    let mut rows = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut days = Vec::new();
    for (index, row) in rows.records().enumerate() {
        let row = row.map_err(|error| Unreadable(format!("{CHECKMARKS_FILE}: {error}")))?;
        let field = |at: usize| row.get(at).unwrap_or_default().to_owned();
        days.push(LoopRow {
            line: u64::try_from(index).unwrap_or(u64::MAX) + 2,
            date: field(0).trim().to_owned(),
            value: field(1).trim().to_owned(),
            note: field(2),
        });
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn cells_print_and_read_as_loop_writes_them() {
        for (cell, text) in [
            (Cell::YesManual, "YES_MANUAL"),
            (Cell::YesAuto, "YES_AUTO"),
            (Cell::No, "NO"),
            (Cell::Skip, "SKIP"),
            (Cell::Unknown, "UNKNOWN"),
            (Cell::Thousandths(8000), "8000"),
            (Cell::Thousandths(0), "NO"),
            (Cell::Thousandths(2), "YES_MANUAL"),
        ] {
            assert_eq!(cell.to_string(), text);
        }
        assert_eq!(Cell::parse(" 8500 "), Some(Cell::Thousandths(8500)));
        assert_eq!(Cell::parse("maybe"), None);
        // Yes/no days: done, skipped, or nothing to keep; Loop 1.x wrote 2 for done.
        assert_eq!(Cell::YesManual.day(false), Day::Done);
        assert_eq!(Cell::Thousandths(2).day(false), Day::Done);
        assert_eq!(Cell::Skip.day(false), Day::Skipped);
        for nothing in [Cell::YesAuto, Cell::No, Cell::Unknown, Cell::Thousandths(0)] {
            assert_eq!(nothing.day(false), Day::Nothing);
        }
        // Measurable days: thousandths, with Loop's names for the small ones.
        assert_eq!(Cell::Thousandths(8500).day(true), Day::Value(8.5));
        assert_eq!(Cell::No.day(true), Day::Value(0.0));
        assert_eq!(Cell::Skip.day(true), Day::Skipped);
        assert_eq!(Cell::Unknown.day(true), Day::Nothing);
        assert_eq!(Cell::Thousandths(-5).day(true), Day::Nothing);
    }

    #[test]
    fn frequencies_become_the_days_checked_most() {
        assert_eq!(schedule_for(1, 1, &[]), Some(Schedule::Daily));
        assert_eq!(schedule_for(3, 2, &[]), Some(Schedule::Daily));
        assert_eq!(schedule_for(0, 7, &[]), None);
        // Mondays (2026-03-02, 03-09) and Thursdays (03-05) most: a twice-weekly habit falls
        // on those; with nothing checked, on the first days of the week.
        let done = [
            d("2026-03-02"),
            d("2026-03-09"),
            d("2026-03-05"),
            d("2026-03-07"),
        ];
        assert_eq!(
            schedule_for(2, 7, &done),
            Schedule::weekly(&[Weekday::Mon, Weekday::Thu]).ok()
        );
        assert_eq!(
            schedule_for(2, 7, &[]),
            Schedule::weekly(&[Weekday::Mon, Weekday::Tue]).ok()
        );
        assert_eq!(
            schedule_for(1, 30, &[d("2026-01-15"), d("2026-02-15"), d("2026-03-01")]),
            Schedule::monthly(15).ok()
        );
        assert_eq!(
            schedule_for(1, 365, &[d("2025-06-01")]),
            Schedule::yearly(6, 1).ok()
        );
        assert_eq!(schedule_for(2, 5, &[]), Schedule::interval(2, 3).ok());
        assert_eq!(schedule_for(1, 1000, &[]), None);
        for schedule in [
            Schedule::Daily,
            Schedule::weekly(&[Weekday::Mon, Weekday::Fri]).unwrap(),
            Schedule::interval(2, 3).unwrap(),
        ] {
            let (numerator, denominator) = frequency(&schedule);
            assert_eq!(
                schedule_for(numerator, denominator, &[d("2026-03-02"), d("2026-03-06")]),
                Some(schedule)
            );
        }
    }

    #[test]
    fn numbers_print_as_kotlin_doubles_and_folders_as_loop_names_them() {
        assert_eq!(kotlin_double(8.0), "8.0");
        assert_eq!(kotlin_double(0.25), "0.25");
        assert_eq!(kotlin_double(0.0), "0.0");
        assert_eq!(kotlin_double(1e7), "1.0E7");
        assert_eq!(kotlin_double(2.5e8), "2.5E8");
        assert_eq!(folder(1, "Walk"), "001 Walk");
        assert_eq!(folder(12, "Tea & café!"), "012 Tea  caf");
        assert_eq!(folder(3, "日本"), "003");
    }

    #[test]
    fn an_export_past_the_day_budget_is_refused_whole() {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default();
        zip.start_file(HABITS_FILE, options).unwrap();
        zip.write_all(b"Position,Name\n001,Walk\n").unwrap();
        zip.start_file("001 Walk/Checkmarks.csv", options).unwrap();
        zip.write_all(b"Date,Value,Notes\n").unwrap();
        for _ in 0..=MAX_DAY_ROWS {
            zip.write_all(b"2026-01-01,YES_MANUAL,\n").unwrap();
        }
        let bytes = zip.finish().unwrap().into_inner();
        assert!(
            read(&bytes)
                .unwrap_err()
                .0
                .contains("more than 400000 days")
        );
    }

    #[test]
    fn an_archive_without_habits_csv_is_not_an_export() {
        assert_eq!(
            read(b"not a zip").unwrap_err(),
            Unreadable("This is not a zip archive".into())
        );
    }
}
