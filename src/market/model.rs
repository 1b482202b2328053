//! Market rows: items, ledger entries, the outcome of a trade, and the market's enums (which
//! the API shows as they are).

use async_graphql::Enum;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::schema::{items, market_transactions};

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, Serialize, Deserialize)]
// Serialised as the event log keeps it: PostgreSQL's `to_jsonb` of an `items` row, field for
// column.
#[diesel(table_name = items, check_for_backend(diesel::pg::Pg))]
pub struct Item {
    pub id: i64,
    pub name: String,
    pub price: i64,
    pub barcode: String,
    pub description: String,
    pub owner_id: Option<i64>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = market_transactions, check_for_backend(diesel::pg::Pg))]
pub struct LedgerEntry {
    pub id: i64,
    pub item_id: Option<i64>,
    pub buyer_id: Option<i64>,
    pub seller_id: Option<i64>,
    pub amount: i64,
    pub kind: String,
    pub balance_after: i64,
    pub created_at: DateTime<Utc>,
}

/// The outcome of a purchase or sale: the item as it is now and the caller's new budget.
#[derive(Clone, Debug)]
pub struct Trade {
    pub item: Item,
    pub budget: i64,
    /// True when an idempotency key answered with an earlier purchase: nothing changed now.
    pub replayed: bool,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = items)]
pub struct ItemChanges {
    pub name: Option<String>,
    pub price: Option<i64>,
    pub barcode: Option<String>,
    pub description: Option<String>,
}

impl ItemChanges {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.price.is_none()
            && self.barcode.is_none()
            && self.description.is_none()
    }
}

/// Which way a market transaction moved money.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum MarketTransactionKind {
    /// The user bought an item from the market; their budget went down.
    Purchase,
    /// The user sold an item back to the market; their budget went up.
    Sale,
    /// The user bought budget with money (`createTopUp`); their budget went up.
    TopUp,
    /// Money paid for a top-up was given back; the unspent units it paid for left the budget.
    Refund,
}

impl MarketTransactionKind {
    /// A ledger row's stored `kind`.
    pub fn parse(stored: &str) -> Self {
        match stored {
            "SALE" => Self::Sale,
            "TOP_UP" => Self::TopUp,
            "REFUND" => Self::Refund,
            _ => Self::Purchase,
        }
    }
}

/// What happened to an item on the market.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarketEventKind {
    /// A new item was put on the market.
    Listed,
    /// Someone bought the item.
    Purchased,
    /// Its holder sold the item back to the market.
    Sold,
}

impl MarketEventKind {
    /// How the event log writes it (the column's CHECK lists these).
    pub const fn code(self) -> &'static str {
        match self {
            Self::Listed => "LISTED",
            Self::Purchased => "PURCHASED",
            Self::Sold => "SOLD",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Listed, Self::Purchased, Self::Sold]
            .into_iter()
            .find(|kind| kind.code() == code)
    }
}
