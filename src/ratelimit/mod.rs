//! Rate limits. Every request passes [`Limits`]: per client address and per account name,
//! counted in Redis when `REDIS_URL` is set (shared by all instances) and in process otherwise
//! or while Redis is unreachable. [`hit`] counts in Postgres instead, for the few auth paths
//! whose limits must also survive restarts (password reset, verification mail); each such check
//! takes a transaction-scoped advisory lock on its key, so concurrent attempts cannot both slip
//! under.

mod counted;
pub mod local;
pub mod shared;
pub mod store;

use std::sync::Mutex;
use std::time::{Duration as StdDuration, Instant};

use crate::config::Config;
use crate::error::AppError;

pub use counted::{Attempt, Limit, hashed_key, hit, refund};

/// What is being limited, each with its own budget per key and minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guarded {
    /// Any GraphQL request, per client address.
    Request,
    /// Sign-in attempts per client address.
    LoginFromAddress,
    /// Password checks per account (sign-in and re-authentication alike), or per name as typed
    /// (folded) when no account has it: see [`crate::auth::rules::sign_in_key`].
    LoginToAccount,
    /// Registrations per client address.
    Register,
}

impl Guarded {
    pub const ALL: [Guarded; 4] = [
        Guarded::Request,
        Guarded::LoginFromAddress,
        Guarded::LoginToAccount,
        Guarded::Register,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Guarded::Request => "request",
            Guarded::LoginFromAddress => "login_address",
            Guarded::LoginToAccount => "login_account",
            Guarded::Register => "register",
        }
    }

    /// Guessing one account's password is the attack a growing wait defeats; the other budgets
    /// only smooth load, so a plain window is enough.
    pub fn backs_off(self) -> bool {
        self == Guarded::LoginToAccount
    }
}

/// Attempts per minute for each guard, from configuration.
#[derive(Clone, Copy, Debug)]
pub struct Budgets {
    pub requests: u32,
    pub login_from_address: u32,
    pub login_to_account: u32,
    pub register: u32,
    pub login_backoff_max: StdDuration,
}

impl Budgets {
    pub fn from_config(config: &Config) -> Self {
        Self {
            requests: config.rate_requests_per_minute,
            login_from_address: config.rate_login_per_address,
            login_to_account: config.rate_login_per_account,
            register: config.rate_register_per_address,
            login_backoff_max: StdDuration::from_secs(config.rate_login_backoff_max_secs),
        }
    }

    pub fn per_minute(&self, guarded: Guarded) -> u32 {
        match guarded {
            Guarded::Request => self.requests,
            Guarded::LoginFromAddress => self.login_from_address,
            Guarded::LoginToAccount => self.login_to_account,
            Guarded::Register => self.register,
        }
        .max(1)
    }
}

/// The name of request budgets' per-minute limit, in metrics and Redis keys.
pub const PER_PRINCIPAL: &str = "principal";

/// How long an offence is remembered when the next one decides its wait.
pub const OFFENCE_MEMORY: StdDuration = StdDuration::from_secs(24 * 3600);

/// The wait after a key used up its budget for the `offences`-th time within memory: one
/// minute, doubling with each offence, never more than `cap`.
pub fn backoff_wait(offences: u32, cap: StdDuration) -> StdDuration {
    let doublings = offences.saturating_sub(1).min(20);
    (StdDuration::from_secs(60) * 2u32.pow(doublings)).min(cap)
}

/// A refused attempt and when to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub retry_after_secs: u64,
}

impl Refusal {
    fn wait(wait: StdDuration) -> Self {
        Self {
            retry_after_secs: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
        }
    }
}

impl From<Refusal> for AppError {
    fn from(refusal: Refusal) -> Self {
        AppError::RateLimited {
            retry_after_secs: refusal.retry_after_secs,
        }
    }
}

/// Where limits are counted right now, for `/readyz` and the logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Local,
    Redis,
    /// Redis is configured but did not answer: counting in process until it does.
    Degraded,
}

/// After Redis fails, requests count in process for this long before Redis is asked again, so an
/// unreachable Redis costs one timeout per interval rather than one per request.
const REDIS_RETRY_INTERVAL: StdDuration = StdDuration::from_secs(1);

