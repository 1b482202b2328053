use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::loaders::{PermissionsOfRole, RbacLoader};
use super::model::{Permission, Role};
use super::{perm, rules, store};
use crate::accounts::model::User;
use crate::accounts::store as accounts;
use crate::audit::{Event, action, store::record};
use crate::db;
use crate::error::AppError;
use crate::graphql::{ContextExt, Permission as Requires, parse_id};

/// A named set of permissions that users can be given.
#[Object]
impl Role {
    /// The role's id, for the role mutations.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// 1–50 letters, digits, spaces, `_`, `-` or `.`; unique regardless of case.
    async fn name(&self) -> &str {
        &self.name
    }
    /// What the role is for; may be empty.
    async fn description(&self) -> &str {
        &self.description
    }
    /// System roles (`admin`, `user`) are relied on by the server: they cannot be deleted or renamed.
    async fn is_system(&self) -> bool {
        self.is_system
    }
    /// When the role was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// The permissions the role grants, by name.
    async fn permissions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Permission>> {
        let loader = ctx.data_unchecked::<DataLoader<RbacLoader>>();
        Ok(loader
            .load_one(PermissionsOfRole(self.id))
            .await?
            .unwrap_or_default())
    }
}

/// A `resource:action` right that resolvers check.
#[Object]
impl Permission {
    /// The permission's id, for the grant and delete mutations.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// `resource:action` in lower case, e.g. `items:manage`; unique.
    async fn name(&self) -> &str {
        &self.name
    }
    /// What the permission allows; may be empty.
    async fn description(&self) -> &str {
        &self.description
    }
    /// System permissions are checked by the server and cannot be deleted.
    async fn is_system(&self) -> bool {
        self.is_system
    }
    /// When the permission was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}

#[derive(Default)]
pub struct RbacQuery;

#[Object]
impl RbacQuery {
    /// Every role, by name.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE)")]
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Role>> {
        let mut conn = db::conn(&ctx.app().pool).await?;
        Ok(store::list_roles(&mut conn).await?)
    }

    /// One role by id (`NOT_FOUND` if there is none). Needs `roles:manage`.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE)")]
    async fn role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role's id.")] id: ID,
    ) -> async_graphql::Result<Role> {
        let id = parse_id("id", &id)?;
        let mut conn = db::conn(&ctx.app().pool).await?;
        Ok(store::find_role(&mut conn, id).await?)
    }

    /// Every permission, by name.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE)")]
    async fn permissions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Permission>> {
        let mut conn = db::conn(&ctx.app().pool).await?;
        Ok(store::list_permissions(&mut conn).await?)
    }
}

/// A new role for `createRole`.
#[derive(InputObject)]
pub struct CreateRoleInput {
    /// 1–50 letters, digits, spaces, `_`, `-` or `.`, trimmed; unique regardless of case
    /// (`CONFLICT`, `TAKEN`).
    pub name: String,
    /// At most 500 characters, no control characters; empty when omitted.
    #[graphql(default)]
    pub description: String,
}

/// Changes for `updateRole`; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateRoleInput {
    /// The role to change.
    pub id: ID,
    /// 1–50 letters, digits, spaces, `_`, `-` or `.`, trimmed; unique regardless of case
    /// (`CONFLICT`, `TAKEN`). System roles cannot be renamed (`CONFLICT`, `SYSTEM`).
    pub name: Option<String>,
    /// At most 500 characters, no control characters.
    pub description: Option<String>,
}

/// Which role or permission to delete.
#[derive(InputObject)]
pub struct DeleteInput {
    /// The id of the role or permission (`NOT_FOUND` if there is none).
    pub id: ID,
}

/// A new permission for `createPermission`.
#[derive(InputObject)]
pub struct CreatePermissionInput {
    /// `resource:action`, lower case.
    pub name: String,
    /// At most 500 characters, no control characters; empty when omitted.
    #[graphql(default)]
    pub description: String,
}

