//! Whether users have 2FA on and how many recovery codes they have left, batched per request
//! for the `User` fields that show it.

use std::collections::HashMap;

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};

use super::store;
use crate::db::{self, DbPool};

pub struct TwoFactorLoader {
    pub pool: DbPool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TwoFactorOf(pub i64);

#[derive(Clone, Copy, Debug, Default)]
pub struct TwoFactorStatus {
    pub enabled: bool,
    pub recovery_codes_left: i64,
}

impl Loader<TwoFactorOf> for TwoFactorLoader {
    type Value = TwoFactorStatus;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[TwoFactorOf],
    ) -> Result<HashMap<TwoFactorOf, TwoFactorStatus>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|key| key.0).collect();
        let mut conn = db::conn(&self.pool).await?;
        Ok(store::status(&mut conn, &ids)
            .await?
            .into_iter()
            .map(|(user_id, enabled, left)| {
                (
                    TwoFactorOf(user_id),
                    TwoFactorStatus {
                        enabled,
                        recovery_codes_left: left,
                    },
                )
            })
            .collect())
    }
}

pub async fn status(ctx: &Context<'_>, user_id: i64) -> async_graphql::Result<TwoFactorStatus> {
    Ok(ctx
        .data_unchecked::<DataLoader<TwoFactorLoader>>()
        .load_one(TwoFactorOf(user_id))
        .await?
        .unwrap_or_default())
}
