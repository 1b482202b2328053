//! The audit log: who did what to what, from where. Rows are written with the change they
//! describe, in its transaction, and nothing edits or deletes them.

pub mod denial;
pub mod graphql;
pub mod model;
pub mod store;

pub use model::{Event, action};

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;

use crate::App;
use crate::error::AppError;
use crate::request::RequestInfo;
use model::AuditRow;
use store::{AuditFilter, AuditScope};

/// Action names are short dotted words; a longer filter could match nothing.
const MAX_ACTION_CHARS: usize = 100;

/// The work of an audited change: like [`crate::db::TransactionBody`], a closure from the
/// connection to the future of the work (which also names the event to record: an [`Event`], or
/// an `Option<Event>` for a change that may turn out to change nothing), callable more than once
/// because a contended transaction runs again.
pub trait AuditedBody<'c, R, E>: Fn(&'c mut AsyncPgConnection) -> Self::Work + Sync {
    type Work: Future<Output = Result<(R, E), AppError>> + Send;
}

impl<'c, R, E, F, Work> AuditedBody<'c, R, E> for F
where
    F: Fn(&'c mut AsyncPgConnection) -> Work + Sync,
    Work: Future<Output = Result<(R, E), AppError>> + Send,
{
    type Work = Work;
}

/// Runs `body` in a transaction (retried on contention, as [`crate::db::transaction`] is) and
/// writes the event it returns in that same transaction, so a change and its audit row commit
/// together or not at all, the row stamped `now`. Every audited mutation goes through here.
pub async fn audited<R, E, F>(
    conn: &mut AsyncPgConnection,
    origin: &RequestInfo,
    now: DateTime<Utc>,
    body: F,
) -> Result<R, AppError>
where
    R: Send,
    E: Into<Option<Event>> + Send,
    F: AsyncFn(&mut AsyncPgConnection) -> Result<(R, E), AppError> + for<'c> AuditedBody<'c, R, E>,
{
    let body = &body;
    crate::db::transaction(conn, async |conn| {
        let (result, event) = body(&mut *conn).await?;
        if let Some(event) = event.into() {
            store::record(conn, origin, event, now).await?;
        }
        Ok(result)
    })
    .await
}

/// The log narrowed by the conditions given, each checked first (`BAD_USER_INPUT` naming it).
pub fn matching(
    actor_id: Option<i64>,
    action: Option<&str>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<AuditScope, AppError> {
    Ok(AuditScope::Matching(AuditFilter {
        actor_id,
        action: action
            .map(|action| crate::text::term("action", action, MAX_ACTION_CHARS))
            .transpose()?,
        since: since
            .map(|since| crate::dates::instant_in_window("since", since))
            .transpose()?,
        until: until
            .map(|until| crate::dates::instant_in_window("until", until))
            .transpose()?,
    }))
}

/// Up to `limit` entries in `scope` before `before_id`, newest first, and how many there are in
/// all when `count`.
pub async fn page(
    app: &App,
    scope: &AuditScope,
    before_id: Option<i64>,
    limit: i64,
    count: bool,
) -> Result<(Vec<AuditRow>, Option<i64>), AppError> {
    let mut conn = crate::db::conn(&app.pool).await?;
    store::list(&mut conn, scope, before_id, limit, count).await
}
