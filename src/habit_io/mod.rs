//! Habits in and out: an export of the user's habits and days as Loop Habit Tracker's CSV or
//! as JSON, and an import of Loop's CSV export. An import runs in one transaction, makes each
//! habit once (found again by its name the next time), keeps what the user already has where a
//! day differs, and reports every row it left out and why.

pub mod graphql;
pub mod loop_csv;
pub mod model;
pub mod store;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use loop_csv::{Cell, Day, ExportedHabit, LoopHabit};
use model::{ExportFile, HabitExportFormat, ImportRefusalReason, ImportReport, RefusedRow};
use serde_json::json;

use crate::App;
use crate::dates::{EARLIEST, LATEST};
use crate::db;
use crate::error::{AppError, reason};
use crate::habits::model::{CompletedDays, DayEntry, Habit, HabitRow, Measure, NewHabit};
use crate::habits::rules::{self as habit_rules};
use crate::habits::store::{self as habits_store, HabitFilter};
use crate::habits::{Calendar, model::TargetDirection};

/// The user's habits and days as a file of `format`.
pub async fn export(
    app: &App,
    calendar: &Calendar,
    format: HabitExportFormat,
) -> Result<ExportFile, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    habits_store::archive_ended(&mut conn, calendar.now, Some(calendar.user_id)).await?;
    let filter = HabitFilter::default();
    let rows =
        habits_store::list(&mut conn, calendar.user_id, &filter, calendar.today, true).await?;
    let (habits, completions) = calendar.listed(rows)?;
    let ids: Vec<i64> = habits.iter().map(|habit| habit.row.id).collect();
    let mut entries: HashMap<i64, Vec<DayEntry>> = HashMap::new();
    for (habit_id, entry) in
        habits_store::entries_between(&mut conn, &ids, (EARLIEST, LATEST)).await?
    {
        entries.entry(habit_id).or_default().push(entry);
    }
    drop(conn);
    let days: HashMap<i64, &CompletedDays> = completions
        .iter()
        .map(|(habit_id, days)| (*habit_id, days.as_ref()))
        .collect();
    let none = CompletedDays::default();
    let exported: Vec<ExportedHabit<'_>> = habits
        .iter()
        .map(|habit| ExportedHabit {
            habit,
            days: days.get(&habit.row.id).copied().unwrap_or(&none),
            entries: entries.get(&habit.row.id).map_or(&[], Vec::as_slice),
        })
        .collect();
    let today = calendar.today;
    Ok(match format {
        HabitExportFormat::LoopCsv => ExportFile {
            filename: format!("Loop Habits CSV {today}.zip"),
            content_type: "application/zip",
            bytes: loop_csv::write(&exported, today)
                .map_err(|error| AppError::Internal(error.into()))?,
        },
        HabitExportFormat::Json => ExportFile {
            filename: format!("agora-habits-{today}.json"),
            content_type: "application/json",
            bytes: serde_json::to_vec_pretty(&json_export(&exported, today))
                .map_err(|error| AppError::Internal(error.into()))?,
        },
    })
}

