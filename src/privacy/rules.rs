//! What a deleted account's row is left with, and how much an export lists.

/// Rows an export lists at most in each section no per-user cap bounds (sessions, API tokens,
/// items held, ledger, audit log), and completions per habit: the newest ones, with the total.
pub const EXPORT_ROWS: i64 = 1000;

/// The username a tombstone keeps: unique by its id, and with a `:`, which no username a person
/// chooses may contain, so it never stands in the way of a registration.
pub fn tombstone_username(user_id: i64) -> String {
    format!("deleted:{user_id}")
}

/// The address a tombstone keeps: unique by its id, at a bare host (`invalid`, reserved by
/// RFC 2606) that no account's address may have, so nothing is ever mailed to it and nobody can
/// register it.
pub fn tombstone_email(user_id: i64) -> String {
    format!("deleted-{user_id}@invalid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::rules::{email, username};

    #[test]
    fn placeholders_are_unique_and_nobody_can_register_them() {
        assert_eq!(tombstone_username(42), "deleted:42");
        assert_eq!(tombstone_email(42), "deleted-42@invalid");
        assert!(username(&tombstone_username(42)).is_err());
        assert!(email(&tombstone_email(42)).is_err());
        // The database's limits hold for the largest id.
        assert!(tombstone_username(i64::MAX).len() <= 30);
        assert_eq!(
            tombstone_email(i64::MAX),
            tombstone_email(i64::MAX).to_lowercase()
        );
    }
}
