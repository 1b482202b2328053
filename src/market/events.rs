//! Market events for subscribers, published after the change commits. Without Redis they fan
//! out in process (one instance). With Redis every instance publishes to one channel and relays
//! what arrives on it to its own subscribers, so an event caused on one instance reaches
//! subscribers on all; while Redis is unreachable, events reach this instance's subscribers
//! only. Slow subscribers that fall behind the buffer skip what they missed.

use std::time::Duration;

use async_graphql::{Context, SimpleObject, Subscription};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use super::model::{Item, MarketEventKind};
use crate::graphql::{ContextExt, Permission};
use crate::rbac::perm;
use crate::shared::Redis;

const BUFFER: usize = 1024;

/// Something that happened on the market, with the item as it is after it.
#[derive(SimpleObject, Clone, Debug, Serialize, Deserialize)]
pub struct MarketEvent {
    /// What happened.
    pub kind: MarketEventKind,
    /// The item as it is after the event.
    pub item: Item,
}

#[derive(Clone)]
pub struct MarketEvents {
    local: broadcast::Sender<MarketEvent>,
    redis: Option<Redis>,
}

impl MarketEvents {
    /// With Redis, also starts the relay from the shared channel to this instance's subscribers
    /// (it ends when the events are dropped).
    pub fn new(redis: Option<Redis>) -> Self {
        let local = broadcast::channel(BUFFER).0;
        if let Some(redis) = &redis {
            tokio::spawn(relay(redis.clone(), local.downgrade()));
        }
        Self { local, redis }
    }

    pub async fn publish(&self, kind: MarketEventKind, item: Item) {
        let event = MarketEvent { kind, item };
        if let Some(redis) = &self.redis {
            let published = match serde_json::to_string(&event) {
                Ok(payload) => redis::cmd("PUBLISH")
                    .arg(redis.key(CHANNEL))
                    .arg(payload)
                    .query_async::<i64>(&mut redis.connection())
                    .await
                    .map_err(|error| error.to_string()),
                Err(error) => Err(error.to_string()),
            };
            match published {
                Ok(_) => return,
                Err(error) => tracing::warn!(
                    %error,
                    "Redis is unreachable: market event reaches this instance's subscribers only"
                ),
            }
        }
        // No subscriber is not an error: the event simply has nobody to reach.
        let _ = self.local.send(event);
    }

    pub fn subscribe(&self) -> impl Stream<Item = MarketEvent> + use<> {
        BroadcastStream::new(self.local.subscribe()).filter_map(|event| async move { event.ok() })
    }
}

const CHANNEL: &str = "market-events";

/// Forwards the shared channel to local subscribers, reconnecting after Redis drops out.
async fn relay(redis: Redis, local: broadcast::WeakSender<MarketEvent>) {
    let channel = redis.key(CHANNEL);
    while local.strong_count() > 0 {
        let subscribed = match redis.pubsub().await {
            Ok(mut pubsub) => pubsub.subscribe(&channel).await.map(|()| pubsub),
            Err(error) => Err(error),
        };
        let Ok(mut pubsub) = subscribed else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let Some(local) = local.upgrade() else { return };
            match serde_json::from_slice::<MarketEvent>(message.get_payload_bytes()) {
                Ok(event) => {
                    let _ = local.send(event);
                }
                Err(error) => tracing::warn!(%error, "ignoring a malformed market event"),
            }
        }
        tracing::warn!("lost the Redis subscription for market events: reconnecting");
    }
}

#[derive(Default)]
pub struct MarketSubscription;

#[Subscription]
impl MarketSubscription {
    /// Items listed, purchased and sold, as they happen.
    #[graphql(guard = "Permission(perm::MARKET_TRADE)")]
    async fn market_events(&self, ctx: &Context<'_>) -> impl Stream<Item = MarketEvent> + use<> {
        ctx.app().market_events.subscribe()
    }
}
