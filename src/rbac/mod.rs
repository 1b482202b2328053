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

use crate::App;
use crate::error::AppError;
use model::{Permission, Role};

/// Every role, by name.
pub async fn roles(app: &App) -> Result<Vec<Role>, AppError> {
    let mut conn = crate::db::conn(&app.pool).await?;
    store::list_roles(&mut conn).await
}

/// The role with `id` (`NOT_FOUND` when there is none).
pub async fn role(app: &App, id: i64) -> Result<Role, AppError> {
    let mut conn = crate::db::conn(&app.pool).await?;
    store::find_role(&mut conn, id).await
}

/// Every permission, by name.
pub async fn permissions(app: &App) -> Result<Vec<Permission>, AppError> {
    let mut conn = crate::db::conn(&app.pool).await?;
    store::list_permissions(&mut conn).await
}
