//! Passkey rows.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::passkeys;

/// A registered passkey as its owner sees it; `passkey` (webauthn-rs's credential) stays here.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = passkeys)]
pub struct PasskeyRow {
    pub id: i64,
    pub user_id: i64,
    pub credential_id: Vec<u8>,
    pub passkey: serde_json::Value,
    pub name: String,
    pub counter: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub possibly_cloned_at: Option<DateTime<Utc>>,
}
