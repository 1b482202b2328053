//! SQL of webhooks: endpoints, the delivery queue (enqueued inside the caller's transaction,
//! claimed by any number of workers with `SKIP LOCKED` and a lease), and the outcome of each
//! attempt, which may pause an endpoint.

use chrono::{DateTime, Duration, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Jsonb, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{Attempt, Delivery, DeliveryState, Endpoint, QueuedEvent};
use crate::db::schema::{webhook_deliveries, webhook_endpoints};
use crate::error::AppError;

/// What an event says, as a `jsonb` expression of the statement it is queued in.
pub enum EventData<'a> {
    /// A value computed before the statement.
    Json(&'a serde_json::Value),
    /// SQL over the other relations of the statement, named in `Queue::from`.
    Sql(&'static str),
}

/// `INSERT … SELECT` of one delivery of `event` per endpoint subscribed to its type (paused
/// ones too: they get it once resumed). It runs alone ([`enqueue`]) or as a part of a larger
/// statement (a trade's CTE), so the event commits with its change or not at all.
pub struct Queue<'a> {
    pub event: &'a QueuedEvent,
    pub data: EventData<'a>,
    /// Relations `data` reads besides the endpoints, as `, a, b` (or empty).
    pub from: &'static str,
}

impl QueryId for Queue<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Pg> for Queue<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let event_type = self.event.event_type.name();
        out.push_sql(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, payload, state, \
             attempts, next_attempt_at, created_at) SELECT webhook_endpoints.id, ",
        );
        out.push_bind_param::<Text, _>(&self.event.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(event_type)?;
        out.push_sql(", jsonb_build_object('type', ");
        out.push_bind_param::<Text, _>(event_type)?;
        out.push_sql("::text, 'id', ");
        out.push_bind_param::<Text, _>(&self.event.id)?;
        out.push_sql("::text, 'timestamp', ");
        out.push_bind_param::<Text, _>(&self.event.timestamp)?;
        out.push_sql("::text, 'data', ");
        match &self.data {
            EventData::Json(value) => {
                out.push_bind_param::<Jsonb, _>(*value)?;
            }
            EventData::Sql(sql) => out.push_sql(sql),
        }
        out.push_sql(")::text, 'PENDING', 0, ");
        out.push_bind_param::<Timestamptz, _>(&self.event.at)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamptz, _>(&self.event.at)?;
        out.push_sql(" FROM webhook_endpoints");
        out.push_sql(self.from);
        out.push_sql(" WHERE ");
        out.push_bind_param::<Text, _>(event_type)?;
        out.push_sql(" = ANY (webhook_endpoints.events)");
        Ok(())
    }
}

/// Queues `event` with `data` for every endpoint subscribed to it, in the caller's
/// transaction; how many deliveries that made.
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    event: &QueuedEvent,
    data: &serde_json::Value,
) -> Result<usize, AppError> {
    let queue = Queue {
        event,
        data: EventData::Json(data),
        from: "",
    };
    Ok(queue.execute(conn).await?)
}

pub async fn insert_endpoint(
    conn: &mut AsyncPgConnection,
    url: &str,
    description: &str,
    events: &[String],
    sealed_secret: &[u8],
    now: DateTime<Utc>,
) -> Result<Endpoint, AppError> {
    Ok(diesel::insert_into(webhook_endpoints::table)
        .values((
            webhook_endpoints::url.eq(url),
            webhook_endpoints::description.eq(description),
            webhook_endpoints::events.eq(events),
            webhook_endpoints::sealed_secret.eq(sealed_secret),
            webhook_endpoints::failure_streak.eq(0),
            webhook_endpoints::created_at.eq(now),
            webhook_endpoints::updated_at.eq(now),
        ))
        .returning(Endpoint::as_returning())
        .get_result(conn)
        .await?)
}

/// Changes of an endpoint; `None` keeps a field.
#[derive(AsChangeset)]
#[diesel(table_name = webhook_endpoints)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    pub sealed_secret: Option<Vec<u8>>,
    pub updated_at: DateTime<Utc>,
}

