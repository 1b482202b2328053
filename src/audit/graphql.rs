//! The audit log in the schema: `AuditEntry`, the viewer's own activity and the whole log.

use async_graphql::{Context, ID, InputObject, Json, Object};
use chrono::{DateTime, Utc};

use super::model::AuditRow;
use super::store::AuditScope;
use crate::graphql::connection::{CountedConnection, Page, connection, selects_total_count};
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::perm;

/// One recorded action.
#[Object(name = "AuditEntry")]
impl AuditRow {
    /// The entry's id; later entries have larger ids.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// e.g. `auth.login`, `role.grant_permission`.
    async fn action(&self) -> &str {
        &self.action
    }
    /// Who acted; null for anonymous attempts.
    async fn actor_id(&self) -> Option<ID> {
        self.actor_id.map(|id| ID(id.to_string()))
    }
    /// The kind of entity acted on: `user`, `role`, `permission`, `session`, `api_token`.
    async fn target_type(&self) -> Option<&str> {
        self.target_type.as_deref()
    }
    /// The id of the entity acted on, of the kind `targetType` names.
    async fn target_id(&self) -> Option<ID> {
        self.target_id.map(|id| ID(id.to_string()))
    }
    /// Details of the change; never a secret, token or hash.
    async fn metadata(&self) -> Json<&serde_json::Value> {
        Json(&self.metadata)
    }
    /// The client address the request came from.
    async fn ip_address(&self) -> Option<&str> {
        self.ip.as_deref()
    }
    /// The `User-Agent` the request came with.
    async fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
    /// The server's id of the request: the `x-request-id` of its response, the `requestId` of
    /// its errors and the `request_id` of the server's log lines.
    async fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
    /// The `x-request-id` the client sent, if it was at most 128 visible ASCII characters (else
    /// it is not kept); the client's own correlation id, never checked for uniqueness.
    async fn client_request_id(&self) -> Option<&str> {
        self.client_request_id.as_deref()
    }
    /// When it happened.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}

/// Conditions for `auditLog`; omitted ones do not filter.
#[derive(InputObject, Default)]
pub struct AuditLogFilter {
    /// Only what this user did.
    pub actor_id: Option<ID>,
    /// Only entries with exactly this action, e.g. `auth.login_failed`; at most 100
    /// characters, no control characters.
    pub action: Option<String>,
    /// Entries at or after this time; from 1900 to 2199 (`BAD_USER_INPUT` otherwise).
    pub since: Option<DateTime<Utc>>,
    /// Entries before this time; from 1900 to 2199 (`BAD_USER_INPUT` otherwise).
    pub until: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// What the current user did, and what was done to their account, newest first.
    #[graphql(
        guard = "Permission(perm::PROFILE_READ)",
        complexity = "crate::graphql::page_cost(first, child_complexity)"
    )]
    async fn my_activity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge already seen.")] after: Option<String>,
    ) -> async_graphql::Result<CountedConnection<AuditRow>> {
        let scope = AuditScope::Concerning(ctx.viewer()?.user_id);
        page_of(ctx, &scope, first, after).await
    }

    /// The whole audit log, newest first.
    #[graphql(
        guard = "Permission(perm::AUDIT_READ)",
        complexity = "crate::graphql::page_cost(first, child_complexity)"
    )]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge already seen.")] after: Option<String>,
        #[graphql(desc = "Only entries matching all conditions.")] filter: Option<AuditLogFilter>,
    ) -> async_graphql::Result<CountedConnection<AuditRow>> {
        let filter = filter.unwrap_or_default();
        let actor_id = filter.actor_id.as_ref();
        let scope = super::matching(
            actor_id.map(|id| parse_id("actorId", id)).transpose()?,
            filter.action.as_deref(),
            filter.since,
            filter.until,
        )?;
        page_of(ctx, &scope, first, after).await
    }
}

async fn page_of(
    ctx: &Context<'_>,
    scope: &AuditScope,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<CountedConnection<AuditRow>> {
    let page = Page::parse(first, after.as_deref())?;
    let count = selects_total_count(ctx);
    let (rows, total) =
        super::page(ctx.app(), scope, page.after_id, page.fetch_limit(), count).await?;
    Ok(connection(rows, page, total, |row| row.id, |row| row))
}
