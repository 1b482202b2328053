//! Webhook rules without I/O: which URLs and event lists an endpoint may have, its secret as
//! shown, the Standard Webhooks signature, and the back-off between attempts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use hmac::Mac;
use rand::RngCore;

use super::model::EventType;
use crate::error::AppError;

/// Receivers store URLs in columns of their own; longer ones are not addresses people register.
pub const MAX_URL_CHARS: usize = 2000;
pub const MAX_DESCRIPTION_CHARS: usize = 200;
/// Standard Webhooks asks for secrets of 24 to 64 bytes.
const SECRET_BYTES: usize = 32;
/// How a secret is shown (and how receivers' libraries expect it): this prefix, then base64.
pub const SECRET_PREFIX: &str = "whsec_";
/// An error text kept per delivery: enough to say what went wrong.
const MAX_ERROR_CHARS: usize = 500;

/// The endpoint's URL, checked: absolute http(s) with a host, no user or password in it (they
/// would be sent to the receiver on every attempt and shown in every listing), `https` only in
/// production unless plain http is allowed there.
pub fn url(raw: &str, https_only: bool) -> Result<String, AppError> {
    let raw = raw.trim();
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(AppError::bad_input(
            "url",
            format!("At most {MAX_URL_CHARS} characters"),
        ));
    }
    let parsed =
        url::Url::parse(raw).map_err(|_| AppError::bad_input("url", "Not an absolute URL"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if !https_only => {}
        "http" => {
            return Err(AppError::bad_input(
                "url",
                "This server delivers webhooks over https only",
            ));
        }
        _ => return Err(AppError::bad_input("url", "Must be an http(s) URL")),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(AppError::bad_input("url", "The URL names no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(AppError::bad_input(
            "url",
            "Credentials do not belong in the URL: the signature authenticates Agora",
        ));
    }
    Ok(parsed.to_string())
}

/// The subscribed events as stored: at least one, each once, in the enum's order.
pub fn events(chosen: &[EventType]) -> Result<Vec<String>, AppError> {
    let events: Vec<String> = EventType::ALL
        .into_iter()
        .filter(|event| chosen.contains(event))
        .map(|event| event.name().to_owned())
        .collect();
    if events.is_empty() {
        return Err(AppError::bad_input(
            "events",
            "Subscribe to at least one event",
        ));
    }
    Ok(events)
}

pub fn description(raw: &str) -> Result<String, AppError> {
    crate::text::term("description", raw, MAX_DESCRIPTION_CHARS)
}

/// A fresh signing secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// The secret as the administrator receives it, once: `whsec_` and base64.
pub fn shown_secret(secret: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(secret))
}

/// The `webhook-signature` header of Standard Webhooks: `v1,` and the base64 HMAC-SHA256,
/// under the secret's bytes, of `{id}.{timestamp}.{body}`.
pub fn signature(secret: &[u8], id: &str, timestamp: i64, body: &str) -> Result<String, AppError> {
    let mut mac = crate::auth::tokens::keyed_mac(secret).map_err(AppError::Internal)?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The wait after the `attempts`-th failed attempt: the doubling step `base × 2^(attempts-1)`,
/// capped at `cap`, of which the first half is always waited and the second half by `jitter`
/// (0 to 1). Half fixed keeps each wait at least as long as the one before could have been
/// (so the back-off really grows), half random spreads the retries of many deliveries that
/// failed together (a receiver coming back is not hit by all of them at once).
pub fn retry_delay(attempts: i32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(30);
    let step = base
        .checked_mul(1 << doublings)
        .map_or(cap, |step| step.min(cap));
    let half = step / 2;
    let spread = half.num_milliseconds() as f64 * jitter.clamp(0.0, 1.0);
    half + Duration::milliseconds(spread as i64)
}

/// What went wrong, cut to a length worth keeping.
pub fn error_text(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_absolute_http_and_https_only_in_production() {
        assert_eq!(
            url(" https://hooks.example/in?x=1 ", true).unwrap(),
            "https://hooks.example/in?x=1"
        );
        assert_eq!(
            url("http://127.0.0.1:9000/", false).unwrap(),
            "http://127.0.0.1:9000/"
        );
        for (raw, https_only) in [
            ("http://hooks.example/", true),
            ("ftp://hooks.example/", false),
            ("/relative", false),
            ("https://user:pw@hooks.example/", false),
            ("file:///etc/passwd", false),
        ] {
            let refused = url(raw, https_only).unwrap_err();
            assert!(
                matches!(refused, AppError::BadUserInput { field: "url", .. }),
                "{raw}"
            );
        }
        let long = format!("https://hooks.example/{}", "a".repeat(MAX_URL_CHARS));
        assert!(url(&long, false).is_err());
    }

    #[test]
    fn events_are_kept_once_in_order_and_never_none() {
        let chosen = [
            EventType::HabitCompleted,
            EventType::ItemPurchased,
            EventType::HabitCompleted,
        ];
        assert_eq!(
            events(&chosen).unwrap(),
            ["item.purchased", "habit.completed"]
        );
        assert!(events(&[]).is_err());
        for event in EventType::ALL {
            assert_eq!(EventType::from_name(event.name()), Some(event));
        }
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let secret = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            signature(
                &secret,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#
            )
            .unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(shown_secret(&new_secret()).starts_with("whsec_"));
    }

    #[test]
    fn back_off_doubles_within_its_bounds_and_stops_at_the_cap() {
        let base = Duration::seconds(10);
        let cap = Duration::seconds(100);
        let lowest: Vec<i64> = (1..=6)
            .map(|n| retry_delay(n, base, cap, 0.0).num_seconds())
            .collect();
        let highest: Vec<i64> = (1..=6)
            .map(|n| retry_delay(n, base, cap, 1.0).num_seconds())
            .collect();
        assert_eq!(lowest, [5, 10, 20, 40, 50, 50]);
        assert_eq!(highest, [10, 20, 40, 80, 100, 100]);
        assert_eq!(retry_delay(1000, base, cap, 0.5).num_seconds(), 75);
        assert_eq!(retry_delay(0, base, cap, 0.0), Duration::seconds(5));
    }
}
