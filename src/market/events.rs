//! Market events for subscribers. Published after the change commits; fanned out in process
//! (one instance). Slow subscribers that fall behind the buffer skip what they missed.

use async_graphql::{Context, Enum, SimpleObject, Subscription};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use super::model::Item;
use crate::graphql::{ContextExt, Permission};
use crate::rbac::perm;

const BUFFER: usize = 1024;

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarketEventKind {
    /// A new item was put on the market.
    Listed,
    /// Someone bought the item.
    Purchased,
    /// Its holder sold the item back to the market.
    Sold,
}

/// Something that happened on the market, with the item as it is after it.
#[derive(SimpleObject, Clone, Debug)]
pub struct MarketEvent {
    pub kind: MarketEventKind,
    pub item: Item,
}

#[derive(Clone)]
pub struct MarketEvents(broadcast::Sender<MarketEvent>);

impl Default for MarketEvents {
    fn default() -> Self {
        Self(broadcast::channel(BUFFER).0)
    }
}

impl MarketEvents {
    pub fn publish(&self, kind: MarketEventKind, item: Item) {
        // No subscriber is not an error: the event simply has nobody to reach.
        let _ = self.0.send(MarketEvent { kind, item });
    }

    pub fn subscribe(&self) -> impl Stream<Item = MarketEvent> + use<> {
        BroadcastStream::new(self.0.subscribe()).filter_map(|event| async move { event.ok() })
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
