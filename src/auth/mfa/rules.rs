//! Second-factor rules and keys, without a database.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use totp_rs::{Builder, Totp};

use crate::auth::tokens::{Sealer, derive_key, keyed_mac, random_secret};
use crate::error::AppError;
use crate::ratelimit::Limit;

pub const RECOVERY_CODE_COUNT: usize = 10;
/// A pending secret must be confirmed within this time.
pub const PENDING_LIFETIME: Duration = Duration::minutes(10);
pub const CHALLENGE_LIFETIME: Duration = Duration::minutes(5);
/// Codes checked against one challenge: after this many, it is dead whatever they were.
pub const CHALLENGE_MAX_ATTEMPTS: i32 = 5;
/// Wrong codes an account may collect per window before every code check is refused.
pub const WRONG_CODES_PER_ACCOUNT: Limit = Limit {
    bucket: "mfa_account",
    max: 10,
    window: Duration::minutes(15),
};
/// Marks challenge tokens, so they are never mistaken for access or API tokens.
pub const CHALLENGE_PREFIX: &str = "agora_mfa_";
const SECRET_BYTES: usize = 20;

/// Keys derived from `AGORA_SECRET`: one seals TOTP secrets at rest, one keys the hashes of
/// recovery codes (so a stolen table alone cannot be searched for codes).
pub struct MfaKeys {
    sealer: Sealer,
    code_mac: Hmac<Sha256>,
}

impl MfaKeys {
    pub fn new(secret: &[u8]) -> anyhow::Result<Self> {
        Ok(Self {
            sealer: Sealer::new(secret, b"agora totp secret sealing v1")?,
            code_mac: keyed_mac(&derive_key(secret, b"agora recovery code hashing v1")?)?,
        })
    }

    /// A random nonce followed by the ciphertext.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, AppError> {
        self.sealer.seal(plain)
    }

    /// `None` when the data was not sealed with this key (e.g. `AGORA_SECRET` changed).
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        self.sealer.open(sealed)
    }

    pub fn recovery_code_hash(&self, code: &str) -> Vec<u8> {
        let mut mac = self.code_mac.clone();
        mac.update(normalize_recovery_code(code).as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// A fresh 160-bit TOTP secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// The TOTP generator for a secret: SHA1, 6 digits, 30 s steps, one step of skew.
pub fn totp(secret: Vec<u8>, issuer: &str, account: &str) -> Result<Totp, AppError> {
    Builder::new()
        .with_secret(secret)
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .map_err(|error| AppError::Internal(anyhow::anyhow!("building a TOTP: {error}")))
}

/// The time step a code matches at `now`, if it matches one within the skew.
pub fn matched_step(totp: &Totp, code: &str, now: DateTime<Utc>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let now = u64::try_from(now.timestamp()).ok()?;
    totp.check(&code, now)
        .and_then(|step| i64::try_from(step).ok())
}

/// The `otpauth://` URI as an SVG QR code, as a `data:` URL an `<img>` can show.
pub fn qr_data_url(uri: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|error| AppError::Internal(anyhow::anyhow!("QR encoding: {error}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        STANDARD.encode(svg)
    ))
}

/// Ten codes of 80 random bits, shown as `xxxx-xxxx-xxxx-xxxx` in lower-case base32.
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rand::rng().fill_bytes(&mut bytes);
            let text: Vec<char> = base32_lower(&bytes).chars().collect();
            text.chunks(4)
                .map(|chunk| chunk.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// What a user may type for a code: any case, with or without dashes and spaces.
pub fn normalize_recovery_code(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn base32_lower(bytes: &[u8]) -> String {
    base32::encode(base32::Alphabet::Rfc4648Lower { padding: false }, bytes)
}

/// A new challenge token: prefix plus 256 random bits.
pub fn new_challenge_token() -> String {
    format!("{CHALLENGE_PREFIX}{}", random_secret())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let keys = MfaKeys::new(b"one secret long enough for the tests").unwrap();
        let sealed = keys.seal(b"totp secret").unwrap();
        assert_ne!(&sealed[24..], b"totp secret");
        assert_eq!(keys.open(&sealed).unwrap(), b"totp secret");
        assert_ne!(
            keys.seal(b"totp secret").unwrap(),
            sealed,
            "a fresh nonce each time"
        );
        let other = MfaKeys::new(b"another secret long enough for tests").unwrap();
        assert_eq!(other.open(&sealed), None);
        assert_eq!(keys.open(b"short"), None);
    }

    #[test]
    fn codes_match_their_step_and_one_step_either_side() {
        let totp = totp(vec![7; 20], "Agora", "ada@example.com").unwrap();
        let now: DateTime<Utc> = "2026-01-01T00:00:45Z".parse().unwrap();
        let step = now.timestamp() / 30;
        let at = |offset: i64| {
            totp.generate(u64::try_from((step + offset) * 30).unwrap())
                .to_string()
        };
        assert_eq!(matched_step(&totp, &at(0), now), Some(step));
        assert_eq!(matched_step(&totp, &at(-1), now), Some(step - 1));
        assert_eq!(matched_step(&totp, &at(1), now), Some(step + 1));
        assert_eq!(matched_step(&totp, &at(-2), now), None, "two steps old");
        assert_eq!(matched_step(&totp, &at(2), now), None);
        assert_eq!(matched_step(&totp, "12345", now), None);
        assert_eq!(matched_step(&totp, "abcdef", now), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_forgiving_to_type() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        let unique: std::collections::HashSet<&String> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODE_COUNT);
        assert!(
            codes
                .iter()
                .all(|code| code.len() == 19 && code.matches('-').count() == 3)
        );
        let keys = MfaKeys::new(b"one secret long enough for the tests").unwrap();
        let code = &codes[0];
        assert_eq!(
            keys.recovery_code_hash(code),
            keys.recovery_code_hash(&code.to_uppercase().replace('-', " "))
        );
        assert_ne!(
            keys.recovery_code_hash(code),
            keys.recovery_code_hash(&codes[1])
        );
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32_lower(b"foobar"), "mzxw6ytboi");
        assert_eq!(base32_lower(&[0xff; 10]), "7777777777777777");
    }

    #[test]
    fn the_qr_code_is_an_svg_data_url() {
        let url = qr_data_url("otpauth://totp/Agora:ada%40example.com?secret=AAAA").unwrap();
        let svg = STANDARD
            .decode(url.strip_prefix("data:image/svg+xml;base64,").unwrap())
            .unwrap();
        assert!(String::from_utf8(svg).unwrap().contains("<svg"));
    }
}
