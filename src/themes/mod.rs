//! Themes: a user's named colours that group tasks and habits. The functions here are the
//! domain's steps (validate, then store); `loader` serves other domains naming a theme.

pub mod graphql;
pub mod loader;
pub mod model;
pub mod rules;
pub mod store;

use model::{Theme, ThemeChanges};

use crate::App;
use crate::db;
use crate::db::quota;
use crate::error::AppError;

/// Two requests may generate the same free colour at once; the loser picks again.
const COLOR_ATTEMPTS: usize = 3;

/// A page of the user's themes in creation order, and how many they have.
pub async fn page(
    app: &App,
    user_id: i64,
    after_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<Theme>, i64), AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::page(&mut conn, user_id, after_id, limit).await
}

pub async fn find(app: &App, user_id: i64, id: i64) -> Result<Theme, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::find(&mut conn, user_id, id).await
}

/// Creates a theme unless the user has as many as allowed; without a colour, one is generated
/// from the name that the user's other themes do not use.
pub async fn create(
    app: &App,
    user_id: i64,
    name: &str,
    color: Option<&str>,
) -> Result<Theme, AppError> {
    let name = rules::name(name)?;
    let color = color.map(rules::color).transpose()?;
    let cap = app.config.max_themes_per_user;
    let now = app.clock.now();
    let mut conn = db::conn(&app.pool).await?;
    db::transaction(&mut conn, async |conn| {
        quota::lock(conn, quota::THEMES_LOCK, user_id).await?;
        let mut taken = store::colors(conn, user_id).await?;
        quota::check("themes", taken.len() as i64, cap)?;
        if let Some(color) = &color {
            return store::insert(conn, user_id, &name, color, now).await;
        }
        // Other creations wait for the lock, but a rename or recolour does not: the colour just
        // chosen may be taken meanwhile, and then the next free one is tried.
        let mut attempt = 1;
        loop {
            let color = rules::generated_color(&name, &taken).ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("user {user_id} has every colour"))
            })?;
            match store::insert(conn, user_id, &name, &color, now).await {
                Err(AppError::Conflict {
                    field: Some("color"),
                    ..
                }) if attempt < COLOR_ATTEMPTS => {
                    attempt += 1;
                    taken.insert(color);
                }
                result => return result,
            }
        }
    })
    .await
}

/// Renames or recolours one of the user's themes; fields left `None` keep their value.
pub async fn update(
    app: &App,
    user_id: i64,
    id: i64,
    name: Option<&str>,
    color: Option<&str>,
) -> Result<Theme, AppError> {
    let changes = ThemeChanges {
        name: name.map(rules::name).transpose()?,
        color: color.map(rules::color).transpose()?,
    };
    let mut conn = db::conn(&app.pool).await?;
    store::update(&mut conn, user_id, id, &changes).await
}

/// Deletes a theme; its tasks and habits stay, without a theme.
pub async fn delete(app: &App, user_id: i64, id: i64) -> Result<Theme, AppError> {
    let mut conn = db::conn(&app.pool).await?;
    store::delete(&mut conn, user_id, id).await
}
