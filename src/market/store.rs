//! Market queries. Purchases and sales decide every race in the database: the item is claimed
//! by a conditional UPDATE (so exactly one claimant wins), then the user's row is locked and the
//! new budget computed by the checked rules. Both lock the item before the user, so they cannot
//! deadlock each other.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::model::{Item, ItemChanges, LedgerEntry, Trade};
use super::rules;
use crate::accounts::model::User;
use crate::accounts::store::escape_like;
use crate::db::schema::{items, market_transactions, users};
use crate::error::{AppError, reason, violated_unique_constraint};

const IDEMPOTENCY_INDEX: &str = "market_transactions_idempotency_key";
/// Serialization failures are retried this many times before the caller sees one.
const ATTEMPTS: usize = 3;

pub async fn find_item(conn: &mut AsyncPgConnection, id: i64) -> Result<Item, AppError> {
    items::table
        .find(id)
        .select(Item::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(AppError::NotFound("Item"))
}

pub async fn items_by_ids(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
) -> Result<Vec<Item>, AppError> {
    Ok(items::table
        .filter(items::id.eq_any(ids))
        .select(Item::as_select())
        .load(conn)
        .await?)
}

#[derive(Default)]
pub struct ItemFilter {
    pub search: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// `Some(None)`: on the market; `Some(Some(id))`: held by that user.
    pub owner: Option<Option<i64>>,
    /// `Some(true)`: held by someone; `Some(false)`: on the market.
    pub owned: Option<bool>,
}

/// What a page of items needs besides the items.
#[derive(Clone, Copy, Debug, Default)]
pub struct PageNeeds {
    /// Load each item's owner in the same statement.
    pub owners: bool,
    /// Count every matching item (a second statement that reads them all).
    pub total: bool,
}

pub struct ItemsPage {
    pub items: Vec<Item>,
    /// The owners of the page's items, when asked for.
    pub owners: Vec<User>,
    pub total: Option<i64>,
}

/// Narrows a boxed query whose rows include an item (alone or joined) to `filter`. A macro
/// because diesel gives each query source its own type.
macro_rules! filtered {
    ($query:expr, $filter:expr) => {{
        let filter: &ItemFilter = $filter;
        let mut query = $query;
        if let Some(search) = &filter.search {
            query = query.filter(
                items::name
                    .ilike(format!("%{}%", escape_like(search.trim())))
                    .escape('\\'),
            );
        }
        if let Some(min) = filter.min_price {
            query = query.filter(items::price.ge(min));
        }
        if let Some(max) = filter.max_price {
            query = query.filter(items::price.le(max));
        }
        match filter.owner {
            Some(Some(owner)) => query = query.filter(items::owner_id.eq(owner)),
            Some(None) => query = query.filter(items::owner_id.is_null()),
            None => {}
        }
        match filter.owned {
            Some(true) => query = query.filter(items::owner_id.is_not_null()),
            Some(false) => query = query.filter(items::owner_id.is_null()),
            None => {}
        }
        query
    }};
}

/// A page of items matching `filter`, in id order.
pub async fn items_page(
    conn: &mut AsyncPgConnection,
    filter: &ItemFilter,
    after_id: Option<i64>,
    limit: i64,
    needs: PageNeeds,
) -> Result<ItemsPage, AppError> {
    // Ids are positive: with no cursor this passes every row, and the statement's text stays the
    // same with or without one, so it stays prepared.
    let after = items::id.gt(after_id.unwrap_or(0));
    let (items, owners) = if needs.owners {
        let page = items::table
            .left_join(users::table.on(items::owner_id.eq(users::id.nullable())))
            .select((Item::as_select(), Option::<User>::as_select()))
            .filter(after)
            .order(items::id)
            .limit(limit)
            .into_boxed();
        let rows: Vec<(Item, Option<User>)> = filtered!(page, filter).load(conn).await?;
        let (items, owners): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
        (items, owners.into_iter().flatten().collect())
    } else {
        let page = items::table
            .select(Item::as_select())
            .filter(after)
            .order(items::id)
            .limit(limit)
            .into_boxed();
        (filtered!(page, filter).load(conn).await?, Vec::new())
    };
    let total = if needs.total {
        let count = items::table.count().into_boxed();
        Some(filtered!(count, filter).get_result(conn).await?)
    } else {
        None
    };
    Ok(ItemsPage {
        items,
        owners,
        total,
    })
}

pub async fn create_item(
    conn: &mut AsyncPgConnection,
    creator: i64,
    name: &str,
    price: i64,
    barcode: &str,
    description: &str,
) -> Result<Item, AppError> {
    diesel::insert_into(items::table)
        .values((
            items::name.eq(name),
            items::price.eq(price),
            items::barcode.eq(barcode),
            items::description.eq(description),
            items::created_by.eq(creator),
        ))
        .returning(Item::as_returning())
        .get_result(conn)
        .await
        .map_err(map_taken)
}

/// Changes an item. Its price is fixed while someone holds it, since a sale credits the price:
/// changing it then would create or destroy money.
pub async fn update_item(
    conn: &mut AsyncPgConnection,
    id: i64,
    changes: &ItemChanges,
) -> Result<Item, AppError> {
    let item: Item = items::table
        .find(id)
        .select(Item::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(AppError::NotFound("Item"))?;
    if item.owner_id.is_some() && changes.price.is_some_and(|price| price != item.price) {
        return Err(AppError::Conflict {
            reason: reason::OWNED,
            field: Some("price"),
            message: "The price of an item someone holds cannot change".to_owned(),
        });
    }
    if changes.name.is_none()
        && changes.price.is_none()
        && changes.barcode.is_none()
        && changes.description.is_none()
    {
        return Ok(item);
    }
    diesel::update(items::table.find(id))
        .set((changes, items::updated_at.eq(diesel::dsl::now)))
        .returning(Item::as_returning())
        .get_result(conn)
        .await
        .map_err(map_taken)
}

/// Deletes an item on the market; one that someone holds cannot be deleted.
pub async fn delete_item(conn: &mut AsyncPgConnection, id: i64) -> Result<Item, AppError> {
    let deleted = diesel::delete(
        items::table
            .filter(items::id.eq(id))
            .filter(items::owner_id.is_null()),
    )
    .returning(Item::as_returning())
    .get_result(conn)
    .await
    .optional()?;
    match deleted {
        Some(item) => Ok(item),
        None => {
            find_item(conn, id).await?;
            Err(AppError::Conflict {
                reason: reason::OWNED,
                field: None,
                message: "An item someone holds cannot be deleted".to_owned(),
            })
        }
    }
}

/// Buys item `item_id` from the market for `buyer`. With an idempotency key, a repeat returns
/// the first purchase's result and charges nothing.
pub async fn purchase(
    conn: &mut AsyncPgConnection,
    buyer: i64,
    item_id: i64,
    idempotency_key: Option<&str>,
) -> Result<Trade, AppError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = conn
            .transaction::<_, TradeFailure, _>(async |conn| {
                if let Some(key) = idempotency_key
                    && let Some(trade) = earlier_purchase(conn, buyer, item_id, key).await?
                {
                    return Ok(trade);
                }
                let item = match claim(conn, item_id, buyer).await {
                    Ok(item) => item,
                    Err(refusal) => {
                        // A repeat that raced the first purchase with its key: the claim waited
                        // for that purchase to commit, so the key now finds its result.
                        if let Some(key) = idempotency_key
                            && let Some(trade) = earlier_purchase(conn, buyer, item_id, key).await?
                        {
                            return Ok(trade);
                        }
                        return Err(refusal.into());
                    }
                };
                let budget = locked_budget(conn, buyer).await?;
                let budget =
                    rules::debit(budget, item.price).ok_or_else(|| AppError::Conflict {
                        reason: reason::INSUFFICIENT_FUNDS,
                        field: None,
                        message: format!("This item costs {}; your budget is {budget}", item.price),
                    })?;
                settle(conn, Side::Buyer(buyer), &item, budget, idempotency_key).await?;
                Ok(Trade {
                    item,
                    budget,
                    replayed: false,
                })
            })
            .await;
        match outcome {
            Ok(trade) => return Ok(trade),
            // A concurrent purchase with the same key committed first: ours rolled back, and the
            // next attempt answers with its result.
            Err(TradeFailure::Db(error))
                if violated_unique_constraint(&error) == Some(IDEMPOTENCY_INDEX)
                    && attempt < ATTEMPTS => {}
            Err(TradeFailure::Db(error))
                if is_serialization_failure(&error) && attempt < ATTEMPTS => {}
            Err(failure) => return Err(failure.into()),
        }
    }
}

