//! In-process limits (one instance): keyed GCRA buckets from `governor`. A limit of N per
//! minute admits a burst of N and then one every 60/N seconds.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::Config;
use crate::error::AppError;

/// What is being limited, each with its own budget per key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guarded {
    /// Any GraphQL request, per client address.
    Request,
    /// Sign-in attempts per client address.
    LoginFromAddress,
    /// Sign-in attempts per account name as typed, whether or not such an account exists.
    LoginToAccount,
    /// Registrations per client address.
    Register,
}

pub struct LocalLimits {
    clock: DefaultClock,
    request: DefaultKeyedRateLimiter<String>,
    login_address: DefaultKeyedRateLimiter<String>,
    login_account: DefaultKeyedRateLimiter<String>,
    register: DefaultKeyedRateLimiter<String>,
}

fn per_minute(count: u32) -> DefaultKeyedRateLimiter<String> {
    DefaultKeyedRateLimiter::keyed(Quota::per_minute(
        NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN),
    ))
}

impl LocalLimits {
    pub fn new(config: &Config) -> Self {
        Self {
            clock: DefaultClock::default(),
            request: per_minute(config.rate_requests_per_minute),
            login_address: per_minute(config.rate_login_per_address),
            login_account: per_minute(config.rate_login_per_account),
            register: per_minute(config.rate_register_per_address),
        }
    }

    /// Counts one attempt, or `RATE_LIMITED` with the seconds until the next is allowed.
    pub fn check(&self, guarded: Guarded, key: &str) -> Result<(), AppError> {
        let limiter = match guarded {
            Guarded::Request => &self.request,
            Guarded::LoginFromAddress => &self.login_address,
            Guarded::LoginToAccount => &self.login_account,
            Guarded::Register => &self.register,
        };
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            AppError::RateLimited {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    /// Forgets keys whose buckets are full again, so memory follows recent traffic only.
    pub fn forget_idle(&self) {
        for limiter in [
            &self.request,
            &self.login_address,
            &self.login_account,
            &self.register,
        ] {
            limiter.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_per_key_with_a_wait_to_retry() {
        let mut config = Config::from_env().unwrap();
        config.rate_login_per_account = 5;
        let limits = LocalLimits::new(&config);
        for _ in 0..5 {
            limits.check(Guarded::LoginToAccount, "ada").unwrap();
        }
        match limits.check(Guarded::LoginToAccount, "ada") {
            Err(AppError::RateLimited { retry_after_secs }) => {
                assert!((1..=12).contains(&retry_after_secs), "{retry_after_secs}")
            }
            other => panic!("expected RATE_LIMITED, got {other:?}"),
        }
        limits.check(Guarded::LoginToAccount, "bob").unwrap();
        limits.check(Guarded::LoginFromAddress, "ada").unwrap();
    }
}
