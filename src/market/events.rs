//! Market events for subscribers, published after the change commits, to the subscribers of
//! every instance (see [`Fanout`]).

use async_graphql::{Context, SimpleObject, Subscription};
use futures_util::Stream;
use serde::{Deserialize, Serialize};

use super::model::{Item, MarketEventKind};
use crate::graphql::{ContextExt, Permission};
use crate::rbac::perm;
use crate::shared::{Fanout, Redis};

/// Something that happened on the market, with the item as it is after it.
#[derive(SimpleObject, Clone, Debug, Serialize, Deserialize)]
pub struct MarketEvent {
    /// What happened.
    pub kind: MarketEventKind,
    /// The item as it is after the event.
    pub item: Item,
}

pub struct MarketEvents(Fanout<MarketEvent>);

impl MarketEvents {
    pub fn new(redis: Option<Redis>) -> Self {
        Self(Fanout::new(redis, "market-events"))
    }

    pub async fn publish(&self, kind: MarketEventKind, item: Item) {
        self.0.publish(MarketEvent { kind, item }).await;
    }

    pub fn subscribe(&self) -> impl Stream<Item = MarketEvent> + use<> {
        self.0.subscribe()
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
