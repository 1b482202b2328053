//! Error policy.
//!
//! Resolvers and store functions return [`AppError`]. It is turned into a GraphQL error in exactly
//! one place ([`From<AppError> for async_graphql::Error`]), which sets the stable
//! `extensions.code` clients switch on. Database "not found" becomes `NOT_FOUND`; a lost
//! connection or an exhausted pool becomes the retryable `SERVICE_UNAVAILABLE`; anything else is
//! logged with its detail and reaches the client only as a generic `INTERNAL_SERVER_ERROR` (the
//! HTTP layer adds the `requestId` that finds the log line). Never use a bare `?` on a diesel or
//! other foreign error inside a resolver: async-graphql would send its text to the client.

use std::borrow::Cow;

use async_graphql::ErrorExtensions;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// The `extensions.code` values this API promises; clients may match on them.
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const CONFLICT: &str = "CONFLICT";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
    pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
    pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    /// The HTTP request itself is unusable (malformed JSON, a batch, a CSRF-unsafe request).
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    /// Apollo APQ: the hash is unknown here; send the query with it (Apollo Client does).
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    /// Trusted documents are on and the request's document is not in the manifest.
    pub const PERSISTED_QUERY_NOT_IN_LIST: &str = "PERSISTED_QUERY_NOT_IN_LIST";
}

/// `extensions.reason` values that accompany `CONFLICT` (and `FORBIDDEN`, for
/// `REAUTHENTICATION_REQUIRED`).
pub mod reason {
    pub const TAKEN: &str = "TAKEN";
    /// The change would leave nobody able to manage roles.
    pub const LAST_ADMIN: &str = "LAST_ADMIN";
    /// Roles and permissions the server itself relies on cannot be removed or renamed.
    pub const SYSTEM: &str = "SYSTEM";
    /// The item is not on the market (someone else holds it).
    pub const NOT_AVAILABLE: &str = "NOT_AVAILABLE";
    /// The caller already holds the item they try to buy.
    pub const OWN_ITEM: &str = "OWN_ITEM";
    pub const INSUFFICIENT_FUNDS: &str = "INSUFFICIENT_FUNDS";
    /// Only the holder of an item may sell it.
    pub const NOT_OWNER: &str = "NOT_OWNER";
    /// The item is held by someone, so it cannot be deleted or repriced.
    pub const OWNED: &str = "OWNED";
    pub const IDEMPOTENCY_KEY_REUSED: &str = "IDEMPOTENCY_KEY_REUSED";
    /// The user has as many of these as the server allows (habits, tasks, themes, API tokens).
    pub const LIMIT_REACHED: &str = "LIMIT_REACHED";
    /// A habit's day is skipped, so it cannot be completed (take the skip back first).
    pub const SKIPPED: &str = "SKIPPED";
    /// A habit's day is done, so it cannot be skipped (take the completion back first).
    pub const COMPLETED: &str = "COMPLETED";
    /// The change would leave the account with no way to sign in.
    pub const LAST_CREDENTIAL: &str = "LAST_CREDENTIAL";
    /// The provider identity already signs in as an account.
    pub const IDENTITY_IN_USE: &str = "IDENTITY_IN_USE";
    /// `FORBIDDEN`: a sensitive change needs a proof of who the user is more recent than the
    /// session has; `reauthenticate` gives one.
    pub const REAUTHENTICATION_REQUIRED: &str = "REAUTHENTICATION_REQUIRED";
    /// `FORBIDDEN`: this server has no Stripe keys, so nothing can be bought with money.
    pub const PAYMENTS_NOT_CONFIGURED: &str = "PAYMENTS_NOT_CONFIGURED";
    /// `SERVICE_UNAVAILABLE`: a statement ran past the request's `statement_timeout` (its
    /// budget's, or the server's); whatever the request was changing was rolled back.
    pub const TIMEOUT: &str = "TIMEOUT";
}

