//! GraphQL for the quote of the day.

use async_graphql::{Context, Object};

use super::model::Quote;
use crate::graphql::ContextExt;

/// A quote and who said it.
#[Object(name = "Quote")]
impl Quote {
    /// The quote's words.
    async fn text(&self) -> &str {
        &self.text
    }
    /// Who said or wrote it.
    async fn author(&self) -> &str {
        &self.author
    }
}

#[derive(Default)]
pub struct QuotesQuery;

#[Object]
impl QuotesQuery {
    /// The caller's quote for their day (`me.timeZone`, `me.dayStart`): the same all day,
    /// picked from the quotes fetched from the configured provider before the day began, or
    /// from a built-in list while there were none. Other users may see another. Any
    /// signed-in caller.
    async fn quote_of_the_day(&self, ctx: &Context<'_>) -> async_graphql::Result<Quote> {
        let viewer = ctx.viewer()?;
        Ok(super::quote_of_the_day(ctx.app(), viewer).await?)
    }
}
