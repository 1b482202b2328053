//! The themes API: the `Theme` type and thin resolvers over the domain's functions.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::loader::load_usage;
use super::model::Theme;
use crate::graphql::connection::{CountedConnection, Page, connection};
use crate::graphql::{ContextExt, Permission, parse_id};
use crate::rbac::perm;

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
        Ok(load_usage(ctx, self.id).await?.tasks)
    }
    /// How many habits carry this theme, archived ones included.
    async fn habits_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(load_usage(ctx, self.id).await?.habits)
    }
    /// When the theme was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
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
        let (rows, total) =
            super::page(ctx.app(), user_id, page.after_id, page.fetch_limit()).await?;
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
        Ok(super::find(ctx.app(), user_id, id).await?)
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
        let user_id = ctx.viewer()?.user_id;
        let theme = super::create(ctx.app(), user_id, &input.name, input.color.as_deref()).await?;
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
        let user_id = ctx.viewer()?.user_id;
        let (name, color) = (input.name.as_deref(), input.color.as_deref());
        let theme = super::update(ctx.app(), user_id, id, name, color).await?;
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
        let theme = super::delete(ctx.app(), user_id, id).await?;
        Ok(ThemePayload { theme })
    }
}
