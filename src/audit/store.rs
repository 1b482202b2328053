use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::Event;
use crate::error::AppError;
use crate::graphql::RequestInfo;

/// Writes `event` with the request's origin. Call it on the connection (and so in the
/// transaction) that makes the change.
pub async fn record(
    conn: &mut AsyncPgConnection,
    origin: &RequestInfo,
    event: Event,
) -> Result<(), AppError> {
    let (target_type, target_id) = event.target.unzip();
    diesel::sql_query(
        "INSERT INTO audit_log (actor_id, action, target_type, target_id, metadata, ip, user_agent, request_id)
         VALUES ($1, $2, $3, $4, $5, $6::inet, $7, $8)",
    )
    .bind::<Nullable<BigInt>, _>(event.actor_id)
    .bind::<Text, _>(event.action)
    .bind::<Nullable<Text>, _>(target_type)
    .bind::<Nullable<BigInt>, _>(target_id)
    .bind::<Jsonb, _>(event.metadata)
    .bind::<Nullable<Text>, _>(origin.ip.as_deref())
    .bind::<Nullable<Text>, _>(origin.user_agent.as_deref())
    .bind::<Nullable<Text>, _>(origin.request_id.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(QueryableByName, Debug)]
pub struct AuditRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub actor_id: Option<i64>,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub target_type: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub target_id: Option<i64>,
    #[diesel(sql_type = Jsonb)]
    pub metadata: serde_json::Value,
    #[diesel(sql_type = Nullable<Text>)]
    pub ip: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub user_agent: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub request_id: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct AuditFilter {
    /// Rows this user did, or that were done to their account.
    pub concerning_user: Option<i64>,
    pub actor_id: Option<i64>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    total: i64,
}

/// A page of rows matching `filter`, newest first, and how many match in all.
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: &AuditFilter,
    before_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<AuditRow>, i64), AppError> {
    // Every condition is written once with NULL meaning "no filter", so the statement text is
    // fixed and its plan cached.
    const MATCHES: &str =
        "($1::bigint IS NULL OR actor_id = $1 OR (target_type = 'user' AND target_id = $1))
          AND ($2::bigint IS NULL OR actor_id = $2)
          AND ($3::text IS NULL OR action = $3)
          AND ($4::timestamptz IS NULL OR created_at >= $4)
          AND ($5::timestamptz IS NULL OR created_at < $5)";
    let rows = diesel::sql_query(format!(
        "SELECT id, actor_id, action, target_type, target_id, metadata, host(ip) AS ip, user_agent, request_id, created_at
         FROM audit_log WHERE {MATCHES} AND ($6::bigint IS NULL OR id < $6)
         ORDER BY id DESC LIMIT $7"
    ))
    .bind::<Nullable<BigInt>, _>(filter.concerning_user)
    .bind::<Nullable<BigInt>, _>(filter.actor_id)
    .bind::<Nullable<Text>, _>(filter.action.as_deref())
    .bind::<Nullable<Timestamptz>, _>(filter.since)
    .bind::<Nullable<Timestamptz>, _>(filter.until)
    .bind::<Nullable<BigInt>, _>(before_id)
    .bind::<BigInt, _>(limit)
    .load::<AuditRow>(conn)
    .await?;
    let total = diesel::sql_query(format!(
        "SELECT count(*) AS total FROM audit_log WHERE {MATCHES}"
    ))
    .bind::<Nullable<BigInt>, _>(filter.concerning_user)
    .bind::<Nullable<BigInt>, _>(filter.actor_id)
    .bind::<Nullable<Text>, _>(filter.action.as_deref())
    .bind::<Nullable<Timestamptz>, _>(filter.since)
    .bind::<Nullable<Timestamptz>, _>(filter.until)
    .get_result::<Total>(conn)
    .await?
    .total;
    Ok((rows, total))
}
