//! SQL of payments.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{PENDING, TopUp, TopUpRefund};
use crate::db::schema::{market_transactions, stripe_events, top_up_refunds, top_ups, users};
use crate::error::AppError;

/// What a new top-up is.
pub struct NewTopUp<'a> {
    pub user_id: i64,
    pub units: i64,
    pub amount: i64,
    pub currency: &'a str,
    pub idempotency_key: &'a str,
}

/// The user's top-up under `idempotency_key`, made now as `new` unless one exists already:
/// the row, and whether it is new. Concurrent twins meet at the unique key and see one row.
pub async fn insert_or_find_top_up(
    conn: &mut AsyncPgConnection,
    new: &NewTopUp<'_>,
    now: DateTime<Utc>,
) -> Result<(TopUp, bool), AppError> {
    let inserted = diesel::insert_into(top_ups::table)
        .values((
            top_ups::user_id.eq(new.user_id),
            top_ups::units.eq(new.units),
            top_ups::amount.eq(new.amount),
            top_ups::currency.eq(new.currency),
            top_ups::idempotency_key.eq(new.idempotency_key),
            top_ups::state.eq(PENDING),
            top_ups::created_at.eq(now),
            top_ups::updated_at.eq(now),
        ))
        .on_conflict((top_ups::user_id, top_ups::idempotency_key))
        .do_nothing()
        .returning(TopUp::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    if let Some(row) = inserted {
        return Ok((row, true));
    }
    let existing = top_ups::table
        .filter(top_ups::user_id.eq(new.user_id))
        .filter(top_ups::idempotency_key.eq(new.idempotency_key))
        .select(TopUp::as_select())
        .get_result(conn)
        .await?;
    Ok((existing, false))
}

/// Budget units the user bought or is buying since `since` (failed top-ups left out).
pub async fn units_since(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    since: DateTime<Utc>,
) -> Result<i64, AppError> {
    let sum: Option<i64> = top_ups::table
        .filter(top_ups::user_id.eq(user_id))
        .filter(top_ups::created_at.gt(since))
        .filter(top_ups::state.ne(super::model::FAILED))
        .select(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
        >("sum(units)::bigint"))
        .get_result(conn)
        .await?;
    Ok(sum.unwrap_or(0))
}

/// Records the PaymentIntent Stripe made for a top-up while it is pending; the top-up as it is.
pub async fn attach_payment_intent(
    conn: &mut AsyncPgConnection,
    top_up_id: i64,
    (payment_intent_id, client_secret): (&str, &str),
    now: DateTime<Utc>,
) -> Result<TopUp, AppError> {
    let attached = diesel::update(
        top_ups::table
            .find(top_up_id)
            .filter(top_ups::state.eq(PENDING)),
    )
    .set((
        top_ups::payment_intent_id.eq(payment_intent_id),
        top_ups::client_secret.eq(client_secret),
        top_ups::updated_at.eq(now),
    ))
    .returning(TopUp::as_returning())
    .get_result(conn)
    .await
    .optional()?;
    match attached {
        Some(top_up) => Ok(top_up),
        None => find_top_up(conn, top_up_id)
            .await?
            .ok_or_else(|| AppError::NotFound("Top-up".into())),
    }
}

/// Fails the pending top-ups made before `cutoff` that have no PaymentIntent: their ids.
pub async fn fail_unsent_before(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, AppError> {
    Ok(diesel::update(
        top_ups::table
            .filter(top_ups::state.eq(PENDING))
            .filter(top_ups::payment_intent_id.is_null())
            .filter(top_ups::created_at.lt(cutoff)),
    )
    .set((
        top_ups::state.eq(super::model::FAILED),
        top_ups::updated_at.eq(now),
    ))
    .returning(top_ups::id)
    .get_results(conn)
    .await?)
}

/// The user's top-ups, newest first, at most `limit`.
pub async fn top_ups_of(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    limit: i64,
) -> Result<Vec<TopUp>, AppError> {
    Ok(top_ups::table
        .filter(top_ups::user_id.eq(user_id))
        .order(top_ups::id.desc())
        .limit(limit)
        .select(TopUp::as_select())
        .load(conn)
        .await?)
}

/// Notes that the Stripe event `id` is being acted on; false when it was already (a
/// redelivery, or a concurrent twin that committed first: the insert waits for it).
pub async fn claim_event(
    conn: &mut AsyncPgConnection,
    (id, event_type): (&str, &str),
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let inserted = diesel::insert_into(stripe_events::table)
        .values((
            stripe_events::id.eq(id),
            stripe_events::event_type.eq(event_type),
            stripe_events::received_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// The top-up of a PaymentIntent, locked for the rest of the transaction.
pub async fn lock_by_payment_intent(
    conn: &mut AsyncPgConnection,
    payment_intent_id: &str,
) -> Result<Option<TopUp>, AppError> {
    Ok(top_ups::table
        .filter(top_ups::payment_intent_id.eq(payment_intent_id))
        .select(TopUp::as_select())
        .for_update()
        .get_result(conn)
        .await
        .optional()?)
}

/// Credits a pending top-up: the budget grows by its units, a `TOP_UP` ledger row records it
/// with the balance after, and the top-up is `SUCCEEDED`. The new budget.
pub async fn credit(
    conn: &mut AsyncPgConnection,
    top_up: &TopUp,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    let budget: i64 = diesel::update(users::table.find(top_up.user_id))
        .set(users::budget.eq(users::budget + top_up.units))
        .returning(users::budget)
        .get_result(conn)
        .await?;
    diesel::insert_into(market_transactions::table)
        .values((
            market_transactions::seller_id.eq(top_up.user_id),
            market_transactions::amount.eq(top_up.units),
            market_transactions::kind.eq("TOP_UP"),
            market_transactions::balance_after.eq(budget),
            market_transactions::top_up_id.eq(top_up.id),
            market_transactions::created_at.eq(now),
        ))
        .execute(conn)
        .await?;
    set_state(conn, top_up.id, super::model::SUCCEEDED, now).await?;
    Ok(budget)
}

/// Moves a top-up to `state` (`credited_at` with `SUCCEEDED`).
pub async fn set_state(
    conn: &mut AsyncPgConnection,
    top_up_id: i64,
    state: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let credited = (state == super::model::SUCCEEDED).then_some(now);
    diesel::update(top_ups::table.find(top_up_id))
        .set((
            top_ups::state.eq(state),
            top_ups::credited_at.eq(credited),
            top_ups::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Pending top-ups with a PaymentIntent, made before `cutoff`: the oldest 100.
pub async fn pending_since_before(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
) -> Result<Vec<TopUp>, AppError> {
    Ok(top_ups::table
        .filter(top_ups::state.eq(PENDING))
        .filter(top_ups::payment_intent_id.is_not_null())
        .filter(top_ups::created_at.lt(cutoff))
        .order(top_ups::id)
        .limit(100)
        .select(TopUp::as_select())
        .load(conn)
        .await?)
}

pub async fn find_top_up(
    conn: &mut AsyncPgConnection,
    top_up_id: i64,
) -> Result<Option<TopUp>, AppError> {
    Ok(top_ups::table
        .find(top_up_id)
        .select(TopUp::as_select())
        .get_result(conn)
        .await
        .optional()?)
}

/// Takes up to `units` from the user's budget, never below zero: the units taken and the
/// budget after. The user's row stays locked, so a trade cannot spend between the two.
pub async fn debit_unspent(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    units: i64,
) -> Result<(i64, i64), AppError> {
    let budget: i64 = users::table
        .find(user_id)
        .select(users::budget)
        .for_update()
        .get_result(conn)
        .await?;
    let debited = units.clamp(0, budget.max(0));
    if debited == 0 {
        return Ok((0, budget));
    }
    let after = diesel::update(users::table.find(user_id))
        .set(users::budget.eq(users::budget - debited))
        .returning(users::budget)
        .get_result(conn)
        .await?;
    Ok((debited, after))
}

/// A refund to record against a locked top-up.
pub struct NewRefund<'a> {
    pub top_up: &'a TopUp,
    pub amount: i64,
    pub units: i64,
    pub debited_units: i64,
    /// The budget after the debit, for the ledger.
    pub balance_after: i64,
    pub source: &'a str,
    pub stripe_ref: &'a str,
    pub requested_by: Option<i64>,
}

/// Records a refund: its row, a `REFUND` ledger row for the units taken back (none when all
/// were spent), and the top-up's running totals.
pub async fn record_refund(
    conn: &mut AsyncPgConnection,
    new: &NewRefund<'_>,
    now: DateTime<Utc>,
) -> Result<TopUpRefund, AppError> {
    let refund = diesel::insert_into(top_up_refunds::table)
        .values((
            top_up_refunds::top_up_id.eq(new.top_up.id),
            top_up_refunds::amount.eq(new.amount),
            top_up_refunds::units.eq(new.units),
            top_up_refunds::debited_units.eq(new.debited_units),
            top_up_refunds::source.eq(new.source),
            top_up_refunds::stripe_ref.eq(new.stripe_ref),
            top_up_refunds::requested_by.eq(new.requested_by),
            top_up_refunds::created_at.eq(now),
        ))
        .returning(TopUpRefund::as_returning())
        .get_result(conn)
        .await?;
    if new.debited_units > 0 {
        diesel::insert_into(market_transactions::table)
            .values((
                market_transactions::buyer_id.eq(new.top_up.user_id),
                market_transactions::amount.eq(new.debited_units),
                market_transactions::kind.eq("REFUND"),
                market_transactions::balance_after.eq(new.balance_after),
                market_transactions::top_up_id.eq(new.top_up.id),
                market_transactions::top_up_refund_id.eq(refund.id),
                market_transactions::created_at.eq(now),
            ))
            .execute(conn)
            .await?;
    }
    diesel::update(top_ups::table.find(new.top_up.id))
        .set((
            top_ups::refunded_amount.eq(top_ups::refunded_amount + new.amount),
            top_ups::refunded_units.eq(top_ups::refunded_units + new.units),
            top_ups::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(refund)
}

/// Refunds whose units were partly spent and that no administrator has reviewed, oldest
/// first, at most `limit`.
pub async fn flagged_refunds(
    conn: &mut AsyncPgConnection,
    limit: i64,
) -> Result<Vec<TopUpRefund>, AppError> {
    Ok(top_up_refunds::table
        .filter(top_up_refunds::debited_units.lt(top_up_refunds::units))
        .filter(top_up_refunds::reviewed_at.is_null())
        .order(top_up_refunds::id)
        .limit(limit)
        .select(TopUpRefund::as_select())
        .load(conn)
        .await?)
}

/// Marks a flagged refund reviewed by `reviewer`; `None` when no refund with `id` awaits
/// review.
pub async fn mark_reviewed(
    conn: &mut AsyncPgConnection,
    id: i64,
    reviewer: i64,
    now: DateTime<Utc>,
) -> Result<Option<TopUpRefund>, AppError> {
    Ok(diesel::update(
        top_up_refunds::table
            .find(id)
            .filter(top_up_refunds::debited_units.lt(top_up_refunds::units))
            .filter(top_up_refunds::reviewed_at.is_null()),
    )
    .set((
        top_up_refunds::reviewed_at.eq(now),
        top_up_refunds::reviewed_by.eq(reviewer),
    ))
    .returning(TopUpRefund::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}