/// Deliberately not `Display`: async-graphql converts every `Display` type into an error without
/// a code, so a `Display` impl would let a `?` bypass the conversion below.
#[derive(Debug)]
pub enum AppError {
    Unauthenticated,
    /// One message for unknown user, wrong password and disabled account alike.
    InvalidCredentials,
    /// The permissions the caller lacks, by name.
    Forbidden(Cow<'static, str>),
    /// The change needs a signed-in session: an API token, scoped for a script, may not make
    /// it even when it holds the permission (`FORBIDDEN`).
    SessionRequired,
    /// The change needs a recent proof of who the user is (`FORBIDDEN`,
    /// `REAUTHENTICATION_REQUIRED`).
    ReauthenticationRequired,
    /// A feature this server was not configured for (`FORBIDDEN`, with the reason).
    FeatureOff(&'static str),
    BadUserInput {
        field: &'static str,
        message: String,
    },
    /// What was not found, as the caller named it: `Role 42`, `User "bob"`.
    NotFound(Cow<'static, str>),
    Conflict {
        reason: &'static str,
        field: Option<&'static str>,
        message: String,
    },
    ServiceUnavailable,
    /// PostgreSQL cancelled a statement at the request's `statement_timeout`
    /// (`SERVICE_UNAVAILABLE`, `TIMEOUT`).
    TimedOut,
    /// A service Agora depends on (an OpenID provider) did not answer; the message names it.
    Upstream(Cow<'static, str>),
    /// An identity provider's answer failed a check; the message says which.
    Rejected(Cow<'static, str>),
    /// PostgreSQL aborted the transaction to resolve a conflict with a concurrent one
    /// (serialization failure, deadlock): [`crate::db::transaction`] runs it again, and only
    /// when that keeps happening does the client see it, as `SERVICE_UNAVAILABLE`.
    Contended,
    /// Too many attempts; the client may try again after this many seconds.
    RateLimited {
        retry_after_secs: u64,
    },
    Internal(anyhow::Error),
}

impl AppError {
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            field,
            message: message.into(),
        }
    }

    /// `what` (a kind of thing) named `which` does not exist, or is not the caller's to see.
    pub fn not_found(what: &'static str, which: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{what} {which}").into())
    }

    /// The caller lacks `permission`.
    pub fn forbidden(permission: &'static str) -> Self {
        Self::Forbidden(permission.into())
    }

    /// The caller lacks each of `permissions` (at least one).
    pub fn lacks(permissions: &[&str]) -> Self {
        Self::Forbidden(permissions.join(", ").into())
    }

    /// The change would leave the account with no way to sign in.
    pub fn last_credential() -> Self {
        Self::Conflict {
            reason: reason::LAST_CREDENTIAL,
            field: None,
            message: "This is the account's only way to sign in: set a password, link a provider or add a passkey first".to_owned(),
        }
    }

    pub fn taken(field: &'static str) -> Self {
        Self::Conflict {
            reason: reason::TAKEN,
            field: Some(field),
            message: format!("That {field} is already taken"),
        }
    }

    /// What the client is told; internal detail never appears here.
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated => "Authentication required".to_owned(),
            Self::InvalidCredentials => "Invalid credentials".to_owned(),
            Self::Forbidden(missing) if missing.contains(", ") => {
                format!("Missing permissions {missing}")
            }
            Self::Forbidden(missing) => format!("Missing permission {missing}"),
            Self::SessionRequired => {
                "This needs a signed-in session; an API token cannot do it".to_owned()
            }
            Self::FeatureOff(_) => "This server is not configured for it".to_owned(),
            Self::ReauthenticationRequired => {
                "Please confirm it is you before this change: prove it again with your password, a passkey or your provider, then try once more".to_owned()
            }
            Self::BadUserInput { message, .. } | Self::Conflict { message, .. } => message.clone(),
            Self::NotFound(what) => format!("{what} not found"),
            Self::Upstream(message) | Self::Rejected(message) => message.to_string(),
            Self::ServiceUnavailable | Self::Contended => {
                "The service is temporarily unavailable; retry shortly".to_owned()
            }
            Self::TimedOut => {
                "The request took longer than its time allows and was undone; retry, or ask for less".to_owned()
            }
            Self::RateLimited { retry_after_secs } => {
                format!("Too many attempts; try again in {retry_after_secs} s")
            }
            Self::Internal(_) => "Internal server error".to_owned(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated | Self::InvalidCredentials | Self::Rejected(_) => {
                code::UNAUTHENTICATED
            }
            Self::Forbidden(_)
            | Self::SessionRequired
            | Self::ReauthenticationRequired
            | Self::FeatureOff(_) => code::FORBIDDEN,
            Self::BadUserInput { .. } => code::BAD_USER_INPUT,
            Self::NotFound(_) => code::NOT_FOUND,
            Self::Conflict { .. } => code::CONFLICT,
            Self::ServiceUnavailable | Self::Contended | Self::TimedOut | Self::Upstream(_) => {
                code::SERVICE_UNAVAILABLE
            }
            Self::RateLimited { .. } => code::RATE_LIMITED,
            Self::Internal(_) => code::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<DieselError> for AppError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => Self::NotFound("Resource".into()),
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            )
            | DieselError::BrokenTransactionManager => Self::ServiceUnavailable,
            DieselError::DatabaseError(_, info) if is_server_going_away(info.message()) => {
                Self::ServiceUnavailable
            }
            DieselError::DatabaseError(_, info) if info.message() == STATEMENT_TIMEOUT => {
                Self::TimedOut
            }
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                Self::Contended
            }
            DieselError::DatabaseError(_, info) if info.message() == "deadlock detected" => {
                Self::Contended
            }
            other => Self::Internal(other.into()),
        }
    }
}

