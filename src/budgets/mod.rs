//! Request budgets per role and per API token: requests per minute, complexity and depth
//! ceilings, and PostgreSQL's `statement_timeout`, set as data by administrators.
//!
//! Where they act: a role's budget is read with its holders' permission sets and kept with them
//! under the RBAC epoch (`crate::rbac::permissions`), a token's with the token on each request
//! (`crate::auth::authenticate`), so a change reaches every instance on its next request. The
//! HTTP layer turns the viewer's budget into [`Ceilings`] and counts requests per minute;
//! `crate::graphql::limits` compares depth and complexity with them before anything runs; and
//! `crate::db` applies the statement timeout to each connection the request checks out.

pub mod graphql;
pub mod loader;
pub mod model;
pub mod rules;
pub mod store;

use serde_json::json;

use crate::App;
use crate::audit::{self, Event, action};
use crate::config::Config;
use crate::db;
use crate::error::AppError;
use crate::graphql::limits::{MAX_COMPLEXITY, MAX_DEPTH};
use crate::request::{RequestInfo, Viewer};
use model::{Budget, BudgetRow, Ceilings, Holder};

/// The limits of a request whose principal has no budget (anonymous ones included).
pub fn server_ceilings(config: &Config) -> Ceilings {
    Ceilings {
        requests_per_minute: None,
        max_complexity: MAX_COMPLEXITY,
        max_depth: MAX_DEPTH,
        statement_timeout_ms: config.statement_timeout_ms,
    }
}

/// The limits the viewer's request runs under, once it is counted against their budget's
/// requests per minute (`RATE_LIMITED` past them): per API token for a token, else per user, on
/// every instance when Redis is configured (in process otherwise, or while Redis is away).
/// Anonymous requests have the server's limits and only the per-address count.
pub async fn admit(app: &App, viewer: Option<&Viewer>) -> Result<Ceilings, AppError> {
    let server = server_ceilings(&app.config);
    let Some(viewer) = viewer else {
        return Ok(server);
    };
    let ceilings = rules::ceilings(viewer.budget, server);
    if let Some(per_minute) = ceilings.requests_per_minute {
        let key = match viewer.api_token_id {
            Some(token) => format!("token:{token}"),
            None => format!("user:{}", viewer.user_id),
        };
        app.limits.check_principal(&key, per_minute).await?;
    }
    Ok(ceilings)
}

/// Runs `work` (a request's execution) under `ceilings`' statement timeout: every connection it
/// checks out, its DataLoaders' included, is set to it.
pub async fn run_within<F: Future>(ceilings: Ceilings, work: F) -> F::Output {
    db::with_statement_timeout(ceilings.statement_timeout_ms, work).await
}

/// Sets the budget of a role or an API token (a budget of nulls removes it), audited; the
/// budget as it now is.
pub async fn set_budget(
    app: &App,
    actor: i64,
    origin: &RequestInfo,
    holder: Holder,
    budget: Budget,
) -> Result<Option<BudgetRow>, AppError> {
    let budget = rules::checked(budget, server_ceilings(&app.config))?;
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audit::audited(&mut conn, origin, now, async |conn| {
        store::lock_holder(conn, holder).await?;
        let row = store::replace(conn, holder, budget, now).await?;
        let (kind, id) = match holder {
            Holder::Role(id) => ("role", id),
            Holder::ApiToken(id) => ("api_token", id),
        };
        let event = Event::new(action::REQUEST_BUDGET_SET, Some(actor))
            .target(kind, id)
            .meta(json!({
                "requestsPerMinute": budget.requests_per_minute,
                "maxComplexity": budget.max_complexity,
                "maxDepth": budget.max_depth,
                "statementTimeoutMs": budget.statement_timeout_ms,
            }));
        Ok((row, event))
    })
    .await
}
