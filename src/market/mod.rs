//! The market: items held by users or on offer, atomic purchase and sale, and the ledger. The
//! functions here are the domain's steps: validate, trade or change through the store, explain
//! a refusal, and log the event with the change, waking subscribers once it has committed.

pub mod events;
pub mod graphql;
pub mod loader;
pub mod model;
pub mod rules;
pub mod store;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use model::{Item, ItemChanges, LedgerEntry, MarketEventKind, Trade};
use store::{Attempt, ItemFilter, ItemsPage, PageNeeds, Side};

use crate::App;
use crate::db;
use crate::error::{AppError, reason};
use crate::request::RequestInfo;
use crate::webhooks::model::EventType;

/// A trade refused by a race that is over by the time its reason is looked up is tried again,
/// this many times in all.
const ATTEMPTS: usize = 3;

/// The filter of `marketItems`: on the market, by name and price.
pub fn market_filter(
    search: Option<&str>,
    min_price: Option<i64>,
    max_price: Option<i64>,
) -> Result<ItemFilter, AppError> {
    let (min_price, max_price) = rules::price_range(min_price, max_price)?;
    Ok(ItemFilter {
        search: crate::text::search(search)?,
        min_price,
        max_price,
        owner: Some(None),
        owned: None,
    })
}

/// A page of items matching `filter`, in id order.
pub async fn items_page(
    app: &App,
    filter: &ItemFilter,
    after_id: Option<i64>,
    limit: i64,
    needs: PageNeeds,
) -> Result<ItemsPage, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::items_page(&mut conn, filter, after_id, limit, needs).await
}

/// An item the viewer may see: on the market, held by them, or any with `items:manage`.
pub async fn visible_item(
    app: &App,
    viewer_id: i64,
    manages_items: bool,
    id: i64,
) -> Result<Item, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    let item = store::find_item(&mut conn, id).await?;
    if !rules::may_see(item.owner_id, viewer_id, manages_items) {
        return Err(AppError::not_found("Item", id));
    }
    Ok(item)
}

/// A page of the user's purchases and sales, newest first.
pub async fn ledger_page(
    app: &App,
    user_id: i64,
    before_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<LedgerEntry>, i64), AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::ledger_page(&mut conn, user_id, before_id, limit).await
}

/// The fields of a new item, as typed.
pub struct NewItem<'a> {
    pub name: &'a str,
    pub price: i64,
    pub barcode: &'a str,
    pub description: &'a str,
}

/// Puts a new item on the market and tells subscribers and webhook endpoints.
pub async fn create_item(app: &App, creator: i64, new: &NewItem<'_>) -> Result<Item, AppError> {
    let name = rules::item_name(new.name)?;
    let price = rules::price(new.price)?;
    let barcode = rules::barcode(new.barcode)?;
    let description = rules::description(new.description)?;
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let item = db::transaction(&mut conn, async |conn| {
        let item =
            store::create_item(conn, creator, &name, price, &barcode, &description, now).await?;
        store::log_events(
            conn,
            MarketEventKind::Listed,
            std::slice::from_ref(&item),
            now,
        )
        .await?;
        let data = serde_json::json!({
            "item": { "id": item.id.to_string(), "name": item.name, "price": item.price },
        });
        crate::webhooks::queue(conn, EventType::ItemListed, &data, now).await?;
        Ok(item)
    })
    .await?;
    app.market_events.changed().await;
    Ok(item)
}

/// Changes of an item, as typed; `None` keeps a field.
pub struct ItemEdit<'a> {
    pub name: Option<&'a str>,
    pub price: Option<i64>,
    pub barcode: Option<&'a str>,
    pub description: Option<&'a str>,
}

/// Changes an item. Its price is fixed while someone holds it, since a sale credits the price:
/// changing it then would create or destroy money.
pub async fn update_item(app: &App, id: i64, edit: &ItemEdit<'_>) -> Result<Item, AppError> {
    let changes = ItemChanges {
        name: edit.name.map(rules::item_name).transpose()?,
        price: edit.price.map(rules::price).transpose()?,
        barcode: edit.barcode.map(rules::barcode).transpose()?,
        description: edit.description.map(rules::description).transpose()?,
    };
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    db::transaction(&mut conn, async |conn| {
        let item = store::lock_item(conn, id).await?;
        rules::check_price_change(item.owner_id.is_some(), item.price, changes.price)?;
        if changes.is_empty() {
            return Ok(item);
        }
        store::update_item(conn, id, &changes, now).await
    })
    .await
}

/// Deletes an item on the market; held items cannot be deleted.
pub async fn delete_item(app: &App, id: i64) -> Result<Item, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::delete_item(&mut conn, id).await
}

