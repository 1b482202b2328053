//! The second factor: TOTP codes (RFC 6238) with a replay guard, single-use recovery codes, and
//! the sign-in challenge a password login with 2FA on hands out instead of a session.

pub mod graphql;
pub mod rules;
pub mod store;
