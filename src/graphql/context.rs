use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::{Context, Guard};

use crate::App;
use crate::error::AppError;

/// The authenticated caller: a live session and the permissions its user holds right now
/// (read from the database on this request, never from token claims).
#[derive(Clone, Debug)]
pub struct Viewer {
    pub user_id: i64,
    pub session_id: i64,
    pub permissions: HashSet<String>,
}

impl Viewer {
    pub fn can(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }
}

/// Facts about the HTTP request that resolvers need.
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The refresh token sent as a cookie, for `refreshSession` called without an argument.
    pub refresh_cookie: Option<String>,
}

pub trait ContextExt {
    fn app(&self) -> &Arc<App>;
    fn viewer(&self) -> Result<&Viewer, AppError>;
    fn request_info(&self) -> &RequestInfo;
}

impl ContextExt for Context<'_> {
    fn app(&self) -> &Arc<App> {
        self.data_unchecked::<Arc<App>>()
    }

    fn viewer(&self) -> Result<&Viewer, AppError> {
        self.data_opt::<Viewer>().ok_or(AppError::Unauthenticated)
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
            Ok(())
        } else {
            Err(AppError::Forbidden(self.0).into())
        }
    }
}
