//! The habits export and import API: files travel as base64, so GraphiQL, the SPA and scripts
//! move them the same way.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::model::{HabitExportFormat, HabitImportFormat, ImportReport};
use crate::error::AppError;
use crate::graphql::{ContextExt, Permission};
use crate::habits::Calendar;
use crate::rbac::perm;

fn calendar(ctx: &Context<'_>) -> Result<Calendar, AppError> {
    let viewer = ctx.viewer()?;
    Ok(Calendar::of(ctx.app(), viewer.user_id, viewer.days))
}

/// A file of the user's habits.
#[derive(SimpleObject)]
pub struct HabitExport {
    /// A name to save it as (`Loop Habits CSV 2026-03-14.zip`).
    pub filename: String,
    /// `application/zip` or `application/json`.
    pub content_type: String,
    /// The file's bytes in standard base64.
    pub base64: String,
}

#[derive(Default)]
pub struct HabitIoQuery;

#[Object]
impl HabitIoQuery {
    /// The current user's habits and every marked day, as Loop Habit Tracker's CSV export or
    /// as JSON. Days are the user's (`timeZone`, `dayStart`); Loop's dense files (`Scores.csv`,
    /// `Checkmarks.csv`) run from the first known day to today.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn export_habits(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The file's layout.")] format: HabitExportFormat,
    ) -> async_graphql::Result<HabitExport> {
        let file = super::export(ctx.app(), &calendar(ctx)?, format).await?;
        Ok(HabitExport {
            filename: file.filename,
            content_type: file.content_type.to_owned(),
            base64: STANDARD.encode(file.bytes),
        })
    }
}

/// A file to import into the user's habits.
#[derive(InputObject)]
pub struct ImportHabitsInput {
    /// The file's layout.
    pub format: HabitImportFormat,
    /// The file's bytes in standard base64; the request as a whole is at most 1 MiB.
    pub data: String,
}

#[derive(Default)]
pub struct HabitIoMutation;

#[Object]
impl HabitIoMutation {
    /// Imports Loop Habit Tracker's CSV export: its habits (name, description, frequency,
    /// measure, archived) and their days (done, skipped, values, notes). Loop's "n times in d
    /// days" becomes a schedule on the weekdays (or day of the month, or date) checked most,
    /// or a cycle of n days on from the first check-in. Idempotent: a habit is found again by
    /// its name, and a day already held the same is left alone; a day held otherwise keeps
    /// what is here and is reported. All of it is written in one transaction. A file that is
    /// not such an export is `BAD_USER_INPUT` on `data`; rows that cannot be kept are listed
    /// in `refused` with the reason.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn import_habits(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The file and its layout.")] input: ImportHabitsInput,
    ) -> async_graphql::Result<ImportReport> {
        let bytes = STANDARD
            .decode(input.data.trim())
            .map_err(|_| AppError::bad_input("data", "Not standard base64"))?;
        let HabitImportFormat::LoopCsv = input.format;
        Ok(super::import_loop(ctx.app(), &calendar(ctx)?, &bytes).await?)
    }
}
