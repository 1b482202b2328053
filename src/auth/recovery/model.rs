//! What mailed tokens are for and how long they live.

use chrono::Duration;

pub const RESET_LIFETIME: Duration = Duration::minutes(30);
pub const VERIFY_LIFETIME: Duration = Duration::hours(24);

/// What a mailed token may be used for; a token of one purpose never serves the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    PasswordReset,
    EmailVerify,
}

impl Purpose {
    /// The path a mailed link of this purpose opens, under `AGORA_APP_URL` or Agora's own
    /// address: the contract a front end implements.
    pub fn page(self) -> &'static str {
        match self {
            Self::PasswordReset => "reset-password",
            Self::EmailVerify => "verify-email",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "PASSWORD_RESET",
            Self::EmailVerify => "EMAIL_VERIFY",
        }
    }
}