/// A role and a permission, for `grantPermission` and `revokePermission`.
#[derive(InputObject)]
pub struct RolePermissionInput {
    /// The role that gains or loses the permission.
    pub role_id: ID,
    /// The permission granted or revoked.
    pub permission_id: ID,
}

/// A user and a role, for `assignRole` and `unassignRole`.
#[derive(InputObject)]
pub struct UserRoleInput {
    /// The user who gains or loses the role.
    pub user_id: ID,
    /// The role assigned or unassigned.
    pub role_id: ID,
}

/// The result of `createRole`, `updateRole` or `deleteRole`.
#[derive(SimpleObject)]
pub struct RolePayload {
    /// The role as created, changed, or as it was before deletion.
    pub role: Role,
}

/// The result of `createPermission` or `deletePermission`.
#[derive(SimpleObject)]
pub struct PermissionPayload {
    /// The permission as created, or as it was before deletion.
    pub permission: Permission,
}

/// The result of `grantPermission` or `revokePermission`.
#[derive(SimpleObject)]
pub struct RolePermissionPayload {
    /// The role, with its permissions as they now are.
    pub role: Role,
    /// The permission granted or revoked.
    pub permission: Permission,
    /// False when the role already was (or was not) granted the permission.
    pub changed: bool,
}

/// The result of `assignRole` or `unassignRole`.
#[derive(SimpleObject)]
pub struct UserRolePayload {
    /// The user, with their roles as they now are.
    pub user: User,
    /// The role assigned or unassigned.
    pub role: Role,
    /// False when the user already had (or did not have) the role.
    pub changed: bool,
}

#[derive(Default)]
pub struct RbacMutation;

