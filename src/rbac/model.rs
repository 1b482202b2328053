//! Rows of the RBAC tables, and the names of the roles and permissions the code relies on.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::{permissions, roles};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = roles, check_for_backend(diesel::pg::Pg))]
pub struct Role {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub is_system: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = permissions, check_for_backend(diesel::pg::Pg))]
pub struct Permission {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub is_system: bool,
    pub created_at: DateTime<Utc>,
}

/// Permission names the code checks.
pub mod perm {
    pub const PROFILE_READ: &str = "profile:read";
    pub const PROFILE_UPDATE: &str = "profile:update";
    pub const SESSIONS_MANAGE: &str = "sessions:manage";
    pub const API_TOKENS_MANAGE: &str = "api_tokens:manage";
    pub const USERS_READ: &str = "users:read";
    pub const USERS_MANAGE: &str = "users:manage";
    pub const ROLES_MANAGE: &str = "roles:manage";
    pub const AUDIT_READ: &str = "audit:read";
    pub const MARKET_TRADE: &str = "market:trade";
    pub const ITEMS_MANAGE: &str = "items:manage";
    pub const HABITS_MANAGE: &str = "habits:manage";
    pub const TASKS_MANAGE: &str = "tasks:manage";
    pub const THEMES_MANAGE: &str = "themes:manage";
    pub const PAYMENTS_MANAGE: &str = "payments:manage";
    pub const DOCUMENTS_ANY: &str = "documents:any";
    pub const BUDGETS_MANAGE: &str = "budgets:manage";
    pub const WEBHOOKS_MANAGE: &str = "webhooks:manage";
}

/// Roles the code refers to by name.
pub const ADMIN_ROLE: &str = "admin";
pub const DEFAULT_ROLE: &str = "user";
