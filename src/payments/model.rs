//! Rows of payments: top-ups and the Stripe events already acted on.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::top_ups;

/// Budget bought with money: pending until Stripe says the payment succeeded or failed.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = top_ups, check_for_backend(diesel::pg::Pg))]
pub struct TopUp {
    pub id: i64,
    pub user_id: i64,
    pub units: i64,
    pub amount: i64,
    pub currency: String,
    pub idempotency_key: String,
    pub payment_intent_id: Option<String>,
    pub client_secret: Option<String>,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub credited_at: Option<DateTime<Utc>>,
}

pub const PENDING: &str = "PENDING";
pub const SUCCEEDED: &str = "SUCCEEDED";
pub const FAILED: &str = "FAILED";
