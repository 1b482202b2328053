//! Theme rows, their usage counts, and the changes `updateTheme` may make.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::themes;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = themes, check_for_backend(diesel::pg::Pg))]
pub struct Theme {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub color: String,
    pub created_at: DateTime<Utc>,
}

/// How many tasks and habits carry a theme.
#[derive(Clone, Copy, Debug, Default, QueryableByName)]
pub struct ThemeUsage {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub theme_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub tasks: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub habits: i64,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = themes)]
pub struct ThemeChanges {
    pub name: Option<String>,
    pub color: Option<String>,
}
