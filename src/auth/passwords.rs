//! Argon2id hashing on tokio's blocking pool, behind a semaphore so a burst of logins cannot
//! occupy every blocking thread or more memory than `permits × m_cost`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::error::AppError;

#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    running: Arc<RunningHashes>,
    /// Verified against when the account does not exist, so an unknown login costs one hash too.
    decoy_hash: Arc<str>,
}

impl Passwords {
    pub fn new(m_cost_kib: u32, t_cost: u32) -> anyhow::Result<Self> {
        let params = Params::new(m_cost_kib, t_cost, 1, None)
            .map_err(|error| anyhow::anyhow!("invalid argon2 parameters: {error}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let decoy_hash = argon2
            .hash_password(b"decoy password that no account has")
            .map_err(|error| anyhow::anyhow!("argon2 failed: {error}"))?
            .to_string();
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(Self {
            argon2,
            permits: Arc::new(Semaphore::new(cores)),
            running: Arc::default(),
            decoy_hash: decoy_hash.into(),
        })
    }

    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let argon2 = self.argon2.clone();
        self.run_blocking(move || {
            argon2
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|error| AppError::Internal(anyhow::anyhow!("argon2 failed: {error}")))
        })
        .await?
    }

    /// Checks `password` against `stored` (a PHC string), or against the decoy when the account
    /// is unknown, which always answers false after the same work.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, AppError> {
        let argon2 = self.argon2.clone();
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.decoy_hash.to_string());
        let matches = self
            .run_blocking(move || {
                argon2
                    .verify_password(password.as_bytes(), hash.as_str())
                    .is_ok()
            })
            .await?;
        Ok(known && matches)
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        // The permit moves into the blocking task: a caller that gives up (client gone) must not
        // free a slot while its hash still runs.
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|error| AppError::Internal(error.into()))?;
        let running = Arc::clone(&self.running);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _counted = running.start();
            work()
        })
        .await
        .map_err(|error| AppError::Internal(error.into()))
    }
}

/// Hashes running now and the most that ever ran at once, also exported as gauges.
#[derive(Default)]
struct RunningHashes {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl RunningHashes {
    fn start(&self) -> RunningGuard<'_> {
        let now = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        let most = self.most.fetch_max(now, Ordering::Relaxed).max(now);
        metrics::gauge!("agora_password_hashes_running").set(now as f64);
        metrics::gauge!("agora_password_hashes_running_max").set(most as f64);
        // Every argon2 run is CPU an anonymous caller may have spent: this shows who can.
        metrics::counter!("agora_password_hashes_total").increment(1);
        RunningGuard(self)
    }
}

struct RunningGuard<'a>(&'a RunningHashes);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        let now = self.0.now.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!("agora_password_hashes_running").set(now as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let passwords = Passwords::new(64, 1).unwrap();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(
            passwords
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("wrong horse".into(), Some(hash))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("decoy password that no account has".into(), None)
                .await
                .unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_hashes_run_at_once_than_there_are_cores_even_when_callers_give_up() {
        let passwords = Passwords::new(8 * 1024, 2).unwrap();
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let burst: Vec<_> = (0..4 * cores + 4)
            .map(|n| {
                let passwords = passwords.clone();
                tokio::spawn(async move { passwords.hash(format!("password {n}")).await })
            })
            .collect();
        // Half the callers give up mid-hash; their hashes still hold their slots until done.
        for (n, task) in burst.into_iter().enumerate() {
            if n % 2 == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                task.abort();
            } else {
                task.await.unwrap().unwrap();
            }
        }
        while passwords.running.now.load(Ordering::Relaxed) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(
            passwords.running.most.load(Ordering::Relaxed),
            cores,
            "every slot was used, and never more"
        );
    }
}
