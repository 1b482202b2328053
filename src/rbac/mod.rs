//! Roles and permissions are rows (see the migrations); `perm` names the ones the code checks.

pub mod graphql;
pub mod loaders;
pub mod model;
pub mod rules;
pub mod store;

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
}

/// Roles the code refers to by name.
pub const ADMIN_ROLE: &str = "admin";
pub const DEFAULT_ROLE: &str = "user";