/// Sells `seller`'s item back to the market for its full price.
pub async fn sell(
    conn: &mut AsyncPgConnection,
    seller: i64,
    item_id: i64,
) -> Result<Trade, AppError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = conn
            .transaction::<_, TradeFailure, _>(async |conn| {
                let released: Option<Item> = diesel::update(
                    items::table
                        .filter(items::id.eq(item_id))
                        .filter(items::owner_id.eq(seller)),
                )
                .set((
                    items::owner_id.eq(None::<i64>),
                    items::updated_at.eq(diesel::dsl::now),
                ))
                .returning(Item::as_returning())
                .get_result(conn)
                .await
                .optional()?;
                let Some(item) = released else {
                    find_item(conn, item_id).await?;
                    return Err(AppError::Conflict {
                        reason: reason::NOT_OWNER,
                        field: None,
                        message: "Only the holder of an item can sell it".to_owned(),
                    }
                    .into());
                };
                let budget = locked_budget(conn, seller).await?;
                let budget = rules::credit(budget, item.price).ok_or_else(|| {
                    AppError::bad_input("itemId", "Selling this item would overflow your budget")
                })?;
                settle(conn, Side::Seller(seller), &item, budget, None).await?;
                Ok(Trade {
                    item,
                    budget,
                    replayed: false,
                })
            })
            .await;
        match outcome {
            Ok(trade) => return Ok(trade),
            Err(TradeFailure::Db(error))
                if is_serialization_failure(&error) && attempt < ATTEMPTS => {}
            Err(failure) => return Err(failure.into()),
        }
    }
}

