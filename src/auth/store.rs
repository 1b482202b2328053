//! Sessions, refresh tokens and API tokens in the database. Callers pass digests, never
//! secrets, and the instant they act at (the app clock), which every expiry is compared with.

use chrono::{DateTime, Duration, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bytea, Double, Text, Timestamptz, Untyped};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{ApiToken, ClientInfo, NewApiToken, Session};
use crate::accounts::model::User;
use crate::db::quota;
use crate::db::schema::{api_tokens, permissions, refresh_tokens, sessions, users};
use crate::error::AppError;

/// The `users` columns `User` reads, for the hand-written statements that load one with more.
macro_rules! user_columns {
    () => {
        "u.id, u.username, u.email, u.first_name, u.last_name, u.time_zone, u.budget, u.is_active,
         u.created_at, u.updated_at, u.last_login_at, u.email_verified_at, u.deleted_at,
         u.day_start_minutes"
    };
}

/// What one request learns about its access token's session, in one statement: the session's
/// user as they are now, and the RBAC epoch that says whether a kept permission set is current.
#[derive(QueryableByName)]
pub struct LiveSession {
    #[diesel(embed)]
    pub user: User,
    #[diesel(sql_type = Timestamptz)]
    pub last_seen_at: DateTime<Utc>,
    /// When the user last proved who they are in this session (sign-in or `reauthenticate`).
    #[diesel(sql_type = Timestamptz)]
    pub proved_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub rbac_epoch: i64,
}

/// The session behind an access token, if it is still live (not revoked, not expired, not idle,
/// user active). Run on every authenticated request, so logout, password change, deactivation
/// and (through the epoch) role changes take effect on the next request.
pub async fn live_session(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    session_id: i64,
    idle_secs: u64,
    now: DateTime<Utc>,
) -> Result<Option<LiveSession>, AppError> {
    Ok(LiveSessionQuery {
        session_id,
        user_id,
        idle_secs: idle_secs as f64,
        now,
    }
    .get_result(conn)
    .await
    .optional()?)
}

/// `live_session`'s statement. Written out as a query type rather than a `sql_query` because
/// diesel prepares a `sql_query` afresh on every call (a round trip and a plan each time), while
/// a query type with a fixed text stays prepared on the connection like the DSL's queries.
#[derive(QueryId)]
struct LiveSessionQuery {
    session_id: i64,
    user_id: i64,
    idle_secs: f64,
    now: DateTime<Utc>,
}

impl QueryFragment<Pg> for LiveSessionQuery {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(concat!(
            "SELECT ",
            user_columns!(),
            ", s.last_seen_at, s.proved_at, (SELECT epoch FROM rbac_epoch) AS rbac_epoch
             FROM sessions s
             JOIN users u ON u.id = s.user_id
             WHERE s.id = "
        ));
        out.push_bind_param::<BigInt, _>(&self.session_id)?;
        out.push_sql(" AND s.user_id = ");
        out.push_bind_param::<BigInt, _>(&self.user_id)?;
        out.push_sql(" AND u.is_active AND s.revoked_at IS NULL AND s.expires_at > ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(" AND s.last_seen_at > ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(" - make_interval(secs => ");
        out.push_bind_param::<Double, _>(&self.idle_secs)?;
        out.push_sql(")");
        Ok(())
    }
}

impl Query for LiveSessionQuery {
    type SqlType = Untyped;
}

