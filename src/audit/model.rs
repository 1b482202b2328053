//! What the audit log holds: the action names, an event to record, and rows and filters for
//! reading the log back.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::expression::SqlLiteral;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use crate::db::schema::audit_log;

/// Action names recorded in `audit_log.action`.
pub mod action {
    pub const REGISTER: &str = "user.register";
    pub const LOGIN: &str = "auth.login";
    pub const LOGIN_FAILED: &str = "auth.login_failed";
    pub const LOGOUT: &str = "auth.logout";
    pub const LOGOUT_ALL: &str = "auth.logout_all";
    pub const REFRESH_REUSE: &str = "auth.refresh_reuse";
    pub const PASSWORD_CHANGE: &str = "auth.password_change";
    /// A session's user proved who they are again, for sensitive changes.
    pub const REAUTHENTICATE: &str = "auth.reauthenticate";
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
    pub const USER_DELETE: &str = "user.delete";
    pub const ACCOUNT_DELETE: &str = "account.delete";
    pub const API_TOKEN_CREATE: &str = "api_token.create";
    pub const API_TOKEN_REVOKE: &str = "api_token.revoke";
    /// A role's or an API token's request budget was set or cleared.
    pub const REQUEST_BUDGET_SET: &str = "request_budget.set";
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
    pub const IDENTITY_LINK: &str = "identity.link";
    pub const IDENTITY_LINK_PENDING: &str = "identity.link_pending";
    pub const IDENTITY_UNLINK: &str = "identity.unlink";
    /// A provider's answer failed a check (signature, audience, nonce, expiry, …).
    pub const OIDC_REJECTED: &str = "auth.oidc_rejected";
    /// A `returnTo` that would have left the front end; the browser went to `/` instead.
    pub const RETURN_TO_REFUSED: &str = "auth.return_to_refused";
    pub const TOP_UP_CREATE: &str = "top_up.create";
    /// Stripe said a top-up was paid: its budget was credited.
    pub const TOP_UP_CREDIT: &str = "top_up.credit";
    pub const TOP_UP_FAIL: &str = "top_up.fail";
    /// A payment's amount or currency differs from its top-up's: nothing was credited.
    pub const TOP_UP_MISMATCH: &str = "top_up.mismatch";
    /// Money was given back for a top-up; `shortfall` units of it had been spent already.
    pub const TOP_UP_REFUND: &str = "top_up.refund";
    /// An administrator reviewed a refund that found its units spent.
    pub const TOP_UP_REFUND_REVIEW: &str = "top_up.refund_review";
    pub const PASSKEY_REGISTER: &str = "passkey.register";
    pub const PASSKEY_RENAME: &str = "passkey.rename";
    pub const PASSKEY_REMOVE: &str = "passkey.remove";
    /// A passkey whose signature counter went backwards (or that was marked so before).
    pub const PASSKEY_CLONED: &str = "passkey.possibly_cloned";
    pub const WEBHOOK_CREATE: &str = "webhook.create";
    pub const WEBHOOK_UPDATE: &str = "webhook.update";
    pub const WEBHOOK_DELETE: &str = "webhook.delete";
    pub const WEBHOOK_RESUME: &str = "webhook.resume";
    pub const WEBHOOK_ROTATE_SECRET: &str = "webhook.rotate_secret";
    pub const WEBHOOK_REDELIVER: &str = "webhook.redeliver";
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

#[derive(Queryable, QueryableByName, Selectable, Debug)]
#[diesel(table_name = audit_log, check_for_backend(Pg))]
pub struct AuditRow {
    pub id: i64,
    pub actor_id: Option<i64>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<i64>,
    pub metadata: serde_json::Value,
    /// `inet` as text: the crate reads no `inet` values.
    #[diesel(
        sql_type = Nullable<Text>,
        select_expression = sql::<Nullable<Text>>("host(audit_log.ip)"),
        select_expression_type = SqlLiteral<Nullable<Text>>
    )]
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub client_request_id: Option<String>,
}
