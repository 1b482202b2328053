use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::model::{NewUser, ProfileChanges, User};
use super::{rules, store};
use crate::auth::rules::check_new_password;
use crate::db;
use crate::error::AppError;
use crate::graphql::{ContextExt, Permission};
use crate::rbac::perm;

/// A user account.
#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// Unique regardless of case; 3–30 of `[A-Za-z0-9_.-]`.
    async fn username(&self) -> &str {
        &self.username
    }
    /// Lower-cased and unique.
    async fn email(&self) -> &str {
        &self.email
    }
    async fn first_name(&self) -> &str {
        &self.first_name
    }
    async fn last_name(&self) -> &str {
        &self.last_name
    }
    /// IANA time zone name; calendar features use it to decide what "today" is.
    async fn time_zone(&self) -> &str {
        &self.time_zone
    }
    /// Money available in the market, in whole units.
    async fn budget(&self) -> i64 {
        self.budget
    }
    async fn is_active(&self) -> bool {
        self.is_active
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn last_login_at(&self) -> Option<DateTime<Utc>> {
        self.last_login_at
    }
}

#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// The signed-in user.
    #[graphql(guard = "Permission(perm::PROFILE_READ)")]
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let viewer = ctx.viewer()?;
        let mut conn = db::conn(&ctx.app().pool).await?;
        Ok(store::find_by_id(&mut conn, viewer.user_id).await?)
    }
}

#[derive(InputObject)]
pub struct RegisterInput {
    pub username: String,
    pub email: String,
    /// 8–256 characters; common passwords are refused.
    pub password: String,
    #[graphql(default)]
    pub first_name: String,
    #[graphql(default)]
    pub last_name: String,
}

#[derive(SimpleObject)]
pub struct RegisterPayload {
    pub user: User,
}

#[derive(InputObject)]
pub struct UpdateProfileInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// IANA time zone name, e.g. `Europe/Berlin`.
    pub time_zone: Option<String>,
}

#[derive(SimpleObject)]
pub struct UpdateProfilePayload {
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
        input: RegisterInput,
    ) -> async_graphql::Result<RegisterPayload> {
        let app = ctx.app();
        let username = rules::username(&input.username)?;
        let email = rules::email(&input.email)?;
        let first_name = rules::person_name("firstName", &input.first_name)?;
        let last_name = rules::person_name("lastName", &input.last_name)?;
        let password = check_new_password(&input.password)
            .map_err(|problem| AppError::bad_input("password", problem.message()))?;
        let password_hash = app.passwords.hash(password).await?;
        let mut conn = db::conn(&app.pool).await?;
        let user = store::create_user(
            &mut conn,
            NewUser {
                username: &username,
                email: &email,
                password_hash: &password_hash,
                first_name: &first_name,
                last_name: &last_name,
                budget: app.config.default_budget,
            },
        )
        .await?;
        Ok(RegisterPayload { user })
    }

    /// Changes the signed-in user's names or time zone; omitted fields stay as they are.
    #[graphql(guard = "Permission(perm::PROFILE_UPDATE)")]
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdateProfileInput,
    ) -> async_graphql::Result<UpdateProfilePayload> {
        let viewer = ctx.viewer()?;
        let changes = ProfileChanges {
            first_name: input
                .first_name
                .map(|name| rules::person_name("firstName", &name))
                .transpose()?,
            last_name: input
                .last_name
                .map(|name| rules::person_name("lastName", &name))
                .transpose()?,
            time_zone: input
                .time_zone
                .map(|zone| rules::time_zone(&zone))
                .transpose()?,
        };
        let mut conn = db::conn(&ctx.app().pool).await?;
        let user = store::update_profile(&mut conn, viewer.user_id, changes).await?;
        Ok(UpdateProfilePayload { user })
    }
}
