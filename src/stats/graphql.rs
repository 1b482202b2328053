//! The statistics API: one query over the domain's [`super::stats`].

use async_graphql::{Context, Object};

use super::model::{Stats, StatsRange, ThemeCount};
use crate::graphql::{ContextExt, Permission};
use crate::habits::loader;
use crate::rbac::perm;
use crate::themes::loader::load_theme;
use crate::themes::model::Theme;

/// A count per theme; `theme` is null for what has none.
#[Object]
impl ThemeCount {
    /// The theme; null for the habits or tasks without one.
    async fn theme(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Theme>> {
        load_theme(ctx, self.theme_id).await
    }
    /// How many habits or tasks have the theme.
    async fn count(&self) -> i64 {
        self.count
    }
}

#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// The current user's habit and task statistics over `range`, in their local days.
    /// A fixed number of statements answers it, however many habits and tasks there are.
    #[graphql(guard = "Permission(perm::HABITS_MANAGE)")]
    async fn stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The days to cover, ending today.")] range: StatsRange,
    ) -> async_graphql::Result<Stats> {
        let viewer = ctx.viewer()?;
        let (stats, completions) =
            super::stats(ctx.app(), viewer.user_id, viewer.days, range).await?;
        loader::feed(ctx, completions).await;
        Ok(stats)
    }
}
