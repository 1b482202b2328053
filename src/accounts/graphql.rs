//! GraphQL for accounts: the `User` type and its private fields, the account queries,
//! registration, profile changes and administrators' account management. Resolvers call the
//! flows in `accounts`.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::model::User;
use super::store::UserFilter;
use super::{AccountFields, IdentityFields};
use crate::auth::mfa::loader::status;
use crate::error::AppError;
use crate::graphql::connection::{CountedConnection, Page, connection};
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::loader::{PermissionsOfUser, RbacLoader, RolesOfUser};
use crate::rbac::model::Role;
use crate::rbac::perm;
use crate::request::Viewer;

/// A user account. `id` and `username` are public; the other fields are visible to the user
/// and to holders of `users:read` (others get `FORBIDDEN` on those fields).
#[Object]
impl User {
    /// The account's id, for `user(id:)` and the admin mutations.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// Unique regardless of case; 3–30 of `[A-Za-z0-9_.-]`.
    async fn username(&self) -> &str {
        &self.username
    }
    /// Lower-cased and unique.
    async fn email(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        disclose(ctx, self.id)?;
        Ok(&self.email)
    }
    /// Given name; may be empty.
    async fn first_name(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        disclose(ctx, self.id)?;
        Ok(&self.first_name)
    }
    /// Family name; may be empty.
    async fn last_name(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        disclose(ctx, self.id)?;
        Ok(&self.last_name)
    }
    /// IANA time zone name; calendar features use it to decide what "today" is.
    async fn time_zone(&self, ctx: &Context<'_>) -> async_graphql::Result<&str> {
        disclose(ctx, self.id)?;
        Ok(&self.time_zone)
    }
    /// When the user's day begins, local time `HH:MM` (00:00 unless changed): "today",
    /// due-today, streaks and statistics count a night before it as the evening's date.
    async fn day_start(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        disclose(ctx, self.id)?;
        Ok(super::rules::day_start_text(self.day_start_minutes))
    }
    /// Money available in the market, in whole units.
    async fn budget(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        disclose(ctx, self.id)?;
        Ok(self.budget)
    }
    /// False once an administrator deactivated the account: it cannot sign in, and its
    /// sessions and API tokens stop working.
    async fn is_active(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        disclose(ctx, self.id)?;
        Ok(self.is_active)
    }
    /// When the account was registered or created.
    async fn created_at(&self, ctx: &Context<'_>) -> async_graphql::Result<DateTime<Utc>> {
        disclose(ctx, self.id)?;
        Ok(self.created_at)
    }
    /// When the user last signed in; null if never.
    async fn last_login_at(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<DateTime<Utc>>> {
        disclose(ctx, self.id)?;
        Ok(self.last_login_at)
    }
    /// When the account was deleted; null while it exists. A deleted account keeps only its
    /// id, a placeholder username (`deleted:<id>`) and its budget.
    async fn deleted_at(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DateTime<Utc>>> {
        disclose(ctx, self.id)?;
        Ok(self.deleted_at)
    }
    /// Whether the user confirmed their current address through the mailed link.
    async fn email_verified(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        disclose(ctx, self.id)?;
        Ok(self.email_verified_at.is_some())
    }
    /// Whether signing in needs a second factor.
    async fn two_factor_enabled(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        disclose(ctx, self.id)?;
        Ok(status(ctx, self.id).await?.enabled)
    }
    /// Unused recovery codes.
    async fn recovery_codes_left(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        disclose(ctx, self.id)?;
        Ok(status(ctx, self.id).await?.recovery_codes_left)
    }
    /// The provider accounts (Google, …) this user signs in with.
    async fn identities(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::oidc::model::Identity>> {
        disclose(ctx, self.id)?;
        crate::oidc::loader::identities(ctx, self.id).await
    }
    /// The roles this user holds.
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Role>> {
        disclose(ctx, self.id)?;
        let loader = ctx.data_unchecked::<DataLoader<RbacLoader>>();
        Ok(loader
            .load_one(RolesOfUser(self.id))
            .await?
            .unwrap_or_default())
    }
    /// Every permission the user's roles grant, by name.
    async fn permissions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        disclose(ctx, self.id)?;
        // The caller's own set was read with the session; an account this request signed in to
        // has no viewer yet, so its set is loaded like anyone else's.
        if let Some(viewer) = ctx
            .data_opt::<Viewer>()
            .filter(|viewer| viewer.user_id == self.id)
        {
            let mut own: Vec<String> = viewer.permissions.iter().cloned().collect();
            own.sort_unstable();
            return Ok(own);
        }
        let loader = ctx.data_unchecked::<DataLoader<RbacLoader>>();
        Ok(loader
            .load_one(PermissionsOfUser(self.id))
            .await?
            .unwrap_or_default())
    }
}

/// `FORBIDDEN` unless the caller may see this account's private fields.
fn disclose(ctx: &Context<'_>, user_id: i64) -> Result<(), AppError> {
    if ctx.may_see_account(user_id) {
        Ok(())
    } else {
        Err(AppError::forbidden(perm::USERS_READ))
    }
}

#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// The signed-in user.
    #[graphql(guard = "Permission(perm::PROFILE_READ)")]
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        Ok(ctx.viewer()?.account.clone())
    }

