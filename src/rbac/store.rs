//! Queries on the RBAC tables: roles, permissions, grants, who holds what, and each user's
//! permission set with the epoch it was read at.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::{ADMIN_ROLE, Permission, Role, perm};
use crate::db::schema::{permissions, role_permissions, roles, user_roles, users};
use crate::error::{AppError, reason, violated_unique_constraint};

/// Any fixed number: every change that could take `roles:manage` away from someone holds this
/// transaction-level lock, so two such changes never both see "another manager remains".
const ROLE_CHANGES_LOCK_KEY: i64 = 0x6167_6f72_615f_726d;

pub async fn list_roles(conn: &mut AsyncPgConnection) -> Result<Vec<Role>, AppError> {
    Ok(roles::table
        .select(Role::as_select())
        .order(roles::name)
        .load(conn)
        .await?)
}

pub async fn find_role(conn: &mut AsyncPgConnection, id: i64) -> Result<Role, AppError> {
    roles::table
        .find(id)
        .select(Role::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Role", id))
}

pub async fn find_role_by_name(conn: &mut AsyncPgConnection, name: &str) -> Result<Role, AppError> {
    roles::table
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(name) = lower(")
                .bind::<diesel::sql_types::Text, _>(name.trim().to_owned())
                .sql(")"),
        )
        .select(Role::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Role", format_args!("{name:?}")))
}

pub async fn list_permissions(conn: &mut AsyncPgConnection) -> Result<Vec<Permission>, AppError> {
    Ok(permissions::table
        .select(Permission::as_select())
        .order(permissions::name)
        .load(conn)
        .await?)
}

pub async fn find_permission(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> Result<Permission, AppError> {
    permissions::table
        .find(id)
        .select(Permission::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AppError::not_found("Permission", id))
}

/// Names of the permissions role `role_id` grants.
pub async fn permission_names_of_role(
    conn: &mut AsyncPgConnection,
    role_id: i64,
) -> Result<Vec<String>, AppError> {
    Ok(role_permissions::table
        .inner_join(permissions::table)
        .filter(role_permissions::role_id.eq(role_id))
        .select(permissions::name)
        .load(conn)
        .await?)
}

pub async fn permissions_of_roles(
    conn: &mut AsyncPgConnection,
    role_ids: &[i64],
) -> Result<Vec<(i64, Permission)>, AppError> {
    Ok(role_permissions::table
        .inner_join(permissions::table)
        .filter(role_permissions::role_id.eq_any(role_ids))
        .select((role_permissions::role_id, Permission::as_select()))
        .order(permissions::name)
        .load(conn)
        .await?)
}

pub async fn roles_of_users(
    conn: &mut AsyncPgConnection,
    user_ids: &[i64],
) -> Result<Vec<(i64, Role)>, AppError> {
    Ok(user_roles::table
        .inner_join(roles::table)
        .filter(user_roles::user_id.eq_any(user_ids))
        .select((user_roles::user_id, Role::as_select()))
        .order(roles::name)
        .load(conn)
        .await?)
}

pub async fn permission_names_of_users(
    conn: &mut AsyncPgConnection,
    user_ids: &[i64],
) -> Result<Vec<(i64, String)>, AppError> {
    Ok(user_roles::table
        .inner_join(role_permissions::table.on(role_permissions::role_id.eq(user_roles::role_id)))
        .inner_join(permissions::table.on(permissions::id.eq(role_permissions::permission_id)))
        .filter(user_roles::user_id.eq_any(user_ids))
        .select((user_roles::user_id, permissions::name))
        .distinct()
        .order((user_roles::user_id, permissions::name))
        .load(conn)
        .await?)
}

#[derive(QueryableByName)]
struct PermissionSetRow {
    #[diesel(sql_type = BigInt)]
    epoch: i64,
    #[diesel(sql_type = Array<Text>)]
    names: Vec<String>,
}

/// The user's permission names and the RBAC epoch they were read at, in one snapshot.
pub async fn permission_set_of_user(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<(i64, Vec<String>), AppError> {
    // A miss is rare (a new user, or the first request after a change), so this text may be
    // prepared on each call.
    let row: PermissionSetRow = diesel::sql_query(
        "SELECT (SELECT epoch FROM rbac_epoch) AS epoch,
                ARRAY(SELECT DISTINCT p.name
                      FROM user_roles ur
                      JOIN role_permissions rp ON rp.role_id = ur.role_id
                      JOIN permissions p ON p.id = rp.permission_id
                      WHERE ur.user_id = $1) AS names",
    )
    .bind::<BigInt, _>(user_id)
    .get_result(conn)
    .await?;
    Ok((row.epoch, row.names))
}

pub async fn create_role(
    conn: &mut AsyncPgConnection,
    name: &str,
    description: &str,
    now: DateTime<Utc>,
) -> Result<Role, AppError> {
    diesel::insert_into(roles::table)
        .values((
            roles::name.eq(name),
            roles::description.eq(description),
            roles::created_at.eq(now),
        ))
        .returning(Role::as_returning())
        .get_result(conn)
        .await
        .map_err(map_taken)
}

pub async fn update_role(
    conn: &mut AsyncPgConnection,
    id: i64,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<Role, AppError> {
    let role = find_role(conn, id).await?;
    if role.is_system && name.is_some_and(|name| name != role.name) {
        return Err(system_conflict("System roles cannot be renamed"));
    }
    diesel::update(roles::table.find(id))
        .set((
            roles::name.eq(name.unwrap_or(&role.name)),
            roles::description.eq(description.unwrap_or(&role.description)),
        ))
        .returning(Role::as_returning())
        .get_result(conn)
        .await
        .map_err(map_taken)
}

/// Deletes a role; its holders lose it (and its permissions) with it.
pub async fn delete_role(conn: &mut AsyncPgConnection, id: i64) -> Result<Role, AppError> {
    let role = find_role(conn, id).await?;
    if role.is_system {
        return Err(system_conflict("System roles cannot be deleted"));
    }
    diesel::delete(roles::table.find(id)).execute(conn).await?;
    Ok(role)
}

/// Creates a permission and grants it to `admin`, which holds every permission by definition.
pub async fn create_permission(
    conn: &mut AsyncPgConnection,
    name: &str,
    description: &str,
    now: DateTime<Utc>,
) -> Result<Permission, AppError> {
    let permission: Permission = diesel::insert_into(permissions::table)
        .values((
            permissions::name.eq(name),
            permissions::description.eq(description),
            permissions::created_at.eq(now),
        ))
        .returning(Permission::as_returning())
        .get_result(conn)
        .await
        .map_err(map_taken)?;
    let admin_role: i64 = roles::table
        .filter(roles::name.eq(ADMIN_ROLE))
        .select(roles::id)
        .first(conn)
        .await?;
    grant(conn, admin_role, permission.id).await?;
    Ok(permission)
}

pub async fn delete_permission(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> Result<Permission, AppError> {
    let permission = find_permission(conn, id).await?;
    if permission.is_system {
        return Err(system_conflict(
            "Permissions the server checks cannot be deleted",
        ));
    }
    diesel::delete(permissions::table.find(id))
        .execute(conn)
        .await?;
    Ok(permission)
}

/// Grants a permission to a role; false when the role already had it.
pub async fn grant(
    conn: &mut AsyncPgConnection,
    role_id: i64,
    permission_id: i64,
) -> Result<bool, AppError> {
    let inserted = diesel::insert_into(role_permissions::table)
        .values((
            role_permissions::role_id.eq(role_id),
            role_permissions::permission_id.eq(permission_id),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted > 0)
}

pub async fn revoke(
    conn: &mut AsyncPgConnection,
    role_id: i64,
    permission_id: i64,
) -> Result<bool, AppError> {
    let deleted = diesel::delete(
        role_permissions::table
            .filter(role_permissions::role_id.eq(role_id))
            .filter(role_permissions::permission_id.eq(permission_id)),
    )
    .execute(conn)
    .await?;
    Ok(deleted > 0)
}

/// Gives a user a role at `now`; false when they already had it.
pub async fn assign(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    role_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let inserted = diesel::insert_into(user_roles::table)
        .values((
            user_roles::user_id.eq(user_id),
            user_roles::role_id.eq(role_id),
            user_roles::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted > 0)
}

pub async fn unassign(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    role_id: i64,
) -> Result<bool, AppError> {
    let deleted = diesel::delete(
        user_roles::table
            .filter(user_roles::user_id.eq(user_id))
            .filter(user_roles::role_id.eq(role_id)),
    )
    .execute(conn)
    .await?;
    Ok(deleted > 0)
}

/// Takes every role from the user; the names of the roles they held.
pub async fn unassign_all(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<Vec<String>, AppError> {
    let held = roles_of_users(conn, &[user_id]).await?;
    diesel::delete(user_roles::table.filter(user_roles::user_id.eq(user_id)))
        .execute(conn)
        .await?;
    Ok(held.into_iter().map(|(_, role)| role.name).collect())
}

/// Serialises changes that can reduce who holds `roles:manage`. Call first in the transaction.
pub async fn lock_role_changes(conn: &mut AsyncPgConnection) -> Result<(), AppError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<BigInt, _>(ROLE_CHANGES_LOCK_KEY)
        .execute(conn)
        .await?;
    Ok(())
}

/// `CONFLICT LAST_ADMIN` when the change made so far in this transaction left no active user
/// holding `roles:manage`; the caller's transaction then rolls back.
pub async fn ensure_a_role_manager_remains(conn: &mut AsyncPgConnection) -> Result<(), AppError> {
    let managers: i64 = users::table
        .filter(users::is_active)
        .filter(diesel::dsl::exists(
            user_roles::table
                .inner_join(
                    role_permissions::table.on(role_permissions::role_id.eq(user_roles::role_id)),
                )
                .inner_join(
                    permissions::table.on(permissions::id.eq(role_permissions::permission_id)),
                )
                .filter(user_roles::user_id.eq(users::id))
                .filter(permissions::name.eq(perm::ROLES_MANAGE)),
        ))
        .count()
        .get_result(conn)
        .await?;
    if managers == 0 {
        return Err(AppError::Conflict {
            reason: reason::LAST_ADMIN,
            field: None,
            message: format!("This would leave nobody holding {}", perm::ROLES_MANAGE),
        });
    }
    Ok(())
}

fn system_conflict(message: &str) -> AppError {
    AppError::Conflict {
        reason: reason::SYSTEM,
        field: None,
        message: message.to_owned(),
    }
}

fn map_taken(error: diesel::result::Error) -> AppError {
    match violated_unique_constraint(&error) {
        Some("roles_name_lower_key" | "permissions_name_key") => AppError::taken("name"),
        _ => error.into(),
    }
}
