//! The market API: items, ledger rows and thin resolvers over the domain's functions.

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::loader::{ItemById, ItemLoader};
use super::model::{Item, LedgerEntry, MarketTransactionKind, Trade};
use super::store::{ItemFilter, PageNeeds};
use super::{ItemEdit, NewItem};
use crate::accounts::loader::{UserById, UserDataLoader};
use crate::accounts::model::User;
use crate::graphql::connection::{
    CountedConnection, Page, connection, selects_node_field, selects_total_count,
};
use crate::graphql::flat::Flat;
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::perm;

/// Something that can be bought and sold.
#[Object]
impl Item {
    /// The item's id.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// 1–50 characters, unique regardless of case.
    async fn name(&self) -> &str {
        &self.name
    }
    /// Whole units, at least 1.
    async fn price(&self) -> i64 {
        self.price
    }
    /// Exactly 12 digits.
    async fn barcode(&self) -> &str {
        &self.barcode
    }
    /// Free text, at most 1024 characters; line breaks allowed. Empty when none was given.
    async fn description(&self) -> &str {
        &self.description
    }
    /// True while nobody holds the item: it can be bought.
    async fn on_market(&self) -> bool {
        self.owner_id.is_none()
    }
    /// Who holds the item; null while it is on the market.
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Flat<Arc<User>>>> {
        let Some(owner_id) = self.owner_id else {
            return Ok(None);
        };
        let owner = ctx
            .data_unchecked::<UserDataLoader>()
            .load_one(UserById(owner_id))
            .await?;
        Ok(owner.map(Flat))
    }
    /// When the item was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// When the item last changed, including being bought or sold.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

/// One change of the user's budget.
#[Object(name = "MarketTransaction")]
impl LedgerEntry {
    /// The transaction's id.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// A purchase (budget down) or a sale (budget up).
    async fn kind(&self) -> MarketTransactionKind {
        MarketTransactionKind::parse(&self.kind)
    }
    /// The item's price at the time, in whole budget units; always positive (see `kind` for
    /// the direction).
    async fn amount(&self) -> i64 {
        self.amount
    }
    /// The budget right after this change.
    async fn balance_after(&self) -> i64 {
        self.balance_after
    }
    /// The item traded; null if it has since been deleted.
    async fn item(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Item>> {
        let Some(item_id) = self.item_id else {
            return Ok(None);
        };
        ctx.data_unchecked::<DataLoader<ItemLoader>>()
            .load_one(ItemById(item_id))
            .await
    }
    /// When the trade happened.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}

/// Narrows `marketItems`; every condition given must hold.
#[derive(InputObject, Default)]
pub struct MarketFilter {
    /// Part of the item name, at most 100 characters; `%` and `_` match themselves.
    pub search: Option<String>,
    /// Lowest price, inclusive; not negative.
    pub min_price: Option<i64>,
    /// Highest price, inclusive; not negative and not below `minPrice`.
    pub max_price: Option<i64>,
}

/// Narrows `items`; every condition given must hold.
#[derive(InputObject, Default)]
pub struct ItemsFilter {
    /// Only items held by this user.
    pub owner_id: Option<ID>,
    /// True: held by someone; false: on the market.
    pub owned: Option<bool>,
}

#[derive(Default)]
pub struct MarketQuery;

#[Object]
impl MarketQuery {
    /// Items on the market, in id order.
    #[graphql(
        guard = "Permission(perm::MARKET_TRADE)",
        complexity = "crate::graphql::page_cost(first, child_complexity)"
    )]
    async fn market_items(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100; 20 when omitted.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page; omit for the first page.")]
        after: Option<String>,
        #[graphql(desc = "Conditions on name and price.")] filter: Option<MarketFilter>,
    ) -> async_graphql::Result<CountedConnection<Item>> {
        let filter = filter.unwrap_or_default();
        let filter =
            super::market_filter(filter.search.as_deref(), filter.min_price, filter.max_price)?;
        item_page(ctx, &filter, first, after).await
    }