pub async fn update_endpoint(
    conn: &mut AsyncPgConnection,
    id: i64,
    changes: &EndpointChanges,
) -> Result<Endpoint, AppError> {
    diesel::update(webhook_endpoints::table.find(id))
        .set(changes)
        .returning(Endpoint::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Webhook endpoint", id))
}

/// Deletes the endpoint with its deliveries.
pub async fn delete_endpoint(conn: &mut AsyncPgConnection, id: i64) -> Result<Endpoint, AppError> {
    diesel::delete(webhook_endpoints::table.find(id))
        .returning(Endpoint::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Webhook endpoint", id))
}

/// Lifts the endpoint's pause with a clean slate, and makes its pending deliveries due now.
pub async fn resume(
    conn: &mut AsyncPgConnection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Endpoint, AppError> {
    let endpoint = diesel::update(webhook_endpoints::table.find(id))
        .set((
            webhook_endpoints::paused_at.eq(None::<DateTime<Utc>>),
            webhook_endpoints::failure_streak.eq(0),
            webhook_endpoints::updated_at.eq(now),
        ))
        .returning(Endpoint::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Webhook endpoint", id))?;
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(id))
            .filter(webhook_deliveries::state.eq(DeliveryState::Pending.name()))
            .filter(webhook_deliveries::next_attempt_at.gt(now)),
    )
    .set(webhook_deliveries::next_attempt_at.eq(now))
    .execute(conn)
    .await?;
    Ok(endpoint)
}

pub async fn find_endpoint(conn: &mut AsyncPgConnection, id: i64) -> Result<Endpoint, AppError> {
    webhook_endpoints::table
        .find(id)
        .select(Endpoint::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Webhook endpoint", id))
}

/// A page of endpoints in id order, and how many there are.
pub async fn endpoints_page(
    conn: &mut AsyncPgConnection,
    after_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<Endpoint>, i64), AppError> {
    let rows = webhook_endpoints::table
        .filter(webhook_endpoints::id.gt(after_id.unwrap_or(0)))
        .order(webhook_endpoints::id)
        .limit(limit)
        .select(Endpoint::as_select())
        .load(conn)
        .await?;
    let total = webhook_endpoints::table.count().get_result(conn).await?;
    Ok((rows, total))
}

/// Which deliveries a listing shows.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliveryFilter {
    pub endpoint_id: Option<i64>,
    pub state: Option<DeliveryState>,
}

/// A page of the deliveries `filter` admits, newest first, and how many it admits.
pub async fn deliveries_page(
    conn: &mut AsyncPgConnection,
    filter: DeliveryFilter,
    before_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<Delivery>, i64), AppError> {
    let admitted = || {
        let mut query = webhook_deliveries::table.into_boxed();
        if let Some(endpoint_id) = filter.endpoint_id {
            query = query.filter(webhook_deliveries::endpoint_id.eq(endpoint_id));
        }
        if let Some(state) = filter.state {
            query = query.filter(webhook_deliveries::state.eq(state.name()));
        }
        query
    };
    let mut page = admitted()
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .select(Delivery::as_select());
    if let Some(before_id) = before_id {
        page = page.filter(webhook_deliveries::id.lt(before_id));
    }
    let rows = page.load(conn).await?;
    let total = admitted().count().get_result(conn).await?;
    Ok((rows, total))
}

/// Queues the delivery again from its first attempt, due now, whatever became of it.
pub async fn redeliver(
    conn: &mut AsyncPgConnection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Delivery, AppError> {
    diesel::update(webhook_deliveries::table.find(id))
        .set((
            webhook_deliveries::state.eq(DeliveryState::Pending.name()),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(now),
            webhook_deliveries::delivered_at.eq(None::<DateTime<Utc>>),
        ))
        .returning(Delivery::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Webhook delivery", id))
}

/// Claims up to `limit` due deliveries of endpoints not paused, counting the attempt and
/// reserving each for `lease`: other workers skip the locked rows now and find them not due
/// once this commits, so each attempt is made by one worker.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Attempt>, AppError> {
    crate::db::transaction(conn, async |conn| {
        let running = webhook_endpoints::table
            .filter(webhook_endpoints::paused_at.is_null())
            .select(webhook_endpoints::id);
        let ids: Vec<i64> = webhook_deliveries::table
            .filter(webhook_deliveries::state.eq(DeliveryState::Pending.name()))
            .filter(webhook_deliveries::next_attempt_at.le(now))
            .filter(webhook_deliveries::endpoint_id.eq_any(running))
            .order(webhook_deliveries::next_attempt_at)
            .limit(limit)
            .select(webhook_deliveries::id)
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
            .set((
                webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
                webhook_deliveries::next_attempt_at.eq(now + lease),
                webhook_deliveries::last_attempt_at.eq(now),
            ))
            .execute(conn)
            .await?;
        Ok(webhook_deliveries::table
            .inner_join(webhook_endpoints::table)
            .filter(webhook_deliveries::id.eq_any(&ids))
            .order(webhook_deliveries::id)
            .select((
                webhook_deliveries::id,
                webhook_deliveries::endpoint_id,
                webhook_deliveries::event_id,
                webhook_deliveries::payload,
                webhook_deliveries::attempts,
                webhook_endpoints::url,
                webhook_endpoints::sealed_secret,
            ))
            .load(conn)
            .await?)
    })
    .await
}

/// Records a delivered attempt; the endpoint's run of failures ends.
pub async fn mark_delivered(
    conn: &mut AsyncPgConnection,
    attempt: &Attempt,
    status: i32,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    crate::db::transaction(conn, async |conn| {
        diesel::update(webhook_deliveries::table.find(attempt.id))
            .set((
                webhook_deliveries::state.eq(DeliveryState::Delivered.name()),
                webhook_deliveries::delivered_at.eq(now),
                webhook_deliveries::last_status.eq(status),
                webhook_deliveries::last_error.eq(None::<String>),
            ))
            .execute(conn)
            .await?;
        diesel::update(webhook_endpoints::table.find(attempt.endpoint_id))
            .set(webhook_endpoints::failure_streak.eq(0))
            .execute(conn)
            .await?;
        Ok(())
    })
    .await
}

/// Records a failed attempt: the delivery is retried at `retry_at`, or dead when that is
/// `None`; the endpoint's run of failures grows, and at `pause_after` it is paused. True when
/// this attempt paused it.
pub async fn mark_failed(
    conn: &mut AsyncPgConnection,
    attempt: &Attempt,
    status: Option<i32>,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    pause_after: i32,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let state = match retry_at {
        Some(_) => DeliveryState::Pending,
        None => DeliveryState::Dead,
    };
    crate::db::transaction(conn, async |conn| {
        diesel::update(webhook_deliveries::table.find(attempt.id))
            .set((
                webhook_deliveries::state.eq(state.name()),
                webhook_deliveries::next_attempt_at.eq(retry_at.unwrap_or(now)),
                webhook_deliveries::last_status.eq(status),
                webhook_deliveries::last_error.eq(error),
            ))
            .execute(conn)
            .await?;
        let streak: Option<i32> =
            diesel::update(webhook_endpoints::table.find(attempt.endpoint_id))
                .set(webhook_endpoints::failure_streak.eq(webhook_endpoints::failure_streak + 1))
                .returning(webhook_endpoints::failure_streak)
                .get_result(conn)
                .await
                .optional()?;
        if streak.is_none_or(|streak| streak < pause_after) {
            return Ok(false);
        }
        let paused = diesel::update(
            webhook_endpoints::table
                .find(attempt.endpoint_id)
                .filter(webhook_endpoints::paused_at.is_null()),
        )
        .set(webhook_endpoints::paused_at.eq(now))
        .execute(conn)
        .await?;
        Ok(paused == 1)
    })
    .await
}

/// Deliveries the cleanup deletes per statement.
const CLEANUP_BATCH: i64 = 1000;

/// Deletes the deliveries delivered before `before`; how many. Dead ones stay: they are the
/// dead-letter list until redelivered or their endpoint is deleted.
pub async fn delete_delivered_before(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
) -> Result<usize, AppError> {
    // A batch at a time, oldest first: a LIMIT makes the generic plan read the delivery-time
    // index, where a plain range (guessed to match a third of the queue) would scan it all.
    // A delivered row is never changed again, so one read between the two statements holds.
    let mut deleted = 0;
    loop {
        let ids: Vec<i64> = webhook_deliveries::table
            .select(webhook_deliveries::id)
            .filter(webhook_deliveries::delivered_at.lt(before))
            .order(webhook_deliveries::delivered_at)
            .limit(CLEANUP_BATCH)
            .load(conn)
            .await?;
        let batch =
            diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
                .execute(conn)
                .await?;
        deleted += batch;
        if (batch as i64) < CLEANUP_BATCH {
            return Ok(deleted);
        }
    }
}
