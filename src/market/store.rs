//! Market queries. Purchases and sales decide every race in the database: each is one statement
//! ([`TradeStatement`]) that locks the trader, moves the item only if it is where it should be
//! (so exactly one claimant wins), changes the budget and writes the ledger and audit rows, or
//! does none of it. Both lock the trader before the item, so they cannot deadlock each other.
//! Why a refused trade was refused, and whether to try again, the domain (`market`) decides.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz, Untyped};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{Item, ItemChanges, LedgerEntry, MarketEventKind, Trade};
use crate::accounts::model::User;
use crate::accounts::store::escape_like;
use crate::audit::model::action;
use crate::db::fixed_sql::fixed_sql;
use crate::db::schema::{items, market_events, market_transactions, users};
use crate::error::{AppError, reason, violated_unique_constraint};
use crate::request::RequestInfo;
use crate::webhooks::model::{EventType, QueuedEvent};
use crate::webhooks::store::{EventData, Queue};

const IDEMPOTENCY_INDEX: &str = "market_transactions_idempotency_key";

pub async fn find_item(conn: &mut AsyncPgConnection, id: i64) -> Result<Item, AppError> {
    items::table
        .find(id)
        .select(Item::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Item", id))
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
    now: DateTime<Utc>,
) -> Result<Item, AppError> {
    diesel::insert_into(items::table)
        .values((
            items::name.eq(name),
            items::price.eq(price),
            items::barcode.eq(barcode),
            items::description.eq(description),
            items::created_by.eq(creator),
            items::created_at.eq(now),
            items::updated_at.eq(now),
        ))
        .returning(Item::as_returning())
        .get_result(conn)
        .await
        .map_err(map_taken)
}

/// The item, locked until the transaction ends.
pub async fn lock_item(conn: &mut AsyncPgConnection, id: i64) -> Result<Item, AppError> {
    items::table
        .find(id)
        .select(Item::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Item", id))
}

pub async fn update_item(
    conn: &mut AsyncPgConnection,
    id: i64,
    changes: &ItemChanges,
    now: DateTime<Utc>,
) -> Result<Item, AppError> {
    diesel::update(items::table.find(id))
        .set((changes, items::updated_at.eq(now)))
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

/// The items the user holds, locked, in id order. Call it with the holder locked
/// ([`crate::accounts::store::lock_live`]): no trade of theirs can then add or take one.
pub async fn held_for_update(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<Vec<Item>, AppError> {
    Ok(items::table
        .filter(items::owner_id.eq(user_id))
        .select(Item::as_select())
        .order(items::id)
        .for_update()
        .load(conn)
        .await?)
}

/// Puts the user's held `items` back on the market as sales: each a `SALE` ledger row with the
/// budget after it (`balances`, one per item, in order) and a logged event, and the budget set
/// to the last. Budgets
/// plus held prices, and budgets against the ledger, stay as they were.
pub async fn return_to_market(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    (items, balances): (&[Item], &[i64]),
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let Some(budget) = balances.last() else {
        return Ok(());
    };
    let ids: Vec<i64> = items.iter().map(|item| item.id).collect();
    diesel::update(items::table.filter(items::id.eq_any(&ids)))
        .set((items::owner_id.eq(None::<i64>), items::updated_at.eq(now)))
        .execute(conn)
        .await?;
    let rows: Vec<_> = items
        .iter()
        .zip(balances)
        .map(|(item, balance)| {
            (
                market_transactions::item_id.eq(item.id),
                market_transactions::seller_id.eq(user_id),
                market_transactions::amount.eq(item.price),
                market_transactions::kind.eq("SALE"),
                market_transactions::balance_after.eq(*balance),
                market_transactions::created_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(market_transactions::table)
        .values(rows)
        .execute(conn)
        .await?;
    diesel::update(users::table.find(user_id))
        .set(users::budget.eq(budget))
        .execute(conn)
        .await?;
    let returned: Vec<Item> = items
        .iter()
        .map(|item| Item {
            owner_id: None,
            updated_at: now,
            ..item.clone()
        })
        .collect();
    log_events(conn, MarketEventKind::Sold, &returned, now).await
}

/// An event as the log keeps it; (tx, id) is where it stands (see the migration that made the
/// log).
#[derive(Queryable, Selectable)]
#[diesel(table_name = market_events, check_for_backend(Pg))]
pub struct LoggedEvent {
    pub tx: i64,
    pub id: i64,
    pub kind: String,
    pub item: serde_json::Value,
}

/// The transaction id below which every transaction has ended: logged events below it are
/// settled, since no running or later transaction can add one there.
const SETTLED_BELOW: &str = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// Logs that `items` (as they are now) were listed, bought or sold, in the caller's transaction.
pub async fn log_events(
    conn: &mut AsyncPgConnection,
    kind: MarketEventKind,
    items: &[Item],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let rows = items
        .iter()
        .map(|item| {
            Ok((
                market_events::kind.eq(kind.code()),
                market_events::item.eq(serde_json::to_value(item)?),
                market_events::created_at.eq(now),
            ))
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()
        .map_err(|error| AppError::Internal(error.into()))?;
    diesel::insert_into(market_events::table)
        .values(rows)
        .execute(conn)
        .await?;
    Ok(())
}

/// Up to `limit` logged events after `after` in the log's order, settled or not, each with the
/// bound below which the log was settled when they were read.
pub async fn events_after(
    conn: &mut AsyncPgConnection,
    after: (i64, i64),
    limit: i64,
) -> Result<Vec<(LoggedEvent, i64)>, AppError> {
    Ok(market_events::table
        .filter(
            fixed_sql::<Bool>("(market_events.tx, market_events.id) > (").then(
                (after.0.into_sql::<BigInt>(), after.1.into_sql::<BigInt>()),
                ")",
            ),
        )
        .order((market_events::tx, market_events::id))
        .limit(limit)
        .select((LoggedEvent::as_select(), fixed_sql::<BigInt>(SETTLED_BELOW)))
        .load(conn)
        .await?)
}

/// Where the settled part of the log ends, if anything is logged.
pub async fn settled_end(conn: &mut AsyncPgConnection) -> Result<Option<(i64, i64)>, AppError> {
    Ok(market_events::table
        .filter(market_events::tx.lt(fixed_sql::<BigInt>(SETTLED_BELOW)))
        .order((market_events::tx.desc(), market_events::id.desc()))
        .select((market_events::tx, market_events::id))
        .first(conn)
        .await
        .optional()?)
}

/// Whether the event at `position` is still logged (old events are deleted by the cleanup).
pub async fn is_logged(
    conn: &mut AsyncPgConnection,
    (tx, id): (i64, i64),
) -> Result<bool, AppError> {
    Ok(diesel::select(diesel::dsl::exists(
        market_events::table
            .find(id)
            .filter(market_events::tx.eq(tx)),
    ))
    .get_result(conn)
    .await?)
}

/// Deletes the events logged before `before`. Rows deleted.
pub async fn delete_events_before(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
) -> Result<usize, AppError> {
    Ok(
        diesel::delete(market_events::table.filter(market_events::created_at.lt(before)))
            .execute(conn)
            .await?,
    )
}

/// What one trade statement did.
pub enum Attempt {
    Traded(Trade),
    /// Nothing changed: the item was not where the side needs it, or the budget did not allow.
    Refused,
    /// A concurrent purchase with the same idempotency key committed first.
    KeyTaken,
}

/// Runs one trade statement for `trader`, audited with the request's `origin`.
pub async fn trade(
    conn: &mut AsyncPgConnection,
    side: Side,
    trader: i64,
    item_id: i64,
    idempotency_key: Option<&str>,
    origin: &RequestInfo,
    now: DateTime<Utc>,
) -> Result<Attempt, AppError> {
    let event = QueuedEvent::new(
        match side {
            Side::Buyer => EventType::ItemPurchased,
            Side::Seller => EventType::ItemSold,
        },
        now,
    );
    let statement = TradeStatement {
        side,
        trader,
        item_id,
        idempotency_key,
        origin,
        now,
        webhook: Queue {
            event: &event,
            data: EventData::Sql(TRADE_EVENT_DATA),
            from: ", traded, trader, settled",
        },
    };
    match statement.get_result::<Traded>(conn).await.optional() {
        Ok(Some(traded)) => Ok(Attempt::Traded(Trade {
            item: traded.item,
            budget: traded.budget,
            replayed: false,
        })),
        Ok(None) => Ok(Attempt::Refused),
        Err(error) if violated_unique_constraint(&error) == Some(IDEMPOTENCY_INDEX) => {
            Ok(Attempt::KeyTaken)
        }
        Err(error) => Err(error.into()),
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

/// The item and the budget after it of the buyer's purchase made with this key, if any.
pub async fn purchase_with_key(
    conn: &mut AsyncPgConnection,
    buyer: i64,
    key: &str,
) -> Result<Option<(Option<i64>, i64)>, AppError> {
    Ok(market_transactions::table
        .filter(market_transactions::buyer_id.eq(buyer))
        .filter(market_transactions::idempotency_key.eq(key))
        .select((
            market_transactions::item_id,
            market_transactions::balance_after,
        ))
        .first(conn)
        .await
        .optional()?)
}

pub async fn budget_of(conn: &mut AsyncPgConnection, user_id: i64) -> Result<i64, AppError> {
    Ok(users::table
        .find(user_id)
        .select(users::budget)
        .first(conn)
        .await?)
}

/// Which way an item moves in a trade.
#[derive(Clone, Copy)]
pub enum Side {
    /// From the market to the trader, for its price.
    Buyer,
    /// From the trader back to the market, for its price.
    Seller,
}

/// What a trade's webhook event says: the item, the trader and their budget after it (the
/// same item object as `item.listed` carries).
const TRADE_EVENT_DATA: &str = "jsonb_build_object('item', jsonb_build_object('id', traded.id::text, \
     'name', traded.name, 'price', traded.price), 'userId', trader.id::text, \
     'budgetAfter', settled.budget)";

/// A whole trade in one statement: lock the trader's row, move the item if it is where the
/// side needs it and the budget allows (the same bounds as `market::rules::debit` and `credit`),
/// change the budget, and write the ledger and audit rows and queue its webhook deliveries. One statement is atomic without a
/// transaction block: it returns no row and changes nothing (writing no audit row either) when
/// the item is not where it should be or the budget does not allow it. The trader's row is
/// locked before the item's, whichever the side, so two trades never wait for each other in
/// opposite orders.
struct TradeStatement<'a> {
    side: Side,
    trader: i64,
    item_id: i64,
    idempotency_key: Option<&'a str>,
    /// Who asked, from where: the audit row's actor is the trader.
    origin: &'a RequestInfo,
    now: DateTime<Utc>,
    /// The deliveries of the trade's event to the endpoints subscribed to it.
    webhook: Queue<'a>,
}

/// What a trade statement returns: the item as it is now and the trader's new budget.
#[derive(QueryableByName)]
struct Traded {
    #[diesel(embed)]
    item: Item,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    budget: i64,
}

// The two sides' texts differ, so the statement is cached by its text (a static query id
// would make both sides share one prepared statement).
impl QueryId for TradeStatement<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for TradeStatement<'_> {
    type SqlType = Untyped;
}

impl QueryFragment<Pg> for TradeStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH trader AS (SELECT id, budget FROM users WHERE id = ");
        out.push_bind_param::<BigInt, _>(&self.trader)?;
        // A tombstone trades no more: a trade that waited for an erasure finds no trader.
        out.push_sql(
            " AND deleted_at IS NULL FOR NO KEY UPDATE), traded AS (UPDATE items SET owner_id = ",
        );
        out.push_sql(match self.side {
            Side::Buyer => "trader.id",
            Side::Seller => "NULL",
        });
        out.push_sql(", updated_at = ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(" FROM trader WHERE items.id = ");
        out.push_bind_param::<BigInt, _>(&self.item_id)?;
        match self.side {
            Side::Buyer => {
                out.push_sql(" AND items.owner_id IS NULL AND items.price <= trader.budget");
            }
            Side::Seller => {
                out.push_sql(" AND items.owner_id = trader.id AND items.price <= ");
                out.push_bind_param::<BigInt, _>(&i64::MAX)?;
                out.push_sql(" - trader.budget");
            }
        }
        out.push_sql(" RETURNING items.*), settled AS (UPDATE users SET budget = users.budget ");
        out.push_sql(match self.side {
            Side::Buyer => "-",
            Side::Seller => "+",
        });
        out.push_sql(
            " traded.price FROM traded, trader WHERE users.id = trader.id RETURNING users.budget),
             ledger AS (INSERT INTO market_transactions
                 (item_id, buyer_id, seller_id, amount, kind, balance_after, idempotency_key, created_at)
               SELECT traded.id, ",
        );
        out.push_sql(match self.side {
            Side::Buyer => "trader.id, NULL, traded.price, 'PURCHASE'",
            Side::Seller => "NULL, trader.id, traded.price, 'SALE'",
        });
        out.push_sql(", settled.budget, ");
        out.push_bind_param::<Nullable<Text>, _>(&self.idempotency_key)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(
            " FROM traded, trader, settled), noted AS (INSERT INTO market_events (kind, item, created_at) SELECT '",
        );
        out.push_sql(match self.side {
            Side::Buyer => MarketEventKind::Purchased.code(),
            Side::Seller => MarketEventKind::Sold.code(),
        });
        out.push_sql("', to_jsonb(traded), ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(" FROM traded), audited AS (");
        out.push_sql(crate::audit::store::INSERT);
        out.push_sql(" SELECT trader.id, ");
        out.push_bind_param::<Text, _>(match self.side {
            Side::Buyer => &action::MARKET_PURCHASE,
            Side::Seller => &action::MARKET_SALE,
        })?;
        out.push_sql(
            ", 'item', traded.id, \
             jsonb_build_object('price', traded.price, 'budgetAfter', settled.budget), ",
        );
        out.push_bind_param::<Nullable<Text>, _>(&self.origin.ip)?;
        out.push_sql("::inet, ");
        out.push_bind_param::<Nullable<Text>, _>(&self.origin.user_agent)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.origin.request_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.origin.client_request_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(" FROM traded, trader, settled), webhooks AS (");
        self.webhook.walk_ast(out.reborrow())?;
        out.push_sql(") SELECT traded.*, settled.budget FROM traded, settled");
        Ok(())
    }
}

fn map_taken(error: diesel::result::Error) -> AppError {
    match violated_unique_constraint(&error) {
        Some("items_name_lower_key") => AppError::taken("name"),
        Some("items_barcode_key") => AppError::taken("barcode"),
        _ => error.into(),
    }
}