    /// Items the current user holds, in id order.
    #[graphql(
        guard = "Permission(perm::MARKET_TRADE)",
        complexity = "crate::graphql::page_cost(first, child_complexity)"
    )]
    async fn my_items(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100; 20 when omitted.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page; omit for the first page.")]
        after: Option<String>,
    ) -> async_graphql::Result<CountedConnection<Item>> {
        let filter = ItemFilter {
            owner: Some(Some(ctx.viewer()?.user_id)),
            ..ItemFilter::default()
        };
        item_page(ctx, &filter, first, after).await
    }

    /// An item on the market or held by the caller (any item, with `items:manage`).
    #[graphql(guard = "Permission(perm::MARKET_TRADE)")]
    async fn item(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The item's id; `NOT_FOUND` if it does not exist or the caller may not see it."
        )]
        id: ID,
    ) -> async_graphql::Result<Item> {
        let viewer = ctx.viewer()?;
        let id = parse_id("id", &id)?;
        let manages = viewer.can(perm::ITEMS_MANAGE);
        Ok(super::visible_item(ctx.app(), viewer.user_id, manages, id).await?)
    }

    /// Every item, for those who manage them.
    #[graphql(
        guard = "Permission(perm::ITEMS_MANAGE)",
        complexity = "crate::graphql::page_cost(first, child_complexity)"
    )]
    async fn items(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100; 20 when omitted.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page; omit for the first page.")]
        after: Option<String>,
        #[graphql(desc = "Conditions on the holder.")] filter: Option<ItemsFilter>,
    ) -> async_graphql::Result<CountedConnection<Item>> {
        let filter = filter.unwrap_or_default();
        let filter = ItemFilter {
            owner: filter
                .owner_id
                .as_ref()
                .map(|id| parse_id("ownerId", id).map(Some))
                .transpose()?,
            owned: filter.owned,
            ..ItemFilter::default()
        };
        item_page(ctx, &filter, first, after).await
    }

    /// The current user's purchases and sales, newest first.
    #[graphql(
        guard = "Permission(perm::MARKET_TRADE)",
        complexity = "crate::graphql::page_cost(first, child_complexity)"
    )]
    async fn my_transactions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100; 20 when omitted.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page; omit for the first page.")]
        after: Option<String>,
    ) -> async_graphql::Result<CountedConnection<LedgerEntry>> {
        let viewer = ctx.viewer()?;
        let page = Page::parse(first, after.as_deref())?;
        let (rows, total) =
            super::ledger_page(ctx.app(), viewer.user_id, page.after_id, page.fetch_limit())
                .await?;
        Ok(connection(
            rows,
            page,
            total,
            |entry| entry.id,
            |entry| entry,
        ))
    }
}

