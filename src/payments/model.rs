//! Rows of payments: top-ups, their refunds, and the Stripe events already acted on.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::{top_up_refunds, top_ups};

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
    /// Money given back so far, in minor units.
    pub refunded_amount: i64,
    /// The units those refunds stand for (taken back, or flagged where they were spent).
    pub refunded_units: i64,
}

/// Money given back for a top-up, and what it took back from the budget.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = top_up_refunds, check_for_backend(diesel::pg::Pg))]
pub struct TopUpRefund {
    pub id: i64,
    pub top_up_id: i64,
    pub amount: i64,
    /// The budget units this money paid for.
    pub units: i64,
    /// Those still unspent, taken back; the rest is the shortfall an administrator reviews.
    pub debited_units: i64,
    pub source: String,
    pub stripe_ref: String,
    pub requested_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub reviewed_by: Option<i64>,
}

impl TopUpRefund {
    /// Units given back in money but already spent from the budget.
    pub fn shortfall(&self) -> i64 {
        self.units - self.debited_units
    }
}

/// Told by Stripe's `charge.refunded`.
pub const FROM_STRIPE: &str = "STRIPE";
/// Asked by an administrator's `refundTopUp`.
pub const FROM_ADMIN: &str = "ADMIN";

pub const PENDING: &str = "PENDING";
pub const SUCCEEDED: &str = "SUCCEEDED";
pub const FAILED: &str = "FAILED";