/// A page of the user's ledger rows (as buyer or seller), newest first.
pub async fn ledger_page(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    before_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<LedgerEntry>, i64), AppError> {
    let mine = || {
        market_transactions::table.filter(
            market_transactions::buyer_id
                .eq(user_id)
                .or(market_transactions::seller_id.eq(user_id)),
        )
    };
    let mut page = mine()
        .select(LedgerEntry::as_select())
        .order(market_transactions::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before_id) = before_id {
        page = page.filter(market_transactions::id.lt(before_id));
    }
    let rows = page.load(conn).await?;
    let total = mine().count().get_result(conn).await?;
    Ok((rows, total))
}

/// The earlier purchase made with this key, if any. The same key for another item is a client
/// bug, refused rather than silently answered with the wrong item.
async fn earlier_purchase(
    conn: &mut AsyncPgConnection,
    buyer: i64,
    item_id: i64,
    key: &str,
) -> Result<Option<Trade>, AppError> {
    let earlier: Option<(Option<i64>, i64)> = market_transactions::table
        .filter(market_transactions::buyer_id.eq(buyer))
        .filter(market_transactions::idempotency_key.eq(key))
        .select((
            market_transactions::item_id,
            market_transactions::balance_after,
        ))
        .first(conn)
        .await
        .optional()?;
    match earlier {
        None => Ok(None),
        Some((Some(earlier_item), budget)) if earlier_item == item_id => Ok(Some(Trade {
            item: find_item(conn, item_id).await?,
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

/// Takes the item off the market for `buyer`, or says why not.
async fn claim(conn: &mut AsyncPgConnection, item_id: i64, buyer: i64) -> Result<Item, AppError> {
    let claimed: Option<Item> = diesel::update(
        items::table
            .filter(items::id.eq(item_id))
            .filter(items::owner_id.is_null()),
    )
    .set((
        items::owner_id.eq(buyer),
        items::updated_at.eq(diesel::dsl::now),
    ))
    .returning(Item::as_returning())
    .get_result(conn)
    .await
    .optional()?;
    if let Some(item) = claimed {
        return Ok(item);
    }
    let item = find_item(conn, item_id).await?;
    let (reason, message) = if item.owner_id == Some(buyer) {
        (reason::OWN_ITEM, "You already hold this item")
    } else {
        (reason::NOT_AVAILABLE, "This item is not on the market")
    };
    Err(AppError::Conflict {
        reason,
        field: None,
        message: message.to_owned(),
    })
}

/// Locks the user's row for a budget change. `FOR NO KEY UPDATE`, not `FOR UPDATE`: claiming an
/// item checks its `owner_id` foreign key, which takes `FOR KEY SHARE` on this row, and two
/// purchases by one buyer would each wait for the other's key-share lock (a deadlock).
// Both keep database errors raw, so a deadlock or serialization failure reaches the retry loop.
async fn locked_budget(conn: &mut AsyncPgConnection, user_id: i64) -> diesel::QueryResult<i64> {
    users::table
        .find(user_id)
        .select(users::budget)
        .for_no_key_update()
        .first(conn)
        .await
}

/// Who a ledger row is about.
#[derive(Clone, Copy)]
enum Side {
    Buyer(i64),
    Seller(i64),
}

/// Sets the trader's new budget and writes the trade's ledger row.
async fn settle(
    conn: &mut AsyncPgConnection,
    side: Side,
    item: &Item,
    budget: i64,
    idempotency_key: Option<&str>,
) -> diesel::QueryResult<()> {
    let (user_id, buyer, seller, kind) = match side {
        Side::Buyer(user) => (user, Some(user), None, "PURCHASE"),
        Side::Seller(user) => (user, None, Some(user), "SALE"),
    };
    diesel::update(users::table.find(user_id))
        .set(users::budget.eq(budget))
        .execute(conn)
        .await?;
    diesel::insert_into(market_transactions::table)
        .values((
            market_transactions::item_id.eq(item.id),
            market_transactions::buyer_id.eq(buyer),
            market_transactions::seller_id.eq(seller),
            market_transactions::amount.eq(item.price),
            market_transactions::kind.eq(kind),
            market_transactions::balance_after.eq(budget),
            market_transactions::idempotency_key.eq(idempotency_key),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Inside a trade's transaction: database errors are kept as they are, so the retry loop can
/// tell a lost race on the idempotency key or a serialization failure from a real failure.
enum TradeFailure {
    Db(diesel::result::Error),
    App(AppError),
}

impl From<diesel::result::Error> for TradeFailure {
    fn from(error: diesel::result::Error) -> Self {
        Self::Db(error)
    }
}

impl From<AppError> for TradeFailure {
    fn from(error: AppError) -> Self {
        Self::App(error)
    }
}

impl From<TradeFailure> for AppError {
    fn from(failure: TradeFailure) -> Self {
        match failure {
            TradeFailure::Db(error) => error.into(),
            TradeFailure::App(error) => error,
        }
    }
}

fn is_serialization_failure(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::SerializationFailure,
            _
        )
    )
}

fn map_taken(error: diesel::result::Error) -> AppError {
    match violated_unique_constraint(&error) {
        Some("items_name_lower_key") => AppError::taken("name"),
        Some("items_barcode_key") => AppError::taken("barcode"),
        _ => error.into(),
    }
}
