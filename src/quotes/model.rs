//! Rows of quotes: what `quoteOfTheDay` answers, and what a fetch stores.

use diesel::prelude::*;

use crate::db::schema::quotes;

/// A quote and who said it, validated (see `rules::quote`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = quotes, check_for_backend(diesel::pg::Pg))]
pub struct Quote {
    pub text: String,
    pub author: String,
}
