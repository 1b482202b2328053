//! Roles and permissions are rows (see the migrations); `perm` names the ones the code checks.
//! The changes an administrator makes (`admin.rs`), the per-request loaders, and each user's
//! permission set kept between requests (`permissions.rs`) live here.

pub mod admin;
pub mod graphql;
pub mod loader;
pub mod model;
pub mod permissions;
pub mod rules;
pub mod store;

pub use model::{ADMIN_ROLE, DEFAULT_ROLE, perm};
