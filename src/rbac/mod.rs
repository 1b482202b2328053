//! Roles and permissions are rows (see the migrations); these are the names the code checks.

pub mod perm {
    pub const PROFILE_READ: &str = "profile:read";
    pub const PROFILE_UPDATE: &str = "profile:update";
    pub const SESSIONS_MANAGE: &str = "sessions:manage";
}
