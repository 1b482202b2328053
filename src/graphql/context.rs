//! What every resolver reads from the request context: the app, the authenticated [`Viewer`],
//! the [`RequestInfo`] and the account the request acted as; and the permission guard.

use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::{Context, Guard};

use crate::App;
use crate::error::AppError;
use crate::request::{RequestInfo, Viewer};

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

/// Guard for a sensitive change that takes no password of its own (granting permissions and
/// roles): a session must have proved its user recently, else `FORBIDDEN` with reason
/// `REAUTHENTICATION_REQUIRED` (see [`crate::auth::recent`]). Use after the permission guard:
/// `guard = "Permission(perm::ROLES_MANAGE).and(RecentProof)"`.
pub struct RecentProof;

impl Guard for RecentProof {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        Ok(crate::auth::recent::require_recent(
            ctx.app(),
            ctx.viewer()?,
        )?)
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
            crate::audit::denial::record_denial(
                ctx.app(),
                ctx.request_info(),
                viewer.user_id,
                self.0,
                ctx.field().name(),
            )
            .await;
        }
        Err(AppError::forbidden(self.0).into())
    }
}
