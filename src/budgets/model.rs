//! Request budgets: the ceilings a role or an API token puts on its requests, as stored and as
//! combined.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable};

use crate::db::schema::request_budgets;

/// Who a budget belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Holder {
    Role(i64),
    ApiToken(i64),
}

impl Holder {
    pub fn role_id(self) -> Option<i64> {
        match self {
            Holder::Role(id) => Some(id),
            Holder::ApiToken(_) => None,
        }
    }

    pub fn api_token_id(self) -> Option<i64> {
        match self {
            Holder::ApiToken(id) => Some(id),
            Holder::Role(_) => None,
        }
    }
}

/// Per limit, a ceiling, or `None` for the server's own. (Read in this order by a role, and by
/// name with an API token in `crate::auth::store::live_api_token`.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Queryable, QueryableByName)]
pub struct Budget {
    #[diesel(sql_type = Nullable<Integer>)]
    pub requests_per_minute: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub max_complexity: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub max_depth: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub statement_timeout_ms: Option<i32>,
}

impl Budget {
    /// Whether it narrows nothing (a holder with such a budget has none).
    pub fn is_default(&self) -> bool {
        *self == Budget::default()
    }
}

/// A stored budget (shown in the schema as `RequestBudget`).
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = request_budgets, check_for_backend(diesel::pg::Pg))]
pub struct BudgetRow {
    pub role_id: Option<i64>,
    pub api_token_id: Option<i64>,
    pub requests_per_minute: Option<i32>,
    pub max_complexity: Option<i32>,
    pub max_depth: Option<i32>,
    pub statement_timeout_ms: Option<i32>,
    pub updated_at: DateTime<Utc>,
}

impl BudgetRow {
    pub fn holder(&self) -> Option<Holder> {
        match (self.role_id, self.api_token_id) {
            (Some(role), _) => Some(Holder::Role(role)),
            (None, Some(token)) => Some(Holder::ApiToken(token)),
            (None, None) => None,
        }
    }

    pub fn budget(&self) -> Budget {
        Budget {
            requests_per_minute: self.requests_per_minute,
            max_complexity: self.max_complexity,
            max_depth: self.max_depth,
            statement_timeout_ms: self.statement_timeout_ms,
        }
    }
}

/// The limits one request runs under: its principal's budget laid over the server's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ceilings {
    /// Requests per minute counted for the principal; `None`: not counted per principal (the
    /// per-address limit still applies).
    pub requests_per_minute: Option<u32>,
    pub max_complexity: usize,
    pub max_depth: usize,
    pub statement_timeout_ms: u32,
}
