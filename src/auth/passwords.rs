//! Argon2id hashing on tokio's blocking pool, behind a semaphore so a burst of logins cannot
//! occupy every blocking thread or more memory than `permits × m_cost`.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::error::AppError;

#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
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
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|error| AppError::Internal(error.into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| AppError::Internal(error.into()))
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
}