/// Pushes the idle deadline forward. Callers do it at most once a minute per session, so
/// reads stay reads.
pub async fn touch_session(
    conn: &mut AsyncPgConnection,
    session_id: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::update(sessions::table.find(session_id))
        .set(sessions::last_seen_at.eq(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Opens a session at `now`, proved by `factors`, with its first refresh token (by digest) and
/// records the login time, atomically.
pub async fn open_session(
    conn: &mut AsyncPgConnection,
    (user_id, factors): (i64, &[String]),
    client: &ClientInfo,
    expires_at: DateTime<Utc>,
    refresh_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Session, AppError> {
    crate::db::transaction(conn, async |conn| {
        let session: Session = diesel::insert_into(sessions::table)
            .values((
                sessions::user_id.eq(user_id),
                sessions::created_at.eq(now),
                sessions::last_seen_at.eq(now),
                sessions::expires_at.eq(expires_at),
                sessions::ip.eq(client.ip.as_deref()),
                sessions::user_agent.eq(client.user_agent.as_deref()),
                sessions::proved_at.eq(now),
                sessions::proved_by.eq(factors),
            ))
            .returning(Session::as_returning())
            .get_result(conn)
            .await?;
        diesel::insert_into(refresh_tokens::table)
            .values((
                refresh_tokens::session_id.eq(session.id),
                refresh_tokens::token_hash.eq(refresh_hash),
                refresh_tokens::created_at.eq(now),
            ))
            .execute(conn)
            .await?;
        diesel::update(users::table.find(user_id))
            .set(users::last_login_at.eq(now))
            .execute(conn)
            .await?;
        Ok(session)
    })
    .await
}

/// Records that the user of a live session proved who they are again at `now`, with
/// `factors`; false when the session is no longer live.
pub async fn record_proof(
    conn: &mut AsyncPgConnection,
    (user_id, session_id): (i64, i64),
    factors: &[String],
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let updated = diesel::update(sessions::table)
        .filter(sessions::id.eq(session_id))
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .set((sessions::proved_at.eq(now), sessions::proved_by.eq(factors)))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

pub enum Rotation {
    /// The token was current (or rotated within the grace window): its successor now is.
    Rotated {
        user_id: i64,
        session_id: i64,
        session_expires_at: DateTime<Utc>,
    },
    /// A token rotated earlier than the grace window came back: the session is now revoked.
    ReuseDetected { user_id: i64, session_id: i64 },
    /// Unknown token, or its session is no longer live.
    Invalid,
}

#[derive(Queryable)]
struct PresentedToken {
    id: i64,
    session_id: i64,
    used_at: Option<DateTime<Utc>>,
    user_id: i64,
    session_expires_at: DateTime<Utc>,
}

/// How a refresh token is presented for rotation: digests of it and of its successor, and the
/// windows that decide whether it is still good.
pub struct Presented<'a> {
    pub hash: &'a [u8],
    pub successor_hash: &'a [u8],
    pub idle_secs: u64,
    pub grace: std::time::Duration,
}

/// Single-use rotation with reuse detection (DESIGN.md §3). The token row is locked, so two
/// concurrent refreshes with one token serialise and both receive the same successor.
pub async fn rotate_refresh_token(
    conn: &mut AsyncPgConnection,
    presented: Presented<'_>,
    now: DateTime<Utc>,
) -> Result<Rotation, AppError> {
    let idle_cutoff = now - idle(presented.idle_secs);
    let grace_cutoff = now - Duration::from_std(presented.grace).unwrap_or_default();
    crate::db::transaction(conn, async |conn| {
        let found: Option<PresentedToken> = refresh_tokens::table
            .inner_join(sessions::table.inner_join(users::table))
            .filter(refresh_tokens::token_hash.eq(presented.hash))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .filter(sessions::last_seen_at.gt(idle_cutoff))
            .filter(users::is_active)
            .select((
                refresh_tokens::id,
                refresh_tokens::session_id,
                refresh_tokens::used_at,
                sessions::user_id,
                sessions::expires_at,
            ))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some(token) = found else {
            return Ok(Rotation::Invalid);
        };
        match token.used_at {
            None => {
                diesel::update(refresh_tokens::table.find(token.id))
                    .set(refresh_tokens::used_at.eq(now))
                    .execute(conn)
                    .await?;
                diesel::insert_into(refresh_tokens::table)
                    .values((
                        refresh_tokens::session_id.eq(token.session_id),
                        refresh_tokens::token_hash.eq(presented.successor_hash),
                        refresh_tokens::created_at.eq(now),
                    ))
                    .execute(conn)
                    .await?;
            }
            Some(used_at) if used_at > grace_cutoff => {}
            Some(_) => {
                revoke_session(conn, token.user_id, token.session_id, now).await?;
                return Ok(Rotation::ReuseDetected {
                    user_id: token.user_id,
                    session_id: token.session_id,
                });
            }
        }
        diesel::update(sessions::table.find(token.session_id))
            .set(sessions::last_seen_at.eq(now))
            .execute(conn)
            .await?;
        Ok(Rotation::Rotated {
            user_id: token.user_id,
            session_id: token.session_id,
            session_expires_at: token.session_expires_at,
        })
    })
    .await
}

/// Revokes one of the user's sessions; `None` when it is not theirs or already revoked.
pub async fn revoke_session(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    session_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<Session>, AppError> {
    Ok(diesel::update(sessions::table)
        .filter(sessions::id.eq(session_id))
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .set(sessions::revoked_at.eq(now))
        .returning(Session::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// Revokes every live session of the user except `keep`; returns how many.
pub async fn revoke_all_sessions(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    keep: Option<i64>,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    Ok(diesel::update(sessions::table)
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::id.nullable().is_distinct_from(keep))
        .filter(sessions::revoked_at.is_null())
        .set(sessions::revoked_at.eq(now))
        .execute(conn)
        .await?)
}

/// A page of the user's live sessions, newest first, and how many there are in all.
pub async fn list_live_sessions(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    idle_secs: u64,
    now: DateTime<Utc>,
    (after_id, limit): (Option<i64>, i64),
) -> Result<(Vec<Session>, i64), AppError> {
    let idle_cutoff = now - idle(idle_secs);
    let live = || {
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .filter(sessions::last_seen_at.gt(idle_cutoff))
    };
    let mut page = live()
        .select(Session::as_select())
        .order(sessions::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(after_id) = after_id {
        page = page.filter(sessions::id.lt(after_id));
    }
    let rows = page.load(conn).await?;
    let total = live().count().get_result(conn).await?;
    Ok((rows, total))
}

/// A live API token, with the permissions it was created with and the RBAC epoch at which to
/// read its owner's: the token may use those its owner still holds, so role changes limit
/// tokens as they limit sessions.
#[derive(QueryableByName)]
pub struct LiveApiToken {
    #[diesel(sql_type = BigInt)]
    pub token_id: i64,
    #[diesel(embed)]
    pub user: User,
    #[diesel(sql_type = diesel::sql_types::Nullable<Timestamptz>)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Array<Text>)]
    pub granted: Vec<String>,
    #[diesel(sql_type = BigInt)]
    pub rbac_epoch: i64,
    /// The token's own request budget (all `None` without one).
    #[diesel(embed)]
    pub budget: crate::budgets::model::Budget,
}

/// The live API token with this digest, if any.
pub async fn live_api_token(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<LiveApiToken>, AppError> {
    Ok(LiveApiTokenQuery {
        token_hash: token_hash.to_vec(),
        now,
    }
    .get_result(conn)
    .await
    .optional()?)
}

/// `live_api_token`'s statement, a query type for the reason [`LiveSessionQuery`] is one: every
/// request a script makes with an API token runs it.
#[derive(QueryId)]
struct LiveApiTokenQuery {
    token_hash: Vec<u8>,
    now: DateTime<Utc>,
}

impl QueryFragment<Pg> for LiveApiTokenQuery {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(concat!(
            "SELECT t.id AS token_id, ",
            user_columns!(),
            ", t.last_used_at, t.permissions AS granted, (SELECT epoch FROM rbac_epoch) AS rbac_epoch,
             b.requests_per_minute, b.max_complexity, b.max_depth, b.statement_timeout_ms
             FROM api_tokens t
             JOIN users u ON u.id = t.user_id
             LEFT JOIN request_budgets b ON b.api_token_id = t.id
             WHERE t.token_hash = "
        ));
        out.push_bind_param::<Bytea, _>(&self.token_hash)?;
        out.push_sql(
            " AND t.revoked_at IS NULL AND u.is_active AND (t.expires_at IS NULL OR t.expires_at > ",
        );
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(")");
        Ok(())
    }
}

impl Query for LiveApiTokenQuery {
    type SqlType = Untyped;
}

pub async fn touch_api_token(
    conn: &mut AsyncPgConnection,
    token_id: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    diesel::update(api_tokens::table.find(token_id))
        .set(api_tokens::last_used_at.eq(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// The names among `wanted` that are not permissions at all.
pub async fn unknown_permissions(
    conn: &mut AsyncPgConnection,
    wanted: &[String],
) -> Result<Vec<String>, AppError> {
    let known: Vec<String> = permissions::table
        .filter(permissions::name.eq_any(wanted))
        .select(permissions::name)
        .load(conn)
        .await?;
    Ok(wanted
        .iter()
        .filter(|name| !known.contains(name))
        .cloned()
        .collect())
}

/// Stores a new API token unless the user has `cap` live ones (neither revoked nor expired).
/// Run it inside a transaction: the count holds only while the lock it takes does.
pub async fn create_api_token(
    conn: &mut AsyncPgConnection,
    new: &NewApiToken<'_>,
    cap: u32,
    now: DateTime<Utc>,
) -> Result<ApiToken, AppError> {
    let user_id = new.user_id;
    quota::lock(conn, quota::API_TOKENS_LOCK, user_id).await?;
    let live = api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .filter(api_tokens::revoked_at.is_null())
        .filter(
            api_tokens::expires_at
                .is_null()
                .or(api_tokens::expires_at.gt(now)),
        )
        .count()
        .get_result(conn)
        .await?;
    quota::check("live API tokens", live, cap)?;
    Ok(diesel::insert_into(api_tokens::table)
        .values((new, api_tokens::created_at.eq(now)))
        .returning(ApiToken::as_returning())
        .get_result(conn)
        .await?)
}

/// A page of the user's API tokens, newest first, revoked ones included.
pub async fn list_api_tokens(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    before_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<ApiToken>, i64), AppError> {
    let mut page = api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .select(ApiToken::as_select())
        .order(api_tokens::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before_id) = before_id {
        page = page.filter(api_tokens::id.lt(before_id));
    }
    let rows = page.load(conn).await?;
    let total = api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .count()
        .get_result(conn)
        .await?;
    Ok((rows, total))
}

/// Revokes one of the user's tokens; `None` when it is not theirs or already revoked.
pub async fn revoke_api_token(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    token_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<ApiToken>, AppError> {
    Ok(diesel::update(api_tokens::table)
        .filter(api_tokens::id.eq(token_id))
        .filter(api_tokens::user_id.eq(user_id))
        .filter(api_tokens::revoked_at.is_null())
        .set(api_tokens::revoked_at.eq(now))
        .returning(ApiToken::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// Revokes every live API token of the user; how many there were.
pub async fn revoke_all_api_tokens(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    Ok(diesel::update(api_tokens::table)
        .filter(api_tokens::user_id.eq(user_id))
        .filter(api_tokens::revoked_at.is_null())
        .set(api_tokens::revoked_at.eq(now))
        .execute(conn)
        .await?)
}

/// Deletes every session (their refresh tokens go with them) and every API token of the user:
/// how many of each there were.
pub async fn delete_all_credentials(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<(usize, usize), AppError> {
    quota::lock(conn, quota::API_TOKENS_LOCK, user_id).await?;
    let sessions = diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)))
        .execute(conn)
        .await?;
    let api_tokens = diesel::delete(api_tokens::table.filter(api_tokens::user_id.eq(user_id)))
        .execute(conn)
        .await?;
    Ok((sessions, api_tokens))
}

/// An idle limit in seconds as a duration; absurdly large ones saturate.
fn idle(secs: u64) -> Duration {
    Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2))
}

/// How the user can sign in: a password, linked provider identities, usable passkeys.
pub async fn ways_in(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<super::model::WaysIn, AppError> {
    Ok(diesel::sql_query(
        "SELECT u.password_hash <> '' AS password,
                (SELECT count(*) FROM user_identities i WHERE i.user_id = u.id) AS identities,
                (SELECT count(*) FROM passkeys p WHERE p.user_id = u.id AND p.possibly_cloned_at IS NULL) AS passkeys
         FROM users u WHERE u.id = $1",
    )
    .bind::<BigInt, _>(user_id)
    .get_result(conn)
    .await?)
}
