//! The audit log: who did what to what, from where. Rows are written with the change they
//! describe, in its transaction, and nothing edits or deletes them.

pub mod denial;
pub mod graphql;
pub mod store;

use diesel_async::AsyncPgConnection;

use crate::error::AppError;
use crate::request::RequestInfo;

/// The work of an audited change: like [`crate::db::TransactionBody`], a closure from the
/// connection to the future of the work (which also names the event to record), callable more
/// than once because a contended transaction runs again.
pub trait AuditedBody<'c, R>: Fn(&'c mut AsyncPgConnection) -> Self::Work + Sync {
    type Work: Future<Output = Result<(R, Event), AppError>> + Send;
}

impl<'c, R, F, Work> AuditedBody<'c, R> for F
where
    F: Fn(&'c mut AsyncPgConnection) -> Work + Sync,
    Work: Future<Output = Result<(R, Event), AppError>> + Send,
{
    type Work = Work;
}

/// Runs `body` in a transaction (retried on contention, as [`crate::db::transaction`] is) and
/// writes the event it returns in that same transaction, so a change and its audit row commit
/// together or not at all. Every audited mutation goes through here.
pub async fn audited<R, F>(
    conn: &mut AsyncPgConnection,
    origin: &RequestInfo,
    body: F,
) -> Result<R, AppError>
where
    R: Send,
    F: AsyncFn(&mut AsyncPgConnection) -> Result<(R, Event), AppError> + for<'c> AuditedBody<'c, R>,
{
    let body = &body;
    crate::db::transaction(conn, async move |conn| {
        let (result, event) = body(&mut *conn).await?;
        store::record(conn, origin, event).await?;
        Ok(result)
    })
    .await
}

/// Action names recorded in `audit_log.action`.
pub mod action {
    pub const REGISTER: &str = "user.register";
    pub const LOGIN: &str = "auth.login";
    pub const LOGIN_FAILED: &str = "auth.login_failed";
    pub const LOGOUT: &str = "auth.logout";
    pub const LOGOUT_ALL: &str = "auth.logout_all";
    pub const REFRESH_REUSE: &str = "auth.refresh_reuse";
    pub const PASSWORD_CHANGE: &str = "auth.password_change";
    pub const SESSION_REVOKE: &str = "session.revoke";
    pub const ROLE_CREATE: &str = "role.create";
    pub const ROLE_UPDATE: &str = "role.update";
    pub const ROLE_DELETE: &str = "role.delete";
    pub const PERMISSION_CREATE: &str = "permission.create";
    pub const PERMISSION_DELETE: &str = "permission.delete";
    pub const PERMISSION_GRANT: &str = "role.grant_permission";
    pub const PERMISSION_REVOKE: &str = "role.revoke_permission";
    pub const ROLE_ASSIGN: &str = "user.assign_role";
    pub const ROLE_UNASSIGN: &str = "user.unassign_role";
    pub const USER_SET_ACTIVE: &str = "user.set_active";
    pub const USER_CREATE: &str = "user.create";
    pub const USER_UPDATE: &str = "user.update";
    pub const API_TOKEN_CREATE: &str = "api_token.create";
    pub const API_TOKEN_REVOKE: &str = "api_token.revoke";
    pub const ACCESS_DENIED: &str = "access.denied";
    pub const MFA_ENABLE: &str = "auth.mfa_enable";
    pub const PASSWORD_RESET: &str = "auth.password_reset";
    pub const EMAIL_CHANGE: &str = "user.email_change";
    pub const MFA_DISABLE: &str = "auth.mfa_disable";
    pub const MFA_RESET: &str = "auth.mfa_reset";
    pub const MFA_FAILED: &str = "auth.mfa_failed";
    pub const RECOVERY_CODES_REGENERATE: &str = "auth.recovery_codes_regenerate";
    pub const MARKET_PURCHASE: &str = "market.purchase";
    pub const MARKET_SALE: &str = "market.sale";
}

/// One audit row to write. `target` names the entity changed, as (type, id).
#[derive(Debug)]
pub struct Event {
    pub action: &'static str,
    pub actor_id: Option<i64>,
    pub target: Option<(&'static str, i64)>,
    pub metadata: serde_json::Value,
}

impl Event {
    pub fn new(action: &'static str, actor_id: Option<i64>) -> Self {
        Self {
            action,
            actor_id,
            target: None,
            metadata: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn target(mut self, kind: &'static str, id: i64) -> Self {
        self.target = Some((kind, id));
        self
    }

    pub fn meta(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = metadata;
        self
    }
}
