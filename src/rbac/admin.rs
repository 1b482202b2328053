//! The changes an administrator makes to roles, permissions and who holds them. Each is checked
//! (names by `rules`, nobody hands out what they do not hold), made in one transaction with its
//! audit row, and refused when it would leave nobody holding `roles:manage`.

use std::collections::HashSet;

use serde_json::json;

use super::model::{Permission, Role};
use super::{rules, store};
use crate::App;
use crate::accounts::model::User;
use crate::accounts::store as accounts;
use crate::audit::{self, Event, action, audited};
use crate::db;
use crate::error::AppError;
use crate::request::RequestInfo;

pub async fn create_role(
    app: &App,
    actor: i64,
    origin: &RequestInfo,
    name: &str,
    description: &str,
) -> Result<Role, AppError> {
    let name = rules::role_name(name)?;
    let description = rules::description(description)?;
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audit::audited(&mut conn, origin, now, async |conn| {
        let role = store::create_role(conn, &name, &description, now).await?;
        let event = Event::new(action::ROLE_CREATE, Some(actor))
            .target("role", role.id)
            .meta(json!({ "name": role.name }));
        Ok((role, event))
    })
    .await
}

/// Renames a role or changes its description; `None` keeps a field as it is.
pub async fn update_role(
    app: &App,
    actor: i64,
    origin: &RequestInfo,
    id: i64,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<Role, AppError> {
    let name = name.map(rules::role_name).transpose()?;
    let description = description.map(rules::description).transpose()?;
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audit::audited(&mut conn, origin, now, async |conn| {
        let role = store::update_role(conn, id, name.as_deref(), description.as_deref()).await?;
        let event = Event::new(action::ROLE_UPDATE, Some(actor))
            .target("role", role.id)
            .meta(json!({ "name": role.name, "description": role.description }));
        Ok((role, event))
    })
    .await
}

pub async fn delete_role(
    app: &App,
    actor: i64,
    origin: &RequestInfo,
    id: i64,
) -> Result<Role, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audit::audited(&mut conn, origin, now, async |conn| {
        store::lock_role_changes(conn).await?;
        let role = store::delete_role(conn, id).await?;
        store::ensure_a_role_manager_remains(conn).await?;
        let event = Event::new(action::ROLE_DELETE, Some(actor))
            .target("role", role.id)
            .meta(json!({ "name": role.name }));
        Ok((role, event))
    })
    .await
}

pub async fn create_permission(
    app: &App,
    actor: i64,
    origin: &RequestInfo,
    name: &str,
    description: &str,
) -> Result<Permission, AppError> {
    let name = rules::permission_name(name)?;
    let description = rules::description(description)?;
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audit::audited(&mut conn, origin, now, async |conn| {
        let permission = store::create_permission(conn, &name, &description, now).await?;
        let event = Event::new(action::PERMISSION_CREATE, Some(actor))
            .target("permission", permission.id)
            .meta(json!({ "name": permission.name }));
        Ok((permission, event))
    })
    .await
}

pub async fn delete_permission(
    app: &App,
    actor: i64,
    origin: &RequestInfo,
    id: i64,
) -> Result<Permission, AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audit::audited(&mut conn, origin, now, async |conn| {
        store::lock_role_changes(conn).await?;
        let permission = store::delete_permission(conn, id).await?;
        store::ensure_a_role_manager_remains(conn).await?;
        let event = Event::new(action::PERMISSION_DELETE, Some(actor))
            .target("permission", permission.id)
            .meta(json!({ "name": permission.name }));
        Ok((permission, event))
    })
    .await
}

/// Grants a permission the actor (holding `held`) holds; false when the role already had it,
/// and then nothing is recorded.
pub async fn grant_permission(
    app: &App,
    actor: i64,
    held: &HashSet<String>,
    origin: &RequestInfo,
    role_id: i64,
    permission_id: i64,
) -> Result<(Role, Permission, bool), AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        let role = store::find_role(conn, role_id).await?;
        let permission = store::find_permission(conn, permission_id).await?;
        let missing = rules::not_held(held, [permission.name.as_str()]);
        if !missing.is_empty() {
            return Err(AppError::lacks(&missing));
        }
        let changed = store::grant(conn, role.id, permission.id).await?;
        let event = changed.then(|| {
            Event::new(action::PERMISSION_GRANT, Some(actor))
                .target("role", role.id)
                .meta(json!({ "role": role.name, "permission": permission.name }))
        });
        Ok(((role, permission, changed), event))
    })
    .await
}

/// Takes a permission from a role; false when the role did not have it.
pub async fn revoke_permission(
    app: &App,
    actor: i64,
    origin: &RequestInfo,
    role_id: i64,
    permission_id: i64,
) -> Result<(Role, Permission, bool), AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        store::lock_role_changes(conn).await?;
        let role = store::find_role(conn, role_id).await?;
        let permission = store::find_permission(conn, permission_id).await?;
        let changed = store::revoke(conn, role.id, permission.id).await?;
        if changed {
            store::ensure_a_role_manager_remains(conn).await?;
        }
        let event = changed.then(|| {
            Event::new(action::PERMISSION_REVOKE, Some(actor))
                .target("role", role.id)
                .meta(json!({ "role": role.name, "permission": permission.name }))
        });
        Ok(((role, permission, changed), event))
    })
    .await
}

/// Gives a user a role whose every permission the actor (holding `held`) holds; false when they
/// already had it.
pub async fn assign_role(
    app: &App,
    actor: i64,
    held: &HashSet<String>,
    origin: &RequestInfo,
    user_id: i64,
    role_id: i64,
) -> Result<(User, Role, bool), AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        let user = accounts::find_by_id(conn, user_id).await?;
        let role = store::find_role(conn, role_id).await?;
        let granted = store::permission_names_of_role(conn, role.id).await?;
        let missing = rules::not_held(held, granted.iter().map(String::as_str));
        if !missing.is_empty() {
            return Err(AppError::lacks(&missing));
        }
        let changed = store::assign(conn, user.id, role.id, now).await?;
        let event = changed.then(|| {
            Event::new(action::ROLE_ASSIGN, Some(actor))
                .target("user", user.id)
                .meta(json!({ "role": role.name }))
        });
        Ok(((user, role, changed), event))
    })
    .await
}

/// Takes a role from a user; false when they did not have it.
pub async fn unassign_role(
    app: &App,
    actor: i64,
    origin: &RequestInfo,
    user_id: i64,
    role_id: i64,
) -> Result<(User, Role, bool), AppError> {
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    audited(&mut conn, origin, now, async |conn| {
        store::lock_role_changes(conn).await?;
        let user = accounts::find_by_id(conn, user_id).await?;
        let role = store::find_role(conn, role_id).await?;
        let changed = store::unassign(conn, user.id, role.id).await?;
        if changed {
            store::ensure_a_role_manager_remains(conn).await?;
        }
        let event = changed.then(|| {
            Event::new(action::ROLE_UNASSIGN, Some(actor))
                .target("user", user.id)
                .meta(json!({ "role": role.name }))
        });
        Ok(((user, role, changed), event))
    })
    .await
}