#[Object]
impl RbacMutation {
    /// Creates a role without permissions; grant them with `grantPermission`. Needs
    /// `roles:manage`.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE)")]
    async fn create_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new role's name and description.")] input: CreateRoleInput,
    ) -> async_graphql::Result<RolePayload> {
        let name = rules::role_name(&input.name)?;
        let description = rules::description(&input.description)?;
        let (actor, origin) = (ctx.viewer()?.user_id, ctx.request_info());
        let mut conn = db::conn(&ctx.app().pool).await?;
        let role = crate::audit::audited(&mut conn, origin, async |conn| {
            let role = store::create_role(conn, &name, &description).await?;
            let event = Event::new(action::ROLE_CREATE, Some(actor))
                .target("role", role.id)
                .meta(json!({ "name": role.name }));
            Ok((role, event))
        })
        .await?;
        Ok(RolePayload { role })
    }

    /// Renames a role or changes its description. Needs `roles:manage`.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE)")]
    async fn update_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role and the fields to change.")] input: UpdateRoleInput,
    ) -> async_graphql::Result<RolePayload> {
        let id = parse_id("id", &input.id)?;
        let name = input.name.as_deref().map(rules::role_name).transpose()?;
        let description = input
            .description
            .as_deref()
            .map(rules::description)
            .transpose()?;
        let (actor, origin) = (ctx.viewer()?.user_id, ctx.request_info());
        let mut conn = db::conn(&ctx.app().pool).await?;
        let role = crate::db::transaction(&mut conn, async |conn| {
            let role =
                store::update_role(conn, id, name.as_deref(), description.as_deref()).await?;
            let event = Event::new(action::ROLE_UPDATE, Some(actor))
                .target("role", role.id)
                .meta(json!({ "name": role.name, "description": role.description }));
            record(conn, origin, event).await?;
            Ok(role)
        })
        .await?;
        Ok(RolePayload { role })
    }

    /// Deletes a role; users holding it lose it on their next request.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE)")]
    async fn delete_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role to delete.")] input: DeleteInput,
    ) -> async_graphql::Result<RolePayload> {
        let id = parse_id("id", &input.id)?;
        let (actor, origin) = (ctx.viewer()?.user_id, ctx.request_info());
        let mut conn = db::conn(&ctx.app().pool).await?;
        let role = crate::db::transaction(&mut conn, async |conn| {
            store::lock_role_changes(conn).await?;
            let role = store::delete_role(conn, id).await?;
            store::ensure_a_role_manager_remains(conn).await?;
            let event = Event::new(action::ROLE_DELETE, Some(actor))
                .target("role", role.id)
                .meta(json!({ "name": role.name }));
            record(conn, origin, event).await?;
            Ok(role)
        })
        .await?;
        Ok(RolePayload { role })
    }

    /// Creates a permission; the `admin` role is granted it at once.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE)")]
    async fn create_permission(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new permission's name and description.")]
        input: CreatePermissionInput,
    ) -> async_graphql::Result<PermissionPayload> {
        let name = rules::permission_name(&input.name)?;
        let description = rules::description(&input.description)?;
        let (actor, origin) = (ctx.viewer()?.user_id, ctx.request_info());
        let mut conn = db::conn(&ctx.app().pool).await?;
        let permission = crate::db::transaction(&mut conn, async |conn| {
            let permission = store::create_permission(conn, &name, &description).await?;
            let event = Event::new(action::PERMISSION_CREATE, Some(actor))
                .target("permission", permission.id)
                .meta(json!({ "name": permission.name }));
            record(conn, origin, event).await?;
            Ok(permission)
        })
        .await?;
        Ok(PermissionPayload { permission })
    }

    /// Deletes a permission and takes it from every role. System permissions cannot be deleted
    /// (`CONFLICT`, `SYSTEM`). Needs `roles:manage`.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE)")]
    async fn delete_permission(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The permission to delete.")] input: DeleteInput,
    ) -> async_graphql::Result<PermissionPayload> {
        let id = parse_id("id", &input.id)?;
        let (actor, origin) = (ctx.viewer()?.user_id, ctx.request_info());
        let mut conn = db::conn(&ctx.app().pool).await?;
        let permission = crate::db::transaction(&mut conn, async |conn| {
            store::lock_role_changes(conn).await?;
            let permission = store::delete_permission(conn, id).await?;
            store::ensure_a_role_manager_remains(conn).await?;
            let event = Event::new(action::PERMISSION_DELETE, Some(actor))
                .target("permission", permission.id)
                .meta(json!({ "name": permission.name }));
            record(conn, origin, event).await?;
            Ok(permission)
        })
        .await?;
        Ok(PermissionPayload { permission })
    }

    /// Grants a permission to a role. Only permissions the caller holds can be granted.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE)")]
    async fn grant_permission(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role and the permission to grant it.")] input: RolePermissionInput,
    ) -> async_graphql::Result<RolePermissionPayload> {
        let (role_id, permission_id) = (
            parse_id("roleId", &input.role_id)?,
            parse_id("permissionId", &input.permission_id)?,
        );
        let viewer = ctx.viewer()?;
        let (actor, origin) = (viewer.user_id, ctx.request_info());
        let mut conn = db::conn(&ctx.app().pool).await?;
        let (role, permission, changed) = crate::db::transaction(&mut conn, async |conn| {
            let role = store::find_role(conn, role_id).await?;
            let permission = store::find_permission(conn, permission_id).await?;
            if !rules::not_held(&viewer.permissions, [permission.name.as_str()]).is_empty() {
                return Err(AppError::Forbidden("the permission being granted"));
            }
            let changed = store::grant(conn, role.id, permission.id).await?;
            if changed {
                let event = Event::new(action::PERMISSION_GRANT, Some(actor))
                    .target("role", role.id)
                    .meta(json!({ "role": role.name, "permission": permission.name }));
                record(conn, origin, event).await?;
            }
            Ok((role, permission, changed))
        })
        .await?;
        Ok(RolePermissionPayload {
            role,
            permission,
            changed,
        })
    }

    /// Takes a permission from a role; refused if nobody would be left holding `roles:manage`.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE)")]
    async fn revoke_permission(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role and the permission to take from it.")]
        input: RolePermissionInput,
    ) -> async_graphql::Result<RolePermissionPayload> {
        let (role_id, permission_id) = (
            parse_id("roleId", &input.role_id)?,
            parse_id("permissionId", &input.permission_id)?,
        );
        let (actor, origin) = (ctx.viewer()?.user_id, ctx.request_info());
        let mut conn = db::conn(&ctx.app().pool).await?;
        let (role, permission, changed) = crate::db::transaction(&mut conn, async |conn| {
            store::lock_role_changes(conn).await?;
            let role = store::find_role(conn, role_id).await?;
            let permission = store::find_permission(conn, permission_id).await?;
            let changed = store::revoke(conn, role.id, permission.id).await?;
            if changed {
                store::ensure_a_role_manager_remains(conn).await?;
                let event = Event::new(action::PERMISSION_REVOKE, Some(actor))
                    .target("role", role.id)
                    .meta(json!({ "role": role.name, "permission": permission.name }));
                record(conn, origin, event).await?;
            }
            Ok((role, permission, changed))
        })
        .await?;
        Ok(RolePermissionPayload {
            role,
            permission,
            changed,
        })
    }

    /// Gives a user a role. Only roles whose every permission the caller holds can be assigned.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE)")]
    async fn assign_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user and the role to give them.")] input: UserRoleInput,
    ) -> async_graphql::Result<UserRolePayload> {
        let (user_id, role_id) = (
            parse_id("userId", &input.user_id)?,
            parse_id("roleId", &input.role_id)?,
        );
        let viewer = ctx.viewer()?;
        let (actor, origin) = (viewer.user_id, ctx.request_info());
        let mut conn = db::conn(&ctx.app().pool).await?;
        let (user, role, changed) = crate::db::transaction(&mut conn, async |conn| {
            let user = accounts::find_by_id(conn, user_id).await?;
            let role = store::find_role(conn, role_id).await?;
            let granted = store::permission_names_of_role(conn, role.id).await?;
            if !rules::not_held(&viewer.permissions, granted.iter().map(String::as_str)).is_empty()
            {
                return Err(AppError::Forbidden(
                    "every permission of the role being assigned",
                ));
            }
            let changed = store::assign(conn, user.id, role.id).await?;
            if changed {
                let event = Event::new(action::ROLE_ASSIGN, Some(actor))
                    .target("user", user.id)
                    .meta(json!({ "role": role.name }));
                record(conn, origin, event).await?;
            }
            Ok((user, role, changed))
        })
        .await?;
        Ok(UserRolePayload {
            user,
            role,
            changed,
        })
    }

    /// Takes a role from a user; refused if nobody would be left holding `roles:manage`.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE)")]
    async fn unassign_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user and the role to take from them.")] input: UserRoleInput,
    ) -> async_graphql::Result<UserRolePayload> {
        let (user_id, role_id) = (
            parse_id("userId", &input.user_id)?,
            parse_id("roleId", &input.role_id)?,
        );
        let (actor, origin) = (ctx.viewer()?.user_id, ctx.request_info());
        let mut conn = db::conn(&ctx.app().pool).await?;
        let (user, role, changed) = crate::db::transaction(&mut conn, async |conn| {
            store::lock_role_changes(conn).await?;
            let user = accounts::find_by_id(conn, user_id).await?;
            let role = store::find_role(conn, role_id).await?;
            let changed = store::unassign(conn, user.id, role.id).await?;
            if changed {
                store::ensure_a_role_manager_remains(conn).await?;
                let event = Event::new(action::ROLE_UNASSIGN, Some(actor))
                    .target("user", user.id)
                    .meta(json!({ "role": role.name }));
                record(conn, origin, event).await?;
            }
            Ok((user, role, changed))
        })
        .await?;
        Ok(UserRolePayload {
            user,
            role,
            changed,
        })
    }
}
