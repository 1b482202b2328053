//! The budgets shown with a page of roles or API tokens, in one statement per answer.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::model::{BudgetRow, Holder};
use super::store;
use crate::db::{self, DbPool};

pub struct BudgetLoader {
    pub pool: DbPool,
}

impl Loader<Holder> for BudgetLoader {
    type Value = BudgetRow;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Holder]) -> Result<HashMap<Holder, BudgetRow>, Self::Error> {
        let mut conn = db::conn(&self.pool).await?;
        let rows = store::of_holders(&mut conn, keys).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| Some((row.holder()?, row)))
            .collect())
    }
}
