//! The per-request DataLoader of user accounts: other domains (item owners) name users through
//! it, so they need nothing from this domain's resolvers.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};

use super::model::User;
use super::store;
use crate::db::{self, DbPool};

/// Batches user look-ups of one request (item owners), one query for all of them.
pub struct UserLoader {
    pub pool: DbPool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserById(pub i64);

/// Cached for the request, so a page can prime it with all its owners in one batch. Values are
/// shared, not copied, on every hit: a page of 50 items asks it 50 times.
pub type UserDataLoader = DataLoader<UserLoader, HashMapCache>;

impl Loader<UserById> for UserLoader {
    type Value = Arc<User>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[UserById]) -> Result<HashMap<UserById, Arc<User>>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|key| key.0).collect();
        let mut conn = db::conn(&self.pool).await?;
        let users = store::find_by_ids(&mut conn, &ids).await?;
        Ok(users
            .into_iter()
            .map(|user| (UserById(user.id), Arc::new(user)))
            .collect())
    }
}
