//! The audit log: who did what to what, from where. Rows are written with the change they
//! describe, in its transaction, and nothing edits or deletes them.

pub mod graphql;
pub mod model;
pub mod store;

pub use model::{Event, action};

use diesel_async::AsyncPgConnection;

use crate::error::AppError;
use crate::request::RequestInfo;

/// The work of an audited change: like [`crate::db::TransactionBody`], a closure from the
/// connection to the future of the work (which also names the event to record), callable more
/// than once because a contended transaction runs again.
pub trait AuditedBody<'c, R>: Fn(&'c mut AsyncPgConnection) -> Self::Work + Sync {
    type Work: Future<Output = Result<(R, Event), AppError>> + Send;
}

impl<'c, R, F, Work> AuditedBody<'c, R> for F
where
    F: Fn(&'c mut AsyncPgConnection) -> Work + Sync,
    Work: Future<Output = Result<(R, Event), AppError>> + Send,
{
    type Work = Work;
}

/// Runs `body` in a transaction (retried on contention, as [`crate::db::transaction`] is) and
/// writes the event it returns in that same transaction, so a change and its audit row commit
/// together or not at all. Every audited mutation goes through here.
pub async fn audited<R, F>(
    conn: &mut AsyncPgConnection,
    origin: &RequestInfo,
    body: F,
) -> Result<R, AppError>
where
    R: Send,
    F: AsyncFn(&mut AsyncPgConnection) -> Result<(R, Event), AppError> + for<'c> AuditedBody<'c, R>,
{
    let body = &body;
    crate::db::transaction(conn, async move |conn| {
        let (result, event) = body(&mut *conn).await?;
        store::record(conn, origin, event).await?;
        Ok(result)
    })
    .await
}