/// PostgreSQL's message for SQLSTATE 57014 (query_canceled) raised by `statement_timeout`
/// (diesel-async keeps no SQLSTATE it does not name; the same code for a cancel request or
/// `lock_timeout` carries another message, and neither is sent by Agora).
const STATEMENT_TIMEOUT: &str = "canceling statement due to statement timeout";

// diesel names SQLSTATE 40001 (SerializationFailure) but not 40P01, and diesel-async keeps no
// SQLSTATE for what it does not name: a deadlock is known by PostgreSQL's message for it.

/// Postgres ends sessions with these (SQLSTATE 57P01-57P03) when it shuts down, crashes or is
/// still starting; diesel exposes no SQLSTATE for them, only the message.
fn is_server_going_away(message: &str) -> bool {
    message.starts_with("terminating connection") || message.starts_with("the database system is")
}

impl From<AppError> for async_graphql::Error {
    fn from(error: AppError) -> Self {
        if let AppError::Internal(detail) = &error {
            tracing::error!(error = ?detail, "internal error");
        }
        let message = error.message();
        let code = error.code();
        async_graphql::Error::new(message).extend_with(|_, extensions| {
            extensions.set("code", code);
            match &error {
                AppError::BadUserInput { field, .. } => extensions.set("field", *field),
                AppError::Conflict { reason, field, .. } => {
                    extensions.set("reason", *reason);
                    if let Some(field) = field {
                        extensions.set("field", *field);
                    }
                }
                AppError::ReauthenticationRequired => {
                    extensions.set("reason", reason::REAUTHENTICATION_REQUIRED);
                }
                AppError::FeatureOff(why) => extensions.set("reason", *why),
                AppError::TimedOut => extensions.set("reason", reason::TIMEOUT),
                AppError::RateLimited { retry_after_secs } => {
                    extensions.set("retryAfter", *retry_after_secs);
                }
                _ => {}
            }
        })
    }
}

/// The constraint a unique violation names, so a store can turn it into a field error.
pub fn violated_unique_constraint(error: &DieselError) -> Option<&str> {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            info.constraint_name()
        }
        _ => None,
    }
}
