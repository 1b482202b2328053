use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::events::MarketEventKind;
use super::model::{Item, ItemChanges, LedgerEntry};
use super::rules;
use super::store::{self, ItemFilter, PageNeeds};
use crate::accounts::loader::{UserById, UserDataLoader};
use crate::accounts::model::User;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::graphql::connection::{
    CountedConnection, Page, connection, selects_node_field, selects_total_count,
};
use crate::graphql::flat::Flat;
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::perm;

/// Batches item look-ups of one request (ledger rows naming their items).
pub struct ItemLoader {
    pub pool: DbPool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ItemById(pub i64);

impl Loader<ItemById> for ItemLoader {
    type Value = Item;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ItemById]) -> Result<HashMap<ItemById, Item>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|key| key.0).collect();
        let mut conn = db::conn(&self.pool).await?;
        let rows = store::items_by_ids(&mut conn, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|item| (ItemById(item.id), item))
            .collect())
    }
}

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

/// Which way a market transaction moved money.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum MarketTransactionKind {
    /// The user bought an item from the market; their budget went down.
    Purchase,
    /// The user sold an item back to the market; their budget went up.
    Sale,
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
        if self.kind == "SALE" {
            MarketTransactionKind::Sale
        } else {
            MarketTransactionKind::Purchase
        }
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
        let (min_price, max_price) = rules::price_range(filter.min_price, filter.max_price)?;
        let filter = ItemFilter {
            search: crate::text::search(filter.search.as_deref())?,
            min_price,
            max_price,
            owner: Some(None),
            owned: None,
        };
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
        let mut conn = db::conn(&ctx.app().pool).await?;
        let item = store::find_item(&mut conn, id).await?;
        let visible = item.owner_id.is_none()
            || item.owner_id == Some(viewer.user_id)
            || viewer.can(perm::ITEMS_MANAGE);
        if !visible {
            return Err(AppError::NotFound("Item").into());
        }
        Ok(item)
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
        let mut conn = db::conn(&ctx.app().pool).await?;
        let (rows, total) =
            store::ledger_page(&mut conn, viewer.user_id, page.after_id, page.fetch_limit())
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
    let mut conn = db::conn(&ctx.app().pool).await?;
    let found =
        store::items_page(&mut conn, filter, page.after_id, page.fetch_limit(), needs).await?;
    drop(conn);
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
        let name = rules::item_name(&input.name)?;
        let price = rules::price(input.price)?;
        let barcode = rules::barcode(&input.barcode)?;
        let description = rules::description(&input.description)?;
        let creator = ctx.viewer()?.user_id;
        let mut conn = db::conn(&ctx.app().pool).await?;
        let item =
            store::create_item(&mut conn, creator, &name, price, &barcode, &description).await?;
        ctx.app()
            .market_events
            .publish(MarketEventKind::Listed, item.clone())
            .await;
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
        let changes = ItemChanges {
            name: input.name.as_deref().map(rules::item_name).transpose()?,
            price: input.price.map(rules::price).transpose()?,
            barcode: input.barcode.as_deref().map(rules::barcode).transpose()?,
            description: input
                .description
                .as_deref()
                .map(rules::description)
                .transpose()?,
        };
        let mut conn = db::conn(&ctx.app().pool).await?;
        let item = diesel_async::AsyncConnection::transaction::<_, AppError, _>(
            &mut *conn,
            async |conn| store::update_item(conn, id, &changes).await,
        )
        .await?;
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
        let mut conn = db::conn(&ctx.app().pool).await?;
        let item = store::delete_item(&mut conn, id).await?;
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
        let key = input
            .idempotency_key
            .as_deref()
            .map(rules::idempotency_key)
            .transpose()?;
        let buyer = ctx.viewer()?.user_id;
        let mut conn = db::conn(&ctx.app().pool).await?;
        let trade = store::purchase(
            &mut conn,
            ctx.request_info(),
            buyer,
            item_id,
            key.as_deref(),
        )
        .await?;
        if !trade.replayed {
            ctx.app()
                .market_events
                .publish(MarketEventKind::Purchased, trade.item.clone())
                .await;
        }
        Ok(TradePayload {
            item: trade.item,
            budget: trade.budget,
        })
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
        let mut conn = db::conn(&ctx.app().pool).await?;
        let trade = store::sell(&mut conn, ctx.request_info(), seller, item_id).await?;
        ctx.app()
            .market_events
            .publish(MarketEventKind::Sold, trade.item.clone())
            .await;
        Ok(TradePayload {
            item: trade.item,
            budget: trade.budget,
        })
    }
}