pub struct Limits {
    local: local::LocalLimits,
    shared: Option<shared::SharedLimits>,
    /// When Redis last failed, while it has not answered since.
    redis_failed_at: Mutex<Option<Instant>>,
}

impl Limits {
    pub fn new(config: &Config, redis: Option<crate::shared::Redis>) -> Self {
        let budgets = Budgets::from_config(config);
        Self {
            local: local::LocalLimits::new(budgets),
            shared: redis.map(|redis| shared::SharedLimits::new(redis, budgets)),
            redis_failed_at: Mutex::new(None),
        }
    }

    /// Counts one attempt, or `RATE_LIMITED` with the seconds until the next is allowed. If
    /// Redis fails, the in-process buckets decide: the limit still holds, per instance.
    pub async fn check(&self, guarded: Guarded, key: &str) -> Result<(), AppError> {
        self.decide(
            guarded.name(),
            || self.local.check(guarded, key),
            |shared| shared.check(guarded, key),
        )
        .await
    }

    /// Counts one request of a principal (`user:<id>`, `token:<id>`) under its budget's
    /// `per_minute`, shared and failing over as [`Limits::check`] does.
    pub async fn check_principal(&self, key: &str, per_minute: u32) -> Result<(), AppError> {
        self.decide(
            PER_PRINCIPAL,
            || self.local.check_per_minute(key, per_minute),
            |shared| shared.check_per_minute(key, per_minute),
        )
        .await
    }

    async fn decide<'a, F>(
        &'a self,
        limit: &'static str,
        local: impl Fn() -> Result<(), Refusal>,
        shared: impl FnOnce(&'a shared::SharedLimits) -> F,
    ) -> Result<(), AppError>
    where
        F: Future<Output = redis::RedisResult<Result<(), Refusal>>>,
    {
        let decision = match self.shared.as_ref().filter(|_| self.redis_due()) {
            None => local(),
            Some(limits) => match shared(limits).await {
                Ok(decision) => {
                    self.redis_answered();
                    decision
                }
                Err(error) => {
                    self.redis_failed(&error);
                    local()
                }
            },
        };
        decision.map_err(|refusal| {
            metrics::counter!("agora_rate_limit_refusals_total", "limit" => limit).increment(1);
            refusal.into()
        })
    }

    /// Lifts a key's back-off after it proved itself (a correct password for that account).
    pub async fn forgive(&self, guarded: Guarded, key: &str) {
        self.local.forgive(guarded, key);
        if let Some(shared) = self.shared.as_ref().filter(|_| self.redis_due()) {
            match shared.forgive(guarded, key).await {
                Ok(()) => self.redis_answered(),
                Err(error) => self.redis_failed(&error),
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match (&self.shared, self.failed_at().is_some()) {
            (None, _) => Backend::Local,
            (Some(_), false) => Backend::Redis,
            (Some(_), true) => Backend::Degraded,
        }
    }

    pub fn forget_idle(&self) {
        self.local.forget_idle();
    }

    fn failed_at(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.redis_failed_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn redis_due(&self) -> bool {
        self.failed_at()
            .is_none_or(|failed| failed.elapsed() >= REDIS_RETRY_INTERVAL)
    }

    fn redis_answered(&self) {
        if self.failed_at().take().is_some() {
            tracing::info!("Redis answers again: rate limits are shared again");
        }
    }

    fn redis_failed(&self, error: &redis::RedisError) {
        if self.failed_at().replace(Instant::now()).is_none() {
            tracing::warn!(%error, "Redis is unreachable: counting rate limits in process");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_offence_up_to_the_cap() {
        let cap = StdDuration::from_secs(3600);
        let waits: Vec<u64> = (1..=8).map(|n| backoff_wait(n, cap).as_secs()).collect();
        assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff_wait(u32::MAX, cap), cap);
    }

    #[test]
    fn refusals_round_waits_up_to_whole_seconds() {
        assert_eq!(
            Refusal::wait(StdDuration::from_millis(1)).retry_after_secs,
            1
        );
        assert_eq!(
            Refusal::wait(StdDuration::from_millis(60_001)).retry_after_secs,
            61
        );
        assert_eq!(Refusal::wait(StdDuration::ZERO).retry_after_secs, 1);
    }
}
