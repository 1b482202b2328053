//! Writing audit rows (in the caller's transaction) and reading pages of them.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{AuditRow, Event};
use crate::db::schema::audit_log;
use crate::error::AppError;
use crate::request::RequestInfo;

/// The head of an audit row's insert, for statements that write their row themselves (a trade
/// records itself in the statement that makes it). The address is bound as text: `ip` is an
/// `inet`, which the crate does not write.
pub const INSERT: &str = "INSERT INTO audit_log (actor_id, action, target_type, target_id, metadata, ip, user_agent, request_id, client_request_id, created_at)";

/// Writes `event` with the request's origin, made at `now`. Call it on the connection (and so in
/// the transaction) that makes the change.
pub async fn record(
    conn: &mut AsyncPgConnection,
    origin: &RequestInfo,
    event: Event,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let (target_type, target_id) = event.target.unzip();
    diesel::sql_query(format!(
        "{INSERT} VALUES ($1, $2, $3, $4, $5, $6::inet, $7, $8, $9, $10)"
    ))
    .bind::<Nullable<BigInt>, _>(event.actor_id)
    .bind::<Text, _>(event.action)
    .bind::<Nullable<Text>, _>(target_type)
    .bind::<Nullable<BigInt>, _>(target_id)
    .bind::<Jsonb, _>(event.metadata)
    .bind::<Nullable<Text>, _>(origin.ip.as_deref())
    .bind::<Nullable<Text>, _>(origin.user_agent.as_deref())
    .bind::<Nullable<Text>, _>(origin.request_id.as_deref())
    .bind::<Nullable<Text>, _>(origin.client_request_id.as_deref())
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Which entries a page lists.
pub enum AuditScope {
    /// What this user did, and what was done to their account.
    Concerning(i64),
    /// The whole log narrowed by the conditions given.
    Matching(AuditFilter),
}

#[derive(Default)]
pub struct AuditFilter {
    pub actor_id: Option<i64>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The entries matching `filter`, with a condition only for each one given: a condition written
/// as `$1 IS NULL OR ...` could use no index in the generic plans the pool keeps. Each
/// combination is one statement text, prepared once.
fn matching(filter: &AuditFilter) -> audit_log::BoxedQuery<'_, Pg> {
    let mut query = audit_log::table.into_boxed();
    if let Some(actor_id) = filter.actor_id {
        query = query.filter(audit_log::actor_id.eq(actor_id));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_log::action.eq(action));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_log::created_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_log::created_at.lt(until));
    }
    query
}

/// The entries about a user's account that they did not do themselves: with those they did,
/// each entry once.
const DONE_TO: &str = "target_type = 'user' AND target_id = $1 AND actor_id IS DISTINCT FROM $1";

/// A page of the entries in `scope` before `before_id`, newest first, and how many there are in
/// all when `count`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    scope: &AuditScope,
    before_id: Option<i64>,
    limit: i64,
    count: bool,
) -> Result<(Vec<AuditRow>, Option<i64>), AppError> {
    let filter = match scope {
        AuditScope::Concerning(user_id) => {
            return concerning(conn, *user_id, before_id, limit, count).await;
        }
        AuditScope::Matching(filter) => filter,
    };
    let mut page = matching(filter)
        .select(AuditRow::as_select())
        .order(audit_log::id.desc())
        .limit(limit);
    if let Some(before_id) = before_id {
        page = page.filter(audit_log::id.lt(before_id));
    }
    let rows = page.load(conn).await?;
    let total = if count {
        Some(matching(filter).count().get_result(conn).await?)
    } else {
        None
    };
    Ok((rows, total))
}

/// The newest entries of each half, each read backwards along its own index, then merged: with
/// one `actor_id = $1 OR target_id = $1` condition the generic plan walks the whole log
/// backwards by id, filtering, which for a quiet account reads all of it.
async fn concerning(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    before_id: Option<i64>,
    limit: i64,
    count: bool,
) -> Result<(Vec<AuditRow>, Option<i64>), AppError> {
    // Ids are positive: with no cursor this passes every row, in the same statement text.
    let before_id = before_id.unwrap_or(i64::MAX);
    let rows = diesel::sql_query(format!(
        "SELECT id, actor_id, action, target_type, target_id, metadata, host(ip) AS ip,
                user_agent, request_id, created_at, client_request_id
         FROM ((SELECT * FROM audit_log WHERE actor_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3)
               UNION ALL
               (SELECT * FROM audit_log WHERE {DONE_TO} AND id < $2 ORDER BY id DESC LIMIT $3))
              AS concerning
         ORDER BY id DESC LIMIT $3"
    ))
    .bind::<BigInt, _>(user_id)
    .bind::<BigInt, _>(before_id)
    .bind::<BigInt, _>(limit)
    .load::<AuditRow>(conn)
    .await?;
    let total = if count {
        let total = diesel::sql_query(format!(
            "SELECT (SELECT count(*) FROM audit_log WHERE actor_id = $1)
                  + (SELECT count(*) FROM audit_log WHERE {DONE_TO}) AS total"
        ))
        .bind::<BigInt, _>(user_id)
        .get_result::<Total>(conn)
        .await?;
        Some(total.total)
    } else {
        None
    };
    Ok((rows, total))
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    total: i64,
}
