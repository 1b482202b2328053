//! Access tokens (HS256 JWTs naming a session) and opaque refresh tokens.
//!
//! Refresh tokens are 256 random bits, stored only as SHA-256 digests. A rotated token's successor
//! is derived from it with an HMAC under the server key, so a client that presents the old token
//! again within the grace window can be handed the very same successor without the server ever
//! storing a usable token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bounded::BoundedCache;
use crate::error::AppError;

/// Clock skew tolerated between instances when checking `exp` (DESIGN.md: at most 5 s).
const LEEWAY_SECS: u64 = 5;
const ACCESS_TYPE: &str = "access";
/// Access tokens kept once verified: about as many as clients send requests in a token's life.
const VERIFIED_CAPACITY: usize = 10_000;

#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    sub: String,
    sid: String,
    iat: i64,
    exp: i64,
    typ: String,
}

/// Who an access token speaks for; still to be checked against the session row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessSubject {
    pub user_id: i64,
    pub session_id: i64,
}

pub struct IssuedAccess {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Keyed once; each successor starts from a copy.
    refresh_mac: Hmac<Sha256>,
    access_ttl_secs: i64,
    /// Tokens whose signature verified, with their subject and `exp`. A client sends one token
    /// with every request for its whole life, and verifying it again (HMAC-SHA256, with the key
    /// set up anew by `jsonwebtoken` on each call) was 15 % of the server's work for `me`. Only
    /// a verified token's own text is a key, and `exp` is checked again on every use; the
    /// session behind the token is still checked in the database on every request.
    verified: BoundedCache<Box<str>, (AccessSubject, i64)>,
}

impl TokenKeys {
    /// Keys for each purpose are derived from the one server secret, so a leak of one derived key
    /// does not give the other.
    pub fn new(secret: &[u8], access_ttl_secs: u64) -> anyhow::Result<Self> {
        let jwt_key = derive_key(secret, b"agora access-token signing")?;
        let refresh_key = derive_key(secret, b"agora refresh-token rotation")?;
        let mut validation = Validation::new(Algorithm::HS256);
        // `exp` is checked against the app's clock (below), not the system's.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(&jwt_key),
            decoding: DecodingKey::from_secret(&jwt_key),
            validation,
            refresh_mac: keyed_mac(&refresh_key)?,
            access_ttl_secs: i64::try_from(access_ttl_secs).unwrap_or(i64::MAX / 2),
            verified: BoundedCache::new(VERIFIED_CAPACITY),
        })
    }

    pub fn issue_access(
        &self,
        subject: AccessSubject,
        now: DateTime<Utc>,
    ) -> anyhow::Result<IssuedAccess> {
        let exp = now.timestamp() + self.access_ttl_secs;
        let claims = AccessClaims {
            sub: subject.user_id.to_string(),
            sid: subject.session_id.to_string(),
            iat: now.timestamp(),
            exp,
            typ: ACCESS_TYPE.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        let expires_at = Utc
            .timestamp_opt(exp, 0)
            .single()
            .ok_or_else(|| anyhow::anyhow!("access token expiry out of range"))?;
        Ok(IssuedAccess { token, expires_at })
    }

    /// The subject of a well-formed, correctly signed access token unexpired at `now`; `None`
    /// otherwise (including `alg: none` and tokens signed with another algorithm).
    pub fn verify_access(&self, token: &str, now: DateTime<Utc>) -> Option<AccessSubject> {
        let (subject, exp) = match self.verified.get(token) {
            Some(known) => known,
            None => {
                let data =
                    jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
                        .ok()?;
                let claims = data.claims;
                if claims.typ != ACCESS_TYPE {
                    return None;
                }
                let subject = AccessSubject {
                    user_id: claims.sub.parse().ok()?,
                    session_id: claims.sid.parse().ok()?,
                };
                self.verified.put(token.into(), (subject, claims.exp));
                (subject, claims.exp)
            }
        };
        // jsonwebtoken's own rule: expired once `exp` is more than the leeway behind.
        (exp >= now.timestamp() - LEEWAY_SECS as i64).then_some(subject)
    }

    pub fn successor_refresh_token(&self, presented: &str) -> String {
        let mut mac = self.refresh_mac.clone();
        mac.update(presented.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// What every API token starts with, so scanners and people recognise a leaked one.
pub const API_TOKEN_PREFIX: &str = "agora_pat_";

pub fn new_refresh_token() -> String {
    random_secret()
}

pub fn new_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", random_secret())
}

/// 256 random bits, URL-safe.
pub(crate) fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub(crate) fn derive_key(secret: &[u8], purpose: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut mac = keyed_mac(secret)?;
    mac.update(purpose);
    Ok(mac.finalize().into_bytes().to_vec())
}

const NONCE_BYTES: usize = 24;

/// Secrets the server must read back (TOTP seeds, webhook signing keys), sealed at rest with
/// XChaCha20-Poly1305 under a key derived from `AGORA_SECRET` for one purpose: a stolen table
/// alone gives none of them away.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    pub fn new(secret: &[u8], purpose: &[u8]) -> anyhow::Result<Self> {
        let key = derive_key(secret, purpose)?;
        Ok(Self {
            cipher: XChaCha20Poly1305::new_from_slice(&key)
                .map_err(|error| anyhow::anyhow!("sealing key: {error}"))?,
        })
    }

    /// A random nonce followed by the ciphertext.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, AppError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plain)
            .map_err(|error| AppError::Internal(anyhow::anyhow!("sealing a secret: {error}")))?;
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        Ok(sealed)
    }

    /// `None` when the data was not sealed with this key (e.g. `AGORA_SECRET` changed).
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        self.cipher.decrypt(&XNonce::from(nonce), ciphertext).ok()
    }
}

