//! `RequestBudget`, `myRequestLimits` and `setRequestBudget`. (`Role.requestBudget` and
//! `ApiToken.requestBudget` read through [`super::loader`].)

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::model::{Budget, BudgetRow, Ceilings, Holder};
use crate::error::AppError;
use crate::graphql::{ContextExt, Permission as Requires, parse_id};
use crate::rbac::perm;

/// Ceilings a role or an API token puts on its requests; a null field leaves the server's own
/// limit. A user gets, per field, the most generous of their roles (a role without a value
/// there gives the server's); an API token the tighter of its own and its owner's.
#[Object(name = "RequestBudget")]
impl BudgetRow {
    /// GraphQL requests per minute, counted per user (per token for API tokens) on every
    /// instance; more are refused with `RATE_LIMITED` and `retryAfter`.
    async fn requests_per_minute(&self) -> Option<i32> {
        self.requests_per_minute
    }
    /// The highest cost an operation may have (the server's is 5000); costlier ones are refused
    /// before they run (`GRAPHQL_VALIDATION_FAILED`).
    async fn max_complexity(&self) -> Option<i32> {
        self.max_complexity
    }
    /// How deep an operation may nest fields (the server's limit is 12); deeper ones are
    /// refused before they run (`GRAPHQL_VALIDATION_FAILED`).
    async fn max_depth(&self) -> Option<i32> {
        self.max_depth
    }
    /// PostgreSQL's `statement_timeout` for each statement of a request, in milliseconds; a
    /// request over it answers `SERVICE_UNAVAILABLE` with reason `TIMEOUT`, its change undone.
    async fn statement_timeout_ms(&self) -> Option<i32> {
        self.statement_timeout_ms
    }
    /// When the budget was last set.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

/// The limits the caller's requests run under: their budget laid over the server's limits.
#[derive(SimpleObject)]
pub struct RequestLimits {
    /// Requests per minute counted for the caller; null when only the per-address limit counts.
    pub requests_per_minute: Option<u32>,
    /// The highest cost an operation may have.
    pub max_complexity: usize,
    /// How deep an operation may nest fields.
    pub max_depth: usize,
    /// PostgreSQL's `statement_timeout` for each statement, in milliseconds.
    pub statement_timeout_ms: u32,
}

impl From<Ceilings> for RequestLimits {
    fn from(ceilings: Ceilings) -> Self {
        Self {
            requests_per_minute: ceilings.requests_per_minute,
            max_complexity: ceilings.max_complexity,
            max_depth: ceilings.max_depth,
            statement_timeout_ms: ceilings.statement_timeout_ms,
        }
    }
}

/// A budget for `setRequestBudget`: name a role or an API token, and the limits. The whole
/// budget is replaced: an omitted or null limit is the server's default, and all four null
/// removes the budget.
#[derive(InputObject)]
pub struct SetRequestBudgetInput {
    /// The role whose holders' requests the budget limits (give this or `apiTokenId`).
    pub role_id: Option<ID>,
    /// The API token whose requests the budget limits (give this or `roleId`): its id as its
    /// owner sees it in `apiTokens`, or as the target of its `api_token.create` audit entry.
    pub api_token_id: Option<ID>,
    /// 1 to 60000.
    pub requests_per_minute: Option<i32>,
    /// 1 to the server's limit (5000).
    pub max_complexity: Option<i32>,
    /// 1 to the server's limit (12).
    pub max_depth: Option<i32>,
    /// 10 to the server's `AGORA_STATEMENT_TIMEOUT_MS`.
    pub statement_timeout_ms: Option<i32>,
}

/// The result of `setRequestBudget`.
#[derive(SimpleObject)]
pub struct SetRequestBudgetPayload {
    /// The budget as it now is; null when it was removed.
    pub request_budget: Option<BudgetRow>,
}

#[derive(Default)]
pub struct BudgetsQuery;

#[Object]
impl BudgetsQuery {
    /// The limits the caller's requests run under (their roles' budgets, or their API token's,
    /// over the server's limits). Needs a signed-in caller.
    async fn my_request_limits(&self, ctx: &Context<'_>) -> async_graphql::Result<RequestLimits> {
        let ceilings = ctx.data_opt::<Ceilings>().copied();
        ctx.viewer()?;
        Ok(ceilings
            .unwrap_or_else(|| super::server_ceilings(&ctx.app().config))
            .into())
    }
}

#[derive(Default)]
pub struct BudgetsMutation;

#[Object]
impl BudgetsMutation {
    /// Sets (or, with every limit null, removes) the request budget of a role or an API token.
    /// Needs `budgets:manage`; audited as `request_budget.set`. It acts on the next request of
    /// every holder, on every instance.
    #[graphql(guard = "Requires(perm::BUDGETS_MANAGE)")]
    async fn set_request_budget(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose budget, and its limits.")] input: SetRequestBudgetInput,
    ) -> async_graphql::Result<SetRequestBudgetPayload> {
        let holder = match (&input.role_id, &input.api_token_id) {
            (Some(role), None) => Holder::Role(parse_id("roleId", role)?),
            (None, Some(token)) => Holder::ApiToken(parse_id("apiTokenId", token)?),
            _ => {
                return Err(
                    AppError::bad_input("roleId", "Give one of roleId and apiTokenId").into(),
                );
            }
        };
        let budget = Budget {
            requests_per_minute: input.requests_per_minute,
            max_complexity: input.max_complexity,
            max_depth: input.max_depth,
            statement_timeout_ms: input.statement_timeout_ms,
        };
        let (actor, origin) = (ctx.viewer()?.user_id, ctx.request_info());
        let request_budget = super::set_budget(ctx.app(), actor, origin, holder, budget).await?;
        Ok(SetRequestBudgetPayload { request_budget })
    }
}
