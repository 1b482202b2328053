//! Users' permission sets, and the request budgets their roles give them, kept in memory between
//! requests. Each set is kept with the RBAC epoch
//! it was read at (`rbac_epoch`, moved on by triggers whenever roles, permissions or grants
//! change); every request reads the current epoch with its session, so a set is used only while
//! nothing has changed since it was read, on any instance.

use std::collections::HashSet;
use std::sync::Arc;

use diesel_async::AsyncPgConnection;

use super::store;
use crate::bounded::BoundedCache;
use crate::budgets::model::Budget;
use crate::error::AppError;

/// Sets of this many users are kept; the least recently seen make room.
const CAPACITY: usize = 10_000;

pub type PermissionSet = Arc<HashSet<String>>;

/// What a user holds through their roles: permissions, and the budget their roles combine to.
#[derive(Clone)]
pub struct Held {
    pub permissions: PermissionSet,
    pub budget: Budget,
}

/// Per user: the epoch a set was read at, and what the user held then.
pub struct PermissionSets(BoundedCache<i64, (i64, Held)>);

impl Default for PermissionSets {
    fn default() -> Self {
        Self(BoundedCache::new(CAPACITY))
    }
}

impl PermissionSets {
    /// The user's permissions and role budget as of `epoch`: from memory if read at that
    /// epoch, else read now (with the epoch they were read at, which may be newer still).
    pub async fn of(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: i64,
        epoch: i64,
    ) -> Result<Held, AppError> {
        if let Some((kept_epoch, held)) = self.0.get(&user_id)
            && kept_epoch == epoch
        {
            return Ok(held);
        }
        let (read_epoch, names) = store::permission_set_of_user(conn, user_id).await?;
        // Read after the epoch: budgets newer than their label only cause a re-read.
        let budgets = crate::budgets::store::role_budgets_of_user(conn, user_id).await?;
        let held = Held {
            permissions: Arc::new(names.into_iter().collect()),
            budget: crate::budgets::rules::most_generous(&budgets),
        };
        // Labelled with the epoch read in the same statement: a change committed after it
        // moves the epoch on, so this set is never used past a change it did not see.
        self.0.put(user_id, (read_epoch, held.clone()));
        Ok(held)
    }
}
