//! Batch loaders for roles and permissions shown on lists, so a page of users or roles costs one
//! query per relation, whatever its size. Built per request (their cache must not outlive the
//! permissions the request was checked with).

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use super::model::{Permission, Role};
use super::store;
use crate::db::{self, DbPool};

pub struct RbacLoader {
    pub pool: DbPool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RolesOfUser(pub i64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PermissionsOfUser(pub i64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PermissionsOfRole(pub i64);

fn group<K: Eq + std::hash::Hash, V>(
    keys: impl IntoIterator<Item = K>,
    rows: Vec<(K, V)>,
) -> HashMap<K, Vec<V>> {
    let mut grouped: HashMap<K, Vec<V>> = keys.into_iter().map(|key| (key, Vec::new())).collect();
    for (key, value) in rows {
        grouped.entry(key).or_default().push(value);
    }
    grouped
}

impl Loader<RolesOfUser> for RbacLoader {
    type Value = Vec<Role>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[RolesOfUser],
    ) -> Result<HashMap<RolesOfUser, Vec<Role>>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|key| key.0).collect();
        let mut conn = db::conn(&self.pool).await?;
        let rows = store::roles_of_users(&mut conn, &ids).await?;
        Ok(group(
            keys.iter().copied(),
            rows.into_iter()
                .map(|(id, role)| (RolesOfUser(id), role))
                .collect(),
        ))
    }
}

impl Loader<PermissionsOfUser> for RbacLoader {
    type Value = Vec<String>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[PermissionsOfUser],
    ) -> Result<HashMap<PermissionsOfUser, Vec<String>>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|key| key.0).collect();
        let mut conn = db::conn(&self.pool).await?;
        let rows = store::permission_names_of_users(&mut conn, &ids).await?;
        Ok(group(
            keys.iter().copied(),
            rows.into_iter()
                .map(|(id, name)| (PermissionsOfUser(id), name))
                .collect(),
        ))
    }
}

impl Loader<PermissionsOfRole> for RbacLoader {
    type Value = Vec<Permission>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[PermissionsOfRole],
    ) -> Result<HashMap<PermissionsOfRole, Vec<Permission>>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|key| key.0).collect();
        let mut conn = db::conn(&self.pool).await?;
        let rows = store::permissions_of_roles(&mut conn, &ids).await?;
        Ok(group(
            keys.iter().copied(),
            rows.into_iter()
                .map(|(id, permission)| (PermissionsOfRole(id), permission))
                .collect(),
        ))
    }
}