/// Buys an item from the market for `buyer`, audited with the request's `origin`. With an
/// idempotency key, a repeat returns the first purchase's result and charges (and records,
/// and publishes) nothing.
pub async fn purchase(
    app: &App,
    origin: &RequestInfo,
    buyer: i64,
    item_id: i64,
    idempotency_key: Option<&str>,
) -> Result<Trade, AppError> {
    let key = idempotency_key.map(rules::idempotency_key).transpose()?;
    let mut conn = db::conn(&app.pool).await?;
    let trade = buy(
        &mut conn,
        origin,
        buyer,
        item_id,
        key.as_deref(),
        app.clock.now(),
    )
    .await?;
    if !trade.replayed {
        app.market_events.changed().await;
    }
    Ok(trade)
}

/// The purchase itself, on the caller's connection (the demo seed buys this way too): tried
/// again while a race that refused it is over, and explained when it is refused for good.
pub async fn buy(
    conn: &mut AsyncPgConnection,
    origin: &RequestInfo,
    buyer: i64,
    item_id: i64,
    key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Trade, AppError> {
    for _ in 0..ATTEMPTS {
        if let Some(trade) = earlier_purchase(conn, buyer, item_id, key).await? {
            return Ok(trade);
        }
        match store::trade(conn, Side::Buyer, buyer, item_id, key, origin, now).await? {
            Attempt::Traded(trade) => return Ok(trade),
            // The next round answers with the purchase that won the key.
            Attempt::KeyTaken => continue,
            Attempt::Refused => {}
        }
        // A repeat that raced the first purchase with its key waited for that purchase to
        // commit, so the key now finds its result.
        if let Some(trade) = earlier_purchase(conn, buyer, item_id, key).await? {
            return Ok(trade);
        }
        if let Some(refusal) = purchase_refusal(conn, buyer, item_id).await? {
            return Err(refusal);
        }
        // Back on the market by the time it was looked at: someone sold it meanwhile.
    }
    Err(not_available())
}

/// Sells `seller`'s item back to the market for its full price, audited with the request's
/// `origin`, and tells subscribers.
pub async fn sell(
    app: &App,
    origin: &RequestInfo,
    seller: i64,
    item_id: i64,
) -> Result<Trade, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    let conn = &mut *conn;
    for _ in 0..ATTEMPTS {
        if let Attempt::Traded(trade) =
            store::trade(conn, Side::Seller, seller, item_id, None, origin, now).await?
        {
            app.market_events.changed().await;
            return Ok(trade);
        }
        let item = store::find_item(conn, item_id).await?;
        if item.owner_id != Some(seller) {
            return Err(not_owner());
        }
        if rules::credit(store::budget_of(conn, seller).await?, item.price).is_none() {
            return Err(AppError::bad_input(
                "itemId",
                "Selling this item would overflow your budget",
            ));
        }
        // Bought back by the seller between the attempt and the look: try again.
    }
    Err(not_owner())
}

/// The earlier purchase made with this key, if any. The same key for another item is a client
/// bug, refused rather than silently answered with the wrong item.
async fn earlier_purchase(
    conn: &mut AsyncPgConnection,
    buyer: i64,
    item_id: i64,
    key: Option<&str>,
) -> Result<Option<Trade>, AppError> {
    let Some(key) = key else {
        return Ok(None);
    };
    match store::purchase_with_key(conn, buyer, key).await? {
        None => Ok(None),
        Some((Some(earlier_item), budget)) if earlier_item == item_id => Ok(Some(Trade {
            item: store::find_item(conn, item_id).await?,
            budget,
            replayed: true,
        })),
        Some(_) => Err(AppError::Conflict {
            reason: reason::IDEMPOTENCY_KEY_REUSED,
            field: Some("idempotencyKey"),
            message: "This idempotency key was used for another purchase".to_owned(),
        }),
    }
}

/// Why `buyer` could not buy the item, as it stands now; `None` if nothing stands in the way
/// any more (the item came back to the market meanwhile).
async fn purchase_refusal(
    conn: &mut AsyncPgConnection,
    buyer: i64,
    item_id: i64,
) -> Result<Option<AppError>, AppError> {
    if crate::accounts::store::is_deleted(conn, buyer).await? {
        return Ok(Some(AppError::Unauthenticated));
    }
    let item = store::find_item(conn, item_id).await?;
    if item.owner_id == Some(buyer) {
        return Ok(Some(AppError::Conflict {
            reason: reason::OWN_ITEM,
            field: None,
            message: "You already hold this item".to_owned(),
        }));
    }
    if item.owner_id.is_some() {
        return Ok(Some(not_available()));
    }
    let budget = store::budget_of(conn, buyer).await?;
    Ok(rules::debit(budget, item.price)
        .is_none()
        .then(|| AppError::Conflict {
            reason: reason::INSUFFICIENT_FUNDS,
            field: None,
            message: format!("This item costs {}; your budget is {budget}", item.price),
        }))
}

fn not_owner() -> AppError {
    AppError::Conflict {
        reason: reason::NOT_OWNER,
        field: None,
        message: "Only the holder of an item can sell it".to_owned(),
    }
}

fn not_available() -> AppError {
    AppError::Conflict {
        reason: reason::NOT_AVAILABLE,
        field: None,
        message: "This item is not on the market".to_owned(),
    }
}
