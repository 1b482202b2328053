//! Users' permission sets kept in memory between requests. Each set is kept with the RBAC epoch
//! it was read at (`rbac_epoch`, moved on by triggers whenever roles, permissions or grants
//! change); every request reads the current epoch with its session, so a set is used only while
//! nothing has changed since it was read, on any instance.

use std::collections::HashSet;
use std::sync::Arc;

use diesel_async::AsyncPgConnection;

use super::store;
use crate::bounded::BoundedCache;
use crate::error::AppError;

/// Sets of this many users are kept; the least recently seen make room.
const CAPACITY: usize = 10_000;

pub type PermissionSet = Arc<HashSet<String>>;

/// Per user: the epoch a set was read at, and the set.
pub struct PermissionSets(BoundedCache<i64, (i64, PermissionSet)>);

impl Default for PermissionSets {
    fn default() -> Self {
        Self(BoundedCache::new(CAPACITY))
    }
}

impl PermissionSets {
    /// The user's permissions as of `epoch`: from memory if read at that epoch, else read now
    /// (with the epoch they were read at, which may be newer still).
    pub async fn of(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
        epoch: i64,
    ) -> Result<PermissionSet, AppError> {
        if let Some((kept_epoch, set)) = self.0.get(&user_id)
            && kept_epoch == epoch
        {
            return Ok(set);
        }
        let (read_epoch, names) = store::permission_set_of_user(conn, user_id).await?;
        let set: PermissionSet = Arc::new(names.into_iter().collect());
        // Labelled with the epoch read in the same statement: a change committed after it
        // moves the epoch on, so this set is never used past a change it did not see.
        self.0.put(user_id, (read_epoch, set.clone()));
        Ok(set)
    }
}