async fn item_page(
    ctx: &Context<'_>,
    filter: &ItemFilter,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<CountedConnection<Item>> {
    let page = Page::parse(first, after.as_deref())?;
    let needs = PageNeeds {
        owners: selects_node_field(ctx, "owner"),
        total: selects_total_count(ctx),
    };
    let found =
        super::items_page(ctx.app(), filter, page.after_id, page.fetch_limit(), needs).await?;
    // The owners came with the page: the per-item `owner` fields are answered from the request's
    // loader cache, so the page costs one statement whatever its size.
    ctx.data_unchecked::<UserDataLoader>()
        .feed_many(
            found
                .owners
                .into_iter()
                .map(|owner| (UserById(owner.id), Arc::new(owner))),
        )
        .await;
    Ok(connection(
        found.items,
        page,
        found.total,
        |item| item.id,
        |item| item,
    ))
}

/// A new item for `createItem`.
#[derive(InputObject)]
pub struct CreateItemInput {
    /// 1–50 characters after trimming, unique regardless of case (`CONFLICT`, `TAKEN`).
    pub name: String,
    /// In whole budget units, at least 1.
    pub price: i64,
    /// Exactly 12 digits.
    pub barcode: String,
    /// At most 1024 characters; line breaks allowed. Empty when omitted.
    #[graphql(default)]
    pub description: String,
}

/// Changes for `updateItem`; fields left out keep their value.
#[derive(InputObject)]
pub struct UpdateItemInput {
    /// The item to change.
    pub id: ID,
    /// 1–50 characters after trimming, unique regardless of case (`CONFLICT`, `TAKEN`).
    pub name: Option<String>,
    /// Only while the item is on the market.
    pub price: Option<i64>,
    /// Exactly 12 digits, unique among items (`CONFLICT`, `TAKEN`).
    pub barcode: Option<String>,
    /// At most 1024 characters; line breaks allowed.
    pub description: Option<String>,
}

/// Names the item `deleteItem` removes.
#[derive(InputObject)]
pub struct DeleteItemInput {
    /// The item to delete.
    pub id: ID,
}

/// What `purchaseItem` buys.
#[derive(InputObject)]
pub struct PurchaseItemInput {
    /// The item to buy; it must be on the market.
    pub item_id: ID,
    /// Makes the purchase safe to retry: repeating a key returns the first result and charges
    /// nothing more. 1–100 visible ASCII characters, e.g. a UUID.
    pub idempotency_key: Option<String>,
}

/// What `sellItem` sells.
#[derive(InputObject)]
pub struct SellItemInput {
    /// The item to sell; the caller must hold it.
    pub item_id: ID,
}

/// The result of an item mutation.
#[derive(SimpleObject)]
pub struct ItemPayload {
    /// The item as it is now (for `deleteItem`, as it was).
    pub item: Item,
}

/// The result of a purchase or sale.
#[derive(SimpleObject)]
pub struct TradePayload {
    /// The item as it is after the trade.
    pub item: Item,
    /// The caller's budget after the trade.
    pub budget: i64,
}

impl From<Trade> for TradePayload {
    fn from(trade: Trade) -> Self {
        Self {
            item: trade.item,
            budget: trade.budget,
        }
    }
}

#[derive(Default)]
pub struct MarketMutation;

#[Object]
impl MarketMutation {
    /// Puts a new item on the market (`items:manage`). A name or barcode already in use is
    /// `CONFLICT` with reason `TAKEN`.
    #[graphql(guard = "Permission(perm::ITEMS_MANAGE)")]
    async fn create_item(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new item's fields.")] input: CreateItemInput,
    ) -> async_graphql::Result<ItemPayload> {
        let creator = ctx.viewer()?.user_id;
        let new = NewItem {
            name: &input.name,
            price: input.price,
            barcode: &input.barcode,
            description: &input.description,
        };
        let item = super::create_item(ctx.app(), creator, &new).await?;
        Ok(ItemPayload { item })
    }

    /// Changes an item's fields (`items:manage`). Repricing a held item is `CONFLICT` with
    /// reason `OWNED`; a name or barcode in use is `CONFLICT` with reason `TAKEN`.
    #[graphql(guard = "Permission(perm::ITEMS_MANAGE)")]
    async fn update_item(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The item and the fields to change.")] input: UpdateItemInput,
    ) -> async_graphql::Result<ItemPayload> {
        let id = parse_id("id", &input.id)?;
        let edit = ItemEdit {
            name: input.name.as_deref(),
            price: input.price,
            barcode: input.barcode.as_deref(),
            description: input.description.as_deref(),
        };
        let item = super::update_item(ctx.app(), id, &edit).await?;
        Ok(ItemPayload { item })
    }

    /// Deletes an item on the market; held items cannot be deleted (`CONFLICT`, `OWNED`).
    #[graphql(guard = "Permission(perm::ITEMS_MANAGE)")]
    async fn delete_item(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The item to delete.")] input: DeleteItemInput,
    ) -> async_graphql::Result<ItemPayload> {
        let id = parse_id("id", &input.id)?;
        let item = super::delete_item(ctx.app(), id).await?;
        Ok(ItemPayload { item })
    }

    /// Buys an item from the market. Refused with `CONFLICT` and reason `NOT_AVAILABLE`,
    /// `OWN_ITEM` or `INSUFFICIENT_FUNDS`, changing nothing.
    #[graphql(guard = "Permission(perm::MARKET_TRADE)")]
    async fn purchase_item(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The item to buy and an optional idempotency key.")]
        input: PurchaseItemInput,
    ) -> async_graphql::Result<TradePayload> {
        let item_id = parse_id("itemId", &input.item_id)?;
        let buyer = ctx.viewer()?.user_id;
        let key = input.idempotency_key.as_deref();
        let trade = super::purchase(ctx.app(), ctx.request_info(), buyer, item_id, key).await?;
        Ok(TradePayload::from(trade))
    }

    /// Sells an item one holds back to the market for its full price.
    #[graphql(guard = "Permission(perm::MARKET_TRADE)")]
    async fn sell_item(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The item to sell.")] input: SellItemInput,
    ) -> async_graphql::Result<TradePayload> {
        let item_id = parse_id("itemId", &input.item_id)?;
        let seller = ctx.viewer()?.user_id;
        let trade = super::sell(ctx.app(), ctx.request_info(), seller, item_id).await?;
        Ok(TradePayload::from(trade))
    }
}