    /// One account by id (`NOT_FOUND` if there is none). Needs `users:read`.
    #[graphql(guard = "Permission(perm::USERS_READ)")]
    async fn user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's id.")] id: ID,
    ) -> async_graphql::Result<User> {
        let id = parse_id("id", &id)?;
        Ok(super::find(ctx.app(), id).await?)
    }

    /// Accounts in id order.
    #[graphql(
        guard = "Permission(perm::USERS_READ)",
        complexity = "crate::graphql::page_cost(first, child_complexity)"
    )]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last edge already seen.")] after: Option<String>,
        #[graphql(desc = "Only accounts matching all conditions.")] filter: Option<UsersFilter>,
    ) -> async_graphql::Result<CountedConnection<User>> {
        let page = Page::parse(first, after.as_deref())?;
        let filter = filter.unwrap_or_default();
        let filter = UserFilter {
            search: crate::text::search(filter.search.as_deref())?,
            role_id: filter
                .role_id
                .as_ref()
                .map(|id| parse_id("roleId", id))
                .transpose()?,
            active: filter.active,
        };
        let (rows, total) =
            super::search(ctx.app(), &filter, (page.after_id, page.fetch_limit())).await?;
        Ok(connection(rows, page, total, |user| user.id, |user| user))
    }
}

/// Conditions for `users`; omitted ones do not filter.
#[derive(InputObject, Default)]
pub struct UsersFilter {
    /// Part of a username, email or name, at most 100 characters; `%` and `_` match themselves.
    pub search: Option<String>,
    /// Only holders of this role.
    pub role_id: Option<ID>,
    /// Only active (true) or only deactivated (false) accounts.
    pub active: Option<bool>,
}

/// The fields every new account is made of, flattened into `RegisterInput` and
/// `CreateUserInput`.
#[derive(InputObject)]
pub struct NewAccountInput {
    /// 3–30 of `[A-Za-z0-9_.-]`, unique regardless of case (`CONFLICT`, `TAKEN`).
    pub username: String,
    /// A plain address with a dotted domain; stored lower-cased, unique (`CONFLICT`, `TAKEN`).
    pub email: String,
    /// 8–256 characters; common passwords are refused.
    pub password: String,
    /// Given name, at most 100 characters; empty when omitted.
    #[graphql(default)]
    pub first_name: String,
    /// Family name, at most 100 characters; empty when omitted.
    #[graphql(default)]
    pub last_name: String,
}

impl NewAccountInput {
    fn fields(&self) -> AccountFields<'_> {
        AccountFields {
            username: &self.username,
            email: &self.email,
            password: &self.password,
            first_name: &self.first_name,
            last_name: &self.last_name,
        }
    }
}

/// A new account for `register`.
#[derive(InputObject)]
pub struct RegisterInput {
    #[graphql(flatten)]
    pub account: NewAccountInput,
}

/// The result of `register`.
#[derive(SimpleObject)]
pub struct RegisterPayload {
    /// The new account; a welcome mail with a verification link is on its way.
    pub user: User,
}

/// Changes for `updateProfile`; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateProfileInput {
    /// Given name, at most 100 characters.
    pub first_name: Option<String>,
    /// Family name, at most 100 characters.
    pub last_name: Option<String>,
    /// IANA time zone name, e.g. `Europe/Berlin`.
    pub time_zone: Option<String>,
    /// When your day begins, `HH:MM` from 00:00 to 12:00 (e.g. `04:00` if you are often up
    /// past midnight).
    pub day_start: Option<String>,
}

/// The result of `updateProfile`.
#[derive(SimpleObject)]
pub struct UpdateProfilePayload {
    /// The signed-in user as changed.
    pub user: User,
}

#[derive(Default)]
pub struct AccountsMutation;

