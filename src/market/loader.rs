//! The per-request DataLoader of items (ledger rows naming their items).

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::model::Item;
use super::store;
use crate::db::{self, DbPool};

/// Batches item look-ups of one request (ledger rows naming their items).
pub struct ItemLoader {
    pub pool: DbPool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ItemById(pub i64);

impl Loader<ItemById> for ItemLoader {
    type Value = Item;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[ItemById]) -> Result<HashMap<ItemById, Item>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|key| key.0).collect();
        let mut conn = db::conn(&self.pool).await?;
        let rows = store::items_by_ids(&mut conn, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|item| (ItemById(item.id), item))
            .collect())
    }
}
