use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::{Context, Guard};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::App;
use crate::audit::store::record;
use crate::audit::{Event, action};
use crate::error::AppError;
use crate::request::RequestInfo;

/// The authenticated caller: a live session and the permissions its user holds right now
/// (read from the database on this request, never from token claims).
#[derive(Clone, Debug)]
pub struct Viewer {
    pub user_id: i64,
    /// The session of a signed-in client; `None` for a script using an API token.
    pub session_id: Option<i64>,
    /// The API token the request came with, if any.
    pub api_token_id: Option<i64>,
    pub permissions: crate::rbac::permissions::PermissionSet,
    /// The user's IANA zone: calendar logic ("today", streaks, statistics) runs in local dates.
    pub time_zone: Tz,
    /// The account as it was read with the session, so `me` costs no second statement.
    pub account: crate::accounts::model::User,
}

impl Viewer {
    pub fn can(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }

    /// The user's local date at `now`.
    pub fn local_date(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.time_zone).date_naive()
    }
}

/// The account this request itself created or signed in to. Its own fields may appear in the
/// answer although the request came without credentials.
#[derive(Debug, Default)]
pub struct ActingAccount(std::sync::Mutex<Option<i64>>);

impl ActingAccount {
    pub fn set(&self, user_id: i64) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(user_id);
    }

    pub fn is(&self, user_id: i64) -> bool {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            == Some(user_id)
    }
}

pub trait ContextExt {
    fn app(&self) -> &Arc<App>;
    fn viewer(&self) -> Result<&Viewer, AppError>;
    fn request_info(&self) -> &RequestInfo;
    /// Records that this request created or signed in to `user_id` (see [`ActingAccount`]).
    fn acting_as(&self, user_id: i64);
    /// Whether the caller may see the private fields of account `user_id`: their own, or any
    /// with `users:read`.
    fn may_see_account(&self, user_id: i64) -> bool;
}

impl ContextExt for Context<'_> {
    fn app(&self) -> &Arc<App> {
        self.data_unchecked::<Arc<App>>()
    }

    fn viewer(&self) -> Result<&Viewer, AppError> {
        self.data_opt::<Viewer>().ok_or(AppError::Unauthenticated)
    }

    fn acting_as(&self, user_id: i64) {
        if let Some(acting) = self.data_opt::<ActingAccount>() {
            acting.set(user_id);
        }
    }

    fn may_see_account(&self, user_id: i64) -> bool {
        let by_viewer = self.data_opt::<Viewer>().is_some_and(|viewer| {
            viewer.user_id == user_id || viewer.can(crate::rbac::perm::USERS_READ)
        });
        by_viewer
            || self
                .data_opt::<ActingAccount>()
                .is_some_and(|acting| acting.is(user_id))
    }

    fn request_info(&self) -> &RequestInfo {
        static NONE: std::sync::LazyLock<RequestInfo> =
            std::sync::LazyLock::new(RequestInfo::default);
        self.data_opt::<RequestInfo>().unwrap_or(&NONE)
    }
}

/// Guard for a named permission: `UNAUTHENTICATED` without a live session, `FORBIDDEN` without
/// the permission. Use as `#[graphql(guard = "Permission(perm::PROFILE_READ)")]`.
pub struct Permission(pub &'static str);

impl Guard for Permission {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let viewer = ctx.viewer()?;
        if viewer.can(self.0) {
            return Ok(());
        }
        if ctx.query_env.operation.node.ty == OperationType::Mutation {
            record_denial(ctx, viewer.user_id, self.0).await;
        }
        Err(AppError::Forbidden(self.0).into())
    }
}

/// Denied mutations are audited; failing to write the row must not turn FORBIDDEN into a 500.
async fn record_denial(ctx: &Context<'_>, actor: i64, permission: &str) {
    let event = Event::new(action::ACCESS_DENIED, Some(actor))
        .meta(serde_json::json!({ "permission": permission, "field": ctx.field().name() }));
    let written = async {
        let mut conn = crate::db::conn(&ctx.app().pool).await?;
        record(&mut conn, ctx.request_info(), event).await
    };
    if let Err(error) = written.await {
        tracing::warn!(?error, "could not audit a permission denial");
    }
}