/// Agora's own export: every habit with every marked day.
fn json_export(habits: &[ExportedHabit<'_>], today: NaiveDate) -> serde_json::Value {
    let habits: Vec<serde_json::Value> = habits
        .iter()
        .map(|exported| {
            let (habit, marks) = (exported.habit, exported.days);
            let day = |date: NaiveDate| {
                json!({"date": date, "done": marks.contains(date),
                       "skipped": marks.is_skipped(date), "value": null, "note": ""})
            };
            let mut days: BTreeMap<NaiveDate, serde_json::Value> = marks
                .between(EARLIEST, LATEST)
                .iter()
                .chain(marks.skipped_between(EARLIEST, LATEST))
                .map(|date| (*date, day(*date)))
                .collect();
            for entry in exported.entries {
                let held = days.entry(entry.date).or_insert_with(|| day(entry.date));
                held["value"] = json!(entry.value);
                held["note"] = json!(entry.note);
            }
            let mut schedule = habit.plan.schedule.parameters();
            schedule["kind"] = json!(habit.plan.schedule.kind());
            json!({
                "name": habit.row.name,
                "description": habit.row.description,
                "schedule": schedule,
                "startsOn": habit.row.starts_on,
                "endsOn": habit.row.ends_on,
                "archived": habit.is_archived(),
                "skipsPerMonth": habit.row.skips_per_month,
                "measure": habit.measure,
                "days": days.into_values().collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"format": "agora-habits/1", "exportedOn": today, "habits": habits})
}

/// Imports Loop Habit Tracker's CSV export (the zip's bytes) into the user's habits.
pub async fn import_loop(
    app: &App,
    calendar: &Calendar,
    bytes: &[u8],
) -> Result<ImportReport, AppError> {
    let habits = loop_csv::read(bytes)
        .map_err(|loop_csv::Unreadable(message)| AppError::bad_input("data", message))?;
    let mut conn = db::conn(&app.pool).await?;
    habits_store::archive_ended(&mut conn, calendar.now, Some(calendar.user_id)).await?;
    let cap = app.config.max_habits_per_user;
    db::transaction(&mut conn, async |conn| {
        let mut import = Import {
            calendar,
            cap,
            seen: HashSet::new(),
            report: ImportReport::default(),
        };
        for habit in &habits {
            import.habit(conn, habit).await?;
        }
        Ok(import.report)
    })
    .await
}

/// An import under way: what it has seen and done so far.
struct Import<'a> {
    calendar: &'a Calendar,
    cap: u32,
    /// Names already imported from this file, folded to lower case.
    seen: HashSet<String>,
    report: ImportReport,
}

/// A day of a Loop habit as it will be written.
struct WantedDay {
    line: u64,
    date: NaiveDate,
    day: Day,
    note: String,
}

impl Import<'_> {
    fn refuse(&mut self, file: &str, line: u64, reason: ImportRefusalReason, message: String) {
        self.report.refused.push(RefusedRow {
            file: file.to_owned(),
            line,
            reason,
            message,
        });
    }

    /// One habit of the file and its days: found or made, then its days written.
    async fn habit(
        &mut self,
        conn: &mut diesel_async::AsyncPgConnection,
        loop_habit: &LoopHabit,
    ) -> Result<(), AppError> {
        let line = loop_habit.line;
        let refuse_habit = |import: &mut Self, reason, message: String| {
            import.refuse(loop_csv::HABITS_FILE, line, reason, message);
        };
        let name = match habit_rules::name(&loop_habit.name) {
            Ok(name) => name,
            Err(error) => {
                refuse_habit(
                    self,
                    ImportRefusalReason::Malformed,
                    format!("Name: {}", error.message()),
                );
                return Ok(());
            }
        };
        if !self.seen.insert(name.to_lowercase()) {
            let message = format!("A habit named {name:?} came earlier in the file");
            refuse_habit(self, ImportRefusalReason::Duplicate, message);
            return Ok(());
        }
        let measure = match loop_habit.measure.as_ref().map(loop_measure).transpose() {
            Ok(measure) => measure,
            Err(error) => {
                refuse_habit(self, ImportRefusalReason::Malformed, error.message());
                return Ok(());
            }
        };
        let days = self.wanted_days(loop_habit, measure.is_some());
        let Some(row) = self
            .find_or_create(conn, loop_habit, &name, measure, &days)
            .await?
        else {
            return Ok(());
        };
        let habit = self.calendar.habit(row)?;
        self.write_days(conn, loop_habit, &habit, days).await
    }

    /// The rows of the habit's `Checkmarks.csv` that hold something to keep; the others are
    /// counted as ignored or refused.
    fn wanted_days(&mut self, loop_habit: &LoopHabit, measurable: bool) -> Vec<WantedDay> {
        let file = loop_habit.days_file.clone().unwrap_or_default();
        let mut dates = HashSet::new();
        let mut wanted = Vec::new();
        for row in &loop_habit.days {
            let malformed = |message: String| (ImportRefusalReason::Malformed, message);
            let parsed = row
                .date
                .parse::<NaiveDate>()
                .map_err(|_| malformed(format!("{:?} is not a date (YYYY-MM-DD)", row.date)))
                .and_then(|date| {
                    let cell = Cell::parse(&row.value)
                        .ok_or_else(|| malformed(format!("{:?} is not a Loop value", row.value)))?;
                    let note = habit_rules::note(&row.note)
                        .map_err(|error| malformed(format!("Notes: {}", error.message())))?;
                    Ok((date, cell.day(measurable), note))
                })
                .and_then(|(date, day, note)| {
                    if dates.insert(date) {
                        Ok((date, day, note))
                    } else {
                        let message = format!("{date} came earlier in the file");
                        Err((ImportRefusalReason::Duplicate, message))
                    }
                });
            match parsed {
                Ok((_, Day::Nothing, _)) => self.report.rows_ignored += 1,
                Ok((date, day, note)) => wanted.push(WantedDay {
                    line: row.line,
                    date,
                    day,
                    note,
                }),
                Err((reason, message)) => self.refuse(&file, row.line, reason, message),
            }
        }
        wanted
    }

    /// The habit an earlier import made of this one, or a new one with Loop's fields; `None`
    /// (with the refusal reported) when neither can be.
    async fn find_or_create(
        &mut self,
        conn: &mut diesel_async::AsyncPgConnection,
        loop_habit: &LoopHabit,
        name: &str,
        measure: Option<Measure>,
        days: &[WantedDay],
    ) -> Result<Option<HabitRow>, AppError> {
        let (user_id, now) = (self.calendar.user_id, self.calendar.now);
        let line = loop_habit.line;
        let source = format!("loop:{name}");
        if let Some(id) = store::imported_habit(conn, user_id, &source).await? {
            let row = habits_store::find(conn, user_id, id).await?;
            if row.measure.is_some() != measure.is_some() {
                let message = format!("{name:?} was imported before as another kind of habit");
                let reason = ImportRefusalReason::Conflict;
                self.refuse(loop_csv::HABITS_FILE, line, reason, message);
                return Ok(None);
            }
            self.report.habits_matched += 1;
            return Ok(Some(row));
        }
        // A skipped day was a day the habit fell on, as much as a checked one.
        let marked: Vec<NaiveDate> = days.iter().map(|day| day.date).collect();
        let (numerator, denominator) = (
            loop_habit.numerator.unwrap_or(1),
            loop_habit.denominator.unwrap_or(1),
        );
        let Some(schedule) = loop_csv::schedule_for(numerator, denominator, &marked) else {
            let message = format!("{numerator} times in {denominator} days has no schedule here");
            self.refuse(
                loop_csv::HABITS_FILE,
                line,
                ImportRefusalReason::Unsupported,
                message,
            );
            return Ok(None);
        };
        let today = self.calendar.today;
        let starts_on = days
            .iter()
            .map(|day| day.date)
            .filter(|date| (EARLIEST..=today).contains(date))
            .min()
            .unwrap_or(today);
        let new = NewHabit {
            name: name.to_owned(),
            description: habit_rules::description(&loop_habit.description).unwrap_or_default(),
            theme_id: None,
            schedule,
            starts_on,
            ends_on: None,
            skips_per_month: None,
            measure,
        };
        let row = match habits_store::create(conn, user_id, &new, self.cap, now).await {
            Err(AppError::Conflict {
                reason: reason::LIMIT_REACHED,
                message,
                ..
            }) => {
                let reason = ImportRefusalReason::LimitReached;
                self.refuse(loop_csv::HABITS_FILE, line, reason, message);
                return Ok(None);
            }
            created => created?,
        };
        store::remember_import(conn, (user_id, &source), row.id, now).await?;
        self.report.habits_created += 1;
        if loop_habit.archived {
            return Ok(Some(
                habits_store::set_archived(conn, row.id, Some(now), now).await?,
            ));
        }
        Ok(Some(row))
    }

    /// Writes the days the habit does not hold yet; a day it holds otherwise is kept.
    async fn write_days(
        &mut self,
        conn: &mut diesel_async::AsyncPgConnection,
        loop_habit: &LoopHabit,
        habit: &Habit,
        days: Vec<WantedDay>,
    ) -> Result<(), AppError> {
        let file = loop_habit.days_file.clone().unwrap_or_default();
        let held = store::days(conn, habit.row.id).await?;
        let today = self.calendar.today;
        let mut new = Vec::new();
        for wanted in days {
            let (skipped, value) = match wanted.day {
                Day::Skipped => (true, None),
                Day::Value(value) => (false, Some(value)),
                Day::Done | Day::Nothing => (false, None),
            };
            let refusal = if !(EARLIEST..=today).contains(&wanted.date) {
                Some((
                    ImportRefusalReason::OutOfRange,
                    format!("{} is after today or before {EARLIEST}", wanted.date),
                ))
            } else if !habit.plan.is_scheduled(wanted.date) {
                Some((
                    ImportRefusalReason::NotScheduled,
                    format!(
                        "{} is not a scheduled day of {}",
                        wanted.date, habit.row.name
                    ),
                ))
            } else if let Some(Err(error)) = value.map(habit_rules::value) {
                Some((ImportRefusalReason::Malformed, error.message()))
            } else {
                None
            };
            if let Some((reason, message)) = refusal {
                self.refuse(&file, wanted.line, reason, message);
                continue;
            }
            match held.get(&wanted.date) {
                Some(stored) if *stored == (skipped, value) => self.report.days_unchanged += 1,
                Some(_) => {
                    let message = format!("{} already holds another check-in", wanted.date);
                    self.refuse(&file, wanted.line, ImportRefusalReason::Conflict, message);
                }
                None => new.push(store::NewDay {
                    date: wanted.date,
                    skipped,
                    value,
                    note: wanted.note,
                }),
            }
        }
        let now = self.calendar.now;
        let added = store::insert_days(conn, habit.row.id, &new, now).await?;
        self.report.days_added += u32::try_from(added).unwrap_or(u32::MAX);
        Ok(())
    }
}

/// A Loop habit's `Unit`, `Target Type` and `Target Value` as a measure; Loop versions before
/// 2.1 had no target type, and meant at least.
fn loop_measure(
    (unit, target_type, target): &(String, String, String),
) -> Result<Measure, AppError> {
    let direction = match target_type.as_str() {
        "AT_MOST" => TargetDirection::AtMost,
        "AT_LEAST" | "" => TargetDirection::AtLeast,
        other => {
            return Err(AppError::bad_input(
                "measure.direction",
                format!("Target Type {other:?} is neither AT_LEAST nor AT_MOST"),
            ));
        }
    };
    let target = target.parse().map_err(|_| {
        AppError::bad_input("measure.target", format!("{target:?} is not a number"))
    })?;
    habit_rules::measure(unit, target, direction)
}
