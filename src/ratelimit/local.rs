//! In-process limits (one instance): keyed GCRA buckets from `governor`. A limit of N per
//! minute admits a burst of N and then one every 60/N seconds. Guards that back off also keep,
//! per key, how often the budget ran out recently and until when the key is shut out.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Instant;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::{Budgets, Guarded, OFFENCE_MEMORY, Refusal, backoff_wait};

/// A minute's worth of cells for limits that differ per key (request budgets): a request under
/// a limit of N per minute takes `PER_KEY_CELLS / N` of them, so one limiter gives each key a
/// burst of N and then one every 60/N seconds, whatever its N.
pub const PER_KEY_CELLS: u32 = 60_000;

struct Penalty {
    offences: u32,
    blocked_until: Instant,
    last_offence: Instant,
}

pub struct LocalLimits {
    clock: DefaultClock,
    budgets: Budgets,
    buckets: [DefaultKeyedRateLimiter<String>; Guarded::ALL.len()],
    /// Requests of principals with a budget of their own (see [`PER_KEY_CELLS`]).
    per_key: DefaultKeyedRateLimiter<String>,
    penalties: Mutex<HashMap<String, Penalty>>,
}

impl LocalLimits {
    pub fn new(budgets: Budgets) -> Self {
        let bucket = |guarded: Guarded| {
            DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(budgets.per_minute(guarded)).unwrap_or(NonZeroU32::MIN),
            ))
        };
        Self {
            clock: DefaultClock::default(),
            buckets: Guarded::ALL.map(bucket),
            per_key: DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(PER_KEY_CELLS).unwrap_or(NonZeroU32::MIN),
            )),
            budgets,
            penalties: Mutex::default(),
        }
    }

    /// Counts one attempt, or says how long until the next is allowed.
    pub fn check(&self, guarded: Guarded, key: &str) -> Result<(), Refusal> {
        let now = Instant::now();
        // Only guards that back off keep penalties; the per-request guard allocates nothing here.
        let penalty_key = guarded
            .backs_off()
            .then(|| format!("{}:{key}", guarded.name()));
        if let Some(penalty_key) = &penalty_key {
            let penalties = self
                .penalties
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(penalty) = penalties.get(penalty_key)
                && penalty.blocked_until > now
            {
                return Err(Refusal::wait(penalty.blocked_until - now));
            }
        }
        let Err(not_until) = self.buckets[guarded as usize].check_key(&key.to_owned()) else {
            return Ok(());
        };
        let Some(penalty_key) = penalty_key else {
            return Err(Refusal::wait(not_until.wait_time_from(self.clock.now())));
        };
        let mut penalties = self
            .penalties
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let penalty = penalties.entry(penalty_key).or_insert(Penalty {
            offences: 0,
            blocked_until: now,
            last_offence: now,
        });
        if now.duration_since(penalty.last_offence) > OFFENCE_MEMORY {
            penalty.offences = 0;
        }
        penalty.offences += 1;
        penalty.last_offence = now;
        let wait = backoff_wait(penalty.offences, self.budgets.login_backoff_max);
        penalty.blocked_until = now + wait;
        Err(Refusal::wait(wait))
    }

    /// Counts one attempt of `key`, whose own limit is `per_minute` (at most
    /// [`PER_KEY_CELLS`]), or says how long until the next is allowed.
    pub fn check_per_minute(&self, key: &str, per_minute: u32) -> Result<(), Refusal> {
        let cost = NonZeroU32::new(PER_KEY_CELLS / per_minute.clamp(1, PER_KEY_CELLS))
            .unwrap_or(NonZeroU32::MIN);
        match self.per_key.check_key_n(&key.to_owned(), cost) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Refusal::wait(not_until.wait_time_from(self.clock.now()))),
            // A cost above the whole minute's cells: per_minute is clamped, so never.
            Err(_) => Err(Refusal::wait(std::time::Duration::from_secs(60))),
        }
    }

    /// Clears a key's back-off (after it proved itself, e.g. a correct password).
    pub fn forgive(&self, guarded: Guarded, key: &str) {
        self.penalties
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&format!("{}:{key}", guarded.name()));
    }

    /// Forgets keys whose buckets are full again and offences past memory, so memory follows
    /// recent traffic only.
    pub fn forget_idle(&self) {
        for bucket in &self.buckets {
            bucket.retain_recent();
        }
        self.per_key.retain_recent();
        let now = Instant::now();
        self.penalties
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|_, penalty| now.duration_since(penalty.last_offence) <= OFFENCE_MEMORY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budgets() -> Budgets {
        Budgets {
            requests: 100,
            login_from_address: 100,
            login_to_account: 5,
            register: 100,
            login_backoff_max: Duration::from_secs(3600),
        }
    }

    #[test]
    fn a_budget_per_key_with_a_wait_to_retry() {
        let limits = LocalLimits::new(budgets());
        for _ in 0..5 {
            limits.check(Guarded::LoginFromAddress, "ada").unwrap();
            limits.check(Guarded::LoginToAccount, "ada").unwrap();
        }
        let refusal = limits.check(Guarded::LoginToAccount, "ada").unwrap_err();
        assert_eq!(refusal.retry_after_secs, 60, "first exhaustion: one window");
        limits.check(Guarded::LoginToAccount, "bob").unwrap();
        limits.check(Guarded::LoginFromAddress, "ada").unwrap();
    }

    #[test]
    fn limits_per_key_admit_their_own_number_per_minute() {
        let limits = LocalLimits::new(budgets());
        for _ in 0..3 {
            limits.check_per_minute("user:1", 3).unwrap();
        }
        let refusal = limits.check_per_minute("user:1", 3).unwrap_err();
        assert!((19..=20).contains(&refusal.retry_after_secs), "{refusal:?}");
        for _ in 0..7 {
            limits.check_per_minute("user:2", 7).unwrap();
        }
        limits.check_per_minute("user:2", 7).unwrap_err();
        limits.check_per_minute("token:1", 60_000).unwrap();
    }

    #[test]
    fn a_shut_out_key_is_refused_without_counting_and_forgiveness_lifts_it() {
        let limits = LocalLimits::new(budgets());
        for _ in 0..5 {
            limits.check(Guarded::LoginToAccount, "ada").unwrap();
        }
        limits.check(Guarded::LoginToAccount, "ada").unwrap_err();
        let again = limits.check(Guarded::LoginToAccount, "ada").unwrap_err();
        assert!((59..=60).contains(&again.retry_after_secs), "{again:?}");
        limits.forgive(Guarded::LoginToAccount, "ada");
        // Forgiven, the key starts over at the first offence (its bucket is still empty).
        let second = limits.check(Guarded::LoginToAccount, "ada").unwrap_err();
        assert_eq!(second.retry_after_secs, 60);
    }
}