#[Object]
impl AccountsMutation {
    /// Creates an account with the default budget and the `user` role. Does not sign in.
    async fn register(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new account's names, address and password.")] input: RegisterInput,
    ) -> async_graphql::Result<RegisterPayload> {
        let fields = input.account.fields();
        let user = super::register(ctx.app(), ctx.request_info(), fields).await?;
        ctx.acting_as(user.id);
        Ok(RegisterPayload { user })
    }

    /// Changes the signed-in user's names, time zone or day start; omitted fields stay as they
    /// are.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The fields to change.")] input: UpdateProfileInput,
    ) -> async_graphql::Result<UpdateProfilePayload> {
        let user_id = ctx.viewer()?.user_id;
        let edit = super::ProfileEdit {
            first_name: input.first_name.as_deref(),
            last_name: input.last_name.as_deref(),
            time_zone: input.time_zone.as_deref(),
            day_start: input.day_start.as_deref(),
        };
        let user = super::update_profile(ctx.app(), user_id, edit).await?;
        Ok(UpdateProfilePayload { user })
    }
}

/// A new account for `createUser`, with the same rules as `register`.
#[derive(InputObject)]
pub struct CreateUserInput {
    #[graphql(flatten)]
    pub account: NewAccountInput,
}

/// The fields an administrator may change; roles and flags have their own mutations.
#[derive(InputObject)]
pub struct UpdateUserInput {
    /// The account to change.
    pub id: ID,
    /// 3–30 of `[A-Za-z0-9_.-]`, unique regardless of case (`CONFLICT`, `TAKEN`).
    pub username: Option<String>,
    /// A plain address with a dotted domain; stored lower-cased, unique (`CONFLICT`, `TAKEN`).
    pub email: Option<String>,
    /// Given name, at most 100 characters.
    pub first_name: Option<String>,
    /// Family name, at most 100 characters.
    pub last_name: Option<String>,
}

/// Which account `setUserActive` changes, and how.
#[derive(InputObject)]
pub struct SetUserActiveInput {
    /// The account to change.
    pub user_id: ID,
    /// True to let the account sign in again, false to deactivate it.
    pub active: bool,
}

/// The result of `createUser` or `updateUser`.
#[derive(SimpleObject)]
pub struct UserPayload {
    /// The account as created or changed.
    pub user: User,
}

/// The result of `setUserActive`.
#[derive(SimpleObject)]
pub struct SetUserActivePayload {
    /// The account as changed.
    pub user: User,
    /// Sessions ended by deactivation.
    pub sessions_revoked: i32,
}

#[derive(Default)]
pub struct UserAdminMutation;

#[Object]
impl UserAdminMutation {
    /// Creates an account (role `user`, default budget) for someone else.
    #[graphql(guard = "Permission(perm::USERS_MANAGE)")]
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new account.")] input: CreateUserInput,
    ) -> async_graphql::Result<UserPayload> {
        let admin = ctx.viewer()?.user_id;
        let fields = input.account.fields();
        let user = super::create_user(ctx.app(), ctx.request_info(), admin, fields).await?;
        Ok(UserPayload { user })
    }

    /// Changes another account's username, email or names.
    #[graphql(guard = "Permission(perm::USERS_MANAGE)")]
    async fn update_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account and the fields to change.")] input: UpdateUserInput,
    ) -> async_graphql::Result<UserPayload> {
        let user_id = parse_id("id", &input.id)?;
        let fields = IdentityFields {
            username: input.username.as_deref(),
            email: input.email.as_deref(),
            first_name: input.first_name.as_deref(),
            last_name: input.last_name.as_deref(),
        };
        let actor = ctx.viewer()?.user_id;
        let (app, origin) = (ctx.app(), ctx.request_info());
        let user = super::update_user(app, origin, (actor, user_id), fields).await?;
        Ok(UserPayload { user })
    }

    /// Activates or deactivates an account. Deactivation ends its sessions at once and is
    /// refused for the last holder of `roles:manage`.
    #[graphql(guard = "Permission(perm::USERS_MANAGE)")]
    async fn set_user_active(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account and its new state.")] input: SetUserActiveInput,
    ) -> async_graphql::Result<SetUserActivePayload> {
        let user_id = parse_id("userId", &input.user_id)?;
        let actor = ctx.viewer()?.user_id;
        let (app, origin) = (ctx.app(), ctx.request_info());
        let (user, revoked) =
            super::set_user_active(app, origin, (actor, user_id), input.active).await?;
        Ok(SetUserActivePayload {
            user,
            sessions_revoked: i32::try_from(revoked).unwrap_or(i32::MAX),
        })
    }
}
