//! Per-user caps on what a user can create (habits, tasks, themes, API tokens), so no account
//! can grow the tables, or the requests that read all of its rows, without bound. Part of the db
//! layer so that stores may use it: a store counts and inserts under a per-user advisory lock
//! held to the end of its transaction, so creations released together cannot all see room for
//! one more.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::users;

use crate::error::{AppError, reason};

/// Lock classes, the first key of `pg_advisory_xact_lock(class, user)`: one per capped kind
/// (tasks use their board's lock, which every board write already takes).
pub const HABITS_LOCK: i32 = 0x6861_6269;
pub const THEMES_LOCK: i32 = 0x7468_656d;
pub const API_TOKENS_LOCK: i32 = 0x746f_6b6e;

/// Serializes the user's writes of one kind until the transaction ends, and refuses them
/// (`UNAUTHENTICATED`) once the account is deleted: an erasure takes these locks before it
/// deletes what they guard, so a write that waited for one finds the tombstone here instead of
/// leaving a row behind it.
pub async fn lock(conn: &mut AsyncPgConnection, class: i32, user_id: i64) -> Result<(), AppError> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashint8($2))")
        .bind::<Integer, _>(class)
        .bind::<BigInt, _>(user_id)
        .execute(conn)
        .await?;
    // A statement of its own, so that it sees what committed while the lock was awaited.
    let live: i64 = users::table
        .find(user_id)
        .filter(users::deleted_at.is_null())
        .count()
        .get_result(conn)
        .await?;
    if live == 0 {
        return Err(AppError::Unauthenticated);
    }
    Ok(())
}

/// `CONFLICT` with reason `LIMIT_REACHED` when a user who has `count` of `what` may not have one
/// more.
pub fn check(what: &'static str, count: i64, cap: u32) -> Result<(), AppError> {
    if count < i64::from(cap) {
        Ok(())
    } else {
        Err(AppError::Conflict {
            reason: reason::LIMIT_REACHED,
            field: None,
            message: format!("You have {count} {what}; the limit is {cap}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_the_most_one_may_have() {
        assert!(check("themes", 0, 100).is_ok());
        assert!(check("themes", 99, 100).is_ok());
        for full in [100, 101] {
            match check("themes", full, 100) {
                Err(AppError::Conflict { reason, .. }) => assert_eq!(reason, "LIMIT_REACHED"),
                other => panic!("{other:?}"),
            }
        }
        assert!(check("themes", 0, 0).is_err());
    }
}
