use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::sessions;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Where a login came from, recorded on its session.
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}
