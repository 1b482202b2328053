//! Limits counted in Redis, shared by every instance: one Lua script per attempt, so counting,
//! refusing and escalating a back-off are one atomic step however many instances race.

use std::time::Duration;

use redis::Script;

use super::{Budgets, Guarded, OFFENCE_MEMORY, Refusal, hashed_key};
use crate::shared::Redis;

/// A fixed window of `max` attempts; guards that back off turn an exhausted window into a block
/// of window * 2^(offences - 1) (capped), mirroring `backoff_wait`. Returns the milliseconds to
/// wait, or 0 when the attempt is allowed.
const CHECK: &str = r"
local blocked = redis.call('PTTL', KEYS[3])
if blocked > 0 then return blocked end
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if count <= tonumber(ARGV[1]) then return 0 end
if ARGV[3] ~= '1' then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl <= 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
  end
  return ttl
end
local offences = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local wait = math.floor(math.min(tonumber(ARGV[2]) * 2 ^ (offences - 1), tonumber(ARGV[5])))
redis.call('SET', KEYS[3], '1', 'PX', wait)
redis.call('DEL', KEYS[1])
return wait
";

const WINDOW: Duration = Duration::from_secs(60);

pub struct SharedLimits {
    redis: Redis,
    budgets: Budgets,
    script: Script,
}

struct Keys {
    count: String,
    offences: String,
    block: String,
}

impl SharedLimits {
    pub fn new(redis: Redis, budgets: Budgets) -> Self {
        Self {
            redis,
            budgets,
            script: Script::new(CHECK),
        }
    }

    /// Keys hold a hash of what they limit, so Redis never stores an address or account name.
    fn keys(&self, limit: &str, key: &str) -> Keys {
        let base = self.redis.key(&format!("rl:{limit}:{}", hashed_key(key)));
        Keys {
            count: format!("{base}:count"),
            offences: format!("{base}:offences"),
            block: format!("{base}:block"),
        }
    }

    /// `Ok(Err(refusal))` is a decision; `Err` means Redis could not be asked.
    pub async fn check(
        &self,
        guarded: Guarded,
        key: &str,
    ) -> redis::RedisResult<Result<(), Refusal>> {
        self.count(
            guarded.name(),
            key,
            self.budgets.per_minute(guarded),
            guarded.backs_off(),
        )
        .await
    }

    /// Counts one attempt of `key`, whose own limit is `per_minute` (request budgets).
    pub async fn check_per_minute(
        &self,
        key: &str,
        per_minute: u32,
    ) -> redis::RedisResult<Result<(), Refusal>> {
        self.count(super::PER_PRINCIPAL, key, per_minute.max(1), false)
            .await
    }

    async fn count(
        &self,
        limit: &str,
        key: &str,
        per_minute: u32,
        backs_off: bool,
    ) -> redis::RedisResult<Result<(), Refusal>> {
        let keys = self.keys(limit, key);
        let wait_ms: u64 = self
            .script
            .key(&keys.count)
            .key(&keys.offences)
            .key(&keys.block)
            .arg(per_minute)
            .arg(WINDOW.as_millis() as u64)
            .arg(if backs_off { "1" } else { "0" })
            .arg(OFFENCE_MEMORY.as_millis() as u64)
            .arg(self.budgets.login_backoff_max.as_millis() as u64)
            .invoke_async(&mut self.redis.connection())
            .await?;
        Ok(match wait_ms {
            0 => Ok(()),
            wait_ms => Err(Refusal::wait(Duration::from_millis(wait_ms))),
        })
    }

    pub async fn forgive(&self, guarded: Guarded, key: &str) -> redis::RedisResult<()> {
        let keys = self.keys(guarded.name(), key);
        redis::cmd("DEL")
            .arg(&keys.offences)
            .arg(&keys.block)
            .query_async(&mut self.redis.connection())
            .await
    }
}
