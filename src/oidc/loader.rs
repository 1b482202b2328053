//! Users' linked identities, batched per request for `User.identities`: a page of users asking
//! for theirs costs one statement, not one per user.

use std::collections::HashMap;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};

use super::model::Identity;
use super::store;
use crate::db::{self, DbPool};

pub struct IdentityLoader {
    pub pool: DbPool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdentitiesOf(pub i64);

impl Loader<IdentitiesOf> for IdentityLoader {
    type Value = Vec<Identity>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[IdentitiesOf],
    ) -> Result<HashMap<IdentitiesOf, Vec<Identity>>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|key| key.0).collect();
        let mut conn = db::conn(&self.pool).await?;
        let mut by_user: HashMap<IdentitiesOf, Vec<Identity>> = HashMap::new();
        for identity in store::identities_of_users(&mut conn, &ids).await? {
            by_user
                .entry(IdentitiesOf(identity.user_id))
                .or_default()
                .push(identity);
        }
        Ok(by_user)
    }
}

/// The identities linked to `user_id`, oldest first.
pub async fn identities(ctx: &Context<'_>, user_id: i64) -> async_graphql::Result<Vec<Identity>> {
    Ok(ctx
        .data_unchecked::<DataLoader<IdentityLoader>>()
        .load_one(IdentitiesOf(user_id))
        .await?
        .unwrap_or_default())
}