/// HMAC-SHA256 under `key`. HMAC takes keys of any length, so this fails only in theory.
pub(crate) fn keyed_mac(key: &[u8]) -> anyhow::Result<Hmac<Sha256>> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|error| anyhow::anyhow!("HMAC key: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT: AccessSubject = AccessSubject {
        user_id: 7,
        session_id: 42,
    };

    /// A fixed instant: the keys check expiry against the time they are given, not the machine's.
    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(b"a test secret that is long enough!!", 900).unwrap()
    }

    #[test]
    fn round_trips_and_rejects_other_keys() {
        let issued = keys().issue_access(SUBJECT, now()).unwrap();
        assert_eq!(keys().verify_access(&issued.token, now()), Some(SUBJECT));
        let other = TokenKeys::new(b"another secret, also long enough!!", 900).unwrap();
        assert_eq!(other.verify_access(&issued.token, now()), None);
    }

    #[test]
    fn expired_tokens_are_refused_beyond_the_leeway() {
        let long_ago = now() - chrono::Duration::seconds(900 + LEEWAY_SECS as i64 + 2);
        let issued = keys().issue_access(SUBJECT, long_ago).unwrap();
        assert_eq!(keys().verify_access(&issued.token, now()), None);
    }

    #[test]
    fn a_verified_token_is_refused_again_once_expired() {
        let keys = keys();
        let issued = keys.issue_access(SUBJECT, now()).unwrap();
        assert_eq!(keys.verify_access(&issued.token, now()), Some(SUBJECT));
        assert_eq!(
            keys.verify_access(&issued.token, now()),
            Some(SUBJECT),
            "kept"
        );
        let leeway = chrono::Duration::seconds(LEEWAY_SECS as i64);
        let at_leeway = issued.expires_at + leeway;
        assert_eq!(keys.verify_access(&issued.token, at_leeway), Some(SUBJECT));
        let beyond = at_leeway + chrono::Duration::seconds(1);
        assert_eq!(keys.verify_access(&issued.token, beyond), None);
        let tampered = format!("{}x", issued.token);
        assert_eq!(
            keys.verify_access(&tampered, now()),
            None,
            "only exact texts are kept"
        );
    }

    #[test]
    fn unsigned_tokens_are_refused() {
        let issued = keys().issue_access(SUBJECT, now()).unwrap();
        let payload = issued.token.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{header}.{payload}.");
        assert_eq!(keys().verify_access(&unsigned, now()), None);
    }

    #[test]
    fn successors_are_deterministic_per_token_and_distinct_across_tokens() {
        let first = new_refresh_token();
        let second = new_refresh_token();
        assert_ne!(first, second);
        assert_eq!(
            keys().successor_refresh_token(&first),
            keys().successor_refresh_token(&first)
        );
        assert_ne!(
            keys().successor_refresh_token(&first),
            keys().successor_refresh_token(&second)
        );
        assert_eq!(digest(&first).len(), 32);
    }
}
