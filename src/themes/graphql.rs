use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::model::{Theme, ThemeChanges, ThemeUsage};
use super::{rules, store};
use crate::db::{self, DbPool};
use crate::graphql::connection::{CountedConnection, Page, connection};
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::perm;

/// Batches theme look-ups of one request (tasks and habits naming their themes).
pub struct ThemeLoader {
    pub pool: DbPool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ThemeById(pub i64);

impl Loader<ThemeById> for ThemeLoader {
    type Value = Theme;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ThemeById]) -> Result<HashMap<ThemeById, Theme>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|key| key.0).collect();
        let mut conn = db::conn(&self.pool).await?;
        let rows = store::by_ids(&mut conn, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|theme| (ThemeById(theme.id), theme))
            .collect())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UsageOf(pub i64);

impl Loader<UsageOf> for ThemeLoader {
    type Value = ThemeUsage;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[UsageOf]) -> Result<HashMap<UsageOf, ThemeUsage>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|key| key.0).collect();
        let mut conn = db::conn(&self.pool).await?;
        let rows = store::usage(&mut conn, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|usage| (UsageOf(usage.theme_id), usage))
            .collect())
    }
}

/// The theme a task or habit names, through the request's loader.
pub async fn load_theme(
    ctx: &Context<'_>,
    theme_id: Option<i64>,
) -> async_graphql::Result<Option<Theme>> {
    match theme_id {
        Some(id) => {
            ctx.data_unchecked::<DataLoader<ThemeLoader>>()
                .load_one(ThemeById(id))
                .await
        }
        None => Ok(None),
    }
}

/// A named colour grouping tasks and habits.
#[Object]
impl Theme {
    /// The theme's id.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    /// 1–40 characters, unique among the user's themes regardless of case.
    async fn name(&self) -> &str {
        &self.name
    }
    /// `#RRGGBB`, upper-case, unique among the user's themes.
    async fn color(&self) -> &str {
        &self.color
    }
    /// How many tasks carry this theme.
    async fn tasks_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(usage(ctx, self.id).await?.tasks)
    }
    /// How many habits carry this theme, archived ones included.
    async fn habits_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(usage(ctx, self.id).await?.habits)
    }
    /// When the theme was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}

async fn usage(ctx: &Context<'_>, theme_id: i64) -> async_graphql::Result<ThemeUsage> {
    Ok(ctx
        .data_unchecked::<DataLoader<ThemeLoader>>()
        .load_one(UsageOf(theme_id))
        .await?
        .unwrap_or_default())
}

#[derive(Default)]
pub struct ThemesQuery;

#[Object]
impl ThemesQuery {
    /// The current user's themes, oldest first.
    #[graphql(
        guard = "Permission(perm::THEMES_MANAGE)",
        complexity = "crate::graphql::page_cost(first, child_complexity)"
    )]
    async fn themes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100; 20 when omitted.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page; omit for the first page.")]
        after: Option<String>,
    ) -> async_graphql::Result<CountedConnection<Theme>> {
        let user_id = ctx.viewer()?.user_id;
        let page = Page::parse(first, after.as_deref())?;
        let mut conn = db::conn(&ctx.app().pool).await?;
        let (rows, total) =
            store::page(&mut conn, user_id, page.after_id, page.fetch_limit()).await?;
        Ok(connection(
            rows,
            page,
            total,
            |theme| theme.id,
            |theme| theme,
        ))
    }

    /// One of the current user's themes.
    #[graphql(guard = "Permission(perm::THEMES_MANAGE)")]
    async fn theme(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The theme's id; another user's theme is `NOT_FOUND`.")] id: ID,
    ) -> async_graphql::Result<Theme> {
        let user_id = ctx.viewer()?.user_id;
        let id = parse_id("id", &id)?;
        let mut conn = db::conn(&ctx.app().pool).await?;
        Ok(store::find(&mut conn, user_id, id).await?)
    }
}

/// A new theme for `createTheme`.
#[derive(InputObject)]
pub struct CreateThemeInput {
    /// 1–40 characters after trimming, unique among the user's themes regardless of case.
    pub name: String,
    /// `#RRGGBB`; when omitted, a colour is derived from the name that no other theme of the
    /// user has.
    pub color: Option<String>,
}

/// Changes for `updateTheme`; fields left out keep their value.
#[derive(InputObject)]
pub struct UpdateThemeInput {
    /// The theme to change.
    pub id: ID,
    /// 1–40 characters after trimming, unique among the user's themes regardless of case.
    pub name: Option<String>,
    /// `#RRGGBB` in either case (stored upper-case), unique among the user's themes.
    pub color: Option<String>,
}

/// Names the theme `deleteTheme` removes.
#[derive(InputObject)]
pub struct DeleteThemeInput {
    /// The theme to delete; another user's theme is `NOT_FOUND`.
    pub id: ID,
}

/// The result of a theme mutation.
#[derive(SimpleObject)]
pub struct ThemePayload {
    /// The theme as it is now (for `deleteTheme`, as it was).
    pub theme: Theme,
}

#[derive(Default)]
pub struct ThemesMutation;

#[Object]
impl ThemesMutation {
    /// A name or colour the user already has is `CONFLICT` with reason `TAKEN`; a user with
    /// as many themes as allowed (100 by default) gets `CONFLICT` with reason `LIMIT_REACHED`.
    #[graphql(guard = "Permission(perm::THEMES_MANAGE)")]
    async fn create_theme(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new theme's name and, optionally, colour.")] input: CreateThemeInput,
    ) -> async_graphql::Result<ThemePayload> {
        let name = rules::name(&input.name)?;
        let color = input.color.as_deref().map(rules::color).transpose()?;
        let user_id = ctx.viewer()?.user_id;
        let mut conn = db::conn(&ctx.app().pool).await?;
        let cap = ctx.app().config.max_themes_per_user;
        let theme = store::create(&mut conn, user_id, &name, color.as_deref(), cap).await?;
        Ok(ThemePayload { theme })
    }

    /// Renames or recolours one of the user's themes (`themes:manage`). A name or colour the
    /// user already has is `CONFLICT` with reason `TAKEN`.
    #[graphql(guard = "Permission(perm::THEMES_MANAGE)")]
    async fn update_theme(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The theme and the fields to change.")] input: UpdateThemeInput,
    ) -> async_graphql::Result<ThemePayload> {
        let id = parse_id("id", &input.id)?;
        let changes = ThemeChanges {
            name: input.name.as_deref().map(rules::name).transpose()?,
            color: input.color.as_deref().map(rules::color).transpose()?,
        };
        let user_id = ctx.viewer()?.user_id;
        let mut conn = db::conn(&ctx.app().pool).await?;
        let theme = store::update(&mut conn, user_id, id, &changes).await?;
        Ok(ThemePayload { theme })
    }

    /// Deletes a theme; its tasks and habits stay, without a theme.
    #[graphql(guard = "Permission(perm::THEMES_MANAGE)")]
    async fn delete_theme(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The theme to delete.")] input: DeleteThemeInput,
    ) -> async_graphql::Result<ThemePayload> {
        let id = parse_id("id", &input.id)?;
        let user_id = ctx.viewer()?.user_id;
        let mut conn = db::conn(&ctx.app().pool).await?;
        let theme = store::delete(&mut conn, user_id, id).await?;
        Ok(ThemePayload { theme })
    }
}
