//! Users' permission sets kept in memory between requests. Each set is kept with the RBAC epoch
//! it was read at (`rbac_epoch`, moved on by triggers whenever roles, permissions or grants
//! change); every request reads the current epoch with its session, so a set is used only while
//! nothing has changed since it was read, on any instance.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use lru::LruCache;

use crate::error::AppError;

/// Sets of this many users are kept; the least recently seen make room.
const CAPACITY: usize = 10_000;

pub type PermissionSet = Arc<HashSet<String>>;

pub struct PermissionSets(Mutex<LruCache<i64, (i64, PermissionSet)>>);

impl Default for PermissionSets {
    fn default() -> Self {
        Self(Mutex::new(LruCache::new(
            NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN),
        )))
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
        if let Some(set) = self.kept(user_id, epoch) {
            return Ok(set);
        }
        let read = read_permissions(conn, user_id).await?;
        let set: PermissionSet = Arc::new(read.names.into_iter().collect());
        // Labelled with the epoch read in the same statement: a change committed after it
        // moves the epoch on, so this set is never used past a change it did not see.
        self.lock().put(user_id, (read.epoch, set.clone()));
        Ok(set)
    }

    fn kept(&self, user_id: i64, epoch: i64) -> Option<PermissionSet> {
        match self.lock().get(&user_id) {
            Some((kept_epoch, set)) if *kept_epoch == epoch => Some(set.clone()),
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<i64, (i64, PermissionSet)>> {
        // A panic while holding the lock leaves only a cache behind: keep using it.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(QueryableByName)]
struct ReadPermissions {
    #[diesel(sql_type = BigInt)]
    epoch: i64,
    #[diesel(sql_type = Array<Text>)]
    names: Vec<String>,
}

/// The user's permission names and the epoch they were read at, in one snapshot.
async fn read_permissions(
    conn: &mut AsyncPgConnection,
    user_id: i64,
) -> Result<ReadPermissions, AppError> {
    // A miss is rare (a new user, or the first request after a change), so this text may be
    // prepared on each call.
    Ok(diesel::sql_query(
        "SELECT (SELECT epoch FROM rbac_epoch) AS epoch,
                ARRAY(SELECT DISTINCT p.name
                      FROM user_roles ur
                      JOIN role_permissions rp ON rp.role_id = ur.role_id
                      JOIN permissions p ON p.id = rp.permission_id
                      WHERE ur.user_id = $1) AS names",
    )
    .bind::<BigInt, _>(user_id)
    .get_result(conn)
    .await?)
}
