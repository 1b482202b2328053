//! Rows of the webhook tables, and the events endpoints subscribe to.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::{webhook_deliveries, webhook_endpoints};

/// What happened, as endpoints subscribe to it. The payload's `type` is the dotted name.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "WebhookEventType")]
pub enum EventType {
    /// `item.listed`: an administrator put a new item on the market.
    ItemListed,
    /// `item.purchased`: a trader bought an item from the market.
    ItemPurchased,
    /// `item.sold`: a trader sold an item back to the market.
    ItemSold,
    /// `user.registered`: someone registered an account.
    UserRegistered,
    /// `user.email_verified`: a user confirmed their address through the mailed link.
    UserEmailVerified,
    /// `user.deleted`: an account was deleted (by its owner or an administrator).
    UserDeleted,
    /// `habit.completed`: a user marked a habit done for a day.
    HabitCompleted,
}

impl EventType {
    pub const ALL: [Self; 7] = [
        Self::ItemListed,
        Self::ItemPurchased,
        Self::ItemSold,
        Self::UserRegistered,
        Self::UserEmailVerified,
        Self::UserDeleted,
        Self::HabitCompleted,
    ];

    /// The name on the wire and in the database.
    pub fn name(self) -> &'static str {
        match self {
            Self::ItemListed => "item.listed",
            Self::ItemPurchased => "item.purchased",
            Self::ItemSold => "item.sold",
            Self::UserRegistered => "user.registered",
            Self::UserEmailVerified => "user.email_verified",
            Self::UserDeleted => "user.deleted",
            Self::HabitCompleted => "habit.completed",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.name() == name)
    }
}

/// An event about to be queued: its type, its id (also the `webhook-id` of each of its
/// deliveries, so receivers recognise a retry) and its time (the payload's `timestamp`).
pub struct QueuedEvent {
    pub event_type: EventType,
    pub id: String,
    pub at: DateTime<Utc>,
    pub timestamp: String,
}

impl QueuedEvent {
    pub fn new(event_type: EventType, at: DateTime<Utc>) -> Self {
        Self {
            event_type,
            id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
            at,
            timestamp: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints, check_for_backend(diesel::pg::Pg))]
pub struct Endpoint {
    pub id: i64,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub failure_streak: i32,
    pub paused_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "WebhookDeliveryState")]
pub enum DeliveryState {
    /// Waiting for its next attempt (or for its paused endpoint to be resumed).
    Pending,
    /// The endpoint answered an attempt with a 2xx status.
    Delivered,
    /// Every attempt failed: on the dead-letter list until `redeliverWebhookDelivery`.
    Dead,
}

impl DeliveryState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Delivered => "DELIVERED",
            Self::Dead => "DEAD",
        }
    }

    pub fn from_name(name: &str) -> Self {
        match name {
            "DELIVERED" => Self::Delivered,
            "DEAD" => Self::Dead,
            _ => Self::Pending,
        }
    }
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg))]
pub struct Delivery {
    pub id: i64,
    pub endpoint_id: i64,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A claimed delivery with what an attempt needs: its endpoint's URL and sealed secret.
#[derive(Clone, Debug, Queryable)]
pub struct Attempt {
    pub id: i64,
    pub endpoint_id: i64,
    pub event_id: String,
    pub payload: String,
    pub attempts: i32,
    pub url: String,
    pub sealed_secret: Vec<u8>,
}

/// How an attempt went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered { status: i32 },
    /// Another status, or no answer in time (`status` is then `None`).
    Failed { status: Option<i32>, error: String },
}
