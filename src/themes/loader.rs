//! The per-request DataLoader of themes and their usage counts. Tasks, habits and statistics
//! name their themes through [`load_theme`], so none of them imports this domain's resolvers.

use std::collections::HashMap;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};

use super::model::{Theme, ThemeUsage};
use super::store;
use crate::db::{self, DbPool};

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

/// How many tasks and habits carry the theme, through the request's loader.
pub async fn load_usage(ctx: &Context<'_>, theme_id: i64) -> async_graphql::Result<ThemeUsage> {
    Ok(ctx
        .data_unchecked::<DataLoader<ThemeLoader>>()
        .load_one(UsageOf(theme_id))
        .await?
        .unwrap_or_default())
}
