//! The roles-and-permissions part of the schema: `Role` and `Permission`, the queries that list
//! them and the mutations, each handing its input to one function of `rbac::admin`.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::loader::{PermissionsOfRole, RbacLoader};
use super::model::{Permission, Role};
use super::{admin, perm};
use crate::accounts::model::User;
use crate::budgets::loader::BudgetLoader;
use crate::budgets::model::{BudgetRow, Holder};
use crate::error::AppError;
use crate::graphql::{ContextExt, Permission as Requires, RecentProof, parse_id};

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
    /// The ceilings the role puts on its holders' requests (see `setRequestBudget`); null when
    /// it leaves every limit at the server's.
    async fn request_budget(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<BudgetRow>> {
        let loader = ctx.data_unchecked::<DataLoader<BudgetLoader>>();
        loader.load_one(Holder::Role(self.id)).await
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
        Ok(super::roles(ctx.app()).await?)
    }

    /// One role by id (`NOT_FOUND` if there is none). Needs `roles:manage`.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE)")]
    async fn role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role's id.")] id: ID,
    ) -> async_graphql::Result<Role> {
        let id = parse_id("id", &id)?;
        Ok(super::role(ctx.app(), id).await?)
    }

    /// Every permission, by name.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE)")]
    async fn permissions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Permission>> {
        Ok(super::permissions(ctx.app()).await?)
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
        let (actor, origin) = (ctx.viewer()?.user_id, ctx.request_info());
        let role =
            admin::create_role(ctx.app(), actor, origin, &input.name, &input.description).await?;
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
        let (name, description) = (input.name.as_deref(), input.description.as_deref());
        let (actor, origin) = (ctx.viewer()?.user_id, ctx.request_info());
        let role = admin::update_role(ctx.app(), actor, origin, id, name, description).await?;
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
        let role = admin::delete_role(ctx.app(), actor, origin, id).await?;
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
        let (actor, origin) = (ctx.viewer()?.user_id, ctx.request_info());
        let (name, description) = (&input.name, &input.description);
        let permission =
            admin::create_permission(ctx.app(), actor, origin, name, description).await?;
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
        let permission = admin::delete_permission(ctx.app(), actor, origin, id).await?;
        Ok(PermissionPayload { permission })
    }

    /// Grants a permission to a role. Only permissions the caller holds can be granted. A
    /// session needs a recent proof of who its user is (`FORBIDDEN`,
    /// `REAUTHENTICATION_REQUIRED`; `reauthenticate` gives one); API tokens need none.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE).and(RecentProof)")]
    async fn grant_permission(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role and the permission to grant it.")] input: RolePermissionInput,
    ) -> async_graphql::Result<RolePermissionPayload> {
        let (role_id, permission_id) = role_and_permission(&input)?;
        let (viewer, origin) = (ctx.viewer()?, ctx.request_info());
        let (actor, held) = (viewer.user_id, &viewer.permissions);
        let (role, permission, changed) =
            admin::grant_permission(ctx.app(), actor, held, origin, role_id, permission_id).await?;
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
        let (role_id, permission_id) = role_and_permission(&input)?;
        let (actor, origin) = (ctx.viewer()?.user_id, ctx.request_info());
        let (role, permission, changed) =
            admin::revoke_permission(ctx.app(), actor, origin, role_id, permission_id).await?;
        Ok(RolePermissionPayload {
            role,
            permission,
            changed,
        })
    }

    /// Gives a user a role. Only roles whose every permission the caller holds can be assigned.
    /// A session needs a recent proof of who its user is (`FORBIDDEN`,
    /// `REAUTHENTICATION_REQUIRED`; `reauthenticate` gives one); API tokens need none.
    #[graphql(guard = "Requires(perm::ROLES_MANAGE).and(RecentProof)")]
    async fn assign_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user and the role to give them.")] input: UserRoleInput,
    ) -> async_graphql::Result<UserRolePayload> {
        let (user_id, role_id) = user_and_role(&input)?;
        let (viewer, origin) = (ctx.viewer()?, ctx.request_info());
        let (actor, held) = (viewer.user_id, &viewer.permissions);
        let (user, role, changed) =
            admin::assign_role(ctx.app(), actor, held, origin, user_id, role_id).await?;
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
        let (user_id, role_id) = user_and_role(&input)?;
        let (actor, origin) = (ctx.viewer()?.user_id, ctx.request_info());
        let (user, role, changed) =
            admin::unassign_role(ctx.app(), actor, origin, user_id, role_id).await?;
        Ok(UserRolePayload {
            user,
            role,
            changed,
        })
    }
}

fn role_and_permission(input: &RolePermissionInput) -> Result<(i64, i64), AppError> {
    Ok((
        parse_id("roleId", &input.role_id)?,
        parse_id("permissionId", &input.permission_id)?,
    ))
}

fn user_and_role(input: &UserRoleInput) -> Result<(i64, i64), AppError> {
    Ok((
        parse_id("userId", &input.user_id)?,
        parse_id("roleId", &input.role_id)?,
    ))
}
