//! Request budgets in the database.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{Budget, BudgetRow, Holder};
use crate::db::schema::{api_tokens, request_budgets, roles, user_roles};
use crate::error::AppError;

/// The budget of each role the user holds (the server's defaults for a role without one).
pub async fn role_budgets_of_user(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<Vec<Budget>, AppError> {
    Ok(user_roles::table
        .left_join(
            request_budgets::table.on(request_budgets::role_id.eq(user_roles::role_id.nullable())),
        )
        .filter(user_roles::user_id.eq(user_id))
        .select((
            request_budgets::requests_per_minute.nullable(),
            request_budgets::max_complexity.nullable(),
            request_budgets::max_depth.nullable(),
            request_budgets::statement_timeout_ms.nullable(),
        ))
        .load(conn)
        .await?)
}

/// Locks the role or API token a budget is about to be set for, so two changes to one holder's
/// budget take turns; `NOT_FOUND` when there is no such role or token.
pub async fn lock_holder(conn: &mut AsyncPgConnection, holder: Holder) -> Result<(), AppError> {
    let found = match holder {
        Holder::Role(id) => {
            roles::table
                .find(id)
                .select(roles::id)
                .for_update()
                .first::<i64>(conn)
                .await
        }
        Holder::ApiToken(id) => {
            api_tokens::table
                .find(id)
                .select(api_tokens::id)
                .for_update()
                .first::<i64>(conn)
                .await
        }
    }
    .optional()?;
    found.map(|_| ()).ok_or_else(|| match holder {
        Holder::Role(id) => AppError::not_found("Role", id),
        Holder::ApiToken(id) => AppError::not_found("API token", id),
    })
}

/// Replaces the holder's budget with `budget` (removes it when it narrows nothing). Run it
/// inside a transaction, after [`lock_holder`].
pub async fn replace(
    conn: &mut AsyncPgConnection,
    holder: Holder,
    budget: Budget,
    now: DateTime<Utc>,
) -> Result<Option<BudgetRow>, AppError> {
    diesel::delete(request_budgets::table)
        .filter(
            request_budgets::role_id
                .eq(holder.role_id())
                .or(request_budgets::api_token_id.eq(holder.api_token_id())),
        )
        .execute(conn)
        .await?;
    if budget.is_default() {
        return Ok(None);
    }
    let row = diesel::insert_into(request_budgets::table)
        .values((
            request_budgets::role_id.eq(holder.role_id()),
            request_budgets::api_token_id.eq(holder.api_token_id()),
            request_budgets::requests_per_minute.eq(budget.requests_per_minute),
            request_budgets::max_complexity.eq(budget.max_complexity),
            request_budgets::max_depth.eq(budget.max_depth),
            request_budgets::statement_timeout_ms.eq(budget.statement_timeout_ms),
            request_budgets::updated_at.eq(now),
        ))
        .returning(BudgetRow::as_returning())
        .get_result(conn)
        .await?;
    Ok(Some(row))
}

/// The budgets these roles and tokens have (those without one are left out).
pub async fn of_holders(
    conn: &mut AsyncPgConnection,
    holders: &[Holder],
) -> Result<Vec<BudgetRow>, AppError> {
    let role_ids: Vec<i64> = holders.iter().filter_map(|h| h.role_id()).collect();
    let token_ids: Vec<i64> = holders.iter().filter_map(|h| h.api_token_id()).collect();
    Ok(request_budgets::table
        .filter(
            request_budgets::role_id
                .eq_any(role_ids)
                .or(request_budgets::api_token_id.eq_any(token_ids)),
        )
        .select(BudgetRow::as_select())
        .load(conn)
        .await?)
}
